/* The table through which the runner knows a model: nothing else about it.
 *
 * Training is data-parallel ready: a step gets the whole global batch's indices and the range of
 * rows [lo, hi) this rank computes; every rank draws the same noise for the whole batch, so a
 * run's numbers do not depend on how the batch is split. The step leaves in the parameter
 * block's gradient d(loss)/d(params) for loss = (sum over its rows of the per-image loss) / B,
 * and returns that sum; the runner sums gradients over the group and applies the optimiser.
 *
 * Several networks: a model may split its parameter block into groups (gs_params_group: "gen",
 * "disc"), each with its own optimiser (`optimizer`), and an iteration into phases (`phases`):
 * phase k updates the groups of its mask. The runner runs the phases in order on the same
 * batch; before phase k it freezes every group outside the mask (no weight gradients computed
 * for them, gradients still flow through), and after it sums the phase's gradients over the
 * worker group and applies the optimisers of the mask's groups, so the next phase sees the
 * updated parameters. A step may report named parts of its loss (gs_losses): the run records
 * the epoch mean of each as the series train_<name>. */
#ifndef GENSWEEP_MODEL_H
#define GENSWEEP_MODEL_H
#include "gensweep/config/config.h"
#include "gensweep/data/data.h"
#include "gensweep/io/record.h"
#include "gensweep/core/rng.h"
#include "gensweep/core/state.h"
#include "gensweep/nn/optim.h"
#include "gensweep/nn/tensor.h"

typedef struct gs_model gs_model; /* each model's own struct */

/* One global batch, and this rank's rows of it. */
typedef struct gs_batch {
  const gs_imageset *set;
  const int32_t *idx;      /* B examples of set */
  int B;
  int lo, hi;              /* this rank computes rows [lo, hi) */
  /* sums over the ranks of the worker group (collective: every rank calls it alike), for
   * statistics of the global batch such as batch norm's; NULL: a group of one */
  const gs_reducer *group;
} gs_batch;

/* Named parts of a step's loss, each summed over the step's rows like the returned loss. A name
 * is recorded as train_<name>: not "loss", at most 40 characters. */
#define GS_MAX_LOSSES 8
typedef struct gs_losses {
  int n;
  const char *name[GS_MAX_LOSSES]; /* static strings: "d_real", "g" */
  double sum[GS_MAX_LOSSES];
} gs_losses;
static inline void gs_losses_add(gs_losses *l, const char *name, double sum) {
  if (!l || l->n >= GS_MAX_LOSSES) return;
  l->name[l->n] = name;
  l->sum[l->n++] = sum;
}

/* A phase of an iteration: its name (series train_loss_<name>) and the groups it updates. */
#define GS_MAX_PHASES 8
typedef struct gs_phase {
  const char *name;
  unsigned groups;         /* bit g: updates parameter group g */
} gs_phase;

/* Where training is when the model evaluates: after epoch `epoch` (its last step is
 * `iteration`, counted from 1 over the whole run), or mid-epoch for a model that evaluates every
 * N iterations (gs_schedule.eval_every). final = 1: the run's last evaluation. */
typedef struct gs_when {
  int epoch;
  long iteration;
  int final;
} gs_when;

/* How a run is trained when it counts iterations rather than epochs (the GANs of the write-ups
 * train 100,000 iterations): filled by the model's `schedule` hook from the run's keys. */
typedef struct gs_schedule {
  long iterations;  /* training length in iterations (batches); 0: train.epochs epochs */
  long log_every;   /* record each loss's mean over every N iterations as series iter_<name>
                       (and `iteration`); 0: per epoch only */
  long eval_every;  /* evaluate every N iterations and after the last, instead of per epoch; 0:
                       per epoch (eval.eval_every) */
} gs_schedule;

/* How long a fine-tuned classifier trains (probe.finetune_epochs, probe.finetune_min_steps). */
typedef struct gs_finetune {
  long epochs;     /* passes over the labelled examples */
  long min_steps;  /* at least this many batches (a small labelled set is a few batches a pass) */
} gs_finetune;

typedef struct gs_metric_label {
  const char *metric; /* a name in the run file, e.g. "test_neg_elbo" */
  const char *label;  /* how a log line calls it, e.g. "test -ELBO" */
} gs_metric_label;

typedef struct gs_model_def {
  const char *name;
  const char *description;
  /* The keys it reads besides the runner's (its file declares them with its settings struct),
   * a few words for model.name's help, and its cross-key checks (NULL: none). */
  const gs_key *keys;
  int nkeys;
  const char *about;
  int (*validate)(const gs_config *cfg, gs_error *err);
  /* its own defaults for keys it shares: {"train.batch_size", "500", ..., NULL} (NULL: none) */
  const char *const *defaults;
  /* runner keys its runs do not read: {"train.seed", ..., NULL} (NULL: none): out of its hash, and
   * grid points that differ only in them are one run (pixels: a seed axis trains no new pixels) */
  const char *const *unread;
  /* the samples it trains on (images, labels, a least size): checked before create() */
  gs_data_needs data;
  /* the per-epoch test metric shown in progress lines and by default in reports */
  const char *headline;
  /* final scalars the job's log shows when a run is done, with their labels; {NULL} ends it */
  const gs_metric_label *done_metrics;
  /* Epochs a run trains in all (NULL: train.epochs). */
  long (*epochs)(const gs_config *cfg);
  /* Optional: training by iterations, per-iteration series, evaluation every N iterations. */
  void (*schedule)(const gs_config *cfg, gs_schedule *out);
  /* relative cost of a run (for scheduling: costliest first), from the data set's sizes */
  double (*cost)(const gs_config *cfg, const gs_data_sizes *data);
  /* build the graph's parameters and initialise them from rng (purpose GS_RNG_INIT) */
  gs_model *(*create)(const gs_config *cfg, const gs_dataset *ds, gs_rng *init, gs_error *err);
  gs_params *(*params)(gs_model *m);
  /* Optional: the phases of an iteration, written into out (at most GS_MAX_PHASES), and their
   * number. NULL: one phase that updates every group. */
  int (*phases)(gs_model *m, gs_phase *out);
  /* Optional: the optimiser of parameter group g; s comes filled with the run's train.* keys. */
  void (*optimizer)(gs_model *m, int group, gs_optim_settings *s);
  /* phase `phase` of one step over rows [lo, hi) of the global batch; losses may be NULL */
  double (*train_step)(gs_model *m, const gs_batch *batch, int phase, gs_rng *noise, gs_losses *losses);
  /* evaluation (push series into rec) after an epoch, or every N iterations (`schedule`);
   * when->final = 1 after the last step: also final scalars and sample images. Returns -1 with
   * err on failure. */
  int (*evaluate)(gs_model *m, const gs_dataset *ds, const gs_when *when, gs_record *rec, gs_error *err);
  void (*destroy)(gs_model *m);
  /* Optional. A model with state outside its parameters (a mixture, a stage) saves it into
   * checkpoints as named arrays (core/state.h) and gets it back on resume; state_load checks
   * every array and leaves the model as it was when it refuses (err names the array). */
  void (*state_save)(gs_model *m, gs_state *out);
  int (*state_load)(gs_model *m, const gs_state *in, gs_error *err);
  /* Optional: a feature vector per input, for linear probes and clustering (a VAE's posterior
   * mean, a CAE's code, a discriminator's layers): feature_dim columns for each of the n
   * examples idx[0..n) of set, written row by row into out (n x feature_dim). Evaluation mode:
   * no noise, no gradient; the same call gives the same bits, and splitting the examples into
   * other calls changes only float rounding (matrix products pick kernels by size). */
  int (*feature_dim)(gs_model *m);
  void (*features)(gs_model *m, const gs_imageset *set, const int32_t *idx, int n, float *out);
  /* Optional: further named feature sets for the probes (probe.features = <kind>), as
   * features() above: feature_dim_kind gives 0 for a kind the model does not have. The GANs
   * have "pooled": every convolutional layer of D max-pooled to 2 x 2 and concatenated (960 for
   * the DCGAN discriminator; the MLP GAN has none). */
  int (*feature_dim_kind)(gs_model *m, const char *kind);
  void (*features_kind)(gs_model *m, const char *kind, const gs_imageset *set, const int32_t *idx, int n, float *out);
  /* Optional: why the features above read each example's label as an input (a cGAN's
   * discriminator, a CVAE's encoder), or NULL when they do not. A classifier on such features
   * would be handed the answer, so the probes skip them with this reason. */
  const char *(*features_read_label)(gs_model *m);
  /* Optional: models with batch norm in their feature path: re-estimate its running statistics
   * on these images (the cumulative average of per-batch statistics over batches of 1,000, in
   * training mode, no parameter changes). The untrained-features probe (an initial
   * discriminator, "RND") needs it: initial running statistics 0 / 1 leave random features at
   * the bias level. Deterministic, and no collective: every rank may call it alone. */
  void (*refresh_statistics)(gs_model *m, const gs_imageset *set);
  /* Optional: the model's feature network fine-tuned as a classifier (the "discriminator" row of
   * SCIENCE.md §2): a copy of its body with a new C-way softmax head, trained by cross-entropy on
   * the labelled examples idx[0..n) of ds->train (randomness from rng), then the predicted class
   * of every test image into pred (ds->test.n). m itself is not changed; one rank alone, and the
   * same call gives the same bits. 0; 1 when the fine-tuning diverged (test logits not finite:
   * pred is not set); or -1 with err when the model cannot classify (n = 0 asks only that: idx,
   * ft, rng and pred may be NULL). */
  int (*finetune)(gs_model *m, const gs_dataset *ds, const int32_t *idx, long n, const gs_finetune *ft, gs_rng *rng,
                  int *pred, gs_error *err);
  /* Optional, generative models: n images (uint8, the data set's h x w each) drawn from the
   * model with the randomness of rng, in evaluation mode. A conditional model generates the
   * classes in turn (image i of class i mod C), writes them into cls (n) and returns 1; an
   * unconditional one leaves cls alone and returns 0; a model with nothing to generate from yet
   * (cae_igmn before its mixture) returns -1. Sample quality is measured through it. */
  int (*generate)(gs_model *m, long n, gs_rng *rng, uint8_t *out, int *cls);
  /* Optional: called after every epoch, before evaluate(): a model with stages moves from one
   * to the next here (and may record per-epoch series it needs every epoch). */
  int (*end_epoch)(gs_model *m, const gs_dataset *ds, int epoch, gs_record *rec, gs_error *err);
} gs_model_def;

/* The registry (src/models/registry.c): every model the runner can train. */
const gs_model_def *gs_model_find(const char *name);
/* The runner's keys and every model's: what experiment files may say. Built once; a registry
 * whose models declare one key differently aborts with the message (a programming error, caught
 * by unit_config). */
const gs_vocabulary *gs_models_vocabulary(void);
/* Epochs a run of cfg trains in all (its model's `epochs`, else train.epochs); for a run trained
 * by iterations, the epochs they span over `train` training examples (the last one partial). */
long gs_model_epochs(const gs_config *cfg);
long gs_model_epochs_of(const gs_config *cfg, long train);
/* The run's schedule (all zero: by epochs, series and evaluation per epoch). */
void gs_model_schedule(const gs_config *cfg, gs_schedule *out);

#endif
