"""The PyTorch neuron compiled from an equation file against Brian2, and its gradients."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from brian2 import Network, SpikeMonitor, StateMonitor, TimedArray, ms, mV, second
from brian2.units.fundamentalunits import Quantity

from bioclf.brian import backends
from bioclf.brian.groups import neuron_group
from bioclf.equations import load_neuron
from bioclf.errors import UnsupportedConstructError
from bioclf.surrogate.compile import compile_neuron
from bioclf.surrogate.functional import neuron as F
from bioclf.surrogate.functional.surrogate import heaviside, surrogate_grad
from bioclf.surrogate.kernels import kernel_for
from bioclf.surrogate.modules import SpikingNeurons

LIF = "equations/lif.yaml"
DC_EXC = "equations/dc_exc.yaml"
# v integrates through the refractory period: only the refractory masks stop its spikes
DC_EXC_UNCLAMPED = "equations/dc_exc_unclamped.yaml"


def brian_trace(model, drive: np.ndarray, dt: float, op: str, backend=None, tmp=None):
    """Brian2 neurons driven from the ``start`` slot: ``input op drive[step, i]``.

    Returns the membrane potential after each step (T, n) and the spike raster (T, n).
    """
    backend = backend or backends.Backend()
    directory = backends.activate(backend, f"sg_equiv_{model.name}", dt=dt * second)
    n = drive.shape[1]
    g = neuron_group(model, n, "nrn", np.random.default_rng(0))
    if "plastic" in g.variables:
        g.plastic = 0  # the PyTorch side freezes the adaptive threshold
    unit = Quantity(1, dim=getattr(g, model.input).dim)
    g.namespace["drive"] = TimedArray(drive * unit, dt=dt * second, name="drive")
    g.run_regularly(f"{model.input} {op} drive(t, i)", when="start", name="drv")
    state = StateMonitor(g, "v", record=True, when="end", name="st")
    spikes = SpikeMonitor(g, name="sp")
    net = Network(g, state, spikes)
    backends.Runner(backend, net, drive.shape[0] * dt * second, directory).run()
    raster = np.zeros(drive.shape, dtype=bool)
    steps = np.round(np.asarray(spikes.t / second) / dt).astype(int)
    raster[steps, np.asarray(spikes.i)] = True
    return np.asarray(state.v).T.astype(float), raster


def torch_trace(model, drive: np.ndarray, dt: float):
    neuron = compile_neuron(model, dt, input_scale=1.0)  # drive given in SI units
    z, _, rec = F.run(neuron, torch.tensor(drive, dtype=torch.float64), record=("v",))
    return rec["v"].numpy(), z.numpy() > 0, neuron


def lif_drive(rng, steps=1500, n=6):
    """Piecewise-constant currents up to twice the one-step threshold current, plus noise."""
    level = np.repeat(rng.uniform(0, 1, (steps // 50, n)), 50, axis=0)
    return (level + rng.normal(0, 0.1, (steps, n))) * 2.6e-8


def dc_drive(rng, steps=2000, n=6):
    """Conductance kicks (ge += w) at random steps."""
    return (rng.random((steps, n)) < 0.3) * rng.uniform(0, 80, (steps, n))


def check_equal(bv, bs, tv, ts, k_ref):
    assert bs.sum() > 20, "the drive must make the neurons spike"
    np.testing.assert_array_equal(bs, ts)
    np.testing.assert_allclose(tv, bv, rtol=1e-4, atol=0)
    isi = np.concatenate([np.diff(np.flatnonzero(bs[:, j])) for j in range(bs.shape[1])])
    assert isi.min() == k_ref, "some spikes must be limited by the refractory period"


def test_lif_matches_brian2_runtime():
    model = load_neuron(LIF)
    drive = lif_drive(np.random.default_rng(1))
    bv, bs = brian_trace(model, drive, 1e-3, "=")
    tv, ts, neuron = torch_trace(model, drive, 1e-3)
    assert neuron.refractory_steps == 5 and neuron.input_mode == "set"
    check_equal(bv, bs, tv, ts, neuron.refractory_steps)


@pytest.mark.parametrize("path", [DC_EXC, DC_EXC_UNCLAMPED])
def test_dc_exc_membrane_matches_brian2_runtime(path):
    model = load_neuron(path)
    drive = dc_drive(np.random.default_rng(2))
    bv, bs = brian_trace(model, drive, 0.5e-3, "+=")
    tv, ts, neuron = torch_trace(model, drive, 0.5e-3)
    assert neuron.input_mode == "increment" and neuron.refractory_steps == 10
    check_equal(bv, bs, tv, ts, neuron.refractory_steps)


@pytest.mark.standalone
def test_lif_matches_brian2_cpp(tmp_path):
    model = load_neuron(LIF)
    drive = lif_drive(np.random.default_rng(3), steps=1000)
    backend = backends.Backend("cpp", build_dir=tmp_path)
    bv, bs = brian_trace(model, drive, 1e-3, "=", backend=backend)
    tv, ts, neuron = torch_trace(model, drive, 1e-3)
    check_equal(bv, bs, tv, ts, neuron.refractory_steps)


# The same adapting LIF written with the other operators the compiler accepts: a '<'
# threshold, and resets by '-=', '+=', '*=' and '/=' (v_reset differs from v_rest).
OPERATORS = """kind: neuron
equations: |
  dv/dt = (v_rest - v + R*(I - w))/tau_m : volt (unless refractory)
  dw/dt = -w/tau_w : amp
  I : amp
threshold: -v < -v_th
reset: |
  v -= v - v_reset
  w += b
  w *= 0.8
  w /= 0.9
refractory: t_ref
method: exact
initial:
  v: v_rest
input: I
parameters:
  v_rest: -65*mV
  v_reset: -70*mV
  v_th: -52*mV
  tau_m: 20*ms
  t_ref: 3*ms
  R: 100*Mohm
  tau_w: 50*ms
  b: 0.05*nA
"""


def test_every_threshold_and_reset_operator_matches_brian2(tmp_path):
    path = tmp_path / "operators.yaml"
    path.write_text(OPERATORS)
    model = load_neuron(path)
    drive = lif_drive(np.random.default_rng(4))
    bv, bs = brian_trace(model, drive, 1e-3, "=")
    tv, ts, neuron = torch_trace(model, drive, 1e-3)
    assert neuron.refractory_steps == 3 and neuron.strict
    check_equal(bv, bs, tv, ts, neuron.refractory_steps)


def test_a_refractory_period_too_short_to_act_is_noted():
    """At the pipeline's 5 ms a 5 ms period ends before the next step: the log says so."""
    note = compile_neuron(LIF, 5e-3).refractory_note()
    assert note is not None and "no effect" in note and "5 ms" in note
    assert compile_neuron(LIF, 2.5e-3).refractory_note() is None  # 2 steps: acts


def test_refractory_steps_round_as_brian2_does():
    """Brian2's timestep over periods that are and are not exact multiples of dt in floating
    point (0.3 ms / 0.1 ms is 2.9999999999999996)."""
    from brian2.core.functions import timestep

    from bioclf.surrogate.compile import brian_timestep

    for dt in (0.1e-3, 0.25e-3, 0.5e-3, 1e-3, 5e-3):
        for t in np.arange(0, 61) * 0.1e-3:
            assert brian_timestep(float(t), dt) == int(timestep(t, dt)), (t, dt)


def test_compiled_update_comes_from_the_file():
    neuron = compile_neuron(LIF, 1e-3)
    # exact solution: v' = v_rest + R I (1 - a) + (v - v_rest) a, a = exp(-dt/tau_m)
    a = np.exp(-1e-3 / 0.1)
    v = torch.tensor([-0.06], dtype=torch.float64)
    current = torch.tensor([2e-10], dtype=torch.float64)
    (new,) = neuron.update(v, current)
    expected = -0.065 + 1e8 * 2e-10 * (1 - a) + (-0.06 + 0.065) * a
    assert float(new) == pytest.approx(expected, rel=1e-12)
    assert neuron.threshold_scale == pytest.approx(13e-3)
    assert neuron.input_scale == pytest.approx(13e-3 / (1e8 * (1 - a)))


def test_editing_the_file_changes_the_torch_module(tmp_path):
    text = open(LIF).read()
    edited = tmp_path / "lif_edited.yaml"
    edited.write_text(
        text.replace("v_th: -52*mV", "v_th: -50*mV")
        .replace("t_ref: 5*ms", "t_ref: 2*ms")
        .replace("tau_m: 100*ms", "tau_m: 20*ms")
    )
    a, b = compile_neuron(LIF, 1e-3), compile_neuron(edited, 1e-3)
    assert (a.refractory_steps, b.refractory_steps) == (5, 2)
    assert b.threshold_scale == pytest.approx(15e-3)
    v = torch.tensor([-0.06], dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    assert float(a.update(v, zero)[0]) != float(b.update(v, zero)[0])
    # and Brian2 follows the same edited file
    model = load_neuron(edited)
    drive = lif_drive(np.random.default_rng(4), steps=1000, n=4)
    bv, bs = brian_trace(model, drive, 1e-3, "=")
    tv, ts, _ = torch_trace(model, drive, 1e-3)
    check_equal(bv, bs, tv, ts, 2)
    # with_parameters gives the same result as editing the file
    c = compile_neuron(load_neuron(LIF).with_parameters(t_ref=2 * ms, v_th=-50 * mV), 1e-3)
    assert c.refractory_steps == 2 and c.threshold_scale == pytest.approx(b.threshold_scale)


def _variant(tmp_path, **replace):
    text = open(LIF).read()
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "variant.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "replace, field, words",
    [
        (
            {
                "dv/dt = (v_rest - v + R*I)/tau_m : volt (unless refractory)": (
                    "dv/dt = (v_rest - v + R*I)/tau_m + sigma*xi/sqrt(tau_m) : volt "
                    "(unless refractory)"
                ),
                "method: exact": "method: euler",
                "R: 100*Mohm": "R: 100*Mohm\n  sigma: 1*mV",
            },
            "equations",
            "xi",
        ),
        ({"threshold: v > v_th": "threshold: v > v_th + rand()*mV"}, "threshold", "rand"),
        (
            {"threshold: v > v_th": "threshold: v > v_th*timestep(t_ref, 0.1*ms)/50"},
            "threshold",
            "timestep",
        ),
        ({"threshold: v > v_th": "threshold: v > v_th and v > v_rest"}, "threshold", "single"),
        ({"refractory: t_ref": "refractory: v > v_th"}, "refractory", "condition"),
        # (an AttributeError traceback: sympy cannot differentiate a comparison inside a
        # function, nor torch take its int)
        ({"threshold: v > v_th": "threshold: int(v > v_th) > 0"}, "threshold", "inside"),
        ({"reset: v = v_reset": "reset: v = v_reset*int(v > v_th)"}, "reset", "inside"),
        ({"reset: v = v_reset": "reset: |\n  v = v_reset\n  I = 0*amp"}, "reset", "input"),
        # read in a reset, the input would be the next step's in Brian2
        ({"reset: v = v_reset": "reset: v = v_reset + 0.1*R*I"}, "reset", "reads the input"),
        # inputs the network cannot write per neuron, which PyTorch would write all the same
        ({"I : amp  #": "I = J : amp\n  J : amp  #"}, "input", "subexpression"),
        ({"I : amp  #": "I : amp (shared)  #"}, "input", "shared"),
        ({"I : amp  #": "I : amp (constant)  #"}, "input", "constant"),
        (
            {
                "I : amp  #": "I : amp\n  b : volt (shared)  #",
                "threshold: v > v_th": "threshold: v > v_th + b",
                "reset: v = v_reset": "reset: |\n  v = v_reset\n  b += 1*mV",
            },
            "reset",
            "shared",
        ),
    ],
)
def test_unsupported_constructs_are_refused(tmp_path, replace, field, words):
    path = _variant(tmp_path, **replace)
    with pytest.raises(UnsupportedConstructError) as info:
        compile_neuron(path, 1e-3)
    err = info.value
    assert err.field == field
    assert words in str(err)
    assert str(path) in str(err)


def test_heaviside_forward_and_surrogate_backward():
    x = torch.tensor([-0.5, -0.01, 0.0, 0.01, 0.5], dtype=torch.float64, requires_grad=True)
    for kind, slope in (("fast_sigmoid", 25.0), ("fast_sigmoid", 5.0), ("atan", 2.0)):
        z = heaviside(x, kind, slope)
        assert z.tolist() == [0, 0, 0, 1, 1]
        (g,) = torch.autograd.grad(z.sum(), x)
        assert g.shape == x.shape
        torch.testing.assert_close(g, surrogate_grad(x.detach(), kind, slope))
    assert heaviside(x, strict=False).tolist() == [0, 0, 1, 1, 1]
    g = surrogate_grad(torch.tensor([0.0, 0.2]), "fast_sigmoid", 25.0)
    torch.testing.assert_close(g, torch.tensor([1.0, 1.0 / 36.0]))
    # atan: (alpha / 2) / (1 + (pi / 2 * alpha * x)**2); off the threshold the pi / 2 counts
    g = surrogate_grad(torch.tensor([0.0, 0.2], dtype=torch.float64), "atan", 2.0)
    expected = torch.tensor([1.0, 1.0 / (1.0 + (0.2 * np.pi) ** 2)], dtype=torch.float64)
    torch.testing.assert_close(g, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("path, mode", [(LIF, "set"), (DC_EXC, "increment")])
def test_the_input_enters_the_state_as_the_model_says(path, mode):
    """`F.apply_input`, the input phase of `F.step` and of the fused window: scaled, it
    replaces a non-differential input and is added to a differential one; the state given is
    left as it was."""
    neuron = compile_neuron(path, 1e-3)
    assert neuron.input_mode == mode
    state = neuron.initial_state((2,), dtype=torch.float64)
    name = neuron.input_name
    state[name] = torch.tensor([1e-9, 2e-9], dtype=torch.float64)
    before = {k: v.clone() for k, v in state.items()}
    x = torch.tensor([0.5, 3.0], dtype=torch.float64)
    new = F.apply_input(neuron, state, x)
    expected = x * neuron.input_scale + (before[name] if mode == "increment" else 0)
    torch.testing.assert_close(new[name], expected, rtol=0, atol=0)
    assert all(torch.equal(state[k], before[k]) for k in before)
    assert all(new[k] is state[k] for k in state if k != name)


# A threshold on the input itself: an input of exactly 1 puts the margin at exactly 0.
AT_THRESHOLD = """kind: neuron
equations: |
  dv/dt = -v/tau : 1
  I : 1
threshold: THRESHOLD
reset: v = 0
refractory: 0*ms
method: exact
initial:
  v: 0
input: I
parameters:
  tau: 10*ms
"""


@pytest.mark.parametrize(
    "threshold, fires",
    [("v + I > 1", False), ("v + I >= 1", True), ("1 < v + I", False), ("1 <= v + I", True)],
)
def test_a_margin_of_exactly_zero_spikes_only_for_a_non_strict_threshold(
    tmp_path, threshold, fires
):
    """Brian2's ``v > v_th`` (``v_th < v``) stays silent where v equals the threshold, ``>=``
    (``<=``) fires: the same on every path (their parity elsewhere never puts a margin at
    exactly 0)."""
    path = tmp_path / "edge.yaml"
    path.write_text(AT_THRESHOLD.replace("THRESHOLD", threshold))
    neuron = compile_neuron(path, 1e-3, input_scale=1.0, threshold_scale=1.0)
    assert neuron.strict != fires
    x = torch.tensor([[1.0, 0.5, 1.5]] * 3, dtype=torch.float64)  # at, below, above
    for impl in ("autograd", "fused", "kernel"):
        z = SpikingNeurons(neuron, impl=impl)(x)
        assert z[:, 0].tolist() == [float(fires)] * 3, impl
        assert z[:, 1].sum() == 0 and z[:, 2].sum() == 3, impl


# dt 5 ms is the pipeline's: the 5 ms refractory period is then a single step (no effect), so
# the kernel takes its branch for neurons without refractoriness
@pytest.mark.parametrize(
    "path, dt", [(LIF, 1e-3), (LIF, 5e-3), (DC_EXC, 0.5e-3), (DC_EXC_UNCLAMPED, 0.5e-3)]
)
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "atan"])
def test_fused_and_kernel_gradients_equal_autograd(path, dt, surrogate):
    neuron = compile_neuron(path, dt)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(30, 3, 40, generator=gen, dtype=torch.float64) * 0.8
    weights = torch.randn(30, 3, 40, generator=gen, dtype=torch.float64)
    results = []
    for impl in ("autograd", "fused", "kernel"):
        xi = x.clone().requires_grad_()
        z = SpikingNeurons(neuron, surrogate=surrogate, impl=impl)(xi)
        (g,) = torch.autograd.grad((z * weights).sum(), xi)
        results.append((z, g))
    (z0, g0), *others = results
    assert z0.sum() > 50 and g0.abs().sum() > 0
    for z, g in others:
        torch.testing.assert_close(z, z0)
        torch.testing.assert_close(g, g0, rtol=1e-9, atol=1e-12)
    if kernel_for(neuron) is None:
        pytest.skip("no C compiler: the kernel fell back to the fused path")


def test_float32_kernel_matches_float64_reference():
    neuron = compile_neuron(LIF, 1e-3)
    x = torch.rand(25, 8, 50, generator=torch.Generator().manual_seed(1)) * 0.6
    z32 = SpikingNeurons(neuron)(x)
    z64 = SpikingNeurons(neuron, impl="autograd")(x.double())
    assert (z32.double() != z64).float().mean() < 1e-3


def test_every_registered_surrogate_has_all_its_forms():
    from bioclf.surrogate.functional import surrogate as surrogates
    from bioclf.surrogate.kernels import generate_source

    x = torch.linspace(-1, 1, 11, dtype=torch.float64)
    source = generate_source(compile_neuron(LIF, 5e-3))
    for k, (name, s) in enumerate(surrogates.REGISTRY.items()):
        assert s.name == name and s.default_slope > 0
        g = s.derivative(x, s.default_slope)
        assert g.shape == x.shape and (g > 0).all() and g.argmax() == 5  # peaked at threshold
        assert s.c_setup in source and s.c_expr in source
        if k < len(surrogates.REGISTRY) - 1:  # the last one is the kernel's final else
            assert f"kind == {k} ? {s.c_expr}" in source
    for call in (
        lambda: surrogates.heaviside(x, "sigmoid"),
        lambda: surrogates.surrogate_grad(x, "sigmoid"),
        lambda: SpikingNeurons(compile_neuron(LIF, 5e-3), surrogate="sigmoid"),
    ):
        with pytest.raises(ValueError, match="unknown surrogate 'sigmoid'"):
            call()


@pytest.mark.parametrize("path, dt", [(LIF, 5e-3), (DC_EXC, 0.5e-3)])
def test_vectorised_kernel_clones_equal_the_baseline_build(tmp_path, path, dt):
    """The kernel the loader picks (AVX-512 or AVX2 clone on x86-64 with GCC) gives exactly the
    spikes and gradients of the same source built for the baseline instruction set alone."""
    import ctypes
    import platform
    import re
    import subprocess
    from pathlib import Path

    from bioclf.surrogate import kernels

    neuron = compile_neuron(path, dt)
    kernel = kernel_for(neuron)
    cc = kernels._compiler()
    if kernel is None or cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "k.c"
    src.write_text(kernels.generate_source(neuron))
    lib = tmp_path / "k.so"
    subprocess.run([cc, *kernels._CFLAGS, "-DCLONES=", "-o", lib, src, "-lm"], check=True)
    baseline = kernels.Kernel(neuron, ctypes.CDLL(str(lib)))
    version = subprocess.run([cc, "-v"], capture_output=True, text=True).stderr
    if (
        platform.machine() == "x86_64"
        and platform.libc_ver()[0] == "glibc"
        and re.search(r"^gcc version (1[1-9]|[2-9]\d)\.", version, re.MULTILINE)
    ):  # the clones are there: the comparison below is not between two baseline builds
        assert b"forward_float.arch_x86_64_v3" in Path(kernel.lib._name).read_bytes()
    gen = torch.Generator().manual_seed(3)
    for dtype in (torch.float32, torch.float64):
        # 37 x 29 neurons: blocks and vector loops both end on a remainder
        x = torch.rand(30, 37, 29, generator=gen, dtype=dtype) * 1.2 - 0.1
        g = torch.randn(30, 37, 29, generator=gen, dtype=dtype)
        (z1, s1), (z0, s0) = kernel.forward(x), baseline.forward(x)
        assert 0 < z1.mean() < 0.5
        assert torch.equal(z1, z0) and torch.equal(s1[2], s0[2])  # spikes, saved states
        assert not kernel.has_ref or torch.equal(s1[3], s0[3])  # refractory counters
        for surrogate in ("fast_sigmoid", "atan"):
            g1 = kernel.backward(g, s1, surrogate, 2.0)
            assert torch.equal(g1, baseline.backward(g, s0, surrogate, 2.0))
            assert g1.abs().sum() > 0


@pytest.mark.parametrize("path, dt", [(LIF, 5e-3), (DC_EXC, 0.5e-3)])
def test_cuda_kernel_source_has_the_c_kernels_statements_and_compiles(path, dt):
    """The CUDA kernel is printed from the same statements as the C kernel and builds with
    nvcc here (running it needs a GPU: tests/test_surrogate_train.py)."""
    from bioclf.surrogate import cuda_kernels
    from bioclf.surrogate.kernels import generate_source

    neuron = compile_neuron(path, dt)
    cpu, cuda = generate_source(neuron), generate_source(neuron, "cuda")
    statements = [
        line.strip()
        for line in cpu.splitlines()
        if line.strip().startswith(("double b_", "double c1_", "double sg", "double gm", "l_"))
    ]
    assert len(statements) > 5 and all(st in cuda for st in statements)
    with pytest.raises(ValueError, match="unknown target"):
        generate_source(neuron, "tpu")
    if cuda_kernels.nvcc() is None:
        pytest.skip("no nvcc")
    lib = cuda_kernels.build(neuron, "sm_80")
    assert lib is not None
    for name in ("forward_float", "forward_double", "backward_float", "backward_double"):
        assert hasattr(lib, name)


_THREAD_SHIM = """#include <stdint.h>
#include <math.h>
#define __global__ static
struct Index { int64_t x; };
static struct Index blockIdx = {0}, blockDim = {1}, threadIdx = {0};
"""


@pytest.mark.parametrize("path, dt", [(LIF, 5e-3), (DC_EXC, 0.5e-3)])
def test_cuda_kernels_thread_code_run_on_the_cpu_equals_the_c_kernel(tmp_path, path, dt):
    """Without a GPU: the CUDA kernels' code, compiled as C++ with one loop over the thread
    index in place of the launch, gives the C kernel's spikes, states and gradients exactly."""
    import ctypes
    import re
    import subprocess

    from bioclf.surrogate import kernels

    neuron = compile_neuron(path, dt)
    reference = kernel_for(neuron)
    cxx = shutil.which("g++") or shutil.which("c++")
    if reference is None or cxx is None:
        pytest.skip("no C/C++ compiler")
    cuda = kernels.generate_source(neuron, "cuda")
    cuda = re.sub(r'extern "C" int \w+\(.*?\n}\n', "", cuda, flags=re.S)  # the launchers
    cuda = cuda.replace("#include <cuda_runtime.h>", "")
    drivers = []
    for real in ("float", "double"):
        drivers.append(f"""
extern "C" void fwd_{real}(const {real}* x, {real}* z, {real}* s, int16_t* r, int64_t T,
                            int64_t M)
{{ for (int64_t m = 0; m < M; m++) {{
    threadIdx.x = m; forward_{real}_kernel(x, z, s, r, T, M); }} }}
extern "C" void bwd_{real}(const {real}* g, const {real}* x, const {real}* z, const {real}* s,
                            const int16_t* r, {real}* gx, int64_t T, int64_t M, int kind,
                            double slope)
{{ for (int64_t m = 0; m < M; m++) {{
    threadIdx.x = m; backward_{real}_kernel(g, x, z, s, r, gx, T, M, kind, slope); }} }}
""")
    src = tmp_path / "threads.cpp"
    src.write_text(_THREAD_SHIM + cuda + "".join(drivers))
    lib_path = tmp_path / "threads.so"
    flags = ["-O1", "-ffp-contract=off", "-w", "-fPIC", "-shared"]
    subprocess.run([cxx, *flags, "-o", lib_path, src], check=True)
    lib = ctypes.CDLL(str(lib_path))
    gen = torch.Generator().manual_seed(5)
    c = ctypes
    for dtype, real in ((torch.float32, "float"), (torch.float64, "double")):
        x = torch.rand(30, 7, 23, generator=gen, dtype=dtype) * 1.2 - 0.1
        g = torch.randn(30, 7, 23, generator=gen, dtype=dtype)
        z_ref, saved = reference.forward(x)
        T, M = x.shape[0], x[0].numel()
        z, s = torch.empty_like(x), torch.empty_like(saved[2])
        r = torch.zeros((T, M) if reference.has_ref else (1,), dtype=torch.int16)
        ptr = [c.c_void_p(t.data_ptr()) for t in (x, z, s, r)]
        getattr(lib, f"fwd_{real}")(*ptr, c.c_int64(T), c.c_int64(M))
        assert 0 < z_ref.mean() < 0.5
        assert torch.equal(z, z_ref) and torch.equal(s, saved[2])
        assert not reference.has_ref or torch.equal(r, saved[3])
        for k, surrogate in enumerate(("fast_sigmoid", "atan")):
            gx_ref = reference.backward(g, saved, surrogate, 2.0)
            gx = torch.empty_like(x)
            ptr = [c.c_void_p(t.data_ptr()) for t in (g, x, z, s, r, gx)]
            args = (c.c_int64(T), c.c_int64(M), c.c_int(k), c.c_double(2.0))
            getattr(lib, f"bwd_{real}")(*ptr, *args)
            assert torch.equal(gx, gx_ref) and gx.abs().sum() > 0


def test_a_cuda_kernel_that_disagrees_is_not_used(monkeypatch):
    """A CUDA kernel that fails its check against the C kernel is dropped with a warning (the
    network then runs the PyTorch step functions), once per model and device."""
    from bioclf.surrogate import cuda_kernels

    neuron = compile_neuron(LIF, 5e-3)
    checks = []
    monkeypatch.setattr(cuda_kernels.torch.cuda, "get_device_capability", lambda i: (9, 0))
    monkeypatch.setattr(cuda_kernels, "build", lambda n, arch: checks.append(arch) or object())
    monkeypatch.setattr(cuda_kernels, "CudaKernel", lambda n, lib: "kernel")
    monkeypatch.setattr(cuda_kernels, "self_check", lambda k, d: "its spikes differ")
    monkeypatch.setattr(cuda_kernels, "_CACHE", {})
    with pytest.warns(UserWarning, match="not used \\(its spikes differ\\)"):
        assert cuda_kernels.cuda_kernel_for(neuron, torch.device("cuda", 0)) is None
    assert cuda_kernels.cuda_kernel_for(neuron, torch.device("cuda", 0)) is None
    assert checks == ["sm_90"]  # built and checked once
    monkeypatch.setattr(cuda_kernels, "self_check", lambda k, d: None)
    assert cuda_kernels.cuda_kernel_for(neuron, torch.device("cuda", 1)) == "kernel"

    def check_fails(kernel, device):  # an error of another kind than a failed launch's
        raise OSError("libcudart.so.13: cannot open shared object file")

    # the network falls back to the step functions rather than the training failing
    monkeypatch.setattr(cuda_kernels, "self_check", check_fails)
    with pytest.warns(UserWarning, match="not used \\(OSError: libcudart"):
        assert cuda_kernels.cuda_kernel_for(neuron, torch.device("cuda", 2)) is None

    def check_fails_quietly(kernel, device):  # a RuntimeError without a message fails it too
        raise RuntimeError

    monkeypatch.setattr(cuda_kernels, "self_check", check_fails_quietly)
    with pytest.warns(UserWarning, match="not used \\(RuntimeError\\)"):
        assert cuda_kernels.cuda_kernel_for(neuron, torch.device("cuda", 3)) is None


class _FaultyKernel:
    """The CPU kernel posing as a CUDA kernel (on the CPU), with one spike flipped or one
    surrogate's gradients off by a part in 1e9."""

    def __init__(self, reference, flip_spike=False, bad_surrogate=None):
        self.neuron, self.reference = reference.neuron, reference
        self.flip_spike, self.bad_surrogate = flip_spike, bad_surrogate

    def forward(self, x):
        spikes, saved = self.reference.forward(x)
        if self.flip_spike:
            spikes = spikes.clone()
            spikes[5, 1, 7] = 1 - spikes[5, 1, 7]
        return spikes, saved

    def backward(self, grad, saved, surrogate, slope):
        gx = self.reference.backward(grad, saved, surrogate, slope)
        return gx * (1 + 1e-9) if surrogate == self.bad_surrogate else gx


def test_the_cuda_kernels_check_finds_the_spikes_and_gradients_that_differ():
    """`cuda_kernels.self_check`, the verdict that keeps a wrong CUDA kernel out of training,
    run on the CPU: the test above replaces it, and without a GPU nothing else runs it."""
    from bioclf.surrogate import cuda_kernels

    reference = kernel_for(compile_neuron(LIF, 5e-3))
    if reference is None:
        pytest.skip("no C compiler")
    cpu = torch.device("cpu")
    assert cuda_kernels.self_check(_FaultyKernel(reference), cpu) is None
    why = cuda_kernels.self_check(_FaultyKernel(reference, flip_spike=True), cpu)
    assert why == "its spikes or states differ from the CPU kernel's"
    for surrogate in ("fast_sigmoid", "atan"):
        why = cuda_kernels.self_check(_FaultyKernel(reference, bad_surrogate=surrogate), cpu)
        assert why == f"its gradients ({surrogate}) differ from the CPU kernel's"


def test_kernel_refuses_an_unknown_surrogate():
    neuron = compile_neuron(LIF, 5e-3)
    kernel = kernel_for(neuron)
    if kernel is None:
        pytest.skip("no C compiler")
    x = torch.rand(5, 2, 3, dtype=torch.float64)
    spikes, saved = kernel.forward(x)
    with pytest.raises(ValueError, match="unknown surrogate"):
        kernel.backward(torch.ones_like(spikes), saved, "sigmoid", 1.0)


def test_refactoring_keeps_kernels_and_training_numbers():
    """Pins the generated C source and a short seeded training (both surrogates) to the values
    of the code before the module restructuring (commit a2d9d5f). A deliberate change of the
    kernels or the training maths updates these numbers; a refactoring must not. (The source
    digests changed with the vectorised kernels (CPU clones, blocks of 256 neurons, spikes
    stored by a select); the training numbers did not.)"""
    import hashlib

    from bioclf.surrogate.kernels import generate_source
    from bioclf.surrogate.networks import build_network

    sources = {
        (LIF, 5e-3): "a045d0d7eef81571eec4424068c5b4ff14fb4770a6947c657ac59a65a9bba758",
        (LIF, 1e-3): "cb03da7d4c3941dd1c1cdab34f063120931ce2cdf92449d0bef3b8aad1b5336b",
        (DC_EXC, 0.5e-3): "4ee9b0b7441ba1a407afb9db7872fbd3cb4bbe84eb2b24b5d39884697aac0c1c",
    }
    for (path, dt), digest in sources.items():
        text = generate_source(compile_neuron(path, dt))
        assert hashlib.sha256(text.encode()).hexdigest() == digest, (path, dt)
    expected = {
        "fast_sigmoid": ([2.3567159175872803, 2.589019775390625, 2.7898108959198], [83, 1148]),
        "atan": ([2.3567159175872803, 2.4572794437408447, 2.5258002281188965], [83, 679]),
    }
    neuron = compile_neuron(LIF, 5e-3)
    for surrogate, (losses, counts) in expected.items():
        torch.manual_seed(0)
        net = build_network("fc", neuron, hidden=16, surrogate=surrogate)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        gen = torch.Generator().manual_seed(1)
        got_losses, got_counts = [], []
        for _ in range(3):
            x = (torch.rand(8, 20, 784, generator=gen) < 0.2).float()
            y = torch.randint(0, 10, (20,), generator=gen)
            out, spikes, _ = net(x, record=True)
            loss = torch.nn.functional.cross_entropy(out.sum(0), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            got_losses.append(float(loss.detach()))
            got_counts.append(int(spikes["hidden"].sum()))
        # float32 matrix products may round differently on other processors: losses to 1e-5,
        # the hidden spike counts of the first two steps exactly
        assert got_losses == pytest.approx(losses, rel=1e-5), surrogate
        assert got_counts[:2] == counts, surrogate


def test_a_refractory_period_too_long_for_the_kernels_runs_on_the_pytorch_path():
    # 40,000 steps overflow the kernels' int16 counter: no kernel, the fused path (no traceback)
    neuron = compile_neuron(load_neuron(LIF).with_parameters(t_ref=40 * ms), 1e-6)
    assert neuron.refractory_steps == 40000
    assert kernel_for(neuron) is None
    x = torch.full((4, 2, 3), 2.0, dtype=torch.float64)  # over threshold in one step
    z = SpikingNeurons(neuron)(x)
    assert z[:, 0, 0].tolist() == [1, 0, 0, 0]  # and refractory after it
    torch.testing.assert_close(z, SpikingNeurons(neuron, impl="fused")(x))


def test_exprel_is_kept_whole_and_matches_brian2(tmp_path):
    # Brian2's sympy exprel rewrites exprel(a*v + b) as (exp(a*v + b) - 1)/(a*v + b) once the
    # parameters are numbers: NaN at v = v_rest, where every neuron starts
    path = _variant(
        tmp_path,
        **{
            "R*I)/tau_m": "R*I*exprel((v - v_rest)/(5*mV)))/tau_m",
            "method: exact": "method: euler",
        },
    )
    neuron = compile_neuron(path, 1e-3)
    assert "exprel(" in neuron.update_code
    model = load_neuron(path)
    drive = lif_drive(np.random.default_rng(5), steps=1000, n=4)
    bv, bs = brian_trace(model, drive, 1e-3, "=")
    tv, ts, _ = torch_trace(model, drive, 1e-3)
    assert np.isfinite(tv).all()
    check_equal(bv, bs, tv, ts, 5)
    # the fused backward pass differentiates it as autograd does
    x = torch.rand(30, 2, 20, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grads = []
    for impl in ("autograd", "fused"):
        xi = x.clone().requires_grad_()
        z = SpikingNeurons(neuron, impl=impl)(xi)
        grads.append(torch.autograd.grad((z * torch.arange(20.0)).sum(), xi)[0])
    assert z.sum() > 20 and grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-9, atol=1e-12)


def test_a_reset_onto_the_threshold_is_refused_with_its_reason(tmp_path):
    """The network's scales follow from the file: a reset that leaves the neuron on its
    threshold gives none, and the message says why in terms of the file (it used to ask for a
    Python argument, which a command-line user cannot give)."""
    from bioclf.errors import EquationFileError

    path = _variant(tmp_path, **{"v_reset: -65*mV": "v_reset: -52*mV"})
    # (the loader refuses it, for both networks, before the compiler derives any scale)
    with pytest.raises(EquationFileError, match="not below the threshold") as info:
        compile_neuron(path, 1e-3)
    assert info.value.field == "reset" and "explicitly" not in info.value.reason


def test_kernel_cache_removes_the_files_of_killed_compilations(tmp_path, monkeypatch):
    """A compilation killed midway leaves its temporary library; the next build of the same
    kernel removes it (its process gone), and one of older code (``.neuron_ID.PID.so``) once
    untouched for a day; a live process's is kept. A source that does not compile gives None
    and leaves no temporary file."""
    import os
    import socket
    import subprocess
    import sys

    from bioclf.surrogate import kernels

    cc = kernels._compiler()
    if cc is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("BIOCLF_KERNEL_DIR", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], stdout=-1)
    host = socket.gethostname()
    killed = [f".neuron_ab.so.{host}.{int(gone.stdout)}.tmp", ".neuron_ab.4242.so"]
    live = f".neuron_ab.so.{host}.{os.getppid()}.tmp"
    for name in [*killed, live]:
        (tmp_path / name).write_bytes(b"half a library")
    os.utime(tmp_path / killed[1], (1e9, 1e9))
    lib = kernels._build("int f(void) { return 7; }", "ab", [cc, "-fPIC", "-shared"], ".c")
    assert lib.f() == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == [live, "neuron_ab.c", "neuron_ab.so"]
    assert kernels._build("not C", "cd", [cc, "-fPIC", "-shared"], ".c") is None
    assert sorted(p.name for p in tmp_path.iterdir() if "cd" in p.name) == ["neuron_cd.c"]
