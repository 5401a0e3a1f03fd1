/* Point-cloud sets in HDF5: the generated-shapes cache and the ModelNet40 / ShapeNet release
 * layout (io/pointcloud_h5.h). Written with the helpers and habits of h5util.c: the file built
 * in memory and committed atomically, HDF5's error printing off, every error naming the file.
 *
 * The values' checksum is data_crc32, a CRC-32 of the arrays as they are in memory, not
 * gs_h5_content_seal's: that one reads every value back through HDF5 widened to 64 bits, which
 * for a 100 MB cache would mean another 200 MB and a second pass over the file at each load. */
#include "gensweep/io/pointcloud_h5.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <zlib.h>

#include "gensweep/io/h5util.h"

#define FORMAT_NAME "gensweep point clouds"
/* a dataset may claim at most this many times the file's size (see the header) */
#define MAX_EXPANSION 64

/* ------------------------------------------------------------------ checksum */
static uLong crc_bytes(uLong c, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n > 0) {
    size_t k = n > (1u << 30) ? (1u << 30) : n;
    c = crc32(c, b, (uInt)k);
    b += k;
    n -= k;
  }
  return c;
}

/* float32 values as little-endian bytes */
static uLong crc_floats(uLong c, const float *x, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return crc_bytes(c, x, n * sizeof *x);
#else
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &x[i], 4);
    unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
    c = crc32(c, b, 4);
  }
  return c;
#endif
}

static uint32_t set_crc(const gs_pointcloud_set *s) {
  uLong c = crc32(0L, Z_NULL, 0);
  c = crc_floats(c, s->xyz, (size_t)s->n * (size_t)s->points * 3);
  c = crc_bytes(c, s->label, (size_t)s->n);
  if (s->subcat) c = crc_bytes(c, s->subcat, (size_t)s->n);
  return (uint32_t)c;
}

/* ------------------------------------------------------------------ generating */
void gs_pointcloud_free(gs_pointcloud_set *s) {
  if (!s) return;
  free(s->xyz);
  free(s->label);
  free(s->subcat);
  memset(s, 0, sizeof *s);
}

/* malloc that fails with an error instead of aborting: sizes come from files */
static void *try_alloc(size_t n, const char *path, const char *what, gs_error *err) {
  void *p = malloc(n ? n : 1);
  if (!p) gs_fail(err, "%s: cannot allocate %zu bytes for %s", path, n, what);
  return p;
}

int gs_pointcloud_generate(const gs_shapes_options *o, long first, long n, gs_pointcloud_set *s, gs_error *err) {
  memset(s, 0, sizeof *s);
  if (gs_shapes_check(o, err) != 0) return -1;
  if (n < 1 || first < 0) return gs_fail(err, "shapes: %ld clouds from index %ld: need n >= 1, first >= 0", n, first);
  size_t vals = (size_t)n * (size_t)o->points * 3;
  if (vals / 3 / (size_t)o->points != (size_t)n) return gs_fail(err, "shapes: %ld clouds of %d points: too many", n, o->points);
  s->xyz = try_alloc(vals * sizeof(float), "shapes", "the clouds", err);
  s->label = try_alloc((size_t)n, "shapes", "labels", err);
  s->subcat = try_alloc((size_t)n, "shapes", "sub-categories", err);
  if (!s->xyz || !s->label || !s->subcat) {
    gs_pointcloud_free(s);
    return -1;
  }
  s->n = n;
  s->points = o->points;
  if (gs_shapes_generate(o, first, n, s->xyz, s->label, s->subcat, err) != 0) {
    gs_pointcloud_free(s);
    return -1;
  }
  for (long i = 0; i < n; i++)
    if (s->label[i] + 1 > s->n_classes) s->n_classes = s->label[i] + 1;
  s->has_generator = 1;
  s->generator_version = GS_SHAPES_VERSION;
  s->gen = *o;
  s->first = first;
  return 0;
}

/* ------------------------------------------------------------------ writing */
static int fill_set(hid_t f, const char *path, void *ctx, gs_error *err) {
  const gs_pointcloud_set *s = ctx;
  hsize_t dd[3] = {(hsize_t)s->n, (hsize_t)s->points, 3}, dl[1] = {(hsize_t)s->n};
  if (gs_h5_attr_str(f, "format", FORMAT_NAME) < 0 || gs_h5_attr_str(f, "gensweep_version", GS_VERSION) < 0)
    return gs_h5_fail(err, path, "cannot write the format attributes");
  if (gs_h5_dataset_write(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dd, s->xyz, 0) < 0)
    return gs_h5_fail(err, path, "cannot write dataset data");
  if (gs_h5_dataset_write(f, "label", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, dl, s->label, 0) < 0)
    return gs_h5_fail(err, path, "cannot write dataset label");
  if (s->subcat && gs_h5_dataset_write(f, "subcategory", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, dl, s->subcat, 0) < 0)
    return gs_h5_fail(err, path, "cannot write dataset subcategory");
  if (s->has_generator) {
    const gs_shapes_options *o = &s->gen;
    const char *names[GS_SHAPES_CLASSES];
    for (int c = 0; c < GS_SHAPES_CLASSES; c++) names[c] = gs_shapes_class_name(c);
    if (gs_h5_attr_str(f, "generator", "shapes") < 0 || gs_h5_attr_i64(f, "generator_version", s->generator_version) < 0 ||
        gs_h5_attr_write(f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &o->seed) < 0 ||
        gs_h5_attr_i64(f, "points", o->points) < 0 || gs_h5_attr_i64(f, "first_index", s->first) < 0 ||
        gs_h5_attr_str(f, "rotation", gs_shapes_rotation_name(o->rotation)) < 0 ||
        gs_h5_attr_f64(f, "noise", o->noise) < 0 || gs_h5_attr_f64(f, "anisotropy", o->anisotropy) < 0 ||
        gs_h5_attr_f64(f, "scale_min", o->scale_min) < 0 || gs_h5_attr_f64(f, "scale_max", o->scale_max) < 0 ||
        gs_h5_attr_str_array(f, "class_names", names, GS_SHAPES_CLASSES) < 0)
      return gs_h5_fail(err, path, "cannot write the generator attributes");
  }
  uint32_t crc = set_crc(s);
  if (gs_h5_attr_write(f, "data_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &crc) < 0)
    return gs_h5_fail(err, path, "cannot write attribute data_crc32");
  return 0;
}

int gs_pointcloud_write(const char *path, const gs_pointcloud_set *s, gs_error *err) {
  if (s->n < 1 || s->points < 1 || !s->xyz || !s->label)
    return gs_fail(err, "%s: nothing to write (%ld clouds of %d points)", path, s->n, s->points);
  if (s->has_generator && !s->subcat) return gs_fail(err, "%s: a generated set without sub-categories", path);
  return gs_h5_write_atomic(path, fill_set, (void *)s, err);
}

/* ------------------------------------------------------------------ reading */
/* The generator attributes of an open file into s (has_generator 0 when it has none). */
static int read_generator(hid_t f, const char *path, gs_pointcloud_set *s, gs_error *err) {
  s->has_generator = 0;
  htri_t has = H5Aexists(f, "generator");
  if (has < 0) return gs_h5_fail(err, path, "corrupt file: cannot list the attributes");
  if (!has) return 0;
  char gen[64], rot[16];
  double v, pts, first;
  gs_shapes_options *o = &s->gen;
  gs_shapes_defaults(o);
  const char *bad = NULL;
  if (gs_h5_attr_read_str(f, "generator", gen, sizeof gen) < 0) bad = "generator";
  else if (strcmp(gen, "shapes") != 0)
    return gs_fail(err, "%s: made by generator \"%s\", which this gensweep does not know", path, gen);
  else if (gs_h5_attr_read_f64(f, "generator_version", &v) < 0) bad = "generator_version";
  else if (gs_h5_attr_read_exact(f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &o->seed) < 0) bad = "seed";
  else if (gs_h5_attr_read_f64(f, "points", &pts) < 0) bad = "points";
  else if (gs_h5_attr_read_f64(f, "first_index", &first) < 0) bad = "first_index";
  else if (gs_h5_attr_read_str(f, "rotation", rot, sizeof rot) < 0 || gs_shapes_rotation_parse(rot, &o->rotation) < 0)
    bad = "rotation";
  else if (gs_h5_attr_read_f64(f, "noise", &o->noise) < 0) bad = "noise";
  else if (gs_h5_attr_read_f64(f, "anisotropy", &o->anisotropy) < 0) bad = "anisotropy";
  else if (gs_h5_attr_read_f64(f, "scale_min", &o->scale_min) < 0) bad = "scale_min";
  else if (gs_h5_attr_read_f64(f, "scale_max", &o->scale_max) < 0) bad = "scale_max";
  if (bad) return gs_h5_fail(err, path, "corrupt point-cloud cache: attribute %s missing or unreadable", bad);
  if (!(v >= 0 && v <= INT_MAX && pts >= 1 && pts <= GS_SHAPES_MAX_POINTS && first >= 0 && first < 9e18))
    return gs_fail(err, "%s: corrupt point-cloud cache: generator_version %g, points %g, first_index %g", path, v, pts,
                   first);
  s->generator_version = (int)v;
  o->points = (int)pts;
  s->first = (long)first;
  gs_error e2 = {0};
  if (gs_shapes_check(o, &e2) != 0) return gs_fail(err, "%s: corrupt point-cloud cache: %s", path, e2.msg);
  s->has_generator = 1;
  return 0;
}

/* Open dataset `name` with its dims; "what" describes what is expected, for the messages. */
static hid_t open_dataset(hid_t f, const char *path, const char *name, const char *what, int *rank, hsize_t *dims,
                          gs_error *err) {
  htri_t ex = H5Lexists(f, name, H5P_DEFAULT);
  if (ex < 0) {
    gs_h5_fail(err, path, "corrupt file: cannot look up dataset %s", name);
    return -1;
  }
  if (!ex) {
    gs_fail(err, "%s: no dataset '%s' (expected %s)", path, name, what);
    return -1;
  }
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) {
    gs_h5_fail(err, path, "cannot open dataset %s (expected %s)", name, what);
    return -1;
  }
  hid_t sp = H5Dget_space(d);
  int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  if (r < 0 || r > H5S_MAX_RANK || (r > 0 && H5Sget_simple_extent_dims(sp, dims, NULL) != r)) {
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    gs_h5_fail(err, path, "corrupt file: cannot read the shape of dataset %s", name);
    return -1;
  }
  H5Sclose(sp);
  *rank = r;
  return d;
}

static void shape_text(char *buf, size_t n, int rank, const hsize_t *dims) {
  size_t k = (size_t)snprintf(buf, n, "(");
  for (int i = 0; i < rank && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
  if (k < n) snprintf(buf + k, n - k, "%s)", rank == 1 ? "," : "");
}

/* An integer dataset of n values, rank 1 or (n, 1), read as int64 into a new buffer. */
static int64_t *read_ints(hid_t f, const char *path, const char *name, const char *what, long n, int optional,
                          gs_error *err) {
  int rank = 0;
  hsize_t dims[H5S_MAX_RANK];
  if (optional) {
    htri_t ex = H5Lexists(f, name, H5P_DEFAULT);
    if (ex == 0) return NULL;
  }
  hid_t d = open_dataset(f, path, name, what, &rank, dims, err), t = -1;
  int64_t *v = NULL;
  char shape[128];
  if (d < 0) return NULL;
  shape_text(shape, sizeof shape, rank, dims);
  if (!(rank == 1 || (rank == 2 && dims[1] == 1))) {
    gs_fail(err, "%s: dataset '%s' has shape %s, expected %s", path, name, shape, what);
    goto out;
  }
  if (dims[0] != (hsize_t)n) {
    gs_fail(err, "%s: dataset '%s' has %llu entries but 'data' has %ld clouds", path, name,
            (unsigned long long)dims[0], n);
    goto out;
  }
  t = H5Dget_type(d);
  if (t < 0 || H5Tget_class(t) != H5T_INTEGER) {
    gs_fail(err, "%s: dataset '%s' is not integer (expected %s)", path, name, what);
    goto out;
  }
  v = try_alloc(sizeof(int64_t) * (size_t)n, path, name, err);
  if (v && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
    gs_h5_fail(err, path, "corrupt or truncated file: cannot read dataset %s", name);
    free(v);
    v = NULL;
  }
out:
  gs_h5_close_id(&t);
  gs_h5_close_id(&d);
  return v;
}

/* The clouds: checks shape, type and size, then reads (n, take, 3) into s->xyz. */
static int read_data(hid_t f, const char *path, int points, long fsize, int whole, gs_pointcloud_set *s, int *file_n,
                     gs_error *err) {
  const char *what = "point clouds (n, N, 3) float32";
  int rank = 0, rc = -1;
  hsize_t dims[H5S_MAX_RANK];
  hid_t d = open_dataset(f, path, "data", what, &rank, dims, err), t = -1, fs = -1, ms = -1, pl = -1;
  if (d < 0) return -1;
  char shape[128];
  shape_text(shape, sizeof shape, rank, dims);
  if (rank != 3 || dims[2] != 3 || dims[0] < 1 || dims[1] < 1) {
    gs_fail(err, "%s: dataset 'data' has shape %s, expected %s", path, shape, what);
    goto out;
  }
  t = H5Dget_type(d);
  if (t < 0 || H5Tget_class(t) != H5T_FLOAT) {
    gs_fail(err, "%s: dataset 'data' is not floating point (expected %s)", path, what);
    goto out;
  }
  /* at most 2^40 points in all: the byte counts below cannot overflow */
  if (dims[1] > INT_MAX / 3 || dims[0] > ((hsize_t)1 << 40) / dims[1]) {
    gs_fail(err, "%s: dataset 'data' has shape %s, too large to be read", path, shape);
    goto out;
  }
  long n = (long)dims[0];
  int N = (int)dims[1];
  if (points > N) {
    gs_fail(err, "%s: clouds have %d points each, fewer than the %d asked for", path, N, points);
    goto out;
  }
  size_t esize = H5Tget_size(t);
  if (esize > 16) esize = 16; /* no float type is wider */
  hsize_t claimed = dims[0] * dims[1] * 3 * (esize ? esize : 1);
  if (claimed / MAX_EXPANSION > (hsize_t)fsize) {
    gs_fail(err, "%s: corrupt file: dataset 'data' claims %llu bytes in a file of %ld", path,
            (unsigned long long)claimed, fsize);
    goto out;
  }
  pl = H5Dget_create_plist(d);
  if (pl >= 0 && H5Pget_layout(pl) == H5D_CONTIGUOUS) {
    /* uncompressed: the values must lie whole inside the file */
    haddr_t off = H5Dget_offset(d);
    if (off == HADDR_UNDEF || off + claimed > (haddr_t)fsize) {
      gs_fail(err, "%s: truncated or corrupt file: dataset 'data' (%llu bytes) does not lie inside the file (%ld bytes)",
              path, (unsigned long long)claimed, fsize);
      goto out;
    }
  }
  *file_n = N;
  int take = whole || points == 0 ? N : points;
  s->xyz = try_alloc((size_t)n * (size_t)take * 3 * sizeof(float), path, "the clouds", err);
  if (!s->xyz) goto out;
  fs = H5Dget_space(d);
  hsize_t start[3] = {0, 0, 0}, count[3] = {(hsize_t)n, (hsize_t)take, 3};
  ms = H5Screate_simple(3, count, NULL);
  if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0) {
    gs_h5_fail(err, path, "cannot select the clouds of dataset data");
    goto out;
  }
  if (H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, s->xyz) < 0) {
    gs_h5_fail(err, path, "corrupt or truncated file: cannot read dataset data");
    goto out;
  }
  s->n = n;
  s->points = take;
  rc = 0;
out:
  gs_h5_close_id(&pl);
  gs_h5_close_id(&ms);
  gs_h5_close_id(&fs);
  gs_h5_close_id(&t);
  gs_h5_close_id(&d);
  return rc;
}

static int read_set(hid_t f, const char *path, int points, int max_classes, gs_pointcloud_set *s, gs_error *err) {
  struct stat st;
  if (stat(path, &st) != 0) return gs_fail(err, "%s: cannot stat: %s", path, strerror(errno));
  if (max_classes <= 0 || max_classes > 256) max_classes = 256;
  if (read_generator(f, path, s, err) != 0) return -1;
  htri_t has_crc = H5Aexists(f, "data_crc32");
  if (has_crc < 0) return gs_h5_fail(err, path, "corrupt file: cannot list the attributes");
  /* a checksummed file is read whole, so that the checksum can be verified, then cut */
  int file_n = 0;
  if (read_data(f, path, points, (long)st.st_size, has_crc > 0, s, &file_n, err) != 0) return -1;
  int N = s->points;
  if (s->has_generator && s->gen.points != file_n)
    return gs_fail(err, "%s: corrupt point-cloud cache: attribute points is %d but the clouds have %d", path,
                   s->gen.points, file_n);

  int64_t *lab = read_ints(f, path, "label", "class labels (n) or (n, 1), integer", s->n, 0, err);
  if (!lab) return -1;
  gs_error e2 = {0};
  int64_t *sub = read_ints(f, path, "subcategory", "sub-categories (n), integer", s->n, 1, &e2);
  if (!sub && e2.code) {
    free(lab);
    if (err) *err = e2;
    return -1;
  }
  int rc = -1;
  s->label = try_alloc((size_t)s->n, path, "labels", err);
  if (sub) s->subcat = try_alloc((size_t)s->n, path, "sub-categories", err);
  if (!s->label || (sub && !s->subcat)) goto out;
  int maxl = -1;
  for (long i = 0; i < s->n; i++) {
    if (lab[i] < 0 || lab[i] >= max_classes) {
      gs_fail(err, "%s: the label of cloud %ld is %lld, outside 0 .. %d", path, i, (long long)lab[i], max_classes - 1);
      goto out;
    }
    s->label[i] = (uint8_t)lab[i];
    if (lab[i] > maxl) maxl = (int)lab[i];
    if (sub) {
      int lim = s->has_generator ? gs_shapes_subcats((int)lab[i]) : 256;
      if (sub[i] < 0 || sub[i] >= lim) {
        gs_fail(err, "%s: the sub-category of cloud %ld is %lld, outside 0 .. %d", path, i, (long long)sub[i], lim - 1);
        goto out;
      }
      s->subcat[i] = (uint8_t)sub[i];
    }
  }
  s->n_classes = maxl + 1;
  if (has_crc > 0) {
    uint32_t stored = 0, sum = set_crc(s);
    if (gs_h5_attr_read_exact(f, "data_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, &stored) < 0) {
      gs_h5_fail(err, path, "corrupt file: attribute data_crc32 unreadable");
      goto out;
    }
    if (stored != sum) {
      gs_fail(err, "%s: corrupt file: the clouds and labels do not match their checksum (data_crc32 %08x, computed %08x)",
              path, stored, sum);
      goto out;
    }
    if (points > 0 && points < N) { /* keep the first `points` of each cloud */
      for (long i = 0; i < s->n; i++)
        memmove(s->xyz + (size_t)i * points * 3, s->xyz + (size_t)i * N * 3, sizeof(float) * 3 * (size_t)points);
      s->points = N = points;
    }
  }
  size_t nv = (size_t)s->n * (size_t)N * 3;
  for (size_t k = 0; k < nv; k++)
    if (!isfinite(s->xyz[k])) {
      gs_fail(err, "%s: cloud %zu, point %zu has a non-finite coordinate (%g)", path, k / 3 / (size_t)N,
              k / 3 % (size_t)N, (double)s->xyz[k]);
      goto out;
    }
  rc = 0;
out:
  free(lab);
  free(sub);
  return rc;
}

int gs_pointcloud_read(const char *path, int points, int max_classes, gs_pointcloud_set *s, gs_error *err) {
  memset(s, 0, sizeof *s);
  if (points < 0) return gs_fail(err, "%s: %d points asked for", path, points);
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  hid_t f = gs_h5_open_readonly(path, err);
  int rc = f < 0 ? -1 : read_set(f, path, points, max_classes, s, err);
  gs_h5_close_id(&f);
  gs_h5_quiet_end(&q);
  if (rc != 0) gs_pointcloud_free(s);
  return rc;
}

/* ------------------------------------------------------------------ the cache */
int gs_pointcloud_cache_fits(const char *path, const gs_shapes_options *o, long first, long n, char *why,
                             size_t whylen) {
  struct stat st;
  if (stat(path, &st) != 0) {
    snprintf(why, whylen, "%s: missing", path);
    return 0;
  }
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  gs_error err = {0};
  gs_pointcloud_set s;
  memset(&s, 0, sizeof s);
  int fits = 0, rank = 0;
  hsize_t dims[H5S_MAX_RANK];
  hid_t f = gs_h5_open_readonly(path, &err), d = -1;
  if (f < 0 || read_generator(f, path, &s, &err) != 0) {
    snprintf(why, whylen, "unreadable: %s", err.msg);
    goto out;
  }
  if (!s.has_generator) {
    snprintf(why, whylen, "%s: not a generated set (no generator attributes)", path);
    goto out;
  }
  d = open_dataset(f, path, "data", "point clouds", &rank, dims, &err);
  if (d < 0) {
    snprintf(why, whylen, "unreadable: %s", err.msg);
    goto out;
  }
  const gs_shapes_options *h = &s.gen;
#define DIFF(cond, fmt, have, want)                                                                                    \
  if (cond) {                                                                                                          \
    snprintf(why, whylen, "%s: made with " fmt ", not " fmt, path, have, want);                                        \
    goto out;                                                                                                          \
  }
  DIFF(s.generator_version != GS_SHAPES_VERSION, "generator version %d", s.generator_version, GS_SHAPES_VERSION);
  DIFF(h->seed != o->seed, "seed %llu", (unsigned long long)h->seed, (unsigned long long)o->seed);
  DIFF(h->points != o->points, "%d points", h->points, o->points);
  DIFF(h->rotation != o->rotation, "rotation %s", gs_shapes_rotation_name(h->rotation),
       gs_shapes_rotation_name(o->rotation));
  DIFF(h->noise != o->noise, "noise %.17g", h->noise, o->noise);
  DIFF(h->anisotropy != o->anisotropy, "anisotropy %.17g", h->anisotropy, o->anisotropy);
  DIFF(h->scale_min != o->scale_min, "scale_min %.17g", h->scale_min, o->scale_min);
  DIFF(h->scale_max != o->scale_max, "scale_max %.17g", h->scale_max, o->scale_max);
  DIFF(s.first != first, "first index %ld", s.first, first);
  DIFF(rank != 3 || dims[0] != (hsize_t)n, "%llu clouds", rank == 3 ? (unsigned long long)dims[0] : 0ULL,
       (unsigned long long)n);
#undef DIFF
  fits = 1;
out:
  gs_h5_close_id(&d);
  gs_h5_close_id(&f);
  gs_h5_quiet_end(&q);
  return fits;
}

int gs_pointcloud_cache_load(const char *path, const gs_shapes_options *o, long first, long n, gs_pointcloud_set *s,
                             int *made, gs_error *err) {
  memset(s, 0, sizeof *s);
  if (made) *made = 0;
  if (gs_shapes_check(o, err) != 0) return -1;
  /* the lock: <path>.lock beside the file */
  char dir[4096], name[1024];
  const char *slash = strrchr(path, '/');
  if (slash) {
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (dir[0] == 0) GS_STRCPY(dir, "/");
  } else
    GS_STRCPY(dir, ".");
  snprintf(name, sizeof name, "%s.lock", slash ? slash + 1 : path);
  int lock = gs_lock_dir(dir, name);
  char why[1200];
  int rc = -1;
  if (gs_pointcloud_cache_fits(path, o, first, n, why, sizeof why)) {
    gs_error e = {0};
    if (gs_pointcloud_read(path, 0, GS_SHAPES_CLASSES, s, &e) == 0) {
      rc = 0;
      goto out;
    }
    /* a damaged cache is made again */
  }
  if (gs_pointcloud_generate(o, first, n, s, err) != 0) goto out;
  if (gs_pointcloud_write(path, s, err) != 0) {
    gs_pointcloud_free(s);
    goto out;
  }
  if (made) *made = 1;
  rc = 0;
out:
  gs_unlock_dir(lock);
  return rc;
}
