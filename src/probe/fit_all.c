/* All classes of a probe problem at once: see include/gensweep/probe/fit_all.h. */
#include "gensweep/probe/fit_all.h"

#include <stdlib.h>

#include "gensweep/probe/solver.h"

int gs_probe_fit_all(const float *X, const int *labels, int d, int classes, const long *idx, long m,
                     const gs_probe_params *par, double *W, gs_solver_stats *stats, gs_error *err) {
  double *mean = gs_malloc(sizeof(double) * (size_t)d), *scale = gs_malloc(sizeof(double) * (size_t)d);
  gs_probe_standardisation(X, d, idx, m, mean, scale);
  float *Z = gs_malloc(sizeof(float) * (size_t)(m ? m : 1) * d);
  int *lab = gs_malloc(sizeof(int) * (size_t)(m ? m : 1));
  for (long i = 0; i < m; i++) {
    const float *x = X + idx[i] * (long)d;
    for (int j = 0; j < d; j++) Z[i * d + j] = (float)((x[j] - mean[j]) * scale[j]);
    lab[i] = labels[idx[i]];
  }
  gs_solver_data data = {.X = Z, .labels = lab, .m = m, .d = d, .classes = classes};
  int rc = gs_solver_fit(&data, par, W, stats, err);
  free(mean), free(scale), free(Z), free(lab);
  return rc;
}
