#!/usr/bin/env bash
# A full disk: the runs whose files cannot be written are recorded failed with a message that
# names the file and the reason, the job exits 1 (runs failed) without crashing, nothing is left
# half-written, and the next start with space trains those runs. Simulated without privileges by
# a file-size limit (ulimit -f, SIGXFSZ ignored, so writes fail with EFBIG), and on a real 3 MB
# tmpfs where this user may mount one.
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d)
cleanup() { mountpoint -q "$T/mnt" 2>/dev/null && umount "$T/mnt"; pkill -9 -f "$T/" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
# a VAE of about 30 MB of parameters: its run file and checkpoints exceed the limit below,
# while Open MPI's own files (a few MB) fit in it
cat > "$T/f.ini" <<INI
[sweep]
name = f
[data]
train_size = 1000
test_size = 200
[model]
hidden1 = 2048
hidden2 = 1024
[train]
epochs = 2
[eval]
iw_samples = 0
judge = 0
n_samples = 4
[grid]
model.latent_dim = 2, 3
INI

check_failed_cleanly() { # label results-dir log rc reason-pattern
  local label=$1 res=$2 log=$3 rc=$4 why=$5
  [ "$rc" = 1 ] || { tail -30 "$log"; fail "$label: exit $rc, want 1 (runs failed; 139 is the old crash)"; }
  grep -qE "Segmentation|Signal:|HDF5 call failed \(no error details\)" "$log" && { tail -30 "$log"; fail "$label: crash or unexplained HDF5 failure"; }
  grep -qE "runs/latent_dim-[23]\.h5: cannot write: .*$why" "$log" || { tail -30 "$log"; fail "$label: no message naming the run file and '$why'"; }
  [ "$(grep -c $'\tfailed\t' "$res/f/ledger.log")" = 2 ] || { cat "$res/f/ledger.log"; fail "$label: the ledger does not record 2 failed runs"; }
  ls "$res/f/runs/"*.tmp "$res/f/ckpt/"*.tmp > /dev/null 2>&1 && fail "$label: temporary files left"
  ls "$res/f/runs/"*.h5 > /dev/null 2>&1 && fail "$label: a run file was written"
  return 0
}

echo "== file-size limit (EFBIG)"
( trap '' XFSZ; ulimit -f 16384; exec "$GS" run --results "$T/a" "$T/f.ini" ) > "$T/a.txt" 2>&1; rc=$?
check_failed_cleanly limit "$T/a" "$T/a.txt" $rc "file-size limit"
grep -q "ckpt-failed" "$T/a/f/ledger.log" || fail "limit: no failed checkpoint recorded"
echo "== the same command with space: both runs trained"
"$GS" run --quiet --results "$T/a" "$T/f.ini" > "$T/a2.txt" 2>&1 || { cat "$T/a2.txt"; fail "retry with space"; }
[ "$(ls "$T/a/f/runs/"*.h5 | wc -l)" = 2 ] || fail "retry: not 2 run files"
"$GS" status "$T/a/f" | grep -q "2 done" || fail "retry: status does not say 2 done"

echo "== a full 3 MB tmpfs (ENOSPC)"
mkdir -p "$T/mnt"
if mount -t tmpfs -o size=3m tmpfs "$T/mnt" 2>/dev/null; then
  "$GS" run --results "$T/mnt/r" "$T/f.ini" > "$T/b.txt" 2>&1; rc=$?
  check_failed_cleanly tmpfs "$T/mnt/r" "$T/b.txt" $rc "device is full"
  umount "$T/mnt"
else
  echo "note: cannot mount a tmpfs here (not root, or not allowed): only the file-size limit was tested"
fi
echo PASS
