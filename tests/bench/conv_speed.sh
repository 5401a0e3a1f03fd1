#!/usr/bin/env bash
# Convolution throughput at one thread against the machine's one-thread sgemm peak measured in
# the same run (tests/bench/bench_conv.c). Target: >= 50% of peak on the DCGAN discriminator.
#   tests/bench/conv_speed.sh [build dir] [--pinned CORETYPE] [bench_conv options...]
# The figures that count are taken with the OpenBLAS kernels gensweep runs with: the
# environment's own OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (or OpenBLAS's autodetection when they
# are unset); this script sets neither. --pinned CORETYPE (e.g. Haswell) adds a second run with
# OPENBLAS_CORETYPE=CORETYPE, printed after the first and labelled PINNED: a comparison only,
# not what gensweep runs with.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
shift || true
pinned="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pinned) pinned=${2:?--pinned needs a core type, e.g. Haswell}; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
export OPENBLAS_NUM_THREADS=1
echo "== default kernels (as gensweep runs): OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset (autodetected)}," \
     "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
"$B/bench_conv" ${args[@]+"${args[@]}"}
if [ -n "$pinned" ]; then
  echo
  echo "== PINNED kernels OPENBLAS_CORETYPE=$pinned (comparison only: gensweep runs with the default kernels above)"
  OPENBLAS_CORETYPE=$pinned "$B/bench_conv" ${args[@]+"${args[@]}"} | sed 's/^/PINNED | /'
fi
