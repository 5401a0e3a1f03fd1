/* Every model the runner can train, by the name used in experiment files (model.name).
 * Adding a model: its file, and one line in MODELS (docs/ARCHITECTURE.md, "Adding a model"). The
 * first is the default of model.name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/models/model.h"

#define MODELS(X) \
  X(gs_model_vae)  \
  X(gs_model_cvae) \
  X(gs_model_cae)  \
  X(gs_model_cae_igmn) \
  X(gs_model_gan)      \
  X(gs_model_dcgan1)   \
  X(gs_model_dcgan4)   \
  X(gs_model_pixels)   \
  X(gs_model_pc_ae)    \
  X(gs_model_pc_vae)   \
  X(gs_model_pc_vaegm) \
  X(gs_model_pc_beta)

#define DECLARE(def) extern const gs_model_def def;
#define ENTRY(def) &def,
MODELS(DECLARE)
static const gs_model_def *const all_models[] = {MODELS(ENTRY)};
#define NMODELS ((int)(sizeof all_models / sizeof all_models[0]))

const gs_model_def *gs_model_find(const char *name) {
  for (int i = 0; i < NMODELS; i++)
    if (strcmp(all_models[i]->name, name) == 0) return all_models[i];
  return NULL;
}

const gs_vocabulary *gs_models_vocabulary(void) {
  static gs_vocabulary v;
  static int built;
  if (built) return &v;
  gs_model_keys keys[NMODELS];
  for (int i = 0; i < NMODELS; i++) {
    const gs_model_def *d = all_models[i];
    keys[i] = (gs_model_keys){.model = d->name, .about = d->about, .keys = d->keys, .nkeys = d->nkeys,
                              .validate = d->validate, .defaults = d->defaults, .unread = d->unread};
  }
  gs_error err;
  if (gs_vocabulary_init(&v, keys, NMODELS, &err) != 0) {
    fprintf(stderr, "gensweep: the model registry is inconsistent: %s\n", err.msg);
    abort();
  }
  built = 1;
  return &v;
}

void gs_model_schedule(const gs_config *cfg, gs_schedule *out) {
  memset(out, 0, sizeof *out);
  const gs_model_def *d = gs_model_find(cfg->model);
  if (d && d->schedule) d->schedule(cfg, out);
}

long gs_model_epochs_of(const gs_config *cfg, long train) {
  gs_schedule s;
  gs_model_schedule(cfg, &s);
  if (s.iterations > 0) {
    long nb = cfg->batch_size > 0 ? train / cfg->batch_size : 0;
    return nb > 0 ? (s.iterations + nb - 1) / nb : 0;
  }
  const gs_model_def *d = gs_model_find(cfg->model);
  return d && d->epochs ? d->epochs(cfg) : cfg->epochs;
}

long gs_model_epochs(const gs_config *cfg) {
  gs_schedule s;
  gs_model_schedule(cfg, &s);
  long train = 0;
  if (s.iterations > 0) { /* the training set's size from its files' headers */
    const gs_data_sizes *sizes = gs_config_data_sizes(cfg);
    if (sizes) train = gs_train_count(sizes->train, cfg->train_size, cfg->val_split);
  }
  return gs_model_epochs_of(cfg, train);
}
