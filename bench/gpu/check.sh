#!/usr/bin/env bash
# The CUDA checks, as one prepared run on a machine with a GPU (the lent device machine, or
# any other): `bash bench/gpu/check.sh [OUTDIR]`. On the lent machine, first run
# bench/gpu/fetch_wheels.sh here and carry .whl; there, with a 540 s limit:
#   bash bench/gpu/check.sh $OUT
# 1. the CUDA tests: the project compiles, runs, and agrees with cpp on the same input;
# 2. STDP training speed on CUDA at N=400 and N=1600, as JSON (500 samples each: the GPU time
#    per sample is mostly kernel launches, so more samples add little).
# Each step writes its log to OUTDIR as it goes, so a step cut off by the limit loses only itself.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUTDIR=${1:-bench/out/gpu}
mkdir -p "$OUTDIR"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
if ! "$PY" -c "import brian2, brian2cuda, jsonschema" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
{ nvidia-smi -L; nvcc --version | tail -1; nproc; "$PY" --version; } > "$OUTDIR/machine.txt" 2>&1
cat "$OUTDIR/machine.txt"
timeout 240 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_cuda.py 2>&1 \
    | tee "$OUTDIR/test_cuda.log"
timeout 270 "$PY" bench/bench_stdp.py --backend cuda --sizes 400 1600 --samples 500 --chunk 500 \
    --build /tmp/bench_build --out "$OUTDIR/bench_stdp_cuda.json" 2>&1 \
    | tee "$OUTDIR/bench_stdp_cuda.log"
