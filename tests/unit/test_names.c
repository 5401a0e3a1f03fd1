/* Names that come from outside (experiment-file values) and end up in paths and command lines:
 * sweep names are refused unless they are plain directory names; run ids are escaped to plain
 * file names; --shard parses strictly and the shards split a grid exactly, balanced by cost. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "gensweep/models/model.h"
#include "gensweep/config/config.h"
#include "gensweep/runner/runner.h"

static int plain_name(const char *s) {
  if (!*s || s[0] == '.' || s[0] == '-') return 0;
  for (const char *p = s; *p; p++)
    if (!(isalnum((unsigned char)*p) && (unsigned char)*p < 128) && !strchr("._+-", *p)) return 0;
  return 1;
}

static void load_ok(const char *text, gs_sweep *sw) {
  gs_error err = {0};
  cr_assert_eq(gs_sweep_load_text("n.ini", gs_models_vocabulary(), text, sw, &err), 0, "load failed: %s\n%s", err.msg, text);
}

Test(names, sweep_names_with_paths_or_shell_characters_are_refused) {
  const char *bad[] = {"..", ".", "../x", "a/b", "/abs", "a b", "a;b", "$(id)", "`id`", "a|b", "a&b", "a>b",
                       "a'b", "a\"b", "-rf", "--help", "a*", "a?", "~x", "a$HOME", "x\\y"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char text[256];
    snprintf(text, sizeof text, "[sweep]\nname = %s\n", bad[i]);
    gs_sweep sw;
    gs_error err = {0};
    cr_assert_neq(gs_sweep_load_text("n.ini", gs_models_vocabulary(), text, &sw, &err), 0, "sweep.name = %s accepted", bad[i]);
    cr_assert(strstr(err.msg, "n.ini:2: "), "%s: message without file:line: %s", bad[i], err.msg);
    cr_assert(strstr(err.msg, "sweep.name"), "%s: message does not name the key: %s", bad[i], err.msg);
    cr_assert(strstr(err.msg, "not a valid directory name"), "%s: %s", bad[i], err.msg);
  }
  gs_sweep sw;
  load_ok("[sweep]\nname = vae_sweep-2.b\n", &sw);
  char dir[1100];
  gs_sweep_dir(&sw, "/scratch/me/results", dir, sizeof dir);
  cr_assert_str_eq(dir, "/scratch/me/results/vae_sweep-2.b");
  gs_sweep_free(&sw);
}

Test(names, run_ids_from_hostile_values_are_plain_file_names) {
  /* data.dataset is a free-text key that may be swept: paths, spaces, metacharacters */
  gs_sweep sw;
  load_ok("[sweep]\nname = n\n[grid]\n"
          "data.dataset = ../../etc, /tmp/a b, x;rm -rf ~, $(id), `id`, a|b&c>d, .., ., -x, 'q', \"dq\"\n"
          "model.latent_dim = 2, 3\n",
          &sw);
  cr_assert_eq(sw.nruns, 22);
  for (long r = 0; r < sw.nruns; r++) {
    const char *id = sw.runs[r].id;
    cr_assert(plain_name(id), "run id '%s' is not a plain file name", id);
    cr_assert_null(strchr(id, '/'), "%s", id);
    cr_assert_eq(strncmp(id, "dataset-", 8), 0, "%s", id);
    for (long q = 0; q < r; q++) cr_assert_str_neq(sw.runs[q].id, id);
  }
  /* the values themselves are kept as written: only the id is escaped */
  cr_assert_str_eq(sw.runs[0].cfg.dataset, "../../etc");
  cr_assert_str_eq(sw.runs[0].id, "dataset-.._.._etc_latent_dim-2");
  cr_assert_str_eq(sw.runs[4].id, "dataset-x_rm_-rf___latent_dim-2");
  gs_sweep_free(&sw);
}

Test(names, values_that_escape_to_the_same_id_are_refused) {
  gs_sweep sw;
  gs_error err = {0};
  cr_assert_neq(gs_sweep_load_text("n.ini", gs_models_vocabulary(), "[grid]\ndata.dataset = a b, a;b\n", &sw, &err), 0);
  cr_assert(strstr(err.msg, "n.ini:2: "), "%s", err.msg);
  cr_assert(strstr(err.msg, "both become 'a_b' in run ids"), "%s", err.msg);
}

Test(shard, parse) {
  int i = -1, n = -1;
  gs_error err = {0};
  cr_assert_eq(gs_parse_shard("0/1", &i, &n, &err), 0, "%s", err.msg);
  cr_assert_eq(i, 0);
  cr_assert_eq(n, 1);
  cr_assert_eq(gs_parse_shard("3/4", &i, &n, &err), 0, "%s", err.msg);
  cr_assert_eq(i, 3);
  cr_assert_eq(n, 4);
  const char *bad[] = {"", "1", "4/4", "5/4", "-1/4", "1/0", "1/-2", "a/4", "1/4x", "1/ 4", " 1/4", "1//4",
                       "1/", "/4", "99999999999999999999/4", "0/100001"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    gs_error e = {0};
    cr_assert_neq(gs_parse_shard(bad[k], &i, &n, &e), 0, "--shard '%s' accepted", bad[k]);
    cr_assert(strstr(e.msg, "--shard"), "%s", e.msg);
  }
  gs_error e = {0};
  gs_parse_shard("4/4", &i, &n, &e);
  cr_assert(strstr(e.msg, "out of range 0..3"), "%s", e.msg);
}

/* LPT's bound: no shard carries more than the mean load plus the costliest run it was given */
static void check_split(const gs_sweep *sw, int n, const int *owner) {
  double total = 0, max = 0, load[64] = {0};
  for (long r = 0; r < sw->nruns; r++) {
    cr_assert(owner[r] >= 0 && owner[r] < n, "n=%d: run %ld in shard %d", n, r, owner[r]);
    double c = gs_run_cost(&sw->runs[r]);
    cr_assert(c > 0);
    load[owner[r]] += c, total += c;
    if (c > max) max = c;
  }
  for (int i = 0; i < n && n <= 64; i++)
    cr_assert(load[i] <= total / n + max * (1 + 1e-5), "n=%d: shard %d has %g of %g", n, i, load[i], total);
}

Test(shard, shards_split_the_grid_exactly_and_by_cost) {
  const char *grid = "[grid]\nmodel.name = vae, cvae\nmodel.latent_dim = 2, 5, 10\ntrain.seed = 1, 2, 3\n";
  gs_sweep sw;
  load_ok(grid, &sw);
  cr_assert_eq(sw.nruns, 18);
  for (int n = 1; n <= 20; n++) {
    int *owner = gs_shard_owners(&sw, n);
    long per[20] = {0};
    for (long r = 0; r < sw.nruns; r++) per[owner[r]]++;
    /* near-equal costs: shard sizes differ by at most one */
    for (int i = 0; i < n; i++) cr_assert(per[i] == sw.nruns / n || per[i] == sw.nruns / n + 1, "n=%d", n);
    check_split(&sw, n, owner);
    free(owner);
  }
  /* the same file loaded again splits the same way (no dependence on anything but the file) */
  gs_sweep sw2;
  load_ok(grid, &sw2);
  int *o1 = gs_shard_owners(&sw, 4), *o2 = gs_shard_owners(&sw2, 4);
  for (long r = 0; r < sw.nruns; r++) {
    cr_assert_str_eq(sw.runs[r].id, sw2.runs[r].id);
    cr_assert_eq(o1[r], o2[r]);
  }
  free(o1), free(o2);
  /* nshards 0 or 1: everything in shard 0 */
  for (int n = 0; n <= 1; n++) {
    int *o = gs_shard_owners(&sw, n);
    for (long r = 0; r < sw.nruns; r++) cr_assert_eq(o[r], 0);
    free(o);
  }
  /* more shards than runs: one run each, the rest empty */
  int *o = gs_shard_owners(&sw, 100000);
  int seen[18] = {0};
  for (long r = 0; r < sw.nruns; r++) {
    cr_assert(o[r] < 18);
    cr_assert_eq(seen[o[r]]++, 0);
  }
  free(o);
  gs_sweep_free(&sw);
  gs_sweep_free(&sw2);
}

/* A grid whose last axis has the costly model: split by grid index mod 2, one shard would get
 * every CAE run. By cost, each shard gets half of them. */
Test(shard, costly_runs_are_spread_over_the_shards) {
  gs_sweep sw;
  load_ok("[grid]\nmodel.latent_dim = 2, 3, 4, 5\nmodel.name = vae, cae\n", &sw);
  cr_assert_eq(sw.nruns, 8);
  int *owner = gs_shard_owners(&sw, 2);
  int cae[2] = {0};
  for (long r = 0; r < sw.nruns; r++)
    if (strcmp(sw.runs[r].cfg.model, "cae") == 0) cae[owner[r]]++;
  cr_assert_eq(cae[0], 2);
  cr_assert_eq(cae[1], 2);
  check_split(&sw, 2, owner);
  free(owner);
  gs_sweep_free(&sw);
}

/* ------------------------------------------------------------------ gensweep slurm */
#include <stdlib.h>
#include <unistd.h>

#include "gensweep/runner/slurm.h"

static const char *hostile[] = {"plain", "", "a b", "it's", "''", "'", "a\"b", "$(id)", "`id`", "$HOME", "a;b&c|d",
                                "x\\y", "new\nline", "*?[a]", "~root", "-rf", "\\'", "tab\there", "!event"};

Test(slurm, shell_quote_round_trips_through_sh) {
  for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
    char q[256], cmd[600];
    cr_assert_gt(gs_shell_quote(hostile[i], q, sizeof q), 1);
    cr_assert_eq(q[0], '\'');
    /* printf %s <quoted> through a shell must give back the value byte for byte */
    snprintf(cmd, sizeof cmd, "printf '%%s' %s", q);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char got[256] = {0};
    size_t n = fread(got, 1, sizeof got - 1, p);
    cr_assert_eq(pclose(p), 0, "%s", cmd);
    got[n] = 0;
    cr_assert_str_eq(got, hostile[i], "quoted as %s", q);
  }
  char small[4];
  cr_assert_eq(gs_shell_quote("abcdef", small, sizeof small), -1);
  cr_assert_str_eq(small, "");
}

static int script(const gs_sweep *sw, gs_slurm_options *o, char *buf, size_t n, gs_error *err) {
  FILE *f = fmemopen(buf, n, "w");
  cr_assert_not_null(f);
  int rc = gs_slurm_script(sw, o, f, err);
  fclose(f);
  return rc;
}

Test(slurm, script_quotes_paths_and_checks_sbatch_values) {
  gs_sweep sw;
  load_ok("[sweep]\nname = q\n[grid]\nmodel.latent_dim = 2, 3, 4\n", &sw);
  static char buf[16384];
  gs_error err = {0};
  gs_slurm_options o = {.experiment = "/data/it's $(id).ini", .gensweep = "/opt/g s/gensweep",
                        .results = "/r/`x`", .time = "1-02:00:00", .partition = "gpu,cpu", .ntasks = 2,
                        .array = 3, .margin = 120};
  cr_assert_eq(script(&sw, &o, buf, sizeof buf, &err), 0, "%s", err.msg);
  cr_assert(strstr(buf, "#SBATCH --array=0-2\n"), "%s", buf);
  cr_assert(strstr(buf, "#SBATCH --partition=gpu,cpu\n"));
  cr_assert(strstr(buf, "#SBATCH --signal=B:USR1@120\n"));
  cr_assert(strstr(buf, "#SBATCH --requeue\n"));
  cr_assert(strstr(buf, "set -- '/data/it'\\''s $(id).ini' --results '/r/`x`' --shard \"$SLURM_ARRAY_TASK_ID/3\"\n"),
            "%s", buf);
  cr_assert(strstr(buf, "GENSWEEP=${GENSWEEP:-'/opt/g s/gensweep'}\n"));
  /* the trap comes before anything that takes time */
  cr_assert_lt(strstr(buf, "trap on_usr1 USR1"), strstr(buf, "srun --mpi"));
  /* bash parses it */
  char path[] = "/tmp/gs_slurm_script_XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, buf, strlen(buf)), (ssize_t)strlen(buf));
  close(fd);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "bash -n %s", path);
  cr_assert_eq(system(cmd), 0, "bash -n failed on:\n%s", buf);
  unlink(path);

  struct { const char *time, *part, *acct; long ntasks, nodes, array, margin; const char *frag; } bad[] = {
      {"1:00; rm -rf ~", NULL, NULL, 2, 0, 0, 300, "--time '1:00; rm -rf ~'"},
      {"-1", NULL, NULL, 2, 0, 0, 300, "--time"},
      {"", NULL, NULL, 2, 0, 0, 300, "--time"},
      {"10", "a b", NULL, 2, 0, 0, 300, "--partition 'a b'"},
      {"10", "$(id)", NULL, 2, 0, 0, 300, "--partition"},
      {"10", "-p", NULL, 2, 0, 0, 300, "--partition"},
      {"10", NULL, "a'b", 2, 0, 0, 300, "--account"},
      {"10", NULL, NULL, 0, 0, 0, 300, "--ntasks"},
      {"10", NULL, NULL, 2, 3, 0, 300, "--nodes"},
      {"10", NULL, NULL, 2, 0, 4, 300, "more shards than the sweep's 3 runs"},
      {"10", NULL, NULL, 2, 0, 0, 5, "--margin"},
      {"5", NULL, NULL, 2, 0, 0, 300, "--margin 300 s is not below --time 5 (300 s)"},
      {"1:2:3:4", NULL, NULL, 2, 0, 0, 300, "--time '1:2:3:4'"},
      {"1-2-3", NULL, NULL, 2, 0, 0, 300, "--time"},
      {"1::2", NULL, NULL, 2, 0, 0, 300, "--time"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    gs_slurm_options b = {.experiment = "/x.ini", .gensweep = "/g", .time = bad[i].time, .partition = bad[i].part,
                          .account = bad[i].acct, .ntasks = bad[i].ntasks, .nodes = bad[i].nodes,
                          .array = bad[i].array, .margin = bad[i].margin};
    gs_error e = {0};
    cr_assert_neq(script(&sw, &b, buf, sizeof buf, &e), 0, "case %zu accepted", i);
    cr_assert(strstr(e.msg, bad[i].frag), "case %zu: '%s' lacks '%s'", i, e.msg, bad[i].frag);
  }
  /* the time formats Slurm takes */
  const char *good[] = {"30", "10:00", "04:00:00", "2-00", "2-00:30", "1-02:00:00"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    gs_slurm_options t = {.experiment = "/x.ini", .gensweep = "/g", .time = good[i], .ntasks = 1, .margin = 60};
    cr_assert_eq(script(&sw, &t, buf, sizeof buf, &err), 0, "--time %s: %s", good[i], err.msg);
  }
  /* ranks_per_run must divide ntasks */
  gs_slurm_options g = {.experiment = "/x.ini", .gensweep = "/g", .time = "10", .ntasks = 3, .margin = 300,
                        .ranks_per_run = 2};
  cr_assert_neq(script(&sw, &g, buf, sizeof buf, &err), 0);
  cr_assert(strstr(err.msg, "not a multiple of ranks_per_run = 2"), "%s", err.msg);
  gs_sweep_free(&sw);
}
