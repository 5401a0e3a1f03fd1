/* Convolution ops: conv2d, transposed conv2d, batch norm, flatten. See include/gensweep/conv.h.
 *
 * Fast path: the batch is folded into the GEMM's N dimension. With K = Cin*KH*KW, P = Ho*Wo:
 *   col   (K, N*P)      im2col of x: row (ci,kh,kw), column (n,oh,ow)
 *   Y'    (Cout, N*P) = W (Cout,K) col                       forward
 *   dW    (Cout, K)   = dY' col^T                            weight gradient
 *   dcol  (K, N*P)    = W^T dY',  dx = col2im(dcol)          input gradient
 * Y' <-> NCHW is a transpose of contiguous rows of P floats (cheap next to the GEMMs).
 * The transposed convolution is the same machinery run backwards: its forward is conv2d's
 * input gradient, its input gradient is conv2d's forward, with im2col taken of dy. */
#include "gensweep/conv.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/ops.h"

static void die(const char *op, const char *what, const gs_tensor *a, const gs_tensor *b) {
  fprintf(stderr, "gensweep: internal error: %s: %s: shapes", op, what);
  const gs_tensor *t[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    if (!t[k]) continue;
    fprintf(stderr, " (");
    for (int d = 0; d < t[k]->ndim; d++) fprintf(stderr, "%s%d", d ? "," : "", t[k]->shape[d]);
    fprintf(stderr, ")");
  }
  fprintf(stderr, "\n");
  abort();
}

static inline float put(float beta, float old, float v) { return beta != 0.0f ? old + v : v; }
static inline float *falloc(gs_graph *g, long n) { return gs_arena_alloc(&g->arena, sizeof(float) * (size_t)n); }

/* ================================================================ im2col / col2im */
/* Geometry of one convolution: image (N,C,H,W) -> columns (C*KH*KW, N*Ho*Wo). */
typedef struct geom {
  int N, C, H, W, KH, KW, s, p, Ho, Wo;
} geom;

/* Both transforms work on a zero-padded, channel-major copy of the image, (C,N,Hp,Wp) with
 * Hp = H+2p, so that column row (c,kh,kw) is, for every column j = (n,oh,ow), the element at
 * offset idx[j] = n*Hp*Wp + oh*s*Wp + ow*s from base (c*N*Hp + kh)*Wp + kw: one table shared by
 * all K rows, each row one branch-free loop over N*Ho*Wo, reading (or updating) one channel's
 * N planes, which are contiguous (in NCHW they would sit C*H*W floats apart, at equal cache-set
 * offsets). Short image rows (7, 4, 2 pixels at stride 2) make a row-by-row loop with bounds
 * checks pay far more per element. */
typedef struct padded {
  int Hp, Wp;
  long plane, NP; /* Hp*Wp, N*Ho*Wo */
  int *idx;       /* (NP) */
  float *buf;     /* (C, N, Hp, Wp) */
} padded;

static void pad_setup(gs_graph *g, const geom *G, padded *pd) {
  pd->Hp = G->H + 2 * G->p;
  pd->Wp = G->W + 2 * G->p;
  pd->plane = (long)pd->Hp * pd->Wp;
  const long P = (long)G->Ho * G->Wo;
  pd->NP = G->N * P;
  if ((double)G->N * pd->plane >= 2147483647.0) {
    fprintf(stderr, "gensweep: internal error: conv: image too large for 32-bit offsets\n");
    abort();
  }
  pd->idx = gs_arena_alloc(&g->arena, sizeof(int) * (size_t)pd->NP);
  pd->buf = gs_arena_alloc(&g->arena, sizeof(float) * (size_t)(G->C * G->N * pd->plane));
  int *q = pd->idx;
  for (int n = 0; n < G->N; n++)
    for (int oh = 0; oh < G->Ho; oh++)
      for (int ow = 0; ow < G->Wo; ow++) *q++ = (int)(n * pd->plane + (long)oh * G->s * pd->Wp + (long)ow * G->s);
}

static void im2col(gs_graph *g, const geom *G, const float *restrict x, float *restrict col) {
  padded pd;
  pad_setup(g, G, &pd);
  const int p = G->p, H = G->H, W = G->W, N = G->N, C = G->C;
  for (int c = 0; c < C; c++)
    for (int n = 0; n < N; n++) {
      float *d = pd.buf + ((long)c * N + n) * pd.plane;
      const float *s = x + ((long)n * C + c) * H * W;
      if (!p) {
        memcpy(d, s, sizeof(float) * (size_t)H * W);
        continue;
      }
      memset(d, 0, sizeof(float) * (size_t)p * pd.Wp);
      for (int h = 0; h < H; h++) {
        float *r = d + (long)(h + p) * pd.Wp;
        for (int k = 0; k < p; k++) r[k] = r[p + W + k] = 0.0f;
        memcpy(r + p, s + (long)h * W, sizeof(float) * W);
      }
      memset(d + (long)(H + p) * pd.Wp, 0, sizeof(float) * (size_t)p * pd.Wp);
    }
  const int *restrict idx = pd.idx;
  const long NP = pd.NP;
  for (int c = 0; c < C; c++)
    for (int kh = 0; kh < G->KH; kh++)
      for (int kw = 0; kw < G->KW; kw++) {
        const float *restrict b = pd.buf + c * N * pd.plane + (long)kh * pd.Wp + kw;
        float *restrict d = col + ((long)(c * G->KH + kh) * G->KW + kw) * NP;
        for (long j = 0; j < NP; j++) d[j] = b[idx[j]];
      }
}

/* x = [beta ? x : 0] + col2im(col) */
static void col2im(gs_graph *g, const geom *G, const float *restrict col, float *restrict x, float beta) {
  padded pd;
  pad_setup(g, G, &pd);
  const int p = G->p, H = G->H, W = G->W, N = G->N, C = G->C;
  memset(pd.buf, 0, sizeof(float) * (size_t)(C * N * pd.plane));
  const int *restrict idx = pd.idx;
  const long NP = pd.NP;
  for (int c = 0; c < C; c++)
    for (int kh = 0; kh < G->KH; kh++)
      for (int kw = 0; kw < G->KW; kw++) {
        float *restrict b = pd.buf + c * N * pd.plane + (long)kh * pd.Wp + kw;
        const float *restrict d = col + ((long)(c * G->KH + kh) * G->KW + kw) * NP;
        for (long j = 0; j < NP; j++) b[idx[j]] += d[j]; /* idx distinct within a row */
      }
  for (int c = 0; c < C; c++)
    for (int n = 0; n < N; n++) {
      const float *s = pd.buf + ((long)c * N + n) * pd.plane + (long)p * pd.Wp + p;
      float *d = x + ((long)n * C + c) * H * W;
      for (int h = 0; h < H; h++, s += pd.Wp, d += W)
        if (beta != 0.0f)
          for (int w = 0; w < W; w++) d[w] += s[w];
        else
          memcpy(d, s, sizeof(float) * W);
    }
}

/* Sum of n floats with 16 independent partial sums (vectorises without reassociation flags). */
static float sum_f(const float *restrict v, long n) {
  float a[16] = {0};
  long i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) a[k] += v[i + k];
  float s = 0.0f;
  for (; i < n; i++) s += v[i];
  for (int k = 0; k < 16; k++) s += a[k];
  return s;
}

/* (N,C,P) -> (C, N*P) */
static void nchw_to_cm(const float *restrict src, float *restrict dst, int N, int C, long P) {
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++)
      memcpy(dst + (long)c * N * P + n * P, src + ((long)n * C + c) * P, sizeof(float) * (size_t)P);
}

/* dst (N,C,P) = [beta ? dst : 0] + src (C, N*P) [+ bias[c]] */
static void cm_to_nchw(const float *restrict src, float *restrict dst, int N, int C, long P, const float *bias,
                       float beta) {
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      const float *s = src + (long)c * N * P + n * P;
      float *d = dst + ((long)n * C + c) * P;
      float bv = bias ? bias[c] : 0.0f;
      if (beta != 0.0f)
        for (long i = 0; i < P; i++) d[i] += s[i] + bv;
      else
        for (long i = 0; i < P; i++) d[i] = s[i] + bv;
    }
}

/* db[c] (+)= sum over n, p of dy (N,C,P) */
static void bias_grad(gs_tensor *b, const float *dy, int N, int C, long P) {
  float beta;
  float *db = gs_grad_target(b, &beta);
  for (int c = 0; c < C; c++) {
    double s = 0.0;
    for (int n = 0; n < N; n++) {
      s += sum_f(dy + ((long)n * C + c) * P, P);
    }
    db[c] = put(beta, db[c], (float)s);
  }
}

/* ================================================================ conv2d */
typedef struct conv_ctx {
  gs_graph *g;
  geom G;       /* x -> columns */
  int Cout;
  float *col;   /* (K, N*P), kept when w needs a gradient; reused for dcol */
} conv_ctx;

static void conv2d_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
  conv_ctx *c = nd->ctx;
  const geom *G = &c->G;
  const int Cout = c->Cout, N = G->N;
  const long P = (long)G->Ho * G->Wo, NP = N * P, K = (long)G->C * G->KH * G->KW;
  float beta;
  if (b && b->g) bias_grad(b, y->g, N, Cout, P);
  if (!(w->g || x->g)) return;
  float *dyc = falloc(c->g, (long)Cout * NP); /* dY' (Cout, N*P) */
  nchw_to_cm(y->g, dyc, N, Cout, P);
  if (w->g) { /* dW (Cout,K) = dY' (Cout,NP) col^T (NP,K) */
    float *dw = gs_grad_target(w, &beta);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Cout, (int)K, (int)NP, 1.0f, dyc, (int)NP, c->col,
                (int)NP, beta, dw, (int)K);
  }
  if (x->g) { /* dcol (K,NP) = W^T (K,Cout) dY' (Cout,NP); dx = col2im(dcol) */
    float *dcol = c->col ? c->col : falloc(c->g, K * NP);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)NP, Cout, 1.0f, w->x, (int)K, dyc,
                (int)NP, 0.0f, dcol, (int)NP);
    float *dx = gs_grad_target(x, &beta);
    col2im(c->g, G, dcol, dx, beta);
  }
}

gs_tensor *gs_conv2d(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad) {
  if (x->ndim != 4) die("conv2d", "input must be (N,C,H,W)", x, NULL);
  if (w->ndim != 4 || w->shape[1] != x->shape[1]) die("conv2d", "weight must be (Cout,Cin,KH,KW)", x, w);
  if (stride < 1 || pad < 0) die("conv2d", "stride must be >= 1 and pad >= 0", x, w);
  const int N = x->shape[0], Cin = x->shape[1], H = x->shape[2], W = x->shape[3];
  const int Cout = w->shape[0], KH = w->shape[2], KW = w->shape[3];
  if (b && (b->n != Cout)) die("conv2d", "bias must be (Cout)", w, b);
  if (H + 2 * pad < KH || W + 2 * pad < KW) die("conv2d", "kernel larger than the padded input", x, w);
  const int Ho = gs_conv_out(H, KH, stride, pad), Wo = gs_conv_out(W, KW, stride, pad);
  int needs = gs_wants_grad(g, x) || gs_wants_grad(g, w) || (b && gs_wants_grad(g, b));
  int ys[4] = {N, Cout, Ho, Wo};
  gs_tensor *y = gs_new(g, 4, ys, needs);
  geom G = {N, Cin, H, W, KH, KW, stride, pad, Ho, Wo};
  const long P = (long)Ho * Wo, NP = N * P, K = (long)Cin * KH * KW;
  float *col = falloc(g, K * NP);
  im2col(g, &G, x->x, col);
  float *yc = falloc(g, (long)Cout * NP);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cout, (int)NP, (int)K, 1.0f, w->x, (int)K, col, (int)NP,
              0.0f, yc, (int)NP);
  cm_to_nchw(yc, y->x, N, Cout, P, b ? b->x : NULL, 0.0f);
  if (needs) {
    gs_node *nd = gs_tape_push(g, conv2d_backward, y);
    nd->in[0] = x;
    nd->in[1] = w;
    nd->in[2] = b;
    conv_ctx *c = gs_arena_alloc(&g->arena, sizeof(conv_ctx));
    c->g = g;
    c->G = G;
    c->Cout = Cout;
    c->col = w->g ? col : NULL;
    nd->ctx = c;
  }
  return y;
}

/* ================================================================ transposed conv2d */
/* Geometry G describes the conv that maps the OUTPUT y (N,Cout,Ho,Wo) to the input's shape (H,W):
 * the transposed conv's forward is that conv's input gradient. */
typedef struct deconv_ctx {
  gs_graph *g;
  geom G;
  int Cin;
  float *xc;    /* x as (Cin, N*H*W), kept when w needs a gradient */
  float *col;   /* (Cout*KH*KW, N*H*W) scratch from the forward, reused for im2col(dy) */
} deconv_ctx;

static void deconv_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
  deconv_ctx *c = nd->ctx;
  const geom *G = &c->G;
  const int N = G->N, Cout = G->C, Cin = c->Cin;
  const long Q = (long)G->Ho * G->Wo, NQ = N * Q, K = (long)Cout * G->KH * G->KW;
  float beta;
  if (b && b->g) bias_grad(b, y->g, N, Cout, (long)G->H * G->W);
  if (!(w->g || x->g)) return;
  im2col(c->g, G, y->g, c->col); /* (K, NQ) */
  if (w->g) { /* dW (Cin,K) = X' (Cin,NQ) col^T (NQ,K) */
    float *dw = gs_grad_target(w, &beta);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Cin, (int)K, (int)NQ, 1.0f, c->xc, (int)NQ, c->col,
                (int)NQ, beta, dw, (int)K);
  }
  if (x->g) { /* dX' (Cin,NQ) = W (Cin,K) col (K,NQ) */
    float *dxc = falloc(c->g, (long)Cin * NQ);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cin, (int)NQ, (int)K, 1.0f, w->x, (int)K, c->col,
                (int)NQ, 0.0f, dxc, (int)NQ);
    float *dx = gs_grad_target(x, &beta);
    cm_to_nchw(dxc, dx, N, Cin, Q, NULL, beta);
  }
}

gs_tensor *gs_conv_transpose2d(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad,
                               int out_pad) {
  if (x->ndim != 4) die("conv_transpose2d", "input must be (N,C,H,W)", x, NULL);
  if (w->ndim != 4 || w->shape[0] != x->shape[1])
    die("conv_transpose2d", "weight must be (Cin,Cout,KH,KW)", x, w);
  if (stride < 1 || pad < 0 || out_pad < 0 || out_pad >= stride)
    die("conv_transpose2d", "need stride >= 1, pad >= 0, 0 <= out_pad < stride", x, w);
  const int N = x->shape[0], Cin = x->shape[1], H = x->shape[2], W = x->shape[3];
  const int Cout = w->shape[1], KH = w->shape[2], KW = w->shape[3];
  if (b && (b->n != Cout)) die("conv_transpose2d", "bias must be (Cout)", w, b);
  const int Ho = gs_deconv_out(H, KH, stride, pad, out_pad), Wo = gs_deconv_out(W, KW, stride, pad, out_pad);
  if (Ho < 1 || Wo < 1) die("conv_transpose2d", "empty output", x, w);
  int needs = gs_wants_grad(g, x) || gs_wants_grad(g, w) || (b && gs_wants_grad(g, b));
  int ys[4] = {N, Cout, Ho, Wo};
  gs_tensor *y = gs_new(g, 4, ys, needs);
  geom G = {N, Cout, Ho, Wo, KH, KW, stride, pad, H, W};
  const long Q = (long)H * W, NQ = N * Q, K = (long)Cout * KH * KW;
  float *xc = falloc(g, (long)Cin * NQ);
  nchw_to_cm(x->x, xc, N, Cin, Q);
  float *col = falloc(g, K * NQ);
  /* col (K,NQ) = W^T (K,Cin) X' (Cin,NQ) */
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)NQ, Cin, 1.0f, w->x, (int)K, xc, (int)NQ, 0.0f,
              col, (int)NQ);
  col2im(g, &G, col, y->x, 0.0f);
  if (b) {
    const long P = (long)Ho * Wo;
    for (int n = 0; n < N; n++)
      for (int co = 0; co < Cout; co++) {
        float *r = y->x + ((long)n * Cout + co) * P;
        const float bv = b->x[co];
        for (long i = 0; i < P; i++) r[i] += bv;
      }
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, deconv_backward, y);
    nd->in[0] = x;
    nd->in[1] = w;
    nd->in[2] = b;
    deconv_ctx *c = gs_arena_alloc(&g->arena, sizeof(deconv_ctx));
    c->g = g;
    c->G = G;
    c->Cin = Cin;
    c->xc = xc;
    c->col = col;
    nd->ctx = c;
  }
  return y;
}

/* ================================================================ batch norm */
typedef struct bn_ctx {
  int N, C;
  long P;           /* elements per (sample, channel): H*W, or 1 for (B,N) */
  int training;
  float *mean;      /* (C) the statistics used to normalise */
  float *invstd;    /* (C) */
} bn_ctx;

/* element (n, c, i) of x viewed as (N, C, P) */
#define BN_AT(base, n, c, i) ((base)[((long)(n) * C + (c)) * P + (i)])

static void bn_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *ga = nd->in[1], *be = nd->in[2], *y = nd->out;
  bn_ctx *c = nd->ctx;
  const int N = c->N, C = c->C;
  const long P = c->P;
  const double M = (double)N * P;
  const float *dy = y->g;
  float bg, bb, bx;
  float *dga = ga && ga->g ? gs_grad_target(ga, &bg) : NULL;
  float *dbe = be && be->g ? gs_grad_target(be, &bb) : NULL;
  float *dx = x->g ? gs_grad_target(x, &bx) : NULL;
  for (int ch = 0; ch < C; ch++) {
    const float mu = c->mean[ch], is = c->invstd[ch];
    double sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy * xhat */
    for (int n = 0; n < N; n++)
      for (long i = 0; i < P; i++) {
        float d = BN_AT(dy, n, ch, i);
        sdy += d;
        sdyx += d * ((BN_AT(x->x, n, ch, i) - mu) * is);
      }
    if (dga) dga[ch] = put(bg, dga[ch], (float)sdyx);
    if (dbe) dbe[ch] = put(bb, dbe[ch], (float)sdy);
    if (!dx) continue;
    const float gm = ga ? ga->x[ch] : 1.0f;
    if (c->training) { /* dx = gamma*invstd * (dy - mean(dy) - xhat * mean(dy*xhat)) */
      const float k = gm * is, a = (float)(sdy / M), bq = (float)(sdyx / M);
      for (int n = 0; n < N; n++)
        for (long i = 0; i < P; i++) {
          float xh = (BN_AT(x->x, n, ch, i) - mu) * is;
          float v = k * (BN_AT(dy, n, ch, i) - a - xh * bq);
          BN_AT(dx, n, ch, i) = put(bx, BN_AT(dx, n, ch, i), v);
        }
    } else {
      const float k = gm * is;
      for (int n = 0; n < N; n++)
        for (long i = 0; i < P; i++) BN_AT(dx, n, ch, i) = put(bx, BN_AT(dx, n, ch, i), k * BN_AT(dy, n, ch, i));
    }
  }
}

gs_tensor *gs_batchnorm(gs_graph *g, gs_tensor *x, gs_tensor *gamma, gs_tensor *beta, float *running_mean,
                        float *running_var, float momentum, float eps, int training) {
  int N, C;
  long P;
  if (x->ndim == 4) {
    N = x->shape[0];
    C = x->shape[1];
    P = (long)x->shape[2] * x->shape[3];
  } else if (x->ndim == 2) {
    N = x->shape[0];
    C = x->shape[1];
    P = 1;
  } else {
    die("batchnorm", "input must be (N,C,H,W) or (B,N)", x, NULL);
    return NULL;
  }
  if (gamma && gamma->n != C) die("batchnorm", "gamma must have one entry per channel", x, gamma);
  if (beta && beta->n != C) die("batchnorm", "beta must have one entry per channel", x, beta);
  if (!training && (!running_mean || !running_var)) die("batchnorm", "evaluation needs running statistics", x, NULL);
  const long M = (long)N * P;
  int needs = gs_wants_grad(g, x) || (gamma && gs_wants_grad(g, gamma)) || (beta && gs_wants_grad(g, beta));
  gs_tensor *y = gs_new(g, x->ndim, x->shape, needs);
  float *mean = falloc(g, C), *invstd = falloc(g, C);
  for (int ch = 0; ch < C; ch++) {
    float mu, var;
    if (training) {
      double s = 0.0;
      for (int n = 0; n < N; n++)
        for (long i = 0; i < P; i++) s += BN_AT(x->x, n, ch, i);
      double m = s / (double)M, q = 0.0;
      for (int n = 0; n < N; n++)
        for (long i = 0; i < P; i++) {
          double d = BN_AT(x->x, n, ch, i) - m;
          q += d * d;
        }
      mu = (float)m;
      var = (float)(q / (double)M);
      if (running_mean) running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mu;
      if (running_var) {
        float unbiased = M > 1 ? (float)(q / (double)(M - 1)) : var;
        running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * unbiased;
      }
    } else {
      mu = running_mean[ch];
      var = running_var[ch];
    }
    const float is = 1.0f / sqrtf(var + eps);
    mean[ch] = mu;
    invstd[ch] = is;
    const float k = (gamma ? gamma->x[ch] : 1.0f) * is, off = beta ? beta->x[ch] : 0.0f;
    for (int n = 0; n < N; n++)
      for (long i = 0; i < P; i++) BN_AT(y->x, n, ch, i) = (BN_AT(x->x, n, ch, i) - mu) * k + off;
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, bn_backward, y);
    nd->in[0] = x;
    nd->in[1] = gamma;
    nd->in[2] = beta;
    bn_ctx *c = gs_arena_alloc(&g->arena, sizeof(bn_ctx));
    *c = (bn_ctx){N, C, P, training, mean, invstd};
    nd->ctx = c;
  }
  return y;
}

/* ================================================================ flatten */
gs_tensor *gs_flatten(gs_graph *g, gs_tensor *x) {
  if (x->ndim < 1) die("flatten", "need at least one dimension", x, NULL);
  int s[2] = {x->shape[0], x->shape[0] ? (int)(x->n / x->shape[0]) : 0};
  return gs_reshape(g, x, 2, s);
}

/* ================================================================ naive references */
#define X4(a, i0, d1, i1, d2, i2, d3, i3) (a)[(((long)(i0) * (d1) + (i1)) * (d2) + (i2)) * (d3) + (i3)]

void gs_conv2d_forward_naive(const float *x, const float *w, const float *b, float *y, int N, int Cin, int H,
                             int W, int Cout, int KH, int KW, int stride, int pad) {
  int Ho = gs_conv_out(H, KH, stride, pad), Wo = gs_conv_out(W, KW, stride, pad);
  for (int n = 0; n < N; n++)
    for (int co = 0; co < Cout; co++)
      for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++) {
          float s = b ? b[co] : 0.0f;
          for (int ci = 0; ci < Cin; ci++)
            for (int kh = 0; kh < KH; kh++) {
              int ih = oh * stride - pad + kh;
              if (ih < 0 || ih >= H) continue;
              for (int kw = 0; kw < KW; kw++) {
                int iw = ow * stride - pad + kw;
                if (iw < 0 || iw >= W) continue;
                s += X4(x, n, Cin, ci, H, ih, W, iw) * X4(w, co, Cin, ci, KH, kh, KW, kw);
              }
            }
          X4(y, n, Cout, co, Ho, oh, Wo, ow) = s;
        }
}

void gs_conv2d_backward_naive(const float *x, const float *w, const float *dy, float *dx, float *dw, float *db,
                              int N, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad) {
  int Ho = gs_conv_out(H, KH, stride, pad), Wo = gs_conv_out(W, KW, stride, pad);
  if (dx) memset(dx, 0, sizeof(float) * (size_t)N * Cin * H * W);
  if (dw) memset(dw, 0, sizeof(float) * (size_t)Cout * Cin * KH * KW);
  if (db) memset(db, 0, sizeof(float) * (size_t)Cout);
  for (int n = 0; n < N; n++)
    for (int co = 0; co < Cout; co++)
      for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++) {
          float d = X4(dy, n, Cout, co, Ho, oh, Wo, ow);
          if (db) db[co] += d;
          for (int ci = 0; ci < Cin; ci++)
            for (int kh = 0; kh < KH; kh++) {
              int ih = oh * stride - pad + kh;
              if (ih < 0 || ih >= H) continue;
              for (int kw = 0; kw < KW; kw++) {
                int iw = ow * stride - pad + kw;
                if (iw < 0 || iw >= W) continue;
                if (dx) X4(dx, n, Cin, ci, H, ih, W, iw) += d * X4(w, co, Cin, ci, KH, kh, KW, kw);
                if (dw) X4(dw, co, Cin, ci, KH, kh, KW, kw) += d * X4(x, n, Cin, ci, H, ih, W, iw);
              }
            }
        }
}

void gs_conv_transpose2d_forward_naive(const float *x, const float *w, const float *b, float *y, int N, int Cin,
                                       int H, int W, int Cout, int KH, int KW, int stride, int pad, int out_pad) {
  int Ho = gs_deconv_out(H, KH, stride, pad, out_pad), Wo = gs_deconv_out(W, KW, stride, pad, out_pad);
  for (int n = 0; n < N; n++)
    for (int co = 0; co < Cout; co++)
      for (int i = 0; i < Ho * Wo; i++) y[((long)n * Cout + co) * Ho * Wo + i] = b ? b[co] : 0.0f;
  for (int n = 0; n < N; n++)
    for (int ci = 0; ci < Cin; ci++)
      for (int ih = 0; ih < H; ih++)
        for (int iw = 0; iw < W; iw++) {
          float v = X4(x, n, Cin, ci, H, ih, W, iw);
          for (int co = 0; co < Cout; co++)
            for (int kh = 0; kh < KH; kh++) {
              int oh = ih * stride - pad + kh;
              if (oh < 0 || oh >= Ho) continue;
              for (int kw = 0; kw < KW; kw++) {
                int ow = iw * stride - pad + kw;
                if (ow < 0 || ow >= Wo) continue;
                X4(y, n, Cout, co, Ho, oh, Wo, ow) += v * X4(w, ci, Cout, co, KH, kh, KW, kw);
              }
            }
        }
}

void gs_conv_transpose2d_backward_naive(const float *x, const float *w, const float *dy, float *dx, float *dw,
                                        float *db, int N, int Cin, int H, int W, int Cout, int KH, int KW,
                                        int stride, int pad, int out_pad) {
  int Ho = gs_deconv_out(H, KH, stride, pad, out_pad), Wo = gs_deconv_out(W, KW, stride, pad, out_pad);
  if (dw) memset(dw, 0, sizeof(float) * (size_t)Cin * Cout * KH * KW);
  if (db) {
    memset(db, 0, sizeof(float) * (size_t)Cout);
    for (int n = 0; n < N; n++)
      for (int co = 0; co < Cout; co++)
        for (int i = 0; i < Ho * Wo; i++) db[co] += dy[((long)n * Cout + co) * Ho * Wo + i];
  }
  for (int n = 0; n < N; n++)
    for (int ci = 0; ci < Cin; ci++)
      for (int ih = 0; ih < H; ih++)
        for (int iw = 0; iw < W; iw++) {
          float v = X4(x, n, Cin, ci, H, ih, W, iw), s = 0.0f;
          for (int co = 0; co < Cout; co++)
            for (int kh = 0; kh < KH; kh++) {
              int oh = ih * stride - pad + kh;
              if (oh < 0 || oh >= Ho) continue;
              for (int kw = 0; kw < KW; kw++) {
                int ow = iw * stride - pad + kw;
                if (ow < 0 || ow >= Wo) continue;
                float d = X4(dy, n, Cout, co, Ho, oh, Wo, ow);
                s += d * X4(w, ci, Cout, co, KH, kh, KW, kw);
                if (dw) X4(dw, ci, Cout, co, KH, kh, KW, kw) += d * v;
              }
            }
          if (dx) X4(dx, n, Cin, ci, H, ih, W, iw) = s;
        }
}
