#!/usr/bin/env bash
# Probe farming over the job's groups (issue 11 point 4): the probe stage of a sweep's last run,
# alone (one rank: `mpirun -np 1`) against the same run with an idle group helping (`mpirun -np 2`,
# two groups of one rank: the second has no run and joins the first's probe stage). The run is a
# small DCGAN-1 on FASHION_TRAIN images with the probe table of the write-up (model and untrained
# features, SVM and LR, all / 1000 / 100 labels, 10 subsets) and the fine-tuned discriminator
# (probe.features = ... finetuned). Prints the probe stage's seconds (final/probe_seconds) both
# ways and their ratio, and checks that the probe numbers are the same bits.
#   tests/bench/probe_farm.sh [ROUNDS]     (default 2; each round measures both)
# The reference is this job itself on one rank; nothing to install (h5py comes with the tests'
# python3-h5py).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-2}
GS=${GS:-build/gensweep}
TRAIN=${FASHION_TRAIN:-10000}
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
[ -x "$GS" ] || { echo "build first (scripts/test or cmake --build build)"; exit 2; }
T=$(mktemp -d /tmp/probe_farm.XXXXXX)
trap 'rm -rf "$T"' EXIT
cat > "$T/f.ini" <<INI
[sweep]
name = f
[data]
train_size = $TRAIN
[model]
name = dcgan1
[train]
iterations = 100
[eval]
sample_every = 100
judge = 0
[probe]
features = model, untrained, finetuned
budgets = all, 1000, 100
repeats = 10
finetune_epochs = 1
finetune_min_steps = 50
INI
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, load $(cut -d' ' -f1-3 /proc/loadavg)"
seconds() { /usr/bin/python3 -c "import h5py,sys; print('%.1f' % h5py.File(sys.argv[1])['final/probe_seconds'][()])" "$1"; }
for r in $(seq 1 "$ROUNDS"); do
  rm -rf "$T/one" "$T/two"
  mpirun -np 1 "$GS" run --quiet --results "$T/one" "$T/f.ini" > "$T/one.log" 2>&1 || { cat "$T/one.log"; exit 1; }
  mpirun -np 2 "$GS" run --quiet --results "$T/two" "$T/f.ini" > "$T/two.log" 2>&1 || { cat "$T/two.log"; exit 1; }
  grep -q "probes: fitted by 2 ranks" "$T/two.log" || { cat "$T/two.log"; echo "no group helped"; exit 1; }
  a=$(seconds "$T/one/f/runs/run.h5") b=$(seconds "$T/two/f/runs/run.h5")
  same=$(/usr/bin/python3 - "$T/one/f/runs/run.h5" "$T/two/f/runs/run.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
bad = []
a["probe"].visititems(lambda n, o: bad.append(n) if isinstance(o, h5py.Dataset) and not np.array_equal(o[()], b["probe"][n][()], equal_nan=True) else None)
print("same bits" if not bad else "DIFFERENT: " + ", ".join(bad[:4]))
PY
)
  echo "round $r: probe stage alone ${a} s, with an idle group helping ${b} s: speed-up $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')x ($same)"
done
