/* Sample-quality numerics: what a domain classifier (the judge) says about a set of generated
 * images, reduced to numbers. Pure arithmetic over float matrices, no model code.
 *   features X (n, d) row-major  -> mean (d), covariance (d, d) -> Frechet distance of two Gaussians
 *   class probabilities P (n, C), rows sum to 1 -> argmax histogram, coverage, judge score
 * Shapes: n samples (rows), d feature columns, C classes. Everything accumulates in double. */
#ifndef GENSWEEP_QUALITY_H
#define GENSWEEP_QUALITY_H
#include "gensweep/core/common.h"

/* Mean (d) and unbiased covariance (d, d, divisor n - 1, both triangles filled) of the n rows of
 * X. Two passes (mean, then centred products, BLAS dsyrk over chunks of rows). n < 2 leaves the
 * covariance NaN (and n < 1 the mean), so that a Frechet distance of it fails instead of lying. */
void gs_feature_moments(const float *X, long n, int d, double *mean, double *cov);
/* The same by plain loops: the reference the fast path is tested against. */
void gs_feature_moments_naive(const float *X, long n, int d, double *mean, double *cov);

/* Frechet distance between N(mu1, s1) and N(mu2, s2) (s1, s2: d x d symmetric positive
 * semi-definite; only their symmetric parts are used):
 *   |mu1 - mu2|^2 + tr(s1) + tr(s2) - 2 tr((s1 s2)^{1/2})
 * Near 0 for equal Gaussians it can come out a rounding-sized negative number (not clamped).
 * Returns 0 and *out, or -1 with err (d < 1, a non-finite input, LAPACK failure). */
int gs_frechet_distance(const double *mu1, const double *s1, const double *mu2, const double *s2, int d,
                        double *out, gs_error *err);

typedef struct gs_coverage {
  int classes;           /* C */
  double *share;         /* (C) share of the samples whose most probable class is k (malloc'd) */
  double kl_uniform;     /* KL(share || uniform) in nats: 0 when evenly spread, log C when one class */
  int covered;           /* classes holding at least min_share of the samples */
  double largest_share;  /* max_k share[k] */
  double judge_score;    /* exp(E_x KL(p(y|x) || p(y))), p(y) = mean row: 1 (one class) .. C */
} gs_coverage;

/* Class statistics of n rows of class probabilities P (n, C). The argmax of a row with ties is
 * the lowest class. The judge score is the Inception-score formula over all n rows at once (no
 * splits); 0 log 0 counts as 0. Returns 0, or -1 (out zeroed, nothing allocated) when n < 1,
 * C < 1 or a probability is negative or not finite. Free with gs_coverage_free. */
int gs_class_coverage(const float *P, long n, int C, double min_share, gs_coverage *out);
void gs_coverage_free(gs_coverage *c);
/* Share of the n rows of P (n, C) whose argmax is wanted[i] (conditional models); NaN when n < 1. */
double gs_class_agreement(const float *P, long n, int C, const int *wanted);

#endif
