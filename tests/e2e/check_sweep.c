/* Check a sweep's files through the HDF5 C API (used by tests/e2e/test_sweep.sh).
 *   check_sweep SWEEP_H5 NRUNS NDONE EPOCHS
 * sweep.h5 must index NRUNS runs in /grid; NDONE of the /runs/<id> external links must lead to
 * run files with status "done", EPOCHS finite test_neg_elbo values, a finite final
 * test_neg_elbo, uint8 prior samples and the trained parameters. Prints what it checked. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int read_str_attr(hid_t obj, const char *name, char *buf, size_t n) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a);
  size_t sz = H5Tget_size(t);
  int rc = -1;
  if (H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) && sz < n) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, sz + 1);
    H5Tset_cset(mt, H5Tget_cset(t));
    rc = H5Aread(a, mt, buf) < 0 ? -1 : 0;
    H5Tclose(mt);
  }
  H5Tclose(t);
  H5Aclose(a);
  return rc;
}

typedef struct { int n, done, epochs; } ctx;

static herr_t visit(hid_t g, const char *name, const H5L_info_t *info, void *op) {
  ctx *c = op;
  c->n++;
  CHECK(info->type == H5L_TYPE_EXTERNAL, "/runs/%s is not an external link", name);
  hid_t r = H5Gopen(g, name, H5P_DEFAULT);
  CHECK(r >= 0, "cannot follow /runs/%s", name);
  if (r < 0) return 0;
  char status[64] = "", id[256] = "";
  CHECK(read_str_attr(r, "status", status, sizeof status) == 0, "%s: no status", name);
  CHECK(read_str_attr(r, "run_id", id, sizeof id) == 0 && strcmp(id, name) == 0, "%s: run_id attr '%s'", name, id);
  if (strcmp(status, "done") == 0) {
    c->done++;
    hid_t d = H5Dopen(r, "metrics/test_neg_elbo", H5P_DEFAULT);
    CHECK(d >= 0, "%s: no metrics/test_neg_elbo", name);
    if (d >= 0) {
      hid_t s = H5Dget_space(d);
      hsize_t n = 0;
      H5Sget_simple_extent_dims(s, &n, NULL);
      CHECK((int)n == c->epochs, "%s: %llu epochs of test_neg_elbo, want %d", name, (unsigned long long)n, c->epochs);
      double v[1024];
      if (n <= 1024 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0)
        for (hsize_t i = 0; i < n; i++) CHECK(isfinite(v[i]) && v[i] > 0, "%s: test_neg_elbo[%llu] = %g", name, (unsigned long long)i, v[i]);
      H5Sclose(s);
      H5Dclose(d);
    }
    double fin = NAN;
    d = H5Dopen(r, "final/test_neg_elbo", H5P_DEFAULT);
    CHECK(d >= 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &fin) >= 0 && isfinite(fin),
          "%s: final/test_neg_elbo missing or not finite", name);
    if (d >= 0) H5Dclose(d);
    d = H5Dopen(r, "samples/prior", H5P_DEFAULT);
    CHECK(d >= 0, "%s: no samples/prior", name);
    if (d >= 0) {
      hid_t t = H5Dget_type(d), s = H5Dget_space(d);
      CHECK(H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1 && H5Sget_simple_extent_ndims(s) == 3,
            "%s: samples/prior is not uint8 [n,h,w]", name);
      H5Tclose(t);
      H5Sclose(s);
      H5Dclose(d);
    }
    d = H5Dopen(r, "params/dec3.w", H5P_DEFAULT);
    CHECK(d >= 0, "%s: no params/dec3.w", name);
    if (d >= 0) H5Dclose(d);
    printf("  %s: done, final test -ELBO %.2f\n", name, fin);
  } else {
    char msg[1024] = "";
    read_str_attr(r, "message", msg, sizeof msg);
    CHECK(msg[0] != 0, "%s: status %s without a message", name, status);
    printf("  %s: %s (%s)\n", name, status, msg);
  }
  H5Gclose(r);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: check_sweep SWEEP_H5 NRUNS NDONE EPOCHS\n");
    return 2;
  }
  int nruns = atoi(argv[2]), ndone = atoi(argv[3]);
  ctx c = {0, 0, atoi(argv[4])};
  hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    fprintf(stderr, "FAIL: cannot open %s\n", argv[1]);
    return 1;
  }
  hid_t grid = H5Dopen(f, "grid", H5P_DEFAULT);
  CHECK(grid >= 0, "no /grid");
  if (grid >= 0) {
    hid_t s = H5Dget_space(grid);
    hsize_t n = 0;
    H5Sget_simple_extent_dims(s, &n, NULL);
    CHECK((int)n == nruns, "/grid has %llu rows, want %d", (unsigned long long)n, nruns);
    hid_t t = H5Dget_type(grid);
    CHECK(H5Tget_member_index(t, "run_id") >= 0 && H5Tget_member_index(t, "status") >= 0, "/grid lacks run_id/status");
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(grid);
  }
  hid_t e = H5Dopen(f, "experiment", H5P_DEFAULT);
  CHECK(e >= 0, "no /experiment");
  if (e >= 0) H5Dclose(e);
  hid_t runs = H5Gopen(f, "runs", H5P_DEFAULT);
  CHECK(runs >= 0, "no /runs");
  if (runs >= 0) {
    H5Literate(runs, H5_INDEX_NAME, H5_ITER_INC, NULL, visit, &c);
    H5Gclose(runs);
  }
  CHECK(c.done == ndone, "%d runs done, want %d", c.done, ndone);
  H5Fclose(f);
  printf("check_sweep: %d linked runs, %d done, %d failures\n", c.n, c.done, fails);
  return fails ? 1 : 0;
}
