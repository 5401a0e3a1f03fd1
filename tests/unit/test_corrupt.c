/* Corrupt files of every format gensweep reads back (run files, sweep.h5, checkpoints):
 * truncated at several offsets and with bits flipped all over. Each must be an error that names
 * the file, or (a flipped bit in a byte nothing uses) a read identical to the original; never a
 * crash, never different data. Flips in raw data, which HDF5's metadata checksums do not cover,
 * must be caught by the files' own crc32. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "gensweep/models/model.h"
#include "gensweep/io/checkpoint.h"
#include "gensweep/io/record.h"

#define TEST_TMP_NAME "gs_corrupt"
#include "testutil.h"

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*n ? *n : 1);
  cr_assert_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

/* HDF5 must print nothing while it reads corrupt files: stderr goes to a file, checked at the end */
static int saved_fd = -1;
static void quiet_begin(const char *file) {
  fflush(stderr);
  saved_fd = dup(2);
  int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert(saved_fd >= 0 && fd >= 0);
  dup2(fd, 2);
  close(fd);
}
static void quiet_end(const char *file) {
  fflush(stderr);
  dup2(saved_fd, 2);
  close(saved_fd);
  long sz = file_size(file);
  if (sz > 0) {
    size_t n;
    char *e = slurp(file, &n);
    cr_assert_eq(sz, 0, "printed to stderr:\n%.*s", (int)(n > 2000 ? 2000 : n), e);
  }
}

static haddr_t data_offset(const char *path, const char *name) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  cr_assert_geq(d, 0, "%s", name);
  haddr_t off = H5Dget_offset(d);
  H5Dclose(d);
  H5Fclose(f);
  cr_assert_neq(off, HADDR_UNDEF, "%s", name);
  return off;
}

/* offsets to truncate at: near the start, in the middle, one byte short */
static size_t cuts(size_t n, size_t *out) {
  size_t k = 0;
  size_t c[] = {8, 47, 300, n / 8, n / 4, n / 2, 3 * n / 4, n - 64, n - 1};
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
    if (c[i] > 0 && c[i] < n) out[k++] = c[i];
  return k;
}

/* ------------------------------------------------------------------ run files */
static void make_params(gs_params *p) {
  memset(p, 0, sizeof *p);
  gs_params_declare(p, "enc.W1", 2, (int[]){7, 5});
  gs_params_declare(p, "enc.b1", 1, (int[]){5});
  gs_params_declare(p, "dec.W", 2, (int[]){5, 9});
  gs_params_alloc(p);
  for (long i = 0; i < p->total; i++) p->data[i] = (float)sin((double)i) * 3.0f;
}

static void make_record(gs_record *r, gs_params *p) {
  gs_record_init(r, "run-a", "vae", 0x1234abcd5678ef90ULL);
  GS_STRCPY(r->status, "done");
  r->seconds = 7.5;
  for (int e = 1; e <= 6; e++) {
    gs_record_push(r, "epoch", e);
    gs_record_push(r, "test_neg_elbo", 200.0 / e);
  }
  gs_record_scalar(r, "test_neg_elbo", 33.25);
  gs_record_scalar(r, "test_iw_nll", 31.5);
  uint8_t pix[4 * 5 * 5];
  for (int i = 0; i < (int)sizeof pix; i++) pix[i] = (uint8_t)(i * 13);
  gs_record_images(r, "prior", 4, 5, 5, pix);
  r->params = p;
}

static int records_equal(const gs_record *a, const gs_record *b, const gs_params *pa, const gs_params *pb) {
  if (strcmp(a->status, b->status) || strcmp(a->message, b->message) || strcmp(a->run_id, b->run_id) ||
      a->config_hash != b->config_hash || a->seconds != b->seconds || a->nseries != b->nseries ||
      a->nscalars != b->nscalars || a->nimages != b->nimages) {
    return 0;
  }
  for (int i = 0; i < a->nseries; i++) {
    const gs_series *s = gs_record_find_series(b, a->series[i].name);
    if (!s || s->n != a->series[i].n || memcmp(s->v, a->series[i].v, sizeof(double) * (size_t)s->n)) return 0;
  }
  for (int i = 0; i < a->nscalars; i++) {
    const double *v = gs_record_find_scalar(b, a->scalars[i].name);
    if (!v || memcmp(v, &a->scalars[i].v, sizeof *v)) return 0;
  }
  for (int i = 0; i < a->nimages; i++) {
    const gs_images *x = &a->images[i], *y = &b->images[i];
    if (strcmp(x->name, y->name) || x->n != y->n || x->h != y->h || x->w != y->w ||
        memcmp(x->pix, y->pix, (size_t)x->n * x->h * x->w))
      return 0;
  }
  for (int i = 0; i < pa->count; i++)
    if (memcmp(pa->data + pa->info[i].offset, pb->data + pb->info[i].offset, sizeof(float) * (size_t)pa->info[i].n))
      return 0;
  return 1;
}

/* 0: the read failed naming the file; 1: it succeeded with exactly the original content */
static int read_run(const char *path, const gs_record *orig, const gs_params *p, const char *what, char *msg) {
  gs_run_summary s;
  gs_error e1 = {0}, e2 = {0};
  int rs = gs_runfile_read_summary(path, &s, &e1);
  gs_params q;
  memset(&q, 0, sizeof q);
  for (int k = 0; k < p->count; k++) gs_params_declare(&q, p->info[k].name, p->info[k].ndim, p->info[k].shape);
  gs_params_alloc(&q);
  gs_record r;
  int rf = gs_runfile_read(path, &r, &q, &e2);
  cr_assert_eq(rs == 0, rf == 0, "%s: summary read %d but full read %d (%s%s)", what, rs, rf, e1.msg, e2.msg);
  int ok = rf == 0;
  if (ok) {
    cr_assert(records_equal(orig, &r, p, &q), "%s: read succeeded with different content", what);
    gs_record_free(&r);
  } else {
    cr_assert(strstr(e1.msg, path) && strstr(e2.msg, path), "%s: message does not name the file: %s / %s", what,
              e1.msg, e2.msg);
    if (msg) snprintf(msg, 1024, "%s", e1.msg);
  }
  gs_params_free(&q);
  return ok;
}

Test(corrupt, run_file_truncated_or_bit_flipped, .timeout = 600) {
  H5dont_atexit(); /* HDF5 1.10 prints "infinite loop closing library" after failed checksums */
  char dir[64], good[128], path[128], errfile[128], msg[1024];
  make_tmpdir(dir, sizeof dir);
  snprintf(good, sizeof good, "%s/good.h5", dir);
  snprintf(path, sizeof path, "%s/bad.h5", dir);
  snprintf(errfile, sizeof errfile, "%s/stderr.txt", dir);
  gs_params p;
  make_params(&p);
  gs_record r;
  make_record(&r, &p);
  gs_config cfg;
  gs_config_defaults(&cfg, gs_models_vocabulary());
  gs_error err = {0};
  cr_assert_eq(gs_runfile_write(good, &r, &cfg, &err), 0, "%s", err.msg);
  cr_assert_eq(read_run(good, &r, &p, "the good file", NULL), 1);
  size_t n;
  char *bytes = slurp(good, &n), *c = malloc(n);
  haddr_t raw[] = {data_offset(good, "/params/enc.W1") + 5, data_offset(good, "/params/dec.W") + 4 * 44 + 3,
                   data_offset(good, "/metrics/test_neg_elbo") + 8 * 2 + 6, data_offset(good, "/final/test_iw_nll") + 7};
  quiet_begin(errfile);

  size_t at[16], nc = cuts(n, at);
  for (size_t i = 0; i < nc; i++) {
    write_bytes(path, bytes, at[i]);
    char what[64];
    snprintf(what, sizeof what, "truncated to %zu of %zu bytes", at[i], n);
    cr_assert_eq(read_run(path, &r, &p, what, NULL), 0, "%s: read succeeded", what);
  }
  for (size_t k = 0; k < sizeof raw / sizeof raw[0]; k++) {
    memcpy(c, bytes, n);
    c[raw[k]] ^= 0x10;
    write_bytes(path, c, n);
    cr_assert_eq(read_run(path, &r, &p, "flip in raw data", msg), 0, "flip in raw data at %llu: read succeeded",
                 (unsigned long long)raw[k]);
    cr_assert(strstr(msg, "checksum mismatch: the run file is corrupt"), "%s", msg);
  }
  int nerr = 0, nsame = 0;
  for (size_t i = 0; i < n; i += 5) {
    memcpy(c, bytes, n);
    c[i] ^= (char)(1 << (i % 8));
    write_bytes(path, c, n);
    char what[64];
    snprintf(what, sizeof what, "bit flip at byte %zu", i);
    if (read_run(path, &r, &p, what, NULL)) nsame++;
    else nerr++;
  }
  cr_assert_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0, "HDF5 objects left open");
  quiet_end(errfile);
  fprintf(stderr, "[corrupt] run file of %zu bytes: %zu truncations detected; bit flips at every 5th byte: %d errors, "
          "%d identical reads (unused bytes), 0 wrong reads\n", n, nc, nerr, nsame);
  cr_assert_gt(nerr, nsame);
  free(c);
  free(bytes);
  gs_record_free(&r);
  gs_params_free(&p);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ sweep.h5 */
Test(corrupt, sweep_index_truncated_or_bit_flipped, .timeout = 600) {
  H5dont_atexit();
  char dir[64], rdir[128], sweep[160], path[160], errfile[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(rdir, sizeof rdir, "%s/runs", dir);
  cr_assert_eq(mkdir(rdir, 0755), 0);
  snprintf(sweep, sizeof sweep, "%s/sweep.h5", dir);
  snprintf(path, sizeof path, "%s/bad.h5", dir);
  snprintf(errfile, sizeof errfile, "%s/stderr.txt", dir);
  gs_sweep sw;
  gs_error err = {0};
  cr_assert_eq(gs_sweep_load_text("exp.ini", gs_models_vocabulary(), "[sweep]\nname = c\n[grid]\nmodel.latent_dim = 2, 5\n", &sw, &err), 0,
               "%s", err.msg);
  /* run 0 done; run 1's file is corrupt: left out, reported */
  for (int i = 0; i < 2; i++) {
    char rp[300];
    snprintf(rp, sizeof rp, "%s/%s.h5", rdir, sw.runs[i].id);
    gs_record r;
    gs_record_init(&r, sw.runs[i].id, "vae", sw.runs[i].hash);
    GS_STRCPY(r.status, "done");
    gs_record_push(&r, "test_neg_elbo", 99.0 + i);
    gs_record_scalar(&r, "test_neg_elbo", 98.5 + i);
    cr_assert_eq(gs_runfile_write(rp, &r, &sw.runs[i].cfg, &err), 0, "%s", err.msg);
    gs_record_free(&r);
    if (i == 1) {
      size_t n;
      char *b = slurp(rp, &n);
      b[data_offset(rp, "/final/test_neg_elbo")] ^= 1;
      write_bytes(rp, b, n);
      free(b);
    }
  }
  quiet_begin(errfile);
  char *logbuf = NULL;
  size_t loglen = 0;
  FILE *log = open_memstream(&logbuf, &loglen);
  long ncorrupt = -1;
  cr_assert_eq(gs_sweepfile_write_log(dir, &sw, log, &ncorrupt, &err), 0, "%s", err.msg);
  fclose(log);
  cr_assert_eq(ncorrupt, 1);
  cr_assert(strstr(logbuf, sw.runs[1].id) && strstr(logbuf, "checksum mismatch") && strstr(logbuf, "left out"), "%s",
            logbuf);
  free(logbuf);
  cr_assert_eq(gs_sweepfile_verify(sweep, &err), 0, "%s", err.msg);
  {
    hid_t f = H5Fopen(sweep, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "runs", H5P_DEFAULT);
    cr_assert_gt(H5Lexists(g, sw.runs[0].id, H5P_DEFAULT), 0, "the whole run is not linked");
    cr_assert_eq(H5Lexists(g, sw.runs[1].id, H5P_DEFAULT), 0, "the corrupt run is linked");
    H5Gclose(g);
    H5Fclose(f);
  }
  size_t n;
  char *bytes = slurp(sweep, &n), *c = malloc(n);
  haddr_t grid = data_offset(sweep, "/grid");
  size_t at[16], nc = cuts(n, at);
  for (size_t i = 0; i < nc; i++) {
    write_bytes(path, bytes, at[i]);
    err.msg[0] = 0;
    cr_assert_neq(gs_sweepfile_verify(path, &err), 0, "truncated to %zu: verified", at[i]);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
  }
  for (int k = 0; k < 4; k++) {
    memcpy(c, bytes, n);
    c[grid + 37 * k + 1] ^= 0x04;
    write_bytes(path, c, n);
    cr_assert_neq(gs_sweepfile_verify(path, &err), 0, "flip in /grid: verified");
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "checksum mismatch"), "%s", err.msg);
  }
  int nerr = 0, nok = 0;
  for (size_t i = 0; i < n; i += 3) {
    memcpy(c, bytes, n);
    c[i] ^= (char)(1 << (i % 8));
    write_bytes(path, c, n);
    if (gs_sweepfile_verify(path, &err) == 0) nok++;
    else {
      nerr++;
      cr_assert(strstr(err.msg, path), "%s", err.msg);
    }
  }
  cr_assert_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0, "HDF5 objects left open");
  quiet_end(errfile);
  fprintf(stderr, "[corrupt] sweep.h5 of %zu bytes: %zu truncations detected; bit flips at every 3rd byte: %d errors, "
          "%d whole (unused bytes)\n", n, nc, nerr, nok);
  cr_assert_gt(nerr, nok);
  free(c);
  free(bytes);
  gs_sweep_free(&sw);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ checkpoints */
Test(corrupt, checkpoint_truncated_or_bit_flipped, .timeout = 600) {
  H5dont_atexit();
  char dir[64], good[128], path[128], errfile[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(good, sizeof good, "%s/good.h5", dir);
  snprintf(path, sizeof path, "%s/bad.h5", dir);
  snprintf(errfile, sizeof errfile, "%s/stderr.txt", dir);
  gs_params p;
  make_params(&p);
  gs_optim o;
  gs_optim_init(&o, GS_OPT_RMSPROP, p.total, 0.001f);
  for (long i = 0; i < o.n; i++) o.m[i] = o.v[i] = (float)i;
  int32_t perm[50];
  for (int i = 0; i < 50; i++) perm[i] = 49 - i;
  gs_checkpoint ck = {0};
  GS_STRCPY(ck.run_id, "run-a");
  ck.config_hash = 77;
  ck.epoch = 2;
  ck.params = &p;
  ck.opt = &o;
  ck.nperm = 50;
  ck.perm = perm;
  gs_error err = {0};
  cr_assert_eq(gs_checkpoint_write(good, &ck, &err), 0, "%s", err.msg);
  cr_assert_eq(gs_checkpoint_verify(good, &err), 0, "%s", err.msg);
  size_t n;
  char *bytes = slurp(good, &n), *c = malloc(n);
  haddr_t raw[] = {data_offset(good, "/params/data") + 9, data_offset(good, "/optim/v") + 13,
                   data_offset(good, "/perm") + 4 * 20};
  quiet_begin(errfile);
  size_t at[16], nc = cuts(n, at);
  for (size_t i = 0; i < nc; i++) {
    write_bytes(path, bytes, at[i]);
    cr_assert_neq(gs_checkpoint_verify(path, &err), 0, "truncated to %zu: verified", at[i]);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
  }
  for (size_t k = 0; k < sizeof raw / sizeof raw[0]; k++) {
    memcpy(c, bytes, n);
    c[raw[k]] ^= 0x80;
    write_bytes(path, c, n);
    cr_assert_neq(gs_checkpoint_verify(path, &err), 0, "flip in raw data: verified");
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "checksum mismatch"), "%s", err.msg);
  }
  int nerr = 0, nok = 0;
  for (size_t i = 0; i < n; i += 3) {
    memcpy(c, bytes, n);
    c[i] ^= (char)(1 << (i % 8));
    write_bytes(path, c, n);
    if (gs_checkpoint_verify(path, &err) == 0) nok++;
    else {
      nerr++;
      cr_assert(strstr(err.msg, path), "%s", err.msg);
    }
  }
  cr_assert_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0, "HDF5 objects left open");
  quiet_end(errfile);
  fprintf(stderr, "[corrupt] checkpoint of %zu bytes: %zu truncations detected; bit flips at every 3rd byte: %d "
          "errors, %d whole (unused bytes)\n", n, nc, nerr, nok);
  cr_assert_gt(nerr, nok);
  free(c);
  free(bytes);
  gs_optim_free(&o);
  gs_params_free(&p);
  rm_rf(dir);
}
