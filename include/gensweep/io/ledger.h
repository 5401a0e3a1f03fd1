/* The sweep ledger: results/<sweep>/ledger.log (its format; the `status` command is runner/status.h).
 *
 * The ledger is an append-only text log, one line per run state change:
 *
 *   #gensweep-ledger v1                                   (first line, written once at creation)
 *   <unix time, ms>\t<state>\t<run id>\t<config hash, 16 hex>\t<epoch>\t<pid>\t<message>\n
 *
 * e.g. "1718031112.094\tdone\tquickstart-vae_latent_dim-2\t9f2c40e1a7b3d055\t5\t41873\t\n".
 * Tabs separate the fields; in the run id and the message a tab, newline, carriage return and
 * backslash are written as \t \n \r \\ . Epoch -1 means "not known / not applicable".
 *
 * States. The run states are queued, started, checkpointed, done, failed, diverged, interrupted
 * (and resumed: a started run continued from its checkpoint), and under early stopping paused
 * (trained to its rung, checkpointed; counted as interrupted) and stopped (the scheduler ended it;
 * counted as done). The scheduler's own decisions are notes "sched" whose message is the line of
 * runner/scheduler.h. Any other lower-case word
 * ([a-z][a-z0-9_-]*, at most 31 characters; e.g. "checkpoint-failed") is a note: it is logged and
 * shown, but does not change what state the run is in.
 *
 * Writers. Several processes may append to one ledger at once (the coordinator of an MPI job, the
 * shards of a Slurm job array): every line is written by ONE write(2) on an O_APPEND descriptor
 * and is shorter than GS_LEDGER_MAX_LINE (< PIPE_BUF = 4096: long messages are truncated,
 * marked "..."), then fsync'd. Such appends do not interleave on a local file system (nor on
 * NFS/Lustre with O_APPEND support for whole small writes). The file is created with its
 * header already in it (written to a temporary file and link(2)ed into place, which fails if
 * another process got there first), so concurrent creators leave exactly one header.
 *
 * Readers. A line is only taken when it ends with '\n': a crash mid-write leaves a torn last line,
 * which is skipped and counted (nbad), as is every malformed line; blank and '#' lines are
 * ignored. When a writer opens a ledger whose last line is torn, it first ends that line with
 * '\n' so its own lines are not glued to the fragment (appenders hold a shared flock(2) while
 * writing and the repair an exclusive one, so a line still being written is never mistaken for
 * a torn one). A reader may see part of a line being written (a write spanning pages becomes
 * visible page by page): it is reported as a torn last line until the write completes. "Latest" means latest in file order (the
 * order in which the appends happened), not by time stamp: clocks of different nodes differ. */
#ifndef GENSWEEP_LEDGER_H
#define GENSWEEP_LEDGER_H
#include <stdint.h>
#include <stdio.h>

#include "gensweep/core/common.h"
#include "gensweep/config/config.h"

#define GS_LEDGER_FILE "ledger.log"
#define GS_LEDGER_HEADER "#gensweep-ledger v1"
#define GS_LEDGER_MAX_LINE 4000   /* bytes, including the '\n' */
#define GS_LEDGER_STATE_LEN 32   /* a state word is at most 31 characters */

/* ------------------------------------------------------------------ writing */

typedef struct gs_ledger {
  int fd;            /* O_WRONLY | O_APPEND; -1 when closed */
  char path[1100];   /* dir/ledger.log */
  int recreated;     /* times the file was found removed (or replaced) and created again */
  int hold;          /* gs_ledger_hold: lines wait in pend for gs_ledger_release */
  size_t npend;
  char pend[GS_LEDGER_MAX_LINE];
} gs_ledger;

/* Open dir/ledger.log for appending, creating dir and the file (with its header) if needed.
 * Fails if the file exists but is not a v1 ledger. */
int gs_ledger_open(const char *dir, gs_ledger *l, gs_error *err);
/* Append one line (one write(2), then fsync(2)). state: see above; run_id: non-empty, shorter
 * than GS_MAX_RUN_ID; msg may be NULL. The time stamp and pid are the caller's. */
int gs_ledger_append(gs_ledger *l, const char *state, const char *run_id, uint64_t hash, long epoch,
                     const char *msg, gs_error *err);
/* Group the next appends into one write(2) and one fsync(2) (a decision's several lines): after
 * gs_ledger_hold, gs_ledger_append keeps its lines until gs_ledger_release writes them (or until
 * they would pass GS_LEDGER_MAX_LINE bytes: then the earlier ones are written first). Every
 * write is still of whole lines shorter than PIPE_BUF. gs_ledger_close releases what is held. */
void gs_ledger_hold(gs_ledger *l);
int gs_ledger_release(gs_ledger *l, gs_error *err);
/* Safe to call twice, or on a ledger whose open failed after being zeroed. */
void gs_ledger_close(gs_ledger *l);

/* ------------------------------------------------------------------ reading */

typedef struct gs_ledger_entry {
  double time;                     /* unix seconds */
  char state[GS_LEDGER_STATE_LEN];
  char run_id[GS_MAX_RUN_ID];
  uint64_t hash;
  long epoch;                      /* -1: not known */
  long pid;
  long line;                       /* 1-based line number in the file */
  char message[512];               /* unescaped; truncated (at a UTF-8 boundary) to fit */
} gs_ledger_entry;

/* What the ledger says about one (run id, hash), over all its lines. */
typedef struct gs_ledger_summary {
  char status[GS_LEDGER_STATE_LEN]; /* the latest run state (not a note); "" if it only has notes */
  long epoch;                       /* the latest epoch >= 0 seen, -1 if none */
  double first_time;                /* time of its first line */
  double busy;                      /* seconds spent in finished attempts: each 'started' to the
                                       done/failed/diverged/interrupted that ended it (or, if the
                                       attempt vanished without one, to its last line before the
                                       next 'started') */
  double open_since;                /* time of the 'started' of the attempt still open, or -1 */
  /* the open attempt's pace: it began at epoch open_epoch0 (0, or a 'resumed' line's) at time
   * open_base, and its latest 'checkpointed' line says open_epoch at time open_epoch_time */
  long open_epoch0, open_epoch;
  double open_base, open_epoch_time;
  long attempts;                    /* 'started' lines */
  long nlines;                      /* lines about this run */
} gs_ledger_summary;

typedef struct gs_ledger_view {
  long n;                   /* distinct (run id, hash) pairs */
  gs_ledger_entry *last;    /* [n] the latest line of each pair (any state), in first-seen order */
  gs_ledger_summary *sum;   /* [n] the summary of each pair, same order */
  long nlines;              /* lines read, header and torn last line included */
  long nentries;            /* well-formed entry lines */
  long nbad;                /* malformed or torn lines skipped */
  int torn;                 /* 1: the file ended with a torn line (counted in nbad) */
  double first_time, last_time; /* min / max time stamp over the entries (0 when none) */
  /* private: open-addressing table of indices + 1, hashed on the run id alone (so every hash of
   * one run id lies on one probe sequence) */
  long *slot_;
  long cap_, alloc_;
} gs_ledger_view;

/* Read dir/ledger.log. A missing file is an empty view, not an error; an unreadable one, or one
 * written by a newer gensweep, is. Safe while other processes append. */
int gs_ledger_read(const char *dir, gs_ledger_view *v, gs_error *err);
/* Every well-formed line of dir/ledger.log, in file order (the order of the appends), to fn;
 * fn returns 0 to go on, anything else to stop (returned). A missing ledger has no lines. */
int gs_ledger_each(const char *dir, int (*fn)(const gs_ledger_entry *e, void *ctx), void *ctx, gs_error *err);
/* What was appended since the last call (a shard following the lines of the others): every
 * complete, well-formed line after the cursor to fn, as gs_ledger_each; the cursor (zeroed: the
 * start of the file) then moves past the last complete line, so a line still being written is
 * read whole next time. If fn stops the walk (non-zero, returned) the cursor does not move (fn
 * may see the lines before the one it stopped at again).
 * Another file at the path than the one read so far, or one shorter than what was read of it
 * (removed and created again), is an error. */
typedef struct gs_ledger_cursor {
  long long offset;  /* bytes read */
  long line;         /* lines read */
  unsigned long long dev, ino; /* the file read (0: none yet): another one at the path is refused */
} gs_ledger_cursor;
int gs_ledger_each_new(const char *dir, gs_ledger_cursor *cur, int (*fn)(const gs_ledger_entry *e, void *ctx),
                       void *ctx, gs_error *err);
/* Same from a buffer (tests, tools). */
int gs_ledger_parse(const char *text, size_t len, gs_ledger_view *v, gs_error *err);
/* Index of (run_id, hash) in v->last / v->sum, or -1. O(1). */
long gs_ledger_lookup(const gs_ledger_view *v, const char *run_id, uint64_t hash);
/* The latest line of (run_id, hash), or NULL. */
const gs_ledger_entry *gs_ledger_find(const gs_ledger_view *v, const char *run_id, uint64_t hash);
/* The most recently written line of run_id under any hash, or NULL. */
const gs_ledger_entry *gs_ledger_find_id(const gs_ledger_view *v, const char *run_id);
void gs_ledger_view_free(gs_ledger_view *v);

/* ------------------------------------------------------------------ states and status */

typedef enum {
  GS_LSTATE_NOTE = 0,   /* not a run state */
  GS_LSTATE_QUEUED,
  GS_LSTATE_RUNNING,    /* started, checkpointed, resumed */
  GS_LSTATE_DONE,
  GS_LSTATE_FAILED,     /* failed, diverged */
  GS_LSTATE_INTERRUPTED
} gs_lstate;

gs_lstate gs_ledger_state_class(const char *state);
/* 1 if state is a syntactically valid ledger state word. */
int gs_ledger_state_valid(const char *state);

/* Where each run of a sweep stands. */
typedef enum {
  GS_RUN_PENDING = 0,   /* no line for its id + hash (or only 'queued', or only older hashes) */
  GS_RUN_RUNNING,
  GS_RUN_DONE,
  GS_RUN_FAILED,
  GS_RUN_INTERRUPTED
} gs_run_state;

/* The state of (run_id, hash) in the view; *idx (may be NULL) gets its index or -1; *stale (may be
 * NULL) is set to 1 when there is no line for this hash but there are lines for this run id under
 * another hash (its parameters changed). */
gs_run_state gs_ledger_run_state(const gs_ledger_view *v, const char *run_id, uint64_t hash, long *idx,
                                 int *stale);

/* (For the `status` view built on these, see gensweep/runner/status.h.) */
/* Ledger-only view: 1 if index i is the most recently written hash of its run id. */
int gs_ledger_is_representative(const gs_ledger_view *v, long i);
/* Set mark[i] = 1 for every view index i whose run id is run_id (mark has v->n entries). */
void gs_ledger_mark_id(const gs_ledger_view *v, const char *run_id, char *mark);
/* The run state the summary of view index i says. */
gs_run_state gs_ledger_state_of(const gs_ledger_view *v, long i);

#endif
