/* IDX reader and data-set loading: round trips, every error path (message names file and problem),
 * subset / split options, and the real Fashion-MNIST files when installed. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "gensweep/data/data.h"

static char tmpdir[256];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static void setup(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/gs_test_idx_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
}

static void teardown(void) {
  if (tmpdir[0]) nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(idx, .init = setup, .fini = teardown);
TestSuite(dataset, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------ helpers */

/* tmpdir/name into buf */
static const char *tpath(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", tmpdir, name);
  return buf;
}

static void write_raw(const char *path, const void *buf, size_t n, int gz) {
  if (gz) {
    gzFile g = gzopen(path, "wb");
    cr_assert_not_null(g, "gzopen %s", path);
    if (n) cr_assert_eq(gzwrite(g, buf, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(g), Z_OK);
  } else {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "fopen %s", path);
    if (n) cr_assert_eq(fwrite(buf, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
  }
}

static uint8_t *read_raw(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)len + 1);
  cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

/* Header (type, dims) + `ndata` bytes of data (data[i] from fill, or given) + `extra` trailing bytes. */
static uint8_t *make_idx(int type, int ndim, const uint32_t *dims, const uint8_t *data, size_t ndata, size_t extra,
                         size_t *len) {
  size_t hdr = 4 + 4 * (size_t)ndim;
  uint8_t *b = malloc(hdr + ndata + extra + 1);
  b[0] = 0;
  b[1] = 0;
  b[2] = (uint8_t)type;
  b[3] = (uint8_t)ndim;
  for (int i = 0; i < ndim; i++) {
    b[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
    b[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
    b[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
    b[7 + 4 * i] = (uint8_t)dims[i];
  }
  for (size_t i = 0; i < ndata; i++) b[hdr + i] = data ? data[i] : (uint8_t)(i * 7 + 3);
  for (size_t i = 0; i < extra; i++) b[hdr + ndata + i] = 0xAB;
  *len = hdr + ndata + extra;
  return b;
}

/* Write a well-formed or damaged IDX file. */
static void write_idx(const char *path, int gz, int ndim, const uint32_t *dims, size_t ndata, size_t extra) {
  size_t len;
  uint8_t *b = make_idx(0x08, ndim, dims, NULL, ndata, extra, &len);
  write_raw(path, b, len, gz);
  free(b);
}

static void assert_msg(const gs_error *err, const char *a, const char *b) {
  cr_assert_neq(err->code, 0, "error code not set");
  cr_assert_not_null(strstr(err->msg, a), "message \"%s\" lacks \"%s\"", err->msg, a);
  if (b) cr_assert_not_null(strstr(err->msg, b), "message \"%s\" lacks \"%s\"", err->msg, b);
}

/* Expect gs_idx_read(path) to fail with a message naming path and containing `what` (and `what2`). */
static void expect_fail(const char *path, int ndim, const char *what, const char *what2) {
  gs_idx x;
  gs_error err = {0};
  cr_assert_eq(gs_idx_read(path, ndim, &x, &err), -1, "read of %s should fail", path);
  cr_assert_null(x.data);
  assert_msg(&err, path, what);
  if (what2) assert_msg(&err, what2, NULL);
}

static void check_roundtrip(const char *write_as, const char *read_as, int gz) {
  uint32_t dims[3] = {5, 4, 3};
  write_idx(write_as, gz, 3, dims, 60, 0);
  gs_idx x;
  gs_error err = {0};
  cr_assert_eq(gs_idx_read(read_as, 3, &x, &err), 0, "%s", err.msg);
  cr_assert_eq(x.ndim, 3);
  cr_assert_eq(x.dims[0], 5);
  cr_assert_eq(x.dims[1], 4);
  cr_assert_eq(x.dims[2], 3);
  cr_assert_eq(x.count, 5);
  cr_assert_eq(x.item_size, 12);
  for (int i = 0; i < 60; i++) cr_assert_eq(x.data[i], (uint8_t)(i * 7 + 3), "byte %d", i);
  gs_idx_free(&x);
  cr_assert_null(x.data);
}

/* ------------------------------------------------------------------ IDX: good files */

Test(idx, roundtrip_plain) {
  char p[512];
  check_roundtrip(tpath(p, sizeof p, "a-idx3-ubyte"), p, 0);
}

Test(idx, roundtrip_gzip) {
  char p[512], q[512];
  check_roundtrip(tpath(p, sizeof p, "a-idx3-ubyte.gz"), p, 1);
  /* named without .gz: the .gz file is found */
  check_roundtrip(p, tpath(q, sizeof q, "a-idx3-ubyte"), 1);
}

Test(idx, gzip_told_by_magic_not_name) {
  char p[512];
  check_roundtrip(tpath(p, sizeof p, "plain-named.gz"), p, 0);
  check_roundtrip(tpath(p, sizeof p, "gzip-named-plain"), p, 1);
}

Test(idx, labels_any_ndim) {
  char p[512];
  uint32_t dims[1] = {17};
  write_idx(tpath(p, sizeof p, "l-idx1-ubyte"), 1, 1, dims, 17, 0);
  gs_idx x;
  gs_error err = {0};
  cr_assert_eq(gs_idx_read(p, 0, &x, &err), 0, "%s", err.msg); /* 0: any ndim */
  cr_assert_eq(x.ndim, 1);
  cr_assert_eq(x.count, 17);
  cr_assert_eq(x.item_size, 1);
  cr_assert_eq(x.data[16], (uint8_t)(16 * 7 + 3));
  gs_idx_free(&x);
}

/* ------------------------------------------------------------------ IDX: errors */

Test(idx, missing_file) {
  char p[512], q[600];
  tpath(p, sizeof p, "nothing-here");
  snprintf(q, sizeof q, "%s.gz", p);
  expect_fail(p, 3, "missing (no such file", q);
}

Test(idx, empty_file) {
  char p[512];
  write_raw(tpath(p, sizeof p, "empty"), "", 0, 0);
  expect_fail(p, 3, "empty file", NULL);
}

Test(idx, bad_magic) {
  char p[512];
  uint8_t b[16] = {0x12, 0x34, 0x56, 0x78, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  write_raw(tpath(p, sizeof p, "junk"), b, sizeof b, 0);
  expect_fail(p, 3, "not an IDX file (bad magic 0x12345678)", NULL);
  write_raw(tpath(p, sizeof p, "junk.gz"), b, sizeof b, 1);
  expect_fail(p, 3, "not an IDX file (bad magic 0x12345678)", NULL);
}

Test(idx, unsupported_type) {
  char p[512];
  uint32_t dims[3] = {2, 2, 2};
  size_t len;
  uint8_t *b = make_idx(0x0D, 3, dims, NULL, 32, 0, &len); /* float */
  write_raw(tpath(p, sizeof p, "float-idx3"), b, len, 0);
  free(b);
  expect_fail(p, 3, "unsupported IDX element type 0x0d (32-bit float)", "only unsigned byte (0x08)");
  b = make_idx(0x42, 3, dims, NULL, 8, 0, &len); /* not a type at all */
  write_raw(p, b, len, 0);
  free(b);
  expect_fail(p, 3, "not an IDX file (bad magic 0x00004203", NULL);
}

Test(idx, wrong_ndim) {
  char p[512];
  uint32_t dims[1] = {10};
  write_idx(tpath(p, sizeof p, "labels"), 0, 1, dims, 10, 0);
  expect_fail(p, 3, "expected 3 dimensions (images), found 1", NULL);
  uint32_t d3[3] = {2, 2, 2};
  write_idx(p, 1, 3, d3, 8, 0);
  expect_fail(p, 1, "expected 1 dimension (labels), found 3", NULL);
}

Test(idx, bad_ndim_byte) {
  char p[512];
  uint8_t b[8] = {0, 0, 8, 0, 0, 0, 0, 1};
  write_raw(tpath(p, sizeof p, "ndim0"), b, sizeof b, 0);
  expect_fail(p, 0, "0 dimensions", NULL);
}

Test(idx, truncated_header) {
  char p[512];
  uint8_t b[10] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0}; /* 3 dims announced, 1.5 given */
  write_raw(tpath(p, sizeof p, "short-hdr"), b, sizeof b, 0);
  expect_fail(p, 3, "truncated: expected 16 bytes of IDX header (3 dimensions), found 10", NULL);
  write_raw(p, b, 2, 1); /* gzip, magic cut short */
  expect_fail(p, 3, "truncated: expected 4 bytes of IDX header, found 2", NULL);
}

Test(idx, truncated_data_plain) {
  char p[512];
  uint32_t dims[3] = {5, 4, 3};
  write_idx(tpath(p, sizeof p, "short-data"), 0, 3, dims, 20, 0);
  expect_fail(p, 3, "truncated: expected 60 bytes of image data, found 20", NULL);
  uint32_t d1[1] = {100};
  write_idx(p, 0, 1, d1, 99, 0);
  expect_fail(p, 1, "truncated: expected 100 bytes of label data, found 99", NULL);
}

Test(idx, truncated_data_gzip) {
  char p[512];
  uint32_t dims[3] = {5, 4, 3};
  /* complete gzip stream, but the IDX content inside is short */
  write_idx(tpath(p, sizeof p, "short-data.gz"), 1, 3, dims, 20, 0);
  expect_fail(p, 3, "truncated: expected 60 bytes of image data, found 20", NULL);
}

Test(idx, truncated_gzip_stream) {
  char p[512];
  uint32_t dims[3] = {50, 28, 28};
  long n = 50 * 28 * 28;
  uint8_t *data = malloc((size_t)n);
  uint32_t s = 12345;
  for (long i = 0; i < n; i++) { /* incompressible */
    s = s * 1664525u + 1013904223u;
    data[i] = (uint8_t)(s >> 24);
  }
  size_t len;
  uint8_t *b = make_idx(0x08, 3, dims, data, (size_t)n, 0, &len);
  write_raw(tpath(p, sizeof p, "cut.gz"), b, len, 1);
  free(b);
  free(data);
  size_t glen;
  uint8_t *g = read_raw(p, &glen);
  write_raw(p, g, glen / 2, 0); /* first half of the compressed file */
  expect_fail(p, 3, "truncated: expected 39200 bytes of image data", "gzip stream ends early");
  write_raw(p, g, glen - 4, 0); /* only the size field of the gzip trailer lost */
  expect_fail(p, 3, "truncated", "gzip");
  free(g);
}

Test(idx, trailing_bytes) {
  char p[512];
  uint32_t dims[3] = {5, 4, 3};
  write_idx(tpath(p, sizeof p, "trailing"), 0, 3, dims, 60, 3);
  expect_fail(p, 3, "trailing garbage: 3 unexpected bytes after the 60 bytes of image data", NULL);
  write_idx(tpath(p, sizeof p, "trailing.gz"), 1, 3, dims, 60, 1);
  expect_fail(p, 3, "trailing garbage: 1 unexpected byte after the 60 bytes", NULL);
}

Test(idx, corrupt_gzip) {
  char p[512];
  /* valid gzip member header, then garbage where the deflate stream should be */
  uint8_t b[64] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03};
  for (int i = 10; i < 64; i++) b[i] = 0xff;
  write_raw(tpath(p, sizeof p, "corrupt.gz"), b, sizeof b, 0);
  expect_fail(p, 3, "corrupt gzip data", NULL);
}

Test(idx, corrupt_gzip_checksum) {
  char p[512];
  uint32_t dims[3] = {5, 4, 3};
  write_idx(tpath(p, sizeof p, "crc.gz"), 1, 3, dims, 60, 0);
  size_t glen;
  uint8_t *g = read_raw(p, &glen);
  g[glen - 8] ^= 0x55; /* CRC32 in the trailer */
  write_raw(p, g, glen, 0);
  free(g);
  expect_fail(p, 3, "corrupt gzip data", "check");
}

Test(idx, zero_dimension) {
  char p[512];
  uint32_t dims[3] = {0, 28, 28};
  write_idx(tpath(p, sizeof p, "zero"), 0, 3, dims, 0, 0);
  expect_fail(p, 3, "dimension 0 is 0", NULL);
}

Test(idx, too_large) {
  char p[512];
  uint32_t dims[3] = {4000000000u, 28, 28};
  write_idx(tpath(p, sizeof p, "huge"), 0, 3, dims, 10, 0);
  expect_fail(p, 3, "too large: shape 4000000000 x 28 x 28", NULL);
  uint32_t d2[3] = {60000, 200, 200}; /* 2.4e9 bytes */
  write_idx(p, 1, 3, d2, 10, 0);
  expect_fail(p, 3, "too large", NULL);
}

/* ------------------------------------------------------------------ data sets */

/* Image i of a synthetic set: pixel 0/1 hold the index, the rest a pattern; label = (i + shift) % 10. */
static void write_set(const char *dir, const char *img, const char *lab, long n, long nlab, int h, int w, int gz,
                      int shift) {
  char p[700];
  long dim = (long)h * w;
  uint8_t *pix = malloc((size_t)(n * dim));
  for (long i = 0; i < n; i++)
    for (long j = 0; j < dim; j++)
      pix[i * dim + j] = j == 0 ? (uint8_t)(i & 255) : j == 1 ? (uint8_t)(i >> 8) : (uint8_t)(i * 31 + j);
  uint8_t *labels = malloc((size_t)nlab + 1);
  for (long i = 0; i < nlab; i++) labels[i] = (uint8_t)((i + shift) % 10);
  uint32_t di[3] = {(uint32_t)n, (uint32_t)h, (uint32_t)w}, dl[1] = {(uint32_t)nlab};
  size_t len;
  uint8_t *b = make_idx(8, 3, di, pix, (size_t)(n * dim), 0, &len);
  snprintf(p, sizeof p, "%s/%s%s", dir, img, gz ? ".gz" : "");
  write_raw(p, b, len, gz);
  free(b);
  b = make_idx(8, 1, dl, labels, (size_t)nlab, 0, &len);
  snprintf(p, sizeof p, "%s/%s%s", dir, lab, gz ? "" : ".gz"); /* the other flavour */
  write_raw(p, b, len, !gz);
  free(b);
  free(pix);
  free(labels);
}

static void write_dataset(long ntrain, long ntrain_labels, long ntest) {
  write_set(tmpdir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", ntrain, ntrain_labels, 6, 5, 1, 0);
  write_set(tmpdir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", ntest, ntest, 6, 5, 0, 3);
}

static long image_index(const gs_imageset *s, long k) { return s->pix[k * s->dim] | s->pix[k * s->dim + 1] << 8; }

/* every image of s is intact and carries its own label */
static void check_consistent(const gs_imageset *s, int shift) {
  for (long k = 0; k < s->n; k++) {
    long i = image_index(s, k);
    cr_assert_eq(s->labels[k], (uint8_t)((i + shift) % 10), "label of image %ld", i);
    for (long j = 2; j < s->dim; j++) cr_assert_eq(s->pix[k * s->dim + j], (uint8_t)(i * 31 + j));
  }
}

static gs_dataset load_ok(long train_size, double val_split, long test_size, uint64_t seed) {
  gs_data_options o = {.train_size = train_size, .val_split = val_split, .test_size = test_size, .seed = seed};
  gs_dataset ds;
  gs_error err = {0};
  cr_assert_eq(gs_dataset_load(tmpdir, &o, &ds, &err), 0, "%s", err.msg);
  return ds;
}

static void expect_load_fail(const gs_data_options *o, const char *a, const char *b, const char *c) {
  gs_dataset ds;
  gs_error err = {0};
  cr_assert_eq(gs_dataset_load(tmpdir, o, &ds, &err), -1);
  assert_msg(&err, a, b);
  if (c) assert_msg(&err, c, NULL);
  cr_assert_null(ds.train.pix);
  cr_assert_null(ds.test.pix);
}

Test(dataset, full_load) {
  write_dataset(200, 200, 50);
  gs_dataset ds = load_ok(0, 0.0, 0, 1);
  cr_assert_str_eq(ds.dir, tmpdir);
  cr_assert_eq(ds.train.n, 200);
  cr_assert_eq(ds.val.n, 0);
  cr_assert_eq(ds.test.n, 50);
  cr_assert_eq(ds.train.h, 6);
  cr_assert_eq(ds.train.w, 5);
  cr_assert_eq(ds.train.dim, 30);
  cr_assert_eq(ds.val.dim, 30);
  cr_assert_eq(ds.test.dim, 30);
  cr_assert_eq(ds.train.n_classes, 10);
  cr_assert_eq(ds.test.n_classes, 10);
  for (long k = 0; k < 200; k++) cr_assert_eq(image_index(&ds.train, k), k); /* file order */
  check_consistent(&ds.train, 0);
  check_consistent(&ds.test, 3);
  gs_dataset_free(&ds);
  cr_assert_null(ds.train.pix);
}

Test(dataset, options_sizes_and_disjoint) {
  write_dataset(200, 200, 50);
  gs_dataset ds = load_ok(100, 0.2, 5, 7);
  cr_assert_eq(ds.train.n, 80);
  cr_assert_eq(ds.val.n, 20);
  cr_assert_eq(ds.test.n, 5);
  cr_assert_eq(ds.val.dim, 30);
  cr_assert_eq(ds.val.n_classes, 10);
  for (long k = 0; k < 5; k++) cr_assert_eq(image_index(&ds.test, k), k); /* first test_size */
  check_consistent(&ds.train, 0);
  check_consistent(&ds.val, 0);
  check_consistent(&ds.test, 3);
  int seen[200] = {0};
  for (long k = 0; k < ds.train.n; k++) {
    long i = image_index(&ds.train, k);
    cr_assert(i >= 0 && i < 200);
    cr_assert_eq(seen[i]++, 0, "image %ld twice", i);
  }
  for (long k = 0; k < ds.val.n; k++) {
    long i = image_index(&ds.val, k);
    cr_assert(i >= 0 && i < 200);
    cr_assert_eq(seen[i]++, 0, "image %ld in train and val (or twice)", i);
  }
  gs_dataset_free(&ds);
}

Test(dataset, val_split_of_everything) {
  write_dataset(200, 200, 50);
  gs_dataset ds = load_ok(0, 0.25, 0, 3);
  cr_assert_eq(ds.train.n, 150);
  cr_assert_eq(ds.val.n, 50);
  cr_assert_eq(ds.test.n, 50);
  int seen[200] = {0};
  for (long k = 0; k < ds.train.n; k++) seen[image_index(&ds.train, k)]++;
  for (long k = 0; k < ds.val.n; k++) seen[image_index(&ds.val, k)]++;
  for (int i = 0; i < 200; i++) cr_assert_eq(seen[i], 1, "image %d", i);
  check_consistent(&ds.train, 0);
  check_consistent(&ds.val, 0);
  gs_dataset_free(&ds);
}

Test(dataset, subset_without_split) {
  write_dataset(200, 200, 50);
  gs_dataset ds = load_ok(37, 0.0, 0, 3);
  cr_assert_eq(ds.train.n, 37);
  cr_assert_eq(ds.val.n, 0);
  check_consistent(&ds.train, 0);
  gs_dataset_free(&ds);
}

static int same_set(const gs_imageset *a, const gs_imageset *b) {
  return a->n == b->n && memcmp(a->pix, b->pix, (size_t)(a->n * a->dim)) == 0 &&
         memcmp(a->labels, b->labels, (size_t)a->n) == 0;
}

Test(dataset, deterministic_by_seed) {
  write_dataset(200, 200, 50);
  gs_dataset a = load_ok(100, 0.2, 0, 11), b = load_ok(100, 0.2, 0, 11), c = load_ok(100, 0.2, 0, 12);
  cr_assert(same_set(&a.train, &b.train));
  cr_assert(same_set(&a.val, &b.val));
  cr_assert(!same_set(&a.train, &c.train), "different seeds gave the same subset");
  cr_assert(!same_set(&a.val, &c.val), "different seeds gave the same split");
  gs_dataset_free(&a);
  gs_dataset_free(&b);
  gs_dataset_free(&c);
}

Test(dataset, count_mismatch) {
  write_dataset(10, 9, 4);
  gs_data_options o = {0};
  char pi[600], pl[600];
  snprintf(pi, sizeof pi, "%s/train-images-idx3-ubyte.gz", tmpdir);
  snprintf(pl, sizeof pl, "%s/train-labels-idx1-ubyte", tmpdir);
  gs_dataset ds;
  gs_error err = {0};
  cr_assert_eq(gs_dataset_load(tmpdir, &o, &ds, &err), -1);
  assert_msg(&err, "image/label count mismatch", "has 10 images");
  assert_msg(&err, pi, pl);
  assert_msg(&err, "has 9 labels", NULL);
}

Test(dataset, missing_file) {
  write_dataset(10, 10, 4);
  char p[600];
  snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", tmpdir);
  cr_assert_eq(remove(p), 0);
  gs_data_options o = {0};
  snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", tmpdir);
  expect_load_fail(&o, p, "missing (no such file", NULL);
}

Test(dataset, bad_file_inside) {
  write_dataset(10, 10, 4);
  char p[600];
  snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", tmpdir);
  uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  write_raw(p, junk, sizeof junk, 0);
  gs_data_options o = {0};
  expect_load_fail(&o, p, "bad magic 0x01020304", NULL);
}

Test(dataset, option_errors) {
  write_dataset(200, 200, 50);
  char p[600];
  snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", tmpdir);
  gs_data_options o = {.train_size = 300};
  expect_load_fail(&o, "train_size 300", "200 training images", p);
  gs_data_options t = {.test_size = 51};
  snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", tmpdir);
  expect_load_fail(&t, "test_size 51", "50 test images", p);
  gs_data_options v = {.val_split = 1.0};
  expect_load_fail(&v, "val_split", "[0, 1)", NULL);
  gs_data_options v2 = {.train_size = 3, .val_split = 0.9};
  expect_load_fail(&v2, "val_split", "no training images", NULL);
}

Test(dataset, image_size_mismatch) {
  write_set(tmpdir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 20, 20, 6, 5, 1, 0);
  write_set(tmpdir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 4, 4, 5, 6, 0, 0);
  gs_data_options o = {0};
  char p[600];
  snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", tmpdir);
  expect_load_fail(&o, p, "image size 5x6 differs", NULL);
}

Test(dataset, not_a_directory) {
  gs_dataset ds;
  gs_error err = {0};
  gs_data_options o = {0};
  cr_assert_eq(gs_dataset_load("/nonexistent/gensweep-data", &o, &ds, &err), -1);
  assert_msg(&err, "/nonexistent/gensweep-data", "no such directory");
}

Test(dataset, resolve) {
  char dir[512], d2[600];
  gs_error err = {0};
  snprintf(d2, sizeof d2, "%s/", tmpdir);
  cr_assert_eq(gs_dataset_resolve(d2, dir, sizeof dir, &err), 0, "%s", err.msg);
  cr_assert_str_eq(dir, tmpdir);
  cr_assert_eq(gs_dataset_resolve("/nonexistent/x", dir, sizeof dir, &err), -1);
  assert_msg(&err, "/nonexistent/x", NULL);
  struct stat st;
  if (stat(GS_FASHION_MNIST_DIR, &st) == 0) {
    cr_assert_eq(gs_dataset_resolve("", dir, sizeof dir, &err), 0);
    cr_assert_str_eq(dir, GS_FASHION_MNIST_DIR);
    cr_assert_eq(gs_dataset_resolve("fashion-mnist", dir, sizeof dir, &err), 0);
    cr_assert_str_eq(dir, GS_FASHION_MNIST_DIR);
  }
}

Test(dataset, batch) {
  write_dataset(20, 20, 4);
  gs_dataset ds = load_ok(0, 0.0, 0, 1);
  int32_t idx[3] = {7, 0, 19};
  float x[3 * 30], oh[3 * 10];
  gs_imageset_batch(&ds.train, idx, 3, x, oh);
  for (int r = 0; r < 3; r++) {
    for (int j = 0; j < 30; j++) cr_assert_eq(x[r * 30 + j], ds.train.pix[idx[r] * 30 + j] / 255.0f);
    for (int c = 0; c < 10; c++) cr_assert_eq(oh[r * 10 + c], c == idx[r] % 10 ? 1.0f : 0.0f);
  }
  float y[30];
  int32_t one = 3;
  gs_imageset_batch(&ds.test, &one, 1, y, NULL);
  cr_assert_eq(y[0], 3 / 255.0f);
  gs_dataset_free(&ds);
}

Test(dataset, fashion_mnist) {
  struct stat st;
  if (stat(GS_FASHION_MNIST_DIR, &st) != 0) cr_skip_test("%s not installed", GS_FASHION_MNIST_DIR);
  gs_data_options o = {.seed = 1};
  gs_dataset ds;
  gs_error err = {0};
  double t = gs_now();
  cr_assert_eq(gs_dataset_load("fashion-mnist", &o, &ds, &err), 0, "%s", err.msg);
  t = gs_now() - t;
  cr_log_info("fashion-mnist loaded in %.3f s", t);
  cr_assert_str_eq(ds.name, "fashion-mnist");
  cr_assert_eq(ds.train.n, 60000);
  cr_assert_eq(ds.test.n, 10000);
  cr_assert_eq(ds.val.n, 0);
  cr_assert_eq(ds.train.h, 28);
  cr_assert_eq(ds.train.w, 28);
  cr_assert_eq(ds.train.dim, 784);
  cr_assert_eq(ds.train.n_classes, 10);
  cr_assert_eq(ds.test.n_classes, 10);
  cr_assert_eq(ds.train.labels[0], 9); /* the first training image is an ankle boot */
  long counts[10] = {0};
  for (long i = 0; i < ds.train.n; i++) counts[ds.train.labels[i]]++;
  for (int c = 0; c < 10; c++) cr_assert_eq(counts[c], 6000, "class %d", c);
  cr_assert_lt(t, 2.0, "loading took %.3f s", t);
  gs_dataset_free(&ds);
}
