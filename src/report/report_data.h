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
  int nrep;  /* rows of n values in v: 1 for a per-epoch series, the repeats (label subsets) for a
                probe's per-class figures (repeats x classes) */
  double *v;
} rp_series;

typedef struct rp_run {
  char *id, *status, *message;
  char **val;        /* [naxes] axis values as text */
  double *met;       /* [nmet] final metrics (NaN when absent) */
  int done;
  int group;
  int nser;          /* per-epoch series from the run file (done runs, and runs stopped early,
                        with plots) */
  int stopped;       /* status "stopped": ended by the early-stopping scheduler */
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
  /* early stopping (sweep.h5's scheduler attributes): "" when the sweep had none */
  char scheduler[8], sched_metric[64], sched_mode[8];
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

/* a plot into dir/report, listed with its note (report.c) */
struct gs_plot;
int rp_plot_out(rp *r, const char *file, const struct gs_plot *p, const char *note, gs_error *err);

/* the linear-probe tables (probe_table.c) */
#define RP_PROBE_MAX_BUDGETS 16
#define RP_PROBE_SOURCES 5
#define RP_PROBE_CLASSIFIERS 3
typedef struct rp_probes {
  int nsrc;
  char src[RP_PROBE_SOURCES][24]; /* "" (the trained model's features), "untrained_", "pooled_", ...,
                                     "finetuned_" (the network itself, classifier "net") */
  int nclf;
  char clf[RP_PROBE_CLASSIFIERS][8]; /* "svm", "lr", "net" */
  int nbudgets;
  long budget[RP_PROBE_MAX_BUDGETS]; /* 0 = all, then larger first */
  int all_labels;      /* metric index of probe_all_labels, or -1 */
} rp_probes;
int rp_probes_find(const rp *r, rp_probes *pt); /* 1 if the sweep has probes */
/* a cell of the probe tables: test accuracy in %, over a row's done runs */
typedef struct rp_probe_stat {
  int runs;
  double mean;
  double std;         /* over all label subsets of all the runs (the tables' ±) */
  double std_subsets; /* over the subsets alone: the mean of each run's std over its subsets */
  double std_seeds;   /* over the seeds alone: the std (ddof 0) of the runs' means */
} rp_probe_stat;
int rp_probe_cell(const rp *r, int g, const char *src, const char *clf, long budget, rp_probe_stat *st);
void rp_probe_md(const rp *r, const rp_probes *pt, FILE *f);
char *rp_probe_csv(const rp *r, const rp_probes *pt, size_t *len);
char *rp_probe_tex(const rp *r, const rp_probes *pt, size_t *len);
/* per-class precision and recall at every budget, one line per (row, source, classifier, budget,
 * class) */
char *rp_probe_per_class_csv(const rp *r, const rp_probes *pt, size_t *len);
/* the AC-GAN class-head table (NULL when the sweep has no class-head probe) */
char *rp_class_head_csv(const rp *r, size_t *len);
char *rp_class_head_tex(const rp *r, size_t *len);
int rp_probe_plots(rp *r, const rp_probes *pt, gs_error *err);

#endif
