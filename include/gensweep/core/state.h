/* Named, typed arrays: the state a model keeps outside its parameters (a mixture, the stage it
 * is in, what a stage found), as it goes into checkpoints (/model_state/<name>) and back. Names
 * say what each array is, so a checkpoint reads in h5dump and a layout change is a missing or
 * misshapen array with its name, not a misread offset in one long vector. */
#ifndef GENSWEEP_STATE_H
#define GENSWEEP_STATE_H
#include <stdint.h>

#include "gensweep/core/common.h"

typedef enum { GS_STATE_F64 = 0, GS_STATE_I64 = 1, GS_STATE_U8 = 2 } gs_state_type;

#define GS_STATE_MAX 64
#define GS_STATE_NAME 48

typedef struct gs_state_array {
  char name[GS_STATE_NAME]; /* letters, digits, '_', '.' */
  gs_state_type type;
  long n;                   /* elements */
  void *data;               /* n elements of the type, owned by the state */
} gs_state_array;

typedef struct gs_state {
  int n;
  gs_state_array a[GS_STATE_MAX];
} gs_state;

/* Append a copy of n elements under name (replacing an array of that name). Too many arrays or
 * a bad name is a programming error: it aborts with the name. */
void gs_state_put(gs_state *s, const char *name, gs_state_type type, const void *data, long n);
static inline void gs_state_put_f64(gs_state *s, const char *name, const double *x, long n) {
  gs_state_put(s, name, GS_STATE_F64, x, n);
}
static inline void gs_state_put_i64(gs_state *s, const char *name, const int64_t *x, long n) {
  gs_state_put(s, name, GS_STATE_I64, x, n);
}
/* The array called name if it has this type, else NULL; *n (may be NULL) gets its length. */
const void *gs_state_get(const gs_state *s, const char *name, gs_state_type type, long *n);
/* Like gs_state_get, but the array must exist with exactly n elements (n < 0: any length, then
 * stored in *got); otherwise NULL and err names the array and what is wrong. */
const void *gs_state_need(const gs_state *s, const char *name, gs_state_type type, long n, long *got, gs_error *err);
/* 1 if the name is acceptable (non-empty, shorter than GS_STATE_NAME, [A-Za-z0-9_.]). */
int gs_state_name_ok(const char *name);
/* Bytes of one element. */
size_t gs_state_elem_size(gs_state_type type);
void gs_state_free(gs_state *s);

#endif
