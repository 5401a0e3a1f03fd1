/* Successive halving, synchronous (sha) and asynchronous (asha): the decision core of early
 * stopping. Contract, rung arithmetic, the ledger line and the measured cost:
 * include/gensweep/runner/scheduler.h.
 *
 * State. Each rung keeps the runs that reported at it, sorted best first (an insertion per
 * report: a binary search and a memmove), with their metric beside them, so a decision reads
 * the top of a rung without sorting. Each run keeps its state, its rung and its last metric;
 * each rung counts its runs training, promoted, stopped and waiting, so the status queries and
 * the stop rule are counts, not scans. Every start, promote, report and stop is appended to one
 * event list; the caller takes them in order and writes them to its ledger. */
#include "gensweep/runner/scheduler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  double metric;
  long run;
} entry;

typedef struct rung_t {
  long resource;
  entry *e;          /* [cnt] the runs that reported here, best first */
  long cnt, cap;
  long running;      /* runs training to this rung */
  long promoted;     /* of cnt: sent on (sha: also chosen to go on) */
  long stopped;      /* of cnt: stopped here */
  long waiting;      /* of cnt: state PAUSED here */
  long expected;     /* sha: runs sent to this rung in all (rung 0: every run); -1 unknown yet */
} rung_t;

typedef struct run_t {
  unsigned char state;      /* gs_sched_run_state */
  unsigned char dispatched; /* RUNNING: 1 handed to a worker by this process; 0 replayed, to hand out
                               again; 2 another job's (a shard's), never handed out here */
  signed char rung;         /* RUNNING: the rung it trains to; else its last reported rung, -1 */
  unsigned char why;        /* STOPPED: gs_sched_why */
  double metric;            /* at its last reported rung; NaN */
  long sent_seq;            /* RUNNING: the event that sent it */
  long rank, of, keep;      /* STOPPED: as in its stop event */
} run_t;

struct gs_sched {
  gs_sched_kind kind;
  gs_sched_mode mode;
  long eta, n;
  int K;                    /* rungs */
  rung_t rung[GS_SCHED_MAX_RUNGS];
  run_t *runs;              /* [n] */
  char **labels;            /* [n] or NULL */
  long *order;              /* [n] the start order */
  long next_start;          /* runs order[0..next_start) have started */
  long in_flight;           /* runs RUNNING */
  long undispatched;        /* of those: replayed, not handed out since */
  int sha_rung;             /* sha: the rung whose chosen runs are handed out; -1 none */
  long sha_pos;             /*      the position in it of the next one */
  gs_sched_event *ev;       /* [nev] every event so far */
  long nev, evcap;
  long ntaken;              /* events [0, ntaken) are taken (or were replayed) */
  int live;                 /* next or report called: no more replay */
};

/* ------------------------------------------------------------------ names and rungs */

static const char *kind_names[] = {"sha", "asha"};
static const char *mode_names[] = {"min", "max"};
static const char *event_names[] = {"start", "promote", "report", "stop"};

const char *gs_sched_kind_name(gs_sched_kind k) { return (unsigned)k < 2 ? kind_names[k] : "?"; }
const char *gs_sched_mode_name(gs_sched_mode m) { return (unsigned)m < 2 ? mode_names[m] : "?"; }

int gs_sched_kind_parse(const char *w, gs_sched_kind *out) {
  for (int i = 0; i < 2; i++)
    if (w && strcmp(w, kind_names[i]) == 0) return *out = (gs_sched_kind)i, 0;
  return -1;
}

int gs_sched_mode_parse(const char *w, gs_sched_mode *out) {
  for (int i = 0; i < 2; i++)
    if (w && strcmp(w, mode_names[i]) == 0) return *out = (gs_sched_mode)i, 0;
  return -1;
}

int gs_sched_rungs(long min, long max, long eta, long *out, int cap) {
  if (eta < 2 || min < 1 || max < min) return -1;
  int k = 0;
  for (long r = min;;) {
    if (r >= max) r = max;
    if (k < cap) out[k] = r;
    k++;
    if (r == max) return k;
    r = r > max / eta ? max : r * eta; /* no overflow: capped before it could */
  }
}

/* ------------------------------------------------------------------ ranking */

/* 1 if (x, a) ranks before (y, b) at a rung: the better metric, NaN last, ties by run index. */
static int before(const gs_sched *s, double x, long a, double y, long b) {
  int xn = isnan(x), yn = isnan(y);
  if (xn || yn) return xn != yn ? yn : a < b;
  if (x != y) return s->mode == GS_SCHED_MIN ? x < y : x > y;
  return a < b;
}

static void rung_insert(gs_sched *s, rung_t *g, long run, double metric) {
  if (g->cnt == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 16;
    g->e = gs_realloc(g->e, sizeof *g->e * (size_t)g->cap);
  }
  long lo = 0, hi = g->cnt; /* first position whose entry ranks after the new one */
  while (lo < hi) {
    long mid = lo + (hi - lo) / 2;
    if (before(s, g->e[mid].metric, g->e[mid].run, metric, run)) lo = mid + 1;
    else hi = mid;
  }
  memmove(g->e + lo + 1, g->e + lo, sizeof *g->e * (size_t)(g->cnt - lo));
  g->e[lo] = (entry){metric, run};
  g->cnt++;
}

/* Position (0 = best) of run at rung k, or -1. */
static long rung_pos(const gs_sched *s, int k, long run) {
  const rung_t *g = &s->rung[k];
  for (long p = 0; p < g->cnt; p++)
    if (g->e[p].run == run) return p;
  return -1;
}

/* ------------------------------------------------------------------ create / free */

gs_sched *gs_sched_create(const gs_sched_config *c, gs_error *err) {
  long res[GS_SCHED_MAX_RUNGS];
  if (!c) return gs_fail(err, "scheduler: no settings"), NULL;
  if ((unsigned)c->kind > GS_SCHED_ASHA) return gs_fail(err, "scheduler: unknown kind %d", (int)c->kind), NULL;
  if ((unsigned)c->mode > GS_SCHED_MAX) return gs_fail(err, "scheduler: unknown mode %d", (int)c->mode), NULL;
  if (c->reduction < 2)
    return gs_fail(err, "scheduler: reduction (eta) is %ld; it must be at least 2", c->reduction), NULL;
  if (c->min_resource < 1)
    return gs_fail(err, "scheduler: min_resource is %ld; it must be at least 1", c->min_resource), NULL;
  if (c->max_resource < c->min_resource)
    return gs_fail(err, "scheduler: max_resource %ld is below min_resource %ld", c->max_resource, c->min_resource), NULL;
  if (c->nruns < 0 || c->nruns > GS_SCHED_MAX_RUNS)
    return gs_fail(err, "scheduler: %ld runs; between 0 and %ld are possible", c->nruns, GS_SCHED_MAX_RUNS), NULL;
  int K = gs_sched_rungs(c->min_resource, c->max_resource, c->reduction, res, GS_SCHED_MAX_RUNGS);
  if (K > GS_SCHED_MAX_RUNGS) /* cannot happen: 64 rungs need eta^63 <= LONG_MAX / min */
    return gs_fail(err, "scheduler: %d rungs, at most %d", K, GS_SCHED_MAX_RUNGS), NULL;
  long n = c->nruns;
  if (c->labels)
    for (long i = 0; i < n; i++) {
      const char *l = c->labels[i];
      size_t len = l ? strlen(l) : 0;
      if (!l || len == 0 || strcmp(l, "-") == 0 || len > GS_SCHED_LABEL_MAX || strpbrk(l, "\t\r\n"))
        return gs_fail(err, "scheduler: run %ld: label '%.40s' is %s", i, l ? l : "",
                       !l || len == 0 ? "empty" : strcmp(l, "-") == 0 ? "'-', which means no label"
                       : len > GS_SCHED_LABEL_MAX ? "too long" : "not one line without tabs"), NULL;
    }
  if (c->start_order) {
    char *seen = gs_calloc((size_t)n + 1, 1);
    for (long i = 0; i < n; i++) {
      long r = c->start_order[i];
      if (r < 0 || r >= n || seen[r]) {
        free(seen);
        return gs_fail(err, "scheduler: start_order[%ld] = %ld: not a permutation of 0..%ld", i, r, n - 1), NULL;
      }
      seen[r] = 1;
    }
    free(seen);
  }

  gs_sched *s = gs_calloc(1, sizeof *s);
  s->kind = c->kind;
  s->mode = c->mode;
  s->eta = c->reduction;
  s->n = n;
  s->K = K;
  for (int k = 0; k < K; k++) {
    s->rung[k].resource = res[k];
    s->rung[k].expected = k == 0 ? n : -1;
  }
  s->runs = gs_calloc((size_t)n + 1, sizeof *s->runs);
  for (long i = 0; i < n; i++) {
    s->runs[i].state = GS_SCHED_RUN_PENDING;
    s->runs[i].rung = -1;
    s->runs[i].metric = NAN;
  }
  s->order = gs_malloc(sizeof *s->order * ((size_t)n + 1));
  for (long i = 0; i < n; i++) s->order[i] = c->start_order ? c->start_order[i] : i;
  if (c->labels) {
    s->labels = gs_calloc((size_t)n + 1, sizeof *s->labels);
    for (long i = 0; i < n; i++) s->labels[i] = gs_strdup(c->labels[i]);
  }
  s->sha_rung = -1;
  return s;
}

void gs_sched_free(gs_sched *s) {
  if (!s) return;
  for (int k = 0; k < s->K; k++) free(s->rung[k].e);
  if (s->labels)
    for (long i = 0; i < s->n; i++) free(s->labels[i]);
  free(s->labels);
  free(s->runs);
  free(s->order);
  free(s->ev);
  free(s);
}

/* ------------------------------------------------------------------ events */

static gs_sched_event *push_event(gs_sched *s, gs_sched_event_kind kind, long run, int rung, double metric) {
  if (s->nev == s->evcap) {
    s->evcap = s->evcap ? 2 * s->evcap : 256;
    s->ev = gs_realloc(s->ev, sizeof *s->ev * (size_t)s->evcap);
  }
  gs_sched_event *e = &s->ev[s->nev];
  *e = (gs_sched_event){.kind = kind, .seq = s->nev, .run = run, .rung = rung,
                        .resource = s->rung[rung].resource, .metric = metric};
  s->nev++;
  return e;
}

int gs_sched_take(gs_sched *s, gs_sched_event *ev) {
  if (s->ntaken >= s->nev) return 0;
  *ev = s->ev[s->ntaken++];
  return 1;
}

long gs_sched_nevents(const gs_sched *s) { return s->nev; }
long gs_sched_ntaken(const gs_sched *s) { return s->ntaken; }

const gs_sched_event *gs_sched_event_at(const gs_sched *s, long i) {
  return i >= 0 && i < s->nev ? &s->ev[i] : NULL;
}

/* ------------------------------------------------------------------ decisions */

/* What a free worker gets in this state, without changing it (resends aside: gs_sched_next). */
static gs_sched_action_kind decide(const gs_sched *s, gs_sched_action *a) {
  *a = (gs_sched_action){.kind = GS_SCHED_WAIT, .run = -1, .rung = -1, .seq = -1};
  if (s->kind == GS_SCHED_ASHA) {
    /* Algorithm 2: promotions first, from the top rung down; the best candidate of a rung */
    for (int k = s->K - 2; k >= 0; k--) {
      const rung_t *g = &s->rung[k];
      long q = g->cnt / s->eta;
      if (g->promoted >= q || g->waiting == 0) continue;
      for (long p = 0; p < q; p++) {
        const run_t *r = &s->runs[g->e[p].run];
        if (r->state == GS_SCHED_RUN_PAUSED && r->rung == k) {
          a->kind = GS_SCHED_CONTINUE;
          a->run = g->e[p].run;
          a->rung = k + 1;
          goto found;
        }
      }
    }
  } else if (s->sha_rung >= 0 && s->sha_pos < s->rung[s->sha_rung + 1].expected) {
    /* sha: the chosen runs of the last complete rung, best first (they are its top positions) */
    a->kind = GS_SCHED_CONTINUE;
    a->run = s->rung[s->sha_rung].e[s->sha_pos].run;
    a->rung = s->sha_rung + 1;
    goto found;
  }
  if (s->next_start < s->n) {
    a->kind = GS_SCHED_START;
    a->run = s->order[s->next_start];
    a->rung = 0;
    goto found;
  }
  a->kind = s->in_flight > 0 ? GS_SCHED_WAIT : GS_SCHED_DONE;
  return a->kind;
found:
  a->resource = s->rung[a->rung].resource;
  a->from_resource = a->rung > 0 ? s->rung[a->rung - 1].resource : 0;
  return a->kind;
}

static void stop_run(gs_sched *s, long run, int k, gs_sched_why why, long rank, long of, long keep);
static void settle_asha(gs_sched *s);

/* Carry out a START or CONTINUE that decide() returned; records its event (and, asha, the stops
 * a promotion forces: the rung may have used its last promotion). */
static void apply_send(gs_sched *s, gs_sched_action *a, int dispatched) {
  run_t *r = &s->runs[a->run];
  if (a->kind == GS_SCHED_START) {
    s->next_start++;
  } else {
    rung_t *from = &s->rung[a->rung - 1];
    if (s->kind == GS_SCHED_SHA) {
      s->sha_pos++; /* counted as promoted when chosen */
    } else {
      from->promoted++;
      from->waiting--;
    }
  }
  r->state = GS_SCHED_RUN_RUNNING;
  r->rung = (signed char)a->rung;
  r->dispatched = (unsigned char)dispatched;
  s->in_flight++;
  if (!dispatched) s->undispatched++;
  s->rung[a->rung].running++;
  gs_sched_event *e = push_event(s, a->kind == GS_SCHED_START ? GS_SCHED_EV_START : GS_SCHED_EV_PROMOTE,
                                 a->run, a->rung, NAN);
  r->sent_seq = a->seq = e->seq;
  a->resent = 0;
  if (s->kind == GS_SCHED_ASHA && a->kind == GS_SCHED_CONTINUE) settle_asha(s);
}

int gs_sched_disown(gs_sched *s, long run) {
  if (run < 0 || run >= s->n) return -1;
  run_t *r = &s->runs[run];
  if (r->state != GS_SCHED_RUN_RUNNING) return -1;
  if (r->dispatched == 0) s->undispatched--;
  r->dispatched = 2;
  return 0;
}

int gs_sched_adopt(gs_sched *s, long run) {
  if (run < 0 || run >= s->n) return -1;
  run_t *r = &s->runs[run];
  if (r->state != GS_SCHED_RUN_RUNNING || r->dispatched != 2) return -1;
  r->dispatched = 0;
  s->undispatched++;
  return 0;
}

int gs_sched_is_remote(const gs_sched *s, long run) {
  return run >= 0 && run < s->n && s->runs[run].state == GS_SCHED_RUN_RUNNING && s->runs[run].dispatched == 2;
}

gs_sched_action_kind gs_sched_next(gs_sched *s, gs_sched_action *a) {
  s->live = 1;
  if (s->undispatched > 0) { /* replayed sends whose worker died with the old job, oldest first */
    long best = -1;
    for (long i = 0; i < s->n; i++) {
      const run_t *r = &s->runs[i];
      if (r->state == GS_SCHED_RUN_RUNNING && !r->dispatched && (best < 0 || r->sent_seq < s->runs[best].sent_seq))
        best = i;
    }
    run_t *r = &s->runs[best];
    r->dispatched = 1;
    s->undispatched--;
    *a = (gs_sched_action){.kind = r->rung == 0 ? GS_SCHED_START : GS_SCHED_CONTINUE, .run = best, .rung = r->rung,
                           .resource = s->rung[r->rung].resource,
                           .from_resource = r->rung > 0 ? s->rung[r->rung - 1].resource : 0,
                           .seq = r->sent_seq, .resent = 1};
    return a->kind;
  }
  if (decide(s, a) == GS_SCHED_START || a->kind == GS_SCHED_CONTINUE) apply_send(s, a, 1);
  return a->kind;
}

static void stop_run(gs_sched *s, long run, int k, gs_sched_why why, long rank, long of, long keep) {
  run_t *r = &s->runs[run];
  r->state = GS_SCHED_RUN_STOPPED;
  r->why = (unsigned char)why;
  r->rank = rank;
  r->of = of;
  r->keep = keep;
  s->rung[k].stopped++;
  s->rung[k].waiting--;
  gs_sched_event *e = push_event(s, GS_SCHED_EV_STOP, run, k, r->metric);
  e->why = why;
  e->rank = rank;
  e->of = of;
  e->keep = keep;
}

/* The decisions a report forces in sha: when rung k is complete, its best max(1, floor(n/eta))
 * are chosen to go on (handed out by decide, best first) and the others stop. */
static void settle_sha(gs_sched *s, int k) {
  rung_t *g = &s->rung[k];
  if (k == s->K - 1 || g->cnt < g->expected) return;
  long q = g->cnt / s->eta;
  if (q < 1) q = 1;
  for (long p = 0; p < g->cnt; p++) {
    long run = g->e[p].run;
    if (p < q) {
      s->runs[run].state = GS_SCHED_RUN_PROMOTED;
      g->promoted++;
      g->waiting--;
    } else {
      stop_run(s, run, k, GS_SCHED_WHY_NOT_TOP, p + 1, g->cnt, q);
    }
  }
  s->rung[k + 1].expected = q;
  s->sha_rung = k;
  s->sha_pos = 0;
}

/* The stops a report or a promotion forces in asha. For rung j let N be the runs that reported
 * there or still may (every run not stopped below j). The rung promotes at most floor(N / eta)
 * in all, and only from its top floor(N / eta); positions only grow as better runs arrive. So a
 * waiting run outside that top, or any waiting run once the rung has promoted that many, will
 * never go on: stop it now. This also settles the end: once nothing trains and nothing is left
 * to start, rung 0 has N = n reports, so each of its waiting runs is outside the top floor(n/eta)
 * (or the rung would promote it); the promoted ones are all of rung 1's N, and so on up. */
static void settle_asha(gs_sched *s) {
  long stopped_below = 0;
  for (int j = 0; j < s->K - 1; j++) {
    rung_t *g = &s->rung[j];
    long bound = (s->n - stopped_below) / s->eta;
    if (g->waiting > 0) {
      int full = g->promoted >= bound;
      for (long p = full ? 0 : bound; p < g->cnt && g->waiting > 0; p++) {
        long run = g->e[p].run;
        if (s->runs[run].state == GS_SCHED_RUN_PAUSED && s->runs[run].rung == j)
          stop_run(s, run, j, full ? GS_SCHED_WHY_RUNG_FULL : GS_SCHED_WHY_CANNOT_REACH, p + 1, g->cnt, bound);
      }
    }
    stopped_below += g->stopped;
  }
}

static int describe_state(const gs_sched *s, long run, char *buf, size_t cap);

/* Is a report of (run, resource) acceptable? 0, or -1 with err (prefixed by where). */
static int check_report(const gs_sched *s, long run, long resource, const char *where, gs_error *err) {
  if (run < 0 || run >= s->n) return gs_fail(err, "%s: report of run %ld: the sweep has runs 0..%ld", where, run, s->n - 1);
  const run_t *r = &s->runs[run];
  if (r->state != GS_SCHED_RUN_RUNNING || s->rung[r->rung].resource != resource) {
    char st[300];
    describe_state(s, run, st, sizeof st);
    return gs_fail(err, "%s: report of run %ld at resource %ld, but run %ld is %s", where, run, resource, run, st);
  }
  return 0;
}

static void apply_report(gs_sched *s, long run, double metric) {
  run_t *r = &s->runs[run];
  int k = r->rung;
  rung_t *g = &s->rung[k];
  if (!r->dispatched) s->undispatched--;
  r->dispatched = 0;
  s->in_flight--;
  g->running--;
  r->metric = metric;
  r->state = k == s->K - 1 ? GS_SCHED_RUN_FINISHED : GS_SCHED_RUN_PAUSED;
  if (r->state == GS_SCHED_RUN_PAUSED) g->waiting++;
  rung_insert(s, g, run, metric);
  push_event(s, GS_SCHED_EV_REPORT, run, k, metric);
  if (s->kind == GS_SCHED_SHA) settle_sha(s, k);
  else settle_asha(s);
}

int gs_sched_report(gs_sched *s, long run, long resource, double metric, gs_error *err) {
  s->live = 1;
  if (check_report(s, run, resource, "scheduler", err) != 0) return -1;
  apply_report(s, run, metric);
  return 0;
}

/* ------------------------------------------------------------------ lines */

/* The shortest "%.*g" that reads back to x; "nan", "inf", "-inf". */
static void format_metric(double x, char *b, size_t n) {
  if (isnan(x)) {
    snprintf(b, n, "nan");
    return;
  }
  if (isinf(x)) {
    snprintf(b, n, x > 0 ? "inf" : "-inf");
    return;
  }
  for (int p = 1; p <= 17; p++) {
    snprintf(b, n, "%.*g", p, x);
    if (strtod(b, NULL) == x) return;
  }
}

static const char *ordinal(long k) {
  long t = k % 100;
  if (t >= 11 && t <= 13) return "th";
  return k % 10 == 1 ? "st" : k % 10 == 2 ? "nd" : k % 10 == 3 ? "rd" : "th";
}

/* Why a run stopped, after its metric: "ranked 5th of 9, not in the top 3". */
static int reason_text(gs_sched_why why, long rank, long of, long keep, char *b, size_t n) {
  switch (why) {
    case GS_SCHED_WHY_NOT_TOP:
      return snprintf(b, n, "ranked %ld%s of %ld, not in the top %ld", rank, ordinal(rank), of, keep);
    case GS_SCHED_WHY_CANNOT_REACH:
      return snprintf(b, n, "ranked %ld%s of %ld reported, below the top %ld the rung can ever promote", rank,
                      ordinal(rank), of, keep);
    case GS_SCHED_WHY_RUNG_FULL:
      if (keep == 0)
        return snprintf(b, n, "ranked %ld%s of %ld reported; too few runs can reach the rung for it to promote any",
                        rank, ordinal(rank), of);
      return snprintf(b, n, "ranked %ld%s of %ld reported; the rung already promoted the %ld it can", rank,
                      ordinal(rank), of, keep);
    default: return snprintf(b, n, "?");
  }
}

int gs_sched_format(const gs_sched *s, const gs_sched_event *ev, char *buf, size_t cap) {
  char m[32] = "-", note[200] = "";
  if (ev->kind == GS_SCHED_EV_REPORT || ev->kind == GS_SCHED_EV_STOP) format_metric(ev->metric, m, sizeof m);
  if (ev->kind == GS_SCHED_EV_STOP) {
    note[0] = '\t';
    reason_text(ev->why, ev->rank, ev->of, ev->keep, note + 1, sizeof note - 1);
  }
  const char *label = s->labels && ev->run >= 0 && ev->run < s->n ? s->labels[ev->run] : "-";
  int len = snprintf(buf, cap, "%s\t%ld\t%ld\t%d\t%ld\t%s\t%s%s", event_names[ev->kind], ev->seq, ev->run, ev->rung,
                     ev->resource, m, label, note);
  return len < 0 || (size_t)len >= cap ? -1 : len;
}

/* A field of digits only, into *out (>= 0). */
static int parse_count(const char *p, size_t n, long *out) {
  if (n == 0 || n > 18) return -1;
  long x = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    x = 10 * x + (p[i] - '0');
  }
  *out = x;
  return 0;
}

int gs_sched_parse(const char *line, gs_sched_event *ev, char *label, const char *where, gs_error *err) {
  if (!where) where = "scheduler line";
  if (!line) return gs_fail(err, "%s: no line", where);
  size_t len = strlen(line);
  if (len && line[len - 1] == '\n') len--;
  if (len && line[len - 1] == '\r') len--;
  if (len >= GS_SCHED_LINE_MAX)
    return gs_fail(err, "%s: a scheduler line of %zu bytes; at most %d", where, len, GS_SCHED_LINE_MAX - 1);
  if (memchr(line, '\n', len) || memchr(line, '\r', len)) return gs_fail(err, "%s: a line break inside the line", where);
  const char *f[10];
  size_t fl[10];
  int nf = 0;
  for (const char *p = line, *end = line + len;;) {
    const char *t = memchr(p, '\t', (size_t)(end - p));
    if (nf == 10) return gs_fail(err, "%s: more than 9 tab-separated fields", where);
    f[nf] = p;
    fl[nf++] = (size_t)((t ? t : end) - p);
    if (!t) break;
    p = t + 1;
  }
  int kind = -1;
  for (int i = 0; i < 4; i++)
    if (fl[0] == strlen(event_names[i]) && memcmp(f[0], event_names[i], fl[0]) == 0) kind = i;
  if (kind < 0)
    return gs_fail(err, "%s: '%.*s' is not a scheduler event (start, promote, report, stop)", where,
                   (int)(fl[0] > 20 ? 20 : fl[0]), f[0]);
  if (nf < 7 || nf > 8)
    return gs_fail(err, "%s: a %s line has 7 tab-separated fields (event, seq, run, rung, resource, metric, "
                   "label) and an optional note; this one has %d", where, event_names[kind], nf);
  *ev = (gs_sched_event){.kind = (gs_sched_event_kind)kind, .metric = NAN};
  long rung;
  static const char *names[] = {"", "seq", "run", "rung", "resource"};
  long *dst[] = {NULL, &ev->seq, &ev->run, &rung, &ev->resource};
  for (int i = 1; i <= 4; i++)
    if (parse_count(f[i], fl[i], dst[i]) != 0)
      return gs_fail(err, "%s: %s '%.*s' is not a whole number >= 0", where, names[i],
                     (int)(fl[i] > 24 ? 24 : fl[i]), f[i]);
  if (rung >= GS_SCHED_MAX_RUNGS) return gs_fail(err, "%s: rung %ld; there are at most %d", where, rung, GS_SCHED_MAX_RUNGS);
  ev->rung = (int)rung;
  if (kind == GS_SCHED_EV_START || kind == GS_SCHED_EV_PROMOTE) {
    if (fl[5] != 1 || f[5][0] != '-') return gs_fail(err, "%s: a %s line has metric '-'", where, event_names[kind]);
  } else {
    char buf[48], *endp;
    if (fl[5] == 0 || fl[5] >= sizeof buf || !(f[5][0] == '-' || f[5][0] == '+' || f[5][0] == '.' ||
                                               (f[5][0] >= '0' && f[5][0] <= '9') || f[5][0] == 'n' || f[5][0] == 'i'))
      return gs_fail(err, "%s: metric '%.*s' is not a number", where, (int)(fl[5] > 24 ? 24 : fl[5]), f[5]);
    memcpy(buf, f[5], fl[5]);
    buf[fl[5]] = 0;
    ev->metric = strtod(buf, &endp);
    if (*endp || endp == buf) return gs_fail(err, "%s: metric '%s' is not a number", where, buf);
  }
  if (fl[6] == 0 || fl[6] > GS_SCHED_LABEL_MAX)
    return gs_fail(err, "%s: the label is %s", where, fl[6] ? "too long" : "empty");
  if (label) {
    memcpy(label, f[6], fl[6]);
    label[fl[6]] = 0;
  }
  return 0;
}

/* "start of run 7 at rung 0 (resource 1)" */
static void event_text(const gs_sched_event *ev, char *b, size_t n) {
  snprintf(b, n, "%s of run %ld at rung %d (resource %ld)", event_names[ev->kind], ev->run, ev->rung, ev->resource);
}

static void decision_text(const gs_sched *s, const gs_sched_action *a, char *b, size_t n) {
  if (a->kind == GS_SCHED_START) snprintf(b, n, "to start run %ld", a->run);
  else if (a->kind == GS_SCHED_CONTINUE) snprintf(b, n, "to promote run %ld to rung %d", a->run, a->rung);
  else if (a->kind == GS_SCHED_WAIT) snprintf(b, n, "to wait (%ld runs training)", s->in_flight);
  else snprintf(b, n, "that the sweep is done");
}

int gs_sched_replay(gs_sched *s, const char *line, const char *where, gs_error *err) {
  if (s->live) return gs_fail(err, "%s: replay after this job made decisions of its own", where ? where : "scheduler line");
  return gs_sched_follow(s, line, 0, where, err);
}

int gs_sched_follow(gs_sched *s, const char *line, int remote, const char *where, gs_error *err) {
  if (!where) where = "scheduler line";
  gs_sched_event ev;
  char label[GS_SCHED_LABEL_MAX + 1], what[160], st[300];
  if (gs_sched_parse(line, &ev, label, where, err) != 0) return -1;
  event_text(&ev, what, sizeof what);
  if (ev.seq != s->ntaken)
    return gs_fail(err, "%s: %s is event %ld; event %ld comes next (a line lost, repeated or from another job?)", where,
                   what, ev.seq, s->ntaken);
  if (ev.run >= s->n) return gs_fail(err, "%s: %s: the sweep has runs 0..%ld", where, what, s->n - 1);
  if (ev.rung >= s->K || s->rung[ev.rung].resource != ev.resource) {
    if (ev.rung >= s->K) return gs_fail(err, "%s: %s: these settings have rungs 0..%d", where, what, s->K - 1);
    return gs_fail(err, "%s: %s: rung %d is resource %ld with these settings (min_resource, max_resource or reduction "
                   "changed?)", where, what, ev.rung, s->rung[ev.rung].resource);
  }
  if (s->labels && strcmp(label, "-") != 0 && strcmp(label, s->labels[ev.run]) != 0)
    return gs_fail(err, "%s: %s: the line names run '%s', this sweep's run %ld is '%s'", where, what, label, ev.run,
                   s->labels[ev.run]);

  if (s->ntaken < s->nev) { /* the report before this line forced events: this must be the next */
    const gs_sched_event *want = &s->ev[s->ntaken];
    char wtext[160];
    event_text(want, wtext, sizeof wtext);
    long cause = want->seq; /* the report or promotion that forced it */
    while (cause > 0 && s->ev[cause].kind == GS_SCHED_EV_STOP) cause--;
    if (ev.kind != want->kind || ev.run != want->run || ev.rung != want->rung ||
        !(ev.metric == want->metric || (isnan(ev.metric) && isnan(want->metric))))
      return gs_fail(err, "%s: %s contradicts the state: the %s of event %ld forces the %s here", where, what,
                     event_names[s->ev[cause].kind], cause, wtext);
    s->ntaken++;
    return 0;
  }
  gs_sched_action a;
  switch (ev.kind) {
    case GS_SCHED_EV_START:
    case GS_SCHED_EV_PROMOTE:
      decide(s, &a);
      if ((ev.kind == GS_SCHED_EV_START ? a.kind != GS_SCHED_START : a.kind != GS_SCHED_CONTINUE) || a.run != ev.run ||
          a.rung != ev.rung) {
        char dec[120];
        decision_text(s, &a, dec, sizeof dec);
        describe_state(s, ev.run, st, sizeof st);
        return gs_fail(err, "%s: %s contradicts the state: run %ld is %s, and the decision here is %s", where, what,
                       ev.run, st, dec);
      }
      apply_send(s, &a, remote ? 2 : 0);
      break;
    case GS_SCHED_EV_REPORT:
      if (check_report(s, ev.run, ev.resource, where, err) != 0) return -1;
      apply_report(s, ev.run, ev.metric);
      break;
    case GS_SCHED_EV_STOP:
      describe_state(s, ev.run, st, sizeof st);
      return gs_fail(err, "%s: %s contradicts the state: nothing forces a stop here, and run %ld is %s", where, what,
                     ev.run, st);
  }
  s->ntaken++;
  return 0;
}

/* ------------------------------------------------------------------ status */

int gs_sched_nrungs(const gs_sched *s) { return s->K; }
long gs_sched_nruns(const gs_sched *s) { return s->n; }
long gs_sched_resource(const gs_sched *s, int k) { return k >= 0 && k < s->K ? s->rung[k].resource : 0; }

int gs_sched_run_info_get(const gs_sched *s, long run, gs_sched_run_info *out) {
  if (run < 0 || run >= s->n) return -1;
  const run_t *r = &s->runs[run];
  *out = (gs_sched_run_info){.state = (gs_sched_run_state)r->state, .rung = r->rung,
                             .resource = r->rung >= 0 ? s->rung[r->rung].resource : 0, .metric = r->metric};
  if (r->state == GS_SCHED_RUN_STOPPED) {
    out->why = (gs_sched_why)r->why;
    out->rank = r->rank;
    out->of = r->of;
    out->keep = r->keep;
  }
  return 0;
}

int gs_sched_rung_info_get(const gs_sched *s, int k, gs_sched_rung_info *out) {
  if (k < 0 || k >= s->K) return -1;
  const rung_t *g = &s->rung[k];
  *out = (gs_sched_rung_info){.resource = g->resource, .reached = g->cnt, .running = g->running,
                              .promoted = g->promoted, .stopped = g->stopped, .waiting = g->waiting,
                              .finished = k == s->K - 1 ? g->cnt : 0};
  return 0;
}

long gs_sched_rung_runs(const gs_sched *s, int k, long *out, long cap) {
  if (k < 0 || k >= s->K) return 0;
  const rung_t *g = &s->rung[k];
  for (long p = 0; p < g->cnt && p < cap; p++) out[p] = g->e[p].run;
  return g->cnt;
}

static int describe_state(const gs_sched *s, long run, char *b, size_t n) {
  const run_t *r = &s->runs[run];
  int k = r->rung;
  long res = k >= 0 ? s->rung[k].resource : 0, max = s->rung[s->K - 1].resource;
  char m[32], why[200];
  format_metric(r->metric, m, sizeof m);
  long pos = k >= 0 && r->state != GS_SCHED_RUN_RUNNING ? rung_pos(s, k, run) + 1 : 0;
  const rung_t *g = k >= 0 ? &s->rung[k] : NULL;
  switch ((gs_sched_run_state)r->state) {
    case GS_SCHED_RUN_PENDING: return snprintf(b, n, "not started");
    case GS_SCHED_RUN_RUNNING:
      if (k == 0) return snprintf(b, n, "training to rung 0 (resource %ld)", res);
      return snprintf(b, n, "training to rung %d (resource %ld, from %ld)", k, res, s->rung[k - 1].resource);
    case GS_SCHED_RUN_PAUSED:
      if (s->kind == GS_SCHED_SHA)
        return snprintf(b, n, "at rung %d (resource %ld of %ld): metric %s ranked %ld%s of %ld so far, waiting for the "
                        "rung's other %ld runs", k, res, max, m, pos, ordinal(pos), g->cnt, g->expected - g->cnt);
      return snprintf(b, n, "at rung %d (resource %ld of %ld): metric %s ranked %ld%s of %ld, not promoted yet (%ld "
                      "promoted)", k, res, max, m, pos, ordinal(pos), g->cnt, g->promoted);
    case GS_SCHED_RUN_PROMOTED:
      return snprintf(b, n, "promoted from rung %d (resource %ld): metric %s ranked %ld%s of %ld; waiting for a worker",
                      k, res, m, pos, ordinal(pos), g->cnt);
    case GS_SCHED_RUN_STOPPED:
      reason_text((gs_sched_why)r->why, r->rank, r->of, r->keep, why, sizeof why);
      return snprintf(b, n, "stopped at rung %d (resource %ld of %ld): metric %s %s", k, res, max, m, why);
    case GS_SCHED_RUN_FINISHED:
      return snprintf(b, n, "finished at rung %d (resource %ld): metric %s ranked %ld%s of %ld", k, res, m, pos,
                      ordinal(pos), g->cnt);
  }
  return snprintf(b, n, "?");
}

int gs_sched_describe(const gs_sched *s, long run, char *buf, size_t cap) {
  if (run < 0 || run >= s->n) return snprintf(buf, cap, "no run %ld", run);
  return describe_state(s, run, buf, cap);
}
