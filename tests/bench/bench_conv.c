/* Convolution throughput at one thread: GFLOP/s of forward + backward (input gradient and weight
 * gradient) per layer of the DCGAN discriminator (batch 64), the CAE (batch 128) and the DCGAN
 * generator (transposed, batch 64), as a fraction of the machine's one-thread sgemm peak
 * (2048^3) measured in the same run, interleaved round by round so that load from other
 * processes hits both alike. Medians over rounds. Also the speedup over the naive 7-loop
 * references (timed at a small batch; their cost is linear in the batch).
 * Every time is taken twice: wall clock, and this thread's CPU time (CLOCK_THREAD_CPUTIME_ID),
 * which does not count the slices other processes take on a shared machine; the ratios to the
 * sgemm peak are given for both (wall to wall, CPU to CPU). "arena MB" is the step's arena peak
 * (activations, their gradients and all scratch of the one layer).
 * Target: >= 50% of sgemm peak over the DCGAN discriminator layers.
 *
 *   bench_conv [--rounds 7] [--naive-batch 4] [--no-naive] [--group dcgan-D|cae|dcgan-G]
 */
#include <cblas.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/nn/conv.h"
#include "gensweep/nn/ops.h"

typedef struct {
  const char *group, *name;
  int deconv, N, Cin, H, W, Cout, K, s, p, op;
} layer;

static const layer LAYERS[] = {
    {"dcgan-D", "conv 1->64 28->14", 0, 64, 1, 28, 28, 64, 5, 2, 2, 0},
    {"dcgan-D", "conv 64->128 14->7", 0, 64, 64, 14, 14, 128, 5, 2, 2, 0},
    {"dcgan-D", "conv 128->256 7->4", 0, 64, 128, 7, 7, 256, 5, 2, 2, 0},
    {"dcgan-D", "conv 256->512 4->2", 0, 64, 256, 4, 4, 512, 5, 2, 2, 0},
    {"cae", "conv 1->32 28->14", 0, 128, 1, 28, 28, 32, 3, 2, 1, 0},
    {"cae", "conv 32->64 14->7", 0, 128, 32, 14, 14, 64, 3, 2, 1, 0},
    {"cae", "deconv 64->32 7->14", 1, 128, 64, 7, 7, 32, 3, 2, 1, 1},
    {"cae", "deconv 32->1 14->28", 1, 128, 32, 14, 14, 1, 3, 2, 1, 1},
    {"dcgan-G", "deconv 512->256 2->4", 1, 64, 512, 2, 2, 256, 5, 2, 2, 1},
    {"dcgan-G", "deconv 256->128 4->7", 1, 64, 256, 4, 4, 128, 5, 2, 2, 0},
    {"dcgan-G", "deconv 128->64 7->14", 1, 64, 128, 7, 7, 64, 5, 2, 2, 1},
    {"dcgan-G", "deconv 64->1 14->28", 1, 64, 64, 14, 14, 1, 5, 2, 2, 1},
};
#define NL ((int)(sizeof LAYERS / sizeof LAYERS[0]))

static int out_size(const layer *L, int in) {
  return L->deconv ? gs_deconv_out(in, L->K, L->s, L->p, L->op) : gs_conv_out(in, L->K, L->s, L->p);
}

/* multiply-adds x 2 of one pass (forward, input gradient and weight gradient cost the same) */
static double pass_flops(const layer *L, int N) {
  double sp = L->deconv ? (double)L->H * L->W : (double)out_size(L, L->H) * out_size(L, L->W);
  return 2.0 * N * sp * L->Cin * L->Cout * L->K * L->K;
}

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
  double *t = malloc(sizeof(double) * n);
  memcpy(t, v, sizeof(double) * n);
  qsort(t, n, sizeof(double), cmpd);
  double m = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  free(t);
  return m;
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* GFLOP/s of one 2048^3 sgemm, wall clock; CPU-time figure in *cpu */
static double sgemm_once(float *a, float *b, float *c, int n, double *cpu) {
  double t = gs_now(), tc = cpu_now();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
  double f = 2.0 * n * n * n / 1e9;
  *cpu = f / (cpu_now() - tc);
  return f / (gs_now() - t);
}

typedef struct {
  gs_params p;
  gs_graph g;
  int iters;
} setup;

static void make(setup *S, const layer *L) {
  memset(S, 0, sizeof *S);
  int xs[4] = {L->N, L->Cin, L->H, L->W};
  int ws[4] = {L->deconv ? L->Cin : L->Cout, L->deconv ? L->Cout : L->Cin, L->K, L->K};
  int bs[1] = {L->Cout};
  gs_params_declare(&S->p, "x", 4, xs); /* a parameter, so the input gradient is computed too */
  gs_params_declare(&S->p, "w", 4, ws);
  gs_params_declare(&S->p, "b", 1, bs);
  gs_params_alloc(&S->p);
  gs_rng r;
  gs_rng_seed(&r, 1, 0, 0);
  for (long i = 0; i < S->p.total; i++) S->p.data[i] = gs_rng_uniformf(&r) - 0.5f;
  gs_graph_init(&S->g, 1 << 20);
  S->iters = 1;
}

/* one forward + backward; returns seconds, forward part in *tf, CPU seconds in *tc */
static double step(setup *S, const layer *L, double *tf, double *tc) {
  double c0 = cpu_now(), t0 = gs_now();
  gs_graph_begin(&S->g, &S->p, 1);
  gs_tensor *x = &S->p.t[0], *w = &S->p.t[1], *b = &S->p.t[2];
  gs_tensor *y = L->deconv ? gs_conv_transpose2d(&S->g, x, w, b, L->s, L->p, L->op) : gs_conv2d(&S->g, x, w, b, L->s, L->p);
  double t1 = gs_now();
  gs_backward(&S->g, y, 1.0f); /* dy = 1 */
  double t2 = gs_now();
  *tc = cpu_now() - c0;
  *tf = t1 - t0;
  return t2 - t0;
}

static double naive_gflops(const layer *L, int nb) {
  int Ho = out_size(L, L->H), Wo = out_size(L, L->W);
  long nx = (long)nb * L->Cin * L->H * L->W, nw = (long)L->Cin * L->Cout * L->K * L->K, ny = (long)nb * L->Cout * Ho * Wo;
  float *x = calloc(nx, 4), *w = calloc(nw, 4), *b = calloc(L->Cout, 4), *y = calloc(ny, 4), *dx = calloc(nx, 4),
        *dw = calloc(nw, 4), *db = calloc(L->Cout, 4);
  for (long i = 0; i < nx; i++) x[i] = (float)(i % 7) * 0.1f;
  for (long i = 0; i < nw; i++) w[i] = (float)(i % 5) * 0.1f;
  double t = cpu_now();
  if (L->deconv) {
    gs_conv_transpose2d_forward_naive(x, w, b, y, nb, L->Cin, L->H, L->W, L->Cout, L->K, L->K, L->s, L->p, L->op);
    gs_conv_transpose2d_backward_naive(x, w, y, dx, dw, db, nb, L->Cin, L->H, L->W, L->Cout, L->K, L->K, L->s, L->p,
                                       L->op);
  } else {
    gs_conv2d_forward_naive(x, w, b, y, nb, L->Cin, L->H, L->W, L->Cout, L->K, L->K, L->s, L->p);
    gs_conv2d_backward_naive(x, w, y, dx, dw, db, nb, L->Cin, L->H, L->W, L->Cout, L->K, L->K, L->s, L->p);
  }
  t = cpu_now() - t;
  free(x); free(w); free(b); free(y); free(dx); free(dw); free(db);
  return 3.0 * pass_flops(L, nb) / t / 1e9;
}

int main(int argc, char **argv) {
  int rounds = 7, naive_batch = 4, do_naive = 1;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--naive-batch") && i + 1 < argc) naive_batch = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--no-naive")) do_naive = 0;
    else if (!strcmp(argv[i], "--group") && i + 1 < argc) only = argv[++i];
    else {
      fprintf(stderr, "usage: bench_conv [--rounds 7] [--naive-batch 4] [--no-naive] [--group dcgan-D|cae|dcgan-G]\n");
      return 2;
    }
  }
  if (rounds < 1) rounds = 1;
  openblas_set_num_threads(1);
  const char *ct = getenv("OPENBLAS_CORETYPE");
  printf("OpenBLAS: %s, 1 thread, OPENBLAS_CORETYPE=%s\n", openblas_get_config(), ct ? ct : "(unset)");

  int n = 2048;
  float *a = gs_aligned_alloc(sizeof(float) * n * n), *bb = gs_aligned_alloc(sizeof(float) * n * n),
        *c = gs_aligned_alloc(sizeof(float) * n * n);
  for (long i = 0; i < (long)n * n; i++) a[i] = bb[i] = 0.001f * (i % 1000);
  double pc;
  sgemm_once(a, bb, c, n, &pc); /* warm up */

  setup *S = malloc(sizeof(setup) * NL);
  for (int l = 0; l < NL; l++) { /* warm up (arena grows to its peak), choose iterations for >= ~40 ms */
    double tf, tc;
    make(&S[l], &LAYERS[l]);
    if (only && strcmp(only, LAYERS[l].group)) continue;
    step(&S[l], &LAYERS[l], &tf, &tc);
    double t = step(&S[l], &LAYERS[l], &tf, &tc);
    S[l].iters = t < 0.04 ? (int)(0.04 / t) + 1 : 1;
  }
  double *peak = malloc(sizeof(double) * rounds), *peakc = malloc(sizeof(double) * rounds),
         *tt = malloc(sizeof(double) * rounds * NL), *tfw = malloc(sizeof(double) * rounds * NL),
         *tcp = malloc(sizeof(double) * rounds * NL);
  for (int r = 0; r < rounds; r++) {
    peak[r] = sgemm_once(a, bb, c, n, &peakc[r]);
    for (int l = 0; l < NL; l++) {
      if (only && strcmp(only, LAYERS[l].group)) continue;
      double sum = 0, sf = 0, sc = 0, tf, tc;
      for (int it = 0; it < S[l].iters; it++) {
        sum += step(&S[l], &LAYERS[l], &tf, &tc);
        sf += tf;
        sc += tc;
      }
      tt[l * rounds + r] = sum / S[l].iters;
      tfw[l * rounds + r] = sf / S[l].iters;
      tcp[l * rounds + r] = sc / S[l].iters;
    }
  }
  double pk = median(peak, rounds), pkc = median(peakc, rounds);
  qsort(peak, rounds, sizeof(double), cmpd);
  printf("sgemm 2048^3 one thread: wall %.1f GFLOP/s (median of %d; min %.1f, max %.1f), CPU time %.1f GFLOP/s\n\n",
         pk, rounds, peak[0], peak[rounds - 1], pkc);
  printf("%-8s %-22s %7s %7s %7s %8s %6s %8s %6s %8s %8s\n", "group", "layer (fwd+bwd)", "GFLOP", "fwd ms", "bwd ms",
         "wall GF/s", "%peak", "cpu GF/s", "%peak", "vs naive", "arena MB");
  const char *groups[] = {"dcgan-D", "cae", "dcgan-G"};
  double dw = 0, dc = 0;
  for (int gi = 0; gi < 3; gi++) {
    if (only && strcmp(only, groups[gi])) continue;
    double gfl = 0, gt = 0, gtc = 0;
    for (int l = 0; l < NL; l++) {
      const layer *L = &LAYERS[l];
      if (strcmp(L->group, groups[gi])) continue;
      double t = median(tt + l * rounds, rounds), tf = median(tfw + l * rounds, rounds),
             tc = median(tcp + l * rounds, rounds);
      double fl = 3.0 * pass_flops(L, L->N), gf = fl / t / 1e9, gfc = fl / tc / 1e9;
      gfl += fl;
      gt += t;
      gtc += tc;
      char nv[32] = "-";
      if (do_naive) { /* CPU time against CPU time */
        int nb = naive_batch < L->N ? naive_batch : L->N;
        snprintf(nv, sizeof nv, "%.0fx", gfc / naive_gflops(L, nb));
      }
      printf("%-8s %-22s %7.3f %7.2f %7.2f %8.1f %5.0f%% %8.1f %5.0f%% %8s %8.1f\n", L->group, L->name, fl / 1e9,
             tf * 1e3, (t - tf) * 1e3, gf, 100 * gf / pk, gfc, 100 * gfc / pkc, nv, S[l].g.arena.peak / 1048576.0);
    }
    double gf = gfl / gt / 1e9, gfc = gfl / gtc / 1e9;
    printf("%-8s %-22s %7.3f %7s %7.2f %8.1f %5.0f%% %8.1f %5.0f%%\n\n", groups[gi], "total (ms = fwd+bwd)", gfl / 1e9,
           "", gt * 1e3, gf, 100 * gf / pk, gfc, 100 * gfc / pkc);
    if (gi == 0) {
      dw = gf / pk;
      dc = gfc / pkc;
    }
  }
  if (!only || !strcmp(only, "dcgan-D"))
    printf("DCGAN discriminator: %.0f%% of sgemm peak by wall clock, %.0f%% by CPU time (target >= 50%%): %s\n",
           100 * dw, 100 * dc, (dw >= 0.5 && dc >= 0.5) ? "met" : "NOT met");
  for (int l = 0; l < NL; l++) {
    gs_graph_free(&S[l].g);
    gs_params_free(&S[l].p);
  }
  free(S); free(peak); free(peakc); free(tt); free(tfw); free(tcp); free(a); free(bb); free(c);
  return 0;
}
