/* Internal HDF5 helpers shared by the files of src/io (run files, sweep index, checkpoints).
 * Not a public header: include/gensweep/ knows nothing of HDF5.
 *
 * Conventions (see src/io/runfile.c for the reasons):
 * - Every public function of src/io that calls HDF5 wraps its work in gs_h5_quiet_begin/end:
 *   HDF5's automatic error printing is off inside, and a failure is summarised from the error
 *   stack into the gs_error message by gs_h5_fail, which always names the file.
 * - Files are built whole in memory (the core driver) in the 1.8 file format (checksummed
 *   metadata), and their image written to <path>.tmp, fsync'd and renamed over <path>
 *   (gs_h5_write_atomic): HDF5 itself never writes to the disk, so a full disk is a plain
 *   write error naming the file.
 * - Readers open read-only with file locking off (gs_h5_open_readonly).
 * - The small helpers return -1 on failure and leave the HDF5 error stack for gs_h5_fail. */
#ifndef GENSWEEP_IO_H5UTIL_H
#define GENSWEEP_IO_H5UTIL_H
#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "gensweep/core/common.h"

/* ------------------------------------------------------------------ errors */
typedef struct gs_h5_quiet {
  H5E_auto2_t fn;
  void *data;
} gs_h5_quiet;

/* Switch HDF5's automatic error printing off (saving the current handler) / restore it. */
void gs_h5_quiet_begin(gs_h5_quiet *q);
void gs_h5_quiet_end(gs_h5_quiet *q);

/* One-line summary of the current HDF5 error stack ("H5Fopen(): unable to open file: file
 * signature not found"); clears the stack. */
void gs_h5_describe(char *buf, size_t n);

/* Fails with "<path>: <what>: <HDF5 stack summary>"; returns -1. */
int gs_h5_fail(gs_error *err, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Close any HDF5 id (file, group, dataset, type, space, attribute, property list) if >= 0 and
 * set it to -1. */
void gs_h5_close_id(hid_t *id);

/* ------------------------------------------------------------------ files */
/* File access property list: sec2; writer = 1 adds strong close and libver bounds V18..V18;
 * readers do not lock. -1 on failure. */
hid_t gs_h5_fapl(int writer);

/* Open an existing HDF5 file read-only; on failure -1 and an error that names the file and says
 * what is wrong with it (missing, not a regular file, empty, not HDF5 / truncated / corrupt). */
hid_t gs_h5_open_readonly(const char *path, gs_error *err);

/* Write a whole file atomically: create <path>.tmp, call fill(f, path, ctx, err) on the open
 * file, close, commit (gs_atomic_begin / gs_atomic_commit of core/atomic.h). fill returns 0 or
 * -1 with err set. On any failure nothing new is left behind (no .tmp) and an existing <path> is
 * untouched. Calls gs_h5_quiet_begin/end itself. */
typedef int (*gs_h5_fill_fn)(hid_t f, const char *path, void *ctx, gs_error *err);
int gs_h5_write_atomic(const char *path, gs_h5_fill_fn fill, void *ctx, gs_error *err);
/* Change an existing file atomically: read it whole into memory, call fill on it (open
 * read-write), write it back as above. */
int gs_h5_rewrite_atomic(const char *path, gs_h5_fill_fn fill, void *ctx, gs_error *err);
/* Jenkins' lookup3 (hashlittle, initial value 0): HDF5's metadata checksum. */
uint32_t gs_h5_lookup3(const uint8_t *data, size_t n);

/* ------------------------------------------------------------------ writing */
/* Fixed-length, null-terminated UTF-8 string type of `size` bytes (>= 1). */
hid_t gs_h5_str_type(size_t size);
/* Scalar attribute. */
int gs_h5_attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *buf);
int gs_h5_attr_str(hid_t loc, const char *name, const char *s);
int gs_h5_attr_f64(hid_t loc, const char *name, double v);
int gs_h5_attr_i64(hid_t loc, const char *name, int64_t v);
/* Array attribute of ndim (1 or 2) dimensions; any dimension may be 0. */
int gs_h5_attr_array(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim, const hsize_t *dims,
                     const void *buf);
/* 1-D array attribute of fixed-length strings (n may be 0). */
int gs_h5_attr_str_array(hid_t loc, const char *name, const char *const *v, int n);
/* A group whose links readers iterate in creation order. */
hid_t gs_h5_group_new(hid_t loc, const char *name);
/* Create and write a whole dataset. ndim 0 = scalar. deflate > 0: chunked + compressed with
 * chunks of about 64 KiB along the first dimension (only when the dataset is not empty). */
int gs_h5_dataset_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim, const hsize_t *dims,
                        const void *buf, int deflate);

/* ------------------------------------------------------------------ reading */
/* String attribute (fixed or variable length, scalar or one element) into buf. */
int gs_h5_attr_read_str(hid_t loc, const char *name, char *buf, size_t n);
/* Numeric (integer or float) single-element attribute, converted to double. */
int gs_h5_attr_read_f64(hid_t loc, const char *name, double *v);
/* Attribute of exactly `npoints` elements whose file type is `ftype` (compared with H5Tequal,
 * so that nothing is converted on the way), read into buf as mtype. */
int gs_h5_attr_read_exact(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t npoints, void *buf);
/* 1-D array attribute of npoints fixed- or variable-length strings, each copied into
 * buf + i * size (size bytes, truncation is an error). */
int gs_h5_attr_read_str_array(hid_t loc, const char *name, hsize_t npoints, char *buf, size_t size);
/* Index to iterate a group's links with: creation order when the group records it. */
H5_index_t gs_h5_group_index(hid_t g);
/* Name of the i-th link of g (in `idx` order); 0 or -1. Names longer than n are an error. */
int gs_h5_link_name(hid_t g, H5_index_t idx, hsize_t i, char *buf, size_t n);
int gs_h5_group_count(hid_t g, hsize_t *n);
/* Open dataset `name` in g and check it has `want_rank` dimensions (-1: any; 0 accepts scalar
 * or a single element). Returns the dataset and fills dims (rank > 0) and *npoints. */
hid_t gs_h5_dataset_open(hid_t g, const char *name, int want_rank, hsize_t *dims, hsize_t *npoints);

/* Content checksum: CRC-32 of everything a reader takes from the file (root attributes except
 * "crc32", the named root datasets, every link of the named groups: datasets' shapes and values,
 * external links' targets), read back through HDF5, in name order. HDF5's own checksums cover
 * the metadata of the 1.8 format but not raw data: this catches a bit flip in a value. Stored
 * as the root attribute "crc32" by gs_h5_content_seal (call it last, on the open file);
 * gs_h5_content_verify recomputes it, and fails naming the file (`kind`: "run file", ...) when it
 * is missing, unreadable or different. */
int gs_h5_content_crc(hid_t f, const char *path, const char *const *groups, int ngroups, const char *const *datasets,
                      int ndatasets, uint32_t *out, gs_error *err);
int gs_h5_content_seal(hid_t f, const char *path, const char *const *groups, int ngroups, const char *const *datasets,
                       int ndatasets, gs_error *err);
int gs_h5_content_verify(hid_t f, const char *path, const char *kind, const char *const *groups, int ngroups,
                         const char *const *datasets, int ndatasets, gs_error *err);

/* A run file's checksum: its four groups and any other root group (model arrays). */
int gs_runfile_verify(hid_t f, const char *path, gs_error *err);
/* What the checksum covers: run files' groups; sweep.h5's groups and root datasets. */
extern const char *const gs_h5_run_groups[4];
extern const char *const gs_h5_sweep_groups[1];
extern const char *const gs_h5_sweep_datasets[2];

#endif
