#!/usr/bin/env bash
# Linear probes on all Fashion-MNIST pixels, gensweep (as its probe stage fits them: liblinear's dual
# solvers below 785 examples, its primal ones up to 8 per feature, gensweep's own primal solver
# above; one
# process, one thread: build/bench_probe) side by side with scikit-learn (probe_speed.py) in the
# same run, on the same standardised features: accuracy (mean ± std over the subsets) and fit
# time per classifier and label budget, with the time ratio scikit-learn / gensweep.
#   tests/bench/probe_speed.sh [--full] [--repeats R] [--converged]
# Default budgets 1000 and 100 (10 repeats); --full adds all 60,000 labels (scikit-learn takes
# minutes there: ANCHORS.md measured LinearSVC 97-478 s, logistic regression 213-844 s).
# --converged then also runs probe_speed.py --converged on bench_probe's own subsets: scikit-learn
# at 0.01, gensweep's liblinear call (through ctypes) and scikit-learn at tol 1e-6, with each fit's
# primal objective, so as to see which fit stops short of the optimum (labelled budgets only; the
# tight primal SVM fit takes minutes per 1,000-label subset).
# Needs python3-sklearn (Debian); installs it with apt-get when it can, else says NOT MEASURED
# and prints gensweep's figures alone.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUDGETS=1000,100 REPEATS=10 CONVERGED=0
while [ $# -gt 0 ]; do
  case "$1" in
    --full) BUDGETS=0,1000,100 ;;
    --repeats) REPEATS=$2; shift ;;
    --converged) CONVERGED=1 ;;
    *) echo "usage: $0 [--full] [--repeats R] [--converged]"; exit 2 ;;
  esac
  shift
done
export OPENBLAS_NUM_THREADS=1
[ -x build/bench_probe ] || { echo "build first (scripts/test or cmake --build build)"; exit 2; }
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
if ! /usr/bin/python3 -c "import sklearn" 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-sklearn > /dev/null 2>&1; fi
fi
build/bench_probe --solver auto --budgets "$BUDGETS" --repeats "$REPEATS" --eps 0.01 | tee /tmp/probe_speed.gs
if /usr/bin/python3 -c "import sklearn" 2>/dev/null; then
  /usr/bin/python3 tests/bench/probe_speed.py --budgets "$BUDGETS" --repeats "$REPEATS" --tol 0.01 | tee /tmp/probe_speed.sk
  echo "ratio (scikit-learn fit time / gensweep fit time; accuracy difference, points):"
  paste <(grep '^probe' /tmp/probe_speed.gs) <(grep '^sklearn' /tmp/probe_speed.sk) | awk '{
    # fields: probe clf budget b: acc M +- S % over R, fit T s ... | sklearn clf budget b: acc M +- S ...
    for (i = 1; i <= NF; i++) { if ($i == "fit") { if (!g) g = $(i + 1); else k = $(i + 1) } if ($i == "acc") { if (!ga) ga = $(i + 1); else ka = $(i + 1) } }
    b = $4; sub(":", "", b)
    printf "  %s %s labels: time ratio %.2f (scikit-learn / gensweep), accuracy %+.2f points (gensweep - scikit-learn)\n", $2, b, k / g, ga - ka; g = k = ga = ka = 0 }'
  if [ "$CONVERGED" = 1 ]; then
    /usr/bin/python3 tests/bench/probe_speed.py --converged --subsets gensweep --budgets "$BUDGETS" --repeats "$REPEATS" --tol 0.01
  fi
else
  echo "scikit-learn: NOT MEASURED (python3-sklearn missing and could not be installed)"
fi
