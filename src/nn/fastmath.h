/* Vectorisable exp for x <= 0 (the range the stable Bernoulli likelihood needs).
 * e^x = 2^k e^r, k = round(x / ln 2), |r| <= ln2/2, degree-6 polynomial: rel. error < 2e-7. */
#ifndef GENSWEEP_FASTMATH_H
#define GENSWEEP_FASTMATH_H
#include <stdint.h>
#include <string.h>

static inline float gs_expf_neg(float x0) {
  /* NaN goes through the arithmetic as -87 (float -> int of NaN, and shifting the result, would
   * be undefined behaviour) and comes out as NaN again at the end */
  float x = x0 >= -87.0f ? x0 : -87.0f;
  /* round to nearest by the 1.5 * 2^23 trick (vectorises, unlike roundf) */
  float kf = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - kf * 0.693145751953125f; /* ln2 hi */
  r = r - kf * 1.42860682030941723212e-6f; /* ln2 lo */
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666418f +
                                     r * (0.00833345205f + r * 0.00138888083f)))));
  int32_t k = (int32_t)kf;
  uint32_t bits = (uint32_t)(k + 127) << 23;
  float s;
  memcpy(&s, &bits, 4);
  return x0 != x0 ? x0 : p * s;
}

/* log(1 + t) for t in [0, 1]: m = 1 + t in [1, 2], s = (m-1)/(m+1) = t/(2+t) in [0, 1/3],
 * log m = 2 (s + s^3/3 + s^5/5 + ... + s^13/13): rel. error < 1e-7. */
static inline float gs_log1p_unit(float t) {
  float s = t / (2.0f + t);
  float s2 = s * s;
  float p = 1.0f + s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * (0.111111111f +
                                     s2 * (0.0909090909f + s2 * 0.0769230769f)))));
  return 2.0f * s * p;
}

#endif
