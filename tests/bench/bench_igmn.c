/* IGMN one-pass speed on a D-column float32 file (default: the 6-D proxy cloud written by
 * tests/bench/make_proxy.py), default parameters (c .2, beta 1e-3, v_min 2400, sp_min 50, exact).
 *   bench_igmn --data FILE [--passes 9] [--d 6] [--expect K,created,removed] [--ref-ms MS]
 * Prints the median ms per pass (thread CPU time, and wall clock), K/created/removed, K_avg; with --expect exits 1 on a mismatch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gensweep/cluster/igmn.h"

static double cpu_now(void) { /* this thread's CPU time: robust against a busy machine */
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  const char *path = NULL;
  int passes = 9, D = 6, have_expect = 0, paper = 0;
  long eK = 0, eC = 0, eR = 0;
  double ref_ms = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--data") && i + 1 < argc) path = argv[++i];
    else if (!strcmp(argv[i], "--passes") && i + 1 < argc) passes = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--d") && i + 1 < argc) D = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--paper")) paper = 1;
    else if (!strcmp(argv[i], "--ref-ms") && i + 1 < argc) ref_ms = atof(argv[++i]);
    else if (!strcmp(argv[i], "--expect") && i + 1 < argc) {
      if (sscanf(argv[++i], "%ld,%ld,%ld", &eK, &eC, &eR) != 3) return fprintf(stderr, "bad --expect\n"), 2;
      have_expect = 1;
    } else return fprintf(stderr, "usage: %s --data FILE [--passes N] [--d D] [--paper] [--expect K,created,removed] [--ref-ms MS]\n", argv[0]), 2;
  }
  if (!path || passes < 1) return fprintf(stderr, "--data FILE is required\n"), 2;
  FILE *f = fopen(path, "rb");
  if (!f) return perror(path), 2;
  fseek(f, 0, SEEK_END);
  long N = ftell(f) / (long)(sizeof(float) * D);
  fseek(f, 0, SEEK_SET);
  float *Z = malloc(sizeof(float) * N * D);
  if (fread(Z, sizeof(float) * D, N, f) != (size_t)N) return fprintf(stderr, "%s: short read\n", path), 2;
  fclose(f);

  gs_igmn_params p;
  gs_igmn_params_default(&p, D);
  if (paper) p.cov_update = GS_IGMN_PAPER;
  gs_error err = {0};
  double s2 = gs_sigmasq(Z, N, D);
  double *ms = malloc(sizeof(double) * passes), *cpu = malloc(sizeof(double) * passes);
  gs_igmn m;
  for (int r = 0; r < passes; r++) {
    if (gs_igmn_init(&m, &p, s2, &err)) return fprintf(stderr, "%s\n", err.msg), 2;
    double t0 = gs_now(), c0 = cpu_now();
    gs_igmn_fit(&m, Z, N);
    ms[r] = 1e3 * (gs_now() - t0);
    cpu[r] = 1e3 * (cpu_now() - c0);
    if (r + 1 < passes) gs_igmn_free(&m);
  }
  /* K averaged over the pass (one extra, untimed pass) */
  gs_igmn a;
  gs_igmn_init(&a, &p, s2, &err);
  double ksum = 0, x[64];
  for (long i = 0; i < N; i++) {
    for (int d = 0; d < D; d++) x[d] = Z[i * D + d];
    gs_igmn_learn(&a, x);
    ksum += a.K;
  }
  qsort(ms, passes, sizeof(double), cmp_d);
  qsort(cpu, passes, sizeof(double), cmp_d);
  double med = cpu[passes / 2];
  printf("igmn one pass: N=%ld D=%d sigmasq=%.4f chi2=%.4f %s\n", N, D, s2, m.chi2, paper ? "paper" : "exact");
  printf("  K=%d created=%ld removed=%ld nonpd=%ld K_avg=%.1f\n", m.K, m.created, m.removed, m.nonpd, ksum / N);
  printf("  ms per pass, CPU time: median %.2f (min %.2f, max %.2f, %d passes), %.1f ns/point, %.2f ns/(point*component)\n",
         med, cpu[0], cpu[passes - 1], passes, 1e6 * med / N, 1e6 * med / N / (ksum / N));
  printf("  ms per pass, wall clock: median %.2f (min %.2f, max %.2f)\n", ms[passes / 2], ms[0], ms[passes - 1]);
  gs_igmn_finalize(&m, Z, N);
  printf("  after finalize: K=%d umbrellas=%ld mean loglik=%.4f\n", m.K, m.umbrellas, gs_igmn_loglik(&m, Z, N));
  int rc = 0;
  if (have_expect) {
    int ok = a.K == eK && a.created == eC && a.removed == eR;
    printf("  oracle K/created/removed %ld/%ld/%ld: %s\n", eK, eC, eR, ok ? "MATCH" : "MISMATCH");
    rc = !ok;
  }
  if (ref_ms > 0)
    printf("  NumPy reference %.0f ms per pass -> speed-up %.0fx (target >= 70x; budget 40 ms: %s)\n", ref_ms,
           ref_ms / med, med <= 40 ? "met" : "NOT met");
  gs_igmn_free(&m);
  gs_igmn_free(&a);
  free(ms);
  free(cpu);
  free(Z);
  return rc;
}
