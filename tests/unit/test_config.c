/* Tests of the experiment files: key table, value parsing, loading errors, grid expansion,
 * run ids, canonical text and hashes, the shipped experiments, and a large grid. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgkeys.h"
#include "gensweep/models/model.h"
#include "gensweep/config/config.h"

#ifndef GS_SOURCE_DIR
#define GS_SOURCE_DIR "."
#endif

/* ------------------------------------------------------------------ helpers */

static const gs_key *key(const char *full) {
  char sec[64];
  const char *dot = strchr(full, '.');
  cr_assert(dot, "bad key name %s", full);
  snprintf(sec, sizeof sec, "%.*s", (int)(dot - full), full);
  const gs_key *k = gs_config_find_key(gs_models_vocabulary(), sec, dot + 1);
  cr_assert(k, "no key %s", full);
  return k;
}

static char *fmt(const gs_config *c, const char *full) {
  static char buf[4][600];
  static int slot;
  char *b = buf[slot++ % 4];
  gs_config_format(c, key(full), b, 600);
  return b;
}

/* Loading must fail; the message must start with `where` and contain every fragment. */
static void expect_error(const char *text, const char *where, const char *frag1, const char *frag2) {
  gs_sweep sw;
  gs_error err = {0};
  int rc = gs_sweep_load_text("exp.ini", gs_models_vocabulary(), text, &sw, &err);
  cr_assert_neq(rc, 0, "expected an error (%s %s) for:\n%s", where, frag1 ? frag1 : "", text);
  cr_assert_neq(err.code, 0);
  cr_assert_eq(strncmp(err.msg, where, strlen(where)), 0, "message '%s' does not start with '%s'", err.msg, where);
  if (frag1) cr_assert(strstr(err.msg, frag1), "message '%s' lacks '%s'", err.msg, frag1);
  if (frag2) cr_assert(strstr(err.msg, frag2), "message '%s' lacks '%s'", err.msg, frag2);
  cr_assert_eq(sw.runs, NULL);
  cr_assert_eq(sw.text, NULL);
  gs_sweep_free(&sw); /* harmless after a failed load */
}

static void expect_set_error(const char *full, const char *value, const char *exact_or_frag, int exact) {
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  gs_config before = c;
  gs_error err = {0};
  cr_assert_neq(gs_config_set(&c, key(full), value, &err), 0, "%s = '%s' was accepted", full, value);
  if (exact)
    cr_assert_str_eq(err.msg, exact_or_frag);
  else
    cr_assert(strstr(err.msg, exact_or_frag), "message '%s' lacks '%s'", err.msg, exact_or_frag);
  cr_assert_eq(memcmp(&c, &before, sizeof c), 0, "a failed set changed the config");
}

static void load_ok(const char *text, gs_sweep *sw) {
  gs_error err = {0};
  cr_assert_eq(gs_sweep_load_text("exp.ini", gs_models_vocabulary(), text, sw, &err), 0, "load failed: %s", err.msg);
  cr_assert_eq(err.code, 0);
}

/* ------------------------------------------------------------------ key table, defaults */

Test(config, key_table_is_consistent) {
  const gs_vocabulary *v = gs_models_vocabulary();
  cr_assert_eq(v->nkeys, 109);
  const char *order[] = {"sweep", "data", "model", "train", "eval", "igmn"}; /* then probe, gan, ... */
  int sec = 0;
  for (int i = 0; i < v->nkeys; i++) {
    const gs_key *k = v->keys[i];
    cr_assert(k->help && *k->help, "%s.%s has no help", k->section, k->name);
    cr_assert(k->def, "%s.%s has no default", k->section, k->name);
    cr_assert_eq(gs_config_find_key(v, k->section, k->name), k);
    /* the 48 keys of gensweep 0.1 first, by section (the hash's order); keys added since follow */
    while (i < 48 && sec < 6 && strcmp(order[sec], k->section) != 0) sec++;
    cr_assert_lt(sec, 6, "section %s out of order", k->section);
    /* the runner's keys live in gs_config's fields, the models' in slots: no two share either */
    for (int j = 0; j < i; j++) {
      if (v->slot[i] < 0 && v->slot[j] < 0) cr_assert_neq(v->keys[j]->offset, k->offset, "two keys share a field");
      if (v->slot[i] >= 0) cr_assert_neq(v->slot[j], v->slot[i], "two keys share a slot");
    }
    /* a model key is read by at least one model; a runner key by none */
    cr_assert_eq(v->slot[i] >= 0, v->readers[i] != 0, "%s.%s", k->section, k->name);
  }
  cr_assert_str_eq(v->sections[v->nsections - 2], "grid");
  cr_assert_str_eq(v->sections[v->nsections - 1], "search");
  cr_assert_null(gs_config_find_key(v, "model", "nope"));
  cr_assert_null(gs_config_find_key(v, "nope", "name"));
}

/* The canonical order (so every run's hash) keeps the order of the one table of gensweep 0.1. */
Test(config, canonical_order_is_the_v1_order) {
  const char *v1[] = {"sweep.name", "sweep.description", "sweep.results", "data.dataset", "data.train_size",
                      "data.test_size", "data.val_split", "data.seed", "model.name", "model.latent_dim",
                      "model.hidden1", "model.hidden2", "model.conv1", "model.conv2", "train.epochs",
                      "train.batch_size", "train.optimizer", "train.lr", "train.momentum", "train.rho",
                      "train.beta1", "train.beta2", "train.eps", "train.seed", "train.threads",
                      "train.ranks_per_run", "train.checkpoint_every", "eval.iw_samples", "eval.iw_test_size",
                      "eval.n_samples", "eval.n_recon", "eval.manifold_n", "eval.manifold_class",
                      "eval.eval_every", "eval.judge", "eval.judge_epochs", "igmn.c", "igmn.beta", "igmn.v_min",
                      "igmn.sp_min", "igmn.cov_update", "igmn.umbrella_tau", "igmn.umbrella_kappa", "igmn.mu",
                      "igmn.retrain_epochs", "igmn.refresh", "igmn.collapse", "igmn.samples"};
  const gs_vocabulary *v = gs_models_vocabulary();
  for (int i = 0; i < 48; i++) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", v->keys[i]->section, v->keys[i]->name);
    cr_assert_str_eq(full, v1[i]);
  }
}

/* Models own their keys: a key two models declare must agree, a model cannot redeclare a runner
 * key, and model.name's choices are the models'. */
static const gs_key two_a[] = {GS_KEY_INT(gs_value, "model", "width", i, 1, 10, "3", "a width")};
static const gs_key two_b[] = {GS_KEY_INT(gs_value, "model", "width", i, 1, 10, "4", "a width")};
static const gs_key two_c[] = {GS_KEY_INT(gs_value, "train", "epochs", i, 1, 10, "4", "epochs again")};
static const gs_key two_d[] = {GS_KEY_INT(gs_value, "toy", "depth", i, 1, 10, "2", "a depth")};
typedef struct int_settings {
  int depth;
  char mode[4];
} int_settings;
static const gs_key two_e[] = {GS_KEY_INT(int_settings, "toy", "depth", depth, 1, 10, "2", "a depth")};
static const gs_key enum16[] = {GS_KEY_ENUM(gs_value, "toy", "mode", s, "ab|cd", "ab", "a mode")};
static const gs_key enum4bytes[] = {GS_KEY_ENUM(int_settings, "toy", "mode", mode, "ab|cd", "ab", "a mode")};
Test(config, vocabulary_checks_the_models_declarations) {
  gs_vocabulary v;
  gs_error err;
  gs_model_keys ok[] = {{.model = "a", .keys = two_a, .nkeys = 1}, {.model = "b", .keys = two_a, .nkeys = 1},
                        {.model = "c", .keys = two_d, .nkeys = 1}};
  cr_assert_eq(gs_vocabulary_init(&v, ok, 3, &err), 0, "%s", err.msg);
  cr_assert_eq(v.nkeys, gs_runner_nkeys + 2);
  cr_assert_str_eq(v.model_choices, "a|b|c");
  cr_assert_str_eq(v.sections[v.nsections - 3], "toy", "a model's own section, then grid and search");
  cr_assert_str_eq(v.sections[v.nsections - 1], "search");
  gs_config c;
  gs_config_defaults(&c, &v);
  cr_assert_eq(cfg_get(&c, "model.width"), 3);
  GS_STRCPY(c.model, "c");
  uint64_t h = gs_config_hash(&c);
  cfg_set(&c, "model.width", 7);
  cr_assert_eq(gs_config_hash(&c), h, "model c does not read model.width");
  GS_STRCPY(c.model, "b");
  h = gs_config_hash(&c);
  cfg_set(&c, "model.width", 8);
  cr_assert_neq(gs_config_hash(&c), h, "model b reads model.width");

  gs_model_keys differ[] = {{.model = "a", .keys = two_a, .nkeys = 1}, {.model = "b", .keys = two_b, .nkeys = 1}};
  cr_assert_neq(gs_vocabulary_init(&v, differ, 2, &err), 0);
  cr_assert(strstr(err.msg, "model.width is declared differently by models a and b"), "%s", err.msg);
  gs_model_keys runner[] = {{.model = "a", .keys = two_c, .nkeys = 1}};
  cr_assert_neq(gs_vocabulary_init(&v, runner, 1, &err), 0);
  cr_assert(strstr(err.msg, "train.epochs, a key of the runner"), "%s", err.msg);
  gs_model_keys twice[] = {{.model = "a", .keys = two_a, .nkeys = 1}, {.model = "a", .keys = two_a, .nkeys = 1}};
  cr_assert_neq(gs_vocabulary_init(&v, twice, 2, &err), 0);
  cr_assert(strstr(err.msg, "model a registered twice"), "%s", err.msg);
  /* an int field would be overwritten by gs_config_read's long; a choice field of another size */
  gs_model_keys small[] = {{.model = "a", .keys = two_e, .nkeys = 1}};
  cr_assert_neq(gs_vocabulary_init(&v, small, 1, &err), 0);
  cr_assert(strstr(err.msg, "an integer key reads into a long"), "%s", err.msg);
  gs_model_keys sizes[] = {{.model = "a", .keys = enum16, .nkeys = 1}, {.model = "b", .keys = enum4bytes, .nkeys = 1}};
  cr_assert_neq(gs_vocabulary_init(&v, sizes, 2, &err), 0);
  cr_assert(strstr(err.msg, "toy.mode is declared differently by models a and b"), "%s", err.msg);
}

Test(config, defaults) {
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  cr_assert_str_eq(c.sweep_name, "sweep");
  cr_assert_str_eq(c.description, "");
  cr_assert_str_eq(c.results, "results");
  cr_assert_str_eq(c.dataset, "fashion-mnist");
  cr_assert_eq(c.train_size, 0);
  cr_assert_eq(c.test_size, 0);
  cr_assert_eq(c.val_split, 0.0);
  cr_assert_eq(c.data_seed, 1);
  cr_assert_str_eq(c.model, "vae");
  cr_assert_eq(cfg_get(&c, "model.latent_dim"), 25);
  cr_assert_eq(cfg_get(&c, "model.hidden1"), 512);
  cr_assert_eq(cfg_get(&c, "model.hidden2"), 256);
  cr_assert_eq(c.epochs, 10);
  cr_assert_eq(c.batch_size, 100);
  cr_assert_str_eq(c.optimizer, "rmsprop");
  cr_assert_eq(c.lr, 1e-3);
  cr_assert_eq(c.momentum, 0.0);
  cr_assert_eq(c.rho, 0.9);
  cr_assert_eq(c.beta1, 0.9);
  cr_assert_eq(c.beta2, 0.999);
  cr_assert_eq(c.eps, 1e-7);
  cr_assert_eq(c.seed, 1);
  cr_assert_eq(c.threads, 1);
  cr_assert_eq(c.ranks_per_run, 1);
  cr_assert_eq(c.checkpoint_every, 1);
  cr_assert_eq(cfg_get(&c, "eval.iw_samples"), 100);
  cr_assert_eq(cfg_get(&c, "eval.iw_test_size"), 0);
  cr_assert_eq(cfg_get(&c, "eval.n_samples"), 64);
  cr_assert_eq(cfg_get(&c, "eval.n_recon"), 16);
  cr_assert_eq(cfg_get(&c, "eval.manifold_n"), 20);
  cr_assert_eq(c.eval_every, 1);
  gs_error err = {0};
  cr_assert_eq(gs_config_validate(&c, &err), 0, "%s", err.msg);
  /* an experiment with one empty section is the defaults, one run called "run" */
  gs_sweep sw;
  load_ok("[sweep]\n", &sw);
  cr_assert_eq(sw.nruns, 1);
  cr_assert_eq(sw.naxes, 0);
  cr_assert_str_eq(sw.runs[0].id, "run");
  cr_assert_eq(sw.runs[0].hash, gs_config_hash(&c));
  cr_assert_str_eq(sw.path, "exp.ini");
  cr_assert_str_eq(sw.text, "[sweep]\n");
  gs_sweep_free(&sw);
  /* a file without any section is refused: it would run the whole default sweep */
  expect_error("", "exp.ini:1: ", "no [section] in the file", NULL);
  expect_error("; only a comment\n\n# and another\n", "exp.ini:1: ", "no [section] in the file", NULL);
}

/* ------------------------------------------------------------------ value parsing */

Test(config, set_integers) {
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  gs_error err = {0};
  cr_assert_eq(gs_config_set(&c, key("model.latent_dim"), "  42 ", &err), 0, "%s", err.msg);
  cr_assert_eq(cfg_get(&c, "model.latent_dim"), 42);
  cr_assert_eq(gs_config_set(&c, key("model.latent_dim"), "+7", &err), 0, "%s", err.msg);
  cr_assert_eq(cfg_get(&c, "model.latent_dim"), 7);
  cr_assert_eq(gs_config_set(&c, key("train.seed"), "2147483647", &err), 0, "%s", err.msg);
  cr_assert_eq(c.seed, 2147483647L);
  expect_set_error("model.latent_dim", "0", "model.latent_dim = 0: out of range, must be in [1, 4096]", 1);
  expect_set_error("model.latent_dim", "4097", "model.latent_dim = 4097: out of range, must be in [1, 4096]", 1);
  expect_set_error("train.seed", "2147483648", "must be in [0, 2147483647]", 0);
  expect_set_error("train.seed", "99999999999999999999999", "out of range", 0);
  expect_set_error("train.epochs", "1e3", "train.epochs = 1e3: not an integer", 1);
  expect_set_error("train.epochs", "10.0", "train.epochs = 10.0: not an integer", 1);
  expect_set_error("train.epochs", "ten", "not an integer", 0);
  expect_set_error("train.epochs", "0x10", "not an integer", 0);
  expect_set_error("train.epochs", "5 6", "not an integer", 0);
  expect_set_error("train.epochs", "", "train.epochs: missing value", 0);
  expect_set_error("train.epochs", "5 # five", "inline comment", 0);
}

Test(config, set_floats) {
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  gs_error err = {0};
  cr_assert_eq(gs_config_set(&c, key("train.lr"), " 2.5e-4 ", &err), 0, "%s", err.msg);
  cr_assert_eq(c.lr, 2.5e-4);
  cr_assert_eq(gs_config_set(&c, key("train.lr"), "10", &err), 0, "%s", err.msg);
  cr_assert_eq(gs_config_set(&c, key("train.momentum"), "0", &err), 0, "%s", err.msg);
  cr_assert_eq(gs_config_set(&c, key("train.momentum"), "-0", &err), 0, "%s", err.msg);
  cr_assert_str_eq(fmt(&c, "train.momentum"), "0");
  cr_assert_eq(gs_config_set(&c, key("data.val_split"), "0.9", &err), 0, "%s", err.msg);
  cr_assert_eq(gs_config_set(&c, key("train.eps"), "1", &err), 0, "%s", err.msg);
  expect_set_error("train.lr", "0", "train.lr = 0: out of range, must be in (0, 10]", 1);
  expect_set_error("train.lr", "10.5", "must be in (0, 10]", 0);
  expect_set_error("train.lr", "-1e-3", "out of range", 0);
  expect_set_error("train.momentum", "1", "train.momentum = 1: out of range, must be in [0, 1)", 1);
  expect_set_error("train.rho", "1.0", "must be in [0, 1)", 0);
  expect_set_error("train.beta2", "1", "must be in [0, 1)", 0);
  expect_set_error("train.eps", "0", "must be in (0, 1]", 0);
  expect_set_error("data.val_split", "0.95", "must be in [0, 0.9]", 0);
  expect_set_error("train.lr", "nan", "train.lr = nan: not a finite number", 1);
  expect_set_error("train.lr", "inf", "not a finite number", 0);
  expect_set_error("train.lr", "1e999", "not a finite number", 0);
  expect_set_error("train.lr", "fast", "train.lr = fast: not a number", 1);
  expect_set_error("train.lr", "1e-3x", "not a number", 0);
  expect_set_error("train.lr", "  ", "train.lr: missing value", 0);
}

Test(config, set_strings_and_enums) {
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  gs_error err = {0};
  cr_assert_eq(gs_config_set(&c, key("model.name"), "cvae", &err), 0, "%s", err.msg);
  cr_assert_str_eq(c.model, "cvae");
  cr_assert_eq(gs_config_set(&c, key("train.optimizer"), "adam", &err), 0, "%s", err.msg);
  cr_assert_str_eq(c.optimizer, "adam");
  expect_set_error("model.name", "VAE", "model.name = VAE: must be one of vae, cvae, cae, cae_igmn, gan, dcgan1, dcgan4, pixels, pc_ae, pc_vae, pc_vaegm, pc_beta", 1);
  expect_set_error("model.name", "va", "must be one of vae, cvae, cae, cae_igmn, gan, dcgan1, dcgan4", 0);
  expect_set_error("train.optimizer", "lbfgs", "train.optimizer = lbfgs: must be one of rmsprop, adam, sgd", 1);
  expect_set_error("train.optimizer", "", "missing value", 0);

  cr_assert_eq(gs_config_set(&c, key("data.dataset"), " /data/my fmnist ", &err), 0, "%s", err.msg);
  cr_assert_str_eq(c.dataset, "/data/my fmnist");
  cr_assert_eq(gs_config_set(&c, key("sweep.description"), "", &err), 0, "%s", err.msg);
  cr_assert_str_eq(c.description, "");
  expect_set_error("data.dataset", "", "data.dataset: must not be empty", 1);
  expect_set_error("sweep.results", "", "must not be empty", 0);
  char big[600];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  expect_set_error("data.dataset", big, "data.dataset: value too long (599 characters, at most 511)", 1);
  big[64] = 0;
  expect_set_error("sweep.name", big, "at most 63", 0);
  big[63] = 0;
  cr_assert_eq(gs_config_set(&c, key("sweep.name"), big, &err), 0, "%s", err.msg);

  /* sweep.name is a directory name */
  const char *good[] = {"a", "vae_latent-sweep.v2", "X9", "a.b"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    cr_assert_eq(gs_config_set(&c, key("sweep.name"), good[i], &err), 0, "%s: %s", good[i], err.msg);
  const char *bad[] = {".hidden", "..", "a/b", "my sweep", "a\\b", "caf\xc3\xa9", "x:y", "a*"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    expect_set_error("sweep.name", bad[i], "not a valid directory name", 0);
  expect_set_error("sweep.name", "", "sweep.name: must not be empty", 1);
}

/* ------------------------------------------------------------------ loading errors */

Test(load, missing_file) {
  gs_sweep sw;
  gs_error err = {0};
  cr_assert_neq(gs_sweep_load("/nonexistent/dir/exp.ini", gs_models_vocabulary(), &sw, &err), 0);
  cr_assert_str_eq(err.msg, "/nonexistent/dir/exp.ini: cannot open: No such file or directory");
  cr_assert_null(sw.runs);
  gs_sweep_free(&sw);
}

Test(load, from_file_in_tmpdir) {
  char dir[] = "/tmp/gs_cfg_XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/bad.ini", dir);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("[sweep]\nname = t\n\n[model]\nlatnt_dim = 3\n", f);
  fclose(f);
  gs_sweep sw;
  gs_error err = {0};
  cr_assert_neq(gs_sweep_load(path, gs_models_vocabulary(), &sw, &err), 0);
  char want[400];
  snprintf(want, sizeof want, "%s:5: unknown key 'latnt_dim' in [model]; did you mean 'latent_dim'?", path);
  cr_assert_str_eq(err.msg, want);

  f = fopen(path, "w");
  fputs("[sweep]\nname = t\n[model]\nlatent_dim = 3\n", f);
  fclose(f);
  cr_assert_eq(gs_sweep_load(path, gs_models_vocabulary(), &sw, &err), 0, "%s", err.msg);
  cr_assert_str_eq(sw.path, path);
  cr_assert_str_eq(sw.text, "[sweep]\nname = t\n[model]\nlatent_dim = 3\n");
  cr_assert_eq(cfg_get(&sw.base, "model.latent_dim"), 3);
  gs_sweep_free(&sw);

  f = fopen(path, "wb"); /* a NUL byte on line 2 */
  fwrite("[sweep]\nna\0me = t\n", 1, 18, f);
  fclose(f);
  cr_assert_neq(gs_sweep_load(path, gs_models_vocabulary(), &sw, &err), 0);
  cr_assert(strstr(err.msg, ":2: NUL byte"), "%s", err.msg);
  unlink(path);
  rmdir(dir);
}

Test(load, unknown_section) {
  expect_error("[sweep]\nname = x\n[trian]\nepochs = 3\n", "exp.ini:3: ",
               "unknown section [trian]; did you mean [train]?", NULL);
  /* reported even without keys in it; [Model] differs only in case */
  expect_error("[Model]\n", "exp.ini:1: ", "unknown section [Model]; did you mean [model]?", NULL);
  expect_error("; c\n[training]\n", "exp.ini:2: ", "did you mean [train]?", NULL);
  expect_error("[optimiser]\nlr = 1\n", "exp.ini:1: ", "unknown section [optimiser] (sections: sweep, data, model",
               NULL);
  expect_error("[]\nlr = 1\n", "exp.ini:1: ", "empty section name", NULL);
  /* keys of an unknown section are not reported on their own: the next error is on line 4 */
  expect_error("[trian]\nepochs = 3\n[model]\nbad = 1\n", "exp.ini:1: ", "[trian]", NULL);
}

Test(load, unknown_key_did_you_mean) {
  expect_error("[sweep]\nname = x\n\n[model]\nname = vae\n\nlatnt_dim = 5\n", "exp.ini:7: ",
               "unknown key 'latnt_dim' in [model]; did you mean 'latent_dim'?", NULL);
  expect_error("[train]\nbatchsize = 5\n", "exp.ini:2: ", "did you mean 'batch_size'?", NULL);
  expect_error("[train]\nlearning_rat = 5\n", "exp.ini:2: ", "unknown key 'learning_rat' in [train]", NULL);
  expect_error("[eval]\nn_sample = 5\n", "exp.ini:2: ", "did you mean 'n_samples'?", NULL);
  /* a key of another section */
  expect_error("[model]\nepochs = 3\n", "exp.ini:2: ", "unknown key 'epochs' in [model]; did you mean [train] epochs?",
               NULL);
  expect_error("[train]\nlatent_dim = 3\n", "exp.ini:2: ", "did you mean [model] latent_dim?", NULL);
  expect_error("[data]\niw_sample = 3\n", "exp.ini:2: ", "did you mean [eval] iw_samples?", NULL);
  /* nothing close: list the keys of the section */
  expect_error("[model]\nfoo = 3\n", "exp.ini:2: ",
               "unknown key 'foo' in [model] (keys in [model]: name, latent_dim, hidden1, hidden2, conv1, conv2, noise_dim)", NULL);
}

Test(load, suggest_function) {
  char buf[128];
  cr_assert_str_eq(gs_config_suggest(gs_models_vocabulary(), "model", "latnt_dim", buf, sizeof buf), "model.latent_dim");
  cr_assert_str_eq(gs_config_suggest(gs_models_vocabulary(), "model", "epochs", buf, sizeof buf), "train.epochs");
  cr_assert_str_eq(gs_config_suggest(gs_models_vocabulary(), "modle", "latent_dim", buf, sizeof buf), "model.latent_dim");
  cr_assert_str_eq(gs_config_suggest(gs_models_vocabulary(), "", "batch_size", buf, sizeof buf), "train.batch_size");
  cr_assert_str_eq(gs_config_suggest(gs_models_vocabulary(), "train", "Seed", buf, sizeof buf), "train.seed");
  cr_assert_str_eq(gs_config_suggest(gs_models_vocabulary(), "train", "optimiser", buf, sizeof buf), "train.optimizer");
  cr_assert_str_eq(gs_config_suggest(gs_models_vocabulary(), "train", "bta1", buf, sizeof buf), "train.beta1");
  cr_assert_null(gs_config_suggest(gs_models_vocabulary(), "model", "completely_different", buf, sizeof buf));
  cr_assert_null(gs_config_suggest(gs_models_vocabulary(), "model", "", buf, sizeof buf));
}

Test(load, duplicate_key) {
  expect_error("[sweep]\nname = x\n[model]\nlatent_dim = 2\nhidden1 = 3\n\n[train]\nepochs = 2\n[model]\nlatent_dim = 5\n",
               "exp.ini:10: ", "duplicate key model.latent_dim (first set on line 4)", NULL);
  expect_error("[grid]\ntrain.seed = 1, 2\ntrain.seed = 3\n", "exp.ini:3: ",
               "duplicate key train.seed in [grid] (first set on line 2;", NULL);
}

Test(load, key_outside_section) {
  expect_error("; header comment\nlatent_dim = 5\n[model]\n", "exp.ini:2: ",
               "key 'latent_dim' is outside any section; did you mean [model] latent_dim?", NULL);
  expect_error("zzz = 5\n", "exp.ini:1: ", "key 'zzz' is outside any section", NULL);
}

Test(load, type_and_range_errors_have_lines) {
  expect_error("[model]\nname = vae\nlatent_dim = 0\n", "exp.ini:3: ",
               "model.latent_dim = 0: out of range, must be in [1, 4096]", NULL);
  expect_error("[model]\nname = wgan\n", "exp.ini:2: ", "model.name = wgan: must be one of vae, cvae, cae, cae_igmn, gan, dcgan1, dcgan4", NULL);
  expect_error("[train]\n\nepochs = 1e3\n", "exp.ini:3: ", "train.epochs = 1e3: not an integer", NULL);
  expect_error("[train]\nlr = 0\n", "exp.ini:2: ", "train.lr = 0: out of range, must be in (0, 10]", NULL);
  expect_error("[train]\nlr = 1e-3 # comment\n", "exp.ini:2: ", "not a number", "inline comment");
  expect_error("[sweep]\nname = my sweep\n", "exp.ini:2: ", "not a valid directory name", NULL);
  expect_error("[sweep]\nname =\n", "exp.ini:2: ", "sweep.name: must not be empty", NULL);
}

Test(load, syntax_errors) {
  expect_error("[sweep]\nname = x\n[model\nlatent_dim = 3\n", "exp.ini:3: ", "syntax error", "']'");
  expect_error("[model]\nlatent_dim 3\n", "exp.ini:2: ", "syntax error", "key = value");
  /* the first error by line wins, whatever found it */
  expect_error("[model]\nlatent_dim 3\n[train]\nepochs = x\n", "exp.ini:2: ", "syntax error", NULL);
  expect_error("[train]\nepochs = x\n[model]\nlatent_dim 3\n", "exp.ini:2: ", "train.epochs = x: not an integer",
               NULL);
}

Test(load, line_too_long) {
  char text[1200];
  char pad[400];
  memset(pad, ' ', sizeof pad);
  pad[sizeof pad - 1] = 0;
  memcpy(pad, "very long", 9);
  snprintf(text, sizeof text, "[sweep]\nname = x\ndescription = %s;\n[model]\nlatent_dim = 3\n", pad);
  expect_error(text, "exp.ini:3: ", "line too long (", "at most 199;");
  /* line numbers after it stay right */
  snprintf(text, sizeof text, "[sweep]\ndescription = %s;\n[model]\nlatnt_dim = 3\n", pad);
  gs_sweep sw;
  gs_error err = {0};
  cr_assert_neq(gs_sweep_load_text("exp.ini", gs_models_vocabulary(), text, &sw, &err), 0);
  cr_assert(strstr(err.msg, "exp.ini:2: line too long"), "%s", err.msg);
  /* a long comment is fine, and does not shift later lines */
  char longc[500];
  memset(longc, '-', sizeof longc);
  longc[sizeof longc - 1] = 0;
  snprintf(text, sizeof text, "; %s\n# %s\n[model]\nlatnt_dim = 3\n", longc, longc);
  expect_error(text, "exp.ini:4: ", "did you mean 'latent_dim'?", NULL);
  /* exactly at the limit: accepted */
  char desc[200];
  memset(desc, 'd', sizeof desc);
  snprintf(text, sizeof text, "[sweep]\ndescription = %.*s\n", 199 - 14, desc);
  load_ok(text, &sw);
  cr_assert_eq(strlen(sw.base.description), 185);
  gs_sweep_free(&sw);
  snprintf(text, sizeof text, "[sweep]\ndescription = %.*s\n", 200 - 14, desc);
  expect_error(text, "exp.ini:2: ", "line too long (200 characters, at most 199;", NULL);
}

Test(load, syntax_variants_accepted) {
  /* CRLF line ends, a BOM, indentation, ':' separators, inline ';' comments, no final newline */
  const char *text = "\xEF\xBB\xBF[sweep]\r\n"
                     "name = crlf ; the name\r\n"
                     "  [model]\r\n"
                     "    latent_dim = 7\r\n"
                     "\thidden1: 33\r\n"
                     "# comment\r\n"
                     "[train]\n"
                     "lr=0.5";
  gs_sweep sw;
  load_ok(text, &sw);
  cr_assert_str_eq(sw.base.sweep_name, "crlf");
  cr_assert_eq(cfg_get(&sw.base, "model.latent_dim"), 7);
  cr_assert_eq(cfg_get(&sw.base, "model.hidden1"), 33);
  cr_assert_eq(sw.base.lr, 0.5);
  gs_sweep_free(&sw);
  /* an indented key is a key of its own, not a continuation of the previous value */
  load_ok("[model]\nname = cvae\n  latent_dim = 4\n", &sw);
  cr_assert_str_eq(sw.base.model, "cvae");
  cr_assert_eq(cfg_get(&sw.base, "model.latent_dim"), 4);
  gs_sweep_free(&sw);
  /* the same section may appear twice */
  load_ok("[model]\nlatent_dim = 4\n[train]\nepochs = 2\n[model]\nhidden2 = 9\n", &sw);
  cr_assert_eq(cfg_get(&sw.base, "model.latent_dim"), 4);
  cr_assert_eq(cfg_get(&sw.base, "model.hidden2"), 9);
  gs_sweep_free(&sw);
}

Test(load, cross_key_validation) {
  expect_error("[train]\nbatch_size = 2\nranks_per_run = 4\n", "exp.ini: ", "train.batch_size = 2", "ranks_per_run = 4");
  expect_error("[train]\nranks_per_run = 4\n[grid]\ntrain.batch_size = 8, 2\n", "exp.ini: ",
               "run batch_size-2: train.batch_size = 2", NULL);
  expect_error("[data]\ntest_size = 100\n[eval]\niw_test_size = 200\n", "exp.ini: ", "eval.iw_test_size = 200", NULL);
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  c.batch_size = 3;
  c.ranks_per_run = 3;
  gs_error err = {0};
  cr_assert_eq(gs_config_validate(&c, &err), 0, "%s", err.msg);
  c.ranks_per_run = 4;
  cr_assert_neq(gs_config_validate(&c, &err), 0);
}

/* ------------------------------------------------------------------ [grid] */

Test(grid, errors) {
  expect_error("[grid]\nmodel.latent_dim =\n", "exp.ini:2: ", "model.latent_dim: empty list", NULL);
  expect_error("[grid]\nmodel.latent_dim = 2,,5\n", "exp.ini:2: ", "empty item 2", NULL);
  expect_error("[grid]\nmodel.latent_dim = 2, 5,\n", "exp.ini:2: ", "empty item 3", NULL);
  expect_error("[grid]\n\nmodel.latent_dim = 2, 5, 0, 7\n", "exp.ini:3: ",
               "model.latent_dim = 0: out of range, must be in [1, 4096] (item 3 of the list)", NULL);
  expect_error("[grid]\nmodel.name = vae, wgan\n", "exp.ini:2: ", "model.name = wgan: must be one of vae, cvae, cae, cae_igmn, gan, dcgan1, dcgan4",
               "item 2");
  expect_error("[grid]\ntrain.epochs = 1, 2.5\n", "exp.ini:2: ", "train.epochs = 2.5: not an integer", NULL);
  expect_error("[grid]\nmodel.latent_dim = 2, 5, 2\n", "exp.ini:2: ",
               "model.latent_dim: duplicate value 2 in the list (items 1 and 3)", NULL);
  /* duplicates are found on the canonical values */
  expect_error("[grid]\ntrain.lr = 0.001, 1e-3\n", "exp.ini:2: ", "duplicate value 0.001", NULL);
  expect_error("[grid]\nmodel.latent_dim = 02, 2\n", "exp.ini:2: ", "duplicate value 2", NULL);
  /* fixed and swept */
  expect_error("[model]\nname = vae\nlatent_dim = 3\n[grid]\nmodel.latent_dim = 2, 5\n", "exp.ini:5: ",
               "model.latent_dim is set in [model] on line 3 and swept in [grid] on line 5", NULL);
  expect_error("[grid]\ntrain.seed = 1, 2\n[train]\nepochs = 3\nseed = 4\n", "exp.ini:5: ",
               "train.seed is set in [train] on line 5 and swept in [grid] on line 2", NULL);
  /* [sweep] keys cannot be swept */
  expect_error("[grid]\nsweep.name = a, b\n", "exp.ini:2: ", "sweep.name cannot be swept", NULL);
  expect_error("[grid]\nsweep.results = a, b\n", "exp.ini:2: ", "cannot be swept", NULL);
  /* key names */
  expect_error("[grid]\nmodel.latnt_dim = 2, 5\n", "exp.ini:2: ",
               "unknown key 'model.latnt_dim' in [grid]; did you mean 'model.latent_dim'?", NULL);
  expect_error("[grid]\ntrain.latent_dim = 2, 5\n", "exp.ini:2: ", "did you mean 'model.latent_dim'?", NULL);
  expect_error("[grid]\nmodle.latent_dim = 2, 5\n", "exp.ini:2: ", "did you mean 'model.latent_dim'?", NULL);
  expect_error("[grid]\nlatent_dim = 2, 5\n", "exp.ini:2: ",
               "grid key 'latent_dim' must be written section.key; did you mean 'model.latent_dim'?", NULL);
  expect_error("[grid]\nfoo.bar = 2, 5\n", "exp.ini:2: ", "unknown key 'foo.bar' in [grid]", NULL);
}

Test(grid, too_many_axes_and_runs) {
  /* 17 axes */
  const char *names[] = {"data.train_size", "data.test_size",     "data.seed",        "model.latent_dim",
                         "model.hidden1",   "model.hidden2",      "train.epochs",     "train.batch_size",
                         "train.seed",      "train.threads",      "train.checkpoint_every", "eval.iw_samples",
                         "eval.iw_test_size", "eval.n_samples",   "eval.n_recon",     "eval.manifold_n",
                         "eval.eval_every"};
  char text[4096];
  size_t o = (size_t)snprintf(text, sizeof text, "[grid]\n");
  for (int i = 0; i < 17; i++) o += (size_t)snprintf(text + o, sizeof text - o, "%s = 1\n", names[i]);
  expect_error(text, "exp.ini:18: ", "too many grid axes (at most 16)", NULL);
  /* 16 axes pass the axis count (but their ids get too long with these key names) */
  text[o - strlen("eval.eval_every = 1\n")] = 0;
  expect_error(text, "exp.ini:2: ", "run ids would be up to 196 characters long", NULL);
  /* 8^7 = 2,097,152 > 1,000,000 runs: rejected at the seventh axis (line 8) */
  o = (size_t)snprintf(text, sizeof text, "[grid]\n");
  const char *seven[] = {"model.latent_dim", "model.hidden1", "model.hidden2", "train.epochs",
                         "train.batch_size", "train.seed",    "data.seed"};
  for (int a = 0; a < 7; a++) o += (size_t)snprintf(text + o, sizeof text - o, "%s = 1,2,3,4,5,6,7,8\n", seven[a]);
  expect_error(text, "exp.ini:8: ", "too many runs (more than 1000000)", NULL);
}

Test(grid, expansion_order_and_count) {
  gs_sweep sw;
  load_ok("[sweep]\nname = g\n[train]\nepochs = 3\n[grid]\nmodel.name = vae, cvae\n"
          "model.latent_dim = 2, 5, 10\ntrain.seed = 1, 2\n",
          &sw);
  cr_assert_eq(sw.naxes, 3);
  cr_assert_eq(sw.nruns, 12);
  cr_assert_str_eq(sw.axes[0].fullname, "model.name");
  cr_assert_str_eq(sw.axes[1].fullname, "model.latent_dim");
  cr_assert_str_eq(sw.axes[2].fullname, "train.seed");
  cr_assert_eq(sw.axes[0].line, 6);
  cr_assert_eq(sw.axes[2].line, 8);
  cr_assert_eq(sw.axes[1].nvalues, 3);
  cr_assert_str_eq(sw.axes[1].values[2], "10");
  const char *models[] = {"vae", "cvae"};
  long dims[] = {2, 5, 10};
  int r = 0;
  for (int m = 0; m < 2; m++)
    for (int d = 0; d < 3; d++)
      for (int s = 0; s < 2; s++, r++) {
        const gs_run *run = &sw.runs[r];
        cr_assert_eq(run->index, r);
        cr_assert_eq(run->value_index[0], m);
        cr_assert_eq(run->value_index[1], d);
        cr_assert_eq(run->value_index[2], s);
        cr_assert_str_eq(run->cfg.model, models[m]);
        cr_assert_eq(cfg_get(&run->cfg, "model.latent_dim"), dims[d]);
        cr_assert_eq(run->cfg.seed, s + 1);
        cr_assert_eq(run->cfg.epochs, 3); /* base values carried over */
        cr_assert_str_eq(run->cfg.sweep_name, "g");
        cr_assert_eq(run->hash, gs_config_hash(&run->cfg), "run %d: hash differs from gs_config_hash", r);
        for (int q = 0; q < r; q++) cr_assert_neq(sw.runs[q].hash, run->hash);
      }
  cr_assert_str_eq(sw.runs[0].id, "name-vae_latent_dim-2_seed-1");
  cr_assert_str_eq(sw.runs[1].id, "name-vae_latent_dim-2_seed-2");
  cr_assert_str_eq(sw.runs[2].id, "name-vae_latent_dim-5_seed-1");
  cr_assert_str_eq(sw.runs[11].id, "name-cvae_latent_dim-10_seed-2");
  /* the base config is untouched by the axes */
  cr_assert_eq(cfg_get(&sw.base, "model.latent_dim"), 25);
  gs_sweep_free(&sw);
}

Test(grid, run_ids) {
  gs_sweep sw;
  /* data.seed and train.seed share the key name: both use section-name */
  load_ok("[grid]\ndata.seed = 1, 2\nmodel.latent_dim = 3\ntrain.seed = 7\n", &sw);
  cr_assert_str_eq(sw.axes[0].shortname, "data-seed");
  cr_assert_str_eq(sw.axes[1].shortname, "latent_dim");
  cr_assert_str_eq(sw.axes[2].shortname, "train-seed");
  cr_assert_str_eq(sw.runs[0].id, "data-seed-1_latent_dim-3_train-seed-7");
  cr_assert_str_eq(sw.runs[1].id, "data-seed-2_latent_dim-3_train-seed-7");
  gs_sweep_free(&sw);
  /* canonical values in ids; sanitised strings */
  load_ok("[grid]\ntrain.lr = 1e-3, 2.5E-4, +1\ndata.dataset = /data/f mnist, fashion-mnist\n", &sw);
  cr_assert_eq(sw.nruns, 6);
  cr_assert_str_eq(sw.axes[0].values[0], "0.001");
  cr_assert_str_eq(sw.axes[0].values[1], "0.00025");
  cr_assert_str_eq(sw.axes[0].values[2], "1");
  cr_assert_str_eq(sw.axes[1].values[0], "/data/f mnist");
  cr_assert_str_eq(sw.runs[0].id, "lr-0.001_dataset-_data_f_mnist");
  cr_assert_str_eq(sw.runs[1].id, "lr-0.001_dataset-fashion-mnist");
  cr_assert_str_eq(sw.runs[0].cfg.dataset, "/data/f mnist");
  gs_sweep_free(&sw);
  load_ok("[grid]\ntrain.eps = 1e-7, 1e+0\n", &sw);
  cr_assert_str_eq(sw.runs[0].id, "eps-1e-07");
  cr_assert_str_eq(sw.runs[1].id, "eps-1");
  gs_sweep_free(&sw);
  /* no axes: one run called "run" */
  load_ok("[model]\nlatent_dim = 3\n", &sw);
  cr_assert_eq(sw.nruns, 1);
  cr_assert_str_eq(sw.runs[0].id, "run");
  cr_assert_eq(cfg_get(&sw.runs[0].cfg, "model.latent_dim"), 3);
  gs_sweep_free(&sw);
  /* values that differ only in sanitised characters would give the same id */
  expect_error("[grid]\ndata.dataset = /d/a b, /d/a:b\n", "exp.ini:2: ", "both become '_d_a_b' in run ids", NULL);
  /* ids too long */
  char text[1024], longv[190];
  memset(longv, 'a', sizeof longv);
  snprintf(text, sizeof text, "[grid]\nmodel.latent_dim = 2, 3\ndata.dataset = %.*s, b\n", 150, longv);
  expect_error(text, "exp.ini:2: ", "run ids would be up to 171 characters long (at most 159)", NULL);
  snprintf(text, sizeof text, "[grid]\ndata.dataset = %.*s, b\n", 159 - 8, longv);
  load_ok(text, &sw);
  cr_assert_eq(strlen(sw.runs[0].id), 159);
  gs_sweep_free(&sw);
}

/* ------------------------------------------------------------------ canonical text, hash */

Test(canonical, round_trip) {
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  GS_STRCPY(c.sweep_name, "rt");
  GS_STRCPY(c.description, "a description, with = and ; inside");
  GS_STRCPY(c.dataset, "/data/x y");
  c.train_size = 12345;
  c.val_split = 0.1 + 0.2; /* needs 17 digits */
  c.lr = 1.0 / 3.0;
  c.momentum = 0.9;
  c.eps = 1e-8;
  c.beta2 = 0.99999999999999989;
  c.seed = 2147483647;
  GS_STRCPY(c.model, "cvae");
  GS_STRCPY(c.optimizer, "adam");
  char *canon = gs_config_canonical(&c);
  cr_assert(strstr(canon, "sweep.name = rt\n") == canon, "%s", canon);
  cr_assert(strstr(canon, "\ntrain.lr = 0.3333333333333333\n"), "%s", canon);
  cr_assert(strstr(canon, "\ndata.val_split = 0.30000000000000004\n"), "%s", canon);
  cr_assert(strstr(canon, "\ntrain.momentum = 0.9\n"), "%s", canon);
  cr_assert(strstr(canon, "\ntrain.eps = 1e-08\n"), "%s", canon);
  cr_assert(strstr(canon, "\nmodel.name = cvae\n"), "%s", canon);
  cr_assert(strstr(canon, "\neval.eval_every = 1\n"), "%s", canon);

  /* one line per key, in table order; setting each line's value gives the same config */
  gs_config d;
  gs_config_defaults(&d, gs_models_vocabulary());
  char *save = NULL;
  int i = 0;
  char *copy = strdup(canon);
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
    cr_assert_lt(i, d.vocab->nkeys);
    const gs_key *k = d.vocab->keys[i];
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s.%s = ", k->section, k->name);
    cr_assert_eq(strncmp(line, prefix, strlen(prefix)), 0, "line '%s' is not key %s", line, prefix);
    gs_error err = {0};
    cr_assert_eq(gs_config_set(&d, k, line + strlen(prefix), &err), 0, "%s", err.msg);
  }
  cr_assert_eq(i, d.vocab->nkeys);
  free(copy);
  char *canon2 = gs_config_canonical(&d);
  cr_assert_str_eq(canon, canon2);
  cr_assert_eq(d.val_split, c.val_split);
  cr_assert_eq(d.lr, c.lr);
  cr_assert_eq(d.beta2, c.beta2);
  cr_assert_eq(gs_config_hash(&d), gs_config_hash(&c));
  free(canon);
  free(canon2);

  /* every key: format -> set -> format is stable, for defaults and for edge values */
  for (int k = 0; k < c.vocab->nkeys; k++) {
    char a[600], b[600];
    gs_config_format(&c, c.vocab->keys[k], a, sizeof a);
    gs_config e = c;
    cr_assert_eq(gs_config_set(&e, c.vocab->keys[k], a, NULL), 0, "%s", a);
    gs_config_format(&e, c.vocab->keys[k], b, sizeof b);
    cr_assert_str_eq(a, b);
  }
  const double tricky[] = {5e-324, 1e-300, 0.1, 2.0 / 3.0, 9.999999999999999e-1, 123456789.123456789};
  for (size_t t = 0; t < sizeof tricky / sizeof *tricky; t++) {
    char a[64];
    c.momentum = tricky[t] < 1 ? tricky[t] : 0.5;
    c.lr = tricky[t] <= 10 ? tricky[t] : 1;
    gs_config_format(&c, key("train.lr"), a, sizeof a);
    gs_config e = c;
    cr_assert_eq(gs_config_set(&e, key("train.lr"), a, NULL), 0, "%s", a);
    cr_assert_eq(e.lr, c.lr, "%s", a);
  }
}

Test(canonical, hash_covers_the_numbers_only) {
  gs_config a, b;
  gs_config_defaults(&a, gs_models_vocabulary());
  uint64_t h = gs_config_hash(&a);
  cr_assert_eq(h, gs_config_hash(&a));

  b = a;
  b.lr = 2e-3;
  cr_assert_neq(gs_config_hash(&b), h);
  b = a;
  cfg_set(&b, "model.latent_dim", 26);
  cr_assert_neq(gs_config_hash(&b), h);
  b = a;
  b.data_seed = 2;
  cr_assert_neq(gs_config_hash(&b), h);
  b = a;
  GS_STRCPY(b.model, "cvae");
  cr_assert_neq(gs_config_hash(&b), h);
  b = a;
  b.eval_every = 2; /* changes what is recorded */
  cr_assert_neq(gs_config_hash(&b), h);
  b = a;
  GS_STRCPY(b.dataset, "/other");
  cr_assert_neq(gs_config_hash(&b), h);

  b = a;
  GS_STRCPY(b.description, "something else");
  GS_STRCPY(b.sweep_name, "other");
  GS_STRCPY(b.results, "/elsewhere");
  b.threads = 8;
  b.ranks_per_run = 4;
  b.checkpoint_every = 0;
  cr_assert_eq(gs_config_hash(&b), h);
  /* but the canonical text still shows them */
  char *ca = gs_config_canonical(&a), *cb = gs_config_canonical(&b);
  cr_assert_str_neq(ca, cb);
  free(ca);
  free(cb);
}

/* ------------------------------------------------------------------ shipped experiments */

static void load_shipped(const char *name, gs_sweep *sw) {
  char path[1024];
  snprintf(path, sizeof path, "%s/experiments/%s", GS_SOURCE_DIR, name);
  gs_error err = {0};
  cr_assert_eq(gs_sweep_load(path, gs_models_vocabulary(), sw, &err), 0, "%s", err.msg);
}

Test(shipped, vae_latent_sweep) {
  gs_sweep sw;
  load_shipped("vae_latent_sweep.ini", &sw);
  cr_assert_str_eq(sw.base.sweep_name, "vae_latent_sweep");
  cr_assert_eq(sw.nruns, 30);
  cr_assert_eq(sw.naxes, 3);
  cr_assert_str_eq(sw.axes[0].fullname, "model.name");
  cr_assert_str_eq(sw.axes[1].fullname, "model.latent_dim");
  cr_assert_str_eq(sw.axes[2].fullname, "train.seed");
  cr_assert_str_eq(sw.runs[0].id, "name-vae_latent_dim-2_seed-1");
  cr_assert_str_eq(sw.runs[29].id, "name-cvae_latent_dim-35_seed-3");
  const gs_config *c = &sw.runs[0].cfg;
  cr_assert_eq(cfg_get(c, "model.hidden1"), 512);
  cr_assert_eq(cfg_get(c, "model.hidden2"), 256);
  cr_assert_eq(c->batch_size, 100);
  cr_assert_str_eq(c->optimizer, "rmsprop");
  cr_assert_eq(c->lr, 1e-3);
  cr_assert_eq(c->rho, 0.9);
  cr_assert_eq(c->eps, 1e-7);
  cr_assert_eq(c->epochs, 10);
  cr_assert_eq(cfg_get(c, "eval.iw_samples"), 100);
  cr_assert_str_eq(c->dataset, "fashion-mnist");
  gs_sweep_free(&sw);
}

Test(shipped, quickstart) {
  gs_sweep sw;
  load_shipped("quickstart.ini", &sw);
  cr_assert_str_eq(sw.base.sweep_name, "quickstart");
  cr_assert_eq(sw.nruns, 4);
  cr_assert_str_eq(sw.runs[0].id, "name-vae_latent_dim-2");
  cr_assert_str_eq(sw.runs[3].id, "name-cvae_latent_dim-10");
  /* small but real: the whole data set, a few epochs, a cheaper IW estimate than the study's */
  cr_assert_eq(sw.base.train_size, 0);
  cr_assert_eq(sw.base.epochs, 5);
  cr_assert(cfg_get(&sw.base, "eval.iw_samples") > 0 && cfg_get(&sw.base, "eval.iw_samples") < 100);
  cr_assert(cfg_get(&sw.base, "eval.iw_test_size") > 0 && cfg_get(&sw.base, "eval.iw_test_size") < 10000);
  gs_sweep_free(&sw);
}

/* ------------------------------------------------------------------ plan, large grid */

Test(plan, prints_header_and_runs) {
  gs_sweep sw;
  load_ok("[sweep]\nname = p\ndescription = plan test\n[train]\nepochs = 3\n[grid]\n"
          "model.name = vae, cvae\ntrain.seed = 1, 2\n",
          &sw);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  gs_sweep_print_plan(&sw, NULL, f);
  fclose(f);
  cr_assert(strstr(buf, "exp.ini"), "%s", buf);
  cr_assert(strstr(buf, "p -> results/p/"), "%s", buf);
  cr_assert(strstr(buf, "plan test"), "%s", buf);
  cr_assert(strstr(buf, "runs         4\n"), "%s", buf);
  cr_assert(strstr(buf, "train.epochs = 3\n"), "%s", buf);
  cr_assert(strstr(buf, "model.name = vae, cvae"), "%s", buf);
  cr_assert(strstr(buf, "train.seed = 1, 2"), "%s", buf);
  cr_assert(strstr(buf, "      0  name-vae_seed-1   model.name=vae train.seed=1\n"), "%s", buf);
  cr_assert(strstr(buf, "      3  name-cvae_seed-2  model.name=cvae train.seed=2\n"), "%s", buf);
  free(buf);
  gs_sweep_free(&sw);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }
static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

Test(plan, ten_thousand_runs) {
  /* 4 axes of 10 values; data.seed and train.seed share a key name */
  const char *text = "[sweep]\nname = big\n[grid]\n"
                     "data.seed = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\n"
                     "model.latent_dim = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10\n"
                     "train.lr = 1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4, 7e-4, 8e-4, 9e-4, 1e-3\n"
                     "train.seed = 11, 12, 13, 14, 15, 16, 17, 18, 19, 20\n";
  double t0 = gs_now();
  gs_sweep sw;
  load_ok(text, &sw);
  FILE *devnull = fopen("/dev/null", "w");
  cr_assert_not_null(devnull);
  gs_sweep_print_plan(&sw, NULL, devnull);
  fclose(devnull);
  double dt = gs_now() - t0;
  /* printed, not asserted: a time limit fails on a busy machine (it did, 1.05 s under ASan) */
  fprintf(stderr, "[plan] 10,000-run grid: load + expand + print in %.3f s\n", dt);

  cr_assert_eq(sw.nruns, 10000);
  cr_assert_str_eq(sw.runs[0].id, "data-seed-1_latent_dim-1_lr-0.0001_train-seed-11");
  cr_assert_str_eq(sw.runs[9999].id, "data-seed-10_latent_dim-10_lr-0.001_train-seed-20");
  for (long r = 0; r < sw.nruns; r++) {
    const gs_run *run = &sw.runs[r];
    long q = r;
    int ts = (int)(q % 10), lr = (int)(q / 10 % 10), ld = (int)(q / 100 % 10), ds = (int)(q / 1000);
    cr_assert_eq(run->index, r);
    cr_assert_eq(run->value_index[0], ds);
    cr_assert_eq(run->value_index[3], ts);
    char lrtext[16];
    snprintf(lrtext, sizeof lrtext, lr == 9 ? "1e-3" : "%de-4", lr + 1);
    cr_assert_eq(run->cfg.lr, strtod(lrtext, NULL), "run %ld: lr %g", r, run->cfg.lr);
    cr_assert_eq(run->cfg.data_seed, ds + 1);
    cr_assert_eq(cfg_get(&run->cfg, "model.latent_dim"), ld + 1);
    cr_assert_eq(run->cfg.seed, ts + 11);
    if (r % 997 == 0) cr_assert_eq(run->hash, gs_config_hash(&run->cfg));
  }
  /* ids and hashes are unique */
  const char **ids = malloc(sizeof(char *) * 10000);
  uint64_t *hashes = malloc(sizeof(uint64_t) * 10000);
  for (int r = 0; r < 10000; r++) ids[r] = sw.runs[r].id, hashes[r] = sw.runs[r].hash;
  qsort(ids, 10000, sizeof *ids, cmp_str);
  qsort(hashes, 10000, sizeof *hashes, cmp_u64);
  for (int r = 1; r < 10000; r++) {
    cr_assert_str_neq(ids[r - 1], ids[r]);
    cr_assert_neq(hashes[r - 1], hashes[r]);
  }
  free(hashes);
  gs_sweep_free(&sw);
  free(ids);
}

/* IGMN parameters out of range fail at load, naming the key and its valid range. */
Test(load, igmn_parameters_out_of_range) {
  expect_error("[igmn]\nbeta = 1\n", "exp.ini:2: ", "igmn.beta = 1", "(0, 1)");
  expect_error("[igmn]\nbeta = 0\n", "exp.ini:2: ", "igmn.beta = 0", "(0, 1)");
  expect_error("[igmn]\nv_min = 0.5\n", "exp.ini:2: ", "igmn.v_min = 0.5", "[1, ");
  expect_error("[igmn]\nc = 0\n", "exp.ini:2: ", "igmn.c = 0", "(0, ");
  expect_error("[grid]\nigmn.beta = 0.001, 1.5\n", "exp.ini:2: ", "igmn.beta = 1.5", NULL);
  expect_error("[igmn]\ncov_update = fast\n", "exp.ini:2: ", "must be one of exact, paper", NULL);
}

/* A long grid list over several lines: "key += more values" continues the axis. */
Test(load, grid_list_continued_with_plus_equals) {
  gs_sweep sw;
  load_ok("[grid]\nmodel.latent_dim = 2, 3\ntrain.seed = 1, 2\nmodel.latent_dim += 5, 8\nmodel.latent_dim+=13\n", &sw);
  cr_assert_eq(sw.naxes, 2);
  cr_assert_eq(sw.axes[0].nvalues, 5);
  cr_assert_str_eq(sw.axes[0].values[4], "13");
  cr_assert_eq(sw.nruns, 10);
  gs_sweep_free(&sw);
  expect_error("[grid]\nmodel.latent_dim += 5\n", "exp.ini:2: ", "no earlier 'model.latent_dim = ...' line", NULL);
  expect_error("[grid]\nmodel.latent_dim = 2, 3\nmodel.latent_dim += 3\n", "exp.ini:3: ", "duplicate value 3", NULL);
  expect_error("[grid]\nmodel.latent_dim = 2\nmodel.latent_dim = 3\n", "exp.ini:3: ", "continue a long list", NULL);
  /* a 300-value axis written over many lines */
  char text[8192];
  int n = snprintf(text, sizeof text, "[grid]\ntrain.seed = 1");
  for (int v = 2; v <= 300; v++) n += snprintf(text + n, sizeof text - n, v % 20 == 0 ? "\ntrain.seed += %d" : ", %d", v);
  n += snprintf(text + n, sizeof text - n, "\n");
  load_ok(text, &sw);
  cr_assert_eq(sw.nruns, 300);
  gs_sweep_free(&sw);
}

/* A run's identity must not move when another model's keys are added or their defaults change:
 * these are the hashes gensweep gave these runs before the CAE/IGMN keys existed. */
Test(config, hash_is_stable_and_ignores_other_models_keys) {
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  cr_assert_eq(gs_config_hash(&c), 0xfd3fdd552fa9cf88ULL);
  GS_STRCPY(c.model, "cvae");
  cfg_set(&c, "model.latent_dim", 35);
  cr_assert_eq(gs_config_hash(&c), 0x6b3e1dc18051744cULL);
  uint64_t h = gs_config_hash(&c);
  cfg_set(&c, "igmn.mu", 0.5); /* read by cae_igmn only */
  cfg_set(&c, "igmn.beta", 0.5);
  cfg_set(&c, "model.conv1", 7);
  cr_assert_eq(gs_config_hash(&c), h);
  /* sample-quality keys: read by the VAEs since after their first runs, so hashed only when set
   * away from their defaults */
  cfg_set(&c, "eval.judge_epochs", 8);
  cfg_set(&c, "eval.quality_samples", 10000);
  cr_assert_eq(gs_config_hash(&c), h, "the sample-quality keys at their defaults leave the hash alone");
  cfg_set(&c, "eval.judge_epochs", 2);
  cr_assert_neq(gs_config_hash(&c), h, "eval.judge_epochs away from its default is part of a cvae run's identity");
  cfg_set(&c, "eval.judge_epochs", 8);
  cfg_set(&c, "eval.judge", 0);
  cr_assert_neq(gs_config_hash(&c), h, "eval.judge = 0 is part of a cvae run's identity");
  cfg_set(&c, "eval.judge", 1);
  cr_assert_eq(gs_config_hash(&c), h);
  GS_STRCPY(c.model, "cae_igmn");
  uint64_t h1 = gs_config_hash(&c);
  cfg_set(&c, "igmn.mu", 0.25);
  cr_assert_neq(gs_config_hash(&c), h1, "igmn.mu is part of a cae_igmn run's identity");
  GS_STRCPY(c.model, "cae");
  uint64_t h2 = gs_config_hash(&c);
  cfg_set(&c, "igmn.mu", 0.125);
  cr_assert_eq(gs_config_hash(&c), h2, "igmn.mu is not part of a cae run's identity");
  cfg_set(&c, "model.conv1", 9);
  cr_assert_neq(gs_config_hash(&c), h2, "model.conv1 is part of a cae run's identity");
}

/* The CAE and CAE+IGMN runs keep their hashes too (values from before keys moved into the model
 * files): a change here would make every finished cae / cae_igmn run train again. */
Test(config, cae_hashes_are_stable) {
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  GS_STRCPY(c.model, "cae");
  cr_assert_eq(gs_config_hash(&c), 0x8c5036c7f68cb577ULL);
  GS_STRCPY(c.model, "cae_igmn");
  cr_assert_eq(gs_config_hash(&c), 0x0bdc7cef335af96fULL);
  cfg_set(&c, "model.latent_dim", 6);
  cfg_set(&c, "igmn.mu", 1e5);
  cfg_set(&c, "model.conv1", 16);
  cr_assert_eq(gs_config_hash(&c), 0x2534115a1c9c0a38ULL);
}

/* the per-run hash of an expanded grid follows the run's own model */
Test(load, grid_hash_follows_each_runs_model) {
  gs_sweep sw;
  load_ok("[igmn]\nmu = 0.5\n[grid]\nmodel.name = vae, cae_igmn\n", &sw);
  gs_config v;
  gs_config_defaults(&v, gs_models_vocabulary());
  cr_assert_eq(sw.runs[0].hash, gs_config_hash(&v), "vae run: igmn.mu must not count");
  cr_assert_eq(sw.runs[1].hash, gs_config_hash(&sw.runs[1].cfg));
  gs_sweep_free(&sw);
}

/* ------------------------------------------------------------------ models' own defaults */

static long run_int(const gs_run *r, const char *full) { return gs_config_int(&r->cfg, key(full)); }

/* A model's own defaults apply where the file is silent (the GANs' batch sizes and optimisers),
 * a value the file or the grid gives wins, and the hash follows the value trained with. */
Test(config, models_own_defaults_apply_where_the_file_is_silent) {
  gs_sweep sw;
  load_ok("[train]\nlr = 0.001\n[grid]\nmodel.name = vae, gan, dcgan1\n", &sw);
  cr_assert_eq(sw.nruns, 3);
  cr_assert_eq(sw.runs[0].cfg.batch_size, 100);
  cr_assert_eq(sw.runs[1].cfg.batch_size, 500);
  cr_assert_eq(sw.runs[2].cfg.batch_size, 64);
  cr_assert_str_eq(fmt(&sw.runs[2].cfg, "gan.d_optimizer"), "adam");
  cr_assert_str_eq(fmt(&sw.runs[1].cfg, "gan.d_optimizer"), "sgd");
  cr_assert_str_eq(fmt(&sw.runs[2].cfg, "gan.d_lr"), "0.0002");
  cr_assert_eq(run_int(&sw.runs[2], "gan.g_steps"), 2);
  cr_assert_eq(run_int(&sw.runs[1], "train.iterations"), 100000);
  uint64_t h_gan = sw.runs[1].hash;
  char *canon = gs_config_canonical(&sw.runs[1].cfg);
  cr_assert(strstr(canon, "train.batch_size = 500\n"), "%s", canon);
  free(canon);
  gs_sweep_free(&sw);
  /* the file's value wins; the same value written out gives the same run */
  load_ok("[train]\nbatch_size = 32\n[grid]\nmodel.name = gan, dcgan1\n", &sw);
  cr_assert_eq(sw.runs[0].cfg.batch_size, 32);
  cr_assert_eq(sw.runs[1].cfg.batch_size, 32);
  gs_sweep_free(&sw);
  load_ok("[model]\nname = gan\n[train]\nbatch_size = 500\n", &sw);
  cr_assert_eq(sw.runs[0].hash, h_gan, "a default written out is the same run");
  gs_sweep_free(&sw);
  load_ok("[model]\nname = gan\n[train]\nbatch_size = 400\n", &sw);
  cr_assert_neq(sw.runs[0].hash, h_gan);
  gs_sweep_free(&sw);
  /* `gensweep keys` and the registry agree on what a model's default is */
  cr_assert_str_eq(gs_vocabulary_default(gs_models_vocabulary(), "dcgan1", key("train.batch_size")), "64");
  cr_assert_str_eq(gs_vocabulary_default(gs_models_vocabulary(), "vae", key("train.batch_size")), "100");
}

/* Training length: train.iterations (the GANs' default 100,000) or train.epochs, whichever the
 * file sets; train.iterations for a model that trains by epochs changes nothing; 0 iterations
 * is refused naming the key. */
Test(config, a_gan_trains_by_what_the_file_sets) {
  gs_sweep sw;
  load_ok("[model]\nname = gan\n[train]\nepochs = 3\n", &sw);
  cr_assert_eq(run_int(&sw.runs[0], "train.iterations"), 0, "epochs given: trained by epochs");
  gs_schedule s;
  gs_model_schedule(&sw.runs[0].cfg, &s);
  cr_assert_eq(s.iterations, 0);
  cr_assert_eq(gs_model_epochs_of(&sw.runs[0].cfg, 60000), 3);
  uint64_t by_epochs = sw.runs[0].hash;
  gs_sweep_free(&sw);
  load_ok("[model]\nname = gan\n", &sw);
  cr_assert_eq(run_int(&sw.runs[0], "train.iterations"), 100000);
  cr_assert_eq(gs_model_epochs_of(&sw.runs[0].cfg, 60000), 834, "100,000 batches of 500 over 60,000 images");
  cr_assert_neq(sw.runs[0].hash, by_epochs);
  gs_sweep_free(&sw);
  load_ok("[model]\nname = gan\n[train]\nepochs = 3\niterations = 50\n", &sw);
  cr_assert_eq(run_int(&sw.runs[0], "train.iterations"), 50, "both given: the iterations the GAN counts");
  gs_sweep_free(&sw);
  load_ok("[model]\nname = vae\n[train]\nepochs = 3\niterations = 50\n", &sw);
  cr_assert_eq(gs_model_epochs_of(&sw.runs[0].cfg, 60000), 3, "a VAE trains by epochs");
  gs_sweep_free(&sw);
  expect_error("[model]\nname = gan\n[train]\niterations = 0\n", "exp.ini:4:", "train.iterations = 0", "out of range");
  expect_error("[grid]\ntrain.iterations = 10, 0\n", "exp.ini:2:", "train.iterations", "out of range");
}

/* ------------------------------------------------------------------ linear probes */

/* The probe keys came after runs existed: at their defaults they leave every hash alone (the
 * goldens above pass with them in the vocabulary); set away from them, they make another run. */
Test(config, probe_keys_count_only_away_from_their_defaults) {
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  uint64_t h = gs_config_hash(&c);
  gs_error err = {0};
  cr_assert_eq(gs_config_set_text(&c, "probe.budgets", "all, 1000, 100", &err), 0, "%s", err.msg);
  cr_assert_eq(gs_config_set_text(&c, "probe.tol", "0.01", &err), 0);
  cr_assert_eq(gs_config_hash(&c), h, "the defaults, written out, are still the defaults");
  cr_assert_eq(gs_config_set_text(&c, "probe.features", "model", &err), 0);
  uint64_t hm = gs_config_hash(&c);
  cr_assert_neq(hm, h);
  cr_assert_eq(gs_config_set_text(&c, "probe.repeats", "3", &err), 0);
  cr_assert_neq(gs_config_hash(&c), hm);
  /* the same through a loaded file and its grid */
  gs_sweep sw;
  load_ok("[probe]\nfeatures = none\n[grid]\nprobe.repeats = 10, 5\n", &sw);
  cr_assert_eq(sw.runs[0].hash, h, "default values given in the file");
  cr_assert_neq(sw.runs[1].hash, h);
  gs_sweep_free(&sw);
}

Test(config, probe_lists_parse_and_bad_ones_name_the_key) {
  gs_config c;
  gs_config_defaults(&c, gs_models_vocabulary());
  gs_probe_lists pl;
  gs_error err = {0};
  cr_assert_eq(gs_config_probe_lists(&c, &pl, &err), 0, "%s", err.msg);
  cr_assert_eq(pl.model_features, 0);
  cr_assert_eq(pl.nbudgets, 3);
  cr_assert(pl.budgets[0] == 0 && pl.budgets[1] == 1000 && pl.budgets[2] == 100);
  cr_assert(pl.nclassifiers == 2 && pl.classifiers[0] == 0 && pl.classifiers[1] == 1);
  gs_config_set_text(&c, "probe.features", " model ", &err);
  gs_config_set_text(&c, "probe.classifiers", "lr", &err);
  cr_assert_eq(gs_config_probe_lists(&c, &pl, &err), 0, "%s", err.msg);
  cr_assert(pl.model_features && pl.nclassifiers == 1 && pl.classifiers[0] == 1);
  expect_error("[probe]\nbudgets = all, 1k\n", "exp.ini", "probe.budgets = all, 1k: '1k' is not a number of labels", NULL);
  expect_error("[probe]\nbudgets = 100, 100\n", "exp.ini", "probe.budgets", "'100' twice");
  expect_error("[probe]\nbudgets = 0\n", "exp.ini", "'0' is not a number of labels", NULL);
  expect_error("[probe]\nclassifiers = svm, knn\n", "exp.ini", "probe.classifiers", "'knn' is not svm or lr");
  expect_error("[probe]\nfeatures = model, pixel\n", "exp.ini", "probe.features", "'pixel' is not a feature source");
  expect_error("[probe]\nfeatures = none, model\n", "exp.ini", "'none' goes alone", NULL);
  expect_error("[probe]\nfeatures = model, untrained, pooled, untrained_pooled\nbudgets = all, 1000, 500, 100\n",
               "exp.ini", "ask for 32 tables", "at most 24 fit in a run file");
  /* probe.c_grid: ascending, distinct, positive; the cross-validated C leaves room for fewer tables */
  gs_config_set_text(&c, "probe.c_grid", "1, 0.01, 0.1", &err);
  cr_assert_eq(gs_config_probe_lists(&c, &pl, &err), 0, "%s", err.msg);
  cr_assert(pl.ncs == 3 && pl.cs[0] == 0.01 && pl.cs[1] == 0.1 && pl.cs[2] == 1);
  expect_error("[probe]\nc_grid = 0.1, 0\n", "exp.ini", "probe.c_grid = 0.1, 0: '0' is not a positive decimal", NULL);
  expect_error("[probe]\nc_grid = 0.1, 0.10\n", "exp.ini", "probe.c_grid", "twice");
  expect_error("[probe]\nc_grid = 0.5\n", "exp.ini", "one value chooses nothing", NULL);
  expect_error("[probe]\nc_grid = 0.1, 0x1\n", "exp.ini", "'0x1' is not a positive decimal", NULL);
  expect_error("[probe]\nfeatures = model, untrained, pooled, untrained_pooled\nbudgets = all, 1000, 100\nc_grid = 0.1, 1\n",
               "exp.ini", "ask for 24 tables", "at most 19 fit in a run file with probe.c_grid");
  /* neutral at their defaults: runs from before keep their hashes */
  gs_config d;
  gs_config_defaults(&d, gs_models_vocabulary());
  uint64_t h = gs_config_hash(&d);
  gs_config_set_text(&d, "probe.cv_folds", "5", &err);
  gs_config_set_text(&d, "probe.c_grid", "", &err);
  cr_assert_eq(gs_config_hash(&d), h);
  gs_config_set_text(&d, "probe.c_grid", "0.1, 1", &err);
  cr_assert_neq(gs_config_hash(&d), h);
}

/* Unbounded input: devices and directories are refused by name, files over the size limit with
 * the limit; a pipe is read (bounded by the same limit). */
Test(load, files_that_are_not_experiment_files) {
  gs_sweep sw;
  gs_error err = {0};
  cr_assert_neq(gs_sweep_load("/dev/zero", gs_models_vocabulary(), &sw, &err), 0);
  cr_assert(strstr(err.msg, "/dev/zero: not a regular file (a device)"), "%s", err.msg);
  memset(&err, 0, sizeof err);
  cr_assert_neq(gs_sweep_load("/tmp", gs_models_vocabulary(), &sw, &err), 0);
  cr_assert(strstr(err.msg, "/tmp: not a regular file (a directory)"), "%s", err.msg);
  char path[64];
  snprintf(path, sizeof path, "/tmp/gs-big-%ld.ini", (long)getpid());
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fputs("[sweep]\n", f);
  for (long i = 0; i < (GS_CONFIG_MAX_BYTES / 64) + 10; i++) fputs("; a comment line of sixty-four bytes ..........................\n", f);
  fclose(f);
  memset(&err, 0, sizeof err);
  cr_assert_neq(gs_sweep_load(path, gs_models_vocabulary(), &sw, &err), 0);
  cr_assert(strstr(err.msg, "larger than 4194304 bytes"), "%s", err.msg);
  unlink(path);
}

/* A 10,000-value axis over 10,000 '+=' lines loads (the checks for duplicates sort once per
 * axis), and a duplicate far apart is still found, naming both lines. */
Test(grid, ten_thousand_values_over_continuation_lines) {
  size_t cap = 400000;
  char *text = malloc(cap);
  int n = snprintf(text, cap, "[grid]\ntrain.seed = 0\n");
  for (int v = 1; v < 10000; v++) n += snprintf(text + n, cap - (size_t)n, "train.seed += %d\n", v);
  gs_sweep sw;
  load_ok(text, &sw);
  cr_assert_eq(sw.nruns, 10000);
  cr_assert_str_eq(sw.axes[0].values[9999], "9999");
  gs_sweep_free(&sw);
  n += snprintf(text + n, cap - (size_t)n, "train.seed += 5\n"); /* line 10,002; 5 is on line 7 */
  expect_error(text, "exp.ini:10002: ", "duplicate value 5 (already in the list of line 7)", NULL);
  free(text);
}

/* Text values: one rule for numbers (decimal), and UTF-8 only (values are stored in HDF5
 * attributes marked UTF-8). */
Test(load, numbers_are_decimal_and_text_is_utf8) {
  expect_error("[train]\nlr = 0x1p-10\n", "exp.ini:2: ", "train.lr = 0x1p-10: not a decimal number", NULL);
  expect_error("[train]\nlr = -0X1\n", "exp.ini:2: ", "not a decimal number", NULL);
  expect_error("[train]\nepochs = 0x2\n", "exp.ini:2: ", "train.epochs = 0x2: not an integer", NULL);
  expect_error("[sweep]\nname = s\ndescription = caf\xe9 latin-1\n", "exp.ini:3: ",
               "sweep.description: not UTF-8 text (byte 0xe9 at character 4)", NULL);
  expect_error("[sweep]\ndescription = overlong \xc0\xaf\n", "exp.ini:2: ", "not UTF-8 text (byte 0xc0", NULL);
  expect_error("[sweep]\ndescription = surrogate \xed\xa0\x80\n", "exp.ini:2: ", "not UTF-8 text (byte 0xed", NULL);
  gs_sweep sw;
  load_ok("[sweep]\ndescription = Gr\xc3\xb6\xc3\x9f" "e \xe2\x9c\x93 \xf0\x9f\x98\x80\n[train]\nlr = 1e-3\n", &sw);
  cr_assert_str_eq(sw.base.description, "Gr\xc3\xb6\xc3\x9f" "e \xe2\x9c\x93 \xf0\x9f\x98\x80");
  gs_sweep_free(&sw);
}

/* Command-line overrides: the file's lines for an overridden key are set aside (in its section,
 * in [grid] with its '+=' lines, whatever the spacing), other lines and the line count kept; a
 * comma list becomes an axis except for a text key; the argument's line is where the override
 * says. */
Test(config, overrides_set_aside_the_file_lines_and_append_their_own) {
  const gs_vocabulary *v = gs_models_vocabulary();
  const char *text = "[sweep]\nname = x\n[train]\n  epochs=7\nlr = 0.1\n[grid]\nmodel.latent_dim = 1, 2\n"
                     "model.latent_dim += 3\ntrain.seed = 1, 2\n";
  char *args[] = {"train.epochs=2", "model.latent_dim=4,5", "probe.features=model,untrained"};
  int first = 0;
  gs_error err = {0};
  char *out = gs_overrides_apply(text, 3, args, v, &first, &err);
  cr_assert_not_null(out, "%s", err.msg);
  cr_assert(strstr(out, "; overridden on the command line:   epochs=7\n"), "%s", out);
  cr_assert(strstr(out, "; overridden on the command line: model.latent_dim = 1, 2\n"), "%s", out);
  cr_assert(strstr(out, "; overridden on the command line: model.latent_dim += 3\n"), "%s", out);
  cr_assert(strstr(out, "\nlr = 0.1\n") && strstr(out, "\ntrain.seed = 1, 2\n"), "%s", out);
  cr_assert(strstr(out, "[train]\nepochs = 2\n[grid]\nmodel.latent_dim = 4,5\n[probe]\nfeatures = model,untrained\n"),
            "%s", out);
  cr_assert_eq(first, 11, "9 file lines, a comment, then the overrides");
  gs_sweep sw;
  cr_assert_eq(gs_sweep_load_text("x.ini", v, out, &sw, &err), 0, "%s", err.msg);
  cr_assert_eq(sw.nruns, 4, "latent_dim 4, 5 x seed 1, 2");
  cr_assert_eq(sw.runs[0].cfg.epochs, 2);
  gs_sweep_free(&sw);
  free(out);
  char *bad[] = {"train.epochs"};
  cr_assert_null(gs_overrides_apply(text, 1, bad, v, &first, &err));
  cr_assert(strstr(err.msg, "argument 'train.epochs': expected section.key=value"), "%s", err.msg);
}

/* A grid point whose model reads none of the keys it differs in from another is that run: pixels
 * trains nothing, so a seed axis has one pixels run (issue 11: a baseline "computed once and
 * kept"); the VAE reads the seed, so it has three; and an axis over the spreading of the work
 * (train.ranks_per_run, out of every hash) still asks for separate runs. */
Test(sweep, grid_points_that_are_the_same_run_are_one_run) {
  gs_sweep sw;
  load_ok("[sweep]\nname = px\n[grid]\nmodel.name = pixels, vae\ntrain.seed = 1, 2, 3\n", &sw);
  cr_assert_eq(sw.nruns, 4);
  cr_assert_eq(sw.nsame, 2);
  cr_assert_str_eq(sw.same_example, "name-pixels_seed-2 = name-pixels_seed-1");
  const char *ids[] = {"name-pixels_seed-1", "name-vae_seed-1", "name-vae_seed-2", "name-vae_seed-3"};
  for (int r = 0; r < 4; r++) {
    cr_assert_str_eq(sw.runs[r].id, ids[r]);
    cr_assert_eq(sw.runs[r].index, r);
    cr_assert_eq(sw.runs[r].hash, gs_config_hash(&sw.runs[r].cfg), "%s", ids[r]);
  }
  cr_assert_neq(sw.runs[1].hash, sw.runs[2].hash);
  char *plan = NULL;
  size_t plen = 0;
  FILE *pf = open_memstream(&plan, &plen);
  gs_sweep_print_plan(&sw, NULL, pf);
  fclose(pf);
  cr_assert(strstr(plan, "runs         4\n             (2 more grid points are the same run as another: the model "
                         "reads none of the keys they differ in, e.g. name-pixels_seed-2 = name-pixels_seed-1)\n"),
            "%s", plan);
  free(plan);
  /* the pixels run's hash does not hold the seed: the same as a pixels run of any seed */
  gs_config c = sw.runs[0].cfg;
  c.seed = 99;
  cr_assert_eq(gs_config_hash(&c), sw.runs[0].hash);
  gs_sweep_free(&sw);

  load_ok("[sweep]\nname = px\n[model]\nname = pixels\n[grid]\ntrain.ranks_per_run = 1, 2\ntrain.epochs = 3, 4\n", &sw);
  cr_assert_eq(sw.nruns, 2, "the ranks-per-run axis gives 2 runs, the epochs axis none: %ld", sw.nruns);
  cr_assert_eq(sw.nsame, 2);
  cr_assert_str_eq(sw.runs[0].id, "ranks_per_run-1_epochs-3");
  cr_assert_str_eq(sw.runs[1].id, "ranks_per_run-2_epochs-3");
  gs_sweep_free(&sw);

  load_ok("[sweep]\nname = v\n[grid]\ntrain.seed = 1, 2\n", &sw); /* a VAE: nothing left out */
  cr_assert_eq(sw.nruns, 2);
  cr_assert_eq(sw.nsame, 0);
  cr_assert_str_eq(sw.same_example, "");
  gs_sweep_free(&sw);
}
