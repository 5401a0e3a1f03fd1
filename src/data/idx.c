/* IDX reader (MNIST file format), gzip-compressed or plain. See include/gensweep/data/data.h.
 *
 * Layout: magic (0x00 0x00 <type> <ndim>), ndim big-endian uint32 dims, then the data.
 * Only the unsigned-byte element type (0x08) is supported. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "gensweep/data/data.h"

#define IDX_MAX_BYTES 2147483647L /* data larger than 2^31 - 1 bytes is refused */
#define READ_CHUNK (64u << 20)     /* bytes per gzread call */

/* outcome of reading from the stream */
enum { RD_OK = 0, RD_SHORT, RD_CORRUPT, RD_IOERR };

typedef struct {
  const char *path;
  gzFile gz;
  int gzip; /* gzip magic seen */
  int zerr; /* zlib error code after the last short read */
  char zmsg[256];
} reader;

/* Read exactly n bytes (or fewer at the end of the stream). *got = bytes delivered. */
static int read_full(reader *r, void *buf, long n, long *got) {
  uint8_t *p = buf;
  long done = 0;
  while (done < n) {
    long want = n - done;
    unsigned chunk = want > (long)READ_CHUNK ? READ_CHUNK : (unsigned)want;
    int k = gzread(r->gz, p + done, chunk);
    if (k > 0) done += k;
    if (k == (int)chunk) continue;
    /* short read or error: find out why */
    int zerr = Z_OK;
    const char *m = gzerror(r->gz, &zerr);
    r->zerr = zerr;
    if (!m || !*m) m = "unknown error";
    size_t pl = strlen(r->path); /* zlib prefixes its messages with the path */
    if (strncmp(m, r->path, pl) == 0 && m[pl] == ':' && m[pl + 1] == ' ') m += pl + 2;
    snprintf(r->zmsg, sizeof r->zmsg, "%s", m);
    *got = done;
    if (zerr == Z_DATA_ERROR || zerr == Z_STREAM_ERROR) return RD_CORRUPT;
    if (zerr == Z_ERRNO) {
      snprintf(r->zmsg, sizeof r->zmsg, "%s", strerror(errno ? errno : EIO));
      return RD_IOERR;
    }
    if (zerr == Z_MEM_ERROR) return RD_IOERR;
    if (k < 0) return RD_IOERR;
    if (k == 0 || gzeof(r->gz) || zerr == Z_BUF_ERROR) return RD_SHORT;
  }
  *got = done;
  return RD_OK;
}

/* Turn a non-OK read status into an error message. `what` describes what was being read. */
static int read_fail(reader *r, int st, const char *what, long expected, long got, gs_error *err) {
  switch (st) {
  case RD_CORRUPT:
    return gs_fail(err, "%s: corrupt gzip data (%s) while reading %s", r->path, r->zmsg, what);
  case RD_IOERR:
    return gs_fail(err, "%s: read error while reading %s: %s", r->path, what, r->zmsg);
  default:
    if (r->gzip && r->zerr == Z_BUF_ERROR)
      return gs_fail(err, "%s: truncated: expected %ld bytes of %s, found %ld (gzip stream ends early)", r->path,
                     expected, what, got);
    return gs_fail(err, "%s: truncated: expected %ld bytes of %s, found %ld", r->path, expected, what, got);
  }
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static const char *type_name(int t) {
  switch (t) {
  case 0x09: return "signed byte";
  case 0x0B: return "16-bit integer";
  case 0x0C: return "32-bit integer";
  case 0x0D: return "32-bit float";
  case 0x0E: return "64-bit float";
  default: return "unknown type";
  }
}

static const char *ndim_name(int ndim) {
  return ndim == 3 ? "images" : ndim == 1 ? "labels" : ndim == 2 ? "vectors" : "tensor";
}

static const char *data_name(int ndim) {
  return ndim == 3 ? "image data" : ndim == 1 ? "label data" : "data";
}

/* header_only: stop after the header (out->data stays NULL) */
static int read_body(reader *r, int expected_ndim, int header_only, gs_idx *out, gs_error *err) {
  uint8_t magic[4];
  long got = 0;
  int st = read_full(r, magic, 4, &got);
  if (st == RD_SHORT && got == 0 && !r->gzip) return gs_fail(err, "%s: empty file (not an IDX file)", r->path);
  if (st != RD_OK) return read_fail(r, st, "IDX header", 4, got, err);
  unsigned m = (unsigned)magic[0] << 24 | (unsigned)magic[1] << 16 | (unsigned)magic[2] << 8 | magic[3];
  if (magic[0] != 0 || magic[1] != 0) return gs_fail(err, "%s: not an IDX file (bad magic 0x%08x)", r->path, m);
  int type = magic[2], ndim = magic[3];
  if (type != 0x08) {
    if (strcmp(type_name(type), "unknown type") == 0)
      return gs_fail(err, "%s: not an IDX file (bad magic 0x%08x: unknown element type 0x%02x)", r->path, m, type);
    return gs_fail(err,
                   "%s: unsupported IDX element type 0x%02x (%s); only unsigned byte (0x08) is supported "
                   "(magic 0x%08x)",
                   r->path, type, type_name(type), m);
  }
  if (ndim < 1 || ndim > 4)
    return gs_fail(err, "%s: unsupported IDX file with %d dimensions (magic 0x%08x); 1 to 4 are supported", r->path,
                   ndim, m);
  if (expected_ndim > 0 && ndim != expected_ndim)
    return gs_fail(err, "%s: expected %d dimension%s (%s), found %d", r->path, expected_ndim,
                   expected_ndim == 1 ? "" : "s", ndim_name(expected_ndim), ndim);

  uint8_t dimb[16];
  st = read_full(r, dimb, 4L * ndim, &got);
  if (st != RD_OK) {
    char what[64];
    snprintf(what, sizeof what, "IDX header (%d dimension%s)", ndim, ndim == 1 ? "" : "s");
    return read_fail(r, st, what, 4 + 4L * ndim, 4 + got, err);
  }
  uint64_t dims[4], total = 1;
  for (int i = 0; i < ndim; i++) {
    const uint8_t *b = dimb + 4 * i;
    dims[i] = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
  }
  char shape[128] = "";
  for (int i = 0; i < ndim; i++) {
    size_t l = strlen(shape);
    snprintf(shape + l, sizeof shape - l, "%s%llu", i ? " x " : "", (unsigned long long)dims[i]);
  }
  for (int i = 0; i < ndim; i++) {
    if (dims[i] == 0) return gs_fail(err, "%s: dimension %d is 0 (shape %s): no data", r->path, i, shape);
    total *= dims[i];
    if (total > (uint64_t)IDX_MAX_BYTES)
      return gs_fail(err, "%s: too large: shape %s exceeds the limit of %ld bytes (2 GiB)", r->path, shape,
                     IDX_MAX_BYTES);
  }

  long n = (long)total;
  if (header_only) {
    memset(out, 0, sizeof *out);
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) out->dims[i] = (int)dims[i];
    out->count = out->dims[0];
    out->item_size = n / out->count;
    return 0;
  }
  uint8_t *data = malloc((size_t)n);
  if (!data) return gs_fail(err, "%s: out of memory allocating %ld bytes for shape %s", r->path, n, shape);
  st = read_full(r, data, n, &got);
  if (st != RD_OK) {
    free(data);
    return read_fail(r, st, data_name(ndim), n, got, err);
  }
  /* anything after the data is an error (also runs the gzip trailer check) */
  uint8_t extra[65536];
  long nextra = 0;
  for (;;) {
    st = read_full(r, extra, sizeof extra, &got);
    nextra += got;
    if (st != RD_OK || got < (long)sizeof extra) break;
  }
  if (st == RD_CORRUPT || st == RD_IOERR) {
    free(data);
    return read_fail(r, st, "the end of the file", 0, 0, err);
  }
  if (r->gzip && r->zerr == Z_BUF_ERROR) {
    free(data);
    return gs_fail(err, "%s: truncated: gzip stream ends before its end-of-stream checksum", r->path);
  }
  if (nextra > 0) {
    free(data);
    return gs_fail(err, "%s: trailing garbage: %ld unexpected byte%s after the %ld bytes of %s (shape %s)", r->path,
                   nextra, nextra == 1 ? "" : "s", n, data_name(ndim), shape);
  }
  memset(out, 0, sizeof *out);
  out->ndim = ndim;
  for (int i = 0; i < ndim; i++) out->dims[i] = (int)dims[i];
  out->count = out->dims[0];
  out->item_size = n / out->count;
  out->data = data;
  return 0;
}

static int idx_open(const char *path, int expected_ndim, int header_only, gs_idx *out, gs_error *err) {
  memset(out, 0, sizeof *out);
  /* resolve: path as given, else with ".gz" added (or removed) */
  char alt[4096];
  size_t len = strlen(path);
  if (len + 4 >= sizeof alt) return gs_fail(err, "%s: path too long", path);
  if (len > 3 && strcmp(path + len - 3, ".gz") == 0) {
    memcpy(alt, path, len - 3);
    alt[len - 3] = 0;
  } else {
    snprintf(alt, sizeof alt, "%s.gz", path);
  }
  const char *use = path;
  if (!file_exists(path)) {
    if (errno != ENOENT && errno != ENOTDIR) return gs_fail(err, "%s: cannot access: %s", path, strerror(errno));
    if (!file_exists(alt)) return gs_fail(err, "%s: missing (no such file, also tried %s)", path, alt);
    use = alt;
  }
  struct stat st;
  if (stat(use, &st) == 0 && S_ISDIR(st.st_mode)) return gs_fail(err, "%s: is a directory, not an IDX file", use);

  /* gzip is told by its magic bytes, not by the name */
  FILE *f = fopen(use, "rb");
  if (!f) return gs_fail(err, "%s: cannot open: %s", use, strerror(errno));
  unsigned char sig[2] = {0, 0};
  size_t ns = fread(sig, 1, 2, f);
  int ferr = ferror(f);
  fclose(f);
  if (ferr) return gs_fail(err, "%s: read error: %s", use, strerror(errno));

  reader r = {.path = use, .gzip = ns == 2 && sig[0] == 0x1f && sig[1] == 0x8b};
  r.gz = gzopen(use, "rb");
  if (!r.gz) return gs_fail(err, "%s: cannot open: %s", use, errno ? strerror(errno) : "out of memory");
  gzbuffer(r.gz, 1u << 20);
  int rc = read_body(&r, expected_ndim, header_only, out, err);
  gzclose_r(r.gz);
  return rc;
}

int gs_idx_read(const char *path, int expected_ndim, gs_idx *out, gs_error *err) {
  return idx_open(path, expected_ndim, 0, out, err);
}

int gs_idx_read_header(const char *path, int expected_ndim, gs_idx *out, gs_error *err) {
  return idx_open(path, expected_ndim, 1, out, err);
}

void gs_idx_free(gs_idx *x) {
  if (!x) return;
  free(x->data);
  memset(x, 0, sizeof *x);
}
