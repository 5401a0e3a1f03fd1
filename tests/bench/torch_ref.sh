# Shared by vae_speed.sh and cae_speed.sh: can the PyTorch reference run here? Sourced after
# PY (the interpreter), REF (the folder of bench.py) and LOG (a log folder) are set; leaves
# why_not empty when it can, else the reason (then the ratio is printed as NOT MEASURED).
# Installs python3-torch with apt-get when it is missing and this is root.
why_not=""
if [ "${GS_BENCH_NO_TORCH:-0}" != 0 ]; then
  why_not="reference not run: GS_BENCH_NO_TORCH=$GS_BENCH_NO_TORCH"
elif [ ! -f "$REF/bench.py" ]; then
  why_not="$REF/bench.py not found (set GS_TORCH_REF)"
elif ! "$PY" -c "import torch" 2> "$LOG/import.log"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "python3-torch missing: installing it with apt-get (log $LOG/apt.log)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch; }; } \
      > "$LOG/apt.log" 2>&1 || echo "apt-get install python3-torch failed (see $LOG/apt.log)"
  fi
  if ! "$PY" -c "import torch" 2> "$LOG/import.log"; then
    why_not="python3-torch not importable by $PY"
    [ "$(id -u)" = 0 ] || why_not="$why_not (not root, so not installed)"
    echo "$PY -c 'import torch' failed:"
    tail -n 5 "$LOG/import.log" | sed 's/^/    /'
  fi
fi
