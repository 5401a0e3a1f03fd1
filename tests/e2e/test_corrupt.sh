#!/usr/bin/env bash
# Corrupt files in a finished and in an interrupted tiny sweep: a bit-flipped and a truncated run
# file, a truncated sweep.h5, a bit-flipped and a truncated checkpoint. `status` and `rebuild`
# report each (naming the run and the file, exit 1), rebuild leaves corrupt runs out of sweep.h5,
# and running the sweep again trains those runs again (from the previous checkpoint where the
# latest is bad, from scratch where both are),
# ending with exactly the numbers of an untouched sweep.
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d)
cleanup() { pkill -9 -f "$T/" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
cat > "$T/c.ini" <<INI
[sweep]
name = c
[data]
train_size = 6000
test_size = 200
[model]
hidden1 = 64
hidden2 = 32
[train]
epochs = 12
batch_size = 50
checkpoint_every = 1
[eval]
iw_samples = 2
; sample quality needs the judge classifier (a minute to train): tested in e2e_cae_igmn
judge = 0
n_samples = 4
n_recon = 4
manifold_n = 0
[grid]
model.latent_dim = 2, 3, 4
INI
A=latent_dim-2 B=latent_dim-3 C=latent_dim-4
echo "== reference"
"$GS" run --quiet --results "$T/ref" "$T/c.ini" > "$T/ref.txt" 2>&1 || { cat "$T/ref.txt"; fail "reference run"; }
for id in $A $B $C; do [ -f "$T/ref/c/runs/$id.h5" ] || fail "reference: no run file $id"; done

compare() { # results dir: every run identical to the reference
  /usr/bin/python3 - "$T/ref/c" "$1/c" <<'PY'
import sys, os, h5py, numpy as np
a_dir, b_dir = sys.argv[1], sys.argv[2]
ids = sorted(os.listdir(f"{a_dir}/runs"))
assert ids == sorted(os.listdir(f"{b_dir}/runs")), (ids, os.listdir(f"{b_dir}/runs"))
for f in ids:
    a, b = h5py.File(f"{a_dir}/runs/{f}", "r"), h5py.File(f"{b_dir}/runs/{f}", "r")
    assert b.attrs["status"] in (b"done", "done"), (f, b.attrs["status"])
    for k in a["params"]:
        assert np.array_equal(a["params"][k][:], b["params"][k][:]), (f, k)
    for k in ("train_loss", "test_neg_elbo", "epoch"):
        assert np.array_equal(a["metrics"][k][:], b["metrics"][k][:]), (f, k)
    assert a["final/test_iw_nll"][()] == b["final/test_iw_nll"][()], f
print(f"{len(ids)} runs identical to the untouched sweep")
PY
}
flip() { # file dataset-or-group: flip one bit in the middle of a dataset's raw data (of a group: its largest)
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py
path, name = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    d = f[name]
    if isinstance(d, h5py.Group):
        d = max(d.values(), key=lambda x: x.id.get_storage_size())
    off = d.id.get_offset() + d.id.get_storage_size() // 2
with open(path, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x08]))
PY
}
truncate_half() { truncate -s $(( $(stat -c %s "$1") / 2 )) "$1"; }

echo "== finished sweep: run file $A bit-flipped, $B truncated, sweep.h5 truncated"
cp -a "$T/ref" "$T/f"
D=$T/f/c
flip "$D/runs/$A.h5" params || fail "flip"
truncate_half "$D/runs/$B.h5"
truncate_half "$D/sweep.h5"
"$GS" status "$D" > "$T/st.txt" 2>&1; rc=$?
cat "$T/st.txt"
[ $rc = 1 ] || fail "status: exit $rc, want 1 (corrupt files)"
grep -q "corrupt .*$A  run file: $D/runs/$A.h5: checksum mismatch" "$T/st.txt" || fail "status: no line for the bit-flipped run file"
grep -q "corrupt .*$B  run file: $D/runs/$B.h5: .*truncated or corrupt" "$T/st.txt" || fail "status: no line for the truncated run file"
grep -q "corrupt .*sweep.h5: $D/sweep.h5" "$T/st.txt" || fail "status: no line for sweep.h5"
grep -q "files:    3 of 4 checked files corrupt" "$T/st.txt" || fail "status: no files summary"
# the two damaged runs are not counted done (the ledger says done; their files say otherwise)
grep -q "done:     1 of 3 runs (2 more done in the ledger, but their run files are damaged" "$T/st.txt" ||
  fail "status counts runs with damaged files as done"
"$GS" rebuild "$D" > "$T/rb.txt" 2>&1; rc=$?
cat "$T/rb.txt"
[ $rc = 1 ] || fail "rebuild: exit $rc, want 1"
grep -q "the old sweep.h5 is corrupt" "$T/rb.txt" || fail "rebuild: old sweep.h5 not reported"
grep -q "run $A: corrupt or unreadable run file, left out of sweep.h5: $D/runs/$A.h5: checksum mismatch" "$T/rb.txt" || fail "rebuild: $A not reported"
grep -q "run $B: corrupt or unreadable run file, left out of sweep.h5: $D/runs/$B.h5" "$T/rb.txt" || fail "rebuild: $B not reported"
grep -q "2 corrupt run files left out" "$T/rb.txt" || fail "rebuild: no count"
/usr/bin/python3 - "$D/sweep.h5" "$A" "$B" "$C" <<'PY' || fail "sweep.h5 after rebuild"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
st = {r["run_id"].decode(): r["status"].decode() for r in f["grid"][:]}
a, b, c = sys.argv[2:5]
assert st[a] == "corrupt" and st[b] == "corrupt" and st[c] == "done", st
assert a not in f["runs"] and b not in f["runs"] and c in f["runs"], list(f["runs"])
print("sweep.h5: corrupt runs listed as corrupt, not linked")
PY
"$GS" run --results "$T/f" "$T/c.ini" > "$T/re.txt" 2>&1 || { cat "$T/re.txt"; fail "re-run"; }
grep -q "$A: existing run file unreadable ($D/runs/$A.h5: checksum mismatch.*): running again" "$T/re.txt" || { cat "$T/re.txt"; fail "re-run: $A not reported"; }
grep -q "$B: existing run file unreadable ($D/runs/$B.h5: .*): running again" "$T/re.txt" || fail "re-run: $B not reported"
grep -q "$C: already done, skipped" "$T/re.txt" || fail "re-run: $C not skipped"
compare "$T/f" || fail "re-run after corrupt run files changed the numbers"
"$GS" status "$D" > "$T/st2.txt" 2>&1 || { cat "$T/st2.txt"; fail "status after the re-run: exit $?"; }
grep -q "files:    4 checked, all whole" "$T/st2.txt" || { cat "$T/st2.txt"; fail "status after the re-run"; }

interrupt() { # results dir: start the sweep, stop it with SIGTERM once a checkpoint is on disk
  "$GS" run --quiet --results "$1" "$T/c.ini" > "$1.txt" 2>&1 &
  local pid=$!
  # wait until the first run has written a checkpoint, then stop the job (it checkpoints again,
  # so the first one becomes the previous checkpoint)
  for _ in $(seq 1 300); do ls "$1/c/ckpt/"*.h5 > /dev/null 2>&1 && break; sleep 0.1; done
  kill -TERM "$pid"; wait "$pid"; local rc=$?
  [ $rc = 3 ] || { cat "$1.txt"; fail "SIGTERM: exit $rc, want 3"; }
}

echo "== interrupted sweep: latest checkpoint bit-flipped, the previous one whole"
interrupt "$T/i"
D=$T/i/c
mapfile -t CK < <(ls "$D/ckpt/"*.h5 | grep -v '[.]prev[.]h5$')
[ ${#CK[@]} -ge 1 ] || fail "no checkpoint after SIGTERM"
id0=$(basename "${CK[0]}" .h5)
P0=$D/ckpt/$id0.prev.h5
[ -f "$P0" ] || { ls -l "$D/ckpt"; fail "no previous checkpoint kept beside ${CK[0]}"; }
flip "${CK[0]}" "params/data" || fail "flip checkpoint"
"$GS" status "$D" > "$T/st3.txt" 2>&1; rc=$?
cat "$T/st3.txt"
[ $rc = 1 ] || fail "status with a corrupt checkpoint: exit $rc, want 1"
grep -q "corrupt .*$id0  checkpoint: ${CK[0]}: checksum mismatch: the checkpoint is corrupt .*resumes this run from the previous checkpoint" "$T/st3.txt" || fail "status: corrupt checkpoint not reported"
"$GS" run --results "$T/i" "$T/c.ini" > "$T/i2.txt" 2>&1 || { cat "$T/i2.txt"; fail "resume"; }
grep -q "$id0: ckpt-rejected: checkpoint not used, trying the previous one: ${CK[0]}: checksum mismatch" "$T/i2.txt" || { cat "$T/i2.txt"; fail "resume: corrupt checkpoint not reported"; }
grep -q "$id0: resumed from its previous checkpoint" "$T/i2.txt" || { cat "$T/i2.txt"; fail "resume: did not resume from the previous checkpoint"; }
grep -q "ckpt-rejected.*${CK[0]}" "$D/ledger.log" || fail "ledger: no ckpt-rejected line"
compare "$T/i" || fail "resume from the previous checkpoint changed the numbers"
ls "$D/ckpt/"*.h5 > /dev/null 2>&1 && fail "checkpoints left after the runs were done: $(ls "$D/ckpt")"

echo "== interrupted sweep: both checkpoints damaged (bit-flipped, truncated)"
interrupt "$T/j"
D=$T/j/c
mapfile -t CK < <(ls "$D/ckpt/"*.h5 | grep -v '[.]prev[.]h5$')
id0=$(basename "${CK[0]}" .h5)
P0=$D/ckpt/$id0.prev.h5
[ -f "$P0" ] || fail "no previous checkpoint kept beside ${CK[0]}"
flip "${CK[0]}" "params/data" || fail "flip checkpoint"
truncate_half "$P0"
"$GS" status "$D" > "$T/st4.txt" 2>&1
grep -q "corrupt .*$id0  checkpoint: ${CK[0]}: checksum mismatch.*starts this run from scratch" "$T/st4.txt" || { cat "$T/st4.txt"; fail "status: both checkpoints damaged"; }
"$GS" run --results "$T/j" "$T/c.ini" > "$T/j2.txt" 2>&1 || { cat "$T/j2.txt"; fail "resume"; }
grep -q "$id0: ckpt-rejected: checkpoint not used, trying the previous one: ${CK[0]}: checksum mismatch" "$T/j2.txt" || { cat "$T/j2.txt"; fail "resume: corrupt checkpoint not reported"; }
grep -q "$id0: ckpt-rejected: checkpoint not used, starting from scratch: $P0: not a readable HDF5 file" "$T/j2.txt" || { cat "$T/j2.txt"; fail "resume: truncated previous checkpoint not reported"; }
compare "$T/j" || fail "restart from scratch after damaged checkpoints changed the numbers"

# until the ledger has a line of this state, while the job runs (its log shown if it ends first)
wait_for_line() { # state ledger pid log
  local t0=$SECONDS
  until grep -q $'\t'"$1"$'\t' "$2" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || { cat "$4"; fail "the sweep ended before a '$1' line"; }
    [ $((SECONDS - t0)) -lt $((300 * ${GS_TEST_SLOWDOWN:-1})) ] || fail "no '$1' line within the time limit"
    sleep 0.02
  done
}

echo "== ledger.log removed while the sweep runs: said, created again; status counts the runs from their files"
"$GS" run --results "$T/l" "$T/c.ini" > "$T/l.txt" 2>&1 &
pid=$!
wait_for_line done "$T/l/c/ledger.log" "$pid" "$T/l.txt"
rm "$T/l/c/ledger.log"
wait "$pid" || { cat "$T/l.txt"; fail "sweep with its ledger removed"; }
grep -q "ledger.log was removed while the sweep ran: created again" "$T/l.txt" || { cat "$T/l.txt"; fail "no warning"; }
[ -f "$T/l/c/ledger.log" ] || fail "ledger.log not created again"
"$GS" status "$T/l/c" > "$T/lst.txt" 2>&1 || { cat "$T/lst.txt"; fail "status after the ledger was removed"; }
grep -q "3 total: 3 done" "$T/lst.txt" || { cat "$T/lst.txt"; fail "status does not count the runs done from their files"; }
grep -q "counted done from" "$T/lst.txt" || { cat "$T/lst.txt"; fail "status does not say which runs it counted from files"; }

echo "== the results directory removed while the sweep runs: one message, stop, exit 1"
"$GS" run --results "$T/g" "$T/c.ini" > "$T/g.txt" 2>&1 &
pid=$!
wait_for_line checkpointed "$T/g/c/ledger.log" "$pid" "$T/g.txt"
rm -rf "$T/g"
wait "$pid"; rc=$?
[ $rc = 1 ] || { cat "$T/g.txt"; fail "results directory removed: exit $rc, want 1"; }
[ "$(grep -c "was removed while the sweep ran" "$T/g.txt")" -ge 1 ] || { cat "$T/g.txt"; fail "no message"; }
[ "$(grep -c "failed: no readable run file" "$T/g.txt")" = 0 ] || { cat "$T/g.txt"; fail "a message per run"; }
grep -q "results: none kept" "$T/g.txt" || { cat "$T/g.txt"; fail "the summary names a sweep.h5 that is gone"; }
[ ! -e "$T/g" ] || fail "the removed results directory was created again"

echo "== not a sweep; data missing: nothing created"
mkdir -p "$T/empty"
"$GS" status "$T/empty" > "$T/ns.txt" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "not a sweep directory" "$T/ns.txt" || { cat "$T/ns.txt"; fail "status of a non-sweep directory: exit $rc"; }
sed -e 's|^\[data\]|[data]\ndataset = '"$T"'/no-such-data|' "$T/c.ini" > "$T/nodata.ini"
"$GS" run --results "$T/nd" "$T/nodata.ini" > "$T/nd.txt" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "no-such-data: no such directory" "$T/nd.txt" || { cat "$T/nd.txt"; fail "missing data: exit $rc"; }
[ ! -e "$T/nd" ] || fail "a missing data set left $(ls -R "$T/nd" | head -5)"
echo PASS
