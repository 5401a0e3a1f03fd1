#!/usr/bin/env bash
# Training throughput at one thread, gensweep against the PyTorch reference in the same run
# (shared/reference/torch/bench.py, when python3-torch is installed; otherwise against the
# ANCHORS.md figures 8,631 img/s (VAE z=25) and 9,579 img/s (CVAE z=35)). Target: >= 1.5x.
# Also prints the fraction of the machine's one-thread sgemm peak that training reaches.
#   tests/bench/vae_speed.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
REF=${GS_TORCH_REF:-../shared/reference/torch}
export OPENBLAS_NUM_THREADS=1
torch_ips() { # model
  if [ -f "$REF/bench.py" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
    (cd "$REF" && /usr/bin/python3 bench.py --model "$1" --threads 1 --blas-threads 1 --windows 5 \
        --window-s 2 --out /dev/null 2>/dev/null | tail -1 |
      /usr/bin/python3 -c "import sys, json; print(round(json.loads(sys.stdin.read())['train_img_per_s']['median']))")
  fi
}
for spec in "vae 25 vae 8631" "cvae 35 cvae 9579"; do
  set -- $spec
  t=$(torch_ips "$3" || true)
  if [ -n "$t" ]; then src="PyTorch measured now"; else t=$4; src="ANCHORS.md"; fi
  echo "reference ($src): $1 z=$2: $t img/s"
  "$B/bench_vae" --model "$1" --z "$2" --ref "$t"
done
