#!/usr/bin/env bash
# Slurm figures (issue 5, point 6), on the local one-node cluster (slurm/local/start, own
# temporary directory and free ports, stopped at the end):
#  1. cluster start (fresh, to node idle) and stop
#  2. sbatch -> results of a tiny sweep (4 runs x 2 epochs) with slurm/sweep.sbatch, 2 tasks:
#     from sbatch until the job has left the queue with sweep.h5 complete (REPS times: min, median)
#  3. the same sweep as slurm/sweep-array.sbatch, 2 and 4 shards
#  4. graceful preemption (scancel --batch --signal=USR1, requeue, StartTime=now): signal ->
#     job back in the queue, and the work recomputed after the resume (ledger: progress at the
#     stop vs. the point resumed from)
#  5. hard loss (every rank SIGKILLed, then scontrol requeue): per running run, the seconds of
#     training since its last checkpoint (ledger time stamps), against one checkpoint interval
#   tests/bench/slurm_timing.sh [build dir]      REPS=5 to repeat 2. more often
# The templates forward USR1 no earlier than GENSWEEP_SIGNAL_DELAY s after srun started (default
# 10); here 2, or the small sweep would finish first. The stop latency below counts from the
# signal, so with the default a signal in a step's first 10 s is answered later.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$(pwd)
B=$(cd "${1:-build}" && pwd)
GS=$B/gensweep
REPS=${REPS:-3}
T=$(mktemp -d /tmp/gs_slurmbench_XXXXXX)
export SLURM_LOCAL_DIR=$T/cluster
cleanup() { "$SRC/slurm/local/stop" > /dev/null 2>&1 || true; pkill -9 -f "$T/" 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
export OPENBLAS_NUM_THREADS=1 GENSWEEP=$GS OMPI_MCA_orte_tmpdir_base=$T GENSWEEP_SIGNAL_DELAY=${GENSWEEP_SIGNAL_DELAY:-2}
now() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
stats() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { printf "min %.2f s, median %.2f s (n=%d)", v[1], v[int((NR + 1) / 2)], NR }'; }
wait_gone() { while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do sleep 0.05; done; }
state_of() { squeue -h -j "$1" -o %T 2>/dev/null; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# ------------------------------------------------------------------ 1. start / stop
for _ in 1 2 3 4 5 6; do
  port=$((20000 + RANDOM % 20000))
  t0=$(now)
  if SLURM_LOCAL_CTLD_PORT=$port SLURM_LOCAL_SLURMD_PORT=$((port + 1)) slurm/local/start > "$T/start.txt" 2>&1; then break; fi
  grep -q "in use" "$T/start.txt" || { cat "$T/start.txt"; exit 1; }
done
t1=$(now)
echo "1. cluster start (fresh, to node idle): $(dt "$t0" "$t1") s"
# shellcheck disable=SC1091
source "$SLURM_LOCAL_DIR/env.sh"

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
n_samples = 10
[grid]
model.name = vae, cvae
model.latent_dim = 2, 4
INI
t0=$(now); "$GS" run --quiet --results "$T/single" "$T/s.ini" > /dev/null; t1=$(now)
echo "   (the same tiny sweep as a singleton outside Slurm: $(dt "$t0" "$t1") s)"

# ------------------------------------------------------------------ 2. sbatch -> results
# what Slurm itself costs: an empty batch job, and one that starts a 2-task PMIx step
for what in "true" "srun --mpi=pmix -n2 true"; do
  times=""
  for r in $(seq 1 "$REPS"); do
    t0=$(now); j=$(sbatch --parsable -n2 -o /dev/null --wrap "$what"); wait_gone "$j"; times="$times $(dt "$t0" "$(now)")"
  done
  echo "   (sbatch --wrap '$what' to the job leaving the queue: $(echo "$times" | stats))"
done
times=""
for r in $(seq 1 "$REPS"); do
  t0=$(now)
  j=$(sbatch --parsable --ntasks=2 -o "$T/one-%j.out" slurm/sweep.sbatch "$T/s.ini" --results "$T/one$r" --quiet)
  wait_gone "$j"
  t1=$(now)
  grep -q "4 done" "$T/one-$j.out" || { cat "$T/one-$j.out"; exit 1; }
  times="$times $(dt "$t0" "$t1")"
done
echo "2. sbatch -> results, slurm/sweep.sbatch, 2 tasks, 4 runs x 2 epochs: $(echo "$times" | stats)"

# ------------------------------------------------------------------ 3. job array
for n in 2 4; do
  t0=$(now)
  j=$(sbatch --parsable --array=0-$((n - 1)) -o "$T/arr-%A_%a.out" slurm/sweep-array.sbatch "$T/s.ini" --results "$T/arr$n" --quiet)
  wait_gone "$j"
  t1=$(now)
  /usr/bin/python3 -c "
import h5py, sys
g = h5py.File('$T/arr$n/s/sweep.h5', 'r')['grid'][:]
assert len(g) == 4 and all(s == b'done' for s in g['status']), g['status']" || exit 1
  echo "3. sbatch -> results, slurm/sweep-array.sbatch, $n shards (2 CPUs: at most 2 at once): $(dt "$t0" "$t1") s"
done

# ------------------------------------------------------------------ 4. / 5. preemption
cat > "$T/k.ini" <<INI
[sweep]
name = k
[data]
train_size = 6000
test_size = 300
[model]
hidden1 = 128
hidden2 = 64
[train]
epochs = 6
batch_size = 50
checkpoint_every = 1
[eval]
iw_samples = 3
n_samples = 10
[grid]
model.name = vae, cvae
model.latent_dim = 2, 3
INI
t0=$(now)
j=$(sbatch --parsable --ntasks=2 -o "$T/kref-%j.out" slurm/sweep.sbatch "$T/k.ini" --results "$T/kref" --quiet)
wait_gone "$j"
t1=$(now)
ref_wall=$(dt "$t0" "$t1")
echo "4./5. reference: 4 runs x 6 epochs (checkpoint every epoch), uninterrupted: $ref_wall s from sbatch to results"

# wait until some run has checkpointed, then preempt
preempt() { # label results-dir how(usr1|kill)
  local label=$1 res=$2 how=$3 j t0 ts tq t1
  t0=$(now)
  j=$(sbatch --parsable --ntasks=2 -o "$T/$label-%j.out" slurm/sweep.sbatch "$T/k.ini" --results "$res")
  until [ "$(cat "$res/k/ledger.log" 2>/dev/null | grep -c checkpointed)" -ge 3 ]; do sleep 0.05; done
  sleep 0.$((RANDOM % 9 + 1))   # somewhere inside an epoch
  ts=$(now)
  if [ "$how" = usr1 ]; then
    scancel --batch --signal=USR1 "$j"
  else
    pkill -9 -f -- "--results $res" || true   # every rank: a lost node
  fi
  until [ "$(state_of "$j")" = PENDING ] || [ -z "$(state_of "$j")" ]; do sleep 0.05; done
  if [ -z "$(state_of "$j")" ] || [ "$how" = kill ]; then
    # the script saw its ranks die (no signal): requeueing is the operator's (or the node-failure
    # policy's) job
    while pgrep -f -- "$T/k.ini" > /dev/null; do sleep 0.05; done
    [ "$(state_of "$j")" = PENDING ] || scontrol requeue "$j"
  fi
  tq=$(now)
  while pgrep -f -- "$T/k.ini" > /dev/null || [ "$(state_of "$j")" != PENDING ]; do sleep 0.05; done
  scontrol update jobid="$j" StartTime=now || true
  while [ -n "$(state_of "$j")" ]; do
    if [ "$(state_of "$j")" = PENDING ] && ! pgrep -f -- "$T/k.ini" > /dev/null; then
      scontrol update jobid="$j" StartTime=now 2> /dev/null || true   # it may have just started
    fi
    sleep 0.1
  done
  t1=$(now)
  echo "   $label: signal/kill -> job back in the queue $(dt "$ts" "$tq") s; sbatch -> results $(dt "$t0" "$t1") s (reference $ref_wall s)"
  /usr/bin/python3 - "$res/k" "$ts" "$how" <<'PY'
import sys, h5py
d, t_sig, how = sys.argv[1], float(sys.argv[2]), sys.argv[3]
# ledger times are wall-clock unix seconds, as is t_sig (date +%s.%N); rank 0 writes every line,
# so a remote group's line may lag its event by one of rank 0's training steps
rows = [l.rstrip("\n").split("\t") for l in open(f"{d}/ledger.log") if l[0].isdigit()]
runs = {}
for t, state, rid, h, ep, pid, msg in rows:
    runs.setdefault(rid, []).append((float(t), state, int(ep)))
lost_total, worst = 0.0, 0.0
for rid, ev in runs.items():
    before = [(t, s, e) for t, s, e in ev if t <= t_sig]
    if not before or before[-1][1] in ("done", "queued"):
        continue                                      # not running at the signal
    # one epoch of this run, from its run file (training + evaluation, as recorded)
    f = h5py.File(f"{d}/runs/{rid}.h5", "r")
    ep_s = max(f["metrics/epoch_seconds"][:])
    resumed = [e for t, s, e in ev if s == "resumed" and t > t_sig]
    res = f"resumed at epoch {resumed[0]}" if resumed else "no checkpoint yet: started again from scratch"
    if how == "usr1":
        # the stop checkpoint is written at the next step: nothing before it is recomputed
        stop_ck = [t for t, s, e in ev if s == "checkpointed" and t > t_sig]
        lat = (stop_ck[0] - t_sig) if stop_ck else float("nan")
        print(f"     {rid}: stop checkpoint {lat:.2f} s after the signal; {res} (mid-epoch position kept): "
              f"0 s recomputed (an epoch takes up to {ep_s:.2f} s)")
    else:
        last_ck = max(t for t, s, e in before if s in ("checkpointed", "started", "resumed"))
        lost = t_sig - last_ck
        lost_total += lost
        worst = max(worst, lost)
        print(f"     {rid}: {lost:.2f} s of work since its last checkpoint lost; one epoch (the checkpoint "
              f"interval) takes up to {ep_s:.2f} s; {res}")
if how == "kill":
    print(f"     lost work: {lost_total:.2f} s in total, worst run {worst:.2f} s "
          f"(bound: one checkpoint interval per running run)")
PY
}
echo "4. graceful preemption (scancel --batch --signal=USR1 -> checkpoint -> scontrol requeue -> resume):"
preempt usr1 "$T/kusr1" usr1
echo "5. hard loss (kill -9 of every rank, then scontrol requeue -> resume from the last checkpoints):"
preempt kill "$T/kkill" kill

/usr/bin/python3 - "$T/kref/k" "$T/kusr1/k" "$T/kkill/k" <<'PY'
import sys, os, h5py, numpy as np
ref = sys.argv[1]
for d in sys.argv[2:]:
    for f in sorted(os.listdir(f"{ref}/runs")):
        a, b = h5py.File(f"{ref}/runs/{f}", "r"), h5py.File(f"{d}/runs/{f}", "r")
        for k in a["params"]:
            assert np.array_equal(a["params"][k][:], b["params"][k][:]), (d, f, k)
print("   both preempted sweeps ended bit for bit equal to the uninterrupted one")
PY
t0=$(now)
slurm/local/stop > /dev/null
echo "1. cluster stop: $(dt "$t0" "$(now)") s"
