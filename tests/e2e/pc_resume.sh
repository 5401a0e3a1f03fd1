# Sourced by the point-cloud e2e tests (needs GS, T, PY and fail): run the one-model sweep in the
# file $1 (sweep name $2) into $T/r, stop it with SIGTERM once it has checkpointed, resume it, and
# check that the run file $4 equals the uninterrupted run's $3 bit for bit: parameters, every
# metric series and every final scalar (times excepted).
pc_term_and_resume() {
  local ini=$1 name=$2 ref=$3 got=$4 pid rc t0
  "$GS" run --quiet --results "$T/r" "$ini" > "$T/q.txt" 2>&1 &
  pid=$!
  t0=$SECONDS
  until grep -q $'\tcheckpointed\t' "$T/r/$name/ledger.log" 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { cat "$T/q.txt"; fail "$name: the run ended before a checkpoint"; }
    [ $((SECONDS - t0)) -lt $((300 * ${GS_TEST_SLOWDOWN:-1})) ] || fail "$name: no checkpoint"
    sleep 0.02
  done
  kill -TERM $pid
  wait $pid; rc=$?
  [ $rc = 3 ] || [ $rc = 0 ] || { cat "$T/q.txt"; fail "$name: SIGTERM: exit $rc"; }
  "$GS" run --quiet --results "$T/r" "$ini" > "$T/q2.txt" 2>&1 || { cat "$T/q2.txt"; fail "$name: resume"; }
  "$PY" - "$ref" "$got" <<'PY' || fail "$name stopped and resumed: other numbers"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
for k in a["params"]:
    assert np.array_equal(a["params"][k][:], b["params"][k][:]), k
for g in ("metrics", "final"):
    for k in a[g]:
        if "seconds" not in k and "per_s" not in k:
            assert np.array_equal(a[g][k][()], b[g][k][()], equal_nan=True), (g, k)
print(sys.argv[1].split("/")[-1], "stopped and resumed: identical parameters, series and final scalars")
PY
}
