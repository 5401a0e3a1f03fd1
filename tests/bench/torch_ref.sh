# Shared by vae_speed.sh, cae_speed.sh and pc_speed.sh: can the PyTorch reference run here?
# Sourced after PY (the interpreter), LOG (a log folder) and, for the shared reference, REF (the
# folder of bench.py) are set; TORCH_IMPORTS (default "torch") is what the reference imports and
# TORCH_PKGS (default python3-torch) the Debian packages that provide it. Leaves why_not empty
# when it can, else the reason (then the ratio is printed as NOT MEASURED). Installs the packages
# with apt-get when the import fails and this is root.
why_not=""
if [ "${GS_BENCH_NO_TORCH:-0}" != 0 ]; then
  why_not="reference not run: GS_BENCH_NO_TORCH=$GS_BENCH_NO_TORCH"
elif [ -n "${REF:-}" ] && [ ! -f "$REF/bench.py" ]; then
  why_not="$REF/bench.py not found (set GS_TORCH_REF)"
elif ! "$PY" -c "import ${TORCH_IMPORTS:-torch}" 2> "$LOG/import.log"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "python3-torch missing: installing it with apt-get (log $LOG/apt.log)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${TORCH_PKGS:-python3-torch} ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${TORCH_PKGS:-python3-torch}; }; } \
      > "$LOG/apt.log" 2>&1 || echo "apt-get install python3-torch failed (see $LOG/apt.log)"
  fi
  if ! "$PY" -c "import ${TORCH_IMPORTS:-torch}" 2> "$LOG/import.log"; then
    why_not="python3-torch not importable by $PY"
    [ "$(id -u)" = 0 ] || why_not="$why_not (not root, so not installed)"
    echo "$PY -c 'import ${TORCH_IMPORTS:-torch}' failed:"
    tail -n 5 "$LOG/import.log" | sed 's/^/    /'
  fi
fi
