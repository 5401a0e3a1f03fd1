/* `gensweep status`: where a sweep stands, from its ledger, its experiment copy and its files. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gensweep/runner/status.h"
#include "gensweep/runner/eta.h"
#include "gensweep/runner/runner.h"
#include "gensweep/models/model.h"
#include "gensweep/io/checkpoint.h"
#include "gensweep/io/record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


static void count(gs_status *st, gs_run_state rs) {
  st->total++;
  switch (rs) {
    case GS_RUN_PENDING: st->pending++; break;
    case GS_RUN_RUNNING: st->running++; break;
    case GS_RUN_FAILED: st->failed++; break;
    case GS_RUN_INTERRUPTED: st->interrupted++; break;
    case GS_RUN_DONE: st->done++; break;
  }
}

/* What the ledger (and the run's config, when the experiment copy is there: run not NULL) tells
 * the ETA about a run in state rs, at view index i (-1: no line). */
static gs_eta_run eta_input(const gs_run *run, gs_run_state rs, const gs_ledger_view *v, long i, double now) {
  gs_eta_run r = {.state = rs, .busy = -1};
  if (run) {
    r.cost = gs_run_cost(run);
    r.epochs = gs_model_epochs(&run->cfg);
  }
  const gs_ledger_summary *s = i >= 0 ? &v->sum[i] : NULL;
  if (rs == GS_RUN_DONE && s && s->attempts > 0) {
    r.busy = s->busy; /* all its attempts: the whole run (epoch0 0) */
  } else if (rs == GS_RUN_RUNNING) {
    if (s && s->open_since >= 0) {
      /* the open attempt's checkpointed epochs (a resume from a mid-epoch checkpoint counts its
       * first, partial epoch as whole: the ledger does not say; a little fast) */
      r.epoch0 = s->open_epoch0;
      r.epoch = s->open_epoch;
      r.t0 = s->open_base;
      r.t_epoch = s->open_epoch_time;
    } else {
      r.t0 = r.t_epoch = now; /* no 'started' line to time it from: a whole run left */
    }
  }
  return r;
}

void gs_status_compute(const gs_sweep *sw, const gs_ledger_view *v, double now, gs_status *st) {
  memset(st, 0, sizeof *st);
  long cap = sw ? sw->nruns : v->n;
  gs_eta_run *in = gs_malloc(sizeof *in * (size_t)(cap ? cap : 1));
  long n = 0;
  if (sw) {
    char *mark = gs_calloc((size_t)(v->n ? v->n : 1), 1);
    for (long r = 0; r < sw->nruns; r++) {
      const gs_run *run = &sw->runs[r];
      long i;
      int stale;
      gs_run_state rs = gs_ledger_run_state(v, run->id, run->hash, &i, &stale);
      count(st, rs);
      in[n++] = eta_input(run, rs, v, i, now);
      st->stale += stale;
      gs_ledger_mark_id(v, run->id, mark);
    }
    for (long i = 0; i < v->n; i++) st->orphans += !mark[i];
    free(mark);
  } else {
    /* no configs: no costs (all weigh the same) and no epoch counts (running runs are timed, not paced) */
    for (long i = 0; i < v->n; i++)
      if (gs_ledger_is_representative(v, i)) {
        gs_run_state rs = gs_ledger_state_of(v, i);
        count(st, rs);
        in[n++] = eta_input(NULL, rs, v, i, now);
      }
  }
  if (v->nentries > 0) {
    st->elapsed = fmax(0.0, now - v->first_time);
    st->idle = fmax(0.0, now - v->last_time);
  }
  /* the runs running now are the best guess of how many run at once: in an MPI job rank 0 writes
   * every line, so writer pids would say how many jobs write, not how many runs train */
  st->parallel = st->running > 1 ? st->running : 1;
  gs_eta e;
  st->eta = gs_eta_estimate(in, n, st->parallel, now, &e);
  st->mean_done = e.per_run;
  st->paced = e.source == GS_ETA_PACED ? e.nrate : 0;
  free(in);
}

static const char *fmt_dur(double s, char *buf, size_t n) {
  if (!(s > 0)) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 86400) snprintf(buf, n, "%ldd%02ldh%02ldm", t / 86400, t % 86400 / 3600, t % 3600 / 60);
  else if (t >= 3600) snprintf(buf, n, "%ldh%02ldm%02lds", t / 3600, t % 3600 / 60, t % 60);
  else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
  else snprintf(buf, n, "%lds", t);
  return buf;
}

static const char *fmt_epoch(long e, char *buf, size_t n) {
  if (e < 0) snprintf(buf, n, "-");
  else snprintf(buf, n, "%ld", e);
  return buf;
}

static double unix_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One line for a run that is not done or plainly pending. */
static void print_run(FILE *out, int idw, const char *id, gs_run_state rs, const gs_ledger_view *v, long i,
                      double now) {
  const gs_ledger_entry *e = &v->last[i];
  const gs_ledger_summary *s = &v->sum[i];
  char ep[32], d1[32], d2[32];
  const char *label = rs == GS_RUN_RUNNING ? "running" : rs == GS_RUN_INTERRUPTED ? "interrupted" : s->status;
  fprintf(out, "  %-12s %-*s  epoch %-5s", label, idw, id, fmt_epoch(s->epoch, ep, sizeof ep));
  if (rs == GS_RUN_RUNNING && s->open_since >= 0)
    fprintf(out, "  for %s, last line %s ago", fmt_dur(now - s->open_since, d1, sizeof d1),
            fmt_dur(now - e->time, d2, sizeof d2));
  if (gs_ledger_state_class(e->state) == GS_LSTATE_NOTE)
    fprintf(out, "  %s%s%s", e->state, e->message[0] ? ": " : "", e->message);
  else if (e->message[0])
    fprintf(out, "  %s", e->message);
  fputc('\n', out);
}

/* Read every run file, the checkpoint of every run not done, and sweep.h5 whole, checksums
 * included; one line per corrupt file. Returns how many are corrupt. */
static long check_files(const char *dir, const gs_sweep *sw, const gs_ledger_view *v, FILE *out,
                        long *corrupt_done) {
  long nrun = 0, nckpt = 0, nchecked = 0;
  *corrupt_done = 0;
  size_t pl = strlen(dir) + GS_MAX_RUN_ID + 32;
  char *path = gs_malloc(pl);
  for (long r = 0; r < sw->nruns; r++) {
    const gs_run *run = &sw->runs[r];
    gs_error e = {0};
    int done = 0;
    snprintf(path, pl, "%s/runs/%s.h5", dir, run->id);
    if (access(path, F_OK) == 0) {
      nchecked++;
      gs_run_summary s;
      if (gs_runfile_read_summary(path, &s, &e) != 0) {
        nrun++;
        if (gs_ledger_run_state(v, run->id, run->hash, NULL, NULL) == GS_RUN_DONE) (*corrupt_done)++;
        fprintf(out, "  %-12s %s  run file: %s (left out of sweep.h5; the next run of the sweep trains it again)\n",
                "corrupt", run->id, e.msg);
      } else {
        done = s.config_hash == run->hash && strcmp(s.status, "done") == 0;
      }
    }
    snprintf(path, pl, "%s/ckpt/%s.h5", dir, run->id);
    if (!done && access(path, F_OK) == 0) {
      nchecked++;
      /* a run that finishes meanwhile removes its checkpoint: gone is not corrupt */
      if (gs_checkpoint_verify(path, &e) != 0 && access(path, F_OK) == 0) {
        nckpt++;
        char prev[4200];
        gs_error e2 = {0};
        gs_checkpoint_prev_path(path, prev, sizeof prev);
        /* whole, and this run's (after a parameter change it may be the old parameters') */
        gs_checkpoint pk;
        memset(&pk, 0, sizeof pk);
        int prev_ok = access(prev, F_OK) == 0 && gs_checkpoint_verify(prev, &e2) == 0 &&
                      gs_checkpoint_peek(prev, &pk, &e2) == 0 && strcmp(pk.run_id, run->id) == 0 &&
                      pk.config_hash == run->hash;
        fprintf(out, "  %-12s %s  checkpoint: %s (the next run of the sweep %s)\n", "corrupt", run->id, e.msg,
                prev_ok ? "resumes this run from the previous checkpoint, which is whole" : "starts this run from scratch");
      }
    }
  }
  int bad_index = 0;
  snprintf(path, pl, "%s/sweep.h5", dir);
  if (access(path, F_OK) == 0) {
    gs_error e = {0};
    nchecked++;
    if (gs_sweepfile_verify(path, &e) != 0) {
      bad_index = 1;
      fprintf(out, "  %-12s sweep.h5: %s (`gensweep rebuild %s` writes it again from the run files)\n", "corrupt",
              e.msg, dir);
    }
  }
  free(path);
  long n = nrun + nckpt + bad_index;
  if (n)
    fprintf(out, "files:    %ld of %ld checked file%s corrupt: %ld run file%s, %ld checkpoint%s%s\n", n, nchecked,
            nchecked == 1 ? "" : "s", nrun, nrun == 1 ? "" : "s", nckpt, nckpt == 1 ? "" : "s",
            bad_index ? ", sweep.h5" : "");
  else
    fprintf(out, "files:    %ld checked, all whole (checksums match)\n", nchecked);
  return n;
}

int gs_status_print(const char *dir, FILE *out, gs_error *err) {
  struct stat dst;
  if (stat(dir, &dst) != 0) return gs_fail(err, "%s: %s", dir, strerror(errno));
  if (!S_ISDIR(dst.st_mode)) return gs_fail(err, "%s: not a directory (expected results/<sweep name>)", dir);

  char exp_path[1100], note[1400] = "";
  /* a directory with none of a sweep's files is not one (a typo, or results/ instead of
   * results/<sweep name>): saying "0 total" would read as an empty sweep */
  static const char *const marks[] = {"experiment.ini", "ledger.log", "sweep.h5", "runs"};
  int marked = 0;
  for (size_t i = 0; i < sizeof marks / sizeof *marks && !marked; i++) {
    snprintf(exp_path, sizeof exp_path, "%s/%s", dir, marks[i]);
    marked = access(exp_path, F_OK) == 0;
  }
  if (!marked)
    return gs_fail(err, "%s: not a sweep directory (no experiment.ini, ledger.log, sweep.h5 or runs/ in it); give "
                        "results/<sweep name>", dir);
  snprintf(exp_path, sizeof exp_path, "%s/experiment.ini", dir);
  gs_sweep sw;
  memset(&sw, 0, sizeof sw);
  int have_sw = 0;
  if (access(exp_path, F_OK) != 0) {
    snprintf(note, sizeof note, "the experiment copy %s is missing: showing what the ledger alone says "
             "(runs that never started are not known)", exp_path);
  } else {
    gs_error e2 = {0};
    if (gs_sweep_load(exp_path, gs_models_vocabulary(), &sw, &e2) == 0) have_sw = 1;
    else snprintf(note, sizeof note, "the experiment copy cannot be loaded (%s): showing what the ledger alone says",
                  e2.msg);
  }

  gs_ledger_view v;
  if (gs_ledger_read(dir, &v, err) != 0) {
    if (have_sw) gs_sweep_free(&sw);
    return -1;
  }
  double now = unix_now();
  gs_status st;
  gs_status_compute(have_sw ? &sw : NULL, &v, now, &st);
  /* Runs the ledger does not know (it was removed, or they were done before it existed) but
   * whose run files say done, for these parameters: counted done from their files. */
  long from_files = 0;
  for (long r = 0; have_sw && r < sw.nruns; r++) {
    if (gs_ledger_run_state(&v, sw.runs[r].id, sw.runs[r].hash, NULL, NULL) != GS_RUN_PENDING) continue;
    char rf[1400];
    snprintf(rf, sizeof rf, "%s/runs/%s.h5", dir, sw.runs[r].id);
    gs_run_summary rsum;
    gs_error e3 = {0};
    if (access(rf, F_OK) == 0 && gs_runfile_read_summary(rf, &rsum, &e3) == 0 && rsum.config_hash == sw.runs[r].hash &&
        strcmp(rsum.status, "done") == 0) {
      from_files++;
      st.done++;
      st.pending--;
    }
  }

  char d1[32], d2[32];
  const char *name = have_sw ? sw.base.sweep_name : NULL;
  if (!name) { /* the directory's own name */
    const char *slash = strrchr(dir, '/');
    name = slash && slash[1] ? slash + 1 : dir;
  }
  fprintf(out, "sweep:    %s  (%s)\n", name, dir);
  if (note[0]) fprintf(out, "note:     %s\n", note);
  fprintf(out, "runs:     %ld total: %ld done, %ld running, %ld failed, %ld interrupted, %ld pending", st.total, st.done,
          st.running, st.failed, st.interrupted, st.pending);
  if (st.stale) fprintf(out, " (%ld stale: parameters changed since their ledger lines)", st.stale);
  fputc('\n', out);
  if (v.nentries == 0) {
    fprintf(out, "ledger:   %s\n", v.nlines ? "no entries" : "empty or missing: nothing has run yet");
  } else {
    char when[64] = "?";
    time_t t0 = (time_t)v.first_time;
    struct tm tm;
    if (localtime_r(&t0, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(out, "ledger:   %ld lines, first entry %s, last entry %s ago\n", v.nlines, when,
            fmt_dur(st.idle, d1, sizeof d1));
    fprintf(out, "elapsed:  %s since the first ledger entry\n", fmt_dur(st.elapsed, d1, sizeof d1));
  }
  if (v.nbad)
    fprintf(out, "warning:  %ld malformed or torn ledger line%s skipped%s\n", v.nbad, v.nbad == 1 ? "" : "s",
            v.torn ? " (the last line is incomplete: a writer crashed, or is writing now)" : "");
  long remaining = st.running + st.interrupted + st.pending;
  if (remaining == 0)
    fprintf(out, "eta:      nothing left to run%s\n", st.failed ? " (failed runs are retried by running the sweep again)" : "");
  else if (st.eta < 0)
    fprintf(out, "eta:      unknown until a run is done%s (%ld left)\n",
            have_sw ? " or has checkpointed an epoch" : "", remaining);
  else if (st.paced)
    fprintf(out, "eta:      ~%s (%s: from the checkpointed epochs of %ld running run%s, a whole run ~%s)\n",
            fmt_dur(st.eta, d1, sizeof d1), st.done ? "no done run was timed" : "no run done yet", st.paced,
            st.paced == 1 ? "" : "s", fmt_dur(st.mean_done, d2, sizeof d2));
  else
    fprintf(out, "eta:      ~%s (done runs took %s on average; %ld left, weighed by %sprogress, %ld running at once)\n",
            fmt_dur(st.eta, d1, sizeof d1), fmt_dur(st.mean_done, d2, sizeof d2), remaining,
            have_sw ? "estimated cost and " : "", st.parallel);

  /* the runs that need a look: running, interrupted, failed, stale */
  int idw = 10;
  long unlogged = 0; /* pending runs with a run file: done before the ledger existed, or skipped */
  long nrows = have_sw ? sw.nruns : v.n;
  for (long r = 0; r < nrows; r++) {
    const char *id = have_sw ? sw.runs[r].id : v.last[r].run_id;
    int len = (int)strlen(id);
    if (len > idw) idw = len > 60 ? 60 : len;
  }
  for (long r = 0; r < nrows; r++) {
    long i;
    int stale = 0;
    const char *id;
    gs_run_state rs;
    if (have_sw) {
      id = sw.runs[r].id;
      rs = gs_ledger_run_state(&v, id, sw.runs[r].hash, &i, &stale);
    } else {
      if (!gs_ledger_is_representative(&v, r)) continue;
      i = r;
      id = v.last[r].run_id;
      rs = gs_ledger_state_of(&v, r);
    }
    if (rs == GS_RUN_RUNNING || rs == GS_RUN_INTERRUPTED || rs == GS_RUN_FAILED) {
      print_run(out, idw, id, rs, &v, i, now);
    } else if (rs == GS_RUN_PENDING && have_sw) {
      char rf[1400];
      snprintf(rf, sizeof rf, "%s/runs/%s.h5", dir, id);
      unlogged += access(rf, F_OK) == 0;
    }
    if (stale) {
      const gs_ledger_entry *e = gs_ledger_find_id(&v, id);
      fprintf(out, "  %-12s %-*s  pending: its ledger lines (last: %s) are for config %016" PRIx64
                   ", the experiment now has %016" PRIx64 "\n",
              "stale", idw, id, e->state, e->hash, sw.runs[r].hash);
    }
  }
  if (from_files)
    fprintf(out, "note:     %ld run%s counted done from %s run file%s: the ledger has no line for %s (it was removed "
                 "or recreated, or the run%s finished before it existed)\n",
            from_files, from_files == 1 ? "" : "s", from_files == 1 ? "its" : "their", from_files == 1 ? "" : "s",
            from_files == 1 ? "it" : "them", from_files == 1 ? "" : "s");
  if (unlogged > from_files)
    fprintf(out, "note:     %ld pending run%s a run file in %s/runs that is not done, or not of %s parameters\n",
            unlogged - from_files, unlogged - from_files == 1 ? " has" : "s have", dir,
            unlogged - from_files == 1 ? "its" : "their");
  if (st.orphans)
    fprintf(out, "note:     %ld run%s in the ledger %s not in the experiment (removed from the grid)\n", st.orphans,
            st.orphans == 1 ? "" : "s", st.orphans == 1 ? "is" : "are");
  /* a run the ledger calls done whose file is damaged is not done: the next run of the sweep
   * trains it again */
  long corrupt_done = 0;
  long ncorrupt = have_sw ? check_files(dir, &sw, &v, out, &corrupt_done) : 0;
  if (corrupt_done)
    fprintf(out, "done:     %ld of %ld runs (%ld more done in the ledger, but %s damaged: see above)\n",
            st.done - corrupt_done, st.total, corrupt_done, corrupt_done == 1 ? "its run file is" : "their run files are");
  else
    fprintf(out, "done:     %ld of %ld runs\n", st.done, st.total);
  if (have_sw && gs_sweep_has_scheduler(&sw)) {
    /* early stopping: the rungs, from the scheduler's decisions in the ledger */
    gs_sweep_sched ss;
    gs_error e4 = {0};
    if (gs_sweep_sched_open(&sw, dir, -1, &ss, &e4) == 0) {
      long stopped = 0, finished = 0;
      for (long r = 0; r < sw.nruns; r++) {
        gs_sched_run_info ri;
        gs_sched_run_info_get(ss.s, r, &ri);
        stopped += ri.state == GS_SCHED_RUN_STOPPED;
        finished += ri.state == GS_SCHED_RUN_FINISHED;
      }
      fprintf(out, "          (%ld trained to the last epoch, %ld stopped early by the scheduler)\n", finished, stopped);
      gs_sweep_sched_print(&sw, &ss, out);
      gs_sweep_sched_close(&ss);
    } else {
      fprintf(out, "warning:  early stopping: %s\n", e4.msg);
    }
  }
  gs_ledger_view_free(&v);
  if (have_sw) gs_sweep_free(&sw);
  return ncorrupt ? 1 : 0;
}
