/* Point-cloud ops: max over points, Chamfer, Sinkhorn EMD and their references.
 * See include/gensweep/nn/pointcloud.h. */
#include "gensweep/nn/pointcloud.h"

#include "gensweep/nn/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmath.h"

static void die(const char *op, const gs_tensor *t, long rows, int cols) {
  fprintf(stderr, "gensweep: internal error: %s: a tensor of %ld elements (%d-d) where (%ld, %d) was expected\n", op,
          t->n, t->ndim, rows, cols);
  abort();
}

/* t must be (rows, cols): 2-d with that first dimension, or any shape of as many elements */
static void check_rows(const char *op, const gs_tensor *t, long rows, int cols) {
  if (rows <= 0 || cols <= 0 || t->n != rows * cols || (t->ndim == 2 && t->shape[0] != rows)) die(op, t, rows, cols);
}

/* A gradient buffer ready for scattered "+=": zeroed on the first write this step (it holds stale
 * arena memory then), kept when accumulating. */
static float *scatter_target(gs_tensor *t) {
  float beta;
  float *d = gs_grad_target(t, &beta);
  if (beta == 0.0f) memset(d, 0, sizeof(float) * t->n);
  return d;
}

/* Lane-wise reductions. gcc vectorises a float min/max/sum over a loop only under -ffast-math
 * (it would reorder the operations), which the build does not use; W independent lanes are plain
 * element-wise code that it does vectorise, and the order (so the bits) is fixed by W. */
enum { W = 16 };

/* GCC vector extensions (as in cluster/igmn.c) where a loop also carries an index: the compiler
 * lowers them to whatever vector width the target has. Comparisons give -1 / 0 lanes, so a
 * select is a bitwise blend (C has no vector ?:). Macros, not functions: a 64-byte vector passed
 * or returned by value has a target-dependent ABI (gcc warns without AVX-512). */
typedef float vf __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(v))
#define VBLEND(m, x, y) ((vf)(((vi)(x) & (m)) | ((vi)(y) & ~(m))))

/* min over d[0..n) and its first index (-1 when every value is NaN) */
static int argmin_first(const float *restrict d, int n, float *vmin) {
  vf lm = (vf){0} + INFINITY;
  vi la = (vi){0} - 1, idx;
  for (int k = 0; k < W; k++) idx[k] = k;
  int j = 0;
  for (; j + W <= n; j += W) {
    vf v;
    VLOAD(v, d + j);
    vi lt = v < lm;
    lm = VBLEND(lt, v, lm);
    la = ((idx + j) & lt) | (la & ~lt);
  }
  float m = INFINITY;
  int a = -1;
  for (int k = 0; k < W; k++)
    if (la[k] >= 0 && (lm[k] < m || (lm[k] == m && la[k] < a))) m = lm[k], a = la[k];
  for (; j < n; j++) /* the tail's indices are above every lane's: strict < keeps the first */
    if (d[j] < m) m = d[j], a = j;
  *vmin = m;
  return a;
}

/* One row i of the distance matrix (d, n columns): its nearest column (returned, first on ties;
 * -1 when all are NaN; the distance in *vmin), and the running column minima cm / ca (their first
 * row on ties: rows come in increasing order) updated with it, in one pass over d. */
static int scan_row(const float *restrict d, int n, float *restrict cm, int32_t *restrict ca, int32_t i,
                    float *vmin) {
  vf lm = (vf){0} + INFINITY;
  vi la = (vi){0} - 1, idx, row = (vi){0} + i;
  for (int k = 0; k < W; k++) idx[k] = k;
  int j = 0;
  for (; j + W <= n; j += W) {
    vf v, c;
    vi a;
    VLOAD(v, d + j);
    VLOAD(c, cm + j);
    VLOAD(a, ca + j);
    vi lt = v < lm, lc = v < c;
    lm = VBLEND(lt, v, lm);
    la = ((idx + j) & lt) | (la & ~lt);
    c = VBLEND(lc, v, c);
    a = (row & lc) | (a & ~lc);
    VSTORE(cm + j, c);
    VSTORE(ca + j, a);
  }
  float m = INFINITY;
  int best = -1;
  for (int k = 0; k < W; k++)
    if (la[k] >= 0 && (lm[k] < m || (lm[k] == m && la[k] < best))) m = lm[k], best = la[k];
  for (; j < n; j++) { /* the tail's indices are above every lane's: strict < keeps the first */
    if (d[j] < m) m = d[j], best = j;
    if (d[j] < cm[j]) cm[j] = d[j], ca[j] = i;
  }
  *vmin = m;
  return best;
}

static float max_lanes(const float *restrict d, int n) {
  float lm[W];
  for (int k = 0; k < W; k++) lm[k] = -INFINITY;
  int j = 0;
  for (; j + W <= n; j += W)
    for (int k = 0; k < W; k++) lm[k] = d[j + k] > lm[k] ? d[j + k] : lm[k];
  float m = -INFINITY;
  for (int k = 0; k < W; k++) m = lm[k] > m ? lm[k] : m;
  for (; j < n; j++) m = d[j] > m ? d[j] : m;
  return m;
}

static inline float sqdist3(const float *p, const float *q) {
  float dx = p[0] - q[0], dy = p[1] - q[1], dz = p[2] - q[2];
  return dx * dx + dy * dy + dz * dz;
}

/* ================================================================ max over points */
/* The max over rows [first, end) of x (F columns), per column, into m (F), and in a (F) the row
 * holding it: the first on ties (strict >), so it is deterministic. Rows outer, columns inner:
 * contiguous and vectorised. */
static void max_rows(const float *x, int32_t first, int32_t end, int F, float *restrict m, int32_t *restrict a) {
  memcpy(m, x + (long)first * F, sizeof(float) * F);
  for (int f = 0; f < F; f++) a[f] = first;
  for (int32_t n = first + 1; n < end; n++) {
    const float *restrict r = x + (long)n * F;
    for (int f = 0; f < F; f++) {
      int gt = r[f] > m[f];
      m[f] = gt ? r[f] : m[f];
      a[f] = gt ? n : a[f];
    }
  }
}

/* ctx: the row of x holding each (cloud, feature)'s max, (B, F) */
static void max_segments_backward(gs_node *nd) {
  gs_tensor *x = nd->in[0], *y = nd->out;
  long BF = (long)nd->i[0] * nd->i[1];
  int F = (int)nd->i[1];
  const int32_t *arg = nd->ctx;
  float *dx = scatter_target(x);
  for (long k = 0; k < BF; k++) dx[(long)arg[k] * F + k % F] += y->g[k];
}

gs_tensor *gs_max_segments(gs_graph *g, gs_tensor *x, int B, const int32_t *start) {
  if (B <= 0 || start[0] != 0 || start[B] <= 0 || x->n % start[B]) die("max_segments", x, B > 0 ? start[B] : 0, 1);
  int F = (int)(x->n / start[B]);
  check_rows("max_segments", x, start[B], F);
  int needs = gs_wants_grad(g, x);
  gs_tensor *y = gs_new2(g, B, F, needs);
  int32_t *arg = gs_arena_alloc(&g->arena, sizeof(int32_t) * (size_t)B * F);
  for (int b = 0; b < B; b++) {
    if (start[b + 1] <= start[b]) die("max_segments (an empty segment)", x, start[B], F);
    max_rows(x->x, start[b], start[b + 1], F, y->x + (long)b * F, arg + (long)b * F);
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, max_segments_backward, y);
    nd->in[0] = x;
    nd->i[0] = B;
    nd->i[1] = F;
    nd->ctx = arg;
  }
  return y;
}

/* the segments of B clouds of N rows each */
gs_tensor *gs_max_points(gs_graph *g, gs_tensor *x, int B, int N) {
  if (B <= 0 || N <= 0 || x->n % ((long)B * N) || (long)B * N > INT32_MAX) die("max_points", x, (long)B * N, 1);
  int32_t *start = gs_arena_alloc(&g->arena, sizeof(int32_t) * (size_t)(B + 1));
  for (int b = 0; b <= B; b++) start[b] = (int32_t)((long)b * N);
  return gs_max_segments(g, x, B, start);
}

/* ================================================================ critical points */
/* Rows per chunk of the tape-free forward: whole clouds, at least one; 2048 rows of the widest
 * layer (256) are 2 MB a buffer. */
enum { CRIT_ROWS = 2048 };

/* mark[p] = 1 for each point p of each of nb clouds that holds the first max of some feature */
static void mark_argmax(const float *h, int nb, int N, int F, float *m, int32_t *a, uint8_t *mark) {
  for (int c = 0; c < nb; c++) {
    max_rows(h, c * N, (c + 1) * N, F, m, a);
    for (int f = 0; f < F; f++) mark[a[f]] = 1;
  }
}

long gs_critical_points(gs_graph *g, const gs_point_net *net, const float *x, int B, int N, int32_t **rows_out,
                        int32_t **start_out) {
  if (B <= 0 || N <= 0 || (long)B * N > INT32_MAX) {
    fprintf(stderr, "gensweep: internal error: critical_points: %d clouds of %d points\n", B, N);
    abort();
  }
  int wide = 3, hwide = net->pool_last ? 0 : 1, K = 3;
  for (int k = 0; k < net->layers; k++) { /* the layers must chain: (3, E1), (E1, E2), ... */
    if (net->w[k]->ndim != 2 || net->w[k]->shape[0] != K || net->b[k]->n != net->w[k]->shape[1])
      die("critical_points (a layer's weights)", net->w[k], K, net->b[k]->n);
    K = net->w[k]->shape[1];
    wide = K > wide ? K : wide;
  }
  for (int h = 0; h < net->heads; h++)
    if (net->hw[h]->ndim != 2 || net->hw[h]->shape[0] != K || net->hb[h]->n != net->hw[h]->shape[1])
      die("critical_points (a head's weights)", net->hw[h], K, net->hb[h]->n);
  int last = K;
  if (net->pool_last) hwide = last;
  for (int h = 0; h < net->heads; h++) hwide = net->hw[h]->shape[1] > hwide ? net->hw[h]->shape[1] : hwide;
  int per = N >= CRIT_ROWS ? 1 : CRIT_ROWS / N;
  if (per > B) per = B;
  long cr = (long)per * N;
  float *buf[2] = {gs_arena_alloc(&g->arena, sizeof(float) * cr * wide), gs_arena_alloc(&g->arena, sizeof(float) * cr * wide)};
  float *hbuf = gs_arena_alloc(&g->arena, sizeof(float) * cr * hwide);
  float *m = gs_arena_alloc(&g->arena, sizeof(float) * hwide);
  int32_t *a = gs_arena_alloc(&g->arena, sizeof(int32_t) * hwide);
  uint8_t *mark = gs_arena_alloc(&g->arena, cr);
  int32_t *rows = gs_arena_alloc(&g->arena, sizeof(int32_t) * (size_t)B * N);
  int32_t *start = gs_arena_alloc(&g->arena, sizeof(int32_t) * (size_t)(B + 1));
  long total = 0;
  start[0] = 0;
  for (int b0 = 0; b0 < B; b0 += per) {
    int nb = B - b0 < per ? B - b0 : per;
    long R = (long)nb * N;
    const float *in = x + (long)b0 * N * 3;
    K = 3;
    for (int k = 0; k < net->layers; k++) {
      gs_dense_forward(in, (int)R, K, net->w[k]->x, net->w[k]->shape[1], net->b[k]->x, 1, buf[k & 1]);
      in = buf[k & 1], K = net->w[k]->shape[1];
    }
    memset(mark, 0, (size_t)R);
    if (net->pool_last) mark_argmax(in, nb, N, K, m, a, mark);
    for (int h = 0; h < net->heads; h++) {
      gs_dense_forward(in, (int)R, K, net->hw[h]->x, net->hw[h]->shape[1], net->hb[h]->x, 0, hbuf);
      mark_argmax(hbuf, nb, N, net->hw[h]->shape[1], m, a, mark);
    }
    for (int c = 0; c < nb; c++) {
      for (int n = 0; n < N; n++)
        if (mark[(long)c * N + n]) rows[total++] = (int32_t)((long)(b0 + c) * N + n);
      start[b0 + c + 1] = (int32_t)total;
    }
  }
  *rows_out = rows;
  *start_out = start;
  return total;
}

/* ================================================================ Chamfer */
/* Tile of the distance matrix one sgemm fills: 64 x 1024 floats = 256 KB, within a core's L2 (the
 * scan reads it back from cache), and the op's memory bound at any N, M. 32 to 256 rows and 512 to
 * 2048 columns timed within 10 % of each other (bench_chamfer, B = 16). */
enum { CH_TI = 64, CH_TJ = 1024 };

/* Nearest neighbours both ways for one cloud pair: nn_a[i] = argmin_j |a_i - b_j|^2 and
 * nn_b[j] = argmin_i, first index on ties. The squared distances come from one sgemm per tile
 * with K = 5: [-2a, |a|^2, 1] . [b, 1, |b|^2] = |a|^2 + |b|^2 - 2 a.b. That form cancels when the
 * points are far from the origin compared to their distances (float keeps ~7 digits of |a|^2), so
 * both clouds are first centred on their joint centroid; what error is left can only make a
 * neighbour that is nearly as near win a near-tie, and the caller recomputes the chosen
 * neighbour's distance from the coordinates. A5 (N,5), B5 (M,5), tile (CH_TI*CH_TJ) and colmin (M)
 * are scratch. */
static void chamfer_nn(const float *a, const float *b, int N, int M, float *A5, float *B5, float *tile,
                       float *colmin, int32_t *nn_a, int32_t *nn_b) {
  double c[3] = {0, 0, 0};
  for (int i = 0; i < N; i++)
    for (int k = 0; k < 3; k++) c[k] += a[3L * i + k];
  for (int j = 0; j < M; j++)
    for (int k = 0; k < 3; k++) c[k] += b[3L * j + k];
  float cf[3];
  for (int k = 0; k < 3; k++) cf[k] = (float)(c[k] / (N + M));
  for (int i = 0; i < N; i++) {
    float x = a[3L * i] - cf[0], y = a[3L * i + 1] - cf[1], z = a[3L * i + 2] - cf[2];
    float *r = A5 + 5L * i;
    r[0] = -2.0f * x, r[1] = -2.0f * y, r[2] = -2.0f * z, r[3] = x * x + y * y + z * z, r[4] = 1.0f;
  }
  for (int j = 0; j < M; j++) {
    float x = b[3L * j] - cf[0], y = b[3L * j + 1] - cf[1], z = b[3L * j + 2] - cf[2];
    float *r = B5 + 5L * j;
    r[0] = x, r[1] = y, r[2] = z, r[3] = 1.0f, r[4] = x * x + y * y + z * z;
  }
  for (int j = 0; j < M; j++) colmin[j] = INFINITY, nn_b[j] = 0;
  /* i0 outer and j0 inner: rows see their columns in increasing j and columns their rows in
   * increasing i, so strict < across tiles keeps the first index both ways */
  for (int i0 = 0; i0 < N; i0 += CH_TI) {
    int ti = N - i0 < CH_TI ? N - i0 : CH_TI;
    float rowmin[CH_TI];
    for (int r = 0; r < ti; r++) rowmin[r] = INFINITY, nn_a[i0 + r] = 0;
    for (int j0 = 0; j0 < M; j0 += CH_TJ) {
      int tj = M - j0 < CH_TJ ? M - j0 : CH_TJ;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ti, tj, 5, 1.0f, A5 + 5L * i0, 5, B5 + 5L * j0, 5, 0.0f,
                  tile, tj);
      for (int r = 0; r < ti; r++) {
        float v;
        int jm = scan_row(tile + (long)r * tj, tj, colmin + j0, nn_b + j0, i0 + r, &v);
        if (jm >= 0 && v < rowmin[r]) rowmin[r] = v, nn_a[i0 + r] = j0 + jm;
      }
    }
  }
}

/* ctx: nn_a (B*N) then nn_b (B*M) */
static void chamfer_backward(gs_node *nd) {
  gs_tensor *ta = nd->in[0], *tb = nd->in[1], *y = nd->out;
  int B = (int)nd->i[0], N = (int)nd->i[1], M = (int)nd->i[2];
  const int32_t *nn_a = nd->ctx, *nn_b = nn_a + (long)B * N;
  /* a == b (a cloud against itself) works: the second target call accumulates into the first */
  float *da = ta->g ? scatter_target(ta) : NULL, *db = tb->g ? scatter_target(tb) : NULL;
  for (int c = 0; c < B; c++) {
    const float *a = ta->x + 3L * N * c, *b = tb->x + 3L * M * c;
    float *dac = da ? da + 3L * N * c : NULL, *dbc = db ? db + 3L * M * c : NULL;
    float sa = 2.0f * y->g[c] / N, sb = 2.0f * y->g[c] / M; /* d|p - q|^2/dp = 2 (p - q) */
    for (int i = 0; i < N; i++) {
      int j = nn_a[(long)c * N + i];
      for (int k = 0; k < 3; k++) {
        float v = sa * (a[3L * i + k] - b[3L * j + k]);
        if (dac) dac[3L * i + k] += v;
        if (dbc) dbc[3L * j + k] -= v;
      }
    }
    for (int j = 0; j < M; j++) {
      int i = nn_b[(long)c * M + j];
      for (int k = 0; k < 3; k++) {
        float v = sb * (b[3L * j + k] - a[3L * i + k]);
        if (dbc) dbc[3L * j + k] += v;
        if (dac) dac[3L * i + k] -= v;
      }
    }
  }
}

gs_tensor *gs_chamfer(gs_graph *g, gs_tensor *ta, gs_tensor *tb, int B, int N, int M) {
  check_rows("chamfer", ta, (long)B * N, 3);
  check_rows("chamfer", tb, (long)B * M, 3);
  int needs = gs_wants_grad(g, ta) || gs_wants_grad(g, tb);
  gs_tensor *y = gs_new(g, 1, &B, needs);
  int32_t *nn_a = gs_arena_alloc(&g->arena, sizeof(int32_t) * (size_t)B * (N + M)), *nn_b = nn_a + (long)B * N;
  /* scratch only the forward needs: heap, so the arena's kept peak does not grow by it */
  long ti = N < CH_TI ? N : CH_TI, tj = M < CH_TJ ? M : CH_TJ;
  float *A5 = gs_malloc(sizeof(float) * (5L * N + 5L * M + ti * tj + M)), *B5 = A5 + 5L * N, *tile = B5 + 5L * M,
        *colmin = tile + ti * tj;
  for (int c = 0; c < B; c++) {
    const float *a = ta->x + 3L * N * c, *b = tb->x + 3L * M * c;
    int32_t *na = nn_a + (long)c * N, *nb = nn_b + (long)c * M;
    chamfer_nn(a, b, N, M, A5, B5, tile, colmin, na, nb);
    double sa = 0.0, sb = 0.0;
    for (int i = 0; i < N; i++) sa += sqdist3(a + 3L * i, b + 3L * na[i]);
    for (int j = 0; j < M; j++) sb += sqdist3(b + 3L * j, a + 3L * nb[j]);
    y->x[c] = (float)(sa / N + sb / M);
  }
  free(A5);
  if (needs) {
    gs_node *nd = gs_tape_push(g, chamfer_backward, y);
    nd->in[0] = ta;
    nd->in[1] = tb;
    nd->i[0] = B;
    nd->i[1] = N;
    nd->i[2] = M;
    nd->ctx = nn_a;
  }
  return y;
}

void gs_chamfer_naive(const float *a, const float *b, int B, int N, int M, double *out, float *da, float *db) {
  double *cmin = gs_malloc(sizeof(double) * M);
  int *carg = gs_malloc(sizeof(int) * M), *rarg = gs_malloc(sizeof(int) * N);
  if (da) memset(da, 0, sizeof(float) * 3L * B * N);
  if (db) memset(db, 0, sizeof(float) * 3L * B * M);
  for (int c = 0; c < B; c++) {
    const float *ac = a + 3L * N * c, *bc = b + 3L * M * c;
    for (int j = 0; j < M; j++) cmin[j] = INFINITY, carg[j] = 0;
    double sa = 0.0, sb = 0.0;
    for (int i = 0; i < N; i++) {
      double rmin = INFINITY;
      rarg[i] = 0;
      for (int j = 0; j < M; j++) {
        double d = 0.0;
        for (int k = 0; k < 3; k++) {
          double t = (double)ac[3L * i + k] - bc[3L * j + k];
          d += t * t;
        }
        if (d < rmin) rmin = d, rarg[i] = j;
        if (d < cmin[j]) cmin[j] = d, carg[j] = i;
      }
      sa += rmin;
    }
    for (int j = 0; j < M; j++) sb += cmin[j];
    out[c] = sa / N + sb / M;
    for (int i = 0; i < N; i++)
      for (int k = 0; k < 3; k++) {
        double v = 2.0 / N * ((double)ac[3L * i + k] - bc[3L * rarg[i] + k]);
        if (da) da[3L * N * c + 3L * i + k] += (float)v;
        if (db) db[3L * M * c + 3L * rarg[i] + k] -= (float)v;
      }
    for (int j = 0; j < M; j++)
      for (int k = 0; k < 3; k++) {
        double v = 2.0 / M * ((double)bc[3L * j + k] - ac[3L * carg[j] + k]);
        if (db) db[3L * M * c + 3L * j + k] += (float)v;
        if (da) da[3L * N * c + 3L * carg[j] + k] -= (float)v;
      }
  }
  free(cmin);
  free(carg);
  free(rarg);
}

/* ================================================================ Sinkhorn EMD */
static double max_lanes_d(const double *restrict d, int n) {
  double lm[W];
  for (int k = 0; k < W; k++) lm[k] = -INFINITY;
  int j = 0;
  for (; j + W <= n; j += W)
    for (int k = 0; k < W; k++) lm[k] = d[j + k] > lm[k] ? d[j + k] : lm[k];
  double m = -INFINITY;
  for (int k = 0; k < W; k++) m = lm[k] > m ? lm[k] : m;
  for (; j < n; j++) m = d[j] > m ? d[j] : m;
  return m;
}

/* The potentials are double: they drift to magnitudes of the largest distances (the annealing
 * starts there, and only their sums f_i + g_j are pinned down), while the exponents divide
 * f_i + g_j - D_ij by e, which falls to ~1e-5 for close clouds: float potentials put errors of
 * 1e-7 / 1e-5 into every exponent (measured: a close pair's cost 0.13 % under the bound its
 * exact column sums guarantee). After the maximum is taken out, the exponent is <= 0 and float is
 * enough for the exponential and the sums. */

/* One log-domain half-step over the rows of D (N x N): for each row i,
 *   out_i = -e * log sum_j exp((pot_j - D_ij) / e) - e * log N
 * (the potential that gives row i the mass 1/N against the other side's potential pot).
 * t (N) scratch. */
static void lse_rows(const float *D, int N, const double *pot, double e, double *out, double *t) {
  double inv = 1.0 / e, logn = log((double)N);
  for (int i = 0; i < N; i++) {
    const float *restrict d = D + (long)i * N;
    for (int j = 0; j < N; j++) t[j] = (pot[j] - d[j]) * inv;
    double m = max_lanes_d(t, N);
    float ls[W] = {0};
    int j = 0;
    for (; j + W <= N; j += W)
      for (int k = 0; k < W; k++) ls[k] += gs_expf_neg((float)(t[j + k] - m));
    double s = 0.0;
    for (int k = 0; k < W; k++) s += ls[k];
    for (; j < N; j++) s += gs_expf_neg((float)(t[j] - m));
    out[i] = -e * (m + log(s) + logn);
  }
}

/* The same over the columns of D (out_j from pot_i), streaming D row by row so every access is
 * contiguous: a pass for the column maxima, a pass for the sums. cm, cs (N) scratch. */
static void lse_cols(const float *D, int N, const double *pot, double e, double *out, double *cm, float *cs) {
  double inv = 1.0 / e, logn = log((double)N);
  for (int j = 0; j < N; j++) cm[j] = -INFINITY, cs[j] = 0.0f;
  for (int i = 0; i < N; i++) {
    const float *restrict d = D + (long)i * N;
    double p = pot[i];
    for (int j = 0; j < N; j++) {
      double v = (p - d[j]) * inv;
      cm[j] = v > cm[j] ? v : cm[j];
    }
  }
  for (int i = 0; i < N; i++) {
    const float *restrict d = D + (long)i * N;
    double p = pot[i];
    for (int j = 0; j < N; j++) cs[j] += gs_expf_neg((float)((p - d[j]) * inv - cm[j]));
  }
  for (int j = 0; j < N; j++) out[j] = -e * (cm[j] + log((double)cs[j]) + logn);
}

double gs_emd_sinkhorn_cloud(const float *a, const float *b, int N, float eps_rel, int iters, float *plan, float *da,
                             float *db) {
  /* D (N,N) and float scratch (7N); the potentials f, g and double scratch (N) */
  float *D = gs_malloc(sizeof(float) * ((size_t)N * N + 7L * N)), *fs = D + (long)N * N;
  double *f = gs_malloc(sizeof(double) * 3L * N), *gp = f + N, *t1 = gp + N;
  /* distances from the coordinates (not the sgemm form): they set the plan's exponents, where a
   * cancellation error of 1e-7 |a|^2 would be amplified by 1/eps */
  float dmax = 0.0f;
  for (int i = 0; i < N; i++) {
    float *restrict d = D + (long)i * N;
    for (int j = 0; j < N; j++) d[j] = sqdist3(a + 3L * i, b + 3L * j);
    float m = max_lanes(d, N);
    dmax = m > dmax ? m : dmax;
  }
  /* eps is in units of the mean squared distance to the nearest point of the other cloud, both
   * ways (half the Chamfer distance): the scale on which the plan must tell neighbours apart. An
   * absolute temperature blurs 2048-point clouds that it resolves at 256 points, and blurs good
   * reconstructions that it resolves at the start of training. (The floor keeps a cloud against
   * itself, where that scale is 0, finite.) */
  double nn = 0.0;
  for (int j = 0; j < N; j++) fs[j] = INFINITY;
  for (int i = 0; i < N; i++) {
    const float *restrict d = D + (long)i * N;
    float v, *restrict cmin = fs;
    argmin_first(d, N, &v);
    nn += v;
    for (int j = 0; j < N; j++) cmin[j] = d[j] < cmin[j] ? d[j] : cmin[j];
  }
  for (int j = 0; j < N; j++) nn += fs[j];
  nn /= 2.0 * N;
  double eps = eps_rel * fmax(nn, 1e-6 * dmax);
  if (!(eps > 0.0)) eps = 1e-30; /* all points in one place */
  /* eps scaling: e_k = max(eps, dmax q^k) comes down to eps over the first 3/4 of the iterations
   * and the potentials carry over from one temperature to the next. Against annealing over half
   * of them (and against none) this lowered the error on independent samples at every iteration
   * count tried, 25 to 200. */
  int anneal = 3 * iters / 4;
  double q = anneal > 0 && dmax > eps ? pow(eps / dmax, 1.0 / anneal) : 0.0;
  memset(f, 0, sizeof(double) * N);
  memset(gp, 0, sizeof(double) * N);
  for (int k = 0; k < iters; k++) {
    double e = k >= anneal ? eps : fmax(eps, dmax * pow(q, k));
    lse_rows(D, N, gp, e, f, t1);
    lse_cols(D, N, f, e, gp, t1, fs);
  }
  /* P_ij = exp((f_i + g_j - D_ij) / eps). The last half-step fixed the column sums at 1/N, so
   * P_ij <= 1/N and the exponent is negative (clamped against rounding). The gradient sums
   * P_ij (a_i - b_j) term by term: r_i a_i - sum_j P_ij b_j would cancel where the plan pairs
   * near points. Row sums in W lanes, column sums element-wise (both vectorise); b and the
   * column sums of P (b_j - a_i) in (3, N) layout. */
  double inv = 1.0 / eps;
  float *prow = fs, *bt = prow + N, *colg = bt + 3L * N;
  for (int j = 0; j < N; j++)
    for (int k = 0; k < 3; k++) bt[(long)k * N + j] = b[3L * j + k], colg[(long)k * N + j] = 0.0f;
  double cost = 0.0;
  for (int i = 0; i < N; i++) {
    const float *restrict d = D + (long)i * N;
    double fi = f[i];
    for (int j = 0; j < N; j++) {
      double x = (fi + gp[j] - d[j]) * inv;
      prow[j] = gs_expf_neg((float)(x < 0.0 ? x : 0.0));
    }
    if (plan) memcpy(plan + (long)i * N, prow, sizeof(float) * N);
    float lc[W] = {0};
    int j = 0;
    for (; j + W <= N; j += W)
      for (int k = 0; k < W; k++) lc[k] += prow[j + k] * d[j + k];
    double rc = 0.0;
    for (int k = 0; k < W; k++) rc += lc[k];
    for (; j < N; j++) rc += prow[j] * d[j];
    cost += rc;
    if (!da && !db) continue;
    for (int c = 0; c < 3; c++) {
      const float *restrict bc = bt + (long)c * N;
      float *restrict gc = colg + (long)c * N, ac = a[3L * i + c];
      float lg[W] = {0};
      for (j = 0; j + W <= N; j += W)
        for (int k = 0; k < W; k++) {
          float v = prow[j + k] * (ac - bc[j + k]);
          lg[k] += v;
          gc[j + k] -= v;
        }
      double rg = 0.0;
      for (int k = 0; k < W; k++) rg += lg[k];
      for (; j < N; j++) {
        float v = prow[j] * (ac - bc[j]);
        rg += v;
        gc[j] -= v;
      }
      if (da) da[3L * i + c] = (float)(2.0 * rg);
    }
  }
  if (db)
    for (int j = 0; j < N; j++)
      for (int k = 0; k < 3; k++) db[3L * j + k] = 2.0f * colg[(long)k * N + j];
  free(D);
  free(f);
  return cost;
}

/* ctx: the per-cloud envelope gradients for a seed of 1, da (B*N,3) then db (B*N,3) */
static void emd_backward(gs_node *nd) {
  gs_tensor *ta = nd->in[0], *tb = nd->in[1], *y = nd->out;
  int B = (int)nd->i[0];
  long per = ta->n / B;
  const float *ga = nd->ctx, *gb = ga + ta->n;
  float beta;
  if (ta->g) {
    float *d = gs_grad_target(ta, &beta);
    for (long k = 0; k < ta->n; k++) {
      float v = y->g[k / per] * ga[k];
      d[k] = beta != 0.0f ? d[k] + v : v;
    }
  }
  if (tb->g) {
    float *d = gs_grad_target(tb, &beta);
    for (long k = 0; k < tb->n; k++) {
      float v = y->g[k / per] * gb[k];
      d[k] = beta != 0.0f ? d[k] + v : v;
    }
  }
}

gs_tensor *gs_emd_sinkhorn(gs_graph *g, gs_tensor *ta, gs_tensor *tb, int B, int N, float eps, int iters) {
  check_rows("emd_sinkhorn", ta, (long)B * N, 3);
  check_rows("emd_sinkhorn", tb, (long)B * N, 3);
  if (!(eps > 0.0f) || iters < 1) {
    fprintf(stderr, "gensweep: internal error: emd_sinkhorn: eps %g and iters %d (want > 0 and >= 1)\n", eps, iters);
    abort();
  }
  int needs = gs_wants_grad(g, ta) || gs_wants_grad(g, tb);
  gs_tensor *y = gs_new(g, 1, &B, needs);
  float *ga = needs ? gs_arena_alloc(&g->arena, sizeof(float) * 2 * ta->n) : NULL, *gb = ga ? ga + ta->n : NULL;
  for (int c = 0; c < B; c++) {
    long o = 3L * N * c;
    y->x[c] = (float)gs_emd_sinkhorn_cloud(ta->x + o, tb->x + o, N, eps, iters, NULL, ga ? ga + o : NULL,
                                           gb ? gb + o : NULL);
    gs_poll(); /* about a second per batch of 2048-point clouds: let rank 0 serve its groups */
  }
  if (needs) {
    gs_node *nd = gs_tape_push(g, emd_backward, y);
    nd->in[0] = ta;
    nd->in[1] = tb;
    nd->i[0] = B;
    nd->ctx = ga;
  }
  return y;
}

/* ================================================================ exact assignment */
/* Hungarian method with row and column potentials (Kuhn-Munkres in the O(n^2 m) shortest
 * augmenting path form): row i is added with a Dijkstra-like search over reduced costs
 * C_ij - u_i - v_j >= 0, which stay non-negative as the potentials move. 1-based, column 0 is the
 * virtual start of each search. */
double gs_assignment_min(const double *cost, int n, int m, int *match) {
  double *u = gs_calloc(n + 1, sizeof(double)), *v = gs_calloc(m + 1, sizeof(double));
  double *minv = gs_malloc(sizeof(double) * (m + 1));
  int *p = gs_calloc(m + 1, sizeof(int)), *way = gs_calloc(m + 1, sizeof(int));
  char *used = gs_malloc(m + 1);
  for (int i = 1; i <= n; i++) {
    p[0] = i;
    int j0 = 0;
    for (int j = 0; j <= m; j++) minv[j] = INFINITY, used[j] = 0;
    do {
      used[j0] = 1;
      int i0 = p[j0], j1 = 0;
      double delta = INFINITY;
      const double *row = cost + (long)(i0 - 1) * m - 1; /* row[j], j = 1..m */
      for (int j = 1; j <= m; j++) {
        if (used[j]) continue;
        double cur = row[j] - u[i0] - v[j];
        if (cur < minv[j]) minv[j] = cur, way[j] = j0;
        if (minv[j] < delta) delta = minv[j], j1 = j;
      }
      if (j1 == 0) break; /* only with NaN costs: nothing to augment along */
      for (int j = 0; j <= m; j++) {
        if (used[j]) u[p[j]] += delta, v[j] -= delta;
        else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] != 0);
    do { /* flip the augmenting path */
      int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  double total = 0.0;
  int assigned = 0;
  for (int j = 1; j <= m; j++) {
    int i = p[j];
    if (i == 0) continue;
    total += cost[(long)(i - 1) * m + j - 1];
    if (match) match[i - 1] = j - 1;
    assigned++;
  }
  free(u);
  free(v);
  free(minv);
  free(p);
  free(way);
  free(used);
  return assigned == n ? total : NAN;
}

/* The EMD as an assignment over the N x N squared distances (in double: 32 MB at N = 2048). */
double gs_emd_exact(const float *a, const float *b, int N, int *match) {
  double *cost = gs_malloc(sizeof(double) * (size_t)N * N);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      const float *ai = a + 3L * i, *bj = b + 3L * j;
      double dx = (double)ai[0] - bj[0], dy = (double)ai[1] - bj[1], dz = (double)ai[2] - bj[2];
      cost[(long)i * N + j] = dx * dx + dy * dy + dz * dz;
    }
  double total = gs_assignment_min(cost, N, N, match);
  free(cost);
  return total / N;
}
