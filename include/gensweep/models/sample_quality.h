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

#include "gensweep/config/config.h"
#include "gensweep/core/common.h"
#include "gensweep/data/data.h"
#include "gensweep/io/record.h"
#include "gensweep/models/judge.h"

/* The settings of sample quality, the same keys for every model that measures it: a model's
 * settings struct holds one as field `quality` and declares GS_JUDGE_KEYS and GS_QUALITY_KEYS.
 * A model that took runs before it measured sample quality declares them `neutral`
 * (config.h: its old runs keep their hashes). */
typedef struct gs_quality_settings {
  long judge;            /* 1: score generated images with the data set's judge */
  long judge_epochs;     /* training epochs of that judge */
  long quality_samples;  /* generated images judged at each evaluation */
  long min_covered;      /* fewer classes holding 1 % of them: mode_collapsed */
} gs_quality_settings;

#define GS_SAMPLE_QUALITY_KEY(settings, nm, f, lo, hi, d, h, neutral)                                    \
  { .section = "eval", .name = nm, .type = GS_KEY_INT, GS_KEY_FIELD(settings, quality.f), .min = lo,     \
    .max = hi, .def = d, .help = h, .neutral_at_default = neutral }
#define GS_JUDGE_KEYS(settings, neutral)                                                                  \
  GS_SAMPLE_QUALITY_KEY(settings, "judge", judge, 0, 1, "1",                                              \
                        "score generated images with a classifier trained once per data set (0 = off)",   \
                        neutral),                                                                         \
  GS_SAMPLE_QUALITY_KEY(settings, "judge_epochs", judge_epochs, 1, 100, "8",                              \
                        "training epochs of that classifier", neutral)
#define GS_QUALITY_KEYS(settings, neutral)                                                                \
  GS_SAMPLE_QUALITY_KEY(settings, "quality_samples", quality_samples, 2, 1000000, "10000",                \
                        "generated images judged at each evaluation (Frechet distance to as many test "   \
                        "images, coverage)", neutral),                                                    \
  GS_SAMPLE_QUALITY_KEY(settings, "min_covered", min_covered, 0, 1000, "8",                               \
                        "a run whose samples put at least 1 % in fewer classes than this is flagged "     \
                        "mode_collapsed", neutral)

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

/* One evaluation of a model that generates images: when qs->judge is on and the data set has a
 * judge (labels), judge qs->quality_samples images from gs_sample_quality_model and push them as
 * a point of the series (final = 1: also the final scalars and judge_test_accuracy). Without a
 * judge the run goes on unscored (said once, at the end). -1 with err when the measurement fails. */
int gs_sample_quality_evaluate(const struct gs_model_def *def, struct gs_model *m, const gs_config *cfg,
                               const gs_dataset *ds, const gs_quality_settings *qs, int final, gs_record *rec,
                               gs_error *err);

/* Push q as one point of the series above (final = 1: also as final scalars, with
 * quality_samples and mode_collapsed). */
void gs_sample_quality_record(gs_record *rec, const gs_sample_quality *q, int final);
/* Floating-point operations of `evaluations` sample-quality measurements on a data set of these
 * sizes (the judge's forward pass over the samples; 0 when qs->judge is off), for cost estimates. */
double gs_sample_quality_cost(const gs_quality_settings *qs, const gs_data_sizes *d, double evaluations);

/* A point of the series for an evaluation with nothing to judge: NaN in each (not judge_agreement). */
void gs_sample_quality_record_none(gs_record *rec);

#endif
