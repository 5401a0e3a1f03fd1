/* Linear probes through liblinear: see include/gensweep/probe/probe.h. */
#include "gensweep/probe/probe.h"

#include <cblas.h>
#include <linear.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/core/rng.h"

const char *gs_probe_classifier_name(gs_probe_classifier c) {
  return c == GS_PROBE_SVM ? "svm" : "lr";
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

int gs_probe_balanced_subset(const int *labels, long n, int classes, long budget, uint64_t seed, long repeat,
                             long *out, gs_error *err) {
  if (budget == 0) {
    for (long i = 0; i < n; i++) out[i] = i;
    return 0;
  }
  if (classes < 1 || budget < 0 || budget % classes != 0)
    return gs_fail(err, "a label budget of %ld is not a multiple of the %d classes", budget, classes);
  long per = budget / classes;
  long *count = gs_calloc((size_t)classes, sizeof(long));
  for (long i = 0; i < n; i++)
    if (labels[i] >= 0 && labels[i] < classes) count[labels[i]]++;
  for (int k = 0; k < classes; k++)
    if (count[k] < per) {
      int rc = gs_fail(err, "a label budget of %ld needs %ld images of class %d; the training set has %ld", budget,
                       per, k, count[k]);
      free(count);
      return rc;
    }
  /* each class's examples in order, then a partial Fisher-Yates shuffle picks `per` of them */
  long *start = gs_calloc((size_t)classes + 1, sizeof(long));
  for (int k = 0; k < classes; k++) start[k + 1] = start[k] + count[k];
  long *pool = gs_malloc(sizeof(long) * (size_t)(start[classes] ? start[classes] : 1));
  long *fill = gs_calloc((size_t)classes, sizeof(long));
  for (long i = 0; i < n; i++)
    if (labels[i] >= 0 && labels[i] < classes) pool[start[labels[i]] + fill[labels[i]]++] = i;
  gs_rng r;
  gs_rng_seed(&r, seed, (uint64_t)budget * 1000003u + (uint64_t)repeat, GS_RNG_PROBE);
  long o = 0;
  for (int k = 0; k < classes; k++) {
    long *p = pool + start[k];
    for (long j = 0; j < per; j++) {
      long pick = j + (long)gs_rng_below(&r, (uint64_t)(count[k] - j));
      long t = p[j];
      p[j] = p[pick];
      p[pick] = t;
      out[o++] = p[j];
    }
  }
  qsort(out, (size_t)budget, sizeof(long), cmp_long);
  free(count);
  free(start);
  free(pool);
  free(fill);
  return 0;
}

void gs_probe_standardisation(const float *X, int d, const long *idx, long m, double *mean, double *scale) {
  for (int j = 0; j < d; j++) mean[j] = scale[j] = 0.0;
  for (long i = 0; i < m; i++) {
    const float *x = X + idx[i] * (long)d;
    for (int j = 0; j < d; j++) mean[j] += x[j];
  }
  for (int j = 0; j < d; j++) mean[j] /= (double)(m > 0 ? m : 1);
  for (long i = 0; i < m; i++) { /* two passes: no cancellation */
    const float *x = X + idx[i] * (long)d;
    for (int j = 0; j < d; j++) {
      double c = x[j] - mean[j];
      scale[j] += c * c;
    }
  }
  for (int j = 0; j < d; j++) {
    double sd = sqrt(scale[j] / (double)(m > 0 ? m : 1));
    scale[j] = sd > 0 ? 1.0 / sd : 1.0;
  }
}

struct gs_probe_problem {
  int d, classes;
  long m;
  double *mean, *scale;
  int *labels;               /* m */
  struct feature_node *nodes;
  struct feature_node **rows;
};

gs_probe_problem *gs_probe_problem_new(const float *X, const int *labels, int d, int classes, const long *idx,
                                       long m) {
  gs_probe_problem *p = gs_calloc(1, sizeof *p);
  p->d = d;
  p->classes = classes;
  p->m = m;
  p->mean = gs_malloc(sizeof(double) * (size_t)d);
  p->scale = gs_malloc(sizeof(double) * (size_t)d);
  gs_probe_standardisation(X, d, idx, m, p->mean, p->scale);
  p->labels = gs_malloc(sizeof(int) * (size_t)(m ? m : 1));
  /* sparse rows as liblinear wants them: the non-zero standardised values, the bias, a -1 end */
  long nnz = 0;
  for (long i = 0; i < m; i++) {
    const float *x = X + idx[i] * (long)d;
    for (int j = 0; j < d; j++) nnz += (x[j] - p->mean[j]) != 0.0;
  }
  p->nodes = gs_malloc(sizeof(struct feature_node) * (size_t)(nnz + 2 * m + 1));
  p->rows = gs_malloc(sizeof(struct feature_node *) * (size_t)(m ? m : 1));
  struct feature_node *o = p->nodes;
  for (long i = 0; i < m; i++) {
    const float *x = X + idx[i] * (long)d;
    p->labels[i] = labels[idx[i]];
    p->rows[i] = o;
    for (int j = 0; j < d; j++) {
      double v = (x[j] - p->mean[j]) * p->scale[j];
      if (v != 0.0) *o++ = (struct feature_node){.index = j + 1, .value = v};
    }
    *o++ = (struct feature_node){.index = d + 1, .value = 1.0}; /* the bias feature */
    *o++ = (struct feature_node){.index = -1, .value = 0.0};
  }
  return p;
}

void gs_probe_problem_free(gs_probe_problem *p) {
  if (!p) return;
  free(p->mean);
  free(p->scale);
  free(p->labels);
  free(p->nodes);
  free(p->rows);
  free(p);
}

static void quiet(const char *s) { (void)s; }

int gs_probe_fit_class(const gs_probe_problem *p, int k, const gs_probe_params *par, double *w, gs_error *err) {
  set_print_string_function(quiet);
  double *y = gs_malloc(sizeof(double) * (size_t)(p->m ? p->m : 1));
  long pos = 0;
  for (long i = 0; i < p->m; i++) pos += (y[i] = p->labels[i] == k ? 1.0 : -1.0) > 0;
  memset(w, 0, sizeof(double) * (size_t)(p->d + 1));
  if (pos == 0 || pos == p->m) { /* one side only: a constant decision, no fit */
    w[p->d] = pos ? 1.0 : -1.0;
    free(y);
    return 0;
  }
  struct problem prob = {.l = (int)p->m, .n = p->d + 1, .y = y, .x = p->rows, .bias = -1};
  /* Dual coordinate descent when examples are fewer than features (the small label budgets;
   * scikit-learn's LinearSVC default), the primal Newton solver otherwise. Measured on
   * standardised Fashion-MNIST pixels, 10 classes, eps 0.01, one core (bench_probe): 100 images
   * svm 0.06 s dual / 0.17 s primal; 3,000 images lr 21 s dual / 4.3 s primal, and svm 5.2 s
   * dual but 2 points short of the optimum that the primal solver reaches in 21 s. */
  int dual = gs_probe_small(p->m, p->d);
  struct parameter par_ = {.solver_type = par->classifier == GS_PROBE_SVM ? (dual ? L2R_L2LOSS_SVC_DUAL : L2R_L2LOSS_SVC)
                                                                          : (dual ? L2R_LR_DUAL : L2R_LR),
                           .eps = par->eps, .C = par->C, .p = 0.1};
  const char *bad = check_parameter(&prob, &par_);
  if (bad) {
    free(y);
    return gs_fail(err, "liblinear: %s", bad);
  }
  /* liblinear's dual solvers visit the examples in an order drawn with rand(): the same seed for
   * every fit, so that a fit does not depend on the fits this process did before */
  srand(1);
  struct model *mod = train(&prob, &par_);
  if (!mod) {
    free(y);
    return gs_fail(err, "liblinear: training class %d failed", k);
  }
  /* a binary model's decision value is positive for label[0] */
  double sign = mod->label[0] == 1 ? 1.0 : -1.0;
  for (int j = 0; j <= p->d && j < mod->nr_feature; j++) w[j] = sign * mod->w[j];
  free_and_destroy_model(&mod);
  free(y);
  for (int j = 0; j <= p->d; j++)
    if (!isfinite(w[j])) return gs_fail(err, "liblinear: class %d has non-finite weights", k);
  return 0;
}

void gs_probe_score_standardised(const double *mean, const double *scale, int d, int C, const double *W,
                                 const float *T, const int *yt, long nt, long *confusion) {
  /* the standardisation folded into the weights: v_j = w_j s_j, b' = b - sum_j w_j s_j m_j */
  float *V = gs_malloc(sizeof(float) * (size_t)C * d);
  double *bias = gs_malloc(sizeof(double) * (size_t)C);
  for (int k = 0; k < C; k++) {
    const double *w = W + (long)k * (d + 1);
    double b = w[d];
    for (int j = 0; j < d; j++) {
      double v = w[j] * scale[j];
      V[(long)k * d + j] = (float)v;
      b -= v * mean[j];
    }
    bias[k] = b;
  }
  memset(confusion, 0, sizeof(long) * (size_t)C * C);
  enum { CHUNK = 4096 };
  float *S = gs_malloc(sizeof(float) * (size_t)CHUNK * C);
  for (long s0 = 0; s0 < nt; s0 += CHUNK) {
    int rows = nt - s0 < CHUNK ? (int)(nt - s0) : CHUNK;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, C, d, 1.0f, T + s0 * d, d, V, d, 0.0f, S, C);
    for (int i = 0; i < rows; i++) {
      int best = 0;
      double bv = -INFINITY;
      for (int k = 0; k < C; k++) {
        double sc = (double)S[(long)i * C + k] + bias[k];
        if (sc > bv) bv = sc, best = k;
      }
      int y = yt[s0 + i];
      if (y >= 0 && y < C) confusion[(long)y * C + best]++;
    }
  }
  free(S);
  free(V);
  free(bias);
}

void gs_probe_score(const gs_probe_problem *p, const double *W, const float *T, const int *yt, long nt,
                    long *confusion) {
  gs_probe_score_standardised(p->mean, p->scale, p->d, p->classes, W, T, yt, nt, confusion);
}

int gs_probe_fit_score(const gs_probe_problem *p, const gs_probe_params *par, const float *T, const int *yt, long nt,
                       long *confusion, gs_error *err) {
  double *W = gs_malloc(sizeof(double) * (size_t)p->classes * (p->d + 1));
  int rc = 0;
  for (int k = 0; k < p->classes && rc == 0; k++) rc = gs_probe_fit_class(p, k, par, W + (long)k * (p->d + 1), err);
  if (rc == 0) gs_probe_score(p, W, T, yt, nt, confusion);
  free(W);
  return rc;
}

double gs_probe_accuracy(const long *confusion, int classes) {
  long right = 0, all = 0;
  for (int a = 0; a < classes; a++)
    for (int b = 0; b < classes; b++) {
      all += confusion[(long)a * classes + b];
      if (a == b) right += confusion[(long)a * classes + b];
    }
  return all ? (double)right / (double)all : NAN;
}

void gs_probe_precision_recall(const long *confusion, int classes, double *precision, double *recall) {
  for (int k = 0; k < classes; k++) {
    long tp = confusion[(long)k * classes + k], predicted = 0, actual = 0;
    for (int o = 0; o < classes; o++) {
      predicted += confusion[(long)o * classes + k];
      actual += confusion[(long)k * classes + o];
    }
    precision[k] = predicted ? (double)tp / (double)predicted : NAN;
    recall[k] = actual ? (double)tp / (double)actual : NAN;
  }
}

int gs_probe_small(long m, int d) { return m < (long)d + 1; }
int gs_probe_large(long m, int d) { return m >= 8 * ((long)d + 1); }

