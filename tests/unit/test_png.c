/* PNG writing / reading and grid tiling. Files written by gensweep are read back with libpng's own
 * simplified API, and colour files written with that API are read back by gensweep. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/io/png.h"

static char tmpdir[256];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static void setup(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/gs_test_png_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
}

static void teardown(void) {
  if (tmpdir[0]) nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(png, .init = setup, .fini = teardown);

static const char *tpath(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", tmpdir, name);
  return buf;
}

/* read with libpng's simplified API, as 8-bit grey */
static uint8_t *libpng_read_gray(const char *path, int *w, int *h) {
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  cr_assert(png_image_begin_read_from_file(&im, path), "libpng: %s", im.message);
  cr_assert_eq(im.format & PNG_FORMAT_FLAG_COLOR, 0u, "written file should be greyscale");
  im.format = PNG_FORMAT_GRAY;
  uint8_t *buf = malloc(PNG_IMAGE_SIZE(im));
  cr_assert(png_image_finish_read(&im, NULL, buf, 0, NULL), "libpng: %s", im.message);
  *w = (int)im.width;
  *h = (int)im.height;
  png_image_free(&im);
  return buf;
}

/* n images of ih x iw; image k pixel (y, x) = (k * 37 + y * 11 + x * 3) % 256, avoiding the pad value */
static uint8_t *make_images(int n, int ih, int iw) {
  uint8_t *p = malloc((size_t)n * ih * iw);
  for (int k = 0; k < n; k++)
    for (int y = 0; y < ih; y++)
      for (int x = 0; x < iw; x++) {
        int v = (k * 37 + y * 11 + x * 3) % 256;
        p[((size_t)k * ih + y) * iw + x] = (uint8_t)(v == 128 ? 129 : v);
      }
  return p;
}

/* check tiling layout: tile k at (pad + r*(ih+pad), pad + c*(iw+pad)), everything else padval */
static void check_grid(const uint8_t *g, int gw, int gh, const uint8_t *imgs, int n, int ih, int iw, int cols, int pad,
                       uint8_t padval) {
  int rows = (n + cols - 1) / cols;
  cr_assert_eq(gw, cols * iw + (cols + 1) * pad);
  cr_assert_eq(gh, rows * ih + (rows + 1) * pad);
  for (int y = 0; y < gh; y++)
    for (int x = 0; x < gw; x++) {
      int ty = y - pad, tx = x - pad;
      int r = ty >= 0 ? ty / (ih + pad) : -1, c = tx >= 0 ? tx / (iw + pad) : -1;
      int iy = ty - r * (ih + pad), ix = tx - c * (iw + pad);
      int k = r * cols + c;
      uint8_t want = padval;
      if (r >= 0 && c >= 0 && c < cols && iy < ih && ix < iw && k < n) want = imgs[((size_t)k * ih + iy) * iw + ix];
      cr_assert_eq(g[(size_t)y * gw + x], want, "pixel (%d, %d)", x, y);
    }
}

Test(png, tile_geometry_partial_last_row) {
  int n = 7, ih = 4, iw = 5, cols = 3, gw, gh;
  uint8_t *imgs = make_images(n, ih, iw);
  uint8_t *g = gs_grid_tile(imgs, n, ih, iw, cols, 2, 77, &gw, &gh);
  cr_assert_not_null(g);
  cr_assert_eq(gw, 3 * 5 + 4 * 2); /* 23 */
  cr_assert_eq(gh, 3 * 4 + 4 * 2); /* 3 rows: 20 */
  check_grid(g, gw, gh, imgs, n, ih, iw, cols, 2, 77);
  free(g);
  g = gs_grid_tile(imgs, n, ih, iw, 7, 0, 0, &gw, &gh); /* one row, no padding */
  cr_assert_eq(gw, 35);
  cr_assert_eq(gh, 4);
  check_grid(g, gw, gh, imgs, n, ih, iw, 7, 0, 0);
  free(g);
  g = gs_grid_tile(imgs, 1, ih, iw, 4, 1, 9, &gw, &gh); /* more columns than images */
  cr_assert_eq(gw, 4 * 5 + 5);
  cr_assert_eq(gh, 4 + 2);
  check_grid(g, gw, gh, imgs, 1, ih, iw, 4, 1, 9);
  free(g);
  cr_assert_null(gs_grid_tile(imgs, 0, ih, iw, 3, 2, 0, &gw, &gh));
  free(imgs);
}

Test(png, write_grid_read_back_libpng) {
  char p[512];
  int n = 10, ih = 28, iw = 28, cols = 4;
  uint8_t *imgs = make_images(n, ih, iw);
  imgs[0] = 0;
  imgs[1] = 255; /* extremes survive */
  gs_error err = {0};
  cr_assert_eq(gs_png_write_grid(tpath(p, sizeof p, "grid.png"), imgs, n, ih, iw, cols, &err), 0, "%s", err.msg);
  int w, h;
  uint8_t *g = libpng_read_gray(p, &w, &h);
  cr_assert_eq(w, 4 * 28 + 5 * 2);
  cr_assert_eq(h, 3 * 28 + 4 * 2);
  check_grid(g, w, h, imgs, n, ih, iw, cols, 2, 128);
  /* and through gensweep's reader */
  uint8_t *g2;
  int w2, h2;
  cr_assert_eq(gs_png_read_gray(p, &g2, &w2, &h2, &err), 0, "%s", err.msg);
  cr_assert_eq(w2, w);
  cr_assert_eq(h2, h);
  cr_assert_eq(memcmp(g, g2, (size_t)w * h), 0);
  free(g);
  free(g2);
  free(imgs);
}

Test(png, write_gray_roundtrip_all_values) {
  char p[512];
  int w = 256, h = 3;
  uint8_t pix[256 * 3];
  for (int i = 0; i < w * h; i++) pix[i] = (uint8_t)(i * 7 + i / 256);
  gs_error err = {0};
  cr_assert_eq(gs_png_write_gray(tpath(p, sizeof p, "g.png"), pix, w, h, &err), 0, "%s", err.msg);
  int rw, rh;
  uint8_t *r = libpng_read_gray(p, &rw, &rh);
  cr_assert_eq(rw, w);
  cr_assert_eq(rh, h);
  cr_assert_eq(memcmp(r, pix, sizeof pix), 0);
  free(r);
}

/* write with the simplified API in `format` from 8-bit grey values (expanded) */
static void libpng_write(const char *path, png_uint_32 format, const uint8_t *gray, int w, int h) {
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  im.width = (png_uint_32)w;
  im.height = (png_uint_32)h;
  im.format = format;
  int ch = (int)PNG_IMAGE_SAMPLE_CHANNELS(format);
  uint8_t *buf = malloc((size_t)w * h * ch);
  for (int i = 0; i < w * h; i++)
    for (int c = 0; c < ch; c++) buf[(size_t)i * ch + c] = (c == 3 || (ch == 2 && c == 1)) ? 255 : gray[i];
  cr_assert(png_image_write_to_file(&im, path, 0, buf, 0, NULL), "libpng: %s", im.message);
  free(buf);
}

Test(png, read_colour_converted_to_gray) {
  char p[512];
  int w = 9, h = 7;
  uint8_t gray[63];
  for (int i = 0; i < 63; i++) gray[i] = (uint8_t)(i * 4);
  png_uint_32 formats[] = {PNG_FORMAT_RGB, PNG_FORMAT_RGBA, PNG_FORMAT_GA, PNG_FORMAT_GRAY};
  for (int f = 0; f < 4; f++) {
    libpng_write(tpath(p, sizeof p, "c.png"), formats[f], gray, w, h);
    uint8_t *pix;
    int rw, rh;
    gs_error err = {0};
    cr_assert_eq(gs_png_read_gray(p, &pix, &rw, &rh, &err), 0, "format %d: %s", f, err.msg);
    cr_assert_eq(rw, w);
    cr_assert_eq(rh, h);
    for (int i = 0; i < w * h; i++) /* R = G = B: grey within rounding */
      cr_assert(abs((int)pix[i] - (int)gray[i]) <= 1, "format %d pixel %d: %d vs %d", f, i, pix[i], gray[i]);
    free(pix);
  }
}

/* low-level libpng writer for formats the simplified API does not make: 16-bit, 1-bit, palette */
static void lowlevel_write(const char *path, int w, int h, int depth, int ctype, const uint8_t *rows, size_t rowbytes,
                           const png_color *pal, int npal) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  cr_assert_not_null(info);
  if (setjmp(png_jmpbuf(png))) cr_assert_fail("libpng write failed");
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, PNG_INTERLACE_ADAM7, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (pal) png_set_PLTE(png, info, pal, npal);
  png_write_info(png, info);
  int passes = png_set_interlace_handling(png);
  for (int p = 0; p < passes; p++)
    for (int y = 0; y < h; y++) png_write_row(png, rows + (size_t)y * rowbytes);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  fclose(f);
}

Test(png, read_16bit_1bit_palette_interlaced) {
  char p[512];
  int w = 10, h = 5;
  uint8_t *pix;
  int rw, rh;
  gs_error err = {0};
  /* 16-bit grey: v * 257 -> v */
  uint8_t r16[5][20];
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) r16[y][2 * x] = r16[y][2 * x + 1] = (uint8_t)(y * 40 + x * 3);
  lowlevel_write(tpath(p, sizeof p, "g16.png"), w, h, 16, PNG_COLOR_TYPE_GRAY, &r16[0][0], 20, NULL, 0);
  cr_assert_eq(gs_png_read_gray(p, &pix, &rw, &rh, &err), 0, "%s", err.msg);
  cr_assert_eq(rw, w);
  cr_assert_eq(rh, h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) cr_assert_eq(pix[y * w + x], r16[y][2 * x], "16-bit (%d, %d)", x, y);
  free(pix);
  /* 1-bit grey: 0 -> 0, 1 -> 255 */
  uint8_t r1[5][2];
  for (int y = 0; y < h; y++) {
    r1[y][0] = (uint8_t)(0xA5 ^ y);
    r1[y][1] = 0xC0;
  }
  lowlevel_write(tpath(p, sizeof p, "g1.png"), w, h, 1, PNG_COLOR_TYPE_GRAY, &r1[0][0], 2, NULL, 0);
  cr_assert_eq(gs_png_read_gray(p, &pix, &rw, &rh, &err), 0, "%s", err.msg);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int bit = (r1[y][x / 8] >> (7 - x % 8)) & 1;
      cr_assert_eq(pix[y * w + x], bit ? 255 : 0, "1-bit (%d, %d)", x, y);
    }
  free(pix);
  /* 4-bit palette of greys */
  png_color pal[3] = {{0, 0, 0}, {100, 100, 100}, {250, 250, 250}};
  uint8_t r4[5][5];
  for (int y = 0; y < h; y++)
    for (int b = 0; b < 5; b++) r4[y][b] = (uint8_t)(((2 * b + y) % 3) << 4 | ((2 * b + 1 + y) % 3));
  lowlevel_write(tpath(p, sizeof p, "pal.png"), w, h, 4, PNG_COLOR_TYPE_PALETTE, &r4[0][0], 5, pal, 3);
  cr_assert_eq(gs_png_read_gray(p, &pix, &rw, &rh, &err), 0, "%s", err.msg);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int k = (x + y) % 3;
      cr_assert_eq(pix[y * w + x], pal[k].red, "palette (%d, %d): %d", x, y, pix[y * w + x]);
    }
  free(pix);
}

Test(png, read_not_png) {
  char p[512];
  FILE *f = fopen(tpath(p, sizeof p, "not.png"), "wb");
  cr_assert_not_null(f);
  fputs("this is plain text, not an image\n", f);
  fclose(f);
  uint8_t *pix = (uint8_t *)1;
  int w = -1, h = -1;
  gs_error err = {0};
  cr_assert_eq(gs_png_read_gray(p, &pix, &w, &h, &err), -1);
  cr_assert_null(pix);
  cr_assert_not_null(strstr(err.msg, p), "%s", err.msg);
  cr_assert_not_null(strstr(err.msg, "not a PNG file"), "%s", err.msg);
  f = fopen(p, "wb"); /* empty */
  fclose(f);
  cr_assert_eq(gs_png_read_gray(p, &pix, &w, &h, &err), -1);
  cr_assert_not_null(strstr(err.msg, p), "%s", err.msg);
  cr_assert_not_null(strstr(err.msg, "not a PNG file"), "%s", err.msg);
}

Test(png, read_missing_and_truncated) {
  char p[512];
  uint8_t *pix;
  int w, h;
  gs_error err = {0};
  cr_assert_eq(gs_png_read_gray(tpath(p, sizeof p, "none.png"), &pix, &w, &h, &err), -1);
  cr_assert_not_null(strstr(err.msg, p), "%s", err.msg);
  cr_assert_not_null(strstr(err.msg, "No such file"), "%s", err.msg);
  /* a valid PNG cut in the middle of its image data */
  uint8_t img[64 * 64];
  for (int i = 0; i < 64 * 64; i++) img[i] = (uint8_t)((i * 2654435761u) >> 24);
  cr_assert_eq(gs_png_write_gray(tpath(p, sizeof p, "cut.png"), img, 64, 64, &err), 0, "%s", err.msg);
  FILE *f = fopen(p, "rb");
  static uint8_t buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  f = fopen(p, "wb");
  fwrite(buf, 1, n / 2, f);
  fclose(f);
  cr_assert_eq(gs_png_read_gray(p, &pix, &w, &h, &err), -1);
  cr_assert_null(pix);
  cr_assert_not_null(strstr(err.msg, p), "%s", err.msg);
  cr_assert_not_null(strstr(err.msg, "cannot read PNG"), "%s", err.msg);
}

Test(png, write_unwritable) {
  uint8_t img[4] = {0};
  gs_error err = {0};
  const char *p = "/nonexistent-gensweep-dir/x.png";
  cr_assert_eq(gs_png_write_gray(p, img, 2, 2, &err), -1);
  cr_assert_not_null(strstr(err.msg, p), "%s", err.msg);
  cr_assert_eq(gs_png_write_grid(p, img, 0, 2, 2, 1, &err), -1);
  cr_assert_not_null(strstr(err.msg, "no images"), "%s", err.msg);
}

Test(png, to_u8_rounds_and_clamps) {
  float x[] = {-1.0f, 0.0f, 0.51f / 255.0f, 1.49f / 255.0f, 0.5f, 1.0f, 2.0f, NAN, 254.6f / 255.0f};
  uint8_t want[] = {0, 0, 1, 1, 128, 255, 255, 0, 255};
  uint8_t out[9];
  gs_to_u8(x, out, 9);
  for (int i = 0; i < 9; i++) cr_assert_eq(out[i], want[i], "x[%d] = %g -> %d", i, x[i], out[i]);
}
