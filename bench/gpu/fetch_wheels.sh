#!/usr/bin/env bash
# Run HERE (a machine with the package registries), from the project root, before lending a
# GPU machine: downloads into .whl/ the wheels of what the lent machine's Python 3.12 lacks
# (it has torch, numpy, pandas, matplotlib, sympy, cython, pytest, h5py, torchvision, triton,
# but not Brian2 and cannot reach the registries): Brian2 and brian2cuda, and the libraries
# that bench/bench_lif.py compares with (Norse, SpikingJelly, snnTorch; Norse is published as
# source only, so its wheel is built here), and a copy of this machine's GNU make (for an image
# without one). .whl/ is git-ignored; the device call must name it in `carry` (about 6 MB in
# all). It runs pip of a Python 3.12 (Norse's wheel is built with it): $PYTHON if set, else the
# first of .venv/bin/python, python3.12, python3 and pyenv's 3.12 that is a Python 3.12 with
# pip.
set -euo pipefail
cd "$(dirname "$0")/../.."

usable() {  # a Python 3.12 with pip
    command -v "$1" >/dev/null 2>&1 &&
        "$1" -c 'import sys, pip; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}

if [ -n "${PYTHON:-}" ]; then
    if ! usable "$PYTHON"; then
        echo "fetch_wheels.sh: PYTHON=$PYTHON is not a Python 3.12 with pip" >&2
        exit 2
    fi
    PY=$PYTHON
else
    PY=
    for cand in .venv/bin/python python3.12 python3 \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
        if usable "$cand"; then
            PY=$cand
            break
        fi
    done
    if [ -z "$PY" ]; then
        echo "fetch_wheels.sh: no Python 3.12 with pip found (tried .venv/bin/python," \
            "python3.12, python3 and pyenv's 3.12); set PYTHON=/path/to/python3.12" >&2
        exit 2
    fi
fi
echo "fetch_wheels.sh: $PY"
# Brian2's dependencies at the versions the project's environment pins (pyparsing too: Brian2
# refuses 3.2.4, and the image's version is not known)
pinned() {
    local name
    for name in "$@"; do
        grep -i -m1 "^$name==" scripts/constraints.txt || echo "$name"
    done
}
rm -rf .whl && mkdir .whl
# shellcheck disable=SC2046  # (one word per requirement)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    brian2==2.10.1 brian2cuda==1.0b1 \
    $(pinned jsonschema jsonschema-specifications referencing rpds-py pyparsing) \
    spikingjelly==2.0.0 loguru scienceplots snntorch nir nirtorch
"$PY" -m pip wheel -q --no-deps -w .whl norse==1.1.0
# GNU make, for an image without it (check.sh uses it only then): Brian2 builds its standalone
# projects with make, and this one needs only the C library
if command -v make >/dev/null; then
    cp "$(command -v make)" .whl/make
fi
ls -l .whl
