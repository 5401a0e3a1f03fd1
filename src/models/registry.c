/* Every model the runner can train, by the name used in experiment files (model.name). */
#include <string.h>

#include "gensweep/models/model.h"

static const gs_model_def *const all_models[] = {&gs_model_vae, &gs_model_cvae, &gs_model_cae, &gs_model_cae_igmn};

const gs_model_def *gs_model_find(const char *name) {
  for (size_t i = 0; i < sizeof all_models / sizeof *all_models; i++)
    if (strcmp(all_models[i]->name, name) == 0) return all_models[i];
  return NULL;
}
