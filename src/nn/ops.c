/* Ops: forward computation + backward step recorded on the tape. See include/gensweep/nn/ops.h. */
#include "gensweep/nn/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmath.h"

static void die_shape(const char *op, const gs_tensor *a, const gs_tensor *b) {
  fprintf(stderr, "gensweep: internal error: %s: incompatible shapes (%d-d, %ld elems) and (%d-d, %ld elems)\n",
          op, a->ndim, a->n, b ? b->ndim : 0, b ? b->n : 0L);
  abort();
}

static inline int rows_of(const gs_tensor *t) { return t->ndim == 1 ? 1 : t->shape[0]; }
static inline int cols_of(const gs_tensor *t) { return t->ndim == 1 ? t->shape[0] : (int)(t->n / t->shape[0]); }

/* A gradient write: beta = 0 on the first contribution this step (the buffer holds stale arena
 * memory, possibly NaN, which must never be read into the sum), 1 to accumulate. */
static inline float put(float beta, float old, float v) { return beta != 0.0f ? old + v : v; }

/* y = beta*y + x (beta is 0 or 1) */
static inline void acc(float *restrict y, const float *restrict x, long n, float beta) {
  if (beta == 0.0f)
    memcpy(y, x, sizeof(float) * n);
  else
    for (long i = 0; i < n; i++) y[i] += x[i];
}

/* ================================================================ matmul / dense */
static void matmul_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *w = nd->in[1], *y = nd->out;
  int B = rows_of(x), K = cols_of(x), N = cols_of(y);
  float beta;
  if (nd->i[0]) { /* fused ReLU: the output gradient becomes the pre-activation's, in place (this node is
                   * its only reader) */
    float *restrict dy = y->g;
    const float *restrict v = y->x;
    for (long i = 0; i < y->n; i++) dy[i] = v[i] > 0.0f ? dy[i] : 0.0f;
  }
  if (w->g) { /* dW (K,N) = x^T (K,B) dy (B,N) */
    float *dw = gs_grad_target(w, &beta);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, B, 1.0f, x->x, K, y->g, N, beta, dw, N);
  }
  if (nd->in[2] && nd->in[2]->g) { /* db (N) = column sums of dy */
    gs_tensor *b = nd->in[2];
    float *db = gs_grad_target(b, &beta);
    if (beta == 0.0f) memcpy(db, y->g, sizeof(float) * N);
    else for (int j = 0; j < N; j++) db[j] += y->g[j];
    for (int i = 1; i < B; i++) {
      const float *r = y->g + (long)i * N;
      for (int j = 0; j < N; j++) db[j] += r[j];
    }
  }
  if (x->g) { /* dx (B,K) = dy (B,N) W^T (N,K) */
    float *dx = gs_grad_target(x, &beta);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, K, N, 1.0f, y->g, N, w->x, N, beta, dx, K);
  }
}

void gs_dense_forward(const float *x, int rows, int K, const float *w, int M, const float *bias, int relu, float *y) {
  float beta = 0.0f;
  if (bias) {
    for (int i = 0; i < rows; i++) memcpy(y + (long)i * M, bias, sizeof(float) * M);
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, M, K, 1.0f, x, K, w, M, beta, y, M);
  if (relu)
    for (long i = 0; i < (long)rows * M; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

static gs_tensor *dense_impl(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int relu) {
  int B = rows_of(x), K = cols_of(x);
  if (w->ndim != 2 || w->shape[0] != K) die_shape("matmul", x, w);
  int N = w->shape[1];
  if (b && b->n != N) die_shape("dense bias", w, b);
  int needs = gs_wants_grad(g, x) || gs_wants_grad(g, w) || (b && gs_wants_grad(g, b));
  gs_tensor *y = gs_new2(g, B, N, needs);
  gs_dense_forward(x->x, B, K, w->x, N, b ? b->x : NULL, relu, y->x);
  if (needs) {
    gs_node *nd = gs_tape_push(g, matmul_backward, y);
    nd->in[0] = x;
    nd->in[1] = w;
    nd->in[2] = b;
    nd->i[0] = relu;
  }
  return y;
}

gs_tensor *gs_matmul(gs_graph *g, gs_tensor *x, gs_tensor *w) { return dense_impl(g, x, w, NULL, 0); }
gs_tensor *gs_dense(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b) { return dense_impl(g, x, w, b, 0); }
gs_tensor *gs_dense_relu(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b) {
  return dense_impl(g, x, w, b, 1);
}

static void add_bias_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *b = nd->in[1], *y = nd->out;
  int B = rows_of(y), N = cols_of(y);
  float beta;
  if (x->g) {
    float *dx = gs_grad_target(x, &beta);
    acc(dx, y->g, y->n, beta);
  }
  if (b->g) {
    float *db = gs_grad_target(b, &beta);
    if (beta == 0.0f) memset(db, 0, sizeof(float) * N);
    for (int i = 0; i < B; i++)
      for (int j = 0; j < N; j++) db[j] += y->g[(long)i * N + j];
  }
}

gs_tensor *gs_add_bias(gs_graph *g, gs_tensor *x, gs_tensor *b) {
  int B = rows_of(x), N = cols_of(x);
  if (b->n != N) die_shape("add_bias", x, b);
  int needs = gs_wants_grad(g, x) || gs_wants_grad(g, b);
  gs_tensor *y = gs_new(g, x->ndim, x->shape, needs);
  for (int i = 0; i < B; i++)
    for (int j = 0; j < N; j++) y->x[(long)i * N + j] = x->x[(long)i * N + j] + b->x[j];
  if (needs) {
    gs_node *nd = gs_tape_push(g, add_bias_backward, y);
    nd->in[0] = x;
    nd->in[1] = b;
  }
  return y;
}

/* ================================================================ elementwise */
/* Unary ops whose derivative is a function of the input x and/or the output y. */
typedef enum { U_RELU, U_LEAKY, U_SIGMOID, U_TANH, U_EXP, U_LOG, U_SCALE } unary_kind;

static void unary_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *y = nd->out;
  if (!x->g) return;
  float beta;
  float *dx = gs_grad_target(x, &beta);
  const float *dy = y->g, *xv = x->x, *yv = y->x;
  long n = y->n;
  float a = nd->f[0];
  switch ((unary_kind)nd->i[0]) {
    case U_RELU:
      for (long i = 0; i < n; i++) dx[i] = put(beta, dx[i], (yv[i] > 0.0f ? dy[i] : 0.0f));
      break;
    case U_LEAKY:
      for (long i = 0; i < n; i++) dx[i] = put(beta, dx[i], (xv[i] > 0.0f ? dy[i] : a * dy[i]));
      break;
    case U_SIGMOID:
      for (long i = 0; i < n; i++) dx[i] = put(beta, dx[i], dy[i] * yv[i] * (1.0f - yv[i]));
      break;
    case U_TANH:
      for (long i = 0; i < n; i++) dx[i] = put(beta, dx[i], dy[i] * (1.0f - yv[i] * yv[i]));
      break;
    case U_EXP:
      for (long i = 0; i < n; i++) dx[i] = put(beta, dx[i], dy[i] * yv[i]);
      break;
    case U_LOG:
      for (long i = 0; i < n; i++) dx[i] = put(beta, dx[i], dy[i] / xv[i]);
      break;
    case U_SCALE:
      for (long i = 0; i < n; i++) dx[i] = put(beta, dx[i], a * dy[i]);
      break;
  }
}

static gs_tensor *unary(gs_graph *g, gs_tensor *x, unary_kind k, float a) {
  int needs = gs_wants_grad(g, x);
  gs_tensor *y = gs_new(g, x->ndim, x->shape, needs);
  const float *xv = x->x;
  float *yv = y->x;
  long n = x->n;
  switch (k) {
    case U_RELU:
      for (long i = 0; i < n; i++) yv[i] = xv[i] > 0.0f ? xv[i] : 0.0f;
      break;
    case U_LEAKY:
      for (long i = 0; i < n; i++) yv[i] = xv[i] > 0.0f ? xv[i] : a * xv[i];
      break;
    case U_SIGMOID:
      for (long i = 0; i < n; i++) {
        float t = gs_expf_neg(-fabsf(xv[i])); /* e^{-|x|}, never overflows */
        yv[i] = xv[i] >= 0.0f ? 1.0f / (1.0f + t) : t / (1.0f + t);
      }
      break;
    case U_TANH:
      for (long i = 0; i < n; i++) yv[i] = tanhf(xv[i]);
      break;
    case U_EXP:
      for (long i = 0; i < n; i++) yv[i] = expf(xv[i]);
      break;
    case U_LOG:
      for (long i = 0; i < n; i++) yv[i] = logf(xv[i]);
      break;
    case U_SCALE:
      for (long i = 0; i < n; i++) yv[i] = a * xv[i];
      break;
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, unary_backward, y);
    nd->in[0] = x;
    nd->i[0] = k;
    nd->f[0] = a;
  }
  return y;
}

gs_tensor *gs_relu(gs_graph *g, gs_tensor *x) { return unary(g, x, U_RELU, 0); }
gs_tensor *gs_leaky_relu(gs_graph *g, gs_tensor *x, float slope) { return unary(g, x, U_LEAKY, slope); }
gs_tensor *gs_sigmoid(gs_graph *g, gs_tensor *x) { return unary(g, x, U_SIGMOID, 0); }
gs_tensor *gs_tanh(gs_graph *g, gs_tensor *x) { return unary(g, x, U_TANH, 0); }
gs_tensor *gs_exp(gs_graph *g, gs_tensor *x) { return unary(g, x, U_EXP, 0); }
gs_tensor *gs_log(gs_graph *g, gs_tensor *x) { return unary(g, x, U_LOG, 0); }
gs_tensor *gs_scale(gs_graph *g, gs_tensor *x, float s) { return unary(g, x, U_SCALE, s); }

/* Binary elementwise: i[0] = 0 add, 1 sub, 2 mul */
static void binary_backward(gs_node *nd) {
  gs_tensor *a = nd->in[0], *b = nd->in[1], *y = nd->out;
  long n = y->n;
  float beta;
  int k = (int)nd->i[0];
  if (a->g) {
    float *da = gs_grad_target(a, &beta);
    if (k == 2) for (long i = 0; i < n; i++) da[i] = put(beta, da[i], y->g[i] * b->x[i]);
    else for (long i = 0; i < n; i++) da[i] = put(beta, da[i], y->g[i]);
  }
  if (b->g) {
    float *db = gs_grad_target(b, &beta);
    if (k == 2) for (long i = 0; i < n; i++) db[i] = put(beta, db[i], y->g[i] * a->x[i]);
    else if (k == 1) for (long i = 0; i < n; i++) db[i] = put(beta, db[i], -(y->g[i]));
    else for (long i = 0; i < n; i++) db[i] = put(beta, db[i], y->g[i]);
  }
}

static gs_tensor *binary(gs_graph *g, gs_tensor *a, gs_tensor *b, int k) {
  if (a->n != b->n) die_shape(k == 0 ? "add" : k == 1 ? "sub" : "mul", a, b);
  int needs = gs_wants_grad(g, a) || gs_wants_grad(g, b);
  gs_tensor *y = gs_new(g, a->ndim, a->shape, needs);
  long n = a->n;
  if (k == 0) for (long i = 0; i < n; i++) y->x[i] = a->x[i] + b->x[i];
  else if (k == 1) for (long i = 0; i < n; i++) y->x[i] = a->x[i] - b->x[i];
  else for (long i = 0; i < n; i++) y->x[i] = a->x[i] * b->x[i];
  if (needs) {
    gs_node *nd = gs_tape_push(g, binary_backward, y);
    nd->in[0] = a;
    nd->in[1] = b;
    nd->i[0] = k;
  }
  return y;
}

gs_tensor *gs_add(gs_graph *g, gs_tensor *a, gs_tensor *b) { return binary(g, a, b, 0); }
gs_tensor *gs_sub(gs_graph *g, gs_tensor *a, gs_tensor *b) { return binary(g, a, b, 1); }
gs_tensor *gs_mul(gs_graph *g, gs_tensor *a, gs_tensor *b) { return binary(g, a, b, 2); }

/* ================================================================ shape */
static void concat_backward(gs_node *nd) {
  gs_tensor *a = nd->in[0], *b = nd->in[1], *y = nd->out;
  int B = rows_of(y), Na = cols_of(a), Nb = cols_of(b), N = Na + Nb;
  float beta;
  if (a->g) {
    float *da = gs_grad_target(a, &beta);
    for (int i = 0; i < B; i++) acc(da + (long)i * Na, y->g + (long)i * N, Na, beta);
  }
  if (b->g) {
    float *db = gs_grad_target(b, &beta);
    for (int i = 0; i < B; i++) acc(db + (long)i * Nb, y->g + (long)i * N + Na, Nb, beta);
  }
}

gs_tensor *gs_concat(gs_graph *g, gs_tensor *a, gs_tensor *b) {
  int B = rows_of(a), Na = cols_of(a), Nb = cols_of(b);
  if (rows_of(b) != B) die_shape("concat", a, b);
  int needs = gs_wants_grad(g, a) || gs_wants_grad(g, b);
  gs_tensor *y = gs_new2(g, B, Na + Nb, needs);
  for (int i = 0; i < B; i++) {
    memcpy(y->x + (long)i * (Na + Nb), a->x + (long)i * Na, sizeof(float) * Na);
    memcpy(y->x + (long)i * (Na + Nb) + Na, b->x + (long)i * Nb, sizeof(float) * Nb);
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, concat_backward, y);
    nd->in[0] = a;
    nd->in[1] = b;
  }
  return y;
}

static void slice_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *y = nd->out;
  int B = rows_of(x), N = cols_of(x), s = (int)nd->i[0], L = (int)nd->i[1];
  float beta;
  float *dx = gs_grad_target(x, &beta);
  if (beta == 0.0f) memset(dx, 0, sizeof(float) * x->n);
  for (int i = 0; i < B; i++)
    for (int j = 0; j < L; j++) dx[(long)i * N + s + j] += y->g[(long)i * L + j];
}

gs_tensor *gs_slice_cols(gs_graph *g, gs_tensor *x, int start, int len) {
  int B = rows_of(x), N = cols_of(x);
  if (start < 0 || len <= 0 || start + len > N) die_shape("slice_cols", x, NULL);
  int needs = gs_wants_grad(g, x);
  gs_tensor *y = gs_new2(g, B, len, needs);
  for (int i = 0; i < B; i++) memcpy(y->x + (long)i * len, x->x + (long)i * N + start, sizeof(float) * len);
  if (needs) {
    gs_node *nd = gs_tape_push(g, slice_backward, y);
    nd->in[0] = x;
    nd->i[0] = start;
    nd->i[1] = len;
  }
  return y;
}

/* The view's gradient is the input's: if nothing has written the input's gradient yet and the input
 * is an arena tensor (i[0]: not one of the graph's parameters, whose gradients live in the
 * parameter block), the input takes over the view's buffer instead of copying it. Nothing else
 * holds the input's old buffer (ops read t->g when their backward runs), and the input's later
 * contributions accumulate into the taken-over buffer (gset = 1). */
static void reshape_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *y = nd->out;
  if (nd->i[0] && !x->gset) {
    x->g = y->g;
    x->gset = 1;
    return;
  }
  float beta;
  float *dx = gs_grad_target(x, &beta);
  acc(dx, y->g, y->n, beta);
}

gs_tensor *gs_reshape(gs_graph *g, gs_tensor *x, int ndim, const int *shape) {
  gs_tensor *y = gs_arena_alloc(&g->arena, sizeof(gs_tensor));
  memset(y, 0, sizeof *y);
  y->ndim = ndim;
  long n = 1;
  for (int d = 0; d < ndim; d++) n *= (y->shape[d] = shape[d]);
  if (n != x->n) die_shape("reshape", x, y);
  y->n = n;
  y->x = x->x; /* a view: the values are shared */
  if (gs_wants_grad(g, x)) {
    y->g = gs_arena_alloc(&g->arena, sizeof(float) * n);
    gs_node *nd = gs_tape_push(g, reshape_backward, y);
    nd->in[0] = x;
    nd->i[0] = g->params && !(x >= g->params->t && x < g->params->t + g->params->count);
  }
  return y;
}

/* ================================================================ reductions */
static void sum_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *y = nd->out;
  float beta, s = y->g[0] * nd->f[0];
  float *dx = gs_grad_target(x, &beta);
  for (long i = 0; i < x->n; i++) dx[i] = put(beta, dx[i], s);
}

static gs_tensor *reduce_all(gs_graph *g, gs_tensor *x, float scale) {
  int needs = gs_wants_grad(g, x);
  int one = 1;
  gs_tensor *y = gs_new(g, 1, &one, needs);
  double s = 0.0;
  for (long i = 0; i < x->n; i++) s += x->x[i];
  y->x[0] = (float)(s * scale);
  if (needs) {
    gs_node *nd = gs_tape_push(g, sum_backward, y);
    nd->in[0] = x;
    nd->f[0] = scale;
  }
  return y;
}

gs_tensor *gs_sum(gs_graph *g, gs_tensor *x) { return reduce_all(g, x, 1.0f); }
gs_tensor *gs_mean(gs_graph *g, gs_tensor *x) { return reduce_all(g, x, 1.0f / (float)x->n); }

static void sum_rows_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *y = nd->out;
  int B = rows_of(x), N = cols_of(x);
  float beta;
  float *dx = gs_grad_target(x, &beta);
  for (int i = 0; i < B; i++) {
    float s = y->g[i];
    float *r = dx + (long)i * N;
    for (int j = 0; j < N; j++) r[j] = put(beta, r[j], s);
  }
}

gs_tensor *gs_sum_rows(gs_graph *g, gs_tensor *x) {
  int B = rows_of(x), N = cols_of(x);
  int needs = gs_wants_grad(g, x);
  gs_tensor *y = gs_new(g, 1, &B, needs);
  for (int i = 0; i < B; i++) {
    float s = 0.0f;
    const float *r = x->x + (long)i * N;
    for (int j = 0; j < N; j++) s += r[j];
    y->x[i] = s;
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, sum_rows_backward, y);
    nd->in[0] = x;
  }
  return y;
}

/* ================================================================ probabilistic */
/* ctx: eps (B,Z) and sd = exp(lv/2) (B,Z) */
static void gauss_backward(gs_node *nd) {
  gs_tensor *mu = nd->in[0], *lv = nd->in[1], *z = nd->out;
  const float *eps = nd->ctx, *sd = (const float *)nd->ctx + z->n;
  float beta;
  if (mu->g) {
    float *dmu = gs_grad_target(mu, &beta);
    acc(dmu, z->g, z->n, beta);
  }
  if (lv->g) {
    float *d = gs_grad_target(lv, &beta);
    for (long i = 0; i < z->n; i++) d[i] = put(beta, d[i], z->g[i] * 0.5f * sd[i] * eps[i]);
  }
}

static gs_tensor *gauss_impl(gs_graph *g, gs_tensor *mu, gs_tensor *logvar, gs_rng *rng, const float *given) {
  if (mu->n != logvar->n) die_shape("gauss_sample", mu, logvar);
  int needs = gs_wants_grad(g, mu) || gs_wants_grad(g, logvar);
  gs_tensor *z = gs_new(g, mu->ndim, mu->shape, needs);
  float *buf = gs_arena_alloc(&g->arena, sizeof(float) * 2 * mu->n);
  float *eps = buf, *sd = buf + mu->n;
  if (given) memcpy(eps, given, sizeof(float) * mu->n);
  else gs_rng_normal_fill(rng, eps, mu->n);
  for (long i = 0; i < mu->n; i++) {
    sd[i] = expf(0.5f * logvar->x[i]);
    z->x[i] = mu->x[i] + sd[i] * eps[i];
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, gauss_backward, z);
    nd->in[0] = mu;
    nd->in[1] = logvar;
    nd->ctx = buf;
  }
  return z;
}

gs_tensor *gs_gauss_sample(gs_graph *g, gs_tensor *mu, gs_tensor *logvar, gs_rng *rng) {
  return gauss_impl(g, mu, logvar, rng, NULL);
}

gs_tensor *gs_gauss_sample_eps(gs_graph *g, gs_tensor *mu, gs_tensor *logvar, const float *eps) {
  return gauss_impl(g, mu, logvar, NULL, eps);
}

void gs_bernoulli_nll_rows_naive(const float *logits, const float *x, int rows, int cols, float *out) {
  for (int i = 0; i < rows; i++) {
    double s = 0.0;
    for (int j = 0; j < cols; j++) {
      double l = logits[(long)i * cols + j], t = x[(long)i * cols + j];
      s += (l > 0 ? l : 0) - l * t + log1p(exp(-fabs(l)));
    }
    out[i] = (float)s;
  }
}

void gs_bernoulli_nll_rows_fast(const float *restrict logits, const float *restrict x, int rows, int cols,
                                float *restrict out, float *restrict dlogits) {
  for (int i = 0; i < rows; i++) {
    const float *l = logits + (long)i * cols, *t = x + (long)i * cols;
    float s = 0.0f;
    if (dlogits) {
      float *d = dlogits + (long)i * cols;
      for (int j = 0; j < cols; j++) {
        float e = gs_expf_neg(-fabsf(l[j]));
        float pos = l[j] > 0.0f ? l[j] : 0.0f;
        s += pos - l[j] * t[j] + gs_log1p_unit(e);
        float sig = l[j] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
        d[j] = sig - t[j];
      }
    } else {
      for (int j = 0; j < cols; j++) {
        float e = gs_expf_neg(-fabsf(l[j]));
        float pos = l[j] > 0.0f ? l[j] : 0.0f;
        s += pos - l[j] * t[j] + gs_log1p_unit(e);
      }
    }
    out[i] = s;
  }
}

/* ctx: d(nll_row)/d(logits) = sigmoid(l) - x, (B,N) */
static void bern_backward(gs_node *nd) {
  gs_tensor *l = nd->in[0], *y = nd->out;
  int B = rows_of(l), N = cols_of(l);
  const float *dl = nd->ctx;
  float beta;
  float *d = gs_grad_target(l, &beta);
  for (int i = 0; i < B; i++) {
    float s = y->g[i];
    for (int j = 0; j < N; j++) d[(long)i * N + j] = put(beta, d[(long)i * N + j], s * dl[(long)i * N + j]);
  }
}

gs_tensor *gs_bernoulli_nll(gs_graph *g, gs_tensor *logits, gs_tensor *x) {
  if (logits->n != x->n) die_shape("bernoulli_nll", logits, x);
  int B = rows_of(logits), N = cols_of(logits);
  int needs = gs_wants_grad(g, logits);
  gs_tensor *y = gs_new(g, 1, &B, needs);
  float *dl = needs ? gs_arena_alloc(&g->arena, sizeof(float) * logits->n) : NULL;
  gs_bernoulli_nll_rows_fast(logits->x, x->x, B, N, y->x, dl);
  if (needs) {
    gs_node *nd = gs_tape_push(g, bern_backward, y);
    nd->in[0] = logits;
    nd->ctx = dl;
  }
  return y;
}

static void kl_backward(gs_node *nd) {
  gs_tensor *mu = nd->in[0], *lv = nd->in[1], *y = nd->out;
  int B = rows_of(mu), Z = cols_of(mu);
  float beta;
  if (mu->g) {
    float *d = gs_grad_target(mu, &beta);
    for (int i = 0; i < B; i++)
      for (int j = 0; j < Z; j++) {
        long k = (long)i * Z + j;
        d[k] = put(beta, d[k], y->g[i] * mu->x[k]);
      }
  }
  if (lv->g) {
    float *d = gs_grad_target(lv, &beta);
    for (int i = 0; i < B; i++)
      for (int j = 0; j < Z; j++) {
        long k = (long)i * Z + j;
        d[k] = put(beta, d[k], y->g[i] * 0.5f * (expf(lv->x[k]) - 1.0f));
      }
  }
}

gs_tensor *gs_kl_std_normal(gs_graph *g, gs_tensor *mu, gs_tensor *logvar) {
  if (mu->n != logvar->n) die_shape("kl_std_normal", mu, logvar);
  int B = rows_of(mu), Z = cols_of(mu);
  int needs = gs_wants_grad(g, mu) || gs_wants_grad(g, logvar);
  gs_tensor *y = gs_new(g, 1, &B, needs);
  for (int i = 0; i < B; i++) {
    float s = 0.0f;
    for (int j = 0; j < Z; j++) {
      long k = (long)i * Z + j;
      s += mu->x[k] * mu->x[k] + expf(logvar->x[k]) - 1.0f - logvar->x[k];
    }
    y->x[i] = 0.5f * s;
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, kl_backward, y);
    nd->in[0] = mu;
    nd->in[1] = logvar;
  }
  return y;
}

/* ================================================================ softmax cross-entropy */
/* ctx: softmax probabilities (B, C) */
static void softmax_ce_backward(gs_node *nd) {
  gs_tensor *lg = nd->in[0], *y = nd->out;
  const float *pr = nd->ctx, *t = nd->in[1]->x;
  int B = rows_of(lg), C = cols_of(lg);
  float beta;
  float *d = gs_grad_target(lg, &beta);
  for (int i = 0; i < B; i++) {
    float ts = 0.0f;
    for (int j = 0; j < C; j++) ts += t[(long)i * C + j];
    for (int j = 0; j < C; j++) { /* d/dl_j of -sum_k t_k log softmax_k = p_j * sum t - t_j */
      long k = (long)i * C + j;
      d[k] = put(beta, d[k], y->g[i] * (pr[k] * ts - t[k]));
    }
  }
}

gs_tensor *gs_softmax_ce(gs_graph *g, gs_tensor *logits, gs_tensor *target) {
  if (logits->n != target->n) die_shape("softmax_ce", logits, target);
  int B = rows_of(logits), C = cols_of(logits);
  int needs = gs_wants_grad(g, logits);
  gs_tensor *y = gs_new(g, 1, &B, needs);
  float *pr = gs_arena_alloc(&g->arena, sizeof(float) * logits->n);
  for (int i = 0; i < B; i++) {
    const float *l = logits->x + (long)i * C, *t = target->x + (long)i * C;
    float mx = l[0];
    for (int j = 1; j < C; j++) mx = l[j] > mx ? l[j] : mx;
    double se = 0.0;
    for (int j = 0; j < C; j++) se += exp((double)l[j] - mx);
    double lse = mx + log(se), loss = 0.0;
    for (int j = 0; j < C; j++) {
      pr[(long)i * C + j] = (float)exp((double)l[j] - lse);
      if (t[j] != 0.0f) loss -= (double)t[j] * ((double)l[j] - lse);
    }
    y->x[i] = (float)loss;
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, softmax_ce_backward, y);
    nd->in[0] = logits;
    nd->in[1] = target;
    nd->ctx = pr;
  }
  return y;
}
