/* Checkpoint files: bit-exact round trips, resumed training equal to uninterrupted training
 * (also after kill -9 at random moments), atomic writes, corrupt and mismatched inputs, speed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "gensweep/io/checkpoint.h"

/* ------------------------------------------------------------------ helpers */
#define TEST_TMP_NAME "gs_ckpt"
#include "testutil.h"

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc(*n ? *n : 1);
  cr_assert_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 11;
}

static void random_bits(float *x, long n, uint64_t *s) {
  for (long i = 0; i < n; i++) {
    uint32_t b = (uint32_t)lcg(s);
    memcpy(&x[i], &b, 4);
  }
}

/* Redirect stderr into a file (HDF5 must print nothing); returns the saved descriptor. */
static int stderr_to(const char *file) {
  fflush(stderr);
  int saved = dup(2), fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert(saved >= 0 && fd >= 0);
  dup2(fd, 2);
  close(fd);
  return saved;
}

static void stderr_back(int saved, const char *file) {
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  long esz = file_size(file);
  if (esz > 0) {
    size_t en;
    char *e = slurp(file, &en);
    cr_assert_eq(esz, 0, "something was printed to stderr:\n%.*s", (int)(en > 2000 ? 2000 : en), e);
  }
}

/* ------------------------------------------------------------------ a model's worth of state */
typedef struct state {
  gs_params p;
  gs_optim o;
  gs_rng rng[3];
  int nrng;
  long nperm;
  int32_t *perm;
  gs_record rec;
  long epoch, step, images;
  double secs, loss_sum;
} state;

static void declare_small(gs_params *p) {
  memset(p, 0, sizeof *p);
  gs_params_declare(p, "enc.W1", 2, (int[]){7, 5});
  gs_params_declare(p, "enc.b1", 1, (int[]){5});
  gs_params_declare(p, "conv.k", 4, (int[]){2, 3, 3, 3});
  gs_params_declare(p, "dec.W", 2, (int[]){5, 9});
  gs_params_alloc(p);
}

/* Arbitrary bit patterns everywhere (NaN payloads, -0, inf, denormals), an Adam optimiser some
 * steps in, three streams (one holding a Box-Muller spare), a shuffled order, three series. */
static void state_fill(state *s, const char *id, uint64_t hash) {
  memset(s, 0, sizeof *s);
  declare_small(&s->p);
  uint64_t seed = 12345;
  random_bits(s->p.data, s->p.total, &seed);
  s->p.data[0] = -0.0f;
  s->p.data[1] = INFINITY;
  s->p.data[2] = 1e-42f;
  gs_optim_init(&s->o, GS_OPT_ADAM, s->p.total, 0.00125f);
  random_bits(s->o.m, s->o.n, &seed);
  random_bits(s->o.v, s->o.n, &seed);
  s->o.t = 1234567;
  s->o.beta1 = 0.5f;
  s->o.eps = 1e-7f;
  s->nrng = 3;
  for (int i = 0; i < 3; i++) gs_rng_seed(&s->rng[i], 42, 7, (uint64_t)i + 1);
  (void)gs_rng_normal(&s->rng[1]); /* leaves a spare */
  cr_assert(s->rng[1].has_spare);
  s->nperm = 1001;
  s->perm = malloc(sizeof(int32_t) * (size_t)s->nperm);
  for (long i = 0; i < s->nperm; i++) s->perm[i] = (int32_t)i;
  gs_rng_shuffle(&s->rng[0], s->perm, s->nperm);
  gs_record_init(&s->rec, id, "vae", hash);
  for (int e = 1; e <= 5; e++) {
    gs_record_push(&s->rec, "epoch", e);
    gs_record_push(&s->rec, "train_loss", 200.0 / e + 0.1);
  }
  gs_record_push(&s->rec, "odd", NAN);
  gs_record_push(&s->rec, "odd", -0.0);
  gs_record_push(&s->rec, "odd", 5e-324);
  s->epoch = 5;
  s->step = 17;
  s->loss_sum = 1234.5678901234567;
  s->images = 300000;
  s->secs = 12.345678901234567;
}

static void state_free(state *s) {
  gs_params_free(&s->p);
  gs_optim_free(&s->o);
  free(s->perm);
  gs_record_free(&s->rec);
  memset(s, 0, sizeof *s);
}

static gs_checkpoint ckpt_of(state *s, const char *id, uint64_t hash) {
  gs_checkpoint c;
  memset(&c, 0, sizeof c);
  GS_STRCPY(c.run_id, id);
  c.config_hash = hash;
  c.epoch = s->epoch;
  c.step = s->step;
  c.loss_sum = s->loss_sum;
  c.params = &s->p;
  c.opt = &s->o;
  c.nrng = s->nrng;
  memcpy(c.rng, s->rng, sizeof s->rng);
  c.nperm = s->nperm;
  c.perm = s->perm;
  c.rec = &s->rec;
  c.train_seconds = s->secs;
  c.images = s->images;
  return c;
}

/* A destination like a freshly built model: same declarations, everything else a sentinel. */
static void dest_new(state *d, const gs_params *like, gs_opt_kind kind, long n) {
  memset(d, 0, sizeof *d);
  for (int i = 0; i < like->count; i++) gs_params_declare(&d->p, like->info[i].name, like->info[i].ndim, like->info[i].shape);
  gs_params_alloc(&d->p);
  for (long i = 0; i < d->p.total; i++) d->p.data[i] = 777.0f;
  gs_optim_init(&d->o, kind, n, 0.5f);
  for (long i = 0; i < n; i++) d->o.m[i] = d->o.v[i] = 555.0f;
  gs_record_init(&d->rec, "", "", 0);
}

static int dest_untouched(const state *d) {
  for (long i = 0; i < d->p.total; i++)
    if (d->p.data[i] != 777.0f) return 0;
  for (long i = 0; i < d->o.n; i++)
    if (d->o.m[i] != 555.0f || d->o.v[i] != 555.0f) return 0;
  return d->o.t == 0 && d->o.lr == 0.5f && d->rec.nseries == 0;
}

static gs_checkpoint ckpt_into(state *d, const char *id, uint64_t hash) {
  gs_checkpoint c;
  memset(&c, 0, sizeof c);
  GS_STRCPY(c.run_id, id);
  c.config_hash = hash;
  c.params = &d->p;
  c.opt = &d->o;
  c.rec = &d->rec;
  c.epoch = -1;
  c.step = -1;
  c.nrng = -1;
  c.nperm = -1;
  return c;
}

static void assert_same_as(const state *s, const gs_checkpoint *c, const state *d) {
  cr_assert_eq(memcmp(s->p.data, d->p.data, sizeof(float) * (size_t)s->p.total), 0, "parameters differ");
  cr_assert_eq(d->o.t, s->o.t);
  cr_assert_eq(d->o.kind, s->o.kind);
  cr_assert(memcmp(&d->o.lr, &s->o.lr, 4) == 0 && memcmp(&d->o.momentum, &s->o.momentum, 4) == 0 &&
            memcmp(&d->o.rho, &s->o.rho, 4) == 0 && memcmp(&d->o.beta1, &s->o.beta1, 4) == 0 &&
            memcmp(&d->o.beta2, &s->o.beta2, 4) == 0 && memcmp(&d->o.eps, &s->o.eps, 4) == 0,
            "optimiser hyperparameters differ");
  cr_assert_eq(memcmp(s->o.m, d->o.m, sizeof(float) * (size_t)s->o.n), 0, "optimiser m differs");
  cr_assert_eq(memcmp(s->o.v, d->o.v, sizeof(float) * (size_t)s->o.n), 0, "optimiser v differs");
  cr_assert_eq(c->nrng, s->nrng);
  for (int i = 0; i < s->nrng; i++) {
    cr_assert_eq(memcmp(c->rng[i].s, s->rng[i].s, sizeof s->rng[i].s), 0, "rng %d state differs", i);
    cr_assert_eq(c->rng[i].has_spare, s->rng[i].has_spare);
    cr_assert_eq(memcmp(&c->rng[i].spare, &s->rng[i].spare, 4), 0, "rng %d spare differs", i);
  }
  cr_assert_eq(c->nperm, s->nperm);
  if (s->nperm) cr_assert_eq(memcmp(c->perm, s->perm, sizeof(int32_t) * (size_t)s->nperm), 0, "order differs");
  else cr_assert_null(c->perm);
  cr_assert_eq(d->rec.nseries, s->rec.nseries);
  for (int i = 0; i < s->rec.nseries; i++) {
    cr_assert_str_eq(d->rec.series[i].name, s->rec.series[i].name);
    cr_assert_eq(d->rec.series[i].n, s->rec.series[i].n);
    cr_assert_eq(memcmp(d->rec.series[i].v, s->rec.series[i].v, sizeof(double) * (size_t)s->rec.series[i].n), 0);
  }
  cr_assert_eq(c->epoch, s->epoch);
  cr_assert_eq(c->step, s->step);
  cr_assert_eq(memcmp(&c->loss_sum, &s->loss_sum, sizeof(double)), 0);
  cr_assert_eq(c->images, s->images);
  cr_assert_eq(memcmp(&c->train_seconds, &s->secs, sizeof(double)), 0);
}

/* ------------------------------------------------------------------ round trip */
Test(checkpoint, round_trip_bit_exact) {
  char dir[64], path[128], tmp[140];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/run-a.h5", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  state s;
  state_fill(&s, "run-a", 0xfedcba9876543210ULL);
  s.o.m[3] = NAN; /* a quiet NaN with a payload */
  uint32_t nanbits = 0x7fc12345;
  memcpy(&s.o.v[4], &nanbits, 4);
  gs_checkpoint c = ckpt_of(&s, "run-a", 0xfedcba9876543210ULL);
  gs_error err = {0};
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);
  cr_assert(exists(path));
  cr_assert(!exists(tmp), "a .tmp file was left behind");

  state d;
  dest_new(&d, &s.p, GS_OPT_ADAM, s.o.n);
  gs_checkpoint r = ckpt_into(&d, "run-a", 0xfedcba9876543210ULL);
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), 0, "%s", err.msg);
  assert_same_as(&s, &r, &d);

  /* the restored streams continue exactly like the originals, the Box-Muller spare included */
  for (int i = 0; i < s.nrng; i++) {
    gs_rng a = s.rng[i], b = r.rng[i];
    for (int k = 0; k < 1001; k++) {
      float x = gs_rng_normal(&a), y = gs_rng_normal(&b);
      cr_assert_eq(memcmp(&x, &y, 4), 0, "stream %d differs at normal %d", i, k);
      if (k % 7 == 0) cr_assert_eq(gs_rng_u64(&a), gs_rng_u64(&b));
    }
  }
  gs_rng a = s.rng[1], b = r.rng[1];
  cr_assert(b.has_spare);
  float x = gs_rng_normal(&a), y = gs_rng_normal(&b); /* the spare itself */
  cr_assert_eq(memcmp(&x, &y, 4), 0);
  cr_assert_eq(memcmp(a.s, s.rng[1].s, sizeof a.s), 0, "the spare consumed a draw");

  /* the records continue too */
  gs_record_push(&d.rec, "epoch", 6);
  cr_assert_eq(d.rec.series[0].n, 6);

  /* peek: identity and counters only */
  gs_checkpoint pk;
  memset(&pk, 0, sizeof pk);
  cr_assert_eq(gs_checkpoint_peek(path, &pk, &err), 0, "%s", err.msg);
  cr_assert_str_eq(pk.run_id, "run-a");
  cr_assert_eq(pk.config_hash, 0xfedcba9876543210ULL);
  cr_assert_eq(pk.epoch, 5);
  cr_assert_eq(pk.step, 17);
  cr_assert_eq(pk.images, 300000);

  /* an empty run id reads any checkpoint and says whose it is */
  state d2;
  dest_new(&d2, &s.p, GS_OPT_ADAM, s.o.n);
  gs_checkpoint r2 = ckpt_into(&d2, "", 0);
  cr_assert_eq(gs_checkpoint_read(path, &r2, &err), 0, "%s", err.msg);
  cr_assert_str_eq(r2.run_id, "run-a");
  cr_assert_eq(r2.config_hash, 0xfedcba9876543210ULL);

  /* the file reads as plain HDF5 too */
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  hid_t ds = H5Dopen2(f, "/params/data", H5P_DEFAULT);
  cr_assert_geq(ds, 0);
  float *back = malloc(sizeof(float) * (size_t)s.p.total);
  cr_assert_geq(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back), 0);
  cr_assert_eq(memcmp(back, s.p.data, sizeof(float) * (size_t)s.p.total), 0);
  free(back);
  H5Dclose(ds);
  H5Fclose(f);

  free(r.perm);
  free(r2.perm);
  state_free(&d);
  state_free(&d2);
  state_free(&s);
  rm_rf(dir);
}

Test(checkpoint, round_trip_minimal) {
  /* SGD, no streams, no order, no record, no parameters at all */
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/m.h5", dir);
  gs_params p;
  memset(&p, 0, sizeof p);
  gs_params_alloc(&p);
  gs_optim o;
  gs_optim_init(&o, GS_OPT_SGD, 0, 0.1f);
  o.t = 3;
  gs_checkpoint c;
  memset(&c, 0, sizeof c);
  GS_STRCPY(c.run_id, "run");
  c.params = &p;
  c.opt = &o;
  gs_error err = {0};
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);
  gs_params q;
  memset(&q, 0, sizeof q);
  gs_params_alloc(&q);
  gs_optim o2;
  gs_optim_init(&o2, GS_OPT_SGD, 0, 0.5f);
  gs_record rec;
  gs_record_init(&rec, "run", "x", 0);
  gs_checkpoint r;
  memset(&r, 0, sizeof r);
  GS_STRCPY(r.run_id, "run");
  r.params = &q;
  r.opt = &o2;
  r.rec = &rec;
  r.nrng = 5;
  r.nperm = 5;
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), 0, "%s", err.msg);
  cr_assert_eq(r.nrng, 0);
  cr_assert_eq(r.nperm, 0);
  cr_assert_null(r.perm);
  cr_assert_eq(rec.nseries, 0);
  cr_assert_eq(o2.t, 3);
  cr_assert_eq(o2.lr, 0.1f);
  /* a record's empty series keeps its place */
  gs_record_push(&rec, "a", 1);
  rec.series[rec.nseries].n = 0;
  GS_STRCPY(rec.series[rec.nseries].name, "empty");
  rec.nseries++;
  gs_record_push(&rec, "b", 2);
  c.rec = &rec;
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);
  gs_record rec2;
  gs_record_init(&rec2, "run", "x", 0);
  r.rec = &rec2;
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), 0, "%s", err.msg);
  cr_assert_eq(rec2.nseries, 3);
  cr_assert_str_eq(rec2.series[1].name, "empty");
  cr_assert_eq(rec2.series[1].n, 0);
  cr_assert_str_eq(rec2.series[2].name, "b");
  cr_assert_eq(rec2.series[2].v[0], 2.0);
  /* and a record that already holds series is refused (it would mix old and new) */
  r.rec = &rec2;
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), -1);
  cr_assert(strstr(err.msg, path) && strstr(err.msg, "already holds"), "%s", err.msg);
  cr_assert_eq(rec2.nseries, 3);
  gs_record_free(&rec);
  gs_record_free(&rec2);
  gs_params_free(&p);
  gs_params_free(&q);
  gs_optim_free(&o);
  gs_optim_free(&o2);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ resume = uninterrupted */
/* A small training loop with everything a real one has: a shuffled order carried from epoch to
 * epoch, per-step noise (an odd number of normals, so the Box-Muller spare matters), Adam, and
 * per-epoch series. */
#define SIM_EPOCHS 24
typedef struct sim {
  state s;
  float *noise;
  long nnoise;
} sim;

static void sim_build(sim *m) {
  state *s = &m->s;
  memset(m, 0, sizeof *m);
  gs_params_declare(&s->p, "w", 2, (int[]){61, 37});
  gs_params_declare(&s->p, "b", 1, (int[]){37});
  gs_params_alloc(&s->p);
  gs_rng init;
  gs_rng_seed(&init, 99, 1, GS_RNG_INIT);
  for (int i = 0; i < s->p.count; i++) gs_rng_normal_fill(&init, s->p.t[i].x, s->p.t[i].n);
  gs_optim_init(&s->o, GS_OPT_ADAM, s->p.total, 0.01f);
  s->nrng = 2;
  gs_rng_seed(&s->rng[0], 99, 1, GS_RNG_SHUFFLE);
  gs_rng_seed(&s->rng[1], 99, 1, GS_RNG_NOISE);
  s->nperm = 96;
  s->perm = malloc(sizeof(int32_t) * (size_t)s->nperm);
  for (long i = 0; i < s->nperm; i++) s->perm[i] = (int32_t)i;
  gs_record_init(&s->rec, "sim", "sim", 77);
  m->nnoise = 2 * (s->p.total / 2) + 1;
  m->noise = malloc(sizeof(float) * (size_t)m->nnoise);
}

#define SIM_BATCH 16
#define SIM_STEPS 6 /* per epoch: 96 / 16 */

/* One step; the first of an epoch shuffles, the last one closes the epoch (series, counters). */
static void sim_step(sim *m) {
  state *s = &m->s;
  gs_params *p = &s->p;
  if (s->step == 0) gs_rng_shuffle(&s->rng[0], s->perm, s->nperm);
  long b0 = s->step * SIM_BATCH;
  gs_rng_normal_fill(&s->rng[1], m->noise, m->nnoise);
  float target = 0;
  for (long j = b0; j < b0 + SIM_BATCH; j++) target += (float)(s->perm[j] % 11) * 0.01f * (float)(j - b0 + 1);
  for (long i = 0; i < p->total; i++) {
    float d = p->data[i] - target;
    p->grad[i] = d + 0.05f * m->noise[i % m->nnoise];
    s->loss_sum += (double)d * d;
  }
  gs_optim_step(&s->o, p->data, p->grad);
  s->images += SIM_BATCH;
  if (++s->step == SIM_STEPS) {
    s->epoch++;
    gs_record_push(&s->rec, "epoch", (double)s->epoch);
    gs_record_push(&s->rec, "train_loss", s->loss_sum);
    gs_record_push(&s->rec, "w0", p->data[0]);
    s->step = 0;
    s->loss_sum = 0;
  }
}

static void sim_epoch(sim *m) {
  do sim_step(m);
  while (m->s.step != 0);
}

static void sim_free(sim *m) {
  state_free(&m->s);
  free(m->noise);
}

static int sim_save(sim *m, const char *path, gs_error *err) {
  gs_checkpoint c = ckpt_of(&m->s, "sim", 77);
  return gs_checkpoint_write(path, &c, err);
}

/* A fresh model resumed from path; -1 on error. */
static int sim_resume(sim *m, const char *path, gs_error *err) {
  sim_build(m);
  state *s = &m->s;
  gs_checkpoint c = ckpt_into(s, "sim", 77);
  if (gs_checkpoint_read(path, &c, err) != 0) return -1;
  if (c.nrng != 2) return gs_fail(err, "nrng %d", c.nrng);
  memcpy(s->rng, c.rng, sizeof(gs_rng) * 2);
  free(s->perm);
  s->perm = c.perm;
  s->nperm = c.nperm;
  s->epoch = c.epoch;
  s->step = c.step;
  s->loss_sum = c.loss_sum;
  s->images = c.images;
  s->secs = c.train_seconds;
  return 0;
}

static void sim_assert_equal(const sim *a, const sim *b, const char *what) {
  const state *x = &a->s, *y = &b->s;
  cr_assert_eq(x->epoch, y->epoch, "%s", what);
  cr_assert_eq(x->step, y->step, "%s", what);
  cr_assert_eq(memcmp(x->p.data, y->p.data, sizeof(float) * (size_t)x->p.total), 0, "%s: parameters differ", what);
  cr_assert_eq(memcmp(x->o.m, y->o.m, sizeof(float) * (size_t)x->o.n), 0, "%s: m differs", what);
  cr_assert_eq(memcmp(x->o.v, y->o.v, sizeof(float) * (size_t)x->o.n), 0, "%s: v differs", what);
  cr_assert_eq(x->o.t, y->o.t, "%s", what);
  cr_assert_eq(x->images, y->images, "%s", what);
  cr_assert_eq(x->rec.nseries, y->rec.nseries, "%s", what);
  for (int i = 0; i < x->rec.nseries; i++) {
    cr_assert_eq(x->rec.series[i].n, y->rec.series[i].n, "%s", what);
    cr_assert_eq(memcmp(x->rec.series[i].v, y->rec.series[i].v, sizeof(double) * (size_t)x->rec.series[i].n), 0,
                 "%s: series %s differs", what, x->rec.series[i].name);
  }
  cr_assert_eq(memcmp(x->rng, y->rng, sizeof(gs_rng) * 2), 0, "%s: streams differ", what);
}

Test(checkpoint, resumed_training_equals_uninterrupted) {
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/sim.h5", dir);
  sim ref;
  sim_build(&ref);
  for (int e = 0; e < SIM_EPOCHS; e++) sim_epoch(&ref);
  gs_error err = {0};
  /* stopped after this many steps: at epoch boundaries and mid-epoch */
  int stops[] = {0, 1, SIM_STEPS - 1, SIM_STEPS, SIM_STEPS + 1, 7 * SIM_STEPS + 3, SIM_EPOCHS * SIM_STEPS - 1,
                 SIM_EPOCHS * SIM_STEPS};
  for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++) {
    sim a;
    sim_build(&a);
    for (int st = 0; st < stops[k]; st++) sim_step(&a);
    cr_assert_eq(sim_save(&a, path, &err), 0, "%s", err.msg);
    sim_free(&a);
    sim b;
    cr_assert_eq(sim_resume(&b, path, &err), 0, "%s", err.msg);
    while (b.s.epoch < SIM_EPOCHS) sim_epoch(&b);
    char what[64];
    snprintf(what, sizeof what, "stopped after step %d", stops[k]);
    sim_assert_equal(&ref, &b, what);
    sim_free(&b);
  }
  /* resumed twice in a row */
  sim a;
  sim_build(&a);
  for (int e = 0; e < 3; e++) sim_epoch(&a);
  sim_save(&a, path, &err);
  sim_free(&a);
  cr_assert_eq(sim_resume(&a, path, &err), 0, "%s", err.msg);
  for (int e = 0; e < 5; e++) sim_epoch(&a);
  sim_step(&a);
  sim_save(&a, path, &err);
  sim_free(&a);
  cr_assert_eq(sim_resume(&a, path, &err), 0, "%s", err.msg);
  while (a.s.epoch < SIM_EPOCHS) sim_epoch(&a);
  sim_assert_equal(&ref, &a, "resumed twice");
  sim_free(&a);
  sim_free(&ref);
  rm_rf(dir);
}

/* kill -9 at random moments, mid-step or mid-write (the child checkpoints after every step):
 * every time, what is on disk is a complete checkpoint (or none yet), and the run finished by
 * resuming equals the uninterrupted one. */
Test(checkpoint, kill9_at_random_moments, .timeout = 300) {
  char dir[64], path[128], tmp[140];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/sim.h5", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  sim ref;
  sim_build(&ref);
  for (int e = 0; e < SIM_EPOCHS; e++) sim_epoch(&ref);

  uint64_t rs = 2024;
  int kills = 0, midwrite = 0, finished = 0, none_yet = 0;
  long last_pos = -1;
  /* 40 kills (the first one at once, before any checkpoint), then a child left to finish */
  for (int attempt = 0; attempt <= 40 && !finished; attempt++) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
      sim m;
      gs_error e = {0};
      if (exists(path)) {
        if (sim_resume(&m, path, &e) != 0) {
          fprintf(stderr, "child: %s\n", e.msg);
          _exit(3);
        }
      } else {
        sim_build(&m);
      }
      while (m.s.epoch < SIM_EPOCHS) {
        sim_step(&m);
        if (sim_save(&m, path, &e) != 0) {
          fprintf(stderr, "child: %s\n", e.msg);
          _exit(4);
        }
      }
      _exit(0);
    }
    if (attempt < 40) {
      struct timespec ts = {0, attempt == 0 ? 0 : (long)(lcg(&rs) % 12000) * 1000L}; /* 0..12 ms */
      nanosleep(&ts, NULL);
      kill(pid, SIGKILL);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st)) {
      cr_assert_eq(WEXITSTATUS(st), 0, "child failed with status %d", WEXITSTATUS(st));
      finished = 1;
      break;
    }
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    kills++;
    if (exists(tmp)) midwrite++;
    if (!exists(path)) {
      none_yet++;
      continue;
    }
    sim chk; /* a full read: complete, checksum right */
    gs_error e = {0};
    cr_assert_eq(sim_resume(&chk, path, &e), 0, "after kill %d: %s", kills, e.msg);
    long pos = chk.s.epoch * SIM_STEPS + chk.s.step;
    cr_assert_geq(pos, last_pos, "the checkpoint went backwards");
    last_pos = pos;
    sim_free(&chk);
  }
  cr_assert(finished, "the run never finished");
  sim done;
  gs_error err = {0};
  cr_assert_eq(sim_resume(&done, path, &err), 0, "%s", err.msg);
  sim_assert_equal(&ref, &done, "killed and resumed");
  cr_log_info("kill -9: %d kills (%d with a .tmp left, i.e. mid-write; %d before the first checkpoint)", kills,
              midwrite, none_yet);
  fprintf(stderr, "[kill-9] %d kills (%d mid-write, %d before the first checkpoint); resumed run bit-identical\n",
          kills, midwrite, none_yet);
  cr_assert_gt(kills, 5);
  sim_free(&done);
  sim_free(&ref);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ atomic writes */
Test(checkpoint, atomic_write_failures_leave_old_checkpoint) {
  char dir[64], path[160], tmp[170];
  make_tmpdir(dir, sizeof dir);
  state s;
  state_fill(&s, "run", 5);
  gs_checkpoint c = ckpt_of(&s, "run", 5);
  gs_error err = {0};

  /* missing directory */
  snprintf(path, sizeof path, "%s/no/such/dir/a.h5", dir);
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), -1);
  cr_assert(strstr(err.msg, path) != NULL, "message does not name the path: %s", err.msg);
  cr_assert(strstr(err.msg, "No such file") != NULL, "message does not say why: %s", err.msg);
  cr_assert(!exists(path));

  /* a stale .tmp from a crashed writer does not get in the way */
  snprintf(path, sizeof path, "%s/b.h5", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  write_bytes(tmp, "garbage", 7);
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);
  cr_assert(!exists(tmp));

  /* invalid input: an error, nothing written, the old checkpoint untouched */
  long size1 = file_size(path);
  gs_checkpoint bad = c;
  bad.nrng = 99;
  cr_assert_eq(gs_checkpoint_write(path, &bad, &err), -1);
  cr_assert(strstr(err.msg, path) && strstr(err.msg, "random streams"), "%s", err.msg);
  bad = c;
  bad.perm = NULL;
  cr_assert_eq(gs_checkpoint_write(path, &bad, &err), -1);
  bad = c;
  bad.params = NULL;
  cr_assert_eq(gs_checkpoint_write(path, &bad, &err), -1);
  cr_assert(!exists(tmp));
  cr_assert_eq(file_size(path), size1);

  /* read-only directory holding a checkpoint (root ignores permissions: the immutable flag) */
  char ro[100], cmd[300];
  snprintf(ro, sizeof ro, "%s/ro", dir);
  cr_assert_eq(mkdir(ro, 0755), 0);
  snprintf(path, sizeof path, "%s/c.h5", ro);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg); /* epoch 5 */
  size_t n0;
  char *before = slurp(path, &n0);
  int locked = 0;
  if (geteuid() == 0) {
    snprintf(cmd, sizeof cmd, "chattr +i '%s' 2>/dev/null", ro);
    locked = system(cmd) == 0;
  } else {
    locked = chmod(ro, 0555) == 0;
  }
  if (locked) {
    gs_checkpoint later = c;
    later.epoch = 6;
    int rc = gs_checkpoint_write(path, &later, &err);
    int left = exists(tmp);
    if (geteuid() == 0) snprintf(cmd, sizeof cmd, "chattr -i '%s'", ro), (void)!system(cmd);
    else chmod(ro, 0755);
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err.msg, path) != NULL, "%s", err.msg);
    cr_assert(!left, "file left in the read-only directory");
    size_t n1;
    char *after = slurp(path, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "the old checkpoint changed");
    free(after);
    gs_checkpoint pk;
    memset(&pk, 0, sizeof pk);
    cr_assert_eq(gs_checkpoint_peek(path, &pk, &err), 0, "%s", err.msg);
    cr_assert_eq(pk.epoch, 5);
  } else {
    cr_log_warn("could not make a read-only directory: read-only case skipped");
  }
  free(before);
  state_free(&s);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ corrupt inputs */
static int try_read(const char *path, const state *s, gs_error *err, state *d, gs_checkpoint *r) {
  dest_new(d, &s->p, GS_OPT_ADAM, s->o.n);
  *r = ckpt_into(d, "run", 5);
  return gs_checkpoint_read(path, r, err);
}

static void expect_error(const char *path, const state *s, const char *what, const char *needle) {
  state d;
  gs_checkpoint r;
  gs_error err = {0};
  cr_assert_eq(try_read(path, s, &err, &d, &r), -1, "%s: read succeeded", what);
  cr_assert(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", what, err.msg);
  if (needle) cr_assert(strstr(err.msg, needle) != NULL, "%s: message does not say '%s': %s", what, needle, err.msg);
  cr_assert(dest_untouched(&d), "%s: the failed read changed the caller's state", what);
  cr_assert_eq(r.epoch, -1, "%s", what);
  cr_assert_eq(r.step, -1, "%s", what);
  cr_assert_eq(r.nperm, -1, "%s", what);
  cr_assert_null(r.perm, "%s", what);
  state_free(&d);
}

/* File offset of a dataset's raw data (contiguous layout). */
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

Test(checkpoint, corrupt_inputs_are_errors_naming_the_file, .timeout = 300) {
  /* HDF5 1.10.8 leaks free-list blocks when a metadata checksum fails and then prints "HDF5:
   * infinite loop closing library" at exit: keep that out of the output (see test_runfile.c). */
  H5dont_atexit();
  char dir[64], good[128], path[160], errfile[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(good, sizeof good, "%s/good.h5", dir);
  snprintf(errfile, sizeof errfile, "%s/stderr.txt", dir);
  state s;
  state_fill(&s, "run", 5);
  gs_checkpoint c = ckpt_of(&s, "run", 5);
  gs_error err = {0};
  cr_assert_eq(gs_checkpoint_write(good, &c, &err), 0, "%s", err.msg);
  size_t n;
  char *bytes = slurp(good, &n);
  haddr_t off_data = data_offset(good, "/params/data"), off_m = data_offset(good, "/optim/m"),
          off_v = data_offset(good, "/optim/v"), off_perm = data_offset(good, "/perm"),
          off_rng = data_offset(good, "/rng/state"), off_spare = data_offset(good, "/rng/spare_bits"),
          off_ser = data_offset(good, "/series/values"), off_len = data_offset(good, "/series/lengths");

  int saved = stderr_to(errfile);
  H5E_auto2_t fn0 = NULL;
  void *data0 = NULL;
  H5Eget_auto2(H5E_DEFAULT, &fn0, &data0);

  snprintf(path, sizeof path, "%s/missing.h5", dir);
  expect_error(path, &s, "missing file", "No such file");
  snprintf(path, sizeof path, "%s/empty.h5", dir);
  write_bytes(path, "", 0);
  expect_error(path, &s, "empty file", "empty file");
  snprintf(path, sizeof path, "%s/text.h5", dir);
  const char *text = "this is not an HDF5 file\nbut a text file of some length\n";
  write_bytes(path, text, strlen(text));
  expect_error(path, &s, "text file", "not a readable HDF5 file");
  snprintf(path, sizeof path, "%s/truncated.h5", dir);
  write_bytes(path, bytes, n / 2);
  expect_error(path, &s, "truncated to half", "not a readable HDF5 file");
  write_bytes(path, bytes, n - 1);
  expect_error(path, &s, "one byte short", NULL);
  expect_error(dir, &s, "a directory", "not a regular file");
  /* another HDF5 file */
  snprintf(path, sizeof path, "%s/other.h5", dir);
  hid_t of = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(of);
  expect_error(path, &s, "HDF5 file that is no checkpoint", "not a gensweep checkpoint");

  /* a flipped bit in any raw array: HDF5 cannot tell, the checksum does */
  char *cb = malloc(n);
  struct {
    const char *what;
    haddr_t off;
  } raw[] = {{"params data", off_data},        {"params data, later", off_data + 4 * 50 + 3},
             {"optimiser m", off_m + 17},      {"optimiser v", off_v + 4 * 100 + 2},
             {"order", off_perm + 4 * 500},    {"rng state", off_rng + 9},
             {"rng spare", off_spare + 4 + 1}, {"series values", off_ser + 8 * 3 + 7},
             {"series lengths", off_len}};
  snprintf(path, sizeof path, "%s/flip.h5", dir);
  for (size_t k = 0; k < sizeof raw / sizeof raw[0]; k++) {
    cr_assert_lt(raw[k].off, n);
    for (int bit = 0; bit < 8; bit += 3) {
      memcpy(cb, bytes, n);
      cb[raw[k].off] ^= (char)(1 << bit);
      write_bytes(path, cb, n);
      char what[96];
      snprintf(what, sizeof what, "bit %d flipped in %s", bit, raw[k].what);
      expect_error(path, &s, what, "checksum mismatch: the checkpoint is corrupt");
    }
  }

  /* a bit flipped in every byte of the file, in turn: an error, or a load identical to the
   * original (the byte was unused), never a wrong load, never a crash. Under the sanitizers
   * (GS_TEST_SLOWDOWN = s > 1, scripts/test-sanitize) one byte in s, the offset within each
   * stride moving along so that every residue is met: the sanitizer pass took 150 s here; the
   * plain build still flips every byte. */
  int nerr = 0, nsame = 0, ncrc = 0;
  const char *sl = getenv("GS_TEST_SLOWDOWN");
  size_t stride = sl && atoi(sl) > 1 ? (size_t)atoi(sl) : 1;
  for (size_t k = 0, i = 0; (i = k * stride + k % stride) < n; k++) {
    memcpy(cb, bytes, n);
    cb[i] ^= (char)(1 << (i % 8));
    write_bytes(path, cb, n);
    state d;
    gs_checkpoint r;
    err.msg[0] = 0;
    if (try_read(path, &s, &err, &d, &r) == 0) {
      assert_same_as(&s, &r, &d);
      nsame++;
      free(r.perm);
    } else {
      nerr++;
      cr_assert(strstr(err.msg, path) != NULL, "flip at %zu: %s", i, err.msg);
      cr_assert(dest_untouched(&d), "flip at %zu: failed read changed the caller's state", i);
      if (strstr(err.msg, "checksum mismatch")) ncrc++;
    }
    state_free(&d);
  }
  cr_assert_eq(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0, "HDF5 objects left open after failed reads");

  H5E_auto2_t fn1 = NULL;
  void *data1 = NULL;
  H5Eget_auto2(H5E_DEFAULT, &fn1, &data1);
  stderr_back(saved, errfile);
  cr_assert(fn1 == fn0 && data1 == data0, "HDF5 automatic error printing not restored");
  cr_log_info("bit flips over %zu bytes: %d errors (%d by the checksum), %d identical loads", n, nerr, ncrc, nsame);
  fprintf(stderr, "[corrupt] one bit flipped in each of %d of the %zu bytes: %d errors (%d checksum mismatches), %d identical loads (unused bytes), 0 wrong loads\n",
          nerr + nsame, n, nerr, ncrc, nsame);
  cr_assert_gt(ncrc, 0);
  free(cb);
  free(bytes);
  state_free(&s);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ mismatches */
Test(checkpoint, mismatched_run_model_or_optimiser) {
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/run.h5", dir);
  state s;
  state_fill(&s, "run", 5);
  gs_checkpoint c = ckpt_of(&s, "run", 5);
  gs_error err = {0};
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);

  /* another run, another hash */
  state d;
  dest_new(&d, &s.p, GS_OPT_ADAM, s.o.n);
  gs_checkpoint r = ckpt_into(&d, "other-run", 5);
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), -1);
  cr_assert(strstr(err.msg, path) && strstr(err.msg, "checkpoint of run run with hash 0000000000000005, expected run other-run"),
            "%s", err.msg);
  cr_assert(dest_untouched(&d));
  r = ckpt_into(&d, "run", 6);
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), -1);
  cr_assert(strstr(err.msg, "with hash 0000000000000005, expected run run with hash 0000000000000006"), "%s", err.msg);
  cr_assert(dest_untouched(&d));
  state_free(&d);

  /* a parameter of another shape (same number of floats) */
  gs_params q;
  memset(&q, 0, sizeof q);
  gs_params_declare(&q, "enc.W1", 2, (int[]){5, 7});
  gs_params_declare(&q, "enc.b1", 1, (int[]){5});
  gs_params_declare(&q, "conv.k", 4, (int[]){2, 3, 3, 3});
  gs_params_declare(&q, "dec.W", 2, (int[]){5, 9});
  gs_params_alloc(&q);
  dest_new(&d, &q, GS_OPT_ADAM, s.o.n);
  r = ckpt_into(&d, "run", 5);
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), -1);
  cr_assert(strstr(err.msg, path) && strstr(err.msg, "parameter 'enc.W1' has shape (7, 5) in the checkpoint but (5, 7) in the model"),
            "%s", err.msg);
  cr_assert(dest_untouched(&d));
  state_free(&d);
  gs_params_free(&q);

  /* another name */
  memset(&q, 0, sizeof q);
  gs_params_declare(&q, "enc.W1", 2, (int[]){7, 5});
  gs_params_declare(&q, "enc.bias", 1, (int[]){5});
  gs_params_declare(&q, "conv.k", 4, (int[]){2, 3, 3, 3});
  gs_params_declare(&q, "dec.W", 2, (int[]){5, 9});
  gs_params_alloc(&q);
  dest_new(&d, &q, GS_OPT_ADAM, s.o.n);
  r = ckpt_into(&d, "run", 5);
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), -1);
  cr_assert(strstr(err.msg, "parameter 1 is 'enc.b1' in the checkpoint but 'enc.bias' in the model"), "%s", err.msg);
  cr_assert(dest_untouched(&d));
  state_free(&d);
  gs_params_free(&q);

  /* fewer parameters */
  memset(&q, 0, sizeof q);
  gs_params_declare(&q, "enc.W1", 2, (int[]){7, 5});
  gs_params_alloc(&q);
  dest_new(&d, &q, GS_OPT_ADAM, s.o.n);
  r = ckpt_into(&d, "run", 5);
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), -1);
  cr_assert(strstr(err.msg, "the checkpoint holds 4 parameters, the model declares 1"), "%s", err.msg);
  cr_assert(dest_untouched(&d));
  state_free(&d);
  gs_params_free(&q);

  /* optimiser of another size, another kind */
  dest_new(&d, &s.p, GS_OPT_ADAM, s.o.n - 16);
  r = ckpt_into(&d, "run", 5);
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), -1);
  char want[160];
  snprintf(want, sizeof want, "optimiser state of %ld floats in the checkpoint, but the optimiser has %ld", s.o.n,
           s.o.n - 16);
  cr_assert(strstr(err.msg, path) && strstr(err.msg, want), "%s", err.msg);
  cr_assert(dest_untouched(&d));
  state_free(&d);
  dest_new(&d, &s.p, GS_OPT_SGD, s.o.n);
  r = ckpt_into(&d, "run", 5);
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), -1);
  cr_assert(strstr(err.msg, "optimiser adam in the checkpoint but sgd in the run"), "%s", err.msg);
  cr_assert(dest_untouched(&d));
  state_free(&d);

  /* a model that is not built yet */
  gs_params empty;
  memset(&empty, 0, sizeof empty);
  gs_params_declare(&empty, "w", 1, (int[]){3});
  gs_optim o;
  gs_optim_init(&o, GS_OPT_ADAM, 3, 0.1f);
  r = ckpt_into(&d, "run", 5);
  r.params = &empty;
  r.opt = &o;
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), -1);
  cr_assert(strstr(err.msg, "not allocated"), "%s", err.msg);
  gs_optim_free(&o);
  gs_params_free(&empty);

  state_free(&s);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ speed */
Test(checkpoint, write_speed_large_params) {
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/big.h5", dir);
  gs_params p;
  memset(&p, 0, sizeof p);
  gs_params_declare(&p, "enc.W1", 2, (int[]){784, 512});
  gs_params_declare(&p, "enc.b1", 1, (int[]){512});
  gs_params_declare(&p, "enc.W2", 2, (int[]){512, 512});
  gs_params_declare(&p, "enc.b2", 1, (int[]){512});
  gs_params_declare(&p, "dec.W3", 2, (int[]){512, 784});
  gs_params_declare(&p, "dec.b3", 1, (int[]){784});
  gs_params_declare(&p, "enc.Wmu", 2, (int[]){512, 64});
  gs_params_alloc(&p);
  cr_assert_gt(p.total, 1000000);
  uint64_t seed = 7;
  random_bits(p.data, p.total, &seed);
  gs_optim o;
  gs_optim_init(&o, GS_OPT_ADAM, p.total, 0.001f);
  random_bits(o.m, o.n, &seed);
  random_bits(o.v, o.n, &seed);
  o.t = 10000;
  gs_record rec;
  gs_record_init(&rec, "big", "vae", 1);
  for (int e = 0; e < 100; e++) {
    gs_record_push(&rec, "train_loss", 1.0 / (e + 1));
    gs_record_push(&rec, "test_neg_elbo", 2.0 / (e + 1));
  }
  int32_t *perm = malloc(sizeof(int32_t) * 60000);
  for (int i = 0; i < 60000; i++) perm[i] = i;
  gs_checkpoint c;
  memset(&c, 0, sizeof c);
  GS_STRCPY(c.run_id, "big");
  c.config_hash = 1;
  c.epoch = 100;
  c.params = &p;
  c.opt = &o;
  c.nrng = 3;
  for (int i = 0; i < 3; i++) gs_rng_seed(&c.rng[i], 1, 2, (uint64_t)i);
  c.nperm = 60000;
  c.perm = perm;
  c.rec = &rec;
  gs_error err = {0};
  double best = 1e9, first = 0;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = gs_now();
    cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);
    double dt = gs_now() - t0;
    if (rep == 0) first = dt;
    if (dt < best) best = dt;
  }
  state d;
  dest_new(&d, &p, GS_OPT_ADAM, o.n);
  gs_checkpoint r = ckpt_into(&d, "big", 1);
  double t0 = gs_now();
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), 0, "%s", err.msg);
  double rt = gs_now() - t0;
  cr_assert_eq(memcmp(d.p.data, p.data, sizeof(float) * (size_t)p.total), 0);
  cr_assert_eq(memcmp(d.o.v, o.v, sizeof(float) * (size_t)o.n), 0);
  cr_log_info("checkpoint of %ld params + Adam: write %.3f s (best of 5; first %.3f s), read %.3f s, %.1f MB", p.total,
              best, first, rt, file_size(path) / 1e6);
  fprintf(stderr, "[timing] checkpoint of %ld float params + Adam m/v + 60000 order + 2x100 series: write %.1f ms (best of 5; first %.1f ms), read+verify %.1f ms, %.2f MB\n",
          p.total, best * 1e3, first * 1e3, rt * 1e3, file_size(path) / 1e6);
  /* a bound for pathological regressions only (the figure above is the measurement): 184 ms on an
   * idle machine, 584 ms seen with the other core and this one shared by four jobs; the sanitizer
   * builds (scripts/test-sanitize sets GS_TEST_SLOWDOWN=4) instrument every copy of the image */
  const char *slow = getenv("GS_TEST_SLOWDOWN");
  double limit = 2.0 * (slow && atof(slow) >= 1 ? atof(slow) : 1);
  cr_expect_lt(best, limit, "writing took %.3f s (limit %.1f s)", best, limit);
  free(r.perm);
  free(perm);
  state_free(&d);
  gs_record_free(&rec);
  gs_optim_free(&o);
  gs_params_free(&p);
  rm_rf(dir);
}

/* A model's own state (the cae_igmn mixture) goes round bit for bit and is under the CRC. */
Test(checkpoint, model_state_round_trip_and_crc) {
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/ms.h5", dir);
  state s;
  state_fill(&s, "run-m", 7);
  gs_checkpoint c = ckpt_of(&s, "run-m", 7);
  double ms[37];
  for (int i = 0; i < 37; i++) ms[i] = i * 0.1 - 1.7;
  ms[5] = -0.0;
  int64_t counts[3] = {-4, 0, INT64_MAX};
  uint8_t px[5] = {0, 1, 127, 128, 255};
  gs_state st = {0};
  gs_state_put_f64(&st, "mixture", ms, 37);
  gs_state_put_i64(&st, "pipeline", counts, 3);
  gs_state_put(&st, "pass.grid_pixels", GS_STATE_U8, px, 5);
  gs_state_put_f64(&st, "empty", NULL, 0);
  c.state = &st;
  gs_error err = {0};
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);
  state d;
  dest_new(&d, &s.p, GS_OPT_ADAM, s.o.n);
  gs_checkpoint r = ckpt_into(&d, "run-m", 7);
  gs_state got = {0};
  r.state = &got;
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), 0, "%s", err.msg);
  cr_assert_eq(got.n, 4);
  for (int i = 0; i < 4; i++) {
    cr_assert_str_eq(got.a[i].name, st.a[i].name, "the arrays keep their order");
    cr_assert_eq(got.a[i].type, st.a[i].type);
    cr_assert_eq(got.a[i].n, st.a[i].n);
    cr_assert_eq(memcmp(got.a[i].data, st.a[i].data, gs_state_elem_size(st.a[i].type) * st.a[i].n), 0, "%s",
                 st.a[i].name);
  }
  gs_state_free(&got);
  free(r.perm);
  state_free(&d);
  /* a model that keeps no state refuses a checkpoint with some */
  state d3;
  dest_new(&d3, &s.p, GS_OPT_ADAM, s.o.n);
  gs_checkpoint r3 = ckpt_into(&d3, "run-m", 7);
  cr_assert_neq(gs_checkpoint_read(path, &r3, &err), 0);
  cr_assert(strstr(err.msg, "holds model state, this model keeps none"), "%s", err.msg);
  state_free(&d3);
  gs_state_free(&st);

  /* change one value of a state array behind the checkpoint's back: the CRC catches it */
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  hid_t ds = H5Dopen2(f, "/model_state/mixture", H5P_DEFAULT);
  cr_assert_geq(ds, 0);
  ms[3] += 1e-12;
  cr_assert_geq(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, ms), 0);
  H5Dclose(ds);
  H5Fclose(f);
  state d2;
  dest_new(&d2, &s.p, GS_OPT_ADAM, s.o.n);
  gs_checkpoint r2 = ckpt_into(&d2, "run-m", 7);
  gs_state got2 = {0};
  r2.state = &got2;
  cr_assert_neq(gs_checkpoint_read(path, &r2, &err), 0);
  cr_assert(strstr(err.msg, "checksum mismatch"), "%s", err.msg);
  cr_assert_eq(got2.n, 0, "a refused checkpoint filled the state");
  state_free(&d2);
  state_free(&s);
  rm_rf(dir);
}

/* Each write keeps the checkpoint it replaces as <id>.prev.h5 (whole, readable, one behind);
 * gs_checkpoint_remove takes both away. */
Test(checkpoint, previous_checkpoint_is_kept_one_behind) {
  char dir[64], path[160], prev[200];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/run.h5", dir);
  gs_checkpoint_prev_path(path, prev, sizeof prev);
  char want[200];
  snprintf(want, sizeof want, "%s/run.prev.h5", dir);
  cr_assert_str_eq(prev, want);
  state s;
  state_fill(&s, "run", 5);
  gs_error err = {0};
  for (long e = 1; e <= 3; e++) {
    s.epoch = e;
    gs_checkpoint c = ckpt_of(&s, "run", 5);
    cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);
    gs_checkpoint k;
    memset(&k, 0, sizeof k);
    cr_assert_eq(gs_checkpoint_peek(path, &k, &err), 0, "%s", err.msg);
    cr_assert_eq(k.epoch, e);
    if (e == 1) {
      cr_assert(!exists(prev), "a first checkpoint has no previous one");
      continue;
    }
    cr_assert_eq(gs_checkpoint_verify(prev, &err), 0, "%s", err.msg);
    memset(&k, 0, sizeof k);
    cr_assert_eq(gs_checkpoint_peek(prev, &k, &err), 0, "%s", err.msg);
    cr_assert_eq(k.epoch, e - 1, "previous checkpoint holds epoch %ld, want %ld", k.epoch, e - 1);
  }
  gs_checkpoint_remove(path);
  cr_assert(!exists(path));
  cr_assert(!exists(prev));
  state_free(&s);
  rm_rf(dir);
}

/* ------------------------------------------------------------------ format 2: groups, loss parts */
#ifndef GS_SOURCE_DIR
#define GS_SOURCE_DIR "."
#endif

/* a block of two parameters, in one group ("all") or in two ("first", "second") */
static void two_params(gs_params *p, int grouped) {
  memset(p, 0, sizeof *p);
  int s1[2] = {3, 4}, s2[1] = {4};
  if (grouped) gs_params_group(p, "first");
  gs_params_declare(p, "w", 2, s1);
  if (grouped) gs_params_group(p, "second");
  gs_params_declare(p, "b", 1, s2);
  gs_params_alloc(p);
}

/* A checkpoint written by gensweep 0.1 (format 1: one optimiser, scalar attributes; made by
 * tests/unit/data/README's program at commit cd720e1) still resumes a model of one group, and
 * is refused, saying why, by a model of two. */
Test(checkpoint, format1_is_read_for_one_group_and_refused_for_two) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/unit/data/ckpt_format1.h5", GS_SOURCE_DIR);
  gs_params p;
  two_params(&p, 0);
  gs_optim o;
  gs_optim_init(&o, GS_OPT_ADAM, p.total, 1e-3f);
  gs_record r;
  gs_record_init(&r, "v1run", "vae", 0x1234abcdULL);
  gs_checkpoint c;
  memset(&c, 0, sizeof c);
  c.params = &p;
  c.opt = &o;
  c.rec = &r;
  gs_error err = {0};
  cr_assert_eq(gs_checkpoint_read(path, &c, &err), 0, "%s", err.msg);
  cr_assert_str_eq(c.run_id, "v1run");
  cr_assert_eq(c.epoch, 2);
  cr_assert_eq(c.step, 1);
  cr_assert_eq(o.t, 7);
  for (long i = 0; i < p.total; i++) {
    cr_assert_eq(p.data[i], 0.25f * (float)i - 1.0f);
    cr_assert_eq(o.m[i], 0.01f * i);
  }
  cr_assert_eq(c.nloss_parts, 0);
  cr_assert_eq(r.nseries, 1);
  free(c.perm);
  gs_record_free(&r);
  /* with the state of format 1 (one float64 array): refused, saying so */
  snprintf(path, sizeof path, "%s/tests/unit/data/ckpt_format1_state.h5", GS_SOURCE_DIR);
  gs_state st = {0};
  gs_record_init(&r, "v1run", "vae", 0x1234abcdULL);
  memset(&c, 0, sizeof c);
  c.params = &p;
  c.opt = &o;
  c.rec = &r;
  c.state = &st;
  cr_assert_neq(gs_checkpoint_read(path, &c, &err), 0);
  cr_assert(strstr(err.msg, "layout of checkpoint format 1") && strstr(err.msg, "no longer reads"), "%s", err.msg);
  cr_assert_eq(st.n, 0);
  gs_record_free(&r);
  snprintf(path, sizeof path, "%s/tests/unit/data/ckpt_format1.h5", GS_SOURCE_DIR);

  gs_params p2;
  two_params(&p2, 1);
  gs_optim all, groups[2];
  gs_optim_init(&all, GS_OPT_ADAM, p2.total, 1e-3f);
  gs_optim_settings s = {.kind = GS_OPT_ADAM, .lr = 1e-3f};
  for (int g = 0; g < 2; g++)
    gs_optim_init_view(&groups[g], &s, p2.group[g].offset, p2.group[g].n, all.m + p2.group[g].offset,
                       all.v + p2.group[g].offset);
  memset(&c, 0, sizeof c);
  c.params = &p2;
  c.opt = &all;
  c.groups = groups;
  cr_assert_neq(gs_checkpoint_read(path, &c, &err), 0);
  cr_assert(strstr(err.msg, "1 parameter group with its own optimiser in the checkpoint, 2 in the model") &&
                strstr(err.msg, "format 1"),
            "%s", err.msg);
  gs_optim_free(&o);
  gs_optim_free(&all);
  gs_params_free(&p);
  gs_params_free(&p2);
}

/* Two groups with different optimisers and step counts, and loss parts: written, read back bit
 * for bit; a model whose groups differ (name, kind) is refused naming the group. */
Test(checkpoint, groups_and_loss_parts_round_trip) {
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/g.h5", dir);
  gs_params p;
  two_params(&p, 1);
  for (long i = 0; i < p.total; i++) p.data[i] = (float)i / 7.0f;
  gs_optim all, g[2];
  gs_optim_init(&all, GS_OPT_SGD, p.total, 0.1f);
  gs_optim_settings sgd = {.kind = GS_OPT_SGD, .lr = 0.1f, .momentum = 0.5f};
  gs_optim_settings adam = {.kind = GS_OPT_ADAM, .lr = 2e-4f, .beta1 = 0.5f, .beta2 = 0.999f, .eps = 1e-8f};
  gs_optim_init_view(&g[0], &sgd, p.group[0].offset, p.group[0].n, all.m, all.v);
  gs_optim_init_view(&g[1], &adam, p.group[1].offset, p.group[1].n, all.m + p.group[1].offset,
                     all.v + p.group[1].offset);
  g[0].t = 3;
  g[1].t = 6; /* updated twice an iteration */
  for (long i = 0; i < p.total; i++) all.m[i] = all.v[i] = (float)i;
  gs_checkpoint c;
  memset(&c, 0, sizeof c);
  GS_STRCPY(c.run_id, "gan");
  c.config_hash = 9;
  c.params = &p;
  c.opt = &all;
  c.groups = g;
  c.nloss_parts = 2;
  GS_STRCPY(c.loss_part_name[0], "train_loss_disc");
  GS_STRCPY(c.loss_part_name[1], "train_d_real");
  c.loss_part_sum[0] = 12.5;
  c.loss_part_sum[1] = -0.25;
  gs_error err = {0};
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);

  gs_params q;
  two_params(&q, 1);
  gs_optim qall, qg[2];
  gs_optim_init(&qall, GS_OPT_SGD, q.total, 0.1f);
  gs_optim_init_view(&qg[0], &sgd, q.group[0].offset, q.group[0].n, qall.m, qall.v);
  gs_optim_init_view(&qg[1], &adam, q.group[1].offset, q.group[1].n, qall.m + q.group[1].offset,
                     qall.v + q.group[1].offset);
  qg[1].lr = 1; /* filled from the file */
  gs_checkpoint d;
  memset(&d, 0, sizeof d);
  GS_STRCPY(d.run_id, "gan");
  d.config_hash = 9;
  d.params = &q;
  d.opt = &qall;
  d.groups = qg;
  cr_assert_eq(gs_checkpoint_read(path, &d, &err), 0, "%s", err.msg);
  cr_assert_eq(memcmp(q.data, p.data, sizeof(float) * p.total), 0);
  cr_assert_eq(memcmp(qall.m, all.m, sizeof(float) * p.total), 0);
  cr_assert_eq(qg[0].t, 3);
  cr_assert_eq(qg[1].t, 6);
  cr_assert_eq(qg[1].lr, 2e-4f);
  cr_assert_eq(qg[1].beta1, 0.5f);
  cr_assert_eq(qg[0].momentum, 0.5f);
  cr_assert_eq(d.nloss_parts, 2);
  cr_assert_str_eq(d.loss_part_name[1], "train_d_real");
  cr_assert_eq(d.loss_part_sum[0], 12.5);
  free(d.perm);

  /* the second group's optimiser of another kind: refused, naming the group */
  qg[1].kind = GS_OPT_RMSPROP;
  cr_assert_neq(gs_checkpoint_read(path, &d, &err), 0);
  cr_assert(strstr(err.msg, "optimiser adam in the checkpoint but rmsprop in the run for group second"), "%s", err.msg);
  qg[1].kind = GS_OPT_ADAM;
  /* groups of other names */
  GS_STRCPY(q.group[1].name, "disc");
  cr_assert_neq(gs_checkpoint_read(path, &d, &err), 0);
  cr_assert(strstr(err.msg, "parameter group 1 is 'second' in the checkpoint but 'disc' in the model"), "%s", err.msg);
  /* one group reading a two-group file */
  gs_params one;
  two_params(&one, 0);
  gs_optim o1;
  gs_optim_init(&o1, GS_OPT_SGD, one.total, 0.1f);
  gs_checkpoint e;
  memset(&e, 0, sizeof e);
  e.params = &one;
  e.opt = &o1;
  cr_assert_neq(gs_checkpoint_read(path, &e, &err), 0);
  cr_assert(strstr(err.msg, "2 parameter groups with their own optimiser in the checkpoint, 1 in the model"), "%s",
            err.msg);
  gs_optim_free(&o1);
  gs_params_free(&one);
  gs_optim_free(&all);
  gs_optim_free(&qall);
  gs_params_free(&p);
  gs_params_free(&q);
  rm_rf(dir);
}

/* How the run was computed (OpenBLAS threads, group size) round-trips, is covered by the
 * checksum, and reads as 0 from a file that does not store it. */
Test(checkpoint, threads_and_group_ranks) {
  char dir[64], path[128];
  make_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/t.h5", dir);
  state s;
  state_fill(&s, "run-t", 11);
  gs_checkpoint c = ckpt_of(&s, "run-t", 11);
  c.threads = 2;
  c.group_ranks = 3;
  gs_error err = {0};
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);
  state d;
  dest_new(&d, &s.p, GS_OPT_ADAM, s.o.n);
  gs_checkpoint r = ckpt_into(&d, "run-t", 11);
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), 0, "%s", err.msg);
  cr_assert_eq(r.threads, 2);
  cr_assert_eq(r.group_ranks, 3);
  free(r.perm);
  state_free(&d);
  gs_checkpoint pk;
  memset(&pk, 0, sizeof pk);
  cr_assert_eq(gs_checkpoint_peek(path, &pk, &err), 0, "%s", err.msg);
  cr_assert_eq(pk.threads, 2);
  cr_assert_eq(pk.group_ranks, 3);

  /* another thread count written into the file: the checksum refuses it */
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  cr_assert_geq(f, 0);
  hid_t a = H5Aopen(f, "threads", H5P_DEFAULT);
  cr_assert_geq(a, 0);
  int64_t one = 1;
  cr_assert_geq(H5Awrite(a, H5T_NATIVE_INT64, &one), 0);
  H5Aclose(a);
  H5Fclose(f);
  dest_new(&d, &s.p, GS_OPT_ADAM, s.o.n);
  r = ckpt_into(&d, "run-t", 11);
  cr_assert_neq(gs_checkpoint_read(path, &r, &err), 0, "a changed thread count was read");
  cr_assert(strstr(err.msg, "checksum mismatch"), "%s", err.msg);
  state_free(&d);
  /* and removed from it: the checksum refuses that too */
  f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  cr_assert_geq(H5Adelete(f, "threads"), 0);
  cr_assert_geq(H5Adelete(f, "group_ranks"), 0);
  H5Fclose(f);
  dest_new(&d, &s.p, GS_OPT_ADAM, s.o.n);
  r = ckpt_into(&d, "run-t", 11);
  memset(&err, 0, sizeof err);
  cr_assert_neq(gs_checkpoint_read(path, &r, &err), 0, "a checkpoint without its thread count was read");
  cr_assert(strstr(err.msg, "checksum mismatch"), "%s", err.msg);
  state_free(&d);

  /* not stored (a file written before): 0 */
  c.threads = c.group_ranks = 0;
  cr_assert_eq(gs_checkpoint_write(path, &c, &err), 0, "%s", err.msg);
  dest_new(&d, &s.p, GS_OPT_ADAM, s.o.n);
  r = ckpt_into(&d, "run-t", 11);
  r.threads = r.group_ranks = 9;
  cr_assert_eq(gs_checkpoint_read(path, &r, &err), 0, "%s", err.msg);
  cr_assert_eq(r.threads, 0);
  cr_assert_eq(r.group_ranks, 0);
  free(r.perm);
  state_free(&d);
  state_free(&s);
  rm_rf(dir);
}
