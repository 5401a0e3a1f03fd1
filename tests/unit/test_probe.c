/* Linear probes (probe/probe.h): the liblinear wrapper, balanced label subsets, the
 * standardisation, the confusion-matrix figures, and agreement with scikit-learn. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/core/rng.h"
#include "gensweep/probe/fit_all.h"
#include "gensweep/probe/probe.h"

static const gs_probe_params svm = {.classifier = GS_PROBE_SVM, .C = 1.0, .eps = 1e-4};
static const gs_probe_params lr = {.classifier = GS_PROBE_LR, .C = 1.0, .eps = 1e-4};

static long *all_rows(long n) {
  long *idx = malloc(sizeof(long) * n);
  for (long i = 0; i < n; i++) idx[i] = i;
  return idx;
}

/* three well-separated blobs in 5-D: every classifier gets every test point right */
Test(probe, separable_blobs_are_classified_exactly) {
  enum { N = 300, D = 5, C = 3 };
  float X[N * D], T[N * D];
  int y[N];
  gs_rng r;
  gs_rng_seed(&r, 3, 0, GS_RNG_DATA);
  for (int i = 0; i < N; i++) {
    y[i] = i % C;
    for (int j = 0; j < D; j++) {
      float centre = (j == y[i]) ? 10.0f : 0.0f;
      X[i * D + j] = centre + 0.5f * gs_rng_normal(&r);
      T[i * D + j] = centre + 0.5f * gs_rng_normal(&r);
    }
  }
  long *idx = all_rows(N);
  gs_probe_problem *p = gs_probe_problem_new(X, y, D, C, idx, N);
  const gs_probe_params *par[2] = {&svm, &lr};
  for (int c = 0; c < 2; c++) {
    long conf[C * C];
    gs_error err = {0};
    cr_assert_eq(gs_probe_fit_score(p, par[c], T, y, N, conf, &err), 0, "%s", err.msg);
    cr_assert_float_eq(gs_probe_accuracy(conf, C), 1.0, 1e-12, "%s", gs_probe_classifier_name(par[c]->classifier));
    for (int k = 0; k < C; k++) cr_assert_eq(conf[k * C + k], N / C);
  }
  gs_probe_problem_free(p);
  free(idx);
}

/* The problem of tests/unit/data/probe_golden.py, built the same way. */
enum { GN_TRAIN = 400, GN_TEST = 200, GD = 20, GC = 4 };
static float hash_u(long i, long j) {
  uint32_t h = (uint32_t)((uint64_t)i * 2654435761u + (uint64_t)j * 40503u + 12345u);
  h ^= h >> 15;
  h *= 2246822519u;
  h ^= h >> 13;
  return (float)(h / 4294967296.0);
}
static void golden_problem(long first, int n, float *X, int *y) {
  for (int i = 0; i < n; i++) {
    double best = -INFINITY;
    for (int j = 0; j < GD; j++) X[i * GD + j] = hash_u(first + i, j);
    for (int k = 0; k < GC; k++) {
      double s = 0;
      for (int j = 0; j < GD; j++) s += (double)X[i * GD + j] * (((k * 31 + j * 17) % 13 - 6) / 6.0);
      if (s > best) best = s, y[i] = k;
    }
    if (hash_u(first + i, 999) < 0.125f) y[i] = (int)(hash_u(first + i, 998) * GC);
  }
}

/* scikit-learn 1.2 (Debian 12), LinearSVC and LogisticRegression(solver="liblinear"), C = 1, tol
 * 1e-4, StandardScaler: test accuracy 0.8100 and 0.8200 on 400 rows (primal), 0.5250 and 0.5300
 * on the first 20 (dual) (probe_golden.py). Both wrap
 * liblinear with a bias feature of 1, as gensweep does: the same fits, so within one test image. */
Test(probe, agrees_with_scikit_learn_on_a_fixed_problem) {
  float *X = malloc(sizeof(float) * GN_TRAIN * GD), *T = malloc(sizeof(float) * GN_TEST * GD);
  int ytr[GN_TRAIN], yte[GN_TEST];
  golden_problem(0, GN_TRAIN, X, ytr);
  golden_problem(100000, GN_TEST, T, yte);
  int count[GC] = {0};
  for (int i = 0; i < GN_TRAIN; i++) count[ytr[i]]++;
  cr_assert(count[0] == 165 && count[1] == 123 && count[2] == 77 && count[3] == 35, "not the script's problem");
  long *idx = all_rows(GN_TRAIN);
  /* all 400 rows (the primal solvers), then the first 20 (fewer than the 21 features: the dual ones) */
  const long rows[2] = {GN_TRAIN, 20};
  const double golden[2][2] = {{0.8100, 0.8200}, {0.5250, 0.5300}};
  const gs_probe_params *par[2] = {&svm, &lr};
  for (int s = 0; s < 2; s++) {
    gs_probe_problem *p = gs_probe_problem_new(X, ytr, GD, GC, idx, rows[s]);
    for (int c = 0; c < 2; c++) {
      long conf[GC * GC];
      gs_error err = {0};
      cr_assert_eq(gs_probe_fit_score(p, par[c], T, yte, GN_TEST, conf, &err), 0, "%s", err.msg);
      double a = gs_probe_accuracy(conf, GC);
      cr_assert(fabs(a - golden[s][c]) <= 1.0 / GN_TEST + 1e-9, "%ld rows, %s: accuracy %.4f, scikit-learn %.4f",
                rows[s], gs_probe_classifier_name(par[c]->classifier), a, golden[s][c]);
    }
    gs_probe_problem_free(p);
  }
  free(idx);
  free(X);
  free(T);
}

/* a class's fit does not depend on which process fits it or in which order: primal (400 rows)
 * and dual (20 rows; liblinear's dual solvers draw their visiting order with rand()) */
Test(probe, fitting_classes_one_by_one_gives_the_same_weights) {
  float *X = malloc(sizeof(float) * GN_TRAIN * GD);
  int y[GN_TRAIN];
  golden_problem(0, GN_TRAIN, X, y);
  long *idx = all_rows(GN_TRAIN);
  for (int rows = GN_TRAIN; rows >= 20; rows = rows == GN_TRAIN ? 20 : 0) {
    gs_probe_problem *p = gs_probe_problem_new(X, y, GD, GC, idx, rows);
    const gs_probe_params *par[2] = {&svm, &lr};
    for (int c = 0; c < 2; c++) {
      double a[GD + 1], b[GD + 1];
      gs_error err = {0};
      cr_assert_eq(gs_probe_fit_class(p, 3, par[c], a, &err), 0);
      cr_assert_eq(gs_probe_fit_class(p, 0, par[c], b, &err), 0);
      rand(); /* whatever else the process draws */
      cr_assert_eq(gs_probe_fit_class(p, 3, par[c], b, &err), 0);
      cr_assert_eq(memcmp(a, b, sizeof a), 0, "%d rows, %s", rows, gs_probe_classifier_name(par[c]->classifier));
    }
    gs_probe_problem_free(p);
  }
  free(idx);
  free(X);
}

Test(probe, balanced_subsets_have_exact_counts_and_follow_their_seed) {
  enum { N = 1000, C = 10 };
  int y[N];
  for (int i = 0; i < N; i++) y[i] = (i * 7) % C;
  long a[100], b[100], c[100], d[100];
  gs_error err = {0};
  cr_assert_eq(gs_probe_balanced_subset(y, N, C, 100, 5, 0, a, &err), 0, "%s", err.msg);
  gs_probe_balanced_subset(y, N, C, 100, 5, 0, b, &err);
  gs_probe_balanced_subset(y, N, C, 100, 5, 1, c, &err);
  gs_probe_balanced_subset(y, N, C, 100, 6, 0, d, &err);
  cr_assert_eq(memcmp(a, b, sizeof a), 0, "the same seed and repeat: the same subset");
  cr_assert_neq(memcmp(a, c, sizeof a), 0, "another repeat: another subset");
  cr_assert_neq(memcmp(a, d, sizeof a), 0, "another seed: another subset");
  int per[C] = {0};
  for (int i = 0; i < 100; i++) {
    per[y[a[i]]]++;
    if (i) cr_assert_lt(a[i - 1], a[i], "sorted, no repeats");
  }
  for (int k = 0; k < C; k++) cr_assert_eq(per[k], 10);
  /* budget 0: everything, in order */
  long *all = malloc(sizeof(long) * N);
  cr_assert_eq(gs_probe_balanced_subset(y, N, C, 0, 5, 0, all, &err), 0);
  for (int i = 0; i < N; i++) cr_assert_eq(all[i], i);
  free(all);
  /* bad budgets */
  cr_assert_eq(gs_probe_balanced_subset(y, N, C, 105, 5, 0, a, &err), -1);
  cr_assert(strstr(err.msg, "not a multiple of the 10 classes"), "%s", err.msg);
  long *big = malloc(sizeof(long) * 2000);
  cr_assert_eq(gs_probe_balanced_subset(y, N, C, 2000, 5, 0, big, &err), -1);
  cr_assert(strstr(err.msg, "needs 200 images of class 0; the training set has 100"), "%s", err.msg);
  free(big);
}

Test(probe, standardisation_uses_only_the_chosen_rows) {
  float X[4 * 2] = {1, 5, 3, 5, 100, -7, 5, 5};
  long idx[3] = {0, 1, 3};
  double mean[2], scale[2];
  gs_probe_standardisation(X, 2, idx, 3, mean, scale);
  cr_assert_float_eq(mean[0], 3.0, 1e-12);
  cr_assert_float_eq(scale[0], 1.0 / sqrt(8.0 / 3.0), 1e-12);
  cr_assert_float_eq(mean[1], 5.0, 1e-12);
  cr_assert_float_eq(scale[1], 1.0, 1e-12, "a constant column is only centred");
}

/* hand-worked: 3 classes, 10 test points */
Test(probe, accuracy_precision_recall_from_the_confusion_matrix) {
  long conf[9] = {3, 1, 0,  /* true 0: 3 right, 1 called 1 */
                  0, 2, 2,  /* true 1 */
                  0, 0, 2}; /* true 2 */
  cr_assert_float_eq(gs_probe_accuracy(conf, 3), 0.7, 1e-12);
  double p[3], r[3];
  gs_probe_precision_recall(conf, 3, p, r);
  cr_assert_float_eq(p[0], 1.0, 1e-12);
  cr_assert_float_eq(p[1], 2.0 / 3.0, 1e-12);
  cr_assert_float_eq(p[2], 0.5, 1e-12);
  cr_assert_float_eq(r[0], 0.75, 1e-12);
  cr_assert_float_eq(r[1], 0.5, 1e-12);
  cr_assert_float_eq(r[2], 1.0, 1e-12);
  long none[9] = {1, 0, 0, 1, 0, 0, 0, 0, 0};
  gs_probe_precision_recall(none, 3, p, r);
  cr_assert(isnan(p[1]) && isnan(r[2]), "no prediction / no example: undefined, not 0");
}

/* The own primal solver, all classes at once (what the probe stage uses for problems with at
 * least as many examples as features), on the scikit-learn golden problem: the same accuracy
 * as scikit-learn's (and liblinear's primal) fits, within one test image. */
Test(probe, fit_all_agrees_with_liblinear_and_scikit_learn) {
  float *X = malloc(sizeof(float) * GN_TRAIN * GD), *T = malloc(sizeof(float) * GN_TEST * GD);
  int ytr[GN_TRAIN], yte[GN_TEST];
  golden_problem(0, GN_TRAIN, X, ytr);
  golden_problem(100000, GN_TEST, T, yte);
  long *idx = all_rows(GN_TRAIN);
  cr_assert(!gs_probe_small(GN_TRAIN, GD) && gs_probe_small(20, GD));
  gs_probe_problem *p = gs_probe_problem_new(X, ytr, GD, GC, idx, GN_TRAIN);
  const double golden[2] = {0.8100, 0.8200};
  const gs_probe_params *par[2] = {&svm, &lr};
  for (int c = 0; c < 2; c++) {
    double W[GC * (GD + 1)];
    long conf[GC * GC], ref[GC * GC];
    gs_error err = {0};
    cr_assert_eq(gs_probe_fit_all(X, ytr, GD, GC, idx, GN_TRAIN, par[c], W, NULL, &err), 0, "%s", err.msg);
    gs_probe_score(p, W, T, yte, GN_TEST, conf);
    cr_assert_eq(gs_probe_fit_score(p, par[c], T, yte, GN_TEST, ref, &err), 0);
    double a = gs_probe_accuracy(conf, GC), b = gs_probe_accuracy(ref, GC);
    cr_assert(fabs(a - golden[c]) <= 1.0 / GN_TEST + 1e-9 && fabs(a - b) <= 1.0 / GN_TEST + 1e-9,
              "%s: own %.4f, liblinear %.4f, scikit-learn %.4f", gs_probe_classifier_name(par[c]->classifier), a, b,
              golden[c]);
  }
  gs_probe_problem_free(p);
  free(idx);
  free(X);
  free(T);
}
