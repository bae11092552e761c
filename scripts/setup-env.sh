#!/usr/bin/env bash
# Create the project's virtual environment (.venv, Python 3.12) if it is missing or stale.
# brian2cuda 1.0b1 pins brian2 2.10.1, which needs Python >= 3.12.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
STAMP="$VENV/.installed"

find_python() {
  for cand in "${PYTHON:-}" python3.12 python3.13 python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$cand"; return 0
    fi
  done
  # pyenv installs that are not the global version
  for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 \
              /usr/local/bin/python3.12 /usr/bin/python3.12; do
    if [ -x "$cand" ]; then echo "$cand"; return 0; fi
  done
  return 1
}

# Installed versions: those of scripts/constraints.txt (what the test suite last passed with);
# BIOCLF_UNPINNED=1: the newest that pyproject.toml allows (`make constraints` uses it).
CONSTRAINTS=scripts/constraints.txt
if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ] && [ "$STAMP" -nt "$CONSTRAINTS" ]; then
  exit 0
fi
# The install (torch's CUDA build and its nvidia libraries) fills about 6 GB in $VENV and
# holds about 4 GB of downloaded wheels in pip's temporary folder until it finishes. A full
# disk would otherwise surface as pip's bare "[Errno 28] No space left on device".
check_disk() {
  local tmp=${TMPDIR:-/tmp} need_venv=$((6 * 1024 * 1024)) need_tmp=$((4 * 1024 * 1024))
  local venv_dir; venv_dir=$(dirname "$(realpath -m "$VENV")")
  free_kb() { df -Pk "$1" | awk 'NR == 2 {print $4}'; }
  if [ "$(stat -c %d "$venv_dir")" = "$(stat -c %d "$tmp")" ]; then
    need_venv=$((need_venv + need_tmp)); need_tmp=0
  fi
  for pair in "$venv_dir:$need_venv" "$tmp:$need_tmp"; do
    local dir=${pair%:*} need=${pair##*:} have
    [ "$need" -gt 0 ] || continue
    have=$(free_kb "$dir")
    if [ "$have" -lt "$need" ]; then
      echo "error: installing $VENV needs about $((need / 1024 / 1024)) GB free in $dir;" \
           "$((have / 1024)) MB are free (df -h $dir). Free some space, or point TMPDIR" \
           "or VENV elsewhere; BIOCLF_SKIP_DISK_CHECK=1 skips this check." >&2
      exit 1
    fi
  done
}
# Only an install that still has torch to fetch needs the space.
if [ -z "${BIOCLF_SKIP_DISK_CHECK:-}" ] && ! compgen -G "$VENV/lib/python3*/site-packages/torch" >/dev/null; then
  check_disk
fi

if [ ! -x "$VENV/bin/python" ]; then
  PY=$(find_python) || { echo "error: Python >= 3.12 not found (set PYTHON=/path/to/python3.12)" >&2; exit 1; }
  echo "creating $VENV with $PY ($("$PY" --version))" >&2
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip 2>/dev/null || true
if [ -n "${BIOCLF_UNPINNED:-}" ]; then
  "$VENV/bin/python" -m pip install --quiet -e ".[test]"
else
  "$VENV/bin/python" -m pip install --quiet -e ".[test]" -c "$CONSTRAINTS"
fi
touch "$STAMP"
