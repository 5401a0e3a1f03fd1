/* The sweep ledger (results/<sweep>/ledger.log): writing, reading, and what it says of each run.
 * Format, guarantees and the meaning of every field: include/gensweep/io/ledger.h. The `status`
 * command built on it is src/runner/status.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_CLOEXEC, O_DIRECTORY, pread under strict -std=c11 */
#endif
#include "gensweep/io/ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ states */

int gs_ledger_state_valid(const char *s) {
  if (!s || !(s[0] >= 'a' && s[0] <= 'z')) return 0;
  size_t n = 0;
  for (; s[n]; n++) {
    char c = s[n];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return 0;
    if (n + 1 >= GS_LEDGER_STATE_LEN) return 0;
  }
  return 1;
}

gs_lstate gs_ledger_state_class(const char *s) {
  static const struct { const char *name; gs_lstate cls; } table[] = {
      {"queued", GS_LSTATE_QUEUED},   {"started", GS_LSTATE_RUNNING},      {"checkpointed", GS_LSTATE_RUNNING},
      {"resumed", GS_LSTATE_RUNNING}, {"done", GS_LSTATE_DONE},            {"failed", GS_LSTATE_FAILED},
      {"diverged", GS_LSTATE_FAILED}, {"interrupted", GS_LSTATE_INTERRUPTED},
      /* early stopping: a run paused at its rung (resumable: its checkpoint is kept), a run the
       * scheduler stopped (finished for the sweep) */
      {"paused", GS_LSTATE_INTERRUPTED}, {"stopped", GS_LSTATE_DONE},
  };
  if (!s) return GS_LSTATE_NOTE;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(s, table[i].name) == 0) return table[i].cls;
  return GS_LSTATE_NOTE;
}

/* ------------------------------------------------------------------ escaping */

static int utf8_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Length of the escaped form of one byte. */
static size_t esc_len(unsigned char c) { return (c == '\t' || c == '\n' || c == '\r' || c == '\\') ? 2 : 1; }

static size_t esc_put(char *dst, unsigned char c) {
  switch (c) {
    case '\t': dst[0] = '\\', dst[1] = 't'; return 2;
    case '\n': dst[0] = '\\', dst[1] = 'n'; return 2;
    case '\r': dst[0] = '\\', dst[1] = 'r'; return 2;
    case '\\': dst[0] = '\\', dst[1] = '\\'; return 2;
    default: dst[0] = (char)c; return 1;
  }
}

/* Escape src into dst (no NUL written), using at most cap bytes. If it does not fit, as much as
 * fits before a UTF-8 character boundary is written, followed by "...". Returns bytes written. */
static size_t escape_into(char *dst, size_t cap, const char *src) {
  const unsigned char *s = (const unsigned char *)src;
  size_t full = 0, n = strlen(src);
  for (size_t i = 0; i < n; i++) full += esc_len(s[i]);
  if (full <= cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += esc_put(dst + o, s[i]);
    return o;
  }
  if (cap < 3) return 0;
  size_t limit = cap - 3, o = 0, i = 0;
  while (i < n && o + esc_len(s[i]) <= limit) o += esc_put(dst + o, s[i++]);
  /* do not end inside a multi-byte character: drop its bytes already written (bytes >= 0x80 are
   * never escaped, so each took one output byte) */
  if (i < n)
    while (i > 0 && utf8_cont(s[i]) && s[i - 1] >= 0x80) i--, o--;
  memcpy(dst + o, "...", 3);
  return o + 3;
}

/* Unescape src[0..n) into dst (size cap >= 1). Returns the unescaped length (which may be >= cap:
 * the text is then truncated at a UTF-8 character boundary), or -1 for an invalid escape or a NUL. */
static long unescape(const char *src, size_t n, char *dst, size_t cap) {
  size_t o = 0;
  unsigned char first_dropped = 0;
  for (size_t i = 0; i < n; i++) {
    char c = src[i];
    if (c == 0) return -1;
    if (c == '\\') {
      if (++i >= n) return -1;
      switch (src[i]) {
        case 't': c = '\t'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case '\\': c = '\\'; break;
        default: return -1;
      }
    }
    if (o + 1 < cap) dst[o] = c;
    else if (o + 1 == cap) first_dropped = (unsigned char)c;
    o++;
  }
  size_t k = o < cap ? o : cap - 1;
  if (o >= cap && utf8_cont(first_dropped)) { /* cut inside a character: drop its head too */
    while (k > 0 && utf8_cont((unsigned char)dst[k - 1])) k--;
    if (k > 0 && (unsigned char)dst[k - 1] >= 0xC0) k--;
  }
  dst[k] = 0;
  return (long)o;
}

/* ------------------------------------------------------------------ writing */

static int fsync_retry(int fd) {
  for (;;) {
    if (fsync(fd) == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EINVAL || errno == EROFS) return 0; /* not syncable (pipe, special file): nothing to do */
    return -1;
  }
}

/* One write(2) of the whole buffer; retried only if nothing was written (EINTR). */
static ssize_t write_once(int fd, const char *buf, size_t n) {
  for (;;) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    return w;
  }
}

/* Advisory lock, best effort: where flock(2) is not available (some network file systems) the
 * ledger works without it, only the torn-line repair at open can then add a harmless blank line. */
static void lock(int fd, int how) {
  while (flock(fd, how) != 0 && errno == EINTR) {
  }
}

static void fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)fsync(fd); /* best effort: some file systems refuse directory fsync */
  close(fd);
}

/* Create path with its header in it. Returns 0 created, 1 someone else created it, -1 error. */
static int create_with_header(const char *dir, const char *path, gs_error *err) {
  static unsigned counter;
  char tmp[1200];
  const char header[] = GS_LEDGER_HEADER "\n";
  snprintf(tmp, sizeof tmp, "%s/.%s.%ld.%u.tmp", dir, GS_LEDGER_FILE, (long)getpid(), counter++);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd >= 0) {
    int bad = write_once(fd, header, sizeof header - 1) != (ssize_t)(sizeof header - 1);
    bad |= fsync_retry(fd) != 0;
    int e = errno;
    bad |= close(fd) != 0;
    if (bad) {
      unlink(tmp);
      return gs_fail(err, "%s: cannot write: %s", tmp, strerror(e));
    }
    /* link(2) fails with EEXIST if the ledger appeared meanwhile: the file can only ever come into
     * being complete with its header */
    int rc = link(tmp, path);
    e = errno;
    unlink(tmp);
    if (rc == 0) {
      fsync_dir(dir);
      return 0;
    }
    if (e == EEXIST) return 1;
    /* no hard links here (some FUSE / object-store mounts): fall through to O_EXCL */
  }
  fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    if (errno == EEXIST) return 1;
    return gs_fail(err, "%s: cannot create: %s", path, strerror(errno));
  }
  int bad = write_once(fd, header, sizeof header - 1) != (ssize_t)(sizeof header - 1);
  bad |= fsync_retry(fd) != 0;
  int e = errno;
  bad |= close(fd) != 0;
  if (bad) return gs_fail(err, "%s: cannot write: %s", path, strerror(e));
  fsync_dir(dir);
  return 0;
}

/* An existing ledger: check what it is, and end a torn last line so that ours start cleanly. */
static int check_existing(int fd, const char *path, gs_error *err) {
  struct stat st;
  if (fstat(fd, &st) != 0) return gs_fail(err, "%s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return gs_fail(err, "%s: not a regular file", path);
  if (st.st_size == 0) return 0; /* being created by a writer without link(2): its header follows */
  char head[64] = {0};
  ssize_t r = pread(fd, head, sizeof head - 1, 0);
  if (r < 0) return gs_fail(err, "%s: cannot read: %s", path, strerror(errno));
  const char *magic = "#gensweep-ledger ";
  size_t ml = strlen(magic);
  if (strncmp(head, magic, ml) == 0) {
    if (strncmp(head + ml, "v1", 2) != 0 || (head[ml + 2] != '\n' && head[ml + 2] != '\r' && head[ml + 2] != 0)) {
      char ver[16];
      size_t k = 0;
      while (k + 1 < sizeof ver && head[ml + k] && head[ml + k] != '\n') ver[k] = head[ml + k], k++;
      ver[k] = 0;
      return gs_fail(err, "%s: ledger format %s is not supported by gensweep %s (v1)", path, ver, GS_VERSION);
    }
  } else if (!(head[0] >= '0' && head[0] <= '9')) {
    /* (a first line that is an entry is accepted: a creator without link(2) may lose the race) */
    return gs_fail(err, "%s: exists and is not a gensweep ledger (no '%s' header)", path, GS_LEDGER_HEADER);
  }
  /* Appenders hold a shared lock during their write(2): with the exclusive lock, a last byte that
   * is not '\n' is a writer that died mid-line, not one that is mid-write (a reader can see part
   * of a write that spans pages). Without flock, a live writer's line would only gain a blank
   * line after it, which readers ignore. */
  lock(fd, LOCK_EX);
  int rc = 0;
  char lastc = '\n';
  if (fstat(fd, &st) != 0 || (st.st_size > 0 && pread(fd, &lastc, 1, st.st_size - 1) != 1))
    rc = gs_fail(err, "%s: cannot read: %s", path, strerror(errno));
  else if (lastc != '\n' && write_once(fd, "\n", 1) != 1)
    rc = gs_fail(err, "%s: cannot write: %s", path, strerror(errno));
  lock(fd, LOCK_UN);
  return rc;
}

int gs_ledger_open(const char *dir, gs_ledger *l, gs_error *err) {
  l->fd = -1;
  l->path[0] = 0;
  l->recreated = 0;
  l->hold = 0;
  l->npend = 0;
  if (!dir || !*dir) return gs_fail(err, "ledger: no directory given");
  if ((size_t)snprintf(l->path, sizeof l->path, "%s/%s", dir, GS_LEDGER_FILE) >= sizeof l->path)
    return gs_fail(err, "ledger: directory name too long: %s", dir);
  if (gs_mkdirs(dir, err) != 0) return -1;
  for (int attempt = 0; attempt < 4; attempt++) {
    /* O_RDWR: check_existing reads the header and the last byte; writes always append */
    int fd = open(l->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
      if (check_existing(fd, l->path, err) != 0) {
        close(fd);
        return -1;
      }
      l->fd = fd;
      return 0;
    }
    if (errno != ENOENT) return gs_fail(err, "%s: cannot open: %s", l->path, strerror(errno));
    if (create_with_header(dir, l->path, err) < 0) return -1;
  }
  return gs_fail(err, "%s: cannot open: it keeps disappearing", l->path);
}

static int write_lines(gs_ledger *l, const char *buf, size_t o, gs_error *err);

int gs_ledger_append(gs_ledger *l, const char *state, const char *run_id, uint64_t hash, long epoch,
                     const char *msg, gs_error *err) {
  if (!l || l->fd < 0) return gs_fail(err, "ledger %s: not open", l ? l->path : "");
  if (!gs_ledger_state_valid(state))
    return gs_fail(err, "ledger %s: invalid state '%s' (lower-case word, at most %d characters)", l->path,
                   state ? state : "(null)", GS_LEDGER_STATE_LEN - 1);
  if (!run_id || !*run_id) return gs_fail(err, "ledger %s: empty run id", l->path);
  if (strlen(run_id) >= GS_MAX_RUN_ID)
    return gs_fail(err, "ledger %s: run id longer than %d characters: %.40s...", l->path, GS_MAX_RUN_ID - 1, run_id);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char buf[GS_LEDGER_MAX_LINE];
  size_t o = (size_t)snprintf(buf, sizeof buf, "%lld.%03ld\t%s\t", (long long)ts.tv_sec, ts.tv_nsec / 1000000L, state);
  o += escape_into(buf + o, 2 * GS_MAX_RUN_ID, run_id); /* always fits: at most 2 bytes per byte */
  o += (size_t)snprintf(buf + o, sizeof buf - o, "\t%016" PRIx64 "\t%ld\t%ld\t", hash, epoch, (long)getpid());
  o += escape_into(buf + o, sizeof buf - 1 - o, msg ? msg : "");
  buf[o++] = '\n';
  if (l->hold) { /* gs_ledger_hold: kept for one write with the lines around it */
    if (l->npend + o > sizeof l->pend && gs_ledger_release(l, err) != 0) return -1;
    l->hold = 1;
    memcpy(l->pend + l->npend, buf, o);
    l->npend += o;
    return 0;
  }
  return write_lines(l, buf, o, err);
}

void gs_ledger_hold(gs_ledger *l) {
  if (l && l->fd >= 0) l->hold = 1;
}

int gs_ledger_release(gs_ledger *l, gs_error *err) {
  if (!l) return 0;
  l->hold = 0;
  if (l->fd < 0 || l->npend == 0) return 0;
  size_t n = l->npend;
  l->npend = 0;
  return write_lines(l, l->pend, n, err);
}

/* Whole lines buf[0..o) by one write(2) (o < PIPE_BUF, so concurrent appends do not interleave),
 * then fsync. */
static int write_lines(gs_ledger *l, const char *buf, size_t o, gs_error *err) {
  /* The file removed (or replaced) while the sweep runs: lines written to the removed file would
   * be lost without a word. It is created again, when its directory is still there (a removed
   * results directory is not recreated here: the runner stops at its next write), and counted
   * in l->recreated for the caller to say so. */
  struct stat held, now;
  if (fstat(l->fd, &held) == 0 && (stat(l->path, &now) != 0 || now.st_ino != held.st_ino || now.st_dev != held.st_dev)) {
    char dir[sizeof l->path];
    GS_STRCPY(dir, l->path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    struct stat ds;
    gs_ledger fresh;
    gs_error e2 = {0};
    if (slash && stat(dir, &ds) == 0 && S_ISDIR(ds.st_mode) && gs_ledger_open(dir, &fresh, &e2) == 0) {
      close(l->fd);
      l->fd = fresh.fd;
      l->recreated++;
    }
  }
  lock(l->fd, LOCK_SH); /* shared among appenders: only excludes the repair in gs_ledger_open */
  ssize_t w = write_once(l->fd, buf, o);
  int e = errno;
  if (w >= 0 && (size_t)w != o) (void)write_once(l->fd, "\n", 1); /* end the fragment: no line glued to it */
  lock(l->fd, LOCK_UN);
  if (w < 0) return gs_fail(err, "%s: cannot append: %s", l->path, strerror(e));
  if ((size_t)w != o) return gs_fail(err, "%s: short write (%zd of %zu bytes): disk full?", l->path, w, o);
  if (fsync_retry(l->fd) != 0) return gs_fail(err, "%s: fsync: %s", l->path, strerror(errno));
  return 0;
}

void gs_ledger_close(gs_ledger *l) {
  if (l && l->fd >= 0 && l->npend) {
    gs_error e = {0};
    (void)gs_ledger_release(l, &e);
  }
  if (l && l->fd >= 0) {
    close(l->fd);
    l->fd = -1;
  }
}

/* ------------------------------------------------------------------ the view */

static uint64_t id_hash(const char *id) {
  uint64_t h = gs_hash64(id, strlen(id), GS_HASH_INIT);
  return h ^ (h >> 29); /* FNV's low bits are weak for a power-of-two table */
}

static void table_insert(gs_ledger_view *v, long idx) {
  uint64_t mask = (uint64_t)v->cap_ - 1;
  for (uint64_t s = id_hash(v->last[idx].run_id) & mask;; s = (s + 1) & mask)
    if (!v->slot_[s]) {
      v->slot_[s] = idx + 1;
      return;
    }
}

static void table_grow(gs_ledger_view *v) {
  long cap = v->cap_ ? v->cap_ * 2 : 1024;
  free(v->slot_);
  v->slot_ = gs_calloc((size_t)cap, sizeof(long));
  v->cap_ = cap;
  for (long i = 0; i < v->n; i++) table_insert(v, i);
}

long gs_ledger_lookup(const gs_ledger_view *v, const char *run_id, uint64_t hash) {
  if (!v || !v->cap_ || !run_id) return -1;
  uint64_t mask = (uint64_t)v->cap_ - 1;
  for (uint64_t s = id_hash(run_id) & mask;; s = (s + 1) & mask) {
    long k = v->slot_[s];
    if (!k) return -1;
    const gs_ledger_entry *e = &v->last[k - 1];
    if (e->hash == hash && strcmp(e->run_id, run_id) == 0) return k - 1;
  }
}

const gs_ledger_entry *gs_ledger_find(const gs_ledger_view *v, const char *run_id, uint64_t hash) {
  long i = gs_ledger_lookup(v, run_id, hash);
  return i < 0 ? NULL : &v->last[i];
}

const gs_ledger_entry *gs_ledger_find_id(const gs_ledger_view *v, const char *run_id) {
  if (!v || !v->cap_ || !run_id) return NULL;
  uint64_t mask = (uint64_t)v->cap_ - 1;
  const gs_ledger_entry *best = NULL;
  for (uint64_t s = id_hash(run_id) & mask;; s = (s + 1) & mask) {
    long k = v->slot_[s];
    if (!k) return best;
    const gs_ledger_entry *e = &v->last[k - 1];
    if (strcmp(e->run_id, run_id) == 0 && (!best || e->line > best->line)) best = e;
  }
}

void gs_ledger_view_free(gs_ledger_view *v) {
  if (!v) return;
  free(v->last);
  free(v->sum);
  free(v->slot_);
  memset(v, 0, sizeof *v);
}

/* Fold one well-formed entry into the view. */
static void view_add(gs_ledger_view *v, const gs_ledger_entry *e) {
  if (v->nentries == 0 || e->time < v->first_time) v->first_time = e->time;
  if (v->nentries == 0 || e->time > v->last_time) v->last_time = e->time;
  v->nentries++;
  long i = gs_ledger_lookup(v, e->run_id, e->hash);
  gs_ledger_summary *s;
  if (i < 0) {
    if (v->n == v->alloc_) {
      v->alloc_ = v->alloc_ ? v->alloc_ * 2 : 256;
      v->last = gs_realloc(v->last, sizeof *v->last * (size_t)v->alloc_);
      v->sum = gs_realloc(v->sum, sizeof *v->sum * (size_t)v->alloc_);
    }
    i = v->n++;
    s = &v->sum[i];
    memset(s, 0, sizeof *s);
    s->epoch = -1;
    s->first_time = e->time;
    s->open_since = -1;
    v->last[i] = *e;
    if (2 * v->n > v->cap_) table_grow(v); /* (re)inserts every entry, this one included */
    else table_insert(v, i);
  } else {
    s = &v->sum[i];
  }
  const gs_ledger_entry *prev = &v->last[i]; /* the previous line of this run (itself when new) */
  gs_lstate cls = gs_ledger_state_class(e->state);
  int ends = cls == GS_LSTATE_DONE || cls == GS_LSTATE_FAILED || cls == GS_LSTATE_INTERRUPTED;
  if (strcmp(e->state, "started") == 0) {
    if (s->open_since >= 0) s->busy += fmax(0.0, prev->time - s->open_since); /* attempt vanished */
    s->open_since = e->time;
    s->attempts++;
    s->open_epoch0 = s->open_epoch = 0;
    s->open_base = s->open_epoch_time = e->time;
  } else if (strcmp(e->state, "resumed") == 0 && s->open_since >= 0) {
    s->open_epoch0 = s->open_epoch = e->epoch > 0 ? e->epoch : 0;
    s->open_base = s->open_epoch_time = e->time;
  } else if (strcmp(e->state, "checkpointed") == 0 && s->open_since >= 0 && e->epoch > s->open_epoch) {
    s->open_epoch = e->epoch;
    s->open_epoch_time = e->time;
  } else if (ends && s->open_since >= 0) {
    s->busy += fmax(0.0, e->time - s->open_since);
    s->open_since = -1;
  }
  if (cls != GS_LSTATE_NOTE) GS_STRCPY(s->status, e->state);
  if (e->epoch >= 0) s->epoch = e->epoch;
  s->nlines++;
  v->last[i] = *e;
}

/* Copy a field (no NUL inside) into a small buffer for strto*. */
static int field_text(const char *p, size_t n, char *buf, size_t cap) {
  if (n == 0 || n >= cap || memchr(p, 0, n)) return -1;
  memcpy(buf, p, n);
  buf[n] = 0;
  return 0;
}

static int parse_long(const char *p, size_t n, long *out) {
  char buf[32], *end;
  if (field_text(p, n, buf, sizeof buf) != 0) return -1;
  if (!(buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9'))) return -1;
  errno = 0;
  long x = strtol(buf, &end, 10);
  if (errno || *end || end == buf) return -1;
  *out = x;
  return 0;
}

/* Parse one entry line [p, p+n) (no newline). Returns 0 and fills e, or -1. */
static int parse_entry(const char *p, size_t n, gs_ledger_entry *e) {
  const char *f[7];
  size_t fl[7];
  int nf = 0;
  const char *start = p, *end = p + n;
  for (const char *q = p; nf < 6; q++) {
    q = memchr(q, '\t', (size_t)(end - q));
    if (!q) return -1;
    f[nf] = start;
    fl[nf++] = (size_t)(q - start);
    start = q + 1;
  }
  f[6] = start;
  fl[6] = (size_t)(end - start);
  if (memchr(f[6], '\t', fl[6])) return -1;

  char buf[64], *endp;
  /* time: digits[.digits] */
  if (field_text(f[0], fl[0], buf, sizeof buf) != 0 || !(buf[0] >= '0' && buf[0] <= '9')) return -1;
  for (const char *c = buf; *c; c++)
    if (!((*c >= '0' && *c <= '9') || *c == '.')) return -1;
  e->time = strtod(buf, &endp);
  if (*endp || !isfinite(e->time)) return -1;
  /* state */
  if (field_text(f[1], fl[1], buf, sizeof buf) != 0 || !gs_ledger_state_valid(buf)) return -1;
  GS_STRCPY(e->state, buf);
  /* run id: must fit whole */
  long idn = unescape(f[2], fl[2], e->run_id, sizeof e->run_id);
  if (idn <= 0 || idn >= (long)sizeof e->run_id) return -1;
  /* hash: exactly 16 hex digits */
  if (fl[3] != 16) return -1;
  uint64_t h = 0;
  for (size_t i = 0; i < 16; i++) {
    char c = f[3][i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    h = h << 4 | (uint64_t)d;
  }
  e->hash = h;
  if (parse_long(f[4], fl[4], &e->epoch) != 0 || e->epoch < -1) return -1;
  if (parse_long(f[5], fl[5], &e->pid) != 0 || e->pid < 0) return -1;
  if (unescape(f[6], fl[6], e->message, sizeof e->message) < 0) return -1;
  return 0;
}

static int parse_lines(const char *text, size_t len, long line0, gs_ledger_view *v,
                       int (*fn)(const gs_ledger_entry *, void *), void *ctx, gs_error *err);

int gs_ledger_parse(const char *text, size_t len, gs_ledger_view *v, gs_error *err) {
  return parse_lines(text, len, 0, v, NULL, NULL, err);
}

/* Every well-formed line, in file order, to fn (when fn is set; else into the view v); the first
 * is line line0 + 1 of the file. fn returns non-zero to stop: parse_lines then returns that value. */
static int parse_lines(const char *text, size_t len, long line0, gs_ledger_view *v,
                       int (*fn)(const gs_ledger_entry *, void *), void *ctx, gs_error *err) {
  memset(v, 0, sizeof *v);
  const char *p = text, *end = text + len;
  long lineno = line0;
  gs_ledger_entry e;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    lineno++;
    v->nlines++;
    if (!nl) { /* torn last line: a writer died mid-write, or is writing right now */
      v->nbad++;
      v->torn = 1;
      break;
    }
    size_t n = (size_t)(nl - p);
    if (n && p[n - 1] == '\r') n--;
    if (n == 0) {
      /* blank: ignored */
    } else if (p[0] == '#') {
      const char *magic = "#gensweep-ledger ";
      size_t ml = strlen(magic);
      if (n >= ml && memcmp(p, magic, ml) == 0 && !(n == ml + 2 && memcmp(p + ml, "v1", 2) == 0)) {
        gs_fail(err, "ledger line %ld: format '%.*s' is not supported by gensweep %s (v1)", lineno,
                (int)(n - ml > 20 ? 20 : n - ml), p + ml, GS_VERSION);
        gs_ledger_view_free(v);
        return -1;
      }
    } else {
      if (parse_entry(p, n, &e) == 0) { /* (sets every field: no memset of 800 bytes a line) */
        e.line = lineno;
        if (!fn) {
          view_add(v, &e);
        } else {
          int rc = fn(&e, ctx);
          if (rc) return rc;
        }
      } else {
        v->nbad++;
      }
    }
    p = nl + 1;
  }
  return 0;
}

static int read_from(const char *dir, long long offset, char **text, size_t *len, char *path, size_t pathcap,
                     struct stat *out, gs_error *err);

int gs_ledger_read(const char *dir, gs_ledger_view *v, gs_error *err) {
  memset(v, 0, sizeof *v);
  char path[1100];
  char *buf = NULL;
  size_t n = 0;
  if (read_from(dir, 0, &buf, &n, path, sizeof path, NULL, err) != 0) return -1;
  if (!buf) return 0; /* no ledger yet: nothing happened */
  int rc = gs_ledger_parse(buf, n, v, err);
  free(buf);
  if (rc != 0) {
    char m[sizeof err->msg];
    GS_STRCPY(m, err ? err->msg : "");
    return gs_fail(err, "%s: %s", path, m);
  }
  return 0;
}

int gs_ledger_each(const char *dir, int (*fn)(const gs_ledger_entry *e, void *ctx), void *ctx, gs_error *err) {
  char path[1100];
  char *buf = NULL;
  size_t n = 0;
  if (read_from(dir, 0, &buf, &n, path, sizeof path, NULL, err) != 0) return -1;
  if (!buf) return 0;
  gs_ledger_view v;
  int rc = parse_lines(buf, n, 0, &v, fn, ctx, err);
  free(buf);
  return rc;
}

int gs_ledger_each_new(const char *dir, gs_ledger_cursor *cur, int (*fn)(const gs_ledger_entry *e, void *ctx),
                       void *ctx, gs_error *err) {
  char path[1100];
  char *buf = NULL;
  size_t n = 0;
  struct stat st;
  if (read_from(dir, cur->offset, &buf, &n, path, sizeof path, &st, err) != 0) return -1;
  if (!buf) return 0;
  if (cur->ino && (cur->ino != (unsigned long long)st.st_ino || cur->dev != (unsigned long long)st.st_dev)) {
    free(buf);
    return gs_fail(err, "%s: another file than the one read so far: the ledger was replaced", path);
  }
  cur->dev = (unsigned long long)st.st_dev;
  cur->ino = (unsigned long long)st.st_ino;
  /* complete lines only: a line being written is read whole next time */
  size_t whole = n;
  while (whole > 0 && buf[whole - 1] != '\n') whole--;
  long lines = 0;
  for (size_t i = 0; i < whole; i++) lines += buf[i] == '\n';
  gs_ledger_view v;
  int rc = parse_lines(buf, whole, cur->line, &v, fn, ctx, err);
  free(buf);
  if (rc == 0) {
    cur->offset += (long long)whole;
    cur->line += lines;
  }
  return rc;
}

/* The file from byte `offset` to its end into *text (gs_malloc'd; NULL when there is no ledger
 * yet and offset is 0). A file shorter than offset was replaced: an error. */
static int read_from(const char *dir, long long offset, char **text, size_t *len, char *path, size_t pathcap,
                     struct stat *out, gs_error *err) {
  *text = NULL;
  *len = 0;
  if ((size_t)snprintf(path, pathcap, "%s/%s", dir, GS_LEDGER_FILE) >= pathcap)
    return gs_fail(err, "ledger: directory name too long: %s", dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT && offset == 0) return 0; /* no ledger yet: nothing happened */
    return gs_fail(err, "%s: cannot open: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return gs_fail(err, "%s: not a regular file", path);
  }
  if (out) *out = st;
  if ((long long)st.st_size < offset) {
    close(fd);
    return gs_fail(err, "%s: the file is shorter (%lld bytes) than what was read of it (%lld): it was replaced", path,
                   (long long)st.st_size, offset);
  }
  /* read what is there now; lines appended meanwhile are read if they arrive before EOF */
  size_t cap = (size_t)((long long)st.st_size - offset) + 4096, n = 0;
  char *buf = gs_malloc(cap);
  for (;;) {
    if (n == cap) buf = gs_realloc(buf, cap *= 2);
    ssize_t r = pread(fd, buf + n, cap - n, (off_t)(offset + (long long)n));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      close(fd);
      return gs_fail(err, "%s: read error: %s", path, strerror(e));
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  *text = buf;
  *len = n;
  return 0;
}

/* ------------------------------------------------------------------ status */

gs_run_state gs_ledger_state_of(const gs_ledger_view *v, long i) {
  switch (gs_ledger_state_class(v->sum[i].status)) {
    case GS_LSTATE_RUNNING: return GS_RUN_RUNNING;
    case GS_LSTATE_DONE: return GS_RUN_DONE;
    case GS_LSTATE_FAILED: return GS_RUN_FAILED;
    case GS_LSTATE_INTERRUPTED: return GS_RUN_INTERRUPTED;
    default: return GS_RUN_PENDING; /* queued, or only notes */
  }
}

gs_run_state gs_ledger_run_state(const gs_ledger_view *v, const char *run_id, uint64_t hash, long *idx,
                                 int *stale) {
  long i = gs_ledger_lookup(v, run_id, hash);
  if (idx) *idx = i;
  if (stale) *stale = i < 0 && gs_ledger_find_id(v, run_id) != NULL;
  return i < 0 ? GS_RUN_PENDING : gs_ledger_state_of(v, i);
}

/* Ledger-only view: is index i the representative of its run id (its most recently written hash)? */
int gs_ledger_is_representative(const gs_ledger_view *v, long i) {
  return gs_ledger_find_id(v, v->last[i].run_id) == &v->last[i];
}

/* Mark every view index whose run id is run_id. */
void gs_ledger_mark_id(const gs_ledger_view *v, const char *run_id, char *mark) {
  if (!v->cap_) return;
  uint64_t mask = (uint64_t)v->cap_ - 1;
  for (uint64_t s = id_hash(run_id) & mask;; s = (s + 1) & mask) {
    long k = v->slot_[s];
    if (!k) return;
    if (strcmp(v->last[k - 1].run_id, run_id) == 0) mark[k - 1] = 1;
  }
}
