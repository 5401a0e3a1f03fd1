/* VAE and conditional VAE (SCIENCE.md §5; Kingma & Welling).
 *
 *   encoder  q(z|x[,y]):  [x (784) | y (10)] -> dense h1 -> ReLU -> dense h2 -> ReLU -> mu (z), logvar (z)
 *   sample   z = mu + exp(logvar/2) * eps,  eps ~ N(0, I)
 *   decoder  p(x|z[,y]):  [z | y] -> dense h2 -> ReLU -> dense h1 -> ReLU -> dense 784 -> Bernoulli logits
 *   loss     negative ELBO per image = -log p(x|z) + KL(q(z|x) || N(0, I))   (nats, summed over pixels)
 * Xavier (Glorot uniform) weights, zero biases; prior N(0, I). The CVAE gives the one-hot label to
 * both encoder and decoder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/models/model.h"
#include "gensweep/models/sample_quality.h"
#include "gensweep/nn/ops.h"
#include "gensweep/nn/optim.h"
#include "gensweep/io/png.h"

#define LOG2PI 1.8378770664093453

/* ------------------------------------------------------------------ keys */

typedef struct vae_settings {
  long latent_dim;
  long hidden1, hidden2;   /* MLP widths: 784-h1-h2-z */
  long iw_samples;         /* k of the importance-weighted log-likelihood estimate; 0 = skip */
  long iw_test_size;       /* test images used for the IW estimate; 0 = all */
  long n_samples;          /* prior samples drawn for the PNG grid / run file */
  long n_recon;            /* test images reconstructed for the PNG / run file */
  long manifold_n;         /* 2-D latents: manifold grid is manifold_n x manifold_n */
  long manifold_class;     /* conditional models: label used for the manifold */
  gs_quality_settings quality; /* sample quality of prior samples: eval.judge, ... */
} vae_settings;

/* in_every_hash: these keys were part of every run's hash before models owned their keys */
#define KEY_INT(sec, nm, f, lo, hi, d, h) GS_KEY_INT(vae_settings, sec, nm, f, lo, hi, d, h)
#define KEY_INT_EVERY(sec, nm, f, lo, hi, d, h) \
  { .section = sec, .name = nm, .type = GS_KEY_INT, GS_KEY_FIELD(vae_settings, f), .min = lo, .max = hi, \
    .def = d, .help = h, .in_every_hash = 1 }
static const gs_key vae_keys[] = {
    KEY_INT("model", "latent_dim", latent_dim, 1, 4096, "25", "dimension of the latent code z"),
    KEY_INT_EVERY("model", "hidden1", hidden1, 1, 65536, "512", "width of the first hidden layer (784-h1-h2-z MLP)"),
    KEY_INT_EVERY("model", "hidden2", hidden2, 1, 65536, "256", "width of the second hidden layer"),
    KEY_INT_EVERY("eval", "iw_samples", iw_samples, 0, 100000, "100",
                  "k of the importance-weighted log-likelihood estimate (0 = skip it)"),
    KEY_INT_EVERY("eval", "iw_test_size", iw_test_size, 0, 100000000, "0",
                  "test images used for the importance-weighted estimate (0 = all)"),
    KEY_INT_EVERY("eval", "n_samples", n_samples, 0, 10000, "64", "images sampled from the prior for the run file / PNG"),
    KEY_INT_EVERY("eval", "n_recon", n_recon, 0, 10000, "16", "test images reconstructed for the run file / PNG"),
    KEY_INT_EVERY("eval", "manifold_n", manifold_n, 0, 100, "20",
                  "2-D latents only: the latent manifold image is manifold_n x manifold_n (0 = none)"),
    KEY_INT_EVERY("eval", "manifold_class", manifold_class, 0, 255, "0",
                  "conditional models: the label the latent manifold is decoded with"),
    /* read since the VAEs measure sample quality: at their defaults, not in the hash */
    GS_JUDGE_KEYS(vae_settings, 1),
    GS_QUALITY_KEYS(vae_settings, 1),
};
#define NKEYS ((int)(sizeof vae_keys / sizeof vae_keys[0]))

static int validate(const gs_config *c, gs_error *err) {
  vae_settings s;
  gs_config_read(c, vae_keys, NKEYS, &s);
  if (c->test_size > 0 && s.iw_test_size > c->test_size)
    return gs_fail(err, "eval.iw_test_size = %ld is larger than data.test_size = %ld", s.iw_test_size, c->test_size);
  return 0;
}

/* ------------------------------------------------------------------ graph */

struct gs_model {
  int cond;          /* 0: VAE, 10 (classes): CVAE */
  int D, H1, H2, Z;  /* 784, 512, 256, latent */
  gs_params p;
  gs_tensor *e1w, *e1b, *e2w, *e2b, *muw, *mub, *lvw, *lvb;
  gs_tensor *d1w, *d1b, *d2w, *d2b, *d3w, *d3b;
  gs_graph g;
  float *xbuf, *ybuf, *ebuf;   /* batch inputs, one-hot labels, noise (global batch) */
  int bufrows;
  const gs_config *cfg;
  vae_settings s;
};

static void declare(gs_model *m, const char *name, int rows, int cols) {
  int s[2] = {rows, cols};
  if (rows) gs_params_declare(&m->p, name, 2, s);
  else gs_params_declare(&m->p, name, 1, &s[1]);
}

static gs_model *create(const gs_config *cfg, const gs_dataset *ds, gs_rng *init, int cond, gs_error *err) {
  if (cond && ds->train.n_classes < 2) {
    gs_fail(err, "cvae needs labels with at least 2 classes (data set has %d)", ds->train.n_classes);
    return NULL;
  }
  gs_model *m = gs_calloc(1, sizeof *m);
  m->cfg = cfg;
  gs_config_read(cfg, vae_keys, NKEYS, &m->s);
  m->cond = cond ? ds->train.n_classes : 0;
  m->D = (int)ds->train.dim;
  m->H1 = (int)m->s.hidden1;
  m->H2 = (int)m->s.hidden2;
  m->Z = (int)m->s.latent_dim;
  int C = m->cond;
  /* every parameter, in block order: where the model keeps it and its shape (a bias: 0 rows);
   * weights Xavier-uniform over (rows, cols), biases zero */
  const struct {
    gs_tensor **t;
    const char *name;
    int rows, cols;
  } layout[] = {
      {&m->e1w, "enc1.w", m->D + C, m->H1}, {&m->e1b, "enc1.b", 0, m->H1},
      {&m->e2w, "enc2.w", m->H1, m->H2},    {&m->e2b, "enc2.b", 0, m->H2},
      {&m->muw, "enc_mu.w", m->H2, m->Z},   {&m->mub, "enc_mu.b", 0, m->Z},
      {&m->lvw, "enc_logvar.w", m->H2, m->Z}, {&m->lvb, "enc_logvar.b", 0, m->Z},
      {&m->d1w, "dec1.w", m->Z + C, m->H2}, {&m->d1b, "dec1.b", 0, m->H2},
      {&m->d2w, "dec2.w", m->H2, m->H1},    {&m->d2b, "dec2.b", 0, m->H1},
      {&m->d3w, "dec3.w", m->H1, m->D},     {&m->d3b, "dec3.b", 0, m->D},
  };
  const int nlayout = (int)(sizeof layout / sizeof layout[0]);
  for (int i = 0; i < nlayout; i++) declare(m, layout[i].name, layout[i].rows, layout[i].cols);
  gs_params_alloc(&m->p);
  for (int i = 0; i < nlayout; i++) {
    gs_tensor *t = *layout[i].t = &m->p.t[i];
    if (layout[i].rows) gs_init_xavier_uniform(t, t->shape[0], t->shape[1], init);
    else gs_init_constant(t, 0.0f);
  }
  gs_graph_init(&m->g, 8u << 20);
  return m;
}

static gs_model *create_vae(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) { return create(c, d, r, 0, e); }
static gs_model *create_cvae(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) { return create(c, d, r, 1, e); }

static gs_params *params(gs_model *m) { return &m->p; }

static void ensure_buffers(gs_model *m, int rows) {
  if (rows <= m->bufrows) return;
  free(m->xbuf);
  free(m->ybuf);
  free(m->ebuf);
  m->xbuf = gs_aligned_alloc(sizeof(float) * rows * m->D);
  m->ybuf = gs_aligned_alloc(sizeof(float) * rows * (m->cond ? m->cond : 1));
  m->ebuf = gs_aligned_alloc(sizeof(float) * rows * m->Z);
  m->bufrows = rows;
}

/* ------------------------------------------------------------------ graph pieces */
/* q(z|x,y): mu, logvar (b, Z) */
static void encode(gs_model *m, gs_tensor *x, gs_tensor *y, gs_tensor **mu, gs_tensor **lv) {
  gs_graph *g = &m->g;
  gs_tensor *in = m->cond ? gs_concat(g, x, y) : x;           /* (b, D+C) */
  gs_tensor *h = gs_relu(g, gs_dense(g, in, m->e1w, m->e1b));  /* (b, H1) */
  h = gs_relu(g, gs_dense(g, h, m->e2w, m->e2b));              /* (b, H2) */
  *mu = gs_dense(g, h, m->muw, m->mub);                        /* (b, Z) */
  *lv = gs_dense(g, h, m->lvw, m->lvb);                        /* (b, Z) */
}

/* p(x|z,y): Bernoulli logits (b, D) */
static gs_tensor *decode(gs_model *m, gs_tensor *z, gs_tensor *y) {
  gs_graph *g = &m->g;
  gs_tensor *in = m->cond ? gs_concat(g, z, y) : z;            /* (b, Z+C) */
  gs_tensor *h = gs_relu(g, gs_dense(g, in, m->d1w, m->d1b));  /* (b, H2) */
  h = gs_relu(g, gs_dense(g, h, m->d2w, m->d2b));              /* (b, H1) */
  return gs_dense(g, h, m->d3w, m->d3b);                       /* (b, D) */
}

/* ------------------------------------------------------------------ features */
/* The posterior mean mu of q(z|x[,y]) of each example (the CVAE's encoder sees the label). */
static int feature_dim(gs_model *m) { return m->Z; }
static void features(gs_model *m, const gs_imageset *set, const int32_t *idx, int n, float *out) {
  enum { CHUNK = 1000 };
  ensure_buffers(m, CHUNK);
  for (int start = 0; start < n; start += CHUNK) {
    int b = n - start < CHUNK ? n - start : CHUNK;
    gs_imageset_batch(set, idx + start, b, m->xbuf, m->cond ? m->ybuf : NULL);
    gs_graph *g = &m->g;
    gs_graph_begin(g, NULL, 0);
    gs_tensor *mu, *lv;
    encode(m, gs_wrap2(g, m->xbuf, b, m->D), m->cond ? gs_wrap2(g, m->ybuf, b, m->cond) : NULL, &mu, &lv);
    memcpy(out + (long)start * m->Z, mu->x, sizeof(float) * (size_t)b * m->Z);
  }
}

/* The contract's features_read_label: the CVAE's encoder is given each example's class. */
static const char *features_read_label(gs_model *m) {
  return m->cond ? "a CVAE's encoder takes each image's class as an input, so a classifier on its posterior mean "
                   "would be given the label"
                 : NULL;
}

/* ------------------------------------------------------------------ training step */
static double train_step(gs_model *m, const gs_batch *batch, int phase, gs_rng *noise, gs_losses *losses) {
  const gs_imageset *set = batch->set;
  const int32_t *idx = batch->idx;
  int B = batch->B, lo = batch->lo, hi = batch->hi;
  int b = hi - lo;
  ensure_buffers(m, B);
  gs_rng_normal_fill(noise, m->ebuf, (long)B * m->Z); /* the whole batch's noise, on every rank */
  gs_imageset_batch(set, idx + lo, b, m->xbuf, m->cond ? m->ybuf : NULL);
  gs_graph *g = &m->g;
  gs_graph_begin(g, &m->p, 1);
  gs_tensor *x = gs_wrap2(g, m->xbuf, b, m->D);
  gs_tensor *y = m->cond ? gs_wrap2(g, m->ybuf, b, m->cond) : NULL;
  gs_tensor *mu, *lv;
  encode(m, x, y, &mu, &lv);
  gs_tensor *z = gs_gauss_sample_eps(g, mu, lv, m->ebuf + (long)lo * m->Z);
  gs_tensor *logits = decode(m, z, y);
  gs_tensor *loss = gs_sum(g, gs_add(g, gs_bernoulli_nll(g, logits, x), gs_kl_std_normal(g, mu, lv)));
  gs_backward(g, loss, 1.0f / (float)B);
  return loss->x[0];
}

/* ------------------------------------------------------------------ evaluation */
typedef struct { double total, rec, kl; long n; } elbo_sum;

/* single-sample negative ELBO over a whole image set, in chunks, noise from rng */
static elbo_sum neg_elbo(gs_model *m, const gs_imageset *set, gs_rng *rng) {
  elbo_sum s = {0};
  const int chunk = 1000;
  ensure_buffers(m, chunk);
  int32_t *idx = gs_malloc(sizeof(int32_t) * chunk);
  for (long start = 0; start < set->n; start += chunk) {
    gs_poll();
    int b = (int)(set->n - start < chunk ? set->n - start : chunk);
    for (int i = 0; i < b; i++) idx[i] = (int32_t)(start + i);
    gs_imageset_batch(set, idx, b, m->xbuf, m->cond ? m->ybuf : NULL);
    gs_graph *g = &m->g;
    gs_graph_begin(g, NULL, 0);
    gs_tensor *x = gs_wrap2(g, m->xbuf, b, m->D);
    gs_tensor *y = m->cond ? gs_wrap2(g, m->ybuf, b, m->cond) : NULL;
    gs_tensor *mu, *lv;
    encode(m, x, y, &mu, &lv);
    gs_tensor *z = gs_gauss_sample(g, mu, lv, rng);
    gs_tensor *rec = gs_bernoulli_nll(g, decode(m, z, y), x);
    gs_tensor *kl = gs_kl_std_normal(g, mu, lv);
    for (int i = 0; i < b; i++) {
      s.rec += rec->x[i];
      s.kl += kl->x[i];
    }
    s.n += b;
  }
  free(idx);
  s.total = s.rec + s.kl;
  return s;
}

/* Importance-weighted estimate of -log p(x) (Burda et al.) with k samples from q(z|x):
 *   log p(x) ~= logsumexp_s [log p(x|z_s) + log p(z_s) - log q(z_s|x)] - log k.
 * Returns the mean over the first n images of set. */
static double iw_nll(gs_model *m, const gs_imageset *set, long n, int k, gs_rng *rng) {
  int b = 2048 / k;
  if (b < 1) b = 1;
  int rows = b * k;
  ensure_buffers(m, rows > b ? rows : b);
  float *xr = gs_aligned_alloc(sizeof(float) * rows * m->D);
  float *yr = m->cond ? gs_aligned_alloc(sizeof(float) * rows * m->cond) : NULL;
  float *zr = gs_aligned_alloc(sizeof(float) * rows * m->Z);
  double *logw = gs_malloc(sizeof(double) * rows);
  int32_t *idx = gs_malloc(sizeof(int32_t) * b);
  double total = 0.0;
  for (long start = 0; start < n; start += b) {
    gs_poll();
    int nb = (int)(n - start < b ? n - start : b);
    for (int i = 0; i < nb; i++) idx[i] = (int32_t)(start + i);
    gs_imageset_batch(set, idx, nb, m->xbuf, m->cond ? m->ybuf : NULL);
    gs_graph *g = &m->g;
    gs_graph_begin(g, NULL, 0);
    gs_tensor *mu, *lv;
    encode(m, gs_wrap2(g, m->xbuf, nb, m->D), m->cond ? gs_wrap2(g, m->ybuf, nb, m->cond) : NULL, &mu, &lv);
    /* replicate: row i*k+s is image i, sample s */
    for (int i = 0; i < nb; i++)
      for (int s = 0; s < k; s++) {
        long r = (long)i * k + s;
        memcpy(xr + r * m->D, m->xbuf + (long)i * m->D, sizeof(float) * m->D);
        if (m->cond) memcpy(yr + r * m->cond, m->ybuf + (long)i * m->cond, sizeof(float) * m->cond);
        double lq = 0.0, lp = 0.0;
        for (int j = 0; j < m->Z; j++) {
          float e = gs_rng_normal(rng);
          float mv = mu->x[(long)i * m->Z + j], l = lv->x[(long)i * m->Z + j];
          float zz = mv + expf(0.5f * l) * e;
          zr[r * m->Z + j] = zz;
          lq += -0.5 * ((double)e * e + l + LOG2PI);
          lp += -0.5 * ((double)zz * zz + LOG2PI);
        }
        logw[r] = lp - lq;
      }
    int nr = nb * k;
    gs_tensor *logits = decode(m, gs_wrap2(g, zr, nr, m->Z), m->cond ? gs_wrap2(g, yr, nr, m->cond) : NULL);
    gs_tensor *nll = gs_bernoulli_nll(g, logits, gs_wrap2(g, xr, nr, m->D));
    for (int i = 0; i < nb; i++) {
      double mx = -INFINITY;
      for (int s = 0; s < k; s++) {
        long r = (long)i * k + s;
        logw[r] -= nll->x[r];
        if (logw[r] > mx) mx = logw[r];
      }
      double se = 0.0;
      for (int s = 0; s < k; s++) se += exp(logw[(long)i * k + s] - mx);
      total += -(mx + log(se) - log((double)k));
    }
  }
  free(xr);
  free(yr);
  free(zr);
  free(logw);
  free(idx);
  return total / (double)n;
}

/* decode z (rows x Z, labels optional) to mean images in [0,1] -> uint8 */
static void decode_images(gs_model *m, const float *z, const float *y, int rows, uint8_t *out) {
  gs_graph *g = &m->g;
  gs_graph_begin(g, NULL, 0);
  gs_tensor *zt = gs_wrap2(g, (float *)z, rows, m->Z);
  gs_tensor *yt = m->cond ? gs_wrap2(g, (float *)y, rows, m->cond) : NULL;
  gs_tensor *img = gs_sigmoid(g, decode(m, zt, yt));
  gs_to_u8(img->x, out, (long)rows * m->D);
}

/* the contract's generate: z ~ N(0, I) from rng, decoded to mean images; the CVAE's classes in turn */
static int generate_hook(gs_model *m, long n, gs_rng *rng, uint8_t *out, int *cls) {
  enum { CHUNK = 1000 };
  int C = m->cond;
  float *z = gs_malloc(sizeof(float) * CHUNK * m->Z), *y = C ? gs_malloc(sizeof(float) * CHUNK * C) : NULL;
  for (long start = 0; start < n; start += CHUNK) {
    int b = n - start < CHUNK ? (int)(n - start) : CHUNK;
    gs_rng_normal_fill(rng, z, (long)b * m->Z);
    if (C) {
      memset(y, 0, sizeof(float) * CHUNK * C);
      for (int i = 0; i < b; i++) {
        cls[start + i] = (int)((start + i) % C);
        y[(long)i * C + cls[start + i]] = 1.0f;
      }
    }
    decode_images(m, z, y, b, out + start * m->D);
  }
  free(z);
  free(y);
  return C > 0;
}

/* Inverse standard normal CDF by bisection on erfc (only used for a few grid points). */
static double probit(double p) {
  double lo = -10, hi = 10;
  for (int it = 0; it < 100; it++) {
    double mid = 0.5 * (lo + hi);
    if (0.5 * erfc(-mid / M_SQRT2) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

static void sample_images(gs_model *m, const gs_dataset *ds, gs_record *rec) {
  const gs_config *c = m->cfg;
  int h = ds->train.h, w = ds->train.w, D = m->D, Z = m->Z;
  gs_rng rng;
  gs_rng_seed(&rng, (uint64_t)c->seed, 0, GS_RNG_SAMPLE);
  /* prior samples: VAE n_samples; CVAE one row per class, n_samples/classes... at least 8 per row */
  int C = m->cond;
  int per = C ? (int)(m->s.n_samples / C > 0 ? m->s.n_samples / C : 1) : 0;
  int n = C ? per * C : (int)m->s.n_samples;
  if (n > 0) {
    float *z = gs_malloc(sizeof(float) * n * Z), *y = C ? gs_calloc((size_t)n * C, sizeof(float)) : NULL;
    gs_rng_normal_fill(&rng, z, (long)n * Z);
    if (C)
      for (int i = 0; i < n; i++) y[(long)i * C + i / per] = 1.0f; /* row i/per = class */
    uint8_t *pix = gs_malloc((size_t)n * D);
    decode_images(m, z, y, n, pix);
    gs_record_image_grid(rec, "prior", n, h, w, pix, C ? per : (int)ceil(sqrt((double)n)));
    free(pix);
    free(z);
    free(y);
  }
  /* reconstructions: first n_recon test images (row 1) and their reconstructions from z = mu (row 2) */
  int nr = (int)(m->s.n_recon < ds->test.n ? m->s.n_recon : ds->test.n);
  if (nr > 0) {
    ensure_buffers(m, nr);
    int32_t *idx = gs_malloc(sizeof(int32_t) * nr);
    for (int i = 0; i < nr; i++) idx[i] = i;
    gs_imageset_batch(&ds->test, idx, nr, m->xbuf, C ? m->ybuf : NULL);
    gs_graph *g = &m->g;
    gs_graph_begin(g, NULL, 0);
    gs_tensor *mu, *lv;
    encode(m, gs_wrap2(g, m->xbuf, nr, D), C ? gs_wrap2(g, m->ybuf, nr, C) : NULL, &mu, &lv);
    float *zc = gs_malloc(sizeof(float) * nr * Z);
    memcpy(zc, mu->x, sizeof(float) * nr * Z);
    uint8_t *pix = gs_malloc((size_t)2 * nr * D);
    gs_to_u8(m->xbuf, pix, (long)nr * D);
    decode_images(m, zc, m->ybuf, nr, pix + (size_t)nr * D);
    gs_record_image_grid(rec, "recon", 2 * nr, h, w, pix, nr);
    free(pix);
    free(zc);
    free(idx);
  }
  /* 2-D latent space: decode a grid of z = (probit(u), probit(v)); the CVAE with the label
   * eval.manifold_class */
  int gn = (int)m->s.manifold_n;
  if (Z == 2 && gn > 0 && (!C || m->s.manifold_class < C)) {
    float *z = gs_malloc(sizeof(float) * gn * gn * 2);
    for (int i = 0; i < gn; i++)
      for (int j = 0; j < gn; j++) {
        z[((long)i * gn + j) * 2 + 0] = (float)probit((j + 0.5) / gn);
        z[((long)i * gn + j) * 2 + 1] = (float)probit(1.0 - (i + 0.5) / gn);
      }
    float *y = C ? gs_calloc((size_t)gn * gn * C, sizeof(float)) : NULL;
    for (int i = 0; C && i < gn * gn; i++) y[(long)i * C + m->s.manifold_class] = 1.0f;
    uint8_t *pix = gs_malloc((size_t)gn * gn * D);
    decode_images(m, z, y, gn * gn, pix);
    free(y);
    gs_record_image_grid(rec, "manifold", gn * gn, h, w, pix, gn);
    free(pix);
    free(z);
  }
}

extern const gs_model_def gs_model_vae, gs_model_cvae;

static int evaluate(gs_model *m, const gs_dataset *ds, const gs_when *when, gs_record *rec, gs_error *err) {
  int epoch = when->epoch, final = when->final;
  const gs_config *c = m->cfg;
  gs_rng rng;
  /* the same evaluation noise every epoch: curves compare the model, not the noise */
  gs_rng_seed(&rng, (uint64_t)c->seed, 0, GS_RNG_EVAL);
  elbo_sum te = neg_elbo(m, &ds->test, &rng);
  gs_record_push(rec, "test_neg_elbo", te.total / te.n);
  gs_record_push(rec, "test_rec", te.rec / te.n);
  gs_record_push(rec, "test_kl", te.kl / te.n);
  double val = NAN;
  if (ds->val.n > 0) {
    elbo_sum va = neg_elbo(m, &ds->val, &rng);
    val = va.total / va.n;
    gs_record_push(rec, "val_neg_elbo", val);
  }
  if (!isfinite(te.total)) return gs_fail(err, "test negative ELBO is not finite at epoch %d", epoch);
  if (gs_sample_quality_evaluate(m->cond ? &gs_model_cvae : &gs_model_vae, m, c, ds, &m->s.quality, final, rec,
                                 err) != 0)
    return -1;
  if (!final) return 0;
  gs_record_scalar(rec, "test_neg_elbo", te.total / te.n);
  gs_record_scalar(rec, "test_rec", te.rec / te.n);
  gs_record_scalar(rec, "test_kl", te.kl / te.n);
  if (ds->val.n > 0) gs_record_scalar(rec, "val_neg_elbo", val);
  if (m->s.iw_samples > 0) {
    long n = m->s.iw_test_size > 0 && m->s.iw_test_size < ds->test.n ? m->s.iw_test_size : ds->test.n;
    gs_rng_seed(&rng, (uint64_t)c->seed, 1, GS_RNG_EVAL);
    double t0 = gs_now();
    double nll = iw_nll(m, &ds->test, n, (int)m->s.iw_samples, &rng);
    gs_record_scalar(rec, "test_iw_nll", nll);
    gs_record_scalar(rec, "iw_seconds", gs_now() - t0);
  }
  sample_images(m, ds, rec);
  return 0;
}

/* Multiply-adds of the dense layers per image, x3 for forward + backward; the one-hot input (10
 * classes) counted for the VAE too, so that a VAE and a CVAE of one size weigh the same. */
static double cost(const gs_config *c, const gs_data_sizes *d) {
  vae_settings s;
  gs_config_read(c, vae_keys, NKEYS, &s);
  double per_img = 2.0 * (((double)d->dim + 10) * s.hidden1 + (double)s.hidden1 * s.hidden2 + 2.0 * s.hidden2 * s.latent_dim) * 3;
  double n = c->train_size > 0 ? c->train_size : d->train;
  long every = c->eval_every > 0 ? c->eval_every : 1; /* after every `every` epochs and after the last */
  double evaluations = (double)(c->epochs / every + (c->epochs % every != 0));
  return per_img * n * c->epochs + 2.0 * per_img / 3 * d->test * (s.iw_samples > 0 ? s.iw_samples / 2.0 : 0) +
         gs_sample_quality_cost(&s.quality, d, evaluations);
}

static void destroy(gs_model *m) {
  if (!m) return;
  gs_params_free(&m->p);
  gs_graph_free(&m->g);
  free(m->xbuf);
  free(m->ybuf);
  free(m->ebuf);
  free(m);
}

static const gs_metric_label done_metrics[] = {{"test_neg_elbo", "test -ELBO"}, {"test_iw_nll", "IW NLL"}, {NULL, NULL}};

const gs_model_def gs_model_vae = {
    .name = "vae", .description = "variational autoencoder, MLP encoder/decoder, Bernoulli likelihood",
    .keys = vae_keys, .nkeys = NKEYS, .validate = validate, .headline = "test_neg_elbo", .done_metrics = done_metrics,
    .data = {.kind = GS_SAMPLES_IMAGES},
    .cost = cost, .create = create_vae, .params = params, .train_step = train_step, .evaluate = evaluate,
    .feature_dim = feature_dim, .features = features, .generate = generate_hook,
    .destroy = destroy};
const gs_model_def gs_model_cvae = {
    .name = "cvae", .description = "conditional VAE: the label is given to encoder and decoder",
    .about = "conditioned on the class label",
    .keys = vae_keys, .nkeys = NKEYS, .validate = validate, .headline = "test_neg_elbo", .done_metrics = done_metrics,
    .data = {.kind = GS_SAMPLES_IMAGES, .labels = 1},
    .cost = cost, .create = create_cvae, .params = params, .train_step = train_step, .evaluate = evaluate,
    .feature_dim = feature_dim, .features = features, .features_read_label = features_read_label,
    .generate = generate_hook,
    .destroy = destroy};
