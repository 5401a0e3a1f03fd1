/* gensweep report: aggregate a sweep's results into tables and plots. What it reads, computes
 * and writes, and the choices made (seed axes, log x axis with 0): include/gensweep/report/report.h.
 *
 * The final metrics come from sweep.h5's /grid (the sweep index the runner keeps up to date);
 * the run files are opened only for the per-epoch series of the curve plots. */
#define RP_MAX_EXTRA 8
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

/* ------------------------------------------------------------------ data */
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

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = gs_malloc((size_t)(n > 0 ? n : 0) + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
  va_end(ap);
  return s;
}

static void oom(void) {
  fprintf(stderr, "gensweep: out of memory\n");
  abort();
}

static void add_str(char ***list, int *n, char *s) {
  *list = gs_realloc(*list, sizeof(char *) * (size_t)(*n + 1));
  (*list)[(*n)++] = s;
}

static void warnf(rp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(rp *r, const char *fmt, ...) {
  char buf[1600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  add_str(&r->warn, &r->nwarn, gs_strdup(buf));
}

static void rp_free(rp *r) {
  for (long i = 0; i < r->nruns; i++) {
    rp_run *u = &r->runs[i];
    free(u->id);
    free(u->status);
    free(u->message);
    for (int a = 0; u->val && a < r->naxes; a++) free(u->val[a]);
    free(u->val);
    free(u->met);
    for (int s = 0; s < u->nser; s++) free(u->ser[s].v);
    free(u->ser);
  }
  free(r->runs);
  for (int g = 0; g < r->ngroups; g++) {
    free(r->groups[g].cnt);
    free(r->groups[g].mean);
    free(r->groups[g].std);
    free(r->groups[g].label);
  }
  free(r->groups);
  for (int a = 0; a < r->naxes; a++) {
    free(r->axis[a]);
    if (r->shortname) free(r->shortname[a]);
  }
  free(r->axis);
  free(r->shortname);
  free(r->seed);
  free(r->numeric);
  for (int m = 0; m < r->nmet; m++) free(r->met[m]);
  free(r->met);
  for (int i = 0; i < r->nwarn; i++) free(r->warn[i]);
  free(r->warn);
  for (int i = 0; i < r->nplots; i++) {
    free(r->plots[i]);
    free(r->plot_notes[i]);
  }
  free(r->plots);
  free(r->plot_notes);
  free(r->h5path);
}

int gs_report_is_seed_axis(const char *fullname) {
  size_t n = strlen(fullname);
  return n >= 4 && strcmp(fullname + n - 4, "seed") == 0;
}

static int parse_number(const char *s, double *v) {
  if (!s || !*s) return 0;
  char *end = NULL;
  errno = 0;
  double x = strtod(s, &end);
  if (end == s || *end || errno == ERANGE || !isfinite(x)) return 0;
  if (v) *v = x;
  return 1;
}

/* ------------------------------------------------------------------ reading sweep.h5 */
/* One member of the /grid compound, read on its own as strings (fixed or variable length). */
static int read_str_column(hid_t d, hid_t ftype, int memb, const char *name, long nrows, char **out) {
  hid_t mft = H5Tget_member_type(ftype, (unsigned)memb), st = -1, ct = -1;
  int rc = -1;
  if (mft < 0) return -1;
  htri_t vl = H5Tis_variable_str(mft);
  if (vl < 0) goto done;
  st = H5Tcopy(H5T_C_S1);
  if (st < 0 || H5Tset_cset(st, H5Tget_cset(mft)) < 0) goto done;
  if (vl) {
    if (H5Tset_size(st, H5T_VARIABLE) < 0) goto done;
    ct = H5Tcreate(H5T_COMPOUND, sizeof(char *));
    if (ct < 0 || H5Tinsert(ct, name, 0, st) < 0) goto done;
    char **buf = gs_calloc((size_t)(nrows ? nrows : 1), sizeof *buf);
    if (nrows && H5Dread(d, ct, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
      free(buf);
      goto done;
    }
    for (long i = 0; i < nrows; i++) {
      out[i] = gs_strdup(buf[i] ? buf[i] : "");
      if (buf[i]) H5free_memory(buf[i]);
    }
    free(buf);
  } else {
    size_t sz = H5Tget_size(mft) + 1;
    if (H5Tset_size(st, sz) < 0 || H5Tset_strpad(st, H5T_STR_NULLTERM) < 0) goto done;
    ct = H5Tcreate(H5T_COMPOUND, sz);
    if (ct < 0 || H5Tinsert(ct, name, 0, st) < 0) goto done;
    char *buf = gs_calloc((size_t)(nrows ? nrows : 1), sz);
    if (nrows && H5Dread(d, ct, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
      free(buf);
      goto done;
    }
    for (long i = 0; i < nrows; i++) {
      char *s = buf + (size_t)i * sz;
      s[sz - 1] = 0;
      for (size_t k = strlen(s); k > 0 && s[k - 1] == ' '; k--) s[k - 1] = 0; /* space-padded */
      out[i] = gs_strdup(s);
    }
    free(buf);
  }
  rc = 0;
done:
  gs_h5_close_id(&ct);
  gs_h5_close_id(&st);
  gs_h5_close_id(&mft);
  return rc;
}

static int read_num_column(hid_t d, const char *name, long nrows, double *out) {
  hid_t ct = H5Tcreate(H5T_COMPOUND, sizeof(double));
  int rc = -1;
  if (ct >= 0 && H5Tinsert(ct, name, 0, H5T_NATIVE_DOUBLE) >= 0 &&
      (nrows == 0 || H5Dread(d, ct, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0))
    rc = 0;
  gs_h5_close_id(&ct);
  return rc;
}

static int find_name(char **names, int n, const char *s) {
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], s) == 0) return i;
  return -1;
}

static int read_sweep(rp *r, gs_error *err) {
  const char *path = r->h5path;
  int rc = -1;
  hid_t f = -1, d = -1, ft = -1, sp = -1, a = -1, asp = -1;
  int nm = 0;
  char **mname = NULL;
  H5T_class_t *mcls = NULL;
  char **cols[3] = {NULL, NULL, NULL}; /* run_id, status, message */
  char ***axv = NULL;
  double **metv = NULL;

  f = gs_h5_open_readonly(path, err);
  if (f < 0) goto out;
  if (gs_h5_content_verify(f, path, "sweep index", gs_h5_sweep_groups, 1, gs_h5_sweep_datasets, 2, err) < 0) {
    char m[sizeof err->msg];
    GS_STRCPY(m, err->msg);
    gs_fail(err, "%s (run `gensweep rebuild %s` to rebuild it from the run files)", m, r->dir);
    goto out;
  }

  if (gs_h5_attr_read_str(f, "sweep_name", r->sweep_name, sizeof r->sweep_name) < 0 || !r->sweep_name[0]) {
    H5Eclear2(H5E_DEFAULT);
    const char *b = strrchr(r->dir, '/');
    GS_STRCPY(r->sweep_name, b && b[1] ? b + 1 : r->dir);
  }

  d = H5Dopen2(f, "grid", H5P_DEFAULT);
  if (d < 0) {
    gs_h5_fail(err, path, "no /grid table (not a gensweep sweep index?)");
    goto out;
  }
  ft = H5Dget_type(d);
  sp = H5Dget_space(d);
  if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_COMPOUND || H5Sget_simple_extent_ndims(sp) != 1) {
    gs_h5_fail(err, path, "/grid is not a 1-D compound table");
    goto out;
  }
  hssize_t nrows = H5Sget_simple_extent_npoints(sp);
  nm = H5Tget_nmembers(ft);
  if (nrows < 0 || nm < 0) {
    gs_h5_fail(err, path, "cannot read the shape of /grid");
    goto out;
  }
  r->nruns = (long)nrows;
  mname = gs_calloc((size_t)nm + 1, sizeof *mname);
  mcls = gs_calloc((size_t)nm + 1, sizeof *mcls);
  for (int i = 0; i < nm; i++) {
    char *n = H5Tget_member_name(ft, (unsigned)i);
    if (!n) {
      gs_h5_fail(err, path, "cannot read the name of /grid column %d", i);
      goto out;
    }
    mname[i] = gs_strdup(n);
    H5free_memory(n);
    mcls[i] = H5Tget_member_class(ft, (unsigned)i);
  }

  /* the axes: root attribute `axes`, else every string column but run_id, status, message */
  a = H5Aexists(f, "axes") > 0 ? H5Aopen(f, "axes", H5P_DEFAULT) : -1;
  if (a >= 0) {
    asp = H5Aget_space(a);
    hssize_t na = asp >= 0 ? H5Sget_simple_extent_npoints(asp) : -1;
    enum { AXLEN = 256 };
    char *buf = na > 0 ? gs_calloc((size_t)na, AXLEN) : NULL;
    if (na < 0 || na > GS_MAX_AXES * 4 ||
        (na > 0 && gs_h5_attr_read_str_array(f, "axes", (hsize_t)na, buf, AXLEN) < 0)) {
      free(buf);
      gs_h5_fail(err, path, "root attribute 'axes' is not a list of axis names");
      goto out;
    }
    for (int i = 0; i < (int)na; i++) add_str(&r->axis, &r->naxes, gs_strdup(buf + (size_t)i * AXLEN));
    free(buf);
  } else {
    H5Eclear2(H5E_DEFAULT);
    for (int i = 0; i < nm; i++)
      if (mcls[i] == H5T_STRING && strcmp(mname[i], "run_id") && strcmp(mname[i], "status") &&
          strcmp(mname[i], "message"))
        add_str(&r->axis, &r->naxes, gs_strdup(mname[i]));
  }

  static const char *const fixed[3] = {"run_id", "status", "message"};
  for (int c = 0; c < 3; c++) {
    int i = find_name(mname, nm, fixed[c]);
    if (i < 0 || mcls[i] != H5T_STRING) {
      gs_fail(err, "%s: /grid has no string column '%s' (not a gensweep sweep index?)", path, fixed[c]);
      goto out;
    }
    cols[c] = gs_calloc((size_t)(nrows ? nrows : 1), sizeof(char *));
    if (read_str_column(d, ft, i, fixed[c], (long)nrows, cols[c]) < 0) {
      gs_h5_fail(err, path, "cannot read column '%s' of /grid", fixed[c]);
      goto out;
    }
  }
  axv = gs_calloc((size_t)r->naxes + 1, sizeof *axv);
  for (int x = 0; x < r->naxes; x++) {
    int i = find_name(mname, nm, r->axis[x]);
    if (i < 0 || mcls[i] != H5T_STRING) {
      gs_fail(err, "%s: axis '%s' (root attribute 'axes') has no string column in /grid", path, r->axis[x]);
      goto out;
    }
    axv[x] = gs_calloc((size_t)(nrows ? nrows : 1), sizeof(char *));
    if (read_str_column(d, ft, i, r->axis[x], (long)nrows, axv[x]) < 0) {
      gs_h5_fail(err, path, "cannot read column '%s' of /grid", r->axis[x]);
      goto out;
    }
  }
  /* final metrics: the numeric columns, but the run's wall time */
  for (int i = 0; i < nm; i++)
    if ((mcls[i] == H5T_FLOAT || mcls[i] == H5T_INTEGER) && strcmp(mname[i], "seconds"))
      add_str(&r->met, &r->nmet, gs_strdup(mname[i]));
  metv = gs_calloc((size_t)r->nmet + 1, sizeof *metv);
  for (int m = 0; m < r->nmet; m++) {
    metv[m] = gs_malloc(sizeof(double) * (size_t)(nrows ? nrows : 1));
    if (read_num_column(d, r->met[m], (long)nrows, metv[m]) < 0) {
      gs_h5_fail(err, path, "cannot read column '%s' of /grid", r->met[m]);
      goto out;
    }
  }

  r->runs = gs_calloc((size_t)(nrows ? nrows : 1), sizeof *r->runs);
  for (long i = 0; i < (long)nrows; i++) {
    rp_run *u = &r->runs[i];
    u->id = cols[0][i];
    u->status = cols[1][i];
    u->message = cols[2][i];
    cols[0][i] = cols[1][i] = cols[2][i] = NULL;
    u->done = strcmp(u->status, "done") == 0;
    u->val = gs_calloc((size_t)r->naxes + 1, sizeof(char *));
    for (int x = 0; x < r->naxes; x++) {
      u->val[x] = axv[x][i];
      axv[x][i] = NULL;
    }
    u->met = gs_malloc(sizeof(double) * (size_t)(r->nmet + 1));
    for (int m = 0; m < r->nmet; m++) u->met[m] = metv[m][i];
  }
  rc = 0;
out:
  for (int c = 0; c < 3; c++) {
    for (long i = 0; cols[c] && i < r->nruns; i++) free(cols[c][i]);
    free(cols[c]);
  }
  for (int x = 0; axv && x < r->naxes; x++) {
    for (long i = 0; axv[x] && i < r->nruns; i++) free(axv[x][i]);
    free(axv[x]);
  }
  free(axv);
  for (int m = 0; metv && m < r->nmet; m++) free(metv[m]);
  free(metv);
  for (int i = 0; mname && i < nm; i++) free(mname[i]);
  free(mname);
  free(mcls);
  gs_h5_close_id(&asp);
  gs_h5_close_id(&a);
  gs_h5_close_id(&sp);
  gs_h5_close_id(&ft);
  gs_h5_close_id(&d);
  gs_h5_close_id(&f);
  if (rc != 0) r->nruns = 0; /* the runs were not built */
  return rc;
}

/* ------------------------------------------------------------------ reading run files */
static int read_run_series(const char *path, rp_run *u, gs_error *err) {
  hid_t f = gs_h5_open_readonly(path, err);
  if (f < 0) return -1;
  int rc = -1;
  hid_t g = -1;
  if (gs_runfile_verify(f, path, err) < 0) goto out;
  g = H5Gopen2(f, "metrics", H5P_DEFAULT);
  hsize_t n = 0;
  if (g < 0 || gs_h5_group_count(g, &n) < 0) {
    gs_h5_fail(err, path, "no readable /metrics group");
    goto out;
  }
  H5_index_t idx = gs_h5_group_index(g);
  u->ser = gs_calloc((size_t)n + 1, sizeof *u->ser);
  for (hsize_t i = 0; i < n; i++) {
    rp_series *s = &u->ser[u->nser];
    hsize_t dims[1] = {0}, np = 0;
    if (gs_h5_link_name(g, idx, i, s->name, sizeof s->name) < 0) {
      gs_h5_fail(err, path, "bad name of /metrics entry %llu", (unsigned long long)i);
      goto out;
    }
    hid_t d = gs_h5_dataset_open(g, s->name, 1, dims, &np);
    if (d < 0 || np > 100000000) {
      if (d >= 0) H5Dclose(d);
      gs_h5_fail(err, path, "cannot read /metrics/%s (want a 1-D numeric series)", s->name);
      goto out;
    }
    s->v = gs_malloc(sizeof(double) * (size_t)(np ? np : 1));
    s->n = (int)np;
    u->nser++;
    herr_t st = np ? H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->v) : 0;
    H5Dclose(d);
    if (st < 0) {
      gs_h5_fail(err, path, "cannot read /metrics/%s", s->name);
      goto out;
    }
  }
  if (gs_h5_attr_read_f64(f, "eval.eval_every", &u->eval_every) < 0) {
    H5Eclear2(H5E_DEFAULT);
    u->eval_every = 0;
  }
  rc = 0;
out:
  if (g >= 0) H5Gclose(g);
  H5Fclose(f);
  if (rc != 0) {
    for (int s = 0; s < u->nser; s++) free(u->ser[s].v);
    free(u->ser);
    u->ser = NULL;
    u->nser = 0;
  }
  return rc;
}

static const rp_series *run_series(const rp_run *u, const char *name) {
  for (int s = 0; s < u->nser; s++)
    if (strcmp(u->ser[s].name, name) == 0) return &u->ser[s];
  return NULL;
}

/* The epochs of the points of series s: the run's "epoch" series when as long; else the epochs
 * at which it evaluated (every eval.eval_every epochs, and the last); else 1, 2, ... */
static double *series_epochs(const rp_run *u, const rp_series *s) {
  double *x = gs_malloc(sizeof(double) * (size_t)(s->n ? s->n : 1));
  const rp_series *e = run_series(u, "epoch");
  if (e && e->n == s->n) {
    memcpy(x, e->v, sizeof(double) * (size_t)s->n);
    return x;
  }
  if (e && u->eval_every >= 1) {
    int k = 0;
    for (int i = 0; i < e->n; i++) {
      int take = i == e->n - 1 || fmod(e->v[i], u->eval_every) == 0;
      if (!take) continue;
      if (k == s->n) {
        k = -1;
        break;
      }
      x[k++] = e->v[i];
    }
    if (k == s->n) return x;
  }
  for (int i = 0; i < s->n; i++) x[i] = i + 1;
  return x;
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
      char *n = xasprintf("%s%s%s=%s", lab, lab[0] ? ", " : "", r->shortname[a], r->runs[G->rep].val[a]);
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
    row[c] = xasprintf("%d", G->ndone);
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

/* summary.md without (plots = 0) or with its Plots section */
static char *md_text(const rp *r, int plots, size_t *len) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) oom();
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
  if (!f) oom();
  int k = 0;
  for (int a = 0; a < r->naxes; a++)
    if (is_group_axis(r, a)) {
      if (k++) fputc(',', f);
      csv_field(f, r->axis[a]);
    }
  for (int m = 0; m < r->nmet; m++) {
    char *h = xasprintf("%s_mean", r->met[m]);
    if (k++) fputc(',', f);
    csv_field(f, h);
    free(h);
    h = xasprintf("%s_std", r->met[m]);
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
  if (!f) oom();
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

static int plot_out(rp *r, const char *file, const gs_plot *p, const char *note, gs_error *err) {
  char *path = xasprintf("%s/report/%s", r->dir, file);
  int rc = gs_plot_write(path, p, err);
  free(path);
  if (rc == 0) {
    add_str(&r->plots, &r->nplots, gs_strdup(file));
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
      if (strcmp(nm, "epoch") && find_name(names, nnames, nm) < 0) add_str(&names, &nnames, gs_strdup(nm));
    }
  /* the headline metric first, then train_loss, then the others as the run files list them */
  const char *first[2] = {r->headline >= 0 ? r->met[r->headline] : "", "train_loss"};
  for (int f = 1; f >= 0; f--) {
    int k = find_name(names, nnames, first[f]);
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
      if (r->runs[i].group == g && r->runs[i].nser > 0) gslot[g] = ng++;
  }
  for (long i = 0; i < r->nruns; i++) nrun += r->runs[i].nser > 0;
  int by_group = ng > 1;
  int rc = 0;
  for (int k = 0; k < nnames && rc == 0; k++) {
    gs_plot_line *lines = gs_calloc((size_t)nrun + 1, sizeof *lines);
    double **xs = gs_calloc((size_t)nrun + 1, sizeof *xs);
    int nl = 0, run_slot = 0;
    int *labelled = gs_calloc((size_t)r->ngroups + 1, sizeof *labelled);
    for (long i = 0; i < r->nruns; i++) {
      const rp_run *u = &r->runs[i];
      if (u->nser == 0) continue;
      int slot = run_slot++;
      const rp_series *s = run_series(u, names[k]);
      if (!s || s->n == 0) continue;
      gs_plot_line *L = &lines[nl];
      xs[nl] = series_epochs(u, s);
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
      char *title = xasprintf("%s: %s per epoch", r->sweep_name, names[k]);
      char *sn = safe_name(names[k]);
      char *file = xasprintf("curves_%s.png", sn);
      gs_plot p = {.title = title, .xlabel = "epoch", .ylabel = names[k], .xscale = GS_XSCALE_LINEAR,
                   .nlines = nl, .lines = lines};
      char *note = xasprintf("%s per epoch, one line per done run%s.", names[k],
                             by_group ? ", coloured by row of the table" : "");
      rc = plot_out(r, file, &p, note, err);
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
      if (find_name(cats, ncat, r->runs[i].val[xa]) < 0) add_str(&cats, &ncat, gs_strdup(r->runs[i].val[xa]));
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
      if (numeric) parse_number(xv, &x);
      else x = find_name(cats, ncat, xv);
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
        char *t = xasprintf("%s%s%s=%s", lab, lab[0] ? ", " : "", r->shortname[a], u->val[a]);
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
    warnf(r, "no done run has a value of %s: no %s-vs-%s plot", r->met[m], r->met[m], r->axis[xa]);
  } else {
    gs_xscale sc = !numeric ? GS_XSCALE_CATEGORY : gs_plot_want_logx(allx, nall) ? GS_XSCALE_LOG : GS_XSCALE_LINEAR;
    int nseed = 0;
    for (int a = 0; a < r->naxes; a++) nseed += r->seed[a];
    char *title = xasprintf("%s: %s vs %s", r->sweep_name, r->met[m], r->axis[xa]);
    char *ylab = nseed ? xasprintf("%s (mean ± std over seeds)", r->met[m]) : gs_strdup(r->met[m]);
    char *xlab = xasprintf("%s%s", r->axis[xa], sc == GS_XSCALE_LOG ? " (log scale)" : "");
    char *s1 = safe_name(r->met[m]), *s2 = safe_name(r->axis[xa]);
    char *file = xasprintf("%s_vs_%s.png", s1, s2);
    int has_zero = 0;
    for (int i = 0; i < nall; i++) has_zero |= allx[i] == 0;
    char *note = xasprintf("%s against %s%s%s: %s%s.", r->met[m], r->axis[xa],
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
    rc = plot_out(r, file, &p, note, err);
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
    char *t = xasprintf("%s%s%s", s, s[0] ? ", " : "", names[i]);
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
      int hit = find_name(r->met, r->nmet, tok);
      if (hit < 0) {
        char *alt = xasprintf("final.%s", tok);
        hit = find_name(r->met, r->nmet, alt);
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
    r->headline = find_name(r->met, r->nmet, "test_neg_elbo");
    if (r->headline < 0) { /* the CAE + IGMN study: sigmasq, then the mixture's figures */
      r->headline = find_name(r->met, r->nmet, "sigmasq");
      /* after retraining (what mu changes; equal to the pass's when mu does not bite), then the
       * pass's own figures, and the reconstruction */
      const char *more[] = {"sigmasq_ratio", "collapsed", "igmn_final_K", "igmn_final_purity",
                            "igmn_final_judge_share", "igmn_pass_K", "igmn_pass_purity", "test_bce"};
      for (int i = 0; r->headline >= 0 && i < 8; i++) {
        int hit = find_name(r->met, r->nmet, more[i]);
        if (hit >= 0 && r->nextra < RP_MAX_EXTRA) r->extra[r->nextra++] = hit;
      }
    }
    if (r->headline < 0 && r->nmet > 0) r->headline = 0;
  }
  /* x axis */
  r->xaxis = -1;
  if (opt->x_axis && opt->x_axis[0]) {
    int hit = find_name(r->axis, r->naxes, opt->x_axis), nshort = 0;
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
    for (long i = 0; i < r->nruns && num; i++) num = parse_number(r->runs[i].val[a], NULL);
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
    if (!u->done) continue;
    char *path = xasprintf("%s/runs/%s.h5", r->dir, u->id);
    gs_error e = {0};
    if (read_run_series(path, u, &e) != 0)
      warnf(r, "run %s: %s; its curves are left out (its final metrics come from sweep.h5)", u->id, e.msg);
    free(path);
  }
}

/* Plots an earlier report drew (another --metric, a metric no longer recorded) would sit next to
 * this report's and look current. Every report lists the plots it drew in report/.plots; the
 * ones the previous list names that this report did not draw are removed. Files gensweep did not
 * draw are never touched. */
static void remove_stale_plots(rp *r, const char *rdir, FILE *out) {
  char *list = xasprintf("%s/.plots", rdir);
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
      char *p = xasprintf("%s/%s", rdir, line);
      if (unlink(p) == 0 && out) fprintf(out, "removed %s (an earlier report's plot that this one does not draw)\n", p);
      free(p);
    }
    fclose(f);
  }
  char *text = NULL;
  size_t n = 0;
  FILE *m = open_memstream(&text, &n);
  if (!m) oom();
  for (int i = 0; i < r->nplots; i++) fprintf(m, "%s\n", r->plots[i]);
  fclose(m);
  gs_error e = {0};
  if (gs_atomic_write(list, text, n, &e) != 0) warnf(r, "%s", e.msg);
  free(text);
  free(list);
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
  r.h5path = xasprintf("%s/sweep.h5", d);
  int rc = -1;
  char *mdpath = xasprintf("%s/report/summary.md", d), *csvpath = xasprintf("%s/report/summary.csv", d);
  char *texpath = xasprintf("%s/report/summary.tex", d), *rdir = xasprintf("%s/report", d);
  char *md = NULL, *mdt = NULL, *csv = NULL, *tex = NULL;
  size_t mdn = 0, mdtn = 0, csvn = 0, texn = 0;

  gs_h5_quiet q;
  gs_h5_quiet_begin(&q);
  int rd = read_sweep(&r, err);
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
    } else if (r.headline < 0) warnf(&r, "no final metrics in %s: no metric-vs-axis plot", r.h5path);
    else warnf(&r, "no non-seed axis to plot %s against", r.met[r.headline]);
    if (plot_rc == 0) plot_rc = plot_curves(&r, &plot_err);
    if (plot_rc != 0) warnf(&r, "plotting stopped: %s", plot_err.msg);
  } else {
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
