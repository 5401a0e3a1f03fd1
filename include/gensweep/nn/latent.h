/* Ops for the latent variables of the mixture-prior and Beta-latent point-cloud models
 * (SCIENCE.md §3, src/models/pointcloud.c: pc_vaegm, pc_beta). Shapes as in ops.h: (B, K) rows.
 *
 * Kumaraswamy(a, b) on (0, 1): density a b z^(a-1) (1 - z^a)^(b-1), CDF 1 - (1 - z^a)^b, so a
 * sample is the inverse CDF of a uniform u: z = (1 - u^(1/b))^(1/a), differentiable in a and b
 * (Nalisnick & Smyth 2017, "Stick-breaking variational autoencoders"). It stands in for a Beta
 * posterior: close in shape, but with a closed-form inverse CDF. */
#ifndef GENSWEEP_LATENT_H
#define GENSWEEP_LATENT_H
#include "gensweep/core/rng.h"
#include "gensweep/nn/tensor.h"

/* log softmax of each row: l_j - log sum_k exp(l_k), stable (the max subtracted). (B,C) -> (B,C) */
gs_tensor *gs_log_softmax(gs_graph *g, gs_tensor *logits);

/* z = (1 - u^(1/b))^(1/a) elementwise, a, b > 0 (B,Z), u in (0, 1) given (B*Z floats, copied
 * into the arena), computed in double. Gradients to a and b. (B,Z) */
gs_tensor *gs_kumaraswamy_sample(gs_graph *g, gs_tensor *a, gs_tensor *b, const float *u);

/* KL( Kumaraswamy(a, b) || Beta(alpha, beta) ) summed over each row, a, b > 0 (B,Z) -> (B):
 *   log(a b) + (a - alpha)/a (psi(1) - psi(1 + b)) - (b - 1)/b + log B(alpha, beta) + (beta - 1) S,
 *   S = -E[log(1 - z)] = sum_{m >= 1} (b/m) B(1 + m/a, b)
 * (gs_kumaraswamy_series says how S is summed). Gradients to a and b. */
gs_tensor *gs_kl_kumaraswamy_beta(gs_graph *g, gs_tensor *a, gs_tensor *b, double alpha, double beta);

/* S(a, b) = -E[log(1 - z)], z ~ Kumaraswamy(a, b), and its derivatives (dsa, dsb may be NULL). */
double gs_kumaraswamy_series(double a, double b, double *dsa, double *dsb);
/* The mean of Kumaraswamy(a, b): b B(1 + 1/a, b). */
double gs_kumaraswamy_mean(double a, double b);
/* digamma and trigamma for x > 0 */
double gs_digamma(double x);
double gs_trigamma(double x);
/* A Beta(alpha, beta) draw, through two Gamma draws in log space (alpha, beta as small as 0.01
 * make Gamma draws underflow a double). */
double gs_rng_beta(gs_rng *r, double alpha, double beta);

#endif
