/* VAE training throughput (images/s at one thread) and the fraction of the machine's sgemm peak
 * it reaches. Prints gensweep's own figures only: median images/s by wall clock and per CPU
 * second of this process (CPU time counts no slices taken by other processes on a shared
 * machine), over 5 windows of --steps steps. There is no ratio here: the ratio against PyTorch
 * measured in the same run (or NOT MEASURED when the reference cannot run) is printed by
 * tests/bench/vae_speed.sh, so no stored figure can pass for a measurement.
 *
 *   bench_vae [--z 25] [--model vae|cvae] [--steps 600]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../unit/cfgkeys.h"
#include "gensweep/models/model.h"
#include "gensweep/nn/optim.h"

static double cpu_now(void) { /* CPU seconds of this process (all its threads) */
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void sort5(double *v) {
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++)
      if (v[j] < v[i]) { double t = v[i]; v[i] = v[j]; v[j] = t; }
}

static double sgemm_peak(void) {
  int n = 2048;
  float *a = gs_aligned_alloc(sizeof(float) * n * n), *b = gs_aligned_alloc(sizeof(float) * n * n),
        *c = gs_aligned_alloc(sizeof(float) * n * n);
  for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = 0.001f * (i % 1000);
  double best = 0;
  for (int r = 0; r < 5; r++) {
    double t = gs_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    t = gs_now() - t;
    double gf = 2.0 * n * n * n / t / 1e9;
    if (gf > best) best = gf;
  }
  free(a);
  free(b);
  free(c);
  return best;
}

int main(int argc, char **argv) {
  int z = 25, steps = 600;
  const char *model = "vae";
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 < argc && !strcmp(argv[i], "--z")) z = atoi(argv[i + 1]);
    else if (i + 1 < argc && !strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
    else if (i + 1 < argc && !strcmp(argv[i], "--model")) model = argv[i + 1];
    else {
      if (!strcmp(argv[i], "--ref"))
        fprintf(stderr, "bench_vae: --ref is gone: the ratio against PyTorch is printed by tests/bench/vae_speed.sh\n");
      fprintf(stderr, "usage: bench_vae [--z 25] [--model vae|cvae] [--steps 600]\n");
      return 2;
    }
  }
  if (steps < 1) steps = 1;
  openblas_set_num_threads(1);
  gs_config cfg;
  gs_config_defaults(&cfg, gs_models_vocabulary());
  GS_STRCPY(cfg.model, model);
  cfg_set(&cfg, "model.latent_dim", z);
  gs_data_options o = {.seed = 1};
  gs_dataset ds;
  gs_error err = {0};
  if (gs_dataset_load("fashion-mnist", &o, &ds, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 2;
  }
  const gs_model_def *def = gs_model_find(model);
  gs_rng init, noise, sh;
  gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
  gs_rng_seed(&noise, 1, 0, GS_RNG_NOISE);
  gs_rng_seed(&sh, 1, 0, GS_RNG_SHUFFLE);
  gs_model *m = def->create(&cfg, &ds, &init, &err);
  gs_params *p = def->params(m);
  gs_optim opt;
  gs_optim_init(&opt, GS_OPT_RMSPROP, p->total, 1e-3f);
  int B = 100;
  int32_t *perm = malloc(sizeof(int32_t) * ds.train.n);
  for (long i = 0; i < ds.train.n; i++) perm[i] = (int32_t)i;
  gs_rng_shuffle(&sh, perm, ds.train.n);
  long nb = ds.train.n / B;
  /* warm up */
  for (int s = 0; s < 20; s++) {
    def->train_step(m, &(gs_batch){&ds.train, perm + (s % nb) * B, B, 0, B, NULL}, 0, &noise, NULL);
    gs_optim_step(&opt, p->data, p->grad);
  }
  double best = 0, times[5], cpu[5];
  for (int r = 0; r < 5; r++) {
    double t = gs_now(), c = cpu_now();
    for (int s = 0; s < steps; s++) {
      def->train_step(m, &(gs_batch){&ds.train, perm + (s % nb) * B, B, 0, B, NULL}, 0, &noise, NULL);
      gs_optim_step(&opt, p->data, p->grad);
    }
    times[r] = gs_now() - t;
    cpu[r] = cpu_now() - c;
    double ips = (double)steps * B / times[r];
    if (ips > best) best = ips;
  }
  /* medians (wall and CPU time sorted separately) */
  sort5(times);
  sort5(cpu);
  double med = (double)steps * B / times[2], med_cpu = (double)steps * B / (cpu[2] > 1e-9 ? cpu[2] : 1e-9);
  /* flops per image: forward 2*sum(in*out), backward 2x that minus the first layer's input gradient */
  int C = strcmp(model, "cvae") == 0 ? 10 : 0;
  double l1 = (784.0 + C) * cfg_get(&cfg, "model.hidden1"), l2 = (double)cfg_get(&cfg, "model.hidden1") * cfg_get(&cfg, "model.hidden2"), heads = 2.0 * cfg_get(&cfg, "model.hidden2") * z;
  double d1 = (double)(z + C) * cfg_get(&cfg, "model.hidden2"), d2 = (double)cfg_get(&cfg, "model.hidden2") * cfg_get(&cfg, "model.hidden1"), d3 = (double)cfg_get(&cfg, "model.hidden1") * 784;
  double fwd = 2 * (l1 + l2 + heads + d1 + d2 + d3);
  double flops = fwd * 3 - 2 * l1;
  double peak = sgemm_peak();
  printf("bench_vae model=%s z=%d batch=%d threads=1 (OpenBLAS %s kernels): median %.0f img/s wall, "
         "%.0f img/s per CPU second (5 windows of %d steps; best wall %.0f)\n",
         model, z, B, openblas_get_corename(), med, med_cpu, steps, best);
  printf("  %.1f GFLOP/s = %.0f%% of sgemm peak (%.1f GFLOP/s, 2048^2, one thread)\n", flops * med / 1e9,
         100 * flops * med / 1e9 / peak, peak);
  def->destroy(m);
  gs_optim_free(&opt);
  gs_dataset_free(&ds);
  free(perm);
  return 0;
}
