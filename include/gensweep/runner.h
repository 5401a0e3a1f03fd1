/* Running a sweep: expand, skip finished runs, train the rest, write run files, PNGs, sweep.h5. */
#ifndef GENSWEEP_RUNNER_H
#define GENSWEEP_RUNNER_H
#include <stdio.h>

#include "gensweep/config.h"
#include "gensweep/data.h"
#include "gensweep/record.h"

typedef struct gs_run_options {
  const char *results;   /* overrides sweep.results when not NULL */
  int threads;           /* OpenBLAS threads per rank; 0 = from the experiment file */
  int quiet;             /* only the summary */
  FILE *log;             /* progress output (stdout) */
} gs_run_options;

typedef struct gs_sweep_outcome {
  long done, skipped, failed;
  char dir[1024];        /* results/<sweep> */
} gs_sweep_outcome;

/* Directory of a sweep's results: <results>/<sweep name>. */
void gs_sweep_dir(const gs_sweep *sw, const char *results_override, char *dir, size_t n);

/* Train one run and fill rec (rec->params points into the returned model: write the run file,
 * then def->destroy(model); NULL when the model could not be built), status "done", "failed" or
 * "diverged" with a message. The data set
 * is passed in (loaded by the caller, cached across runs with the same data keys). */
struct gs_model;
struct gs_model_def;
struct gs_model *gs_train_run(const gs_run *run, const gs_dataset *ds, gs_record *rec, FILE *log, const char *tag,
                              const struct gs_model_def **def);

/* Run the sweep in this process (rank 0). Returns 0 when the sweep could be processed (some runs
 * may have failed: see outcome), -1 when it could not start (err says why). */
int gs_sweep_run_serial(const gs_sweep *sw, const gs_run_options *opt, gs_sweep_outcome *out, gs_error *err);

/* Data-set cache: the last loaded set is kept while the data keys stay the same. */
const gs_dataset *gs_dataset_cached(const gs_config *cfg, gs_error *err);
void gs_dataset_cache_clear(void);

#endif
