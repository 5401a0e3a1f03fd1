/* Optimisers and initialisers. See include/gensweep/nn/optim.h for the update rules. */
#include "gensweep/nn/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int gs_optim_kind(const char *name, gs_opt_kind *kind) {
  if (strcmp(name, "sgd") == 0) *kind = GS_OPT_SGD;
  else if (strcmp(name, "rmsprop") == 0) *kind = GS_OPT_RMSPROP;
  else if (strcmp(name, "adam") == 0) *kind = GS_OPT_ADAM;
  else return -1;
  return 0;
}

void gs_optim_init(gs_optim *o, gs_opt_kind kind, long n, float lr) {
  memset(o, 0, sizeof *o);
  o->kind = kind;
  o->n = n;
  o->lr = lr;
  o->momentum = 0.0f;
  o->rho = 0.9f;
  o->beta1 = 0.9f;
  o->beta2 = 0.999f;
  o->eps = kind == GS_OPT_ADAM ? 1e-8f : 1e-7f;
  o->m = gs_aligned_alloc(sizeof(float) * (n ? n : 1));
  o->v = gs_aligned_alloc(sizeof(float) * (n ? n : 1));
  memset(o->m, 0, sizeof(float) * n);
  memset(o->v, 0, sizeof(float) * n);
}

void gs_optim_init_view(gs_optim *o, const gs_optim_settings *s, long offset, long n, float *m, float *v) {
  memset(o, 0, sizeof *o);
  o->kind = s->kind;
  o->lr = s->lr;
  o->momentum = s->momentum;
  o->rho = s->rho;
  o->beta1 = s->beta1;
  o->beta2 = s->beta2;
  o->eps = s->eps;
  o->offset = offset;
  o->n = n;
  o->m = m;
  o->v = v;
  o->borrowed = 1;
}

void gs_optim_step(gs_optim *o, float *p, const float *g) {
  gs_optim_step_slice(o, p, g + o->offset, o->offset, o->offset + o->n);
}

void gs_optim_step_slice(gs_optim *o, float *p, const float *g, long lo, long hi) {
  o->t++;
  gs_optim_apply(o, p, g, lo, hi);
}

void gs_optim_apply(gs_optim *o, float *restrict p, const float *restrict g, long lo, long hi) {
  long n = hi - lo;
  float lr = o->lr;
  float *restrict m = o->m + (lo - o->offset), *restrict v = o->v + (lo - o->offset);
  p += lo;
  switch (o->kind) {
    case GS_OPT_SGD: {
      float mom = o->momentum;
      if (mom == 0.0f) {
        for (long i = 0; i < n; i++) p[i] -= lr * g[i];
      } else {
        for (long i = 0; i < n; i++) {
          m[i] = mom * m[i] + g[i];
          p[i] -= lr * m[i];
        }
      }
      break;
    }
    case GS_OPT_RMSPROP: {
      float rho = o->rho, one_m = 1.0f - o->rho, eps = o->eps;
      for (long i = 0; i < n; i++) {
        v[i] = rho * v[i] + one_m * g[i] * g[i];
        p[i] -= lr * g[i] / (sqrtf(v[i]) + eps);
      }
      break;
    }
    case GS_OPT_ADAM: {
      float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
      double bc1 = 1.0 - pow(b1, (double)o->t), bc2 = 1.0 - pow(b2, (double)o->t);
      float step = (float)(lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
      for (long i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
      }
      break;
    }
  }
}

void gs_optim_free(gs_optim *o) {
  if (!o->borrowed) {
    free(o->m);
    free(o->v);
  }
  memset(o, 0, sizeof *o);
}

void gs_init_xavier_uniform(gs_tensor *w, int fan_in, int fan_out, gs_rng *rng) {
  float a = sqrtf(6.0f / (float)(fan_in + fan_out));
  for (long i = 0; i < w->n; i++) w->x[i] = a * (2.0f * gs_rng_uniformf(rng) - 1.0f);
}

void gs_init_truncated_normal(gs_tensor *w, float std, gs_rng *rng) {
  for (long i = 0; i < w->n; i++) {
    float z;
    do z = gs_rng_normal(rng);
    while (fabsf(z) > 2.0f);
    w->x[i] = std * z;
  }
}

void gs_init_constant(gs_tensor *w, float c) {
  for (long i = 0; i < w->n; i++) w->x[i] = c;
}
