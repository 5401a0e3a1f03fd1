/* Tests of the sweep ETA estimator (runner/eta.h), every number worked by hand: unknown before
 * anything is measured, paced from running runs' epochs, from done runs, weighed by cost, and
 * several runs at once. */
#include <criterion/criterion.h>
#include <string.h>

#include "gensweep/runner/eta.h"

static gs_eta_run pending(double cost) { return (gs_eta_run){.state = GS_RUN_PENDING, .cost = cost, .epochs = 4}; }

static gs_eta_run done(double cost, double busy) {
  return (gs_eta_run){.state = GS_RUN_DONE, .cost = cost, .epochs = 4, .epoch = 4, .busy = busy};
}

/* running since t0 from epoch0; its latest epoch `epoch` ended at t_epoch */
static gs_eta_run running(double cost, long epochs, long epoch0, long epoch, double t0, double t_epoch) {
  return (gs_eta_run){.state = GS_RUN_RUNNING, .cost = cost, .epochs = epochs, .epoch0 = epoch0, .epoch = epoch,
                      .t0 = t0, .t_epoch = t_epoch};
}

#define NRUNS(a) ((long)(sizeof(a) / sizeof(a)[0]))
#define EQ(x, want) cr_assert_float_eq((x), (want), 1e-9, "%s = %.12g, want %.12g", #x, (double)(x), (double)(want))

Test(eta, unknown_before_anything_is_measured) {
  gs_eta e;
  /* only pending runs, and a run that started but has not finished an epoch */
  gs_eta_run a[] = {pending(1), pending(2), running(1, 4, 0, 0, 100, 100)};
  cr_assert_eq(gs_eta_estimate(a, NRUNS(a), 1, 150, &e), -1);
  cr_assert_eq(e.source, GS_ETA_UNKNOWN);
  cr_assert_eq(e.nrate, 0);
  cr_assert_eq(e.left, 3);
  EQ(e.per_run, 0);
  /* a done run that was not timed (found done on disk) and a failed one tell nothing either */
  gs_eta_run b[] = {pending(1), done(1, -1), {.state = GS_RUN_FAILED, .cost = 1}};
  cr_assert_eq(gs_eta_estimate(b, NRUNS(b), 1, 0, &e), -1);
  cr_assert_eq(e.left, 1);
  /* nothing left: 0, whatever is known */
  gs_eta_run c[] = {done(1, -1), {.state = GS_RUN_FAILED}};
  cr_assert_eq(gs_eta_estimate(c, NRUNS(c), 1, 0, &e), 0);
  cr_assert_eq(e.source, GS_ETA_NOTHING_LEFT);
  cr_assert_eq(gs_eta_estimate(NULL, 0, 1, 0, NULL), 0);
}

Test(eta, paced_from_a_running_runs_epochs) {
  gs_eta e;
  /* 1 of 4 epochs in 10 s, 2 s ago: 10 s an epoch, 3 left = 30 s - 2 s = 28 s. The rate: 10 s for a
   * quarter of a cost-1 run = 40 s per unit; the pending run of cost 2 takes 80 s. One slot. */
  gs_eta_run a[] = {running(1, 4, 0, 1, 0, 10), pending(2)};
  EQ(gs_eta_estimate(a, NRUNS(a), 1, 12, &e), 28 + 80);
  cr_assert_eq(e.source, GS_ETA_PACED);
  cr_assert_eq(e.nrate, 1);
  cr_assert_eq(e.left, 2);
  EQ(e.per_run, 40); /* its whole-run estimate: 4 epochs x 10 s */
  /* resumed at epoch 2 at t 100, epoch 3 done at t 115: 15 s an epoch counts only this attempt;
   * 1 epoch left = 15 s, now = 115. Rate 15 s / (1 x 1/4) = 60 s per unit: pending 2 -> 120 s */
  gs_eta_run b[] = {running(1, 4, 2, 3, 100, 115), pending(2)};
  EQ(gs_eta_estimate(b, NRUNS(b), 1, 115, &e), 15 + 120);
  EQ(e.per_run, 60);
  /* overdue: 40 s since its last epoch, 15 s were expected: nothing left for it, not -25 */
  EQ(gs_eta_estimate(b, NRUNS(b), 1, 155, &e), 0 + 120);
  /* two paced runs pool their seconds and work: (10 + 30) s for 1/4 + 2 x 2/4 = 1.25 units ->
   * 32 s per unit. Left: 10 x 3 - 0 = 30 s and 15 x 2 - 0 = 30 s; pending 1 -> 32 s. One slot */
  gs_eta_run c[] = {running(1, 4, 0, 1, 0, 10), running(2, 4, 0, 2, 0, 30), pending(1)};
  EQ(gs_eta_estimate(c, NRUNS(c), 1, 30, &e), (30 - 20) + 30 + 32);
  cr_assert_eq(e.nrate, 2);
  EQ(e.per_run, 32 * 1.5); /* the mean cost of the two (1.5) at 32 s a unit */
}

Test(eta, from_done_runs) {
  gs_eta e;
  /* 100 s and 300 s for two cost-1 runs: 200 s a run; 2 pending = 400 s on one slot */
  gs_eta_run a[] = {done(1, 100), done(1, 300), pending(1), pending(1)};
  EQ(gs_eta_estimate(a, NRUNS(a), 1, 0, &e), 400);
  cr_assert_eq(e.source, GS_ETA_FROM_DONE);
  cr_assert_eq(e.nrate, 2);
  EQ(e.per_run, 200);
  /* done runs decide the rate even when a running run paces differently (its 10 s epochs would
   * say 40 s a run); that running run's own pace still says what it has left: 30 - 2 = 28 s */
  gs_eta_run b[] = {done(1, 100), done(1, 300), running(1, 4, 0, 1, 0, 10), pending(1)};
  EQ(gs_eta_estimate(b, NRUNS(b), 1, 12, &e), 28 + 200);
  cr_assert_eq(e.source, GS_ETA_FROM_DONE);
  /* a running run without a finished epoch yet: its share (all 4 epochs) at the rate, less the
   * 50 s it has run: 200 - 50 = 150 s */
  gs_eta_run c[] = {done(1, 100), done(1, 300), running(1, 4, 0, 0, 10, 10)};
  EQ(gs_eta_estimate(c, NRUNS(c), 1, 60, &e), 150);
  /* without an epoch count (`status` without the experiment copy) only time tells: the whole
   * 200 s less the 20 s to its latest checkpoint and the 30 s since */
  gs_eta_run g[] = {done(1, 100), done(1, 300), {.state = GS_RUN_RUNNING, .cost = 1, .epoch = 2, .t0 = 10, .t_epoch = 30}};
  EQ(gs_eta_estimate(g, NRUNS(g), 1, 60, &e), 150);
  /* a done run timed from its resume at epoch 2 of 4 covers half the run: 50 s -> 100 s a unit */
  gs_eta_run d[] = {{.state = GS_RUN_DONE, .cost = 1, .epochs = 4, .epoch0 = 2, .epoch = 4, .busy = 50}, pending(1)};
  EQ(gs_eta_estimate(d, NRUNS(d), 1, 0, &e), 100);
  EQ(e.per_run, 100);
  /* done runs that took no time (lines of one millisecond): a rate of 0, so nothing left, not
   * unknown */
  gs_eta_run z[] = {done(1, 0), pending(1)};
  EQ(gs_eta_estimate(z, NRUNS(z), 1, 0, &e), 0);
  cr_assert_eq(e.source, GS_ETA_FROM_DONE);
  /* without an epoch count, a done run's busy time is the whole run */
  gs_eta_run f[] = {{.state = GS_RUN_DONE, .cost = 1, .busy = 70}, pending(1), {.state = GS_RUN_INTERRUPTED, .cost = 1}};
  EQ(gs_eta_estimate(f, NRUNS(f), 1, 0, &e), 140);
  cr_assert_eq(e.left, 2);
}

Test(eta, pending_runs_weighed_by_cost) {
  gs_eta e;
  /* a cost-2 run took 100 s: 50 s a unit. Pending costs 1 and 3: 50 + 150 s */
  gs_eta_run a[] = {done(2, 100), pending(1), pending(3)};
  EQ(gs_eta_estimate(a, NRUNS(a), 1, 0, &e), 200);
  EQ(e.per_run, 100); /* the run measured: 100 s */
  /* the mean busy time of the done runs, whatever their costs: (100 + 50) / 2; the rate is
   * (100 + 50) s / (2 + 3) units = 30 s a unit: pending cost 4 -> 120 s */
  gs_eta_run b[] = {done(2, 100), done(3, 50), pending(4)};
  EQ(gs_eta_estimate(b, NRUNS(b), 1, 0, &e), 120);
  EQ(e.per_run, 75);
  /* a run of unknown cost weighs the mean known cost, (2 + 1 + 3) / 3 = 2: +100 s */
  gs_eta_run c[] = {done(2, 100), pending(1), pending(3), pending(0)};
  EQ(gs_eta_estimate(c, NRUNS(c), 1, 0, &e), 300);
  /* no cost known at all: every run weighs the same (1) */
  gs_eta_run d[] = {done(0, 100), done(0, 300), pending(0), pending(-1)};
  EQ(gs_eta_estimate(d, NRUNS(d), 1, 0, &e), 400);
  /* paced runs are weighed too: a cost-4 run did 1 of 4 epochs in 10 s: 10 s a unit, and the
   * pending cost-1 run takes 10 s, not a whole 40-s run */
  gs_eta_run f[] = {running(4, 4, 0, 1, 0, 10), pending(1)};
  EQ(gs_eta_estimate(f, NRUNS(f), 1, 10, &e), 30 + 10);
}

Test(eta, several_runs_at_once) {
  gs_eta e;
  /* 60 s a unit (a cost-1 run in 60 s); 2 slots. Pending 4 x 60 = 240 s. Running A: 30 s an
   * epoch, 2 of 3 left, 10 s since its epoch: 50 s. Running B: no epoch yet, started 5 s ago:
   * 60 - 5 = 55 s. (240 + 50 + 55) / 2 = 172.5 s, more than the slowest (55 s) */
  gs_eta_run a[] = {done(1, 60),
                    pending(1), pending(1), pending(1), pending(1),
                    running(1, 3, 0, 1, 0, 30),
                    running(1, 3, 0, 0, 35, 35)};
  EQ(gs_eta_estimate(a, NRUNS(a), 2, 40, &e), 172.5);
  cr_assert_eq(e.left, 6);
  /* more slots than work: the sweep cannot end before its slowest run. 10 s a unit; a run at
   * 100 s an epoch with 9 of 10 left has 900 s to go; (900 + 10) / 4 = 227.5 < 900 */
  gs_eta_run b[] = {done(1, 10), running(1, 10, 0, 1, 0, 100), pending(1)};
  EQ(gs_eta_estimate(b, NRUNS(b), 4, 100, &e), 900);
  /* slots below 1 read as 1 */
  gs_eta_run c[] = {done(1, 10), pending(1), pending(1)};
  EQ(gs_eta_estimate(c, NRUNS(c), 0, 0, &e), 20);
  EQ(gs_eta_estimate(c, NRUNS(c), 2, 0, &e), 10);
}
