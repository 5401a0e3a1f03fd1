/* Common definitions: error reporting, small helpers.
 * Library code never exits: it fills a gs_error and returns -1 (or NULL). Only main exits. */
#ifndef GENSWEEP_COMMON_H
#define GENSWEEP_COMMON_H
#include <stddef.h>
#include <stdint.h>

#define GS_VERSION "0.1.0"

typedef struct gs_error {
  int code;        /* 0 = no error */
  char msg[1024];  /* human-readable, names the file (and line) or run where one exists */
} gs_error;

/* Set err (if not NULL) with printf-style message; returns -1 so callers can `return gs_fail(...)`. */
int gs_fail(gs_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gs_error_clear(gs_error *err);

/* Allocation that never returns NULL (aborts with a message on out-of-memory). */
void *gs_malloc(size_t n);
void *gs_calloc(size_t n, size_t size);
void *gs_realloc(void *p, size_t n);
void *gs_aligned_alloc(size_t n); /* 64-byte aligned, free with free() */
char *gs_strdup(const char *s);

/* 64-bit FNV-1a hash. */
uint64_t gs_hash64(const void *data, size_t n, uint64_t h);
#define GS_HASH_INIT 1469598103934665603ULL

/* Wall-clock seconds (monotonic). */
double gs_now(void);

/* snprintf into a fixed buffer, truncating safely. */
#define GS_STRCPY(dst, src) gs_strlcpy((dst), (src), sizeof(dst))
size_t gs_strlcpy(char *dst, const char *src, size_t n);

/* mkdir -p; returns -1 with err on failure. */
int gs_mkdirs(const char *path, gs_error *err);
/* Exclusive flock(2) on dir/name (created if needed), waiting for it: serialises writers of one
 * results directory across processes (the shards of a job array). Returns the descriptor to
 * give to gs_unlock_dir, or -1 where the file system has no locks (the caller goes on). */
int gs_lock_dir(const char *dir, const char *name);
void gs_unlock_dir(int fd);
/* Read a whole file into a NUL-terminated malloc'd buffer. */
char *gs_read_file(const char *path, size_t *len, gs_error *err);
/* The same, refusing directories and devices (regular files and pipes only) and files of more
 * than max bytes, each with a message naming the file. */
char *gs_read_file_max(const char *path, size_t max, size_t *len, gs_error *err);

/* Long computations call gs_poll() now and then so that rank 0 can serve the other worker
 * groups while it trains (the coordinator installs the hook). */
extern void (*gs_poll_hook)(void);
static inline void gs_poll(void) {
  if (gs_poll_hook) gs_poll_hook();
}

#endif
