/* A sweep in one process: skip finished runs, train the others in grid order, write each run's
 * file and PNGs, rebuild sweep.h5 after every run. (The MPI coordinator builds on this.) */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gensweep/model.h"
#include "gensweep/png.h"
#include "gensweep/runner.h"

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

int gs_sweep_run_serial(const gs_sweep *sw, const gs_run_options *opt, gs_sweep_outcome *out, gs_error *err) {
  FILE *log = opt->log ? opt->log : stdout;
  memset(out, 0, sizeof *out);
  char dir[1024], sub[1100];
  gs_sweep_dir(sw, opt->results, dir, sizeof dir);
  GS_STRCPY(out->dir, dir);
  if (gs_mkdirs(dir, err) != 0) return -1;
  snprintf(sub, sizeof sub, "%s/runs", dir);
  if (gs_mkdirs(sub, err) != 0) return -1;
  snprintf(sub, sizeof sub, "%s/png", dir);
  if (gs_mkdirs(sub, err) != 0) return -1;
  if (check_writable(dir, err) != 0) return -1;

  fprintf(log, "sweep %s: %ld run%s from %s, results in %s\n", sw->base.sweep_name, sw->nruns,
          sw->nruns == 1 ? "" : "s", sw->path, dir);
  fflush(log);
  double t_sweep = gs_now();
  for (long i = 0; i < sw->nruns; i++) {
    const gs_run *run = &sw->runs[i];
    char path[1400], tag[256];
    snprintf(path, sizeof path, "%s/runs/%s.h5", dir, run->id);
    snprintf(tag, sizeof tag, "[%ld/%ld] %s", i + 1, sw->nruns, run->id);
    if (access(path, F_OK) == 0) {
      gs_run_summary s;
      gs_error e2 = {0};
      if (gs_runfile_read_summary(path, &s, &e2) != 0) {
        fprintf(log, "%s: existing run file unreadable (%s): running again\n", tag, e2.msg);
      } else if (s.config_hash != run->hash) {
        fprintf(log, "%s: parameters changed since the existing run file was written: running again\n", tag);
      } else if (strcmp(s.status, "done") == 0) {
        fprintf(log, "%s: already done, skipped\n", tag);
        out->skipped++;
        continue;
      } else if (strcmp(s.status, "diverged") == 0) {
        /* divergence is deterministic for the same parameters: a result, not an accident */
        fprintf(log, "%s: diverged before (%s): kept, not retried (delete %s to retry)\n", tag, s.message, path);
        out->failed++;
        continue;
      } else {
        fprintf(log, "%s: previous attempt %s (%s): running again\n", tag, s.status, s.message);
      }
    }
    const gs_dataset *ds = gs_dataset_cached(&run->cfg, err);
    if (!ds) {
      /* bad data stops the sweep: every run would fail the same way */
      char msg[sizeof err->msg];
      GS_STRCPY(msg, err->msg);
      gs_fail(err, "run %s: %s", run->id, msg);
      gs_sweepfile_write(dir, sw, NULL);
      return -1;
    }
    gs_record rec;
    const gs_model_def *def = NULL;
    gs_model *m = gs_train_run(run, ds, &rec, opt->quiet ? NULL : log, tag, &def);
    gs_error werr = {0};
    if (gs_runfile_write(path, &rec, &run->cfg, &werr) != 0) {
      fprintf(log, "%s: %s\n", tag, werr.msg);
      if (m) def->destroy(m);
      gs_record_free(&rec);
      gs_fail(err, "cannot write the results of run %s: %s", run->id, werr.msg);
      return -1;
    }
    write_pngs(dir, &rec, log);
    if (strcmp(rec.status, "done") == 0) {
      out->done++;
      const double *te = gs_record_find_scalar(&rec, "test_neg_elbo");
      const double *iw = gs_record_find_scalar(&rec, "test_iw_nll");
      fprintf(log, "%s: done in %.1f s", tag, rec.seconds);
      if (te) fprintf(log, ", test -ELBO %.2f", *te);
      if (iw) fprintf(log, ", IW NLL %.2f", *iw);
      fprintf(log, "\n");
    } else {
      out->failed++;
      fprintf(log, "%s: %s: %s\n", tag, rec.status, rec.message);
    }
    fflush(log);
    if (m) def->destroy(m);
    gs_record_free(&rec);
    if (gs_sweepfile_write(dir, sw, &werr) != 0) fprintf(log, "warning: %s\n", werr.msg);
  }
  if (gs_sweepfile_write(dir, sw, err) != 0) return -1;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  fprintf(log, "sweep %s: %ld done, %ld skipped (already done), %ld failed in %.1f s (peak memory %.0f MB)\n"
          "results: %s/sweep.h5 (runs/, png/)\n",
          sw->base.sweep_name, out->done, out->skipped, out->failed, gs_now() - t_sweep, ru.ru_maxrss / 1024.0, dir);
  fflush(log);
  return 0;
}
