/* The results directory of a sweep (src/runner/sweepdir.c): private to the runner. */
#ifndef GENSWEEP_SWEEPDIR_H
#define GENSWEEP_SWEEPDIR_H
#include <stdio.h>

#include "gensweep/config/config.h"
#include "gensweep/io/record.h"

/* ckpt/<run id>.<ext>: "h5" its checkpoint (the previous one beside it), "lock" its group's lock */
void sweepdir_ckpt_file(const char *dir, const gs_run *run, const char *ext, char *path, size_t n);
/* runs/<run id>.h5 */
void sweepdir_run_path(const char *dir, const gs_run *run, char *path, size_t n);
/* The exclusive lock of a run while a group trains it: its descriptor, -1 when another process
 * holds it (busy), -2 when the file system has no locks (train anyway). */
int sweepdir_lock_run(const char *dir, const gs_run *run);
/* 0 when dir can take data, else -1 naming it (read-only, full). */
int sweepdir_check_writable(const char *dir, gs_error *err);
/* png/<run id>_<name>.png for each image grid of rec; failures are warnings on log. */
void sweepdir_write_pngs(const char *dir, const gs_record *rec, FILE *log);
/* experiment.ini, under the sweep lock (shards of one sweep start together). */
int sweepdir_write_experiment_copy(const char *dir, const gs_sweep *sw, gs_error *err);

#endif
