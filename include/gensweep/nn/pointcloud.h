/* Point-cloud ops (SCIENCE.md §3, issue 12): max over points, the Chamfer distance and an earth
 * mover's distance estimate, with naive and exact references beside them.
 *
 * Layout: a batch of B clouds of N points with F features each is one (B*N, F) tensor, cloud b in
 * rows [b*N, (b+1)*N). Coordinates are F = 3 (x, y, z).
 *
 * The shared per-point MLP needs no op of its own: gs_dense / gs_dense_relu (ops.h) on x (B*N, K)
 * with w (K, F) apply the same weights to every point of every cloud in one sgemm, and their
 * backward sums the weight gradient over all B*N rows. A (B, N*3) batch becomes (B*N, 3) with
 * gs_reshape (a view); gs_max_points then pools each cloud's points into one (B, F) row, which
 * makes the encoder a symmetric function of the points (tests/unit/test_pointcloud.c checks both,
 * by finite differences and by permuting points). */
#ifndef GENSWEEP_POINTCLOUD_H
#define GENSWEEP_POINTCLOUD_H
#include "gensweep/nn/tensor.h"

/* (B*N, F) -> (B, F): the max over each cloud's N points, per feature. The gradient goes to the
 * point that holds the max (the first one on ties, so it is deterministic). */
gs_tensor *gs_max_points(gs_graph *g, gs_tensor *x, int B, int N);

/* (R, F) -> (B, F): the max over ragged segments, cloud b in rows [start[b], start[b+1]) (each
 * segment not empty). gs_max_points is the case start[b] = b*N.
 * First row on ties; the gradient goes to the row holding the max. */
gs_tensor *gs_max_segments(gs_graph *g, gs_tensor *x, int B, const int32_t *start);

/* Critical points (Qi et al. 2017's term): the points of a cloud at which some max-pool of a shared
 * per-point MLP is attained. Only they receive a gradient: max_points' backward writes nothing to
 * any other row, and a per-point MLP's backward keeps each row's gradient in its row, so every
 * layer's weight gradient is a sum over these rows alone. Training can therefore run the taped
 * forward and the whole backward on the critical points (gathered with gs_max_segments pooling
 * them) and get the dense backward's gradient, up to the order of the float sums: a fraction of
 * the work when a cloud has many more points than pooled features. The dense path stays as the
 * reference (tests/unit/test_pointcloud.c compares them).
 *
 * The network: `layers` hidden layers, dense + ReLU, weights w[k] (K, M), biases b[k] (M); then
 * `heads` dense heads hw[h] (M_last, Z_h), hb[h] on the last hidden layer, each max-pooled; and,
 * when pool_last, the last hidden layer's own features max-pooled too. */
typedef struct {
  int layers;
  gs_tensor *const *w, *const *b;
  int heads;
  gs_tensor *const *hw, *const *hb;
  int pool_last;
} gs_point_net;

/* The forward of `net` on x (B*N, 3), without the tape, a few clouds at a time (the activations
 * stay in cache), with the operations of gs_dense_relu / gs_dense (the bias put first, sgemm with
 * beta 1); every max's argmax (the first on ties, as gs_max_points) is marked. *rows gets the
 * marked points' row numbers in x, each cloud's in increasing order, and *start (B+1) where each
 * cloud's begin (both in the graph's arena, valid for the step). Returns their number.
 * The values agree with a taped forward to rounding, not always to the bit: sgemm may round a row
 * differently in a call of another size (OpenBLAS's Haswell kernels do, for K >= 64). So where
 * two points tie for a max to within rounding, the taped pass on the gathered points may take the
 * other one, or have only one of them; the pooled value, and the gradient, move by that rounding. */
long gs_critical_points(gs_graph *g, const gs_point_net *net, const float *x, int B, int N, int32_t **rows,
                        int32_t **start);

/* Chamfer distance per cloud, a (B*N, 3), b (B*M, 3) -> (B):
 *   CD(a, b) = 1/N sum_i min_j |a_i - b_j|^2  +  1/M sum_j min_i |a_i - b_j|^2
 * (squared distances, each direction a mean over its points). All pairwise squared distances go
 * through cblas_sgemm in tiles (bounded memory); the chosen neighbour's distance is recomputed
 * from the coordinates for the value and the gradient. Gradients flow to both a and b (the
 * nearest-neighbour assignment is held fixed, as everywhere: it is piecewise constant).
 * Speed (tests/bench/bench_chamfer: B = 32 clouds of N = M = 2048 points, forward + backward, one
 * thread, CPU time; AMD EPYC, OpenBLAS 0.3.21 Haswell kernels, 2026-12-05, two runs on a loaded
 * machine): 55.3 and 56.1 ms, 2.4 G point pairs/s; counting the K = 5 product's 10 flops a pair,
 * 24 GFLOP/s, 23 % of the one-thread sgemm peak measured in the same runs (103-105 GFLOP/s);
 * 3.1x the naive reference. The rest of the time is the two nearest-neighbour scans over each
 * tile, which read every distance once more. */
gs_tensor *gs_chamfer(gs_graph *g, gs_tensor *a, gs_tensor *b, int B, int N, int M);

/* The naive reference: double loops over all pairs, distances and sums in double, first index on
 * ties. out (B) is overwritten; da (B*N*3) and db (B*M*3), each may be NULL, get the gradient of
 * sum_b out[b]. */
void gs_chamfer_naive(const float *a, const float *b, int B, int N, int M, double *out, float *da, float *db);

/* Earth mover's distance estimate for clouds of equal size, a, b (B*N, 3) -> (B): the cost of an
 * entropic optimal transport plan P between the uniform measures on the two clouds, with the
 * squared distance as ground cost,
 *   EMD ~ <P, D> = sum_ij P_ij |a_i - b_j|^2,   P >= 0, column sums 1/N, row sums ~ 1/N,
 * i.e. the mean over points of the squared distance each point is moved: the Chamfer distance's
 * units (exact EMD >= either half of the Chamfer sum), W2^2, not the unsquared EMD of Achlioptas
 * et al. 2018. P comes from log-domain Sinkhorn with exactly `iters` iterations (no convergence
 * test: the cost and the bits do not depend on the data), the temperature annealed from the
 * largest pair distance down to eps over the first 3/4 of them (eps scaling). eps is relative:
 * a multiple of the clouds' mean squared nearest-neighbour distance (half their Chamfer distance),
 * so that the error below holds at any scale and number of points.
 * The gradient is the envelope one, the plan held fixed: d/da_i = 2 sum_j P_ij (a_i - b_j), and
 * the same for b: the derivative of the entropic objective <P, D> - eps H(P) at fixed eps (the
 * usual Sinkhorn-loss gradient), not of the estimate <P, D>, which adds eps dH(P). On near clouds
 * the two agree (to 3e-7, tests/unit/test_pointcloud.c, grad.emd_envelope); on independent
 * clouds, where the plan is spread and its entropy moves with the points, they differ by 20-40 %
 * of the gradient's norm (measured on 8 and 64 uniform points in a cube).
 * Cost: 2*iters passes over an N x N matrix per cloud, N^2 floats of scratch (16 MB at N = 2048,
 * freed when the op returns): 0.5-0.6 s CPU per 2048-point cloud at the defaults here (one core).
 *
 * Relative error against the exact assignment (gs_emd_exact) at the defaults, on the unit
 * sphere's surface: a copy with noise 0.01 per coordinate; a copy with noise of half the point
 * spacing s = sqrt(4 pi / N); two independent samples. Mean (range) over 40 pairs at N = 64, 20 at
 * N = 256 (tests/unit/test_pointcloud.c, emd.sinkhorn_vs_exact, runs the first 8 and 4), 2 at
 * N = 1024 and 2048 (tests/bench/bench_chamfer --emd 2):
 *   N        noise 0.01              noise s/2               independent
 *   64     +0.01 % (0.00, +0.13)   +1.8 % (-0.5, +3.2)     -0.7 % (-4.5, +2.4)
 *   256    +0.04 % (0.00, +0.09)   +1.6 % (+0.8, +2.7)     -2.2 % (-7.4, +1.3)
 *   1024   +0.20 %                 +1.0 % (+0.6, +1.3)     -2.4 % (-4.3, -0.6)
 *   2048   +0.37 %                 +1.1 % (+0.9, +1.4)     -2.7 % (-3.2, -2.3)
 * Above 0: the entropic blur; below: rows not yet at their marginals after `iters` iterations
 * (far-apart clouds converge slowest). Alternatives at N = 256 (20 pairs; middle, independent):
 * 200 iterations +2.0 %, -0.5 % (-4.5, +2.4) at twice the cost; eps 0.1 +0.5 %, -3.0 %
 * (-8.8, +0.7); eps 0.3 +5.7 %, 0.0 % (-4.5, +3.2). */
#define GS_EMD_EPS 0.15f
#define GS_EMD_ITERS 100
gs_tensor *gs_emd_sinkhorn(gs_graph *g, gs_tensor *a, gs_tensor *b, int B, int N, float eps, int iters);

/* The same for one cloud pair a, b (N, 3), without the tape: returns <P, D>; plan (N*N, P_ij at
 * i*N + j), da and db (N*3) may each be NULL (da, db: the envelope gradient, overwritten). */
double gs_emd_sinkhorn_cloud(const float *a, const float *b, int N, float eps, int iters, float *plan, float *da,
                             float *db);

/* The exact EMD of the same definition: the optimal assignment (Hungarian method with potentials,
 * distances in double) between a and b (N, 3), returned as the mean over points of the squared
 * distance. match (N) may be NULL: a_i goes to b_match[i]. O(N^3) in the worst case, but on point
 * clouds far faster: 0.02-0.6 s CPU at N = 2048 here (near to independent clouds; bench_chamfer
 * --emd), no slower than the Sinkhorn estimate, so an evaluation can afford the exact value. */
double gs_emd_exact(const float *a, const float *b, int N, int *match);

/* The assignment behind it, for any cost matrix (n x m, row-major, n <= m): each row i gets its
 * own column match[i] (match may be NULL) so that the sum of cost[i][match[i]] is least; returns
 * that sum (NaN when a cost is NaN). Clustering accuracy uses it on a negated count table
 * (cluster/igmn.h, gs_cluster_accuracy). */
double gs_assignment_min(const double *cost, int n, int m, int *match);

#endif
