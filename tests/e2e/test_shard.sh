#!/usr/bin/env bash
# Shards (--shard i/n) of one sweep run at once into ONE results directory, as the tasks of a
# Slurm job array do, while `gensweep rebuild` runs alongside: every run is trained by exactly one
# shard with the numbers of a single-job sweep, the ledger has no torn or interleaved line,
# sweep.h5 left by the last shard lists every run done, and `rebuild` gives the same table.
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d)
cleanup() { pkill -9 -f "$T/" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
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
model.latent_dim = 2, 3, 4
train.seed = 1, 2
INI
"$GS" run --quiet --results "$T/ref" "$T/s.ini" > "$T/ref.txt" 2>&1 || { cat "$T/ref.txt"; fail "reference"; }

# which runs each shard owns (split by estimated cost), from `plan --shards`
n=5
"$GS" plan "$T/s.ini" --shards $n > "$T/plan.txt" || fail "plan"
pids=()
for i in $(seq 0 $((n - 1))); do
  "$GS" run --quiet --shard "$i/$n" --results "$T/sh" "$T/s.ini" > "$T/sh$i.txt" 2>&1 &
  pids+=($!)
done
# rebuilds racing the shards' own rebuilds: they must take turns, never share sweep.h5.tmp
# (once the shards have made the sweep directory); each one's status and output are kept: every
# rebuild must succeed, and a crash or a sanitizer report fails the test
( t0=$SECONDS
  until [ -f "$T/sh/s/ledger.log" ] || [ $((SECONDS - t0)) -gt 120 ]; do sleep 0.05; done
  for k in $(seq 1 15); do "$GS" rebuild "$T/sh/s" > "$T/rb$k.txt" 2>&1; echo $? > "$T/rb$k.rc"; sleep 0.1; done ) &
rpid=$!
for i in $(seq 0 $((n - 1))); do
  wait "${pids[$i]}" || { cat "$T/sh$i.txt"; fail "shard $i/$n exited $?"; }
  want=$(awk -v i="$i" '$1 ~ /^[0-9]+$/ && $2 == i && $4 != "%"' "$T/plan.txt" | wc -l)
  [ "$want" -ge 2 ] || { cat "$T/plan.txt"; fail "plan --shards $n gives shard $i only $want runs of 12"; }
  grep -q "shard $i/$n: $want runs of 12" "$T/sh$i.txt" || { cat "$T/sh$i.txt"; fail "shard $i/$n does not say it has $want runs"; }
  grep -q "$want done, 0 skipped" "$T/sh$i.txt" || { cat "$T/sh$i.txt"; fail "shard $i/$n did not train its $want runs"; }
done
wait "$rpid"
for k in $(seq 1 15); do
  [ "$(cat "$T/rb$k.rc")" = 0 ] || { cat "$T/rb$k.txt"; fail "racing rebuild $k exited $(cat "$T/rb$k.rc")"; }
  grep -qE "Sanitizer|runtime error" "$T/rb$k.txt" && { cat "$T/rb$k.txt"; fail "racing rebuild $k: sanitizer report"; }
done
ls "$T/sh/s/"*.tmp > /dev/null 2>&1 && fail "temporary files left: $(ls "$T/sh/s/")"

"$GS" status "$T/sh/s" > "$T/status.txt" || fail "status"
grep -q "malformed" "$T/status.txt" && { cat "$T/status.txt"; fail "ledger has malformed or torn lines"; }
grep -qE "12 done" "$T/status.txt" || { cat "$T/status.txt"; fail "status does not show 12 done"; }

# the ledger: every line whole (7 tab-separated fields, known state, 16-hex hash), written by the
# five shard processes, each run's lines from one process only
/usr/bin/python3 - "$T/sh/s/ledger.log" <<'PY' || fail "ledger lines torn or interleaved"
import sys, re
lines = open(sys.argv[1], "rb").read().split(b"\n")
assert lines[0] == b"#gensweep-ledger v1", lines[0]
assert lines[-1] == b"", "ledger does not end with a newline"
pids, owner = set(), {}
for l in lines[1:-1]:
    f = l.decode().split("\t")
    assert len(f) == 7, l
    assert re.fullmatch(r"\d+\.\d{3}", f[0]) and re.fullmatch(r"[a-z][a-z0-9_-]*", f[1]), l
    assert re.fullmatch(r"[0-9a-f]{16}", f[3]) and re.fullmatch(r"-?\d+", f[4]) and f[5].isdigit(), l
    pids.add(f[5])
    assert owner.setdefault(f[2], f[5]) == f[5], f"run {f[2]} has lines from two processes"
assert len(pids) == 5, pids
print(f"ledger: {len(lines) - 2} whole lines from {len(pids)} processes")
PY

check() { # results-dir label
  /usr/bin/python3 - "$T/ref/s" "$1/s" "$2" <<'PY'
import sys, os, h5py, numpy as np
a_dir, b_dir, label = sys.argv[1:4]
ids = sorted(os.listdir(f"{a_dir}/runs"))
assert ids == sorted(os.listdir(f"{b_dir}/runs")), (label, os.listdir(f"{b_dir}/runs"))
for f in ids:
    a, b = h5py.File(f"{a_dir}/runs/{f}", "r"), h5py.File(f"{b_dir}/runs/{f}", "r")
    for k in a["params"]:
        assert np.array_equal(a["params"][k][:], b["params"][k][:]), (label, f, k)
    assert np.array_equal(a["metrics/test_neg_elbo"][:], b["metrics/test_neg_elbo"][:]), (label, f)
ga, gb = h5py.File(f"{a_dir}/sweep.h5", "r")["grid"][:], h5py.File(f"{b_dir}/sweep.h5", "r")["grid"][:]
assert len(gb) == len(ga) == len(ids), (label, len(ga), len(gb))
assert all(s == b"done" for s in gb["status"]), (label, gb["status"])
for name in ga.dtype.names:
    if "seconds" in name or "per_s" in name:
        continue                      # wall-clock columns differ between jobs
    assert np.array_equal(ga[name], gb[name]), (label, name)
print(f"{label}: {len(ids)} runs and the sweep.h5 grid equal to the single-job sweep")
PY
}
check "$T/sh" "$n shards at once, sweep.h5 of the last shard" || fail "sharded sweep differs"
"$GS" rebuild "$T/sh/s" > /dev/null || fail "rebuild"
check "$T/sh" "after gensweep rebuild" || fail "rebuilt sweep.h5 differs"

# a second start of a shard finds its runs done; other shards' runs are not its business
"$GS" run --quiet --shard 1/$n --results "$T/sh" "$T/s.ini" > "$T/again.txt" 2>&1 || { cat "$T/again.txt"; fail "shard re-run"; }
want=$(awk '$1 ~ /^[0-9]+$/ && $2 == 1 && $4 != "%"' "$T/plan.txt" | wc -l)
grep -q "0 done, $want skipped" "$T/again.txt" || { cat "$T/again.txt"; fail "shard re-run should skip its $want runs"; }

"$GS" run --shard 5/5 "$T/s.ini" > "$T/bad.txt" 2>&1
[ $? = 2 ] || fail "--shard 5/5 should exit 2"
grep -q "out of range" "$T/bad.txt" || { cat "$T/bad.txt"; fail "--shard 5/5 message"; }
echo PASS
