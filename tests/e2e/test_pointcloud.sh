#!/usr/bin/env bash
# Point clouds end to end (issue 12): data.dataset = shapes generates labelled clouds (cached as
# HDF5 under <results>/.data/ and reused), pc_ae and pc_vae train on them (the test Chamfer
# distance falls), the run files hold the clouds (reconstructions, prior samples, interpolation,
# half-and-half codes) and the PNG renders, the linear probes work on the codes, `gensweep ply`
# exports clouds a viewer opens, a stopped run resumes bit for bit, and a directory in the
# ModelNet/ShapeNet release layout is read as a data set.
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d "${GS_BINARY_DIR:-${TMPDIR:-/tmp}}/e2e_pointcloud.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
PY=/usr/bin/python3
cat > "$T/p.ini" <<INI
[sweep]
name = p
[data]
dataset = shapes
shapes_train = 384
shapes_test = 48
points = 128
rotation = z
[model]
latent_dim = 16
[pc]
enc1 = 16
enc2 = 32
enc3 = 32
enc4 = 64
dec1 = 64
dec2 = 64
interp_steps = 8
halves = 2
emd_clouds = 4
[train]
epochs = 10
batch_size = 32
optimizer = adam
[eval]
n_recon = 6
n_samples = 6
[probe]
features = model
budgets = all, 48
repeats = 2
classifiers = lr
[grid]
model.name = pc_ae, pc_vae
INI

echo "== generate, train, evaluate"
"$GS" run --quiet --results "$T/r" "$T/p.ini" > "$T/r.txt" 2>&1 || { cat "$T/r.txt"; fail "point-cloud sweep"; }
ls "$T/r/.data/"shapes-train-*.h5 "$T/r/.data/"shapes-test-*.h5 > /dev/null || fail "no cached shapes under .data"
"$PY" - "$T/r/p" <<'PY' || fail "run files"
import glob, sys, h5py, numpy as np
runs = sorted(glob.glob(sys.argv[1] + "/runs/*.h5"))
assert len(runs) == 2, runs
for f in runs:
    h = h5py.File(f)
    assert h.attrs["status"] in ("done", b"done"), (f, h.attrs["message"])
    cd = h["metrics/test_chamfer"][:]
    # the autoencoder learns fast; the VAE, its code held near the prior, slowly at these sizes
    assert len(cd) == 10 and np.all(np.isfinite(cd)) and cd[-1] < (0.9 if "pc_vae" in f else 0.5) * cd[0], (f, cd)
    pc = h["pointclouds"]
    assert pc["recon_input"].shape == (6, 128, 3) and pc["recon_output"].shape == (6, 128, 3), f
    assert pc["interp"].shape == (8, 128, 3) and pc["halves"].shape == (8, 128, 3), f
    if "pc_vae" in f:
        assert pc["prior"].shape == (6, 128, 3), f
    # the inputs are test clouds: centred, inside the unit sphere
    x = pc["recon_input"][:]
    assert np.all(np.linalg.norm(x, axis=2) <= 1 + 1e-6) and np.abs(x.mean(axis=1)).max() < 1e-3, f
    assert np.isfinite(h["final/test_emd"][()]) and h["final/test_emd"][()] > 0, f
    # the codes probed: 8 classes, far above chance (12.5 %)
    acc = h["final/probe_lr_all"][()]
    assert acc > 0.3, (f, acc)
    print(f.split("/")[-1], "test Chamfer", np.round(cd, 4), "probe LR", round(float(acc), 3))
PY
for r in name-pc_ae name-pc_vae; do
  ls "$T/r/p/png/${r}_"*.png > /dev/null 2>&1 || { ls "$T/r/p/png"; fail "no PNG renders of $r"; }
done

echo "== gensweep ply: clouds a viewer opens"
"$GS" ply "$T/r/p/runs/name-pc_ae.h5" --array recon_input --clouds 0,2 -o "$T/ply" > "$T/ply.txt" 2>&1 ||
  { cat "$T/ply.txt"; fail ply; }
"$PY" - "$T/ply" "$T/r/p/runs/name-pc_ae.h5" <<'PY' || fail "PLY files"
import glob, sys, h5py, numpy as np
files = sorted(glob.glob(sys.argv[1] + "/*.ply"))
assert [f.rsplit("_", 1)[1] for f in files] == ["0.ply", "2.ply"], files
want = h5py.File(sys.argv[2])["pointclouds/recon_input"][:].astype(np.float32)
for f, k in zip(files, (0, 2)):
    b = open(f, "rb").read()
    head, body = b.split(b"end_header\n", 1)
    assert b"format binary_little_endian 1.0" in head and b"element vertex 128" in head, head
    xyz = np.frombuffer(body, dtype="<f4").reshape(128, 3)
    assert np.array_equal(xyz, want[k]), f
print("PLY: 2 clouds, the run file's values")
PY
"$GS" ply "$T/r/p/runs/name-pc_ae.h5" --array nope > "$T/ply2.txt" 2>&1 && fail "a missing array accepted"
grep -q "no /pointclouds/nope" "$T/ply2.txt" || { cat "$T/ply2.txt"; fail "missing array message"; }

echo "== SIGTERM mid-run, resume: the numbers of the uninterrupted run"
. "$(dirname "$0")/pc_resume.sh"
sed -e 's/^name = p$/name = q/' -e 's/^model.name = .*/model.name = pc_vae/' "$T/p.ini" > "$T/q.ini"
pc_term_and_resume "$T/q.ini" q "$T/r/p/runs/name-pc_vae.h5" "$T/r/q/runs/name-pc_vae.h5"

echo "== a directory in the ModelNet/ShapeNet release layout"
mkdir -p "$T/rel"
"$PY" - "$T/r/.data" "$T/rel" <<'PY' || fail "writing release files"
import glob, sys, h5py, numpy as np
tr = h5py.File(glob.glob(sys.argv[1] + "/shapes-train-*.h5")[0])
te = h5py.File(glob.glob(sys.argv[1] + "/shapes-test-*.h5")[0])
for name, src, a, b in (("ply_data_train0.h5", tr, 0, 200), ("ply_data_train1.h5", tr, 200, 384), ("ply_data_test0.h5", te, 0, 48)):
    with h5py.File(f"{sys.argv[2]}/{name}", "w") as f:
        f["data"] = src["data"][a:b]
        f["label"] = src["label"][a:b].astype(np.int64).reshape(-1, 1)
PY
sed -e 's/^name = p$/name = m/' -e "s|^dataset = shapes|dataset = $T/rel|" -e 's/^model.name = .*/model.name = pc_ae/' \
  -e 's/^epochs = 10/epochs = 1/' "$T/p.ini" > "$T/m.ini"
"$GS" run --quiet --results "$T/r" "$T/m.ini" > "$T/m.txt" 2>&1 || { cat "$T/m.txt"; fail "release-layout data set"; }
"$PY" -c "import h5py,sys; h=h5py.File(sys.argv[1]); assert h.attrs['status'] in ('done', b'done'); assert h['pointclouds/recon_input'].shape == (6, 128, 3)" \
  "$T/r/m/runs/name-pc_ae.h5" || fail "release-layout run file"
echo PASS
