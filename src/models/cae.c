/* Convolutional autoencoder and the CAE + IGMN pipeline (SCIENCE.md §1, IGMN.md).
 *
 *   encoder  x (1x28x28) -> conv 3x3/2 (conv1 ch, 28->14) -> ReLU -> conv 3x3/2 (conv2 ch, 14->7)
 *            -> ReLU -> flatten -> dense -> z (latent_dim, linear)
 *   decoder  z -> dense (conv2*7*7) -> ReLU -> deconv 3x3/2 (conv1 ch, 7->14) -> ReLU
 *            -> deconv 3x3/2 (1 ch, 14->28) -> Bernoulli logits
 *   loss     BCE summed over the pixels, per image (Adam in the write-up)
 * Weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the PyTorch reference's default).
 *
 * cae_igmn, one run, stages by epoch:
 *   1 .. train.epochs                    train the CAE (loss BCE)
 *   after epoch train.epochs ("pass")    encode the training set, sigmasq, one IGMN pass,
 *                                        finalisation (young sporadic components, umbrellas,
 *                                        one refresh), per-component generation grid and judge
 *   train.epochs+1 .. + retrain_epochs   retrain with loss = BCE - mu * sum_batch p(z), the
 *                                        mixture held fixed during the epoch (IGMN.md §6.4) and
 *                                        refreshed after it without new components (§6.1)
 *   after the last epoch ("final")       the same measurements again
 * Sample quality (models/sample_quality.h) of images decoded from the live mixture (a component
 * drawn by its support sp, z from its Gaussian): after the pass and after every retraining epoch,
 * as series (NaN in the epochs before the pass) and final scalars.
 * Every epoch records test BCE and sigmasq of the encoded training set. What a stage found is kept
 * in the model's state (checkpointed) and written to the run file at the end:
 *   /igmn/<stage>/means [K,D], covariances [K,D,D], priors, sp, v [K]; per row of the generation
 *   grid (components by decreasing support, at most 64): grid_component, judge_share, judge_class
 *   /final/igmn_<stage>_{K,created,removed,nonpd,umbrellas,purity,ari,loglik,seconds,judge_share}
 *   /samples/components_<stage>: one row per component, igmn.samples decoded samples per row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/nn/conv.h"
#include "gensweep/cluster/igmn.h"
#include "gensweep/models/judge.h"
#include "gensweep/models/model.h"
#include "gensweep/models/sample_quality.h"
#include "gensweep/nn/ops.h"
#include "gensweep/nn/optim.h"
#include "gensweep/io/png.h"

#define MAX_GRID_K 64     /* components shown in a generation grid (the largest priors) */

/* ------------------------------------------------------------------ keys */

typedef struct cae_settings {
  long latent_dim;
  long conv1, conv2;       /* channels of the two stride-2 convolutions */
  long n_recon;            /* test images reconstructed for the PNG / run file */
  /* cae_igmn */
  gs_quality_settings quality; /* eval.judge (also the components' judge_share), judge_epochs, ... */
  double igmn_c, igmn_beta, igmn_v_min, igmn_sp_min; /* IGMN.md */
  char igmn_cov_update[8]; /* exact | paper */
  double igmn_umbrella_tau, igmn_umbrella_kappa;
  double igmn_mu;          /* weight of the mixture-density regulariser during retraining */
  long igmn_retrain_epochs;
  char igmn_refresh[8];    /* full | means | none: the mixture refresh after each retraining epoch */
  double igmn_collapse;    /* retraining collapsed when sigmasq < collapse * sigmasq before it */
  long igmn_samples;       /* decoded samples per component in the generation grid */
} cae_settings;

#define KEY_INT(sec, nm, f, lo, hi, d, h) GS_KEY_INT(cae_settings, sec, nm, f, lo, hi, d, h)
#define KEY_FLOAT(sec, nm, f, lo, lo_open, hi, hi_open, d, h) \
  GS_KEY_FLOAT(cae_settings, sec, nm, f, lo, lo_open, hi, hi_open, d, h)
#define KEY_ENUM(sec, nm, f, ch, d, h) GS_KEY_ENUM(cae_settings, sec, nm, f, ch, d, h)
/* eval.n_recon is declared by the VAE too, and was part of every run's hash: so it stays */
#define CAE_KEYS                                                                                            \
  KEY_INT("model", "latent_dim", latent_dim, 1, 4096, "25", "dimension of the latent code z"),             \
  KEY_INT("model", "conv1", conv1, 1, 1024, "32", "CAE: channels of the first stride-2 3x3 convolution (28->14)"), \
  KEY_INT("model", "conv2", conv2, 1, 1024, "64", "CAE: channels of the second stride-2 3x3 convolution (14->7)"), \
  {.section = "eval", .name = "n_recon", .type = GS_KEY_INT, GS_KEY_FIELD(cae_settings, n_recon), .min = 0,   \
   .max = 10000, .def = "16", .help = "test images reconstructed for the run file / PNG", .in_every_hash = 1}

static const gs_key cae_keys[] = {CAE_KEYS};
static const gs_key cae_igmn_keys[] = {
    CAE_KEYS,
    GS_JUDGE_KEYS(cae_settings, 0),
    GS_QUALITY_KEYS(cae_settings, 1),
    KEY_FLOAT("igmn", "c", igmn_c, 0, 1, 1e6, 0, "0.2",
              "initial covariance of a new component: c * sigmasq / D * I (IGMN.md 2.1)"),
    KEY_FLOAT("igmn", "beta", igmn_beta, 0, 1, 1, 1, "0.001",
              "novelty level: a point creates a component when its Mahalanobis distance to every component "
              "exceeds the chi-squared quantile at 1 - beta"),
    KEY_FLOAT("igmn", "v_min", igmn_v_min, 1, 0, 1e12, 0, "2400", "age at which a component is judged"),
    KEY_FLOAT("igmn", "sp_min", igmn_sp_min, 0, 1, 1e12, 0, "50",
              "minimum accumulated posterior of a component at age v_min"),
    KEY_ENUM("igmn", "cov_update", igmn_cov_update, "exact|paper", "exact",
             "covariance update: exact (always positive definite) or paper (with the counted fallback)"),
    KEY_FLOAT("igmn", "umbrella_tau", igmn_umbrella_tau, 0, 1, 1e6, 0, "1",
              "umbrella rule: squared Mahalanobis distance of the means (IGMN.md 4.2)"),
    KEY_FLOAT("igmn", "umbrella_kappa", igmn_umbrella_kappa, 1, 0, 1e6, 0, "2",
              "umbrella rule: minimum ratio of the covariance scales"),
    KEY_FLOAT("igmn", "mu", igmn_mu, 0, 0, 1e12, 0, "1e-6",
              "retraining loss = BCE - mu * sum over the batch of the mixture density p(z)"),
    KEY_INT("igmn", "retrain_epochs", igmn_retrain_epochs, 0, 100000, "3",
            "epochs of mixture-regularised retraining after the IGMN stage"),
    KEY_ENUM("igmn", "refresh", igmn_refresh, "full|means|none", "full",
             "after each retraining epoch: one EM refresh of the mixture (full), of means and priors only "
             "(means), or none"),
    KEY_FLOAT("igmn", "collapse", igmn_collapse, 0, 0, 1, 0, "0.5",
              "retraining is marked collapsed when sigmasq falls below this fraction of its value before"),
    KEY_INT("igmn", "samples", igmn_samples, 1, 64, "8", "decoded samples per component in the generation grid"),
};
#define NKEYS_CAE ((int)(sizeof cae_keys / sizeof cae_keys[0]))
#define NKEYS_CAE_IGMN ((int)(sizeof cae_igmn_keys / sizeof cae_igmn_keys[0]))

/* what one IGMN stage found (kept in the model's state until the run file is written) */
typedef struct stage {
  int done;
  double K, created, removed, nonpd, umbrellas, purity, ari, loglik, seconds, judge_share;
  gs_igmn mix;       /* the mixture as it was at the end of the stage */
  int ngrid;         /* components in the grid */
  double *share;     /* ngrid: share of a component's samples the judge puts in its majority class */
  double *cls;       /* ngrid: that class */
  double *comp;      /* ngrid: the component of each grid row (rows go by decreasing support) */
  uint8_t *grid;     /* ngrid * samples * dim */
} stage;

struct gs_model {
  int igmn;                 /* 0: cae, 1: cae_igmn */
  int H, W, D, Z, C1, C2;   /* image, 784, latent, channels */
  int H1, W1, H2, W2;       /* 14x14, 7x7 */
  int outpad1_h, outpad1_w, outpad2_h, outpad2_w; /* output paddings of the two transposed convolutions */
  gs_params p;
  gs_tensor *enc_conv1_w, *enc_conv1_b, *enc_conv2_w, *enc_conv2_b, *enc_z_w, *enc_z_b; /* encoder */
  gs_tensor *dec_fc_w, *dec_fc_b, *dec_deconv1_w, *dec_deconv1_b, *dec_deconv2_w, *dec_deconv2_b; /* decoder */
  gs_graph g;
  float *xbuf;
  int bufrows;
  const gs_config *cfg;
  cae_settings s;          /* its keys (cae: the first NKEYS_CAE) */
  double test_bce_now, sigmasq_now; /* the latest measure() */
  /* pipeline */
  int stage_now;            /* 0: training the CAE, 1: retraining with the mixture */
  double sigmasq_pass;      /* sigmasq when IGMN ran */
  long collapsed_epoch;     /* first retraining epoch whose sigmasq fell below igmn.collapse * sigmasq_pass */
  gs_igmn mix;              /* the live mixture (retraining) */
  int have_mix;
  stage st[2];              /* 0: after the pass, 1: final */
  float *Ztrain;            /* encoded training set, scratch */
  long nZ;
};

static void init_uniform(gs_tensor *t, double fan_in, gs_rng *r) {
  float a = (float)(1.0 / sqrt(fan_in));
  for (long i = 0; i < t->n; i++) t->x[i] = (float)(2.0 * gs_rng_uniform(r) - 1.0) * a;
}

/* the IGMN parameters of a run, from its igmn.* keys */
static void igmn_params_of(const cae_settings *c, int D, gs_igmn_params *ip) {
  gs_igmn_params_default(ip, D);
  ip->c = c->igmn_c;
  ip->beta = c->igmn_beta;
  ip->v_min = c->igmn_v_min;
  ip->sp_min = c->igmn_sp_min;
  ip->cov_update = strcmp(c->igmn_cov_update, "paper") == 0 ? GS_IGMN_PAPER : GS_IGMN_EXACT;
  ip->umbrella_tau = c->igmn_umbrella_tau;
  ip->umbrella_kappa = c->igmn_umbrella_kappa;
}

static gs_model *create(const gs_config *cfg, const gs_dataset *ds, gs_rng *init, int igmn, gs_error *err) {
  gs_model *m = gs_calloc(1, sizeof *m);
  m->igmn = igmn;
  m->cfg = cfg;
  if (igmn)
    gs_config_read(cfg, cae_igmn_keys, NKEYS_CAE_IGMN, &m->s);
  else
    gs_config_read(cfg, cae_keys, NKEYS_CAE, &m->s);
  m->H = ds->train.h;
  m->W = ds->train.w;
  m->D = (int)ds->train.dim;
  m->Z = (int)m->s.latent_dim;
  m->C1 = (int)m->s.conv1;
  m->C2 = (int)m->s.conv2;
  m->H1 = (m->H + 2 - 3) / 2 + 1;
  m->W1 = (m->W + 2 - 3) / 2 + 1;
  m->H2 = (m->H1 + 2 - 3) / 2 + 1;
  m->W2 = (m->W1 + 2 - 3) / 2 + 1;
  /* transposed conv 3x3/2, pad 1: out = 2*in - 1 + op; op in {0, 1} brings each size back */
  m->outpad1_h = m->H1 - (2 * m->H2 - 1);
  m->outpad1_w = m->W1 - (2 * m->W2 - 1);
  m->outpad2_h = m->H - (2 * m->H1 - 1);
  m->outpad2_w = m->W - (2 * m->W1 - 1);
  if (m->H < 4 || m->W < 4) {
    gs_fail(err, "cae needs images of at least 4x4 pixels (data set has %dx%d)", m->H, m->W);
    free(m);
    return NULL;
  }
  if (igmn) {
    gs_igmn_params ip;
    igmn_params_of(&m->s, m->Z, &ip);
    if (gs_igmn_params_check(&ip, err) != 0) {
      free(m);
      return NULL;
    }
  }
  int f2 = m->C2 * m->H2 * m->W2; /* the code's side of the dense layers: C2 x 7 x 7 */
  /* every parameter, in block order: where the model keeps it, its shape, and its fan-in (the
   * bound of its U(-1/sqrt(fan_in), 1/sqrt(fan_in)) initialisation); biases share their layer's */
  const struct {
    gs_tensor **t;
    const char *name;
    int ndim, shape[4];
    double fan_in;
  } layout[] = {
      {&m->enc_conv1_w, "enc_conv1.w", 4, {m->C1, 1, 3, 3}, 9},
      {&m->enc_conv1_b, "enc_conv1.b", 1, {m->C1}, 9},
      {&m->enc_conv2_w, "enc_conv2.w", 4, {m->C2, m->C1, 3, 3}, 9.0 * m->C1},
      {&m->enc_conv2_b, "enc_conv2.b", 1, {m->C2}, 9.0 * m->C1},
      {&m->enc_z_w, "enc_z.w", 2, {f2, m->Z}, f2},
      {&m->enc_z_b, "enc_z.b", 1, {m->Z}, f2},
      {&m->dec_fc_w, "dec_fc.w", 2, {m->Z, f2}, m->Z},
      {&m->dec_fc_b, "dec_fc.b", 1, {f2}, m->Z},
      {&m->dec_deconv1_w, "dec_deconv1.w", 4, {m->C2, m->C1, 3, 3}, 9.0 * m->C1}, /* (Cin, Cout, k, k) */
      {&m->dec_deconv1_b, "dec_deconv1.b", 1, {m->C1}, 9.0 * m->C1},
      {&m->dec_deconv2_w, "dec_deconv2.w", 4, {m->C1, 1, 3, 3}, 9},
      {&m->dec_deconv2_b, "dec_deconv2.b", 1, {1}, 9},
  };
  const int nlayout = (int)(sizeof layout / sizeof layout[0]);
  for (int i = 0; i < nlayout; i++) gs_params_declare(&m->p, layout[i].name, layout[i].ndim, layout[i].shape);
  gs_params_alloc(&m->p);
  for (int i = 0; i < nlayout; i++) {
    *layout[i].t = &m->p.t[i];
    init_uniform(*layout[i].t, layout[i].fan_in, init);
  }
  gs_graph_init(&m->g, 32u << 20);
  return m;
}

static gs_model *create_cae(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) {
  return create(c, d, r, 0, e);
}
static gs_model *create_cae_igmn(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) {
  return create(c, d, r, 1, e);
}

static gs_params *params(gs_model *m) { return &m->p; }

static void ensure_buffers(gs_model *m, int rows) {
  if (rows <= m->bufrows) return;
  free(m->xbuf);
  m->xbuf = gs_aligned_alloc(sizeof(float) * rows * m->D);
  m->bufrows = rows;
}

/* ------------------------------------------------------------------ graph */
static gs_tensor *encode(gs_model *m, gs_tensor *x) {
  gs_graph *g = &m->g;
  int b = x->shape[0], s4[4] = {b, 1, m->H, m->W};
  gs_tensor *h = gs_reshape(g, x, 4, s4);
  h = gs_conv2d_relu(g, h, m->enc_conv1_w, m->enc_conv1_b, 2, 1); /* relu(conv): (b, C1, 14, 14) */
  h = gs_conv2d_relu(g, h, m->enc_conv2_w, m->enc_conv2_b, 2, 1); /* relu(conv): (b, C2, 7, 7) */
  return gs_dense(g, gs_flatten(g, h), m->enc_z_w, m->enc_z_b);  /* (b, Z) */
}

static gs_tensor *decode(gs_model *m, gs_tensor *z) {
  gs_graph *g = &m->g;
  int b = z->shape[0], s4[4] = {b, m->C2, m->H2, m->W2};
  gs_tensor *h = gs_dense_relu(g, z, m->dec_fc_w, m->dec_fc_b); /* relu(dense) */
  h = gs_reshape(g, h, 4, s4);
  h = gs_conv_transpose2d_relu(g, h, m->dec_deconv1_w, m->dec_deconv1_b, 2, 1, m->outpad1_h); /* relu(deconv): (b, C1, 14, 14) */
  h = gs_conv_transpose2d(g, h, m->dec_deconv2_w, m->dec_deconv2_b, 2, 1, m->outpad2_h);             /* (b, 1, 28, 28) */
  int s2[2] = {b, m->D};
  return gs_reshape(g, h, 2, s2);
}

/* ------------------------------------------------------------------ training step */
static double train_step(gs_model *m, const gs_batch *batch, int phase, gs_rng *noise, gs_losses *losses) {
  const gs_imageset *set = batch->set;
  const int32_t *idx = batch->idx;
  int B = batch->B, lo = batch->lo, hi = batch->hi;
  int b = hi - lo;
  ensure_buffers(m, B);
  gs_imageset_batch(set, idx + lo, b, m->xbuf, NULL);
  gs_graph *g = &m->g;
  gs_graph_begin(g, &m->p, 1);
  gs_tensor *x = gs_wrap2(g, m->xbuf, b, m->D);
  gs_tensor *z = encode(m, x);
  gs_tensor *loss = gs_sum(g, gs_bernoulli_nll(g, decode(m, z), x));
  if (m->stage_now == 1 && m->have_mix && m->mix.K > 0 && m->s.igmn_mu > 0)
    loss = gs_sub(g, loss, gs_scale(g, gs_sum(g, gs_igmn_density_op(g, &m->mix, z)), (float)m->s.igmn_mu));
  gs_backward(g, loss, 1.0f / (float)B);
  return loss->x[0];
}

/* ------------------------------------------------------------------ evaluation pieces */
/* mean BCE per image over a set */
static double set_bce(gs_model *m, const gs_imageset *set) {
  const int chunk = 500;
  ensure_buffers(m, chunk);
  int32_t idx[500];
  double s = 0.0;
  for (long start = 0; start < set->n; start += chunk) {
    gs_poll();
    int b = (int)(set->n - start < chunk ? set->n - start : chunk);
    for (int i = 0; i < b; i++) idx[i] = (int32_t)(start + i);
    gs_imageset_batch(set, idx, b, m->xbuf, NULL);
    gs_graph_begin(&m->g, NULL, 0);
    gs_tensor *x = gs_wrap2(&m->g, m->xbuf, b, m->D);
    gs_tensor *r = gs_bernoulli_nll(&m->g, decode(m, encode(m, x)), x);
    for (int i = 0; i < b; i++) s += r->x[i];
  }
  return set->n ? s / (double)set->n : NAN;
}

/* encode a whole set into m->Ztrain (n x Z) */
static void encode_set(gs_model *m, const gs_imageset *set) {
  if (m->nZ < set->n) {
    free(m->Ztrain);
    m->Ztrain = gs_malloc(sizeof(float) * set->n * m->Z);
    m->nZ = set->n;
  }
  const int chunk = 1000;
  ensure_buffers(m, chunk);
  int32_t *idx = gs_malloc(sizeof(int32_t) * chunk);
  for (long start = 0; start < set->n; start += chunk) {
    gs_poll();
    int b = (int)(set->n - start < chunk ? set->n - start : chunk);
    for (int i = 0; i < b; i++) idx[i] = (int32_t)(start + i);
    gs_imageset_batch(set, idx, b, m->xbuf, NULL);
    gs_graph_begin(&m->g, NULL, 0);
    gs_tensor *z = encode(m, gs_wrap2(&m->g, m->xbuf, b, m->D));
    memcpy(m->Ztrain + start * m->Z, z->x, sizeof(float) * b * m->Z);
  }
  free(idx);
}

/* features: the code z of each example */
static int feature_dim(gs_model *m) { return m->Z; }
static void features(gs_model *m, const gs_imageset *set, const int32_t *idx, int n, float *out) {
  enum { CHUNK = 1000 };
  ensure_buffers(m, CHUNK);
  for (int start = 0; start < n; start += CHUNK) {
    int b = n - start < CHUNK ? n - start : CHUNK;
    gs_imageset_batch(set, idx + start, b, m->xbuf, NULL);
    gs_graph_begin(&m->g, NULL, 0);
    gs_tensor *z = encode(m, gs_wrap2(&m->g, m->xbuf, b, m->D));
    memcpy(out + (long)start * m->Z, z->x, sizeof(float) * (size_t)b * m->Z);
  }
}

/* decode latents (rows x Z) to pixels (0..255) */
static void decode_u8(gs_model *m, const float *z, int rows, uint8_t *out) {
  for (int start = 0; start < rows; start += 500) {
    int b = rows - start < 500 ? rows - start : 500;
    gs_graph_begin(&m->g, NULL, 0);
    gs_tensor *img = gs_sigmoid(&m->g, decode(m, gs_wrap2(&m->g, (float *)z + (long)start * m->Z, b, m->Z)));
    gs_to_u8(img->x, out + (size_t)start * m->D, (long)b * m->D);
  }
}

/* the contract's generate: n images decoded from the live mixture (-1: there is none) */
static int generate_hook(gs_model *m, long n, gs_rng *rng, uint8_t *out, int *cls) {
  (void)cls;
  if (!m->have_mix || m->mix.K == 0) return -1;
  enum { CHUNK = 1000 };
  float *z = gs_malloc(sizeof(float) * CHUNK * m->Z);
  for (long start = 0; start < n; start += CHUNK) {
    int b = n - start < CHUNK ? (int)(n - start) : CHUNK;
    for (int i = 0; i < b; i++) gs_igmn_sample(&m->mix, -1, rng, z + (long)i * m->Z);
    decode_u8(m, z, b, out + start * m->D);
  }
  free(z);
  return 0;
}

extern const gs_model_def gs_model_cae_igmn;

/* One point of the sample-quality series: the live mixture's samples judged, or NaN while there
 * is no mixture (so that the series has a value for every epoch). */
static int mixture_quality(gs_model *m, const gs_dataset *ds, int final, gs_record *rec, gs_error *err) {
  if (!m->s.quality.judge || !ds->train.labels) return 0; /* no judge without labels */
  if (m->have_mix && m->mix.K > 0)
    return gs_sample_quality_evaluate(&gs_model_cae_igmn, m, m->cfg, ds, &m->s.quality, final, rec, err);
  gs_sample_quality_record_none(rec);
  return 0;
}

static void stage_free(stage *s) {
  gs_igmn_free(&s->mix);
  free(s->share);
  free(s->cls);
  free(s->comp);
  free(s->grid);
  memset(s, 0, sizeof *s);
}

/* Per-component generation: igmn.samples decoded samples of each of the (up to MAX_GRID_K
 * largest-prior) components, and the judge's verdict on them. */
static void generate(gs_model *m, const gs_dataset *ds, stage *s, int which, gs_error *err) {
  const gs_config *c = m->cfg;
  const gs_igmn *mix = &s->mix;
  int K = mix->K, S = (int)m->s.igmn_samples;
  int n = K < MAX_GRID_K ? K : MAX_GRID_K;
  /* components by decreasing prior */
  int *order = gs_malloc(sizeof(int) * (K ? K : 1));
  for (int j = 0; j < K; j++) order[j] = j;
  for (int a = 1; a < K; a++)
    for (int b2 = a; b2 > 0 && mix->sp[order[b2]] > mix->sp[order[b2 - 1]]; b2--) {
      int t = order[b2];
      order[b2] = order[b2 - 1];
      order[b2 - 1] = t;
    }
  s->ngrid = n;
  s->share = gs_calloc((size_t)(n ? n : 1), sizeof(double));
  s->cls = gs_calloc((size_t)(n ? n : 1), sizeof(double));
  for (int r = 0; r < n; r++) s->share[r] = s->cls[r] = NAN; /* not judged (yet) */
  s->comp = gs_calloc((size_t)(n ? n : 1), sizeof(double));
  for (int r = 0; r < n; r++) s->comp[r] = order[r];
  s->grid = gs_malloc((size_t)(n ? n : 1) * S * m->D);
  s->judge_share = NAN;
  if (n == 0) {
    free(order);
    return;
  }
  gs_rng rng;
  gs_rng_seed(&rng, (uint64_t)c->seed, (uint64_t)(10 + which), GS_RNG_SAMPLE);
  float *z = gs_malloc(sizeof(float) * n * S * m->Z);
  for (int r = 0; r < n; r++)
    for (int k = 0; k < S; k++) gs_igmn_sample(mix, order[r], &rng, z + ((long)r * S + k) * m->Z);
  decode_u8(m, z, n * S, s->grid);
  free(z);
  free(order);
  if (!m->s.quality.judge) return;
  gs_judge *jd = gs_judge_get(c, m->s.quality.judge_epochs, ds, err);
  if (!jd) return; /* err says why; the caller records it */
  int *lab = gs_malloc(sizeof(int) * n * S);
  gs_judge_classify_u8(jd, s->grid, n * S, lab);
  double tot = 0.0;
  for (int r = 0; r < n; r++) {
    int cnt[256] = {0}, best = 0;
    for (int k = 0; k < S; k++) cnt[lab[r * S + k] & 255]++;
    for (int q = 1; q < 256; q++)
      if (cnt[q] > cnt[best]) best = q;
    s->share[r] = (double)cnt[best] / S;
    s->cls[r] = best;
    tot += s->share[r];
  }
  s->judge_share = tot / n;
  free(lab);
}

/* assignment quality of the mixture on the encoded training set */
static void cluster_quality(gs_model *m, const gs_imageset *set, const gs_igmn *mix, double *purity, double *ari) {
  long n = set->n;
  if (mix->K == 0 || !set->labels) {
    *purity = *ari = NAN;
    return;
  }
  int *as = gs_malloc(sizeof(int) * n), *lb = gs_malloc(sizeof(int) * n);
  for (long i = 0; i < n; i++) {
    as[i] = gs_igmn_assign(mix, m->Ztrain + i * m->Z);
    lb[i] = set->labels[i];
  }
  *purity = gs_cluster_purity(as, lb, n);
  *ari = gs_adjusted_rand_index(as, lb, n);
  free(as);
  free(lb);
}

static void stage_measure(gs_model *m, const gs_dataset *ds, stage *s, int which, gs_error *err) {
  s->K = m->mix.K;
  s->created = (double)m->mix.created;
  s->removed = (double)m->mix.removed;
  s->nonpd = (double)m->mix.nonpd;
  s->umbrellas = (double)m->mix.umbrellas;
  s->loglik = m->mix.K ? gs_igmn_loglik(&m->mix, m->Ztrain, ds->train.n) : NAN;
  cluster_quality(m, &ds->train, &m->mix, &s->purity, &s->ari);
  gs_igmn_free(&s->mix);
  long ns = gs_igmn_state_size(&m->mix);
  double *buf = gs_malloc(sizeof(double) * ns);
  gs_igmn_state_pack(&m->mix, buf);
  memset(&s->mix, 0, sizeof s->mix);
  gs_error e2 = {0};
  if (gs_igmn_state_unpack(&s->mix, buf, ns, &e2) != 0) { /* e.g. a nearly singular component */
    memset(&s->mix, 0, sizeof s->mix);
    fprintf(stderr, "gensweep: the %s mixture could not be kept (%s): no generation grid for it\n",
            which ? "final" : "pass", e2.msg);
  }
  free(buf);
  generate(m, ds, s, which, err);
  s->done = 1;
}

/* the IGMN stage after the CAE's last training epoch */
static int run_igmn(gs_model *m, const gs_dataset *ds, gs_record *rec, gs_error *err) {
  gs_igmn_params ip;
  igmn_params_of(&m->s, m->Z, &ip);
  double t0 = gs_now();
  if (m->have_mix) gs_igmn_free(&m->mix);
  memset(&m->mix, 0, sizeof m->mix);
  m->have_mix = 0;
  if (!(m->sigmasq_pass > 0) || !isfinite(m->sigmasq_pass))
    return gs_fail(err, "the latent cloud has sigmasq = %g: nothing to cluster", m->sigmasq_pass);
  if (gs_igmn_init(&m->mix, &ip, m->sigmasq_pass, err) != 0) return -1;
  m->have_mix = 1;
  gs_igmn_fit(&m->mix, m->Ztrain, ds->train.n);
  gs_poll();
  gs_igmn_finalize(&m->mix, m->Ztrain, ds->train.n);
  double igmn_s = gs_now() - t0; /* the pass and its finalisation, not the measurements */
  gs_error jerr = {0};
  stage_measure(m, ds, &m->st[0], 0, &jerr);
  m->st[0].seconds = igmn_s;
  if (jerr.msg[0]) fprintf(stderr, "gensweep: judge not available: %s\n", jerr.msg);
  (void)rec;
  return 0;
}

static void record_stage(gs_model *m, gs_record *rec, const stage *s, const char *name, const gs_imageset *tr) {
  char buf[64];
  const char *keys[] = {"K", "created", "removed", "nonpd", "umbrellas", "purity", "ari", "loglik", "seconds",
                        "judge_share"};
  const double vals[] = {s->K, s->created, s->removed, s->nonpd, s->umbrellas,
                         s->purity, s->ari, s->loglik, s->seconds, s->judge_share};
  for (int i = 0; i < 10; i++) {
    if (strcmp(keys[i], "seconds") == 0 && strcmp(name, "final") == 0) continue;
    snprintf(buf, sizeof buf, "igmn_%s_%s", name, keys[i]);
    gs_record_scalar(rec, buf, vals[i]);
  }
  const gs_igmn *mix = &s->mix;
  int K = mix->K, D = m->Z;
  if (K > 0) {
    long sh2[2] = {K, D}, sh3[3] = {K, D, D}, sh1[1] = {K};
    double *cov = gs_malloc(sizeof(double) * K * D * D), *pri = gs_malloc(sizeof(double) * K);
    for (int j = 0; j < K; j++) {
      gs_igmn_covariance(mix, j, cov + (long)j * D * D);
      pri[j] = gs_igmn_prior(mix, j);
    }
    snprintf(buf, sizeof buf, "igmn/%s/means", name);
    gs_record_array(rec, buf, 2, sh2, mix->mean);
    snprintf(buf, sizeof buf, "igmn/%s/covariances", name);
    gs_record_array(rec, buf, 3, sh3, cov);
    snprintf(buf, sizeof buf, "igmn/%s/priors", name);
    gs_record_array(rec, buf, 1, sh1, pri);
    snprintf(buf, sizeof buf, "igmn/%s/sp", name);
    gs_record_array(rec, buf, 1, sh1, mix->sp);
    snprintf(buf, sizeof buf, "igmn/%s/v", name);
    gs_record_array(rec, buf, 1, sh1, mix->v);
    free(cov);
    free(pri);
  }
  if (s->ngrid > 0) {
    long sg[1] = {s->ngrid};
    snprintf(buf, sizeof buf, "igmn/%s/judge_share", name);
    gs_record_array(rec, buf, 1, sg, s->share);
    snprintf(buf, sizeof buf, "igmn/%s/judge_class", name);
    gs_record_array(rec, buf, 1, sg, s->cls);
    snprintf(buf, sizeof buf, "igmn/%s/grid_component", name);
    gs_record_array(rec, buf, 1, sg, s->comp);
    snprintf(buf, sizeof buf, "components_%s", name);
    gs_record_image_grid(rec, buf, s->ngrid * (int)m->s.igmn_samples, tr->h, tr->w, s->grid, (int)m->s.igmn_samples);
  }
}

/* Test BCE and sigmasq of the encoded training set (left in m->Ztrain), pushed as this epoch's
 * values and kept for the final scalars. */
static int measure(gs_model *m, const gs_dataset *ds, int epoch, gs_record *rec, gs_error *err) {
  double te = set_bce(m, &ds->test);
  if (!isfinite(te)) return gs_fail(err, "test BCE is not finite at epoch %d", epoch);
  encode_set(m, &ds->train);
  double sq = gs_sigmasq(m->Ztrain, ds->train.n, m->Z);
  gs_record_push(rec, "test_bce", te);
  gs_record_push(rec, "sigmasq", sq);
  if (ds->val.n > 0) gs_record_push(rec, "val_bce", set_bce(m, &ds->val));
  m->test_bce_now = te;
  m->sigmasq_now = sq;
  return 0;
}

/* cae_igmn, after every epoch: measure (the stages need the encoded training set every epoch),
 * then move on a stage: after epoch train.epochs the IGMN stage, after each later epoch the
 * refresh of the mixture and the collapse check. */
static int end_epoch(gs_model *m, const gs_dataset *ds, int epoch, gs_record *rec, gs_error *err) {
  const gs_config *c = m->cfg;
  if (measure(m, ds, epoch, rec, err) != 0) return -1;
  double sq = m->sigmasq_now;
  if (epoch == c->epochs) { /* the CAE is trained: cluster its latent space */
    m->sigmasq_pass = sq;
    if (run_igmn(m, ds, rec, err) != 0) return -1;
    m->stage_now = 1;
  } else if (epoch > c->epochs && m->have_mix) { /* a retraining epoch ended */
    if (m->mix.K > 0) {
      gs_igmn_refresh_mode mode = strcmp(m->s.igmn_refresh, "full") == 0    ? GS_IGMN_REFRESH_FULL
                                  : strcmp(m->s.igmn_refresh, "means") == 0 ? GS_IGMN_REFRESH_MEANS
                                                                          : GS_IGMN_REFRESH_NONE;
      gs_igmn_refresh(&m->mix, m->Ztrain, ds->train.n, mode);
    }
    if (!m->collapsed_epoch && sq < m->s.igmn_collapse * m->sigmasq_pass) m->collapsed_epoch = epoch;
  }
  /* one value per epoch (NaN before the IGMN stage), so the curves line up with the epochs */
  gs_record_push(rec, "igmn_K", m->have_mix ? m->mix.K : NAN);
  gs_record_push(rec, "igmn_loglik", m->have_mix && m->mix.K ? gs_igmn_loglik(&m->mix, m->Ztrain, ds->train.n) : NAN);
  /* the last epoch's point comes with the final scalars, from evaluate() */
  if (epoch < c->epochs + m->s.igmn_retrain_epochs) return mixture_quality(m, ds, 0, rec, err);
  return 0;
}

/* The runner's evaluation: the CAE measures here (cae_igmn has measured in end_epoch already);
 * after the last epoch also the final scalars and images. */
static int evaluate(gs_model *m, const gs_dataset *ds, const gs_when *when, gs_record *rec, gs_error *err) {
  int epoch = when->epoch, final = when->final;
  const gs_config *c = m->cfg;
  if (!m->igmn && measure(m, ds, epoch, rec, err) != 0) return -1;
  if (!final) return 0;
  double te = m->test_bce_now, sq = m->sigmasq_now;
  gs_record_scalar(rec, "test_bce", te);
  gs_record_scalar(rec, "sigmasq", sq);
  if (m->igmn && m->have_mix) {
    gs_error jerr = {0};
    if (m->s.igmn_retrain_epochs > 0) stage_measure(m, ds, &m->st[1], 1, &jerr);
    gs_record_scalar(rec, "sigmasq_pass", m->sigmasq_pass);
    gs_record_scalar(rec, "sigmasq_ratio", sq / m->sigmasq_pass);
    gs_record_scalar(rec, "collapsed", m->collapsed_epoch > 0);
    if (m->collapsed_epoch) gs_record_scalar(rec, "collapsed_epoch", (double)m->collapsed_epoch);
    gs_record_scalar(rec, "igmn_zero_components", m->st[0].K == 0);
    if (m->s.quality.judge) {
      gs_error e3 = {0};
      gs_judge *jd = gs_judge_get(c, m->s.quality.judge_epochs, ds, &e3);
      if (jd) gs_record_scalar(rec, "judge_test_accuracy", gs_judge_accuracy(jd));
    }
    record_stage(m, rec, &m->st[0], "pass", &ds->train);
    if (m->st[1].done) record_stage(m, rec, &m->st[1], "final", &ds->train);
    if (jerr.msg[0]) fprintf(stderr, "gensweep: judge not available: %s\n", jerr.msg);
  }
  if (m->igmn && mixture_quality(m, ds, 1, rec, err) != 0) return -1;
  /* reconstructions: the first n_recon test images and their reconstructions */
  int nr = (int)(m->s.n_recon < ds->test.n ? m->s.n_recon : ds->test.n);
  if (nr > 0) {
    ensure_buffers(m, nr);
    int32_t *idx = gs_malloc(sizeof(int32_t) * nr);
    for (int i = 0; i < nr; i++) idx[i] = i;
    gs_imageset_batch(&ds->test, idx, nr, m->xbuf, NULL);
    uint8_t *pix = gs_malloc((size_t)2 * nr * m->D);
    gs_to_u8(m->xbuf, pix, (long)nr * m->D);
    gs_graph_begin(&m->g, NULL, 0);
    gs_tensor *img = gs_sigmoid(&m->g, decode(m, encode(m, gs_wrap2(&m->g, m->xbuf, nr, m->D))));
    gs_to_u8(img->x, pix + (size_t)nr * m->D, (long)nr * m->D);
    gs_record_image_grid(rec, "recon", 2 * nr, ds->test.h, ds->test.w, pix, nr);
    free(pix);
    free(idx);
  }
  return 0;
}

/* ------------------------------------------------------------------ state (checkpoints) */
/* The state, as named arrays (core/state.h; /model_state/<name> in a checkpoint):
 *   pipeline            int64 [3]: stage_now, collapsed_epoch, have_mix
 *   sigmasq_pass        float64 [1]
 *   mixture             float64: the live mixture (gs_igmn_state_pack), when have_mix
 *   <stage>.done        int64 [1], stage "pass" or "final"; when done:
 *   <stage>.<figure>    float64 [1] for each of stage_figures (K, created, ... judge_share)
 *   <stage>.row_share, <stage>.row_class, <stage>.row_component   float64 [grid rows]
 *   <stage>.grid_pixels uint8 [grid rows * igmn.samples * pixels]
 *   <stage>.mixture     float64: the stage's mixture, when it has one */
static const char *const stage_name[2] = {"pass", "final"};
#define STAGE_FIGURES 10
static const char *const stage_figures[STAGE_FIGURES] = {"K", "created", "removed", "nonpd", "umbrellas",
                                                         "purity", "ari", "loglik", "seconds", "judge_share"};
static double *stage_figure(stage *s, int i) {
  double *f[STAGE_FIGURES] = {&s->K, &s->created, &s->removed, &s->nonpd, &s->umbrellas,
                              &s->purity, &s->ari, &s->loglik, &s->seconds, &s->judge_share};
  return f[i];
}

static void put_mixture(gs_state *out, const char *name, const gs_igmn *x) {
  long n = gs_igmn_state_size(x);
  double *b = gs_malloc(sizeof(double) * (size_t)(n ? n : 1));
  gs_igmn_state_pack(x, b);
  gs_state_put_f64(out, name, b, n);
  free(b);
}

static void put_stage(const gs_model *m, gs_state *out, int which) {
  const stage *s = &m->st[which];
  char name[GS_STATE_NAME];
  int64_t done = s->done;
  snprintf(name, sizeof name, "%s.done", stage_name[which]);
  gs_state_put_i64(out, name, &done, 1);
  if (!s->done) return;
  for (int i = 0; i < STAGE_FIGURES; i++) {
    snprintf(name, sizeof name, "%s.%s", stage_name[which], stage_figures[i]);
    gs_state_put_f64(out, name, stage_figure((stage *)s, i), 1);
  }
  snprintf(name, sizeof name, "%s.row_share", stage_name[which]);
  gs_state_put_f64(out, name, s->share, s->ngrid);
  snprintf(name, sizeof name, "%s.row_class", stage_name[which]);
  gs_state_put_f64(out, name, s->cls, s->ngrid);
  snprintf(name, sizeof name, "%s.row_component", stage_name[which]);
  gs_state_put_f64(out, name, s->comp, s->ngrid);
  snprintf(name, sizeof name, "%s.grid_pixels", stage_name[which]);
  gs_state_put(out, name, GS_STATE_U8, s->grid, (long)s->ngrid * m->s.igmn_samples * m->D);
  if (s->mix.D > 0) {
    snprintf(name, sizeof name, "%s.mixture", stage_name[which]);
    put_mixture(out, name, &s->mix);
  }
}

static void state_save(gs_model *m, gs_state *out) {
  if (!m->igmn) return;
  int64_t pipeline[3] = {m->stage_now, m->collapsed_epoch, m->have_mix};
  gs_state_put_i64(out, "pipeline", pipeline, 3);
  gs_state_put_f64(out, "sigmasq_pass", &m->sigmasq_pass, 1);
  if (m->have_mix) put_mixture(out, "mixture", &m->mix);
  put_stage(m, out, 0);
  put_stage(m, out, 1);
}

/* a mixture array into x (absent: *have = 0 when have is given, else an error) */
static int get_mixture(const gs_state *in, const char *name, gs_igmn *x, int *have, gs_error *err) {
  long n = 0;
  const double *b = gs_state_get(in, name, GS_STATE_F64, &n);
  if (have) *have = b != NULL;
  if (!b) return have ? 0 : gs_fail(err, "model state: no float64 array '%s'", name);
  if (gs_igmn_state_unpack(x, b, n, err) == 0) return 0;
  char why[sizeof err->msg - 64];
  GS_STRCPY(why, err->msg);
  return gs_fail(err, "model state: '%s': %s", name, why);
}

static int get_stage(const gs_model *m, const gs_state *in, int which, stage *s, gs_error *err) {
  char name[GS_STATE_NAME];
  snprintf(name, sizeof name, "%s.done", stage_name[which]);
  const int64_t *done = gs_state_need(in, name, GS_STATE_I64, 1, NULL, err);
  if (!done) return -1;
  s->done = done[0] != 0;
  if (!s->done) return 0;
  for (int i = 0; i < STAGE_FIGURES; i++) {
    snprintf(name, sizeof name, "%s.%s", stage_name[which], stage_figures[i]);
    const double *fig = gs_state_need(in, name, GS_STATE_F64, 1, NULL, err);
    if (!fig) return -1;
    *stage_figure(s, i) = fig[0];
  }
  long ng = 0;
  snprintf(name, sizeof name, "%s.row_share", stage_name[which]);
  const double *share = gs_state_need(in, name, GS_STATE_F64, -1, &ng, err);
  if (!share) return -1;
  if (ng > MAX_GRID_K) return gs_fail(err, "model state: '%s' has %ld rows, at most %d", name, ng, MAX_GRID_K);
  snprintf(name, sizeof name, "%s.row_class", stage_name[which]);
  const double *cls = gs_state_need(in, name, GS_STATE_F64, ng, NULL, err);
  if (!cls) return -1;
  snprintf(name, sizeof name, "%s.row_component", stage_name[which]);
  const double *comp = gs_state_need(in, name, GS_STATE_F64, ng, NULL, err);
  if (!comp) return -1;
  long np = ng * m->s.igmn_samples * m->D;
  snprintf(name, sizeof name, "%s.grid_pixels", stage_name[which]);
  const uint8_t *px = gs_state_need(in, name, GS_STATE_U8, np, NULL, err);
  if (!px) return -1;
  s->ngrid = (int)ng;
  s->share = gs_malloc(sizeof(double) * (size_t)(ng ? ng : 1));
  s->cls = gs_malloc(sizeof(double) * (size_t)(ng ? ng : 1));
  s->comp = gs_malloc(sizeof(double) * (size_t)(ng ? ng : 1));
  s->grid = gs_malloc((size_t)(np ? np : 1));
  memcpy(s->share, share, sizeof(double) * (size_t)ng);
  memcpy(s->cls, cls, sizeof(double) * (size_t)ng);
  memcpy(s->comp, comp, sizeof(double) * (size_t)ng);
  memcpy(s->grid, px, (size_t)np);
  snprintf(name, sizeof name, "%s.mixture", stage_name[which]);
  int have = 0;
  return get_mixture(in, name, &s->mix, &have, err);
}

static int state_load(gs_model *m, const gs_state *in, gs_error *err) {
  if (!m->igmn) return in->n == 0 ? 0 : gs_fail(err, "cae keeps no model state, the checkpoint holds %d arrays", in->n);
  const int64_t *pipeline = gs_state_need(in, "pipeline", GS_STATE_I64, 3, NULL, err);
  const double *sq = pipeline ? gs_state_need(in, "sigmasq_pass", GS_STATE_F64, 1, NULL, err) : NULL;
  if (!sq) return -1;
  if (pipeline[0] < 0 || pipeline[0] > 1 || pipeline[1] < 0 || (pipeline[2] != 0 && pipeline[2] != 1))
    return gs_fail(err, "model state: 'pipeline' holds %lld, %lld, %lld (stage 0 or 1, an epoch, 0 or 1)",
                   (long long)pipeline[0], (long long)pipeline[1], (long long)pipeline[2]);
  gs_model tmp = *m; /* parse into a copy: m is untouched on failure */
  memset(&tmp.mix, 0, sizeof tmp.mix);
  memset(tmp.st, 0, sizeof tmp.st);
  tmp.stage_now = (int)pipeline[0];
  tmp.collapsed_epoch = (long)pipeline[1];
  tmp.sigmasq_pass = sq[0];
  int rc = 0;
  if (pipeline[2]) rc = get_mixture(in, "mixture", &tmp.mix, NULL, err);
  tmp.have_mix = pipeline[2] != 0;
  if (rc == 0) rc = get_stage(m, in, 0, &tmp.st[0], err);
  if (rc == 0) rc = get_stage(m, in, 1, &tmp.st[1], err);
  if (rc != 0) {
    gs_igmn_free(&tmp.mix);
    stage_free(&tmp.st[0]);
    stage_free(&tmp.st[1]);
    return -1;
  }
  if (m->have_mix) gs_igmn_free(&m->mix);
  stage_free(&m->st[0]);
  stage_free(&m->st[1]);
  *m = tmp;
  return 0;
}

/* ------------------------------------------------------------------ the rest */
/* Epochs in all: the CAE's, then the retraining after the IGMN stage. */
static long epochs_cae_igmn(const gs_config *c) {
  cae_settings s;
  gs_config_read(c, cae_igmn_keys, NKEYS_CAE_IGMN, &s);
  return c->epochs + s.igmn_retrain_epochs;
}

/* Multiply-adds of the 3x3 convolutions (stride 2: a quarter, then a sixteenth of the pixels) and
 * the dense layers per image, x3 for forward + backward. */
static double cost_of(const gs_config *c, const gs_data_sizes *d, long epochs) {
  cae_settings s;
  gs_config_read(c, cae_keys, NKEYS_CAE, &s);
  double k = 9.0, img = (double)d->dim;
  double conv = 2.0 * k * (img / 4 * s.conv1 + img / 16 * s.conv1 * s.conv2) * 2; /* encoder + decoder */
  double per_img = 3 * (conv + 4.0 * img / 16 * s.conv2 * s.latent_dim);
  double n = c->train_size > 0 ? c->train_size : d->train;
  return per_img * n * (double)epochs;
}
static double cost_cae(const gs_config *c, const gs_data_sizes *d) { return cost_of(c, d, c->epochs); }
static double cost_cae_igmn(const gs_config *c, const gs_data_sizes *d) {
  cae_settings s;
  gs_config_read(c, cae_igmn_keys, NKEYS_CAE_IGMN, &s);
  return cost_of(c, d, epochs_cae_igmn(c)) + gs_sample_quality_cost(&s.quality, d, 1.0 + (double)s.igmn_retrain_epochs);
}

static void destroy(gs_model *m) {
  if (!m) return;
  if (m->have_mix) gs_igmn_free(&m->mix);
  stage_free(&m->st[0]);
  stage_free(&m->st[1]);
  gs_params_free(&m->p);
  gs_graph_free(&m->g);
  free(m->xbuf);
  free(m->Ztrain);
  free(m);
}

static const gs_metric_label done_metrics[] = {{"test_bce", "test BCE"}, {NULL, NULL}};

const gs_model_def gs_model_cae = {
    .name = "cae", .description = "convolutional autoencoder, BCE loss (SCIENCE.md 1, stage 1)",
    .about = "convolutional autoencoder", .keys = cae_keys, .nkeys = NKEYS_CAE,
    .data = {.kind = GS_SAMPLES_IMAGES, .min_dims = {1, 4, 4}},
    .cost = cost_cae, .create = create_cae, .params = params, .train_step = train_step, .evaluate = evaluate,
    .feature_dim = feature_dim, .features = features,
    .destroy = destroy, .headline = "test_bce", .done_metrics = done_metrics};
const gs_model_def gs_model_cae_igmn = {
    .name = "cae_igmn",
    .description = "CAE, IGMN over its latent space, per-component generation, mixture-regularised retraining",
    .about = "CAE, IGMN over its latent space, mixture-regularised retraining",
    .keys = cae_igmn_keys, .nkeys = NKEYS_CAE_IGMN, .epochs = epochs_cae_igmn,
    .data = {.kind = GS_SAMPLES_IMAGES, .min_dims = {1, 4, 4}},
    .cost = cost_cae_igmn, .create = create_cae_igmn, .params = params, .train_step = train_step, .evaluate = evaluate,
    .feature_dim = feature_dim, .features = features, .generate = generate_hook,
    .destroy = destroy, .state_save = state_save, .state_load = state_load,
    .end_epoch = end_epoch, .headline = "test_bce", .done_metrics = done_metrics};
