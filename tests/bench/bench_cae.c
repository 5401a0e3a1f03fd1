/* CAE training throughput (one thread) and the cost of the mixture-density regulariser.
 *
 *   bench_cae [--train N] [--reps R]
 *
 * 1. CAE z = 6 (conv 32/64), batch 128, Adam: median images/s over R windows of 20 steps, by
 *    wall clock and per CPU second of this process. gensweep's figures only: the ratio against
 *    PyTorch measured in the same run (or NOT MEASURED when it cannot run) is printed by
 *    tests/bench/cae_speed.sh, so no stored figure can pass for a measurement.
 * 2. cae_igmn after its IGMN stage (on N training images): the retraining step with mu > 0
 *    (BCE - mu * sum p(z), gradient E16) against the same step with mu = 0, interleaved
 *    windows, median ratio - 1 = the regulariser's overhead (target <= 10% of an epoch);
 *    plus the per-epoch refresh (re-encode + one EM iteration) as a share of an epoch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "../unit/cfgkeys.h"
#include "gensweep/data/data.h"
#include "gensweep/models/model.h"
#include "gensweep/nn/optim.h"

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
  qsort(v, n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static double cpu_acc; /* CPU seconds spent in window() */

/* seconds per step over `steps` steps with the optimiser */
static double window(const gs_model_def *def, gs_model *m, gs_optim *opt, const gs_dataset *ds, int32_t *perm,
                     long *pos, int B, int steps, gs_rng *noise) {
  gs_params *p = def->params(m);
  double t0 = gs_now(), c0 = cpu_now();
  for (int s = 0; s < steps; s++) {
    if (*pos + B > ds->train.n) *pos = 0;
    def->train_step(m, &(gs_batch){&ds->train, perm + *pos, B, 0, B, NULL}, 0, noise, NULL);
    gs_optim_step(opt, p->data, p->grad);
    *pos += B;
  }
  cpu_acc = (cpu_now() - c0) / steps;
  return (gs_now() - t0) / steps;
}

int main(int argc, char **argv) {
  long ntrain = 20000;
  int reps = 9;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--train") && i + 1 < argc) ntrain = atol(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else {
      if (!strncmp(argv[i], "--ref", 5))
        fprintf(stderr, "bench_cae: %s is gone: the ratio against PyTorch is printed by tests/bench/cae_speed.sh\n",
                argv[i]);
      fprintf(stderr, "usage: bench_cae [--train N] [--reps R]\n");
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  gs_dataset ds;
  gs_data_options o = {ntrain, 2000, 0.0, 1};
  gs_error err = {0};
  if (gs_dataset_load("fashion-mnist", &o, &ds, &err) != 0) {
    fprintf(stderr, "bench_cae: %s\n", err.msg);
    return 1;
  }
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  strcpy(c.model, "cae_igmn");
  cfg_set(&c, "model.latent_dim", 6);
  c.epochs = 1;
  cfg_set(&c, "igmn.retrain_epochs", 1);
  cfg_set(&c, "igmn.mu", 1e-6);
  cfg_set(&c, "igmn.v_min", ntrain / 25.0);
  cfg_set(&c, "igmn.sp_min", cfg_get(&c, "igmn.v_min") / 48.0);
  cfg_set(&c, "eval.judge", 0);
  cfg_set(&c, "eval.n_recon", 0);
  const gs_model_def *def = gs_model_find("cae_igmn");
  gs_rng init, noise, sh;
  gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
  gs_rng_seed(&noise, 1, 0, GS_RNG_NOISE);
  gs_rng_seed(&sh, 1, 0, GS_RNG_SHUFFLE);
  gs_model *m = def->create(&c, &ds, &init, &err);
  if (!m) {
    fprintf(stderr, "bench_cae: %s\n", err.msg);
    return 1;
  }
  gs_optim opt;
  gs_optim_init(&opt, GS_OPT_ADAM, def->params(m)->total, 1e-3f);
  opt.beta1 = 0.9f;
  opt.beta2 = 0.999f;
  opt.eps = 1e-8f;
  int32_t *perm = malloc(sizeof(int32_t) * ds.train.n);
  for (long i = 0; i < ds.train.n; i++) perm[i] = (int32_t)i;
  gs_rng_shuffle(&sh, perm, ds.train.n);
  const int B = 128, W = 20;
  long pos = 0;

  /* 1. the CAE stage: one epoch of training (also what IGMN then clusters), timed in windows */
  double *t = malloc(sizeof(double) * (reps > 0 ? reps : 1) * 2);
  double *tc = malloc(sizeof(double) * (reps > 0 ? reps : 1) * 2);
  long nsteps = ds.train.n / B;
  int nw = 0;
  for (long s = 0; s < nsteps / W; s++) {
    double dt = window(def, m, &opt, &ds, perm, &pos, B, W, &noise);
    if (nw < reps) {
      tc[nw] = cpu_acc;
      t[nw++] = dt;
    }
  }
  if (nw == 0) {
    fprintf(stderr, "bench_cae: --train %ld gives no window of %d steps of %d images\n", ds.train.n, W, B);
    return 1;
  }
  double plain = median(t, nw), plain_cpu = median(tc, nw);
  printf("CAE z=6 (conv 32/64), batch 128, Adam, 1 thread: %.0f img/s wall, %.0f img/s per CPU second "
         "(medians of %d windows of %d steps)\n", B / plain, B / plain_cpu, nw, W);

  /* 2. the IGMN stage, then retraining steps with and without the regulariser */
  gs_record rec;
  gs_record_init(&rec, "bench", "cae_igmn", 0);
  double t0 = gs_now();
  if (def->end_epoch(m, &ds, 1, &rec, &err) != 0) {
    fprintf(stderr, "bench_cae: %s\n", err.msg);
    return 1;
  }
  double stage_s = gs_now() - t0;
  const gs_series *K = gs_record_find_series(&rec, "igmn_K");
  printf("IGMN stage on %ld images (encode, sigmasq, pass, finalise, grid): %.2f s, K = %.0f\n", ds.train.n,
         stage_s, K && K->n ? K->v[K->n - 1] : -1.0);
  double *ratio = malloc(sizeof(double) * reps), *treg = malloc(sizeof(double) * reps);
  for (int r = 0; r < reps; r++) {
    cfg_set(&c, "igmn.mu", 1e-6);
    double a = window(def, m, &opt, &ds, perm, &pos, B, W, &noise);
    cfg_set(&c, "igmn.mu", 0);
    double b = window(def, m, &opt, &ds, perm, &pos, B, W, &noise);
    ratio[r] = a / b;
    treg[r] = a;
  }
  double ov = median(ratio, reps) - 1;
  double step_reg = median(treg, reps);
  printf("regulariser (mu > 0) vs mu = 0 step: overhead %+.1f%% (median of %d interleaved windows; target <= 10%%)\n",
         100 * ov, reps);
  /* the per-epoch refresh: evaluate() of a retraining epoch = test BCE + re-encode + refresh */
  t0 = gs_now();
  cfg_set(&c, "igmn.mu", 1e-6);
  def->end_epoch(m, &ds, 2, &rec, &err);
  double ev = gs_now() - t0;
  double epoch = step_reg * (double)nsteps;
  printf("retraining epoch on %ld images: %.2f s of steps + %.2f s evaluation and refresh\n", ds.train.n, epoch, ev);
  gs_record_free(&rec);
  def->destroy(m);
  gs_optim_free(&opt);
  free(perm);
  free(t);
  free(tc);
  free(ratio);
  free(treg);
  gs_dataset_free(&ds);
  return 0;
}
