/* GAN training throughput at one thread, through the runner (gs_train_run: phases, freezing,
 * optimisers, exactly what a sweep runs), on Fashion-MNIST at the write-up's settings (the
 * model's own defaults). Images per second = real training images consumed (batch x iterations)
 * per second of training, as shared/reference/torch/bench.py counts them.
 *
 *   bench_gan --model gan|dcgan1|dcgan4 [--iterations N] [--ref IMG_PER_S]
 *       throughput, and the ratio against --ref (a PyTorch figure measured in the same run by
 *       tests/bench/gan_speed.sh; without --ref no ratio is printed)
 *   bench_gan --model dcgan1 --gstep
 *       time of one G step with D held fixed (no D weight gradient) and with D's weight
 *       gradients computed as well: what freezing saves
 *   bench_gan --quality [--results DIR]
 *       seconds to judge 10,000 generated images (features, class probabilities, Frechet
 *       distance to 10,000 test images, coverage), the judge trained (1 epoch) and cached in DIR
 *   bench_gan --calibrate [--results DIR] [--epochs E]
 *       the scale of the numbers, with the judge GAN runs use by default (8 epochs): 10,000
 *       training images against the test images (the floor), 10,000 images of uniform noise (the
 *       ceiling), and 10,000 samples of a VAE and of a CVAE (z = 25) trained E epochs (default 10)
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/models/model.h"
#include "gensweep/models/sample_quality.h"
#include "gensweep/runner/runner.h"

static int load_run(gs_sweep *sw, const char *text) {
  gs_error err = {0};
  if (gs_sweep_load_text("bench_gan", gs_models_vocabulary(), text, sw, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  return 0;
}

static int load_data(gs_dataset *ds) {
  gs_data_options o = {.seed = 1};
  gs_error err = {0};
  if (gs_dataset_load("fashion-mnist", &o, ds, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  return 0;
}

static int throughput(const char *model, long iterations, double ref) {
  char text[512];
  snprintf(text, sizeof text,
           "[model]\nname = %s\n[train]\niterations = %ld\nlog_every = 0\n[eval]\nsample_every = 0\njudge = 0\n", model,
           iterations);
  gs_sweep sw;
  gs_dataset ds;
  if (load_run(&sw, text) || load_data(&ds)) return 2;
  gs_train_hooks h = {.comm = MPI_COMM_NULL};
  gs_record rec;
  const gs_model_def *def;
  gs_model *m = gs_train_run(&sw.runs[0], &ds, &rec, &h, &def);
  if (!m || strcmp(rec.status, "done") != 0) {
    fprintf(stderr, "%s: %s\n", model, rec.message);
    return 2;
  }
  const double *ips = gs_record_find_scalar(&rec, "train_images_per_s");
  printf("gensweep %s: batch %ld, %ld iterations: %.0f img/s (one thread)", model, sw.runs[0].cfg.batch_size, iterations,
         ips ? *ips : NAN);
  if (ref > 0) printf("; PyTorch %.0f img/s; ratio %.2f (target >= 1.5)", ref, *ips / ref);
  printf("\n");
  def->destroy(m);
  gs_record_free(&rec);
  gs_dataset_free(&ds);
  gs_sweep_free(&sw);
  return 0;
}

/* One G step's time with D frozen (as the runner runs it) and with D's weight gradients too. */
static int gstep(const char *model) {
  char text[256];
  snprintf(text, sizeof text, "[model]\nname = %s\n", model);
  gs_sweep sw;
  gs_dataset ds;
  if (load_run(&sw, text) || load_data(&ds)) return 2;
  const gs_config *c = &sw.runs[0].cfg;
  const gs_model_def *def = gs_model_find(model);
  gs_rng init, noise;
  gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
  gs_rng_seed(&noise, 1, 0, GS_RNG_NOISE);
  gs_error err = {0};
  gs_model *m = def->create(c, &ds, &init, &err);
  if (!m) {
    fprintf(stderr, "%s\n", err.msg);
    return 2;
  }
  gs_params *p = def->params(m);
  int B = (int)c->batch_size;
  int32_t *idx = gs_malloc(sizeof(int32_t) * B);
  for (int i = 0; i < B; i++) idx[i] = i;
  gs_batch b = {&ds.train, idx, B, 0, B, NULL};
  int disc = p->group[0].name[0] == 'd' ? 0 : 1;
  double t[2] = {0, 0};
  enum { REPS = 7, STEPS = 10 };
  for (int rep = 0; rep < REPS; rep++)
    for (int frozen = 1; frozen >= 0; frozen--) { /* alternate, so drift hits both alike */
      gs_params_freeze(p, disc, frozen);
      double t0 = gs_now();
      for (int s = 0; s < STEPS; s++) def->train_step(m, &b, 1, &noise, NULL);
      double dt = (gs_now() - t0) / STEPS;
      gs_params_freeze(p, disc, 0);
      if (rep > 0 && (t[frozen] == 0 || dt < t[frozen])) t[frozen] = dt; /* best of the timed reps */
    }
  printf("%s G step (batch %d): %.2f ms with D held fixed, %.2f ms with D's weight gradients too (%.0f %% more)\n",
         model, B, 1e3 * t[1], 1e3 * t[0], 100.0 * (t[0] / t[1] - 1));
  free(idx);
  def->destroy(m);
  gs_dataset_free(&ds);
  gs_sweep_free(&sw);
  return 0;
}

/* Judge 10,000 images of an untrained dcgan1 (their quality does not change the work). */
static int quality(const char *results) {
  char text[1024];
  snprintf(text, sizeof text, "[sweep]\nresults = %s\n[model]\nname = dcgan1\n[eval]\njudge_epochs = 1\n", results);
  gs_sweep sw;
  gs_dataset ds;
  if (load_run(&sw, text) || load_data(&ds)) return 2;
  gs_error err = {0};
  gs_judge *j = gs_judge_get(&sw.runs[0].cfg, 1, &ds, &err);
  if (!j) {
    fprintf(stderr, "%s\n", err.msg);
    return 2;
  }
  enum { N = 10000 };
  uint8_t *pix = gs_malloc((size_t)N * ds.train.dim);
  /* stand-ins for generated images: training images, so the work is the real work */
  memcpy(pix, ds.train.pix, (size_t)N * ds.train.dim);
  gs_sample_quality q;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = gs_now();
    if (gs_sample_quality_judge(j, &ds, pix, N, NULL, 8, &q, &err) != 0) {
      fprintf(stderr, "%s\n", err.msg);
      return 2;
    }
    printf("sample quality of %d images (one thread): %.2f s%s; frechet %.3f (training vs test images), %d classes covered\n",
           N, gs_now() - t0, rep == 0 ? " (test side computed too)" : "", q.frechet, q.covered);
  }
  free(pix);
  gs_dataset_free(&ds);
  gs_sweep_free(&sw);
  return 0;
}

static void show(const char *what, const gs_sample_quality *q) {
  printf("%-34s frechet %8.3f  classes covered %2d  largest share %.3f  judge score %.3f", what, q->frechet,
         q->covered, q->largest_share, q->judge_score);
  if (!isnan(q->agreement)) printf("  agreement %.3f", q->agreement);
  printf("\n");
}

static int calibrate(const char *results, long epochs) {
  char text[1024];
  snprintf(text, sizeof text, "[sweep]\nresults = %s\n[data]\ntest_size = 10000\n[train]\nepochs = %ld\n"
           "[eval]\niw_samples = 0\nmanifold_n = 0\n[grid]\nmodel.name = vae, cvae\n", results, epochs);
  gs_sweep sw;
  gs_dataset ds;
  if (load_run(&sw, text) || load_data(&ds)) return 2;
  gs_error err = {0};
  gs_judge *j = gs_judge_get(&sw.runs[0].cfg, 8, &ds, &err);
  if (!j) {
    fprintf(stderr, "%s\n", err.msg);
    return 2;
  }
  printf("judge: 8 epochs, test accuracy %.2f %%\n", 100 * gs_judge_accuracy(j));
  enum { N = 10000 };
  uint8_t *pix = gs_malloc((size_t)N * ds.train.dim);
  gs_sample_quality q;
  memcpy(pix, ds.train.pix, (size_t)N * ds.train.dim);
  if (gs_sample_quality_judge(j, &ds, pix, N, NULL, 8, &q, &err) != 0) goto fail;
  show("training images (floor)", &q);
  gs_rng r;
  gs_rng_seed(&r, 1, 0, GS_RNG_EVAL);
  for (long i = 0; i < (long)N * ds.train.dim; i++) pix[i] = (uint8_t)gs_rng_below(&r, 256);
  if (gs_sample_quality_judge(j, &ds, pix, N, NULL, 8, &q, &err) != 0) goto fail;
  show("uniform noise images (ceiling)", &q);
  for (long k = 0; k < sw.nruns; k++) {
    gs_train_hooks h = {.comm = MPI_COMM_NULL};
    gs_record rec;
    const gs_model_def *def;
    gs_model *m = gs_train_run(&sw.runs[k], &ds, &rec, &h, &def);
    if (!m) {
      fprintf(stderr, "%s\n", rec.message);
      return 2;
    }
    if (gs_sample_quality_model(def, m, j, &ds, N, 1, 8, &q, &err) != 0) goto fail;
    char what[64];
    snprintf(what, sizeof what, "%s z=25, %ld epochs, prior samples", def->name, epochs);
    show(what, &q);
    def->destroy(m);
    gs_record_free(&rec);
  }
  free(pix);
  gs_dataset_free(&ds);
  gs_sweep_free(&sw);
  return 0;
fail:
  fprintf(stderr, "%s\n", err.msg);
  return 2;
}

int main(int argc, char **argv) {
  const char *model = "dcgan1", *results = "/tmp/bench_gan_results";
  long iterations = 0, epochs = 10;
  double ref = 0;
  int mode = 0; /* 0 throughput, 1 gstep, 2 quality, 3 calibrate */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
    else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) iterations = atol(argv[++i]);
    else if (!strcmp(argv[i], "--ref") && i + 1 < argc) ref = atof(argv[++i]);
    else if (!strcmp(argv[i], "--results") && i + 1 < argc) results = argv[++i];
    else if (!strcmp(argv[i], "--gstep")) mode = 1;
    else if (!strcmp(argv[i], "--quality")) mode = 2;
    else if (!strcmp(argv[i], "--calibrate")) mode = 3;
    else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atol(argv[++i]);
    else {
      fprintf(stderr, "bench_gan: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  openblas_set_num_threads(1);
  if (mode == 1) return gstep(model);
  if (mode == 2) return quality(results);
  if (mode == 3) return calibrate(results, epochs);
  if (iterations <= 0) iterations = !strcmp(model, "gan") ? 400 : !strcmp(model, "dcgan1") ? 150 : 40;
  return throughput(model, iterations, ref);
}
