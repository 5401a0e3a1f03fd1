/* Our own solver for the large linear probes: liblinear's primal problems (probe.h), every
 * one-vs-rest class at once, on dense float32 rows that may be spread over the ranks of a group.
 *
 *   objective    for each class k (y_ik = +1 when example i is of class k, else -1; x_i the
 *                standardised features followed by the bias feature 1, regularised like the
 *                weights, liblinear's -B 1):
 *                  svm  f_k(w) = 0.5 ||w||^2 + C sum_i max(0, 1 - y_ik w.x_i)^2   (liblinear -s 2)
 *                  lr   f_k(w) = 0.5 ||w||^2 + C sum_i log(1 + exp(-y_ik w.x_i))  (liblinear -s 0)
 *   method       Newton's method, steps by conjugate gradients preconditioned with the rows'
 *                Gram matrix, an exact line search; the classes advanced together so that each
 *                pass over the rows (two sgemm per block of rows) serves them all
 *                (src/probe/solver.c explains the maths).
 *   stopping     liblinear's rule for -s 0 and -s 2: class k stops when
 *                  ||grad f_k(w)|| <= eps * max(min(pos_k, neg_k), 1) / m * ||grad f_k(0)||
 *                (pos_k, neg_k: examples of class k and of the others, m: all examples), so the
 *                same eps asks for the same accuracy as liblinear does.
 *   classes      one whose examples are all positive or all negative is not fitted: it gets
 *                gs_probe_fit_class's constant decision, w = 0 and bias +1 or -1.
 *   groups       each rank holds a block of rows; the reducer (nn/tensor.h: sum(ctx, v, n)
 *                replaces v by its sum over the ranks, the same bits on every rank, as
 *                MPI_Allreduce gives) sums the per-rank pieces of the objective, the gradient
 *                and the Hessian-vector products; everything else is computed alike on every
 *                rank, so every rank ends with the same weights. Collective: every rank calls
 *                gs_solver_fit (or eval / hessvec) together. NULL: one process holds all rows.
 *   precision    rows and directions in float32 (sgemm), sums and the iterates in double.
 *                Deterministic: the same rows and the same reducer give the same bits (the
 *                preconditioner's eigendecomposition, LAPACK dsyevd, runs alike on every rank:
 *                the same OpenBLAS and thread count). A split of the rows at multiples of
 *                GS_SOLVER_BLOCK does the same float arithmetic as one process (only the order
 *                of the double sums of the blocks changes); other splits agree to float
 *                precision.
 *   cost         a pass over this rank's rows per CG iteration and per Newton step, plus one
 *                for the preconditioner's Gram matrix; memory beside X about 40 bytes per row
 *                and class. Measured on all 60000 Fashion-MNIST images (784 pixels, 10
 *                classes, eps 0.01, one thread): squared hinge 175 passes, logistic 116, each
 *                about 25-40 ms; liblinear's primal solvers take over 90 s. With few examples
 *                per feature the squared hinge is nearly separable and Newton needs many steps
 *                (1000 images: 0.8 s at eps 0.01, stopping at 67 % test accuracy where the
 *                converged fit and liblinear's dual solver give 71 %; 8.5 s at eps 1e-4):
 *                there liblinear's dual solver is the better tool.
 *   output       W (classes x (d + 1)): each class's d weights, then its bias, on the
 *                standardised features: the layout gs_probe_score reads. */
#ifndef GENSWEEP_PROBE_SOLVER_H
#define GENSWEEP_PROBE_SOLVER_H

#include "gensweep/core/common.h"
#include "gensweep/nn/tensor.h"
#include "gensweep/probe/probe.h"

/* rows per block of a pass over X: the block is read from memory by the first sgemm and from
 * cache by the second */
#define GS_SOLVER_BLOCK 256
/* the preconditioner (src/probe/solver.c) for up to this many features with the bias: it costs
 * a (d + 1)^2 Gram matrix over the rows and its eigendecomposition */
#define GS_SOLVER_PRECOND_MAX 2048

typedef struct gs_solver_data {
  const float *X;           /* m x d, row-major: this rank's rows, standardised, no bias column */
  const int *labels;        /* m labels in 0..classes-1 (any other value: negative for every class) */
  long m;                   /* this rank's rows (may be 0) */
  int d, classes;
  const gs_reducer *reduce; /* NULL: one process */
} gs_solver_data;

typedef struct gs_solver_stats {
  int newton;       /* Newton (trust-region) iterations: the most any class needed */
  int cg;           /* conjugate-gradient iterations, each one Hessian pass for the classes still in CG */
  int passes;       /* passes over the rows (objective + gradient or Hessian-vector product) */
  int unconverged;  /* classes stopped (iteration cap, no further progress in double) above the tolerance */
  double worst;     /* max over classes of ||grad f_k(w)|| / ||grad f_k(0)|| at the end */
} gs_solver_stats;

/* Fit every class: W (classes x (d + 1)). par->classifier, C (> 0) and eps (> 0) as for
 * gs_probe_fit_class. stats may be NULL. -1 with err on bad arguments (the same on every rank). */
int gs_solver_fit(const gs_solver_data *data, const gs_probe_params *par, double *W, gs_solver_stats *stats,
                  gs_error *err);

/* The pieces, for checks. A solver keeps the data's pointers (they must outlive it). */
typedef struct gs_solver gs_solver;
gs_solver *gs_solver_new(const gs_solver_data *data, const gs_probe_params *par, gs_error *err);
void gs_solver_free(gs_solver *s);
/* f[k] and the gradient G (classes x (d + 1)) of every class at W; W becomes the point of the
 * Hessian of gs_solver_hessvec. Collective. */
void gs_solver_eval(gs_solver *s, const double *W, double *f, double *G);
/* HV = H_k V_k for every class k (V, HV: classes x (d + 1)), H_k the (generalised, for the
 * squared hinge) Hessian of f_k at the last gs_solver_eval's W. Collective. */
void gs_solver_hessvec(gs_solver *s, const double *V, double *HV);
/* Minimise from w = 0 (what gs_solver_fit does with a new solver). */
void gs_solver_run(gs_solver *s, double *W, gs_solver_stats *stats);

#endif
