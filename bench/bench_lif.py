"""Cost of one LIF layer per sample and time step, ours against Norse, SpikingJelly and snnTorch.

Times the training pass of a layer of N leaky integrate-and-fire neurons alone: the forward
pass over T steps of a batch of B input currents, and the backward pass from a fixed random
weighting of the output spikes to the inputs (no weights, no optimiser, no encoding). Prints
microseconds per sample-step (the time of one pass over B*T sample-steps) and nanoseconds per
neuron-step, on the CPU (one thread by default) or a CUDA GPU (``--device cuda``).

All layers run the same dynamics, in units where the threshold is 1 and rest and reset are 0:
``v <- beta*v + x``, spike when ``v > 1``, reset to 0, with ``beta = exp(-dt/tau_m)`` and
``tau_m`` from the neuron file (equations/lif.yaml: 100 ms) and ``dt`` that of the surrogate
networks (5 ms); our layer is the neuron compiled from the file (its refractory period is one
step at that dt, as in the others). Each library uses its own closest form:

- ours: ``SpikingNeurons`` with the arctangent surrogate: the generated kernel (``kernel``,
  the default: C on the CPU, CUDA on a GPU; where none builds, the layer runs the step
  functions, and its name and the JSON's ``ran_as`` say so) and the PyTorch step functions
  with the hand-written backward pass (``fused``); ``autograd, torch.compile`` is the step
  functions' loop with autograd under ``torch.compile`` (not a path of the package: for
  comparison only);
- Norse: ``LIFBoxCell`` (no synaptic current) stepped in a loop, under ``torch.compile``
  (``--no-compile`` to time it eagerly), SuperSpike surrogate; its input is scaled by
  ``1/(1-beta)`` outside the timed region;
- SpikingJelly: ``LIFNode(decay_input=False, tau=1/(1-beta))`` in multi-step mode, arctangent
  surrogate, once per provider it offers on the device (``SJ_LIF_CUDA_IMPLEMENTATION``:
  ``triton``, ``torch`` on a GPU; its ``cuda`` provider needs a compiled extension the wheel
  lacks); SpikingJelly 2.0 has no CuPy backend any more;
- snnTorch: ``snn.Leaky(reset_mechanism="zero")`` stepped in a loop, arctangent surrogate.

Norse, SpikingJelly and snnTorch are not dependencies of bioclf: a library that does not import
is reported as such and skipped. The spike rate of each layer is printed beside its time: the
layers compute the same dynamics, so the rates must agree (to the small differences in when the
reset is applied), or the timings would not compare like with like.

Usage::

    python bench/bench_lif.py [--device cpu|cuda] [--sizes 100 400 12544] [--T 25]
                              [--batch 128] [--threads 1] [--out bench/out/bench_lif.json]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bioclf import tasks
from bioclf.surrogate.compile import compile_neuron
from bioclf.surrogate.functional import neuron as F
from bioclf.surrogate.modules import SpikingNeurons
from bioclf.surrogate.options import TrainConfig, describe_device, kernels_run

# (its "cuda" provider needs SpikingJelly's compiled extension, which the 2.0 wheel lacks)
SJ_PROVIDERS = ("triton", "torch")

# --- the layers: each is fn(x) -> spikes (T, B, N) for inputs x (T, B, N) ------------------


def ours(neuron, impl: str):
    layer = SpikingNeurons(neuron, surrogate="atan", impl=impl)
    return layer, {}


def ours_compiled(neuron):
    def run(x):
        spikes, _, _ = F.run(neuron, x, surrogate="atan")
        return spikes

    return torch.compile(run), {}


def norse_layer(beta: float, compile_: bool, device: torch.device):
    from norse.torch import LIFBoxCell, LIFBoxParameters

    # On the device: the cell's .to(device) leaves its parameter tuple where it was, and on a
    # GPU every step would then mix CPU scalars into CUDA operations (and torch.compile graphs)
    p = LIFBoxParameters(
        tau_mem_inv=torch.as_tensor(1.0 - beta, device=device),  # dt = 1: dv = (1-beta)(i - v)
        v_leak=torch.as_tensor(0.0, device=device),
        v_th=torch.as_tensor(1.0, device=device),
        v_reset=torch.as_tensor(0.0, device=device),
        method="super",
    )
    cell = LIFBoxCell(p, dt=1.0).to(device)

    def run(x):
        state = None
        out = []
        for t in range(x.shape[0]):
            z, state = cell(x[t], state)
            out.append(z)
        return torch.stack(out)

    fn = torch.compile(run) if compile_ else run
    return fn, {"input_scale": 1.0 / (1.0 - beta)}


def spikingjelly_layer(beta: float, device: torch.device):
    from spikingjelly.activation_based import functional, neuron, surrogate

    node = neuron.LIFNode(
        tau=1.0 / (1.0 - beta),
        decay_input=False,
        v_threshold=1.0,
        v_reset=0.0,
        surrogate_function=surrogate.ATan(),
        step_mode="m",
    ).to(device)

    def run(x):
        functional.reset_net(node)
        return node(x)

    return run, {}


def spikingjelly_implementation(device: torch.device) -> str:
    """The CUDA implementation SpikingJelly chose (private API: may change between versions)."""
    try:
        from spikingjelly._ops.lif import _selection

        return _selection.diagnostics(device)["implementation"]
    except Exception as err:  # noqa: BLE001
        return f"unknown ({type(err).__name__})"


def spikingjelly_per_provider(argv: list[str], n: int) -> list[dict]:
    """SpikingJelly on CUDA at `n` neurons (the command line `argv` otherwise) once per
    provider, each in its own process: it reads SJ_LIF_CUDA_IMPLEMENTATION when it is
    imported."""
    layers = []
    argv = [*_drop_option(argv, ("--out", "--only", "--sizes")), "--sizes", str(n)]
    for provider in SJ_PROVIDERS:
        env = dict(os.environ, SJ_LIF_CUDA_IMPLEMENTATION=provider)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"sj_{provider}.json"
            cmd = [sys.executable, __file__, *argv, "--only", "spikingjelly", "--out", str(out)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            found = json.loads(out.read_text())["layers"] if out.exists() else None
        print("\n".join(line for line in proc.stdout.splitlines() if "N=" in line), flush=True)
        if proc.returncode != 0 or found is None:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            print(f"  SpikingJelly, {provider}: exit {proc.returncode}: {tail}")
            layers.append({"name": f"SpikingJelly LIFNode, {provider}", "n": n, "error": tail})
            continue
        for layer in found:
            layer["name"] += f", {provider} requested"
            layers.append(layer)
    return layers


def snntorch_layer(beta: float, device: torch.device):
    import snntorch as snn
    from snntorch import surrogate

    # moved to the device: its membrane buffer starts on the CPU otherwise
    lif = snn.Leaky(beta=beta, spike_grad=surrogate.atan(), reset_mechanism="zero").to(device)

    def run(x):
        mem = lif.init_leaky()
        out = []
        for t in range(x.shape[0]):
            spk, mem = lif(x[t], mem)
            out.append(spk)
        return torch.stack(out)

    return run, {}


# --- timing ------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_layer(fn, x, weights, device, rounds: int, passes: int, warmup: int = 2):
    """Median seconds of one forward + backward pass, seconds of the first (warm-up) pass, and
    the spike rate (spikes per neuron and step)."""
    start = time.perf_counter()
    for _ in range(warmup):  # torch.compile and lazily built kernels happen here
        x.grad = None
        spikes = fn(x)
        spikes.backward(weights)
    _sync(device)
    first = time.perf_counter() - start
    rate = float(spikes.detach().float().mean())
    if x.grad is None or not torch.isfinite(x.grad).all():
        raise RuntimeError("no finite gradient reached the input")
    per_pass = []
    for _ in range(rounds):
        _sync(device)
        start = time.perf_counter()
        for _ in range(passes):
            x.grad = None
            fn(x).backward(weights)
        _sync(device)
        per_pass.append((time.perf_counter() - start) / passes)
    return statistics.median(per_pass), first, rate


def ran_as_of(layer, device: torch.device) -> dict | None:
    """How one of our layers ran (`describe_device`: the kernel generated from the neuron
    file, or the PyTorch step functions), and whether a ``kernel`` layer fell back to the step
    functions: it does where no kernel builds (no compiler; on a GPU nvcc failing, or the
    CUDA kernel disagreeing with the C kernel), with only a warning on stderr. None for the
    other libraries' layers."""
    if not isinstance(layer, SpikingNeurons):
        return None
    fell_back = layer.impl == "kernel" and not kernels_run(device, layer)
    return {"description": describe_device(device, layer), "fell_back": fell_back}


def candidates(neuron, beta: float, device: torch.device, compile_: bool):
    """(name, library, factory) of every layer to time on `device`."""
    out = []
    # the generated kernel: C on the CPU, CUDA on a GPU (it falls back to 'fused', with a
    # warning, where it cannot be built or does not agree with the CPU kernel)
    out.append(("bioclf kernel", "bioclf", lambda: ours(neuron, "kernel")))
    out.append(("bioclf fused", "bioclf", lambda: ours(neuron, "fused")))
    label = "torch.compile" if compile_ else "eager"
    out.append((f"Norse LIFBoxCell, {label}", "norse", lambda: norse_layer(beta, compile_, device)))
    out.append(("SpikingJelly LIFNode", "spikingjelly", lambda: spikingjelly_layer(beta, device)))
    out.append(("snnTorch Leaky", "snntorch", lambda: snntorch_layer(beta, device)))
    # last: its compilation takes longest, and a run cut off by its time limit (check.sh)
    # should have the other libraries' figures first
    if compile_:
        out.append(("bioclf autograd, torch.compile", "bioclf", lambda: ours_compiled(neuron)))
    return out


def _version(library: str) -> str | None:
    """The installed version (from the package's metadata: SpikingJelly has no __version__)."""
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return None


def _drop_option(argv: list[str], names=("--out", "--only")) -> list[str]:
    """`argv` without the options `names` and their values."""
    out, dropping = [], False
    for arg in argv:
        if arg.startswith("--"):
            dropping = arg.split("=")[0] in names
        if not dropping:
            out.append(arg)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command line (bench/gpu/check.sh runs it; tests/test_gpu_check.py parses that)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where the layers run (default: %(default)s)",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[100, 400, 12544],
        help="neurons per layer (12544 = 16 x 28 x 28, more than the conv network's first "
        "layer, 16 x 24 x 24 = 9216; default: %(default)s)",
    )
    parser.add_argument(
        "--T", type=int, default=25, help="time steps per sample (default: %(default)s)"
    )
    parser.add_argument(
        "--batch", type=int, default=128, help="samples per batch (default: %(default)s)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads (PyTorch; default: %(default)s)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="timed rounds (median; default: %(default)s)"
    )
    parser.add_argument(
        "--passes", type=int, default=0, help="passes per round (default: 0, chosen per size)"
    )
    parser.add_argument("--no-compile", action="store_true", help="no torch.compile variants")
    parser.add_argument("--only", nargs="+", help="libraries to time (bioclf norse ...)")
    # the surrogate networks' defaults (bioclf.surrogate.options.TrainConfig)
    parser.add_argument(
        "--dt",
        type=tasks.time_step,
        default=TrainConfig.dt,
        help="time step (s; default: %(default)s)",
    )
    parser.add_argument(
        "--neuron", default=TrainConfig.neuron, help="neuron file (default: %(default)s)"
    )
    parser.add_argument("--out", help="also write the results as JSON to this file")
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # as in training (bioclf.surrogate.train): big tensors on transparent huge pages, for every
    # library alike; without, page faults on the fresh per-pass arrays dominate large layers
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    args = build_parser().parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device cuda: PyTorch finds no CUDA GPU", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    dt = args.dt
    neuron = compile_neuron(args.neuron, dt)
    tau_m = float(neuron.model.parameters["tau_m"])
    beta = math.exp(-dt / tau_m)
    prov = tasks.provenance()
    if device.type == "cuda":
        prov["gpu"] = torch.cuda.get_device_name(device)
    print(f"machine: {prov['machine']}" + (f"; GPU {prov.get('gpu')}" if "gpu" in prov else ""))
    print(
        f"LIF layer, forward + backward, T={args.T}, batch {args.batch}, dt {dt * 1e3:g} ms, "
        f"tau_m {tau_m * 1e3:g} ms (beta {beta:.4f}), {args.device}"
        + (f", {tasks.counted(args.threads, 'thread')}" if device.type == "cpu" else "")
    )
    results = {
        "provenance": prov,
        "device": args.device,
        "threads": args.threads,
        "T": args.T,
        "batch": args.batch,
        "dt_s": dt,
        "tau_m_s": tau_m,
        "versions": {lib: _version(lib) for lib in ("torch", "norse", "spikingjelly", "snntorch")},
        "layers": [],
    }
    sj_child = "SJ_LIF_CUDA_IMPLEMENTATION" in os.environ
    skipped = {}
    for n in args.sizes:
        # Currents that make ~10% of the neurons spike per step; the same for every layer, and
        # drawn for this size alone: SpikingJelly's child processes run one size each.
        gen = torch.Generator().manual_seed(n)
        x0 = (0.1 * torch.randn(args.T, args.batch, n, generator=gen) + 0.08).to(device)
        weights = torch.randn(args.T, args.batch, n, generator=gen).to(device)
        steps = args.T * args.batch
        passes = args.passes or max(1, min(20, int(2e6 // (steps * n)) or 1))
        for name, library, factory in candidates(neuron, beta, device, not args.no_compile):
            if args.only and library not in args.only:
                continue
            if library in skipped:
                continue
            if library == "spikingjelly" and device.type == "cuda" and not sj_child:
                # per provider, in child processes (`spikingjelly_per_provider`), in this size's
                # turn: after every size, a run under a time limit (check.sh's) never got there
                try:
                    importlib.import_module("spikingjelly")
                except ImportError as err:
                    skipped[library] = f"does not import: {err}"
                    print(f"  {library}: {skipped[library]}")
                    continue
                results["layers"] += spikingjelly_per_provider(argv, n)
                _write(args.out, results)
                continue
            try:
                fn, extra = factory()
            except ImportError as err:
                skipped[library] = f"does not import: {err}"
                print(f"  {library}: {skipped[library]}")
                continue
            x = (x0 * extra.get("input_scale", 1.0)).requires_grad_(True)
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    seconds, first, rate = time_layer(fn, x, weights, device, args.rounds, passes)
            except Exception as err:  # noqa: BLE001 - one layer failing must not stop the rest
                msg = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                print(f"  N={n:>6} {name:<36} failed: {msg}")
                results["layers"].append({"name": name, "n": n, "error": msg})
                continue
            if library == "spikingjelly" and device.type == "cuda":
                name += f", {spikingjelly_implementation(device)} used"
            ran_as = ran_as_of(fn, device)
            if ran_as and ran_as["fell_back"]:
                name += ", fell back to the step functions"
            us = seconds / steps * 1e6
            ns = seconds / (steps * n) * 1e9
            print(
                f"  N={n:>6} {name:<36} {us:10.3f} us/sample-step {ns:8.3f} ns/neuron-step"
                f"  spike rate {rate:.4f}  (first pass {first:.1f} s)",
                flush=True,
            )
            results["layers"].append(
                {
                    "name": name,
                    "library": library,
                    "n": n,
                    "us_per_sample_step": us,
                    "ns_per_neuron_step": ns,
                    "spike_rate": rate,
                    "seconds_per_pass": seconds,
                    "first_passes_s": first,
                    "passes_per_round": passes,
                    "ran_as": ran_as and ran_as["description"],
                }
            )
            _write(args.out, results)  # as it goes: a run cut off by a time limit keeps these
    results["skipped"] = skipped
    if args.out:
        _write(args.out, results)
        print(f"wrote {args.out}")
    return 0


def _write(out: str | None, results: dict) -> None:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
