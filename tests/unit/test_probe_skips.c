/* The probe stage's bad input, through the runner (issue 11 point 8): features that are not
 * finite (a diverged model), a class head whose logits are not finite, a fine-tuning that
 * diverges, features that read the label (a cGAN's discriminator, a CVAE's encoder) and a data
 * set without labels. Each is skipped with its reason in the run's message and counted in
 * final/probe_skipped, the run stays done, and with probe.every the series keep one point per
 * evaluation (NaN where skipped), so they line up with the evaluations.
 *
 * The model ("stub") has one weight and a trivial loss; its features are the first 16 pixels of
 * each image, its class head and fine-tuned classifier answer the true class. A mode poisons one
 * of them. */
#define TEST_TMP_NAME "gs_probe_skips"
#include <criterion/criterion.h>
#include <math.h>

#include "gensweep/models/model.h"
#include "gensweep/nn/ops.h"
#include "gensweep/runner/runner.h"
#include "testutil.h"
#include "tinydata.h"

enum { FEATURES_NAN = 1, HEAD_NAN = 2, FINETUNE_DIVERGES = 4, READS_LABEL = 8 };
static int mode;

struct gs_model {
  gs_params p;
  gs_graph g;
};

static gs_model *stub_create(const gs_config *cfg, const gs_dataset *ds, gs_rng *init, gs_error *err) {
  gs_model *m = gs_calloc(1, sizeof *m);
  int s[1] = {1};
  gs_params_declare(&m->p, "w", 1, s);
  gs_params_alloc(&m->p);
  m->p.t[0].x[0] = 0.5f;
  gs_graph_init(&m->g, 1u << 16);
  return m;
}

static gs_params *stub_params(gs_model *m) { return &m->p; }

static double stub_step(gs_model *m, const gs_batch *b, int phase, gs_rng *noise, gs_losses *losses) {
  gs_graph *g = &m->g;
  gs_graph_begin(g, &m->p, 1);
  gs_tensor *loss = gs_sum(g, gs_mul(g, &m->p.t[0], &m->p.t[0]));
  gs_backward(g, loss, 1.0f);
  return loss->x[0];
}

static int stub_evaluate(gs_model *m, const gs_dataset *ds, const gs_when *when, gs_record *rec, gs_error *err) {
  gs_record_push(rec, "test_loss", 1.0);
  return 0;
}

static void stub_destroy(gs_model *m) {
  gs_params_free(&m->p);
  gs_graph_free(&m->g);
  free(m);
}

enum { F = 16 };
static int stub_feature_dim(gs_model *m) { return F; }
static void stub_features(gs_model *m, const gs_imageset *set, const int32_t *idx, int n, float *out) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < F; j++) out[(long)i * F + j] = set->pix[(long)idx[i] * set->dim + 28 * 3 * j / F] / 255.0f;
  if (mode & FEATURES_NAN) out[0] = NAN;
}

static int stub_feature_dim_kind(gs_model *m, const char *kind) { return strcmp(kind, "class_head") == 0 ? 3 : 0; }
static void stub_features_kind(gs_model *m, const char *kind, const gs_imageset *set, const int32_t *idx, int n,
                               float *out) {
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 3; k++) out[(long)i * 3 + k] = set->labels[idx[i]] == k ? 1.0f : 0.0f;
  if (mode & HEAD_NAN) out[3 * (n - 1)] = NAN;
}

static int stub_finetune(gs_model *m, const gs_dataset *ds, const int32_t *idx, long n, const gs_finetune *ft,
                         gs_rng *rng, int *pred, gs_error *err) {
  if (n < 1) return 0;
  if (mode & FINETUNE_DIVERGES) return 1;
  for (long i = 0; i < ds->test.n; i++) pred[i] = ds->test.labels[i];
  return 0;
}

static const char *stub_reads_label(gs_model *m) { return mode & READS_LABEL ? "the stub's features read the label" : NULL; }

static const gs_model_def stub = {.name = "stub", .headline = "test_loss", .create = stub_create, .params = stub_params,
                                  .train_step = stub_step, .evaluate = stub_evaluate, .destroy = stub_destroy,
                                  .feature_dim = stub_feature_dim, .features = stub_features,
                                  .feature_dim_kind = stub_feature_dim_kind, .features_kind = stub_features_kind,
                                  .finetune = stub_finetune, .features_read_label = stub_reads_label};

enum { N = 60, EPOCHS = 3 };

/* a run of the stub: 3 epochs, probed at every epoch (probe.every = 1) and at the end */
static gs_model *train_stub(int m_mode, gs_dataset *ds, gs_record *rec) {
  mode = m_mode;
  static gs_run run;
  memset(&run, 0, sizeof run);
  gs_config_defaults(&run.cfg, gs_models_vocabulary());
  run.cfg.epochs = EPOCHS;
  run.cfg.batch_size = 20;
  run.cfg.train_size = N;
  run.cfg.probe_every = 1;
  run.cfg.probe_repeats = 2;
  run.cfg.probe_finetune_min_steps = 1;
  GS_STRCPY(run.cfg.probe_features, "model, class_head, finetuned");
  GS_STRCPY(run.cfg.probe_budgets, "all, 30");
  GS_STRCPY(run.id, "stub");
  run.hash = 7;
  gs_train_hooks h = {.comm = MPI_COMM_NULL, .model = &stub};
  const gs_model_def *def;
  return gs_train_run(&run, ds, rec, &h, &def);
}

static void expect_series(const gs_record *rec, const char *name, int finite) {
  const gs_series *s = gs_record_find_series(rec, name);
  cr_assert_not_null(s, "no series %s", name);
  cr_assert_eq(s->n, EPOCHS, "series %s has %d points, the run evaluated %d times", name, s->n, EPOCHS);
  for (int i = 0; i < s->n; i++)
    cr_assert_eq(isfinite(s->v[i]) != 0, finite, "%s[%d] = %g", name, i, s->v[i]);
}

Test(probe_skips, a_sound_model_is_probed_at_every_evaluation) {
  gs_dataset ds;
  tiny_data(&ds, N);
  gs_record rec;
  gs_model *m = train_stub(0, &ds, &rec);
  cr_assert_not_null(m);
  cr_assert_str_eq(rec.status, "done", "%s", rec.message);
  cr_assert_str_eq(rec.message, "", "a run with nothing skipped has no message: %s", rec.message);
  cr_assert_null(gs_record_find_scalar(&rec, "probe_skipped"));
  cr_assert_not_null(gs_record_find_scalar(&rec, "probe_svm_all"));
  cr_assert_float_eq(*gs_record_find_scalar(&rec, "probe_class_head"), 1.0, 1e-12);
  cr_assert_float_eq(*gs_record_find_scalar(&rec, "probe_finetuned_net_30"), 1.0, 1e-12);
  expect_series(&rec, "probe_svm_all", 1);
  expect_series(&rec, "probe_lr_30", 1);
  expect_series(&rec, "probe_class_head", 1);
  stub.destroy(m);
  gs_record_free(&rec);
  free_data(&ds);
}

Test(probe_skips, diverged_features_head_and_finetuning_are_skipped_with_their_reasons) {
  gs_dataset ds;
  tiny_data(&ds, N);
  gs_record rec;
  gs_model *m = train_stub(FEATURES_NAN | HEAD_NAN | FINETUNE_DIVERGES, &ds, &rec);
  cr_assert_not_null(m);
  cr_assert_str_eq(rec.status, "done", "%s", rec.message);
  cr_assert_str_eq(rec.message,
                   "probe stage: probes of the model features skipped: they are not finite (a diverged model?); "
                   "class-head probe skipped: its logits are not finite (a diverged model?); probes of the "
                   "fine-tuned network at budget all skipped: 1 of its 1 fine-tunings diverged (test logits not "
                   "finite; subset 0 first); probes of the fine-tuned network at budget 30 skipped: 2 of its 2 "
                   "fine-tunings diverged (test logits not finite; subset 0 first)");
  cr_assert_float_eq(*gs_record_find_scalar(&rec, "probe_skipped"), 4.0, 0);
  /* nothing made up: no figure for a skipped probe (an argmax of NaN logits would read as class 0) */
  cr_assert_null(gs_record_find_scalar(&rec, "probe_svm_all"));
  cr_assert_null(gs_record_find_scalar(&rec, "probe_class_head"));
  cr_assert_null(gs_record_find_scalar(&rec, "probe_finetuned_net_all"));
  /* the series keep one (NaN) point per evaluation */
  expect_series(&rec, "probe_svm_all", 0);
  expect_series(&rec, "probe_svm_30", 0);
  expect_series(&rec, "probe_lr_all", 0);
  expect_series(&rec, "probe_class_head", 0);
  stub.destroy(m);
  gs_record_free(&rec);
  free_data(&ds);
}

Test(probe_skips, features_that_read_the_label_are_not_probed) {
  gs_dataset ds;
  tiny_data(&ds, N);
  gs_record rec;
  gs_model *m = train_stub(READS_LABEL, &ds, &rec);
  cr_assert_not_null(m);
  cr_assert_str_eq(rec.status, "done", "%s", rec.message);
  cr_assert_str_eq(rec.message, "probe stage: probes of the model features skipped: the stub's features read the label");
  cr_assert_float_eq(*gs_record_find_scalar(&rec, "probe_skipped"), 1.0, 0);
  cr_assert_null(gs_record_find_scalar(&rec, "probe_svm_all"));
  cr_assert_null(gs_record_find_series(&rec, "probe_svm_all"), "a source that is never probed has no series");
  expect_series(&rec, "probe_class_head", 1); /* the other sources are probed as usual */
  cr_assert_float_eq(*gs_record_find_scalar(&rec, "probe_finetuned_net_all"), 1.0, 1e-12);
  stub.destroy(m);
  gs_record_free(&rec);
  free_data(&ds);
}

Test(probe_skips, a_data_set_without_labels_skips_the_stage) {
  gs_dataset ds;
  tiny_data(&ds, N);
  free(ds.test.labels);
  ds.test.labels = NULL;
  gs_record rec;
  gs_model *m = train_stub(0, &ds, &rec);
  cr_assert_not_null(m);
  cr_assert_str_eq(rec.status, "done", "%s", rec.message);
  cr_assert_str_eq(rec.message, "probe stage: probes skipped: the data set has no labels");
  cr_assert_float_eq(*gs_record_find_scalar(&rec, "probe_skipped"), 1.0, 0);
  cr_assert_null(gs_record_find_series(&rec, "probe_svm_all"));
  stub.destroy(m);
  gs_record_free(&rec);
  free_data(&ds);
}
