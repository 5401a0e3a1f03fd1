#!/usr/bin/env bash
# Quality benchmark: test negative ELBO after 10 epochs on Fashion-MNIST (784-512-256-z, batch 100,
# RMSProp 1e-3), against the PyTorch reference figures of shared/ANCHORS.md:
#   VAE z=2: 260.3, z=10: 242.1, z=25: 243.4; CVAE z=35: 240.4   (target: within 1%)
# Usage: tests/bench/vae_quality.sh [build dir]   (about 4 minutes on 2 cores: 2 runs at a time)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mk() { # name model z
  cat > "$out/$1.ini" <<INI
[sweep]
name = $1
results = $out
[model]
name = $2
latent_dim = $3
[train]
epochs = 10
seed = 0
[eval]
iw_samples = 0
n_samples = 0
n_recon = 0
manifold_n = 0
INI
}
mk vae2 vae 2; mk vae10 vae 10; mk vae25 vae 25; mk cvae35 cvae 35
export OPENBLAS_NUM_THREADS=1
( "$B/gensweep" run --quiet "$out/vae2.ini" >/dev/null; "$B/gensweep" run --quiet "$out/vae10.ini" >/dev/null ) &
( "$B/gensweep" run --quiet "$out/vae25.ini" >/dev/null; "$B/gensweep" run --quiet "$out/cvae35.ini" >/dev/null ) &
wait
printf '%-8s %10s %10s %8s\n' model gensweep reference ratio
for pair in vae2:260.3 vae10:242.1 vae25:243.4 cvae35:240.4; do
  n=${pair%%:*}; ref=${pair##*:}
  v=$(/usr/bin/python3 -c "import h5py; print('%.2f' % h5py.File('$out/$n/runs/run.h5')['final/test_neg_elbo'][()])")
  /usr/bin/python3 -c "v=$v; r=$ref; print('%-8s %10.2f %10.2f %8.4f %s' % ('$n', v, r, v/r, 'ok' if abs(v/r-1) <= 0.01 else ('better' if v < r else 'WORSE by >1%')))"
done
