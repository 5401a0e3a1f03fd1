/* Point-cloud autoencoders and VAEs (SCIENCE.md §3, issue 12 point 3; Achlioptas et al. 2018, "Learning
 * Representations and Generative Models for 3D Point Clouds").
 *
 * A cloud x is N points (x y z); B clouds are one (B*N, 3) tensor, cloud b in rows [b*N, (b+1)*N)
 * (nn/pointcloud.h). Shape letters: B clouds, N points, E1..E4 encoder widths, D1, D2 decoder
 * widths, Z code.
 *
 *   encoder  per point, the same weights for every point (one sgemm over B*N rows):
 *              3 -> dense E1 -> ReLU -> E2 -> ReLU -> E3 -> ReLU -> E4 -> ReLU        (pc.enc1..4:
 *              64-128-128-256), then a head: dense E4 -> Z, linear, and the max over the cloud's
 *              points (gs_max_points): the encoder is a symmetric function of the points.
 *            pc_ae:  one head -> the code z (Z = model.latent_dim, 128)
 *            pc_vae: two heads -> mu and logvar of q(z|x) = N(mu, diag exp(logvar))
 *            No ReLU before the max (the paper's has one): max_i relu(.) = relu(max_i .), so it
 *            would only clip the code at 0, and a code unit that is negative on every cloud
 *            would get no gradient again; the max over points is already the nonlinearity.
 *   decoder  z -> dense D1 -> ReLU -> dense D2 -> ReLU -> dense N*3 (pc.dec1, dec2: 256, 256)
 *   pc_ae    loss per cloud = CD(x, decoder(z)), the Chamfer distance (gs_chamfer: squared
 *            distances, each direction a mean over its points)
 *   pc_vae   z = mu + exp(logvar/2) * eps, eps ~ N(0, I);
 *            loss per cloud = CD(x, decoder(z)) + beta * KL(q(z|x) || N(0, I)),  beta = pc.kl_weight
 *   pc_vaegm the pc_vae networks and a third pooled head, q(y|x) = softmax(dense E4 -> C on the
 *            max over points of the E4 features) (pc.components C, default 8);
 *            prior p(y) = 1/C, p(z|y) = N(mu_y, I);  q(z|x, y) = N(mu_y + mu(x), diag exp(logvar(x)));
 *            o = mu + exp(logvar/2) * eps, one eps per cloud, z_y = mu_y + o for every y;
 *            loss per cloud = sum_y q(y|x) CD(x, decoder(z_y))
 *                             + beta * [ KL(N(mu, sigma^2) || N(0, I)) + KL(q(y|x) || Uniform(C)) ]
 *                             + lambda * KL(qbar || Uniform(C))     (lambda = pc.balance_weight, 0.1)
 *            the ELBO summed over y exactly (C decodes per cloud) plus a balance term;
 *            sum_y q(y|x) KL(q(z|x,y) || p(z|y)) is the first KL for every y, because q(z|x, y) is
 *            p(z|y)'s mean shifted by mu(x).
 *            The balance term: qbar(y) is the mean of q(y|x) over the training batch (the global
 *            batch: row sums added over the worker group; balance_term). Why it is there: averaged
 *            over the data, the ELBO's categorical KL splits in two, E_x KL(q(y|x) || 1/C) =
 *            I(x; y) + KL(qbar || 1/C), the mutual information of cloud and component under q plus
 *            the aggregate posterior's distance from the prior's weights. A confident q(y|x) that
 *            sends every cloud to one component pays 0 + log C; one that spreads the clouds evenly
 *            pays log C + 0: the ELBO cannot tell collapse from clustering (and beta log C, 2e-4 at
 *            beta 1e-4, is nothing beside the Chamfer term anyway). Nothing else in the loss cares:
 *            the z-KL is the same for every y, and the component that reconstructs a little better
 *            early gets every cloud's gradient, improves, and takes every cloud. Measured on
 *            tests/e2e/test_pointcloud_gm.sh's set (768 clouds of 128 points, Z = 16, 15 epochs,
 *            beta 1e-4): without the term test_clusters_used is 1 from the first epoch, class
 *            accuracy 1/8, ARI 0; the batch's largest qbar(y) goes 0.14, 0.19 (epoch 4), 0.56 (6),
 *            0.98 (9), 1.00, and the gradient norm reaching the q(y|x) head's weights falls with it,
 *            1.7e-3 at the first step to 4e-5 (a saturated softmax: the collapse is absorbing); with
 *            the term the largest qbar(y) stays at 0.13-0.15 and that gradient grows to 0.6-2.5e-2 in
 *            the last epochs. Weighing KL(qbar || 1/C) apart, on the Chamfer term's scale
 *            (lambda log C = 0.2 against a CD of 0.03-0.1), makes unbalanced use of the components
 *            expensive and leaves each q(y|x) free to be confident; which clouds share a component
 *            is then up to the decoder, to which mu_y + o gives each component its own first-layer
 *            bias, so clouds of one shape gain by sharing one. Not a larger weight on the per-cloud
 *            KL(q(y|x) || 1/C) instead: that pushes every q(y|x) towards uniform, which balances
 *            nothing (the argmax of a near-uniform q is noise). Measured on the same set (final
 *            test class accuracy / clusters used / ARI against the classes, train.seed 1):
 *            lambda 0: 0.125 / 1 / 0;  0.01: 0.375 / 7 / 0.12;  0.1: 0.41 / 7 / 0.14 (seeds 2, 3:
 *            0.375 / 7, 0.365 / 6);  1: 0.43 / 7 / 0.16. Test Chamfer 0.024 at 0, 0.028 at 0.1.
 *            Choices. The means mu_y are fixed, +-pc.component_spread (3) along the code's axes
 *            (y < Z: +3 e_y, then -3 e_(y-Z); so C <= 2Z): learned means in an equal-weight mixture
 *            have nothing holding them apart (the KL pulls each mean to the codes it explains, the
 *            Chamfer term does not care where they sit), and fixed ones at distance 3 sqrt 2 from
 *            each other keep the components separate under unit variances. q(z|x, y) as a shift of
 *            the component's mean by one encoder output: a head conditioned on a one-hot y through a
 *            linear layer before the max would be the same thing (a per-y constant commutes with the
 *            max over points); sharing mu(x) across y means a cloud's position within its component
 *            is one code, and the components compete only through the decoder's reconstructions,
 *            on common noise. C = 8 = the shapes' classes: the one-to-one matching against the
 *            classes is then a plain accuracy, and the cost is C decodes and Chamfer distances per
 *            cloud (a few per cent of pc_vae's per-cloud multiply-adds each, so an estimated
 *            1.2-1.4x pc_vae's step at C = 8, not measured); pc.components = 19 asks the
 *            sub-category question directly.
 *   pc_beta  two heads -> a, b of q(z|x) = prod_j Kumaraswamy(a_j, b_j), a = exp(5 tanh(head/5))
 *            (smooth, in [0.0067, 148], 1 at a zero head: q starts uniform);
 *            z = (1 - u^(1/b))^(1/a), u ~ U(0, 1];  prior z_j ~ Beta(pc.beta_a, pc.beta_b) (0.01, 0.01);
 *            loss per cloud = CD(x, decoder(z)) + beta * KL(q(z|x) || prior)   (nn/latent.h)
 *            Why Kumaraswamy and not a Beta posterior with implicit reparameterisation: its inverse
 *            CDF is closed-form, so the sample and its gradient are two lines and exact, where a
 *            Beta sample's gradient needs the derivative of the incomplete beta function in its
 *            parameters; and its KL to a Beta prior is closed-form too (Nalisnick & Smyth 2017)
 *            but for one term, -E[log(1 - z)] = sum_m (b/m) B(1 + m/a, b). Its terms fall like
 *            m^-(1+b): the paper's 10 terms lose most of it when b is small, the codes near 1
 *            that a Beta(0.01, 0.01) prior asks for, so the series is summed to M >= 2a(1 + b)
 *            terms and an expansion of the rest (unit_latent checks it against closed forms and
 *            a Monte Carlo KL).
 *            Binary code: the posterior mean b B(1 + 1/a, b) rounded to {0, 1} at 0.5.
 * Xavier (Glorot uniform) weights, zero biases.
 *
 * How the Chamfer term is weighed against the KL. The Chamfer distance is not a log-likelihood,
 * so the ELBO needs a scale for it. Read loss / beta = CD / beta + KL: a negative ELBO in nats
 * for the pseudo-likelihood p(x|z) ∝ exp(-CD(x, decoder(z)) / beta), beta a temperature in the
 * Chamfer distance's units (squared lengths; the clouds fit the unit sphere). Were every point
 * Gaussian with variance s^2 per coordinate about its nearest reconstructed point, one direction
 * of the Chamfer sum would give -log p = N * CD_one_way / (2 s^2), i.e. beta ~ 2 s^2 / N: beta
 * says how many nats of code one unit of Chamfer distance is worth, and because CD is a mean over
 * points it does not change with N (CD's sampling floor does: the mean squared nearest-neighbour
 * distance of N points on a surface falls like 1/N, so at smaller N one beta weighs the KL less).
 * Default 1e-5, measured on the shapes (1,920 training and 384 test clouds, Z = 128, batch 32,
 * Adam 5e-4; test CD of the reconstruction from mu / from one z ~ q, KL in nats):
 *   N = 2048, 12 epochs:  beta 1e-5: 0.0032 / 0.0040, KL 145;  3e-5: 0.0094 / 0.0051, KL 64
 *   N = 512, 20 epochs:   1e-5: 0.0061 / 0.0066, KL 169;  3e-5: 0.0081 / 0.0078, KL 72;
 *                         1e-4: 0.020 / 0.0097, KL 25;    1e-3: 0.098 / 0.015, KL 5
 *   (pc_ae: 0.0022 at N = 2048 after 12 epochs, 0.0055 at N = 512 after 15)
 * A larger beta made the prior samples no closer to the test shapes (mean CD of 64 samples to their
 * nearest test cloud: 0.0061 at 1e-5, 0.0069 at 3e-5 (N = 2048); 0.0127 to 0.0136 at every beta
 * from 1e-5 to 1e-3 (N = 512)), while reconstructions got worse, and from mu worse than from a sample: a code
 * unit left at the prior feeds the decoder N(0, 1) noise in training, so z = mu, 0 in that unit,
 * is off the decoder's training distribution (at 1e-3 most units are). In the Gaussian reading,
 * 1e-5 at N = 2048 is s = 0.10, about the spacing of 2048 points on the unit sphere
 * (sqrt(4 pi / 2048) = 0.08): errors below the sampling resolution cost little.
 *
 * Evaluation (every epoch, test set; val_ too when there is a validation split):
 *   test_chamfer   mean CD of the reconstruction from the code (pc_ae), from z = mu (pc_vae),
 *                  mu_y + mu with y = argmax q(y|x) (pc_vaegm), the posterior mean (pc_beta)
 *   pc_vae also    test_rec (the ELBO's CD term: one z ~ q(z|x), the same evaluation noise every
 *                  epoch), test_kl (nats), test_loss = test_rec + beta * test_kl (the trained
 *                  objective: the "ELBO-like total", beta times the pseudo-likelihood's -ELBO);
 *                  the same for pc_vaegm and pc_beta with their own terms (pc_vaegm's without
 *                  the balance term, a statistic of a training batch: train_balance_kl is
 *                  KL(qbar || 1/C) averaged over the epoch's batches)
 *   pc_vaegm also  test_cluster_acc_class: argmax q(y|x) against the classes, one-to-one;
 *                  test_clusters_used: components that are the argmax of some test cloud
 *   pc_beta also   test_chamfer_binary: the CD from the binary code
 * Final evaluation, pc_vaegm: test_cluster_acc_subcat, test_cluster_purity_class / _subcat,
 *   test_ari_class / _subcat, test_clusters_used, clusters/counts_class [C, classes]
 *   (record_clusters says how clusters are matched); pc_beta: test_binary_gap =
 *   (test_chamfer_binary - test_chamfer) / test_chamfer, and test_code_near_binary: the fraction
 *   of code units (posterior means) within 0.1 of 0 or 1; pc_vaegm: test_qy_confidence, the mean
 *   over the test clouds of max_y q(y|x) (1/C: no preference; 1: certain).
 * Final evaluation, besides those as scalars:
 *   test_emd       mean exact EMD (gs_emd_exact: the optimal assignment, mean squared distance
 *                  moved, Chamfer units) between the first pc.emd_clouds test clouds and their
 *                  reconstructions. Exact rather than the Sinkhorn estimate (1-3 % off): it took
 *                  1-3.4 s per 2048-point reconstruction here (loaded machine), under a minute for
 *                  the default 16 once per run. EMD sees what Chamfer does not, how evenly the
 *                  points spread: pc_ae at N = 2048 (12 epochs) had CD 0.0022 but EMD 0.033 on 8
 *                  clouds, pc_vae (beta 1e-5) CD 0.0032, EMD 0.0099. emd_seconds: its time.
 *   test_critical_points  the mean number of critical points per test cloud (of pc.points): the
 *                  points at which some max over points of the encoder is attained, the only ones
 *                  a training step's encoder sees under pc.sparse_backward (below)
 *   test_coverage, test_mmd  (the VAEs) the point-cloud GAN literature's measures of a sample
 *                  (Achlioptas et al. 2018), by Chamfer distance, between 128 clouds decoded from
 *                  prior samples (pc_vaegm: components in turn) and the first 128 test clouds
 *                  (fewer if the test set is smaller): MMD, the mean distance of a test cloud to
 *                  its nearest generated one (lower: the samples come close to every test shape);
 *                  coverage, the fraction of test clouds that are the nearest of some generated
 *                  one (higher: the samples spread over the shapes). coverage_seconds: its time
 *                  (128 x 128 distances).
 *   arrays (float64, what the renderer draws; clouds are [n, N, 3]):
 *     per_class/test_chamfer     [C]  mean test_chamfer of each class (labelled data)
 *     pointclouds/recon_input    [n, N, 3]  the first eval.n_recon test clouds
 *     pointclouds/recon_output   [n, N, 3]  their reconstructions (from the code / mu)
 *     pointclouds/recon_label    [n]        their classes
 *     pointclouds/prior          [eval.n_samples, N, 3]  pc_vae: decoded z ~ N(0, I); pc_vaegm:
 *                                sample i from component i mod C (pointclouds/prior_component);
 *                                pc_beta: z ~ Beta
 *     pointclouds/interp         [pc.interp_steps, N, 3]  decoded (1 - t) z_a + t z_b,
 *                                t = k / (steps - 1): row 0 reconstructs a, the last row b
 *     pointclouds/interp_index   [2]  the test clouds a, b: test cloud 0 and the first test
 *                                cloud of another class
 *     pointclouds/halves         [4 * pc.halves, N, 3]  pair p of test clouds (a, b) =
 *                                (2p, 2p+1): rows 4p, 4p+1 decode z_a, z_b; 4p+2 decodes
 *                                (first half of z_a | second half of z_b), 4p+3 (first half of
 *                                z_b | second half of z_a); the first half is floor(Z/2) units
 *     pointclouds/halves_index   [pc.halves, 2]  (a, b) of each pair
 *   (codes are the AE's code or the VAE's posterior mean)
 * features(): the code (pc_ae) or the posterior mean (pc_vae).
 *
 * Critical points (pc.sparse_backward = 1, the default). The encoder pools every feature with a
 * max over the cloud's points, so the loss depends on a point only through the features it holds
 * a max of; every other point's gradient is exactly zero, through every per-point layer. A step
 * first runs the encoder forward without the tape, a few clouds at a time in cache, to find each
 * cloud's critical points (gs_critical_points: the argmax of every pooled feature, first on
 * ties), then runs the taped encoder on those points only (gs_max_segments pools them) and the
 * backward on them: the dense step's loss and gradient, up to float rounding
 * (tests/unit/test_pointcloud_models.c, sparse_backward_gives_the_dense_gradient), for one dense
 * forward plus a forward and backward of a fraction of the points: 68.6 of 512 per pc_ae test
 * cloud after 3 epochs (test_critical_points; at most Z per head plus, for pc_vaegm, E4, whatever
 * N is). pc.sparse_backward = 0 is the dense reference (tape and backward over every point).
 * Speed (Release, one OpenBLAS thread, batch 32, pc_ae, 640 clouds, the same machine and load,
 * side by side): N = 512, 567-659 clouds/s sparse against 237-274 dense.
 * Dense, N = 2048 (CPU time on the loaded 2-core development machine): pc_ae 47-55 clouds/s,
 * pc_vae 35-45 (its second head adds a third to the per-point work). A cloud is ~1.1 GFLOP
 * forward and backward (per point 3-64-128-128-256-128: 90k multiply-adds; the decoder and
 * Chamfer's N x N distances a few per cent), so ~60 GFLOP/s; a step's activations and gradients
 * are ~370 MB (peak RSS 434 MB for pc_ae, 505 MB pc_vae). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gensweep/io/pcrender.h"
#include "gensweep/models/model.h"
#include "gensweep/cluster/igmn.h"
#include "gensweep/nn/latent.h"
#include "gensweep/nn/ops.h"
#include "gensweep/nn/optim.h"
#include "gensweep/nn/pointcloud.h"

/* Points per evaluation chunk (clouds = this / N, at least 1): the per-point activations of the
 * encoder stay about 55 MB whatever N is. */
#define EVAL_POINTS 16384

/* ------------------------------------------------------------------ keys */

typedef enum { PC_AE, PC_VAE, PC_VAEGM, PC_BETA } pc_kind;

typedef struct pc_settings {
  long latent_dim;              /* Z */
  long enc[4];                  /* per-point MLP widths E1..E4 */
  long dec[2];                  /* decoder widths D1, D2 */
  long sparse_backward;         /* 1: train the encoder on the critical points (the same gradient) */
  double kl_weight;             /* pc_vae, pc_vaegm, pc_beta: beta */
  long components;              /* pc_vaegm: C */
  double component_spread;      /* pc_vaegm: |mu_y| */
  double balance_weight;        /* pc_vaegm: lambda of KL(q(y) || uniform), q(y) the batch's mean q(y|x) */
  double beta_a, beta_b;        /* pc_beta: the prior Beta(a, b) */
  long n_recon, n_samples;      /* eval.n_recon, eval.n_samples */
  long interp_steps, halves, emd_clouds;
} pc_settings;

#define KEY_INT(sec, nm, f, lo, hi, d, h) GS_KEY_INT(pc_settings, sec, nm, f, lo, hi, d, h)
/* declared as the VAE declares them (the same spec, or the registry refuses the key) */
#define KEY_INT_EVERY(sec, nm, f, lo, hi, d, h) \
  { .section = sec, .name = nm, .type = GS_KEY_INT, GS_KEY_FIELD(pc_settings, f), .min = lo, .max = hi, \
    .def = d, .help = h, .in_every_hash = 1 }
#define PC_KEYS                                                                                                \
  KEY_INT("model", "latent_dim", latent_dim, 1, 4096, "25", "dimension of the latent code z"),                \
  KEY_INT("pc", "enc1", enc[0], 1, 65536, "64", "point-cloud encoder: width of the 1st per-point layer"),      \
  KEY_INT("pc", "enc2", enc[1], 1, 65536, "128", "point-cloud encoder: width of the 2nd per-point layer"),     \
  KEY_INT("pc", "enc3", enc[2], 1, 65536, "128", "point-cloud encoder: width of the 3rd per-point layer"),     \
  KEY_INT("pc", "enc4", enc[3], 1, 65536, "256",                                                               \
          "point-cloud encoder: width of the 4th per-point layer (then a linear head to the code, max over points)"), \
  KEY_INT("pc", "dec1", dec[0], 1, 65536, "256", "point-cloud decoder: width of the 1st hidden layer"),        \
  KEY_INT("pc", "dec2", dec[1], 1, 65536, "256", "point-cloud decoder: width of the 2nd hidden layer (then N x 3)"), \
  { .section = "pc", .name = "sparse_backward", .type = GS_KEY_INT, GS_KEY_FIELD(pc_settings, sparse_backward),   \
    .min = 0, .max = 1, .def = "1", .neutral_at_default = 1,                                                   \
    .help = "1: each training step runs the taped encoder on the critical points only (the points some max "  \
            "over points picks, found by a forward without the tape): the dense backward's gradient, up to "   \
            "float rounding, for less work (dense when over 2/3 of the points are critical); 0: the dense "   \
            "backward over every point (the reference). Hashed only away from 1: runs made before the key "  \
            "existed trained dense, and one resumed from such a checkpoint differs by rounding" },            \
  KEY_INT_EVERY("eval", "n_recon", n_recon, 0, 10000, "16", "test images reconstructed for the run file / PNG"), \
  KEY_INT("pc", "interp_steps", interp_steps, 0, 1000, "8",                                                    \
          "point clouds decoded along the line between two test shapes' codes (0 = none; else at least 2)"),    \
  KEY_INT("pc", "halves", halves, 0, 1000, "8",                                                                \
          "pairs of test shapes whose codes are combined half and half (first half of one, second of the other)"), \
  KEY_INT("pc", "emd_clouds", emd_clouds, 0, 100000000, "16",                                                  \
          "test clouds whose exact earth mover's distance to their reconstruction is measured at the end (0 = none)")

static const gs_key pc_ae_keys[] = {PC_KEYS};
#define PC_VAE_KEYS                                                                                            \
  PC_KEYS,                                                                                                     \
  GS_KEY_FLOAT(pc_settings, "pc", "kl_weight", kl_weight, 0, 0, 1e6, 0, "1e-5",                                \
               "pc_vae: beta, the KL term's weight against the Chamfer distance (a temperature in squared "    \
               "lengths: loss = CD + beta * KL); pc_beta wants 1e-4 (binary codes 22 % worse than continuous "  \
               "at 128 units, 170 % at 1e-5; docs/studies/pointclouds.md)"),                                  \
  KEY_INT_EVERY("eval", "n_samples", n_samples, 0, 10000, "64", "images sampled from the prior for the run file / PNG")
static const gs_key pc_vae_keys[] = {PC_VAE_KEYS};
/* Keys of the two later models only: pc_ae and pc_vae do not declare them, so their runs' hashes
 * do not see them (tests/unit/test_pointcloud_models.c, keys_leave_earlier_hashes_alone). */
static const gs_key pc_vaegm_keys[] = {
    PC_VAE_KEYS,
    KEY_INT("pc", "components", components, 2, 256, "8",
            "pc_vaegm: C, the mixture prior's components N(mu_y, I), equal weights (at most 2 model.latent_dim)"),
    GS_KEY_FLOAT(pc_settings, "pc", "component_spread", component_spread, 0, 1, 1e3, 0, "3",
                 "pc_vaegm: the distance of each component mean mu_y from the origin (fixed means: +-spread along "
                 "the code's axes)"),
    GS_KEY_FLOAT(pc_settings, "pc", "balance_weight", balance_weight, 0, 0, 1e6, 0, "0.1",
                 "pc_vaegm: lambda, the weight of KL(q(y) || uniform) for q(y) the training batch's mean of q(y|x) "
                 "(keeps every component in use; 0 = the plain ELBO, whose q(y|x) collapses onto one component)"),
};
static const gs_key pc_beta_keys[] = {
    PC_VAE_KEYS,
    GS_KEY_FLOAT(pc_settings, "pc", "beta_a", beta_a, 0, 1, 1e3, 0, "0.01",
                 "pc_beta: a of the Beta(a, b) prior of every code unit"),
    GS_KEY_FLOAT(pc_settings, "pc", "beta_b", beta_b, 0, 1, 1e3, 0, "0.01",
                 "pc_beta: b of the Beta(a, b) prior of every code unit"),
};
#define NKEYS_AE ((int)(sizeof pc_ae_keys / sizeof pc_ae_keys[0]))
#define NKEYS_VAE ((int)(sizeof pc_vae_keys / sizeof pc_vae_keys[0]))
#define NKEYS_VAEGM ((int)(sizeof pc_vaegm_keys / sizeof pc_vaegm_keys[0]))
#define NKEYS_BETA ((int)(sizeof pc_beta_keys / sizeof pc_beta_keys[0]))
static const gs_key *const keys_of[] = {pc_ae_keys, pc_vae_keys, pc_vaegm_keys, pc_beta_keys};
static const int nkeys_of[] = {NKEYS_AE, NKEYS_VAE, NKEYS_VAEGM, NKEYS_BETA};

/* The write-up's code size, the paper's optimiser (Adam, lr 5e-4; its batch of 50 made 32 here:
 * a step's per-point activations and their gradients are ~370 MB at N = 2048), 16 prior samples. */
static const char *const pc_ae_defaults[] = {"model.latent_dim", "128", "train.batch_size", "32",
                                             "train.optimizer", "adam", "train.lr", "0.0005", NULL};
static const char *const pc_vae_defaults[] = {"model.latent_dim", "128", "train.batch_size", "32",
                                              "train.optimizer", "adam", "train.lr", "0.0005",
                                              "eval.n_samples", "16", NULL};

static int validate(const gs_config *c, gs_error *err) {
  pc_settings s;
  gs_config_read(c, pc_ae_keys, NKEYS_AE, &s);
  if (s.interp_steps == 1) return gs_fail(err, "pc.interp_steps = 1: an interpolation needs 0 (none) or at least 2 steps");
  return 0;
}

static int validate_gm(const gs_config *c, gs_error *err) {
  pc_settings s;
  gs_config_read(c, pc_vaegm_keys, NKEYS_VAEGM, &s);
  if (s.components > 2 * s.latent_dim)
    return gs_fail(err, "pc.components = %ld: the component means lie at +-pc.component_spread along the code's axes, "
                        "so at most 2 model.latent_dim = %ld", s.components, 2 * s.latent_dim);
  return validate(c, err);
}

/* ------------------------------------------------------------------ model */

struct gs_model {
  pc_kind kind;
  const gs_config *cfg;
  pc_settings s;
  int N, Z, C;                      /* C: pc_vaegm's components (0 otherwise) */
  gs_params p;
  gs_graph g;
  gs_tensor *enc_w[4], *enc_b[4];   /* (3|E_{k-1}, E_k), (E_k) */
  gs_tensor *code_w, *code_b;       /* (E4, Z): pc_ae's code, the VAEs' mu, pc_beta's log a */
  gs_tensor *logvar_w, *logvar_b;   /* (E4, Z): the VAEs' logvar, pc_beta's log b */
  gs_tensor *class_w, *class_b;     /* (E4, C): pc_vaegm's q(y|x) logits from the pooled features */
  gs_tensor *dec_w[3], *dec_b[3];   /* Z -> D1 -> D2 -> 3N */
  float *means;                     /* pc_vaegm: the fixed component means mu_y (C, Z) */
  float *xbuf, *ebuf;               /* a batch of clouds (rows x 3N), its noise (rows x Z) */
  int bufrows;
};

static gs_model *create(const gs_config *cfg, const gs_dataset *ds, gs_rng *init, pc_kind kind, gs_error *err) {
  static const char *const names[] = {"pc_ae", "pc_vae", "pc_vaegm", "pc_beta"};
  if (!ds->train.points || ds->train.w != 3 || ds->train.h < 1) {
    gs_fail(err, "%s needs point sets (N x 3); the data set %s holds images", names[kind], ds->name);
    return NULL;
  }
  gs_model *m = gs_calloc(1, sizeof *m);
  m->kind = kind;
  m->cfg = cfg;
  gs_config_read(cfg, keys_of[kind], nkeys_of[kind], &m->s);
  m->N = ds->train.h;
  m->Z = (int)m->s.latent_dim;
  m->C = kind == PC_VAEGM ? (int)m->s.components : 0;
  int E[5] = {3, (int)m->s.enc[0], (int)m->s.enc[1], (int)m->s.enc[2], (int)m->s.enc[3]};
  int D[4] = {m->Z, (int)m->s.dec[0], (int)m->s.dec[1], 3 * m->N};
  int two_heads = kind != PC_AE;
  const char *head1 = kind == PC_AE ? "enc_code" : kind == PC_BETA ? "enc_loga" : "enc_mu";
  const char *head2 = kind == PC_BETA ? "enc_logb" : "enc_logvar";
  char h1w[32], h1b[32], h2w[32], h2b[32];
  snprintf(h1w, sizeof h1w, "%s.w", head1), snprintf(h1b, sizeof h1b, "%s.b", head1);
  snprintf(h2w, sizeof h2w, "%s.w", head2), snprintf(h2b, sizeof h2b, "%s.b", head2);
  /* every parameter, in block order: where the model keeps it and its shape (a bias: 0 rows);
   * weights Xavier-uniform over (rows, cols), biases zero */
  const struct {
    gs_tensor **t;
    const char *name;
    int rows, cols, use;
  } layout[] = {
      {&m->enc_w[0], "enc1.w", E[0], E[1], 1}, {&m->enc_b[0], "enc1.b", 0, E[1], 1},
      {&m->enc_w[1], "enc2.w", E[1], E[2], 1}, {&m->enc_b[1], "enc2.b", 0, E[2], 1},
      {&m->enc_w[2], "enc3.w", E[2], E[3], 1}, {&m->enc_b[2], "enc3.b", 0, E[3], 1},
      {&m->enc_w[3], "enc4.w", E[3], E[4], 1}, {&m->enc_b[3], "enc4.b", 0, E[4], 1},
      {&m->code_w, h1w, E[4], m->Z, 1}, {&m->code_b, h1b, 0, m->Z, 1},
      {&m->logvar_w, h2w, E[4], m->Z, two_heads}, {&m->logvar_b, h2b, 0, m->Z, two_heads},
      {&m->class_w, "enc_class.w", E[4], m->C, kind == PC_VAEGM}, {&m->class_b, "enc_class.b", 0, m->C, kind == PC_VAEGM},
      {&m->dec_w[0], "dec1.w", D[0], D[1], 1}, {&m->dec_b[0], "dec1.b", 0, D[1], 1},
      {&m->dec_w[1], "dec2.w", D[1], D[2], 1}, {&m->dec_b[1], "dec2.b", 0, D[2], 1},
      {&m->dec_w[2], "dec3.w", D[2], D[3], 1}, {&m->dec_b[2], "dec3.b", 0, D[3], 1},
  };
  const int nlayout = (int)(sizeof layout / sizeof layout[0]);
  for (int i = 0; i < nlayout; i++) {
    if (!layout[i].use) continue;
    int shape[2] = {layout[i].rows, layout[i].cols};
    if (layout[i].rows) gs_params_declare(&m->p, layout[i].name, 2, shape);
    else gs_params_declare(&m->p, layout[i].name, 1, &shape[1]);
  }
  gs_params_alloc(&m->p);
  for (int i = 0, k = 0; i < nlayout; i++) {
    if (!layout[i].use) continue;
    gs_tensor *t = *layout[i].t = &m->p.t[k++];
    if (layout[i].rows) gs_init_xavier_uniform(t, t->shape[0], t->shape[1], init);
    else gs_init_constant(t, 0.0f);
  }
  if (kind == PC_VAEGM) { /* mu_y = +-spread e_(y mod Z): + for y < Z, - after */
    m->means = gs_calloc((size_t)m->C * m->Z, sizeof(float));
    for (int y = 0; y < m->C; y++) m->means[(long)y * m->Z + y % m->Z] = (float)(y < m->Z ? 1 : -1) * (float)m->s.component_spread;
  }
  gs_graph_init(&m->g, 16u << 20);
  return m;
}

static gs_model *create_ae(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) { return create(c, d, r, PC_AE, e); }
static gs_model *create_vae(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) { return create(c, d, r, PC_VAE, e); }
static gs_model *create_vaegm(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) { return create(c, d, r, PC_VAEGM, e); }
static gs_model *create_beta(const gs_config *c, const gs_dataset *d, gs_rng *r, gs_error *e) { return create(c, d, r, PC_BETA, e); }

static gs_params *params(gs_model *m) { return &m->p; }

static void ensure_buffers(gs_model *m, int rows) {
  if (rows <= m->bufrows) return;
  free(m->xbuf);
  free(m->ebuf);
  m->xbuf = gs_aligned_alloc(sizeof(float) * (size_t)rows * 3 * m->N);
  m->ebuf = gs_aligned_alloc(sizeof(float) * (size_t)rows * m->Z);
  m->bufrows = rows;
}

/* clouds per evaluation chunk (pc_vaegm decodes every cloud C times) */
static int eval_chunk(const gs_model *m) {
  long points = (long)m->N * (m->C > 0 ? m->C : 1);
  return points >= EVAL_POINTS ? 1 : (int)(EVAL_POINTS / points);
}

/* the batch's noise, the whole batch's on every rank: N(0, 1) for the Gaussian posteriors,
 * u in (0, 1] for the Kumaraswamy's inverse CDF */
static void draw_noise(gs_model *m, gs_rng *rng, int rows) {
  long n = (long)rows * m->Z;
  if (m->kind == PC_BETA)
    for (long k = 0; k < n; k++) m->ebuf[k] = 1.0f - gs_rng_uniformf(rng);
  else gs_rng_normal_fill(rng, m->ebuf, n);
}

/* ------------------------------------------------------------------ graph pieces */
/* The shared per-point MLP: (b*N, 3) -> (b*N, E4), ReLU after every layer. */
static gs_tensor *point_features(gs_model *m, gs_tensor *x) {
  gs_tensor *h = x;
  for (int k = 0; k < 4; k++) h = gs_dense_relu(&m->g, h, m->enc_w[k], m->enc_b[k]);
  return h;
}

/* The max over each cloud's points: all N (start NULL), or the critical points gathered
 * (critical_points below: cloud i in rows [start[i], start[i+1])). (rows, F) -> (b, F) */
static gs_tensor *pool(gs_model *m, gs_tensor *h, int b, const int32_t *start) {
  return start ? gs_max_segments(&m->g, h, b, start) : gs_max_points(&m->g, h, b, m->N);
}

/* A head: a per-point linear layer, then the max over each cloud's points. (b*N, E4) -> (b, Z) */
static gs_tensor *pooled_head(gs_model *m, gs_tensor *h, gs_tensor *w, gs_tensor *bias, int b, const int32_t *start) {
  return pool(m, gs_dense(&m->g, h, w, bias), b, start);
}

/* The critical points of b clouds x (b*N, 3) under the current weights (nn/pointcloud.h): rows
 * of x, *start (b+1) where each cloud's begin; returns their number */
static long find_critical(gs_model *m, const float *x, int b, int32_t **rows, int32_t **start) {
  gs_tensor *heads[2] = {m->code_w, m->logvar_w}, *hbias[2] = {m->code_b, m->logvar_b};
  gs_point_net net = {.layers = 4, .w = m->enc_w, .b = m->enc_b, .heads = m->kind == PC_AE ? 1 : 2,
                      .hw = heads, .hb = hbias, .pool_last = m->kind == PC_VAEGM};
  return gs_critical_points(&m->g, &net, x, b, m->N, rows, start);
}

/* Training's encoder input: only the points at which some max of the encoder is attained (the
 * critical points, nn/pointcloud.h), found by a forward without the tape. Every other point's
 * gradient is zero, so the taped encoder on these rows gives the dense encoder's loss and
 * gradient for a fraction of the work (pc.sparse_backward = 0: the dense reference). x (b*N, 3)
 * -> (rows, 3); *start (b+1) where each cloud's rows begin. When more than two thirds of the
 * points are critical (small clouds, pc_vaegm's wide pool) the dense step costs less: x itself,
 * *start NULL. */
static gs_tensor *critical_points(gs_model *m, gs_tensor *x, int b, int32_t **start) {
  int32_t *rows;
  long n = find_critical(m, x->x, b, &rows, start);
  if (3 * n > 2L * b * m->N) { /* then the dense step is the cheaper one: 3 passes over b*N points */
    *start = NULL;            /* against 1 over b*N and 3 over n */
    return x;
  }
  float *sub = gs_arena_alloc(&m->g.arena, sizeof(float) * 3 * (size_t)n);
  for (long i = 0; i < n; i++) memcpy(sub + 3 * i, x->x + 3L * rows[i], sizeof(float) * 3);
  return gs_wrap2(&m->g, sub, (int)n, 3);
}

/* What the encoder gives, by model (each (b, Z) unless said):
 *   pc_ae     code
 *   pc_vae    mu, logvar of q(z|x)
 *   pc_vaegm  mu, logvar of the offset z - mu_y (the same for every y), log_qy (b, C) = log q(y|x)
 *   pc_beta   a, b of q(z|x) = prod Kumaraswamy(a, b), each exp(5 tanh(head / 5)): in
 *             [0.0067, 148], smooth, never a dead gradient; starts at a = b = 1 (uniform) */
typedef struct {
  gs_tensor *code, *logvar, *log_qy, *a, *b;
} pc_posterior;

static gs_tensor *soft_exp(gs_graph *g, gs_tensor *h) { return gs_exp(g, gs_scale(g, gs_tanh(g, gs_scale(g, h, 0.2f)), 5.0f)); }

/* x: every point of the b clouds (start NULL), or the gathered critical points */
static pc_posterior encode(gs_model *m, gs_tensor *x, int b, const int32_t *start) {
  gs_graph *g = &m->g;
  pc_posterior q = {0};
  gs_tensor *h = point_features(m, x);
  gs_tensor *h1 = pooled_head(m, h, m->code_w, m->code_b, b, start);
  gs_tensor *h2 = m->kind != PC_AE ? pooled_head(m, h, m->logvar_w, m->logvar_b, b, start) : NULL;
  if (m->kind == PC_BETA) {
    q.a = soft_exp(g, h1);
    q.b = soft_exp(g, h2);
    return q;
  }
  q.code = h1, q.logvar = h2;
  if (m->kind == PC_VAEGM) /* q(y|x): a linear layer on the max-pooled point features */
    q.log_qy = gs_log_softmax(g, gs_dense(g, pool(m, h, b, start), m->class_w, m->class_b));
  return q;
}

/* z (b, Z) -> clouds (b*N, 3) */
static gs_tensor *decode(gs_model *m, gs_tensor *z) {
  gs_graph *g = &m->g;
  gs_tensor *h = gs_dense_relu(g, z, m->dec_w[0], m->dec_b[0]);  /* (b, D1) */
  h = gs_dense_relu(g, h, m->dec_w[1], m->dec_b[1]);              /* (b, D2) */
  gs_tensor *out = gs_dense(g, h, m->dec_w[2], m->dec_b[2]);      /* (b, 3N) */
  int shape[2] = {z->shape[0] * m->N, 3};
  return gs_reshape(g, out, 2, shape);
}

/* pc_vaegm: the offset o (b, Z) placed at every component, z_(i,y) = mu_y + o_i in row i*C + y:
 * (b*C, b) 0/1 rows times o, plus the means (no gradient). (b, Z) -> (b*C, Z) */
static gs_tensor *at_every_component(gs_model *m, gs_tensor *o) {
  gs_graph *g = &m->g;
  int b = o->shape[0], C = m->C, Z = m->Z;
  float *pick = gs_arena_alloc(&g->arena, sizeof(float) * (size_t)b * C * b);
  float *mean = gs_arena_alloc(&g->arena, sizeof(float) * (size_t)b * C * Z);
  memset(pick, 0, sizeof(float) * (size_t)b * C * b);
  for (int i = 0; i < b; i++)
    for (int y = 0; y < C; y++) {
      pick[((long)i * C + y) * b + i] = 1.0f;
      memcpy(mean + ((long)i * C + y) * Z, m->means + (long)y * Z, sizeof(float) * Z);
    }
  return gs_add(g, gs_matmul(g, gs_wrap2(g, pick, b * C, b), o), gs_wrap2(g, mean, b * C, Z));
}

/* pc_vaegm: CD(x_i, decoder(z_(i,y))) for every cloud and component, x (b*N, 3) -> (b, C) */
static gs_tensor *chamfer_per_component(gs_model *m, gs_tensor *x, gs_tensor *offset) {
  gs_graph *g = &m->g;
  int b = offset->shape[0], C = m->C, N3 = 3 * m->N;
  float *xs = gs_arena_alloc(&g->arena, sizeof(float) * (size_t)b * C * N3); /* cloud i C times */
  for (int i = 0; i < b; i++)
    for (int y = 0; y < C; y++) memcpy(xs + ((long)i * C + y) * N3, x->x + (long)i * N3, sizeof(float) * N3);
  gs_tensor *cd = gs_chamfer(g, gs_wrap2(g, xs, b * C * m->N, 3), decode(m, at_every_component(m, offset)), b * C, m->N, m->N);
  int shape[2] = {b, C};
  return gs_reshape(g, cd, 2, shape);
}

/* pc_vaegm: KL(q(y|x) || Uniform(C)) = sum_y q_y log q_y + log C per cloud. (b, C) -> (b) */
static gs_tensor *kl_categorical_uniform(gs_model *m, gs_tensor *log_qy) {
  gs_graph *g = &m->g;
  int b = log_qy->shape[0];
  float *logc = gs_arena_alloc(&g->arena, sizeof(float) * b);
  for (int i = 0; i < b; i++) logc[i] = logf((float)m->C);
  return gs_add(g, gs_sum_rows(g, gs_mul(g, gs_exp(g, log_qy), log_qy)), gs_wrap(g, logc, 1, &b));
}

/* pc_vaegm: the balance term lambda KL(qbar || uniform), qbar(y) = (1/B) sum_i q(y|x_i) over the
 * global batch (this rank's row sums added over the worker group). As a per-cloud term whose mean
 * over the batch is that KL and whose gradient is exact: t_i = sum_y q(y|x_i) log(C qbar(y)) with
 * qbar held constant, because d KL / d q(y|x_i) = (log(C qbar(y)) + 1) / B and the + 1 drops out
 * of a softmax's gradient (sum_y q(y|x_i) = 1). (b, C) -> (b) */
static gs_tensor *balance_term(gs_model *m, gs_tensor *log_qy, int B, const gs_reducer *group) {
  gs_graph *g = &m->g;
  int b = log_qy->shape[0], C = m->C;
  double *qbar = gs_calloc((size_t)C, sizeof(double));
  for (int i = 0; i < b; i++)
    for (int y = 0; y < C; y++) qbar[y] += exp((double)log_qy->x[(long)i * C + y]);
  if (group) group->sum(group->ctx, qbar, C);
  float *logcq = gs_arena_alloc(&g->arena, sizeof(float) * C); /* log(C qbar(y)), (C, 1) */
  for (int y = 0; y < C; y++) {
    double q = qbar[y] / B;
    logcq[y] = (float)log(C * (q > 1e-30 ? q : 1e-30));
  }
  free(qbar);
  gs_tensor *t = gs_matmul(g, gs_exp(g, log_qy), gs_wrap2(g, logcq, C, 1)); /* (b, 1) */
  return gs_reshape(g, t, 1, &b);
}

/* The per-cloud loss of the file comment, from the posterior and the noise eps (b*Z floats):
 * the Chamfer term into *rec, the KL (nats) into *kl, both (b). */
static void loss_terms(gs_model *m, gs_tensor *x, const pc_posterior *q, const float *eps, gs_tensor **rec, gs_tensor **kl) {
  gs_graph *g = &m->g;
  int N = m->N;
  switch (m->kind) {
  case PC_AE:
    *rec = gs_chamfer(g, x, decode(m, q->code), q->code->shape[0], N, N);
    *kl = NULL;
    break;
  case PC_VAE:
    *rec = gs_chamfer(g, x, decode(m, gs_gauss_sample_eps(g, q->code, q->logvar, eps)), q->code->shape[0], N, N);
    *kl = gs_kl_std_normal(g, q->code, q->logvar);
    break;
  case PC_VAEGM: {
    /* one offset o = mu + sigma eps per cloud, shared by the C components: they differ only in
     * their mean, so q(y|x) compares them on the same noise */
    gs_tensor *cd = chamfer_per_component(m, x, gs_gauss_sample_eps(g, q->code, q->logvar, eps)); /* (b, C) */
    *rec = gs_sum_rows(g, gs_mul(g, gs_exp(g, q->log_qy), cd));
    /* sum_y q_y KL(N(mu_y + mu, sigma^2) || N(mu_y, I)) = KL(N(mu, sigma^2) || N(0, I)) for every y */
    *kl = gs_add(g, gs_kl_std_normal(g, q->code, q->logvar), kl_categorical_uniform(m, q->log_qy));
    break;
  }
  case PC_BETA:
    *rec = gs_chamfer(g, x, decode(m, gs_kumaraswamy_sample(g, q->a, q->b, eps)), q->a->shape[0], N, N);
    *kl = gs_kl_kumaraswamy_beta(g, q->a, q->b, m->s.beta_a, m->s.beta_b);
    break;
  }
}

/* argmax_y q(y|x) of each of the b clouds */
static void clusters_of(const pc_posterior *q, int b, int C, int *out) {
  for (int i = 0; i < b; i++) {
    const float *l = q->log_qy->x + (long)i * C;
    int best = 0;
    for (int y = 1; y < C; y++)
      if (l[y] > l[best]) best = y;
    out[i] = best;
  }
}

/* The code a cloud is reconstructed from without noise (b x Z floats into out): pc_ae's code,
 * pc_vae's posterior mean, pc_vaegm's mu_y + mu of its most probable component y, pc_beta's
 * posterior mean b B(1 + 1/a, b). */
static void point_code(gs_model *m, const pc_posterior *q, int b, float *out) {
  int Z = m->Z;
  if (m->kind == PC_BETA) {
    for (long k = 0; k < (long)b * Z; k++) out[k] = (float)gs_kumaraswamy_mean(q->a->x[k], q->b->x[k]);
    return;
  }
  memcpy(out, q->code->x, sizeof(float) * (size_t)b * Z);
  if (m->kind != PC_VAEGM) return;
  int *y = gs_malloc(sizeof(int) * b);
  clusters_of(q, b, m->C, y);
  for (int i = 0; i < b; i++)
    for (int j = 0; j < Z; j++) out[(long)i * Z + j] += m->means[(long)y[i] * Z + j];
  free(y);
}

/* ------------------------------------------------------------------ features */
/* The noise-free code of each example (point_code). */
static int feature_dim(gs_model *m) { return m->Z; }

static void features(gs_model *m, const gs_imageset *set, const int32_t *idx, int n, float *out) {
  int chunk = eval_chunk(m);
  ensure_buffers(m, chunk);
  for (int start = 0; start < n; start += chunk) {
    gs_poll();
    int b = n - start < chunk ? n - start : chunk;
    gs_imageset_batch(set, idx + start, b, m->xbuf, NULL);
    gs_graph_begin(&m->g, NULL, 0);
    pc_posterior q = encode(m, gs_wrap2(&m->g, m->xbuf, b * m->N, 3), b, NULL);
    point_code(m, &q, b, out + (long)start * m->Z);
  }
}

/* ------------------------------------------------------------------ training step */
static double train_step(gs_model *m, const gs_batch *batch, int phase, gs_rng *noise, gs_losses *losses) {
  (void)phase;
  int B = batch->B, lo = batch->lo, b = batch->hi - batch->lo;
  ensure_buffers(m, B);
  if (m->kind != PC_AE) draw_noise(m, noise, B); /* the whole batch's, on every rank */
  gs_imageset_batch(batch->set, batch->idx + lo, b, m->xbuf, NULL);
  gs_graph *g = &m->g;
  gs_graph_begin(g, &m->p, 1);
  gs_tensor *x = gs_wrap2(g, m->xbuf, b * m->N, 3); /* the clouds, the Chamfer term's target */
  int32_t *start = NULL;
  gs_tensor *in = m->s.sparse_backward ? critical_points(m, x, b, &start) : x;
  pc_posterior q = encode(m, in, b, start);
  gs_tensor *rec, *kl;
  loss_terms(m, x, &q, m->ebuf + (long)lo * m->Z, &rec, &kl);
  gs_tensor *per_cloud = kl ? gs_add(g, rec, gs_scale(g, kl, (float)m->s.kl_weight)) : rec; /* (b) */
  if (kl) {
    double sr = 0, sk = 0;
    for (int i = 0; i < b; i++) sr += rec->x[i], sk += kl->x[i];
    gs_losses_add(losses, "chamfer", sr);
    gs_losses_add(losses, "kl", sk);
  }
  if (m->kind == PC_VAEGM && m->s.balance_weight > 0) {
    gs_tensor *t = balance_term(m, q.log_qy, B, batch->group); /* its rows over the global batch average to the KL */
    per_cloud = gs_add(g, per_cloud, gs_scale(g, t, (float)m->s.balance_weight));
    double sum = 0;
    for (int i = 0; i < b; i++) sum += t->x[i];
    gs_losses_add(losses, "balance_kl", sum);
  }
  gs_tensor *loss = gs_sum(g, per_cloud);
  gs_backward(g, loss, 1.0f / (float)B);
  return loss->x[0];
}

/* ------------------------------------------------------------------ evaluation */
typedef struct {
  double chamfer, rec, kl; /* sums over the clouds */
  double binary;           /* pc_beta: CD of the reconstruction from the rounded code */
  double near01;           /* pc_beta: code units (posterior means) within 0.1 of 0 or 1 */
  double qy_max;           /* pc_vaegm: max_y q(y|x), summed over the clouds */
  long critical;           /* the clouds' critical points (when asked) */
  long n;
} pc_sums;

/* Over a whole set, in chunks: CD of the reconstruction from the noise-free code (point_code),
 * and for the VAEs the loss's terms with the posterior's noise (from rng); pc_beta's CD from the
 * binary code; pc_vaegm's clusters argmax q(y|x) into assign (set->n, may be NULL); with
 * critical, the number of critical points. per_class (C sums) and class_n may be NULL. */
static pc_sums evaluate_set(gs_model *m, const gs_imageset *set, gs_rng *rng, double *per_class, long *class_n, int *assign,
                            int critical) {
  pc_sums s = {0};
  int chunk = eval_chunk(m), N = m->N, Z = m->Z;
  ensure_buffers(m, chunk);
  int32_t *idx = gs_malloc(sizeof(int32_t) * chunk);
  float *code = gs_malloc(sizeof(float) * (size_t)chunk * Z);
  for (long start = 0; start < set->n; start += chunk) {
    gs_poll();
    int b = (int)(set->n - start < chunk ? set->n - start : chunk);
    for (int i = 0; i < b; i++) idx[i] = (int32_t)(start + i);
    gs_imageset_batch(set, idx, b, m->xbuf, NULL);
    gs_graph *g = &m->g;
    gs_graph_begin(g, NULL, 0);
    gs_tensor *x = gs_wrap2(g, m->xbuf, b * N, 3);
    if (critical) {
      int32_t *rows, *starts;
      s.critical += find_critical(m, m->xbuf, b, &rows, &starts);
    }
    pc_posterior q = encode(m, x, b, NULL);
    point_code(m, &q, b, code);
    gs_tensor *cd = gs_chamfer(g, x, decode(m, gs_wrap2(g, code, b, Z)), b, N, N);
    for (int i = 0; i < b; i++) {
      s.chamfer += cd->x[i];
      if (per_class && set->labels) per_class[set->labels[start + i]] += cd->x[i], class_n[set->labels[start + i]]++;
    }
    if (m->kind == PC_BETA) { /* the binary code: the posterior mean rounded to {0, 1} */
      for (long k = 0; k < (long)b * Z; k++) s.near01 += code[k] <= 0.1f || code[k] >= 0.9f;
      for (long k = 0; k < (long)b * Z; k++) code[k] = code[k] >= 0.5f ? 1.0f : 0.0f;
      gs_tensor *cdb = gs_chamfer(g, x, decode(m, gs_wrap2(g, code, b, Z)), b, N, N);
      for (int i = 0; i < b; i++) s.binary += cdb->x[i];
    }
    if (m->kind == PC_VAEGM && assign) clusters_of(&q, b, m->C, assign + start);
    if (m->kind == PC_VAEGM) /* how sure q(y|x) is of its cluster: 1/C (no idea) to 1 */
      for (int i = 0; i < b; i++) {
        const float *l = q.log_qy->x + (long)i * m->C;
        float best = l[0];
        for (int y = 1; y < m->C; y++) best = l[y] > best ? l[y] : best;
        s.qy_max += exp((double)best);
      }
    if (m->kind != PC_AE) {
      draw_noise(m, rng, b);
      gs_tensor *rec, *kl;
      loss_terms(m, x, &q, m->ebuf, &rec, &kl);
      for (int i = 0; i < b; i++) s.rec += rec->x[i], s.kl += kl->x[i];
    }
    s.n += b;
  }
  free(idx);
  free(code);
  return s;
}
/* codes (rows x Z) -> clouds (rows x 3N), evaluation mode */
static void decode_codes(gs_model *m, const float *z, int rows, float *out) {
  gs_graph_begin(&m->g, NULL, 0);
  gs_tensor *x = decode(m, gs_wrap2(&m->g, (float *)z, rows, m->Z));
  memcpy(out, x->x, sizeof(float) * (size_t)rows * 3 * m->N);
}

/* codes (the code / mu) of test clouds idx[0..n) */
static float *codes_of(gs_model *m, const gs_imageset *set, const int32_t *idx, int n) {
  float *z = gs_malloc(sizeof(float) * (size_t)n * m->Z);
  features(m, set, idx, n, z);
  return z;
}

/* clouds (n x 3N floats) as the float64 array name [n, N, 3] */
static void record_clouds(gs_model *m, gs_record *rec, const char *name, const float *x, int n) {
  long count = (long)n * 3 * m->N, shape[3] = {n, m->N, 3};
  double *v = gs_malloc(sizeof(double) * (size_t)count);
  for (long i = 0; i < count; i++) v[i] = x[i];
  gs_record_array(rec, name, 3, shape, v);
  free(v);
}

static void record_indices(gs_record *rec, const char *name, const int32_t *idx, int n, int ndim) {
  long shape[2] = {ndim == 1 ? n : n / 2, 2};
  double *v = gs_malloc(sizeof(double) * (size_t)n);
  for (int i = 0; i < n; i++) v[i] = idx[i];
  gs_record_array(rec, name, ndim, shape, v);
  free(v);
}

/* the mean exact EMD between the first n test clouds and their reconstructions */
static double test_emd(gs_model *m, const gs_imageset *set, int n) {
  int32_t *idx = gs_malloc(sizeof(int32_t) * n);
  for (int i = 0; i < n; i++) idx[i] = i;
  float *x = gs_malloc(sizeof(float) * 3 * m->N), *z = codes_of(m, set, idx, n), *y = gs_malloc(sizeof(float) * 3 * m->N);
  double sum = 0;
  for (int i = 0; i < n; i++) {
    gs_poll();
    gs_imageset_batch(set, idx + i, 1, x, NULL);
    decode_codes(m, z + (long)i * m->Z, 1, y);
    sum += gs_emd_exact(x, y, m->N, NULL);
  }
  free(idx), free(x), free(z), free(y);
  return sum / n;
}

/* n clouds (3N floats each, in clouds[k]) rendered in the oblique view as a picture of the run
 * file (and png/<run-id>_<name>.png), cols tiles a row (io/pcrender.h) */
static void record_render(gs_model *m, gs_record *rec, const char *name, const float *const *clouds, int n, int cols) {
  gs_pc_style st = gs_pc_style_default();
  int w = gs_pc_tile_width(GS_PC_VIEW_OBLIQUE, st.size);
  uint8_t *tiles = gs_malloc((size_t)n * st.size * w);
  gs_error err;
  if (gs_pc_render_tiles(clouds, n, m->N, GS_PC_VIEW_OBLIQUE, &st, tiles, &err) == 0)
    gs_record_image_grid(rec, name, n, st.size, w, tiles, cols);
  free(tiles);
}

static void render_rows(gs_model *m, gs_record *rec, const char *name, const float *x, int n, int cols) {
  const float **c = gs_malloc(sizeof(float *) * (size_t)n);
  for (int i = 0; i < n; i++) c[i] = x + (long)i * 3 * m->N;
  record_render(m, rec, name, c, n, cols);
  free(c);
}

/* n codes from the prior into z (n x Z): N(0, I); pc_vaegm: code i from component i mod C,
 * mu_y + N(0, I) (its components into comp, may be NULL); pc_beta: Beta(beta_a, beta_b). */
static void sample_prior(gs_model *m, gs_rng *rng, int n, float *z, int32_t *comp) {
  int Z = m->Z;
  if (m->kind == PC_BETA)
    for (long k = 0; k < (long)n * Z; k++) z[k] = (float)gs_rng_beta(rng, m->s.beta_a, m->s.beta_b);
  else gs_rng_normal_fill(rng, z, (long)n * Z);
  if (m->kind == PC_VAEGM)
    for (int i = 0; i < n; i++) {
      if (comp) comp[i] = i % m->C;
      for (int j = 0; j < Z; j++) z[(long)i * Z + j] += m->means[(long)(i % m->C) * Z + j];
    }
}

/* Coverage and minimum matching distance (Achlioptas et al. 2018) between M clouds decoded from
 * prior samples and the first M test clouds, M = min(test clouds, PC_COV_CLOUDS), by Chamfer
 * distance: MMD = the mean over test clouds of the distance to the nearest generated one; COV =
 * the fraction of test clouds that are the nearest test cloud of some generated one. */
enum { PC_COV_CLOUDS = 128 };
static void coverage_mmd(gs_model *m, const gs_imageset *test, double *cov, double *mmd) {
  int M = (int)(test->n < PC_COV_CLOUDS ? test->n : PC_COV_CLOUDS), N3 = 3 * m->N, chunk = eval_chunk(m);
  gs_rng rng;
  gs_rng_seed(&rng, (uint64_t)m->cfg->seed, 1, GS_RNG_SAMPLE); /* not the recorded samples' stream */
  float *z = gs_malloc(sizeof(float) * (size_t)M * m->Z), *gen = gs_malloc(sizeof(float) * (size_t)M * N3);
  float *ref = gs_malloc(sizeof(float) * (size_t)M * N3), *rep = gs_malloc(sizeof(float) * (size_t)chunk * N3);
  int32_t *idx = gs_malloc(sizeof(int32_t) * M);
  double *d = gs_malloc(sizeof(double) * (size_t)M * M); /* d[g * M + t] */
  sample_prior(m, &rng, M, z, NULL);
  for (int i = 0; i < M; i += chunk) decode_codes(m, z + (long)i * m->Z, M - i < chunk ? M - i : chunk, gen + (long)i * N3);
  for (int i = 0; i < M; i++) idx[i] = i;
  gs_imageset_batch(test, idx, M, ref, NULL);
  for (int g = 0; g < M; g++) {
    gs_poll();
    for (int t0 = 0; t0 < M; t0 += chunk) {
      int b = M - t0 < chunk ? M - t0 : chunk;
      for (int i = 0; i < b; i++) memcpy(rep + (long)i * N3, gen + (long)g * N3, sizeof(float) * N3);
      gs_graph_begin(&m->g, NULL, 0);
      gs_tensor *cd = gs_chamfer(&m->g, gs_wrap2(&m->g, rep, b * m->N, 3),
                                 gs_wrap2(&m->g, ref + (long)t0 * N3, b * m->N, 3), b, m->N, m->N);
      for (int i = 0; i < b; i++) d[(long)g * M + t0 + i] = cd->x[i];
    }
  }
  char *hit = gs_calloc((size_t)M, 1);
  double sum = 0;
  for (int g = 0; g < M; g++) {
    int best = 0;
    for (int t = 1; t < M; t++) best = d[(long)g * M + t] < d[(long)g * M + best] ? t : best;
    hit[best] = 1;
  }
  long covered = 0;
  for (int t = 0; t < M; t++) {
    double lo = d[t];
    for (int g = 1; g < M; g++) lo = d[(long)g * M + t] < lo ? d[(long)g * M + t] : lo;
    sum += lo;
    covered += hit[t];
  }
  *cov = (double)covered / M;
  *mmd = sum / M;
  free(z), free(gen), free(ref), free(rep), free(idx), free(d), free(hit);
}

/* The point arrays of the file comment: reconstructions, prior samples, interpolation, halves;
 * and their pictures: clouds_recon (input | reconstruction pairs, 4 pairs a row), clouds_prior,
 * clouds_interp (one row), clouds_halves (a row per pair: a, b, a|b, b|a). */
static void record_point_arrays(gs_model *m, const gs_imageset *test, gs_record *rec) {
  int N3 = 3 * m->N, Z = m->Z;
  long ntest = test->n;
  int nr = (int)(m->s.n_recon < ntest ? m->s.n_recon : ntest);
  if (nr > 0) {
    int32_t *idx = gs_malloc(sizeof(int32_t) * nr);
    for (int i = 0; i < nr; i++) idx[i] = i;
    float *x = gs_malloc(sizeof(float) * (size_t)nr * N3), *y = gs_malloc(sizeof(float) * (size_t)nr * N3);
    gs_imageset_batch(test, idx, nr, x, NULL);
    float *z = codes_of(m, test, idx, nr);
    decode_codes(m, z, nr, y);
    record_clouds(m, rec, "pointclouds/recon_input", x, nr);
    record_clouds(m, rec, "pointclouds/recon_output", y, nr);
    const float **pair = gs_malloc(sizeof(float *) * 2 * (size_t)nr);
    for (int i = 0; i < nr; i++) pair[2 * i] = x + (long)i * N3, pair[2 * i + 1] = y + (long)i * N3;
    record_render(m, rec, "clouds_recon", pair, 2 * nr, nr < 4 ? 2 * nr : 8);
    free(pair);
    if (test->labels) {
      int32_t *lab = gs_malloc(sizeof(int32_t) * nr);
      for (int i = 0; i < nr; i++) lab[i] = test->labels[i];
      record_indices(rec, "pointclouds/recon_label", lab, nr, 1);
      free(lab);
    }
    free(idx), free(x), free(y), free(z);
  }
  int ns = m->kind != PC_AE ? (int)m->s.n_samples : 0;
  if (ns > 0) { /* z ~ N(0, I); pc_vaegm: sample i from component i mod C, z = mu_y + N(0, I); pc_beta: Beta */
    gs_rng rng;
    gs_rng_seed(&rng, (uint64_t)m->cfg->seed, 0, GS_RNG_SAMPLE);
    float *z = gs_malloc(sizeof(float) * (size_t)ns * Z), *y = gs_malloc(sizeof(float) * (size_t)ns * N3);
    int cols = ns < 8 ? ns : 8;
    int32_t *comp = gs_malloc(sizeof(int32_t) * ns);
    sample_prior(m, &rng, ns, z, comp);
    if (m->kind == PC_VAEGM) {
      record_indices(rec, "pointclouds/prior_component", comp, ns, 1);
      cols = ns < m->C ? ns : m->C; /* a column per component */
    }
    free(comp);
    decode_codes(m, z, ns, y);
    record_clouds(m, rec, "pointclouds/prior", y, ns);
    render_rows(m, rec, "clouds_prior", y, ns, cols);
    free(z), free(y);
  }
  int steps = (int)m->s.interp_steps;
  if (steps >= 2 && ntest >= 2) {
    int32_t ab[2] = {0, 1};
    for (long i = 1; i < ntest && test->labels; i++)
      if (test->labels[i] != test->labels[0]) {
        ab[1] = (int32_t)i;
        break;
      }
    float *zab = codes_of(m, test, ab, 2);
    float *z = gs_malloc(sizeof(float) * (size_t)steps * Z), *y = gs_malloc(sizeof(float) * (size_t)steps * N3);
    for (int k = 0; k < steps; k++) {
      float t = (float)k / (float)(steps - 1);
      for (int j = 0; j < Z; j++) z[(long)k * Z + j] = (1.0f - t) * zab[j] + t * zab[Z + j];
    }
    decode_codes(m, z, steps, y);
    record_clouds(m, rec, "pointclouds/interp", y, steps);
    render_rows(m, rec, "clouds_interp", y, steps, steps);
    record_indices(rec, "pointclouds/interp_index", ab, 2, 1);
    free(zab), free(z), free(y);
  }
  int pairs = (int)(m->s.halves < ntest / 2 ? m->s.halves : ntest / 2);
  if (pairs > 0) {
    int32_t *idx = gs_malloc(sizeof(int32_t) * 2 * pairs);
    for (int i = 0; i < 2 * pairs; i++) idx[i] = i;
    float *zp = codes_of(m, test, idx, 2 * pairs);
    float *z = gs_malloc(sizeof(float) * (size_t)4 * pairs * Z), *y = gs_malloc(sizeof(float) * (size_t)4 * pairs * N3);
    int half = Z / 2;
    for (int p = 0; p < pairs; p++) {
      const float *za = zp + (long)2 * p * Z, *zb = za + Z;
      float *r = z + (long)4 * p * Z;
      memcpy(r, za, sizeof(float) * Z);                          /* a */
      memcpy(r + Z, zb, sizeof(float) * Z);                      /* b */
      memcpy(r + 2 * Z, za, sizeof(float) * half);               /* a's first half | b's second */
      memcpy(r + 2 * Z + half, zb + half, sizeof(float) * (Z - half));
      memcpy(r + 3 * Z, zb, sizeof(float) * half);               /* b's first half | a's second */
      memcpy(r + 3 * Z + half, za + half, sizeof(float) * (Z - half));
    }
    decode_codes(m, z, 4 * pairs, y);
    record_clouds(m, rec, "pointclouds/halves", y, 4 * pairs);
    render_rows(m, rec, "clouds_halves", y, 4 * pairs, 4);
    record_indices(rec, "pointclouds/halves_index", idx, 2 * pairs, 2);
    free(idx), free(zp), free(z), free(y);
  }
}

/* pc_vaegm: the clusters argmax q(y|x) of the test set against its classes and, where the data
 * set has them, its sub-categories (the pairs (class, sub-category)): one-to-one accuracy (the
 * Hungarian matching of clusters to labels: with C clusters and K labels, min(C, K) of them are
 * matched and the rest count as wrong), many-to-one purity (each cluster its majority label:
 * what C > K clusters can reach), adjusted Rand index. The class accuracy every evaluation
 * (series), the rest at the end, with the C x K count table of the classes. */
static void record_clusters(gs_model *m, const gs_imageset *test, const int *assign, const gs_when *when, gs_record *rec) {
  long n = test->n;
  if (!test->labels || n == 0) return;
  int *lab = gs_malloc(sizeof(int) * n);
  for (long i = 0; i < n; i++) lab[i] = test->labels[i];
  double acc = gs_cluster_accuracy(assign, lab, n);
  int used = 0;
  char *seen = gs_calloc((size_t)m->C, 1);
  for (long i = 0; i < n; i++) used += !seen[assign[i]], seen[assign[i]] = 1;
  free(seen);
  gs_record_push(rec, "test_cluster_acc_class", acc);
  gs_record_push(rec, "test_clusters_used", used);
  if (when->final) {
    gs_record_scalar(rec, "test_cluster_acc_class", acc);
    gs_record_scalar(rec, "test_cluster_purity_class", gs_cluster_purity(assign, lab, n));
    gs_record_scalar(rec, "test_ari_class", gs_adjusted_rand_index(assign, lab, n));
    int K = test->n_classes, C = m->C;
    double *counts = gs_calloc((size_t)C * K, sizeof(double));
    for (long i = 0; i < n; i++) counts[(long)assign[i] * K + lab[i]] += 1;
    long shape[2] = {C, K};
    gs_record_array(rec, "clusters/counts_class", 2, shape, counts);
    gs_record_scalar(rec, "test_clusters_used", used);
    free(counts);
    if (test->subcats) {
      for (long i = 0; i < n; i++) lab[i] = test->labels[i] * 256 + test->subcats[i];
      gs_record_scalar(rec, "test_cluster_acc_subcat", gs_cluster_accuracy(assign, lab, n));
      gs_record_scalar(rec, "test_cluster_purity_subcat", gs_cluster_purity(assign, lab, n));
      gs_record_scalar(rec, "test_ari_subcat", gs_adjusted_rand_index(assign, lab, n));
    }
  }
  free(lab);
}

static int evaluate(gs_model *m, const gs_dataset *ds, const gs_when *when, gs_record *rec, gs_error *err) {
  const gs_imageset *test = &ds->test;
  int vae = m->kind != PC_AE, C = test->labels ? test->n_classes : 0;
  gs_rng rng;
  /* the same evaluation noise every epoch: curves compare the model, not the noise */
  gs_rng_seed(&rng, (uint64_t)m->cfg->seed, 0, GS_RNG_EVAL);
  double *class_sum = when->final && C > 0 ? gs_calloc((size_t)C, sizeof(double)) : NULL;
  long *class_n = class_sum ? gs_calloc((size_t)C, sizeof(long)) : NULL;
  int *assign = m->kind == PC_VAEGM ? gs_malloc(sizeof(int) * (test->n ? test->n : 1)) : NULL;
  pc_sums t = evaluate_set(m, test, &rng, class_sum, class_n, assign, when->final);
  double n = (double)t.n, cd = t.chamfer / n, rec_cd = t.rec / n, kl = t.kl / n, beta = m->s.kl_weight;
  double binary = t.binary / n, gap = (binary - cd) / cd;
  gs_record_push(rec, "test_chamfer", cd);
  if (vae) {
    gs_record_push(rec, "test_rec", rec_cd);
    gs_record_push(rec, "test_kl", kl);
    gs_record_push(rec, "test_loss", rec_cd + beta * kl);
  }
  if (m->kind == PC_BETA) gs_record_push(rec, "test_chamfer_binary", binary);
  if (assign) record_clusters(m, test, assign, when, rec);
  free(assign);
  double val = NAN;
  if (ds->val.n > 0) {
    pc_sums v = evaluate_set(m, &ds->val, &rng, NULL, NULL, NULL, 0);
    val = v.chamfer / (double)v.n;
    gs_record_push(rec, "val_chamfer", val);
  }
  if (!isfinite(cd) || (vae && !isfinite(rec_cd + beta * kl))) {
    free(class_sum), free(class_n);
    return gs_fail(err, "test Chamfer distance%s is not finite at epoch %d", vae ? " or KL" : "", when->epoch);
  }
  if (!when->final) return 0;
  gs_record_scalar(rec, "test_chamfer", cd);
  if (vae) {
    gs_record_scalar(rec, "test_rec", rec_cd);
    gs_record_scalar(rec, "test_kl", kl);
    gs_record_scalar(rec, "test_loss", rec_cd + beta * kl);
  }
  if (m->kind == PC_BETA) {
    gs_record_scalar(rec, "test_chamfer_binary", binary);
    gs_record_scalar(rec, "test_binary_gap", gap);
    gs_record_scalar(rec, "test_code_near_binary", t.near01 / (n * m->Z));
  }
  if (m->kind == PC_VAEGM) gs_record_scalar(rec, "test_qy_confidence", t.qy_max / n);
  gs_record_scalar(rec, "test_critical_points", (double)t.critical / n); /* per cloud, of pc.points */
  if (ds->val.n > 0) gs_record_scalar(rec, "val_chamfer", val);
  if (class_sum) {
    for (int k = 0; k < C; k++) class_sum[k] = class_n[k] ? class_sum[k] / class_n[k] : NAN;
    long shape[1] = {C};
    gs_record_array(rec, "per_class/test_chamfer", 1, shape, class_sum);
    free(class_sum), free(class_n);
  }
  if (m->kind != PC_AE && test->n > 0) {
    double t0 = gs_now(), cov, mmd;
    coverage_mmd(m, test, &cov, &mmd);
    gs_record_scalar(rec, "test_coverage", cov);
    gs_record_scalar(rec, "test_mmd", mmd);
    gs_record_scalar(rec, "coverage_seconds", gs_now() - t0);
  }
  int ne = (int)(m->s.emd_clouds < test->n ? m->s.emd_clouds : test->n);
  if (ne > 0) {
    double t0 = gs_now();
    gs_record_scalar(rec, "test_emd", test_emd(m, test, ne));
    gs_record_scalar(rec, "emd_seconds", gs_now() - t0);
  }
  record_point_arrays(m, test, rec);
  return 0;
}

/* Multiply-adds per cloud (the per-point MLP and heads over N points, the decoder, Chamfer's
 * N x N distances through a K = 5 sgemm), x3 for forward + backward in training (the encoder's
 * backward over the critical points only, under pc.sparse_backward); the test set's
 * forward every evaluation; the final exact EMD counted as ~100 N^2 per cloud. */
static double cost(const gs_config *c, const gs_data_sizes *d, pc_kind kind) {
  pc_settings s;
  gs_config_read(c, keys_of[kind], nkeys_of[kind], &s);
  double N = d->dim >= 3 ? (double)(d->dim / 3) : 1, Z = (double)s.latent_dim;
  double heads = kind != PC_AE ? 2 : 1, decodes = kind == PC_VAEGM ? (double)s.components : 1;
  double per_point = 3.0 * s.enc[0] + (double)s.enc[0] * s.enc[1] + (double)s.enc[1] * s.enc[2] +
                     (double)s.enc[2] * s.enc[3] + heads * s.enc[3] * Z;
  double dec = Z * s.dec[0] + (double)s.dec[0] * s.dec[1] + (double)s.dec[1] * 3 * N;
  double per_cloud = 2.0 * (N * per_point + decodes * (dec + 5.0 * N * N)); /* pc_vaegm: C decodes */
  /* a training step: the encoder forward over every point, and under pc.sparse_backward forward
   * and backward again over the critical points, counted at their bound (a max per pooled feature) */
  double critical = heads * Z + (kind == PC_VAEGM ? (double)s.enc[3] : 0);
  double step_points = s.sparse_backward && 3.0 * critical <= 2.0 * N ? N + 3.0 * critical : 3.0 * N;
  double train_cloud = 2.0 * (step_points * per_point + 3.0 * decodes * (dec + 5.0 * N * N));
  double n = c->train_size > 0 ? c->train_size : d->train;
  long every = c->eval_every > 0 ? c->eval_every : 1;
  double evaluations = (double)(c->epochs / every + (c->epochs % every != 0));
  double emd = (double)(s.emd_clouds < d->test ? s.emd_clouds : d->test) * 100.0 * N * N;
  return train_cloud * n * c->epochs + per_cloud * heads * d->test * evaluations + emd;
}
static double cost_ae(const gs_config *c, const gs_data_sizes *d) { return cost(c, d, PC_AE); }
static double cost_vae(const gs_config *c, const gs_data_sizes *d) { return cost(c, d, PC_VAE); }
static double cost_vaegm(const gs_config *c, const gs_data_sizes *d) { return cost(c, d, PC_VAEGM); }
static double cost_beta(const gs_config *c, const gs_data_sizes *d) { return cost(c, d, PC_BETA); }

static void destroy(gs_model *m) {
  if (!m) return;
  gs_params_free(&m->p);
  gs_graph_free(&m->g);
  free(m->xbuf);
  free(m->ebuf);
  free(m->means);
  free(m);
}

static const gs_metric_label done_metrics[] = {{"test_chamfer", "test Chamfer"}, {"test_emd", "test EMD"}, {NULL, NULL}};

#define PC_COMMON                                                                                            \
  .headline = "test_chamfer", .done_metrics = done_metrics,                             \
  .data = {.kind = GS_SAMPLES_POINTS, .min_dims = {1, 3}}, .params = params, .train_step = train_step,        \
  .evaluate = evaluate, .feature_dim = feature_dim, .features = features, .destroy = destroy

const gs_model_def gs_model_pc_ae = {
    .name = "pc_ae", .description = "point-cloud autoencoder: PointNet encoder (per-point MLP, max over points), MLP decoder, Chamfer loss",
    .about = "point clouds, Chamfer loss", .keys = pc_ae_keys, .nkeys = NKEYS_AE, .defaults = pc_ae_defaults,
    .cost = cost_ae, .create = create_ae, .validate = validate, PC_COMMON};
const gs_model_def gs_model_pc_vae = {
    .name = "pc_vae", .description = "point-cloud VAE: the pc_ae networks, N(0, I) prior, loss Chamfer + beta * KL",
    .about = "point clouds, N(0, I) prior", .keys = pc_vae_keys, .nkeys = NKEYS_VAE, .defaults = pc_vae_defaults,
    .cost = cost_vae, .create = create_vae, .validate = validate, PC_COMMON};
const gs_model_def gs_model_pc_vaegm = {
    .name = "pc_vaegm",
    .description = "point-cloud VAE with a mixture prior: the pc_vae networks, C components N(mu_y, I), q(y|x) and "
                   "q(z|x, y), the ELBO summed over y; records clusters argmax q(y|x) against classes and sub-categories",
    .about = "point clouds, mixture-of-Gaussians prior", .keys = pc_vaegm_keys, .nkeys = NKEYS_VAEGM,
    .defaults = pc_vae_defaults, .cost = cost_vaegm, .create = create_vaegm, .validate = validate_gm, PC_COMMON};
const gs_model_def gs_model_pc_beta = {
    .name = "pc_beta",
    .description = "point-cloud VAE with codes in (0, 1): Beta(a, b) prior, Kumaraswamy posterior; records the test "
                   "Chamfer distance from the continuous and from the rounded, binary code",
    .about = "point clouds, Beta prior, binary codes", .keys = pc_beta_keys, .nkeys = NKEYS_BETA,
    .defaults = pc_vae_defaults, .cost = cost_beta, .create = create_beta, .validate = validate, PC_COMMON};
