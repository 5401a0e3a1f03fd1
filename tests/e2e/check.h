/* The checking of the e2e checker programs (check_sweep, check_gan): CHECK(cond, fmt, ...)
 * prints FAIL with the message and counts it in `fails`; a program exits 1 when fails > 0. */
#ifndef GS_E2E_CHECK_H
#define GS_E2E_CHECK_H
#include <stdio.h>

static int fails;
#define CHECK(c, ...)                        \
  do {                                       \
    if (!(c)) {                              \
      fprintf(stderr, "FAIL: " __VA_ARGS__); \
      fprintf(stderr, "\n");                 \
      fails++;                               \
    }                                        \
  } while (0)

#endif
