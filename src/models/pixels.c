/* pixels: no model, the data set's own values (pixels / 255) as features. The baseline row of a
 * linear-probe table (SCIENCE.md §2: "raw pixels"): a run of the sweep like any other, with its
 * own hash, so the probes of the pixels are computed once and kept. It trains nothing (0 epochs)
 * and records nothing but its probes (probe.features = model); the training keys are not in its
 * hash, so a grid over seeds has one pixels run. */
#include <stdlib.h>
#include <string.h>

#include "gensweep/models/model.h"

struct gs_model {
  int D;
  gs_params p; /* none */
};

static gs_model *create(const gs_config *cfg, const gs_dataset *ds, gs_rng *init, gs_error *err) {
  (void)cfg, (void)init, (void)err;
  gs_model *m = gs_calloc(1, sizeof *m);
  m->D = (int)ds->train.dim;
  gs_params_alloc(&m->p);
  return m;
}

static gs_params *params(gs_model *m) { return &m->p; }

static double train_step(gs_model *m, const gs_batch *b, int phase, gs_rng *noise, gs_losses *l) {
  (void)m, (void)b, (void)phase, (void)noise, (void)l;
  return 0.0; /* never called: 0 epochs */
}

static int evaluate(gs_model *m, const gs_dataset *ds, const gs_when *when, gs_record *rec, gs_error *err) {
  (void)m, (void)ds, (void)when, (void)rec, (void)err;
  return 0;
}

static long epochs(const gs_config *cfg) {
  (void)cfg;
  return 0;
}

static double cost(const gs_config *c, const gs_data_sizes *d) {
  return (double)d->dim * (double)(gs_train_count(d->train, c->train_size, c->val_split) + d->test); /* reading */
}

static int feature_dim(gs_model *m) { return m->D; }

static void features(gs_model *m, const gs_imageset *set, const int32_t *idx, int n, float *out) {
  for (int i = 0; i < n; i++) {
    const uint8_t *x = set->pix + (long)idx[i] * m->D;
    float *o = out + (long)i * m->D;
    for (int j = 0; j < m->D; j++) o[j] = x[j] * (1.0f / 255.0f);
  }
}

static void destroy(gs_model *m) {
  if (!m) return;
  gs_params_free(&m->p);
  free(m);
}

/* it trains nothing: a grid over these keys has one pixels run (gs_sweep) */
static const char *const unread[] = {"train.seed", "train.epochs", "train.lr", "train.batch_size", NULL};

const gs_model_def gs_model_pixels = {
    .name = "pixels", .description = "no model: the data set's pixels / 255 as features (a linear-probe baseline)",
    .about = "no model: the pixels, for linear probes", .data = {.kind = GS_SAMPLES_IMAGES}, .unread = unread,
    .headline = "probe_svm_all", .epochs = epochs, .cost = cost, .create = create, .params = params, .train_step = train_step,
    .evaluate = evaluate, .feature_dim = feature_dim, .features = features, .destroy = destroy};
