/* Names that come from outside (experiment-file values) and end up in paths and command lines:
 * sweep names are refused unless they are plain directory names; run ids are escaped to plain
 * file names; --shard parses strictly and the shards split a grid exactly. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "gensweep/config.h"
#include "gensweep/runner.h"

static int plain_name(const char *s) {
  if (!*s || s[0] == '.' || s[0] == '-') return 0;
  for (const char *p = s; *p; p++)
    if (!(isalnum((unsigned char)*p) && (unsigned char)*p < 128) && !strchr("._+-", *p)) return 0;
  return 1;
}

static void load_ok(const char *text, gs_sweep *sw) {
  gs_error err = {0};
  cr_assert_eq(gs_sweep_load_text("n.ini", text, sw, &err), 0, "load failed: %s\n%s", err.msg, text);
}

Test(names, sweep_names_with_paths_or_shell_characters_are_refused) {
  const char *bad[] = {"..", ".", "../x", "a/b", "/abs", "a b", "a;b", "$(id)", "`id`", "a|b", "a&b", "a>b",
                       "a'b", "a\"b", "-rf", "--help", "a*", "a?", "~x", "a$HOME", "x\\y"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char text[256];
    snprintf(text, sizeof text, "[sweep]\nname = %s\n", bad[i]);
    gs_sweep sw;
    gs_error err = {0};
    cr_assert_neq(gs_sweep_load_text("n.ini", text, &sw, &err), 0, "sweep.name = %s accepted", bad[i]);
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
  cr_assert_neq(gs_sweep_load_text("n.ini", "[grid]\ndata.dataset = a b, a;b\n", &sw, &err), 0);
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

Test(shard, shards_split_the_grid_exactly_by_grid_index) {
  gs_sweep sw;
  load_ok("[grid]\nmodel.name = vae, cvae\nmodel.latent_dim = 2, 5, 10\ntrain.seed = 1, 2, 3\n", &sw);
  cr_assert_eq(sw.nruns, 18);
  for (int n = 1; n <= 20; n++) {
    long per[20] = {0};
    for (long r = 0; r < sw.nruns; r++) {
      int owners = 0;
      for (int i = 0; i < n; i++)
        if (gs_run_in_shard(&sw.runs[r], i, n)) {
          owners++;
          per[i]++;
          cr_assert_eq(sw.runs[r].index % n, i);
        }
      cr_assert_eq(owners, 1, "n=%d: run %ld in %d shards", n, r, owners);
    }
    /* balanced: shard sizes differ by at most one */
    for (int i = 0; i < n; i++) cr_assert(per[i] == sw.nruns / n || per[i] == sw.nruns / n + 1);
  }
  /* the same file loaded again splits the same way (no dependence on anything but the file) */
  gs_sweep sw2;
  load_ok("[grid]\nmodel.name = vae, cvae\nmodel.latent_dim = 2, 5, 10\ntrain.seed = 1, 2, 3\n", &sw2);
  for (long r = 0; r < sw.nruns; r++) {
    cr_assert_str_eq(sw.runs[r].id, sw2.runs[r].id);
    for (int i = 0; i < 4; i++)
      cr_assert_eq(gs_run_in_shard(&sw.runs[r], i, 4), gs_run_in_shard(&sw2.runs[r], i, 4));
  }
  /* nshards 0 or 1: everything */
  cr_assert(gs_run_in_shard(&sw.runs[5], 0, 0));
  cr_assert(gs_run_in_shard(&sw.runs[5], 0, 1));
  gs_sweep_free(&sw);
  gs_sweep_free(&sw2);
}
