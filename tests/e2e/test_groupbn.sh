#!/usr/bin/env bash
# Batch norm over a data-parallel group (tests/e2e/check_groupbn.c): the batch split over 2, 3
# (uneven rows) and 4 ranks, the reducer an MPI_Allreduce, against the whole batch in one process:
# outputs, input and parameter gradients and running statistics within 1e-5 (relative). Then the
# same split without the reducer must fail the same comparison, so a missing reduction shows.
set -uo pipefail
B=${GS_BINARY_DIR:-build}
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_MCA_rmaps_base_oversubscribe=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for np in 2 3 4; do
  mpirun -np $np "$B/check_groupbn" > "$T/o$np.txt" 2>&1 || { cat "$T/o$np.txt"; fail "np $np"; }
  grep -q "^PASS" "$T/o$np.txt" || { cat "$T/o$np.txt"; fail "np $np: no PASS line"; }
  cat "$T/o$np.txt"
done
mpirun -np 2 "$B/check_groupbn" --local > "$T/local.txt" 2>&1
rc=$?
[ $rc = 1 ] || { cat "$T/local.txt"; fail "without the reducer: want exit 1 (differences), got $rc"; }
grep -q "^FAIL (largest difference" "$T/local.txt" || { cat "$T/local.txt"; fail "without the reducer: no FAIL line"; }
grep "^FAIL (largest" "$T/local.txt" | sed 's/^FAIL/without the reducer, as it must: FAIL/'
echo PASS
