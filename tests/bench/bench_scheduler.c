/* The cost of a successive-halving decision (runner/scheduler.h): a sweep of N runs (default
 * 1,000), eta 3, resources 1..81 (5 rungs), driven to the end by W simulated worker groups
 * (default 16) whose reports arrive in an order set by each job's length; every gs_sched_next
 * and gs_sched_report is timed on its own (wall clock, ~20 ns of clock reads on top), printed as
 * mean / median / 99th percentile / max. The max includes whatever the machine does meanwhile
 * (another process's slice, a page fault as the event list grows): on a shared machine it is
 * noise, the percentiles are the figure. Then the whole ledger the sweep wrote (every event formatted as a line) is replayed
 * into a fresh scheduler, as a resumed job does, and timed. Both kinds, asha and sha.
 *
 *   bench_scheduler [--runs 1000] [--workers 16] [--eta 3] [--max-resource 81] [--repeat 3]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gensweep/runner/scheduler.h"

/* CLOCK_MONOTONIC: ~20 ns a read (vDSO). The thread CPU-time clock would leave out other
 * processes' slices, but costs ~0.7 us a read on a VM, more than most calls measured here. */
static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
static double unif(long a, long b) { return (mix((uint64_t)a * 7919u + (uint64_t)b) >> 11) * 0x1p-53; }

/* a learning curve per run: falls with the resource towards the run's own final value */
static double metric(long run, long resource) {
  double final = 100 + 50 * unif(run, 1), start = 300 + 100 * unif(run, 2);
  return final + (start - final) / (1.0 + 0.5 * (double)resource) + 5 * unif(run, 3 + resource);
}

typedef struct {
  long run, resource;
  double end;
} job;

typedef struct {
  double *dt;
  long n, cap;
} timing;

static void add(timing *t, double dt) {
  if (t->n == t->cap) t->dt = realloc(t->dt, sizeof *t->dt * (size_t)(t->cap = t->cap ? 2 * t->cap : 1024));
  t->dt[t->n++] = dt;
}

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* "mean / median / 99th percentile / max" in microseconds */
static void summary(timing *t, char *buf, size_t n) {
  double sum = 0;
  for (long i = 0; i < t->n; i++) sum += t->dt[i];
  qsort(t->dt, (size_t)t->n, sizeof *t->dt, cmpd);
  snprintf(buf, n, "%.2f / %.2f / %.1f / %.1f us", 1e6 * sum / (double)t->n, 1e6 * t->dt[t->n / 2],
           1e6 * t->dt[(long)(0.99 * (double)(t->n - 1))], 1e6 * t->dt[t->n - 1]);
  free(t->dt);
}

static void bench(gs_sched_kind kind, long nruns, int W, long eta, long maxr) {
  gs_error err = {0};
  gs_sched_config c = {.kind = kind, .mode = GS_SCHED_MIN, .reduction = eta, .min_resource = 1,
                       .max_resource = maxr, .nruns = nruns};
  gs_sched *s = gs_sched_create(&c, &err);
  if (!s) {
    fprintf(stderr, "%s\n", err.msg);
    exit(1);
  }
  job *fl = calloc((size_t)W, sizeof *fl);
  int nin = 0;
  double clock = 0;
  timing tn = {0}, tr = {0};
  long cap = 1024, nl = 0;
  char **lines = malloc(sizeof *lines * (size_t)cap);
  gs_sched_event ev;
  for (;;) {
    gs_sched_action a;
    while (nin < W) {
      double t0 = now_s();
      gs_sched_action_kind k = gs_sched_next(s, &a);
      add(&tn, now_s() - t0);
      if (k != GS_SCHED_START && k != GS_SCHED_CONTINUE) break;
      fl[nin++] = (job){a.run, a.resource, clock + (double)(a.resource - a.from_resource) * (0.5 + unif(a.run, 99))};
    }
    while (gs_sched_take(s, &ev)) {
      if (nl == cap) lines = realloc(lines, sizeof *lines * (size_t)(cap *= 2));
      lines[nl] = malloc(GS_SCHED_LINE_MAX);
      gs_sched_format(s, &ev, lines[nl++], GS_SCHED_LINE_MAX);
    }
    if (nin == 0) break;
    int b = 0;
    for (int i = 1; i < nin; i++)
      if (fl[i].end < fl[b].end) b = i;
    job j = fl[b];
    fl[b] = fl[--nin];
    clock = j.end;
    double t0 = now_s();
    if (gs_sched_report(s, j.run, j.resource, metric(j.run, j.resource), &err) != 0) {
      fprintf(stderr, "%s\n", err.msg);
      exit(1);
    }
    add(&tr, now_s() - t0);
  }
  gs_sched_rung_info top;
  gs_sched_rung_info_get(s, gs_sched_nrungs(s) - 1, &top);

  gs_sched *r = gs_sched_create(&c, &err);
  double t0 = now_s();
  for (long i = 0; i < nl; i++)
    if (gs_sched_replay(r, lines[i], "bench", &err) != 0) {
      fprintf(stderr, "%s\n", err.msg);
      exit(1);
    }
  double replay = now_s() - t0;
  char sn[80], sr[80];
  summary(&tn, sn, sizeof sn);
  summary(&tr, sr, sizeof sr);
  printf("%-4s %6ld runs, %2d workers: next %s (%ld calls); report %s (%ld); replay of %ld lines %.2f ms; %ld "
         "finished at %ld\n", gs_sched_kind_name(kind), nruns, W, sn, tn.n, sr, tr.n, nl, 1e3 * replay, top.finished,
         top.resource);
  for (long i = 0; i < nl; i++) free(lines[i]);
  free(lines);
  free(fl);
  gs_sched_free(r);
  gs_sched_free(s);
}

int main(int argc, char **argv) {
  long nruns = 1000, eta = 3, maxr = 81;
  int W = 16, repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--runs") == 0) nruns = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--workers") == 0) W = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--eta") == 0) eta = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--max-resource") == 0) maxr = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--repeat") == 0) repeat = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "usage: %s [--runs N] [--workers W] [--eta E] [--max-resource R] [--repeat K]\n", argv[0]);
      return 2;
    }
  }
  if (nruns < 1 || W < 1 || eta < 2 || maxr < 1 || repeat < 1) {
    fprintf(stderr, "bench_scheduler: bad arguments\n");
    return 2;
  }
  for (int k = 0; k < repeat; k++) {
    bench(GS_SCHED_ASHA, nruns, W, eta, maxr);
    bench(GS_SCHED_SHA, nruns, W, eta, maxr);
  }
  return 0;
}
