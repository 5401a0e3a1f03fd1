/* Tests of the sweep ledger (results/<sweep>/ledger.log) and the status view: round trip with
 * escaping, truncation, latest state per run, torn and garbage lines, random bytes, concurrent
 * appenders, a 100,000-line read, and `status` of a small sweep. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gensweep/models/model.h"
#include "gensweep/io/ledger.h"
#include "gensweep/runner/runner.h"
#include "gensweep/runner/status.h"

/* ------------------------------------------------------------------ helpers */

static char *tmpdir(void) {
  char tmpl[] = "/tmp/gs_ledger_XXXXXX";
  char *d = mkdtemp(tmpl);
  cr_assert(d, "mkdtemp failed");
  return strdup(d);
}

static void rmtree(const char *dir) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

static char *ledger_path(const char *dir) {
  static char p[1200];
  snprintf(p, sizeof p, "%s/ledger.log", dir);
  return p;
}

static char *slurp(const char *path, size_t *len) {
  gs_error err = {0};
  char *t = gs_read_file(path, len, &err);
  cr_assert(t, "%s", err.msg);
  return t;
}

/* Append raw bytes to the ledger file (to fake crashes, garbage, chosen time stamps). */
static void append_raw(const char *dir, const char *text) {
  FILE *f = fopen(ledger_path(dir), "ab");
  cr_assert(f);
  fputs(text, f);
  fclose(f);
}

static void raw_entry(const char *dir, double t, const char *state, const char *id, uint64_t hash, long epoch,
                      const char *msg) {
  char line[1024];
  snprintf(line, sizeof line, "%.3f\t%s\t%s\t%016" PRIx64 "\t%ld\t%ld\t%s\n", t, state, id, hash, epoch, 4242L, msg);
  append_raw(dir, line);
}

static void append_ok(gs_ledger *l, const char *state, const char *id, uint64_t hash, long epoch, const char *msg) {
  gs_error err = {0};
  cr_assert_eq(gs_ledger_append(l, state, id, hash, epoch, msg, &err), 0, "append: %s", err.msg);
}

static void read_ok(const char *dir, gs_ledger_view *v) {
  gs_error err = {0};
  cr_assert_eq(gs_ledger_read(dir, v, &err), 0, "read: %s", err.msg);
}

static long count_lines_starting(const char *text, const char *prefix) {
  long n = 0;
  size_t pl = strlen(prefix);
  for (const char *p = text; *p;) {
    if (strncmp(p, prefix, pl) == 0) n++;
    const char *nl = strchr(p, '\n');
    if (!nl) break;
    p = nl + 1;
  }
  return n;
}

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ------------------------------------------------------------------ writing and reading */

Test(ledger, round_trip_with_escaping) {
  char *dir = tmpdir();
  gs_ledger l;
  gs_error err = {0};
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  const char *msg = "loss NaN\tat step 7\nsee C:\\logs\\run 1\r (carriage)  two  spaces";
  double t0 = wall();
  append_ok(&l, "failed", "q-vae_latent_dim-2", 0x0123456789abcdefULL, 3, msg);
  append_ok(&l, "started", "id\twith\\odd\nchars", 0xffffffffffffffffULL, -1, NULL);
  gs_ledger_close(&l);
  gs_ledger_close(&l); /* twice is harmless */

  size_t len;
  char *text = slurp(ledger_path(dir), &len);
  cr_assert_eq(strncmp(text, GS_LEDGER_HEADER "\n", strlen(GS_LEDGER_HEADER) + 1), 0, "no header:\n%s", text);
  cr_assert(strstr(text, "\tfailed\tq-vae_latent_dim-2\t0123456789abcdef\t3\t"), "%s", text);
  cr_assert(strstr(text, "loss NaN\\tat step 7\\nsee C:\\\\logs\\\\run 1\\r (carriage)  two  spaces\n"), "%s", text);
  cr_assert(strstr(text, "\tid\\twith\\\\odd\\nchars\tffffffffffffffff\t-1\t"), "%s", text);
  cr_assert_eq(count_lines_starting(text, ""), 3);
  free(text);

  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.nlines, 3);
  cr_assert_eq(v.nentries, 2);
  cr_assert_eq(v.nbad, 0);
  cr_assert_eq(v.n, 2);
  const gs_ledger_entry *e = gs_ledger_find(&v, "q-vae_latent_dim-2", 0x0123456789abcdefULL);
  cr_assert(e);
  cr_assert_str_eq(e->state, "failed");
  cr_assert_str_eq(e->message, msg);
  cr_assert_eq(e->epoch, 3);
  cr_assert_eq(e->pid, (long)getpid());
  cr_assert_eq(e->line, 2);
  cr_assert(fabs(e->time - t0) < 5.0, "time %f vs %f", e->time, t0);
  cr_assert_eq(e->time, floor(e->time * 1000 + 0.5) / 1000, "time has ms resolution");
  e = gs_ledger_find(&v, "id\twith\\odd\nchars", 0xffffffffffffffffULL);
  cr_assert(e);
  cr_assert_eq(e->epoch, -1);
  cr_assert_str_eq(e->message, "");
  cr_assert_null(gs_ledger_find(&v, "q-vae_latent_dim-2", 0x0123456789abcdeeULL));
  cr_assert_null(gs_ledger_find(&v, "nope", 0));
  cr_assert_leq(v.first_time, v.last_time);
  gs_ledger_view_free(&v);
  gs_ledger_view_free(&v);

  /* reopening appends after the existing lines, no second header */
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  append_ok(&l, "done", "q-vae_latent_dim-2", 0x0123456789abcdefULL, 5, "");
  gs_ledger_close(&l);
  text = slurp(ledger_path(dir), &len);
  cr_assert_eq(count_lines_starting(text, "#"), 1);
  free(text);
  read_ok(dir, &v);
  cr_assert_eq(v.n, 2);
  cr_assert_str_eq(gs_ledger_find(&v, "q-vae_latent_dim-2", 0x0123456789abcdefULL)->state, "done");
  gs_ledger_view_free(&v);
  rmtree(dir);
  free(dir);
}

Test(ledger, open_creates_directories) {
  char *dir = tmpdir();
  char sub[1200];
  snprintf(sub, sizeof sub, "%s/a/b/c", dir);
  gs_ledger l;
  gs_error err = {0};
  cr_assert_eq(gs_ledger_open(sub, &l, &err), 0, "%s", err.msg);
  append_ok(&l, "queued", "r", 1, 0, NULL);
  gs_ledger_close(&l);
  gs_ledger_view v;
  read_ok(sub, &v);
  cr_assert_eq(v.n, 1);
  cr_assert_str_eq(v.last[0].state, "queued");
  gs_ledger_view_free(&v);
  rmtree(dir);
  free(dir);
}

Test(ledger, long_messages_are_truncated_to_one_short_line) {
  char *dir = tmpdir();
  gs_ledger l;
  gs_error err = {0};
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  /* 3-byte UTF-8 characters, and tabs that double when escaped */
  size_t n = 12000;
  char *big = malloc(n + 1);
  for (size_t i = 0; i < n; i += 3) memcpy(big + i, "\xe2\x82\xac", 3); /* euro sign */
  big[n] = 0;
  char *tabs = malloc(n + 1);
  memset(tabs, '\t', n);
  tabs[n] = 0;
  for (int shift = 0; shift < 3; shift++) append_ok(&l, "failed", "euro", (uint64_t)shift, 1, big + shift * 0);
  append_ok(&l, "failed", "x", 7, 1, big + 1); /* starts mid-character: still must not crash */
  append_ok(&l, "failed", "tabs", 9, 1, tabs);
  /* invalid UTF-8 (stray continuation bytes after escaped characters) must still give a valid line */
  for (size_t i = 0; i < n; i++) tabs[i] = i % 2 ? (char)0x80 : '\t';
  append_ok(&l, "failed", "stray", 10, 1, tabs);
  for (size_t i = 0; i < n; i++) tabs[i] = '\t';
  gs_ledger_close(&l);

  size_t len;
  char *text = slurp(ledger_path(dir), &len);
  for (char *p = text; *p;) {
    char *nl = strchr(p, '\n');
    cr_assert(nl, "unterminated line");
    size_t ll = (size_t)(nl - p) + 1;
    cr_assert_lt(ll, (size_t)GS_LEDGER_MAX_LINE + 1, "line of %zu bytes", ll);
    if (*p != '#') {
      cr_assert_gt(ll, 3000u, "the message should fill most of the line (%zu)", ll);
      cr_assert_eq(strncmp(nl - 3, "...", 3), 0, "truncation not marked");
    }
    p = nl + 1;
  }
  /* the first message is cut at a character boundary: an even number of euro signs precede "..." */
  char *first = strchr(text, '\n') + 1;
  char *msg = first;
  for (int k = 0; k < 6; k++) msg = strchr(msg, '\t') + 1;
  char *dots = strchr(first, '\n') - 3;
  cr_assert_eq((dots - msg) % 3, 0, "cut inside a UTF-8 character");
  free(text);

  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.nbad, 0);
  cr_assert_eq(v.n, 6);
  const gs_ledger_entry *e = gs_ledger_find(&v, "euro", 0);
  cr_assert(e);
  size_t ml = strlen(e->message);
  cr_assert_lt(ml, sizeof e->message);
  cr_assert_eq(ml % 3, 0, "read-side truncation cut a UTF-8 character (%zu bytes)", ml);
  cr_assert_eq(strncmp(e->message, big, ml), 0);
  e = gs_ledger_find(&v, "tabs", 9);
  cr_assert(e);
  for (size_t i = 0; e->message[i] && e->message[i] != '.'; i++) cr_assert_eq(e->message[i], '\t');
  gs_ledger_view_free(&v);
  free(big);
  free(tabs);
  rmtree(dir);
  free(dir);
}

Test(ledger, bad_arguments_are_errors) {
  char *dir = tmpdir();
  gs_ledger l;
  gs_error err = {0};
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  const char *bad_states[] = {"", "Done", "has space", "tab\t", "a-state-word-that-is-much-too-long-to-fit", "9lives", NULL};
  for (int i = 0; bad_states[i]; i++) {
    gs_error_clear(&err);
    cr_assert_neq(gs_ledger_append(&l, bad_states[i], "r", 1, 0, "", &err), 0, "state '%s' accepted", bad_states[i]);
    cr_assert(strstr(err.msg, "state"), "%s", err.msg);
  }
  cr_assert_neq(gs_ledger_append(&l, NULL, "r", 1, 0, "", &err), 0);
  cr_assert_neq(gs_ledger_append(&l, "done", "", 1, 0, "", &err), 0);
  char longid[GS_MAX_RUN_ID + 10];
  memset(longid, 'a', sizeof longid - 1);
  longid[sizeof longid - 1] = 0;
  cr_assert_neq(gs_ledger_append(&l, "done", longid, 1, 0, "", &err), 0);
  longid[GS_MAX_RUN_ID - 1] = 0; /* the longest allowed id */
  append_ok(&l, "checkpoint-failed", longid, 1, 0, "a note");
  gs_ledger_close(&l);
  cr_assert_neq(gs_ledger_append(&l, "done", "r", 1, 0, "", &err), 0, "append after close");
  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.nentries, 1);
  cr_assert(gs_ledger_find(&v, longid, 1));
  gs_ledger_view_free(&v);
  rmtree(dir);
  free(dir);
}

Test(ledger, latest_state_per_run) {
  char *dir = tmpdir();
  gs_ledger l;
  gs_error err = {0};
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  const uint64_t h1 = 0xaaaa, h2 = 0xbbbb;
  append_ok(&l, "queued", "A", h1, 0, NULL);
  append_ok(&l, "queued", "B", h1, 0, NULL);
  append_ok(&l, "started", "A", h1, 0, NULL);
  append_ok(&l, "started", "B", h1, 0, NULL);
  append_ok(&l, "checkpointed", "A", h1, 3, NULL);
  append_ok(&l, "failed", "B", h1, -1, "out of memory");
  append_ok(&l, "done", "A", h1, 5, NULL);
  append_ok(&l, "started", "A", h2, 0, "parameters changed");
  append_ok(&l, "started", "C", h1, 0, NULL);
  append_ok(&l, "checkpoint-failed", "C", h1, 2, "disk full"); /* a note: C is still running */
  gs_ledger_close(&l);

  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.nentries, 10);
  cr_assert_eq(v.n, 4);
  /* first-seen order */
  cr_assert_str_eq(v.last[0].run_id, "A");
  cr_assert_eq(v.last[0].hash, h1);
  cr_assert_str_eq(v.last[1].run_id, "B");
  cr_assert_str_eq(v.last[2].run_id, "A");
  cr_assert_eq(v.last[2].hash, h2);
  cr_assert_str_eq(v.last[3].run_id, "C");

  const gs_ledger_entry *a = gs_ledger_find(&v, "A", h1);
  cr_assert_str_eq(a->state, "done");
  cr_assert_eq(a->epoch, 5);
  long ia = gs_ledger_lookup(&v, "A", h1);
  cr_assert_eq(ia, 0);
  cr_assert_eq(v.sum[ia].attempts, 1);
  cr_assert_eq(v.sum[ia].nlines, 4);
  cr_assert_str_eq(v.sum[ia].status, "done");
  cr_assert_eq(v.sum[ia].open_since, -1);
  cr_assert_geq(v.sum[ia].busy, 0);
  cr_assert_str_eq(gs_ledger_find(&v, "B", h1)->message, "out of memory");
  cr_assert_str_eq(gs_ledger_find(&v, "A", h2)->state, "started");
  cr_assert_eq(gs_ledger_find_id(&v, "A"), gs_ledger_find(&v, "A", h2), "find_id: the most recently written hash");
  cr_assert_eq(gs_ledger_find_id(&v, "B"), gs_ledger_find(&v, "B", h1));
  cr_assert_null(gs_ledger_find_id(&v, "D"));

  long ic = gs_ledger_lookup(&v, "C", h1);
  cr_assert_str_eq(v.last[ic].state, "checkpoint-failed");
  cr_assert_str_eq(v.sum[ic].status, "started");
  cr_assert_eq(v.sum[ic].epoch, 2);
  cr_assert_geq(v.sum[ic].open_since, 0);

  int stale = -1;
  long idx = -2;
  cr_assert_eq(gs_ledger_run_state(&v, "A", h1, &idx, &stale), GS_RUN_DONE);
  cr_assert_eq(idx, 0);
  cr_assert_eq(stale, 0);
  cr_assert_eq(gs_ledger_run_state(&v, "B", h1, NULL, NULL), GS_RUN_FAILED);
  cr_assert_eq(gs_ledger_run_state(&v, "C", h1, NULL, NULL), GS_RUN_RUNNING);
  cr_assert_eq(gs_ledger_run_state(&v, "B", h2, &idx, &stale), GS_RUN_PENDING);
  cr_assert_eq(idx, -1);
  cr_assert_eq(stale, 1, "B has lines under another hash");
  cr_assert_eq(gs_ledger_run_state(&v, "Z", h2, &idx, &stale), GS_RUN_PENDING);
  cr_assert_eq(stale, 0);
  gs_ledger_view_free(&v);
  rmtree(dir);
  free(dir);
}

Test(ledger, state_classes) {
  cr_assert_eq(gs_ledger_state_class("queued"), GS_LSTATE_QUEUED);
  cr_assert_eq(gs_ledger_state_class("started"), GS_LSTATE_RUNNING);
  cr_assert_eq(gs_ledger_state_class("checkpointed"), GS_LSTATE_RUNNING);
  cr_assert_eq(gs_ledger_state_class("resumed"), GS_LSTATE_RUNNING);
  cr_assert_eq(gs_ledger_state_class("done"), GS_LSTATE_DONE);
  cr_assert_eq(gs_ledger_state_class("failed"), GS_LSTATE_FAILED);
  cr_assert_eq(gs_ledger_state_class("diverged"), GS_LSTATE_FAILED);
  cr_assert_eq(gs_ledger_state_class("interrupted"), GS_LSTATE_INTERRUPTED);
  cr_assert_eq(gs_ledger_state_class("paused"), GS_LSTATE_INTERRUPTED);
  cr_assert_eq(gs_ledger_state_class("stopped"), GS_LSTATE_DONE);
  cr_assert_eq(gs_ledger_state_class("sched"), GS_LSTATE_NOTE);
  cr_assert_eq(gs_ledger_state_class("checkpoint-rejected"), GS_LSTATE_NOTE);
  cr_assert_eq(gs_ledger_state_class(NULL), GS_LSTATE_NOTE);
  cr_assert(gs_ledger_state_valid("checkpoint_failed2"));
  cr_assert(!gs_ledger_state_valid("x y"));
}

Test(ledger, busy_time_over_attempts) {
  char *dir = tmpdir();
  append_raw(dir, GS_LEDGER_HEADER "\n");
  raw_entry(dir, 1000.0, "queued", "R", 1, 0, "");
  raw_entry(dir, 1010.0, "started", "R", 1, 0, "");
  raw_entry(dir, 1060.0, "checkpointed", "R", 1, 1, "");
  raw_entry(dir, 1070.0, "interrupted", "R", 1, -1, "signal");  /* attempt 1: 60 s */
  raw_entry(dir, 2000.0, "started", "R", 1, 0, "");
  raw_entry(dir, 2005.0, "resumed", "R", 1, 1, "");
  raw_entry(dir, 2030.0, "checkpointed", "R", 1, 2, "");          /* attempt 2 vanished (kill -9): 30 s */
  raw_entry(dir, 3000.0, "started", "R", 1, 0, "");
  raw_entry(dir, 3100.0, "done", "R", 1, 4, "");                  /* attempt 3: 100 s */
  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.n, 1);
  cr_assert_eq(v.sum[0].attempts, 3);
  cr_assert_float_eq(v.sum[0].busy, 190.0, 1e-6);
  cr_assert_eq(v.sum[0].epoch, 4);
  cr_assert_float_eq(v.sum[0].first_time, 1000.0, 1e-9);
  cr_assert_float_eq(v.first_time, 1000.0, 1e-9);
  cr_assert_float_eq(v.last_time, 3100.0, 1e-9);
  gs_ledger_view_free(&v);
  rmtree(dir);
  free(dir);
}

/* ------------------------------------------------------------------ damage */

Test(ledger, torn_last_line) {
  char *dir = tmpdir();
  gs_ledger l;
  gs_error err = {0};
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  append_ok(&l, "started", "A", 1, 0, NULL);
  append_ok(&l, "done", "A", 1, 5, NULL);
  gs_ledger_close(&l);
  /* a crash in the middle of a line about another run */
  append_raw(dir, "1718031112.094\tfailed\tB\t00000000000000");

  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.nlines, 4);
  cr_assert_eq(v.nentries, 2);
  cr_assert_eq(v.nbad, 1);
  cr_assert_eq(v.torn, 1);
  cr_assert_eq(v.n, 1);
  cr_assert_null(gs_ledger_find_id(&v, "B"));
  gs_ledger_view_free(&v);

  /* a complete-looking entry without its newline is torn too: its message may be cut short */
  append_raw(dir, "0000000000000001\t3\t99\tpartial mess");
  read_ok(dir, &v);
  cr_assert_eq(v.nbad, 1);
  cr_assert_null(gs_ledger_find_id(&v, "B"));
  gs_ledger_view_free(&v);

  /* the next writer ends the fragment before appending: its own line is intact */
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  append_ok(&l, "started", "C", 2, 0, NULL);
  gs_ledger_close(&l);
  read_ok(dir, &v);
  cr_assert_eq(v.torn, 0);
  cr_assert_eq(v.nbad, 1, "the fragment is now a complete but malformed line? nbad=%ld", v.nbad);
  cr_assert_eq(v.nentries, 3);
  cr_assert(gs_ledger_find(&v, "C", 2));
  gs_ledger_view_free(&v);
  rmtree(dir);
  free(dir);
}

Test(ledger, garbage_lines_are_skipped_and_counted) {
  char *dir = tmpdir();
  append_raw(dir, GS_LEDGER_HEADER "\n");
  raw_entry(dir, 100.5, "started", "good", 0x10, 0, "fine");
  const char *bad[] = {
      "garbage\n",
      "\n",                                                         /* blank: ignored, not bad */
      "# a comment: ignored\n",
      "100.0\tstarted\tr\t0000000000000010\t0\t1\n",                 /* 6 fields */
      "100.0\tstarted\tr\t0000000000000010\t0\t1\tm\textra\n",       /* 8 fields */
      "100.0\tstarted\tr\t000000000000010\t0\t1\tm\n",               /* 15 hex digits */
      "100.0\tstarted\tr\t000000000000001g\t0\t1\tm\n",              /* not hex */
      "abc\tstarted\tr\t0000000000000010\t0\t1\tm\n",                /* bad time */
      "-5\tstarted\tr\t0000000000000010\t0\t1\tm\n",                 /* negative time */
      "1e400\tstarted\tr\t0000000000000010\t0\t1\tm\n",              /* not digits */
      "100.0\tStarted\tr\t0000000000000010\t0\t1\tm\n",              /* bad state */
      "100.0\t\tr\t0000000000000010\t0\t1\tm\n",                     /* empty state */
      "100.0\tstarted\t\t0000000000000010\t0\t1\tm\n",               /* empty run id */
      "100.0\tstarted\tr\t0000000000000010\tx\t1\tm\n",              /* bad epoch */
      "100.0\tstarted\tr\t0000000000000010\t-7\t1\tm\n",             /* epoch < -1 */
      "100.0\tstarted\tr\t0000000000000010\t99999999999999999999\t1\tm\n", /* overflow */
      "100.0\tstarted\tr\t0000000000000010\t0\t-1\tm\n",             /* negative pid */
      "100.0\tstarted\tr\t0000000000000010\t0\t1\tbad \\q escape\n", /* unknown escape */
      "100.0\tstarted\tr\t0000000000000010\t0\t1\ttrailing \\\n",    /* lone backslash */
      NULL};
  long expect_bad = 0;
  for (int i = 0; bad[i]; i++) {
    append_raw(dir, bad[i]);
    expect_bad += bad[i][0] != '\n' && bad[i][0] != '#';
  }
  /* a NUL byte inside a line */
  FILE *f = fopen(ledger_path(dir), "ab");
  fwrite("100.0\tstarted\tr\t0000000000000010\t0\t1\tn\0l\n", 1, 41, f);
  fclose(f);
  expect_bad++;
  /* an over-long run id */
  char longline[600];
  char id[300];
  memset(id, 'x', sizeof id - 1);
  id[sizeof id - 1] = 0;
  snprintf(longline, sizeof longline, "100.0\tstarted\t%s\t0000000000000010\t0\t1\tm\n", id);
  append_raw(dir, longline);
  expect_bad++;
  raw_entry(dir, 200.25, "done", "good", 0x10, 4, "still fine");
  append_raw(dir, "300\tdone\tcrlf\t0000000000000011\t1\t2\tdos line\r\n"); /* CRLF tolerated */

  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.nbad, expect_bad, "nbad %ld, expected %ld", v.nbad, expect_bad);
  cr_assert_eq(v.nentries, 3);
  cr_assert_eq(v.n, 2);
  const gs_ledger_entry *e = gs_ledger_find(&v, "good", 0x10);
  cr_assert(e);
  cr_assert_str_eq(e->state, "done");
  cr_assert_str_eq(e->message, "still fine");
  cr_assert_float_eq(e->time, 200.25, 1e-9);
  e = gs_ledger_find(&v, "crlf", 0x11);
  cr_assert(e);
  cr_assert_str_eq(e->message, "dos line");
  cr_assert_eq(v.sum[0].epoch, 4);
  gs_ledger_view_free(&v);
  rmtree(dir);
  free(dir);
}

Test(ledger, newer_format_and_foreign_files_are_refused) {
  char *dir = tmpdir();
  append_raw(dir, "#gensweep-ledger v2\n1.0\tdone\tr\t0000000000000001\t1\t1\t\n");
  gs_ledger_view v;
  gs_error err = {0};
  cr_assert_neq(gs_ledger_read(dir, &v, &err), 0);
  cr_assert(strstr(err.msg, "v2") && strstr(err.msg, "ledger.log"), "%s", err.msg);
  cr_assert_eq(v.n, 0);
  cr_assert_null(v.last);
  gs_ledger l;
  gs_error_clear(&err);
  cr_assert_neq(gs_ledger_open(dir, &l, &err), 0);
  cr_assert(strstr(err.msg, "v2"), "%s", err.msg);
  cr_assert_eq(l.fd, -1);
  gs_ledger_close(&l);

  unlink(ledger_path(dir));
  append_raw(dir, "this is somebody's diary\n");
  gs_error_clear(&err);
  cr_assert_neq(gs_ledger_open(dir, &l, &err), 0);
  cr_assert(strstr(err.msg, "not a gensweep ledger"), "%s", err.msg);
  rmtree(dir);
  free(dir);
}

Test(ledger, missing_file_is_an_empty_view) {
  char *dir = tmpdir();
  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.n, 0);
  cr_assert_eq(v.nlines, 0);
  cr_assert_eq(v.nbad, 0);
  cr_assert_null(gs_ledger_find(&v, "x", 1));
  cr_assert_null(gs_ledger_find_id(&v, "x"));
  cr_assert_eq(gs_ledger_lookup(&v, "x", 1), -1);
  gs_ledger_view_free(&v);
  char sub[1200];
  snprintf(sub, sizeof sub, "%s/no/such/dir", dir);
  read_ok(sub, &v);
  cr_assert_eq(v.n, 0);
  gs_ledger_view_free(&v);
  /* an empty file (header only) */
  append_raw(dir, GS_LEDGER_HEADER "\n");
  read_ok(dir, &v);
  cr_assert_eq(v.nlines, 1);
  cr_assert_eq(v.nentries, 0);
  gs_ledger_view_free(&v);
  rmtree(dir);
  free(dir);
}

/* Random bytes, biased towards the characters that matter, and mutations of a valid ledger. */
Test(ledger, random_bytes_never_crash) {
  const char alphabet[] = "\t\t\t\n\n\\\\.0123456789abcdef-#started done failed\r";
  srand(12345);
  size_t cap = 1 << 14;
  char *buf = malloc(cap);
  long total_entries = 0;
  for (int iter = 0; iter < 3000; iter++) {
    size_t n = (size_t)rand() % cap;
    int mode = iter % 3;
    for (size_t i = 0; i < n; i++)
      buf[i] = mode == 0 ? (char)(rand() & 0xff) : alphabet[(size_t)rand() % (sizeof alphabet - 1)];
    if (mode == 2) { /* a valid ledger with a few bytes flipped */
      size_t o = 0;
      for (int k = 0; o + 200 < cap && k < 60; k++)
        o += (size_t)snprintf(buf + o, cap - o, "%d.%03d\t%s\trun-%d\t%016x\t%d\t%d\tmsg \\t%d\n", 1000 + k, k,
                              k % 3 ? "started" : "done", k % 7, k % 5, k, 100 + k % 3, k);
      n = o;
      for (int k = 0; k < 5 && n; k++) buf[(size_t)rand() % n] = (char)(rand() & 0xff);
    }
    gs_ledger_view v;
    gs_error err = {0};
    if (gs_ledger_parse(buf, n, &v, &err) == 0) {
      cr_assert_leq(v.nentries + v.nbad, v.nlines);
      for (long i = 0; i < v.n; i++) {
        cr_assert_lt(strlen(v.last[i].run_id), sizeof v.last[i].run_id);
        cr_assert_eq(gs_ledger_lookup(&v, v.last[i].run_id, v.last[i].hash), i);
      }
      total_entries += v.nentries;
      gs_ledger_view_free(&v);
    }
  }
  cr_assert_gt(total_entries, 1000, "the mutated ledgers should still yield entries");
  free(buf);
}

/* ------------------------------------------------------------------ concurrency */

/* nproc processes open the same (not yet existing) ledger at once and append nline lines each,
 * with messages of up to ~3,500 bytes, so that lines cross page boundaries. */
static void concurrent_round(const char *dir, int nproc, int nline) {
  int gate[2];
  cr_assert_eq(pipe(gate), 0);
  pid_t pids[16];
  for (int p = 0; p < nproc; p++) {
    pids[p] = fork();
    cr_assert_geq(pids[p], 0);
    if (pids[p] == 0) {
      close(gate[1]);
      char c;
      if (read(gate[0], &c, 1) < 0) _exit(3); /* wait until every child exists */
      gs_ledger l;
      gs_error err = {0};
      if (gs_ledger_open(dir, &l, &err) != 0) {
        fprintf(stderr, "child %d: %s\n", p, err.msg);
        _exit(1);
      }
      char id[64], msg[4000];
      for (int i = 0; i < nline; i++) {
        snprintf(id, sizeof id, "p%d-run%d", p, i);
        size_t len = (size_t)((i * 997 + p * 131) % 3500);
        for (size_t k = 0; k < len; k++) msg[k] = (char)('a' + (k + (size_t)i) % 26);
        msg[len] = 0;
        if (gs_ledger_append(&l, i % 2 ? "checkpointed" : "started", id, (uint64_t)(p * 100000 + i), i, msg, &err)) {
          fprintf(stderr, "child %d: %s\n", p, err.msg);
          _exit(2);
        }
      }
      gs_ledger_close(&l);
      _exit(0);
    }
  }
  close(gate[0]);
  close(gate[1]); /* opens the gate */
  for (int p = 0; p < nproc; p++) {
    int status;
    cr_assert_eq(waitpid(pids[p], &status, 0), pids[p]);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed (status %d)", p, status);
  }
}

Test(ledger, concurrent_appenders, .timeout = 120) {
  char *dir = tmpdir();
  const int nproc = 4, nline = 500;
  double t0 = wall();
  concurrent_round(dir, nproc, nline);
  double dt = wall() - t0;
  fprintf(stderr, "[ledger] %d processes x %d lines (open race + write + fsync): %.3f s\n", nproc, nline, dt);

  size_t len;
  char *text = slurp(ledger_path(dir), &len);
  cr_assert_eq(count_lines_starting(text, "#"), 1, "exactly one header");
  cr_assert_eq(strncmp(text, GS_LEDGER_HEADER "\n", strlen(GS_LEDGER_HEADER) + 1), 0, "header first");
  free(text);

  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.nbad, 0, "%ld damaged lines", v.nbad);
  cr_assert_eq(v.nlines, nproc * nline + 1);
  cr_assert_eq(v.nentries, nproc * nline);
  cr_assert_eq(v.n, nproc * nline);
  for (int p = 0; p < nproc; p++) {
    long prev_line = 0;
    for (int i = 0; i < nline; i++) {
      char id[64];
      snprintf(id, sizeof id, "p%d-run%d", p, i);
      const gs_ledger_entry *e = gs_ledger_find(&v, id, (uint64_t)(p * 100000 + i));
      cr_assert(e, "lost line %s", id);
      cr_assert_eq(e->epoch, i);
      cr_assert_str_eq(e->state, i % 2 ? "checkpointed" : "started");
      size_t want = (size_t)((i * 997 + p * 131) % 3500);
      size_t ml = strlen(e->message);
      cr_assert_eq(ml, want < sizeof e->message ? want : sizeof e->message - 1);
      for (size_t k = 0; k < ml; k++) cr_assert_eq(e->message[k], (char)('a' + (k + (size_t)i) % 26));
      cr_assert_gt(e->line, prev_line, "one process's lines stay in order");
      prev_line = e->line;
    }
  }
  gs_ledger_view_free(&v);
  rmtree(dir);
  free(dir);

  /* the creation race, many times: always exactly one header */
  for (int round = 0; round < 20; round++) {
    dir = tmpdir();
    concurrent_round(dir, 8, 2);
    text = slurp(ledger_path(dir), &len);
    cr_assert_eq(count_lines_starting(text, "#"), 1, "round %d: %ld headers", round, count_lines_starting(text, "#"));
    cr_assert_eq(strncmp(text, GS_LEDGER_HEADER "\n", strlen(GS_LEDGER_HEADER) + 1), 0);
    cr_assert_eq(count_lines_starting(text, ""), 17, "round %d: %ld lines:\n%s", round, count_lines_starting(text, ""), text);
    free(text);
    char leftover[1300];
    snprintf(leftover, sizeof leftover, "ls -A '%s' | grep -v '^ledger.log$' | grep -q .", dir);
    cr_assert_neq(system(leftover), 0, "temporary files left in %s", dir);
    rmtree(dir);
    free(dir);
  }
}

/* ------------------------------------------------------------------ speed */

/* A guard against quadratic reading, not a benchmark: reading 100,000 lines takes 0.2-0.9 s on an
 * idle 2-core machine and 1.3 s with the rest of the suite running beside it (it failed a 1 s limit
 * that way); a quadratic table over 100,000 distinct runs would take minutes. Sanitizers slow
 * everything down. */
#if defined(__SANITIZE_ADDRESS__)
#define READ_LIMIT 15.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define READ_LIMIT 15.0
#endif
#endif
#ifndef READ_LIMIT
#define READ_LIMIT 5.0
#endif

static double time_read(const char *dir, gs_ledger_view *v) {
  double t0 = wall();
  read_ok(dir, v);
  return wall() - t0;
}

Test(ledger, hundred_thousand_lines, .timeout = 120) {
  char *dir = tmpdir();
  const long nlines = 100000, nruns = 10000;
  FILE *f = fopen(ledger_path(dir), "wb");
  cr_assert(f);
  fprintf(f, "%s\n", GS_LEDGER_HEADER);
  const char *states[] = {"queued", "started", "checkpointed", "checkpointed", "checkpointed",
                          "checkpointed", "checkpointed", "checkpointed", "checkpointed", "done"};
  for (long i = 0; i < nlines; i++) {
    long r = i % nruns, k = i / nruns;
    fprintf(f, "%ld.%03ld\t%s\tbig-sweep-vae_latent_dim-%ld_seed-%ld\t%016" PRIx64 "\t%ld\t%d\tepoch %ld loss 123.45\n",
            1700000000L + i, i % 1000, states[k], r % 100, r / 100, (uint64_t)(r * 2654435761ULL), k, 1000 + (int)(r % 8),
            k);
  }
  fclose(f);
  gs_ledger_view v;
  double dt = time_read(dir, &v);
  fprintf(stderr, "[ledger] read %ld lines, %ld runs: %.3f s\n", v.nlines, v.n, dt);
  cr_assert_eq(v.nlines, nlines + 1);
  cr_assert_eq(v.nbad, 0);
  cr_assert_eq(v.n, nruns);
  for (long r = 0; r < nruns; r += 997) {
    char id[128];
    snprintf(id, sizeof id, "big-sweep-vae_latent_dim-%ld_seed-%ld", r % 100, r / 100);
    const gs_ledger_entry *e = gs_ledger_find(&v, id, (uint64_t)(r * 2654435761ULL));
    cr_assert(e, "%s", id);
    cr_assert_str_eq(e->state, "done");
    cr_assert_eq(e->epoch, 9);
  }
  gs_ledger_view_free(&v);
  cr_assert_lt(dt, READ_LIMIT, "100,000 lines took %.3f s", dt);

  /* worst case for the table: every line a different run */
  f = fopen(ledger_path(dir), "wb");
  fprintf(f, "%s\n", GS_LEDGER_HEADER);
  for (long i = 0; i < nlines; i++)
    fprintf(f, "%ld.000\tqueued\trun-%ld\t%016lx\t0\t1\t\n", 1700000000L + i, i, (unsigned long)i);
  fclose(f);
  dt = time_read(dir, &v);
  fprintf(stderr, "[ledger] read %ld lines, %ld distinct runs: %.3f s\n", v.nlines, v.n, dt);
  cr_assert_eq(v.n, nlines);
  cr_assert(gs_ledger_find(&v, "run-99999", 99999));
  gs_ledger_view_free(&v);
  cr_assert_lt(dt, READ_LIMIT, "100,000 distinct runs took %.3f s", dt);
  rmtree(dir);
  free(dir);
}

/* ------------------------------------------------------------------ status */

static const char *small_experiment =
    "[sweep]\n"
    "name = tiny\n"
    "[data]\n"
    "train_size = 100\n"
    "test_size = 100\n"
    "[train]\n"
    "epochs = 3\n"
    "batch_size = 10\n"
    "[grid]\n"
    "model.latent_dim = 2, 4, 8, 16\n";

static void write_file(const char *dir, const char *name, const char *text) {
  char p[1200];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  cr_assert(f);
  fputs(text, f);
  fclose(f);
}

static void load_small(const char *dir, gs_sweep *sw) {
  write_file(dir, "experiment.ini", small_experiment);
  char p[1200];
  snprintf(p, sizeof p, "%s/experiment.ini", dir);
  gs_error err = {0};
  cr_assert_eq(gs_sweep_load(p, gs_models_vocabulary(), sw, &err), 0, "%s", err.msg);
  cr_assert_eq(sw->nruns, 4);
}

/* want: 0 all files whole, 1 some file corrupt */
static char *status_text_rc(const char *dir, int want) {
  char *buf = NULL;
  size_t n = 0;
  FILE *out = open_memstream(&buf, &n);
  gs_error err = {0};
  cr_assert_eq(gs_status_print(dir, out, &err), want, "status: %s", err.msg);
  fclose(out);
  fprintf(stderr, "---- status %s\n%s----\n", dir, buf);
  return buf;
}

static char *status_text(const char *dir) { return status_text_rc(dir, 0); }

#define HAS(text, s) cr_assert(strstr((text), (s)), "status output lacks \"%s\":\n%s", (s), (text))

/* The ETA (runner/eta.h) weighs runs by their estimated cost, gs_run_cost: here the latent
 * dimension (2, 4, 8, 16) makes the later runs of small_experiment a little costlier. Where the
 * data set's sizes cannot be read no cost is known and every run weighs 1. */
static void run_costs(const gs_sweep *sw, double *c) {
  int known = 1;
  for (long i = 0; i < sw->nruns; i++) known &= (c[i] = gs_run_cost(&sw->runs[i])) > 0;
  for (long i = 0; i < sw->nruns && !known; i++) c[i] = 1;
  for (long i = 1; i < sw->nruns; i++) cr_assert_geq(c[i], c[i - 1]); /* as the comments below say */
}

Test(status, small_sweep_counts) {
  char *dir = tmpdir();
  gs_sweep sw;
  load_small(dir, &sw);
  gs_ledger l;
  gs_error err = {0};
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  for (int r = 0; r < 4; r++) append_ok(&l, "queued", sw.runs[r].id, sw.runs[r].hash, 0, NULL);
  append_ok(&l, "started", sw.runs[0].id, sw.runs[0].hash, 0, NULL);
  append_ok(&l, "started", sw.runs[1].id, sw.runs[1].hash, 0, NULL);
  append_ok(&l, "started", sw.runs[2].id, sw.runs[2].hash, 0, NULL);
  append_ok(&l, "done", sw.runs[0].id, sw.runs[0].hash, 3, NULL);
  append_ok(&l, "checkpointed", sw.runs[1].id, sw.runs[1].hash, 2, NULL);
  append_ok(&l, "failed", sw.runs[2].id, sw.runs[2].hash, -1, "cannot read the data: boom");
  gs_ledger_close(&l);

  char *t = status_text(dir);
  HAS(t, "sweep:    tiny");
  HAS(t, "4 total: 1 done, 1 running, 1 failed, 0 interrupted, 1 pending");
  HAS(t, "elapsed:");
  HAS(t, "eta:");
  HAS(t, "done:     1 of 4 runs");
  /* one line per running / failed run, with epoch and message */
  char want[512];
  snprintf(want, sizeof want, "running      %s", sw.runs[1].id);
  HAS(t, want);
  snprintf(want, sizeof want, "failed       %s", sw.runs[2].id);
  HAS(t, want);
  HAS(t, "epoch 2");
  HAS(t, "cannot read the data: boom");
  cr_assert_null(strstr(t, sw.runs[0].id), "done runs are not listed one by one:\n%s", t);
  cr_assert_null(strstr(t, sw.runs[3].id), "pending runs are not listed one by one:\n%s", t);
  cr_assert_null(strstr(t, "stale"));
  cr_assert_null(strstr(t, "missing"));
  cr_assert_null(strstr(t, "run file"));
  free(t);

  /* a pending run whose run file exists (done before the ledger existed, or skipped) is pointed out */
  char sub[1200];
  snprintf(sub, sizeof sub, "%s/runs", dir);
  mkdir(sub, 0777);
  snprintf(sub, sizeof sub, "runs/%s.h5", sw.runs[3].id);
  write_file(dir, sub, "");
  t = status_text_rc(dir, 1); /* an empty run file is a corrupt one, and said so */
  HAS(t, "1 pending");
  HAS(t, "1 pending run has a run file");
  HAS(t, "run file: ");
  HAS(t, "not a readable HDF5 file (empty file)");
  HAS(t, "files:    1 of 1 checked file corrupt: 1 run file, 0 checkpoints");
  free(t);

  gs_ledger_view v;
  read_ok(dir, &v);
  gs_status st;
  gs_status_compute(&sw, &v, v.last_time + 10, &st);
  cr_assert_eq(st.total, 4);
  cr_assert_eq(st.done, 1);
  cr_assert_eq(st.running, 1);
  cr_assert_eq(st.failed, 1);
  cr_assert_eq(st.interrupted, 0);
  cr_assert_eq(st.pending, 1);
  cr_assert_eq(st.stale, 0);
  cr_assert_eq(st.orphans, 0);
  cr_assert_eq(st.parallel, 1);
  cr_assert_geq(st.eta, 0);
  gs_ledger_view_free(&v);
  gs_sweep_free(&sw);
  rmtree(dir);
  free(dir);
}

Test(status, changed_parameters_count_as_pending) {
  char *dir = tmpdir();
  gs_sweep sw;
  load_small(dir, &sw);
  gs_ledger l;
  gs_error err = {0};
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  /* every run done, but runs 1 and 3 under other parameters; plus a run no longer in the grid */
  for (int r = 0; r < 4; r++) {
    uint64_t h = (r == 1 || r == 3) ? sw.runs[r].hash ^ 0x5a5a : sw.runs[r].hash;
    append_ok(&l, "started", sw.runs[r].id, h, 0, NULL);
    append_ok(&l, "done", sw.runs[r].id, h, 3, NULL);
  }
  append_ok(&l, "done", "tiny-latent_dim-32", 77, 3, NULL);
  gs_ledger_close(&l);

  char *t = status_text(dir);
  HAS(t, "4 total: 2 done, 0 running, 0 failed, 0 interrupted, 2 pending (2 stale");
  char want[512];
  snprintf(want, sizeof want, "stale        %s", sw.runs[1].id);
  HAS(t, want);
  snprintf(want, sizeof want, "stale        %s", sw.runs[3].id);
  HAS(t, want);
  HAS(t, "1 run in the ledger is not in the experiment");
  HAS(t, "done:     2 of 4 runs");
  free(t);

  gs_ledger_view v;
  read_ok(dir, &v);
  gs_status st;
  gs_status_compute(&sw, &v, v.last_time, &st);
  cr_assert_eq(st.pending, 2);
  cr_assert_eq(st.stale, 2);
  cr_assert_eq(st.done, 2);
  cr_assert_eq(st.orphans, 1);
  gs_ledger_view_free(&v);
  gs_sweep_free(&sw);
  rmtree(dir);
  free(dir);
}

Test(status, eta_from_done_runs) {
  char *dir = tmpdir();
  gs_sweep sw;
  load_small(dir, &sw);
  append_raw(dir, GS_LEDGER_HEADER "\n");
  const gs_run *r = sw.runs;
  raw_entry(dir, 1000, "started", r[0].id, r[0].hash, 0, "");
  raw_entry(dir, 1000, "started", r[1].id, r[1].hash, 0, "");
  raw_entry(dir, 1100, "done", r[0].id, r[0].hash, 3, "");  /* 100 s */
  raw_entry(dir, 1300, "done", r[1].id, r[1].hash, 3, "");  /* 300 s */
  gs_ledger_view v;
  read_ok(dir, &v);
  gs_status st;
  double c[4];
  run_costs(&sw, c);
  gs_status_compute(&sw, &v, 1400, &st);
  cr_assert_eq(st.done, 2);
  cr_assert_eq(st.pending, 2);
  cr_assert_float_eq(st.mean_done, 200.0, 1e-9);
  cr_assert_eq(st.parallel, 1);
  /* Was 200 s x 2 left / 1 = 400 s. Weighed by cost now (one estimator with the live line): the
   * done runs did c0 + c1 units in 100 + 300 s; the pending ones weigh c2 + c3, a little more
   * (latent 8 and 16 against 2 and 4): 400 (c2 + c3) / (c0 + c1), about 403 s (400 s if the
   * costs are unknown) */
  double rate = 400.0 / (c[0] + c[1]);
  cr_assert_float_eq(st.eta, (c[2] + c[3]) * rate, 1e-9, "eta %f", st.eta);
  cr_assert(st.eta >= 400 && st.eta < 410, "eta %f", st.eta);
  cr_assert_float_eq(st.elapsed, 400.0, 1e-9);
  cr_assert_float_eq(st.idle, 100.0, 1e-9);
  gs_ledger_view_free(&v);

  /* two running at once halve it */
  raw_entry(dir, 1400, "started", r[2].id, r[2].hash, 0, "");
  raw_entry(dir, 1400, "started", r[3].id, r[3].hash, 0, "");
  read_ok(dir, &v);
  gs_status_compute(&sw, &v, 1500, &st);
  cr_assert_eq(st.running, 2);
  cr_assert_eq(st.parallel, 2);
  /* Was 200 s x 2 left / 2 = 200 s, as if the running runs had not begun. Now, as on the live
   * line, a running run without a checkpointed epoch is its cost at the rate less the 100 s it
   * has run: c_i x rate - 100, about 101 and 102 s; the two share 2 slots, so the sweep ends with
   * the slower (latent 16): max((l2 + l3) / 2, l3) = l3 */
  double l2 = c[2] * rate - 100, l3 = c[3] * rate - 100;
  cr_assert_float_eq(st.eta, fmax((l2 + l3) / 2, l3), 1e-9, "eta %f", st.eta);
  cr_assert(st.eta >= 100 && st.eta < 105, "eta %f", st.eta);
  gs_ledger_view_free(&v);
  /* status itself asks the clock: these runs started in 1970, long past their ~200 s, so they
   * have nothing left by the estimate (never below 0) */
  char *t = status_text(dir);
  HAS(t, "eta:      ~0s (done runs took 3m20s on average; 2 left, weighed by estimated cost and progress, 2 running "
         "at once)");
  free(t);

  /* nothing done yet: unknown */
  unlink(ledger_path(dir));
  append_raw(dir, GS_LEDGER_HEADER "\n");
  raw_entry(dir, 1000, "started", r[0].id, r[0].hash, 0, "");
  read_ok(dir, &v);
  gs_status_compute(&sw, &v, 1500, &st);
  cr_assert_eq(st.eta, -1);
  gs_ledger_view_free(&v);
  t = status_text(dir);
  HAS(t, "eta:      unknown");
  free(t);
  gs_sweep_free(&sw);
  rmtree(dir);
  free(dir);
}

/* Before any run is done: the pace of the running runs' checkpointed epochs (3 epochs a run). */
Test(status, eta_from_checkpointed_epochs_before_any_run_is_done) {
  char *dir = tmpdir();
  gs_sweep sw;
  load_small(dir, &sw);
  append_raw(dir, GS_LEDGER_HEADER "\n");
  const gs_run *r = sw.runs;
  raw_entry(dir, 1000, "started", r[0].id, r[0].hash, 0, "");
  raw_entry(dir, 1000, "started", r[1].id, r[1].hash, 0, "");
  raw_entry(dir, 1004, "resumed", r[1].id, r[1].hash, 1, "");      /* r1 resumes after epoch 1 */
  raw_entry(dir, 1010, "checkpointed", r[0].id, r[0].hash, 1, "");
  raw_entry(dir, 1020, "checkpointed", r[0].id, r[0].hash, 2, ""); /* r0: 10 s an epoch */
  raw_entry(dir, 1024, "checkpointed", r[1].id, r[1].hash, 2, ""); /* r1: 20 s an epoch */
  gs_ledger_view v;
  read_ok(dir, &v);
  gs_status st;
  double c[4];
  run_costs(&sw, c);
  gs_status_compute(&sw, &v, 1025, &st);
  cr_assert_eq(st.done, 0);
  cr_assert_eq(st.running, 2);
  cr_assert_eq(st.paced, 2);
  /* Was the mean of the two whole-run estimates, (30 + 60) / 2 = 45 s. Now the rate pools both
   * runs' seconds over both runs' work, as the live line did: 20 s for 2 of r0's 3 epochs and
   * 20 s for 1 of r1's, (20 + 20) s / (c0 2/3 + c1 1/3) units; a whole run is that rate at
   * their mean cost, (c0 + c1) / 2: about 40 s (exactly 40 s with equal costs) */
  double rate = 40.0 / (c[0] * 2 / 3 + c[1] / 3);
  cr_assert_float_eq(st.mean_done, rate * (c[0] + c[1]) / 2, 1e-9, "whole-run estimate %f", st.mean_done);
  cr_assert(st.mean_done > 39 && st.mean_done < 41, "whole-run estimate %f", st.mean_done);
  /* r0: 10 s left minus 5 s since its checkpoint; r1: 20 - 1; the 2 pending at the rate (was
   * 2 x 45 = 90 s; now (c2 + c3) x rate, about 80 s); 2 at once, more than the slowest (19 s):
   * (5 + 19 + 80) / 2, about 52 s (was 57 s) */
  cr_assert_float_eq(st.eta, (5.0 + 19.0 + (c[2] + c[3]) * rate) / 2, 1e-9, "eta %f", st.eta);
  cr_assert(st.eta > 51 && st.eta < 53, "eta %f", st.eta);
  gs_ledger_view_free(&v);
  char *t = status_text(dir);
  HAS(t, "no run done yet: from the checkpointed epochs of 2 running runs");
  free(t);
  /* once a run is done, the done runs decide again */
  raw_entry(dir, 1030, "done", r[0].id, r[0].hash, 3, "");
  read_ok(dir, &v);
  gs_status_compute(&sw, &v, 1030, &st);
  cr_assert_eq(st.paced, 0);
  cr_assert_float_eq(st.mean_done, 30.0, 1e-9);
  gs_ledger_view_free(&v);
  gs_sweep_free(&sw);
  rmtree(dir);
  free(dir);
}

Test(status, interrupted_and_notes) {
  char *dir = tmpdir();
  gs_sweep sw;
  load_small(dir, &sw);
  gs_ledger l;
  gs_error err = {0};
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  append_ok(&l, "started", sw.runs[0].id, sw.runs[0].hash, 0, NULL);
  append_ok(&l, "checkpointed", sw.runs[0].id, sw.runs[0].hash, 1, NULL);
  append_ok(&l, "interrupted", sw.runs[0].id, sw.runs[0].hash, -1, "stopped by a signal; checkpointed");
  append_ok(&l, "started", sw.runs[1].id, sw.runs[1].hash, 0, NULL);
  append_ok(&l, "checkpoint-failed", sw.runs[1].id, sw.runs[1].hash, 1, "no space left on device");
  append_ok(&l, "started", sw.runs[2].id, sw.runs[2].hash, 0, NULL);
  append_ok(&l, "diverged", sw.runs[2].id, sw.runs[2].hash, -1, "NaN loss at epoch 2");
  gs_ledger_close(&l);
  append_raw(dir, "17000\tgarbage");
  char *t = status_text(dir);
  HAS(t, "4 total: 0 done, 1 running, 1 failed, 1 interrupted, 1 pending");
  char want[512];
  snprintf(want, sizeof want, "interrupted  %s", sw.runs[0].id);
  HAS(t, want);
  HAS(t, "epoch 1");
  HAS(t, "stopped by a signal; checkpointed");
  HAS(t, "checkpoint-failed: no space left on device");
  snprintf(want, sizeof want, "diverged     %s", sw.runs[2].id);
  HAS(t, want);
  HAS(t, "NaN loss at epoch 2");
  HAS(t, "1 malformed or torn ledger line skipped");
  HAS(t, "eta:      unknown");
  free(t);
  gs_sweep_free(&sw);
  rmtree(dir);
  free(dir);
}

Test(status, without_the_experiment_copy) {
  char *dir = tmpdir();
  gs_ledger l;
  gs_error err = {0};
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  append_ok(&l, "queued", "a", 1, 0, NULL);
  append_ok(&l, "queued", "b", 1, 0, NULL);
  append_ok(&l, "queued", "c", 1, 0, NULL);
  append_ok(&l, "started", "a", 1, 0, NULL);
  append_ok(&l, "done", "a", 1, 3, NULL);
  append_ok(&l, "started", "b", 1, 0, NULL);
  append_ok(&l, "started", "c", 2, 0, "c under new parameters: only this hash counts");
  gs_ledger_close(&l);
  char *t = status_text(dir);
  HAS(t, "experiment copy");
  HAS(t, "missing");
  HAS(t, "3 total: 1 done, 2 running, 0 failed, 0 interrupted, 0 pending");
  HAS(t, "done:     1 of 3 runs");
  free(t);

  /* a directory with none of a sweep's files is not a sweep (it used to say "0 total") */
  char *empty = tmpdir();
  char *buf = NULL;
  size_t n = 0;
  FILE *mem = open_memstream(&buf, &n);
  memset(&err, 0, sizeof err);
  cr_assert_eq(gs_status_print(empty, mem, &err), -1);
  fclose(mem);
  free(buf);
  cr_assert(strstr(err.msg, "not a sweep directory"), "%s", err.msg);
  rmtree(empty);
  free(empty);

  /* not a directory */
  char nodir[1200];
  snprintf(nodir, sizeof nodir, "%s/nope", dir);
  FILE *out = fopen("/dev/null", "w");
  gs_error_clear(&err);
  cr_assert_neq(gs_status_print(nodir, out, &err), 0);
  cr_assert(strstr(err.msg, "nope"), "%s", err.msg);
  fclose(out);
  rmtree(dir);
  free(dir);
}

/* status only reads: it runs fine while another process appends */
Test(status, while_a_writer_appends, .timeout = 60) {
  char *dir = tmpdir();
  gs_sweep sw;
  load_small(dir, &sw);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    gs_ledger l;
    gs_error err = {0};
    if (gs_ledger_open(dir, &l, &err) != 0) _exit(1);
    for (int i = 0; i < 400; i++) {
      const gs_run *r = &sw.runs[i % 4];
      if (gs_ledger_append(&l, i % 8 < 4 ? "started" : "checkpointed", r->id, r->hash, i, "busy", &err)) _exit(2);
    }
    gs_ledger_close(&l);
    _exit(0);
  }
  FILE *out = fopen("/dev/null", "w");
  for (int k = 0; k < 50; k++) {
    gs_error err = {0};
    cr_assert_eq(gs_status_print(dir, out, &err), 0, "%s", err.msg);
    gs_ledger_view v;
    read_ok(dir, &v);
    cr_assert_leq(v.nbad, 1); /* at most a line being written right now */
    gs_ledger_view_free(&v);
  }
  fclose(out);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.nentries, 400);
  cr_assert_eq(v.nbad, 0);
  gs_ledger_view_free(&v);
  gs_sweep_free(&sw);
  rmtree(dir);
  free(dir);
}

/* gs_ledger_each: every well-formed line in file order (the scheduler's replay reads its lines
 * so), torn and garbage lines skipped, a non-zero return stops the walk. */
typedef struct each_ctx {
  int n, stop_at;
  char msgs[8][64];
  long lines[8];
} each_ctx;
static int each_fn(const gs_ledger_entry *e, void *ctx) {
  each_ctx *x = ctx;
  if (x->n < 8) {
    GS_STRCPY(x->msgs[x->n], e->message);
    x->lines[x->n] = e->line;
  }
  x->n++;
  return x->stop_at && x->n == x->stop_at ? 7 : 0;
}

Test(ledger, each_line_in_order) {
  char *dir = tmpdir();
  gs_error err = {0};
  each_ctx x = {0};
  cr_assert_eq(gs_ledger_each(dir, each_fn, &x, &err), 0, "%s", err.msg); /* no ledger: no lines */
  cr_assert_eq(x.n, 0);
  gs_ledger l;
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  append_ok(&l, "sched", "a", 1, 1, "start\t0\t0\t0\t1\t-\ta");
  append_ok(&l, "started", "a", 1, 0, NULL);
  gs_ledger_close(&l);
  append_raw(dir, "garbage line\n");
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  append_ok(&l, "sched", "a", 1, 1, "report\t1\t0\t0\t1\t2.5\ta");
  gs_ledger_close(&l);
  append_raw(dir, "1.0\tsched\ta\t0000000000000001\t1\t1\ttorn");
  cr_assert_eq(gs_ledger_each(dir, each_fn, &x, &err), 0, "%s", err.msg);
  cr_assert_eq(x.n, 3, "3 well-formed lines, got %d", x.n);
  cr_assert_str_eq(x.msgs[0], "start\t0\t0\t0\t1\t-\ta"); /* the message unescaped */
  cr_assert_str_eq(x.msgs[1], "");
  cr_assert_str_eq(x.msgs[2], "report\t1\t0\t0\t1\t2.5\ta");
  cr_assert(x.lines[0] < x.lines[1] && x.lines[1] < x.lines[2]);
  each_ctx y = {.stop_at = 2};
  cr_assert_eq(gs_ledger_each(dir, each_fn, &y, &err), 7);
  cr_assert_eq(y.n, 2);
  rmtree(dir);
  free(dir);
}

/* gs_ledger_each_new: only what was appended since the cursor, a line being written read whole
 * the next time, line numbers as in the file; a file shorter than the cursor is refused. */
Test(ledger, each_new_reads_what_was_appended) {
  char *dir = tmpdir();
  gs_error err = {0};
  gs_ledger_cursor cur = {0};
  each_ctx x = {0};
  cr_assert_eq(gs_ledger_each_new(dir, &cur, each_fn, &x, &err), 0, "%s", err.msg); /* no ledger yet */
  cr_assert_eq(x.n, 0);
  gs_ledger l;
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  append_ok(&l, "sched", "a", 1, 1, "one");
  append_ok(&l, "sched", "a", 1, 1, "two");
  cr_assert_eq(gs_ledger_each_new(dir, &cur, each_fn, &x, &err), 0, "%s", err.msg);
  cr_assert_eq(x.n, 2);
  cr_assert_str_eq(x.msgs[1], "two");
  cr_assert_eq(x.lines[1], 3, "the header is line 1: %ld", x.lines[1]);
  cr_assert_eq(gs_ledger_each_new(dir, &cur, each_fn, &x, &err), 0, "%s", err.msg);
  cr_assert_eq(x.n, 2, "nothing new");
  append_ok(&l, "sched", "a", 1, 1, "three");
  gs_ledger_close(&l);
  append_raw(dir, "1.0\tsched\ta\t0000000000000001\t1\t1\tfou");
  cr_assert_eq(gs_ledger_each_new(dir, &cur, each_fn, &x, &err), 0, "%s", err.msg);
  cr_assert_eq(x.n, 3, "the line being written is not read yet");
  cr_assert_str_eq(x.msgs[2], "three");
  append_raw(dir, "r\n");
  cr_assert_eq(gs_ledger_each_new(dir, &cur, each_fn, &x, &err), 0, "%s", err.msg);
  cr_assert_eq(x.n, 4);
  cr_assert_str_eq(x.msgs[3], "four");
  cr_assert_eq(x.lines[3], 5);
  /* a stop leaves the cursor where it was */
  append_raw(dir, "2.0\tsched\ta\t0000000000000001\t1\t1\tfive\n");
  gs_ledger_cursor before = cur;
  each_ctx y = {.stop_at = 1};
  cr_assert_eq(gs_ledger_each_new(dir, &cur, each_fn, &y, &err), 7);
  cr_assert(cur.offset == before.offset && cur.line == before.line);
  /* the ledger replaced by a shorter one */
  FILE *f = fopen(ledger_path(dir), "wb");
  fputs("#gensweep-ledger v1\n", f);
  fclose(f);
  cr_assert_eq(gs_ledger_each_new(dir, &cur, each_fn, &x, &err), -1);
  cr_assert_not_null(strstr(err.msg, "it was replaced"), "%s", err.msg);
  /* and by another file, longer than what was read */
  gs_ledger_cursor c2 = {0};
  each_ctx z = {0};
  cr_assert_eq(gs_ledger_each_new(dir, &c2, each_fn, &z, &err), 0, "%s", err.msg);
  char other[1200];
  snprintf(other, sizeof other, "%s/other.log", dir);
  f = fopen(other, "wb");
  fputs("#gensweep-ledger v1\n", f);
  for (int i = 0; i < 20; i++) fputs("3.0\tsched\ta\t0000000000000001\t1\t1\tsix\n", f);
  fclose(f);
  cr_assert_eq(rename(other, ledger_path(dir)), 0);
  cr_assert_eq(gs_ledger_each_new(dir, &c2, each_fn, &z, &err), -1);
  cr_assert_not_null(strstr(err.msg, "the ledger was replaced"), "%s", err.msg);
  rmtree(dir);
  free(dir);
}

/* gs_ledger_hold / release: the held lines reach the file together, in order, only on release
 * (or close); without a hold every append is in the file at once. */
Test(ledger, held_lines_are_written_together) {
  char *dir = tmpdir();
  gs_error err = {0};
  gs_ledger l;
  cr_assert_eq(gs_ledger_open(dir, &l, &err), 0, "%s", err.msg);
  append_ok(&l, "started", "a", 1, 0, NULL);
  gs_ledger_hold(&l);
  append_ok(&l, "sched", "a", 1, 1, "report 1");
  append_ok(&l, "sched", "b", 2, 1, "stop 2");
  gs_ledger_view v;
  read_ok(dir, &v);
  cr_assert_eq(v.nentries, 1, "held lines were written before the release");
  gs_ledger_view_free(&v);
  cr_assert_eq(gs_ledger_release(&l, &err), 0, "%s", err.msg);
  read_ok(dir, &v);
  cr_assert_eq(v.nentries, 3);
  cr_assert_str_eq(gs_ledger_find(&v, "b", 2)->message, "stop 2");
  gs_ledger_view_free(&v);
  /* more held lines than one write takes: the earlier ones go first, all arrive, in order */
  gs_ledger_hold(&l);
  char msg[600];
  memset(msg, 'x', sizeof msg - 1);
  msg[sizeof msg - 1] = 0;
  for (int i = 0; i < 20; i++) append_ok(&l, "note", "c", 3, i, msg);
  gs_ledger_close(&l); /* releases */
  read_ok(dir, &v);
  cr_assert_eq(v.nentries, 23);
  cr_assert_eq(v.nbad, 0);
  cr_assert_eq(gs_ledger_find(&v, "c", 3)->epoch, 19);
  gs_ledger_view_free(&v);
  rmtree(dir);
  free(dir);
}
