#!/usr/bin/env bash
# Early stopping (issue 13 point 3): sweep.scheduler = asha | sha on a 9-run VAE grid.
#  - asha trains some runs to the last epoch and stops the others at their rungs; every decision
#    is a "sched" line of the ledger; the stopped runs' files say "stopped" and why; status shows
#    the rungs;
#  - a survivor's numbers are bit for bit those of the same run trained without a scheduler (its
#    pauses at the rungs are checkpoints, resumed exactly);
#  - kill -9 in the middle of an asha sweep, several times, and a SIGTERM (a Slurm preemption),
#    then resumed: the same decisions in the same order and the same numbers as uninterrupted;
#  - sha makes the same decisions at 2 and 3 ranks as at 1;
#  - shards share one scheduler through the ledger: sha in two shards (one of 2 ranks) makes the
#    decisions of one job; asha in two shards, one killed (-9) and started again, reports every
#    run's metric bit for bit as one job does;
#  - a damaged scheduler line appended to the ledger in the middle of a shard's sweep: the shard
#    stops (exit 2) with a message naming the ledger's line, its running run checkpointed; the same
#    command refuses to start while the line is there, and finishes the sweep once it is removed;
#  - a second job on the sweep is refused while the first runs (and shards beside a job that is
#    not a shard); a max_resource that does not match the runs is refused with a message;
#  - the same sweep with scheduler = none afterwards continues the stopped runs from their
#    checkpoints.
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d "${GS_BINARY_DIR:-${TMPDIR:-/tmp}}/e2e_sched.XXXXXX")
trap 'kill -9 $(jobs -p) 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
PY=/usr/bin/python3
SLOW=${GS_TEST_SLOWDOWN:-1}
cat > "$T/a.ini" <<INI
[sweep]
name = a
scheduler = asha
min_resource = 1
reduction = 3
[data]
train_size = 600
test_size = 200
[model]
name = vae
hidden1 = 64
hidden2 = 32
[train]
epochs = 9
batch_size = 50
[eval]
iw_samples = 0
judge = 0
n_samples = 4
[grid]
train.lr = 0.0003, 0.001, 0.003
model.latent_dim = 2, 4, 8
INI

# the scheduler's decisions of a sweep, in ledger order, without time stamps and pids
# (the ledger writes the line's tabs as \t)
decisions() { grep -P '^[0-9.]+\tsched\t' "$1/ledger.log" | cut -f7 | sed 's/\\t/\t/g'; }

# every run's reported metric at every rung bit for bit as in the one-job reference
same_reports() {
  $PY - "$T/ref.dec" <(decisions "$T/r/$1") "$1" <<'PY'
import sys
def reports(p):
    r = {}
    for l in open(p):
        f = l.rstrip("\n").split("\t")
        if f[0] == "report": r[(f[2], f[3])] = f[5]
    return r
a, b = reports(sys.argv[1]), reports(sys.argv[2])
common = set(a) & set(b)
assert len(b) >= 9 and len(common) >= 9, (len(a), len(b), len(common))
bad = [k for k in common if a[k] != b[k]]
assert not bad, bad
print("%s: %d results, %d also in the one-job sweep, bit for bit the same" % (sys.argv[3], len(b), len(common)))
PY
}

echo "== asha, uninterrupted (the reference)"
"$GS" run "$T/a.ini" --results "$T/r" > "$T/ref.log" 2>&1 || { cat "$T/ref.log"; fail "reference run"; }
R="$T/r/a"
grep -q "early stopping: asha on test_neg_elbo (min), eta 3, rungs at epochs 1 3 9" "$T/ref.log" || { cat "$T/ref.log"; fail "the rungs line"; }
decisions "$R" > "$T/ref.dec"
nstop=$(grep -c '^stop' "$T/ref.dec"); nfin=$(grep -c $'^report\t[0-9]*\t[0-9]*\t2\t' "$T/ref.dec")
[ "$nstop" -ge 5 ] && [ "$nfin" -ge 1 ] && [ $((nstop + nfin)) -eq 9 ] || { cat "$T/ref.dec"; fail "asha: $nstop stopped, $nfin finished (want every run one or the other, most stopped)"; }
"$GS" status "$R" > "$T/st.txt" 2>&1 || { cat "$T/st.txt"; fail status; }
grep -q "($nfin trained to the last epoch, $nstop stopped early by the scheduler)" "$T/st.txt" || { cat "$T/st.txt"; fail "status counts"; }
grep -qE '^  0     1       9 ' "$T/st.txt" || { cat "$T/st.txt"; fail "status: rung 0 reached by 9"; }
$PY - "$R" "$T/ref.dec" <<'PY' || fail "run files and sweep.h5 under early stopping"
import sys, h5py, glob, os
d, dec = sys.argv[1], sys.argv[2]
stopped = {l.split("\t")[6] for l in open(dec) if l.startswith("stop\t")}
for f in sorted(glob.glob(os.path.join(d, "runs", "*.h5"))):
    rid = os.path.basename(f)[:-3]
    with h5py.File(f, "r") as h:
        st, msg = h.attrs["status"], h.attrs["message"]
        st = st.decode() if isinstance(st, bytes) else st
        msg = msg.decode() if isinstance(msg, bytes) else msg
        n = len(h["metrics/test_neg_elbo"])
    if rid in stopped:
        assert st == "stopped" and msg.startswith("stopped at rung"), (rid, st, msg)
        assert n in (1, 3), (rid, n)
        assert os.path.exists(os.path.join(d, "ckpt", rid + ".h5")), rid + ": a stopped run keeps its checkpoint"
    else:
        assert st == "done" and n == 9, (rid, st, n)
with h5py.File(os.path.join(d, "sweep.h5"), "r") as h:
    g = h["grid"][:]
    sts = sorted(x.decode() for x in g["status"])
    assert sts.count("stopped") == len(stopped) and sts.count("done") == 9 - len(stopped), sts
print("run files: %d stopped (with their reason and checkpoint), %d done; sweep.h5 agrees" % (len(stopped), 9 - len(stopped)))
PY

echo "== report: the metric per epoch of every run, stops marked, the survivors ranked first"
"$GS" report "$R" > "$T/rep.log" 2>&1 || { cat "$T/rep.log"; fail report; }
[ -s "$R/report/early_stopping.png" ] || fail "no early_stopping.png"
grep -q "^## Early stopping (asha)" "$R/report/summary.md" || fail "no early-stopping section"
grep -q "^$nstop of 9 runs stopped early" "$R/report/summary.md" || fail "report: stopped count"
first=$(grep -m1 '^| 1 | ' "$R/report/summary.md")
case "$first" in *"| done | 9 |"*) ;; *) fail "rank 1 is not a run trained to epoch 9: $first";; esac
[ "$(grep -c '| stopped | [13] | ' "$R/report/summary.md")" -eq "$nstop" ] || fail "report: the stopped rows"

echo "== a survivor is bit for bit the same run trained without a scheduler"
best=$(grep $'^report\t[0-9]*\t[0-9]*\t2\t' "$T/ref.dec" | head -1 | cut -f7)
lr=${best#lr-}; lr=${lr%%_*}; z=${best##*latent_dim-}
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=full sweep.scheduler=none train.lr=$lr model.latent_dim=$z > "$T/full.log" 2>&1 || { cat "$T/full.log"; fail "the survivor alone"; }
alone=$(ls "$T"/r/full/runs/*.h5)
[ "$(echo "$alone" | wc -l)" -eq 1 ] || fail "the survivor alone: $alone"
$PY - "$R/runs/$best.h5" "$alone" <<'PY' || fail "survivor differs from the unscheduled run"
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
n = 0
for g in ("final", "params"):
    def visit(name, o):
        global n
        if isinstance(o, h5py.Dataset) and "seconds" not in name and "per_s" not in name:
            x, y = np.asarray(o[()]), np.asarray(b[g][name][()])
            assert x.shape == y.shape and np.array_equal(x, y), (g, name)
            n += 1
    a[g].visititems(visit)
for s in ("test_neg_elbo", "train_loss", "test_kl"):
    assert np.array_equal(a["metrics"][s][()], b["metrics"][s][()]), s
print("survivor %s: %d final values and parameter arrays identical to the unscheduled run" % (sys.argv[1].split("/")[-1], n))
PY

# Start a sweep, kill it (signal $2) once the ledger holds at least $3 scheduler lines, repeat
# with the next count, then finish it; each round must leave it resumable.
interrupt_and_finish() {
  local name=$1 sig=$2; shift 2
  local k=0
  for at in "$@"; do
    "$GS" run "$T/a.ini" --results "$T/r" sweep.name=$name > "$T/$name.$k.log" 2>&1 &
    local pid=$!
    local waited=0
    while kill -0 $pid 2>/dev/null; do
      local n=0
      [ -f "$T/r/$name/ledger.log" ] && n=$(grep -cP '\tsched\t' "$T/r/$name/ledger.log")
      if [ "$n" -ge "$at" ]; then kill -$sig $pid; break; fi
      sleep 0.05
      waited=$((waited + 1))
      [ $waited -gt $((2400 * SLOW)) ] && fail "$name: no $at scheduler lines after 120 s"
    done
    wait $pid; local rc=$?
    if [ "$sig" = TERM ] && ! grep -q "sweep $name: .* in " "$T/$name.$k.log"; then :; fi
    [ "$sig" = TERM ] && [ $rc -ne 3 ] && [ $rc -ne 0 ] && { cat "$T/$name.$k.log"; fail "$name: SIGTERM exit $rc (want 3)"; }
    [ "$sig" = KILL ] && [ $rc -ne 137 ] && [ $rc -ne 0 ] && { cat "$T/$name.$k.log"; fail "$name: kill -9 exit $rc"; }
    k=$((k + 1))
  done
  "$GS" run "$T/a.ini" --results "$T/r" sweep.name=$name > "$T/$name.end.log" 2>&1 || { cat "$T/$name.end.log"; fail "$name: the last resume"; }
  grep -q "earlier decisions replayed from the ledger" "$T/$name.end.log" || { cat "$T/$name.end.log"; fail "$name: nothing replayed"; }
}

same_as_reference() {
  local name=$1
  decisions "$T/r/$name" > "$T/$name.dec"
  cmp -s "$T/ref.dec" "$T/$name.dec" || { diff "$T/ref.dec" "$T/$name.dec" | head -20; fail "$name: other decisions than the uninterrupted sweep"; }
  $PY - "$R" "$T/r/$name" <<'PY' || fail "$name: other numbers than the uninterrupted sweep"
import sys, h5py, glob, os, numpy as np
a, b = sys.argv[1:3]
runs = sorted(os.path.basename(f) for f in glob.glob(os.path.join(a, "runs", "*.h5")))
assert runs == sorted(os.path.basename(f) for f in glob.glob(os.path.join(b, "runs", "*.h5")))
for r in runs:
    with h5py.File(os.path.join(a, "runs", r), "r") as x, h5py.File(os.path.join(b, "runs", r), "r") as y:
        assert x.attrs["status"] == y.attrs["status"] and x.attrs["message"] == y.attrs["message"], r
        for s in ("test_neg_elbo", "train_loss"):
            assert np.array_equal(x["metrics"][s][()], y["metrics"][s][()]), (r, s)
        for k in x["params"]:
            assert np.array_equal(x["params"][k][()], y["params"][k][()]), (r, k)
print("%d run files: the same status, reason, metrics and parameters" % len(runs))
PY
}

echo "== asha killed (-9) three times in the middle, then resumed"
interrupt_and_finish k KILL 6 17 30
same_as_reference k
echo "== asha stopped by SIGTERM (a preemption) in the middle, then resumed"
interrupt_and_finish p TERM 12
same_as_reference p

echo "== sha: the same decisions at 2 and 3 ranks as at 1"
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=sha1 sweep.scheduler=sha > "$T/sha1.log" 2>&1 || { cat "$T/sha1.log"; fail "sha, 1 rank"; }
mpirun --oversubscribe -np 3 "$GS" run "$T/a.ini" --results "$T/r" sweep.name=sha3 sweep.scheduler=sha > "$T/sha3.log" 2>&1 || { cat "$T/sha3.log"; fail "sha, 3 ranks"; }
mpirun -np 2 "$GS" run "$T/a.ini" --results "$T/r" sweep.name=sha2 sweep.scheduler=sha > "$T/sha2.log" 2>&1 || { cat "$T/sha2.log"; fail "sha, 2 ranks"; }
for s in sha1 sha2 sha3; do decisions "$T/r/$s" | grep -v '^start' | cut -f1,3- | sort > "$T/$s.set"; done
for s in sha2 sha3; do
  cmp -s "$T/sha1.set" "$T/$s.set" || { diff "$T/sha1.set" "$T/$s.set" | head; fail "sha decided otherwise in $s"; }
done
echo "sha: $(grep -c '^stop' "$T/sha1.set") stops, the same at 1, 2 and 3 ranks"

echo "== shards share one scheduler: sha in two shards (one of 2 ranks) decides as one job"
# shard 0 is stopped (SIGSTOP) after its first decision until shard 1 has made one, so that both
# take part however the two start up (shard 0 alone would decide the whole sweep in 2 s; the
# 2-rank shard 1 takes about as long to start under mpirun)
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=shs sweep.scheduler=sha --shard 0/2 > "$T/shs0.log" 2>&1 &
p0=$!
shard_decided() { [ -f "$T/r/shs/ledger.log" ] && grep -qP "\tsched\t.*\\\\tshard $1/2\$" "$T/r/shs/ledger.log"; }
for i in $(seq 1 $((1200 * SLOW))); do shard_decided 0 && break; sleep 0.01; done
kill -STOP $p0 || fail "sha shard 0/2 ended before its first decision"
mpirun --oversubscribe -np 2 "$GS" run "$T/a.ini" --results "$T/r" sweep.name=shs sweep.scheduler=sha --shard 1/2 > "$T/shs1.log" 2>&1 &
p1=$!
# (if shard 0 was stopped holding the turn, shard 1 waits for it: then both go on after the limit)
for i in $(seq 1 $((1000 * SLOW))); do shard_decided 1 && break; kill -0 $p1 2>/dev/null || break; sleep 0.02; done
kill -CONT $p0
wait $p1 || { cat "$T/shs1.log"; fail "sha shard 1/2"; }
wait $p0 || { cat "$T/shs0.log"; fail "sha shard 0/2"; }
grep -q "shard 0/2: shares the sweep's early-stopping scheduler" "$T/shs0.log" || { cat "$T/shs0.log"; fail "shard line"; }
decisions "$T/r/shs" | grep -v '^start' | sed 's/\tshard [0-9]*\/2$//' | cut -f1,3- | sort > "$T/shs.set"
cmp -s "$T/sha1.set" "$T/shs.set" || { diff "$T/sha1.set" "$T/shs.set" | head; fail "sha decided otherwise in shards"; }
for i in 0 1; do grep -qP '^(start|promote)\t.*\tshard '$i'/2$' <(decisions "$T/r/shs") || fail "shard $i/2 made no decision"; done
# each decision carried out once: no run sent to a rung twice, none found busy (a shard that took
# the other's sends for its own would send them again)
twice=$(grep -P '\tstarted\t' "$T/r/shs/ledger.log" | awk -F'\t' '{print $3 "\t" $7}' | sort | uniq -d)
[ -z "$twice" ] && ! grep -qP '\tbusy\t' "$T/r/shs/ledger.log" || { echo "$twice"; grep -P '\tbusy\t' "$T/r/shs/ledger.log"; fail "sha shards: a decision carried out twice"; }
"$GS" status "$T/r/shs" > "$T/shs.st" 2>&1 && grep -q "^done:     9 of 9 runs" "$T/shs.st" || { cat "$T/shs.st"; fail "sha shards: status"; }

echo "== asha in two shards, one killed (-9) in the middle and started again: every result as in one job"
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=sha_k --shard 1/2 > "$T/shk1.log" 2>&1 &
p1=$!
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=sha_k --shard 0/2 > "$T/shk0.log" 2>&1 &
p0=$!
for i in $(seq 1 $((2400 * SLOW))); do
  [ -f "$T/r/sha_k/ledger.log" ] && [ "$(grep -cP '\tsched\t' "$T/r/sha_k/ledger.log")" -ge 10 ] && break
  kill -0 $p0 2>/dev/null || break
  sleep 0.05
done
kill -9 $p0 2>/dev/null; wait $p0
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=sha_k --shard 0/2 > "$T/shk0b.log" 2>&1 || { cat "$T/shk0b.log"; fail "asha shard 0/2, started again"; }
wait $p1 || { cat "$T/shk1.log"; fail "asha shard 1/2"; }
"$GS" status "$T/r/sha_k" > "$T/shk.st" 2>&1 && grep -q "^done:     9 of 9 runs" "$T/shk.st" && grep -q "early stopping: asha" "$T/shk.st" || { cat "$T/shk.st"; fail "asha shards: status"; }
same_reports sha_k || fail "asha shards: results differ from one job's"

echo "== a damaged scheduler line in the middle of a shard's sweep: exit 2 naming the line; fixed, the sweep ends"
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=dmg --shard 0/2 > "$T/dmg1.log" 2>&1 &
p0=$!
for i in $(seq 1 $((2400 * SLOW))); do
  [ -f "$T/r/dmg/ledger.log" ] && [ "$(grep -cP '\tsched\t' "$T/r/dmg/ledger.log")" -ge 2 ] && break
  sleep 0.02
done
# stopped, so that the line lands in the middle of the sweep (it has 26 decisions and results)
kill -STOP $p0 || fail "the shard ended before 2 decisions"
bad=$(( $(wc -l < "$T/r/dmg/ledger.log") + 1 ))
printf '1.000\tsched\tlr-0.0003_latent_dim-2\t0000000000000000\t1\t1\tpromote\\tbogus\n' >> "$T/r/dmg/ledger.log"
kill -CONT $p0
wait $p0; rc=$?
[ $rc -eq 2 ] || { cat "$T/dmg1.log"; fail "a damaged line: exit $rc, want 2"; }
grep -q "^error: $T/r/dmg/ledger.log:$bad: a promote line has 7 tab-separated fields .* this one has 2. No more runs start in this shard" "$T/dmg1.log" &&
  grep -q "stopped: this shard could not follow or record the shards' early-stopping decisions" "$T/dmg1.log" ||
  { cat "$T/dmg1.log"; fail "a damaged line: the message"; }
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=dmg --shard 0/2 > "$T/dmg2.log" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "ledger.log:$bad: a promote line .* (the ledger's early-stopping decisions do not fit this sweep: was the line damaged or edited" "$T/dmg2.log" ||
  { cat "$T/dmg2.log"; fail "started again with the damaged line: exit $rc"; }
sed -i "${bad}d" "$T/r/dmg/ledger.log"
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=dmg --shard 0/2 > "$T/dmg3.log" 2>&1 || { cat "$T/dmg3.log"; fail "the line removed: the sweep"; }
"$GS" status "$T/r/dmg" > "$T/dmg.st" 2>&1 && grep -q "^done:     9 of 9 runs" "$T/dmg.st" || { cat "$T/dmg.st"; fail "damaged line: status"; }
same_reports dmg || fail "damaged line: results differ from one job's"

echo "== shards and a job that is not a shard exclude each other"
mkdir -p "$T/r/ex" && touch "$T/r/ex/scheduler.lock"
flock -x "$T/r/ex/scheduler.lock" sleep $((10 * SLOW)) &
pl=$!
sleep 0.3
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=ex --shard 0/2 > "$T/ex.log" 2>&1 && fail "a shard ran beside another job"
grep -q "a job that is not a shard is running this sweep's scheduler" "$T/ex.log" || { cat "$T/ex.log"; fail "shard beside a job: message"; }
kill $pl 2>/dev/null; wait $pl 2>/dev/null

echo "== one scheduler per sweep: a second job is refused while the first runs"
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=two > "$T/two1.log" 2>&1 &
p1=$!
for i in $(seq 1 $((400 * SLOW))); do [ -f "$T/r/two/ledger.log" ] && grep -qP '\tsched\t' "$T/r/two/ledger.log" && break; sleep 0.05; done
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=two > "$T/two2.log" 2>&1; rc=$?
wait $p1 || { cat "$T/two1.log"; fail "the first job"; }
[ $rc -ne 0 ] && grep -q "another job is running this sweep's scheduler" "$T/two2.log" || { cat "$T/two2.log"; fail "second job: exit $rc"; }
[ "$(grep -cP '\tstarted\t.*\trung 0' "$T/r/two/ledger.log")" -eq 9 ] || fail "a run started twice at rung 0"

echo "== plan shows the rungs, sha's run-epochs, and that shards share the scheduler"
"$GS" plan "$T/a.ini" --shards 2 > "$T/plan.txt" 2>&1 || { cat "$T/plan.txt"; fail plan; }
grep -q "early stopping: asha on the model's headline metric (min), eta 3, rungs at epochs 1 3 9" "$T/plan.txt" &&
  grep -q "sha trains 21 run-epochs of the full sweep's 81 (26 %)" "$T/plan.txt" &&
  grep -q "2 shards share the scheduler: the grid is not split" "$T/plan.txt" || { cat "$T/plan.txt"; fail "plan under a scheduler"; }

echo "== bad settings"
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=bad sweep.max_resource=5 > "$T/bad1.log" 2>&1 && fail "max_resource 5 accepted"
grep -q "sweep.max_resource = 5 but the runs train 9 epochs" "$T/bad1.log" || { cat "$T/bad1.log"; fail "max_resource message"; }
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=bad sweep.scheduler=fast > "$T/bad3.log" 2>&1 && fail "scheduler fast accepted"
grep -q "sweep.scheduler" "$T/bad3.log" || { cat "$T/bad3.log"; fail "scheduler message"; }

"$GS" plan "$T/a.ini" model.name=gan > "$T/bad4.log" 2>&1 && fail "a train.lr grid accepted for a GAN"
grep -q "train.lr = 0.0003: the GAN models do not read train.lr; set gan.d_lr and gan.g_lr" "$T/bad4.log" || { cat "$T/bad4.log"; fail "GAN train.lr message"; }

echo "== a metric no run records: exit 2; with one that exists the sweep goes on, as if uninterrupted"
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=met sweep.metric=no_such > "$T/met1.log" 2>&1; rc=$?
[ $rc -eq 2 ] || { cat "$T/met1.log"; fail "an unknown metric: exit $rc, want 2"; }
grep -q "error: sweep.metric = no_such: run lr-0.0003_latent_dim-2 records no such per-epoch series" "$T/met1.log" || { cat "$T/met1.log"; fail "unknown metric message"; }
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=met > "$T/met2.log" 2>&1 || { cat "$T/met2.log"; fail "the sweep with its metric"; }
decisions "$T/r/met" > "$T/met.dec"
cmp -s "$T/ref.dec" "$T/met.dec" || { diff "$T/ref.dec" "$T/met.dec" | head; fail "after the metric was fixed: other decisions"; }

echo "== the same sweep with scheduler = none continues the stopped runs from their checkpoints"
"$GS" run "$T/a.ini" --results "$T/r" sweep.name=k sweep.scheduler=none > "$T/none.log" 2>&1 || { cat "$T/none.log"; fail "scheduler = none afterwards"; }
nres=$(grep -c "resumed from its checkpoint" "$T/none.log")
[ "$nres" -eq "$nstop" ] || { cat "$T/none.log"; fail "$nres runs resumed, want $nstop"; }
"$GS" status "$T/r/k" | grep -q "^done:     9 of 9 runs" || fail "not all done after scheduler = none"
echo "PASS"
