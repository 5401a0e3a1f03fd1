/* The GANs (src/models/gan.c) through their model contract and the runner:
 *   - gradients of the D and G losses against finite differences, every architecture and
 *     conditioning (the losses are compositions of tested ops; this checks the composition:
 *     targets, masks, class weight, the label planes);
 *   - phases: the D step leaves G's parameters unchanged bit for bit and the G step D's;
 *   - training by iterations: the run stops at train.iterations mid-epoch, the per-iteration
 *     series have one point per window, and a run interrupted anywhere resumes bit for bit
 *     (windows spanning epochs and checkpoints, batch-norm running statistics, the progress image). */
#define TEST_TMP_NAME "gs_gan"
#include <criterion/criterion.h>
#include <math.h>
#include <unistd.h>

#include "cfgkeys.h"
#include "gensweep/io/checkpoint.h"
#include "gensweep/models/model.h"
#include "gensweep/runner/runner.h"
#include "testutil.h"
#include "tinydata.h"

static void gan_config(gs_config *c, const char *model, const char *cond) {
  gs_config_defaults(c, gs_models_vocabulary());
  GS_STRCPY(c->model, model);
  cfg_set(c, "gan.hidden", 10);
  cfg_set(c, "model.noise_dim", 6);
  gs_error err;
  cr_assert_eq(gs_config_set_text(c, "gan.conditioning", cond, &err), 0, "%s", err.msg);
  cr_assert_eq(gs_config_set_text(c, "eval.judge", "0", &err), 0, "%s", err.msg);
  c->batch_size = 6;
}

/* The loss of one phase on a fixed batch with fixed noise (the same rng state every call). */
static double phase_loss(const gs_model_def *d, gs_model *m, const gs_batch *b, int phase) {
  gs_rng noise;
  gs_rng_seed(&noise, 7, 0, GS_RNG_NOISE);
  return d->train_step(m, b, phase, &noise, NULL);
}

static void check_gradients(const char *model, const char *cond, double class_weight, long labelled) {
  gs_dataset ds;
  tiny_data(&ds, 30);
  gs_config c;
  gan_config(&c, model, cond);
  cfg_set(&c, "gan.class_weight", class_weight);
  cfg_set(&c, "gan.init_std", 0.2); /* gradients well above the float rounding of the loss */
  if (labelled) cfg_set(&c, "gan.labelled", (double)labelled);
  const gs_model_def *d = gs_model_find(model);
  gs_rng init;
  gs_rng_seed(&init, 3, 0, GS_RNG_INIT);
  gs_error err = {0};
  gs_model *m = d->create(&c, &ds, &init, &err);
  cr_assert_not_null(m, "%s/%s: %s", model, cond, err.msg);
  gs_params *p = d->params(m);
  gs_phase ph[GS_MAX_PHASES];
  cr_assert_eq(d->phases(m, ph), 2);
  int32_t idx[6] = {0, 4, 8, 13, 17, 25};
  gs_batch b = {&ds.train, idx, 6, 0, 6, NULL};
  for (int phase = 0; phase < 2; phase++) {
    /* the phase's own group gets the gradient (the other is held fixed by the runner) */
    int own = ph[phase].groups == 1u ? 0 : 1;
    gs_params_freeze(p, 1 - own, 1);
    phase_loss(d, m, &b, phase);
    gs_params_freeze(p, 1 - own, 0);
    float *grad = malloc(sizeof(float) * p->total);
    memcpy(grad, p->grad, sizeof(float) * p->total);
    const gs_param_group *gr = &p->group[own];
    /* each parameter tensor of the group, along its own gradient d: (L(p + h d) - L(p - h d)) / 2h
     * against |d|^2 / |d| with h sized so that the loss moves by about 1e-4 of itself (a thousand
     * times its float rounding), extrapolated from two steps (the curvature along a last-layer bias
     * is strong); elementwise the deeper graphs' small gradients drown in that rounding */
    double l0 = phase_loss(d, m, &b, phase), largest = 0;
    for (long k = gr->offset; k < gr->offset + gr->n; k++) largest = fmax(largest, fabs(grad[k]));
    int tensors = 0;
    for (int t = gr->first; t < gr->first + gr->count; t++) {
      gs_tensor *pt = &p->t[t];
      long off = pt->x - p->data;
      double norm = 0;
      for (long k = 0; k < pt->n; k++) norm += (double)grad[off + k] * grad[off + k];
      norm = sqrt(norm);
      if (norm < 1e-4 * largest) continue; /* a bias before batch norm: no gradient but rounding, rightly */
      double h = 2e-4 * fabs(l0) / (norm * b.B), fdh[2];
      float *keep = malloc(sizeof(float) * pt->n);
      memcpy(keep, pt->x, sizeof(float) * pt->n);
      for (int r = 0; r < 2; r++, h /= 2) { /* h and h/2, then Richardson: the h^2 term cancels */
        for (long k = 0; k < pt->n; k++) pt->x[k] = (float)(keep[k] + h * grad[off + k] / norm);
        double lp = phase_loss(d, m, &b, phase);
        for (long k = 0; k < pt->n; k++) pt->x[k] = (float)(keep[k] - h * grad[off + k] / norm);
        double lm = phase_loss(d, m, &b, phase);
        fdh[r] = (lp - lm) / (2 * h) / b.B;
      }
      memcpy(pt->x, keep, sizeof(float) * pt->n);
      free(keep);
      double fd = (4 * fdh[1] - fdh[0]) / 3;
      cr_assert(fabs(fd - norm) <= 0.06 * norm, /* a gradient scaled by B/(B+1) is 14 % off */ "%s/%s phase %d, %s: along its gradient the loss changes at %g, the gradient's norm is %g",
                model, cond, phase, p->info[t].name, fd, norm);
      tensors++;
    }
    cr_assert_gt(tensors, 2);
    if (strcmp(model, "gan") != 0) {
      free(grad);
      continue;
    }
    int checked = 0, bad = 0;
    double worst = 0;
    /* and the MLP's elements one by one: about 80 spread over the group */
    long stride = gr->n / 80 > 1 ? gr->n / 80 : 1;
    for (long k = gr->offset; k < gr->offset + gr->n; k += stride) {
      float keep = p->data[k];
      double h = 1e-2;
      p->data[k] = (float)(keep + h);
      double lp = phase_loss(d, m, &b, phase);
      p->data[k] = (float)(keep - h);
      double lm = phase_loss(d, m, &b, phase);
      p->data[k] = keep;
      double fd = (lp - lm) / (2 * h) / b.B, an = grad[k];
      double floor = 1e-6 * fabs(lp) / (h * b.B); /* the loss's float rounding, seen through the difference */
      double err_k = fabs(fd - an) / (fabs(fd) + fabs(an) + floor + 1e-6);
      if (err_k > worst) worst = err_k;
      bad += err_k > 0.05;
      checked++;
    }
    /* float differences across ReLU kinks: a few may disagree, not many */
    cr_assert_gt(checked, 5);
    cr_assert_leq(bad, checked / 20 + 1, "%s/%s phase %d: %d of %d gradients off (worst relative %.3g)", model, cond,
                  phase, bad, checked, worst);
    free(grad);
  }
  d->destroy(m);
  free_data(&ds);
}

Test(gan, mlp_gradients_match_finite_differences) {
  check_gradients("gan", "none", 1, 0);
  check_gradients("gan", "cgan", 1, 0);
  check_gradients("gan", "acgan", 2.5, 0);
  check_gradients("gan", "acgan", 1, 9); /* 3 labelled images of each of the 3 classes */
}

Test(gan, dcgan_gradients_match_finite_differences, .timeout = 120) {
  check_gradients("dcgan1", "none", 1, 0);
  check_gradients("dcgan1", "cgan", 1, 0);
  check_gradients("dcgan4", "acgan", 1, 0);
}

/* ------------------------------------------------------------------ through the runner */

/* The model, watched: parameters at the start of every phase's step. */
static float *seen[8];
static int nseen;
static gs_model_def watched;
static double watch_step(gs_model *m, const gs_batch *b, int phase, gs_rng *noise, gs_losses *l) {
  const gs_model_def *d = gs_model_find(watched.name);
  gs_params *p = d->params(m);
  if (nseen < 8) {
    seen[nseen] = malloc(sizeof(float) * p->total);
    memcpy(seen[nseen++], p->data, sizeof(float) * p->total);
  }
  return d->train_step(m, b, phase, noise, l);
}

static volatile int stop_flag;
static long steps_seen, stop_at_step;
static void on_poll(void *ctx) {
  (void)ctx;
  if (++steps_seen == stop_at_step) stop_flag = 1;
}

static gs_model *train(const gs_run *run, const gs_dataset *ds, gs_record *rec, const char *ckpt, long stop_at,
                       const gs_model_def *def) {
  stop_flag = 0;
  steps_seen = 0;
  stop_at_step = stop_at;
  gs_train_hooks h = {.comm = MPI_COMM_NULL, .poll = on_poll, .ckpt_path = ckpt, .stop = &stop_flag, .model = def};
  const gs_model_def *used;
  return gs_train_run(run, ds, rec, &h, &used);
}

static void gan_run(gs_run *run, const char *model, const char *cond, long iterations, long log_every, long every) {
  memset(run, 0, sizeof *run);
  gan_config(&run->cfg, model, cond);
  cfg_set(&run->cfg, "train.iterations", (double)iterations);
  cfg_set(&run->cfg, "train.log_every", (double)log_every);
  cfg_set(&run->cfg, "eval.sample_every", (double)every);
  GS_STRCPY(run->id, "gan");
  run->hash = 43;
}

Test(gan, the_d_step_leaves_g_unchanged_and_the_g_step_leaves_d) {
  const char *models[] = {"gan", "dcgan1"};
  for (int k = 0; k < 2; k++) {
    gs_dataset ds;
    tiny_data(&ds, 24);
    gs_run run;
    gan_run(&run, models[k], "acgan", 2, 0, 0);
    if (k) cfg_set(&run.cfg, "gan.g_steps", 2); /* the write-up's DCGAN (the registry's default via the file) */
    run.cfg.batch_size = 6;
    watched = *gs_model_find(models[k]);
    watched.train_step = watch_step;
    nseen = 0;
    gs_record rec;
    gs_model *m = train(&run, &ds, &rec, NULL, -1, &watched);
    cr_assert_str_eq(rec.status, "done", "%s", rec.message);
    const gs_model_def *d = gs_model_find(models[k]);
    gs_params *p = d->params(m);
    /* dcgan: phases d, g, g2 a iteration; gan: d, g */
    int per = k == 0 ? 2 : 3;
    cr_assert_eq(nseen, 2 * per, "%s: %d steps seen", models[k], nseen);
    const gs_param_group *D = &p->group[0], *G = &p->group[1];
    cr_assert_str_eq(D->name, "disc");
    cr_assert_str_eq(G->name, "gen");
    size_t dbytes = sizeof(float) * D->n, gbytes = sizeof(float) * G->n;
    /* iteration 1: D step (seen[0] -> seen[1]), G step(s) (seen[1] -> ... -> seen[per]) */
    cr_assert_eq(memcmp(seen[0] + G->offset, seen[1] + G->offset, gbytes), 0, "%s: the D step moved G", models[k]);
    cr_assert_neq(memcmp(seen[0] + D->offset, seen[1] + D->offset, dbytes), 0, "%s: the D step did not move D", models[k]);
    for (int s = 1; s < per; s++) {
      cr_assert_eq(memcmp(seen[s] + D->offset, seen[s + 1] + D->offset, dbytes), 0, "%s: G step %d moved D", models[k], s);
      cr_assert_neq(memcmp(seen[s] + G->offset, seen[s + 1] + G->offset, gbytes), 0, "%s: G step %d did not move G",
                    models[k], s);
    }
    for (int s = 0; s < nseen; s++) free(seen[s]);
    d->destroy(m);
    gs_record_free(&rec);
    free_data(&ds);
  }
}

/* 11 iterations of batches of 6 over 24 images: 4 a epoch, the third epoch stops after 3. The
 * iteration series has a point every 2 iterations (windows spanning epochs), evaluations at 4, 8
 * and the end (11). Interrupted at any step, resumed: the same bits. */
Test(gan, trains_by_iterations_and_resumes_bit_for_bit, .timeout = 120) {
  const char *models[] = {"gan", "dcgan1"};
  for (int k = 0; k < 2; k++) {
    gs_dataset ds;
    tiny_data(&ds, 24);
    gs_run run;
    gan_run(&run, models[k], k ? "cgan" : "none", 11, 2, 4);
    run.cfg.batch_size = 6;
    const gs_model_def *d = gs_model_find(models[k]);
    char dir[64], ck[128];
    make_tmpdir(dir, sizeof dir);
    snprintf(ck, sizeof ck, "%s/gan.h5", dir);
    gs_record ref;
    gs_model *a = train(&run, &ds, &ref, NULL, -1, d);
    cr_assert_str_eq(ref.status, "done", "%s", ref.message);
    const gs_series *it = gs_record_find_series(&ref, "iteration"), *ev = gs_record_find_series(&ref, "eval_iteration");
    const gs_series *ep = gs_record_find_series(&ref, "epoch"), *gd = gs_record_find_series(&ref, "iter_d");
    cr_assert(it && ev && ep && gd);
    cr_assert_eq(ep->n, 3, "epochs %d", ep->n);
    cr_assert_eq(it->n, 5);
    cr_assert_eq(gd->n, 5);
    for (int i = 0; i < 5; i++) cr_assert_eq(it->v[i], 2.0 * (i + 1));
    cr_assert_eq(ev->n, 3);
    cr_assert(ev->v[0] == 4 && ev->v[1] == 8 && ev->v[2] == 11, "%g %g %g", ev->v[0], ev->v[1], ev->v[2]);
    int found = 0;
    for (int i = 0; i < ref.nimages; i++) found += strcmp(ref.images[i].name, "progress") == 0 && ref.images[i].n == 3 * 8;
    cr_assert_eq(found, 1, "a progress image of 3 evaluations x 8 samples");
    for (long stop = 1; stop <= 11; stop += 3) {
      gs_record r1, r2;
      gs_model *b = train(&run, &ds, &r1, ck, stop, d);
      if (strcmp(r1.status, "done") == 0) { /* stopped at the very end */
        d->destroy(b);
        gs_record_free(&r1);
        gs_checkpoint_remove(ck);
        continue;
      }
      cr_assert_str_eq(r1.status, "interrupted", "stop at %ld: %s", stop, r1.message);
      d->destroy(b);
      gs_record_free(&r1);
      gs_model *c = train(&run, &ds, &r2, ck, -1, d);
      cr_assert_str_eq(r2.status, "done", "%s", r2.message);
      gs_params *pa = d->params(a), *pc = d->params(c);
      cr_assert_eq(memcmp(pc->data, pa->data, sizeof(float) * pa->total), 0, "%s stop at %ld: parameters differ",
                   models[k], stop);
      cr_assert_eq(r2.nseries, ref.nseries);
      for (int i = 0; i < ref.nseries; i++) {
        if (strstr(ref.series[i].name, "seconds") || strstr(ref.series[i].name, "per_s")) continue;
        const gs_series *s = gs_record_find_series(&r2, ref.series[i].name);
        cr_assert_not_null(s, "%s", ref.series[i].name);
        cr_assert_eq(s->n, ref.series[i].n, "%s", s->name);
        cr_assert_eq(memcmp(s->v, ref.series[i].v, sizeof(double) * s->n), 0, "%s stop at %ld: series %s differs",
                     models[k], stop, s->name);
      }
      for (int i = 0; i < ref.nimages; i++) {
        const gs_images *x = &ref.images[i], *y = NULL;
        for (int j = 0; j < r2.nimages; j++)
          if (strcmp(r2.images[j].name, x->name) == 0) y = &r2.images[j];
        cr_assert(y && y->n == x->n && memcmp(y->pix, x->pix, (size_t)x->n * x->h * x->w) == 0, "%s stop at %ld: image %s",
                  models[k], stop, x->name);
      }
      d->destroy(c);
      gs_record_free(&r2);
      gs_checkpoint_remove(ck);
    }
    d->destroy(a);
    gs_record_free(&ref);
    rm_rf(dir);
    free_data(&ds);
  }
}

/* The pooled features: 4 x (16 + 32 + 64 + 128) = 960 for a DCGAN discriminator (none for the
 * MLP GAN); the last layer (2 x 2) pools to itself, so its block equals the last-layer features;
 * each channel's four pooled values hold the channel's maximum. The untrained batch-norm
 * refresh moves D's running statistics off 0 / 1. */
Test(gan, pooled_features_and_batch_norm_refresh) {
  gs_dataset ds;
  tiny_data(&ds, 30);
  gs_config c;
  gan_config(&c, "dcgan1", "none");
  const gs_model_def *d = gs_model_find("dcgan1");
  gs_rng init;
  gs_rng_seed(&init, 3, 0, GS_RNG_INIT);
  gs_error err = {0};
  gs_model *m = d->create(&c, &ds, &init, &err);
  cr_assert_not_null(m, "%s", err.msg);
  cr_assert_eq(d->feature_dim_kind(m, "pooled"), 960);
  cr_assert_eq(d->feature_dim_kind(m, "nope"), 0);
  int32_t idx[3] = {0, 7, 21};
  float pooled[3 * 960], last[3 * 512];
  d->features_kind(m, "pooled", &ds.train, idx, 3, pooled);
  d->features(m, &ds.train, idx, 3, last);
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 512; k++)
      cr_assert_eq(pooled[i * 960 + 448 + k], last[i * 512 + k], "image %d feature %d", i, k);
  /* the refresh: features change (running statistics no longer 0 / 1) and stay finite */
  float before[3 * 512];
  memcpy(before, last, sizeof last);
  d->refresh_statistics(m, &ds.train);
  d->features(m, &ds.train, idx, 3, last);
  int moved = 0;
  for (int k = 0; k < 3 * 512; k++) {
    cr_assert(isfinite(last[k]));
    moved |= last[k] != before[k];
  }
  cr_assert(moved, "refresh_statistics left the features as they were");
  d->destroy(m);
  gan_config(&c, "gan", "none");
  m = gs_model_find("gan")->create(&c, &ds, &init, &err);
  cr_assert_eq(gs_model_find("gan")->feature_dim_kind(m, "pooled"), 0, "the MLP GAN has no conv layers");
  cr_assert_eq(gs_model_find("gan")->feature_dim_kind(m, "class_head"), 0, "no class head without acgan");
  gs_model_find("gan")->destroy(m);
  /* the AC-GAN's class head: its logits, one per class, as features */
  gan_config(&c, "gan", "acgan");
  m = gs_model_find("gan")->create(&c, &ds, &init, &err);
  int C = ds.train.n_classes;
  cr_assert_eq(gs_model_find("gan")->feature_dim_kind(m, "class_head"), C);
  float logits[3 * 16];
  gs_model_find("gan")->features_kind(m, "class_head", &ds.train, idx, 3, logits);
  int differ = 0;
  for (int k = 0; k < 3 * C; k++) {
    cr_assert(isfinite(logits[k]));
    differ |= logits[k] != logits[k % C];
  }
  cr_assert(differ, "three images, the same class logits");
  gs_model_find("gan")->destroy(m);
  free_data(&ds);
}

/* Bad input (issue 10 point 8): a labelled-subset size for a model without a class term, larger
 * than the training set, or not a multiple of the classes; a conditional GAN on a data set
 * without labels: clear errors naming the key. */
Test(gan, bad_labelled_sizes_and_unlabelled_data_are_refused) {
  gs_sweep sw;
  gs_error err = {0};
  const char *bad[][2] = {
      {"[model]\nname = gan\n[gan]\nlabelled = 100\n", "gan.labelled = 100: only an AC-GAN (gan.conditioning = acgan)"},
      {"[data]\ntrain_size = 500\n[model]\nname = gan\n[gan]\nconditioning = acgan\nlabelled = 1000\n",
       "gan.labelled = 1000 is larger than the training set (500 images)"},
  };
  for (int i = 0; i < 2; i++) {
    cr_assert_neq(gs_sweep_load_text("bad.ini", gs_models_vocabulary(), bad[i][0], &sw, &err), 0, "%s", bad[i][0]);
    cr_assert(strstr(err.msg, bad[i][1]), "%s", err.msg);
    cr_assert(strstr(err.msg, "bad.ini"), "the file is named: %s", err.msg);
  }
  /* at the run's start, where the classes are known */
  gs_dataset ds;
  tiny_data(&ds, 30);
  gs_config c;
  gan_config(&c, "gan", "acgan");
  cfg_set(&c, "gan.labelled", ds.train.n_classes + 1.0);
  gs_rng init;
  gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
  cr_assert_null(gs_model_find("gan")->create(&c, &ds, &init, &err));
  cr_assert(strstr(err.msg, "is not a multiple of the data set's"), "%s", err.msg);
  gan_config(&c, "gan", "cgan");
  free(ds.train.labels);
  ds.train.labels = NULL; /* no labels */
  cr_assert_null(gs_model_find("gan")->create(&c, &ds, &init, &err));
  cr_assert(strstr(err.msg, "gan.conditioning = cgan needs class labels"), "%s", err.msg);
  free_data(&ds);
}

/* The fine-tuned classifier (probe.features = finetuned): it learns the tiny set's three classes
 * (told apart by bright rows) from its labelled examples, gives the same predictions twice, leaves
 * the model it copies unchanged bit for bit, starts from the model's trained discriminator (other
 * weights, other predictions), and a cGAN's discriminator, which takes the class as an input, is
 * refused with the reason. */
Test(gan, finetuned_classifier_learns_repeats_and_leaves_the_model_alone, .timeout = 120) {
  gs_dataset ds;
  tiny_data(&ds, 30);
  gs_config c;
  gan_config(&c, "dcgan1", "none");
  const gs_model_def *d = gs_model_find("dcgan1");
  gs_rng init;
  gs_rng_seed(&init, 3, 0, GS_RNG_INIT);
  gs_error err = {0};
  gs_model *m = d->create(&c, &ds, &init, &err);
  cr_assert_not_null(m, "%s", err.msg);
  cr_assert_not_null(d->finetune);
  cr_assert_eq(d->finetune(m, &ds, NULL, 0, NULL, NULL, NULL, &err), 0, "n = 0: can it? %s", err.msg);
  gs_params *p = d->params(m);
  float *before = malloc(sizeof(float) * p->total);
  memcpy(before, p->data, sizeof(float) * p->total);
  int32_t idx[12];
  for (int i = 0; i < 12; i++) idx[i] = i; /* 4 of each class */
  gs_finetune ft = {.epochs = 1, .min_steps = 60};
  int pred[30], again[30];
  gs_rng r;
  gs_rng_seed(&r, 5, 0, GS_RNG_FINETUNE);
  cr_assert_eq(d->finetune(m, &ds, idx, 12, &ft, &r, pred, &err), 0, "%s", err.msg);
  cr_assert_eq(memcmp(before, p->data, sizeof(float) * p->total), 0, "fine-tuning changed the model it copies");
  gs_rng_seed(&r, 5, 0, GS_RNG_FINETUNE);
  cr_assert_eq(d->finetune(m, &ds, idx, 12, &ft, &r, again, &err), 0, "%s", err.msg);
  cr_assert_eq(memcmp(pred, again, sizeof pred), 0, "the same call gave other predictions");
  int hits = 0;
  for (int i = 0; i < 30; i++) hits += pred[i] == ds.test.labels[i];
  cr_assert_geq(hits, 27, "fine-tuned on 12 labels of an easy 3-class set: %d of 30 right", hits);
  /* other discriminator weights (the generator's do not enter): other predictions or logits;
   * with the discriminator's weights scaled down the easy set may still be right, so compare the
   * copies' predictions after one step only, where the starting point shows */
  gs_finetune one = {.epochs = 1, .min_steps = 1};
  int p1[30], p2[30];
  gs_rng_seed(&r, 5, 0, GS_RNG_FINETUNE);
  d->finetune(m, &ds, idx, 12, &one, &r, p1, &err);
  const gs_param_group *dg = NULL;
  for (int g = 0; g < p->ngroups; g++)
    if (strcmp(p->group[g].name, "disc") == 0) dg = &p->group[g];
  cr_assert_not_null(dg);
  gs_rng w;
  gs_rng_seed(&w, 9, 0, GS_RNG_INIT);
  for (long k = dg->offset; k < dg->offset + dg->n; k++) p->data[k] += 0.5f * gs_rng_normal(&w);
  gs_rng_seed(&r, 5, 0, GS_RNG_FINETUNE);
  d->finetune(m, &ds, idx, 12, &one, &r, p2, &err);
  cr_assert_neq(memcmp(p1, p2, sizeof p1), 0, "the fine-tuned copy does not start from the model's discriminator");
  free(before);
  d->destroy(m);
  /* a cGAN: refused, with the reason */
  gan_config(&c, "dcgan1", "cgan");
  gs_rng_seed(&init, 3, 0, GS_RNG_INIT);
  m = d->create(&c, &ds, &init, &err);
  cr_assert_not_null(m, "%s", err.msg);
  cr_assert_eq(d->finetune(m, &ds, NULL, 0, NULL, NULL, NULL, &err), -1);
  cr_assert(strstr(err.msg, "takes the class as an input"), "%s", err.msg);
  d->destroy(m);
  free_data(&ds);
}
