/* `gensweep slurm`: a ready sbatch script for one experiment file (the body of
 * slurm/sweep.sbatch or slurm/sweep-array.sbatch with the values filled in). */
#ifndef GENSWEEP_SLURM_H
#define GENSWEEP_SLURM_H
#include <stdio.h>

#include "gensweep/core/common.h"
#include "gensweep/config/config.h"

typedef struct gs_slurm_options {
  const char *experiment;  /* the experiment file (made absolute by the caller) */
  const char *gensweep;    /* the gensweep binary (absolute) */
  const char *results;     /* --results for gensweep run, or NULL */
  const char *time;        /* --time: [days-]hours:minutes:seconds style, digits ':' '-' only */
  const char *partition;   /* --partition, or NULL; letters, digits, '_', '-', '.', ',' */
  const char *account;     /* --account, or NULL; same characters */
  long ntasks;             /* MPI ranks per job (array: per shard) */
  long nodes;              /* 0: not set */
  long array;              /* 0: one allocation; N: a job array of N shards */
  long margin;             /* seconds before the limit for USR1 */
  long ranks_per_run;      /* 0: from the file */
  int noverrides;          /* section.key=value arguments passed on to gensweep run */
  char *const *overrides;
} gs_slurm_options;

/* Write the script to out. Values on #SBATCH lines (read by sbatch, not by a shell) are checked
 * against a strict character set; every value in the shell part is single-quoted. Errors name
 * the option (e.g. "--partition 'a b': ..."). */
int gs_slurm_script(const gs_sweep *sw, const gs_slurm_options *o, FILE *out, gs_error *err);

/* s as one shell word in single quotes ('it'\''s'). Returns the length, or -1 when n is too
 * small (out is then empty). */
long gs_shell_quote(const char *s, char *out, size_t n);

#endif
