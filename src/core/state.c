/* Named, typed arrays of a model's state. See include/gensweep/core/state.h. */
#include "gensweep/core/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t gs_state_elem_size(gs_state_type type) { return type == GS_STATE_U8 ? 1 : 8; }

int gs_state_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n >= GS_STATE_NAME) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
      return 0;
  }
  return 1;
}

void gs_state_put(gs_state *s, const char *name, gs_state_type type, const void *data, long n) {
  if (!gs_state_name_ok(name) || n < 0 || (type != GS_STATE_F64 && type != GS_STATE_I64 && type != GS_STATE_U8)) {
    fprintf(stderr, "gensweep: internal error: model state array '%s' (type %d, %ld elements)\n", name, (int)type, n);
    abort();
  }
  int i = 0;
  while (i < s->n && strcmp(s->a[i].name, name) != 0) i++;
  if (i == s->n) {
    if (s->n == GS_STATE_MAX) {
      fprintf(stderr, "gensweep: internal error: more than %d model state arrays (at '%s')\n", GS_STATE_MAX, name);
      abort();
    }
    s->n++;
  } else {
    free(s->a[i].data);
  }
  gs_state_array *a = &s->a[i];
  GS_STRCPY(a->name, name);
  a->type = type;
  a->n = n;
  size_t bytes = gs_state_elem_size(type) * (size_t)n;
  a->data = gs_malloc(bytes ? bytes : 1);
  if (bytes) memcpy(a->data, data, bytes);
}

const void *gs_state_get(const gs_state *s, const char *name, gs_state_type type, long *n) {
  for (int i = 0; s && i < s->n; i++) {
    if (strcmp(s->a[i].name, name) != 0) continue;
    if (s->a[i].type != type) return NULL;
    if (n) *n = s->a[i].n;
    return s->a[i].data;
  }
  return NULL;
}

const void *gs_state_need(const gs_state *s, const char *name, gs_state_type type, long n, long *got, gs_error *err) {
  static const char *const type_names[] = {"float64", "int64", "uint8"};
  long have = 0;
  const void *p = gs_state_get(s, name, type, &have);
  if (!p) {
    gs_fail(err, "model state: no %s array '%s'", type_names[type], name);
    return NULL;
  }
  if (n >= 0 && have != n) {
    gs_fail(err, "model state: '%s' has %ld values, expected %ld", name, have, n);
    return NULL;
  }
  if (got) *got = have;
  return p;
}

void gs_state_free(gs_state *s) {
  for (int i = 0; i < s->n; i++) free(s->a[i].data);
  memset(s, 0, sizeof *s);
}
