/* Replays files through a fuzz target's LLVMFuzzerTestOneInput, built with the normal compiler
 * and flags (and the sanitizers with GS_SANITIZE=ON): ctest runs every committed corpus and
 * regression input this way. Arguments: files or directories (every regular file in them). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long nfiles;

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: %s: cannot open\n", path);
    return 1;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (n == cap) buf = realloc(buf, cap *= 2);
    size_t r = fread(buf + n, 1, cap - n, f);
    if (r == 0) break;
    n += r;
  }
  fclose(f);
  /* a copy of exactly n bytes, so that ASan catches reads past the end as libFuzzer does */
  uint8_t *exact = malloc(n ? n : 1);
  memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  nfiles++;
  return 0;
}

static int compare(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int replay(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: %s: missing\n", path);
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) return replay_file(path);
  DIR *d = opendir(path);
  if (!d) return 1;
  char **names = NULL;
  size_t nn = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    names = realloc(names, (nn + 1) * sizeof *names);
    size_t l = strlen(path) + strlen(e->d_name) + 2;
    names[nn] = malloc(l);
    snprintf(names[nn++], l, "%s/%s", path, e->d_name);
  }
  closedir(d);
  if (nn) qsort(names, nn, sizeof *names, compare);
  int rc = 0;
  for (size_t i = 0; i < nn; i++) {
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) rc |= replay_file(names[i]);
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  int rc = 0;
  for (int i = 1; i < argc; i++) rc |= replay(argv[i]);
  printf("replayed %ld input%s\n", nfiles, nfiles == 1 ? "" : "s");
  return rc;
}
