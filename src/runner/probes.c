/* The linear-probe stage of a run: see include/gensweep/runner/probes.h. */
#include "gensweep/runner/probes.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/probe/fit_all.h"
#include "gensweep/probe/probe.h"

/* one problem: a classifier on one labelled subset */
typedef struct {
  int clf;     /* 0 svm, 1 lr */
  int budget;  /* index into the budget list */
  long repeat;
  long m;      /* labelled images */
  int usable;  /* 0: skipped (the reason printed once) */
} problem;

/* one unit of work: one class of one problem */
typedef struct {
  int problem, k;
  double cost;
  int rank;
} unit;

static int by_cost(const void *a, const void *b) {
  const unit *x = a, *y = b;
  if (x->cost != y->cost) return x->cost < y->cost ? 1 : -1;
  if (x->problem != y->problem) return x->problem - y->problem;
  return x->k - y->k;
}

static int by_position(const void *a, const void *b) {
  const unit *x = a, *y = b;
  return x->problem != y->problem ? x->problem - y->problem : x->k - y->k;
}

static void budget_name(long b, char *out, size_t n) {
  if (b == 0) snprintf(out, n, "all");
  else snprintf(out, n, "%ld", b);
}

/* kind NULL: the model's features(); else its features_kind(kind) */
static float *features_of(const gs_model_def *def, gs_model *m, const char *kind, const gs_imageset *set, int F) {
  float *X = gs_malloc(sizeof(float) * (size_t)set->n * F);
  enum { CHUNK = 2000 };
  int32_t *idx = gs_malloc(sizeof(int32_t) * CHUNK);
  for (long s = 0; s < set->n; s += CHUNK) {
    int b = set->n - s < CHUNK ? (int)(set->n - s) : CHUNK;
    for (int i = 0; i < b; i++) idx[i] = (int32_t)(s + i);
    if (kind) def->features_kind(m, kind, set, idx, b, X + s * F);
    else def->features(m, set, idx, b, X + s * F);
    gs_poll();
  }
  free(idx);
  return X;
}

/* Every class of rows idx[0..m) of X, with the solver the probe stage uses for such a problem:
 * the own solver for a large one, liblinear class by class otherwise. W: classes x (d + 1). */
static int fit_subset(const float *X, const int *y, int F, int C, const long *idx, long m, const gs_probe_params *par,
                      double *W, gs_error *err) {
  if (gs_probe_large(m, F)) return gs_probe_fit_all(X, y, F, C, idx, m, par, W, NULL, err);
  gs_probe_problem *pb = gs_probe_problem_new(X, y, F, C, idx, m);
  int rc = 0;
  for (int k = 0; k < C && rc == 0; k++) rc = gs_probe_fit_class(pb, k, par, W + (long)k * (F + 1), err);
  gs_probe_problem_free(pb);
  return rc;
}

/* probe.c_grid: C for each problem by stratified k-fold cross-validation on its labelled subset
 * (fold of an example: its place among the subset's examples of its class, modulo k). The
 * (problem, candidate, fold) fits are farmed over the group's ranks, longest first; the held-out
 * hits are summed over the group, so every rank chooses the same C: the best mean held-out
 * accuracy, the smaller C on a tie (candidates ascend). A subset with fewer than 2 examples of a
 * class keeps probe.c. */
typedef struct { int p, ci, f, rank; double cost; } cv_unit;
static int cv_by_cost(const void *a, const void *b) {
  const cv_unit *x = a, *y = b;
  if (x->cost != y->cost) return x->cost < y->cost ? 1 : -1;
  return (x->p * 1000 + x->ci * 32 + x->f) - (y->p * 1000 + y->ci * 32 + y->f);
}
static int choose_c(const gs_config *c, const gs_probe_lists *pl, const void *prv, int np, const float *X,
                    const int *y, long n, int F, int C, int P, int rank, MPI_Comm comm, double *chosen, gs_error *err);

/* The rank of the P with the least work so far (the first on a tie), given cost more: the
 * longest-processing-time-first farming of the probe fits, the same on every rank. */
static int least_loaded(double *load, int P, double cost) {
  int best = 0;
  for (int q = 1; q < P; q++)
    if (load[q] < load[best]) best = q;
  load[best] += cost;
  return best;
}

/* The probes left out at one probe time, and why: each reason is printed (rank 0, at the final
 * probes) and kept for the run file (its message and final/probe_skipped). */
typedef struct skips {
  int n;
  int final, rank;
  char why[480];
} skips;

static void skip(skips *s, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  s->n++;
  if (!s->final) return;
  if (s->rank == 0) fprintf(stderr, "gensweep: %s\n", msg);
  size_t l = strlen(s->why);
  if (l + 8 < sizeof s->why) snprintf(s->why + l, sizeof s->why - l, "%s%s", l ? "; " : "", msg);
}

/* What the final probes skipped, in the run file: final/probe_skipped (the count) and the run's
 * message ("probe stage: reason; reason ..."; sweep.h5's /grid has it too). */
static void record_skips(const skips *s, gs_record *rec) {
  if (!s->n) return;
  gs_record_scalar(rec, "probe_skipped", s->n);
  snprintf(rec->message, sizeof rec->message, "probe stage: %s", s->why);
}

/* The series point of a source at a probe time that it skips: NaN for each of its figures, so
 * that the series line up with the evaluations (pre: probe_ or probe_<source>_). */
static void nan_series(const gs_probe_lists *pl, const char *pre, const int *y, long n, int C, gs_record *rec) {
  long *sub = gs_malloc(sizeof(long) * (n ? n : 1));
  for (int b = 0; b < pl->nbudgets; b++) {
    long B = pl->budgets[b];
    if (B > n || gs_probe_balanced_subset(y, n, C, B, 0, 0, sub, NULL) != 0) continue;
    for (int k = 0; k < pl->nclassifiers; k++) {
      char bn[12], name[GS_NAME_LEN];
      budget_name(B, bn, sizeof bn);
      snprintf(name, sizeof name, "%s%s_%s", pre, pl->classifiers[k] ? "lr" : "svm", bn);
      gs_record_push(rec, name, NAN);
    }
  }
  free(sub);
}

static int all_finite(const float *x, long n) {
  for (long i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

/* The probes of one feature source (model m's features): source "model" records as
 * probe_<c>_<b> and /probe/model/..., another as probe_<source>_<c>_<b> and /probe/<source>/.... */
enum { RECORD_FINAL = 1, RECORD_SERIES = 2 }; /* what probe_source records: final figures, a series point */

static int probe_source(const gs_config *c, const gs_probe_lists *plp, const char *source, const char *kind,
                        const gs_model_def *def, gs_model *m, const gs_dataset *ds, gs_record *rec, int P, int rank,
                        MPI_Comm comm, skips *sk, int what, gs_error *err) {
  const gs_probe_lists pl = *plp;
  char pre[24];
  snprintf(pre, sizeof pre, "probe_%s%s", strcmp(source, "model") ? source : "", strcmp(source, "model") ? "_" : "");
  int F = kind ? (def->feature_dim_kind ? def->feature_dim_kind(m, kind) : 0) : def->feature_dim(m);
  int C = ds->train.n_classes;
  long n = ds->train.n, nt = ds->test.n;
  int *y = gs_malloc(sizeof(int) * n), *yt = gs_malloc(sizeof(int) * nt);
  for (long i = 0; i < n; i++) y[i] = ds->train.labels[i];
  for (long i = 0; i < nt; i++) yt[i] = ds->test.labels[i];
  const char *label_why = F > 0 && def->features_read_label ? def->features_read_label(m) : NULL;
  float *X = NULL, *T = NULL;
  int left_out = 1;
  if (F <= 0) skip(sk, "probes of the %s features skipped: model %s has none", source, def->name);
  else if (label_why) skip(sk, "probes of the %s features skipped: %s", source, label_why);
  else {
    X = features_of(def, m, kind, &ds->train, F), T = features_of(def, m, kind, &ds->test, F);
    if (!all_finite(X, ds->train.n * (long)F) || !all_finite(T, ds->test.n * (long)F))
      skip(sk, "probes of the %s features skipped: they are not finite (a diverged model?)", source);
    else left_out = 0;
  }
  if (left_out) { /* NaN points keep the series in step with the evaluations (nan_point) */
    if ((what & RECORD_SERIES) && F > 0 && !label_why) nan_series(&pl, pre, y, n, C, rec);
    free(X), free(T), free(y), free(yt);
    return 0;
  }

  /* the problems; a budget the training set cannot fill is skipped, with its reason */
  int np = 0;
  problem *pr = gs_malloc(sizeof(problem) * (size_t)pl.nclassifiers * pl.nbudgets * c->probe_repeats);
  long *sub = gs_malloc(sizeof(long) * n);
  for (int b = 0; b < pl.nbudgets; b++) {
    long B = pl.budgets[b], R = B == 0 ? 1 : c->probe_repeats;
    gs_error e = {0};
    int ok = B <= n && gs_probe_balanced_subset(y, n, C, B, (uint64_t)c->probe_seed, 0, sub, &e) == 0;
    if (!ok)
      skip(sk, "probe budget %ld skipped: %s (the %s features)", B, e.msg[0] ? e.msg : "larger than the training set",
           source);
    for (int k = 0; k < pl.nclassifiers; k++)
      for (long r = 0; r < R; r++)
        pr[np++] = (problem){.clf = pl.classifiers[k], .budget = b, .repeat = r, .m = B ? B : n, .usable = ok};
  }

  /* C of each problem: probe.c, or chosen by cross-validation (probe.c_grid) */
  double *chosen = gs_malloc(sizeof(double) * (size_t)(np ? np : 1));
  for (int p = 0; p < np; p++) chosen[p] = c->probe_c;
  if (pl.ncs && choose_c(c, &pl, pr, np, X, y, n, F, C, P, rank, comm, chosen, err) != 0) {
    free(chosen), free(sub), free(pr), free(X), free(T), free(y), free(yt);
    return -1;
  }

  /* the units, longest first, each to the least-loaded rank (the same on every rank) */
  int nu = 0;
  unit *u = gs_malloc(sizeof(unit) * (size_t)(np ? np : 1) * C);
  for (int p = 0; p < np; p++) {
    if (!pr[p].usable) continue;
    if (gs_probe_large(pr[p].m, F)) /* a large problem: all its classes at once, own solver (k = -1) */
      u[nu++] = (unit){.problem = p, .k = -1, .cost = 0.1 * (double)pr[p].m * F * C};
    else
      for (int k = 0; k < C; k++) u[nu++] = (unit){.problem = p, .k = k, .cost = (double)pr[p].m * F};
  }
  qsort(u, (size_t)nu, sizeof(unit), by_cost);
  double *load = gs_calloc((size_t)P, sizeof(double));
  for (int i = 0; i < nu; i++) u[i].rank = least_loaded(load, P, u[i].cost);
  qsort(u, (size_t)nu, sizeof(unit), by_position);

  /* this rank's fits: each problem's subset and standardisation built once */
  long stride = (long)C * (F + 1);
  double *W = gs_calloc((size_t)(np ? np : 1) * stride, sizeof(double));
  int rc = 0;
  gs_probe_problem *cur = NULL;
  int cur_b = -1;
  long cur_r = -1;
  for (int i = 0; i < nu && rc == 0; i++) {
    if (u[i].rank != rank) continue;
    const problem *q = &pr[u[i].problem];
    gs_probe_params par = {.classifier = q->clf ? GS_PROBE_LR : GS_PROBE_SVM, .C = chosen[u[i].problem],
                           .eps = c->probe_tol};
    if (u[i].k < 0) {
      gs_probe_balanced_subset(y, n, C, pl.budgets[q->budget], (uint64_t)c->probe_seed, q->repeat, sub, err);
      rc = gs_probe_fit_all(X, y, F, C, sub, q->m, &par, W + u[i].problem * stride, NULL, err);
      gs_poll();
      continue;
    }
    if (!cur || cur_b != q->budget || cur_r != q->repeat) {
      gs_probe_problem_free(cur);
      gs_probe_balanced_subset(y, n, C, pl.budgets[q->budget], (uint64_t)c->probe_seed, q->repeat, sub, err);
      cur = gs_probe_problem_new(X, y, F, C, sub, q->m);
      cur_b = q->budget;
      cur_r = q->repeat;
    }
    rc = gs_probe_fit_class(cur, u[i].k, &par, W + u[i].problem * stride + (long)u[i].k * (F + 1), err);
    gs_poll();
  }
  gs_probe_problem_free(cur);
  /* every rank the same weights: each class was fitted by exactly one rank, the others hold 0 */
  if (P > 1) {
    int failed = rc != 0, any;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm);
    if (any && !failed) rc = gs_fail(err, "a probe fit failed on another rank of the group");
    else if (!any) MPI_Allreduce(MPI_IN_PLACE, W, (int)(np * stride), MPI_DOUBLE, MPI_SUM, comm);
  }

  /* scores, by every rank alike */
  double *mean = gs_malloc(sizeof(double) * F), *scale = gs_malloc(sizeof(double) * F);
  long *conf = gs_malloc(sizeof(long) * C * C);
  for (int b = 0; rc == 0 && b < pl.nbudgets; b++) {
    long B = pl.budgets[b], R = B == 0 ? 1 : c->probe_repeats;
    for (int k = 0; k < pl.nclassifiers; k++) {
      int p0 = 0;
      while (p0 < np && !(pr[p0].budget == b && pr[p0].clf == pl.classifiers[k])) p0++;
      if (p0 == np || !pr[p0].usable) continue;
      double *acc = gs_malloc(sizeof(double) * R), *cf = gs_malloc(sizeof(double) * R * C * C);
      double *prec = gs_malloc(sizeof(double) * R * C), *recall = gs_malloc(sizeof(double) * R * C);
      double sum = 0, sum2 = 0;
      for (long r = 0; r < R; r++) {
        gs_probe_balanced_subset(y, n, C, B, (uint64_t)c->probe_seed, r, sub, err);
        gs_probe_standardisation(X, F, sub, B ? B : n, mean, scale);
        gs_probe_score_standardised(mean, scale, F, C, W + (p0 + r) * stride, T, yt, nt, conf);
        acc[r] = gs_probe_accuracy(conf, C);
        for (int q = 0; q < C * C; q++) cf[r * C * C + q] = (double)conf[q];
        gs_probe_precision_recall(conf, C, prec + r * C, recall + r * C);
        sum += acc[r];
        sum2 += acc[r] * acc[r];
      }
      char bn[12], name[GS_NAME_LEN], path[128];
      const char *cn = pl.classifiers[k] ? "lr" : "svm";
      budget_name(B, bn, sizeof bn);
      double mu = sum / R, sd = sqrt(fmax(sum2 / R - mu * mu, 0.0));
      snprintf(name, sizeof name, "%s%s_%s", pre, cn, bn);
      if (what & RECORD_SERIES) gs_record_push(rec, name, mu);
      if (!(what & RECORD_FINAL)) {
        free(acc), free(cf), free(prec), free(recall);
        continue;
      }
      gs_record_scalar(rec, name, mu);
      snprintf(name, sizeof name, "%s%s_%s_std", pre, cn, bn);
      gs_record_scalar(rec, name, sd);
      long s1[1] = {R}, s2[2] = {R, C}, s3[3] = {R, C, C};
      snprintf(path, sizeof path, "probe/%s/%s/%s/accuracy", source, cn, bn);
      gs_record_array(rec, path, 1, s1, acc);
      snprintf(path, sizeof path, "probe/%s/%s/%s/confusion", source, cn, bn);
      gs_record_array(rec, path, 3, s3, cf);
      snprintf(path, sizeof path, "probe/%s/%s/%s/precision", source, cn, bn);
      gs_record_array(rec, path, 2, s2, prec);
      snprintf(path, sizeof path, "probe/%s/%s/%s/recall", source, cn, bn);
      gs_record_array(rec, path, 2, s2, recall);
      if (pl.ncs) { /* the cross-validated C of each subset */
        double *cs = gs_malloc(sizeof(double) * R);
        for (long r = 0; r < R; r++) cs[r] = chosen[p0 + r];
        snprintf(path, sizeof path, "probe/%s/%s/%s/c", source, cn, bn);
        gs_record_array(rec, path, 1, s1, cs);
        free(cs);
      }
      free(acc), free(cf), free(prec), free(recall);
    }
  }
  if (rc == 0 && (what & RECORD_FINAL)) {
    char name[GS_NAME_LEN];
    snprintf(name, sizeof name, "%sfeatures", pre);
    gs_record_scalar(rec, name, F);
    gs_record_scalar(rec, "probe_all_labels", (double)n); /* the budget "all" */
  }
  free(mean), free(scale), free(conf), free(W), free(load), free(u), free(sub), free(pr), free(chosen);
  free(X), free(T), free(y), free(yt);
  return rc;
}

/* The AC-GAN's class head used directly (no fit, no budget): the argmax of its logits on the
 * test set; probe_class_head and /probe/class_head/{confusion,precision,recall}. */
static void class_head(const gs_model_def *def, gs_model *m, const gs_dataset *ds, gs_record *rec, skips *sk,
                       int what) {
  int C = ds->train.n_classes;
  int F = def->feature_dim_kind ? def->feature_dim_kind(m, "class_head") : 0;
  if (F != C) {
    skip(sk, "class-head probe skipped: model %s has no class head", def->name);
    return;
  }
  float *L = features_of(def, m, "class_head", &ds->test, C);
  if (!all_finite(L, ds->test.n * (long)C)) { /* an argmax of NaN would be read as class 0 */
    skip(sk, "class-head probe skipped: its logits are not finite (a diverged model?)");
    if (what & RECORD_SERIES) gs_record_push(rec, "probe_class_head", NAN);
    free(L);
    return;
  }
  long *conf = gs_calloc((size_t)C * C, sizeof(long));
  for (long i = 0; i < ds->test.n; i++) {
    int best = 0;
    for (int k = 1; k < C; k++)
      if (L[i * C + k] > L[i * C + best]) best = k;
    int y = ds->test.labels[i];
    if (y < C) conf[(long)y * C + best]++;
  }
  double *cf = gs_malloc(sizeof(double) * C * C), *prec = gs_malloc(sizeof(double) * C), *recall = gs_malloc(sizeof(double) * C);
  for (int q = 0; q < C * C; q++) cf[q] = (double)conf[q];
  gs_probe_precision_recall(conf, C, prec, recall);
  if (what & RECORD_SERIES) gs_record_push(rec, "probe_class_head", gs_probe_accuracy(conf, C));
  long s2[2] = {C, C}, s1[1] = {C};
  if (!(what & RECORD_FINAL)) {
    free(cf), free(prec), free(recall), free(conf), free(L);
    return;
  }
  gs_record_scalar(rec, "probe_class_head", gs_probe_accuracy(conf, C));
  gs_record_array(rec, "probe/class_head/confusion", 2, s2, cf);
  gs_record_array(rec, "probe/class_head/precision", 1, s1, prec);
  gs_record_array(rec, "probe/class_head/recall", 1, s1, recall);
  free(cf), free(prec), free(recall), free(conf), free(L);
}

/* probe.features = finetuned: the model's feature network trained further as a classifier on
 * each labelled subset (the same subsets as the linear probes). One unit of work per (budget,
 * repeat), costing the steps it trains, farmed over the group's ranks longest first; each unit
 * gives its test predictions' confusion matrix, summed over the group, so every rank records
 * the same. Its randomness (new head, batch order): train.seed, stream (budget, repeat). Recorded
 * as source "finetuned", classifier "net" (the network's own softmax head): probe_finetuned_net_<b>
 * and _std, /probe/finetuned/net/<b>/{accuracy,confusion,precision,recall}. */
static int finetuned_source(const gs_config *c, const gs_probe_lists *pl, const gs_model_def *def, gs_model *m,
                            const gs_dataset *ds, gs_record *rec, int P, int rank, MPI_Comm comm, skips *sk,
                            gs_error *err) {
  gs_error why = {0};
  if (!def->finetune || def->finetune(m, ds, NULL, 0, NULL, NULL, NULL, &why) != 0) {
    skip(sk, "probes of the fine-tuned network skipped: %s", def->finetune ? why.msg : "the model has no network to fine-tune");
    return 0;
  }
  long n = ds->train.n, nt = ds->test.n;
  int C = ds->train.n_classes;
  int *y = gs_malloc(sizeof(int) * n);
  for (long i = 0; i < n; i++) y[i] = ds->train.labels[i];
  long *sub = gs_malloc(sizeof(long) * n);
  int32_t *idx = gs_malloc(sizeof(int32_t) * n);
  int *pred = gs_malloc(sizeof(int) * (nt ? nt : 1));
  gs_finetune ft = {.epochs = c->probe_finetune_epochs, .min_steps = c->probe_finetune_min_steps};
  long bs = c->batch_size;

  /* the units: (budget, repeat), a budget the training set cannot fill skipped */
  typedef struct { int b; long r, m; double cost; int rank; } ft_unit;
  ft_unit *u = gs_malloc(sizeof(ft_unit) * (size_t)pl->nbudgets * (c->probe_repeats + 1));
  int nu = 0;
  for (int b = 0; b < pl->nbudgets; b++) {
    long B = pl->budgets[b], R = B == 0 ? 1 : c->probe_repeats;
    if (B > n || gs_probe_balanced_subset(y, n, C, B, (uint64_t)c->probe_seed, 0, sub, NULL) != 0) continue;
    long mm = B ? B : n, per = mm / (bs < mm ? bs : mm), steps = ft.epochs * per;
    if (steps < ft.min_steps) steps = ft.min_steps;
    for (long r = 0; r < R; r++)
      u[nu++] = (ft_unit){.b = b, .r = r, .m = mm, .cost = (double)steps * (double)(bs < mm ? bs : mm)};
  }
  /* longest first to the least-loaded rank: a stable order, the same on every rank */
  for (int i = 1; i < nu; i++)
    for (int j = i; j > 0 && u[j].cost > u[j - 1].cost; j--) {
      ft_unit t = u[j];
      u[j] = u[j - 1];
      u[j - 1] = t;
    }
  double *load = gs_calloc((size_t)P, sizeof(double));
  for (int i = 0; i < nu; i++) u[i].rank = least_loaded(load, P, u[i].cost);
  double *conf = gs_calloc((size_t)(nu ? nu : 1) * C * C, sizeof(double));
  double *diverged = gs_calloc((size_t)(nu ? nu : 1), sizeof(double)); /* 1: its test logits were not finite */
  int rc = 0;
  for (int i = 0; i < nu && rc == 0; i++) {
    if (u[i].rank != rank) continue;
    long B = pl->budgets[u[i].b];
    gs_probe_balanced_subset(y, n, C, B, (uint64_t)c->probe_seed, u[i].r, sub, err);
    for (long j = 0; j < u[i].m; j++) idx[j] = (int32_t)sub[j];
    gs_rng rng;
    gs_rng_seed(&rng, (uint64_t)c->seed, ((uint64_t)B << 20) + (uint64_t)u[i].r, GS_RNG_FINETUNE);
    rc = def->finetune(m, ds, idx, u[i].m, &ft, &rng, pred, err);
    if (rc == 1) diverged[i] = 1, rc = 0;
    for (long j = 0; rc == 0 && !diverged[i] && j < nt; j++)
      if (ds->test.labels[j] < C) conf[((long)i * C + ds->test.labels[j]) * C + pred[j]] += 1;
    gs_poll();
  }
  if (P > 1) {
    int failed = rc != 0, any;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm);
    if (any && !failed) rc = gs_fail(err, "a fine-tuning failed on another rank of the group");
    else if (!any) {
      MPI_Allreduce(MPI_IN_PLACE, conf, nu * C * C, MPI_DOUBLE, MPI_SUM, comm);
      MPI_Allreduce(MPI_IN_PLACE, diverged, nu, MPI_DOUBLE, MPI_SUM, comm);
    }
  }
  long *cm = gs_malloc(sizeof(long) * C * C);
  for (int b = 0; rc == 0 && b < pl->nbudgets; b++) {
    long B = pl->budgets[b], R = 0, nbad = 0, first_bad = -1;
    for (int i = 0; i < nu; i++)
      if (u[i].b == b) {
        R++;
        if (diverged[i]) nbad++, first_bad = first_bad < 0 || u[i].r < first_bad ? u[i].r : first_bad;
      }
    if (!R) continue;
    char bn[12], name[GS_NAME_LEN], path[128];
    budget_name(B, bn, sizeof bn);
    if (nbad) {
      skip(sk, "probes of the fine-tuned network at budget %s skipped: %ld of its %ld fine-tunings diverged (test "
           "logits not finite; subset %ld first)", bn, nbad, R, first_bad);
      continue;
    }
    double *acc = gs_malloc(sizeof(double) * R), *cf = gs_malloc(sizeof(double) * R * C * C);
    double *prec = gs_malloc(sizeof(double) * R * C), *recall = gs_malloc(sizeof(double) * R * C);
    double sum = 0, sum2 = 0;
    for (int i = 0; i < nu; i++) {
      if (u[i].b != b) continue;
      long r = u[i].r;
      for (int q = 0; q < C * C; q++) cm[q] = (long)conf[(long)i * C * C + q], cf[r * C * C + q] = conf[(long)i * C * C + q];
      acc[r] = gs_probe_accuracy(cm, C);
      gs_probe_precision_recall(cm, C, prec + r * C, recall + r * C);
    }
    for (long r = 0; r < R; r++) sum += acc[r], sum2 += acc[r] * acc[r];
    double mu = sum / R, sd = sqrt(fmax(sum2 / R - mu * mu, 0.0));
    snprintf(name, sizeof name, "probe_finetuned_net_%s", bn);
    gs_record_scalar(rec, name, mu);
    snprintf(name, sizeof name, "probe_finetuned_net_%s_std", bn);
    gs_record_scalar(rec, name, sd);
    long s1[1] = {R}, s2[2] = {R, C}, s3[3] = {R, C, C};
    snprintf(path, sizeof path, "probe/finetuned/net/%s/accuracy", bn);
    gs_record_array(rec, path, 1, s1, acc);
    snprintf(path, sizeof path, "probe/finetuned/net/%s/confusion", bn);
    gs_record_array(rec, path, 3, s3, cf);
    snprintf(path, sizeof path, "probe/finetuned/net/%s/precision", bn);
    gs_record_array(rec, path, 2, s2, prec);
    snprintf(path, sizeof path, "probe/finetuned/net/%s/recall", bn);
    gs_record_array(rec, path, 2, s2, recall);
    free(acc), free(cf), free(prec), free(recall);
  }
  if (rc == 0) gs_record_scalar(rec, "probe_all_labels", (double)n);
  free(cm), free(conf), free(diverged), free(load), free(u), free(pred), free(idx), free(sub), free(y);
  return rc;
}

/* One probe time: what = RECORD_FINAL (| RECORD_SERIES) at the end, RECORD_SERIES during training
 * (the trained model's sources only: the untrained ones do not change). */
static int run_probes(const gs_config *c, const gs_model_def *def, gs_model *m, const gs_dataset *ds, gs_record *rec,
                      MPI_Comm comm, int what, gs_error *err) {
  gs_probe_lists pl;
  if (gs_config_probe_lists(c, &pl, err) != 0) return -1;
  if (!(what & RECORD_FINAL)) pl.untrained_features = pl.untrained_pooled_features = pl.finetuned = 0;
  if (!pl.model_features && !pl.untrained_features && !pl.pooled_features && !pl.untrained_pooled_features &&
      !pl.class_head && !pl.finetuned)
    return 0;
  double t0 = gs_now();
  int P = 1, rank = 0;
  if (comm != MPI_COMM_NULL) {
    MPI_Comm_size(comm, &P);
    MPI_Comm_rank(comm, &rank);
  }
  const char *why = NULL;
  if (!def->features || !def->feature_dim) why = "the model has no features";
  else if (!ds->train.labels || !ds->test.labels) why = "the data set has no labels";
  else if (ds->train.n_classes < 2) why = "the data set has fewer than 2 classes";
  skips sk = {.final = (what & RECORD_FINAL) != 0, .rank = rank};
  int rc = 0;
  if (why) {
    skip(&sk, "probes skipped: %s", why);
    if (sk.final) record_skips(&sk, rec);
    return 0;
  }
  if (pl.model_features) rc = probe_source(c, &pl, "model", NULL, def, m, ds, rec, P, rank, comm, &sk, what, err);
  if (pl.class_head) class_head(def, m, ds, rec, &sk, what);
  if (rc == 0 && pl.pooled_features)
    rc = probe_source(c, &pl, "pooled", "pooled", def, m, ds, rec, P, rank, comm, &sk, what, err);
  /* a model without weights (pixels): its untrained features are its features, a duplicate row */
  if ((pl.untrained_features || pl.untrained_pooled_features) && def->params(m)->count == 0) {
    if (sk.final && rank == 0) /* not a skip: there is nothing else to probe */
      fprintf(stderr, "gensweep: probes of the untrained features left out: model %s has no weights (they are its "
                      "features)\n", def->name);
    pl.untrained_features = pl.untrained_pooled_features = 0;
  }
  if (rc == 0 && (pl.untrained_features || pl.untrained_pooled_features)) {
    /* the run's initial weights (the same seed and stream as its start), batch-norm statistics
     * re-estimated on the training images */
    gs_rng init;
    gs_rng_seed(&init, (uint64_t)c->seed, 0, GS_RNG_INIT);
    gs_model *m0 = def->create(c, ds, &init, err);
    if (!m0) return -1;
    if (def->refresh_statistics) def->refresh_statistics(m0, &ds->train);
    int once = what & ~RECORD_SERIES; /* the untrained features do not change: no series */
    if (pl.untrained_features)
      rc = probe_source(c, &pl, "untrained", NULL, def, m0, ds, rec, P, rank, comm, &sk, once, err);
    if (rc == 0 && pl.untrained_pooled_features)
      rc = probe_source(c, &pl, "untrained_pooled", "pooled", def, m0, ds, rec, P, rank, comm, &sk, once, err);
    def->destroy(m0);
  }
  if (rc == 0 && pl.finetuned) rc = finetuned_source(c, &pl, def, m, ds, rec, P, rank, comm, &sk, err);
  if (rc == 0 && sk.final) {
    record_skips(&sk, rec);
    gs_record_scalar(rec, "probe_seconds", gs_now() - t0);
  }
  return rc;
}

/* The series point of an evaluation that is not a probe time: NaN for each figure that a probe
 * time records, so that the series line up with the evaluations. */
static void nan_point(const gs_config *c, const gs_model_def *def, gs_model *m, const gs_dataset *ds, gs_record *rec) {
  gs_probe_lists pl;
  if (gs_config_probe_lists(c, &pl, NULL) != 0 || !def->features || !ds->train.labels || !ds->test.labels ||
      ds->train.n_classes < 2)
    return;
  /* the sources that have a series: features, and not read from the label (probe_source) */
  int label = def->features_read_label && def->features_read_label(m);
  const char *pre[2] = {"probe_", "probe_pooled_"};
  int on[2] = {pl.model_features && def->feature_dim(m) > 0 && !label,
               pl.pooled_features && def->feature_dim_kind && def->feature_dim_kind(m, "pooled") > 0 && !label};
  if (pl.class_head && def->feature_dim_kind && def->feature_dim_kind(m, "class_head") == ds->train.n_classes)
    gs_record_push(rec, "probe_class_head", NAN);
  long n = ds->train.n;
  int *y = gs_malloc(sizeof(int) * (n ? n : 1));
  for (long i = 0; i < n; i++) y[i] = ds->train.labels[i];
  for (int s = 0; s < 2; s++)
    if (on[s]) nan_series(&pl, pre[s], y, n, ds->train.n_classes, rec);
  free(y);
}

int gs_run_probes(const gs_config *c, const gs_model_def *def, gs_model *m, const gs_dataset *ds, gs_record *rec,
                  MPI_Comm comm, gs_error *err) {
  return run_probes(c, def, m, ds, rec, comm, RECORD_FINAL | (c->probe_every > 0 ? RECORD_SERIES : 0), err);
}

int gs_run_probes_during(const gs_config *c, const gs_model_def *def, gs_model *m, const gs_dataset *ds,
                         gs_record *rec, MPI_Comm comm, long t, gs_error *err) {
  if (c->probe_every <= 0) return 0;
  if (t % c->probe_every != 0) {
    nan_point(c, def, m, ds, rec);
    return 0;
  }
  return run_probes(c, def, m, ds, rec, comm, RECORD_SERIES, err);
}

static int choose_c(const gs_config *c, const gs_probe_lists *pl, const void *prv, int np, const float *X,
                    const int *y, long n, int F, int C, int P, int rank, MPI_Comm comm, double *chosen, gs_error *err) {
  const problem *pr = prv;
  int K = (int)c->probe_cv_folds, nc = pl->ncs;
  cv_unit *u = gs_malloc(sizeof(cv_unit) * (size_t)(np ? np : 1) * nc * K);
  int nu = 0;
  for (int p = 0; p < np; p++) {
    if (!pr[p].usable || pr[p].m / C < 2) continue;
    double cost = (gs_probe_large(pr[p].m, F) ? 0.1 : 1.0) * (double)pr[p].m * F * C;
    for (int ci = 0; ci < nc; ci++)
      for (int f = 0; f < K; f++) u[nu++] = (cv_unit){.p = p, .ci = ci, .f = f, .cost = cost};
  }
  qsort(u, (size_t)nu, sizeof *u, cv_by_cost);
  double *load = gs_calloc((size_t)P, sizeof(double));
  for (int i = 0; i < nu; i++) u[i].rank = least_loaded(load, P, u[i].cost);
  double *hits = gs_calloc((size_t)(np ? np : 1) * nc, sizeof(double));
  long *sub = gs_malloc(sizeof(long) * n), *tr = gs_malloc(sizeof(long) * n);
  long *seen = gs_malloc(sizeof(long) * C), *conf = gs_malloc(sizeof(long) * C * C);
  double *W = gs_malloc(sizeof(double) * C * (F + 1)), *mean = gs_malloc(sizeof(double) * F),
         *scale = gs_malloc(sizeof(double) * F);
  int rc = 0;
  for (int i = 0; i < nu && rc == 0; i++) {
    if (u[i].rank != rank) continue;
    const problem *q = &pr[u[i].p];
    long B = pl->budgets[q->budget];
    gs_probe_balanced_subset(y, n, C, B, (uint64_t)c->probe_seed, q->repeat, sub, err);
    /* the fold: training rows first, held-out rows after them */
    long ntr = 0, nva = 0;
    memset(seen, 0, sizeof(long) * C);
    for (long j = 0; j < q->m; j++)
      if ((seen[y[sub[j]]]++ % K) != u[i].f) tr[ntr++] = sub[j];
    long *va = gs_malloc(sizeof(long) * (size_t)(q->m - ntr + 1));
    memset(seen, 0, sizeof(long) * C);
    for (long j = 0; j < q->m; j++)
      if ((seen[y[sub[j]]]++ % K) == u[i].f) va[nva++] = sub[j];
    gs_probe_params par = {.classifier = q->clf ? GS_PROBE_LR : GS_PROBE_SVM, .C = pl->cs[u[i].ci],
                           .eps = c->probe_tol};
    rc = fit_subset(X, y, F, C, tr, ntr, &par, W, err);
    if (rc == 0 && nva > 0) {
      float *V = gs_malloc(sizeof(float) * (size_t)nva * F);
      int *yv = gs_malloc(sizeof(int) * (size_t)nva);
      for (long j = 0; j < nva; j++) {
        memcpy(V + j * F, X + va[j] * F, sizeof(float) * F);
        yv[j] = y[va[j]];
      }
      gs_probe_standardisation(X, F, tr, ntr, mean, scale);
      gs_probe_score_standardised(mean, scale, F, C, W, V, yv, nva, conf);
      for (int k = 0; k < C; k++) hits[u[i].p * nc + u[i].ci] += (double)conf[k * C + k];
      free(V), free(yv);
    }
    free(va);
    gs_poll();
  }
  if (P > 1) {
    int failed = rc != 0, any;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm);
    if (any && !failed) rc = gs_fail(err, "a probe cross-validation fit failed on another rank of the group");
    else if (!any) MPI_Allreduce(MPI_IN_PLACE, hits, np * nc, MPI_DOUBLE, MPI_SUM, comm);
  }
  for (int p = 0; rc == 0 && p < np; p++) {
    if (!pr[p].usable || pr[p].m / C < 2) continue;
    int best = 0;
    for (int ci = 1; ci < nc; ci++)
      if (hits[p * nc + ci] > hits[p * nc + best]) best = ci;
    chosen[p] = pl->cs[best];
  }
  free(u), free(load), free(hits), free(sub), free(tr), free(seen), free(conf), free(W), free(mean), free(scale);
  return rc;
}

int gs_run_wants_probes(const gs_config *c) {
  gs_probe_lists pl;
  if (gs_config_probe_lists(c, &pl, NULL) != 0) return 0;
  return pl.model_features || pl.untrained_features || pl.pooled_features || pl.untrained_pooled_features ||
         pl.class_head || pl.finetuned;
}

MPI_Comm gs_probe_join(MPI_Comm parent, const int *members, int ok, int tag) {
  if (members[0] < 2) return MPI_COMM_NULL;
  MPI_Group world, g;
  MPI_Comm big = MPI_COMM_NULL;
  MPI_Comm_group(parent, &world);
  MPI_Group_incl(world, members[0], members + 1, &g);
  MPI_Comm_create_group(parent, g, tag, &big);
  MPI_Group_free(&g);
  MPI_Group_free(&world);
  int all = ok;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, big);
  if (!all) MPI_Comm_free(&big);
  return all ? big : MPI_COMM_NULL;
}
