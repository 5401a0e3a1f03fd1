/* How long a sweep has left: the one estimator behind `gensweep status` (runner/status.h, fed
 * from the ledger) and the coordinator's live status and progress lines (runner/sweep.c, fed
 * from what its groups report). Both used to compute their own ETA and disagreed; now each only
 * says what it knows about every run and this decides. Pure arithmetic: no clock, no files. */
#ifndef GENSWEEP_ETA_H
#define GENSWEEP_ETA_H

#include "gensweep/io/ledger.h" /* gs_run_state */

/* What a caller knows about one run. Zero it, then set what applies to its state. */
typedef struct gs_eta_run {
  gs_run_state state;   /* pending / interrupted: left whole; running: left in part; done: maybe
                           timed; failed: neither left nor timed (nor is a run this job skips) */
  double cost;          /* the run's estimated work (gs_run_cost); <= 0: unknown */
  long epochs;          /* its total epochs; <= 0: unknown */
  /* running: its current attempt measured from epoch0 (where the attempt began: 0, or where it
   * resumed) at time t0; its latest finished epoch is `epoch`, at time t_epoch (t0 while none).
   * done: the timed stretch began at epoch0 (0: the whole run) and took busy seconds. */
  long epoch0, epoch;
  double t0, t_epoch;   /* running; any clock, the same as `now` */
  double busy;          /* done: seconds; < 0: not timed (found done on disk, done by an earlier
                           job the caller knows nothing of, or its stretch began mid-epoch) */
} gs_eta_run;

typedef enum {
  GS_ETA_UNKNOWN = 0,   /* nothing to measure a rate from yet */
  GS_ETA_NOTHING_LEFT,  /* no run running, interrupted or pending: 0 s */
  GS_ETA_FROM_DONE,     /* the rate from the timed done runs */
  GS_ETA_PACED          /* no timed done run: the rate from the running runs' finished epochs */
} gs_eta_source;

typedef struct gs_eta {
  double seconds;       /* seconds left; -1: unknown */
  gs_eta_source source;
  long nrate;           /* runs the rate was measured on (timed done runs, or paced running runs) */
  double per_run;       /* seconds one of those runs takes at that rate, on average (done: their
                           mean busy time; paced: their mean whole-run estimate); 0 if unknown */
  long left;            /* runs running + interrupted + pending */
} gs_eta;

/* Seconds left for runs[0..n) with `slots` runs training at once (at least 1), at time now;
 * out (may be NULL) gets how. Returns the seconds left, -1 when unknown.
 *
 * A rate in seconds per unit of estimated cost is measured on the timed done runs (their busy
 * seconds over the cost of the part of each run they cover), or, before any is timed, on the
 * running runs' finished epochs in their current attempt (each epoch a 1/epochs share of its
 * run's cost); seconds and work are summed over the runs measured, so a run measured over more
 * epochs weighs more than one just begun. Costs, not run counts, because grids mix cheap and costly runs; a run of unknown
 * cost weighs the mean known cost (all alike when none is known). A pending or interrupted run
 * then takes its cost at that rate (an interrupted one counted whole, which errs long: its
 * checkpoint usually saves part of it). A running run takes what its own pace says is left, or,
 * before its first epoch in this attempt, its unfinished share at the rate (without an epoch
 * count: its whole cost less the time since t0); either way less the time since its last epoch,
 * never below 0. The slots share the sum, but the sweep cannot end before its slowest running
 * run: ETA = max(sum / slots, slowest). Failed runs are neither left nor measured: a sweep
 * retries them only when started again. */
double gs_eta_estimate(const gs_eta_run *runs, long n, long slots, double now, gs_eta *out);

#endif
