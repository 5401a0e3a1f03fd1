/* The checkpoint of a running run: results/<sweep>/ckpt/<run-id>.h5.
 *
 * A run interrupted at any moment (Ctrl-C, SIGTERM, kill -9, power loss) resumes from its last
 * checkpoint and finishes with exactly the numbers of an uninterrupted run, so a checkpoint
 * holds everything the rest of the run depends on, bit for bit: the parameter block, the
 * optimiser state, the random streams (including a pending Box-Muller value), the training
 * set's order (shuffled in place from epoch to epoch), the per-epoch series recorded so far,
 * and the run's clocks and counters.
 *
 * Writing is atomic (<path>.tmp, fsync, rename, directory fsync: gs_h5_write_atomic over
 * core/atomic.h): the file on disk is always the previous complete checkpoint or the new
 * complete one. Reading verifies everything before it changes anything of the caller's: the
 * file's identity (run id, config hash), that its parameter table and optimiser match the model
 * the caller built, and a CRC-32 over all the contents (HDF5 checksums its metadata in the 1.8
 * format, but not raw data: a flipped bit in a parameter would otherwise load silently).
 *
 * Layout (HDF5, 1.8 format; readable with h5py / h5dump):
 *   /            attributes: format = "gensweep checkpoint", format_version (int64, 2),
 *                gensweep_version, run_id, config_hash (16 hex digits), epoch, step (int64),
 *                loss_sum, train_seconds (float64), images (int64); when a step reports named
 *                loss parts (or a model has several phases): loss_part_names (string [k]) and
 *                loss_part_sums (float64 [k]), their running sums in the epoch,
 *                crc32 (uint32: CRC-32 of a canonical little-endian serialisation of every
 *                value in the file but format, gensweep_version and crc32; see checkpoint.c)
 *   /params/data float32 [total]: the whole parameter block, padding included
 *   /params      attributes: total (int64), names (string [count]), ndim (int32 [count]),
 *                shape (int32 [count, 4], unused dimensions 0), offset (int64 [count]),
 *                n (int64 [count])
 *   /optim/m, /optim/v   float32 [n]: the moments of the whole block (every group's at its offset)
 *   /optim       attributes: n (int64), and per parameter group g (arrays of ngroups): groups
 *                (string: the group's name), offset, count (int64: its elements of the block),
 *                kind (string "sgd" | "rmsprop" | "adam"), t (int64), lr, momentum, rho, beta1,
 *                beta2, eps (float32).
 *                Format 1 (gensweep before groups) has one optimiser: kind, t, n and the
 *                hyperparameters as scalars; it is read for a model of one group.
 *   /rng/state   uint64 [nrng, 4]; /rng/has_spare int32 [nrng]; /rng/spare_bits uint32 [nrng]
 *                (the bits of the float `spare`)
 *   /perm        int32 [nperm]
 *   /series/values float64 [sum of lengths]: the series one after the other, in record order
 *   /series/lengths int64 [nseries]; /series attribute names (string [nseries])
 *   /model_state state a model keeps outside its parameters (the cae_igmn mixture and stage) as
 *                named arrays (core/state.h): one dataset per array, float64, int64 or uint8,
 *                named as the array; attributes names (string [k], the arrays' order) and
 *                types (int32 [k]: 0 float64, 1 int64, 2 uint8). Absent = none.
 *                Format 1 kept one float64 array /model_state: such a checkpoint is refused
 *                with a message saying so (the run starts again from its seed).
 * The CRC serialisation of format 1 files is kept for reading them (checkpoint.c).
 */
#ifndef GENSWEEP_CHECKPOINT_H
#define GENSWEEP_CHECKPOINT_H
#include <stdint.h>

#include "gensweep/core/common.h"
#include "gensweep/config/config.h"
#include "gensweep/nn/optim.h"
#include "gensweep/io/record.h"
#include "gensweep/core/rng.h"
#include "gensweep/core/state.h"
#include "gensweep/nn/tensor.h"

#define GS_CKPT_MAX_RNG 8
#define GS_CKPT_FORMAT_VERSION 2
#define GS_CKPT_MAX_LOSS_PARTS 16

typedef struct gs_checkpoint {
  /* Identity. write: stored. read: what the caller expects; a checkpoint of another run or
   * other parameters is an error. An empty run_id on read accepts any run and hash (tools) and
   * fills both in. */
  char run_id[GS_MAX_RUN_ID];
  uint64_t config_hash;
  long epoch;             /* completed epochs */
  long step;              /* steps done in epoch `epoch + 1` (0 at an epoch boundary): a
                           * checkpoint taken mid-epoch on a stop request resumes at that step */
  double loss_sum;        /* the running loss sum of those steps */

  /* write: read from. read: declared and allocated by the caller (the model is built); the
   * names, shapes and offsets must match the checkpoint's; data is filled. Required. */
  gs_params *params;
  /* write: read from. read: gs_optim_init'ed by the caller with the same kind and n; t, the
   * hyperparameters (lr, momentum, rho, beta1, beta2, eps), m and v are filled. Required. */
  gs_optim *opt;
  /* The optimisers of params' groups (params->ngroups of them): kind, step count t and settings
   * per group, their moments in opt->m / opt->v at the group's offset (write: read from; read:
   * t and settings filled, kinds must match). NULL: one group, described by opt itself. */
  gs_optim *groups;

  /* running sums of named loss parts in the epoch (write: stored; read: filled) */
  int nloss_parts;
  char loss_part_name[GS_CKPT_MAX_LOSS_PARTS][48];
  double loss_part_sum[GS_CKPT_MAX_LOSS_PARTS];

  int nrng;               /* 0..GS_CKPT_MAX_RNG; read: filled */
  gs_rng rng[GS_CKPT_MAX_RNG];

  long nperm;             /* the training set's order; perm may be NULL when nperm is 0 */
  int32_t *perm;          /* read: malloc'd (NULL when nperm is 0), the caller frees it; a
                           * failed read leaves the pointer as it was */

  /* write: its series (names and values) are saved, NULL = none. read: the series are pushed
   * into it in the same order; it must hold no series yet (gs_record_init'ed); NULL = skip. */
  gs_record *rec;

  double train_seconds;   /* training time so far */
  long images;            /* training images seen so far */
  /* How the run was computed, which decides its float rounding (OpenBLAS sums in another order
   * with more threads; the group's reductions in another order with more ranks): OpenBLAS
   * threads per rank and ranks in the run's group. write: stored when > 0. read: filled, 0 in
   * a file written before they were stored (the reader then cannot tell). */
  int threads;
  int group_ranks;

  /* the model's own state (gs_model_def.state_*). write: read from (NULL or empty: none).
   * read: the file's arrays are added to it (the caller passes an empty state and frees it);
   * NULL: a file with model state is refused. */
  gs_state *state;
} gs_checkpoint;

/* Write the checkpoint atomically (path.tmp, fsync, rename, fsync of the directory). The
 * directory must exist. The checkpoint it replaces stays as the previous one
 * (gs_checkpoint_prev_path), so that a latest checkpoint damaged later (a bad disk block, a
 * truncated copy) still leaves one to resume from. On failure: -1, err names the file, no .tmp
 * is left behind and an existing checkpoint at path is untouched. */
int gs_checkpoint_write(const char *path, const gs_checkpoint *c, gs_error *err);

/* The previous checkpoint beside path: "<dir>/<id>.h5" -> "<dir>/<id>.prev.h5". */
void gs_checkpoint_prev_path(const char *path, char *out, size_t n);

/* Remove a run's checkpoint and its previous one (the run is done). */
void gs_checkpoint_remove(const char *path);

/* Read a checkpoint into c (see the fields for what the caller sets up first). On failure: -1,
 * err names the file and says what is wrong (missing; empty, truncated or not HDF5; not a
 * checkpoint; checksum mismatch: the checkpoint is corrupt; checkpoint of another run or
 * hash; parameter table or optimiser different from the caller's) and NOTHING of c or of what
 * it points to has changed: everything is read into temporaries and verified first. */
int gs_checkpoint_read(const char *path, gs_checkpoint *c, gs_error *err);

/* Only the identity and counters (run_id, config_hash, epoch, step, loss_sum, train_seconds,
 * images) of a checkpoint, for status displays and logs; c's pointers are not used. The contents
 * are NOT verified (no checksum): decide to resume with gs_checkpoint_read. */
int gs_checkpoint_peek(const char *path, gs_checkpoint *c, gs_error *err);

/* Read the whole checkpoint and check its crc32, without fitting it to a model (gensweep status):
 * 0 when it is whole, else an error naming the file (truncated, not HDF5, checksum mismatch). */
int gs_checkpoint_verify(const char *path, gs_error *err);

#endif
