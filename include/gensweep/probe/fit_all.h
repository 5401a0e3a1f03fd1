/* All classes of one probe problem at once with gensweep's own solver (probe/solver.h), for the
 * problems with at least 8 examples per feature (gs_probe_large says which). */
#ifndef GENSWEEP_PROBE_FIT_ALL_H
#define GENSWEEP_PROBE_FIT_ALL_H
#include "gensweep/probe/probe.h"

/* Every class of rows idx[0..m) of X at once (the primal objectives of liblinear's -s 2 / -s 0,
 * to its tolerance) with the solver of probe/solver.h: one pass over the rows serves all classes,
 * an order of magnitude faster than liblinear on 60,000 images. W (classes x (d + 1)) on the
 * features standardised as gs_probe_standardisation gives; stats (may be NULL): the solver's
 * iterations (probe/solver.h). -1 with err on failure. */
struct gs_solver_stats;
int gs_probe_fit_all(const float *X, const int *labels, int d, int classes, const long *idx, long m,
                     const gs_probe_params *par, double *W, struct gs_solver_stats *stats, gs_error *err);

#endif
