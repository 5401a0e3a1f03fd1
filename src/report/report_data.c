/* gensweep report: reading sweep.h5 and the run files into the report's tables (report_data.h). */
#include "report_data.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "gensweep/io/h5util.h"

char *rp_asprintf(const char *fmt, ...) {
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

void rp_oom(void) {
  fprintf(stderr, "gensweep: out of memory\n");
  abort();
}

void rp_add_str(char ***list, int *n, char *s) {
  *list = gs_realloc(*list, sizeof(char *) * (size_t)(*n + 1));
  (*list)[(*n)++] = s;
}

void rp_warn(rp *r, const char *fmt, ...) {
  char buf[1600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  rp_add_str(&r->warn, &r->nwarn, gs_strdup(buf));
}

void rp_free(rp *r) {
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

int rp_parse_number(const char *s, double *v) {
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

int rp_find_name(char **names, int n, const char *s) {
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], s) == 0) return i;
  return -1;
}

int rp_read_sweep(rp *r, gs_error *err) {
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

  if (H5Aexists(f, "scheduler") > 0) {
    if (gs_h5_attr_read_str(f, "scheduler", r->scheduler, sizeof r->scheduler) < 0 ||
        gs_h5_attr_read_str(f, "scheduler_metric", r->sched_metric, sizeof r->sched_metric) < 0 ||
        gs_h5_attr_read_str(f, "scheduler_mode", r->sched_mode, sizeof r->sched_mode) < 0)
      r->scheduler[0] = 0;
    H5Eclear2(H5E_DEFAULT);
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
    for (int i = 0; i < (int)na; i++) rp_add_str(&r->axis, &r->naxes, gs_strdup(buf + (size_t)i * AXLEN));
    free(buf);
  } else {
    H5Eclear2(H5E_DEFAULT);
    for (int i = 0; i < nm; i++)
      if (mcls[i] == H5T_STRING && strcmp(mname[i], "run_id") && strcmp(mname[i], "status") &&
          strcmp(mname[i], "message"))
        rp_add_str(&r->axis, &r->naxes, gs_strdup(mname[i]));
  }

  static const char *const fixed[3] = {"run_id", "status", "message"};
  for (int c = 0; c < 3; c++) {
    int i = rp_find_name(mname, nm, fixed[c]);
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
    int i = rp_find_name(mname, nm, r->axis[x]);
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
      rp_add_str(&r->met, &r->nmet, gs_strdup(mname[i]));
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
    u->stopped = strcmp(u->status, "stopped") == 0;
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
/* The probes' per-class precision and recall, at every budget: kept whole (a row per repeat, a
 * value per class; NaN where undefined) as series probe/<source>/<clf>/<budget>/<precision|recall>.
 * What is missing or unreadable is left out. */
static void read_probe_arrays(hid_t f, rp_run *u) {
  static const char *const srcs[] = {"model", "untrained", "pooled", "untrained_pooled", "finetuned"},
                           *const clfs[] = {"svm", "lr", "net"};
  static const char *const what[] = {"precision", "recall"};
  if (H5Lexists(f, "probe", H5P_DEFAULT) <= 0) return;
  for (int a = 0; a < 5; a++)
    for (int b = 0; b < 3; b++) {
      char gname[64];
      snprintf(gname, sizeof gname, "probe/%s", srcs[a]);
      if (H5Lexists(f, gname, H5P_DEFAULT) <= 0) continue;
      snprintf(gname, sizeof gname, "probe/%s/%s", srcs[a], clfs[b]);
      if (H5Lexists(f, gname, H5P_DEFAULT) <= 0) continue;
      hid_t g = H5Gopen2(f, gname, H5P_DEFAULT);
      hsize_t nb = 0;
      if (g < 0 || gs_h5_group_count(g, &nb) < 0) {
        if (g >= 0) H5Gclose(g);
        H5Eclear2(H5E_DEFAULT);
        continue;
      }
      H5_index_t idx = gs_h5_group_index(g);
      for (hsize_t i = 0; i < nb; i++) { /* the budgets: all, 1000, ... */
        char bn[24];
        if (gs_h5_link_name(g, idx, i, bn, sizeof bn) < 0) {
          H5Eclear2(H5E_DEFAULT);
          continue;
        }
        for (int w = 0; w < 2; w++) {
          char name[GS_NAME_LEN], rel[64];
          snprintf(rel, sizeof rel, "%s/%s", bn, what[w]);
          if (snprintf(name, sizeof name, "%s/%s", gname, rel) >= (int)sizeof name ||
              H5Lexists(g, rel, H5P_DEFAULT) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            continue;
          }
          hsize_t dims[2] = {0, 0}, np = 0;
          hid_t d = gs_h5_dataset_open(g, rel, 2, dims, &np);
          if (d < 0 || np == 0 || np > 1000000) {
            if (d >= 0) H5Dclose(d);
            H5Eclear2(H5E_DEFAULT);
            continue;
          }
          double *v = gs_malloc(sizeof(double) * (size_t)np);
          herr_t st = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
          H5Dclose(d);
          if (st < 0) {
            free(v);
            H5Eclear2(H5E_DEFAULT);
            continue;
          }
          u->ser = gs_realloc(u->ser, sizeof *u->ser * (size_t)(u->nser + 1));
          rp_series *ps = &u->ser[u->nser++];
          GS_STRCPY(ps->name, name);
          ps->nrep = (int)dims[0];
          ps->n = (int)dims[1];
          ps->v = v;
        }
      }
      H5Gclose(g);
    }
}

int rp_read_run_series(const char *path, rp_run *u, gs_error *err) {
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
    s->nrep = 1;
    u->nser++;
    herr_t st = np ? H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->v) : 0;
    H5Dclose(d);
    if (st < 0) {
      gs_h5_fail(err, path, "cannot read /metrics/%s", s->name);
      goto out;
    }
  }
  read_probe_arrays(f, u);
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

const rp_series *rp_run_series(const rp_run *u, const char *name) {
  for (int s = 0; s < u->nser; s++)
    if (strcmp(u->ser[s].name, name) == 0) return &u->ser[s];
  return NULL;
}

/* The epochs of the points of series s: the run's "epoch" series when as long; else the epochs
 * at which it evaluated (every eval.eval_every epochs, and the last); else 1, 2, ... */
/* the runner's per-epoch series (the rest a model records when it evaluates) */
static int per_epoch_name(const char *name) {
  return !strcmp(name, "epoch") || !strncmp(name, "train_", 6) || !strcmp(name, "epoch_seconds");
}

int rp_series_by_iteration(const rp_run *u, const char *name) {
  const rp_series *s = rp_run_series(u, name);
  if (!s) return 0;
  const rp_series *it = rp_run_series(u, "iteration"), *ev = rp_run_series(u, "eval_iteration");
  if (!strncmp(name, "iter_", 5)) return it && it->n == s->n;
  return ev && ev->n == s->n && !per_epoch_name(name) && strcmp(name, "eval_iteration") != 0;
}

double *rp_series_epochs(const rp_run *u, const rp_series *s) {
  double *x = gs_malloc(sizeof(double) * (size_t)(s->n ? s->n : 1));
  if (rp_series_by_iteration(u, s->name)) {
    const rp_series *it = rp_run_series(u, strncmp(s->name, "iter_", 5) ? "eval_iteration" : "iteration");
    memcpy(x, it->v, sizeof(double) * (size_t)s->n);
    return x;
  }
  const rp_series *e = rp_run_series(u, "epoch");
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

