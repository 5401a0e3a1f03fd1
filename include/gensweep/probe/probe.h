/* Linear probes: how well a linear classifier does on a set of features (SCIENCE.md §2: a GAN is
 * judged by a linear SVM on its discriminator's features, against raw pixels, with few and many
 * labels).
 *
 *   classifiers  liblinear (the solver scikit-learn wraps, so the numbers compare):
 *                svm  L2-regularised squared hinge (LinearSVC's loss; liblinear -s 1 dual when
 *                     there are fewer examples than features, else -s 2 primal)
 *                lr   L2-regularised logistic regression (-s 7 dual, -s 0 primal, likewise)
 *                one-vs-rest: one binary problem per class (class k against the rest); the
 *                predicted class is the one with the largest decision value, as liblinear's own
 *                multi-class mode does. A bias feature of value 1 (liblinear's -B 1). Small
 *                problems (fewer examples than features: the label budgets) are fitted class by
 *                class with liblinear's dual solvers; large ones, all classes at once, with
 *                gensweep's own primal solver (probe/solver.h: the same objectives; liblinear's
 *                primal per-class fits stay as its reference, gs_probe_fit_class).
 *   features     standardised with the labelled subset's mean and standard deviation (a column
 *                constant over the subset is only centred), test features with the same numbers.
 *   budgets      class-balanced random subsets of the labelled training set: budget / classes
 *                images of each class, drawn by (seed, budget, repeat), so each repeat differs and
 *                the same seed gives the same subsets; budget 0 = every training image.
 *   results      the confusion matrix on the test set; accuracy, per-class precision and recall
 *                follow from it. */
#ifndef GENSWEEP_PROBE_H
#define GENSWEEP_PROBE_H
#include <stdint.h>

#include "gensweep/core/common.h"

typedef enum { GS_PROBE_SVM = 0, GS_PROBE_LR = 1 } gs_probe_classifier;

typedef struct gs_probe_params {
  gs_probe_classifier classifier;
  double C;   /* inverse regularisation strength (liblinear -c, scikit-learn's C) */
  double eps; /* liblinear's stopping tolerance (-e) */
} gs_probe_params;

/* liblinear's solver name and default tolerance for a classifier */
const char *gs_probe_classifier_name(gs_probe_classifier c);

/* A class-balanced subset of n labelled examples (labels in 0..classes-1): budget / classes of
 * each class, drawn uniformly without replacement by (seed, budget, repeat), sorted ascending into
 * out (budget entries). budget 0: all n, in order. -1 with err when budget is not a multiple of
 * classes or a class has fewer examples than it needs. */
int gs_probe_balanced_subset(const int *labels, long n, int classes, long budget, uint64_t seed, long repeat,
                             long *out, gs_error *err);

/* Column mean and scale of rows idx[0..m) of X (n x d): scale = 1 / std (1 where the std is 0). */
void gs_probe_standardisation(const float *X, int d, const long *idx, long m, double *mean, double *scale);

/* A problem: the training rows (X rows idx, their labels), standardised; built once, then fitted
 * class by class (by any rank) and scored. */
typedef struct gs_probe_problem gs_probe_problem;
gs_probe_problem *gs_probe_problem_new(const float *X, const int *labels, int d, int classes, const long *idx,
                                       long m);
void gs_probe_problem_free(gs_probe_problem *p);

/* Fit class k against the rest: w (d + 1: the weights, then the bias). -1 with err on failure. */
int gs_probe_fit_class(const gs_probe_problem *p, int k, const gs_probe_params *par, double *w, gs_error *err);

/* Score test rows T (nt x d, labels yt) with the classes' weights W (classes x (d + 1)), the
 * features standardised as the problem's: confusion (classes x classes, row = true class,
 * column = predicted) is filled. The standardisation is folded into the weights and the scores
 * are one float32 matrix product. */
void gs_probe_score(const gs_probe_problem *p, const double *W, const float *T, const int *yt, long nt,
                    long *confusion);

/* The same from the standardisation alone (mean, scale: d each), for a process that scores
 * weights fitted elsewhere. */
void gs_probe_score_standardised(const double *mean, const double *scale, int d, int classes, const double *W,
                                 const float *T, const int *yt, long nt, long *confusion);

/* Which solver a problem of m examples and d features gets: 1 when liblinear's dual solvers
 * apply (fewer examples than features, d + 1 with the bias), 0 for the primal problems, which
 * gs_probe_fit_all solves. */
int gs_probe_small(long m, int d);
/* 1 for the problems gs_probe_fit_all (the own primal solver) takes: at least 8 examples per
 * feature. Between the two, liblinear's primal solver, class by class: at 1,000 labels on the
 * 784 pixels the own solver stopped 2.7 points short of liblinear's and scikit-learn's SVM
 * accuracy at the same tolerance (tests/bench/probe_speed.sh), on all 60,000 it matched them. */
int gs_probe_large(long m, int d);

/* All classes of one problem on this rank, then the score: the confusion matrix. */
int gs_probe_fit_score(const gs_probe_problem *p, const gs_probe_params *par, const float *T, const int *yt, long nt,
                       long *confusion, gs_error *err);

/* From a confusion matrix: accuracy; precision[k] and recall[k] (NaN where undefined). */
double gs_probe_accuracy(const long *confusion, int classes);
void gs_probe_precision_recall(const long *confusion, int classes, double *precision, double *recall);

#endif
