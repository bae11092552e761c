"""Train the Diehl & Cook network by unsupervised STDP.

    python -m bioclf.stdp.train --config config/config.yaml --n-exc 100 --seed 0 \
        --out results/stdp/cpp/n100/seed0

Progress goes to stderr. Interrupt it at any time: the same command resumes from the last
checkpoint (one chunk of samples lost at most), and gives the same final weights as an
uninterrupted run.
"""

from __future__ import annotations

import time

import numpy as np

from bioclf import config as cfgmod
from bioclf import plots, tasks
from bioclf.io import save_npy, save_npz, write_json
from bioclf.stdp import setup
from bioclf.stdp.run import Pass, make_simulator, run_passes


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    p.add_argument("--n-exc", type=int, required=True, help="excitatory neurons")
    p.add_argument("--epochs", type=int, help="passes over the training set (default: config)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=["runtime", "cpp", "cuda"], help="default: config")
    p.add_argument("--n-train", type=int, help="training samples (default: config)")
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    epochs = args.epochs or next(
        (s["epochs"] for s in cfg["stdp"]["sizes"] if s["n"] == args.n_exc), 1
    )
    n_train = args.n_train or cfg["stdp"]["n_train"]
    models = setup.models(cfg)
    protocol = setup.protocol(cfg)
    backend = setup.backend(cfg, args.backend, args.n_exc, args.seed)
    images, labels = setup.data(cfg, "train", n_train)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    sim = make_simulator(
        models, protocol, args.n_exc, cfg["stdp"]["chunk"], args.seed, backend, "network"
    )
    build_time = time.perf_counter() - start
    passes = [Pass("train", e, images, labels, plastic=True) for e in range(epochs)]
    state, records = run_passes(
        sim, passes, args.seed, out / "checkpoint.npz", sim.initial_state, f"stdp N={args.n_exc}"
    )
    wall = sum(r["wall_time_s"] for r in records)

    weights = state["s_in.w"].reshape(784, args.n_exc)
    save_npz(out / "state.npz", **state)
    save_npy(out / "weights.npy", weights)
    save_npy(out / "theta.npy", state["exc.theta"])
    counts = np.concatenate([r["counts"] for r in records])
    reps = np.concatenate([r["reps"] for r in records])
    spikes = np.sum([r["spikes"] for r in records], axis=0)
    save_npz(
        out / "train_records.npz",
        counts=counts,
        reps=reps,
        labels=np.concatenate([labels] * epochs),
        trace=records[-1]["trace"],
    )
    n_samples = n_train * epochs
    write_json(
        out / "train_metrics.json",
        {
            "method": "stdp",
            "n_exc": args.n_exc,
            "seed": args.seed,
            "backend": backend.name,
            "threads": backend.threads,
            "epochs": epochs,
            "training_samples": n_samples,
            "repeated_presentations": int(reps.sum()),
            "build_time_s": round(build_time, 2),
            "training_wall_time_s": round(wall, 2),
            "training_ms_per_sample": round(wall / n_samples * 1e3, 3),
            "training_samples_per_s": round(n_samples / wall, 2),
            "spikes_per_sample": {
                k: float(v) / n_samples for k, v in zip(("inp", "exc", "inh"), spikes, strict=True)
            },
            "peak_memory": tasks.peak_memory_mb(),
            "provenance": tasks.provenance(),
            "note": "wall time summed over the chunks, including those run before a resumption",
        },
    )
    plots.receptive_fields(
        weights,
        out / "receptive_fields.png",
        title=f"STDP receptive fields, N={args.n_exc}, {epochs} epoch(s)",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
