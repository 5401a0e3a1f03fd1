/* What a run leaves behind, in memory, and its HDF5 files.
 *
 * results/<sweep>/runs/<run-id>.h5 (written to <run-id>.h5.tmp, fsync'd, renamed when complete):
 *   /                 attributes: run_id, model, status ("done" | "failed" | "diverged"), message,
 *                     config_hash (hex text), gensweep_version, seconds, every config key as
 *                     "section.key" attribute (int64 / float64 / string), config (canonical text)
 *   /metrics/<name>   float64 [epochs]: per-epoch series (epoch, train_loss, test_neg_elbo, ...)
 *   /final/<name>     float64 scalar datasets: final metrics
 *   /samples/<name>   uint8 [n, h, w]: sample images (prior, recon, manifold ...)
 *   /params/<name>    float32 with the parameter's shape: the trained parameters
 *   /<a>/<b>/<name>   float64 arrays a model records (e.g. /igmn/pass/means [K, D]): any path
 *
 * results/<sweep>/sweep.h5 (rebuilt whole, temp + rename):
 *   /                 attributes: sweep name, experiment path, gensweep_version, nruns, naxes
 *   /experiment       string: the experiment file's text
 *   /grid             compound table, one row per run: run_id, status, one string column per
 *                     axis, message, then one float64 column per final metric (NaN when absent)
 *   /runs/<run-id>    external links to runs/<run-id>.h5 (for runs whose file exists and is whole)
 *
 * Both files carry a root attribute crc32 over their content (include/gensweep/io/h5util.h,
 * gs_h5_content_crc); every reader checks it, so a truncated or bit-flipped file is an error
 * naming the file, never read as data. sweep.h5's /grid lists a run whose file is corrupt with
 * status "corrupt" and the reason in its message, and has no link for it.
 */
#ifndef GENSWEEP_RECORD_H
#define GENSWEEP_RECORD_H
#include <stdint.h>
#include <stdio.h>
#include "gensweep/core/common.h"
#include "gensweep/config/config.h"
#include "gensweep/nn/tensor.h"

#define GS_NAME_LEN 48
#define GS_MAX_SERIES 32
#define GS_MAX_SCALARS 128
#define GS_MAX_IMAGES 8
#define GS_MAX_ARRAYS 160

typedef struct gs_series { char name[GS_NAME_LEN]; int n, cap; double *v; } gs_series;
typedef struct gs_scalar { char name[GS_NAME_LEN]; double v; } gs_scalar;
typedef struct gs_images {
  char name[GS_NAME_LEN];
  int n, h, w;
  int cols;          /* columns of the PNG grid (0: about square); set by the model, not stored */
  uint8_t *pix;
} gs_images;

typedef struct gs_array {
  char name[64];     /* HDF5 path below the root, e.g. "igmn/pass/means" */
  int ndim;
  long shape[3];
  double *v;
} gs_array;

typedef struct gs_record {
  char run_id[GS_MAX_RUN_ID];
  char model[32];
  char status[16];          /* "done", "failed", "diverged" */
  char message[512];
  uint64_t config_hash;
  double seconds;
  int nseries;  gs_series series[GS_MAX_SERIES];
  int nscalars; gs_scalar scalars[GS_MAX_SCALARS];
  int nimages;  gs_images images[GS_MAX_IMAGES];
  int narrays;  gs_array arrays[GS_MAX_ARRAYS];
  const gs_params *params;  /* not owned; may be NULL */
} gs_record;

void gs_record_init(gs_record *r, const char *run_id, const char *model, uint64_t config_hash);
void gs_record_free(gs_record *r);
/* Append to the per-epoch series `name` (created on first use). */
void gs_record_push(gs_record *r, const char *name, double v);
/* Set a final scalar (overwrites). */
void gs_record_scalar(gs_record *r, const char *name, double v);
/* Store a copy of n images of h x w. */
void gs_record_images(gs_record *r, const char *name, int n, int h, int w, const uint8_t *pix);
/* The same, drawn as a PNG grid of `cols` columns (0: about square). */
void gs_record_image_grid(gs_record *r, const char *name, int n, int h, int w, const uint8_t *pix, int cols);
/* Store a copy of a float64 array (ndim 1..3) written at /<name> (overwrites one of that name). */
void gs_record_array(gs_record *r, const char *name, int ndim, const long *shape, const double *v);
const gs_series *gs_record_find_series(const gs_record *r, const char *name);
const double *gs_record_find_scalar(const gs_record *r, const char *name);

/* Write a run file atomically (path.tmp, fsync, rename). cfg's keys become attributes. */
int gs_runfile_write(const char *path, const gs_record *r, const gs_config *cfg, gs_error *err);

/* What the sweep index and the skip check need from a run file. */
typedef struct gs_run_summary {
  char run_id[GS_MAX_RUN_ID];
  char status[16];
  char message[512];
  uint64_t config_hash;
  double seconds;
  int nscalars;
  gs_scalar scalars[GS_MAX_SCALARS];
} gs_run_summary;
/* Read the summary; an unreadable or incomplete file is an error naming the file. */
int gs_runfile_read_summary(const char *path, gs_run_summary *s, gs_error *err);
/* Change a complete run file's status and message (e.g. a paused run stopped by the early-stopping
 * scheduler), atomically: the file is the old one or the new one, whole. The rest is untouched. */
int gs_runfile_set_status(const char *path, const char *status, const char *message, gs_error *err);
/* Read back a full record (series, scalars, images) and, if params != NULL and already
 * declared+allocated with the same names and shapes, the parameter values. For tests/tools. */
int gs_runfile_read(const char *path, gs_record *r, gs_params *params, gs_error *err);

/* Rebuild results/<sweep>/sweep.h5 from the sweep and whatever run files exist under dir/runs.
 * Runs without a file are listed with status "pending". Holds an exclusive flock on
 * dir/sweep.lock meanwhile: concurrent rebuilds (shards of one sweep) take turns. */
#define GS_SWEEP_LOCK "sweep.lock"
int gs_sweepfile_write(const char *dir, const gs_sweep *sw, gs_error *err);
/* Same, and say on `log` (may be NULL) which run files were left out as corrupt or unreadable
 * (one line each, naming the run and the file); *ncorrupt (may be NULL) is their number. */
int gs_sweepfile_write_log(const char *dir, const gs_sweep *sw, FILE *log, long *ncorrupt, gs_error *err);
/* Open sweep.h5 (path) and check its crc32; an error names the file and what is wrong. */
int gs_sweepfile_verify(const char *path, gs_error *err);

#endif
