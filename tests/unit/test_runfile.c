/* Run records, run files and the sweep index: round trips, atomic writes, corrupt inputs,
 * external links (followed through the C API and, when /usr/bin/python3 has h5py, through h5py). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "cfgkeys.h"
#include "gensweep/models/model.h"
#include "gensweep/io/ledger.h"
#include "gensweep/io/record.h"
#include "gensweep/io/h5util.h"

/* ------------------------------------------------------------------ helpers */
#define TEST_TMP_NAME "gs_runfile"
#include "testutil.h"

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 11;
}

/* A record like a finished VAE run: series, scalars, two image sets and (optionally) params. */
static void fill_record(gs_record *r, const char *id, uint64_t hash, gs_params *p) {
  gs_record_init(r, id, "vae", hash);
  GS_STRCPY(r->status, "done");
  GS_STRCPY(r->message, "");
  r->seconds = 12.5;
  for (int e = 1; e <= 5; e++) {
    gs_record_push(r, "epoch", e);
    gs_record_push(r, "train_loss", 200.0 / e + 0.1);
    gs_record_push(r, "test_neg_elbo", 210.0 / e + 1e-9 * e);
  }
  gs_record_push(r, "with_nan", NAN);
  gs_record_push(r, "with_nan", -0.0);
  gs_record_scalar(r, "test_neg_elbo", 42.125);
  gs_record_scalar(r, "train_seconds", 11.0);
  gs_record_scalar(r, "test_iw_nll", 40.5);
  uint8_t pix[6 * 4 * 3];
  for (int i = 0; i < (int)sizeof pix; i++) pix[i] = (uint8_t)(i * 7 + 3);
  gs_record_images(r, "prior", 6, 4, 3, pix);
  gs_record_images(r, "recon", 2, 4, 3, pix + 12);
  r->params = p;
}

/* Params with awkward shapes and bit patterns (negative zero, inf, NaN, denormals). */
static void fill_params(gs_params *p) {
  memset(p, 0, sizeof *p);
  gs_params_declare(p, "enc.W1", 2, (int[]){7, 5});
  gs_params_declare(p, "enc.b1", 1, (int[]){5});
  gs_params_declare(p, "conv.k", 4, (int[]){2, 3, 3, 3});
  gs_params_declare(p, "dec.W", 2, (int[]){5, 9});
  gs_params_alloc(p);
  uint64_t s = 12345;
  for (long i = 0; i < p->total; i++) {
    uint32_t bits = (uint32_t)lcg(&s);
    memcpy(&p->data[i], &bits, 4);
  }
  p->data[p->info[0].offset] = -0.0f;
  p->data[p->info[0].offset + 1] = INFINITY;
  p->data[p->info[0].offset + 2] = 1e-42f;
}

static int params_equal(const gs_params *a, const gs_params *b) {
  for (int i = 0; i < a->count; i++)
    if (memcmp(a->data + a->info[i].offset, b->data + b->info[i].offset, sizeof(float) * a->info[i].n) != 0) return 0;
  return 1;
}

static void cfg_for_test(gs_config *c) {
  gs_config_defaults(c, gs_models_vocabulary());
  GS_STRCPY(c->sweep_name, "rf_test");
  GS_STRCPY(c->dataset, "/data/fmnist idx");
  cfg_set(c, "model.latent_dim", 7);
  c->lr = 0.00125;
}

/* HDF5 attribute readers for the checks (errors not printed). */
static int h5_attr_str(hid_t loc, const char *name, char *buf, size_t n) {
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a);
  size_t sz = H5Tget_size(t);
  char *tmp = calloc(1, sz + 1);
  int rc = H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) && H5Aread(a, t, tmp) >= 0 ? 0 : -1;
  snprintf(buf, n, "%s", tmp);
  free(tmp);
  H5Tclose(t);
  H5Aclose(a);
  return rc;
}

static int h5_attr_num(hid_t loc, const char *name, hid_t mtype, void *v, H5T_class_t *cls, size_t *size) {
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a);
  if (cls) *cls = H5Tget_class(t);
  if (size) *size = H5Tget_size(t);
  int rc = H5Aread(a, mtype, v) >= 0 ? 0 : -1;
  H5Tclose(t);
  H5Aclose(a);
  return rc;
}

static int have_h5py(void) { return access("/usr/bin/python3", X_OK) == 0 && system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0; }

/* ------------------------------------------------------------------ in-memory record */
Test(record, push_scalar_images_find) {
  gs_record r;
  gs_record_init(&r, "run-a", "vae", 0xabcdefULL);
  cr_assert_str_eq(r.run_id, "run-a");
  cr_assert_str_eq(r.model, "vae");
  cr_assert_eq(r.config_hash, 0xabcdefULL);
  cr_assert_str_neq(r.status, "done", "a fresh record must not look finished");
  cr_assert_null(gs_record_find_series(&r, "loss"));
  cr_assert_null(gs_record_find_scalar(&r, "x"));
  for (int i = 0; i < 100; i++) gs_record_push(&r, "loss", i * 0.5);
  gs_record_push(&r, "epoch", 1);
  const gs_series *s = gs_record_find_series(&r, "loss");
  cr_assert_not_null(s);
  cr_assert_eq(s->n, 100);
  cr_assert_float_eq(s->v[99], 49.5, 0);
  cr_assert_eq(r.nseries, 2);
  gs_record_scalar(&r, "x", 1.0);
  gs_record_scalar(&r, "y", 2.0);
  gs_record_scalar(&r, "x", 3.0); /* overwrites */
  cr_assert_eq(r.nscalars, 2);
  cr_assert_float_eq(*gs_record_find_scalar(&r, "x"), 3.0, 0);
  cr_assert_float_eq(*gs_record_find_scalar(&r, "y"), 2.0, 0);
  uint8_t pix[2 * 3 * 4];
  for (int i = 0; i < 24; i++) pix[i] = (uint8_t)i;
  gs_record_images(&r, "prior", 2, 3, 4, pix);
  pix[0] = 99; /* the record holds a copy */
  cr_assert_eq(r.nimages, 1);
  cr_assert_eq(r.images[0].n, 2);
  cr_assert_eq(r.images[0].h, 3);
  cr_assert_eq(r.images[0].w, 4);
  cr_assert_eq(r.images[0].pix[0], 0);
  cr_assert_eq(r.images[0].pix[23], 23);
  gs_record_images(&r, "prior", 1, 1, 1, pix); /* same name: replaced */
  cr_assert_eq(r.nimages, 1);
  cr_assert_eq(r.images[0].n, 1);
  cr_assert_eq(r.images[0].pix[0], 99);
  /* long names are truncated consistently */
  char longname[100];
  memset(longname, 'n', 99);
  longname[99] = 0;
  gs_record_scalar(&r, longname, 5.0);
  cr_assert_not_null(gs_record_find_scalar(&r, longname));
  gs_record_free(&r);
  cr_assert_eq(r.nseries, 0);
  cr_assert_eq(r.nimages, 0);
  gs_record_free(&r); /* twice is harmless */
}

/* ------------------------------------------------------------------ run file round trip */
Test(runfile, round_trip) {
  char dir[64], path[128], tmp[140];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/a.h5", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  gs_params p, q;
  fill_params(&p);
  gs_config cfg;
  cfg_for_test(&cfg);
  gs_record r;
  fill_record(&r, "latent_dim-7_seed-1", 0x0123456789abcdefULL, &p);
  gs_error err = {0};
  int rc = gs_runfile_write(path, &r, &cfg, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  cr_assert(exists(path));
  cr_assert(!exists(tmp), "temporary file left behind");

  gs_run_summary s;
  cr_assert_eq(gs_runfile_read_summary(path, &s, &err), 0, "%s", err.msg);
  cr_assert_str_eq(s.run_id, "latent_dim-7_seed-1");
  cr_assert_str_eq(s.status, "done");
  cr_assert_str_eq(s.message, "");
  cr_assert_eq(s.config_hash, 0x0123456789abcdefULL);
  cr_assert_float_eq(s.seconds, 12.5, 0);
  cr_assert_eq(s.nscalars, 3);
  /* in recorded order */
  cr_assert_str_eq(s.scalars[0].name, "test_neg_elbo");
  cr_assert_float_eq(s.scalars[0].v, 42.125, 0);
  cr_assert_str_eq(s.scalars[2].name, "test_iw_nll");

  /* full read, params into a second block with the same declarations */
  memset(&q, 0, sizeof q);
  for (int i = 0; i < p.count; i++) gs_params_declare(&q, p.info[i].name, p.info[i].ndim, p.info[i].shape);
  gs_params_alloc(&q);
  gs_record b;
  cr_assert_eq(gs_runfile_read(path, &b, &q, &err), 0, "%s", err.msg);
  cr_assert_str_eq(b.run_id, r.run_id);
  cr_assert_str_eq(b.model, "vae");
  cr_assert_str_eq(b.status, "done");
  cr_assert_eq(b.config_hash, r.config_hash);
  cr_assert_float_eq(b.seconds, 12.5, 0);
  cr_assert_eq(b.nseries, r.nseries);
  for (int i = 0; i < r.nseries; i++) {
    cr_assert_str_eq(b.series[i].name, r.series[i].name, "series order");
    cr_assert_eq(b.series[i].n, r.series[i].n);
    cr_assert(memcmp(b.series[i].v, r.series[i].v, sizeof(double) * r.series[i].n) == 0, "series %s", r.series[i].name);
  }
  cr_assert_eq(b.nscalars, r.nscalars);
  for (int i = 0; i < r.nscalars; i++) {
    cr_assert_str_eq(b.scalars[i].name, r.scalars[i].name);
    cr_assert_eq(b.scalars[i].v, r.scalars[i].v);
  }
  cr_assert_eq(b.nimages, 2);
  for (int i = 0; i < 2; i++) {
    cr_assert_str_eq(b.images[i].name, r.images[i].name);
    cr_assert_eq(b.images[i].n, r.images[i].n);
    cr_assert_eq(b.images[i].h, 4);
    cr_assert_eq(b.images[i].w, 3);
    cr_assert(memcmp(b.images[i].pix, r.images[i].pix, (size_t)r.images[i].n * 12) == 0);
  }
  cr_assert(params_equal(&p, &q), "parameters not bit-exact");
  cr_assert_eq(b.params, &q);
  gs_record_free(&b);

  /* read without params */
  cr_assert_eq(gs_runfile_read(path, &b, NULL, &err), 0, "%s", err.msg);
  cr_assert_null(b.params);
  gs_record_free(&b);

  /* attributes, read straight through HDF5 */
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  char buf[4096];
  cr_assert_eq(h5_attr_str(f, "config_hash", buf, sizeof buf), 0);
  cr_assert_str_eq(buf, "0123456789abcdef");
  cr_assert_eq(h5_attr_str(f, "gensweep_version", buf, sizeof buf), 0);
  cr_assert_str_eq(buf, GS_VERSION);
  cr_assert_eq(h5_attr_str(f, "model", buf, sizeof buf), 0);
  cr_assert_str_eq(buf, "vae");
  cr_assert_eq(h5_attr_str(f, "data.dataset", buf, sizeof buf), 0);
  cr_assert_str_eq(buf, "/data/fmnist idx");
  cr_assert_eq(h5_attr_str(f, "model.name", buf, sizeof buf), 0);
  cr_assert_str_eq(buf, cfg.model);
  cr_assert_eq(h5_attr_str(f, "config", buf, sizeof buf), 0);
  char *canon = gs_config_canonical(&cfg);
  cr_assert_str_eq(buf, canon);
  free(canon);
  int64_t iv = 0;
  H5T_class_t cls;
  size_t size;
  cr_assert_eq(h5_attr_num(f, "model.latent_dim", H5T_NATIVE_INT64, &iv, &cls, &size), 0);
  cr_assert_eq(cls, H5T_INTEGER);
  cr_assert_eq(size, 8);
  cr_assert_eq(iv, 7);
  double dv = 0;
  cr_assert_eq(h5_attr_num(f, "train.lr", H5T_NATIVE_DOUBLE, &dv, &cls, &size), 0);
  cr_assert_eq(cls, H5T_FLOAT);
  cr_assert_eq(dv, 0.00125);
  /* every key of the table is there */
  const gs_vocabulary *v = gs_models_vocabulary();
  for (int i = 0; i < v->nkeys; i++) {
    char an[160];
    snprintf(an, sizeof an, "%s.%s", v->keys[i]->section, v->keys[i]->name);
    cr_assert_gt(H5Aexists(f, an), 0, "attribute %s missing", an);
  }
  /* samples are chunked + deflate; params keep their shapes */
  hid_t d = H5Dopen2(f, "samples/prior", H5P_DEFAULT);
  hid_t dcpl = H5Dget_create_plist(d);
  cr_assert_eq(H5Pget_layout(dcpl), H5D_CHUNKED);
  cr_assert_eq(H5Pget_nfilters(dcpl), 1);
  unsigned flags, cd[4];
  size_t ncd = 4;
  cr_assert_eq(H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_DEFLATE);
  cr_assert_eq(cd[0], 4);
  H5Pclose(dcpl);
  H5Dclose(d);
  d = H5Dopen2(f, "params/conv.k", H5P_DEFAULT);
  hid_t sp = H5Dget_space(d);
  hsize_t dims[4];
  cr_assert_eq(H5Sget_simple_extent_dims(sp, dims, NULL), 4);
  cr_assert(dims[0] == 2 && dims[1] == 3 && dims[2] == 3 && dims[3] == 3);
  hid_t t = H5Dget_type(d);
  cr_assert(H5Tequal(t, H5T_IEEE_F32LE) > 0);
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);

  gs_record_free(&r);
  gs_params_free(&p);
  gs_params_free(&q);
  rm_rf(dir);
}

/* Groups exist even when empty; no params; no config. */
Test(runfile, empty_record_layout) {
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/e.h5", dir);
  gs_record r;
  gs_record_init(&r, "run", "cvae", 1);
  GS_STRCPY(r.status, "diverged");
  GS_STRCPY(r.message, "loss is NaN at epoch 3: a \"quoted\" message, with UTF-8 \xc3\xa9");
  gs_record_push(&r, "empty_later", 1.0);
  r.series[0].n = 0; /* a declared but empty series */
  gs_error err = {0};
  cr_assert_eq(gs_runfile_write(path, &r, NULL, &err), 0, "%s", err.msg);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  const char *groups[] = {"metrics", "final", "samples", "params"};
  for (int i = 0; i < 4; i++) cr_assert_gt(H5Lexists(f, groups[i], H5P_DEFAULT), 0, "/%s missing", groups[i]);
  H5Fclose(f);
  gs_record b;
  cr_assert_eq(gs_runfile_read(path, &b, NULL, &err), 0, "%s", err.msg);
  cr_assert_str_eq(b.status, "diverged");
  cr_assert_str_eq(b.message, r.message);
  cr_assert_eq(b.nseries, 1);
  cr_assert_eq(b.series[0].n, 0);
  cr_assert_eq(b.nscalars, 0);
  cr_assert_eq(b.nimages, 0);
  gs_record_free(&b);
  gs_record_free(&r);
  rm_rf(dir);
}

Test(runfile, params_mismatch_is_an_error) {
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/p.h5", dir);
  gs_params p;
  fill_params(&p);
  gs_record r;
  fill_record(&r, "run", 5, &p);
  gs_error err = {0};
  cr_assert_eq(gs_runfile_write(path, &r, NULL, &err), 0, "%s", err.msg);

  gs_params q; /* same names, one shape differs */
  memset(&q, 0, sizeof q);
  for (int i = 0; i < p.count; i++) {
    int shape[4];
    memcpy(shape, p.info[i].shape, sizeof shape);
    if (i == 3) shape[1] = 10;
    gs_params_declare(&q, p.info[i].name, p.info[i].ndim, shape);
  }
  gs_params_alloc(&q);
  gs_record b;
  cr_assert_eq(gs_runfile_read(path, &b, &q, &err), -1);
  cr_assert(strstr(err.msg, path) && strstr(err.msg, "dec.W") && strstr(err.msg, "shape"), "%s", err.msg);
  cr_assert_eq(b.nseries, 0, "record left empty after a failed read");
  gs_record_free(&b);
  gs_params_free(&q);

  memset(&q, 0, sizeof q); /* a name the file does not have */
  for (int i = 0; i < p.count; i++) gs_params_declare(&q, i == 1 ? "enc.bias" : p.info[i].name, p.info[i].ndim, p.info[i].shape);
  gs_params_alloc(&q);
  cr_assert_eq(gs_runfile_read(path, &b, &q, &err), -1);
  cr_assert(strstr(err.msg, "enc.bias"), "%s", err.msg);
  gs_params_free(&q);

  memset(&q, 0, sizeof q); /* fewer parameters */
  gs_params_declare(&q, "enc.W1", 2, (int[]){7, 5});
  gs_params_alloc(&q);
  cr_assert_eq(gs_runfile_read(path, &b, &q, &err), -1);
  cr_assert(strstr(err.msg, "/params"), "%s", err.msg);
  gs_params_free(&q);

  gs_record_free(&r);
  gs_params_free(&p);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ atomicity */
Test(runfile, atomic_write_failures_leave_nothing) {
  char dir[64], path[160], tmp[170];
  make_tmpdir(dir, sizeof dir);
  gs_record r;
  fill_record(&r, "run", 5, NULL);
  gs_error err = {0};

  /* missing directory */
  snprintf(path, sizeof path, "%s/no/such/dir/a.h5", dir);
  cr_assert_eq(gs_runfile_write(path, &r, NULL, &err), -1);
  cr_assert(strstr(err.msg, path) != NULL, "message does not name the path: %s", err.msg);
  cr_assert(strstr(err.msg, "No such file") != NULL, "message does not say why: %s", err.msg);
  cr_assert(!exists(path));

  /* a write that fails half-way (two parameters with the same name) leaves no file, and an
   * older complete file at the same path untouched */
  snprintf(path, sizeof path, "%s/b.h5", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  gs_params bad;
  memset(&bad, 0, sizeof bad);
  gs_params_declare(&bad, "w", 1, (int[]){3});
  gs_params_declare(&bad, "w", 1, (int[]){3});
  gs_params_alloc(&bad);
  r.params = &bad;
  cr_assert_eq(gs_runfile_write(path, &r, NULL, &err), -1);
  cr_assert(strstr(err.msg, path) && strstr(err.msg, "/params/w"), "%s", err.msg);
  cr_assert(!exists(path), "failed write left the final file");
  cr_assert(!exists(tmp), "failed write left the temporary file");
  r.params = NULL;
  cr_assert_eq(gs_runfile_write(path, &r, NULL, &err), 0, "%s", err.msg);
  long size1 = file_size(path);
  gs_record r2;
  fill_record(&r2, "run", 5, &bad);
  GS_STRCPY(r2.status, "failed");
  cr_assert_eq(gs_runfile_write(path, &r2, NULL, &err), -1);
  gs_run_summary s;
  cr_assert_eq(gs_runfile_read_summary(path, &s, &err), 0, "old file damaged: %s", err.msg);
  cr_assert_str_eq(s.status, "done");
  cr_assert_eq(file_size(path), size1);
  cr_assert(!exists(tmp));

  /* a stale .tmp from a crashed writer does not get in the way */
  write_bytes(tmp, "garbage", 7);
  cr_assert_eq(gs_runfile_write(path, &r, NULL, &err), 0, "%s", err.msg);
  cr_assert(!exists(tmp));

  /* read-only directory (root ignores permissions: use the immutable flag) */
  char ro[100], cmd[300];
  snprintf(ro, sizeof ro, "%s/ro", dir);
  cr_assert_eq(mkdir(ro, 0755), 0);
  int locked = 0;
  if (geteuid() == 0) {
    snprintf(cmd, sizeof cmd, "chattr +i '%s' 2>/dev/null", ro);
    locked = system(cmd) == 0;
  } else {
    locked = chmod(ro, 0555) == 0;
  }
  if (locked) {
    snprintf(path, sizeof path, "%s/c.h5", ro);
    int rc = gs_runfile_write(path, &r, NULL, &err);
    int left = exists(path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    left |= exists(tmp);
    if (geteuid() == 0) snprintf(cmd, sizeof cmd, "chattr -i '%s'", ro), (void)!system(cmd);
    else chmod(ro, 0755);
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err.msg, path) != NULL, "%s", err.msg);
    cr_assert(!left, "file left in the read-only directory");
  } else {
    cr_log_warn("could not make a read-only directory: read-only case skipped");
  }

  gs_params_free(&bad);
  gs_record_free(&r);
  gs_record_free(&r2);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ corrupt inputs */
static void expect_unreadable(const char *path, const char *what) {
  gs_run_summary s;
  gs_error err = {0};
  cr_assert_eq(gs_runfile_read_summary(path, &s, &err), -1, "%s: summary read succeeded", what);
  cr_assert(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", what, err.msg);
  gs_record r;
  err.msg[0] = 0;
  cr_assert_eq(gs_runfile_read(path, &r, NULL, &err), -1, "%s: full read succeeded", what);
  cr_assert(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", what, err.msg);
  gs_record_free(&r);
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*n);
  cr_assert_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

Test(runfile, corrupt_inputs_are_errors_naming_the_file) {
  /* HDF5 1.10.8 leaks free-list blocks when a metadata checksum fails (h5dump does the same) and
   * then prints "HDF5: infinite loop closing library" at exit: keep that out of the test output.
   * Nothing is left open here (checked below with H5Fget_obj_count). */
  H5dont_atexit();
  char dir[64], good[128], path[160];
  make_tmpdir(dir, sizeof dir);
  snprintf(good, sizeof good, "%s/good.h5", dir);
  gs_params p;
  fill_params(&p);
  gs_record r;
  fill_record(&r, "run", 5, &p);
  gs_error err = {0};
  cr_assert_eq(gs_runfile_write(good, &r, NULL, &err), 0, "%s", err.msg);
  size_t n;
  char *bytes = slurp(good, &n);

  /* HDF5 must print nothing: catch stderr in a file */
  char errfile[128];
  snprintf(errfile, sizeof errfile, "%s/stderr.txt", dir);
  fflush(stderr);
  int saved = dup(2), fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert(saved >= 0 && fd >= 0);
  dup2(fd, 2);
  close(fd);
  H5E_auto2_t fn0 = NULL;
  void *data0 = NULL;
  H5Eget_auto2(H5E_DEFAULT, &fn0, &data0);

  snprintf(path, sizeof path, "%s/missing.h5", dir);
  expect_unreadable(path, "missing file");

  snprintf(path, sizeof path, "%s/empty.h5", dir);
  write_bytes(path, "", 0);
  expect_unreadable(path, "empty file");

  snprintf(path, sizeof path, "%s/text.h5", dir);
  const char *text = "this is not an HDF5 file\nbut a text file of some length\n";
  write_bytes(path, text, strlen(text));
  expect_unreadable(path, "text file");

  snprintf(path, sizeof path, "%s/truncated.h5", dir);
  write_bytes(path, bytes, n / 2);
  expect_unreadable(path, "truncated to half");

  snprintf(path, sizeof path, "%s/truncated_more.h5", dir);
  write_bytes(path, bytes, 600);
  expect_unreadable(path, "truncated to 600 bytes");

  /* a bit flip anywhere in the superblock (48 bytes, checksummed, signature first) */
  char *c = malloc(n);
  for (size_t i = 0; i < 48; i++) {
    memcpy(c, bytes, n);
    c[i] ^= (char)(1 << (i % 8));
    snprintf(path, sizeof path, "%s/flip%zu.h5", dir, i);
    write_bytes(path, c, n);
    char what[64];
    snprintf(what, sizeof what, "bit flip at byte %zu", i);
    expect_unreadable(path, what);
    unlink(path);
  }
  /* bytes flipped all over the file: an error, or (raw data) a successful read, never a crash */
  int nerr = 0, nok = 0;
  snprintf(path, sizeof path, "%s/flipped.h5", dir);
  for (size_t i = 48; i < n; i += 29) {
    memcpy(c, bytes, n);
    c[i] ^= (char)0x5a;
    write_bytes(path, c, n);
    gs_record rr;
    gs_params q;
    memset(&q, 0, sizeof q);
    for (int k = 0; k < p.count; k++) gs_params_declare(&q, p.info[k].name, p.info[k].ndim, p.info[k].shape);
    gs_params_alloc(&q);
    err.msg[0] = 0;
    if (gs_runfile_read(path, &rr, &q, &err) == 0) nok++;
    else {
      nerr++;
      cr_assert(strstr(err.msg, path) != NULL, "flip at %zu: %s", i, err.msg);
    }
    gs_record_free(&rr);
    gs_params_free(&q);
  }
  cr_assert_gt(nerr, 0);
  cr_assert_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0, "HDF5 objects left open after failed reads");
  free(c);

  /* a directory */
  expect_unreadable(dir, "directory");

  /* a valid HDF5 file that is not a run file */
  snprintf(path, sizeof path, "%s/other.h5", dir);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(f);
  expect_unreadable(path, "HDF5 file without run attributes");
  gs_run_summary s;
  gs_runfile_read_summary(path, &s, &err);
  cr_assert(strstr(err.msg, "status") != NULL, "%s", err.msg);

  H5E_auto2_t fn1 = NULL;
  void *data1 = NULL;
  H5Eget_auto2(H5E_DEFAULT, &fn1, &data1);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  cr_assert(fn1 == fn0 && data1 == data0, "HDF5 automatic error printing not restored");
  long esz = file_size(errfile);
  if (esz != 0) {
    size_t en;
    char *e = slurp(errfile, &en);
    cr_assert_eq(esz, 0, "something was printed to stderr:\n%.*s", (int)en, e);
  }

  /* and the messages say what is wrong */
  snprintf(path, sizeof path, "%s/text.h5", dir);
  gs_runfile_read_summary(path, &s, &err);
  cr_assert(strstr(err.msg, "not a readable HDF5 file"), "%s", err.msg);
  snprintf(path, sizeof path, "%s/missing.h5", dir);
  gs_runfile_read_summary(path, &s, &err);
  cr_assert(strstr(err.msg, "No such file"), "%s", err.msg);

  free(bytes);
  gs_record_free(&r);
  gs_params_free(&p);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ sweep index */
static const char *grid_text = "[sweep]\n"
                               "name = rf_test\n"
                               "[grid]\n"
                               "model.latent_dim = 2, 5\n"
                               "train.seed = 1, 2\n";

typedef struct grid {
  hid_t type;
  size_t rowsize;
  long n;
  char *rows;
} grid;

static void grid_read(hid_t f, grid *g) {
  hid_t d = H5Dopen2(f, "grid", H5P_DEFAULT);
  cr_assert_geq(d, 0, "/grid missing");
  g->type = H5Dget_type(d);
  cr_assert_eq(H5Tget_class(g->type), H5T_COMPOUND);
  g->rowsize = H5Tget_size(g->type);
  hid_t sp = H5Dget_space(d);
  g->n = (long)H5Sget_simple_extent_npoints(sp);
  H5Sclose(sp);
  g->rows = calloc((size_t)(g->n ? g->n : 1), g->rowsize);
  cr_assert_geq(H5Dread(d, g->type, H5S_ALL, H5S_ALL, H5P_DEFAULT, g->rows), 0);
  H5Dclose(d);
}

static void grid_str(const grid *g, long row, const char *col, char *buf, size_t n) {
  int i = H5Tget_member_index(g->type, col);
  cr_assert_geq(i, 0, "column %s missing", col);
  hid_t mt = H5Tget_member_type(g->type, (unsigned)i);
  cr_assert_eq(H5Tget_class(mt), H5T_STRING);
  size_t sz = H5Tget_size(mt), off = H5Tget_member_offset(g->type, (unsigned)i);
  H5Tclose(mt);
  snprintf(buf, n, "%.*s", (int)sz, g->rows + (size_t)row * g->rowsize + off);
}

static double grid_num(const grid *g, long row, const char *col) {
  int i = H5Tget_member_index(g->type, col);
  cr_assert_geq(i, 0, "column %s missing", col);
  hid_t mt = H5Tget_member_type(g->type, (unsigned)i);
  cr_assert_eq(H5Tget_class(mt), H5T_FLOAT);
  H5Tclose(mt);
  double v;
  memcpy(&v, g->rows + (size_t)row * g->rowsize + H5Tget_member_offset(g->type, (unsigned)i), sizeof v);
  return v;
}

static void write_run(const char *dir, const gs_run *run, const char *names[], const double *vals, int nv) {
  char path[600];
  snprintf(path, sizeof path, "%s/runs/%s.h5", dir, run->id);
  gs_record r;
  gs_record_init(&r, run->id, run->cfg.model, run->hash);
  GS_STRCPY(r.status, "done");
  GS_STRCPY(r.message, "");
  r.seconds = 3.25;
  for (int e = 0; e < 3; e++) gs_record_push(&r, "test_neg_elbo", 100.0 - e);
  for (int i = 0; i < nv; i++) gs_record_scalar(&r, names[i], vals[i]);
  gs_error err = {0};
  cr_assert_eq(gs_runfile_write(path, &r, &run->cfg, &err), 0, "%s", err.msg);
  gs_record_free(&r);
}

Test(sweepfile, statuses_metric_union_and_links) {
  char dir[64], sub[128], path[600];
  make_tmpdir(dir, sizeof dir);
  snprintf(sub, sizeof sub, "%s/runs", dir);
  cr_assert_eq(mkdir(sub, 0755), 0);
  gs_sweep sw;
  gs_error err = {0};
  cr_assert_eq(gs_sweep_load_text("experiments/rf_test.ini", gs_models_vocabulary(), grid_text, &sw, &err), 0, "%s", err.msg);
  cr_assert_eq(sw.nruns, 4);
  cr_assert_eq(sw.naxes, 2);

  /* run 0, 1: files; 2: corrupt; 3: nothing */
  write_run(dir, &sw.runs[0], (const char *[]){"test_neg_elbo", "x"}, (double[]){90.5, 1.5}, 2);
  write_run(dir, &sw.runs[1], (const char *[]){"x", "y", "seconds"}, (double[]){2.5, 7.0, 99.0}, 3);
  snprintf(path, sizeof path, "%s/runs/%s.h5", dir, sw.runs[2].id);
  write_bytes(path, "\x89HDF\r\n\x1a\n but then nothing", 25);

  cr_assert_eq(gs_sweepfile_write(dir, &sw, &err), 0, "%s", err.msg);
  char sweep[200], stmp[220];
  snprintf(sweep, sizeof sweep, "%s/sweep.h5", dir);
  snprintf(stmp, sizeof stmp, "%s/sweep.h5.tmp", dir);
  cr_assert(exists(sweep));
  cr_assert(!exists(stmp));

  hid_t f = H5Fopen(sweep, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  char buf[4096];
  cr_assert_eq(h5_attr_str(f, "sweep_name", buf, sizeof buf), 0);
  cr_assert_str_eq(buf, sw.base.sweep_name);
  cr_assert_eq(h5_attr_str(f, "experiment_path", buf, sizeof buf), 0);
  cr_assert_str_eq(buf, "experiments/rf_test.ini");
  cr_assert_eq(h5_attr_str(f, "gensweep_version", buf, sizeof buf), 0);
  cr_assert_str_eq(buf, GS_VERSION);
  int64_t v64 = 0;
  cr_assert_eq(h5_attr_num(f, "nruns", H5T_NATIVE_INT64, &v64, NULL, NULL), 0);
  cr_assert_eq(v64, 4);
  cr_assert_eq(h5_attr_num(f, "naxes", H5T_NATIVE_INT64, &v64, NULL, NULL), 0);
  cr_assert_eq(v64, 2);
  {
    hid_t a = H5Aopen(f, "axes", H5P_DEFAULT);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    cr_assert_eq(H5Sget_simple_extent_npoints(sp), 2);
    size_t sz = H5Tget_size(t);
    char *ax = calloc(2, sz);
    cr_assert_geq(H5Aread(a, t, ax), 0);
    cr_assert_str_eq(ax, "model.latent_dim");
    cr_assert_str_eq(ax + sz, "train.seed");
    free(ax);
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
  }
  {
    hid_t d = H5Dopen2(f, "experiment", H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    size_t sz = H5Tget_size(t);
    char *txt = calloc(1, sz + 1);
    cr_assert_geq(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, txt), 0);
    cr_assert_str_eq(txt, grid_text);
    free(txt);
    H5Tclose(t);
    H5Dclose(d);
  }

  grid g;
  grid_read(f, &g);
  cr_assert_eq(g.n, 4);
  /* columns in order */
  const char *want[] = {"run_id", "status", "model.latent_dim", "train.seed", "message",
                        "test_neg_elbo", "x", "y", "final.seconds", "seconds"};
  cr_assert_eq(H5Tget_nmembers(g.type), 10);
  for (unsigned i = 0; i < 10; i++) {
    char *nm = H5Tget_member_name(g.type, i);
    cr_assert_str_eq(nm, want[i], "column %u", i);
    H5free_memory(nm);
  }
  const char *st[] = {"done", "done", "corrupt", "pending"};
  for (long i = 0; i < 4; i++) {
    grid_str(&g, i, "run_id", buf, sizeof buf);
    cr_assert_str_eq(buf, sw.runs[i].id);
    grid_str(&g, i, "status", buf, sizeof buf);
    cr_assert_str_eq(buf, st[i], "row %ld", i);
    for (int a = 0; a < 2; a++) {
      grid_str(&g, i, sw.axes[a].fullname, buf, sizeof buf);
      cr_assert_str_eq(buf, sw.axes[a].values[sw.runs[i].value_index[a]]);
    }
  }
  grid_str(&g, 2, "message", buf, sizeof buf);
  cr_assert(strstr(buf, sw.runs[2].id) != NULL, "corrupt run's message should name its file: %s", buf);
  cr_assert_eq(grid_num(&g, 0, "test_neg_elbo"), 90.5);
  cr_assert_eq(grid_num(&g, 0, "x"), 1.5);
  cr_assert(isnan(grid_num(&g, 0, "y")));
  cr_assert(isnan(grid_num(&g, 1, "test_neg_elbo")));
  cr_assert_eq(grid_num(&g, 1, "x"), 2.5);
  cr_assert_eq(grid_num(&g, 1, "y"), 7.0);
  cr_assert_eq(grid_num(&g, 1, "final.seconds"), 99.0);
  cr_assert_eq(grid_num(&g, 1, "seconds"), 3.25);
  for (long i = 2; i < 4; i++) {
    cr_assert(isnan(grid_num(&g, i, "x")));
    cr_assert(isnan(grid_num(&g, i, "seconds")));
  }

  /* external links: only for readable run files; followed through the C API */
  for (long i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "runs/%s", sw.runs[i].id);
    htri_t ex = H5Lexists(f, path, H5P_DEFAULT);
    cr_assert_eq(ex > 0, i < 2, "link %s", path);
    if (i >= 2) continue;
    H5L_info_t li;
    cr_assert_geq(H5Lget_info(f, path, &li, H5P_DEFAULT), 0);
    cr_assert_eq(li.type, H5L_TYPE_EXTERNAL);
    snprintf(path, sizeof path, "runs/%s/final/x", sw.runs[i].id);
    hid_t o = H5Oopen(f, path, H5P_DEFAULT);
    cr_assert_geq(o, 0, "cannot follow %s", path);
    double x = 0;
    cr_assert_geq(H5Dread(o, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &x), 0);
    cr_assert_eq(x, i == 0 ? 1.5 : 2.5);
    H5Oclose(o);
  }
  H5Tclose(g.type);
  free(g.rows);
  H5Fclose(f);

  /* the results directory can move: links are relative to sweep.h5 */
  char moved[100];
  snprintf(moved, sizeof moved, "%s_moved", dir);
  cr_assert_eq(rename(dir, moved), 0);
  char cwd[1024];
  cr_assert_not_null(getcwd(cwd, sizeof cwd));
  cr_assert_eq(chdir("/"), 0); /* not from the directory's parent either */
  snprintf(sweep, sizeof sweep, "%s/sweep.h5", moved);
  f = H5Fopen(sweep, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  snprintf(path, sizeof path, "runs/%s/metrics/test_neg_elbo", sw.runs[0].id);
  hid_t o = H5Oopen(f, path, H5P_DEFAULT);
  cr_assert_geq(o, 0, "link not followed after moving the directory");
  double te[3];
  cr_assert_geq(H5Dread(o, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, te), 0);
  cr_assert_eq(te[2], 98.0);
  H5Oclose(o);
  H5Fclose(f);
  cr_assert_eq(chdir(cwd), 0);

  /* h5ls shows it all */
  if (access("/usr/bin/h5ls", X_OK) == 0) {
    char cmd[700], out[200];
    snprintf(out, sizeof out, "%s/h5ls.txt", moved);
    snprintf(cmd, sizeof cmd, "h5ls -r '%s' > '%s' 2>&1", sweep, out);
    cr_assert_eq(system(cmd), 0, "h5ls -r failed");
    size_t n;
    char *txt = slurp(out, &n);
    txt = realloc(txt, n + 1);
    txt[n] = 0;
    cr_assert(strstr(txt, "/grid") && strstr(txt, "External Link") && strstr(txt, "/experiment"), "%s", txt);
    free(txt);
  }

  /* h5py follows the links too */
  if (have_h5py()) {
    char script[200], cmd[1200];
    snprintf(script, sizeof script, "%s/check.py", moved);
    const char *py =
        "import sys, math, h5py\n"
        "f = h5py.File(sys.argv[1], 'r')\n"
        "ids = sys.argv[2:]\n"
        "v = f['runs/%s/metrics/test_neg_elbo' % ids[0]][:]\n"
        "assert list(v) == [100.0, 99.0, 98.0], v\n"
        "r = f['runs/' + ids[1]]\n"
        "assert r.attrs['status'].decode() == 'done'\n"
        "assert r.attrs['run_id'].decode() == ids[1]\n"
        "assert int(r.attrs['model.latent_dim']) in (2, 5)\n"
        "assert r['final/y'][()] == 7.0\n"
        "g = f['grid'][:]\n"
        "assert [s.decode() for s in g['status']] == ['done', 'done', 'corrupt', 'pending'], g['status']\n"
        "assert [s.decode() for s in g['run_id']] == ids\n"
        "assert math.isnan(g['y'][0]) and g['x'][1] == 2.5\n"
        "assert sorted(f['runs'].keys()) == sorted(ids[:2])\n"
        "assert [a.decode() for a in f.attrs['axes']] == ['model.latent_dim', 'train.seed']\n"
        "assert f.attrs['sweep_name'].decode() and f.attrs['nruns'] == 4\n"
        "assert f['experiment'][()].decode().startswith('[sweep]')\n"
        "print('h5py ok')\n";
    write_bytes(script, py, strlen(py));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' '%s' '%s' '%s' '%s'", script, sweep, sw.runs[0].id,
             sw.runs[1].id, sw.runs[2].id, sw.runs[3].id);
    cr_assert_eq(system(cmd), 0, "h5py check failed");
  } else {
    cr_log_warn("/usr/bin/python3 has no h5py: h5py check skipped");
  }

  /* a run file from other parameters is "stale"; the index is rebuilt in place */
  snprintf(path, sizeof path, "%s/runs/%s.h5", moved, sw.runs[3].id);
  gs_run other = sw.runs[3];
  other.hash ^= 1;
  char m2[128];
  snprintf(m2, sizeof m2, "%s", moved);
  write_run(m2, &other, (const char *[]){"x"}, (double[]){4.0}, 1);
  cr_assert_eq(gs_sweepfile_write(moved, &sw, &err), 0, "%s", err.msg);
  f = H5Fopen(sweep, H5F_ACC_RDONLY, H5P_DEFAULT);
  grid_read(f, &g);
  grid_str(&g, 3, "status", buf, sizeof buf);
  cr_assert_str_eq(buf, "stale");
  grid_str(&g, 3, "message", buf, sizeof buf);
  cr_assert(strstr(buf, "other parameters"), "%s", buf);
  H5Tclose(g.type);
  free(g.rows);
  H5Fclose(f);

  /* a directory that does not exist: error naming it, nothing created */
  char nodir[200];
  snprintf(nodir, sizeof nodir, "%s/nope", moved);
  cr_assert_eq(gs_sweepfile_write(nodir, &sw, &err), -1);
  cr_assert(strstr(err.msg, nodir) != NULL, "%s", err.msg);

  gs_sweep_free(&sw);
  rm_rf(moved);
}

/* A sweep with no run files at all, and no axes. */
Test(sweepfile, all_pending_no_runs_dir) {
  char dir[64];
  make_tmpdir(dir, sizeof dir);
  gs_sweep sw;
  gs_error err = {0};
  cr_assert_eq(gs_sweep_load_text("x.ini", gs_models_vocabulary(), grid_text, &sw, &err), 0, "%s", err.msg);
  cr_assert_eq(gs_sweepfile_write(dir, &sw, &err), 0, "%s", err.msg);
  char path[128];
  snprintf(path, sizeof path, "%s/sweep.h5", dir);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  grid g;
  grid_read(f, &g);
  cr_assert_eq(g.n, sw.nruns);
  char buf[64];
  for (long i = 0; i < g.n; i++) {
    grid_str(&g, i, "status", buf, sizeof buf);
    cr_assert_str_eq(buf, "pending");
  }
  cr_assert_eq(H5Tget_nmembers(g.type), 2 + sw.naxes + 2, "no metric columns without run files");
  hid_t rg = H5Gopen2(f, "runs", H5P_DEFAULT);
  H5G_info_t gi;
  H5Gget_info(rg, &gi);
  cr_assert_eq(gi.nlinks, 0);
  H5Gclose(rg);
  H5Tclose(g.type);
  free(g.rows);
  H5Fclose(f);
  gs_sweep_free(&sw);

  /* zero axes, zero runs */
  gs_sweep empty;
  memset(&empty, 0, sizeof empty);
  gs_config_defaults(&empty.base, gs_models_vocabulary());
  cr_assert_eq(gs_sweepfile_write(dir, &empty, &err), 0, "%s", err.msg);
  if (have_h5py()) {
    char cmd[300];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import h5py; f=h5py.File('%s','r'); assert len(f['grid']) == 0; "
             "assert len(f.attrs['axes']) == 0\"",
             path);
    cr_assert_eq(system(cmd), 0);
  }
  rm_rf(dir);
}

/* ------------------------------------------------------------------ speed */
Test(runfile, write_speed_large_params) {
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/big.h5", dir);
  gs_params p;
  memset(&p, 0, sizeof p);
  gs_params_declare(&p, "enc.W1", 2, (int[]){784, 512});
  gs_params_declare(&p, "enc.b1", 1, (int[]){512});
  gs_params_declare(&p, "enc.W2", 2, (int[]){512, 512});
  gs_params_declare(&p, "enc.b2", 1, (int[]){512});
  gs_params_declare(&p, "dec.W3", 2, (int[]){512, 784});
  gs_params_declare(&p, "dec.b3", 1, (int[]){784});
  gs_params_declare(&p, "enc.Wmu", 2, (int[]){512, 64});
  gs_params_alloc(&p);
  cr_assert_gt(p.total, 1000000);
  uint64_t s = 7;
  for (long i = 0; i < p.total; i++) p.data[i] = (float)((double)lcg(&s) / 9007199254740992.0 - 0.5);
  gs_record r;
  gs_record_init(&r, "big", "vae", 1);
  GS_STRCPY(r.status, "done");
  for (int e = 0; e < 100; e++) gs_record_push(&r, "train_loss", 1.0 / (e + 1));
  uint8_t *pix = malloc(400 * 28 * 28);
  for (int i = 0; i < 400 * 28 * 28; i++) pix[i] = (uint8_t)(lcg(&s) & 0xff) / 3;
  gs_record_images(&r, "prior", 64, 28, 28, pix);
  gs_record_images(&r, "recon", 32, 28, 28, pix);
  gs_record_images(&r, "manifold", 400, 28, 28, pix);
  r.params = &p;
  gs_config cfg;
  cfg_for_test(&cfg);
  gs_error err = {0};
  double best = 1e9;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = gs_now();
    cr_assert_eq(gs_runfile_write(path, &r, &cfg, &err), 0, "%s", err.msg);
    double dt = gs_now() - t0;
    if (dt < best) best = dt;
  }
  gs_params q;
  memset(&q, 0, sizeof q);
  for (int i = 0; i < p.count; i++) gs_params_declare(&q, p.info[i].name, p.info[i].ndim, p.info[i].shape);
  gs_params_alloc(&q);
  double t0 = gs_now();
  gs_record b;
  cr_assert_eq(gs_runfile_read(path, &b, &q, &err), 0, "%s", err.msg);
  double rt = gs_now() - t0;
  cr_assert(params_equal(&p, &q));
  cr_log_info("run file with %ld params + %d images: write %.3f s (best of 3), read %.3f s, %.1f MB",
              p.total, 496, best, rt, file_size(path) / 1e6);
  fprintf(stderr, "[timing] run file with %ld float params + 496 images: write %.3f s (best of 3), read %.3f s, %.2f MB\n",
          p.total, best, rt, file_size(path) / 1e6);
  cr_expect_lt(best, 1.5, "writing took %.3f s", best); /* generous: other jobs share the machine */
  gs_record_free(&b);
  gs_record_free(&r);
  gs_params_free(&p);
  gs_params_free(&q);
  free(pix);
  rm_rf(dir);
}

/* Runs without a run file show what the ledger says: running, interrupted (with its epoch),
 * failed, or pending; a run the ledger calls done whose file is gone is pending again. */
Test(sweepfile, status_of_runs_without_files_from_the_ledger) {
  char dir[64];
  make_tmpdir(dir, sizeof dir);
  gs_sweep sw;
  gs_error err = {0};
  cr_assert_eq(gs_sweep_load_text("x.ini", gs_models_vocabulary(), grid_text, &sw, &err), 0, "%s", err.msg);
  cr_assert_geq(sw.nruns, 4);
  gs_ledger l;
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  const gs_run *r = sw.runs;
  cr_assert_eq(gs_ledger_append(&l, "started", r[0].id, r[0].hash, 0, NULL, &err), 0);
  cr_assert_eq(gs_ledger_append(&l, "started", r[1].id, r[1].hash, 0, NULL, &err), 0);
  cr_assert_eq(gs_ledger_append(&l, "checkpointed", r[1].id, r[1].hash, 3, NULL, &err), 0);
  cr_assert_eq(gs_ledger_append(&l, "interrupted", r[1].id, r[1].hash, 3, "stopped by a signal", &err), 0);
  cr_assert_eq(gs_ledger_append(&l, "started", r[2].id, r[2].hash, 0, NULL, &err), 0);
  cr_assert_eq(gs_ledger_append(&l, "done", r[2].id, r[2].hash, 5, NULL, &err), 0);
  gs_ledger_close(&l);
  cr_assert_eq(gs_sweepfile_write(dir, &sw, &err), 0, "%s", err.msg);
  char path[128];
  snprintf(path, sizeof path, "%s/sweep.h5", dir);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  grid g;
  grid_read(f, &g);
  char buf[64], m[600];
  grid_str(&g, 0, "status", buf, sizeof buf);
  cr_assert_str_eq(buf, "running");
  grid_str(&g, 1, "status", buf, sizeof buf);
  cr_assert_str_eq(buf, "interrupted");
  grid_str(&g, 1, "message", m, sizeof m);
  cr_assert(strstr(m, "epoch 3"), "%s", m);
  grid_str(&g, 2, "status", buf, sizeof buf);
  cr_assert_str_eq(buf, "pending");
  grid_str(&g, 2, "message", m, sizeof m);
  cr_assert(strstr(m, "missing"), "%s", m);
  grid_str(&g, 3, "status", buf, sizeof buf);
  cr_assert_str_eq(buf, "pending");
  H5Tclose(g.type);
  free(g.rows);
  H5Fclose(f);
  gs_sweep_free(&sw);
  rm_rf(dir);
}

/* Files are built in memory and written from their image; the image's superblock checksum is
 * recomputed with lookup3, which must agree with what HDF5 itself writes to a file on disk. */
Test(h5util, lookup3_is_hdf5s_superblock_checksum) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/gs-sb-%ld.h5", (long)getpid());
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  cr_assert_geq(f, 0);
  H5Fclose(f);
  H5Pclose(fapl);
  uint8_t sb[48];
  FILE *fp = fopen(path, "rb");
  cr_assert(fp);
  cr_assert_eq(fread(sb, 1, sizeof sb, fp), sizeof sb);
  fclose(fp);
  unlink(path);
  cr_assert_eq(sb[8], 2, "superblock version %d, expected 2", sb[8]);
  uint32_t stored = sb[44] | (uint32_t)sb[45] << 8 | (uint32_t)sb[46] << 16 | (uint32_t)sb[47] << 24;
  cr_assert_eq(gs_h5_lookup3(sb, 44), stored);
  /* the hash's reference values (lookup3's own self-test): "" -> 0xdeadbeef, and
   * "Four score and seven years ago" -> 0x17770551 */
  cr_assert_eq(gs_h5_lookup3((const uint8_t *)"", 0), 0xdeadbeefu);
  const char *fs = "Four score and seven years ago";
  cr_assert_eq(gs_h5_lookup3((const uint8_t *)fs, strlen(fs)), 0x17770551u);
}

/* gs_runfile_set_status: the status and message change, the rest (metrics, params, checksum)
 * stays; a corrupt file is refused and left as it was. */
Test(runfile, set_status_round_trip_and_corrupt_input) {
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/a.h5", dir);
  gs_params p, q;
  fill_params(&p);
  gs_record r;
  fill_record(&r, "lr-0.001", 0x77, &p);
  GS_STRCPY(r.status, "paused");
  gs_error err = {0};
  cr_assert_eq(gs_runfile_write(path, &r, NULL, &err), 0, "%s", err.msg);
  const char *why = "stopped at rung 1 (resource 3 of 9): metric 351.25 ranked 5th of 9, not in the top 3";
  cr_assert_eq(gs_runfile_set_status(path, "stopped", why, &err), 0, "%s", err.msg);
  gs_run_summary s;
  cr_assert_eq(gs_runfile_read_summary(path, &s, &err), 0, "%s", err.msg); /* (verifies the checksum) */
  cr_assert_str_eq(s.status, "stopped");
  cr_assert_str_eq(s.message, why);
  cr_assert_eq(s.config_hash, 0x77);
  cr_assert_eq(s.nscalars, 3);
  memset(&q, 0, sizeof q);
  for (int i = 0; i < p.count; i++) gs_params_declare(&q, p.info[i].name, p.info[i].ndim, p.info[i].shape);
  gs_params_alloc(&q);
  gs_record b;
  cr_assert_eq(gs_runfile_read(path, &b, &q, &err), 0, "%s", err.msg);
  cr_assert(params_equal(&p, &q), "the parameters changed");
  cr_assert_eq(b.nseries, r.nseries);
  gs_record_free(&b);
  char tmp[140];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  cr_assert(!exists(tmp), "temporary file left behind");

  /* a flipped byte in the parameters: refused, the file untouched */
  size_t n;
  char *bytes = slurp(path, &n);
  char *bad = malloc(n);
  memcpy(bad, bytes, n);
  size_t at = n - 64; /* in the raw data near the end of the file */
  bad[at] ^= 0x5a;
  FILE *f = fopen(path, "wb");
  fwrite(bad, 1, n, f);
  fclose(f);
  gs_error e2 = {0};
  cr_assert_neq(gs_runfile_set_status(path, "done", "", &e2), 0, "a corrupt file was rewritten");
  cr_assert(strstr(e2.msg, path), "the message names the file: %s", e2.msg);
  size_t n2;
  char *after = slurp(path, &n2);
  cr_assert(n2 == n && memcmp(after, bad, n) == 0, "the corrupt file was changed");
  gs_error e3 = {0};
  cr_assert_neq(gs_runfile_set_status("/nonexistent/x.h5", "done", "", &e3), 0);
  free(after), free(bad), free(bytes);
  gs_record_free(&r);
  gs_params_free(&p), gs_params_free(&q);
}
