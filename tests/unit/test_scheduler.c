/* Tests of successive halving (runner/scheduler.h): rung arithmetic by hand; sha on 27 runs
 * (the best 9, then 3, then 1 promoted, ties by index), in mode max, with NaN metrics and with
 * max_resource off the eta grid; asha against simulated worker groups (its invariants at every
 * promotion, the end state); a kill after every event followed by a replay and the rest of the
 * sweep, which must write the uninterrupted sweep's ledger line for line; replay refusing
 * malformed and contradictory lines; the words of the status queries; and the cost of one
 * decision at 1,000 runs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gensweep/runner/scheduler.h"

/* ------------------------------------------------------------------ helpers */

static gs_sched *mk(gs_sched_kind kind, gs_sched_mode mode, long eta, long min, long max, long n) {
  gs_error err = {0};
  gs_sched_config c = {.kind = kind, .mode = mode, .reduction = eta, .min_resource = min, .max_resource = max,
                       .nruns = n};
  gs_sched *s = gs_sched_create(&c, &err);
  cr_assert_not_null(s, "create: %s", err.msg);
  return s;
}

/* A growing list of ledger lines. */
typedef struct lines {
  char **v;
  long n, cap;
} lines;

static void lines_add(lines *l, const char *t) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->v = realloc(l->v, sizeof *l->v * (size_t)l->cap);
  }
  l->v[l->n++] = strdup(t);
}

static void lines_free(lines *l) {
  for (long i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

/* Take every pending event and write it as a line (the job's ledger). */
static void drain(gs_sched *s, lines *log) {
  gs_sched_event ev;
  char buf[GS_SCHED_LINE_MAX];
  while (gs_sched_take(s, &ev)) {
    cr_assert_gt(gs_sched_format(s, &ev, buf, sizeof buf), 0);
    cr_assert_null(strchr(buf, '\n'));
    if (log) lines_add(log, buf);
  }
}

static uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

static double unif(uint64_t seed, long a, long b) {
  return (mix(seed * 1000003u + (uint64_t)a * 7919u + (uint64_t)b) >> 11) * 0x1p-53;
}

/* Simulated runs: a learning curve per run, quantised (ties happen), some diverge (NaN). */
typedef struct world {
  uint64_t seed;
  double nan_rate;
} world;

static double world_metric(const world *w, long run, long resource) {
  if (unif(w->seed, run, 0) < w->nan_rate) return NAN;
  double final = 100 + 50 * unif(w->seed, run, 1), start = 300 + 100 * unif(w->seed, run, 2);
  double m = final + (start - final) / (1.0 + 0.5 * (double)resource) + 5 * unif(w->seed, run, 3 + resource);
  return round(m * 2) / 2;
}

/* How long a job takes, in the order-fixing key below: its resource step times the run's speed. */
static double world_duration(const world *w, long run, long from, long to) {
  return (double)(to - from) * (0.5 + 2 * unif(w->seed, run, 99));
}

typedef struct job {
  long run, resource;
  int rung;
  double key;
} job;

/* Check what asha promises at a promotion: the rung promoted at most floor(n/eta) of its runs in
 * all, and the run was in the top floor(n/eta) of the runs that reported there. */
static void check_promotion(const gs_sched *s, const gs_sched_action *a, long eta) {
  int k = a->rung - 1;
  gs_sched_rung_info ri;
  cr_assert_eq(gs_sched_rung_info_get(s, k, &ri), 0);
  long q = ri.reached / eta;
  cr_assert_leq(ri.promoted, q, "rung %d promoted %ld of %ld runs (eta %ld)", k, ri.promoted, ri.reached, eta);
  long *order = malloc(sizeof(long) * (size_t)(ri.reached + 1));
  gs_sched_rung_runs(s, k, order, ri.reached);
  long pos = -1;
  for (long p = 0; p < ri.reached; p++)
    if (order[p] == a->run) pos = p;
  free(order);
  cr_assert(pos >= 0 && pos < q, "run %ld promoted from rung %d at position %ld, top %ld", a->run, k, pos, q);
}

/* Drive a scheduler to the end with W worker groups. A report arrives in a fixed order: the job
 * with the smallest key (the seq of the event that sent it plus its duration; ties by run), so
 * the order depends only on the scheduler's decisions, and a resumed scheduler (whose resends
 * carry their original seq) sees the same order as an uninterrupted one. */
static void drive(gs_sched *s, int W, const world *w, lines *log, long check_eta) {
  job *fl = calloc((size_t)W, sizeof *fl);
  int nin = 0;
  for (long steps = 0;; steps++) {
    cr_assert_lt(steps, 10000000, "no end");
    gs_sched_action a;
    while (nin < W) {
      gs_sched_action_kind k = gs_sched_next(s, &a);
      drain(s, log);
      if (k == GS_SCHED_WAIT || k == GS_SCHED_DONE) {
        cr_assert(k == GS_SCHED_WAIT || nin == 0, "done while %d runs train", nin);
        break;
      }
      cr_assert_eq(a.resource, gs_sched_resource(s, a.rung));
      cr_assert_eq(a.from_resource, a.rung ? gs_sched_resource(s, a.rung - 1) : 0);
      if (k == GS_SCHED_CONTINUE && check_eta && !a.resent) check_promotion(s, &a, check_eta);
      fl[nin++] = (job){a.run, a.resource, a.rung, (double)a.seq + world_duration(w, a.run, a.from_resource, a.resource)};
    }
    if (nin == 0) {
      cr_assert_eq(gs_sched_next(s, &a), GS_SCHED_DONE, "nothing training, yet not done");
      break;
    }
    int b = 0;
    for (int i = 1; i < nin; i++)
      if (fl[i].key < fl[b].key || (fl[i].key == fl[b].key && fl[i].run < fl[b].run)) b = i;
    job j = fl[b];
    fl[b] = fl[--nin];
    gs_error err = {0};
    cr_assert_eq(gs_sched_report(s, j.run, j.resource, world_metric(w, j.run, j.resource), &err), 0, "%s", err.msg);
    drain(s, log);
  }
  free(fl);
}

/* Every run finished or stopped, and each rung's counts add up. */
static void check_end(const gs_sched *s) {
  for (long i = 0; i < gs_sched_nruns(s); i++) {
    gs_sched_run_info ri;
    cr_assert_eq(gs_sched_run_info_get(s, i, &ri), 0);
    cr_assert(ri.state == GS_SCHED_RUN_FINISHED || ri.state == GS_SCHED_RUN_STOPPED, "run %ld in state %d at the end", i,
              (int)ri.state);
  }
  int K = gs_sched_nrungs(s);
  for (int k = 0; k < K; k++) {
    gs_sched_rung_info g;
    gs_sched_rung_info_get(s, k, &g);
    cr_assert_eq(g.running, 0);
    cr_assert_eq(g.waiting, 0);
    cr_assert_eq(g.reached, g.promoted + g.stopped + g.finished, "rung %d: %ld reached, %ld promoted, %ld stopped", k,
                 g.reached, g.promoted, g.stopped);
    if (k + 1 < K) {
      gs_sched_rung_info up;
      gs_sched_rung_info_get(s, k + 1, &up);
      cr_assert_eq(up.reached, g.promoted, "rung %d promoted %ld, rung %d reached %ld", k, g.promoted, k + 1, up.reached);
    }
  }
}

/* The runs that reported at rung k, best first. */
static long rung_runs(const gs_sched *s, int k, long *out) { return gs_sched_rung_runs(s, k, out, 1000); }

/* ------------------------------------------------------------------ rungs */

Test(scheduler, rung_arithmetic) {
  long r[GS_SCHED_MAX_RUNGS];
  struct {
    long min, max, eta;
    int n;
    long want[8];
  } cases[] = {
      {1, 9, 3, 3, {1, 3, 9}},         {1, 27, 3, 4, {1, 3, 9, 27}},     {1, 10, 3, 4, {1, 3, 9, 10}},
      {2, 20, 3, 4, {2, 6, 18, 20}},   {5, 5, 3, 1, {5}},                {1, 8, 2, 4, {1, 2, 4, 8}},
      {3, 100, 4, 4, {3, 12, 48, 100}}, {4, 5, 2, 2, {4, 5}},            {1, 2, 3, 2, {1, 2}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int n = gs_sched_rungs(cases[c].min, cases[c].max, cases[c].eta, r, GS_SCHED_MAX_RUNGS);
    cr_assert_eq(n, cases[c].n, "min %ld max %ld eta %ld: %d rungs", cases[c].min, cases[c].max, cases[c].eta, n);
    for (int k = 0; k < n; k++) cr_assert_eq(r[k], cases[c].want[k], "case %zu rung %d: %ld", c, k, r[k]);
  }
  /* no overflow at the top of long: 2^0 .. 2^62, then LONG_MAX itself */
  int n = gs_sched_rungs(1, 0x7fffffffffffffffL, 2, r, GS_SCHED_MAX_RUNGS);
  cr_assert_eq(n, 64);
  cr_assert_eq(r[62], 1L << 62);
  cr_assert_eq(r[63], 0x7fffffffffffffffL);
  cr_assert_eq(gs_sched_rungs(1, 9, 3, r, 1), 3, "the count even when it does not fit");
  cr_assert_eq(gs_sched_rungs(1, 9, 1, r, 8), -1);
  cr_assert_eq(gs_sched_rungs(0, 9, 3, r, 8), -1);
  cr_assert_eq(gs_sched_rungs(5, 4, 3, r, 8), -1);
  gs_sched *s = mk(GS_SCHED_SHA, GS_SCHED_MIN, 3, 2, 20, 4);
  cr_assert_eq(gs_sched_nrungs(s), 4);
  cr_assert_eq(gs_sched_resource(s, 3), 20);
  gs_sched_free(s);
}

Test(scheduler, create_refuses_bad_settings) {
  gs_error err = {0};
  const char *lab[3] = {"a", "b\tc", "d"};
  long perm[3] = {0, 2, 2};
  struct {
    gs_sched_config c;
    const char *words;
  } bad[] = {
      {{.reduction = 1, .min_resource = 1, .max_resource = 9, .nruns = 3}, "reduction (eta) is 1"},
      {{.reduction = 3, .min_resource = 0, .max_resource = 9, .nruns = 3}, "min_resource is 0"},
      {{.reduction = 3, .min_resource = 10, .max_resource = 9, .nruns = 3}, "max_resource 9 is below min_resource 10"},
      {{.reduction = 3, .min_resource = 1, .max_resource = 9, .nruns = -1}, "-1 runs"},
      {{.kind = 7, .reduction = 3, .min_resource = 1, .max_resource = 9, .nruns = 3}, "unknown kind 7"},
      {{.mode = 2, .reduction = 3, .min_resource = 1, .max_resource = 9, .nruns = 3}, "unknown mode 2"},
      {{.reduction = 3, .min_resource = 1, .max_resource = 9, .nruns = 3, .labels = lab}, "run 1: label"},
      {{.reduction = 3, .min_resource = 1, .max_resource = 9, .nruns = 3, .start_order = perm}, "start_order[2] = 2"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    gs_error_clear(&err);
    cr_assert_null(gs_sched_create(&bad[i].c, &err), "case %zu accepted", i);
    cr_assert_not_null(strstr(err.msg, bad[i].words), "case %zu: '%s' lacks '%s'", i, err.msg, bad[i].words);
  }
  gs_sched_kind k;
  gs_sched_mode m;
  cr_assert(gs_sched_kind_parse("asha", &k) == 0 && k == GS_SCHED_ASHA);
  cr_assert(gs_sched_mode_parse("max", &m) == 0 && m == GS_SCHED_MAX);
  cr_assert_eq(gs_sched_kind_parse("hyperband", &k), -1);
  cr_assert_str_eq(gs_sched_kind_name(GS_SCHED_SHA), "sha");
  cr_assert_str_eq(gs_sched_mode_name(GS_SCHED_MIN), "min");
  /* no runs: done at once */
  gs_sched *s = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 0);
  gs_sched_action a;
  cr_assert_eq(gs_sched_next(s, &a), GS_SCHED_DONE);
  gs_sched_free(s);
}

/* ------------------------------------------------------------------ sha */

/* Rung-0 metric i % 6 (ties across the cut), rung-1 metric i % 3, rung-2 metric 100 - i. */
static double m27(long run, int rung, double sign) {
  double m = rung == 0 ? run % 6 : rung == 1 ? run % 3 : rung == 2 ? 100 - run : run;
  return sign * m;
}

/* sha on 27 runs, eta 3, with W workers taking jobs in index order of completion; metric sign
 * -1 and mode max rank exactly like sign 1 and mode min. Returns the scheduler at the end. */
static gs_sched *sha27(long max_resource, gs_sched_mode mode, double sign, int W, lines *log) {
  gs_sched *s = mk(GS_SCHED_SHA, mode, 3, 1, max_resource, 27);
  gs_error err = {0};
  job fl[32];
  int nin = 0;
  for (;;) {
    gs_sched_action a;
    while (nin < W && (gs_sched_next(s, &a) == GS_SCHED_START || a.kind == GS_SCHED_CONTINUE))
      fl[nin++] = (job){a.run, a.resource, a.rung, 0};
    drain(s, log);
    if (nin == 0) {
      cr_assert_eq(a.kind, GS_SCHED_DONE);
      break;
    }
    cr_assert_neq(a.kind, GS_SCHED_DONE);
    /* reports in reverse order of sending: sha must not care */
    job j = fl[--nin];
    cr_assert_eq(gs_sched_report(s, j.run, j.resource, m27(j.run, j.rung, sign), &err), 0, "%s", err.msg);
    drain(s, log);
  }
  check_end(s);
  return s;
}

static void assert_set(const long *got, long n, const long *want, long nwant, const char *what) {
  cr_assert_eq(n, nwant, "%s: %ld runs, want %ld", what, n, nwant);
  for (long i = 0; i < n; i++) cr_assert_eq(got[i], want[i], "%s[%ld] = %ld, want %ld", what, i, got[i], want[i]);
}

static long promoted_to(const gs_sched *s, int rung, long *out) {
  long n = 0;
  for (long i = 0; i < gs_sched_nevents(s); i++) {
    const gs_sched_event *e = gs_sched_event_at(s, i);
    if (e->kind == GS_SCHED_EV_PROMOTE && e->rung == rung) out[n++] = e->run;
  }
  return n;
}

Test(scheduler, sha_27_runs_promotes_9_then_3_then_1) {
  /* rung 0 (resource 1): i % 6. Zeros: 0 6 12 18 24; ones: 1 7 13 19 25 -> the best 9 are the five
   * zeros and the ones of the four lowest indices (25 loses the tie). Promotions go out best first. */
  const long want1[] = {0, 6, 12, 18, 24, 1, 7, 13, 19};
  /* rung 1 (resource 3): i % 3 = 0 for 0 6 12 18 24 -> 0 6 12 by index */
  const long want2[] = {0, 6, 12};
  /* rung 2 (resource 9): 100 - i -> 12 best */
  const long want3[] = {12};
  long got[64];
  for (int W = 1; W <= 5; W += 4) {
    gs_sched *s = sha27(27, GS_SCHED_MIN, 1, W, NULL);
    assert_set(got, promoted_to(s, 1, got), want1, 9, "to rung 1");
    assert_set(got, promoted_to(s, 2, got), want2, 3, "to rung 2");
    assert_set(got, promoted_to(s, 3, got), want3, 1, "to rung 3");
    gs_sched_rung_info g;
    long expect_reached[] = {27, 9, 3, 1}, expect_promoted[] = {9, 3, 1, 0};
    for (int k = 0; k < 4; k++) {
      gs_sched_rung_info_get(s, k, &g);
      cr_assert_eq(g.reached, expect_reached[k]);
      cr_assert_eq(g.promoted, expect_promoted[k]);
      cr_assert_eq(g.stopped, k < 3 ? expect_reached[k] - expect_promoted[k] : 0);
    }
    cr_assert_eq(g.finished, 1);
    /* the rung tables best first, ties by index: rung 0 starts 0 6 12 18 24 1 7 13 19 25 2 ... */
    long n = rung_runs(s, 0, got);
    cr_assert_eq(n, 27);
    assert_set(got, 10, (long[]){0, 6, 12, 18, 24, 1, 7, 13, 19, 25}, 10, "rung 0 table");
    char d[300];
    gs_sched_describe(s, 25, d, sizeof d);
    cr_assert_str_eq(d, "stopped at rung 0 (resource 1 of 27): metric 1 ranked 10th of 27, not in the top 9");
    gs_sched_describe(s, 18, d, sizeof d);
    cr_assert_str_eq(d, "stopped at rung 1 (resource 3 of 27): metric 0 ranked 4th of 9, not in the top 3");
    gs_sched_describe(s, 12, d, sizeof d);
    cr_assert_str_eq(d, "finished at rung 3 (resource 27): metric 12 ranked 1st of 1");
    gs_sched_run_info ri;
    gs_sched_run_info_get(s, 18, &ri);
    cr_assert(ri.state == GS_SCHED_RUN_STOPPED && ri.rung == 1 && ri.why == GS_SCHED_WHY_NOT_TOP && ri.rank == 4 &&
              ri.of == 9 && ri.keep == 3 && ri.metric == 0);
    gs_sched_free(s);
  }
  /* resources 1, 3, 9: 27 -> 9 -> 3, and the 3 finish at 9 */
  gs_sched *s = sha27(9, GS_SCHED_MIN, 1, 3, NULL);
  assert_set(got, promoted_to(s, 1, got), want1, 9, "to rung 1");
  assert_set(got, promoted_to(s, 2, got), want2, 3, "to rung 2");
  gs_sched_rung_info g;
  gs_sched_rung_info_get(s, 2, &g);
  cr_assert_eq(g.finished, 3);
  cr_assert_eq(rung_runs(s, 2, got), 3);
  assert_set(got, 3, (long[]){12, 6, 0}, 3, "finished, best first");
  gs_sched_free(s);
}

Test(scheduler, sha_mode_max_ranks_like_min_of_the_negation) {
  lines a = {0}, b = {0};
  gs_sched *s1 = sha27(27, GS_SCHED_MIN, 1, 4, &a), *s2 = sha27(27, GS_SCHED_MAX, -1, 4, &b);
  cr_assert_eq(a.n, b.n);
  for (long i = 0; i < gs_sched_nevents(s1); i++) {
    const gs_sched_event *x = gs_sched_event_at(s1, i), *y = gs_sched_event_at(s2, i);
    cr_assert(x->kind == y->kind && x->run == y->run && x->rung == y->rung, "event %ld differs", i);
    if (x->kind == GS_SCHED_EV_REPORT) cr_assert_eq(x->metric, -y->metric);
  }
  long got[64];
  assert_set(got, promoted_to(s2, 3, got), (long[]){12}, 1, "max: to rung 3");
  lines_free(&a);
  lines_free(&b);
  gs_sched_free(s1);
  gs_sched_free(s2);
}

Test(scheduler, sha_decisions_do_not_depend_on_report_order) {
  /* the same metrics through 1, 2, 7 and 30 workers (different report orders): the same runs
   * promoted to each rung and the same stops */
  world w = {.seed = 5, .nan_rate = 0.1};
  long ref[4][64], nref[4];
  for (int t = 0; t < 4; t++) {
    int W = (int[]){1, 2, 7, 30}[t];
    gs_sched *s = mk(GS_SCHED_SHA, GS_SCHED_MIN, 3, 1, 27, 50);
    drive(s, W, &w, NULL, 0);
    check_end(s);
    for (int k = 1; k < 4; k++) {
      long got[64];
      long n = promoted_to(s, k, got);
      if (t == 0) {
        memcpy(ref[k], got, sizeof got);
        nref[k] = n;
        static const long want[] = {0, 16, 5, 1};
        cr_assert_eq(n, want[k], "rung %d: %ld promoted", k, n);
      } else {
        assert_set(got, n, ref[k], nref[k], "promotions");
      }
    }
    gs_sched_free(s);
  }
}

Test(scheduler, sha_nan_metrics_rank_last) {
  /* 9 runs, eta 3, resources 1, 3: runs 2 and 5 diverge (NaN), the others 10 - i */
  gs_sched *s = mk(GS_SCHED_SHA, GS_SCHED_MIN, 3, 1, 3, 9);
  gs_error err = {0};
  gs_sched_action a;
  while (gs_sched_next(s, &a) == GS_SCHED_START) {}
  for (long i = 0; i < 9; i++) cr_assert_eq(gs_sched_report(s, i, 1, i == 2 || i == 5 ? NAN : 10.0 - i, &err), 0);
  long got[16];
  cr_assert_eq(rung_runs(s, 0, got), 9);
  assert_set(got, 9, (long[]){8, 7, 6, 4, 3, 1, 0, 2, 5}, 9, "rung 0 with NaN last");
  char d[300];
  gs_sched_describe(s, 5, d, sizeof d);
  cr_assert_str_eq(d, "stopped at rung 0 (resource 1 of 3): metric nan ranked 9th of 9, not in the top 3");
  /* promoted, best first: 8 7 6 */
  for (long want = 8; want >= 6; want--) {
    cr_assert_eq(gs_sched_next(s, &a), GS_SCHED_CONTINUE);
    cr_assert_eq(a.run, want);
    cr_assert_eq(a.from_resource, 1);
    cr_assert_eq(a.resource, 3);
  }
  cr_assert_eq(gs_sched_next(s, &a), GS_SCHED_WAIT);
  /* at the last rung every metric NaN: they finish all the same */
  for (long i = 6; i <= 8; i++) cr_assert_eq(gs_sched_report(s, i, 3, NAN, &err), 0);
  cr_assert_eq(gs_sched_next(s, &a), GS_SCHED_DONE);
  cr_assert_eq(rung_runs(s, 1, got), 3);
  assert_set(got, 3, (long[]){6, 7, 8}, 3, "all NaN: by index");
  gs_sched_free(s);

  /* a rung of NaNs only, and fewer runs than eta: sha still promotes one (the lowest index) */
  s = mk(GS_SCHED_SHA, GS_SCHED_MAX, 3, 1, 9, 2);
  while (gs_sched_next(s, &a) == GS_SCHED_START) {}
  cr_assert_eq(gs_sched_report(s, 1, 1, NAN, &err), 0);
  cr_assert_eq(gs_sched_report(s, 0, 1, NAN, &err), 0);
  cr_assert_eq(gs_sched_next(s, &a), GS_SCHED_CONTINUE);
  cr_assert_eq(a.run, 0);
  gs_sched_free(s);
}

Test(scheduler, max_resource_off_the_eta_grid) {
  /* min 1, max 10, eta 3: rungs 1 3 9 10; 27 -> 9 -> 3 -> 1, the last step from 9 to 10 */
  long got[64];
  gs_sched *s = sha27(10, GS_SCHED_MIN, 1, 2, NULL);
  cr_assert_eq(gs_sched_nrungs(s), 4);
  assert_set(got, promoted_to(s, 3, got), (long[]){12}, 1, "to rung 3");
  gs_sched_free(s);
  /* min 2, max 20, eta 3 (rungs 2 6 18 20) with asha: resources sent are only these */
  world w = {.seed = 11};
  s = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 2, 20, 60);
  drive(s, 4, &w, NULL, 3);
  check_end(s);
  static const long rungs[] = {2, 6, 18, 20};
  for (long i = 0; i < gs_sched_nevents(s); i++) {
    const gs_sched_event *e = gs_sched_event_at(s, i);
    cr_assert_eq(e->resource, rungs[e->rung]);
  }
  gs_sched_rung_info g;
  gs_sched_rung_info_get(s, 3, &g);
  cr_assert_geq(g.finished, 1, "some run reaches 20");
  gs_sched_free(s);
}

/* ------------------------------------------------------------------ asha */

Test(scheduler, asha_invariants_with_simulated_workers) {
  struct {
    long n, eta, min, max;
    int W;
  } cfg[] = {{27, 3, 1, 27, 4}, {81, 3, 1, 81, 8}, {100, 2, 1, 16, 5}, {40, 4, 2, 64, 3},
             {10, 3, 1, 9, 1},  {1, 3, 1, 9, 2},   {5, 3, 3, 3, 2},    {64, 3, 1, 10, 64}};
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++)
    for (uint64_t seed = 1; seed <= 6; seed++) {
      world w = {.seed = seed, .nan_rate = seed % 2 ? 0.1 : 0};
      for (int mode = 0; mode < 2; mode++) {
        gs_sched *s = mk(GS_SCHED_ASHA, (gs_sched_mode)mode, cfg[c].eta, cfg[c].min, cfg[c].max, cfg[c].n);
        drive(s, cfg[c].W, &w, NULL, cfg[c].eta);
        check_end(s);
        /* a stopped run never trains again; each run starts once; every rung's promotions are
         * at most floor(reached / eta) */
        char *stopped = calloc((size_t)cfg[c].n, 1);
        long starts = 0;
        for (long i = 0; i < gs_sched_nevents(s); i++) {
          const gs_sched_event *e = gs_sched_event_at(s, i);
          cr_assert_eq(e->seq, i);
          if (e->kind == GS_SCHED_EV_STOP) stopped[e->run] = 1;
          if (e->kind == GS_SCHED_EV_PROMOTE || e->kind == GS_SCHED_EV_START) cr_assert(!stopped[e->run]);
          starts += e->kind == GS_SCHED_EV_START;
        }
        cr_assert_eq(starts, cfg[c].n);
        free(stopped);
        for (int k = 0; k + 1 < gs_sched_nrungs(s); k++) {
          gs_sched_rung_info g;
          gs_sched_rung_info_get(s, k, &g);
          cr_assert_leq(g.promoted, g.reached / cfg[c].eta);
        }
        long full = 1; /* eta^(K-1) runs: enough for a run to get to the top */
        for (int k = 1; k < gs_sched_nrungs(s); k++) full *= cfg[c].eta;
        if (cfg[c].n >= full) {
          gs_sched_rung_info g;
          gs_sched_rung_info_get(s, gs_sched_nrungs(s) - 1, &g);
          cr_assert_geq(g.finished, 1, "case %zu seed %lu: no run finished", c, (unsigned long)seed);
        }
        gs_sched_free(s);
      }
    }
}

Test(scheduler, asha_promotes_as_results_arrive) {
  /* eta 3, rungs 1 3 9: after 3 reports the best of them is promoted at once, before new starts */
  gs_sched *s = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 20);
  gs_error err = {0};
  gs_sched_action a;
  for (long i = 0; i < 3; i++) cr_assert(gs_sched_next(s, &a) == GS_SCHED_START && a.run == i);
  cr_assert_eq(gs_sched_report(s, 0, 1, 5.0, &err), 0);
  cr_assert_eq(gs_sched_report(s, 1, 1, 3.0, &err), 0);
  cr_assert(gs_sched_next(s, &a) == GS_SCHED_START && a.run == 3, "two reports: no promotion yet");
  cr_assert_eq(gs_sched_report(s, 2, 1, 4.0, &err), 0);
  cr_assert_eq(gs_sched_next(s, &a), GS_SCHED_CONTINUE);
  cr_assert(a.run == 1 && a.rung == 1 && a.from_resource == 1 && a.resource == 3);
  char d[300];
  gs_sched_describe(s, 2, d, sizeof d);
  cr_assert_str_eq(d, "at rung 0 (resource 1 of 9): metric 4 ranked 2nd of 3, not promoted yet (1 promoted)");
  gs_sched_describe(s, 1, d, sizeof d);
  cr_assert_str_eq(d, "training to rung 1 (resource 3, from 1)");
  /* 3 better runs arrive: run 2 is pushed out; the rung (6 reported) promotes the 2nd, run 3 */
  cr_assert(gs_sched_next(s, &a) == GS_SCHED_START && a.run == 4);
  cr_assert(gs_sched_next(s, &a) == GS_SCHED_START && a.run == 5);
  cr_assert_eq(gs_sched_report(s, 3, 1, 1.0, &err), 0);
  cr_assert_eq(gs_sched_report(s, 4, 1, 2.0, &err), 0);
  cr_assert_eq(gs_sched_report(s, 5, 1, 2.5, &err), 0);
  cr_assert(gs_sched_next(s, &a) == GS_SCHED_CONTINUE && a.run == 3);
  /* the rung has promoted its floor(6/3) = 2: run 4, in the top 2 too, waits for more reports
   * (the paper would promote it now) */
  cr_assert(gs_sched_next(s, &a) == GS_SCHED_START && a.run == 6);
  gs_sched_free(s);
}

Test(scheduler, asha_stops_what_can_no_longer_be_promoted) {
  /* 6 runs, eta 3: rung 0 can promote at most 2, from its top 2 */
  gs_sched *s = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 6);
  gs_error err = {0};
  gs_sched_action a;
  for (long i = 0; i < 6; i++) gs_sched_next(s, &a);
  double m[6] = {1, 2, 3, 4, 5, 6};
  for (long i = 0; i < 2; i++) cr_assert_eq(gs_sched_report(s, i, 1, m[i], &err), 0);
  gs_sched_run_info ri;
  cr_assert_eq(gs_sched_report(s, 2, 1, m[2], &err), 0);
  gs_sched_run_info_get(s, 2, &ri);
  cr_assert_eq(ri.state, GS_SCHED_RUN_STOPPED, "3rd of at most 6: never in the top 2");
  cr_assert(ri.why == GS_SCHED_WHY_CANNOT_REACH && ri.rank == 3 && ri.of == 3 && ri.keep == 2);
  char d[300];
  gs_sched_describe(s, 2, d, sizeof d);
  cr_assert_str_eq(d, "stopped at rung 0 (resource 1 of 9): metric 3 ranked 3rd of 3 reported, below the top 2 the "
                      "rung can ever promote");
  gs_sched_run_info_get(s, 1, &ri);
  cr_assert_eq(ri.state, GS_SCHED_RUN_PAUSED);
  gs_sched_free(s);
}

Test(scheduler, asha_stops_when_the_rung_is_full) {
  /* 6 runs, eta 3: rung 0 promotes at most 2. Run 0 is promoted (best of the first 3), then
   * better runs arrive; when run 5 takes the second promotion, run 3 (2nd) can never go on */
  gs_sched *s = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 6);
  gs_error err = {0};
  gs_sched_action a;
  for (long i = 0; i < 6; i++) gs_sched_next(s, &a);
  double m[6] = {5, 6, 7, 1, 2, 0.5};
  for (long i = 0; i < 3; i++) cr_assert_eq(gs_sched_report(s, i, 1, m[i], &err), 0);
  cr_assert(gs_sched_next(s, &a) == GS_SCHED_CONTINUE && a.run == 0);
  for (long i = 3; i < 6; i++) cr_assert_eq(gs_sched_report(s, i, 1, m[i], &err), 0);
  gs_sched_run_info ri;
  gs_sched_run_info_get(s, 3, &ri);
  cr_assert_eq(ri.state, GS_SCHED_RUN_PAUSED);
  long nev = gs_sched_nevents(s);
  cr_assert(gs_sched_next(s, &a) == GS_SCHED_CONTINUE && a.run == 5);
  cr_assert_eq(gs_sched_nevents(s), nev + 2, "the promotion and the stop it forces");
  const gs_sched_event *e = gs_sched_event_at(s, nev + 1);
  cr_assert(e->kind == GS_SCHED_EV_STOP && e->run == 3 && e->why == GS_SCHED_WHY_RUNG_FULL && e->rank == 2 &&
            e->of == 6 && e->keep == 2);
  char d[300];
  gs_sched_describe(s, 3, d, sizeof d);
  cr_assert_str_eq(d, "stopped at rung 0 (resource 1 of 9): metric 1 ranked 2nd of 6 reported; the rung already "
                      "promoted the 2 it can");
  cr_assert_eq(gs_sched_next(s, &a), GS_SCHED_WAIT);
  gs_sched_rung_info g;
  gs_sched_rung_info_get(s, 0, &g);
  cr_assert(g.reached == 6 && g.promoted == 2 && g.stopped == 4 && g.waiting == 0 && g.running == 0);
  gs_sched_rung_info_get(s, 1, &g);
  cr_assert(g.reached == 0 && g.running == 2);
  gs_sched_free(s);
}

Test(scheduler, asha_ends_with_the_rest_stopped) {
  /* 4 runs, eta 3: rung 0 promotes 1 (floor 4/3); at rung 1 the lone run cannot be promoted
   * (floor 1/3 = 0): it is stopped, and the sweep is done with nothing at the top */
  gs_sched *s = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 4);
  world w = {.seed = 3};
  lines log = {0};
  drive(s, 2, &w, &log, 3);
  check_end(s);
  gs_sched_rung_info g;
  gs_sched_rung_info_get(s, 1, &g);
  cr_assert(g.reached == 1 && g.stopped == 1);
  gs_sched_rung_info_get(s, 2, &g);
  cr_assert_eq(g.reached, 0);
  long nstop = 0;
  for (long i = 0; i < gs_sched_nevents(s); i++) nstop += gs_sched_event_at(s, i)->kind == GS_SCHED_EV_STOP;
  cr_assert_eq(nstop, 4);
  lines_free(&log);
  gs_sched_free(s);
  /* one run: stopped at rung 0 */
  s = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 1);
  gs_sched_action a;
  gs_error err = {0};
  gs_sched_next(s, &a);
  cr_assert_eq(gs_sched_report(s, 0, 1, 2.0, &err), 0);
  gs_sched_run_info ri;
  gs_sched_run_info_get(s, 0, &ri);
  cr_assert(ri.state == GS_SCHED_RUN_STOPPED && ri.rung == 0);
  char d[300];
  gs_sched_describe(s, 0, d, sizeof d);
  cr_assert_str_eq(d, "stopped at rung 0 (resource 1 of 9): metric 2 ranked 1st of 1 reported; too few runs can reach "
                      "the rung for it to promote any");
  cr_assert_eq(gs_sched_next(s, &a), GS_SCHED_DONE);
  gs_sched_free(s);
}

/* ------------------------------------------------------------------ kill and replay */

static void kill_everywhere(gs_sched_kind kind, long n, long eta, long min, long max, int W, uint64_t seed) {
  gs_sched_config c = {.kind = kind, .mode = GS_SCHED_MIN, .reduction = eta, .min_resource = min, .max_resource = max,
                       .nruns = n};
  char **labels = malloc(sizeof(char *) * (size_t)n);
  for (long i = 0; i < n; i++) {
    labels[i] = malloc(32);
    snprintf(labels[i], 32, "sweep-lr-%ld", i);
  }
  c.labels = (const char *const *)labels;
  world w = {.seed = seed, .nan_rate = 0.05};
  gs_error err = {0};
  lines ref = {0};
  gs_sched *s = gs_sched_create(&c, &err);
  drive(s, W, &w, &ref, 0);
  check_end(s);
  gs_sched_free(s);
  cr_assert_gt(ref.n, 3 * n);
  for (long e = 0; e <= ref.n; e++) {
    gs_sched *r = gs_sched_create(&c, &err);
    lines log = {0};
    for (long i = 0; i < e; i++) {
      char where[64];
      snprintf(where, sizeof where, "ledger.log:%ld", i + 2);
      cr_assert_eq(gs_sched_replay(r, ref.v[i], where, &err), 0, "kill after %ld events: %s", e, err.msg);
      lines_add(&log, ref.v[i]);
    }
    drain(r, &log); /* a report's stops that the kill cut off */
    drive(r, W, &w, &log, 0);
    check_end(r);
    cr_assert_eq(log.n, ref.n, "kill after %ld events: %ld lines, uninterrupted %ld", e, log.n, ref.n);
    for (long i = 0; i < ref.n; i++)
      cr_assert_str_eq(log.v[i], ref.v[i], "kill after %ld events: line %ld differs", e, i);
    lines_free(&log);
    gs_sched_free(r);
  }
  lines_free(&ref);
  for (long i = 0; i < n; i++) free(labels[i]);
  free(labels);
}

Test(scheduler, kill_after_every_event_then_replay_sha) {
  kill_everywhere(GS_SCHED_SHA, 30, 3, 1, 27, 4, 21);
  kill_everywhere(GS_SCHED_SHA, 12, 2, 1, 10, 3, 22);
  kill_everywhere(GS_SCHED_SHA, 100, 3, 1, 81, 8, 23);
}

Test(scheduler, kill_after_every_event_then_replay_asha) {
  kill_everywhere(GS_SCHED_ASHA, 40, 3, 1, 27, 4, 31);
  kill_everywhere(GS_SCHED_ASHA, 25, 2, 2, 20, 6, 32);
  kill_everywhere(GS_SCHED_ASHA, 9, 3, 1, 9, 1, 33);
  kill_everywhere(GS_SCHED_ASHA, 100, 3, 1, 81, 8, 34);
}

Test(scheduler, replay_resends_what_was_training) {
  /* asha, 10 runs, 3 workers: kill once 5 runs have started and 2 reported */
  gs_sched *s = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 10);
  gs_error err = {0};
  gs_sched_action a;
  lines log = {0};
  for (int i = 0; i < 3; i++) gs_sched_next(s, &a);
  cr_assert_eq(gs_sched_report(s, 1, 1, 7.0, &err), 0);
  gs_sched_next(s, &a);
  cr_assert_eq(gs_sched_report(s, 0, 1, 8.0, &err), 0);
  gs_sched_next(s, &a);
  drain(s, &log);
  gs_sched *r = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 10);
  for (long i = 0; i < log.n; i++) cr_assert_eq(gs_sched_replay(r, log.v[i], "l", &err), 0, "%s", err.msg);
  gs_sched_event ev;
  cr_assert_eq(gs_sched_take(r, &ev), 0, "nothing new after a complete replay");
  /* training: runs 2, 3, 4 (sent as events 2, 4, 6): resent in that order, then new decisions */
  long want[] = {2, 3, 4}, seq[] = {2, 4, 6};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(gs_sched_next(r, &a), GS_SCHED_START);
    cr_assert(a.resent && a.run == want[i] && a.seq == seq[i] && a.resource == 1, "resend %d: run %ld seq %ld", i,
              a.run, a.seq);
  }
  cr_assert_eq(gs_sched_take(r, &ev), 0, "a resend is no new event");
  cr_assert_eq(gs_sched_next(r, &a), GS_SCHED_START);
  cr_assert(!a.resent && a.run == 5 && a.seq == 7);
  /* and replay is over once the job decides */
  cr_assert_eq(gs_sched_replay(r, log.v[0], "ledger.log:2", &err), -1);
  cr_assert_not_null(strstr(err.msg, "ledger.log:2: replay after"), "%s", err.msg);
  lines_free(&log);
  gs_sched_free(s);
  gs_sched_free(r);
}

/* ------------------------------------------------------------------ shards */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* One shard's turn: follow the lines the others wrote since its cursor (theirs: remote), then act,
 * then write its own events to the shared log (what runner/sweep.c does under scheduler.turn). */
static void follow(gs_sched *s, const lines *log, long *cur) {
  gs_error err = {0};
  for (; *cur < log->n; (*cur)++) {
    long seq = strtol(strchr(log->v[*cur], '\t') + 1, NULL, 10);
    if (seq < gs_sched_ntaken(s)) continue; /* its own line */
    cr_assert_eq(gs_sched_follow(s, log->v[*cur], 1, "shared", &err), 0, "%s", err.msg);
  }
}

/* S shards of W workers each, sharing one log; jobs finish in the order of a key (as in drive). */
static void drive_shards(gs_sched_kind kind, long n, long eta, long min, long max, int S, int W, const world *w,
                         lines *log) {
  gs_sched *sh[4];
  long cur[4] = {0};
  cr_assert_leq(S, 4);
  for (int i = 0; i < S; i++) sh[i] = mk(kind, GS_SCHED_MIN, eta, min, max, n);
  job *fl = calloc((size_t)(S * W), sizeof *fl);
  int *who = calloc((size_t)(S * W), sizeof *who), nin = 0;
  int done = 0;
  for (long steps = 0; !done; steps++) {
    cr_assert_lt(steps, 1000000, "no end");
    /* every shard fills its free workers */
    int busy[4] = {0};
    for (int i = 0; i < nin; i++) busy[who[i]]++;
    for (int sI = 0; sI < S; sI++)
      while (busy[sI] < W) {
        follow(sh[sI], log, &cur[sI]);
        gs_sched_action a;
        gs_sched_action_kind k = gs_sched_next(sh[sI], &a);
        drain(sh[sI], log);
        cur[sI] = log->n;
        if (k == GS_SCHED_WAIT || k == GS_SCHED_DONE) break;
        cr_assert(!a.resent);
        for (int i = 0; i < nin; i++) cr_assert_neq(fl[i].run, a.run, "run %ld sent twice", a.run);
        fl[nin] = (job){a.run, a.resource, a.rung, (double)a.seq + world_duration(w, a.run, a.from_resource, a.resource)};
        who[nin++] = sI;
        busy[sI]++;
      }
    if (nin == 0) {
      for (int sI = 0; sI < S; sI++) {
        follow(sh[sI], log, &cur[sI]);
        gs_sched_action a;
        cr_assert_eq(gs_sched_next(sh[sI], &a), GS_SCHED_DONE, "shard %d: nothing training, yet not done", sI);
        check_end(sh[sI]);
      }
      done = 1;
      break;
    }
    int b = 0;
    for (int i = 1; i < nin; i++)
      if (fl[i].key < fl[b].key || (fl[i].key == fl[b].key && fl[i].run < fl[b].run)) b = i;
    job j = fl[b];
    int sI = who[b];
    fl[b] = fl[nin - 1];
    who[b] = who[--nin];
    gs_error err = {0};
    follow(sh[sI], log, &cur[sI]);
    cr_assert_eq(gs_sched_report(sh[sI], j.run, j.resource, world_metric(w, j.run, j.resource), &err), 0, "%s",
                 err.msg);
    drain(sh[sI], log);
    cur[sI] = log->n;
  }
  free(fl);
  free(who);
  for (int i = 0; i < S; i++) gs_sched_free(sh[i]);
}

/* The log of shards is the history of one scheduler: it replays whole; sha's decisions are those of
 * one job; every run ends finished or stopped in every shard's view. */
Test(scheduler, shards_share_one_scheduler_through_the_log) {
  for (int kind = 0; kind < 2; kind++)
    for (uint64_t seed = 1; seed <= 5; seed++) {
      world w = {seed, 0.05};
      lines one = {0}, shared = {0};
      gs_sched *s = mk((gs_sched_kind)kind, GS_SCHED_MIN, 3, 1, 27, 40);
      drive(s, 4, &w, &one, 0);
      gs_sched_free(s);
      drive_shards((gs_sched_kind)kind, 40, 3, 1, 27, 3, 2, &w, &shared);
      gs_sched *r = mk((gs_sched_kind)kind, GS_SCHED_MIN, 3, 1, 27, 40);
      gs_error err = {0};
      for (long i = 0; i < shared.n; i++)
        cr_assert_eq(gs_sched_replay(r, shared.v[i], "shared", &err), 0, "%s", err.msg);
      check_end(r);
      gs_sched_free(r);
      if (kind == GS_SCHED_SHA) { /* the same reports and stops, whatever the order */
        lines a = {0}, b = {0};
        for (long i = 0; i < one.n; i++)
          if (!strncmp(one.v[i], "report", 6) || !strncmp(one.v[i], "stop", 4)) lines_add(&a, strchr(strchr(one.v[i], '\t') + 1, '\t'));
        for (long i = 0; i < shared.n; i++)
          if (!strncmp(shared.v[i], "report", 6) || !strncmp(shared.v[i], "stop", 4)) lines_add(&b, strchr(strchr(shared.v[i], '\t') + 1, '\t'));
        cr_assert_eq(a.n, b.n);
        qsort(a.v, (size_t)a.n, sizeof *a.v, cmp_str);
        qsort(b.v, (size_t)b.n, sizeof *b.v, cmp_str);
        for (long i = 0; i < a.n; i++) cr_assert_str_eq(a.v[i], b.v[i], "seed %d", (int)seed);
        lines_free(&a);
        lines_free(&b);
      }
      lines_free(&one);
      lines_free(&shared);
    }
}

/* A shard that starts again hands out its own runs that were training, not the others' (remote);
 * adopt makes another shard's run its own, disown the reverse. */
Test(scheduler, follow_remote_runs_are_not_resent) {
  gs_sched *s = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 6);
  gs_error err = {0};
  gs_sched_action a;
  lines log = {0};
  for (int i = 0; i < 4; i++) gs_sched_next(s, &a); /* runs 0..3 */
  drain(s, &log);
  gs_sched *r = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 6);
  /* runs 0 and 2 were this shard's; 1 and 3 another's */
  for (long i = 0; i < log.n; i++) cr_assert_eq(gs_sched_follow(r, log.v[i], i % 2, "l", &err), 0, "%s", err.msg);
  cr_assert(!gs_sched_is_remote(r, 0) && gs_sched_is_remote(r, 1) && gs_sched_is_remote(r, 3));
  cr_assert_eq(gs_sched_next(r, &a), GS_SCHED_START);
  cr_assert(a.resent && a.run == 0);
  cr_assert_eq(gs_sched_next(r, &a), GS_SCHED_START);
  cr_assert(a.resent && a.run == 2);
  cr_assert_eq(gs_sched_next(r, &a), GS_SCHED_START);
  cr_assert(!a.resent && a.run == 4, "then new work, not the others' runs: run %ld", a.run);
  cr_assert_eq(gs_sched_adopt(r, 3), 0);
  cr_assert_eq(gs_sched_adopt(r, 3), -1, "adopted twice");
  cr_assert_eq(gs_sched_next(r, &a), GS_SCHED_START);
  cr_assert(a.resent && a.run == 3);
  cr_assert_eq(gs_sched_disown(r, 3), 0);
  cr_assert(gs_sched_is_remote(r, 3));
  cr_assert_eq(gs_sched_disown(r, 5), -1, "not training");
  /* follow also works after this job's own decisions (replay does not) */
  drain(r, NULL);
  cr_assert_eq(gs_sched_report(s, 1, 1, 5.0, &err), 0);
  lines more = {0};
  drain(s, &more);
  cr_assert_eq(gs_sched_follow(r, more.v[0], 1, "l", &err), -1, "r made a decision s did not: seq differs");
  lines_free(&more);
  lines_free(&log);
  gs_sched_free(s);
  gs_sched_free(r);
}

Test(scheduler, line_format_round_trip) {
  const char *lab[] = {"vae-lr-0.001", "vae-lr-0.01"};
  gs_sched_config c = {.kind = GS_SCHED_SHA, .reduction = 2, .min_resource = 1, .max_resource = 2, .nruns = 2,
                       .labels = lab};
  gs_error err = {0};
  gs_sched *s = gs_sched_create(&c, &err);
  gs_sched_action a;
  gs_sched_next(s, &a);
  gs_sched_next(s, &a);
  cr_assert_eq(gs_sched_report(s, 1, 1, 351.25, &err), 0);
  cr_assert_eq(gs_sched_report(s, 0, 1, 0.1 + 0.2, &err), 0);
  lines log = {0};
  drain(s, &log);
  cr_assert_eq(log.n, 5);
  cr_assert_str_eq(log.v[0], "start\t0\t0\t0\t1\t-\tvae-lr-0.001");
  cr_assert_str_eq(log.v[2], "report\t2\t1\t0\t1\t351.25\tvae-lr-0.01");
  cr_assert_str_eq(log.v[3], "report\t3\t0\t0\t1\t0.30000000000000004\tvae-lr-0.001");
  cr_assert_str_eq(log.v[4], "stop\t4\t1\t0\t1\t351.25\tvae-lr-0.01\tranked 2nd of 2, not in the top 1");
  gs_sched_event ev;
  char label[GS_SCHED_LABEL_MAX + 1];
  cr_assert_eq(gs_sched_parse(log.v[3], &ev, label, NULL, &err), 0, "%s", err.msg);
  cr_assert(ev.kind == GS_SCHED_EV_REPORT && ev.seq == 3 && ev.run == 0 && ev.rung == 0 && ev.resource == 1);
  cr_assert_eq(ev.metric, 0.1 + 0.2, "the metric reads back to the same double");
  cr_assert_str_eq(label, "vae-lr-0.001");
  cr_assert_eq(gs_sched_parse("report\t9\t1\t0\t1\t-inf\t-\n", &ev, NULL, NULL, &err), 0, "trailing newline: %s", err.msg);
  cr_assert(isinf(ev.metric) && ev.metric < 0);
  cr_assert_eq(gs_sched_parse("report\t9\t1\t0\t1\tnan\t-\r\n", &ev, NULL, NULL, &err), 0);
  cr_assert(isnan(ev.metric));
  /* without labels the field is "-" */
  gs_sched *u = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 1);
  gs_sched_next(u, &a);
  lines l2 = {0};
  drain(u, &l2);
  cr_assert_str_eq(l2.v[0], "start\t0\t0\t0\t1\t-\t-");
  lines_free(&l2);
  gs_sched_free(u);
  lines_free(&log);
  gs_sched_free(s);
}

/* Replay lines[0..n) into a fresh scheduler of these settings, then `bad`: must be refused with
 * a message that contains `where` and `words`, and leave the scheduler as it was. */
static void expect_refused(const gs_sched_config *c, lines *good, long n, const char *bad, const char *words) {
  gs_error err = {0};
  gs_sched *r = gs_sched_create(c, &err);
  for (long i = 0; i < n; i++) cr_assert_eq(gs_sched_replay(r, good->v[i], "ok", &err), 0, "%s", err.msg);
  long nev = gs_sched_nevents(r);
  gs_error_clear(&err);
  cr_assert_eq(gs_sched_replay(r, bad, "results/x/ledger.log:17", &err), -1, "accepted: %s", bad);
  cr_assert(strncmp(err.msg, "results/x/ledger.log:17: ", 25) == 0, "message does not name the line: %s", err.msg);
  cr_assert_not_null(strstr(err.msg, words), "'%s' lacks '%s'", err.msg, words);
  cr_assert_eq(gs_sched_nevents(r), nev, "a refused line changed the state");
  /* and the good line in its place still replays */
  if (n < good->n) cr_assert_eq(gs_sched_replay(r, good->v[n], "ok", &err), 0, "%s", err.msg);
  gs_sched_free(r);
}

Test(scheduler, replay_refuses_contradictions_and_garbage) {
  const char *lab[9] = {"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"};
  gs_sched_config c = {.kind = GS_SCHED_ASHA, .reduction = 3, .min_resource = 1, .max_resource = 9, .nruns = 9,
                       .labels = lab};
  gs_error err = {0};
  gs_sched *s = gs_sched_create(&c, &err);
  gs_sched_action a;
  lines log = {0};
  for (int i = 0; i < 3; i++) gs_sched_next(s, &a);         /* events 0 1 2: start 0 1 2 */
  gs_sched_report(s, 0, 1, 4.0, &err);                       /* 3 */
  gs_sched_report(s, 1, 1, 2.0, &err);                       /* 4 */
  gs_sched_report(s, 2, 1, 6.0, &err);                       /* 5 */
  gs_sched_next(s, &a);                                      /* 6: promote run 1 */
  drain(s, &log);
  /* where things stand: 3 reports at rung 0 (N = 9, top 3 may go on): no stop yet */
  cr_assert_str_eq(log.v[6], "promote\t6\t1\t1\t3\t-\tr1");
  /* promoting a run that never reported at that rung */
  expect_refused(&c, &log, 6, "promote\t6\t5\t1\t3\t-\tr5", "promote of run 5 at rung 1 (resource 3) contradicts the "
                                                            "state: run 5 is not started, and the decision here is to "
                                                            "promote run 1 to rung 1");
  /* promoting the wrong one of two that reported */
  expect_refused(&c, &log, 6, "promote\t6\t0\t1\t3\t-\tr0", "run 0 is at rung 0 (resource 1 of 9): metric 4 ranked 2nd");
  /* a start where the decision is a promotion */
  expect_refused(&c, &log, 6, "start\t6\t3\t0\t1\t-\tr3", "the decision here is to promote run 1");
  /* a report of a run that was not sent there */
  expect_refused(&c, &log, 3, "report\t3\t4\t0\t1\t1.5\tr4", "report of run 4 at resource 1, but run 4 is not started");
  expect_refused(&c, &log, 7, "report\t7\t1\t0\t1\t1.5\tr1", "but run 1 is training to rung 1 (resource 3, from 1)");
  /* a stop nothing forces */
  expect_refused(&c, &log, 6, "stop\t6\t2\t0\t1\t6\tr2", "nothing forces a stop here");
  /* seq out of order, repeated line */
  expect_refused(&c, &log, 4, log.v[3], "is event 3; event 4 comes next");
  /* another sweep's run, other rung settings */
  expect_refused(&c, &log, 0, "start\t0\t0\t0\t1\t-\tother", "the line names run 'other', this sweep's run 0 is 'r0'");
  expect_refused(&c, &log, 0, "start\t0\t0\t0\t2\t-\tr0", "rung 0 is resource 1 with these settings");
  expect_refused(&c, &log, 0, "start\t0\t0\t5\t2\t-\tr0", "these settings have rungs 0..2");
  expect_refused(&c, &log, 0, "start\t0\t12\t0\t1\t-\t-", "the sweep has runs 0..8");
  /* garbage */
  expect_refused(&c, &log, 0, "start\t0\t0\t0\t1", "a start line has 7 tab-separated fields (event, seq, run, rung, resource, metric, label) and an optional note; this one has 5");
  expect_refused(&c, &log, 0, "begin\t0\t0\t0\t1\t-\tr0", "'begin' is not a scheduler event");
  expect_refused(&c, &log, 0, "", "'' is not a scheduler event");
  expect_refused(&c, &log, 0, "start\t0\tx\t0\t1\t-\tr0", "run 'x' is not a whole number");
  expect_refused(&c, &log, 0, "start\t-1\t0\t0\t1\t-\tr0", "seq '-1' is not a whole number");
  expect_refused(&c, &log, 0, "start\t0\t0\t0\t1\t3.5\tr0", "a start line has metric '-'");
  expect_refused(&c, &log, 3, "report\t3\t0\t0\t1\tfast\tr0", "metric 'fast' is not a number");
  expect_refused(&c, &log, 3, "report\t3\t0\t0\t1\t1.5x\tr0", "metric '1.5x' is not a number");
  expect_refused(&c, &log, 3, "report\t3\t0\t0\t1\t1.5\tr0\tnote\tmore", "this one has 9");
  expect_refused(&c, &log, 0, "start\t0\t0\t0\t1\t-\t", "the label is empty");
  expect_refused(&c, &log, 0, "start\t0\t0\t0\t1\t-\tr0\nstart\t1\t1\t0\t1\t-\tr1", "a line break inside");
  gs_sched_free(s);
  lines_free(&log);

  /* a report whose stops were cut off: replay makes them, take returns them, and a line that is
   * not the forced stop is refused */
  gs_sched_config c2 = {.kind = GS_SCHED_SHA, .reduction = 3, .min_resource = 1, .max_resource = 3, .nruns = 3};
  s = gs_sched_create(&c2, &err);
  for (int i = 0; i < 3; i++) gs_sched_next(s, &a);
  for (long i = 0; i < 3; i++) gs_sched_report(s, i, 1, (double)(3 - i), &err);
  drain(s, &log); /* 3 starts, 3 reports, stops of run 1 and run 0 */
  cr_assert_eq(log.n, 8);
  cr_assert_str_eq(log.v[6], "stop\t6\t1\t0\t1\t2\t-\tranked 2nd of 3, not in the top 1");
  expect_refused(&c2, &log, 6, "stop\t6\t0\t0\t1\t3\t-", "the report of event 5 forces the stop of run 1 at rung 0");
  expect_refused(&c2, &log, 6, "promote\t6\t2\t1\t3\t-\t-", "forces the stop of run 1");
  expect_refused(&c2, &log, 6, "stop\t6\t1\t0\t1\t2.5\t-", "forces the stop of run 1");
  gs_sched *r = gs_sched_create(&c2, &err);
  for (long i = 0; i < 6; i++) cr_assert_eq(gs_sched_replay(r, log.v[i], "l", &err), 0, "%s", err.msg);
  gs_sched_event ev;
  cr_assert(gs_sched_take(r, &ev) && ev.kind == GS_SCHED_EV_STOP && ev.run == 1 && ev.seq == 6);
  cr_assert(gs_sched_take(r, &ev) && ev.kind == GS_SCHED_EV_STOP && ev.run == 0 && ev.seq == 7);
  cr_assert_eq(gs_sched_take(r, &ev), 0);
  cr_assert(gs_sched_next(r, &a) == GS_SCHED_CONTINUE && a.run == 2 && !a.resent);
  gs_sched_free(r);
  gs_sched_free(s);
  lines_free(&log);
}

Test(scheduler, report_refuses_what_was_not_sent) {
  gs_sched *s = mk(GS_SCHED_ASHA, GS_SCHED_MIN, 3, 1, 9, 3);
  gs_error err = {0};
  gs_sched_action a;
  cr_assert_eq(gs_sched_report(s, 0, 1, 1.0, &err), -1);
  cr_assert_str_eq(err.msg, "scheduler: report of run 0 at resource 1, but run 0 is not started");
  gs_sched_next(s, &a);
  cr_assert_eq(gs_sched_report(s, 0, 3, 1.0, &err), -1);
  cr_assert_not_null(strstr(err.msg, "run 0 is training to rung 0 (resource 1)"), "%s", err.msg);
  cr_assert_eq(gs_sched_report(s, 7, 1, 1.0, &err), -1);
  cr_assert_not_null(strstr(err.msg, "runs 0..2"), "%s", err.msg);
  cr_assert_eq(gs_sched_report(s, 0, 1, 1.0, &err), 0);
  cr_assert_eq(gs_sched_report(s, 0, 1, 1.0, &err), -1, "twice");
  gs_sched_free(s);
}

Test(scheduler, start_order) {
  long order[4] = {3, 1, 0, 2};
  gs_sched_config c = {.kind = GS_SCHED_SHA, .reduction = 2, .min_resource = 1, .max_resource = 2, .nruns = 4,
                       .start_order = order};
  gs_error err = {0};
  gs_sched *s = gs_sched_create(&c, &err);
  gs_sched_action a;
  for (int i = 0; i < 4; i++) cr_assert(gs_sched_next(s, &a) == GS_SCHED_START && a.run == order[i]);
  /* ties still by index, not by start order */
  for (long i = 0; i < 4; i++) gs_sched_report(s, order[i], 1, 1.0, &err);
  cr_assert(gs_sched_next(s, &a) == GS_SCHED_CONTINUE && a.run == 0);
  cr_assert(gs_sched_next(s, &a) == GS_SCHED_CONTINUE && a.run == 1);
  cr_assert_eq(gs_sched_next(s, &a), GS_SCHED_WAIT);
  gs_sched_free(s);
}

/* ------------------------------------------------------------------ cost */

/* CPU time of this thread: a slice another process takes on a loaded machine is not the
 * scheduler's cost, and must not fail the test */
static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

Test(scheduler, a_decision_at_1000_runs_is_cheap) {
  /* tests/bench/bench_scheduler.c measures it (microseconds); here only an absurd cost fails */
  for (int kind = 0; kind < 2; kind++) {
    gs_sched *s = mk((gs_sched_kind)kind, GS_SCHED_MIN, 3, 1, 81, 1000);
    world w = {.seed = 9, .nan_rate = 0.02};
    job fl[16];
    int nin = 0;
    double worst = 0;
    gs_error err = {0};
    for (;;) {
      gs_sched_action a;
      for (;;) {
        double t0 = now_s();
        gs_sched_action_kind k = nin < 16 ? gs_sched_next(s, &a) : GS_SCHED_WAIT;
        worst = fmax(worst, now_s() - t0);
        if (k != GS_SCHED_START && k != GS_SCHED_CONTINUE) break;
        fl[nin++] = (job){a.run, a.resource, a.rung, (double)a.seq + world_duration(&w, a.run, a.from_resource, a.resource)};
      }
      drain(s, NULL);
      if (nin == 0) break;
      int b = 0;
      for (int i = 1; i < nin; i++)
        if (fl[i].key < fl[b].key) b = i;
      job j = fl[b];
      fl[b] = fl[--nin];
      double t0 = now_s();
      cr_assert_eq(gs_sched_report(s, j.run, j.resource, world_metric(&w, j.run, j.resource), &err), 0);
      worst = fmax(worst, now_s() - t0);
    }
    check_end(s);
    cr_assert_lt(worst, 0.05, "%s: a decision took %.1f ms", gs_sched_kind_name((gs_sched_kind)kind), worst * 1e3);
    gs_sched_free(s);
  }
}
