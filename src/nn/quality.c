/* Sample-quality numerics. See include/gensweep/nn/quality.h for the contracts.
 *
 * Frechet distance (Dowson & Landau 1982; FID, Heusel et al. 2017):
 *   d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})
 * S1 S2 is not symmetric, and a general matrix square root (Schur form, scipy's sqrtm) is slow
 * and goes complex on rounding noise. Instead: S1 = V diag(l) V^T, A = S1^{1/2} = V diag(sqrt l) V^T,
 * and S1 S2 = A (A S2 A) A^{-1} is similar to the symmetric A S2 A, so
 *   tr((S1 S2)^{1/2}) = sum_i sqrt(eig_i(A S2 A)).
 * With B = V diag(sqrt l), A S2 A = V (B^T S2 B) V^T is in turn similar to B^T S2 B, which saves
 * forming A: two symmetric eigen-decompositions (LAPACK dsyevd) and two d^3 products. */
#include "gensweep/nn/quality.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK's symmetric eigen-solver (divide and conquer). No lapacke dependency: OpenBLAS exports
 * the Fortran symbol itself, and the library already links OpenBLAS (BLAS::BLAS). The two size_t
 * at the end are gfortran's hidden lengths of the character arguments. */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len,
                    size_t uplo_len);

/* ---------------------------------------------------------------- moments */

static void fill_nan(double *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = NAN;
}

static void column_means(const float *X, long n, int d, double *mean) {
  memset(mean, 0, sizeof(double) * d);
  for (long i = 0; i < n; i++) {
    const float *row = X + i * d;
    for (int j = 0; j < d; j++) mean[j] += row[j];
  }
  for (int j = 0; j < d; j++) mean[j] /= (double)n;
}

/* cov (upper triangle, row-major) / (n - 1), then the lower triangle mirrored from it */
static void finish_cov(double *cov, long n, int d) {
  double inv = 1.0 / (double)(n - 1);
  for (int j = 0; j < d; j++)
    for (int k = j; k < d; k++) cov[(size_t)k * d + j] = cov[(size_t)j * d + k] *= inv;
}

/* Rows are centred in chunks of about 1 MB of doubles: the centred copy stays in cache-sized
 * pieces while dsyrk still gets long enough panels to run near its peak. */
#define MOMENTS_CHUNK_DOUBLES (1L << 17)

void gs_feature_moments(const float *X, long n, int d, double *mean, double *cov) {
  size_t dd = (size_t)d * d;
  if (n < 1) {
    fill_nan(mean, d);
    fill_nan(cov, dd);
    return;
  }
  column_means(X, n, d, mean);
  if (n < 2) {
    fill_nan(cov, dd);
    return;
  }
  long rows = MOMENTS_CHUNK_DOUBLES / d;
  if (rows < 1) rows = 1;
  if (rows > n) rows = n;
  double *centred = gs_aligned_alloc(sizeof(double) * rows * d); /* (rows, d) */
  memset(cov, 0, sizeof(double) * dd);
  for (long i0 = 0; i0 < n; i0 += rows) {
    long m = n - i0 < rows ? n - i0 : rows;
    for (long r = 0; r < m; r++) {
      const float *x = X + (i0 + r) * d;
      double *c = centred + r * d;
      for (int j = 0; j < d; j++) c[j] = (double)x[j] - mean[j];
    }
    /* cov += centred^T centred, upper triangle */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)m, 1.0, centred, d, 1.0, cov, d);
    gs_poll();
  }
  free(centred);
  finish_cov(cov, n, d);
}

void gs_feature_moments_naive(const float *X, long n, int d, double *mean, double *cov) {
  size_t dd = (size_t)d * d;
  if (n < 1) {
    fill_nan(mean, d);
    fill_nan(cov, dd);
    return;
  }
  for (int j = 0; j < d; j++) {
    double s = 0;
    for (long i = 0; i < n; i++) s += X[i * d + j];
    mean[j] = s / (double)n;
  }
  if (n < 2) {
    fill_nan(cov, dd);
    return;
  }
  for (int j = 0; j < d; j++)
    for (int k = j; k < d; k++) {
      double s = 0;
      for (long i = 0; i < n; i++) s += ((double)X[i * d + j] - mean[j]) * ((double)X[i * d + k] - mean[k]);
      cov[(size_t)j * d + k] = s;
    }
  finish_cov(cov, n, d);
}

/* ---------------------------------------------------------------- Frechet distance */

/* Eigenvalues w (ascending) of the symmetric d x d matrix a (upper triangle read; column-major,
 * which for a symmetric matrix is the same memory as row-major), and with jobz 'V' its
 * eigenvectors in a's columns. */
static int sym_eigen(char jobz, int d, double *a, double *w, const char *what, gs_error *err) {
  int lwork = -1, liwork = -1, info = 0, iwork_size = 0;
  double work_size = 0;
  dsyevd_(&jobz, "U", &d, a, &d, w, &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
  if (info != 0)
    return gs_fail(err, "frechet distance: LAPACK dsyevd workspace query for %s failed (info %d)", what, info);
  lwork = (int)ceil(work_size);
  liwork = iwork_size;
  double *work = gs_malloc(sizeof(double) * (size_t)lwork);
  int *iwork = gs_malloc(sizeof(int) * (size_t)liwork);
  dsyevd_(&jobz, "U", &d, a, &d, w, work, &lwork, iwork, &liwork, &info, 1, 1);
  free(work);
  free(iwork);
  if (info != 0)
    return gs_fail(err, "frechet distance: LAPACK dsyevd on %s failed (info %d: %s)", what, info,
                   info < 0 ? "bad argument" : "no convergence");
  return 0;
}

/* An eigenvalue of a symmetric matrix is computed to within about d * eps * max|eigenvalue|
 * (backward stability of dsyevd). Below that it is noise: treat it as 0. Clamping only the
 * negative ones would still take square roots of positive noise, ~1e-8 * sqrt(max) apiece,
 * which adds up over the null space of a rank-deficient covariance (dead features, d > n). */
static double eigen_floor(const double *w, int d) {
  double big = fmax(fabs(w[0]), fabs(w[d - 1])); /* ascending: the extremes are at the ends */
  return (double)d * DBL_EPSILON * big;
}

static int check_finite(const double *x, size_t n, const char *name, gs_error *err) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return gs_fail(err, "frechet distance: %s[%zu] = %g is not finite", name, i, x[i]);
  return 0;
}

int gs_frechet_distance(const double *mu1, const double *s1, const double *mu2, const double *s2, int d,
                        double *out, gs_error *err) {
  if (d < 1) return gs_fail(err, "frechet distance: dimension %d must be >= 1", d);
  size_t dd = (size_t)d * d;
  if (check_finite(mu1, d, "mu1", err) || check_finite(mu2, d, "mu2", err) || check_finite(s1, dd, "s1", err) ||
      check_finite(s2, dd, "s2", err))
    return -1;

  double mean_term = 0, trace1 = 0, trace2 = 0;
  for (int j = 0; j < d; j++) {
    double diff = mu1[j] - mu2[j];
    mean_term += diff * diff;
    trace1 += s1[(size_t)j * d + j];
    trace2 += s2[(size_t)j * d + j];
  }

  double *b = gs_aligned_alloc(sizeof(double) * dd);     /* S1 -> its eigenvectors V -> B = V diag(sqrt l) */
  double *s2sym = gs_aligned_alloc(sizeof(double) * dd); /* symmetric part of S2 */
  double *t = gs_aligned_alloc(sizeof(double) * dd);     /* S2 B, then M = B^T S2 B */
  double *w = gs_malloc(sizeof(double) * d);             /* eigenvalues */
  for (int j = 0; j < d; j++)
    for (int k = 0; k < d; k++) {
      b[(size_t)j * d + k] = 0.5 * (s1[(size_t)j * d + k] + s1[(size_t)k * d + j]);
      s2sym[(size_t)j * d + k] = 0.5 * (s2[(size_t)j * d + k] + s2[(size_t)k * d + j]);
    }
  int rc = sym_eigen('V', d, b, w, "s1", err);
  if (rc == 0) {
    double floor1 = eigen_floor(w, d);
    for (int j = 0; j < d; j++) { /* column j of V (column-major: contiguous) times sqrt(l_j) */
      double root = w[j] > floor1 ? sqrt(w[j]) : 0.0;
      for (int i = 0; i < d; i++) b[(size_t)j * d + i] *= root;
    }
    double *m = s2sym; /* S2 is not needed once S2 B is formed: M overwrites it */
    cblas_dsymm(CblasColMajor, CblasLeft, CblasUpper, d, d, 1.0, s2sym, d, b, d, 0.0, t, d);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, d, d, d, 1.0, b, d, t, d, 0.0, m, d);
    rc = sym_eigen('N', d, m, w, "s1^1/2 s2 s1^1/2", err);
    if (rc == 0) {
      double floor2 = eigen_floor(w, d), trace_sqrt = 0;
      for (int j = 0; j < d; j++)
        if (w[j] > floor2) trace_sqrt += sqrt(w[j]);
      *out = mean_term + trace1 + trace2 - 2.0 * trace_sqrt;
    }
  }
  free(b);
  free(s2sym);
  free(t);
  free(w);
  return rc;
}

/* ---------------------------------------------------------------- class statistics */

/* The most probable class of one row; ties go to the lowest class. */
static inline int argmax_row(const float *p, int C) {
  int best = 0;
  for (int k = 1; k < C; k++)
    if (p[k] > p[best]) best = k;
  return best;
}

int gs_class_coverage(const float *P, long n, int C, double min_share, gs_coverage *out) {
  memset(out, 0, sizeof *out);
  if (n < 1 || C < 1) return -1;
  for (long i = 0; i < n * C; i++)
    if (!(P[i] >= 0.0f) || !isfinite(P[i])) return -1;

  double *share = gs_calloc((size_t)C, sizeof(double));
  double *marginal = gs_calloc((size_t)C, sizeof(double)); /* p(y): the mean row */
  for (long i = 0; i < n; i++) {
    const float *p = P + i * C;
    share[argmax_row(p, C)] += 1.0;
    for (int k = 0; k < C; k++) marginal[k] += p[k];
  }
  out->classes = C;
  out->share = share;
  for (int k = 0; k < C; k++) {
    share[k] /= (double)n;
    marginal[k] /= (double)n;
    if (share[k] > 0) out->kl_uniform += share[k] * log(share[k] * C);
    if (share[k] >= min_share) out->covered++;
    if (share[k] > out->largest_share) out->largest_share = share[k];
  }

  /* E_x KL(p(y|x) || p(y)); a term with p(y|x) = 0 is 0 (its limit), and p(y|x) > 0 implies
   * p(y) >= p(y|x) / n > 0, so no log(0) is ever taken. */
  double *log_marginal = marginal;
  for (int k = 0; k < C; k++) log_marginal[k] = marginal[k] > 0 ? log(marginal[k]) : 0.0;
  double kl_sum = 0;
  for (long i = 0; i < n; i++) {
    const float *p = P + i * C;
    double kl = 0;
    for (int k = 0; k < C; k++)
      if (p[k] > 0) kl += p[k] * (log((double)p[k]) - log_marginal[k]);
    kl_sum += kl;
  }
  out->judge_score = exp(kl_sum / (double)n);
  free(marginal);
  return 0;
}

void gs_coverage_free(gs_coverage *c) {
  free(c->share);
  memset(c, 0, sizeof *c);
}

double gs_class_agreement(const float *P, long n, int C, const int *wanted) {
  if (n < 1 || C < 1) return NAN;
  long agree = 0;
  for (long i = 0; i < n; i++) agree += argmax_row(P + i * C, C) == wanted[i];
  return (double)agree / (double)n;
}
