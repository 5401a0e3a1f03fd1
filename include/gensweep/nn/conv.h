/* Convolution, transposed convolution, batch normalisation and flatten for the autodiff engine.
 *
 * Layout is NCHW throughout the API. Inside, the fast paths fold the batch into the GEMM's N
 * dimension: im2col builds one (Cin*KH*KW, N*Ho*Wo) matrix per layer so each layer is one large
 * cblas_sgemm per pass (forward, input gradient, weight gradient). Scratch lives in the graph's
 * arena. Shape errors abort with a message (internal errors: the models build fixed shapes). */
#ifndef GENSWEEP_CONV_H
#define GENSWEEP_CONV_H
#include "gensweep/nn/tensor.h"

/* x (N,Cin,H,W), w (Cout,Cin,KH,KW), b (Cout) or NULL -> (N,Cout,Ho,Wo),
 * Ho = (H + 2*pad - KH)/stride + 1, Wo likewise. */
gs_tensor *gs_conv2d(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad);

/* Transposed convolution, PyTorch ConvTranspose2d semantics: x (N,Cin,H,W), w (Cin,Cout,KH,KW),
 * b (Cout) or NULL -> (N,Cout,Ho,Wo), Ho = (H-1)*stride - 2*pad + KH + out_pad (out_pad < stride). */
gs_tensor *gs_conv_transpose2d(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad,
                               int out_pad);

/* The same followed by ReLU, fused: relu(gs_conv2d(...)) and relu(gs_conv_transpose2d(...)) in one
 * op (the activation is applied as the output is written; its backward masks the output gradient
 * in place), saving the separate ReLU tensor, its pass and its gradient buffer. */
gs_tensor *gs_conv2d_relu(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad);
gs_tensor *gs_conv_transpose2d_relu(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b, int stride, int pad,
                                    int out_pad);

/* Batch normalisation per channel of (N,C,H,W), or per column of (B,N).
 * training != 0: normalise with the batch statistics (biased variance) and update running_mean /
 *   running_var in place (if not NULL) with PyTorch's convention run = (1-m)*run + m*batch, the
 *   running variance taking the unbiased batch variance.
 * training == 0: normalise with running_mean / running_var (required).
 * gamma / beta (C) are the affine parameters; either may be NULL (1 / 0). */
gs_tensor *gs_batchnorm(gs_graph *g, gs_tensor *x, gs_tensor *gamma, gs_tensor *beta, float *running_mean,
                        float *running_var, float momentum, float eps, int training);
/* The same over a data-parallel group's global batch: x holds this rank's rows, and in training
 * the per-channel sums (forward: the element count and sum x, then sum (x - mean)^2; backward:
 * sum dy and sum dy * xhat) are summed over the group with `red` (see gs_reducer), so every rank
 * normalises with the global batch's mean and variance, updates the running statistics with the
 * same numbers, and gets its rows of the global loss's input gradient. dgamma / dbeta are this
 * rank's sums: the runner sums parameter gradients over the group. red is called in the forward
 * (twice) and in the backward (once, when x needs a gradient); evaluation does not call it.
 * gs_batchnorm is this with red == NULL (a group of one). */
gs_tensor *gs_batchnorm_group(gs_graph *g, gs_tensor *x, gs_tensor *gamma, gs_tensor *beta, float *running_mean,
                              float *running_var, float momentum, float eps, int training, const gs_reducer *red);

/* (N, ...) -> (N, rest): a view, like gs_reshape. */
gs_tensor *gs_flatten(gs_graph *g, gs_tensor *x);

/* ---------------------------------------------------------------- naive references
 * Direct 7-loop convolutions and a plain batch norm kept beside the fast paths (tests and
 * benchmarks compare them).
 * Outputs are overwritten. In the backward functions any of dx, dw, db may be NULL (not wanted). */
void gs_conv2d_forward_naive(const float *x, const float *w, const float *b, float *y, int N, int Cin, int H,
                             int W, int Cout, int KH, int KW, int stride, int pad);
void gs_conv2d_backward_naive(const float *x, const float *w, const float *dy, float *dx, float *dw, float *db,
                              int N, int Cin, int H, int W, int Cout, int KH, int KW, int stride, int pad);
void gs_conv_transpose2d_forward_naive(const float *x, const float *w, const float *b, float *y, int N, int Cin,
                                       int H, int W, int Cout, int KH, int KW, int stride, int pad, int out_pad);
void gs_conv_transpose2d_backward_naive(const float *x, const float *w, const float *dy, float *dx, float *dw,
                                        float *db, int N, int Cin, int H, int W, int Cout, int KH, int KW,
                                        int stride, int pad, int out_pad);
/* Batch norm in training mode on x viewed as (N,C,P) (P = H*W, or 1 for (B,N)), in double with
 * plain loops. Forward: y = gamma*(x - mean)/sqrt(var + eps) + beta (gamma, beta may be NULL: 1,
 * 0); mean and the biased var (C) are written if not NULL. Backward: dx, dgamma, dbeta from dy
 * (any output may be NULL). */
void gs_batchnorm_forward_naive(const float *x, const float *gamma, const float *beta, float *y, float *mean,
                                float *var, int N, int C, long P, float eps);
void gs_batchnorm_backward_naive(const float *x, const float *gamma, const float *dy, float *dx, float *dgamma,
                                 float *dbeta, int N, int C, long P, float eps);

/* Samples per im2col chunk; 0 (default) chooses from the layer's size. Tests set small values to
 * exercise chunk boundaries. */
extern int gs_conv_chunk;

/* Output size of a convolution / transposed convolution along one axis. */
static inline int gs_conv_out(int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }
static inline int gs_deconv_out(int in, int k, int stride, int pad, int out_pad) {
  return (in - 1) * stride - 2 * pad + k + out_pad;
}

#endif
