/* gensweep report's data (private to src/report): what it reads from sweep.h5 and the run files,
 * and the helpers report.c and report_data.c share. */
#ifndef GENSWEEP_REPORT_DATA_H
#define GENSWEEP_REPORT_DATA_H
#include <stdio.h>

#include "gensweep/core/common.h"
#include "gensweep/io/record.h"

#define RP_MAX_EXTRA 16

typedef struct rp_series {
  char name[GS_NAME_LEN];
  int n;
  double *v;
} rp_series;

typedef struct rp_run {
  char *id, *status, *message;
  char **val;        /* [naxes] axis values as text */
  double *met;       /* [nmet] final metrics (NaN when absent) */
  int done;
  int group;
  int nser;          /* per-epoch series from the run file (done runs, with plots) */
  rp_series *ser;
  double eval_every; /* eval.eval_every of the run (0: unknown) */
} rp_run;

typedef struct rp_group {
  int rep;           /* a run of the group (for its axis values) */
  int ndone;
  int *cnt;          /* [nmet] done runs with a finite value */
  double *mean, *std;
  char *label;       /* "name=vae, latent_dim=10" */
} rp_group;

typedef struct rp {
  const char *dir;
  char *h5path;
  char sweep_name[256];
  int naxes;
  char **axis, **shortname;
  int *seed, *numeric;
  int nmet;
  char **met;
  long nruns;
  rp_run *runs;
  int ngroups;
  rp_group *groups;
  int headline, xaxis;
  int extra[RP_MAX_EXTRA], nextra; /* further metrics plotted against the x axis */
  int nwarn;
  char **warn;
  int nplots;
  char **plots;      /* file names (in dir/report) */
  char **plot_notes; /* one line of explanation each (may be "") */
} rp;

char *rp_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rp_oom(void);
void rp_add_str(char ***list, int *n, char *s);
/* a warning for the report's summary */
void rp_warn(rp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rp_free(rp *r);
/* 1 if s is a finite number (into *v if not NULL) */
int rp_parse_number(const char *s, double *v);
int rp_find_name(char **names, int n, const char *s);
/* sweep.h5: axes, metrics, the final value of every run (r->dir set) */
int rp_read_sweep(rp *r, gs_error *err);
/* the per-epoch series of a run file */
int rp_read_run_series(const char *path, rp_run *u, gs_error *err);
const rp_series *rp_run_series(const rp_run *u, const char *name);
/* the x values of a series, malloc'd: for a run trained by iterations (a GAN) the iterations of
 * its per-iteration series (iter_*, x = series `iteration`) and of what it records when it
 * evaluates (x = `eval_iteration`); else the epochs it was recorded at (eval.eval_every) */
double *rp_series_epochs(const rp_run *u, const rp_series *s);
/* 1 if the run's series `name` is plotted against iterations (above) */
int rp_series_by_iteration(const rp_run *u, const char *name);

#endif
