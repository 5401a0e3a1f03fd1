#!/usr/bin/env bash
# Early stopping's figures (issue 13 point 5), docs/studies/early_stopping.md: the 27 sampled VAE
# configurations of experiments/early_stopping.ini trained three ways, the same runs each time:
# every run to its last epoch (scheduler = none: the reference), sha, and asha. Prints, for sha and
# asha, the final test -ELBO of the best run each trained to the end against the best of the full
# sweep (the target: within 1 %), and the compute each used against the full sweep's (the target:
# at most a third), counted as epochs trained and as training seconds; then the scheduler's own
# cost per decision (bench_scheduler). Resumable: run it again after an interruption and gensweep
# resumes each sweep.
#
#   bash tests/bench/sched_study.sh [RESULTS_DIR]   (default results/; GS=path/to/gensweep)
#   NP=2 bash tests/bench/sched_study.sh           (ranks per sweep: asha's decisions then depend
#                                                    on the order results arrive)
set -euo pipefail
GS=${GS:-build/gensweep}
RES=${1:-results}
NP=${NP:-1}
EXP=experiments/early_stopping.ini
run() {
  if [ "$NP" -gt 1 ]; then mpirun --oversubscribe -np "$NP" "$GS" run "$EXP" --results "$RES" -q "$@"
  else "$GS" run "$EXP" --results "$RES" -q "$@"; fi
}
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
     "OpenBLAS $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?')," \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $NP rank(s) per sweep"
for s in none sha asha; do
  name=es_full; [ $s = none ] || name=es_$s
  t0=$(date +%s)
  run sweep.name=$name sweep.scheduler=$s > "$RES/$name.log" 2>&1 || { tail -20 "$RES/$name.log"; exit 1; }
  echo "$name: $(( $(date +%s) - t0 )) s wall (this job)"
done
/usr/bin/python3 - "$RES" <<'PY'
import sys, glob, os, h5py, numpy as np
res = sys.argv[1]
def sweep(name):
    out = {}
    for f in sorted(glob.glob(os.path.join(res, name, "runs", "*.h5"))):
        with h5py.File(f, "r") as h:
            st = h.attrs["status"]; st = st.decode() if isinstance(st, bytes) else st
            m = h["metrics"]
            out[os.path.basename(f)[:-3]] = dict(status=st, epochs=len(m["epoch"]),
                final=float(m["test_neg_elbo"][-1]) if len(m["test_neg_elbo"]) else float("nan"),
                secs=float(h["final/train_seconds"][()]) if "train_seconds" in h["final"] else float("nan"))
    return out
full = sweep("es_full")
assert len(full) == 27 and all(r["status"] in ("done", "diverged") for r in full.values()), "the full sweep is not complete"
done = {k: r for k, r in full.items() if r["status"] == "done"}
best_id = min(done, key=lambda k: done[k]["final"])
best = done[best_id]["final"]
ep_full = sum(r["epochs"] for r in full.values()); s_full = sum(r["secs"] for r in full.values())
print(f"full sweep: 27 runs, {ep_full} epochs, {s_full:.0f} s of training; best {best_id}: test -ELBO {best:.3f}")
for name in ("es_sha", "es_asha"):
    sw = sweep(name)
    fin = {k: r for k, r in sw.items() if r["status"] == "done"}
    ep = sum(r["epochs"] for r in sw.values()); secs = sum(r["secs"] for r in sw.values())
    if not fin:
        print(f"{name}: no run trained to the end"); continue
    pick = min(fin, key=lambda k: fin[k]["final"])
    gap = (fin[pick]["final"] - best) / abs(best) * 100
    rank = sorted(done, key=lambda k: done[k]["final"]).index(pick) + 1 if pick in done else None
    same = pick in full and full[pick]["final"] == fin[pick]["final"]
    print(f"{name}: picked {pick}: test -ELBO {fin[pick]['final']:.3f}, {gap:+.2f} % from the best "
          f"(rank {rank} of {len(done)} in the full sweep; {'bit for bit' if same else 'NOT equal to'} its full-sweep run); "
          f"compute {ep} epochs = {ep / ep_full:.3f} of the full sweep's, {secs:.0f} s = {secs / s_full:.3f}; "
          f"{sum(r['status'] == 'stopped' for r in sw.values())} runs stopped early  "
          f"[{'MEETS' if gap <= 1 and ep / ep_full <= 1 / 3 else 'MISSES'} within 1 % for at most 1/3]")
PY
BENCH=$(dirname "$GS")/bench_scheduler
if [ -x "$BENCH" ]; then echo "scheduler cost per decision (bench_scheduler):"; "$BENCH" | tail -6; fi
