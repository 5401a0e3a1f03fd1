#!/usr/bin/env bash
# MPI scaling benchmarks (issue 3 figures), each printed as a ratio against its reference:
#  1. task farm: 8 equal small runs, wall time with 1 rank / with 2 ranks (target >= 1.9)
#  2. data parallel: one run, training images/s with 2 ranks per run / 1 rank (target >= 1.6),
#     for the VAE (1.1M parameters, little compute per parameter) and the CAE (convolutions)
#  3. overhead of coordinator + ledger: from the first 'started' to the last 'done' in the ledger,
#     against the sum of the runs' own seconds (target < 1%); process start-up and the data
#     load are printed apart
#  4. gensweep plan of a 10,000-run grid (target < 1 s)
#   tests/bench/scaling.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=$(cd "${1:-build}" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
export OPENBLAS_NUM_THREADS=1
py() { /usr/bin/python3 "$@"; }
now() { date +%s.%N; }

cat > "$T/farm.ini" <<INI
[sweep]
name = farm
[data]
train_size = 20000
test_size = 2000
[model]
latent_dim = 10
[train]
epochs = 4
[eval]
iw_samples = 0
n_samples = 0
n_recon = 0
[grid]
train.seed = 1, 2, 3, 4, 5, 6, 7, 8
INI
t0=$(now); "$B/gensweep" run --quiet --results "$T/f1" "$T/farm.ini" > "$T/f1.txt"; t1=$(now)
mpirun -np 2 "$B/gensweep" run --quiet --results "$T/f2" "$T/farm.ini" > "$T/f2.txt"; t2=$(now)
py - "$t0" "$t1" "$t2" "$T" <<'PY'
import sys, h5py, glob
t0, t1, t2 = map(float, sys.argv[1:4]); T = sys.argv[4]
w1, w2 = t1 - t0, t2 - t1
print(f"task farm, 8 runs: 1 rank {w1:.1f} s, 2 ranks {w2:.1f} s: speed-up {w1 / w2:.2f}x (target 1.9x)")
own = sum(h5py.File(f, "r").attrs["seconds"] for f in glob.glob(f"{T}/f1/farm/runs/*.h5"))
t = [(float(l.split("\t")[0]), l.split("\t")[1]) for l in open(f"{T}/f1/farm/ledger.log") if not l.startswith("#")]
first = min(x for x, s in t if s == "started"); last = max(x for x, s in t if s == "done")
span = last - first
print(f"overhead of coordinator + ledger, 1 rank: {span:.2f} s from first start to last done vs runs' own "
      f"{own:.2f} s: {100 * (span - own) / span:.2f}% (target < 1%); process start-up + data load: "
      f"{w1 - span:.2f} s of {w1:.2f} s")
PY

cat > "$T/dp.ini" <<INI
[sweep]
name = dp
[model]
latent_dim = 25
[train]
epochs = 1
[eval]
iw_samples = 0
n_samples = 0
n_recon = 0
INI
"$B/gensweep" run --quiet --results "$T/d1" "$T/dp.ini" > /dev/null
mpirun -np 2 "$B/gensweep" run --quiet --ranks-per-run 2 --results "$T/d2" "$T/dp.ini" > /dev/null
py - "$T" <<'PY'
import sys, h5py
T = sys.argv[1]
a = h5py.File(f"{T}/d1/dp/runs/run.h5", "r")["final/train_images_per_s"][()]
b = h5py.File(f"{T}/d2/dp/runs/run.h5", "r")["final/train_images_per_s"][()]
print(f"data parallel, VAE z=25 batch 100: 1 rank {a:.0f} img/s, 2 ranks per run {b:.0f} img/s: {b / a:.2f}x (target 1.6x)")
PY

cat > "$T/dpc.ini" <<INI
[sweep]
name = dpc
[model]
name = cae
latent_dim = 6
[train]
epochs = 1
batch_size = 128
optimizer = adam
eps = 1e-8
[eval]
n_recon = 0
INI
"$B/gensweep" run --quiet --results "$T/c1" "$T/dpc.ini" > /dev/null
mpirun -np 2 "$B/gensweep" run --quiet --ranks-per-run 2 --results "$T/c2" "$T/dpc.ini" > /dev/null
py - "$T" <<'PY'
import sys, h5py
T = sys.argv[1]
a = h5py.File(f"{T}/c1/dpc/runs/run.h5", "r")["final/train_images_per_s"][()]
b = h5py.File(f"{T}/c2/dpc/runs/run.h5", "r")["final/train_images_per_s"][()]
print(f"data parallel, CAE z=6 batch 128: 1 rank {a:.0f} img/s, 2 ranks per run {b:.0f} img/s: {b / a:.2f}x (target 1.6x)")
PY

{ echo "[grid]"; echo "train.seed = $(seq -s, 1 10)"; echo "model.latent_dim = $(seq -s, 1 10)"
  echo "data.seed = $(seq -s, 1 10)"; echo "model.hidden1 = $(seq -s, 100 100 1000)"; } > "$T/big.ini"
t0=$(now); "$B/gensweep" plan "$T/big.ini" > "$T/plan.txt"; t1=$(now)
py -c "print(f'plan of a 10,000-run grid: {$t1 - $t0:.3f} s (target < 1 s); lines: $(wc -l < "$T/plan.txt")')"
