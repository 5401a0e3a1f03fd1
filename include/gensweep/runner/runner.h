/* Running a sweep: expand, skip finished runs, train the rest, write run files, PNGs, sweep.h5. */
#ifndef GENSWEEP_RUNNER_H
#define GENSWEEP_RUNNER_H
#include <mpi.h>
#include <stdio.h>

#include "gensweep/config/config.h"
#include "gensweep/data/data.h"
#include "gensweep/io/record.h"

typedef struct gs_run_options {
  const char *results;   /* overrides sweep.results when not NULL */
  int threads;           /* OpenBLAS threads per rank; 0 = from the experiment file */
  int ranks_per_run;     /* worker group size; 0 = from the experiment file (train.ranks_per_run) */
  int quiet;             /* only the summary */
  double progress_every; /* without a terminal: a progress line every N s (default 60) */
  FILE *log;             /* progress output (stdout) */
  int shard, nshards;    /* --shard i/n: only shard i's runs (gs_shard_owners); nshards 0 = all */
} gs_run_options;

/* 1 when f is a terminal someone watches (a live status line), 0 for a file or pipe; under
 * mpirun, whose ranks always get a pseudo-terminal, it asks where mpirun's own output goes. */
int gs_is_terminal(FILE *f);

/* Parse "i/n" (0 <= i < n, 1 <= n <= 100000) of --shard. Returns 0, or -1 with a message. */
int gs_parse_shard(const char *s, int *shard, int *nshards, gs_error *err);
/* Estimated relative cost of a run (its model's estimate; 0 when unknown). */
double gs_run_cost(const gs_run *run);
/* The shard (0..nshards-1) of every run of the grid, as a gs_malloc'd array of sw->nruns (free
 * it). Runs are split by estimated cost, longest first to the least loaded shard, so shards of a
 * job array take about the same time even when the grid mixes cheap and costly runs. Depends only
 * on the experiment file and the models' cost estimates, never on the queue order or what is
 * already done: the shards of a job array split the grid exactly, each run in one shard. */
int *gs_shard_owners(const gs_sweep *sw, int nshards);

typedef struct gs_sweep_outcome {
  long done, skipped, failed;
  long interrupted;      /* runs checkpointed on a stop request (plus 1 when runs were left unstarted) */
  long busy;             /* runs skipped because another process held their lock */
  long stopped;          /* runs the early-stopping scheduler ended before their last epoch */
  int config_error;      /* the sweep stopped on a setting it cannot run with (sweep.metric that no
                            run records): exit 2 */
  char dir[1024];        /* results/<sweep> */
} gs_sweep_outcome;

/* Directory of a sweep's results: <results>/<sweep name>. */
void gs_sweep_dir(const gs_sweep *sw, const char *results_override, char *dir, size_t n);

/* How a run talks to the rest of the job while it trains. */
typedef struct gs_train_hooks {
  MPI_Comm comm;                /* the worker group (data-parallel); MPI_COMM_NULL = alone */
  void (*poll)(void *ctx);      /* after every step: the coordinator's duties on rank 0 */
  void (*epoch)(void *ctx, const gs_run *run, long epoch, long epochs, double train_loss, double test_metric,
                double seconds, double images_per_s);
  void *ctx;
  /* events: "resumed", "ckpt-rejected", "checkpointed", "ckpt-failed" (group leader) */
  void (*note)(void *ctx, const gs_run *run, const char *event, long epoch, long step, const char *msg);
  const char *ckpt_path;        /* the run's checkpoint file; NULL: no checkpoints, no resume */
  volatile int *stop;           /* set by a signal handler: checkpoint at the next step and return */
  const struct gs_model_def *model; /* train this model instead of the registry's model.name (tests) */
  long until;                   /* > 0: stop after this epoch (early stopping's rung): evaluate,
                                   checkpoint, status "paused"; 0 (or >= the run's epochs): train on */
  /* Job-level probe farming (runner/probes.h, gs_probe_join). probe_comm: called by every rank of
   * the group when the run reaches its probe stage with its last epoch checkpointed; returns a
   * larger communicator (idle groups helping) or MPI_COMM_NULL. probe_members: this call only
   * helps: the trained model is loaded from ckpt_path (the run's last checkpoint, which is not
   * changed), the group joins the members' communicator, fits its share of the probes and
   * returns (status "helped", nothing to write); *probe_joined is set once it has joined (a
   * caller whose call returned earlier must still join, with ok = 0). */
  MPI_Comm (*probe_comm)(void *ctx, const gs_run *run, MPI_Comm group);
  const int *probe_members;
  MPI_Comm probe_parent;        /* with probe_members: gs_probe_join's parent communicator */
  int *probe_joined;
} gs_train_hooks;

/* Train one run and fill rec: status "done", "failed", "diverged", "interrupted" (checkpointed
 * after a stop request; no run file should be written) or "paused" (at h->until) with a message. With a checkpoint path,
 * a good checkpoint is resumed from (bit-identical continuation), one is written every
 * train.checkpoint_every epochs and on a stop request. Every rank of
 * the group calls it; each computes its share of every batch, gradients are summed over the group.
 * rec->params points into the returned model: write the run file, then def->destroy(model).
 * NULL when the model could not be built. */
struct gs_model;
struct gs_model_def;
struct gs_model *gs_train_run(const gs_run *run, const gs_dataset *ds, gs_record *rec, const gs_train_hooks *h,
                              const struct gs_model_def **def);

/* Run the sweep: collective over MPI_COMM_WORLD (a singleton is a one-rank world). Returns 0 on
 * every rank when the sweep could be processed (some runs may have failed: see outcome, valid on
 * every rank), -1 on every rank when it could not start (err says why, on every rank). */
int gs_sweep_run(const gs_sweep *sw, const gs_run_options *opt, gs_sweep_outcome *out, gs_error *err);

/* Set by the signal handlers of `gensweep run` (SIGINT, SIGTERM, SIGUSR1): groups checkpoint at
 * their next step, no new runs start, the job exits; the next start resumes. */
extern volatile int gs_stop_requested;

/* Load the copy of the experiment file a sweep keeps in its results directory (DIR/experiment.ini). */
int gs_sweep_load_copy(const char *dir, gs_sweep *sw, gs_error *err);

/* Early stopping (sweep.scheduler, runner/scheduler.h): 1 when the sweep has a scheduler. */
int gs_sweep_has_scheduler(const gs_sweep *sw);
/* The sweep's scheduler with its settings checked against the runs (one length for every run:
 * the last rung; a metric) and every decision in DIR's ledger replayed. -1 with err naming the
 * key or the ledger line that does not fit.
 *
 * shard: -1 for a job that is the sweep's only scheduler: every run the ledger says was training
 * is handed out again. Shard i of a sharded job hands out again only the runs its own lines sent
 * (start and promote lines carry "shard i/n" in their note: gs_sweep_sched_tag; a line without
 * one counts as shard 0's); the others' runs are training in their jobs (gs_sched_follow). */
#include "gensweep/io/ledger.h"
#include "gensweep/runner/scheduler.h"
typedef struct gs_sweep_sched {
  gs_sched *s;
  long E;              /* the last rung: the runs' epochs */
  char metric[64];     /* the series the runs are ranked by */
  long replayed;       /* ledger lines replayed */
  gs_ledger_cursor cur; /* how far the ledger was read */
  int shard;
  int *sent_by;        /* [nruns] the shard that sent each run last (its start or promote line) */
} gs_sweep_sched;
int gs_sweep_sched_open(const gs_sweep *sw, const char *dir, int shard, gs_sweep_sched *out, gs_error *err);
/* The scheduler lines other jobs (shards) appended since the last open or follow, applied as
 * theirs (gs_sched_follow, remote); returns how many, or -1 with err naming the line. */
long gs_sweep_sched_follow(gs_sweep_sched *ss, const char *dir, gs_error *err);
/* The shard a start or promote line names in its note ("shard 2/3": 2), -1 if none. */
int gs_sweep_sched_tag(const char *line);
void gs_sweep_sched_close(gs_sweep_sched *s);
/* The rungs as a table: epochs, runs reached, training, promoted, stopped, waiting, the best. */
void gs_sweep_sched_print(const gs_sweep *sw, const gs_sweep_sched *s, FILE *out);

/* Data-set cache: the last loaded set is kept while the data keys stay the same. */
const gs_dataset *gs_dataset_cached(const gs_config *cfg, gs_error *err);
void gs_dataset_cache_clear(void);

#endif
