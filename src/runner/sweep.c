/* A sweep as one MPI job.
 *
 * Rank 0 is the coordinator AND a worker: coordinating is a few messages per run, so it serves
 * them between its own training steps (gs_poll) instead of costing a core. The ranks form worker
 * groups of ranks_per_run consecutive ranks; each group trains one run at a time, data-parallel.
 * Group leaders ask rank 0 for work (costliest run first), report per-epoch progress, write the
 * run's files, and report completion with their next request. Rank 0 keeps the books: skip
 * checks, progress lines, sweep.h5. */
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gensweep/model.h"
#include "gensweep/png.h"
#include "gensweep/runner.h"

enum { TAG_REQ = 101, TAG_ASSIGN = 102, TAG_PROGRESS = 103 };

/* Fail early, before any run, when the results directory cannot be written (read-only, full). */
static int check_writable(const char *dir, gs_error *err) {
  char probe[1200];
  snprintf(probe, sizeof probe, "%s/.gensweep-write-test-%ld", dir, (long)getpid());
  FILE *f = fopen(probe, "wb");
  if (!f) return gs_fail(err, "results directory %s is not writable: %s", dir, strerror(errno));
  static char block[1 << 16];
  int bad = fwrite(block, 1, sizeof block, f) != sizeof block;
  bad |= fflush(f) != 0;
  bad |= fsync(fileno(f)) != 0;
  int e = errno;
  bad |= fclose(f) != 0;
  unlink(probe);
  if (bad) return gs_fail(err, "results directory %s cannot take data (%s): is the disk full?", dir, strerror(e));
  return 0;
}

static void write_pngs(const char *dir, const gs_record *rec, FILE *log) {
  for (int i = 0; i < rec->nimages; i++) {
    const gs_images *im = &rec->images[i];
    char path[1400];
    snprintf(path, sizeof path, "%s/png/%s_%s.png", dir, rec->run_id, im->name);
    int cols = im->cols > 0 ? im->cols : (int)ceil(sqrt((double)im->n));
    gs_error err = {0};
    if (gs_png_write_grid(path, im->pix, im->n, im->h, im->w, cols, &err) != 0 && log)
      fprintf(log, "warning: %s\n", err.msg);
  }
}

static void run_path(const char *dir, const gs_run *run, char *path, size_t n) {
  snprintf(path, n, "%s/runs/%s.h5", dir, run->id);
}

/* The sweep directory keeps a copy of the experiment file: `status` and `rebuild` need the grid. */
static int write_experiment_copy(const char *dir, const gs_sweep *sw, gs_error *err) {
  char path[1100], tmp[1200];
  snprintf(path, sizeof path, "%s/experiment.ini", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return gs_fail(err, "%s: cannot write: %s", tmp, strerror(errno));
  size_t n = strlen(sw->text);
  int bad = fwrite(sw->text, 1, n, f) != n;
  bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    unlink(tmp);
    return gs_fail(err, "%s: cannot write: %s", path, strerror(errno));
  }
  return 0;
}

int gs_sweep_load_copy(const char *dir, gs_sweep *sw, gs_error *err) {
  char path[1100];
  snprintf(path, sizeof path, "%s/experiment.ini", dir);
  if (access(path, F_OK) != 0)
    return gs_fail(err, "%s: missing: is %s the results directory of a sweep (results/<sweep name>)?", path, dir);
  return gs_sweep_load(path, sw, err);
}

/* ------------------------------------------------------------------ coordinator (rank 0) */
typedef struct coord {
  const gs_sweep *sw;
  const gs_run_options *opt;
  FILE *log;
  char dir[1024];
  int *queue;            /* run indices to do, costliest first */
  long nqueue, next;     /* next to hand out */
  int *started_as;       /* run index -> 1-based start number, for "[k/n]" */
  long nstarted;
  int active;            /* groups (other than rank 0's) not yet told to stop */
  int nleaders;
  gs_sweep_outcome *out;
  double t_sweep, t_index;
} coord;

static coord *the_coord;

static int cost_cmp_desc(const void *a, const void *b) {
  const double *x = a, *y = b; /* pairs (cost, index) */
  if (x[0] != y[0]) return x[0] < y[0] ? 1 : -1;
  return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void coord_tag(coord *c, int idx, char *tag, size_t n) {
  snprintf(tag, n, "[%d/%ld] %s", c->started_as[idx], c->nqueue, c->sw->runs[idx].id);
}

static int coord_next(coord *c) {
  if (c->next >= c->nqueue) return -1;
  int idx = c->queue[c->next++];
  c->started_as[idx] = (int)++c->nstarted;
  return idx;
}

static void coord_index(coord *c, int force) {
  double now = gs_now();
  if (!force && now - c->t_index < 5.0) return; /* sweep.h5 reads every run file: not after every run */
  gs_error e = {0};
  if (gs_sweepfile_write(c->dir, c->sw, &e) != 0) fprintf(c->log, "warning: %s\n", e.msg);
  c->t_index = gs_now();
}

/* a run has finished: its leader wrote the run file; read its verdict from there */
static void coord_finished(coord *c, int idx) {
  const gs_run *run = &c->sw->runs[idx];
  char path[1400], tag[300];
  run_path(c->dir, run, path, sizeof path);
  coord_tag(c, idx, tag, sizeof tag);
  gs_run_summary s;
  gs_error e = {0};
  if (gs_runfile_read_summary(path, &s, &e) != 0) {
    fprintf(c->log, "%s: failed: no readable run file (%s)\n", tag, e.msg);
    c->out->failed++;
  } else if (strcmp(s.status, "done") == 0) {
    c->out->done++;
    fprintf(c->log, "%s: done in %.1f s", tag, s.seconds);
    for (int i = 0; i < s.nscalars; i++)
      if (!strcmp(s.scalars[i].name, "test_neg_elbo")) fprintf(c->log, ", test -ELBO %.2f", s.scalars[i].v);
    for (int i = 0; i < s.nscalars; i++)
      if (!strcmp(s.scalars[i].name, "test_iw_nll")) fprintf(c->log, ", IW NLL %.2f", s.scalars[i].v);
    fprintf(c->log, "\n");
  } else {
    c->out->failed++;
    fprintf(c->log, "%s: %s: %s\n", tag, s.status, s.message);
  }
  fflush(c->log);
  coord_index(c, 0);
}

static void coord_progress(coord *c, int idx, long ep, long epochs, double loss, double test, double dt, double ips) {
  if (c->opt->quiet) return;
  char tag[300];
  coord_tag(c, idx, tag, sizeof tag);
  fprintf(c->log, "%s epoch %ld/%ld  train %.2f", tag, ep, epochs, loss);
  if (isfinite(test)) fprintf(c->log, "  test %.2f", test);
  fprintf(c->log, "  (%.1f s, %.0f img/s)\n", dt, ips);
  fflush(c->log);
}

/* serve every pending message from the other group leaders */
static void coord_poll(void) {
  coord *c = the_coord;
  if (!c) return;
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (!flag) return;
    if (st.MPI_TAG == TAG_REQ) {
      int finished;
      MPI_Recv(&finished, 1, MPI_INT, st.MPI_SOURCE, TAG_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      if (finished >= 0) coord_finished(c, finished);
      int idx = coord_next(c);
      if (idx < 0) c->active--;
      MPI_Send(&idx, 1, MPI_INT, st.MPI_SOURCE, TAG_ASSIGN, MPI_COMM_WORLD);
    } else if (st.MPI_TAG == TAG_PROGRESS) {
      double v[7];
      MPI_Recv(v, 7, MPI_DOUBLE, st.MPI_SOURCE, TAG_PROGRESS, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      coord_progress(c, (int)v[0], (long)v[1], (long)v[2], v[3], v[4], v[5], v[6]);
    } else {
      /* unknown: drain it so it cannot block the loop */
      int n;
      MPI_Get_count(&st, MPI_BYTE, &n);
      char *b = gs_malloc(n);
      MPI_Recv(b, n, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      free(b);
    }
  }
}

static void poll_hook(void) { coord_poll(); }
static void poll_ctx(void *ctx) { coord_poll(); }

static void epoch_local(void *ctx, const gs_run *run, long ep, long epochs, double loss, double test, double dt,
                        double ips) {
  coord_progress(the_coord, run->index, ep, epochs, loss, test, dt, ips);
}

static void epoch_remote(void *ctx, const gs_run *run, long ep, long epochs, double loss, double test, double dt,
                         double ips) {
  double v[7] = {run->index, ep, epochs, loss, test, dt, ips};
  MPI_Send(v, 7, MPI_DOUBLE, 0, TAG_PROGRESS, MPI_COMM_WORLD);
}

/* Set-up on rank 0: directories, disk check, the data of the first run, and the queue. */
static int coord_setup(coord *c, gs_error *err) {
  const gs_sweep *sw = c->sw;
  char sub[1100];
  if (gs_mkdirs(c->dir, err) != 0) return -1;
  snprintf(sub, sizeof sub, "%s/runs", c->dir);
  if (gs_mkdirs(sub, err) != 0) return -1;
  snprintf(sub, sizeof sub, "%s/png", c->dir);
  if (gs_mkdirs(sub, err) != 0) return -1;
  if (check_writable(c->dir, err) != 0) return -1;
  if (write_experiment_copy(c->dir, sw, err) != 0) return -1;
  double *pairs = gs_malloc(sizeof(double) * 2 * (sw->nruns ? sw->nruns : 1));
  long n = 0;
  for (long i = 0; i < sw->nruns; i++) {
    const gs_run *run = &sw->runs[i];
    char path[1400];
    run_path(c->dir, run, path, sizeof path);
    if (access(path, F_OK) == 0) {
      gs_run_summary s;
      gs_error e2 = {0};
      if (gs_runfile_read_summary(path, &s, &e2) != 0) {
        fprintf(c->log, "%s: existing run file unreadable (%s): running again\n", run->id, e2.msg);
      } else if (s.config_hash != run->hash) {
        fprintf(c->log, "%s: parameters changed since the existing run file was written: running again\n", run->id);
      } else if (strcmp(s.status, "done") == 0) {
        if (!c->opt->quiet) fprintf(c->log, "%s: already done, skipped\n", run->id);
        c->out->skipped++;
        continue;
      } else if (strcmp(s.status, "diverged") == 0) {
        /* divergence is deterministic for the same parameters: a result, not an accident */
        fprintf(c->log, "%s: diverged before (%s): kept, not retried (delete %s to retry)\n", run->id, s.message, path);
        c->out->failed++;
        continue;
      } else {
        fprintf(c->log, "%s: previous attempt %s (%s): running again\n", run->id, s.status, s.message);
      }
    }
    const gs_model_def *def = gs_model_find(run->cfg.model);
    pairs[2 * n] = def ? def->cost(&run->cfg) : 0.0;
    pairs[2 * n + 1] = (double)i;
    n++;
  }
  qsort(pairs, n, 2 * sizeof(double), cost_cmp_desc);
  c->queue = gs_malloc(sizeof(int) * (n ? n : 1));
  for (long i = 0; i < n; i++) c->queue[i] = (int)pairs[2 * i + 1];
  c->nqueue = n;
  free(pairs);
  /* bad data stops the sweep before anything runs: every run would fail the same way */
  if (n > 0) {
    const gs_run *first = &sw->runs[c->queue[0]];
    const gs_dataset *ds = gs_dataset_cached(&first->cfg, err);
    if (!ds) {
      char msg[sizeof err->msg];
      GS_STRCPY(msg, err->msg);
      gs_fail(err, "run %s: %s", first->id, msg);
      return -1;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ every rank */
int gs_sweep_run(const gs_sweep *sw, const gs_run_options *opt, gs_sweep_outcome *out, gs_error *err) {
  FILE *log = opt->log ? opt->log : stdout;
  memset(out, 0, sizeof *out);
  int R, N;
  MPI_Comm_rank(MPI_COMM_WORLD, &R);
  MPI_Comm_size(MPI_COMM_WORLD, &N);
  int rpr = opt->ranks_per_run > 0 ? opt->ranks_per_run : (int)sw->base.ranks_per_run;
  if (rpr < 1 || N % rpr != 0)
    return gs_fail(err, "%d MPI ranks cannot form groups of ranks_per_run = %d: use a multiple of %d ranks", N,
                   rpr, rpr);
  char dir[1024];
  gs_sweep_dir(sw, opt->results, dir, sizeof dir);
  GS_STRCPY(out->dir, dir);

  coord c = {0};
  int ok = 1;
  if (R == 0) {
    c.sw = sw;
    c.opt = opt;
    c.log = log;
    c.out = out;
    GS_STRCPY(c.dir, dir);
    c.started_as = gs_calloc(sw->nruns ? sw->nruns : 1, sizeof(int));
    c.nleaders = N / rpr;
    c.active = c.nleaders - 1;
    c.t_sweep = gs_now();
    fprintf(log, "sweep %s: %ld run%s from %s, results in %s\n", sw->base.sweep_name, sw->nruns,
            sw->nruns == 1 ? "" : "s", sw->path, dir);
    if (N > 1) fprintf(log, "%d ranks: %d worker group%s of %d rank%s (rank 0 coordinates and trains)\n", N,
                       N / rpr, N / rpr == 1 ? "" : "s", rpr, rpr == 1 ? "" : "s");
    fflush(log);
    if (coord_setup(&c, err) != 0) ok = 0;
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ok) {
    MPI_Bcast(err->msg, sizeof err->msg, MPI_CHAR, 0, MPI_COMM_WORLD);
    free(c.queue);
    free(c.started_as);
    return -1;
  }
  if (R == 0) {
    the_coord = &c;
    gs_poll_hook = poll_hook;
  }
  MPI_Comm group;
  MPI_Comm_split(MPI_COMM_WORLD, R / rpr, R, &group);
  int grank;
  MPI_Comm_rank(group, &grank);
  int leader = grank == 0;

  int finished = -1;
  for (;;) {
    int idx = -1;
    if (leader) {
      if (R == 0) {
        if (finished >= 0) coord_finished(&c, finished);
        finished = -1;
        idx = coord_next(&c);
      } else {
        MPI_Send(&finished, 1, MPI_INT, 0, TAG_REQ, MPI_COMM_WORLD);
        MPI_Recv(&idx, 1, MPI_INT, 0, TAG_ASSIGN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      }
    }
    MPI_Bcast(&idx, 1, MPI_INT, 0, group);
    if (idx < 0) break;
    const gs_run *run = &sw->runs[idx];
    gs_record rec;
    gs_error derr = {0};
    const gs_dataset *ds = gs_dataset_cached(&run->cfg, &derr);
    gs_model *m = NULL;
    const gs_model_def *def = NULL;
    if (!ds) {
      gs_record_init(&rec, run->id, run->cfg.model, run->hash);
      GS_STRCPY(rec.status, "failed");
      snprintf(rec.message, sizeof rec.message, "data: %.500s", derr.msg);
    } else {
      gs_train_hooks h = {.comm = rpr > 1 ? group : MPI_COMM_NULL,
                          .poll = R == 0 ? poll_ctx : NULL,
                          .epoch = leader ? (R == 0 ? epoch_local : epoch_remote) : NULL};
      m = gs_train_run(run, ds, &rec, &h, &def);
    }
    if (leader) {
      char path[1400];
      run_path(dir, run, path, sizeof path);
      gs_error werr = {0};
      if (gs_runfile_write(path, &rec, &run->cfg, &werr) != 0)
        fprintf(stderr, "gensweep: rank %d: cannot write the results of run %s: %s\n", R, run->id, werr.msg);
      else
        write_pngs(dir, &rec, stderr);
    }
    if (m) def->destroy(m);
    gs_record_free(&rec);
    finished = idx;
  }
  if (R == 0) {
    /* serve the other groups until each has been told to stop */
    while (c.active > 0) {
      coord_poll();
      if (c.active > 0) usleep(2000);
    }
    gs_poll_hook = NULL;
    the_coord = NULL;
    coord_index(&c, 1);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(log,
            "sweep %s: %ld done, %ld skipped (already done), %ld failed in %.1f s (peak memory of rank 0: %.0f MB)\n"
            "results: %s/sweep.h5 (runs/, png/)\n",
            sw->base.sweep_name, out->done, out->skipped, out->failed, gs_now() - c.t_sweep, ru.ru_maxrss / 1024.0,
            dir);
    fflush(log);
  }
  MPI_Comm_free(&group);
  long counts[3] = {out->done, out->skipped, out->failed};
  MPI_Bcast(counts, 3, MPI_LONG, 0, MPI_COMM_WORLD);
  out->done = counts[0];
  out->skipped = counts[1];
  out->failed = counts[2];
  free(c.queue);
  free(c.started_as);
  return 0;
}
