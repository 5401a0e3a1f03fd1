#!/usr/bin/env bash
# CAE (z = 6, conv 32/64, batch 128, Adam) training throughput at one thread, against the
# PyTorch reference measured in the same run (shared/reference/torch/bench.py, when
# python3-torch is installed; otherwise the ANCHORS.md figure 3,398 img/s). Target >= 1.5x.
# Also: the mixture-density regulariser's share of a retraining epoch (target <= 10%).
#   tests/bench/cae_speed.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
REF=${GS_TORCH_REF:-../shared/reference/torch}
export OPENBLAS_NUM_THREADS=1
# Wall-clock figures only mean something on an idle machine; the per-CPU-second figures of both
# sides (process CPU time) stay comparable when other work shares the cores.
t=""; tc=0
if [ -f "$REF/bench.py" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
  read -r t tc < <(cd "$REF" && /usr/bin/python3 bench.py --model cae --threads 1 --blas-threads 1 --windows 5 \
        --window-s 2 --out /dev/null 2>/dev/null | tail -1 |
      /usr/bin/python3 -c "import sys, json; d = json.loads(sys.stdin.read())['train_img_per_s']; print(round(d['median']), round(d['per_cpu_second_median']))") || true
fi
if [ -n "$t" ]; then src="PyTorch measured now"; else t=3398; tc=3398; src="ANCHORS.md"; fi
echo "reference ($src): CAE z=6: $t img/s wall, $tc img/s per CPU second"
"$B/bench_cae" --ref "$t" --ref-cpu "$tc"
