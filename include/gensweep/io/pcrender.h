/* Point clouds as pictures and as PLY files (issue 12, point 4): greyscale renders for the run's
 * PNGs and its /samples, and PLY files a 3-D viewer opens.
 *
 * A cloud is N points of (x, y, z) floats, (N, 3) row-major. Clouds of the study are centred
 * and fit in the unit sphere; any finite values render (points off the tile are clipped), and
 * non-finite points are skipped.
 *
 * Rendering. Orthographic projection onto a tile of s x s pixels, white background (255). A view
 * is a camera direction c (unit vector from the origin toward the viewer) with screen axes right
 * r and up u; a point p lands at pixel coordinates
 *     col = s/2 + k (p . r),   row = s/2 - k (p . u),   k = (s/2 - 1 - radius) / extent
 * (pixel (i, j) covers [j, j+1) x [i, i+1); row 0 at the top), so the ball of radius `extent`
 * round the origin, points' discs included, fills the tile up to one pixel from its edge: a
 * unit sphere's surface at extent 1 renders as a filled disc of radius s/2 - 1 pixels centred
 * at (s/2, s/2). Each point is a flat disc facing the viewer: the pixels whose centres lie
 * within `radius` pixels of it, and always the pixel it falls in. A z-buffer keeps, at each pixel,
 * the point nearest the viewer (largest p . c; on equal depth the earlier point), so near points
 * cover far ones, and the output depends only on the inputs: same cloud, same bits (contraction
 * off, so also the same bits with and without FMA).
 *
 * Depth shading: dark points on white, the nearest black (0) and the farthest light grey (200):
 *     grey = round(200 * (extent - p . c) / (2 extent)), clamped to 0 .. 200.
 * Why this way round: far points fade toward the background, as distant things pale in air
 * (aerial perspective), the depth cue people read without being told; dark on white is how the
 * point-cloud papers print their figures and how docs/studies pages read; and the grids' grey
 * padding (128) separates white tiles cleanly. The shade uses the same depth scale for every
 * cloud (`extent`), so an input and its reconstruction side by side are shaded alike; extent 0
 * scales each cloud by its own farthest point from the origin instead (for clouds of unknown size).
 *
 * Views (the cameras of Blender's numpad views, so a user finds the same picture there):
 *   GS_PC_VIEW_X         from +x ("right"): r = +y, u = +z
 *   GS_PC_VIEW_Y         from -y ("front"): r = +x, u = +z
 *   GS_PC_VIEW_Z         from +z ("top"):   r = +x, u = +y
 *   GS_PC_VIEW_OBLIQUE   azimuth 30 degrees (the front view turned toward +x), elevation 30
 *                        degrees: c = (cos e sin a, -cos e cos a, sin e), r = (cos a, sin a, 0),
 *                        u = c x r; a box shows three faces, a torus its hole
 *   GS_PC_VIEW_THREE     the X, Y and Z views side by side in one tile of s x 3s (h x w)
 *
 * Grids: rows x cols tiles with 2 pixels of grey (128) padding between and around, as
 * gs_png_write_grid draws the other models' images (so a render recorded with gs_record_image_grid
 * becomes the same PNG): width cols * w + (cols + 1) * 2, height rows * s + (rows + 1) * 2, w
 * the tile width (gs_pc_tile_width). PNGs are written atomically (core/atomic.h).
 *
 * PLY: binary little-endian, one element vertex with float x, y, z, and a header comment
 * "gensweep run <run> cloud <cloud>". The reader takes ASCII and binary little-endian files
 * whose first element is vertex, with x, y and z of type float or double (other scalar vertex
 * properties, e.g. normals or colours, are skipped; elements after vertex are ignored). Every
 * read error names the file and the problem: bad magic, unsupported format, a header it cannot
 * use, a vertex count too large for the file, a truncated body, a non-finite coordinate (which
 * vertex). */
#ifndef GENSWEEP_IO_PCRENDER_H
#define GENSWEEP_IO_PCRENDER_H
#include <stdint.h>

#include "gensweep/core/common.h"

typedef enum gs_pc_view {
  GS_PC_VIEW_X = 0,
  GS_PC_VIEW_Y,
  GS_PC_VIEW_Z,
  GS_PC_VIEW_OBLIQUE,
  GS_PC_VIEW_THREE
} gs_pc_view;

#define GS_PC_MAX_SIZE 4096 /* largest tile side */
#define GS_PC_FAR_GREY 200  /* shade of the farthest points (nearest: 0); background 255 */
#define GS_PC_GRID_PAD 2    /* grid padding in pixels, grey 128, as gs_png_write_grid */

typedef struct gs_pc_style {
  int size;     /* s: tile side in pixels, 8 .. GS_PC_MAX_SIZE (default 64) */
  float radius; /* point disc radius in pixels, 0 .. s/4 (default 1.5: at s = 64 the discs of a
                 * 2,048-point surface cloud close up into a surface; at 1 its background shows
                 * through in white speckles; at 128, 3 does the same) */
  float extent; /* > 0: the ball of this radius fills the tile, one scale for every cloud (default 1);
                 * 0: each cloud's own farthest point from the origin */
} gs_pc_style;

/* size 64, radius 1.5, extent 1 */
gs_pc_style gs_pc_style_default(void);
/* A style's and view's values in range: 0, or -1 with err saying which is not. */
int gs_pc_check(gs_pc_view view, const gs_pc_style *st, gs_error *err);
/* Tile width for a view: s, or 3 s for GS_PC_VIEW_THREE (the height is always s). */
int gs_pc_tile_width(gs_pc_view view, int s);

/* One cloud of n points into tile (s x gs_pc_tile_width, row-major). -1 on a bad view or style. */
int gs_pc_render(const float *xyz, long n, gs_pc_view view, const gs_pc_style *st, uint8_t *tile, gs_error *err);

/* n clouds of `points` points each (clouds[k] may be NULL: a blank tile) into n consecutive
 * tiles of s x w in out: the pixels gs_record_image_grid(rec, name, n, s, w, out, cols) takes. */
int gs_pc_render_tiles(const float *const *clouds, int n, long points, gs_pc_view view, const gs_pc_style *st,
                       uint8_t *out, gs_error *err);

/* A grid of rows x cols clouds, clouds[r * cols + c] in row r, column c (NULL: blank tile), with
 * the padding described above. Returns malloc'd pixels and sets *gw, *gh; NULL with err on bad
 * arguments. */
uint8_t *gs_pc_grid(const float *const *clouds, int rows, int cols, long points, gs_pc_view view,
                    const gs_pc_style *st, int *gw, int *gh, gs_error *err);
/* The same written as a PNG at path. */
int gs_pc_grid_png(const char *path, const float *const *clouds, int rows, int cols, long points, gs_pc_view view,
                   const gs_pc_style *st, gs_error *err);
/* The write-up's grids, from contiguous (n, points, 3) arrays:
 * n rows of (input | reconstruction): row k holds inputs cloud k, then recons cloud k */
int gs_pc_pairs_png(const char *path, const float *inputs, const float *recons, int n, long points, gs_pc_view view,
                    const gs_pc_style *st, gs_error *err);
/* rows x cols clouds in row-major order, xyz (rows, cols, points, 3): an interpolation (a row per
 * pair of shapes, a column per step), prior samples, half-and-half combinations */
int gs_pc_rows_png(const char *path, const float *xyz, int rows, int cols, long points, gs_pc_view view,
                   const gs_pc_style *st, gs_error *err);

/* One cloud (points x 3) as a binary little-endian PLY at path, written atomically; the header
 * comment names run and cloud (line breaks in them become spaces). */
int gs_ply_write(const char *path, const float *xyz, long points, const char *run, const char *cloud, gs_error *err);
/* Chosen clouds of a (n, points, 3) array: cloud which[k] to <dir>/<name>_<which[k]>.ply (dir
 * created if needed), its comment naming the run and "<name> <which[k]>". */
int gs_ply_export(const char *dir, const char *run, const char *name, const float *xyz, long n, long points,
                  const long *which, int nwhich, gs_error *err);
/* Read a PLY's vertices: *xyz (points x 3, malloc'd) and *points. On error -1, *xyz NULL. */
int gs_ply_read(const char *path, float **xyz, long *points, gs_error *err);

/* The clouds of a run file's /pointclouds/<name> (n, N, 3), as floats (*xyz malloc'd): what
 * `gensweep ply` exports. -1 with err naming the file when it has no such array. */
int gs_runfile_clouds(const char *path, const char *name, float **xyz, long *n, long *points, gs_error *err);

#endif
