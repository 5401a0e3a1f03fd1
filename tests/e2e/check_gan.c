/* Check a GAN sweep's run files through the HDF5 C API (used by tests/e2e/test_gan.sh).
 *   check_gan RUN_H5 ITERATIONS LOG_EVERY EVALS CONDITIONAL
 * The run file must say status "done" and hold: the per-iteration series (iteration, iter_d,
 * iter_g, iter_d_real, iter_d_fake) with ITERATIONS / LOG_EVERY finite points, D(x) and D(G(z))
 * in (0, 1); EVALS evaluations (eval_iteration, frechet); final scalars frechet (> 0),
 * judge_covered (0..10), judge_score (1..10), quality_samples, mode_collapsed, and for a
 * conditional model judge_agreement in [0, 1]; the images samples (64, or 8 per class), progress
 * (8 per evaluation), walk_ones, walk_random, interpolation as uint8 [n, 28, 28]; the noise
 * arrays of the pictures; the parameters of both networks. Prints what it checked. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* a float64 dataset of rank 0 or 1 into v (at most cap values); its length, or -1 */
static long read_f64(hid_t f, const char *path, double *v, long cap) {
  if (H5Lexists(f, path, H5P_DEFAULT) <= 0) return -1;
  hid_t d = H5Dopen2(f, path, H5P_DEFAULT), s = H5Dget_space(d);
  hssize_t n = H5Sget_simple_extent_npoints(s);
  long got = -1;
  if (n >= 0 && n <= cap && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0) got = (long)n;
  H5Sclose(s);
  H5Dclose(d);
  return got;
}

/* the shape of a dataset (rank <= 3), or -1 */
static int shape_of(hid_t f, const char *path, hsize_t *dims, H5T_class_t *cls) {
  if (H5Lexists(f, path, H5P_DEFAULT) <= 0) return -1;
  hid_t d = H5Dopen2(f, path, H5P_DEFAULT), s = H5Dget_space(d), t = H5Dget_type(d);
  int r = H5Sget_simple_extent_ndims(s);
  if (r >= 0 && r <= 3) H5Sget_simple_extent_dims(s, dims, NULL);
  *cls = H5Tget_class(t);
  H5Tclose(t);
  H5Sclose(s);
  H5Dclose(d);
  return r;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: check_gan RUN_H5 ITERATIONS LOG_EVERY EVALS CONDITIONAL\n");
    return 2;
  }
  long iters = atol(argv[2]), every = atol(argv[3]), evals = atol(argv[4]);
  int cond = atoi(argv[5]);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    fprintf(stderr, "FAIL: cannot open %s\n", argv[1]);
    return 1;
  }
  char status[64] = "";
  hid_t a = H5Aopen(f, "status", H5P_DEFAULT);
  if (a >= 0) {
    hid_t t = H5Aget_type(a); /* fixed-length UTF-8: read in its own type */
    if (!H5Tis_variable_str(t) && H5Tget_size(t) < sizeof status) H5Aread(a, t, status);
    H5Tclose(t);
    H5Aclose(a);
  }
  CHECK(strncmp(status, "done", 4) == 0, "status '%s'", status);
  static double v[100000];
  long want = iters / every;
  const char *series[] = {"iteration", "iter_d", "iter_g", "iter_d_real", "iter_d_fake"};
  for (int i = 0; i < 5; i++) {
    char p[64];
    snprintf(p, sizeof p, "/metrics/%s", series[i]);
    long n = read_f64(f, p, v, 100000);
    CHECK(n == want, "%s: %ld points, expected %ld", p, n, want);
    for (long k = 0; k < n; k++) {
      CHECK(isfinite(v[k]), "%s[%ld] = %g", p, k, v[k]);
      if (i == 0) CHECK(v[k] == (double)(k + 1) * every, "%s[%ld] = %g", p, k, v[k]);
      if (i >= 3) CHECK(v[k] > 0 && v[k] < 1, "%s[%ld] = %g is not a probability", p, k, v[k]);
    }
  }
  long ne = read_f64(f, "/metrics/eval_iteration", v, 100000);
  CHECK(ne == evals, "eval_iteration: %ld points, expected %ld", ne, evals);
  CHECK(ne > 0 && v[ne - 1] == (double)iters, "the last evaluation at %g, expected %ld", ne > 0 ? v[ne - 1] : NAN, iters);
  CHECK(read_f64(f, "/metrics/frechet", v, 100000) == evals, "frechet series");
  double x;
  CHECK(read_f64(f, "/final/frechet", &x, 1) == 1 && x > 0 && isfinite(x), "final frechet %g", x);
  CHECK(read_f64(f, "/final/judge_covered", &x, 1) == 1 && x >= 0 && x <= 10, "judge_covered %g", x);
  CHECK(read_f64(f, "/final/judge_score", &x, 1) == 1 && x >= 1 - 1e-9 && x <= 10 + 1e-9, "judge_score %g", x);
  CHECK(read_f64(f, "/final/quality_samples", &x, 1) == 1 && x >= 2, "quality_samples %g", x);
  CHECK(read_f64(f, "/final/mode_collapsed", &x, 1) == 1 && (x == 0 || x == 1), "mode_collapsed %g", x);
  if (cond) CHECK(read_f64(f, "/final/judge_agreement", &x, 1) == 1 && x >= 0 && x <= 1, "judge_agreement %g", x);
  struct {
    const char *path;
    long n;
  } imgs[] = {{"/samples/samples", cond ? 80 : 64},   {"/samples/progress", 8 * evals},
              {"/samples/walk_ones", 48},             {"/samples/walk_random", 48},
              {"/samples/interpolation", 40},         {"/pictures/walk_ones_z", 48},
              {"/pictures/interpolation_z", 40}};
  for (size_t i = 0; i < sizeof imgs / sizeof imgs[0]; i++) {
    hsize_t d[3] = {0};
    H5T_class_t c = H5T_NO_CLASS;
    int r = shape_of(f, imgs[i].path, d, &c);
    int picture = strncmp(imgs[i].path, "/samples/", 9) == 0;
    CHECK(r == (picture ? 3 : 2) && (long)d[0] == imgs[i].n && (!picture || (d[1] == 28 && d[2] == 28)),
          "%s: rank %d, %llu x %llu x %llu, expected %ld", imgs[i].path, r, (unsigned long long)d[0],
          (unsigned long long)d[1], (unsigned long long)d[2], imgs[i].n);
    CHECK(c == (picture ? H5T_INTEGER : H5T_FLOAT), "%s: type class %d", imgs[i].path, (int)c);
  }
  const char *params[] = {"/params/d_src.w", "/params/g1.w", "/params/gfc.w"};
  int have = 0;
  for (int i = 0; i < 3; i++) have += H5Lexists(f, params[i], H5P_DEFAULT) > 0;
  CHECK(have >= 2, "the parameters of both networks (%d of d_src.w, g1.w / gfc.w)", have);
  H5Fclose(f);
  if (fails) return 1;
  printf("%s: done, %ld iteration points, %ld evaluations, quality, pictures, parameters\n", argv[1], want, evals);
  return 0;
}
