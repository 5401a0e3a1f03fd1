#!/usr/bin/env bash
# Training throughput at one thread, gensweep (bench_vae) against the PyTorch reference
# (../shared/reference/torch/bench.py) measured in the same run, model by model, one right after
# the other: VAE z=25 and CVAE z=35. Target: >= 1.5x. Both sides are timed by wall clock and by
# their own process CPU time; the ratio is given per CPU second against per CPU second (comparable
# when other jobs share the cores) and wall against wall (meaningful on an idle machine only).
# Also prints the fraction of the machine's one-thread sgemm peak that training reaches.
#   tests/bench/vae_speed.sh [build dir]
# python3-torch is installed with apt-get when it is missing and we are root. When the reference
# still cannot run, its error is shown and the ratio line says NOT MEASURED, with the stored
# ANCHORS.md figure beside it labelled as stored: no stored figure stands in for a measurement.
# Environment: GS_TORCH_REF (reference directory), GS_BENCH_PYTHON (interpreter, default
# /usr/bin/python3), GS_BENCH_NO_TORCH=1 (do not run the reference: tests the NOT MEASURED path).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
REF=${GS_TORCH_REF:-../shared/reference/torch}
PY=${GS_BENCH_PYTHON:-/usr/bin/python3}
ANCHORS="shared/ANCHORS.md, table 'Training throughput, one thread per process', column 'PyTorch 1 thread'"
export OPENBLAS_NUM_THREADS=1
[ -x "$B/bench_vae" ] || { echo "vae_speed.sh: $B/bench_vae missing (build it first)" >&2; exit 2; }
LOG=$(mktemp -d "${TMPDIR:-/tmp}/vae_speed.XXXXXX")
echo "host: $(lscpu | sed -n 's/^Model name: *//p'), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; logs in $LOG"

# Can the reference run? why_not stays empty when it can.
. "$(dirname "$0")/torch_ref.sh"

# torch_measure MODEL: runs the reference, sets RW (img/s wall) and RC (img/s per CPU second);
# returns 1 and shows the reference's stderr when it fails.
torch_measure() {
  local out rc=0 log="$LOG/torch_$1.log"
  RW="" RC=""
  out=$(cd "$REF" && "$PY" bench.py --model "$1" --threads 1 --blas-threads 1 --windows 5 \
          --window-s 2 --out /dev/null 2> "$log") || rc=$?
  if [ "$rc" = 0 ]; then
    read -r RW RC < <(printf '%s\n' "$out" | tail -n 1 | "$PY" -c "import sys, json
d = json.loads(sys.stdin.read())['train_img_per_s']
print(round(d['median']), round(d['per_cpu_second_median']))" 2>> "$log") || rc=$?
  fi
  if [ "$rc" != 0 ] || [ -z "$RW" ] || [ -z "$RC" ]; then
    echo "PyTorch reference failed (bench.py --model $1, exit $rc); its stderr ($log):"
    tail -n 20 "$log" | sed 's/^/    /'
    return 1
  fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

for spec in "vae 25 8,631 VAE_784-512-256-25,_batch_100,_RMSProp" "cvae 35 9,579 CVAE_z=35,_batch_100"; do
  read -r model z stored row <<< "$spec"
  row=${row//_/ }
  why=$why_not
  if [ -z "$why" ]; then
    torch_measure "$model" || why="the reference failed (error above)"
  fi
  [ -z "$why" ] && echo "PyTorch (bench.py, measured now) $model z=$z: $RW img/s wall, $RC img/s per CPU second"
  "$B/bench_vae" --model "$model" --z "$z" | tee "$LOG/gensweep_$model.txt"
  read -r GW GC < <(sed -n 's/.*median \([0-9.]*\) img\/s wall, \([0-9.]*\) img\/s per CPU second.*/\1 \2/p' \
                      "$LOG/gensweep_$model.txt") || { echo "vae_speed.sh: no figures in bench_vae's output" >&2; exit 1; }
  if [ -z "$why" ]; then
    echo "  ratio gensweep / PyTorch, both measured in this run: $(ratio "$GC" "$RC")x per CPU second" \
         "($GC / $RC), $(ratio "$GW" "$RW")x wall ($GW / $RW) (target >= 1.5x)"
  else
    echo "  ratio gensweep / PyTorch: NOT MEASURED ($why); stored figure, not measured in this run:" \
         "PyTorch $stored img/s wall on an idle machine ($ANCHORS, row '$row')"
  fi
done
