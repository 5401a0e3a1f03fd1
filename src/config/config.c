/* Experiment files: the key table, value parsing, loading with inih, grid expansion, plan.
 *
 * Every key is described once, in gs_runner_keys[] here or in a model file's table, and gathered
 * by a gs_vocabulary; everything else (defaults,
 * parsing, canonical text, hashing, `gensweep --help`, run files) walks that table.
 *
 * Loading: the whole file is read into memory and fed to inih's ini_parse_stream through our
 * own reader function (line_reader), which
 *   - counts lines, so the key handler knows the current line number (the Debian inih is built
 *     without INI_HANDLER_LINENO);
 *   - reports lines that do not fit inih's line buffer as "line too long" instead of letting
 *     inih split them into pieces (which would also shift every later line number); over-long
 *     comment lines are accepted (passed on truncated: they stay comments);
 *   - strips indentation, which turns off inih's multi-line continuation values (an indented
 *     "key = value" line would otherwise be glued to the previous key's value);
 *   - checks section headers as they go by (inih does not call the handler for them).
 * The handler never fails (it returns 1) and collects errors in a list; inih's return value
 * is then the line of its first syntax error. The first error by line is reported. */
#include "gensweep/config/config.h"
#include "gensweep/data/data.h"
#include "gensweep/data/shapes.h"
#include "gensweep/core/rng.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ the runner's keys */

#define KEY_INT(sec, nm, f, lo, hi, d, h) GS_KEY_INT(gs_config, sec, nm, f, lo, hi, d, h)
#define KEY_FLOAT(sec, nm, f, lo, lo_open, hi, hi_open, d, h) \
  GS_KEY_FLOAT(gs_config, sec, nm, f, lo, lo_open, hi, hi_open, d, h)
#define KEY_STR(sec, nm, f, minlen, d, h) GS_KEY_STR(gs_config, sec, nm, f, minlen, d, h)
#define KEY_ENUM(sec, nm, f, ch, d, h) GS_KEY_ENUM(gs_config, sec, nm, f, ch, d, h)

/* keys hashed only away from their defaults (gs_key.neutral_at_default) */
#define N_STR(sec, nm, f, minlen, d, h)                                                                  \
  { .section = sec, .name = nm, .type = GS_KEY_STRING, GS_KEY_FIELD(gs_config, f), .min = minlen, .def = d, \
    .help = h, .neutral_at_default = 1 }
#define N_INT(sec, nm, f, lo, hi, d, h)                                                                      \
  { .section = sec, .name = nm, .type = GS_KEY_INT, GS_KEY_FIELD(gs_config, f), .min = lo, .max = hi, .def = d, \
    .help = h, .neutral_at_default = 1 }
#define N_FLOAT(sec, nm, f, lo, lo_open, hi, hi_open, d, h)                                                   \
  { .section = sec, .name = nm, .type = GS_KEY_FLOAT, GS_KEY_FIELD(gs_config, f), .min = lo, .max = hi,       \
    .min_open = lo_open, .max_open = hi_open, .def = d, .help = h, .neutral_at_default = 1 }
#define SEED_MAX 2147483647.0
#define SIZE_MAX_IMAGES 100000000.0

const gs_key gs_runner_keys[] = {
    KEY_STR("sweep", "name", sweep_name, 1, "sweep",
            "sweep name; results go to <results>/<name>/ (letters, digits, '.', '_', '-')"),
    KEY_STR("sweep", "description", description, 0, "", "free text describing the sweep"),
    KEY_STR("sweep", "results", results, 1, "results", "results root directory"),
    /* early stopping (runner/scheduler.h): which runs train how far; never part of a run's identity */
    KEY_ENUM("sweep", "scheduler", scheduler, "none|sha|asha", "none",
             "early stopping: none, sha (synchronous successive halving) or asha (asynchronous); runs train "
             "to rungs of min_resource * reduction^k epochs and only the best go on"),
    KEY_STR("sweep", "metric", sched_metric, 0, "",
            "the per-epoch series the scheduler ranks runs by (e.g. test_nelbo); empty: the model's headline"),
    KEY_ENUM("sweep", "mode", sched_mode, "min|max", "min", "min: a smaller metric is better; max: larger"),
    KEY_INT("sweep", "min_resource", sched_min_resource, 1, 100000, "1", "epochs of the first rung"),
    KEY_INT("sweep", "reduction", sched_reduction, 2, 1000, "3",
            "eta: each rung keeps the best 1/eta of its runs and trains them eta times longer"),
    KEY_INT("sweep", "max_resource", sched_max_resource, 0, 100000, "0",
            "epochs of the last rung; 0: the runs' train.epochs (it must equal them)"),

    KEY_STR("data", "dataset", dataset, 1, "fashion-mnist",
            "\"fashion-mnist\" or a directory holding MNIST-format IDX files"),
    KEY_INT("data", "train_size", train_size, 0, SIZE_MAX_IMAGES, "0",
            "training images used (the first N; 0 = all)"),
    KEY_INT("data", "test_size", test_size, 0, SIZE_MAX_IMAGES, "0", "test images used (the first N; 0 = all)"),
    KEY_FLOAT("data", "val_split", val_split, 0, 0, 0.9, 0, "0",
              "fraction of the training images held out for validation"),
    KEY_INT("data", "seed", data_seed, 0, SEED_MAX, "1",
            "seed of the data subset / validation split (and of the generated shapes)"),
    /* data.dataset = shapes: added after runs existed, so hashed only away from their defaults */
    N_INT("data", "shapes_train", shapes_train, 1, 10000000, "9600",
          "data.dataset = shapes: point clouds generated for training (8 classes in turn)"),
    N_INT("data", "shapes_test", shapes_test, 1, 10000000, "1920",
          "data.dataset = shapes: point clouds generated for testing (other clouds than the training ones)"),
    N_INT("data", "points", points, 1, 1048576, "2048", "point sets: points per cloud"),
    N_STR("data", "rotation", rotation, 1, "none",
          "data.dataset = shapes: random rotation of each cloud: none, z (about the vertical axis) or any"),
    N_FLOAT("data", "noise", noise, 0, 0, 0.2, 0, "0.005",
            "data.dataset = shapes: Gaussian noise on each point, in units of the cloud's radius"),
    N_FLOAT("data", "anisotropy", anisotropy, 0, 0, 0.5, 0, "0.1",
            "data.dataset = shapes: each axis stretched by exp(U(-a, a))"),

    /* choices, default and help: the registry's models (gs_vocabulary_init fills them in) */
    KEY_ENUM("model", "name", model, NULL, "", "model: "),

    KEY_INT("train", "epochs", epochs, 1, 100000, "10", "passes over the training set"),
    KEY_INT("train", "batch_size", batch_size, 1, 65536, "100", "minibatch size (split over the ranks of a run)"),
    KEY_ENUM("train", "optimizer", optimizer, "rmsprop|adam|sgd", "rmsprop", "optimizer: rmsprop, adam or sgd"),
    KEY_FLOAT("train", "lr", lr, 0, 1, 10, 0, "0.001", "learning rate"),
    KEY_FLOAT("train", "momentum", momentum, 0, 0, 1, 1, "0", "sgd momentum (0 = plain sgd)"),
    KEY_FLOAT("train", "rho", rho, 0, 0, 1, 1, "0.9", "rmsprop decay of the squared-gradient average"),
    KEY_FLOAT("train", "beta1", beta1, 0, 0, 1, 1, "0.9", "adam decay of the gradient average"),
    KEY_FLOAT("train", "beta2", beta2, 0, 0, 1, 1, "0.999", "adam decay of the squared-gradient average"),
    KEY_FLOAT("train", "eps", eps, 0, 1, 1, 0, "1e-7", "rmsprop / adam epsilon"),
    KEY_INT("train", "seed", seed, 0, SEED_MAX, "1", "training seed: initial weights, shuffling, sampling noise"),
    KEY_INT("train", "threads", threads, 1, 256, "1", "OpenBLAS threads per rank (changes the rounding; a checkpoint resumes only with its own count)"),
    KEY_INT("train", "ranks_per_run", ranks_per_run, 1, 4096, "1", "MPI ranks that train one run together"),
    KEY_INT("train", "checkpoint_every", checkpoint_every, 0, 100000, "1",
            "save a checkpoint every N epochs (0 = never)"),

    KEY_INT("eval", "eval_every", eval_every, 1, 100000, "1",
            "evaluate the test set every N epochs (and always after the last)"),

    /* linear probes: added after runs existed, so hashed only away from their defaults */
    N_STR("probe", "features", probe_features, 1, "none",
                    "linear probes after the last epoch: none, or model (the trained model's own features: a VAE's "
                    "posterior mean, a CAE's code, a GAN discriminator's last layer, pixels' pixels) and/or "
                    "untrained (the same from the run's initial weights, batch norm re-estimated: RND), pooled "
                    "(a DCGAN discriminator's conv layers max-pooled to 2x2, 960), untrained_pooled, class_head (an "
                    "AC-GAN's class head used directly), finetuned (a GAN's discriminator trained further as a "
                    "classifier on each labelled subset, with a new class head: the write-up's discriminator row)"),
    N_STR("probe", "budgets", probe_budgets, 1, "all, 1000, 100",
                    "label budgets: class-balanced labelled subsets of the training set (all = every image)"),
    N_STR("probe", "classifiers", probe_classifiers, 1, "svm, lr",
                    "svm (L2 squared hinge, LinearSVC's) and/or lr (L2 logistic regression), liblinear"),
    N_INT("probe", "repeats", probe_repeats, 1, 1000, "10", "subsets drawn for each budget below all"),
    N_FLOAT("probe", "c", probe_c, 0, 1, 1e12, 0, "1", "the classifiers' C (inverse regularisation)"),
    N_FLOAT("probe", "tol", probe_tol, 0, 1, 1, 0, "0.01", "liblinear's stopping tolerance (its -e)"),
    N_INT("probe", "seed", probe_seed, 0, SEED_MAX, "0",
                    "seed of the labelled subsets (the same subsets for every run, so rows compare)"),
    N_STR("probe", "c_grid", probe_c_grid, 0, "",
          "choose C for each labelled subset by stratified k-fold cross-validation among these values (e.g. "
          "0.01, 0.1, 1, 10; the best mean held-out accuracy, the smaller C on a tie); empty: probe.c"),
    N_INT("probe", "cv_folds", probe_cv_folds, 2, 20, "5", "folds of the cross-validation of probe.c_grid"),
    N_INT("probe", "finetune_epochs", probe_finetune_epochs, 1, 100000, "10",
          "probe.features = finetuned: passes over each labelled subset"),
    N_INT("probe", "finetune_min_steps", probe_finetune_min_steps, 0, 100000000, "500",
          "probe.features = finetuned: at least this many batches (train.batch_size) per subset"),
    N_INT("probe", "every", probe_every, 0, 1000000000, "0",
          "also probe during training, at evaluations every N iterations (GANs) or epochs (0 = at the end "
          "only): series probe_<classifier>_<budget> against training time"),
};
const int gs_runner_nkeys = (int)(sizeof gs_runner_keys / sizeof gs_runner_keys[0]);

#define MAX_RUNS 1000000L
long gs_config_max_runs = MAX_RUNS;

/* The order of the keys when every key lived in one table here (gensweep 0.1). The canonical
 * text, and so every run's hash, lists keys in this order, then keys added since in the order
 * the vocabulary meets them (runner, then the registry's models): moving a key into a model
 * file must not move a finished run's hash. Never reorder; new keys need no entry. */
static const char *const keys_order_v1[] = {
    "sweep.name", "sweep.description", "sweep.results", "data.dataset", "data.train_size", "data.test_size",
    "data.val_split", "data.seed", "model.name", "model.latent_dim", "model.hidden1", "model.hidden2",
    "model.conv1", "model.conv2", "train.epochs", "train.batch_size", "train.optimizer", "train.lr",
    "train.momentum", "train.rho", "train.beta1", "train.beta2", "train.eps", "train.seed", "train.threads",
    "train.ranks_per_run", "train.checkpoint_every", "eval.iw_samples", "eval.iw_test_size", "eval.n_samples",
    "eval.n_recon", "eval.manifold_n", "eval.manifold_class", "eval.eval_every", "eval.judge",
    "eval.judge_epochs", "igmn.c", "igmn.beta", "igmn.v_min", "igmn.sp_min", "igmn.cov_update",
    "igmn.umbrella_tau", "igmn.umbrella_kappa", "igmn.mu", "igmn.retrain_epochs", "igmn.refresh",
    "igmn.collapse", "igmn.samples"};
#define NKEYS_V1 ((int)(sizeof keys_order_v1 / sizeof keys_order_v1[0]))

static int order_v1(const gs_key *k) {
  char full[128];
  snprintf(full, sizeof full, "%s.%s", k->section, k->name);
  for (int i = 0; i < NKEYS_V1; i++)
    if (strcmp(keys_order_v1[i], full) == 0) return i;
  return NKEYS_V1;
}

static int same_name(const gs_key *a, const gs_key *b) {
  return strcmp(a->section, b->section) == 0 && strcmp(a->name, b->name) == 0;
}

static int same_spec(const gs_key *a, const gs_key *b) {
  return a->type == b->type && a->size == b->size && a->min == b->min && a->max == b->max && a->min_open == b->min_open &&
         a->max_open == b->max_open && a->in_every_hash == b->in_every_hash &&
         strcmp(a->def ? a->def : "", b->def ? b->def : "") == 0 &&
         strcmp(a->choices ? a->choices : "", b->choices ? b->choices : "") == 0;
}

int gs_vocabulary_model(const gs_vocabulary *v, const char *model) {
  for (int m = 0; m < v->nmodels; m++)
    if (strcmp(v->models[m].model, model) == 0) return m;
  return -1;
}

static int full_name_is(const gs_key *k, const char *full) {
  size_t sl = strlen(k->section);
  return strncmp(full, k->section, sl) == 0 && full[sl] == '.' && strcmp(full + sl + 1, k->name) == 0;
}

static int set_at(gs_config *c, int i, const char *value, gs_error *err);
static void format_at(const gs_config *c, int i, char *buf, size_t n);

int gs_vocabulary_init(gs_vocabulary *v, const gs_model_keys *models, int nmodels, gs_error *err) {
  memset(v, 0, sizeof *v);
  if (nmodels < 1 || nmodels > GS_MAX_MODELS) return gs_fail(err, "vocabulary: %d models (1 to %d)", nmodels, GS_MAX_MODELS);
  /* model.name: choices and help from the models */
  size_t o = 0;
  for (int m = 0; m < nmodels; m++) {
    if (gs_vocabulary_model(v, models[m].model) >= 0)
      return gs_fail(err, "vocabulary: model %s registered twice", models[m].model);
    v->models[v->nmodels++] = models[m];
    o += (size_t)snprintf(v->model_choices + o, sizeof v->model_choices - o, "%s%s", m ? "|" : "", models[m].model);
    if (o >= sizeof v->model_choices) return gs_fail(err, "vocabulary: too many model names");
  }
  o = (size_t)snprintf(v->model_help, sizeof v->model_help, "model: ");
  for (int m = 0; m < nmodels && o < sizeof v->model_help; m++)
    o += (size_t)snprintf(v->model_help + o, sizeof v->model_help - o, "%s%s%s%s%s",
                          m == 0 ? "" : m == nmodels - 1 ? " or " : ", ", models[m].model,
                          models[m].about ? " (" : "", models[m].about ? models[m].about : "",
                          models[m].about ? ")" : "");
  int order[GS_MAX_KEYS];
  for (int i = 0; i < gs_runner_nkeys; i++) {
    const gs_key *k = &gs_runner_keys[i];
    if (strcmp(k->section, "model") == 0 && strcmp(k->name, "name") == 0) {
      v->model_key = *k;
      v->model_key.choices = v->model_choices;
      v->model_key.help = v->model_help;
      v->model_key.def = models[0].model; /* the registry's first model is the default */
      k = &v->model_key;
    }
    v->keys[v->nkeys] = k;
    v->slot[v->nkeys] = -1;
    v->nkeys++;
  }
  int nslots = 0;
  for (int m = 0; m < nmodels; m++) {
    for (int j = 0; j < models[m].nkeys; j++) {
      const gs_key *k = &models[m].keys[j];
      /* gs_config_read copies a long, a double or a choice's text into the model's field */
      if ((k->type == GS_KEY_INT && k->size != sizeof(long)) || (k->type == GS_KEY_FLOAT && k->size != sizeof(double)))
        return gs_fail(err, "vocabulary: %s.%s of model %s: an integer key reads into a long, a number into a double",
                       k->section, k->name, models[m].model);
      if (k->neutral_at_default && k->type != GS_KEY_INT)
        return gs_fail(err, "vocabulary: %s.%s of model %s: only integer keys can be neutral at their default",
                       k->section, k->name, models[m].model);
      int i = 0;
      while (i < v->nkeys && !same_name(v->keys[i], k)) i++;
      if (i < v->nkeys) { /* declared before: by the runner, or another model */
        if (v->slot[i] < 0)
          return gs_fail(err, "vocabulary: model %s declares %s.%s, a key of the runner", models[m].model,
                         k->section, k->name);
        if (!same_spec(v->keys[i], k)) {
          int first = 0;
          while (!(v->readers[i] >> first & 1)) first++;
          return gs_fail(err, "vocabulary: %s.%s is declared differently by models %s and %s (type, range, "
                         "choices, default and in_every_hash must agree)", k->section, k->name,
                         v->models[first].model, models[m].model);
        }
        v->readers[i] |= 1u << m;
        if (k->neutral_at_default) v->neutral[i] |= 1u << m;
        continue;
      }
      if (v->nkeys == GS_MAX_KEYS || nslots == GS_MAX_MODEL_VALUES)
        return gs_fail(err, "vocabulary: more than %d keys", v->nkeys);
      if (k->type == GS_KEY_STRING)
        return gs_fail(err, "vocabulary: %s.%s of model %s is text; model keys are numbers or choices",
                       k->section, k->name, models[m].model);
      if (k->type == GS_KEY_ENUM) {
        for (const char *p = k->choices; p && *p;) {
          const char *bar = strchr(p, '|');
          size_t l = bar ? (size_t)(bar - p) : strlen(p);
          if (l >= GS_ENUM_VALUE_LEN || l >= k->size)
            return gs_fail(err, "vocabulary: a choice of %s.%s is too long", k->section, k->name);
          p = bar ? bar + 1 : NULL;
        }
      }
      v->keys[v->nkeys] = k;
      v->slot[v->nkeys] = nslots++;
      v->readers[v->nkeys] = 1u << m;
      v->neutral[v->nkeys] = k->neutral_at_default ? 1u << m : 0;
      v->neutral_default[v->nkeys] = k->def ? strtol(k->def, NULL, 10) : 0;
      v->nkeys++;
    }
  }
  /* canonical order: the v1 order, then the others as met (a stable insertion sort) */
  for (int i = 0; i < v->nkeys; i++) order[i] = order_v1(v->keys[i]);
  for (int i = 1; i < v->nkeys; i++) {
    const gs_key *k = v->keys[i];
    int s = v->slot[i], ord = order[i];
    uint32_t r = v->readers[i], nt = v->neutral[i];
    long nd = v->neutral_default[i];
    int j = i;
    for (; j > 0 && order[j - 1] > ord; j--) {
      v->keys[j] = v->keys[j - 1];
      v->slot[j] = v->slot[j - 1];
      v->readers[j] = v->readers[j - 1];
      v->neutral[j] = v->neutral[j - 1];
      v->neutral_default[j] = v->neutral_default[j - 1];
      order[j] = order[j - 1];
    }
    v->keys[j] = k;
    v->slot[j] = s;
    v->readers[j] = r;
    v->neutral[j] = nt;
    v->neutral_default[j] = nd;
    order[j] = ord;
  }
  /* runner keys a model does not read */
  for (int m = 0; m < nmodels; m++)
    for (const char *const *u = models[m].unread; u && *u; u++) {
      int i = 0;
      while (i < v->nkeys && !full_name_is(v->keys[i], *u)) i++;
      if (i == v->nkeys || v->slot[i] >= 0)
        return gs_fail(err, "vocabulary: model %s does not read %s, which is not a key of the runner", models[m].model, *u);
      v->unread[i] |= 1u << m;
    }
  /* runner keys hashed only away from their defaults: the defaults' canonical text */
  for (int i = 0; i < v->nkeys; i++) {
    if (v->slot[i] >= 0 || !v->keys[i]->neutral_at_default) continue;
    gs_config c;
    memset(&c, 0, sizeof c);
    c.vocab = v;
    gs_error e;
    if (set_at(&c, i, v->keys[i]->def, &e) != 0)
      return gs_fail(err, "vocabulary: the default of %s.%s: %s", v->keys[i]->section, v->keys[i]->name, e.msg);
    format_at(&c, i, v->neutral_text[i], sizeof v->neutral_text[i]);
  }
  /* sections, in the order of their first key, then [grid] */
  for (int i = 0; i < v->nkeys; i++) {
    int known = 0;
    for (int j = 0; j < v->nsections; j++) known |= strcmp(v->sections[j], v->keys[i]->section) == 0;
    if (known) continue;
    if (v->nsections == GS_MAX_SECTIONS - 2) return gs_fail(err, "vocabulary: too many sections");
    v->sections[v->nsections++] = v->keys[i]->section;
  }
  v->sections[v->nsections++] = "grid";
  v->sections[v->nsections++] = "search";
  /* the models' own defaults: each names a key, and its value is one the key takes */
  for (int m = 0; m < nmodels; m++) {
    for (const char *const *d = models[m].defaults; d && d[0]; d += 2) {
      int i = 0;
      while (i < v->nkeys && !full_name_is(v->keys[i], d[0])) i++;
      if (i == v->nkeys) return gs_fail(err, "vocabulary: model %s has a default for %s, which is not a key", models[m].model, d[0]);
      gs_config c;
      memset(&c, 0, sizeof c);
      c.vocab = v;
      gs_error e;
      if (!d[1] || set_at(&c, i, d[1], &e) != 0)
        return gs_fail(err, "vocabulary: model %s's default for %s: %s", models[m].model, d[0], d[1] ? e.msg : "no value");
      if (v->neutral[i] >> m & 1)
        return gs_fail(err, "vocabulary: model %s has its own default for %s, which it hashes only away from the "
                       "key's default", models[m].model, d[0]);
      if (v->ndefaults == GS_MAX_MODEL_DEFAULTS) return gs_fail(err, "vocabulary: too many model defaults");
      v->defaults[v->ndefaults].model = m;
      v->defaults[v->ndefaults].key = i;
      format_at(&c, i, v->defaults[v->ndefaults].value, sizeof v->defaults[v->ndefaults].value);
      v->ndefaults++;
    }
  }
  return 0;
}

const char *gs_vocabulary_default(const gs_vocabulary *v, const char *model, const gs_key *k) {
  int m = gs_vocabulary_model(v, model);
  for (int d = 0; d < v->ndefaults; d++)
    if (v->defaults[d].model == m && same_name(v->keys[v->defaults[d].key], k)) return v->defaults[d].value;
  return k->def;
}

/* Index of k in c's vocabulary: k itself, or a declaration of the same section.name. */
static int key_index(const gs_vocabulary *v, const gs_key *k) {
  for (int i = 0; i < v->nkeys; i++)
    if (v->keys[i] == k) return i;
  for (int i = 0; i < v->nkeys; i++)
    if (same_name(v->keys[i], k)) return i;
  return -1;
}

/* Where key i's value lives in c, and how many bytes it may take. */
static char *value_at(const gs_config *c, int i, size_t *size) {
  const gs_vocabulary *v = c->vocab;
  const gs_key *k = v->keys[i];
  if (v->slot[i] < 0) {
    *size = k->size;
    return (char *)c + k->offset;
  }
  *size = k->type == GS_KEY_ENUM ? GS_ENUM_VALUE_LEN : sizeof(gs_value);
  return (char *)&c->values[v->slot[i]];
}

static int is_runner_only(const gs_key *k) {
  return strcmp(k->section, "sweep") == 0 ||
         (strcmp(k->section, "train") == 0 &&
          (strcmp(k->name, "threads") == 0 || strcmp(k->name, "ranks_per_run") == 0 ||
           strcmp(k->name, "checkpoint_every") == 0));
}

/* Keys left out of gs_config_hash: those that do not change the numbers a run produces (names
 * and paths, and how the work is spread over threads/ranks or checkpointed), so two runs that
 * differ only in them are the same experiment; and keys only other models read, so that adding
 * a model's keys (or changing their defaults) never changes the runs of another model; and keys
 * a model reads neutral_at_default while they hold their default; and runner keys a model does
 * not read (gs_model_keys.unread).
 * eval.eval_every is kept: it changes what is recorded. */
static int counts_at(const gs_config *c, int i, int model) {
  const gs_vocabulary *v = c->vocab;
  if (v->slot[i] < 0) {
    if (is_runner_only(v->keys[i])) return 0;
    if (model >= 0 && (v->unread[i] >> model & 1)) return 0;
    if (!v->keys[i]->neutral_at_default) return 1;
    char buf[sizeof v->neutral_text[i] + 8];
    format_at(c, i, buf, sizeof buf);
    return strcmp(buf, v->neutral_text[i]) != 0;
  }
  if (v->keys[i]->in_every_hash) return 1;
  if (model < 0 || !(v->readers[i] >> model & 1)) return 0;
  if (v->neutral[i] >> model & 1) return c->values[v->slot[i]].i != v->neutral_default[i];
  return 1;
}

int gs_config_key_counts(const gs_config *c, const gs_key *k) {
  int i = key_index(c->vocab, k);
  return i >= 0 && counts_at(c, i, gs_vocabulary_model(c->vocab, c->model));
}

static int is_sweep_name(const gs_key *k) {
  return k->type == GS_KEY_STRING && k->offset == offsetof(gs_config, sweep_name);
}

const gs_key *gs_config_find_key(const gs_vocabulary *v, const char *section, const char *name) {
  if (!section || !name) return NULL;
  for (int i = 0; i < v->nkeys; i++)
    if (strcmp(v->keys[i]->section, section) == 0 && strcmp(v->keys[i]->name, name) == 0) return v->keys[i];
  return NULL;
}

/* ------------------------------------------------------------------ did you mean */

/* Edit distance (Levenshtein with adjacent transpositions counted as one edit), case-insensitive. */
static int edit_distance(const char *a, const char *b) {
  enum { M = 64 };
  size_t n = strlen(a), m = strlen(b);
  if (n >= M || m >= M) return 1000;
  int d[M][M];
  for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++) {
    for (size_t j = 1; j <= m; j++) {
      int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
      int best = d[i - 1][j - 1] + (ca != cb);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) && tolower((unsigned char)a[i - 2]) == cb &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[n][m];
}

/* How many edits still count as a typo of a word of this length. */
static int typo_limit(size_t len) { return len <= 3 ? 1 : len <= 6 ? 2 : 3; }

const char *gs_config_suggest(const gs_vocabulary *v, const char *section, const char *name, char *buf,
                              size_t n) {
  if (!name || !*name) return NULL;
  if (!section) section = "";
  int limit = typo_limit(strlen(name));
  const gs_key *best = NULL;
  int best_total = 1 << 30, best_d = 0;
  for (int i = 0; i < v->nkeys; i++) {
    const gs_key *k = v->keys[i];
    int d = edit_distance(name, k->name);
    if (d > limit) continue;
    /* a key in another section costs 2 (moved key), 1 if the section itself looks misspelt */
    int sec_cost = strcmp(section, k->section) == 0                       ? 0
                   : (!*section || edit_distance(section, k->section) <= 1) ? 1
                                                                            : 2;
    int total = d + sec_cost;
    if (total < best_total || (total == best_total && d < best_d)) {
      best = k;
      best_total = total;
      best_d = d;
    }
  }
  if (!best) return NULL;
  snprintf(buf, n, "%s.%s", best->section, best->name);
  return buf;
}

static int known_section(const gs_vocabulary *v, const char *s) {
  for (int i = 0; i < v->nsections; i++)
    if (strcmp(s, v->sections[i]) == 0) return 1;
  return 0;
}

static const char *suggest_section(const gs_vocabulary *v, const char *s) {
  char trimmed[64];
  size_t len = strlen(s);
  while (len && isspace((unsigned char)*s)) s++, len--;
  while (len && isspace((unsigned char)s[len - 1])) len--;
  if (!len || len >= sizeof trimmed) return NULL;
  memcpy(trimmed, s, len);
  trimmed[len] = 0;
  const char *best = NULL;
  int best_d = typo_limit(len) + 1;
  for (int i = 0; i < v->nsections; i++) {
    int d = edit_distance(trimmed, v->sections[i]);
    if (d < best_d) best = v->sections[i], best_d = d;
  }
  return best;
}

/* ------------------------------------------------------------------ values */

void gs_config_defaults(gs_config *c, const gs_vocabulary *v) {
  memset(c, 0, sizeof *c);
  c->vocab = v;
  for (int i = 0; i < v->nkeys; i++) {
    gs_error e;
    if (gs_config_set(c, v->keys[i], v->keys[i]->def, &e) != 0) {
      fprintf(stderr, "gensweep: bad default in the key table: %s\n", e.msg);
      abort();
    }
  }
}

static void format_range(const gs_key *k, char *buf, size_t n) {
  if (k->type == GS_KEY_INT)
    snprintf(buf, n, "%c%.0f, %.0f%c", k->min_open ? '(' : '[', k->min, k->max, k->max_open ? ')' : ']');
  else
    snprintf(buf, n, "%c%g, %g%c", k->min_open ? '(' : '[', k->min, k->max, k->max_open ? ')' : ']');
}

static int out_of_range(const gs_key *k, double v) {
  return (k->min_open ? v <= k->min : v < k->min) || (k->max_open ? v >= k->max : v > k->max);
}

static const char *skip_space(const char *s) {
  while (isspace((unsigned char)*s)) s++;
  return s;
}

/* '#' only starts a comment at the beginning of a line; say so when it breaks a value */
/* The offset of the first byte that is not part of well-formed UTF-8 (no overlong forms,
 * surrogates or code points above U+10FFFF), or n when all of s[0..n) is UTF-8. */
static size_t utf8_invalid_at(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    unsigned c = u[i];
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || i + (size_t)len > n) return i;
    unsigned cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (int k = 1; k < len; k++) {
      if ((u[i + (size_t)k] & 0xC0) != 0x80) return i;
      cp = cp << 6 | (u[i + (size_t)k] & 0x3F);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += (size_t)len;
  }
  return n;
}

static const char *comment_hint(const char *v, size_t len) {
  return memchr(v, '#', len) ? " (an inline comment must start with ';' after a space)" : "";
}

static int set_at(gs_config *c, int i, const char *value, gs_error *err) {
  size_t size;
  char *field = value_at(c, i, &size);
  const gs_key *k = c->vocab->keys[i];
  const char *v = skip_space(value ? value : "");
  size_t len = strlen(v);
  while (len && isspace((unsigned char)v[len - 1])) len--;
  char range[96];
  format_range(k, range, sizeof range);
  const char *sec = k->section, *nm = k->name;
  int vl = (int)len;

  switch (k->type) {
  case GS_KEY_INT: {
    if (!len) return gs_fail(err, "%s.%s: missing value (expected an integer)", sec, nm);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *skip_space(end))
      return gs_fail(err, "%s.%s = %.*s: not an integer%s", sec, nm, vl, v, comment_hint(v, len));
    if (errno == ERANGE || out_of_range(k, (double)x))
      return gs_fail(err, "%s.%s = %.*s: out of range, must be in %s", sec, nm, vl, v, range);
    memcpy(field, &x, sizeof x);
    return 0;
  }
  case GS_KEY_FLOAT: {
    if (!len) return gs_fail(err, "%s.%s: missing value (expected a number)", sec, nm);
    char *end;
    errno = 0;
    /* one rule for numbers: decimal, for integers and floats alike (strtod would also take
     * hexadecimal floats, which strtol(..., 10) refuses for integers) */
    const char *d = v + (v[0] == '+' || v[0] == '-');
    if (d[0] == '0' && (d[1] == 'x' || d[1] == 'X'))
      return gs_fail(err, "%s.%s = %.*s: not a decimal number (numbers are written in decimal, e.g. 0.001 or 1e-3)",
                     sec, nm, vl, v);
    double x = strtod(v, &end);
    if (end == v || *skip_space(end))
      return gs_fail(err, "%s.%s = %.*s: not a number%s", sec, nm, vl, v, comment_hint(v, len));
    if (!isfinite(x)) return gs_fail(err, "%s.%s = %.*s: not a finite number", sec, nm, vl, v);
    if (x == 0) x = 0.0; /* no -0: it would print differently */
    if (out_of_range(k, x))
      return gs_fail(err, "%s.%s = %.*s: out of range, must be in %s", sec, nm, vl, v, range);
    memcpy(field, &x, sizeof x);
    return 0;
  }
  case GS_KEY_STRING: {
    if (len < (size_t)k->min) return gs_fail(err, "%s.%s: must not be empty", sec, nm);
    if (len >= size)
      return gs_fail(err, "%s.%s: value too long (%zu characters, at most %zu)", sec, nm, len, size - 1);
    for (size_t i = 0; i < len; i++)
      if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
        return gs_fail(err, "%s.%s: value contains a control character", sec, nm);
    size_t bad = utf8_invalid_at(v, len);
    if (bad < len)
      return gs_fail(err, "%s.%s: not UTF-8 text (byte 0x%02x at character %zu): experiment files are UTF-8, and "
                          "the value is stored as UTF-8 in HDF5 attributes", sec, nm, (unsigned char)v[bad], bad + 1);
    if (is_sweep_name(k)) {
      /* not '.' first (hidden, "." and ".."), nor '-' (read as an option by shell commands) */
      int ok = v[0] != '.' && v[0] != '-';
      for (size_t i = 0; i < len && ok; i++)
        ok = isalnum((unsigned char)v[i]) || v[i] == '.' || v[i] == '_' || v[i] == '-';
      if (!ok)
        return gs_fail(err,
                       "%s.%s = %.*s: not a valid directory name: use only letters, digits, '.', '_' "
                       "and '-', and do not start with '.' or '-'",
                       sec, nm, vl, v);
    }
    memcpy(field, v, len);
    field[len] = 0;
    return 0;
  }
  case GS_KEY_ENUM: {
    for (const char *p = k->choices; *p;) {
      const char *bar = strchr(p, '|');
      size_t cl = bar ? (size_t)(bar - p) : strlen(p);
      if (cl == len && len && memcmp(p, v, len) == 0 && len < size) {
        memcpy(field, v, len);
        field[len] = 0;
        return 0;
      }
      p += cl + (bar ? 1 : 0);
    }
    char list[256];
    size_t o = 0;
    for (const char *p = k->choices; *p && o + 3 < sizeof list; p++) {
      if (*p == '|') {
        list[o++] = ',';
        list[o++] = ' ';
      } else {
        list[o++] = *p;
      }
    }
    list[o] = 0;
    if (!len) return gs_fail(err, "%s.%s: missing value (must be one of %s)", sec, nm, list);
    return gs_fail(err, "%s.%s = %.*s: must be one of %s%s", sec, nm, vl, v, list, comment_hint(v, len));
  }
  }
  return gs_fail(err, "%s.%s: bad key type", sec, nm);
}

int gs_config_set(gs_config *c, const gs_key *k, const char *value, gs_error *err) {
  int i = key_index(c->vocab, k);
  if (i < 0) return gs_fail(err, "%s.%s: not a key of this configuration", k->section, k->name);
  return set_at(c, i, value, err);
}

/* Shortest %g text that reads back as exactly the same double. */
static void format_double(double x, char *buf, size_t n) {
  char tmp[48];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, x);
    if (strtod(tmp, NULL) == x) break;
  }
  gs_strlcpy(buf, tmp, n);
}

static void format_at(const gs_config *c, int i, char *buf, size_t n) {
  size_t size;
  const char *field = value_at(c, i, &size);
  const gs_key *k = c->vocab->keys[i];
  switch (k->type) {
  case GS_KEY_INT: {
    long x;
    memcpy(&x, field, sizeof x);
    snprintf(buf, n, "%ld", x);
    break;
  }
  case GS_KEY_FLOAT: {
    double x;
    memcpy(&x, field, sizeof x);
    format_double(x, buf, n);
    break;
  }
  case GS_KEY_STRING:
  case GS_KEY_ENUM: {
    size_t len = strnlen(field, size);
    if (n) {
      size_t c2 = len < n - 1 ? len : n - 1;
      memcpy(buf, field, c2);
      buf[c2] = 0;
    }
    break;
  }
  }
}

const gs_key *gs_config_key(const gs_config *c, const char *full) {
  const char *dot = strchr(full, '.');
  char sec[64];
  if (!dot || (size_t)(dot - full) >= sizeof sec) return NULL;
  memcpy(sec, full, (size_t)(dot - full));
  sec[dot - full] = 0;
  return gs_config_find_key(c->vocab, sec, dot + 1);
}

int gs_config_set_text(gs_config *c, const char *full, const char *value, gs_error *err) {
  const gs_key *k = gs_config_key(c, full);
  if (!k) return gs_fail(err, "unknown key '%s'", full);
  return gs_config_set(c, k, value, err);
}

void gs_config_format(const gs_config *c, const gs_key *k, char *buf, size_t n) {
  int i = key_index(c->vocab, k);
  if (i < 0) {
    if (n) buf[0] = 0;
    return;
  }
  format_at(c, i, buf, n);
}

static const char *typed_at(const gs_config *c, const gs_key *k, gs_key_type t1, gs_key_type t2) {
  int i = key_index(c->vocab, k);
  if (i < 0 || (c->vocab->keys[i]->type != t1 && c->vocab->keys[i]->type != t2)) {
    fprintf(stderr, "gensweep: internal error: %s.%s read as the wrong type\n", k->section, k->name);
    abort();
  }
  size_t size;
  return value_at(c, i, &size);
}

long gs_config_int(const gs_config *c, const gs_key *k) {
  long x;
  memcpy(&x, typed_at(c, k, GS_KEY_INT, GS_KEY_INT), sizeof x);
  return x;
}

double gs_config_float(const gs_config *c, const gs_key *k) {
  double x;
  memcpy(&x, typed_at(c, k, GS_KEY_FLOAT, GS_KEY_FLOAT), sizeof x);
  return x;
}

const char *gs_config_str(const gs_config *c, const gs_key *k) {
  return typed_at(c, k, GS_KEY_STRING, GS_KEY_ENUM);
}

void gs_config_read(const gs_config *c, const gs_key *keys, int nkeys, void *settings) {
  for (int j = 0; j < nkeys; j++) {
    const gs_key *k = &keys[j];
    char *dst = (char *)settings + k->offset;
    switch (k->type) {
    case GS_KEY_INT: {
      long x = gs_config_int(c, k);
      memcpy(dst, &x, sizeof x);
      break;
    }
    case GS_KEY_FLOAT: {
      double x = gs_config_float(c, k);
      memcpy(dst, &x, sizeof x);
      break;
    }
    case GS_KEY_STRING:
    case GS_KEY_ENUM: gs_strlcpy(dst, gs_config_str(c, k), k->size); break;
    }
  }
}

/* Longest formatted value: strings are bounded by their field (<= 512), numbers by ~25. */
#define VALUE_BUF 600

char *gs_config_canonical(const gs_config *c) {
  size_t cap = 4096, len = 0;
  char *out = gs_malloc(cap);
  char val[VALUE_BUF];
  for (int i = 0; i < c->vocab->nkeys; i++) {
    const gs_key *k = c->vocab->keys[i];
    format_at(c, i, val, sizeof val);
    size_t need = strlen(k->section) + strlen(k->name) + strlen(val) + 8;
    while (len + need >= cap) out = gs_realloc(out, cap *= 2);
    len += (size_t)snprintf(out + len, cap - len, "%s.%s = %s\n", k->section, k->name, val);
  }
  out[len] = 0;
  return out;
}

/* Hash of one canonical line "section.key = value\n" (streamed, same bytes as the text). */
static uint64_t hash_line(uint64_t h, const gs_key *k, const char *val) {
  h = gs_hash64(k->section, strlen(k->section), h);
  h = gs_hash64(".", 1, h);
  h = gs_hash64(k->name, strlen(k->name), h);
  h = gs_hash64(" = ", 3, h);
  h = gs_hash64(val, strlen(val), h);
  return gs_hash64("\n", 1, h);
}

/* gs_hash64 of the canonical text without the lines counts_at() leaves out (the runner's and sweep's own
 * keys, and keys the run's model does not read). */
uint64_t gs_config_hash(const gs_config *c) {
  uint64_t h = GS_HASH_INIT;
  char val[VALUE_BUF];
  int model = gs_vocabulary_model(c->vocab, c->model);
  for (int i = 0; i < c->vocab->nkeys; i++) {
    if (!counts_at(c, i, model)) continue;
    format_at(c, i, val, sizeof val);
    h = hash_line(h, c->vocab->keys[i], val);
  }
  return h;
}

/* the next comma-separated item of *p (spaces trimmed) into tok; 0 at the end */
static int next_item(const char **p, char *tok, size_t n) {
  const char *s = *p;
  if (!*s) return 0;
  const char *comma = strchr(s, ',');
  size_t len = comma ? (size_t)(comma - s) : strlen(s);
  *p = comma ? comma + 1 : s + len;
  while (len && isspace((unsigned char)*s)) s++, len--;
  while (len && isspace((unsigned char)s[len - 1])) len--;
  if (len >= n) len = n - 1;
  memcpy(tok, s, len);
  tok[len] = 0;
  return 1;
}

int gs_config_probe_lists(const gs_config *c, gs_probe_lists *out, gs_error *err) {
  memset(out, 0, sizeof *out);
  char tok[64];
  int none = 0, items = 0;
  for (const char *p = c->probe_features; next_item(&p, tok, sizeof tok);) {
    items++;
    if (strcmp(tok, "none") == 0) none = 1;
    else if (strcmp(tok, "model") == 0) out->model_features = 1;
    else if (strcmp(tok, "untrained") == 0) out->untrained_features = 1;
    else if (strcmp(tok, "pooled") == 0) out->pooled_features = 1;
    else if (strcmp(tok, "untrained_pooled") == 0) out->untrained_pooled_features = 1;
    else if (strcmp(tok, "class_head") == 0) out->class_head = 1;
    else if (strcmp(tok, "finetuned") == 0) out->finetuned = 1;
    else
      return gs_fail(err, "probe.features = %s: '%s' is not a feature source (none, model, untrained, pooled, "
                     "untrained_pooled, class_head, finetuned)", c->probe_features, tok);
  }
  if (none && items > 1) return gs_fail(err, "probe.features = %s: 'none' goes alone", c->probe_features);
  for (const char *p = c->probe_budgets; next_item(&p, tok, sizeof tok);) {
    long b = 0;
    if (strcmp(tok, "all") != 0) {
      char *end;
      errno = 0;
      b = strtol(tok, &end, 10);
      if (!tok[0] || *end || errno || b < 1)
        return gs_fail(err, "probe.budgets = %s: '%s' is not a number of labels (a positive integer) or 'all'",
                       c->probe_budgets, tok);
    }
    for (int i = 0; i < out->nbudgets; i++)
      if (out->budgets[i] == b) return gs_fail(err, "probe.budgets = %s: '%s' twice", c->probe_budgets, tok);
    if (out->nbudgets == GS_PROBE_MAX_BUDGETS)
      return gs_fail(err, "probe.budgets = %s: more than %d budgets", c->probe_budgets, GS_PROBE_MAX_BUDGETS);
    out->budgets[out->nbudgets++] = b;
  }
  if (out->nbudgets == 0) return gs_fail(err, "probe.budgets is empty");
  for (const char *p = c->probe_classifiers; next_item(&p, tok, sizeof tok);) {
    int k = strcmp(tok, "svm") == 0 ? 0 : strcmp(tok, "lr") == 0 ? 1 : -1;
    if (k < 0) return gs_fail(err, "probe.classifiers = %s: '%s' is not svm or lr", c->probe_classifiers, tok);
    for (int i = 0; i < out->nclassifiers; i++)
      if (out->classifiers[i] == k) return gs_fail(err, "probe.classifiers = %s: '%s' twice", c->probe_classifiers, tok);
    out->classifiers[out->nclassifiers++] = k;
  }
  if (out->nclassifiers == 0) return gs_fail(err, "probe.classifiers is empty");
  for (const char *p = c->probe_c_grid; next_item(&p, tok, sizeof tok);) {
    char *end;
    errno = 0;
    double v = strtod(tok, &end);
    if (!tok[0] || *end || errno || !(v > 0) || !isfinite(v) || (tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X')))
      return gs_fail(err, "probe.c_grid = %s: '%s' is not a positive decimal number", c->probe_c_grid, tok);
    if (out->ncs == GS_PROBE_MAX_CS)
      return gs_fail(err, "probe.c_grid = %s: more than %d values", c->probe_c_grid, GS_PROBE_MAX_CS);
    int at = out->ncs;
    for (int i = 0; i < out->ncs; i++) {
      if (out->cs[i] == v) return gs_fail(err, "probe.c_grid = %s: '%s' twice", c->probe_c_grid, tok);
      if (out->cs[i] > v && at == out->ncs) at = i;
    }
    memmove(out->cs + at + 1, out->cs + at, sizeof(double) * (size_t)(out->ncs - at));
    out->cs[at] = v;
    out->ncs++;
  }
  if (out->ncs == 1)
    return gs_fail(err, "probe.c_grid = %s: one value chooses nothing (set probe.c instead)", c->probe_c_grid);
  /* a run file holds a fixed number of figures (io/record.h): 4 arrays and 2 scalars each, one
   * array more (the chosen Cs) with a cross-validated C */
  int sources = out->model_features + out->untrained_features + out->pooled_features + out->untrained_pooled_features;
  int tables = sources * out->nclassifiers * out->nbudgets + out->finetuned * out->nbudgets, room = GS_PROBE_MAX_FIGURES * 4 / (out->ncs ? 5 : 4);
  if (tables > room)
    return gs_fail(err, "probe.features, probe.classifiers and probe.budgets ask for %d tables (sources x classifiers x "
                   "budgets); at most %d fit in a run file%s: use fewer budgets or sources", tables, room,
                   out->ncs ? " with probe.c_grid" : "");
  return 0;
}

int gs_config_shapes_options(const gs_config *c, gs_shapes_options *o, gs_error *err) {
  gs_shapes_defaults(o);
  o->seed = (uint64_t)c->data_seed;
  o->points = (int)c->points;
  o->noise = c->noise;
  o->anisotropy = c->anisotropy;
  if (gs_shapes_rotation_parse(c->rotation, &o->rotation) != 0)
    return gs_fail(err, "data.rotation = %s: not none, z or any", c->rotation);
  return gs_shapes_check(o, err);
}

const gs_data_sizes *gs_config_data_sizes(const gs_config *c) {
  if (strcmp(c->dataset, "shapes") != 0) return gs_dataset_sizes_cached(c->dataset);
  static gs_data_sizes s[4];
  static int next;
  gs_data_sizes want;
  memset(&want, 0, sizeof want); /* compared with memcmp below: no stray padding bytes */
  want.train = c->shapes_train, want.test = c->shapes_test, want.h = (int)c->points, want.w = 3;
  want.dim = 3 * c->points;
  for (int i = 0; i < 4; i++)
    if (memcmp(&s[i], &want, sizeof want) == 0) return &s[i];
  s[next] = want;
  const gs_data_sizes *r = &s[next];
  next = (next + 1) % 4;
  return r;
}

int gs_config_validate(const gs_config *c, gs_error *err) {
  gs_probe_lists pl;
  if (gs_config_probe_lists(c, &pl, err) != 0) return -1;
  gs_shapes_options so;
  if (strcmp(c->dataset, "shapes") == 0 && gs_config_shapes_options(c, &so, err) != 0) return -1;
  if (c->batch_size < c->ranks_per_run)
    return gs_fail(err,
                   "train.batch_size = %ld is smaller than train.ranks_per_run = %ld (each rank needs at "
                   "least one example of every batch)",
                   c->batch_size, c->ranks_per_run);
  int m = gs_vocabulary_model(c->vocab, c->model);
  if (m >= 0 && c->vocab->models[m].validate) return c->vocab->models[m].validate(c, err);
  return 0;
}

/* ------------------------------------------------------------------ loading */

typedef struct load_error {
  int line;
  char *msg;
} load_error;

/* ------------------------------------------------------------------ [search]: sampled spaces */

/* One key of [search]: section.key = loguniform(a, b) | uniform(a, b) | int(a, b) | choice(x, y, ...) */
enum { DIST_UNIFORM, DIST_LOGUNIFORM, DIST_INT, DIST_CHOICE };

static int parse_dist(const char *value, int *kind, double *a, double *b, char **choices, char *why, size_t wn) {
  static const struct { const char *name; int kind; } names[] = {
      {"loguniform", DIST_LOGUNIFORM}, {"uniform", DIST_UNIFORM}, {"int", DIST_INT}, {"choice", DIST_CHOICE}};
  const char *v = skip_space((char *)value);
  const char *open = strchr(v, '('), *close = strrchr(v, ')');
  *kind = -1;
  if (open && close && close > open && !*skip_space((char *)close + 1)) {
    size_t nl = (size_t)(open - v);
    while (nl && (v[nl - 1] == ' ' || v[nl - 1] == '\t')) nl--;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      if (strlen(names[i].name) == nl && strncmp(v, names[i].name, nl) == 0) *kind = names[i].kind;
  }
  if (*kind < 0) {
    snprintf(why, wn, "expected loguniform(a, b), uniform(a, b), int(a, b) or choice(x, y, ...)");
    return -1;
  }
  char inner[VALUE_BUF];
  size_t il = (size_t)(close - open - 1);
  if (il >= sizeof inner) {
    snprintf(why, wn, "the list is too long");
    return -1;
  }
  memcpy(inner, open + 1, il);
  inner[il] = 0;
  if (*kind == DIST_CHOICE) {
    if (!*skip_space(inner)) {
      snprintf(why, wn, "choice() needs at least one value");
      return -1;
    }
    *choices = gs_strdup(inner);
    return 0;
  }
  char *comma = strchr(inner, ','), *e1, *e2;
  if (!comma || strchr(comma + 1, ',')) {
    snprintf(why, wn, "expected two numbers: (low, high)");
    return -1;
  }
  *comma = 0;
  errno = 0;
  *a = strtod(inner, &e1);
  *b = strtod(comma + 1, &e2);
  if (errno || !*skip_space(inner) || *skip_space(e1) || !*skip_space(comma + 1) || *skip_space(e2) || !isfinite(*a) ||
      !isfinite(*b) || strpbrk(inner, "xX") || strpbrk(comma + 1, "xX")) {
    snprintf(why, wn, "expected two decimal numbers: (low, high)");
    return -1;
  }
  if (*kind == DIST_INT ? !(*a <= *b) || *a != floor(*a) || *b != floor(*b) : !(*a < *b)) {
    snprintf(why, wn, *kind == DIST_INT ? "int(a, b) needs integers a <= b" : "needs low < high");
    return -1;
  }
  if (*kind == DIST_LOGUNIFORM && !(*a > 0)) {
    snprintf(why, wn, "loguniform(a, b) needs 0 < a");
    return -1;
  }
  return 0;
}

typedef struct search_key {
  const gs_key *key;
  int kind;
  double a, b;
  char *choices;
  char spec[96];
  int line;
} search_key;

typedef struct loader {
  gs_sweep *sw;
  const gs_vocabulary *v;
  const char *path;
  const char *text;
  size_t len, pos;
  int lineno;
  int section_bad;       /* the current section header was reported: ignore its keys */
  int key_line[GS_MAX_KEYS];   /* line where each key was set in its own section (0 = not set) */
  int grid_line[GS_MAX_KEYS];  /* line where each key was swept in [grid] */
  int *value_line[GS_MAX_AXES]; /* the line of each value of each axis ('+=' lines add values) */
  /* [search] */
  search_key search[GS_MAX_AXES];
  int nsearch;
  int search_line[GS_MAX_KEYS]; /* line where each key is sampled in [search] */
  long search_n, search_seed;
  int search_n_line, search_section_line;
  load_error *errs;
  int nerrs, errcap;
} loader;

static void add_error(loader *L, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_error(loader *L, int line, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (L->nerrs == L->errcap) {
    L->errcap = L->errcap ? 2 * L->errcap : 8;
    L->errs = gs_realloc(L->errs, (size_t)L->errcap * sizeof *L->errs);
  }
  L->errs[L->nerrs].line = line;
  L->errs[L->nerrs].msg = gs_strdup(msg);
  L->nerrs++;
}

/* A section header as inih reads it: the text between '[' and the first ']' (an inline
 * comment, ';' after a space, ends the search). Returns 0 if inih will call it a syntax error. */
static int header_name(const char *line, char *name, size_t n) {
  const char *p = line + 1;
  int was_space = 0;
  while (*p && *p != ']' && !(was_space && *p == ';')) {
    was_space = isspace((unsigned char)*p);
    p++;
  }
  if (*p != ']') return 0;
  size_t len = (size_t)(p - (line + 1));
  if (len >= n) len = n - 1;
  memcpy(name, line + 1, len);
  name[len] = 0;
  return 1;
}

static void check_header(loader *L, const char *line) {
  char name[64];
  if (!header_name(line, name, sizeof name)) return; /* inih reports the syntax error */
  L->section_bad = 0;
  if (known_section(L->v, name)) return;
  L->section_bad = 1;
  if (!*name) {
    add_error(L, L->lineno, "empty section name []");
    return;
  }
  const char *s = suggest_section(L->v, name);
  if (s)
    add_error(L, L->lineno, "unknown section [%s]; did you mean [%s]?", name, s);
  else {
    char list[512];
    size_t o = 0;
    list[0] = 0;
    for (int i = 0; i < L->v->nsections && o < sizeof list; i++)
      o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", L->v->sections[i]);
    add_error(L, L->lineno, "unknown section [%s] (sections: %s)", name, list);
  }
}

/* fgets-like reader over the text in memory: one call per line, so inih's line numbers match. */
static char *line_reader(char *str, int num, void *stream) {
  loader *L = stream;
  if (L->pos >= L->len || num < 2) return NULL;
  const char *p = L->text + L->pos;
  const char *nl = memchr(p, '\n', L->len - L->pos);
  size_t n = nl ? (size_t)(nl - p) : L->len - L->pos;
  L->pos += n + (nl ? 1 : 0);
  L->lineno++;
  if (n && p[n - 1] == '\r') n--;
  if (L->lineno == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3, n -= 3;
  while (n && (*p == ' ' || *p == '\t')) p++, n--;
  if (n > (size_t)num - 1) {
    if (*p == ';' || *p == '#') {
      n = (size_t)num - 1; /* a comment: its end does not matter */
    } else {
      add_error(L, L->lineno, "line too long (%zu characters, at most %d; split a long [grid] list over several "
                "lines with 'section.key += more, values')", n, num - 1);
      n = 0;
    }
  }
  memcpy(str, p, n);
  str[n] = 0;
  if (n && *p == '[') check_header(L, str);
  return str;
}

static void keys_of_section(const gs_vocabulary *v, const char *section, char *buf, size_t n) {
  size_t o = 0;
  buf[0] = 0;
  for (int i = 0; i < v->nkeys && o < n; i++) {
    if (strcmp(v->keys[i]->section, section) != 0) continue;
    o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", v->keys[i]->name);
  }
}

static void split_suggestion(char *sug, const char **sec, const char **name) {
  char *dot = strchr(sug, '.');
  *dot = 0;
  *sec = sug;
  *name = dot + 1;
}

/* Keep [A-Za-z0-9.+-] of a value, '_' for anything else. */
static void sanitise(const char *v, char *out, size_t n) {
  size_t i = 0;
  for (; v[i] && i + 1 < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    out[i] = (isalnum(ch) && ch < 128) || ch == '.' || ch == '+' || ch == '-' ? (char)ch : '_';
  }
  out[i] = 0;
}

static void free_values(char **values, int n) {
  for (int i = 0; i < n; i++) free(values[i]);
  free(values);
}

/* The values of each axis are distinct, and stay distinct in run ids (which keep letters and
 * digits only): sorted once the whole file is read, so that a long list over many '+=' lines
 * costs n log n, not a comparison of every line's values with all before them. */
typedef struct { const char *key; int i; } vsort;
static int vsort_cmp(const void *a, const void *b) {
  const vsort *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->i > y->i) - (x->i < y->i);
}
static void sanitise(const char *v, char *out, size_t n);
static void check_axis_values(loader *L, int a) {
  const gs_axis *ax = &L->sw->axes[a];
  int n = ax->nvalues;
  if (n < 2 || ax->sampled) return; /* a sampled key may draw a value twice */
  vsort *o = gs_malloc(sizeof *o * (size_t)n);
  char (*san)[VALUE_BUF] = gs_malloc(sizeof *san * (size_t)n);
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < n; i++) {
      if (pass == 1) sanitise(ax->values[i], san[i], sizeof san[i]);
      o[i] = (vsort){pass == 0 ? ax->values[i] : san[i], i};
    }
    qsort(o, (size_t)n, sizeof *o, vsort_cmp);
    for (int j = 1; j < n; j++) {
      if (strcmp(o[j - 1].key, o[j].key) != 0) continue;
      int first = o[j - 1].i, second = o[j].i;
      int l1 = L->value_line[a][first], l2 = L->value_line[a][second];
      if (pass == 0 && l1 == l2)
        add_error(L, l2, "%s: duplicate value %s in the list (items %d and %d)", ax->fullname,
                  ax->values[first], first + 1, second + 1);
      else if (pass == 0)
        add_error(L, l2, "%s: duplicate value %s (already in the list of line %d)", ax->fullname, ax->values[first], l1);
      else
        add_error(L, l2, "%s: values '%s' and '%s' both become '%s' in run ids; make them differ in letters or digits",
                  ax->fullname, ax->values[first], ax->values[second], o[j].key);
      free(san);
      free(o);
      return; /* one message per axis */
    }
  }
  free(san);
  free(o);
}

/* The key "section.key" (dot: its '.') of a [grid] or [search] line: NULL, with an error naming
 * the line (and a suggestion), for an unknown key or a [sweep] key, which `what` ("swept",
 * "sampled") the whole sweep's keys cannot be. */
static const gs_key *axis_key(loader *L, const char *name, const char *dot, const char *section, const char *what,
                              int line) {
  char sug[128], sec[64];
  size_t sl = (size_t)(dot - name);
  if (sl >= sizeof sec) sl = sizeof sec - 1;
  memcpy(sec, name, sl);
  sec[sl] = 0;
  const gs_key *k = gs_config_find_key(L->v, sec, dot + 1);
  if (!k) {
    if (gs_config_suggest(L->v, sec, dot + 1, sug, sizeof sug))
      add_error(L, line, "unknown key '%s' in [%s]; did you mean '%s'?", name, section, sug);
    else
      add_error(L, line, "unknown key '%s' in [%s]", name, section);
    return NULL;
  }
  if (strcmp(k->section, "sweep") == 0) {
    add_error(L, line, "%s cannot be %s: the [sweep] keys are fixed for the whole sweep", name, what);
    return NULL;
  }
  return k;
}

/* "section.key = v1, v2, ..." in [grid]: a new axis. "section.key += v3, v4" on a later line
 * appends values to that axis (long lists over several lines: inih's line buffer is short). */
static void grid_key(loader *L, const char *name0, const char *value, int line) {
  gs_sweep *sw = L->sw;
  char sug[128], name[128];
  GS_STRCPY(name, name0);
  int append = 0;
  size_t nl = strlen(name);
  if (nl > 0 && name[nl - 1] == '+') {
    append = 1;
    name[--nl] = 0;
    while (nl > 0 && (name[nl - 1] == ' ' || name[nl - 1] == '\t')) name[--nl] = 0;
  }
  const char *dot = strchr(name, '.');
  if (!dot) {
    if (gs_config_suggest(L->v, "", name, sug, sizeof sug))
      add_error(L, line, "grid key '%s' must be written section.key; did you mean '%s'?", name, sug);
    else
      add_error(L, line, "grid key '%s' must be written section.key (e.g. model.latent_dim)", name);
    return;
  }
  const gs_key *k = axis_key(L, name, dot, "grid", "swept", line);
  if (!k) return;
  int idx = key_index(L->v, k);
  gs_axis *ex = NULL; /* the axis a '+=' line continues */
  if (append) {
    for (int a = 0; a < sw->naxes; a++)
      if (sw->axes[a].key == k) ex = &sw->axes[a];
    if (!ex) {
      add_error(L, line, "%s += ...: no earlier '%s = ...' line in [grid] to continue", name, name);
      return;
    }
  } else if (L->grid_line[idx]) {
    add_error(L, line, "duplicate key %s in [grid] (first set on line %d; continue a long list with '%s += ...')",
              name, L->grid_line[idx], name);
    return;
  }
  if (!append) L->grid_line[idx] = line;
  if (!append && sw->naxes >= GS_MAX_AXES) {
    add_error(L, line, "too many grid axes (at most %d)", GS_MAX_AXES);
    return;
  }

  /* split the list; validate and canonicalise each item */
  char *list = gs_strdup(value);
  char **values = NULL;
  int nv = 0, cap = 0, ok = 1;
  if (!*skip_space(list)) {
    add_error(L, line, "%s: empty list in [grid] (give one or more values separated by ',')", name);
    ok = 0;
  }
  gs_config scratch;
  memset(&scratch, 0, sizeof scratch);
  scratch.vocab = L->v;
  for (char *item = list; ok && item;) {
    char *comma = strchr(item, ',');
    if (comma) *comma = 0;
    if (!*skip_space(item)) {
      add_error(L, line, "%s: empty item %d in the list", name, nv + 1);
      ok = 0;
      break;
    }
    gs_error e;
    if (gs_config_set(&scratch, k, item, &e) != 0) {
      add_error(L, line, "%s (item %d of the list)", e.msg, nv + 1);
      ok = 0;
      break;
    }
    char canon[VALUE_BUF];
    gs_config_format(&scratch, k, canon, sizeof canon);
    /* duplicates, here and with earlier '+=' lines: check_axis_values, once the file is read */
    if (nv == cap) values = gs_realloc(values, (size_t)(cap = cap ? 2 * cap : 8) * sizeof *values);
    values[nv++] = gs_strdup(canon);
    item = comma ? comma + 1 : NULL;
  }
  free(list);
  if (!ok) {
    free_values(values, nv);
    return;
  }
  gs_axis *into = ex ? ex : &sw->axes[sw->naxes];
  int a_idx = (int)(into - sw->axes), n0 = ex ? ex->nvalues : 0;
  L->value_line[a_idx] = gs_realloc(L->value_line[a_idx], sizeof(int) * (size_t)(n0 + nv));
  for (int i = 0; i < nv; i++) L->value_line[a_idx][n0 + i] = line;
  if (ex) {
    ex->values = gs_realloc(ex->values, sizeof *values * (size_t)(n0 + nv));
    memcpy(ex->values + n0, values, sizeof *values * (size_t)nv);
    ex->nvalues = n0 + nv;
    free(values);
    return;
  }
  gs_axis *ax = &sw->axes[sw->naxes++];
  memset(ax, 0, sizeof *ax);
  ax->key = k;
  snprintf(ax->fullname, sizeof ax->fullname, "%s.%s", k->section, k->name);
  ax->nvalues = nv;
  ax->values = values;
  ax->line = line;
}

/* A line of [search]: n = samples, seed = their seed, or section.key = a distribution. */
static void search_line(loader *L, const char *name, const char *value, int line) {
  char why[200];
  if (!L->search_section_line) L->search_section_line = line;
  if (strcmp(name, "n") == 0 || strcmp(name, "seed") == 0) {
    int is_n = name[0] == 'n';
    char *end;
    errno = 0;
    long x = strtol(value, &end, 10);
    if (errno || end == value || *skip_space(end) || x < (is_n ? 1 : 0) || x > (is_n ? 1000000 : 2147483647))
      add_error(L, line, "[search] %s = %s: %s", name, value,
                is_n ? "the number of samples, an integer in [1, 1000000]" : "an integer in [0, 2147483647]");
    else if (is_n ? L->search_n_line : 0)
      add_error(L, line, "duplicate key n in [search] (first set on line %d)", L->search_n_line);
    else if (is_n) L->search_n = x, L->search_n_line = line;
    else L->search_seed = x;
    return;
  }
  const char *dot = strchr(name, '.');
  if (!dot) {
    add_error(L, line, "[search] key '%s': n, seed, or a key to sample written section.key (e.g. train.lr)", name);
    return;
  }
  const gs_key *k = axis_key(L, name, dot, "search", "sampled", line);
  if (!k) return;
  int idx = key_index(L->v, k);
  if (L->search_line[idx]) {
    add_error(L, line, "duplicate key %s in [search] (first set on line %d)", name, L->search_line[idx]);
    return;
  }
  if (L->nsearch + L->sw->naxes >= GS_MAX_AXES) {
    add_error(L, line, "too many grid and search axes (at most %d)", GS_MAX_AXES);
    return;
  }
  search_key *q = &L->search[L->nsearch];
  memset(q, 0, sizeof *q);
  if (parse_dist(value, &q->kind, &q->a, &q->b, &q->choices, why, sizeof why) != 0) {
    add_error(L, line, "%s = %s: %s", name, value, why);
    return;
  }
  L->search_line[idx] = line;
  q->key = k;
  q->line = line;
  snprintf(q->spec, sizeof q->spec, "%.90s", skip_space(value));
  L->nsearch++;
}

/* The sampled axes: sample i of key k draws from its own stream (seed, i, the key's name), so a
 * sample does not change when keys are added or removed, nor when n grows (the first n stay).
 * Every value is checked and written as the key writes it; a sample whose values repeat an
 * earlier sample's is left out (the same configuration twice), and the axes say so. */
static void build_search_axes(loader *L) {
  gs_sweep *sw = L->sw;
  if (!L->nsearch) {
    if (L->search_n_line) add_error(L, L->search_n_line, "[search] has n but no key to sample (section.key = ...)");
    return;
  }
  if (!L->search_n_line) {
    add_error(L, L->search_section_line, "[search] needs n = the number of samples to draw");
    return;
  }
  long n = L->search_n;
  int k0 = sw->naxes, nk = L->nsearch;
  char ***vals = gs_calloc((size_t)nk, sizeof(char **));
  for (int j = 0; j < nk; j++) vals[j] = gs_calloc((size_t)n, sizeof(char *));
  gs_config scratch;
  memset(&scratch, 0, sizeof scratch);
  scratch.vocab = L->v;
  long kept = 0, bad = 0;
  for (long i = 0; i < n && !bad; i++) {
    for (int j = 0; j < nk && !bad; j++) {
      search_key *q = &L->search[j];
      char full[100], text[VALUE_BUF];
      snprintf(full, sizeof full, "%s.%s", q->key->section, q->key->name);
      gs_rng r;
      gs_rng_seed(&r, (uint64_t)L->search_seed, (uint64_t)i, gs_hash64(full, strlen(full), GS_HASH_INIT));
      double u = gs_rng_uniform(&r);
      if (q->kind == DIST_UNIFORM) snprintf(text, sizeof text, "%.4g", q->a + u * (q->b - q->a));
      else if (q->kind == DIST_LOGUNIFORM) snprintf(text, sizeof text, "%.4g", exp(log(q->a) + u * (log(q->b) - log(q->a))));
      else if (q->kind == DIST_INT) snprintf(text, sizeof text, "%.0f", q->a + floor(u * (q->b - q->a + 1)));
      else {
        int count = 1;
        for (const char *c = q->choices; *c; c++) count += *c == ',';
        int pick = (int)floor(u * count);
        const char *item = q->choices;
        for (int c = 0; c < pick; c++) item = strchr(item, ',') + 1;
        const char *end = strchr(item, ',');
        size_t len = end ? (size_t)(end - item) : strlen(item);
        if (len >= sizeof text) len = sizeof text - 1;
        memcpy(text, item, len);
        text[len] = 0;
      }
      gs_error e;
      if (gs_config_set(&scratch, q->key, text, &e) != 0) {
        add_error(L, q->line, "%s = %s: sample %ld drew %s: %s", full, q->spec, i + 1, skip_space(text), e.msg);
        bad = 1;
        break;
      }
      char canon[VALUE_BUF];
      gs_config_format(&scratch, q->key, canon, sizeof canon);
      vals[j][kept] = gs_strdup(canon);
    }
    if (bad) break;
    int repeat = 0; /* the same values as an earlier kept sample */
    for (long e = 0; e < kept && !repeat; e++) {
      int same = 1;
      for (int j = 0; j < nk && same; j++) same = strcmp(vals[j][e], vals[j][kept]) == 0;
      repeat = same;
    }
    if (repeat)
      for (int j = 0; j < nk; j++) free(vals[j][kept]), vals[j][kept] = NULL;
    else kept++;
  }
  for (int j = 0; j < nk; j++) {
    if (bad) {
      free_values(vals[j], (int)n);
      continue;
    }
    gs_axis *ax = &sw->axes[k0 + j];
    memset(ax, 0, sizeof *ax);
    ax->key = L->search[j].key;
    snprintf(ax->fullname, sizeof ax->fullname, "%s.%s", ax->key->section, ax->key->name);
    ax->nvalues = (int)kept;
    ax->values = vals[j];
    ax->line = L->search[j].line;
    ax->sampled = 1;
    if (kept < n)
      snprintf(ax->spec, sizeof ax->spec, "%.60s: %ld distinct of %ld samples", L->search[j].spec, kept, n);
    else snprintf(ax->spec, sizeof ax->spec, "%.60s: %ld samples", L->search[j].spec, n);
  }
  if (!bad) sw->naxes += nk;
  free(vals);
}

static int on_key(void *user, const char *section, const char *name, const char *value) {
  loader *L = user;
  int line = L->lineno;
  char sug[128];
  if (L->section_bad) return 1;
  if (!*section) {
    if (gs_config_suggest(L->v, "", name, sug, sizeof sug)) {
      const char *s, *n;
      split_suggestion(sug, &s, &n);
      add_error(L, line, "key '%s' is outside any section; did you mean [%s] %s?", name, s, n);
    } else {
      add_error(L, line, "key '%s' is outside any section (put it under a [section] header)", name);
    }
    return 1;
  }
  if (strcmp(section, "grid") == 0) {
    grid_key(L, name, value, line);
    return 1;
  }
  if (strcmp(section, "search") == 0) {
    search_line(L, name, value, line);
    return 1;
  }
  if (!known_section(L->v, section)) { /* normally caught by the reader already */
    add_error(L, line, "unknown section [%s]", section);
    L->section_bad = 1;
    return 1;
  }
  const gs_key *k = gs_config_find_key(L->v, section, name);
  if (!k) {
    if (gs_config_suggest(L->v, section, name, sug, sizeof sug)) {
      const char *s, *n;
      split_suggestion(sug, &s, &n);
      if (strcmp(s, section) == 0)
        add_error(L, line, "unknown key '%s' in [%s]; did you mean '%s'?", name, section, n);
      else
        add_error(L, line, "unknown key '%s' in [%s]; did you mean [%s] %s?", name, section, s, n);
    } else {
      char known[512];
      keys_of_section(L->v, section, known, sizeof known);
      add_error(L, line, "unknown key '%s' in [%s] (keys in [%s]: %s)", name, section, section, known);
    }
    return 1;
  }
  int idx = key_index(L->v, k);
  if (L->key_line[idx]) {
    add_error(L, line, "duplicate key %s.%s (first set on line %d)", k->section, k->name, L->key_line[idx]);
    return 1;
  }
  L->key_line[idx] = line;
  gs_error e;
  if (gs_config_set(&L->sw->base, k, value, &e) != 0) add_error(L, line, "%s", e.msg);
  return 1;
}

/* First line with a given number (1-based), as a pointer into the text. */
static const char *find_line(const char *text, size_t len, int lineno) {
  const char *p = text, *end = text + len;
  for (int i = 1; i < lineno && p < end; i++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return end;
    p = nl + 1;
  }
  return p;
}

static int compare_ids(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A grid point's identity: its hash and the keys that spread its work (train.threads,
 * ranks_per_run ...: left out of the hash, yet a grid over them asks for separate runs). */
typedef struct { uint64_t hash, spread; long index; } point_key;
static int compare_points(const void *a, const void *b) {
  const point_key *x = a, *y = b;
  if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
  if (x->spread != y->spread) return x->spread < y->spread ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Grid points that are the same run as an earlier one (the same hash and spread: their model
 * reads none of the keys they differ in, as pixels and train.seed) are left out, so that it is
 * trained once; sw->nsame counts them. */
static void drop_same_runs(gs_sweep *sw, const uint64_t *spread) {
  if (sw->nruns < 2) return;
  point_key *k = gs_malloc(sizeof(point_key) * (size_t)sw->nruns);
  for (long r = 0; r < sw->nruns; r++) k[r] = (point_key){sw->runs[r].hash, spread[r], r};
  qsort(k, (size_t)sw->nruns, sizeof *k, compare_points);
  unsigned char *same = gs_calloc((size_t)sw->nruns, 1);
  for (long r = 1, first = 0; r < sw->nruns; r++) {
    if (k[r].hash != k[first].hash || k[r].spread != k[first].spread) {
      first = r;
      continue;
    }
    same[k[r].index] = 1;
    if (!sw->nsame++)
      snprintf(sw->same_example, sizeof sw->same_example, "%s = %s", sw->runs[k[r].index].id,
               sw->runs[k[first].index].id);
  }
  long n = 0;
  for (long r = 0; r < sw->nruns; r++) {
    if (same[r]) continue;
    if (n != r) sw->runs[n] = sw->runs[r];
    sw->runs[n].index = (int)n;
    n++;
  }
  sw->nruns = n;
  free(same), free(k);
}

/* Values a run of model m trains with that its file does not give: its model's own defaults
 * (gs_model_keys.defaults), and the length rule: a model that counts train.iterations trains by
 * epochs when the file gives train.epochs but not train.iterations (iterations recorded as 0).
 * own[i] = the text of key i where it differs from the base config; the caller clears them. */
typedef struct length_keys {
  int iterations, epochs; /* indices of train.iterations and train.epochs (-1: not in the vocabulary) */
} length_keys;

static length_keys find_length_keys(const gs_vocabulary *v) {
  length_keys l = {-1, -1};
  for (int i = 0; i < v->nkeys; i++) {
    if (full_name_is(v->keys[i], "train.iterations")) l.iterations = i;
    if (full_name_is(v->keys[i], "train.epochs")) l.epochs = i;
  }
  return l;
}

static void apply_model_defaults(gs_config *c, int m, const unsigned char *given, length_keys len, const char **own) {
  const gs_vocabulary *v = c->vocab;
  if (m < 0) return;
  for (int d = 0; d < v->ndefaults; d++) {
    int i = v->defaults[d].key;
    if (v->defaults[d].model != m || given[i]) continue;
    set_at(c, i, v->defaults[d].value, NULL); /* checked by gs_vocabulary_init */
    own[i] = v->defaults[d].value;
  }
  int it = len.iterations, ep = len.epochs;
  if (it >= 0 && ep >= 0 && v->slot[it] >= 0 && (v->readers[it] >> m & 1) && !given[it] && given[ep]) {
    size_t size;
    long zero = 0;
    memcpy(value_at(c, it, &size), &zero, sizeof zero);
    own[it] = "0";
  }
}

/* Build runs, ids and hashes (no errors left but id length / uniqueness / validation). given[i]:
 * the file sets key i (in its section or in [grid]). */
static int expand(gs_sweep *sw, const char *path, const unsigned char *given, gs_error *err) {
  int na = sw->naxes;
  /* run-id shortnames: the key name, or section-name where two axes share a key name */
  for (int a = 0; a < na; a++) {
    gs_axis *ax = &sw->axes[a];
    int shared = 0;
    for (int b = 0; b < na; b++)
      if (b != a && strcmp(sw->axes[b].key->name, ax->key->name) == 0) shared = 1;
    if (shared)
      snprintf(ax->shortname, sizeof ax->shortname, "%s-%s", ax->key->section, ax->key->name);
    else
      GS_STRCPY(ax->shortname, ax->key->name);
  }
  /* id parts "<shortname>-<sanitised value>" per axis value; the longest id must fit */
  char **parts[GS_MAX_AXES] = {0};
  size_t maxlen = na ? (size_t)(na - 1) : 3;
  int rc = 0;
  for (int a = 0; a < na; a++) {
    gs_axis *ax = &sw->axes[a];
    parts[a] = gs_calloc((size_t)ax->nvalues, sizeof(char *));
    size_t longest = 0;
    for (int v = 0; v < ax->nvalues; v++) {
      char san[VALUE_BUF], part[VALUE_BUF + 80];
      sanitise(ax->values[v], san, sizeof san);
      snprintf(part, sizeof part, "%s-%s", ax->shortname, san);
      parts[a][v] = gs_strdup(part);
      if (strlen(part) > longest) longest = strlen(part);
    }
    maxlen += longest;
  }
  if (maxlen > GS_MAX_RUN_ID - 1) {
    rc = gs_fail(err, "%s:%d: run ids would be up to %zu characters long (at most %d); use fewer axes or shorter values",
                 path, sw->axes[0].line, maxlen, GS_MAX_RUN_ID - 1);
    goto done;
  }

  /* canonical text of every key in the base config, for fast per-run hashing */
  const gs_vocabulary *v = sw->base.vocab;
  char *base_text[GS_MAX_KEYS];
  const char *own[GS_MAX_KEYS] = {0};
  const length_keys len = find_length_keys(v);
  int axis_of[GS_MAX_KEYS], key_of_axis[GS_MAX_AXES];
  for (int i = 0; i < v->nkeys; i++) {
    char val[VALUE_BUF];
    format_at(&sw->base, i, val, sizeof val);
    base_text[i] = gs_strdup(val);
    axis_of[i] = -1;
  }
  for (int a = 0; a < na; a++) {
    key_of_axis[a] = key_index(v, sw->axes[a].key);
    axis_of[key_of_axis[a]] = a;
  }

  sw->runs = gs_calloc((size_t)sw->nruns, sizeof(gs_run));
  uint64_t *spread = gs_malloc(sizeof(uint64_t) * (size_t)sw->nruns);
  int vi[GS_MAX_AXES] = {0};
  for (long r = 0; r < sw->nruns; r++) {
    gs_run *run = &sw->runs[r];
    run->index = (int)r;
    run->cfg = sw->base;
    size_t o = 0;
    for (int a = 0; a < na; a++) {
      run->value_index[a] = vi[a];
      set_at(&run->cfg, key_of_axis[a], sw->axes[a].values[vi[a]], NULL); /* validated already */
      const char *part = parts[a][vi[a]];
      size_t pl = strlen(part);
      if (a) run->id[o++] = '_';
      memcpy(run->id + o, part, pl);
      o += pl;
    }
    if (!na) memcpy(run->id, "run", 4);
    else run->id[o] = 0;
    uint64_t h = GS_HASH_INIT, hs = GS_HASH_INIT;
    int model = gs_vocabulary_model(v, run->cfg.model);
    apply_model_defaults(&run->cfg, model, given, len, own);
    for (int i = 0; i < v->nkeys; i++) {
      const char *text = own[i] ? own[i] : axis_of[i] >= 0 ? sw->axes[axis_of[i]].values[vi[axis_of[i]]] : base_text[i];
      own[i] = NULL;
      if (counts_at(&run->cfg, i, model)) h = hash_line(h, v->keys[i], text);
      else if (v->slot[i] < 0 && is_runner_only(v->keys[i])) hs = hash_line(hs, v->keys[i], text);
    }
    run->hash = h;
    spread[r] = hs;
    /* row-major: the last axis varies fastest; the sampled axes (last) advance together */
    int lead = -1;
    for (int a = na - 1; a >= 0; a--) {
      if (sw->axes[a].sampled) {
        lead = a;
        continue;
      }
    }
    for (int a = na - 1; a >= 0; a--) {
      if (sw->axes[a].sampled && a != lead) continue;
      if (++vi[a] < sw->axes[a].nvalues) {
        if (a == lead)
          for (int b = 0; b < na; b++)
            if (sw->axes[b].sampled) vi[b] = vi[a];
        break;
      }
      vi[a] = 0;
      if (a == lead)
        for (int b = 0; b < na; b++)
          if (sw->axes[b].sampled) vi[b] = 0;
    }
  }
  for (int i = 0; i < v->nkeys; i++) free(base_text[i]);
  drop_same_runs(sw, spread);
  free(spread);

  /* ids must be unique (different values could still read the same once sanitised) */
  if (sw->nruns > 1) {
    const char **ids = gs_malloc((size_t)sw->nruns * sizeof *ids);
    for (long r = 0; r < sw->nruns; r++) ids[r] = sw->runs[r].id;
    qsort(ids, (size_t)sw->nruns, sizeof *ids, compare_ids);
    for (long r = 1; r < sw->nruns && !rc; r++)
      if (strcmp(ids[r - 1], ids[r]) == 0)
        rc = gs_fail(err, "%s:%d: two runs would get the same id '%s'; make the values differ in letters or digits",
                     path, sw->axes[0].line, ids[r]);
    free(ids);
    if (rc) goto done;
  }
  for (long r = 0; r < sw->nruns; r++) {
    gs_error e;
    if (gs_config_validate(&sw->runs[r].cfg, &e) != 0) {
      if (na)
        rc = gs_fail(err, "%s: run %s: %s", path, sw->runs[r].id, e.msg);
      else
        rc = gs_fail(err, "%s: %s", path, e.msg);
      goto done;
    }
  }
done:
  for (int a = 0; a < na; a++) {
    if (!parts[a]) continue;
    for (int v = 0; v < sw->axes[a].nvalues; v++) free(parts[a][v]);
    free(parts[a]);
  }
  return rc;
}

/* Takes ownership of text. */
static int load(const char *path, const gs_vocabulary *v, char *text, size_t len, gs_sweep *sw, gs_error *err) {
  memset(sw, 0, sizeof *sw);
  GS_STRCPY(sw->path, path);
  sw->text = text;
  gs_config_defaults(&sw->base, v);
  gs_error_clear(err);

  loader *L = gs_calloc(1, sizeof *L);
  L->sw = sw;
  L->v = v;
  L->path = path;
  L->text = text;
  L->len = len;

  if (strlen(text) != len) {
    const char *nul = text + strlen(text);
    int line = 1;
    for (const char *p = text; p < nul; p++) line += *p == '\n';
    add_error(L, line, "NUL byte in the file (not a text file?)");
  }

  /* a file without any [section] (empty, only comments, or not an experiment file at all)
   * would silently run the full default sweep */
  int has_section = 0;
  for (const char *q = text; q && *q && !has_section;) {
    while (*q == ' ' || *q == '\t') q++;
    has_section = *q == '[';
    q = strchr(q, '\n');
    if (q) q++;
  }

  int r = ini_parse_stream(line_reader, L, on_key, L);
  if (r > 0) {
    const char *s = find_line(text, len, r);
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '[')
      add_error(L, r, "syntax error: section header without a closing ']'");
    else
      add_error(L, r, "syntax error: expected 'key = value', a [section] header or a comment");
  } else if (r < 0) {
    add_error(L, 1, "the INI parser failed (error %d)", r);
  }

  if (!has_section && L->nerrs == 0)
    add_error(L, 1, "no [section] in the file: an experiment file needs at least one (for example [sweep] with "
                    "name = ...); an empty file would run the whole default sweep");
  for (int a = 0; a < sw->naxes; a++) check_axis_values(L, a);
  /* a key both fixed and swept, or sampled too */
  for (int i = 0; i < v->nkeys; i++) {
    const gs_key *k = v->keys[i];
    if (L->key_line[i] && L->grid_line[i]) {
      int later = L->key_line[i] > L->grid_line[i] ? L->key_line[i] : L->grid_line[i];
      add_error(L, later, "%s.%s is set in [%s] on line %d and swept in [grid] on line %d", k->section, k->name,
                k->section, L->key_line[i], L->grid_line[i]);
    }
    if (L->search_line[i] && (L->key_line[i] || L->grid_line[i])) {
      int other = L->key_line[i] ? L->key_line[i] : L->grid_line[i];
      add_error(L, L->search_line[i], "%s.%s is sampled in [search] on line %d and %s on line %d", k->section,
                k->name, L->search_line[i], L->key_line[i] ? "set in its section" : "swept in [grid]", other);
    }
  }
  if (L->nerrs == 0) build_search_axes(L);
  for (int j = 0; j < L->nsearch; j++) free(L->search[j].choices);
  /* number of runs: the grid's product, times the samples (the sampled axes advance together) */
  sw->nruns = 1;
  int sampled = 0;
  for (int a = 0; a < sw->naxes; a++) {
    if (sw->axes[a].sampled && sampled++) continue;
    sw->nruns *= sw->axes[a].nvalues;
    if (sw->nruns > gs_config_max_runs) {
      add_error(L, sw->axes[a].line, "the grid has too many runs (more than %ld)", gs_config_max_runs);
      break;
    }
  }

  int rc = 0;
  if (L->nerrs) {
    int first = 0;
    for (int i = 1; i < L->nerrs; i++)
      if (L->errs[i].line < L->errs[first].line) first = i;
    rc = gs_fail(err, "%s:%d: %s", path, L->errs[first].line, L->errs[first].msg);
  } else {
    unsigned char given[GS_MAX_KEYS];
    for (int i = 0; i < v->nkeys; i++) given[i] = L->key_line[i] || L->grid_line[i];
    rc = expand(sw, path, given, err);
  }
  for (int i = 0; i < L->nerrs; i++) free(L->errs[i].msg);
  free(L->errs);
  for (int a = 0; a < GS_MAX_AXES; a++) free(L->value_line[a]);
  free(L);
  if (rc) gs_sweep_free(sw);
  return rc;
}

int gs_sweep_load(const char *path, const gs_vocabulary *v, gs_sweep *sw, gs_error *err) {
  memset(sw, 0, sizeof *sw);
  size_t len = 0;
  char *text = gs_read_file_max(path, GS_CONFIG_MAX_BYTES, &len, err);
  if (!text) return -1;
  return load(path, v, text, len, sw, err);
}

int gs_sweep_load_text(const char *path, const gs_vocabulary *v, const char *text, gs_sweep *sw, gs_error *err) {
  return load(path, v, gs_strdup(text), strlen(text), sw, err);
}

int gs_sweep_load_mem(const char *path, const gs_vocabulary *v, const void *data, size_t len, gs_sweep *sw,
                      gs_error *err) {
  char *text = gs_malloc(len + 1);
  if (len) memcpy(text, data, len);
  text[len] = 0;
  return load(path, v, text, len, sw, err);
}

/* ------------------------------------------------------------------ command-line overrides */

/* "section.name=value": 0 and the parts, or -1 when arg has another form */
static int split_override(const char *arg, char *sec, size_t ns, char *name, size_t nn, const char **value) {
  const char *eq = strchr(arg, '='), *dot = strchr(arg, '.');
  if (!eq || !dot || dot > eq || dot == arg || dot + 1 == eq) return -1;
  if ((size_t)(dot - arg) >= ns || (size_t)(eq - dot - 1) >= nn) return -1;
  for (const char *p = arg; p < eq; p++)
    if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.')) return -1;
  memcpy(sec, arg, (size_t)(dot - arg));
  sec[dot - arg] = 0;
  memcpy(name, dot + 1, (size_t)(eq - dot - 1));
  name[eq - dot - 1] = 0;
  if (strchr(name, '.') && strcmp(sec, "search") != 0) return -1; /* search.train.lr=loguniform(...) */
  *value = eq + 1;
  return 0;
}

/* the key of an INI line ("name = ...", "name += ..."), trimmed, '+' dropped; 0 if none */
static int line_key(const char *s, size_t len, char *key, size_t n) {
  while (len && (*s == ' ' || *s == '\t')) s++, len--;
  if (!len || *s == ';' || *s == '#' || *s == '[') return 0;
  const char *eq = memchr(s, '=', len);
  if (!eq) return 0;
  const char *e = eq;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '+')) e--;
  if ((size_t)(e - s) >= n) return 0;
  memcpy(key, s, (size_t)(e - s));
  key[e - s] = 0;
  return 1;
}

char *gs_overrides_apply(const char *text, int n, char *const *args, const gs_vocabulary *v, int *first_line,
                         gs_error *err) {
  char (*sec)[32] = gs_calloc((size_t)(n ? n : 1), sizeof *sec), (*name)[64] = gs_calloc((size_t)(n ? n : 1), sizeof *name);
  const char **val = gs_calloc((size_t)(n ? n : 1), sizeof *val);
  char *out = NULL;
  int bad = 1;
  for (int i = 0; i < n; i++) {
    if (split_override(args[i], sec[i], sizeof sec[i], name[i], sizeof name[i], &val[i]) != 0) {
      gs_fail(err, "argument '%s': expected section.key=value (for example train.epochs=2, or "
                   "model.latent_dim=2,4 for a grid axis)", args[i]);
      goto out;
    }
    if (!val[i][0]) {
      gs_fail(err, "argument '%s': no value after '='", args[i]);
      goto out;
    }
    if (strchr(val[i], '\n') || strchr(val[i], '\r')) {
      gs_fail(err, "argument '%s': a line break in the value", args[i]);
      goto out;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(sec[i], sec[j]) == 0 && strcmp(name[i], name[j]) == 0) {
        gs_fail(err, "argument '%s': %s.%s is already set by argument '%s'", args[i], sec[i], name[i], args[j]);
        goto out;
      }
  }
  /* the file, its lines that set an overridden key commented out (line numbers kept) */
  size_t tl = strlen(text), cap = tl + 64 * (size_t)n + 256, o = 0;
  for (int i = 0; i < n; i++) cap += strlen(args[i]) + 64;
  int lines = 0;
  for (const char *p = text; *p; p++) lines += *p == '\n';
  cap += (size_t)lines * 40;
  out = gs_malloc(cap);
  char section[64] = "", key[160];
  int line = 0;
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    line++;
    const char *q = p;
    while (q < p + len && (*q == ' ' || *q == '\t')) q++;
    if (q < p + len && *q == '[') {
      const char *e = memchr(q, ']', len - (size_t)(q - p));
      size_t sl = e ? (size_t)(e - q - 1) : 0;
      if (sl >= sizeof section) sl = sizeof section - 1;
      memcpy(section, q + 1, sl);
      section[sl] = 0;
    }
    int hit = 0;
    if (line_key(p, len, key, sizeof key))
      for (int i = 0; i < n && !hit; i++) {
        char full[100];
        snprintf(full, sizeof full, "%s.%s", sec[i], name[i]);
        hit = strcmp(section, "grid") == 0 ? strcmp(key, full) == 0
                                           : strcmp(section, sec[i]) == 0 && strcmp(key, name[i]) == 0;
      }
    if (hit) o += (size_t)snprintf(out + o, cap - o, "; overridden on the command line: ");
    memcpy(out + o, p, len);
    o += len;
    out[o++] = '\n';
    p = nl ? nl + 1 : p + len;
  }
  /* the overrides, each in a section of its own: a comma list is a grid axis unless the key
   * holds text (probe.features = model, untrained is one value) */
  *first_line = line + 2;
  o += (size_t)snprintf(out + o, cap - o, "; the command line's overrides\n");
  for (int i = 0; i < n; i++) {
    const gs_key *k = gs_config_find_key(v, sec[i], name[i]);
    int axis = strchr(val[i], ',') && (!k || k->type != GS_KEY_STRING) && strcmp(sec[i], "sweep") != 0 &&
               strcmp(sec[i], "search") != 0;
    if (axis) o += (size_t)snprintf(out + o, cap - o, "[grid]\n%s.%s = %s\n", sec[i], name[i], val[i]);
    else o += (size_t)snprintf(out + o, cap - o, "[%s]\n%s = %s\n", sec[i], name[i], val[i]);
  }
  out[o] = 0;
  bad = 0;
out:
  free(sec), free(name), free(val);
  if (bad) free(out);
  return bad ? NULL : out;
}

int gs_sweep_load_overrides(const char *path, const gs_vocabulary *v, int n, char *const *args, gs_sweep *sw,
                            gs_error *err) {
  if (n == 0) return gs_sweep_load(path, v, sw, err);
  memset(sw, 0, sizeof *sw);
  gs_error_clear(err);
  size_t len = 0;
  char *text = gs_read_file_max(path, GS_CONFIG_MAX_BYTES, &len, err);
  if (!text) return -1;
  if (strlen(text) != len) { /* a NUL byte: the file's own message */
    free(text);
    return gs_sweep_load(path, v, sw, err);
  }
  int first = 0;
  char *eff = gs_overrides_apply(text, n, args, v, &first, err);
  free(text);
  if (!eff) return -1;
  int rc = load(path, v, eff, strlen(eff), sw, err);
  /* a message about an override's line names the argument, not a line past the file's end */
  size_t pl = strlen(path);
  if (rc != 0 && strncmp(err->msg, path, pl) == 0 && err->msg[pl] == ':') {
    int line = atoi(err->msg + pl + 1);
    if (line >= first) {
      int i = (line - first) / 2;
      const char *rest = strchr(err->msg + pl + 1, ':');
      char msg[sizeof err->msg];
      snprintf(msg, sizeof msg, "argument '%.200s': %.700s", i < n ? args[i] : "?", rest ? rest + 2 : err->msg);
      GS_STRCPY(err->msg, msg);
    }
  }
  return rc;
}

void gs_sweep_free(gs_sweep *sw) {
  if (!sw) return;
  for (int a = 0; a < sw->naxes && a < GS_MAX_AXES; a++) free_values(sw->axes[a].values, sw->axes[a].nvalues);
  free(sw->runs);
  free(sw->text);
  memset(sw, 0, sizeof *sw);
}

/* ------------------------------------------------------------------ plan */

void gs_sweep_print_plan(const gs_sweep *sw, const int *owner, FILE *out) {
  const gs_config *b = &sw->base;
  fprintf(out, "experiment   %s\n", sw->path);
  fprintf(out, "sweep        %s -> %s/%s/\n", b->sweep_name, b->results, b->sweep_name);
  if (b->description[0]) fprintf(out, "description  %s\n", b->description);
  fprintf(out, "runs         %ld\n", sw->nruns);
  if (sw->nsame)
    fprintf(out, "             (%ld more grid point%s the same run as another: the model reads none of the keys they "
            "differ in, e.g. %s)\n", sw->nsame, sw->nsame == 1 ? " is" : "s are", sw->same_example);

  /* fixed values that differ from the defaults */
  gs_config def;
  gs_config_defaults(&def, b->vocab);
  int header = 0;
  for (int i = 0; i < b->vocab->nkeys; i++) {
    const gs_key *k = b->vocab->keys[i];
    if (strcmp(k->section, "sweep") == 0) continue;
    int swept = 0;
    for (int a = 0; a < sw->naxes; a++) swept |= sw->axes[a].key == k;
    char v[VALUE_BUF], d[VALUE_BUF];
    gs_config_format(b, k, v, sizeof v);
    gs_config_format(&def, k, d, sizeof d);
    if (swept || strcmp(v, d) == 0) continue;
    if (!header++) fprintf(out, "fixed (not default):\n");
    fprintf(out, "  %s.%s = %s\n", k->section, k->name, v);
  }

  fprintf(out, "axes         %d%s\n", sw->naxes, sw->naxes ? " (the first varies slowest)" : "");
  int w = 0;
  for (int a = 0; a < sw->naxes; a++)
    if ((int)strlen(sw->axes[a].fullname) > w) w = (int)strlen(sw->axes[a].fullname);
  for (int a = 0; a < sw->naxes; a++) {
    const gs_axis *ax = &sw->axes[a];
    fprintf(out, "  %-*s = ", w, ax->fullname);
    if (ax->sampled) {
      fprintf(out, "%s   ([search], one value per sample)\n", ax->spec);
      continue;
    }
    for (int v = 0; v < ax->nvalues; v++) fprintf(out, "%s%s", v ? ", " : "", ax->values[v]);
    fprintf(out, "   (%d value%s)\n", ax->nvalues, ax->nvalues == 1 ? "" : "s");
  }

  int idw = 6;
  for (long r = 0; r < sw->nruns; r++) {
    int l = (int)strlen(sw->runs[r].id);
    if (l > idw) idw = l;
  }
  fprintf(out, "\n%7s  ", "index");
  if (owner) fprintf(out, "%5s  ", "shard");
  if (sw->naxes)
    fprintf(out, "%-*s  %s\n", idw, "run id", "values");
  else
    fprintf(out, "%s\n", "run id");
  for (long r = 0; r < sw->nruns; r++) {
    const gs_run *run = &sw->runs[r];
    fprintf(out, "%7d  ", run->index);
    if (owner) fprintf(out, "%5d  ", owner[r]);
    if (!sw->naxes) {
      fprintf(out, "%s\n", run->id);
      continue;
    }
    fprintf(out, "%-*s ", idw, run->id);
    for (int a = 0; a < sw->naxes; a++)
      fprintf(out, " %s=%s", sw->axes[a].fullname, sw->axes[a].values[run->value_index[a]]);
    fputc('\n', out);
  }
}
