/* Point-cloud renders and PLY files. The projection, the shading and the formats are described in
 * include/gensweep/io/pcrender.h. */
/* Contraction off: whether the compiler fuses a multiply-add (it does with -march=native on an
 * FMA machine) would move a disc's edge pixel between builds; without it a render is the same
 * bits in every build (tests/unit/test_pcrender.c holds a golden hash). */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "gensweep/io/pcrender.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/core/atomic.h"
#include "gensweep/io/h5util.h"
#include "gensweep/io/png.h"

#define BACKGROUND 255
#define PAD_GREY 128

/* ------------------------------------------------------------------ views */
/* A camera: screen right r, screen up u, toward the viewer c (orthonormal, right-handed: u = c x r). */
typedef struct camera {
  double r[3], u[3], c[3];
} camera;

/* The oblique view's constants, azimuth a = elevation e = 30 degrees, written out (not computed
 * with sin/cos) so the camera is the same bits whatever the libm:
 *   c = (cos e sin a, -cos e cos a, sin e), r = (cos a, sin a, 0), u = c x r = (-sin e sin a, sin e cos a, cos e). */
#define COS30 0.86602540378443864676
static const camera CAMERAS[4] = {
    [GS_PC_VIEW_X] = {{0, 1, 0}, {0, 0, 1}, {1, 0, 0}},
    [GS_PC_VIEW_Y] = {{1, 0, 0}, {0, 0, 1}, {0, -1, 0}},
    [GS_PC_VIEW_Z] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
    [GS_PC_VIEW_OBLIQUE] = {{COS30, 0.5, 0}, {-0.25, 0.5 * COS30, COS30}, {0.5 * COS30, -COS30 * COS30, 0.5}},
};

gs_pc_style gs_pc_style_default(void) {
  gs_pc_style st = {.size = 64, .radius = 1.5f, .extent = 1.0f};
  return st;
}

int gs_pc_check(gs_pc_view view, const gs_pc_style *st, gs_error *err) {
  if ((int)view < GS_PC_VIEW_X || (int)view > GS_PC_VIEW_THREE) return gs_fail(err, "point-cloud render: unknown view %d", (int)view);
  if (!st) return gs_fail(err, "point-cloud render: no style");
  if (st->size < 8 || st->size > GS_PC_MAX_SIZE)
    return gs_fail(err, "point-cloud render: tile size %d outside 8 .. %d pixels", st->size, GS_PC_MAX_SIZE);
  if (!(st->radius >= 0.0f) || st->radius > 0.25f * (float)st->size)
    return gs_fail(err, "point-cloud render: point radius %g outside 0 .. %g pixels (a quarter of the tile)", (double)st->radius,
                   0.25 * st->size);
  if (!(st->extent >= 0.0f) || !isfinite(st->extent))
    return gs_fail(err, "point-cloud render: extent %g is not a finite number >= 0", (double)st->extent);
  return 0;
}

int gs_pc_tile_width(gs_pc_view view, int s) { return view == GS_PC_VIEW_THREE ? 3 * s : s; }

/* ------------------------------------------------------------------ rendering */
static int finite_point(const float *p) { return isfinite(p[0]) && isfinite(p[1]) && isfinite(p[2]); }

/* the farthest finite point's distance from the origin (1 when there is none, or all are at it) */
static double cloud_bound(const float *xyz, long n) {
  double m2 = 0.0;
  for (long i = 0; i < n; i++) {
    const float *p = xyz + 3 * i;
    if (!finite_point(p)) continue;
    double d2 = (double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2];
    if (d2 > m2) m2 = d2;
  }
  double m = sqrt(m2);
  return m > 0.0 && isfinite(m) ? m : 1.0;
}

/* One view of a cloud into the s x s square at dst (rows `stride` apart), depth buffer zbuf (s*s).
 * Points in index order; a pixel takes a point only if it is strictly nearer than what the pixel
 * holds, so on equal depth the earlier point stays: the result is a function of the inputs. */
static void render_view(const float *xyz, long n, const camera *cam, int s, double radius, double extent, uint8_t *dst,
                        int stride, double *zbuf) {
  for (long i = 0; i < (long)s * s; i++) zbuf[i] = -INFINITY;
  const double half = 0.5 * s, k = (half - 1.0 - radius) / extent, r2 = radius * radius;
  for (long i = 0; i < n; i++) {
    const float *p = xyz + 3 * i;
    if (!finite_point(p)) continue;
    const double x = p[0], y = p[1], z = p[2];
    const double col = half + k * (x * cam->r[0] + y * cam->r[1] + z * cam->r[2]);
    const double row = half - k * (x * cam->u[0] + y * cam->u[1] + z * cam->u[2]);
    const double depth = x * cam->c[0] + y * cam->c[1] + z * cam->c[2];
    /* off the tile, disc included (also keeps the int conversions below in range) */
    if (!(col + radius + 1.0 > 0.0 && col - radius - 1.0 < s && row + radius + 1.0 > 0.0 && row - radius - 1.0 < s))
      continue;
    const int jc = (int)floor(col), ic = (int)floor(row); /* the pixel the point falls in */
    int j0 = (int)floor(col - radius - 0.5), j1 = (int)floor(col + radius + 0.5);
    int i0 = (int)floor(row - radius - 0.5), i1 = (int)floor(row + radius + 0.5);
    if (j0 < 0) j0 = 0;
    if (i0 < 0) i0 = 0;
    if (j1 > s - 1) j1 = s - 1;
    if (i1 > s - 1) i1 = s - 1;
    for (int pi = i0; pi <= i1; pi++) {
      const double dy = pi + 0.5 - row;
      for (int pj = j0; pj <= j1; pj++) {
        const double dx = pj + 0.5 - col;
        if (dx * dx + dy * dy > r2 && !(pi == ic && pj == jc)) continue;
        double *zb = &zbuf[(long)pi * s + pj];
        if (depth > *zb) *zb = depth;
      }
    }
  }
  /* shade: nearest (depth +extent) 0, farthest (depth -extent) GS_PC_FAR_GREY */
  for (int pi = 0; pi < s; pi++)
    for (int pj = 0; pj < s; pj++) {
      const double d = zbuf[(long)pi * s + pj];
      uint8_t v = BACKGROUND;
      if (d > -INFINITY) {
        double g = GS_PC_FAR_GREY * (extent - d) / (2.0 * extent);
        if (!(g > 0.0)) g = 0.0;
        if (g > GS_PC_FAR_GREY) g = GS_PC_FAR_GREY;
        v = (uint8_t)floor(g + 0.5);
      }
      dst[(long)pi * stride + pj] = v;
    }
}

/* one tile (s x w), zbuf of s*s doubles; xyz NULL or n 0: blank */
static void render_tile(const float *xyz, long n, gs_pc_view view, const gs_pc_style *st, uint8_t *tile, double *zbuf) {
  const int s = st->size, w = gs_pc_tile_width(view, s);
  if (!xyz || n <= 0) {
    memset(tile, BACKGROUND, (size_t)s * (size_t)w);
    return;
  }
  const double extent = st->extent > 0.0f ? (double)st->extent : cloud_bound(xyz, n);
  if (view == GS_PC_VIEW_THREE) {
    for (int v = 0; v < 3; v++) render_view(xyz, n, &CAMERAS[v], s, st->radius, extent, tile + (size_t)v * s, w, zbuf);
  } else {
    render_view(xyz, n, &CAMERAS[view], s, st->radius, extent, tile, w, zbuf);
  }
}

int gs_pc_render(const float *xyz, long n, gs_pc_view view, const gs_pc_style *st, uint8_t *tile, gs_error *err) {
  if (gs_pc_check(view, st, err) != 0) return -1;
  if (n < 0) return gs_fail(err, "point-cloud render: %ld points", n);
  double *zbuf = gs_malloc(sizeof(double) * (size_t)st->size * (size_t)st->size);
  render_tile(xyz, n, view, st, tile, zbuf);
  free(zbuf);
  return 0;
}

int gs_pc_render_tiles(const float *const *clouds, int n, long points, gs_pc_view view, const gs_pc_style *st,
                       uint8_t *out, gs_error *err) {
  if (gs_pc_check(view, st, err) != 0) return -1;
  if (n < 0 || points < 0) return gs_fail(err, "point-cloud render: %d clouds of %ld points", n, points);
  const size_t tile = (size_t)st->size * (size_t)gs_pc_tile_width(view, st->size);
  double *zbuf = gs_malloc(sizeof(double) * (size_t)st->size * (size_t)st->size);
  for (int k = 0; k < n; k++) render_tile(clouds[k], points, view, st, out + (size_t)k * tile, zbuf);
  free(zbuf);
  return 0;
}

uint8_t *gs_pc_grid(const float *const *clouds, int rows, int cols, long points, gs_pc_view view,
                    const gs_pc_style *st, int *gw, int *gh, gs_error *err) {
  *gw = *gh = 0;
  if (gs_pc_check(view, st, err) != 0) return NULL;
  const int s = st->size, w = gs_pc_tile_width(view, s);
  if (rows < 1 || cols < 1) {
    gs_fail(err, "point-cloud grid: %d x %d tiles", rows, cols);
    return NULL;
  }
  /* gs_grid_tile's limit, checked here to say so */
  const long W = (long)cols * w + (long)(cols + 1) * GS_PC_GRID_PAD, H = (long)rows * s + (long)(rows + 1) * GS_PC_GRID_PAD;
  if (W > 1000000 || H > 1000000 || (double)W * (double)H > (double)(1L << 28)) {
    gs_fail(err, "point-cloud grid: %d x %d tiles of %d x %d pixels make a %ld x %ld image, too large", rows, cols, s, w,
            W, H);
    return NULL;
  }
  const int n = rows * cols;
  uint8_t *tiles = gs_malloc((size_t)n * (size_t)s * (size_t)w);
  if (gs_pc_render_tiles(clouds, n, points, view, st, tiles, err) != 0) {
    free(tiles);
    return NULL;
  }
  uint8_t *g = gs_grid_tile(tiles, n, s, w, cols, GS_PC_GRID_PAD, PAD_GREY, gw, gh);
  free(tiles);
  if (!g) gs_fail(err, "point-cloud grid: cannot tile %d x %d tiles of %d x %d pixels", rows, cols, s, w);
  return g;
}

/* a PNG through core/atomic.h: written to path.tmp, renamed into place when whole */
static int png_atomic(const char *path, const uint8_t *pix, int w, int h, gs_error *err) {
  gs_atomic a;
  if (gs_atomic_begin(&a, path, err) != 0) return -1;
  if (gs_png_write_gray(a.tmp, pix, w, h, err) != 0) {
    gs_atomic_abort(&a);
    return -1;
  }
  return gs_atomic_commit(&a, err);
}

int gs_pc_grid_png(const char *path, const float *const *clouds, int rows, int cols, long points, gs_pc_view view,
                   const gs_pc_style *st, gs_error *err) {
  int gw, gh;
  uint8_t *g = gs_pc_grid(clouds, rows, cols, points, view, st, &gw, &gh, err);
  if (!g) {
    char why[sizeof err->msg];
    GS_STRCPY(why, err ? err->msg : "");
    return gs_fail(err, "%s: %s", path, why);
  }
  int rc = png_atomic(path, g, gw, gh, err);
  free(g);
  return rc;
}

int gs_pc_pairs_png(const char *path, const float *inputs, const float *recons, int n, long points, gs_pc_view view,
                    const gs_pc_style *st, gs_error *err) {
  if (n < 1 || points < 0) return gs_fail(err, "%s: %d pairs of clouds of %ld points", path, n, points);
  const float **list = gs_malloc(sizeof *list * 2 * (size_t)n);
  for (int k = 0; k < n; k++) {
    list[2 * k] = inputs + (size_t)k * (size_t)points * 3;
    list[2 * k + 1] = recons + (size_t)k * (size_t)points * 3;
  }
  int rc = gs_pc_grid_png(path, list, n, 2, points, view, st, err);
  free(list);
  return rc;
}

int gs_pc_rows_png(const char *path, const float *xyz, int rows, int cols, long points, gs_pc_view view,
                   const gs_pc_style *st, gs_error *err) {
  if (rows < 1 || cols < 1 || points < 0 || (long)rows * cols > INT_MAX / 2)
    return gs_fail(err, "%s: %d x %d clouds of %ld points", path, rows, cols, points);
  const int n = rows * cols;
  const float **list = gs_malloc(sizeof *list * (size_t)n);
  for (int k = 0; k < n; k++) list[k] = xyz + (size_t)k * (size_t)points * 3;
  int rc = gs_pc_grid_png(path, list, rows, cols, points, view, st, err);
  free(list);
  return rc;
}

/* ------------------------------------------------------------------ PLY writing */
/* text for a header comment: one line, never empty */
static void comment_text(char *dst, size_t n, const char *src) {
  gs_strlcpy(dst, src && *src ? src : "-", n);
  for (char *c = dst; *c; c++)
    if (*c == '\n' || *c == '\r') *c = ' ';
}

static void put_le32(uint8_t *b, uint32_t u) {
  b[0] = (uint8_t)u;
  b[1] = (uint8_t)(u >> 8);
  b[2] = (uint8_t)(u >> 16);
  b[3] = (uint8_t)(u >> 24);
}

int gs_ply_write(const char *path, const float *xyz, long points, const char *run, const char *cloud, gs_error *err) {
  if (points < 0 || (points > 0 && !xyz)) return gs_fail(err, "%s: cannot write a cloud of %ld points", path, points);
  if (points > (LONG_MAX - 4096) / 12) return gs_fail(err, "%s: %ld points, too many for one file", path, points);
  /* our reader refuses non-finite coordinates, and so would most viewers: say so now */
  for (long i = 0; i < points; i++)
    if (!finite_point(xyz + 3 * i))
      return gs_fail(err, "%s: vertex %ld has a non-finite coordinate (%g, %g, %g); not written", path, i,
                     (double)xyz[3 * i], (double)xyz[3 * i + 1], (double)xyz[3 * i + 2]);
  char run_c[256], cloud_c[256], header[1024];
  comment_text(run_c, sizeof run_c, run);
  comment_text(cloud_c, sizeof cloud_c, cloud);
  int hl = snprintf(header, sizeof header,
                    "ply\nformat binary_little_endian 1.0\ncomment gensweep run %s cloud %s\nelement vertex %ld\n"
                    "property float x\nproperty float y\nproperty float z\nend_header\n",
                    run_c, cloud_c, points);
  if (hl < 0 || (size_t)hl >= sizeof header) return gs_fail(err, "%s: PLY header too long", path);
  const size_t len = (size_t)hl + 12 * (size_t)points;
  uint8_t *buf = gs_malloc(len);
  memcpy(buf, header, (size_t)hl);
  uint8_t *b = buf + hl;
  for (long i = 0; i < 3 * points; i++, b += 4) {
    uint32_t u;
    memcpy(&u, &xyz[i], 4);
    put_le32(b, u);
  }
  int rc = gs_atomic_write(path, buf, len, err);
  free(buf);
  return rc;
}

int gs_ply_export(const char *dir, const char *run, const char *name, const float *xyz, long n, long points,
                  const long *which, int nwhich, gs_error *err) {
  if (nwhich > 0 && gs_mkdirs(dir, err) != 0) return -1;
  for (int k = 0; k < nwhich; k++) {
    if (which[k] < 0 || which[k] >= n)
      return gs_fail(err, "%s: cloud %ld of %s asked for, there are %ld", dir, which[k], name, n);
    char path[4096], cloud[300];
    if ((size_t)snprintf(path, sizeof path, "%s/%s_%ld.ply", dir, name, which[k]) >= sizeof path)
      return gs_fail(err, "%s: path too long", dir);
    snprintf(cloud, sizeof cloud, "%s %ld", name, which[k]);
    if (gs_ply_write(path, xyz + (size_t)which[k] * (size_t)points * 3, points, run, cloud, err) != 0) return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ PLY reading */
/* A PLY of a few million points is tens of MB; a file larger than this is not one we mean to read. */
#define PLY_MAX_BYTES (1UL << 30)
#define PLY_MAX_PROPS 64

typedef enum { T_INT8, T_UINT8, T_INT16, T_UINT16, T_INT32, T_UINT32, T_FLOAT, T_DOUBLE, T_BAD } ply_type;
static const struct {
  const char *name, *alias;
  int size;
} TYPES[] = {{"char", "int8", 1},   {"uchar", "uint8", 1},   {"short", "int16", 2},   {"ushort", "uint16", 2},
             {"int", "int32", 4},   {"uint", "uint32", 4},   {"float", "float32", 4}, {"double", "float64", 8}};

static ply_type type_of(const char *t) {
  for (int i = 0; i < T_BAD; i++)
    if (strcmp(t, TYPES[i].name) == 0 || strcmp(t, TYPES[i].alias) == 0) return (ply_type)i;
  return T_BAD;
}

static uint64_t get_le(const uint8_t *b, int size) {
  uint64_t u = 0;
  for (int i = size - 1; i >= 0; i--) u = u << 8 | b[i];
  return u;
}

/* a coordinate read from a file, as float; -1 (with err) when it is not finite as a float */
static int coord(const char *path, long v, int axis, double d, float *out, gs_error *err) {
  float f = (float)d;
  if (!isfinite(f)) {
    if (isfinite(d))
      return gs_fail(err, "%s: vertex %ld has a coordinate beyond float range (%c = %g)", path, v, 'x' + axis, d);
    return gs_fail(err, "%s: vertex %ld has a non-finite coordinate (%c = %g)", path, v, 'x' + axis, d);
  }
  *out = f;
  return 0;
}

/* split a header line (NUL-terminated, modified) into at most max words; returns their number */
static int words(char *line, char **w, int max) {
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(line, " \t", &save); t && n < max; t = strtok_r(NULL, " \t", &save)) w[n++] = t;
  return n;
}

int gs_ply_read(const char *path, float **xyz, long *points, gs_error *err) {
  *xyz = NULL;
  *points = 0;
  size_t len;
  char *buf = gs_read_file_max(path, PLY_MAX_BYTES, &len, err);
  if (!buf) return -1;
  int rc = -1;
  float *out = NULL;
  if (len < 4 || memcmp(buf, "ply", 3) != 0 || !(buf[3] == '\n' || (buf[3] == '\r' && len > 4 && buf[4] == '\n'))) {
    gs_fail(err, "%s: not a PLY file (bad magic: it does not begin with the line \"ply\")", path);
    goto out;
  }
  /* ---- header */
  int ascii = -1;          /* format: 1 ascii, 0 binary little-endian */
  int in_vertex = 0;       /* the element being declared is vertex */
  int seen_element = 0;
  long long count = -1;
  int nprops = 0, vsize = 0, slot[3] = {-1, -1, -1};
  ply_type types[PLY_MAX_PROPS];
  size_t pos = buf[3] == '\n' ? 4 : 5, body = 0;
  for (int lineno = 2;; lineno++) {
    char *nl = memchr(buf + pos, '\n', len - pos);
    if (!nl) {
      gs_fail(err, "%s: the header has no end_header line (truncated header?)", path);
      goto out;
    }
    size_t ll = (size_t)(nl - (buf + pos));
    if (ll > 0 && buf[pos + ll - 1] == '\r') ll--;
    char line[512], *w[8];
    const char *raw = buf + pos;
    pos = (size_t)(nl - buf) + 1;
    if ((ll >= 7 && strncmp(raw, "comment", 7) == 0) || (ll >= 8 && strncmp(raw, "obj_info", 8) == 0)) continue;
    if (ll >= sizeof line || memchr(raw, 0, ll)) {
      gs_fail(err, "%s: header line %d is %s", path, lineno, ll >= sizeof line ? "too long" : "not text");
      goto out;
    }
    memcpy(line, raw, ll);
    line[ll] = 0;
    int nw = words(line, w, 8);
    if (nw == 0) continue;
    if (strcmp(w[0], "end_header") == 0) {
      body = pos;
      break;
    }
    if (strcmp(w[0], "format") == 0) {
      if (nw != 3) {
        gs_fail(err, "%s: header line %d: a format line is \"format <type> 1.0\"", path, lineno);
        goto out;
      }
      if (strcmp(w[1], "ascii") == 0) ascii = 1;
      else if (strcmp(w[1], "binary_little_endian") == 0) ascii = 0;
      else {
        gs_fail(err, "%s: unsupported format %s (only ascii and binary_little_endian)", path, w[1]);
        goto out;
      }
      if (strcmp(w[2], "1.0") != 0) {
        gs_fail(err, "%s: unsupported format version %s (only 1.0)", path, w[2]);
        goto out;
      }
    } else if (strcmp(w[0], "element") == 0) {
      if (nw != 3) {
        gs_fail(err, "%s: header line %d: an element line is \"element <name> <count>\"", path, lineno);
        goto out;
      }
      in_vertex = 0;
      if (!seen_element) {
        seen_element = 1;
        if (strcmp(w[1], "vertex") != 0) {
          gs_fail(err, "%s: the first element is %s; this reader needs vertex first", path, w[1]);
          goto out;
        }
        char *end;
        errno = 0;
        count = strtoll(w[2], &end, 10);
        if (*end || end == w[2] || w[2][0] == '-' || errno == ERANGE) {
          gs_fail(err, "%s: vertex count \"%s\" is not a number of vertices", path, w[2]);
          goto out;
        }
        in_vertex = 1;
      }
    } else if (strcmp(w[0], "property") == 0) {
      if (!seen_element) {
        gs_fail(err, "%s: header line %d: a property before any element", path, lineno);
        goto out;
      }
      if (!in_vertex) continue; /* properties of later elements: not read */
      if (nw >= 2 && strcmp(w[1], "list") == 0) {
        gs_fail(err, "%s: vertex property list %s is not supported (scalar vertex properties only)", path,
                nw >= 5 ? w[4] : "?");
        goto out;
      }
      if (nw != 3) {
        gs_fail(err, "%s: header line %d: a property line is \"property <type> <name>\"", path, lineno);
        goto out;
      }
      ply_type t = type_of(w[1]);
      if (t == T_BAD) {
        gs_fail(err, "%s: vertex property %s has an unknown type %s", path, w[2], w[1]);
        goto out;
      }
      if (nprops == PLY_MAX_PROPS) {
        gs_fail(err, "%s: more than %d vertex properties", path, PLY_MAX_PROPS);
        goto out;
      }
      int axis = strcmp(w[2], "x") == 0 ? 0 : strcmp(w[2], "y") == 0 ? 1 : strcmp(w[2], "z") == 0 ? 2 : -1;
      if (axis >= 0) {
        if (t != T_FLOAT && t != T_DOUBLE) {
          gs_fail(err, "%s: vertex property %s is %s; coordinates must be float or double", path, w[2], w[1]);
          goto out;
        }
        if (slot[axis] >= 0) {
          gs_fail(err, "%s: vertex property %s declared twice", path, w[2]);
          goto out;
        }
        slot[axis] = nprops;
      }
      types[nprops++] = t;
      vsize += TYPES[t].size;
    } else {
      gs_fail(err, "%s: header line %d: unknown keyword %s", path, lineno, w[0]);
      goto out;
    }
  }
  if (ascii < 0) {
    gs_fail(err, "%s: the header has no format line", path);
    goto out;
  }
  if (count < 0) {
    gs_fail(err, "%s: the header declares no vertex element", path);
    goto out;
  }
  for (int a = 0; a < 3; a++)
    if (slot[a] < 0) {
      gs_fail(err, "%s: the vertex element has no %c property", path, 'x' + a);
      goto out;
    }
  /* ---- body: refuse a count the file cannot hold before allocating for it */
  const size_t left = len - body;
  if (ascii) {
    /* each vertex is nprops numbers of at least one character, each followed by a separator
     * (the last one's may be missing) */
    const size_t per = 2 * (size_t)nprops;
    if ((unsigned long long)count > (left + 1) / per) {
      gs_fail(err, "%s: vertex count %lld too large for the file: %zu bytes after the header hold at most %zu vertices",
              path, count, left, (left + 1) / per);
      goto out;
    }
  } else if ((unsigned long long)count > left / (size_t)vsize) {
    const size_t fit = left / (size_t)vsize;
    if ((unsigned long long)count / 2 > len / (size_t)vsize)
      gs_fail(err, "%s: vertex count %lld too large for the file: %zu bytes after the header hold %zu vertices of %d bytes",
              path, count, left, fit, vsize);
    else
      gs_fail(err, "%s: truncated body: the header announces %lld vertices of %d bytes, the file ends in vertex %zu",
              path, count, vsize, fit);
    goto out;
  }
  const long n = (long)count;
  out = malloc(sizeof(float) * 3 * (size_t)(n > 0 ? n : 1));
  if (!out) {
    gs_fail(err, "%s: cannot allocate memory for %ld vertices", path, n);
    goto out;
  }
  if (ascii) {
    char *p = buf + body;
    for (long v = 0; v < n; v++)
      for (int q = 0; q < nprops; q++) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (*p == 0) {
          gs_fail(err, "%s: truncated body: the file ends in vertex %ld of %ld", path, v, n);
          goto out;
        }
        char *end;
        double d = strtod(p, &end);
        if (end == p || !(*end == 0 || *end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) {
          char tok[24];
          size_t tl = strcspn(p, " \t\r\n");
          snprintf(tok, sizeof tok, "%.*s%s", (int)(tl < 16 ? tl : 16), p, tl > 16 ? "..." : "");
          gs_fail(err, "%s: vertex %ld: \"%s\" is not a number", path, v, tok);
          goto out;
        }
        p = end;
        for (int a = 0; a < 3; a++)
          if (slot[a] == q && coord(path, v, a, d, &out[3 * v + a], err) != 0) goto out;
      }
  } else {
    int off[PLY_MAX_PROPS];
    for (int q = 0, o = 0; q < nprops; q++) {
      off[q] = o;
      o += TYPES[types[q]].size;
    }
    const uint8_t *b = (const uint8_t *)buf + body;
    for (long v = 0; v < n; v++, b += vsize)
      for (int a = 0; a < 3; a++) {
        const int q = slot[a];
        double d;
        if (types[q] == T_FLOAT) {
          uint32_t u = (uint32_t)get_le(b + off[q], 4);
          float f;
          memcpy(&f, &u, 4);
          d = f;
        } else {
          uint64_t u = get_le(b + off[q], 8);
          memcpy(&d, &u, 8);
        }
        if (coord(path, v, a, d, &out[3 * v + a], err) != 0) goto out;
      }
  }
  *xyz = out;
  *points = n;
  out = NULL;
  rc = 0;
out:
  free(out);
  free(buf);
  return rc;
}

/* ------------------------------------------------------------------ clouds of a run file */

int gs_runfile_clouds(const char *path, const char *name, float **xyz, long *n, long *points, gs_error *err) {
  *xyz = NULL;
  *n = *points = 0;
  hid_t f = gs_h5_open_readonly(path, err);
  if (f < 0) return -1;
  char dset[256];
  snprintf(dset, sizeof dset, "pointclouds/%s", name);
  int rc = -1;
  hsize_t dims[3] = {0, 0, 0}, np = 0;
  hid_t d = -1;
  if (H5Lexists(f, "pointclouds", H5P_DEFAULT) <= 0 || H5Lexists(f, dset, H5P_DEFAULT) <= 0) {
    gs_fail(err, "%s: no /%s (point-cloud arrays are in /pointclouds of a point-cloud model's run file)", path, dset);
    goto out;
  }
  d = gs_h5_dataset_open(f, dset, 3, dims, &np);
  if (d < 0 || dims[2] != 3 || dims[0] < 1 || dims[1] < 1 || np > (hsize_t)1 << 31) {
    gs_fail(err, "%s: /%s is not an array of clouds (n, N, 3)", path, dset);
    goto out;
  }
  double *v = malloc(sizeof(double) * (size_t)np);
  if (!v) {
    gs_fail(err, "%s: /%s: out of memory", path, dset);
    goto out;
  }
  if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
    free(v);
    gs_fail(err, "%s: cannot read /%s", path, dset);
    goto out;
  }
  *xyz = gs_malloc(sizeof(float) * (size_t)np);
  for (hsize_t i = 0; i < np; i++) (*xyz)[i] = (float)v[i];
  free(v);
  *n = (long)dims[0];
  *points = (long)dims[1];
  rc = 0;
out:
  if (d >= 0) H5Dclose(d);
  H5Fclose(f);
  if (rc) H5Eclear2(H5E_DEFAULT);
  return rc;
}
