/* Point-cloud sets in HDF5: the cache of generated shapes (data/shapes.h) and the files of the
 * ModelNet40 / ShapeNet point-cloud releases (PointNet's ply_data_*.h5, ShapeNet part's
 * *.h5), which share one layout, so a user's real data reads through the same function.
 *
 * Layout (root of the file):
 *   data          (n, N, 3)  float32    the clouds; releases: any float type, converted
 *   label         (n)        uint8      class per cloud; releases: any integer type, (n) or
 *                                       (n, 1) (ModelNet40: uint8 (n, 1); others int32 / int64)
 *   subcategory   (n)        uint8      ours only: sub-category within the class (shapes.h table)
 * Other datasets (normal, faceId, pid of the releases) are ignored.
 * Our cache adds root attributes:
 *   format = "gensweep point clouds", gensweep_version (string)
 *   generator = "shapes", generator_version (int64: GS_SHAPES_VERSION), seed (uint64), points,
 *   first_index (int64: the global index of cloud 0), rotation ("none" | "z" | "any"), noise,
 *   anisotropy, scale_min, scale_max (float64): everything the clouds depend on
 *   class_names (string array), data_crc32 (uint32: zlib CRC-32 of data's float32 bytes
 *   (little-endian), then label's bytes, then subcategory's bytes).
 * A cache file is written in the 1.8 format (checksummed metadata: a flipped bit in the
 * attributes or the layout is an HDF5 error) and data_crc32 covers the values, which HDF5 does
 * not checksum. The values are stored uncompressed (float coordinates barely compress), so
 * the file is about n * N * 12 bytes (4,000 clouds of 2,048 points: 98 MB, written in 1.1 s and
 * read and verified in 0.45 s of CPU time); writing builds the file in memory first
 * (io/h5util.h), so it needs that much memory again for a moment.
 *
 * Every read error names the file and what is wrong: not HDF5 / truncated / corrupt, a missing
 * dataset, a wrong rank or shape, data and label of different lengths, fewer points per cloud
 * than asked for, a non-finite coordinate (which cloud, which point), a label outside the
 * allowed range (which cloud), a checksum mismatch. Hostile sizes are refused before
 * allocating: a dataset may not claim more than 64 times the file's size (no point-cloud release
 * compresses anywhere near that) and a failed allocation is an error, not an abort. */
#ifndef GENSWEEP_IO_POINTCLOUD_H5_H
#define GENSWEEP_IO_POINTCLOUD_H5_H
#include <stdint.h>

#include "gensweep/core/common.h"
#include "gensweep/data/shapes.h"

/* A labelled set of point clouds. */
typedef struct gs_pointcloud_set {
  long n;              /* clouds */
  int points;          /* N per cloud */
  float *xyz;          /* (n, N, 3) */
  uint8_t *label;      /* (n) */
  uint8_t *subcat;     /* (n), or NULL when the file has none (the releases) */
  int n_classes;       /* max label + 1 */
  /* generated sets: what made them (has_generator 0 for the releases) */
  int has_generator;
  int generator_version;
  gs_shapes_options gen;
  long first;          /* global index of cloud 0 */
} gs_pointcloud_set;

/* Generate clouds first .. first + n - 1 of o into s (allocated; free with gs_pointcloud_free). */
int gs_pointcloud_generate(const gs_shapes_options *o, long first, long n, gs_pointcloud_set *s, gs_error *err);

/* Write s to path atomically (temporary file, fsync, rename: core/atomic.h). With
 * s->has_generator the generator attributes are written, and s->subcat must not be NULL. */
int gs_pointcloud_write(const char *path, const gs_pointcloud_set *s, gs_error *err);

/* Read a set. points: 0 takes each cloud whole; otherwise the first `points` of each cloud (the
 * clouds of the releases and ours come in random point order, so this is a uniform subsample,
 * as PointNet's training code takes it), and a file with fewer is an error. max_classes: labels
 * must lie in 0 .. max_classes - 1 (0: 0 .. 255). A file with data_crc32 is verified. */
int gs_pointcloud_read(const char *path, int points, int max_classes, gs_pointcloud_set *s, gs_error *err);
void gs_pointcloud_free(gs_pointcloud_set *s);

/* Whether the cache at path holds exactly clouds first .. first + n - 1 generated with options o
 * by this generator version: 1 if so (from its attributes; the values are verified when it is
 * read), 0 if not, with why ("missing", "made with noise 0.01, not 0.02", "unreadable: ...").
 * The caller regenerates on 0. */
int gs_pointcloud_cache_fits(const char *path, const gs_shapes_options *o, long first, long n, char *why,
                             size_t whylen);

/* The whole cache cycle: read path when it fits o, first, n and reads back clean; otherwise
 * generate, write path and use that. *made (may be NULL) says which happened. Concurrent callers
 * (ranks, shards) serialise on a lock file <path>.lock, so one generates and the others read. */
int gs_pointcloud_cache_load(const char *path, const gs_shapes_options *o, long first, long n, gs_pointcloud_set *s,
                             int *made, gs_error *err);

#endif
