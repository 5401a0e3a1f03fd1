/* The model contract, checked for every model in the registry: each declares its keys, headline
 * and cost; cost follows the data set's real sizes; features are deterministic, shaped, the
 * same up to rounding however the examples are split into calls, and follow training. */
#include <criterion/criterion.h>
#include <math.h>

#include "cfgkeys.h"
#include "gensweep/models/model.h"
#include "gensweep/runner/runner.h"
#include "tinydata.h"

/* small settings for whichever of these keys the model has */
static void small_config(gs_config *c, const char *model) {
  gs_config_defaults(c, gs_models_vocabulary());
  GS_STRCPY(c->model, model);
  const char *keys[] = {"model.latent_dim", "model.hidden1", "model.hidden2", "model.conv1", "model.conv2",
                        "gan.hidden", "model.noise_dim"};
  const double values[] = {3, 16, 8, 4, 8, 12, 5};
  for (int i = 0; i < 7; i++)
    if (gs_config_key(c, keys[i])) cfg_set(c, keys[i], values[i]);
  c->batch_size = 20;
}

Test(models, every_model_declares_its_part_of_the_contract) {
  const gs_vocabulary *v = gs_models_vocabulary();
  cr_assert_geq(v->nmodels, 4);
  for (int i = 0; i < v->nmodels; i++) {
    const gs_model_def *d = gs_model_find(v->models[i].model);
    cr_assert_not_null(d, "%s", v->models[i].model);
    cr_assert(d->headline && *d->headline, "%s has no headline metric", d->name);
    cr_assert_not_null(d->cost, "%s has no cost", d->name);
    gs_config c;
    gs_config_defaults(&c, v);
    int trains = !d->epochs || d->epochs(&c) > 0; /* pixels trains nothing and has no keys */
    cr_assert(d->nkeys > 0 || !trains, "%s declares no keys", d->name);
    cr_assert(d->create && d->params && d->train_step && d->evaluate && d->destroy, "%s", d->name);
  }
}

/* The estimate follows the data set's sizes (the scheduler and the shard split rank runs by it):
 * twice the training images, twice the cost; bigger images cost more. */
Test(models, cost_follows_the_data_sizes) {
  const gs_vocabulary *v = gs_models_vocabulary();
  for (int i = 0; i < v->nmodels; i++) {
    gs_config c;
    small_config(&c, v->models[i].model);
    const gs_model_def *d = gs_model_find(c.model);
    gs_data_sizes small = {.train = 1000, .test = 100, .h = 28, .w = 28, .dim = 784};
    gs_data_sizes twice = small, wide = small;
    twice.train = 2000;
    wide.h = wide.w = 56;
    wide.dim = 56 * 56;
    gs_config judged = c;
    if (d->generate) { /* judging samples costs the same whatever the training set: leave it out here */
      cfg_set(&c, "eval.judge", 0);
      cr_assert_gt(d->cost(&judged, &small), d->cost(&c, &small), "%s: judging its samples costs nothing", d->name);
    }
    double a = d->cost(&c, &small), b = d->cost(&c, &twice), w = d->cost(&c, &wide);
    cr_assert(a > 0 && isfinite(a), "%s: cost %g", d->name, a);
    gs_schedule sched;
    gs_model_schedule(&c, &sched);
    if (sched.iterations > 0) { /* trained by iterations: the cost follows them, not the data */
      cr_assert_eq(b, a, "%s", d->name);
      cfg_set(&c, "train.iterations", 2.0 * sched.iterations);
      cr_assert_gt(d->cost(&c, &small), 1.5 * a, "%s", d->name);
      continue;
    }
    cr_assert_gt(b, 1.5 * a, "%s: %g for 2000 images, %g for 1000", d->name, b, a);
    cr_assert_gt(w, a, "%s: 56x56 images cost %g, 28x28 %g", d->name, w, a);
    c.train_size = 500; /* a subset: the subset's size, not the files' */
    cr_assert_lt(d->cost(&c, &small), a, "%s", d->name);
  }
}

/* The probes must not be handed the answer: features computed from the example's label (a
 * CVAE's encoder, a cGAN's discriminator) say so, with a reason; every other model's do not. */
Test(models, features_that_read_the_label_say_so) {
  gs_dataset ds;
  tiny_data(&ds, 30);
  const gs_vocabulary *v = gs_models_vocabulary();
  const char *conds[] = {"none", "cgan", "acgan"};
  int nread = 0;
  for (int i = 0; i < v->nmodels; i++)
    for (int k = 0; k < 3; k++) {
      gs_config c;
      small_config(&c, v->models[i].model);
      const gs_model_def *d = gs_model_find(c.model);
      if (!d->features || d->data.kind != GS_SAMPLES_IMAGES) continue;
      int gan = 0; /* a model that reads gan.conditioning */
      for (int j = 0; j < d->nkeys; j++) gan |= !strcmp(d->keys[j].section, "gan") && !strcmp(d->keys[j].name, "conditioning");
      if (k > 0 && !gan) continue;
      gs_error err = {0};
      if (gan) cr_assert_eq(gs_config_set_text(&c, "gan.conditioning", conds[k], &err), 0, "%s", err.msg);
      gs_rng init;
      gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
      gs_model *m = d->create(&c, &ds, &init, &err);
      cr_assert_not_null(m, "%s: %s", d->name, err.msg);
      const char *why = d->features_read_label ? d->features_read_label(m) : NULL;
      int reads = strcmp(d->name, "cvae") == 0 || (gan && k == 1);
      cr_assert_eq(why != NULL, reads, "%s (conditioning %s): features_read_label says %s", d->name, conds[k],
                   why ? why : "nothing");
      if (why) cr_assert(strstr(why, "takes each image's class as an input"), "%s: %s", d->name, why);
      nread += reads;
      d->destroy(m);
    }
  cr_assert_geq(nread, 3, "the CVAE and the cGANs (gan, dcgan1 ...): %d", nread);
  free_data(&ds);
}

Test(models, features_are_shaped_deterministic_and_follow_training) {
  gs_dataset ds;
  tiny_data(&ds, 90);
  const gs_vocabulary *v = gs_models_vocabulary();
  for (int i = 0; i < v->nmodels; i++) {
    gs_config c;
    small_config(&c, v->models[i].model);
    const gs_model_def *d = gs_model_find(c.model);
    if (!d->features || d->data.kind != GS_SAMPLES_IMAGES) continue; /* point sets: unit_pointcloud_models */
    gs_rng init, noise;
    gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
    gs_rng_seed(&noise, 1, 0, GS_RNG_NOISE);
    gs_error err = {0};
    gs_model *m = d->create(&c, &ds, &init, &err);
    cr_assert_not_null(m, "%s: %s", d->name, err.msg);
    int F = d->feature_dim(m);
    /* a code of latent_dim; a discriminator's last hidden layer: gan.hidden (MLP), 2x2x128 (DCGAN) */
    int want = gs_config_key_counts(&c, gs_config_key(&c, "model.latent_dim")) ? 3
               : strcmp(d->name, "gan") == 0                                    ? 12
               : strcmp(d->name, "pixels") == 0                                 ? 28 * 28
                                                                                : 512;
    cr_assert_eq(F, want, "%s: feature_dim %d, expected %d", d->name, F, want);
    enum { N = 30 };
    int32_t idx[N];
    for (int k = 0; k < N; k++) idx[k] = (int32_t)(3 * k + k % 3);
    float *all = malloc(sizeof(float) * N * F), *parts = malloc(sizeof(float) * N * F), *again = malloc(sizeof(float) * N * F);
    size_t bytes = sizeof(float) * N * F;
    d->features(m, &ds.train, idx, N, all);
    d->features(m, &ds.train, idx, 7, parts); /* 7 + 23 */
    d->features(m, &ds.train, idx + 7, N - 7, parts + 7 * F);
    d->features(m, &ds.train, idx, N, again);
    cr_assert_eq(memcmp(all, again, bytes), 0, "%s: features differ between two calls", d->name);
    /* split differently, the matrix products take other kernels (OpenBLAS picks by size): the
     * same numbers up to float rounding */
    float amax = 0, dmax = 0;
    for (int k = 0; k < N * F; k++) {
      amax = fmaxf(amax, fabsf(all[k]));
      dmax = fmaxf(dmax, fabsf(all[k] - parts[k]));
    }
    cr_assert_leq(dmax, 1e-5f * amax, "%s: features split 7 + 23 differ by %g (max %g)", d->name, dmax, amax);
    int differ = 0;
    for (int k = 0; k < N * F; k++) {
      cr_assert(isfinite(all[k]), "%s: feature %d is %g", d->name, k, all[k]);
      differ |= all[k] != all[(k + F) % (N * F)];
    }
    cr_assert(differ, "%s: every example has the same features", d->name);
    if (d->epochs && d->epochs(&c) == 0) { /* pixels: nothing to train */
      d->destroy(m);
      free(all), free(parts), free(again);
      continue;
    }
    /* a training step changes the encoder, so the features move */
    int32_t batch[20];
    for (int k = 0; k < 20; k++) batch[k] = k;
    d->train_step(m, &(gs_batch){&ds.train, batch, 20, 0, 20, NULL}, 0, &noise, NULL);
    gs_params *p = d->params(m);
    for (long k = 0; k < p->total; k++) p->data[k] -= 0.01f * p->grad[k];
    d->features(m, &ds.train, idx, N, again);
    cr_assert_neq(memcmp(all, again, bytes), 0, "%s: features did not follow a training step", d->name);
    d->destroy(m);
    free(all);
    free(parts);
    free(again);
  }
  free_data(&ds);
}

/* Each model says what samples it needs; the data layer checks a set's shape against it and the
 * message says both sides. Through the runner, a mismatch fails the run with that message. */
Test(models, data_needs_are_checked_with_a_clear_message) {
  gs_sample_shape images = {.kind = GS_SAMPLES_IMAGES, .dims = {1, 28, 28}, .size = 784, .n_classes = 10};
  gs_sample_shape points = {.kind = GS_SAMPLES_POINTS, .dims = {2048, 3}, .size = 6144, .n_classes = 8};
  gs_sample_shape unlabelled = images, tiny = images;
  unlabelled.n_classes = 0;
  tiny.dims[1] = tiny.dims[2] = 2;
  const gs_vocabulary *v = gs_models_vocabulary();
  gs_error err;
  for (int i = 0; i < v->nmodels; i++) {
    const gs_model_def *d = gs_model_find(v->models[i].model);
    int pts = d->data.kind == GS_SAMPLES_POINTS; /* the point-cloud models: the other way round */
    cr_assert_eq(gs_data_check(pts ? &points : &images, &d->data, d->name, &err), 0, "%s: %s", d->name, err.msg);
    cr_assert_neq(gs_data_check(pts ? &images : &points, &d->data, d->name, &err), 0, "%s accepts %s", d->name,
                  pts ? "images" : "point sets");
    char want[128];
    snprintf(want, sizeof want, pts ? "%s needs point sets; the data set holds images 1x28x28"
                                    : "%s needs images; the data set holds point sets of 2048 points x 3 coordinates",
             d->name);
    cr_assert(strstr(err.msg, want), "%s", err.msg);
  }
  const gs_model_def *cvae = gs_model_find("cvae"), *vae = gs_model_find("vae"), *cae = gs_model_find("cae");
  cr_assert_neq(gs_data_check(&unlabelled, &cvae->data, "cvae", &err), 0);
  cr_assert(strstr(err.msg, "cvae needs labelled images with at least 2 classes; the data set holds images 1x28x28, no labels"),
            "%s", err.msg);
  cr_assert_eq(gs_data_check(&unlabelled, &vae->data, "vae", &err), 0, "%s", err.msg);
  cr_assert_neq(gs_data_check(&tiny, &cae->data, "cae", &err), 0);
  cr_assert(strstr(err.msg, "cae needs images of at least 4x4 pixels; the data set holds images 1x2x2"), "%s", err.msg);

  /* through the runner: a cvae run on a set without labels fails before anything is built */
  gs_dataset ds;
  tiny_data(&ds, 40);
  free(ds.train.labels);
  ds.train.labels = NULL;
  gs_run run;
  memset(&run, 0, sizeof run);
  small_config(&run.cfg, "cvae");
  GS_STRCPY(run.id, "r");
  gs_record rec;
  gs_train_hooks h = {.comm = MPI_COMM_NULL};
  const gs_model_def *def;
  gs_model *m = gs_train_run(&run, &ds, &rec, &h, &def);
  cr_assert_null(m);
  cr_assert_str_eq(rec.status, "failed");
  cr_assert(strstr(rec.message, "cvae needs labelled images"), "%s", rec.message);
  gs_record_free(&rec);
  free_data(&ds);
}

/* generate: the same rng gives the same images, another rng others; a conditional model says
 * which class each image was generated for (in turn). */
Test(models, generate_is_deterministic_and_says_the_classes) {
  gs_dataset ds;
  tiny_data(&ds, 40);
  const gs_vocabulary *v = gs_models_vocabulary();
  int with = 0;
  for (int i = 0; i < v->nmodels; i++) {
    gs_config c;
    small_config(&c, v->models[i].model);
    const gs_model_def *d = gs_model_find(c.model);
    if (!d->generate) continue;
    with++;
    gs_rng init, r1, r2, r3;
    gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
    gs_error err = {0};
    gs_model *m = d->create(&c, &ds, &init, &err);
    cr_assert_not_null(m, "%s: %s", d->name, err.msg);
    enum { N = 7 };
    uint8_t a[N * 784], b[N * 784], o[N * 784];
    int ca[N], cb[N];
    gs_rng_seed(&r1, 5, 0, GS_RNG_EVAL);
    gs_rng_seed(&r2, 5, 0, GS_RNG_EVAL);
    gs_rng_seed(&r3, 6, 0, GS_RNG_EVAL);
    int cond = d->generate(m, N, &r1, a, ca);
    if (strcmp(d->name, "cae_igmn") == 0) { /* nothing to generate from before its mixture (unit_cae) */
      cr_assert_eq(cond, -1);
      d->destroy(m);
      continue;
    }
    cr_assert_eq(d->generate(m, N, &r2, b, cb), cond);
    d->generate(m, N, &r3, o, cb);
    cr_assert_eq(memcmp(a, b, sizeof a), 0, "%s: the same noise gave other images", d->name);
    cr_assert_neq(memcmp(a, o, sizeof a), 0, "%s: other noise gave the same images", d->name);
    cr_assert_eq(cond, d->data.labels || strcmp(d->name, "cvae") == 0, "%s: conditional %d", d->name, cond);
    for (int k = 0; cond && k < N; k++) cr_assert_eq(ca[k], k % ds.train.n_classes, "%s: class of image %d", d->name, k);
    d->destroy(m);
  }
  cr_assert_geq(with, 5, "vae, cvae and the three GANs generate");
  free_data(&ds);
}
