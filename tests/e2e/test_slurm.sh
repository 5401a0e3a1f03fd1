#!/usr/bin/env bash
# The sbatch templates on a real one-node Slurm cluster (slurm/local/start, in a temporary
# directory on free ports, always stopped at the end):
#   1. slurm/sweep.sbatch (srun --mpi=pmix, 2 ranks) gives the numbers of a singleton sweep;
#   2. slurm/sweep-array.sbatch (3 shards) fills one results directory whose run files and
#      sweep.h5 grid equal the single allocation's; so does a script from `gensweep slurm --array 2`;
#   3. a running sweep preempted with SIGUSR1 checkpoints, requeues itself, resumes from its
#      checkpoints and ends with the numbers of an uninterrupted sweep;
#      So does an asha sweep (early stopping): the same decisions, in the same order;
#   4. srun tasks that do not form one MPI world (--mpi=none) are refused with a clear message.
# Exit 77 (ctest: skipped) when the Slurm daemons are not installed or cannot start here.
set -uo pipefail
GS=${GS:-build/gensweep}
GS=$(cd "$(dirname "$GS")" && pwd)/$(basename "$GS")
SRC=${GS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d /tmp/gs_slurm_XXXXXX)
export SLURM_LOCAL_DIR=$T/cluster
cleanup() {
  "$SRC/slurm/local/stop" > /dev/null 2>&1
  pkill -9 -f "$T/" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$T"/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -30 "$f"; }; done
  [ -f "$SLURM_LOCAL_DIR/log/slurmctld.log" ] && { echo "--- slurmctld.log"; tail -15 "$SLURM_LOCAL_DIR/log/slurmctld.log"; }
  exit 1
}
# GS_REQUIRE_SLURM=1 (set by .ci/run): a cluster that cannot start is a failure, not a skip
skip() {
  if [ "${GS_REQUIRE_SLURM:-0}" = 1 ]; then echo "FAIL (GS_REQUIRE_SLURM=1): $*"; exit 1; fi
  echo "SKIP: $*"; exit 77
}
t_start=$(date +%s)

for p in slurmctld slurmd munged sbatch srun; do
  command -v "$p" > /dev/null || PATH=$PATH:/usr/sbin
  command -v "$p" > /dev/null || skip "$p is not installed (scripts/setup installs slurm-wlm and munge)"
done

# ---------------------------------------------------------------- cluster on free ports
started=0
for _ in 1 2 3 4 5 6; do
  port=$((20000 + RANDOM % 20000))
  SLURM_LOCAL_CTLD_PORT=$port SLURM_LOCAL_SLURMD_PORT=$((port + 1)) "$SRC/slurm/local/start" > "$T/start.txt" 2>&1
  rc=$?
  [ $rc = 0 ] && { started=1; break; }
  [ $rc = 2 ] && grep -q "in use" "$T/start.txt" && continue   # busy port: try others
  break
done
[ $started = 1 ] || { cat "$T/start.txt"; skip "the local Slurm cluster cannot start here"; }
# shellcheck disable=SC1091
source "$SLURM_LOCAL_DIR/env.sh"
# the templates forward USR1 no earlier than GENSWEEP_SIGNAL_DELAY (default 10) s after srun
# started: 2 s keeps the tiny preempted sweep from finishing before the signal reaches it
export GENSWEEP=$GS OMPI_MCA_orte_tmpdir_base=$T GENSWEEP_SIGNAL_DELAY=2
echo "cluster up in $(($(date +%s) - t_start)) s (ports $port/$((port + 1)))"

# Time limits are for a hang, not a busy machine: they scale with GS_TEST_SLOWDOWN (4 under the
# sanitizers, where a requeued sweep ran past a fixed 90 s on a loaded machine).
SLOW=${GS_TEST_SLOWDOWN:-1}
wait_gone() { # jobid timeout-seconds: until the job (every array task) has left the queue
  local lim=$(($2 * SLOW))
  local end=$(($(date +%s) + lim))
  while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
    [ "$(date +%s)" -lt "$end" ] || fail "job $1 still in the queue (pending or running) after $lim s: $(squeue -h -j "$1")"
    sleep 0.2
  done
}
job_field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"; }
all_completed() { # jobid: every job/array task COMPLETED with exit code 0:0
  local states codes
  states=$(job_field "$1" JobState | sort -u | tr '\n' ' ')
  codes=$(job_field "$1" ExitCode | sort -u | tr '\n' ' ')
  [ "$states" = "COMPLETED " ] && [ "$codes" = "0:0 " ] || fail "job $1: states '$states', exit codes '$codes'"
}

# jobid pattern: wait until a requeued job has run to its end, starting it as soon as its previous
# batch script (a process whose command line has pattern) is gone; every task COMPLETED 0:0
until_requeued_done() {
  local end=$(($(date +%s) + 90 * SLOW))
  while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
    [ "$(date +%s)" -lt "$end" ] || fail "job $1 still in the queue (pending or running) after $((90 * SLOW)) s"
    if [ "$(squeue -h -j "$1" -o %T 2>/dev/null)" = PENDING ] && ! pgrep -f -- "$2" > /dev/null; then
      scontrol update jobid="$1" StartTime=now 2> /dev/null
    fi
    sleep 0.2
  done
  all_completed "$1"
}

cat > "$T/s.ini" <<INI
[sweep]
name = s
[data]
train_size = 1000
test_size = 200
[model]
hidden1 = 64
hidden2 = 32
[train]
epochs = 2
batch_size = 50
[eval]
iw_samples = 4
; sample quality needs the judge classifier (a minute to train): tested in e2e_cae_igmn
judge = 0
n_samples = 10
[grid]
model.name = vae, cvae
model.latent_dim = 2, 4
INI
# longer runs for the preemption: about 0.5 s per epoch, a checkpoint after every epoch
# long enough (~10 s on 2 ranks of an idle machine) that the sweep is still running when the
# forwarded USR1 reaches it: the template forwards it GENSWEEP_SIGNAL_DELAY s after srun starts
cat > "$T/k.ini" <<INI
[sweep]
name = k
[data]
train_size = 12000
test_size = 300
[model]
hidden1 = 128
hidden2 = 64
[train]
epochs = 16
batch_size = 50
checkpoint_every = 1
[eval]
iw_samples = 3
; sample quality needs the judge classifier (a minute to train): tested in e2e_cae_igmn
judge = 0
n_samples = 10
[grid]
model.name = vae, cvae
model.latent_dim = 2, 3
INI
"$GS" run --quiet --results "$T/ref" "$T/s.ini" > "$T/ref.txt" 2>&1 || { cat "$T/ref.txt"; fail "reference s"; }
"$GS" run --quiet --results "$T/ref" "$T/k.ini" > "$T/refk.txt" 2>&1 || { cat "$T/refk.txt"; fail "reference k"; }

compare() { # sweep-name results-dir label: run files (and the sweep.h5 grid) equal the reference
  /usr/bin/python3 - "$T/ref/$1" "$2/$1" "$3" <<'PY'
import sys, os, h5py, numpy as np
a_dir, b_dir, label = sys.argv[1:4]
ids = sorted(os.listdir(f"{a_dir}/runs"))
assert ids == sorted(os.listdir(f"{b_dir}/runs")), (label, os.listdir(f"{b_dir}/runs"))
for f in ids:
    a, b = h5py.File(f"{a_dir}/runs/{f}", "r"), h5py.File(f"{b_dir}/runs/{f}", "r")
    assert b.attrs["status"] in (b"done", "done"), (label, f, b.attrs["status"])
    for k in a["params"]:
        assert np.array_equal(a["params"][k][:], b["params"][k][:]), (label, f, k)
    for k in ("train_loss", "test_neg_elbo", "test_rec", "test_kl"):
        assert np.array_equal(a["metrics"][k][:], b["metrics"][k][:]), (label, f, k)
    assert a["final/test_iw_nll"][()] == b["final/test_iw_nll"][()], (label, f)
ga, gb = h5py.File(f"{a_dir}/sweep.h5", "r")["grid"][:], h5py.File(f"{b_dir}/sweep.h5", "r")["grid"][:]
assert len(ga) == len(gb) == len(ids), (label, len(ga), len(gb))
for name in ga.dtype.names:
    if "seconds" in name or "per_s" in name:
        continue
    assert np.array_equal(ga[name], gb[name]), (label, name, ga[name], gb[name])
print(f"{label}: {len(ids)} runs and the sweep.h5 grid equal to a singleton sweep")
PY
}

# ---------------------------------------------------------------- 1. one allocation
echo "== slurm/sweep.sbatch, 2 tasks"
t0=$(date +%s.%N)
j=$(sbatch --parsable --ntasks=2 --time=30 -o "$T/one-%j.out" "$SRC/slurm/sweep.sbatch" "$T/s.ini" --results "$T/r1" --quiet) \
  || fail "sbatch sweep.sbatch"
wait_gone "$j" 60
echo "sbatch to results: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
all_completed "$j"
grep -q "2 ranks: 2 worker groups" "$T/one-$j.out" || fail "sweep.sbatch did not start one 2-rank MPI job"
compare s "$T/r1" "sweep.sbatch" || fail "sweep.sbatch numbers"

# ---------------------------------------------------------------- 2. job array of shards
echo "== slurm/sweep-array.sbatch, 3 shards"
ja=$(sbatch --parsable --array=0-2 --time=30 -o "$T/arr-%A_%a.out" "$SRC/slurm/sweep-array.sbatch" "$T/s.ini" \
     --results "$T/r2" --quiet) || fail "sbatch sweep-array.sbatch"
wait_gone "$ja" 60
all_completed "$ja"
for i in 0 1 2; do
  grep -q -- "--shard $i/3" "$T/arr-${ja}_$i.out" || fail "array task $i did not run shard $i/3"
done
compare s "$T/r2" "sweep-array.sbatch (merged by the shards)" || fail "array numbers"
"$GS" status "$T/r2/s" > "$T/status2.txt" || fail "status of the array sweep"
grep -q "malformed" "$T/status2.txt" && { cat "$T/status2.txt"; fail "array ledger has malformed lines"; }
"$GS" rebuild "$T/r2/s" > /dev/null || fail "rebuild"
compare s "$T/r2" "sweep-array.sbatch after gensweep rebuild" || fail "array numbers after rebuild"

echo "== gensweep slurm --array 2: a generated script"
"$GS" slurm "$T/s.ini" --array 2 --time 30 --results "$T/r2 gen" -o "$T/gen.sbatch" || fail "gensweep slurm"
bash -n "$T/gen.sbatch" || fail "generated script does not parse"
(cd "$T" && env -u GENSWEEP sbatch --parsable "$T/gen.sbatch" > "$T/gen.id") || fail "sbatch of the generated script"
jg=$(cat "$T/gen.id")
wait_gone "$jg" 60
all_completed "$jg"
mkdir -p "$T/r2gen" && ln -s "$T/r2 gen/s" "$T/r2gen/s"
compare s "$T/r2gen" "generated array script (results path with a space)" || fail "generated script numbers"

# ---------------------------------------------------------------- 3. preempted, requeued, resumed
echo "== preemption: SIGUSR1 -> checkpoint -> requeue -> resume"
jp=$(sbatch --parsable --ntasks=2 --time=30 -o "$T/pre-%j.out" "$SRC/slurm/sweep.sbatch" "$T/k.ini" --results "$T/r3") \
  || fail "sbatch (preemption)"
end=$(($(date +%s) + 60 * SLOW))
until grep -q "checkpointed" "$T/r3/k/ledger.log" 2>/dev/null; do
  [ "$(date +%s)" -lt "$end" ] || fail "no checkpoint within $((60 * SLOW)) s"
  sleep 0.1
done
[ "$(squeue -h -j "$jp" -o %T)" = RUNNING ] || fail "job $jp finished before it could be preempted"
scancel --batch --signal=USR1 "$jp" || fail "scancel --signal=USR1"
# Requeued, it waits cred_expire + 1 s (BeginTime). Skip that with StartTime=now once the
# previous batch script has ended. (--time must stay well above the template's 300 s signal
# margin: with --time=5 Slurm sends the time-limit USR1 at once, on every start.)
end=$(($(date +%s) + 60 * SLOW))
until [ "$(squeue -h -j "$jp" -o %T 2>/dev/null)" = PENDING ] && ! pgrep -f -- "$T/k.ini" > /dev/null; do
  [ "$(date +%s)" -lt "$end" ] || fail "job $jp did not requeue within $((60 * SLOW)) s ($(squeue -h -j "$jp" -o %T))"
  sleep 0.1
done
scontrol update jobid="$jp" StartTime=now || fail "scontrol update StartTime=now"
until_requeued_done "$jp" "$T/k.ini"
restarts=$(job_field "$jp" Restarts)
[ "$restarts" -ge 1 ] || fail "job $jp: Restarts=$restarts, want 1"
[ "$restarts" = 1 ] || echo "note: job $jp restarted $restarts times"
out=$T/pre-$jp.out
grep -q "SIGUSR1: checkpointing" "$out" || fail "the trap did not see SIGUSR1"
grep -q "interrupted, checkpointed" "$out" || fail "no run was checkpointed on SIGUSR1"
grep -q "requeueing job $jp" "$out" || fail "the job did not requeue itself"
grep -q "start 1 on" "$out" || fail "no second start in the (appended) output"
grep -q "resumed from its checkpoint" "$out" || fail "no run resumed from its checkpoint"
grep -q "gensweep exited with status 0" "$out" || fail "the resumed sweep did not finish"
compare k "$T/r3" "preempted + requeued sweep" || fail "preempted sweep numbers"
ls "$T/r3/k/ckpt/"*.h5 > /dev/null 2>&1 && fail "checkpoints left after the sweep finished"

# ---------------------------------------------------------------- 3b. an asha sweep preempted
# Early stopping (issue 13): the scheduler's decisions are in the ledger, so a preempted and
# requeued asha sweep makes the same decisions in the same order (one task: results arrive in a
# fixed order) and ends with the numbers of an uninterrupted one.
echo "== preemption of an asha sweep: the same decisions and numbers"
ASHA=(sweep.name=q sweep.scheduler=asha sweep.min_resource=1 sweep.reduction=3 train.epochs=9 model.name=vae \
      model.latent_dim=2,3,4 train.lr=0.0003,0.001,0.003)
"$GS" run --quiet --results "$T/ref" "$T/k.ini" "${ASHA[@]}" > "$T/refq.txt" 2>&1 || { cat "$T/refq.txt"; fail "reference q"; }
jq=$(sbatch --parsable --ntasks=1 --time=30 -o "$T/preq-%j.out" "$SRC/slurm/sweep.sbatch" "$T/k.ini" --results "$T/r5" \
     "${ASHA[@]}") || fail "sbatch (asha preemption)"
end=$(($(date +%s) + 60 * SLOW))
until [ "$(grep -c "	sched	" "$T/r5/q/ledger.log" 2>/dev/null)" -ge 6 ]; do
  [ "$(date +%s)" -lt "$end" ] || fail "asha: no 6 scheduler lines within $((60 * SLOW)) s"
  sleep 0.1
done
[ "$(squeue -h -j "$jq" -o %T)" = RUNNING ] || fail "job $jq finished before it could be preempted"
scancel --batch --signal=USR1 "$jq" || fail "scancel --signal=USR1 (asha)"
until_requeued_done "$jq" "$T/r5"
[ "$(job_field "$jq" Restarts)" -ge 1 ] || fail "asha job $jq was not requeued"
grep -q "earlier decisions replayed from the ledger" "$T/preq-$jq.out" || fail "asha: the requeued job replayed nothing"
for d in "$T/ref/q" "$T/r5/q"; do grep -P '^[0-9.]+\tsched\t' "$d/ledger.log" | cut -f7 > "$d.dec"; done
cmp -s "$T/ref/q.dec" "$T/r5/q.dec" || { diff "$T/ref/q.dec" "$T/r5/q.dec" | head; fail "asha: other decisions after the preemption"; }
/usr/bin/python3 - "$T/ref/q" "$T/r5/q" <<'PY' || fail "asha: other numbers after the preemption"
import sys, os, glob, h5py, numpy as np
a, b = sys.argv[1:3]
runs = sorted(os.path.basename(f) for f in glob.glob(a + "/runs/*.h5"))
assert len(runs) == 9 and runs == sorted(os.path.basename(f) for f in glob.glob(b + "/runs/*.h5"))
for r in runs:
    with h5py.File(f"{a}/runs/{r}", "r") as x, h5py.File(f"{b}/runs/{r}", "r") as y:
        assert x.attrs["status"] == y.attrs["status"], r
        assert np.array_equal(x["metrics/test_neg_elbo"][()], y["metrics/test_neg_elbo"][()]), r
print("asha after a preemption: %d decisions and 9 run files as uninterrupted" % sum(1 for _ in open(a + ".dec")))
PY

# ---------------------------------------------------------------- 4. tasks that are not one MPI world
echo "== srun --mpi=none: refused"
srun -n2 --mpi=none --time=2 "$GS" run --quiet --results "$T/r4" "$T/s.ini" > "$T/none.txt" 2>&1
rc=$?
[ $rc = 2 ] || { cat "$T/none.txt"; fail "srun --mpi=none: exit $rc, want 2"; }
grep -q "without PMIx" "$T/none.txt" || { cat "$T/none.txt"; fail "srun --mpi=none: no clear message"; }
grep -q "srun --mpi=pmix" "$T/none.txt" || { cat "$T/none.txt"; fail "srun --mpi=none: message does not say what to do"; }
[ $(grep -c "without PMIx" "$T/none.txt") = 1 ] || fail "the message should be printed once, not per task"
[ ! -e "$T/r4" ] || fail "results written despite the refusal"

echo "all Slurm checks in $(($(date +%s) - t_start)) s"
echo PASS
