/* The probes' own solver (probe/solver.h) with its rows split over MPI ranks, on raw
 * Fashion-MNIST pixels (/255) as bench_probe: every rank loads the data, standardises with the
 * statistics of all training images, keeps its block of rows (cut at multiples of
 * GS_SOLVER_BLOCK) and fits every class, the reducer summing over MPI_COMM_WORLD. Rank 0 scores
 * the test set; the ranks' weights must be the same bits.
 *
 *   OPENBLAS_NUM_THREADS=1 mpirun -n 2 bench_solver_mpi [--classifier svm|lr|both] [--eps E]
 *                                                        [--repeats R]
 * Output per classifier: "solver <clf> ranks <P>: acc <a> %, fit <s> s ..." with the fit time of
 * the slowest rank (the statistics, its standardised rows and the fit), per repeat. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/core/common.h"
#include "gensweep/data/data.h"
#include "gensweep/probe/probe.h"
#include "gensweep/probe/solver.h"

static void world_sum(void *ctx, double *v, int n) {
  (void)ctx;
  MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

static float *to_float(const gs_imageset *s) {
  float *x = gs_malloc(sizeof(float) * (size_t)s->n * s->dim);
  for (long i = 0; i < s->n * s->dim; i++) x[i] = s->pix[i] * (1.0f / 255.0f);
  return x;
}

/* rows [lo, hi) of X standardised with the statistics of all n rows, and their labels */
static void my_rows(const float *X, const int *y, long n, int d, long lo, long hi, float *Z, int *lab) {
  long *idx = gs_malloc(sizeof(long) * n);
  for (long i = 0; i < n; i++) idx[i] = i;
  double *mean = gs_malloc(sizeof(double) * d), *scale = gs_malloc(sizeof(double) * d);
  gs_probe_standardisation(X, d, idx, n, mean, scale);
  for (long i = lo; i < hi; i++) {
    for (int j = 0; j < d; j++) Z[(i - lo) * d + j] = (float)((X[i * d + j] - mean[j]) * scale[j]);
    lab[i - lo] = y[i];
  }
  free(idx), free(mean), free(scale);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, P;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &P);
  const char *which = "both";
  double eps = 0.01;
  int repeats = 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--classifier") && i + 1 < argc) which = argv[++i];
    else if (!strcmp(argv[i], "--eps") && i + 1 < argc) eps = atof(argv[++i]);
    else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
    else {
      if (rank == 0) fprintf(stderr, "usage: bench_solver_mpi [--classifier svm|lr|both] [--eps E] [--repeats R]\n");
      MPI_Finalize();
      return 2;
    }
  }
  gs_dataset ds;
  gs_data_options opt = {0};
  gs_error err = {0};
  if (gs_dataset_load("fashion-mnist", &opt, &ds, &err) != 0) {
    fprintf(stderr, "bench_solver_mpi: %s\n", err.msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  int C = ds.train.n_classes, d = (int)ds.train.dim;
  long n = ds.train.n, blocks = (n + GS_SOLVER_BLOCK - 1) / GS_SOLVER_BLOCK;
  long lo = blocks * rank / P * GS_SOLVER_BLOCK, hi = blocks * (rank + 1) / P * GS_SOLVER_BLOCK;
  if (hi > n) hi = n;
  float *X = to_float(&ds.train), *T = to_float(&ds.test);
  int *y = gs_malloc(sizeof(int) * n), *yt = gs_malloc(sizeof(int) * ds.test.n);
  for (long i = 0; i < n; i++) y[i] = ds.train.labels[i];
  for (long i = 0; i < ds.test.n; i++) yt[i] = ds.test.labels[i];
  float *Z = gs_malloc(sizeof(float) * (size_t)(hi - lo + 1) * d);
  int *lab = gs_malloc(sizeof(int) * (size_t)(hi - lo + 1));
  double *W = gs_malloc(sizeof(double) * C * (d + 1)), *W0 = gs_malloc(sizeof(double) * C * (d + 1));
  long *conf = gs_malloc(sizeof(long) * C * C);
  gs_reducer red = {.sum = world_sum};
  for (int c = 0; c < 2; c++) {
    gs_probe_classifier kind = c ? GS_PROBE_LR : GS_PROBE_SVM;
    if (strcmp(which, "both") && strcmp(which, gs_probe_classifier_name(kind))) continue;
    gs_probe_params par = {.classifier = kind, .C = 1.0, .eps = eps};
    for (int r = 0; r < repeats; r++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = gs_now();
      my_rows(X, y, n, d, lo, hi, Z, lab);
      gs_solver_data data = {.X = Z, .labels = lab, .m = hi - lo, .d = d, .classes = C, .reduce = P > 1 ? &red : NULL};
      gs_solver_stats st;
      if (gs_solver_fit(&data, &par, W, &st, &err) != 0) {
        fprintf(stderr, "bench_solver_mpi: %s\n", err.msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      double t = gs_now() - t0, slowest;
      MPI_Reduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
      /* the same bits on every rank: rank 0's weights against each rank's */
      memcpy(W0, W, sizeof(double) * C * (d + 1));
      MPI_Bcast(W0, C * (d + 1), MPI_DOUBLE, 0, MPI_COMM_WORLD);
      int same = !memcmp(W0, W, sizeof(double) * C * (d + 1)), all_same;
      MPI_Reduce(&same, &all_same, 1, MPI_INT, MPI_MIN, 0, MPI_COMM_WORLD);
      if (rank == 0) {
        long *idx = gs_malloc(sizeof(long) * n);
        for (long i = 0; i < n; i++) idx[i] = i;
        gs_probe_problem *p = gs_probe_problem_new(X, y, d, C, idx, n); /* gs_probe_score's standardisation */
        gs_probe_score(p, W, T, yt, ds.test.n, conf);
        gs_probe_problem_free(p);
        free(idx);
        printf("solver %s ranks %d: acc %.2f %%, fit %.2f s (slowest rank), %d Newton, %d CG, %d passes, "
               "max ||g|| / ||g(0)|| %.2g; ranks %s\n",
               gs_probe_classifier_name(kind), P, 100.0 * gs_probe_accuracy(conf, C), slowest, st.newton, st.cg,
               st.passes, st.worst, all_same ? "agree bit for bit" : "DIFFER");
        fflush(stdout);
      }
    }
  }
  free(X), free(T), free(y), free(yt), free(Z), free(lab), free(W), free(W0), free(conf);
  gs_dataset_free(&ds);
  MPI_Finalize();
  return 0;
}
