/* The VAE's importance-weighted negative log-likelihood (src/models/vae.c, iw_nll; recorded by
 * evaluate as test_iw_nll with eval.iw_samples = k) checked for its value, through the model's
 * public contract only (create, train_step, evaluate, params), on real Fashion-MNIST images:
 *   - it is an upper bound of -log p(x) that tightens with k: at most the -ELBO, and
 *     non-increasing in k (1, 5, 50);
 *   - with k = 1 it is a single-sample estimate of the -ELBO: its mean over many draws equals
 *     the -ELBO within a few standard errors;
 *   - with a 1-D latent, -log p(x) = -log integral N(z; 0, 1) p(x|z) dz is computed here by
 *     quadrature in double, from the decoder's parameters (looked up by name) and the documented
 *     architecture, and the estimate with large k agrees with it per image.
 * The likelihood is the model's: Bernoulli over pixel values in [0, 1] (x / 255, not binarised).
 * Skipped when Fashion-MNIST is not installed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfgkeys.h"
#include "gensweep/models/model.h"
#include "gensweep/nn/optim.h"

#define LOG2PI 1.8378770664093453

static void load(gs_dataset *ds, long train, long test) {
  struct stat st;
  if (stat(GS_FASHION_MNIST_DIR, &st) != 0) cr_skip_test("%s not installed", GS_FASHION_MNIST_DIR);
  gs_data_options o = {.train_size = train, .test_size = test, .val_split = 0.0, .seed = 3};
  gs_error err = {0};
  cr_assert_eq(gs_dataset_load("fashion-mnist", &o, ds, &err), 0, "%s", err.msg);
  cr_assert_eq(ds->test.n, test);
  cr_assert_eq(ds->val.n, 0);
}

/* a small VAE that evaluates only the -ELBO and the IW estimate (no judge, no images) */
static void vae_config(gs_config *c, int latent, int h1, int h2) {
  gs_config_defaults(c, gs_models_vocabulary());
  GS_STRCPY(c->model, "vae");
  cfg_set(c, "model.latent_dim", latent);
  cfg_set(c, "model.hidden1", h1);
  cfg_set(c, "model.hidden2", h2);
  cfg_set(c, "eval.judge", 0);
  cfg_set(c, "eval.n_samples", 0);
  cfg_set(c, "eval.n_recon", 0);
  cfg_set(c, "eval.manifold_n", 0);
  cfg_set(c, "eval.iw_test_size", 0);
  c->seed = 1;
}

/* a model of c (which it keeps a pointer to) with k importance samples; params copied from `from`
 * when given, else initialised from seed 1 */
static gs_model *vae_new(gs_config *c, const gs_dataset *ds, long k, gs_model *from) {
  const gs_model_def *d = gs_model_find("vae");
  cr_assert_not_null(d);
  cfg_set(c, "eval.iw_samples", k); /* read once, at create */
  gs_rng init;
  gs_rng_seed(&init, 1, 0, GS_RNG_INIT);
  gs_error err = {0};
  gs_model *m = d->create(c, ds, &init, &err);
  cr_assert_not_null(m, "%s", err.msg);
  if (from) {
    gs_params *p = d->params(m), *q = d->params(from);
    cr_assert_eq(p->total, q->total);
    memcpy(p->data, q->data, sizeof(float) * p->total);
  }
  return m;
}

/* epochs of Adam over tr in batches of 100 */
static void vae_train(gs_model *m, const gs_imageset *tr, int epochs) {
  const gs_model_def *d = gs_model_find("vae");
  gs_params *p = d->params(m);
  gs_optim opt;
  gs_optim_init(&opt, GS_OPT_ADAM, p->total, 1e-3f);
  gs_rng shuf, noise;
  gs_rng_seed(&shuf, 1, 0, GS_RNG_SHUFFLE);
  gs_rng_seed(&noise, 1, 0, GS_RNG_NOISE);
  const int B = 100;
  int32_t *perm = malloc(sizeof(int32_t) * tr->n);
  for (long i = 0; i < tr->n; i++) perm[i] = (int32_t)i;
  for (int ep = 0; ep < epochs; ep++) {
    gs_rng_shuffle(&shuf, perm, tr->n);
    for (long s = 0; s + B <= tr->n; s += B) {
      d->train_step(m, &(gs_batch){tr, perm + s, B, 0, B, NULL}, 0, &noise, NULL);
      gs_optim_step(&opt, p->data, p->grad);
    }
  }
  free(perm);
  gs_optim_free(&opt);
}

/* One final evaluation with the evaluation noise of seed: the test set's mean single-sample
 * -ELBO and mean IW estimate (the model's k). */
static void vae_eval(gs_model *m, gs_config *c, const gs_dataset *ds, long seed, double *neg_elbo, double *iw) {
  const gs_model_def *d = gs_model_find("vae");
  c->seed = seed; /* the model reads its configuration's seed at each evaluation */
  gs_record rec;
  gs_record_init(&rec, "t", "vae", 0);
  gs_error err = {0};
  cr_assert_eq(d->evaluate(m, ds, &(gs_when){1, 1, 1}, &rec, &err), 0, "%s", err.msg);
  const double *e = gs_record_find_scalar(&rec, "test_neg_elbo"), *w = gs_record_find_scalar(&rec, "test_iw_nll");
  cr_assert(e && w, "evaluate recorded no test_neg_elbo or test_iw_nll");
  *neg_elbo = *e;
  *iw = *w;
  gs_record_free(&rec);
}

static void mean_se(const double *v, int n, double *mean, double *se) {
  double s = 0, ss = 0;
  for (int i = 0; i < n; i++) s += v[i];
  *mean = s / n;
  for (int i = 0; i < n; i++) ss += (v[i] - *mean) * (v[i] - *mean);
  *se = sqrt(ss / (n - 1) / n);
}

/* ------------------------------------------------------------------ bounds */
/* A VAE with an 8-D latent trained 3 epochs on 3,000 images, its IW estimate over 300 test
 * images. Measured: -ELBO 310.0, IW 310.4 (k = 1), 303.3 (k = 5), 300.5 (k = 50). */
enum { NK = 3, SEEDS_A = 4, SEEDS_B = 40, LATENT = 8, H1 = 128, H2 = 64 };

static gs_model *trained_vae(gs_config *c, gs_dataset *ds) {
  load(ds, 3000, 300);
  vae_config(c, LATENT, H1, H2);
  gs_model *m = vae_new(c, ds, 1, NULL);
  vae_train(m, &ds->train, 3);
  return m;
}

/* IW(k) <= -ELBO for k = 1, 5, 50 and IW(1) >= IW(5) >= IW(50), as means over SEEDS_A
 * evaluation draws each (the -ELBO's over all of them). IW(1) estimates the -ELBO itself and
 * each mean has its noise, so each comparison allows 3 standard errors of the difference. The
 * gain from k = 1 to 50 must be real (over 2 nats; a mean of log weights instead of their
 * log-sum-exp has none). */
Test(iw_nll, bounded_by_the_elbo_and_tightening_with_k) {
  gs_dataset ds;
  gs_config c;
  gs_model *base = trained_vae(&c, &ds);
  const long ks[NK] = {1, 5, 50};
  double iw[NK][SEEDS_A], elbo[NK * SEEDS_A];
  for (int a = 0; a < NK; a++) {
    gs_config ck;
    vae_config(&ck, LATENT, H1, H2);
    gs_model *m = vae_new(&ck, &ds, ks[a], base);
    for (int s = 0; s < SEEDS_A; s++) vae_eval(m, &ck, &ds, 100 + s, &elbo[a * SEEDS_A + s], &iw[a][s]);
    gs_model_find("vae")->destroy(m);
  }
  double e, ese, mk[NK], sek[NK];
  mean_se(elbo, NK * SEEDS_A, &e, &ese);
  for (int a = 0; a < NK; a++) {
    mean_se(iw[a], SEEDS_A, &mk[a], &sek[a]);
    cr_log_info("k = %ld: IW NLL %.3f +- %.3f; -ELBO %.3f +- %.3f", ks[a], mk[a], sek[a], e, ese);
    double tol = 3 * hypot(sek[a], ese);
    cr_assert_leq(mk[a], e + tol, "k = %ld: IW estimate %.3f above the -ELBO %.3f (+ %.3f)", ks[a], mk[a], e, tol);
    if (a > 0) {
      tol = 3 * hypot(sek[a], sek[a - 1]);
      cr_assert_leq(mk[a], mk[a - 1] + tol, "IW estimate %.3f at k = %ld, %.3f at k = %ld", mk[a], ks[a], mk[a - 1],
                    ks[a - 1]);
    }
  }
  cr_assert_lt(mk[NK - 1], mk[0] - 2.0, "k = %ld gains only %.3f nats over k = 1", ks[NK - 1], mk[0] - mk[NK - 1]);
  gs_model_find("vae")->destroy(base);
  gs_dataset_free(&ds);
}

/* k = 1: log p(x|z) + log p(z) - log q(z|x) at one z ~ q, whose expectation is the ELBO (the
 * model's -ELBO draws the reconstruction term at one z and takes the KL in closed form: the same
 * expectation). Over SEEDS_B draws each the means agree within 4 standard errors of their
 * difference (measured: 0.11 +- 0.13 nat), and that standard error is small enough (< 0.3 nat)
 * for the check to mean something. */
Test(iw_nll, one_sample_is_the_elbo_in_expectation) {
  gs_dataset ds;
  gs_config c;
  gs_model *m = trained_vae(&c, &ds);
  double iw[SEEDS_B], elbo[SEEDS_B], diff[SEEDS_B];
  for (int s = 0; s < SEEDS_B; s++) {
    vae_eval(m, &c, &ds, 1000 + s, &elbo[s], &iw[s]);
    diff[s] = iw[s] - elbo[s];
  }
  double mi, sei, me, see, md, sed;
  mean_se(iw, SEEDS_B, &mi, &sei);
  mean_se(elbo, SEEDS_B, &me, &see);
  mean_se(diff, SEEDS_B, &md, &sed);
  cr_log_info("k = 1: IW %.3f +- %.3f, -ELBO %.3f +- %.3f, difference %.3f +- %.3f", mi, sei, me, see, md, sed);
  cr_assert_lt(sed, 0.3, "standard error %.3f: too few draws to tell", sed);
  cr_assert_leq(fabs(md), 4 * sed, "k = 1: IW estimate %.3f, -ELBO %.3f: %.3f +- %.3f apart", mi, me, md, sed);
  gs_model_find("vae")->destroy(m);
  gs_dataset_free(&ds);
}

/* ------------------------------------------------------------------ 1-D latent: quadrature */
/* -log p(x) of the n images x (n x D, values in [0, 1]) under the decoder of m (latent_dim 1, no
 * labels), by the trapezoidal rule in log space over a grid on [lo, hi]:
 *   log p(x) = log int N(z; 0, 1) exp(sum_j x_j l_j(z) - softplus(l_j(z))) dz,
 *   l(z) = W3' relu(W2' relu(W1' z + b1) + b2) + b3   (dec1, dec2, dec3; gs_dense is x w + b).
 * logf (n x npts, may be NULL) receives the log integrand at the grid points. */
static void quadrature(gs_model *m, const float *x, int n, double lo, double hi, int npts, double *nll, double *logf) {
  gs_params *p = gs_model_find("vae")->params(m);
  gs_tensor *w1 = gs_params_get(p, "dec1.w"), *b1 = gs_params_get(p, "dec1.b"), *w2 = gs_params_get(p, "dec2.w"),
            *b2 = gs_params_get(p, "dec2.b"), *w3 = gs_params_get(p, "dec3.w"), *b3 = gs_params_get(p, "dec3.b");
  cr_assert(w1 && b1 && w2 && b2 && w3 && b3, "the decoder's parameters are not named dec1..3.w/b");
  cr_assert_eq(w1->shape[0], 1, "latent_dim is not 1");
  int H2 = w1->shape[1], H1 = w2->shape[1], D = w3->shape[1];
  cr_assert(w2->shape[0] == H2 && w3->shape[0] == H1 && b3->n == D);
  double *h2 = malloc(sizeof(double) * H2), *h1 = malloc(sizeof(double) * H1), *l = malloc(sizeof(double) * D);
  double *lf = logf ? logf : malloc(sizeof(double) * n * npts);
  double step = (hi - lo) / (npts - 1);
  for (int t = 0; t < npts; t++) {
    double z = lo + step * t;
    for (int a = 0; a < H2; a++) h2[a] = fmax(0.0, z * w1->x[a] + b1->x[a]);
    for (int b = 0; b < H1; b++) h1[b] = b2->x[b];
    for (int a = 0; a < H2; a++)
      for (int b = 0; b < H1; b++) h1[b] += h2[a] * w2->x[(long)a * H1 + b];
    for (int b = 0; b < H1; b++) h1[b] = fmax(0.0, h1[b]);
    for (int j = 0; j < D; j++) l[j] = b3->x[j];
    for (int b = 0; b < H1; b++)
      for (int j = 0; j < D; j++) l[j] += h1[b] * w3->x[(long)b * D + j];
    double sp = 0; /* sum of softplus(l): the same for every image */
    for (int j = 0; j < D; j++) sp += fmax(l[j], 0.0) + log1p(exp(-fabs(l[j])));
    double lp = -0.5 * (z * z + LOG2PI);
    for (int i = 0; i < n; i++) {
      double xl = 0;
      for (int j = 0; j < D; j++) xl += x[(long)i * D + j] * l[j];
      lf[(long)i * npts + t] = lp + xl - sp;
    }
  }
  for (int i = 0; i < n; i++) { /* trapezoid: log(step * (sum f - (f_0 + f_last) / 2)) */
    const double *f = lf + (long)i * npts;
    double mx = -INFINITY, s = 0;
    for (int t = 0; t < npts; t++) mx = fmax(mx, f[t]);
    for (int t = 0; t < npts; t++) s += exp(f[t] - mx) * (t == 0 || t == npts - 1 ? 0.5 : 1.0);
    nll[i] = -(mx + log(s * step));
  }
  if (!logf) free(lf);
  free(h2), free(h1), free(l);
}

enum { NI = 8, K_QUAD = 5000, SEEDS_C = 20 };

/* A model with a 1-D latent, trained briefly, on NI test images:
 *   - the quadrature is converged (two resolutions and the whole range agree) and the ends of
 *     [-10, 10] carry no mass;
 *   - with the proposal q(z|x) set to N(posterior mean, (1.5 posterior sd)^2) (the encoder's
 *     output layer: weights 0, biases set, one image at a time), the IW estimate with k = 5000
 *     equals -log p(x) per image within 0.01 + 4 sd nat. sd is its Monte-Carlo sd, sqrt(r / k)
 *     with r = int p(z|x)^2 / q(z) dz - 1 over q's reach (|z - mean| < 5 sd_q; the posterior
 *     mass beyond, which the draws miss, is asserted below 1e-3: at most 0.001 nat), computed
 *     on the grid: 0.006 nat for a unimodal posterior (r = 0.20), 0.034 for a bimodal one here.
 *     0.01 nat covers the float arithmetic of 784 pixel terms (a few thousandths measured). A wrong term moves the
 *     estimate by far more: log k = 8.5 nats, q's log-variance 0.3 to 1.5 nats here, a mean of log
 *     weights in place of their log-sum-exp the ELBO gap;
 *   - with the model's own encoder, the IW estimate is an upper bound: at least -log p(x) (less
 *     the tolerance), at most the -ELBO (mean of SEEDS_C draws), which is at least -log p(x).
 *     The trained encoder misses the posterior of some images entirely (its mean on the other
 *     side of z = 0), so there the estimate stays well above -log p(x) even at k = 5000:
 *     agreement is not asked of it. */
#define MC_SD_MAX 0.05

static gs_model *copy_with_k(gs_config *c, const gs_dataset *ds, gs_model *from, long k) {
  vae_config(c, 1, 64, 32);
  return vae_new(c, ds, k, from);
}

Test(iw_nll, agrees_with_quadrature_for_a_1d_latent) {
  gs_dataset ds;
  load(&ds, 3000, NI);
  gs_config c;
  vae_config(&c, 1, 64, 32);
  gs_model *base = vae_new(&c, &ds, 1, NULL);
  vae_train(base, &ds.train, 3);
  int D = (int)ds.test.dim;
  float *x = malloc(sizeof(float) * NI * D);
  int32_t idx[NI];
  for (int i = 0; i < NI; i++) idx[i] = i;
  gs_imageset_batch(&ds.test, idx, NI, x, NULL);

  /* a pass over [-10, 10]: the ends carry nothing; then the region within 40 nats of the
   * maximum at two resolutions */
  const double LO = -10, HI = 10;
  const int N1 = 4001, N2 = 4001;
  double *lf = malloc(sizeof(double) * NI * N1), *lf2 = malloc(sizeof(double) * N2), wide[NI], fine[NI], half[NI];
  double pm[NI], ps[NI], mc_sd[NI];
  quadrature(base, x, NI, LO, HI, N1, wide, lf);
  for (int i = 0; i < NI; i++) {
    const double *f = lf + (long)i * N1;
    double mx = -INFINITY, step = (HI - LO) / (N1 - 1);
    for (int t = 0; t < N1; t++) mx = fmax(mx, f[t]);
    cr_assert_lt(f[0], mx - 30, "image %d: the integrand at z = %g is not negligible", i, LO);
    cr_assert_lt(f[N1 - 1], mx - 30, "image %d: the integrand at z = %g is not negligible", i, HI);
    int a = 0, b = N1 - 1;
    while (f[a] < mx - 40) a++;
    while (f[b] < mx - 40) b--;
    double za = LO + step * (a > 2 ? a - 2 : 0), zb = LO + step * (b + 2 < N1 ? b + 2 : N1 - 1);
    quadrature(base, x + (long)i * D, 1, za, zb, N2, &fine[i], lf2);
    quadrature(base, x + (long)i * D, 1, za, zb, (N2 + 1) / 2, &half[i], NULL);
    cr_assert_float_eq(fine[i], half[i], 1e-3, "image %d: quadrature not converged (%.5f, %.5f)", i, fine[i], half[i]);
    cr_assert_float_eq(fine[i], wide[i], 1e-3, "image %d: quadrature not converged (%.5f, %.5f)", i, fine[i], wide[i]);
    /* the posterior's moments, and the Monte-Carlo sd of the estimate with the proposal below */
    double h = (zb - za) / (N2 - 1), m2 = -INFINITY, s = 0, s1 = 0, s2 = 0;
    for (int t = 0; t < N2; t++) m2 = fmax(m2, lf2[t]);
    for (int t = 0; t < N2; t++) {
      double w = exp(lf2[t] - m2), z = za + h * t;
      s += w, s1 += w * z, s2 += w * z * z;
    }
    pm[i] = s1 / s;
    ps[i] = sqrt(s2 / s - pm[i] * pm[i]);
    /* q's reach: |z - mean| < 5 sd_q (k = 5000 draws land outside with probability 0.3 %) */
    double sq = 1.5 * ps[i], r = -1, out = 0;
    for (int t = 0; t < N2; t++) {
      double z = za + h * t, post = exp(lf2[t] - m2) / (s * h), u = (z - pm[i]) / sq;
      double q = exp(-0.5 * u * u) / (sq * sqrt(2 * M_PI));
      if (fabs(u) < 5) r += post * post / q * h;
      else out += post * h;
    }
    mc_sd[i] = sqrt(r / K_QUAD);
    cr_assert_lt(out, 1e-3, "image %d: posterior mass %g beyond the proposal's reach", i, out); /* < 0.001 nat */
    cr_assert_lt(mc_sd[i], MC_SD_MAX, "image %d: the proposal is too poor for the tolerance (sd %.4f)", i, mc_sd[i]);
  }

  /* the IW estimate of each image alone (a test set of one), with the proposal set and with the
   * model's own encoder */
  gs_config cq, co;
  gs_model *mq = copy_with_k(&cq, &ds, base, K_QUAD), *mo = copy_with_k(&co, &ds, base, K_QUAD);
  gs_params *p = gs_model_find("vae")->params(mq);
  gs_tensor *mw = gs_params_get(p, "enc_mu.w"), *mb = gs_params_get(p, "enc_mu.b");
  gs_tensor *lw = gs_params_get(p, "enc_logvar.w"), *lb = gs_params_get(p, "enc_logvar.b");
  cr_assert(mw && mb && lw && lb && mb->n == 1 && lb->n == 1);
  memset(mw->x, 0, sizeof(float) * mw->n);
  memset(lw->x, 0, sizeof(float) * lw->n);
  double sum_quad = 0, sum_own = 0;
  for (int i = 0; i < NI; i++) {
    gs_dataset one = ds;
    one.test.n = 1;
    one.test.pix = ds.test.pix + (long)i * D;
    one.test.labels = ds.test.labels + i;
    mb->x[0] = (float)pm[i];
    lb->x[0] = (float)log(2.25 * ps[i] * ps[i]);
    double e, iw_set, iw_own;
    vae_eval(mq, &cq, &one, 7, &e, &iw_set);
    vae_eval(mo, &co, &one, 7, &e, &iw_own);
    cr_log_info("image %d: posterior %.3f +- %.3f; -log p(x) %.4f by quadrature, IW (k = %d) %.4f with q set "
                "(MC sd %.4f), %.4f with the encoder", i, pm[i], ps[i], fine[i], K_QUAD, iw_set, mc_sd[i], iw_own);
    double tol = 0.01 + 4 * mc_sd[i];
    cr_assert_float_eq(iw_set, fine[i], tol, "image %d: IW estimate %.4f, quadrature %.4f (tolerance %.3f)", i, iw_set,
                       fine[i], tol);
    cr_assert_geq(iw_own, fine[i] - tol, "image %d: IW estimate %.4f below -log p(x) = %.4f", i, iw_own, fine[i]);
    sum_quad += fine[i];
    sum_own += iw_own;
  }
  /* the -ELBO of the NI images with the model's encoder, over SEEDS_C evaluation draws */
  double elbo[SEEDS_C], me, se, iw;
  for (int s = 0; s < SEEDS_C; s++) vae_eval(base, &c, &ds, 300 + s, &elbo[s], &iw);
  mean_se(elbo, SEEDS_C, &me, &se);
  cr_log_info("mean over %d images: quadrature %.3f, IW (encoder) %.3f, -ELBO %.3f +- %.3f", NI, sum_quad / NI,
              sum_own / NI, me, se);
  cr_assert_geq(me, sum_quad / NI - 3 * se, "-ELBO %.3f below -log p(x) = %.3f", me, sum_quad / NI);
  cr_assert_leq(sum_own / NI, me + 3 * se, "IW estimate %.3f above the -ELBO %.3f", sum_own / NI, me);
  gs_model_find("vae")->destroy(mq);
  gs_model_find("vae")->destroy(mo);
  free(x);
  free(lf);
  free(lf2);
  gs_model_find("vae")->destroy(base);
  gs_dataset_free(&ds);
}
