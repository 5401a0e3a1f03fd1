/* The judge classifier: see include/gensweep/models/judge.h. */
#include "gensweep/models/judge.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include "gensweep/io/h5util.h"
#include "gensweep/nn/conv.h"
#include "gensweep/nn/ops.h"
#include "gensweep/nn/optim.h"
#include "gensweep/core/rng.h"
#include "gensweep/nn/tensor.h"

#define HID 128
#define JUDGE_VERSION 2 /* v1: constant step; v2: step x 0.75 per epoch */

struct gs_judge {
  int H, W, D, C;
  gs_params p;
  gs_tensor *c1w, *c1b, *c2w, *c2b, *f1w, *f1b, *f2w, *f2b;
  gs_graph g;
  double accuracy;
  int epochs;
  char key[1024]; /* cache path (or "" when not cached) */
};

static gs_judge *judge_new(int H, int W, int C) {
  gs_judge *j = gs_calloc(1, sizeof *j);
  j->H = H;
  j->W = W;
  j->D = H * W;
  j->C = C;
  int H2 = ((H + 1) / 2 + 1) / 2, W2 = ((W + 1) / 2 + 1) / 2; /* two 3x3/2 pad-1 convolutions */
  int f2 = 64 * H2 * W2;
  int s[8][4] = {{32, 1, 3, 3}, {32}, {64, 32, 3, 3}, {64}, {f2, HID}, {HID}, {HID, C}, {C}};
  int nd[8] = {4, 1, 4, 1, 2, 1, 2, 1};
  const char *nm[8] = {"conv1.w", "conv1.b", "conv2.w", "conv2.b", "fc1.w", "fc1.b", "fc2.w", "fc2.b"};
  for (int i = 0; i < 8; i++) gs_params_declare(&j->p, nm[i], nd[i], s[i]);
  gs_params_alloc(&j->p);
  gs_tensor **t[8] = {&j->c1w, &j->c1b, &j->c2w, &j->c2b, &j->f1w, &j->f1b, &j->f2w, &j->f2b};
  for (int i = 0; i < 8; i++) *t[i] = &j->p.t[i];
  gs_graph_init(&j->g, 16u << 20);
  return j;
}

void gs_judge_free(gs_judge *j) {
  if (!j) return;
  gs_params_free(&j->p);
  gs_graph_free(&j->g);
  free(j);
}

/* class logits of images x (b, D); *hidden (may be NULL): the penultimate layer (b, HID) */
static gs_tensor *logits_hidden(gs_judge *j, gs_tensor *x, gs_tensor **hidden) {
  gs_graph *g = &j->g;
  int s4[4] = {x->shape[0], 1, j->H, j->W};
  gs_tensor *h = gs_reshape(g, x, 4, s4);
  h = gs_relu(g, gs_conv2d(g, h, j->c1w, j->c1b, 2, 1));
  h = gs_relu(g, gs_conv2d(g, h, j->c2w, j->c2b, 2, 1));
  h = gs_relu(g, gs_dense(g, gs_flatten(g, h), j->f1w, j->f1b));
  if (hidden) *hidden = h;
  return gs_dense(g, h, j->f2w, j->f2b);
}

static gs_tensor *logits_of(gs_judge *j, gs_tensor *x) { return logits_hidden(j, x, NULL); }

double gs_judge_flops(int h, int w, int classes) {
  double H1 = (h + 1) / 2, W1 = (w + 1) / 2, H2 = ((h + 1) / 2 + 1) / 2, W2 = ((w + 1) / 2 + 1) / 2;
  double macs = 32.0 * 9 * H1 * W1 + 64.0 * 32 * 9 * H2 * W2 + 64.0 * H2 * W2 * HID + (double)HID * classes;
  return 2 * macs;
}

int gs_judge_feature_dim(const gs_judge *j) { return HID; }
int gs_judge_classes(const gs_judge *j) { return j->C; }

void gs_judge_features_u8(gs_judge *j, const uint8_t *pix, long n, float *feat, float *prob) {
  enum { CHUNK = 500 };
  float *x = gs_malloc(sizeof(float) * (size_t)j->D * CHUNK);
  for (long s = 0; s < n; s += CHUNK) {
    int b = n - s < CHUNK ? (int)(n - s) : CHUNK;
    for (long k = 0; k < (long)b * j->D; k++) x[k] = pix[s * j->D + k] * (1.0f / 255.0f);
    gs_graph_begin(&j->g, NULL, 0);
    gs_tensor *h;
    gs_tensor *l = logits_hidden(j, gs_wrap2(&j->g, x, b, j->D), &h);
    if (feat) memcpy(feat + s * HID, h->x, sizeof(float) * (size_t)b * HID);
    for (int i = 0; prob && i < b; i++) { /* softmax */
      const float *r = l->x + (long)i * j->C;
      float *o = prob + (s + i) * j->C, mx = r[0];
      for (int c = 1; c < j->C; c++) mx = r[c] > mx ? r[c] : mx;
      double z = 0;
      for (int c = 0; c < j->C; c++) z += exp((double)(r[c] - mx));
      for (int c = 0; c < j->C; c++) o[c] = (float)(exp((double)(r[c] - mx)) / z);
    }
  }
  free(x);
}

static void classify_float(gs_judge *j, const float *x, int n, int *out) {
  for (int s = 0; s < n; s += 500) {
    int b = n - s < 500 ? n - s : 500;
    gs_graph_begin(&j->g, NULL, 0);
    gs_tensor *l = logits_of(j, gs_wrap2(&j->g, (float *)x + (long)s * j->D, b, j->D));
    for (int i = 0; i < b; i++) {
      const float *r = l->x + (long)i * j->C;
      int best = 0;
      for (int c = 1; c < j->C; c++)
        if (r[c] > r[best]) best = c;
      out[s + i] = best;
    }
  }
}

void gs_judge_classify_u8(gs_judge *j, const uint8_t *pix, int n, int *labels) {
  float *x = gs_malloc(sizeof(float) * (size_t)j->D * 500);
  for (int s = 0; s < n; s += 500) {
    int b = n - s < 500 ? n - s : 500;
    for (long k = 0; k < (long)b * j->D; k++) x[k] = pix[(long)s * j->D + k] * (1.0f / 255.0f);
    classify_float(j, x, b, labels + s);
  }
  free(x);
}

double gs_judge_accuracy(const gs_judge *j) { return j->accuracy; }

static double test_accuracy(gs_judge *j, const gs_imageset *te) {
  int *lab = gs_malloc(sizeof(int) * (te->n ? te->n : 1));
  gs_judge_classify_u8(j, te->pix, (int)te->n, lab);
  long ok = 0;
  for (long i = 0; i < te->n; i++) ok += lab[i] == te->labels[i];
  free(lab);
  return te->n ? (double)ok / te->n : NAN;
}

gs_judge *gs_judge_train(const gs_dataset *ds, int epochs, uint64_t seed, gs_error *err) {
  const gs_imageset *tr = &ds->train;
  if (!tr->labels || tr->n_classes < 2) {
    gs_fail(err, "the judge needs a labelled training set with at least 2 classes");
    return NULL;
  }
  gs_judge *j = judge_new(tr->h, tr->w, tr->n_classes);
  j->epochs = epochs;
  gs_rng init, shuf;
  gs_rng_seed(&init, seed, 0, GS_RNG_INIT);
  gs_rng_seed(&shuf, seed, 0, GS_RNG_SHUFFLE);
  for (int i = 0; i < j->p.count; i++) { /* U(+-1/sqrt(fan_in)) */
    gs_tensor *t = &j->p.t[i];
    double fan = t->ndim == 4 ? t->shape[1] * 9.0 : (t->ndim == 2 ? t->shape[0] : j->p.t[i - 1].shape[0]);
    if (t->ndim == 1) fan = j->p.t[i - 1].ndim == 4 ? j->p.t[i - 1].shape[1] * 9.0 : j->p.t[i - 1].shape[0];
    float a = (float)(1.0 / sqrt(fan));
    for (long k = 0; k < t->n; k++) t->x[k] = (float)(2.0 * gs_rng_uniform(&init) - 1.0) * a;
  }
  gs_optim opt;
  gs_optim_init(&opt, GS_OPT_ADAM, j->p.total, 1e-3f);
  opt.beta1 = 0.9f;
  opt.beta2 = 0.999f;
  opt.eps = 1e-8f;
  const int B = 100;
  long nb = tr->n / B;
  int32_t *perm = gs_malloc(sizeof(int32_t) * tr->n);
  for (long i = 0; i < tr->n; i++) perm[i] = (int32_t)i;
  float *x = gs_aligned_alloc(sizeof(float) * B * j->D), *y = gs_aligned_alloc(sizeof(float) * B * j->C);
  for (int ep = 0; ep < epochs; ep++) {
    opt.lr = 1e-3f * powf(0.75f, (float)ep); /* a decaying step: the last epochs settle */
    gs_rng_shuffle(&shuf, perm, tr->n);
    for (long s = 0; s < nb; s++) {
      gs_poll();
      gs_imageset_batch(tr, perm + s * B, B, x, y);
      gs_graph *g = &j->g;
      gs_graph_begin(g, &j->p, 1);
      gs_tensor *loss = gs_sum(g, gs_softmax_ce(g, logits_of(j, gs_wrap2(g, x, B, j->D)), gs_wrap2(g, y, B, j->C)));
      gs_backward(g, loss, 1.0f / B);
      gs_optim_step(&opt, j->p.data, j->p.grad);
    }
  }
  free(x);
  free(y);
  free(perm);
  gs_optim_free(&opt);
  j->accuracy = test_accuracy(j, &ds->test);
  return j;
}

/* ------------------------------------------------------------------ cache file */
typedef struct save_ctx { const gs_judge *j; const char *data; } save_ctx;

static uint32_t params_crc(const gs_params *p) {
  return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)p->data, (uInt)(sizeof(float) * p->total));
}

static int fill_judge(hid_t f, const char *path, void *vctx, gs_error *err) {
  const save_ctx *c = vctx;
  const gs_judge *j = c->j;
  hid_t g = gs_h5_group_new(f, "params");
  if (g < 0) return gs_h5_fail(err, path, "creating /params");
  hsize_t n = (hsize_t)j->p.total;
  int rc = gs_h5_dataset_write(g, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &n, j->p.data, 0);
  H5Gclose(g);
  if (rc < 0) return gs_h5_fail(err, path, "writing /params/data");
  uint32_t crc = params_crc(&j->p);
  if (gs_h5_attr_str(f, "format", "gensweep judge") < 0 || gs_h5_attr_str(f, "data_set", c->data) < 0 ||
      gs_h5_attr_i64(f, "epochs", j->epochs) < 0 || gs_h5_attr_f64(f, "test_accuracy", j->accuracy) < 0 ||
      gs_h5_attr_i64(f, "classes", j->C) < 0 ||
      gs_h5_attr_write(f, "crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, &crc) < 0)
    return gs_h5_fail(err, path, "writing attributes");
  return 0;
}

static gs_judge *load_cache(const char *path, int H, int W, int C, gs_error *err) {
  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  gs_judge *j = NULL;
  hid_t f = gs_h5_open_readonly(path, err);
  if (f < 0) goto out;
  j = judge_new(H, W, C);
  hsize_t dims[1], np;
  hid_t d = gs_h5_dataset_open(f, "params/data", 1, dims, &np);
  int64_t ep = 0, cls = 0;
  uint32_t crc = 0;
  double acc = NAN;
  if (d < 0 || dims[0] != (hsize_t)j->p.total ||
      H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, j->p.data) < 0 ||
      gs_h5_attr_read_exact(f, "crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, &crc) < 0 ||
      gs_h5_attr_read_exact(f, "epochs", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &ep) < 0 ||
      gs_h5_attr_read_exact(f, "classes", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &cls) < 0 ||
      gs_h5_attr_read_f64(f, "test_accuracy", &acc) < 0 || cls != C || crc != params_crc(&j->p)) {
    gs_fail(err, "%s: not a complete judge for this data set (or corrupt)", path);
    gs_judge_free(j);
    j = NULL;
  } else {
    j->accuracy = acc;
    j->epochs = (int)ep;
  }
  if (d >= 0) H5Dclose(d);
  H5Fclose(f);
out:
  gs_h5_quiet_end(&q);
  return j;
}

static gs_judge *cached; /* this process's judge (one data set per process in practice) */

gs_judge *gs_judge_get(const gs_config *cfg, long epochs, const gs_dataset *ds, gs_error *err) {
  char dir[512], name[200], path[1024], lock[1100];
  if (gs_dataset_resolve(cfg->dataset, dir, sizeof dir, err) != 0) return NULL;
  /* cache name from the data set's directory: letters, digits, '-', '_' only */
  const char *base = strrchr(dir, '/');
  base = base && base[1] ? base + 1 : dir;
  size_t k = 0;
  for (const char *s = base; *s && k + 1 < 64; s++)
    name[k++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                               *s == '-' || *s == '_'
                           ? *s
                           : '_');
  name[k] = 0;
  uint64_t h = gs_hash64(dir, strlen(dir), 0x9e3779b97f4a7c15ULL);
  /* JUDGE_VERSION: bump when the architecture or the training schedule changes */
  snprintf(path, sizeof path, "%s/.judge/%s-%08x-%dx%d-c%d-e%ld-v%d.h5", cfg->results, name,
           (unsigned)(h & 0xffffffffu), ds->train.h, ds->train.w, ds->train.n_classes, epochs,
           JUDGE_VERSION);
  if (cached && strcmp(cached->key, path) == 0) return cached;
  snprintf(lock, sizeof lock, "%s/.judge", cfg->results);
  if (gs_mkdirs(lock, err) != 0) return NULL;
  snprintf(lock, sizeof lock, "%s.lock", path);
  int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    gs_fail(err, "%s: cannot open the judge's lock file: %s", lock, strerror(errno));
    return NULL;
  }
  /* another rank or job may be training it (minutes): wait without starving the coordinator */
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      gs_fail(err, "%s: cannot lock: %s", lock, strerror(errno));
      close(fd);
      return NULL;
    }
    gs_poll();
    usleep(20000);
  }
  gs_judge *j = NULL;
  gs_error lerr = {0};
  if (access(path, F_OK) == 0) {
    j = load_cache(path, ds->train.h, ds->train.w, ds->train.n_classes, &lerr);
    if (!j) fprintf(stderr, "gensweep: judge cache %s unusable (%s); training it again\n", path, lerr.msg);
  }
  if (!j) {
    /* the judge trains on the data set's whole training files, whatever subset a run uses */
    gs_dataset full;
    memset(&full, 0, sizeof full);
    gs_data_options o = {0, 0, 0.0, 1};
    if (gs_dataset_load(cfg->dataset, &o, &full, err) != 0) goto out;
    fprintf(stderr, "gensweep: training the judge classifier for %s (%ld images, %ld epochs; cached in %s)\n", dir,
            full.train.n, epochs, path);
    double t0 = gs_now();
    j = gs_judge_train(&full, (int)epochs, 20260101, err);
    gs_dataset_free(&full);
    if (!j) goto out;
    fprintf(stderr, "gensweep: judge trained in %.1f s, test accuracy %.2f%%\n", gs_now() - t0, 100 * j->accuracy);
    save_ctx sc = {j, dir};
    gs_error werr = {0};
    if (gs_h5_write_atomic(path, fill_judge, &sc, &werr) != 0)
      fprintf(stderr, "gensweep: could not cache the judge: %s\n", werr.msg);
  }
  GS_STRCPY(j->key, path);
  if (cached) gs_judge_free(cached);
  cached = j;
out:
  flock(fd, LOCK_UN);
  close(fd);
  return j;
}
