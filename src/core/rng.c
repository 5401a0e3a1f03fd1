/* xoshiro256** (Blackman & Vigna) seeded through splitmix64; Box-Muller normals. */
#include "gensweep/core/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void gs_rng_seed(gs_rng *r, uint64_t seed, uint64_t stream, uint64_t purpose) {
  uint64_t x = seed;
  uint64_t h = splitmix64(&x);
  x = h ^ (stream * 0xD1B54A32D192ED03ULL);
  h = splitmix64(&x);
  x = h ^ (purpose * 0x8CB92BA72F3D8DD7ULL);
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
  r->has_spare = 0;
  r->spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t gs_rng_u64(gs_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double gs_rng_uniform(gs_rng *r) { return (gs_rng_u64(r) >> 11) * 0x1.0p-53; }
float gs_rng_uniformf(gs_rng *r) { return (float)(gs_rng_u64(r) >> 40) * 0x1.0p-24f; }

uint64_t gs_rng_below(gs_rng *r, uint64_t n) {
  if (n <= 1) return 0;
  uint64_t lim = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = gs_rng_u64(r);
  while (v >= lim);
  return v % n;
}

float gs_rng_normal(gs_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u1, u2;
  do u1 = gs_rng_uniform(r);
  while (u1 <= 0.0);
  u2 = gs_rng_uniform(r);
  double rad = sqrt(-2.0 * log(u1));
  double th = 2.0 * M_PI * u2;
  r->spare = (float)(rad * sin(th));
  r->has_spare = 1;
  return (float)(rad * cos(th));
}

void gs_rng_normal_fill(gs_rng *r, float *x, long n) {
  for (long i = 0; i < n; i++) x[i] = gs_rng_normal(r);
}

void gs_rng_shuffle(gs_rng *r, int32_t *idx, long n) {
  for (long i = n - 1; i > 0; i--) {
    long j = (long)gs_rng_below(r, (uint64_t)i + 1);
    int32_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}
