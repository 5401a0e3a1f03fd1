/* Convolution ops: fast (im2col + sgemm) against the naive 7-loop references on many shapes,
 * finite-difference gradients for every op (conv2d, transposed conv, batch norm, flatten),
 * batch norm against its naive twin and its running statistics against a hand computation, shape
 * errors. Batch norm over a data-parallel group: test_groupbn.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/nn/conv.h"
#include "gensweep/nn/ops.h"
#include "gensweep/core/rng.h"

/* Arena size for the tests. A sanitizer build with -DGS_TEST_ARENA=64 makes every allocation of
 * a step its own heap block, so that AddressSanitizer sees overruns between scratch buffers. */
#ifndef GS_TEST_ARENA
#define GS_TEST_ARENA (1 << 16)
#endif

/* ================================================================ fast vs naive */
typedef struct {
  int N, Cin, H, W, Cout, KH, KW, s, p, op; /* op < 0: conv2d, else transposed with out_pad op */
  int bias;
} conv_case;

static void fill(gs_rng *r, float *v, long n) {
  for (long i = 0; i < n; i++) v[i] = 2.0f * gs_rng_uniformf(r) - 1.0f;
}

/* max |a-b| / max(1, max |b|) */
static double rel_err(const float *a, const float *b, long n) {
  double m = 0, s = 1;
  for (long i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (!(d <= m)) m = d; /* NaN sticks */
    if (fabs(b[i]) > s) s = fabs(b[i]);
  }
  return m / s;
}

static void check_case(const conv_case *c) {
  const int deconv = c->op >= 0;
  int Ho, Wo;
  if (deconv) {
    Ho = gs_deconv_out(c->H, c->KH, c->s, c->p, c->op);
    Wo = gs_deconv_out(c->W, c->KW, c->s, c->p, c->op);
  } else {
    Ho = gs_conv_out(c->H, c->KH, c->s, c->p);
    Wo = gs_conv_out(c->W, c->KW, c->s, c->p);
  }
  gs_params p = {0};
  int xs[4] = {c->N, c->Cin, c->H, c->W};
  int ws[4] = {deconv ? c->Cin : c->Cout, deconv ? c->Cout : c->Cin, c->KH, c->KW};
  int bs[1] = {c->Cout};
  gs_params_declare(&p, "x", 4, xs);
  gs_params_declare(&p, "w", 4, ws);
  gs_params_declare(&p, "b", 1, bs);
  gs_params_alloc(&p);
  gs_rng rng;
  gs_rng_seed(&rng, 1234 + c->N * 7 + c->Cin * 131 + c->Cout * 17 + c->H, 0, 1);
  fill(&rng, p.data, p.total);
  long ny = (long)c->N * c->Cout * Ho * Wo;
  float *r = malloc(sizeof(float) * ny);
  fill(&rng, r, ny);
  for (long i = 0; i < p.total; i++) p.grad[i] = NAN; /* stale gradients must never be read */

  gs_graph g;
  gs_graph_init(&g, GS_TEST_ARENA);
  gs_graph_begin(&g, &p, 1);
  memset(g.arena.base, 0xff, g.arena.cap); /* stale arena memory: NaN */
  gs_tensor *x = &p.t[0], *w = &p.t[1], *b = c->bias ? &p.t[2] : NULL;
  gs_tensor *y = deconv ? gs_conv_transpose2d(&g, x, w, b, c->s, c->p, c->op) : gs_conv2d(&g, x, w, b, c->s, c->p);
  cr_assert_eq(y->ndim, 4);
  cr_assert(y->shape[0] == c->N && y->shape[1] == c->Cout && y->shape[2] == Ho && y->shape[3] == Wo,
            "output shape (%d,%d,%d,%d)", y->shape[0], y->shape[1], y->shape[2], y->shape[3]);
  gs_tensor *loss = gs_sum(&g, gs_mul(&g, y, gs_wrap(&g, r, 4, y->shape)));
  gs_backward(&g, loss, 1.0f);

  float *yr = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * x->n), *dw = malloc(sizeof(float) * w->n),
        *db = malloc(sizeof(float) * c->Cout);
  if (deconv) {
    gs_conv_transpose2d_forward_naive(x->x, w->x, b ? b->x : NULL, yr, c->N, c->Cin, c->H, c->W, c->Cout, c->KH,
                                      c->KW, c->s, c->p, c->op);
    gs_conv_transpose2d_backward_naive(x->x, w->x, r, dx, dw, db, c->N, c->Cin, c->H, c->W, c->Cout, c->KH, c->KW,
                                       c->s, c->p, c->op);
  } else {
    gs_conv2d_forward_naive(x->x, w->x, b ? b->x : NULL, yr, c->N, c->Cin, c->H, c->W, c->Cout, c->KH, c->KW, c->s,
                            c->p);
    gs_conv2d_backward_naive(x->x, w->x, r, dx, dw, db, c->N, c->Cin, c->H, c->W, c->Cout, c->KH, c->KW, c->s, c->p);
  }
  const double tol = 2e-5;
  char desc[160];
  snprintf(desc, sizeof desc, "%s N%d Cin%d %dx%d Cout%d k%dx%d s%d p%d op%d bias%d", deconv ? "deconv" : "conv",
           c->N, c->Cin, c->H, c->W, c->Cout, c->KH, c->KW, c->s, c->p, c->op, c->bias);
  double e;
  cr_expect((e = rel_err(y->x, yr, ny)) < tol, "%s: forward differs (rel %g)", desc, e);
  cr_expect((e = rel_err(x->g, dx, x->n)) < tol, "%s: dx differs (rel %g)", desc, e);
  cr_expect((e = rel_err(w->g, dw, w->n)) < tol, "%s: dw differs (rel %g)", desc, e);
  if (b) cr_expect((e = rel_err(b->g, db, c->Cout)) < tol, "%s: db differs (rel %g)", desc, e);
  else for (int i = 0; i < c->Cout; i++) cr_expect(p.t[2].g[i] == 0.0f, "%s: unused bias gets zero", desc);
  free(r);
  free(yr);
  free(dx);
  free(dw);
  free(db);
  gs_graph_free(&g);
  gs_params_free(&p);
}

/* Many shapes: a deterministic walk over stride, pad, kernel, channels, batch, non-square sizes. */
static void sweep(int deconv) {
  static const int ch[][2] = {{1, 1}, {1, 8}, {3, 5}, {8, 16}, {16, 3}, {64, 2}, {2, 64}, {7, 11}};
  static const int hw[][2] = {{5, 5}, {7, 9}, {12, 5}, {8, 8}, {6, 11}, {13, 7}};
  int ncase = 0;
  for (int s = 1; s <= 2; s++)
    for (int p = 0; p <= 2; p++)
      for (int k = 3; k <= 5; k += 2)
        for (int op = 0; op < (deconv ? s : 1); op++)
          for (int v = 0; v < 3; v++) {
            int idx = (s * 31 + p * 7 + k * 3 + op * 5 + v * 11);
            conv_case c = {.N = 1 + idx % 5, .Cin = ch[idx % 8][0], .Cout = ch[idx % 8][1], .H = hw[(idx / 3) % 6][0],
                           .W = hw[(idx / 3) % 6][1], .KH = k, .KW = (v == 2 ? 3 : k), .s = s, .p = p,
                           .op = deconv ? op : -1, .bias = v != 1};
            if (!deconv && (c.H + 2 * p < c.KH || c.W + 2 * p < c.KW)) continue;
            if (deconv && (gs_deconv_out(c.H, c.KH, s, p, op) < 1 || gs_deconv_out(c.W, c.KW, s, p, op) < 1)) continue;
            check_case(&c);
            ncase++;
          }
  cr_expect(ncase > 30, "only %d cases", ncase);
}

Test(conv_fast, conv2d_matches_naive_many_shapes) { sweep(0); }
Test(conv_fast, conv_transpose2d_matches_naive_many_shapes) { sweep(1); }
/* chunks of 1, 2 and 3 samples: every boundary and a short last chunk */
Test(conv_fast, conv2d_chunked) {
  for (gs_conv_chunk = 1; gs_conv_chunk <= 3; gs_conv_chunk++) sweep(0);
  gs_conv_chunk = 0;
}
Test(conv_fast, conv_transpose2d_chunked) {
  for (gs_conv_chunk = 1; gs_conv_chunk <= 3; gs_conv_chunk++) sweep(1);
  gs_conv_chunk = 0;
}

Test(conv_fast, cae_shapes) {
  conv_case cs[] = {
      {3, 1, 28, 28, 32, 3, 3, 2, 1, -1, 1},  /* 28 -> 14 */
      {3, 32, 14, 14, 64, 3, 3, 2, 1, -1, 1}, /* 14 -> 7 */
      {3, 64, 7, 7, 32, 3, 3, 2, 1, 1, 1},    /* 7 -> 14 */
      {3, 32, 14, 14, 1, 3, 3, 2, 1, 1, 1},   /* 14 -> 28 */
  };
  for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) check_case(&cs[i]);
  gs_conv_chunk = 2; /* 3 samples: a full chunk and a short one */
  for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) check_case(&cs[i]);
  gs_conv_chunk = 0;
}

Test(conv_fast, dcgan_shapes) {
  conv_case cs[] = {
      /* discriminator: 5x5, stride 2, pad 2: 28 -> 14 -> 7 -> 4 -> 2 */
      {2, 1, 28, 28, 64, 5, 5, 2, 2, -1, 1},
      {2, 64, 14, 14, 128, 5, 5, 2, 2, -1, 1},
      {2, 128, 7, 7, 256, 5, 5, 2, 2, -1, 1},
      {2, 256, 4, 4, 512, 5, 5, 2, 2, -1, 0},
      /* generator: back up 2 -> 4 -> 7 -> 14 -> 28 */
      {2, 512, 2, 2, 256, 5, 5, 2, 2, 1, 1},
      {2, 256, 4, 4, 128, 5, 5, 2, 2, 0, 1},
      {2, 128, 7, 7, 64, 5, 5, 2, 2, 1, 1},
      {2, 64, 14, 14, 1, 5, 5, 2, 2, 1, 1},
  };
  int sizes[] = {14, 7, 4, 2, 4, 7, 14, 28};
  for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
    int o = cs[i].op < 0 ? gs_conv_out(cs[i].H, 5, 2, 2) : gs_deconv_out(cs[i].H, 5, 2, 2, cs[i].op);
    cr_expect_eq(o, sizes[i], "layer %zu: %d", i, o);
    check_case(&cs[i]);
  }
}

/* Only some inputs need a gradient: x alone (weights frozen, e.g. the generator's step through the
 * discriminator) or w and b alone (a first layer fed with data). */
static void partial_case(int deconv, int x_grad) {
  const int N = 3, Cin = 4, H = 7, W = 6, Cout = 5, K = 3, s = 2, p = 1, op = deconv ? 1 : -1;
  int Ho = deconv ? gs_deconv_out(H, K, s, p, op) : gs_conv_out(H, K, s, p);
  int Wo = deconv ? gs_deconv_out(W, K, s, p, op) : gs_conv_out(W, K, s, p);
  int xs[4] = {N, Cin, H, W}, ws[4] = {deconv ? Cin : Cout, deconv ? Cout : Cin, K, K}, bs[1] = {Cout};
  long nx = (long)N * Cin * H * W, nw = (long)Cin * Cout * K * K, ny = (long)N * Cout * Ho * Wo;
  gs_params prm = {0};
  if (x_grad) gs_params_declare(&prm, "x", 4, xs);
  else {
    gs_params_declare(&prm, "w", 4, ws);
    gs_params_declare(&prm, "b", 1, bs);
  }
  gs_params_alloc(&prm);
  float *xv = malloc(sizeof(float) * nx), *wv = malloc(sizeof(float) * nw), *bv = malloc(sizeof(float) * Cout),
        *r = malloc(sizeof(float) * ny), *yr = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * nx),
        *dw = malloc(sizeof(float) * nw), *db = malloc(sizeof(float) * Cout);
  gs_rng rng;
  gs_rng_seed(&rng, 77, deconv, x_grad);
  fill(&rng, xv, nx);
  fill(&rng, wv, nw);
  fill(&rng, bv, Cout);
  fill(&rng, r, ny);
  if (x_grad) memcpy(prm.t[0].x, xv, sizeof(float) * nx);
  else {
    memcpy(prm.t[0].x, wv, sizeof(float) * nw);
    memcpy(prm.t[1].x, bv, sizeof(float) * Cout);
  }
  gs_graph g;
  gs_graph_init(&g, GS_TEST_ARENA);
  gs_graph_begin(&g, &prm, 1);
  gs_tensor *x = x_grad ? &prm.t[0] : gs_wrap(&g, xv, 4, xs);
  gs_tensor *w = x_grad ? gs_wrap(&g, wv, 4, ws) : &prm.t[0];
  gs_tensor *b = x_grad ? gs_wrap(&g, bv, 1, bs) : &prm.t[1];
  gs_tensor *y = deconv ? gs_conv_transpose2d(&g, x, w, b, s, p, op) : gs_conv2d(&g, x, w, b, s, p);
  gs_backward(&g, gs_sum(&g, gs_mul(&g, y, gs_wrap(&g, r, 4, y->shape))), 1.0f);
  if (deconv) {
    gs_conv_transpose2d_forward_naive(xv, wv, bv, yr, N, Cin, H, W, Cout, K, K, s, p, op);
    gs_conv_transpose2d_backward_naive(xv, wv, r, dx, dw, db, N, Cin, H, W, Cout, K, K, s, p, op);
  } else {
    gs_conv2d_forward_naive(xv, wv, bv, yr, N, Cin, H, W, Cout, K, K, s, p);
    gs_conv2d_backward_naive(xv, wv, r, dx, dw, db, N, Cin, H, W, Cout, K, K, s, p);
  }
  cr_expect(rel_err(y->x, yr, ny) < 2e-5);
  if (x_grad) cr_expect(rel_err(prm.t[0].g, dx, nx) < 2e-5, "dx");
  else {
    cr_expect(rel_err(prm.t[0].g, dw, nw) < 2e-5, "dw");
    cr_expect(rel_err(prm.t[1].g, db, Cout) < 2e-5, "db");
  }
  free(xv); free(wv); free(bv); free(r); free(yr); free(dx); free(dw); free(db);
  gs_graph_free(&g);
  gs_params_free(&prm);
}
Test(conv_fast, conv2d_input_grad_only) { partial_case(0, 1); }
Test(conv_fast, conv2d_weight_grad_only) { partial_case(0, 0); }
Test(conv_fast, conv_transpose2d_input_grad_only) { partial_case(1, 1); }
Test(conv_fast, conv_transpose2d_weight_grad_only) { partial_case(1, 0); }

/* Fused ReLU: gs_conv2d_relu / gs_conv_transpose2d_relu against relu() of the plain op, forward and
 * every gradient, bit for bit; the output feeds two consumers, so its gradient is accumulated before
 * the fused op masks it. */
static void fused_case(int deconv, int N, int Cin, int H, int W, int Cout, int s, int p, int op, int bias) {
  int xs[4] = {N, Cin, H, W}, ws[4] = {deconv ? Cin : Cout, deconv ? Cout : Cin, 3, 3}, bs[1] = {Cout};
  gs_params prm = {0};
  gs_params_declare(&prm, "x", 4, xs);
  gs_params_declare(&prm, "w", 4, ws);
  gs_params_declare(&prm, "b", 1, bs);
  gs_params_alloc(&prm);
  gs_rng rng;
  gs_rng_seed(&rng, 91, deconv, Cin * 100 + Cout);
  fill(&rng, prm.data, prm.total);
  gs_graph g;
  gs_graph_init(&g, GS_TEST_ARENA);
  float *y0 = NULL, *g0 = malloc(sizeof(float) * prm.total), *r = NULL;
  long ny = 0;
  for (int fused = 0; fused < 2; fused++) {
    gs_graph_begin(&g, &prm, 1);
    gs_tensor *x = &prm.t[0], *w = &prm.t[1], *b = bias ? &prm.t[2] : NULL, *y;
    if (deconv)
      y = fused ? gs_conv_transpose2d_relu(&g, x, w, b, s, p, op)
                : gs_relu(&g, gs_conv_transpose2d(&g, x, w, b, s, p, op));
    else
      y = fused ? gs_conv2d_relu(&g, x, w, b, s, p) : gs_relu(&g, gs_conv2d(&g, x, w, b, s, p));
    if (!r) {
      ny = y->n;
      r = malloc(sizeof(float) * ny);
      y0 = malloc(sizeof(float) * ny);
      fill(&rng, r, ny);
    }
    gs_tensor *loss = gs_add(&g, gs_sum(&g, gs_mul(&g, y, gs_wrap(&g, r, 4, y->shape))), gs_sum(&g, gs_tanh(&g, y)));
    gs_backward(&g, loss, 1.0f);
    if (!fused) {
      memcpy(y0, y->x, sizeof(float) * ny);
      memcpy(g0, prm.grad, sizeof(float) * prm.total);
      continue;
    }
    long zeros = 0;
    for (long i = 0; i < ny; i++) zeros += y->x[i] == 0.0f;
    cr_expect(zeros > 0 && zeros < ny, "both sides of the kink (%ld of %ld zero)", zeros, ny);
    cr_expect(memcmp(y0, y->x, sizeof(float) * ny) == 0, "fused relu: forward differs (deconv %d)", deconv);
    cr_expect(memcmp(g0, prm.grad, sizeof(float) * prm.total) == 0, "fused relu: gradients differ (deconv %d)",
              deconv);
  }
  free(y0);
  free(g0);
  free(r);
  gs_graph_free(&g);
  gs_params_free(&prm);
}
Test(conv_fast, conv2d_relu_fused_cae) {
  fused_case(0, 3, 1, 28, 28, 32, 2, 1, 0, 1);
  fused_case(0, 3, 32, 14, 14, 64, 2, 1, 0, 1);
  fused_case(0, 2, 3, 9, 7, 5, 1, 1, 0, 0);
}
Test(conv_fast, conv_transpose2d_relu_fused_cae) {
  fused_case(1, 3, 64, 7, 7, 32, 2, 1, 1, 1);
  fused_case(1, 3, 32, 14, 14, 1, 2, 1, 1, 1);
  fused_case(1, 2, 3, 5, 6, 4, 2, 0, 1, 0);
}

/* A hand-checked value: 1 channel 3x3 input, 2x2 kernel of ones, stride 1, no pad: sums of 2x2 windows. */
Test(conv_fast, hand_values) {
  gs_graph g;
  gs_graph_init(&g, GS_TEST_ARENA);
  gs_graph_begin(&g, NULL, 0);
  float xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, wv[4] = {1, 1, 1, 1}, bv[1] = {0.5f};
  int xs[4] = {1, 1, 3, 3}, ws[4] = {1, 1, 2, 2}, one = 1;
  gs_tensor *y = gs_conv2d(&g, gs_wrap(&g, xv, 4, xs), gs_wrap(&g, wv, 4, ws), gs_wrap(&g, bv, 1, &one), 1, 0);
  float want[4] = {12.5f, 16.5f, 24.5f, 28.5f};
  for (int i = 0; i < 4; i++) cr_expect_float_eq(y->x[i], want[i], 1e-6);
  /* transposed, stride 2: each input pixel stamps the kernel into its own 2x2 block */
  float x2[4] = {1, 2, 3, 4};
  int x2s[4] = {1, 1, 2, 2};
  gs_tensor *z = gs_conv_transpose2d(&g, gs_wrap(&g, x2, 4, x2s), gs_wrap(&g, wv, 4, ws), NULL, 2, 0, 0);
  cr_assert(z->shape[2] == 4 && z->shape[3] == 4);
  float wz[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  for (int i = 0; i < 16; i++) cr_expect_float_eq(z->x[i], wz[i], 1e-6);
  gs_graph_free(&g);
}

/* ================================================================ finite differences */
typedef gs_tensor *(*build_fn)(gs_graph *g, gs_tensor **in);
typedef struct { int ndim; int shape[4]; float lo, hi; } in_spec;

static float bn_rm[64], bn_rv[64]; /* running statistics for the batch-norm builders */

static double loss_of(gs_graph *g, gs_params *p, build_fn f, const float *r, int grad, gs_tensor **lp) {
  gs_graph_begin(g, p, grad);
  gs_tensor *in[4];
  for (int i = 0; i < p->count; i++) in[i] = &p->t[i];
  gs_tensor *y = f(g, in);
  gs_tensor *loss = gs_sum(g, gs_mul(g, y, gs_wrap(g, (float *)r, y->ndim, y->shape)));
  if (lp) *lp = loss;
  return loss->x[0];
}

static void gradcheck(const char *name, int nin, const in_spec *spec, build_fn f, float tol) {
  gs_params p = {0};
  char nm[16];
  for (int i = 0; i < nin; i++) {
    snprintf(nm, sizeof nm, "in%d", i);
    gs_params_declare(&p, nm, spec[i].ndim, spec[i].shape);
  }
  gs_params_alloc(&p);
  gs_rng rng;
  gs_rng_seed(&rng, 42, 0, 7);
  for (int i = 0; i < nin; i++)
    for (long k = 0; k < p.t[i].n; k++) p.t[i].x[k] = spec[i].lo + (spec[i].hi - spec[i].lo) * gs_rng_uniformf(&rng);
  gs_graph g;
  gs_graph_init(&g, GS_TEST_ARENA);
  gs_graph_begin(&g, &p, 0);
  gs_tensor *in[4];
  for (int i = 0; i < nin; i++) in[i] = &p.t[i];
  long ny = f(&g, in)->n;
  float *r = malloc(sizeof(float) * ny);
  for (long k = 0; k < ny; k++) r[k] = 2.0f * gs_rng_uniformf(&rng) - 1.0f;
  gs_tensor *loss;
  loss_of(&g, &p, f, r, 1, &loss);
  gs_backward(&g, loss, 1.0f);
  float *ana = malloc(sizeof(float) * p.total);
  memcpy(ana, p.grad, sizeof(float) * p.total);
  int bad = 0;
  for (int i = 0; i < nin; i++)
    for (long k = 0; k < p.t[i].n; k++) {
      float *v = &p.t[i].x[k], old = *v;
      float h = 1e-2f * fmaxf(1.0f, fabsf(old));
      *v = old + h;
      double lp = loss_of(&g, &p, f, r, 0, NULL);
      *v = old - h;
      double lm = loss_of(&g, &p, f, r, 0, NULL);
      *v = old;
      double num = (lp - lm) / (2.0 * h), a = ana[p.info[i].offset + k];
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

#define S4(a, b, c, d, lo, hi) {4, {a, b, c, d}, lo, hi}
#define S2(a, b, lo, hi) {2, {a, b}, lo, hi}
#define S1(a, lo, hi) {1, {a}, lo, hi}

static gs_tensor *b_conv_s1p1(gs_graph *g, gs_tensor **in) { return gs_conv2d(g, in[0], in[1], in[2], 1, 1); }
static gs_tensor *b_conv_s2p2(gs_graph *g, gs_tensor **in) { return gs_conv2d(g, in[0], in[1], in[2], 2, 2); }
static gs_tensor *b_conv_nob(gs_graph *g, gs_tensor **in) { return gs_conv2d(g, in[0], in[1], NULL, 2, 0); }
static gs_tensor *b_deconv_op1(gs_graph *g, gs_tensor **in) {
  return gs_conv_transpose2d(g, in[0], in[1], in[2], 2, 1, 1);
}
static gs_tensor *b_deconv_s1(gs_graph *g, gs_tensor **in) { return gs_conv_transpose2d(g, in[0], in[1], in[2], 1, 2, 0); }
static gs_tensor *b_deconv_nob(gs_graph *g, gs_tensor **in) { return gs_conv_transpose2d(g, in[0], in[1], NULL, 2, 2, 0); }
static gs_tensor *b_bn_train4(gs_graph *g, gs_tensor **in) {
  return gs_batchnorm(g, in[0], in[1], in[2], bn_rm, bn_rv, 0.1f, 1e-5f, 1);
}
static gs_tensor *b_bn_train2(gs_graph *g, gs_tensor **in) {
  return gs_batchnorm(g, in[0], in[1], in[2], bn_rm, bn_rv, 0.1f, 1e-5f, 1);
}
static gs_tensor *b_bn_eval4(gs_graph *g, gs_tensor **in) {
  return gs_batchnorm(g, in[0], in[1], in[2], bn_rm, bn_rv, 0.1f, 1e-5f, 0);
}
static gs_tensor *b_flatten(gs_graph *g, gs_tensor **in) { return gs_tanh(g, gs_flatten(g, in[0])); }
static gs_tensor *b_conv_relu(gs_graph *g, gs_tensor **in) { return gs_conv2d_relu(g, in[0], in[1], in[2], 2, 1); }
static gs_tensor *b_deconv_relu(gs_graph *g, gs_tensor **in) {
  return gs_conv_transpose2d_relu(g, in[0], in[1], in[2], 2, 1, 1);
}
/* A tiny CAE/DCGAN-like chain: conv -> BN -> tanh -> deconv -> flatten; x feeds two paths. */
static gs_tensor *b_chain(gs_graph *g, gs_tensor **in) {
  gs_tensor *h = gs_conv2d(g, in[0], in[1], NULL, 2, 1);
  h = gs_tanh(g, gs_batchnorm(g, h, in[2], NULL, bn_rm, bn_rv, 0.1f, 1e-5f, 1)); /* smooth: FD across a kink lies */
  gs_tensor *o = gs_conv_transpose2d(g, h, in[3], NULL, 2, 1, 1);
  return gs_flatten(g, gs_add(g, o, gs_tanh(g, in[0])));
}

Test(grad, conv2d_s1_p1) {
  in_spec s[] = {S4(2, 3, 5, 4, -1, 1), S4(4, 3, 3, 3, -1, 1), S1(4, -1, 1)};
  gradcheck("conv s1p1", 3, s, b_conv_s1p1, 2e-3);
}
Test(grad, conv2d_s2_p2_5x5) {
  in_spec s[] = {S4(2, 2, 7, 6, -1, 1), S4(3, 2, 5, 5, -1, 1), S1(3, -1, 1)};
  gradcheck("conv s2p2", 3, s, b_conv_s2p2, 2e-3);
}
Test(grad, conv2d_no_bias) {
  in_spec s[] = {S4(1, 2, 6, 5, -1, 1), S4(2, 2, 3, 3, -1, 1)};
  gradcheck("conv nobias", 2, s, b_conv_nob, 2e-3);
}
Test(grad, conv_transpose2d_s2_op1) {
  in_spec s[] = {S4(2, 3, 3, 4, -1, 1), S4(3, 2, 3, 3, -1, 1), S1(2, -1, 1)};
  gradcheck("deconv s2p1op1", 3, s, b_deconv_op1, 2e-3);
}
Test(grad, conv_transpose2d_s1_p2) {
  in_spec s[] = {S4(2, 2, 4, 3, -1, 1), S4(2, 3, 5, 5, -1, 1), S1(3, -1, 1)};
  gradcheck("deconv s1p2", 3, s, b_deconv_s1, 2e-3);
}
Test(grad, conv_transpose2d_no_bias) {
  in_spec s[] = {S4(1, 2, 2, 3, -1, 1), S4(2, 2, 5, 5, -1, 1)};
  gradcheck("deconv nobias", 2, s, b_deconv_nob, 2e-3);
}
Test(grad, conv2d_relu_fused) { /* inputs shifted so that few outputs sit near the kink */
  in_spec s[] = {S4(1, 2, 5, 4, 0.2f, 1), S4(3, 2, 3, 3, -1, 1), S1(3, -0.5f, 0.5f)};
  gradcheck("conv relu", 3, s, b_conv_relu, 2e-3);
}
Test(grad, conv_transpose2d_relu_fused) {
  in_spec s[] = {S4(2, 3, 3, 4, 0.2f, 1), S4(3, 2, 3, 3, -1, 1), S1(2, -0.5f, 0.5f)};
  gradcheck("deconv relu", 3, s, b_deconv_relu, 2e-3);
}
Test(grad, batchnorm_train_nchw) {
  in_spec s[] = {S4(3, 2, 3, 2, -1, 1), S1(2, 0.5f, 1.5f), S1(2, -1, 1)};
  gradcheck("bn train 4d", 3, s, b_bn_train4, 5e-3);
}
Test(grad, batchnorm_train_nchw_wide) { /* 5x4 = 20 per row: the 16-wide partial sums and a tail */
  in_spec s[] = {S4(2, 2, 5, 4, -1, 1), S1(2, 0.5f, 1.5f), S1(2, -1, 1)};
  gradcheck("bn train 4d wide", 3, s, b_bn_train4, 5e-3);
}
static gs_tensor *b_bn_eval2(gs_graph *g, gs_tensor **in) {
  return gs_batchnorm(g, in[0], in[1], in[2], bn_rm, bn_rv, 0.1f, 1e-5f, 0);
}
Test(grad, batchnorm_eval_2d) {
  for (int i = 0; i < 64; i++) {
    bn_rm[i] = 0.3f - 0.05f * i;
    bn_rv[i] = 0.7f + 0.2f * i;
  }
  in_spec s[] = {S2(4, 5, -2, 2), S1(5, 0.5f, 1.5f), S1(5, -1, 1)};
  gradcheck("bn eval 2d", 3, s, b_bn_eval2, 2e-3);
}
Test(grad, batchnorm_train_2d) {
  in_spec s[] = {S2(6, 3, -2, 2), S1(3, 0.5f, 1.5f), S1(3, -1, 1)};
  gradcheck("bn train 2d", 3, s, b_bn_train2, 5e-3);
}
Test(grad, batchnorm_eval) {
  for (int i = 0; i < 64; i++) {
    bn_rm[i] = 0.1f * i - 0.2f;
    bn_rv[i] = 0.5f + 0.25f * i;
  }
  in_spec s[] = {S4(2, 3, 2, 2, -1, 1), S1(3, 0.5f, 1.5f), S1(3, -1, 1)};
  gradcheck("bn eval", 3, s, b_bn_eval4, 2e-3);
}
Test(grad, flatten) {
  in_spec s[] = {S4(2, 3, 2, 2, -1, 1)};
  gradcheck("flatten", 1, s, b_flatten, 2e-3);
}
Test(grad, conv_bn_deconv_chain) {
  in_spec s[] = {S4(3, 1, 6, 6, -1, 1), S4(2, 1, 3, 3, -1, 1), S1(2, 0.5f, 1.5f), S4(2, 1, 3, 3, -1, 1)};
  gradcheck("chain", 4, s, b_chain, 5e-3);
}

/* ================================================================ batch norm values */
Test(batchnorm, running_stats_by_hand_2d) {
  gs_graph g;
  gs_graph_init(&g, GS_TEST_ARENA);
  gs_graph_begin(&g, NULL, 0);
  /* (4,2): column 0 = 1,2,3,4  column 1 = 0,0,2,6 */
  float xv[8] = {1, 0, 2, 0, 3, 2, 4, 6};
  float gm[2] = {2.0f, 0.5f}, bt[2] = {0.25f, -1.0f}, rm[2] = {0.0f, 1.0f}, rv[2] = {1.0f, 2.0f};
  int two = 2;
  gs_tensor *y = gs_batchnorm(&g, gs_wrap2(&g, xv, 4, 2), gs_wrap(&g, gm, 1, &two), gs_wrap(&g, bt, 1, &two), rm, rv,
                              0.1f, 1e-5f, 1);
  /* column 0: mean 2.5, biased var 1.25, unbiased 5/3; column 1: mean 2, biased var 6, unbiased 8 */
  cr_expect_float_eq(rm[0], 0.9f * 0.0f + 0.1f * 2.5f, 1e-6);
  cr_expect_float_eq(rm[1], 0.9f * 1.0f + 0.1f * 2.0f, 1e-6);
  cr_expect_float_eq(rv[0], 0.9f * 1.0f + 0.1f * (5.0f / 3.0f), 1e-6);
  cr_expect_float_eq(rv[1], 0.9f * 2.0f + 0.1f * 8.0f, 1e-6);
  for (int i = 0; i < 4; i++) {
    float y0 = (xv[2 * i] - 2.5f) / sqrtf(1.25f + 1e-5f) * 2.0f + 0.25f;
    float y1 = (xv[2 * i + 1] - 2.0f) / sqrtf(6.0f + 1e-5f) * 0.5f - 1.0f;
    cr_expect_float_eq(y->x[2 * i], y0, 1e-5);
    cr_expect_float_eq(y->x[2 * i + 1], y1, 1e-5);
  }
  /* evaluation uses the running statistics and leaves them alone */
  float rm0 = rm[0], rv0 = rv[0];
  gs_tensor *z = gs_batchnorm(&g, gs_wrap2(&g, xv, 4, 2), gs_wrap(&g, gm, 1, &two), gs_wrap(&g, bt, 1, &two), rm, rv,
                              0.1f, 1e-5f, 0);
  cr_expect(rm[0] == rm0 && rv[0] == rv0);
  for (int i = 0; i < 4; i++)
    cr_expect_float_eq(z->x[2 * i], (xv[2 * i] - rm0) / sqrtf(rv0 + 1e-5f) * 2.0f + 0.25f, 1e-5);
  gs_graph_free(&g);
}

Test(batchnorm, running_stats_by_hand_nchw) {
  gs_graph g;
  gs_graph_init(&g, GS_TEST_ARENA);
  gs_graph_begin(&g, NULL, 0);
  /* (2,2,1,2): channel 0 gets {1,3} from sample 0 and {5,7} from sample 1; channel 1 is constant 4 */
  float xv[8] = {1, 3, 4, 4, 5, 7, 4, 4};
  float rm[2] = {1.0f, 1.0f}, rv[2] = {1.0f, 1.0f};
  int xs[4] = {2, 2, 1, 2};
  gs_tensor *y = gs_batchnorm(&g, gs_wrap(&g, xv, 4, xs), NULL, NULL, rm, rv, 0.25f, 1e-3f, 1);
  /* channel 0: mean 4, biased var 5, unbiased 20/3; channel 1: mean 4, var 0 */
  cr_expect_float_eq(rm[0], 0.75f + 0.25f * 4.0f, 1e-6);
  cr_expect_float_eq(rv[0], 0.75f + 0.25f * (20.0f / 3.0f), 1e-6);
  cr_expect_float_eq(rm[1], 0.75f + 0.25f * 4.0f, 1e-6);
  cr_expect_float_eq(rv[1], 0.75f, 1e-6);
  float want0[4] = {-3, -1, 1, 3}; /* sample0: 1,3 ; sample1: 5,7 minus 4 */
  cr_expect_float_eq(y->x[0], want0[0] / sqrtf(5.001f), 1e-5);
  cr_expect_float_eq(y->x[1], want0[1] / sqrtf(5.001f), 1e-5);
  cr_expect_float_eq(y->x[4], want0[2] / sqrtf(5.001f), 1e-5);
  cr_expect_float_eq(y->x[5], want0[3] / sqrtf(5.001f), 1e-5);
  for (int i = 2; i < 4; i++) cr_expect_float_eq(y->x[i], 0.0f, 1e-6);
  gs_graph_free(&g);
}

/* The fast path (float partial sums, y = A x + D, dx = A dy + B x + D) against the plain double
 * loops of gs_batchnorm_forward_naive / _backward_naive: both layouts, rows shorter and longer
 * than the 16-wide partial sums, channels with a large mean next to their spread. */
static void bn_vs_naive(int N, int C, int H, int W, int affine) {
  const int P = H * W, ndim = H ? 4 : 2, xs[4] = {N, C, H, W};
  const long n = (long)N * C * (H ? P : 1);
  gs_params p = {0};
  gs_params_declare(&p, "x", ndim, xs);
  gs_params_declare(&p, "gamma", 1, &C);
  gs_params_declare(&p, "beta", 1, &C);
  gs_params_alloc(&p);
  gs_rng rng;
  gs_rng_seed(&rng, 5, (uint64_t)N * 1000 + C, (uint64_t)P);
  fill(&rng, p.data, p.total);
  const long per = H ? P : 1;
  for (long i = 0; i < n; i++) p.t[0].x[i] = p.t[0].x[i] * 0.5f + (float)((i / per) % C % 5) * 2.0f - 4.0f;
  float *r = malloc(sizeof(float) * n), *yr = malloc(sizeof(float) * n), *dx = malloc(sizeof(float) * n);
  float mean[64], var[64], dg[64], db[64], rm[64] = {0}, rv[64];
  for (int c = 0; c < C; c++) rv[c] = 1.0f;
  fill(&rng, r, n);
  gs_graph g;
  gs_graph_init(&g, GS_TEST_ARENA);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *ga = affine ? &p.t[1] : NULL, *be = affine ? &p.t[2] : NULL;
  gs_tensor *y = gs_batchnorm(&g, &p.t[0], ga, be, rm, rv, 0.1f, 1e-5f, 1);
  gs_backward(&g, gs_sum(&g, gs_mul(&g, y, gs_wrap(&g, r, ndim, xs))), 1.0f);
  gs_batchnorm_forward_naive(p.t[0].x, affine ? p.t[1].x : NULL, affine ? p.t[2].x : NULL, yr, mean, var, N, C,
                             per, 1e-5f);
  gs_batchnorm_backward_naive(p.t[0].x, affine ? p.t[1].x : NULL, r, dx, dg, db, N, C, per, 1e-5f);
  const double tol = 1e-5;
  double e;
  cr_expect((e = rel_err(y->x, yr, n)) < tol, "(%d,%d,%d,%d): forward differs (rel %g)", N, C, H, W, e);
  cr_expect((e = rel_err(p.t[0].g, dx, n)) < tol, "(%d,%d,%d,%d): dx differs (rel %g)", N, C, H, W, e);
  if (affine) {
    cr_expect((e = rel_err(p.t[1].g, dg, C)) < tol, "(%d,%d,%d,%d): dgamma differs (rel %g)", N, C, H, W, e);
    cr_expect((e = rel_err(p.t[2].g, db, C)) < tol, "(%d,%d,%d,%d): dbeta differs (rel %g)", N, C, H, W, e);
  }
  for (int c = 0; c < C; c++) { /* running statistics from the naive batch statistics */
    const double M = (double)N * per;
    cr_expect_float_eq(rm[c], 0.1f * mean[c], 1e-5f * (1 + fabsf(mean[c])));
    cr_expect_float_eq(rv[c], 0.9f + 0.1f * (float)(var[c] * M / (M - 1)), 1e-5f);
  }
  free(r);
  free(yr);
  free(dx);
  gs_graph_free(&g);
  gs_params_free(&p);
}

Test(batchnorm, fast_matches_naive) {
  bn_vs_naive(4, 3, 5, 4, 1);   /* 20 per row: partial sums and a tail */
  bn_vs_naive(3, 5, 7, 7, 1);   /* 49 */
  bn_vs_naive(8, 16, 2, 2, 0);  /* 4: tail only; no gamma, beta */
  bn_vs_naive(2, 2, 14, 14, 1); /* 196 */
  bn_vs_naive(6, 33, 0, 0, 1);  /* (B,N) */
  bn_vs_naive(16, 7, 0, 0, 0);
}

Test(flatten, shape_and_view) {
  gs_graph g;
  gs_graph_init(&g, GS_TEST_ARENA);
  gs_graph_begin(&g, NULL, 0);
  int s[4] = {3, 4, 5, 6};
  gs_tensor *x = gs_new(&g, 4, s, 0);
  gs_tensor *f = gs_flatten(&g, x);
  cr_expect(f->ndim == 2 && f->shape[0] == 3 && f->shape[1] == 120 && f->x == x->x);
  gs_graph_free(&g);
}

/* ================================================================ shape errors (abort) */
static gs_graph eg;
static gs_tensor *et(int n0, int n1, int n2, int n3) {
  int s[4] = {n0, n1, n2, n3};
  return gs_new(&eg, n2 ? 4 : n1 ? 2 : 1, s, 0);
}
static void err_setup(void) {
  gs_graph_init(&eg, 1 << 16);
  gs_graph_begin(&eg, NULL, 0);
}

Test(shape_errors, conv_channel_mismatch, .init = err_setup, .signal = SIGABRT) {
  gs_conv2d(&eg, et(1, 3, 8, 8), et(4, 2, 3, 3), NULL, 1, 0);
}
Test(shape_errors, conv_input_not_4d, .init = err_setup, .signal = SIGABRT) {
  gs_conv2d(&eg, et(2, 64, 0, 0), et(4, 2, 3, 3), NULL, 1, 0);
}
Test(shape_errors, conv_bias_size, .init = err_setup, .signal = SIGABRT) {
  gs_conv2d(&eg, et(1, 2, 8, 8), et(4, 2, 3, 3), et(3, 0, 0, 0), 1, 0);
}
Test(shape_errors, conv_kernel_too_large, .init = err_setup, .signal = SIGABRT) {
  gs_conv2d(&eg, et(1, 2, 3, 3), et(4, 2, 5, 5), NULL, 1, 0);
}
Test(shape_errors, conv_bad_stride, .init = err_setup, .signal = SIGABRT) {
  gs_conv2d(&eg, et(1, 2, 8, 8), et(4, 2, 3, 3), NULL, 0, 0);
}
Test(shape_errors, deconv_channel_mismatch, .init = err_setup, .signal = SIGABRT) {
  /* weight is (Cin, Cout, KH, KW): (4,2,..) against Cin=2 is wrong */
  gs_conv_transpose2d(&eg, et(1, 2, 4, 4), et(4, 2, 3, 3), NULL, 2, 1, 1);
}
Test(shape_errors, deconv_out_pad_too_large, .init = err_setup, .signal = SIGABRT) {
  gs_conv_transpose2d(&eg, et(1, 2, 4, 4), et(2, 3, 3, 3), NULL, 2, 1, 2);
}
Test(shape_errors, batchnorm_gamma_size, .init = err_setup, .signal = SIGABRT) {
  float rm[3], rv[3];
  gs_batchnorm(&eg, et(2, 3, 4, 4), et(2, 0, 0, 0), NULL, rm, rv, 0.1f, 1e-5f, 1);
}
Test(shape_errors, batchnorm_3d, .init = err_setup, .signal = SIGABRT) {
  int s[3] = {2, 3, 4};
  gs_batchnorm(&eg, gs_new(&eg, 3, s, 0), NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 1);
}
Test(shape_errors, batchnorm_eval_without_running_stats, .init = err_setup, .signal = SIGABRT) {
  gs_batchnorm(&eg, et(2, 3, 0, 0), NULL, NULL, NULL, NULL, 0.1f, 1e-5f, 0);
}
