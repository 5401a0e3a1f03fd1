/* Point-cloud renders and PLY files (io/pcrender.h): a sphere is a filled disc of the documented
 * radius in every view, near points cover far ones, views of an anisotropic cloud differ, grid
 * sizes, same bits every time (and in every build: a golden hash), PNG and PLY round trips,
 * corrupt PLY files refused with the file and the problem named.
 * GS_PCRENDER_OUT=DIR keeps the grids of generated shapes (DIR/shapes_*.png) to look at. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/data/shapes.h"
#include "gensweep/io/pcrender.h"
#include "gensweep/io/png.h"

#define TEST_TMP_NAME "gs_pcrender"
#include "testutil.h"

static char tmpdir[256];
static void setup(void) { make_tmpdir(tmpdir, sizeof tmpdir); }
static void teardown(void) {
  if (tmpdir[0]) rm_rf(tmpdir);
}
TestSuite(pcrender, .init = setup, .fini = teardown);

static const char *tpath(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", tmpdir, name);
  return buf;
}

static gs_pc_style style(int s, float radius, float extent) {
  gs_pc_style st = {.size = s, .radius = radius, .extent = extent};
  return st;
}

/* n points spread evenly over the sphere of radius rho (Fibonacci lattice) */
static float *sphere(long n, double rho) {
  float *x = malloc(sizeof(float) * 3 * (size_t)n);
  const double ga = M_PI * (3.0 - sqrt(5.0));
  for (long i = 0; i < n; i++) {
    double z = 1.0 - (2.0 * i + 1.0) / (double)n, r = sqrt(1.0 - z * z), t = ga * (double)i;
    x[3 * i] = (float)(rho * r * cos(t));
    x[3 * i + 1] = (float)(rho * r * sin(t));
    x[3 * i + 2] = (float)(rho * z);
  }
  return x;
}

static uint8_t *render(const float *xyz, long n, gs_pc_view v, gs_pc_style st) {
  uint8_t *t = malloc((size_t)st.size * (size_t)gs_pc_tile_width(v, st.size));
  gs_error err = {0};
  cr_assert_eq(gs_pc_render(xyz, n, v, &st, t, &err), 0, "%s", err.msg);
  return t;
}

static long count_drawn(const uint8_t *t, long npix) {
  long c = 0;
  for (long i = 0; i < npix; i++) c += t[i] != 255;
  return c;
}

/* covered columns (or rows): the extent of the drawing along one image axis */
static int span(const uint8_t *t, int s, int w, int along_rows) {
  int lo = 1 << 30, hi = -1;
  for (int i = 0; i < s; i++)
    for (int j = 0; j < w; j++)
      if (t[i * w + j] != 255) {
        int k = along_rows ? i : j;
        if (k < lo) lo = k;
        if (k > hi) hi = k;
      }
  return hi < 0 ? 0 : hi - lo + 1;
}

/* ------------------------------------------------------------------ rendering */
Test(pcrender, sphere_is_filled_disc_of_documented_radius_in_every_view) {
  const long n = 20000;
  const struct {
    double rho;
    float radius;
  } cases[] = {{1.0, 1.0f}, {0.5, 2.5f}, {1.0, 0.0f}};
  for (int c = 0; c < 3; c++) {
    const long np = cases[c].rho == 1.0 ? n : n / 2; /* about the same density on the tile */
    float *x = sphere(np, cases[c].rho);
    const int s = 64;
    gs_pc_style st = style(s, cases[c].radius, 1.0f);
    /* header: k = (s/2 - 1 - radius) / extent; the disc's radius k rho + radius */
    const double R = (s / 2.0 - 1.0 - cases[c].radius) * cases[c].rho + cases[c].radius;
    for (int v = GS_PC_VIEW_X; v <= GS_PC_VIEW_THREE; v++) {
      uint8_t *t = render(x, np, (gs_pc_view)v, st);
      const int w = gs_pc_tile_width((gs_pc_view)v, s), nsub = w / s;
      for (int sub = 0; sub < nsub; sub++) {
        for (int i = 0; i < s; i++)
          for (int j = 0; j < s; j++) {
            double d = hypot(i + 0.5 - s / 2.0, j + 0.5 - s / 2.0);
            uint8_t px = t[i * w + sub * s + j];
            /* radius 0: each point covers the pixel it falls in only: the rim is ragged by a pixel */
            double inner = R - (cases[c].radius > 0 ? 1.0 : 1.5), outer = R + (cases[c].radius > 0 ? 0.0 : 0.75);
            if (d < inner) cr_assert_neq(px, 255, "case %d view %d/%d: hole at (%d, %d), %.2f from the centre", c, v, sub, i, j, d);
            if (d > outer) cr_assert_eq(px, 255, "case %d view %d/%d: ink at (%d, %d), %.2f from the centre", c, v, sub, i, j, d);
          }
        /* depth shading: the disc's centre is the sphere's nearest point, its rim the silhouette
         * (depth 0): grey 200 (1 - rho) / 2 near the centre, about 100 at the rim */
        const uint8_t centre = t[(s / 2) * w + sub * s + s / 2];
        const double want_centre = 100.0 * (1.0 - cases[c].rho);
        cr_assert(fabs(centre - want_centre) <= 3, "case %d view %d: centre grey %d, want about %.0f", c, v, centre, want_centre);
        const int rim_col = (int)(s / 2 + R - 1.5);
        const uint8_t rim = t[(s / 2) * w + sub * s + rim_col];
        cr_assert(rim > centre + 20 && rim <= 110, "case %d view %d: rim grey %d, centre %d", c, v, rim, centre);
      }
      free(t);
    }
    free(x);
  }
}

Test(pcrender, near_point_covers_far_point) {
  gs_pc_style st = style(32, 2.0f, 1.0f);
  /* two points on the z axis: in the top view (from +z) z = 0.5 is near, z = -0.5 far; in the
   * front view (from -y) they are apart. Both orders: index order does not decide. */
  const float near_far[6] = {0.1f, 0.2f, 0.5f, 0.1f, 0.2f, -0.5f};
  const float far_near[6] = {0.1f, 0.2f, -0.5f, 0.1f, 0.2f, 0.5f};
  uint8_t *a = render(near_far, 2, GS_PC_VIEW_Z, st), *b = render(far_near, 2, GS_PC_VIEW_Z, st);
  uint8_t *near_only = render(near_far, 1, GS_PC_VIEW_Z, st), *far_only = render(near_far + 3, 1, GS_PC_VIEW_Z, st);
  cr_assert_eq(memcmp(a, b, 32 * 32), 0);
  cr_assert_eq(memcmp(a, near_only, 32 * 32), 0, "the far point shows through");
  const long drawn = count_drawn(a, 32 * 32);
  cr_assert(drawn >= 9 && drawn <= 25, "a disc of radius 2: %ld pixels", drawn);
  for (int i = 0; i < 32 * 32; i++) {
    if (a[i] == 255) continue;
    cr_assert_eq(a[i], 50, "near point: grey 200 (1 - 0.5) / 2 = 50, got %d", a[i]); /* exact: 50.0 */
    cr_assert_eq(far_only[i], 150);
  }
  /* the view along x sees them one above the other, at the same depth (x = 0.1): two discs of
   * grey 200 (1 - 0.1) / 2 = 90 */
  uint8_t *side = render(near_far, 2, GS_PC_VIEW_X, st);
  long top = 0, bottom = 0;
  for (int i = 0; i < 32 * 32; i++)
    if (side[i] != 255) {
      cr_assert_eq(side[i], 90);
      *(i / 32 < 16 ? &top : &bottom) += 1;
    }
  cr_assert(top >= 9 && bottom >= 9, "side view: %ld pixels above, %ld below", top, bottom);
  free(a), free(b), free(near_only), free(far_only), free(side);
}

Test(pcrender, anisotropic_bar_differs_between_views) {
  /* a bar along x: x in [-0.9, 0.9], y = z = 0 */
  const long n = 400;
  float *x = calloc(3 * (size_t)n, sizeof(float));
  for (long i = 0; i < n; i++) x[3 * i] = (float)(-0.9 + 1.8 * (double)i / (double)(n - 1));
  const int s = 64;
  gs_pc_style st = style(s, 1.0f, 1.0f);
  uint8_t *vx = render(x, n, GS_PC_VIEW_X, st), *vy = render(x, n, GS_PC_VIEW_Y, st), *vz = render(x, n, GS_PC_VIEW_Z, st),
          *vo = render(x, n, GS_PC_VIEW_OBLIQUE, st);
  /* along the view axis: a dot of a few pixels */
  cr_assert(count_drawn(vx, s * s) <= 9, "x view: %ld pixels", count_drawn(vx, s * s));
  cr_assert_leq(span(vx, s, s, 0), 3);
  /* top and front views: a horizontal line 1.8 k + 2 radius long, k = 30 */
  for (int k = 0; k < 2; k++) {
    uint8_t *t = k ? vz : vy;
    int len = span(t, s, s, 0), thick = span(t, s, s, 1);
    cr_assert(abs(len - 56) <= 1, "view %c: length %d, want about 1.8 * 30 + 2 = 56", k ? 'z' : 'y', len);
    cr_assert_leq(thick, 3);
  }
  /* depth: the front view shades the bar evenly (depth -y = 0 everywhere: grey 100); the
   * oblique view sees +x nearer (c . x > 0), so the +x end is darker */
  int row = -1;
  for (int i = 0; i < s && row < 0; i++)
    for (int j = 0; j < s; j++)
      if (vy[i * s + j] != 255) row = i;
  cr_assert_eq(vy[row * s + 8], 100);
  cr_assert_eq(vy[row * s + 55], 100);
  int ocols = span(vo, s, s, 0);
  cr_assert(ocols >= 40 && ocols <= 52, "oblique: %d columns, want about 1.8 * 30 * cos 30 + 2 = 48.8", ocols);
  int lo_g = 255, hi_g = -1;
  for (int j = 0; j < s; j++)
    for (int i = 0; i < s; i++)
      if (vo[i * s + j] != 255) {
        if (lo_g == 255) lo_g = vo[i * s + j]; /* leftmost: the -x end */
        hi_g = vo[i * s + j];                  /* rightmost: the +x end */
      }
  cr_assert(hi_g < lo_g - 50, "oblique: +x end grey %d should be darker than -x end %d", hi_g, lo_g);
  free(vx), free(vy), free(vz), free(vo), free(x);
}

Test(pcrender, extent_zero_scales_each_cloud_by_its_own_bound) {
  /* a cloud of radius 0.25 at extent 0 renders as the same cloud times 4 at extent 1 (powers of
   * two: every product is exact, so the bits agree) */
  const long n = 500;
  float *a = sphere(n, 0.25), *b = malloc(sizeof(float) * 3 * n);
  a[0] = 0.25f, a[1] = 0.0f, a[2] = 0.0f; /* the bound, exactly */
  for (long i = 0; i < 3 * n; i++) b[i] = 4.0f * a[i];
  for (int v = GS_PC_VIEW_X; v <= GS_PC_VIEW_THREE; v++) {
    uint8_t *ta = render(a, n, (gs_pc_view)v, style(48, 1.5f, 0.0f)), *tb = render(b, n, (gs_pc_view)v, style(48, 1.5f, 1.0f));
    cr_assert_eq(memcmp(ta, tb, 48 * (size_t)gs_pc_tile_width((gs_pc_view)v, 48)), 0, "view %d", v);
    free(ta), free(tb);
  }
  free(a), free(b);
}

Test(pcrender, odd_values_clip_and_skip) {
  const float odd[] = {NAN, 0, 0, 0, INFINITY, 0, 1e38f, 0, 0, -3e38f, 3e38f, -3e38f, 3.0f, 0, 0, 0, 0, -1e-40f};
  gs_pc_style st = style(16, 1.0f, 1.0f);
  uint8_t *t = render(odd, 5, GS_PC_VIEW_OBLIQUE, st);
  cr_assert_eq(count_drawn(t, 16 * 16), 0, "non-finite and far-off points leave the tile blank");
  free(t);
  t = render(odd, 6, GS_PC_VIEW_Z, st); /* the last point, at the origin, is drawn */
  cr_assert_gt(count_drawn(t, 16 * 16), 0);
  cr_assert_lt(count_drawn(t, 16 * 16), 10);
  free(t);
  t = render(odd, 6, GS_PC_VIEW_THREE, style(16, 1.0f, 0.0f)); /* own bound: 3, from the point at x = 3 */
  cr_assert_gt(count_drawn(t, 16 * 48), 0);
  free(t);
  t = render(NULL, 0, GS_PC_VIEW_X, st);
  cr_assert_eq(count_drawn(t, 16 * 16), 0);
  free(t);
  gs_error err = {0};
  uint8_t buf[64 * 64];
  gs_pc_style bad = style(4, 1.0f, 1.0f);
  cr_assert_eq(gs_pc_render(odd, 1, GS_PC_VIEW_X, &bad, buf, &err), -1);
  cr_assert_not_null(strstr(err.msg, "tile size 4"), "%s", err.msg);
  bad = style(64, 17.0f, 1.0f);
  cr_assert_eq(gs_pc_render(odd, 1, GS_PC_VIEW_X, &bad, buf, &err), -1);
  cr_assert_not_null(strstr(err.msg, "point radius 17"), "%s", err.msg);
  bad = style(64, 1.0f, NAN);
  cr_assert_eq(gs_pc_render(odd, 1, GS_PC_VIEW_X, &bad, buf, &err), -1);
  cr_assert_not_null(strstr(err.msg, "extent"), "%s", err.msg);
  cr_assert_eq(gs_pc_render(odd, 1, (gs_pc_view)9, &st, buf, &err), -1);
  cr_assert_not_null(strstr(err.msg, "unknown view 9"), "%s", err.msg);
}

/* a fixed pseudo-random cloud in the unit ball */
static float *cloud(long n, uint32_t seed) {
  float *x = malloc(sizeof(float) * 3 * (size_t)n);
  uint32_t st = seed * 2654435761u + 1;
  for (long i = 0; i < 3 * n; i++) {
    st = st * 1664525u + 1013904223u;
    x[i] = (float)((double)(st >> 8) / (double)(1 << 24) * 1.4 - 0.7);
  }
  return x;
}

static uint64_t fnv(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

Test(pcrender, deterministic_and_golden) {
  const long n = 2048;
  float *x = cloud(n, 7);
  gs_pc_style st = style(64, 1.5f, 1.0f);
  uint64_t h[5];
  for (int v = GS_PC_VIEW_X; v <= GS_PC_VIEW_THREE; v++) {
    const size_t bytes = 64 * (size_t)gs_pc_tile_width((gs_pc_view)v, 64);
    uint8_t *a = render(x, n, (gs_pc_view)v, st), *b = render(x, n, (gs_pc_view)v, st);
    cr_assert_eq(memcmp(a, b, bytes), 0, "view %d: two renders differ", v);
    h[v] = fnv(a, bytes);
    free(a), free(b);
  }
  /* the same bits in every build (Release -march=native with FMA, Debug, sanitizers): the
   * renderer turns contraction off; these are the hashes of the first build */
  const uint64_t golden[5] = {0xdbdd9309f4bd66cbULL, 0xf2d9c09fc3ede708ULL, 0xe91f290b2100a123ULL, 0x4bc6e9cce6cd64c8ULL,
                             0xd56bf8cd8fb043c0ULL};
  for (int v = 0; v < 5; v++) cr_expect_eq(h[v], golden[v], "view %d: hash %#llx", v, (unsigned long long)h[v]);
  /* the three-view tile is the X, Y and Z tiles side by side */
  uint8_t *three = render(x, n, GS_PC_VIEW_THREE, st);
  for (int v = 0; v < 3; v++) {
    uint8_t *one = render(x, n, (gs_pc_view)v, st);
    for (int i = 0; i < 64; i++) cr_assert_eq(memcmp(three + i * 192 + v * 64, one + i * 64, 64), 0, "view %d row %d", v, i);
    free(one);
  }
  free(three);
  free(x);
}

/* ------------------------------------------------------------------ grids and PNG */
Test(pcrender, grid_sizes_contents_and_png_round_trip) {
  const long n = 300;
  const int rows = 3, cols = 8, s = 32;
  float *x = malloc(sizeof(float) * 3 * n * rows * cols);
  for (int k = 0; k < rows * cols; k++) {
    float *c = cloud(n, (uint32_t)k + 1);
    memcpy(x + (size_t)k * n * 3, c, sizeof(float) * 3 * n);
    free(c);
  }
  const float *list[24];
  for (int k = 0; k < 24; k++) list[k] = k == 5 ? NULL : x + (size_t)k * n * 3;
  gs_pc_style st = style(s, 1.0f, 1.0f);
  gs_error err = {0};
  for (int v = GS_PC_VIEW_Z; v <= GS_PC_VIEW_THREE; v += 2) {
    const int w = gs_pc_tile_width((gs_pc_view)v, s);
    int gw, gh;
    uint8_t *g = gs_pc_grid(list, rows, cols, n, (gs_pc_view)v, &st, &gw, &gh, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_eq(gw, cols * w + (cols + 1) * 2);
    cr_assert_eq(gh, rows * s + (rows + 1) * 2);
    /* tile (r, c) at (2 + r (s + 2), 2 + c (w + 2)) is that cloud's render; padding grey 128 */
    uint8_t *tiles = malloc((size_t)24 * s * w);
    cr_assert_eq(gs_pc_render_tiles(list, 24, n, (gs_pc_view)v, &st, tiles, &err), 0, "%s", err.msg);
    for (int k = 0; k < 24; k++) {
      int r = k / cols, c = k % cols;
      const uint8_t *t = tiles + (size_t)k * s * w;
      if (k == 5) cr_assert_eq(count_drawn(t, (long)s * w), 0, "a NULL cloud is a blank tile");
      for (int i = 0; i < s; i++)
        cr_assert_eq(memcmp(g + (size_t)(2 + r * (s + 2) + i) * gw + 2 + c * (w + 2), t + (size_t)i * w, (size_t)w), 0,
                     "view %d tile %d row %d", v, k, i);
    }
    for (int j = 0; j < gw; j++) cr_assert_eq(g[j], 128);
    for (int i = 0; i < gh; i++) cr_assert_eq(g[(size_t)i * gw + 1], 128);
    /* as the record's PNG would be: gs_grid_tile of the tiles */
    int tw, th;
    uint8_t *rec = gs_grid_tile(tiles, 24, s, w, cols, 2, 128, &tw, &th);
    cr_assert_eq(tw, gw);
    cr_assert_eq(th, gh);
    cr_assert_eq(memcmp(rec, g, (size_t)gw * gh), 0);
    /* written and read back */
    char p[512];
    cr_assert_eq(gs_pc_grid_png(tpath(p, sizeof p, "grid.png"), list, rows, cols, n, (gs_pc_view)v, &st, &err), 0, "%s",
                 err.msg);
    cr_assert(!exists(tpath(p, sizeof p, "grid.png.tmp")), "temporary file left");
    uint8_t *back;
    int bw, bh;
    cr_assert_eq(gs_png_read_gray(tpath(p, sizeof p, "grid.png"), &back, &bw, &bh, &err), 0, "%s", err.msg);
    cr_assert_eq(bw, gw);
    cr_assert_eq(bh, gh);
    cr_assert_eq(memcmp(back, g, (size_t)gw * gh), 0);
    free(back), free(rec), free(tiles), free(g);
  }
  /* sequences: rows x cols from one array = the same list without the blank */
  char p[512], q[512];
  const float *full[24];
  for (int k = 0; k < 24; k++) full[k] = x + (size_t)k * n * 3;
  cr_assert_eq(gs_pc_rows_png(tpath(p, sizeof p, "rows.png"), x, rows, cols, n, GS_PC_VIEW_OBLIQUE, &st, &err), 0, "%s", err.msg);
  cr_assert_eq(gs_pc_grid_png(tpath(q, sizeof q, "list.png"), full, rows, cols, n, GS_PC_VIEW_OBLIQUE, &st, &err), 0, "%s",
               err.msg);
  uint8_t *a, *b;
  int aw, ah, bw, bh;
  cr_assert_eq(gs_png_read_gray(p, &a, &aw, &ah, &err), 0, "%s", err.msg);
  cr_assert_eq(gs_png_read_gray(q, &b, &bw, &bh, &err), 0, "%s", err.msg);
  cr_assert_eq(aw, 8 * 32 + 9 * 2);
  cr_assert_eq(ah, 3 * 32 + 4 * 2);
  cr_assert(aw == bw && ah == bh && memcmp(a, b, (size_t)aw * ah) == 0);
  free(a), free(b);
  /* pairs: n rows of (input | reconstruction), three-view tiles */
  cr_assert_eq(gs_pc_pairs_png(tpath(p, sizeof p, "pairs.png"), x, x + 12 * n * 3, 4, n, GS_PC_VIEW_THREE, &st, &err), 0,
               "%s", err.msg);
  cr_assert_eq(gs_png_read_gray(p, &a, &aw, &ah, &err), 0, "%s", err.msg);
  cr_assert_eq(aw, 2 * 96 + 3 * 2);
  cr_assert_eq(ah, 4 * 32 + 5 * 2);
  const float *pl[8];
  for (int k = 0; k < 4; k++) pl[2 * k] = x + (size_t)k * n * 3, pl[2 * k + 1] = x + (size_t)(12 + k) * n * 3;
  uint8_t *g = gs_pc_grid(pl, 4, 2, n, GS_PC_VIEW_THREE, &st, &bw, &bh, &err);
  cr_assert(bw == aw && bh == ah && memcmp(a, g, (size_t)aw * ah) == 0);
  free(a), free(g);
  /* errors name the file */
  cr_assert_eq(gs_pc_grid_png("/nonexistent-gs-dir/g.png", full, 1, 1, n, GS_PC_VIEW_X, &st, &err), -1);
  cr_assert_not_null(strstr(err.msg, "/nonexistent-gs-dir/g.png"), "%s", err.msg);
  cr_assert_eq(gs_pc_grid_png(p, full, 0, 3, n, GS_PC_VIEW_X, &st, &err), -1);
  cr_assert_not_null(strstr(err.msg, p), "%s", err.msg);
  cr_assert_not_null(strstr(err.msg, "0 x 3"), "%s", err.msg);
  free(x);
}

/* The generated shapes as the write-up would show them: every class and sub-category, oblique
 * and three-view, and an interpolation-like sequence (a sphere blending into a torus). Checks
 * the grids' sizes; GS_PCRENDER_OUT=DIR keeps them. */
Test(pcrender, generated_shapes_grids) {
  gs_shapes_options o;
  gs_shapes_defaults(&o);
  o.points = 2048;
  o.seed = 3;
  const int ncl = 48; /* every (class, sub-category) pair once at least */
  float *x = malloc(sizeof(float) * 3 * 2048 * ncl);
  gs_error err = {0};
  cr_assert_eq(gs_shapes_generate(&o, 0, ncl, x, NULL, NULL, &err), 0, "%s", err.msg);
  const char *keep = getenv("GS_PCRENDER_OUT");
  char p[512];
  snprintf(p, sizeof p, "%s/shapes_oblique.png", keep && *keep ? keep : tmpdir);
  gs_pc_style st = gs_pc_style_default();
  cr_assert_eq(gs_pc_rows_png(p, x, 6, 8, 2048, GS_PC_VIEW_OBLIQUE, &st, &err), 0, "%s", err.msg);
  uint8_t *g;
  int w, h;
  cr_assert_eq(gs_png_read_gray(p, &g, &w, &h, &err), 0, "%s", err.msg);
  cr_assert_eq(w, 8 * 64 + 9 * 2);
  cr_assert_eq(h, 6 * 64 + 7 * 2);
  free(g);
  snprintf(p, sizeof p, "%s/shapes_three.png", keep && *keep ? keep : tmpdir);
  cr_assert_eq(gs_pc_pairs_png(p, x, x + 8 * 2048 * 3, 8, 2048, GS_PC_VIEW_THREE, &st, &err), 0, "%s", err.msg);
  /* 8 steps from cloud 0 (a sphere) to cloud 4 (a torus), point by point */
  float *seq = malloc(sizeof(float) * 3 * 2048 * 8);
  for (int k = 0; k < 8; k++)
    for (long i = 0; i < 3 * 2048; i++) seq[(size_t)k * 3 * 2048 + i] = (float)((1 - k / 7.0) * x[i] + k / 7.0 * x[4 * 3 * 2048 + i]);
  snprintf(p, sizeof p, "%s/shapes_sequence.png", keep && *keep ? keep : tmpdir);
  cr_assert_eq(gs_pc_rows_png(p, seq, 1, 8, 2048, GS_PC_VIEW_OBLIQUE, &st, &err), 0, "%s", err.msg);
  free(seq);
  free(x);
}

/* ------------------------------------------------------------------ PLY */
static char *slurp(const char *path, size_t *n) {
  gs_error err = {0};
  char *b = gs_read_file(path, n, &err);
  cr_assert_not_null(b, "%s", err.msg);
  return b;
}

Test(pcrender, ply_round_trip_bit_identical) {
  const long n = 2048;
  float *x = cloud(n, 11);
  /* values a text format would not keep: -0, a denormal, the extremes of float */
  x[0] = -0.0f, x[1] = 1e-45f, x[2] = 3.4028235e38f, x[3] = -1.17549435e-38f, x[4] = 0.1f, x[5] = 1.0f / 3.0f;
  char p[700];
  gs_error err = {0};
  cr_assert_eq(gs_ply_write(tpath(p, sizeof p, "c.ply"), x, n, "run-abc\n123", "recon 4", &err), 0, "%s", err.msg);
  cr_assert(!exists(tpath(p, sizeof p, "c.ply.tmp")));
  size_t len;
  char *b = slurp(tpath(p, sizeof p, "c.ply"), &len);
  const char *hdr = "ply\nformat binary_little_endian 1.0\ncomment gensweep run run-abc 123 cloud recon 4\n"
                    "element vertex 2048\nproperty float x\nproperty float y\nproperty float z\nend_header\n";
  cr_assert_eq(strncmp(b, hdr, strlen(hdr)), 0, "header:\n%.200s", b);
  cr_assert_eq(len, strlen(hdr) + 12 * (size_t)n);
  const uint8_t fltmax[4] = {0xff, 0xff, 0x7f, 0x7f}; /* 3.4028235e38 = 0x7f7fffff, little-endian */
  cr_assert_eq(memcmp(b + strlen(hdr) + 8, fltmax, 4), 0);
  free(b);
  float *y;
  long m;
  cr_assert_eq(gs_ply_read(p, &y, &m, &err), 0, "%s", err.msg);
  cr_assert_eq(m, n);
  cr_assert_eq(memcmp(x, y, sizeof(float) * 3 * n), 0, "not bit-identical");
  free(y);
  /* export of chosen clouds from an (n, N, 3) array */
  float *many = malloc(sizeof(float) * 3 * 100 * 5);
  for (int i = 0; i < 3 * 100 * 5; i++) many[i] = (float)i * 0.001f;
  const long which[2] = {1, 4};
  char dir[600];
  snprintf(dir, sizeof dir, "%s/ply/sub", tmpdir);
  cr_assert_eq(gs_ply_export(dir, "run-x", "input", many, 5, 100, which, 2, &err), 0, "%s", err.msg);
  for (int k = 0; k < 2; k++) {
    snprintf(p, sizeof p, "%s/input_%ld.ply", dir, which[k]);
    cr_assert_eq(gs_ply_read(p, &y, &m, &err), 0, "%s", err.msg);
    cr_assert_eq(m, 100);
    cr_assert_eq(memcmp(y, many + which[k] * 300, sizeof(float) * 300), 0);
    free(y);
    b = slurp(p, &len);
    char want[64];
    snprintf(want, sizeof want, "comment gensweep run run-x cloud input %ld\n", which[k]);
    cr_assert_not_null(strstr(b, want), "%.200s", b);
    free(b);
  }
  const long bad_which = 5;
  cr_assert_eq(gs_ply_export(dir, "run-x", "input", many, 5, 100, &bad_which, 1, &err), -1);
  cr_assert_not_null(strstr(err.msg, "cloud 5"), "%s", err.msg);
  /* a cloud with a NaN is refused, naming the vertex */
  x[3 * 7 + 1] = NAN;
  cr_assert_eq(gs_ply_write(tpath(p, sizeof p, "nan.ply"), x, n, "r", "c", &err), -1);
  cr_assert_not_null(strstr(err.msg, "vertex 7"), "%s", err.msg);
  cr_assert(!exists(p) && !exists(tpath(p, sizeof p, "nan.ply.tmp")));
  free(many);
  free(x);
}

Test(pcrender, ply_reads_ascii_and_double_and_extra_properties) {
  char p[512];
  gs_error err = {0};
  const char *ascii = "ply\r\nformat ascii 1.0\r\ncomment made by hand\r\nelement vertex 3\r\n"
                      "property double x\r\nproperty uchar red\r\nproperty float z\r\nproperty float y\r\n"
                      "element face 1\r\nproperty list uchar int vertex_indices\r\nend_header\r\n"
                      "0.5 255 -1.25e-1 3\n-0 0 1e-3 -2.5\n  7\t1 8 9\n3 0 1 2\n";
  write_bytes(tpath(p, sizeof p, "a.ply"), ascii, strlen(ascii));
  float *y;
  long m;
  cr_assert_eq(gs_ply_read(p, &y, &m, &err), 0, "%s", err.msg);
  cr_assert_eq(m, 3);
  const float want[9] = {0.5f, 3.0f, -0.125f, -0.0f, -2.5f, 1e-3f, 7.0f, 9.0f, 8.0f};
  cr_assert_eq(memcmp(y, want, sizeof want), 0);
  free(y);
  /* binary: double x, a short before y, float y and z */
  uint8_t bin[256];
  const char *h = "ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty double x\nproperty short s\n"
                  "property float y\nproperty float z\nend_header\n";
  size_t hl = strlen(h), o = hl;
  memcpy(bin, h, hl);
  const double xs[2] = {0.25, -1e-300};
  const float ys[2] = {1.5f, -0.0f}, zs[2] = {2.0f, 1e-45f};
  for (int v = 0; v < 2; v++) { /* little-endian hosts: the bytes as they are in memory */
    memcpy(bin + o, &xs[v], 8), o += 8;
    bin[o++] = 0x34, bin[o++] = 0x12;
    memcpy(bin + o, &ys[v], 4), o += 4;
    memcpy(bin + o, &zs[v], 4), o += 4;
  }
  write_bytes(tpath(p, sizeof p, "b.ply"), bin, o);
  cr_assert_eq(gs_ply_read(p, &y, &m, &err), 0, "%s", err.msg);
  cr_assert_eq(m, 2);
  const float wantb[6] = {0.25f, 1.5f, 2.0f, (float)-1e-300, -0.0f, 1e-45f};
  cr_assert_eq(memcmp(y, wantb, sizeof wantb), 0);
  free(y);
  /* an empty cloud */
  const char *empty = "ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\nproperty float z\nend_header\n";
  write_bytes(tpath(p, sizeof p, "e.ply"), empty, strlen(empty));
  cr_assert_eq(gs_ply_read(p, &y, &m, &err), 0, "%s", err.msg);
  cr_assert_eq(m, 0);
  free(y);
}

/* the reader refuses the file with a message naming it and containing `what` */
static void refused(const char *name, const void *data, size_t n, const char *what) {
  char p[512];
  write_bytes(tpath(p, sizeof p, name), data, n);
  float *y = (float *)1;
  long m = -1;
  gs_error err = {0};
  cr_assert_eq(gs_ply_read(p, &y, &m, &err), -1, "%s: read", name);
  cr_assert_null(y);
  cr_assert_eq(m, 0);
  cr_assert_not_null(strstr(err.msg, p), "%s: %s", name, err.msg);
  cr_assert_not_null(strstr(err.msg, what), "%s: want \"%s\" in: %s", name, what, err.msg);
}

Test(pcrender, ply_corrupt_inputs_give_clear_errors) {
  const long n = 1000;
  float *x = cloud(n, 5);
  char p[512];
  gs_error err = {0};
  cr_assert_eq(gs_ply_write(tpath(p, sizeof p, "good.ply"), x, n, "r", "c", &err), 0, "%s", err.msg);
  size_t len;
  char *good = slurp(p, &len);
  const size_t hl = (size_t)(strstr(good, "end_header\n") + 11 - good);
  /* truncated: cut in the body, and just after the header */
  refused("cut.ply", good, hl + 12 * 600 + 5, "truncated body");
  refused("cut.ply", good, hl + 12 * 600 + 5, "ends in vertex 600");
  refused("cut2.ply", good, len - 1, "truncated body");
  refused("nobody.ply", good, hl, "vertex count 1000 too large");
  refused("nohdr.ply", good, hl - 5, "no end_header");
  /* wrong magic */
  char *bad = malloc(len);
  memcpy(bad, good, len);
  bad[0] = 'P';
  refused("magic.ply", bad, len, "bad magic");
  refused("empty.ply", "", 0, "bad magic");
  refused("png.ply", "\x89PNG\r\n\x1a\n", 8, "bad magic");
  /* a huge count: refused before allocating */
  char big[2048];
  int bl = snprintf(big, sizeof big, "ply\nformat binary_little_endian 1.0\nelement vertex 4611686018427387904\n"
                    "property float x\nproperty float y\nproperty float z\nend_header\n");
  memset(big + bl, 0, 120);
  refused("huge.ply", big, (size_t)bl + 120, "vertex count 4611686018427387904 too large for the file");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 1.0\nelement vertex 99999999999\n"
                "property float x\nproperty float y\nproperty float z\nend_header\n1 2 3\n");
  refused("hugea.ply", big, (size_t)bl, "vertex count 99999999999 too large for the file");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 1.0\nelement vertex 99999999999999999999999\n"
                "property float x\nproperty float y\nproperty float z\nend_header\n");
  refused("overflow.ply", big, (size_t)bl, "is not a number of vertices");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 1.0\nelement vertex -3\n"
                "property float x\nproperty float y\nproperty float z\nend_header\n");
  refused("negative.ply", big, (size_t)bl, "is not a number of vertices");
  /* NaN: binary and ASCII, and a double beyond float range */
  memcpy(bad, good, len);
  const float nan = NAN;
  memcpy(bad + hl + 12 * 321 + 8, &nan, 4);
  refused("nan.ply", bad, len, "vertex 321 has a non-finite coordinate (z = nan)");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 1.0\nelement vertex 2\n"
                "property float x\nproperty float y\nproperty float z\nend_header\n1 2 3\n4 inf 6\n");
  refused("inf.ply", big, (size_t)bl, "vertex 1 has a non-finite coordinate (y = inf)");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 1.0\nelement vertex 1\n"
                "property double x\nproperty double y\nproperty double z\nend_header\n1e300 2 3\n");
  refused("range.ply", big, (size_t)bl, "beyond float range");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 1.0\nelement vertex 2\n"
                "property float x\nproperty float y\nproperty float z\nend_header\n1 2 3 4.0000 5\n");
  refused("shorta.ply", big, (size_t)bl, "truncated body: the file ends in vertex 1 of 2");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 1.0\nelement vertex 1\n"
                "property float x\nproperty float y\nproperty float z\nend_header\n1 2x 3\n");
  refused("word.ply", big, (size_t)bl, "\"2x\" is not a number");
  /* formats and headers it cannot use */
  bl = snprintf(big, sizeof big, "ply\nformat binary_big_endian 1.0\nelement vertex 1\n"
                "property float x\nproperty float y\nproperty float z\nend_header\n123456789012");
  refused("be.ply", big, (size_t)bl, "unsupported format binary_big_endian");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 2.0\nelement vertex 1\nend_header\n");
  refused("v2.ply", big, (size_t)bl, "unsupported format version 2.0");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 1.0\nelement vertex 1\n"
                "property int x\nproperty float y\nproperty float z\nend_header\n1 2 3\n");
  refused("int.ply", big, (size_t)bl, "coordinates must be float or double");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 1.0\nelement vertex 1\n"
                "property float x\nproperty float z\nend_header\n1 3\n");
  refused("noy.ply", big, (size_t)bl, "no y property");
  bl = snprintf(big, sizeof big, "ply\nformat ascii 1.0\nelement face 1\nproperty list uchar int vertex_indices\n"
                "element vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n3 0 0 0\n1 2 3\n");
  refused("face.ply", big, (size_t)bl, "needs vertex first");
  bl = snprintf(big, sizeof big, "ply\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n");
  refused("nofmt.ply", big, (size_t)bl, "no format line");
  /* a missing file and a directory */
  float *y;
  long m;
  cr_assert_eq(gs_ply_read(tpath(p, sizeof p, "none.ply"), &y, &m, &err), -1);
  cr_assert_not_null(strstr(err.msg, "none.ply: cannot open"), "%s", err.msg);
  cr_assert_eq(gs_ply_read(tmpdir, &y, &m, &err), -1);
  cr_assert_not_null(strstr(err.msg, "directory"), "%s", err.msg);
  free(bad);
  free(good);
  free(x);
}
