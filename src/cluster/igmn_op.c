/* The IGMN mixture density as a differentiable op (the cae_igmn regulariser). */
#include "gensweep/cluster/igmn.h"
#include "gensweep/nn/tensor.h"

/* The mixture-density term (IGMN.md §6.4, E16) as an op: f_i = sum_j p(j) N(z_i; m_j, C_j), (b);
 * the mixture is a constant (no gradient into it). */
static void density_backward(gs_node *nd) {
  gs_tensor *z = nd->in[0], *f = nd->out;
  const float *df = nd->ctx;
  int b = z->shape[0], Z = z->shape[1];
  float beta;
  float *dz = gs_grad_target(z, &beta);
  for (int i = 0; i < b; i++)
    for (int j = 0; j < Z; j++) {
      long k = (long)i * Z + j;
      float v = f->g[i] * df[k];
      dz[k] = beta != 0.0f ? dz[k] + v : v;
    }
}

gs_tensor *gs_igmn_density_op(gs_graph *g, const gs_igmn *mix, gs_tensor *z) {
  int b = z->shape[0], Z = z->shape[1];
  int needs = gs_wants_grad(g, z);
  gs_tensor *f = gs_new(g, 1, &b, needs);
  double *fd = gs_arena_alloc(&g->arena, sizeof(double) * b);
  float *df = needs ? gs_arena_alloc(&g->arena, sizeof(float) * b * Z) : NULL;
  gs_igmn_density(mix, z->x, b, Z, fd, df);
  for (int i = 0; i < b; i++) f->x[i] = (float)fd[i];
  if (needs) {
    gs_node *nd = gs_tape_push(g, density_backward, f);
    nd->in[0] = z;
    nd->ctx = df;
  }
  return f;
}

