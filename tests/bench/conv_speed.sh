#!/usr/bin/env bash
# Convolution throughput at one thread against the machine's one-thread sgemm peak measured in
# the same run (tests/bench/bench_conv.c). Target: >= 50% of peak on the DCGAN discriminator.
#   tests/bench/conv_speed.sh [build dir] [bench_conv options...]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
shift || true
export OPENBLAS_NUM_THREADS=1
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
export OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-512}
exec "$B/bench_conv" "$@"
