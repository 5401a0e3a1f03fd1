/* The judge: a small convolutional classifier trained once per data set and reused by every run
 * that needs to say which class a generated image looks like (cae_igmn's per-component
 * generation, IGMN.md §5 measured instead of eyeballed).
 *
 *   x (1x28x28) -> conv 3x3/2 32 -> ReLU -> conv 3x3/2 64 -> ReLU -> dense 128 -> ReLU -> dense classes
 *   softmax cross-entropy, Adam 1e-3 x 0.75^epoch, batch 100, eval.judge_epochs epochs over the data set's whole
 *   training files, fixed seed (the judge is a property of the data set, not of a run).
 *
 * Cached in <results root>/.judge/<data set>-<dir hash>-<H>x<W>-c<classes>-e<epochs>-v<version>.h5 (HDF5: /params/data
 * float32, attributes data_set, epochs, test_accuracy, crc32 over the parameters). Training takes
 * an exclusive flock on <cache>.lock, so ranks and jobs that need the same judge at the same time
 * train it once; a corrupt cache file is reported and replaced. */
#ifndef GENSWEEP_JUDGE_H
#define GENSWEEP_JUDGE_H
#include <stdint.h>

#include "gensweep/core/common.h"
#include "gensweep/config/config.h"
#include "gensweep/data/data.h"

typedef struct gs_judge gs_judge;

/* The judge for cfg's data set (data.dataset, cache under sweep.results), trained for `epochs` (cached in this process after the first call). NULL + err on
 * failure (no labels, unwritable cache ...). */
gs_judge *gs_judge_get(const gs_config *cfg, long epochs, const gs_dataset *ds, gs_error *err);
/* Class of each of n images (h*w uint8 pixels each, the data set's size). */
void gs_judge_classify_u8(gs_judge *j, const uint8_t *pix, int n, int *labels);
/* The penultimate layer (feat: n x gs_judge_feature_dim, may be NULL) and the class
 * probabilities (prob: n x gs_judge_classes, may be NULL) of n images, as for classify. */
/* Floating-point operations of classifying one h x w image (forward pass). */
double gs_judge_flops(int h, int w, int classes);
int gs_judge_feature_dim(const gs_judge *j);
int gs_judge_classes(const gs_judge *j);
void gs_judge_features_u8(gs_judge *j, const uint8_t *pix, long n, float *feat, float *prob);
/* Accuracy on the data set's whole test files, measured when it was trained. */
double gs_judge_accuracy(const gs_judge *j);
/* Train a judge from scratch (no cache) on ds's train set and measure it on ds's test set. */
gs_judge *gs_judge_train(const gs_dataset *ds, int epochs, uint64_t seed, gs_error *err);
void gs_judge_free(gs_judge *j);

#endif
