/* Our own primal solver for the large linear probes: see include/gensweep/probe/solver.h.
 *
 * The functions. For one class (k dropped): labels y_i = +-1, x_i in R^(d+1) the standardised
 * features followed by the bias feature 1, z_i = w.x_i the decision value, t_i = y_i z_i, and
 *   f(w) = 0.5 ||w||^2 + C sum_i phi(t_i)
 *     squared hinge  phi(t) = max(0, 1 - t)^2   phi'(t) = -2 max(0, 1 - t)   phi''(t) = 2 [t < 1]
 *     logistic       phi(t) = log(1 + e^-t)      phi'(t) = -s(-t)              phi''(t) = s(t) s(-t)
 *                    with s(t) = 1 / (1 + e^-t); for |t| large, e = e^-|t| keeps them finite:
 *                    phi = max(-t, 0) + log1p(e), s(-t) = e / (1 + e) (t >= 0) or 1 / (1 + e),
 *                    s(t) s(-t) = e / (1 + e)^2
 *   gradient  g(w)   = w + X^T q          q_i  = C phi'(t_i) y_i
 *   Hessian   H(w) v = v + X^T D (X v)    D_ii = C phi''(t_i)          (y_i^2 = 1)
 * X^T applies to the bias feature too: the bias component of X^T q is sum_i q_i. The squared
 * hinge has no second derivative at t = 1; D is its generalised Hessian (2C where t < 1, else 0).
 * H >= I, so f is strongly convex with one minimiser.
 *
 * The method: Newton's method with conjugate gradients and an exact line search. At w, with
 * g = g(w) and H = H(w):
 *   step       s ~ -H^-1 g by preconditioned CG from s = 0, stopped when the residual
 *              r = -(g + H s) has ||r|| <= CG_TOL ||g||. g.s < 0: a descent direction.
 *   line       eta minimises the convex F(eta) = f(w + eta s) = 0.5 ||w + eta s||^2 +
 *              C sum_i phi(y_i (z_i + eta u_i)) with u = X s, by Newton steps on F' safeguarded
 *              by bisection, F'(eta) = w.s + eta s.s + C sum_i phi'(.) y_i u_i, F''(eta) = s.s
 *              + C sum_i phi''(.) u_i^2 (F'(0) = g.s). u comes for free: CG builds s = sum_j alpha_j p_j from
 *              directions p_j whose products X p_j its Hessian sweeps compute anyway, so
 *              u = sum_j alpha_j X p_j is kept alongside, and the search costs no pass over X.
 *   move       w <- w + eta s, z <- z + eta u, then one pass for f, g and D at the new point.
 * A class stops at liblinear's tolerance (solver.h), when f no longer decreases by more than
 * RESOLUTION |f| (double precision can resolve no more), or after MAX_NEWTON steps.
 *
 * The preconditioner: H = I + X^T D X is near M = I + alpha G with G = X^T X (bias feature
 * included) and alpha = tr(X^T D X) / tr(G) = sum_i D_ii ||x_i||^2 / sum_i ||x_i||^2. G is
 * summed once per fit and diagonalised, G = E^T diag(lam) E, so M^-1 = E^T diag(1 / (1 +
 * alpha lam)) E for every class and iterate at the cost of two small products. The directions
 * along which X varies most, where H is largest, are those M handles; CG then needs a few
 * iterations per step where it needed tens without (Fashion-MNIST pixels, a factor 3 in passes).
 *
 * All classes together: every class has its own w, CG and line search, but they advance in
 * lockstep, so that one pass over the rows serves every class still working, its directions the
 * columns of one d x n matrix P (n <= classes): the Hessian-vector products of one CG iteration,
 * or the gradients at the new points. A pass (a sweep) goes block by block of GS_SOLVER_BLOCK
 * rows, the block staying in cache between its two products:
 *   U   = X_b P + p_bias               (sgemm: each row's decision value change, per class)
 *   Q   = the per-row term             (gradient: q_i, the losses summed; Hessian: D_ii u_i)
 *   out += [X_b^T Q ; sum_i Q_i]       (sgemm; the block's float sums added into doubles)
 * then the reducer sums `out` over the ranks. A pass is bound by reading X from memory (about
 * 25 ms for 60000 x 784 floats on one core here, 10 classes adding half as much again), so the
 * classes share it nearly for free. A class leaves the CG when its residual is small enough and
 * the solver at its tolerance.
 *
 * Precision: z is never recomputed from w: it is carried in double, z <- z + eta u, with u built
 * from float products of the directions, and the directions' weights are rounded to float
 * before their product, so that w <- w + eta s follows the same z. f(w) - f(w + eta s) is then a
 * difference of two double sums over the same z, meaningful near the solution where float32
 * could not tell f(w) from f(w + eta s). */
#include "gensweep/probe/solver.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK's symmetric eigensolver, from OpenBLAS (as src/nn/quality.c); the size_t are gfortran's
 * hidden lengths of the character arguments */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len,
                    size_t uplo_len);

#define MAX_NEWTON 1000
#define MAX_LINE 30
static const double CG_TOL = 0.3;      /* CG stops at ||r|| <= CG_TOL ||g|| */
static const double LINE_TOL = 1e-3;   /* the line search stops at |F'(eta)| <= LINE_TOL |F'(0)| */
static const double RESOLUTION = 1e-14; /* a decrease of f below this times |f|: stop */

struct gs_solver {
  const float *X;
  const int *labels;
  long m;
  int d, K, svm;
  double C, eps;
  const gs_reducer *reduce;
  double **z, **zt;     /* per class, m: decision values at the iterate and at the trial point */
  float **D, **Dt;      /* per class, m: C phi''(t_i) at the iterate and at the trial point */
  float **xp;           /* per class, m: X p of the last Hessian sweep's direction p */
  float *P;             /* d x K: a sweep's directions, one column per listed class */
  double *pb;           /* K: their bias components */
  float *U, *Q, *Gb;    /* BLOCK x K values and terms of a block; d x K its X^T Q */
  double *out;          /* K x (d + 3) per listed class: X^T Q, sum Q, the loss sum, sum Dt_i rn_i */
  int *all;             /* 0..K-1 */
  int passes;
  int use_precond;      /* build the preconditioner before the first fit */
  float *rn;            /* m: ||x_i||^2 with the bias feature */
  double trace;         /* sum_i rn_i over all ranks */
  double *E, *lam;      /* (d + 1)^2 eigenvectors (rows) and eigenvalues of G = X^T X (NULL: none) */
};

/* ------------------------------------------------------------------ small vector helpers */
static double dot(const double *a, const double *b, long n) {
  double s = 0;
  for (long i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static void axpy(double a, const double *x, double *y, long n) {
  for (long i = 0; i < n; i++) y[i] += a * x[i];
}

/* ------------------------------------------------------------------ losses */
static inline void hinge(double t, double *l, double *d1, double *d2) {
  double e = 1.0 - t;
  if (e > 0) *l = e * e, *d1 = -2.0 * e, *d2 = 2.0;
  else *l = 0.0, *d1 = 0.0, *d2 = 0.0;
}

static inline void logistic(double t, double *l, double *d1, double *d2) {
  double e = exp(-fabs(t)), inv = 1.0 / (1.0 + e);
  *l = (t < 0 ? -t : 0.0) + log1p(e);
  *d1 = -(t >= 0 ? e * inv : inv);
  *d2 = e * inv * inv;
}

/* ------------------------------------------------------------------ solver object */
gs_solver *gs_solver_new(const gs_solver_data *data, const gs_probe_params *par, gs_error *err) {
  if (data->d < 1 || data->classes < 1 || data->m < 0 || (data->m > 0 && (!data->X || !data->labels))) {
    gs_fail(err, "probe solver: need d >= 1 features, classes >= 1 and rows (d %d, classes %d, m %ld)", data->d,
            data->classes, data->m);
    return NULL;
  }
  if (!(par->C > 0) || !(par->eps > 0) || !isfinite(par->C)) {
    gs_fail(err, "probe solver: C (%g) and eps (%g) must be positive", par->C, par->eps);
    return NULL;
  }
  gs_solver *s = gs_calloc(1, sizeof *s);
  int K = data->classes, d = data->d;
  size_t m1 = (size_t)(data->m ? data->m : 1);
  *s = (gs_solver){.X = data->X, .labels = data->labels, .m = data->m, .d = d, .K = K,
                   .svm = par->classifier == GS_PROBE_SVM, .C = par->C, .eps = par->eps, .reduce = data->reduce};
  s->z = gs_malloc(sizeof(double *) * K);
  s->zt = gs_malloc(sizeof(double *) * K);
  s->D = gs_malloc(sizeof(float *) * K);
  s->Dt = gs_malloc(sizeof(float *) * K);
  s->xp = gs_malloc(sizeof(float *) * K);
  for (int k = 0; k < K; k++) {
    s->z[k] = gs_calloc(m1, sizeof(double));
    s->zt[k] = gs_calloc(m1, sizeof(double));
    s->D[k] = gs_calloc(m1, sizeof(float));
    s->Dt[k] = gs_calloc(m1, sizeof(float));
    s->xp[k] = gs_calloc(m1, sizeof(float));
  }
  s->P = gs_aligned_alloc(sizeof(float) * (size_t)d * K);
  s->U = gs_aligned_alloc(sizeof(float) * GS_SOLVER_BLOCK * K);
  s->Q = gs_aligned_alloc(sizeof(float) * GS_SOLVER_BLOCK * K);
  s->Gb = gs_aligned_alloc(sizeof(float) * (size_t)d * K);
  s->pb = gs_malloc(sizeof(double) * K);
  s->out = gs_malloc(sizeof(double) * (size_t)K * (d + 3));
  s->rn = gs_calloc(m1, sizeof(float));
  s->use_precond = d + 1 <= GS_SOLVER_PRECOND_MAX;
  s->all = gs_malloc(sizeof(int) * K);
  for (int k = 0; k < K; k++) s->all[k] = k;
  return s;
}

void gs_solver_free(gs_solver *s) {
  if (!s) return;
  for (int k = 0; k < s->K; k++) free(s->z[k]), free(s->zt[k]), free(s->D[k]), free(s->Dt[k]), free(s->xp[k]);
  free(s->z), free(s->zt), free(s->D), free(s->Dt), free(s->xp);
  free(s->P), free(s->U), free(s->Q), free(s->Gb), free(s->pb), free(s->out), free(s->all);
  free(s->rn), free(s->E), free(s->lam);
  free(s);
}

/* ------------------------------------------------------------------ sweeps over the rows */
typedef enum { SWEEP_GRAD, SWEEP_HESS } sweep_kind;

/* The directions of classes list[0..n) (rows of V, d + 1 each) into P (d x n floats) and pb. */
static void load(gs_solver *s, const double *V, const int *list, int n) {
  int d = s->d;
  for (int a = 0; a < n; a++) {
    const double *v = V + (long)list[a] * (d + 1);
    for (int j = 0; j < d; j++) s->P[(long)j * n + a] = (float)v[j];
    s->pb[a] = v[d];
  }
}

/* Gradient terms of class k (column a of n) for rows i0 .. i0+b: the trial decision values
 * zt = z (0 when fresh) + u + p_bias, their curvature Dt and q into Q. Returns the loss sum;
 * adds the sum of q to *qsum and the sum of Dt_i rn_i to *drn. */
static double grad_terms(gs_solver *s, int k, int a, int n, long i0, int b, int fresh, double *qsum,
                         double *drn) {
  const int *lab = s->labels + i0;
  const float *rn = s->rn + i0;
  const double *z = s->z[k] + i0;
  double *zt = s->zt[k] + i0, loss = 0, sq = 0, sd = 0, pb = s->pb[a];
  float *Dt = s->Dt[k] + i0;
  for (int i = 0; i < b; i++) {
    double y = lab[i] == k ? 1.0 : -1.0, v = (fresh ? 0.0 : z[i]) + (double)s->U[(long)i * n + a] + pb;
    double l, d1, d2;
    if (s->svm) hinge(y * v, &l, &d1, &d2);
    else logistic(y * v, &l, &d1, &d2);
    zt[i] = v;
    loss += l;
    float q = (float)(s->C * d1 * y);
    s->Q[(long)i * n + a] = q;
    sq += q;
    Dt[i] = (float)(s->C * d2);
    sd += (double)Dt[i] * rn[i];
  }
  *qsum += sq;
  *drn += sd;
  return loss;
}

/* Hessian terms of class k (column a of n) for rows i0 .. i0+b: D_ii (u_i + p_bias); the
 * products u_i + p_bias kept in xp. */
static void hess_terms(gs_solver *s, int k, int a, int n, long i0, int b, double *qsum) {
  const float *D = s->D[k] + i0;
  float pb = (float)s->pb[a], *xp = s->xp[k] + i0;
  double sq = 0;
  for (int i = 0; i < b; i++) {
    xp[i] = s->U[(long)i * n + a] + pb;
    float q = D[i] * xp[i];
    s->Q[(long)i * n + a] = q;
    sq += q;
  }
  *qsum += sq;
}

/* One pass over the rows for classes list[0..n) with the directions loaded in P and pb (none:
 * u = 0): out (n x (d + 3)) = [X^T Q, sum Q, loss sum, sum Dt_i rn_i] summed over the ranks. */
static void sweep(gs_solver *s, sweep_kind kind, const int *list, int n, int have_dir, int fresh) {
  int d = s->d;
  long w = d + 3;
  memset(s->out, 0, sizeof(double) * (size_t)(n * w));
  if (!have_dir) memset(s->pb, 0, sizeof(double) * n);
  for (long i0 = 0; i0 < s->m; i0 += GS_SOLVER_BLOCK) {
    int b = (int)(s->m - i0 < GS_SOLVER_BLOCK ? s->m - i0 : GS_SOLVER_BLOCK);
    const float *Xb = s->X + i0 * d;
    if (have_dir)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, n, d, 1.0f, Xb, d, s->P, n, 0.0f, s->U, n);
    else
      memset(s->U, 0, sizeof(float) * (size_t)b * n);
    for (int a = 0; a < n; a++) {
      double *o = s->out + a * w;
      if (kind == SWEEP_GRAD) o[d + 1] += grad_terms(s, list[a], a, n, i0, b, fresh, &o[d], &o[d + 2]);
      else hess_terms(s, list[a], a, n, i0, b, &o[d]);
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, n, b, 1.0f, Xb, d, s->Q, n, 0.0f, s->Gb, n);
    for (int j = 0; j < d; j++)
      for (int a = 0; a < n; a++) s->out[a * w + j] += s->Gb[(long)j * n + a];
  }
  s->passes++;
  gs_reduce_sum(s->reduce, s->out, (int)(n * w));
  gs_poll();
}

/* The trial point of the sweep's column a becomes class k's iterate. */
static void accept(gs_solver *s, int k) {
  double *z = s->z[k];
  float *D = s->D[k];
  s->z[k] = s->zt[k], s->zt[k] = z;
  s->D[k] = s->Dt[k], s->Dt[k] = D;
}

/* f and g at w from a gradient sweep's column a: f = 0.5 ||w||^2 + C loss, g = w + X^T q. */
static double objective(const gs_solver *s, int a, const double *w, double *g) {
  int d = s->d;
  const double *o = s->out + (long)a * (d + 3);
  for (int j = 0; j <= d; j++) g[j] = w[j] + o[j];
  return 0.5 * dot(w, w, d + 1) + s->C * o[d + 1];
}

/* HV = V + X^T D X V for classes list[0..n). */
static void hessvec_list(gs_solver *s, const double *V, double *HV, const int *list, int n) {
  long n1 = s->d + 1;
  load(s, V, list, n);
  sweep(s, SWEEP_HESS, list, n, 1, 0);
  for (int a = 0; a < n; a++)
    for (long j = 0; j < n1; j++) HV[list[a] * n1 + j] = V[list[a] * n1 + j] + s->out[a * (n1 + 2) + j];
}

void gs_solver_eval(gs_solver *s, const double *W, double *f, double *G) {
  long n1 = s->d + 1;
  load(s, W, s->all, s->K);
  sweep(s, SWEEP_GRAD, s->all, s->K, 1, 1);
  for (int k = 0; k < s->K; k++) {
    f[k] = objective(s, k, W + k * n1, G + k * n1);
    accept(s, k);
  }
}

void gs_solver_hessvec(gs_solver *s, const double *V, double *HV) { hessvec_list(s, V, HV, s->all, s->K); }

/* ------------------------------------------------------------------ the preconditioner */
/* G = sum_i x_i x_i^T over all ranks (x_i with its bias feature: G's last row and column hold
 * the column sums and m), rn_i = ||x_i||^2, trace = tr G = sum_i rn_i. */
static void gram(gs_solver *s, double *G) {
  int d = s->d;
  long n1 = d + 1;
  float *Gf = gs_aligned_alloc(sizeof(float) * (size_t)d * d);
  memset(G, 0, sizeof(double) * (size_t)(n1 * n1));
  for (long i0 = 0; i0 < s->m; i0 += GS_SOLVER_BLOCK) {
    int b = (int)(s->m - i0 < GS_SOLVER_BLOCK ? s->m - i0 : GS_SOLVER_BLOCK);
    const float *Xb = s->X + i0 * d;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, d, b, 1.0f, Xb, d, 0.0f, Gf, d);
    for (int j = 0; j < d; j++)
      for (int l = j; l < d; l++) G[j * n1 + l] += Gf[(long)j * d + l];
    for (int i = 0; i < b; i++) {
      const float *x = Xb + (long)i * d;
      double sq = 1.0;
      for (int j = 0; j < d; j++) G[j * n1 + d] += x[j], sq += (double)x[j] * x[j];
      s->rn[i0 + i] = (float)sq;
    }
  }
  G[d * n1 + d] = (double)s->m;
  free(Gf);
  gs_reduce_sum(s->reduce, G, (int)(n1 * n1));
  for (long j = 0; j < n1; j++)
    for (long l = 0; l < j; l++) G[j * n1 + l] = G[l * n1 + j];
  s->trace = 0;
  for (long j = 0; j < n1; j++) s->trace += G[j * n1 + j];
}

/* The eigenvectors E (rows) and eigenvalues lam of G: M_k = I + alpha_k G = E^T diag(1 + alpha_k
 * lam) E for every alpha_k. Without them (dsyevd failed) M = I. */
static void eigen(gs_solver *s, double *G) {
  int n1 = s->d + 1, lwork = -1, liwork = -1, info = 0, isize = 0;
  double wsize = 0;
  s->lam = gs_malloc(sizeof(double) * n1);
  dsyevd_("V", "U", &n1, G, &n1, s->lam, &wsize, &lwork, &isize, &liwork, &info, 1, 1);
  if (info == 0) {
    lwork = (int)ceil(wsize), liwork = isize;
    double *work = gs_malloc(sizeof(double) * (size_t)lwork);
    int *iwork = gs_malloc(sizeof(int) * (size_t)liwork);
    dsyevd_("V", "U", &n1, G, &n1, s->lam, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work), free(iwork);
  }
  if (info != 0) {
    free(s->lam), free(G);
    s->lam = NULL;
    return;
  }
  for (int j = 0; j < n1; j++) s->lam[j] = fmax(s->lam[j], 0.0); /* G >= 0: below 0 is rounding */
  s->E = G; /* column-major eigenvectors = row-major rows */
}

/* Z_k = M_k^-1 R_k for the classes list[0..n): E^T diag(1 / (1 + alpha_k lam)) E R_k. */
static void precondition(const gs_solver *s, const double *R, double *Z, const double *alpha, const int *list,
                         int n, double *A, double *B) {
  long n1 = s->d + 1;
  if (!s->E || n == 0) {
    for (int a = 0; a < n; a++) memcpy(Z + list[a] * n1, R + list[a] * n1, sizeof(double) * n1);
    return;
  }
  for (int a = 0; a < n; a++) memcpy(A + a * n1, R + list[a] * n1, sizeof(double) * n1);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n1, n1, 1.0, A, n1, s->E, n1, 0.0, B, n1);
  for (int a = 0; a < n; a++)
    for (long j = 0; j < n1; j++) B[a * n1 + j] /= 1.0 + alpha[list[a]] * s->lam[j];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n1, n1, 1.0, B, n1, s->E, n1, 0.0, A, n1);
  for (int a = 0; a < n; a++) memcpy(Z + list[a] * n1, A + a * n1, sizeof(double) * n1);
}

/* ------------------------------------------------------------------ Newton's method */
/* The classes' vectors (K x (d + 1) each) and scalars while they are fitted. */
typedef struct newton {
  double *G, *S, *R, *Z, *P, *HP; /* gradient, step, CG residual, M^-1 residual, direction, H P */
  double *A, *B;                  /* scratch for the preconditioner */
  double **u;                     /* per class, m: X s */
  double *f, *tol, *g0, *gn, *alpha, *rz;
  double *eta, *lo, *hi, *ws, *ss, *slope; /* line search: eta in (lo, hi), w.s, s.s, F'(0) */
  int *run, *stalled;
} newton;

static newton newton_new(int K, long n1, long m) {
  size_t v = sizeof(double) * (size_t)K * n1, c = sizeof(double) * (size_t)K;
  newton nw = {.G = gs_calloc(1, v), .S = gs_calloc(1, v), .R = gs_calloc(1, v), .Z = gs_calloc(1, v),
               .P = gs_calloc(1, v), .HP = gs_calloc(1, v), .A = gs_calloc(1, v), .B = gs_calloc(1, v),
               .u = gs_malloc(sizeof(double *) * K), .f = gs_calloc(1, c), .tol = gs_calloc(1, c),
               .g0 = gs_calloc(1, c), .gn = gs_calloc(1, c), .alpha = gs_calloc(1, c), .rz = gs_calloc(1, c),
               .eta = gs_calloc(1, c), .lo = gs_calloc(1, c), .hi = gs_calloc(1, c), .ws = gs_calloc(1, c),
               .ss = gs_calloc(1, c), .slope = gs_calloc(1, c), .run = gs_calloc((size_t)K, sizeof(int)),
               .stalled = gs_calloc((size_t)K, sizeof(int))};
  for (int k = 0; k < K; k++) nw.u[k] = gs_calloc((size_t)(m ? m : 1), sizeof(double));
  return nw;
}

static void newton_free(newton *nw, int K) {
  for (int k = 0; k < K; k++) free(nw->u[k]);
  free(nw->G), free(nw->S), free(nw->R), free(nw->Z), free(nw->P), free(nw->HP), free(nw->A), free(nw->B);
  free(nw->u), free(nw->f), free(nw->tol), free(nw->g0), free(nw->gn), free(nw->alpha), free(nw->rz);
  free(nw->eta), free(nw->lo), free(nw->hi), free(nw->ws), free(nw->ss), free(nw->slope);
  free(nw->run), free(nw->stalled);
}

/* A CG step of class k given H p: alpha = r.z / p.H p, s += alpha p, r -= alpha H p and
 * u += alpha X p. 1 while its CG goes on. */
static int cg_advance(const gs_solver *s, newton *nw, int k) {
  long n1 = s->d + 1, o = k * n1;
  double *st = nw->S + o, *r = nw->R + o, *u = nw->u[k];
  const double *p = nw->P + o, *hp = nw->HP + o;
  const float *xp = s->xp[k];
  double php = dot(p, hp, n1);
  if (!(php > 0)) return 0; /* H >= I: only from non-finite data */
  double alpha = nw->rz[k] / php;
  axpy(alpha, p, st, n1);
  axpy(-alpha, hp, r, n1);
  for (long i = 0; i < s->m; i++) u[i] += alpha * xp[i];
  return sqrt(dot(r, r, n1)) > CG_TOL * nw->gn[k];
}

/* The next direction of class k: p = z + beta p, beta = r.z / (the previous r.z). */
static void cg_direction(const gs_solver *s, newton *nw, int k) {
  long n1 = s->d + 1, o = k * n1;
  const double *r = nw->R + o, *z = nw->Z + o;
  double *p = nw->P + o, rz = dot(r, z, n1), beta = rz / nw->rz[k];
  for (long j = 0; j < n1; j++) p[j] = z[j] + beta * p[j];
  nw->rz[k] = rz;
}

/* The directions' weights as the sgemm takes them, so that s and u = X s agree. */
static void round_directions(const gs_solver *s, newton *nw, const int *list, int n) {
  long n1 = s->d + 1;
  for (int a = 0; a < n; a++)
    for (int j = 0; j < s->d; j++) nw->P[list[a] * n1 + j] = (double)(float)nw->P[list[a] * n1 + j];
}

/* Preconditioned CG for classes act[0..na) together, from s = 0: the steps S and u = X S.
 * Returns the number of Hessian sweeps. */
static int cg(gs_solver *s, newton *nw, const int *act, int na) {
  long n1 = s->d + 1;
  int nr = 0, iters = 0, cap = s->d + 1 > 20 ? s->d + 1 : 20;
  for (int a = 0; a < na; a++) {
    int k = act[a];
    for (long j = 0; j < n1; j++) nw->S[k * n1 + j] = 0, nw->R[k * n1 + j] = -nw->G[k * n1 + j];
    memset(nw->u[k], 0, sizeof(double) * (size_t)s->m);
  }
  precondition(s, nw->R, nw->Z, nw->alpha, act, na, nw->A, nw->B);
  for (int a = 0; a < na; a++) {
    int k = act[a];
    memcpy(nw->P + k * n1, nw->Z + k * n1, sizeof(double) * n1);
    nw->rz[k] = dot(nw->R + k * n1, nw->Z + k * n1, n1);
    nw->run[nr++] = k;
  }
  while (nr > 0 && iters < cap) {
    round_directions(s, nw, nw->run, nr);
    hessvec_list(s, nw->P, nw->HP, nw->run, nr);
    iters++;
    int keep = 0;
    for (int a = 0; a < nr; a++)
      if (cg_advance(s, nw, nw->run[a])) nw->run[keep++] = nw->run[a];
    nr = keep;
    precondition(s, nw->R, nw->Z, nw->alpha, nw->run, nr, nw->A, nw->B);
    for (int a = 0; a < nr; a++) cg_direction(s, nw, nw->run[a]);
  }
  return iters;
}

/* The data parts of F'(eta) and F''(eta) for the classes list[0..n), each at its eta,
 * summed over the rows and the ranks: buf[2a], buf[2a + 1]. */
static void line_derivatives(const gs_solver *s, const newton *nw, const int *list, int n, double *buf) {
  for (int a = 0; a < n; a++) {
    int k = list[a];
    const double *z = s->z[k], *u = nw->u[k];
    double eta = nw->eta[k], d1 = 0, d2 = 0;
    for (long i = 0; i < s->m; i++) {
      double y = s->labels[i] == k ? 1.0 : -1.0, l, p1, p2;
      if (s->svm) hinge(y * (z[i] + eta * u[i]), &l, &p1, &p2);
      else logistic(y * (z[i] + eta * u[i]), &l, &p1, &p2);
      d1 += p1 * y * u[i];
      d2 += p2 * u[i] * u[i];
    }
    buf[2 * a] = s->C * d1, buf[2 * a + 1] = s->C * d2;
  }
  gs_reduce_sum(s->reduce, buf, 2 * n);
}

/* One safeguarded Newton step on F' for class k: 1 while its search goes on. */
static int line_step(newton *nw, int k, double d1, double d2) {
  double e = nw->eta[k], slope = nw->ws[k] + e * nw->ss[k] + d1, curve = nw->ss[k] + d2;
  if (fabs(slope) <= LINE_TOL * fabs(nw->slope[k])) return 0;
  if (slope < 0) nw->lo[k] = e;
  else nw->hi[k] = e;
  double next = e - slope / curve; /* F convex: F'' >= s.s > 0 */
  if (!(next > nw->lo[k] && next < nw->hi[k])) next = isfinite(nw->hi[k]) ? 0.5 * (nw->lo[k] + nw->hi[k]) : 2 * e;
  nw->eta[k] = next;
  return next != e;
}

/* The step length of every class act[0..na) along its S (u = X S): F'(0) = g.s < 0, the search
 * starts at Newton's eta = 1. A class whose s is no descent direction is stalled (eta = 0); one
 * whose search does not settle in MAX_LINE steps takes the largest eta known to lie before the
 * minimum (F' < 0 up to there, so F decreased). */
static void line_search(gs_solver *s, newton *nw, const double *W, const int *act, int na) {
  long n1 = s->d + 1;
  int *list = gs_malloc(sizeof(int) * (na ? na : 1)), n = 0;
  double *buf = gs_malloc(sizeof(double) * 2 * (na ? na : 1));
  for (int a = 0; a < na; a++) {
    int k = act[a];
    const double *st = nw->S + k * n1;
    nw->slope[k] = dot(nw->G + k * n1, st, n1);
    nw->eta[k] = 0;
    if (!(nw->slope[k] < 0)) {
      nw->stalled[k] = 1;
      continue;
    }
    nw->eta[k] = 1, nw->lo[k] = 0, nw->hi[k] = INFINITY;
    nw->ws[k] = dot(W + k * n1, st, n1), nw->ss[k] = dot(st, st, n1);
    list[n++] = k;
  }
  for (int it = 0; it < MAX_LINE && n > 0; it++) {
    line_derivatives(s, nw, list, n, buf);
    int keep = 0;
    for (int a = 0; a < n; a++)
      if (line_step(nw, list[a], buf[2 * a], buf[2 * a + 1])) list[keep++] = list[a];
    n = keep;
  }
  for (int a = 0; a < n; a++) nw->eta[list[a]] = nw->lo[list[a]]; /* unfinished: F decreases up to lo */
  free(list), free(buf);
}

/* The class sizes over all ranks: count[k] examples of class k, count[K] all examples. */
static double *class_counts(const gs_solver *s) {
  double *count = gs_calloc((size_t)s->K + 1, sizeof(double));
  for (long i = 0; i < s->m; i++)
    if (s->labels[i] >= 0 && s->labels[i] < s->K) count[s->labels[i]]++;
  count[s->K] = (double)s->m;
  gs_reduce_sum(s->reduce, count, s->K + 1);
  return count;
}

/* f, g, D and the preconditioner's weight alpha of classes act[0..na) at their z (a gradient
 * sweep without directions); a class whose f did not decrease by RESOLUTION |f| from a finite
 * previous value is stalled. */
static void measure(gs_solver *s, newton *nw, const double *W, const int *act, int na) {
  long n1 = s->d + 1;
  sweep(s, SWEEP_GRAD, act, na, 0, 0);
  for (int a = 0; a < na; a++) {
    int k = act[a];
    double f = objective(s, a, W + k * n1, nw->G + k * n1);
    if (isfinite(nw->f[k]) && !(f < nw->f[k] - RESOLUTION * fabs(nw->f[k]))) nw->stalled[k] = 1;
    nw->f[k] = f;
    nw->gn[k] = sqrt(dot(nw->G + k * n1, nw->G + k * n1, n1));
    nw->alpha[k] = s->out[(long)a * (s->d + 3) + s->d + 2] / s->trace; /* tr(X^T D X) / tr(G) */
    accept(s, k);
  }
}

/* w <- w + eta s and z <- z + eta u for classes act[0..na), then their f, g and D. */
static void move(gs_solver *s, newton *nw, double *W, const int *act, int na) {
  long n1 = s->d + 1;
  for (int a = 0; a < na; a++) {
    int k = act[a];
    double eta = nw->eta[k], *z = s->z[k];
    const double *u = nw->u[k];
    axpy(eta, nw->S + k * n1, W + k * n1, n1);
    for (long i = 0; i < s->m; i++) z[i] += eta * u[i];
  }
  measure(s, nw, W, act, na);
}

/* f, g at w = 0 for classes act[0..na) and their tolerances (liblinear's rule, solver.h). */
static void start(gs_solver *s, newton *nw, const double *W, const int *act, int na, const double *count) {
  for (int a = 0; a < na; a++) {
    int k = act[a];
    memset(s->z[k], 0, sizeof(double) * (size_t)s->m);
    nw->f[k] = INFINITY;
  }
  measure(s, nw, W, act, na);
  for (int a = 0; a < na; a++) {
    int k = act[a];
    double pos = count[k], neg = count[s->K] - pos;
    nw->g0[k] = nw->gn[k];
    nw->tol[k] = s->eps * fmax(fmin(pos, neg), 1.0) / count[s->K] * nw->g0[k];
  }
}

void gs_solver_run(gs_solver *s, double *W, gs_solver_stats *stats) {
  int K = s->K, d = s->d, na = 0;
  long n1 = d + 1;
  gs_solver_stats st = {0};
  s->passes = 0;
  memset(W, 0, sizeof(double) * (size_t)K * n1);
  double *count = class_counts(s);
  int *act = gs_malloc(sizeof(int) * K), *fitted = gs_malloc(sizeof(int) * K), nf;
  for (int k = 0; k < K; k++) {
    double pos = count[k], neg = count[K] - pos;
    if (pos > 0 && neg > 0) act[na++] = k;
    else W[k * n1 + d] = pos > 0 ? 1.0 : -1.0; /* one side only: gs_probe_fit_class's constant decision */
  }
  memcpy(fitted, act, sizeof(int) * na);
  nf = na;
  if (na && !s->E && s->use_precond) {
    double *G = gs_malloc(sizeof(double) * (size_t)(n1 * n1));
    gram(s, G);
    eigen(s, G);
  }
  newton nw = newton_new(K, n1, s->m);
  if (na) start(s, &nw, W, act, na, count);
  for (int it = 1;; it++) {
    int keep = 0;
    for (int a = 0; a < na; a++)
      if (nw.gn[act[a]] > nw.tol[act[a]] && !nw.stalled[act[a]]) act[keep++] = act[a];
    na = keep;
    if (na == 0 || it > MAX_NEWTON) break;
    st.newton = it;
    st.cg += cg(s, &nw, act, na);
    line_search(s, &nw, W, act, na);
    move(s, &nw, W, act, na);
  }
  for (int a = 0; a < nf; a++) {
    int k = fitted[a];
    if (nw.gn[k] > nw.tol[k]) st.unconverged++;
    if (nw.g0[k] > 0) st.worst = fmax(st.worst, nw.gn[k] / nw.g0[k]);
  }
  st.passes = s->passes;
  if (stats) *stats = st;
  newton_free(&nw, K);
  free(count), free(act), free(fitted);
}

int gs_solver_fit(const gs_solver_data *data, const gs_probe_params *par, double *W, gs_solver_stats *stats,
                  gs_error *err) {
  gs_solver *s = gs_solver_new(data, par, err);
  if (!s) return -1;
  gs_solver_run(s, W, stats);
  gs_solver_free(s);
  for (long j = 0; j < (long)data->classes * (data->d + 1); j++)
    if (!isfinite(W[j])) return gs_fail(err, "probe solver: non-finite weights (non-finite features?)");
  return 0;
}
