"""The neuron kernels of `bioclf.surrogate.kernels` on a CUDA GPU: one thread per neuron.

`kernels.generate_source(neuron, "cuda")` prints the same statements as the C kernel (state
update, threshold, resets and the backward pass, from the same sympy expressions) into CUDA
kernels with host functions that launch them on PyTorch's current stream. The file is compiled
once per model and GPU architecture with ``nvcc`` (``--fmad=false``: no fused multiply-adds,
so the arithmetic is that of the CPU kernel, in double precision) and called through ctypes.

The first use on a device checks the kernel against the CPU kernel on a small random input
(the same spikes and saved states, gradients equal to 1e-12); a kernel that does not build
(no ``nvcc`` found, or it fails), launch or agree is not used, with a warning, and
`SpikingNeurons` runs the PyTorch step functions instead (slower, the same spikes).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import threading
import warnings

import torch

from bioclf.surrogate.compiled import CompiledNeuron
from bioclf.surrogate.functional.surrogate import SURROGATES
from bioclf.surrogate.kernels import Kernel, _build, generate_source, kernel_for

# The CUDA runtime is linked statically (nvcc's default) and -Bsymbolic binds its calls inside
# the library: PyTorch's shared runtime, loaded first, must not take them over (the kernels are
# registered with this library's runtime and must be launched by it).
NVCC_FLAGS = ("-O3", "--fmad=false", "-w", "-Xcompiler", "-fPIC", "-shared")
NVCC_FLAGS += ("-Xlinker", "-Bsymbolic")
_LOCK = threading.Lock()
_CACHE: dict[tuple, object] = {}  # (id(neuron), device index) -> (neuron, CudaKernel | None)


def nvcc() -> str | None:
    """The CUDA compiler: $CUDA_HOME/bin/nvcc, else nvcc on the PATH."""
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and os.access(os.path.join(home, "bin", "nvcc"), os.X_OK):
        return os.path.join(home, "bin", "nvcc")
    return shutil.which("nvcc")


def build(neuron: CompiledNeuron, arch: str):
    """Compile the CUDA kernel of `neuron` for `arch` (e.g. ``sm_90``); the library or None."""
    compiler = nvcc()
    if compiler is None or neuron.update_jacobian is None or not neuron.symbolic:
        return None
    try:
        source = generate_source(neuron, "cuda")
    except Exception:  # an expression without a C form
        return None
    flags = [compiler, *NVCC_FLAGS, f"-arch={arch}"]
    digest = hashlib.sha256(" ".join([*flags[1:], source]).encode()).hexdigest()[:20]
    return _build(source, digest, flags, ".cu")


class CudaKernel(Kernel):
    """`kernels.Kernel`'s forward/backward pair on CUDA tensors: the same calls, launched on
    the GPU."""

    def __init__(self, neuron: CompiledNeuron, lib: ctypes.CDLL):
        super().__init__(neuron, lib)
        for name in ("forward_float", "forward_double", "backward_float", "backward_double"):
            getattr(lib, name).restype = ctypes.c_int

    def _run(self, fn, x: torch.Tensor, args, M: int, extra=()):
        """Launch `fn` for the neurons 0..M-1 on PyTorch's current stream of `x`'s device."""
        stream = torch.cuda.current_stream(x.device).cuda_stream
        with torch.cuda.device(x.device):  # the context current to this thread
            err = fn(*args, *extra, ctypes.c_void_p(stream))
        if err != 0:
            raise RuntimeError(f"CUDA neuron kernel failed to launch (cudaError {err})")


def self_check(kernel: CudaKernel, device: torch.device) -> str | None:
    """Why `kernel` must not be used on `device` (None: it agrees with the CPU kernel)."""
    reference = kernel_for(kernel.neuron)
    if reference is None:
        return "no CPU kernel to check it against"
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 170, generator=gen, dtype=torch.float64) * 1.2 - 0.1
    g = torch.randn(16, 3, 170, generator=gen, dtype=torch.float64)
    z_cpu, s_cpu = reference.forward(x)
    z_gpu, s_gpu = kernel.forward(x.to(device))
    if not torch.equal(z_gpu.cpu(), z_cpu) or not torch.equal(s_gpu[2].cpu(), s_cpu[2]):
        return "its spikes or states differ from the CPU kernel's"
    for surrogate in SURROGATES:
        g_cpu = reference.backward(g, s_cpu, surrogate, 2.0)
        g_gpu = kernel.backward(g.to(device), s_gpu, surrogate, 2.0).cpu()
        if not torch.allclose(g_gpu, g_cpu, rtol=1e-12, atol=1e-300):
            return f"its gradients ({surrogate}) differ from the CPU kernel's"
    return None


def cuda_kernel_for(neuron: CompiledNeuron, device: torch.device) -> CudaKernel | None:
    """The checked CUDA kernel of `neuron` on `device`, built on first use; None if it cannot
    be built or does not agree with the CPU kernel (then the PyTorch step functions run)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    key = (id(neuron), index)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached[0] is neuron:
            return cached[1]
        kernel, why = None, None
        major, minor = torch.cuda.get_device_capability(index)
        lib = build(neuron, f"sm_{major}{minor}")
        if lib is None:
            why = (
                "nvcc failed, or an expression has no C form"
                if nvcc()
                else "nvcc not found: set CUDA_HOME or put CUDA's compiler on the PATH"
            )
        else:
            try:
                kernel = CudaKernel(neuron, lib)
                why = self_check(kernel, torch.device("cuda", index))
            except Exception as err:  # (a launch that fails, or any other error of the check)
                why = str(err) if isinstance(err, RuntimeError) else f"{type(err).__name__}: {err}"
                why = why or type(err).__name__  # (an error without a message fails it too)
            if why:
                kernel = None
        if why:
            warnings.warn(
                f"CUDA kernel of {neuron.model.name} not used ({why}); "
                "running the PyTorch step functions",
                stacklevel=3,
            )
        _CACHE[key] = (neuron, kernel)
        return kernel
