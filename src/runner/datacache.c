/* The data set a job's runs train on, kept while consecutive runs share the data keys
 * (data.dataset, train_size, test_size, val_split, seed): one load per data set per process. */
#include <stdio.h>
#include <string.h>

#include "gensweep/runner/runner.h"

static gs_dataset cache_ds;
static char cache_key[1200];
static int cache_ok;

static void data_key(const gs_config *c, char *buf, size_t n) {
  snprintf(buf, n, "%s|%ld|%ld|%.17g|%ld", c->dataset, c->train_size, c->test_size, c->val_split, c->data_seed);
}

const gs_dataset *gs_dataset_cached(const gs_config *cfg, gs_error *err) {
  char key[sizeof cache_key];
  data_key(cfg, key, sizeof key);
  if (cache_ok && strcmp(key, cache_key) == 0) return &cache_ds;
  gs_dataset_cache_clear();
  gs_data_options o = {.train_size = cfg->train_size, .test_size = cfg->test_size,
                       .val_split = cfg->val_split, .seed = (uint64_t)cfg->data_seed};
  if (gs_dataset_load(cfg->dataset, &o, &cache_ds, err) != 0) return NULL;
  GS_STRCPY(cache_key, key);
  cache_ok = 1;
  return &cache_ds;
}

void gs_dataset_cache_clear(void) {
  if (cache_ok) gs_dataset_free(&cache_ds);
  cache_ok = 0;
  cache_key[0] = 0;
}

