#!/usr/bin/env bash
# Run HERE (a machine with the package registries), from the project root, before lending a
# GPU machine: downloads into .whl/ the wheels of what the lent machine's Python 3.12 lacks
# (it has torch, numpy, pandas, matplotlib, sympy, cython, pytest, h5py, torchvision, triton,
# but not Brian2 and cannot reach the registries): Brian2 and brian2cuda, and the libraries
# that bench/bench_lif.py compares with (Norse, SpikingJelly, snnTorch; Norse is published as
# source only, so its wheel is built here). .whl/ is git-ignored; the device call must name it
# in `carry` (about 6 MB in all).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
rm -rf .whl && mkdir .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    brian2==2.10.1 brian2cuda==1.0b1 jsonschema jsonschema-specifications referencing rpds-py \
    spikingjelly==2.0.0 loguru scienceplots snntorch nir nirtorch
"$PY" -m pip wheel -q --no-deps -w .whl norse==1.1.0
ls -l .whl
