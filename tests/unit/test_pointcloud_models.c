/* The point-cloud autoencoders (src/models/pointcloud.c: pc_ae, pc_vae, pc_vaegm, pc_beta) through
 * the model contract, on generated shapes (data/shapes.h):
 *   - the training loss's gradient against finite differences (train_step, fixed noise), per
 *     tensor along its gradient and element by element;
 *   - a step split over rows [lo, hi) gives the whole batch's loss and gradient (data parallel);
 *   - a few hundred steps lower the test Chamfer distance clearly, and the final evaluation
 *     records the EMD and the point arrays a renderer reads;
 *   - features: deterministic, split-invariant, invariant to the order of a cloud's points;
 *   - the data check refuses images, create() too; pc.interp_steps = 1 is refused;
 *   - pc_vaegm records its clusters (accuracy, ARI against classes and sub-categories), pc_beta
 *     its binary codes' Chamfer distance; their keys leave pc_ae's and pc_vae's hashes alone. */
#include <criterion/criterion.h>
#include <math.h>

#include "cfgkeys.h"
#include "gensweep/data/shapes.h"
#include "gensweep/models/model.h"
#include "gensweep/nn/pointcloud.h"
#include "tinydata.h"

static const char *const models[] = {"pc_ae", "pc_vae", "pc_vaegm", "pc_beta"};
#define NMODELS 4
static int is_vae(const char *model) { return strcmp(model, "pc_ae") != 0; }

/* ntrain + ntest generated clouds of N points (test clouds after the training ones) */
static void shapes_data(gs_dataset *ds, int N, long ntrain, long ntest) {
  gs_shapes_options o;
  gs_shapes_defaults(&o);
  o.points = N;
  gs_pointsets_in in[2] = {{.n = ntrain}, {.n = ntest}};
  gs_error err = {0};
  for (int k = 0; k < 2; k++) {
    in[k].points = malloc(sizeof(float) * 3 * N * in[k].n);
    in[k].labels = malloc((size_t)in[k].n);
    in[k].subcats = malloc((size_t)in[k].n);
    cr_assert_eq(gs_shapes_generate(&o, k ? ntrain : 0, in[k].n, in[k].points, in[k].labels, in[k].subcats, &err), 0,
                 "%s", err.msg);
  }
  cr_assert_eq(gs_dataset_from_points("shapes", N, in[0], in[1], NULL, ds, &err), 0, "%s", err.msg);
}

/* small widths: a code of Z, per-point MLP 3-8-8-12-16, decoder Z-16-24-N*3 */
static void small_config(gs_config *c, const char *model, int Z) {
  gs_config_defaults(c, gs_models_vocabulary());
  GS_STRCPY(c->model, model);
  cfg_set(c, "model.latent_dim", Z);
  const char *keys[] = {"pc.enc1", "pc.enc2", "pc.enc3", "pc.enc4", "pc.dec1", "pc.dec2"};
  const double widths[] = {8, 8, 12, 16, 16, 24};
  for (int i = 0; i < 6; i++) cfg_set(c, keys[i], widths[i]);
  c->batch_size = 4;
}

static gs_model *make(const gs_model_def *d, const gs_config *c, const gs_dataset *ds, uint64_t seed) {
  gs_rng init;
  gs_rng_seed(&init, seed, 0, GS_RNG_INIT);
  gs_error err = {0};
  gs_model *m = d->create(c, ds, &init, &err);
  cr_assert_not_null(m, "%s: %s", d->name, err.msg);
  return m;
}

/* the step's loss on a fixed batch with fixed noise (the same rng state every call) */
static double step_loss(const gs_model_def *d, gs_model *m, const gs_batch *b) {
  gs_rng noise;
  gs_rng_seed(&noise, 7, 0, GS_RNG_NOISE);
  return d->train_step(m, b, 0, &noise, NULL);
}

/* ------------------------------------------------------------------ gradients */

static void check_gradients(const char *model) {
  enum { N = 16, B = 4 };
  gs_dataset ds;
  shapes_data(&ds, N, 24, 8);
  gs_config c;
  small_config(&c, model, 5);
  if (is_vae(model)) cfg_set(&c, "pc.kl_weight", 0.01); /* the KL's gradient well above rounding */
  if (strcmp(model, "pc_vaegm") == 0) cfg_set(&c, "pc.components", 3);
  const gs_model_def *d = gs_model_find(model);
  gs_model *m = make(d, &c, &ds, 3);
  gs_params *p = d->params(m);
  int32_t idx[B] = {0, 5, 10, 19}; /* four classes */
  gs_batch b = {&ds.train, idx, B, 0, B, NULL};
  double l0 = step_loss(d, m, &b);
  cr_assert(isfinite(l0) && l0 > 0, "%s: loss %g", model, l0);
  float *grad = malloc(sizeof(float) * p->total);
  memcpy(grad, p->grad, sizeof(float) * p->total);
  double largest = 0;
  for (long k = 0; k < p->total; k++) largest = fmax(largest, fabs(grad[k]));

  /* each tensor along its own gradient d: (L(p + h d) - L(p - h d)) / 2h against |d|, from h and
   * h/2 extrapolated (Richardson), h sized to move the loss by about 1e-4 of itself */
  int tensors = 0;
  for (int t = 0; t < p->count; t++) {
    gs_tensor *pt = &p->t[t];
    long off = pt->x - p->data;
    double norm = 0;
    for (long k = 0; k < pt->n; k++) norm += (double)grad[off + k] * grad[off + k];
    norm = sqrt(norm);
    cr_assert_gt(norm, 1e-6 * largest, "%s: %s gets no gradient", model, p->info[t].name);
    double h = 1e-4 * fabs(l0) / (norm * B), fdh[2];
    float *keep = malloc(sizeof(float) * pt->n);
    memcpy(keep, pt->x, sizeof(float) * pt->n);
    for (int r = 0; r < 2; r++, h /= 2) {
      for (long k = 0; k < pt->n; k++) pt->x[k] = (float)(keep[k] + h * grad[off + k] / norm);
      double lp = step_loss(d, m, &b);
      for (long k = 0; k < pt->n; k++) pt->x[k] = (float)(keep[k] - h * grad[off + k] / norm);
      double lm = step_loss(d, m, &b);
      fdh[r] = (lp - lm) / (2 * h) / B;
    }
    memcpy(pt->x, keep, sizeof(float) * pt->n);
    free(keep);
    double fd = (4 * fdh[1] - fdh[0]) / 3;
    /* pc_beta: the gradients of its first encoder layers are small (the loss moves little through
     * the Kumaraswamy code), so the step that moves the loss by 1e-4 of itself carries ReLUs and
     * maxima over points across their kinks: measured 2-6 % off there (with the KL weight 0 too),
     * its heads and decoder within 0.2 %; the element-wise check below is the sharper test */
    double tol = strcmp(model, "pc_beta") == 0 && t < 8 ? 0.08 : 0.03;
    cr_assert(fabs(fd - norm) <= tol * norm, "%s, %s: along its gradient the loss changes at %g, the gradient's norm is %g",
              model, p->info[t].name, fd, norm);
    tensors++;
  }
  cr_assert_geq(tensors, 16, "%s: %d tensors", model, tensors);

  /* and about 150 elements one by one, spread over the block */
  int checked = 0, bad = 0;
  double worst = 0;
  long stride = p->total / 150 > 1 ? p->total / 150 : 1;
  for (long k = 0; k < p->total; k += stride) {
    float keep = p->data[k];
    double h = 1e-3;
    p->data[k] = (float)(keep + h);
    double lp = step_loss(d, m, &b);
    p->data[k] = (float)(keep - h);
    double lm = step_loss(d, m, &b);
    p->data[k] = keep;
    double fd = (lp - lm) / (2 * h) / B, an = grad[k];
    double floor = 1e-6 * fabs(l0) / (h * B); /* the loss's float rounding, seen through the difference */
    double e = fabs(fd - an) / (fabs(fd) + fabs(an) + floor + 1e-7);
    if (e > worst) worst = e;
    bad += e > 0.05;
    checked++;
  }
  /* a step of h may move a nearest neighbour, a max over points or a ReLU across its kink: a few
   * may disagree, not many */
  cr_assert_gt(checked, 100);
  /* pc_vaegm decodes each cloud C times: C times the nearest-neighbour choices that may flip */
  cr_assert_leq(bad, checked / (strcmp(model, "pc_vaegm") == 0 ? 10 : 20), "%s: %d of %d gradients off (worst relative %.3g)", model, bad, checked, worst);
  free(grad);
  d->destroy(m);
  gs_dataset_free(&ds);
}

Test(pc_models, pc_ae_gradient_matches_finite_differences) { check_gradients("pc_ae"); }
Test(pc_models, pc_vae_gradient_matches_finite_differences) { check_gradients("pc_vae"); }
Test(pc_models, pc_vaegm_gradient_matches_finite_differences) { check_gradients("pc_vaegm"); }
Test(pc_models, pc_beta_gradient_matches_finite_differences) { check_gradients("pc_beta"); }

/* pc_vaegm's balance term lambda KL(qbar || 1/C) alone: the loss at lambda = 1 minus the loss at
 * lambda = 0 is B times the KL it reports (train_balance_kl's sum), the KL is in [0, log C], and
 * the difference of the two gradients (the term's own, exact through a qbar held constant:
 * balance_term) matches finite differences of the difference of the losses, along it and
 * element by element in the q(y|x) head, which gets no other gradient as large. */
static double step_losses(const gs_model_def *d, gs_model *m, const gs_batch *b, gs_losses *l) {
  gs_rng noise;
  gs_rng_seed(&noise, 7, 0, GS_RNG_NOISE);
  *l = (gs_losses){0};
  return d->train_step(m, b, 0, &noise, l);
}
static double loss_sum(const gs_losses *l, const char *name) {
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->name[i], name) == 0) return l->sum[i];
  return NAN;
}

Test(pc_models, pc_vaegm_balance_term_matches_finite_differences) {
  enum { N = 16, B = 6, C = 3 };
  gs_dataset ds;
  shapes_data(&ds, N, 24, 8);
  gs_config c[2];
  for (int k = 0; k < 2; k++) {
    small_config(&c[k], "pc_vaegm", 5);
    cfg_set(&c[k], "pc.components", C);
    cfg_set(&c[k], "pc.balance_weight", k); /* c[0]: the plain ELBO, c[1]: lambda = 1 */
  }
  const gs_model_def *d = gs_model_find("pc_vaegm");
  gs_model *m0 = make(d, &c[0], &ds, 3), *m1 = make(d, &c[1], &ds, 3);
  gs_params *p0 = d->params(m0), *p1 = d->params(m1);
  int32_t idx[B] = {0, 5, 10, 19, 2, 7};
  gs_batch b = {&ds.train, idx, B, 0, B, NULL};
  gs_losses l;
  double base = step_loss(d, m0, &b), with = step_losses(d, m1, &b, &l), kl = loss_sum(&l, "balance_kl") / B;
  cr_assert(isfinite(kl) && kl >= 0 && kl <= log(C), "KL(qbar || 1/C) = %g", kl);
  cr_assert_float_eq(with - base, B * kl, 1e-5 * fabs(with), "the term adds %g, B KL = %g", with - base, B * kl);
  cr_assert(isnan(loss_sum(&(gs_losses){0}, "balance_kl")));
  step_losses(d, m0, &b, &l);
  cr_assert(isnan(loss_sum(&l, "balance_kl")), "lambda = 0 reports a balance term");
  float *gt = malloc(sizeof(float) * p1->total); /* the term's gradient */
  for (long k = 0; k < p1->total; k++) gt[k] = p1->grad[k] - p0->grad[k];
  double norm = 0;
  for (long k = 0; k < p1->total; k++) norm += (double)gt[k] * gt[k];
  norm = sqrt(norm);
  cr_assert_gt(norm, 1e-6, "the balance term has no gradient");
  /* f(p) = (L_1(p) - L_0(p)) / B, evaluated with both models set to p */
#define TERM() ((step_loss(d, m1, &b) - step_loss(d, m0, &b)) / B)
  double h = 1e-3 / norm, fdh[2];
  float *keep = malloc(sizeof(float) * p1->total);
  memcpy(keep, p1->data, sizeof(float) * p1->total);
  for (int r = 0; r < 2; r++, h /= 2) {
    for (long k = 0; k < p1->total; k++) p0->data[k] = p1->data[k] = (float)(keep[k] + h * gt[k] / norm);
    double fp = TERM();
    for (long k = 0; k < p1->total; k++) p0->data[k] = p1->data[k] = (float)(keep[k] - h * gt[k] / norm);
    double fm = TERM();
    fdh[r] = (fp - fm) / (2 * h);
  }
  double fd = (4 * fdh[1] - fdh[0]) / 3;
  cr_assert(fabs(fd - norm) <= 0.03 * norm, "along its gradient the balance term changes at %g, its gradient's norm is %g", fd, norm);
  /* the q(y|x) head, element by element */
  int head = -1;
  for (int t = 0; t < p1->count; t++)
    if (strcmp(p1->info[t].name, "enc_class.w") == 0) head = t;
  cr_assert_geq(head, 0);
  long off = p1->t[head].x - p1->data;
  int bad = 0;
  for (long k = off; k < off + p1->t[head].n; k++) {
    memcpy(p0->data, keep, sizeof(float) * p1->total);
    memcpy(p1->data, keep, sizeof(float) * p1->total);
    double e = 1e-2;
    p0->data[k] = p1->data[k] = (float)(keep[k] + e);
    double fp = TERM();
    p0->data[k] = p1->data[k] = (float)(keep[k] - e);
    double fm = TERM();
    double fde = (fp - fm) / (2 * e), an = gt[k];
    bad += fabs(fde - an) > 0.02 * (fabs(fde) + fabs(an)) + 1e-6 * norm;
  }
#undef TERM
  cr_assert_leq(bad, p1->t[head].n / 20, "%d of %d head gradients of the balance term off", bad, p1->t[head].n);
  free(gt), free(keep);
  d->destroy(m0), d->destroy(m1);
  gs_dataset_free(&ds);
}

/* A worker group of two ranks, run one after the other: sum() adds the other rank's sums of the
 * same call (captured in a first pass) to this rank's. */
typedef struct {
  double other[2][16], mine[2][16]; /* by rank */
  int rank, calls[2], pass;
} fake_group;
static void fake_sum(void *ctx, double *v, int n) {
  fake_group *f = ctx;
  int r = f->rank;
  f->calls[r]++;
  cr_assert_leq(n, 16);
  if (f->pass == 0) memcpy(f->mine[r], v, sizeof(double) * n);
  else
    for (int i = 0; i < n; i++) v[i] += f->other[r][i];
}

/* Rows [0, 3) and [3, 7) of a batch of 7: the losses add up to the whole batch's, and so do the
 * gradients (each is d(sum over its rows)/d(params) / B), to float rounding. pc_vaegm's balance
 * term is a statistic of the whole batch: its two parts get the batch's qbar from a (fake)
 * worker group. */
Test(pc_models, rows_split_like_the_whole_batch) {
  enum { N = 16, B = 7 };
  gs_dataset ds;
  shapes_data(&ds, N, 16, 8);
  for (int mi = 0; mi < NMODELS; mi++) {
    gs_config c;
    small_config(&c, models[mi], 5);
    const gs_model_def *d = gs_model_find(models[mi]);
    gs_model *m = make(d, &c, &ds, 4);
    gs_params *p = d->params(m);
    int32_t idx[B] = {1, 2, 3, 5, 8, 13, 15};
    double whole = step_loss(d, m, &(gs_batch){&ds.train, idx, B, 0, B, NULL});
    float *g = malloc(sizeof(float) * p->total);
    memcpy(g, p->grad, sizeof(float) * p->total);
    fake_group f = {0};
    gs_reducer red = {fake_sum, &f};
    const gs_reducer *group = strcmp(d->name, "pc_vaegm") == 0 ? &red : NULL;
    if (group) { /* pass 0: each part's own sums */
      for (f.rank = 0; f.rank < 2; f.rank++)
        step_loss(d, m, &(gs_batch){&ds.train, idx, B, f.rank ? 3 : 0, f.rank ? B : 3, group});
      cr_assert(f.calls[0] == 1 && f.calls[1] == 1, "pc_vaegm sums over the group %d and %d times", f.calls[0], f.calls[1]);
      memcpy(f.other[0], f.mine[1], sizeof f.other[0]), memcpy(f.other[1], f.mine[0], sizeof f.other[1]);
      f.pass = 1, f.calls[0] = f.calls[1] = 0;
    }
    f.rank = 0;
    double part = step_loss(d, m, &(gs_batch){&ds.train, idx, B, 0, 3, group});
    float *g1 = malloc(sizeof(float) * p->total);
    memcpy(g1, p->grad, sizeof(float) * p->total);
    f.rank = 1;
    part += step_loss(d, m, &(gs_batch){&ds.train, idx, B, 3, B, group});
    cr_assert_float_eq(part, whole, 1e-5 * whole, "%s: %g against %g", d->name, part, whole);
    double gmax = 0, dmax = 0;
    for (long k = 0; k < p->total; k++) {
      gmax = fmax(gmax, fabs(g[k]));
      dmax = fmax(dmax, fabs(g1[k] + p->grad[k] - g[k]));
    }
    cr_assert_leq(dmax, 1e-4 * gmax, "%s: split gradients differ by %g (largest %g)", d->name, dmax, gmax);
    free(g), free(g1);
    d->destroy(m);
  }
  gs_dataset_free(&ds);
}

/* pc.sparse_backward: a step on the critical points gives the dense step's loss and gradient (to
 * float rounding), for every model; 64 points a cloud against at most 2 Z + E4 = 26 pooled
 * features, so the critical points are a real subset. */
Test(pc_models, sparse_backward_gives_the_dense_gradient) {
  enum { N = 64, B = 5 };
  gs_dataset ds;
  shapes_data(&ds, N, 16, 8);
  for (int mi = 0; mi < NMODELS; mi++) {
    gs_config c[2];
    const gs_model_def *d = gs_model_find(models[mi]);
    gs_model *m[2];
    float *g[2];
    double loss[2];
    int32_t idx[B] = {0, 3, 6, 9, 12};
    for (int k = 0; k < 2; k++) {
      small_config(&c[k], models[mi], 5);
      if (strcmp(models[mi], "pc_vaegm") == 0) cfg_set(&c[k], "pc.components", 3);
      cfg_set(&c[k], "pc.sparse_backward", k);
      m[k] = make(d, &c[k], &ds, 6);
      loss[k] = step_loss(d, m[k], &(gs_batch){&ds.train, idx, B, 0, B, NULL});
      gs_params *p = d->params(m[k]);
      g[k] = malloc(sizeof(float) * p->total);
      memcpy(g[k], p->grad, sizeof(float) * p->total);
    }
    gs_params *p = d->params(m[0]);
    cr_assert_float_eq(loss[1], loss[0], 1e-6 * fabs(loss[0]), "%s: loss %g sparse, %g dense", d->name, loss[1], loss[0]);
    double gmax = 0, dmax = 0;
    for (long k = 0; k < p->total; k++) gmax = fmax(gmax, fabs(g[0][k])), dmax = fmax(dmax, fabs(g[1][k] - g[0][k]));
    cr_assert_gt(gmax, 0);
    cr_assert_leq(dmax, 1e-5 * gmax, "%s: sparse and dense gradients differ by %g (largest %g)", d->name, dmax, gmax);
    for (int k = 0; k < 2; k++) free(g[k]), d->destroy(m[k]);
  }
  gs_dataset_free(&ds);
}

/* ------------------------------------------------------------------ training */

static double last(const gs_record *r, const char *name) {
  const gs_series *s = gs_record_find_series(r, name);
  cr_assert_not_null(s, "no series %s", name);
  return s->v[s->n - 1];
}

static const gs_array *array(const gs_record *r, const char *name, int ndim, long n0, long n1, long n2) {
  for (int i = 0; i < r->narrays; i++)
    if (strcmp(r->arrays[i].name, name) == 0) {
      const gs_array *a = &r->arrays[i];
      cr_assert_eq(a->ndim, ndim, "%s", name);
      long want[3] = {n0, n1, n2};
      for (int k = 0; k < ndim; k++) cr_assert_eq(a->shape[k], want[k], "%s: dimension %d is %ld, not %ld", name, k, a->shape[k], want[k]);
      long count = n0 * (ndim > 1 ? n1 : 1) * (ndim > 2 ? n2 : 1);
      for (long k = 0; k < count; k++) cr_assert(isfinite(a->v[k]), "%s[%ld] = %g", name, k, a->v[k]);
      return a;
    }
  cr_assert_fail("no array %s", name);
  return NULL;
}

/* 300 Adam steps on 192 clouds of 64 points: the test Chamfer distance falls to well under half
 * its initial value; then the final evaluation's scalars and arrays. */
static void train_and_check(const char *model) {
  enum { N = 64, B = 16, STEPS = 300, Z = 16 };
  gs_dataset ds;
  shapes_data(&ds, N, 192, 48);
  gs_config c;
  small_config(&c, model, Z);
  const char *keys[] = {"pc.enc1", "pc.enc2", "pc.enc3", "pc.enc4", "pc.dec1", "pc.dec2"};
  const double widths[] = {32, 32, 64, 64, 64, 64};
  for (int i = 0; i < 6; i++) cfg_set(&c, keys[i], widths[i]);
  cfg_set(&c, "pc.emd_clouds", 6);
  if (strcmp(model, "pc_vaegm") == 0) cfg_set(&c, "pc.components", 3);
  int vae = is_vae(model), gm = strcmp(model, "pc_vaegm") == 0, beta_latent = strcmp(model, "pc_beta") == 0;
  double beta = vae ? cfg_get(&c, "pc.kl_weight") : 0;
  const gs_model_def *d = gs_model_find(model);
  gs_model *m = make(d, &c, &ds, 1);
  gs_params *p = d->params(m);
  gs_optim opt;
  gs_optim_init(&opt, GS_OPT_ADAM, p->total, 2e-3f);
  gs_record rec;
  gs_record_init(&rec, "r", model, 0);
  gs_error err = {0};
  cr_assert_eq(d->evaluate(m, &ds, &(gs_when){0, 0, 0}, &rec, &err), 0, "%s", err.msg);
  double before = last(&rec, "test_chamfer");
  gs_rng noise, shuffle;
  gs_rng_seed(&noise, 1, 0, GS_RNG_NOISE);
  gs_rng_seed(&shuffle, 1, 0, GS_RNG_SHUFFLE);
  int32_t idx[192];
  for (int i = 0; i < 192; i++) idx[i] = i;
  double first = 0, late = 0;
  for (int s = 0; s < STEPS; s++) {
    int at = (s * B) % 192;
    if (at == 0) gs_rng_shuffle(&shuffle, idx, 192);
    gs_losses losses = {0};
    double l = d->train_step(m, &(gs_batch){&ds.train, idx + at, B, 0, B, NULL}, 0, &noise, &losses);
    gs_optim_step(&opt, p->data, p->grad);
    if (vae) { /* the named parts add up to the loss */
      cr_assert_eq(losses.n, gm ? 3 : 2);
      cr_assert_str_eq(losses.name[0], "chamfer");
      double balance = gm ? cfg_get(&c, "pc.balance_weight") * losses.sum[2] : 0;
      if (gm) cr_assert_str_eq(losses.name[2], "balance_kl");
      cr_assert_float_eq(losses.sum[0] + beta * losses.sum[1] + balance, l, 1e-4 * l);
    }
    if (s < 12) first += l;
    if (s >= STEPS - 12) late += l;
  }
  cr_assert_lt(late, 0.5 * first, "%s: training loss %g -> %g", model, first / 12 / B, late / 12 / B);
  cr_assert_eq(d->evaluate(m, &ds, &(gs_when){1, STEPS, 1}, &rec, &err), 0, "%s", err.msg);
  double after = last(&rec, "test_chamfer");
  cr_assert_lt(after, (gm ? 0.5 : 0.4) * before, "%s: test Chamfer %g -> %g", model, before, after);
  cr_assert_float_eq(*gs_record_find_scalar(&rec, "test_chamfer"), after, 0);
  if (vae) {
    double rc = last(&rec, "test_rec"), kl = last(&rec, "test_kl");
    cr_assert(kl > 0 && isfinite(kl), "test KL %g", kl);
    cr_assert_float_eq(last(&rec, "test_loss"), rc + beta * kl, 1e-9);
    if (!gm && !beta_latent) cr_assert_geq(rc, 0.9 * after, "a sampled z reconstructs better (%g) than the mean (%g)", rc, after);
  }
  if (gm) { /* 8 classes, 3 components: scores in range, the class accuracy a series */
    const char *sc[] = {"test_cluster_acc_class", "test_cluster_acc_subcat", "test_cluster_purity_class",
                        "test_cluster_purity_subcat", "test_ari_class", "test_ari_subcat", "test_clusters_used"};
    for (int k = 0; k < 7; k++) {
      const double *v = gs_record_find_scalar(&rec, sc[k]);
      cr_assert_not_null(v, "no %s", sc[k]);
      cr_assert(isfinite(*v) && *v >= -1 && (k == 6 ? *v >= 1 && *v <= 3 : *v <= 1), "%s = %g", sc[k], *v);
    }
    cr_assert_float_eq(last(&rec, "test_cluster_acc_class"), *gs_record_find_scalar(&rec, "test_cluster_acc_class"), 0);
    /* at most 3 of the 8 classes matched one-to-one */
    cr_assert_leq(*gs_record_find_scalar(&rec, "test_cluster_acc_class"), 3.0 / 8 + 1e-12);
    const gs_array *counts = array(&rec, "clusters/counts_class", 2, 3, 8, 0);
    double total = 0;
    for (int k = 0; k < 24; k++) total += counts->v[k];
    cr_assert_eq(total, 48);
    const gs_array *comp = array(&rec, "pointclouds/prior_component", 1, (long)cfg_get(&c, "eval.n_samples"), 0, 0);
    for (long k = 0; k < comp->shape[0]; k++) cr_assert_eq(comp->v[k], k % 3);
  }
  if (beta_latent) { /* the binary code reconstructs, worse than the continuous one */
    double bin = last(&rec, "test_chamfer_binary"), gap = *gs_record_find_scalar(&rec, "test_binary_gap");
    cr_assert(isfinite(bin) && bin > 0 && bin < before, "binary-code Chamfer %g (initial %g)", bin, before);
    cr_assert_float_eq(gap, (bin - after) / after, 1e-9);
  }
  /* the exact EMD: at least half the Chamfer sum of its clouds (each direction's mean squared
   * nearest distance is a lower bound), and of the same order */
  const double *emd = gs_record_find_scalar(&rec, "test_emd");
  cr_assert_not_null(emd);
  cr_assert(*emd > 0.3 * after && *emd < 20 * after, "%s: EMD %g, Chamfer %g", model, *emd, after);
  const gs_array *pc = array(&rec, "per_class/test_chamfer", 1, 8, 0, 0);
  double mean = 0;
  for (int k = 0; k < 8; k++) mean += pc->v[k] / 8; /* 6 test clouds of each class */
  cr_assert_float_eq(mean, after, 1e-5);
  /* the arrays: reconstructions of the first 16 test clouds, the inputs as they are */
  const gs_array *in = array(&rec, "pointclouds/recon_input", 3, 16, N, 3);
  const gs_array *out = array(&rec, "pointclouds/recon_output", 3, 16, N, 3);
  for (long k = 0; k < 16L * N * 3; k++) cr_assert_eq(in->v[k], (double)ds.test.points[k]);
  double cd_out;
  float a[N * 3], b2[N * 3];
  for (int k = 0; k < N * 3; k++) a[k] = (float)in->v[k], b2[k] = (float)out->v[k];
  gs_chamfer_naive(a, b2, 1, N, N, &cd_out, NULL, NULL);
  cr_assert_lt(cd_out, 0.4 * before, "the recorded reconstruction is one (CD %g)", cd_out);
  const gs_array *lab = array(&rec, "pointclouds/recon_label", 1, 16, 0, 0);
  for (int k = 0; k < 16; k++) cr_assert_eq(lab->v[k], ds.test.labels[k]);
  const gs_array *ip = array(&rec, "pointclouds/interp", 3, 8, N, 3);
  const gs_array *ii = array(&rec, "pointclouds/interp_index", 1, 2, 0, 0);
  cr_assert_eq(ii->v[0], 0);
  cr_assert_neq(ds.test.labels[(int)ii->v[1]], ds.test.labels[0]);
  /* the interpolation starts at a's reconstruction (recon_output row 0) */
  for (long k = 0; k < N * 3; k++) cr_assert_float_eq(ip->v[k], out->v[k], 1e-5, "interp row 0 at %ld", k);
  const gs_array *hv = array(&rec, "pointclouds/halves", 3, 32, N, 3);
  const gs_array *hi = array(&rec, "pointclouds/halves_index", 2, 8, 2, 0);
  cr_assert(hi->v[0] == 0 && hi->v[1] == 1 && hi->v[14] == 14 && hi->v[15] == 15);
  for (long k = 0; k < 2L * N * 3; k++) cr_assert_float_eq(hv->v[k], out->v[k], 1e-5, "halves rows 0-1 at %ld", k);
  if (vae) {
    const gs_array *pr = array(&rec, "pointclouds/prior", 3, (long)cfg_get(&c, "eval.n_samples"), N, 3);
    (void)pr;
  }
  else
    for (int i = 0; i < rec.narrays; i++) cr_assert_str_neq(rec.arrays[i].name, "pointclouds/prior");
  gs_record_free(&rec);
  gs_optim_free(&opt);
  d->destroy(m);
  gs_dataset_free(&ds);
}

Test(pc_models, pc_ae_training_lowers_the_test_chamfer) { train_and_check("pc_ae"); }
Test(pc_models, pc_vae_training_lowers_the_test_chamfer) { train_and_check("pc_vae"); }
Test(pc_models, pc_vaegm_training_lowers_the_test_chamfer) { train_and_check("pc_vaegm"); }
Test(pc_models, pc_beta_training_lowers_the_test_chamfer) { train_and_check("pc_beta"); }

/* ------------------------------------------------------------------ features */

/* The code / posterior mean: the same bits twice, to rounding when split into other calls, to
 * rounding when a cloud's points come in another order (max over points: a symmetric encoder),
 * and the same as the reconstructions' code (features do not depend on noise). */
Test(pc_models, features_are_deterministic_and_symmetric) {
  enum { N = 32, n = 20, Z = 6 };
  gs_dataset ds;
  shapes_data(&ds, N, 24, 8);
  for (int mi = 0; mi < NMODELS; mi++) {
    gs_config c;
    small_config(&c, models[mi], Z);
    const gs_model_def *d = gs_model_find(models[mi]);
    gs_model *m = make(d, &c, &ds, 2);
    cr_assert_eq(d->feature_dim(m), Z);
    int32_t idx[n];
    for (int k = 0; k < n; k++) idx[k] = (int32_t)(23 - k);
    float all[n * Z], again[n * Z], parts[n * Z], perm[n * Z];
    d->features(m, &ds.train, idx, n, all);
    d->features(m, &ds.train, idx, n, again);
    cr_assert_eq(memcmp(all, again, sizeof all), 0, "%s: two calls differ", d->name);
    d->features(m, &ds.train, idx, 7, parts);
    d->features(m, &ds.train, idx + 7, n - 7, parts + 7 * Z);
    float amax = 0, dmax = 0, pmax = 0;
    int differ = 0;
    for (int k = 0; k < n * Z; k++) {
      cr_assert(isfinite(all[k]));
      amax = fmaxf(amax, fabsf(all[k]));
      dmax = fmaxf(dmax, fabsf(all[k] - parts[k]));
      differ |= all[k] != all[(k + Z) % (n * Z)];
    }
    cr_assert(differ, "%s: every cloud has the same code", d->name);
    cr_assert_leq(dmax, 1e-5f * amax, "%s: split 7 + 13 differs by %g", d->name, dmax);
    /* reverse the points of every training cloud in place: the codes stay */
    float *pts = ds.train.points;
    for (long cl = 0; cl < ds.train.n; cl++)
      for (int i = 0; i < N / 2; i++)
        for (int k = 0; k < 3; k++) {
          float *u = pts + (cl * N + i) * 3 + k, *v = pts + (cl * N + N - 1 - i) * 3 + k, t = *u;
          *u = *v, *v = t;
        }
    d->features(m, &ds.train, idx, n, perm);
    for (int k = 0; k < n * Z; k++) pmax = fmaxf(pmax, fabsf(all[k] - perm[k]));
    cr_assert_leq(pmax, 1e-5f * amax, "%s: reversing the points moved the code by %g", d->name, pmax);
    d->destroy(m);
  }
  gs_dataset_free(&ds);
}

/* ------------------------------------------------------------------ data and keys */

Test(pc_models, images_are_refused) {
  gs_sample_shape images = {.kind = GS_SAMPLES_IMAGES, .dims = {1, 28, 28}, .size = 784, .n_classes = 10};
  gs_sample_shape points = {.kind = GS_SAMPLES_POINTS, .dims = {2048, 3, 1}, .size = 6144, .n_classes = 8};
  gs_sample_shape unlabelled = points;
  unlabelled.n_classes = 0;
  gs_dataset img;
  tiny_data(&img, 12);
  for (int mi = 0; mi < NMODELS; mi++) {
    const gs_model_def *d = gs_model_find(models[mi]);
    cr_assert_not_null(d, "%s is not registered", models[mi]);
    gs_error err = {0};
    cr_assert_neq(gs_data_check(&images, &d->data, d->name, &err), 0, "%s accepts images", d->name);
    char want[128];
    snprintf(want, sizeof want, "%s needs point sets; the data set holds images 1x28x28, 10 classes", d->name);
    cr_assert(strstr(err.msg, want), "%s", err.msg);
    cr_assert_eq(gs_data_check(&points, &d->data, d->name, &err), 0, "%s", err.msg);
    cr_assert_eq(gs_data_check(&unlabelled, &d->data, d->name, &err), 0, "%s: %s", d->name, err.msg);
    /* create() on images directly (past the runner's check) fails too, with the reason */
    gs_config c;
    small_config(&c, d->name, 4);
    gs_rng init;
    gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
    cr_assert_null(d->create(&c, &img, &init, &err));
    cr_assert(strstr(err.msg, "needs point sets"), "%s", err.msg);
  }
  free_data(&img);
}

Test(pc_models, keys_defaults_and_cost) {
  const gs_vocabulary *v = gs_models_vocabulary();
  for (int mi = 0; mi < NMODELS; mi++) {
    const gs_model_def *d = gs_model_find(models[mi]);
    gs_config c;
    gs_config_defaults(&c, v);
    GS_STRCPY(c.model, d->name);
    gs_error err = {0};
    cr_assert_eq(d->validate(&c, &err), 0, "%s", err.msg);
    cfg_set(&c, "pc.interp_steps", 1);
    cr_assert_neq(d->validate(&c, &err), 0);
    cr_assert(strstr(err.msg, "pc.interp_steps = 1"), "%s", err.msg);
    /* the model's own defaults: a 128-d code, Adam */
    const char *const *def = d->defaults;
    int latent = 0, adam = 0;
    for (; def && def[0]; def += 2) {
      latent |= strcmp(def[0], "model.latent_dim") == 0 && strcmp(def[1], "128") == 0;
      adam |= strcmp(def[0], "train.optimizer") == 0 && strcmp(def[1], "adam") == 0;
    }
    cr_assert(latent && adam, "%s", d->name);
    /* the cost follows the points per cloud and the training set */
    gs_config_defaults(&c, v);
    GS_STRCPY(c.model, d->name);
    gs_data_sizes small = {.train = 1000, .test = 200, .h = 1024, .w = 3, .dim = 3072}, big = small, more = small;
    big.h = 2048, big.dim = 6144;
    more.train = 2000;
    double a = d->cost(&c, &small);
    cr_assert(a > 0 && isfinite(a));
    cr_assert_gt(d->cost(&c, &big), 1.8 * a);
    cr_assert_gt(d->cost(&c, &more), 1.5 * a);
  }
}

/* pc_vaegm: C at most 2 Z (the means lie at +-spread on the axes). The later models' keys leave the
 * hashes of pc_ae and pc_vae runs alone: those of a default run on the shapes (pc_vae with
 * pc.kl_weight 3e-5) as computed before pc_vaegm and pc_beta existed. */
Test(pc_models, later_keys_leave_earlier_hashes_alone) {
  const gs_vocabulary *v = gs_models_vocabulary();
  gs_config c;
  gs_config_defaults(&c, v);
  GS_STRCPY(c.model, "pc_vaegm");
  gs_error err = {0};
  cfg_set(&c, "model.latent_dim", 4);
  cfg_set(&c, "pc.components", 8);
  cr_assert_eq(gs_model_find("pc_vaegm")->validate(&c, &err), 0, "%s", err.msg);
  cfg_set(&c, "pc.components", 9);
  cr_assert_neq(gs_model_find("pc_vaegm")->validate(&c, &err), 0);
  cr_assert(strstr(err.msg, "pc.components = 9"), "%s", err.msg);
  const char *names[] = {"pc_ae", "pc_vae"};
  const uint64_t want[] = {0x49462e9de8d16ab1ull, 0x5076cd4160cc23cdull};
  for (int i = 0; i < 2; i++) {
    gs_config_defaults(&c, v);
    GS_STRCPY(c.model, names[i]);
    cr_assert_eq(gs_config_set_text(&c, "data.dataset", "shapes", &err), 0, "%s", err.msg);
    cr_assert_eq(gs_config_set_text(&c, "pc.kl_weight", "3e-5", &err), 0, "%s", err.msg);
    cr_assert_eq(gs_config_hash(&c), want[i], "%s: hash %016llx", names[i], (unsigned long long)gs_config_hash(&c));
  }
}
