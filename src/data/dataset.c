/* Data sets: the four MNIST-format files of a directory, the training subset, the validation split
 * and float batches. See include/gensweep/data/data.h.
 *
 * Subset and split (stream gs_rng(seed, 0, GS_RNG_DATA)):
 *   1. train_size > 0 and < available: a partial Fisher-Yates shuffle picks train_size distinct images;
 *   2. val_split > 0: the picked images are shuffled with the same stream and the first
 *      round(val_split * n) of them are held out as the validation set;
 *   3. both sets are then kept in file order (ascending index), which lets the training images be
 *      compacted in place: peak memory is the training file plus the validation copy. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gensweep/data/data.h"
#include "gensweep/core/rng.h"

static const char *const FILE_TRAIN_IMAGES = "train-images-idx3-ubyte";
static const char *const FILE_TRAIN_LABELS = "train-labels-idx1-ubyte";
static const char *const FILE_TEST_IMAGES = "t10k-images-idx3-ubyte";
static const char *const FILE_TEST_LABELS = "t10k-labels-idx1-ubyte";

int gs_dataset_resolve(const char *name, char *dir, size_t dirlen, gs_error *err) {
  struct stat st;
  if (!name || !*name || strcmp(name, GS_DEFAULT_DATASET) == 0) {
    if (stat(GS_FASHION_MNIST_DIR, &st) != 0 || !S_ISDIR(st.st_mode))
      return gs_fail(err, "data set %s: directory %s not found (install the dataset-fashion-mnist package)",
                     GS_DEFAULT_DATASET, GS_FASHION_MNIST_DIR);
    if (gs_strlcpy(dir, GS_FASHION_MNIST_DIR, dirlen) >= dirlen)
      return gs_fail(err, "data set directory name too long: %s", GS_FASHION_MNIST_DIR);
    return 0;
  }
  if (stat(name, &st) != 0)
    return gs_fail(err, "data set %s: no such directory (%s); give \"%s\" or a directory holding %s, %s, %s, %s",
                   name, strerror(errno), GS_DEFAULT_DATASET, FILE_TRAIN_IMAGES, FILE_TRAIN_LABELS, FILE_TEST_IMAGES,
                   FILE_TEST_LABELS);
  if (!S_ISDIR(st.st_mode)) return gs_fail(err, "data set %s: not a directory", name);
  size_t len = strlen(name);
  while (len > 1 && name[len - 1] == '/') len--; /* "dir/" -> "dir" */
  if (len >= dirlen) return gs_fail(err, "data set directory name too long: %s", name);
  memcpy(dir, name, len);
  dir[len] = 0;
  return 0;
}

/* The file actually present: path itself or path.gz (as gs_idx_read resolves it). */
static void present_name(const char *path, char *out, size_t n) {
  struct stat st;
  if (stat(path, &st) == 0) snprintf(out, n, "%s", path);
  else snprintf(out, n, "%s.gz", path);
}

/* Load images + labels from dir/<img>, dir/<lab> into s (n_classes left to the caller). */
static int load_pair(const char *dir, const char *img, const char *lab, gs_imageset *s, gs_error *err) {
  char pi[1200], pl[1200];
  snprintf(pi, sizeof pi, "%s/%s", dir, img);
  snprintf(pl, sizeof pl, "%s/%s", dir, lab);
  gs_idx xi, xl;
  if (gs_idx_read(pi, 3, &xi, err) != 0) return -1;
  if (gs_idx_read(pl, 1, &xl, err) != 0) {
    gs_idx_free(&xi);
    return -1;
  }
  if (xi.count != xl.count) {
    char ni[1300], nl[1300];
    present_name(pi, ni, sizeof ni);
    present_name(pl, nl, sizeof nl);
    gs_fail(err, "image/label count mismatch: %s has %ld images, %s has %ld labels", ni, xi.count, nl, xl.count);
    gs_idx_free(&xi);
    gs_idx_free(&xl);
    return -1;
  }
  memset(s, 0, sizeof *s);
  s->n = xi.count;
  s->h = xi.dims[1];
  s->w = xi.dims[2];
  s->dim = xi.item_size;
  s->pix = xi.data;
  s->labels = xl.data;
  return 0;
}

static void set_free(gs_imageset *s) {
  free(s->pix);
  free(s->points);
  free(s->labels);
  free(s->subcats);
  memset(s, 0, sizeof *s);
}

/* bytes of one sample: a byte per value for images, a float for point sets */
static size_t sample_bytes(const gs_imageset *s) { return (size_t)s->dim * (s->points ? sizeof(float) : 1); }
static uint8_t *sample_data(const gs_imageset *s) { return s->points ? (uint8_t *)s->points : s->pix; }
static void set_sample_data(gs_imageset *s, uint8_t *p) {
  if (s->points) s->points = (float *)p;
  else s->pix = p;
}

static int max_label(const gs_imageset *s) {
  int m = -1;
  for (long i = 0; i < s->n; i++)
    if (s->labels[i] > m) m = s->labels[i];
  return m;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Copy rows idx[0..k) (any order) of src into a new set. */
static void gather(const gs_imageset *src, const int32_t *idx, long k, gs_imageset *dst) {
  *dst = *src;
  dst->n = k;
  size_t b = sample_bytes(src);
  uint8_t *d = gs_malloc((size_t)(k > 0 ? k : 1) * b);
  const uint8_t *from = sample_data(src);
  set_sample_data(dst, d);
  dst->labels = gs_malloc((size_t)(k > 0 ? k : 1));
  dst->subcats = src->subcats ? gs_malloc((size_t)(k > 0 ? k : 1)) : NULL;
  for (long i = 0; i < k; i++) {
    memcpy(d + (size_t)i * b, from + (size_t)idx[i] * b, b);
    dst->labels[i] = src->labels[idx[i]];
    if (src->subcats) dst->subcats[i] = src->subcats[idx[i]];
  }
}

/* Keep rows idx[0..k) (strictly ascending) of s, in place, and shrink the buffers. */
static void compact(gs_imageset *s, const int32_t *idx, long k) {
  size_t b = sample_bytes(s);
  uint8_t *d = sample_data(s);
  for (long i = 0; i < k; i++) {
    if (idx[i] != i) {
      memmove(d + (size_t)i * b, d + (size_t)idx[i] * b, b);
      s->labels[i] = s->labels[idx[i]];
      if (s->subcats) s->subcats[i] = s->subcats[idx[i]];
    }
  }
  s->n = k;
  set_sample_data(s, gs_realloc(d, (size_t)(k > 0 ? k : 1) * b));
  s->labels = gs_realloc(s->labels, (size_t)(k > 0 ? k : 1));
  if (s->subcats) s->subcats = gs_realloc(s->subcats, (size_t)(k > 0 ? k : 1));
}

static int subset_and_split(gs_dataset *ds, const gs_data_options *opt, const char *train_file, gs_error *err) {
  gs_imageset *tr = &ds->train;
  long avail = tr->n;
  long want = opt->train_size > 0 ? opt->train_size : avail;
  if (want > avail)
    return gs_fail(err, "train_size %ld is larger than the %ld training images in %s", opt->train_size, avail,
                   train_file);
  if (avail > INT32_MAX) return gs_fail(err, "%s: too many images (%ld)", train_file, avail);
  long nval = want - gs_train_count(want, want, opt->val_split);
  if (want - nval < 1)
    return gs_fail(err, "val_split %g leaves no training images (of %ld)", opt->val_split, want);
  if (want == avail && nval == 0) return 0; /* everything, file order */

  gs_rng r;
  gs_rng_seed(&r, opt->seed, 0, GS_RNG_DATA);
  int32_t *idx = gs_malloc(sizeof(int32_t) * (size_t)avail);
  for (long i = 0; i < avail; i++) idx[i] = (int32_t)i;
  if (want < avail) /* partial Fisher-Yates: idx[0..want) is a uniform random subset */
    for (long i = 0; i < want; i++) {
      long j = i + (long)gs_rng_below(&r, (uint64_t)(avail - i));
      int32_t t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
    }
  if (nval > 0) gs_rng_shuffle(&r, idx, want);
  /* idx[0..nval) -> val, idx[nval..want) -> train; each kept in file order */
  qsort(idx, (size_t)nval, sizeof(int32_t), cmp_i32);
  qsort(idx + nval, (size_t)(want - nval), sizeof(int32_t), cmp_i32);
  if (nval > 0) gather(tr, idx, nval, &ds->val);
  compact(tr, idx + nval, want - nval);
  free(idx);
  return 0;
}

gs_sample_shape gs_imageset_shape(const gs_imageset *s) {
  gs_sample_shape sh = {.kind = GS_SAMPLES_IMAGES, .dims = {1, s->h, s->w}, .size = s->dim,
                        .n_classes = s->labels ? s->n_classes : 0};
  if (s->points) sh.kind = GS_SAMPLES_POINTS, sh.dims[0] = s->h, sh.dims[1] = s->w, sh.dims[2] = 1;
  return sh;
}

void gs_sample_shape_text(const gs_sample_shape *s, char *buf, size_t n) {
  int o;
  if (s->kind == GS_SAMPLES_IMAGES)
    o = snprintf(buf, n, "images %dx%dx%d", s->dims[0], s->dims[1], s->dims[2]);
  else
    o = snprintf(buf, n, "point sets of %d points x %d coordinates", s->dims[0], s->dims[1]);
  if (o > 0 && (size_t)o < n) {
    if (s->n_classes > 0) snprintf(buf + o, n - (size_t)o, ", %d class%s", s->n_classes, s->n_classes == 1 ? "" : "es");
    else snprintf(buf + o, n - (size_t)o, ", no labels");
  }
}

int gs_data_check(const gs_sample_shape *have, const gs_data_needs *need, const char *who, gs_error *err) {
  static const char *const kinds[] = {"images", "point sets"};
  char text[160];
  gs_sample_shape_text(have, text, sizeof text);
  if (have->kind != need->kind)
    return gs_fail(err, "%s needs %s; the data set holds %s", who, kinds[need->kind], text);
  if (need->labels && have->n_classes < 2)
    return gs_fail(err, "%s needs labelled %s with at least 2 classes; the data set holds %s", who,
                   kinds[need->kind], text);
  for (int d = 0; d < 3; d++)
    if (need->min_dims[d] > 0 && have->dims[d] < need->min_dims[d]) {
      if (need->kind == GS_SAMPLES_IMAGES)
        return gs_fail(err, "%s needs images of at least %dx%d pixels; the data set holds %s", who, need->min_dims[1],
                       need->min_dims[2], text);
      return gs_fail(err, "%s needs point sets of at least %d points; the data set holds %s", who, need->min_dims[0],
                     text);
    }
  return 0;
}

int gs_dataset_sizes(const char *name, gs_data_sizes *out, gs_error *err) {
  memset(out, 0, sizeof *out);
  char dir[512], path[1200];
  if (gs_dataset_resolve(name, dir, sizeof dir, err) != 0) return -1;
  gs_idx train, test;
  snprintf(path, sizeof path, "%s/%s", dir, FILE_TRAIN_IMAGES);
  if (gs_idx_read_header(path, 3, &train, err) != 0) return -1;
  snprintf(path, sizeof path, "%s/%s", dir, FILE_TEST_IMAGES);
  if (gs_idx_read_header(path, 3, &test, err) != 0) return -1;
  out->train = train.count;
  out->test = test.count;
  out->h = train.dims[1];
  out->w = train.dims[2];
  out->dim = train.item_size;
  return 0;
}

static int finish_sets(gs_dataset *ds, const gs_data_options *opt, const char *name, const char *what,
                       gs_error *err);

int gs_dataset_load(const char *name, const gs_data_options *opt, gs_dataset *ds, gs_error *err) {
  static const gs_data_options defaults = {0};
  if (!opt) opt = &defaults;
  memset(ds, 0, sizeof *ds);
  if (opt->train_size < 0) return gs_fail(err, "train_size must be >= 0 (0 = all), got %ld", opt->train_size);
  if (opt->test_size < 0) return gs_fail(err, "test_size must be >= 0 (0 = all), got %ld", opt->test_size);
  if (!(opt->val_split >= 0.0 && opt->val_split < 1.0))
    return gs_fail(err, "val_split must be in [0, 1), got %g", opt->val_split);
  if (gs_dataset_resolve(name, ds->dir, sizeof ds->dir, err) != 0) return -1;
  GS_STRCPY(ds->name, (!name || !*name) ? GS_DEFAULT_DATASET : name);

  char ptrain[1200], ptest[1200];
  snprintf(ptrain, sizeof ptrain, "%s/%s", ds->dir, FILE_TRAIN_IMAGES);
  snprintf(ptest, sizeof ptest, "%s/%s", ds->dir, FILE_TEST_IMAGES);
  char ntrain[1300], ntest[1300];
  if (load_pair(ds->dir, FILE_TRAIN_IMAGES, FILE_TRAIN_LABELS, &ds->train, err) != 0) goto fail;
  present_name(ptrain, ntrain, sizeof ntrain);
  if (load_pair(ds->dir, FILE_TEST_IMAGES, FILE_TEST_LABELS, &ds->test, err) != 0) goto fail;
  present_name(ptest, ntest, sizeof ntest);
  if (ds->test.h != ds->train.h || ds->test.w != ds->train.w) {
    gs_fail(err, "%s: image size %dx%d differs from the training images' %dx%d (%s)", ntest, ds->test.h, ds->test.w,
            ds->train.h, ds->train.w, ntrain);
    goto fail;
  }
  char what[1400];
  snprintf(what, sizeof what, "test images in %s", ntest);
  if (finish_sets(ds, opt, ntrain, what, err) != 0) goto fail;
  return 0;

fail:
  gs_dataset_free(ds);
  return -1;
}

/* Loaded train and test sets: the classes (labels are bytes: always < 256), data.test_size's
 * first test items (`what` names them in the message: "test images in <file>"), the training
 * subset and validation split (subset_and_split; name: the training data's), an empty validation
 * set shaped like the others. */
static int finish_sets(gs_dataset *ds, const gs_data_options *opt, const char *name, const char *what,
                       gs_error *err) {
  int mt = max_label(&ds->train), ms = max_label(&ds->test), n_classes = (mt > ms ? mt : ms) + 1;
  if (opt->test_size > 0) {
    if (opt->test_size > ds->test.n)
      return gs_fail(err, "test_size %ld is larger than the %ld %s", opt->test_size, ds->test.n, what);
    if (opt->test_size < ds->test.n) {
      ds->test.n = opt->test_size;
      if (ds->test.pix) { /* (a point set keeps its arrays: only n counts) */
        ds->test.pix = gs_realloc(ds->test.pix, (size_t)ds->test.n * (size_t)ds->test.dim);
        ds->test.labels = gs_realloc(ds->test.labels, (size_t)ds->test.n);
      }
    }
  }
  if (subset_and_split(ds, opt, name, err) != 0) return -1;
  ds->train.n_classes = ds->val.n_classes = ds->test.n_classes = n_classes;
  if (ds->val.n == 0) { /* empty but shaped like the others */
    ds->val.h = ds->train.h;
    ds->val.w = ds->train.w;
    ds->val.dim = ds->train.dim;
  }
  return 0;
}

void gs_dataset_free(gs_dataset *ds) {
  if (!ds) return;
  set_free(&ds->train);
  set_free(&ds->val);
  set_free(&ds->test);
}

void gs_imageset_batch(const gs_imageset *s, const int32_t *idx, int rows, float *x, float *onehot) {
  const long dim = s->dim;
  for (int r = 0; r < rows && s->points; r++)
    memcpy(x + (size_t)r * (size_t)dim, s->points + (size_t)idx[r] * (size_t)dim, sizeof(float) * (size_t)dim);
  for (int r = 0; r < rows && !s->points; r++) {
    const uint8_t *p = s->pix + (size_t)idx[r] * (size_t)dim;
    float *o = x + (size_t)r * (size_t)dim;
    for (long j = 0; j < dim; j++) o[j] = (float)p[j] / 255.0f;
  }
  if (onehot) {
    const int C = s->n_classes;
    memset(onehot, 0, sizeof(float) * (size_t)rows * (size_t)C);
    for (int r = 0; r < rows; r++) {
      int l = s->labels[idx[r]];
      if (l < C) onehot[(size_t)r * C + l] = 1.0f;
    }
  }
}

const gs_data_sizes *gs_dataset_sizes_cached(const char *name) {
  enum { CACHE = 8 };
  static struct {
    char name[512];
    int ok;
    gs_data_sizes sizes;
  } cache[CACHE];
  static int n;
  for (int i = 0; i < n; i++)
    if (strcmp(cache[i].name, name) == 0) return cache[i].ok ? &cache[i].sizes : NULL;
  int i = n < CACHE ? n++ : CACHE - 1;
  GS_STRCPY(cache[i].name, name);
  gs_error err;
  cache[i].ok = gs_dataset_sizes(name, &cache[i].sizes, &err) == 0;
  return cache[i].ok ? &cache[i].sizes : NULL;
}

long gs_train_count(long available, long train_size, double val_split) {
  long want = train_size > 0 && train_size < available ? train_size : available;
  return want - (long)floor(val_split * (double)want + 0.5);
}

int gs_dataset_from_points(const char *name, int N, gs_pointsets_in train, gs_pointsets_in test,
                           const gs_data_options *opt, gs_dataset *ds, gs_error *err) {
  static const gs_data_options defaults = {0};
  if (!opt) opt = &defaults;
  memset(ds, 0, sizeof *ds);
  GS_STRCPY(ds->name, name);
  GS_STRCPY(ds->dir, name);
  gs_imageset *sets[2] = {&ds->train, &ds->test};
  gs_pointsets_in in[2] = {train, test};
  for (int k = 0; k < 2; k++) {
    gs_imageset *s = sets[k];
    s->n = in[k].n;
    s->h = N;
    s->w = 3;
    s->dim = 3L * N;
    s->points = in[k].points;
    s->labels = in[k].labels;
    s->subcats = in[k].subcats;
  }
  if (N < 1 || train.n < 1 || test.n < 1 || !train.points || !test.points || !train.labels || !test.labels) {
    gs_fail(err, "%s: an empty point-set data set (%ld training and %ld test sets of %d points)", name, train.n,
            test.n, N);
    goto fail;
  }
  if (opt->train_size < 0 || opt->test_size < 0 || !(opt->val_split >= 0.0 && opt->val_split < 1.0)) {
    gs_fail(err, "%s: train_size and test_size must be >= 0 and val_split in [0, 1)", name);
    goto fail;
  }
  char what[1400];
  snprintf(what, sizeof what, "test sets of %s", name);
  if (finish_sets(ds, opt, name, what, err) != 0) goto fail;
  return 0;
fail:
  gs_dataset_free(ds);
  return -1;
}
