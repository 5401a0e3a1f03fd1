/* Optimisers and initialisers over a parameter block. State (moments) is one block too, so a
 * checkpoint is three arrays. Formulas follow the usual framework conventions:
 *   SGD:     buf = momentum*buf + g;  p -= lr*buf            (buf starts at 0)
 *   RMSProp: v = rho*v + (1-rho)*g^2; p -= lr*g/(sqrt(v)+eps)
 *   Adam:    m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *            p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
#ifndef GENSWEEP_OPTIM_H
#define GENSWEEP_OPTIM_H
#include "gensweep/core/rng.h"
#include "gensweep/nn/tensor.h"

typedef enum { GS_OPT_SGD = 0, GS_OPT_RMSPROP = 1, GS_OPT_ADAM = 2 } gs_opt_kind;

typedef struct gs_optim {
  gs_opt_kind kind;
  float lr, momentum, rho, beta1, beta2, eps;
  long t;       /* steps taken */
  long offset;  /* it updates the elements [offset, offset + n) of the block */
  long n;       /* floats */
  float *m;     /* SGD momentum buffer / Adam first moment, of those n elements */
  float *v;     /* RMSProp / Adam second moment */
  int borrowed; /* m and v belong to the caller (gs_optim_init_view) */
} gs_optim;

/* The hyperparameters of one optimiser (a parameter group's). */
typedef struct gs_optim_settings {
  gs_opt_kind kind;
  float lr, momentum, rho, beta1, beta2, eps;
} gs_optim_settings;

/* kind_name: "sgd" | "rmsprop" | "adam"; returns -1 on an unknown name. */
int gs_optim_kind(const char *kind_name, gs_opt_kind *kind);
void gs_optim_init(gs_optim *o, gs_opt_kind kind, long n, float lr);
/* An optimiser of the elements [offset, offset + n) whose moments are m and v (n floats each,
 * zeroed by the caller and freed by it): the optimisers of a block's parameter groups share one
 * moments block, so that gathering or saving it is one array. Settings from s. */
void gs_optim_init_view(gs_optim *o, const gs_optim_settings *s, long offset, long n, float *m, float *v);
/* One step of its elements; p and grad are the whole block. */
void gs_optim_step(gs_optim *o, float *p, const float *grad);
/* One step on the elements [lo, hi) only, inside [offset, offset + n) (data-parallel groups
 * shard the update: each rank updates its slice, then the slices are gathered); p is the whole
 * block, g points at the gradient of element lo. */
void gs_optim_step_slice(gs_optim *o, float *p, const float *g, long lo, long hi);
/* The two halves of a step, for callers that feed the gradient in pieces: gs_optim_begin_step
 * once per step, then gs_optim_apply on [lo, hi) pieces (g = gradient of element lo). */
static inline void gs_optim_begin_step(gs_optim *o) { o->t++; }
void gs_optim_apply(gs_optim *o, float *p, const float *g, long lo, long hi);
void gs_optim_free(gs_optim *o);

/* Initialisers */
void gs_init_xavier_uniform(gs_tensor *w, int fan_in, int fan_out, gs_rng *rng); /* U(+-sqrt(6/(in+out))) */
void gs_init_truncated_normal(gs_tensor *w, float std, gs_rng *rng);            /* |x| <= 2 std, redrawn */
void gs_init_constant(gs_tensor *w, float c);

#endif
