/* Internal HDF5 helpers of src/io: error handling, atomic file writing, attributes and datasets.
 * Moved out of runfile.c so that the checkpoint file (checkpoint.c) shares them; see h5util.h.
 *
 * Crash safety: a file is written whole to <path>.tmp with the serial sec2 driver, closed,
 * fsync'd, renamed over <path>, and the directory is fsync'd (core/atomic.h). A reader
 * therefore sees either the previous complete file or the new complete file, never a
 * half-written one (HDF5 gives no such guarantee for a file that is open for writing when the
 * process dies).
 *
 * File locking: readers open with locking disabled (a sec2 writer holds an exclusive lock, and
 * shared filesystems often have no locks at all); writers lock but carry on where the
 * filesystem cannot. HDF5_USE_FILE_LOCKING in the environment still overrides both. */
#include <zlib.h>

#include "gensweep/io/h5util.h"
#include "gensweep/core/atomic.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ HDF5 error handling */
void gs_h5_quiet_begin(gs_h5_quiet *q) {
#if !H5_VERSION_GE(1, 10, 7)
  /* no H5Pset_file_locking: the environment variable is the only switch (read at each open) */
  setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0);
#endif
  q->fn = NULL;
  q->data = NULL;
  H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void gs_h5_quiet_end(gs_h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

typedef struct h5walk {
  int n;
  char api[96];     /* outermost: the public function that failed */
  char apidesc[256];
  char inner[384];  /* innermost: where the problem was detected (usually the informative part) */
} h5walk;

static herr_t h5_walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
  h5walk *w = data;
  if (n == 0) snprintf(w->inner, sizeof w->inner, "%s", e->desc ? e->desc : "");
  snprintf(w->api, sizeof w->api, "%s", e->func_name ? e->func_name : "?");
  snprintf(w->apidesc, sizeof w->apidesc, "%s", e->desc ? e->desc : "");
  w->n++;
  return 0;
}

/* One-line summary of the current HDF5 error stack ("H5Fopen(): unable to open file: file
 * signature not found"); clears the stack. */
void gs_h5_describe(char *buf, size_t n) {
  h5walk w;
  memset(&w, 0, sizeof w);
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk_cb, &w);
  H5Eclear2(H5E_DEFAULT);
  if (w.n == 0)
    snprintf(buf, n, "HDF5 call failed (no error details)");
  else if (w.n == 1 || strcmp(w.apidesc, w.inner) == 0)
    snprintf(buf, n, "%s(): %s", w.api, w.apidesc);
  else
    snprintf(buf, n, "%s(): %s: %s", w.api, w.apidesc, w.inner);
}

/* "<path>: <what>: <HDF5 stack summary>" */
int gs_h5_fail(gs_error *err, const char *path, const char *fmt, ...) {
  char what[512], h5[800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  gs_h5_describe(h5, sizeof h5);
  return gs_fail(err, "%s: %s: %s", path, what, h5);
}

void gs_h5_close_id(hid_t *id) {
  if (*id < 0) return;
  switch (H5Iget_type(*id)) {
  case H5I_FILE: H5Fclose(*id); break;
  case H5I_GROUP: H5Gclose(*id); break;
  case H5I_DATASET: H5Dclose(*id); break;
  case H5I_DATATYPE: H5Tclose(*id); break;
  case H5I_DATASPACE: H5Sclose(*id); break;
  case H5I_ATTR: H5Aclose(*id); break;
  case H5I_GENPROP_LST: H5Pclose(*id); break;
  default: break;
  }
  *id = -1;
}

/* ------------------------------------------------------------------ file access */
hid_t gs_h5_fapl(int writer) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return -1;
  if (H5Pset_fapl_sec2(fapl) < 0) goto bad;
#if H5_VERSION_GE(1, 10, 7)
  if (H5Pset_file_locking(fapl, writer ? 1 : 0, 1) < 0) goto bad;
#endif
  if (writer) {
    /* a writer's close must really close (and flush) everything, even after an error path */
    if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) goto bad;
    /* The 1.8 file format: superblock v2, object headers v2, B-trees and heaps all carry
     * checksums, so a corrupted file is reported as such instead of being parsed (HDF5 can
     * crash on corrupted metadata of the checksum-less 1.6 format). Readable by HDF5 >= 1.8
     * (h5py, h5ls, h5dump). */
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0) goto bad;
  }
  return fapl;
bad:
  H5Pclose(fapl);
  return -1;
}

/* Open an existing HDF5 file read-only; errors name the file and say what is wrong with it. */
hid_t gs_h5_open_readonly(const char *path, gs_error *err) {
  struct stat st;
  if (stat(path, &st) != 0) {
    gs_fail(err, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    gs_fail(err, "%s: not a regular file", path);
    return -1;
  }
  if (st.st_size == 0) {
    gs_fail(err, "%s: not a readable HDF5 file (empty file)", path);
    return -1;
  }
  hid_t fapl = gs_h5_fapl(0);
  if (fapl < 0) {
    gs_h5_fail(err, path, "cannot set up HDF5 file access");
    return -1;
  }
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (f < 0) {
    char h5[800];
    gs_h5_describe(h5, sizeof h5);
    if (strstr(h5, "unable to lock file")) /* only when HDF5_USE_FILE_LOCKING=TRUE overrides us */
      gs_fail(err, "%s: cannot open: locked by another process: %s", path, h5);
    else
      gs_fail(err, "%s: not a readable HDF5 file (truncated or corrupt): %s", path, h5);
  }
  H5Pclose(fapl);
  return f;
}

/* The file is built in memory (HDF5's core driver, no backing store) and its image written by
 * gs_atomic_write (temporary file, fsync, rename, directory fsync). HDF5 therefore never writes
 * to the disk itself: a full disk or a file-size limit is an ordinary write error, reported with
 * the file's name and the reason, instead of a failure inside HDF5 that leaves the file open in
 * the library (which then crashed when MPI_Finalize shut HDF5 down). */
/* Bob Jenkins' lookup3 hash (hashlittle, byte by byte), initial value 0: the checksum of HDF5's
 * checksummed metadata (the file format specification, "Superblock Checksum"). */
static uint32_t rot32(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
uint32_t gs_h5_lookup3(const uint8_t *k, size_t n) {
  uint32_t a, b, c;
  a = b = c = 0xdeadbeefu + (uint32_t)n;
  while (n > 12) {
    a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
    b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
    c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
    a -= c; a ^= rot32(c, 4);  c += b;
    b -= a; b ^= rot32(a, 6);  a += c;
    c -= b; c ^= rot32(b, 8);  b += a;
    a -= c; a ^= rot32(c, 16); c += b;
    b -= a; b ^= rot32(a, 19); a += c;
    c -= b; c ^= rot32(b, 4);  b += a;
    n -= 12;
    k += 12;
  }
  if (n == 0) return c;
  uint8_t t[12] = {0};
  memcpy(t, k, n);
  a += t[0] + ((uint32_t)t[1] << 8) + ((uint32_t)t[2] << 16) + ((uint32_t)t[3] << 24);
  b += t[4] + ((uint32_t)t[5] << 8) + ((uint32_t)t[6] << 16) + ((uint32_t)t[7] << 24);
  c += t[8] + ((uint32_t)t[9] << 8) + ((uint32_t)t[10] << 16) + ((uint32_t)t[11] << 24);
  c ^= b; c -= rot32(b, 14);
  a ^= c; a -= rot32(c, 11);
  b ^= a; b -= rot32(a, 25);
  c ^= b; c -= rot32(b, 16);
  a ^= c; a -= rot32(c, 4);
  b ^= a; b -= rot32(a, 14);
  c ^= b; c -= rot32(b, 24);
  return c;
}

/* HDF5 1.10's H5Fget_file_image of a file still open for writing clears the superblock's
 * "open for write" flag in the copy but leaves the checksum computed with it set, so a file
 * of the 1.8 format (superblock v2) written from the image would not open ("incorrect metadata
 * checksum"). The superblock (at offset 0: no user block) is its signature, version, sizes of
 * offsets and lengths, flags, four addresses, then lookup3 of all of that. */
static int fix_superblock_checksum(uint8_t *img, size_t size) {
  static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (size < 12 || memcmp(img, sig, 8) != 0) return -1;
  if (img[8] < 2) return 0; /* versions 0 and 1 have no checksum */
  size_t n = 12 + 4 * (size_t)img[9];
  if (img[9] < 2 || img[9] > 8 || size < n + 4) return -1;
  uint32_t c = gs_h5_lookup3(img, n);
  for (int i = 0; i < 4; i++) img[n + (size_t)i] = (uint8_t)(c >> (8 * i));
  return 0;
}

static int write_or_rewrite(const char *path, int rewrite, gs_h5_fill_fn fill, void *ctx, gs_error *err);

int gs_h5_write_atomic(const char *path, gs_h5_fill_fn fill, void *ctx, gs_error *err) {
  return write_or_rewrite(path, 0, fill, ctx, err);
}

int gs_h5_rewrite_atomic(const char *path, gs_h5_fill_fn fill, void *ctx, gs_error *err) {
  return write_or_rewrite(path, 1, fill, ctx, err);
}

static int write_or_rewrite(const char *path, int rewrite, gs_h5_fill_fn fill, void *ctx, gs_error *err) {
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  int rc = -1;
  hid_t fapl = -1, f = -1;
  void *image = NULL;
  ssize_t size = -1;
  fapl = gs_h5_fapl(1);
  /* grown 4 MB at a time: a checkpoint of a few tens of MB is built with few reallocations */
  if (fapl < 0 || H5Pset_fapl_core(fapl, 4 << 20, 0) < 0) {
    gs_h5_fail(err, path, "cannot set up HDF5 file access");
    goto out;
  }
  /* rewrite: the existing file read into memory (the core driver without a backing store), then
   * changed and written whole like a new one */
  f = rewrite ? H5Fopen(path, H5F_ACC_RDWR, fapl) : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (f < 0) {
    gs_h5_fail(err, path, rewrite ? "cannot read the file" : "cannot create the file in memory");
    goto out;
  }
  if (fill(f, path, ctx, err) < 0) goto out;
  if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || (size = H5Fget_file_image(f, NULL, 0)) <= 0) {
    gs_h5_fail(err, path, "cannot complete the file in memory");
    goto out;
  }
  image = gs_malloc((size_t)size);
  if (H5Fget_file_image(f, image, (size_t)size) != size) {
    gs_h5_fail(err, path, "cannot copy the file's image");
    goto out;
  }
  if (fix_superblock_checksum(image, (size_t)size) != 0) {
    gs_fail(err, "%s: the file built in memory has no HDF5 superblock where expected", path);
    goto out;
  }
  herr_t cr = H5Fclose(f);
  f = -1;
  if (cr < 0) {
    gs_h5_fail(err, path, "closing the file in memory");
    goto out;
  }
  rc = gs_atomic_write(path, image, (size_t)size, err);
out:
  if (f >= 0) H5Fclose(f);
  if (fapl >= 0) H5Pclose(fapl);
  free(image);
  gs_h5_quiet_end(&q);
  return rc;
}

/* ------------------------------------------------------------------ writing helpers */
/* Fixed-length, null-terminated UTF-8 string type of `size` bytes (>= 1). */
hid_t gs_h5_str_type(size_t size) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return -1;
  if (H5Tset_size(t, size ? size : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
      H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

int gs_h5_attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *buf) {
  hid_t sp = H5Screate(H5S_SCALAR), a = -1;
  int rc = -1;
  if (sp < 0) goto out;
  a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) goto out;
  if (H5Awrite(a, mtype, buf) < 0) goto out;
  rc = 0;
out:
  if (a >= 0 && H5Aclose(a) < 0) rc = -1;
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

int gs_h5_attr_str(hid_t loc, const char *name, const char *s) {
  hid_t t = gs_h5_str_type(strlen(s) + 1);
  if (t < 0) return -1;
  int rc = gs_h5_attr_write(loc, name, t, t, s);
  H5Tclose(t);
  return rc;
}

int gs_h5_attr_f64(hid_t loc, const char *name, double v) {
  return gs_h5_attr_write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

int gs_h5_attr_i64(hid_t loc, const char *name, int64_t v) {
  return gs_h5_attr_write(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int gs_h5_attr_array(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim, const hsize_t *dims,
                     const void *buf) {
  hsize_t total = 1;
  for (int i = 0; i < ndim; i++) total *= dims[i];
  hid_t sp = H5Screate_simple(ndim, dims, NULL), a = -1;
  int rc = -1;
  if (sp < 0) goto out;
  a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) goto out;
  if (total > 0 && H5Awrite(a, mtype, buf) < 0) goto out;
  rc = 0;
out:
  if (a >= 0 && H5Aclose(a) < 0) rc = -1;
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

/* 1-D array attribute of fixed-length strings (n may be 0). */
int gs_h5_attr_str_array(hid_t loc, const char *name, const char *const *v, int n) {
  size_t size = 1;
  for (int i = 0; i < n; i++)
    if (strlen(v[i]) + 1 > size) size = strlen(v[i]) + 1;
  char *buf = gs_calloc((size_t)(n ? n : 1), size);
  for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * size, v[i], strlen(v[i]));
  hsize_t dims[1] = {(hsize_t)n};
  hid_t t = gs_h5_str_type(size);
  int rc = t < 0 ? -1 : gs_h5_attr_array(loc, name, t, t, 1, dims, buf);
  if (t >= 0) H5Tclose(t);
  free(buf);
  return rc;
}

/* A group whose links are iterated in creation order by readers (metrics keep record order). */
hid_t gs_h5_group_new(hid_t loc, const char *name) {
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  if (gcpl < 0) return -1;
  hid_t g = -1;
  if (H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) >= 0)
    g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  return g;
}

/* Create and write a whole dataset. ndim 0 = scalar. deflate > 0: chunked + compressed with
 * chunks of about 64 KiB along the first dimension (only when the dataset is not empty). */
int gs_h5_dataset_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim, const hsize_t *dims,
                         const void *buf, int deflate) {
  hid_t sp = -1, dcpl = -1, d = -1;
  int rc = -1;
  hsize_t total = 1;
  for (int i = 0; i < ndim; i++) total *= dims[i];
  sp = ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndim, dims, NULL);
  if (sp < 0) goto out;
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (dcpl < 0) goto out;
  /* everything is written at once: no fill values first */
  if (H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0) goto out;
  if (deflate > 0 && ndim > 0 && total > 0) {
    hsize_t chunk[H5S_MAX_RANK];
    size_t esize = H5Tget_size(ftype);
    hsize_t row = esize;
    for (int i = 1; i < ndim; i++) row *= dims[i];
    hsize_t k = row > 0 ? (65536 + row - 1) / row : 1;
    if (k < 1) k = 1;
    if (k > dims[0]) k = dims[0];
    chunk[0] = k;
    for (int i = 1; i < ndim; i++) chunk[i] = dims[i];
    if (H5Pset_chunk(dcpl, ndim, chunk) < 0 || H5Pset_deflate(dcpl, (unsigned)deflate) < 0) goto out;
  }
  d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (d < 0) goto out;
  if (total > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) goto out;
  rc = 0;
out:
  if (d >= 0 && H5Dclose(d) < 0) rc = -1;
  if (dcpl >= 0) H5Pclose(dcpl);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

/* ------------------------------------------------------------------ reading helpers */
/* Read a string attribute (fixed or variable length, scalar or one element) into buf. */
int gs_h5_attr_read_str(hid_t loc, const char *name, char *buf, size_t n) {
  hid_t a = -1, ft = -1, sp = -1, mt = -1;
  int rc = -1;
  a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) goto out;
  ft = H5Aget_type(a);
  sp = H5Aget_space(a);
  if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) goto out;
  htri_t vl = H5Tis_variable_str(ft);
  if (vl < 0) goto out;
  if (vl) {
    mt = H5Tcopy(H5T_C_S1);
    if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(ft)) < 0) goto out;
    char *s = NULL;
    if (H5Aread(a, mt, &s) < 0) goto out;
    gs_strlcpy(buf, s ? s : "", n);
    if (s) H5free_memory(s);
  } else {
    size_t sz = H5Tget_size(ft);
    if (sz == 0) goto out;
    char *s = gs_malloc(sz + 1);
    if (H5Aread(a, ft, s) < 0) {
      free(s);
      goto out;
    }
    s[sz] = 0;
    if (H5Tget_strpad(ft) == H5T_STR_SPACEPAD)
      for (size_t i = strlen(s); i > 0 && s[i - 1] == ' '; i--) s[i - 1] = 0;
    gs_strlcpy(buf, s, n);
    free(s);
  }
  rc = 0;
out:
  gs_h5_close_id(&mt);
  gs_h5_close_id(&sp);
  gs_h5_close_id(&ft);
  gs_h5_close_id(&a);
  return rc;
}

int gs_h5_attr_read_f64(hid_t loc, const char *name, double *v) {
  hid_t a = -1, ft = -1, sp = -1;
  int rc = -1;
  a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) goto out;
  ft = H5Aget_type(a);
  sp = H5Aget_space(a);
  if (ft < 0 || sp < 0 || H5Sget_simple_extent_npoints(sp) != 1) goto out;
  H5T_class_t c = H5Tget_class(ft);
  if (c != H5T_FLOAT && c != H5T_INTEGER) goto out;
  if (H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0) goto out;
  rc = 0;
out:
  gs_h5_close_id(&sp);
  gs_h5_close_id(&ft);
  gs_h5_close_id(&a);
  return rc;
}

int gs_h5_attr_read_exact(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t npoints, void *buf) {
  hid_t a = -1, ft = -1, sp = -1;
  int rc = -1;
  a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) goto out;
  ft = H5Aget_type(a);
  sp = H5Aget_space(a);
  if (ft < 0 || sp < 0 || H5Tequal(ft, ftype) <= 0) goto out;
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  if (np < 0 || (hsize_t)np != npoints) goto out;
  if (npoints > 0 && H5Aread(a, mtype, buf) < 0) goto out;
  rc = 0;
out:
  gs_h5_close_id(&sp);
  gs_h5_close_id(&ft);
  gs_h5_close_id(&a);
  return rc;
}

int gs_h5_attr_read_str_array(hid_t loc, const char *name, hsize_t npoints, char *buf, size_t size) {
  hid_t a = -1, ft = -1, sp = -1, mt = -1;
  char *fixed = NULL, **vl = NULL;
  int rc = -1;
  a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) goto out;
  ft = H5Aget_type(a);
  sp = H5Aget_space(a);
  if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_STRING) goto out;
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  if (np < 0 || (hsize_t)np != npoints || H5Sget_simple_extent_ndims(sp) > 1) goto out;
  if (npoints == 0) {
    rc = 0;
    goto out;
  }
  htri_t isvl = H5Tis_variable_str(ft);
  if (isvl < 0) goto out;
  if (isvl) {
    mt = H5Tcopy(H5T_C_S1);
    if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(ft)) < 0) goto out;
    vl = gs_calloc((size_t)npoints, sizeof *vl);
    if (H5Aread(a, mt, vl) < 0) goto out;
    rc = 0;
    for (hsize_t i = 0; i < npoints; i++) {
      const char *s = vl[i] ? vl[i] : "";
      if (strlen(s) >= size) rc = -1;
      else memcpy(buf + i * size, s, strlen(s) + 1);
    }
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mt, sp, H5P_DEFAULT, vl);
#else
    H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, vl);
#endif
  } else {
    size_t sz = H5Tget_size(ft);
    if (sz == 0) goto out;
    fixed = gs_malloc((size_t)npoints * sz);
    if (H5Aread(a, ft, fixed) < 0) goto out;
    int spacepad = H5Tget_strpad(ft) == H5T_STR_SPACEPAD;
    rc = 0;
    for (hsize_t i = 0; i < npoints; i++) {
      const char *s = fixed + i * sz;
      size_t len = strnlen(s, sz);
      if (spacepad)
        while (len > 0 && s[len - 1] == ' ') len--;
      if (len >= size) rc = -1;
      else {
        memcpy(buf + i * size, s, len);
        buf[i * size + len] = 0;
      }
    }
  }
out:
  free(fixed);
  free(vl);
  gs_h5_close_id(&mt);
  gs_h5_close_id(&sp);
  gs_h5_close_id(&ft);
  gs_h5_close_id(&a);
  return rc;
}

/* Index to iterate a group's links with: creation order when the group records it. */
H5_index_t gs_h5_group_index(hid_t g) {
  H5_index_t idx = H5_INDEX_NAME;
  hid_t gcpl = H5Gget_create_plist(g);
  unsigned flags = 0;
  if (gcpl >= 0) {
    if (H5Pget_link_creation_order(gcpl, &flags) >= 0 && (flags & H5P_CRT_ORDER_INDEXED)) idx = H5_INDEX_CRT_ORDER;
    H5Pclose(gcpl);
  }
  return idx;
}

/* Name of the i-th link of g (in `idx` order); 0 or -1. Names longer than n are an error. */
int gs_h5_link_name(hid_t g, H5_index_t idx, hsize_t i, char *buf, size_t n) {
  ssize_t len = H5Lget_name_by_idx(g, ".", idx, H5_ITER_INC, i, buf, n, H5P_DEFAULT);
  if (len < 0 || (size_t)len >= n) return -1;
  return 0;
}

int gs_h5_group_count(hid_t g, hsize_t *n) {
  H5G_info_t info;
  if (H5Gget_info(g, &info) < 0) return -1;
  *n = info.nlinks;
  return 0;
}

/* Open dataset `name` in g and check it has `want_rank` dimensions (-1: any; 0 accepts scalar
 * or a single element). Returns the dataset and fills dims. */
hid_t gs_h5_dataset_open(hid_t g, const char *name, int want_rank, hsize_t *dims, hsize_t *npoints) {
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t sp = H5Dget_space(d);
  if (sp < 0) {
    H5Dclose(d);
    return -1;
  }
  int rank = H5Sget_simple_extent_ndims(sp);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  int ok = rank >= 0 && rank <= H5S_MAX_RANK && np >= 0;
  if (ok && want_rank == 0) ok = np == 1;
  else if (ok && want_rank > 0) ok = rank == want_rank;
  if (ok && dims && rank > 0) ok = H5Sget_simple_extent_dims(sp, dims, NULL) == rank;
  H5Sclose(sp);
  if (!ok) {
    H5Dclose(d);
    return -1;
  }
  if (npoints) *npoints = (hsize_t)np;
  return d;
}

/* ------------------------------------------------------------------ content checksum
 * See h5util.h. Serialisation, in HDF5 name order:
 *   every root attribute but crc32: name, number of values, values
 *   the named root datasets: name, rank, dims, values
 *   each named group: group name, then per link: name, and for a dataset rank, dims, values;
 *   for an external link its target file and object
 * Names and strings go as length (u64 LE) + bytes; integers as int64 LE, floats as float64 LE
 * bits (float32 widens exactly); other types (compound rows) as their bytes in the file type. */
typedef struct ccrc {
  uLong v;
  int bad;           /* a read failed */
  char what[200];    /* what it was */
} ccrc;

static void cc_bytes(ccrc *c, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n > 0) {
    size_t k = n > (1u << 30) ? (1u << 30) : n;
    c->v = crc32(c->v, b, (uInt)k);
    b += k;
    n -= k;
  }
}

static void cc_u64(ccrc *c, uint64_t x) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(x >> (8 * i));
  cc_bytes(c, b, 8);
}

static void cc_str(ccrc *c, const char *s, size_t n) {
  cc_u64(c, n);
  cc_bytes(c, s, n);
}

static void cc_fail(ccrc *c, const char *fmt, const char *a, const char *b) {
  if (!c->bad) snprintf(c->what, sizeof c->what, fmt, a, b);
  c->bad = 1;
}

/* n values of class cls (integer or float) read as int64 / double by `rd`, checksummed. */
typedef herr_t (*cc_read_fn)(hid_t obj, hid_t mtype, void *buf);
static herr_t cc_aread(hid_t a, hid_t mt, void *buf) { return H5Aread(a, mt, buf); }
static herr_t cc_dread(hid_t d, hid_t mt, void *buf) { return H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); }

static int cc_numbers(ccrc *c, hid_t obj, H5T_class_t cls, hsize_t n, cc_read_fn rd) {
  if (n == 0) return 0;
  if (n > ((hsize_t)1 << 31)) return -1;
  uint64_t *buf = malloc(sizeof(uint64_t) * (size_t)n);
  if (!buf) return -1;
  herr_t st = rd(obj, cls == H5T_INTEGER ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, buf);
  if (st >= 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    cc_bytes(c, buf, sizeof(uint64_t) * (size_t)n);
#else
    for (hsize_t i = 0; i < n; i++) cc_u64(c, buf[i]);
#endif
  }
  free(buf);
  return st < 0 ? -1 : 0;
}

/* n values as their bytes in the file's type ft (fixed-size types only). */
static int cc_raw(ccrc *c, hid_t obj, hid_t ft, hsize_t n, cc_read_fn rd) {
  size_t sz = H5Tget_size(ft);
  htri_t vl = H5Tdetect_class(ft, H5T_VLEN), vs = H5Tis_variable_str(ft);
  if (sz == 0 || vl != 0 || vs > 0 || (n > 0 && n > ((hsize_t)1 << 31) / sz)) return -1;
  if (n == 0) return 0;
  unsigned char *buf = malloc(sz * (size_t)n);
  if (!buf) return -1;
  int rc = rd(obj, ft, buf) >= 0 ? 0 : -1;
  if (rc == 0) cc_bytes(c, buf, sz * (size_t)n);
  free(buf);
  return rc;
}

/* One string value of type ft (fixed or variable length) read by `rd`. */
static int cc_string(ccrc *c, hid_t obj, hid_t ft, cc_read_fn rd) {
  htri_t vl = H5Tis_variable_str(ft);
  if (vl < 0) return -1;
  if (vl) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    char *s = NULL;
    int rc = mt >= 0 && H5Tset_size(mt, H5T_VARIABLE) >= 0 && rd(obj, mt, &s) >= 0 ? 0 : -1;
    if (rc == 0) cc_str(c, s ? s : "", s ? strlen(s) : 0);
    if (s) H5free_memory(s);
    if (mt >= 0) H5Tclose(mt);
    return rc;
  }
  size_t sz = H5Tget_size(ft);
  if (sz == 0 || sz > (1u << 30)) return -1;
  char *s = malloc(sz);
  if (!s) return -1;
  int rc = rd(obj, ft, s) >= 0 ? 0 : -1;
  if (rc == 0) cc_str(c, s, strnlen(s, sz));
  free(s);
  return rc;
}

static herr_t cc_attr(hid_t loc, const char *name, const H5A_info_t *info, void *op) {
  ccrc *c = op;
  (void)info;
  if (strcmp(name, "crc32") == 0) return 0;
  cc_str(c, name, strlen(name));
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT), ft = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1;
  hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  H5T_class_t cls = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
  int rc = -1;
  if (np >= 0) {
    cc_u64(c, (uint64_t)np);
    if (cls == H5T_STRING && np == 1) rc = cc_string(c, a, ft, cc_aread);
    else if (cls == H5T_INTEGER || cls == H5T_FLOAT) rc = cc_numbers(c, a, cls, (hsize_t)np, cc_aread);
    else if (cls == H5T_STRING || cls == H5T_COMPOUND) rc = cc_raw(c, a, ft, (hsize_t)np, cc_aread);
  }
  gs_h5_close_id(&sp);
  gs_h5_close_id(&ft);
  gs_h5_close_id(&a);
  if (rc < 0) cc_fail(c, "cannot read attribute %s%s", name, "");
  return rc < 0 ? -1 : 0;
}

typedef struct cc_group {
  ccrc *c;
  const char *group;
} cc_group;

static int cc_one_dataset(ccrc *c, hid_t g, const char *name);

static herr_t cc_link(hid_t g, const char *name, const H5L_info_t *info, void *op) {
  cc_group *x = op;
  ccrc *c = x->c;
  cc_str(c, name, strlen(name));
  if (info->type == H5L_TYPE_EXTERNAL) {
    char val[2048];
    const char *file = NULL, *obj = NULL;
    unsigned flags = 0;
    if (info->u.val_size > sizeof val || H5Lget_val(g, name, val, sizeof val, H5P_DEFAULT) < 0 ||
        H5Lunpack_elink_val(val, info->u.val_size, &flags, &file, &obj) < 0) {
      cc_fail(c, "cannot read link /%s/%s", x->group, name);
      return -1;
    }
    cc_str(c, file, strlen(file));
    cc_str(c, obj, strlen(obj));
    return 0;
  }
  /* a subgroup (model arrays at deeper paths, e.g. /igmn/pass/means): its links, recursively */
  hid_t o = H5Oopen(g, name, H5P_DEFAULT);
  if (o >= 0 && H5Iget_type(o) == H5I_GROUP) {
    char sub[512];
    snprintf(sub, sizeof sub, "%s/%s", x->group, name);
    cc_group y = {c, sub};
    hsize_t idx = 0;
    herr_t st = H5Literate(o, H5_INDEX_NAME, H5_ITER_INC, &idx, cc_link, &y);
    H5Oclose(o);
    if (st < 0) cc_fail(c, "cannot list group /%.150s%s", sub, "");
    return st < 0 ? -1 : 0;
  }
  if (o >= 0) H5Oclose(o);
  if (cc_one_dataset(c, g, name) < 0) {
    cc_fail(c, "cannot read dataset /%s/%s", x->group, name);
    return -1;
  }
  return 0;
}

static int cc_one_dataset(ccrc *c, hid_t g, const char *name) {
  hsize_t dims[H5S_MAX_RANK], np = 0;
  hid_t d = gs_h5_dataset_open(g, name, -1, dims, &np);
  hid_t ft = d >= 0 ? H5Dget_type(d) : -1, sp = d >= 0 ? H5Dget_space(d) : -1;
  int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  H5T_class_t cls = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
  int rc = -1;
  if (rank >= 0) {
    cc_u64(c, (uint64_t)rank);
    for (int i = 0; i < rank; i++) cc_u64(c, dims[i]);
    if (cls == H5T_INTEGER || cls == H5T_FLOAT) rc = cc_numbers(c, d, cls, np, cc_dread);
    else if (cls == H5T_STRING && np == 1 && H5Tis_variable_str(ft) > 0) rc = cc_string(c, d, ft, cc_dread);
    else if (cls == H5T_STRING || cls == H5T_COMPOUND) rc = cc_raw(c, d, ft, np, cc_dread);
  }
  gs_h5_close_id(&sp);
  gs_h5_close_id(&ft);
  gs_h5_close_id(&d);
  return rc;
}

int gs_h5_content_crc(hid_t f, const char *path, const char *const *groups, int ngroups, const char *const *datasets,
                      int ndatasets, uint32_t *out, gs_error *err) {
  ccrc c = {.v = crc32(0L, Z_NULL, 0)};
  hsize_t pos = 0;
  if (H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, &pos, cc_attr, &c) < 0) {
    cc_fail(&c, "cannot list the root attributes%s%s", "", "");
    return gs_h5_fail(err, path, "corrupt file: %s", c.what);
  }
  for (int i = 0; i < ndatasets; i++) {
    cc_str(&c, datasets[i], strlen(datasets[i]));
    if (cc_one_dataset(&c, f, datasets[i]) < 0)
      return gs_h5_fail(err, path, "corrupt or incomplete file: cannot read dataset /%s", datasets[i]);
  }
  for (int i = 0; i < ngroups; i++) {
    cc_str(&c, groups[i], strlen(groups[i]));
    hid_t g = H5Gopen2(f, groups[i], H5P_DEFAULT);
    if (g < 0) return gs_h5_fail(err, path, "corrupt or incomplete file: group /%s missing", groups[i]);
    cc_group x = {&c, groups[i]};
    hsize_t idx = 0;
    herr_t st = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, cc_link, &x);
    H5Gclose(g);
    if (st < 0) {
      cc_fail(&c, "cannot list group /%s%s", groups[i], "");
      return gs_h5_fail(err, path, "corrupt file: %s", c.what);
    }
  }
  *out = (uint32_t)c.v;
  return 0;
}

int gs_h5_content_verify(hid_t f, const char *path, const char *kind, const char *const *groups, int ngroups,
                         const char *const *datasets, int ndatasets, gs_error *err) {
  uint32_t stored = 0, sum = 0;
  if (H5Aexists(f, "crc32") <= 0) {
    /* written by a gensweep from before content checksums (it has the version attribute that
     * every gensweep file has): accepted unverified, so that an upgrade does not turn every
     * finished run into a run to redo; HDF5 still checksums the file's metadata */
    if (H5Aexists(f, "gensweep_version") > 0 && H5Aexists(f, "run_id") > 0) return 0;
    return gs_fail(err, "%s: corrupt or incomplete %s: no crc32 attribute (the checksum over its content)", path,
                   kind);
  }
  if (gs_h5_attr_read_exact(f, "crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, &stored) < 0)
    return gs_h5_fail(err, path, "corrupt %s: attribute crc32 unreadable", kind);
  if (gs_h5_content_crc(f, path, groups, ngroups, datasets, ndatasets, &sum, err) < 0) return -1;
  if (sum != stored)
    return gs_fail(err, "%s: checksum mismatch: the %s is corrupt (crc32 %08x stored, %08x computed)", path, kind,
                   (unsigned)stored, (unsigned)sum);
  return 0;
}

int gs_h5_content_seal(hid_t f, const char *path, const char *const *groups, int ngroups, const char *const *datasets,
                       int ndatasets, gs_error *err) {
  uint32_t sum;
  if (gs_h5_content_crc(f, path, groups, ngroups, datasets, ndatasets, &sum, err) < 0) return -1;
  if (gs_h5_attr_write(f, "crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &sum) < 0)
    return gs_h5_fail(err, path, "writing attribute crc32");
  return 0;
}
