#!/usr/bin/env bash
# OpenBLAS threads and group size are part of how a run's numbers are rounded: each setting is
# deterministic on its own, a run records both, and a checkpoint is resumed only with the setting
# it was written with (another one is refused with a message naming both; the checkpoint is kept,
# and the run continues bit for bit once the job uses the right setting).
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d)
cleanup() { pkill -9 -f "$T/" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_MCA_rmaps_base_oversubscribe=1
/usr/bin/python3 -c "import h5py" 2>/dev/null || fail "needs python3-h5py (scripts/setup installs it)"
cat > "$T/t.ini" <<INI
[sweep]
name = t
[data]
train_size = 4000
test_size = 500
[model]
latent_dim = 5
[train]
epochs = 12
checkpoint_every = 1
[eval]
iw_samples = 0
judge = 0
n_samples = 4
INI
# every parameter and metric of runs/* in two results dirs: "same" or the largest difference
diff_runs() {
  /usr/bin/python3 - "$1/t/runs" "$2/t/runs" <<'PY'
import sys, os, h5py, numpy as np
a_dir, b_dir = sys.argv[1], sys.argv[2]
worst = 0.0
for f in sorted(os.listdir(a_dir)):
    a, b = h5py.File(f"{a_dir}/{f}", "r"), h5py.File(f"{b_dir}/{f}", "r")
    assert b.attrs["status"] in (b"done", "done"), (f, b.attrs["status"])
    for g in ("params", "metrics"):
        for k in a[g]:
            if "seconds" in k or "per_s" in k: continue  # wall-clock figures
            x, y = a[g][k][:], b[g][k][:]
            if x.shape != y.shape: worst = float("inf"); continue
            if not np.array_equal(x, y): worst = max(worst, float(np.max(np.abs(x.astype(float) - y))))
print("same" if worst == 0 else f"differ by {worst:.3g}")
PY
}
final() { /usr/bin/python3 -c "import h5py,sys; print(int(h5py.File(sys.argv[1])['final/'+sys.argv[2]][()]))" "$1"/t/runs/*.h5 "$2"; }

echo "== 2 threads, twice; 1 thread once"
"$GS" run --quiet --threads 2 --results "$T/a" "$T/t.ini" > "$T/a.txt" 2>&1 || { cat "$T/a.txt"; fail "run a"; }
"$GS" run --quiet --threads 2 --results "$T/b" "$T/t.ini" > "$T/b.txt" 2>&1 || { cat "$T/b.txt"; fail "run b"; }
"$GS" run --quiet --threads 1 --results "$T/c" "$T/t.ini" > "$T/c.txt" 2>&1 || { cat "$T/c.txt"; fail "run c"; }
[ "$(final "$T/a" openblas_threads)" = 2 ] || fail "the run file does not record 2 OpenBLAS threads"
[ "$(final "$T/c" openblas_threads)" = 1 ] || fail "the run file does not record 1 OpenBLAS thread"
[ "$(final "$T/a" group_ranks)" = 1 ] || fail "the run file does not record its group size"
r=$(diff_runs "$T/a" "$T/b"); [ "$r" = same ] || fail "two runs with 2 threads: $r"
echo "2 threads twice: same; 1 thread against 2: $(diff_runs "$T/a" "$T/c") (information: OpenBLAS sums in another order)"

# stop a run with SIGTERM once it has checkpointed (waits for the ledger line, not a fixed time)
stop_after_checkpoint() { # results-dir pid
  local t0=$SECONDS
  until grep -q $'\tcheckpointed\t' "$1/t/ledger.log" 2>/dev/null; do
    kill -0 "$2" 2>/dev/null || return 1
    [ $((SECONDS - t0)) -lt 300 ] || return 1
    sleep 0.05
  done
  kill -TERM "$2"
  wait "$2"
}

echo "== checkpointed with 2 threads, resumed with 1: refused, checkpoint kept"
"$GS" run --quiet --threads 2 --results "$T/r" "$T/t.ini" > "$T/r1.txt" 2>&1 &
stop_after_checkpoint "$T/r" $!; rc=$?
[ $rc = 3 ] || { cat "$T/r1.txt"; fail "SIGTERM after a checkpoint: exit $rc, want 3"; }
"$GS" run --quiet --threads 1 --results "$T/r" "$T/t.ini" > "$T/r2.txt" 2>&1; rc=$?
[ $rc = 1 ] || { cat "$T/r2.txt"; fail "resume with another thread count: exit $rc, want 1 (a run failed)"; }
grep -q "written with 2 OpenBLAS threads per rank and 1 rank per run, this job has 1 and 1" "$T/r2.txt" ||
  { cat "$T/r2.txt"; fail "no message naming both thread counts"; }
grep -q -- "--threads 2 --ranks-per-run 1" "$T/r2.txt" || { cat "$T/r2.txt"; fail "no advice how to resume"; }
ls "$T"/r/t/ckpt/*.h5 > /dev/null 2>&1 || fail "the checkpoint was not kept"
grep -q $'\tfailed\t' "$T/r/t/ledger.log" || fail "the refused resume is not in the ledger"
echo "== resumed with 2 threads: bit for bit the uninterrupted 2-thread run"
"$GS" run --quiet --threads 2 --results "$T/r" "$T/t.ini" > "$T/r3.txt" 2>&1 || { cat "$T/r3.txt"; fail "resume"; }
grep -q $'\tresumed\t' "$T/r/t/ledger.log" || fail "the run did not resume from its checkpoint"
r=$(diff_runs "$T/a" "$T/r"); [ "$r" = same ] || fail "resumed 2-thread run against the uninterrupted one: $r"

echo "== checkpointed by a group of 2 ranks, resumed by 1 rank: refused"
mpirun -np 2 "$GS" run --quiet --ranks-per-run 2 --results "$T/g" "$T/t.ini" > "$T/g1.txt" 2>&1 &
stop_after_checkpoint "$T/g" $!
ls "$T"/g/t/ckpt/*.h5 > /dev/null 2>&1 || { cat "$T/g1.txt"; fail "the 2-rank group wrote no checkpoint"; }
"$GS" run --quiet --results "$T/g" "$T/t.ini" > "$T/g2.txt" 2>&1; rc=$?
[ $rc = 1 ] || { cat "$T/g2.txt"; fail "resume by another group size: exit $rc, want 1"; }
grep -q "1 OpenBLAS thread per rank and 2 ranks per run, this job has 1 and 1" "$T/g2.txt" ||
  { cat "$T/g2.txt"; fail "no message naming both group sizes"; }
mpirun -np 2 "$GS" run --quiet --ranks-per-run 2 --results "$T/g" "$T/t.ini" > "$T/g3.txt" 2>&1 ||
  { cat "$T/g3.txt"; fail "resume by a group of 2"; }
[ "$(final "$T/g" group_ranks)" = 2 ] || fail "the run file does not record a group of 2"
echo "PASS"
