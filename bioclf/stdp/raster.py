"""Spike rasters of a trained STDP network presented with one test sample.

    python -m bioclf.stdp.raster --config config/config.yaml --trained DIR --out DIR/raster.png

Runs on the runtime backend (one 500 ms presentation), theta and weights frozen.
"""

from __future__ import annotations

import numpy as np
from brian2 import SpikeMonitor, second

from bioclf import config as cfgmod
from bioclf import tasks
from bioclf.brian import backends
from bioclf.encoding import SPLIT_TAGS, hashrng
from bioclf.io import load_json
from bioclf.plots import _save
from bioclf.stdp import setup
from bioclf.stdp.simulate import Simulator


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    p.add_argument("--trained", required=True, type=tasks.Path)
    p.add_argument("--sample", type=int, default=0, help="test sample index")
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    trained = load_json(args.trained / "train_metrics.json")
    state = dict(np.load(args.trained / "state.npz"))
    images, labels = setup.data(cfg, "test", args.sample + 1)
    protocol = setup.protocol(cfg)
    sim = Simulator(
        setup.models(cfg),
        protocol,
        trained["n_exc"],
        1,
        trained["seed"],
        backends.Backend("runtime"),
        "raster",
    )
    inp_mon = SpikeMonitor(sim.net.inp, name="raster_inp")
    exc_mon = SpikeMonitor(sim.net.exc, name="raster_exc")
    sim.net.net.add(inp_mon, exc_mon)
    key = hashrng.key(trained["seed"], SPLIT_TAGS["test"], 0)
    _, res = sim.run_chunk(state, images[args.sample : args.sample + 1], args.sample, key, False)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(
        2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    a1.plot(np.asarray(inp_mon.t / second) * 1e3, inp_mon.i, "|", ms=2, color="black")
    a1.set_ylabel("input pixel")
    a1.set_ylim(-1, 784)
    a2.plot(np.asarray(exc_mon.t / second) * 1e3, exc_mon.i, "|", ms=4, color="tab:red")
    a2.set_ylabel("excitatory neuron")
    a2.set_ylim(-1, trained["n_exc"])
    a2.set_xlabel("time (ms)")
    for ax in (a1, a2):
        for k in range(int(np.ceil(float(sim.net.net.t / protocol.slot)))):
            start = k * float(protocol.slot) * 1e3
            ax.axvspan(
                start, start + float(protocol.present) * 1e3, color="tab:blue", alpha=0.07, lw=0
            )
    shown = 1 + int(res.reps[0]) if len(res.reps) else "?"
    a1.set_title(
        f"Test sample {args.sample} (label {labels[args.sample]}): "
        f"{len(inp_mon.t)} input and {len(exc_mon.t)} excitatory spikes, "
        f"{shown} presentation(s) (shaded)"
    )
    _save(fig, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
