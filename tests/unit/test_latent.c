/* nn/latent.h: the ops of the mixture-prior and Beta-latent point-cloud models.
 *   - digamma, trigamma at known values;
 *   - S(a, b) = -E[log(1 - z)], z ~ Kumaraswamy(a, b), against its closed forms at a = 1 (1/b)
 *     and b = 1 (psi(1 + a) + gamma) to 1e-5 (the tail drops O(m^-2) of its terms: ~2e-6 of S at
 *     b = 0.05), over the range the models use, and its derivatives
 *     against central differences;
 *   - the KL to a Beta prior: 0 for uniform against uniform, against a Monte Carlo estimate
 *     of E_q[log q - log p] (Kumaraswamy draws), never negative;
 *   - every op's gradient against finite differences (log softmax, Kumaraswamy sample, KL);
 *   - Beta draws: means, and the U shape of Beta(0.01, 0.01). */
#include <criterion/criterion.h>
#include <math.h>

#include "gensweep/nn/latent.h"
#include "gensweep/nn/ops.h"

#define EULER 0.57721566490153286061

Test(latent, digamma_trigamma) {
  cr_assert(fabs(gs_digamma(1.0) + EULER) < 1e-12);
  cr_assert(fabs(gs_digamma(0.5) + EULER + 2 * log(2.0)) < 1e-12);
  cr_assert(fabs(gs_digamma(0.01) - (gs_digamma(1.01) - 100.0)) < 1e-10);
  cr_assert(fabs(gs_digamma(50.0) - 3.9019896734278921) < 1e-12);
  cr_assert(fabs(gs_trigamma(1.0) - M_PI * M_PI / 6) < 1e-12);
  cr_assert(fabs(gs_trigamma(0.5) - M_PI * M_PI / 2) < 1e-12);
}

Test(latent, series_closed_forms) {
  const double as[] = {0.007, 0.05, 0.5, 1, 3.37, 23.17, 137.13}; /* M = ceil(2 a (1 + b)) stays put under the differences */
  const double bs[] = {0.007, 0.05, 0.3, 1, 4, 139.7};
  for (int i = 0; i < 6; i++) { /* a = 1: z ~ Beta(1, b), E[log(1 - z)] = psi(b) - psi(1 + b) = -1/b */
    double s = gs_kumaraswamy_series(1.0, bs[i], NULL, NULL);
    cr_assert(fabs(s - 1 / bs[i]) <= 1e-5 * (1 / bs[i]), "a = 1, b = %g: S = %.12g, want %.12g", bs[i], s, 1 / bs[i]);
  }
  for (int i = 0; i < 7; i++) { /* b = 1: z^a ~ U(0, 1), S = a sum_m 1/(m (m + a)) = psi(1 + a) + gamma */
    double s = gs_kumaraswamy_series(as[i], 1.0, NULL, NULL), want = gs_digamma(1 + as[i]) + EULER;
    cr_assert(fabs(s - want) <= 1e-5 * want, "a = %g, b = 1: S = %.12g, want %.12g", as[i], s, want);
  }
  for (int i = 0; i < 7; i++)
    for (int j = 0; j < 6; j++) { /* the derivatives against central differences (h = 1e-6 relative) */
      double a = as[i], b = bs[j], da, db;
      gs_kumaraswamy_series(a, b, &da, &db);
      double ha = 1e-6 * a, hb = 1e-6 * b;
      double fa = (gs_kumaraswamy_series(a + ha, b, NULL, NULL) - gs_kumaraswamy_series(a - ha, b, NULL, NULL)) / (2 * ha);
      double fb = (gs_kumaraswamy_series(a, b + hb, NULL, NULL) - gs_kumaraswamy_series(a, b - hb, NULL, NULL)) / (2 * hb);
      cr_assert(fabs(da - fa) <= 1e-5 * fabs(fa) + 1e-9, "a %g b %g: dS/da %.10g, differences %.10g", a, b, da, fa);
      cr_assert(fabs(db - fb) <= 1e-5 * fabs(fb) + 1e-9, "a %g b %g: dS/db %.10g, differences %.10g", a, b, db, fb);
    }
}

static double kl_of(double a, double b, double alpha, double beta) {
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, NULL, 0);
  float av = (float)a, bv = (float)b;
  double kl = gs_kl_kumaraswamy_beta(&g, gs_wrap2(&g, &av, 1, 1), gs_wrap2(&g, &bv, 1, 1), alpha, beta)->x[0];
  gs_graph_free(&g);
  return kl;
}

Test(latent, kl_against_monte_carlo) {
  cr_assert(fabs(kl_of(1, 1, 1, 1)) < 1e-6, "uniform against uniform: %g", kl_of(1, 1, 1, 1));
  /* E_q[log q(z) - log p(z)] from 400,000 draws z = (1 - u^(1/b))^(1/a), log(1 - z) in a stable form */
  const double cases[][4] = {{0.5, 2, 0.01, 0.01}, {3, 0.2, 0.01, 0.01}, {1.5, 1.5, 2, 5}, {0.1, 0.1, 0.01, 0.01}};
  gs_rng r;
  gs_rng_seed(&r, 5, 0, GS_RNG_NOISE);
  for (int c = 0; c < 4; c++) {
    double a = cases[c][0], b = cases[c][1], al = cases[c][2], be = cases[c][3];
    double lbf = lgamma(al) + lgamma(be) - lgamma(al + be), sum = 0, sq = 0;
    const int n = 400000;
    for (int i = 0; i < n; i++) {
      double lu = log(1.0 - gs_rng_uniform(&r)), v = lu / b; /* log u^(1/b) */
      double lw = v > -M_LN2 ? log(-expm1(v)) : log1p(-exp(v));  /* log(1 - u^(1/b)) = log z^a */
      double lz = lw / a, l1z = log(-expm1(lz));
      double lq = log(a * b) + (a - 1) * lz + (b - 1) * (lu / b);
      double lp = (al - 1) * lz + (be - 1) * l1z - lbf;
      sum += lq - lp, sq += (lq - lp) * (lq - lp);
    }
    double mean = sum / n, se = sqrt((sq / n - mean * mean) / n), kl = kl_of(a, b, al, be);
    cr_assert(kl >= 0, "KL %g", kl);
    cr_assert(fabs(kl - mean) < 4 * se + 1e-4 * fabs(kl), "a %g b %g prior (%g, %g): KL %.6g, Monte Carlo %.6g +- %.2g", a, b,
              al, be, kl, mean, se);
  }
}

/* d(sum_k w_k f_k)/dp against central differences, element by element, for an op f of two
 * (B, Z) inputs (the second may be NULL) */
typedef gs_tensor *(*op2)(gs_graph *g, gs_tensor *x, gs_tensor *y, const void *ctx);

static void check_op(const char *name, op2 f, float *x, float *y, int B, int Z, const void *ctx, double h, double tol) {
  gs_graph g;
  gs_graph_init(&g, 1 << 20);
  int n = B * Z;
  float *gx = malloc(sizeof(float) * n), *gy = malloc(sizeof(float) * n);
  /* analytic */
  gs_graph_begin(&g, NULL, 1);
  gs_tensor *tx = gs_new2(&g, B, Z, 1), *ty = y ? gs_new2(&g, B, Z, 1) : NULL;
  memcpy(tx->x, x, sizeof(float) * n);
  if (ty) memcpy(ty->x, y, sizeof(float) * n);
  gs_tensor *out = f(&g, tx, ty, ctx);
  float *w = malloc(sizeof(float) * out->n);
  for (long k = 0; k < out->n; k++) w[k] = (float)(0.3 + 0.7 * ((k * 7919) % 13) / 13.0);
  gs_tensor *loss = gs_sum(&g, gs_mul(&g, out, gs_wrap(&g, w, out->ndim, out->shape)));
  gs_backward(&g, loss, 1.0f);
  memcpy(gx, tx->g, sizeof(float) * n);
  if (ty) memcpy(gy, ty->g, sizeof(float) * n);
  /* differences */
  for (int which = 0; which < (y ? 2 : 1); which++) {
    float *v = which ? y : x, *an = which ? gy : gx;
    for (int k = 0; k < n; k++) {
      float keep = v[k];
      double lv[2];
      for (int s = 0; s < 2; s++) {
        v[k] = (float)(keep + (s ? -h : h) * fabs(keep));
        gs_graph_begin(&g, NULL, 0);
        gs_tensor *o = f(&g, gs_wrap2(&g, x, B, Z), y ? gs_wrap2(&g, y, B, Z) : NULL, ctx);
        double t = 0;
        for (long q = 0; q < o->n; q++) t += (double)w[q] * o->x[q];
        lv[s] = t;
      }
      double step = (double)(float)(keep + h * fabs(keep)) - (double)(float)(keep - h * fabs(keep));
      v[k] = keep;
      double fd = (lv[0] - lv[1]) / step;
      cr_assert(fabs(fd - an[k]) <= tol * (fabs(fd) + fabs(an[k])) + 1e-4, "%s: d/d%s[%d] = %g, differences %g", name,
                which ? "y" : "x", k, an[k], fd);
    }
  }
  free(w), free(gx), free(gy);
  gs_graph_free(&g);
}

static gs_tensor *f_log_softmax(gs_graph *g, gs_tensor *x, gs_tensor *y, const void *c) { (void)y, (void)c; return gs_log_softmax(g, x); }
static gs_tensor *f_kumaraswamy(gs_graph *g, gs_tensor *a, gs_tensor *b, const void *u) { return gs_kumaraswamy_sample(g, a, b, u); }
static gs_tensor *f_kl(gs_graph *g, gs_tensor *a, gs_tensor *b, const void *prior) {
  const double *p = prior;
  return gs_kl_kumaraswamy_beta(g, a, b, p[0], p[1]);
}

Test(latent, gradients_match_finite_differences) {
  enum { B = 3, Z = 5 };
  float l[B * Z], a[B * Z], b[B * Z], u[B * Z];
  gs_rng r;
  gs_rng_seed(&r, 9, 0, GS_RNG_NOISE);
  for (int k = 0; k < B * Z; k++) {
    l[k] = 3 * gs_rng_normal(&r);
    a[k] = (float)exp(1.5 * gs_rng_normal(&r)); /* 0.05 .. 20 */
    b[k] = (float)exp(1.5 * gs_rng_normal(&r));
    u[k] = 1.0f - gs_rng_uniformf(&r);
  }
  check_op("log_softmax", f_log_softmax, l, NULL, B, Z, NULL, 1e-3, 2e-3);
  check_op("kumaraswamy_sample", f_kumaraswamy, a, b, B, Z, u, 1e-3, 2e-3);
  const double priors[][2] = {{0.01, 0.01}, {2, 0.5}};
  for (int p = 0; p < 2; p++) check_op("kl_kumaraswamy_beta", f_kl, a, b, B, Z, priors[p], 1e-3, 2e-3);
}

Test(latent, beta_draws) {
  gs_rng r;
  gs_rng_seed(&r, 3, 0, GS_RNG_SAMPLE);
  const int n = 100000;
  double m = 0, edge = 0, m2 = 0;
  for (int i = 0; i < n; i++) {
    double z = gs_rng_beta(&r, 2, 3);
    cr_assert(z > 0 && z < 1);
    m += z / n;
    double y = gs_rng_beta(&r, 0.01, 0.01);
    cr_assert(y >= 0 && y <= 1);
    m2 += y / n;
    edge += (y < 0.01 || y > 0.99) / (double)n;
  }
  cr_assert(fabs(m - 0.4) < 0.005, "Beta(2, 3) mean %g", m);
  cr_assert(fabs(m2 - 0.5) < 0.01, "Beta(0.01, 0.01) mean %g", m2);
  /* P(z < 0.01 or z > 0.99) = 2 I_0.01(0.01, 0.01) ~ 0.955 */
  cr_assert(edge > 0.94 && edge < 0.97, "Beta(0.01, 0.01) within 0.01 of an end: %g", edge);
  cr_assert(fabs(gs_kumaraswamy_mean(1, 1) - 0.5) < 1e-12);
  cr_assert(fabs(gs_kumaraswamy_mean(2, 1) - 2.0 / 3) < 1e-12); /* z = sqrt(U) */
}
