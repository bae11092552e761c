"""C kernels generated from a compiled neuron: one pass over time per neuron, forward and backward.

`functional.neuron.run_fused` spends most of its time in per-step tensor-operation overhead.
Here the same sympy expressions (state update, threshold margin, resets and their partial
derivatives) are printed as C (``sympy.ccode``) into a loop over time that keeps each neuron's
state in registers; the file is compiled once with the system C compiler (cached by content
hash) and called through ctypes on slices of the neurons from a few Python threads (ctypes
releases the GIL). Arithmetic is in double precision for both float32 and float64 tensors, so
the spikes equal those of the reference path up to the last bit of the float32 rounding.

Falls back (``kernel_for`` returns None) when no compiler is found or an expression has no C
form; `bioclf.surrogate.modules.SpikingNeurons` then uses the PyTorch path, as it always does
for tensors on a GPU. The surrogate derivative of the backward pass is generated from
`bioclf.surrogate.functional.surrogate.REGISTRY` (one branch per registered surrogate).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sympy
import torch

from bioclf.io import atomic, write_text
from bioclf.surrogate.compiled import CompiledNeuron
from bioclf.surrogate.functional.surrogate import REGISTRY, SURROGATES
from bioclf.surrogate.functional.surrogate import get as get_surrogate

_CACHE: dict[str, object] = {}
_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
_BY_ID: dict[int, tuple] = {}  # id(neuron) -> (neuron, kernel): source generation is slow
# -fno-trapping-math lets the compiler vectorise the selects of the loop body; unlike
# -ffast-math it changes no value, only whether floating-point exception flags may be raised.
# -ffp-contract=off: no fused multiply-adds, so the AVX2 and AVX-512 clones (CLONES below)
# compute every value exactly as the baseline code and the PyTorch path do.
_CFLAGS = ("-O3", "-fno-trapping-math", "-ffp-contract=off", "-fPIC", "-shared")
# On x86-64 with GCC and glibc, each kernel is built for AVX-512, AVX2 and the baseline (SSE2),
# and the loader picks the best the processor has (GCC's function multiversioning, which needs
# glibc's ifunc): the same cached file runs on every x86-64 node of a cluster.
# (-DCLONES= builds the baseline alone: tests compare it with the clones.)
_CLONES = """#ifndef CLONES
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) \\
    && __GNUC__ >= 11
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif
#endif
"""


#: The kernels keep the refractory counter (steps left, at most the period less one) in int16.
MAX_REFRACTORY_STEPS = 32768


def _c(expr, names, prefix="s_") -> str:
    """C code of a sympy expression whose state symbols are renamed ``prefix + name``."""
    expr = sympy.sympify(expr)
    subs = {s: sympy.Symbol(prefix + s.name) for s in expr.free_symbols if s.name in names}
    return sympy.ccode(expr.xreplace(subs), standard="c99", strict=True)


def _saved_names(neuron: CompiledNeuron) -> list[str]:
    """State variables saved per step for the backward pass.

    A 'set' input is recomputed from x instead of being saved.
    """
    inp = neuron.input_name
    return [n for n in neuron.state_names if not (n == inp and neuron.input_mode == "set")]


def _counts_refractory_steps(neuron: CompiledNeuron) -> bool:
    """Whether refractory counters are kept: a one-step period ends before the next step."""
    return neuron.refractory_steps > 1


def generate_source(neuron: CompiledNeuron, target: str = "cpu") -> str:
    """C source of ``forward_<T>`` and ``backward_<T>`` for T in (float, double).

    ``target="cuda"``: CUDA source of the same computation, one GPU thread per neuron, with
    host functions of the same names that launch it (see `CudaKernel`).
    """
    if target not in ("cpu", "cuda"):
        raise ValueError(f"unknown target {target!r} (cpu, cuda)")
    if neuron.refractory_steps > MAX_REFRACTORY_STEPS:
        # (no kernel, like an expression without a C form: the PyTorch path runs instead)
        raise ValueError(f"refractory period longer than {MAX_REFRACTORY_STEPS} steps")
    sym = neuron.symbolic
    names = list(neuron.state_names)
    diff = list(neuron.diff_names)
    inp = neuron.input_name
    # saved per step: the state after the input; the refractory counter goes to its own int16
    # array, the spikes are the output
    saved_names = _saved_names(neuron)
    ns = max(len(saved_names), 1)
    has_ref = _counts_refractory_steps(neuron)
    k1 = int(neuron.refractory_steps - 1)
    cmp_ = ">" if neuron.strict else ">="

    def load():
        lines = [f"double s_{n} = saved[(t*{ns} + {j})*M + m];" for j, n in enumerate(saved_names)]
        if neuron.input_mode == "set":
            lines.append(f"double s_{inp} = (double)x[t*M + m] * {neuron.input_scale!r};")
        lines.append("int ref = refs[t*M + m];" if has_ref else "int ref = 0;")
        lines.append("int spk = spikes[t*M + m] != 0;")
        return "\n".join(lines)

    def update_block(src="s_", dst="b_"):
        lines = []
        for k, n in enumerate(diff):
            expr = _c(sym["update"][k], names, src)
            if n in neuron.unless_refractory:
                lines.append(f"double {dst}{n} = active ? ({expr}) : {src}{n};")
            else:
                lines.append(f"double {dst}{n} = {expr};")
        for n in names:
            if n not in diff:
                lines.append(f"double {dst}{n} = {src}{n};")
        return "\n".join(lines)

    def surrogate_code():
        """``sg``: the derivative of the surrogate with index ``kind`` in `REGISTRY`
        (`Kernel.backward` refuses any name not registered)."""
        entries = list(REGISTRY.values())
        setup = [s.c_setup for s in entries]
        choice = entries[-1].c_expr
        for k in range(len(entries) - 2, -1, -1):
            choice = f"kind == {k} ? {entries[k].c_expr} : {choice}"
        return "\n                ".join([*setup, f"double sg = {choice};"])

    margin_b = _c(sym["margin"], names, "b_")
    resets = sym["resets"]

    def reset_chain():
        """c0_* = b_*, c{i+1}_* = c{i}_* with statement i applied where spiked."""
        lines = [f"double c0_{n} = b_{n};" for n in names]
        for i, (var, expr) in enumerate(resets):
            for n in names:
                if n == var:
                    code = _c(expr, names, f"c{i}_")
                    lines.append(f"double c{i + 1}_{n} = spk ? ({code}) : c{i}_{n};")
                else:
                    lines.append(f"double c{i + 1}_{n} = c{i}_{n};")
        return "\n".join(lines)

    last = f"c{len(resets)}_"

    def jac_terms(jacobian, src):
        pairs, _, exprs = jacobian
        return [(k, j, _c(e, names, src)) for (k, j), e in zip(pairs, exprs, strict=True)]

    # backward pieces
    reset_back = []
    for i in range(len(resets) - 1, -1, -1):
        var = resets[i][0]
        reset_back.append(f"{{ double g = l_{var}; l_{var} = spk ? 0.0 : g;")
        for _, j, code in jac_terms(neuron.reset_jacobians[i], f"c{i}_"):
            reset_back.append(f"l_{names[j]} += spk ? g * ({code}) : 0.0;")
        reset_back.append("}")
    margin_back = [
        f"l_{names[j]} += gm * ({code});" for _, j, code in jac_terms(neuron.margin_jacobian, "b_")
    ]
    upd_back = []
    for n in names:
        if n not in diff:
            upd_back.append(f"double n_{n} = l_{n};")
        elif n in neuron.unless_refractory:
            upd_back.append(f"double n_{n} = active ? 0.0 : l_{n};")
            upd_back.append(f"double u_{n} = active ? l_{n} : 0.0;")
        else:
            upd_back.append(f"double n_{n} = 0.0;")
            upd_back.append(f"double u_{n} = l_{n};")
    for k, j, code in jac_terms(neuron.update_jacobian, "s_"):
        upd_back.append(f"n_{names[j]} += u_{diff[k]} * ({code});")
    upd_back += [f"l_{n} = n_{n};" for n in names]

    if neuron.input_mode == "set":
        apply_input = f"s_{inp} = x[t*M + m] * {neuron.input_scale!r};"
        clear_input = f"l_{inp} = 0.0;"
    else:
        apply_input = f"s_{inp} = s_{inp} + x[t*M + m] * {neuron.input_scale!r};"
        clear_input = ""
    store = "\n".join(
        f"saved[(t*{ns} + {j})*M + m] = (REAL)s_{n};" for j, n in enumerate(saved_names)
    )
    carry = "\n".join(f"s_{n} = {last}{n};" for n in names)
    ref_update = f"ref = spk ? {k1} : (ref > 0 ? ref - 1 : 0);" if has_ref else "ref = 0;"
    # Without a refractory period every neuron is always active: saying so as a constant lets
    # the compiler vectorise the loop (a counter known to stay 0 defeated its if-conversion).
    active = "int active = ref <= 0;" if has_ref else "const int active = 1;"
    ref_load = "R[i]" if has_ref else "0"
    ref_store = "R[i] = ref;" if has_ref else ""
    ref_save = "refs[t*M + m] = (int16_t)ref;" if has_ref else ""  # without: refs is not read

    # Neurons are processed in blocks of BLK, time outermost within a block, so that the
    # innermost loop runs over neighbouring neurons (contiguous memory, vectorisable).
    state_arrays = " ".join(f"double A_{n}[BLK];" for n in names)
    load_block = " ".join(f"double s_{n} = A_{n}[i];" for n in names)
    store_block = " ".join(f"A_{n}[i] = s_{n};" for n in names)
    init_block = " ".join(f"A_{n}[i] = {neuron.initial[n]!r};" for n in names)
    lam_arrays = " ".join(f"double L_{n}[BLK];" for n in names)
    lam_init = " ".join(f"L_{n}[i] = 0.0;" for n in names)
    lam_load = " ".join(f"double l_{n} = L_{n}[i];" for n in names)
    lam_store = " ".join(f"L_{n}[i] = l_{n};" for n in names)
    # One neuron's time step, forward (after `ref` is set) and backward (after the state of
    # step t is loaded): the same statements in the C and the CUDA kernels.
    forward_step = f"""{apply_input}
                {store}
                {ref_save}
                {active}
                {update_block()}
                double margin = ({margin_b}) / {neuron.threshold_scale!r};
                int spk = (margin {cmp_} 0.0) & active;
                spikes[t*M + m] = spk ? (REAL)1 : (REAL)0;  /* (REAL)spk does not vectorise */
                {reset_chain()}
                {carry}
                {ref_update}"""
    backward_step = f"""{active}
                {update_block()}
                double margin = ({margin_b}) / {neuron.threshold_scale!r};
                {reset_chain()}
                {" ".join(reset_back)}
                {surrogate_code()}
                const double gin = (double)gspk[t*M + m];  /* loaded unconditionally: vectorises */
                double gm = active ? gin * sg / {neuron.threshold_scale!r} : 0.0;
                {" ".join(margin_back)}
                {" ".join(upd_back)}
                gx[t*M + m] = (REAL)(l_{inp} * {neuron.input_scale!r});
                {clear_input}"""
    if target == "cuda":
        # The same statements per neuron; its state lives in registers across the time loop.
        cuda = f"""
__global__ void forward_REAL_kernel(const REAL* __restrict__ x, REAL* __restrict__ spikes,
                                    REAL* __restrict__ saved, int16_t* __restrict__ refs,
                                    int64_t T, int64_t M)
{{
    const int64_t m = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (m >= M) return;
    {" ".join(f"double s_{n} = {neuron.initial[n]!r};" for n in names)}
    int R = 0;
    for (int64_t t = 0; t < T; t++) {{
        int ref = R;
                {forward_step}
        R = ref;
    }}
}}

__global__ void backward_REAL_kernel(const REAL* __restrict__ gspk, const REAL* __restrict__ x,
                                     const REAL* __restrict__ spikes,
                                     const REAL* __restrict__ saved,
                                     const int16_t* __restrict__ refs, REAL* __restrict__ gx,
                                     int64_t T, int64_t M, int kind, double slope)
{{
    const int64_t m = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (m >= M) return;
    {" ".join(f"double l_{n} = 0.0;" for n in names)}
    for (int64_t t = T - 1; t >= 0; t--) {{
        {load()}
                {backward_step}
    }}
}}

extern "C" int forward_REAL(const REAL* x, REAL* spikes, REAL* saved, int16_t* refs,
                            int64_t T, int64_t M, void* stream)
{{
    if (M == 0) return 0;
    const int64_t blocks = (M + THREADS - 1) / THREADS;
    forward_REAL_kernel<<<(unsigned int)blocks, THREADS, 0, (cudaStream_t)stream>>>(
        x, spikes, saved, refs, T, M);
    return (int)cudaGetLastError();
}}

extern "C" int backward_REAL(const REAL* gspk, const REAL* x, const REAL* spikes,
                             const REAL* saved, const int16_t* refs, REAL* gx, int64_t T,
                             int64_t M, int kind, double slope, void* stream)
{{
    if (M == 0) return 0;
    const int64_t blocks = (M + THREADS - 1) / THREADS;
    backward_REAL_kernel<<<(unsigned int)blocks, THREADS, 0, (cudaStream_t)stream>>>(
        gspk, x, spikes, saved, refs, gx, T, M, kind, slope);
    return (int)cudaGetLastError();
}}
"""
        head = "#include <math.h>\n#include <stdint.h>\n#include <cuda_runtime.h>\n"
        head += "#define THREADS 128\n"
        return head + cuda.replace("REAL", "float") + cuda.replace("REAL", "double")
    body = f"""
CLONES void forward_REAL(const REAL* restrict x, REAL* restrict spikes, REAL* restrict saved,
                  int16_t* restrict refs, int64_t T, int64_t M, int64_t m0, int64_t m1)
{{
    for (int64_t b0 = m0; b0 < m1; b0 += BLK) {{
        const int64_t nb = (m1 - b0 < BLK) ? (m1 - b0) : BLK;
        {state_arrays}
        int R[BLK];
        for (int64_t i = 0; i < nb; i++) {{ {init_block} R[i] = 0; }}
        for (int64_t t = 0; t < T; t++) {{
            for (int64_t i = 0; i < nb; i++) {{
                const int64_t m = b0 + i;
                {load_block}
                int ref = {ref_load};
                {forward_step}
                {store_block}
                {ref_store}
            }}
        }}
    }}
}}

CLONES void backward_REAL(const REAL* restrict gspk, const REAL* restrict x,
                   const REAL* restrict spikes, const REAL* restrict saved,
                   const int16_t* restrict refs, REAL* restrict gx,
                   int64_t T, int64_t M, int64_t m0, int64_t m1, int kind, double slope)
{{
    for (int64_t b0 = m0; b0 < m1; b0 += BLK) {{
        const int64_t nb = (m1 - b0 < BLK) ? (m1 - b0) : BLK;
        {lam_arrays}
        for (int64_t i = 0; i < nb; i++) {{ {lam_init} }}
        for (int64_t t = T - 1; t >= 0; t--) {{
            for (int64_t i = 0; i < nb; i++) {{
                const int64_t m = b0 + i;
                {lam_load}
                {load()}
                {backward_step}
                {lam_store}
            }}
        }}
    }}
}}
"""
    # Blocks of 256 neurons: each step reads and writes rows of 1-2 KB per array (with 64, the
    # large layers of the conv network ran at half the speed: short rows, 6 MB apart)
    head = "#include <math.h>\n#include <stdint.h>\n#define BLK 256\n" + _CLONES
    return head + body.replace("REAL", "float") + body.replace("REAL", "double")


class Kernel:
    """A compiled forward/backward pair (see the module docstring)."""

    def __init__(self, neuron: CompiledNeuron, lib: ctypes.CDLL):
        self.neuron = neuron
        self.lib = lib
        self.n_saved = max(1, len(_saved_names(neuron)))
        self.has_ref = _counts_refractory_steps(neuron)
        if neuron.refractory_steps > MAX_REFRACTORY_STEPS:  # (generate_source refuses it)
            raise ValueError(f"refractory period longer than {MAX_REFRACTORY_STEPS} steps")

    def _run(self, fn, x: torch.Tensor, args, M: int, extra=()):
        """Call `fn` on the neurons 0..M-1: on slices of them, from a few threads (ctypes
        releases the GIL). `CudaKernel` launches it on the GPU instead."""
        global _POOL
        threads = max(1, min(torch.get_num_threads(), M // 256 or 1))
        if threads == 1:
            fn(*args, ctypes.c_int64(0), ctypes.c_int64(M), *extra)
            return
        if _POOL is None or _POOL._max_workers < threads:
            _POOL = ThreadPoolExecutor(max_workers=threads)
        bounds = [M * i // threads for i in range(threads + 1)]
        futures = [
            _POOL.submit(fn, *args, ctypes.c_int64(a), ctypes.c_int64(b), *extra)
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        for f in futures:
            f.result()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.contiguous()
        T = x.shape[0]
        M = x[0].numel()
        spikes = torch.empty_like(x)
        saved = torch.empty((T, self.n_saved, M), dtype=x.dtype, device=x.device)
        # the refractory counters, saved for the backward pass only where there is one
        shape = (T, M) if self.has_ref else (1,)
        refs = torch.empty(shape, dtype=torch.int16, device=x.device)
        fn = getattr(self.lib, f"forward_{_suffix(x)}")
        args = (
            ctypes.c_void_p(x.data_ptr()),
            ctypes.c_void_p(spikes.data_ptr()),
            ctypes.c_void_p(saved.data_ptr()),
            ctypes.c_void_p(refs.data_ptr()),
            ctypes.c_int64(T),
            ctypes.c_int64(M),
        )
        self._run(fn, x, args, M)
        return spikes, (x, spikes, saved, refs)

    def backward(self, grad: torch.Tensor, saved: tuple, surrogate: str, slope: float):
        x, spikes, states, refs = saved
        grad = grad.contiguous().to(x.dtype)
        T = grad.shape[0]
        M = grad[0].numel()
        gx = torch.empty_like(grad)
        fn = getattr(self.lib, f"backward_{_suffix(x)}")
        args = (
            ctypes.c_void_p(grad.data_ptr()),
            ctypes.c_void_p(x.data_ptr()),
            ctypes.c_void_p(spikes.data_ptr()),
            ctypes.c_void_p(states.data_ptr()),
            ctypes.c_void_p(refs.data_ptr()),
            ctypes.c_void_p(gx.data_ptr()),
            ctypes.c_int64(T),
            ctypes.c_int64(M),
        )
        kind = SURROGATES.index(get_surrogate(surrogate).name)  # unknown names are refused
        self._run(fn, x, args, M, (ctypes.c_int(kind), ctypes.c_double(slope)))
        return gx


def _suffix(x: torch.Tensor) -> str:
    if x.dtype == torch.float32:
        return "float"
    if x.dtype == torch.float64:
        return "double"
    raise TypeError(f"the neuron kernel needs float32 or float64 tensors, got {x.dtype}")


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def kernel_dir() -> Path:
    """Where compiled kernels are cached ($BIOCLF_KERNEL_DIR or a temp directory)."""
    base = os.environ.get("BIOCLF_KERNEL_DIR")
    return Path(base) if base else Path(tempfile.gettempdir()) / "bioclf_kernels"


def kernel_for(neuron: CompiledNeuron) -> Kernel | None:
    """The C kernel of `neuron`, compiled on first use; None if it cannot be built."""
    if neuron.update_jacobian is None or not neuron.symbolic:
        return None
    cached = _BY_ID.get(id(neuron))
    if cached is not None and cached[0] is neuron:
        return cached[1]
    kernel = _kernel_for(neuron)
    _BY_ID[id(neuron)] = (neuron, kernel)
    return kernel


def _kernel_for(neuron: CompiledNeuron) -> Kernel | None:
    try:
        source = generate_source(neuron)
    except Exception:  # an expression without a C form (sympy raises various errors)
        return None
    digest = hashlib.sha256(" ".join([*_CFLAGS, source]).encode()).hexdigest()[:20]
    with _LOCK:
        if digest in _CACHE:
            lib = _CACHE[digest]
            return Kernel(neuron, lib) if lib is not None else None
        cc = _compiler()
        lib = _build(source, digest, [cc, *_CFLAGS], ".c", ["-lm"]) if cc else None
        _CACHE[digest] = lib
    return Kernel(neuron, lib) if lib is not None else None


def _build(source: str, digest: str, compile_cmd: list[str], suffix: str, libs=()):
    """The shared library of `source`, compiled once into `kernel_dir()` (None on failure)."""
    directory = kernel_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"neuron_{digest}.so"
    if not target.exists():
        # Both through `atomic`: concurrent processes never compile or load a partial file,
        # and a compilation killed midway leaves a temporary file that the next one removes.
        src = directory / f"neuron_{digest}{suffix}"
        write_text(src, source)
        try:
            with atomic(target) as tmp:
                cmd = [*compile_cmd, "-o", str(tmp), str(src), *libs]
                subprocess.run(cmd, capture_output=True, text=True, check=True)
        except subprocess.CalledProcessError:
            return None
    try:
        return ctypes.CDLL(str(target))
    except OSError:  # e.g. a library it needs is missing here
        return None
