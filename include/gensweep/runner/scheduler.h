/* Early stopping by successive halving (issue 13 point 3): which run a free worker group trains
 * next, to which resource, and which runs stop. The decision core only: no MPI, no files, no
 * clock. The job asks it for work, tells it results, and writes each of its decisions as a
 * ledger line; a resumed job replays those lines and goes on deciding where the killed one
 * stopped.
 *
 * Rungs. Resources are integers (epochs or iterations). Rung k trains to
 *   r_k = min_resource * eta^k   for every k with r_k < max_resource, then a last rung at
 *   max_resource itself
 * (min 1, max 9, eta 3: 1 3 9; max 10: 1 3 9 10; min 2, max 20: 2 6 18 20; min = max: one rung).
 * A run that reports at the last rung is finished.
 *
 * Kinds.
 *  sha   synchronous successive halving. Every run trains to r_0. When every run sent to rung k
 *        has reported, its best max(1, floor(n_k / eta)) go on to rung k+1 and the others stop.
 *        (At least one: with fewer than eta runs in a rung, floor would promote none and the
 *        sweep would end with no run trained to max_resource.) Decisions depend only on the
 *        metrics, never on the order of the reports.
 *  asha  asynchronous successive halving (Li et al. 2018, "A System for Massively Parallel
 *        Hyperparameter Tuning", Algorithm 2). A free worker looks from the top rung down for a
 *        run in the top floor(n_k / eta) of the runs that reported at rung k and not yet
 *        promoted, and promotes the best such run; else it starts the next run at rung 0; else
 *        it waits (runs are training) or is done. One rule is stricter than the paper's: a rung
 *        never promotes more than floor(n_k / eta) runs in all (the paper looks only at the
 *        current top, so runs pushed out of it by later, better arrivals do not count, and a
 *        rung may end up promoting more than 1/eta of its runs). Decisions depend on the order
 *        of the reports, which the ledger fixes (see Replay). A run is stopped as soon as it can
 *        no longer be promoted whatever arrives later: its rank is outside the top
 *        floor(N / eta), or the rung has used its floor(N / eta) promotions, where N counts the
 *        runs that reported at the rung or still may (so when nothing is left to train, every run
 *        is finished or stopped). With few runs asha may end with no run at max_resource (fewer
 *        than eta^(rungs-1); 1 run, eta 3: stopped at rung 0).
 *
 * Ranking. By the metric (mode min: smaller is better; max: larger), a NaN metric worst, ties
 * (NaNs among themselves too) by run index, the lower first: every decision is deterministic.
 *
 * Events. Every decision and every report is an event, numbered from 0 (seq) in the order they
 * happen: start (a run sent to rung 0), promote (a run sent on to rung k > 0), report (a run
 * reached its rung's resource, with its metric), stop (a run will train no more). start and
 * promote come from gs_sched_next, report from gs_sched_report; stops follow the report (or,
 * asha, the promotion) that forces them. The caller takes the events (gs_sched_take) and writes
 * each as one line (gs_sched_format):
 *
 *   <event>\t<seq>\t<run>\t<rung>\t<resource>\t<metric>\t<label>[\t<note>]
 *
 *   event     start | promote | report | stop
 *   seq       the event's number (0, 1, 2, ... with no gap)
 *   run       index of the run in the sweep's order (0-based)
 *   rung      0-based; resource is that rung's r_k (written so that a ledger from other rung
 *             settings is refused rather than misread)
 *   metric    report and stop: the run's metric at that rung, written so that it reads back to
 *             the same double ("nan", "inf", "-inf" as such); start, promote: "-"
 *   label     the run's label given at create (its id), "-" without labels
 *   note      optional, not read back: a stop's reason in words ("ranked 5th of 9, not in the top
 *             3"); the job that sent a start or promote ("shard 1/3", runner/sweep.c)
 *
 * e.g. "report\t41\t7\t1\t3\t351.25\tlr-0.001\n" without the newline. Fields hold no tab or
 * newline (labels with either are refused at create); a line is shorter than GS_SCHED_LINE_MAX,
 * short enough for a ledger note's message (io/ledger.h).
 *
 * Replay. A resumed job creates a scheduler with the same settings and runs and feeds it the
 * lines already written, in order (gs_sched_replay), before any gs_sched_next/report. A start or
 * promote line must be exactly the decision the scheduler makes in that state, a report line
 * must come from a run sent to that rung, a stop line must be the next stop that the preceding
 * report or promotion forces; seq must follow on. Anything else (another sweep's ledger, a line
 * lost or edited, different rung settings or labels) is refused with a message that begins with
 * the caller's `where` and says what the line claims and what the state is. After the replay,
 * gs_sched_take returns the events the lines imply but the ledger lacks (the stops that a kill
 * cut off after the line that forced them), and gs_sched_next first hands out again, as
 * `resent`, every run that was sent to a worker and has not reported (its worker died with the
 * job), oldest first, then decides as before. asha thus repeats every decision already made,
 * whatever order the resumed job's reports come in.
 *
 * Cost (tests/bench/bench_scheduler.c: 1,000 runs, eta 3, resources 1..81 (5 rungs), 16
 * simulated workers, Release, on the 2-core development VM while other builds ran; mean / 99th
 * percentile per call): asha next 0.15 / 1.4 us, report (with its stop check) 0.4 / 1.2 us; sha
 * next 0.04 / 0.1 us, report 0.13 / 0.4 us. The slowest calls took 10-25 us (sha's report that
 * completes a rung, ranks it and stops two thirds of it; the machine's own noise). Replaying
 * the whole ledger of that sweep (~4,000 lines): 1-6 ms. At 10,000 runs (64 workers) an asha
 * report costs 4-6 us on average: the stop check scans each rung below its cut, O(runs). Memory:
 * ~16 bytes per run and rung reached, ~80 per event. */
#ifndef GENSWEEP_SCHEDULER_H
#define GENSWEEP_SCHEDULER_H
#include <stddef.h>

#include "gensweep/core/common.h"

#define GS_SCHED_MAX_RUNGS 64     /* min 1, eta 2, max LONG_MAX: 64 rungs */
#define GS_SCHED_LABEL_MAX 200    /* bytes of a run label, without the NUL */
#define GS_SCHED_LINE_MAX 512     /* bytes of a formatted line, with the NUL */
#define GS_SCHED_MAX_RUNS 10000000L

typedef enum { GS_SCHED_SHA = 0, GS_SCHED_ASHA } gs_sched_kind;
typedef enum { GS_SCHED_MIN = 0, GS_SCHED_MAX } gs_sched_mode;

typedef struct gs_sched_config {
  gs_sched_kind kind;
  gs_sched_mode mode;
  long reduction;               /* eta >= 2 */
  long min_resource;            /* >= 1 */
  long max_resource;            /* >= min_resource */
  long nruns;                   /* the sweep's runs, 0..nruns-1; 0 is a sweep that is done */
  const char *const *labels;    /* optional [nruns]: each run's id, written in its lines and checked
                                   on replay; non-empty, not "-", no tab/CR/LF, at most
                                   GS_SCHED_LABEL_MAX bytes */
  const long *start_order;      /* optional [nruns]: a permutation, the order in which runs start
                                   (e.g. costliest first); NULL: index order. Ranking ties are
                                   still broken by index. */
} gs_sched_config;

typedef struct gs_sched gs_sched;

/* Create / free. Refuses (NULL, err says which setting) eta < 2, min_resource < 1, max_resource <
 * min_resource, nruns < 0 or > GS_SCHED_MAX_RUNS, an unknown kind or mode, a bad label or order. */
gs_sched *gs_sched_create(const gs_sched_config *c, gs_error *err);
void gs_sched_free(gs_sched *s);

/* The rung resources for these settings, into out[0..cap); returns how many there are (which may
 * exceed cap), or -1 for bad settings (eta < 2, min < 1, max < min). */
int gs_sched_rungs(long min_resource, long max_resource, long reduction, long *out, int cap);

/* "sha" / "asha", "min" / "max"; parse: 0 and *out set, or -1 for another word. */
const char *gs_sched_kind_name(gs_sched_kind k);
const char *gs_sched_mode_name(gs_sched_mode m);
int gs_sched_kind_parse(const char *word, gs_sched_kind *out);
int gs_sched_mode_parse(const char *word, gs_sched_mode *out);

/* ------------------------------------------------------------------ the job's calls */

typedef enum {
  GS_SCHED_START = 0,   /* train run `run` from scratch up to `resource` (rung 0) */
  GS_SCHED_CONTINUE,    /* train run `run` on from from_resource (its checkpoint) up to `resource` */
  GS_SCHED_WAIT,        /* nothing to do until a run reports */
  GS_SCHED_DONE         /* every run is finished or stopped */
} gs_sched_action_kind;

typedef struct gs_sched_action {
  gs_sched_action_kind kind;
  long run;             /* START, CONTINUE; else -1 */
  int rung;             /* the rung it is sent to */
  long resource;        /* r_rung: report when the run has reached it */
  long from_resource;   /* CONTINUE: r_(rung-1), where it stands; START: 0 */
  long seq;             /* the event that decided it */
  int resent;           /* 1: decided before a replay and not reported since: send it again (no
                           new event) */
} gs_sched_action;

/* Work for a free worker group. Returns a->kind. */
gs_sched_action_kind gs_sched_next(gs_sched *s, gs_sched_action *a);

/* Run `run` reached `resource`, the resource it was sent to, with this metric (NaN: diverged or
 * failed; counts as the worst). Refused (-1, err) for a run that is not training to that resource.
 * May stop runs (events). */
int gs_sched_report(gs_sched *s, long run, long resource, double metric, gs_error *err);

/* ------------------------------------------------------------------ events and the ledger */

typedef enum { GS_SCHED_EV_START = 0, GS_SCHED_EV_PROMOTE, GS_SCHED_EV_REPORT, GS_SCHED_EV_STOP } gs_sched_event_kind;

/* Why a run stopped (stop events; gs_sched_run_info). */
typedef enum {
  GS_SCHED_WHY_NONE = 0,
  GS_SCHED_WHY_NOT_TOP,       /* sha: its rung complete, not in the top `keep` of `of` */
  GS_SCHED_WHY_CANNOT_REACH,  /* asha: rank `rank` of `of` reported, outside the top `keep` = floor(N/eta) of the N
                                 that may ever report at the rung */
  GS_SCHED_WHY_RUNG_FULL      /* asha: the rung promoted `keep` = floor(N/eta) runs already */
} gs_sched_why;

typedef struct gs_sched_event {
  gs_sched_event_kind kind;
  long seq, run;
  int rung;
  long resource;
  double metric;      /* report, stop: the metric at the rung; start, promote: NaN */
  /* stop only (else 0): why, its rank (1 = best) among `of` runs that reported at the rung,
   * keep: how many the rung promotes (or may promote at most) */
  gs_sched_why why;
  long rank, of, keep;
} gs_sched_event;

/* The next event not yet taken (or, after a replay, not in the replayed lines): 1 and *ev set,
 * 0 when there is none. The job writes each taken event to its ledger. */
int gs_sched_take(gs_sched *s, gs_sched_event *ev);
/* All events so far: count, and the i-th (0 <= i < count). */
long gs_sched_nevents(const gs_sched *s);
/* Events taken or replayed: the next line of the ledger is event number gs_sched_ntaken. */
long gs_sched_ntaken(const gs_sched *s);
const gs_sched_event *gs_sched_event_at(const gs_sched *s, long i);

/* The event as one line (format above, no newline) into buf[cap]; returns its length, or -1 if cap
 * is too small (GS_SCHED_LINE_MAX always suffices). */
int gs_sched_format(const gs_sched *s, const gs_sched_event *ev, char *buf, size_t cap);
/* Parse a line (an optional trailing "\n" or "\r\n" is allowed) into ev and its label (buf
 * label[GS_SCHED_LABEL_MAX + 1], may be NULL), checking only the syntax. err names `where` (e.g.
 * "results/x/ledger.log:12"; NULL: "scheduler line"). */
int gs_sched_parse(const char *line, gs_sched_event *ev, char *label, const char *where, gs_error *err);
/* Apply one line written by an earlier job (see Replay). Refused, and nothing applied, for a line
 * that is malformed or contradicts the state; err begins with `where`. */
int gs_sched_replay(gs_sched *s, const char *line, const char *where, gs_error *err);

/* Shards (runner/sweep.c): several jobs share one scheduler through the ledger. Each holds its
 * own gs_sched; before deciding, under a lock, it follows the lines the others appended since it
 * last looked, then takes and writes its own events before releasing the lock, so the ledger
 * stays the line-by-line history of one scheduler. gs_sched_follow applies such a line as
 * gs_sched_replay does, also after this job's own decisions; with remote = 1 a start or promote
 * it makes is another job's: gs_sched_next never hands that run out here (it waits for its
 * report line), unlike a replayed send, which is handed out again. The job must have taken all
 * its own events first. */
int gs_sched_follow(gs_sched *s, const char *line, int remote, const char *where, gs_error *err);
/* A run training here becomes another job's (disown: another process holds its lock), or another
 * job's run training becomes this job's to hand out again (adopt: that job is gone). 0, or -1
 * for a run not in that state. */
int gs_sched_disown(gs_sched *s, long run);
int gs_sched_adopt(gs_sched *s, long run);
/* 1: the run is training in another job. */
int gs_sched_is_remote(const gs_sched *s, long run);

/* ------------------------------------------------------------------ status */

typedef enum {
  GS_SCHED_RUN_PENDING = 0,   /* not started */
  GS_SCHED_RUN_RUNNING,       /* sent to `rung`, not reported */
  GS_SCHED_RUN_PAUSED,        /* reported at `rung`; sha: its rung not complete yet; asha: may
                                 still be promoted */
  GS_SCHED_RUN_PROMOTED,      /* sha: chosen to go on from `rung`, waiting for a worker */
  GS_SCHED_RUN_STOPPED,       /* at `rung` */
  GS_SCHED_RUN_FINISHED       /* reported at the last rung */
} gs_sched_run_state;

typedef struct gs_sched_run_info {
  gs_sched_run_state state;
  int rung;          /* RUNNING: the rung it trains to; else the last rung it reported at (-1: none) */
  long resource;     /* r_rung, or 0 */
  double metric;     /* at the last rung it reported at; NaN if none */
  gs_sched_why why;  /* STOPPED: as in its stop event, with rank, of, keep */
  long rank, of, keep;
} gs_sched_run_info;

typedef struct gs_sched_rung_info {
  long resource;
  long reached;    /* runs that reported at this rung */
  long running;    /* runs training to it now */
  long promoted;   /* of reached: sent on (or, sha, chosen to go on) */
  long stopped;    /* of reached: stopped here */
  long waiting;    /* of reached: neither yet (asha: may still be promoted; sha: rung not complete) */
  long finished;   /* last rung: = reached */
} gs_sched_rung_info;

int gs_sched_nrungs(const gs_sched *s);
long gs_sched_resource(const gs_sched *s, int rung);
long gs_sched_nruns(const gs_sched *s);
/* 0, or -1 for an index out of range. */
int gs_sched_run_info_get(const gs_sched *s, long run, gs_sched_run_info *out);
int gs_sched_rung_info_get(const gs_sched *s, int rung, gs_sched_rung_info *out);
/* The runs that reported at `rung`, best first, into out[0..cap); returns how many there are. */
long gs_sched_rung_runs(const gs_sched *s, int rung, long *out, long cap);
/* One run in words, e.g. "stopped at rung 1 (resource 3 of 9): metric 351.2 ranked 5th of 9, not
 * in the top 3"; returns the length (snprintf's). */
int gs_sched_describe(const gs_sched *s, long run, char *buf, size_t cap);

#endif
