#!/usr/bin/env bash
# Several jobs on one sweep directory (a relaunch while the old job still runs, an overlapping
# requeue): each run is trained exactly once, whatever the jobs' timing. A job skips a run
# another job is training (its lock is held) or has finished since this job made its queue (the
# run file is checked again once the lock is taken); every run ends done, once.
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d)
cleanup() { pkill -9 -f "$T/" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_MCA_rmaps_base_oversubscribe=1
cat > "$T/j.ini" <<INI
[sweep]
name = j
[data]
train_size = 3000
test_size = 500
[train]
epochs = 2
[eval]
iw_samples = 0
judge = 0
n_samples = 4
[grid]
model.latent_dim = 2, 3, 4, 5, 6, 7
INI

# count the runs each job trained (its "done in" lines) and check the whole
check() { # label results-dir jobs...
  local label=$1 res=$2; shift 2
  local trained=0
  for log in "$@"; do
    local n; n=$(grep -c ": done in " "$log"); trained=$((trained + n))
  done
  [ "$trained" = 6 ] || { tail -n 30 "$@"; fail "$label: $trained runs trained for 6 (each must be trained once)"; }
  local files; files=$(ls "$res/j/runs/"*.h5 2>/dev/null | wc -l)
  [ "$files" = 6 ] || fail "$label: $files run files"
  "$GS" status "$res/j" > "$T/$label.status" 2>&1 || { cat "$T/$label.status"; fail "$label: status"; }
  grep -q "6 done" "$T/$label.status" || { cat "$T/$label.status"; fail "$label: status does not say 6 done"; }
  echo "$label: 6 runs, each trained once ($(for log in "$@"; do printf '%s ' "$(grep -c ': done in ' "$log")"; done)per job)"
}
# the second job's status: 0 when every run it was handed was finished (by it or by the other
# job by then), 3 when a run was still being trained by the other job ("run again when it is done")
ok_rc() { [ "$1" = 0 ] || [ "$1" = 3 ]; }

for offset in 0 0.3 0.7 1.5 2.5; do
  R="$T/o$offset"
  "$GS" run --results "$R" "$T/j.ini" > "$R.1.log" 2>&1 &
  p1=$!
  sleep "$offset"
  "$GS" run --results "$R" "$T/j.ini" > "$R.2.log" 2>&1; rc2=$?
  wait "$p1"; rc1=$?
  ok_rc "$rc1" || { cat "$R.1.log"; fail "offset $offset: first job exited $rc1"; }
  ok_rc "$rc2" || { cat "$R.2.log"; fail "offset $offset: second job exited $rc2"; }
  check "offset-$offset" "$R" "$R.1.log" "$R.2.log"
done

# three jobs, one of them under mpirun with two worker groups, started as the first finishes runs
R="$T/three"
"$GS" run --results "$R" "$T/j.ini" > "$R.1.log" 2>&1 &
p1=$!
t0=$SECONDS
until grep -q $'\tdone\t' "$R/j/ledger.log" 2>/dev/null; do
  kill -0 "$p1" 2>/dev/null || break
  [ $((SECONDS - t0)) -lt 300 ] || fail "no run done within 300 s"
  sleep 0.05
done
mpirun -np 2 "$GS" run --results "$R" "$T/j.ini" > "$R.2.log" 2>&1 &
p2=$!
"$GS" run --results "$R" "$T/j.ini" > "$R.3.log" 2>&1; rc3=$?
wait "$p2"; rc2=$?
wait "$p1"; rc1=$?
ok_rc "$rc1" || { cat "$R.1.log"; fail "three jobs: first exited $rc1"; }
ok_rc "$rc3" || { cat "$R.3.log"; fail "three jobs: third exited $rc3"; }
# mpirun reports a non-zero status of its ranks as 1 or the status itself
case "$rc2" in 0|1|3) ;; *) cat "$R.2.log"; fail "three jobs: mpirun exited $rc2" ;; esac
check three "$R" "$R.1.log" "$R.2.log" "$R.3.log"
echo PASS
