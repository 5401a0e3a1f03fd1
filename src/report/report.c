/* gensweep report: aggregate a sweep's results into tables and plots. What it reads, computes
 * and writes, and the choices made (seed axes, log x axis with 0): include/gensweep/report/report.h.
 *
 * The final metrics come from sweep.h5's /grid (the sweep index the runner keeps up to date);
 * the run files are opened only for the per-epoch series of the curve plots. */
#include "gensweep/report/report.h"
#include "gensweep/core/atomic.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "gensweep/io/record.h"
#include "gensweep/io/h5util.h"
#include "report_data.h"

int gs_report_is_seed_axis(const char *fullname) {
  size_t n = strlen(fullname);
  return n >= 4 && strcmp(fullname + n - 4, "seed") == 0;
}

/* ------------------------------------------------------------------ statistics */
static int is_group_axis(const rp *r, int a) { return !r->seed[a]; }

static void build_groups(rp *r) {
  for (long i = 0; i < r->nruns; i++) {
    rp_run *u = &r->runs[i];
    int g = -1;
    for (int k = 0; k < r->ngroups && g < 0; k++) {
      const rp_run *v = &r->runs[r->groups[k].rep];
      int same = 1;
      for (int a = 0; a < r->naxes && same; a++)
        if (is_group_axis(r, a)) same = strcmp(u->val[a], v->val[a]) == 0;
      if (same) g = k;
    }
    if (g < 0) {
      r->groups = gs_realloc(r->groups, sizeof *r->groups * (size_t)(r->ngroups + 1));
      rp_group *G = &r->groups[r->ngroups];
      memset(G, 0, sizeof *G);
      G->rep = (int)i;
      G->cnt = gs_calloc((size_t)r->nmet + 1, sizeof *G->cnt);
      G->mean = gs_calloc((size_t)r->nmet + 1, sizeof *G->mean);
      G->std = gs_calloc((size_t)r->nmet + 1, sizeof *G->std);
      g = r->ngroups++;
    }
    u->group = g;
  }
  for (int g = 0; g < r->ngroups; g++) {
    rp_group *G = &r->groups[g];
    for (long i = 0; i < r->nruns; i++)
      if (r->runs[i].group == g && r->runs[i].done) G->ndone++;
    for (int m = 0; m < r->nmet; m++) {
      double s = 0;
      int c = 0;
      for (long i = 0; i < r->nruns; i++) {
        const rp_run *u = &r->runs[i];
        if (u->group != g || !u->done || !isfinite(u->met[m])) continue;
        s += u->met[m];
        c++;
      }
      double mean = c ? s / c : NAN, ss = 0;
      for (long i = 0; i < r->nruns; i++) {
        const rp_run *u = &r->runs[i];
        if (u->group != g || !u->done || !isfinite(u->met[m])) continue;
        ss += (u->met[m] - mean) * (u->met[m] - mean);
      }
      G->cnt[m] = c;
      G->mean[m] = mean;
      G->std[m] = c > 1 ? sqrt(ss / (c - 1)) : c == 1 ? 0 : NAN;
    }
    /* label: short axis names */
    char *lab = gs_strdup("");
    for (int a = 0; a < r->naxes; a++) {
      if (!is_group_axis(r, a)) continue;
      char *n = rp_asprintf("%s%s%s=%s", lab, lab[0] ? ", " : "", r->shortname[a], r->runs[G->rep].val[a]);
      free(lab);
      lab = n;
    }
    if (!lab[0]) {
      free(lab);
      lab = gs_strdup("all runs");
    }
    G->label = lab;
  }
}

/* ------------------------------------------------------------------ formatting */
static int ifloor_log10(double x) { return (int)floor(log10(x)); }

/* Writes "<mantissa>e<exp>" (or LaTeX "m\times10^{e}") for x with `digits` decimals. */
static void fmt_sci(double x, int digits, int latex, char *buf, size_t n) {
  char t[32];
  snprintf(t, sizeof t, "%.*e", digits, x);
  if (!latex) {
    snprintf(buf, n, "%s", t);
    return;
  }
  char *e = strchr(t, 'e');
  if (!e) {
    snprintf(buf, n, "%s", t);
    return;
  }
  *e = 0;
  int ex = atoi(e + 1);
  snprintf(buf, n, "%s\\times10^{%d}", t, ex);
}

void gs_report_format_mean_std(double mean, double std, int count, int latex, char *buf, size_t n) {
  if (count <= 0) {
    snprintf(buf, n, "%s", latex ? "--" : "—");
    return;
  }
  if (!isfinite(mean)) {
    snprintf(buf, n, "%s", latex ? "--" : "nan");
    return;
  }
  const char *pm = latex ? " \\pm " : " ± ";
  const char *o = latex ? "$" : "", *c = latex ? "$" : "";
  int with_std = count >= 2 && isfinite(std);
  double a = fabs(mean);
  int sci = a != 0 && (a >= 1e6 || a < 1e-3);
  if (sci) {
    char ms[48], ss[48];
    int p = 3;
    if (with_std && std > 0) {
      p = ifloor_log10(a) - ifloor_log10(std) + 1;
      if (p < 1) p = 1;
      if (p > 6) p = 6;
    }
    fmt_sci(mean, p, latex, ms, sizeof ms);
    if (!with_std) {
      snprintf(buf, n, "%s%s%s", o, ms, c);
      return;
    }
    if (std > 0) fmt_sci(std, 1, latex, ss, sizeof ss);
    else snprintf(ss, sizeof ss, "0");
    snprintf(buf, n, "%s%s%s%s%s", o, ms, pm, ss, c);
    return;
  }
  int d;
  if (with_std && std > 0) d = 1 - ifloor_log10(std); /* two significant digits of the std */
  else d = a > 0 ? 3 - ifloor_log10(a) : 0;          /* four significant digits of the mean */
  int cap = a > 0 ? 6 - ifloor_log10(a) : 6;
  if (d > cap) d = cap;
  if (d < 0) d = 0;
  if (d > 9) d = 9;
  if (!with_std) snprintf(buf, n, "%s%.*f%s", o, d, mean, c);
  else snprintf(buf, n, "%s%.*f%s%.*f%s", o, d, mean, pm, d, std, c);
}

/* Shortest "%.*g" that reads back as x. */
static void fmt_exact(double x, char *buf, size_t n) {
  if (!isfinite(x)) {
    snprintf(buf, n, "%s", isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
    return;
  }
  for (int p = 6; p <= 17; p++) {
    snprintf(buf, n, "%.*g", p, x);
    if (strtod(buf, NULL) == x) return;
  }
}

static size_t utf8_width(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static char *md_cell(const char *s) {
  size_t n = 0;
  for (const char *p = s; *p; p++) n += (*p == '|') ? 2 : 1;
  char *o = gs_malloc(n + 1), *q = o;
  for (const char *p = s; *p; p++) {
    if (*p == '|') *q++ = '\\';
    *q++ = (*p == '\n' || *p == '\r') ? ' ' : *p;
  }
  *q = 0;
  return o;
}

static void csv_field(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (const char *p = s; *p; p++) {
    if (*p == '"') fputc('"', f);
    fputc(*p, f);
  }
  fputc('"', f);
}

static void tex_text(FILE *f, const char *s) {
  for (const char *p = s; *p; p++) {
    switch (*p) {
    case '\\': fputs("\\textbackslash{}", f); break;
    case '~': fputs("\\textasciitilde{}", f); break;
    case '^': fputs("\\textasciicircum{}", f); break;
    case '&': case '%': case '$': case '#': case '_': case '{': case '}':
      fputc('\\', f);
      fputc(*p, f);
      break;
    default: fputc(*p, f);
    }
  }
}

/* ------------------------------------------------------------------ output files */
static int ncols_group_axes(const rp *r) {
  int n = 0;
  for (int a = 0; a < r->naxes; a++) n += is_group_axis(r, a);
  return n;
}

/* The Markdown table of the groups: the metrics met[0..nm) (indices into r->met). */
static void md_table(const rp *r, const int *met, int nm, FILE *f) {
  int na = ncols_group_axes(r), nc = na + nm + 1;
  int nrow = r->ngroups + 1;
  char **cell = gs_calloc((size_t)nc * (size_t)nrow, sizeof *cell);
  int *right = gs_calloc((size_t)nc, sizeof *right);
  int c = 0;
  for (int a = 0; a < r->naxes; a++) {
    if (!is_group_axis(r, a)) continue;
    cell[c] = md_cell(r->axis[a]);
    right[c] = r->numeric[a];
    c++;
  }
  for (int k = 0; k < nm; k++) {
    cell[c] = md_cell(r->met[met[k]]);
    right[c++] = 1;
  }
  cell[c] = gs_strdup("n");
  right[c] = 1;
  for (int g = 0; g < r->ngroups; g++) {
    const rp_group *G = &r->groups[g];
    char **row = cell + (size_t)(g + 1) * (size_t)nc;
    c = 0;
    for (int a = 0; a < r->naxes; a++)
      if (is_group_axis(r, a)) row[c++] = md_cell(r->runs[G->rep].val[a]);
    for (int k = 0; k < nm; k++) {
      int m = met[k];
      char b[160];
      gs_report_format_mean_std(G->mean[m], G->std[m], G->cnt[m], 0, b, sizeof b);
      if (G->cnt[m] > 0 && G->cnt[m] != G->ndone) {
        size_t l = strlen(b);
        snprintf(b + l, sizeof b - l, " (n=%d)", G->cnt[m]);
      }
      row[c++] = gs_strdup(b);
    }
    row[c] = rp_asprintf("%d", G->ndone);
  }
  size_t *w = gs_calloc((size_t)nc, sizeof *w);
  for (int i = 0; i < nrow; i++)
    for (int j = 0; j < nc; j++) {
      size_t l = utf8_width(cell[(size_t)i * nc + j]);
      if (l > w[j]) w[j] = l;
    }
  for (int j = 0; j < nc; j++)
    if (w[j] < 3) w[j] = 3;
  for (int i = 0; i < nrow; i++) {
    fputs("|", f);
    for (int j = 0; j < nc; j++) {
      const char *s = cell[(size_t)i * nc + j];
      int pad = (int)(w[j] - utf8_width(s));
      if (right[j] && i > 0) fprintf(f, " %*s%s |", pad, "", s);
      else fprintf(f, " %s%*s |", s, pad, "");
    }
    fputs("\n", f);
    if (i == 0) {
      fputs("|", f);
      for (int j = 0; j < nc; j++) {
        fputc(' ', f);
        for (size_t k = 0; k + (right[j] ? 1 : 0) < w[j]; k++) fputc('-', f);
        if (right[j]) fputc(':', f);
        fputs(" |", f);
      }
      fputs("\n", f);
    }
  }
  for (size_t i = 0; i < (size_t)nc * (size_t)nrow; i++) free(cell[i]);
  free(cell);
  free(right);
  free(w);
}

static int count_status(const rp *r, const char *st) {
  int n = 0;
  for (long i = 0; i < r->nruns; i++) n += strcmp(r->runs[i].status, st) == 0;
  return n;
}

/* The sample grids of each row of the table, side by side: the first done run's samples and, if
 * it has one, its progress image (a row per evaluation), as the run wrote them into png/. */
static void samples_section(const rp *r, FILE *f) {
  static const char *const kinds[] = {"samples", "progress", "prior"};
  int any = 0;
  for (int g = 0; g < r->ngroups; g++) {
    const rp_run *u = NULL;
    for (long i = 0; i < r->nruns && !u; i++)
      if (r->runs[i].group == g && r->runs[i].done) u = &r->runs[i];
    if (!u) continue;
    char *cells[3] = {NULL, NULL, NULL};
    int have = 0;
    for (int k = 0; k < 3; k++) {
      char *path = rp_asprintf("%s/png/%s_%s.png", r->dir, u->id, kinds[k]);
      if (access(path, R_OK) == 0) {
        cells[k] = rp_asprintf("![%s](../png/%s_%s.png)", kinds[k], u->id, kinds[k]);
        have = 1;
      }
      free(path);
    }
    if (have) {
      if (!any) fprintf(f, "\n## Samples (the first done run of each row)\n\n| row | samples | progress (a row per evaluation) |\n| --- | --- | --- |\n");
      any = 1;
      char *label = md_cell(r->groups[g].label && r->groups[g].label[0] ? r->groups[g].label : u->id);
      fprintf(f, "| %s | %s | %s |\n", label, cells[0] ? cells[0] : cells[2] ? cells[2] : "", cells[1] ? cells[1] : "");
      free(label);
    }
    for (int k = 0; k < 3; k++) free(cells[k]);
  }
}

/* summary.md without (plots = 0) or with its Plots section */
/* ------------------------------------------------------------------ early stopping */

/* The metric the scheduler ranked by: sweep.metric, else the headline. -1 if not known. */
static const char *es_metric(const rp *r) {
  if (!r->scheduler[0]) return NULL;
  if (r->sched_metric[0]) return r->sched_metric;
  return r->headline >= 0 ? r->met[r->headline] : NULL;
}

typedef struct es_row {
  long run;
  double epochs, value; /* where the run got: its last epoch with a value, and that value */
} es_row;

static int es_max; /* the ranking's direction (mode = max) for es_cmp */
static int es_cmp(const void *a, const void *b) {
  const es_row *x = a, *y = b;
  if (x->epochs != y->epochs) return x->epochs > y->epochs ? -1 : 1; /* further first */
  int fx = isfinite(x->value), fy = isfinite(y->value);
  if (fx != fy) return fx ? -1 : 1;
  if (fx && x->value != y->value) return (es_max ? x->value > y->value : x->value < y->value) ? -1 : 1;
  return x->run < y->run ? -1 : x->run > y->run;
}

/* Every done or stopped run with its series of the metric, ranked: the further it trained the
 * better, then by its value there. *n rows, malloc'd. */
static es_row *es_rank(const rp *r, const char *metric, long *n) {
  es_row *rows = gs_malloc(sizeof *rows * (size_t)(r->nruns ? r->nruns : 1));
  *n = 0;
  for (long i = 0; i < r->nruns; i++) {
    const rp_run *u = &r->runs[i];
    if (!u->done && !u->stopped) continue;
    const rp_series *s = rp_run_series(u, metric);
    es_row row = {i, 0, NAN};
    if (s && s->n) {
      double *x = rp_series_epochs(u, s);
      row.epochs = x[s->n - 1];
      row.value = s->v[s->n - 1];
      free(x);
    }
    rows[(*n)++] = row;
  }
  es_max = strcmp(r->sched_mode, "max") == 0;
  qsort(rows, (size_t)*n, sizeof *rows, es_cmp);
  return rows;
}

/* The metric against epochs for every run: the ones trained to the end in colour, each named;
 * the stopped ones grey-blue, a dot where each stopped. */
static int plot_early_stopping(rp *r, gs_error *err) {
  const char *metric = es_metric(r);
  if (!metric) return 0;
  long n;
  es_row *rows = es_rank(r, metric, &n);
  gs_plot_line *lines = gs_calloc((size_t)(2 * n + 1), sizeof *lines);
  double **xs = gs_calloc((size_t)(n + 1), sizeof *xs);
  int nl = 0, slot = 0, stopped_labelled = 0;
  for (long k = 0; k < n; k++) {
    const rp_run *u = &r->runs[rows[k].run];
    const rp_series *s = rp_run_series(u, metric);
    if (!s || s->n == 0) continue;
    double *x = xs[k] = rp_series_epochs(u, s);
    gs_plot_line *L = &lines[nl++];
    L->n = s->n;
    L->x = x;
    L->y = s->v;
    if (u->stopped) {
      L->color = 9;
      gs_plot_line *M = &lines[nl++]; /* where it stopped */
      M->n = 1;
      M->x = x + s->n - 1;
      M->y = s->v + s->n - 1;
      M->color = 9;
      M->marker = 1;
      if (!stopped_labelled) M->label = "stopped early (dot: where)";
      stopped_labelled = 1;
    } else {
      L->color = slot++ % 9;
      L->label = u->id;
      L->marker = s->n <= 2;
    }
  }
  int rc = 0;
  if (nl > 0) {
    char *title = rp_asprintf("%s: early stopping (%s), %s per epoch", r->sweep_name, r->scheduler, metric);
    gs_plot p = {.title = title, .xlabel = "epoch", .ylabel = metric, .xscale = GS_XSCALE_LINEAR, .nlines = nl,
                 .lines = lines};
    char *note = rp_asprintf("%s per epoch of every run: the runs trained to their last epoch in colour, the runs the "
                             "%s scheduler stopped in one colour, a dot where each stopped.", metric, r->scheduler);
    rc = rp_plot_out(r, "early_stopping.png", &p, note, err);
    free(note);
    free(title);
  }
  for (long k = 0; k < n; k++) free(xs[k]);
  free(xs);
  free(lines);
  free(rows);
  return rc;
}

/* The ranking: the runs that trained furthest first, by their metric there. */
static void es_md(const rp *r, FILE *f) {
  const char *metric = es_metric(r);
  if (!metric) return;
  long n;
  es_row *rows = es_rank(r, metric, &n);
  int nstop = count_status(r, "stopped");
  fprintf(f, "\n## Early stopping (%s)\n\n", r->scheduler);
  fprintf(f, "%d of %ld runs stopped early. Ranked by how far each trained, then by %s at its last epoch "
             "(%s is better).\n\n", nstop, r->nruns, metric, strcmp(r->sched_mode, "max") == 0 ? "larger" : "smaller");
  fprintf(f, "| rank | run | status | epochs | %s | why it stopped |\n| --- | --- | --- | --- | --- | --- |\n", metric);
  for (long k = 0; k < n; k++) {
    const rp_run *u = &r->runs[rows[k].run];
    char v[64] = "–", e[32] = "–";
    if (isfinite(rows[k].value)) fmt_exact(rows[k].value, v, sizeof v);
    if (rows[k].epochs > 0) snprintf(e, sizeof e, "%g", rows[k].epochs);
    char *a = md_cell(u->id), *c = md_cell(u->stopped ? u->message : "");
    fprintf(f, "| %ld | %s | %s | %s | %s | %s |\n", k + 1, a, u->status, e, v, c);
    free(a);
    free(c);
  }
  free(rows);
}

static char *md_text(const rp *r, int plots, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) rp_oom();
  fprintf(f, "# Sweep report: %s\n\n", r->sweep_name);
  int ndone = count_status(r, "done"), nfail = count_status(r, "failed"), npend = count_status(r, "pending");
  fprintf(f, "- source: `%s`\n", r->h5path);
  fprintf(f, "- runs: %ld — %d done, %d failed, %d pending", r->nruns, ndone, nfail, npend);
  /* any other status (diverged, corrupt, stale, interrupted ...) */
  for (long i = 0; i < r->nruns; i++) {
    const char *st = r->runs[i].status;
    if (!strcmp(st, "done") || !strcmp(st, "failed") || !strcmp(st, "pending")) continue;
    int first = 1;
    for (long k = 0; k < i && first; k++) first = strcmp(r->runs[k].status, st) != 0;
    if (first) fprintf(f, ", %d %s", count_status(r, st), st[0] ? st : "(no status)");
  }
  fprintf(f, "\n");
  int nseed = 0;
  for (int a = 0; a < r->naxes; a++) nseed += r->seed[a];
  if (r->naxes == 0) fprintf(f, "- grid: no axes (one row)\n");
  else {
    fprintf(f, "- rows: one per ");
    int k = 0;
    for (int a = 0; a < r->naxes; a++)
      if (is_group_axis(r, a)) fprintf(f, "%s%s", k++ ? " × " : "", r->axis[a]);
    if (!k) fprintf(f, "(all runs in one row)");
    fprintf(f, "\n");
  }
  if (nseed) {
    fprintf(f, "- replicates over ");
    for (int a = 0, k = 0; a < r->naxes; a++)
      if (r->seed[a]) fprintf(f, "%s%s", k++ ? ", " : "", r->axis[a]);
    fprintf(f, ": mean ± sample std (n − 1) over the done runs; n = done runs of the row\n");
  } else {
    fprintf(f, "- no seed axis: one run per row (std 0)\n");
  }
  if (r->headline >= 0) fprintf(f, "- headline metric: %s\n", r->met[r->headline]);
  fprintf(f, "\n");
  if (r->ngroups > 0) {
    int *all = gs_malloc(sizeof(int) * (size_t)(r->nmet ? r->nmet : 1));
    for (int m = 0; m < r->nmet; m++) all[m] = m;
    if (r->nmet > 8 && r->headline >= 0) {
      /* a wide table (the CAE + IGMN runs record ~30 figures): the headline metrics first */
      int sel[1 + RP_MAX_EXTRA], ns = 0;
      sel[ns++] = r->headline;
      for (int i = 0; i < r->nextra; i++) sel[ns++] = r->extra[i];
      fprintf(f, "## Headline metrics\n\n");
      md_table(r, sel, ns, f);
      fprintf(f, "\n## All metrics (%d; also in summary.csv)\n\n", r->nmet);
    }
    md_table(r, all, r->nmet, f);
    free(all);
  } else {
    fprintf(f, "(no runs)\n");
  }

  int nnot = 0;
  for (long i = 0; i < r->nruns; i++) nnot += !r->runs[i].done && strcmp(r->runs[i].status, "pending") != 0;
  if (nnot) {
    fprintf(f, "\n## Runs not done (%d)\n\n| run | status | message |\n| --- | --- | --- |\n", nnot);
    for (long i = 0; i < r->nruns; i++) {
      const rp_run *u = &r->runs[i];
      if (u->done || !strcmp(u->status, "pending")) continue;
      char *a = md_cell(u->id), *b = md_cell(u->status), *c = md_cell(u->message);
      fprintf(f, "| %s | %s | %s |\n", a, b, c);
      free(a);
      free(b);
      free(c);
    }
  }
  if (npend) {
    fprintf(f, "\n## Pending (%d)\n\n", npend);
    int shown = 0;
    for (long i = 0; i < r->nruns && shown < 10; i++)
      if (!strcmp(r->runs[i].status, "pending")) fprintf(f, "%s%s", shown++ ? ", " : "", r->runs[i].id);
    if (npend > shown) fprintf(f, ", … (%d more)", npend - shown);
    fprintf(f, "\n");
  }
  if (r->nwarn) {
    fprintf(f, "\n## Warnings\n\n");
    for (int i = 0; i < r->nwarn; i++) fprintf(f, "- %s\n", r->warn[i]);
  }
  es_md(r, f);
  rp_probes pt;
  if (rp_probes_find(r, &pt)) rp_probe_md(r, &pt, f);
  samples_section(r, f);
  if (plots && r->nplots) {
    fprintf(f, "\n## Plots\n");
    for (int i = 0; i < r->nplots; i++) {
      fprintf(f, "\n![%s](%s)\n", r->plots[i], r->plots[i]);
      if (r->plot_notes[i][0]) fprintf(f, "\n%s\n", r->plot_notes[i]);
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

static char *csv_text(const rp *r, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) rp_oom();
  int k = 0;
  for (int a = 0; a < r->naxes; a++)
    if (is_group_axis(r, a)) {
      if (k++) fputc(',', f);
      csv_field(f, r->axis[a]);
    }
  for (int m = 0; m < r->nmet; m++) {
    char *h = rp_asprintf("%s_mean", r->met[m]);
    if (k++) fputc(',', f);
    csv_field(f, h);
    free(h);
    h = rp_asprintf("%s_std", r->met[m]);
    fputc(',', f);
    csv_field(f, h);
    free(h);
  }
  fprintf(f, "%sn\n", k ? "," : "");
  for (int g = 0; g < r->ngroups; g++) {
    const rp_group *G = &r->groups[g];
    k = 0;
    for (int a = 0; a < r->naxes; a++)
      if (is_group_axis(r, a)) {
        if (k++) fputc(',', f);
        csv_field(f, r->runs[G->rep].val[a]);
      }
    for (int m = 0; m < r->nmet; m++) {
      char b1[64], b2[64];
      fmt_exact(G->cnt[m] ? G->mean[m] : NAN, b1, sizeof b1);
      fmt_exact(G->cnt[m] ? G->std[m] : NAN, b2, sizeof b2);
      fprintf(f, "%s%s,%s", k++ ? "," : "", b1, b2);
    }
    fprintf(f, "%s%d\n", k ? "," : "", G->ndone);
  }
  fclose(f);
  *len = n;
  return buf;
}

static char *tex_text_table(const rp *r, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) rp_oom();
  fprintf(f, "%% gensweep report of sweep ");
  tex_text(f, r->sweep_name);
  fprintf(f, ": mean $\\pm$ sample std over the done runs of each row; needs \\usepackage{booktabs}\n");
  fprintf(f, "\\begin{tabular}{");
  for (int a = 0; a < r->naxes; a++)
    if (is_group_axis(r, a)) fputc(r->numeric[a] ? 'r' : 'l', f);
  for (int m = 0; m < r->nmet; m++) fputc('r', f);
  fprintf(f, "r}\n\\toprule\n");
  int k = 0;
  for (int a = 0; a < r->naxes; a++)
    if (is_group_axis(r, a)) {
      if (k++) fputs(" & ", f);
      tex_text(f, r->axis[a]);
    }
  for (int m = 0; m < r->nmet; m++) {
    if (k++) fputs(" & ", f);
    tex_text(f, r->met[m]);
  }
  fprintf(f, "%s$n$ \\\\\n\\midrule\n", k ? " & " : "");
  for (int g = 0; g < r->ngroups; g++) {
    const rp_group *G = &r->groups[g];
    k = 0;
    for (int a = 0; a < r->naxes; a++)
      if (is_group_axis(r, a)) {
        if (k++) fputs(" & ", f);
        tex_text(f, r->runs[G->rep].val[a]);
      }
    for (int m = 0; m < r->nmet; m++) {
      char b[200];
      gs_report_format_mean_std(G->mean[m], G->std[m], G->cnt[m], 1, b, sizeof b);
      fprintf(f, "%s%s", k++ ? " & " : "", b);
    }
    fprintf(f, "%s%d \\\\\n", k ? " & " : "", G->ndone);
  }
  fprintf(f, "\\bottomrule\n\\end{tabular}\n");
  fclose(f);
  *len = n;
  return buf;
}

/* ------------------------------------------------------------------ plots */
static char *safe_name(const char *s) {
  char *o = gs_strdup(s);
  for (char *p = o; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
          *p == '_' || *p == '-'))
      *p = '_';
  return o;
}

int rp_plot_out(rp *r, const char *file, const gs_plot *p, const char *note, gs_error *err) {
  char *path = rp_asprintf("%s/report/%s", r->dir, file);
  int rc = gs_plot_write(path, p, err);
  free(path);
  if (rc == 0) {
    rp_add_str(&r->plots, &r->nplots, gs_strdup(file));
    r->plot_notes = gs_realloc(r->plot_notes, sizeof(char *) * (size_t)r->nplots);
    r->plot_notes[r->nplots - 1] = gs_strdup(note ? note : "");
  }
  return rc;
}

/* One PNG per per-epoch series: a line per done run. */
static int plot_curves(rp *r, gs_error *err) {
  int nnames = 0;
  char **names = NULL;
  for (long i = 0; i < r->nruns; i++)
    for (int s = 0; s < r->runs[i].nser; s++) {
      const char *nm = r->runs[i].ser[s].name;
      if (strcmp(nm, "epoch") && strcmp(nm, "iteration") && strcmp(nm, "eval_iteration") && !strchr(nm, '/') &&
          rp_find_name(names, nnames, nm) < 0) /* "probe/...": per-class figures, not curves */
        rp_add_str(&names, &nnames, gs_strdup(nm));
    }
  /* the headline metric first, then train_loss, then the others as the run files list them */
  const char *first[2] = {r->headline >= 0 ? r->met[r->headline] : "", "train_loss"};
  for (int f = 1; f >= 0; f--) {
    int k = rp_find_name(names, nnames, first[f]);
    if (k <= 0) continue;
    char *t = names[k];
    memmove(names + 1, names, sizeof(char *) * (size_t)k);
    names[0] = t;
  }
  /* groups that have curves decide the colouring */
  int *gslot = gs_malloc(sizeof(int) * (size_t)(r->ngroups + 1));
  int ng = 0, nrun = 0;
  for (int g = 0; g < r->ngroups; g++) {
    gslot[g] = -1;
    for (long i = 0; i < r->nruns && gslot[g] < 0; i++)
      if (r->runs[i].group == g && r->runs[i].nser > 0 && r->runs[i].done) gslot[g] = ng++;
  }
  for (long i = 0; i < r->nruns; i++) nrun += r->runs[i].nser > 0 && r->runs[i].done;
  int by_group = ng > 1;
  int rc = 0;
  for (int k = 0; k < nnames && rc == 0; k++) {
    gs_plot_line *lines = gs_calloc((size_t)nrun + 1, sizeof *lines);
    double **xs = gs_calloc((size_t)nrun + 1, sizeof *xs);
    int nl = 0, run_slot = 0, by_iter = 0;
    int *labelled = gs_calloc((size_t)r->ngroups + 1, sizeof *labelled);
    for (long i = 0; i < r->nruns; i++) {
      const rp_run *u = &r->runs[i];
      if (u->nser == 0 || !u->done) continue; /* (runs stopped early: plot_early_stopping) */
      int slot = run_slot++;
      const rp_series *s = rp_run_series(u, names[k]);
      if (!s || s->n == 0) continue;
      gs_plot_line *L = &lines[nl];
      by_iter |= rp_series_by_iteration(u, names[k]);
      xs[nl] = rp_series_epochs(u, s);
      L->n = s->n;
      L->x = xs[nl];
      L->y = s->v;
      if (by_group) {
        L->color = gslot[u->group];
        if (!labelled[u->group]) L->label = r->groups[u->group].label;
        labelled[u->group] = 1;
      } else {
        L->color = slot;
        L->label = nrun > 1 ? u->id : NULL;
      }
      L->marker = s->n <= 2;
      nl++;
    }
    if (nl > 0) {
      const char *unit = by_iter ? "iteration" : "epoch";
      char *title = rp_asprintf("%s: %s per %s", r->sweep_name, names[k], unit);
      char *sn = safe_name(names[k]);
      char *file = rp_asprintf("curves_%s.png", sn);
      gs_plot p = {.title = title, .xlabel = unit, .ylabel = names[k], .xscale = GS_XSCALE_LINEAR,
                   .nlines = nl, .lines = lines};
      char *note = rp_asprintf("%s per %s, one line per done run%s.", names[k], unit,
                             by_group ? ", coloured by row of the table" : "");
      rc = rp_plot_out(r, file, &p, note, err);
      free(note);
      free(title);
      free(sn);
      free(file);
    }
    for (int l = 0; l < nl; l++) free(xs[l]);
    free(xs);
    free(lines);
    free(labelled);
  }
  for (int k = 0; k < nnames; k++) free(names[k]);
  free(names);
  free(gslot);
  return rc;
}

typedef struct vs_point {
  double x, y, e;
} vs_point;

static int cmp_point(const void *a, const void *b) {
  double x = ((const vs_point *)a)->x, y = ((const vs_point *)b)->x;
  return (x > y) - (x < y);
}

/* The headline metric against the x axis: a line per combination of the other non-seed axes. */
static int plot_vs_axis(rp *r, gs_error *err) {
  int m = r->headline, xa = r->xaxis;
  int numeric = r->numeric[xa];
  /* categories (non-numeric x), in the order the grid first shows them */
  int ncat = 0;
  char **cats = NULL;
  if (!numeric)
    for (long i = 0; i < r->nruns; i++)
      if (rp_find_name(cats, ncat, r->runs[i].val[xa]) < 0) rp_add_str(&cats, &ncat, gs_strdup(r->runs[i].val[xa]));
  /* lines: groups that agree on every non-seed axis but x */
  int *line_of = gs_malloc(sizeof(int) * (size_t)(r->ngroups + 1));
  int *line_rep = gs_malloc(sizeof(int) * (size_t)(r->ngroups + 1));
  int nline = 0;
  for (int g = 0; g < r->ngroups; g++) {
    const rp_run *u = &r->runs[r->groups[g].rep];
    line_of[g] = -1;
    for (int l = 0; l < nline && line_of[g] < 0; l++) {
      const rp_run *v = &r->runs[r->groups[line_rep[l]].rep];
      int same = 1;
      for (int a = 0; a < r->naxes && same; a++)
        if (a != xa && is_group_axis(r, a)) same = strcmp(u->val[a], v->val[a]) == 0;
      if (same) line_of[g] = l;
    }
    if (line_of[g] < 0) {
      line_rep[nline] = g;
      line_of[g] = nline++;
    }
  }
  int other_axes = 0;
  for (int a = 0; a < r->naxes; a++) other_axes += a != xa && is_group_axis(r, a);
  gs_plot_line *lines = gs_calloc((size_t)nline + 1, sizeof *lines);
  vs_point **pts = gs_calloc((size_t)nline + 1, sizeof *pts);
  double **arr = gs_calloc((size_t)nline * 3 + 1, sizeof *arr);
  char **labels = gs_calloc((size_t)nline + 1, sizeof *labels);
  double *allx = gs_malloc(sizeof(double) * (size_t)(r->ngroups + 1));
  int nall = 0, nl = 0, npoints = 0;
  for (int l = 0; l < nline; l++) {
    int np = 0;
    pts[l] = gs_malloc(sizeof(vs_point) * (size_t)(r->ngroups + 1));
    for (int g = 0; g < r->ngroups; g++) {
      const rp_group *G = &r->groups[g];
      if (line_of[g] != l || G->cnt[m] == 0 || !isfinite(G->mean[m])) continue;
      const char *xv = r->runs[G->rep].val[xa];
      double x = 0;
      if (numeric) rp_parse_number(xv, &x);
      else x = rp_find_name(cats, ncat, xv);
      pts[l][np].x = x;
      pts[l][np].y = G->mean[m];
      pts[l][np].e = G->cnt[m] > 1 ? G->std[m] : NAN;
      allx[nall++] = x;
      np++;
    }
    if (np == 0) continue;
    qsort(pts[l], (size_t)np, sizeof(vs_point), cmp_point);
    double *x = arr[3 * nl] = gs_malloc(sizeof(double) * (size_t)np);
    double *y = arr[3 * nl + 1] = gs_malloc(sizeof(double) * (size_t)np);
    double *e = arr[3 * nl + 2] = gs_malloc(sizeof(double) * (size_t)np);
    for (int i = 0; i < np; i++) {
      x[i] = pts[l][i].x;
      y[i] = pts[l][i].y;
      e[i] = pts[l][i].e;
    }
    if (other_axes) {
      const rp_run *u = &r->runs[r->groups[line_rep[l]].rep];
      char *lab = gs_strdup("");
      for (int a = 0; a < r->naxes; a++) {
        if (a == xa || !is_group_axis(r, a)) continue;
        char *t = rp_asprintf("%s%s%s=%s", lab, lab[0] ? ", " : "", r->shortname[a], u->val[a]);
        free(lab);
        lab = t;
      }
      labels[nl] = lab;
    }
    lines[nl] = (gs_plot_line){.label = labels[nl], .n = np, .x = x, .y = y, .err = e, .color = nl, .marker = 1};
    npoints += np;
    nl++;
  }
  int rc = 0;
  if (npoints == 0) {
    rp_warn(r, "no done run has a value of %s: no %s-vs-%s plot", r->met[m], r->met[m], r->axis[xa]);
  } else {
    gs_xscale sc = !numeric ? GS_XSCALE_CATEGORY : gs_plot_want_logx(allx, nall) ? GS_XSCALE_LOG : GS_XSCALE_LINEAR;
    int nseed = 0;
    for (int a = 0; a < r->naxes; a++) nseed += r->seed[a];
    char *title = rp_asprintf("%s: %s vs %s", r->sweep_name, r->met[m], r->axis[xa]);
    char *ylab = nseed ? rp_asprintf("%s (mean ± std over seeds)", r->met[m]) : gs_strdup(r->met[m]);
    char *xlab = rp_asprintf("%s%s", r->axis[xa], sc == GS_XSCALE_LOG ? " (log scale)" : "");
    char *s1 = safe_name(r->met[m]), *s2 = safe_name(r->axis[xa]);
    char *file = rp_asprintf("%s_vs_%s.png", s1, s2);
    int has_zero = 0;
    for (int i = 0; i < nall; i++) has_zero |= allx[i] == 0;
    char *note = rp_asprintf("%s against %s%s%s: %s%s.", r->met[m], r->axis[xa],
                           other_axes ? ", one line per combination of the other axes" : "",
                           nseed ? ", points at the mean over seeds, error bars ± sample std (lines shifted slightly "
                                   "sideways so that the bars stay apart)" : "",
                           sc == GS_XSCALE_LOG ? "log x axis" : sc == GS_XSCALE_CATEGORY ? "categorical x axis" :
                                                                                      "linear x axis",
                           sc == GS_XSCALE_LOG && has_zero ?
                               " (0 is drawn one decade below the smallest positive value, behind an axis break; "
                               "dashed segments lead to it)" : "");
    gs_plot p = {.title = title, .xlabel = xlab, .ylabel = ylab, .xscale = sc, .ncategories = ncat,
                 .categories = (const char *const *)cats, .nlines = nl, .lines = lines, .dodge = nseed > 0};
    rc = rp_plot_out(r, file, &p, note, err);
    free(note);
    free(title);
    free(ylab);
    free(xlab);
    free(s1);
    free(s2);
    free(file);
  }
  for (int i = 0; i < 3 * nl; i++) free(arr[i]);
  for (int l = 0; l < nline; l++) free(pts[l]);
  for (int l = 0; l < nl; l++) free(labels[l]);
  for (int i = 0; i < ncat; i++) free(cats[i]);
  free(cats);
  free(arr);
  free(pts);
  free(labels);
  free(lines);
  free(allx);
  free(line_of);
  free(line_rep);
  return rc;
}

/* ------------------------------------------------------------------ gs_report */
static char *list_names(char **names, int n, const int *skip) {
  char *s = gs_strdup("");
  for (int i = 0; i < n; i++) {
    if (skip && skip[i]) continue;
    char *t = rp_asprintf("%s%s%s", s, s[0] ? ", " : "", names[i]);
    free(s);
    s = t;
  }
  if (!s[0]) {
    free(s);
    s = gs_strdup("none");
  }
  return s;
}

static int choose_options(rp *r, const gs_report_options *opt, gs_error *err) {
  /* headline metric */
  r->headline = -1;
  r->nextra = 0;
  if (opt->metric && opt->metric[0]) {
    /* one metric, or several separated by commas: the first is the headline, each gets a plot */
    char *list = gs_strdup(opt->metric), *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      while (*tok == ' ') tok++;
      for (size_t l = strlen(tok); l > 0 && tok[l - 1] == ' ';) tok[--l] = 0;
      if (!*tok) continue;
      int hit = rp_find_name(r->met, r->nmet, tok);
      if (hit < 0) {
        char *alt = rp_asprintf("final.%s", tok);
        hit = rp_find_name(r->met, r->nmet, alt);
        free(alt);
      }
      if (hit < 0) {
        char *l = list_names(r->met, r->nmet, NULL);
        int rc = gs_fail(err, "--metric %s: no such final metric in %s (there: %s)", tok, r->h5path, l);
        free(l);
        free(list);
        return rc;
      }
      if (r->headline < 0) r->headline = hit;
      else if (r->nextra < RP_MAX_EXTRA) r->extra[r->nextra++] = hit;
    }
    free(list);
  } else {
    /* by what the sweep trained: the VAEs' bound, the CAE + IGMN study's sigmasq, else (GANs) the
     * judged sample quality; every generative model's sample quality follows its own figures */
    static const char *const vae[] = {"test_neg_elbo", "test_iw_nll", NULL};
    static const char *const cae[] = {"sigmasq", "sigmasq_ratio", "collapsed", "igmn_final_K", "igmn_final_purity",
                                      "igmn_final_judge_share", "igmn_pass_K", "igmn_pass_purity", "test_bce", NULL};
    static const char *const quality[] = {"frechet", "judge_covered", "judge_score", "judge_kl_uniform",
                                          "judge_largest_share", "judge_agreement", "mode_collapsed", NULL};
    const char *const *own = rp_find_name(r->met, r->nmet, "test_neg_elbo") >= 0 ? vae
                             : rp_find_name(r->met, r->nmet, "sigmasq") >= 0    ? cae
                                                                              : NULL;
    const char *const *lists[2] = {own ? own : quality, own ? quality : NULL};
    for (int l = 0; l < 2 && lists[l]; l++)
      for (int i = 0; lists[l][i]; i++) {
        int hit = rp_find_name(r->met, r->nmet, lists[l][i]);
        if (hit < 0) continue;
        if (r->headline < 0) r->headline = hit;
        else if (r->nextra < RP_MAX_EXTRA && hit != r->headline) r->extra[r->nextra++] = hit;
      }
    if (r->headline < 0 && r->nmet > 0) r->headline = 0;
  }
  /* x axis */
  r->xaxis = -1;
  if (opt->x_axis && opt->x_axis[0]) {
    int hit = rp_find_name(r->axis, r->naxes, opt->x_axis), nshort = 0;
    if (hit < 0)
      for (int a = 0; a < r->naxes; a++) {
        const char *dot = strrchr(r->axis[a], '.');
        if (dot && strcmp(dot + 1, opt->x_axis) == 0) {
          hit = a;
          nshort++;
        }
      }
    if (hit < 0 || nshort > 1 || r->seed[hit]) {
      char *l = list_names(r->axis, r->naxes, r->seed);
      int rc = gs_fail(err, "--x %s: %s in %s (choose one of: %s)", opt->x_axis,
                       hit < 0 ? "no such axis" : nshort > 1 ? "ambiguous axis name" :
                                                               "a seed axis is averaged over, not plotted against",
                       r->h5path, l);
      free(l);
      return rc;
    }
    r->xaxis = hit;
  } else {
    for (int a = 0; a < r->naxes && r->xaxis < 0; a++)
      if (!r->seed[a] && r->numeric[a]) r->xaxis = a;
    for (int a = 0; a < r->naxes && r->xaxis < 0; a++)
      if (!r->seed[a]) r->xaxis = a;
  }
  return 0;
}

static void classify_axes(rp *r) {
  r->seed = gs_calloc((size_t)r->naxes + 1, sizeof *r->seed);
  r->numeric = gs_calloc((size_t)r->naxes + 1, sizeof *r->numeric);
  r->shortname = gs_calloc((size_t)r->naxes + 1, sizeof *r->shortname);
  for (int a = 0; a < r->naxes; a++) {
    r->seed[a] = gs_report_is_seed_axis(r->axis[a]);
    int num = r->nruns > 0;
    for (long i = 0; i < r->nruns && num; i++) num = rp_parse_number(r->runs[i].val[a], NULL);
    r->numeric[a] = num;
    const char *dot = strrchr(r->axis[a], '.');
    r->shortname[a] = gs_strdup(dot && dot[1] ? dot + 1 : r->axis[a]);
  }
  for (int a = 0; a < r->naxes; a++) /* ambiguous short names: the full name */
    for (int b = 0; b < r->naxes; b++)
      if (a != b && strcmp(r->shortname[a], r->shortname[b]) == 0 && strchr(r->axis[a], '.')) {
        free(r->shortname[a]);
        r->shortname[a] = gs_strdup(r->axis[a]);
        break;
      }
}

static void load_run_files(rp *r) {
  for (long i = 0; i < r->nruns; i++) {
    rp_run *u = &r->runs[i];
    if (!u->done && !u->stopped) continue;
    char *path = rp_asprintf("%s/runs/%s.h5", r->dir, u->id);
    gs_error e = {0};
    if (rp_read_run_series(path, u, &e) != 0)
      rp_warn(r, "run %s: %s; its curves are left out (its final metrics come from sweep.h5)", u->id, e.msg);
    free(path);
  }
}

/* Plots an earlier report drew (another --metric, a metric no longer recorded) would sit next to
 * this report's and look current. Every report lists the plots it drew in report/.plots; the
 * ones the previous list names that this report did not draw are removed. Files gensweep did not
 * draw are never touched. */
static void remove_stale_plots(rp *r, const char *rdir, FILE *out) {
  char *list = rp_asprintf("%s/.plots", rdir);
  FILE *f = fopen(list, "r");
  if (f) {
    char line[1024];
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\n")] = 0;
      /* only plain names of PNGs in report/ */
      size_t l = strlen(line);
      if (l < 5 || strcmp(line + l - 4, ".png") != 0 || strchr(line, '/') || line[0] == '.') continue;
      int ours = 0;
      for (int i = 0; i < r->nplots && !ours; i++) ours = strcmp(r->plots[i], line) == 0;
      if (ours) continue;
      char *p = rp_asprintf("%s/%s", rdir, line);
      if (unlink(p) == 0 && out) fprintf(out, "removed %s (an earlier report's plot that this one does not draw)\n", p);
      free(p);
    }
    fclose(f);
  }
  char *text = NULL;
  size_t n = 0;
  FILE *m = open_memstream(&text, &n);
  if (!m) rp_oom();
  for (int i = 0; i < r->nplots; i++) fprintf(m, "%s\n", r->plots[i]);
  fclose(m);
  gs_error e = {0};
  if (gs_atomic_write(list, text, n, &e) != 0) rp_warn(r, "%s", e.msg);
  free(text);
  free(list);
}

/* d/report/<name> from text (freed), "wrote" on out */
static int write_report_file(const char *d, const char *name, char *text, size_t len, FILE *out, gs_error *err) {
  char *path = rp_asprintf("%s/report/%s", d, name);
  int rc = gs_atomic_write(path, text, len, err);
  if (rc == 0 && out) fprintf(out, "wrote %s\n", path);
  free(text);
  free(path);
  return rc;
}

int gs_report(const char *dir, const gs_report_options *opt, FILE *out, gs_error *err) {
  static const gs_report_options defaults = {0};
  if (!opt) opt = &defaults;
  if (!dir || !dir[0]) return gs_fail(err, "report: no sweep directory given");
  rp r;
  memset(&r, 0, sizeof r);
  /* strip trailing slashes */
  char *d = gs_strdup(dir);
  for (size_t n = strlen(d); n > 1 && d[n - 1] == '/'; n--) d[n - 1] = 0;
  r.dir = d;
  r.h5path = rp_asprintf("%s/sweep.h5", d);
  int rc = -1;
  char *mdpath = rp_asprintf("%s/report/summary.md", d), *csvpath = rp_asprintf("%s/report/summary.csv", d);
  char *texpath = rp_asprintf("%s/report/summary.tex", d), *rdir = rp_asprintf("%s/report", d);
  char *md = NULL, *mdt = NULL, *csv = NULL, *tex = NULL;
  size_t mdn = 0, mdtn = 0, csvn = 0, texn = 0;

  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  int rd = rp_read_sweep(&r, err);
  if (rd == 0) {
    classify_axes(&r);
    if (choose_options(&r, opt, err) == 0) rd = 1;
  }
  if (rd != 1) {
    gs_h5_quiet_end(&q);
    goto out;
  }
  build_groups(&r);
  if (gs_mkdirs(rdir, err) != 0) {
    gs_h5_quiet_end(&q);
    goto out;
  }
  int plot_rc = 0;
  gs_error plot_err = {0};
  if (!opt->no_plots) {
    load_run_files(&r);
    gs_h5_quiet_end(&q);
    if (r.headline >= 0 && r.xaxis >= 0) {
      plot_rc = plot_vs_axis(&r, &plot_err);
      for (int e = 0; plot_rc == 0 && e < r.nextra; e++) { /* further metrics */
        int h = r.headline;
        r.headline = r.extra[e];
        plot_rc = plot_vs_axis(&r, &plot_err);
        r.headline = h;
      }
    } else if (r.headline < 0) rp_warn(&r, "no final metrics in %s: no metric-vs-axis plot", r.h5path);
    else rp_warn(&r, "no non-seed axis to plot %s against", r.met[r.headline]);
    if (plot_rc == 0) plot_rc = plot_curves(&r, &plot_err);
    if (plot_rc == 0) plot_rc = plot_early_stopping(&r, &plot_err);
    rp_probes pt;
    if (plot_rc == 0 && rp_probes_find(&r, &pt)) plot_rc = rp_probe_plots(&r, &pt, &plot_err);
    if (plot_rc != 0) rp_warn(&r, "plotting stopped: %s", plot_err.msg);
  } else {
    rp_probes pt;
    if (rp_probes_find(&r, &pt)) load_run_files(&r); /* the per-class probe tables */
    gs_h5_quiet_end(&q);
  }

  if (!opt->no_plots && plot_rc == 0) remove_stale_plots(&r, rdir, out);
  md = md_text(&r, 1, &mdn);
  csv = csv_text(&r, &csvn);
  if (gs_atomic_write(mdpath, md, mdn, err) != 0 || gs_atomic_write(csvpath, csv, csvn, err) != 0) goto out;
  if (opt->latex) {
    tex = tex_text_table(&r, &texn);
    if (gs_atomic_write(texpath, tex, texn, err) != 0) goto out;
  }
  rp_probes pt;
  if (rp_probes_find(&r, &pt)) { /* the probe tables (probe_table.c), whatever --latex says */
    size_t pn = 0;
    char *ptxt = rp_probe_csv(&r, &pt, &pn);
    int wrc = write_report_file(d, "probes.csv", ptxt, pn, out, err);
    if (wrc == 0 && pt.nclf) {
      ptxt = rp_probe_tex(&r, &pt, &pn);
      wrc = write_report_file(d, "probes.tex", ptxt, pn, out, err);
    }
    if (wrc == 0 && pt.nclf) {
      ptxt = rp_probe_per_class_csv(&r, &pt, &pn);
      wrc = write_report_file(d, "probes_per_class.csv", ptxt, pn, out, err);
    }
    if (wrc == 0 && (ptxt = rp_class_head_csv(&r, &pn)))
      wrc = write_report_file(d, "class_head.csv", ptxt, pn, out, err);
    if (wrc == 0 && (ptxt = rp_class_head_tex(&r, &pn)))
      wrc = write_report_file(d, "class_head.tex", ptxt, pn, out, err);
    if (wrc != 0) goto out;
  }
  if (out) {
    mdt = md_text(&r, 0, &mdtn);
    fwrite(mdt, 1, mdtn, out);
    fprintf(out, "\nwrote %s\nwrote %s\n", mdpath, csvpath);
    if (opt->latex) fprintf(out, "wrote %s\n", texpath);
    for (int i = 0; i < r.nplots; i++) fprintf(out, "wrote %s/%s\n", rdir, r.plots[i]);
    fflush(out);
  }
  if (plot_rc != 0) {
    if (err) *err = plot_err;
    goto out;
  }
  rc = 0;
out:
  free(md);
  free(mdt);
  free(csv);
  free(tex);
  free(mdpath);
  free(csvpath);
  free(texpath);
  free(rdir);
  rp_free(&r);
  free(d);
  return rc;
}
