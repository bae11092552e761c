#!/usr/bin/env bash
# The GPU checks, as one prepared run on a machine with a CUDA GPU (the lent device machine, or
# any other):
#   bash bench/gpu/check.sh [OUTDIR] [STEP ...]
# First OUTDIR/machine.txt: the commit, date and processor, the GPU, driver, compilers (make:
# the carried one where the image has none), cuRAND, the installation of carried wheels and
# the versions that then import (a failed installation is logged there; the steps
# run regardless and report what does not import). Then the steps, in this order by default
# (all of them), each writing its log to OUTDIR as it goes, so a step cut off by its time loses
# only itself:
#   tests  the CUDA tests: the brian2cuda project compiles, runs and agrees with cpp on the same
#          input (tests/test_cuda.py; where the two runs part, the test says whether a spike
#          of a neuron within rounding of its threshold explains it -- SKIPPED, with the
#          margin found -- or not -- FAILED, with the step, neurons and margins: a bug); the
#          surrogate network on CUDA, with the PyTorch step
#          functions and with the generated CUDA kernels, gives the spikes of the CPU kernel
#          and its gradients, and a conv network resumed on CUDA ends with an uninterrupted
#          run's weights (tests/test_surrogate_train.py)
#   stdp   STDP training speed on CUDA at the sizes of STDP_SIZES (default 6400 1600 400: the
#          goal's size first): compile time, ms per sample over the first 100 samples (chunks
#          of 100; CUDA simulates a chunk's spare slots too: ms per simulated slot beside it),
#          program and GPU peak memory (bench/bench_stdp.py; its JSON is written after each N)
#   conv   surrogate conv network (the paper configuration's) trained on the GPU: 12,800
#          training images (100 batches), samples/s and the time an epoch would take
#   lif    microseconds per sample-step of one LIF layer, ours beside Norse (torch.compile),
#          SpikingJelly and snnTorch where they import (bench/bench_lif.py; JSON after each
#          layer), N=12544 (16 x 28 x 28; the conv network's first layer is 9216), then 400;
#          our torch.compile variant last in each size, its compilation being the longest
# BUDGET (seconds, default 570) bounds the whole run, machine.txt included: each step gets at
# most its own limit and what is left of the budget less RESERVE seconds (default 45) for each
# step still to come, so that a slow step leaves the later ones time for their first results
# (one that ignores the end signal is killed 10 s later); the tests first (at most 300 s: nvcc
# over the brian2cuda project, then cpp). OUTDIR
# receives 8 files (machine.txt, a log per step, three results): the device machine returns
# no more than 8 files of $OUT. On the lent machine (no registries), first run
# bench/gpu/fetch_wheels.sh here and carry .whl; there, with timeout_s 600 (one call fits the
# device time; there is none left for a second):
#   BIOCLF_COMMIT=<commit> bash bench/gpu/check.sh $OUT
# (the device tool's run: carry [".whl"], timeout_s 600)
set -uo pipefail
# OUTDIR as the caller meant it (relative to the caller's directory), before the cd
OUTDIR=$(realpath -m -- "${1:-$(dirname "$0")/../out/gpu}")
cd "$(dirname "$0")/../.." || exit 1
shift || true
STEPS=${*:-tests stdp conv lif}
STDP_SIZES=${STDP_SIZES:-6400 1600 400}
BUDGET=${BUDGET:-570}
RESERVE=${RESERVE:-45}
mkdir -p "$OUTDIR"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
MACHINE=$OUTDIR/machine.txt
# nvcc where a CUDA image keeps it but PATH does not name it: without it the CUDA tests are
# skipped ("nvcc not found") and brian2cuda cannot compile
if ! command -v nvcc >/dev/null && [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
    export PATH=${CUDA_HOME:-/usr/local/cuda}/bin:$PATH
fi
# GNU make, which Brian2 builds its standalone projects with, where the image lacks it (not
# among its listed tools): the one fetch_wheels.sh copied into WHEELS (it needs only the C
# library); executable wherever the carried copy lost its mode
WHEELS=${WHEELS:-.whl}
CARRIED_MAKE=
if ! command -v make >/dev/null && [ -f "$WHEELS/make" ]; then
    CARRIED_BIN=$(mktemp -d)
    cp "$WHEELS/make" "$CARRIED_BIN/make" && chmod +x "$CARRIED_BIN/make"
    export PATH=$CARRIED_BIN:$PATH
    CARRIED_MAKE=" (carried: $WHEELS/make)"
fi
{
    # what ran where: the commit (BIOCLF_COMMIT, as the caller names it: the lent machine's
    # copy of the tree has no git), the date and the processor
    echo "commit: ${BIOCLF_COMMIT:-unset} (BIOCLF_COMMIT);" \
        "git: $(git rev-parse --short HEAD 2>/dev/null || echo none)"
    date -u '+date: %Y-%m-%d %H:%M:%S UTC'
    grep -m1 '^model name' /proc/cpuinfo
    nvidia-smi -L
    nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv
    echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}"
    echo "nvcc: $(command -v nvcc) -> $(readlink -f "$(command -v nvcc)")"
    nvcc --version | tail -1
    echo "CUDA_PATH=${CUDA_PATH-unset} CUDA_HOME=${CUDA_HOME-unset}"
    ls -d /usr/local/cuda/include/curand.h /usr/local/cuda/lib64
    ldconfig -p | grep -m2 curand
    g++ --version | head -1
    make --version | head -1 # Brian2 builds its standalone projects with make
    echo "make: $(command -v make)$CARRIED_MAKE"
    nproc
    free -g | head -2
    echo "$PY: $(command -v "$PY")"
    "$PY" --version
} > "$MACHINE" 2>&1
if compgen -G "$WHEELS/*.whl" >/dev/null; then  # carried wheels (fetch_wheels.sh)
    echo "pip install $WHEELS/*.whl --target /tmp/site" >> "$MACHINE"
    timeout 180 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target /tmp/site "$WHEELS"/*.whl >> "$MACHINE" 2>&1 ||
        echo "pip install FAILED (exit $?); the steps run with what imports" >> "$MACHINE"
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# (at most 180 s: importing torch and asking the driver must not eat the steps' budget)
timeout 180 "$PY" -W ignore - >> "$MACHINE" 2>&1 <<'EOF'
import importlib

for name in ("torch", "numpy", "sympy", "brian2", "brian2cuda", "jsonschema", "yaml",
             "triton", "norse", "spikingjelly", "snntorch"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "imports"))
    except Exception as err:  # a report: the steps say what they lack
        print(name, "does not import:", type(err).__name__, err)
        if name in ("brian2", "brian2cuda", "jsonschema"):
            print("  (needed by the steps: run bench/gpu/fetch_wheels.sh and carry .whl)")
import torch

print("torch CUDA", torch.version.cuda, "available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0), "capability", torch.cuda.get_device_capability(0))
from bioclf.brian import backends

print("brian2cuda compiles for (CUDA's device 0):", backends.visible_gpu())
# where a link or build failure of the steps would come from
print("cuRAND for brian2cuda:", backends.curand_dirs())
from bioclf.surrogate import cuda_kernels

print("nvcc for the surrogate's CUDA kernels:", cuda_kernels.nvcc())
EOF
cat "$MACHINE"

# run_step NAME LIMIT COMMAND...: at most LIMIT seconds and what is left of the budget, less
# RESERVE for each of the LATER steps
run_step() {
    local name=$1 limit=$2 left=$((BUDGET - SECONDS - RESERVE * LATER))
    shift 2
    ((left < limit)) && limit=$left
    if ((limit < 20)); then
        echo "== $name: skipped, budget spent" | tee "$OUTDIR/$name.log"
        return
    fi
    echo "== $name (at most ${limit} s, ${SECONDS} s into the run)"
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$OUTDIR/$name.log"
    echo "== $name: exit ${PIPESTATUS[0]} after ${SECONDS} s" | tee -a "$OUTDIR/$name.log"
}

read -ra ORDER <<<"$STEPS"
for i in "${!ORDER[@]}"; do
    step=${ORDER[$i]} LATER=$((${#ORDER[@]} - i - 1))
    case $step in
    tests)
        run_step tests 300 "$PY" -m pytest -v -ra --durations=0 -p no:cacheprovider \
            tests/test_cuda.py \
            tests/test_surrogate_train.py::test_cuda_path_equals_cpu_path \
            tests/test_surrogate_train.py::test_resume_on_cuda_gives_identical_weights \
            tests/test_surrogate_train.py::test_device_option
        ;;
    lif)
        run_step lif 120 "$PY" bench/bench_lif.py --device cuda --sizes 12544 400 \
            --out "$OUTDIR/bench_lif_cuda.json"
        ;;
    conv)
        rm -rf /tmp/conv_gpu # a finished run there would be resumed, not timed
        run_step conv 90 "$PY" -m bioclf.surrogate.train --arch conv --channels 16 48 \
            --stride1 1 --conv-hidden 128 --lr 2e-3 --augment-shift 1 --surrogate atan \
            --device cuda --epochs 1 --train-subset 12800 --test-subset 2000 --log-every 10 \
            --seed 0 --out /tmp/conv_gpu
        cp /tmp/conv_gpu/metrics.json "$OUTDIR/conv_gpu_metrics.json" 2>/dev/null
        ;;
    stdp)
        # --epoch-samples 0: the first 100 samples only (a whole epoch would not fit)
        # shellcheck disable=SC2086  # STDP_SIZES: one word per size
        run_step stdp 240 "$PY" bench/bench_stdp.py --backend cuda --sizes $STDP_SIZES \
            --samples 100 --epoch-samples 0 --chunk 100 --build /tmp/bench_build \
            --out "$OUTDIR/bench_stdp_cuda.json"
        ;;
    *) echo "unknown step $step (tests stdp conv lif)" >&2 ;;
    esac
done
