/* Shards of a sweep (--shard i/n, Slurm job arrays): runs split by their models' cost estimates,
 * longest first to the least loaded shard. See gs_shard_owners in gensweep/runner/runner.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/models/model.h"
#include "gensweep/runner/runner.h"

int gs_parse_shard(const char *s, int *shard, int *nshards, gs_error *err) {
  char *end;
  errno = 0;
  long i = strtol(s, &end, 10);
  long n = -1;
  if (end != s && *end == '/' && end[1] >= '0' && end[1] <= '9') {
    const char *q = end + 1;
    n = strtol(q, &end, 10);
    if (*end) n = -1;
  }
  if (errno || n < 1 || n > 100000 || s[0] < '0' || s[0] > '9')
    return gs_fail(err, "--shard %s: expected i/n with integers 0 <= i < n (e.g. --shard 0/4, "
                        "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)", s);
  if (i < 0 || i >= n)
    return gs_fail(err, "--shard %s: shard index %ld is out of range 0..%ld (shards are numbered from 0; "
                        "use an array of 0-%ld)", s, i, n - 1, n - 1);
  *shard = (int)i;
  *nshards = (int)n;
  return 0;
}

/* The probe stage's work, roughly, in operation-equivalents at the plan's 80 GFLOP/s, per
 * training value and class: the own primal solver fitted all 60,000 Fashion-MNIST pixels (10
 * classes) in ~7 s on one core (about 1,200), liblinear's dual solvers 100 images in ~0.06 s
 * (about 6,000). Features counted as the data set's dimension (a VAE's 25 are overestimated: the
 * order of runs is what matters). */
static double probe_cost(const gs_config *c, const gs_data_sizes *d, double train_cost) {
  gs_probe_lists pl;
  if (gs_config_probe_lists(c, &pl, NULL) != 0) return 0.0;
  /* probe.features = finetuned: the feature network trained further on each labelled subset,
   * max(finetune_epochs passes, finetune_min_steps batches), at about half the training's cost
   * per example (the discriminator's share of a GAN step) */
  double ft = 0;
  long epochs = gs_model_epochs(c);
  double n_all = (double)gs_train_count(d->train, c->train_size, c->val_split);
  if (pl.finetuned && epochs > 0 && n_all > 0) {
    double per_example = train_cost / ((double)epochs * n_all);
    for (int b = 0; b < pl.nbudgets; b++) {
      double m = pl.budgets[b] == 0 ? n_all : (double)pl.budgets[b];
      double fits = pl.budgets[b] == 0 ? 1 : (double)c->probe_repeats;
      double steps = fmax((double)c->probe_finetune_epochs * ceil(m / (double)c->batch_size),
                          (double)c->probe_finetune_min_steps);
      ft += fits * steps * (double)c->batch_size * 0.5 * per_example;
    }
  }
  int sources = pl.model_features + pl.untrained_features + pl.pooled_features + pl.untrained_pooled_features;
  double n = (double)gs_train_count(d->train, c->train_size, c->val_split), work = 0;
  for (int b = 0; b < pl.nbudgets; b++) {
    double m = pl.budgets[b] == 0 ? n : (double)pl.budgets[b];
    double fits = pl.budgets[b] == 0 ? 1 : (double)c->probe_repeats;
    work += fits * m * (m < (double)d->dim + 1 ? 6000.0 : 1200.0);
  }
  return sources * pl.nclassifiers * work * (double)d->dim * 10.0 + ft;
}

double gs_run_cost(const gs_run *run) {
  const gs_model_def *def = gs_model_find(run->cfg.model);
  const gs_data_sizes *sizes = gs_config_data_sizes(&run->cfg);
  double train = def && def->cost && sizes ? def->cost(&run->cfg, sizes) : 0.0;
  double c = def && def->cost && sizes ? train + probe_cost(&run->cfg, sizes, train) : 0.0;
  return isfinite(c) && c > 0 ? c : 0.0;
}

typedef struct shard_item {
  long long q; /* cost in integer units (see gs_shard_owners) */
  long index;
} shard_item;

static int shard_item_cmp(const void *a, const void *b) {
  const shard_item *x = a, *y = b;
  if (x->q != y->q) return x->q < y->q ? 1 : -1; /* costliest first */
  return (x->index > y->index) - (x->index < y->index);
}

typedef struct shard_load {
  long long load;
  int shard;
} shard_load;

static int load_less(const shard_load *a, const shard_load *b) {
  return a->load < b->load || (a->load == b->load && a->shard < b->shard);
}

/* Longest processing time first: each run, costliest first (ties: lower grid index), goes to the
 * shard with the least estimated work so far (ties: lower shard). Costs are rounded to integer
 * units of 1e-6 of the costliest run before anything is added, so the loads are exact integers
 * and every shard, on any node, computes the same split. */
int *gs_shard_owners(const gs_sweep *sw, int nshards) {
  long n = sw->nruns;
  int *owner = gs_malloc(sizeof(int) * (n ? n : 1));
  if (nshards <= 1) {
    for (long i = 0; i < n; i++) owner[i] = 0;
    return owner;
  }
  shard_item *it = gs_malloc(sizeof(shard_item) * (n ? n : 1));
  double max = 0;
  for (long i = 0; i < n; i++) {
    double c = gs_run_cost(&sw->runs[i]);
    if (c > max) max = c;
  }
  for (long i = 0; i < n; i++) {
    /* every run weighs at least 1 unit, so runs of unknown cost still spread evenly */
    long long q = max > 0 ? llround(gs_run_cost(&sw->runs[i]) / max * 1e6) : 0;
    it[i].q = q < 1 ? 1 : q;
    it[i].index = i;
  }
  qsort(it, n, sizeof *it, shard_item_cmp);
  /* a binary min-heap of (load, shard): O(runs log shards) even for --shard i/100000 */
  shard_load *h = gs_malloc(sizeof(shard_load) * nshards);
  for (int s = 0; s < nshards; s++) h[s] = (shard_load){0, s}; /* already a heap: ordered by shard */
  for (long k = 0; k < n; k++) {
    owner[it[k].index] = h[0].shard;
    h[0].load += it[k].q;
    for (int i = 0;;) { /* sift down */
      int l = 2 * i + 1, r = l + 1, m = i;
      if (l < nshards && load_less(&h[l], &h[m])) m = l;
      if (r < nshards && load_less(&h[r], &h[m])) m = r;
      if (m == i) break;
      shard_load t = h[i];
      h[i] = h[m];
      h[m] = t;
      i = m;
    }
  }
  free(h);
  free(it);
  return owner;
}

