#!/usr/bin/env bash
# Kill and resume: a sweep killed at random moments (kill -9 of the whole job, several times, as a
# singleton and under mpirun -np 2) and stopped with SIGTERM / SIGUSR1 finishes on re-runs of the
# same command with exactly the numbers of an uninterrupted sweep.
# Sized to the scenarios (each section starts jobs anew, a kill loop up to 9 times): a data set cut
# to 25,000 training images (a start reads it in a fraction of the full set's time), a small VAE;
# each kill -9 loop runs a sweep of 20 ledger lines to kill after (at least 3 kills whatever the
# machine's speed); the singleton and mpirun SIGUSR1 sections stop a 2-run subset of the VAE sweep
# (same keys, so the same run ids and hashes: checked against the same uninterrupted reference).
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d)
cleanup() { pkill -9 -f "$T/" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_MCA_rmaps_base_oversubscribe=1
# how much slower than a Release build this one runs (scripts/test-sanitize sets 4): the time
# limits and the VAE sweep's training set scale with it
SLOW=${GS_TEST_SLOWDOWN:-1}
# Fashion-MNIST cut to its first 25,000 training and 1,000 test images (the sweeps take subsets)
/usr/bin/python3 - "$T/data" <<'PY' || fail "making the data set"
import gzip, os, sys
src, dst = "/usr/share/datasets/fashion-mnist", sys.argv[1]
os.makedirs(dst)
for name, n in (("train-images-idx3-ubyte", 25000), ("train-labels-idx1-ubyte", 25000),
                ("t10k-images-idx3-ubyte", 1000), ("t10k-labels-idx1-ubyte", 1000)):
    with gzip.open(f"{src}/{name}.gz", "rb") as f:
        head = bytearray(f.read(4))
        dims = [int.from_bytes(f.read(4), "big") for _ in range(head[3])]
        item = 1
        for d in dims[1:]: item *= d
        body = f.read(n * item)
    assert dims[0] >= n and len(body) == n * item, (name, dims)
    dims[0] = n
    with gzip.open(f"{dst}/{name}.gz", "wb", compresslevel=1) as g:
        g.write(bytes(head) + b"".join(d.to_bytes(4, "big") for d in dims) + body)
PY
# training images of the VAE sweep, fewer in a slower build (24,000 in Release, 6,000 under the
# sanitizers): an epoch takes about as long in either (~0.3 s), and a run outlasts the second that
# mpirun waits before it passes SIGTERM or SIGINT on to the ranks
TRAIN=$((24000 / (SLOW > 1 ? SLOW : 1)))
vae_ini() { # train_size batch_size grid-lines...: a VAE sweep named k
  printf '%s\n' "[sweep]" "name = k"
  cat <<INI
[data]
dataset = $T/data
train_size = $1
test_size = 300
[model]
hidden1 = 128
hidden2 = 64
[train]
epochs = 4
batch_size = $2
checkpoint_every = 1
[eval]
iw_samples = 3
; sample quality needs the judge classifier (a minute to train): tested in e2e_cae_igmn
judge = 0
n_samples = 10
[grid]
INI
  shift 2
  printf '%s\n' "$@"
}
vae_ini "$TRAIN" 50 "model.name = vae, cvae" "model.latent_dim = 2, 3" > "$T/k.ini"
# a subset of k: its runs name-vae_latent_dim-2 and name-cvae_latent_dim-2, bit for bit (a run's id
# and hash come from its own values), one for each rank under mpirun
vae_ini "$TRAIN" 50 "model.name = vae, cvae" "model.latent_dim = 2" > "$T/s.ini"
SUB="name-vae_latent_dim-2 name-cvae_latent_dim-2"
echo "== reference (uninterrupted)"
"$GS" run --quiet --results "$T/ref" "$T/k.ini" > "$T/ref.txt" 2>&1 || { cat "$T/ref.txt"; fail "reference run"; }

compare() { # results dir [reference dir [run ids: the results hold exactly these, else all of the reference's]]
  local res=$1 ref=${2:-$T/ref}; shift $(($# < 2 ? $# : 2))
  /usr/bin/python3 - "$ref/k" "$res/k" "$@" <<'PY'
import sys, os, h5py, numpy as np
a_dir, b_dir = sys.argv[1], sys.argv[2]
ids = sorted(f"{i}.h5" for i in sys.argv[3:]) or sorted(os.listdir(f"{a_dir}/runs"))
assert set(ids) <= set(os.listdir(f"{a_dir}/runs")), (ids, os.listdir(f"{a_dir}/runs"))
assert ids == sorted(os.listdir(f"{b_dir}/runs")), (ids, os.listdir(f"{b_dir}/runs"))
for f in ids:
    a, b = h5py.File(f"{a_dir}/runs/{f}", "r"), h5py.File(f"{b_dir}/runs/{f}", "r")
    assert b.attrs["status"] in (b"done", "done"), (f, b.attrs["status"])
    for k in a["params"]:
        assert np.array_equal(a["params"][k][:], b["params"][k][:]), (f, k)
    for k in ("train_loss", "test_neg_elbo", "test_rec", "test_kl", "epoch"):
        assert np.array_equal(a["metrics"][k][:], b["metrics"][k][:]), (f, k, a["metrics"][k][:], b["metrics"][k][:])
    assert a["final/test_iw_nll"][()] == b["final/test_iw_nll"][()], f
    assert np.array_equal(a["samples/prior"][:], b["samples/prior"][:]), f
print(f"{len(ids)} runs identical to the uninterrupted sweep")
PY
}

# a random wait of 0 .. 1.5 epochs as this machine runs them now (the latest interval between two
# ledger lines of one run that ends in a checkpoint), divided by the number of runs the job trains
# at once, at most 0.8 s (0 .. 0.8 s before there is an epoch to measure): a kill can hit any part
# of an epoch, its checkpoint write or, after a run's last checkpoint, its final evaluation and run
# file, while the sweep advances by about as many ledger lines per attempt however long an epoch is
kill_delay() { # ledger, runs trained at once
  awk -F'\t' -v s="$RANDOM" -v par="$2" '
    $2 == "started" || $2 == "resumed" || $2 == "checkpointed" {
      if ($2 == "checkpointed" && ($3 in t)) d = $1 - t[$3]
      t[$3] = $1
    }
    END { srand(s); m = d > 0 ? 1.5 * d / par : 0.8; if (m > 0.8) m = 0.8; printf "%.3f", m * rand() }' "$1" 2>/dev/null ||
    echo 0.4
}
# the experiment file kill_loop runs, $T/$INI.ini (the VAE sweep k, its data-parallel variant d, or
# the GAN sweep g below)
INI=k
kill_loop() { # label results runs-at-once launcher...
  local label=$1 res=$2 par=$3; shift 3
  local sweep; sweep=$(sed -n 's/^name = //p' "$T/$INI.ini")
  local kills=0 rc=1
  # up to 8 kills at random moments, then the job is left to finish: on a busy machine a job
  # may never get far enough between two random kills, and the test must not depend on speed
  for attempt in $(seq 1 9); do
    setsid "$@" --quiet --results "$res" "$T/$INI.ini" >> "$T/$label.txt" 2>&1 &
    local pid=$!
    # a random moment that adapts to the machine's speed: after 1-3 new ledger lines of this
    # attempt (or 30 s), then 0 .. 1.5 epochs more (at most 0.8 s; kill_delay); the lines counted
    # alternate between any progress (kills soon after a start) and checkpoints only (kills that
    # leave something to resume)
    local ledger="$res/$sweep/ledger.log" want=$((1 + RANDOM % 3)) t0=$SECONDS
    local pat=$'\t(started|checkpointed|resumed)\t'
    [ $((attempt % 2)) = 0 ] && pat=$'\tcheckpointed\t'
    local base; base=$(grep -cE "$pat" "$ledger" 2>/dev/null); base=${base:-0}
    while kill -0 "$pid" 2>/dev/null && [ $((SECONDS - t0)) -lt 30 ]; do
      local now; now=$(grep -cE "$pat" "$ledger" 2>/dev/null); now=${now:-0}
      [ "$now" -ge $((base + want)) ] && break
      sleep 0.05
    done
    sleep "$(kill_delay "$ledger" "$par")"
    if [ "$attempt" -lt 9 ] && kill -0 "$pid" 2>/dev/null; then
      # every process of the job: mpirun puts each rank in its own process group, and ranks
      # whose mpirun was SIGKILLed would run on
      kill -9 -- "-$pid" 2>/dev/null
      pkill -9 -f -- "--results $res " 2>/dev/null
      wait "$pid" 2>/dev/null
      kills=$((kills + 1))
    else
      wait "$pid"; rc=$?
      break
    fi
  done
  [ "$rc" = 0 ] || { tail -20 "$T/$label.txt"; fail "$label: sweep did not finish (rc $rc)"; }
  echo "$label: finished after $kills kill -9 of the whole job"
  # each kill lands after 1-3 new ledger lines of the attempt, so on any machine the first 8
  # attempts are kills unless the sweep finishes first: at least 3 must have landed (the
  # README's "a dozen times" is the total over the four loops, checked at the end)
  [ "$kills" -ge 3 ] || fail "$label: only $kills kill -9 landed before the sweep finished"
  TOTAL_KILLS=$((TOTAL_KILLS + kills))
  grep -q "resumed from its checkpoint" "$T/$label.txt" || { tail -20 "$T/$label.txt"; fail "$label: no run resumed from a checkpoint"; }
}

TOTAL_KILLS=0
echo "== kill -9, singleton"
kill_loop single "$T/r1" 1 "$GS" run
compare "$T/r1" || fail "singleton kill/resume changed the numbers"
echo "== kill -9, mpirun -np 2"
kill_loop mpi "$T/r2" 2 mpirun -np 2 "$GS" run
compare "$T/r2" || fail "mpirun kill/resume changed the numbers"
echo "== kill -9, data-parallel (mpirun -np 2, 2 ranks per run)"
# its own sweep and reference (a group of 2 ranks gives other numbers than one rank): k on half the
# images in batches of 100, a quarter of the steps, each of which waits for the other rank (on a
# busy machine, most of a data-parallel epoch)
vae_ini $((TRAIN / 2)) 100 "model.name = vae, cvae" "model.latent_dim = 2, 3" > "$T/d.ini"
mpirun -np 2 "$GS" run --quiet --ranks-per-run 2 --results "$T/refdp" "$T/d.ini" > "$T/refdp.txt" 2>&1 || { cat "$T/refdp.txt"; fail "dp reference"; }
INI=d
kill_loop dp "$T/r3" 1 mpirun -np 2 "$GS" run --ranks-per-run 2
INI=k
compare "$T/r3" "$T/refdp" || fail "data-parallel kill/resume changed the numbers"

# GANs: two phases with their own optimisers, windows of iteration series that span epochs,
# evaluations between epochs, the progress image: all in checkpoints (the DCGANs' batch-norm
# running statistics are resumed bit for bit in unit_gan; a DCGAN here would take minutes under
# the sanitizers). 10 iterations an epoch: 10 epochs a run (20 ledger lines to kill after), log
# windows of 4 iterations across epoch ends, evaluations in the middle and at the end of epochs
cat > "$T/g.ini" <<INI
[sweep]
name = g
[data]
dataset = $T/data
train_size = 2500
test_size = 100
[train]
iterations = 100
batch_size = 250
log_every = 4
checkpoint_every = 1
[eval]
sample_every = 25
judge = 0
[grid]
model.name = gan
gan.conditioning = none, acgan
INI
compare_gan() { # results dir, reference dir
  /usr/bin/python3 - "$2/g" "$1/g" <<'PY'
import sys, os, h5py, numpy as np
a_dir, b_dir = sys.argv[1], sys.argv[2]
ids = sorted(os.listdir(f"{a_dir}/runs"))
assert ids == sorted(os.listdir(f"{b_dir}/runs")), (ids, os.listdir(f"{b_dir}/runs"))
for f in ids:
    a, b = h5py.File(f"{a_dir}/runs/{f}", "r"), h5py.File(f"{b_dir}/runs/{f}", "r")
    assert b.attrs["status"] in (b"done", "done"), (f, b.attrs["status"])
    for g in ("params", "samples", "pictures"):
        assert sorted(a[g]) == sorted(b[g]), (f, g)
        for k in a[g]:
            assert np.array_equal(a[g][k][()], b[g][k][()]), (f, g, k)
    for k in a["metrics"]:
        if "seconds" in k or "per_s" in k: continue
        assert np.array_equal(a["metrics"][k][()], b["metrics"][k][()]), (f, k)
print(f"{len(ids)} GAN runs identical to the uninterrupted sweep")
PY
}
echo "== GANs: kill -9"
INI=g
"$GS" run --quiet --results "$T/gref" "$T/g.ini" > "$T/gref.txt" 2>&1 || { cat "$T/gref.txt"; fail "GAN reference"; }
kill_loop gan "$T/g1" 1 "$GS" run
compare_gan "$T/g1" "$T/gref" || fail "GAN kill/resume changed the numbers"
INI=k
[ "$TOTAL_KILLS" -ge 12 ] || fail "only $TOTAL_KILLS kill -9 landed in all (the README says a dozen)"
echo "$TOTAL_KILLS kill -9 in all"

for sig in TERM USR1; do
  echo "== SIG$sig: checkpoint at the next step and exit cleanly"
  "$GS" run --quiet --results "$T/s$sig" "$T/s.ini" > "$T/s$sig.txt" 2>&1 &
  pid=$!
  # the signal once the first run has checkpointed its first epoch (a fixed sleep fired before
  # the first run on a busy machine), then a random moment into its second (kill_delay)
  t0=$SECONDS
  until grep -q $'\tcheckpointed\t' "$T/s$sig/k/ledger.log" 2>/dev/null; do
    [ $((SECONDS - t0)) -le $((120 * SLOW)) ] || fail "SIG$sig: no checkpoint within $((120 * SLOW)) s"
    kill -0 "$pid" 2>/dev/null || { cat "$T/s$sig.txt"; fail "SIG$sig: the job ended before a checkpoint"; }
    sleep 0.05
  done
  sleep "$(kill_delay "$T/s$sig/k/ledger.log" 1)"
  t0=$(date +%s.%N)
  kill -"$sig" "$pid"
  wait "$pid"; rc=$?
  t1=$(date +%s.%N)
  [ "$rc" = 3 ] || { cat "$T/s$sig.txt"; fail "SIG$sig: exit $rc, want 3 (interrupted)"; }
  # "at its next step" (a step here takes milliseconds): 30 s is a hang, not a busy machine
  awk -v a="$t0" -v b="$t1" -v k="$SLOW" 'BEGIN { exit !(b - a < 30 * k) }' || fail "SIG$sig: took more than 30 s to stop"
  grep -q "interrupted" "$T/s$sig/k/ledger.log" || fail "SIG$sig: no interrupted line in the ledger"
  ls "$T/s$sig/k/ckpt/"*.h5 > /dev/null 2>&1 || fail "SIG$sig: no checkpoint left"
  "$GS" status "$T/s$sig/k" > "$T/st$sig.txt" || fail "status after SIG$sig"
  grep -qE "[1-9][0-9]* interrupted" "$T/st$sig.txt" || { cat "$T/st$sig.txt"; fail "status does not show the interrupted run"; }
  "$GS" run --quiet --results "$T/s$sig" "$T/s.ini" > "$T/s$sig-2.txt" 2>&1 || { cat "$T/s$sig-2.txt"; fail "SIG$sig: resume"; }
  compare "$T/s$sig" "$T/ref" $SUB || fail "SIG$sig stop/resume changed the numbers"
  ! ls "$T/s$sig/k/ckpt/"*.h5 > /dev/null 2>&1 || fail "SIG$sig: checkpoints left after the sweep finished"
done
# Under mpirun the ranks checkpoint and exit 3 on any of these signals sent to mpirun, but what
# mpirun itself returns is its own: SIGUSR1 it forwards to the ranks and returns their status
# (3); SIGTERM and SIGINT it treats as an abort of the job and returns 1 whatever the ranks
# return (Open MPI 4.1). The runs are checkpointed either way and resume bit for bit. SIGUSR1
# reaches the ranks at once (the 2-run subset of k, one run for each); SIGTERM and SIGINT only
# after about a second, mpirun's own delay, so those stop the 4-run sweep k (two runs for each rank).
for sigrc in USR1:3:s TERM:1:k INT:1:k; do
  IFS=: read -r sig want ini <<< "$sigrc"
  echo "== SIG$sig to mpirun: exit $want, runs checkpointed"
  R="$T/m$sig"
  mpirun -np 2 "$GS" run --quiet --results "$R" "$T/$ini.ini" > "$R.txt" 2>&1 &
  pid=$!
  t0=$SECONDS
  until grep -q $'\tcheckpointed\t' "$R/k/ledger.log" 2>/dev/null; do
    [ $((SECONDS - t0)) -le $((120 * SLOW)) ] || fail "mpirun SIG$sig: no checkpoint within $((120 * SLOW)) s"
    kill -0 "$pid" 2>/dev/null || { cat "$R.txt"; fail "mpirun SIG$sig: the job ended before a checkpoint"; }
    sleep 0.05
  done
  kill -"$sig" "$pid"
  wait "$pid"; rc=$?
  [ "$rc" = "$want" ] || { cat "$R.txt"; fail "mpirun SIG$sig: exit $rc, want $want"; }
  [ "$(grep -c $'\tinterrupted\t' "$R/k/ledger.log")" -ge 1 ] || fail "mpirun SIG$sig: no interrupted run in the ledger"
  ls "$R/k/ckpt/"*.h5 > /dev/null 2>&1 || fail "mpirun SIG$sig: no checkpoint left"
  mpirun -np 2 "$GS" run --quiet --results "$R" "$T/$ini.ini" > "$R-2.txt" 2>&1 || { cat "$R-2.txt"; fail "mpirun SIG$sig: resume"; }
  if [ "$ini" = s ]; then compare "$R" "$T/ref" $SUB; else compare "$R"; fi ||
    fail "mpirun SIG$sig stop/resume changed the numbers"
done
echo PASS
