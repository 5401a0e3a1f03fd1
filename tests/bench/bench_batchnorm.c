/* Batch-norm time at one thread: forward + backward (input, gamma and beta gradients) in training
 * mode on the DCGAN's batch-norm shapes (batch 64) and a 2-D one, in microseconds and in GB/s
 * of the tensors the op must touch (forward reads x, writes y; backward reads x and dy twice,
 * writes dx: 7 passes of 4 bytes per element). Medians over rounds of this thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID: slices other processes take on a shared machine do not count), wall
 * clock beside it. Layers interleaved round by round so that load from other processes hits all
 * alike.
 *
 *   bench_batchnorm [--rounds 15] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gensweep/nn/conv.h"
#include "gensweep/nn/ops.h"

typedef struct {
  const char *name;
  int ndim, shape[4];
} bn_shape;

static const bn_shape SHAPES[] = {
    {"D conv2 (64,128,7,7)", 4, {64, 128, 7, 7}},
    {"D conv3 (64,256,4,4)", 4, {64, 256, 4, 4}},
    {"G (64,512,2,2)", 4, {64, 512, 2, 2}},
    {"G (64,64,14,14)", 4, {64, 64, 14, 14}},
    {"2-D (64,1024)", 2, {64, 1024}},
};
#define NS ((int)(sizeof SHAPES / sizeof SHAPES[0]))

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

typedef struct {
  gs_params p;   /* x (a parameter, so dx is computed), gamma, beta */
  gs_graph g;
  float *dy, *running_mean, *running_var;
  int iters;
} setup;

static void make(setup *S, const bn_shape *L) {
  memset(S, 0, sizeof *S);
  const int C = L->shape[1];
  gs_params_declare(&S->p, "x", L->ndim, L->shape);
  gs_params_declare(&S->p, "gamma", 1, &C);
  gs_params_declare(&S->p, "beta", 1, &C);
  gs_params_alloc(&S->p);
  gs_rng r;
  gs_rng_seed(&r, 1, 0, 0);
  for (long i = 0; i < S->p.total; i++) S->p.data[i] = gs_rng_uniformf(&r) - 0.5f;
  const long n = S->p.t[0].n;
  S->dy = malloc(sizeof(float) * n);
  for (long i = 0; i < n; i++) S->dy[i] = gs_rng_uniformf(&r) - 0.5f;
  S->running_mean = calloc(C, sizeof(float));
  S->running_var = malloc(sizeof(float) * C);
  for (int c = 0; c < C; c++) S->running_var[c] = 1.0f;
  gs_graph_init(&S->g, 1 << 20);
  S->iters = 1;
}

/* one forward + backward: seconds of wall clock, CPU seconds in *tc */
static double step(setup *S, double *tc) {
  double c0 = cpu_now(), t0 = gs_now();
  gs_graph_begin(&S->g, &S->p, 1);
  gs_tensor *y = gs_batchnorm(&S->g, &S->p.t[0], &S->p.t[1], &S->p.t[2], S->running_mean, S->running_var, 0.1f,
                              1e-5f, 1);
  /* loss = sum(y * dy): the backward starts from dy */
  gs_backward(&S->g, gs_sum(&S->g, gs_mul(&S->g, y, gs_wrap(&S->g, S->dy, y->ndim, y->shape))), 1.0f);
  *tc = cpu_now() - c0;
  return gs_now() - t0;
}

int main(int argc, char **argv) {
  int rounds = 15;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_batchnorm [--rounds 15]\n");
      return 2;
    }
  }
  if (rounds < 1) rounds = 1;
  setup *S = malloc(sizeof(setup) * NS);
  for (int l = 0; l < NS; l++) { /* warm up (arena grows to its peak), choose iterations for >= ~20 ms */
    double tc;
    make(&S[l], &SHAPES[l]);
    step(&S[l], &tc);
    double t = step(&S[l], &tc);
    S[l].iters = t < 0.02 ? (int)(0.02 / t) + 1 : 1;
  }
  double *tw = malloc(sizeof(double) * rounds * NS), *tc = malloc(sizeof(double) * rounds * NS);
  for (int r = 0; r < rounds; r++)
    for (int l = 0; l < NS; l++) {
      double sw = 0, sc = 0, c;
      for (int it = 0; it < S[l].iters; it++) {
        sw += step(&S[l], &c);
        sc += c;
      }
      tw[l * rounds + r] = sw / S[l].iters;
      tc[l * rounds + r] = sc / S[l].iters;
    }
  printf("batch norm, training, forward + backward (dx, dgamma, dbeta); medians of %d rounds\n", rounds);
  printf("%-24s %10s %10s %10s\n", "shape", "cpu us", "wall us", "cpu GB/s");
  for (int l = 0; l < NS; l++) {
    /* the loss's own mul and sum are timed too: a fixed share, the same before and after a change */
    double c = median(tc + l * rounds, rounds), w = median(tw + l * rounds, rounds);
    double bytes = 7.0 * 4.0 * S[l].p.t[0].n;
    printf("%-24s %10.1f %10.1f %10.1f\n", SHAPES[l].name, c * 1e6, w * 1e6, bytes / c / 1e9);
  }
  for (int l = 0; l < NS; l++) {
    gs_graph_free(&S[l].g);
    gs_params_free(&S[l].p);
    free(S[l].dy);
    free(S[l].running_mean);
    free(S[l].running_var);
  }
  free(S);
  free(tw);
  free(tc);
  return 0;
}
