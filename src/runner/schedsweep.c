/* A sweep's early-stopping scheduler: its settings from the experiment's [sweep] keys, checked
 * against the runs, and its decisions so far replayed from the ledger. Shared by the job's
 * coordinator (runner/sweep.c) and `gensweep status`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/io/ledger.h"
#include "gensweep/models/model.h"
#include "gensweep/runner/runner.h"

int gs_sweep_has_scheduler(const gs_sweep *sw) {
  return sw->base.scheduler[0] && strcmp(sw->base.scheduler, "none") != 0;
}

typedef struct replay_ctx {
  gs_sweep_sched *ss;
  const char *dir;
  int live;             /* following other jobs' lines: every send is theirs */
  long n;
  gs_error *err;
} replay_ctx;

int gs_sweep_sched_tag(const char *line) {
  const char *t = strstr(line, "\tshard ");
  if (!t) return -1;
  char *end;
  long i = strtol(t + 7, &end, 10);
  return end != t + 7 && *end == '/' && i >= 0 && i < 100000 ? (int)i : -1;
}

static int replay_line(const gs_ledger_entry *e, void *ctx) {
  replay_ctx *x = ctx;
  if (strcmp(e->state, "sched") != 0) return 0;
  char where[1200];
  snprintf(where, sizeof where, "%s/%s:%ld", x->dir, GS_LEDGER_FILE, e->line);
  gs_sched_event ev;
  if (gs_sched_parse(e->message, &ev, NULL, where, x->err) != 0) return -1;
  if (x->live && ev.seq < gs_sched_ntaken(x->ss->s)) {
    /* a line this job wrote itself, or read before: its event is known, and must be that one (two
     * shards that decided at once would each skip the other's line and go on apart) */
    const gs_sched_event *k = gs_sched_event_at(x->ss->s, ev.seq);
    if (k && k->kind == ev.kind && k->run == ev.run && k->rung == ev.rung &&
        (k->metric == ev.metric || (isnan(k->metric) && isnan(ev.metric))))
      return 0;
    gs_fail(x->err, "%s: event %ld of the scheduler is not the one this shard has (two shards decided at once? "
            "scheduler.turn's lock must work on this file system)", where, ev.seq);
    return -1;
  }
  int remote = x->live, tag = gs_sweep_sched_tag(e->message);
  if (!x->live && x->ss->shard >= 0) remote = (tag < 0 ? 0 : tag) != x->ss->shard;
  if (gs_sched_follow(x->ss->s, e->message, remote, where, x->err) != 0) return -1;
  if (x->ss->sent_by && (ev.kind == GS_SCHED_EV_START || ev.kind == GS_SCHED_EV_PROMOTE))
    x->ss->sent_by[ev.run] = tag < 0 ? 0 : tag;
  x->n++;
  return 0;
}

long gs_sweep_sched_follow(gs_sweep_sched *ss, const char *dir, gs_error *err) {
  replay_ctx x = {ss, dir, 1, 0, err};
  if (gs_ledger_each_new(dir, &ss->cur, replay_line, &x, err) != 0) return -1;
  ss->replayed += x.n;
  return x.n;
}

int gs_sweep_sched_open(const gs_sweep *sw, const char *dir, int shard, gs_sweep_sched *out, gs_error *err) {
  memset(out, 0, sizeof *out);
  out->shard = shard;
  const gs_config *b = &sw->base;
  gs_sched_config sc = {.reduction = b->sched_reduction, .min_resource = b->sched_min_resource, .nruns = sw->nruns};
  if (gs_sched_kind_parse(b->scheduler, &sc.kind) != 0 || gs_sched_mode_parse(b->sched_mode, &sc.mode) != 0)
    return gs_fail(err, "sweep.scheduler = %s, sweep.mode = %s: not a scheduler and a mode", b->scheduler,
                   b->sched_mode);
  /* every run trains to the same last rung: its own train.epochs, whatever its other keys */
  long E = 0;
  const char *headline = NULL;
  for (long i = 0; i < sw->nruns; i++) {
    long e = gs_model_epochs(&sw->runs[i].cfg);
    if (i == 0) E = e;
    else if (e != E)
      return gs_fail(err, "sweep.scheduler = %s: runs %s and %s train %ld and %ld epochs; early stopping needs one "
                     "length (the last rung) for every run", b->scheduler, sw->runs[0].id, sw->runs[i].id, E, e);
    const gs_model_def *def = gs_model_find(sw->runs[i].cfg.model);
    const char *h = def && def->headline ? def->headline : "";
    if (!b->sched_metric[0] && headline && strcmp(h, headline) != 0)
      return gs_fail(err, "sweep.scheduler = %s: the runs' models report different headline metrics (%s, %s): set "
                     "sweep.metric", b->scheduler, headline, h);
    headline = h;
  }
  if (b->sched_max_resource > 0 && sw->nruns > 0 && b->sched_max_resource != E)
    return gs_fail(err, "sweep.max_resource = %ld but the runs train %ld epochs (train.epochs): they must agree, "
                   "since the last rung trains a run to its end", b->sched_max_resource, E);
  if (sw->nruns > 0 && b->sched_min_resource > E)
    return gs_fail(err, "sweep.min_resource = %ld is more than the runs' %ld epochs", b->sched_min_resource, E);
  GS_STRCPY(out->metric, b->sched_metric[0] ? b->sched_metric : headline ? headline : "");
  if (!out->metric[0])
    return gs_fail(err, "sweep.scheduler = %s: set sweep.metric (the model has no headline metric)", b->scheduler);
  sc.max_resource = E > 0 ? E : 1;
  if (sc.min_resource > sc.max_resource) sc.min_resource = sc.max_resource;
  const char **labels = gs_malloc(sizeof(char *) * (size_t)(sw->nruns ? sw->nruns : 1));
  for (long i = 0; i < sw->nruns; i++) labels[i] = sw->runs[i].id;
  sc.labels = labels;
  out->s = gs_sched_create(&sc, err);
  free(labels);
  if (!out->s) return -1;
  out->sent_by = gs_calloc((size_t)(sw->nruns ? sw->nruns : 1), sizeof(int));
  out->E = sc.max_resource;
  replay_ctx x = {out, dir, 0, 0, err};
  if (gs_ledger_each_new(dir, &out->cur, replay_line, &x, err) != 0) {
    char m[sizeof err->msg];
    GS_STRCPY(m, err->msg);
    gs_sched_free(out->s);
    out->s = NULL;
    free(out->sent_by);
    out->sent_by = NULL;
    return gs_fail(err, "%s (the ledger's early-stopping decisions do not fit this sweep: was the line damaged or "
                   "edited, or were the sweep's runs or sweep.* settings changed since? Start a new sweep "
                   "(sweep.name) to use new settings)", m);
  }
  out->replayed = x.n;
  return 0;
}

void gs_sweep_sched_close(gs_sweep_sched *s) {
  if (s->s) gs_sched_free(s->s);
  s->s = NULL;
  free(s->sent_by);
  s->sent_by = NULL;
}

void gs_sweep_sched_print(const gs_sweep *sw, const gs_sweep_sched *s, FILE *out) {
  const gs_config *b = &sw->base;
  int K = gs_sched_nrungs(s->s);
  fprintf(out, "early stopping: %s on %s (%s is better), eta %ld\n", b->scheduler, s->metric,
          strcmp(b->sched_mode, "max") == 0 ? "larger" : "smaller", b->sched_reduction);
  fprintf(out, "  rung  epochs  reached  training  promoted  stopped  waiting  best\n");
  for (int k = 0; k < K; k++) {
    gs_sched_rung_info ri;
    gs_sched_rung_info_get(s->s, k, &ri);
    long best = -1;
    gs_sched_rung_runs(s->s, k, &best, 1);
    char bb[300] = "-";
    if (best >= 0) {
      gs_sched_run_info r;
      gs_sched_run_info_get(s->s, best, &r);
      snprintf(bb, sizeof bb, "%.6g (%s)", r.rung == k ? r.metric : NAN, sw->runs[best].id);
      /* the run's metric at this rung: its last reported one is at a later rung when promoted on */
      if (r.rung != k) snprintf(bb, sizeof bb, "%s", sw->runs[best].id);
    }
    if (k == K - 1)
      fprintf(out, "  %-4d  %-6ld  %-7ld  %-8ld  %-8s  %-7s  %-7s  %s\n", k, ri.resource, ri.reached, ri.running,
              "-", "-", "-", bb);
    else
      fprintf(out, "  %-4d  %-6ld  %-7ld  %-8ld  %-8ld  %-7ld  %-7ld  %s\n", k, ri.resource, ri.reached, ri.running,
              ri.promoted, ri.stopped, ri.waiting, bb);
  }
}
