/* Run files (runs/<run-id>.h5) and the sweep index (sweep.h5). Layouts: include/gensweep/io/record.h.
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
 * filesystem cannot. HDF5_USE_FILE_LOCKING in the environment still overrides both.
 *
 * The mechanisms (error summaries, file access, temp + fsync + rename, attribute and dataset
 * helpers) live in h5util.c, shared with the checkpoint file (checkpoint.c). */
#include "gensweep/io/record.h"

#include "gensweep/io/ledger.h"

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

#include "gensweep/io/h5util.h"

const char *const gs_h5_run_groups[4] = {"metrics", "final", "samples", "params"};
#define run_groups gs_h5_run_groups


/* The groups the checksum covers: the four every run file has, then any other root group (a
 * model's arrays, e.g. /igmn), in name order. n is at most GS_RUN_MAX_GROUPS. */
#define GS_RUN_MAX_GROUPS 16
typedef struct rgroups { int n; char name[GS_RUN_MAX_GROUPS][64]; const char *ptr[GS_RUN_MAX_GROUPS]; } rgroups;
static herr_t rg_link(hid_t g, const char *name, const H5L_info_t *info, void *op) {
  rgroups *r = op;
  for (int i = 0; i < 4; i++)
    if (strcmp(name, run_groups[i]) == 0) return 0;
  if (info->type != H5L_TYPE_HARD || r->n >= GS_RUN_MAX_GROUPS || strlen(name) >= 64) return 0;
  hid_t o = H5Oopen(g, name, H5P_DEFAULT);
  if (o < 0) return 0;
  if (H5Iget_type(o) == H5I_GROUP) GS_STRCPY(r->name[r->n++], name);
  H5Oclose(o);
  return 0;
}
static void run_groups_of(hid_t f, rgroups *r) {
  memset(r, 0, sizeof *r);
  for (int i = 0; i < 4; i++) GS_STRCPY(r->name[r->n++], run_groups[i]);
  hsize_t idx = 0;
  H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, &idx, rg_link, r);
  for (int i = 0; i < r->n; i++) r->ptr[i] = r->name[i];
}

/* Compare with the stored crc32 attribute. */
int gs_runfile_verify(hid_t f, const char *path, gs_error *err) {
  rgroups r;
  run_groups_of(f, &r);
  return gs_h5_content_verify(f, path, "run file", r.ptr, r.n, NULL, 0, err);
}
#define runfile_verify gs_runfile_verify


/* ------------------------------------------------------------------ run file: write */
static int write_run_contents(hid_t f, const char *path, const gs_record *r, const gs_config *cfg, gs_error *err) {
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", (unsigned long long)r->config_hash);
  if (gs_h5_attr_str(f, "run_id", r->run_id) < 0) return gs_h5_fail(err, path, "writing attribute run_id");
  if (gs_h5_attr_str(f, "model", r->model) < 0) return gs_h5_fail(err, path, "writing attribute model");
  if (gs_h5_attr_str(f, "status", r->status) < 0) return gs_h5_fail(err, path, "writing attribute status");
  if (gs_h5_attr_str(f, "message", r->message) < 0) return gs_h5_fail(err, path, "writing attribute message");
  if (gs_h5_attr_str(f, "config_hash", hex) < 0) return gs_h5_fail(err, path, "writing attribute config_hash");
  if (gs_h5_attr_str(f, "gensweep_version", GS_VERSION) < 0) return gs_h5_fail(err, path, "writing attribute gensweep_version");
  if (gs_h5_attr_f64(f, "seconds", r->seconds) < 0) return gs_h5_fail(err, path, "writing attribute seconds");
  if (cfg) {
    char *canon = gs_config_canonical(cfg);
    int rc = gs_h5_attr_str(f, "config", canon ? canon : "");
    free(canon);
    if (rc < 0) return gs_h5_fail(err, path, "writing attribute config");
    for (int i = 0; i < cfg->vocab->nkeys; i++) {
      const gs_key *k = cfg->vocab->keys[i];
      char name[160];
      snprintf(name, sizeof name, "%s.%s", k->section, k->name);
      switch (k->type) {
      case GS_KEY_INT: rc = gs_h5_attr_i64(f, name, (int64_t)gs_config_int(cfg, k)); break;
      case GS_KEY_FLOAT: rc = gs_h5_attr_f64(f, name, gs_config_float(cfg, k)); break;
      case GS_KEY_STRING:
      case GS_KEY_ENUM: rc = gs_h5_attr_str(f, name, gs_config_str(cfg, k)); break;
      default: rc = 0;
      }
      if (rc < 0) return gs_h5_fail(err, path, "writing attribute %s", name);
    }
  }

  hid_t g = gs_h5_group_new(f, "metrics");
  if (g < 0) return gs_h5_fail(err, path, "creating group /metrics");
  for (int i = 0; i < r->nseries; i++) {
    const gs_series *s = &r->series[i];
    hsize_t dims[1] = {(hsize_t)(s->n > 0 ? s->n : 0)};
    if (gs_h5_dataset_write(g, s->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims, s->v, 0) < 0) {
      gs_h5_fail(err, path, "writing dataset /metrics/%s", s->name);
      H5Gclose(g);
      return -1;
    }
  }
  H5Gclose(g);

  g = gs_h5_group_new(f, "final");
  if (g < 0) return gs_h5_fail(err, path, "creating group /final");
  for (int i = 0; i < r->nscalars; i++) {
    const gs_scalar *s = &r->scalars[i];
    if (gs_h5_dataset_write(g, s->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL, &s->v, 0) < 0) {
      gs_h5_fail(err, path, "writing dataset /final/%s", s->name);
      H5Gclose(g);
      return -1;
    }
  }
  H5Gclose(g);

  g = gs_h5_group_new(f, "samples");
  if (g < 0) return gs_h5_fail(err, path, "creating group /samples");
  for (int i = 0; i < r->nimages; i++) {
    const gs_images *im = &r->images[i];
    hsize_t dims[3] = {(hsize_t)im->n, (hsize_t)im->h, (hsize_t)im->w};
    if (gs_h5_dataset_write(g, im->name, H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, dims, im->pix, 4) < 0) {
      gs_h5_fail(err, path, "writing dataset /samples/%s", im->name);
      H5Gclose(g);
      return -1;
    }
  }
  H5Gclose(g);

  /* model arrays at their paths, groups created on the way */
  for (int i = 0; i < r->narrays; i++) {
    const gs_array *a = &r->arrays[i];
    char grp[sizeof a->name];
    for (const char *sl = strchr(a->name, '/'); sl; sl = strchr(sl + 1, '/')) {
      snprintf(grp, sizeof grp, "%.*s", (int)(sl - a->name), a->name);
      if (H5Lexists(f, grp, H5P_DEFAULT) <= 0) {
        hid_t gg = H5Gcreate2(f, grp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (gg < 0) return gs_h5_fail(err, path, "creating group /%s", grp);
        H5Gclose(gg);
      }
    }
    hsize_t dims[3] = {(hsize_t)a->shape[0], (hsize_t)a->shape[1], (hsize_t)a->shape[2]};
    if (gs_h5_dataset_write(f, a->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, a->ndim, dims, a->v, 0) < 0)
      return gs_h5_fail(err, path, "writing dataset /%s", a->name);
  }

  g = gs_h5_group_new(f, "params");
  if (g < 0) return gs_h5_fail(err, path, "creating group /params");
  const gs_params *p = r->params;
  if (p && p->count > 0 && !p->data) {
    H5Gclose(g);
    return gs_fail(err, "%s: cannot write parameters: the parameter block is not allocated", path);
  }
  for (int i = 0; p && i < p->count; i++) {
    const gs_param_info *in = &p->info[i];
    hsize_t dims[GS_MAX_DIMS];
    for (int d = 0; d < in->ndim; d++) dims[d] = (hsize_t)in->shape[d];
    if (gs_h5_dataset_write(g, in->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, in->ndim, dims, p->data + in->offset, 0) < 0) {
      gs_h5_fail(err, path, "writing dataset /params/%s", in->name);
      H5Gclose(g);
      return -1;
    }
  }
  H5Gclose(g);
  return 0;
}

typedef struct run_ctx {
  const gs_record *r;
  const gs_config *cfg;
} run_ctx;

static int fill_run(hid_t f, const char *path, void *ctx, gs_error *err) {
  const run_ctx *c = ctx;
  if (write_run_contents(f, path, c->r, c->cfg, err) < 0) return -1;
  /* last: the checksum over what the file now holds */
  rgroups rg;
  run_groups_of(f, &rg);
  return gs_h5_content_seal(f, path, rg.ptr, rg.n, NULL, 0, err);
}

int gs_runfile_write(const char *path, const gs_record *r, const gs_config *cfg, gs_error *err) {
  run_ctx c = {r, cfg};
  return gs_h5_write_atomic(path, fill_run, &c, err);
}

/* The summary, from an open file. */
static int read_summary_open(hid_t f, const char *path, gs_run_summary *s, gs_error *err) {
  memset(s, 0, sizeof *s);
  char hex[64];
  static const char *const req[] = {"status", "message", "run_id", "config_hash"};
  char *dst[] = {s->status, s->message, s->run_id, hex};
  size_t dstn[] = {sizeof s->status, sizeof s->message, sizeof s->run_id, sizeof hex};
  for (int i = 0; i < 4; i++)
    if (gs_h5_attr_read_str(f, req[i], dst[i], dstn[i]) < 0)
      return gs_h5_fail(err, path, "not a complete run file: string attribute '%s' missing or unreadable", req[i]);
  if (gs_h5_attr_read_f64(f, "seconds", &s->seconds) < 0)
    return gs_h5_fail(err, path, "not a complete run file: attribute 'seconds' missing or unreadable");
  char *end = NULL;
  errno = 0;
  unsigned long long h = strtoull(hex, &end, 16);
  if (!hex[0] || errno || !end || *end || strlen(hex) > 16)
    return gs_fail(err, "%s: bad config_hash attribute '%s' (want 16 hex digits)", path, hex);
  s->config_hash = (uint64_t)h;

  hid_t g = H5Gopen2(f, "final", H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "not a complete run file: group /final missing");
  hsize_t n = 0;
  H5_index_t idx = gs_h5_group_index(g);
  if (gs_h5_group_count(g, &n) < 0) {
    H5Gclose(g);
    return gs_h5_fail(err, path, "cannot list /final");
  }
  for (hsize_t i = 0; i < n && s->nscalars < GS_MAX_SCALARS; i++) {
    char name[256];
    if (gs_h5_link_name(g, idx, i, name, sizeof name) < 0) {
      H5Gclose(g);
      return gs_h5_fail(err, path, "cannot read the name of /final entry %llu", (unsigned long long)i);
    }
    double v;
    hid_t d = gs_h5_dataset_open(g, name, 0, NULL, NULL);
    if (d < 0 || H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0) {
      if (d >= 0) H5Dclose(d);
      H5Gclose(g);
      return gs_h5_fail(err, path, "cannot read /final/%s (want a numeric scalar)", name);
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
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  memset(s, 0, sizeof *s);
  int rc = -1;
  hid_t f = gs_h5_open_readonly(path, err);
  if (f >= 0) {
    rc = read_summary_open(f, path, s, err);
    if (rc == 0) rc = runfile_verify(f, path, err);
    if (H5Fclose(f) < 0 && rc == 0) rc = gs_h5_fail(err, path, "closing");
  }
  gs_h5_quiet_end(&q);
  return rc;
}

/* ------------------------------------------------------------------ run file: full read */
static int read_series(hid_t f, const char *path, gs_record *r, gs_error *err) {
  hid_t g = H5Gopen2(f, "metrics", H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "not a complete run file: group /metrics missing");
  int rc = -1;
  hsize_t n = 0;
  H5_index_t idx = gs_h5_group_index(g);
  if (gs_h5_group_count(g, &n) < 0) {
    gs_h5_fail(err, path, "cannot list /metrics");
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
    if (gs_h5_link_name(g, idx, i, name, sizeof name) < 0) {
      gs_h5_fail(err, path, "bad name of /metrics entry %llu", (unsigned long long)i);
      goto out;
    }
    hid_t d = gs_h5_dataset_open(g, name, 1, dims, &np);
    if (d < 0 || np > (hsize_t)0x7fffffff) {
      if (d >= 0) H5Dclose(d);
      gs_h5_fail(err, path, "cannot read /metrics/%s (want a 1-D numeric series)", name);
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
      gs_h5_fail(err, path, "cannot read /metrics/%s", name);
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
  if (g < 0) return gs_h5_fail(err, path, "not a complete run file: group /samples missing");
  int rc = -1;
  hsize_t n = 0;
  H5_index_t idx = gs_h5_group_index(g);
  if (gs_h5_group_count(g, &n) < 0) {
    gs_h5_fail(err, path, "cannot list /samples");
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
    if (gs_h5_link_name(g, idx, i, name, sizeof name) < 0) {
      gs_h5_fail(err, path, "bad name of /samples entry %llu", (unsigned long long)i);
      goto out;
    }
    hid_t d = gs_h5_dataset_open(g, name, 3, dims, &np);
    if (d < 0 || dims[0] > 0x7fffffff || dims[1] > 0x7fffffff || dims[2] > 0x7fffffff) {
      if (d >= 0) H5Dclose(d);
      gs_h5_fail(err, path, "cannot read /samples/%s (want uint8 [n, h, w])", name);
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
      gs_h5_fail(err, path, "cannot read /samples/%s", name);
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
  if (g < 0) return gs_h5_fail(err, path, "not a complete run file: group /params missing");
  int rc = -1;
  hsize_t n = 0;
  if (gs_h5_group_count(g, &n) < 0) {
    gs_h5_fail(err, path, "cannot list /params");
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
      gs_h5_fail(err, path, "parameter '%s' of the model is missing from /params", in->name);
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
      gs_h5_fail(err, path, "cannot read /params/%s", in->name);
      goto out;
    }
  }
  rc = 0;
out:
  H5Gclose(g);
  return rc;
}

int gs_runfile_read(const char *path, gs_record *r, gs_params *params, gs_error *err) {
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  gs_record_init(r, "", "", 0);
  int rc = -1;
  gs_run_summary *s = gs_malloc(sizeof *s);
  hid_t f = gs_h5_open_readonly(path, err);
  if (f < 0) goto out;
  if (read_summary_open(f, path, s, err) < 0) goto out;
  if (runfile_verify(f, path, err) < 0) goto out;
  char model[sizeof r->model];
  if (gs_h5_attr_read_str(f, "model", model, sizeof model) < 0) {
    gs_h5_fail(err, path, "not a complete run file: string attribute 'model' missing or unreadable");
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
  if (f >= 0 && H5Fclose(f) < 0 && rc == 0) rc = gs_h5_fail(err, path, "closing");
  if (rc != 0) gs_record_free(r);
  free(s);
  gs_h5_quiet_end(&q);
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

/* What sweep.h5 holds, written into the open temporary file by gs_h5_write_atomic. */
typedef struct sweep_fill {
  const gs_sweep *sw;
  long nr;
  const col *cols;
  int ncols, met0;
  size_t rowsize;
  const char *rows;
  const int *state;
} sweep_fill;

const char *const gs_h5_sweep_groups[1] = {"runs"};
const char *const gs_h5_sweep_datasets[2] = {"experiment", "grid"};
#define sweep_groups gs_h5_sweep_groups
#define sweep_datasets gs_h5_sweep_datasets

int gs_sweepfile_verify(const char *path, gs_error *err) {
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  int rc = -1;
  hid_t f = gs_h5_open_readonly(path, err);
  if (f >= 0) {
    rc = gs_h5_content_verify(f, path, "sweep index", sweep_groups, 1, sweep_datasets, 2, err);
    if (H5Fclose(f) < 0 && rc == 0) rc = gs_h5_fail(err, path, "closing");
  }
  gs_h5_quiet_end(&q);
  return rc;
}

static int fill_sweepfile(hid_t f, const char *path, void *vctx, gs_error *err) {
  const sweep_fill *x = vctx;
  const gs_sweep *sw = x->sw;
  long nr = x->nr;
  const col *cols = x->cols;
  int ncols = x->ncols, met0 = x->met0;
  size_t rowsize = x->rowsize;
  const char *rows = x->rows;
  const int *state = x->state;
  hid_t ct = -1, g = -1;
  {
    const char *axes[GS_MAX_AXES];
    for (int a = 0; a < sw->naxes; a++) axes[a] = sw->axes[a].fullname;
    if (gs_h5_attr_str(f, "sweep_name", sw->base.sweep_name) < 0 || gs_h5_attr_str(f, "experiment_path", sw->path) < 0 ||
        gs_h5_attr_str(f, "gensweep_version", GS_VERSION) < 0 || gs_h5_attr_i64(f, "nruns", nr) < 0 ||
        gs_h5_attr_i64(f, "naxes", sw->naxes) < 0 || gs_h5_attr_str_array(f, "axes", axes, sw->naxes) < 0) {
      gs_h5_fail(err, path, "writing root attributes");
      goto fail;
    }
    /* early stopping: what `gensweep report` ranks the runs by (metric "": the model's headline) */
    if (sw->base.scheduler[0] && strcmp(sw->base.scheduler, "none") != 0 &&
        (gs_h5_attr_str(f, "scheduler", sw->base.scheduler) < 0 ||
         gs_h5_attr_str(f, "scheduler_metric", sw->base.sched_metric) < 0 ||
         gs_h5_attr_str(f, "scheduler_mode", sw->base.sched_mode) < 0)) {
      gs_h5_fail(err, path, "writing root attributes");
      goto fail;
    }
  }
  {
    const char *text = sw->text ? sw->text : "";
    hid_t t = gs_h5_str_type(strlen(text) + 1);
    int r2 = t < 0 ? -1 : gs_h5_dataset_write(f, "experiment", t, t, 0, NULL, text, 0);
    if (t >= 0) H5Tclose(t);
    if (r2 < 0) {
      gs_h5_fail(err, path, "writing dataset /experiment");
      goto fail;
    }
  }
  ct = H5Tcreate(H5T_COMPOUND, rowsize);
  if (ct < 0) {
    gs_h5_fail(err, path, "creating the /grid row type");
    goto fail;
  }
  for (int c = 0; c < ncols; c++) {
    int is_num = c >= met0;
    hid_t t = is_num ? H5Tcopy(H5T_NATIVE_DOUBLE) : gs_h5_str_type(cols[c].size);
    herr_t st = t < 0 ? -1 : H5Tinsert(ct, cols[c].name, cols[c].off, t);
    if (t >= 0) H5Tclose(t);
    if (st < 0) {
      gs_h5_fail(err, path, "adding column '%s' to the /grid row type", cols[c].name);
      goto fail;
    }
  }
  {
    hsize_t dims[1] = {(hsize_t)nr};
    if (gs_h5_dataset_write(f, "grid", ct, ct, 1, dims, rows, 0) < 0) {
      gs_h5_fail(err, path, "writing dataset /grid");
      goto fail;
    }
  }
  g = H5Gcreate2(f, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) {
    gs_h5_fail(err, path, "creating group /runs");
    goto fail;
  }
  for (long i = 0; i < nr; i++) {
    if (state[i] != RUN_OK) continue;
    char target[GS_MAX_RUN_ID + 16];
    snprintf(target, sizeof target, "runs/%s.h5", sw->runs[i].id);
    if (H5Lcreate_external(target, "/", g, sw->runs[i].id, H5P_DEFAULT, H5P_DEFAULT) < 0) {
      gs_h5_fail(err, path, "creating external link /runs/%s -> %s", sw->runs[i].id, target);
      goto fail;
    }
  }
  gs_h5_close_id(&g);
  gs_h5_close_id(&ct);
  return gs_h5_content_seal(f, path, sweep_groups, 1, sweep_datasets, 2, err);
fail:
  gs_h5_close_id(&g);
  gs_h5_close_id(&ct);
  return -1;
}

/* Run files are written once (temp + rename) and then never change: a summary read and verified
 * earlier in this process is reused while the file's identity (device, inode, size, mtime) is
 * the same, so the periodic sweep.h5 rebuilds of a long sweep read each run file once, not once
 * per rebuild. */
typedef struct sum_entry { char *path; dev_t dev; ino_t ino; off_t size; struct timespec mtim; gs_run_summary s; } sum_entry;
static sum_entry *scache;
static long nscache, capscache;

static sum_entry *summary_find(const char *path) {
  for (long i = 0; i < nscache; i++) /* linear: a few thousand entries at most, next to HDF5 reads */
    if (strcmp(scache[i].path, path) == 0) return &scache[i];
  return NULL;
}
static int same_file(const sum_entry *c, const struct stat *st) {
  return c->dev == st->st_dev && c->ino == st->st_ino && c->size == st->st_size &&
         c->mtim.tv_sec == st->st_mtim.tv_sec && c->mtim.tv_nsec == st->st_mtim.tv_nsec;
}
static int summary_cached(const char *path, const struct stat *st, gs_run_summary *out) {
  sum_entry *c = summary_find(path);
  if (!c || !same_file(c, st)) return -1;
  *out = c->s;
  return 0;
}
static void summary_remember(const char *path, const struct stat *st, const gs_run_summary *s) {
  sum_entry *c = summary_find(path);
  if (!c) {
    if (nscache == capscache) scache = gs_realloc(scache, sizeof *scache * (size_t)(capscache = capscache ? 2 * capscache : 64));
    c = &scache[nscache++];
    c->path = gs_strdup(path);
  }
  c->dev = st->st_dev;
  c->ino = st->st_ino;
  c->size = st->st_size;
  c->mtim = st->st_mtim;
  c->s = *s;
}

static int sweepfile_write_log(const char *dir, const gs_sweep *sw, FILE *log, long *ncorrupt, gs_error *err) {
  if (ncorrupt) *ncorrupt = 0;
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  int rc = -1;
  long nr = sw->nruns > 0 ? sw->nruns : 0;
  size_t dl = strlen(dir);
  char *path = gs_malloc(dl + 16);
  snprintf(path, dl + 16, "%s/sweep.h5", dir);
  gs_run_summary *sums = gs_calloc((size_t)(nr ? nr : 1), sizeof *sums);
  int *state = gs_calloc((size_t)(nr ? nr : 1), sizeof *state);
  char **status = gs_calloc((size_t)(nr ? nr : 1), sizeof *status);
  char **msg = gs_calloc((size_t)(nr ? nr : 1), sizeof *msg);
  int nmet = 0, capmet = 16;
  char(*met)[GS_NAME_LEN] = gs_malloc(sizeof *met * (size_t)capmet);
  col *cols = NULL;
  char *rows = NULL;

  /* 1. what each run's file says; a run without a file: what the ledger says (running,
   * interrupted with its last checkpointed epoch, failed without a file, or pending) */
  gs_ledger_view lv;
  memset(&lv, 0, sizeof lv);
  gs_error lerr = {0};
  int have_ledger = gs_ledger_read(dir, &lv, &lerr) == 0;
  size_t pl = dl + 2 * GS_MAX_RUN_ID + 32;
  char *rpath = gs_malloc(pl);
  for (long i = 0; i < nr; i++) {
    const gs_run *run = &sw->runs[i];
    snprintf(rpath, pl, "%s/runs/%s.h5", dir, run->id);
    struct stat st;
    if (stat(rpath, &st) != 0 && errno == ENOENT) {
      state[i] = RUN_PENDING;
      long li = -1;
      gs_run_state rs = have_ledger ? gs_ledger_run_state(&lv, run->id, run->hash, &li, NULL) : GS_RUN_PENDING;
      const char *word = rs == GS_RUN_RUNNING       ? "running"
                         : rs == GS_RUN_INTERRUPTED ? "interrupted"
                         : rs == GS_RUN_FAILED      ? "failed"
                         : rs == GS_RUN_DONE        ? "pending" /* done in the ledger but its file is gone */
                                                    : "pending";
      status[i] = gs_strdup(word);
      char m[700] = "";
      if (li >= 0 && rs != GS_RUN_PENDING) {
        const gs_ledger_entry *le = &lv.last[li];
        if (rs == GS_RUN_DONE)
          snprintf(m, sizeof m, "the ledger says done but runs/%s.h5 is missing: it will run again", run->id);
        else if (lv.sum[li].epoch >= 0)
          snprintf(m, sizeof m, "ledger: %s, epoch %ld%s%s", le->state, lv.sum[li].epoch, le->message[0] ? ": " : "",
                   le->message);
        else
          snprintf(m, sizeof m, "ledger: %s%s%s", le->state, le->message[0] ? ": " : "", le->message);
      }
      msg[i] = gs_strdup(m);
      continue;
    }
    gs_error e = {0};
    if (summary_cached(rpath, &st, &sums[i]) != 0 && gs_runfile_read_summary(rpath, &sums[i], &e) == 0)
      summary_remember(rpath, &st, &sums[i]);
    if (e.msg[0]) {
      if (log) fprintf(log, "run %s: corrupt or unreadable run file, left out of sweep.h5: %s\n", run->id, e.msg);
      if (ncorrupt) (*ncorrupt)++;
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
  if (have_ledger) gs_ledger_view_free(&lv);

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

  /* 3. write: tmp, fsync, rename */
  {
    sweep_fill x = {sw, nr, cols, ncols, met0, rowsize, rows, state};
    rc = gs_h5_write_atomic(path, fill_sweepfile, &x, err);
  }
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
  gs_h5_quiet_end(&q);
  return rc;
}

/* ------------------------------------------------------------------ a run file's status, changed */

typedef struct status_change {
  const char *status, *message;
} status_change;

static int fill_status(hid_t f, const char *path, void *ctx, gs_error *err) {
  const status_change *x = ctx;
  gs_run_summary s;
  if (read_summary_open(f, path, &s, err) != 0 || runfile_verify(f, path, err) != 0) return -1;
  if (H5Adelete(f, "status") < 0 || gs_h5_attr_str(f, "status", x->status) < 0)
    return gs_h5_fail(err, path, "rewriting attribute status");
  if (H5Adelete(f, "message") < 0 || gs_h5_attr_str(f, "message", x->message) < 0)
    return gs_h5_fail(err, path, "rewriting attribute message");
  /* the checksum covers the root attributes: sealed again over the new ones */
  if (H5Adelete(f, "crc32") < 0) return gs_h5_fail(err, path, "removing the old checksum");
  rgroups rg;
  run_groups_of(f, &rg);
  return gs_h5_content_seal(f, path, rg.ptr, rg.n, NULL, 0, err);
}

int gs_runfile_set_status(const char *path, const char *status, const char *message, gs_error *err) {
  status_change x = {status, message ? message : ""};
  return gs_h5_rewrite_atomic(path, fill_status, &x, err);
}

/* Several processes may rebuild one sweep.h5 (the shards of a job array, `gensweep rebuild`
 * while a sweep runs): they take turns on DIR/sweep.lock. Each rebuild reads the run files
 * after the previous one has been renamed into place, so the last to finish has seen every run
 * file written before it started, and no two processes share sweep.h5.tmp. */
int gs_sweepfile_write_log(const char *dir, const gs_sweep *sw, FILE *log, long *ncorrupt, gs_error *err) {
  int lk = gs_lock_dir(dir, GS_SWEEP_LOCK);
  int rc = sweepfile_write_log(dir, sw, log, ncorrupt, err);
  gs_unlock_dir(lk);
  return rc;
}

int gs_sweepfile_write(const char *dir, const gs_sweep *sw, gs_error *err) {
  return gs_sweepfile_write_log(dir, sw, NULL, NULL, err);
}
