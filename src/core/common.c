#include "gensweep/core/common.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void (*gs_poll_hook)(void);

int gs_fail(gs_error *err, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = 1;
  }
  return -1;
}

void gs_error_clear(gs_error *err) {
  if (err) {
    err->code = 0;
    err->msg[0] = 0;
  }
}

static void oom(size_t n) {
  fprintf(stderr, "gensweep: out of memory allocating %zu bytes\n", n);
  abort();
}

void *gs_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}

void *gs_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom(n * size);
  return p;
}

void *gs_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}

void *gs_aligned_alloc(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 64, n ? n : 64) != 0) oom(n);
  return p;
}

char *gs_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = gs_malloc(n);
  memcpy(d, s, n);
  return d;
}

uint64_t gs_hash64(const void *data, size_t n, uint64_t h) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

double gs_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

size_t gs_strlcpy(char *dst, const char *src, size_t n) {
  size_t len = strlen(src);
  if (n) {
    size_t c = len < n - 1 ? len : n - 1;
    memcpy(dst, src, c);
    dst[c] = 0;
  }
  return len;
}

int gs_mkdirs(const char *path, gs_error *err) {
  char buf[4096];
  if (gs_strlcpy(buf, path, sizeof buf) >= sizeof buf) return gs_fail(err, "path too long: %s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return gs_fail(err, "cannot create directory %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST)
    return gs_fail(err, "cannot create directory %s: %s", buf, strerror(errno));
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
    return gs_fail(err, "%s exists and is not a directory", buf);
  return 0;
}

int gs_lock_dir(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return -1;
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

void gs_unlock_dir(int fd) {
  if (fd >= 0) close(fd); /* closing the last descriptor releases the flock */
}

char *gs_read_file(const char *path, size_t *len, gs_error *err) {
  return gs_read_file_max(path, (size_t)-1, len, err);
}

char *gs_read_file_max(const char *path, size_t max, size_t *len, gs_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    gs_fail(err, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  /* a regular file, or a pipe (`gensweep run <(...)`); not a directory or a device such as
   * /dev/zero, which would be read until memory runs out */
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
    fclose(f);
    gs_fail(err, "%s: not a regular file (%s)", path,
            S_ISDIR(st.st_mode) ? "a directory" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "a special file");
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *buf = gs_malloc(cap);
  for (;;) {
    if (n + 1 >= cap) buf = gs_realloc(buf, cap *= 2);
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0) break;
    if (n > max) {
      fclose(f);
      free(buf);
      gs_fail(err, "%s: larger than %zu bytes, the limit for this kind of file", path, max);
      return NULL;
    }
  }
  int bad = ferror(f);
  int e = errno;
  fclose(f);
  if (bad) {
    free(buf);
    gs_fail(err, "%s: read error: %s", path, strerror(e));
    return NULL;
  }
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}
