/* IGMN (src/cluster/igmn.c) against the NumPy oracle (golden vectors from gen_igmn_golden.py)
 * and against its own invariants: the checklist of shared IGMN.md section 8. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/cluster/igmn.h"
#include "igmn_golden.h"

#define D6 6

static float *load_f32(const char *name, long n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/unit/%s", GS_SOURCE_DIR, name);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  float *z = malloc(sizeof(float) * n * D6);
  cr_assert_eq(fread(z, sizeof(float), n * D6, f), (size_t)(n * D6), "%s: short read", path);
  fclose(f);
  return z;
}

static void make(gs_igmn *m, double beta, double c, double v_min, double sp_min, gs_igmn_cov_update cu,
                 double sigmasq) {
  gs_igmn_params p;
  gs_igmn_params_default(&p, D6);
  p.beta = beta;
  p.c = c;
  p.v_min = v_min;
  p.sp_min = sp_min;
  p.cov_update = cu;
  gs_error err = {0};
  cr_assert_eq(gs_igmn_init(m, &p, sigmasq, &err), 0, "%s", err.msg);
}

static void fit_synth(gs_igmn *m, const float *Z, gs_igmn_cov_update cu, double c, int classic) {
  make(m, 1e-3, c, 600, 50, cu, gs_sigmasq(Z, G_N_SYNTH, D6));
  gs_igmn_set_classic(m, classic);
  gs_igmn_fit(m, Z, G_N_SYNTH);
}

static double maxabs_diff(const double *a, const double *b, long n) {
  double w = 0;
  for (long i = 0; i < n; i++) w = fmax(w, fabs(a[i] - b[i]));
  return w;
}

static int finite_state(const gs_igmn *m) {
  for (long i = 0; i < (long)m->K * D6 * D6; i++)
    if (!isfinite(m->prec[i])) return 0;
  for (int j = 0; j < m->K; j++)
    if (!isfinite(m->logdet[j]) || !isfinite(m->sp[j]) || !isfinite(m->mean[j * D6])) return 0;
  return 1;
}

/* ---------------------------------------------------------------- 1. chi2 */
Test(igmn, chi2_ppf_matches_oracle) {
  int np = sizeof G_CHI2_P / sizeof G_CHI2_P[0];
  for (int k = 1; k <= 12; k++)
    for (int i = 0; i < np; i++) {
      double ref = G_CHI2[(k - 1) * np + i], got = gs_chi2_ppf(G_CHI2_P[i], k);
      cr_assert(fabs(got - ref) <= 1e-10 * fmax(1.0, ref), "k=%d p=%.8g: %.17g vs %.17g", k, G_CHI2_P[i], got, ref);
    }
  cr_assert(fabs(gs_chi2_ppf(1 - 1e-3, 6) - 22.4577) < 1e-4);
  cr_assert(fabs(gs_chi2_ppf(0.5, 6) - 5.3481) < 1e-4);
}

Test(igmn, sigmasq_matches_oracle) {
  float *Zs = load_f32("igmn_synth.f32", G_N_SYNTH), *Zp = load_f32("igmn_proxy.f32", G_N_PROXY);
  cr_assert(fabs(gs_sigmasq(Zs, G_N_SYNTH, D6) - G_SYNTH_SIGMASQ) <= 1e-12 * G_SYNTH_SIGMASQ);
  cr_assert(fabs(gs_sigmasq(Zp, G_N_PROXY, D6) - G_PROXY_SIGMASQ) <= 1e-12 * G_PROXY_SIGMASQ);
  free(Zs);
  free(Zp);
}

/* ---------------------------------------------------------------- 2. same decisions as the oracle */
static void check_against(const gs_igmn *m, int K, long created, long removed, long nonpd, const double *means,
                          const double *sp, const double *logdet, const char *tag) {
  cr_assert_eq(m->K, K, "%s: K %d vs oracle %d", tag, m->K, K);
  cr_assert_eq(m->created, created, "%s: created %ld vs %ld", tag, m->created, created);
  cr_assert_eq(m->removed, removed, "%s: removed %ld vs %ld", tag, m->removed, removed);
  cr_assert_eq(m->nonpd, nonpd, "%s: nonpd %ld vs %ld", tag, m->nonpd, nonpd);
  if (means) {
    double dm = maxabs_diff(m->mean, means, (long)K * D6), ds = 0, dl = maxabs_diff(m->logdet, logdet, K);
    for (int j = 0; j < K; j++) ds = fmax(ds, fabs(m->sp[j] - sp[j]) / sp[j]);
    cr_assert(dm < 1e-9, "%s: means differ by %g", tag, dm);
    cr_assert(ds < 1e-9, "%s: supports differ by %g (relative)", tag, ds);
    cr_assert(dl < 1e-9, "%s: log-determinants differ by %g", tag, dl);
  }
}

Test(igmn, synthetic_matches_oracle) {
  float *Z = load_f32("igmn_synth.f32", G_N_SYNTH);
  gs_igmn m;
  fit_synth(&m, Z, GS_IGMN_EXACT, 0.05, 0);
  check_against(&m, G_SYN_K, G_SYN_CREATED, G_SYN_REMOVED, G_SYN_NONPD, G_SYN_MEANS, G_SYN_SP, G_SYN_LOGDET, "synth");
  cr_assert(fabs(gs_igmn_loglik(&m, Z, G_N_SYNTH) - G_SYN_LOGLIK) < 1e-9);
  gs_igmn_free(&m);
  fit_synth(&m, Z, GS_IGMN_PAPER, 0.02, 0);
  check_against(&m, G_SYNP_K, G_SYNP_CREATED, G_SYNP_REMOVED, G_SYNP_NONPD, NULL, NULL, NULL, "synth paper");
  gs_igmn_free(&m);
  free(Z);
}

Test(igmn, proxy_matches_oracle) {
  float *Z = load_f32("igmn_proxy.f32", G_N_PROXY);
  double s2 = gs_sigmasq(Z, G_N_PROXY, D6);
  gs_igmn m;
  make(&m, 1e-3, 0.2, 400, 10, GS_IGMN_EXACT, s2);
  gs_igmn_fit(&m, Z, G_N_PROXY);
  check_against(&m, G_PRX_K, G_PRX_CREATED, G_PRX_REMOVED, G_PRX_NONPD, G_PRX_MEANS, G_PRX_SP, G_PRX_LOGDET, "proxy");
  cr_assert(fabs(gs_igmn_loglik(&m, Z, G_N_PROXY) - G_PRX_LOGLIK) < 1e-9);
  gs_igmn_free(&m);
  make(&m, 1e-3, 0.05, 400, 10, GS_IGMN_PAPER, s2);
  gs_igmn_fit(&m, Z, G_N_PROXY);
  check_against(&m, G_PRXP_K, G_PRXP_CREATED, G_PRXP_REMOVED, G_PRXP_NONPD, NULL, NULL, NULL, "proxy paper");
  cr_assert(finite_state(&m));
  gs_igmn_free(&m);
  free(Z);
}

/* ---------------------------------------------------------------- 3. fast vs classic */
static void fast_vs_classic(gs_igmn_cov_update cu, double c) {
  float *Z = load_f32("igmn_synth.f32", G_N_SYNTH);
  gs_igmn a, b;
  fit_synth(&a, Z, cu, c, 0);
  fit_synth(&b, Z, cu, c, 1);
  cr_assert_eq(a.K, b.K);
  cr_assert_eq(a.created, b.created);
  cr_assert_eq(a.removed, b.removed);
  cr_assert_eq(a.nonpd, b.nonpd);
  double dm = 0, dc = 0, cmax = 0, ca[36], cb[36];
  for (int j = 0; j < a.K; j++) {
    for (int d = 0; d < D6; d++)
      dm = fmax(dm, fabs(a.mean[j * D6 + d] - b.mean[j * D6 + d]) / fmax(1.0, fabs(b.mean[j * D6 + d])));
    gs_igmn_covariance(&a, j, ca);
    gs_igmn_covariance(&b, j, cb);
    for (int i = 0; i < 36; i++) {
      dc = fmax(dc, fabs(ca[i] - cb[i]));
      cmax = fmax(cmax, fabs(cb[i]));
    }
    cr_assert(fabs(a.logdet[j] - b.logdet[j]) < 1e-10, "logdet %d: %.17g vs %.17g", j, a.logdet[j], b.logdet[j]);
  }
  cr_assert(dm < 1e-12, "means differ by %g", dm);
  cr_assert(dc < 1e-10 * cmax, "covariances differ by %g (max %g)", dc, cmax);
  gs_igmn_free(&a);
  gs_igmn_free(&b);
  free(Z);
}
Test(igmn, fast_equals_classic_exact) { fast_vs_classic(GS_IGMN_EXACT, 0.05); }
Test(igmn, fast_equals_classic_paper) { fast_vs_classic(GS_IGMN_PAPER, 0.05); }

/* ---------------------------------------------------------------- 4. one component, exact */
Test(igmn, one_component_exact_is_batch_covariance) {
  enum { N = 500 };
  static float Z[N * D6];
  gs_rng r;
  gs_rng_seed(&r, 7, 0, 1);
  double A[36];
  for (int i = 0; i < 36; i++) A[i] = gs_rng_normal(&r) * 0.5;
  for (int n = 0; n < N; n++) {
    float e[D6];
    for (int d = 0; d < D6; d++) e[d] = gs_rng_normal(&r);
    for (int a = 0; a < D6; a++) {
      double s = 3.0;
      for (int b = 0; b < D6; b++) s += A[a * D6 + b] * e[b];
      Z[n * D6 + a] = (float)s;
    }
  }
  for (int classic = 0; classic < 2; classic++) {
    gs_igmn m;
    make(&m, 1e-3, 1.0, 1e18, 1e-9, GS_IGMN_EXACT, 3.0); /* C_ini = 0.5 I */
    m.chi2 = INFINITY;                                    /* never create after the first point */
    gs_igmn_set_classic(&m, classic);
    gs_igmn_fit(&m, Z, N);
    cr_assert_eq(m.K, 1);
    double mean[D6] = {0}, C[36] = {0}, got[36];
    for (int n = 0; n < N; n++)
      for (int d = 0; d < D6; d++) mean[d] += Z[n * D6 + d] / (double)N;
    for (int n = 0; n < N; n++)
      for (int a = 0; a < D6; a++)
        for (int b = 0; b < D6; b++) C[a * D6 + b] += (Z[n * D6 + a] - mean[a]) * (Z[n * D6 + b] - mean[b]);
    for (int a = 0; a < D6; a++) C[a * D6 + a] += 0.5;
    for (int i = 0; i < 36; i++) C[i] /= N;
    gs_igmn_covariance(&m, 0, got);
    cr_assert(maxabs_diff(m.mean, mean, D6) < 1e-12, "mean");
    double cmax = 0;
    for (int i = 0; i < 36; i++) cmax = fmax(cmax, fabs(C[i]));
    cr_assert(maxabs_diff(got, C, 36) < 1e-12 * cmax, "cov differs by %g", maxabs_diff(got, C, 36));
    /* tracked log-determinant vs a fresh factorisation */
    double P[36], L[36], ld = 0;
    memcpy(P, C, sizeof P);
    for (int i = 0; i < D6; i++)
      for (int j = 0; j <= i; j++) {
        double s = P[i * D6 + j];
        for (int k = 0; k < j; k++) s -= L[i * D6 + k] * L[j * D6 + k];
        L[i * D6 + j] = i == j ? sqrt(s) : s / L[j * D6 + j];
      }
    for (int i = 0; i < D6; i++) ld += 2 * log(L[i * D6 + i]);
    cr_assert(fabs(m.logdet[0] - ld) < 1e-11, "logdet %.17g vs %.17g", m.logdet[0], ld);
    cr_assert(fabs(m.sp[0] - N) < 1e-9 && m.v[0] == N);
    gs_igmn_free(&m);
  }
}

/* ---------------------------------------------------------------- 5. paper: one step == two steps */
static void inv6(const double *A, double *Ai) { /* Gauss-Jordan, small SPD */
  double M[6][12];
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 12; j++) M[i][j] = j < 6 ? A[i * 6 + j] : (j - 6 == i);
  for (int c = 0; c < 6; c++) {
    double p = M[c][c];
    for (int j = 0; j < 12; j++) M[c][j] /= p;
    for (int i = 0; i < 6; i++)
      if (i != c) {
        double f = M[i][c];
        for (int j = 0; j < 12; j++) M[i][j] -= f * M[c][j];
      }
  }
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) Ai[i * 6 + j] = M[i][j + 6];
}

Test(igmn, paper_one_step_equals_two_step) {
  gs_rng r;
  gs_rng_seed(&r, 11, 0, 2);
  int tested = 0;
  for (int t = 0; t < 200; t++) {
    double A[36], C[36], P[36], m0[D6], x[D6];
    for (int i = 0; i < 36; i++) A[i] = gs_rng_normal(&r) / sqrt(6.0);
    for (int i = 0; i < 6; i++)
      for (int j = 0; j < 6; j++) {
        double s = (i == j) * 0.3;
        for (int k = 0; k < 6; k++) s += A[i * 6 + k] * A[j * 6 + k];
        C[i * 6 + j] = s;
      }
    inv6(C, P);
    for (int i = 0; i < 36; i++) P[i] = 0.5 * (P[i] + P[(i % 6) * 6 + i / 6]);
    double ld = 0, Ct[36];
    memcpy(Ct, C, sizeof Ct); /* log det by elimination */
    for (int c = 0; c < 6; c++) {
      ld += log(Ct[c * 6 + c]);
      for (int i = c + 1; i < 6; i++) {
        double f = Ct[i * 6 + c] / Ct[c * 6 + c];
        for (int j = c; j < 6; j++) Ct[i * 6 + j] -= f * Ct[c * 6 + j];
      }
    }
    for (int d = 0; d < D6; d++) {
      m0[d] = gs_rng_normal(&r);
      x[d] = m0[d] + 0.7 * gs_rng_normal(&r);
    }
    double sp_old = 1.0 + 49.0 * gs_rng_uniform(&r);
    /* the model: one component, posterior 1 */
    gs_igmn m;
    make(&m, 1e-3, 1.0, 1e18, 1e-9, GS_IGMN_PAPER, 6.0);
    m.chi2 = INFINITY;
    gs_igmn_learn(&m, m0);
    memcpy(m.prec, P, sizeof P);
    m.logdet[0] = ld;
    m.sp[0] = sp_old;
    gs_igmn_learn(&m, x);
    /* literal two-step form (IGMN.md 3.1) */
    double sp = sp_old + 1.0, w = 1.0 / sp, e[D6], dmu[D6], es[D6], v[D6], Ab[36], t2[D6], t4[D6], Pb[36], Pn[36];
    for (int d = 0; d < D6; d++) {
      e[d] = x[d] - m0[d];
      dmu[d] = w * e[d];
      es[d] = x[d] - (m0[d] + dmu[d]);
      v[d] = es[d] * sqrt(w);
    }
    for (int i = 0; i < 36; i++) Ab[i] = P[i] / (1 - w);
    double t3 = 1.0, t5 = 1.0;
    for (int i = 0; i < 6; i++) {
      t2[i] = 0;
      for (int j = 0; j < 6; j++) t2[i] += Ab[i * 6 + j] * v[j];
      t3 += t2[i] * v[i];
    }
    for (int i = 0; i < 36; i++) Pb[i] = Ab[i] - t2[i / 6] * t2[i % 6] / t3;
    for (int i = 0; i < 6; i++) {
      t4[i] = 0;
      for (int j = 0; j < 6; j++) t4[i] += Pb[i * 6 + j] * dmu[j];
      t5 -= t4[i] * dmu[i];
    }
    for (int i = 0; i < 36; i++) Pn[i] = Pb[i] + t4[i / 6] * t4[i % 6] / t5;
    double ldn = ld + 6 * log(1 - w) + log(t3) + log(t5);
    if (m.nonpd) { /* the one-step guard fired: then the two-step form is not PD either */
      cr_assert(!(t5 > 1e-6), "nonpd flagged but t5 = %g", t5);
      gs_igmn_free(&m);
      continue;
    }
    double pmax = 0;
    for (int i = 0; i < 36; i++) pmax = fmax(pmax, fabs(Pn[i]));
    cr_assert(maxabs_diff(m.prec, Pn, 36) <= 1e-12 * pmax, "case %d: precision differs by %g", t,
              maxabs_diff(m.prec, Pn, 36) / pmax);
    cr_assert(fabs(m.logdet[0] - ldn) < 1e-12, "case %d: logdet %.17g vs %.17g", t, m.logdet[0], ldn);
    tested++;
    gs_igmn_free(&m);
  }
  cr_assert(tested > 150);
}

Test(igmn, paper_nonpd_counted_never_nan) {
  float *Z = load_f32("igmn_synth.f32", G_N_SYNTH);
  for (int classic = 0; classic < 2; classic++) {
    gs_igmn m;
    fit_synth(&m, Z, GS_IGMN_PAPER, 0.005, classic);
    cr_assert(m.nonpd > 0, "small c must produce non-PD paper steps");
    cr_assert(finite_state(&m), "non-finite state");
    for (int j = 0; j < m.K; j++) cr_assert(m.sp[j] >= 1.0);
    double ll = gs_igmn_loglik(&m, Z, G_N_SYNTH);
    cr_assert(isfinite(ll));
    gs_igmn_free(&m);
  }
  free(Z);
}

/* ---------------------------------------------------------------- 6. E16 */
Test(igmn, density_gradient_vs_central_differences) {
  float *Z = load_f32("igmn_synth.f32", G_N_SYNTH);
  gs_igmn m;
  fit_synth(&m, Z, GS_IGMN_EXACT, 0.05, 0);
  gs_igmn_finalize(&m, Z, G_N_SYNTH);
  /* matches the oracle's finalize + refresh_em(min_support = sp_min) and its regularizer */
  cr_assert_eq(m.K, G_SYN_REF_K);
  cr_assert(maxabs_diff(m.mean, G_SYN_REF_MEANS, m.K * D6) < 1e-9);
  for (int j = 0; j < m.K; j++) cr_assert(fabs(m.sp[j] - G_SYN_REF_SP[j]) < 1e-9 * G_SYN_REF_SP[j]);
  cr_assert(fabs(gs_igmn_loglik(&m, Z, G_N_SYNTH) - G_SYN_REF_LOGLIK) < 1e-9);
  double f[8];
  float g[8 * D6];
  gs_igmn_density(&m, Z, 8, D6, f, g);
  for (int i = 0; i < 8; i++) {
    cr_assert(fabs(f[i] - G_SYN_F[i]) <= 1e-9 * G_SYN_F[i], "f[%d] %g vs %g", i, f[i], G_SYN_F[i]);
    for (int d = 0; d < D6; d++)
      cr_assert(fabs(g[i * D6 + d] - G_SYN_DF[i * D6 + d]) <= 1e-6 * fabs(G_SYN_DF[i * D6 + d]) + 1e-12);
  }
  /* central differences on points near the means (where the density is not tiny) */
  gs_rng r;
  gs_rng_seed(&r, 3, 0, 3);
  enum { B = 32, LD = 8 };
  float pts[B * LD];
  for (int i = 0; i < B; i++) {
    int j = i % m.K;
    for (int d = 0; d < D6; d++) pts[i * LD + d] = (float)(m.mean[j * D6 + d] + 0.8 * gs_rng_normal(&r));
  }
  double fb[B];
  float gb[B * D6];
  gs_igmn_density(&m, pts, B, LD, fb, gb);
  double worst = 0, gmax = 0;
  for (int i = 0; i < B; i++)
    for (int d = 0; d < D6; d++) {
      float zp[D6], zm[D6];
      memcpy(zp, pts + i * LD, sizeof zp);
      memcpy(zm, pts + i * LD, sizeof zm);
      zp[d] += 0x1p-12f;
      zm[d] -= 0x1p-12f;
      double fp, fm;
      gs_igmn_density(&m, zp, 1, D6, &fp, NULL);
      gs_igmn_density(&m, zm, 1, D6, &fm, NULL);
      double fd = (fp - fm) / ((double)zp[d] - (double)zm[d]);
      worst = fmax(worst, fabs(fd - gb[i * D6 + d]));
      gmax = fmax(gmax, fabs(fd));
    }
  cr_assert(gmax > 1e-6);
  cr_assert(worst <= 1e-6 * gmax, "gradient rel err %g", worst / gmax);
  gs_igmn_free(&m);
  free(Z);
}

/* ---------------------------------------------------------------- 7. refresh */
Test(igmn, refresh_never_decreases_loglik) {
  float *Zs = load_f32("igmn_synth.f32", G_N_SYNTH), *Zp = load_f32("igmn_proxy.f32", G_N_PROXY);
  for (int set = 0; set < 2; set++)
    for (int mode = GS_IGMN_REFRESH_FULL; mode <= GS_IGMN_REFRESH_MEANS; mode++) {
      const float *Z = set ? Zp : Zs;
      long N = set ? G_N_PROXY : G_N_SYNTH;
      gs_igmn m;
      make(&m, 1e-3, set ? 0.2 : 0.05, set ? 400 : 600, set ? 10 : 50, GS_IGMN_EXACT, gs_sigmasq(Z, N, D6));
      gs_igmn_fit(&m, Z, N);
      m.p.sp_min = 1e-9; /* keep every component: pure EM */
      double ll = gs_igmn_loglik(&m, Z, N);
      cr_assert_eq(gs_igmn_refresh(&m, Z, N, GS_IGMN_REFRESH_NONE), ll);
      for (int it = 0; it < 6; it++) {
        int K = m.K;
        double after = gs_igmn_refresh(&m, Z, N, (gs_igmn_refresh_mode)mode);
        cr_assert_eq(m.K, K);
        cr_assert(after >= ll - 1e-9 * fabs(ll), "set %d mode %d iter %d: %.12f -> %.12f", set, mode, it, ll, after);
        cr_assert(fabs(after - gs_igmn_loglik(&m, Z, N)) < 1e-12);
        ll = after;
      }
      gs_igmn_free(&m);
    }
  free(Zs);
  free(Zp);
}

/* ---------------------------------------------------------------- 8. umbrella */
Test(igmn, umbrella_unit_case) {
  gs_igmn m;
  make(&m, 1e-3, 1.0, 2400, 50, GS_IGMN_EXACT, 6.0);
  m.chi2 = -1; /* every learn() creates */
  struct { double off[D6], var, sp; } spec[5] = {
      {{0, 0, 0, 0, 0, 0}, 1.0, 1000},          /* 0 core */
      {{0.5, 0, 0, 0, 0, 0}, 4.0, 60},          /* 1 umbrella over 0 */
      {{20, 20, 20, 20, 20, 20}, 9.0, 300},     /* 2 wide, alone */
      {{-20, -20, -20, -20, -20, -20}, 6.0, 2000}, /* 3 wide, large support */
      {{-20, -20.3, -20, -20, -20, -20}, 0.5, 100}, /* 4 tight inside 3 */
  };
  for (int k = 0; k < 5; k++) {
    gs_igmn_learn(&m, spec[k].off);
    cr_assert_eq(m.K, k + 1);
    for (int i = 0; i < 36; i++) m.prec[k * 36 + i] = (i % 7 == 0) ? 1.0 / spec[k].var : 0.0;
    m.logdet[k] = D6 * log(spec[k].var);
    m.sp[k] = spec[k].sp;
  }
  cr_assert_eq(gs_igmn_remove_umbrellas(&m), 1);
  cr_assert_eq(m.K, 4);
  cr_assert_eq(m.umbrellas, 1);
  const double left[4] = {1000, 300, 2000, 100};
  for (int j = 0; j < 4; j++) cr_assert_eq(m.sp[j], left[j]);
  cr_assert_eq(gs_igmn_remove_umbrellas(&m), 0);
  gs_igmn_free(&m);
}

/* ---------------------------------------------------------------- state */
Test(igmn, state_round_trip_and_corruption) {
  float *Z = load_f32("igmn_proxy.f32", G_N_PROXY);
  gs_igmn m, t = {0};
  make(&m, 1e-3, 0.2, 400, 10, GS_IGMN_EXACT, gs_sigmasq(Z, G_N_PROXY, D6));
  gs_igmn_fit(&m, Z, 2000);
  long n = gs_igmn_state_size(&m);
  double *s = malloc(sizeof(double) * (n + 1));
  gs_igmn_state_pack(&m, s);
  gs_error err = {0};
  cr_assert_eq(gs_igmn_state_unpack(&t, s, n, &err), 0, "%s", err.msg);
  cr_assert_eq(t.K, m.K);
  cr_assert_eq(t.created, m.created);
  cr_assert_eq(t.removed, m.removed);
  cr_assert_eq(t.chi2, m.chi2);
  cr_assert_eq(memcmp(t.prec, m.prec, sizeof(double) * m.K * 36), 0);
  cr_assert_eq(memcmp(t.mean, m.mean, sizeof(double) * m.K * D6), 0);
  /* continuing from the restored state is bit-identical */
  gs_igmn_fit(&m, Z + 2000 * D6, G_N_PROXY - 2000);
  gs_igmn_fit(&t, Z + 2000 * D6, G_N_PROXY - 2000);
  cr_assert_eq(t.K, m.K);
  cr_assert_eq(memcmp(t.prec, m.prec, sizeof(double) * m.K * 36), 0);
  cr_assert_eq(memcmp(t.sp, m.sp, sizeof(double) * m.K), 0);
  /* corruptions are rejected and leave the target untouched */
  n = gs_igmn_state_size(&m);
  s = realloc(s, sizeof(double) * (n + 1));
  gs_igmn_state_pack(&m, s);
  int K = t.K;
  cr_assert_eq(gs_igmn_state_unpack(&t, s, n - 1, &err), -1);
  cr_assert_eq(gs_igmn_state_unpack(&t, s, n + 1, &err), -1);
  cr_assert_eq(gs_igmn_state_unpack(&t, s, 5, &err), -1);
  double *c = malloc(sizeof(double) * n);
  struct { long at; double val; const char *what; } bad[] = {
      {0, 1.0, "magic"}, {2, 7.0, "D"}, {3, -1.0, "K<0"}, {3, 1e9, "K huge"}, {3, 2.5, "K fractional"},
      {12, 1.5, "beta"}, {5, 1.0, "chi2"}, {18, NAN, "NaN mean"}, {n - 1, -1.0, "negative age"},
      {n - 1 - m.K, 0.0, "zero support"}, {18 + m.K * D6, -1.0, "precision not SPD"},
      {18 + m.K * D6 + 1, 1e3, "precision not symmetric"}, {4, 0.0, "sigmasq"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memcpy(c, s, sizeof(double) * n);
    c[bad[i].at] = bad[i].val;
    err.msg[0] = 0;
    cr_assert_eq(gs_igmn_state_unpack(&t, c, n, &err), -1, "accepted corrupt state: %s", bad[i].what);
    cr_assert(err.msg[0], "no message for %s", bad[i].what);
    cr_assert_eq(t.K, K);
  }
  free(c);
  free(s);
  gs_igmn_free(&m);
  gs_igmn_free(&t);
  free(Z);
}

/* ---------------------------------------------------------------- params */
Test(igmn, params_check_names_the_key) {
  struct { const char *key; double val; const char *range; } cases[] = {
      {"igmn.beta", 0.0, "(0, 1)"}, {"igmn.beta", 1.0, "(0, 1)"}, {"igmn.beta", NAN, "(0, 1)"},
      {"igmn.v_min", 0.5, ">= 1"}, {"igmn.c", 0.0, "> 0"}, {"igmn.c", -1.0, "> 0"},
      {"igmn.sp_min", 0.0, "> 0"}, {"igmn.umbrella_tau", 0.0, "> 0"}, {"igmn.umbrella_kappa", 0.9, ">= 1"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    gs_igmn_params p;
    gs_igmn_params_default(&p, D6);
    gs_error err = {0};
    cr_assert_eq(gs_igmn_params_check(&p, &err), 0);
    if (!strcmp(cases[i].key, "igmn.beta")) p.beta = cases[i].val;
    if (!strcmp(cases[i].key, "igmn.v_min")) p.v_min = cases[i].val;
    if (!strcmp(cases[i].key, "igmn.c")) p.c = cases[i].val;
    if (!strcmp(cases[i].key, "igmn.sp_min")) p.sp_min = cases[i].val;
    if (!strcmp(cases[i].key, "igmn.umbrella_tau")) p.umbrella_tau = cases[i].val;
    if (!strcmp(cases[i].key, "igmn.umbrella_kappa")) p.umbrella_kappa = cases[i].val;
    cr_assert_eq(gs_igmn_params_check(&p, &err), -1, "%s = %g accepted", cases[i].key, cases[i].val);
    cr_assert_not_null(strstr(err.msg, cases[i].key), "message '%s' lacks %s", err.msg, cases[i].key);
    cr_assert_not_null(strstr(err.msg, cases[i].range), "message '%s' lacks %s", err.msg, cases[i].range);
    gs_igmn m;
    cr_assert_eq(gs_igmn_init(&m, &p, 1.0, &err), -1);
  }
  gs_igmn_params p;
  gs_igmn_params_default(&p, D6);
  cr_assert(p.c == 0.2 && p.beta == 1e-3 && p.v_min == 2400 && p.sp_min == 50 && p.cov_update == GS_IGMN_EXACT &&
            p.umbrella_tau == 1 && p.umbrella_kappa == 2);
}

/* ---------------------------------------------------------------- purity / ARI */
Test(igmn, purity_and_ari_small_cases) {
  int a1[] = {0, 0, 0, 1, 1, 1}, l1[] = {0, 0, 1, 1, 1, 1};
  cr_assert(fabs(gs_cluster_purity(a1, l1, 6) - 5.0 / 6.0) < 1e-15);
  /* n_ij {2,1,0,3}: sum C = 4; rows {3,3}: 6; cols {2,4}: 7; expected 42/15; max 6.5 */
  cr_assert(fabs(gs_adjusted_rand_index(a1, l1, 6) - (4 - 2.8) / (6.5 - 2.8)) < 1e-14);
  int a2[] = {0, 0, 1, 2}, l2[] = {0, 0, 1, 1};
  cr_assert(fabs(gs_adjusted_rand_index(a2, l2, 4) - 4.0 / 7.0) < 1e-14); /* sklearn doc: 0.57 */
  cr_assert(fabs(gs_cluster_purity(a2, l2, 4) - 1.0) < 1e-15);
  cr_assert(fabs(gs_cluster_purity(l2, a2, 4) - 0.75) < 1e-15);
  int a3[] = {7, 7, -1, -1, 42}, l3[] = {1, 1, 0, 0, 5}; /* relabelled identical partition */
  cr_assert(fabs(gs_adjusted_rand_index(a3, l3, 5) - 1.0) < 1e-15);
  cr_assert(fabs(gs_cluster_purity(a3, l3, 5) - 1.0) < 1e-15);
  int a4[] = {0, 0, 1, 1}, l4[] = {0, 1, 0, 1}; /* independent: ARI = -0.5 (sklearn) */
  cr_assert(fabs(gs_adjusted_rand_index(a4, l4, 4) + 0.5) < 1e-14);
  cr_assert(fabs(gs_cluster_purity(a4, l4, 4) - 0.5) < 1e-15);
}

/* One-to-one accuracy (Hungarian on the count table), hand-computed. */
Test(igmn, cluster_accuracy_small_cases) {
  int a1[] = {0, 0, 0, 1, 1, 1}, l1[] = {0, 0, 1, 1, 1, 1}; /* counts {2,1 | 0,3}: 0->0, 1->1: 5 of 6 */
  cr_assert(fabs(gs_cluster_accuracy(a1, l1, 6) - 5.0 / 6.0) < 1e-15);
  int a3[] = {7, 7, -1, -1, 42}, l3[] = {1, 1, 0, 0, 5}; /* relabelled identical partition */
  cr_assert(fabs(gs_cluster_accuracy(a3, l3, 5) - 1.0) < 1e-15);
  /* counts {3,2,0 | 3,0,0 | 0,0,1}: greedy takes (0,0) = 3 and leaves cluster 1 nothing (4 of 9);
   * the matching 0->1, 1->0, 2->2 agrees on 2 + 3 + 1 = 6 of 9 */
  int a5[] = {0, 0, 0, 0, 0, 1, 1, 1, 2}, l5[] = {0, 0, 0, 1, 1, 0, 0, 0, 2};
  cr_assert(fabs(gs_cluster_accuracy(a5, l5, 9) - 6.0 / 9.0) < 1e-15, "%g", gs_cluster_accuracy(a5, l5, 9));
  cr_assert(fabs(gs_cluster_purity(a5, l5, 9) - 7.0 / 9.0) < 1e-15);
  /* more clusters than labels: 4 singletons on 2 labels, two of them matched (purity 1); and
   * the other way round: 2 clusters on 4 labels */
  int a6[] = {0, 1, 2, 3}, l6[] = {0, 0, 1, 1};
  cr_assert(fabs(gs_cluster_accuracy(a6, l6, 4) - 0.5) < 1e-15);
  cr_assert(fabs(gs_cluster_accuracy(l6, a6, 4) - 0.5) < 1e-15);
  cr_assert(fabs(gs_cluster_purity(a6, l6, 4) - 1.0) < 1e-15);
  /* independent: 0.5; one cluster: the largest label's share */
  int a4[] = {0, 0, 1, 1}, l4[] = {0, 1, 0, 1}, one[] = {3, 3, 3, 3}, l7[] = {0, 1, 1, 1};
  cr_assert(fabs(gs_cluster_accuracy(a4, l4, 4) - 0.5) < 1e-15);
  cr_assert(fabs(gs_cluster_accuracy(one, l7, 4) - 0.75) < 1e-15);
  /* ARI, Hubert & Arabie's textbook form by hand: a5's table, sum C(n_ij, 2) = 3 + 1 + 3 = 7; rows
   * {5, 3, 1}: 10 + 3 = 13; columns {6, 2, 1}: 15 + 1 = 16; expected 13 * 16 / 36; max 14.5 */
  double e = 13.0 * 16.0 / 36.0;
  cr_assert(fabs(gs_adjusted_rand_index(a5, l5, 9) - (7 - e) / (14.5 - e)) < 1e-14);
}

/* ---------------------------------------------------------------- sampling, assignment */
Test(igmn, sampling_matches_component) {
  float *Z = load_f32("igmn_synth.f32", G_N_SYNTH);
  gs_igmn m;
  fit_synth(&m, Z, GS_IGMN_EXACT, 0.05, 0);
  int j = 0;
  for (int q = 1; q < m.K; q++)
    if (m.sp[q] > m.sp[j]) j = q;
  gs_rng r;
  gs_rng_seed(&r, 5, 0, GS_RNG_SAMPLE);
  enum { NS = 200000 };
  double mean[D6] = {0}, S[36] = {0}, C[36];
  float z[D6];
  for (int n = 0; n < NS; n++) {
    gs_igmn_sample(&m, j, &r, z);
    for (int a = 0; a < D6; a++) {
      double ea = z[a] - m.mean[j * D6 + a];
      mean[a] += ea / NS;
      for (int b = 0; b < D6; b++) S[a * D6 + b] += ea * (z[b] - m.mean[j * D6 + b]) / NS;
    }
  }
  gs_igmn_covariance(&m, j, C);
  double cmax = 0, dc = 0;
  for (int i = 0; i < 36; i++) {
    cmax = fmax(cmax, fabs(C[i]));
    dc = fmax(dc, fabs(S[i] - C[i]));
  }
  for (int a = 0; a < D6; a++) cr_assert(fabs(mean[a]) < 6 * sqrt(C[a * 7] / NS), "mean err %g", mean[a]);
  cr_assert(dc < 0.02 * cmax, "cov rel err %g", dc / cmax);
  /* mixture sampling: components drawn by prior, samples assigned mostly to their component */
  int count[64] = {0};
  for (int n = 0; n < 20000; n++) {
    gs_igmn_sample(&m, -1, &r, z);
    int k = gs_igmn_assign(&m, z);
    cr_assert(k >= 0 && k < m.K);
    count[k]++;
  }
  cr_assert(fabs(count[j] / 20000.0 - gs_igmn_prior(&m, j)) < 0.03);
  gs_igmn_free(&m);
  free(Z);
}

/* ---------------------------------------------------------------- generic-D path */
Test(igmn, generic_dimension_fast_equals_classic) {
  float *Z = load_f32("igmn_synth.f32", G_N_SYNTH);
  for (int D = 1; D <= 5; D += 2) { /* D != 6: the generic kernel */
    float *Zd = malloc(sizeof(float) * G_N_SYNTH * D);
    for (long n = 0; n < G_N_SYNTH; n++)
      for (int d = 0; d < D; d++) Zd[n * D + d] = Z[n * D6 + d];
    gs_igmn a, b;
    gs_igmn_params p;
    gs_igmn_params_default(&p, D);
    p.c = 0.05;
    p.v_min = 600;
    gs_error err = {0};
    double s2 = gs_sigmasq(Zd, G_N_SYNTH, D);
    cr_assert_eq(gs_igmn_init(&a, &p, s2, &err), 0, "%s", err.msg);
    cr_assert_eq(gs_igmn_init(&b, &p, s2, &err), 0, "%s", err.msg);
    gs_igmn_set_classic(&b, 1);
    gs_igmn_fit(&a, Zd, G_N_SYNTH);
    gs_igmn_fit(&b, Zd, G_N_SYNTH);
    cr_assert(a.K > 0 && a.K == b.K && a.created == b.created && a.removed == b.removed, "D=%d", D);
    for (int j = 0; j < a.K; j++) {
      for (int d = 0; d < D; d++) cr_assert(fabs(a.mean[j * D + d] - b.mean[j * D + d]) < 1e-11, "D=%d", D);
      cr_assert(fabs(a.logdet[j] - b.logdet[j]) < 1e-10, "D=%d", D);
    }
    double ll = gs_igmn_loglik(&a, Zd, G_N_SYNTH);
    cr_assert(isfinite(ll) && fabs(ll - gs_igmn_loglik(&b, Zd, G_N_SYNTH)) < 1e-10);
    gs_igmn_free(&a);
    gs_igmn_free(&b);
    free(Zd);
  }
  free(Z);
}
