/* Batch norm over a data-parallel group under MPI (used by tests/e2e/test_groupbn.sh).
 *   mpirun -np R check_groupbn [--local]
 * Every rank builds the same small graph on its rows [lo, hi) of one fixed batch of B = 8, as a
 * model's step does in a worker group:
 *   x (B,2,6,6) -> conv 3x3 pad 1 (4 channels, no bias) -> batch norm (N,C,H,W) -> leaky relu 0.2
 *     -> flatten (B,144) -> batch norm (B,N) -> tanh -> loss = sum over rows of r * . / B
 * (no bias before a batch norm, as in DCGAN: the norm cancels it, so its gradient is zero up to
 * rounding and a relative comparison of it would compare rounding noise)
 * with the reducer MPI_Allreduce(MPI_SUM) over MPI_COMM_WORLD, the loss gradient seeded with 1/B
 * and the parameter gradients then summed over the ranks, as the runner does. Rank 0 then runs
 * the whole batch alone (no reducer) and compares: the outputs, the loss, the input gradient row
 * by row, the parameter gradients and every rank's running statistics, each by
 * max |split - whole| / max |whole|, which must stay below 1e-5; the running statistics must also
 * be the same bits on every rank. Prints the differences.
 * --local: the split run without the reducer (every rank its own batch statistics); the check
 * must then fail, which test_groupbn.sh verifies, so a missing reduction cannot pass unseen.
 * Exit status: 0 all within tolerance, 1 not. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/core/rng.h"
#include "gensweep/nn/conv.h"
#include "gensweep/nn/ops.h"

enum { B = 8, CIN = 2, H = 6, W = 6, C = 4, F = C * H * W };
#define TOL 1e-5

/* Parameters, in one block like a model's; x last, because its rows differ between ranks. */
enum { CONV_W, BN1_GAMMA, BN1_BETA, BN2_GAMMA, BN2_BETA, X, NPARAM };
static const char *NAMES[NPARAM] = {"conv_w", "bn1_gamma", "bn1_beta", "bn2_gamma", "bn2_beta", "x"};

/* The fixed batch and the starting values every rank derives from the same seed. */
typedef struct batch {
  float x[B * CIN * H * W], r[B * F];
  float params[NPARAM - 1][C * CIN * 9 > F ? C * CIN * 9 : F];
} batch;

/* Running statistics of both batch norms: model state, one copy per rank. */
typedef struct running {
  float mean1[C], var1[C], mean2[F], var2[F];
} running;

typedef struct result {
  float y[B * F], dx[B * CIN * H * W]; /* rows [lo, hi) */
  float *grad;                         /* the model parameters' gradients (block before x) */
  long ngrad;
  double loss;                         /* this rank's rows' sum, / B */
  running run;
  int reducer_calls;
} result;

typedef struct mpi_group {
  MPI_Comm comm;
  int calls;
} mpi_group;

static void mpi_sum(void *ctx, double *v, int n) {
  mpi_group *m = ctx;
  m->calls++;
  MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, m->comm);
}

static void make_batch(batch *b) {
  gs_rng r;
  gs_rng_seed(&r, 2024, 0, 1);
  for (int i = 0; i < B * CIN * H * W; i++) /* channel means 0.5 and -1: far from 0 */
    b->x[i] = 2.0f * gs_rng_uniformf(&r) - 1.0f + (i / (H * W) % CIN ? -1.0f : 0.5f);
  for (int i = 0; i < B * F; i++) b->r[i] = 2.0f * gs_rng_uniformf(&r) - 1.0f;
  for (int p = 0; p < NPARAM - 1; p++)
    for (int i = 0; i < F; i++) {
      const float u = 2.0f * gs_rng_uniformf(&r) - 1.0f;
      /* gammas in (0.5, 1.5) */
      b->params[p][i] = (p == BN1_GAMMA || p == BN2_GAMMA) ? 1.0f + 0.5f * u : 0.5f * u;
    }
}

static void init_running(running *s) {
  for (int c = 0; c < C; c++) {
    s->mean1[c] = 0.0f;
    s->var1[c] = 1.0f;
  }
  for (int i = 0; i < F; i++) {
    s->mean2[i] = 0.0f;
    s->var2[i] = 1.0f;
  }
}

/* One training step on rows [lo, hi); red == NULL: no group. */
static void step(const batch *b, int lo, int hi, const gs_reducer *red, result *out) {
  const int n = hi - lo;
  const int shapes[NPARAM][4] = {{C, CIN, 3, 3}, {C}, {C}, {F}, {F}, {n, CIN, H, W}};
  const int ndims[NPARAM] = {4, 1, 1, 1, 1, 4};
  gs_params p = {0};
  for (int i = 0; i < NPARAM; i++) gs_params_declare(&p, NAMES[i], ndims[i], shapes[i]);
  gs_params_alloc(&p);
  for (int i = 0; i < NPARAM - 1; i++) memcpy(p.t[i].x, b->params[i], sizeof(float) * p.t[i].n);
  memcpy(p.t[X].x, b->x + (long)lo * CIN * H * W, sizeof(float) * p.t[X].n);
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, &p, 1);
  running *s = &out->run;
  gs_tensor *h = gs_conv2d(&g, &p.t[X], &p.t[CONV_W], NULL, 1, 1);
  h = gs_batchnorm_group(&g, h, &p.t[BN1_GAMMA], &p.t[BN1_BETA], s->mean1, s->var1, 0.1f, 1e-5f, 1, red);
  h = gs_flatten(&g, gs_leaky_relu(&g, h, 0.2f));
  h = gs_batchnorm_group(&g, h, &p.t[BN2_GAMMA], &p.t[BN2_BETA], s->mean2, s->var2, 0.1f, 1e-5f, 1, red);
  gs_tensor *y = gs_tanh(&g, h);
  gs_tensor *loss = gs_sum(&g, gs_mul(&g, y, gs_wrap2(&g, (float *)b->r + (long)lo * F, n, F)));
  gs_backward(&g, loss, 1.0f / B); /* the runner's seed: the loss is a mean over the global batch */
  out->loss = loss->x[0] / B;
  memcpy(out->y + (long)lo * F, y->x, sizeof(float) * y->n);
  memcpy(out->dx + (long)lo * CIN * H * W, p.t[X].g, sizeof(float) * p.t[X].n);
  out->ngrad = p.info[X].offset;
  out->grad = malloc(sizeof(float) * out->ngrad);
  memcpy(out->grad, p.grad, sizeof(float) * out->ngrad);
  gs_graph_free(&g);
  gs_params_free(&p);
}

/* max |a-b| / max |b| */
static double rel_diff(const float *a, const float *b, long n) {
  double m = 0, s = 0;
  for (long i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (!(d <= m)) m = d; /* NaN sticks */
    if (fabs(b[i]) > s) s = fabs(b[i]);
  }
  return s > 0 ? m / s : m;
}

static int fails;
static double worst;
static void report(const char *what, double d) {
  const int bad = !(d < TOL);
  printf("  %-34s %.3g%s\n", what, d, bad ? "  > tolerance" : "");
  fails += bad;
  if (!(d <= worst)) worst = d;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int local = argc > 1 && !strcmp(argv[1], "--local");
  if (argc > 2 || (argc == 2 && !local)) {
    if (rank == 0) fprintf(stderr, "usage: mpirun -np R check_groupbn [--local]\n");
    MPI_Finalize();
    return 2;
  }
  if (size > B) {
    if (rank == 0) fprintf(stderr, "check_groupbn: at most %d ranks (one row each)\n", B);
    MPI_Finalize();
    return 2;
  }
  batch *b = malloc(sizeof *b);
  make_batch(b);
  const int lo = rank * B / size, hi = (rank + 1) * B / size; /* the runner's split */

  /* the split run: every rank its rows, the group sums through MPI */
  mpi_group grp = {MPI_COMM_WORLD, 0};
  gs_reducer red = {mpi_sum, &grp};
  result *part = calloc(1, sizeof *part);
  init_running(&part->run);
  step(b, lo, hi, local ? NULL : &red, part);
  part->reducer_calls = grp.calls;
  MPI_Allreduce(MPI_IN_PLACE, part->grad, (int)part->ngrad, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  double loss = 0;
  MPI_Allreduce(&part->loss, &loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  /* rows to rank 0 */
  int counts[B], displs[B];
  for (int k = 0; k < size; k++) {
    displs[k] = k * B / size;
    counts[k] = (k + 1) * B / size - displs[k];
  }
  int cy[B], dy[B], cx[B], dxs[B];
  for (int k = 0; k < size; k++) {
    cy[k] = counts[k] * F;
    dy[k] = displs[k] * F;
    cx[k] = counts[k] * CIN * H * W;
    dxs[k] = displs[k] * CIN * H * W;
  }
  float *y = malloc(sizeof(float) * B * F), *dx = malloc(sizeof(float) * B * CIN * H * W);
  MPI_Gatherv(part->y + (long)lo * F, (hi - lo) * F, MPI_FLOAT, y, cy, dy, MPI_FLOAT, 0, MPI_COMM_WORLD);
  MPI_Gatherv(part->dx + (long)lo * CIN * H * W, (hi - lo) * CIN * H * W, MPI_FLOAT, dx, cx, dxs, MPI_FLOAT, 0,
              MPI_COMM_WORLD);
  const int nrun = (int)(sizeof(running) / sizeof(float));
  running *runs = malloc(sizeof(running) * size);
  MPI_Gather(&part->run, nrun, MPI_FLOAT, runs, nrun, MPI_FLOAT, 0, MPI_COMM_WORLD);
  int calls[B];
  MPI_Gather(&part->reducer_calls, 1, MPI_INT, calls, 1, MPI_INT, 0, MPI_COMM_WORLD);

  if (rank == 0) {
    /* the whole batch in one process, no group */
    result *whole = calloc(1, sizeof *whole);
    init_running(&whole->run);
    step(b, 0, B, NULL, whole);
    printf("check_groupbn: B = %d on %d ranks%s, against the whole batch on one; max |split - whole| / max |whole|:\n",
           B, size, local ? " WITHOUT the reducer (local statistics)" : "");
    report("loss", fabs(loss - whole->loss) / fabs(whole->loss));
    report("output rows", rel_diff(y, whole->y, B * F));
    report("input gradient rows", rel_diff(dx, whole->dx, B * CIN * H * W));
    gs_params p = {0}; /* names and offsets of the block */
    const int shapes[NPARAM][4] = {{C, CIN, 3, 3}, {C}, {C}, {F}, {F}, {B, CIN, H, W}};
    const int ndims[NPARAM] = {4, 1, 1, 1, 1, 4};
    for (int i = 0; i < NPARAM; i++) gs_params_declare(&p, NAMES[i], ndims[i], shapes[i]);
    char what[64];
    for (int i = 0; i < NPARAM - 1; i++) {
      snprintf(what, sizeof what, "gradient of %s (summed)", NAMES[i]);
      report(what, rel_diff(part->grad + p.info[i].offset, whole->grad + p.info[i].offset, p.info[i].n));
    }
    double rs = 0;
    int same = 1;
    for (int k = 0; k < size; k++) {
      double d = fmax(fmax(rel_diff(runs[k].mean1, whole->run.mean1, C), rel_diff(runs[k].var1, whole->run.var1, C)),
                      fmax(rel_diff(runs[k].mean2, whole->run.mean2, F), rel_diff(runs[k].var2, whole->run.var2, F)));
      if (!(d <= rs)) rs = d;
      same &= memcmp(&runs[k], &runs[0], sizeof(running)) == 0;
    }
    report("running statistics (every rank)", rs);
    printf("  running statistics the same bits on every rank: %s\n", same ? "yes" : "NO");
    fails += !same;
    int calls_ok = 1;
    for (int k = 0; k < size; k++) calls_ok &= calls[k] == (local ? 0 : 6);
    printf("  reducer calls per rank: %d (want %s)%s\n", calls[0],
           local ? "0: no reducer" : "6: 2 batch norms x (2 forward + 1 backward)", calls_ok ? "" : ", NOT on every rank");
    fails += !calls_ok;
    printf("%s (largest difference %.3g, tolerance %g)\n", fails ? "FAIL" : "PASS", worst, TOL);
    free(whole->grad);
    free(whole);
  }
  MPI_Bcast(&fails, 1, MPI_INT, 0, MPI_COMM_WORLD);
  free(part->grad);
  free(part);
  free(runs);
  free(y);
  free(dx);
  free(b);
  MPI_Finalize();
  return fails ? 1 : 0;
}
