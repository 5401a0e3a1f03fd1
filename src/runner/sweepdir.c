/* The results directory of a sweep, as the job uses it: runs/<id>.h5, ckpt/<id>.{h5,lock},
 * png/, the copy of the experiment file, and the check that it can take data. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gensweep/core/atomic.h"
#include "gensweep/io/png.h"
#include "gensweep/models/model.h"
#include "gensweep/runner/runner.h"
#include "sweepdir.h"

/* A run's files under ckpt/: "h5" its checkpoint (the previous one beside it, see
 * gs_checkpoint_prev_path), "lock" the lock of the group that trains it. */
void sweepdir_ckpt_file(const char *dir, const gs_run *run, const char *ext, char *path, size_t n) {
  snprintf(path, n, "%s/ckpt/%s.%s", dir, run->id, ext);
}

/* A run is trained by one process group at a time: its leader holds an exclusive lock on
 * ckpt/<run-id>.lock while it trains. Another job on the same sweep (an earlier job whose ranks
 * outlived a killed mpirun, a second shard) skips a locked run instead of racing it for the
 * checkpoint and the run file. Returns the lock's descriptor, or -1 when the run is busy. */
int sweepdir_lock_run(const char *dir, const gs_run *run) {
  char path[1400];
  sweepdir_ckpt_file(dir, run, "lock", path, sizeof path);
  /* The lock file is removed once the run file is written, so the file locked may no longer
   * be the one at the path: a process that opened it before the removal and locks it after
   * would share "the" lock with a process that creates the path anew. A lock counts only when
   * its file is still the one at the path; otherwise it is taken again on the new file. */
  for (int attempt = 0; attempt < 100; attempt++) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -2; /* cannot lock (odd file system): train anyway */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      close(fd);
      return -1;
    }
    struct stat held, now;
    if (fstat(fd, &held) != 0) return fd;
    if (stat(path, &now) == 0 && now.st_ino == held.st_ino && now.st_dev == held.st_dev) return fd;
    close(fd); /* removed or replaced meanwhile */
  }
  return -1;
}

/* Fail early, before any run, when the results directory cannot be written (read-only, full). */
int sweepdir_check_writable(const char *dir, gs_error *err) {
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

void sweepdir_write_pngs(const char *dir, const gs_record *rec, FILE *log) {
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

void sweepdir_run_path(const char *dir, const gs_run *run, char *path, size_t n) {
  snprintf(path, n, "%s/runs/%s.h5", dir, run->id);
}

/* The sweep directory keeps a copy of the experiment file: `status` and `rebuild` need the grid. */
static int write_experiment_copy_locked(const char *dir, const gs_sweep *sw, gs_error *err) {
  char path[1100];
  snprintf(path, sizeof path, "%s/experiment.ini", dir);
  return gs_atomic_write(path, sw->text, strlen(sw->text), err);
}

/* shards of one sweep start together: one writer of experiment.ini.tmp at a time */
int sweepdir_write_experiment_copy(const char *dir, const gs_sweep *sw, gs_error *err) {
  int lk = gs_lock_dir(dir, GS_SWEEP_LOCK);
  int rc = write_experiment_copy_locked(dir, sw, err);
  gs_unlock_dir(lk);
  return rc;
}

int gs_sweep_load_copy(const char *dir, gs_sweep *sw, gs_error *err) {
  char path[1100];
  snprintf(path, sizeof path, "%s/experiment.ini", dir);
  if (access(path, F_OK) != 0)
    return gs_fail(err, "%s: missing: is %s the results directory of a sweep (results/<sweep name>)?", path, dir);
  return gs_sweep_load(path, gs_models_vocabulary(), sw, err);
}

