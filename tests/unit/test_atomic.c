/* Atomic file writing (core/atomic.h): begin / write the temporary file / commit or abort, and
 * gs_atomic_write for a whole buffer. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gensweep/core/atomic.h"

#define TEST_TMP_NAME "gs_test_atomic"
#include "testutil.h"

static char tmpdir[256];

static void setup(void) { make_tmpdir(tmpdir, sizeof tmpdir); }
static void teardown(void) {
  if (tmpdir[0]) rm_rf(tmpdir);
}

TestSuite(atomic, .init = setup, .fini = teardown);

static const char *tpath(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", tmpdir, name);
  return buf;
}

/* the whole file, NUL-terminated; NULL if it cannot be opened */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += r;
    if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

static void assert_content(const char *path, const char *want) {
  size_t n;
  char *got = slurp(path, &n);
  cr_assert_not_null(got, "%s: missing", path);
  cr_assert_eq(n, strlen(want), "%s: %zu bytes, want %zu", path, n, strlen(want));
  cr_assert_str_eq(got, want);
  free(got);
}

Test(atomic, tmp_name) {
  char *t = gs_atomic_tmp_name("/a/b/run.h5");
  cr_assert_str_eq(t, "/a/b/run.h5.tmp");
  free(t);
}

Test(atomic, commit_puts_the_content_in_place) {
  char path[300], tmp[310];
  tpath(path, sizeof path, "out.txt");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  gs_error err = {0};
  gs_atomic a;
  cr_assert_eq(gs_atomic_begin(&a, path, &err), 0, "%s", err.msg);
  cr_assert_str_eq(a.path, path);
  cr_assert_str_eq(a.tmp, tmp);
  cr_assert(exists(tmp), "begin creates the temporary file");
  cr_assert(!exists(path), "nothing at the final name before the commit");
  FILE *f = fopen(a.tmp, "wb"); /* the writer writes through its own library, here stdio */
  cr_assert_not_null(f);
  fputs("hello, atomic\n", f);
  cr_assert_eq(fclose(f), 0);
  cr_assert(!exists(path));
  cr_assert_eq(gs_atomic_commit(&a, &err), 0, "%s", err.msg);
  cr_assert_null(a.tmp, "commit releases the handle");
  assert_content(path, "hello, atomic\n");
  cr_assert(!exists(tmp), "temporary file left behind");
}

Test(atomic, write_whole_buffer) {
  char path[300], tmp[310];
  tpath(path, sizeof path, "buf.bin");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  gs_error err = {0};
  cr_assert_eq(gs_atomic_write(path, "abc\0def", 7, &err), 0, "%s", err.msg);
  cr_assert_eq(file_size(path), 7);
  cr_assert(!exists(tmp));
  /* an empty file is a file too */
  cr_assert_eq(gs_atomic_write(path, "", 0, &err), 0, "%s", err.msg);
  cr_assert(exists(path));
  cr_assert_eq(file_size(path), 0);
  cr_assert(!exists(tmp));
}

Test(atomic, abort_leaves_nothing) {
  char path[300], tmp[310];
  tpath(path, sizeof path, "never.txt");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  gs_error err = {0};
  gs_atomic a;
  cr_assert_eq(gs_atomic_begin(&a, path, &err), 0, "%s", err.msg);
  write_bytes(a.tmp, "half", 4);
  gs_atomic_abort(&a);
  cr_assert_null(a.tmp, "abort releases the handle");
  cr_assert(!exists(path), "abort left the final file");
  cr_assert(!exists(tmp), "abort left the temporary file");

  /* abort of a write that replaces a file: the old file is untouched */
  write_bytes(path, "old content", 11);
  cr_assert_eq(gs_atomic_begin(&a, path, &err), 0, "%s", err.msg);
  write_bytes(a.tmp, "new", 3);
  gs_atomic_abort(&a);
  assert_content(path, "old content");
  cr_assert(!exists(tmp));
}

Test(atomic, missing_directory_fails_naming_the_path) {
  char path[300], tmp[310];
  tpath(path, sizeof path, "no/such/dir/out.txt");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  gs_error err = {0};
  gs_atomic a;
  cr_assert_eq(gs_atomic_begin(&a, path, &err), -1);
  cr_assert(strstr(err.msg, path) != NULL, "message does not name the path: %s", err.msg);
  cr_assert(strstr(err.msg, "No such file") != NULL, "message does not say why: %s", err.msg);
  cr_assert_null(a.tmp, "a failed begin leaves nothing to release");

  gs_error_clear(&err);
  cr_assert_eq(gs_atomic_write(path, "x", 1, &err), -1);
  cr_assert(strstr(err.msg, path) != NULL, "message does not name the path: %s", err.msg);
  cr_assert(strstr(err.msg, "No such file") != NULL, "message does not say why: %s", err.msg);
  cr_assert(!exists(path));
  cr_assert(!exists(tmp));

  /* the directory goes away between begin and commit: the commit fails, naming the file */
  char sub[280];
  tpath(sub, sizeof sub, "gone");
  cr_assert_eq(mkdir(sub, 0755), 0);
  snprintf(path, sizeof path, "%s/out.txt", sub);
  cr_assert_eq(gs_atomic_begin(&a, path, &err), 0, "%s", err.msg);
  cr_assert_eq(unlink(a.tmp), 0);
  cr_assert_eq(rmdir(sub), 0);
  gs_error_clear(&err);
  cr_assert_eq(gs_atomic_commit(&a, &err), -1);
  cr_assert(strstr(err.msg, path) != NULL, "message does not name the path: %s", err.msg);
  cr_assert(!exists(path));
}

Test(atomic, failed_rename_removes_the_tmp) {
  char path[300], tmp[310];
  tpath(path, sizeof path, "adir");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  cr_assert_eq(mkdir(path, 0755), 0); /* a directory at the final name: rename(2) refuses */
  gs_error err = {0};
  gs_atomic a;
  cr_assert_eq(gs_atomic_begin(&a, path, &err), 0, "%s", err.msg);
  write_bytes(a.tmp, "content", 7);
  cr_assert_eq(gs_atomic_commit(&a, &err), -1);
  cr_assert(strstr(err.msg, path) && strstr(err.msg, "cannot rename"), "%s", err.msg);
  cr_assert(!exists(tmp), "a failed commit left the temporary file");
  struct stat st;
  cr_assert(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "the final name was touched");
}

Test(atomic, existing_file_is_replaced_whole) {
  char path[300], tmp[310], other[300];
  tpath(path, sizeof path, "data.txt");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  gs_error err = {0};
  /* a long file replaced by a short one: nothing of the old one remains */
  char big[5000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  cr_assert_eq(gs_atomic_write(path, big, strlen(big), &err), 0, "%s", err.msg);
  /* a second name for the old file (what the checkpoint's previous-checkpoint link is): the
   * commit renames over path, so the old file lives on unchanged under the other name */
  tpath(other, sizeof other, "data.prev.txt");
  cr_assert_eq(link(path, other), 0, "link: %s", strerror(errno));

  gs_atomic a;
  cr_assert_eq(gs_atomic_begin(&a, path, &err), 0, "%s", err.msg);
  write_bytes(a.tmp, "short", 5);
  assert_content(path, big); /* until the commit a reader sees the old file, whole */
  cr_assert_eq(gs_atomic_commit(&a, &err), 0, "%s", err.msg);
  assert_content(path, "short");
  assert_content(other, big);
  cr_assert(!exists(tmp));
}

Test(atomic, stale_tmp_does_not_get_in_the_way) {
  char path[300], tmp[310];
  tpath(path, sizeof path, "s.txt");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  write_bytes(tmp, "garbage from a crashed writer", 29);
  gs_error err = {0};
  cr_assert_eq(gs_atomic_write(path, "fresh", 5, &err), 0, "%s", err.msg);
  assert_content(path, "fresh");
  cr_assert(!exists(tmp));
}

Test(atomic, relative_path_in_the_current_directory) {
  cr_assert_eq(chdir(tmpdir), 0);
  gs_error err = {0};
  cr_assert_eq(gs_atomic_write("rel.txt", "here", 4, &err), 0, "%s", err.msg);
  char path[300];
  assert_content(tpath(path, sizeof path, "rel.txt"), "here");
  cr_assert(!exists(tpath(path, sizeof path, "rel.txt.tmp")));
}
