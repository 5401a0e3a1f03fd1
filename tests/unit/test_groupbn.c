/* Batch norm over a data-parallel group (gs_batchnorm_group), in one process: the "ranks" are
 * threads, each with its own graph on rows [lo, hi) of one batch, and the reducer sums over them
 * through a barrier, so the collective calls inside the forward and the backward meet as they do
 * under MPI (tests/e2e/check_groupbn.c runs the same check with mpirun).
 * - A reducer that sums over a group of one changes nothing: bit for bit gs_batchnorm, and it is
 *   called as the header says (twice forward, once backward, never in evaluation).
 * - 2 and 3 ranks (uneven rows) agree with the whole batch in one graph: outputs, input gradients,
 *   summed parameter gradients, running statistics (identical on every rank).
 * - Without the reducer (each rank its own statistics) they do not: the check can fail.
 * - Finite differences of the group's total loss against the gradients the ranks compute. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/core/rng.h"
#include "gensweep/nn/conv.h"
#include "gensweep/nn/ops.h"

#define MAX_RANKS 4
#define MAX_C 64

/* ================================================================ a group of threads */
typedef struct thread_group {
  int size;
  pthread_barrier_t barrier;
  double *slot[MAX_RANKS]; /* each rank's vector during a sum */
} thread_group;

typedef struct member {
  thread_group *group; /* NULL: counts calls only, a group of one */
  int rank;
  int calls, lengths[8]; /* what the op asked for */
} member;

/* Sums in rank order on every rank, so every rank gets the same bits (as MPI_Allreduce gives). */
static void thread_group_sum(void *ctx, double *v, int n) {
  member *m = ctx;
  if (m->calls < 8) m->lengths[m->calls] = n;
  m->calls++;
  thread_group *t = m->group;
  if (!t) return;
  double *sum = malloc(sizeof(double) * n);
  t->slot[m->rank] = v;
  pthread_barrier_wait(&t->barrier);
  for (int i = 0; i < n; i++) {
    sum[i] = 0.0;
    for (int r = 0; r < t->size; r++) sum[i] += t->slot[r][i];
  }
  pthread_barrier_wait(&t->barrier); /* every rank has read every slot before any is overwritten */
  memcpy(v, sum, sizeof(double) * n);
  free(sum);
}

/* ================================================================ one rank's step */
/* The whole batch's data; a rank reads rows [lo, hi) of x and r and writes the same rows of y and
 * dx, its own dgamma / dbeta / running statistics. loss = sum over its rows of r * batchnorm(x). */
typedef struct problem {
  int ndim, shape[4]; /* the whole batch: (B,C,H,W) or (B,C) */
  const float *x, *gamma, *beta, *r;
  int training, x_grad;
} problem;

typedef struct rank_out {
  float *y, *dx;                    /* whole-batch sized; this rank's rows written */
  float dgamma[MAX_C], dbeta[MAX_C];
  float running_mean[MAX_C], running_var[MAX_C];
  double loss;
} rank_out;

typedef struct rank_job {
  const problem *pb;
  int lo, hi;
  const gs_reducer *red;
  member *self;
  rank_out *out;
} rank_job;

static long row_len(const problem *pb) {
  long n = 1;
  for (int d = 1; d < pb->ndim; d++) n *= pb->shape[d];
  return n;
}

static void *rank_step(void *arg) {
  rank_job *j = arg;
  const problem *pb = j->pb;
  const int C = pb->shape[1];
  const long R = row_len(pb);
  int xs[4];
  memcpy(xs, pb->shape, sizeof xs);
  xs[0] = j->hi - j->lo;
  gs_params p = {0};
  gs_params_declare(&p, "x", pb->ndim, xs);
  gs_params_declare(&p, "gamma", 1, &C);
  gs_params_declare(&p, "beta", 1, &C);
  gs_params_alloc(&p);
  memcpy(p.t[0].x, pb->x + j->lo * R, sizeof(float) * xs[0] * R);
  memcpy(p.t[1].x, pb->gamma, sizeof(float) * C);
  memcpy(p.t[2].x, pb->beta, sizeof(float) * C);
  gs_graph g;
  gs_graph_init(&g, 1 << 16);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *x = pb->x_grad ? &p.t[0] : gs_wrap(&g, p.t[0].x, pb->ndim, xs);
  rank_out *o = j->out;
  gs_tensor *y = gs_batchnorm_group(&g, x, &p.t[1], &p.t[2], o->running_mean, o->running_var, 0.1f, 1e-5f,
                                    pb->training, j->red);
  gs_tensor *loss = gs_sum(&g, gs_mul(&g, y, gs_wrap(&g, (float *)pb->r + j->lo * R, pb->ndim, xs)));
  gs_backward(&g, loss, 1.0f);
  o->loss = loss->x[0];
  memcpy(o->y + j->lo * R, y->x, sizeof(float) * y->n);
  if (pb->x_grad) memcpy(o->dx + j->lo * R, p.t[0].g, sizeof(float) * y->n);
  memcpy(o->dgamma, p.t[1].g, sizeof(float) * C);
  memcpy(o->dbeta, p.t[2].g, sizeof(float) * C);
  gs_graph_free(&g);
  gs_params_free(&p);
  return NULL;
}

/* Runs the problem on `size` ranks (threads), rows split as the runner does (rank k: rows
 * [k*B/size, (k+1)*B/size)); with_reducer = 0: every rank on its own (local statistics).
 * out[k] must hold the running statistics to start from; calls[k] gets rank k's reducer calls. */
static void run_group(const problem *pb, int size, int with_reducer, rank_out *out, member *calls) {
  thread_group t = {.size = size};
  pthread_barrier_init(&t.barrier, NULL, (unsigned)size);
  member m[MAX_RANKS];
  gs_reducer red[MAX_RANKS];
  rank_job job[MAX_RANKS];
  pthread_t th[MAX_RANKS];
  const int B = pb->shape[0];
  for (int k = 0; k < size; k++) {
    m[k] = (member){.group = &t, .rank = k};
    red[k] = (gs_reducer){thread_group_sum, &m[k]};
    job[k] = (rank_job){pb, k * B / size, (k + 1) * B / size, with_reducer ? &red[k] : NULL, &m[k], &out[k]};
    cr_assert_eq(pthread_create(&th[k], NULL, rank_step, &job[k]), 0);
  }
  for (int k = 0; k < size; k++) pthread_join(th[k], NULL);
  pthread_barrier_destroy(&t.barrier);
  if (calls)
    for (int k = 0; k < size; k++) calls[k] = m[k];
}

/* ================================================================ helpers */
static void fill(gs_rng *r, float *v, long n, float lo, float hi) {
  for (long i = 0; i < n; i++) v[i] = lo + (hi - lo) * gs_rng_uniformf(r);
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

typedef struct owned_problem {
  problem pb;
  float *x, *gamma, *beta, *r;
  long n;
} owned_problem;

/* x with a channel-dependent offset and scale (spread 1: means -3 .. 3, std 0.1 .. 0.8, so that a
 * wrong mean or variance shows; spread 0: uniform in (-1, 1), where finite differences with the
 * step of test_conv.c are accurate) */
static void make_problem(owned_problem *o, int ndim, const int *shape, int training, int x_grad, int spread,
                         uint64_t seed) {
  memset(o, 0, sizeof *o);
  o->pb.ndim = ndim;
  memcpy(o->pb.shape, shape, sizeof(int) * ndim);
  o->pb.training = training;
  o->pb.x_grad = x_grad;
  const int C = shape[1];
  o->n = shape[0] * row_len(&o->pb);
  o->x = malloc(sizeof(float) * o->n);
  o->r = malloc(sizeof(float) * o->n);
  o->gamma = malloc(sizeof(float) * C);
  o->beta = malloc(sizeof(float) * C);
  gs_rng rng;
  gs_rng_seed(&rng, seed, 0, 5);
  fill(&rng, o->x, o->n, -1, 1);
  const long P = row_len(&o->pb) / C;
  for (long i = 0; spread && i < o->n; i++) {
    const int c = (int)(i / P % C);
    o->x[i] = o->x[i] * (0.2f + 0.4f * (c % 4)) + (float)(c % 7) - 3.0f;
  }
  fill(&rng, o->r, o->n, -1, 1);
  fill(&rng, o->gamma, C, 0.5f, 1.5f);
  fill(&rng, o->beta, C, -1, 1);
  o->pb.x = o->x;
  o->pb.r = o->r;
  o->pb.gamma = o->gamma;
  o->pb.beta = o->beta;
}
static void free_problem(owned_problem *o) {
  free(o->x);
  free(o->r);
  free(o->gamma);
  free(o->beta);
}

static void init_out(rank_out *o, long n, int C) {
  memset(o, 0, sizeof *o);
  o->y = calloc(n, sizeof(float));
  o->dx = calloc(n, sizeof(float));
  for (int c = 0; c < C; c++) {
    o->running_mean[c] = 0.1f * c;
    o->running_var[c] = 1.0f + 0.05f * c;
  }
}
static void free_out(rank_out *o) {
  free(o->y);
  free(o->dx);
}

/* ================================================================ a group of one */
/* The reducer of a group of one (it counts calls and adds nothing) against gs_batchnorm: the same
 * bits, and the calls the header promises. */
static void group_of_one(int ndim, const int *shape, int training, int x_grad) {
  owned_problem o;
  make_problem(&o, ndim, shape, training, x_grad, 1, 11);
  const int C = shape[1];
  rank_out with, without;
  init_out(&with, o.n, C);
  init_out(&without, o.n, C);
  /* gs_batchnorm itself, through a rank without a reducer */
  member solo = {0};
  gs_reducer red = {thread_group_sum, &solo};
  rank_job j1 = {&o.pb, 0, shape[0], NULL, NULL, &without};
  rank_step(&j1);
  rank_job j2 = {&o.pb, 0, shape[0], &red, &solo, &with};
  rank_step(&j2);
  const char *what = training ? "training" : "evaluation";
  cr_expect(memcmp(with.y, without.y, sizeof(float) * o.n) == 0, "%dd %s: outputs differ", ndim, what);
  cr_expect(memcmp(with.dx, without.dx, sizeof(float) * o.n) == 0, "%dd %s: dx differs", ndim, what);
  cr_expect(memcmp(with.dgamma, without.dgamma, sizeof(float) * C) == 0, "%dd %s: dgamma differs", ndim, what);
  cr_expect(memcmp(with.dbeta, without.dbeta, sizeof(float) * C) == 0, "%dd %s: dbeta differs", ndim, what);
  cr_expect(memcmp(with.running_mean, without.running_mean, sizeof(float) * C) == 0, "%dd %s: running mean", ndim,
            what);
  cr_expect(memcmp(with.running_var, without.running_var, sizeof(float) * C) == 0, "%dd %s: running var", ndim,
            what);
  if (!training) cr_expect_eq(solo.calls, 0, "evaluation reduces nothing (%d calls)", solo.calls);
  else {
    cr_expect_eq(solo.calls, x_grad ? 3 : 2, "%dd: %d reducer calls", ndim, solo.calls);
    cr_expect(solo.lengths[0] == C + 1 && solo.lengths[1] == C, "forward: sum x and the count, then sum (x-mean)^2");
    if (x_grad) cr_expect_eq(solo.lengths[2], 2 * C, "backward: sum dy and sum dy*xhat");
  }
  free_out(&with);
  free_out(&without);
  free_problem(&o);
}

Test(groupbn, group_of_one_is_gs_batchnorm) {
  const int s4[4] = {5, 3, 5, 4}, s2[2] = {6, 7};
  for (int training = 0; training < 2; training++) {
    group_of_one(4, s4, training, 1);
    group_of_one(2, s2, training, 1);
  }
  group_of_one(4, s4, 1, 0); /* x without a gradient (data): the backward needs no group sums */
}

/* ================================================================ split against whole */
typedef struct split_diff {
  double y, dx, dgamma, dbeta, rmean, rvar;
} split_diff;

/* The problem on `size` ranks against one rank on the whole batch; every rank's running
 * statistics must be bit-identical to rank 0's. */
static split_diff split_vs_whole(int ndim, const int *shape, int size, int with_reducer) {
  owned_problem o;
  make_problem(&o, ndim, shape, 1, 1, 1, 23);
  const int C = shape[1];
  rank_out whole, part[MAX_RANKS];
  init_out(&whole, o.n, C);
  run_group(&o.pb, 1, 0, &whole, NULL);
  for (int k = 0; k < size; k++) init_out(&part[k], o.n, C);
  member calls[MAX_RANKS];
  run_group(&o.pb, size, with_reducer, part, calls);
  /* each rank wrote its own rows: gather them into part[0] */
  float *y = calloc(o.n, sizeof(float)), *dx = calloc(o.n, sizeof(float));
  const long R = row_len(&o.pb);
  float dgamma[MAX_C] = {0}, dbeta[MAX_C] = {0};
  for (int k = 0; k < size; k++) {
    const long lo = (long)k * shape[0] / size * R, hi = (long)(k + 1) * shape[0] / size * R;
    memcpy(y + lo, part[k].y + lo, sizeof(float) * (hi - lo));
    memcpy(dx + lo, part[k].dx + lo, sizeof(float) * (hi - lo));
    for (int c = 0; c < C; c++) { /* the runner's sum of parameter gradients */
      dgamma[c] += part[k].dgamma[c];
      dbeta[c] += part[k].dbeta[c];
    }
    if (with_reducer) {
      cr_expect_eq(calls[k].calls, 3, "rank %d: %d reducer calls", k, calls[k].calls);
      cr_expect(memcmp(part[k].running_mean, part[0].running_mean, sizeof(float) * C) == 0 &&
                    memcmp(part[k].running_var, part[0].running_var, sizeof(float) * C) == 0,
                "rank %d's running statistics differ from rank 0's", k);
    }
  }
  split_diff d = {rel_diff(y, whole.y, o.n),
                  rel_diff(dx, whole.dx, o.n),
                  rel_diff(dgamma, whole.dgamma, C),
                  rel_diff(dbeta, whole.dbeta, C),
                  rel_diff(part[0].running_mean, whole.running_mean, C),
                  rel_diff(part[0].running_var, whole.running_var, C)};
  free(y);
  free(dx);
  free_out(&whole);
  for (int k = 0; k < size; k++) free_out(&part[k]);
  free_problem(&o);
  return d;
}

static void expect_split_matches(int ndim, const int *shape, int size) {
  split_diff d = split_vs_whole(ndim, shape, size, 1);
  const double tol = 1e-5;
  cr_log_info("%dd B=%d on %d ranks: rel diff y %.2g dx %.2g dgamma %.2g dbeta %.2g running mean %.2g var %.2g", ndim,
              shape[0], size, d.y, d.dx, d.dgamma, d.dbeta, d.rmean, d.rvar);
  cr_expect(d.y < tol && d.dx < tol && d.dgamma < tol && d.dbeta < tol && d.rmean < tol && d.rvar < tol,
            "%dd B=%d on %d ranks differs from the whole batch: y %g dx %g dgamma %g dbeta %g running mean %g var %g",
            ndim, shape[0], size, d.y, d.dx, d.dgamma, d.dbeta, d.rmean, d.rvar);
}

Test(groupbn, split_matches_whole_nchw) {
  const int s[4] = {8, 4, 5, 4};
  expect_split_matches(4, s, 2);
  const int u[4] = {7, 3, 3, 6}; /* 2, 2, 3 rows */
  expect_split_matches(4, u, 3);
}
Test(groupbn, split_matches_whole_2d) {
  const int s[2] = {8, 6};
  expect_split_matches(2, s, 2);
  const int u[2] = {10, 33}; /* 2, 3, 2, 3 rows; 33 columns: the 16-wide sums and a tail */
  expect_split_matches(2, u, 4);
}

/* Local statistics (no reducer) on the same split: far off, so the checks above can fail. */
Test(groupbn, local_statistics_differ) {
  const int s[4] = {8, 4, 5, 4};
  split_diff d = split_vs_whole(4, s, 2, 0);
  cr_log_info("local statistics on 2 ranks: rel diff y %.2g dx %.2g running mean %.2g var %.2g", d.y, d.dx, d.rmean,
              d.rvar);
  cr_expect(d.y > 1e-2 && d.dx > 1e-2 && d.rmean > 1e-3, "y %g dx %g running mean %g", d.y, d.dx, d.rmean);
}

/* ================================================================ finite differences */
/* d(total loss over the group)/d(input) by central differences, each evaluation a whole group
 * step, against the ranks' gradients (x rows from their ranks, gamma and beta summed). */
static void group_gradcheck(int ndim, const int *shape, int size) {
  owned_problem o;
  make_problem(&o, ndim, shape, 1, 1, 0, 37);
  const int C = shape[1];
  rank_out part[MAX_RANKS];
  for (int k = 0; k < size; k++) init_out(&part[k], o.n, C);
  run_group(&o.pb, size, 1, part, NULL);
  /* analytic: x gradient row by row from its rank, then gamma, beta summed over ranks */
  const long R = row_len(&o.pb);
  float *ana = calloc(o.n + 2 * C, sizeof(float));
  for (int k = 0; k < size; k++) {
    const long lo = (long)k * shape[0] / size * R, hi = (long)(k + 1) * shape[0] / size * R;
    memcpy(ana + lo, part[k].dx + lo, sizeof(float) * (hi - lo));
    for (int c = 0; c < C; c++) {
      ana[o.n + c] += part[k].dgamma[c];
      ana[o.n + C + c] += part[k].dbeta[c];
    }
  }
  float *v[3] = {o.x, o.gamma, o.beta};
  long nv[3] = {o.n, C, C}, base = 0;
  int bad = 0;
  for (int i = 0; i < 3; base += nv[i], i++)
    for (long k = 0; k < nv[i]; k++) {
      const float old = v[i][k], h = 1e-2f * fmaxf(1.0f, fabsf(old));
      double l[2];
      for (int sgn = 0; sgn < 2; sgn++) {
        v[i][k] = sgn ? old - h : old + h;
        run_group(&o.pb, size, 1, part, NULL);
        l[sgn] = 0;
        for (int q = 0; q < size; q++) l[sgn] += part[q].loss;
      }
      v[i][k] = old;
      const double num = (l[0] - l[1]) / (2.0 * h), a = ana[base + k];
      const double err = fabs(a - num) / fmax(1.0, fmax(fabs(a), fabs(num)));
      if (err > 5e-3) {
        if (bad < 5) cr_log_error("%dd on %d ranks: input %d elem %ld: analytic %g numeric %g", ndim, size, i, k, a, num);
        bad++;
      }
    }
  cr_expect_eq(bad, 0, "%dd on %d ranks: %d gradient entries differ from finite differences", ndim, size, bad);
  free(ana);
  for (int k = 0; k < size; k++) free_out(&part[k]);
  free_problem(&o);
}

Test(groupbn, grad_nchw_two_ranks) {
  const int s[4] = {4, 2, 3, 2};
  group_gradcheck(4, s, 2);
}
Test(groupbn, grad_2d_three_ranks) {
  const int s[2] = {7, 3};
  group_gradcheck(2, s, 3);
}
