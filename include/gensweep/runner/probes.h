/* The linear-probe stage of a run (probe.* keys; the fits in probe/probe.h): after the last
 * epoch, the model's features of every training and test image, then for each classifier, label
 * budget and repeat one one-vs-rest problem. Its classes are fitted by the ranks of the run's
 * group in turn (longest first), the weights summed over the group, and every rank scores the
 * test set alike, so the numbers do not depend on the group's size.
 *
 * Recorded in the run file, for source `model`, classifier <c> (svm, lr) and budget <b> (all or
 * the number of labels):
 *   /probe/model/<c>/<b>/accuracy   [R]        test accuracy of each repeat
 *   /probe/model/<c>/<b>/confusion  [R, C, C]  rows: true class, columns: predicted
 *   /probe/model/<c>/<b>/precision, recall [R, C]
 *   /final/probe_<c>_<b>, probe_<c>_<b>_std             mean and std (ddof 0) over the repeats
 *   /final/probe_features (feature count), probe_all_labels (the training images: budget all),
 *   probe_seconds
 * A budget the training set cannot fill (too few images of a class, not a multiple of the
 * classes), a data set without labels, or features that are not finite: that probe (or all) is
 * skipped with its reason on stderr and in /final/probe_skipped (the count), never a crash. */
#ifndef GENSWEEP_RUNNER_PROBES_H
#define GENSWEEP_RUNNER_PROBES_H
#include <mpi.h>

#include "gensweep/models/model.h"

/* Every rank of the run's group calls it (comm: the group, MPI_COMM_NULL for one rank). 0 when
 * done or skipped; -1 with err on a failure that should fail the run (liblinear refusing). */
int gs_run_probes(const gs_config *c, const gs_model_def *def, gs_model *m, const gs_dataset *ds, gs_record *rec,
                  MPI_Comm comm, gs_error *err);

/* During training, at an evaluation at time t (the iteration of a model trained by iterations,
 * else the epoch): with probe.every > 0, a probe time when t is a multiple of it (the trained
 * model's sources; the series probe_<c>_<b> ... get their means), else a NaN point, so that the
 * series line up with the evaluations (and the report draws them against training time);
 * gs_run_probes adds the last point. Collective over the group, like gs_run_probes. */
int gs_run_probes_during(const gs_config *c, const gs_model_def *def, gs_model *m, const gs_dataset *ds,
                         gs_record *rec, MPI_Comm comm, long t, gs_error *err);

/* 1 when the run's probe.* keys ask for any probe (the probe stage has work). */
int gs_run_wants_probes(const gs_config *c);

/* Job-level farming (runner/sweep.c): groups with no run left help a group whose run reaches its
 * probe stage. members: [0] the count n (0: no helpers), [1..n] the ranks in parent (a duplicate
 * of MPI_COMM_WORLD, so that the messages MPI_Comm_create_group exchanges on it are not seen by
 * the coordinator's MPI_Iprobe(MPI_ANY_TAG) on the world) of the new communicator, the run's own
 * group first, then the helpers' groups. Every member calls it (the run's group with ok = 1, a
 * helper with ok = 1 when it loaded the trained model from the run's last checkpoint); collective
 * over the members only (MPI_Comm_create_group, tag). Returns the communicator to pass to
 * gs_run_probes (free it after), or MPI_COMM_NULL when there are no helpers or a member could not
 * load the model: the run's group then probes alone and the helpers do nothing. The probe
 * numbers do not depend on the communicator's size. */
MPI_Comm gs_probe_join(MPI_Comm parent, const int *members, int ok, int tag);

#endif
