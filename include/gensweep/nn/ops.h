/* Differentiable ops. Each takes the graph, its inputs and constants, returns a new tensor in
 * the graph's arena and (when a gradient can flow) records its backward step on the tape.
 * Shapes: 2-D tensors are (rows = batch B, cols = features N) row-major. */
#ifndef GENSWEEP_OPS_H
#define GENSWEEP_OPS_H
#include "gensweep/core/rng.h"
#include "gensweep/nn/tensor.h"

/* Linear algebra */
gs_tensor *gs_matmul(gs_graph *g, gs_tensor *x, gs_tensor *w);            /* (B,K)x(K,N) -> (B,N) */
gs_tensor *gs_add_bias(gs_graph *g, gs_tensor *x, gs_tensor *b);          /* (B,N)+(N) -> (B,N) */
gs_tensor *gs_dense(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b); /* x w + b, one sgemm */
/* relu(x w + b) in one op: the activation applied in place, its backward masking the output gradient */
gs_tensor *gs_dense_relu(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b);
/* Their forward without the tape, on plain arrays: y (rows, M) = x (rows, K) w (K, M) + bias (M,
 * may be NULL), then ReLU if relu. The bias is put first and sgemm adds to it: the same bits as
 * gs_dense / gs_dense_relu on the same rows. */
void gs_dense_forward(const float *x, int rows, int K, const float *w, int M, const float *bias, int relu, float *y);

/* Elementwise */
gs_tensor *gs_relu(gs_graph *g, gs_tensor *x);
gs_tensor *gs_leaky_relu(gs_graph *g, gs_tensor *x, float slope);
gs_tensor *gs_sigmoid(gs_graph *g, gs_tensor *x);
gs_tensor *gs_tanh(gs_graph *g, gs_tensor *x);
gs_tensor *gs_exp(gs_graph *g, gs_tensor *x);
gs_tensor *gs_log(gs_graph *g, gs_tensor *x);                /* natural log, x > 0 */
gs_tensor *gs_scale(gs_graph *g, gs_tensor *x, float s);     /* s * x */
gs_tensor *gs_add(gs_graph *g, gs_tensor *a, gs_tensor *b);  /* same shape */
gs_tensor *gs_sub(gs_graph *g, gs_tensor *a, gs_tensor *b);  /* same shape */
gs_tensor *gs_mul(gs_graph *g, gs_tensor *a, gs_tensor *b);  /* same shape, elementwise */

/* Shape */
gs_tensor *gs_concat(gs_graph *g, gs_tensor *a, gs_tensor *b);            /* (B,Na),(B,Nb) -> (B,Na+Nb) */
gs_tensor *gs_slice_cols(gs_graph *g, gs_tensor *x, int start, int len);  /* (B,N) -> (B,len) */
gs_tensor *gs_reshape(gs_graph *g, gs_tensor *x, int ndim, const int *shape); /* view, same count */

/* Reductions */
gs_tensor *gs_sum(gs_graph *g, gs_tensor *x);       /* all elements -> (1) */
gs_tensor *gs_mean(gs_graph *g, gs_tensor *x);      /* all elements -> (1) */
gs_tensor *gs_sum_rows(gs_graph *g, gs_tensor *x);  /* (B,N) -> (B): sum over each row */

/* Probabilistic */
/* z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) drawn from rng (reparameterisation). (B,Z) */
gs_tensor *gs_gauss_sample(gs_graph *g, gs_tensor *mu, gs_tensor *logvar, gs_rng *rng);
/* Same with the noise given (B,Z): eps is copied into the arena. */
gs_tensor *gs_gauss_sample_eps(gs_graph *g, gs_tensor *mu, gs_tensor *logvar, const float *eps);
/* Bernoulli negative log-likelihood from logits, summed per row, numerically stable:
 * -log p(x|l) = sum_j max(l,0) - l x + log(1 + exp(-|l|)). targets x in [0,1] (no gradient). (B) */
gs_tensor *gs_bernoulli_nll(gs_graph *g, gs_tensor *logits, gs_tensor *x);
/* Cross-entropy of softmax(logits) against target distributions (one-hot labels), per row:
 * -sum_j t_j log softmax(l)_j. (B,C),(B,C) -> (B); no gradient into target. */
gs_tensor *gs_softmax_ce(gs_graph *g, gs_tensor *logits, gs_tensor *target);
/* KL( N(mu, exp(logvar)) || N(0, I) ) per row: 0.5 sum (mu^2 + exp(lv) - 1 - lv). (B) */
gs_tensor *gs_kl_std_normal(gs_graph *g, gs_tensor *mu, gs_tensor *logvar);

/* Reference implementation kept beside the fast path (tests compare them). */
void gs_bernoulli_nll_rows_naive(const float *logits, const float *x, int rows, int cols, float *out);
void gs_bernoulli_nll_rows_fast(const float *logits, const float *x, int rows, int cols, float *out,
                                float *dlogits /* may be NULL: sigmoid(l) - x */);

#endif
