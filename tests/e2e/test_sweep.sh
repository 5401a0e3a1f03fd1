#!/usr/bin/env bash
# End to end: a tiny real sweep on Fashion-MNIST, as a singleton and under mpirun -np 2; files
# checked through the HDF5 C API (check_sweep) and h5py; re-run skips; a diverging run is recorded
# and the sweep goes on; bad input stops with a clear message.
set -uo pipefail
GS=${GS:-build/gensweep}
BIN=${GS_BINARY_DIR:-build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat > "$T/tiny.ini" <<INI
[sweep]
name = tiny
results = $T/results
[data]
train_size = 1200
test_size = 300
[model]
hidden1 = 64
hidden2 = 32
[train]
epochs = 2
[eval]
iw_samples = 5
; sample quality needs the judge classifier (a minute to train): tested in e2e_cae_igmn
judge = 0
n_samples = 20
manifold_n = 5
[grid]
model.name = vae, cvae
model.latent_dim = 2, 3
train.lr = 1e-3, 10
INI

echo "== plan"
"$GS" plan "$T/tiny.ini" > "$T/plan.txt" || fail "plan exited $?"
grep -qE "^runs +8$" "$T/plan.txt" || { cat "$T/plan.txt"; fail "plan does not announce 8 runs"; }
grep -q "name-cvae_latent_dim-3_lr-10" "$T/plan.txt" || { cat "$T/plan.txt"; fail "run id missing from plan"; }
grep -qE "^estimated training work: [0-9.e+]+ TFLOP \(largest run [0-9.e+]+ TFLOP\): about [0-9.e+-]+ core-hours" "$T/plan.txt" ||
  { cat "$T/plan.txt"; fail "plan does not estimate the work"; }

echo "== run (singleton)"
"$GS" run "$T/tiny.ini" > "$T/run1.txt" 2>&1
rc=$?
cat "$T/run1.txt"
[ $rc = 1 ] || fail "run with diverging runs should exit 1, got $rc"
grep -q "4 done, 0 skipped (already done), 4 failed" "$T/run1.txt" || fail "summary line"
D="$T/results/tiny"
[ -f "$D/sweep.h5" ] || fail "no sweep.h5"
[ "$(ls "$D/runs" | grep -c '\.h5$')" = 8 ] || fail "expected 8 run files"
ls "$D/runs" | grep -q tmp && fail "temporary file left in runs/"
[ -f "$D/png/name-vae_latent_dim-2_lr-0.001_manifold.png" ] || fail "no manifold png"
[ -f "$D/png/name-cvae_latent_dim-3_lr-0.001_prior.png" ] || fail "no prior png"
"$BIN/check_sweep" "$D/sweep.h5" 8 4 2 || fail "check_sweep"
grep -q "diverged" "$T/run1.txt" || fail "no diverged run reported"

# h5py is one of the readers the README promises (scripts/setup installs python3-h5py): its
# absence fails the test rather than skipping the check
/usr/bin/python3 -c "import h5py" 2>/dev/null || fail "python3-h5py is missing (scripts/setup installs it)"
{
  echo "== h5py"
  /usr/bin/python3 - "$D/sweep.h5" <<'PY' || fail "h5py check"
import sys, h5py, math
f = h5py.File(sys.argv[1], "r")
g = f["grid"][:]
assert len(g) == 8, len(g)
st = {r["run_id"].decode(): r["status"].decode() for r in g}
assert st["name-vae_latent_dim-2_lr-0.001"] == "done", st
assert st["name-vae_latent_dim-2_lr-10"] == "diverged", st
r = f["runs/name-cvae_latent_dim-3_lr-0.001"]
te = r["metrics/test_neg_elbo"][:]
assert len(te) == 2 and all(math.isfinite(v) for v in te), te
assert r["samples/prior"].dtype.name == "uint8"
assert r.attrs["model.latent_dim"] == 3
assert "lr-0.001" in r.attrs["run_id"].decode() if isinstance(r.attrs["run_id"], bytes) else r.attrs["run_id"]
print("h5py: ok", te)
PY
}

echo "== report"
"$GS" report --latex "$D" > "$T/report.txt" 2>&1 || { cat "$T/report.txt"; fail "report"; }
for f in summary.md summary.csv summary.tex test_neg_elbo_vs_model.latent_dim.png curves_test_neg_elbo.png; do
  [ -s "$D/report/$f" ] || fail "report did not write $f"
done
grep -q "| cvae" "$T/report.txt" || { cat "$T/report.txt"; fail "report table not printed"; }
grep -q "diverged" "$D/report/summary.md" || fail "report does not list the diverged runs"

echo "== re-run skips finished runs and keeps diverged ones"
"$GS" run --quiet "$T/tiny.ini" > "$T/run2.txt" 2>&1
[ $? = 1 ] || fail "re-run with diverged runs kept should exit 1"
grep -q "0 done, 4 skipped (already done), 4 failed" "$T/run2.txt" || { cat "$T/run2.txt"; fail "re-run did not skip the 4 done runs"; }
grep -q "diverged before" "$T/run2.txt" || fail "re-run does not say it kept the diverged runs"

echo "== same numbers again (determinism): rerun one run in a fresh directory"
sed -e "s|results = .*|results = $T/again|" -e 's/train.lr = 1e-3, 10/train.lr = 1e-3/' "$T/tiny.ini" > "$T/again.ini"
"$GS" run --quiet "$T/again.ini" > /dev/null 2>&1 || fail "again run"
if /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  /usr/bin/python3 - "$D" "$T/again/tiny" <<'PY' || fail "same seed gave different numbers"
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1] + "/runs/name-cvae_latent_dim-3_lr-0.001.h5", "r")
b = h5py.File(sys.argv[2] + "/runs/name-cvae_latent_dim-3_lr-0.001.h5", "r")
assert np.array_equal(a["metrics/test_neg_elbo"][:], b["metrics/test_neg_elbo"][:])
assert np.array_equal(a["params/enc1.w"][:], b["params/enc1.w"][:])
print("determinism: ok")
PY
fi

echo "== mpirun -np 2"
if command -v mpirun >/dev/null; then
  sed -e "s|results = .*|results = $T/mpi|" "$T/tiny.ini" > "$T/mpi.ini"
  mpirun --oversubscribe -np 2 "$GS" run --quiet "$T/mpi.ini" > "$T/mpi.txt" 2>&1
  rc=$?
  [ $rc = 1 ] || { cat "$T/mpi.txt"; fail "mpirun run exited $rc"; }
  "$BIN/check_sweep" "$T/mpi/tiny/sweep.h5" 8 4 2 > /dev/null || fail "check_sweep after mpirun"
fi

echo "== bad input"
mkdir -p "$T/emptydata"
sed -e "s|\[data\]|[data]\ndataset = $T/emptydata|" -e "s|results = .*|results = $T/bad|" "$T/tiny.ini" > "$T/bad.ini"
"$GS" run "$T/bad.ini" > "$T/bad.txt" 2>&1
rc=$?
[ $rc = 2 ] || { cat "$T/bad.txt"; fail "missing data should exit 2, got $rc"; }
grep -q "emptydata/train-images-idx3-ubyte" "$T/bad.txt" || { cat "$T/bad.txt"; fail "message does not name the missing file"; }
printf '[model]\nlatnt_dim = 3\n' > "$T/typo.ini"
"$GS" plan "$T/typo.ini" > "$T/typo.txt" 2>&1
rc=$?
[ $rc = 2 ] || fail "typo should exit 2, got $rc"
grep -q "typo.ini:2:.*did you mean 'latent_dim'" "$T/typo.txt" || { cat "$T/typo.txt"; fail "typo message"; }
echo "PASS"
