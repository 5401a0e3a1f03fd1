/* Arena, parameter block and tape. See include/gensweep/nn/tensor.h. */
#include "gensweep/nn/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arena */
#define ALIGN64(n) (((n) + 63) & ~(size_t)63)

void gs_arena_init(gs_arena *a, size_t cap) {
  memset(a, 0, sizeof *a);
  a->cap = ALIGN64(cap ? cap : 1 << 20);
  a->base = gs_aligned_alloc(a->cap);
}

void *gs_arena_alloc(gs_arena *a, size_t bytes) {
  bytes = ALIGN64(bytes ? bytes : 64);
  if (a->used + bytes <= a->cap) {
    void *p = a->base + a->used;
    a->used += bytes;
    if (a->used + a->extra_bytes > a->peak) a->peak = a->used + a->extra_bytes;
    return p;
  }
  /* Overflow: a separate block for this step; reset grows the main block to the peak. */
  a->extra = gs_realloc(a->extra, sizeof(char *) * (a->nextra + 1));
  char *p = gs_aligned_alloc(bytes);
  a->extra[a->nextra++] = p;
  a->extra_bytes += bytes;
  if (a->used + a->extra_bytes > a->peak) a->peak = a->used + a->extra_bytes;
  return p;
}

void gs_arena_reset(gs_arena *a) {
  if (a->nextra) {
    for (int i = 0; i < a->nextra; i++) free(a->extra[i]);
    free(a->extra);
    a->extra = NULL;
    a->nextra = 0;
    a->extra_bytes = 0;
    free(a->base);
    a->cap = ALIGN64(a->peak + a->peak / 8);
    a->base = gs_aligned_alloc(a->cap);
  }
  a->used = 0;
}

void gs_arena_free(gs_arena *a) {
  for (int i = 0; i < a->nextra; i++) free(a->extra[i]);
  free(a->extra);
  free(a->base);
  memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- parameters */
static long shape_count(int ndim, const int *shape) {
  long n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  return n;
}

int gs_params_group(gs_params *p, const char *name) {
  if (p->data || p->ngroups >= GS_MAX_GROUPS || (p->ngroups == 0 && p->count > 0)) {
    fprintf(stderr, "gensweep: internal error: a parameter group starts after the block is allocated, "
                    "after ungrouped parameters, or there are more than %d\n", GS_MAX_GROUPS);
    abort();
  }
  gs_param_group *gr = &p->group[p->ngroups];
  memset(gr, 0, sizeof *gr);
  GS_STRCPY(gr->name, name);
  gr->first = p->count;
  return p->ngroups++;
}

int gs_params_declare(gs_params *p, const char *name, int ndim, const int *shape) {
  if (p->count >= GS_MAX_PARAMS || p->data) {
    fprintf(stderr, "gensweep: internal error: too many parameters or block already allocated\n");
    abort();
  }
  gs_param_info *in = &p->info[p->count];
  GS_STRCPY(in->name, name);
  in->ndim = ndim;
  memcpy(in->shape, shape, sizeof(int) * ndim);
  in->n = shape_count(ndim, shape);
  in->offset = p->total;
  p->total += (in->n + 15) & ~15L; /* keep every parameter 64-byte aligned */
  return p->count++;
}

void gs_params_alloc(gs_params *p) {
  if (p->ngroups == 0) { /* one group of everything */
    memset(&p->group[0], 0, sizeof p->group[0]);
    GS_STRCPY(p->group[0].name, "all");
    p->ngroups = 1;
  }
  for (int k = 0; k < p->ngroups; k++) {
    gs_param_group *gr = &p->group[k];
    int end = k + 1 < p->ngroups ? p->group[k + 1].first : p->count;
    gr->count = end - gr->first;
    gr->offset = gr->first < p->count ? p->info[gr->first].offset : p->total;
    gr->n = (end < p->count ? p->info[end].offset : p->total) - gr->offset;
  }
  p->data = gs_aligned_alloc(sizeof(float) * (p->total ? p->total : 16));
  p->grad = gs_aligned_alloc(sizeof(float) * (p->total ? p->total : 16));
  memset(p->data, 0, sizeof(float) * p->total);
  memset(p->grad, 0, sizeof(float) * p->total);
  for (int i = 0; i < p->count; i++) {
    gs_tensor *t = &p->t[i];
    gs_param_info *in = &p->info[i];
    t->ndim = in->ndim;
    memcpy(t->shape, in->shape, sizeof(int) * in->ndim);
    t->n = in->n;
    t->x = p->data + in->offset;
    t->g = p->grad + in->offset;
    t->gset = 0;
  }
}

static void bind_group(gs_params *p, int g) {
  const gs_param_group *gr = &p->group[g];
  for (int i = gr->first; i < gr->first + gr->count; i++) {
    p->t[i].x = p->data + p->info[i].offset;
    p->t[i].g = gr->frozen ? NULL : p->grad + p->info[i].offset;
  }
}

void gs_params_rebind(gs_params *p, float *data, float *grad) {
  p->data = data;
  p->grad = grad;
  for (int g = 0; g < p->ngroups; g++) bind_group(p, g);
}

void gs_params_freeze(gs_params *p, int g, int frozen) {
  p->group[g].frozen = frozen;
  bind_group(p, g);
}

gs_tensor *gs_params_get(gs_params *p, const char *name) {
  for (int i = 0; i < p->count; i++)
    if (strcmp(p->info[i].name, name) == 0) return &p->t[i];
  return NULL;
}

void gs_params_free(gs_params *p) {
  free(p->data);
  free(p->grad);
  memset(p, 0, sizeof *p);
}

/* ---------------------------------------------------------------- tape */
void gs_graph_init(gs_graph *g, size_t arena_bytes) {
  memset(g, 0, sizeof *g);
  gs_arena_init(&g->arena, arena_bytes);
  g->cap = 256;
  g->nodes = gs_malloc(sizeof(gs_node) * g->cap);
  g->grad_enabled = 1;
}

void gs_graph_free(gs_graph *g) {
  gs_arena_free(&g->arena);
  free(g->nodes);
  memset(g, 0, sizeof *g);
}

void gs_graph_begin(gs_graph *g, gs_params *params, int grad_enabled) {
  gs_arena_reset(&g->arena);
  g->nnodes = 0;
  g->grad_enabled = grad_enabled;
  g->params = params;
  if (params && grad_enabled)
    for (int i = 0; i < params->count; i++) params->t[i].gset = 0;
}

gs_node *gs_tape_push(gs_graph *g, gs_backward_fn fn, gs_tensor *out) {
  if (g->nnodes == g->cap) {
    g->cap *= 2;
    g->nodes = gs_realloc(g->nodes, sizeof(gs_node) * g->cap);
  }
  gs_node *nd = &g->nodes[g->nnodes++];
  memset(nd, 0, sizeof *nd);
  nd->backward = fn;
  nd->out = out;
  return nd;
}

void gs_backward(gs_graph *g, gs_tensor *loss, float seed) {
  if (loss->g) {
    for (long i = 0; i < loss->n; i++) loss->g[i] = seed;
    loss->gset = 1;
  }
  for (int k = g->nnodes - 1; k >= 0; k--) {
    gs_node *nd = &g->nodes[k];
    if (nd->out->g && nd->out->gset) nd->backward(nd);
  }
  if (g->params)
    for (int i = 0; i < g->params->count; i++) {
      gs_tensor *t = &g->params->t[i];
      if (!t->g) continue; /* frozen */
      if (!t->gset) memset(t->g, 0, sizeof(float) * t->n);
      t->gset = 1;
    }
}

gs_tensor *gs_new(gs_graph *g, int ndim, const int *shape, int needs_grad) {
  gs_tensor *t = gs_arena_alloc(&g->arena, sizeof(gs_tensor));
  memset(t, 0, sizeof *t);
  t->ndim = ndim;
  memcpy(t->shape, shape, sizeof(int) * ndim);
  t->n = shape_count(ndim, shape);
  t->x = gs_arena_alloc(&g->arena, sizeof(float) * t->n);
  if (needs_grad && g->grad_enabled) t->g = gs_arena_alloc(&g->arena, sizeof(float) * t->n);
  return t;
}

gs_tensor *gs_new2(gs_graph *g, int d0, int d1, int needs_grad) {
  int s[2] = {d0, d1};
  return gs_new(g, 2, s, needs_grad);
}

gs_tensor *gs_wrap(gs_graph *g, float *data, int ndim, const int *shape) {
  gs_tensor *t = gs_arena_alloc(&g->arena, sizeof(gs_tensor));
  memset(t, 0, sizeof *t);
  t->ndim = ndim;
  memcpy(t->shape, shape, sizeof(int) * ndim);
  t->n = shape_count(ndim, shape);
  t->x = data;
  return t;
}

gs_tensor *gs_wrap2(gs_graph *g, float *data, int d0, int d1) {
  int s[2] = {d0, d1};
  return gs_wrap(g, data, 2, s);
}
