/* gensweep: command-line entry. The only place that exits. */
#include <cblas.h>
#include <getopt.h>
#include <signal.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gensweep/config/config.h"
#include "gensweep/io/ledger.h"
#include "gensweep/io/pcrender.h"
#include "gensweep/runner/status.h"
#include "gensweep/report/report.h"
#include "gensweep/runner/runner.h"
#include "gensweep/runner/slurm.h"
#include "gensweep/models/model.h"

static const char *usage_main =
    "usage: gensweep [--help] [--version] COMMAND [ARGS]\n"
    "\n"
    "Run whole sweeps of generative-model experiments as one MPI job and keep every result in HDF5.\n"
    "\n"
    "commands:\n"
    "  run FILE      train every run of the experiment file's grid; finished runs are skipped\n"
    "  plan FILE     print the expanded runs without running them\n"
    "  status DIR    where a sweep stands: done/running/failed/pending, ETA (DIR = results/<sweep>)\n"
    "  report DIR    tables (mean +- std over seeds) and plots of a sweep into DIR/report/\n"
    "  rebuild DIR   rebuild DIR/sweep.h5 from the run files (DIR = results/<sweep>)\n"
    "  keys          list every experiment-file key with its type, range and default\n"
    "  slurm FILE    print a ready sbatch script for the sweep (one allocation or a job array)\n"
    "  ply RUNFILE   write a point-cloud run's clouds as PLY files for a 3-D viewer\n"
    "\n"
    "`gensweep COMMAND --help` describes a command. Results go to <sweep.results>/<sweep.name>/:\n"
    "sweep.h5 (index: experiment text, grid table, external links to every run), runs/<run-id>.h5,\n"
    "png/<run-id>_*.png. Read them with h5ls -r, h5py or the HDF5 C API.\n"
    "\n"
    "MPI: gensweep works as a singleton (`gensweep run FILE`) and under `mpirun -np N` / `srun`:\n"
    "rank 0 hands runs out (costliest first) to worker groups of ranks_per_run ranks, which train\n"
    "data-parallel; rank 0 is itself a worker, so every rank trains.\n";

static const char *usage_run =
    "usage: gensweep run FILE [section.key=value ...] [--results DIR] [--ranks-per-run N] [--threads N]\n"
    "                    [--shard I/N] [--quiet]\n"
    "       mpirun -np N gensweep run FILE ...\n"
    "       srun --mpi=pmix gensweep run FILE ...      (inside a Slurm allocation; see slurm/README.md)\n"
    "\n"
    "Train every run of FILE's grid and write\n"
    "  DIR/<sweep>/runs/<run-id>.h5   (written to a temporary name, renamed when complete)\n"
    "  DIR/<sweep>/png/<run-id>_*.png (prior samples, reconstructions, latent manifold for 2-D latents)\n"
    "  DIR/<sweep>/sweep.h5           (rebuilt after every run)\n"
    "Running the same file again skips runs that are done with the same parameters, and re-runs\n"
    "failed runs and runs whose parameters changed. A run that fails or diverges (NaN loss) is\n"
    "recorded as such with its message and the sweep goes on; a diverged run is kept (delete its run\n"
    "file to retry it), a failed one is retried.\n"
    "\n"
    "Interruptions: every run checkpoints to DIR/<sweep>/ckpt/<run-id>.h5 every\n"
    "train.checkpoint_every epochs. Ctrl-C, SIGTERM or SIGUSR1 make every group checkpoint at its\n"
    "next step and the job exit (a second Ctrl-C or SIGTERM: at once; repeated SIGUSR1s, as a batch\n"
    "system may send, change nothing); after any interruption (also kill -9 or a lost node) the same\n"
    "command resumes: done runs are skipped, interrupted runs continue from their checkpoint and\n"
    "end with the numbers of an uninterrupted run. Every state change is appended to\n"
    "DIR/<sweep>/ledger.log.\n"
    "\n"
    "Overrides: section.key=value after FILE sets a key as if the file said so (its own line for\n"
    "that key is set aside); a comma list makes a grid axis (model.latent_dim=2,4,8), except for\n"
    "keys that hold text (probe.features=model,untrained is one value). Messages name the argument.\n"
    "The results directory keeps the effective experiment (DIR/<sweep>/experiment.ini), so status,\n"
    "rebuild and report need no overrides; other overrides on the same sweep are other runs by\n"
    "their hashes, as an edited file is.\n"
    "\n"
    "Exit status: 0 every run done; 1 some run failed or diverged; 2 the sweep could not run (bad\n"
    "file, data, disk, MPI world); 3 interrupted, or some run was being trained by another process\n"
    "(run it again to resume).\n"
    "\n"
    "options:\n"
    "  --results DIR   results root (default: the file's sweep.results, \"results\")\n"
    "  --ranks-per-run N  ranks that train one run together, data-parallel (default:\n"
    "                  train.ranks_per_run, 1); the MPI world size must be a multiple of it\n"
    "  --threads N     OpenBLAS threads per rank (default: train.threads, 1)\n"
    "  --shard I/N     only shard I of N, 0 <= I < N: one task of a job array\n"
    "                  (slurm/sweep-array.sbatch). The grid is split by estimated cost, costliest\n"
    "                  run first to the least loaded shard (`gensweep plan FILE --shards N`). Shards may\n"
    "                  run at once on one results directory; each rebuilds sweep.h5 with every run\n"
    "                  file there, so the last to finish leaves the whole sweep in it. Under\n"
    "                  sweep.scheduler the shards share the one scheduler instead of splitting\n"
    "                  the grid: each takes the next decision when a group is free\n"
    "  --quiet         no per-epoch lines, no live status\n"
    "  --progress-every S  without a terminal (a Slurm log): a progress line every S seconds\n"
    "                  (default 60); on a terminal a live status line is redrawn instead\n"
    "  -h, --help      this text\n";

static const char *usage_plan =
    "usage: gensweep plan FILE [section.key=value ...] [--shards N]\n"
    "\n"
    "Load and check FILE, expand its [grid] (cartesian product, first axis slowest) and print one\n"
    "line per run: index, run id and the swept values. Nothing is trained or written. Errors in the\n"
    "file are reported as FILE:LINE: message, with a did-you-mean for misspelt keys; overrides as\n"
    "`gensweep run` takes them.\n"
    "\n"
    "  --shards N   also show which of N shards (gensweep run --shard I/N, a job array) trains each\n"
    "               run, and each shard's runs and share of the estimated cost\n";

static const char *usage_rebuild =
    "usage: gensweep rebuild DIR\n"
    "\n"
    "Rebuild DIR/sweep.h5 (DIR = results/<sweep>) from the sweep's copy of its experiment file\n"
    "(DIR/experiment.ini, written by `run`) and the run files under DIR/runs/. sweep.h5 is derived\n"
    "data: this is safe at any time, also while the sweep runs. Every run file is read whole and its\n"
    "checksum checked: a corrupt one is reported (naming the run and the file), listed with status\n"
    "\"corrupt\" and left out; the exit status is then 1.\n";

static const char *usage_status =
    "usage: gensweep status DIR\n"
    "\n"
    "Where a sweep stands (DIR = results/<sweep>), from its ledger (DIR/ledger.log) and its copy of\n"
    "the experiment file: runs done / running / failed / interrupted / pending of the total,\n"
    "elapsed time and an ETA, and a line for every running, interrupted or failed run with its\n"
    "last epoch and message. Only reads: safe while the sweep runs in another job.\n"
    "It also reads every run file, the checkpoints of unfinished runs and sweep.h5 whole and checks\n"
    "their checksums: a truncated or bit-flipped file gets a line naming the run and the file, and\n"
    "the exit status is 1.\n";

static const char *usage_report =
    "usage: gensweep report DIR [--metric NAME] [--x AXIS] [--latex] [--no-plots]\n"
    "\n"
    "Aggregate a sweep (DIR = results/<sweep>) into DIR/report/: for each combination of the\n"
    "swept axes other than seeds (axes named *seed), the final metrics as mean +- std over the\n"
    "seeds, as summary.md (also printed) and summary.csv; plots as PNG: per-epoch curves of every\n"
    "run (curves_<metric>.png) and the headline metric against the swept numeric axis, one line\n"
    "per value of the other axes, with error bars (<metric>_vs_<axis>.png). Plots an earlier report\n"
    "drew that this one does not (listed in report/.plots) are removed; nothing else is touched.\n"
    "\n"
    "options:\n"
    "  --metric NAMES  headline metric, or several separated by commas, each plotted against the axis\n"
    "                  (default test_neg_elbo; for CAE sweeps sigmasq, then sigmasq_ratio, collapsed,\n"
    "                  the mixture's K, purity and judge share after retraining and at the IGMN pass,\n"
    "                  test_bce; else the first final metric). With more than 8 metrics, summary.md\n"
    "                  shows these in a table of their own before the table of all\n"
    "  --x AXIS        axis for the x of the headline plot (default: first numeric non-seed axis)\n"
    "  --latex         also write summary.tex (booktabs)\n"
    "  --no-plots      tables only\n";

static const char *usage_slurm =
    "usage: gensweep slurm FILE [section.key=value ...] [--ntasks N] [--nodes N] [--time T] [--partition P] [--account A]\n"
    "                      [--array N] [--results DIR] [--ranks-per-run N] [--margin S] [-o SCRIPT]\n"
    "\n"
    "Print an sbatch script that runs FILE's sweep (the body of slurm/sweep.sbatch, or with --array\n"
    "of slurm/sweep-array.sbatch) with the values filled in: `gensweep slurm x.ini > x.sbatch;\n"
    "sbatch x.sbatch`. The script checkpoints every run and requeues itself on SIGUSR1 (sent --margin\n"
    "seconds before the time limit) and resumes on restart. Paths (this gensweep, FILE, the results\n"
    "root) are written absolute and single-quoted; values of #SBATCH lines are checked instead\n"
    "(sbatch reads them without a shell).\n"
    "\n"
    "options:\n"
    "  --ntasks N      MPI ranks (per shard with --array; default 1 with --array, else 2)\n"
    "  --nodes N       nodes (default: Slurm's choice)\n"
    "  --time T        time limit, e.g. 04:00:00 or 2-00:00:00 (default 04:00:00)\n"
    "  --partition P, --account A\n"
    "  --array N       a job array of N shards (gensweep run --shard i/N), 1 <= N <= runs\n"
    "  --results DIR   results root (default: the file's sweep.results), made absolute\n"
    "  --ranks-per-run N  passed on to gensweep run; --ntasks must be a multiple of it\n"
    "  --margin S      seconds before the limit for the checkpoint signal (default 300)\n"
    "  -o SCRIPT       write to SCRIPT instead of standard output\n";

static const char *usage_keys =
    "usage: gensweep keys\n"
    "\n"
    "List every key an experiment file may set, per section, with type, valid range or choices,\n"
    "default, and meaning. Any key may also be a [grid] axis: `section.key = v1, v2, ...`.\n";

static const char *usage_ply =
    "usage: gensweep ply RUNFILE [--array NAME] [--clouds I,J,...] [-o DIR]\n"
    "\n"
    "Write point clouds of a point-cloud model's run file (DIR/<sweep>/runs/<run-id>.h5) as PLY files\n"
    "a 3-D viewer opens (MeshLab, CloudCompare, Blender): /pointclouds/NAME (default recon_output;\n"
    "also recon_input, prior, interp, halves) clouds I, J, ... (default all) to\n"
    "DIR/<run-id>_<NAME>_<i>.ply (DIR default: the current directory), binary little-endian float\n"
    "x y z, the header naming the run and the cloud.\n";

static int wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
  return 0;
}

static int rank0;

static int die(int code, const char *fmt, const char *msg) {
  if (rank0) {
    fprintf(stderr, fmt, msg);
    fflush(stderr);
  }
  return code;
}

static void print_keys(void) {
  const gs_vocabulary *v = gs_models_vocabulary();
  /* section by section (keys added since gensweep 0.1 come late in the canonical order) */
  for (int si = 0; si < v->nsections; si++)
  for (int i = 0; i < v->nkeys; i++) {
    const gs_key *k = v->keys[i];
    if (strcmp(v->sections[si], k->section) != 0) continue;
    int first = 1;
    for (int j = 0; j < i; j++) first &= strcmp(v->keys[j]->section, k->section) != 0;
    if (first) printf("%s[%s]\n", si ? "\n" : "", k->section);
    char range[128] = "";
    switch (k->type) {
      case GS_KEY_INT: snprintf(range, sizeof range, "integer in [%.0f, %.0f]", k->min, k->max); break;
      case GS_KEY_FLOAT:
        snprintf(range, sizeof range, "number in %c%g, %g%c", k->min_open ? '(' : '[', k->min, k->max,
                 k->max_open ? ')' : ']');
        break;
      case GS_KEY_STRING: snprintf(range, sizeof range, "text"); break;
      case GS_KEY_ENUM: snprintf(range, sizeof range, "one of %s", k->choices); break;
    }
    char own[512] = "";
    size_t o = 0;
    for (int d = 0; d < v->ndefaults && o < sizeof own; d++)
      if (v->keys[v->defaults[d].key] == k)
        o += (size_t)snprintf(own + o, sizeof own - o, "%s%s %s", o ? ", " : " (", v->models[v->defaults[d].model].model,
                              v->defaults[d].value);
    if (o && o < sizeof own - 1) snprintf(own + o, sizeof own - o, ")");
    printf("  %-18s %s; default %s%s\n  %-18s %s\n", k->name, range, k->def && *k->def ? k->def : "\"\"", own, "",
           k->help ? k->help : "");
  }
}

/* First SIGINT / SIGTERM / SIGUSR1: checkpoint at the next step and exit cleanly. A second
 * SIGINT or SIGTERM while stopping: leave at once (the last checkpoints are on disk). SIGUSR1 is
 * the batch system's "checkpoint and exit" and may come more than once (Slurm signals a batch
 * step's whole process tree while the script also forwards it to srun): a repeat only asks for
 * what is already under way. */
static void on_stop_signal(int sig) {
  if (sig == SIGUSR1) {
    gs_stop_requested = 1;
    return;
  }
  if (gs_stop_requested) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  gs_stop_requested = 1;
}

static void install_stop_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART; /* installed before MPI_Init: its start-up calls must not see EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
}

static int cmd_run(int argc, char **argv, int rank, int size) {
  gs_run_options opt = {.log = stdout};
  static struct option lo[] = {{"results", required_argument, 0, 'r'}, {"threads", required_argument, 0, 't'},
                               {"ranks-per-run", required_argument, 0, 'g'}, {"quiet", no_argument, 0, 'q'},
                               {"progress-every", required_argument, 0, 'p'},
                               {"shard", required_argument, 0, 's'},
                               {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "r:t:g:p:s:qh", lo, NULL)) != -1) {
    switch (c) {
      case 'r': opt.results = optarg; break;
      case 't': opt.threads = atoi(optarg); if (opt.threads < 1) return die(2, "gensweep run: --threads must be >= 1, got %s\n", optarg); break;
      case 'g':
        opt.ranks_per_run = atoi(optarg);
        if (opt.ranks_per_run < 1) return die(2, "gensweep run: --ranks-per-run must be >= 1, got %s\n", optarg);
        break;
      case 'q': opt.quiet = 1; break;
      case 'p':
        opt.progress_every = atof(optarg);
        if (!(opt.progress_every > 0)) return die(2, "gensweep run: --progress-every must be > 0 seconds, got %s\n", optarg);
        break;
      case 's': {
        gs_error e = {0};
        if (gs_parse_shard(optarg, &opt.shard, &opt.nshards, &e) != 0) return die(2, "gensweep run: %s\n", e.msg);
        break;
      }
      case 'h': if (rank == 0) fputs(usage_run, stdout); return 0;
      default: return die(2, "%s", usage_run);
    }
  }
  if (optind >= argc) return die(2, "gensweep run: expected one experiment file\n\n%s", usage_run);
  for (int i = optind + 1; i < argc; i++)
    if (!strchr(argv[i], '='))
    {
      if (rank0) fprintf(stderr, "gensweep run: unexpected argument '%s' (one experiment file, then section.key=value "
                                 "overrides)\n\n%s", argv[i], usage_run);
      return 2;
    }
  gs_sweep sw;
  gs_error err = {0};
  /* Every rank reads the file; they must all have read it, and the same text (a node-local path,
   * NFS lag or a file saved while the job started would otherwise leave some ranks waiting for
   * the others forever, or running a different grid). */
  int ok = gs_sweep_load_overrides(argv[optind], gs_models_vocabulary(), argc - optind - 1, argv + optind + 1, &sw,
                                   &err) == 0,
      all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all_ok) {
    if (!ok && rank == 0) fprintf(stderr, "gensweep: %s\n", err.msg);
    else if (!ok) fprintf(stderr, "gensweep (rank %d): %s\n", rank, err.msg);
    if (ok) {
      if (rank == 0) fprintf(stderr, "gensweep: other ranks could not load %s (their messages are above)\n", argv[optind]);
      gs_sweep_free(&sw);
    }
    return 2;
  }
  uint64_t h = gs_hash64(sw.text, strlen(sw.text), GS_HASH_INIT), h0 = h;
  MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  int same = h0 == h, all_same = 0;
  MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all_same) {
    if (rank == 0)
      fprintf(stderr, "gensweep: the ranks read different versions of %s (was it changed while the job started?); "
                      "start the job again\n", argv[optind]);
    gs_sweep_free(&sw);
    return 2;
  }
  int threads = opt.threads ? opt.threads : (int)sw.base.threads;
  openblas_set_num_threads(threads);
  int rc = 0;
  gs_sweep_outcome out;
  if (gs_sweep_run(&sw, &opt, &out, &err) != 0) {
    if (rank == 0) fprintf(stderr, "gensweep: %s\n", err.msg);
    rc = 2;
  } else if (out.config_error) {
    rc = 2;
  } else if (out.interrupted || out.busy) {
    rc = 3;
  } else if (out.failed) {
    rc = 1;
  }
  gs_dataset_cache_clear();
  gs_sweep_free(&sw);
  return rc;
}

static int cmd_plan(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    fputs(usage_plan, stdout);
    return 0;
  }
  long nshards = 0;
  const char *file = NULL;
  char **ovr = gs_calloc((size_t)argc, sizeof(char *));
  int novr = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--shards") == 0 || strncmp(argv[i], "--shards=", 9) == 0) {
      const char *v = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[++i] : "");
      char *end = NULL;
      nshards = strtol(v, &end, 10);
      if (!*v || *end || nshards < 1 || nshards > 100000) {
        free(ovr);
        return die(2, "gensweep plan: --shards must be an integer in 1..100000, got '%s'\n", v);
      }
    } else if (!file && argv[i][0] != '-') {
      file = argv[i];
    } else if (file && argv[i][0] != '-' && strchr(argv[i], '=')) {
      ovr[novr++] = argv[i];
    } else {
      free(ovr);
      fprintf(stderr, "gensweep plan: unexpected argument '%s'\n\n", argv[i]);
      return die(2, "%s", usage_plan);
    }
  }
  gs_sweep sw;
  gs_error err = {0};
  int loaded = file ? gs_sweep_load_overrides(file, gs_models_vocabulary(), novr, ovr, &sw, &err) : -1;
  free(ovr);
  if (!file) return die(2, "gensweep plan: expected one experiment file\n\n%s", usage_plan);
  if (loaded != 0) return die(2, "gensweep: %s\n", err.msg);
  /* under a scheduler shards do not split the grid: they share the scheduler */
  int *owner = nshards && !gs_sweep_has_scheduler(&sw) ? gs_shard_owners(&sw, (int)nshards) : NULL;
  gs_sweep_print_plan(&sw, owner, stdout);
  /* the models' cost estimates are the arithmetic of their layers (2 x multiply-adds, forward
   * and backward) over the run's images: in core-hours at the pace measured on this project's
   * machines (tests/bench: MLP GAN ~98, dcgan1 ~77 GFLOP/s at one thread) */
  double work = 0, largest = 0;
  for (long r = 0; r < sw.nruns; r++) {
    double c = gs_run_cost(&sw.runs[r]);
    work += c;
    largest = c > largest ? c : largest;
  }
  if (work > 0) {
    const double rate = 80e9;
    printf("\nestimated training work: %.3g TFLOP (largest run %.3g TFLOP): about %.2g core-hours at %.0f GFLOP/s per "
           "core (sample quality and linear probes estimated roughly; other evaluation not counted)\n", work / 1e12, largest / 1e12, work / rate / 3600, rate / 1e9);
  }
  if (gs_sweep_has_scheduler(&sw) && sw.nruns > 0) {
    /* early stopping: the rungs, and what synchronous successive halving trains at most */
    const gs_config *b = &sw.base;
    long E = gs_model_epochs(&sw.runs[0].cfg), rungs[GS_SCHED_MAX_RUNGS];
    int K = gs_sched_rungs(b->sched_min_resource < E ? b->sched_min_resource : E, E, b->sched_reduction, rungs,
                           GS_SCHED_MAX_RUNGS);
    printf("\nearly stopping: %s on %s (%s), eta %ld, rungs at epochs", b->scheduler,
           b->sched_metric[0] ? b->sched_metric : "the model's headline metric", b->sched_mode, b->sched_reduction);
    for (int k = 0; k < K && k < GS_SCHED_MAX_RUNGS; k++) printf(" %ld", rungs[k]);
    long n = sw.nruns, epochs = 0, prev = 0;
    for (int k = 0; k < K && k < GS_SCHED_MAX_RUNGS && n > 0; k++) {
      epochs += n * (rungs[k] - prev);
      prev = rungs[k];
      n = n / b->sched_reduction > 0 ? n / b->sched_reduction : 1;
    }
    printf("\n  sha trains %ld run-epochs of the full sweep's %ld (%.0f %%); asha about as many\n", epochs,
           sw.nruns * E, 100.0 * (double)epochs / (double)(sw.nruns * E));
    if (nshards > 1)
      printf("  %ld shards share the scheduler: the grid is not split; each shard takes the next decision when one "
             "of its groups is free\n", nshards);
  }
  if (owner) {
    /* what each shard of `--shard i/N` gets: runs and share of the estimated cost */
    double total = 0, *cost = gs_malloc(sizeof(double) * nshards);
    long *runs = gs_malloc(sizeof(long) * nshards);
    for (long s = 0; s < nshards; s++) cost[s] = 0, runs[s] = 0;
    for (long r = 0; r < sw.nruns; r++) {
      double c = gs_run_cost(&sw.runs[r]);
      cost[owner[r]] += c, runs[owner[r]]++, total += c;
    }
    printf("\n%5s  %5s  %s\n", "shard", "runs", "estimated cost (share of the sweep)");
    for (long s = 0; s < nshards; s++)
      printf("%5ld  %5ld  %.1f %%\n", s, runs[s], total > 0 ? 100.0 * cost[s] / total : 0.0);
    free(cost), free(runs), free(owner);
  }
  gs_sweep_free(&sw);
  return 0;
}

static int cmd_rebuild(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    fputs(usage_rebuild, stdout);
    return 0;
  }
  if (argc != 2) return die(2, "gensweep rebuild: expected one sweep directory\n\n%s", usage_rebuild);
  gs_error err = {0};
  gs_sweep sw;
  if (gs_sweep_load_copy(argv[1], &sw, &err) != 0) return die(2, "gensweep: %s\n", err.msg);
  int rc = 0;
  char old[1200];
  snprintf(old, sizeof old, "%s/sweep.h5", argv[1]);
  gs_error oerr = {0};
  if (access(old, F_OK) == 0 && gs_sweepfile_verify(old, &oerr) != 0)
    printf("the old sweep.h5 is corrupt, replacing it: %s\n", oerr.msg);
  long ncorrupt = 0;
  if (gs_sweepfile_write_log(argv[1], &sw, stdout, &ncorrupt, &err) != 0) {
    rc = die(2, "gensweep: %s\n", err.msg);
  } else {
    printf("rebuilt %s/sweep.h5 from %s/experiment.ini and %ld run slots\n", argv[1], argv[1], sw.nruns);
    if (ncorrupt) {
      printf("%ld corrupt run file%s left out (status \"corrupt\" in /grid); running the sweep again trains %s again\n",
             ncorrupt, ncorrupt == 1 ? "" : "s", ncorrupt == 1 ? "that run" : "those runs");
      rc = 1;
    }
  }
  gs_sweep_free(&sw);
  return rc;
}

static int cmd_status(int argc, char **argv) {
  if (argc != 2) return die(2, "gensweep status: expected one sweep directory\n\n%s", usage_status);
  gs_error err = {0};
  int rc = gs_status_print(argv[1], stdout, &err);
  if (rc < 0) return die(2, "gensweep: %s\n", err.msg);
  return rc; /* 1: some file is corrupt */
}

static int cmd_report(int argc, char **argv) {
  gs_report_options o = {0};
  static struct option lo[] = {{"metric", required_argument, 0, 'm'}, {"x", required_argument, 0, 'x'},
                               {"latex", no_argument, 0, 'l'}, {"no-plots", no_argument, 0, 'n'},
                               {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "m:x:lnh", lo, NULL)) != -1) {
    switch (c) {
      case 'm': o.metric = optarg; break;
      case 'x': o.x_axis = optarg; break;
      case 'l': o.latex = 1; break;
      case 'n': o.no_plots = 1; break;
      case 'h': fputs(usage_report, stdout); return 0;
      default: return die(2, "%s", usage_report);
    }
  }
  if (optind != argc - 1) return die(2, "gensweep report: expected one sweep directory\n\n%s", usage_report);
  gs_error err = {0};
  if (gs_report(argv[optind], &o, stdout, &err) != 0) return die(2, "gensweep: %s\n", err.msg);
  return 0;
}

/* A task of an srun step that has no process-management interface (srun --mpi=none, or a
 * cluster whose MpiDefault is none): this Open MPI (PMIx, no PMI-1/2) aborts inside MPI_Init
 * with a long message about building Open MPI; and a library that did start would make every
 * task a singleton running the whole sweep. Say what to do instead, before MPI_Init. */
static int srun_without_pmi(void) {
  if (!getenv("SLURM_STEP_ID") || !getenv("SLURM_PROCID")) return 0;  /* not an srun step */
  const char *pmi[] = {"PMIX_RANK", "PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_FD"};
  for (size_t i = 0; i < sizeof pmi / sizeof *pmi; i++)
    if (getenv(pmi[i])) return 0;
  const char *nt = getenv("SLURM_STEP_NUM_TASKS");
  if (!nt) nt = getenv("SLURM_NTASKS");
  if (atoi(getenv("SLURM_PROCID")) == 0)
    fprintf(stderr,
            "gensweep: Slurm started %s task%s of this step without PMIx (srun --mpi=none, or MpiDefault=none), so "
            "they cannot form one MPI world and each would run the whole sweep. Launch with `srun --mpi=pmix "
            "gensweep run ...` (this Open MPI has PMIx, not PMI-2) or with `mpirun gensweep run ...` inside the "
            "allocation\n",
            nt ? nt : "1", nt && atoi(nt) == 1 ? "" : "s");
  return 1;
}

/* path made absolute against the current directory (it need not exist yet) */
static char *absolute(const char *p) {
  if (p[0] == '/') return gs_strdup(p);
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) return gs_strdup(p);
  size_t n = strlen(cwd) + strlen(p) + 2;
  char *r = gs_malloc(n);
  snprintf(r, n, "%s/%s", cwd, p);
  return r;
}

static int cmd_slurm(int argc, char **argv) {
  gs_slurm_options o = {.time = "04:00:00", .margin = 300};
  const char *outpath = NULL, *results = NULL;
  long ntasks = 0;
  static struct option lo[] = {{"ntasks", required_argument, 0, 'n'}, {"nodes", required_argument, 0, 'N'},
                               {"time", required_argument, 0, 't'}, {"partition", required_argument, 0, 'p'},
                               {"account", required_argument, 0, 'A'}, {"array", required_argument, 0, 'a'},
                               {"results", required_argument, 0, 'r'}, {"ranks-per-run", required_argument, 0, 'g'},
                               {"margin", required_argument, 0, 'm'}, {"help", no_argument, 0, 'h'},
                               {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "n:N:t:p:A:a:r:g:m:o:h", lo, NULL)) != -1) {
    char *end = NULL;
    long v = optarg ? strtol(optarg, &end, 10) : 0;
    int bad_int = optarg && (end == optarg || *end);
    switch (c) {
      case 'n': if (bad_int || v < 1) return die(2, "gensweep slurm: --ntasks must be an integer >= 1, got %s\n", optarg); ntasks = v; break;
      case 'N': if (bad_int || v < 1) return die(2, "gensweep slurm: --nodes must be an integer >= 1, got %s\n", optarg); o.nodes = v; break;
      case 'a': if (bad_int || v < 1) return die(2, "gensweep slurm: --array must be an integer >= 1, got %s\n", optarg); o.array = v; break;
      case 'g': if (bad_int || v < 1) return die(2, "gensweep slurm: --ranks-per-run must be an integer >= 1, got %s\n", optarg); o.ranks_per_run = v; break;
      case 'm': if (bad_int || v < 1) return die(2, "gensweep slurm: --margin must be whole seconds, got %s\n", optarg); o.margin = v; break;
      case 't': o.time = optarg; break;
      case 'p': o.partition = optarg; break;
      case 'A': o.account = optarg; break;
      case 'r': results = optarg; break;
      case 'o': outpath = optarg; break;
      case 'h': fputs(usage_slurm, stdout); return 0;
      default: return die(2, "%s", usage_slurm);
    }
  }
  if (optind >= argc) return die(2, "gensweep slurm: expected one experiment file\n\n%s", usage_slurm);
  for (int i = optind + 1; i < argc; i++)
    if (!strchr(argv[i], '='))
    {
      if (rank0) fprintf(stderr, "gensweep slurm: unexpected argument '%s' (one experiment file, then section.key=value "
                                 "overrides)\n\n%s", argv[i], usage_slurm);
      return 2;
    }
  gs_sweep sw;
  gs_error err = {0};
  o.noverrides = argc - optind - 1;
  o.overrides = argv + optind + 1;
  if (gs_sweep_load_overrides(argv[optind], gs_models_vocabulary(), o.noverrides, o.overrides, &sw, &err) != 0)
    return die(2, "gensweep: %s\n", err.msg);
  o.ntasks = ntasks ? ntasks : (o.array ? 1 : 2);
  char *exp = realpath(argv[optind], NULL);
  char self[4096];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl > 0) self[sl] = 0;
  else GS_STRCPY(self, "gensweep");
  char *res = absolute(results ? results : sw.base.results);
  o.experiment = exp ? exp : argv[optind];
  o.gensweep = self;
  o.results = res;
  FILE *out = stdout;
  if (outpath && !(out = fopen(outpath, "w"))) {
    fprintf(stderr, "gensweep slurm: cannot write %s\n", outpath);
    free(exp), free(res), gs_sweep_free(&sw);
    return 2;
  }
  int rc = gs_slurm_script(&sw, &o, out, &err) != 0 ? 2 : 0;
  if (out != stdout && fclose(out) != 0 && rc == 0) rc = 2;
  if (rc) {
    fprintf(stderr, "gensweep slurm: %s\n", err.msg[0] ? err.msg : "cannot write the script");
    if (outpath) unlink(outpath);
  }
  free(exp);
  free(res);
  gs_sweep_free(&sw);
  return rc;
}

static int mpi_main(int argc, char **argv) {
  /* one OpenBLAS thread per rank unless asked otherwise: ranks are the parallelism */
  if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
  if (!wants_help(argc - 1, argv + 1) && srun_without_pmi()) return 2;
  /* before MPI_Init: a batch system's USR1 may come while the job starts, and its default
   * action would end the process instead of stopping the sweep cleanly */
  install_stop_handlers();
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  rank0 = rank == 0;
  int rc = cmd_run(argc - 1, argv + 1, rank, size);
  /* Every rank leaves with the same status and at the same moment: under `srun` a task that
   * ended first with status 3 (checkpointed) would otherwise be taken for a crash while rank 0
   * is still writing sweep.h5. */
  /* the most serious wins: 2 (cannot run) over 3 (interrupted: a batch script requeues) over 1 over 0 */
  static const int rank_of[4] = {0, 1, 3, 2}, status_of[4] = {0, 1, 3, 2}; /* 2 <-> 3 */
  int mine = rc >= 0 && rc <= 3 ? rank_of[rc] : 3, worst = mine;
  MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  rc = status_of[worst];
  return rc;
}

typedef struct command {
  const char *name;
  const char **usage;
  int (*fn)(int argc, char **argv); /* argv[0] is the command name */
} command;

static int cmd_keys(int argc, char **argv) {
  if (wants_help(argc, argv)) fputs(usage_keys, stdout);
  else print_keys();
  return 0;
}

static int cmd_ply(int argc, char **argv) {
  const char *array = "recon_output", *dir = ".", *clouds = NULL, *file = NULL;
  for (int i = 1; i < argc; i++) {
    if ((strcmp(argv[i], "--array") == 0 || strcmp(argv[i], "--clouds") == 0 || strcmp(argv[i], "-o") == 0) &&
        i + 1 < argc) {
      const char **to = argv[i][2] == 'a' ? &array : argv[i][2] == 'c' ? &clouds : &dir;
      *to = argv[++i];
    } else if (!file && argv[i][0] != '-') {
      file = argv[i];
    } else {
      fprintf(stderr, "gensweep ply: unexpected argument '%s'\n\n%s", argv[i], usage_ply);
      return 2;
    }
  }
  if (!file) return die(2, "gensweep ply: expected one run file\n\n%s", usage_ply);
  gs_error err = {0};
  float *xyz = NULL;
  long n = 0, N = 0;
  if (gs_runfile_clouds(file, array, &xyz, &n, &N, &err) != 0) return die(2, "gensweep ply: %s\n", err.msg);
  long *which = gs_malloc(sizeof(long) * (size_t)(n + 1));
  int nw = 0, rc = 0;
  if (!clouds)
    for (long i = 0; i < n; i++) which[nw++] = i;
  for (const char *p = clouds; p && *p && rc == 0;) {
    char *end;
    long k = strtol(p, &end, 10);
    if (end == p || (*end && *end != ',') || k < 0 || k >= n || nw > n) {
      fprintf(stderr, "gensweep ply: --clouds %s: expected indices 0..%ld separated by ','\n", clouds, n - 1);
      rc = 2;
      break;
    }
    which[nw++] = k;
    p = *end ? end + 1 : end;
  }
  /* the run's id: the file's name without .h5 */
  char run[GS_MAX_RUN_ID + 8];
  const char *base = strrchr(file, '/');
  GS_STRCPY(run, base ? base + 1 : file);
  size_t rl = strlen(run);
  if (rl > 3 && strcmp(run + rl - 3, ".h5") == 0) run[rl - 3] = 0;
  char name[GS_MAX_RUN_ID + 80];
  snprintf(name, sizeof name, "%s_%s", run, array);
  if (rc == 0 && gs_ply_export(dir, run, name, xyz, n, N, which, nw, &err) != 0) {
    fprintf(stderr, "gensweep ply: %s\n", err.msg);
    rc = 2;
  }
  if (rc == 0) printf("wrote %d cloud%s of %ld points to %s/%s_<i>.ply\n", nw, nw == 1 ? "" : "s", N, dir, name);
  free(which);
  free(xyz);
  return rc;
}

static const command commands[] = {
    {"run", &usage_run, NULL},
    {"plan", &usage_plan, cmd_plan},
    {"rebuild", &usage_rebuild, cmd_rebuild},
    {"status", &usage_status, cmd_status},
    {"report", &usage_report, cmd_report},
    {"keys", &usage_keys, cmd_keys},
    {"slurm", &usage_slurm, cmd_slurm},
    {"ply", &usage_ply, cmd_ply},
};

int main(int argc, char **argv) {
  rank0 = 1;
  if (argc < 2) {
    fputs(usage_main, stderr);
    return 2;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    fputs(usage_main, stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("gensweep %s\n", GS_VERSION);
    return 0;
  }
  int help = strcmp(argv[1], "help") == 0;
  const char *name = help ? (argc >= 3 ? argv[2] : "") : argv[1];
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
    const command *c = &commands[i];
    if (strcmp(name, c->name) != 0) continue;
    if (help || wants_help(argc - 1, argv + 1)) {
      fputs(*c->usage, stdout);
      return 0;
    }
    /* only `run` needs MPI: the other commands are plain programs */
    return c->fn ? c->fn(argc - 1, argv + 1) : mpi_main(argc, argv);
  }
  if (help) {
    fputs(usage_main, stdout);
    return 0;
  }
  fprintf(stderr, "gensweep: unknown command '%s'\n\n%s", argv[1], usage_main);
  return 2;
}
