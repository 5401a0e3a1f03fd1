/* Data sets: IDX files (MNIST format, gzip or plain) and the splits a run trains on.
 * Images are kept as uint8 (60000 x 784 bytes = 47 MB) and turned into float batches on the fly. */
#ifndef GENSWEEP_DATA_H
#define GENSWEEP_DATA_H
#include <stdint.h>
#include "gensweep/core/common.h"

#define GS_DEFAULT_DATASET "fashion-mnist"
#define GS_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* One IDX file: unsigned-byte tensor of ndim dims. */
typedef struct gs_idx {
  int ndim;
  int dims[4];
  long count;      /* dims[0] */
  long item_size;  /* product of dims[1..] */
  uint8_t *data;   /* count * item_size bytes */
} gs_idx;

/* Read an IDX file. `path` may name the file with or without ".gz"; if `path` does not exist
 * then `path.gz` is tried. Gzip is detected by magic bytes, not by the name.
 * Errors (each names the file): missing file, not an IDX file (bad magic / unsupported type),
 * ndim not expected_ndim (pass 0 to accept any), truncated data, trailing garbage, corrupt gzip. */
int gs_idx_read(const char *path, int expected_ndim, gs_idx *out, gs_error *err);
void gs_idx_free(gs_idx *x);
/* The same checks of the header only: shape filled in, data NULL (reads a few bytes). */
int gs_idx_read_header(const char *path, int expected_ndim, gs_idx *out, gs_error *err);

/* What one sample of a set is: an image (1 x H x W grey values) today, a point set (N points x
 * 3 coordinates) next. A model declares what it needs (gs_data_needs); the runner checks the
 * loaded set against it before building the model, so a mismatch is one clear error. */
typedef enum { GS_SAMPLES_IMAGES = 0, GS_SAMPLES_POINTS = 1 } gs_sample_kind;

typedef struct gs_sample_shape {
  gs_sample_kind kind;
  int dims[3];        /* images: 1, H, W; point sets: N, 3 */
  long size;          /* values per sample: the product of dims */
  int n_classes;      /* labelled: max label + 1 (>= 1); 0: no labels */
} gs_sample_shape;

typedef struct gs_data_needs {
  gs_sample_kind kind;
  int labels;         /* 1: every sample needs a class label, with at least 2 classes */
  int min_dims[3];    /* each dimension at least this (0: any) */
} gs_data_needs;

/* "images 1x28x28, 10 classes" */
void gs_sample_shape_text(const gs_sample_shape *s, char *buf, size_t n);
/* 0 if a set of shape `have` gives `who` (a model's name) what it needs, else -1 with err
 * saying what the model needs and what the data set has. */
int gs_data_check(const gs_sample_shape *have, const gs_data_needs *need, const char *who, gs_error *err);

/* A labelled sample set: images (pix) or point sets (points). The name is the images' from
 * before point sets existed; every sample of a set has the same shape. */
typedef struct gs_imageset {
  long n;
  int h, w;          /* images: 28 x 28; point sets: h = N points, w = 3 coordinates */
  long dim;          /* h * w: values per sample */
  uint8_t *pix;      /* images: n * dim, row-major, 0..255; NULL for point sets */
  float *points;     /* point sets: n * dim (N x 3 each, x y z), NULL for images */
  uint8_t *labels;   /* n */
  uint8_t *subcats;  /* n, a finer label (the shapes' sub-categories), or NULL */
  int n_classes;     /* max label + 1 */
} gs_imageset;

/* The shape of one sample of s. */
gs_sample_shape gs_imageset_shape(const gs_imageset *s);

/* A data set as the four MNIST-format files in one directory:
 * train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte
 * (each optionally .gz). */
typedef struct gs_dataset {
  char name[256];     /* "fashion-mnist" or the directory given */
  char dir[512];      /* resolved directory */
  gs_imageset train;  /* after subset/split: the images a run trains on */
  gs_imageset val;    /* held-out part of the training files (n = 0 when val_split = 0) */
  gs_imageset test;
} gs_dataset;

typedef struct gs_data_options {
  long train_size;    /* 0 = all training images; else a random subset of this many (before split) */
  long test_size;     /* 0 = all test images; else the first test_size test images */
  double val_split;   /* fraction of the (subset of the) training images held out, 0 <= v < 1 */
  uint64_t seed;      /* seed of the subset and split (gs_rng purpose GS_RNG_DATA) */
} gs_data_options;

/* Resolve a dataset name: "fashion-mnist" (or "" ) -> GS_FASHION_MNIST_DIR, otherwise a directory. */
int gs_dataset_resolve(const char *name, char *dir, size_t dirlen, gs_error *err);

/* The sizes of a data set as its files' headers give them (before any subset or split): what a
 * model's cost estimate needs, without reading the data. */
typedef struct gs_data_sizes {
  long train, test;   /* examples in the training and test files */
  int h, w;           /* one example: h x w values (images: rows x columns) */
  long dim;           /* h * w */
} gs_data_sizes;
int gs_dataset_sizes(const char *name, gs_data_sizes *out, gs_error *err);
/* The same, read once per data set per process (a few data sets cached); NULL when the data set
 * cannot be read (the load that follows names the problem). */
const gs_data_sizes *gs_dataset_sizes_cached(const char *name);
/* Training examples a run gets of `available`: the first train_size (0: all), less the
 * validation split (round(val_split * n)), as gs_dataset_load makes them. */
long gs_train_count(long available, long train_size, double val_split);

/* Load a data set. Errors name the file and the problem; an image/label count mismatch names both files. */
int gs_dataset_load(const char *name, const gs_data_options *opt, gs_dataset *ds, gs_error *err);
void gs_dataset_free(gs_dataset *ds);

/* Fill a float batch (rows x dim) from samples idx[0..rows): images scaled to [0, 1], point
 * sets as they are (x y z of each point in turn). labels_onehot may be NULL; otherwise filled
 * (rows x n_classes). */
void gs_imageset_batch(const gs_imageset *s, const int32_t *idx, int rows, float *x, float *onehot);

/* A data set of point sets from memory (a generated or read set): ownership of every array
 * passes to ds (freed by gs_dataset_free, also on failure). points: n x N x 3; subcats may be
 * NULL. Then opt's subset, split and test size, as gs_dataset_load does for files (the errors
 * name `name`). */
typedef struct gs_pointsets_in {
  long n;
  float *points;
  uint8_t *labels, *subcats;
} gs_pointsets_in;
int gs_dataset_from_points(const char *name, int N, gs_pointsets_in train, gs_pointsets_in test,
                           const gs_data_options *opt, gs_dataset *ds, gs_error *err);

#endif
