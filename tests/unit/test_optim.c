/* Optimisers against hand-computed steps; initialisers' statistics; RNG properties. */
#include <criterion/criterion.h>
#include <math.h>

#include "gensweep/nn/optim.h"

Test(optim, sgd_plain_and_momentum) {
  gs_optim o;
  float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, 1.0f};
  gs_optim_init(&o, GS_OPT_SGD, 2, 0.1f);
  gs_optim_step(&o, p, g);
  cr_expect_float_eq(p[0], 0.95f, 1e-7);
  cr_expect_float_eq(p[1], -2.1f, 1e-6);
  gs_optim_free(&o);
  float q[1] = {1.0f}, h[1] = {1.0f};
  gs_optim_init(&o, GS_OPT_SGD, 1, 0.1f);
  o.momentum = 0.9f;
  gs_optim_step(&o, q, h); /* buf = 1, q = 0.9 */
  cr_expect_float_eq(q[0], 0.9f, 1e-6);
  gs_optim_step(&o, q, h); /* buf = 1.9, q = 0.71 */
  cr_expect_float_eq(q[0], 0.71f, 1e-6);
  gs_optim_free(&o);
}

Test(optim, rmsprop_two_steps) {
  gs_optim o;
  float p[1] = {1.0f}, g[1] = {2.0f};
  gs_optim_init(&o, GS_OPT_RMSPROP, 1, 0.01f);
  gs_optim_step(&o, p, g);
  /* v = 0.1*4 = 0.4; p = 1 - 0.01*2/(sqrt(.4)+1e-7) */
  double v = 0.4, want = 1.0 - 0.01 * 2.0 / (sqrt(v) + 1e-7);
  cr_expect(fabs(p[0] - want) < 1e-6, "%g vs %g", p[0], want);
  g[0] = -1.0f;
  gs_optim_step(&o, p, g);
  v = 0.9 * 0.4 + 0.1 * 1.0;
  want = want + 0.01 * 1.0 / (sqrt(v) + 1e-7);
  cr_expect(fabs(p[0] - want) < 1e-6, "%g vs %g", p[0], want);
  gs_optim_free(&o);
}

Test(optim, adam_two_steps) {
  gs_optim o;
  float p[1] = {0.5f}, g[1] = {0.3f};
  gs_optim_init(&o, GS_OPT_ADAM, 1, 0.001f);
  gs_optim_step(&o, p, g);
  /* step 1: m = .03, v = .00009; mhat = .3, vhat = .09 -> p -= 1e-3 * .3/(.3+1e-8) ~ 1e-3 */
  double m = 0.1 * 0.3, v = 0.001 * 0.09;
  double want = 0.5 - 0.001 / (1 - 0.9) * m / (sqrt(v) / sqrt(1 - 0.999) + 1e-8);
  cr_expect(fabs(p[0] - want) < 1e-7, "%.9g vs %.9g", p[0], want);
  g[0] = -0.1f;
  gs_optim_step(&o, p, g);
  m = 0.9 * m + 0.1 * -0.1;
  v = 0.999 * v + 0.001 * 0.01;
  want = want - 0.001 / (1 - 0.81) * m / (sqrt(v) / sqrt(1 - 0.999 * 0.999) + 1e-8);
  cr_expect(fabs(p[0] - want) < 1e-7, "%.9g vs %.9g", p[0], want);
  cr_expect_eq(o.t, 2);
  gs_optim_free(&o);
}

Test(optim, kind_names) {
  gs_opt_kind k;
  cr_expect_eq(gs_optim_kind("adam", &k), 0);
  cr_expect_eq(k, GS_OPT_ADAM);
  cr_expect_eq(gs_optim_kind("rmsprop", &k), 0);
  cr_expect_eq(k, GS_OPT_RMSPROP);
  cr_expect_eq(gs_optim_kind("sgd", &k), 0);
  cr_expect_eq(gs_optim_kind("adagrad", &k), -1);
}

static float buf[20000];
Test(init, xavier_range_and_variance) {
  gs_tensor t = {.ndim = 1, .shape = {20000}, .n = 20000, .x = buf};
  gs_rng r;
  gs_rng_seed(&r, 1, 2, GS_RNG_INIT);
  gs_init_xavier_uniform(&t, 300, 100, &r);
  double a = sqrt(6.0 / 400.0), s = 0, s2 = 0;
  for (int i = 0; i < 20000; i++) {
    cr_assert(fabsf(buf[i]) <= a);
    s += buf[i];
    s2 += buf[i] * buf[i];
  }
  double var = s2 / 20000 - (s / 20000) * (s / 20000);
  cr_expect(fabs(var - a * a / 3) < 0.05 * a * a / 3, "variance %g vs %g", var, a * a / 3);
}

Test(init, truncated_normal_and_constant) {
  gs_tensor t = {.ndim = 1, .shape = {20000}, .n = 20000, .x = buf};
  gs_rng r;
  gs_rng_seed(&r, 1, 2, GS_RNG_INIT);
  gs_init_truncated_normal(&t, 0.02f, &r);
  double s2 = 0;
  for (int i = 0; i < 20000; i++) {
    cr_assert(fabsf(buf[i]) <= 0.04f + 1e-7f);
    s2 += buf[i] * buf[i];
  }
  /* variance of N(0,1) truncated at +-2 is 0.7737 */
  double sd = sqrt(s2 / 20000);
  cr_expect(fabs(sd - 0.02 * sqrt(0.7737)) < 0.0005, "sd %g", sd);
  gs_init_constant(&t, 0.1f);
  cr_expect_float_eq(buf[123], 0.1f, 0);
}

Test(rng, streams_independent_and_reproducible) {
  gs_rng a, b, c;
  gs_rng_seed(&a, 1, 2, 3);
  gs_rng_seed(&b, 1, 2, 3);
  gs_rng_seed(&c, 1, 2, 4);
  int same_ac = 0;
  for (int i = 0; i < 100; i++) {
    uint64_t x = gs_rng_u64(&a), y = gs_rng_u64(&b), z = gs_rng_u64(&c);
    cr_assert_eq(x, y);
    same_ac += x == z;
  }
  cr_expect_eq(same_ac, 0);
  gs_rng_seed(&a, 9, 0, 0);
  double s = 0, s2 = 0;
  for (int i = 0; i < 100000; i++) {
    float v = gs_rng_normal(&a);
    s += v;
    s2 += v * v;
  }
  cr_expect(fabs(s / 1e5) < 0.02 && fabs(s2 / 1e5 - 1) < 0.02);
  int32_t idx[10];
  for (int i = 0; i < 10; i++) idx[i] = i;
  gs_rng_shuffle(&a, idx, 10);
  int seen = 0;
  for (int i = 0; i < 10; i++) seen |= 1 << idx[i];
  cr_expect_eq(seen, 1023);
}
