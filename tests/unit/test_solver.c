/* The probes' own primal solver (probe/solver.h): the objective it reaches against liblinear's
 * primal solvers on the same problems, the rows split over two "ranks" (threads summing through
 * an in-process reducer), finite-difference checks of its gradient and Hessian-vector product,
 * the regularised bias, constant classes, and determinism. */
#include <criterion/criterion.h>
#include <linear.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/core/rng.h"
#include "gensweep/probe/solver.h"

/* ------------------------------------------------------------------ problems */
typedef struct dense {
  int m, d, K;
  float *X, *T; /* m x d training rows, m x d test rows, standardised with the training statistics */
  int *y, *yt;
} dense;

/* Overlapping classes: a random linear teacher's argmax of noisy scores on shifted, scaled
 * Gaussian features (so that standardising does something); the test rows alike. */
static dense make_problem(int m, int d, int K, uint64_t seed) {
  dense p = {.m = m, .d = d, .K = K};
  p.X = malloc(sizeof(float) * m * d), p.T = malloc(sizeof(float) * m * d);
  p.y = malloc(sizeof(int) * m), p.yt = malloc(sizeof(int) * m);
  gs_rng r;
  gs_rng_seed(&r, seed, 0, GS_RNG_DATA);
  double *A = malloc(sizeof(double) * K * d), *mu = malloc(sizeof(double) * d), *sd = malloc(sizeof(double) * d);
  for (int i = 0; i < K * d; i++) A[i] = gs_rng_normal(&r);
  for (int j = 0; j < d; j++) mu[j] = 3.0 * gs_rng_normal(&r), sd[j] = 0.5 + 2.0 * gs_rng_uniform(&r);
  for (int set = 0; set < 2; set++)
    for (int i = 0; i < m; i++) {
      float *x = (set ? p.T : p.X) + (long)i * d;
      for (int j = 0; j < d; j++) x[j] = (float)(mu[j] + sd[j] * gs_rng_normal(&r));
      double best = -INFINITY;
      for (int k = 0; k < K; k++) {
        double s = 3.0 * gs_rng_normal(&r) + (k == 0 ? 4.0 : 0.0); /* class 0 the largest */
        for (int j = 0; j < d; j++) s += A[k * d + j] * (x[j] - mu[j]) / sd[j];
        if (s > best) best = s, (set ? p.yt : p.y)[i] = k;
      }
    }
  long *idx = malloc(sizeof(long) * m);
  for (int i = 0; i < m; i++) idx[i] = i;
  double *mean = malloc(sizeof(double) * d), *scale = malloc(sizeof(double) * d);
  gs_probe_standardisation(p.X, d, idx, m, mean, scale);
  for (long i = 0; i < (long)m * d; i++) {
    int j = (int)(i % d);
    p.X[i] = (float)((p.X[i] - mean[j]) * scale[j]);
    p.T[i] = (float)((p.T[i] - mean[j]) * scale[j]);
  }
  free(A), free(mu), free(sd), free(idx), free(mean), free(scale);
  return p;
}

static void problem_free(dense *p) { free(p->X), free(p->T), free(p->y), free(p->yt); }

static gs_solver_data data_of(const dense *p) {
  return (gs_solver_data){.X = p->X, .labels = p->y, .m = p->m, .d = p->d, .classes = p->K};
}

/* liblinear's primal objective of class k at w (d + 1), in double from the float rows. */
static double objective(const dense *p, int k, const double *w, int svm, double C) {
  double f = 0;
  for (int j = 0; j <= p->d; j++) f += 0.5 * w[j] * w[j];
  for (int i = 0; i < p->m; i++) {
    double z = w[p->d], y = p->y[i] == k ? 1.0 : -1.0;
    for (int j = 0; j < p->d; j++) z += w[j] * p->X[(long)i * p->d + j];
    double t = y * z;
    f += C * (svm ? (t < 1 ? (1 - t) * (1 - t) : 0.0) : (t > 0 ? log1p(exp(-t)) : -t + log1p(exp(t))));
  }
  return f;
}

/* Its gradient's bias component: b + C sum_i phi'(y_i z_i) y_i. */
static double bias_gradient(const dense *p, int k, const double *w, int svm, double C) {
  double g = w[p->d];
  for (int i = 0; i < p->m; i++) {
    double z = w[p->d], y = p->y[i] == k ? 1.0 : -1.0;
    for (int j = 0; j < p->d; j++) z += w[j] * p->X[(long)i * p->d + j];
    double t = y * z;
    g += C * y * (svm ? (t < 1 ? -2 * (1 - t) : 0.0) : -1.0 / (1.0 + exp(t)));
  }
  return g;
}

static void quiet(const char *s) { (void)s; }

/* liblinear's own primal solver (-s 2 or -s 0 with a bias feature of 1) on the same float rows. */
static void liblinear_fit(const dense *p, int k, int svm, double C, double eps, double *w) {
  set_print_string_function(quiet);
  int m = p->m, d = p->d;
  struct feature_node *nodes = malloc(sizeof(struct feature_node) * m * (d + 2));
  struct feature_node **rows = malloc(sizeof(struct feature_node *) * m);
  double *y = malloc(sizeof(double) * m);
  for (int i = 0; i < m; i++) {
    struct feature_node *o = rows[i] = nodes + (long)i * (d + 2);
    for (int j = 0; j < d; j++) o[j] = (struct feature_node){.index = j + 1, .value = p->X[(long)i * d + j]};
    o[d] = (struct feature_node){.index = d + 1, .value = 1.0};
    o[d + 1] = (struct feature_node){.index = -1};
    y[i] = p->y[i] == k ? 1.0 : -1.0;
  }
  struct problem prob = {.l = m, .n = d + 1, .y = y, .x = rows, .bias = -1};
  struct parameter par = {.solver_type = svm ? L2R_L2LOSS_SVC : L2R_LR, .eps = eps, .C = C, .p = 0.1};
  cr_assert_null(check_parameter(&prob, &par));
  struct model *mod = train(&prob, &par);
  double sign = mod->label[0] == 1 ? 1.0 : -1.0;
  for (int j = 0; j <= d; j++) w[j] = sign * mod->w[j];
  free_and_destroy_model(&mod);
  free(nodes), free(rows), free(y);
}

/* Test rows right under W (K x (d + 1)): the largest decision value's class. */
static int correct(const dense *p, const double *W) {
  int right = 0;
  for (int i = 0; i < p->m; i++) {
    int best = 0;
    double bv = -INFINITY;
    for (int k = 0; k < p->K; k++) {
      const double *w = W + (long)k * (p->d + 1);
      double s = w[p->d];
      for (int j = 0; j < p->d; j++) s += w[j] * p->T[(long)i * p->d + j];
      if (s > bv) bv = s, best = k;
    }
    right += best == p->yt[i];
  }
  return right;
}

static double rel_diff(const double *a, const double *b, long n) {
  double d = 0, s = 0;
  for (long i = 0; i < n; i++) d += (a[i] - b[i]) * (a[i] - b[i]), s += b[i] * b[i];
  return sqrt(d / s);
}

/* ------------------------------------------------------------------ against liblinear */
/* m = 500, d = 30, 4 classes, tight eps: every class's objective within 1e-6 relative of
 * liblinear's, and the test accuracy within one example, for both losses and two values of C. */
Test(solver, reaches_liblinears_objective_and_accuracy) {
  dense p = make_problem(500, 30, 4, 11);
  long n1 = p.d + 1;
  double *W = malloc(sizeof(double) * p.K * n1), *L = malloc(sizeof(double) * p.K * n1);
  const double Cs[2] = {1.0, 0.01};
  for (int svm = 0; svm < 2; svm++)
    for (int c = 0; c < 2; c++) {
      gs_probe_params par = {.classifier = svm ? GS_PROBE_SVM : GS_PROBE_LR, .C = Cs[c], .eps = 1e-6};
      gs_solver_data data = data_of(&p);
      gs_solver_stats st;
      gs_error err = {0};
      cr_assert_eq(gs_solver_fit(&data, &par, W, &st, &err), 0, "%s", err.msg);
      cr_assert_eq(st.unconverged, 0, "%s C %g: %d classes above the tolerance", svm ? "svm" : "lr", Cs[c],
                   st.unconverged);
      double worst = 0;
      for (int k = 0; k < p.K; k++) {
        liblinear_fit(&p, k, svm, Cs[c], 1e-6, L + k * n1);
        double fo = objective(&p, k, W + k * n1, svm, Cs[c]), fl = objective(&p, k, L + k * n1, svm, Cs[c]);
        cr_assert(fabs(fo - fl) <= 1e-6 * fl, "%s C %g class %d: objective %.12g, liblinear %.12g",
                  svm ? "svm" : "lr", Cs[c], k, fo, fl);
        worst = fmax(worst, (fo - fl) / fl);
      }
      int ro = correct(&p, W), rl = correct(&p, L);
      cr_log_info("%s C %g: objective (own - liblinear) / liblinear at most %.2g; %d and %d of %d right; "
                  "%d Newton, %d CG, %d passes", svm ? "svm" : "lr", Cs[c], worst, ro, rl, p.m, st.newton, st.cg,
                  st.passes);
      cr_assert(abs(ro - rl) <= 1, "%s C %g: %d test rows right, liblinear %d", svm ? "svm" : "lr", Cs[c], ro, rl);
    }
  free(W), free(L);
  problem_free(&p);
}

/* At liblinear's default eps (0.01) both stop early, at different points: test accuracy within
 * 0.3 points (the probes' requirement on Fashion-MNIST). */
Test(solver, default_tolerance_matches_liblinears_accuracy) {
  dense p = make_problem(2000, 30, 4, 12);
  long n1 = p.d + 1;
  double *W = malloc(sizeof(double) * p.K * n1), *L = malloc(sizeof(double) * p.K * n1);
  for (int svm = 0; svm < 2; svm++) {
    gs_probe_params par = {.classifier = svm ? GS_PROBE_SVM : GS_PROBE_LR, .C = 1.0, .eps = 0.01};
    gs_solver_data data = data_of(&p);
    gs_error err = {0};
    cr_assert_eq(gs_solver_fit(&data, &par, W, NULL, &err), 0, "%s", err.msg);
    for (int k = 0; k < p.K; k++) liblinear_fit(&p, k, svm, 1.0, 0.01, L + k * n1);
    int ro = correct(&p, W), rl = correct(&p, L);
    cr_log_info("%s eps 0.01: %d and %d of %d right", svm ? "svm" : "lr", ro, rl, p.m);
    cr_assert(abs(ro - rl) <= 0.003 * p.m, "%s: %d test rows right, liblinear %d", svm ? "svm" : "lr", ro, rl);
  }
  free(W), free(L);
  problem_free(&p);
}

/* ------------------------------------------------------------------ the bias */
/* One class against three: the best bias is far from 0. The solution's bias matches liblinear's
 * and the bias component of the gradient with the bias regularised, b + C sum_i phi'(t_i) y_i,
 * vanishes there: a solver that left the bias unregularised would zero C sum_i phi' y_i alone and
 * leave this component at b; one without a bias would keep b = 0. (Both fail here: checked by
 * breaking the solver on purpose.) */
Test(solver, bias_is_present_and_regularised) {
  dense p = make_problem(500, 30, 4, 13);
  long n1 = p.d + 1;
  double W[4 * 31], L[31];
  for (int svm = 0; svm < 2; svm++) {
    gs_probe_params par = {.classifier = svm ? GS_PROBE_SVM : GS_PROBE_LR, .C = 1.0, .eps = 1e-6};
    gs_solver_data data = data_of(&p);
    gs_error err = {0};
    cr_assert_eq(gs_solver_fit(&data, &par, W, NULL, &err), 0, "%s", err.msg);
    for (int k = 1; k < p.K; k++) {
      double b = W[k * n1 + p.d], zero[31] = {0};
      cr_assert_lt(b, -0.3, "%s class %d: bias %g, expected clearly negative (a minority class)", svm ? "svm" : "lr",
                   k, b);
      double g = bias_gradient(&p, k, W + k * n1, svm, 1.0), g0 = fabs(bias_gradient(&p, k, zero, svm, 1.0));
      cr_assert(fabs(g) <= 1e-6 * g0 && fabs(g) < 1e-3 * fabs(b), "%s class %d: bias gradient %g (bias %g)",
                svm ? "svm" : "lr", k, g, b);
      liblinear_fit(&p, k, svm, 1.0, 1e-6, L);
      cr_assert(fabs(b - L[p.d]) <= 1e-4 * fabs(L[p.d]), "%s class %d: bias %.9g, liblinear %.9g",
                svm ? "svm" : "lr", k, b, L[p.d]);
    }
  }
  problem_free(&p);
}

/* ------------------------------------------------------------------ two ranks */
/* An in-process group of two: each thread is a rank holding some rows; the reducer waits for
 * both, sums rank 0's buffer and rank 1's in that order into both (the same bits on both). */
typedef struct pair {
  pthread_barrier_t bar;
  double *buf[2];
  int n[2];
} pair;

typedef struct rank {
  pair *pr;
  int id;
  gs_reducer red;
  gs_solver_data data;
  gs_probe_params par;
  double *W;
  int rc;
} rank;

static void pair_sum(void *ctx, double *v, int n) {
  rank *r = ctx;
  pair *pr = r->pr;
  pr->buf[r->id] = v, pr->n[r->id] = n;
  pthread_barrier_wait(&pr->bar);
  double *sum = malloc(sizeof(double) * (n ? n : 1));
  for (int i = 0; i < n; i++) sum[i] = pr->buf[0][i] + pr->buf[1][i];
  int same = pr->n[0] == pr->n[1];
  pthread_barrier_wait(&pr->bar); /* both have read both buffers */
  memcpy(v, sum, sizeof(double) * n);
  free(sum);
  if (!same) abort(); /* the ranks disagree on the collective calls */
}

static void *rank_main(void *arg) {
  rank *r = arg;
  gs_error err = {0};
  r->rc = gs_solver_fit(&r->data, &r->par, r->W, NULL, &err);
  return NULL;
}

/* rows [0, cut) on rank 0, [cut, m) on rank 1 */
static void fit_two_ranks(const dense *p, const gs_probe_params *par, long cut, double *W0, double *W1) {
  pair pr = {0};
  pthread_barrier_init(&pr.bar, NULL, 2);
  rank r[2];
  pthread_t t[2];
  for (int id = 0; id < 2; id++) {
    long lo = id ? cut : 0, hi = id ? p->m : cut;
    r[id] = (rank){.pr = &pr, .id = id, .par = *par, .W = id ? W1 : W0};
    r[id].red = (gs_reducer){.sum = pair_sum, .ctx = &r[id]};
    r[id].data = (gs_solver_data){.X = p->X + lo * p->d, .labels = p->y + lo, .m = hi - lo, .d = p->d,
                                  .classes = p->K, .reduce = &r[id].red};
    pthread_create(&t[id], NULL, rank_main, &r[id]);
  }
  for (int id = 0; id < 2; id++) pthread_join(t[id], NULL);
  pthread_barrier_destroy(&pr.bar);
  cr_assert(r[0].rc == 0 && r[1].rc == 0);
}

/* Split at a multiple of GS_SOLVER_BLOCK: the same weights as one process to 1e-9 relative, and
 * the same bits on both ranks. Split in the middle of a block: float precision (1e-5). */
Test(solver, rows_split_over_two_ranks_give_the_same_weights) {
  dense p = make_problem(600, 30, 4, 14);
  long n = p.K * (p.d + 1);
  double *W = malloc(sizeof(double) * n), *W0 = malloc(sizeof(double) * n), *W1 = malloc(sizeof(double) * n);
  for (int svm = 0; svm < 2; svm++) {
    gs_probe_params par = {.classifier = svm ? GS_PROBE_SVM : GS_PROBE_LR, .C = 1.0, .eps = 1e-4};
    gs_solver_data data = data_of(&p);
    gs_error err = {0};
    cr_assert_eq(gs_solver_fit(&data, &par, W, NULL, &err), 0, "%s", err.msg);
    const long cuts[2] = {GS_SOLVER_BLOCK, p.m / 2 + 7};
    const double tol[2] = {1e-9, 1e-5};
    for (int c = 0; c < 2; c++) {
      fit_two_ranks(&p, &par, cuts[c], W0, W1);
      cr_assert_eq(memcmp(W0, W1, sizeof(double) * n), 0, "%s cut %ld: the ranks differ", svm ? "svm" : "lr",
                   cuts[c]);
      double e = rel_diff(W0, W, n);
      cr_log_info("%s cut %ld: relative difference %.3g from one process", svm ? "svm" : "lr", cuts[c], e);
      cr_assert(e <= tol[c], "%s cut %ld: relative difference %.3g from one process", svm ? "svm" : "lr", cuts[c],
                e);
    }
  }
  free(W), free(W0), free(W1);
  problem_free(&p);
}

/* ------------------------------------------------------------------ derivatives */
/* A tiny problem on a dyadic grid: features k/8, weights k/1024, steps k/65536, so every
 * decision value the float products give is exact and f is exact to double rounding; central
 * differences of f then check the gradient (to 1e-6) and mixed second differences
 * (f(w + h e_j + h v) - f(w + h e_j - h v) - f(w - h e_j + h v) + f(w - h e_j - h v)) / 4h^2
 * = e_j . H v check the Hessian-vector product (to 1e-5), for both losses. */
enum { TM = 40, TD = 5, TK = 3, TN = TD + 1 };

static void tiny(float *X, int *y, double *W, double *V) {
  gs_rng r;
  gs_rng_seed(&r, 21, 0, GS_RNG_DATA);
  for (int i = 0; i < TM * TD; i++) X[i] = (float)((int)gs_rng_below(&r, 33) - 16) / 8.0f;
  for (int i = 0; i < TM; i++) y[i] = (int)gs_rng_below(&r, TK);
  for (int i = 0; i < TK * TN; i++) W[i] = ((int)gs_rng_below(&r, 513) - 256) / 1024.0;
  for (int i = 0; i < TK * TN; i++) V[i] = ((int)gs_rng_below(&r, 33) - 16) / 16.0;
}

/* f at W + a e_j + b V for every class (e_j: coordinate j of every class) */
static void f_at(gs_solver *s, const double *W, const double *V, int j, double a, double b, double *f) {
  double P[TK * TN], G[TK * TN];
  for (int i = 0; i < TK * TN; i++) P[i] = W[i] + b * V[i] + (i % TN == j ? a : 0.0);
  gs_solver_eval(s, P, f, G);
}

Test(solver, gradient_and_hessian_match_finite_differences) {
  float X[TM * TD];
  int y[TM];
  double W[TK * TN], V[TK * TN];
  tiny(X, y, W, V);
  gs_solver_data data = {.X = X, .labels = y, .m = TM, .d = TD, .classes = TK};
  const double h = 1.0 / 4096.0;
  for (int svm = 0; svm < 2; svm++) {
    gs_probe_params par = {.classifier = svm ? GS_PROBE_SVM : GS_PROBE_LR, .C = 0.5, .eps = 0.01};
    gs_error err = {0};
    gs_solver *s = gs_solver_new(&data, &par, &err);
    cr_assert_not_null(s, "%s", err.msg);
    double f[TK], G[TK * TN], HV[TK * TN], fd[TK * TN], hd[TK * TN], fp[TK], fm[TK], fpp[TK], fpm[TK], fmp[TK],
        fmm[TK];
    for (int j = 0; j < TN; j++) {
      f_at(s, W, V, j, h, 0, fp);
      f_at(s, W, V, j, -h, 0, fm);
      f_at(s, W, V, j, h, h, fpp);
      f_at(s, W, V, j, h, -h, fpm);
      f_at(s, W, V, j, -h, h, fmp);
      f_at(s, W, V, j, -h, -h, fmm);
      for (int k = 0; k < TK; k++) {
        fd[k * TN + j] = (fp[k] - fm[k]) / (2 * h);
        hd[k * TN + j] = (fpp[k] - fpm[k] - fmp[k] + fmm[k]) / (4 * h * h);
      }
    }
    gs_solver_eval(s, W, f, G);
    gs_solver_hessvec(s, V, HV);
    for (int k = 0; k < TK; k++) {
      cr_assert_float_eq(f[k], objective(&(dense){.m = TM, .d = TD, .X = X, .y = y}, k, W + k * TN, svm, 0.5),
                         1e-12 * f[k], "%s class %d: f", svm ? "svm" : "lr", k);
      double eg = rel_diff(G + k * TN, fd + k * TN, TN), eh = rel_diff(HV + k * TN, hd + k * TN, TN);
      cr_log_info("%s class %d: gradient %.2g, Hv %.2g off finite differences", svm ? "svm" : "lr", k, eg, eh);
      cr_assert(eg <= 1e-6, "%s class %d: gradient off finite differences by %.3g", svm ? "svm" : "lr", k, eg);
      cr_assert(eh <= 1e-5, "%s class %d: Hv off finite differences by %.3g", svm ? "svm" : "lr", k, eh);
    }
    gs_solver_free(s);
  }
}

/* ------------------------------------------------------------------ edge cases */
/* A class with no example (or every example) gets gs_probe_fit_class's constant decision. */
Test(solver, one_sided_classes_get_a_constant_decision) {
  dense p = make_problem(300, 10, 3, 15);
  for (int i = 0; i < p.m; i++)
    if (p.y[i] == 2) p.y[i] = 1; /* class 2: no example */
  double W[3 * 11];
  gs_probe_params par = {.classifier = GS_PROBE_SVM, .C = 1.0, .eps = 0.01};
  gs_solver_data data = data_of(&p);
  gs_error err = {0};
  cr_assert_eq(gs_solver_fit(&data, &par, W, NULL, &err), 0, "%s", err.msg);
  for (int j = 0; j < 10; j++) cr_assert_eq(W[2 * 11 + j], 0.0);
  cr_assert_eq(W[2 * 11 + 10], -1.0);
  for (int i = 0; i < p.m; i++) p.y[i] = 0; /* class 0: every example */
  data = data_of(&p);
  cr_assert_eq(gs_solver_fit(&data, &par, W, NULL, &err), 0, "%s", err.msg);
  cr_assert_eq(W[10], 1.0);
  cr_assert_eq(W[11 + 10], -1.0);
  problem_free(&p);
}

Test(solver, the_same_input_gives_the_same_bits) {
  dense p = make_problem(700, 20, 5, 16);
  long n = p.K * (p.d + 1);
  double *a = malloc(sizeof(double) * n), *b = malloc(sizeof(double) * n);
  for (int svm = 0; svm < 2; svm++) {
    gs_probe_params par = {.classifier = svm ? GS_PROBE_SVM : GS_PROBE_LR, .C = 1.0, .eps = 0.01};
    gs_solver_data data = data_of(&p);
    gs_error err = {0};
    cr_assert_eq(gs_solver_fit(&data, &par, a, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(gs_solver_fit(&data, &par, b, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(a, b, sizeof(double) * n), 0);
  }
  free(a), free(b);
  problem_free(&p);
}

Test(solver, bad_arguments_are_errors) {
  float X[4] = {0};
  int y[2] = {0, 1};
  gs_solver_data data = {.X = X, .labels = y, .m = 2, .d = 2, .classes = 2};
  gs_probe_params par = {.classifier = GS_PROBE_LR, .C = 0, .eps = 0.01};
  double W[6];
  gs_error err = {0};
  cr_assert_eq(gs_solver_fit(&data, &par, W, NULL, &err), -1);
  cr_assert(strstr(err.msg, "must be positive"), "%s", err.msg);
  data.d = 0;
  par.C = 1;
  cr_assert_eq(gs_solver_fit(&data, &par, W, NULL, &err), -1);
}
