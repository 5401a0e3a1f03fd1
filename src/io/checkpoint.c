/* Checkpoint files (ckpt/<run-id>.h5). Layout and contract: include/gensweep/io/checkpoint.h.
 *
 * Both directions go through one flat "view" of a checkpoint, shaped like the file: small
 * tables copied into the view, big arrays (parameters, moments, order, series values) pointed
 * at. The writer builds the view from the caller's structures and writes it; the reader fills
 * a view from the file into its own buffers, and only when the view is complete, its checksum
 * right, and it fits the caller's run, model and optimiser, copies it out. A failed read
 * therefore changes nothing of the caller's.
 *
 * The checksum is CRC-32 (zlib) of a canonical serialisation of the view: every integer and
 * float as its little-endian bytes (floats by their bits), every string as its length (u64)
 * then its bytes, every array after its length, in this order:
 *   format_version, run_id, config_hash, epoch, step, loss_sum, train_seconds, images,
 *   threads, group_ranks (only when the file has them: both > 0),
 *   params: count, total, then per parameter name, ndim, shape[4], offset, n; then data[total]
 *   loss parts (format 2): count, then per part its name and running sum
 *   optim:  format 2: ngroups, then per group name, kind, t, offset, count, lr, momentum, rho,
 *           beta1, beta2, eps; then n, m[n], v[n]
 *           format 1: kind, t, n, lr, momentum, rho, beta1, beta2, eps, m[n], v[n]
 *   rng:    nrng, state[nrng][4], has_spare[nrng], spare_bits[nrng]
 *   perm:   nperm, perm[nperm]
 *   series: nseries, names, lengths[nseries], nvalues, values[nvalues]
 * It is computed from the values (not from the file's bytes), so it does not depend on where
 * HDF5 put things, and it covers attributes as well as raw data. */
#include "gensweep/io/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include "gensweep/io/h5util.h"

#define FORMAT_NAME "gensweep checkpoint"
#define PNAME_LEN ((int)sizeof(((gs_param_info *)0)->name))

static const char *const opt_names[] = {"sgd", "rmsprop", "adam"};
#define NOPT ((int)(sizeof opt_names / sizeof opt_names[0]))

/* ------------------------------------------------------------------ the view */
typedef struct ckview {
  char run_id[GS_MAX_RUN_ID];
  uint64_t hash;
  int64_t epoch, step, images;
  double loss_sum, train_seconds;
  int64_t threads, group_ranks; /* 0: not stored (files before they were) */
  /* parameter table and block */
  int count;
  int64_t total;
  char names[GS_MAX_PARAMS][PNAME_LEN];
  int32_t ndim[GS_MAX_PARAMS];
  int32_t shape[GS_MAX_PARAMS][GS_MAX_DIMS];
  int64_t offset[GS_MAX_PARAMS], n[GS_MAX_PARAMS];
  const float *data;
  int64_t version; /* of the file read (the writer: GS_CKPT_FORMAT_VERSION) */
  /* loss parts */
  int nparts;
  char part_name[GS_CKPT_MAX_LOSS_PARTS][48];
  double part_sum[GS_CKPT_MAX_LOSS_PARTS];
  /* optimisers, one per parameter group; their moments one block */
  int ngroups;
  char gname[GS_MAX_GROUPS][24];
  int64_t goffset[GS_MAX_GROUPS], gcount[GS_MAX_GROUPS];
  char kind[GS_MAX_GROUPS][16];
  int64_t t[GS_MAX_GROUPS];
  float hyper[GS_MAX_GROUPS][6]; /* lr, momentum, rho, beta1, beta2, eps */
  int64_t on;
  const float *m, *v;
  /* random streams */
  int nrng;
  uint64_t state[GS_CKPT_MAX_RNG][4];
  int32_t has_spare[GS_CKPT_MAX_RNG];
  uint32_t spare_bits[GS_CKPT_MAX_RNG];
  /* data order */
  int64_t nperm;
  const int32_t *perm;
  /* series, concatenated */
  int nseries;
  char snames[GS_MAX_SERIES][GS_NAME_LEN];
  int64_t slen[GS_MAX_SERIES];
  int64_t nvalues;
  const double *values;
  /* the model's own state: named arrays */
  int nstate;
  char stname[GS_STATE_MAX][GS_STATE_NAME];
  int32_t sttype[GS_STATE_MAX];
  int64_t stlen[GS_STATE_MAX];
  const void *stdata[GS_STATE_MAX];
  void *own_st[GS_STATE_MAX];
  /* buffers owned by the view (reader; writer: the concatenated series) */
  float *own_data, *own_m, *own_v;
  int32_t *own_perm;
  double *own_values;
} ckview;

static void view_free(ckview *w) {
  free(w->own_data);
  free(w->own_m);
  free(w->own_v);
  free(w->own_perm);
  free(w->own_values);
  for (int i = 0; i < GS_STATE_MAX; i++) {
    free(w->own_st[i]);
    w->own_st[i] = NULL;
  }
  w->own_data = w->own_m = w->own_v = NULL;
  w->own_perm = NULL;
  w->own_values = NULL;
}

static const char *const hyper_names[6] = {"lr", "momentum", "rho", "beta1", "beta2", "eps"};

/* ------------------------------------------------------------------ checksum */
typedef struct crc {
  uLong v;
} crc;

static void crc_bytes(crc *c, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n > 0) { /* crc32_z takes z_size_t, but keep chunks modest for old zlibs' uInt */
    size_t k = n > (1u << 30) ? (1u << 30) : n;
    c->v = crc32(c->v, b, (uInt)k);
    b += k;
    n -= k;
  }
}

static void crc_u64(crc *c, uint64_t x) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(x >> (8 * i));
  crc_bytes(c, b, 8);
}

static void crc_u32(crc *c, uint32_t x) {
  unsigned char b[4];
  for (int i = 0; i < 4; i++) b[i] = (unsigned char)(x >> (8 * i));
  crc_bytes(c, b, 4);
}

static void crc_f32(crc *c, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  crc_u32(c, u);
}

static void crc_f64(crc *c, double f) {
  uint64_t u;
  memcpy(&u, &f, 8);
  crc_u64(c, u);
}

static void crc_str(crc *c, const char *s) {
  size_t n = strlen(s);
  crc_u64(c, n);
  crc_bytes(c, s, n);
}

/* n elements of esize (4 or 8) bytes, each as little-endian */
static void crc_array(crc *c, const void *p, size_t n, size_t esize) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  crc_bytes(c, p, n * esize);
#else
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    if (esize == 8) {
      uint64_t x;
      memcpy(&x, b + i * 8, 8);
      crc_u64(c, x);
    } else {
      uint32_t x;
      memcpy(&x, b + i * 4, 4);
      crc_u32(c, x);
    }
  }
#endif
}

static uint32_t view_crc(const ckview *w) {
  crc c = {crc32(0L, Z_NULL, 0)};
  crc_u64(&c, (uint64_t)w->version);
  crc_str(&c, w->run_id);
  crc_u64(&c, w->hash);
  crc_u64(&c, (uint64_t)w->epoch);
  crc_u64(&c, (uint64_t)w->step);
  crc_f64(&c, w->loss_sum);
  crc_f64(&c, w->train_seconds);
  crc_u64(&c, (uint64_t)w->images);
  if (w->threads > 0 || w->group_ranks > 0) {
    crc_u64(&c, (uint64_t)w->threads);
    crc_u64(&c, (uint64_t)w->group_ranks);
  }

  crc_u64(&c, (uint64_t)w->count);
  crc_u64(&c, (uint64_t)w->total);
  for (int i = 0; i < w->count; i++) {
    crc_str(&c, w->names[i]);
    crc_u32(&c, (uint32_t)w->ndim[i]);
    for (int d = 0; d < GS_MAX_DIMS; d++) crc_u32(&c, (uint32_t)w->shape[i][d]);
    crc_u64(&c, (uint64_t)w->offset[i]);
    crc_u64(&c, (uint64_t)w->n[i]);
  }
  crc_array(&c, w->data, (size_t)w->total, 4);

  if (w->version >= 2) {
    crc_u64(&c, (uint64_t)w->nparts);
    for (int i = 0; i < w->nparts; i++) {
      crc_str(&c, w->part_name[i]);
      crc_f64(&c, w->part_sum[i]);
    }
    crc_u64(&c, (uint64_t)w->ngroups);
    for (int g = 0; g < w->ngroups; g++) {
      crc_str(&c, w->gname[g]);
      crc_str(&c, w->kind[g]);
      crc_u64(&c, (uint64_t)w->t[g]);
      crc_u64(&c, (uint64_t)w->goffset[g]);
      crc_u64(&c, (uint64_t)w->gcount[g]);
      for (int i = 0; i < 6; i++) crc_f32(&c, w->hyper[g][i]);
    }
    crc_u64(&c, (uint64_t)w->on);
  } else {
    crc_str(&c, w->kind[0]);
    crc_u64(&c, (uint64_t)w->t[0]);
    crc_u64(&c, (uint64_t)w->on);
    for (int i = 0; i < 6; i++) crc_f32(&c, w->hyper[0][i]);
  }
  crc_array(&c, w->m, (size_t)w->on, 4);
  crc_array(&c, w->v, (size_t)w->on, 4);

  crc_u64(&c, (uint64_t)w->nrng);
  for (int i = 0; i < w->nrng; i++)
    for (int k = 0; k < 4; k++) crc_u64(&c, w->state[i][k]);
  for (int i = 0; i < w->nrng; i++) crc_u32(&c, (uint32_t)w->has_spare[i]);
  for (int i = 0; i < w->nrng; i++) crc_u32(&c, w->spare_bits[i]);

  crc_u64(&c, (uint64_t)w->nperm);
  crc_array(&c, w->perm, (size_t)w->nperm, 4);

  crc_u64(&c, (uint64_t)w->nseries);
  for (int i = 0; i < w->nseries; i++) crc_str(&c, w->snames[i]);
  for (int i = 0; i < w->nseries; i++) crc_u64(&c, (uint64_t)w->slen[i]);
  crc_u64(&c, (uint64_t)w->nvalues);
  crc_array(&c, w->values, (size_t)w->nvalues, 8);
  if (w->nstate > 0) { /* format 2 (format 1's state is refused before the checksum) */
    crc_u64(&c, (uint64_t)w->nstate);
    for (int i = 0; i < w->nstate; i++) {
      crc_str(&c, w->stname[i]);
      crc_u32(&c, (uint32_t)w->sttype[i]);
      crc_u64(&c, (uint64_t)w->stlen[i]);
      if (w->sttype[i] == GS_STATE_U8) crc_bytes(&c, w->stdata[i], (size_t)w->stlen[i]);
      else crc_array(&c, w->stdata[i], (size_t)w->stlen[i], 8);
    }
  }
  return (uint32_t)c.v;
}

/* ------------------------------------------------------------------ write */
static int view_from_checkpoint(ckview *w, const gs_checkpoint *c, const char *path, gs_error *err) {
  const gs_params *p = c->params;
  const gs_optim *o = c->opt;
  if (!p) return gs_fail(err, "%s: cannot write checkpoint: no parameter block", path);
  if (!o) return gs_fail(err, "%s: cannot write checkpoint: no optimiser", path);
  if (p->count < 0 || p->count > GS_MAX_PARAMS || p->total < 0 || (p->total > 0 && !p->data))
    return gs_fail(err, "%s: cannot write checkpoint: the parameter block is not allocated", path);
  if (o->n < 0 || (o->n > 0 && (!o->m || !o->v)))
    return gs_fail(err, "%s: cannot write checkpoint: the optimiser is not initialised", path);
  if (o->n != p->total)
    return gs_fail(err, "%s: cannot write checkpoint: optimiser moments of %ld floats for a block of %ld", path, o->n,
                   p->total);
  int ng = c->groups ? p->ngroups : 1;
  if (ng < 1 || ng > GS_MAX_GROUPS || (!c->groups && p->ngroups > 1))
    return gs_fail(err, "%s: cannot write checkpoint: %d parameter groups without their optimisers", path, p->ngroups);
  for (int g = 0; g < ng; g++) {
    const gs_optim *og = c->groups ? &c->groups[g] : o;
    if ((int)og->kind < 0 || (int)og->kind >= NOPT)
      return gs_fail(err, "%s: cannot write checkpoint: unknown optimiser kind %d", path, (int)og->kind);
  }
  if (c->nloss_parts < 0 || c->nloss_parts > GS_CKPT_MAX_LOSS_PARTS)
    return gs_fail(err, "%s: cannot write checkpoint: %d loss parts", path, c->nloss_parts);
  if (c->nrng < 0 || c->nrng > GS_CKPT_MAX_RNG)
    return gs_fail(err, "%s: cannot write checkpoint: %d random streams (0..%d)", path, c->nrng, GS_CKPT_MAX_RNG);
  if (c->nperm < 0 || (c->nperm > 0 && !c->perm))
    return gs_fail(err, "%s: cannot write checkpoint: no data order array of %ld entries", path, c->nperm);
  if (strlen(c->run_id) >= sizeof w->run_id) return gs_fail(err, "%s: cannot write checkpoint: run id too long", path);

  GS_STRCPY(w->run_id, c->run_id);
  w->version = GS_CKPT_FORMAT_VERSION;
  w->nparts = c->nloss_parts;
  for (int i = 0; i < c->nloss_parts; i++) {
    gs_strlcpy(w->part_name[i], c->loss_part_name[i], sizeof w->part_name[i]);
    w->part_sum[i] = c->loss_part_sum[i];
  }
  w->hash = c->config_hash;
  w->epoch = c->epoch;
  w->step = c->step;
  w->loss_sum = c->loss_sum;
  w->images = c->images;
  w->train_seconds = c->train_seconds;
  if (c->threads > 0 && c->group_ranks > 0) {
    w->threads = c->threads;
    w->group_ranks = c->group_ranks;
  }

  w->count = p->count;
  w->total = p->total;
  for (int i = 0; i < p->count; i++) {
    const gs_param_info *in = &p->info[i];
    if (in->ndim < 0 || in->ndim > GS_MAX_DIMS)
      return gs_fail(err, "%s: cannot write checkpoint: parameter '%s' has %d dimensions", path, in->name, in->ndim);
    gs_strlcpy(w->names[i], in->name, sizeof w->names[i]);
    w->ndim[i] = in->ndim;
    for (int d = 0; d < GS_MAX_DIMS; d++) w->shape[i][d] = d < in->ndim ? in->shape[d] : 0;
    w->offset[i] = in->offset;
    w->n[i] = in->n;
  }
  w->data = p->data;

  w->ngroups = ng;
  for (int g = 0; g < ng; g++) {
    const gs_optim *og = c->groups ? &c->groups[g] : o;
    gs_strlcpy(w->gname[g], c->groups ? p->group[g].name : (p->ngroups ? p->group[0].name : "all"), sizeof w->gname[g]);
    w->goffset[g] = c->groups ? p->group[g].offset : 0;
    w->gcount[g] = c->groups ? p->group[g].n : p->total;
    GS_STRCPY(w->kind[g], opt_names[og->kind]);
    w->t[g] = og->t;
    const float hyper[6] = {og->lr, og->momentum, og->rho, og->beta1, og->beta2, og->eps};
    memcpy(w->hyper[g], hyper, sizeof hyper);
  }
  w->on = o->n;
  w->m = o->m;
  w->v = o->v;

  w->nrng = c->nrng;
  for (int i = 0; i < c->nrng; i++) {
    memcpy(w->state[i], c->rng[i].s, sizeof w->state[i]);
    w->has_spare[i] = c->rng[i].has_spare;
    memcpy(&w->spare_bits[i], &c->rng[i].spare, 4);
  }

  w->nperm = c->nperm;
  w->perm = c->perm;
  w->nstate = c->state ? c->state->n : 0;
  if (w->nstate < 0 || w->nstate > GS_STATE_MAX)
    return gs_fail(err, "%s: cannot write checkpoint: %d model state arrays", path, w->nstate);
  for (int i = 0; i < w->nstate; i++) {
    const gs_state_array *a = &c->state->a[i];
    if (!gs_state_name_ok(a->name) || a->n < 0 || (a->n > 0 && !a->data) || (int)a->type < 0 || (int)a->type > 2)
      return gs_fail(err, "%s: cannot write checkpoint: model state array %d ('%s') is broken", path, i, a->name);
    GS_STRCPY(w->stname[i], a->name);
    w->sttype[i] = (int32_t)a->type;
    w->stlen[i] = a->n;
    w->stdata[i] = a->data;
  }

  const gs_record *r = c->rec;
  w->nseries = r ? r->nseries : 0;
  if (w->nseries < 0 || w->nseries > GS_MAX_SERIES)
    return gs_fail(err, "%s: cannot write checkpoint: the record holds %d series", path, w->nseries);
  w->nvalues = 0;
  for (int i = 0; i < w->nseries; i++) {
    const gs_series *s = &r->series[i];
    if (s->n < 0 || (s->n > 0 && !s->v))
      return gs_fail(err, "%s: cannot write checkpoint: series '%s' is broken", path, s->name);
    gs_strlcpy(w->snames[i], s->name, sizeof w->snames[i]);
    w->slen[i] = s->n;
    w->nvalues += s->n;
  }
  w->own_values = gs_malloc(sizeof(double) * (size_t)(w->nvalues ? w->nvalues : 1));
  for (int i = 0, o2 = 0; i < w->nseries; i++) {
    if (r->series[i].n > 0) memcpy(w->own_values + o2, r->series[i].v, sizeof(double) * (size_t)r->series[i].n);
    o2 += r->series[i].n;
  }
  w->values = w->own_values;
  return 0;
}

static int ds1(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int64_t n, const void *buf) {
  hsize_t dims[1] = {(hsize_t)n};
  return gs_h5_dataset_write(loc, name, ftype, mtype, 1, dims, buf, 0);
}

static const hid_t *state_ftype(int type) {
  static hid_t t[3];
  t[0] = H5T_IEEE_F64LE;
  t[1] = H5T_STD_I64LE;
  t[2] = H5T_STD_U8LE;
  return &t[type];
}
static const hid_t *state_mtype(int type) {
  static hid_t t[3];
  t[0] = H5T_NATIVE_DOUBLE;
  t[1] = H5T_NATIVE_INT64;
  t[2] = H5T_NATIVE_UINT8;
  return &t[type];
}

static int write_state(hid_t f, const ckview *w) {
  hid_t g = H5Gcreate2(f, "model_state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return -1;
  const char *names[GS_STATE_MAX];
  for (int i = 0; i < w->nstate; i++) names[i] = w->stname[i];
  hsize_t d1[1] = {(hsize_t)w->nstate};
  int rc = gs_h5_attr_str_array(g, "names", names, w->nstate) < 0 ||
                   gs_h5_attr_array(g, "types", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, w->sttype) < 0
               ? -1
               : 0;
  for (int i = 0; i < w->nstate && rc == 0; i++)
    rc = ds1(g, w->stname[i], *state_ftype(w->sttype[i]), *state_mtype(w->sttype[i]), w->stlen[i], w->stdata[i]) < 0 ? -1 : 0;
  H5Gclose(g);
  return rc;
}

static int write_loss_parts(hid_t f, const ckview *w) {
  const char *names[GS_CKPT_MAX_LOSS_PARTS];
  for (int i = 0; i < w->nparts; i++) names[i] = w->part_name[i];
  hsize_t d1[1] = {(hsize_t)w->nparts};
  if (gs_h5_attr_str_array(f, "loss_part_names", names, w->nparts) < 0) return -1;
  return gs_h5_attr_array(f, "loss_part_sums", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d1, w->part_sum);
}

static int fill_checkpoint(hid_t f, const char *path, void *ctx, gs_error *err) {
  const ckview *w = ctx;
  char hex[17];
  snprintf(hex, sizeof hex, "%016" PRIx64, w->hash);
  int rc = -1;
  hid_t g = -1;
  if (gs_h5_attr_str(f, "format", FORMAT_NAME) < 0 || gs_h5_attr_i64(f, "format_version", GS_CKPT_FORMAT_VERSION) < 0 ||
      gs_h5_attr_str(f, "gensweep_version", GS_VERSION) < 0 || gs_h5_attr_str(f, "run_id", w->run_id) < 0 ||
      gs_h5_attr_str(f, "config_hash", hex) < 0 || gs_h5_attr_i64(f, "epoch", w->epoch) < 0 ||
      (w->nparts > 0 && write_loss_parts(f, w) < 0) ||
      gs_h5_attr_i64(f, "step", w->step) < 0 || gs_h5_attr_f64(f, "loss_sum", w->loss_sum) < 0 ||
      gs_h5_attr_f64(f, "train_seconds", w->train_seconds) < 0 || gs_h5_attr_i64(f, "images", w->images) < 0 ||
      (w->threads > 0 && (gs_h5_attr_i64(f, "threads", w->threads) < 0 || gs_h5_attr_i64(f, "group_ranks", w->group_ranks) < 0)))
    return gs_h5_fail(err, path, "writing root attributes");

  /* parameters */
  g = H5Gcreate2(f, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "creating group /params");
  {
    const char *names[GS_MAX_PARAMS];
    for (int i = 0; i < w->count; i++) names[i] = w->names[i];
    hsize_t d1[1] = {(hsize_t)w->count}, d2[2] = {(hsize_t)w->count, GS_MAX_DIMS};
    if (gs_h5_attr_i64(g, "total", w->total) < 0 || gs_h5_attr_str_array(g, "names", names, w->count) < 0 ||
        gs_h5_attr_array(g, "ndim", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, w->ndim) < 0 ||
        gs_h5_attr_array(g, "shape", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, d2, w->shape) < 0 ||
        gs_h5_attr_array(g, "offset", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, w->offset) < 0 ||
        gs_h5_attr_array(g, "n", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, w->n) < 0) {
      gs_h5_fail(err, path, "writing the parameter table (attributes of /params)");
      goto out;
    }
    if (ds1(g, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, w->total, w->data) < 0) {
      gs_h5_fail(err, path, "writing dataset /params/data");
      goto out;
    }
  }
  gs_h5_close_id(&g);

  /* optimiser */
  g = H5Gcreate2(f, "optim", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "creating group /optim");
  {
    const char *gnames[GS_MAX_GROUPS], *kinds[GS_MAX_GROUPS];
    float hyper[6][GS_MAX_GROUPS];
    for (int k = 0; k < w->ngroups; k++) {
      gnames[k] = w->gname[k];
      kinds[k] = w->kind[k];
      for (int i = 0; i < 6; i++) hyper[i][k] = w->hyper[k][i];
    }
    hsize_t d1[1] = {(hsize_t)w->ngroups};
    int bad = gs_h5_attr_i64(g, "n", w->on) < 0 || gs_h5_attr_str_array(g, "groups", gnames, w->ngroups) < 0 ||
              gs_h5_attr_str_array(g, "kind", kinds, w->ngroups) < 0 ||
              gs_h5_attr_array(g, "offset", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, w->goffset) < 0 ||
              gs_h5_attr_array(g, "count", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, w->gcount) < 0 ||
              gs_h5_attr_array(g, "t", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, w->t) < 0;
    for (int i = 0; i < 6 && !bad; i++)
      bad = gs_h5_attr_array(g, hyper_names[i], H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, hyper[i]) < 0;
    if (bad) {
      gs_h5_fail(err, path, "writing attributes of /optim");
      goto out;
    }
    if (ds1(g, "m", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, w->on, w->m) < 0) {
      gs_h5_fail(err, path, "writing dataset /optim/m");
      goto out;
    }
    if (ds1(g, "v", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, w->on, w->v) < 0) {
      gs_h5_fail(err, path, "writing dataset /optim/v");
      goto out;
    }
  }
  gs_h5_close_id(&g);

  /* random streams */
  g = H5Gcreate2(f, "rng", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "creating group /rng");
  {
    hsize_t d2[2] = {(hsize_t)w->nrng, 4};
    if (gs_h5_dataset_write(g, "state", H5T_STD_U64LE, H5T_NATIVE_UINT64, 2, d2, w->state, 0) < 0 ||
        ds1(g, "has_spare", H5T_STD_I32LE, H5T_NATIVE_INT32, w->nrng, w->has_spare) < 0 ||
        ds1(g, "spare_bits", H5T_STD_U32LE, H5T_NATIVE_UINT32, w->nrng, w->spare_bits) < 0) {
      gs_h5_fail(err, path, "writing the random streams (/rng)");
      goto out;
    }
  }
  gs_h5_close_id(&g);

  /* data order */
  if (ds1(f, "perm", H5T_STD_I32LE, H5T_NATIVE_INT32, w->nperm, w->perm) < 0)
    return gs_h5_fail(err, path, "writing dataset /perm");
  if (w->nstate > 0 && write_state(f, w) < 0) return gs_h5_fail(err, path, "writing the model state (/model_state)");

  /* series */
  g = H5Gcreate2(f, "series", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "creating group /series");
  {
    const char *names[GS_MAX_SERIES];
    for (int i = 0; i < w->nseries; i++) names[i] = w->snames[i];
    if (gs_h5_attr_str_array(g, "names", names, w->nseries) < 0 ||
        ds1(g, "lengths", H5T_STD_I64LE, H5T_NATIVE_INT64, w->nseries, w->slen) < 0 ||
        ds1(g, "values", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, w->nvalues, w->values) < 0) {
      gs_h5_fail(err, path, "writing the series (/series)");
      goto out;
    }
  }
  gs_h5_close_id(&g);

  /* last: the checksum over all of it */
  uint32_t sum = view_crc(w);
  if (gs_h5_attr_write(f, "crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &sum) < 0)
    return gs_h5_fail(err, path, "writing attribute crc32");
  rc = 0;
out:
  gs_h5_close_id(&g);
  return rc;
}

void gs_checkpoint_prev_path(const char *path, char *out, size_t n) {
  size_t l = strlen(path);
  if (l >= 3 && strcmp(path + l - 3, ".h5") == 0) snprintf(out, n, "%.*s.prev.h5", (int)(l - 3), path);
  else snprintf(out, n, "%s.prev", path);
}

void gs_checkpoint_remove(const char *path) {
  char prev[4200];
  gs_checkpoint_prev_path(path, prev, sizeof prev);
  unlink(path);
  unlink(prev);
}

int gs_checkpoint_write(const char *path, const gs_checkpoint *c, gs_error *err) {
  ckview *w = gs_calloc(1, sizeof *w);
  int rc = view_from_checkpoint(w, c, path, err);
  char prev[4200];
  gs_checkpoint_prev_path(path, prev, sizeof prev);
  int moved = 0;
  if (rc == 0 && access(path, F_OK) == 0) {
    /* the checkpoint about to be replaced becomes the previous one: a second name for the same
     * file (path keeps its name until the rename of the new one), or, where the file system has
     * no hard links, the file itself (then only the previous one exists for a moment, and a
     * reader falls back to it; a failed write puts it back) */
    unlink(prev);
    if (link(path, prev) != 0) moved = rename(path, prev) == 0;
  }
  /* the new checkpoint: <path>.tmp, fsync, rename over path, directory fsync (core/atomic.h) */
  if (rc == 0) rc = gs_h5_write_atomic(path, fill_checkpoint, w, err);
  if (rc != 0 && moved && access(path, F_OK) != 0) rename(prev, path);
  view_free(w);
  free(w);
  return rc;
}

/* ------------------------------------------------------------------ read */
static int parse_hash(const char *hex, uint64_t *h) {
  if (strlen(hex) != 16) return -1;
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    char ch = hex[i];
    int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v << 4 | (uint64_t)d;
  }
  *h = v;
  return 0;
}

/* Identity and counters (root attributes). */
static int read_root(hid_t f, const char *path, ckview *w, gs_error *err) {
  char fmt[64], hex[64];
  htri_t has = H5Aexists(f, "format");
  if (has < 0) return gs_h5_fail(err, path, "corrupt checkpoint: cannot read the root attributes");
  if (has == 0) return gs_fail(err, "%s: not a gensweep checkpoint (no 'format' attribute)", path);
  if (gs_h5_attr_read_str(f, "format", fmt, sizeof fmt) < 0)
    return gs_h5_fail(err, path, "corrupt checkpoint: cannot read attribute 'format'");
  if (strcmp(fmt, FORMAT_NAME) != 0)
    return gs_fail(err, "%s: not a gensweep checkpoint (format is \"%s\", not \"" FORMAT_NAME "\")", path, fmt);
  int64_t version = 0;
  if (gs_h5_attr_read_exact(f, "format_version", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &version) < 0)
    return gs_h5_fail(err, path, "corrupt or incomplete checkpoint: attribute 'format_version' missing or unreadable");
  if (version < 1 || version > GS_CKPT_FORMAT_VERSION)
    return gs_fail(err, "%s: checkpoint format version %lld, this gensweep (%s) reads versions 1 to %d", path,
                   (long long)version, GS_VERSION, GS_CKPT_FORMAT_VERSION);
  w->version = version;
  if (gs_h5_attr_read_str(f, "run_id", w->run_id, sizeof w->run_id) < 0)
    return gs_h5_fail(err, path, "corrupt or incomplete checkpoint: attribute 'run_id' missing or unreadable");
  if (gs_h5_attr_read_str(f, "config_hash", hex, sizeof hex) < 0)
    return gs_h5_fail(err, path, "corrupt or incomplete checkpoint: attribute 'config_hash' missing or unreadable");
  if (parse_hash(hex, &w->hash) < 0)
    return gs_fail(err, "%s: bad config_hash attribute '%s' (want 16 hex digits)", path, hex);
  if (gs_h5_attr_read_exact(f, "epoch", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &w->epoch) < 0 ||
      gs_h5_attr_read_exact(f, "step", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &w->step) < 0 ||
      gs_h5_attr_read_exact(f, "loss_sum", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &w->loss_sum) < 0 ||
      gs_h5_attr_read_exact(f, "images", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &w->images) < 0 ||
      gs_h5_attr_read_exact(f, "train_seconds", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &w->train_seconds) < 0)
    return gs_h5_fail(err, path,
                      "corrupt or incomplete checkpoint: attributes epoch, step, loss_sum, images, train_seconds "
                      "missing or unreadable");
  if (H5Aexists(f, "threads") > 0 || H5Aexists(f, "group_ranks") > 0) {
    if (gs_h5_attr_read_exact(f, "threads", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &w->threads) < 0 ||
        gs_h5_attr_read_exact(f, "group_ranks", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &w->group_ranks) < 0 ||
        w->threads < 1 || w->group_ranks < 1 || w->threads > 1 << 20 || w->group_ranks > 1 << 30)
      return gs_fail(err, "%s: corrupt checkpoint: attributes threads and group_ranks unreadable or out of range", path);
  }
  if (version >= 2 && H5Aexists(f, "loss_part_names") > 0) {
    hid_t a = H5Aopen(f, "loss_part_names", H5P_DEFAULT), sp = a >= 0 ? H5Aget_space(a) : -1;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    gs_h5_close_id(&sp);
    gs_h5_close_id(&a);
    if (np < 0 || np > GS_CKPT_MAX_LOSS_PARTS)
      return gs_fail(err, "%s: corrupt checkpoint: loss parts unreadable or more than %d", path, GS_CKPT_MAX_LOSS_PARTS);
    w->nparts = (int)np;
    if (gs_h5_attr_read_str_array(f, "loss_part_names", (hsize_t)np, &w->part_name[0][0], sizeof w->part_name[0]) < 0 ||
        gs_h5_attr_read_exact(f, "loss_part_sums", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)np, w->part_sum) < 0)
      return gs_h5_fail(err, path, "corrupt or incomplete checkpoint: the loss parts are unreadable");
  }
  return 0;
}

/* Open dataset `name` of exactly file type ftype and rank `rank` (1 or 2); dims filled. */
static hid_t ds_open(hid_t loc, const char *name, hid_t ftype, int rank, hsize_t *dims) {
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
  int ok = t >= 0 && sp >= 0 && H5Tequal(t, ftype) > 0 && H5Sget_simple_extent_ndims(sp) == rank &&
           H5Sget_simple_extent_dims(sp, dims, NULL) == rank;
  gs_h5_close_id(&t);
  gs_h5_close_id(&sp);
  if (!ok) gs_h5_close_id(&d);
  return d;
}

/* Read a whole 1-D dataset of exactly `want` elements (want < 0: any length, returned in *got)
 * into a malloc'd buffer (*buf, at least one element). */
static int ds_read1(hid_t loc, const char *group, const char *name, hid_t ftype, hid_t mtype, size_t esize,
                    int64_t want, int64_t *got, void **buf, const char *path, gs_error *err) {
  hsize_t dims[1];
  hid_t d = ds_open(loc, name, ftype, 1, dims);
  if (d < 0)
    return gs_h5_fail(err, path, "corrupt or incomplete checkpoint: cannot open dataset %s/%s (or it has the wrong type)",
                      group, name);
  if (want >= 0 && dims[0] != (hsize_t)want) {
    H5Dclose(d);
    return gs_fail(err, "%s: corrupt checkpoint: dataset %s/%s holds %llu values, expected %lld", path, group, name,
                   (unsigned long long)dims[0], (long long)want);
  }
  if (dims[0] > (hsize_t)(SIZE_MAX / 2 / esize)) {
    H5Dclose(d);
    return gs_fail(err, "%s: corrupt checkpoint: dataset %s/%s is too large", path, group, name);
  }
  if (got) *got = (int64_t)dims[0];
  *buf = gs_malloc(esize * (size_t)(dims[0] ? dims[0] : 1));
  herr_t st = dims[0] ? H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *buf) : 0;
  H5Dclose(d);
  if (st < 0) return gs_h5_fail(err, path, "cannot read dataset %s/%s", group, name);
  return 0;
}

static int read_params(hid_t f, const char *path, ckview *w, gs_error *err) {
  hid_t g = H5Gopen2(f, "params", H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "corrupt or incomplete checkpoint: cannot open group /params");
  int rc = -1;
  void *buf = NULL;
  hsize_t npoints = 0;
  {
    hid_t a = H5Aopen(g, "names", H5P_DEFAULT), sp = a >= 0 ? H5Aget_space(a) : -1;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    gs_h5_close_id(&sp);
    gs_h5_close_id(&a);
    if (np < 0) {
      gs_h5_fail(err, path, "corrupt or incomplete checkpoint: cannot read attribute names of /params");
      goto out;
    }
    if (np > GS_MAX_PARAMS) {
      gs_fail(err, "%s: the checkpoint holds %lld parameters, more than GS_MAX_PARAMS (%d)", path, (long long)np,
              GS_MAX_PARAMS);
      goto out;
    }
    npoints = (hsize_t)np;
  }
  w->count = (int)npoints;
  if (gs_h5_attr_read_exact(g, "total", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &w->total) < 0 ||
      gs_h5_attr_read_str_array(g, "names", npoints, &w->names[0][0], sizeof w->names[0]) < 0 ||
      gs_h5_attr_read_exact(g, "ndim", H5T_STD_I32LE, H5T_NATIVE_INT32, npoints, w->ndim) < 0 ||
      gs_h5_attr_read_exact(g, "shape", H5T_STD_I32LE, H5T_NATIVE_INT32, npoints * GS_MAX_DIMS, w->shape) < 0 ||
      gs_h5_attr_read_exact(g, "offset", H5T_STD_I64LE, H5T_NATIVE_INT64, npoints, w->offset) < 0 ||
      gs_h5_attr_read_exact(g, "n", H5T_STD_I64LE, H5T_NATIVE_INT64, npoints, w->n) < 0) {
    gs_h5_fail(err, path, "corrupt or incomplete checkpoint: the parameter table (attributes of /params) is missing or unreadable");
    goto out;
  }
  if (w->total < 0) {
    gs_fail(err, "%s: corrupt checkpoint: parameter block of %lld floats", path, (long long)w->total);
    goto out;
  }
  if (ds_read1(g, "/params", "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sizeof(float), w->total, NULL, &buf, path,
               err) < 0)
    goto out;
  w->own_data = buf;
  buf = NULL;
  w->data = w->own_data;
  rc = 0;
out:
  free(buf);
  H5Gclose(g);
  return rc;
}

static int read_optim(hid_t f, const char *path, ckview *w, gs_error *err) {
  hid_t g = H5Gopen2(f, "optim", H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "corrupt or incomplete checkpoint: cannot open group /optim");
  int rc = -1;
  void *buf = NULL;
  int bad;
  if (w->version == 1) { /* one optimiser, its attributes scalars */
    w->ngroups = 1;
    GS_STRCPY(w->gname[0], "all");
    bad = gs_h5_attr_read_str(g, "kind", w->kind[0], sizeof w->kind[0]) < 0 ||
          gs_h5_attr_read_exact(g, "t", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &w->t[0]) < 0 ||
          gs_h5_attr_read_exact(g, "n", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &w->on) < 0;
    for (int i = 0; i < 6 && !bad; i++)
      bad = gs_h5_attr_read_exact(g, hyper_names[i], H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &w->hyper[0][i]) < 0;
    w->goffset[0] = 0;
    w->gcount[0] = w->on;
  } else {
    hid_t a = H5Aopen(g, "groups", H5P_DEFAULT), sp = a >= 0 ? H5Aget_space(a) : -1;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    gs_h5_close_id(&sp);
    gs_h5_close_id(&a);
    if (np < 1 || np > GS_MAX_GROUPS) {
      gs_fail(err, "%s: corrupt checkpoint: /optim groups unreadable, or not 1 to %d of them", path, GS_MAX_GROUPS);
      goto out;
    }
    w->ngroups = (int)np;
    hsize_t n = (hsize_t)np;
    float hyper[6][GS_MAX_GROUPS];
    bad = gs_h5_attr_read_exact(g, "n", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &w->on) < 0 ||
          gs_h5_attr_read_str_array(g, "groups", n, &w->gname[0][0], sizeof w->gname[0]) < 0 ||
          gs_h5_attr_read_str_array(g, "kind", n, &w->kind[0][0], sizeof w->kind[0]) < 0 ||
          gs_h5_attr_read_exact(g, "offset", H5T_STD_I64LE, H5T_NATIVE_INT64, n, w->goffset) < 0 ||
          gs_h5_attr_read_exact(g, "count", H5T_STD_I64LE, H5T_NATIVE_INT64, n, w->gcount) < 0 ||
          gs_h5_attr_read_exact(g, "t", H5T_STD_I64LE, H5T_NATIVE_INT64, n, w->t) < 0;
    for (int i = 0; i < 6 && !bad; i++)
      bad = gs_h5_attr_read_exact(g, hyper_names[i], H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, hyper[i]) < 0;
    for (int k = 0; k < w->ngroups && !bad; k++)
      for (int i = 0; i < 6; i++) w->hyper[k][i] = hyper[i][k];
  }
  if (bad) {
    gs_h5_fail(err, path, "corrupt or incomplete checkpoint: attributes of /optim missing or unreadable");
    goto out;
  }
  if (w->on < 0) {
    gs_fail(err, "%s: corrupt checkpoint: optimiser state of %lld floats", path, (long long)w->on);
    goto out;
  }
  if (ds_read1(g, "/optim", "m", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sizeof(float), w->on, NULL, &buf, path, err) < 0)
    goto out;
  w->own_m = buf;
  buf = NULL;
  if (ds_read1(g, "/optim", "v", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sizeof(float), w->on, NULL, &buf, path, err) < 0)
    goto out;
  w->own_v = buf;
  buf = NULL;
  w->m = w->own_m;
  w->v = w->own_v;
  rc = 0;
out:
  free(buf);
  H5Gclose(g);
  return rc;
}

static int read_rng(hid_t f, const char *path, ckview *w, gs_error *err) {
  hid_t g = H5Gopen2(f, "rng", H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "corrupt or incomplete checkpoint: cannot open group /rng");
  int rc = -1;
  void *has = NULL, *bits = NULL;
  hsize_t dims[2];
  hid_t d = ds_open(g, "state", H5T_STD_U64LE, 2, dims);
  if (d < 0) {
    gs_h5_fail(err, path, "corrupt or incomplete checkpoint: cannot open dataset /rng/state (or it is not uint64 [n, 4])");
    goto out;
  }
  if (dims[1] != 4 || dims[0] > GS_CKPT_MAX_RNG) {
    H5Dclose(d);
    gs_fail(err, "%s: corrupt checkpoint: /rng/state is [%llu, %llu], want at most [%d, 4]", path,
            (unsigned long long)dims[0], (unsigned long long)dims[1], GS_CKPT_MAX_RNG);
    goto out;
  }
  w->nrng = (int)dims[0];
  herr_t st = w->nrng ? H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->state) : 0;
  H5Dclose(d);
  if (st < 0) {
    gs_h5_fail(err, path, "cannot read dataset /rng/state");
    goto out;
  }
  if (ds_read1(g, "/rng", "has_spare", H5T_STD_I32LE, H5T_NATIVE_INT32, 4, w->nrng, NULL, &has, path, err) < 0 ||
      ds_read1(g, "/rng", "spare_bits", H5T_STD_U32LE, H5T_NATIVE_UINT32, 4, w->nrng, NULL, &bits, path, err) < 0)
    goto out;
  memcpy(w->has_spare, has, 4 * (size_t)w->nrng);
  memcpy(w->spare_bits, bits, 4 * (size_t)w->nrng);
  rc = 0;
out:
  free(has);
  free(bits);
  H5Gclose(g);
  return rc;
}

static int read_series(hid_t f, const char *path, ckview *w, gs_error *err) {
  hid_t g = H5Gopen2(f, "series", H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "corrupt or incomplete checkpoint: cannot open group /series");
  int rc = -1;
  void *lens = NULL, *vals = NULL;
  int64_t ns = 0;
  if (ds_read1(g, "/series", "lengths", H5T_STD_I64LE, H5T_NATIVE_INT64, sizeof(int64_t), -1, &ns, &lens, path,
               err) < 0)
    goto out;
  if (ns > GS_MAX_SERIES) {
    gs_fail(err, "%s: the checkpoint holds %lld series, more than GS_MAX_SERIES (%d)", path, (long long)ns,
            GS_MAX_SERIES);
    goto out;
  }
  w->nseries = (int)ns;
  memcpy(w->slen, lens, sizeof(int64_t) * (size_t)ns);
  if (gs_h5_attr_read_str_array(g, "names", (hsize_t)ns, &w->snames[0][0], sizeof w->snames[0]) < 0) {
    gs_h5_fail(err, path, "corrupt or incomplete checkpoint: attribute /series names missing, unreadable or of the wrong length");
    goto out;
  }
  if (ds_read1(g, "/series", "values", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sizeof(double), -1, &w->nvalues, &vals,
               path, err) < 0)
    goto out;
  w->own_values = vals;
  vals = NULL;
  w->values = w->own_values;
  rc = 0;
out:
  free(lens);
  free(vals);
  H5Gclose(g);
  return rc;
}

static int read_state(hid_t f, const char *path, ckview *w, gs_error *err) {
  hid_t g = H5Gopen2(f, "model_state", H5P_DEFAULT);
  if (g < 0) return gs_h5_fail(err, path, "corrupt checkpoint: /model_state is not a group of named arrays");
  int rc = -1;
  hid_t a = H5Aopen(g, "names", H5P_DEFAULT), sp = a >= 0 ? H5Aget_space(a) : -1;
  hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  gs_h5_close_id(&sp);
  gs_h5_close_id(&a);
  if (np < 1 || np > GS_STATE_MAX) {
    gs_fail(err, "%s: corrupt checkpoint: /model_state names unreadable, or not 1 to %d of them", path, GS_STATE_MAX);
    goto out;
  }
  w->nstate = (int)np;
  if (gs_h5_attr_read_str_array(g, "names", (hsize_t)np, &w->stname[0][0], sizeof w->stname[0]) < 0 ||
      gs_h5_attr_read_exact(g, "types", H5T_STD_I32LE, H5T_NATIVE_INT32, (hsize_t)np, w->sttype) < 0) {
    gs_h5_fail(err, path, "corrupt or incomplete checkpoint: attributes of /model_state missing or unreadable");
    goto out;
  }
  for (int i = 0; i < w->nstate; i++) {
    if (w->sttype[i] < 0 || w->sttype[i] > 2 || !gs_state_name_ok(w->stname[i])) {
      gs_fail(err, "%s: corrupt checkpoint: model state array %d has a bad name or type", path, i);
      goto out;
    }
    void *buf = NULL;
    if (ds_read1(g, "/model_state", w->stname[i], *state_ftype(w->sttype[i]), *state_mtype(w->sttype[i]),
                 gs_state_elem_size((gs_state_type)w->sttype[i]), -1, &w->stlen[i], &buf, path, err) < 0) {
      free(buf);
      goto out;
    }
    w->own_st[i] = buf;
    w->stdata[i] = buf;
  }
  rc = 0;
out:
  H5Gclose(g);
  return rc;
}

static int read_view(hid_t f, const char *path, ckview *w, gs_error *err) {
  if (read_root(f, path, w, err) < 0) return -1;
  uint32_t stored;
  if (gs_h5_attr_read_exact(f, "crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, &stored) < 0)
    return gs_h5_fail(err, path, "corrupt or incomplete checkpoint: attribute 'crc32' missing or unreadable");
  if (read_params(f, path, w, err) < 0 || read_optim(f, path, w, err) < 0 || read_rng(f, path, w, err) < 0)
    return -1;
  void *perm = NULL;
  if (ds_read1(f, "", "perm", H5T_STD_I32LE, H5T_NATIVE_INT32, sizeof(int32_t), -1, &w->nperm, &perm, path, err) < 0) {
    free(perm);
    return -1;
  }
  w->own_perm = perm;
  w->perm = w->own_perm;
  if (read_series(f, path, w, err) < 0) return -1;
  if (H5Lexists(f, "model_state", H5P_DEFAULT) > 0) {
    if (w->version == 1)
      return gs_fail(err, "%s: the model state is in the layout of checkpoint format 1 (one float64 array, from "
                     "before model state became named arrays), which this gensweep no longer reads", path);
    if (read_state(f, path, w, err) < 0) return -1;
  }
  uint32_t sum = view_crc(w);
  if (sum != stored)
    return gs_fail(err, "%s: checksum mismatch: the checkpoint is corrupt (crc32 %08" PRIx32 " stored, %08" PRIx32
                   " computed)", path, stored, sum);
  return 0;
}

static void shape_text(char *buf, size_t n, int ndim, const int32_t *shape) {
  size_t o = (size_t)snprintf(buf, n, "(");
  for (int d = 0; d < ndim && o < n; d++) o += (size_t)snprintf(buf + o, n - o, "%s%d", d ? ", " : "", shape[d]);
  if (o < n) snprintf(buf + o, n - o, ")");
}

/* The checksum is right: does the checkpoint fit the caller's run, model and optimiser? */
static int view_fits(const ckview *w, const gs_checkpoint *c, const char *path, gs_error *err) {
  if (c->run_id[0] && (strcmp(w->run_id, c->run_id) != 0 || w->hash != c->config_hash))
    return gs_fail(err, "%s: checkpoint of run %s with hash %016" PRIx64 ", expected run %s with hash %016" PRIx64, path,
                   w->run_id, w->hash, c->run_id, c->config_hash);
  const gs_params *p = c->params;
  if (w->count != p->count)
    return gs_fail(err, "%s: the checkpoint holds %d parameters, the model declares %d", path, w->count, p->count);
  for (int i = 0; i < p->count; i++) {
    const gs_param_info *in = &p->info[i];
    if (strcmp(w->names[i], in->name) != 0)
      return gs_fail(err, "%s: parameter %d is '%s' in the checkpoint but '%s' in the model", path, i, w->names[i],
                     in->name);
    int same = w->ndim[i] == in->ndim;
    for (int d = 0; same && d < in->ndim; d++) same = w->shape[i][d] == in->shape[d];
    if (!same) {
      char fs[128], ms[128];
      int32_t msh[GS_MAX_DIMS];
      for (int d = 0; d < in->ndim && d < GS_MAX_DIMS; d++) msh[d] = in->shape[d];
      shape_text(fs, sizeof fs, w->ndim[i] >= 0 && w->ndim[i] <= GS_MAX_DIMS ? w->ndim[i] : 0, w->shape[i]);
      shape_text(ms, sizeof ms, in->ndim, msh);
      return gs_fail(err, "%s: parameter '%s' has shape %s in the checkpoint but %s in the model", path, in->name, fs,
                     ms);
    }
    if (w->offset[i] != in->offset || w->n[i] != in->n)
      return gs_fail(err, "%s: parameter '%s' is at offset %lld (%lld floats) in the checkpoint but %ld (%ld) in the model",
                     path, in->name, (long long)w->offset[i], (long long)w->n[i], in->offset, in->n);
  }
  if (w->total != p->total)
    return gs_fail(err, "%s: parameter block of %lld floats in the checkpoint but %ld in the model", path,
                   (long long)w->total, p->total);
  const gs_optim *o = c->opt;
  if (w->on != o->n)
    return gs_fail(err, "%s: optimiser state of %lld floats in the checkpoint, but the optimiser has %ld", path,
                   (long long)w->on, o->n);
  int ng = c->groups ? p->ngroups : 1;
  if (w->ngroups != ng)
    return gs_fail(err, "%s: %d parameter group%s with %s own optimiser in the checkpoint, %d in the model%s", path,
                   w->ngroups, w->ngroups == 1 ? "" : "s", w->ngroups == 1 ? "its" : "their", ng,
                   w->version == 1 ? " (a checkpoint of format 1 has one)" : "");
  for (int g = 0; g < ng; g++) {
    const gs_optim *og = c->groups ? &c->groups[g] : o;
    const char *kind = (int)og->kind >= 0 && (int)og->kind < NOPT ? opt_names[og->kind] : "?";
    int64_t off = c->groups ? p->group[g].offset : 0, cnt = c->groups ? p->group[g].n : p->total;
    if (c->groups && w->version >= 2 && strcmp(w->gname[g], p->group[g].name) != 0)
      return gs_fail(err, "%s: parameter group %d is '%s' in the checkpoint but '%s' in the model", path, g, w->gname[g],
                     p->group[g].name);
    if (w->goffset[g] != off || w->gcount[g] != cnt || off < 0 || off + cnt > w->on)
      return gs_fail(err, "%s: parameter group '%s' covers [%lld, +%lld) in the checkpoint but [%lld, +%lld) in the model",
                     path, w->gname[g], (long long)w->goffset[g], (long long)w->gcount[g], (long long)off, (long long)cnt);
    if (strcmp(w->kind[g], kind) != 0)
      return gs_fail(err, "%s: optimiser %s in the checkpoint but %s in the run%s%s", path, w->kind[g], kind,
                     ng > 1 ? " for group " : "", ng > 1 ? w->gname[g] : "");
  }
  /* internal consistency (a foreign writer's file could have a right checksum and still lie) */
  int64_t sum = 0;
  for (int i = 0; i < w->nseries; i++) {
    if (w->slen[i] < 0 || w->slen[i] > 0x7fffffff || sum + w->slen[i] > w->nvalues)
      return gs_fail(err, "%s: corrupt checkpoint: series lengths do not add up", path);
    sum += w->slen[i];
    for (int k = 0; k < i; k++)
      if (strcmp(w->snames[k], w->snames[i]) == 0)
        return gs_fail(err, "%s: corrupt checkpoint: series '%s' appears twice", path, w->snames[i]);
  }
  if (sum != w->nvalues) return gs_fail(err, "%s: corrupt checkpoint: series lengths do not add up", path);
  if (c->rec && c->rec->nseries != 0)
    return gs_fail(err, "%s: cannot load the checkpoint's series: the record already holds %d series", path,
                   c->rec->nseries);
  if (w->nstate > 0 && !c->state)
    return gs_fail(err, "%s: the checkpoint holds model state, this model keeps none", path);
  return 0;
}

/* Everything verified: hand it over. Cannot fail. */
static void view_to_checkpoint(ckview *w, gs_checkpoint *c) {
  GS_STRCPY(c->run_id, w->run_id);
  c->config_hash = w->hash;
  c->epoch = (long)w->epoch;
  c->step = (long)w->step;
  c->loss_sum = w->loss_sum;
  c->images = (long)w->images;
  c->train_seconds = w->train_seconds;
  c->threads = (int)w->threads;
  c->group_ranks = (int)w->group_ranks;

  if (w->total > 0) memcpy(c->params->data, w->data, sizeof(float) * (size_t)w->total);

  gs_optim *o = c->opt;
  for (int g = 0; g < w->ngroups; g++) {
    gs_optim *og = c->groups ? &c->groups[g] : o;
    og->t = (long)w->t[g];
    og->lr = w->hyper[g][0];
    og->momentum = w->hyper[g][1];
    og->rho = w->hyper[g][2];
    og->beta1 = w->hyper[g][3];
    og->beta2 = w->hyper[g][4];
    og->eps = w->hyper[g][5];
  }
  c->nloss_parts = w->nparts;
  for (int i = 0; i < w->nparts; i++) {
    GS_STRCPY(c->loss_part_name[i], w->part_name[i]);
    c->loss_part_sum[i] = w->part_sum[i];
  }
  if (w->on > 0) {
    memcpy(o->m, w->m, sizeof(float) * (size_t)w->on);
    memcpy(o->v, w->v, sizeof(float) * (size_t)w->on);
  }

  c->nrng = w->nrng;
  for (int i = 0; i < w->nrng; i++) {
    memcpy(c->rng[i].s, w->state[i], sizeof c->rng[i].s);
    c->rng[i].has_spare = w->has_spare[i];
    memcpy(&c->rng[i].spare, &w->spare_bits[i], 4);
  }

  c->nperm = (long)w->nperm;
  if (w->nperm > 0) {
    c->perm = w->own_perm;
    w->own_perm = NULL;
  } else {
    c->perm = NULL;
  }
  for (int i = 0; c->state && i < w->nstate; i++)
    gs_state_put(c->state, w->stname[i], (gs_state_type)w->sttype[i], w->stdata[i], (long)w->stlen[i]);

  gs_record *r = c->rec;
  if (r) {
    const double *v = w->values;
    for (int i = 0; i < w->nseries; i++) {
      if (w->slen[i] == 0) { /* gs_record_push cannot make an empty series */
        gs_series *s = &r->series[r->nseries++];
        memset(s, 0, sizeof *s);
        GS_STRCPY(s->name, w->snames[i]);
      }
      for (int64_t k = 0; k < w->slen[i]; k++) gs_record_push(r, w->snames[i], v[k]);
      v += w->slen[i];
    }
  }
}

int gs_checkpoint_read(const char *path, gs_checkpoint *c, gs_error *err) {
  const gs_params *p = c->params;
  const gs_optim *o = c->opt;
  if (!p || (p->count > 0 && !p->data))
    return gs_fail(err, "%s: cannot read checkpoint: the model's parameter block is not allocated", path);
  if (!o || o->n < 0 || (o->n > 0 && (!o->m || !o->v)))
    return gs_fail(err, "%s: cannot read checkpoint: the optimiser is not initialised", path);
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  ckview *w = gs_calloc(1, sizeof *w);
  int rc = -1;
  hid_t f = gs_h5_open_readonly(path, err);
  if (f < 0) goto out;
  if (read_view(f, path, w, err) < 0) goto out;
  if (view_fits(w, c, path, err) < 0) goto out;
  rc = 0;
out:
  if (f >= 0 && H5Fclose(f) < 0 && rc == 0) rc = gs_h5_fail(err, path, "closing");
  if (rc == 0) view_to_checkpoint(w, c);
  view_free(w);
  free(w);
  gs_h5_quiet_end(&q);
  return rc;
}

int gs_checkpoint_verify(const char *path, gs_error *err) {
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  ckview *w = gs_calloc(1, sizeof *w);
  int rc = -1;
  hid_t f = gs_h5_open_readonly(path, err);
  if (f >= 0) {
    rc = read_view(f, path, w, err);
    if (H5Fclose(f) < 0 && rc == 0) rc = gs_h5_fail(err, path, "closing");
  }
  view_free(w);
  free(w);
  gs_h5_quiet_end(&q);
  return rc;
}

int gs_checkpoint_peek(const char *path, gs_checkpoint *c, gs_error *err) {
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  ckview *w = gs_calloc(1, sizeof *w);
  int rc = -1;
  hid_t f = gs_h5_open_readonly(path, err);
  if (f >= 0) {
    rc = read_root(f, path, w, err);
    if (H5Fclose(f) < 0 && rc == 0) rc = gs_h5_fail(err, path, "closing");
  }
  if (rc == 0) {
    GS_STRCPY(c->run_id, w->run_id);
    c->config_hash = w->hash;
    c->epoch = (long)w->epoch;
    c->step = (long)w->step;
    c->loss_sum = w->loss_sum;
    c->images = (long)w->images;
    c->train_seconds = w->train_seconds;
    c->threads = (int)w->threads;
    c->group_ranks = (int)w->group_ranks;
  }
  free(w);
  gs_h5_quiet_end(&q);
  return rc;
}
