/* The judge classifier (src/models/judge.c) and the sample-quality figures computed from it
 * (src/models/sample_quality.c), checked for their values on real Fashion-MNIST images:
 *   - trained on a small subset, the judge classifies the test images far better than guessing:
 *     the threshold sits below what it reaches here and far above what a guessing, untrained or
 *     label-blind judge can reach;
 *   - its classification, its probabilities and its recorded accuracy agree with one another;
 *   - the same seed gives the same judge bit for bit, another seed another judge;
 *   - judged by it, real images look like a balanced data set (every class covered, the largest
 *     share near 1/10, a small Frechet distance), while a "generator" that repeats one image
 *     collapses (one class, largest share 1, a large Frechet distance); each figure is also
 *     recomputed here from the judge's own classes and probabilities.
 * Skipped when Fashion-MNIST is not installed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gensweep/models/judge.h"
#include "gensweep/models/model.h"
#include "gensweep/models/sample_quality.h"

/* Sized so that training stays a few seconds on one core: 2 epochs over 10,000 training images
 * give 0.833 test accuracy on the first 2,000 test images (other seeds: 0.816-0.830; the studies'
 * judge, 8 epochs over all 60,000, 0.9027). Guessing gets 0.1, and so do an untrained judge
 * (0.078) and one trained with the labels hidden (0.094). */
enum { N_TRAIN = 10000, N_TEST = 2000, EPOCHS = 2, N_QUALITY = 1000, C = 10 };
#define SEED 20260101u
#define ACC_MIN 0.75

static void load(gs_dataset *ds, long train, long test) {
  struct stat st;
  if (stat(GS_FASHION_MNIST_DIR, &st) != 0) cr_skip_test("%s not installed", GS_FASHION_MNIST_DIR);
  gs_data_options o = {.train_size = train, .test_size = test, .val_split = 0.0, .seed = 7};
  gs_error err = {0};
  cr_assert_eq(gs_dataset_load("fashion-mnist", &o, ds, &err), 0, "%s", err.msg);
  cr_assert_eq(ds->train.n, train);
  cr_assert_eq(ds->test.n, test);
  cr_assert_eq(ds->train.n_classes, C);
}

static gs_judge *train(const gs_dataset *ds, int epochs, uint64_t seed) {
  gs_error err = {0};
  double t0 = gs_now();
  gs_judge *j = gs_judge_train(ds, epochs, seed, &err);
  cr_assert_not_null(j, "%s", err.msg);
  cr_log_info("judge: %ld images x %d epochs in %.2f s, test accuracy %.4f", ds->train.n, epochs, gs_now() - t0,
              gs_judge_accuracy(j));
  return j;
}

Test(judge, classifies_fashion_mnist_far_better_than_guessing) {
  gs_dataset ds;
  load(&ds, N_TRAIN, N_TEST);
  gs_judge *j = train(&ds, EPOCHS, SEED);
  cr_assert_eq(gs_judge_classes(j), C);
  double acc = gs_judge_accuracy(j);
  cr_assert_gt(acc, ACC_MIN, "test accuracy %.4f, threshold %.2f", acc, ACC_MIN);
  cr_assert_leq(acc, 1.0);

  /* the recorded accuracy is what classify says about the test images */
  long n = ds.test.n;
  int *lab = malloc(sizeof(int) * n);
  gs_judge_classify_u8(j, ds.test.pix, (int)n, lab);
  long ok = 0, per_class[C] = {0}, predicted[C] = {0};
  for (long i = 0; i < n; i++) {
    cr_assert(lab[i] >= 0 && lab[i] < C, "image %ld: class %d", i, lab[i]);
    ok += lab[i] == ds.test.labels[i];
    per_class[ds.test.labels[i]] += lab[i] == ds.test.labels[i];
    predicted[lab[i]]++;
  }
  cr_assert_eq((double)ok / n, acc, "classify gives %.4f, the judge recorded %.4f", (double)ok / n, acc);
  /* not a few easy classes carrying the rest: each class is mostly recognised (the hardest,
   * pullovers and shirts, at 0.65 and 0.66 here) and predicted for about its share (175 to 235 of
   * 2,000 here); a judge that merged two classes would fail this */
  long tot[C] = {0};
  for (long i = 0; i < n; i++) tot[ds.test.labels[i]]++;
  for (int c = 0; c < C; c++) {
    double recall = (double)per_class[c] / tot[c];
    cr_assert_gt(recall, 0.4, "class %d: recall %.3f", c, recall);
    cr_assert_gt(predicted[c], n / (2 * C), "class %d is predicted %ld times of %ld", c, predicted[c], n);
  }

  /* probabilities: in [0, 1], summing to 1, their argmax the class classify gives; features finite
   * and not all alike */
  int F = gs_judge_feature_dim(j);
  cr_assert_eq(F, 128);
  float *prob = malloc(sizeof(float) * n * C), *feat = malloc(sizeof(float) * n * F);
  gs_judge_features_u8(j, ds.test.pix, n, feat, prob);
  double mean_top = 0;
  for (long i = 0; i < n; i++) {
    const float *p = prob + i * C;
    double s = 0;
    int best = 0;
    for (int c = 0; c < C; c++) {
      cr_assert(p[c] >= 0 && p[c] <= 1, "image %ld class %d: probability %g", i, c, p[c]);
      s += p[c];
      if (p[c] > p[best]) best = c;
    }
    cr_assert_float_eq(s, 1.0, 1e-5, "image %ld: probabilities sum to %.8f", i, s);
    cr_assert(best == lab[i] || p[best] == p[lab[i]], "image %ld: argmax %d, classify %d", i, best, lab[i]);
    mean_top += p[best] / n;
  }
  cr_assert_gt(mean_top, 0.5, "mean top probability %.3f: the judge is not confident", mean_top);
  int differ = 0;
  for (long k = 0; k < n * F; k++) {
    cr_assert(isfinite(feat[k]), "feature %ld is %g", k, feat[k]);
    differ |= feat[k] != feat[k % F];
  }
  cr_assert(differ, "every image has the same features");
  free(prob);
  free(feat);
  free(lab);
  gs_judge_free(j);
  gs_dataset_free(&ds);
}

Test(judge, same_seed_same_judge) {
  gs_dataset ds;
  load(&ds, 2000, 500);
  gs_judge *a = train(&ds, 1, 11), *b = train(&ds, 1, 11), *other = train(&ds, 1, 12);
  long n = ds.test.n, F = gs_judge_feature_dim(a);
  float *fa = malloc(sizeof(float) * n * F), *fb = malloc(sizeof(float) * n * F), *fo = malloc(sizeof(float) * n * F);
  float *pa = malloc(sizeof(float) * n * C), *pb = malloc(sizeof(float) * n * C), *po = malloc(sizeof(float) * n * C);
  gs_judge_features_u8(a, ds.test.pix, n, fa, pa);
  gs_judge_features_u8(b, ds.test.pix, n, fb, pb);
  gs_judge_features_u8(other, ds.test.pix, n, fo, po);
  cr_assert_eq(gs_judge_accuracy(a), gs_judge_accuracy(b), "the same seed: test accuracy %.4f, then %.4f",
               gs_judge_accuracy(a), gs_judge_accuracy(b));
  cr_assert_eq(memcmp(fa, fb, sizeof(float) * n * F), 0, "the same seed gave other features");
  cr_assert_eq(memcmp(pa, pb, sizeof(float) * n * C), 0, "the same seed gave other probabilities");
  cr_assert_neq(memcmp(pa, po, sizeof(float) * n * C), 0, "another seed gave the same probabilities");
  free(fa), free(fb), free(fo), free(pa), free(pb), free(po);
  gs_judge_free(a);
  gs_judge_free(b);
  gs_judge_free(other);
  gs_dataset_free(&ds);
}

/* ------------------------------------------------------------------ sample quality */
/* "Generators" for gs_sample_quality_model: they ignore the model and give data set images. */
static const gs_dataset *source;
static int wanted_shift; /* the conditional one asks for each image's class + this */

/* n training images drawn at random: what a perfect generator would give */
static int gen_real(gs_model *m, long n, gs_rng *rng, uint8_t *out, int *cls) {
  (void)m, (void)cls;
  for (long i = 0; i < n; i++)
    memcpy(out + i * source->train.dim, source->train.pix + gs_rng_below(rng, source->train.n) * source->train.dim,
           source->train.dim);
  return 0;
}

/* n copies of one image: total mode collapse */
static int gen_one(gs_model *m, long n, gs_rng *rng, uint8_t *out, int *cls) {
  (void)m, (void)cls, (void)rng;
  for (long i = 0; i < n; i++) memcpy(out + i * source->train.dim, source->train.pix, source->train.dim);
  return 0;
}

/* conditional: test image i, "generated for" its class + wanted_shift */
static int gen_labelled(gs_model *m, long n, gs_rng *rng, uint8_t *out, int *cls) {
  (void)m, (void)rng;
  memcpy(out, source->test.pix, (size_t)n * source->test.dim);
  for (long i = 0; i < n; i++) cls[i] = (source->test.labels[i] + wanted_shift) % C;
  return 1;
}

/* The histogram figures recomputed from the judge's probabilities of the images `gen` gives. */
typedef struct { int covered; double largest, kl, score; } histo;
static histo recompute(gs_judge *j, int (*gen)(gs_model *, long, gs_rng *, uint8_t *, int *), long n, uint64_t seed) {
  gs_rng r;
  gs_rng_seed(&r, seed, 0, GS_RNG_EVAL); /* as gs_sample_quality_model seeds it */
  uint8_t *pix = malloc((size_t)n * source->train.dim);
  gen(NULL, n, &r, pix, NULL);
  float *p = malloc(sizeof(float) * n * C);
  gs_judge_features_u8(j, pix, n, NULL, p);
  double share[C] = {0}, pbar[C] = {0}, ekl = 0;
  for (long i = 0; i < n; i++) {
    int best = 0;
    for (int c = 0; c < C; c++) {
      if (p[i * C + c] > p[i * C + best]) best = c;
      pbar[c] += p[i * C + c] / n;
    }
    share[best] += 1.0 / n;
  }
  for (long i = 0; i < n; i++)
    for (int c = 0; c < C; c++)
      if (p[i * C + c] > 0) ekl += p[i * C + c] * (log(p[i * C + c]) - log(pbar[c])) / n;
  histo h = {0, 0, 0, exp(ekl)};
  for (int c = 0; c < C; c++) {
    h.covered += share[c] >= 0.01;
    h.largest = fmax(h.largest, share[c]);
    if (share[c] > 0) h.kl += share[c] * log(share[c] * C);
  }
  free(pix);
  free(p);
  return h;
}

static void check_recomputed(const char *what, const gs_sample_quality *q, const histo *h) {
  cr_assert_eq(q->covered, h->covered, "%s: covered %d, recomputed %d", what, q->covered, h->covered);
  cr_assert_float_eq(q->largest_share, h->largest, 1e-9, "%s: largest share %g, recomputed %g", what, q->largest_share,
                     h->largest);
  cr_assert_float_eq(q->kl_uniform, h->kl, 1e-6, "%s: KL from uniform %g, recomputed %g", what, q->kl_uniform, h->kl);
  cr_assert_float_eq(q->judge_score, h->score, 1e-4 * h->score, "%s: judge score %g, recomputed %g", what,
                     q->judge_score, h->score);
}

Test(judge, sample_quality_tells_real_images_from_a_collapsed_generator) {
  gs_dataset ds;
  load(&ds, N_TRAIN, N_TEST);
  source = &ds;
  gs_judge *j = train(&ds, EPOCHS, SEED);
  gs_error err = {0};
  const int min_covered = 8;
  const uint64_t seed = 5;

  /* real images: a balanced data set (Fashion-MNIST's classes are 1/10 each) */
  gs_model_def real = {.name = "real", .generate = gen_real};
  gs_sample_quality q;
  cr_assert_eq(gs_sample_quality_model(&real, NULL, j, &ds, N_QUALITY, seed, min_covered, &q, &err), 0, "%s", err.msg);
  cr_log_info("real images: covered %d, largest share %.3f, KL %.4f, score %.3f, Frechet %.3f", q.covered,
              q.largest_share, q.kl_uniform, q.judge_score, q.frechet);
  cr_assert_eq(q.n, N_QUALITY);
  cr_assert_eq(q.covered, C);
  cr_assert_geq(q.largest_share, 1.0 / C);
  cr_assert_lt(q.largest_share, 0.2, "largest share %.3f of real images", q.largest_share);
  cr_assert_lt(q.kl_uniform, 0.1, "KL from uniform %.4f of real images", q.kl_uniform);
  cr_assert_gt(q.judge_score, 4.0, "judge score %.3f of real images (1 .. 10)", q.judge_score);
  cr_assert_eq(q.mode_collapsed, 0);
  cr_assert(isnan(q.agreement), "an unconditional generator has agreement %g", q.agreement);
  /* training images against test images: two samples of one distribution, near but not at 0 at
   * this n (0 would mean the samples were compared with themselves) */
  cr_assert(isfinite(q.frechet) && q.frechet > 0.5 && q.frechet < 20, "Frechet distance %g of real images", q.frechet);
  histo h = recompute(j, gen_real, N_QUALITY, seed);
  check_recomputed("real", &q, &h);
  double frechet_real = q.frechet;

  /* the test images themselves against the first N_QUALITY test images: the same features */
  gs_sample_quality same;
  cr_assert_eq(gs_sample_quality_judge(j, &ds, ds.test.pix, N_QUALITY, NULL, min_covered, &same, &err), 0, "%s",
               err.msg);
  cr_assert_float_eq(same.frechet, 0.0, 1e-3 * frechet_real, "Frechet distance of a set to itself %g", same.frechet);
  /* mode_collapsed: fewer than min_covered classes hold 1 %, so all 10 covered is not collapsed
   * at min_covered = 10 and is at 11 */
  cr_assert_eq(same.covered, C);
  cr_assert_eq(gs_sample_quality_judge(j, &ds, ds.test.pix, N_QUALITY, NULL, C, &same, &err), 0, "%s", err.msg);
  cr_assert_eq(same.mode_collapsed, 0, "10 classes covered, min_covered 10: flagged as collapsed");
  cr_assert_eq(gs_sample_quality_judge(j, &ds, ds.test.pix, N_QUALITY, NULL, C + 1, &same, &err), 0, "%s", err.msg);
  cr_assert_eq(same.mode_collapsed, 1, "10 classes covered, min_covered 11: not flagged as collapsed");

  /* one image over and over */
  gs_model_def one = {.name = "one", .generate = gen_one};
  cr_assert_eq(gs_sample_quality_model(&one, NULL, j, &ds, N_QUALITY, seed, min_covered, &q, &err), 0, "%s", err.msg);
  cr_log_info("one image: covered %d, largest share %.3f, KL %.4f, score %.3f, Frechet %.3f", q.covered,
              q.largest_share, q.kl_uniform, q.judge_score, q.frechet);
  cr_assert_eq(q.covered, 1);
  cr_assert_float_eq(q.largest_share, 1.0, 1e-12);
  cr_assert_float_eq(q.kl_uniform, log(C), 1e-9);
  cr_assert_float_eq(q.judge_score, 1.0, 1e-4);
  cr_assert_eq(q.mode_collapsed, 1);
  cr_assert_gt(q.frechet, 10 * frechet_real, "Frechet distance %g of one image, %g of real images", q.frechet,
               frechet_real);
  h = recompute(j, gen_one, N_QUALITY, seed);
  check_recomputed("one image", &q, &h);

  /* conditional: the share of images the judge puts in the class asked for */
  int *lab = malloc(sizeof(int) * N_QUALITY);
  gs_judge_classify_u8(j, ds.test.pix, N_QUALITY, lab);
  for (wanted_shift = 0; wanted_shift < 2; wanted_shift++) {
    long ok = 0;
    for (int i = 0; i < N_QUALITY; i++) ok += lab[i] == (ds.test.labels[i] + wanted_shift) % C;
    gs_model_def cond = {.name = "labelled", .generate = gen_labelled};
    cr_assert_eq(gs_sample_quality_model(&cond, NULL, j, &ds, N_QUALITY, seed, min_covered, &q, &err), 0, "%s",
                 err.msg);
    cr_assert_float_eq(q.agreement, (double)ok / N_QUALITY, 1e-12, "class + %d: agreement %g, classify %g",
                       wanted_shift, q.agreement, (double)ok / N_QUALITY);
    if (wanted_shift == 0) cr_assert_gt(q.agreement, ACC_MIN, "agreement with the true classes %g", q.agreement);
    else cr_assert_lt(q.agreement, 0.1, "agreement with the wrong classes %g", q.agreement);
  }
  free(lab);
  gs_judge_free(j);
  gs_dataset_free(&ds);
}
