/* The linear-probe tables of a sweep report (SCIENCE.md §2's table: feature sources by label
 * budget). Read from the final metrics probe_<classifier>_<budget> and probe_..._std that each
 * run's probe stage records (runner/probes.h): rows are the report's rows (so one per feature
 * source: the pixels run, each model and variant), columns the label budgets, cells the test
 * accuracy in % as mean ± std, one table per classifier; markdown in summary.md, CSV in
 * probes.csv, LaTeX in probes.tex, and a plot of accuracy against the number of labels per
 * classifier. Per-class precision and recall at every budget come from the run files
 * (/probe/<source>/<clf>/<budget>/{precision,recall}, a row per label subset): markdown, and
 * probes_per_class.csv. The AC-GAN class head's accuracy: markdown, class_head.csv, class_head.tex.
 *
 * The spread: a row's runs differ in their seeds, and each run fits R label subsets per budget.
 * The ± is the standard deviation (ddof 0) over all the subsets of all the row's runs, from each
 * run's mean m_i and std s_i: var = mean_i(s_i^2) + mean_i((m_i - m)^2) (exact when the runs have
 * the same R). The "all" budget is one fit per run: its ± is the spread over the seeds alone.
 * probes.csv also has the two parts apart: over the subsets, mean_i(s_i); over the seeds,
 * sqrt(mean_i((m_i - m)^2)).
 *
 * Per class, a precision is undefined (NaN in the run file) in a fit that never predicts the
 * class, a recall when the test set has none of it: the mean and std are over the fits where it is
 * defined, and the tables say in how many of the fits it was not. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/report/report.h"
#include "report_data.h"

static int budget_order(long a, long b) { /* all (0) first, then larger budgets first */
  if (a == b) return 0;
  if (a == 0) return -1;
  if (b == 0) return 1;
  return a > b ? -1 : 1;
}

/* budgets in table order (all, then larger first): insertion sort */
static void sort_budgets(long *b, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && budget_order(b[j], b[j - 1]) < 0; j--) {
      long t = b[j];
      b[j] = b[j - 1];
      b[j - 1] = t;
    }
}

int rp_probes_find(const rp *r, rp_probes *pt) {
  memset(pt, 0, sizeof *pt);
  static const char *const clf[RP_PROBE_CLASSIFIERS] = {"svm", "lr", "net"};
  static const char *const src[RP_PROBE_SOURCES] = {"", "untrained_", "pooled_", "untrained_pooled_", "finetuned_"};
  int src_seen[RP_PROBE_SOURCES] = {0}, clf_seen[RP_PROBE_CLASSIFIERS] = {0};
  for (int sc = 0; sc < RP_PROBE_SOURCES; sc++)
  for (int c = 0; c < RP_PROBE_CLASSIFIERS; c++) {
    int any = 0;
    for (int m = 0; m < r->nmet; m++) {
      char pre[40];
      snprintf(pre, sizeof pre, "probe_%s%s_", src[sc], clf[c]);
      const char *name = r->met[m];
      if (strncmp(name, pre, strlen(pre)) != 0) continue;
      const char *b = name + strlen(pre);
      size_t bl = strlen(b);
      if (bl > 4 && strcmp(b + bl - 4, "_std") == 0) continue;
      long v = 0;
      if (strcmp(b, "all") != 0) {
        char *end;
        v = strtol(b, &end, 10);
        if (*end || v <= 0) continue;
      }
      int k = 0;
      while (k < pt->nbudgets && pt->budget[k] != v) k++;
      if (k == pt->nbudgets) {
        if (pt->nbudgets == RP_PROBE_MAX_BUDGETS) continue;
        pt->budget[pt->nbudgets++] = v;
      }
      any = 1;
    }
    src_seen[sc] |= any;
    clf_seen[c] |= any;
  }
  for (int sc = 0; sc < RP_PROBE_SOURCES; sc++)
    if (src_seen[sc]) GS_STRCPY(pt->src[pt->nsrc++], src[sc]);
  for (int c = 0; c < RP_PROBE_CLASSIFIERS; c++)
    if (clf_seen[c]) GS_STRCPY(pt->clf[pt->nclf++], clf[c]);
  sort_budgets(pt->budget, pt->nbudgets);
  pt->all_labels = rp_find_name(r->met, r->nmet, "probe_all_labels");
  return pt->nclf > 0 || rp_find_name(r->met, r->nmet, "probe_class_head") >= 0;
}

static void budget_text(long b, char *out, size_t n) {
  if (b == 0) snprintf(out, n, "all");
  else snprintf(out, n, "%ld", b);
}

/* the cell of row g: over the row's done runs, in % (see the top) */
int rp_probe_cell(const rp *r, int g, const char *src, const char *clf, long budget, rp_probe_stat *st) {
  char bt[32], nm[96], ns[96];
  budget_text(budget, bt, sizeof bt);
  snprintf(nm, sizeof nm, "probe_%s%s_%s", src, clf, bt);
  snprintf(ns, sizeof ns, "probe_%s%s_%s_std", src, clf, bt);
  int im = rp_find_name(r->met, r->nmet, nm), is = rp_find_name(r->met, r->nmet, ns);
  double s = 0, s_sd = 0, s_var = 0, s_dev = 0; /* sums of the means, stds, variances, squared deviations */
  int n = 0;
  for (int pass = 0; pass < 2; pass++) /* the mean, then the squares about it */
    for (long i = 0; im >= 0 && i < r->nruns; i++) {
      const rp_run *u = &r->runs[i];
      if (u->group != g || !u->done || !isfinite(u->met[im])) continue;
      if (pass == 0) {
        double sd = is >= 0 && isfinite(u->met[is]) ? u->met[is] : 0.0;
        s += u->met[im];
        s_sd += sd;
        s_var += sd * sd;
        n++;
      } else {
        double d = u->met[im] - s / n;
        s_dev += d * d;
      }
    }
  *st = (rp_probe_stat){.runs = n, .mean = NAN, .std = NAN, .std_subsets = NAN, .std_seeds = NAN};
  if (!n) return 0;
  st->mean = 100.0 * (s / n);
  st->std = 100.0 * sqrt((s_var + s_dev) / n);
  st->std_subsets = 100.0 * (s_sd / n);
  st->std_seeds = 100.0 * sqrt(s_dev / n);
  return n;
}

/* the number of labels of a budget, for the plot (all: the runs' training images) */
static double labels_of(const rp *r, const rp_probes *pt, int g, long budget) {
  if (budget > 0) return (double)budget;
  if (pt->all_labels < 0) return NAN;
  for (long i = 0; i < r->nruns; i++)
    if (r->runs[i].group == g && r->runs[i].done && isfinite(r->runs[i].met[pt->all_labels]))
      return r->runs[i].met[pt->all_labels];
  return NAN;
}

/* a table row: the report's row, and the feature source when it is not the trained model's */
static void row_label(const rp *r, int g, const char *src, char *out, size_t n) {
  if (src[0]) snprintf(out, n, "%s (%.*s)", r->groups[g].label, (int)strlen(src) - 1, src);
  else snprintf(out, n, "%s", r->groups[g].label);
}

static const char *clf_title(const char *c) {
  return strcmp(c, "svm") == 0  ? "linear SVM (L2, squared hinge, one-vs-rest; liblinear)"
         : strcmp(c, "lr") == 0 ? "logistic regression (L2, one-vs-rest; liblinear)"
                                : "the network fine-tuned as a classifier (its body and a new softmax head, trained "
                                  "on the labelled subset)";
}

/* a label in a CSV field, quoted */
static void csv_label(FILE *f, const char *s) {
  fputc('"', f);
  for (const char *p = s; *p; p++) {
    if (*p == '"') fputc('"', f);
    fputc(*p, f);
  }
  fputc('"', f);
}

/* a number in a CSV field, full precision; empty when undefined (NaN for pandas) */
static void csv_number(FILE *f, double x) {
  if (isfinite(x)) fprintf(f, "%.17g", x);
}

/* a label in a LaTeX table, TeX-safe */
static void tex_label(FILE *f, const char *s) {
  for (const char *p = s; *p; p++) {
    if (strchr("_%&#${}", *p)) fputc('\\', f);
    fputc(*p, f);
  }
}

/* the run files' name of a feature source: "" -> model, "untrained_" -> untrained, ... */
static void source_name(const char *src, char *out, size_t n) {
  if (!src[0]) snprintf(out, n, "model");
  else snprintf(out, n, "%.*s", (int)strlen(src) - 1, src);
}

/* ------------------------------------------------------------------ per class */
/* The per-class figures of a table row (row g, feature source src) at one budget: over every fit
 * (each label subset of each of the row's done runs), each class's precision and recall in %, mean
 * and std (ddof 0) over the fits where it is defined (NaN when it is in none). */
typedef struct class_stats {
  int C, fits, runs;
  double *mean[2], *std[2]; /* [precision, recall][class] */
  int *undef[2];            /* [precision, recall][class]: the fits where it is undefined */
} class_stats;

static const char *const pr_name[2] = {"precision", "recall"};
static const char *const pr_mark[2] = {"†", "‡"};
static const char *const pr_why[2] = {"class never predicted", "class not in the test set"};

static void class_stats_free(class_stats *cs) {
  for (int w = 0; w < 2; w++) free(cs->mean[w]), free(cs->std[w]), free(cs->undef[w]);
}

/* the row's runs (0: no per-class figures); free with class_stats_free either way */
static int class_stats_of(const rp *r, int g, const char *src, const char *clf, long budget, class_stats *cs) {
  memset(cs, 0, sizeof *cs);
  char bt[32], source[24], nm[2][96];
  budget_text(budget, bt, sizeof bt);
  source_name(src, source, sizeof source);
  for (int w = 0; w < 2; w++) snprintf(nm[w], sizeof nm[w], "probe/%s/%s/%s/%s", source, clf, bt, pr_name[w]);
  for (int pass = 0; pass < 2; pass++) { /* the means, then the squares about them */
    for (long i = 0; i < r->nruns; i++) {
      const rp_run *u = &r->runs[i];
      if (u->group != g || !u->done) continue;
      const rp_series *s[2] = {rp_run_series(u, nm[0]), rp_run_series(u, nm[1])};
      if (!s[0] || !s[1] || s[0]->n != s[1]->n || s[0]->nrep != s[1]->nrep || s[0]->n < 1 || s[0]->nrep < 1 ||
          (cs->C && s[0]->n != cs->C))
        continue;
      if (!cs->C) {
        cs->C = s[0]->n;
        for (int w = 0; w < 2; w++) {
          cs->mean[w] = gs_calloc((size_t)cs->C, sizeof(double));
          cs->std[w] = gs_calloc((size_t)cs->C, sizeof(double));
          cs->undef[w] = gs_calloc((size_t)cs->C, sizeof(int));
        }
      }
      if (pass == 0) cs->fits += s[0]->nrep, cs->runs++;
      for (int w = 0; w < 2; w++)
        for (int q = 0; q < s[w]->nrep; q++)
          for (int k = 0; k < cs->C; k++) {
            double x = s[w]->v[(long)q * cs->C + k];
            if (!isfinite(x)) cs->undef[w][k] += pass == 0;
            else if (pass == 0) cs->mean[w][k] += x;
            else cs->std[w][k] += (x - cs->mean[w][k]) * (x - cs->mean[w][k]);
          }
    }
    for (int w = 0; w < 2; w++)
      for (int k = 0; k < cs->C; k++) {
        int defined = cs->fits - cs->undef[w][k];
        if (pass == 0) cs->mean[w][k] = defined ? cs->mean[w][k] / defined : NAN;
        else cs->std[w][k] = defined ? sqrt(cs->std[w][k] / defined) : NAN;
      }
  }
  for (int w = 0; w < 2; w++)
    for (int k = 0; k < cs->C; k++) cs->mean[w][k] *= 100, cs->std[w][k] *= 100;
  return cs->runs;
}

/* Per-class precision and recall, one table per classifier and budget: a row per (row, source),
 * a column per class, cells "precision / recall" in %. Below each table, the cells where some
 * fits left a figure undefined. */
static void per_class_md(const rp *r, const rp_probes *pt, FILE *f) {
  int intro = 0;
  for (int c = 0; c < pt->nclf; c++)
    for (int b = 0; b < pt->nbudgets; b++) {
      int C = 0;
      char *notes = NULL;
      size_t nnotes = 0;
      FILE *nf = open_memstream(&notes, &nnotes);
      if (!nf) rp_oom();
      for (int g = 0; g < r->ngroups; g++)
        for (int sc = 0; sc < pt->nsrc; sc++) {
          class_stats cs;
          if (!class_stats_of(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &cs) || (C && cs.C != C)) {
            class_stats_free(&cs);
            continue;
          }
          if (!intro) {
            fprintf(f, "\nPer class: precision / recall (%%), the mean over every fit (each label subset of each "
                       "of the row's runs). With their std (over the same fits): probes_per_class.csv.\n");
            intro = 1;
          }
          if (!C) {
            char bt[32];
            budget_text(pt->budget[b], bt, sizeof bt);
            C = cs.C;
            fprintf(f, "\n### Per class, %s labels: %s (precision / recall, %%)\n\n| row |", bt, clf_title(pt->clf[c]));
            for (int k = 0; k < C; k++) fprintf(f, " %d |", k);
            fprintf(f, "\n| --- |");
            for (int k = 0; k < C; k++) fprintf(f, " ---: |");
            fprintf(f, "\n");
          }
          char lab[512];
          row_label(r, g, pt->src[sc], lab, sizeof lab);
          fprintf(f, "| %s |", lab);
          for (int k = 0; k < C; k++)
            for (int w = 0; w < 2; w++) {
              fprintf(f, w ? " / " : " ");
              if (isfinite(cs.mean[w][k])) fprintf(f, "%.0f%s", cs.mean[w][k], cs.undef[w][k] ? pr_mark[w] : "");
              else fprintf(f, "—");
              if (w) fprintf(f, " |");
            }
          fprintf(f, "\n");
          for (int w = 0; w < 2; w++) { /* "† row: precision undefined (...) in 1 of 20 fits for class 3, ..." */
            int listed = 0;
            for (int k = 0; k < C; k++) {
              if (!cs.undef[w][k]) continue;
              if (!listed++) fprintf(nf, "\n%s %s: %s undefined (%s) in ", pr_mark[w], lab, pr_name[w], pr_why[w]);
              else fprintf(nf, ", ");
              fprintf(nf, "%d of %d fits for class %d", cs.undef[w][k], cs.fits, k);
            }
            if (listed) fprintf(nf, "; left out of the mean.\n");
          }
          class_stats_free(&cs);
        }
      fclose(nf);
      if (C) fwrite(notes, 1, nnotes, f);
      free(notes);
    }
}

char *rp_probe_per_class_csv(const rp *r, const rp_probes *pt, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) rp_oom();
  fprintf(f, "row,source,classifier,budget,class,precision_mean_pct,precision_std_pct,precision_undefined,"
             "recall_mean_pct,recall_std_pct,recall_undefined,fits,runs\n");
  for (int c = 0; c < pt->nclf; c++)
    for (int g = 0; g < r->ngroups; g++)
      for (int sc = 0; sc < pt->nsrc; sc++)
        for (int b = 0; b < pt->nbudgets; b++) {
          class_stats cs;
          if (class_stats_of(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &cs)) {
            char lab[512], source[24], bt[32];
            row_label(r, g, pt->src[sc], lab, sizeof lab);
            source_name(pt->src[sc], source, sizeof source);
            budget_text(pt->budget[b], bt, sizeof bt);
            for (int k = 0; k < cs.C; k++) {
              csv_label(f, lab);
              fprintf(f, ",%s,%s,%s,%d", source, pt->clf[c], bt, k);
              for (int w = 0; w < 2; w++) {
                fputc(',', f);
                csv_number(f, cs.mean[w][k]);
                fputc(',', f);
                csv_number(f, cs.std[w][k]);
                fprintf(f, ",%d", cs.undef[w][k]);
              }
              fprintf(f, ",%d,%d\n", cs.fits, cs.runs);
            }
          }
          class_stats_free(&cs);
        }
  fclose(f);
  *len = n;
  return buf;
}

/* ------------------------------------------------------------------ the AC-GAN class head */
/* mean and std (ddof 0) of metric im over the done runs of group g with a finite value; 0 runs
 * when there are none */
static int group_stats(const rp *r, int g, int im, double *mean, double *std) {
  double s = 0, ss = 0;
  int n = 0;
  for (long i = 0; i < r->nruns; i++) {
    const rp_run *u = &r->runs[i];
    if (u->group != g || !u->done || !isfinite(u->met[im])) continue;
    s += u->met[im];
    n++;
  }
  if (!n) return 0;
  for (long i = 0; i < r->nruns; i++) {
    const rp_run *u = &r->runs[i];
    if (u->group == g && u->done && isfinite(u->met[im])) ss += (u->met[im] - s / n) * (u->met[im] - s / n);
  }
  *mean = s / n, *std = sqrt(ss / n);
  return n;
}

/* the label of group g without axis skip: "class_weight=3" (or "class head" when nothing else
 * varies), malloc'd */
static char *label_without(const rp *r, int g, int skip) {
  char *lab = rp_asprintf("%s", "");
  for (int a = 0; a < r->naxes; a++) {
    if (a == skip || r->seed[a]) continue;
    char *n = rp_asprintf("%s%s%s=%s", lab, lab[0] ? ", " : "", r->shortname[a], r->runs[r->groups[g].rep].val[a]);
    free(lab);
    lab = n;
  }
  if (!lab[0]) {
    free(lab);
    lab = rp_asprintf("%s", "class head");
  }
  return lab;
}

/* The class-head table's layout. When gan.labelled (how many labelled images the GAN trained
 * with) is an axis of the sweep, it is the columns, as in the write-up's AC-GAN table: all, then
 * larger budgets first; the other axes make the rows. Otherwise one column, a row per grid point. */
typedef struct head_table {
  int im;                         /* the metric probe_class_head */
  int la;                         /* the axis gan.labelled, or -1: no columns by it */
  int ncol, nrow;
  long col[RP_PROBE_MAX_BUDGETS]; /* gan.labelled of each column (0: all) */
  char **row;                     /* [nrow] labels */
  int *grow, *gcol;               /* [ngroups] each group's row and column */
} head_table;

static void head_table_free(head_table *t) {
  for (int k = 0; k < t->nrow; k++) free(t->row[k]);
  free(t->row), free(t->grow), free(t->gcol);
}

/* 0 if the sweep has no class-head probe */
static int head_table_build(const rp *r, head_table *t) {
  memset(t, 0, sizeof *t);
  t->im = rp_find_name(r->met, r->nmet, "probe_class_head");
  if (t->im < 0) return 0;
  t->la = -1;
  for (int a = 0; a < r->naxes; a++)
    if (strcmp(r->axis[a], "gan.labelled") == 0 && !r->seed[a]) t->la = a;
  t->grow = gs_calloc((size_t)r->ngroups + 1, sizeof *t->grow);
  t->gcol = gs_calloc((size_t)r->ngroups + 1, sizeof *t->gcol);
  t->row = gs_calloc((size_t)r->ngroups + 1, sizeof *t->row);
  long *glab = gs_calloc((size_t)r->ngroups + 1, sizeof *glab); /* each group's gan.labelled */
  for (int g = 0; g < r->ngroups && t->la >= 0; g++) {
    double v;
    if (!rp_parse_number(r->runs[r->groups[g].rep].val[t->la], &v) || v < 0 || v != floor(v)) {
      t->la = -1; /* not a number of images: no pivot */
      break;
    }
    glab[g] = (long)v;
    int k = 0;
    while (k < t->ncol && t->col[k] != glab[g]) k++;
    if (k < t->ncol) continue;
    if (t->ncol == RP_PROBE_MAX_BUDGETS) {
      t->la = -1;
      break;
    }
    t->col[t->ncol++] = glab[g];
  }
  if (t->la < 0) { /* a row per group */
    t->ncol = 1;
    for (int g = 0; g < r->ngroups; g++) {
      t->row[t->nrow++] = rp_asprintf("%s", r->groups[g].label);
      t->grow[g] = g;
    }
    free(glab);
    return 1;
  }
  sort_budgets(t->col, t->ncol);
  for (int g = 0; g < r->ngroups; g++)
    while (t->col[t->gcol[g]] != glab[g]) t->gcol[g]++;
  /* rows: the distinct labels without gan.labelled, in the order of their first group */
  for (int g = 0; g < r->ngroups; g++) {
    char *lab = label_without(r, g, t->la);
    int k = 0;
    while (k < t->nrow && strcmp(t->row[k], lab) != 0) k++;
    if (k < t->nrow) free(lab);
    else t->row[t->nrow++] = lab;
    t->grow[g] = k;
  }
  free(glab);
  return 1;
}

/* the cell (row k, column c): mean and std over its group's runs; 0 runs when there are none */
static int head_cell(const rp *r, const head_table *t, int k, int c, double *mean, double *std) {
  int n = 0;
  *mean = *std = NAN;
  for (int g = 0; g < r->ngroups && !n; g++)
    if (t->grow[g] == k && t->gcol[g] == c) n = group_stats(r, g, t->im, mean, std);
  return n;
}

/* a column's heading: gan.labelled (all, 1000, ...), or "accuracy" when there is one column */
static void head_col_text(const head_table *t, int c, char *out, size_t n) {
  if (t->la < 0) snprintf(out, n, "accuracy");
  else budget_text(t->col[c], out, n);
}

/* The AC-GAN class heads: accuracy of the discriminator's own classifier, mean ± std (ddof 0)
 * over the row's runs (its seeds). */
static void class_head_md(const rp *r, FILE *f) {
  head_table t;
  if (!head_table_build(r, &t)) return;
  fprintf(f, "\n### AC-GAN class head (the discriminator's own classifier: nothing fitted)\n\n");
  if (t.la >= 0)
    fprintf(f, "Columns: `gan.labelled`, the labelled real images the GAN trained its class term on (`all`: "
               "every training image).\n\n");
  fprintf(f, "| row |");
  for (int c = 0; c < t.ncol; c++) {
    char ct[32];
    head_col_text(&t, c, ct, sizeof ct);
    fprintf(f, " %s |", ct);
  }
  fprintf(f, " runs |\n| --- |");
  for (int c = 0; c <= t.ncol; c++) fprintf(f, " ---: |");
  fprintf(f, "\n");
  for (int k = 0; k < t.nrow; k++) {
    int any = 0, nmin = 0, nmax = 0;
    char line[2048] = "";
    size_t len = 0;
    for (int c = 0; c < t.ncol; c++) {
      double mean, std;
      int n = head_cell(r, &t, k, c, &mean, &std);
      if (n) {
        nmin = any ? (n < nmin ? n : nmin) : n;
        nmax = any ? (n > nmax ? n : nmax) : n;
        any = 1;
        len += (size_t)snprintf(line + len, sizeof line - len, " %.2f ± %.2f |", 100 * mean, 100 * std);
      } else {
        len += (size_t)snprintf(line + len, sizeof line - len, " – |");
      }
      if (len >= sizeof line) len = sizeof line - 1;
    }
    if (!any) continue;
    if (nmin == nmax) fprintf(f, "| %s |%s %d |\n", t.row[k], line, nmin);
    else fprintf(f, "| %s |%s %d–%d |\n", t.row[k], line, nmin, nmax);
  }
  fprintf(f, "\nAlso in class_head.csv and class_head.tex.\n");
  head_table_free(&t);
}

char *rp_class_head_csv(const rp *r, size_t *len) {
  head_table t;
  if (!head_table_build(r, &t)) return NULL;
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) rp_oom();
  fprintf(f, "row,gan.labelled,accuracy_mean_pct,accuracy_std_pct,runs\n");
  for (int k = 0; k < t.nrow; k++)
    for (int c = 0; c < t.ncol; c++) {
      double mean, std;
      int runs = head_cell(r, &t, k, c, &mean, &std);
      if (!runs) continue;
      char ct[32] = "";
      if (t.la >= 0) budget_text(t.col[c], ct, sizeof ct);
      csv_label(f, t.row[k]);
      fprintf(f, ",%s,%.17g,%.17g,%d\n", ct, 100 * mean, 100 * std, runs);
    }
  fclose(f);
  head_table_free(&t);
  *len = n;
  return buf;
}

char *rp_class_head_tex(const rp *r, size_t *len) {
  head_table t;
  if (!head_table_build(r, &t)) return NULL;
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) rp_oom();
  fprintf(f, "%% AC-GAN class head (the discriminator's own classifier): test accuracy (%%), mean $\\pm$ std over "
             "seeds%s\n\\begin{tabular}{l", t.la >= 0 ? "; columns: gan.labelled, the labelled images the GAN "
                                                        "trained with" : "");
  for (int c = 0; c < t.ncol; c++) fprintf(f, "r");
  fprintf(f, "}\n\\hline\nrow");
  for (int c = 0; c < t.ncol; c++) {
    char ct[32];
    head_col_text(&t, c, ct, sizeof ct);
    fprintf(f, " & %s", ct);
  }
  fprintf(f, " \\\\\n\\hline\n");
  for (int k = 0; k < t.nrow; k++) {
    double mean, std;
    int any = 0;
    for (int c = 0; c < t.ncol; c++) any += head_cell(r, &t, k, c, &mean, &std);
    if (!any) continue;
    tex_label(f, t.row[k]);
    for (int c = 0; c < t.ncol; c++)
      if (head_cell(r, &t, k, c, &mean, &std)) fprintf(f, " & $%.2f \\pm %.2f$", 100 * mean, 100 * std);
      else fprintf(f, " & --");
    fprintf(f, " \\\\\n");
  }
  fprintf(f, "\\hline\n\\end{tabular}\n");
  fclose(f);
  head_table_free(&t);
  *len = n;
  return buf;
}

/* ------------------------------------------------------------------ the probe tables */
void rp_probe_md(const rp *r, const rp_probes *pt, FILE *f) {
  fprintf(f, "\n## Linear probes\n\n");
  fprintf(f, "Test accuracy (%%) of a linear classifier on each row's features (probe.features), by the "
             "number of labelled training images (class-balanced subsets; `all` = every training image). "
             "Mean ± std over all label subsets of all the row's runs (subset repeats and model seeds "
             "together; `all` is one fit per run, so its ± is the spread over seeds). Per-repeat "
             "accuracies, confusion matrices, precision and recall are in each run file under /probe.%s\n",
          pt->nclf ? " Also in probes.csv and probes.tex." : "");
  class_head_md(r, f);
  for (int c = 0; c < pt->nclf; c++) {
    fprintf(f, "\n### %s\n\n| row |", clf_title(pt->clf[c]));
    for (int b = 0; b < pt->nbudgets; b++) {
      char bt[32];
      budget_text(pt->budget[b], bt, sizeof bt);
      fprintf(f, " %s |", bt);
    }
    fprintf(f, " runs |\n| --- |");
    for (int b = 0; b <= pt->nbudgets; b++) fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (int g = 0; g < r->ngroups; g++)
      for (int sc = 0; sc < pt->nsrc; sc++) {
        int most = 0;
        rp_probe_stat st;
        for (int b = 0; b < pt->nbudgets; b++) most += rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &st);
        if (!most) continue; /* e.g. no untrained probes in this row */
        char lab[512];
        row_label(r, g, pt->src[sc], lab, sizeof lab);
        fprintf(f, "| %s |", lab);
        most = 0;
        for (int b = 0; b < pt->nbudgets; b++) {
          int n = rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &st);
          if (n > most) most = n;
          if (n) fprintf(f, " %.2f ± %.2f |", st.mean, st.std);
          else fprintf(f, " — |");
        }
        fprintf(f, " %d |\n", most);
      }
  }
  if (pt->nclf)
    fprintf(f, "\nThe ± in these tables pools subset repeats and model seeds. probes.csv also has each spread "
               "alone: `accuracy_std_subsets_pct`, each run's std over its label subsets averaged over the "
               "row's runs, and `accuracy_std_seeds_pct`, the std (ddof 0) of the runs' mean accuracies.\n");
  per_class_md(r, pt, f);
}

char *rp_probe_csv(const rp *r, const rp_probes *pt, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) rp_oom();
  fprintf(f, "row,classifier,budget,labels,accuracy_mean_pct,accuracy_std_pct,accuracy_std_subsets_pct,"
             "accuracy_std_seeds_pct,runs\n");
  for (int c = 0; c < pt->nclf; c++)
    for (int g = 0; g < r->ngroups; g++)
      for (int sc = 0; sc < pt->nsrc; sc++)
        for (int b = 0; b < pt->nbudgets; b++) {
          rp_probe_stat st;
          if (!rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &st)) continue;
          char bt[32], lab[512];
          budget_text(pt->budget[b], bt, sizeof bt);
          row_label(r, g, pt->src[sc], lab, sizeof lab);
          csv_label(f, lab);
          fprintf(f, ",%s,%s,%.17g,%.17g,%.17g,%.17g,%.17g,%d\n", pt->clf[c], bt, labels_of(r, pt, g, pt->budget[b]),
                  st.mean, st.std, st.std_subsets, st.std_seeds, st.runs);
        }
  fclose(f);
  *len = n;
  return buf;
}

char *rp_probe_tex(const rp *r, const rp_probes *pt, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) rp_oom();
  for (int c = 0; c < pt->nclf; c++) {
    fprintf(f, "%% %s: test accuracy (%%), mean $\\pm$ std over label subsets and seeds together\n",
            clf_title(pt->clf[c]));
    fprintf(f, "\\begin{tabular}{l");
    for (int b = 0; b < pt->nbudgets; b++) fprintf(f, "r");
    fprintf(f, "}\n\\hline\nfeatures");
    for (int b = 0; b < pt->nbudgets; b++) {
      char bt[32];
      budget_text(pt->budget[b], bt, sizeof bt);
      fprintf(f, " & %s", bt);
    }
    fprintf(f, " \\\\\n\\hline\n");
    for (int g = 0; g < r->ngroups; g++)
      for (int sc = 0; sc < pt->nsrc; sc++) {
        int any = 0;
        rp_probe_stat st;
        for (int b = 0; b < pt->nbudgets; b++) any += rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &st);
        if (!any) continue;
        char lab[512];
        row_label(r, g, pt->src[sc], lab, sizeof lab);
        tex_label(f, lab);
        for (int b = 0; b < pt->nbudgets; b++) {
          if (rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &st))
            fprintf(f, " & $%.2f \\pm %.2f$", st.mean, st.std);
          else fprintf(f, " & --");
        }
        fprintf(f, " \\\\\n");
      }
    fprintf(f, "\\hline\n\\end{tabular}\n\n");
  }
  fclose(f);
  *len = n;
  return buf;
}

int rp_probe_plots(rp *r, const rp_probes *pt, gs_error *err) {
  for (int c = 0; c < pt->nclf; c++) {
    int rows = r->ngroups * pt->nsrc;
    gs_plot_line *lines = gs_calloc((size_t)rows + 1, sizeof *lines);
    double *xs = gs_calloc((size_t)rows * pt->nbudgets + 1, sizeof(double));
    double *ys = gs_calloc((size_t)rows * pt->nbudgets + 1, sizeof(double));
    double *es = gs_calloc((size_t)rows * pt->nbudgets + 1, sizeof(double));
    char **labs = gs_calloc((size_t)rows + 1, sizeof(char *));
    int nl = 0;
    for (int g = 0; g < r->ngroups; g++)
      for (int sc = 0; sc < pt->nsrc; sc++) {
        long o = (long)(g * pt->nsrc + sc) * pt->nbudgets;
        double *x = xs + o, *y = ys + o, *e = es + o;
        int np = 0;
        for (int b = pt->nbudgets - 1; b >= 0; b--) { /* increasing labels */
          rp_probe_stat st;
          if (!rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &st)) continue;
          x[np] = labels_of(r, pt, g, pt->budget[b]);
          y[np] = st.mean;
          e[np] = st.std;
          np++;
        }
        if (!np) continue;
        labs[nl] = gs_malloc(512);
        row_label(r, g, pt->src[sc], labs[nl], 512);
        lines[nl] = (gs_plot_line){.label = labs[nl], .n = np, .x = x, .y = y, .err = e, .color = nl, .marker = 1};
        nl++;
      }
    char file[64], title[160], note[256];
    snprintf(file, sizeof file, "probe_%s_vs_labels.png", pt->clf[c]);
    snprintf(title, sizeof title, "%s", clf_title(pt->clf[c]));
    snprintf(note, sizeof note,
             "%s: test accuracy against the number of labelled training images (log axis), one line per "
             "row, ± std over label subsets and seeds.", pt->clf[c]);
    gs_plot p = {.title = title, .xlabel = "labelled training images", .ylabel = "test accuracy (%)",
                 .xscale = GS_XSCALE_LOG, .nlines = nl, .lines = lines, .dodge = 1};
    int rc = nl ? rp_plot_out(r, file, &p, note, err) : 0;
    for (int i = 0; i < nl; i++) free(labs[i]);
    free(labs), free(lines), free(xs), free(ys), free(es);
    if (rc != 0) return rc;
  }
  return 0;
}
