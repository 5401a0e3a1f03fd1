/* Sample quality judged by the data set's classifier: see include/gensweep/models/sample_quality.h. */
#include "gensweep/models/sample_quality.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/models/model.h"
#include "gensweep/nn/quality.h"

/* The test side of the distance, for one judge and sample count (a run evaluates many times). */
static struct {
  const gs_judge *judge;
  const uint8_t *pix;  /* the test set it was computed from */
  long n;
  int d;
  double *mean, *cov;
} ref;

static int reference(gs_judge *j, const gs_dataset *ds, long n, gs_error *err) {
  long nt = n < ds->test.n ? n : ds->test.n;
  if (ref.judge == j && ref.pix == ds->test.pix && ref.n == nt) return 0;
  if (nt < 2) return gs_fail(err, "sample quality: the test set has %ld images (at least 2 needed)", ds->test.n);
  int d = gs_judge_feature_dim(j);
  float *f = gs_malloc(sizeof(float) * (size_t)nt * d);
  gs_judge_features_u8(j, ds->test.pix, nt, f, NULL);
  free(ref.mean);
  free(ref.cov);
  ref.mean = gs_malloc(sizeof(double) * d);
  ref.cov = gs_malloc(sizeof(double) * d * d);
  gs_feature_moments(f, nt, d, ref.mean, ref.cov);
  free(f);
  ref.judge = j;
  ref.pix = ds->test.pix;
  ref.n = nt;
  ref.d = d;
  return 0;
}

int gs_sample_quality_judge(gs_judge *j, const gs_dataset *ds, const uint8_t *pix, long n, const int *wanted,
                            int min_covered, gs_sample_quality *out, gs_error *err) {
  memset(out, 0, sizeof *out);
  double t0 = gs_now();
  if (n < 2) return gs_fail(err, "sample quality: %ld samples (at least 2 needed)", n);
  if (reference(j, ds, n, err) != 0) return -1;
  int d = gs_judge_feature_dim(j), C = gs_judge_classes(j);
  float *f = gs_malloc(sizeof(float) * (size_t)n * d), *p = gs_malloc(sizeof(float) * (size_t)n * C);
  gs_judge_features_u8(j, pix, n, f, p);
  double *mean = gs_malloc(sizeof(double) * d), *cov = gs_malloc(sizeof(double) * d * d);
  gs_feature_moments(f, n, d, mean, cov);
  int rc = gs_frechet_distance(mean, cov, ref.mean, ref.cov, d, &out->frechet, err);
  gs_coverage cv;
  if (rc == 0 && gs_class_coverage(p, n, C, 0.01, &cv) != 0)
    rc = gs_fail(err, "sample quality: the judge's class probabilities are not finite");
  if (rc == 0) {
    out->n = n;
    out->kl_uniform = cv.kl_uniform;
    out->largest_share = cv.largest_share;
    out->judge_score = cv.judge_score;
    out->covered = cv.covered;
    out->mode_collapsed = cv.covered < min_covered;
    out->agreement = wanted ? gs_class_agreement(p, n, C, wanted) : NAN;
    gs_coverage_free(&cv);
  }
  free(f);
  free(p);
  free(mean);
  free(cov);
  out->seconds = gs_now() - t0;
  return rc;
}

int gs_sample_quality_model(const gs_model_def *def, gs_model *m, gs_judge *j, const gs_dataset *ds, long n,
                            uint64_t seed, int min_covered, gs_sample_quality *out, gs_error *err) {
  if (!def->generate) return gs_fail(err, "sample quality: model %s does not generate images", def->name);
  gs_rng r;
  gs_rng_seed(&r, seed, 0, GS_RNG_EVAL);
  uint8_t *pix = gs_malloc((size_t)n * ds->train.dim);
  int *cls = gs_malloc(sizeof(int) * (size_t)n);
  int conditional = def->generate(m, n, &r, pix, cls);
  int rc = conditional < 0 ? gs_fail(err, "sample quality: model %s has nothing to generate from", def->name)
                           : gs_sample_quality_judge(j, ds, pix, n, conditional ? cls : NULL, min_covered, out, err);
  free(pix);
  free(cls);
  return rc;
}

int gs_sample_quality_evaluate(const gs_model_def *def, gs_model *m, const gs_config *cfg, const gs_dataset *ds,
                               const gs_quality_settings *qs, int final, gs_record *rec, gs_error *err) {
  if (!qs->judge) return 0;
  gs_error jerr = {0};
  gs_judge *j = gs_judge_get(cfg, qs->judge_epochs, ds, &jerr);
  if (!j) { /* an unlabelled data set has no judge: the run goes on, unscored */
    if (final) fprintf(stderr, "gensweep: sample quality not measured: %s\n", jerr.msg);
    return 0;
  }
  gs_sample_quality q;
  int rc = gs_sample_quality_model(def, m, j, ds, qs->quality_samples, (uint64_t)cfg->seed, (int)qs->min_covered,
                                   &q, err);
  if (rc == 0) {
    gs_sample_quality_record(rec, &q, final);
    if (final) gs_record_scalar(rec, "judge_test_accuracy", gs_judge_accuracy(j));
  }
  return rc;
}

void gs_sample_quality_record(gs_record *rec, const gs_sample_quality *q, int final) {
  const struct {
    const char *name;
    double v;
  } m[] = {{"frechet", q->frechet},           {"judge_kl_uniform", q->kl_uniform},
           {"judge_covered", q->covered},     {"judge_largest_share", q->largest_share},
           {"judge_score", q->judge_score},   {"judge_agreement", q->agreement}};
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    if (isnan(m[i].v) && strcmp(m[i].name, "judge_agreement") == 0) continue; /* unconditional */
    gs_record_push(rec, m[i].name, m[i].v);
    if (final) gs_record_scalar(rec, m[i].name, m[i].v);
  }
  if (!final) return;
  gs_record_scalar(rec, "quality_samples", (double)q->n);
  gs_record_scalar(rec, "mode_collapsed", q->mode_collapsed);
  gs_record_scalar(rec, "quality_seconds", q->seconds);
}

void gs_sample_quality_record_none(gs_record *rec) {
  const char *names[] = {"frechet", "judge_kl_uniform", "judge_covered", "judge_largest_share", "judge_score"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) gs_record_push(rec, names[i], NAN);
}

double gs_sample_quality_cost(const gs_quality_settings *qs, const gs_data_sizes *d, double evaluations) {
  if (!qs->judge) return 0.0;
  return gs_judge_flops(d->h, d->w, 10) * (double)qs->quality_samples * evaluations;
}
