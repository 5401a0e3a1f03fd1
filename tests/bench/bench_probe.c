/* Linear probes on raw Fashion-MNIST pixels (/255), standardised with the labelled subset's
 * statistics: for each classifier and label budget, the test accuracy (mean +- std over the
 * repeats) and the fit time, one process, one thread. tests/bench/probe_speed.sh runs it beside
 * scikit-learn on the same features.
 *
 *   bench_probe [--classifier svm|lr|both] [--budgets 0,1000,100] [--repeats R] [--eps E]
 *               [--classes-from K --classes-to L]   (fit only one-vs-rest classes K..L-1: the
 *               share of one rank when the ten are split over ranks)
 *               [--solver liblinear|own|auto]  (own: probe/solver.h, every class at once on dense
 *               float rows; the fit time counts building those rows, as liblinear's counts
 *               building its problem)
 *               [--objective]  (after each fit, liblinear's primal objective of its weights, summed
 *               over the fitted classes and per class: see objectives() below)
 * Output: one line per (classifier, budget), "probe <clf> budget <b>: acc <mean> +- <std> %,
 * fit <s> s (<s per fit>)"; with --solver own a second line with the solver's iterations; with
 * --objective, before it, one line per fit: "  objective <clf> budget <b> repeat <r>: <sum> (class
 * <k>: <f_k> ...)". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/core/common.h"
#include "gensweep/data/data.h"
#include "gensweep/probe/fit_all.h"
#include "gensweep/probe/probe.h"
#include "gensweep/probe/solver.h"

static float *to_float(const gs_imageset *s) {
  float *x = gs_malloc(sizeof(float) * (size_t)s->n * s->dim);
  for (long i = 0; i < s->n * s->dim; i++) x[i] = s->pix[i] * (1.0f / 255.0f);
  return x;
}

/* liblinear's primal objective (-s 2 / -s 0 with -B 1, tests/unit/test_solver.c's objective()):
 *   f_k(w) = 0.5 ||w||^2 (the bias regularised too) + C sum_i loss(y_ik (w.x_i + b)),
 * y_ik = +1 for class k, else -1; loss max(0, 1 - t)^2 (svm) or log(1 + exp(-t)) (lr). f[k] for
 * the classes from..to-1 at W (classes x (d + 1)), in double from the rows the fit saw: rows idx of
 * X standardised with gs_probe_standardisation's numbers, rounded to float when rounded is set
 * (gs_probe_fit_all hands the own solver float rows; liblinear's problem holds doubles). */
static void objectives(const float *X, const int *y, int d, const long *idx, long m, int from, int to,
                       const double *W, int svm, double C, int rounded, double *f) {
  double *mean = gs_malloc(sizeof(double) * d), *scale = gs_malloc(sizeof(double) * d);
  double *z = gs_malloc(sizeof(double) * d);
  gs_probe_standardisation(X, d, idx, m, mean, scale);
  for (int k = from; k < to; k++) {
    const double *w = W + (long)k * (d + 1);
    f[k] = 0;
    for (int j = 0; j <= d; j++) f[k] += 0.5 * w[j] * w[j];
  }
  for (long i = 0; i < m; i++) {
    const float *x = X + idx[i] * (long)d;
    for (int j = 0; j < d; j++) {
      z[j] = (x[j] - mean[j]) * scale[j];
      if (rounded) z[j] = (float)z[j];
    }
    for (int k = from; k < to; k++) {
      const double *w = W + (long)k * (d + 1);
      double s = w[d], t;
      for (int j = 0; j < d; j++) s += w[j] * z[j];
      t = y[idx[i]] == k ? s : -s;
      f[k] += C * (svm ? (t < 1 ? (1 - t) * (1 - t) : 0.0) : (t > 0 ? log1p(exp(-t)) : -t + log1p(exp(t))));
    }
  }
  free(mean), free(scale), free(z);
}

int main(int argc, char **argv) {
  const char *which = "both", *budgets = "0,1000,100", *solver = "liblinear";
  long repeats = 10;
  double eps = 1e-4;
  int from = 0, to = -1, objective = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--classifier") && i + 1 < argc) which = argv[++i];
    else if (!strcmp(argv[i], "--budgets") && i + 1 < argc) budgets = argv[++i];
    else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atol(argv[++i]);
    else if (!strcmp(argv[i], "--eps") && i + 1 < argc) eps = atof(argv[++i]);
    else if (!strcmp(argv[i], "--classes-from") && i + 1 < argc) from = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--classes-to") && i + 1 < argc) to = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--solver") && i + 1 < argc) solver = argv[++i];
    else if (!strcmp(argv[i], "--objective")) objective = 1;
    else {
      fprintf(stderr, "usage: bench_probe [--classifier svm|lr|both] [--budgets 0,1000,100] [--repeats R] "
                      "[--eps E] [--classes-from K --classes-to L] [--solver liblinear|own|auto] [--objective]\n");
      return 2;
    }
  }
  int own_all = !strcmp(solver, "own"), autosel = !strcmp(solver, "auto");
  if ((!own_all && !autosel && strcmp(solver, "liblinear")) || ((own_all || autosel) && (from != 0 || to >= 0))) {
    fprintf(stderr, "bench_probe: --solver is liblinear, own or auto (the probe stage's choice: own when the "
                    "examples are at least the features, else liblinear's dual); own fits every class at once "
                    "(no --classes-*)\n");
    return 2;
  }
  gs_dataset ds;
  gs_data_options opt = {0};
  gs_error err = {0};
  if (gs_dataset_load("fashion-mnist", &opt, &ds, &err) != 0) {
    fprintf(stderr, "bench_probe: %s\n", err.msg);
    return 1;
  }
  int C = ds.train.n_classes, d = (int)ds.train.dim;
  if (to < 0 || to > C) to = C;
  float *X = to_float(&ds.train), *T = to_float(&ds.test);
  int *y = gs_malloc(sizeof(int) * ds.train.n), *yt = gs_malloc(sizeof(int) * ds.test.n);
  for (long i = 0; i < ds.train.n; i++) y[i] = ds.train.labels[i];
  for (long i = 0; i < ds.test.n; i++) yt[i] = ds.test.labels[i];
  long *idx = gs_malloc(sizeof(long) * ds.train.n);
  double *W = gs_malloc(sizeof(double) * C * (d + 1));
  long *conf = gs_malloc(sizeof(long) * C * C);
  double *f = gs_malloc(sizeof(double) * C);
  for (int c = 0; c < 2; c++) {
    gs_probe_classifier kind = c ? GS_PROBE_LR : GS_PROBE_SVM;
    if (strcmp(which, "both") && strcmp(which, gs_probe_classifier_name(kind))) continue;
    gs_probe_params par = {.classifier = kind, .C = 1.0, .eps = eps};
    char list[256];
    GS_STRCPY(list, budgets);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
      long b = atol(tok), R = b == 0 ? 1 : repeats;
      double sum = 0, sum2 = 0, fit = 0;
      gs_solver_stats st = {0}, most = {0};
      for (long r = 0; r < R; r++) {
        if (gs_probe_balanced_subset(y, ds.train.n, C, b, 0, r, idx, &err) != 0) {
          fprintf(stderr, "bench_probe: %s\n", err.msg);
          return 1;
        }
        long m = b ? b : ds.train.n;
        int own = own_all || (autosel && gs_probe_large(m, d));
        double t0 = gs_now();
        gs_probe_problem *p = NULL;
        if (own) {
          if (gs_probe_fit_all(X, y, d, C, idx, m, &par, W, &st, &err) != 0) {
            fprintf(stderr, "bench_probe: %s\n", err.msg);
            return 1;
          }
          fit += gs_now() - t0;
          p = gs_probe_problem_new(X, y, d, C, idx, m); /* for gs_probe_score's standardisation */
          if (st.passes > most.passes) most = st;
        } else {
          p = gs_probe_problem_new(X, y, d, C, idx, m);
          memset(W, 0, sizeof(double) * C * (d + 1));
          for (int k = from; k < to; k++)
            if (gs_probe_fit_class(p, k, &par, W + (long)k * (d + 1), &err) != 0) {
              fprintf(stderr, "bench_probe: %s\n", err.msg);
              return 1;
            }
          fit += gs_now() - t0;
        }
        if (objective) {
          objectives(X, y, d, idx, m, from, to, W, kind == GS_PROBE_SVM, par.C, own, f);
          double total = 0;
          for (int k = from; k < to; k++) total += f[k];
          printf("  objective %s budget %ld repeat %ld: %.10g (", gs_probe_classifier_name(kind), m, r, total);
          for (int k = from; k < to; k++) printf("%sclass %d: %.10g", k > from ? ", " : "", k, f[k]);
          printf(")\n");
          fflush(stdout);
        }
        gs_probe_score(p, W, T, yt, ds.test.n, conf);
        double a = 100.0 * gs_probe_accuracy(conf, C);
        sum += a;
        sum2 += a * a;
        gs_probe_problem_free(p);
      }
      double mean = sum / R, sd = sqrt(fmax(sum2 / R - mean * mean, 0));
      printf("probe %s budget %ld: acc %.2f +- %.2f %% over %ld, fit %.2f s (%.3f s per fit, classes %d..%d)\n",
             gs_probe_classifier_name(kind), b ? b : ds.train.n, mean, sd, R, fit, fit / R, from, to - 1);
      if (most.passes)
        printf("  own solver, the fit with most passes: %d Newton, %d CG, %d passes over the rows, "
               "%d classes above the tolerance, max ||g|| / ||g(0)|| %.2g\n",
               most.newton, most.cg, most.passes, most.unconverged, most.worst);
      fflush(stdout);
    }
  }
  free(X), free(T), free(y), free(yt), free(idx), free(W), free(conf), free(f);
  gs_dataset_free(&ds);
  return 0;
}
