/* Atomic file writing: temporary file, fsync, rename, directory fsync. See core/atomic.h. */
#include "gensweep/core/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *gs_atomic_tmp_name(const char *path) {
  size_t n = strlen(path);
  char *t = gs_malloc(n + 5);
  memcpy(t, path, n);
  memcpy(t + n, ".tmp", 5);
  return t;
}

static void release(gs_atomic *a) {
  free(a->path);
  free(a->tmp);
  a->path = a->tmp = NULL;
}

int gs_atomic_begin(gs_atomic *a, const char *path, gs_error *err) {
  a->path = gs_strdup(path);
  a->tmp = gs_atomic_tmp_name(path);
  unlink(a->tmp); /* left by a crashed writer */
  int fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    int e = errno;
    gs_fail(err, "%s: cannot create %s: %s", a->path, a->tmp, strerror(e));
    release(a);
    return -1;
  }
  close(fd);
  return 0;
}

void gs_atomic_abort(gs_atomic *a) {
  if (a->tmp) unlink(a->tmp);
  release(a);
}

/* fsync the directory that holds path, so that the rename itself is durable. */
static int sync_dir(const char *path, gs_error *err) {
  char dir[4096];
  gs_strlcpy(dir, path, sizeof dir);
  char *slash = strrchr(dir, '/');
  if (!slash) GS_STRCPY(dir, ".");
  else if (slash == dir) dir[1] = 0;
  else *slash = 0;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return 0; /* no read permission on the directory: the file is complete and in place */
  int rc = fsync(dfd), e = errno;
  close(dfd);
  if (rc != 0 && e != EINVAL && e != ENOTSUP && e != EROFS)
    return gs_fail(err, "%s: written, but fsync of directory %s failed: %s", path, dir, strerror(e));
  return 0;
}

int gs_atomic_commit(gs_atomic *a, gs_error *err) {
  const char *path = a->path, *tmp = a->tmp;
  int rc = -1, e;
  /* the writer's own descriptor is closed (HDF5, PLplot and stdio close theirs): reopen to sync */
  int fd = open(tmp, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    e = errno;
    gs_fail(err, "%s: cannot reopen %s to sync it: %s", path, tmp, strerror(e));
    goto fail;
  }
  if (fsync(fd) != 0) {
    e = errno;
    close(fd);
    gs_fail(err, "%s: fsync of %s failed: %s", path, tmp, strerror(e));
    goto fail;
  }
  if (close(fd) != 0) {
    e = errno;
    gs_fail(err, "%s: close of %s failed: %s", path, tmp, strerror(e));
    goto fail;
  }
  if (rename(tmp, path) != 0) {
    e = errno;
    gs_fail(err, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    goto fail;
  }
  rc = sync_dir(path, err);
  release(a);
  return rc;
fail:
  gs_atomic_abort(a);
  return rc;
}

int gs_atomic_write(const char *path, const void *data, size_t len, gs_error *err) {
  gs_atomic a;
  if (gs_atomic_begin(&a, path, err) != 0) return -1;
  FILE *f = fopen(a.tmp, "wb");
  if (!f) {
    int e = errno;
    gs_atomic_abort(&a);
    return gs_fail(err, "%s: cannot write: %s", path, strerror(e));
  }
  int ok = fwrite(data, 1, len, f) == len;
  int e = errno;
  if (fflush(f) != 0 && ok) ok = 0, e = errno;
  if (fclose(f) != 0 && ok) ok = 0, e = errno;
  if (!ok) {
    gs_atomic_abort(&a);
    return gs_fail(err, "%s: cannot write: %s%s", path, strerror(e),
                   e == ENOSPC || e == EDQUOT ? " (the device is full: free space or move the results, then run again)"
                   : e == EFBIG               ? " (the process's file-size limit, ulimit -f, is reached)"
                                              : "");
  }
  return gs_atomic_commit(&a, err);
}
