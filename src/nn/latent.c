/* Latent-variable ops: log softmax, the Kumaraswamy sample and its KL to a Beta prior
 * (include/gensweep/nn/latent.h). Values and derivatives in double, stored as float. */
#include "gensweep/nn/latent.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EULER_GAMMA 0.57721566490153286061

static int rows_of(const gs_tensor *t) { return t->ndim == 1 ? 1 : t->shape[0]; }
static int cols_of(const gs_tensor *t) { return t->ndim == 1 ? t->shape[0] : (int)(t->n / t->shape[0]); }
static void same_shape(const char *op, const gs_tensor *a, const gs_tensor *b) {
  if (a->n == b->n) return;
  fprintf(stderr, "gensweep: %s: %ld and %ld elements\n", op, a->n, b->n);
  abort();
}
/* write or accumulate one gradient element (gs_grad_target's beta) */
static inline float put(float beta, float old, double v) { return beta != 0.0f ? old + (float)v : (float)v; }

/* ================================================================ special functions */
double gs_digamma(double x) {
  double r = 0.0;
  for (; x < 10.0; x += 1.0) r -= 1.0 / x; /* psi(x) = psi(x + 1) - 1/x */
  double f = 1.0 / (x * x);
  return r + log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

double gs_trigamma(double x) {
  double r = 0.0;
  for (; x < 10.0; x += 1.0) r += 1.0 / (x * x); /* psi'(x) = psi'(x + 1) + 1/x^2 */
  double f = 1.0 / (x * x);
  return r + 1.0 / x + f / 2 + f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f / 30)));
}

/* log Gamma(k) draw (Marsaglia & Tsang 2000; k < 1 through Gamma(k + 1) U^(1/k)) */
static double log_gamma_draw(gs_rng *r, double k) {
  double boost = 0.0;
  if (k < 1.0) {
    boost = log(1.0 - gs_rng_uniform(r)) / k; /* U in (0, 1] */
    k += 1.0;
  }
  double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    double x = gs_rng_normal(r), v = 1.0 + c * x;
    if (v <= 0.0) continue;
    v = v * v * v;
    double u = 1.0 - gs_rng_uniform(r);
    if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return log(d * v) + boost;
  }
}

double gs_rng_beta(gs_rng *r, double alpha, double beta) {
  double l1 = log_gamma_draw(r, alpha), l2 = log_gamma_draw(r, beta);
  return 1.0 / (1.0 + exp(l2 - l1));
}

double gs_kumaraswamy_mean(double a, double b) {
  return exp(log(b) + lgamma(1.0 + 1.0 / a) + lgamma(b) - lgamma(1.0 + 1.0 / a + b));
}

/* The terms of S past M, from Gamma(1 + x) / Gamma(1 + x + b) = (x + c)^-b (1 + O(x^-2)),
 * c = (1 + b)/2, x = m/a, and the sum as a midpoint integral:
 *   sum_{m > M} (b/m) Gamma(b) (m/a + c)^-b  ~  b Gamma(b) int_Y^inf (y + c)^-b dy / y,  Y = (M + 1/2)/a
 *   = b Gamma(b) sum_k binom(-b, k) c^k Y^(-b-k) / (b + k),  converging for c < Y. */
static double series_tail(double a, double b, int M) {
  double c = 0.5 * (1.0 + b), Y = (M + 0.5) / a, ratio = c / Y, coef = 1.0, pw = pow(Y, -b), sum = 0.0;
  for (int k = 0; k < 60; k++) {
    double t = coef * pw / (b + k);
    sum += t;
    if (fabs(t) < 1e-17 * fabs(sum)) break;
    coef *= -(b + k) / (k + 1);
    pw *= ratio;
  }
  return b * exp(lgamma(b)) * sum;
}

/* S(a, b) = -E[log(1 - z)] = -sum_m E[z^m]/m, E[z^m] = b B(1 + m/a, b): the first M terms exactly
 * (M >= 2 a (1 + b), so the tail's expansion converges fast: c/Y <= 1/4), the rest from
 * series_tail, whose derivatives are central differences (h = 1e-5 relative, M held fixed: the
 * tail is smooth in a and b, and the difference is good to ~1e-9 of it). Nalisnick & Smyth cut
 * the series at 10 terms; its terms fall like m^-(1+b), so for small b (codes near 1) that
 * loses most of S. */
double gs_kumaraswamy_series(double a, double b, double *dsa, double *dsb) {
  double need = ceil(2.0 * a * (1.0 + b));
  int M = need < 32 ? 32 : need > 1e6 ? 1000000 : (int)need;
  double lgb = lgamma(b), psib = gs_digamma(b), s = 0.0, ga = 0.0, gb = 0.0;
  for (int m = 1; m <= M; m++) {
    double x = m / a;
    double term = b / m * exp(lgamma(1.0 + x) + lgb - lgamma(1.0 + x + b));
    double psi_xb = gs_digamma(1.0 + x + b);
    s += term;
    ga += term * (-x / a) * (gs_digamma(1.0 + x) - psi_xb);
    gb += term * (1.0 / b + psib - psi_xb);
  }
  s += series_tail(a, b, M);
  if (dsa) {
    double h = 1e-5 * a;
    *dsa = ga + (series_tail(a + h, b, M) - series_tail(a - h, b, M)) / (2 * h);
  }
  if (dsb) {
    double h = 1e-5 * b;
    *dsb = gb + (series_tail(a, b + h, M) - series_tail(a, b - h, M)) / (2 * h);
  }
  return s;
}

/* ================================================================ log softmax */
static void log_softmax_backward(gs_node *nd) {
  gs_tensor *l = nd->in[0], *y = nd->out;
  int B = rows_of(l), C = cols_of(l);
  float beta;
  float *d = gs_grad_target(l, &beta);
  for (int i = 0; i < B; i++) {
    const float *yi = y->x + (long)i * C, *gi = y->g + (long)i * C;
    double total = 0.0;
    for (int j = 0; j < C; j++) total += gi[j];
    for (int j = 0; j < C; j++) d[(long)i * C + j] = put(beta, d[(long)i * C + j], gi[j] - exp((double)yi[j]) * total);
  }
}

gs_tensor *gs_log_softmax(gs_graph *g, gs_tensor *logits) {
  int B = rows_of(logits), C = cols_of(logits), needs = gs_wants_grad(g, logits);
  int shape[2] = {B, C};
  gs_tensor *y = gs_new(g, 2, shape, needs);
  for (int i = 0; i < B; i++) {
    const float *l = logits->x + (long)i * C;
    double mx = l[0], se = 0.0;
    for (int j = 1; j < C; j++) mx = l[j] > mx ? l[j] : mx;
    for (int j = 0; j < C; j++) se += exp(l[j] - mx);
    double lse = mx + log(se);
    for (int j = 0; j < C; j++) y->x[(long)i * C + j] = (float)(l[j] - lse);
  }
  if (needs) gs_tape_push(g, log_softmax_backward, y)->in[0] = logits;
  return y;
}

/* ================================================================ Kumaraswamy sample */
/* ctx: u (B*Z floats) */
static void kumaraswamy_backward(gs_node *nd) {
  gs_tensor *a = nd->in[0], *b = nd->in[1], *z = nd->out;
  const float *u = nd->ctx;
  float ba = 0, bb = 0;
  float *da = a->g ? gs_grad_target(a, &ba) : NULL, *db = b->g ? gs_grad_target(b, &bb) : NULL;
  for (long k = 0; k < z->n; k++) {
    double A = a->x[k], Bv = b->x[k], lu = log((double)u[k]);
    double t = exp(lu / Bv), w = -expm1(lu / Bv), zk = w > 0 ? exp(log(w) / A) : 0.0;
    double gz = z->g[k], dza = 0.0, dzb = 0.0;
    if (w > 0 && zk > 0) {
      dza = -zk * log(w) / (A * A);
      dzb = zk * t * lu / (A * w * Bv * Bv);
    }
    if (da) da[k] = put(ba, da[k], gz * dza);
    if (db) db[k] = put(bb, db[k], gz * dzb);
  }
}

gs_tensor *gs_kumaraswamy_sample(gs_graph *g, gs_tensor *a, gs_tensor *b, const float *u) {
  same_shape("kumaraswamy_sample", a, b);
  int needs = gs_wants_grad(g, a) || gs_wants_grad(g, b);
  gs_tensor *z = gs_new(g, a->ndim, a->shape, needs);
  for (long k = 0; k < a->n; k++) {
    double w = -expm1(log((double)u[k]) / b->x[k]); /* 1 - u^(1/b) */
    z->x[k] = w > 0 ? (float)exp(log(w) / a->x[k]) : 0.0f;
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, kumaraswamy_backward, z);
    nd->in[0] = a;
    nd->in[1] = b;
    float *keep = gs_arena_alloc(&g->arena, sizeof(float) * (size_t)a->n);
    memcpy(keep, u, sizeof(float) * (size_t)a->n);
    nd->ctx = keep;
  }
  return z;
}

/* ================================================================ KL to a Beta prior */
/* ctx: dKL/da, dKL/db per element (2 * B*Z floats) */
static void kl_kumaraswamy_backward(gs_node *nd) {
  gs_tensor *a = nd->in[0], *b = nd->in[1], *y = nd->out;
  const float *dka = nd->ctx, *dkb = dka + a->n;
  int B = rows_of(a), Z = cols_of(a);
  float ba = 0, bb = 0;
  float *da = a->g ? gs_grad_target(a, &ba) : NULL, *db = b->g ? gs_grad_target(b, &bb) : NULL;
  for (int i = 0; i < B; i++)
    for (int j = 0; j < Z; j++) {
      long k = (long)i * Z + j;
      if (da) da[k] = put(ba, da[k], (double)y->g[i] * dka[k]);
      if (db) db[k] = put(bb, db[k], (double)y->g[i] * dkb[k]);
    }
}

gs_tensor *gs_kl_kumaraswamy_beta(gs_graph *g, gs_tensor *a, gs_tensor *b, double alpha, double beta) {
  same_shape("kl_kumaraswamy_beta", a, b);
  int B = rows_of(a), Z = cols_of(a), needs = gs_wants_grad(g, a) || gs_wants_grad(g, b);
  gs_tensor *y = gs_new(g, 1, &B, needs);
  float *dk = needs ? gs_arena_alloc(&g->arena, sizeof(float) * 2 * (size_t)a->n) : NULL;
  double log_beta_fn = lgamma(alpha) + lgamma(beta) - lgamma(alpha + beta);
  for (int i = 0; i < B; i++) {
    double sum = 0.0;
    for (int j = 0; j < Z; j++) {
      long k = (long)i * Z + j;
      double A = a->x[k], Bv = b->x[k], dsa, dsb;
      double H = -EULER_GAMMA - gs_digamma(1.0 + Bv); /* a E[log z] = psi(1) - psi(1 + b) */
      double S = gs_kumaraswamy_series(A, Bv, &dsa, &dsb);
      sum += log(A * Bv) + (A - alpha) / A * H - (Bv - 1.0) / Bv + log_beta_fn + (beta - 1.0) * S;
      if (dk) {
        dk[k] = (float)(1.0 / A + alpha / (A * A) * H + (beta - 1.0) * dsa);
        dk[a->n + k] = (float)(1.0 / Bv - (A - alpha) / A * gs_trigamma(1.0 + Bv) - 1.0 / (Bv * Bv) + (beta - 1.0) * dsb);
      }
    }
    y->x[i] = (float)sum;
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, kl_kumaraswamy_backward, y);
    nd->in[0] = a;
    nd->in[1] = b;
    nd->ctx = dk;
  }
  return y;
}
