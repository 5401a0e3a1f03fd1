/* Finite-difference gradient tests for every op, plus fast-vs-naive comparisons. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/nn/ops.h"

typedef gs_tensor *(*build_fn)(gs_graph *g, gs_tensor **in, const void *ctx);

typedef struct { int ndim; int shape[4]; float lo, hi; } in_spec;

/* loss = sum(f(in) * r) for fixed random r; compare d loss / d in with central differences. */
static double forward_loss(gs_graph *g, gs_params *p, build_fn f, const void *ctx, const float *r, int grad,
                           gs_tensor **outp) {
  gs_graph_begin(g, p, grad);
  gs_tensor *in[4];
  for (int i = 0; i < p->count; i++) in[i] = &p->t[i];
  gs_tensor *y = f(g, in, ctx);
  gs_tensor *rt = gs_wrap(g, (float *)r, y->ndim, y->shape);
  gs_tensor *loss = gs_sum(g, gs_mul(g, y, rt));
  if (outp) *outp = loss;
  return loss->x[0];
}

static void gradcheck(const char *name, int nin, const in_spec *spec, build_fn f, const void *ctx, float tol) {
  gs_params p = {0};
  char nm[16];
  for (int i = 0; i < nin; i++) {
    snprintf(nm, sizeof nm, "in%d", i);
    gs_params_declare(&p, nm, spec[i].ndim, spec[i].shape);
  }
  gs_params_alloc(&p);
  gs_rng rng;
  gs_rng_seed(&rng, 42, 0, 99);
  for (int i = 0; i < nin; i++)
    for (long k = 0; k < p.t[i].n; k++) {
      float u = spec[i].lo + (spec[i].hi - spec[i].lo) * gs_rng_uniformf(&rng);
      /* a second draw per element, unused: kept so that the inputs stay the ones the tolerances
       * were chosen on (without it, "chain" lands an input beside a kink of its relu) */
      (void)gs_rng_uniformf(&rng);
      p.t[i].x[k] = u;
    }
  gs_graph g;
  gs_graph_init(&g, 1 << 20);
  /* output size: build once without grad */
  gs_graph_begin(&g, &p, 0);
  gs_tensor *in[4];
  for (int i = 0; i < nin; i++) in[i] = &p.t[i];
  gs_tensor *y0 = f(&g, in, ctx);
  long ny = y0->n;
  float *r = malloc(sizeof(float) * ny);
  for (long k = 0; k < ny; k++) r[k] = 2.0f * gs_rng_uniformf(&rng) - 1.0f;

  gs_tensor *loss;
  forward_loss(&g, &p, f, ctx, r, 1, &loss);
  gs_backward(&g, loss, 1.0f);
  float *ana = malloc(sizeof(float) * p.total);
  memcpy(ana, p.grad, sizeof(float) * p.total);

  int bad = 0;
  for (int i = 0; i < nin; i++)
    for (long k = 0; k < p.t[i].n; k++) {
      float *v = &p.t[i].x[k];
      float old = *v;
      float h = 1e-2f * fmaxf(1.0f, fabsf(old));
      *v = old + h;
      double lp = forward_loss(&g, &p, f, ctx, r, 0, NULL);
      *v = old - h;
      double lm = forward_loss(&g, &p, f, ctx, r, 0, NULL);
      *v = old;
      double num = (lp - lm) / (2.0 * h);
      double a = ana[p.info[i].offset + k];
      double err = fabs(a - num) / fmax(1.0, fmax(fabs(a), fabs(num)));
      if (err > tol) {
        if (bad < 5) cr_log_error("%s: input %d elem %ld: analytic %g numeric %g", name, i, k, a, num);
        bad++;
      }
    }
  cr_expect_eq(bad, 0, "%s: %d gradient entries differ from finite differences", name, bad);
  free(r);
  free(ana);
  gs_graph_free(&g);
  gs_params_free(&p);
}

#define S2(a, b, lo, hi) {2, {a, b}, lo, hi}
#define S1(a, lo, hi) {1, {a}, lo, hi}

static gs_tensor *b_matmul(gs_graph *g, gs_tensor **in, const void *c) { return gs_matmul(g, in[0], in[1]); }
static gs_tensor *b_dense(gs_graph *g, gs_tensor **in, const void *c) { return gs_dense(g, in[0], in[1], in[2]); }
static gs_tensor *b_dense_relu(gs_graph *g, gs_tensor **in, const void *c) {
  return gs_dense_relu(g, in[0], in[1], in[2]);
}
static gs_tensor *b_bias(gs_graph *g, gs_tensor **in, const void *c) { return gs_add_bias(g, in[0], in[1]); }
static gs_tensor *b_relu(gs_graph *g, gs_tensor **in, const void *c) { return gs_relu(g, in[0]); }
static gs_tensor *b_leaky(gs_graph *g, gs_tensor **in, const void *c) { return gs_leaky_relu(g, in[0], 0.2f); }
static gs_tensor *b_sigmoid(gs_graph *g, gs_tensor **in, const void *c) { return gs_sigmoid(g, in[0]); }
static gs_tensor *b_tanh(gs_graph *g, gs_tensor **in, const void *c) { return gs_tanh(g, in[0]); }
static gs_tensor *b_exp(gs_graph *g, gs_tensor **in, const void *c) { return gs_exp(g, in[0]); }
static gs_tensor *b_log(gs_graph *g, gs_tensor **in, const void *c) { return gs_log(g, in[0]); }
static gs_tensor *b_scale(gs_graph *g, gs_tensor **in, const void *c) { return gs_scale(g, in[0], -1.7f); }
static gs_tensor *b_add(gs_graph *g, gs_tensor **in, const void *c) { return gs_add(g, in[0], in[1]); }
static gs_tensor *b_sub(gs_graph *g, gs_tensor **in, const void *c) { return gs_sub(g, in[0], in[1]); }
static gs_tensor *b_mul(gs_graph *g, gs_tensor **in, const void *c) { return gs_mul(g, in[0], in[1]); }
static gs_tensor *b_square(gs_graph *g, gs_tensor **in, const void *c) { return gs_mul(g, in[0], in[0]); }
static gs_tensor *b_concat(gs_graph *g, gs_tensor **in, const void *c) { return gs_concat(g, in[0], in[1]); }
static gs_tensor *b_slice(gs_graph *g, gs_tensor **in, const void *c) { return gs_slice_cols(g, in[0], 2, 3); }
static gs_tensor *b_reshape(gs_graph *g, gs_tensor **in, const void *c) {
  int s[2] = {2, 12};
  return gs_tanh(g, gs_reshape(g, in[0], 2, s));
}
/* Reshape of an arena tensor, whose gradient buffer the view hands over when it is the first to
 * write it. handover: the view of h is h's last consumer (its backward runs first and hands over),
 * the two recorded before it accumulate onto the handed-over buffer; the view of v hands over too.
 * copy: a consumer recorded after the view writes h's gradient first, so the view copies. */
static gs_tensor *b_reshape_handover(gs_graph *g, gs_tensor **in, const void *c) {
  int s[2] = {2, 12}, s4[2] = {4, 6};
  gs_tensor *h = gs_tanh(g, in[0]);
  gs_tensor *before = gs_scale(g, h, 0.5f), *sq = gs_mul(g, h, h);
  gs_tensor *v = gs_tanh(g, gs_reshape(g, h, 2, s));
  return gs_add(g, gs_add(g, before, sq), gs_reshape(g, v, 2, s4));
}
static gs_tensor *b_reshape_copy(gs_graph *g, gs_tensor **in, const void *c) {
  int s[2] = {2, 12}, s4[2] = {4, 6};
  gs_tensor *h = gs_tanh(g, in[0]);
  gs_tensor *v = gs_tanh(g, gs_reshape(g, h, 2, s));
  gs_tensor *after = gs_mul(g, h, h);
  return gs_add(g, after, gs_reshape(g, v, 2, s4));
}
static gs_tensor *b_sum(gs_graph *g, gs_tensor **in, const void *c) { return gs_sum(g, in[0]); }
static gs_tensor *b_mean(gs_graph *g, gs_tensor **in, const void *c) { return gs_mean(g, in[0]); }
static gs_tensor *b_sumrows(gs_graph *g, gs_tensor **in, const void *c) { return gs_sum_rows(g, in[0]); }
static gs_tensor *b_gauss(gs_graph *g, gs_tensor **in, const void *c) {
  gs_rng r;
  gs_rng_seed(&r, 7, 1, 2); /* same noise for every evaluation */
  return gs_gauss_sample(g, in[0], in[1], &r);
}
static float bern_target[21] = {0, 1, 0.5f, 0.2f, 0.9f, 1, 0, 0.3f, 0.7f, 0.1f, 1, 1, 0, 0.5f, 0.25f, 0.75f, 0, 1, 0.6f, 0.4f, 0.05f};
static gs_tensor *b_bern(gs_graph *g, gs_tensor **in, const void *c) {
  return gs_bernoulli_nll(g, in[0], gs_wrap2(g, bern_target, 3, 7));
}
static gs_tensor *b_kl(gs_graph *g, gs_tensor **in, const void *c) { return gs_kl_std_normal(g, in[0], in[1]); }
/* one-hot rows and a soft (non-normalised) row: the gradient must hold for any target */
static float ce_target[15] = {0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0.2f, 0.3f, 0, 0.4f, 0.5f};
static gs_tensor *b_ce(gs_graph *g, gs_tensor **in, const void *c) {
  return gs_softmax_ce(g, in[0], gs_wrap2(g, ce_target, 3, 5));
}
/* a small VAE-like chain: every op composed, gradient flows through shared inputs */
static gs_tensor *b_chain(gs_graph *g, gs_tensor **in, const void *c) {
  gs_tensor *h = gs_relu(g, gs_dense(g, in[0], in[1], in[2]));
  gs_tensor *mu = gs_slice_cols(g, h, 0, 2), *lv = gs_slice_cols(g, h, 2, 2);
  gs_rng r;
  gs_rng_seed(&r, 3, 1, 2);
  gs_tensor *z = gs_gauss_sample(g, mu, lv, &r);
  gs_tensor *logits = gs_concat(g, z, gs_tanh(g, h));
  return gs_add(g, gs_kl_std_normal(g, mu, lv), gs_sum_rows(g, logits));
}

Test(grad, matmul) { in_spec s[] = {S2(3, 4, -1, 1), S2(4, 5, -1, 1)}; gradcheck("matmul", 2, s, b_matmul, NULL, 2e-3); }
Test(grad, dense_relu) { /* inputs chosen so that no output sits within the step of the kink */
  in_spec s[] = {S2(3, 4, 0.2f, 1), S2(4, 5, -1, 1), S1(5, -0.5f, 0.5f)};
  gradcheck("dense relu", 3, s, b_dense_relu, NULL, 2e-3);
}
/* gs_dense_relu against relu(gs_dense), bit for bit, forward and every gradient; the output has two
 * consumers, so its gradient is accumulated before the fused op masks it */
Test(ops, dense_relu_matches_unfused) {
  gs_params p = {0};
  int xs[2] = {7, 9}, ws[2] = {9, 11}, bs[1] = {11};
  gs_params_declare(&p, "x", 2, xs);
  gs_params_declare(&p, "w", 2, ws);
  gs_params_declare(&p, "b", 1, bs);
  gs_params_alloc(&p);
  gs_rng rng;
  gs_rng_seed(&rng, 5, 0, 1);
  for (long i = 0; i < p.total; i++) p.data[i] = 2.0f * gs_rng_uniformf(&rng) - 1.0f;
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  float y0[77], g0[7 * 9 + 9 * 11 + 11];
  for (int fused = 0; fused < 2; fused++) {
    gs_graph_begin(&g, &p, 1);
    gs_tensor *y = fused ? gs_dense_relu(&g, &p.t[0], &p.t[1], &p.t[2])
                         : gs_relu(&g, gs_dense(&g, &p.t[0], &p.t[1], &p.t[2]));
    gs_backward(&g, gs_add(&g, gs_sum(&g, gs_mul(&g, y, y)), gs_sum(&g, gs_tanh(&g, y))), 1.0f);
    if (!fused) {
      memcpy(y0, y->x, sizeof y0);
      memcpy(g0, p.grad, sizeof g0);
      continue;
    }
    int zeros = 0;
    for (int i = 0; i < 77; i++) zeros += y->x[i] == 0.0f;
    cr_expect(zeros > 0 && zeros < 77, "both sides of the kink (%d zero)", zeros);
    cr_expect(memcmp(y0, y->x, sizeof y0) == 0, "forward differs");
    cr_expect(memcmp(g0, p.grad, sizeof g0) == 0, "gradients differ");
  }
  gs_graph_free(&g);
  gs_params_free(&p);
}
Test(grad, dense) { in_spec s[] = {S2(3, 4, -1, 1), S2(4, 5, -1, 1), S1(5, -1, 1)}; gradcheck("dense", 3, s, b_dense, NULL, 2e-3); }
Test(grad, add_bias) { in_spec s[] = {S2(3, 4, -1, 1), S1(4, -1, 1)}; gradcheck("add_bias", 2, s, b_bias, NULL, 2e-3); }
Test(grad, relu) { in_spec s[] = {S2(3, 4, 0.1f, 1)}; gradcheck("relu+", 1, s, b_relu, NULL, 2e-3); }
Test(grad, relu_neg) { in_spec s[] = {S2(3, 4, -1, -0.1f)}; gradcheck("relu-", 1, s, b_relu, NULL, 2e-3); }
Test(grad, leaky_relu) { in_spec s[] = {S2(3, 4, -1, -0.1f)}; gradcheck("leaky", 1, s, b_leaky, NULL, 2e-3); }
Test(grad, sigmoid) { in_spec s[] = {S2(3, 4, -4, 4)}; gradcheck("sigmoid", 1, s, b_sigmoid, NULL, 2e-3); }
Test(grad, tanh_) { in_spec s[] = {S2(3, 4, -2, 2)}; gradcheck("tanh", 1, s, b_tanh, NULL, 2e-3); }
Test(grad, exp_) { in_spec s[] = {S2(3, 4, -2, 2)}; gradcheck("exp", 1, s, b_exp, NULL, 2e-3); }
Test(grad, log_) { in_spec s[] = {S2(3, 4, 0.5f, 3)}; gradcheck("log", 1, s, b_log, NULL, 2e-3); }
Test(grad, scale) { in_spec s[] = {S2(3, 4, -2, 2)}; gradcheck("scale", 1, s, b_scale, NULL, 2e-3); }
Test(grad, add) { in_spec s[] = {S2(3, 4, -1, 1), S2(3, 4, -1, 1)}; gradcheck("add", 2, s, b_add, NULL, 2e-3); }
Test(grad, sub) { in_spec s[] = {S2(3, 4, -1, 1), S2(3, 4, -1, 1)}; gradcheck("sub", 2, s, b_sub, NULL, 2e-3); }
Test(grad, mul) { in_spec s[] = {S2(3, 4, -1, 1), S2(3, 4, -1, 1)}; gradcheck("mul", 2, s, b_mul, NULL, 2e-3); }
Test(grad, shared_input_accumulates) { in_spec s[] = {S2(3, 4, -1, 1)}; gradcheck("x*x", 1, s, b_square, NULL, 2e-3); }
Test(grad, concat) { in_spec s[] = {S2(3, 4, -1, 1), S2(3, 2, -1, 1)}; gradcheck("concat", 2, s, b_concat, NULL, 2e-3); }
Test(grad, slice) { in_spec s[] = {S2(3, 6, -1, 1)}; gradcheck("slice", 1, s, b_slice, NULL, 2e-3); }
Test(grad, reshape_arena_handover) {
  in_spec s[] = {S2(4, 6, -1, 1)};
  gradcheck("reshape handover", 1, s, b_reshape_handover, NULL, 2e-3);
  gradcheck("reshape copy", 1, s, b_reshape_copy, NULL, 2e-3);
}
Test(grad, reshape) { in_spec s[] = {S2(4, 6, -1, 1)}; gradcheck("reshape", 1, s, b_reshape, NULL, 2e-3); }
Test(grad, sum) { in_spec s[] = {S2(3, 4, -1, 1)}; gradcheck("sum", 1, s, b_sum, NULL, 2e-3); }
Test(grad, mean) { in_spec s[] = {S2(3, 4, -1, 1)}; gradcheck("mean", 1, s, b_mean, NULL, 2e-3); }
Test(grad, sum_rows) { in_spec s[] = {S2(3, 4, -1, 1)}; gradcheck("sum_rows", 1, s, b_sumrows, NULL, 2e-3); }
Test(grad, gauss_sample) { in_spec s[] = {S2(3, 4, -1, 1), S2(3, 4, -1, 1)}; gradcheck("gauss", 2, s, b_gauss, NULL, 2e-3); }
Test(grad, bernoulli_nll) { in_spec s[] = {S2(3, 7, -6, 6)}; gradcheck("bern", 1, s, b_bern, NULL, 2e-3); }
Test(grad, softmax_ce) { in_spec s[] = {S2(3, 5, -3, 3)}; gradcheck("softmax_ce", 1, s, b_ce, NULL, 2e-3); }
Test(ops, softmax_ce_values) {
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, NULL, 0);
  float l[6] = {1000, 0, -1000, 1, 2, 3}, t[6] = {0, 1, 0, 0, 0, 1};
  gs_tensor *y = gs_softmax_ce(&g, gs_wrap2(&g, l, 2, 3), gs_wrap2(&g, t, 2, 3));
  cr_assert_float_eq(y->x[0], 1000.0f, 1e-3f); /* stable for huge logits */
  cr_assert_float_eq(y->x[1], (float)(log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0), 1e-5f);
  gs_graph_free(&g);
}
Test(grad, kl_std_normal) { in_spec s[] = {S2(3, 4, -1, 1), S2(3, 4, -1.5f, 1)}; gradcheck("kl", 2, s, b_kl, NULL, 2e-3); }
Test(grad, chain) { in_spec s[] = {S2(3, 5, -1, 1), S2(5, 4, -1, 1), S1(4, 0.2f, 1)}; gradcheck("chain", 3, s, b_chain, NULL, 5e-3); }

Test(grad, unused_param_gets_zero) {
  gs_params p = {0};
  int s[2] = {2, 2};
  gs_params_declare(&p, "used", 2, s);
  gs_params_declare(&p, "unused", 2, s);
  gs_params_alloc(&p);
  for (int i = 0; i < 4; i++) p.t[1].g[i] = 123.0f; /* stale garbage */
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *l = gs_sum(&g, &p.t[0]);
  gs_backward(&g, l, 1.0f);
  for (int i = 0; i < 4; i++) {
    cr_expect_float_eq(p.t[0].g[i], 1.0f, 1e-7);
    cr_expect_float_eq(p.t[1].g[i], 0.0f, 1e-7);
  }
  gs_graph_free(&g);
  gs_params_free(&p);
}

Test(ops, bernoulli_fast_matches_naive) {
  enum { R = 7, C = 300 };
  static float l[R * C], x[R * C], a[R], b[R], d[R * C];
  gs_rng r;
  gs_rng_seed(&r, 5, 0, 0);
  for (int i = 0; i < R * C; i++) {
    l[i] = (gs_rng_uniformf(&r) - 0.5f) * 60.0f; /* includes large |l| */
    x[i] = gs_rng_uniformf(&r);
  }
  l[0] = 0.0f; l[1] = 200.0f; l[2] = -200.0f;
  gs_bernoulli_nll_rows_naive(l, x, R, C, a);
  gs_bernoulli_nll_rows_fast(l, x, R, C, b, d);
  for (int i = 0; i < R; i++) cr_expect(fabsf(a[i] - b[i]) <= 1e-5f * fabsf(a[i]) + 1e-3f, "row %d: %g vs %g", i, a[i], b[i]);
  for (int i = 0; i < R * C; i++) {
    float sig = 1.0f / (1.0f + expf(-l[i]));
    cr_expect(fabsf(d[i] - (sig - x[i])) < 1e-6f, "dlogit %d", i);
  }
}

Test(ops, sigmoid_extremes_finite) {
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, NULL, 0);
  float v[4] = {-1000.0f, -30.0f, 30.0f, 1000.0f};
  gs_tensor *y = gs_sigmoid(&g, gs_wrap2(&g, v, 1, 4));
  cr_expect(y->x[0] >= 0.0f && y->x[0] < 1e-12f);
  cr_expect(y->x[3] == 1.0f);
  for (int i = 0; i < 4; i++) cr_expect(isfinite(y->x[i]));
  gs_graph_free(&g);
}

Test(ops, dense_values) {
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, NULL, 0);
  float x[] = {1, 2, 3, 4, 5, 6};       /* (2,3) */
  float w[] = {1, 0, 0, 1, 1, 1};       /* (3,2) */
  float b[] = {0.5f, -1};
  int s1 = 2;
  gs_tensor *y = gs_dense(&g, gs_wrap2(&g, x, 2, 3), gs_wrap2(&g, w, 3, 2), gs_wrap(&g, b, 1, &s1));
  float want[] = {1 + 3 + 0.5f, 2 + 3 - 1, 4 + 6 + 0.5f, 5 + 6 - 1};
  for (int i = 0; i < 4; i++) cr_expect_float_eq(y->x[i], want[i], 1e-6);
  gs_graph_free(&g);
}

Test(arena, grows_and_keeps_alignment) {
  gs_arena a;
  gs_arena_init(&a, 256);
  for (int i = 0; i < 10; i++) {
    char *p = gs_arena_alloc(&a, 100 + i);
    cr_expect(((uintptr_t)p & 63) == 0);
    memset(p, 1, 100 + i);
  }
  size_t peak = a.peak;
  gs_arena_reset(&a);
  cr_expect(a.cap >= peak);
  cr_expect_eq(a.nextra, 0);
  gs_arena_free(&a);
}
