/* The run loop: data, model, optimiser, epochs, evaluation, files. Models know nothing of this. */
#include "gensweep/runner/runner.h"
#include "gensweep/runner/probes.h"

#include <cblas.h>
#include <mpi.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gensweep/io/checkpoint.h"
#include "gensweep/models/model.h"
#include "gensweep/nn/optim.h"
#include "gensweep/io/png.h"

void gs_sweep_dir(const gs_sweep *sw, const char *results_override, char *dir, size_t n) {
  const char *root = results_override && *results_override ? results_override : sw->base.results;
  snprintf(dir, n, "%s/%s", root, sw->base.sweep_name);
}

/* ------------------------------------------------------------------ data-parallel group */
/* The group's share of the optimiser: element ranges [displ, displ + count) per rank.
 *
 * Two ways to sum gradients and share the update:
 *  - shared memory, when the whole group is on one node (the usual case): the parameter block
 *    lives once in an MPI shared-memory window and every rank's gradient block in its own
 *    segment; after a barrier each rank sums its slice of all gradient blocks, updates its slice
 *    of the parameters in place, barrier. No copies through MPI: ~0.3 ms a step for the VAE
 *    instead of ~1.9 ms for reduce-scatter + all-gather.
 *  - MPI (groups spanning nodes, or GS_NO_SHM=1): reduce-scatter the gradients, update the slice,
 *    all-gather the parameters.
 * Either way every rank ends a step with identical parameters, and for a given group size the
 * numbers are the same bit for bit (the slices are summed in rank order). */
typedef struct shard {
  int P, r;
  int *counts, *displs;
  float *gbuf;          /* this rank's reduced gradient slice */
  /* shared-memory path */
  int shm;
  MPI_Comm node;
  MPI_Win win;
  float *sparams;       /* the group's one parameter block (in rank 0's segment) */
  float **sgrads;       /* every rank's gradient block */
  float *own_data, *own_grad; /* the model's private blocks, restored at the end */
} shard;

static void shm_sync(shard *sh) {
  MPI_Win_sync(sh->win);
  MPI_Barrier(sh->node);
  MPI_Win_sync(sh->win);
}

static void shard_init(shard *sh, MPI_Comm comm, gs_params *p) {
  memset(sh, 0, sizeof *sh);
  sh->P = 1;
  if (comm == MPI_COMM_NULL) return;
  MPI_Comm_size(comm, &sh->P);
  MPI_Comm_rank(comm, &sh->r);
  if (sh->P == 1) return;
  long total = p->total;
  sh->counts = gs_malloc(sizeof(int) * sh->P);
  sh->displs = gs_malloc(sizeof(int) * sh->P);
  long chunk = (total + sh->P - 1) / sh->P;
  chunk = (chunk + 15) & ~15L;
  for (int i = 0; i < sh->P; i++) {
    long lo = i * chunk < total ? i * chunk : total, hi = lo + chunk < total ? lo + chunk : total;
    sh->displs[i] = (int)lo;
    sh->counts[i] = (int)(hi - lo);
  }
  sh->gbuf = gs_aligned_alloc(sizeof(float) * (chunk ? chunk : 16));

  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, sh->r, MPI_INFO_NULL, &sh->node);
  int nsize, all_here;
  MPI_Comm_size(sh->node, &nsize);
  int here = nsize == sh->P && !getenv("GS_NO_SHM");
  MPI_Allreduce(&here, &all_here, 1, MPI_INT, MPI_MIN, comm);
  if (!all_here) {
    MPI_Comm_free(&sh->node);
    return;
  }
  /* rank 0's segment: parameters then its gradients; the others: their gradients */
  MPI_Aint bytes = (MPI_Aint)sizeof(float) * total * (sh->r == 0 ? 2 : 1);
  float *base;
  MPI_Win_allocate_shared(bytes, sizeof(float), MPI_INFO_NULL, sh->node, &base, &sh->win);
  MPI_Win_lock_all(MPI_MODE_NOCHECK, sh->win);
  sh->sgrads = gs_malloc(sizeof(float *) * sh->P);
  for (int k = 0; k < sh->P; k++) {
    MPI_Aint sz;
    int du;
    float *ptr;
    MPI_Win_shared_query(sh->win, k, &sz, &du, &ptr);
    if (k == 0) {
      sh->sparams = ptr;
      sh->sgrads[0] = ptr + total;
    } else {
      sh->sgrads[k] = ptr;
    }
  }
  memset(sh->sgrads[sh->r], 0, sizeof(float) * total);
  if (sh->r == 0) memcpy(sh->sparams, p->data, sizeof(float) * total);
  shm_sync(sh);
  sh->own_data = p->data;
  sh->own_grad = p->grad;
  gs_params_rebind(p, sh->sparams, sh->sgrads[sh->r]);
  sh->shm = 1;
}

static void shard_free(shard *sh, gs_params *p) {
  if (sh->shm) {
    /* the trained parameters back into the model's own block (the run file is written from it) */
    memcpy(sh->own_data, sh->sparams, sizeof(float) * p->total);
    shm_sync(sh);
    gs_params_rebind(p, sh->own_data, sh->own_grad);
    MPI_Win_unlock_all(sh->win);
    MPI_Win_free(&sh->win);
    MPI_Comm_free(&sh->node);
    free(sh->sgrads);
  }
  free(sh->counts);
  free(sh->displs);
  free(sh->gbuf);
}

/* Sum the group's gradients and apply the optimisers of the parameter groups in `groups` (bit
 * g: group g) to this rank's slice; afterwards every rank holds the new parameters. */
static void group_step(shard *sh, MPI_Comm comm, gs_optim *opts, const gs_params *p, unsigned groups) {
  if (sh->P == 1) {
    for (int g = 0; g < p->ngroups; g++)
      if (groups >> g & 1) gs_optim_step(&opts[g], p->data, p->grad);
    return;
  }
  long lo = sh->displs[sh->r], hi = lo + sh->counts[sh->r];
  if (sh->shm) {
    shm_sync(sh); /* every gradient block is complete */
    /* sum the slice of every rank's gradients block by block, in rank order, and update each
     * block while it is in L1: one pass over the memory instead of three */
    enum { BLK = 2048 };
    float g[BLK] __attribute__((aligned(64)));
    for (int k = 0; k < p->ngroups; k++) {
      if (!(groups >> k & 1)) continue;
      gs_optim_begin_step(&opts[k]);
      long a = lo > p->group[k].offset ? lo : p->group[k].offset;
      long z = hi < p->group[k].offset + p->group[k].n ? hi : p->group[k].offset + p->group[k].n;
      for (long b = a; b < z; b += BLK) {
        long e = b + BLK < z ? b + BLK : z;
        memcpy(g, sh->sgrads[0] + b, sizeof(float) * (e - b));
        for (int r = 1; r < sh->P; r++) {
          const float *restrict gr = sh->sgrads[r] + b;
          for (long i = 0; i < e - b; i++) g[i] += gr[i];
        }
        gs_optim_apply(&opts[k], p->data, g, b, e);
      }
    }
    shm_sync(sh); /* every slice is updated before anyone reads the parameters */
    return;
  }
  MPI_Reduce_scatter(p->grad, sh->gbuf, sh->counts, MPI_FLOAT, MPI_SUM, comm);
  for (int k = 0; k < p->ngroups; k++) {
    if (!(groups >> k & 1)) continue;
    long a = lo > p->group[k].offset ? lo : p->group[k].offset;
    long z = hi < p->group[k].offset + p->group[k].n ? hi : p->group[k].offset + p->group[k].n;
    gs_optim_begin_step(&opts[k]);
    if (a < z) gs_optim_apply(&opts[k], p->data, sh->gbuf + (a - lo), a, z);
  }
  MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, p->data, sh->counts, sh->displs, MPI_FLOAT, comm);
}

/* The group's sum for statistics of the global batch (batch norm): MPI_Allreduce in double,
 * which gives every rank the same bits. */
static void group_sum(void *ctx, double *v, int n) {
  MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, *(MPI_Comm *)ctx);
}

/* ------------------------------------------------------------------ optimisers */
/* The optimisers of a model's parameter groups, over one moments block (so that a checkpoint
 * gathers and saves it as one array): the run's train.* settings, unless the model says
 * otherwise for a group. */
typedef struct optimisers {
  int n;
  gs_optim group[GS_MAX_GROUPS];
  gs_optim all;        /* the moments of every group, one block (gathered and saved as one) */
} optimisers;

static void optimisers_fresh(optimisers *o, const gs_config *c, const gs_model_def *def, gs_model *m,
                             const gs_params *p) {
  gs_optim_settings base = {.lr = (float)c->lr, .momentum = (float)c->momentum, .rho = (float)c->rho,
                            .beta1 = (float)c->beta1, .beta2 = (float)c->beta2, .eps = (float)c->eps};
  gs_optim_kind(c->optimizer, &base.kind);
  gs_optim_init(&o->all, base.kind, p->total, base.lr); /* only its moments are used: the groups' settings are theirs */
  o->n = p->ngroups;
  for (int g = 0; g < p->ngroups; g++) {
    gs_optim_settings s = base;
    if (def->optimizer) def->optimizer(m, g, &s);
    const gs_param_group *gr = &p->group[g];
    gs_optim_init_view(&o->group[g], &s, gr->offset, gr->n, o->all.m + gr->offset, o->all.v + gr->offset);
  }
}

static void optimisers_free(optimisers *o) {
  for (int g = 0; g < o->n; g++) gs_optim_free(&o->group[g]);
  gs_optim_free(&o->all);
}

/* ------------------------------------------------------------------ loss sums */
/* An epoch's running loss sums: the total, and for a model with several phases or named parts
 * of its loss each of them (recorded as train_loss_<phase> and train_<name>). */
#define MAX_LOSS_PARTS (GS_MAX_PHASES + GS_MAX_LOSSES)
typedef struct loss_sums {
  double total;
  int n;
  char name[MAX_LOSS_PARTS][48];
  double sum[MAX_LOSS_PARTS];
} loss_sums;

static void loss_add(loss_sums *ls, const char *prefix, const char *name, double v) {
  char full[48];
  if (snprintf(full, sizeof full, "%s%s", prefix, name) >= (int)sizeof full || strcmp(full, "train_loss") == 0) {
    /* a model's programming error: the name would be cut, or take the runner's own series */
    fprintf(stderr, "gensweep: internal error: loss name '%s%s' too long or reserved\n", prefix, name);
    abort();
  }
  int i = 0;
  while (i < ls->n && strcmp(ls->name[i], full) != 0) i++;
  if (i == ls->n) {
    if (ls->n == MAX_LOSS_PARTS) return;
    GS_STRCPY(ls->name[ls->n], full);
    ls->sum[ls->n++] = 0.0;
  }
  ls->sum[i] += v;
}

/* ------------------------------------------------------------------ one iteration */
/* One training iteration on a batch, as the write-ups have it: for each phase, forward and
 * backward through the model (groups outside the phase held fixed), the group's gradients
 * summed, the phase's optimisers applied. The ranks of the group agree on every loss and, with
 * the last phase's, on whether to stop. Returns 1 when a rank asked to stop, 0 to go on, -1
 * when a loss is not finite (*bad = that loss). */
static int train_iteration(const gs_model_def *def, gs_model *m, const gs_batch *batch, const gs_phase *phases,
                           int nphases, shard *sh, MPI_Comm comm, optimisers *opt, gs_params *p, gs_rng *noise,
                           int stop_asked, loss_sums *ls, int windows, double *bad) {
  int stop = 0;
  for (int k = 0; k < nphases; k++) {
    for (int g = 0; g < p->ngroups; g++)
      if (!(phases[k].groups >> g & 1)) gs_params_freeze(p, g, 1);
    gs_losses parts = {0};
    double l = def->train_step(m, batch, k, noise, &parts);
    for (int g = 0; g < p->ngroups; g++)
      if (p->group[g].frozen) gs_params_freeze(p, g, 0);
    /* the group agrees on the losses and on whether to stop (a signal reached some rank) */
    double agree[2 + GS_MAX_LOSSES];
    int na = 0;
    agree[na++] = l;
    for (int i = 0; i < parts.n; i++) agree[na++] = parts.sum[i];
    agree[na++] = k == nphases - 1 && stop_asked ? 1.0 : 0.0;
    if (sh->P > 1) MPI_Allreduce(MPI_IN_PLACE, agree, na, MPI_DOUBLE, MPI_SUM, comm);
    l = agree[0];
    if (!isfinite(l)) {
      *bad = l;
      return -1;
    }
    group_step(sh, comm, opt->group, p, phases[k].groups);
    ls->total += l;
    if (nphases > 1) loss_add(ls, "train_loss_", phases[k].name, l);
    for (int i = 0; i < parts.n; i++) loss_add(ls, "train_", parts.name[i], agree[1 + i]);
    if (windows) { /* the same sums over a window of iterations: series iter_<...> */
      loss_add(ls, "iter_", nphases > 1 ? phases[k].name : "loss", l);
      for (int i = 0; i < parts.n; i++) loss_add(ls, "iter_", parts.name[i], agree[1 + i]);
    }
    stop = agree[na - 1] > 0;
  }
  return stop;
}

/* ------------------------------------------------------------------ a run's state */
/* Everything a run's training changes and a checkpoint restores. */
typedef struct run_state {
  gs_model *m;
  gs_params *p;          /* the model's parameter block */
  optimisers opt;
  int32_t *perm;         /* the training set's order, reshuffled each epoch */
  long nperm;
  gs_rng shuffle, noise;
  long epoch0, step0;    /* training continues with epoch epoch0 at step step0 (1, 0: from the start) */
  loss_sums sums0;       /* the loss sums of those step0 steps */
  double train_s;        /* training time so far */
  long images;           /* training images seen so far */
} run_state;

/* Build the model from the run's seed (purpose INIT), its optimisers, and point the record at
 * its parameters. */
static int build_model(run_state *rs, const gs_run *run, const gs_model_def *def, const gs_dataset *ds,
                       gs_record *rec, gs_error *err) {
  gs_rng init;
  gs_rng_seed(&init, (uint64_t)run->cfg.seed, 0, GS_RNG_INIT);
  rs->m = def->create(&run->cfg, ds, &init, err);
  if (!rs->m) return -1;
  rs->p = def->params(rs->m);
  rec->params = rs->p;
  optimisers_fresh(&rs->opt, &run->cfg, def, rs->m, rs->p);
  return 0;
}

static void drop_model(run_state *rs, const gs_model_def *def) {
  optimisers_free(&rs->opt);
  def->destroy(rs->m);
  rs->m = NULL;
}

/* Every rank of the group calls this (the optimiser's moments are gathered from the shards);
 * the group leader writes. A mid-epoch checkpoint (step > 0) carries the epoch's loss sums. */
static void save_checkpoint(const gs_train_hooks *h, const gs_run *run, const gs_model_def *def, run_state *rs,
                            shard *sh, MPI_Comm comm, gs_record *rec, long epoch, long step, const loss_sums *sums) {
  if (!h->ckpt_path) return;
  gs_optim *moments = &rs->opt.all;
  if (sh->P > 1) {
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, moments->m, sh->counts, sh->displs, MPI_FLOAT, comm);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, moments->v, sh->counts, sh->displs, MPI_FLOAT, comm);
    if (sh->r != 0) return;
  }
  gs_checkpoint ck = {0};
  GS_STRCPY(ck.run_id, run->id);
  ck.config_hash = run->hash;
  ck.epoch = epoch;
  ck.step = step;
  ck.loss_sum = sums ? sums->total : 0.0;
  _Static_assert(MAX_LOSS_PARTS <= GS_CKPT_MAX_LOSS_PARTS, "a checkpoint holds every loss part");
  ck.nloss_parts = sums ? sums->n : 0;
  for (int i = 0; i < ck.nloss_parts; i++) {
    GS_STRCPY(ck.loss_part_name[i], sums->name[i]);
    ck.loss_part_sum[i] = sums->sum[i];
  }
  ck.params = rs->p;
  ck.opt = moments;
  ck.groups = rs->opt.group;
  ck.nrng = 2;
  ck.rng[0] = rs->shuffle;
  ck.rng[1] = rs->noise;
  ck.nperm = rs->nperm;
  ck.perm = rs->perm;
  ck.rec = rec;
  ck.train_seconds = rs->train_s;
  ck.images = rs->images;
  ck.threads = openblas_get_num_threads();
  ck.group_ranks = sh->P;
  gs_state st = {0};
  if (def->state_save) {
    def->state_save(rs->m, &st);
    ck.state = &st;
  }
  gs_error err = {0};
  int wrc = gs_checkpoint_write(h->ckpt_path, &ck, &err);
  gs_state_free(&st);
  if (h->note) h->note(h->ctx, run, wrc != 0 ? "ckpt-failed" : "checkpointed", epoch, step, wrc != 0 ? err.msg : "");
}

/* Resume from the run's checkpoint if it has a good one, else from the previous one (*used_prev
 * = 1), else start from scratch. A read that passed but was refused afterwards (data order,
 * streams, model state) has filled parameters, optimiser and series: the model, the optimisers
 * and the record are built again from the run's seed, so that the next candidate, or "from
 * scratch", starts from what an uninterrupted run has. -1 only when that rebuild fails. */
static int resume(run_state *rs, const gs_run *run, const gs_model_def *def, const gs_dataset *ds, gs_record *rec,
                  const gs_train_hooks *h, const char *prev, int *used_prev, gs_error *err) {
  const char *cand[2] = {h->ckpt_path, prev};
  for (int k = 0; k < 2; k++) {
    if (access(cand[k], F_OK) != 0) continue;
    gs_checkpoint ck = {0};
    GS_STRCPY(ck.run_id, run->id);
    ck.config_hash = run->hash;
    ck.params = rs->p;
    ck.opt = &rs->opt.all;
    ck.groups = rs->opt.group;
    ck.rec = rec;
    gs_state st = {0};
    ck.state = def->state_load ? &st : NULL; /* a model without state refuses a file with some */
    gs_error cerr = {0};
    int read = gs_checkpoint_read(cand[k], &ck, &cerr) == 0, ok = read && ck.nperm == ds->train.n && ck.nrng == 2;
    if (ok && def->state_load && def->state_load(rs->m, &st, &cerr) != 0) {
      ok = 0;
      char why[sizeof cerr.msg];
      GS_STRCPY(why, cerr.msg);
      snprintf(cerr.msg, sizeof cerr.msg, "%.500s: %.500s", cand[k], why);
    }
    gs_state_free(&st);
    /* A resume is bit for bit only with the thread count and group size the checkpoint was
     * written with (both change the order of float sums): another setting is refused, not
     * silently continued, and the checkpoint is kept for a job that uses the right one. */
    int threads = openblas_get_num_threads(), granks = 1;
    if (h->comm != MPI_COMM_NULL) MPI_Comm_size(h->comm, &granks);
    if (ok && ck.threads > 0 && (ck.threads != threads || ck.group_ranks != granks)) {
      gs_fail(err,
              "%s was written with %d OpenBLAS thread%s per rank and %d rank%s per run, this job has %d and %d: "
              "resuming would not give the numbers of an uninterrupted run (both change the order of float "
              "sums). Resume with --threads %d --ranks-per-run %d, or delete the checkpoint to train the run "
              "again from scratch",
              cand[k], ck.threads, ck.threads == 1 ? "" : "s", ck.group_ranks, ck.group_ranks == 1 ? "" : "s", threads,
              granks, ck.threads, ck.group_ranks);
      free(ck.perm);
      /* the record held the checkpoint's series and pointed at the model's parameters: the
       * failed run's file gets neither */
      drop_model(rs, def);
      gs_record_free(rec);
      gs_record_init(rec, run->id, run->cfg.model, run->hash);
      return -1;
    }
    if (ok) {
      memcpy(rs->perm, ck.perm, sizeof(int32_t) * ck.nperm);
      rs->shuffle = ck.rng[0];
      rs->noise = ck.rng[1];
      rs->epoch0 = ck.epoch + 1;
      rs->step0 = ck.step;
      rs->sums0.total = ck.loss_sum;
      rs->sums0.n = 0;
      for (int i = 0; i < ck.nloss_parts && i < MAX_LOSS_PARTS; i++) {
        GS_STRCPY(rs->sums0.name[i], ck.loss_part_name[i]);
        rs->sums0.sum[i] = ck.loss_part_sum[i];
        rs->sums0.n++;
      }
      rs->train_s = ck.train_seconds;
      rs->images = ck.images;
      if (h->note) h->note(h->ctx, run, "resumed", ck.epoch, rs->step0, k ? "from the previous checkpoint" : "");
      *used_prev = k == 1;
      free(ck.perm);
      return 0;
    }
    free(ck.perm);
    if (read) {
      drop_model(rs, def);
      gs_record_free(rec);
      gs_record_init(rec, run->id, run->cfg.model, run->hash);
      if (build_model(rs, run, def, ds, rec, err) != 0) return -1;
    }
    int have_prev = k == 0 && access(prev, F_OK) == 0;
    char msg[1400];
    snprintf(msg, sizeof msg, "checkpoint not used, %s: %s", have_prev ? "trying the previous one" : "starting from scratch",
             cerr.msg[0] ? cerr.msg : "it does not match this run's data");
    if (h->note) h->note(h->ctx, run, "ckpt-rejected", 0, 0, msg);
    else fprintf(stderr, "gensweep: run %s: %s\n", run->id, msg);
  }
  return 0;
}

/* ------------------------------------------------------------------ one run */
static void set_failed(gs_record *rec, const char *status, const char *msg) {
  GS_STRCPY(rec->status, status);
  GS_STRCPY(rec->message, msg);
}

/* The group and the batch rows this rank computes. */
typedef struct group_view {
  shard sh;
  MPI_Comm comm;
  int lo, hi;            /* this rank's rows of every global batch */
  gs_reducer red;        /* sums over the group (red.sum NULL: a group of one) */
} group_view;

/* A run's training plan: batches per epoch, epochs, and for a run trained by iterations (a GAN)
 * where it stops, how often it records its losses and evaluates. */
typedef struct plan {
  long B, nb;            /* batch size, batches per full epoch */
  long epochs;
  long iterations;       /* 0: every epoch is full */
  gs_schedule sched;
} plan;

static long steps_in(const plan *pl, long ep) {
  if (pl->iterations <= 0) return pl->nb;
  long left = pl->iterations - (ep - 1) * pl->nb;
  return left < pl->nb ? left : pl->nb;
}

/* Evaluate (all ranks of the group: evaluation is deterministic, every rank keeps the same
 * record); a model with a schedule gets the iteration noted (series eval_iteration). */
static int run_evaluate(const gs_config *c, const gs_model_def *def, gs_model *m, const gs_dataset *ds, long ep,
                        long iteration, int final, gs_record *rec, MPI_Comm comm, gs_error *err) {
  gs_when when = {.epoch = (int)ep, .iteration = iteration, .final = final};
  if (def->schedule) gs_record_push(rec, "eval_iteration", (double)iteration);
  int rc = def->evaluate(m, ds, &when, rec, err);
  /* probes during training (the last point comes with the final probes, after the epochs) */
  if (rc == 0 && !final)
    rc = gs_run_probes_during(c, def, m, ds, rec, comm, def->schedule ? iteration : ep, err);
  return rc;
}

/* The losses of the last sched.log_every iterations as one point of the series iter_<name>:
 * their running sums are loss_sums entries named "iter_..." (so a checkpoint keeps a partial
 * window), emptied here. */
static void log_window(loss_sums *ls, const plan *pl, long iteration, gs_record *rec) {
  gs_record_push(rec, "iteration", (double)iteration);
  double n = (double)pl->sched.log_every * (double)pl->B;
  for (int i = 0; i < ls->n; i++) {
    if (strncmp(ls->name[i], "iter_", 5) != 0) continue;
    gs_record_push(rec, ls->name[i], ls->sum[i] / n);
    ls->sum[i] = 0.0;
  }
}

/* The window sums of ls (entries iter_...), the only sums an epoch hands on to the next. */
static loss_sums window_sums(const loss_sums *ls) {
  loss_sums w = {0};
  for (int i = 0; i < ls->n; i++)
    if (strncmp(ls->name[i], "iter_", 5) == 0) loss_add(&w, "", ls->name[i], ls->sum[i]);
  return w;
}

/* One epoch's batches, from step rs->step0 when the run resumed in this epoch: shuffle, then
 * one iteration per batch (fewer in the last epoch of a run trained by iterations); *dt is its
 * training time (also added to rs->train_s). Returns 0 (the epoch is done; *stop = 1 if a stop
 * was requested at its last step), 1 (stopped mid-epoch by a request: checkpointed here), -1 (a
 * loss went non-finite, or a mid-epoch evaluation failed: err, *diverged). */
static int train_epoch(run_state *rs, long ep, const gs_run *run, const gs_model_def *def, const gs_dataset *ds,
                       gs_record *rec, const gs_train_hooks *h, group_view *gv, const gs_phase *phases, int nphases,
                       const plan *pl, loss_sums *ls, int *stop, double *dt, gs_error *err) {
  double t0 = gs_now(), t_eval = 0.0;
  const long B = pl->B, nb = steps_in(pl, ep);
  long s_begin = ep == rs->epoch0 ? rs->step0 : 0;
  if (s_begin == 0) gs_rng_shuffle(&rs->shuffle, rs->perm, ds->train.n);
  long s;
  for (s = s_begin; s < nb; s++) {
    gs_batch batch = {&ds->train, rs->perm + s * B, (int)B, gv->lo, gv->hi, gv->red.sum ? &gv->red : NULL};
    double bad = 0;
    int rc = train_iteration(def, rs->m, &batch, phases, nphases, &gv->sh, gv->comm, &rs->opt, rs->p, &rs->noise,
                             h->stop && *h->stop, ls, pl->sched.log_every > 0, &bad);
    long it = (ep - 1) * pl->nb + s + 1;
    if (rc < 0) {
      gs_fail(err, "loss became %s at iteration %ld (epoch %ld, step %ld; lower the learning rate?)",
              isnan(bad) ? "NaN" : "infinite", it, ep, s + 1);
      return -1;
    }
    if (pl->sched.log_every > 0 && it % pl->sched.log_every == 0) log_window(ls, pl, it, rec);
    int last = pl->iterations > 0 && it == pl->iterations;
    if (pl->sched.eval_every > 0 && it % pl->sched.eval_every == 0 && !last) {
      double te = gs_now();
      int erc = run_evaluate(&run->cfg, def, rs->m, ds, ep, it, 0, rec, gv->comm, err);
      t_eval += gs_now() - te;
      if (erc != 0) return -1;
    }
    if (h->poll) h->poll(h->ctx);
    if (rc == 1) {
      *stop = 1;
      s++;
      break;
    }
  }
  *dt = gs_now() - t0 - t_eval;
  rs->train_s += *dt;
  if (*stop && s < nb) { /* interrupted mid-epoch: checkpoint the exact position */
    rs->images += (s - s_begin) * B;
    save_checkpoint(h, run, def, rs, &gv->sh, gv->comm, rec, ep - 1, s, ls);
    return 1;
  }
  rs->images += (nb - s_begin) * B;
  return 0;
}

gs_model *gs_train_run(const gs_run *run, const gs_dataset *ds, gs_record *rec, const gs_train_hooks *h,
                       const gs_model_def **def_out) {
  const gs_config *c = &run->cfg;
  double t_start = gs_now();
  gs_record_init(rec, run->id, c->model, run->hash);
  gs_error err = {0};
  const gs_model_def *def = h->model ? h->model : gs_model_find(c->model);
  *def_out = def;
  if (!def) {
    snprintf(err.msg, sizeof err.msg, "unknown model '%s'", c->model);
    set_failed(rec, "failed", err.msg);
    return NULL;
  }
  gs_sample_shape shape = gs_imageset_shape(&ds->train);
  if (gs_data_check(&shape, &def->data, def->name, &err) != 0) {
    set_failed(rec, "failed", err.msg);
    return NULL;
  }
  const long B = c->batch_size, nb = ds->train.n / B;
  if (nb < 1) {
    snprintf(err.msg, sizeof err.msg, "train.batch_size = %ld is larger than the training set (%ld images)", B,
             ds->train.n);
    set_failed(rec, "failed", err.msg);
    return NULL;
  }

  /* the run's state from its seed: model, optimisers, data order, random streams */
  run_state rs;
  memset(&rs, 0, sizeof rs);
  rs.epoch0 = 1;
  gs_rng_seed(&rs.shuffle, (uint64_t)c->seed, 0, GS_RNG_SHUFFLE);
  gs_rng_seed(&rs.noise, (uint64_t)c->seed, 0, GS_RNG_NOISE);
  rs.nperm = ds->train.n;
  rs.perm = gs_malloc(sizeof(int32_t) * ds->train.n);
  for (long i = 0; i < ds->train.n; i++) rs.perm[i] = (int32_t)i;
  if (build_model(&rs, run, def, ds, rec, &err) != 0) {
    free(rs.perm);
    set_failed(rec, "failed", err.msg);
    return NULL;
  }

  /* or from its checkpoint */
  char prev[4200] = "";
  int used_prev = 0;
  if (h->ckpt_path) {
    gs_checkpoint_prev_path(h->ckpt_path, prev, sizeof prev);
    if (resume(&rs, run, def, ds, rec, h, prev, &used_prev, &err) != 0) {
      free(rs.perm);
      set_failed(rec, "failed", err.msg);
      return NULL;
    }
  }
  group_view gv = {.comm = h->comm};
  /* every rank of the group must continue from the same place, or they would part silently */
  if (gv.comm != MPI_COMM_NULL) {
    long where[2] = {rs.epoch0 * 1000000 + rs.step0, -(rs.epoch0 * 1000000 + rs.step0)};
    MPI_Allreduce(MPI_IN_PLACE, where, 2, MPI_LONG, MPI_MAX, gv.comm);
    if (where[0] != -where[1]) {
      fprintf(stderr, "gensweep: run %s: the ranks of its group read different checkpoints from %s (or %s); "
              "stopping the job (delete both to restart the run from scratch)\n", run->id, h->ckpt_path, prev);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }
  /* Resumed from the previous checkpoint: the damaged latest one goes (once every rank of the
   * group has read), so that the next checkpoint does not rotate it over the good previous one. */
  if (used_prev && !h->probe_members) {
    int grank = 0;
    if (gv.comm != MPI_COMM_NULL) MPI_Comm_rank(gv.comm, &grank);
    if (grank == 0) unlink(h->ckpt_path);
  }
  /* the group: after the resume, so that every rank reads the checkpoint into its own block */
  shard_init(&gv.sh, gv.comm, rs.p);
  if (gv.sh.P > 1) gv.red = (gs_reducer){.sum = group_sum, .ctx = &gv.comm};
  gv.lo = (int)((long)gv.sh.r * B / gv.sh.P);
  gv.hi = (int)((long)(gv.sh.r + 1) * B / gv.sh.P);

  gs_phase phases[GS_MAX_PHASES] = {{.name = "train", .groups = (1u << rs.p->ngroups) - 1}};
  int nphases = def->phases ? def->phases(rs.m, phases) : 1;

  /* the epochs: train, record, let the model change stage, evaluate, checkpoint */
  plan pl = {.B = B, .nb = nb};
  if (def->schedule) def->schedule(c, &pl.sched);
  pl.iterations = pl.sched.iterations;
  pl.epochs = pl.iterations > 0 ? (pl.iterations + nb - 1) / nb : def->epochs ? def->epochs(c) : c->epochs;
  const long E = pl.epochs;
  int failed = 0;
  if (h->probe_members) {
    /* helping another group's probe stage: the trained model is this run's last checkpoint */
    int ok = E > 0 && rs.epoch0 > E;
    MPI_Comm pc = gs_probe_join(h->probe_parent, h->probe_members, ok, run->index % 30000 + 1);
    if (h->probe_joined) *h->probe_joined = 1;
    if (pc != MPI_COMM_NULL) {
      if (gs_run_probes(&run->cfg, def, rs.m, ds, rec, pc, &err) != 0)
        fprintf(stderr, "gensweep: helping with the probes of run %s: %s\n", run->id, err.msg);
      MPI_Comm_free(&pc);
    }
    set_failed(rec, "helped", "");
    free(rs.perm);
    shard_free(&gv.sh, rs.p);
    optimisers_free(&rs.opt);
    return rs.m;
  }
  /* Sent to a rung its checkpoint has already reached (a job stopped after the pause was written
   * but before the scheduler heard of it): paused again at once, its series as they are. */
  if (h->until > 0 && rs.epoch0 - 1 >= h->until && rs.epoch0 <= E) {
    char msg[128];
    snprintf(msg, sizeof msg, "paused after epoch %ld of %ld (early stopping: its rung; already reached)", rs.epoch0 - 1, E);
    set_failed(rec, "paused", msg);
    failed = 1;
  }
  loss_sums carry = {0}; /* a window of iterations may span epochs: its sums go on */
  for (long ep = rs.epoch0; ep <= E && !failed; ep++) {
    long s_begin = ep == rs.epoch0 ? rs.step0 : 0, steps = steps_in(&pl, ep);
    loss_sums ls = ep == rs.epoch0 ? rs.sums0 : carry;
    int stop = 0;
    double dt = 0;
    int rc = train_epoch(&rs, ep, run, def, ds, rec, h, &gv, phases, nphases, &pl, &ls, &stop, &dt, &err);
    if (rc < 0) {
      set_failed(rec, "diverged", err.msg);
      failed = 1;
      break;
    }
    if (rc == 1) {
      set_failed(rec, "interrupted", "stopped by a signal; checkpointed");
      failed = 1;
      break;
    }
    carry = window_sums(&ls);
    double loss = ls.total / (double)(steps * B), images_per_s = (double)((steps - s_begin) * B) / dt;
    gs_record_push(rec, "epoch", (double)ep);
    gs_record_push(rec, "train_loss", loss);
    gs_record_push(rec, "epoch_seconds", dt);
    gs_record_push(rec, "train_images_per_s", images_per_s);
    for (int i = 0; i < ls.n; i++)
      if (strncmp(ls.name[i], "iter_", 5) != 0) gs_record_push(rec, ls.name[i], ls.sum[i] / (double)(steps * B));
    int last = ep == E;
    if (def->end_epoch && def->end_epoch(rs.m, ds, (int)ep, rec, &err) != 0) {
      set_failed(rec, "diverged", err.msg);
      failed = 1;
      break;
    }
    long it = (ep - 1) * nb + steps;
    /* Training is over: a checkpoint before the final evaluation and the probes (minutes on a
     * full data set), so that a run killed there resumes here rather than training again. A
     * checkpoint of the last epoch always means "evaluation pending" (the others are written
     * after their epoch's evaluation): the resume below evaluates. */
    if (last && c->checkpoint_every > 0)
      save_checkpoint(h, run, def, &rs, &gv.sh, gv.comm, rec, ep, 0, carry.n ? &carry : NULL);
    /* a scheduled run stops at its rung: evaluated there (the metric it is ranked by), checkpointed
     * so that a promotion continues it bit for bit */
    int pause = !last && h->until > 0 && ep >= h->until;
    int eval_now = last || pause || (pl.sched.eval_every > 0 ? 0 : ep % c->eval_every == 0);
    if (eval_now && run_evaluate(&run->cfg, def, rs.m, ds, ep, it, last, rec, gv.comm, &err) != 0) {
      set_failed(rec, "diverged", err.msg);
      failed = 1;
      break;
    }
    const gs_series *te = gs_record_find_series(rec, def->headline);
    if (h->epoch) h->epoch(h->ctx, run, ep, E, loss, te && te->n ? te->v[te->n - 1] : NAN, dt, images_per_s);
    if (!last && (stop || pause || (c->checkpoint_every > 0 && ep % c->checkpoint_every == 0)))
      save_checkpoint(h, run, def, &rs, &gv.sh, gv.comm, rec, ep, 0, carry.n ? &carry : NULL);
    if (pause) {
      char msg[128];
      snprintf(msg, sizeof msg, "paused after epoch %ld of %ld (early stopping: its rung)", ep, E);
      set_failed(rec, "paused", msg);
      failed = 1;
    } else if (stop && !last) {
      set_failed(rec, "interrupted", "stopped by a signal; checkpointed");
      failed = 1;
    }
  }
  /* resumed from the checkpoint of the last epoch: trained, the final evaluation pending */
  if (!failed && E > 0 && rs.epoch0 > E &&
      run_evaluate(&run->cfg, def, rs.m, ds, E, (E - 1) * nb + steps_in(&pl, E), 1, rec, gv.comm, &err) != 0) {
    set_failed(rec, "diverged", err.msg);
    failed = 1;
  }
  /* a model that trains nothing (pixels) still gets its final evaluation */
  if (!failed && E == 0 && run_evaluate(&run->cfg, def, rs.m, ds, 0, 0, 1, rec, gv.comm, &err) != 0) {
    set_failed(rec, "failed", err.msg);
    failed = 1;
  }
  /* the probe stage, with the job's idle groups when the coordinator has some (they load the
   * trained model from the last epoch's checkpoint) */
  MPI_Comm probe_comm = MPI_COMM_NULL;
  if (!failed && h->probe_comm && E > 0 && c->checkpoint_every > 0 && h->ckpt_path && gs_run_wants_probes(c))
    probe_comm = h->probe_comm(h->ctx, run, gv.comm);
  if (!failed) rec->message[0] = '\0'; /* a done run's message: what its probes skipped, if anything */
  if (!failed && gs_run_probes(&run->cfg, def, rs.m, ds, rec, probe_comm != MPI_COMM_NULL ? probe_comm : gv.comm,
                               &err) != 0) {
    set_failed(rec, "failed", err.msg);
    failed = 1;
  }
  if (probe_comm != MPI_COMM_NULL) MPI_Comm_free(&probe_comm);
  if (!failed) GS_STRCPY(rec->status, "done");
  gs_record_scalar(rec, "train_seconds", rs.train_s);
  /* how it was computed: both decide the rounding of its numbers (a resume must match them) */
  gs_record_scalar(rec, "openblas_threads", openblas_get_num_threads());
  gs_record_scalar(rec, "group_ranks", gv.sh.P);
  if (rs.train_s > 0) gs_record_scalar(rec, "train_images_per_s", rs.images / rs.train_s);
  const gs_series *tl = gs_record_find_series(rec, "train_loss");
  if (tl && tl->n) gs_record_scalar(rec, "train_loss", tl->v[tl->n - 1]);
  rec->seconds = gs_now() - t_start;
  free(rs.perm);
  shard_free(&gv.sh, rs.p);
  optimisers_free(&rs.opt);
  return rs.m; /* the caller writes the run file (rec->params points into m), then destroys m */
}
