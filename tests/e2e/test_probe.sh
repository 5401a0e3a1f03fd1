#!/usr/bin/env bash
# Linear probes end to end: a sweep of the pixels baseline, a VAE, a CAE and a DCGAN with
# probe.features = model, untrained (the trained features and those of the initial weights, the
# DCGAN's batch norm re-estimated), on a small slice of Fashion-MNIST:
#  - every run file holds, for each classifier and label budget, the accuracy of each repeat, the
#    confusion matrices, precision and recall, and the mean and std as final scalars, all
#    consistent with each other and with the test set's class counts;
#  - the pixels' probe learns (all labels: well above chance), fewer labels do worse;
#  - the fits farmed over 2 ranks of a group give the same numbers as one rank (pixels: the same
#    bits; the VAE and CAE train data-parallel, so their features differ by float rounding);
#  - with 3 groups and two runs the idle groups help with the probe stages (the model loaded from
#    the run's last checkpoint), and every probe number is the one-rank run's, bit for bit;
#  - a budget the training set cannot fill is skipped with its reason, the run still done;
#  - probe.every: the DCGAN is probed at each evaluation too (series against iterations).
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d "${GS_BINARY_DIR:-${TMPDIR:-/tmp}}/e2e_probe.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
PY=/usr/bin/python3
cat > "$T/p.ini" <<INI
[sweep]
name = p
[data]
train_size = 1000
test_size = 300
[model]
latent_dim = 8
conv1 = 8
conv2 = 16
[train]
epochs = 1
batch_size = 50
iterations = 20
[eval]
iw_samples = 0
judge = 0
n_recon = 4
sample_every = 10
[probe]
features = model, untrained, finetuned
budgets = all, 100, 30
repeats = 3
every = 10
finetune_epochs = 2
finetune_min_steps = 20
[grid]
model.name = pixels, vae, cae, dcgan1
INI

echo "== one rank"
"$GS" run --quiet --results "$T/one" "$T/p.ini" > "$T/one.txt" 2>&1 || { cat "$T/one.txt"; fail "sweep"; }
"$PY" - "$T/one/p" <<'PY' || fail "probe arrays"
import glob, sys, h5py, numpy as np
runs = sorted(glob.glob(sys.argv[1] + "/runs/*.h5"))
assert len(runs) == 4, runs
for f in runs:
    h = h5py.File(f)
    assert h.attrs["status"] in ("done", b"done"), (f, h.attrs["message"])
    fin = h["final"]
    F = fin["probe_features"][()]
    assert F == (784 if "pixels" in f else 512 if "dcgan1" in f else 8), (f, F)
    # no weights (pixels): the untrained features would be the same pixels, a duplicate row
    srcs = (("model", "probe_"),) if "pixels" in f else (("model", "probe_"), ("untrained", "probe_untrained_"))
    if "pixels" in f:
        assert "probe_untrained_features" not in fin and "untrained" not in h["probe"], list(h["probe"])
    else:
        assert fin["probe_untrained_features"][()] == F
    test_counts = None
    for src, pre in srcs:
      for c in ("svm", "lr"):
        for b, R in (("all", 1), ("100", 3), ("30", 3)):
            g = h[f"probe/{src}/{c}/{b}"]
            acc, conf = g["accuracy"][:], g["confusion"][:]
            prec, rec = g["precision"][:], g["recall"][:]
            assert acc.shape == (R,) and conf.shape == (R, 10, 10) and prec.shape == rec.shape == (R, 10), (f, c, b)
            # every repeat scores all 300 test images; the rows are the test set's class counts
            assert np.all(conf.sum(axis=(1, 2)) == 300), (f, c, b)
            counts = conf.sum(axis=2)
            assert np.all(counts == counts[0]), (f, c, b)
            test_counts = counts[0] if test_counts is None else test_counts
            assert np.array_equal(counts[0], test_counts)
            assert np.allclose(acc, np.trace(conf, axis1=1, axis2=2) / 300)
            assert np.allclose(rec, np.diagonal(conf, axis1=1, axis2=2) / conf.sum(axis=2))
            assert np.isclose(fin[f"{pre}{c}_{b}"][()], acc.mean()) and np.isclose(fin[f"{pre}{c}_{b}_std"][()], acc.std())
            assert np.all((acc > 0.15) & (acc <= 1)), (f, c, b, acc)
            if R > 1:
                assert len(set(acc.tolist())) > 1, (f, c, b, "the repeats drew the same subsets?", acc)
    if "pixels" in f:
        for c in ("svm", "lr"):
            a_all, a30 = fin[f"probe_{c}_all"][()], fin[f"probe_{c}_30"][()]
            assert a_all > 0.65 and a_all > a30 + 0.03, (c, a_all, a30)
    # the discriminator fine-tuned as a classifier on each subset (only the GAN has one)
    if "dcgan1" in f:
        for b, R in (("all", 1), ("100", 3), ("30", 3)):
            g = h[f"probe/finetuned/net/{b}"]
            acc, conf = g["accuracy"][:], g["confusion"][:]
            assert acc.shape == (R,) and conf.shape == (R, 10, 10), (b, acc.shape, conf.shape)
            assert np.all(conf.sum(axis=(1, 2)) == 300) and np.allclose(acc, np.trace(conf, axis1=1, axis2=2) / 300), b
            assert np.all(conf.sum(axis=2) == test_counts), b
            assert np.all((acc > 0.3) & (acc <= 1)), (b, acc)
            assert np.isclose(fin[f"probe_finetuned_net_{b}"][()], acc.mean()), b
            if R > 1:
                assert len(set(acc.tolist())) > 1, (b, acc)
    else:
        assert "finetuned" not in h["probe"] and "probe_finetuned_net_all" not in fin, f
    if "dcgan1" in f:  # a random discriminator's features, batch norm re-estimated: far above chance
        assert fin["probe_untrained_lr_all"][()] > 0.5, fin["probe_untrained_lr_all"][()]
        # probe.every = 10 over 20 iterations, evaluated every 10: a probe at each evaluation
        ev, ser = h["metrics/eval_iteration"][:], h["metrics/probe_svm_all"][:]
        assert list(ev) == [10, 20] and len(ser) == 2 and np.all(np.isfinite(ser)), (ev, ser)
        assert ser[-1] == fin["probe_svm_all"][()] and "probe_untrained_svm_all" not in h["metrics"]
print("probe arrays, confusion matrices, precision/recall and finals consistent; pixels learn")
PY
[ "$(grep -c "^gensweep: probes of the fine-tuned network skipped: the model has no network to fine-tune" "$T/one.txt")" = 3 ] ||
  { cat "$T/one.txt"; fail "pixels, vae and cae: no message that the fine-tuned source was skipped"; }

echo "== report: the probe tables"
"$GS" report "$T/one/p" > "$T/report.txt" 2>&1 || { cat "$T/report.txt"; fail "report"; }
"$PY" - "$T/one/p" <<'PY' || fail "probe tables in the report"
import csv, glob, sys, h5py
d = sys.argv[1]
md = open(d + "/report/summary.md").read()
assert "## Linear probes" in md and "### linear SVM" in md and "### logistic regression" in md, md
assert "### Per class, all labels: linear SVM" in md and "| name=dcgan1 (untrained) |" in md, md
rows = list(csv.DictReader(open(d + "/report/probes.csv")))
# (rows x sources, less pixels' untrained) x classifiers x budgets, and dcgan1's fine-tuned network
assert len(rows) == (4 * 2 - 1) * 2 * 3 + 3, len(rows)
assert sum(r["row"] == "name=dcgan1 (finetuned)" and r["classifier"] == "net" for r in rows) == 3
assert not any(r["row"] == "name=pixels (untrained)" for r in rows)
assert any(r["row"] == "name=dcgan1 (untrained)" for r in rows)
h = h5py.File(glob.glob(d + "/runs/name-pixels.h5")[0])
for r in rows:
    if r["row"] == "name=pixels":
        want = 100 * h["final"][f"probe_{r['classifier']}_{r['budget']}"][()]
        assert abs(float(r["accuracy_mean_pct"]) - want) < 1e-9, (r, want)
        assert float(r["labels"]) == (1000 if r["budget"] == "all" else float(r["budget"]))
import os
assert os.path.exists(d + "/report/probe_svm_vs_labels.png") and os.path.exists(d + "/report/probe_lr_vs_labels.png")
print("report: probe tables (markdown, CSV) and plots")
PY

echo "== 2 ranks per run: the fits farmed over the group"
mpirun -np 2 "$GS" run --quiet --ranks-per-run 2 --results "$T/two" "$T/p.ini" > "$T/two.txt" 2>&1 || { cat "$T/two.txt"; fail "2-rank sweep"; }
"$PY" - "$T/one/p" "$T/two/p" <<'PY' || fail "2 ranks gave other probe numbers"
import glob, os, sys, h5py, numpy as np
for fa in sorted(glob.glob(sys.argv[1] + "/runs/*.h5")):
    a, b = h5py.File(fa), h5py.File(os.path.join(sys.argv[2], "runs", os.path.basename(fa)))
    for src in ("model",) if "pixels" in fa else ("model", "untrained"):
      for c in ("svm", "lr"):
        for bud in ("all", "100", "30"):
            ca, cb = a[f"probe/{src}/{c}/{bud}/confusion"][:], b[f"probe/{src}/{c}/{bud}/confusion"][:]
            if "pixels" in fa or src == "untrained":  # the same features on any number of ranks
                assert np.array_equal(ca, cb), (fa, src, c, bud)
            else:  # features from data-parallel training: a few test images may change side
                d = np.abs(a[f"probe/{src}/{c}/{bud}/accuracy"][:] - b[f"probe/{src}/{c}/{bud}/accuracy"][:]).max()
                assert d <= 6 / 300, (fa, c, bud, d)
    if "dcgan1" in fa:  # fine-tuning farmed over the group's 2 ranks: every repeat's matrix complete, once
        for bud in ("all", "100", "30"):
            assert np.all(b[f"probe/finetuned/net/{bud}/confusion"][:].sum(axis=(1, 2)) == 300), bud
print("2 ranks per run: pixels' and untrained probes bit-identical, the trained models' within float tolerance")
PY

echo "== 3 groups of 1 rank, two runs: idle groups help with the probe stages, the numbers of one rank"
# the VAE's importance-weighted evaluation (not in the plan's cost) keeps rank 0 on it while the
# DCGAN trains: usually the third group helps the VAE and then rank 0 and the third group help the
# DCGAN (rank 0 as a helper, 3 members)
mpirun --oversubscribe -np 3 "$GS" run --quiet --results "$T/help" "$T/p.ini" model.name=dcgan1,vae eval.iw_samples=200 \
  > "$T/help.txt" 2>&1 || { cat "$T/help.txt"; fail "helped sweep"; }
grep -qE "probes: fitted by [23] ranks \([12] idle groups? helping\)" "$T/help.txt" || { cat "$T/help.txt"; fail "no group helped"; }
grep "probes: fitted" "$T/help.txt"
"$PY" - "$T/one/p/runs" "$T/help/p/runs" <<'PY' || fail "helped probes differ from one rank's"
import sys, h5py, numpy as np
for run in ("name-dcgan1", "name-vae"):
    a, b = h5py.File(f"{sys.argv[1]}/{run}.h5"), h5py.File(f"{sys.argv[2]}/{run}.h5")
    n = []
    def visit(name, o):
        if isinstance(o, h5py.Dataset):
            assert np.array_equal(o[()], b["probe"][name][()], equal_nan=True), (run, name)
            n.append(name)
    a["probe"].visititems(visit)
    assert len(n) >= 40, (run, n)
    for k in a["final"]:
        if k.startswith("probe_") and k != "probe_seconds":
            assert np.array_equal(a["final"][k][()], b["final"][k][()], equal_nan=True), (run, k)
    print("%s: probes farmed over groups: %d arrays bit-identical to one rank's" % (run, len(n)))
PY

echo "== budgets the training set cannot fill"
sed -e 's/^budgets = .*/budgets = all, 105, 5000/' -e 's/^features = .*/features = model/' -e 's/^model.name = .*/model.name = pixels/' -e 's/^name = p$/name = s/' "$T/p.ini" > "$T/s.ini"
"$GS" run --quiet --results "$T/s" "$T/s.ini" > "$T/s.txt" 2>&1 || { cat "$T/s.txt"; fail "sweep with bad budgets"; }
grep -q "probe budget 105 skipped: a label budget of 105 is not a multiple of the 10 classes" "$T/s.txt" || { cat "$T/s.txt"; fail "no reason for budget 105"; }
grep -q "probe budget 5000 skipped" "$T/s.txt" || { cat "$T/s.txt"; fail "no reason for budget 5000"; }
"$PY" - "$T/s/s" <<'PY' || fail "skipped budgets recorded"
import glob, sys, h5py
h = h5py.File(glob.glob(sys.argv[1] + "/runs/*.h5")[0])
assert h.attrs["status"] in ("done", b"done")
assert h["final/probe_skipped"][()] == 2 and "probe_svm_all" in h["final"] and "probe_svm_105" not in h["final"]
msg = h.attrs["message"]
msg = msg.decode() if isinstance(msg, bytes) else msg
assert msg.startswith("probe stage: probe budget 105 skipped: a label budget of 105 is not a multiple") and "probe budget 5000 skipped" in msg, msg
print("skipped budgets recorded with their reasons, the rest probed")
PY
"$PY" - "$T/s/s/sweep.h5" <<'PY' || fail "the reasons in sweep.h5"
import sys, h5py
g = h5py.File(sys.argv[1])["grid"][()]
m = g["message"][0]
assert (m.decode() if isinstance(m, bytes) else m).startswith("probe stage: probe budget 105 skipped"), g
PY
grep -q "done in .* (probe stage: probe budget 105 skipped" "$T/s.txt" || { cat "$T/s.txt"; fail "the job's log does not say what the probes skipped"; }

echo "== probe.every must fall on a GAN's evaluations"
"$GS" plan "$T/p.ini" model.name=dcgan1 probe.every=15 > "$T/every.txt" 2>&1 && fail "probe.every = 15 with evaluations every 10 accepted"
grep -q "probe.every = 15: a GAN probes during training at its evaluations, every eval.sample_every = 10 iterations; make probe.every a multiple of it" "$T/every.txt" ||
  { cat "$T/every.txt"; fail "probe.every message"; }
echo "== C chosen by cross-validation (probe.c_grid), 1 rank and a group of 2 alike"
cat > "$T/cv.ini" <<INI
[sweep]
name = cv
[data]
train_size = 1000
test_size = 300
[model]
name = pixels
[probe]
features = model
budgets = 100
repeats = 2
classifiers = svm
c_grid = 0.001, 1
cv_folds = 2
INI
"$GS" run --quiet --results "$T/cv1" "$T/cv.ini" > "$T/cv1.txt" 2>&1 || { cat "$T/cv1.txt"; fail "cv, 1 rank"; }
mpirun -np 2 "$GS" run --quiet --ranks-per-run 2 --results "$T/cv2" "$T/cv.ini" > "$T/cv2.txt" 2>&1 ||
  { cat "$T/cv2.txt"; fail "cv, 2 ranks"; }
"$PY" - "$T/cv1/cv" "$T/cv2/cv" <<'PY' || fail "cross-validated C"
import glob, sys, h5py, numpy as np
a, b = (h5py.File(glob.glob(d + "/runs/*.h5")[0]) for d in sys.argv[1:3])
ca, cb = a["probe/model/svm/100/c"][:], b["probe/model/svm/100/c"][:]
assert len(ca) == 2 and set(ca) <= {0.001, 1.0}, ca
assert np.array_equal(ca, cb), (ca, cb)
assert np.array_equal(a["probe/model/svm/100/accuracy"][:], b["probe/model/svm/100/accuracy"][:])
print("chosen C per subset", ca, "the same on 1 rank and a group of 2")
PY
echo "== kill -9 during the probes: the resume starts from the checkpoint after training, not epoch 1"
# 2 epochs, then the final evaluation and the probes (C by 5-fold cross-validation over 4
# candidates, 10 repeats: a few seconds); killed once the ledger shows the last epoch's
# checkpoint, the job's next start evaluates and probes from it, and the run file equals an
# uninterrupted run's. If the probes finish before the kill lands (a fast machine), try again.
cat > "$T/k.ini" <<INI
[sweep]
name = k
[data]
train_size = 1000
test_size = 300
[model]
name = vae
latent_dim = 8
[train]
epochs = 2
batch_size = 50
[eval]
iw_samples = 0
judge = 0
n_samples = 4
[probe]
features = model, untrained
budgets = all, 100
repeats = 10
c_grid = 0.01, 0.1, 1, 10
cv_folds = 5
INI
"$GS" run --quiet --results "$T/kref" "$T/k.ini" > "$T/kref.txt" 2>&1 || { cat "$T/kref.txt"; fail "uninterrupted probe sweep"; }
killed=0
for attempt in 1 2 3; do
  rm -rf "$T/kk"
  "$GS" run --quiet --results "$T/kk" "$T/k.ini" > "$T/kk.txt" 2>&1 &
  pid=$!
  t0=$SECONDS
  until grep -qE $'\tcheckpointed\t[^\t]+\t[0-9a-f]+\t2\t' "$T/kk/k/ledger.log" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$T/kk.txt"; fail "the job ended before checkpointing its last epoch"; }
    [ $((SECONDS - t0)) -lt $((300 * ${GS_TEST_SLOWDOWN:-1})) ] || fail "no checkpoint of epoch 2 within the time limit"
    sleep 0.02
  done
  kill -9 "$pid"; wait "$pid" 2>/dev/null
  grep -q $'\tdone\t' "$T/kk/k/ledger.log" || { killed=1; break; }
  echo "attempt $attempt: the probes finished before the kill; again"
done
[ $killed = 1 ] || fail "3 attempts, the probes always finished before the kill landed"
"$GS" run --quiet --results "$T/kk" "$T/k.ini" > "$T/kk2.txt" 2>&1 || { cat "$T/kk2.txt"; fail "resume after kill -9 in the probes"; }
grep -qE $'\tresumed\t[^\t]+\t[0-9a-f]+\t2\t' "$T/kk/k/ledger.log" || { cat "$T/kk/k/ledger.log"; fail "not resumed from the checkpoint of epoch 2"; }
[ "$(grep -c $'\tstarted\t' "$T/kk/k/ledger.log")" = 2 ] || { cat "$T/kk/k/ledger.log"; fail "expected two starts (the killed one and the resume)"; }
"$PY" - "$T/kref/k" "$T/kk/k" <<'PY' || fail "resumed in the probes: other numbers"
import glob, os, sys, h5py, numpy as np
fa = glob.glob(sys.argv[1] + "/runs/*.h5")[0]
a, b = h5py.File(fa), h5py.File(os.path.join(sys.argv[2], "runs", os.path.basename(fa)))
assert b.attrs["status"] in ("done", b"done"), b.attrs["message"]
for k in a["params"]:
    assert np.array_equal(a["params"][k][:], b["params"][k][:]), k
for k in a["metrics"]:
    if "seconds" in k or "per_s" in k: continue
    assert np.array_equal(a["metrics"][k][:], b["metrics"][k][:], equal_nan=True), k
n = 0
def same(name, obj):
    global n
    if isinstance(obj, h5py.Dataset):
        assert np.array_equal(obj[()], b["probe"][name][()]), name
        n += 1
a["probe"].visititems(same)
for k in a["final"]:
    if "seconds" in k or "per_s" in k: continue
    x, y = a["final"][k][()], b["final"][k][()]
    assert x == y or (np.isnan(x) and np.isnan(y)), (k, x, y)
print(f"resumed after the last epoch: parameters, series, finals and {n} probe arrays identical")
PY
echo PASS
