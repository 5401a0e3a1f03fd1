/* The model contract for several networks, through the runner: parameter groups with their own
 * optimisers, phases that update one group while the other is held fixed (no weight gradient
 * computed for it), named loss parts, and checkpoints that carry every group's optimiser and the
 * loss parts, so that an interrupted run resumes bit for bit.
 *
 * The model ("pair") is the smallest GAN-shaped graph: a first network y = x Wa + ba (group
 * "first", 784 -> 1) and a second z = y Wb (group "second", 1 -> 1).
 *   phase "fit"  (updates first):  loss = sum_rows (z - 1)^2      second held fixed
 *   phase "pull" (updates second): loss = sum_rows (z + 1/2)^2    first held fixed
 * first uses SGD (lr 1e-3), second Adam (lr 1e-2): the model's optimizer hook. A naive float
 * loop of the same iterations is the reference. */
#define TEST_TMP_NAME "gs_phases"
#include <criterion/criterion.h>
#include <math.h>
#include <unistd.h>

#include "gensweep/io/checkpoint.h"
#include "gensweep/models/model.h"
#include "gensweep/nn/ops.h"
#include "gensweep/runner/runner.h"
#include "testutil.h"
#include "tinydata.h"

struct gs_model {
  gs_params p;
  gs_tensor *wa, *ba, *wb;
  gs_graph g;
  float *x, *target;
  int D;
  int second_had_gradient_in_fit, first_had_gradient_in_pull;
};

static gs_model *pair_create(const gs_config *cfg, const gs_dataset *ds, gs_rng *init, gs_error *err) {
  gs_model *m = gs_calloc(1, sizeof *m);
  m->D = (int)ds->train.dim;
  int sa[2] = {m->D, 1}, sb[1] = {1}, sw[2] = {1, 1};
  gs_params_group(&m->p, "first");
  gs_params_declare(&m->p, "wa", 2, sa);
  gs_params_declare(&m->p, "ba", 1, sb);
  gs_params_group(&m->p, "second");
  gs_params_declare(&m->p, "wb", 2, sw);
  gs_params_alloc(&m->p);
  m->wa = &m->p.t[0];
  m->ba = &m->p.t[1];
  m->wb = &m->p.t[2];
  for (long i = 0; i < m->wa->n; i++) m->wa->x[i] = 0.01f * (2.0f * gs_rng_uniformf(init) - 1.0f);
  m->ba->x[0] = 0.1f;
  m->wb->x[0] = 0.5f;
  gs_graph_init(&m->g, 1u << 20);
  return m;
}

static gs_params *pair_params(gs_model *m) { return &m->p; }

static int pair_phases(gs_model *m, gs_phase *out) {
  out[0] = (gs_phase){"fit", 1u << 0};
  out[1] = (gs_phase){"pull", 1u << 1};
  return 2;
}

static void pair_optimizer(gs_model *m, int group, gs_optim_settings *s) {
  if (group == 0) {
    s->kind = GS_OPT_SGD;
    s->lr = 1e-3f;
    s->momentum = 0;
  } else {
    s->kind = GS_OPT_ADAM;
    s->lr = 1e-2f;
    s->beta1 = 0.9f;
    s->beta2 = 0.999f;
    s->eps = 1e-7f;
  }
}

static double pair_step(gs_model *m, const gs_batch *b, int phase, gs_rng *noise, gs_losses *losses) {
  int rows = b->hi - b->lo;
  free(m->x);
  free(m->target);
  m->x = gs_aligned_alloc(sizeof(float) * (size_t)rows * m->D);
  m->target = gs_aligned_alloc(sizeof(float) * (size_t)rows);
  gs_imageset_batch(b->set, b->idx + b->lo, rows, m->x, NULL);
  for (int r = 0; r < rows; r++) m->target[r] = phase == 0 ? 1.0f : -0.5f;
  /* the runner holds the other network fixed: no gradient buffer for it */
  if (phase == 0 && m->wb->g) m->second_had_gradient_in_fit = 1;
  if (phase == 1 && (m->wa->g || m->ba->g)) m->first_had_gradient_in_pull = 1;
  gs_graph *g = &m->g;
  gs_graph_begin(g, &m->p, 1);
  gs_tensor *y = gs_dense(g, gs_wrap2(g, m->x, rows, m->D), m->wa, m->ba); /* (rows, 1) */
  gs_tensor *z = gs_matmul(g, y, m->wb);                                   /* (rows, 1) */
  gs_tensor *d = gs_sub(g, z, gs_wrap2(g, m->target, rows, 1));
  gs_tensor *loss = gs_sum(g, gs_mul(g, d, d));
  gs_backward(g, loss, 1.0f / (float)b->B);
  gs_losses_add(losses, phase == 0 ? "fit" : "pull", loss->x[0]);
  return loss->x[0];
}

static int pair_evaluate(gs_model *m, const gs_dataset *ds, const gs_when *when, gs_record *rec, gs_error *err) {
  return 0;
}

static void pair_destroy(gs_model *m) {
  gs_params_free(&m->p);
  gs_graph_free(&m->g);
  free(m->x);
  free(m->target);
  free(m);
}

static const gs_model_def pair = {.name = "pair", .headline = "none", .create = pair_create, .params = pair_params,
                                  .phases = pair_phases, .optimizer = pair_optimizer, .train_step = pair_step,
                                  .evaluate = pair_evaluate, .destroy = pair_destroy};

/* ------------------------------------------------------------------ the runner */
static volatile int stop_flag;
static long steps_seen, stop_at_step;
static void on_poll(void *ctx) {
  if (++steps_seen == stop_at_step) stop_flag = 1;
}

static gs_model *train(const gs_run *run, const gs_dataset *ds, gs_record *rec, const char *ckpt, long stop_at) {
  stop_flag = 0;
  steps_seen = 0;
  stop_at_step = stop_at;
  gs_train_hooks h = {.comm = MPI_COMM_NULL, .poll = on_poll, .ckpt_path = ckpt, .stop = &stop_flag, .model = &pair};
  const gs_model_def *def;
  return gs_train_run(run, ds, rec, &h, &def);
}

static void pair_run(gs_run *run, int n, int batch, int epochs) {
  memset(run, 0, sizeof *run);
  gs_config_defaults(&run->cfg, gs_models_vocabulary());
  run->cfg.epochs = epochs;
  run->cfg.batch_size = batch;
  run->cfg.train_size = n;
  GS_STRCPY(run->id, "pair");
  run->hash = 42;
}

/* Full batches (one iteration an epoch, so the data order does not matter): the runner's numbers
 * are the naive loop's, phase after phase, each with its own optimiser. */
Test(phases, each_phase_updates_its_group_before_the_next_with_its_own_optimiser) {
  enum { N = 30, EPOCHS = 5 };
  gs_dataset ds;
  tiny_data(&ds, N);
  gs_run run;
  pair_run(&run, N, N, EPOCHS);
  gs_record rec;
  gs_model *m = train(&run, &ds, &rec, NULL, -1);
  cr_assert_not_null(m);
  cr_assert_str_eq(rec.status, "done", "%s", rec.message);
  cr_assert_eq(m->second_had_gradient_in_fit, 0, "the second network had a gradient buffer in the fit phase");
  cr_assert_eq(m->first_had_gradient_in_pull, 0, "the first network had a gradient buffer in the pull phase");

  /* the reference: the same iterations in plain loops */
  int D = 784;
  gs_rng init;
  gs_rng_seed(&init, (uint64_t)run.cfg.seed, 0, GS_RNG_INIT);
  float *wa = malloc(sizeof(float) * D), ba = 0.1f, wb = 0.5f;
  for (int i = 0; i < D; i++) wa[i] = 0.01f * (2.0f * gs_rng_uniformf(&init) - 1.0f);
  double am = 0, av = 0; /* Adam moments of wb */
  double fit_sum = 0, pull_sum = 0;
  for (int ep = 1; ep <= EPOCHS; ep++) {
    /* fit: first network, SGD */
    double gwa[784] = {0}, gba = 0;
    fit_sum = 0;
    for (int r = 0; r < N; r++) {
      double y = ba;
      for (int i = 0; i < D; i++) y += (double)ds.train.pix[(long)r * D + i] / 255.0 * wa[i];
      double z = y * wb, dz = 2.0 * (z - 1.0) / N;
      fit_sum += (z - 1.0) * (z - 1.0);
      for (int i = 0; i < D; i++) gwa[i] += dz * wb * ds.train.pix[(long)r * D + i] / 255.0;
      gba += dz * wb;
    }
    for (int i = 0; i < D; i++) wa[i] -= (float)(1e-3 * gwa[i]);
    ba -= (float)(1e-3 * gba);
    /* pull: second network, Adam, seeing the updated first one */
    double gwb = 0;
    pull_sum = 0;
    for (int r = 0; r < N; r++) {
      double y = ba;
      for (int i = 0; i < D; i++) y += (double)ds.train.pix[(long)r * D + i] / 255.0 * wa[i];
      double z = y * wb;
      pull_sum += (z + 0.5) * (z + 0.5);
      gwb += 2.0 * (z + 0.5) / N * y;
    }
    am = 0.9 * am + 0.1 * gwb;
    av = 0.999 * av + 0.001 * gwb * gwb;
    double mh = am / (1 - pow(0.9, ep)), vh = av / (1 - pow(0.999, ep));
    wb -= (float)(1e-2 * mh / (sqrt(vh) + 1e-7));
  }
  gs_params *p = &m->p;
  for (int i = 0; i < D; i++)
    cr_assert_float_eq(p->t[0].x[i], wa[i], 1e-5 * fabsf(wa[i]) + 1e-7, "wa[%d]: %g vs %g", i, p->t[0].x[i], wa[i]);
  cr_assert_float_eq(p->t[1].x[0], ba, 1e-5 * fabsf(ba) + 1e-7, "ba: %g vs %g", p->t[1].x[0], ba);
  cr_assert_float_eq(p->t[2].x[0], wb, 1e-4 * fabsf(wb), "wb: %g vs %g", p->t[2].x[0], wb);
  /* the loss parts' epoch means are series train_<name>; each phase's loss train_loss_<phase> */
  const gs_series *fit = gs_record_find_series(&rec, "train_fit"), *pull = gs_record_find_series(&rec, "train_pull");
  const gs_series *lf = gs_record_find_series(&rec, "train_loss_fit");
  cr_assert(fit && pull && lf && fit->n == EPOCHS && pull->n == EPOCHS && lf->n == EPOCHS);
  cr_assert_float_eq(fit->v[EPOCHS - 1], fit_sum / N, 1e-4 * fit_sum / N);
  cr_assert_float_eq(pull->v[EPOCHS - 1], pull_sum / N, 1e-4 * pull_sum / N);
  cr_assert_eq(lf->v[EPOCHS - 1], fit->v[EPOCHS - 1]);
  free(wa);
  pair_destroy(m);
  gs_record_free(&rec);
  free_data(&ds);
}

/* Interrupted mid-epoch (a format-2 checkpoint with two groups' optimisers and the loss parts so
 * far), resumed: the same bits as an uninterrupted run, parameters and every series. */
Test(phases, two_groups_resume_bit_for_bit_from_a_mid_epoch_checkpoint) {
  enum { N = 60 };
  gs_dataset ds;
  tiny_data(&ds, N);
  gs_run run;
  pair_run(&run, N, 10, 3);
  char dir[64], ck[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(ck, sizeof ck, "%s/pair.h5", dir);
  gs_record ref;
  gs_model *a = train(&run, &ds, &ref, NULL, -1);
  cr_assert_str_eq(ref.status, "done", "%s", ref.message);
  for (long stop = 2; stop <= 14; stop += 4) { /* mid-epoch 1, epoch 2, ... */
    gs_record r1, r2;
    gs_model *b = train(&run, &ds, &r1, ck, stop);
    cr_assert_str_eq(r1.status, "interrupted", "stop at %ld: %s", stop, r1.message);
    pair_destroy(b);
    gs_record_free(&r1);
    gs_model *c = train(&run, &ds, &r2, ck, -1);
    cr_assert_str_eq(r2.status, "done", "%s", r2.message);
    cr_assert_eq(memcmp(c->p.data, a->p.data, sizeof(float) * a->p.total), 0, "stop at step %ld: parameters differ", stop);
    cr_assert_eq(r2.nseries, ref.nseries);
    for (int i = 0; i < ref.nseries; i++) {
      if (strstr(ref.series[i].name, "seconds") || strstr(ref.series[i].name, "per_s")) continue;
      const gs_series *s = gs_record_find_series(&r2, ref.series[i].name);
      cr_assert_not_null(s, "%s", ref.series[i].name);
      cr_assert_eq(s->n, ref.series[i].n);
      cr_assert_eq(memcmp(s->v, ref.series[i].v, sizeof(double) * s->n), 0, "stop at step %ld: series %s differs", stop,
                   s->name);
    }
    pair_destroy(c);
    gs_record_free(&r2);
    gs_checkpoint_remove(ck);
  }
  pair_destroy(a);
  gs_record_free(&ref);
  rm_rf(dir);
  free_data(&ds);
}
