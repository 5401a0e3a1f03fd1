/* Run files (runs/<run-id>.h5) and the sweep index (sweep.h5). Layouts: include/gensweep/record.h.
 *
 * Crash safety: a file is written whole to <path>.tmp with the serial sec2 driver, closed,
 * fsync'd, renamed over <path>, and the directory is fsync'd. A reader therefore sees either
 * the previous complete file or the new complete file, never a half-written one (HDF5 gives no
 * such guarantee for a file that is open for writing when the process dies).
 *
 * HDF5 errors: automatic printing of the error stack is switched off inside every function here
 * (and restored on the way out); instead the stack is walked and summarised into the gs_error
 * message, which always names the file.
 *
 * File locking: readers open with locking disabled (a sec2 writer holds an exclusive lock, and
 * shared filesystems often have no locks at all); writers lock but carry on where the
 * filesystem cannot. HDF5_USE_FILE_LOCKING in the environment still overrides both. */
#include "gensweep/record.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

/* ------------------------------------------------------------------ HDF5 error handling */
typedef struct h5quiet {
  H5E_auto2_t fn;
  void *data;
} h5quiet;

static void h5_quiet_begin(h5quiet *q) {
#if !H5_VERSION_GE(1, 10, 7)
  /* no H5Pset_file_locking: the environment variable is the only switch (read at each open) */
  setenv("HDF5_USE_FILE_LOCKING", "FALSE", 0);
#endif
  q->fn = NULL;
  q->data = NULL;
  H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_quiet_end(h5quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

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
static void h5_describe(char *buf, size_t n) {
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
__attribute__((format(printf, 3, 4))) static int h5_fail(gs_error *err, const char *path, const char *fmt, ...) {
  char what[512], h5[800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  h5_describe(h5, sizeof h5);
  return gs_fail(err, "%s: %s: %s", path, what, h5);
}

static void h5_close_id(hid_t *id) {
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
static hid_t fapl_new(int writer) {
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
static hid_t open_readonly(const char *path, gs_error *err) {
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
  hid_t fapl = fapl_new(0);
  if (fapl < 0) {
    h5_fail(err, path, "cannot set up HDF5 file access");
    return -1;
  }
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (f < 0) {
    char h5[800];
    h5_describe(h5, sizeof h5);
    if (strstr(h5, "unable to lock file")) /* only when HDF5_USE_FILE_LOCKING=TRUE overrides us */
      gs_fail(err, "%s: cannot open: locked by another process: %s", path, h5);
    else
      gs_fail(err, "%s: not a readable HDF5 file (truncated or corrupt): %s", path, h5);
  }
  H5Pclose(fapl);
  return f;
}

/* Create the empty temporary file (replacing one left by a crashed writer) with open(2) first:
 * the errno of a missing or read-only directory makes a clearer message than HDF5's. */
static int create_tmp(const char *tmp, const char *path, gs_error *err) {
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return gs_fail(err, "%s: cannot create %s: %s", path, tmp, strerror(errno));
  close(fd);
  return 0;
}

/* <path>.tmp is complete and closed: fsync it, rename it to <path>, fsync the directory. */
static int commit_tmp(const char *tmp, const char *path, gs_error *err) {
  int fd = open(tmp, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    unlink(tmp);
    return gs_fail(err, "%s: cannot reopen %s to sync it: %s", path, tmp, strerror(e));
  }
  if (fsync(fd) != 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return gs_fail(err, "%s: fsync of %s failed: %s", path, tmp, strerror(e));
  }
  if (close(fd) != 0) {
    int e = errno;
    unlink(tmp);
    return gs_fail(err, "%s: close of %s failed: %s", path, tmp, strerror(e));
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return gs_fail(err, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
  }
  /* Make the rename itself durable. Not being able to open the directory (no read permission)
   * or a filesystem without directory fsync is tolerated: the file is complete and in place. */
  char dir[4096];
  gs_strlcpy(dir, path, sizeof dir);
  char *slash = strrchr(dir, '/');
  if (!slash) GS_STRCPY(dir, ".");
  else if (slash == dir) dir[1] = 0;
  else *slash = 0;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    int rc = fsync(dfd), e = errno;
    close(dfd);
    if (rc != 0 && e != EINVAL && e != ENOTSUP && e != EROFS)
      return gs_fail(err, "%s: written, but fsync of directory %s failed: %s", path, dir, strerror(e));
  }
  return 0;
}

/* ------------------------------------------------------------------ writing helpers */
/* Fixed-length, null-terminated UTF-8 string type of `size` bytes (>= 1). */
static hid_t str_type(size_t size) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return -1;
  if (H5Tset_size(t, size ? size : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
      H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

static int attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *buf) {
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

static int attr_str(hid_t loc, const char *name, const char *s) {
  hid_t t = str_type(strlen(s) + 1);
  if (t < 0) return -1;
  int rc = attr_write(loc, name, t, t, s);
  H5Tclose(t);
  return rc;
}

static int attr_f64(hid_t loc, const char *name, double v) {
  return attr_write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

static int attr_i64(hid_t loc, const char *name, int64_t v) {
  return attr_write(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

/* 1-D array attribute of fixed-length strings (n may be 0). */
static int attr_str_array(hid_t loc, const char *name, const char *const *v, int n) {
  size_t size = 1;
  for (int i = 0; i < n; i++)
    if (strlen(v[i]) + 1 > size) size = strlen(v[i]) + 1;
  char *buf = gs_calloc((size_t)(n ? n : 1), size);
  for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * size, v[i], strlen(v[i]));
  hsize_t dims[1] = {(hsize_t)n};
  hid_t t = str_type(size), sp = H5Screate_simple(1, dims, NULL), a = -1;
  int rc = -1;
  if (t < 0 || sp < 0) goto out;
  a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) goto out;
  if (n > 0 && H5Awrite(a, t, buf) < 0) goto out;
  rc = 0;
out:
  if (a >= 0 && H5Aclose(a) < 0) rc = -1;
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  free(buf);
  return rc;
}

/* A group whose links are iterated in creation order by readers (metrics keep record order). */
static hid_t group_new(hid_t loc, const char *name) {
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
static int dataset_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim, const hsize_t *dims,
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

/* ------------------------------------------------------------------ run file: write */
static int write_run_contents(hid_t f, const char *path, const gs_record *r, const gs_config *cfg, gs_error *err) {
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)r->config_hash);
  if (attr_str(f, "run_id", r->run_id) < 0) return h5_fail(err, path, "writing attribute run_id");
  if (attr_str(f, "model", r->model) < 0) return h5_fail(err, path, "writing attribute model");
  if (attr_str(f, "status", r->status) < 0) return h5_fail(err, path, "writing attribute status");
  if (attr_str(f, "message", r->message) < 0) return h5_fail(err, path, "writing attribute message");
  if (attr_str(f, "config_hash", hex) < 0) return h5_fail(err, path, "writing attribute config_hash");
  if (attr_str(f, "gensweep_version", GS_VERSION) < 0) return h5_fail(err, path, "writing attribute gensweep_version");
  if (attr_f64(f, "seconds", r->seconds) < 0) return h5_fail(err, path, "writing attribute seconds");
  if (cfg) {
    char *canon = gs_config_canonical(cfg);
    int rc = attr_str(f, "config", canon ? canon : "");
    free(canon);
    if (rc < 0) return h5_fail(err, path, "writing attribute config");
    for (int i = 0; i < gs_config_nkeys; i++) {
      const gs_key *k = &gs_config_keys[i];
      char name[160];
      snprintf(name, sizeof name, "%s.%s", k->section, k->name);
      const char *field = (const char *)cfg + k->offset;
      switch (k->type) {
      case GS_KEY_INT: { /* long in gs_config; an int field would do too */
        int64_t v;
        if (k->size == sizeof(int)) {
          int i32;
          memcpy(&i32, field, sizeof i32);
          v = i32;
        } else {
          long l;
          memcpy(&l, field, sizeof l);
          v = l;
        }
        rc = attr_i64(f, name, v);
        break;
      }
      case GS_KEY_FLOAT: {
        double v;
        if (k->size == sizeof(float)) {
          float x;
          memcpy(&x, field, sizeof x);
          v = x;
        } else {
          memcpy(&v, field, sizeof v);
        }
        rc = attr_f64(f, name, v);
        break;
      }
      case GS_KEY_STRING:
      case GS_KEY_ENUM: {
        size_t len = strnlen(field, k->size ? k->size : 1);
        char *s = gs_malloc(len + 1);
        memcpy(s, field, len);
        s[len] = 0;
        rc = attr_str(f, name, s);
        free(s);
        break;
      }
      default: rc = 0;
      }
      if (rc < 0) return h5_fail(err, path, "writing attribute %s", name);
    }
  }

  hid_t g = group_new(f, "metrics");
  if (g < 0) return h5_fail(err, path, "creating group /metrics");
  for (int i = 0; i < r->nseries; i++) {
    const gs_series *s = &r->series[i];
    hsize_t dims[1] = {(hsize_t)(s->n > 0 ? s->n : 0)};
    if (dataset_write(g, s->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, s->v, 0) < 0) {
      h5_fail(err, path, "writing dataset /metrics/%s", s->name);
      H5Gclose(g);
      return -1;
    }
  }
  H5Gclose(g);

  g = group_new(f, "final");
  if (g < 0) return h5_fail(err, path, "creating group /final");
  for (int i = 0; i < r->nscalars; i++) {
    const gs_scalar *s = &r->scalars[i];
    if (dataset_write(g, s->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL, &s->v, 0) < 0) {
      h5_fail(err, path, "writing dataset /final/%s", s->name);
      H5Gclose(g);
      return -1;
    }
  }
  H5Gclose(g);

  g = group_new(f, "samples");
  if (g < 0) return h5_fail(err, path, "creating group /samples");
  for (int i = 0; i < r->nimages; i++) {
    const gs_images *im = &r->images[i];
    hsize_t dims[3] = {(hsize_t)im->n, (hsize_t)im->h, (hsize_t)im->w};
    if (dataset_write(g, im->name, H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, dims, im->pix, 4) < 0) {
      h5_fail(err, path, "writing dataset /samples/%s", im->name);
      H5Gclose(g);
      return -1;
    }
  }
  H5Gclose(g);

  g = group_new(f, "params");
  if (g < 0) return h5_fail(err, path, "creating group /params");
  const gs_params *p = r->params;
  if (p && p->count > 0 && !p->data) {
    H5Gclose(g);
    return gs_fail(err, "%s: cannot write parameters: the parameter block is not allocated", path);
  }
  for (int i = 0; p && i < p->count; i++) {
    const gs_param_info *in = &p->info[i];
    hsize_t dims[GS_MAX_DIMS];
    for (int d = 0; d < in->ndim; d++) dims[d] = (hsize_t)in->shape[d];
    if (dataset_write(g, in->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, in->ndim, dims, p->data + in->offset, 0) < 0) {
      h5_fail(err, path, "writing dataset /params/%s", in->name);
      H5Gclose(g);
      return -1;
    }
  }
  H5Gclose(g);
  return 0;
}

static char *tmp_name(const char *path) {
  size_t n = strlen(path);
  char *t = gs_malloc(n + 5);
  memcpy(t, path, n);
  memcpy(t + n, ".tmp", 5);
  return t;
}

int gs_runfile_write(const char *path, const gs_record *r, const gs_config *cfg, gs_error *err) {
  h5quiet q;
  h5_quiet_begin(&q);
  char *tmp = tmp_name(path);
  int rc = -1;
  hid_t fapl = -1, f = -1;
  if (create_tmp(tmp, path, err) < 0) goto out;
  fapl = fapl_new(1);
  if (fapl < 0) {
    h5_fail(err, path, "cannot set up HDF5 file access");
    goto out;
  }
  f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (f < 0) {
    h5_fail(err, path, "cannot create %s", tmp);
    goto out;
  }
  if (write_run_contents(f, path, r, cfg, err) < 0) goto out;
  herr_t cr = H5Fclose(f);
  f = -1;
  if (cr < 0) {
    h5_fail(err, path, "closing %s", tmp);
    goto out;
  }
  rc = commit_tmp(tmp, path, err);
out:
  if (f >= 0) H5Fclose(f);
  if (fapl >= 0) H5Pclose(fapl);
  if (rc != 0) unlink(tmp);
  free(tmp);
  h5_quiet_end(&q);
  return rc;
}

/* ------------------------------------------------------------------ reading helpers */
/* Read a string attribute (fixed or variable length, scalar or one element) into buf. */
static int attr_read_str(hid_t loc, const char *name, char *buf, size_t n) {
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
  h5_close_id(&mt);
  h5_close_id(&sp);
  h5_close_id(&ft);
  h5_close_id(&a);
  return rc;
}

static int attr_read_f64(hid_t loc, const char *name, double *v) {
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
  h5_close_id(&sp);
  h5_close_id(&ft);
  h5_close_id(&a);
  return rc;
}

/* Index to iterate a group's links with: creation order when the group records it. */
static H5_index_t group_index(hid_t g) {
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
static int link_name(hid_t g, H5_index_t idx, hsize_t i, char *buf, size_t n) {
  ssize_t len = H5Lget_name_by_idx(g, ".", idx, H5_ITER_INC, i, buf, n, H5P_DEFAULT);
  if (len < 0 || (size_t)len >= n) return -1;
  return 0;
}

static int group_count(hid_t g, hsize_t *n) {
  H5G_info_t info;
  if (H5Gget_info(g, &info) < 0) return -1;
  *n = info.nlinks;
  return 0;
}

/* Open dataset `name` in g and check it has `want_rank` dimensions (-1: any; 0 accepts scalar
 * or a single element). Returns the dataset and fills dims. */
static hid_t dataset_open(hid_t g, const char *name, int want_rank, hsize_t *dims, hsize_t *npoints) {
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

/* The summary, from an open file. */
static int read_summary_open(hid_t f, const char *path, gs_run_summary *s, gs_error *err) {
  memset(s, 0, sizeof *s);
  char hex[64];
  static const char *const req[] = {"status", "message", "run_id", "config_hash"};
  char *dst[] = {s->status, s->message, s->run_id, hex};
  size_t dstn[] = {sizeof s->status, sizeof s->message, sizeof s->run_id, sizeof hex};
  for (int i = 0; i < 4; i++)
    if (attr_read_str(f, req[i], dst[i], dstn[i]) < 0)
      return h5_fail(err, path, "not a complete run file: string attribute '%s' missing or unreadable", req[i]);
  if (attr_read_f64(f, "seconds", &s->seconds) < 0)
    return h5_fail(err, path, "not a complete run file: attribute 'seconds' missing or unreadable");
  char *end = NULL;
  errno = 0;
  unsigned long long h = strtoull(hex, &end, 16);
  if (!hex[0] || errno || !end || *end || strlen(hex) > 16)
    return gs_fail(err, "%s: bad config_hash attribute '%s' (want 16 hex digits)", path, hex);
  s->config_hash = (uint64_t)h;

  hid_t g = H5Gopen2(f, "final", H5P_DEFAULT);
  if (g < 0) return h5_fail(err, path, "not a complete run file: group /final missing");
  hsize_t n = 0;
  H5_index_t idx = group_index(g);
  if (group_count(g, &n) < 0) {
    H5Gclose(g);
    return h5_fail(err, path, "cannot list /final");
  }
  for (hsize_t i = 0; i < n && s->nscalars < GS_MAX_SCALARS; i++) {
    char name[256];
    if (link_name(g, idx, i, name, sizeof name) < 0) {
      H5Gclose(g);
      return h5_fail(err, path, "cannot read the name of /final entry %llu", (unsigned long long)i);
    }
    double v;
    hid_t d = dataset_open(g, name, 0, NULL, NULL);
    if (d < 0 || H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0) {
      if (d >= 0) H5Dclose(d);
      H5Gclose(g);
      return h5_fail(err, path, "cannot read /final/%s (want a numeric scalar)", name);
    }
    H5Dclose(d);
    gs_scalar *sc = &s->scalars[s->nscalars++];
    GS_STRCPY(sc->name, name);
    sc->v = v;
  }
  H5Gclose(g);
  return 0;
}

int gs_runfile_read_summary(const char *path, gs_run_summary *s, gs_error *err) {
  h5quiet q;
  h5_quiet_begin(&q);
  memset(s, 0, sizeof *s);
  int rc = -1;
  hid_t f = open_readonly(path, err);
  if (f >= 0) {
    rc = read_summary_open(f, path, s, err);
    if (H5Fclose(f) < 0 && rc == 0) rc = h5_fail(err, path, "closing");
  }
  h5_quiet_end(&q);
  return rc;
}

/* ------------------------------------------------------------------ run file: full read */
static int read_series(hid_t f, const char *path, gs_record *r, gs_error *err) {
  hid_t g = H5Gopen2(f, "metrics", H5P_DEFAULT);
  if (g < 0) return h5_fail(err, path, "not a complete run file: group /metrics missing");
  int rc = -1;
  hsize_t n = 0;
  H5_index_t idx = group_index(g);
  if (group_count(g, &n) < 0) {
    h5_fail(err, path, "cannot list /metrics");
    goto out;
  }
  if (n > GS_MAX_SERIES) {
    gs_fail(err, "%s: %llu series in /metrics, more than GS_MAX_SERIES (%d)", path, (unsigned long long)n,
            GS_MAX_SERIES);
    goto out;
  }
  for (hsize_t i = 0; i < n; i++) {
    char name[GS_NAME_LEN];
    hsize_t dims[1] = {0}, np = 0;
    if (link_name(g, idx, i, name, sizeof name) < 0) {
      h5_fail(err, path, "bad name of /metrics entry %llu", (unsigned long long)i);
      goto out;
    }
    hid_t d = dataset_open(g, name, 1, dims, &np);
    if (d < 0 || np > (hsize_t)0x7fffffff) {
      if (d >= 0) H5Dclose(d);
      h5_fail(err, path, "cannot read /metrics/%s (want a 1-D numeric series)", name);
      goto out;
    }
    gs_series *s = &r->series[r->nseries++];
    memset(s, 0, sizeof *s);
    GS_STRCPY(s->name, name);
    s->n = (int)np;
    s->cap = s->n > 0 ? s->n : 1;
    s->v = gs_malloc(sizeof(double) * (size_t)s->cap);
    herr_t st = np ? H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->v) : 0;
    H5Dclose(d);
    if (st < 0) {
      h5_fail(err, path, "cannot read /metrics/%s", name);
      goto out;
    }
  }
  rc = 0;
out:
  H5Gclose(g);
  return rc;
}

static int read_images(hid_t f, const char *path, gs_record *r, gs_error *err) {
  hid_t g = H5Gopen2(f, "samples", H5P_DEFAULT);
  if (g < 0) return h5_fail(err, path, "not a complete run file: group /samples missing");
  int rc = -1;
  hsize_t n = 0;
  H5_index_t idx = group_index(g);
  if (group_count(g, &n) < 0) {
    h5_fail(err, path, "cannot list /samples");
    goto out;
  }
  if (n > GS_MAX_IMAGES) {
    gs_fail(err, "%s: %llu image sets in /samples, more than GS_MAX_IMAGES (%d)", path, (unsigned long long)n,
            GS_MAX_IMAGES);
    goto out;
  }
  for (hsize_t i = 0; i < n; i++) {
    char name[GS_NAME_LEN];
    hsize_t dims[3] = {0, 0, 0}, np = 0;
    if (link_name(g, idx, i, name, sizeof name) < 0) {
      h5_fail(err, path, "bad name of /samples entry %llu", (unsigned long long)i);
      goto out;
    }
    hid_t d = dataset_open(g, name, 3, dims, &np);
    if (d < 0 || dims[0] > 0x7fffffff || dims[1] > 0x7fffffff || dims[2] > 0x7fffffff) {
      if (d >= 0) H5Dclose(d);
      h5_fail(err, path, "cannot read /samples/%s (want uint8 [n, h, w])", name);
      goto out;
    }
    gs_images *im = &r->images[r->nimages++];
    memset(im, 0, sizeof *im);
    GS_STRCPY(im->name, name);
    im->n = (int)dims[0];
    im->h = (int)dims[1];
    im->w = (int)dims[2];
    im->pix = gs_malloc((size_t)np);
    herr_t st = np ? H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, im->pix) : 0;
    H5Dclose(d);
    if (st < 0) {
      h5_fail(err, path, "cannot read /samples/%s", name);
      goto out;
    }
  }
  rc = 0;
out:
  H5Gclose(g);
  return rc;
}

static void shape_text(char *buf, size_t n, int ndim, const hsize_t *dims) {
  size_t o = (size_t)snprintf(buf, n, "(");
  for (int d = 0; d < ndim && o < n; d++)
    o += (size_t)snprintf(buf + o, n - o, "%s%llu", d ? ", " : "", (unsigned long long)dims[d]);
  if (o < n) snprintf(buf + o, n - o, ")");
}

static int read_params(hid_t f, const char *path, gs_params *p, gs_error *err) {
  if (p->count > 0 && !p->data)
    return gs_fail(err, "%s: cannot read parameters: the parameter block is not allocated", path);
  hid_t g = H5Gopen2(f, "params", H5P_DEFAULT);
  if (g < 0) return h5_fail(err, path, "not a complete run file: group /params missing");
  int rc = -1;
  hsize_t n = 0;
  if (group_count(g, &n) < 0) {
    h5_fail(err, path, "cannot list /params");
    goto out;
  }
  if (n != (hsize_t)p->count) {
    gs_fail(err, "%s: /params holds %llu parameters, the model declares %d", path, (unsigned long long)n, p->count);
    goto out;
  }
  for (int i = 0; i < p->count; i++) {
    const gs_param_info *in = &p->info[i];
    hid_t d = H5Dopen2(g, in->name, H5P_DEFAULT);
    if (d < 0) {
      h5_fail(err, path, "parameter '%s' of the model is missing from /params", in->name);
      goto out;
    }
    hid_t sp = H5Dget_space(d);
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[H5S_MAX_RANK];
    int ok = rank == in->ndim && (rank == 0 || H5Sget_simple_extent_dims(sp, dims, NULL) == rank);
    for (int k = 0; ok && k < rank; k++) ok = dims[k] == (hsize_t)in->shape[k];
    if (sp >= 0) H5Sclose(sp);
    if (!ok) {
      char fs[128] = "?", ms[128];
      hsize_t md[GS_MAX_DIMS];
      for (int k = 0; k < in->ndim; k++) md[k] = (hsize_t)in->shape[k];
      if (rank >= 0 && rank <= H5S_MAX_RANK) shape_text(fs, sizeof fs, rank, dims);
      shape_text(ms, sizeof ms, in->ndim, md);
      H5Dclose(d);
      gs_fail(err, "%s: parameter '%s' has shape %s in the file but %s in the model", path, in->name, fs, ms);
      goto out;
    }
    herr_t st = in->n ? H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, p->data + in->offset) : 0;
    H5Dclose(d);
    if (st < 0) {
      h5_fail(err, path, "cannot read /params/%s", in->name);
      goto out;
    }
  }
  rc = 0;
out:
  H5Gclose(g);
  return rc;
}

int gs_runfile_read(const char *path, gs_record *r, gs_params *params, gs_error *err) {
  h5quiet q;
  h5_quiet_begin(&q);
  gs_record_init(r, "", "", 0);
  int rc = -1;
  gs_run_summary *s = gs_malloc(sizeof *s);
  hid_t f = open_readonly(path, err);
  if (f < 0) goto out;
  if (read_summary_open(f, path, s, err) < 0) goto out;
  char model[sizeof r->model];
  if (attr_read_str(f, "model", model, sizeof model) < 0) {
    h5_fail(err, path, "not a complete run file: string attribute 'model' missing or unreadable");
    goto out;
  }
  gs_record_init(r, s->run_id, model, s->config_hash);
  GS_STRCPY(r->status, s->status);
  GS_STRCPY(r->message, s->message);
  r->seconds = s->seconds;
  r->nscalars = s->nscalars;
  memcpy(r->scalars, s->scalars, sizeof(gs_scalar) * (size_t)s->nscalars);
  if (read_series(f, path, r, err) < 0) goto out;
  if (read_images(f, path, r, err) < 0) goto out;
  if (params) {
    if (read_params(f, path, params, err) < 0) goto out;
    r->params = params;
  }
  rc = 0;
out:
  if (f >= 0 && H5Fclose(f) < 0 && rc == 0) rc = h5_fail(err, path, "closing");
  if (rc != 0) gs_record_free(r);
  free(s);
  h5_quiet_end(&q);
  return rc;
}

/* ------------------------------------------------------------------ sweep index */
enum { RUN_PENDING, RUN_OK, RUN_CORRUPT };

typedef struct col {
  char name[160];
  size_t off, size;
} col;

static int col_name_taken(const col *cols, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(cols[i].name, name) == 0) return 1;
  return 0;
}

/* Adds a column. A metric whose name is taken (by an axis, a fixed column or the "seconds"
 * column that comes last) gets a "final." prefix. */
static void col_add(col *cols, int *n, const char *name, size_t size, size_t *rowsize, int metric) {
  col *c = &cols[*n];
  if (metric && (col_name_taken(cols, *n, name) || strcmp(name, "seconds") == 0))
    snprintf(c->name, sizeof c->name, "final.%s", name);
  else snprintf(c->name, sizeof c->name, "%s", name);
  c->off = *rowsize;
  c->size = size;
  *rowsize += size;
  (*n)++;
}

static size_t max_strlen1(size_t cur, const char *s) {
  size_t n = strlen(s) + 1;
  return n > cur ? n : cur;
}

int gs_sweepfile_write(const char *dir, const gs_sweep *sw, gs_error *err) {
  h5quiet q;
  h5_quiet_begin(&q);
  int rc = -1;
  long nr = sw->nruns > 0 ? sw->nruns : 0;
  size_t dl = strlen(dir);
  char *path = gs_malloc(dl + 16), *tmp = gs_malloc(dl + 32);
  snprintf(path, dl + 16, "%s/sweep.h5", dir);
  snprintf(tmp, dl + 32, "%s/sweep.h5.tmp", dir);
  gs_run_summary *sums = gs_calloc((size_t)(nr ? nr : 1), sizeof *sums);
  int *state = gs_calloc((size_t)(nr ? nr : 1), sizeof *state);
  char **status = gs_calloc((size_t)(nr ? nr : 1), sizeof *status);
  char **msg = gs_calloc((size_t)(nr ? nr : 1), sizeof *msg);
  int nmet = 0, capmet = 16;
  char(*met)[GS_NAME_LEN] = gs_malloc(sizeof *met * (size_t)capmet);
  col *cols = NULL;
  char *rows = NULL;
  hid_t fapl = -1, f = -1, ct = -1, g = -1;

  /* 1. what each run's file says */
  size_t pl = dl + 2 * GS_MAX_RUN_ID + 32;
  char *rpath = gs_malloc(pl);
  for (long i = 0; i < nr; i++) {
    const gs_run *run = &sw->runs[i];
    snprintf(rpath, pl, "%s/runs/%s.h5", dir, run->id);
    struct stat st;
    if (stat(rpath, &st) != 0 && errno == ENOENT) {
      state[i] = RUN_PENDING;
      status[i] = gs_strdup("pending");
      msg[i] = gs_strdup("");
      continue;
    }
    gs_error e = {0};
    if (gs_runfile_read_summary(rpath, &sums[i], &e) != 0) {
      state[i] = RUN_CORRUPT;
      status[i] = gs_strdup("corrupt");
      msg[i] = gs_strdup(e.msg);
      continue;
    }
    state[i] = RUN_OK;
    if (sums[i].config_hash != run->hash) {
      /* the runner would run it again: say so rather than show old results as current */
      char m[700];
      snprintf(m, sizeof m, "run file is from other parameters (config_hash %016llx, experiment %016llx); it says %s%s%s",
               (unsigned long long)sums[i].config_hash, (unsigned long long)run->hash, sums[i].status,
               sums[i].message[0] ? ": " : "", sums[i].message);
      status[i] = gs_strdup("stale");
      msg[i] = gs_strdup(m);
    } else {
      status[i] = gs_strdup(sums[i].status);
      msg[i] = gs_strdup(sums[i].message);
    }
    for (int k = 0; k < sums[i].nscalars; k++) {
      int seen = 0;
      for (int m = 0; m < nmet && !seen; m++) seen = strcmp(met[m], sums[i].scalars[k].name) == 0;
      if (seen) continue;
      if (nmet == capmet) met = gs_realloc(met, sizeof *met * (size_t)(capmet *= 2));
      GS_STRCPY(met[nmet], sums[i].scalars[k].name);
      nmet++;
    }
  }
  free(rpath);

  /* 2. the grid table's columns: run_id, status, axes..., message, metrics..., seconds */
  int ncols = 0;
  size_t rowsize = 0;
  cols = gs_calloc((size_t)(4 + sw->naxes + nmet), sizeof *cols);
  size_t idsize = 1, stsize = 1, msgsize = 1;
  for (long i = 0; i < nr; i++) {
    idsize = max_strlen1(idsize, sw->runs[i].id);
    stsize = max_strlen1(stsize, status[i]);
    msgsize = max_strlen1(msgsize, msg[i]);
  }
  col_add(cols, &ncols, "run_id", idsize, &rowsize, 0);
  col_add(cols, &ncols, "status", stsize, &rowsize, 0);
  for (int a = 0; a < sw->naxes; a++) {
    size_t sz = 1;
    for (int v = 0; v < sw->axes[a].nvalues; v++) sz = max_strlen1(sz, sw->axes[a].values[v]);
    col_add(cols, &ncols, sw->axes[a].fullname, sz, &rowsize, 0);
  }
  col_add(cols, &ncols, "message", msgsize, &rowsize, 0);
  int met0 = ncols;
  for (int m = 0; m < nmet; m++) col_add(cols, &ncols, met[m], sizeof(double), &rowsize, 1);
  col_add(cols, &ncols, "seconds", sizeof(double), &rowsize, 0);

  rows = gs_calloc((size_t)(nr ? nr : 1), rowsize);
  for (long i = 0; i < nr; i++) {
    char *row = rows + (size_t)i * rowsize;
    const gs_run *run = &sw->runs[i];
    memcpy(row + cols[0].off, run->id, strlen(run->id));
    memcpy(row + cols[1].off, status[i], strlen(status[i]));
    for (int a = 0; a < sw->naxes; a++) {
      int vi = run->value_index[a];
      const char *v = vi >= 0 && vi < sw->axes[a].nvalues ? sw->axes[a].values[vi] : "";
      memcpy(row + cols[2 + a].off, v, strlen(v));
    }
    memcpy(row + cols[2 + sw->naxes].off, msg[i], strlen(msg[i]));
    for (int m = 0; m < nmet; m++) {
      double v = NAN;
      if (state[i] == RUN_OK)
        for (int k = 0; k < sums[i].nscalars; k++)
          if (strcmp(sums[i].scalars[k].name, met[m]) == 0) v = sums[i].scalars[k].v;
      memcpy(row + cols[met0 + m].off, &v, sizeof v);
    }
    double secs = state[i] == RUN_OK ? sums[i].seconds : NAN;
    memcpy(row + cols[ncols - 1].off, &secs, sizeof secs);
  }

  /* 3. write */
  if (create_tmp(tmp, path, err) < 0) goto out;
  fapl = fapl_new(1);
  if (fapl < 0) {
    h5_fail(err, path, "cannot set up HDF5 file access");
    goto out;
  }
  f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (f < 0) {
    h5_fail(err, path, "cannot create %s", tmp);
    goto out;
  }
  {
    const char *axes[GS_MAX_AXES];
    for (int a = 0; a < sw->naxes; a++) axes[a] = sw->axes[a].fullname;
    if (attr_str(f, "sweep_name", sw->base.sweep_name) < 0 || attr_str(f, "experiment_path", sw->path) < 0 ||
        attr_str(f, "gensweep_version", GS_VERSION) < 0 || attr_i64(f, "nruns", nr) < 0 ||
        attr_i64(f, "naxes", sw->naxes) < 0 || attr_str_array(f, "axes", axes, sw->naxes) < 0) {
      h5_fail(err, path, "writing root attributes");
      goto out;
    }
  }
  {
    const char *text = sw->text ? sw->text : "";
    hid_t t = str_type(strlen(text) + 1);
    int r2 = t < 0 ? -1 : dataset_write(f, "experiment", t, t, 0, NULL, text, 0);
    if (t >= 0) H5Tclose(t);
    if (r2 < 0) {
      h5_fail(err, path, "writing dataset /experiment");
      goto out;
    }
  }
  ct = H5Tcreate(H5T_COMPOUND, rowsize);
  if (ct < 0) {
    h5_fail(err, path, "creating the /grid row type");
    goto out;
  }
  for (int c = 0; c < ncols; c++) {
    int is_num = c >= met0;
    hid_t t = is_num ? H5Tcopy(H5T_NATIVE_DOUBLE) : str_type(cols[c].size);
    herr_t st = t < 0 ? -1 : H5Tinsert(ct, cols[c].name, cols[c].off, t);
    if (t >= 0) H5Tclose(t);
    if (st < 0) {
      h5_fail(err, path, "adding column '%s' to the /grid row type", cols[c].name);
      goto out;
    }
  }
  {
    hsize_t dims[1] = {(hsize_t)nr};
    if (dataset_write(f, "grid", ct, ct, 1, dims, rows, 0) < 0) {
      h5_fail(err, path, "writing dataset /grid");
      goto out;
    }
  }
  g = H5Gcreate2(f, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) {
    h5_fail(err, path, "creating group /runs");
    goto out;
  }
  for (long i = 0; i < nr; i++) {
    if (state[i] != RUN_OK) continue;
    char target[GS_MAX_RUN_ID + 16];
    snprintf(target, sizeof target, "runs/%s.h5", sw->runs[i].id);
    if (H5Lcreate_external(target, "/", g, sw->runs[i].id, H5P_DEFAULT, H5P_DEFAULT) < 0) {
      h5_fail(err, path, "creating external link /runs/%s -> %s", sw->runs[i].id, target);
      goto out;
    }
  }
  h5_close_id(&g);
  h5_close_id(&ct);
  {
    herr_t cr = H5Fclose(f);
    f = -1;
    if (cr < 0) {
      h5_fail(err, path, "closing %s", tmp);
      goto out;
    }
  }
  rc = commit_tmp(tmp, path, err);
out:
  h5_close_id(&g);
  h5_close_id(&ct);
  h5_close_id(&f);
  h5_close_id(&fapl);
  if (rc != 0) unlink(tmp);
  for (long i = 0; i < nr; i++) {
    free(status[i]);
    free(msg[i]);
  }
  free(status);
  free(msg);
  free(sums);
  free(state);
  free(met);
  free(cols);
  free(rows);
  free(path);
  free(tmp);
  h5_quiet_end(&q);
  return rc;
}
