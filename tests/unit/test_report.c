/* gensweep report: a synthetic sweep (run files and sweep.h5 written through the record.h API,
 * no training) is aggregated; the CSV numbers are checked against mean / sample std computed
 * here, the Markdown and LaTeX tables and the PNGs (size, not blank) are checked, and so are the
 * errors: missing sweep.h5, bad options, an unreadable run file (a warning, not a failure). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgkeys.h"
#include "gensweep/models/model.h"
#include "gensweep/config/config.h"
#include "gensweep/io/png.h"
#include "gensweep/io/record.h"
#include "gensweep/report/report.h"

/* ------------------------------------------------------------------ helpers */
#define TEST_TMP_NAME "gs_report"
#include "testutil.h"

static char *slurp(const char *path) {
  gs_error err = {0};
  char *s = gs_read_file(path, NULL, &err);
  cr_assert_not_null(s, "%s", err.msg);
  return s;
}

/* The synthetic final metrics and series of a run. */
static double v_elbo(int cvae, long latent, long seed) { return 100.0 + 7.0 * cvae - 0.5 * latent + 0.25 * seed * seed; }
static double v_kl(int cvae, long latent, long seed) { return 5.0 + 0.3 * latent + 0.1 * seed + 0.01 * cvae; }

static const char *grid_text(const char *dir) {
  static char t[2048];
  snprintf(t, sizeof t,
           "[sweep]\nname = synth\nresults = %s\n"
           "[train]\nepochs = 4\n"
           "[grid]\nmodel.name = vae, cvae\nmodel.latent_dim = 2, 10\ntrain.seed = 1, 2, 3\n",
           dir);
  return t;
}

#define FAILED_ID "name-vae_latent_dim-10_seed-3"
#define FAILED_MSG "test negative ELBO is not finite at epoch 2"

/* Writes dir/runs/<id>.h5 for every run (the FAILED_ID one failed) and dir/sweep.h5. */
static void build_sweep(const char *dir, const char *text, gs_sweep *sw) {
  char path[1024];
  gs_error err = {0};
  snprintf(path, sizeof path, "%s/runs", dir);
  cr_assert_eq(gs_mkdirs(path, &err), 0, "%s", err.msg);
  cr_assert_eq(gs_sweep_load_text("experiments/synth.ini", gs_models_vocabulary(), text, sw, &err), 0, "%s", err.msg);
  for (long i = 0; i < sw->nruns; i++) {
    const gs_run *run = &sw->runs[i];
    const gs_config *c = &run->cfg;
    int cvae = strcmp(c->model, "cvae") == 0;
    int failed = strcmp(run->id, FAILED_ID) == 0;
    gs_record r;
    gs_record_init(&r, run->id, c->model, run->hash);
    GS_STRCPY(r.status, failed ? "failed" : "done");
    GS_STRCPY(r.message, failed ? FAILED_MSG : "");
    r.seconds = 1.5;
    int ne = failed ? 2 : 4;
    for (int e = 1; e <= ne; e++) {
      gs_record_push(&r, "epoch", e);
      gs_record_push(&r, "train_loss", 200.0 / e + 3 * cvae + c->seed + 0.1 * cfg_get(c, "model.latent_dim"));
      gs_record_push(&r, "test_neg_elbo", v_elbo(cvae, cfg_get(c, "model.latent_dim"), c->seed) + 40.0 / e);
    }
    if (!failed) {
      gs_record_scalar(&r, "test_neg_elbo", v_elbo(cvae, cfg_get(c, "model.latent_dim"), c->seed));
      gs_record_scalar(&r, "test_kl", v_kl(cvae, cfg_get(c, "model.latent_dim"), c->seed));
    }
    snprintf(path, sizeof path, "%s/runs/%s.h5", dir, run->id);
    cr_assert_eq(gs_runfile_write(path, &r, c, &err), 0, "%s", err.msg);
    gs_record_free(&r);
  }
  cr_assert_eq(gs_sweepfile_write(dir, sw, &err), 0, "%s", err.msg);
}

/* mean and sample std of f over the done seeds of (cvae, latent) */
static void expect(double (*f)(int, long, long), int cvae, long latent, double *mean, double *std, int *n) {
  double v[3];
  int k = 0;
  for (long s = 1; s <= 3; s++) {
    if (!cvae && latent == 10 && s == 3) continue; /* the failed run */
    v[k++] = f(cvae, latent, s);
  }
  double m = 0, ss = 0;
  for (int i = 0; i < k; i++) m += v[i];
  m /= k;
  for (int i = 0; i < k; i++) ss += (v[i] - m) * (v[i] - m);
  *mean = m;
  *std = k > 1 ? sqrt(ss / (k - 1)) : 0;
  *n = k;
}

/* CSV: header fields and rows (no quoting in these files) */
typedef struct csv {
  int ncol, nrow;
  char *cell[32][32];
} csv;

static void csv_split(char *line, char **out, int *n) {
  *n = 0;
  for (char *p = line;;) {
    char *c = strchr(p, ',');
    if (c) *c = 0;
    out[(*n)++] = p;
    if (!c) break;
    p = c + 1;
  }
}

static void csv_read(const char *path, csv *t, char **text) {
  *text = slurp(path);
  memset(t, 0, sizeof *t);
  char *save = NULL;
  for (char *line = strtok_r(*text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    cr_assert_lt(t->nrow, 32);
    int n;
    csv_split(line, t->cell[t->nrow], &n);
    if (t->nrow == 0) t->ncol = n;
    else cr_assert_eq(n, t->ncol, "CSV row %d has %d fields, the header %d", t->nrow, n, t->ncol);
    t->nrow++;
  }
}

static int csv_col(const csv *t, const char *name) {
  for (int j = 0; j < t->ncol; j++)
    if (strcmp(t->cell[0][j], name) == 0) return j;
  cr_assert_fail("CSV has no column %s", name);
  return -1;
}

static void assert_close(double got, double want, const char *what) {
  double tol = 1e-12 * (fabs(want) > 1 ? fabs(want) : 1);
  cr_assert(fabs(got - want) <= tol, "%s: got %.17g, want %.17g", what, got, want);
}

/* A PNG of w x h that is not blank: some spread of grey levels and a fair number of ink pixels. */
static void assert_png(const char *path, int w, int h) {
  cr_assert(exists(path), "%s missing", path);
  uint8_t *pix = NULL;
  int pw = 0, ph = 0;
  gs_error err = {0};
  cr_assert_eq(gs_png_read_gray(path, &pix, &pw, &ph, &err), 0, "%s", err.msg);
  cr_assert_eq(pw, w, "%s: width %d", path, pw);
  cr_assert_eq(ph, h, "%s: height %d", path, ph);
  double s = 0, ss = 0;
  long ink = 0, n = (long)pw * ph;
  for (long i = 0; i < n; i++) {
    s += pix[i];
    ss += (double)pix[i] * pix[i];
    ink += pix[i] < 200;
  }
  double mean = s / n, var = ss / n - mean * mean;
  cr_assert_gt(var, 100.0, "%s looks blank (variance %g)", path, var);
  cr_assert_gt(ink, 2000, "%s has only %ld dark pixels", path, ink);
  cr_assert_gt(mean, 150.0, "%s: white background expected (mean %g)", path, mean);
  free(pix);
}

static char *run_report(const char *dir, const gs_report_options *opt, int *rc, gs_error *err) {
  char *buf = NULL;
  size_t n = 0;
  FILE *out = open_memstream(&buf, &n);
  cr_assert_not_null(out);
  *rc = gs_report(dir, opt, out, err);
  fclose(out);
  return buf;
}

/* ------------------------------------------------------------------ tests */
Test(report, synthetic_sweep_tables_and_plots) {
  char tmp[64], dir[128], path[512];
  make_tmpdir(tmp, sizeof tmp);
  snprintf(dir, sizeof dir, "%s/synth", tmp);
  gs_sweep sw;
  build_sweep(dir, grid_text(tmp), &sw);
  cr_assert_eq(sw.nruns, 12);

  /* PLplot must not write to stdout: run with stdout redirected to a file */
  char outpath[600];
  snprintf(outpath, sizeof outpath, "%s/stdout.txt", tmp);
  fflush(stdout);
  int saved = dup(1), fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert(saved >= 0 && fd >= 0);
  dup2(fd, 1);
  close(fd);
  gs_report_options opt = {.latex = 1};
  gs_error err = {0};
  int rc;
  char *printed = run_report(dir, &opt, &rc, &err);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  cr_assert_eq(rc, 0, "gs_report: %s", err.msg);
  struct stat st;
  cr_assert_eq(stat(outpath, &st), 0);
  cr_assert_eq(st.st_size, 0, "something was printed to stdout during gs_report");

  /* summary.csv: the statistics */
  snprintf(path, sizeof path, "%s/report/summary.csv", dir);
  csv t;
  char *text;
  csv_read(path, &t, &text);
  cr_assert_eq(t.nrow, 5, "header + 4 groups, got %d lines", t.nrow);
  cr_assert_eq(t.ncol, 2 + 2 * 2 + 1, "columns: 2 axes, mean+std of 2 metrics, n");
  cr_assert_str_eq(t.cell[0][0], "model.name");
  cr_assert_str_eq(t.cell[0][1], "model.latent_dim");
  cr_assert_str_eq(t.cell[0][t.ncol - 1], "n");
  int cm = csv_col(&t, "test_neg_elbo_mean"), cs = csv_col(&t, "test_neg_elbo_std");
  int km = csv_col(&t, "test_kl_mean"), ks = csv_col(&t, "test_kl_std");
  cr_assert_eq(cs, cm + 1);
  int seen = 0;
  for (int r = 1; r < t.nrow; r++) {
    int cvae = strcmp(t.cell[r][0], "cvae") == 0;
    cr_assert(cvae || strcmp(t.cell[r][0], "vae") == 0, "bad model %s", t.cell[r][0]);
    long latent = atol(t.cell[r][1]);
    cr_assert(latent == 2 || latent == 10);
    seen |= 1 << (cvae * 2 + (latent == 10));
    double mean, std;
    int n;
    expect(v_elbo, cvae, latent, &mean, &std, &n);
    assert_close(strtod(t.cell[r][cm], NULL), mean, "test_neg_elbo mean");
    assert_close(strtod(t.cell[r][cs], NULL), std, "test_neg_elbo std");
    cr_assert_eq(atoi(t.cell[r][t.ncol - 1]), n, "n of %s/%ld", t.cell[r][0], latent);
    cr_assert_eq(n, !cvae && latent == 10 ? 2 : 3);
    expect(v_kl, cvae, latent, &mean, &std, &n);
    assert_close(strtod(t.cell[r][km], NULL), mean, "test_kl mean");
    assert_close(strtod(t.cell[r][ks], NULL), std, "test_kl std");
  }
  cr_assert_eq(seen, 15, "every group once");
  /* groups in the experiment's order */
  cr_assert_str_eq(t.cell[1][0], "vae");
  cr_assert_str_eq(t.cell[1][1], "2");
  cr_assert_str_eq(t.cell[4][0], "cvae");
  cr_assert_str_eq(t.cell[4][1], "10");
  free(text);

  /* summary.md */
  snprintf(path, sizeof path, "%s/report/summary.md", dir);
  char *md = slurp(path);
  cr_assert(strstr(md, "# Sweep report: synth"), "%s", md);
  cr_assert(strstr(md, "12 — 11 done, 1 failed, 0 pending"), "%s", md);
  cr_assert(strstr(md, "train.seed"), "%s", md);
  cr_assert(strstr(md, "| model.name | model.latent_dim |"), "%s", md);
  char cellbuf[128];
  double mean, std;
  int n;
  expect(v_elbo, 0, 2, &mean, &std, &n);
  gs_report_format_mean_std(mean, std, n, 0, cellbuf, sizeof cellbuf);
  cr_assert(strstr(cellbuf, " ± "), "%s", cellbuf);
  cr_assert(strstr(md, cellbuf), "md lacks the cell '%s':\n%s", cellbuf, md);
  cr_assert(strstr(md, FAILED_ID), "failed run not listed:\n%s", md);
  cr_assert(strstr(md, FAILED_MSG), "failure message not listed:\n%s", md);
  cr_assert(strstr(md, "![curves_test_neg_elbo.png](curves_test_neg_elbo.png)"), "%s", md);
  cr_assert_null(strstr(md, "Warnings"), "no warnings expected:\n%s", md);

  /* what was printed: the table and the files */
  cr_assert(strstr(printed, cellbuf), "%s", printed);
  cr_assert(strstr(printed, FAILED_ID), "%s", printed);
  cr_assert(strstr(printed, "summary.csv"), "%s", printed);
  cr_assert(strstr(printed, "test_neg_elbo_vs_model.latent_dim.png"), "%s", printed);
  free(md);
  free(printed);

  /* summary.tex */
  snprintf(path, sizeof path, "%s/report/summary.tex", dir);
  char *tex = slurp(path);
  cr_assert(strstr(tex, "\\begin{tabular}{lr"), "%s", tex);
  cr_assert(strstr(tex, "\\toprule"), "%s", tex);
  cr_assert(strstr(tex, "\\midrule"), "%s", tex);
  cr_assert(strstr(tex, "\\bottomrule"), "%s", tex);
  cr_assert(strstr(tex, "model.latent\\_dim"), "%s", tex);
  cr_assert(strstr(tex, "test\\_neg\\_elbo"), "%s", tex);
  gs_report_format_mean_std(mean, std, n, 1, cellbuf, sizeof cellbuf);
  cr_assert(strstr(tex, cellbuf), "tex lacks '%s':\n%s", cellbuf, tex);
  cr_assert(strstr(cellbuf, "\\pm"));
  free(tex);

  /* the plots */
  const char *pngs[] = {"curves_test_neg_elbo.png", "curves_train_loss.png", "test_neg_elbo_vs_model.latent_dim.png"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/report/%s", dir, pngs[i]);
    assert_png(path, 800, 600);
  }
  snprintf(path, sizeof path, "%s/report/curves_epoch.png", dir);
  cr_assert(!exists(path), "the epoch series is the x axis, not a curve");
  /* no temporary files left */
  snprintf(path, sizeof path, "%s/report/summary.md.tmp", dir);
  cr_assert(!exists(path));
  snprintf(path, sizeof path, "%s/report/curves_train_loss.png.tmp", dir);
  cr_assert(!exists(path));

  /* a report removes the plots an earlier report drew that it does not draw (here: a metric
   * plotted before), and leaves every other file in report/ alone, whatever its name */
  gs_report_options kl = {.metric = "test_kl"};
  char *printed1 = run_report(dir, &kl, &rc, &err);
  cr_assert_eq(rc, 0, "gs_report: %s", err.msg);
  free(printed1);
  snprintf(path, sizeof path, "%s/report/test_kl_vs_model.latent_dim.png", dir);
  assert_png(path, 800, 600);
  const char *planted[] = {"my_vs_figure.png", "curves_mine.png", "notes.txt"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/report/%s", dir, planted[i]);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("x", f);
    fclose(f);
  }
  gs_report_options again = {0};
  char *printed2 = run_report(dir, &again, &rc, &err);
  cr_assert_eq(rc, 0, "gs_report: %s", err.msg);
  snprintf(path, sizeof path, "%s/report/test_kl_vs_model.latent_dim.png", dir);
  cr_assert(!exists(path), "the earlier report's test_kl plot is still there");
  cr_assert(strstr(printed2, "removed ") && strstr(printed2, "test_kl_vs_model.latent_dim.png"), "%s", printed2);
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/report/%s", dir, planted[i]);
    cr_assert(exists(path), "%s is not the report's: it must stay", planted[i]);
  }
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/report/%s", dir, pngs[i]);
    assert_png(path, 800, 600);
  }
  free(printed2);

  gs_sweep_free(&sw);
  rm_rf(tmp);
}

Test(report, options_metric_and_x_axis) {
  char tmp[64], dir[128], path[512];
  make_tmpdir(tmp, sizeof tmp);
  snprintf(dir, sizeof dir, "%s/synth", tmp);
  gs_sweep sw;
  build_sweep(dir, grid_text(tmp), &sw);
  gs_error err = {0};
  int rc;

  /* another metric, x by its short name: no LaTeX unless asked */
  gs_report_options o1 = {.metric = "test_kl", .x_axis = "latent_dim"};
  char *p = run_report(dir, &o1, &rc, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  free(p);
  snprintf(path, sizeof path, "%s/report/test_kl_vs_model.latent_dim.png", dir);
  assert_png(path, 800, 600);
  snprintf(path, sizeof path, "%s/report/summary.tex", dir);
  cr_assert(!exists(path));

  /* a non-numeric x axis: categories */
  gs_report_options o2 = {.x_axis = "model.name"};
  p = run_report(dir, &o2, &rc, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  free(p);
  snprintf(path, sizeof path, "%s/report/test_neg_elbo_vs_model.name.png", dir);
  assert_png(path, 800, 600);

  /* errors name the option and list the choices */
  gs_report_options bad1 = {.metric = "fid"};
  p = run_report(dir, &bad1, &rc, &err);
  cr_assert_eq(rc, -1);
  cr_assert(strstr(err.msg, "fid") && strstr(err.msg, "test_neg_elbo") && strstr(err.msg, "test_kl"), "%s", err.msg);
  free(p);
  gs_report_options bad2 = {.x_axis = "model.lr"};
  p = run_report(dir, &bad2, &rc, &err);
  cr_assert_eq(rc, -1);
  cr_assert(strstr(err.msg, "model.lr") && strstr(err.msg, "model.latent_dim"), "%s", err.msg);
  free(p);
  gs_report_options bad3 = {.x_axis = "train.seed"};
  p = run_report(dir, &bad3, &rc, &err);
  cr_assert_eq(rc, -1);
  cr_assert(strstr(err.msg, "seed"), "%s", err.msg);
  free(p);

  /* tables only */
  rm_rf(dir);
  gs_sweep_free(&sw);
  build_sweep(dir, grid_text(tmp), &sw);
  gs_report_options o3 = {.no_plots = 1};
  p = run_report(dir, &o3, &rc, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  free(p);
  snprintf(path, sizeof path, "%s/report/summary.csv", dir);
  cr_assert(exists(path));
  snprintf(path, sizeof path, "%s/report/curves_train_loss.png", dir);
  cr_assert(!exists(path));

  gs_sweep_free(&sw);
  rm_rf(tmp);
}

Test(report, missing_sweep_file_is_an_error_naming_it) {
  char tmp[64];
  make_tmpdir(tmp, sizeof tmp);
  gs_error err = {0};
  int rc;
  char *p = run_report(tmp, NULL, &rc, &err);
  cr_assert_eq(rc, -1);
  char want[128];
  snprintf(want, sizeof want, "%s/sweep.h5", tmp);
  cr_assert(strstr(err.msg, want), "error does not name %s: %s", want, err.msg);
  free(p);

  /* not an HDF5 file */
  FILE *f = fopen(want, "wb");
  cr_assert_not_null(f);
  fputs("not hdf5 at all", f);
  fclose(f);
  p = run_report(tmp, NULL, &rc, &err);
  cr_assert_eq(rc, -1);
  cr_assert(strstr(err.msg, want), "%s", err.msg);
  free(p);
  rm_rf(tmp);
}

Test(report, unreadable_run_file_is_a_warning) {
  char tmp[64], dir[128], path[512];
  make_tmpdir(tmp, sizeof tmp);
  snprintf(dir, sizeof dir, "%s/synth", tmp);
  gs_sweep sw;
  build_sweep(dir, grid_text(tmp), &sw);
  const char *victim = "name-cvae_latent_dim-2_seed-2";
  snprintf(path, sizeof path, "%s/runs/%s.h5", dir, victim);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  fputs("\x89HDF\r\n\x1a\n truncated", f);
  fclose(f);
  gs_error err = {0};
  int rc;
  char *p = run_report(dir, NULL, &rc, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  cr_assert(strstr(p, "Warnings") && strstr(p, victim), "%s", p);
  free(p);
  snprintf(path, sizeof path, "%s/report/summary.md", dir);
  char *md = slurp(path);
  cr_assert(strstr(md, "## Warnings"), "%s", md);
  cr_assert(strstr(md, victim), "%s", md);
  free(md);
  /* its final metrics still count (they come from sweep.h5) */
  snprintf(path, sizeof path, "%s/report/summary.csv", dir);
  char *csvt = slurp(path);
  cr_assert(strstr(csvt, "\ncvae,2,"), "%s", csvt);
  char *row = strstr(csvt, "\ncvae,2,");
  char *eol = strchr(row + 1, '\n');
  cr_assert(eol && eol[-1] == '3' && eol[-2] == ',', "n = 3 expected: %.*s", (int)(eol - row), row);
  free(csvt);
  snprintf(path, sizeof path, "%s/report/curves_test_neg_elbo.png", dir);
  assert_png(path, 800, 600);
  gs_sweep_free(&sw);
  rm_rf(tmp);
}

/* An axis like mu: 0 and values spanning several decades -> log x axis with 0 put aside. */
Test(report, log_axis_with_zero) {
  char tmp[64], dir[128], path[512], text[1024];
  make_tmpdir(tmp, sizeof tmp);
  snprintf(dir, sizeof dir, "%s/mu", tmp);
  snprintf(text, sizeof text,
           "[sweep]\nname = mu\nresults = %s\n[grid]\nmodel.name = vae, cvae\n"
           "train.momentum = 0, 1e-7, 1e-6, 1e-5, 1e-4\n",
           tmp);
  gs_sweep sw;
  gs_error err = {0};
  snprintf(path, sizeof path, "%s/runs", dir);
  cr_assert_eq(gs_mkdirs(path, &err), 0, "%s", err.msg);
  cr_assert_eq(gs_sweep_load_text("mu.ini", gs_models_vocabulary(), text, &sw, &err), 0, "%s", err.msg);
  for (long i = 0; i < sw.nruns; i++) {
    const gs_run *run = &sw.runs[i];
    gs_record r;
    gs_record_init(&r, run->id, run->cfg.model, run->hash);
    GS_STRCPY(r.status, "done");
    double mu = run->cfg.momentum;
    double v = 90 + (mu > 0 ? log10(mu) : -8) + (strcmp(run->cfg.model, "cvae") == 0 ? 3 : 0);
    gs_record_push(&r, "epoch", 1);
    gs_record_push(&r, "test_neg_elbo", v);
    gs_record_scalar(&r, "test_neg_elbo", v);
    snprintf(path, sizeof path, "%s/runs/%s.h5", dir, run->id);
    cr_assert_eq(gs_runfile_write(path, &r, &run->cfg, &err), 0, "%s", err.msg);
    gs_record_free(&r);
  }
  cr_assert_eq(gs_sweepfile_write(dir, &sw, &err), 0, "%s", err.msg);
  int rc;
  char *p = run_report(dir, NULL, &rc, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  free(p);
  snprintf(path, sizeof path, "%s/report/test_neg_elbo_vs_train.momentum.png", dir);
  assert_png(path, 800, 600);
  snprintf(path, sizeof path, "%s/report/summary.md", dir);
  char *md = slurp(path);
  cr_assert(strstr(md, "log x axis") && strstr(md, "0 is drawn one decade below"), "%s", md);
  cr_assert(strstr(md, "no seed axis"), "%s", md);
  free(md);
  gs_sweep_free(&sw);
  rm_rf(tmp);
}

Test(report, formatting_and_helpers) {
  char b[128];
  gs_report_format_mean_std(245.312, 1.234, 3, 0, b, sizeof b);
  cr_assert_str_eq(b, "245.3 ± 1.2");
  gs_report_format_mean_std(245.312, 0.0456, 3, 0, b, sizeof b);
  cr_assert_str_eq(b, "245.312 ± 0.046");
  gs_report_format_mean_std(16562.3, 234.4, 3, 0, b, sizeof b);
  cr_assert_str_eq(b, "16562 ± 234");
  gs_report_format_mean_std(245.312, 0, 1, 0, b, sizeof b);
  cr_assert_str_eq(b, "245.3");
  gs_report_format_mean_std(NAN, NAN, 0, 0, b, sizeof b);
  cr_assert_str_eq(b, "—");
  gs_report_format_mean_std(1.234e-5, 2.1e-7, 3, 0, b, sizeof b);
  cr_assert_str_eq(b, "1.234e-05 ± 2.1e-07");
  gs_report_format_mean_std(245.312, 1.234, 3, 1, b, sizeof b);
  cr_assert_str_eq(b, "$245.3 \\pm 1.2$");
  gs_report_format_mean_std(1.234e-5, 2.1e-7, 2, 1, b, sizeof b);
  cr_assert_str_eq(b, "$1.234\\times10^{-5} \\pm 2.1\\times10^{-7}$");
  gs_report_format_mean_std(245.3, 0, 3, 0, b, sizeof b);
  cr_assert_str_eq(b, "245.3 ± 0.0");

  cr_assert(gs_report_is_seed_axis("train.seed"));
  cr_assert(gs_report_is_seed_axis("data.seed"));
  cr_assert(!gs_report_is_seed_axis("model.name"));
  cr_assert(!gs_report_is_seed_axis("train.seeds"));

  double mu[] = {0, 1e-7, 1e-6, 1e-5, 1e-4};
  cr_assert(gs_plot_want_logx(mu, 5));
  double ld[] = {2, 5, 10, 25, 35};
  cr_assert(!gs_plot_want_logx(ld, 5));
  double neg[] = {-1, 1, 1000};
  cr_assert(!gs_plot_want_logx(neg, 3));
  double one[] = {0, 1e-3};
  cr_assert(!gs_plot_want_logx(one, 2));
}

Test(report, plot_write_errors_name_the_file) {
  double x[] = {1, 2, 3}, y[] = {3, 1, 2};
  gs_plot_line l = {.label = "a #1", .n = 3, .x = x, .y = y};
  gs_plot p = {.title = "t", .xlabel = "x", .ylabel = "y", .nlines = 1, .lines = &l};
  gs_error err = {0};
  const char *bad = "/nonexistent_dir_gs/plot.png";
  cr_assert_eq(gs_plot_write(bad, &p, &err), -1);
  cr_assert(strstr(err.msg, bad), "%s", err.msg);
  /* a plot with no finite points is still an image (empty axes), not a crash */
  char tmp[64], path[128];
  make_tmpdir(tmp, sizeof tmp);
  double nan3[] = {NAN, NAN, NAN};
  gs_plot_line e = {.label = NULL, .n = 3, .x = x, .y = nan3};
  gs_plot q = {.title = "empty", .nlines = 1, .lines = &e, .width = 400, .height = 300};
  snprintf(path, sizeof path, "%s/empty.png", tmp);
  cr_assert_eq(gs_plot_write(path, &q, &err), 0, "%s", err.msg);
  uint8_t *pix = NULL;
  int w, h;
  cr_assert_eq(gs_png_read_gray(path, &pix, &w, &h, &err), 0, "%s", err.msg);
  cr_assert_eq(w, 400);
  cr_assert_eq(h, 300);
  free(pix);

  /* more labelled lines than the legend holds: capped, still drawn */
  enum { NL = 25, NP = 12 };
  static double ys[NL][NP];
  static char labs[NL][48];
  gs_plot_line many[NL];
  double xs[NP];
  for (int i = 0; i < NP; i++) xs[i] = i + 1;
  for (int k = 0; k < NL; k++) {
    for (int i = 0; i < NP; i++) ys[k][i] = 100.0 / (i + 1) + k;
    snprintf(labs[k], sizeof labs[k], "run-%d", k);
    many[k] = (gs_plot_line){.label = labs[k], .n = NP, .x = xs, .y = ys[k], .color = k};
  }
  gs_plot m = {.title = "many", .xlabel = "epoch", .ylabel = "loss", .nlines = NL, .lines = many};
  snprintf(path, sizeof path, "%s/many.png", tmp);
  cr_assert_eq(gs_plot_write(path, &m, &err), 0, "%s", err.msg);
  assert_png(path, 800, 600);
  rm_rf(tmp);
}

/* A sweep that has not run yet: every run pending, no metric columns. Tables, no plots. */
Test(report, all_pending) {
  char tmp[64], dir[128], path[512];
  make_tmpdir(tmp, sizeof tmp);
  snprintf(dir, sizeof dir, "%s/synth", tmp);
  gs_sweep sw;
  gs_error err = {0};
  snprintf(path, sizeof path, "%s/runs", dir);
  cr_assert_eq(gs_mkdirs(path, &err), 0, "%s", err.msg);
  cr_assert_eq(gs_sweep_load_text("synth.ini", gs_models_vocabulary(), grid_text(tmp), &sw, &err), 0, "%s", err.msg);
  cr_assert_eq(gs_sweepfile_write(dir, &sw, &err), 0, "%s", err.msg);
  int rc;
  char *p = run_report(dir, NULL, &rc, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  cr_assert(strstr(p, "0 done, 0 failed, 12 pending"), "%s", p);
  cr_assert(strstr(p, "## Pending (12)"), "%s", p);
  free(p);
  snprintf(path, sizeof path, "%s/report/summary.csv", dir);
  char *c = slurp(path);
  cr_assert_str_eq(c, "model.name,model.latent_dim,n\nvae,2,0\nvae,10,0\ncvae,2,0\ncvae,10,0\n");
  free(c);
  snprintf(path, sizeof path, "%s/report/curves_train_loss.png", dir);
  cr_assert(!exists(path));
  gs_sweep_free(&sw);
  rm_rf(tmp);
}

/* A sweep of rows cae and vae (models that read train.seed) x seeds 1 and 2, probing their
 * features, in a new temporary directory tmp (64 bytes): dir (128) = tmp/<name>, with runs/. */
static void probe_sweep(const char *name, char *tmp, char *dir, gs_sweep *sw) {
  char text[512], path[512];
  make_tmpdir(tmp, 64);
  snprintf(dir, 128, "%s/%s", tmp, name);
  snprintf(text, sizeof text,
           "[sweep]\nname = %s\nresults = %s\n[probe]\nfeatures = model\n[grid]\nmodel.name = cae, vae\n"
           "train.seed = 1, 2\n", name, tmp);
  gs_error err = {0};
  snprintf(path, sizeof path, "%s/runs", dir);
  cr_assert_eq(gs_mkdirs(path, &err), 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s.ini", name);
  cr_assert_eq(gs_sweep_load_text(path, gs_models_vocabulary(), text, sw, &err), 0, "%s", err.msg);
}

/* The linear-probe tables, hand-worked: two rows (cae, vae: models that read train.seed) of two
 * seeds each. Row cae, svm, 100 labels: run means 0.60 and 0.70 over their subsets, stds 0.02
 * and 0.04, so the pooled std over all subsets of both runs is sqrt((0.02² + 0.04²)/2 + (0.05² + 0.05²)/2) =
 * sqrt(0.0035) = 5.92 %; apart, over the subsets (0.02 + 0.04)/2 = 3 % and over the seeds
 * sqrt((0.05² + 0.05²)/2) = 5 %. `all`: 0.80 and 0.84, one fit each: 82.00 ± 2.00 (ddof 0), all
 * of it over the seeds. No --latex: probes.tex all the same, summary.tex not. */
Test(report, probe_tables_pool_subsets_and_seeds) {
  char tmp[64], dir[128], path[512];
  gs_sweep sw;
  probe_sweep("probes", tmp, dir, &sw);
  gs_error err = {0};
  const double m100[4] = {0.60, 0.70, 0.50, 0.50}, s100[4] = {0.02, 0.04, 0.01, 0.01}, mall[4] = {0.80, 0.84, 0.7, 0.7};
  for (long i = 0; i < sw.nruns; i++) {
    const gs_run *run = &sw.runs[i];
    gs_record r;
    gs_record_init(&r, run->id, run->cfg.model, run->hash);
    GS_STRCPY(r.status, "done");
    int k = (strcmp(run->cfg.model, "vae") == 0) * 2 + (int)(run->cfg.seed - 1);
    gs_record_scalar(&r, "probe_svm_all", mall[k]);
    gs_record_scalar(&r, "probe_svm_all_std", 0.0);
    gs_record_scalar(&r, "probe_svm_100", m100[k]);
    gs_record_scalar(&r, "probe_svm_100_std", s100[k]);
    gs_record_scalar(&r, "probe_all_labels", 60000);
    snprintf(path, sizeof path, "%s/runs/%s.h5", dir, run->id);
    cr_assert_eq(gs_runfile_write(path, &r, &run->cfg, &err), 0, "%s", err.msg);
    gs_record_free(&r);
  }
  cr_assert_eq(gs_sweepfile_write(dir, &sw, &err), 0, "%s", err.msg);
  gs_report_options opt = {0};
  int rc;
  char *printed = run_report(dir, &opt, &rc, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  cr_assert(strstr(printed, "/report/probes.tex\n"), "%s", printed);
  free(printed);
  snprintf(path, sizeof path, "%s/report/summary.md", dir);
  char *md = slurp(path);
  cr_assert(strstr(md, "## Linear probes"), "%s", md);
  cr_assert(strstr(md, "| name=cae | 82.00 ± 2.00 | 65.00 ± 5.92 | 2 |"), "%s", md);
  cr_assert(strstr(md, "| name=vae | 70.00 ± 0.00 | 50.00 ± 1.00 | 2 |"), "%s", md);
  cr_assert(strstr(md, "subset repeats and model seeds together"), "the ± is said to be pooled:\n%s", md);
  cr_assert(strstr(md, "`accuracy_std_subsets_pct`") && strstr(md, "`accuracy_std_seeds_pct`"),
            "the note names the CSV's two spreads:\n%s", md);
  cr_assert_null(strstr(md, "logistic regression"), "no lr metrics, no lr table");
  free(md);
  snprintf(path, sizeof path, "%s/report/probes.csv", dir);
  char *csvt = slurp(path);
  cr_assert(!strncmp(csvt, "row,classifier,budget,labels,accuracy_mean_pct,accuracy_std_pct,accuracy_std_subsets_pct,"
                           "accuracy_std_seeds_pct,runs\n", strlen("row,classifier,budget,labels,accuracy_mean_pct,"
                           "accuracy_std_pct,accuracy_std_subsets_pct,accuracy_std_seeds_pct,runs\n")), "%s", csvt);
  /* "name=cae",svm,<budget>,<labels>,mean,pooled std,std over subsets,std over seeds,runs */
  const struct {
    const char *pre;
    double mean, std, subsets, seeds;
  } want[] = {{"\"name=cae\",svm,100,100,", 65.0, 100 * sqrt(0.0035), 3.0, 5.0},
              {"\"name=cae\",svm,all,60000,", 82.0, 2.0, 0.0, 2.0},
              {"\"name=vae\",svm,100,100,", 50.0, 1.0, 1.0, 0.0}};
  for (int i = 0; i < 3; i++) {
    const char *row = strstr(csvt, want[i].pre);
    cr_assert_not_null(row, "no line %s in\n%s", want[i].pre, csvt);
    double mu, sd, sub, seeds;
    int n;
    cr_assert_eq(sscanf(row + strlen(want[i].pre), "%lf,%lf,%lf,%lf,%d", &mu, &sd, &sub, &seeds, &n), 5, "%s", row);
    assert_close(mu, want[i].mean, "mean");
    assert_close(sd, want[i].std, "pooled std");
    assert_close(sub, want[i].subsets, "std over subsets");
    assert_close(seeds, want[i].seeds, "std over seeds");
    cr_assert_eq(n, 2);
  }
  free(csvt);
  snprintf(path, sizeof path, "%s/report/probes.tex", dir);
  char *tex = slurp(path);
  cr_assert(strstr(tex, "name=cae & $82.00 \\pm 2.00$ & $65.00 \\pm 5.92$"), "%s", tex);
  free(tex);
  snprintf(path, sizeof path, "%s/report/summary.tex", dir);
  cr_assert(!exists(path), "no --latex, no summary.tex");
  snprintf(path, sizeof path, "%s/report/probe_svm_vs_labels.png", dir);
  assert_png(path, 800, 600);
  gs_sweep_free(&sw);
  rm_rf(tmp);
}

/* The AC-GAN class-head table pivoted by gan.labelled, hand-worked: rows class_weight 1 and 3,
 * columns all / 1000 / 100, two seeds a cell. class_weight 1, 1000 labels: 0.30 and 0.34, so
 * 32.00 ± 2.00 (ddof 0); class_weight 3 at 100 labels has one run done (the other never ran). */
Test(report, class_head_table_pivots_by_labelled) {
  char tmp[64], dir[128], path[512];
  make_tmpdir(tmp, sizeof tmp);
  snprintf(dir, sizeof dir, "%s/heads", tmp);
  char text[512];
  snprintf(text, sizeof text,
           "[sweep]\nname = heads\nresults = %s\n[model]\nname = dcgan1\n[gan]\nconditioning = acgan\n"
           "[probe]\nfeatures = class_head\n[grid]\ngan.labelled = 100, 1000, 0\ngan.class_weight = 1, 3\n"
           "train.seed = 1, 2\n", tmp);
  gs_sweep sw;
  gs_error err = {0};
  snprintf(path, sizeof path, "%s/runs", dir);
  cr_assert_eq(gs_mkdirs(path, &err), 0, "%s", err.msg);
  cr_assert_eq(gs_sweep_load_text("heads.ini", gs_models_vocabulary(), text, &sw, &err), 0, "%s", err.msg);
  cr_assert_eq(sw.nruns, 12);
  /* [labelled 100, 1000, all][class_weight 1, 3][seed 1, 2] */
  const double acc[3][2][2] = {{{0.13, 0.13}, {0.10, NAN}}, {{0.30, 0.34}, {0.40, 0.46}}, {{0.88, 0.90}, {0.885, 0.885}}};
  for (long i = 0; i < sw.nruns; i++) {
    const gs_run *run = &sw.runs[i];
    double a = acc[i / 4][i / 2 % 2][i % 2]; /* the first axis varies slowest */
    if (isnan(a)) continue; /* never ran */
    gs_record r;
    gs_record_init(&r, run->id, run->cfg.model, run->hash);
    GS_STRCPY(r.status, "done");
    gs_record_scalar(&r, "probe_class_head", a);
    snprintf(path, sizeof path, "%s/runs/%s.h5", dir, run->id);
    cr_assert_eq(gs_runfile_write(path, &r, &run->cfg, &err), 0, "%s", err.msg);
    gs_record_free(&r);
  }
  cr_assert_eq(gs_sweepfile_write(dir, &sw, &err), 0, "%s", err.msg);
  gs_report_options opt = {.no_plots = 1};
  int rc;
  char *printed = run_report(dir, &opt, &rc, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  free(printed);
  snprintf(path, sizeof path, "%s/report/summary.md", dir);
  char *md = slurp(path);
  cr_assert(strstr(md, "| row | all | 1000 | 100 | runs |"), "%s", md);
  cr_assert(strstr(md, "| class_weight=1 | 89.00 ± 1.00 | 32.00 ± 2.00 | 13.00 ± 0.00 | 2 |"), "%s", md);
  cr_assert(strstr(md, "| class_weight=3 | 88.50 ± 0.00 | 43.00 ± 3.00 | 10.00 ± 0.00 | 1–2 |"), "%s", md);
  cr_assert(strstr(md, "class_head.csv and class_head.tex"), "%s", md);
  free(md);

  /* the same table in class_head.csv (a line per cell: row, gan.labelled, mean, std, runs) */
  snprintf(path, sizeof path, "%s/report/class_head.csv", dir);
  char *csvt = slurp(path);
  const char *head = "row,gan.labelled,accuracy_mean_pct,accuracy_std_pct,runs\n";
  cr_assert(!strncmp(csvt, head, strlen(head)), "%s", csvt);
  int lines = 0;
  for (const char *p = csvt; *p; p++) lines += *p == '\n';
  cr_assert_eq(lines, 1 + 2 * 3, "header and 2 rows x 3 columns:\n%s", csvt);
  const struct {
    const char *pre;
    double mean, std;
    int runs;
  } want[] = {{"\"class_weight=1\",all,", 89.0, 1.0, 2}, {"\"class_weight=1\",1000,", 32.0, 2.0, 2},
              {"\"class_weight=1\",100,", 13.0, 0.0, 2},  {"\"class_weight=3\",all,", 88.5, 0.0, 2},
              {"\"class_weight=3\",1000,", 43.0, 3.0, 2}, {"\"class_weight=3\",100,", 10.0, 0.0, 1}};
  for (int i = 0; i < 6; i++) {
    const char *row = strstr(csvt, want[i].pre);
    cr_assert_not_null(row, "no line %s in\n%s", want[i].pre, csvt);
    double mu, sd;
    int n;
    cr_assert_eq(sscanf(row + strlen(want[i].pre), "%lf,%lf,%d", &mu, &sd, &n), 3, "%s", row);
    cr_assert(fabs(mu - want[i].mean) < 1e-9 && fabs(sd - want[i].std) < 1e-9 && n == want[i].runs,
              "%s: %g %g %d", want[i].pre, mu, sd, n);
  }
  free(csvt);
  /* and class_head.tex, without --latex */
  snprintf(path, sizeof path, "%s/report/class_head.tex", dir);
  char *tex = slurp(path);
  cr_assert(strstr(tex, "\\begin{tabular}{lrrr}\n\\hline\nrow & all & 1000 & 100 \\\\\n"), "%s", tex);
  cr_assert(strstr(tex, "class\\_weight=1 & $89.00 \\pm 1.00$ & $32.00 \\pm 2.00$ & $13.00 \\pm 0.00$ \\\\\n"), "%s",
            tex);
  cr_assert(strstr(tex, "class\\_weight=3 & $88.50 \\pm 0.00$ & $43.00 \\pm 3.00$ & $10.00 \\pm 0.00$ \\\\\n"), "%s",
            tex);
  free(tex);
  /* no classifier fitted: no accuracy-by-budget LaTeX, no per-class figures */
  snprintf(path, sizeof path, "%s/report/probes.tex", dir);
  cr_assert(!exists(path));
  snprintf(path, sizeof path, "%s/report/probes_per_class.csv", dir);
  cr_assert(!exists(path));
  gs_sweep_free(&sw);
  rm_rf(tmp);
}

/* Per-class precision and recall at every budget, hand-worked: 3 classes, rows cae and vae of
 * two seeds each, svm at `all` (one fit a run) and 100 labels (two subsets a run, so 4 fits).
 * cae, all: precision of class 0 is 0.5 and 0.7, so 60 ± 10; class 2 is never predicted
 * (NaN in both fits): "—". cae, 100: class 0's precisions 0.4, 0.2, 0.6, 0.4 give 40 ± 14.14
 * (sqrt(0.08 / 4)); class 1 is defined in 2 of the 4 fits (0.6, 0.8: 70 ± 10), class 2 in 3
 * (0.9, 0.5, 0.7: 70 ± 16.33 = sqrt(0.08 / 3)); class 1's recalls 0.5, 0, 0.9, 0 give 35 ±
 * 37.75 (sqrt(0.57 / 4)), class 2's 0, 0.6, 0.2, 0.8 give 40 ± 31.62 (sqrt(0.4 / 4)). vae: class 2 has no recall in 2 of its 4 fits at 100 (the rest 0.1)
 * and none at all. With --no-plots: the tables come all the same. */
Test(report, per_class_every_budget_undefined_left_out) {
  char tmp[64], dir[128], path[512];
  gs_sweep sw;
  probe_sweep("perclass", tmp, dir, &sw);
  gs_error err = {0};
  /* [cae seed 1, cae seed 2, vae seed 1, vae seed 2][precision, recall]: `all` 1 x 3, 100 2 x 3 */
  const double all[4][2][3] = {{{0.5, 1.0, NAN}, {1.0, 0.5, 0.0}},
                               {{0.7, 0.8, NAN}, {0.9, 0.7, 0.0}},
                               {{0.5, 0.5, 0.5}, {0.5, 0.5, NAN}},
                               {{0.5, 0.5, 0.5}, {0.5, 0.5, NAN}}};
  const double b100[4][2][6] = {{{0.4, 0.6, NAN, 0.2, NAN, 0.9}, {0.5, 0.5, 0.0, 0.3, 0.0, 0.6}},
                                {{0.6, 0.8, 0.5, 0.4, NAN, 0.7}, {0.7, 0.9, 0.2, 0.5, 0.0, 0.8}},
                                {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, {0.5, 0.5, NAN, 0.5, 0.5, 0.1}},
                                {{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, {0.5, 0.5, NAN, 0.5, 0.5, 0.1}}};
  for (long i = 0; i < sw.nruns; i++) {
    const gs_run *run = &sw.runs[i];
    gs_record r;
    gs_record_init(&r, run->id, run->cfg.model, run->hash);
    GS_STRCPY(r.status, "done");
    int k = (strcmp(run->cfg.model, "vae") == 0) * 2 + (int)(run->cfg.seed - 1);
    gs_record_scalar(&r, "probe_svm_all", 0.8);
    gs_record_scalar(&r, "probe_svm_all_std", 0.0);
    gs_record_scalar(&r, "probe_svm_100", 0.5);
    gs_record_scalar(&r, "probe_svm_100_std", 0.01);
    long s1[2] = {1, 3}, s2[2] = {2, 3};
    gs_record_array(&r, "probe/model/svm/all/precision", 2, s1, all[k][0]);
    gs_record_array(&r, "probe/model/svm/all/recall", 2, s1, all[k][1]);
    gs_record_array(&r, "probe/model/svm/100/precision", 2, s2, b100[k][0]);
    gs_record_array(&r, "probe/model/svm/100/recall", 2, s2, b100[k][1]);
    snprintf(path, sizeof path, "%s/runs/%s.h5", dir, run->id);
    cr_assert_eq(gs_runfile_write(path, &r, &run->cfg, &err), 0, "%s", err.msg);
    gs_record_free(&r);
  }
  cr_assert_eq(gs_sweepfile_write(dir, &sw, &err), 0, "%s", err.msg);
  gs_report_options opt = {.no_plots = 1};
  int rc;
  char *printed = run_report(dir, &opt, &rc, &err);
  cr_assert_eq(rc, 0, "%s", err.msg);
  free(printed);

  snprintf(path, sizeof path, "%s/report/summary.md", dir);
  char *md = slurp(path);
  const char *all_head = "### Per class, all labels: linear SVM", *b100_head = "### Per class, 100 labels: linear SVM";
  char *at_all = strstr(md, all_head), *at_100 = strstr(md, b100_head);
  cr_assert(at_all && at_100 && at_all < at_100, "a table per budget, all first:\n%s", md);
  *at_100 = 0; /* the `all` table and its notes, then the 100 one */
  cr_assert(strstr(at_all, "| row | 0 | 1 | 2 |"), "%s", at_all);
  cr_assert(strstr(at_all, "| name=cae | 60 / 95 | 90 / 60 | — / 0 |\n"), "%s", at_all);
  cr_assert(strstr(at_all, "| name=vae | 50 / 50 | 50 / 50 | 50 / — |\n"), "%s", at_all);
  cr_assert(strstr(at_all, "\n† name=cae: precision undefined (class never predicted) in 2 of 2 fits for class 2; "
                           "left out of the mean.\n"), "%s", at_all);
  cr_assert(strstr(at_all, "\n‡ name=vae: recall undefined (class not in the test set) in 2 of 2 fits for class 2; "
                           "left out of the mean.\n"), "%s", at_all);
  cr_assert_null(strstr(at_all, "nan"), "%s", at_all);
  char *t100 = at_100 + 1;
  *at_100 = '#';
  cr_assert(strstr(t100, "| name=cae | 40 / 50 | 70† / 35 | 70† / 40 |\n"), "%s", t100);
  cr_assert(strstr(t100, "| name=vae | 50 / 50 | 50 / 50 | 50 / 10‡ |\n"), "%s", t100);
  cr_assert(strstr(t100, "\n† name=cae: precision undefined (class never predicted) in 2 of 4 fits for class 1, "
                         "1 of 4 fits for class 2; left out of the mean.\n"), "%s", t100);
  cr_assert(strstr(t100, "\n‡ name=vae: recall undefined (class not in the test set) in 2 of 4 fits for class 2; "
                         "left out of the mean.\n"), "%s", t100);
  cr_assert_null(strstr(t100, "nan"), "%s", t100);
  free(md);

  /* probes_per_class.csv: a line per (row, classifier, budget, class), std over the same fits */
  snprintf(path, sizeof path, "%s/report/probes_per_class.csv", dir);
  char *csvt = slurp(path);
  const char *head = "row,source,classifier,budget,class,precision_mean_pct,precision_std_pct,precision_undefined,"
                     "recall_mean_pct,recall_std_pct,recall_undefined,fits,runs\n";
  cr_assert(!strncmp(csvt, head, strlen(head)), "%s", csvt);
  int lines = 0;
  for (const char *p = csvt; *p; p++) lines += *p == '\n';
  cr_assert_eq(lines, 1 + 2 * 2 * 3, "header, 2 rows x 2 budgets x 3 classes:\n%s", csvt);
  /* precision never defined: empty mean and std */
  cr_assert(strstr(csvt, "\n\"name=cae\",model,svm,all,2,,,2,0,0,0,2,2\n"), "%s", csvt);
  const struct {
    const char *pre;
    double pm, ps;
    int pu;
    double rm, rs;
    int ru, fits;
  } want[] = {{"\"name=cae\",model,svm,all,0,", 60, 10, 0, 95, 5, 0, 2},
              {"\"name=cae\",model,svm,100,0,", 40, 100 * sqrt(0.08 / 4), 0, 50, 100 * sqrt(0.08 / 4), 0, 4},
              {"\"name=cae\",model,svm,100,1,", 70, 10, 2, 35, 100 * sqrt(0.57 / 4), 0, 4},
              {"\"name=cae\",model,svm,100,2,", 70, 100 * sqrt(0.08 / 3), 1, 40, 100 * sqrt(0.4 / 4), 0, 4},
              {"\"name=vae\",model,svm,100,2,", 50, 0, 0, 10, 0, 2, 4}};
  for (int i = 0; i < 5; i++) {
    const char *row = strstr(csvt, want[i].pre);
    cr_assert_not_null(row, "no line %s in\n%s", want[i].pre, csvt);
    double pm, ps, rm, rs;
    int pu, ru, fits, runs;
    cr_assert_eq(sscanf(row + strlen(want[i].pre), "%lf,%lf,%d,%lf,%lf,%d,%d,%d", &pm, &ps, &pu, &rm, &rs, &ru,
                        &fits, &runs), 8, "%s", row);
    cr_assert(fabs(pm - want[i].pm) < 1e-9 && fabs(ps - want[i].ps) < 1e-9 && pu == want[i].pu, "%s: precision %g %g %d",
              want[i].pre, pm, ps, pu);
    cr_assert(fabs(rm - want[i].rm) < 1e-9 && fabs(rs - want[i].rs) < 1e-9 && ru == want[i].ru, "%s: recall %g %g %d",
              want[i].pre, rm, rs, ru);
    cr_assert(fits == want[i].fits && runs == 2, "%s: %d fits, %d runs", want[i].pre, fits, runs);
  }
  free(csvt);
  gs_sweep_free(&sw);
  rm_rf(tmp);
}
