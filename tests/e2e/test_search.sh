#!/usr/bin/env bash
# Sampled search spaces ([search]: n samples of keys drawn from distributions, crossed with the
# [grid] axes):
#  - the plan lists the samples; the same file gives the same runs (ids, hashes) every time;
#  - a sweep trains them, a second start trains nothing, and a larger n keeps the first samples
#    (only the new ones are trained);
#  - the report shows them; bad distributions fail at load with file:line.
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d "${GS_BINARY_DIR:-${TMPDIR:-/tmp}}/e2e_search.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cat > "$T/s.ini" <<INI
[sweep]
name = s
[data]
train_size = 600
test_size = 100
[model]
name = vae
hidden1 = 32
hidden2 = 16
[train]
epochs = 1
[eval]
iw_samples = 0
judge = 0
n_samples = 4
[search]
n = 3
seed = 7
train.lr = loguniform(1e-4, 1e-2)
model.latent_dim = int(2, 8)
train.optimizer = choice(adam, rmsprop)
[grid]
train.seed = 1, 2
INI
echo "== plan: 2 seeds x 3 samples, the same every time"
"$GS" plan "$T/s.ini" > "$T/p1.txt" 2>&1 || { cat "$T/p1.txt"; fail plan; }
"$GS" plan "$T/s.ini" > "$T/p2.txt" 2>&1 || fail "plan again"
cmp -s "$T/p1.txt" "$T/p2.txt" || fail "two plans of the same file differ"
grep -q "^runs         6$" "$T/p1.txt" || { cat "$T/p1.txt"; fail "not 6 runs"; }
grep -q "train.lr         = loguniform(1e-4, 1e-2): 3 samples" "$T/p1.txt" || { cat "$T/p1.txt"; fail "the sampled axis"; }
/usr/bin/python3 - "$T/p1.txt" <<'PY' || fail "sampled values outside their distributions"
import re, sys
rows = [l for l in open(sys.argv[1]) if re.match(r"\s+\d+\s+seed-", l)]
assert len(rows) == 6, rows
per_seed = {}
for l in rows:
    v = dict(re.findall(r"(\S+)=(\S+)", l))
    lr, z, opt = float(v["train.lr"]), int(v["model.latent_dim"]), v["train.optimizer"]
    assert 1e-4 <= lr <= 1e-2 and 2 <= z <= 8 and opt in ("adam", "rmsprop"), l
    per_seed.setdefault(v["train.seed"], []).append((lr, z, opt))
assert per_seed["1"] == per_seed["2"], per_seed  # the same samples crossed with each seed
assert len(set(per_seed["1"])) == 3
print("6 runs: 3 samples within their distributions, crossed with 2 seeds")
PY

echo "== run; again: nothing to train; n = 5: the first 3 samples kept, 2 new"
"$GS" run --results "$T/r" "$T/s.ini" > "$T/r1.txt" 2>&1 || { cat "$T/r1.txt"; fail run; }
grep -q "6 done, 0 skipped" "$T/r1.txt" || { cat "$T/r1.txt"; fail "first run"; }
"$GS" run --results "$T/r" "$T/s.ini" > "$T/r2.txt" 2>&1 || { cat "$T/r2.txt"; fail "run again"; }
grep -q "0 done, 6 skipped" "$T/r2.txt" || { cat "$T/r2.txt"; fail "the same file trained again"; }
"$GS" run --results "$T/r" "$T/s.ini" search.n=5 > "$T/r3.txt" 2>&1 || { cat "$T/r3.txt"; fail "n = 5"; }
grep -q "4 done, 6 skipped" "$T/r3.txt" || { cat "$T/r3.txt"; fail "n = 5: expected the 6 runs kept and 4 new"; }
"$GS" report "$T/r/s" > "$T/rep.txt" 2>&1 || { cat "$T/rep.txt"; fail report; }
grep -q "lr" "$T/r/s/report/summary.md" || fail "the report does not show the sampled keys"

echo "== bad [search] lines: file:line"
for bad in "train.lr = logunif(1e-4, 1e-2)|expected loguniform" "train.lr = loguniform(0, 1)|needs 0 < a" \
           "model.latent_dim = int(0, 3)|drew 0" "train.lrr = uniform(1, 2)|did you mean 'train.lr'"; do
  line=${bad%|*} want=${bad#*|}
  printf '[sweep]\nname = b\n[search]\nn = 4\n%s\n' "$line" > "$T/b.ini"
  "$GS" plan "$T/b.ini" > "$T/b.txt" 2>&1 && fail "'$line' accepted"
  grep -q "b.ini:5: .*$want" "$T/b.txt" || { cat "$T/b.txt"; fail "'$line': message"; }
done
printf '[sweep]\nname = b\n[search]\nmodel.latent_dim = int(1, 3)\n' > "$T/b.ini"
"$GS" plan "$T/b.ini" > "$T/b.txt" 2>&1
grep -q "b.ini:4: \[search\] needs n = the number of samples" "$T/b.txt" || { cat "$T/b.txt"; fail "[search] without n"; }
echo PASS
