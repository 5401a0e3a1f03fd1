/* Tests and benchmarks set and read a model's keys by name ("model.latent_dim"): the values live
 * in the configuration's vocabulary slots, not in gs_config fields. Any failure is a bug in the
 * test itself, so it aborts with the key's name. */
#ifndef GS_TEST_CFGKEYS_H
#define GS_TEST_CFGKEYS_H
#include <stdio.h>
#include <stdlib.h>

#include "gensweep/config/config.h"

static inline void cfg_set(gs_config *c, const char *full, double value) {
  const gs_key *k = gs_config_key(c, full);
  char text[64];
  if (k && k->type == GS_KEY_INT)
    snprintf(text, sizeof text, "%.0f", value);
  else
    snprintf(text, sizeof text, "%.17g", value);
  gs_error err;
  if (gs_config_set_text(c, full, text, &err) != 0) {
    fprintf(stderr, "cfg_set(%s, %s): %s\n", full, text, err.msg);
    abort();
  }
}

static inline double cfg_get(const gs_config *c, const char *full) {
  const gs_key *k = gs_config_key(c, full);
  if (!k || (k->type != GS_KEY_INT && k->type != GS_KEY_FLOAT)) {
    fprintf(stderr, "cfg_get(%s): not a numeric key\n", full);
    abort();
  }
  return k->type == GS_KEY_INT ? (double)gs_config_int(c, k) : gs_config_float(c, k);
}

#endif
