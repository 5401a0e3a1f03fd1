/* The sweep's ETA: one estimator for `status` and the live line (see runner/eta.h). */
#include "gensweep/runner/eta.h"

#include <math.h>
#include <string.h>

/* A running run's pace is known once it has finished an epoch in this attempt (a run resumed
 * mid-epoch has epoch0 past its resume point: that partial epoch does not tell the pace). */
static int paced(const gs_eta_run *r) {
  return r->state == GS_RUN_RUNNING && r->epochs > 0 && r->epoch > r->epoch0 && r->t_epoch > r->t0;
}

/* The share of its run a done run's busy seconds cover: from epoch0 to the end. Without a
 * known epoch count only a stretch from the start (epoch0 0) means anything: the whole run. */
static double done_share(const gs_eta_run *r) {
  if (r->epochs > 0) return r->epoch0 < r->epochs ? (double)(r->epochs - r->epoch0) / (double)r->epochs : 0.0;
  return r->epoch0 == 0 ? 1.0 : 0.0;
}

/* Unknown costs (<= 0) read as fill. */
static double cost_of(const gs_eta_run *r, double fill) { return r->cost > 0 && isfinite(r->cost) ? r->cost : fill; }

static void estimate(const gs_eta_run *runs, long n, long slots, double now, gs_eta *e) {
  for (long i = 0; i < n; i++) {
    gs_run_state s = runs[i].state;
    e->left += s == GS_RUN_RUNNING || s == GS_RUN_INTERRUPTED || s == GS_RUN_PENDING;
  }
  if (e->left == 0) {
    e->seconds = 0;
    e->source = GS_ETA_NOTHING_LEFT;
    return;
  }
  /* a run of unknown cost weighs what the known ones do on average: counting it as free would
   * leave it out of the rate and of the work left */
  double known = 0;
  long nknown = 0;
  for (long i = 0; i < n; i++)
    if (runs[i].cost > 0 && isfinite(runs[i].cost)) known += runs[i].cost, nknown++;
  double fill = nknown ? known / (double)nknown : 1.0;

  /* the rate: seconds per unit of cost, from the timed done runs when there are any (whole runs,
   * evaluation and writing included, which epochs leave out), else from the running runs'
   * epochs so far */
  double sec = 0, work = 0, cost = 0;
  long nrate = 0;
  for (long i = 0; i < n; i++) {
    const gs_eta_run *r = &runs[i];
    double share = done_share(r);
    if (r->state != GS_RUN_DONE || !(r->busy >= 0) || !(share > 0)) continue;
    sec += r->busy;
    work += cost_of(r, fill) * share;
    cost += cost_of(r, fill);
    nrate++;
  }
  gs_eta_source source = GS_ETA_FROM_DONE;
  if (nrate == 0) {
    for (long i = 0; i < n; i++) {
      const gs_eta_run *r = &runs[i];
      if (!paced(r)) continue;
      sec += r->t_epoch - r->t0;
      work += cost_of(r, fill) * (double)(r->epoch - r->epoch0) / (double)r->epochs;
      cost += cost_of(r, fill);
      nrate++;
    }
    source = GS_ETA_PACED;
  }
  if (nrate == 0 || !(sec >= 0 && work > 0)) return; /* unknown (done runs that took 0 s: rate 0, ETA 0) */
  double rate = sec / work;
  e->source = source;
  e->nrate = nrate;
  e->per_run = rate * cost / (double)nrate; /* from done runs: exactly their mean busy time */

  double sum = 0, slowest = 0;
  for (long i = 0; i < n; i++) {
    const gs_eta_run *r = &runs[i];
    if (r->state == GS_RUN_PENDING || r->state == GS_RUN_INTERRUPTED) {
      sum += cost_of(r, fill) * rate;
    } else if (r->state == GS_RUN_RUNNING) {
      double left; /* its own pace is the best guess for itself; else its unfinished share at the rate */
      if (paced(r))
        left = (r->t_epoch - r->t0) / (double)(r->epoch - r->epoch0) * (double)(r->epochs - r->epoch);
      else if (r->epochs > 0)
        left = cost_of(r, fill) * rate * (double)(r->epochs - (r->epoch > 0 ? r->epoch : 0)) / (double)r->epochs;
      else /* no epoch count: the time since its attempt began is all that tells its progress */
        left = cost_of(r, fill) * rate - (r->t_epoch - r->t0);
      left -= now - r->t_epoch; /* it has been on its next epoch since then */
      if (!(left > 0)) left = 0;
      sum += left;
      if (left > slowest) slowest = left;
    }
  }
  double eta = sum / (double)(slots > 1 ? slots : 1);
  e->seconds = eta > slowest ? eta : slowest;
}

double gs_eta_estimate(const gs_eta_run *runs, long n, long slots, double now, gs_eta *out) {
  gs_eta e;
  memset(&e, 0, sizeof e);
  e.seconds = -1;
  estimate(runs, n, slots, now, &e);
  if (out) *out = e;
  return e.seconds;
}
