/* Chamfer distance of a batch of B = 32 clouds of N = M = 2048 points, forward + backward, at one
 * thread: gs_chamfer (pairwise squared distances by sgemm in tiles, nearest neighbours both ways,
 * gradients to both clouds) against gs_chamfer_naive (double loops in double), as a speedup, and
 * the fast path's pair rate as a fraction of the machine's one-thread sgemm peak (2048^3, measured
 * in the same run). That fraction counts the 10 flops per pair of the K = 5 product that forms
 * |a|^2 + |b|^2 - 2 a.b, so it says how far the whole op (sgemm + the two nearest-neighbour scans
 * + the exact recomputation + backward) is from spending all its time in a full-speed sgemm.
 * Times are medians over rounds, CPU time of this thread (CLOCK_THREAD_CPUTIME_ID: not the
 * slices other processes take on a shared machine), wall clock beside them.
 *
 * --emd PAIRS also measures the Sinkhorn EMD estimate (GS_EMD_EPS, GS_EMD_ITERS) against the
 * exact assignment at N = 1024 and 2048 on PAIRS pairs per kind (sizes the unit test cannot
 * afford), and the time of each.
 *
 *   bench_chamfer [--rounds 5] [--naive-rounds 1] [--batch 32] [--points 2048] [--emd PAIRS]
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gensweep/core/rng.h"
#include "gensweep/nn/ops.h"
#include "gensweep/nn/pointcloud.h"

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
  qsort(v, n, sizeof(double), cmpd);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void sphere(gs_rng *r, float *p, long n) {
  for (long i = 0; i < n; i++) {
    float v[3];
    double s = 0.0;
    for (int k = 0; k < 3; k++) v[k] = gs_rng_normal(r), s += (double)v[k] * v[k];
    for (int k = 0; k < 3; k++) p[3 * i + k] = (float)(v[k] / sqrt(s));
  }
}

static void emd_accuracy(int pairs) {
  const char *what[3] = {"noise 0.01", "noise s/2", "independent"};
  printf("\nSinkhorn EMD (eps %g x the nearest-neighbour scale, %d iterations) against the exact assignment\n",
         GS_EMD_EPS, GS_EMD_ITERS);
  for (int n = 1024; n <= 2048; n *= 2) {
    float *a = malloc(sizeof(float) * 3 * n), *b = malloc(sizeof(float) * 3 * n);
    for (int c = 0; c < 3; c++) {
      double mean = 0, lo = INFINITY, hi = -INFINITY, te = 0, ts = 0;
      for (int k = 0; k < pairs; k++) {
        gs_rng r;
        gs_rng_seed(&r, 11 + k, n, c);
        sphere(&r, a, n);
        if (c == 2) sphere(&r, b, n);
        else {
          float s = c == 0 ? 0.01f : 0.5f * sqrtf(4.0f * 3.14159265f / n);
          for (int i = 0; i < 3 * n; i++) b[i] = a[i] + s * gs_rng_normal(&r);
        }
        double t0 = cpu_now(), ex = gs_emd_exact(a, b, n, NULL), t1 = cpu_now();
        double sk = gs_emd_sinkhorn_cloud(a, b, n, GS_EMD_EPS, GS_EMD_ITERS, NULL, NULL, NULL);
        ts += cpu_now() - t1, te += t1 - t0;
        double rel = (sk - ex) / ex;
        mean += rel / pairs, lo = fmin(lo, rel), hi = fmax(hi, rel);
      }
      printf("  N = %4d %-12s relative error mean %+.2f%% (from %+.2f%% to %+.2f%%, %d pairs); "
             "CPU s per pair: exact %.2f, sinkhorn %.2f\n",
             n, what[c], 100 * mean, 100 * lo, 100 * hi, pairs, te / pairs, ts / pairs);
    }
    free(a), free(b);
  }
}

int main(int argc, char **argv) {
  int rounds = 5, naive_rounds = 1, B = 32, N = 2048, emd_pairs = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--naive-rounds") && i + 1 < argc) naive_rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--points") && i + 1 < argc) N = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--emd") && i + 1 < argc) emd_pairs = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_chamfer [--rounds 5] [--naive-rounds 1] [--batch 32] [--points 2048] [--emd PAIRS]\n");
      return 2;
    }
  }
  if (rounds < 1) rounds = 1;
  if (naive_rounds < 1) naive_rounds = 1;
  if (B < 1 || N < 1) return fprintf(stderr, "bench_chamfer: --batch and --points must be >= 1\n"), 2;
  int M = N;
  openblas_set_num_threads(1);
  printf("OpenBLAS: %s, 1 thread; B = %d clouds of N = M = %d points\n", openblas_get_config(), B, N);

  /* one-thread sgemm peak */
  int n = 2048;
  float *sa = gs_aligned_alloc(sizeof(float) * n * n), *sb = gs_aligned_alloc(sizeof(float) * n * n),
        *sc = gs_aligned_alloc(sizeof(float) * n * n);
  for (long i = 0; i < (long)n * n; i++) sa[i] = sb[i] = 0.001f * (i % 1000);
  double *peak = malloc(sizeof(double) * rounds);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, sa, n, sb, n, 0, sc, n); /* warm up */
  for (int r = 0; r < rounds; r++) {
    double t = cpu_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, sa, n, sb, n, 0, sc, n);
    peak[r] = 2.0 * n * n * n / (cpu_now() - t) / 1e9;
  }
  double pk = median(peak, rounds);
  free(sa), free(sb), free(sc);

  /* the batch: spheres against noisy, rescaled spheres */
  gs_params p = {0};
  int shape_a[2] = {B * N, 3}, shape_b[2] = {B * M, 3};
  gs_params_declare(&p, "a", 2, shape_a);
  gs_params_declare(&p, "b", 2, shape_b);
  gs_params_alloc(&p);
  gs_rng r;
  gs_rng_seed(&r, 1, 2, 3);
  sphere(&r, p.t[0].x, (long)B * N);
  sphere(&r, p.t[1].x, (long)B * M);
  for (long i = 0; i < 3L * B * M; i++) p.t[1].x[i] = 1.1f * p.t[1].x[i] + 0.05f * gs_rng_normal(&r);

  gs_graph g;
  gs_graph_init(&g, 1 << 20);
  double *tc = malloc(sizeof(double) * rounds), *tw = malloc(sizeof(double) * rounds);
  float fast0 = 0.0f;
  for (int k = -1; k < rounds; k++) { /* round -1 warms up */
    double c0 = cpu_now(), w0 = gs_now();
    gs_graph_begin(&g, &p, 1);
    gs_tensor *y = gs_chamfer(&g, &p.t[0], &p.t[1], B, N, M);
    gs_backward(&g, gs_sum(&g, y), 1.0f);
    if (k >= 0) tc[k] = cpu_now() - c0, tw[k] = gs_now() - w0;
    fast0 = y->x[0];
  }
  double fast_c = median(tc, rounds), fast_w = median(tw, rounds);

  double *want = malloc(sizeof(double) * B);
  float *da = malloc(sizeof(float) * 3L * B * N), *db = malloc(sizeof(float) * 3L * B * M);
  double *nc = malloc(sizeof(double) * naive_rounds), *nw = malloc(sizeof(double) * naive_rounds);
  for (int k = 0; k < naive_rounds; k++) {
    double c0 = cpu_now(), w0 = gs_now();
    gs_chamfer_naive(p.t[0].x, p.t[1].x, B, N, M, want, da, db);
    nc[k] = cpu_now() - c0, nw[k] = gs_now() - w0;
  }
  double naive_c = median(nc, naive_rounds), naive_w = median(nw, naive_rounds);

  double pairs = (double)B * N * M;
  printf("sgemm 2048^3 one thread: %.1f GFLOP/s (CPU time, median of %d)\n", pk, rounds);
  printf("fast  (gs_chamfer, forward + backward):  %8.1f ms CPU, %8.1f ms wall (median of %d)\n", 1e3 * fast_c,
         1e3 * fast_w, rounds);
  printf("naive (gs_chamfer_naive, the same):      %8.1f ms CPU, %8.1f ms wall (median of %d)\n", 1e3 * naive_c,
         1e3 * naive_w, naive_rounds);
  printf("speedup over the naive reference: %.1fx (CPU time), %.1fx (wall)\n", naive_c / fast_c, naive_w / fast_w);
  printf("pairs per second: %.2f G; as the K = 5 product's flops: %.1f GFLOP/s = %.0f%% of sgemm peak\n",
         pairs / fast_c / 1e9, 10.0 * pairs / fast_c / 1e9, 100.0 * 10.0 * pairs / fast_c / 1e9 / pk);
  printf("cloud 0: fast %.7g, naive %.7g\n", fast0, want[0]);
  gs_graph_free(&g);
  gs_params_free(&p);
  free(want), free(da), free(db), free(tc), free(tw), free(nc), free(nw), free(peak);
  if (emd_pairs > 0) emd_accuracy(emd_pairs);
  return 0;
}
