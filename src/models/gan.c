/* GANs of SCIENCE.md §2 (seed 001) and the conditional GAN of §4 (seed 003).
 *
 *   gan     G: z (100) -> dense 200 -> ReLU -> dense 784 -> sigmoid        noise N(0, 1)
 *           D: x (784) -> dense 200 -> ReLU -> dense 1 (source logit)
 *   dcgan1  G: z -> dense 7x7x128 -> BN -> ReLU -> deconv 5x5/2 64 (14x14) -> BN -> ReLU
 *              -> deconv 5x5/2 1 (28x28) -> sigmoid                         noise U(-1, 1)
 *   dcgan4  G: z -> dense 2x2x512 -> BN -> ReLU -> deconvs 5x5/2 256 (4x4), 128 (7x7), 64 (14x14),
 *              each BN -> ReLU, -> deconv 5x5/2 1 (28x28) -> sigmoid
 *   dcgan*  D: x -> conv 5x5/2 16 (14x14) -> LReLU -> conv 32 (7x7) -> BN -> LReLU -> conv 64 (4x4)
 *              -> BN -> LReLU -> conv 128 (2x2) -> BN -> LReLU -> flatten 512 -> dense 1
 *
 * gan.conditioning:
 *   none    the minimax game of Goodfellow et al.: D minimises BCE(D(x), 1) + BCE(D(G(z)), 0), G the
 *           non-saturating -log D(G(z));
 *   cgan    the one-hot label joins the noise at G's input and the image at D's (MLP: concatenated;
 *           DCGAN: ten constant input planes);
 *   acgan   D has a second head, class logits; with L_S the source and L_C the class
 *           log-likelihoods, D maximises L_S + w L_C and G maximises w L_C - L_S (non-saturating:
 *           G minimises BCE(D(G(z)), 1) + w CE); w = gan.class_weight (the weighted AC-GAN).
 *           gan.labelled = N > 0: only N labelled real images (class-balanced, drawn from the
 *           training seed) enter the class term of real images: the semi-supervised setting.
 * Generated classes are drawn uniformly. Weights truncated normal (gan.init_std), biases
 * gan.init_bias, batch-norm scale 1 and shift 0. An iteration is one D step then gan.g_steps G
 * steps (phases "d", "g", "g2", ...), each on fresh noise; D and G have their own optimisers.
 * Batch norm normalises with the statistics of the global batch, real and generated images in
 * separate passes (as the reference implementation does); running statistics are model state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/models/model.h"
#include "gensweep/models/sample_quality.h"
#include "gensweep/nn/conv.h"
#include "gensweep/nn/ops.h"
#include "gensweep/nn/optim.h"
#include "gensweep/io/png.h"

/* ------------------------------------------------------------------ keys */

typedef struct gan_settings {
  long noise_dim, hidden;
  char noise[GS_ENUM_VALUE_LEN];          /* normal | uniform */
  char conditioning[GS_ENUM_VALUE_LEN];   /* none | cgan | acgan */
  double class_weight;
  long labelled;                          /* real images with labels in the class term; 0 = all */
  double init_std, init_bias, leak;
  char d_optimizer[GS_ENUM_VALUE_LEN], g_optimizer[GS_ENUM_VALUE_LEN];
  double d_lr, d_beta1, g_lr, g_beta1;
  long g_steps;
  long iterations, log_every, sample_every;
  gs_quality_settings quality; /* eval.judge, judge_epochs, quality_samples, min_covered */
} gan_settings;

#define KEY_INT(sec, nm, f, lo, hi, d, h) GS_KEY_INT(gan_settings, sec, nm, f, lo, hi, d, h)
#define KEY_FLOAT(sec, nm, f, lo, lo_open, hi, hi_open, d, h) \
  GS_KEY_FLOAT(gan_settings, sec, nm, f, lo, lo_open, hi, hi_open, d, h)
#define KEY_ENUM(sec, nm, f, ch, d, h) GS_KEY_ENUM(gan_settings, sec, nm, f, ch, d, h)
static const gs_key gan_keys[] = {
    KEY_INT("model", "noise_dim", noise_dim, 1, 4096, "100", "GANs: dimension of the generator's noise z"),
    KEY_INT("gan", "hidden", hidden, 1, 65536, "200", "MLP GAN: hidden width of G (z-h-784) and D (784-h-1)"),
    KEY_ENUM("gan", "noise", noise, "normal|uniform", "normal", "the generator's noise: N(0, 1) or U(-1, 1)"),
    KEY_ENUM("gan", "conditioning", conditioning, "none|cgan|acgan", "none",
             "none; cgan (label given to G and D); acgan (D also predicts the class)"),
    KEY_FLOAT("gan", "class_weight", class_weight, 0, 0, 1000, 0, "1",
              "AC-GAN: weight of the class term (the weighted AC-GAN: not 1)"),
    KEY_INT("gan", "labelled", labelled, 0, 100000000, "0",
            "AC-GAN: labelled real images in the class term, class-balanced (0 = all)"),
    KEY_FLOAT("gan", "init_std", init_std, 0, 1, 10, 0, "0.01", "std of the truncated-normal initial weights"),
    KEY_FLOAT("gan", "init_bias", init_bias, -10, 0, 10, 0, "0.1", "initial biases"),
    KEY_FLOAT("gan", "leak", leak, 0, 0, 1, 1, "0.2", "DCGAN: slope of D's LeakyReLU below 0"),
    KEY_ENUM("gan", "d_optimizer", d_optimizer, "sgd|adam|rmsprop", "sgd", "the discriminator's optimizer"),
    KEY_FLOAT("gan", "d_lr", d_lr, 0, 1, 10, 0, "0.01", "the discriminator's learning rate"),
    KEY_FLOAT("gan", "d_beta1", d_beta1, 0, 0, 1, 1, "0.9", "the discriminator's Adam beta1"),
    KEY_ENUM("gan", "g_optimizer", g_optimizer, "sgd|adam|rmsprop", "adam", "the generator's optimizer"),
    KEY_FLOAT("gan", "g_lr", g_lr, 0, 1, 10, 0, "0.001", "the generator's learning rate"),
    KEY_FLOAT("gan", "g_beta1", g_beta1, 0, 0, 1, 1, "0.9", "the generator's Adam beta1"),
    KEY_INT("gan", "g_steps", g_steps, 1, 7, "1", "generator updates per discriminator update"),
    KEY_INT("train", "iterations", iterations, 1, 1000000000, "100000",
            "GANs: training iterations (batches); a file that sets train.epochs and not this trains by epochs"),
    KEY_INT("train", "log_every", log_every, 0, 1000000000, "10",
            "GANs: record the losses' mean over every N iterations (series iter_*; 0 = per epoch only)"),
    KEY_INT("eval", "sample_every", sample_every, 0, 1000000000, "1000",
            "GANs: evaluate (samples from fixed noise, sample quality) every N iterations (0 = at the end only)"),
    GS_JUDGE_KEYS(gan_settings, 0),
    GS_QUALITY_KEYS(gan_settings, 0),
};
#define NKEYS ((int)(sizeof gan_keys / sizeof gan_keys[0]))

/* The write-ups' settings where they differ from the MLP GAN's: Adam eps as in TensorFlow and
 * PyTorch (1e-8) for all, and the DCGAN rules. */
static const char *const gan_defaults[] = {"train.batch_size", "500", "train.eps", "1e-8", NULL};
static const char *const dcgan_defaults[] = {
    "train.batch_size", "64", "train.eps", "1e-8", "gan.noise", "uniform", "gan.init_std", "0.02",
    "gan.d_optimizer", "adam", "gan.d_lr", "0.0002", "gan.d_beta1", "0.5", "gan.g_lr", "0.0002",
    "gan.g_beta1", "0.5", "gan.g_steps", "2", NULL};

static int validate(const gs_config *c, gs_error *err) {
  gan_settings s;
  gs_config_read(c, gan_keys, NKEYS, &s);
  /* the networks have their own optimisers: a train.lr grid would train the same run again */
  if (c->lr != 0.001)
    return gs_fail(err, "train.lr = %g: the GAN models do not read train.lr; set gan.d_lr and gan.g_lr (the two "
                   "networks' learning rates)", c->lr);
  /* the probes during training come at evaluations (runner/probes.h): every probe.every-th
   * iteration must be one */
  if (c->probe_every > 0 && (s.sample_every <= 0 || c->probe_every % s.sample_every != 0))
    return gs_fail(err, "probe.every = %ld: a GAN probes during training at its evaluations, every eval.sample_every = "
                   "%ld iterations; make probe.every a multiple of it", (long)c->probe_every, (long)s.sample_every);
  if (s.labelled > 0 && strcmp(s.conditioning, "acgan") != 0)
    return gs_fail(err, "gan.labelled = %ld: only an AC-GAN (gan.conditioning = acgan) has a class term", s.labelled);
  if (s.labelled > 0) {
    const gs_data_sizes *d = gs_dataset_sizes_cached(c->dataset);
    long n = d ? gs_train_count(d->train, c->train_size, c->val_split) : c->train_size;
    if (n > 0 && s.labelled > n)
      return gs_fail(err, "gan.labelled = %ld is larger than the training set (%ld images)", s.labelled, n);
  }
  return 0;
}

static void schedule(const gs_config *c, gs_schedule *out) {
  gan_settings s;
  gs_config_read(c, gan_keys, NKEYS, &s);
  out->iterations = s.iterations; /* 0 when the file chose train.epochs */
  out->log_every = s.log_every;
  out->eval_every = s.sample_every;
}

/* ------------------------------------------------------------------ the model */

typedef enum { ARCH_MLP, ARCH_DC1, ARCH_DC4 } arch;
enum { COND_NONE, COND_CGAN, COND_ACGAN };
#define MAX_BN 8
#define GRID 64          /* samples from fixed noise */
#define PROGRESS_COLS 8  /* samples per evaluation in the progress image */
#define PROGRESS_MAX 200 /* evaluations shown */

typedef struct bn_layer {
  gs_tensor *gamma, *beta;
  float *mean, *var;  /* running statistics */
  int C;
} bn_layer;

struct gs_model {
  arch a;
  int cond, C;        /* conditioning; classes (labels one-hot width, 0 for none) */
  int D, H, W, Z;     /* image size, noise dimension */
  gan_settings s;
  const gs_config *cfg;
  gs_params p;
  int gd, gg;         /* parameter groups: discriminator, generator */
  /* MLP */
  gs_tensor *dw1, *db1, *dw2, *db2, *dcw, *dcb;   /* D: hidden, source head, class head */
  gs_tensor *gw1, *gb1, *gw2, *gb2;              /* G */
  /* DCGAN */
  gs_tensor *dconv_w[4], *dconv_b[4];
  gs_tensor *gfc_w, *gfc_b;
  int gdeconv;                                   /* deconvolutions of G */
  gs_tensor *gdc_w[4], *gdc_b[4];
  int g_c0, g_s0;                                /* G's first feature map: channels, side */
  int nbn;
  bn_layer bn[MAX_BN];                           /* D: 1..3 -> bn[0..2]; G: bn[3..] */
  gs_graph g;
  /* buffers for the global batch */
  float *xbuf, *ybuf, *zbuf, *fbuf, *yfbuf, *ones, *zeros, *mask;
  int32_t *yfake;
  int bufrows;
  uint8_t *labelled;  /* training example i enters the class term (gan.labelled > 0) */
  long ntrain;
  /* progress image: PROGRESS_COLS samples from fixed noise per evaluation */
  uint8_t *progress;
  long nprogress;
  const gs_reducer *red; /* the training step's group (NULL outside a step) */
  float bn_momentum;     /* running-statistics update; 0: the default 0.1 */
  gs_tensor *dlayer[4];  /* DCGAN: D's conv layers' outputs of the last disc() (graph-owned) */
  const gs_model_def *def;
};

static int arch_feat(const gs_model *m) { return m->a == ARCH_MLP ? (int)m->s.hidden : 512; }

static void declare(gs_model *m, const char *name, int ndim, int d0, int d1, int d2, int d3) {
  int s[4] = {d0, d1, d2, d3};
  gs_params_declare(&m->p, name, ndim, s);
}

static gs_tensor *param(gs_model *m, const char *name) { return gs_params_get(&m->p, name); }

static void declare_bn(gs_model *m, const char *prefix, int C) {
  char nm[64];
  snprintf(nm, sizeof nm, "%s.gamma", prefix);
  declare(m, nm, 1, C, 0, 0, 0);
  snprintf(nm, sizeof nm, "%s.beta", prefix);
  declare(m, nm, 1, C, 0, 0, 0);
}

static void destroy(gs_model *m);
extern const gs_model_def gs_model_gan, gs_model_dcgan1, gs_model_dcgan4;

/* the model of settings s (the run's keys, or a variant of them: finetune's classifier) */
static gs_model *create_s(const gs_config *cfg, const gan_settings *sp, const gs_dataset *ds, gs_rng *init, arch a,
                          gs_error *err) {
  const gan_settings s = *sp;
  int cond = strcmp(s.conditioning, "cgan") == 0 ? COND_CGAN : strcmp(s.conditioning, "acgan") == 0 ? COND_ACGAN : COND_NONE;
  int C = ds->train.n_classes;
  if (cond != COND_NONE && (C < 2 || !ds->train.labels)) {
    gs_fail(err, "gan.conditioning = %s needs class labels with at least 2 classes (data set %s has %d)",
            s.conditioning, ds->name, C);
    return NULL;
  }
  if (s.labelled > 0 && s.labelled % C != 0) {
    gs_fail(err, "gan.labelled = %ld is not a multiple of the data set's %d classes (the subset is class-balanced)",
            s.labelled, C);
    return NULL;
  }
  if (a != ARCH_MLP && (ds->train.h != 28 || ds->train.w != 28)) {
    gs_fail(err, "%s: the DCGAN architectures are built for 28x28 images (data set %s has %dx%d)",
            a == ARCH_DC1 ? "dcgan1" : "dcgan4", ds->name, ds->train.h, ds->train.w);
    return NULL;
  }
  gs_model *m = gs_calloc(1, sizeof *m);
  m->a = a;
  m->def = a == ARCH_MLP ? &gs_model_gan : a == ARCH_DC1 ? &gs_model_dcgan1 : &gs_model_dcgan4;
  m->s = s;
  m->cfg = cfg;
  m->cond = cond;
  m->C = cond != COND_NONE ? C : 0;
  m->D = (int)ds->train.dim;
  m->H = ds->train.h;
  m->W = ds->train.w;
  m->Z = (int)s.noise_dim;
  int yin = cond == COND_CGAN ? m->C : 0; /* label width at the inputs */
  int nclass = cond == COND_ACGAN ? m->C : 0;

  /* discriminator, then generator: two parameter groups */
  m->gd = gs_params_group(&m->p, "disc");
  if (a == ARCH_MLP) {
    int h = (int)s.hidden;
    declare(m, "d1.w", 2, m->D + yin, h, 0, 0);
    declare(m, "d1.b", 1, h, 0, 0, 0);
    declare(m, "d_src.w", 2, h, 1, 0, 0);
    declare(m, "d_src.b", 1, 1, 0, 0, 0);
    if (nclass) {
      declare(m, "d_cls.w", 2, h, nclass, 0, 0);
      declare(m, "d_cls.b", 1, nclass, 0, 0, 0);
    }
  } else {
    const int ch[5] = {1 + yin, 16, 32, 64, 128};
    char nm[32];
    for (int l = 0; l < 4; l++) {
      snprintf(nm, sizeof nm, "dconv%d.w", l + 1);
      declare(m, nm, 4, ch[l + 1], ch[l], 5, 5);
      snprintf(nm, sizeof nm, "dconv%d.b", l + 1);
      declare(m, nm, 1, ch[l + 1], 0, 0, 0);
      if (l > 0) {
        snprintf(nm, sizeof nm, "dbn%d", l + 1);
        declare_bn(m, nm, ch[l + 1]);
      }
    }
    declare(m, "d_src.w", 2, 512, 1, 0, 0);
    declare(m, "d_src.b", 1, 1, 0, 0, 0);
    if (nclass) {
      declare(m, "d_cls.w", 2, 512, nclass, 0, 0);
      declare(m, "d_cls.b", 1, nclass, 0, 0, 0);
    }
  }
  m->gg = gs_params_group(&m->p, "gen");
  int zin = m->Z + (cond != COND_NONE ? m->C : 0);
  if (a == ARCH_MLP) {
    int h = (int)s.hidden;
    declare(m, "g1.w", 2, zin, h, 0, 0);
    declare(m, "g1.b", 1, h, 0, 0, 0);
    declare(m, "g2.w", 2, h, m->D, 0, 0);
    declare(m, "g2.b", 1, m->D, 0, 0, 0);
  } else {
    /* model 1: 7x7x128 -> 64 -> 1; model 4: 2x2x512 -> 256 -> 128 -> 64 -> 1 */
    static const int ch1[] = {128, 64, 1}, ch4[] = {512, 256, 128, 64, 1};
    const int *ch = a == ARCH_DC1 ? ch1 : ch4;
    m->gdeconv = a == ARCH_DC1 ? 2 : 4;
    m->g_c0 = ch[0];
    m->g_s0 = a == ARCH_DC1 ? 7 : 2;
    declare(m, "gfc.w", 2, zin, m->g_c0 * m->g_s0 * m->g_s0, 0, 0);
    declare(m, "gfc.b", 1, m->g_c0 * m->g_s0 * m->g_s0, 0, 0, 0);
    declare_bn(m, "gbn0", ch[0]);
    char nm[32];
    for (int l = 0; l < m->gdeconv; l++) {
      snprintf(nm, sizeof nm, "gdeconv%d.w", l + 1);
      declare(m, nm, 4, ch[l], ch[l + 1], 5, 5);
      snprintf(nm, sizeof nm, "gdeconv%d.b", l + 1);
      declare(m, nm, 1, ch[l + 1], 0, 0, 0);
      if (l < m->gdeconv - 1) {
        snprintf(nm, sizeof nm, "gbn%d", l + 1);
        declare_bn(m, nm, ch[l + 1]);
      }
    }
  }
  gs_params_alloc(&m->p);

  /* initial values, in block order: weights truncated normal, biases gan.init_bias, batch norm 1 / 0 */
  for (int i = 0; i < m->p.count; i++) {
    gs_tensor *t = &m->p.t[i];
    const char *nm = m->p.info[i].name;
    size_t l = strlen(nm);
    if (l > 6 && strcmp(nm + l - 6, ".gamma") == 0) gs_init_constant(t, 1.0f);
    else if (l > 5 && strcmp(nm + l - 5, ".beta") == 0) gs_init_constant(t, 0.0f);
    else if (l > 2 && strcmp(nm + l - 2, ".b") == 0) gs_init_constant(t, (float)s.init_bias);
    else gs_init_truncated_normal(t, (float)s.init_std, init);
  }
  if (a == ARCH_MLP) {
    m->dw1 = param(m, "d1.w"), m->db1 = param(m, "d1.b");
    m->gw1 = param(m, "g1.w"), m->gb1 = param(m, "g1.b");
    m->gw2 = param(m, "g2.w"), m->gb2 = param(m, "g2.b");
  } else {
    char nm[32];
    for (int l = 0; l < 4; l++) {
      snprintf(nm, sizeof nm, "dconv%d.w", l + 1);
      m->dconv_w[l] = param(m, nm);
      snprintf(nm, sizeof nm, "dconv%d.b", l + 1);
      m->dconv_b[l] = param(m, nm);
    }
    m->gfc_w = param(m, "gfc.w"), m->gfc_b = param(m, "gfc.b");
    for (int l = 0; l < m->gdeconv; l++) {
      snprintf(nm, sizeof nm, "gdeconv%d.w", l + 1);
      m->gdc_w[l] = param(m, nm);
      snprintf(nm, sizeof nm, "gdeconv%d.b", l + 1);
      m->gdc_b[l] = param(m, nm);
    }
    /* batch-norm layers: D's 2..4 first, then G's */
    const char *bns[MAX_BN];
    int nb = 0;
    static const char *const dn[] = {"dbn2", "dbn3", "dbn4"}, *const gn[] = {"gbn0", "gbn1", "gbn2", "gbn3"};
    for (int i = 0; i < 3; i++) bns[nb++] = dn[i];
    for (int i = 0; i < m->gdeconv; i++) bns[nb++] = gn[i];
    m->nbn = nb;
    for (int i = 0; i < nb; i++) {
      snprintf(nm, sizeof nm, "%s.gamma", bns[i]);
      m->bn[i].gamma = param(m, nm);
      snprintf(nm, sizeof nm, "%s.beta", bns[i]);
      m->bn[i].beta = param(m, nm);
      m->bn[i].C = m->bn[i].gamma->n;
      m->bn[i].mean = gs_calloc((size_t)m->bn[i].C, sizeof(float));
      m->bn[i].var = gs_malloc(sizeof(float) * m->bn[i].C);
      for (int c = 0; c < m->bn[i].C; c++) m->bn[i].var[c] = 1.0f;
    }
  }
  m->dw2 = param(m, "d_src.w"), m->db2 = param(m, "d_src.b");
  if (nclass) m->dcw = param(m, "d_cls.w"), m->dcb = param(m, "d_cls.b");

  /* the labelled subset: gan.labelled / C examples of each class, drawn with the training seed */
  m->ntrain = ds->train.n;
  if (s.labelled > 0) {
    long per = s.labelled / C;
    m->labelled = gs_calloc((size_t)ds->train.n, 1);
    int32_t *order = gs_malloc(sizeof(int32_t) * ds->train.n);
    for (long i = 0; i < ds->train.n; i++) order[i] = (int32_t)i;
    gs_rng r;
    gs_rng_seed(&r, (uint64_t)cfg->seed, 1, GS_RNG_DATA);
    gs_rng_shuffle(&r, order, ds->train.n);
    long *taken = gs_calloc((size_t)C, sizeof(long)), total = 0;
    for (long i = 0; i < ds->train.n && total < s.labelled; i++) {
      int y = ds->train.labels[order[i]];
      if (taken[y] < per) {
        taken[y]++;
        total++;
        m->labelled[order[i]] = 1;
      }
    }
    free(order);
    free(taken);
    if (total < s.labelled) {
      gs_fail(err, "gan.labelled = %ld: the training set has fewer than %ld images of some class", s.labelled, per);
      destroy(m);
      return NULL;
    }
  }
  gs_graph_init(&m->g, a == ARCH_MLP ? 8u << 20 : 64u << 20);
  return m;
}

static gs_model *create(const gs_config *cfg, const gs_dataset *ds, gs_rng *init, arch a, gs_error *err) {
  gan_settings s;
  gs_config_read(cfg, gan_keys, NKEYS, &s);
  return create_s(cfg, &s, ds, init, a, err);
}

static gs_model *create_gan(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) { return create(c, d, r, ARCH_MLP, e); }
static gs_model *create_dc1(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) { return create(c, d, r, ARCH_DC1, e); }
static gs_model *create_dc4(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) { return create(c, d, r, ARCH_DC4, e); }

static gs_params *params(gs_model *m) { return &m->p; }

static int phases(gs_model *m, gs_phase *out) {
  static const char *const gname[] = {"g", "g2", "g3", "g4", "g5", "g6", "g7"};
  out[0] = (gs_phase){.name = "d", .groups = 1u << m->gd};
  for (int k = 0; k < m->s.g_steps; k++) out[1 + k] = (gs_phase){.name = gname[k], .groups = 1u << m->gg};
  return 1 + (int)m->s.g_steps;
}

static void optimizer(gs_model *m, int group, gs_optim_settings *o) {
  int d = group == m->gd;
  gs_optim_kind(d ? m->s.d_optimizer : m->s.g_optimizer, &o->kind);
  o->lr = (float)(d ? m->s.d_lr : m->s.g_lr);
  o->beta1 = (float)(d ? m->s.d_beta1 : m->s.g_beta1);
}

static void ensure_buffers(gs_model *m, int rows) {
  if (rows <= m->bufrows) return;
  float **f[] = {&m->xbuf, &m->ybuf, &m->zbuf, &m->fbuf, &m->yfbuf, &m->ones, &m->zeros, &m->mask};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(*f[i]);
  int C = m->C ? m->C : 1;
  m->xbuf = gs_aligned_alloc(sizeof(float) * rows * m->D);
  m->fbuf = gs_aligned_alloc(sizeof(float) * rows * m->D);
  m->ybuf = gs_aligned_alloc(sizeof(float) * rows * C);
  m->yfbuf = gs_aligned_alloc(sizeof(float) * rows * C);
  m->zbuf = gs_aligned_alloc(sizeof(float) * rows * m->Z);
  m->ones = gs_aligned_alloc(sizeof(float) * rows);
  m->zeros = gs_aligned_alloc(sizeof(float) * rows);
  m->mask = gs_aligned_alloc(sizeof(float) * rows);
  for (int i = 0; i < rows; i++) m->ones[i] = 1.0f, m->zeros[i] = 0.0f;
  free(m->yfake);
  m->yfake = gs_malloc(sizeof(int32_t) * rows);
  m->bufrows = rows;
}

/* ------------------------------------------------------------------ graph pieces */

/* batch norm over the global batch: its statistics summed over the worker group (m->red) */
static gs_tensor *bn(gs_model *m, gs_tensor *x, int layer, int training) {
  bn_layer *b = &m->bn[layer];
  float momentum = m->bn_momentum > 0 ? m->bn_momentum : 0.1f;
  return gs_batchnorm_group(&m->g, x, b->gamma, b->beta, b->mean, b->var, momentum, 1e-5f, training,
                            training ? m->red : NULL);
}

/* Label planes for the DCGAN cGAN discriminator: (b, C, H, W), plane c = y[c]. */
static gs_tensor *label_planes(gs_model *m, gs_tensor *y) {
  int b = y->shape[0], HW = m->H * m->W;
  int s[4] = {b, m->C, m->H, m->W};
  gs_tensor *t = gs_new(&m->g, 4, s, 0);
  for (int i = 0; i < b; i++)
    for (int c = 0; c < m->C; c++) {
      float v = y->x[(long)i * m->C + c];
      float *o = t->x + ((long)i * m->C + c) * HW;
      for (int k = 0; k < HW; k++) o[k] = v;
    }
  return t;
}

/* Image (b, 1, H, W) and label planes stacked as channels: (b, 1 + C, H, W). Each example's row
 * of the concatenation is its image plane, then its C label planes. */
static gs_tensor *with_label_planes(gs_model *m, gs_tensor *img, gs_tensor *y) {
  gs_graph *g = &m->g;
  int s[4] = {img->shape[0], 1 + m->C, m->H, m->W};
  return gs_reshape(g, gs_concat(g, gs_flatten(g, img), gs_flatten(g, label_planes(m, y))), 4, s);
}

/* D: images x (b, D) in [0, 1] (and one-hot labels y for cgan) -> source logits (b, 1); class
 * logits (b, C) into *cls for acgan; its last hidden layer (b, arch_feat) into *feat (may be
 * NULL); training selects batch or running statistics. */
static gs_tensor *disc(gs_model *m, gs_tensor *x, gs_tensor *y, int training, gs_tensor **cls, gs_tensor **feat) {
  gs_graph *g = &m->g;
  gs_tensor *h;
  if (m->a == ARCH_MLP) {
    gs_tensor *in = m->cond == COND_CGAN ? gs_concat(g, x, y) : x;
    h = gs_dense_relu(g, in, m->dw1, m->db1);
  } else {
    int b = x->shape[0];
    int s[4] = {b, 1, m->H, m->W};
    h = gs_reshape(g, x, 4, s);
    if (m->cond == COND_CGAN) h = with_label_planes(m, h, y);
    for (int l = 0; l < 4; l++) {
      h = gs_conv2d(g, h, m->dconv_w[l], m->dconv_b[l], 2, 2);
      if (l > 0) h = bn(m, h, l - 1, training);
      h = gs_leaky_relu(g, h, (float)m->s.leak);
      m->dlayer[l] = h; /* for the pooled features */
    }
    h = gs_flatten(g, h); /* (b, 512) */
  }
  if (feat) *feat = h;
  if (cls) *cls = m->cond == COND_ACGAN ? gs_dense(g, h, m->dcw, m->dcb) : NULL;
  return gs_dense(g, h, m->dw2, m->db2);
}

/* G: noise z (b, Z) (and one-hot labels y) -> images (b, D) in [0, 1] */
static gs_tensor *gen(gs_model *m, gs_tensor *z, gs_tensor *y, int training) {
  gs_graph *g = &m->g;
  gs_tensor *in = m->cond != COND_NONE ? gs_concat(g, z, y) : z;
  if (m->a == ARCH_MLP) {
    gs_tensor *h = gs_dense_relu(g, in, m->gw1, m->gb1);
    return gs_sigmoid(g, gs_dense(g, h, m->gw2, m->gb2));
  }
  int b = z->shape[0];
  gs_tensor *h = gs_dense(g, in, m->gfc_w, m->gfc_b);
  int s[4] = {b, m->g_c0, m->g_s0, m->g_s0};
  h = gs_relu(g, bn(m, gs_reshape(g, h, 4, s), 3, training));
  static const int op4[] = {1, 0, 1, 1};
  for (int l = 0; l < m->gdeconv; l++) {
    int op = m->a == ARCH_DC1 ? 1 : op4[l];
    h = gs_conv_transpose2d(g, h, m->gdc_w[l], m->gdc_b[l], 2, 2, op);
    if (l < m->gdeconv - 1) h = gs_relu(g, bn(m, h, 4 + l, training));
  }
  return gs_sigmoid(g, gs_flatten(g, h));
}

/* The noise of a whole batch (every rank draws the same) and, for conditional models, uniform
 * classes for the generated images (one-hot into yfbuf). */
/* n noise vectors of G's distribution (gan.noise) from r */
static void fill_noise(const gs_model *m, gs_rng *r, float *z, long n) {
  if (strcmp(m->s.noise, "uniform") == 0)
    for (long i = 0; i < n * m->Z; i++) z[i] = 2.0f * gs_rng_uniformf(r) - 1.0f;
  else
    gs_rng_normal_fill(r, z, n * m->Z);
}

static void draw_noise(gs_model *m, gs_rng *r, int B) {
  fill_noise(m, r, m->zbuf, B);
  if (m->cond == COND_NONE) return;
  memset(m->yfbuf, 0, sizeof(float) * B * m->C);
  for (int i = 0; i < B; i++) {
    m->yfake[i] = (int32_t)gs_rng_below(r, (uint64_t)m->C);
    m->yfbuf[(long)i * m->C + m->yfake[i]] = 1.0f;
  }
}

static double sum_sigmoid(const gs_tensor *logit) {
  double s = 0;
  for (int i = 0; i < logit->n; i++) s += 1.0 / (1.0 + exp(-(double)logit->x[i]));
  return s;
}

/* ------------------------------------------------------------------ training step */
static double train_step(gs_model *m, const gs_batch *batch, int phase, gs_rng *noise, gs_losses *losses) {
  int B = batch->B, lo = batch->lo, hi = batch->hi, b = hi - lo;
  ensure_buffers(m, B);
  m->red = batch->group;
  draw_noise(m, noise, B);
  gs_graph *g = &m->g;
  gs_tensor *y_fake;
  float w = (float)m->s.class_weight;
  if (phase == 0) {
    /* the generated images, without a tape: D's step does not reach G */
    gs_graph_begin(g, NULL, 0);
    y_fake = m->cond != COND_NONE ? gs_wrap2(g, m->yfbuf + (long)lo * m->C, b, m->C) : NULL;
    gs_tensor *fake = gen(m, gs_wrap2(g, m->zbuf + (long)lo * m->Z, b, m->Z), y_fake, 1);
    memcpy(m->fbuf, fake->x, sizeof(float) * b * m->D);

    gs_graph_begin(g, &m->p, 1);
    gs_imageset_batch(batch->set, batch->idx + lo, b, m->xbuf, m->cond != COND_NONE ? m->ybuf : NULL);
    gs_tensor *y_real = m->cond != COND_NONE ? gs_wrap2(g, m->ybuf, b, m->C) : NULL;
    y_fake = m->cond != COND_NONE ? gs_wrap2(g, m->yfbuf + (long)lo * m->C, b, m->C) : NULL;
    gs_tensor *cr = NULL, *cf = NULL;
    gs_tensor *lr = disc(m, gs_wrap2(g, m->xbuf, b, m->D), y_real, 1, &cr, NULL);
    gs_tensor *lf = disc(m, gs_wrap2(g, m->fbuf, b, m->D), y_fake, 1, &cf, NULL);
    gs_tensor *rows = gs_add(g, gs_bernoulli_nll(g, lr, gs_wrap2(g, m->ones, b, 1)),
                             gs_bernoulli_nll(g, lf, gs_wrap2(g, m->zeros, b, 1)));
    double class_sum = 0;
    if (m->cond == COND_ACGAN) {
      gs_tensor *ce_real = gs_softmax_ce(g, cr, y_real);
      if (m->labelled) { /* only the labelled subset's real images */
        for (int i = 0; i < b; i++) m->mask[i] = m->labelled[batch->idx[lo + i]] ? 1.0f : 0.0f;
        ce_real = gs_mul(g, ce_real, gs_wrap(g, m->mask, 1, &b));
      }
      gs_tensor *cls = gs_scale(g, gs_add(g, ce_real, gs_softmax_ce(g, cf, y_fake)), w);
      for (int i = 0; i < b; i++) class_sum += cls->x[i];
      rows = gs_add(g, rows, cls);
    }
    gs_tensor *loss = gs_sum(g, rows);
    gs_backward(g, loss, 1.0f / (float)B);
    gs_losses_add(losses, "d_real", sum_sigmoid(lr)); /* mean D(x) */
    gs_losses_add(losses, "d_fake", sum_sigmoid(lf)); /* mean D(G(z)) before D's step */
    if (m->cond == COND_ACGAN) gs_losses_add(losses, "d_class", class_sum);
    m->red = NULL;
    return loss->x[0];
  }
  /* a G step: through D held fixed, to D's verdict "real" (and the drawn class) */
  gs_graph_begin(g, &m->p, 1);
  y_fake = m->cond != COND_NONE ? gs_wrap2(g, m->yfbuf + (long)lo * m->C, b, m->C) : NULL;
  gs_tensor *fake = gen(m, gs_wrap2(g, m->zbuf + (long)lo * m->Z, b, m->Z), y_fake, 1);
  gs_tensor *cf = NULL;
  gs_tensor *lf = disc(m, fake, y_fake, 1, &cf, NULL);
  gs_tensor *rows = gs_bernoulli_nll(g, lf, gs_wrap2(g, m->ones, b, 1));
  if (m->cond == COND_ACGAN) {
    gs_tensor *cls = gs_scale(g, gs_softmax_ce(g, cf, y_fake), w);
    double cs = 0;
    for (int i = 0; i < b; i++) cs += cls->x[i];
    if (phase == 1) gs_losses_add(losses, "g_class", cs);
    rows = gs_add(g, rows, cls);
  }
  gs_tensor *loss = gs_sum(g, rows);
  gs_backward(g, loss, 1.0f / (float)B);
  m->red = NULL;
  return loss->x[0];
}

/* ------------------------------------------------------------------ features */
/* D's last hidden layer: the MLP's hidden units, the DCGAN's last convolution (2x2x128). Batch
 * norm with running statistics. cgan: with the example's own label. */
static int feature_dim(gs_model *m) { return arch_feat(m); }
static void features(gs_model *m, const gs_imageset *set, const int32_t *idx, int n, float *out) {
  enum { CHUNK = 500 };
  ensure_buffers(m, CHUNK);
  int F = arch_feat(m);
  gs_graph *g = &m->g;
  for (int start = 0; start < n; start += CHUNK) {
    int b = n - start < CHUNK ? n - start : CHUNK;
    gs_imageset_batch(set, idx + start, b, m->xbuf, m->cond != COND_NONE ? m->ybuf : NULL);
    gs_graph_begin(g, NULL, 0);
    gs_tensor *h;
    disc(m, gs_wrap2(g, m->xbuf, b, m->D), m->cond != COND_NONE ? gs_wrap2(g, m->ybuf, b, m->C) : NULL, 0, NULL, &h);
    memcpy(out + (long)start * F, h->x, sizeof(float) * (size_t)b * F);
  }
}

/* The contract's features_read_label: a cGAN's D is given each image's class. */
static const char *features_read_label(gs_model *m) {
  return m->cond == COND_CGAN ? "a cGAN's discriminator takes each image's class as an input, so a classifier on its "
                                "features would be given the label"
                              : NULL;
}

/* The contract's further features: "class_head", the AC-GAN's class logits (C); "pooled", each of D's conv layers (after its activation)
 * max-pooled to a 2 x 2 grid (adaptive: window i of a side of length L spans
 * [floor(i L / 2), ceil((i + 1) L / 2))) and concatenated, channel-major within a layer:
 * 4 x (16 + 32 + 64 + 128) = 960 for the DCGAN discriminator. */
static int feature_dim_kind(gs_model *m, const char *kind) {
  if (strcmp(kind, "class_head") == 0) return m->cond == COND_ACGAN ? m->C : 0;
  if (strcmp(kind, "pooled") != 0 || m->a == ARCH_MLP) return 0;
  int F = 0;
  for (int l = 0; l < 4; l++) F += 4 * m->dconv_w[l]->shape[0];
  return F;
}

static void features_kind(gs_model *m, const char *kind, const gs_imageset *set, const int32_t *idx, int n, float *out) {
  enum { CHUNK = 500 };
  ensure_buffers(m, CHUNK);
  int F = feature_dim_kind(m, kind);
  if (F == 0) return;
  gs_graph *g = &m->g;
  int head = strcmp(kind, "class_head") == 0;
  for (int start = 0; start < n; start += CHUNK) {
    int b = n - start < CHUNK ? n - start : CHUNK;
    gs_imageset_batch(set, idx + start, b, m->xbuf, m->cond != COND_NONE ? m->ybuf : NULL);
    gs_graph_begin(g, NULL, 0);
    gs_tensor *cls = NULL;
    disc(m, gs_wrap2(g, m->xbuf, b, m->D), m->cond != COND_NONE ? gs_wrap2(g, m->ybuf, b, m->C) : NULL, 0,
         head ? &cls : NULL, NULL);
    if (head) { /* the AC-GAN's class logits */
      memcpy(out + (long)start * F, cls->x, sizeof(float) * (size_t)b * F);
      continue;
    }
    for (int i = 0; i < b; i++) {
      float *o = out + (long)(start + i) * F;
      for (int l = 0; l < 4; l++) {
        const gs_tensor *t = m->dlayer[l];
        int Cl = t->shape[1], H = t->shape[2], W = t->shape[3];
        for (int c = 0; c < Cl; c++) {
          const float *p = t->x + (((long)i * Cl + c) * H) * W;
          for (int wy = 0; wy < 2; wy++)
            for (int wx = 0; wx < 2; wx++) {
              int y0 = wy * H / 2, y1 = ((wy + 1) * H + 1) / 2, x0 = wx * W / 2, x1 = ((wx + 1) * W + 1) / 2;
              float mx = -INFINITY;
              for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++) mx = fmaxf(mx, p[yy * W + xx]);
              *o++ = mx;
            }
        }
      }
    }
  }
}

/* The contract's refresh_statistics: D's batch-norm running statistics become the average of
 * the per-batch statistics of these images (batches of 1,000; momentum 1/k at batch k). */
static void refresh_statistics(gs_model *m, const gs_imageset *set) {
  enum { CHUNK = 1000 };
  ensure_buffers(m, CHUNK);
  int32_t *idx = gs_malloc(sizeof(int32_t) * CHUNK);
  const gs_reducer *red = m->red;
  m->red = NULL;
  long k = 0;
  for (long start = 0; start + CHUNK <= set->n || (start == 0 && set->n > 1); start += CHUNK) {
    int b = set->n - start < CHUNK ? (int)(set->n - start) : CHUNK;
    for (int i = 0; i < b; i++) idx[i] = (int32_t)(start + i);
    gs_imageset_batch(set, idx, b, m->xbuf, m->cond != COND_NONE ? m->ybuf : NULL);
    m->bn_momentum = 1.0f / (float)(++k);
    gs_graph_begin(&m->g, NULL, 0);
    disc(m, gs_wrap2(&m->g, m->xbuf, b, m->D), m->cond != COND_NONE ? gs_wrap2(&m->g, m->ybuf, b, m->C) : NULL, 1, NULL,
         NULL);
  }
  m->bn_momentum = 0;
  m->red = red;
  free(idx);
}

/* ------------------------------------------------------------------ fine-tuned as a classifier */

/* The contract's finetune: the write-up's "discriminator" row (SCIENCE.md §2), D itself trained
 * further as a classifier. A copy of D (every discriminator weight and batch-norm statistic of m)
 * gets a new C-way class head, the AC-GAN's d_cls initialised as create() initialises it (from
 * rng); then cross-entropy on the labelled examples, body and head together, with D's own
 * optimiser (gan.d_optimizer, d_lr, d_beta1: the settings D was trained with), batch norm on
 * batch statistics, batches of train.batch_size from shuffled passes over the examples, for
 * ft->epochs passes or ft->min_steps steps, whichever is more (100 labels are two batches: a few
 * epochs would train nothing). Then the argmax of the head on every test image, running
 * statistics. m is not changed. A cGAN's D takes the class as an input, so it has none to give. */
static int finetune(gs_model *m, const gs_dataset *ds, const int32_t *idx, long n, const gs_finetune *ft, gs_rng *rng,
                    int *pred, gs_error *err) {
  if (m->cond == COND_CGAN)
    return gs_fail(err, "a cGAN's discriminator takes the class as an input: it cannot be fine-tuned as a classifier");
  if (n < 1) return 0; /* n = 0 asks whether it can */
  gan_settings s = m->s;
  GS_STRCPY(s.conditioning, "acgan");
  s.labelled = 0;
  gs_model *f = create_s(m->cfg, &s, ds, rng, m->a, err);
  if (!f) return -1;
  /* D's trained weights by name; the new head (d_cls) keeps its initial values, d_src is unused */
  const gs_param_group *dg = &m->p.group[m->gd];
  for (int i = dg->first; i < dg->first + dg->count; i++)
    if (strncmp(m->p.info[i].name, "d_cls.", 6) != 0)
      memcpy(gs_params_get(&f->p, m->p.info[i].name)->x, m->p.t[i].x, sizeof(float) * (size_t)m->p.info[i].n);
  for (int l = 0; l < 3 && m->a != ARCH_MLP; l++) { /* D's batch-norm layers come first */
    memcpy(f->bn[l].mean, m->bn[l].mean, sizeof(float) * (size_t)m->bn[l].C);
    memcpy(f->bn[l].var, m->bn[l].var, sizeof(float) * (size_t)m->bn[l].C);
  }
  gs_params_freeze(&f->p, f->gg, 1);
  const gs_param_group *fd = &f->p.group[f->gd];
  gs_optim_settings os = {.lr = (float)s.d_lr, .beta1 = (float)s.d_beta1, .beta2 = (float)m->cfg->beta2,
                          .eps = (float)m->cfg->eps, .rho = (float)m->cfg->rho, .momentum = (float)m->cfg->momentum};
  gs_optim_kind(s.d_optimizer, &os.kind);
  float *mom = gs_calloc((size_t)fd->n, sizeof(float)), *vel = gs_calloc((size_t)fd->n, sizeof(float));
  gs_optim opt;
  gs_optim_init_view(&opt, &os, fd->offset, fd->n, mom, vel);

  int B = (int)(m->cfg->batch_size < n ? m->cfg->batch_size : n);
  long per_pass = n / B, steps = ft->epochs * per_pass;
  if (steps < ft->min_steps) steps = ft->min_steps;
  enum { CHUNK = 500 };
  ensure_buffers(f, B > CHUNK ? B : CHUNK);
  int32_t *order = gs_malloc(sizeof(int32_t) * (size_t)n);
  memcpy(order, idx, sizeof(int32_t) * (size_t)n);
  gs_graph *g = &f->g;
  long at = n; /* position in the current pass: a new pass (shuffled) when fewer than B are left */
  for (long t = 0; t < steps; t++) {
    if (at + B > n) {
      gs_rng_shuffle(rng, order, n);
      at = 0;
    }
    gs_graph_begin(g, &f->p, 1);
    gs_imageset_batch(&ds->train, order + at, B, f->xbuf, f->ybuf);
    at += B;
    gs_tensor *logits = NULL;
    disc(f, gs_wrap2(g, f->xbuf, B, f->D), NULL, 1, &logits, NULL);
    gs_backward(g, gs_sum(g, gs_softmax_ce(g, logits, gs_wrap2(g, f->ybuf, B, f->C))), 1.0f / (float)B);
    gs_optim_step(&opt, f->p.data, f->p.grad);
    if (t % 16 == 15) gs_poll();
  }
  const gs_imageset *te = &ds->test;
  int32_t *rows = gs_malloc(sizeof(int32_t) * CHUNK);
  int diverged = 0; /* a logit not finite: its argmax would mean nothing */
  for (long start = 0; start < te->n; start += CHUNK) {
    int b = te->n - start < CHUNK ? (int)(te->n - start) : CHUNK;
    for (int i = 0; i < b; i++) rows[i] = (int32_t)(start + i);
    gs_imageset_batch(te, rows, b, f->xbuf, NULL);
    gs_graph_begin(g, NULL, 0);
    gs_tensor *logits = NULL;
    disc(f, gs_wrap2(g, f->xbuf, b, f->D), NULL, 0, &logits, NULL);
    for (int i = 0; i < b; i++) {
      const float *l = logits->x + (long)i * f->C;
      int best = 0;
      for (int k = 0; k < f->C; k++) {
        if (!isfinite(l[k])) diverged = 1;
        if (l[k] > l[best]) best = k;
      }
      pred[start + i] = best;
    }
  }
  free(rows), free(order), free(mom), free(vel);
  gs_optim_free(&opt);
  destroy(f);
  return diverged;
}

/* ------------------------------------------------------------------ evaluation */

/* G's images (evaluation mode) for noise z and classes cls (NULL: unconditional) -> uint8 */
static void generate(gs_model *m, const float *z, const int *cls, int n, uint8_t *out) {
  enum { CHUNK = 500 };
  gs_graph *g = &m->g;
  float *y = m->C ? gs_calloc((size_t)CHUNK * m->C, sizeof(float)) : NULL;
  for (int start = 0; start < n; start += CHUNK) {
    int b = n - start < CHUNK ? n - start : CHUNK;
    if (y) {
      memset(y, 0, sizeof(float) * CHUNK * m->C);
      for (int i = 0; i < b; i++) y[(long)i * m->C + (cls ? cls[start + i] : 0)] = 1.0f;
    }
    gs_graph_begin(g, NULL, 0);
    gs_tensor *img = gen(m, gs_wrap2(g, (float *)z + (long)start * m->Z, b, m->Z), y ? gs_wrap2(g, y, b, m->C) : NULL, 0);
    gs_to_u8(img->x, out + (long)start * m->D, (long)b * m->D);
  }
  free(y);
}

/* the contract's generate: noise from rng, classes in turn */
static int generate_hook(gs_model *m, long n, gs_rng *rng, uint8_t *out, int *cls) {
  float *z = gs_malloc(sizeof(float) * n * m->Z);
  fill_noise(m, rng, z, n);
  for (long i = 0; m->C && i < n; i++) cls[i] = (int)(i % m->C);
  generate(m, z, m->C ? cls : NULL, (int)n, out);
  free(z);
  return m->C > 0;
}

/* The fixed noise of a run's pictures: n vectors from the sample stream of its seed, stream k. */
static void fixed_noise(gs_model *m, uint64_t k, float *z, int n) {
  gs_rng r;
  gs_rng_seed(&r, (uint64_t)m->cfg->seed, k, GS_RNG_SAMPLE);
  fill_noise(m, &r, z, n);
}

static void record_noise(gs_record *rec, const char *name, const float *z, int n, int Z) {
  double *v = gs_malloc(sizeof(double) * n * Z);
  for (long i = 0; i < (long)n * Z; i++) v[i] = z[i];
  long shape[2] = {n, Z};
  gs_record_array(rec, name, 2, shape, v);
  free(v);
}

/* 64 samples from fixed noise (conditional: one row per class, the same 8 noise vectors in
 * each); the latent walks of the write-up and an interpolation. */
static void final_pictures(gs_model *m, gs_record *rec) {
  int Z = m->Z, D = m->D, C = m->C;
  int n = C ? C * 8 : GRID, cols = 8;
  float *z = gs_malloc(sizeof(float) * (n > GRID ? n : GRID) * Z);
  int *cls = C ? gs_malloc(sizeof(int) * n) : NULL;
  fixed_noise(m, 0, z, GRID);
  if (C)
    for (int i = 0; i < n; i++) {
      memcpy(z + (long)i * Z, z + (long)(i % 8) * Z, sizeof(float) * Z);
      cls[i] = i / 8;
    }
  uint8_t *pix = gs_malloc((size_t)n * D);
  generate(m, z, cls, n, pix);
  gs_record_image_grid(rec, "samples", n, m->H, m->W, pix, cols);
  record_noise(rec, "pictures/samples_z", z, n, Z);
  free(pix);

  /* latent walks: from 4 starting points z0, z_k = z0 + k * 0.05 * (1, ..., 1) and z0 + k * d
   * with d ~ U(-0.05, 0.05)^Z; k = 0..11 */
  enum { STARTS = 4, STEPS = 12, INTERP = 10 };
  int nw = STARTS * STEPS;
  float *zw = gs_malloc(sizeof(float) * nw * Z), *z0 = gs_malloc(sizeof(float) * STARTS * 2 * Z);
  float *dir = gs_malloc(sizeof(float) * Z);
  int *cw = C ? gs_malloc(sizeof(int) * (nw > STARTS * INTERP ? nw : STARTS * INTERP)) : NULL;
  for (int i = 0; C && i < nw; i++) cw[i] = (i / STEPS) % C;
  fixed_noise(m, 1, z0, STARTS * 2);
  gs_rng r;
  gs_rng_seed(&r, (uint64_t)m->cfg->seed, 2, GS_RNG_SAMPLE);
  for (int j = 0; j < Z; j++) dir[j] = 0.1f * gs_rng_uniformf(&r) - 0.05f;
  uint8_t *wp = gs_malloc((size_t)nw * D);
  for (int which = 0; which < 2; which++) {
    for (int s = 0; s < STARTS; s++)
      for (int k = 0; k < STEPS; k++)
        for (int j = 0; j < Z; j++)
          zw[((long)s * STEPS + k) * Z + j] = z0[(long)s * Z + j] + (float)k * (which ? dir[j] : 0.05f);
    generate(m, zw, cw, nw, wp);
    gs_record_image_grid(rec, which ? "walk_random" : "walk_ones", nw, m->H, m->W, wp, STEPS);
    record_noise(rec, which ? "pictures/walk_random_z" : "pictures/walk_ones_z", zw, nw, Z);
  }
  /* interpolation between z0 (starts 0..3) and a second vector (starts 4..7) */
  int ni = STARTS * INTERP;
  float *zi = gs_malloc(sizeof(float) * ni * Z);
  for (int s = 0; s < STARTS; s++)
    for (int k = 0; k < INTERP; k++) {
      float t = (float)k / (INTERP - 1);
      for (int j = 0; j < Z; j++)
        zi[((long)s * INTERP + k) * Z + j] = (1 - t) * z0[(long)s * Z + j] + t * z0[(long)(STARTS + s) * Z + j];
    }
  for (int i = 0; C && i < ni; i++) cw[i] = (i / INTERP) % C;
  uint8_t *ip = gs_malloc((size_t)ni * D);
  generate(m, zi, cw, ni, ip);
  gs_record_image_grid(rec, "interpolation", ni, m->H, m->W, ip, INTERP);
  record_noise(rec, "pictures/interpolation_z", zi, ni, Z);
  free(ip);
  free(zi);
  free(wp);
  free(cw);
  free(dir);
  free(z0);
  free(zw);
  free(z);
  free(cls);
}

static int evaluate(gs_model *m, const gs_dataset *ds, const gs_when *when, gs_record *rec, gs_error *err) {
  /* progress: the same PROGRESS_COLS noise vectors (the first of the grid's) at every evaluation */
  if (m->nprogress < PROGRESS_MAX) {
    float *z = gs_malloc(sizeof(float) * GRID * m->Z);
    int cls[PROGRESS_COLS];
    for (int i = 0; i < PROGRESS_COLS; i++) cls[i] = m->C ? i % m->C : 0;
    fixed_noise(m, 0, z, GRID);
    m->progress = gs_realloc(m->progress, (size_t)(m->nprogress + 1) * PROGRESS_COLS * m->D);
    generate(m, z, m->C ? cls : NULL, PROGRESS_COLS, m->progress + (size_t)m->nprogress * PROGRESS_COLS * m->D);
    m->nprogress++;
    free(z);
    gs_record_image_grid(rec, "progress", (int)m->nprogress * PROGRESS_COLS, m->H, m->W, m->progress, PROGRESS_COLS);
  }
  if (when->final) final_pictures(m, rec);
  return gs_sample_quality_evaluate(m->def, m, m->cfg, ds, &m->s.quality, when->final, rec, err);
}

/* ------------------------------------------------------------------ state */
/* Batch-norm running statistics and the progress image so far. */
static void state_save(gs_model *m, gs_state *out) {
  char nm[GS_STATE_NAME];
  for (int i = 0; i < m->nbn; i++) {
    double *v = gs_malloc(sizeof(double) * 2 * m->bn[i].C);
    for (int c = 0; c < m->bn[i].C; c++) v[c] = m->bn[i].mean[c], v[m->bn[i].C + c] = m->bn[i].var[c];
    snprintf(nm, sizeof nm, "bn%d.running", i);
    gs_state_put_f64(out, nm, v, 2L * m->bn[i].C);
    free(v);
  }
  int64_t np = m->nprogress;
  gs_state_put_i64(out, "progress.n", &np, 1);
  if (np) gs_state_put(out, "progress.pixels", GS_STATE_U8, m->progress, np * PROGRESS_COLS * m->D);
}

static int state_load(gs_model *m, const gs_state *in, gs_error *err) {
  char nm[GS_STATE_NAME];
  const double *run[MAX_BN];
  for (int i = 0; i < m->nbn; i++) {
    snprintf(nm, sizeof nm, "bn%d.running", i);
    if (!(run[i] = gs_state_need(in, nm, GS_STATE_F64, 2L * m->bn[i].C, NULL, err))) return -1;
  }
  const int64_t *np = gs_state_need(in, "progress.n", GS_STATE_I64, 1, NULL, err);
  if (!np) return -1;
  if (*np < 0 || *np > PROGRESS_MAX) return gs_fail(err, "model state: 'progress.n' = %lld", (long long)*np);
  const uint8_t *pix = NULL;
  if (*np && !(pix = gs_state_need(in, "progress.pixels", GS_STATE_U8, *np * PROGRESS_COLS * m->D, NULL, err)))
    return -1;
  for (int i = 0; i < m->nbn; i++)
    for (int c = 0; c < m->bn[i].C; c++) m->bn[i].mean[c] = (float)run[i][c], m->bn[i].var[c] = (float)run[i][m->bn[i].C + c];
  m->nprogress = *np;
  m->progress = gs_realloc(m->progress, (size_t)(*np ? *np : 1) * PROGRESS_COLS * m->D);
  if (*np) memcpy(m->progress, pix, (size_t)*np * PROGRESS_COLS * m->D);
  return 0;
}

/* ------------------------------------------------------------------ cost */
/* Multiply-adds per generated or real image of G's and D's forward pass. */
static void flops(const gan_settings *s, arch a, long dim, double *fg, double *fd) {
  double z = (double)s->noise_dim + 10;
  if (a == ARCH_MLP) {
    *fg = z * s->hidden + (double)s->hidden * dim;
    *fd = ((double)dim + 10) * s->hidden + s->hidden * 11.0;
    return;
  }
  /* D: 5x5 convolutions 1->16 (14x14), 16->32 (7x7), 32->64 (4x4), 64->128 (2x2) */
  *fd = 25.0 * (16 * 196 + 16 * 32 * 49 + 32 * 64 * 16 + 64 * 128 * 4) + 512 * 11.0;
  if (a == ARCH_DC1) /* dense to 7x7x128, deconvs 128->64 (14x14), 64->1 (28x28): per input pixel */
    *fg = z * 6272 + 25.0 * (128 * 64 * 49 + 64 * 1 * 196);
  else /* dense to 2x2x512; deconvs 512->256 (from 2x2), 256->128 (4x4), 128->64 (7x7), 64->1 (14x14) */
    *fg = z * 2048 + 25.0 * (512 * 256 * 4 + 256 * 128 * 16 + 128 * 64 * 49 + 64 * 1 * 196);
}

static double cost_of(const gs_config *c, const gs_data_sizes *d, arch a) {
  gan_settings s;
  gs_config_read(c, gan_keys, NKEYS, &s);
  double fg, fd;
  flops(&s, a, d->dim, &fg, &fd);
  double iters = (double)s.iterations;
  if (s.iterations == 0) {
    long n = gs_train_count(d->train, c->train_size, c->val_split);
    iters = (double)c->epochs * (double)(n / c->batch_size);
  }
  /* per image: D step = G forward + D forward and backward on real and fake (2 x 3); each G
   * step = G forward and backward (3) + D forward and input gradient (2) */
  double per = fg + 6 * fd + s.g_steps * (3 * fg + 2 * fd);
  double evaluations = (s.sample_every > 0 ? floor((iters - 1) / (double)s.sample_every) : 0) + 1; /* + the last */
  return 2.0 * per * iters * (double)c->batch_size + gs_sample_quality_cost(&s.quality, d, evaluations);
}
static double cost_gan(const gs_config *c, const gs_data_sizes *d) { return cost_of(c, d, ARCH_MLP); }
static double cost_dc1(const gs_config *c, const gs_data_sizes *d) { return cost_of(c, d, ARCH_DC1); }
static double cost_dc4(const gs_config *c, const gs_data_sizes *d) { return cost_of(c, d, ARCH_DC4); }

static void destroy(gs_model *m) {
  if (!m) return;
  gs_params_free(&m->p);
  gs_graph_free(&m->g);
  for (int i = 0; i < m->nbn; i++) free(m->bn[i].mean), free(m->bn[i].var);
  float *f[] = {m->xbuf, m->ybuf, m->zbuf, m->fbuf, m->yfbuf, m->ones, m->zeros, m->mask};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
  free(m->yfake);
  free(m->labelled);
  free(m->progress);
  free(m);
}

static const gs_metric_label done_metrics[] = {
    {"frechet", "Frechet (judge)"}, {"judge_covered", "classes covered"}, {"judge_score", "judge score"}, {NULL, NULL}};

#define GAN_COMMON                                                                                              \
  .keys = gan_keys, .nkeys = NKEYS, .validate = validate, .headline = "frechet", .done_metrics = done_metrics, \
  .data = {.kind = GS_SAMPLES_IMAGES}, .schedule = schedule, .params = params, .phases = phases,               \
  .optimizer = optimizer, .train_step = train_step, .evaluate = evaluate, .feature_dim = feature_dim,            \
  .features = features, .feature_dim_kind = feature_dim_kind, .features_kind = features_kind,                  \
  .features_read_label = features_read_label,                  \
  .refresh_statistics = refresh_statistics, .finetune = finetune, .generate = generate_hook, .state_save = state_save, .state_load = state_load,       \
  .destroy = destroy

const gs_model_def gs_model_gan = {
    .name = "gan", .description = "GAN with MLP generator and discriminator (SCIENCE.md §2)",
    .about = "MLP GAN; gan.conditioning: cgan, acgan", .defaults = gan_defaults, .cost = cost_gan,
    .create = create_gan, GAN_COMMON};
const gs_model_def gs_model_dcgan1 = {
    .name = "dcgan1", .description = "DCGAN, generator of model 1 (7x7x128 -> 14x14x64 -> 28x28)",
    .about = "DCGAN model 1", .defaults = dcgan_defaults, .cost = cost_dc1, .create = create_dc1, GAN_COMMON};
const gs_model_def gs_model_dcgan4 = {
    .name = "dcgan4", .description = "DCGAN, generator of model 4 (2x2x512 -> ... -> 28x28)",
    .about = "DCGAN model 4", .defaults = dcgan_defaults, .cost = cost_dc4, .create = create_dc4, GAN_COMMON};
