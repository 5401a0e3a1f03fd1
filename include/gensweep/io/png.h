/* PNG image grids through libpng. */
#ifndef GENSWEEP_PNG_H
#define GENSWEEP_PNG_H
#include <stdint.h>
#include "gensweep/core/common.h"

/* Write a greyscale 8-bit PNG (w x h, row-major). */
int gs_png_write_gray(const char *path, const uint8_t *pix, int w, int h, gs_error *err);
/* Read a PNG as 8-bit greyscale (colour images are converted). *pix is malloc'd. */
int gs_png_read_gray(const char *path, uint8_t **pix, int *w, int *h, gs_error *err);

/* Tile n images of size ih x iw into a grid of `cols` columns with `pad` pixels of padding
 * (value `padval`) between and around tiles. Returns malloc'd pixels and sets *gw, *gh. */
uint8_t *gs_grid_tile(const uint8_t *imgs, int n, int ih, int iw, int cols, int pad, uint8_t padval,
                      int *gw, int *gh);
/* Convenience: tile then write. */
int gs_png_write_grid(const char *path, const uint8_t *imgs, int n, int ih, int iw, int cols,
                      gs_error *err);

/* float in [0,1] -> uint8 (rounded, clamped) */
void gs_to_u8(const float *x, uint8_t *out, long n);

#endif
