/* Explicit-state random numbers. Every stream derives from (seed, stream, purpose) so that a
 * run's numbers never depend on which rank ran it or in what order.
 * Generator: xoshiro256** seeded through splitmix64. */
#ifndef GENSWEEP_RNG_H
#define GENSWEEP_RNG_H
#include <stdint.h>

typedef struct gs_rng {
  uint64_t s[4];
  int has_spare;     /* Box-Muller keeps its second value */
  float spare;
} gs_rng;

/* Purposes: each consumer of randomness has its own stream. */
enum {
  GS_RNG_INIT = 1,     /* parameter initialisation */
  GS_RNG_SHUFFLE = 2,  /* epoch order */
  GS_RNG_NOISE = 3,    /* reparameterisation / training noise */
  GS_RNG_EVAL = 4,     /* evaluation noise (test ELBO, IW estimate) */
  GS_RNG_SAMPLE = 5,   /* sample images */
  GS_RNG_DATA = 6,     /* training subset / validation split */
  GS_RNG_PROBE = 7,    /* linear probes' labelled subsets */
  GS_RNG_FINETUNE = 8, /* a fine-tuned classifier's new head and batch order */
};

void gs_rng_seed(gs_rng *r, uint64_t seed, uint64_t stream, uint64_t purpose);
uint64_t gs_rng_u64(gs_rng *r);
double gs_rng_uniform(gs_rng *r);             /* [0, 1) with 53 bits */
float gs_rng_uniformf(gs_rng *r);             /* [0, 1) with 24 bits */
uint64_t gs_rng_below(gs_rng *r, uint64_t n);  /* uniform integer in [0, n), unbiased */
float gs_rng_normal(gs_rng *r);               /* N(0, 1) */
void gs_rng_normal_fill(gs_rng *r, float *x, long n);
void gs_rng_shuffle(gs_rng *r, int32_t *idx, long n);

#endif
