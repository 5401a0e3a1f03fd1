#!/usr/bin/env bash
# The command line, fuzzed: random commands, options and option values (valid, out of range,
# malformed, missing, repeated, binary) against random files (none, a directory, /dev/zero, an
# empty file, a file without sections, a bad one, a tiny valid sweep, a sweep directory, a
# non-sweep directory). Every invocation must end with a documented status (0 done, 1 runs failed
# or a damaged file, 2 bad input, 3 interrupted or busy), say something on stderr when it is 2,
# and never crash or trip a sanitizer. Deterministic: GS_CLI_FUZZ_SEED (default 1) and
# GS_CLI_FUZZ_N invocations (default 200, a quarter of that under the sanitizers).
set -uo pipefail
GS=${GS:-build/gensweep}
T=$(mktemp -d)
cleanup() { pkill -9 -f "$T/" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
SLOW=${GS_TEST_SLOWDOWN:-1}
N=${GS_CLI_FUZZ_N:-$((200 / SLOW))}
RANDOM=${GS_CLI_FUZZ_SEED:-1}

cat > "$T/ok.ini" <<INI
[sweep]
name = ok
[data]
train_size = 200
test_size = 100
[model]
hidden1 = 16
hidden2 = 8
[train]
epochs = 1
batch_size = 50
[eval]
iw_samples = 0
judge = 0
n_samples = 2
INI
: > "$T/empty.ini"
printf '; only a comment\nname = x\n' > "$T/nosection.ini"
printf '[train]\nepochs = 0x2\n' > "$T/bad.ini"
printf '[sweep]\nname = \xff\xfe\n' > "$T/binary.ini"
mkdir -p "$T/notasweep"
"$GS" run --quiet --results "$T/res" "$T/ok.ini" > /dev/null 2>&1 || fail "set-up: the tiny sweep does not run"

# whatever an invocation writes at a relative path (ply's -o, slurm's --results) lands in $T
GS=$(realpath "$GS")
cd "$T" || fail "cannot enter $T"
files=("$T/ok.ini" "$T/res/ok/runs/run.h5" "$T/res/ok/sweep.h5" "$T/empty.ini" "$T/nosection.ini" "$T/bad.ini" "$T/binary.ini" "$T/missing.ini" "$T/notasweep"
       /dev/zero "$T/res/ok" "" "-" "--" "$(printf 'x%.0s' {1..5000})")
commands=(run plan status report rebuild keys slurm ply --help --version help "" bogus)
options=(--results --ranks-per-run --threads --shard --quiet --progress-every --shards --metric --x --latex
         --no-plots --ntasks --nodes --time --partition --account --array --margin --help -h --bogus -x -- --clouds -o)
values=(1 0 -1 2 3 1000000000000000000000 abc "" 1/2 0/1 2/2 -1/2 1/0 1e3 0x10 " " 04:00:00 99:99 test_neg_elbo
        "latent_dim" "$T/res" "$T/out" /dev/null "$(printf '\xc3\x28')" "%s%n%s" "1 2" 0,1 "1,,2" 0,-1 recon_output)
# pick sets PICK in this shell: a command substitution would run in a subshell, which bash 5
# reseeds, and the sequence would no longer follow GS_CLI_FUZZ_SEED
pick() { local -n a=$1; PICK=${a[RANDOM % ${#a[@]}]}; }

declare -A seen
for i in $(seq 1 "$N"); do
  args=()
  pick commands; cmd=$PICK
  [ -n "$cmd" ] && args+=("$cmd")
  [ $((RANDOM % 5)) -ne 0 ] && pick files && args+=("$PICK")
  nopt=$((RANDOM % 4))
  for ((o = 0; o < nopt; o++)); do
    pick options; args+=("$PICK")
    [ $((RANDOM % 4)) -ne 0 ] && pick values && args+=("$PICK")
  done
  [ $((RANDOM % 6)) -eq 0 ] && pick files && args+=("$PICK")
  # a run of the tiny sweep goes to a fresh results root unless the arguments name one
  if [ "$cmd" = run ] && [[ " ${args[*]} " != *" --results "* ]]; then args+=(--results "$T/r$i"); fi
  timeout $((120 * SLOW)) "$GS" "${args[@]}" > "$T/out.txt" 2> "$T/err.txt" < /dev/null
  rc=$?
  shown=$(printf '%q ' "${args[@]}")
  case $rc in
    0|1|2|3) ;;
    124) fail "invocation $i hung (over $((120 * SLOW)) s): gensweep $shown" ;;
    *) cat "$T/err.txt"; fail "invocation $i: exit $rc: gensweep $shown" ;;
  esac
  if grep -qE "Sanitizer|runtime error|Segmentation|Aborted|core dumped" "$T/err.txt" "$T/out.txt"; then
    cat "$T/err.txt"; fail "invocation $i: crash or sanitizer report: gensweep $shown"
  fi
  [ $rc = 2 ] && [ ! -s "$T/err.txt" ] && fail "invocation $i: exit 2 without a message: gensweep $shown"
  seen[$rc]=$(( ${seen[$rc]:-0} + 1 ))
done
echo "$N invocations: $(for k in 0 1 2 3; do printf 'exit %s: %s  ' "$k" "${seen[$k]:-0}"; done)"
[ "${seen[0]:-0}" -gt 0 ] && [ "${seen[2]:-0}" -gt 0 ] || fail "the fuzzer reached too few outcomes"
echo PASS
