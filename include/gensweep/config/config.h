/* Experiment files (INI, read with inih) and grid expansion.
 *
 *   [sweep]  name, description, results           fixed values
 *   [data]   dataset, train_size, test_size, val_split, seed
 *   [model]  name, latent_dim, hidden1, hidden2
 *   [train]  epochs, batch_size, optimizer, lr, ...
 *   [eval]   iw_samples, n_samples, ...
 *   [grid]   section.key = v1, v2, ...           axes: the runs are the cartesian product
 *
 * Every key is described once in a table (gs_config_keys) with its type, range and default;
 * loading, validation, grid expansion, `plan` and the run files all go through that table. */
#ifndef GENSWEEP_CONFIG_H
#define GENSWEEP_CONFIG_H
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include "gensweep/core/common.h"

typedef struct gs_config {
  /* [sweep] */
  char sweep_name[64];     /* results/<name>/; letters, digits, '-', '_', '.', not first '.' or '-':
                              anything else is refused at load, naming sweep.name */
  char description[256];
  char results[512];       /* results root directory, default "results" */
  /* [data] */
  char dataset[512];       /* "fashion-mnist" or a directory of MNIST-format IDX files */
  long train_size;         /* 0 = all */
  long test_size;          /* 0 = all */
  double val_split;        /* [0, 0.9] */
  long data_seed;
  /* [model] */
  char model[32];          /* vae | cvae | cae | cae_igmn */
  long latent_dim;
  long hidden1, hidden2;   /* MLP widths: 784-h1-h2-z */
  long conv1, conv2;       /* CAE: channels of the two stride-2 convolutions */
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
  long iw_samples;         /* k of the importance-weighted log-likelihood estimate; 0 = skip */
  long iw_test_size;       /* test images used for the IW estimate; 0 = all */
  long n_samples;          /* prior samples drawn for the PNG grid / run file */
  long n_recon;            /* test images reconstructed for the PNG / run file */
  long manifold_n;         /* 2-D latents: manifold grid is manifold_n x manifold_n */
  long manifold_class;     /* conditional models: label used for the manifold */
  long eval_every;         /* evaluate the test set every N epochs (and always after the last) */
  long judge;              /* 1: judge generated images with the cached classifier */
  long judge_epochs;       /* training epochs of that classifier */
  /* [igmn] (cae_igmn; IGMN.md) */
  double igmn_c, igmn_beta, igmn_v_min, igmn_sp_min;
  char igmn_cov_update[8]; /* exact | paper */
  double igmn_umbrella_tau, igmn_umbrella_kappa;
  double igmn_mu;          /* weight of the mixture-density regulariser during retraining */
  long igmn_retrain_epochs;
  char igmn_refresh[8];    /* full | means | none: the mixture refresh after each retraining epoch */
  double igmn_collapse;    /* retraining collapsed when sigmasq < collapse * sigmasq before it */
  long igmn_samples;       /* decoded samples per component in the generation grid */
} gs_config;

typedef enum { GS_KEY_INT, GS_KEY_FLOAT, GS_KEY_STRING, GS_KEY_ENUM } gs_key_type;

typedef struct gs_key {
  const char *section;
  const char *name;
  gs_key_type type;
  size_t offset;           /* offsetof(gs_config, field) */
  size_t size;             /* sizeof the field (strings) */
  double min, max;         /* range (INT, FLOAT); STRING: min = minimum length (0 or 1) */
  int min_open;            /* 1: min is exclusive */
  int max_open;            /* 1: max is exclusive */
  const char *choices;     /* ENUM: "vae|cvae" */
  const char *def;         /* default as text */
  const char *help;
} gs_key;

extern const gs_key gs_config_keys[];
extern const int gs_config_nkeys;

/* Look up "section.name"; NULL if unknown. */
const gs_key *gs_config_find_key(const char *section, const char *name);
/* Closest known key to a misspelt "section.name" (edit distance), or NULL if nothing is close. */
const char *gs_config_suggest(const char *section, const char *name, char *buf, size_t n);

void gs_config_defaults(gs_config *c);
/* Parse and set one value from text, checking type and range. Error text has no location;
 * the caller prefixes file:line. */
int gs_config_set(gs_config *c, const gs_key *k, const char *value, gs_error *err);
/* Format one value as text (canonical: %.17g for floats trimmed, plain for ints). */
void gs_config_format(const gs_config *c, const gs_key *k, char *buf, size_t n);
/* Canonical "section.key = value\n" text of every key; hash of it identifies the parameters. */
char *gs_config_canonical(const gs_config *c);
uint64_t gs_config_hash(const gs_config *c);
/* Epochs a run trains in all: train.epochs, plus igmn.retrain_epochs for cae_igmn. */
long gs_config_total_epochs(const gs_config *c);
/* Cross-key checks after loading (e.g. batch_size <= train size is checked at run time). */
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
} gs_axis;

typedef struct gs_run {
  int index;                /* position in the expanded grid (row-major over the axes) */
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
} gs_sweep;

/* Load, validate and expand. Every error names path:line (and, for a misspelt key, a
 * did-you-mean); errors: unknown section or key, wrong type, out-of-range value, duplicate key
 * (naming both lines), empty grid axis, line too long, syntax error, missing file. */
int gs_sweep_load(const char *path, gs_sweep *sw, gs_error *err);
/* Same from text in memory (path is used in messages only). */
int gs_sweep_load_text(const char *path, const char *text, gs_sweep *sw, gs_error *err);
/* Same from len bytes in memory, which may hold NUL bytes (reported like the file's); the bytes
 * are copied. The fuzz target (tests/fuzz/fuzz_config.c) drives the loader through this. */
int gs_sweep_load_mem(const char *path, const void *data, size_t len, gs_sweep *sw, gs_error *err);
void gs_sweep_free(gs_sweep *sw);

/* Largest grid a load accepts (default 1,000,000 runs); the fuzzer lowers it so that a short
 * input cannot ask for minutes of expansion. */
extern long gs_config_max_runs;

/* Print the expanded runs (gensweep plan); with owner (gs_shard_owners), each run's shard too. */
void gs_sweep_print_plan(const gs_sweep *sw, const int *owner, FILE *out);

#endif
