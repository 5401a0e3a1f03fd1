/* The CAE + IGMN pieces: the mixture-density op's gradient, the cae_igmn model's state in
 * checkpoints (round trip, corrupt state refused), arrays in run files, the model's graph. */
#define TEST_TMP_NAME "gs_cae"
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <unistd.h>

#include "cfgkeys.h"
#include "gensweep/cluster/igmn.h"
#include "gensweep/models/model.h"
#include "gensweep/nn/ops.h"
#include "gensweep/io/record.h"
#include "testutil.h"
#include "tinydata.h"

/* a small 3-D mixture fitted to three blobs */
static void small_mixture(gs_igmn *m) {
  enum { N = 3000, D = 3 };
  static float Z[N * D];
  gs_rng r;
  gs_rng_seed(&r, 11, 0, 1);
  for (int i = 0; i < N; i++)
    for (int d = 0; d < D; d++) Z[i * D + d] = (float)((i % 3) * 4.0 * (d == i % 3) + 0.7 * gs_rng_normal(&r));
  gs_igmn_params p;
  gs_igmn_params_default(&p, D);
  p.v_min = 300;
  p.sp_min = 10;
  p.c = 0.1;
  cr_assert_eq(gs_igmn_init(m, &p, gs_sigmasq(Z, N, D), NULL), 0);
  gs_igmn_fit(m, Z, N);
  gs_igmn_finalize(m, Z, N);
  cr_assert_geq(m->K, 2, "K = %d", m->K);
}

/* loss = sum_i w_i f(z_i) through the op; d loss / dz against central differences in double */
Test(cae, density_op_gradient_vs_central_differences) {
  gs_igmn mix;
  memset(&mix, 0, sizeof mix);
  small_mixture(&mix);
  enum { B = 12, D = 3 };
  gs_params p = {0};
  int s[2] = {B, D};
  gs_params_declare(&p, "z", 2, s);
  gs_params_alloc(&p);
  gs_rng r;
  gs_rng_seed(&r, 5, 0, 1);
  for (int i = 0; i < B; i++)
    for (int d = 0; d < D; d++)
      p.data[i * D + d] = (float)(mix.mean[(i % mix.K) * D + d] + 0.9 * gs_rng_normal(&r));
  float w[B];
  for (int i = 0; i < B; i++) w[i] = 0.5f + 0.1f * i;
  gs_graph g;
  gs_graph_init(&g, 1 << 20);
  gs_graph_begin(&g, &p, 1);
  gs_tensor *f = gs_igmn_density_op(&g, &mix, &p.t[0]);
  gs_tensor *loss = gs_sum(&g, gs_mul(&g, f, gs_wrap(&g, w, 1, (int[]){B})));
  gs_backward(&g, loss, 1.0f);
  double fd[B];
  for (int i = 0; i < B; i++)
    for (int d = 0; d < D; d++) {
      double h = 1e-3, fp = 0, fm = 0;
      float zp[D], zm[D];
      for (int k = 0; k < D; k++) zp[k] = zm[k] = p.data[i * D + k];
      zp[d] += (float)h;
      zm[d] -= (float)h;
      gs_igmn_density(&mix, zp, 1, D, fd, NULL);
      fp = fd[0];
      gs_igmn_density(&mix, zm, 1, D, fd, NULL);
      fm = fd[0];
      double num = w[i] * (fp - fm) / (2 * h), ana = p.grad[i * D + d];
      cr_assert(fabs(num - ana) <= 2e-3 * fmax(fabs(num), 1e-4), "z[%d][%d]: analytic %g numeric %g", i, d, ana, num);
    }
  /* evaluation mode records nothing and needs no gradient buffers */
  float f1[B];
  for (int i = 0; i < B; i++) f1[i] = f->x[i];
  gs_graph_begin(&g, NULL, 0);
  gs_tensor *f2 = gs_igmn_density_op(&g, &mix, gs_wrap2(&g, p.data, B, D));
  for (int i = 0; i < B; i++) cr_assert_eq(f2->x[i], f1[i]);
  gs_graph_free(&g);
  gs_params_free(&p);
  gs_igmn_free(&mix);
}

static void tiny_config(gs_config *c) {
  gs_config_defaults(c, gs_models_vocabulary());
  GS_STRCPY(c->model, "cae_igmn");
  cfg_set(c, "model.latent_dim", 3);
  cfg_set(c, "model.conv1", 4);
  cfg_set(c, "model.conv2", 8);
  c->epochs = 1;
  cfg_set(c, "igmn.retrain_epochs", 1);
  cfg_set(c, "igmn.v_min", 30);
  cfg_set(c, "igmn.sp_min", 3);
  cfg_set(c, "igmn.samples", 4);
  cfg_set(c, "eval.n_recon", 2);
  cfg_set(c, "eval.judge", 0);
}

/* Train a step, run the IGMN stage, save the state, load it into a fresh model: the second save
 * is identical; truncated or altered states are refused and leave the model as it was. */
Test(cae, igmn_state_round_trip_and_corruption) {
  gs_dataset ds;
  tiny_data(&ds, 300);
  gs_config c;
  tiny_config(&c);
  const gs_model_def *def = gs_model_find("cae_igmn");
  cr_assert_not_null(def);
  gs_rng init, noise;
  gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
  gs_rng_seed(&noise, 1, 0, GS_RNG_NOISE);
  gs_error err = {0};
  gs_model *m = def->create(&c, &ds, &init, &err);
  cr_assert_not_null(m, "%s", err.msg);
  int32_t idx[32];
  for (int i = 0; i < 32; i++) idx[i] = i;
  double l = def->train_step(m, &(gs_batch){&ds.train, idx, 32, 0, 32, NULL}, 0, &noise, NULL);
  cr_assert(isfinite(l) && l > 0, "loss %g", l);
  gs_record rec;
  gs_record_init(&rec, "r", "cae_igmn", 0);
  cr_assert_eq(def->end_epoch(m, &ds, 1, &rec, &err), 0, "%s", err.msg); /* the IGMN stage */
  gs_state st = {0};
  def->state_save(m, &st);
  cr_assert_not_null(gs_state_get(&st, "mixture", GS_STATE_F64, NULL), "no mixture after the IGMN stage");
  cr_assert_not_null(gs_state_get(&st, "pass.K", GS_STATE_F64, NULL));
  cr_assert_not_null(gs_state_get(&st, "pass.grid_pixels", GS_STATE_U8, NULL));

  gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
  gs_model *m2 = def->create(&c, &ds, &init, &err);
  cr_assert_eq(def->state_load(m2, &st, &err), 0, "%s", err.msg);
  gs_state st2 = {0};
  def->state_save(m2, &st2);
  cr_assert_eq(st2.n, st.n);
  for (int i = 0; i < st.n; i++) {
    cr_assert_str_eq(st2.a[i].name, st.a[i].name);
    cr_assert_eq(st2.a[i].type, st.a[i].type);
    cr_assert_eq(st2.a[i].n, st.a[i].n, "%s", st.a[i].name);
    cr_assert_eq(memcmp(st2.a[i].data, st.a[i].data, gs_state_elem_size(st.a[i].type) * st.a[i].n), 0,
                 "state array %s differs after a round trip", st.a[i].name);
  }

  /* corrupt states, each refused naming the array and leaving the model as it was: an array
   * missing, one too short, one of another type, a bad pipeline value, a broken mixture */
  gs_model *m3 = def->create(&c, &ds, &init, &err);
  gs_state empty = {0}, before = {0};
  def->state_save(m3, &before);
  struct {
    const char *name;
    int how; /* 0 drop, 1 shorten, 2 retype, 3 bad value */
    const char *says;
  } cases[] = {{"sigmasq_pass", 0, "no float64 array 'sigmasq_pass'"},
               {"pass.row_class", 1, "'pass.row_class' has"},
               {"pass.grid_pixels", 2, "no uint8 array 'pass.grid_pixels'"},
               {"pipeline", 3, "'pipeline' holds"},
               {"mixture", 1, "mixture"},
               {"pass.done", 0, "no int64 array 'pass.done'"}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    gs_state bad = {0};
    for (int i = 0; i < st.n; i++) {
      const gs_state_array *a = &st.a[i];
      if (strcmp(a->name, cases[k].name) != 0) {
        gs_state_put(&bad, a->name, a->type, a->data, a->n);
      } else if (cases[k].how == 1) {
        gs_state_put(&bad, a->name, a->type, a->data, a->n - 1);
      } else if (cases[k].how == 2) {
        gs_state_put(&bad, a->name, a->type == GS_STATE_U8 ? GS_STATE_I64 : GS_STATE_U8, a->data, 1);
      } else if (cases[k].how == 3) {
        int64_t v[3] = {7, 0, 1};
        gs_state_put_i64(&bad, a->name, v, 3);
      }
    }
    err.msg[0] = 0;
    cr_assert_neq(def->state_load(m3, &bad, &err), 0, "case %s accepted", cases[k].name);
    cr_assert(strstr(err.msg, cases[k].says), "case %s: %s", cases[k].name, err.msg);
    gs_state after = {0};
    def->state_save(m3, &after);
    cr_assert_eq(after.n, before.n, "a refused state changed the model");
    gs_state_free(&after);
    gs_state_free(&bad);
  }
  cr_assert_neq(def->state_load(m3, &empty, &err), 0, "an empty state was accepted");
  gs_state_free(&before);
  gs_state_free(&st2);

  /* the final evaluation writes the stage arrays; the run file holds them at their paths */
  cr_assert_eq(def->end_epoch(m2, &ds, 2, &rec, &err), 0, "%s", err.msg);
  cr_assert_eq(def->evaluate(m2, &ds, &(gs_when){.epoch = 2, .final = 1}, &rec, &err), 0, "%s", err.msg);
  const double *K = gs_record_find_scalar(&rec, "igmn_pass_K");
  cr_assert_not_null(K);
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/r.h5", dir);
  GS_STRCPY(rec.status, "done");
  rec.params = def->params(m2);
  cr_assert_eq(gs_runfile_write(path, &rec, &c, &err), 0, "%s", err.msg);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  if (*K > 0) {
    hid_t d = H5Dopen2(f, "/igmn/pass/means", H5P_DEFAULT);
    cr_assert_geq(d, 0, "no /igmn/pass/means");
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2];
    cr_assert_eq(H5Sget_simple_extent_dims(sp, dims, NULL), 2);
    cr_assert_eq(dims[0], (hsize_t)*K);
    cr_assert_eq(dims[1], 3);
    H5Sclose(sp);
    H5Dclose(d);
  }
  H5Fclose(f);
  gs_run_summary sum;
  cr_assert_eq(gs_runfile_read_summary(path, &sum, &err), 0, "%s", err.msg);
  if (*K > 0) { /* a changed value in a model array is caught by the run file's checksum */
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/igmn/pass/means", H5P_DEFAULT);
    double v[64 * 3];
    cr_assert_geq(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    v[1] += 1e-9;
    cr_assert_geq(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    H5Dclose(d);
    H5Fclose(f);
    cr_assert_neq(gs_runfile_read_summary(path, &sum, &err), 0, "a changed /igmn array went unnoticed");
  }
  rm_rf(dir);
  gs_record_free(&rec);
  gs_state_free(&st);
  def->destroy(m);
  def->destroy(m2);
  def->destroy(m3);
  free_data(&ds);
}

/* the model's own parameter gradient against central differences, on a small CAE */
Test(cae, model_gradient_vs_central_differences) {
  gs_dataset ds;
  tiny_data(&ds, 8);
  gs_config c;
  tiny_config(&c);
  GS_STRCPY(c.model, "cae");
  cfg_set(&c, "model.conv1", 2);
  cfg_set(&c, "model.conv2", 3);
  const gs_model_def *def = gs_model_find("cae");
  gs_rng init, noise;
  gs_rng_seed(&init, 2, 0, GS_RNG_INIT);
  gs_error err = {0};
  gs_model *m = def->create(&c, &ds, &init, &err);
  cr_assert_not_null(m, "%s", err.msg);
  gs_params *p = def->params(m);
  int32_t idx[4] = {0, 1, 2, 3};
  def->train_step(m, &(gs_batch){&ds.train, idx, 4, 0, 4, NULL}, 0, &noise, NULL);
  float *ana = malloc(sizeof(float) * p->total);
  memcpy(ana, p->grad, sizeof(float) * p->total);
  int bad = 0, checked = 0;
  for (long k = 0; k < p->total; k += 1 + p->total / 150) {
    float old = p->data[k], h = 1e-2f;
    p->data[k] = old + h;
    double lp = def->train_step(m, &(gs_batch){&ds.train, idx, 4, 0, 4, NULL}, 0, &noise, NULL) / 4;
    p->data[k] = old - h;
    double lm = def->train_step(m, &(gs_batch){&ds.train, idx, 4, 0, 4, NULL}, 0, &noise, NULL) / 4;
    p->data[k] = old;
    double num = (lp - lm) / (2 * h);
    if (fabs(num - ana[k]) > 3e-2 * fmax(1.0, fabs(num))) {
      if (bad < 5) cr_log_error("param %ld: analytic %g numeric %g", k, ana[k], num);
      bad++;
    }
    checked++;
  }
  cr_assert_eq(bad, 0, "%d of %d gradient entries differ", bad, checked);
  free(ana);
  def->destroy(m);
  free_data(&ds);
}

/* ------------------------------------------------------------------ resume through the runner */
#include "gensweep/io/checkpoint.h"
#include "gensweep/runner/runner.h"

static volatile int stop_flag;
static long stop_after;
static void on_epoch(void *ctx, const gs_run *run, long ep, long E, double l, double t, double s, double ips) {
  if (ep == stop_after) stop_flag = 1;
}
static char last_note[64];
static int rejected_notes;
static void on_note(void *ctx, const gs_run *run, const char *ev, long ep, long st, const char *msg) {
  if (strcmp(ev, "checkpointed") != 0) GS_STRCPY(last_note, ev);
  rejected_notes += strcmp(ev, "ckpt-rejected") == 0;
}

static gs_model *train(const gs_run *run, const gs_dataset *ds, gs_record *rec, const char *ckpt, long stop_at,
                       const gs_model_def **def) {
  stop_flag = 0;
  stop_after = stop_at;
  last_note[0] = 0;
  rejected_notes = 0;
  gs_train_hooks h = {.comm = MPI_COMM_NULL, .epoch = on_epoch, .note = on_note, .ckpt_path = ckpt,
                      .stop = &stop_flag};
  return gs_train_run(run, ds, rec, &h, def);
}

/* A checkpoint that reads correctly but is refused afterwards (here: a model state of another
 * layout, with a valid checksum) must not leak its parameters or optimiser into the restart:
 * the run restarts from scratch and ends with exactly the uninterrupted run's parameters. */
Test(cae, refused_checkpoint_restarts_truly_from_scratch, .timeout = 120) {
  gs_dataset ds;
  tiny_data(&ds, 256);
  gs_run run;
  memset(&run, 0, sizeof run);
  tiny_config(&run.cfg);
  run.cfg.epochs = 2;
  run.cfg.batch_size = 32;
  GS_STRCPY(run.cfg.optimizer, "adam");
  run.cfg.eval_every = 1;
  GS_STRCPY(run.id, "r");
  run.hash = gs_config_hash(&run.cfg);
  char dir[64], ck[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(ck, sizeof ck, "%s/r.h5", dir);
  const gs_model_def *def;

  gs_record ref;
  gs_model *a = train(&run, &ds, &ref, NULL, -1, &def);
  cr_assert_not_null(a);
  cr_assert_str_eq(ref.status, "done", "%s", ref.message);
  gs_params *pa = def->params(a);

  /* twice: with the previous checkpoint kept beside the refused one (the run resumes from it),
   * and without it (the run starts from scratch); both end as the uninterrupted run */
  for (int mode = 0; mode < 2; mode++) {
    /* stop after epoch 2 (after the IGMN stage): a checkpoint with model state */
    gs_record r1;
    gs_model *b = train(&run, &ds, &r1, ck, 2, &def);
    cr_assert_str_eq(r1.status, "interrupted", "%s", r1.message);
    def->destroy(b);
    gs_record_free(&r1);
    /* rewrite it with a model state of another layout (valid checksum); the good one becomes
     * the previous checkpoint */
    gs_checkpoint c;
    memset(&c, 0, sizeof c);
    gs_params cp = *pa; /* same table, its own storage */
    cp.data = malloc(sizeof(float) * pa->total);
    cp.grad = NULL;
    gs_optim o;
    gs_optim_init(&o, GS_OPT_ADAM, pa->total, 1e-3f);
    gs_record cr;
    gs_record_init(&cr, "r", "cae_igmn", run.hash);
    c.params = &cp;
    c.opt = &o;
    c.rec = &cr;
    gs_state st = {0};
    c.state = &st;
    gs_error err = {0};
    cr_assert_eq(gs_checkpoint_read(ck, &c, &err), 0, "%s", err.msg);
    cr_assert_gt(st.n, 0);
    int64_t pipeline[3] = {5, 0, 0}; /* not a stage of cae_igmn */
    gs_state_put_i64(&st, "pipeline", pipeline, 3);
    cr_assert_eq(gs_checkpoint_write(ck, &c, &err), 0, "%s", err.msg);
    gs_state_free(&st);
    free(c.perm);
    free(cp.data);
    gs_optim_free(&o);
    gs_record_free(&cr);
    char prev[256];
    gs_checkpoint_prev_path(ck, prev, sizeof prev);
    cr_assert_eq(access(prev, F_OK), 0, "no previous checkpoint beside %s", ck);
    if (mode == 1) unlink(prev);

    gs_record r2;
    gs_model *d = train(&run, &ds, &r2, ck, -1, &def);
    cr_assert_str_eq(last_note, mode == 0 ? "resumed" : "ckpt-rejected");
    /* resumed from the previous one: the refused latest went first, so that the checkpoints
     * written after it (the last epoch's) did not rotate it over the good previous one: neither
     * file left holds the refused state */
    const char *left[2] = {ck, prev};
    for (int k = 0; mode == 0 && k < 2; k++) {
      if (access(left[k], F_OK) != 0) continue;
      gs_params lp = *pa;
      lp.data = malloc(sizeof(float) * pa->total);
      lp.grad = NULL;
      gs_optim lo;
      gs_optim_init(&lo, GS_OPT_ADAM, pa->total, 1e-3f);
      gs_record lr;
      gs_record_init(&lr, "r", "cae_igmn", run.hash);
      gs_checkpoint l;
      memset(&l, 0, sizeof l);
      gs_state ls = {0};
      l.params = &lp, l.opt = &lo, l.rec = &lr, l.state = &ls;
      cr_assert_eq(gs_checkpoint_read(left[k], &l, &err), 0, "%s", err.msg);
      long np = 0;
      const int64_t *pl = gs_state_get(&ls, "pipeline", GS_STATE_I64, &np);
      cr_assert(pl && np == 3 && pl[0] != 5, "%s holds the refused checkpoint's state", left[k]);
      gs_state_free(&ls);
      free(l.perm);
      free(lp.data);
      gs_optim_free(&lo);
      gs_record_free(&lr);
    }
    cr_assert_eq(rejected_notes, 1);
    cr_assert_str_eq(r2.status, "done", "%s", r2.message);
    gs_params *pd = def->params(d);
    cr_assert_eq(memcmp(pd->data, pa->data, sizeof(float) * pa->total), 0,
                 "mode %d: a %s after a refused checkpoint differs from an uninterrupted run", mode,
                 mode == 0 ? "resume from the previous checkpoint" : "restart");
    def->destroy(d);
    gs_record_free(&r2);
    unlink(ck);
    unlink(prev);
  }
  def->destroy(a);
  gs_record_free(&ref);
  free_data(&ds);
  rm_rf(dir);
}
