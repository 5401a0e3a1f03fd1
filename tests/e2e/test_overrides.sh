#!/usr/bin/env bash
# Command-line overrides (gensweep run/plan/slurm FILE section.key=value ...):
#  - a fixed value and a comma list (a grid axis) give exactly the runs, hashes and numbers of an
#    experiment file that says the same;
#  - the results directory keeps the effective experiment, so status, rebuild and report need no
#    overrides; the same command again trains nothing; other overrides on the same sweep are
#    other runs by hash (the shared ones skipped), as an edited file is;
#  - a bad override fails before anything is created, naming the argument;
#  - every rank of an MPI job applies them alike; `slurm` passes them on, quoted.
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d "${GS_BINARY_DIR:-${TMPDIR:-/tmp}}/e2e_overrides.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_MCA_rmaps_base_oversubscribe=1
cat > "$T/o.ini" <<INI
[sweep]
name = o
[data]
train_size = 600
test_size = 100
[model]
name = vae
latent_dim = 3
hidden1 = 32
hidden2 = 16
[train]
epochs = 3
[eval]
iw_samples = 0
judge = 0
n_samples = 4
[grid]
train.seed = 1, 2
INI
# the same experiment written out: epochs 1, latent_dim swept
sed -e 's/^epochs = 3/epochs = 1/' -e 's/^latent_dim = 3$//' -e 's/^train.seed = 1, 2/train.seed = 1, 2\nmodel.latent_dim = 2, 3/' \
  "$T/o.ini" > "$T/f.ini"

echo "== overrides against the same file written out"
"$GS" run --quiet --results "$T/a" "$T/o.ini" train.epochs=1 model.latent_dim=2,3 > "$T/a.txt" 2>&1 ||
  { cat "$T/a.txt"; fail "run with overrides"; }
"$GS" run --quiet --results "$T/b" "$T/f.ini" > "$T/b.txt" 2>&1 || { cat "$T/b.txt"; fail "run of the file written out"; }
/usr/bin/python3 - "$T/a/o" "$T/b/o" <<'PY' || fail "overrides differ from the file written out"
import os, sys, h5py, numpy as np
a, b = sys.argv[1], sys.argv[2]
ids = sorted(os.listdir(a + "/runs"))
assert ids == sorted(os.listdir(b + "/runs")) and len(ids) == 4, (ids, os.listdir(b + "/runs"))
for f in ids:
    x, y = h5py.File(f"{a}/runs/{f}"), h5py.File(f"{b}/runs/{f}")
    assert x.attrs["config_hash"] == y.attrs["config_hash"], f
    for k in x["params"]:
        assert np.array_equal(x["params"][k][:], y["params"][k][:]), (f, k)
    assert np.array_equal(x["metrics/test_neg_elbo"][:], y["metrics/test_neg_elbo"][:]), f
    assert len(x["metrics/test_neg_elbo"][:]) == 1, f  # one epoch, not the file's 3
print("4 runs: the same ids, hashes and numbers as the file written out")
PY
grep -q "^train.epochs = 1$\|^epochs = 1$" "$T/a/o/experiment.ini" && grep -q "model.latent_dim = 2,3" "$T/a/o/experiment.ini" ||
  { cat "$T/a/o/experiment.ini"; fail "experiment.ini is not the effective experiment"; }
grep -q "^; overridden on the command line: epochs = 3" "$T/a/o/experiment.ini" || fail "the file's own line is not set aside"

echo "== status, rebuild, report: no overrides needed"
"$GS" status "$T/a/o" > "$T/st.txt" 2>&1 || { cat "$T/st.txt"; fail status; }
grep -q "4 total: 4 done" "$T/st.txt" || { cat "$T/st.txt"; fail "status does not count the overridden grid's 4 runs"; }
"$GS" rebuild "$T/a/o" > /dev/null 2>&1 || fail rebuild
"$GS" report "$T/a/o" > "$T/rep.txt" 2>&1 || { cat "$T/rep.txt"; fail report; }
grep -q "latent_dim" "$T/a/o/report/summary.md" || fail "the report does not show the overridden axis"

echo "== the same command again: nothing to train; other overrides: other runs by hash"
"$GS" run --results "$T/a" "$T/o.ini" train.epochs=1 model.latent_dim=2,3 > "$T/a2.txt" 2>&1 || { cat "$T/a2.txt"; fail "again"; }
grep -q "0 done, 4 skipped" "$T/a2.txt" || { cat "$T/a2.txt"; fail "the same overrides trained again"; }
"$GS" run --results "$T/a" "$T/o.ini" train.epochs=1 model.latent_dim=3,4 > "$T/a3.txt" 2>&1 || { cat "$T/a3.txt"; fail "other"; }
grep -q "2 done, 2 skipped" "$T/a3.txt" || { cat "$T/a3.txt"; fail "latent_dim 3 kept, 4 new: expected 2 done and 2 skipped"; }

echo "== a bad override: exit 2, the argument named, nothing created"
for bad in "train.epoch=2|did you mean 'epochs'" "train.epochs=x|not an integer" "epochs=2|expected section.key=value" \
           "model.latent_dim=2,2|duplicate value" "train.epochs=1 train.epochs=2|already set by argument"; do
  args=${bad%|*} want=${bad#*|}
  # shellcheck disable=SC2086
  "$GS" run --results "$T/bad" "$T/o.ini" $args > "$T/bad.txt" 2>&1; rc=$?
  [ $rc = 2 ] || { cat "$T/bad.txt"; fail "'$args': exit $rc, want 2"; }
  grep -q "argument '" "$T/bad.txt" && grep -q "$want" "$T/bad.txt" || { cat "$T/bad.txt"; fail "'$args': message"; }
  [ ! -e "$T/bad" ] || fail "'$args': something was created"
done
"$GS" run --results "$T/bad" "$T/o.ini" stray > "$T/bad.txt" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "unexpected argument 'stray'" "$T/bad.txt" || { cat "$T/bad.txt"; fail "a stray argument"; }

echo "== mpirun -np 2: every rank applies the overrides alike"
mpirun -np 2 "$GS" run --quiet --results "$T/m" "$T/o.ini" train.epochs=1 model.latent_dim=2,3 > "$T/m.txt" 2>&1 ||
  { cat "$T/m.txt"; fail "mpirun with overrides"; }
[ "$(ls "$T/m/o/runs" | wc -l)" = 4 ] || fail "mpirun: not 4 runs"

echo "== slurm: the overrides passed on, quoted"
"$GS" slurm "$T/o.ini" train.epochs=1 "sweep.description=a b's" > "$T/s.sbatch" 2> "$T/s.err" || { cat "$T/s.err"; fail slurm; }
grep -q "^set -- '.*o.ini' 'train.epochs=1' 'sweep.description=a b'\\\\''s'" "$T/s.sbatch" ||
  { grep "^set --" "$T/s.sbatch"; fail "the script does not pass the overrides on"; }
bash -n "$T/s.sbatch" || fail "the script is not valid bash"
echo PASS
