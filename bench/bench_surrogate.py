"""Training throughput of the surrogate-gradient FC network, ours against snnTorch.

Measures training samples/s (forward, cross-entropy on output spike counts, backward, Adam
step) of the fully connected 784-N-10 network at T steps, batch B, on the CPU with a fixed
number of threads, for our network (the neuron compiled from ``equations/lif.yaml``) and, in
the same run, the same network built with snnTorch (``snn.Leaky`` with the same membrane decay
``beta = exp(-dt/tau_m)``, threshold, reset to zero and surrogate (fast sigmoid, or arctangent
with ``--surrogate atan``), stepped in a Python loop as in the snnTorch tutorials). Both get the
same pre-encoded input spikes (the shared rate encoder), so encoding is not timed. The two are
measured alternately, several rounds, and the median round is reported, which evens out load
from other processes.

snnTorch is not a dependency of bioclf: without it, only our figures are printed.

Usage::

    python bench/bench_surrogate.py [--hidden 100 400] [--T 25] [--batch 128] [--threads 2]
                                    [--surrogate fast_sigmoid|atan]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bioclf import tasks
from bioclf.data import images_as_float, load_split
from bioclf.encoding import spike_probability, stream_keys
from bioclf.surrogate.compile import compile_neuron
from bioclf.surrogate.encode import encode_torch
from bioclf.surrogate.functional.surrogate import DEFAULT_SLOPE
from bioclf.surrogate.networks import SpikingFC


def snntorch_net(n_hidden: int, beta: float, kind: str, slope: float):
    import snntorch as snn
    from snntorch import surrogate

    if kind == "atan":
        spike_grad = surrogate.atan(alpha=slope)
    else:
        spike_grad = surrogate.fast_sigmoid(slope=slope)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, n_hidden)
            self.lif1 = snn.Leaky(beta=beta, spike_grad=spike_grad, reset_mechanism="zero")
            self.fc2 = nn.Linear(n_hidden, 10)
            self.lif2 = snn.Leaky(beta=beta, spike_grad=spike_grad, reset_mechanism="zero")

        def forward(self, x):
            mem1 = self.lif1.init_leaky()
            mem2 = self.lif2.init_leaky()
            out = []
            for t in range(x.shape[0]):
                spk1, mem1 = self.lif1(self.fc1(x[t]), mem1)
                spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                out.append(spk2)
            return torch.stack(out)

    return Net()


def time_training(net, batches, labels) -> float:
    """Samples/s of training steps over `batches` (after one warm-up step)."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def one(x, y):
        loss = loss_fn(net(x).sum(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    one(batches[0], labels[0])
    start = time.perf_counter()
    for x, y in zip(batches, labels, strict=True):
        one(x, y)
    elapsed = time.perf_counter() - start
    return sum(len(y) for y in labels) / elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--hidden", type=int, nargs="+", default=[100, 400], help="N to time (default: %(default)s)"
    )
    parser.add_argument(
        "--T", type=int, default=25, help="time steps per sample (default: %(default)s)"
    )
    parser.add_argument(
        "--batch", type=int, default=128, help="samples per batch (default: %(default)s)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default: %(default)s)")
    parser.add_argument(
        "--batches", type=int, default=10, help="timed batches per round (default: %(default)s)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="timed rounds (median; default: %(default)s)"
    )
    parser.add_argument(
        "--dt", type=tasks.time_step, default=1e-3, help="time step (s; default: %(default)s)"
    )
    parser.add_argument(
        "--neuron", default="equations/lif.yaml", help="neuron file (default: %(default)s)"
    )
    parser.add_argument(
        "--surrogate",
        choices=sorted(DEFAULT_SLOPE),
        default="fast_sigmoid",
        help="surrogate gradient of both sides (default: %(default)s)",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    neuron = compile_neuron(args.neuron, args.dt)
    tau_m = float(neuron.model.parameters["tau_m"])
    beta = math.exp(-args.dt / tau_m)
    try:
        import snntorch  # noqa: F401

        have_snntorch = True
    except ImportError:
        have_snntorch = False
        print("snnTorch is not installed: measuring bioclf only (pip install snntorch to compare)")

    test = load_split("data/mnist", "test")
    x01 = images_as_float(test)
    batches, labels = [], []
    for b in range(args.batches):
        sl = slice(b * args.batch, (b + 1) * args.batch)
        p = spike_probability(x01[sl], 1.0 / args.dt, args.dt).astype(np.float32)
        batches.append(
            encode_torch(p, stream_keys(0, "test", np.arange(sl.start, sl.stop)), args.T)
        )
        labels.append(torch.from_numpy(test.labels[sl].astype(np.int64)))

    print(
        f"training samples/s, FC 784-N-10, T={args.T}, batch {args.batch}, "
        f"{tasks.counted(args.threads, 'thread')}, {args.surrogate} surrogate, "
        f"{tasks.counted(args.rounds, 'round')} of "
        f"{tasks.counted(args.batches, 'batch', 'batches')} (median)"
    )
    results = {"provenance": tasks.provenance()}
    print(f"machine: {results['provenance']['machine']}", flush=True)
    slope = DEFAULT_SLOPE[args.surrogate]  # the same steepness on both sides
    for n_hidden in args.hidden:
        ours_net = SpikingFC(neuron, n_hidden, surrogate=args.surrogate)
        theirs_net = snntorch_net(n_hidden, beta, args.surrogate, slope) if have_snntorch else None
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(time_training(ours_net, batches, labels))
            if theirs_net is not None:
                theirs.append(time_training(theirs_net, batches, labels))
        row = {"bioclf": statistics.median(ours)}
        line = f"N={n_hidden}: bioclf {row['bioclf']:,.0f} samples/s"
        if theirs:
            row["snntorch"] = statistics.median(theirs)
            row["ratio"] = row["bioclf"] / row["snntorch"]
            line += f", snnTorch {row['snntorch']:,.0f} samples/s, ratio {row['ratio']:.2f}x"
        print(line, flush=True)
        results[n_hidden] = row
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
