/* Convolution ops: conv2d, transposed conv2d, batch norm, flatten. See include/gensweep/nn/conv.h.
 *
 * Fast path: im2col + sgemm with the batch folded into the GEMM's N dimension, taken in chunks
 * of nb samples (a few hundred to a few thousand columns, see chunk_samples) so that a chunk's
 * column matrix stays in cache between im2col, the GEMMs and col2im. With K = Cin*KH*KW,
 * P = Ho*Wo and a chunk of nb samples:
 *   col   (K, nb*P)       im2col of the chunk of x: row (ci,kh,kw), column (n,oh,ow)
 *   Y'    (Cout, nb*P)  = W (Cout,K) col                   forward
 *   dW    (Cout, K)    += dY' col^T                         weight gradient (summed over chunks)
 *   dcol  (K, nb*P)     = W^T dY',  dx = col2im(dcol)       input gradient
 * Y' <-> NCHW is a copy of contiguous rows of P floats. The backward recomputes im2col (cheap
 * next to the GEMMs) instead of keeping every layer's column matrix alive in the arena. The
 * transposed convolution is the same machinery run backwards: its forward is conv2d's input
 * gradient, its input gradient is conv2d's forward, with im2col taken of dy. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif
#include "gensweep/nn/conv.h"

#include <cblas.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/nn/ops.h"

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
/* Short copies (image rows of 2..28 floats) inline: a memcpy call per row costs more than the copy
 * (the pragma at the top keeps GCC from turning these loops back into memcpy calls). */
static inline void copy_f(float *restrict d, const float *restrict s, long n) {
  for (long i = 0; i < n; i++) d[i] = s[i];
}

/* Columns per chunk: max(CONV_MIN_COLS, K / 3), rounded up to whole samples. Measured on the CAE
 * and DCGAN layers (one thread, OpenBLAS Haswell kernels, 1 MB L2): few-row column matrices
 * (K = 288) are fastest at 200-400 columns, where im2col's output is still in L2 when the GEMM
 * reads it (the whole batch of 128 at once: 1.5x the time); long ones (K = 1600 .. 6400) want 500-2000 columns
 * for the GEMMs' sake. */
#define CONV_MIN_COLS 256
/* One-channel layers (K = 9 or 25 rows: the CAE's and DCGAN's first conv and last transposed conv)
 * are memory-bound small-kernel GEMMs: fewer, longer calls win (CAE, Zen 4, COOPERLAKE kernels:
 * 1024 columns ~1.5% faster per step than 256, 2048 alike, 6272 slower). */
#define CONV_SHORT_COLS 1024

/* Geometry of one convolution: image (N,C,H,W) -> columns (C*KH*KW, N*Ho*Wo). N here is the
 * chunk capacity nb; a call may pass fewer samples. */
typedef struct geom {
  int N, C, H, W, KH, KW, s, p, Ho, Wo;
} geom;

/* Both transforms work on a zero-padded, channel-major, POLYPHASE copy of the chunk: padded
 * pixel (r, q) of channel c, sample n (r < Hp = H+2p, q < Wp) sits in phase (r%s, q%s) at
 * (r/s, q/s) of an Hs x Ws plane (Hs = ceil(Hp/s)); buffer layout (C, nn, s, s, Hs, Ws). Column
 * row (c,kh,kw) at columns (n, oh, 0..Wo-1) is then the CONTIGUOUS run of Wo floats at row
 * oh + kh/s, column kw/s of phase (kh%s, kw%s) of sample n: im2col and col2im are short row
 * copies / adds (no index tables, no gathers), and the (de)interleaving happens once per input
 * pixel when the buffer is filled or emptied. Stride 1 is the plain padded image. */
typedef struct conv_ws {
  geom G;
  int Hp, Wp, Hs, Ws;
  long plane, P; /* s*s*Hs*Ws floats per (c, n); Ho*Wo */
  float *buf;    /* (C, nb, s, s, Hs, Ws) */
} conv_ws;

int gs_conv_chunk = 0;

/* Samples per chunk for K rows of P columns each. */
static int chunk_samples(long K, long P, int N) {
  if (gs_conv_chunk > 0) return gs_conv_chunk < N ? gs_conv_chunk : N;
  long cols = K < 32 ? CONV_SHORT_COLS : K / 3 > CONV_MIN_COLS ? K / 3 : CONV_MIN_COLS;
  long nb = (cols + P - 1) / P;
  return nb > N ? N : (int)nb;
}

static void ws_init(gs_graph *g, conv_ws *ws, const geom *G) {
  ws->G = *G;
  ws->Hp = G->H + 2 * G->p;
  ws->Wp = G->W + 2 * G->p;
  ws->Hs = (ws->Hp + G->s - 1) / G->s;
  ws->Ws = (ws->Wp + G->s - 1) / G->s;
  ws->plane = (long)G->s * G->s * ws->Hs * ws->Ws;
  ws->P = (long)G->Ho * G->Wo;
  ws->buf = gs_arena_alloc(&g->arena, sizeof(float) * (size_t)((long)G->C * G->N * ws->plane));
}

/* Moves one image plane src (H,W) into / out of its polyphase form d (s, s, Hs, Ws).
 * load: d = phases of the zero-padded src (every cell written). store: src = [beta ? src : 0] + the
 * interior of d. With AVX-512 the stride-2 case (padded rows of up to 32 pixels) splits / merges a
 * row's even and odd pixels with one two-source permute per phase and masked loads / stores. */
#ifdef __AVX512F__
#define PH_FAST(ws) ((ws)->G.s == 2 && (ws)->Wp <= 32)
static const int32_t ph_even[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
static const int32_t ph_odd[16] = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
static const int32_t ph_lo[16] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
static const int32_t ph_hi[16] = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
static inline __mmask16 lanes(int lo, int hi) { /* lanes [lo, hi) of 0..15, clipped */
  lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
  hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
  return hi > lo ? (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u)) : 0;
}
/* a phase row of Ws <= 16 floats (256-bit accesses when it fits: see copy_run) */
static inline void ph_row_store(float *d, __mmask16 m, int n, __m512 v) {
  if (n <= 8) _mm256_mask_storeu_ps(d, (__mmask8)m, _mm512_castps512_ps256(v));
  else _mm512_mask_storeu_ps(d, m, v);
}
static inline __m512 ph_row_load(const float *d, __mmask16 m, int n) {
  if (n <= 8) return _mm512_zextps256_ps512(_mm256_maskz_loadu_ps((__mmask8)m, d));
  return _mm512_maskz_loadu_ps(m, d);
}
#else
#define PH_FAST(ws) 0
#endif

static void phase_load(const conv_ws *ws, const float *restrict src, float *restrict d) {
  const geom *G = &ws->G;
  const int s = G->s, p = G->p, H = G->H, W = G->W, Hs = ws->Hs, Ws = ws->Ws;
#ifdef __AVX512F__
  if (PH_FAST(ws)) {
    const __m512i ie = _mm512_loadu_si512(ph_even), io = _mm512_loadu_si512(ph_odd);
    const __mmask16 m0 = lanes(p, p + W), m1 = lanes(p - 16, p + W - 16), mw = lanes(0, Ws);
    const long ps = (long)Hs * Ws; /* phase (a, b) at (2a + b) * ps */
    for (int a = 0; a < 2; a++)
      for (int i = 0; i < Hs; i++) {
        const int h = 2 * i + a - p;
        float *de = d + (2L * a) * ps + (long)i * Ws, *dod = de + ps;
        if (h < 0 || h >= H) {
          ph_row_store(de, mw, Ws, _mm512_setzero_ps());
          ph_row_store(dod, mw, Ws, _mm512_setzero_ps());
          continue;
        }
        const float *r = src + (long)h * W - p; /* padded column q at r[q] (masked: never read) */
        __m512 v0 = _mm512_maskz_loadu_ps(m0, r), v1 = _mm512_maskz_loadu_ps(m1, r + 16);
        ph_row_store(de, mw, Ws, _mm512_permutex2var_ps(v0, ie, v1));
        ph_row_store(dod, mw, Ws, _mm512_permutex2var_ps(v0, io, v1));
      }
    return;
  }
#endif
  for (int a = 0; a < s; a++)
    for (int i = 0; i < Hs; i++) {
      const int h = s * i + a - p;
      for (int b = 0; b < s; b++) {
        float *restrict dr = d + (((long)a * s + b) * Hs + i) * Ws;
        for (int j = 0; j < Ws; j++) {
          const int w = s * j + b - p;
          dr[j] = (h >= 0 && h < H && w >= 0 && w < W) ? src[(long)h * W + w] : 0.0f;
        }
      }
    }
}

static void phase_store(const conv_ws *ws, const float *restrict d, float *restrict dst, float beta) {
  const geom *G = &ws->G;
  const int s = G->s, p = G->p, H = G->H, W = G->W, Hs = ws->Hs, Ws = ws->Ws;
#ifdef __AVX512F__
  if (PH_FAST(ws)) {
    const __m512i il = _mm512_loadu_si512(ph_lo), ih = _mm512_loadu_si512(ph_hi);
    const __mmask16 m0 = lanes(p, p + W), m1 = lanes(p - 16, p + W - 16), mw = lanes(0, Ws);
    const long ps = (long)Hs * Ws;
    for (int h = 0; h < H; h++) {
      const int r = h + p, a = r & 1, i = r >> 1;
      const float *de = d + (2L * a) * ps + (long)i * Ws;
      __m512 e = ph_row_load(de, mw, Ws), o = ph_row_load(de + ps, mw, Ws);
      __m512 v0 = _mm512_permutex2var_ps(e, il, o), v1 = _mm512_permutex2var_ps(e, ih, o);
      float *x = dst + (long)h * W - p;
      if (beta != 0.0f) {
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, x));
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, x + 16));
      }
      _mm512_mask_storeu_ps(x, m0, v0);
      _mm512_mask_storeu_ps(x + 16, m1, v1);
    }
    return;
  }
#endif
  for (int h = 0; h < H; h++) {
    const int r = h + p;
    float *restrict xr = dst + (long)h * W;
    for (int w = 0; w < W; w++) {
      const int q = w + p;
      const float v = d[(((long)(r % s) * s + q % s) * Hs + r / s) * Ws + q / s];
      xr[w] = beta != 0.0f ? xr[w] + v : v;
    }
  }
}

/* d[0..n) = s[0..n) and d[0..n) += s[0..n) for short runs (image rows of 2..28 floats). Runs of
 * up to 8 use 256-bit masked accesses: a 512-bit masked access spans 64 bytes whatever its mask,
 * and the next row's load then waits for the previous row's store (rows sit 32 bytes apart). */
static inline void copy_run(float *restrict d, const float *restrict s, int n) {
#ifdef __AVX512F__
  if (n <= 8) {
    const __mmask8 m = (__mmask8)((1u << n) - 1u);
    _mm256_mask_storeu_ps(d, m, _mm256_maskz_loadu_ps(m, s));
    return;
  }
  for (; n >= 16; n -= 16, d += 16, s += 16) _mm512_storeu_ps(d, _mm512_loadu_ps(s));
  if (n) {
    const __mmask16 m = (__mmask16)((1u << n) - 1u);
    _mm512_mask_storeu_ps(d, m, _mm512_maskz_loadu_ps(m, s));
  }
#else
  copy_f(d, s, n);
#endif
}
static inline void add_run(float *restrict d, const float *restrict s, int n) {
#ifdef __AVX512F__
  if (n <= 8) {
    const __mmask8 m = (__mmask8)((1u << n) - 1u);
    _mm256_mask_storeu_ps(d, m, _mm256_add_ps(_mm256_maskz_loadu_ps(m, d), _mm256_maskz_loadu_ps(m, s)));
    return;
  }
  for (; n >= 16; n -= 16, d += 16, s += 16) _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), _mm512_loadu_ps(s)));
  if (n) {
    const __mmask16 m = (__mmask16)((1u << n) - 1u);
    _mm512_mask_storeu_ps(d, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), _mm512_maskz_loadu_ps(m, s)));
  }
#else
  for (int i = 0; i < n; i++) d[i] += s[i];
#endif
}

/* col (K, nn*P) = im2col of nn samples x (nn,C,H,W) */
static void im2col(const conv_ws *ws, int nn, const float *restrict x, float *restrict col) {
  const geom *G = &ws->G;
  const int H = G->H, W = G->W, C = G->C, s = G->s, Ho = G->Ho, Wo = G->Wo, Hs = ws->Hs, Ws = ws->Ws;
  const long plane = ws->plane, NP = nn * ws->P;
  for (int c = 0; c < C; c++)
    for (int n = 0; n < nn; n++)
      phase_load(ws, x + ((long)n * C + c) * H * W, ws->buf + ((long)c * nn + n) * plane);
  for (int c = 0; c < C; c++)
    for (int kh = 0; kh < G->KH; kh++)
      for (int kw = 0; kw < G->KW; kw++) {
        const float *restrict b =
            ws->buf + (long)c * nn * plane + (((long)(kh % s) * s + kw % s) * Hs + kh / s) * Ws + kw / s;
        float *restrict d = col + ((long)(c * G->KH + kh) * G->KW + kw) * NP;
        for (int n = 0; n < nn; n++, b += plane) {
#ifdef __AVX512F__
          if (Ws == 8 && Wo == 7) { /* two 7-float runs per vector: drop each 8th float */
            int oh = 0;
            for (; oh + 2 <= Ho; oh += 2, d += 14)
              _mm512_mask_storeu_ps(d, 0x3FFF, _mm512_maskz_compress_ps(0x7F7F, _mm512_loadu_ps(b + oh * 8)));
            if (oh < Ho) {
              copy_run(d, b + oh * 8, 7);
              d += 7;
            }
            continue;
          }
#endif
          for (int oh = 0; oh < Ho; oh++, d += Wo) copy_run(d, b + (long)oh * Ws, Wo);
        }
      }
}

/* x (nn,C,H,W) = [beta ? x : 0] + col2im(col (K, nn*P)) */
static void col2im(const conv_ws *ws, int nn, const float *restrict col, float *restrict x, float beta) {
  const geom *G = &ws->G;
  const int H = G->H, W = G->W, C = G->C, s = G->s, Ho = G->Ho, Wo = G->Wo, Hs = ws->Hs, Ws = ws->Ws;
  const long plane = ws->plane, NP = nn * ws->P;
  memset(ws->buf, 0, sizeof(float) * (size_t)(C * nn * plane));
  for (int c = 0; c < C; c++)
    for (int kh = 0; kh < G->KH; kh++)
      for (int kw = 0; kw < G->KW; kw++) {
        float *restrict b =
            ws->buf + (long)c * nn * plane + (((long)(kh % s) * s + kw % s) * Hs + kh / s) * Ws + kw / s;
        const float *restrict d = col + ((long)(c * G->KH + kh) * G->KW + kw) * NP;
        for (int n = 0; n < nn; n++, b += plane) {
#ifdef __AVX512F__
          if (Ws == 8 && Wo == 7) { /* two runs per vector, spread over two 8-float rows (the 8th gets + 0) */
            int oh = 0;
            for (; oh + 2 <= Ho; oh += 2, d += 14) {
              float *r = b + oh * 8;
              _mm512_storeu_ps(r, _mm512_add_ps(_mm512_loadu_ps(r), _mm512_maskz_expandloadu_ps(0x7F7F, d)));
            }
            if (oh < Ho) {
              add_run(b + oh * 8, d, 7);
              d += 7;
            }
            continue;
          }
#endif
          for (int oh = 0; oh < Ho; oh++, d += Wo) add_run(b + (long)oh * Ws, d, Wo);
        }
      }
  for (int c = 0; c < C; c++)
    for (int n = 0; n < nn; n++)
      phase_store(ws, ws->buf + ((long)c * nn + n) * plane, x + ((long)n * C + c) * H * W, beta);
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
      copy_f(dst + (long)c * N * P + n * P, src + ((long)n * C + c) * P, P);
}

/* dst (N,C,P) = [beta ? dst : 0] + src (C, N*P) [+ bias[c]]; relu (only with beta = 0): max(0, .) */
static void cm_to_nchw(const float *restrict src, float *restrict dst, int N, int C, long P, const float *bias,
                       float beta, int relu) {
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      const float *s = src + (long)c * N * P + n * P;
      float *d = dst + ((long)n * C + c) * P;
      float bv = bias ? bias[c] : 0.0f;
      if (beta != 0.0f)
        for (long i = 0; i < P; i++) d[i] += s[i] + bv;
      else if (relu)
        for (long i = 0; i < P; i++) {
          const float v = s[i] + bv;
          d[i] = v > 0.0f ? v : 0.0f;
        }
      else
        for (long i = 0; i < P; i++) d[i] = s[i] + bv;
    }
}

/* The first touch of an output gradient chunk dy (nn,C,P) in a backward, while it is in cache: the
 * fused ReLU's mask (y: the output values, or NULL) in place, and the bias gradient's per-channel
 * sums (bs, or NULL) accumulated over the chunk's samples in order (as bias_grad sums). */
static void grad_chunk(float *restrict dy, const float *restrict y, int nn, int C, long P, double *restrict bs) {
  for (int n = 0; n < nn; n++)
    for (int c = 0; c < C; c++) {
      float *restrict r = dy + ((long)n * C + c) * P;
      if (y) {
        const float *restrict v = y + ((long)n * C + c) * P;
        for (long i = 0; i < P; i++) r[i] = v[i] > 0.0f ? r[i] : 0.0f;
      }
      if (bs) bs[c] += sum_f(r, P);
    }
}

static void bias_put(gs_tensor *b, const double *bs, int C) {
  float beta;
  float *db = gs_grad_target(b, &beta);
  for (int c = 0; c < C; c++) db[c] = put(beta, db[c], (float)bs[c]);
}

/* ================================================================ conv2d */
/* Scratch made by the forward and reused by the backward (both per chunk of nb samples). */
typedef struct conv_ctx {
  conv_ws ws;   /* geometry x -> columns, chunk capacity nb = ws.G.N */
  int N, Cout;
  int relu;     /* fused max(0, .) on the output */
  double *bsum; /* (Cout) bias gradient sums */
  float *col;   /* (K, nb*P) */
  float *yc;    /* (Cout, nb*P) */
} conv_ctx;

static void conv2d_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
  conv_ctx *c = nd->ctx;
  const geom *G = &c->ws.G;
  const int N = c->N, Cout = c->Cout, nb = G->N;
  const long P = c->ws.P, K = (long)G->C * G->KH * G->KW, xs = (long)G->C * G->H * G->W;
  double *bs = b && b->g ? c->bsum : NULL;
  if (bs)
    for (int co = 0; co < Cout; co++) bs[co] = 0.0;
  float bw = 0, bx = 0;
  float *dw = w->g ? gs_grad_target(w, &bw) : NULL, *dx = x->g ? gs_grad_target(x, &bx) : NULL;
  for (int n0 = 0; n0 < N && (dw || dx || bs); n0 += nb) {
    const int nn = N - n0 < nb ? N - n0 : nb;
    const int NP = (int)(nn * P);
    grad_chunk(y->g + n0 * Cout * P, c->relu ? y->x + n0 * Cout * P : NULL, nn, Cout, P, bs);
    if (!(dw || dx)) continue;
    nchw_to_cm(y->g + n0 * Cout * P, c->yc, nn, Cout, P); /* dY' (Cout, NP) */
    if (dw) { /* dW (Cout,K) (+)= dY' (Cout,NP) col^T (NP,K) */
      im2col(&c->ws, nn, x->x + n0 * xs, c->col);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Cout, (int)K, NP, 1.0f, c->yc, NP, c->col, NP,
                  n0 ? 1.0f : bw, dw, (int)K);
    }
    if (dx) { /* dcol (K,NP) = W^T (K,Cout) dY' (Cout,NP); dx = col2im(dcol) */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, NP, Cout, 1.0f, w->x, (int)K, c->yc, NP, 0.0f,
                  c->col, NP);
      col2im(&c->ws, nn, c->col, dx + n0 * xs, bx);
    }
  }
  if (bs) bias_put(b, bs, Cout);
}

static gs_tensor *conv2d(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad, int relu) {
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
  const long P = (long)Ho * Wo, K = (long)Cin * KH * KW, xs = (long)Cin * H * W;
  const int nb = chunk_samples(K, P, N);
  conv_ctx *c = gs_arena_alloc(&g->arena, sizeof(conv_ctx));
  geom G = {nb, Cin, H, W, KH, KW, stride, pad, Ho, Wo};
  ws_init(g, &c->ws, &G);
  c->N = N;
  c->Cout = Cout;
  c->relu = relu;
  c->bsum = gs_arena_alloc(&g->arena, sizeof(double) * (size_t)Cout);
  c->col = falloc(g, K * nb * P);
  c->yc = falloc(g, (long)Cout * nb * P);
  for (int n0 = 0; n0 < N; n0 += nb) {
    const int nn = N - n0 < nb ? N - n0 : nb;
    const int NP = (int)(nn * P);
    im2col(&c->ws, nn, x->x + n0 * xs, c->col);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cout, NP, (int)K, 1.0f, w->x, (int)K, c->col, NP, 0.0f,
                c->yc, NP);
    cm_to_nchw(c->yc, y->x + n0 * Cout * P, nn, Cout, P, b ? b->x : NULL, 0.0f, relu);
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, conv2d_backward, y);
    nd->in[0] = x;
    nd->in[1] = w;
    nd->in[2] = b;
    nd->ctx = c;
  }
  return y;
}

gs_tensor *gs_conv2d(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad) {
  return conv2d(g, x, w, b, stride, pad, 0);
}
gs_tensor *gs_conv2d_relu(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad) {
  return conv2d(g, x, w, b, stride, pad, 1);
}

/* ================================================================ transposed conv2d */
/* The geometry describes the conv that maps the OUTPUT y (N,Cout,Ho,Wo) to the input's shape
 * (H,W): the transposed conv's forward is that conv's input gradient. */
typedef struct deconv_ctx {
  conv_ws ws;   /* geometry y -> columns over x's positions, chunk capacity nb = ws.G.N */
  int N, Cin;
  int relu;     /* fused max(0, .) on the output */
  double *bsum; /* (Cout) bias gradient sums */
  float *xc;    /* (Cin, nb*Q) */
  float *col;   /* (Cout*KH*KW, nb*Q) */
} deconv_ctx;

static void deconv_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *w = nd->in[1], *b = nd->in[2], *y = nd->out;
  deconv_ctx *c = nd->ctx;
  const geom *G = &c->ws.G;
  const int N = c->N, Cout = G->C, Cin = c->Cin, nb = G->N;
  const long Q = c->ws.P, K = (long)Cout * G->KH * G->KW, ys = (long)Cout * G->H * G->W;
  double *bs = b && b->g ? c->bsum : NULL;
  if (bs)
    for (int co = 0; co < Cout; co++) bs[co] = 0.0;
  float bw = 0, bx = 0;
  float *dw = w->g ? gs_grad_target(w, &bw) : NULL, *dx = x->g ? gs_grad_target(x, &bx) : NULL;
  for (int n0 = 0; n0 < N && (dw || dx || bs); n0 += nb) {
    const int nn = N - n0 < nb ? N - n0 : nb;
    const int NQ = (int)(nn * Q);
    grad_chunk(y->g + n0 * ys, c->relu ? y->x + n0 * ys : NULL, nn, Cout, (long)G->H * G->W, bs);
    if (!(dw || dx)) continue;
    im2col(&c->ws, nn, y->g + n0 * ys, c->col); /* (K, NQ) */
    if (dw) { /* dW (Cin,K) (+)= X' (Cin,NQ) col^T (NQ,K) */
      nchw_to_cm(x->x + n0 * Cin * Q, c->xc, nn, Cin, Q);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Cin, (int)K, NQ, 1.0f, c->xc, NQ, c->col, NQ,
                  n0 ? 1.0f : bw, dw, (int)K);
    }
    if (dx) { /* dX' (Cin,NQ) = W (Cin,K) col (K,NQ) */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cin, NQ, (int)K, 1.0f, w->x, (int)K, c->col, NQ, 0.0f,
                  c->xc, NQ);
      cm_to_nchw(c->xc, dx + n0 * Cin * Q, nn, Cin, Q, NULL, bx, 0);
    }
  }
  if (bs) bias_put(b, bs, Cout);
}

static gs_tensor *conv_transpose2d(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad,
                                  int out_pad, int relu) {
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
  int ysh[4] = {N, Cout, Ho, Wo};
  gs_tensor *y = gs_new(g, 4, ysh, needs);
  const long Q = (long)H * W, K = (long)Cout * KH * KW, P = (long)Ho * Wo;
  const int nb = chunk_samples(K, Q, N);
  deconv_ctx *c = gs_arena_alloc(&g->arena, sizeof(deconv_ctx));
  geom G = {nb, Cout, Ho, Wo, KH, KW, stride, pad, H, W};
  ws_init(g, &c->ws, &G);
  c->N = N;
  c->Cin = Cin;
  c->relu = relu;
  c->bsum = gs_arena_alloc(&g->arena, sizeof(double) * (size_t)Cout);
  c->xc = falloc(g, (long)Cin * nb * Q);
  c->col = falloc(g, K * nb * Q);
  for (int n0 = 0; n0 < N; n0 += nb) {
    const int nn = N - n0 < nb ? N - n0 : nb;
    const int NQ = (int)(nn * Q);
    nchw_to_cm(x->x + n0 * Cin * Q, c->xc, nn, Cin, Q);
    /* col (K,NQ) = W^T (K,Cin) X' (Cin,NQ); y = col2im(col) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, NQ, Cin, 1.0f, w->x, (int)K, c->xc, NQ, 0.0f,
                c->col, NQ);
    col2im(&c->ws, nn, c->col, y->x + n0 * Cout * P, 0.0f);
    if (b || relu) /* while the chunk is in cache */
      for (int n = n0; n < n0 + nn; n++)
        for (int co = 0; co < Cout; co++) {
          float *r = y->x + ((long)n * Cout + co) * P;
          const float bv = b ? b->x[co] : 0.0f;
          if (relu)
            for (long i = 0; i < P; i++) {
              const float v = r[i] + bv;
              r[i] = v > 0.0f ? v : 0.0f;
            }
          else
            for (long i = 0; i < P; i++) r[i] += bv;
        }
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, deconv_backward, y);
    nd->in[0] = x;
    nd->in[1] = w;
    nd->in[2] = b;
    nd->ctx = c;
  }
  return y;
}

gs_tensor *gs_conv_transpose2d(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad,
                               int out_pad) {
  return conv_transpose2d(g, x, w, b, stride, pad, out_pad, 0);
}
gs_tensor *gs_conv_transpose2d_relu(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad,
                                    int out_pad) {
  return conv_transpose2d(g, x, w, b, stride, pad, out_pad, 1);
}

/* ================================================================ batch norm */
/* x is viewed as (N, C, P): P = H*W for (N,C,H,W), P = 1 for (B,N). Per-channel sums go through
 * float partial sums per (n,c) row (P > 1) or along rows of channels (P = 1), so both layouts
 * vectorise; rows are added in double.
 * In a data-parallel group (gs_batchnorm_group) N is this rank's rows; the per-channel double
 * sums are what the reducer adds over the group, and M (the element count per channel) is the
 * group's. The variance takes two passes, hence two reductions (sum x, then sum (x - mean)^2
 * about the global mean), rather than one of sum x and sum x^2: var = E[x^2] - mean^2 cancels,
 * its relative error is float rounding times (mean/std)^2 with the float partial sums (5e-5 at
 * a mean of 30 std), and double accumulation throughout would halve the vector width. The extra
 * reduction is cheap: an MPI_Allreduce of 5 .. 513 doubles between 2 ranks of one node took
 * 0.6 .. 7 us (Open MPI, shared memory), the op itself 100 .. 2000 us on DCGAN's shapes
 * (tests/bench/bench_batchnorm.c). */
typedef struct bn_ctx {
  int N, C;
  long P;
  int training;
  double M;         /* elements per channel over the group (N*P for a group of one) */
  float *mean;      /* (C) the statistics used to normalise */
  float *invstd;    /* (C) */
  double *sums;     /* (2C) scratch for the backward */
  float *coef;      /* (3C) scratch for the backward */
  gs_reducer red;   /* red.sum == NULL: a group of one */
} bn_ctx;

/* s1[c] = sum x and (if s2) s2[c] = sum x * (w - mu[c]) if w is given, else sum (x - mu[c])^2 */
static void bn_reduce(const float *restrict x, const float *restrict w, const float *restrict mu, int N, int C,
                      long P, double *restrict s1, double *restrict s2) {
  for (int c = 0; c < C; c++) {
    if (s1) s1[c] = 0.0;
    if (s2) s2[c] = 0.0;
  }
  if (P == 1) {
    for (int n = 0; n < N; n++) {
      const float *xr = x + (long)n * C, *wr = w ? w + (long)n * C : NULL;
      if (s1)
        for (int c = 0; c < C; c++) s1[c] += xr[c];
      if (s2) {
        if (wr)
          for (int c = 0; c < C; c++) s2[c] += (double)(xr[c] * (wr[c] - mu[c]));
        else
          for (int c = 0; c < C; c++) {
            float d = xr[c] - mu[c];
            s2[c] += (double)(d * d);
          }
      }
    }
    return;
  }
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      const float *xr = x + ((long)n * C + c) * P, *wr = w ? w + ((long)n * C + c) * P : NULL;
      if (s1) s1[c] += sum_f(xr, P);
      if (s2) {
        const float m = mu[c];
        float a[16] = {0};
        long i = 0;
        if (wr) {
          for (; i + 16 <= P; i += 16)
            for (int k = 0; k < 16; k++) a[k] += xr[i + k] * (wr[i + k] - m);
          for (; i < P; i++) a[0] += xr[i] * (wr[i] - m);
        } else {
          for (; i + 16 <= P; i += 16)
            for (int k = 0; k < 16; k++) a[k] += (xr[i + k] - m) * (xr[i + k] - m);
          for (; i < P; i++) a[0] += (xr[i] - m) * (xr[i] - m);
        }
        float t = 0.0f;
        for (int k = 0; k < 16; k++) t += a[k];
        s2[c] += t;
      }
    }
}

/* out = [beta ? out : 0] + A[c]*u + B[c]*v + D[c]   (v may be NULL: B ignored) */
static void bn_affine(float *restrict out, float beta, const float *restrict u, const float *restrict v,
                      const float *restrict A, const float *restrict B, const float *restrict D, int N, int C,
                      long P) {
  for (int n = 0; n < N; n++) {
    if (P == 1) {
      float *o = out + (long)n * C;
      const float *ur = u + (long)n * C, *vr = v ? v + (long)n * C : NULL;
      for (int c = 0; c < C; c++) {
        float t = A[c] * ur[c] + (vr ? B[c] * vr[c] : 0.0f) + D[c];
        o[c] = beta != 0.0f ? o[c] + t : t;
      }
      continue;
    }
    for (int c = 0; c < C; c++) {
      const long off = ((long)n * C + c) * P;
      float *o = out + off;
      const float *ur = u + off, a = A[c], d = D[c];
      if (v) {
        const float *vr = v + off, b = B[c];
        if (beta != 0.0f)
          for (long i = 0; i < P; i++) o[i] += a * ur[i] + b * vr[i] + d;
        else
          for (long i = 0; i < P; i++) o[i] = a * ur[i] + b * vr[i] + d;
      } else {
        if (beta != 0.0f)
          for (long i = 0; i < P; i++) o[i] += a * ur[i] + d;
        else
          for (long i = 0; i < P; i++) o[i] = a * ur[i] + d;
      }
    }
  }
}

static void bn_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *ga = nd->in[1], *be = nd->in[2], *y = nd->out;
  bn_ctx *c = nd->ctx;
  const int N = c->N, C = c->C;
  const long P = c->P;
  const double M = c->M;
  double *sdy = c->sums, *sdyx = sdy + C; /* sum dy, sum dy (x - mean): this rank's rows */
  float *A = c->coef, *B = A + C, *D = B + C;
  bn_reduce(y->g, x->x, c->mean, N, C, P, sdy, sdyx);
  float bg, bb, bx;
  if (ga && ga->g) { /* dgamma = sum dy * xhat */
    float *dga = gs_grad_target(ga, &bg);
    for (int ch = 0; ch < C; ch++) dga[ch] = put(bg, dga[ch], (float)(sdyx[ch] * c->invstd[ch]));
  }
  if (be && be->g) {
    float *dbe = gs_grad_target(be, &bb);
    for (int ch = 0; ch < C; ch++) dbe[ch] = put(bb, dbe[ch], (float)sdy[ch]);
  }
  if (x->g) {
    /* training: dx = g*is * (dy - mean(dy) - xhat * mean(dy*xhat)), xhat = (x - mu)*is, written as
     * A dy + B x + D, the means over the group's batch (every row's dy moves every row's mean and
     * variance); evaluation: dx = g*is * dy. The parameter gradients above stay this rank's sums. */
    if (c->training && c->red.sum) c->red.sum(c->red.ctx, sdy, 2 * C);
    for (int ch = 0; ch < C; ch++) {
      const double is = c->invstd[ch], k = (ga ? ga->x[ch] : 1.0f) * is;
      if (c->training) {
        const double a = sdy[ch] / M, bq = sdyx[ch] * is / M; /* mean(dy), mean(dy*xhat) */
        A[ch] = (float)k;
        B[ch] = (float)(-k * is * bq);
        D[ch] = (float)(-k * (a - c->mean[ch] * is * bq));
      } else {
        A[ch] = (float)k;
        B[ch] = 0.0f;
        D[ch] = 0.0f;
      }
    }
    float *dx = gs_grad_target(x, &bx);
    bn_affine(dx, bx, y->g, c->training ? x->x : NULL, A, B, D, N, C, P);
  }
}

gs_tensor *gs_batchnorm_group(gs_graph *g, gs_tensor *x, gs_tensor *gamma, gs_tensor *beta, float *running_mean,
                              float *running_var, float momentum, float eps, int training, const gs_reducer *red) {
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
  if (red && !red->sum) die("batchnorm", "a reducer without a sum function", x, NULL);
  double M = (double)N * P;
  int needs = gs_wants_grad(g, x) || (gamma && gs_wants_grad(g, gamma)) || (beta && gs_wants_grad(g, beta));
  gs_tensor *y = gs_new(g, x->ndim, x->shape, needs);
  float *mean = falloc(g, C), *invstd = falloc(g, C), *A = falloc(g, C), *D = falloc(g, C);
  /* s: sum x (C) and the element count, q: sum (x - mean)^2 (C); the backward reuses s for 2C sums */
  double *s = gs_arena_alloc(&g->arena, sizeof(double) * (2 * C + 1)), *q = s + C + 1;
  if (training) {
    bn_reduce(x->x, NULL, NULL, N, C, P, s, NULL);
    s[C] = M; /* summed with the sums: the group's count needs no argument that could disagree */
    gs_reduce_sum(red, s, C + 1);
    M = s[C];
    for (int ch = 0; ch < C; ch++) mean[ch] = (float)(s[ch] / M);
    bn_reduce(x->x, NULL, mean, N, C, P, NULL, q); /* two passes: no cancellation */
    gs_reduce_sum(red, q, C);
  }
  for (int ch = 0; ch < C; ch++) {
    float mu, var;
    if (training) {
      mu = mean[ch];
      var = (float)(q[ch] / M);
      if (running_mean) running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mu;
      if (running_var) {
        float unbiased = M > 1 ? (float)(q[ch] / (M - 1)) : var;
        running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * unbiased;
      }
    } else {
      mu = running_mean[ch];
      var = running_var[ch];
    }
    const float is = 1.0f / sqrtf(var + eps);
    mean[ch] = mu;
    invstd[ch] = is;
    A[ch] = (gamma ? gamma->x[ch] : 1.0f) * is; /* y = A x + D */
    D[ch] = (beta ? beta->x[ch] : 0.0f) - mu * A[ch];
  }
  bn_affine(y->x, 0.0f, x->x, NULL, A, NULL, D, N, C, P);
  if (needs) {
    gs_node *nd = gs_tape_push(g, bn_backward, y);
    nd->in[0] = x;
    nd->in[1] = gamma;
    nd->in[2] = beta;
    bn_ctx *c = gs_arena_alloc(&g->arena, sizeof(bn_ctx));
    *c = (bn_ctx){N, C, P, training, M, mean, invstd, s, falloc(g, 3L * C), red ? *red : (gs_reducer){0}};
    nd->ctx = c;
  }
  return y;
}

gs_tensor *gs_batchnorm(gs_graph *g, gs_tensor *x, gs_tensor *gamma, gs_tensor *beta, float *running_mean,
                        float *running_var, float momentum, float eps, int training) {
  return gs_batchnorm_group(g, x, gamma, beta, running_mean, running_var, momentum, eps, training, NULL);
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

/* (N,C,P) element (n, c, i) */
#define X3(a, n, C, c, P, i) (a)[((long)(n) * (C) + (c)) * (P) + (i)]

/* mean and biased variance of channel c, two passes in double */
static void channel_stats_naive(const float *x, int N, int C, long P, int c, double *mean, double *var) {
  const double M = (double)N * P;
  double mu = 0, v = 0;
  for (int n = 0; n < N; n++)
    for (long i = 0; i < P; i++) mu += X3(x, n, C, c, P, i);
  mu /= M;
  for (int n = 0; n < N; n++)
    for (long i = 0; i < P; i++) v += (X3(x, n, C, c, P, i) - mu) * (X3(x, n, C, c, P, i) - mu);
  *mean = mu;
  *var = v / M;
}

void gs_batchnorm_forward_naive(const float *x, const float *gamma, const float *beta, float *y, float *mean,
                                float *var, int N, int C, long P, float eps) {
  for (int c = 0; c < C; c++) {
    double mu, v;
    channel_stats_naive(x, N, C, P, c, &mu, &v);
    const double is = 1.0 / sqrt(v + eps), ga = gamma ? gamma[c] : 1.0, be = beta ? beta[c] : 0.0;
    for (int n = 0; n < N; n++)
      for (long i = 0; i < P; i++) X3(y, n, C, c, P, i) = (float)(ga * (X3(x, n, C, c, P, i) - mu) * is + be);
    if (mean) mean[c] = (float)mu;
    if (var) var[c] = (float)v;
  }
}

void gs_batchnorm_backward_naive(const float *x, const float *gamma, const float *dy, float *dx, float *dgamma,
                                 float *dbeta, int N, int C, long P, float eps) {
  const double M = (double)N * P;
  for (int c = 0; c < C; c++) {
    double mu, v;
    channel_stats_naive(x, N, C, P, c, &mu, &v);
    const double is = 1.0 / sqrt(v + eps), ga = gamma ? gamma[c] : 1.0;
    double sdy = 0, sdyxh = 0; /* sum dy, sum dy * xhat */
    for (int n = 0; n < N; n++)
      for (long i = 0; i < P; i++) {
        sdy += X3(dy, n, C, c, P, i);
        sdyxh += X3(dy, n, C, c, P, i) * (X3(x, n, C, c, P, i) - mu) * is;
      }
    if (dgamma) dgamma[c] = (float)sdyxh;
    if (dbeta) dbeta[c] = (float)sdy;
    if (dx)
      for (int n = 0; n < N; n++)
        for (long i = 0; i < P; i++) {
          const double xh = (X3(x, n, C, c, P, i) - mu) * is;
          X3(dx, n, C, c, P, i) = (float)(ga * is * (X3(dy, n, C, c, P, i) - sdy / M - xh * sdyxh / M));
        }
  }
}
