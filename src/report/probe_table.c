/* The linear-probe tables of a sweep report (SCIENCE.md §2's table: feature sources by label
 * budget). Read from the final metrics probe_<classifier>_<budget> and probe_..._std that each
 * run's probe stage records (runner/probes.h): rows are the report's rows (so one per feature
 * source: the pixels run, each model and variant), columns the label budgets, cells the test
 * accuracy in % as mean ± std, one table per classifier; markdown in summary.md, CSV in
 * probes.csv, LaTeX in probes.tex (--latex), and a plot of accuracy against the number of labels
 * per classifier.
 *
 * The spread: a row's runs differ in their seeds, and each run fits R label subsets per budget.
 * The ± is the standard deviation (ddof 0) over all the subsets of all the row's runs, from each
 * run's mean m_i and std s_i: var = mean_i(s_i^2) + mean_i((m_i - m)^2) (exact when the runs have
 * the same R). The "all" budget is one fit per run: its ± is the spread over the seeds alone. */
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

/* the cell of row g: mean and pooled std over the row's done runs (see the top), in % */
int rp_probe_cell(const rp *r, int g, const char *src, const char *clf, long budget, double *mean, double *std) {
  char bt[32], nm[96], ns[96];
  budget_text(budget, bt, sizeof bt);
  snprintf(nm, sizeof nm, "probe_%s%s_%s", src, clf, bt);
  snprintf(ns, sizeof ns, "probe_%s%s_%s_std", src, clf, bt);
  int im = rp_find_name(r->met, r->nmet, nm), is = rp_find_name(r->met, r->nmet, ns);
  double s = 0, w2 = 0;
  int n = 0;
  for (int pass = 0; pass < 2; pass++) /* the mean, then the squares about it */
    for (long i = 0; im >= 0 && i < r->nruns; i++) {
      const rp_run *u = &r->runs[i];
      if (u->group != g || !u->done || !isfinite(u->met[im])) continue;
      if (pass == 0) {
        double sd = is >= 0 && isfinite(u->met[is]) ? u->met[is] : 0.0;
        s += u->met[im];
        w2 += sd * sd;
        n++;
      } else {
        double d = u->met[im] - s / n;
        w2 += d * d;
      }
    }
  if (!n) {
    *mean = *std = NAN;
    return 0;
  }
  *mean = 100.0 * (s / n);
  *std = 100.0 * sqrt(w2 / n);
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

/* Per-class precision and recall at all labels (from the run files: /probe/<source>/<clf>/all/,
 * averaged over the row's runs), one table per classifier: a row per (row, source), a column per
 * class, cells "precision / recall" in %. */
static void per_class_md(const rp *r, const rp_probes *pt, FILE *f) {
  static const char *const srcs[RP_PROBE_SOURCES] = {"model", "untrained", "pooled", "untrained_pooled", "finetuned"};
  static const char *const pre[RP_PROBE_SOURCES] = {"", "untrained_", "pooled_", "untrained_pooled_", "finetuned_"};
  for (int c = 0; c < pt->nclf; c++) {
    int header = 0, C = 0;
    for (int g = 0; g < r->ngroups; g++)
      for (int sc = 0; sc < RP_PROBE_SOURCES; sc++) {
        char pn[GS_NAME_LEN], rn[GS_NAME_LEN];
        snprintf(pn, sizeof pn, "probe/%s/%s/all/precision", srcs[sc], pt->clf[c]);
        snprintf(rn, sizeof rn, "probe/%s/%s/all/recall", srcs[sc], pt->clf[c]);
        double *P = NULL, *R = NULL;
        int nruns = 0;
        for (long i = 0; i < r->nruns; i++) {
          const rp_run *u = &r->runs[i];
          if (u->group != g || !u->done) continue;
          const rp_series *ps = rp_run_series(u, pn), *rs = rp_run_series(u, rn);
          if (!ps || !rs || ps->n != rs->n || ps->n < 1 || (C && ps->n != C)) continue;
          if (!C) C = ps->n;
          if (!P) P = gs_calloc((size_t)C, sizeof(double)), R = gs_calloc((size_t)C, sizeof(double));
          for (int k = 0; k < C; k++) P[k] += ps->v[k], R[k] += rs->v[k];
          nruns++;
        }
        if (!nruns) {
          free(P), free(R);
          continue;
        }
        if (!header) {
          fprintf(f, "\n### Per class, all labels: %s (precision / recall, %%)\n\n| row |", clf_title(pt->clf[c]));
          for (int k = 0; k < C; k++) fprintf(f, " %d |", k);
          fprintf(f, "\n| --- |");
          for (int k = 0; k < C; k++) fprintf(f, " ---: |");
          fprintf(f, "\n");
          header = 1;
        }
        char lab[512];
        row_label(r, g, pre[sc], lab, sizeof lab);
        fprintf(f, "| %s |", lab);
        for (int k = 0; k < C; k++) fprintf(f, " %.0f / %.0f |", 100 * P[k] / nruns, 100 * R[k] / nruns);
        fprintf(f, "\n");
        free(P), free(R);
      }
  }
}

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

/* The AC-GAN class heads: accuracy of the discriminator's own classifier, mean ± std (ddof 0)
 * over the row's runs (its seeds). When gan.labelled (how many labelled images the GAN trained
 * with) is an axis of the sweep, it is the columns, as in the write-up's AC-GAN table: all, then
 * larger budgets first; the other axes make the rows. Otherwise one row per grid point. */
static void class_head_md(const rp *r, FILE *f) {
  int im = rp_find_name(r->met, r->nmet, "probe_class_head");
  if (im < 0) return;
  fprintf(f, "\n### AC-GAN class head (the discriminator's own classifier: nothing fitted)\n\n");
  int la = -1;
  for (int a = 0; a < r->naxes; a++)
    if (strcmp(r->axis[a], "gan.labelled") == 0 && !r->seed[a]) la = a;
  long col[RP_PROBE_MAX_BUDGETS];
  int ncol = 0;
  /* each group's gan.labelled, then its column and row in the table */
  long *glab = gs_calloc((size_t)r->ngroups + 1, sizeof *glab);
  int *gcol = gs_calloc((size_t)r->ngroups + 1, sizeof *gcol), *grow = gs_calloc((size_t)r->ngroups + 1, sizeof *grow);
  for (int g = 0; g < r->ngroups && la >= 0; g++) {
    double v;
    if (!rp_parse_number(r->runs[r->groups[g].rep].val[la], &v) || v < 0 || v != floor(v)) {
      la = -1; /* not a number of images: no pivot */
      break;
    }
    glab[g] = (long)v;
    int k = 0;
    while (k < ncol && col[k] != glab[g]) k++;
    if (k < ncol) continue;
    if (ncol == RP_PROBE_MAX_BUDGETS) {
      la = -1;
      break;
    }
    col[ncol++] = glab[g];
  }
  if (la < 0) {
    free(glab), free(gcol), free(grow);
    fprintf(f, "| row | accuracy | runs |\n| --- | ---: | ---: |\n");
    for (int g = 0; g < r->ngroups; g++) {
      double mean, std;
      int n = group_stats(r, g, im, &mean, &std);
      if (n) fprintf(f, "| %s | %.2f ± %.2f | %d |\n", r->groups[g].label, 100 * mean, 100 * std, n);
    }
    return;
  }
  sort_budgets(col, ncol);
  for (int g = 0; g < r->ngroups; g++)
    while (col[gcol[g]] != glab[g]) gcol[g]++;
  fprintf(f, "Columns: `gan.labelled`, the labelled real images the GAN trained its class term on (`all`: "
             "every training image).\n\n| row |");
  for (int k = 0; k < ncol; k++)
    if (col[k]) fprintf(f, " %ld |", col[k]);
    else fprintf(f, " all |");
  fprintf(f, " runs |\n| --- |");
  for (int k = 0; k <= ncol; k++) fprintf(f, " ---: |");
  fprintf(f, "\n");
  /* rows: the distinct labels without gan.labelled, in the order of their first group */
  char **row = gs_calloc((size_t)r->ngroups + 1, sizeof *row);
  int nrow = 0;
  for (int g = 0; g < r->ngroups; g++) {
    char *lab = label_without(r, g, la);
    int k = 0;
    while (k < nrow && strcmp(row[k], lab) != 0) k++;
    if (k < nrow) free(lab);
    else row[nrow++] = lab;
    grow[g] = k;
  }
  for (int k = 0; k < nrow; k++) {
    int any = 0, nmin = 0, nmax = 0;
    char line[2048] = "";
    size_t len = 0;
    for (int c = 0; c < ncol; c++) {
      double mean = NAN, std = NAN;
      int n = 0;
      for (int g = 0; g < r->ngroups && !n; g++)
        if (grow[g] == k && gcol[g] == c) n = group_stats(r, g, im, &mean, &std);
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
    if (nmin == nmax) fprintf(f, "| %s |%s %d |\n", row[k], line, nmin);
    else fprintf(f, "| %s |%s %d–%d |\n", row[k], line, nmin, nmax);
  }
  for (int k = 0; k < nrow; k++) free(row[k]);
  free(row), free(glab), free(gcol), free(grow);
}

void rp_probe_md(const rp *r, const rp_probes *pt, FILE *f) {
  fprintf(f, "\n## Linear probes\n\n");
  fprintf(f, "Test accuracy (%%) of a linear classifier on each row's features (probe.features), by the "
             "number of labelled training images (class-balanced subsets; `all` = every training image). "
             "Mean ± std over all label subsets of all the row's runs (subset repeats and model seeds "
             "together; `all` is one fit per run, so its ± is the spread over seeds). Per-repeat "
             "accuracies, confusion matrices, precision and recall are in each run file under /probe. "
             "Also in probes.csv.\n");
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
        double mu, sd;
        for (int b = 0; b < pt->nbudgets; b++) most += rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &mu, &sd);
        if (!most) continue; /* e.g. no untrained probes in this row */
        char lab[512];
        row_label(r, g, pt->src[sc], lab, sizeof lab);
        fprintf(f, "| %s |", lab);
        most = 0;
        for (int b = 0; b < pt->nbudgets; b++) {
          int n = rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &mu, &sd);
          if (n > most) most = n;
          if (n) fprintf(f, " %.2f ± %.2f |", mu, sd);
          else fprintf(f, " — |");
        }
        fprintf(f, " %d |\n", most);
      }
  }
  per_class_md(r, pt, f);
}

char *rp_probe_csv(const rp *r, const rp_probes *pt, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) rp_oom();
  fprintf(f, "row,classifier,budget,labels,accuracy_mean_pct,accuracy_std_pct,runs\n");
  for (int c = 0; c < pt->nclf; c++)
    for (int g = 0; g < r->ngroups; g++)
      for (int sc = 0; sc < pt->nsrc; sc++)
        for (int b = 0; b < pt->nbudgets; b++) {
          double mu, sd;
          int k = rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &mu, &sd);
          if (!k) continue;
          char bt[32], lab[512];
          budget_text(pt->budget[b], bt, sizeof bt);
          row_label(r, g, pt->src[sc], lab, sizeof lab);
          fprintf(f, "\"%s\",%s,%s,%.17g,%.17g,%.17g,%d\n", lab, pt->clf[c], bt, labels_of(r, pt, g, pt->budget[b]),
                  mu, sd, k);
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
    fprintf(f, "%% %s: test accuracy (%%), mean $\\pm$ std over label subsets and seeds\n", clf_title(pt->clf[c]));
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
        double mu, sd;
        for (int b = 0; b < pt->nbudgets; b++) any += rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &mu, &sd);
        if (!any) continue;
        char lab[512];
        row_label(r, g, pt->src[sc], lab, sizeof lab);
        for (const char *p = lab; *p; p++) { /* the label, TeX-safe */
          if (strchr("_%&#$", *p)) fputc('\\', f);
          fputc(*p, f);
        }
        for (int b = 0; b < pt->nbudgets; b++) {
          if (rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &mu, &sd))
            fprintf(f, " & $%.2f \\pm %.2f$", mu, sd);
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
          double mu, sd;
          if (!rp_probe_cell(r, g, pt->src[sc], pt->clf[c], pt->budget[b], &mu, &sd)) continue;
          x[np] = labels_of(r, pt, g, pt->budget[b]);
          y[np] = mu;
          e[np] = sd;
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
