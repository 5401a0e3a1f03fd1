/* Atomic file writing: a file appears at its final path whole or not at all.
 *
 * The writer writes the temporary file <path>.tmp through whatever library it uses (HDF5 opens
 * it by name, PLplot draws into it by name, stdio or libpng through a FILE* from fopen), closes
 * it, and commits: the temporary file is fsync'd, renamed over <path>, and the directory is
 * fsync'd. A reader therefore sees either the previous complete file or the new complete one,
 * never a half-written one, also after a crash or power loss.
 *
 *   gs_atomic a;
 *   if (gs_atomic_begin(&a, path, err) != 0) return -1;   creates the empty a.tmp
 *   ... write a.tmp and close it ...
 *   on failure:  gs_atomic_abort(&a); return -1;          removes a.tmp
 *   on success:  return gs_atomic_commit(&a, err);
 *
 * Commit and abort both release the handle; after either one a.tmp is gone (on success renamed
 * to path, otherwise removed). One writer per path at a time: concurrent writers of one file
 * share its temporary name, so callers that can race take a lock first. */
#ifndef GENSWEEP_CORE_ATOMIC_H
#define GENSWEEP_CORE_ATOMIC_H
#include <stddef.h>

#include "gensweep/core/common.h"

typedef struct gs_atomic {
  char *path; /* the final name (a copy) */
  char *tmp;  /* "<path>.tmp": the writer writes here */
} gs_atomic;

/* "<path>.tmp", malloc'd. */
char *gs_atomic_tmp_name(const char *path);

/* Start writing path: create the empty temporary file a->tmp, replacing one left by a crashed
 * writer (open(2), so that a missing or read-only directory gives its errno). On failure: -1,
 * err "<path>: cannot create <path>.tmp: <why>", nothing to abort. */
int gs_atomic_begin(gs_atomic *a, const char *path, gs_error *err);

/* a->tmp is complete and closed: fsync it, rename it over a->path, fsync the directory. On
 * failure -1 with err naming the file, and the temporary file is removed (an existing file at
 * path is untouched, unless only the directory fsync failed: then the new file is in place but
 * its rename may not survive a crash). Not being able to open the directory, or a file system
 * that does not fsync directories, is tolerated. Releases a. */
int gs_atomic_commit(gs_atomic *a, gs_error *err);

/* Give up: remove a->tmp, leave a->path as it was. Releases a. */
void gs_atomic_abort(gs_atomic *a);

/* The whole file at once: len bytes of data to path (begin, fwrite, commit). On a write error:
 * -1, err "<path>: cannot write: <why>", no temporary file left. */
int gs_atomic_write(const char *path, const void *data, size_t len, gs_error *err);

#endif
