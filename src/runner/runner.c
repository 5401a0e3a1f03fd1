/* The run loop: data, model, optimiser, epochs, evaluation, files. Models know nothing of this. */
#include "gensweep/runner.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gensweep/model.h"
#include "gensweep/optim.h"
#include "gensweep/png.h"

void gs_sweep_dir(const gs_sweep *sw, const char *results_override, char *dir, size_t n) {
  const char *root = results_override && *results_override ? results_override : sw->base.results;
  snprintf(dir, n, "%s/%s", root, sw->base.sweep_name);
}

/* ------------------------------------------------------------------ data-set cache */
static gs_dataset cache_ds;
static char cache_key[1200];
static int cache_ok;

static void data_key(const gs_config *c, char *buf, size_t n) {
  snprintf(buf, n, "%s|%ld|%ld|%.17g|%ld", c->dataset, c->train_size, c->test_size, c->val_split, c->data_seed);
}

const gs_dataset *gs_dataset_cached(const gs_config *cfg, gs_error *err) {
  char key[sizeof cache_key];
  data_key(cfg, key, sizeof key);
  if (cache_ok && strcmp(key, cache_key) == 0) return &cache_ds;
  gs_dataset_cache_clear();
  gs_data_options o = {.train_size = cfg->train_size, .test_size = cfg->test_size,
                       .val_split = cfg->val_split, .seed = (uint64_t)cfg->data_seed};
  if (gs_dataset_load(cfg->dataset, &o, &cache_ds, err) != 0) return NULL;
  GS_STRCPY(cache_key, key);
  cache_ok = 1;
  return &cache_ds;
}

void gs_dataset_cache_clear(void) {
  if (cache_ok) gs_dataset_free(&cache_ds);
  cache_ok = 0;
  cache_key[0] = 0;
}

/* ------------------------------------------------------------------ one run */
static void set_failed(gs_record *rec, const char *status, const char *msg) {
  GS_STRCPY(rec->status, status);
  GS_STRCPY(rec->message, msg);
}

gs_model *gs_train_run(const gs_run *run, const gs_dataset *ds, gs_record *rec, FILE *log, const char *tag,
                       const gs_model_def **def_out) {
  const gs_config *c = &run->cfg;
  double t_start = gs_now();
  gs_record_init(rec, run->id, c->model, run->hash);
  gs_error err = {0};
  int failed = 0;
  const gs_model_def *def = gs_model_find(c->model);
  *def_out = def;
  if (!def) {
    snprintf(err.msg, sizeof err.msg, "unknown model '%s'", c->model);
    set_failed(rec, "failed", err.msg);
    return NULL;
  }
  long B = c->batch_size, nb = ds->train.n / B;
  if (nb < 1) {
    snprintf(err.msg, sizeof err.msg, "train.batch_size = %ld is larger than the training set (%ld images)", B,
             ds->train.n);
    set_failed(rec, "failed", err.msg);
    return NULL;
  }
  gs_rng init, shuffle, noise;
  gs_rng_seed(&init, (uint64_t)c->seed, 0, GS_RNG_INIT);
  gs_rng_seed(&shuffle, (uint64_t)c->seed, 0, GS_RNG_SHUFFLE);
  gs_rng_seed(&noise, (uint64_t)c->seed, 0, GS_RNG_NOISE);
  gs_model *m = def->create(c, ds, &init, &err);
  if (!m) {
    set_failed(rec, "failed", err.msg);
    return NULL;
  }
  gs_params *p = def->params(m);
  rec->params = p;
  gs_opt_kind kind;
  gs_optim_kind(c->optimizer, &kind);
  gs_optim opt;
  gs_optim_init(&opt, kind, p->total, (float)c->lr);
  opt.momentum = (float)c->momentum;
  opt.rho = (float)c->rho;
  opt.beta1 = (float)c->beta1;
  opt.beta2 = (float)c->beta2;
  opt.eps = (float)c->eps;

  int32_t *perm = gs_malloc(sizeof(int32_t) * ds->train.n);
  for (long i = 0; i < ds->train.n; i++) perm[i] = (int32_t)i;
  double train_s = 0.0;
  long images = 0;
  for (long ep = 1; ep <= c->epochs; ep++) {
    double t0 = gs_now();
    gs_rng_shuffle(&shuffle, perm, ds->train.n);
    double sum = 0.0;
    for (long s = 0; s < nb; s++) {
      double l = def->train_step(m, &ds->train, perm + s * B, (int)B, 0, (int)B, &noise);
      if (!isfinite(l)) {
        snprintf(err.msg, sizeof err.msg, "loss became %s at epoch %ld, step %ld (lower train.lr?)",
                 isnan(l) ? "NaN" : "infinite", ep, s + 1);
        break;
      }
      gs_optim_step(&opt, p->data, p->grad);
      sum += l;
    }
    double dt = gs_now() - t0;
    if (err.msg[0]) {
      set_failed(rec, "diverged", err.msg);
      failed = 1;
      break;
    }
    train_s += dt;
    images += nb * B;
    gs_record_push(rec, "epoch", (double)ep);
    gs_record_push(rec, "train_loss", sum / (double)(nb * B));
    gs_record_push(rec, "epoch_seconds", dt);
    gs_record_push(rec, "train_images_per_s", (double)(nb * B) / dt);
    int last = ep == c->epochs;
    if (last || ep % c->eval_every == 0) {
      if (def->evaluate(m, ds, (int)ep, last, rec, &err) != 0) {
        set_failed(rec, "diverged", err.msg);
        failed = 1;
        break;
      }
    }
    if (log) {
      const gs_series *te = gs_record_find_series(rec, "test_neg_elbo");
      fprintf(log, "%s epoch %ld/%ld  train %.2f", tag, ep, c->epochs, sum / (double)(nb * B));
      if (te && te->n) fprintf(log, "  test %.2f", te->v[te->n - 1]);
      fprintf(log, "  (%.1f s, %.0f img/s)\n", dt, (double)(nb * B) / dt);
      fflush(log);
    }
  }
  if (!failed) set_failed(rec, "done", "");
  gs_record_scalar(rec, "train_seconds", train_s);
  if (train_s > 0) gs_record_scalar(rec, "train_images_per_s", images / train_s);
  const gs_series *tl = gs_record_find_series(rec, "train_loss");
  if (tl && tl->n) gs_record_scalar(rec, "train_loss", tl->v[tl->n - 1]);
  rec->seconds = gs_now() - t_start;
  free(perm);
  gs_optim_free(&opt);
  return m; /* the caller writes the run file (rec->params points into m), then destroys m */
}
