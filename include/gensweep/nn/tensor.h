/* Tensors, the per-step arena, the parameter block and the tape (reverse-mode autodiff).
 *
 * - A model's parameters and their gradients live in ONE contiguous block each (gs_params):
 *   one allreduce, one optimiser loop, one checkpoint write.
 * - Activations (and their gradients) live in a per-step arena that is reset, not freed.
 * - Each op appends a node to the tape: its inputs, output and a backward function.
 *   gs_backward() runs the tape in reverse.
 * - Gradients are written, not zeroed-then-accumulated: a tensor's `gset` flag says whether
 *   its gradient already holds a value this step; the first contribution overwrites (sgemm
 *   beta = 0), later ones accumulate. Parameters never touched get zeros at gs_backward's end.
 * New ops (conv2d, batch norm ...) are new node kinds with their own forward/backward
 * functions: the engine does not change. */
#ifndef GENSWEEP_TENSOR_H
#define GENSWEEP_TENSOR_H
#include <stddef.h>
#include <stdint.h>
#include "gensweep/core/common.h"

#define GS_MAX_DIMS 4

typedef struct gs_tensor {
  int ndim;
  int shape[GS_MAX_DIMS];
  long n;            /* number of elements */
  float *x;          /* values */
  float *g;          /* gradient, NULL when no gradient flows here */
  int gset;          /* g holds a value this step */
} gs_tensor;

/* ---------------------------------------------------------------- arena */
typedef struct gs_arena {
  char *base;
  size_t cap, used, peak;
  /* overflow blocks when a step needs more than cap; merged into one block at reset */
  char **extra;
  int nextra;
  size_t extra_bytes;
} gs_arena;

void gs_arena_init(gs_arena *a, size_t cap);
void *gs_arena_alloc(gs_arena *a, size_t bytes); /* 64-byte aligned, uninitialised */
void gs_arena_reset(gs_arena *a);
void gs_arena_free(gs_arena *a);

/* ---------------------------------------------------------------- parameters */
#define GS_MAX_PARAMS 64
typedef struct gs_param_info {
  char name[48];
  int ndim;
  int shape[GS_MAX_DIMS];
  long offset;        /* into data / grad */
  long n;
} gs_param_info;

/* A named run of consecutive parameters (a network of a GAN: "gen", "disc") with its own
 * optimiser; groups tile the block in declaration order, padding included. */
#define GS_MAX_GROUPS 8
typedef struct gs_param_group {
  char name[24];
  int first, count;   /* parameters [first, first + count) */
  long offset, n;     /* elements [offset, offset + n) of data / grad */
  int frozen;         /* 1: held fixed (gs_params_freeze) */
} gs_param_group;

typedef struct gs_params {
  int count;
  gs_param_info info[GS_MAX_PARAMS];
  int ngroups;                 /* after gs_params_alloc: at least 1 ("all" if none was named) */
  gs_param_group group[GS_MAX_GROUPS];
  gs_tensor t[GS_MAX_PARAMS];  /* views into data / grad */
  long total;                  /* floats */
  float *data;                 /* total floats, 64-byte aligned */
  float *grad;                 /* total floats */
} gs_params;

/* Two-phase: declare every parameter, then allocate the block. Returns the index. */
int gs_params_declare(gs_params *p, const char *name, int ndim, const int *shape);
void gs_params_alloc(gs_params *p);
/* Start a named group: the parameters declared from now on belong to it, until the next group
 * starts. A model that never calls this has one group, "all". Returns the group's index. */
int gs_params_group(gs_params *p, const char *name);
/* Hold group g fixed (frozen = 1) or free it again (0). A frozen group's parameters have no
 * gradient buffer, so the ops compute no weight gradient for them while gradients still flow
 * through them to earlier layers: the generator's step through a fixed discriminator. */
void gs_params_freeze(gs_params *p, int g, int frozen);
gs_tensor *gs_params_get(gs_params *p, const char *name);
/* Point the block (and every parameter's view) at other storage of p->total floats each, e.g.
 * a shared-memory window; the caller owns both and must rebind back before gs_params_free. */
void gs_params_rebind(gs_params *p, float *data, float *grad);
void gs_params_free(gs_params *p);

/* ---------------------------------------------------------------- tape */
struct gs_node;
typedef void (*gs_backward_fn)(struct gs_node *nd);

typedef struct gs_node {
  gs_backward_fn backward;
  gs_tensor *out;
  gs_tensor *in[4];
  float f[4];          /* op constants (slope, scale ...) */
  long i[4];           /* op integer constants (offsets, axes ...) */
  void *ctx;           /* op-saved buffers, in the arena */
} gs_node;

typedef struct gs_graph {
  gs_arena arena;
  gs_node *nodes;
  int nnodes, cap;
  int grad_enabled;    /* 0: evaluation, nothing recorded, no gradient buffers */
  gs_params *params;   /* set by gs_graph_begin: params whose gradients gs_backward completes */
} gs_graph;

void gs_graph_init(gs_graph *g, size_t arena_bytes);
void gs_graph_free(gs_graph *g);
/* Start a step: reset arena and tape; grad_enabled chooses training or evaluation mode.
 * With params != NULL and grad_enabled, the parameters' gset flags are cleared. */
void gs_graph_begin(gs_graph *g, gs_params *params, int grad_enabled);
/* Run the tape in reverse from a scalar loss (its gradient seeded with `seed`, usually 1).
 * Afterwards every parameter gradient is valid (zero where no path reached it). */
void gs_backward(gs_graph *g, gs_tensor *loss, float seed);

/* New tensor in the arena. needs_grad: allocate a gradient buffer (if g->grad_enabled). */
gs_tensor *gs_new(gs_graph *g, int ndim, const int *shape, int needs_grad);
gs_tensor *gs_new2(gs_graph *g, int d0, int d1, int needs_grad);
/* Wrap caller-owned data (inputs): no gradient. */
gs_tensor *gs_wrap(gs_graph *g, float *data, int ndim, const int *shape);
gs_tensor *gs_wrap2(gs_graph *g, float *data, int d0, int d1);
/* Append a node (used by ops). */
gs_node *gs_tape_push(gs_graph *g, gs_backward_fn fn, gs_tensor *out);
/* Does any input need a gradient? (used by ops to decide whether to record) */
static inline int gs_wants_grad(const gs_graph *g, const gs_tensor *t) { return g->grad_enabled && t && t->g; }

/* ---------------------------------------------------------------- group sums
 * In a data-parallel worker group each rank holds rows [lo, hi) of the global batch, so an op
 * that needs the whole batch's statistics (batch norm) must sum its per-rank partial sums over
 * the group. A reducer does that: sum(ctx, v, n) replaces v[0..n) in place by its element-wise
 * sum over the group's ranks. It is collective: every rank calls it as often, in the same order
 * and with the same n (so every rank builds the same graph and runs the same backward), and
 * every rank gets the same bits back (MPI_Allreduce does), because ops derive state that must
 * agree across ranks (running statistics) from the result. The runner provides it (nn knows no
 * MPI). A NULL reducer is a group of one: nothing to sum. */
typedef struct gs_reducer {
  void (*sum)(void *ctx, double *v, int n);
  void *ctx;
} gs_reducer;
static inline void gs_reduce_sum(const gs_reducer *r, double *v, int n) {
  if (r) r->sum(r->ctx, v, n);
}

/* Gradient helpers for backward functions: returns the buffer and, via *beta, 0 on the first
 * write this step or 1 to accumulate; marks the tensor's gradient as set. */
static inline float *gs_grad_target(gs_tensor *t, float *beta) {
  *beta = t->gset ? 1.0f : 0.0f;
  t->gset = 1;
  return t->g;
}

#endif
