/* Sample quality of a generative model, measured the same way for every model: the data set's
 * judge classifier (models/judge.h) looks at n generated images and at the test images.
 *
 *   frechet         Frechet distance between Gaussians fitted to the judge's penultimate-layer
 *                   features (128) of the samples and of the first n test images: the FID recipe
 *                   with the domain classifier in place of Inception. Biased upwards at small n:
 *                   compare runs at the same n (recorded as quality_samples).
 *   judge_kl_uniform, judge_covered, judge_largest_share
 *                   the predicted-class histogram of the samples: its KL divergence from uniform,
 *                   the classes holding at least 1 % of them, the largest class share
 *   judge_score     exp(E_x KL(p(y|x) || p(y))): the Inception-score recipe with the judge
 *   judge_agreement conditional models: share of samples the judge puts in the requested class
 *   mode_collapsed  1 when fewer than min_covered classes hold 1 % of the samples */
#ifndef GENSWEEP_SAMPLE_QUALITY_H
#define GENSWEEP_SAMPLE_QUALITY_H
#include <stdint.h>

#include "gensweep/core/common.h"
#include "gensweep/data/data.h"
#include "gensweep/io/record.h"
#include "gensweep/models/judge.h"

typedef struct gs_sample_quality {
  long n;                 /* samples judged */
  double frechet;
  double kl_uniform, largest_share, judge_score;
  int covered;
  double agreement;       /* NaN when no class was requested */
  int mode_collapsed;
  double seconds;         /* judging and distance, not generating */
} gs_sample_quality;

/* Judge n images (pix: n x the data set's h*w, uint8); wanted (may be NULL): the class each was
 * generated for. The test side (the first n test images' features, or all when fewer) is
 * computed once per judge and n and kept. -1 with err on failure (n < 2, a non-finite feature). */
int gs_sample_quality_judge(gs_judge *j, const gs_dataset *ds, const uint8_t *pix, long n, const int *wanted,
                            int min_covered, gs_sample_quality *out, gs_error *err);

/* The same for n images a model generates (its `generate` hook) with the randomness of stream
 * (seed, 0, GS_RNG_EVAL): the same images at every evaluation of a run, so that a quality curve
 * follows the model, not the noise. */
struct gs_model_def;
struct gs_model;
int gs_sample_quality_model(const struct gs_model_def *def, struct gs_model *m, gs_judge *j, const gs_dataset *ds,
                            long n, uint64_t seed, int min_covered, gs_sample_quality *out, gs_error *err);

/* Push q as one point of the series above (final = 1: also as final scalars, with
 * quality_samples and mode_collapsed). */
void gs_sample_quality_record(gs_record *rec, const gs_sample_quality *q, int final);

#endif
