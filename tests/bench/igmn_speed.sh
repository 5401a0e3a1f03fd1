#!/usr/bin/env bash
# IGMN one pass over the 60000-point 6-D proxy cloud (Fashion-MNIST PCA-6, tests/bench/make_proxy.py),
# default parameters (c .2, beta 1e-3, v_min 2400, sp_min 50, exact): gensweep vs the NumPy
# reference (shared/igmn/igmn_ref.py, variant "fast") on the same input, in the same run.
# Budget: <= 40 ms per pass on one core, >= 70x the reference, same K/created/removed.
# Times are per-thread CPU time (medians for gensweep): the machine is shared, wall clock is noisy.
#   tests/bench/igmn_speed.sh [build dir] [passes]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
PASSES=${2:-21}
REF=${GS_IGMN_REF:-../shared/igmn}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1
DATA="$B/igmn_proxy60k.f32"
[ -s "$DATA" ] || "$PY" tests/bench/make_proxy.py "$DATA"
read -r ref_ms ref_wall K C R < <("$PY" - "$REF" "$DATA" <<'PYEOF'
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from igmn_ref import IGMN, sigmasq_of
Z = np.fromfile(sys.argv[2], dtype="<f4").reshape(-1, 6).astype(np.float64)
net = IGMN(6, sigmasq=sigmasq_of(Z), beta=1e-3, c=0.2, v_min=2400, sp_min=50, variant="fast", cov_update="exact")
t, w = time.process_time(), time.perf_counter()
net.fit(Z)
print(1e3 * (time.process_time() - t), 1e3 * (time.perf_counter() - w), net.K, net.n_created, net.n_removed)
PYEOF
)
printf 'NumPy reference (igmn_ref.IGMN fast): %.0f ms CPU (%.0f ms wall) per pass, K=%s created=%s removed=%s\n' \
  "$ref_ms" "$ref_wall" "$K" "$C" "$R"
"$B/bench_igmn" --data "$DATA" --passes "$PASSES" --expect "$K,$C,$R" --ref-ms "$ref_ms"
