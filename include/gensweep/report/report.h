/* gensweep report: tables and plots of a sweep (src/report/report.c, plots in src/report/plot.c).
 *
 * Input: DIR = results/<sweep>. DIR/sweep.h5 gives the runs (/grid: run_id, status, one string
 * column per axis, message, one float64 column per final metric, seconds; root attribute `axes`
 * names the axis columns) and DIR/runs/<id>.h5 the per-epoch series (/metrics/<name>).
 *
 * Statistics: only runs whose status is "done" enter them; the others are counted by status and
 * listed with their messages. An axis whose name ends in "seed" (train.seed, data.seed) is a
 * replicate axis: the done runs are grouped by the values of all the other axes, and each
 * group's final metrics are summarised as mean, sample standard deviation (n - 1 in the
 * denominator; 0 when n = 1) and n. A metric that is NaN in some done runs of a group is
 * summarised over the runs where it is finite (the Markdown cell then says "(n=k)").
 * A group whose runs are all not done is still listed, with n = 0 and empty statistics.
 *
 * Output, all in DIR/report/ (each file written to <file>.tmp, fsync'd and renamed: core/atomic.h):
 *   summary.md         header (sweep, counts of done / failed / pending runs, grouping), the table
 *                      (one row per group: non-seed axes, "mean ± std" per final metric, n), the
 *                      runs that are not done with their messages, warnings, and the plots
 *   summary.csv        axis columns, then <m>_mean, <m>_std per final metric, then n
 *                      (full precision; "nan" where a group has no value)
 *   summary.tex        with opt->latex: the same table as a booktabs tabular
 *   curves_<s>.png     per-epoch series <s> (every series of the run files but "epoch"), one line
 *                      per done run, x = epoch; coloured and labelled by group when there are
 *                      several groups, by run otherwise; the legend is capped (GS_PLOT_LEGEND_MAX)
 *   probes.csv/.tex    with linear probes (runner/probes.h): one row per table row, classifier
 *                      and budget: accuracy mean, pooled std (subsets and seeds), std over subset
 *                      repeats, std over model seeds, runs; probes.tex the tables as tabulars
 *   probes_per_class.csv  per-class precision / recall at every budget (undefined precision of a
 *                      class never predicted left out of its mean, and counted)
 *   class_head.csv/.tex   the AC-GAN class-head table (pivoted by gan.labelled when it is an axis)
 *   probe_<clf>_vs_labels.png  accuracy against the number of labels (log axis), error bars
 *   <m>_vs_<axis>.png  headline metric m against the x axis (full axis name, e.g.
 *                      test_neg_elbo_vs_model.latent_dim.png): one line per combination of the
 *                      remaining non-seed axes, points at the group means, error bars ± std
 *                      (with seeds, the lines are shifted a little sideways from each other so
 *                      that error bars at the same x stay apart)
 *
 * The x axis: opt->x_axis (full name, or the part after the '.' when that is unambiguous), by
 * default the first non-seed axis whose values all parse as numbers (else the first non-seed
 * axis, drawn as categories). A numeric x axis is logarithmic when its values are all >= 0, at
 * least two are positive and the positive ones span more than 2 decades (max/min > 100); a 0
 * among them is then drawn one decade left of the lowest decade that holds a positive value,
 * behind an axis break (//), labelled "0", and joined to its neighbour by a dashed segment.
 *
 * Robustness: a missing or unreadable sweep.h5 is an error naming it; an unreadable or missing
 * run file only loses that run's curves (its final metrics come from /grid) and is reported as a
 * warning in summary.md and on `out`. PLplot is used through its pngcairo driver only (no X
 * display needed), never writes to stdout, and its error messages are captured into gs_error.
 * PLplot keeps global state: do not call gs_report / gs_plot_write from several threads at once. */
#ifndef GENSWEEP_REPORT_H
#define GENSWEEP_REPORT_H
#include <stdio.h>
#include "gensweep/core/common.h"

typedef struct gs_report_options {
  const char *metric; /* headline final metric; NULL or "": "test_neg_elbo" if present, else the
                         first final-metric column of /grid. Unknown name: error listing them. */
  const char *x_axis; /* x axis of <metric>_vs_<axis>.png; NULL or "": see above. An unknown or
                         seed axis is an error listing the choices. */
  int latex;          /* 1: also write summary.tex */
  int no_plots;       /* 1: tables only (no run files are read) */
} gs_report_options;

/* Aggregate the sweep in `dir` into dir/report/ (see above). opt may be NULL (defaults, i.e. all
 * zero). Prints to `out` (may be NULL) the Markdown summary and the list of files written, and
 * any warnings. Returns 0, or -1 with err naming the file or option at fault. */
int gs_report(const char *dir, const gs_report_options *opt, FILE *out, gs_error *err);

/* "mean ± std" as the Markdown table shows it: the std to 2 significant digits and the mean to
 * the same decimal place (at most ~7 significant digits); 4 significant digits of the mean
 * alone when count < 2; scientific notation for magnitudes >= 1e6 or < 1e-3; "—" when count
 * is 0; "nan" for a non-finite mean. latex = 1 gives the LaTeX form ("$245.3 \pm 1.2$"). */
void gs_report_format_mean_std(double mean, double std, int count, int latex, char *buf, size_t n);

/* 1 if an axis named `fullname` ("train.seed") is a replicate axis: its name ends in "seed". */
int gs_report_is_seed_axis(const char *fullname);

/* ------------------------------------------------------------------ line plots (plot.c) */
#define GS_PLOT_LEGEND_MAX 12

typedef struct gs_plot_line {
  const char *label;  /* legend entry; NULL: none (e.g. further runs of an already listed group) */
  int n;
  const double *x, *y;  /* points; non-finite ones are skipped */
  const double *err;  /* NULL, or the ± half-width of an error bar at each point */
  int color;          /* palette slot (10 colours; slots >= 10 reuse them with another dash) */
  int marker;         /* 1: mark the points with a dot */
} gs_plot_line;

typedef enum { GS_XSCALE_LINEAR, GS_XSCALE_LOG, GS_XSCALE_CATEGORY } gs_xscale;

typedef struct gs_plot {
  const char *title, *xlabel, *ylabel;
  int width, height;  /* pixels; 0: 800 x 600 */
  gs_xscale xscale;   /* LOG: see the header comment (x < 0 falls back to linear);
                         CATEGORY: x = 0, 1, ... ncategories-1, labelled with categories[] */
  int ncategories;
  const char *const *categories;
  int nlines;
  const gs_plot_line *lines;
  int legend_max;     /* legend entries shown, the rest summarised as "+k more"; 0: GS_PLOT_LEGEND_MAX */
  int dodge;          /* 1: shift the lines a little sideways from each other (about 1% of the x
                         range apart), so that error bars at the same x do not hide each other */
} gs_plot;

/* Draw the plot into a PNG (PLplot pngcairo; written to path.tmp, fsync'd and renamed:
 * core/atomic.h). A linear x axis whose values are all whole numbers (epochs, latent sizes) gets
 * whole-number ticks. Errors name the file; PLplot's own error messages are captured into err,
 * nothing is printed. */
int gs_plot_write(const char *path, const gs_plot *p, gs_error *err);

/* 1 if these x values call for a log axis: all finite and >= 0, at least two positive, and the
 * positive ones span more than 2 decades. */
int gs_plot_want_logx(const double *x, int n);

#endif
