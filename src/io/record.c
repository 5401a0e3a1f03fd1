/* The in-memory record of one run: per-epoch series, final scalars, sample images.
 * See include/gensweep/io/record.h; the HDF5 files are written by runfile.c.
 *
 * The tables have fixed capacities (GS_MAX_SERIES ...). Exceeding one is a programming error in
 * a model (the names a model records are fixed), so it aborts like gs_params_declare does,
 * instead of silently dropping results. */
#include "gensweep/io/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void internal_error(const char *what, const char *name) {
  fprintf(stderr, "gensweep: internal error: %s (recording '%s')\n", what, name);
  abort();
}

void gs_record_init(gs_record *r, const char *run_id, const char *model, uint64_t config_hash) {
  memset(r, 0, sizeof *r);
  GS_STRCPY(r->run_id, run_id ? run_id : "");
  GS_STRCPY(r->model, model ? model : "");
  r->config_hash = config_hash;
  /* Until the runner says otherwise, a record is not a finished run. */
  GS_STRCPY(r->status, "failed");
  GS_STRCPY(r->message, "run did not finish");
}

void gs_record_free(gs_record *r) {
  for (int i = 0; i < r->nseries; i++) free(r->series[i].v);
  for (int i = 0; i < r->nimages; i++) free(r->images[i].pix);
  for (int i = 0; i < r->narrays; i++) free(r->arrays[i].v);
  r->nseries = r->nscalars = r->nimages = r->narrays = 0;
  memset(r->arrays, 0, sizeof r->arrays);
  memset(r->series, 0, sizeof r->series);
  memset(r->images, 0, sizeof r->images);
  r->params = NULL;
}

static int name_eq(const char *stored, const char *name) {
  /* names are stored truncated to GS_NAME_LEN - 1; compare the same way */
  return strncmp(stored, name, GS_NAME_LEN - 1) == 0;
}

static gs_series *find_series(gs_record *r, const char *name) {
  for (int i = 0; i < r->nseries; i++)
    if (name_eq(r->series[i].name, name)) return &r->series[i];
  return NULL;
}

void gs_record_push(gs_record *r, const char *name, double v) {
  gs_series *s = find_series(r, name);
  if (!s) {
    if (r->nseries >= GS_MAX_SERIES) internal_error("too many series (GS_MAX_SERIES)", name);
    s = &r->series[r->nseries++];
    memset(s, 0, sizeof *s);
    GS_STRCPY(s->name, name);
  }
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 16;
    s->v = gs_realloc(s->v, sizeof(double) * (size_t)s->cap);
  }
  s->v[s->n++] = v;
}

void gs_record_scalar(gs_record *r, const char *name, double v) {
  for (int i = 0; i < r->nscalars; i++)
    if (name_eq(r->scalars[i].name, name)) {
      r->scalars[i].v = v;
      return;
    }
  if (r->nscalars >= GS_MAX_SCALARS) internal_error("too many scalars (GS_MAX_SCALARS)", name);
  gs_scalar *s = &r->scalars[r->nscalars++];
  GS_STRCPY(s->name, name);
  s->v = v;
}

void gs_record_image_grid(gs_record *r, const char *name, int n, int h, int w, const uint8_t *pix, int cols) {
  if (n < 0 || h < 0 || w < 0) internal_error("negative image dimensions", name);
  gs_images *im = NULL;
  for (int i = 0; i < r->nimages; i++)
    if (name_eq(r->images[i].name, name)) im = &r->images[i];
  if (im) {
    free(im->pix); /* replaced */
  } else {
    if (r->nimages >= GS_MAX_IMAGES) internal_error("too many image sets (GS_MAX_IMAGES)", name);
    im = &r->images[r->nimages++];
  }
  memset(im, 0, sizeof *im);
  GS_STRCPY(im->name, name);
  im->n = n;
  im->h = h;
  im->w = w;
  size_t bytes = (size_t)n * (size_t)h * (size_t)w;
  im->pix = gs_malloc(bytes);
  if (bytes) memcpy(im->pix, pix, bytes);
  im->cols = cols;
}

void gs_record_images(gs_record *r, const char *name, int n, int h, int w, const uint8_t *pix) {
  gs_record_image_grid(r, name, n, h, w, pix, 0);
}

const gs_series *gs_record_find_series(const gs_record *r, const char *name) {
  for (int i = 0; i < r->nseries; i++)
    if (name_eq(r->series[i].name, name)) return &r->series[i];
  return NULL;
}

const double *gs_record_find_scalar(const gs_record *r, const char *name) {
  for (int i = 0; i < r->nscalars; i++)
    if (name_eq(r->scalars[i].name, name)) return &r->scalars[i].v;
  return NULL;
}

void gs_record_array(gs_record *r, const char *name, int ndim, const long *shape, const double *v) {
  if (ndim < 1 || ndim > 3) internal_error("array rank must be 1..3", name);
  if (strlen(name) >= sizeof r->arrays[0].name) internal_error("array name too long", name);
  gs_array *a = NULL;
  for (int i = 0; i < r->narrays; i++)
    if (strcmp(r->arrays[i].name, name) == 0) a = &r->arrays[i];
  if (!a) {
    if (r->narrays >= GS_MAX_ARRAYS) internal_error("too many arrays (GS_MAX_ARRAYS)", name);
    a = &r->arrays[r->narrays++];
    memset(a, 0, sizeof *a);
    GS_STRCPY(a->name, name);
  }
  long n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d] > 0 ? shape[d] : 0;
  free(a->v);
  a->v = gs_malloc(sizeof(double) * (size_t)(n ? n : 1));
  if (n) memcpy(a->v, v, sizeof(double) * (size_t)n);
  a->ndim = ndim;
  for (int d = 0; d < 3; d++) a->shape[d] = d < ndim ? shape[d] : 0;
}
