/* Experiment files (INI, read with inih) and grid expansion.
 *
 *   [sweep]  name, description, results           fixed values
 *   [data]   dataset, train_size, test_size, val_split, seed
 *   [model]  name, and the model's own keys (latent_dim, hidden1, ...)
 *   [train]  epochs, batch_size, optimizer, lr, ...
 *   [eval]   eval_every, and the models' evaluation keys (iw_samples, ...)
 *   [<other>] keys of a model (e.g. [igmn])
 *   [grid]   section.key = v1, v2, ...           axes: the runs are the cartesian product
 *
 * Every key is described once in a table of gs_key with its type, range and default (the
 * runner's here, each model's in its file); loading, validation, grid expansion, `plan` and the
 * run files all go through the vocabulary that gathers them. */
#ifndef GENSWEEP_CONFIG_H
#define GENSWEEP_CONFIG_H
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include "gensweep/core/common.h"

/* The keys of gs_config's own fields are the runner's: where results go, which data, which model,
 * how to train, how often to evaluate (gs_runner_keys, src/config/config.c). Every other key
 * belongs to the models that read it: each model file declares its keys in a table of gs_key
 * whose offsets point into that model's own settings struct, and reads them with
 * gs_config_read. A gs_vocabulary gathers the runner's keys and every model's (the registry
 * builds it, gs_models_vocabulary() in models/model.h); a gs_config holds a value for each key of its
 * vocabulary: the runner's in its fields, the models' in `values`. */

typedef enum { GS_KEY_INT, GS_KEY_FLOAT, GS_KEY_STRING, GS_KEY_ENUM } gs_key_type;

typedef struct gs_key {
  const char *section;
  const char *name;
  gs_key_type type;
  size_t offset;           /* runner keys: offsetof(gs_config, field); model keys: offset in the
                              model's settings struct (INT: long, FLOAT: double, ENUM: char[]) */
  size_t size;             /* sizeof the field (strings, enums) */
  double min, max;         /* range (INT, FLOAT); STRING: min = minimum length (0 or 1) */
  int min_open;            /* 1: min is exclusive */
  int max_open;            /* 1: max is exclusive */
  const char *choices;     /* ENUM: "exact|paper" */
  const char *def;         /* default as text */
  const char *help;
  /* Model keys only. 1: part of every run's hash, whichever model it trains. Until keys moved
   * into the model files every run hashed every key except a few; these keys were hashed for
   * runs of models that do not read them, and still are, so that no finished run's hash moves.
   * New keys leave it 0: they count only for the models that declare them. */
  int in_every_hash;
  /* 1: a run hashes the key only when it sets it away from its default. Runner keys: for every
   * run; model keys: per declaration (integer keys), for that model's runs. For keys a model starts to read after runs of it exist
   * (the VAE's sample-quality keys): those runs keep their identity, and a run that changes the
   * setting is a new run. Never change the default of such a key. */
  int neutral_at_default;
} gs_key;

/* Declaring keys: `settings` is the struct the values are read into (gs_config for the
 * runner's keys, a model's own struct for its keys). */
#define GS_KEY_FIELD(settings, f) .offset = offsetof(settings, f), .size = sizeof(((settings *)0)->f)
#define GS_KEY_INT(settings, sec, nm, f, lo, hi, d, h)                                                  \
  { .section = sec, .name = nm, .type = GS_KEY_INT, GS_KEY_FIELD(settings, f), .min = lo, .max = hi,     \
    .def = d, .help = h }
#define GS_KEY_FLOAT(settings, sec, nm, f, lo, lo_open, hi, hi_open, d, h)                              \
  { .section = sec, .name = nm, .type = GS_KEY_FLOAT, GS_KEY_FIELD(settings, f), .min = lo, .max = hi,   \
    .min_open = lo_open, .max_open = hi_open, .def = d, .help = h }
/* strings: min is the minimum length (0: may be empty); runner keys only */
#define GS_KEY_STR(settings, sec, nm, f, minlen, d, h)                                                  \
  { .section = sec, .name = nm, .type = GS_KEY_STRING, GS_KEY_FIELD(settings, f), .min = minlen, .def = d, \
    .help = h }
#define GS_KEY_ENUM(settings, sec, nm, f, ch, d, h) \
  { .section = sec, .name = nm, .type = GS_KEY_ENUM, GS_KEY_FIELD(settings, f), .choices = ch, .def = d, .help = h }

typedef struct gs_config gs_config;

/* The keys one model reads (besides the runner's), as the model file declares them. */
typedef struct gs_model_keys {
  const char *model;       /* model.name */
  const char *about;       /* a few words for model.name's help: "conditioned on the class label" */
  const gs_key *keys;
  int nkeys;
  /* cross-key checks for runs of this model (NULL: none); the message names the keys */
  int (*validate)(const gs_config *c, gs_error *err);
  /* Its own defaults for keys the runner or other models declare: {"train.batch_size", "500",
   * ..., NULL}. A run of this model whose file (or grid) does not set such a key gets this value;
   * its canonical text and hash hold the value it trains with. */
  const char *const *defaults;
  /* Runner keys its runs do not read: {"train.seed", ..., NULL} (NULL: none). They are left out
   * of its runs' hashes, and grid points that differ only in them are one run (gs_sweep). */
  const char *const *unread;
} gs_model_keys;

#define GS_MAX_KEYS 192
#define GS_MAX_MODELS 32
#define GS_MAX_MODEL_VALUES 96
#define GS_MAX_SECTIONS 24
#define GS_MAX_MODEL_DEFAULTS 128
#define GS_ENUM_VALUE_LEN 16  /* a model key's ENUM choice is shorter than this */

typedef struct gs_vocabulary {
  int nkeys;
  const gs_key *keys[GS_MAX_KEYS]; /* canonical order: the order of `gensweep keys`, of the run
                                      files' config text and of the hash */
  int slot[GS_MAX_KEYS];           /* model keys: index in gs_config.values; runner keys: -1 */
  uint32_t readers[GS_MAX_KEYS];   /* model keys: bit m set if models[m] declares the key */
  uint32_t neutral[GS_MAX_KEYS];   /* bit m: models[m] declares it neutral_at_default */
  long neutral_default[GS_MAX_KEYS]; /* and that default's value */
  uint32_t unread[GS_MAX_KEYS];    /* runner keys: bit m set if models[m] does not read the key */
  char neutral_text[GS_MAX_KEYS][136]; /* runner keys with neutral_at_default: the default's canonical text */
  int nmodels;
  gs_model_keys models[GS_MAX_MODELS];
  int nsections;
  const char *sections[GS_MAX_SECTIONS]; /* every key's section, then "grid" and "search" */
  /* the models' own defaults (gs_model_keys.defaults), resolved: key index and text */
  int ndefaults;
  struct {
    int model, key;
    char value[64];        /* canonical text */
  } defaults[GS_MAX_MODEL_DEFAULTS];
  gs_key model_key;                /* model.name, its choices the models' names */
  char model_choices[512];
  char model_help[1024];
} gs_vocabulary;

/* The runner's keys: [sweep], [data], model.name, [train] and eval.eval_every. */
extern const gs_key gs_runner_keys[];
extern const int gs_runner_nkeys;

/* Build the vocabulary of the runner's keys and the given models' keys. A key two models declare
 * (model.latent_dim) is one key: the declarations must agree on type, range, choices, default
 * and in_every_hash, else this fails naming both models. */
int gs_vocabulary_init(gs_vocabulary *v, const gs_model_keys *models, int nmodels, gs_error *err);
/* The default of key k for runs of `model` (its own default, else the key's), as text. */
const char *gs_vocabulary_default(const gs_vocabulary *v, const char *model, const gs_key *k);
/* The index of the model named `model` in v->models, or -1. */
int gs_vocabulary_model(const gs_vocabulary *v, const char *model);

typedef union gs_value {
  long i;
  double f;
  char s[GS_ENUM_VALUE_LEN];
} gs_value;

struct gs_config {
  const gs_vocabulary *vocab; /* the keys it has values for */
  /* [sweep] */
  char sweep_name[64];     /* results/<name>/; letters, digits, '-', '_', '.', not first '.' or '-':
                              anything else is refused at load, naming sweep.name */
  char description[256];
  char results[512];       /* results root directory, default "results" */
  char scheduler[8];       /* none | sha | asha (runner/scheduler.h) */
  char sched_metric[64];   /* the series runs are ranked by; "": the model's headline */
  char sched_mode[4];      /* min | max */
  long sched_min_resource, sched_reduction, sched_max_resource; /* epochs; max 0: train.epochs */
  /* [data] */
  char dataset[512];       /* "fashion-mnist" or a directory of MNIST-format IDX files */
  long train_size;         /* 0 = all */
  long test_size;          /* 0 = all */
  double val_split;        /* [0, 0.9] */
  long data_seed;
  /* data.dataset = shapes (data/shapes.h): the generated point sets */
  long shapes_train, shapes_test; /* clouds generated for training and test */
  long points;                    /* N per cloud (also: the first N of each cloud of a release file) */
  char rotation[8];               /* none | z | any */
  double noise, anisotropy;
  /* [model] */
  char model[32];          /* one of the registry's models */
  /* [train] */
  long epochs;
  long batch_size;
  char optimizer[16];      /* rmsprop | adam | sgd */
  double lr;
  double momentum;         /* sgd */
  double rho;              /* rmsprop decay */
  double beta1, beta2;     /* adam */
  double eps;              /* rmsprop / adam epsilon */
  long seed;               /* training seed: init, shuffling, noise */
  long threads;            /* OpenBLAS threads per rank */
  long ranks_per_run;
  long checkpoint_every;   /* epochs; 0 = never */
  /* [eval] */
  long eval_every;         /* evaluate the test set every N epochs (and always after the last) */
  /* [probe] linear probes of a run's features after its last epoch (probe/probe.h) */
  char probe_features[128];   /* "none" or a list of feature sources: model, untrained, pooled,
                                 untrained_pooled, class_head, finetuned */
  char probe_budgets[128];    /* a list of label budgets: all, 1000, 100 */
  char probe_classifiers[32]; /* a list: svm, lr */
  long probe_repeats;         /* subsets drawn per budget below all */
  double probe_c;             /* liblinear's C */
  double probe_tol;           /* liblinear's stopping tolerance */
  long probe_seed;            /* seed of the labelled subsets (the same for every run) */
  long probe_every;           /* also probe during training, every N iterations / epochs (0: no) */
  char probe_c_grid[128];     /* "" or candidate Cs, chosen per subset by cross-validation */
  long probe_cv_folds;        /* folds of that cross-validation */
  long probe_finetune_epochs; /* probe.features = finetuned: passes over the labelled subset */
  long probe_finetune_min_steps; /* and at least this many batches */
  /* the models' keys, vocab->slot[i] for key i */
  gs_value values[GS_MAX_MODEL_VALUES];
};

/* data.dataset = shapes: the generator's options from c (data.seed, points, rotation, noise,
 * anisotropy). -1 with err naming the key when one is out of range. */
struct gs_shapes_options;
int gs_config_shapes_options(const gs_config *c, struct gs_shapes_options *o, gs_error *err);
/* The data set's sizes as a run of c sees them (a generated set's from its keys, files' from
 * their headers), or NULL when they cannot be read. */
struct gs_data_sizes;
const struct gs_data_sizes *gs_config_data_sizes(const gs_config *c);

/* The probe lists of c, parsed: budgets (0 = all; at most GS_PROBE_MAX_BUDGETS), classifiers
 * (0 = svm, 1 = lr), and whether the model's own features are probed. -1 with err naming the key
 * when a list is malformed (gs_config_validate checks this for every run). */
#define GS_PROBE_MAX_BUDGETS 16
#define GS_PROBE_MAX_FIGURES 24 /* sources x classifiers x budgets: what a run file has room for */
#define GS_PROBE_MAX_CS 16      /* candidates of probe.c_grid */
typedef struct gs_probe_lists {
  int model_features;     /* probe.features has `model` */
  int untrained_features; /* and/or `untrained` (the run's initial weights) */
  int pooled_features;    /* `pooled`: the model's "pooled" features (features_kind) */
  int untrained_pooled_features; /* `untrained_pooled`: the same of the initial weights */
  int class_head;         /* `class_head`: an AC-GAN's class head, used directly */
  int finetuned;          /* `finetuned`: the model's feature network fine-tuned as a classifier */
  int nbudgets;
  long budgets[GS_PROBE_MAX_BUDGETS];
  int nclassifiers;
  int classifiers[2];
  int ncs;                /* probe.c_grid: 0 (C = probe.c), or candidates, ascending */
  double cs[GS_PROBE_MAX_CS];
} gs_probe_lists;
int gs_config_probe_lists(const gs_config *c, gs_probe_lists *out, gs_error *err);

/* Look up "section.name" in v; NULL if unknown. */
const gs_key *gs_config_find_key(const gs_vocabulary *v, const char *section, const char *name);
/* Closest key of v to a misspelt "section.name" (edit distance), or NULL if nothing is close. */
const char *gs_config_suggest(const gs_vocabulary *v, const char *section, const char *name, char *buf,
                              size_t n);

/* Every key of v at its default. */
void gs_config_defaults(gs_config *c, const gs_vocabulary *v);
/* Parse and set one value from text, checking type and range. k is a key of c->vocab (or a
 * declaration of the same section.name). Error text has no location; the caller prefixes
 * file:line. */
int gs_config_set(gs_config *c, const gs_key *k, const char *value, gs_error *err);
/* The key "section.name" of c's vocabulary, or NULL. */
const gs_key *gs_config_key(const gs_config *c, const char *full);
/* gs_config_set by "section.name"; an unknown name is an error naming it. */
int gs_config_set_text(gs_config *c, const char *full, const char *value, gs_error *err);
/* Format one value as text (canonical: %.17g for floats trimmed, plain for ints). */
void gs_config_format(const gs_config *c, const gs_key *k, char *buf, size_t n);
/* Typed values (k as for gs_config_set; the type must match). */
long gs_config_int(const gs_config *c, const gs_key *k);
double gs_config_float(const gs_config *c, const gs_key *k);
const char *gs_config_str(const gs_config *c, const gs_key *k);
/* Copy the values of a model's keys into its settings struct (each key's offset and size). */
void gs_config_read(const gs_config *c, const gs_key *keys, int nkeys, void *settings);
/* Canonical "section.key = value\n" text of every key; hash of it identifies the parameters. */
char *gs_config_canonical(const gs_config *c);
/* Hash of the canonical lines that make the run: not the [sweep] keys, not how the work is
 * spread (train.threads, ranks_per_run, checkpoint_every), not keys only other models read. */
uint64_t gs_config_hash(const gs_config *c);
/* 1 if a run of c's model reads (or hashes) key k. */
int gs_config_key_counts(const gs_config *c, const gs_key *k);
/* Cross-key checks after loading: the runner's, then those of the run's model. */
int gs_config_validate(const gs_config *c, gs_error *err);

#define GS_MAX_AXES 16
#define GS_MAX_RUN_ID 160

typedef struct gs_axis {
  const gs_key *key;
  char fullname[64];       /* "model.latent_dim" */
  char shortname[64];      /* used in run ids: "latent_dim" (the full name if ambiguous) */
  int nvalues;
  char **values;           /* canonical text of each value */
  int line;
  int sampled;             /* 1: a [search] key: value i is sample i's, the sampled axes advance together */
  char spec[128];          /* sampled: its distribution, e.g. "loguniform(1e-4, 1e-2): 27 samples" */
} gs_axis;

typedef struct gs_run {
  int index;                /* position in the expanded grid (row-major over the axes; grid points
                               that are the same run as another left out: gs_sweep.nsame) */
  char id[GS_MAX_RUN_ID];   /* stable, readable: "name-vae_latent_dim-2_seed-1"; "run" with no axes.
                               A file name: "<axis>-<value>" parts joined by '_', every character
                               of a value outside [A-Za-z0-9.+-] written '_', so an id never holds
                               '/', a space or a shell metacharacter, never starts with '.' or '-' */
  int value_index[GS_MAX_AXES]; /* which value of each axis */
  gs_config cfg;            /* base config with the axis values applied */
  uint64_t hash;            /* gs_config_hash(&cfg) */
} gs_run;

typedef struct gs_sweep {
  char path[1024];          /* the experiment file */
  char *text;               /* its full text (stored in sweep.h5) */
  gs_config base;           /* fixed values */
  int naxes;
  gs_axis axes[GS_MAX_AXES];
  long nruns;
  gs_run *runs;
  /* grid points left out as the same run as another (their model reads none of the keys they
   * differ in, e.g. train.seed for pixels): how many, and one of them with the run it is */
  long nsame;
  char same_example[2 * GS_MAX_RUN_ID + 8];
} gs_sweep;

/* Load, validate and expand. Every error names path:line (and, for a misspelt key, a
 * did-you-mean); errors: unknown section or key, wrong type, out-of-range value, duplicate key
 * (naming both lines), empty grid axis, line too long, syntax error, missing file. */
int gs_sweep_load(const char *path, const gs_vocabulary *v, gs_sweep *sw, gs_error *err);
/* Same from text in memory (path is used in messages only). */
int gs_sweep_load_text(const char *path, const gs_vocabulary *v, const char *text, gs_sweep *sw, gs_error *err);
/* Same from len bytes in memory, which may hold NUL bytes (reported like the file's); the bytes
 * are copied. The fuzz target (tests/fuzz/fuzz_config.c) drives the loader through this. */
int gs_sweep_load_mem(const char *path, const gs_vocabulary *v, const void *data, size_t len, gs_sweep *sw,
                      gs_error *err);
void gs_sweep_free(gs_sweep *sw);

/* Command-line overrides: args "section.key=value" applied to an experiment file's text. Every
 * line of the file that sets an overridden key (in its section, or in [grid] with its '+='
 * lines) is commented out, line numbers kept, and the overrides are appended, each in a section
 * of its own: a comma list becomes a grid axis ([grid] section.key = a, b) unless the key holds
 * text (probe.features = model, untrained is one value), anything else a fixed value. The
 * result (malloc'd) is the effective experiment, which the results directory keeps;
 * *first_line is the line of the first override (argument i is on first_line + 2 i + 1). NULL
 * with err naming the argument when one is malformed or repeats a key. */
char *gs_overrides_apply(const char *text, int n, char *const *args, const gs_vocabulary *v, int *first_line,
                         gs_error *err);
/* gs_sweep_load with overrides (n = 0: the file as it is); an error about an override names the
 * argument instead of a line. */
int gs_sweep_load_overrides(const char *path, const gs_vocabulary *v, int n, char *const *args, gs_sweep *sw,
                            gs_error *err);

/* Largest experiment file gs_sweep_load reads (a 10,000-value axis is about 100 KB). */
#define GS_CONFIG_MAX_BYTES (4L << 20)

/* Largest grid a load accepts (default 1,000,000 runs); the fuzzer lowers it so that a short
 * input cannot ask for minutes of expansion. */
extern long gs_config_max_runs;

/* Print the expanded runs (gensweep plan); with owner (gs_shard_owners), each run's shard too. */
void gs_sweep_print_plan(const gs_sweep *sw, const int *owner, FILE *out);

#endif
