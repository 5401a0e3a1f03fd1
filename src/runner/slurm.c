/* `gensweep slurm`: print a ready sbatch script (see slurm/README.md for what it does). */
#include "gensweep/runner/slurm.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

long gs_shell_quote(const char *s, char *out, size_t n) {
  size_t o = 0;
  if (n) out[0] = 0;
#define PUT(ch)                   \
  do {                            \
    if (o + 1 >= n) goto too_long; \
    out[o++] = (ch);              \
  } while (0)
  PUT('\'');
  for (const char *p = s; *p; p++) {
    if (*p == '\'') { /* close, an escaped quote, reopen */
      PUT('\'');
      PUT('\\');
      PUT('\'');
      PUT('\'');
    } else {
      PUT(*p);
    }
  }
  PUT('\'');
#undef PUT
  out[o] = 0;
  return (long)o;
too_long:
  if (n) out[0] = 0;
  return -1;
}

/* every character of v in the allowed set, and v not empty */
static int only(const char *v, const char *extra) {
  if (!v || !*v) return 0;
  for (const char *p = v; *p; p++)
    if (!(isalnum((unsigned char)*p) && (unsigned char)*p < 128) && !strchr(extra, *p)) return 0;
  return 1;
}

static int quote_into(const char *what, const char *v, char *buf, size_t n, gs_error *err) {
  if (gs_shell_quote(v, buf, n) < 0) return gs_fail(err, "%s: value too long", what);
  return 0;
}

/* Slurm time formats: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S. Seconds, or -1 if malformed. */
static long time_seconds(const char *t) {
  long v[4];
  int n = 0, day = 0;
  long days = 0;
  const char *p = t;
  for (;;) {
    if (*p < '0' || *p > '9') return -1;
    char *end;
    long x = strtol(p, &end, 10);
    if (x > 100000000) return -1;
    if (*end == '-' && !day && n == 0) {
      day = 1;
      days = x;
      p = end + 1;
      continue;
    }
    if (n == 3) return -1;
    v[n++] = x;
    if (*end == 0) break;
    if (*end != ':') return -1;
    p = end + 1;
  }
  if (day) { /* D-H, D-H:M, D-H:M:S */
    long h = v[0], m = n > 1 ? v[1] : 0, s = n > 2 ? v[2] : 0;
    return ((days * 24 + h) * 60 + m) * 60 + s;
  }
  if (n == 1) return v[0] * 60;                      /* minutes */
  if (n == 2) return v[0] * 60 + v[1];               /* M:S */
  return (v[0] * 60 + v[1]) * 60 + v[2];             /* H:M:S */
}

int gs_slurm_script(const gs_sweep *sw, const gs_slurm_options *o, FILE *out, gs_error *err) {
  /* #SBATCH lines are parsed by sbatch, not a shell: strict characters instead of quoting */
  if (!only(o->time, ":-") || o->time[0] == '-')
    return gs_fail(err, "--time '%s': expected minutes, MM:SS, HH:MM:SS or D-HH:MM:SS (digits, ':' and '-')",
                   o->time ? o->time : "");
  if (o->partition && (!only(o->partition, "_-.,") || o->partition[0] == '-'))
    return gs_fail(err, "--partition '%s': a partition name is letters, digits, '_', '-', '.' (',' between several)",
                   o->partition);
  if (o->account && (!only(o->account, "_-.") || o->account[0] == '-'))
    return gs_fail(err, "--account '%s': an account name is letters, digits, '_', '-' and '.'", o->account);
  if (o->ntasks < 1 || o->ntasks > 1000000) return gs_fail(err, "--ntasks %ld: must be >= 1", o->ntasks);
  if (o->nodes < 0 || o->nodes > o->ntasks)
    return gs_fail(err, "--nodes %ld: must be between 1 and --ntasks (%ld)", o->nodes, o->ntasks);
  if (o->array < 0 || o->array > 100000) return gs_fail(err, "--array %ld: must be between 1 and 100000", o->array);
  if (o->array > sw->nruns)
    return gs_fail(err, "--array %ld: more shards than the sweep's %ld runs (some would have nothing to do)", o->array,
                   sw->nruns);
  if (o->margin < 10) return gs_fail(err, "--margin %ld: at least 10 seconds", o->margin);
  long limit = time_seconds(o->time);
  if (limit < 0)
    return gs_fail(err, "--time '%s': expected minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS", o->time);
  if (limit > 0 && o->margin >= limit)
    return gs_fail(err, "--margin %ld s is not below --time %s (%ld s): the checkpoint signal would come as soon as "
                        "the job starts",
                   o->margin, o->time, limit);
  long ranks_per_run = o->ranks_per_run > 0 ? o->ranks_per_run : sw->base.ranks_per_run;
  if (ranks_per_run > 0 && o->ntasks % ranks_per_run != 0)
    return gs_fail(err, "--ntasks %ld is not a multiple of ranks_per_run = %ld", o->ntasks, ranks_per_run);

  char qexp[4200], qbin[4200], qres[4200] = "", arg[64];
  if (quote_into("experiment file", o->experiment, qexp, sizeof qexp, err) != 0) return -1;
  if (quote_into("gensweep path", o->gensweep, qbin, sizeof qbin, err) != 0) return -1;
  if (o->results && quote_into("--results", o->results, qres, sizeof qres, err) != 0) return -1;
  const char *name = sw->base.sweep_name; /* checked at load: letters, digits, '.', '_', '-' */
  const char *tag = o->array ? "gensweep-array.sbatch" : "gensweep.sbatch";

  /* the path in the comment with control characters shown as '?': a newline in a file name
   * must not end the comment (and the #SBATCH block with it) */
  char shown[1100];
  size_t k = 0;
  for (const char *c = o->experiment; *c && k + 1 < sizeof shown; c++)
    shown[k++] = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
  shown[k] = 0;
  fprintf(out, "#!/bin/bash\n");
  fprintf(out, "# Written by `gensweep slurm` for sweep %s (%ld run%s) from %s.\n", name, sw->nruns,
          sw->nruns == 1 ? "" : "s", shown);
  fprintf(out, "# Submit with: sbatch THIS_FILE   (see slurm/README.md of gensweep)\n");
  fprintf(out, "#SBATCH --job-name=gs-%s\n", name);
  fprintf(out, "#SBATCH --ntasks=%ld\n", o->ntasks);
  if (o->nodes > 0) fprintf(out, "#SBATCH --nodes=%ld\n", o->nodes);
  fprintf(out, "#SBATCH --cpus-per-task=1\n");
  fprintf(out, "#SBATCH --time=%s\n", o->time);
  if (o->partition) fprintf(out, "#SBATCH --partition=%s\n", o->partition);
  if (o->account) fprintf(out, "#SBATCH --account=%s\n", o->account);
  if (o->array) fprintf(out, "#SBATCH --array=0-%ld\n#SBATCH --output=gs-%s-%%A_%%a.out\n", o->array - 1, name);
  else fprintf(out, "#SBATCH --output=gs-%s-%%j.out\n", name);
  fprintf(out, "#SBATCH --open-mode=append\n#SBATCH --requeue\n#SBATCH --signal=B:USR1@%ld\n\n", o->margin);

  fprintf(out,
          "# the trap first: a USR1 that reaches bash without one kills the script\n"
          "stop_requested=0\n"
          "pid=\n"
          "resender=\n"
          "launched=0\n"
          "# USR1 to the step at once, but not before it has run GENSWEEP_SIGNAL_DELAY (10) s (srun\n"
          "# drops a signal that comes before the tasks are launched; a task without gensweep's\n"
          "# handler yet would die of it), then every 10 s until it ends (gensweep takes repeats)\n"
          "forward() {\n"
          "  [ -n \"$resender\" ] && return\n"
          "  ( w=$((launched + ${GENSWEEP_SIGNAL_DELAY:-10} - SECONDS)); if [ \"$w\" -gt 0 ]; then sleep \"$w\"; fi\n"
          "    while kill -USR1 \"$pid\" 2>/dev/null; do sleep 10; done ) &\n"
          "  resender=$!\n"
          "}\n"
          "on_usr1() {\n"
          "  [ \"$stop_requested\" = 1 ] && return\n"
          "  stop_requested=1\n"
          "  echo \"%s: $(date '+%%F %%T') SIGUSR1: checkpointing every run, then requeueing\"\n"
          "  if [ -n \"$pid\" ]; then forward; fi\n"
          "}\n"
          "trap on_usr1 USR1\n\n"
          "set -u\n"
          "GENSWEEP=${GENSWEEP:-%s}\n"
          "MAX_RESTARTS=${GENSWEEP_MAX_RESTARTS:-50}\n",
          tag, qbin);
  fprintf(out, "set -- %s", qexp);
  for (int i = 0; i < o->noverrides; i++) {
    char q[4200];
    if (quote_into("override", o->overrides[i], q, sizeof q, err) != 0) return -1;
    fprintf(out, " %s", q);
  }
  if (o->results) fprintf(out, " --results %s", qres);
  if (o->ranks_per_run > 0) {
    snprintf(arg, sizeof arg, "%ld", o->ranks_per_run);
    fprintf(out, " --ranks-per-run %s", arg);
  }
  if (o->array) fprintf(out, " --shard \"$SLURM_ARRAY_TASK_ID/%ld\"", o->array);
  fprintf(out, "\n");
  fprintf(out,
          "echo \"%s: job ${SLURM_JOB_ID:-?} start ${SLURM_RESTART_COUNT:-0}: $GENSWEEP run $*\"\n\n"
          "rc=3\n"
          "if [ \"$stop_requested\" = 0 ]; then\n"
          "  # without srun's PMIx plugin: mpirun \"$GENSWEEP\" run \"$@\" &\n"
          "  srun --mpi=pmix --kill-on-bad-exit=0 --wait=60 \"$GENSWEEP\" run \"$@\" &\n"
          "  pid=$!\n"
          "  launched=$SECONDS\n"
          "  if [ \"$stop_requested\" = 1 ]; then forward; fi\n"
          "  while :; do\n"
          "    wait \"$pid\"\n"
          "    kill -0 \"$pid\" 2>/dev/null || break\n"
          "  done\n"
          "  wait \"$pid\"\n"
          "  rc=$?\n"
          "  if [ -n \"$resender\" ]; then kill \"$resender\" 2>/dev/null; fi\n"
          "fi\n"
          "if [ \"$rc\" = 3 ] && [ \"$stop_requested\" = 1 ]; then\n"
          "  if [ \"${SLURM_RESTART_COUNT:-0}\" -ge \"$MAX_RESTARTS\" ]; then\n"
          "    echo \"%s: restarted $MAX_RESTARTS times already: not requeueing\"\n"
          "    exit 3\n"
          "  fi\n"
          "  echo \"%s: $(date '+%%F %%T') checkpointed; requeueing job $SLURM_JOB_ID\"\n"
          "  scontrol requeue \"$SLURM_JOB_ID\" || { echo \"%s: scontrol requeue failed: the runs stay "
          "checkpointed; submit the script again\"; exit 3; }\n"
          "  exit 0\n"
          "fi\n"
          "echo \"%s: $(date '+%%F %%T') gensweep exited with status $rc\"\n"
          "exit \"$rc\"\n",
          tag, tag, tag, tag, tag);
  return ferror(out) ? gs_fail(err, "cannot write the script") : 0;
}
