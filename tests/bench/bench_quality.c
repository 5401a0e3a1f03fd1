/* Sample-quality numerics at one thread: feature moments of n rows and the Frechet distance of
 * two d-dimensional Gaussians, as an evaluation does them (moments of the generated set; the real
 * set's moments can be cached, but are timed too), for d = 128 and 512 by default.
 * Budget: a whole evaluation of 10,000 images (judge forward pass included) in <= 10 s on one
 * core, so this part should stay well under 1 s at d = 128. Measured on the shared 2-core AMD
 * EPYC build machine (CPU time, medians of 7): d = 128 moments 0.008 s + Frechet 0.002 s;
 * d = 512 moments 0.067 s + Frechet 0.05 s; the naive moments are 16x (d 128) / 75x (d 512) slower.
 * Times are medians over rounds, both wall clock and this thread's CPU time (robust against the
 * other processes of a shared machine). With --naive also the plain-loop moments, for the ratio.
 *
 *   bench_quality [--n 10000] [--d 128,512] [--rounds 5] [--naive]
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gensweep/core/rng.h"
#include "gensweep/nn/quality.h"

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *x, int n) {
  qsort(x, n, sizeof(double), cmp_d);
  return x[n / 2];
}

/* n rows of d features: a few shared factors plus noise, ReLU'd like penultimate-layer features
 * (so the covariance is full but far from diagonal); `shift` moves the second set's factors */
static float *features(long n, int d, float shift, uint64_t seed) {
  enum { F = 8 };
  gs_rng r;
  float *load = malloc(sizeof(float) * F * d), *X = malloc(sizeof(float) * n * d), z[F];
  gs_rng_seed(&r, 7, 1, 0); /* the same loadings for both sets */
  gs_rng_normal_fill(&r, load, (long)F * d);
  gs_rng_seed(&r, seed, 0, 0);
  for (long i = 0; i < n; i++) {
    for (int f = 0; f < F; f++) z[f] = gs_rng_normal(&r) + shift;
    for (int j = 0; j < d; j++) {
      float v = 0.3f * gs_rng_normal(&r);
      for (int f = 0; f < F; f++) v += z[f] * load[f * d + j];
      X[i * d + j] = v > 0 ? v : 0;
    }
  }
  free(load);
  return X;
}

int main(int argc, char **argv) {
  long n = 10000;
  int rounds = 5, naive = 0, nd = 0, ds[16];
  const char *dlist = "128,512";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atol(argv[++i]);
    else if (!strcmp(argv[i], "--d") && i + 1 < argc) dlist = argv[++i];
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--naive")) naive = 1;
    else return fprintf(stderr, "usage: %s [--n 10000] [--d 128,512] [--rounds 5] [--naive]\n", argv[0]), 2;
  }
  for (const char *p = dlist; *p && nd < 16; p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p))
    if ((ds[nd] = atoi(p)) > 0) nd++;
  if (n < 2 || rounds < 1 || nd == 0) return fprintf(stderr, "need --n >= 2, --rounds >= 1 and a dimension\n"), 2;
  openblas_set_num_threads(1);

  printf("quality numerics, one thread: n = %ld rows, median of %d rounds (CPU time; wall clock in brackets)\n", n,
         rounds);
  for (int c = 0; c < nd; c++) {
    int d = ds[c];
    float *real = features(n, d, 0.0f, 1), *fake = features(n, d, 0.1f, 2);
    double *mu1 = malloc(sizeof(double) * d), *mu2 = malloc(sizeof(double) * d);
    double *s1 = malloc(sizeof(double) * d * d), *s2 = malloc(sizeof(double) * d * d);
    double *mom_cpu = malloc(sizeof(double) * rounds), *mom_wall = malloc(sizeof(double) * rounds);
    double *fd_cpu = malloc(sizeof(double) * rounds), *fd_wall = malloc(sizeof(double) * rounds);
    double fd = NAN;
    gs_error err = {0};
    gs_feature_moments(real, n, d, mu1, s1);
    for (int r = 0; r < rounds; r++) {
      double c0 = cpu_now(), w0 = gs_now();
      gs_feature_moments(fake, n, d, mu2, s2);
      double c1 = cpu_now(), w1 = gs_now();
      if (gs_frechet_distance(mu1, s1, mu2, s2, d, &fd, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
      double c2 = cpu_now(), w2 = gs_now();
      mom_cpu[r] = c1 - c0;
      mom_wall[r] = w1 - w0;
      fd_cpu[r] = c2 - c1;
      fd_wall[r] = w2 - w1;
    }
    double mc = median(mom_cpu, rounds), mw = median(mom_wall, rounds);
    double fc = median(fd_cpu, rounds), fw = median(fd_wall, rounds);
    printf("d = %3d: moments %.4f s [%.4f]  frechet %.4f s [%.4f]  moments + frechet %.4f s [%.4f]"
           "  (both sets' moments + frechet %.4f s)  distance %.6g\n",
           d, mc, mw, fc, fw, mc + fc, mw + fw, 2 * mc + fc, fd);
    if (naive) {
      double c0 = cpu_now();
      gs_feature_moments_naive(fake, n, d, mu2, s2);
      double t = cpu_now() - c0;
      printf("         naive moments %.4f s: the dsyrk path is %.1fx faster\n", t, t / mc);
    }
    free(real);
    free(fake);
    free(mu1);
    free(mu2);
    free(s1);
    free(s2);
    free(mom_cpu);
    free(mom_wall);
    free(fd_cpu);
    free(fd_wall);
  }
  return 0;
}
