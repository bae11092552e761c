#!/usr/bin/env bash
# Run HERE (a machine with the package registries), from the project root, before lending a
# GPU machine: downloads into .whl/ the wheels of what the lent machine's Python 3.12 lacks
# (it has torch, numpy, pandas, matplotlib, sympy, cython, pytest, but not Brian2 and cannot
# reach the registries). .whl/ is git-ignored; the device call must name it in `carry`.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
rm -rf .whl && mkdir .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    brian2==2.10.1 brian2cuda==1.0b1 jsonschema jsonschema-specifications referencing rpds-py
ls -l .whl
