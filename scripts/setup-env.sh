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

if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ]; then
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  PY=$(find_python) || { echo "error: Python >= 3.12 not found (set PYTHON=/path/to/python3.12)" >&2; exit 1; }
  echo "creating $VENV with $PY ($("$PY" --version))" >&2
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip 2>/dev/null || true
"$VENV/bin/python" -m pip install --quiet -e ".[test]"
touch "$STAMP"
