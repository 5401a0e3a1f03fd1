#!/usr/bin/env bash
# pc_ae training throughput at one thread, gensweep against a PyTorch reference of the same model
# (tests/bench/pc_ae_torch.py, written for this benchmark), run side by side: issue 12 point 7's
# first figure, target >= 1.5x. Measured 2026-12-05 (AMD EPYC, 2 cores, OpenBLAS Haswell kernels,
# an AC-GAN study on both cores beside it, load 3.3; `tests/bench/pc_speed.sh`): N = 512 3.35x and
# 3.36x per CPU second (595-597 against 172-175 clouds/s wall), N = 2048 9.93x and 8.69x. Most of
# it is the critical-point backward (pc.sparse_backward, src/models/pointcloud.c): PyTorch, like
# gensweep's --dense path, backpropagates through every point: `--dense --points 512` gave 1.43x
# and 1.42x the same day (243 against 170 clouds/s wall, load 5.4); at N = 2048 the dense path was
# 4.16x in the previous session.
# Clouds per second in steady state:
#   gensweep  `gensweep run` (a singleton MPI world, OPENBLAS_NUM_THREADS=1) of pc_ae on the
#             generated shapes, E epochs (default 3); the run file's per-epoch train_images_per_s
#             (wall clock of the training steps), the median of epochs 2..E. Also per CPU second:
#             the process's CPU time (/proc/PID/stat) between the epoch lines it prints; the
#             interval of epoch E holds the one test evaluation too (eval.eval_every is past E;
#             16 test clouds, forward only), so that figure is a slight underestimate.
#   PyTorch   pc_ae_torch.py on the very clouds gensweep generated (read from its HDF5 cache,
#             <results>/.data/shapes-train-*.h5), torch.set_num_threads(1),
#             set_num_interop_threads(1), OMP/MKL/OPENBLAS_NUM_THREADS=1: 5 untimed warm-up steps,
#             then E-1 timed epochs of the same size (the same number of timed steps as
#             gensweep's), the median per-epoch rate, by wall clock and per CPU second.
# Both: batch 32, Adam lr 5e-4, Z = model.latent_dim = 128, encoder 64-128-128-256, decoder
# 256-256, the Chamfer distance of gs_chamfer. Every round runs the two one right after the other,
# gensweep first in odd rounds and PyTorch first in even ones (the machine may be shared: a ratio
# measured side by side, several times, is the figure; absolute rates move with the load). The
# summary gives, per N, the median over the rounds of two ratios and says for each whether it is
# >= 1.5: per CPU second (each side's clouds over its own process CPU time: comparable when other
# jobs share the cores, as in vae_speed.sh) and wall clock (gensweep's train_images_per_s against
# the reference's wall rate: meaningful on an idle machine; on a loaded one a process's share of a
# core moves by tens of per cent from epoch to epoch, so single rounds scatter widely).
#
#   tests/bench/pc_speed.sh [--rounds R] [--points N,...] [--clouds C] [--epochs E]
#                           [--gensweep PATH] [--torch-malloc jemalloc|glibc] [--dense]
#     --rounds R        side-by-side rounds per N (default 2)
#     --points N,...    points per cloud, each measured in turn (default 2048,512)
#     --clouds C        training clouds (default 1280 for N <= 1024, 640 above: the PyTorch side
#                       takes ~3 CPU seconds a step at N = 2048; keeps the script near 10 minutes)
#     --epochs E        gensweep's epochs, 2..E timed; PyTorch's timed epochs are E-1 (default 3)
#     --gensweep PATH   the binary (default build/gensweep); copied to the log folder first, so
#                       that a rebuild during the benchmark does not change it
#     --torch-malloc    jemalloc (default) or glibc: the PyTorch side's allocator, see below
#     --dense           gensweep with pc.sparse_backward = 0: the encoder's tape and backward over
#                       every point, as PyTorch does, instead of over the critical points only
#                       (the default: the same gradient to rounding, src/models/pointcloud.c)
#
# The PyTorch side's allocator. Eager PyTorch on the CPU allocates every intermediate afresh;
# at N = 2048 the batch's distance matrix (32 x 2048 x 2048 floats) is 512 MB and a step makes
# about ten tensors that size. glibc's malloc maps each one anew (above its mmap threshold) and
# unmaps it at free, so every step faults in ~5 GB of fresh pages; on a virtual machine with slow
# page faults that is most of the step (measured on the development VM, ~14 us a fault: 27 s a
# step at N = 2048 against 3 s without the faults; 20 clouds/s against 130 at N = 512). That is
# the machine's cost, not the reference's design, so the reference runs under jemalloc with freed
# pages kept (LD_PRELOAD=libjemalloc.so.2, MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1; the
# caching a PyTorch user gets by default on a GPU and that PyTorch's CPU tuning guide recommends):
# after the warm-up a step faults no page (pc_ae_torch.py prints the count). libjemalloc2 is
# installed with apt-get when it is missing and we are root; without it the reference runs on
# glibc and a warning says the ratio then flatters gensweep. gensweep keeps its tensors in an
# arena that lives across steps and runs as it is.
#
# python3-torch is installed with apt-get when it is missing and we are root; when torch still
# cannot be imported, gensweep's figures are printed alone and each ratio line says
# NOT MEASURED: no stored figure stands in for a measurement.
# Environment: GS_BENCH_PYTHON (interpreter, default /usr/bin/python3), GS_BENCH_NO_TORCH=1 (do not
# run the reference: tests the NOT MEASURED path). OPENBLAS_CORETYPE is never set here; its value
# (if the environment has one) is printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
usage() { sed -n '/^#   tests\/bench\/pc_speed.sh/,/^#                       (the default: the same/p' "$0" | sed 's/^# \{0,1\}//'; }
ROUNDS=2 POINTS=2048,512 CLOUDS="" EPOCHS=3 GS=build/gensweep MALLOC=jemalloc SPARSE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --points) POINTS=$2; shift 2 ;;
    --clouds) CLOUDS=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --gensweep) GS=$2; shift 2 ;;
    --torch-malloc) MALLOC=$2; shift 2 ;;
    --dense) SPARSE=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "pc_speed.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$MALLOC" in jemalloc|glibc) ;; *) echo "pc_speed.sh: --torch-malloc jemalloc or glibc" >&2; exit 2 ;; esac
[ "$EPOCHS" -ge 2 ] 2>/dev/null || { echo "pc_speed.sh: --epochs must be at least 2" >&2; exit 2; }
[ "$ROUNDS" -ge 1 ] 2>/dev/null || { echo "pc_speed.sh: --rounds must be at least 1" >&2; exit 2; }
[ -x "$GS" ] || { echo "pc_speed.sh: $GS missing (build it first, or --gensweep PATH)" >&2; exit 2; }
PY=${GS_BENCH_PYTHON:-/usr/bin/python3}
TORCH_PY=$PWD/tests/bench/pc_ae_torch.py
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
LOG=$(mktemp -d "${TMPDIR:-/tmp}/pc_speed.XXXXXX")
cp "$GS" "$LOG/gensweep"
GS=$LOG/gensweep
RES=$LOG/results

# Can the reference run? why_not stays empty when it can.
TORCH_IMPORTS="torch, h5py, numpy" TORCH_PKGS="python3-torch python3-h5py"
. "$(dirname "$0")/torch_ref.sh"
[ -z "$why_not" ] || echo "NOT MEASURED: $why_not (gensweep's figures follow alone)"
# The reference's allocator (see the header): TORCH_ENV holds the variables its process gets.
TORCH_ENV=() malloc_note="glibc malloc"
if [ -z "$why_not" ] && [ "$MALLOC" = jemalloc ]; then
  find_jemalloc() { ldconfig -p 2>/dev/null | sed -n 's/.*libjemalloc\.so\.2 .*=> //p' | head -n 1; }
  JE=$(find_jemalloc)
  if [ -z "$JE" ] && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "libjemalloc2 missing: installing it with apt-get (log $LOG/apt.log)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjemalloc2 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjemalloc2; }; } \
      >> "$LOG/apt.log" 2>&1 || echo "apt-get install libjemalloc2 failed (see $LOG/apt.log)"
    JE=$(find_jemalloc)
  fi
  if [ -n "$JE" ]; then
    TORCH_ENV=("LD_PRELOAD=$JE" "MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1")
    malloc_note="jemalloc, freed pages kept ($JE)"
  else
    echo "WARNING: libjemalloc.so.2 not found: the PyTorch reference runs on glibc malloc, which faults in"
    echo "WARNING: its large tensors afresh every step; where page faults are slow the ratio flatters gensweep"
  fi
fi

cores=$(lscpu | sed -n 's/^CPU(s): *//p')
tv="not used"
[ -z "$why_not" ] && tv=$("$PY" -c "import torch; print(torch.__version__)" 2>/dev/null || echo "?")
corename=$("$PY" - <<'PY' 2>/dev/null || echo '?'
import ctypes
lib = ctypes.CDLL("libopenblas.so.0"); lib.openblas_get_corename.restype = ctypes.c_char_p
print(lib.openblas_get_corename().decode())
PY
)
echo "host: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" \
     "(OpenBLAS kernels: $corename), load average $(cut -d' ' -f1-3 /proc/loadavg), torch $tv; logs in $LOG"
echo "settings: pc_ae Z=128, batch 32, Adam lr 5e-4; OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1;" \
     "gensweep $EPOCHS epochs (2..$EPOCHS timed), pc.sparse_backward = $SPARSE" \
     "($([ "$SPARSE" = 1 ] && echo "encoder backward over the critical points" || echo "dense backward, --dense"));" \
     "PyTorch 5 warm-up steps + $((EPOCHS - 1)) timed epochs;" \
     "PyTorch allocator: $malloc_note"

# gensweep_measure N C ROUND: one `gensweep run`; sets GW (clouds/s wall, median of epochs 2..E)
# and GC (per CPU second), prints its per-epoch figures.
gensweep_measure() {
  local n=$1 c=$2 r=$3 name="pc_N$1_c$2_r$3" out
  cat > "$LOG/$name.ini" <<INI
[sweep]
name = $name
[data]
dataset = shapes
shapes_train = $c
shapes_test = 16
points = $n
[model]
name = pc_ae
latent_dim = 128
[pc]
interp_steps = 0
halves = 0
emd_clouds = 0
sparse_backward = $SPARSE
[train]
epochs = $EPOCHS
batch_size = 32
optimizer = adam
lr = 0.0005
threads = 1
checkpoint_every = 0
[eval]
n_recon = 1
eval_every = 100000
INI
  out=$("$PY" - "$GS" "$RES" "$LOG/$name.ini" "$LOG/$name.out" "$c" <<'PY'
import glob, json, os, re, statistics, subprocess, sys, time
gs, res, ini, log, clouds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
tick = os.sysconf("SC_CLK_TCK")
def cpu(pid):  # utime + stime of the process, seconds
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick
marks = {}  # epoch -> (wall, cpu) when its line appeared
with open(log, "w") as lf:
    p = subprocess.Popen([gs, "run", "--results", res, ini], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.perf_counter()
    marks[0] = (t0, cpu(p.pid))
    for line in p.stdout:
        lf.write(line)
        m = re.search(r"epoch (\d+)/(\d+)", line)
        if m:
            try:
                marks[int(m.group(1))] = (time.perf_counter(), cpu(p.pid))
            except OSError:
                pass
    rc = p.wait()
if rc != 0:
    sys.exit(f"gensweep run exited with {rc}; see {log}")
import h5py
run = glob.glob(os.path.join(res, os.path.basename(ini)[:-4], "runs", "*.h5"))
h = h5py.File(run[0], "r")
ips, secs = h["metrics/train_images_per_s"][:], h["metrics/epoch_seconds"][:]
E = len(ips)
wall = [float(v) for v in ips[1:]]
cpus = [clouds / (marks[e][1] - marks[e - 1][1]) for e in range(2, E + 1) if e in marks and e - 1 in marks]
share = [(marks[e][1] - marks[e - 1][1]) / (marks[e][0] - marks[e - 1][0]) for e in range(2, E + 1) if e in marks and e - 1 in marks]
for e in range(E):
    extra = ""
    if e >= 1 and e + 1 in marks and e in marks:
        dc = marks[e + 1][1] - marks[e][1]
        extra = f", {dc:.2f} s CPU between its line and the last ({100 * dc / (marks[e + 1][0] - marks[e][0]):.0f} % of a core)"
    print(f"    gensweep epoch {e + 1}{' (excluded)' if e == 0 else ''}: {secs[e]:.2f} s, {ips[e]:.1f} clouds/s wall{extra}",
          file=sys.stderr)
print(json.dumps({"wall": statistics.median(wall), "cpu": statistics.median(cpus) if cpus else float("nan"),
                  "share": statistics.median(share) if share else float("nan")}))
PY
) || { echo "pc_speed.sh: gensweep run failed (N=$n, round $r; log $LOG/$name.out)" >&2; tail -n 20 "$LOG/$name.out" >&2; exit 1; }
  read -r GW GC GS_SHARE < <(printf '%s\n' "$out" | "$PY" -c "import sys, json
d = json.loads(sys.stdin.read()); print(f\"{d['wall']:.1f} {d['cpu']:.1f} {100 * d['share']:.0f}\")")
}

# torch_measure N C ROUND: the reference on gensweep's cached clouds; sets TW, TC (and TSHARE);
# returns 1 (its stderr shown) when it fails.
torch_measure() {
  local n=$1 c=$2 r=$3 data out rc=0 log="$LOG/torch_N$1_r$3.log"
  TW="" TC=""
  data=$(ls "$RES"/.data/shapes-train-seed1-n"$c"-N"$n"-*.h5 2> /dev/null | head -n 1)
  [ -n "$data" ] || { echo "pc_speed.sh: no cached training clouds for N=$n, $c clouds under $RES/.data" >&2; exit 1; }
  out=$(env "${TORCH_ENV[@]}" "$PY" "$TORCH_PY" --data "$data" --points "$n" --epochs $((EPOCHS - 1)) \
          --warmup-steps 5 --threads 1 2> "$log") || rc=$?
  printf '%s\n' "$out" | sed -n '/^{/!s/^/    torch /p'
  if [ "$rc" = 0 ]; then
    read -r TW TC TSHARE < <(printf '%s\n' "$out" | tail -n 1 | "$PY" -c "import sys, json
d = json.loads(sys.stdin.read()); print(f\"{d['median_wall']:.1f} {d['median_cpu']:.1f} {100 * d['median_wall'] / d['median_cpu']:.0f}\")" 2>> "$log") || rc=$?
  fi
  if [ "$rc" != 0 ] || [ -z "$TW" ] || [ -z "$TC" ]; then
    echo "PyTorch reference failed (pc_ae_torch.py, N=$n, exit $rc); its stderr ($log):"
    tail -n 20 "$log" | sed 's/^/    /'
    return 1
  fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
TABLE=$LOG/ratios.tsv
: > "$TABLE"
IFS=, read -r -a NS <<< "$POINTS"
for n in "${NS[@]}"; do
  c=${CLOUDS:-$([ "$n" -le 1024 ] && echo 1280 || echo 640)}
  echo "== N=$n points, $c training clouds ($((c / 32)) steps an epoch)"
  for r in $(seq 1 "$ROUNDS"); do
    why=$why_not
    if [ $((r % 2)) = 1 ] || [ -n "$why" ]; then order="gensweep torch"; else order="torch gensweep"; fi
    for side in $order; do
      if [ "$side" = gensweep ]; then
        gensweep_measure "$n" "$c" "$r"
      elif [ -z "$why" ]; then
        torch_measure "$n" "$c" "$r" || why="the reference failed (error above)"
      fi
    done
    line="N=$n round $r ($order): gensweep $GW clouds/s wall ($GC per CPU second, ${GS_SHARE}% of a core)"
    if [ -z "$why" ]; then
      rw=$(ratio "$GW" "$TW") rc=$(ratio "$GC" "$TC")
      echo "$line, torch $TW clouds/s wall ($TC per CPU second, ${TSHARE}% of a core):" \
           "ratio gensweep/torch ${rw}x wall, ${rc}x per CPU second"
      printf '%s\t%s\t%s\n' "$n" "$rw" "$rc" >> "$TABLE"
    else
      echo "$line; torch NOT MEASURED ($why)"
    fi
  done
done

echo "== summary (target: gensweep/torch >= 1.5x)"
for n in "${NS[@]}"; do
  if ! grep -q "^$n"$'\t' "$TABLE"; then
    echo "N=$n: ratio gensweep/torch NOT MEASURED (${why_not:-the reference failed}); gensweep's figures above stand alone"
    continue
  fi
  "$PY" - "$TABLE" "$n" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.split("\t")[0] == sys.argv[2]]
w = [float(r[1]) for r in rows]
c = [float(r[2]) for r in rows]
mw, mc = statistics.median(w), statistics.median(c)
yn = lambda v: "yes" if v >= 1.5 else "NO"
print(f"N={sys.argv[2]}: median ratio gensweep/torch over {len(w)} rounds: {mc:.2f}x per CPU second "
      f"({', '.join(f'{v:.2f}' for v in c)}), {mw:.2f}x wall ({', '.join(f'{v:.2f}' for v in w)}); "
      f">= 1.5: {yn(mc)} per CPU second, {yn(mw)} wall")
PY
done
