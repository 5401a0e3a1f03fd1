/* IGMN: Incremental Gaussian Mixture Network (unsupervised, single pass), per shared IGMN.md.
 * Equation tags E1..E16 refer to that spec. All arithmetic in double; data rows are float.
 *
 * Two variants of the sequential step share one struct:
 *   fast    (default): stores the precision Lambda_j and log|C_j|, rank-one updates (E10, E11).
 *   classic (m->classic = 1, see gs_igmn_set_classic): stores C_j in m->cov and factorises it
 *           by Cholesky at every point (O(K D^3)); the naive reference used by the tests.
 * The query functions (loglik, assign, density, sample, umbrellas, refresh, state) read
 * mean/prec/logdet/sp; in the classic variant those are brought up to date by gs_igmn_sync
 * (gs_igmn_fit does it at the end of the pass). */
#ifndef GENSWEEP_IGMN_H
#define GENSWEEP_IGMN_H
#include "gensweep/core/common.h"
#include "gensweep/core/rng.h"

typedef enum { GS_IGMN_EXACT = 0, GS_IGMN_PAPER = 1 } gs_igmn_cov_update;
typedef enum {
  GS_IGMN_REFRESH_FULL = 0,   /* means, covariances, priors */
  GS_IGMN_REFRESH_MEANS = 1,  /* means + priors only (covariances kept, IGMN.md 6.3) */
  GS_IGMN_REFRESH_NONE = 2    /* nothing changed; just the mean log-likelihood */
} gs_igmn_refresh_mode;

typedef struct gs_igmn_params {
  int D;
  double c;       /* C_ini = c * sigmasq / D * I (E3) */
  double beta;    /* novelty level: update iff min d2 < chi2_D(1 - beta) (E2) */
  double v_min;   /* removal E12: v_j > v_min and sp_j < sp_min */
  double sp_min;
  gs_igmn_cov_update cov_update;
  double umbrella_tau, umbrella_kappa; /* E13 */
} gs_igmn_params;

/* c .2, beta 1e-3, v_min 2400, sp_min 50, exact, tau 1, kappa 2 */
void gs_igmn_params_default(gs_igmn_params *p, int D);
/* beta in (0,1), v_min >= 1, c > 0, sp_min > 0, tau > 0, kappa >= 1, D in [1, 64]. The message
 * names the key (igmn.beta, ...) and the valid range. */
int gs_igmn_params_check(const gs_igmn_params *p, gs_error *err);

typedef struct gs_igmn {
  int D, K, cap;
  double *mean;    /* K*D */
  double *prec;    /* K*D*D, Lambda_j = C_j^-1 (full symmetric storage) */
  double *logdet;  /* K, log|C_j| */
  double *sp;      /* K, accumulated posterior */
  double *v;       /* K, age */
  double sigmasq, chi2;
  long created, removed, nonpd, umbrellas, steps;
  gs_igmn_params p;
  int classic;     /* 1: classic variant, C_j in cov (cap*D*D) */
  double *cov;
  /* scratch, cap-sized (grown with the state) */
  double *e, *u, *d2, *w, *aux;
  double init_var, init_logdet, pd_tol;
} gs_igmn;

/* K = 0; chi2 = chi2_D(1 - beta). Returns -1 (err set) on bad params or sigmasq <= 0. */
int gs_igmn_init(gs_igmn *m, const gs_igmn_params *p, double sigmasq, gs_error *err);
void gs_igmn_free(gs_igmn *m);
/* Switch between fast (0) and classic (1) storage, converting the current state. */
void gs_igmn_set_classic(gs_igmn *m, int classic);
/* Classic variant: recompute prec/logdet from cov (no-op for fast). */
void gs_igmn_sync(gs_igmn *m);

void gs_igmn_learn(gs_igmn *m, const double *x);           /* one step E1-E12 (variant per m->classic) */
void gs_igmn_learn_classic(gs_igmn *m, const double *x);   /* classic step; m must be classic */
void gs_igmn_fit(gs_igmn *m, const float *Z, long N);       /* one pass over N rows of D floats */
void gs_igmn_finalize(gs_igmn *m, const float *Z, long N);  /* 4.1: drop sp<sp_min, umbrellas, refresh */
int gs_igmn_remove_umbrellas(gs_igmn *m);                   /* E13, returns number removed */
/* E14 (one EM iteration, K fixed); drops N_j < sp_min (never all); returns the mean
 * log-likelihood of Z under the model after the refresh. */
double gs_igmn_refresh(gs_igmn *m, const float *Z, long N, gs_igmn_refresh_mode mode);
double gs_igmn_loglik(const gs_igmn *m, const float *Z, long N); /* mean log density */
int gs_igmn_assign(const gs_igmn *m, const float *z);            /* argmax posterior, -1 if K=0 */
void gs_igmn_sample(const gs_igmn *m, int j /* -1: mixture */, gs_rng *r, float *z); /* 5 */
/* E16: f(z_i) = sum_j p(j) N(z_i; m_j, C_j) for B rows (ld floats apart) and
 * df/dz_i = -sum_j T_ij u_ij (B*D floats, row-major, packed); gradf may be NULL. */
void gs_igmn_density(const gs_igmn *m, const float *Z, int B, int ld, double *f, float *gradf);
/* E16 as a tape op: f_i = sum_j p(j) N(z_i; m_j, C_j) for z (B, D) -> (B); the gradient flows
 * into z only (the mixture is a constant). src/cluster/igmn_op.c */
struct gs_graph;
struct gs_tensor;
struct gs_tensor *gs_igmn_density_op(struct gs_graph *g, const gs_igmn *mix, struct gs_tensor *z);
/* Covariance C_j (D*D) into out. */
void gs_igmn_covariance(const gs_igmn *m, int j, double *out);
double gs_igmn_prior(const gs_igmn *m, int j);

double gs_chi2_cdf(double x, int k);
double gs_chi2_ppf(double p, int k);             /* regularized incomplete gamma + bisection */
double gs_sigmasq(const float *Z, long N, int D); /* Welford one pass: mean squared distance from the mean */

/* Flat state for checkpoints (doubles). unpack validates everything (size, magic, D, K,
 * finiteness, positivity, SPD precisions) and leaves m untouched on failure; m must be
 * zero-initialised or initialised. */
long gs_igmn_state_size(const gs_igmn *m);
void gs_igmn_state_pack(const gs_igmn *m, double *out);
int gs_igmn_state_unpack(gs_igmn *m, const double *in, long n, gs_error *err);

/* Cluster quality vs labels (any int values). */
double gs_cluster_purity(const int *assign, const int *labels, long n);  /* many-to-one: each cluster its majority label */
double gs_cluster_accuracy(const int *assign, const int *labels, long n); /* one-to-one, Hungarian */
double gs_adjusted_rand_index(const int *assign, const int *labels, long n);

#endif
