/* IGMN (Incremental Gaussian Mixture Network), per shared IGMN.md; tags E1..E16 refer to it.
 * Fast variant: precision matrices with one-step Sherman-Morrison / determinant-lemma updates.
 * Classic variant: covariance matrices, Cholesky per point (the naive reference). */
#include "gensweep/cluster/igmn.h"
#include "gensweep/nn/pointcloud.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOG2PI 1.8378770664093454836
#define GS_IGMN_DMAX 64

/* ------------------------------------------------------------------ vector helpers (D = 6 kernel) */

/* static helpers only: no ABI crosses a translation unit, even without -mavx */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef double v4d __attribute__((vector_size(32)));
typedef double v2d __attribute__((vector_size(16)));
static inline v4d ld4(const double *p) {
  v4d v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline v2d ld2(const double *p) {
  v2d v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void st4(double *p, v4d v) { memcpy(p, &v, sizeof v); }
static inline void st2(double *p, v2d v) { memcpy(p, &v, sizeof v); }

/* exp / log over arrays: glibc's libmvec (4 lanes, AVX2 ABI) when available, else scalar libm */
#if defined(GS_HAVE_MVEC) && defined(__AVX2__)
/* Arrays are cap-sized and cap is a multiple of 4 (32, 64, ...): the last partial group is
 * padded (exp of 0, log of 1) so that every element goes through the same vector routine. */
v4d _ZGVdN4v_exp(v4d);
v4d _ZGVdN4v_log(v4d);
static void exp_array(double *a, int n) {
  for (int i = n; i & 3; i++) a[i] = 0.0;
  for (int i = 0; i < n; i += 4) st4(a + i, _ZGVdN4v_exp(ld4(a + i)));
}
static void log_add_array(double *acc, double *a, int n) { /* acc += log(a) */
  for (int i = n; i & 3; i++) a[i] = 1.0;
  int i = 0;
  for (; i + 4 <= n; i += 4) st4(acc + i, ld4(acc + i) + _ZGVdN4v_log(ld4(a + i)));
  if (i < n) {
    v4d l = _ZGVdN4v_log(ld4(a + i));
    for (int k = 0; i + k < n; k++) acc[i + k] += l[k];
  }
}
#else
static void exp_array(double *a, int n) {
  for (int i = 0; i < n; i++) a[i] = exp(a[i]);
}
static void log_add_array(double *acc, double *a, int n) {
  for (int i = 0; i < n; i++) acc[i] += log(a[i]);
}
#endif

/* ------------------------------------------------------------------ parameters */

void gs_igmn_params_default(gs_igmn_params *p, int D) {
  memset(p, 0, sizeof *p);
  p->D = D;
  p->c = 0.2;
  p->beta = 1e-3;
  p->v_min = 2400;
  p->sp_min = 50;
  p->cov_update = GS_IGMN_EXACT;
  p->umbrella_tau = 1.0;
  p->umbrella_kappa = 2.0;
}

int gs_igmn_params_check(const gs_igmn_params *p, gs_error *err) {
  if (p->D < 1 || p->D > GS_IGMN_DMAX)
    return gs_fail(err, "igmn.D = %d is out of range: must be in [1, %d]", p->D, GS_IGMN_DMAX);
  if (!(p->c > 0) || !isfinite(p->c))
    return gs_fail(err, "igmn.c = %g is out of range: must be > 0 (finite)", p->c);
  if (!(p->beta > 0 && p->beta < 1))
    return gs_fail(err, "igmn.beta = %g is out of range: must be in (0, 1)", p->beta);
  if (!(p->v_min >= 1) || !isfinite(p->v_min))
    return gs_fail(err, "igmn.v_min = %g is out of range: must be >= 1 (finite)", p->v_min);
  if (!(p->sp_min > 0) || !isfinite(p->sp_min))
    return gs_fail(err, "igmn.sp_min = %g is out of range: must be > 0 (finite)", p->sp_min);
  if (p->cov_update != GS_IGMN_EXACT && p->cov_update != GS_IGMN_PAPER)
    return gs_fail(err, "igmn.cov_update = %d is out of range: must be exact (0) or paper (1)",
                   (int)p->cov_update);
  if (!(p->umbrella_tau > 0) || !isfinite(p->umbrella_tau))
    return gs_fail(err, "igmn.umbrella_tau = %g is out of range: must be > 0 (finite)", p->umbrella_tau);
  if (!(p->umbrella_kappa >= 1) || !isfinite(p->umbrella_kappa))
    return gs_fail(err, "igmn.umbrella_kappa = %g is out of range: must be >= 1 (finite)",
                   p->umbrella_kappa);
  return 0;
}

/* ------------------------------------------------------------------ chi-square quantile */

/* Regularized lower incomplete gamma P(a, x): power series below a + 1, Lentz's continued
 * fraction for Q = 1 - P above. */
static double gammainc_p(double a, double x) {
  if (!(x > 0)) return 0.0;
  double lpre = -x + a * log(x) - lgamma(a);
  if (x < a + 1.0) {
    double ap = a, term = 1.0 / a, s = term;
    for (int i = 0; i < 10000; i++) {
      ap += 1.0;
      term *= x / ap;
      s += term;
      if (fabs(term) < fabs(s) * 1e-17) break;
    }
    return s * exp(lpre);
  }
  const double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 10000; i++) {
    double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1.0) < 1e-17) break;
  }
  return 1.0 - exp(lpre) * h;
}

double gs_chi2_cdf(double x, int k) { return gammainc_p(0.5 * k, 0.5 * x); }

double gs_chi2_ppf(double p, int k) {
  if (p <= 0.0) return 0.0;
  if (p >= 1.0) return INFINITY;
  if (isnan(p) || k < 1) return NAN;
  double lo = 0.0, hi = k > 1 ? (double)k : 1.0;
  while (gs_chi2_cdf(hi, k) < p) {
    lo = hi;
    hi *= 2.0;
  }
  for (int it = 0; it < 200; it++) {
    double mid = 0.5 * (lo + hi);
    if (gs_chi2_cdf(mid, k) < p)
      lo = mid;
    else
      hi = mid;
    if (hi - lo <= 1e-14 * (hi > 1.0 ? hi : 1.0)) break;
  }
  return 0.5 * (lo + hi);
}

double gs_sigmasq(const float *Z, long N, int D) {
  if (N <= 0 || D <= 0) return 0.0;
  double mean[GS_IGMN_DMAX] = {0}, m2 = 0.0;
  for (long n = 0; n < N; n++) {
    const float *z = Z + n * D;
    double inv = 1.0 / (double)(n + 1), acc = 0.0;
    for (int a = 0; a < D; a++) {
      double delta = (double)z[a] - mean[a];
      mean[a] += delta * inv;
      acc += delta * ((double)z[a] - mean[a]);
    }
    m2 += acc;
  }
  return m2 / (double)N;
}

/* ------------------------------------------------------------------ small dense helpers */

/* A = L L^T (L lower, row-major D*D, upper part zeroed). Returns -1 if A is not SPD. */
static int cholesky(const double *A, double *L, int D) {
  for (int i = 0; i < D; i++) {
    for (int j = 0; j <= i; j++) {
      double s = A[i * D + j];
      for (int k = 0; k < j; k++) s -= L[i * D + k] * L[j * D + k];
      if (i == j) {
        if (!(s > 0) || !isfinite(s)) return -1;
        L[i * D + i] = sqrt(s);
      } else {
        L[i * D + j] = s / L[j * D + j];
      }
    }
    for (int j = i + 1; j < D; j++) L[i * D + j] = 0.0;
  }
  return 0;
}

/* Inverse of an SPD matrix and its log-determinant (of A). Returns -1 if not SPD. */
static int spd_inverse(const double *A, double *Ainv, double *logdetA, int D) {
  double L[GS_IGMN_DMAX * GS_IGMN_DMAX], Li[GS_IGMN_DMAX * GS_IGMN_DMAX];
  if (cholesky(A, L, D)) return -1;
  double ld = 0.0;
  for (int i = 0; i < D; i++) ld += log(L[i * D + i]);
  /* Li = L^-1 (lower) */
  for (int j = 0; j < D; j++) {
    for (int i = 0; i < D; i++) Li[i * D + j] = 0.0;
    Li[j * D + j] = 1.0 / L[j * D + j];
    for (int i = j + 1; i < D; i++) {
      double s = 0.0;
      for (int k = j; k < i; k++) s -= L[i * D + k] * Li[k * D + j];
      Li[i * D + j] = s / L[i * D + i];
    }
  }
  /* A^-1 = Li^T Li */
  for (int i = 0; i < D; i++)
    for (int j = i; j < D; j++) {
      double s = 0.0;
      for (int k = j; k < D; k++) s += Li[k * D + i] * Li[k * D + j];
      Ainv[i * D + j] = Ainv[j * D + i] = s;
    }
  if (logdetA) *logdetA = 2.0 * ld;
  return 0;
}

/* ------------------------------------------------------------------ state management */

static void grow(gs_igmn *m, int cap) {
  int D = m->D;
  cap = (cap + 3) & ~3; /* the vector exp/log pad to a multiple of 4 */
  m->mean = gs_realloc(m->mean, sizeof(double) * (size_t)cap * D);
  m->prec = gs_realloc(m->prec, sizeof(double) * (size_t)cap * D * D);
  m->logdet = gs_realloc(m->logdet, sizeof(double) * cap);
  m->sp = gs_realloc(m->sp, sizeof(double) * cap);
  m->v = gs_realloc(m->v, sizeof(double) * cap);
  m->e = gs_realloc(m->e, sizeof(double) * (size_t)cap * (D + 1));
  m->aux = gs_realloc(m->aux, sizeof(double) * (size_t)cap * 2);
  m->u = gs_realloc(m->u, sizeof(double) * (size_t)cap * D);
  m->d2 = gs_realloc(m->d2, sizeof(double) * cap);
  m->w = gs_realloc(m->w, sizeof(double) * cap);
  if (m->classic) m->cov = gs_realloc(m->cov, sizeof(double) * (size_t)cap * D * D);
  m->cap = cap;
}

int gs_igmn_init(gs_igmn *m, const gs_igmn_params *p, double sigmasq, gs_error *err) {
  memset(m, 0, sizeof *m);
  if (gs_igmn_params_check(p, err)) return -1;
  if (!(sigmasq > 0) || !isfinite(sigmasq))
    return gs_fail(err, "igmn: sigmasq = %g must be > 0 (finite)", sigmasq);
  m->p = *p;
  m->D = p->D;
  m->sigmasq = sigmasq;
  m->chi2 = gs_chi2_ppf(1.0 - p->beta, p->D);
  m->init_var = p->c * sigmasq / p->D;
  m->init_logdet = p->D * log(m->init_var);
  m->pd_tol = 1e-10;
  grow(m, 32);
  return 0;
}

void gs_igmn_free(gs_igmn *m) {
  free(m->mean);
  free(m->prec);
  free(m->logdet);
  free(m->sp);
  free(m->v);
  free(m->cov);
  free(m->e);
  free(m->aux);
  free(m->u);
  free(m->d2);
  free(m->w);
  memset(m, 0, sizeof *m);
}

void gs_igmn_sync(gs_igmn *m) {
  if (!m->classic) return;
  int D = m->D;
  for (int j = 0; j < m->K; j++)
    if (spd_inverse(m->cov + (size_t)j * D * D, m->prec + (size_t)j * D * D, &m->logdet[j], D)) {
      m->logdet[j] = NAN; /* cannot happen with `exact` */
    }
}

static void cov_from_prec(gs_igmn *m, int j) {
  int D = m->D;
  double ld;
  if (spd_inverse(m->prec + (size_t)j * D * D, m->cov + (size_t)j * D * D, &ld, D)) {
    for (int a = 0; a < D * D; a++) m->cov[(size_t)j * D * D + a] = NAN;
  }
}

void gs_igmn_set_classic(gs_igmn *m, int classic) {
  if (!!classic == m->classic) return;
  if (classic) {
    m->classic = 1;
    m->cov = gs_realloc(m->cov, sizeof(double) * (size_t)m->cap * m->D * m->D);
    for (int j = 0; j < m->K; j++) cov_from_prec(m, j);
  } else {
    gs_igmn_sync(m);
    m->classic = 0;
    free(m->cov);
    m->cov = NULL;
  }
}

/* Keep the components with keep[j] != 0, in order. */
static void compact(gs_igmn *m, const unsigned char *keep) {
  int D = m->D, DD = D * D, k = 0;
  for (int j = 0; j < m->K; j++) {
    if (!keep[j]) continue;
    if (k != j) {
      memcpy(m->mean + (size_t)k * D, m->mean + (size_t)j * D, sizeof(double) * D);
      memcpy(m->prec + (size_t)k * DD, m->prec + (size_t)j * DD, sizeof(double) * DD);
      if (m->classic) memcpy(m->cov + (size_t)k * DD, m->cov + (size_t)j * DD, sizeof(double) * DD);
      m->logdet[k] = m->logdet[j];
      m->sp[k] = m->sp[j];
      m->v[k] = m->v[j];
    }
    k++;
  }
  m->removed += m->K - k;
  m->K = k;
}

static void remove_one(gs_igmn *m, int r) {
  unsigned char keep[m->K];
  memset(keep, 1, m->K);
  keep[r] = 0;
  compact(m, keep);
}

/* E3 */
static void create(gs_igmn *m, const double *x) {
  if (m->K == m->cap) grow(m, 2 * m->cap);
  int D = m->D, k = m->K;
  memcpy(m->mean + (size_t)k * D, x, sizeof(double) * D);
  double *P = m->prec + (size_t)k * D * D;
  memset(P, 0, sizeof(double) * D * D);
  for (int a = 0; a < D; a++) P[a * D + a] = 1.0 / m->init_var;
  if (m->classic) {
    double *C = m->cov + (size_t)k * D * D;
    memset(C, 0, sizeof(double) * D * D);
    for (int a = 0; a < D; a++) C[a * D + a] = m->init_var;
  }
  m->logdet[k] = m->init_logdet;
  m->sp[k] = 1.0;
  m->v[k] = 1.0;
  m->K++;
  m->created++;
}

/* E12 */
static void prune(gs_igmn *m) {
  int K = m->K, any = 0;
  double vmin = m->p.v_min, spmin = m->p.sp_min;
  for (int j = 0; j < K; j++) any |= (m->v[j] > vmin) & (m->sp[j] < spmin);
  if (!any) return;
  unsigned char keep[K];
  for (int j = 0; j < K; j++) keep[j] = !(m->v[j] > vmin && m->sp[j] < spmin);
  compact(m, keep);
}

/* E5 posteriors into m->w from m->d2 and logdet (one exp per component, no log). */
static inline void posteriors(gs_igmn *m) {
  int K = m->K;
  double *w = m->w, bmax = -INFINITY;
  for (int j = 0; j < K; j++) {
    double b = -0.5 * (m->logdet[j] + m->d2[j]);
    w[j] = b;
    if (b > bmax) bmax = b;
  }
  for (int j = 0; j < K; j++) w[j] -= bmax;
  exp_array(w, K);
  double s = 0.0;
  for (int j = 0; j < K; j++) s += (w[j] *= m->sp[j]);
  double inv = 1.0 / s;
  for (int j = 0; j < K; j++) w[j] *= inv;
}

/* E9 coefficient q = alpha / (1 - omega), with the paper's non-PD fallback. */
static inline double update_q(gs_igmn *m, double om, double d2) {
  if (m->p.cov_update == GS_IGMN_EXACT) return om;
  double q = om * (1.0 - 3.0 * om + om * om) / (1.0 - om);
  if (1.0 + q * d2 <= m->pd_tol) {
    m->nonpd++;
    q = om;
  }
  return q;
}

/* One fast step; D is a compile-time constant after inlining at the call sites below. */
static inline __attribute__((always_inline)) void learn_fast_d(gs_igmn *m, const double *x, const int D) {
  const int K = m->K;
  if (K == 0) {
    create(m, x);
    prune(m);
    return;
  }
  double *restrict E = m->e, *restrict U = m->u, *restrict d2 = m->d2;
  double dmin = INFINITY;
  int nan = 0;
  /* E1 */
  for (int j = 0; j < K; j++) {
    const double *restrict mu = m->mean + (size_t)j * D;
    const double *restrict P = m->prec + (size_t)j * D * D;
    double *restrict e = E + (size_t)j * D, *restrict u = U + (size_t)j * D;
    for (int a = 0; a < D; a++) e[a] = x[a] - mu[a];
    for (int a = 0; a < D; a++) u[a] = 0.0;
    for (int b = 0; b < D; b++)
      for (int a = 0; a < D; a++) u[a] += P[b * D + a] * e[b]; /* P symmetric */
    double d = 0.0;
    for (int a = 0; a < D; a++) d += e[a] * u[a];
    d2[j] = d;
    if (d < dmin)
      dmin = d;
    else if (d != d)
      nan = 1;
  }
  /* E2 */
  if (nan || !(dmin < m->chi2)) {
    create(m, x);
    prune(m);
    return;
  }
  posteriors(m);
  double *w = m->w;
  for (int j = 0; j < K; j++) {
    m->v[j] += 1.0; /* E6 */
    double post = w[j];
    w[j] = 1.0;
    if (post == 0.0) continue; /* omega = 0: the update is exactly the identity */
    double spj = m->sp[j] + post;
    m->sp[j] = spj;
    double om = post / spj, one_m = 1.0 - om;
    double *restrict mu = m->mean + (size_t)j * D;
    double *restrict P = m->prec + (size_t)j * D * D;
    const double *restrict e = E + (size_t)j * D, *restrict u = U + (size_t)j * D;
    for (int a = 0; a < D; a++) mu[a] += om * e[a]; /* E7 */
    double q = update_q(m, om, d2[j]);
    double g = 1.0 + q * d2[j];
    double s = 1.0 / one_m, c = q * s / g;
    for (int a = 0; a < D; a++) /* E10; (u_a u_b) keeps Lambda exactly symmetric */
      for (int b = 0; b < D; b++) P[a * D + b] = P[a * D + b] * s - c * (u[a] * u[b]);
    double pw = 1.0; /* E11 */
    for (int a = 0; a < D; a++) pw *= one_m;
    w[j] = pw * g;
  }
  log_add_array(m->logdet, w, K);
  prune(m);
}

/* The same step for D = 6 with explicit 4+2-lane vectors (rows of Lambda as v4d + v2d). */
static void learn_fast_6(gs_igmn *m, const double *x) {
  const int K = m->K;
  if (K == 0) {
    create(m, x);
    prune(m);
    return;
  }
  double *restrict E = m->e, *restrict U = m->u, *restrict d2 = m->d2;
  const v4d xl = ld4(x);
  const v2d xh = ld2(x + 4);
  double dmin = INFINITY, dsum = 0.0;
  for (int j = 0; j < K; j++) { /* E1 */
    const double *restrict mu = m->mean + (size_t)j * 6;
    const double *restrict P = m->prec + (size_t)j * 36;
    v4d el = xl - ld4(mu);
    v2d eh = xh - ld2(mu + 4);
    v4d ul = el[0] * ld4(P);
    v2d uh = el[0] * ld2(P + 4);
    ul += el[1] * ld4(P + 6);
    uh += el[1] * ld2(P + 10);
    ul += el[2] * ld4(P + 12);
    uh += el[2] * ld2(P + 16);
    ul += el[3] * ld4(P + 18);
    uh += el[3] * ld2(P + 22);
    ul += eh[0] * ld4(P + 24);
    uh += eh[0] * ld2(P + 28);
    ul += eh[1] * ld4(P + 30);
    uh += eh[1] * ld2(P + 34);
    v4d t = el * ul;
    v2d th = eh * uh;
    double d = (t[0] + t[1]) + (t[2] + t[3]) + (th[0] + th[1]);
    st4(E + j * 6, el);
    st2(E + j * 6 + 4, eh);
    st4(U + j * 6, ul);
    st2(U + j * 6 + 4, uh);
    d2[j] = d;
    dmin = d < dmin ? d : dmin;
    dsum += d; /* NaN iff some d is NaN */
  }
  if (dsum != dsum || !(dmin < m->chi2)) { /* E2 */
    create(m, x);
    prune(m);
    return;
  }
  posteriors(m);
  /* E6 and the scalar coefficients of E7/E10/E11 for all j at once (a loop without branches
   * for `exact`, so the divisions vectorise): om = omega, s = 1/(1-omega), c = q s / g and
   * lf = (1-omega)^6 g. A component with posterior 0 gets om = 0, s = 1, c = 0, lf = 1: its
   * update below is the identity. */
  double *restrict w = m->w, *restrict sv = m->aux, *restrict cv = m->aux + m->cap;
  double *restrict sp = m->sp, *restrict age = m->v;
  double *restrict lf = E + (size_t)m->cap * 6;
  if (m->p.cov_update == GS_IGMN_EXACT) {
    int j = 0;
    for (; j + 4 <= K; j += 4) { /* the loop below, 4 components at a time */
      v4d post = ld4(w + j), spo = ld4(sp + j), spj = spo + post, dj = ld4(d2 + j);
      st4(age + j, ld4(age + j) + 1.0);
      st4(sp + j, spj);
      v4d om = post / spj, one_m = spo / spj, den = spj + post * dj, sj = spj / spo;
      st4(cv + j, post * sj / den);
      st4(sv + j, sj);
      v4d o2 = one_m * one_m;
      st4(w + j, om);
      st4(lf + j, (o2 * o2) * o2 * (den / spj));
    }
    for (; j < K; j++) {
      double post = w[j], spo = sp[j], spj = spo + post, dj = d2[j];
      age[j] += 1.0;
      sp[j] = spj;
      double om = post / spj, one_m = spo / spj, den = spj + post * dj;
      double sj = spj / spo;
      /* q = omega: g = 1 + omega d2 = den / spj, c = omega s / g = post s / den */
      cv[j] = post * sj / den;
      sv[j] = sj;
      double o2 = one_m * one_m;
      w[j] = om;
      lf[j] = (o2 * o2) * o2 * (den / spj);
    }
  } else {
    for (int j = 0; j < K; j++) {
      double post = w[j], spj = sp[j] + post, dj = d2[j];
      age[j] += 1.0;
      sp[j] = spj;
      double om = post / spj, one_m = 1.0 - om;
      double q = update_q(m, om, dj), g = 1.0 + q * dj, sj = 1.0 / one_m;
      cv[j] = q * sj / g;
      sv[j] = sj;
      double o2 = one_m * one_m;
      w[j] = om;
      lf[j] = (o2 * o2) * o2 * g;
    }
  }
  for (int j = 0; j < K; j++) {
    double om = w[j], sj = sv[j], c = cv[j];
    double *restrict mu = m->mean + (size_t)j * 6;
    double *restrict P = m->prec + (size_t)j * 36;
    const double *restrict u = U + j * 6;
    v4d el = ld4(E + j * 6), ul = ld4(u);
    v2d eh = ld2(E + j * 6 + 4), uh = ld2(u + 4);
    st4(mu, ld4(mu) + om * el); /* E7 */
    st2(mu + 4, ld2(mu + 4) + om * eh);
    for (int b = 0; b < 6; b++) { /* E10, c * (u_b u_a): exactly symmetric */
      double ub = u[b];
      st4(P + 6 * b, ld4(P + 6 * b) * sj - c * (ub * ul));
      st2(P + 6 * b + 4, ld2(P + 6 * b + 4) * sj - c * (ub * uh));
    }
  }
  log_add_array(m->logdet, lf, K); /* E11 */
  prune(m);
}

static void learn_fast_n(gs_igmn *m, const double *x) { learn_fast_d(m, x, m->D); }

void gs_igmn_learn_classic(gs_igmn *m, const double *x) {
  const int K = m->K, D = m->D;
  m->steps++;
  if (K == 0) {
    create(m, x);
    prune(m);
    return;
  }
  double dmin = INFINITY;
  int nan = 0;
  double L[GS_IGMN_DMAX * GS_IGMN_DMAX], y[GS_IGMN_DMAX];
  for (int j = 0; j < K; j++) {
    const double *mu = m->mean + (size_t)j * D;
    double *e = m->e + (size_t)j * D;
    for (int a = 0; a < D; a++) e[a] = x[a] - mu[a];
    double d = INFINITY, ld = INFINITY;
    if (cholesky(m->cov + (size_t)j * D * D, L, D) == 0) {
      d = 0.0;
      ld = 0.0;
      for (int a = 0; a < D; a++) {
        double s = e[a];
        for (int b = 0; b < a; b++) s -= L[a * D + b] * y[b];
        y[a] = s / L[a * D + a];
        d += y[a] * y[a];
        ld += log(L[a * D + a]);
      }
      ld *= 2.0;
    }
    m->d2[j] = d;
    m->logdet[j] = ld;
    if (d < dmin)
      dmin = d;
    else if (d != d)
      nan = 1;
  }
  if (nan || !(dmin < m->chi2)) {
    create(m, x);
    prune(m);
    return;
  }
  posteriors(m);
  for (int j = 0; j < K; j++) {
    m->v[j] += 1.0;
    double post = m->w[j];
    if (post == 0.0) continue;
    double spj = m->sp[j] + post;
    m->sp[j] = spj;
    double om = post / spj, one_m = 1.0 - om;
    double *mu = m->mean + (size_t)j * D, *C = m->cov + (size_t)j * D * D;
    const double *e = m->e + (size_t)j * D;
    for (int a = 0; a < D; a++) mu[a] += om * e[a];
    double alpha = update_q(m, om, m->d2[j]) * one_m; /* E9 */
    for (int a = 0; a < D; a++)
      for (int b = 0; b < D; b++) C[a * D + b] = one_m * C[a * D + b] + alpha * e[a] * e[b];
  }
  prune(m);
}

void gs_igmn_learn(gs_igmn *m, const double *x) {
  if (m->classic) {
    gs_igmn_learn_classic(m, x);
    return;
  }
  m->steps++;
  if (m->D == 6)
    learn_fast_6(m, x);
  else
    learn_fast_n(m, x);
}

void gs_igmn_fit(gs_igmn *m, const float *Z, long N) {
  int D = m->D;
  double x[GS_IGMN_DMAX];
  for (long i = 0; i < N; i++) {
    for (int a = 0; a < D; a++) x[a] = Z[i * D + a];
    gs_igmn_learn(m, x);
    if ((i & 8191) == 8191) gs_poll();
  }
  gs_igmn_sync(m);
}

/* ------------------------------------------------------------------ queries */

double gs_igmn_prior(const gs_igmn *m, int j) {
  double s = 0.0;
  for (int q = 0; q < m->K; q++) s += m->sp[q];
  return m->sp[j] / s;
}

void gs_igmn_covariance(const gs_igmn *m, int j, double *out) {
  int D = m->D;
  if (m->classic) {
    memcpy(out, m->cov + (size_t)j * D * D, sizeof(double) * D * D);
    return;
  }
  if (spd_inverse(m->prec + (size_t)j * D * D, out, NULL, D))
    for (int a = 0; a < D * D; a++) out[a] = NAN;
}

/* cst_j = log p(j) - 1/2 (D log 2pi + logdet_j) */
static void log_consts(const gs_igmn *m, double *cst) {
  double s = 0.0;
  for (int j = 0; j < m->K; j++) s += m->sp[j];
  double ls = log(s);
  for (int j = 0; j < m->K; j++) cst[j] = log(m->sp[j]) - ls - 0.5 * (m->D * LOG2PI + m->logdet[j]);
}

/* Mahalanobis d2 of z (double) to component j; u = Lambda e, e = z - m_j (either may be NULL). */
static inline double maha(const gs_igmn *m, int j, const double *z, double *e_out, double *u_out) {
  int D = m->D;
  const double *mu = m->mean + (size_t)j * D, *P = m->prec + (size_t)j * D * D;
  double e[GS_IGMN_DMAX], d = 0.0;
  for (int a = 0; a < D; a++) e[a] = z[a] - mu[a];
  for (int a = 0; a < D; a++) {
    double ua = 0.0;
    for (int b = 0; b < D; b++) ua += P[a * D + b] * e[b];
    d += e[a] * ua;
    if (u_out) u_out[a] = ua;
  }
  if (e_out) memcpy(e_out, e, sizeof(double) * D);
  return d;
}

/* log-joint a_j = cst_j - d2/2 for all j; returns log-sum-exp, a holds the values. */
static double row_logjoint(const gs_igmn *m, const double *cst, const double *z, double *a) {
  double amax = -INFINITY;
  for (int j = 0; j < m->K; j++) {
    a[j] = cst[j] - 0.5 * maha(m, j, z, NULL, NULL);
    if (a[j] > amax) amax = a[j];
  }
  double s = 0.0;
  for (int j = 0; j < m->K; j++) s += exp(a[j] - amax);
  return amax + log(s);
}

double gs_igmn_loglik(const gs_igmn *m, const float *Z, long N) {
  if (m->K == 0 || N <= 0) return -INFINITY;
  int D = m->D;
  double *cst = gs_malloc(sizeof(double) * m->K * 2), *a = cst + m->K, z[GS_IGMN_DMAX], ll = 0.0;
  log_consts(m, cst);
  for (long i = 0; i < N; i++) {
    for (int d = 0; d < D; d++) z[d] = Z[i * D + d];
    ll += row_logjoint(m, cst, z, a);
  }
  free(cst);
  return ll / (double)N;
}

int gs_igmn_assign(const gs_igmn *m, const float *z) {
  if (m->K == 0) return -1;
  double x[GS_IGMN_DMAX], best = -INFINITY;
  int arg = 0;
  for (int d = 0; d < m->D; d++) x[d] = z[d];
  for (int j = 0; j < m->K; j++) {
    double a = log(m->sp[j]) - 0.5 * (m->logdet[j] + maha(m, j, x, NULL, NULL));
    if (a > best) {
      best = a;
      arg = j;
    }
  }
  return arg;
}

void gs_igmn_sample(const gs_igmn *m, int j, gs_rng *r, float *z) {
  int D = m->D;
  if (j < 0) {
    double s = 0.0;
    for (int q = 0; q < m->K; q++) s += m->sp[q];
    double t = gs_rng_uniform(r) * s;
    j = m->K - 1;
    for (int q = 0; q < m->K; q++) {
      t -= m->sp[q];
      if (t < 0) {
        j = q;
        break;
      }
    }
  }
  /* Lambda = R R^T, y = R^-T eps: Cov(y) = Lambda^-1 = C */
  double R[GS_IGMN_DMAX * GS_IGMN_DMAX], eps[GS_IGMN_DMAX], y[GS_IGMN_DMAX];
  double P[GS_IGMN_DMAX * GS_IGMN_DMAX];
  if (m->classic) {
    if (spd_inverse(m->cov + (size_t)j * D * D, P, NULL, D)) memset(P, 0, sizeof P);
  } else {
    memcpy(P, m->prec + (size_t)j * D * D, sizeof(double) * D * D);
  }
  for (int a = 0; a < D; a++) eps[a] = gs_rng_normal(r);
  if (cholesky(P, R, D)) {
    for (int a = 0; a < D; a++) z[a] = (float)m->mean[(size_t)j * D + a];
    return;
  }
  for (int a = D - 1; a >= 0; a--) {
    double s = eps[a];
    for (int b = a + 1; b < D; b++) s -= R[b * D + a] * y[b];
    y[a] = s / R[a * D + a];
  }
  for (int a = 0; a < D; a++) z[a] = (float)(m->mean[(size_t)j * D + a] + y[a]);
}

void gs_igmn_density(const gs_igmn *m, const float *Z, int B, int ld, double *f, float *gradf) {
  int D = m->D;
  double *cst = gs_malloc(sizeof(double) * (m->K + 1));
  log_consts(m, cst);
  double z[GS_IGMN_DMAX], u[GS_IGMN_DMAX], g[GS_IGMN_DMAX];
  for (int i = 0; i < B; i++) {
    for (int a = 0; a < D; a++) {
      z[a] = Z[(size_t)i * ld + a];
      g[a] = 0.0;
    }
    double fi = 0.0;
    for (int j = 0; j < m->K; j++) {
      double d2 = maha(m, j, z, NULL, u);
      double T = exp(cst[j] - 0.5 * d2);
      fi += T;
      for (int a = 0; a < D; a++) g[a] -= T * u[a];
    }
    f[i] = fi;
    if (gradf)
      for (int a = 0; a < D; a++) gradf[(size_t)i * D + a] = (float)g[a];
  }
  free(cst);
}

/* ------------------------------------------------------------------ after the pass */

int gs_igmn_remove_umbrellas(gs_igmn *m) {
  int D = m->D, removed = 0;
  int classic = m->classic;
  if (classic) gs_igmn_sync(m);
  for (;;) {
    int best = -1;
    for (int u = 0; u < m->K; u++) {
      if (best >= 0 && m->sp[u] >= m->sp[best]) continue;
      for (int k = 0; k < m->K; k++) {
        if (k == u || !(m->sp[u] < m->sp[k])) continue;                   /* (c) */
        if (!(exp((m->logdet[u] - m->logdet[k]) / D) >= m->p.umbrella_kappa)) continue; /* (b) */
        if (!(maha(m, k, m->mean + (size_t)u * D, NULL, NULL) <= m->p.umbrella_tau)) continue; /* (a) */
        best = u;
        break;
      }
    }
    if (best < 0) break;
    remove_one(m, best);
    removed++;
  }
  m->umbrellas += removed;
  return removed;
}

double gs_igmn_refresh(gs_igmn *m, const float *Z, long N, gs_igmn_refresh_mode mode) {
  if (m->K == 0 || N <= 0) return -INFINITY;
  if (mode == GS_IGMN_REFRESH_NONE) return gs_igmn_loglik(m, Z, N);
  if (m->classic) gs_igmn_sync(m);
  const int K = m->K, D = m->D, DD = D * D;
  double *cst = gs_malloc(sizeof(double) * K * 2), *a = cst + K;
  double *Nk = gs_calloc(K, sizeof(double)), *S1 = gs_calloc((size_t)K * D, sizeof(double));
  double *S2 = gs_calloc((size_t)K * DD, sizeof(double)), *E = gs_malloc(sizeof(double) * K * D);
  double z[GS_IGMN_DMAX];
  log_consts(m, cst);
  /* E step; statistics accumulated around the old means */
  for (long i = 0; i < N; i++) {
    for (int d = 0; d < D; d++) z[d] = Z[i * D + d];
    double amax = -INFINITY;
    for (int j = 0; j < K; j++) {
      a[j] = cst[j] - 0.5 * maha(m, j, z, E + (size_t)j * D, NULL);
      if (a[j] > amax) amax = a[j];
    }
    double s = 0.0;
    for (int j = 0; j < K; j++) s += (a[j] = exp(a[j] - amax));
    double inv = 1.0 / s;
    for (int j = 0; j < K; j++) {
      double r = a[j] * inv;
      if (r == 0.0) continue;
      const double *e = E + (size_t)j * D;
      double *s1 = S1 + (size_t)j * D, *s2 = S2 + (size_t)j * DD;
      Nk[j] += r;
      for (int p = 0; p < D; p++) {
        double re = r * e[p];
        s1[p] += re;
        for (int q = p; q < D; q++) s2[p * D + q] += re * e[q];
      }
    }
    if ((i & 8191) == 8191) gs_poll();
  }
  /* M step */
  double eps = 1e-6 * m->sigmasq / D, C[GS_IGMN_DMAX * GS_IGMN_DMAX];
  unsigned char keep[K];
  int nkeep = 0, jmax = 0;
  for (int j = 0; j < K; j++) {
    keep[j] = Nk[j] >= m->p.sp_min && Nk[j] > 0;
    nkeep += keep[j];
    if (Nk[j] > Nk[jmax]) jmax = j;
  }
  if (nkeep == 0 && Nk[jmax] > 0) keep[jmax] = 1; /* never drop every component */
  for (int j = 0; j < K; j++) {
    if (!(Nk[j] > 0)) continue;
    double inv = 1.0 / Nk[j], dm[GS_IGMN_DMAX];
    double *mu = m->mean + (size_t)j * D, *s1 = S1 + (size_t)j * D, *s2 = S2 + (size_t)j * DD;
    for (int p = 0; p < D; p++) dm[p] = s1[p] * inv;
    for (int p = 0; p < D; p++) mu[p] += dm[p];
    m->sp[j] = Nk[j];
    m->v[j] += (double)N;
    if (mode == GS_IGMN_REFRESH_FULL) {
      for (int p = 0; p < D; p++)
        for (int q = p; q < D; q++) C[p * D + q] = C[q * D + p] = s2[p * D + q] * inv - dm[p] * dm[q];
      for (int p = 0; p < D; p++) C[p * D + p] += eps;
      double ld;
      if (spd_inverse(C, m->prec + (size_t)j * DD, &ld, D) == 0) {
        m->logdet[j] = ld;
        if (m->classic) memcpy(m->cov + (size_t)j * DD, C, sizeof(double) * DD);
      }
    }
  }
  compact(m, keep);
  free(cst);
  free(Nk);
  free(S1);
  free(S2);
  free(E);
  return gs_igmn_loglik(m, Z, N);
}

void gs_igmn_finalize(gs_igmn *m, const float *Z, long N) {
  if (m->K == 0) return;
  if (m->classic) gs_igmn_sync(m);
  unsigned char keep[m->K];
  int nkeep = 0;
  for (int j = 0; j < m->K; j++) nkeep += (keep[j] = m->sp[j] >= m->p.sp_min);
  if (nkeep > 0 && nkeep < m->K) compact(m, keep);
  gs_igmn_remove_umbrellas(m);
  if (Z && N > 0) gs_igmn_refresh(m, Z, N, GS_IGMN_REFRESH_FULL);
}

/* ------------------------------------------------------------------ state */

#define ST_MAGIC 1229409614.0 /* 'IGMN' */
#define ST_VERSION 1.0
#define ST_HDR 18

static long state_size_dk(long D, long K) { return ST_HDR + K * (D + D * D + 3); }

long gs_igmn_state_size(const gs_igmn *m) { return state_size_dk(m->D, m->K); }

void gs_igmn_state_pack(const gs_igmn *m, double *out) {
  const int D = m->D, K = m->K, DD = D * D;
  double h[ST_HDR] = {ST_MAGIC, ST_VERSION, D, K, m->sigmasq, m->chi2, (double)m->created,
                      (double)m->removed, (double)m->nonpd, (double)m->umbrellas, (double)m->steps,
                      m->p.c, m->p.beta, m->p.v_min, m->p.sp_min, (double)m->p.cov_update,
                      m->p.umbrella_tau, m->p.umbrella_kappa};
  memcpy(out, h, sizeof h);
  double *o = out + ST_HDR;
  memcpy(o, m->mean, sizeof(double) * K * D);
  o += (long)K * D;
  for (int j = 0; j < K; j++, o += DD) {
    if (m->classic) {
      if (spd_inverse(m->cov + (size_t)j * DD, o, NULL, D))
        for (int a = 0; a < DD; a++) o[a] = NAN;
    } else {
      memcpy(o, m->prec + (size_t)j * DD, sizeof(double) * DD);
    }
  }
  for (int j = 0; j < K; j++) {
    double ld = m->logdet[j];
    if (m->classic) {
      double tmp[GS_IGMN_DMAX * GS_IGMN_DMAX];
      if (spd_inverse(m->cov + (size_t)j * DD, tmp, &ld, D)) ld = NAN;
    }
    o[j] = ld;
  }
  o += K;
  memcpy(o, m->sp, sizeof(double) * K);
  o += K;
  memcpy(o, m->v, sizeof(double) * K);
}

static int is_count(double x, double hi) { return isfinite(x) && x >= 0 && x <= hi && x == floor(x); }

int gs_igmn_state_unpack(gs_igmn *m, const double *in, long n, gs_error *err) {
  if (!in || n < ST_HDR) return gs_fail(err, "igmn state: %ld values, need at least %d", n, ST_HDR);
  if (in[0] != ST_MAGIC) return gs_fail(err, "igmn state: bad magic");
  if (in[1] != ST_VERSION) return gs_fail(err, "igmn state: unsupported version %g", in[1]);
  if (!is_count(in[2], GS_IGMN_DMAX) || in[2] < 1) return gs_fail(err, "igmn state: bad D %g", in[2]);
  if (!is_count(in[3], 1e7)) return gs_fail(err, "igmn state: K %g out of range", in[3]);
  const int D = (int)in[2], K = (int)in[3], DD = D * D;
  if (n != state_size_dk(D, K))
    return gs_fail(err, "igmn state: %ld values, expected %ld for D=%d, K=%d", n, state_size_dk(D, K), D, K);
  for (long i = 0; i < n; i++)
    if (!isfinite(in[i])) return gs_fail(err, "igmn state: value %ld is not finite", i);
  for (int i = 6; i <= 10; i++)
    if (!is_count(in[i], 9e15)) return gs_fail(err, "igmn state: bad counter at %d", i);
  if (in[15] != 0.0 && in[15] != 1.0) return gs_fail(err, "igmn state: bad cov_update %g", in[15]);
  gs_igmn_params p = {.D = D, .c = in[11], .beta = in[12], .v_min = in[13], .sp_min = in[14],
                      .cov_update = (gs_igmn_cov_update)(int)in[15], .umbrella_tau = in[16],
                      .umbrella_kappa = in[17]};
  gs_igmn t;
  if (gs_igmn_init(&t, &p, in[4], err)) return -1;
  if (fabs(t.chi2 - in[5]) > 1e-9 * t.chi2) {
    gs_igmn_free(&t);
    return gs_fail(err, "igmn state: chi2 %g does not match beta %g", in[5], p.beta);
  }
  if (K > t.cap) grow(&t, K);
  const double *mean = in + ST_HDR, *prec = mean + (long)K * D, *ld = prec + (long)K * DD;
  const double *sp = ld + K, *v = sp + K;
  double L[GS_IGMN_DMAX * GS_IGMN_DMAX];
  for (int j = 0; j < K; j++) {
    const double *P = prec + (long)j * DD;
    int bad = !(sp[j] > 0) || !(v[j] >= 0) || cholesky(P, L, D) != 0;
    for (int a = 0; a < D && !bad; a++)
      for (int b = 0; b < a; b++) bad |= P[a * D + b] != P[b * D + a];
    if (bad) {
      gs_igmn_free(&t);
      return gs_fail(err, "igmn state: component %d is invalid (sp, age or precision not SPD)", j);
    }
  }
  memcpy(t.mean, mean, sizeof(double) * K * D);
  memcpy(t.prec, prec, sizeof(double) * K * DD);
  memcpy(t.logdet, ld, sizeof(double) * K);
  memcpy(t.sp, sp, sizeof(double) * K);
  memcpy(t.v, v, sizeof(double) * K);
  t.K = K;
  t.created = (long)in[6];
  t.removed = (long)in[7];
  t.nonpd = (long)in[8];
  t.umbrellas = (long)in[9];
  t.steps = (long)in[10];
  int classic = m->classic;
  if (m->mean) gs_igmn_free(m);
  *m = t;
  if (classic) gs_igmn_set_classic(m, 1);
  return 0;
}

/* ------------------------------------------------------------------ cluster quality */

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Map the values of x to 0..k-1; returns k. */
static int relabel(const int *x, long n, int *out) {
  int *s = gs_malloc(sizeof(int) * (n ? n : 1));
  memcpy(s, x, sizeof(int) * n);
  qsort(s, n, sizeof(int), cmp_int);
  long k = 0;
  for (long i = 0; i < n; i++)
    if (i == 0 || s[i] != s[k - 1]) s[k++] = s[i];
  for (long i = 0; i < n; i++) out[i] = (int)((int *)bsearch(&x[i], s, k, sizeof(int), cmp_int) - s);
  free(s);
  return (int)k;
}

/* Contingency table (ka x kb), row-major. */
static long *contingency(const int *assign, const int *labels, long n, int *ka, int *kb) {
  int *ra = gs_malloc(sizeof(int) * (n ? n : 1)), *rb = gs_malloc(sizeof(int) * (n ? n : 1));
  *ka = relabel(assign, n, ra);
  *kb = relabel(labels, n, rb);
  long *t = gs_calloc((size_t)(*ka ? *ka : 1) * (*kb ? *kb : 1), sizeof(long));
  for (long i = 0; i < n; i++) t[(long)ra[i] * *kb + rb[i]]++;
  free(ra);
  free(rb);
  return t;
}

double gs_cluster_purity(const int *assign, const int *labels, long n) {
  if (n <= 0) return 0.0;
  int ka, kb;
  long *t = contingency(assign, labels, n, &ka, &kb), sum = 0;
  for (int a = 0; a < ka; a++) {
    long best = 0;
    for (int b = 0; b < kb; b++)
      if (t[(long)a * kb + b] > best) best = t[(long)a * kb + b];
    sum += best;
  }
  free(t);
  return (double)sum / (double)n;
}

/* One-to-one: the clusters and labels matched so that the most examples agree (the Hungarian
 * method on the negated contingency table, the smaller side as rows), the share that agree.
 * With more clusters than labels the unmatched clusters count as wrong, and the other way round. */
double gs_cluster_accuracy(const int *assign, const int *labels, long n) {
  if (n <= 0) return 0.0;
  int ka, kb;
  long *t = contingency(assign, labels, n, &ka, &kb);
  int rows = ka <= kb ? ka : kb, cols = ka <= kb ? kb : ka;
  double *cost = gs_malloc(sizeof(double) * (size_t)rows * cols);
  for (int a = 0; a < ka; a++)
    for (int b = 0; b < kb; b++) {
      double c = -(double)t[(long)a * kb + b];
      if (ka <= kb) cost[(long)a * cols + b] = c;
      else cost[(long)b * cols + a] = c;
    }
  double agree = -gs_assignment_min(cost, rows, cols, NULL);
  free(cost);
  free(t);
  return agree / (double)n;
}

static double comb2(double x) { return 0.5 * x * (x - 1.0); }

double gs_adjusted_rand_index(const int *assign, const int *labels, long n) {
  if (n <= 1) return 1.0;
  int ka, kb;
  long *t = contingency(assign, labels, n, &ka, &kb);
  double sij = 0.0, sa = 0.0, sb = 0.0;
  for (int a = 0; a < ka; a++) {
    long r = 0;
    for (int b = 0; b < kb; b++) {
      r += t[(long)a * kb + b];
      sij += comb2((double)t[(long)a * kb + b]);
    }
    sa += comb2((double)r);
  }
  for (int b = 0; b < kb; b++) {
    long c = 0;
    for (int a = 0; a < ka; a++) c += t[(long)a * kb + b];
    sb += comb2((double)c);
  }
  free(t);
  double expected = sa * sb / comb2((double)n), maxi = 0.5 * (sa + sb);
  if (maxi == expected) return 1.0; /* both partitions trivial and identical in kind */
  return (sij - expected) / (maxi - expected);
}
