/* `gensweep status`: counts, ETA and file checks of a sweep, from its ledger (io/ledger.h). */
#ifndef GENSWEEP_STATUS_H
#define GENSWEEP_STATUS_H
#include <stdio.h>

#include "gensweep/config/config.h"
#include "gensweep/io/ledger.h"

typedef struct gs_status {
  long total, done, running, failed, interrupted, pending;
  long stale;              /* of pending: runs with ledger lines under another config hash only */
  long orphans;            /* ledger (run id, hash) pairs of run ids not in the experiment */
  double elapsed;          /* now - first ledger entry (0 when the ledger is empty) */
  double idle;             /* now - last ledger entry */
  double mean_done;        /* mean busy seconds of the done runs that have a 'started' line; paced
                              (below): the paced runs' mean whole-run estimate; 0: ETA unknown */
  long parallel;           /* max(1, runs running now) */
  double eta;              /* seconds; -1: unknown (no timed done run, no checkpointed epoch) */
  long paced;              /* 0: eta from the timed done runs; else from the checkpointed epochs of
                              this many running runs (no done run timed yet) */
} gs_status;

/* Count a sweep's runs from its ledger. sw may be NULL: then the runs are what the ledger knows
 * (for each run id, its most recently written hash; 'queued' only = pending).
 *
 * ETA: gs_eta_estimate (runner/eta.h), the same estimator as the live line of `gensweep run`,
 * fed with each run's state and estimated cost (gs_run_cost; without sw unknown, so all alike),
 * the done runs' busy time over all their attempts, the running runs' open attempt (its
 * 'started' or 'resumed' line and latest 'checkpointed' one; epochs from the run's config, so
 * none without sw), and as the runs at once `parallel`, the runs running now: it assumes the
 * sweep keeps running as many at once as it does now. */
void gs_status_compute(const gs_sweep *sw, const gs_ledger_view *v, double now, gs_status *st);

/* `gensweep status DIR`: load DIR/experiment.ini (the sweep's copy of its experiment file) and
 * DIR/ledger.log and print the sweep name, the counts, elapsed time, ETA, one line per running,
 * interrupted, failed or stale run (state, last epoch, message), and the done count. Without the
 * experiment copy it prints what the ledger alone says and says so. Only reads: safe while the
 * sweep runs. Errors: DIR missing, ledger unreadable.
 * It also checks the files (with the experiment copy): every run file and the checkpoint of every
 * run that is not done are read whole and their checksums checked, and sweep.h5 too; each
 * corrupt one gets a line naming the run and the file, and what the next `run` will do about it.
 * Returns 1 (after printing everything) when some file is corrupt, 0 when all is well. */
int gs_status_print(const char *dir, FILE *out, gs_error *err);

#endif
