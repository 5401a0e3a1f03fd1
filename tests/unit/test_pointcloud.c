/* Point-cloud ops: finite-difference gradients of max over points, Chamfer, Sinkhorn EMD and the
 * shared per-point dense layer; the fast Chamfer against its naive twin; the Sinkhorn estimate
 * against the exact assignment (the figures in pointcloud.h); determinism. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/core/rng.h"
#include "gensweep/nn/ops.h"
#include "gensweep/nn/pointcloud.h"

/* ---------------------------------------------------------------- finite differences
 * As in test_ops.c: loss = sum(f(in) * r) for a fixed random r, d loss / d in against central
 * differences, with the step h given per test (the ops here are piecewise smooth: the step must
 * stay below the gap to the next change of argmax / nearest neighbour). */
typedef gs_tensor *(*build_fn)(gs_graph *g, gs_tensor **in, const void *ctx);
typedef struct { int ndim; int shape[4]; float lo, hi; } in_spec;
#define S2(a, b, lo, hi) {2, {a, b}, lo, hi}
#define S1(a, lo, hi) {1, {a}, lo, hi}

static double forward_loss(gs_graph *g, gs_params *p, build_fn f, const void *ctx, const float *r, int grad,
                           gs_tensor **outp) {
  gs_graph_begin(g, p, grad);
  gs_tensor *in[4];
  for (int i = 0; i < p->count; i++) in[i] = &p->t[i];
  gs_tensor *y = f(g, in, ctx);
  gs_tensor *loss = gs_sum(g, gs_mul(g, y, gs_wrap(g, (float *)r, y->ndim, y->shape)));
  if (outp) *outp = loss;
  return loss->x[0];
}

/* returns the largest error seen (relative to max(1, |analytic|, |numeric|)) */
static double gradcheck(const char *name, int nin, const in_spec *spec, build_fn f, const void *ctx, float h,
                        float tol) {
  gs_params p = {0};
  char nm[16];
  for (int i = 0; i < nin; i++) {
    snprintf(nm, sizeof nm, "in%d", i);
    gs_params_declare(&p, nm, spec[i].ndim, spec[i].shape);
  }
  gs_params_alloc(&p);
  gs_rng rng;
  gs_rng_seed(&rng, 42, 0, 98);
  for (int i = 0; i < nin; i++)
    for (long k = 0; k < p.t[i].n; k++) p.t[i].x[k] = spec[i].lo + (spec[i].hi - spec[i].lo) * gs_rng_uniformf(&rng);
  gs_graph g;
  gs_graph_init(&g, 1 << 20);
  gs_graph_begin(&g, &p, 0);
  gs_tensor *in[4];
  for (int i = 0; i < nin; i++) in[i] = &p.t[i];
  long ny = f(&g, in, ctx)->n;
  float *r = malloc(sizeof(float) * ny);
  for (long k = 0; k < ny; k++) r[k] = 2.0f * gs_rng_uniformf(&rng) - 1.0f;
  gs_tensor *loss;
  forward_loss(&g, &p, f, ctx, r, 1, &loss);
  gs_backward(&g, loss, 1.0f);
  float *ana = malloc(sizeof(float) * p.total);
  memcpy(ana, p.grad, sizeof(float) * p.total);
  int bad = 0;
  double worst = 0.0;
  for (int i = 0; i < nin; i++)
    for (long k = 0; k < p.t[i].n; k++) {
      float *v = &p.t[i].x[k], old = *v;
      *v = old + h;
      double lp = forward_loss(&g, &p, f, ctx, r, 0, NULL);
      *v = old - h;
      double lm = forward_loss(&g, &p, f, ctx, r, 0, NULL);
      *v = old;
      double num = (lp - lm) / (2.0 * h), a = ana[p.info[i].offset + k];
      double err = fabs(a - num) / fmax(1.0, fmax(fabs(a), fabs(num)));
      worst = fmax(worst, err);
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
  return worst;
}

/* ---------------------------------------------------------------- clouds */
/* n points on the unit sphere's surface */
static void sphere(gs_rng *r, float *p, int n) {
  for (int i = 0; i < n; i++) {
    float v[3];
    double s = 0.0;
    for (int k = 0; k < 3; k++) v[k] = gs_rng_normal(r), s += (double)v[k] * v[k];
    for (int k = 0; k < 3; k++) p[3 * i + k] = (float)(v[k] / sqrt(s));
  }
}
static void uniform(gs_rng *r, float *p, long n, float lo, float hi) {
  for (long i = 0; i < n; i++) p[i] = lo + (hi - lo) * gs_rng_uniformf(r);
}
/* b = a + N(0, s^2) per coordinate */
static void jitter(gs_rng *r, const float *a, float *b, int n, float s) {
  for (int i = 0; i < 3 * n; i++) b[i] = a[i] + s * gs_rng_normal(r);
}

/* the two halves of the Chamfer distance, in double: mean over a of the squared distance to the
 * nearest b, and the reverse */
static void chamfer_halves(const float *a, const float *b, int N, int M, double *ab, double *ba) {
  *ab = *ba = 0.0;
  for (int pass = 0; pass < 2; pass++) {
    const float *p = pass ? b : a, *q = pass ? a : b;
    int np = pass ? M : N, nq = pass ? N : M;
    double s = 0.0;
    for (int i = 0; i < np; i++) {
      double m = INFINITY;
      for (int j = 0; j < nq; j++) {
        double d = 0.0;
        for (int k = 0; k < 3; k++) d += ((double)p[3 * i + k] - q[3 * j + k]) * ((double)p[3 * i + k] - q[3 * j + k]);
        m = d < m ? d : m;
      }
      s += m;
    }
    *(pass ? ba : ab) = s / np;
  }
}

/* ---------------------------------------------------------------- gradients */
typedef struct { int B, N, M; float eps; int iters; } pc_ctx;

static gs_tensor *b_max(gs_graph *g, gs_tensor **in, const void *c) {
  const pc_ctx *p = c;
  return gs_max_points(g, in[0], p->B, p->N);
}
static gs_tensor *b_chamfer(gs_graph *g, gs_tensor **in, const void *c) {
  const pc_ctx *p = c;
  return gs_chamfer(g, in[0], in[1], p->B, p->N, p->M);
}
static gs_tensor *b_emd(gs_graph *g, gs_tensor **in, const void *c) {
  const pc_ctx *p = c;
  return gs_emd_sinkhorn(g, in[0], in[1], p->B, p->N, p->eps, p->iters);
}
/* b = a + 0.1 d: a reconstruction-like pair, whose plan is close to a permutation */
static gs_tensor *b_emd_near(gs_graph *g, gs_tensor **in, const void *c) {
  const pc_ctx *p = c;
  return gs_emd_sinkhorn(g, in[0], gs_add(g, in[0], gs_scale(g, in[1], 0.1f)), p->B, p->N, p->eps, p->iters);
}
/* PointNet's encoder in small: a batch as the data gives it, (B, N*3), viewed as (B*N, 3) rows;
 * one dense layer shared by every point (gs_dense over B*N rows, no op of its own), a smooth
 * activation so that finite differences see no kink, max over each cloud's points */
static gs_tensor *b_pointnet(gs_graph *g, gs_tensor **in, const void *c) {
  const pc_ctx *p = c;
  int rows[2] = {p->B * p->N, 3};
  gs_tensor *pts = gs_reshape(g, in[0], 2, rows);
  return gs_max_points(g, gs_tanh(g, gs_dense(g, pts, in[1], in[2])), p->B, p->N);
}
static gs_tensor *b_dense_rows(gs_graph *g, gs_tensor **in, const void *c) {
  const pc_ctx *p = c;
  int rows[2] = {p->B * p->N, 3};
  return gs_dense(g, gs_reshape(g, in[0], 2, rows), in[1], in[2]);
}

/* 3 clouds of 2, 5 and 1 rows (ragged, one of a single row) */
static const int32_t seg_start[4] = {0, 2, 7, 8};
static gs_tensor *b_max_segments(gs_graph *g, gs_tensor **in, const void *c) {
  (void)c;
  return gs_max_segments(g, in[0], 3, seg_start);
}

/* 8 rows in [-1, 1]: values ~1/4 apart within a segment; h = 1e-3 changes no max */
Test(grad, max_segments) {
  in_spec s[] = {S2(8, 4, -1, 1)};
  gradcheck("max_segments", 1, s, b_max_segments, NULL, 1e-3f, 2e-3f);
}
/* h = 1e-3 against values 1/(6*4) apart on average; the loss is a sum of 8 maxima, so float
 * rounding over 2h gives ~1e-4 */
Test(grad, max_points) {
  pc_ctx c = {2, 6, 0, 0, 0};
  in_spec s[] = {S2(12, 4, -1, 1)};
  gradcheck("max_points", 1, s, b_max, &c, 1e-3f, 2e-3f);
}
/* 2 clouds of 5 and 7 points in [-1, 1]^3: nearest neighbours ~0.5 apart, so a step of 1e-3
 * changes none of them; the loss is piecewise quadratic, so central differences are exact but
 * for float rounding */
Test(grad, chamfer) {
  pc_ctx c = {2, 5, 7, 0, 0};
  in_spec s[] = {S2(10, 3, -1, 1), S2(14, 3, -1, 1)};
  gradcheck("chamfer", 2, s, b_chamfer, &c, 1e-3f, 2e-3f);
}
Test(grad, chamfer_self) { /* the same tensor on both sides: both gradients land in one buffer */
  pc_ctx c = {2, 6, 6, 0, 0};
  in_spec s[] = {S2(12, 3, -1, 1)};
  gs_params p = {0};
  gs_params_declare(&p, "a", 2, s[0].shape);
  gs_params_alloc(&p);
  gs_rng r;
  gs_rng_seed(&r, 1, 2, 3);
  uniform(&r, p.data, 36, -1, 1);
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *y = gs_chamfer(&g, &p.t[0], &p.t[0], c.B, c.N, c.M);
  cr_expect(y->x[0] == 0.0f && y->x[1] == 0.0f, "CD(a, a) = %g, %g", y->x[0], y->x[1]);
  gs_backward(&g, gs_sum(&g, y), 1.0f);
  for (int k = 0; k < 36; k++) cr_expect(p.grad[k] == 0.0f, "gradient %d = %g", k, p.grad[k]);
  gs_graph_free(&g);
  gs_params_free(&p);
}
/* the shared per-point layer over B*N rows: weight and bias gradients summed over every point of
 * every cloud, and through max pooling */
Test(grad, dense_over_points) {
  pc_ctx c = {2, 5, 0, 0, 0};
  in_spec s[] = {S2(2, 15, -1, 1), S2(3, 4, -1, 1), S1(4, -1, 1)};
  gradcheck("dense over B*N rows", 3, s, b_dense_rows, &c, 1e-2f, 2e-3f);
  gradcheck("pointnet", 3, s, b_pointnet, &c, 1e-3f, 2e-3f);
}

/* The EMD gradient is the envelope one (plan held fixed). Checked three ways:
 * - exactly what it claims: finite differences of <P, D(a, b)> with P the plan of the unperturbed
 *   clouds, in double;
 * - against finite differences of the estimate itself on near clouds (b = a + 0.1 d), where the
 *   plan is close to a permutation and barely moves: measured gap 3e-7, bound 2e-3 as for every op;
 * - the same on independent clouds, where the plan is spread and moves with the points: the gap
 *   is eps dH(P), which the envelope gradient (that of <P, D> - eps H(P)) leaves out, plus the
 *   temperature's own dependence on the points; measured 0.021 on gradients up to ~0.2 here (the
 *   same at 1000 iterations: not a convergence effect); bound 0.05, which a wrong sign or factor
 *   would exceed. */
Test(grad, emd_envelope) {
  enum { N = 8 };
  gs_rng r;
  gs_rng_seed(&r, 4, 5, 6);
  float a[3 * N], b[3 * N], P[N * N], da[3 * N], db[3 * N];
  uniform(&r, a, 3 * N, -1, 1);
  uniform(&r, b, 3 * N, -1, 1);
  gs_emd_sinkhorn_cloud(a, b, N, GS_EMD_EPS, GS_EMD_ITERS, P, da, db);
  /* the op's gradient (through the tape, seed 1) must be the function's */
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_params p = {0};
  int sh[2] = {N, 3};
  gs_params_declare(&p, "a", 2, sh);
  gs_params_declare(&p, "b", 2, sh);
  gs_params_alloc(&p);
  memcpy(p.t[0].x, a, sizeof a);
  memcpy(p.t[1].x, b, sizeof b);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *y = gs_emd_sinkhorn(&g, &p.t[0], &p.t[1], 1, N, GS_EMD_EPS, GS_EMD_ITERS);
  gs_backward(&g, y, 1.0f);
  cr_expect(memcmp(p.t[0].g, da, sizeof da) == 0 && memcmp(p.t[1].g, db, sizeof db) == 0);
  double worst = 0.0;
  for (int side = 0; side < 2; side++)
    for (int k = 0; k < 3 * N; k++) {
      double v[2];
      for (int s = 0; s < 2; s++) {
        double c[2][3 * N];
        for (int t = 0; t < 3 * N; t++) c[0][t] = a[t], c[1][t] = b[t];
        c[side][k] += s ? -1e-4 : 1e-4;
        double sum = 0.0;
        for (int i = 0; i < N; i++)
          for (int j = 0; j < N; j++) {
            double d = 0.0;
            for (int m = 0; m < 3; m++) d += (c[0][3 * i + m] - c[1][3 * j + m]) * (c[0][3 * i + m] - c[1][3 * j + m]);
            sum += (double)P[i * N + j] * d;
          }
        v[s] = sum;
      }
      double num = (v[0] - v[1]) / 2e-4, ana = (side ? db : da)[k];
      worst = fmax(worst, fabs(num - ana));
    }
  /* float plan entries and float gradient sums: ~1e-6 of gradients of order 0.1 */
  cr_expect(worst < 1e-5, "plan-fixed gradient off by %g", worst);
  gs_graph_free(&g);
  gs_params_free(&p);
  pc_ctx c = {2, N, N, GS_EMD_EPS, GS_EMD_ITERS};
  in_spec s[] = {S2(2 * N, 3, -1, 1), S2(2 * N, 3, -1, 1)};
  double gap_near = gradcheck("emd sinkhorn, near clouds", 2, s, b_emd_near, &c, 1e-3f, 2e-3f);
  double gap = gradcheck("emd sinkhorn, independent clouds", 2, s, b_emd, &c, 1e-3f, 5e-2f);
  cr_log_info("EMD: envelope gradient vs finite differences of the estimate: max gap %.2g, near clouds %.2g", gap, gap_near);
}

/* ---------------------------------------------------------------- values */
Test(max_points, values_and_first_index_on_ties) {
  gs_params p = {0};
  int sh[2] = {6, 2}; /* B = 2 clouds of N = 3 points, F = 2 */
  gs_params_declare(&p, "x", 2, sh);
  gs_params_alloc(&p);
  float x[12] = {1, 5, 3, 5, 3, -1, /* cloud 1 */ -2, -7, -2, -8, -3, -7};
  memcpy(p.data, x, sizeof x);
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *y = gs_max_points(&g, &p.t[0], 2, 3);
  float want[4] = {3, 5, -2, -7};
  for (int k = 0; k < 4; k++) cr_expect_eq(y->x[k], want[k]);
  gs_backward(&g, gs_sum(&g, y), 1.0f);
  /* ties: point 1 (not 2) of cloud 0 for feature 0, point 0 (not 1) for feature 1; cloud 1: point
   * 0 (not 1) for feature 0, point 0 (not 2) for feature 1 */
  float dwant[12] = {0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0};
  for (int k = 0; k < 12; k++) cr_expect_eq(p.grad[k], dwant[k], "dx[%d] = %g", k, p.grad[k]);
  gs_graph_free(&g);
  gs_params_free(&p);
}

/* Permuting a cloud's points leaves the pooled code unchanged: one layer shared by every row,
 * and a symmetric pooling. Rows of an sgemm are computed alike wherever they sit, so the codes
 * agree to rounding (exact here, not guaranteed by BLAS). */
Test(max_points, pointnet_is_permutation_invariant) {
  enum { B = 3, N = 50, F = 16 };
  gs_rng r;
  gs_rng_seed(&r, 8, 0, 0);
  static float x[B * N * 3], xp[B * N * 3], w[3 * F], bias[F];
  uniform(&r, x, B * N * 3, -1, 1);
  uniform(&r, w, 3 * F, -1, 1);
  uniform(&r, bias, F, -0.5f, 0.5f);
  int32_t perm[N];
  for (int b = 0; b < B; b++) {
    for (int i = 0; i < N; i++) perm[i] = i;
    gs_rng_shuffle(&r, perm, N);
    for (int i = 0; i < N; i++) memcpy(xp + 3 * (b * N + i), x + 3 * (b * N + perm[i]), 3 * sizeof(float));
  }
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, NULL, 0);
  int fs = F;
  gs_tensor *wt = gs_wrap2(&g, w, 3, F), *bt = gs_wrap(&g, bias, 1, &fs);
  gs_tensor *c0 = gs_max_points(&g, gs_dense_relu(&g, gs_wrap2(&g, x, B * N, 3), wt, bt), B, N);
  gs_tensor *c1 = gs_max_points(&g, gs_dense_relu(&g, gs_wrap2(&g, xp, B * N, 3), wt, bt), B, N);
  for (int k = 0; k < B * F; k++) cr_expect(fabsf(c0->x[k] - c1->x[k]) <= 1e-6f * fmaxf(1.0f, fabsf(c0->x[k])));
  gs_graph_free(&g);
}

/* The fast Chamfer against the naive one. The sgemm form can pick, on a near-tie, a neighbour
 * whose distance exceeds the nearest's by at most its own rounding error, delta ~ a few float
 * epsilons times R^2 (R: the largest distance of a point from the joint centroid, which the op
 * centres on); the chosen distance is then recomputed from the coordinates. So per cloud
 *   |fast - naive| <= 2 delta + 8 eps * CD   (two means of per-point errors <= delta; float
 * recomputation of each distance and the final rounding),
 * with delta = 16 eps R^2. Gradients: identical to float rounding at every point whose neighbour
 * agrees; a flipped near-tie moves one point's gradient, so at most a few in 1000 points may
 * differ (none did on these seeds). */
static void fast_vs_naive(int B, int N, int M, float offset, int seed) {
  gs_rng r;
  gs_rng_seed(&r, seed, N, M);
  float *a = malloc(sizeof(float) * 3 * B * N), *b = malloc(sizeof(float) * 3 * B * M);
  for (int c = 0; c < B; c++) { /* a sphere and a noisy, rescaled sphere: nearest neighbours at all ranges */
    sphere(&r, a + 3L * N * c, N);
    sphere(&r, b + 3L * M * c, M);
    for (int i = 0; i < 3 * M; i++) b[3L * M * c + i] = 1.1f * b[3L * M * c + i] + 0.05f * gs_rng_normal(&r);
  }
  for (long i = 0; i < 3L * B * N; i++) a[i] += offset;
  for (long i = 0; i < 3L * B * M; i++) b[i] += offset;
  double *want = malloc(sizeof(double) * B);
  float *da = malloc(sizeof(float) * 3 * B * N), *db = malloc(sizeof(float) * 3 * B * M);
  gs_chamfer_naive(a, b, B, N, M, want, da, db);
  gs_params p = {0};
  int sa[2] = {B * N, 3}, sb[2] = {B * M, 3};
  gs_params_declare(&p, "a", 2, sa);
  gs_params_declare(&p, "b", 2, sb);
  gs_params_alloc(&p);
  memcpy(p.t[0].x, a, sizeof(float) * 3 * B * N);
  memcpy(p.t[1].x, b, sizeof(float) * 3 * B * M);
  gs_graph g;
  gs_graph_init(&g, 1 << 20);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *y = gs_chamfer(&g, &p.t[0], &p.t[1], B, N, M);
  gs_backward(&g, gs_sum(&g, y), 1.0f);
  const double R2 = 1.3 * 1.3 * 1.5; /* |centred point|^2 < (1.1 + 4 * 0.05 * sqrt 3)^2 here */
  double delta = 16.0 * FLT_EPSILON * R2, worst = 0.0;
  for (int c = 0; c < B; c++) {
    double tol = 2.0 * delta + 8.0 * FLT_EPSILON * want[c], err = fabs(y->x[c] - want[c]);
    worst = fmax(worst, err / tol);
    cr_expect(err <= tol, "B=%d N=%d M=%d offset %g: cloud %d: fast %.9g naive %.9g (tol %.2g)", B, N, M, offset, c,
              y->x[c], want[c], tol);
  }
  int off = 0, npts = B * (N + M);
  for (int side = 0; side < 2; side++) {
    const float *ref = side ? db : da, *got = p.t[side].g;
    long n = side ? (long)B * M : (long)B * N;
    for (long i = 0; i < n; i++) {
      int bad = 0;
      for (int k = 0; k < 3; k++)
        bad |= fabsf(got[3 * i + k] - ref[3 * i + k]) > 1e-4f * (fabsf(ref[3 * i + k]) + 2.0f / (side ? M : N));
      off += bad;
    }
  }
  cr_expect(off * 1000 <= 3 * npts, "B=%d N=%d M=%d: %d of %d point gradients differ", B, N, M, off, npts);
  cr_log_info("chamfer fast vs naive, B=%d N=%d M=%d offset %g: worst |diff| / tol %.2g, %d gradients differ", B, N,
              M, offset, worst, off);
  gs_graph_free(&g);
  gs_params_free(&p);
  free(a), free(b), free(da), free(db), free(want);
}
Test(chamfer, fast_matches_naive) {
  fast_vs_naive(3, 100, 37, 0.0f, 1);     /* N != M, tiles smaller than one block */
  fast_vs_naive(2, 300, 1500, 0.0f, 2);   /* several row tiles, two column tiles */
  fast_vs_naive(2, 2048, 2048, 0.0f, 3);  /* the study's size */
  fast_vs_naive(2, 700, 900, 100.0f, 4);  /* far from the origin: centring keeps the sgemm form exact enough */
}

Test(chamfer, self_is_zero) { /* two buffers with the same points, in another order */
  enum { N = 500 };
  gs_rng r;
  gs_rng_seed(&r, 9, 0, 0);
  static float a[3 * N], b[3 * N];
  sphere(&r, a, N);
  for (int i = 0; i < N; i++) memcpy(b + 3 * i, a + 3 * ((i * 7) % N), 3 * sizeof(float)); /* 7 is prime to 500 */
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, NULL, 0);
  gs_tensor *y = gs_chamfer(&g, gs_wrap2(&g, a, N, 3), gs_wrap2(&g, b, N, 3), 1, N, N);
  cr_expect(y->x[0] == 0.0f, "CD(a, perm a) = %g", y->x[0]);
  gs_graph_free(&g);
}

/* ---------------------------------------------------------------- EMD */
/* The exact solver against every permutation (7! = 5040) */
Test(emd, exact_matches_brute_force) {
  enum { N = 7 };
  gs_rng r;
  gs_rng_seed(&r, 10, 0, 0);
  for (int trial = 0; trial < 5; trial++) {
    float a[3 * N], b[3 * N];
    uniform(&r, a, 3 * N, -1, 1);
    uniform(&r, b, 3 * N, -1, 1);
    double C[N][N];
    for (int i = 0; i < N; i++)
      for (int j = 0; j < N; j++) {
        C[i][j] = 0.0;
        for (int k = 0; k < 3; k++) C[i][j] += ((double)a[3 * i + k] - b[3 * j + k]) * ((double)a[3 * i + k] - b[3 * j + k]);
      }
    int perm[N], c[N] = {0};
    for (int i = 0; i < N; i++) perm[i] = i;
    double best = 0.0;
    for (int i = 0; i < N; i++) best += C[i][i];
    for (int i = 0; i < N;) { /* Heap's algorithm */
      if (c[i] < i) {
        int j = i % 2 ? c[i] : 0, t = perm[j];
        perm[j] = perm[i], perm[i] = t;
        double s = 0.0;
        for (int k = 0; k < N; k++) s += C[k][perm[k]];
        best = s < best ? s : best;
        c[i]++, i = 0;
      } else c[i++] = 0;
    }
    int match[N], used[N] = {0};
    double got = gs_emd_exact(a, b, N, match), s = 0.0;
    for (int i = 0; i < N; i++) used[match[i]]++, s += C[i][match[i]];
    for (int j = 0; j < N; j++) cr_expect_eq(used[j], 1, "match is not a permutation");
    cr_expect(fabs(got - best / N) < 1e-12 && fabs(s / N - got) < 1e-12, "exact %.12g brute force %.12g", got, best / N);
  }
}

/* Sanity that holds whatever the estimate's error: the exact EMD is at least either half of the
 * Chamfer distance (a transport plan moves each point at least to its nearest neighbour), so
 * CD <= 2 EMD; the Sinkhorn plan has exact column sums, so its cost is at least the b -> a half
 * (to float rounding); a cloud against a permutation of itself has exact EMD 0. */
Test(emd, chamfer_consistent) {
  enum { N = 128 };
  gs_rng r;
  gs_rng_seed(&r, 12, 0, 0);
  static float a[3 * N], b[3 * N];
  for (int t = 0; t < 3; t++) {
    sphere(&r, a, N);
    if (t == 0) sphere(&r, b, N);
    else jitter(&r, a, b, N, t == 1 ? 0.1f : 0.01f);
    double ab, ba, ex = gs_emd_exact(a, b, N, NULL);
    double sk = gs_emd_sinkhorn_cloud(a, b, N, GS_EMD_EPS, GS_EMD_ITERS, NULL, NULL, NULL);
    chamfer_halves(a, b, N, N, &ab, &ba);
    cr_expect(ex >= ab - 1e-12 && ex >= ba - 1e-12, "exact %g < a->b %g or b->a %g", ex, ab, ba);
    cr_expect(sk >= ba * (1.0 - 1e-5), "sinkhorn %g < b->a %g", sk, ba);
  }
  for (int i = 0; i < N; i++) memcpy(b + 3 * i, a + 3 * ((i * 5) % N), 3 * sizeof(float));
  int match[N];
  cr_expect_eq(gs_emd_exact(a, b, N, match), 0.0);
  for (int i = 0; i < N; i++) cr_expect_eq((match[i] * 5) % N, i);
  cr_expect(gs_emd_sinkhorn_cloud(a, b, N, GS_EMD_EPS, GS_EMD_ITERS, NULL, NULL, NULL) < 1e-6);
}

/* The figures of pointcloud.h: relative error of the estimate at GS_EMD_EPS, GS_EMD_ITERS
 * against the exact assignment, on the unit sphere: a copy with noise 0.01 per coordinate, a copy
 * with noise of half the point spacing s = sqrt(4 pi / n), two independent samples. The header's
 * figures come from 40 (n = 64) and 20 (n = 256) pairs drawn this way; this runs the first 8 and
 * 4 of them, and the bounds are the header's ranges rounded up. */
Test(emd, sinkhorn_vs_exact) {
  const int ns[2] = {64, 256}, pairs[2] = {8, 4};
  const double bound[3] = {0.005, 0.04, 0.08};
  const char *what[3] = {"noise 0.01", "noise s/2", "independent"};
  for (int t = 0; t < 2; t++) {
    int n = ns[t];
    float *a = malloc(sizeof(float) * 3 * n), *b = malloc(sizeof(float) * 3 * n);
    for (int c = 0; c < 3; c++) {
      double mean = 0.0, lo = INFINITY, hi = -INFINITY;
      for (int k = 0; k < pairs[t]; k++) {
        gs_rng r;
        gs_rng_seed(&r, 11 + k, n, c);
        sphere(&r, a, n);
        if (c == 2) sphere(&r, b, n);
        else jitter(&r, a, b, n, c == 0 ? 0.01f : 0.5f * sqrtf(4.0f * 3.14159265f / n));
        double ex = gs_emd_exact(a, b, n, NULL);
        double sk = gs_emd_sinkhorn_cloud(a, b, n, GS_EMD_EPS, GS_EMD_ITERS, NULL, NULL, NULL);
        double rel = (sk - ex) / ex;
        mean += rel / pairs[t], lo = fmin(lo, rel), hi = fmax(hi, rel);
        cr_expect(fabs(rel) <= bound[c], "n=%d %s, pair %d: relative error %+.4f over %.3f", n, what[c], k, rel,
                  bound[c]);
      }
      cr_log_info("EMD n=%d %s: sinkhorn vs exact over %d pairs: mean %+.2f%%, from %+.2f%% to %+.2f%%", n, what[c],
                  pairs[t], 100.0 * mean, 100.0 * lo, 100.0 * hi);
    }
    free(a), free(b);
  }
}

/* ---------------------------------------------------------------- determinism */
static long run_both(const float *a, const float *b, int B, int N, int M, float *out, float *grad) {
  gs_params p = {0};
  int sa[2] = {B * N, 3}, sb[2] = {B * M, 3};
  gs_params_declare(&p, "a", 2, sa);
  gs_params_declare(&p, "b", 2, sb);
  gs_params_alloc(&p);
  memcpy(p.t[0].x, a, sizeof(float) * 3 * B * N);
  memcpy(p.t[1].x, b, sizeof(float) * 3 * B * M);
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *cd = gs_chamfer(&g, &p.t[0], &p.t[1], B, N, M);
  /* the EMD on the first min(N, M) points of each side's first clouds, re-viewed as B clouds */
  int K = N < M ? N : M;
  gs_tensor *ea = gs_slice_cols(&g, gs_reshape(&g, &p.t[0], 2, (int[]){B, 3 * N}), 0, 3 * K);
  gs_tensor *eb = gs_slice_cols(&g, gs_reshape(&g, &p.t[1], 2, (int[]){B, 3 * M}), 0, 3 * K);
  ea = gs_reshape(&g, ea, 2, (int[]){B * K, 3});
  eb = gs_reshape(&g, eb, 2, (int[]){B * K, 3});
  gs_tensor *emd = gs_emd_sinkhorn(&g, ea, eb, B, K, GS_EMD_EPS, 30);
  gs_backward(&g, gs_add(&g, gs_sum(&g, cd), gs_sum(&g, emd)), 1.0f);
  memcpy(out, cd->x, sizeof(float) * B);
  memcpy(out + B, emd->x, sizeof(float) * B);
  long total = p.total;
  memcpy(grad, p.grad, sizeof(float) * total);
  gs_graph_free(&g);
  gs_params_free(&p);
  return total;
}
Test(pointcloud, same_bits_twice) {
  enum { B = 3, N = 200, M = 150 };
  gs_rng r;
  gs_rng_seed(&r, 13, 0, 0);
  static float a[3 * B * N], b[3 * B * M], o1[2 * B], o2[2 * B], g1[3 * B * (N + M) + 64], g2[3 * B * (N + M) + 64];
  sphere(&r, a, B * N);
  sphere(&r, b, B * M);
  long n = run_both(a, b, B, N, M, o1, g1);
  run_both(a, b, B, N, M, o2, g2);
  cr_expect(memcmp(o1, o2, sizeof o1) == 0, "values differ between two runs");
  cr_expect(memcmp(g1, g2, sizeof(float) * n) == 0, "gradients differ between two runs");
}

/* ---------------------------------------------------------------- critical points */
/* gs_max_segments on ragged segments (1 to 60 rows) against a plain loop: values, and the
 * gradient of sum(w * y) at the first row holding each max (ties planted in segment 0) */
Test(max_segments, ragged_against_a_plain_loop) {
  enum { B = 4, F = 7 };
  const int32_t start[B + 1] = {0, 40, 41, 101, 120};
  gs_params p = {0};
  int sh[2] = {120, F};
  gs_params_declare(&p, "x", 2, sh);
  gs_params_alloc(&p);
  gs_rng r;
  gs_rng_seed(&r, 5, 0, 0);
  uniform(&r, p.data, 120 * F, -1, 1);
  for (int k = 0; k < F; k++) p.data[5 * F + k] = p.data[9 * F + k] = 2.0f; /* a tie in segment 0 */
  float w[B * F], want_g[120 * F] = {0};
  for (int k = 0; k < B * F; k++) w[k] = (float)(k + 1);
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *y = gs_max_segments(&g, &p.t[0], B, start);
  for (int b = 0; b < B; b++)
    for (int f = 0; f < F; f++) {
      int best = start[b];
      for (int n = start[b] + 1; n < start[b + 1]; n++)
        if (p.data[n * F + f] > p.data[best * F + f]) best = n;
      cr_expect_eq(y->x[b * F + f], p.data[best * F + f], "segment %d feature %d", b, f);
      want_g[best * F + f] += w[b * F + f];
    }
  gs_backward(&g, gs_sum(&g, gs_mul(&g, y, gs_wrap2(&g, w, B, F))), 1.0f);
  cr_expect(memcmp(p.grad, want_g, sizeof want_g) == 0, "gradients differ from the plain loop");
  cr_expect(p.grad[5 * F] != 0.0f && p.grad[9 * F] == 0.0f, "the tie goes to the first row");
  gs_graph_free(&g);
  gs_params_free(&p);
}

/* The critical points of a small PointNet (3-8-12 ReLU, heads 12 -> 5 and 12 -> 4, the last layer
 * pooled too) against the dense taped forward (gs_dense_relu, gs_dense, a plain loop for each
 * max): every max has a point in the set holding it, and every point in the set holds one. Both to
 * within rounding: sgemm may round a row differently in a call of another size, so a near-tie can
 * go either way (nn/pointcloud.h). Then the encoder run on those rows alone (gs_max_segments
 * pooling them) gives the dense pooled values and weight gradient, to rounding. N = 300: 6 clouds
 * a chunk, so 9 take two; N = 2100: a cloud a chunk, above the chunk's 2048 rows. */
static void check_critical(int B, int N, int seed) {
  enum { E1 = 8, E2 = 12, Z1 = 5, Z2 = 4, POOLED = E2 + Z1 + Z2 };
  gs_params p = {0};
  int s1[2] = {3, E1}, s2[2] = {E1, E2}, s3[2] = {E2, Z1}, s4[2] = {E2, Z2};
  int b1 = E1, b2 = E2, b3 = Z1, b4 = Z2;
  gs_params_declare(&p, "w1", 2, s1), gs_params_declare(&p, "b1", 1, &b1);
  gs_params_declare(&p, "w2", 2, s2), gs_params_declare(&p, "b2", 1, &b2);
  gs_params_declare(&p, "h1", 2, s3), gs_params_declare(&p, "c1", 1, &b3);
  gs_params_declare(&p, "h2", 2, s4), gs_params_declare(&p, "c2", 1, &b4);
  gs_params_alloc(&p);
  gs_rng r;
  gs_rng_seed(&r, (uint64_t)seed, 0, 0);
  uniform(&r, p.data, p.total, -1, 1);
  float *x = malloc(sizeof(float) * 3 * B * N);
  for (int b = 0; b < B; b++) sphere(&r, x + 3L * b * N, N);
  gs_tensor *w[2] = {&p.t[0], &p.t[2]}, *bias[2] = {&p.t[1], &p.t[3]};
  gs_tensor *hw[2] = {&p.t[4], &p.t[6]}, *hb[2] = {&p.t[5], &p.t[7]};
  gs_point_net net = {.layers = 2, .w = w, .b = bias, .heads = 2, .hw = hw, .hb = hb, .pool_last = 1};
  gs_graph g;
  gs_graph_init(&g, 1 << 22);

  /* the dense taped forward; each max and, per point, whether it holds one to within rounding */
  float *dense_val = malloc(sizeof(float) * B * POOLED), *dense_grad = malloc(sizeof(float) * p.total);
  unsigned char *holds = calloc((size_t)B * N, 1);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *h = gs_dense_relu(&g, gs_dense_relu(&g, gs_wrap2(&g, x, B * N, 3), w[0], bias[0]), w[1], bias[1]);
  gs_tensor *pooled[3] = {h, gs_dense(&g, h, hw[0], hb[0]), gs_dense(&g, h, hw[1], hb[1])};
  gs_tensor *loss = NULL;
  int off = 0;
  for (int t = 0; t < 3; t++) {
    int F = pooled[t]->shape[1];
    gs_tensor *y = gs_max_points(&g, pooled[t], B, N);
    for (int b = 0; b < B; b++)
      for (int f = 0; f < F; f++) {
        float mx = -INFINITY;
        for (int n = 0; n < N; n++) mx = fmaxf(mx, pooled[t]->x[((long)b * N + n) * F + f]);
        cr_expect_eq(y->x[b * F + f], mx);
        for (int n = 0; n < N; n++)
          if (pooled[t]->x[((long)b * N + n) * F + f] >= mx - 1e-5f * fmaxf(1.0f, fabsf(mx))) holds[b * N + n] = 1;
      }
    memcpy(dense_val + off, y->x, sizeof(float) * y->n);
    off += (int)y->n;
    gs_tensor *term = gs_sum(&g, gs_mul(&g, y, y)); /* a loss whose gradient depends on the values */
    loss = loss ? gs_add(&g, loss, term) : term;
  }
  gs_backward(&g, loss, 1.0f);
  memcpy(dense_grad, p.grad, sizeof(float) * p.total);

  /* the critical points: in their clouds' segments, in order, each holding a max */
  gs_graph_begin(&g, &p, 1);
  int32_t *rows, *start;
  long n = gs_critical_points(&g, &net, x, B, N, &rows, &start);
  cr_expect_lt(n, (long)B * N / 4, "%ld critical points of %d", n, B * N);
  cr_expect_geq(n, B, "%ld critical points", n);
  cr_expect_eq(start[0], 0);
  cr_expect_eq(start[B], n);
  for (int b = 0; b < B; b++)
    for (int32_t i = start[b]; i < start[b + 1]; i++) {
      cr_expect(rows[i] / N == b, "row %d in cloud %d's segment", rows[i], b);
      cr_expect(holds[rows[i]], "row %d holds no max", rows[i]);
      if (i > start[b]) cr_expect_gt(rows[i], rows[i - 1]);
    }

  /* the encoder on those rows: every max found there (so no max is without its point) */
  float *sub = malloc(sizeof(float) * 3 * (n > 0 ? n : 1));
  for (long i = 0; i < n; i++) memcpy(sub + 3 * i, x + 3L * rows[i], sizeof(float) * 3);
  h = gs_dense_relu(&g, gs_dense_relu(&g, gs_wrap2(&g, sub, (int)n, 3), w[0], bias[0]), w[1], bias[1]);
  gs_tensor *pooled2[3] = {h, gs_dense(&g, h, hw[0], hb[0]), gs_dense(&g, h, hw[1], hb[1])};
  loss = NULL;
  off = 0;
  for (int t = 0; t < 3; t++) {
    gs_tensor *y = gs_max_segments(&g, pooled2[t], B, start);
    for (long k = 0; k < y->n; k++)
      cr_expect(fabsf(y->x[k] - dense_val[off + k]) <= 1e-5f * fmaxf(1.0f, fabsf(dense_val[off + k])),
                "pool %d value %ld: %g against %g", t, k, y->x[k], dense_val[off + k]);
    off += (int)y->n;
    gs_tensor *term = gs_sum(&g, gs_mul(&g, y, y));
    loss = loss ? gs_add(&g, loss, term) : term;
  }
  gs_backward(&g, loss, 1.0f);
  double gmax = 0, dmax = 0;
  for (long k = 0; k < p.total; k++) gmax = fmax(gmax, fabs(dense_grad[k])), dmax = fmax(dmax, fabs(p.grad[k] - dense_grad[k]));
  cr_expect_gt(gmax, 0.1);
  cr_expect_leq(dmax, 1e-5 * gmax, "N = %d: sparse and dense gradients differ by %g (largest %g)", N, dmax, gmax);
  free(sub), free(x), free(holds), free(dense_val), free(dense_grad);
  gs_graph_free(&g);
  gs_params_free(&p);
}
Test(critical, points_hold_the_maxima_and_give_the_dense_gradient) {
  check_critical(9, 300, 21);
  check_critical(2, 2100, 22);
}
