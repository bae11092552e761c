"""Run a trained fully connected surrogate-gradient network in Brian2 (cross-simulator check).

The same neuron file, the same dt and the same input spikes: the input layer is a group of 784
neurons whose threshold draws the shared counter-based random numbers
(``bioclf_uniform(bioclf_hash(key, step), i) < p``, `bioclf.brian.functions`) with the
PyTorch run's stream keys and firing probabilities, or for a latency-coded network fires each
pixel once at ``bioclf_latency(x, T)`` (`bioclf.encoding.latency`), so Brian2 sees exactly the
spikes PyTorch saw. All test samples run in one simulation (one compiled binary on ``cpp``),
one slot of ``S = T + 2`` steps per sample; ``local`` below is the step within the slot.

Timing (see `bioclf.surrogate.networks`): PyTorch step t of layer l is Brian2 step
``local = t + l``. Input neurons fire at local 0..T-1; a spike at step n is added to the
target's input by the synapses at step n (after thresholds), and the target integrates it at
step n + 1. After the thresholds of every step (``before_synapses``, so that the state update
and the threshold see the same input, as in PyTorch's step), a current input (``I : amp``) is
set to the bias and a conductance input incremented by it; the synapses then add the weights.
Layer l:

* is set to its initial state (every variable but a current input, and ``lastspike``) at
  local l - 1 by a custom event, before that step's bias and synapses deliver its first input;
* may only spike at local l .. l + T - 1 (the file's threshold AND this window), so nothing
  leaks from one sample to the next.

Usage::

    python -m bioclf.surrogate.export_brian --model DIR/model.pt --out DIR [--backend cpp]
        [--n-test N] [--threads 2]

writes ``DIR/brian2_export.json`` with both simulators' accuracies and their agreement.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bioclf import tasks
from bioclf.errors import BioclfError, ConfigError, ResultFileError
from bioclf.io import write_json

SLOT_EXTRA = 2  # steps per sample beyond T: one per spiking layer
_OWN_NAMES = ("sg_bias", "sg_weight")  # variables the exported network adds


def _brian_network(net, cfg, probs: np.ndarray, keys: np.ndarray, backend):
    """Build the Brian2 network; returns (net, monitors dict, n_steps per sample)."""
    from brian2 import (
        Equations,
        Network,
        NeuronGroup,
        SpikeMonitor,
        Synapses,
        TimedArray,
        second,
    )
    from brian2.units.fundamentalunits import Quantity

    from bioclf.brian import backends
    from bioclf.brian.functions import NAMESPACE as HASH_FUNCTIONS

    neuron = net.lif1.neuron
    model = neuron.model
    # the variables this network adds to the model's (a neuron variable 'w' would clash with a
    # synaptic weight of that name, e.g.)
    clash = sorted(set(_OWN_NAMES) & (set(model.eqs.names) | set(model.parameters)))
    if clash:
        raise ConfigError(
            model.path, "equations", f"{clash} are names the Brian2 export uses; rename them"
        )
    T = int(cfg.T)
    S = T + SLOT_EXTRA
    dt = float(cfg.dt)
    n_samples, n_in = probs.shape
    directory = backends.activate(backend, f"surrogate_export_{model.name}", dt=dt * second)

    p_ta = TimedArray(probs.astype(np.float64), dt=S * dt * second, name="sg_probs")
    k_ta = TimedArray(keys.astype(np.float64), dt=S * dt * second, name="sg_keys")
    local = f"(t_in_timesteps % {S})"
    inp = NeuronGroup(
        n_in,
        "",
        threshold=(
            f"{local} < {T} and "
            f"bioclf_uniform(bioclf_hash(sg_keys(t), {local}), i) < sg_probs(t, i)"
            if _encoding(cfg) == "rate"
            # latency code: sg_probs holds the intensities, each pixel fires once at its step
            else f"{local} < {T} and {local} == bioclf_latency(sg_probs(t, i), {T})"
        ),
        reset="",
        namespace={"sg_probs": p_ta, "sg_keys": k_ta, **HASH_FUNCTIONS},
        name="sg_input",
    )

    in_name = neuron.input_name
    groups = [inp]
    synapses = []
    layers = [(net.fc1, "sg_hidden"), (net.fc2, "sg_output")]
    for level, (linear, name) in enumerate(layers, start=1):
        n_out = linear.out_features
        in_dim = model.eqs.dimensions[in_name]
        unit = Quantity(1, dim=in_dim)
        eqs = Equations(model.equations) + Equations(f"sg_bias : {_unit_name(in_dim)} (constant)")
        if model.uses("plastic"):
            eqs += Equations("plastic : 1 (shared, constant)")
        threshold = f"({model.threshold}) and {local} >= {level} and {local} < {level + T}"
        namespace = dict(model.parameters)
        namespace.update(HASH_FUNCTIONS)
        g = NeuronGroup(
            n_out,
            eqs,
            threshold=threshold,
            reset=model.reset,
            refractory=model.refractory,
            method=model.method,
            namespace=namespace,
            events={"slot_start": f"{local} == {level - 1}"},
            name=name,
        )
        if model.uses("plastic"):
            g.plastic = 0
        for var in neuron.state_names:
            getattr(g, var)[:] = neuron.initial[var] * Quantity(1, dim=model.eqs.dimensions[var])
        w = linear.weight.detach().double().numpy() * neuron.input_scale  # (out, in)
        b = (
            linear.bias.detach().double().numpy() * neuron.input_scale
            if linear.bias is not None
            else np.zeros(n_out)
        )
        g.sg_bias = b * unit
        # slot start: initial state, not refractory (a current input is refilled below)
        lines = [
            f"{var} = {neuron.initial[var]!r}*{_unit_name(model.eqs.dimensions[var])}"
            for var in neuron.state_names
            if not (var == in_name and neuron.input_mode == "set")
        ]
        lines += ["lastspike = -1e4*second", "not_refractory = True"]
        g.run_on_event("slot_start", "\n".join(lines), when="before_synapses", order=0)
        # then the bias: after the thresholds (which see the input the state update saw) and
        # after the slot start (which would undo a conductance's increment)
        op = "=" if neuron.input_mode == "set" else "+="
        g.run_regularly(
            f"{in_name} {op} sg_bias", when="before_synapses", order=1, name=f"{name}_bias"
        )
        pre = groups[-1]
        syn = Synapses(
            pre,
            g,
            f"sg_weight : {_unit_name(in_dim)} (constant)",
            on_pre=f"{in_name}_post += sg_weight",
            name=f"{name}_syn",
        )
        ii, jj = np.meshgrid(np.arange(len(pre)), np.arange(n_out), indexing="ij")
        syn.connect(i=ii.ravel(), j=jj.ravel())
        syn.sg_weight = w.T.ravel() * unit
        groups.append(g)
        synapses.append(syn)

    monitors = {
        "input": SpikeMonitor(inp, record=False, name="sg_mon_input"),
        "hidden": SpikeMonitor(groups[1], name="sg_mon_hidden"),
        "output": SpikeMonitor(groups[2], name="sg_mon_output"),
    }
    network = Network(*groups, *synapses, *monitors.values())
    runner = backends.Runner(backend, network, n_samples * S * dt * second, directory)
    return runner, monitors, S


def _encoding(cfg) -> str:
    """The run's input code (models trained before the option existed are rate-coded)."""
    return getattr(cfg, "encoding", "rate")


def _unit_name(dim) -> str:
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_unit

    return "1" if dim is DIMENSIONLESS else get_unit(dim).name


def run_brian(net, cfg, images01: np.ndarray, indices: np.ndarray, backend) -> dict:
    """Simulate `net` (a `SpikingFC`) in Brian2 on images in [0, 1].

    Returns
    -------
    dict
        ``counts`` (n, 10) output spike counts, ``hidden_counts`` (n,) hidden spikes per
        sample, ``input_spikes`` (total), ``seconds``.
    """
    from brian2 import second

    from bioclf.encoding import spike_probability, stream_keys

    if not hasattr(net, "fc1") or not hasattr(net, "fc2"):
        raise ConfigError("(model)", "arch", "only the fully connected network is exported")
    if _encoding(cfg) == "latency":  # intensities (float32, as PyTorch sees them); no keys
        probs = np.asarray(images01, dtype=np.float32)
        keys = np.zeros(len(images01))
    else:
        probs = spike_probability(images01, cfg.max_rate, cfg.dt).astype(np.float32)
        keys = stream_keys(cfg.seed, "test", indices)
    start = time.perf_counter()
    runner, monitors, S = _brian_network(net, cfg, probs, keys, backend)
    runner.run()
    n = len(images01)
    dt = float(cfg.dt)

    def per_sample(mon, n_neurons=None):
        steps = np.round(np.asarray(mon.t / second) / dt).astype(np.int64)
        sample = steps // S
        if n_neurons is None:
            return np.bincount(sample, minlength=n)
        counts = np.zeros((n, n_neurons), dtype=np.int64)
        np.add.at(counts, (sample, np.asarray(mon.i)), 1)
        return counts

    out = {
        "counts": per_sample(monitors["output"], net.fc2.out_features),
        "hidden_counts": per_sample(monitors["hidden"]),
        "input_spikes": int(np.asarray(monitors["input"].count).sum()),
        "seconds": time.perf_counter() - start,
    }
    return out


@torch.no_grad()
def run_torch(net, cfg, images01: np.ndarray, indices: np.ndarray, dtype=torch.float32):
    """Output spike counts (n, 10) and hidden spikes per sample of the PyTorch network."""
    from bioclf.surrogate.evaluate import spike_input

    net = net.to(dtype)
    counts, hidden = [], []
    c = {"T": cfg.T, "dt": cfg.dt, "max_rate": cfg.max_rate, "seed": cfg.seed}
    c["encoding"] = _encoding(cfg)
    for b0 in range(0, len(images01), 500):
        x = spike_input(images01[b0 : b0 + 500], indices[b0 : b0 + 500], c, "test").to(dtype)
        out, spikes, _ = net(x, record=True)
        counts.append(out.sum(0).numpy().astype(np.int64))
        hidden.append(spikes["hidden"].sum(dim=(0, 2)).numpy().astype(np.int64))
    net.to(torch.float32)
    return np.concatenate(counts), np.concatenate(hidden)


def compare(
    model_path,
    n_test: int | None = None,
    backend_name: str = "cpp",
    threads: int = 1,
    build_dir: str = "build/brian2",
    data: str | None = None,
) -> dict:
    """Accuracy of the model in PyTorch and in Brian2 on the first `n_test` test images (None:
    all of them)."""
    from bioclf.brian.backends import Backend, no_gpu
    from bioclf.data import images_as_float, load_split
    from bioclf.surrogate.saved import load_model

    # On the CPU: the reference is the compiled C kernel, whatever device trained the model.
    net, cfg = load_model(model_path, device="cpu")
    # as its evaluation (`bioclf.surrogate.evaluate`): the thread count changes PyTorch's last
    # digits, and so may change a count; run by hand, PyTorch would take every core
    torch.set_num_threads(cfg.threads)
    if not cfg.spiking:
        raise ResultFileError(model_path, "a non-spiking twin has no Brian2 network", "spiking")
    if cfg.arch != "fc":  # (before the data is read and the network built)
        raise ResultFileError(
            model_path, f"only the fully connected network is exported, not {cfg.arch!r}", "arch"
        )
    test = load_split(data or cfg.data, "test", **cfg.data_set())
    if n_test is None:
        n_test = len(test)
    elif n_test > len(test):  # (as the other tasks refuse their sample counts)
        raise ConfigError(
            "(command line)",
            "n_test",
            f"asks for {n_test} test images; the test set in {data or cfg.data} has {len(test)}",
        )
    n = n_test
    idx = np.arange(n)
    x = images_as_float(test)[:n]
    labels = test.labels[:n].astype(np.int64)
    if backend_name == "cuda" and (why := no_gpu()):  # (before a compile of minutes)
        raise ConfigError("(command line)", "backend", f"{why}; use cpp")
    backend = Backend(backend_name, threads=threads, build_dir=Path(build_dir))
    brian = run_brian(net, cfg, x, idx, backend)
    t0 = time.perf_counter()
    torch_counts, torch_hidden = run_torch(net, cfg, x, idx)
    torch_seconds = time.perf_counter() - t0
    pred_b = brian["counts"].argmax(1)
    pred_t = torch_counts.argmax(1)
    acc_b = float((pred_b == labels).mean())
    acc_t = float((pred_t == labels).mean())
    return {
        "n_samples": int(n),
        "backend": backend_name,
        "accuracy_brian2": acc_b,
        "accuracy_pytorch": acc_t,
        "difference_pp": 100 * (acc_b - acc_t),
        "prediction_agreement": float((pred_b == pred_t).mean()),
        "identical_output_counts": float((brian["counts"] == torch_counts).all(1).mean()),
        "hidden_spikes_per_inference_brian2": float(brian["hidden_counts"].mean()),
        "hidden_spikes_per_inference_pytorch": float(torch_hidden.mean()),
        "brian2_seconds": brian["seconds"],
        "pytorch_seconds": torch_seconds,
        "model": str(model_path),
        "neuron_file": cfg.neuron,
        "dt": cfg.dt,
        "T": cfg.T,
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m bioclf.surrogate.export_brian``."""
    parser = argparse.ArgumentParser(
        prog="python -m bioclf.surrogate.export_brian", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--model", required=True, help="model.pt written by the training (fc networks only)"
    )
    parser.add_argument(
        "--out", required=True, type=tasks.out_dir, help="directory for brian2_export.json"
    )
    parser.add_argument(
        "--backend",
        default="cpp",
        choices=("runtime", "cpp", "cuda"),
        help="Brian2 code generation: runtime = numpy in Python; cpp = one compiled C++ "
        "binary (cpp_standalone); cuda = brian2cuda on a GPU (default: %(default)s)",
    )
    parser.add_argument(
        "--n-test",
        type=tasks.count,
        default=None,
        help="number of test images, the first ones of the test split (default: all of them; "
        "more than the split has is an error)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenMP threads of the cpp backend (default: %(default)s)",
    )
    parser.add_argument(
        "--build-dir",
        default="build/brian2",
        type=tasks.out_dir,
        help="directory for the generated Brian2 project (default: %(default)s)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="directory of the data set's IDX files (default: the model's; the data set's "
        "name and checksums are the model's)",
    )
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = compare(
            args.model, args.n_test, args.backend, args.threads, args.build_dir, args.data
        )
    except BioclfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "brian2_export.json", result, sort_keys=False)
    print(
        f"Brian2 ({args.backend}) accuracy {result['accuracy_brian2']:.4f}, PyTorch "
        f"{result['accuracy_pytorch']:.4f} on {result['n_samples']} test images "
        f"(difference {result['difference_pp']:+.2f} pp, predictions agree "
        f"{100 * result['prediction_agreement']:.2f}%, identical output counts "
        f"{100 * result['identical_output_counts']:.2f}%)"
    )
    return 0


if __name__ == "__main__":
    # (tasks.run: Ctrl-C ends it in one line, exit status 130, not with a traceback)
    raise SystemExit(tasks.run(main))
