/* PNG image grids through libpng. See include/gensweep/io/png.h.
 *
 * libpng reports errors by calling an error function that must not return; ours records the
 * message and longjmps back to the setjmp in the caller, which cleans up and fills gs_error. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gensweep/io/png.h"

#define GS_PNG_MAX_PIXELS (1L << 28) /* refuse to read images larger than this (256 Mpixel) */

typedef struct {
  char msg[512];
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(png);
  if (c) snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg; /* warnings (e.g. about colour profiles) do not concern us */
}

int gs_png_write_gray(const char *path, const uint8_t *pix, int w, int h, gs_error *err) {
  if (w <= 0 || h <= 0) return gs_fail(err, "%s: cannot write a %d x %d image", path, w, h);
  FILE *f = fopen(path, "wb");
  if (!f) return gs_fail(err, "%s: cannot create: %s", path, strerror(errno));
  /* a partial file is removed on failure, but only a regular file (never e.g. a device) */
  struct stat st;
  const int regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
  png_ctx ctx = {""};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    fclose(f);
    if (regular) remove(path);
    return gs_fail(err, "%s: cannot write PNG: out of memory", path);
  }
  if (setjmp(png_jmpbuf(png))) {
    int e = errno, ioerr = ferror(f);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    if (regular) remove(path);
    if (ioerr) return gs_fail(err, "%s: write error: %s", path, strerror(e));
    return gs_fail(err, "%s: cannot write PNG: %s", path, ctx.msg);
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(pix + (size_t)y * (size_t)w));
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  int bad = ferror(f);
  int e = errno;
  if (fclose(f) != 0 && !bad) {
    bad = 1;
    e = errno;
  }
  if (bad) {
    if (regular) remove(path);
    return gs_fail(err, "%s: write error: %s", path, strerror(e));
  }
  return 0;
}

int gs_png_read_gray(const char *path, uint8_t **pix, int *w, int *h, gs_error *err) {
  *pix = NULL;
  *w = *h = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return gs_fail(err, "%s: cannot open: %s", path, strerror(errno));
  png_byte sig[8];
  size_t ns = fread(sig, 1, sizeof sig, f);
  if (ns < sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
    int rerr = ferror(f), e = errno;
    fclose(f);
    if (rerr) return gs_fail(err, "%s: read error: %s", path, strerror(e));
    return gs_fail(err, "%s: not a PNG file (%s)", path, ns < sizeof sig ? "too short" : "bad signature");
  }
  png_ctx ctx = {""};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    fclose(f);
    return gs_fail(err, "%s: cannot read PNG: out of memory", path);
  }
  /* assigned after setjmp and needed after longjmp: volatile */
  uint8_t *volatile buf = NULL;
  if (setjmp(png_jmpbuf(png))) {
    free(buf);
    png_destroy_read_struct(&png, &info, NULL);
    int eof = feof(f);
    fclose(f);
    if (eof) return gs_fail(err, "%s: cannot read PNG: truncated (file ends early)", path);
    return gs_fail(err, "%s: cannot read PNG: %s", path, ctx.msg);
  }
  png_init_io(png, f);
  png_set_sig_bytes(png, (int)sizeof sig);
  png_read_info(png, info);
  png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
  int ctype = png_get_color_type(png, info);
  int depth = png_get_bit_depth(png, info);
  if ((long)pw * (long)ph > GS_PNG_MAX_PIXELS) {
    snprintf(ctx.msg, sizeof ctx.msg, "image too large (%lu x %lu)", (unsigned long)pw, (unsigned long)ph);
    png_longjmp(png, 1);
  }
  /* any format -> 8-bit grey */
  if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  if (ctype & PNG_COLOR_MASK_ALPHA || png_get_valid(png, info, PNG_INFO_tRNS)) {
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    png_set_strip_alpha(png);
  }
  if (ctype == PNG_COLOR_TYPE_PALETTE || ctype & PNG_COLOR_MASK_COLOR)
    png_set_rgb_to_gray_fixed(png, 1 /* convert silently */, -1, -1 /* default weights */);
  int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 1 || png_get_bit_depth(png, info) != 8 ||
      png_get_rowbytes(png, info) != (size_t)pw) {
    snprintf(ctx.msg, sizeof ctx.msg, "cannot convert colour type %d, bit depth %d to 8-bit grey", ctype, depth);
    png_longjmp(png, 1);
  }
  buf = gs_malloc((size_t)pw * (size_t)ph);
  for (int p = 0; p < passes; p++)
    for (png_uint_32 y = 0; y < ph; y++) png_read_row(png, buf + (size_t)y * pw, NULL);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  fclose(f);
  *pix = buf;
  *w = (int)pw;
  *h = (int)ph;
  return 0;
}

uint8_t *gs_grid_tile(const uint8_t *imgs, int n, int ih, int iw, int cols, int pad, uint8_t padval, int *gw,
                      int *gh) {
  *gw = *gh = 0;
  if (n <= 0 || ih <= 0 || iw <= 0 || pad < 0) return NULL;
  if (cols <= 0) cols = 1;
  int rows = (n + cols - 1) / cols;
  long W = (long)cols * iw + (long)(cols + 1) * pad;
  long H = (long)rows * ih + (long)(rows + 1) * pad;
  if (W > 1000000 || H > 1000000) return NULL; /* beyond what PNG tools handle */
  uint8_t *g = gs_malloc((size_t)W * (size_t)H);
  memset(g, padval, (size_t)W * (size_t)H);
  for (int k = 0; k < n; k++) {
    int r = k / cols, c = k % cols;
    long y0 = (long)pad + (long)r * (ih + pad), x0 = (long)pad + (long)c * (iw + pad);
    const uint8_t *src = imgs + (size_t)k * (size_t)ih * (size_t)iw;
    for (int y = 0; y < ih; y++) memcpy(g + (size_t)(y0 + y) * (size_t)W + (size_t)x0, src + (size_t)y * iw, (size_t)iw);
  }
  *gw = (int)W;
  *gh = (int)H;
  return g;
}

int gs_png_write_grid(const char *path, const uint8_t *imgs, int n, int ih, int iw, int cols, gs_error *err) {
  int gw, gh;
  if (n <= 0) return gs_fail(err, "%s: no images to write", path);
  uint8_t *g = gs_grid_tile(imgs, n, ih, iw, cols, 2, 128, &gw, &gh);
  if (!g) return gs_fail(err, "%s: cannot tile %d images of %d x %d into %d columns", path, n, ih, iw, cols);
  int rc = gs_png_write_gray(path, g, gw, gh, err);
  free(g);
  return rc;
}

void gs_to_u8(const float *x, uint8_t *out, long n) {
  for (long i = 0; i < n; i++) {
    float v = x[i] * 255.0f;
    if (!(v > 0.0f)) out[i] = 0; /* also NaN */
    else if (v >= 255.0f) out[i] = 255;
    else out[i] = (uint8_t)(v + 0.5f);
  }
}
