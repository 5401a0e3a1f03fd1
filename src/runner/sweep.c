/* A sweep as one MPI job.
 *
 * Rank 0 is the coordinator AND a worker: coordinating is a few messages per run, so it serves
 * them between its own training steps (gs_poll) instead of costing a core. The ranks form worker
 * groups of ranks_per_run consecutive ranks; each group trains one run at a time, data-parallel.
 * Group leaders ask rank 0 for work (costliest run first), report per-epoch progress, write the
 * run's files, and report completion with their next request. Rank 0 keeps the books: skip
 * checks, progress lines, sweep.h5. */
#include <errno.h>
#include <hdf5.h>
#include <malloc.h>
#include <fcntl.h>
#include <sys/file.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gensweep/core/atomic.h"
#include "gensweep/io/checkpoint.h"
#include "gensweep/io/ledger.h"
#include "gensweep/models/model.h"
#include "gensweep/io/png.h"
#include "gensweep/runner/eta.h"
#include "gensweep/runner/probes.h"
#include "gensweep/runner/runner.h"
#include "gensweep/runner/scheduler.h"
#include "sweepdir.h"

enum { TAG_REQ = 101, TAG_ASSIGN = 102, TAG_PROGRESS = 103, TAG_NOTE = 104, TAG_PROBE_REQ = 105, TAG_HELP = 106 };
/* how a group's run ended, sent with its next request */
enum { END_FILE = 0, END_INTERRUPTED = 1, END_WRITE_FAILED = 2, END_BUSY = 3, END_DONE_ELSEWHERE = 4 };

volatile int gs_stop_requested;


/* ------------------------------------------------------------------ coordinator (rank 0) */
typedef struct coord {
  const gs_sweep *sw;
  const gs_run_options *opt;
  FILE *log;
  char dir[1024];
  int *queue;            /* run indices to do, costliest first */
  int *owner;            /* --shard: the shard of every run (gs_shard_owners); NULL = all ours */
  long nqueue, next;     /* next to hand out */
  int *started_as;       /* run index -> 1-based start number, for "[k/n]" */
  long ntotal;           /* runs of this job: the whole grid, or this shard's share */
  long nstarted;
  int active;            /* groups (other than rank 0's) not yet told to stop */
  int nleaders;
  gs_sweep_outcome *out;
  double t_sweep, t_index;
  gs_ledger ledger;
  int have_ledger;
  int stopping;          /* a stop was requested: hand out no more runs */
  int dir_gone;          /* the results directory was removed while the sweep ran: stopping */
  /* progress display */
  int ranks_per_group;   /* source rank / ranks_per_group = group */
  struct gstate { int run; double loss; } *groups; /* the run each group trains (-1: none), its last loss */
  /* what the ETA (runner/eta.h) knows of every run of the queue, by queue position; a running
   * run's epochs and times there are also what the status line shows of it. epoch0: the epoch
   * this job started the run at (a resumed run's checkpoint; after a mid-epoch checkpoint, the
   * end of that partial epoch, which is partial while epoch < epoch0) */
  gs_eta_run *eta;
  int tty;               /* stdout is a terminal: a live status line; else a plain line every N s */
  int status_shown;
  double t_status, status_every;
  double *cost;          /* gs_run_cost of every run (index in the grid) */
  /* early stopping (sweep.scheduler = sha | asha): the scheduler decides what a free group trains
   * and how far; every decision is a "sched" line of the ledger, replayed by the next job */
  gs_sched *sched;
  long sched_E;          /* the last rung: the runs' epochs */
  char metric[64];       /* the series runs are ranked by */
  int sched_lock;        /* DIR/scheduler.lock, held for the job: exclusive, one scheduler per
                            sweep; shared by the shards of a sharded job */
  gs_sweep_sched ss;     /* the scheduler with its ledger cursor (shards follow the others' lines) */
  int shared;            /* --shard under a scheduler: the shards share one scheduler */
  int turn_lock;         /* shared: DIR/scheduler.turn, held while deciding (one shard at a time) */
  double t_follow;       /* shared: when the others' lines were last read for the waiting groups */
  double t_wait_note;    /* shared: when the runs other shards train were last listed */
  int wait_cached;       /* shared: the last decision was "wait" and nothing was reported here since:
                            asked again within 0.25 s of the last reading, it still is (no lock) */
  long *sent_to;         /* [nruns] the epoch each running run was sent to */
  int *waiting;          /* [nleaders] the group asked for work while the scheduler said wait */
  long *stops, nstops;   /* stopped runs whose files still say "paused": rewritten when rank 0 is
                            free (after the groups have their answers) */
  int sched_error;       /* the runs do not record sweep.metric: stopping, exit 2 */
  double sched_s;        /* seconds spent deciding (the scheduler and its ledger lines) */
  long sched_calls;      /* decisions asked for and results reported */
  /* probe farming (runner/probes.h, gs_probe_join): a group with no run left waits (parked:
   * waiting[g], rank 0's own self_parked) while others train; a group whose run reaches its probe
   * stage gets the parked groups as helpers */
  int can_help;          /* some run has probes and checkpoints, and there are 2+ groups */
  int self_parked;       /* rank 0's group is parked */
  int self_help;         /* rank 0's group is to help with the probes of this run (-1: none) */
  int *self_members;     /* [world size + 1] its members list (gs_probe_join) */
  int world;             /* MPI_COMM_WORLD's size */
} coord;

/* Before printing a line on a terminal, clear the live status line (it is redrawn after). */
static void coord_line(coord *c) {
  if (c->tty && c->status_shown) {
    fputs("\r\033[K", c->log);
    c->status_shown = 0;
  }
}

static void fmt_duration(double s, char *buf, size_t n) {
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
  else snprintf(buf, n, "%lds", t);
}

/* The ETA entry of run idx: runs are handed out in queue order, so the k-th started is at queue
 * position k - 1. */
static gs_eta_run *eta_of(coord *c, int idx) { return &c->eta[c->started_as[idx] - 1]; }

/* runs done/running/failed/total, elapsed, ETA, and per group its run, epoch and loss */
static void coord_status(coord *c, int force) {
  double now = gs_now();
  if (!force && now - c->t_status < c->status_every) return;
  c->t_status = now;
  long running = 0;
  for (int g = 0; g < c->nleaders; g++) running += c->groups[g].run >= 0;
  long total = c->ntotal, finished = c->out->done + c->out->failed + c->out->skipped;
  char el[32], eta[32] = "?";
  fmt_duration(now - c->t_sweep, el, sizeof el);
  /* the groups are the slots: each trains one run at a time */
  /* (under early stopping how far each run goes is not known in advance: no estimate) */
  double e = c->sched ? -1 : gs_eta_estimate(c->eta, c->nqueue, c->nleaders, now, NULL);
  if (e >= 0) fmt_duration(e, eta, sizeof eta);
  char line[2048];
  int o = snprintf(line, sizeof line, "runs %ld done, %ld running, %ld failed, %ld skipped", c->out->done, running,
                   c->out->failed, c->out->skipped);
  if (c->sched) o += snprintf(line + o, sizeof line - o, ", %ld stopped early", c->out->stopped);
  o += snprintf(line + o, sizeof line - o, " / %ld | %s elapsed, ETA %s", total, el, eta);
  (void)finished;
  for (int g = 0; g < c->nleaders && o < (int)sizeof line - 80; g++) {
    const struct gstate *gs = &c->groups[g];
    if (gs->run < 0) continue;
    const gs_eta_run *r = eta_of(c, gs->run);
    char loss[32] = "-"; /* none yet before the first epoch */
    if (isfinite(gs->loss)) snprintf(loss, sizeof loss, c->tty ? "%.1f" : "%.2f", gs->loss);
    o += snprintf(line + o, sizeof line - o, c->tty ? " | g%d %.24s ep %ld/%ld %s" : "\n  group %d: %s epoch %ld/%ld loss %s",
                  g, c->sw->runs[gs->run].id, r->epoch, r->epochs, loss);
  }
  if (c->tty) {
    /* one line, cut to the terminal's usual width */
    if (strlen(line) > 200) line[200] = 0;
    fprintf(c->log, "\r\033[K%s", line);
    c->status_shown = 1;
  } else {
    fprintf(c->log, "progress: %s\n", line);
  }
  fflush(c->log);
}

static coord *the_coord;
/* probe farming's parent communicator (gs_probe_join): a duplicate of the world, so that what
 * MPI_Comm_create_group sends on it is never taken by coord_poll */
static MPI_Comm probe_world = MPI_COMM_NULL;

/* Is this stream a terminal a person watches? mpirun gives every rank a pseudo-terminal for its
 * stdout even when mpirun's own output goes to a file or a pipe (`mpirun ... > sweep.log`), so
 * under Open MPI the answer is what mpirun (the parent) writes to: a /dev/pts or /dev/tty. */
int gs_is_terminal(FILE *f) {
  if (!isatty(fileno(f))) return 0;
  if (!getenv("OMPI_COMM_WORLD_SIZE")) return 1;
  char path[64], target[256];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)getppid(), fileno(f) == 2 ? 2 : 1);
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n <= 0) return 0; /* cannot tell (a remote orted): plain lines are safe in a log and readable on a terminal */
  target[n] = 0;
  return strncmp(target, "/dev/pts/", 9) == 0 || strncmp(target, "/dev/tty", 8) == 0;
}

static int cost_cmp_desc(const void *a, const void *b) {
  const double *x = a, *y = b; /* pairs (cost, index) */
  if (x[0] != y[0]) return x[0] < y[0] ? 1 : -1;
  return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void coord_tag(coord *c, int idx, char *tag, size_t n) {
  snprintf(tag, n, "[%d/%ld] %s", c->started_as[idx], c->nqueue, c->sw->runs[idx].id);
}

/* One ledger line. A ledger that cannot be written is reported once and the sweep goes on: the
 * run files are the results; the ledger is the log that status and resume read. */
/* Shards share the scheduler through the ledger: a shard that cannot write its decisions there
 * would decide alone, so it stops (the others go on; its runs continue when it is started again). */
static void sched_ledger_lost(coord *c) {
  if (!c->shared || c->sched_error) return;
  coord_line(c);
  fprintf(c->log, "error: shard %d/%d cannot write its early-stopping decisions to the ledger, which the shards "
          "share them through: no more runs start here\n", c->opt->shard, c->opt->nshards);
  fflush(c->log);
  c->sched_error = 2;
  c->stopping = 1;
}

static void coord_log(coord *c, const char *state, int idx, long epoch, const char *msg) {
  if (!c->have_ledger) return;
  const gs_run *run = &c->sw->runs[idx];
  gs_error e = {0};
  int before = c->ledger.recreated;
  if (gs_ledger_append(&c->ledger, state, run->id, run->hash, epoch, msg ? msg : "", &e) != 0) {
    fprintf(c->log, "warning: %s (ledger writing stopped)\n", e.msg);
    c->have_ledger = 0;
    sched_ledger_lost(c);
  } else if (c->ledger.recreated != before) {
    fprintf(c->log, "warning: %s was removed while the sweep ran: created again (its earlier lines are lost; "
                    "`gensweep status` also counts runs from their run files)\n", c->ledger.path);
  }
}

static int sched_next(coord *c, int group, int *until);

/* The next run for a group: its index (and *until, the epoch to stop after: 0 = its last), -1
 * when there is no more work for it, -2 when it must wait (early stopping: for a result; else
 * parked, for another group's probe stage), -3 (rank 0's group only) when it is to help with the
 * probes of run *until. */
static int coord_park(coord *c, int group);

static int coord_next(coord *c, int group, int *until) {
  c->groups[group].run = -1;
  *until = 0;
  if (group == 0 && c->self_help >= 0) { /* rank 0's parked group was asked to help (coord_helpers) */
    *until = c->self_help;
    c->self_help = -1;
    return -3;
  }
  if (group == 0) c->self_parked = 0; /* parked again below if it still has nothing */
  if (!c->stopping && gs_stop_requested) {
    c->stopping = 1;
    coord_line(c);
    fprintf(c->log, "stop requested: no new runs; running runs checkpoint at their next step\n");
    fflush(c->log);
  }
  if (c->stopping) return -1;
  if (c->sched) return sched_next(c, group, until);
  if (c->next >= c->nqueue) return coord_park(c, group);
  int idx = c->queue[c->next++];
  c->started_as[idx] = (int)++c->nstarted;
  coord_log(c, "started", idx, 0, NULL);
  c->groups[group].run = idx;
  c->groups[group].loss = NAN;
  gs_eta_run *r = eta_of(c, idx);
  r->state = GS_RUN_RUNNING;
  r->epoch = r->epoch0 = 0;
  r->t0 = r->t_epoch = gs_now();
  return idx;
}

/* No run left for this group: while another group still trains (its probe stage may want help),
 * it is parked (-2); else it is done (-1). */
static int coord_park(coord *c, int group) {
  if (!c->can_help || c->stopping) return -1;
  for (int g = 0; g < c->nleaders; g++)
    if (g != group && c->groups[g].run >= 0) {
      if (group == 0) c->self_parked = 1;
      return -2;
    }
  if (group == 0) c->self_parked = 0;
  return -1;
}

/* Group g's run idx reaches its probe stage: the parked groups become its helpers. mem: the
 * members list of gs_probe_join ([0] = 0: no helpers). A remote helper gets (-3, idx) and the
 * list; rank 0's group finds them in self_help / self_members. */
static void coord_helpers(coord *c, int g, int idx, int *mem) {
  int rpg = c->ranks_per_group, n = 0, nh = 0;
  int *helpers = gs_malloc(sizeof(int) * (size_t)c->nleaders);
  for (int r = 0; r < rpg; r++) mem[1 + n++] = g * rpg + r;
  for (int h = 0; h < c->nleaders && c->can_help && !c->stopping && !gs_stop_requested; h++) {
    if (h == g || !(h == 0 ? c->self_parked : c->waiting[h])) continue;
    for (int r = 0; r < rpg; r++) mem[1 + n++] = h * rpg + r;
    helpers[nh++] = h;
  }
  mem[0] = nh ? n : 0;
  /* (the run's group says how it went once they have joined: probe_comm_hook) */
  for (int i = 0; i < nh; i++) {
    int h = helpers[i];
    if (h == 0) {
      c->self_parked = 0;
      c->self_help = idx;
      memcpy(c->self_members, mem, sizeof(int) * (size_t)(c->world + 1));
    } else {
      c->waiting[h] = 0;
      int asg[2] = {-3, idx};
      MPI_Send(asg, 2, MPI_INT, h * rpg, TAG_ASSIGN, MPI_COMM_WORLD);
      MPI_Send(mem, c->world + 1, MPI_INT, h * rpg, TAG_HELP, MPI_COMM_WORLD);
    }
  }
  free(helpers);
}

static void coord_index(coord *c, int force) {
  double now = gs_now();
  if (!force && now - c->t_index < 5.0) return; /* sweep.h5 reads every run file: not after every run */
  gs_error e = {0};
  if (gs_sweepfile_write(c->dir, c->sw, &e) != 0) fprintf(c->log, "warning: %s\n", e.msg);
  c->t_index = gs_now();
}

/* The run's file is there, of this run's parameters, and final (done, or diverged, which is
 * deterministic): nothing left to train. */
static int finished_on_disk(const char *path, const gs_run *run) {
  if (access(path, F_OK) != 0) return 0;
  gs_run_summary s;
  gs_error e = {0};
  if (gs_runfile_read_summary(path, &s, &e) != 0 || s.config_hash != run->hash) return 0;
  return strcmp(s.status, "done") == 0 || strcmp(s.status, "diverged") == 0;
}

static void sched_reported(coord *c, int idx, int how, double metric, int has_metric, const char *status);
static void coord_finished_file(coord *c, int idx, int how, char *status);

/* a run has ended: its leader wrote the run file (or checkpointed it on a stop request); metric:
 * under early stopping, the value of the scheduler's metric where it stopped (has_metric: the run
 * records that series at all) */
static void coord_finished(coord *c, int idx, int how, double metric, int has_metric) {
  if (c->sched) {
    char status[16] = "";
    coord_finished_file(c, idx, how, status);
    sched_reported(c, idx, how, metric, has_metric, status);
    return;
  }
  coord_finished_file(c, idx, how, NULL);
}

/* The run's end, from its run file: counts, messages, the ledger. status (may be NULL): the run
 * file's status, "" when there is none. */
static void coord_finished_file(coord *c, int idx, int how, char *status) {
  const gs_run *run = &c->sw->runs[idx];
  char path[1400], tag[300];
  sweepdir_run_path(c->dir, run, path, sizeof path);
  coord_tag(c, idx, tag, sizeof tag);
  coord_line(c);
  gs_eta_run *r = eta_of(c, idx);
  r->state = GS_RUN_FAILED; /* for the ETA, unless done below: not left for this job, nothing timed */
  if (how == END_BUSY && c->shared) { /* sched_reported leaves it to that process */
    fprintf(c->log, "%s: another process is training it right now (its lock is held): its result will come "
            "through the ledger\n", tag);
    coord_log(c, "busy", idx, -1, "locked by another process");
    fflush(c->log);
    return;
  }
  if (how == END_BUSY) {
    c->out->busy++;
    fprintf(c->log, "%s: skipped: another process is training it right now (its lock is held)\n", tag);
    coord_log(c, "busy", idx, -1, "locked by another process");
    fflush(c->log);
    return;
  }
  if (how == END_DONE_ELSEWHERE) {
    r->state = GS_RUN_DONE;
    c->out->skipped++;
    fprintf(c->log, "%s: finished by another job meanwhile, skipped\n", tag);
    coord_log(c, "done", idx, gs_model_epochs(&run->cfg), "finished by another job (run file)");
    fflush(c->log);
    return;
  }
  if (how == END_INTERRUPTED) {
    r->state = GS_RUN_INTERRUPTED; /* left for the sweep: the next start resumes it */
    c->out->interrupted++;
    fprintf(c->log, "%s: interrupted, checkpointed: the next start resumes it\n", tag);
    coord_log(c, "interrupted", idx, -1, "stopped by a signal; checkpointed");
    fflush(c->log);
    return;
  }
  gs_run_summary s;
  gs_error e = {0};
  struct stat dst;
  if (!c->dir_gone && stat(c->dir, &dst) != 0) {
    /* every later run would fail the same way, one message each: stop at the first */
    c->dir_gone = c->stopping = 1;
    fprintf(c->log, "error: the results directory %s was removed while the sweep ran: no more runs are started; "
                    "runs in progress end without results\n", c->dir);
  }
  if (c->dir_gone) {
    c->out->failed++;
    fflush(c->log);
    return;
  }
  if (gs_runfile_read_summary(path, &s, &e) != 0) {
    fprintf(c->log, "%s: failed: no readable run file (%s)\n", tag, e.msg);
    coord_log(c, "failed", idx, -1, e.msg);
    c->out->failed++;
    fflush(c->log);
    return;
  }
  if (status) gs_strlcpy(status, s.status, 16);
  if (strcmp(s.status, "paused") == 0) {
    /* early stopping: trained to its rung, checkpointed; the scheduler says what comes next */
    r->state = GS_RUN_INTERRUPTED;
    coord_log(c, "paused", idx, c->sent_to ? c->sent_to[idx] : -1, s.message);
  } else if (strcmp(s.status, "done") == 0) {
    c->out->done++;
    /* the time this job took for epochs epoch0..epochs; untimed when it began with a partial
     * epoch that was never reported (its start is not an epoch's) */
    r->state = GS_RUN_DONE;
    r->busy = r->epoch < r->epoch0 ? -1 : gs_now() - r->t0;
    fprintf(c->log, "%s: done in %.1f s", tag, s.seconds);
    const gs_model_def *def = gs_model_find(run->cfg.model);
    for (const gs_metric_label *ml = def ? def->done_metrics : NULL; ml && ml->metric; ml++)
      for (int i = 0; i < s.nscalars; i++)
        if (!strcmp(s.scalars[i].name, ml->metric)) fprintf(c->log, ", %s %.2f", ml->label, s.scalars[i].v);
    if (s.message[0]) fprintf(c->log, " (%s)", s.message); /* e.g. the probes it skipped */
    fprintf(c->log, "\n");
    coord_log(c, "done", idx, gs_model_epochs(&run->cfg), s.message[0] ? s.message : NULL);
  } else {
    c->out->failed++;
    fprintf(c->log, "%s: %s: %s\n", tag, s.status, s.message);
    coord_log(c, strcmp(s.status, "diverged") == 0 ? "diverged" : "failed", idx, -1, s.message);
  }
  fflush(c->log);
  coord_index(c, 0);
}

static void coord_note(coord *c, int idx, const char *event, long epoch, long step, const char *msg) {
  char tag[300];
  coord_tag(c, idx, tag, sizeof tag);
  if (strcmp(event, "checkpointed") != 0) coord_line(c);
  if (!strcmp(event, "checkpointed")) {
    coord_log(c, "checkpointed", idx, epoch, NULL);
  } else if (!strcmp(event, "resumed")) {
    fprintf(c->log, "%s: resumed from its %scheckpoint (epoch %ld done%s)\n", tag,
            msg && strstr(msg, "previous") ? "previous " : "", epoch, step ? ", mid-epoch" : "");
    gs_eta_run *r = eta_of(c, idx);
    r->epoch = epoch;
    r->epoch0 = epoch + (step ? 1 : 0); /* a partial epoch does not tell the pace */
    r->t0 = r->t_epoch = gs_now();
    coord_log(c, "resumed", idx, epoch, msg && msg[0] ? msg : NULL);
  } else {
    fprintf(c->log, "%s: %s: %s\n", tag, event, msg);
    coord_log(c, event, idx, epoch, msg);
  }
  fflush(c->log);
}

static void coord_progress(coord *c, int group, int idx, long ep, long epochs, double loss, double test, double dt,
                           double ips) {
  struct gstate *g = &c->groups[group];
  g->run = idx;
  g->loss = loss;
  gs_eta_run *r = eta_of(c, idx);
  int partial = r->epoch < r->epoch0;
  r->epoch = ep;
  r->epochs = epochs;
  r->t_epoch = gs_now();
  if (partial && ep >= r->epoch0) r->t0 = r->t_epoch; /* the resume's partial epoch is over: pace from here */
  if (c->opt->quiet) return;
  coord_line(c);
  char tag[300];
  coord_tag(c, idx, tag, sizeof tag);
  fprintf(c->log, "%s epoch %ld/%ld  train %.2f", tag, ep, epochs, loss);
  if (isfinite(test)) fprintf(c->log, "  test %.2f", test);
  fprintf(c->log, "  (%.1f s, %.0f img/s)\n", dt, ips);
  fflush(c->log);
}

/* ------------------------------------------------------------------ early stopping (rank 0)
 *
 * With sweep.scheduler = sha | asha the scheduler (runner/scheduler.h) replaces the queue: a free
 * group gets the run and the epoch it decides (a run starts at rung 0, or continues from its
 * checkpoint to the next rung), or waits (sha: a rung not complete yet). A run that reaches its
 * rung is evaluated, checkpointed and paused (run file status "paused"); its metric goes to the
 * scheduler, whose decisions (start, promote, report, stop) are written to the ledger as "sched"
 * notes before anything acts on them. The next job replays those lines and so makes the same
 * decisions; runs that were training when a job died are sent again, to the same rung. A stopped
 * run's file says "stopped" and why; its checkpoint is kept, so a later promotion (or the same
 * sweep with scheduler = none) continues it. */

static void sched_write_events(coord *c);
static void sched_release(coord *c);
static int sched_setup_locked(coord *c, gs_error *err);

static int sched_turn_begin(coord *c);
static void sched_turn_end(coord *c);

/* Shards: what the groups wait for, after a minute without a decision here (a shard that is gone
 * for good holds its runs until it is started again). */
static void sched_wait_note(coord *c) {
  c->t_wait_note = gs_now();
  char list[600] = "";
  long n = 0;
  size_t o = 0;
  /* a run this shard sent that another process had taken (a copy of this shard still running when
   * it started again): when nobody holds its lock any more, it is this shard's to send again */
  for (long i = 0; i < c->sw->nruns; i++) {
    if (!gs_sched_is_remote(c->sched, i) || c->ss.sent_by[i] != c->opt->shard) continue;
    int fd = sweepdir_lock_run(c->dir, &c->sw->runs[i]);
    if (fd < 0) continue; /* held; or no locks on this file system: cannot tell */
    close(fd);
    gs_sched_adopt(c->sched, i);
    c->wait_cached = 0;
    coord_line(c);
    fprintf(c->log, "%s: sent by this shard, trained by another process that is gone now: sent again\n",
            c->sw->runs[i].id);
  }
  for (long i = 0; i < c->sw->nruns; i++)
    if (gs_sched_is_remote(c->sched, i)) {
      if (n++ < 6 && o < sizeof list - 220)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", c->sw->runs[i].id);
    }
  if (!n) return;
  coord_line(c);
  fprintf(c->log, "shard %d/%d: waiting for %ld run%s other shards train (%s%s); a shard that was stopped must be "
          "started again (the same --shard) for them to go on\n", c->opt->shard, c->opt->nshards, n,
          n == 1 ? "" : "s", list, n > 6 ? ", ..." : "");
  fflush(c->log);
}

static int sched_next(coord *c, int group, int *until) {
  double t0 = gs_now();
  gs_sched_action a;
  if (c->shared && c->wait_cached && gs_now() - c->t_follow < 0.25) return -2;
  if (sched_turn_begin(c) != 0) return -1;
  gs_sched_action_kind k = gs_sched_next(c->sched, &a);
  c->wait_cached = k == GS_SCHED_WAIT;
  if (k == GS_SCHED_WAIT || k == GS_SCHED_DONE) {
    sched_turn_end(c);
    if (k == GS_SCHED_WAIT && c->shared && gs_now() - c->t_wait_note > 60) sched_wait_note(c);
    return k == GS_SCHED_WAIT ? -2 : -1;
  }
  c->t_wait_note = gs_now();
  if (c->have_ledger) gs_ledger_hold(&c->ledger);
  sched_write_events(c);
  int idx = (int)a.run;
  c->sent_to[idx] = a.resource;
  *until = a.resource >= c->sched_E ? 0 : (int)a.resource;
  if (!c->started_as[idx]) c->started_as[idx] = (int)++c->nstarted;
  char msg[160];
  snprintf(msg, sizeof msg, "rung %d: epochs %ld to %ld%s", a.rung, a.from_resource + 1, a.resource,
           a.resent ? " (sent again: its group stopped with the last job)" : "");
  coord_log(c, "started", idx, a.from_resource, msg);
  sched_release(c);
  sched_turn_end(c);
  if (c->shared && !c->have_ledger) return -1; /* not recorded: the other shards cannot know it */
  c->sched_s += gs_now() - t0;
  c->sched_calls++;
  if (a.rung > 0 && !c->opt->quiet) {
    char tag[300];
    coord_tag(c, idx, tag, sizeof tag);
    coord_line(c);
    fprintf(c->log, "%s: promoted to rung %d: trains epochs %ld-%ld\n", tag, a.rung, a.from_resource + 1, a.resource);
    fflush(c->log);
  }
  c->groups[group].run = idx;
  c->groups[group].loss = NAN;
  gs_eta_run *r = eta_of(c, idx);
  r->state = GS_RUN_RUNNING;
  r->epoch = r->epoch0 = a.from_resource;
  r->t0 = r->t_epoch = gs_now();
  return idx;
}

/* A stopped run's file says so and why (a run file that says done, finished by an earlier job,
 * stays done). */
static void sched_mark_stopped(coord *c, long run) {
  const gs_run *r = &c->sw->runs[run];
  char why[400], path[1400];
  gs_sched_describe(c->sched, run, why, sizeof why);
  sweepdir_run_path(c->dir, r, path, sizeof path);
  gs_run_summary s;
  gs_error e = {0};
  /* under the run's lock: a shard starting up may mark the same stop (another process holding
   * the lock is doing it) */
  int fd = sweepdir_lock_run(c->dir, r);
  if (fd == -1) return;
  if (gs_runfile_read_summary(path, &s, &e) == 0 && strcmp(s.status, "paused") == 0 &&
      gs_runfile_set_status(path, "stopped", why, &e) != 0)
    fprintf(c->log, "warning: %s: %s\n", r->id, e.msg);
  if (fd >= 0) {
    char lk[1400];
    sweepdir_ckpt_file(c->dir, r, "lock", lk, sizeof lk);
    unlink(lk); /* (as after a run file is written) */
    close(fd);
  }
}

/* The scheduler's new events into the ledger, in order; a stop also queued for its run file
 * (sched_flush_stops). */
static void sched_write_events(coord *c) {
  gs_sched_event ev;
  while (gs_sched_take(c->sched, &ev)) {
    char line[GS_SCHED_LINE_MAX + 32];
    int n = gs_sched_format(c->sched, &ev, line, GS_SCHED_LINE_MAX);
    /* a shard's sends carry its number: when it starts again it sends them again, the others not */
    if (c->shared && n > 0 && (ev.kind == GS_SCHED_EV_START || ev.kind == GS_SCHED_EV_PROMOTE)) {
      snprintf(line + n, sizeof line - (size_t)n, "\tshard %d/%d", c->opt->shard, c->opt->nshards);
      c->ss.sent_by[ev.run] = c->opt->shard;
    }
    coord_log(c, "sched", (int)ev.run, ev.resource, line);
    if (ev.kind != GS_SCHED_EV_STOP) continue;
    const gs_run *run = &c->sw->runs[ev.run];
    char why[400], tag[300];
    gs_sched_describe(c->sched, ev.run, why, sizeof why);
    c->stops[c->nstops++] = ev.run; /* (each run stops once) */
    c->out->stopped++;
    coord_log(c, "stopped", (int)ev.run, ev.resource, why);
    if (!c->opt->quiet) {
      coord_tag(c, (int)ev.run, tag, sizeof tag);
      coord_line(c);
      fprintf(c->log, "%s: %s\n", c->started_as[ev.run] ? tag : run->id, why);
    }
  }
  fflush(c->log);
}

/* The run files of the stops decided so far say "stopped" (a file rewrite each: done when the
 * groups waiting for an answer have it, so that it does not delay them). */
static void sched_flush_stops(coord *c) {
  for (long i = 0; i < c->nstops; i++) sched_mark_stopped(c, c->stops[i]);
  c->nstops = 0;
}

/* The ledger lines held since gs_ledger_hold, in one write and one fsync. */
static void sched_release(coord *c) {
  gs_error e = {0};
  if (c->have_ledger && gs_ledger_release(&c->ledger, &e) != 0) {
    fprintf(c->log, "warning: %s (ledger writing stopped)\n", e.msg);
    c->have_ledger = 0;
    sched_ledger_lost(c);
  }
}

/* The metric of a run file at an epoch: the series' value at that epoch when it has one value per
 * epoch, else its last value; NaN without the series. */
static double sched_metric_in_file(const coord *c, const char *path, long epoch) {
  gs_record rec;
  gs_error e = {0};
  double v = NAN;
  if (gs_runfile_read(path, &rec, NULL, &e) != 0) return NAN;
  const gs_series *m = gs_record_find_series(&rec, c->metric), *ep = gs_record_find_series(&rec, "epoch");
  if (m && m->n) v = m->v[m->n - 1];
  if (m && ep && m->n == ep->n)
    for (int i = 0; i < ep->n; i++)
      if ((long)ep->v[i] == epoch) v = m->v[i];
  gs_record_free(&rec);
  return v;
}

/* Give the groups that wait for work what the scheduler now has for them. */
static void sched_serve_waiting(coord *c) {
  for (int g = 1; g < c->nleaders; g++) {
    if (!c->waiting[g]) continue;
    int asg[2];
    asg[0] = coord_next(c, g, &asg[1]);
    if (asg[0] == -2) continue;
    c->waiting[g] = 0;
    if (asg[0] < 0) c->active--;
    MPI_Send(asg, 2, MPI_INT, g * c->ranks_per_group, TAG_ASSIGN, MPI_COMM_WORLD);
  }
}

/* A run sent by the scheduler has ended: tell the scheduler where it got (unless it was
 * interrupted: the next job sends it again). A run that failed or diverged counts as the worst. */
static void sched_reported(coord *c, int idx, int how, double metric, int has_metric, const char *status) {
  const gs_run *run = &c->sw->runs[idx];
  long resource = c->sent_to[idx];
  if (how == END_INTERRUPTED) return;
  if (how == END_BUSY && c->shared) {
    /* another process trains it: a shard that sent it and was thought gone, or a second copy of
     * this shard. Its result comes through the ledger */
    gs_sched_disown(c->sched, idx);
    return;
  }
  if (how == END_FILE && !has_metric && (!strcmp(status, "paused") || !strcmp(status, "done"))) {
    /* a metric no run records: every decision would be by run index. The sweep stops (the run
     * stays sent: the next job, with a metric that exists, continues it from its checkpoint) */
    if (!c->sched_error) {
      char path[1400];
      sweepdir_run_path(c->dir, run, path, sizeof path);
      coord_line(c);
      fprintf(c->log, "error: sweep.metric = %s: run %s records no such per-epoch series (its series: `h5ls %s/metrics`); "
              "set sweep.metric to one of them. No more runs start; the runs in progress end at their rung\n",
              c->metric, run->id, path);
      fflush(c->log);
    }
    c->sched_error = c->stopping = 1;
    return;
  }
  if (how == END_DONE_ELSEWHERE) {
    char path[1400];
    sweepdir_run_path(c->dir, run, path, sizeof path);
    gs_run_summary s;
    gs_error e0 = {0};
    int done = gs_runfile_read_summary(path, &s, &e0) == 0 && strcmp(s.status, "done") == 0;
    metric = done ? sched_metric_in_file(c, path, resource) : NAN;
    status = done ? "done" : "diverged";
  } else if (strcmp(status, "paused") != 0 && strcmp(status, "done") != 0) {
    metric = NAN;
  }
  if (!isfinite(metric) && (!strcmp(status, "paused") || !strcmp(status, "done")))
    fprintf(c->log, "warning: %s: no value of sweep.metric = %s at epoch %ld: ranked last\n", run->id, c->metric,
            resource);
  if (!strcmp(status, "paused") && !c->opt->quiet) {
    char tag[300];
    coord_tag(c, idx, tag, sizeof tag);
    coord_line(c);
    fprintf(c->log, "%s: reached epoch %ld, %s %.6g\n", tag, resource, c->metric, metric);
  }
  gs_error e = {0};
  double t0 = gs_now();
  if (sched_turn_begin(c) != 0) return;
  c->wait_cached = 0;
  if (c->have_ledger) gs_ledger_hold(&c->ledger);
  if (gs_sched_report(c->sched, idx, resource, metric, &e) != 0)
    fprintf(c->log, "warning: %s: scheduler: %s\n", run->id, e.msg);
  sched_write_events(c);
  sched_release(c);
  sched_turn_end(c);
  c->sched_s += gs_now() - t0;
  c->sched_calls++;
  sched_serve_waiting(c);
}

static void sched_free(coord *c) {
  free(c->stops);
  c->stops = NULL;
  gs_sweep_sched_close(&c->ss);
  c->sched = NULL;
  if (c->sched_lock > 0) close(c->sched_lock);
  c->sched_lock = 0;
  if (c->turn_lock > 0) close(c->turn_lock);
  c->turn_lock = 0;
  free(c->sent_to);
  free(c->waiting);
  free(c->self_members);
  c->self_members = NULL;
  c->sent_to = NULL;
  c->waiting = NULL;
}

/* Shards share one scheduler: one of them decides at a time (DIR/scheduler.turn), on the state
 * that every shard's ledger lines give, and writes its decision's lines before the next one
 * decides; so the ledger stays the history of one scheduler (runner/scheduler.h, Shards). */
static int sched_turn_begin(coord *c) {
  if (!c->shared) return 0;
  if (c->sched_error) return -1;
  gs_error e = {0};
  while (flock(c->turn_lock, LOCK_EX) != 0)
    if (errno != EINTR) {
      gs_fail(&e, "%s/scheduler.turn: cannot lock: %s (the shards take turns through it)", c->dir, strerror(errno));
      goto fail;
    }
  if (gs_sweep_sched_follow(&c->ss, c->dir, &e) < 0) {
    flock(c->turn_lock, LOCK_UN);
    goto fail;
  }
  c->t_follow = gs_now();
  return 0;
fail:
  coord_line(c);
  fprintf(c->log, "error: %s. No more runs start in this shard\n", e.msg);
  fflush(c->log);
  c->sched_error = 2;
  c->stopping = 1;
  return -1;
}

static void sched_turn_end(coord *c) {
  if (c->shared) flock(c->turn_lock, LOCK_UN);
}

/* A stop whose decision was written but not (yet) its run file's new status or its run's
 * "stopped" line (a job killed in between). Outside the turn (shards): each file under its run's
 * lock. */
static void sched_repair_stops(coord *c) {
  const gs_sweep *sw = c->sw;
  gs_ledger_view view;
  gs_error verr = {0};
  int have_view = gs_ledger_read(c->dir, &view, &verr) == 0;
  for (long i = 0; i < sw->nruns; i++) {
    gs_sched_run_info ri;
    if (gs_sched_run_info_get(c->sched, i, &ri) != 0 || ri.state != GS_SCHED_RUN_STOPPED) continue;
    sched_mark_stopped(c, i);
    if (have_view && gs_ledger_run_state(&view, sw->runs[i].id, sw->runs[i].hash, NULL, NULL) != GS_RUN_DONE) {
      char why[400];
      gs_sched_describe(c->sched, i, why, sizeof why);
      coord_log(c, "stopped", (int)i, ri.resource, why);
    }
  }
  if (have_view) gs_ledger_view_free(&view);
}

/* Rank 0, at set-up: the scheduler of this sweep, its earlier decisions replayed from the
 * ledger. */
static int sched_setup(coord *c, gs_error *err) {
  c->shared = c->opt->nshards > 1;
  c->t_wait_note = gs_now();
  /* one scheduler per sweep directory: a second job on it would decide on its own; the shards
   * of one job share it */
  char lk[1200];
  snprintf(lk, sizeof lk, "%s/scheduler.lock", c->dir);
  c->sched_lock = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (c->sched_lock < 0 || flock(c->sched_lock, (c->shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    int e = errno, busy = c->sched_lock >= 0 && e == EWOULDBLOCK;
    if (c->sched_lock >= 0) close(c->sched_lock);
    c->sched_lock = 0;
    if (busy && c->shared)
      return gs_fail(err, "%s: a job that is not a shard is running this sweep's scheduler (its lock %s is held): "
                     "wait for it to end, or stop it first; shards can only share the scheduler with each other",
                     c->dir, lk);
    if (busy)
      return gs_fail(err, "%s: another job is running this sweep's scheduler (its lock %s is held): wait for it to "
                     "end, or stop it first; two schedulers would make different decisions (shards of one job, "
                     "--shard i/n, share one)", c->dir, lk);
    return gs_fail(err, "%s: cannot open: %s", lk, strerror(e));
  }
  if (c->shared) {
    snprintf(lk, sizeof lk, "%s/scheduler.turn", c->dir);
    c->turn_lock = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (c->turn_lock < 0) return gs_fail(err, "%s: cannot open: %s", lk, strerror(errno));
    while (flock(c->turn_lock, LOCK_EX) != 0)
      if (errno != EINTR) return gs_fail(err, "%s: cannot lock: %s", lk, strerror(errno));
  }
  int rc = sched_setup_locked(c, err);
  if (c->shared) flock(c->turn_lock, LOCK_UN);
  if (rc == 0) sched_repair_stops(c);
  return rc;
}

static int sched_setup_locked(coord *c, gs_error *err) {
  const gs_sweep *sw = c->sw;
  const gs_config *b = &sw->base;
  if (gs_sweep_sched_open(sw, c->dir, c->shared ? c->opt->shard : -1, &c->ss, err) != 0) return -1;
  gs_sweep_sched ss = c->ss;
  c->sched = ss.s;
  c->sched_E = ss.E;
  GS_STRCPY(c->metric, ss.metric);
  long rungs[GS_SCHED_MAX_RUNGS];
  int K = gs_sched_rungs(gs_sched_resource(c->sched, 0), c->sched_E, b->sched_reduction, rungs, GS_SCHED_MAX_RUNGS);
  char rs[256];
  int o = 0;
  for (int k = 0; k < K && k < GS_SCHED_MAX_RUNGS && o < (int)sizeof rs - 16; k++)
    o += snprintf(rs + o, sizeof rs - o, "%s%ld", k ? " " : "", rungs[k]);
  fprintf(c->log, "early stopping: %s on %s (%s), eta %ld, rungs at epochs %s\n", b->scheduler, c->metric,
          b->sched_mode, b->sched_reduction, rs);
  if (ss.replayed) fprintf(c->log, "early stopping: %ld earlier decisions replayed from the ledger\n", ss.replayed);
  sched_write_events(c); /* the stops a killed job had not written yet */
  return 0;
}

/* serve every pending message from the other group leaders */
static void coord_poll(void) {
  coord *c = the_coord;
  if (!c) return;
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (!flag) {
      /* a stop request releases the groups that wait for the scheduler */
      if (c->sched && (c->stopping || gs_stop_requested)) sched_serve_waiting(c);
      /* parked groups: done once no group trains (or a stop was requested) */
      if (!c->sched && c->can_help) sched_serve_waiting(c);
      /* shards: a result that ends a wait may come from another shard, through the ledger */
      if (c->shared && gs_now() - c->t_follow > 0.25) sched_serve_waiting(c);
      if (c->sched && c->nstops) sched_flush_stops(c);
      coord_status(c, 0);
      return;
    }
    if (st.MPI_TAG == TAG_REQ) {
      double fin[4]; /* the run the group finished (-1: none), how, its metric, whether it has one */
      MPI_Recv(fin, 4, MPI_DOUBLE, st.MPI_SOURCE, TAG_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      int g = st.MPI_SOURCE / c->ranks_per_group;
      if (fin[0] >= 0) coord_finished(c, (int)fin[0], (int)fin[1], fin[2], fin[3] != 0);
      int asg[2];
      asg[0] = coord_next(c, g, &asg[1]);
      if (asg[0] == -2) { /* the scheduler waits for a result: answered when one comes */
        c->waiting[g] = 1;
        continue;
      }
      if (asg[0] < 0) c->active--;
      MPI_Send(asg, 2, MPI_INT, st.MPI_SOURCE, TAG_ASSIGN, MPI_COMM_WORLD);
    } else if (st.MPI_TAG == TAG_PROBE_REQ) {
      int idx;
      MPI_Recv(&idx, 1, MPI_INT, st.MPI_SOURCE, TAG_PROBE_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      int *mem = gs_calloc((size_t)c->world + 1, sizeof(int));
      coord_helpers(c, st.MPI_SOURCE / c->ranks_per_group, idx, mem);
      MPI_Send(mem, c->world + 1, MPI_INT, st.MPI_SOURCE, TAG_HELP, MPI_COMM_WORLD);
      free(mem);
    } else if (st.MPI_TAG == TAG_NOTE) {
      char buf[1024];
      MPI_Recv(buf, sizeof buf, MPI_CHAR, st.MPI_SOURCE, TAG_NOTE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      long hdr[3];
      memcpy(hdr, buf, sizeof hdr);
      const char *event = buf + sizeof hdr;
      coord_note(c, (int)hdr[0], event, hdr[1], hdr[2], event + strlen(event) + 1);
    } else if (st.MPI_TAG == TAG_PROGRESS) {
      double v[7];
      MPI_Recv(v, 7, MPI_DOUBLE, st.MPI_SOURCE, TAG_PROGRESS, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      coord_progress(c, st.MPI_SOURCE / c->ranks_per_group, (int)v[0], (long)v[1], (long)v[2], v[3], v[4], v[5], v[6]);
    } else {
      /* unknown: drain it so it cannot block the loop */
      int n;
      MPI_Get_count(&st, MPI_BYTE, &n);
      char *b = gs_malloc(n);
      MPI_Recv(b, n, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      free(b);
    }
  }
}

static void poll_hook(void) { coord_poll(); }
static void poll_ctx(void *ctx) { coord_poll(); }

static void epoch_local(void *ctx, const gs_run *run, long ep, long epochs, double loss, double test, double dt,
                        double ips) {
  coord_progress(the_coord, 0, run->index, ep, epochs, loss, test, dt, ips);
}

static void epoch_remote(void *ctx, const gs_run *run, long ep, long epochs, double loss, double test, double dt,
                         double ips) {
  double v[7] = {run->index, ep, epochs, loss, test, dt, ips};
  MPI_Send(v, 7, MPI_DOUBLE, 0, TAG_PROGRESS, MPI_COMM_WORLD);
}

static void note_local(void *ctx, const gs_run *run, const char *event, long epoch, long step, const char *msg) {
  coord_note(the_coord, run->index, event, epoch, step, msg);
}

static void note_remote(void *ctx, const gs_run *run, const char *event, long epoch, long step, const char *msg) {
  char buf[1024] = {0};
  long hdr[3] = {run->index, epoch, step};
  memcpy(buf, hdr, sizeof hdr);
  size_t off = sizeof hdr;
  size_t ne = strlen(event), nm = strlen(msg);
  if (ne > 64) ne = 64;
  if (nm > sizeof buf - off - ne - 3) nm = sizeof buf - off - ne - 3;
  memcpy(buf + off, event, ne);
  memcpy(buf + off + ne + 1, msg, nm);
  MPI_Send(buf, sizeof buf, MPI_CHAR, 0, TAG_NOTE, MPI_COMM_WORLD);
}

/* Every rank of a group whose run reaches its probe stage: the coordinator's helpers joined into
 * one communicator (MPI_COMM_NULL: none). */
static MPI_Comm probe_comm_hook(void *ctx, const gs_run *run, MPI_Comm group) {
  int N, R, grank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &N);
  MPI_Comm_rank(MPI_COMM_WORLD, &R);
  if (group != MPI_COMM_NULL) MPI_Comm_rank(group, &grank);
  int *mem = gs_calloc((size_t)N + 1, sizeof(int));
  if (grank == 0 && R == 0) {
    coord_helpers(the_coord, 0, run->index, mem);
  } else if (grank == 0) {
    int q = run->index;
    MPI_Send(&q, 1, MPI_INT, 0, TAG_PROBE_REQ, MPI_COMM_WORLD);
    MPI_Recv(mem, N + 1, MPI_INT, 0, TAG_HELP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  if (group != MPI_COMM_NULL) MPI_Bcast(mem, N + 1, MPI_INT, 0, group);
  MPI_Comm big = gs_probe_join(probe_world, mem, 1, run->index % 30000 + 1);
  if (grank == 0 && mem[0] > 0) { /* what came of it, in the job's log and the ledger */
    int gsize = 1, bsize = 0;
    if (group != MPI_COMM_NULL) MPI_Comm_size(group, &gsize);
    if (big != MPI_COMM_NULL) MPI_Comm_size(big, &bsize);
    int nh = (mem[0] - gsize) / gsize;
    char msg[200];
    if (big != MPI_COMM_NULL)
      snprintf(msg, sizeof msg, "fitted by %d ranks (%d idle group%s helping)", bsize, nh, nh == 1 ? "" : "s");
    else
      snprintf(msg, sizeof msg, "fitted by the run's group alone: %d idle group%s could not load its model (their "
               "messages say why)", nh, nh == 1 ? "" : "s");
    if (R == 0) note_local(NULL, run, "probes", -1, 0, msg);
    else note_remote(NULL, run, "probes", -1, 0, msg);
  }
  free(mem);
  return big;
}

/* Every rank of a helper group: load run idx's trained model from its last checkpoint, join the
 * members' communicator and fit its share of that run's probes (gs_train_run with probe_members).
 * Whatever fails, it joins (with ok = 0), or the run's group would wait for it. */
static void probe_help(const gs_sweep *sw, const char *dir, int idx, const int *mem, MPI_Comm group, int R) {
  const gs_run *run = &sw->runs[idx];
  char ckpt[1400];
  sweepdir_ckpt_file(dir, run, "h5", ckpt, sizeof ckpt);
  gs_error derr = {0};
  const gs_dataset *ds = gs_dataset_cached(&run->cfg, &derr);
  int joined = 0;
  if (ds) {
    gs_record rec;
    const gs_model_def *def = NULL;
    gs_train_hooks h = {.comm = group, .ckpt_path = ckpt, .stop = &gs_stop_requested, .probe_members = mem,
                        .probe_parent = probe_world, .probe_joined = &joined};
    gs_model *m = gs_train_run(run, ds, &rec, &h, &def);
    if (m) def->destroy(m);
    gs_record_free(&rec);
  }
  if (!joined) {
    fprintf(stderr, "gensweep: rank %d: cannot help with the probes of run %s%s%s\n", R, run->id, ds ? "" : ": ",
            ds ? "" : derr.msg);
    MPI_Comm pc = gs_probe_join(probe_world, mem, 0, idx % 30000 + 1);
    if (pc != MPI_COMM_NULL) MPI_Comm_free(&pc);
  }
}

/* Set-up on rank 0: directories, disk check, the data of the first run, and the queue. */
static int coord_setup(coord *c, gs_error *err) {
  const gs_sweep *sw = c->sw;
  char sub[1100];
  /* A new sweep: its data is checked before anything is created, so that a wrong data path
   * leaves no results directory and ledger behind (an existing sweep's runs may all be done:
   * its data is checked below, only when some run is left to train). */
  if (access(c->dir, F_OK) != 0 && sw->nruns > 0) {
    const gs_run *first = &sw->runs[0];
    if (!gs_dataset_cached(&first->cfg, err)) {
      char msg[sizeof err->msg];
      GS_STRCPY(msg, err->msg);
      gs_fail(err, "run %s: %s (nothing was created)", first->id, msg);
      return -1;
    }
  }
  if (gs_mkdirs(c->dir, err) != 0) return -1;
  snprintf(sub, sizeof sub, "%s/runs", c->dir);
  if (gs_mkdirs(sub, err) != 0) return -1;
  snprintf(sub, sizeof sub, "%s/png", c->dir);
  if (gs_mkdirs(sub, err) != 0) return -1;
  snprintf(sub, sizeof sub, "%s/ckpt", c->dir);
  if (gs_mkdirs(sub, err) != 0) return -1;
  if (sweepdir_check_writable(c->dir, err) != 0) return -1;
  if (sweepdir_write_experiment_copy(c->dir, sw, err) != 0) return -1;
  if (gs_ledger_open(c->dir, &c->ledger, err) != 0) return -1;
  c->have_ledger = 1;
  c->waiting = gs_calloc((size_t)c->nleaders, sizeof(int));
  c->self_help = -1;
  MPI_Comm_size(MPI_COMM_WORLD, &c->world);
  c->self_members = gs_calloc((size_t)c->world + 1, sizeof(int));
  /* probe farming: idle groups help when a run's probe stage comes (its model from its last
   * checkpoint) */
  for (long i = 0; i < sw->nruns && c->nleaders > 1 && !gs_sweep_has_scheduler(sw); i++)
    if (sw->runs[i].cfg.checkpoint_every > 0 && gs_run_wants_probes(&sw->runs[i].cfg)) c->can_help = 1;
  if (gs_sweep_has_scheduler(sw)) {
    /* early stopping: every run is the scheduler's; it decides the order */
    c->queue = gs_malloc(sizeof(int) * (size_t)(sw->nruns ? sw->nruns : 1));
    c->eta = gs_calloc(sw->nruns ? sw->nruns : 1, sizeof *c->eta);
    for (long i = 0; i < sw->nruns; i++) {
      c->queue[i] = (int)i;
      c->eta[i] = (gs_eta_run){.state = GS_RUN_PENDING, .cost = c->cost[i], .epochs = gs_model_epochs(&sw->runs[i].cfg),
                               .busy = -1};
    }
    c->nqueue = sw->nruns;
    c->sent_to = gs_calloc(sw->nruns ? sw->nruns : 1, sizeof(long));
    c->stops = gs_calloc(sw->nruns ? sw->nruns : 1, sizeof(long));
    if (sched_setup(c, err) != 0) return -1;
    if (sw->nruns > 0 && !gs_dataset_cached(&sw->runs[0].cfg, err)) {
      char msg[sizeof err->msg];
      GS_STRCPY(msg, err->msg);
      return gs_fail(err, "run %s: %s", sw->runs[0].id, msg);
    }
    return 0;
  }
  /* what the ledger already knows, so that runs found done on disk are recorded once */
  gs_ledger_view view;
  gs_error verr = {0};
  int have_view = gs_ledger_read(c->dir, &view, &verr) == 0;
  if (!have_view) fprintf(c->log, "warning: %s\n", verr.msg);
  double *pairs = gs_malloc(sizeof(double) * 2 * (sw->nruns ? sw->nruns : 1));
  long n = 0;
  for (long i = 0; i < sw->nruns; i++) {
    const gs_run *run = &sw->runs[i];
    if (c->owner && c->owner[i] != c->opt->shard) continue; /* another shard's */
    char path[1400];
    sweepdir_run_path(c->dir, run, path, sizeof path);
    if (access(path, F_OK) == 0) {
      gs_run_summary s;
      gs_error e2 = {0};
      if (gs_runfile_read_summary(path, &s, &e2) != 0) {
        fprintf(c->log, "%s: existing run file unreadable (%s): running again\n", run->id, e2.msg);
      } else if (s.config_hash != run->hash) {
        fprintf(c->log, "%s: parameters changed since the existing run file was written: running again\n", run->id);
      } else if (strcmp(s.status, "done") == 0) {
        if (!c->opt->quiet) fprintf(c->log, "%s: already done, skipped\n", run->id);
        char ck[1400]; /* left by a crash between writing the run file and removing them */
        sweepdir_ckpt_file(c->dir, run, "h5", ck, sizeof ck);
        gs_checkpoint_remove(ck);
        c->out->skipped++;
        if (have_view && gs_ledger_run_state(&view, run->id, run->hash, NULL, NULL) != GS_RUN_DONE)
          coord_log(c, "done", (int)i, gs_model_epochs(&run->cfg), "found done on disk (run file)");
        continue;
      } else if (strcmp(s.status, "diverged") == 0) {
        /* divergence is deterministic for the same parameters: a result, not an accident */
        fprintf(c->log, "%s: diverged before (%s): kept, not retried (delete %s to retry)\n", run->id, s.message, path);
        c->out->failed++;
        continue;
      } else {
        fprintf(c->log, "%s: previous attempt %s (%s): running again\n", run->id, s.status, s.message);
      }
    }
    pairs[2 * n] = c->cost[i];
    pairs[2 * n + 1] = (double)i;
    n++;
  }
  if (have_view) gs_ledger_view_free(&view);
  qsort(pairs, n, 2 * sizeof(double), cost_cmp_desc);
  c->queue = gs_malloc(sizeof(int) * (n ? n : 1));
  for (long i = 0; i < n; i++) c->queue[i] = (int)pairs[2 * i + 1];
  c->nqueue = n;
  c->eta = gs_calloc(n ? n : 1, sizeof *c->eta);
  for (long i = 0; i < n; i++) {
    const gs_run *run = &sw->runs[c->queue[i]];
    c->eta[i] = (gs_eta_run){.state = GS_RUN_PENDING, .cost = c->cost[c->queue[i]],
                             .epochs = gs_model_epochs(&run->cfg), .busy = -1};
  }
  for (long i = 0; i < n; i++) coord_log(c, "queued", c->queue[i], 0, NULL);
  free(pairs);
  /* bad data stops the sweep before anything runs: every run would fail the same way */
  if (n > 0) {
    const gs_run *first = &sw->runs[c->queue[0]];
    const gs_dataset *ds = gs_dataset_cached(&first->cfg, err);
    if (!ds) {
      char msg[sizeof err->msg];
      GS_STRCPY(msg, err->msg);
      gs_fail(err, "run %s: %s", first->id, msg);
      return -1;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ every rank */
int gs_sweep_run(const gs_sweep *sw, const gs_run_options *opt, gs_sweep_outcome *out, gs_error *err) {
  FILE *log = opt->log ? opt->log : stdout;
  memset(out, 0, sizeof *out);
  int R, N;
  MPI_Comm_rank(MPI_COMM_WORLD, &R);
  MPI_Comm_size(MPI_COMM_WORLD, &N);
  /* Slurm started several tasks, but they do not form one MPI world: each would run the whole
   * sweep and they would overwrite each other's files. */
  const char *st = getenv("SLURM_STEP_NUM_TASKS");
  if (!st) st = getenv("SLURM_NTASKS");
  long ntasks = st ? atol(st) : 0;
  const char *procid = getenv("SLURM_PROCID");
  /* The batch script itself (no SLURM_STEP_ID, task 0) is one process in an allocation of
   * several tasks: a whole sweep in one process, safe but leaving the other CPUs idle. */
  int batch_shell = procid && atol(procid) == 0 && !getenv("SLURM_STEP_ID");
  if (N == 1 && ntasks > 1 && procid && batch_shell)
    fprintf(log,
            "warning: one process in a Slurm allocation of %ld tasks (started by the batch script, not srun): "
            "the other tasks' CPUs stay idle. Launch with `srun --mpi=pmix gensweep run ...` or `mpirun "
            "gensweep run ...` to use them\n",
            ntasks);
  else if (N == 1 && ntasks > 1 && procid)
    return gs_fail(err,
                   "Slurm started %ld tasks (SLURM_NTASKS) but this MPI world has 1 rank: the tasks were started "
                   "as separate singletons and each would run the whole sweep. Launch with `srun --mpi=pmix "
                   "gensweep run ...` (this Open MPI has PMIx, not PMI-2) or with `mpirun` inside the allocation",
                   ntasks);
  int ranks_per_group = opt->ranks_per_run > 0 ? opt->ranks_per_run : (int)sw->base.ranks_per_run;
  if (ranks_per_group < 1 || N % ranks_per_group != 0)
    return gs_fail(err, "%d MPI ranks cannot form groups of ranks_per_run = %d: use a multiple of %d ranks", N,
                   ranks_per_group, ranks_per_group);
  char dir[1024];
  gs_sweep_dir(sw, opt->results, dir, sizeof dir);
  GS_STRCPY(out->dir, dir);
  /* --results overrides sweep.results for everything a run keeps under the results root (the
   * judge's cache); sweep.* keys are not part of a run's identity */
  if (opt->results && *opt->results)
    for (long i = 0; i < sw->nruns; i++) GS_STRCPY(((gs_run *)&sw->runs[i])->cfg.results, opt->results);

  coord c = {0};
  int ok = 1;
  if (R == 0) {
    c.sw = sw;
    c.opt = opt;
    c.log = log;
    c.out = out;
    GS_STRCPY(c.dir, dir);
    c.started_as = gs_calloc(sw->nruns ? sw->nruns : 1, sizeof(int));
    c.cost = gs_malloc(sizeof(double) * (sw->nruns ? sw->nruns : 1));
    for (long i = 0; i < sw->nruns; i++) c.cost[i] = gs_run_cost(&sw->runs[i]);
    c.nleaders = N / ranks_per_group;
    c.ranks_per_group = ranks_per_group;
    c.groups = gs_malloc(sizeof *c.groups * c.nleaders);
    for (int g = 0; g < c.nleaders; g++) c.groups[g].run = -1;
    c.tty = gs_is_terminal(log) && !opt->quiet;
    c.status_every = c.tty ? 0.5 : (opt->progress_every > 0 ? opt->progress_every : 60.0);
    c.t_status = gs_now();
    c.active = c.nleaders - 1;
    c.t_sweep = gs_now();
    c.ntotal = sw->nruns;
    if (opt->nshards > 1 && !gs_sweep_has_scheduler(sw)) {
      c.ntotal = 0;
      c.owner = gs_shard_owners(sw, opt->nshards);
      for (long i = 0; i < sw->nruns; i++) c.ntotal += c.owner[i] == opt->shard;
    }
    fprintf(log, "sweep %s: %ld run%s from %s, results in %s\n", sw->base.sweep_name, sw->nruns,
            sw->nruns == 1 ? "" : "s", sw->path, dir);
    if (sw->nsame)
      fprintf(log, "(%ld more grid point%s the same run as another: the model reads none of the keys they differ "
              "in, e.g. %s)\n", sw->nsame, sw->nsame == 1 ? " is" : "s are", sw->same_example);
    if (opt->nshards > 1 && gs_sweep_has_scheduler(sw))
      fprintf(log, "shard %d/%d: shares the sweep's early-stopping scheduler with the other shards: each takes "
              "the next decision when one of its groups is free\n", opt->shard, opt->nshards);
    else if (opt->nshards > 1)
      fprintf(log, "shard %d/%d: %ld run%s of %ld (shards split the grid by estimated cost; `gensweep plan --shards %d` "
              "lists them)\n", opt->shard, opt->nshards, c.ntotal, c.ntotal == 1 ? "" : "s", sw->nruns, opt->nshards);
    if (N > 1) fprintf(log, "%d ranks: %d worker group%s of %d rank%s (rank 0 coordinates and trains)\n", N,
                       N / ranks_per_group, N / ranks_per_group == 1 ? "" : "s", ranks_per_group, ranks_per_group == 1 ? "" : "s");
    fflush(log);
    if (coord_setup(&c, err) != 0) ok = 0;
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  int can_help = c.can_help; /* probe farming: only then does a probe stage ask rank 0 for helpers */
  MPI_Bcast(&can_help, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok) {
    MPI_Bcast(err->msg, sizeof err->msg, MPI_CHAR, 0, MPI_COMM_WORLD);
    sched_free(&c);
    free(c.queue);
    free(c.owner);
    free(c.cost);
    free(c.eta);
    free(c.started_as);
    free(c.groups);
    return -1;
  }
  if (R == 0) {
    the_coord = &c;
    gs_poll_hook = poll_hook;
  }
  MPI_Comm group;
  MPI_Comm_split(MPI_COMM_WORLD, R / ranks_per_group, R, &group);
  MPI_Comm_dup(MPI_COMM_WORLD, &probe_world);
  int grank;
  MPI_Comm_rank(group, &grank);
  int leader = grank == 0;

  int finished = -1, how = END_FILE;
  double metric = NAN; /* early stopping: the finished run's metric */
  int has_metric = 0;   /* and whether the run records that series */
  for (;;) {
    int asg[2] = {-1, 0}; /* the run, the epoch to stop after (0: its last) */
    if (leader) {
      if (R == 0) {
        if (finished >= 0) coord_finished(&c, finished, how, metric, has_metric);
        finished = -1;
        /* the scheduler may have to wait for another group's result */
        while ((asg[0] = coord_next(&c, 0, &asg[1])) == -2) {
          coord_poll();
          usleep(2000);
        }
      } else {
        double fin[4] = {finished, how, metric, has_metric};
        MPI_Send(fin, 4, MPI_DOUBLE, 0, TAG_REQ, MPI_COMM_WORLD);
        MPI_Recv(asg, 2, MPI_INT, 0, TAG_ASSIGN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      }
    }
    MPI_Bcast(asg, 2, MPI_INT, 0, group);
    int idx = asg[0];
    metric = NAN;
    has_metric = 0;
    if (idx == -3) { /* help with the probes of run asg[1] (another group's): then ask again */
      int *mem = gs_calloc((size_t)N + 1, sizeof(int));
      if (leader && R == 0) memcpy(mem, c.self_members, sizeof(int) * ((size_t)N + 1));
      else if (leader) MPI_Recv(mem, N + 1, MPI_INT, 0, TAG_HELP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Bcast(mem, N + 1, MPI_INT, 0, group);
      probe_help(sw, dir, asg[1], mem, ranks_per_group > 1 ? group : MPI_COMM_NULL, R);
      free(mem);
      finished = -1;
      continue;
    }
    if (idx < 0) break;
    const gs_run *run = &sw->runs[idx];
    char path[1400], ckpt[1400];
    sweepdir_run_path(dir, run, path, sizeof path);
    sweepdir_ckpt_file(dir, run, "h5", ckpt, sizeof ckpt);
    int lockfd = leader ? sweepdir_lock_run(dir, run) : 0;
    int busy = lockfd == -1 ? END_BUSY : 0;
    /* (under early stopping a run file that says "done" stays: its metric is read from it) */
    /* The queue was made when this job started: another job (a relaunch while this one runs, an
     * overlapping requeue, a shard) may have finished the run since, and released its lock. */
    if (leader && !busy && finished_on_disk(path, run)) {
      if (lockfd >= 0) close(lockfd);
      busy = END_DONE_ELSEWHERE;
    }
    MPI_Bcast(&busy, 1, MPI_INT, 0, group);
    if (busy) {
      finished = idx;
      how = busy;
      continue;
    }
    gs_record rec;
    gs_error derr = {0};
    const gs_dataset *ds = gs_dataset_cached(&run->cfg, &derr);
    gs_model *m = NULL;
    const gs_model_def *def = NULL;
    if (!ds) {
      gs_record_init(&rec, run->id, run->cfg.model, run->hash);
      GS_STRCPY(rec.status, "failed");
      snprintf(rec.message, sizeof rec.message, "data: %.500s", derr.msg);
    } else {
      gs_train_hooks h = {.comm = ranks_per_group > 1 ? group : MPI_COMM_NULL,
                          .poll = R == 0 ? poll_ctx : NULL,
                          .epoch = leader ? (R == 0 ? epoch_local : epoch_remote) : NULL,
                          .note = leader ? (R == 0 ? note_local : note_remote) : NULL,
                          .ckpt_path = ckpt,
                          .stop = &gs_stop_requested,
                          .until = asg[1],
                          .probe_comm = can_help ? probe_comm_hook : NULL};
      m = gs_train_run(run, ds, &rec, &h, &def);
    }
    how = END_FILE;
    if (strcmp(rec.status, "interrupted") == 0) {
      how = END_INTERRUPTED;
    } else if (leader) {
      gs_error werr = {0};
      if (gs_runfile_write(path, &rec, &run->cfg, &werr) != 0) {
        fprintf(stderr, "gensweep: rank %d: cannot write the results of run %s: %s\n", R, run->id, werr.msg);
        how = END_WRITE_FAILED;
      } else {
        int paused = strcmp(rec.status, "paused") == 0;
        if (!paused) sweepdir_write_pngs(dir, &rec, stderr);
        /* the run file is complete: the checkpoints have served, unless the run failed (it is
         * tried again next time: from its checkpoint, which a failure after training or a resume
         * refused for its thread count or group size leaves usable) or paused at its rung (a
         * promotion continues it) */
        if (strcmp(rec.status, "failed") != 0 && !paused) gs_checkpoint_remove(ckpt);
        char lk[1400];
        sweepdir_ckpt_file(dir, run, "lock", lk, sizeof lk);
        unlink(lk);
      }
    }
    if (lockfd >= 0 && leader) close(lockfd);
    if (leader && gs_sweep_has_scheduler(sw)) {
      const char *name = sw->base.sched_metric[0] ? sw->base.sched_metric : def && def->headline ? def->headline : "";
      const gs_series *ms = gs_record_find_series(&rec, name);
      if (ms && ms->n) metric = ms->v[ms->n - 1];
      has_metric = ms != NULL;
    }
    if (m) def->destroy(m);
    gs_record_free(&rec);
    /* a long sweep in one process must not grow: give HDF5's free lists and the heap back */
    H5garbage_collect();
    malloc_trim(0);
    finished = idx;
  }
  if (R == 0) {
    /* rank 0 reported its own last run before asking for the next; now serve the other
     * groups until each has been told to stop */
    while (c.active > 0) {
      coord_poll();
      if (c.active > 0) usleep(2000);
    }
    gs_poll_hook = NULL;
    the_coord = NULL;
    if (c.sched) sched_flush_stops(&c);
    coord_line(&c);
    if (!c.dir_gone) coord_index(&c, 1);
    if (c.have_ledger) gs_ledger_close(&c.ledger);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(log,
            "sweep %s: %ld done, %ld skipped (already done), %ld failed in %.1f s (peak memory of rank 0: %.0f MB)\n",
            sw->base.sweep_name, out->done, out->skipped, out->failed, gs_now() - c.t_sweep, ru.ru_maxrss / 1024.0);
    if (c.dir_gone)
      fprintf(log, "results: none kept: %s was removed while the sweep ran (run the sweep again to train it)\n", dir);
    else
      fprintf(log, "results: %s/sweep.h5 (runs/, png/)\n", dir);
    if (out->busy)
      fprintf(log, "%ld run%s skipped: being trained by another process; run again when it is done\n", out->busy,
              out->busy == 1 ? "" : "s");
    long unstarted = c.nqueue - c.next;
    if (c.sched) {
      unstarted = 0;
      for (long i = 0; i < sw->nruns; i++) {
        gs_sched_run_info ri;
        if (gs_sched_run_info_get(c.sched, i, &ri) == 0 && ri.state == GS_SCHED_RUN_PENDING) unstarted++;
      }
      if (out->stopped)
        fprintf(log, "early stopping: %ld run%s stopped before their last epoch (`gensweep status` shows the rungs)\n",
                out->stopped, out->stopped == 1 ? "" : "s");
      if (c.sched_calls)
        fprintf(log, "early stopping: %ld decisions and results, %.3f ms each on average (the scheduler and its "
                "ledger lines, written and fsync'd)\n", c.sched_calls, 1e3 * c.sched_s / c.sched_calls);
    }
    if (c.sched_error == 2)
      fprintf(log, "stopped: this shard could not follow or record the shards' early-stopping decisions (see the "
              "error above); start it again once that is fixed\n");
    else if (c.sched_error)
      fprintf(log, "stopped: set sweep.metric to a series the runs record and run again: they continue from their "
                   "checkpoints\n");
    else if (!c.dir_gone && (out->interrupted || c.stopping))
      fprintf(log, "interrupted: %ld run%s checkpointed, %ld not started; run the same command again to resume\n",
              out->interrupted, out->interrupted == 1 ? "" : "s", unstarted);
    fflush(log);
  }
  MPI_Comm_free(&group);
  MPI_Comm_free(&probe_world);
  sched_free(&c);
  out->config_error = R == 0 && c.sched_error;
  long counts[7] = {out->done, out->skipped, out->failed, out->interrupted + (R == 0 && c.stopping && !c.dir_gone && !c.sched_error),
                    out->busy, out->stopped, out->config_error};
  MPI_Bcast(counts, 7, MPI_LONG, 0, MPI_COMM_WORLD);
  out->config_error = (int)counts[6];
  out->busy = counts[4];
  out->stopped = counts[5];
  out->done = counts[0];
  out->skipped = counts[1];
  out->failed = counts[2];
  out->interrupted = counts[3];
  free(c.queue);
  free(c.owner);
  free(c.cost);
  free(c.eta);
  free(c.started_as);
  free(c.groups);
  return 0;
}
