/* libFuzzer target: the IDX reader (plain and gzip) on arbitrary bytes. gs_idx_read takes a
 * path, so each input goes into one memfd that is read through /proc/self/fd/N: the reader runs
 * unchanged (stat, magic sniffing, gzopen) without touching the disk. Built by scripts/fuzz;
 * tests/fuzz/replay.c runs the same entry on the committed inputs. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gensweep/data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("fuzz_idx", 0);
    if (fd < 0) abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0) abort();
  size_t off = 0;
  while (off < size) {
    ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
    if (w <= 0) abort();
    off += (size_t)w;
  }
  gs_idx x;
  gs_error err;
  if (gs_idx_read(path, 0, &x, &err) == 0) {
    /* touch every byte the reader claims to have delivered */
    volatile uint8_t sum = 0;
    for (long i = 0; i < x.count * x.item_size; i++) sum ^= x.data[i];
    (void)sum;
    gs_idx_free(&x);
  }
  return 0;
}
