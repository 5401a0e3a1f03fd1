/* Sample-quality numerics (src/nn/quality.c): moments against the naive twin, the Frechet distance
 * against SciPy (golden values from gen_frechet_golden.py) and its closed forms, class statistics
 * on hand-computed histograms. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frechet_golden.h"
#include "gensweep/core/rng.h"
#include "gensweep/nn/quality.h"

static double rel_diff(double got, double want) { return fabs(got - want) / fmax(fabs(want), 1e-300); }

static double trace(const double *s, int d) {
  double t = 0;
  for (int j = 0; j < d; j++) t += s[j * d + j];
  return t;
}

static double frechet(const double *mu1, const double *s1, const double *mu2, const double *s2, int d) {
  gs_error err = {0};
  double fd = NAN;
  cr_assert_eq(gs_frechet_distance(mu1, s1, mu2, s2, d, &fd, &err), 0, "%s", err.msg);
  return fd;
}

/* ---------------------------------------------------------------- moments */

/* X (n, d): correlated columns far from 0 (mean ~1000, sd ~1), where a one-pass sum of squares
 * would lose about 12 of its 16 digits */
static float *offset_data(long n, int d, uint64_t seed) {
  gs_rng r;
  gs_rng_seed(&r, seed, 0, 0);
  float *X = malloc(sizeof(float) * n * d);
  for (long i = 0; i < n; i++) {
    float common = gs_rng_normal(&r);
    for (int j = 0; j < d; j++) X[i * d + j] = 1000.0f + 3.0f * j + 0.5f * common + gs_rng_normal(&r);
  }
  return X;
}

Test(moments, hand_computed) {
  const float X[] = {1, 2, 3, 4, 5, 9}; /* rows (1,2) (3,4) (5,9): mean (3,5), cov [[4,7],[7,13]] */
  double mean[2], cov[4], mean_n[2], cov_n[4];
  gs_feature_moments(X, 3, 2, mean, cov);
  gs_feature_moments_naive(X, 3, 2, mean_n, cov_n);
  const double want_mean[] = {3, 5}, want_cov[] = {4, 7, 7, 13};
  for (int i = 0; i < 2; i++) {
    cr_expect_float_eq(mean[i], want_mean[i], 1e-15);
    cr_expect_float_eq(mean_n[i], want_mean[i], 1e-15);
  }
  for (int i = 0; i < 4; i++) {
    cr_expect_float_eq(cov[i], want_cov[i], 1e-14, "cov[%d] = %.17g", i, cov[i]);
    cr_expect_float_eq(cov_n[i], want_cov[i], 1e-14, "naive cov[%d] = %.17g", i, cov_n[i]);
  }
}

Test(moments, fast_matches_naive) {
  /* d = 100: 1310 rows per chunk, so n = 3000 is two full chunks and a partial one */
  const long ns[] = {3000, 7, 2};
  const int ds[] = {100, 5, 1};
  for (int c = 0; c < 3; c++) {
    long n = ns[c];
    int d = ds[c];
    float *X = offset_data(n, d, 11 + c);
    double *mean = malloc(sizeof(double) * d), *cov = malloc(sizeof(double) * d * d);
    double *mean_n = malloc(sizeof(double) * d), *cov_n = malloc(sizeof(double) * d * d);
    gs_feature_moments(X, n, d, mean, cov);
    gs_feature_moments_naive(X, n, d, mean_n, cov_n);
    double worst_mean = 0, worst_cov = 0, scale = 0;
    for (int j = 0; j < d; j++) {
      worst_mean = fmax(worst_mean, rel_diff(mean[j], mean_n[j]));
      scale = fmax(scale, cov_n[j * d + j]);
    }
    for (long i = 0; i < (long)d * d; i++) worst_cov = fmax(worst_cov, fabs(cov[i] - cov_n[i]));
    for (int j = 0; j < d; j++) /* exactly symmetric: consumers may read either triangle */
      for (int k = 0; k < d; k++) cr_assert_eq(cov[j * d + k], cov[k * d + j]);
    cr_expect(worst_mean <= 1e-14, "n=%ld d=%d: mean differs by %.3g (relative)", n, d, worst_mean);
    cr_expect(worst_cov <= 1e-12 * scale, "n=%ld d=%d: cov differs by %.3g (largest variance %.3g)", n, d,
              worst_cov, scale);
    free(X);
    free(mean);
    free(cov);
    free(mean_n);
    free(cov_n);
  }
}

Test(moments, too_few_rows_give_nan) {
  const float X[] = {1, 2};
  double mean[2], cov[4];
  gs_feature_moments(X, 1, 2, mean, cov);
  cr_expect_float_eq(mean[1], 2.0, 0);
  for (int i = 0; i < 4; i++) cr_expect(isnan(cov[i]));
  gs_feature_moments(X, 0, 2, mean, cov);
  cr_expect(isnan(mean[0]) && isnan(cov[0]));
  /* and a Frechet distance of it fails instead of returning a number */
  double fd;
  gs_error err = {0};
  cr_expect_eq(gs_frechet_distance(mean, cov, mean, cov, 2, &fd, &err), -1);
}

/* ---------------------------------------------------------------- Frechet distance */

typedef struct golden_case {
  const char *name;
  int d;
  const double *mu1, *s1, *mu2, *s2;
  double frechet;
  double tolerance; /* relative */
} golden_case;

/* d64: a distance of 0.88 between traces of 66 loses two digits to cancellation.
 * rank8: s1 (G G^T, rounded) has 24 eigenvalues of rounding size (+-1e-15); sqrtm takes their
 * square roots and lands 7.5e-7 (8.7e-9 relative) off the value from the 8 x 8 factor problem
 * G^T s2 G, which the floor on eigenvalues in quality.c reproduces (checked separately below). */
static const golden_case golden[] = {
    {"d2", G_D2_D, G_D2_MU1, G_D2_S1, G_D2_MU2, G_D2_S2, G_D2_FRECHET, 1e-12},
    {"d5", G_D5_D, G_D5_MU1, G_D5_S1, G_D5_MU2, G_D5_S2, G_D5_FRECHET, 1e-12},
    {"d64", G_D64_D, G_D64_MU1, G_D64_S1, G_D64_MU2, G_D64_S2, G_D64_FRECHET, 1e-9},
    {"rank8", G_RANK8_D, G_RANK8_MU1, G_RANK8_S1, G_RANK8_MU2, G_RANK8_S2, G_RANK8_FRECHET, 2e-8},
};
#define NGOLDEN ((int)(sizeof golden / sizeof golden[0]))

Test(frechet, matches_scipy) {
  for (int c = 0; c < NGOLDEN; c++) {
    const golden_case *g = &golden[c];
    double fd = frechet(g->mu1, g->s1, g->mu2, g->s2, g->d);
    double rel = rel_diff(fd, g->frechet);
    fprintf(stderr, "frechet %-5s d=%2d: %.17g vs scipy %.17g, relative difference %.3g\n", g->name, g->d, fd,
            g->frechet, rel);
    cr_expect(rel <= g->tolerance, "%s: %.17g vs scipy %.17g (relative %.3g)", g->name, fd, g->frechet, rel);
  }
}

Test(frechet, rank_deficient_matches_factor) {
  double fd = frechet(G_RANK8_MU1, G_RANK8_S1, G_RANK8_MU2, G_RANK8_S2, G_RANK8_D);
  double rel = rel_diff(fd, G_RANK8_FRECHET_FACTOR);
  fprintf(stderr, "frechet rank8 d=32: %.17g vs factor route %.17g, relative difference %.3g\n", fd,
          G_RANK8_FRECHET_FACTOR, rel);
  cr_expect(rel <= 1e-12, "%.17g vs %.17g from G^T s2 G (relative %.3g)", fd, G_RANK8_FRECHET_FACTOR, rel);
}

Test(frechet, to_itself_is_zero) {
  for (int c = 0; c < NGOLDEN; c++) {
    const golden_case *g = &golden[c];
    const double *mu[] = {g->mu1, g->mu2}, *s[] = {g->s1, g->s2};
    for (int k = 0; k < 2; k++) {
      double fd = frechet(mu[k], s[k], mu[k], s[k], g->d), tr = trace(s[k], g->d);
      cr_expect(fabs(fd) <= 1e-9 * tr, "%s, gaussian %d to itself: %.3g (trace %.6g)", g->name, k + 1, fd, tr);
    }
  }
}

Test(frechet, symmetric) {
  for (int c = 0; c < NGOLDEN; c++) {
    const golden_case *g = &golden[c];
    double ab = frechet(g->mu1, g->s1, g->mu2, g->s2, g->d), ba = frechet(g->mu2, g->s2, g->mu1, g->s1, g->d);
    cr_expect(fabs(ab - ba) <= g->tolerance * fabs(ab), "%s: d(1,2) = %.17g, d(2,1) = %.17g", g->name, ab, ba);
  }
}

/* Diagonal covariances commute: d^2 = |mu1 - mu2|^2 + sum_j (sqrt a_j - sqrt b_j)^2 */
Test(frechet, diagonal_closed_form) {
  const int ds[] = {1, 3, 40};
  for (int c = 0; c < 3; c++) {
    int d = ds[c];
    double *mu1 = calloc(d, sizeof(double)), *mu2 = calloc(d, sizeof(double));
    double *s1 = calloc((size_t)d * d, sizeof(double)), *s2 = calloc((size_t)d * d, sizeof(double));
    double want = 0;
    for (int j = 0; j < d; j++) {
      double a = 0.5 + j, b = j % 3 == 0 ? 0.0 : 4.0 / (1 + j); /* b = 0 in every third: rank-deficient */
      s1[j * d + j] = a;
      s2[j * d + j] = b;
      mu1[j] = 0.1 * j;
      mu2[j] = -0.2 * j + 1.0;
      want += (mu1[j] - mu2[j]) * (mu1[j] - mu2[j]) + (sqrt(a) - sqrt(b)) * (sqrt(a) - sqrt(b));
    }
    double fd = frechet(mu1, s1, mu2, s2, d);
    cr_expect(rel_diff(fd, want) <= 1e-12, "d=%d: %.17g vs closed form %.17g", d, fd, want);
    free(mu1);
    free(mu2);
    free(s1);
    free(s2);
  }
}

/* A rotation of both covariances (same orthogonal Q) changes nothing: the diagonal case, rotated */
Test(frechet, rotated_diagonal) {
  enum { D = 4 };
  /* Q = a Householder reflection I - 2 v v^T / |v|^2 with v = (1, 2, 3, 4) */
  double v[D] = {1, 2, 3, 4}, vv = 30, Q[D * D], a[D] = {1, 2, 3, 4}, b[D] = {4, 0.25, 1, 9};
  double s1[D * D] = {0}, s2[D * D] = {0}, mu[D] = {0};
  for (int i = 0; i < D; i++)
    for (int j = 0; j < D; j++) Q[i * D + j] = (i == j) - 2 * v[i] * v[j] / vv;
  double want = 0;
  for (int k = 0; k < D; k++) {
    want += (sqrt(a[k]) - sqrt(b[k])) * (sqrt(a[k]) - sqrt(b[k]));
    for (int i = 0; i < D; i++)
      for (int j = 0; j < D; j++) {
        s1[i * D + j] += Q[i * D + k] * a[k] * Q[j * D + k];
        s2[i * D + j] += Q[i * D + k] * b[k] * Q[j * D + k];
      }
  }
  double fd = frechet(mu, s1, mu, s2, D);
  cr_expect(fabs(fd - want) <= 1e-12 * (trace(s1, D) + trace(s2, D)), "%.17g vs %.17g", fd, want);
}

Test(frechet, rejects_non_finite_and_bad_dimension) {
  double mu[2] = {0, 0}, s[4] = {1, 0, 0, 1}, bad_s[4] = {1, 0, 0, NAN}, bad_mu[2] = {INFINITY, 0}, fd = 123;
  gs_error err = {0};
  cr_expect_eq(gs_frechet_distance(mu, s, mu, bad_s, 2, &fd, &err), -1);
  cr_expect(strstr(err.msg, "s2[3]") != NULL, "message does not name the entry: %s", err.msg);
  gs_error_clear(&err);
  cr_expect_eq(gs_frechet_distance(mu, bad_s, mu, s, 2, &fd, &err), -1);
  cr_expect(strstr(err.msg, "s1[3]") != NULL, "%s", err.msg);
  gs_error_clear(&err);
  cr_expect_eq(gs_frechet_distance(bad_mu, s, mu, s, 2, &fd, &err), -1);
  cr_expect(strstr(err.msg, "mu1[0]") != NULL, "%s", err.msg);
  gs_error_clear(&err);
  cr_expect_eq(gs_frechet_distance(mu, s, mu, s, 0, &fd, &err), -1);
  cr_expect(err.msg[0] != '\0');
  cr_expect_eq(fd, 123, "the output must be left alone on failure");
  cr_expect_eq(gs_frechet_distance(mu, s, mu, s, 2, &fd, NULL), 0, "err may be NULL");
}

/* From samples: two draws of one distribution are close, a shifted one is |shift|^2 away */
Test(frechet, from_sample_moments) {
  enum { N = 20000, D = 8 };
  float *a = offset_data(N, D, 1), *b = offset_data(N, D, 2);
  double mu_a[D], mu_b[D], s_a[D * D], s_b[D * D];
  gs_feature_moments(a, N, D, mu_a, s_a);
  gs_feature_moments(b, N, D, mu_b, s_b);
  double same = frechet(mu_a, s_a, mu_b, s_b, D);
  cr_expect(same >= 0 && same < 0.01, "two samples of one distribution: %g", same);
  for (long i = 0; i < (long)N * D; i++) b[i] += 0.5f;
  gs_feature_moments(b, N, D, mu_b, s_b);
  double shifted = frechet(mu_a, s_a, mu_b, s_b, D);
  cr_expect(fabs(shifted - D * 0.25) < 0.05, "shifted by 0.5 in %d dimensions: %g (want ~%g)", D, shifted, D * 0.25);
  free(a);
  free(b);
}

/* ---------------------------------------------------------------- class statistics */

/* n rows, C classes; row i puts `top` on class cls(i) and spreads the rest evenly */
static float *rows_with_top(long n, int C, float top, int (*cls)(long)) {
  float *P = malloc(sizeof(float) * n * C);
  for (long i = 0; i < n; i++)
    for (int k = 0; k < C; k++) P[i * C + k] = k == cls(i) ? top : (1.0f - top) / (C - 1);
  return P;
}
static int round_robin(long i) { return (int)(i % 10); }
static int always_three(long i) { return 3; }

Test(coverage, confident_and_evenly_spread) {
  float *P = rows_with_top(1000, 10, 1.0f, round_robin);
  gs_coverage c;
  cr_assert_eq(gs_class_coverage(P, 1000, 10, 0.01, &c), 0);
  cr_expect_eq(c.classes, 10);
  for (int k = 0; k < 10; k++) cr_expect_float_eq(c.share[k], 0.1, 1e-15);
  cr_expect(fabs(c.kl_uniform) < 1e-15, "KL from uniform %g", c.kl_uniform);
  cr_expect_eq(c.covered, 10);
  cr_expect_float_eq(c.largest_share, 0.1, 1e-15);
  cr_expect_float_eq(c.judge_score, 10.0, 1e-12, "judge score %.17g, want C = 10", c.judge_score);
  gs_coverage_free(&c);
  cr_expect_null(c.share);
  free(P);
}

Test(coverage, all_on_one_class) {
  float *P = rows_with_top(500, 10, 1.0f, always_three);
  gs_coverage c;
  cr_assert_eq(gs_class_coverage(P, 500, 10, 0.01, &c), 0);
  cr_expect_float_eq(c.share[3], 1.0, 0);
  cr_expect_float_eq(c.kl_uniform, log(10.0), 1e-15);
  cr_expect_eq(c.covered, 1);
  cr_expect_float_eq(c.largest_share, 1.0, 0);
  cr_expect_float_eq(c.judge_score, 1.0, 1e-15, "judge score %.17g, want 1", c.judge_score);
  gs_coverage_free(&c);
  free(P);
}

Test(coverage, unsure_predictions_evenly_spread) {
  /* top 0.5, the rest 0.5/9 each: the histogram is uniform, p(y) is uniform, and each row's
   * KL(p(y|x) || p(y)) = 0.5 log(0.5 * 10) + 0.5 log(0.5 / 9 * 10) */
  float *P = rows_with_top(1000, 10, 0.5f, round_robin);
  gs_coverage c;
  cr_assert_eq(gs_class_coverage(P, 1000, 10, 0.01, &c), 0);
  cr_expect(fabs(c.kl_uniform) < 1e-15);
  cr_expect_eq(c.covered, 10);
  double rest = (double)((1.0f - 0.5f) / 9); /* the float the rows hold */
  double want = exp(0.5 * log(0.5 * 10) + 9 * rest * log(rest * 10));
  cr_expect(rel_diff(c.judge_score, want) < 1e-6, "judge score %.17g vs %.17g", c.judge_score, want);
  cr_expect(c.judge_score > 1 && c.judge_score < 10);
  gs_coverage_free(&c);
  free(P);
}

Test(coverage, min_share_and_histogram) {
  /* classes 0..2 get 600, 300, 96 rows, class 3 gets 4 (0.4%), class 4 none */
  enum { N = 1000, C = 5 };
  float *P = calloc((size_t)N * C, sizeof(float));
  int counts[C] = {600, 300, 96, 4, 0}, row = 0;
  for (int k = 0; k < C; k++)
    for (int i = 0; i < counts[k]; i++, row++) {
      P[row * C + k] = 0.8f;
      P[row * C + (k + 1) % C] = 0.2f;
    }
  gs_coverage c;
  cr_assert_eq(gs_class_coverage(P, N, C, 0.01, &c), 0);
  double kl = 0;
  for (int k = 0; k < C; k++) {
    double share = counts[k] / (double)N;
    cr_expect_float_eq(c.share[k], share, 1e-15);
    if (share > 0) kl += share * log(share * C);
  }
  cr_expect_float_eq(c.kl_uniform, kl, 1e-14);
  cr_expect_eq(c.covered, 3);
  cr_expect_float_eq(c.largest_share, 0.6, 1e-15);
  gs_coverage_free(&c);
  cr_assert_eq(gs_class_coverage(P, N, C, 0.004, &c), 0);
  cr_expect_eq(c.covered, 4, "4 of 1000 is at least a share of 0.004");
  gs_coverage_free(&c);
  free(P);
}

Test(coverage, ties_go_to_the_lowest_class) {
  const float P[] = {0.25f, 0.25f, 0.25f, 0.25f, 0.1f, 0.45f, 0.45f, 0.0f};
  gs_coverage c;
  cr_assert_eq(gs_class_coverage(P, 2, 4, 0.01, &c), 0);
  cr_expect_float_eq(c.share[0], 0.5, 0);
  cr_expect_float_eq(c.share[1], 0.5, 0);
  cr_expect(isfinite(c.judge_score), "a zero probability must not make log(0)");
  gs_coverage_free(&c);
}

Test(coverage, rejects_bad_input) {
  float P[] = {0.5f, 0.5f, NAN, 1.0f, 0.0f, INFINITY, -0.1f, 1.1f};
  gs_coverage c;
  cr_expect_eq(gs_class_coverage(P, 2, 2, 0.01, &c), -1, "NaN");
  cr_expect_null(c.share);
  cr_expect_eq(gs_class_coverage(P + 2, 2, 2, 0.01, &c), -1, "infinity");
  cr_expect_eq(gs_class_coverage(P + 6, 1, 2, 0.01, &c), -1, "negative");
  cr_expect_eq(gs_class_coverage(P, 0, 2, 0.01, &c), -1, "no rows");
  cr_expect_eq(gs_class_coverage(P, 1, 0, 0.01, &c), -1, "no classes");
  cr_expect_eq(gs_class_coverage(P, 1, 2, 0.01, &c), 0);
  gs_coverage_free(&c);
}

Test(agreement, share_of_wanted_classes) {
  const float P[] = {0.9f, 0.1f, 0.0f,  /* argmax 0 */
                     0.2f, 0.3f, 0.5f,  /* 2 */
                     0.1f, 0.8f, 0.1f,  /* 1 */
                     0.4f, 0.4f, 0.2f}; /* 0 (tie) */
  const int wanted[] = {0, 1, 1, 1};
  cr_expect_float_eq(gs_class_agreement(P, 4, 3, wanted), 0.5, 0);
  const int all_right[] = {0, 2, 1, 0};
  cr_expect_float_eq(gs_class_agreement(P, 4, 3, all_right), 1.0, 0);
  cr_expect(isnan(gs_class_agreement(P, 0, 3, wanted)));
}
