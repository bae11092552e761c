"""Assign a class to each excitatory neuron of a trained STDP network.

    python -m bioclf.stdp.assign --config config/config.yaml --trained DIR --out DIR

The network (theta and weights frozen, ``plastic = 0``) is shown the first ``n_assign``
training samples, with input spike trains independent of those of training; each neuron takes
the class it responds to most on average. Test data are never used here.
"""

from __future__ import annotations

import numpy as np

from bioclf import config as cfgmod
from bioclf import tasks
from bioclf.io import load_json, save_npy, save_npz, write_json
from bioclf.stdp import labels as labelling
from bioclf.stdp import setup
from bioclf.stdp.run import Pass, make_simulator, run_passes


def frozen_simulator(cfg: dict, trained: dict, project: str = "network"):
    """The trained network's simulator, in the training build directory.

    The default `project` reuses the binary compiled for training; a job that runs at the same
    time as another one on the same network (the test responses while labels are assigned)
    passes its own project name (`bioclf.stdp.respond.seed_project` starts it as a copy).
    """
    backend = setup.backend(cfg, trained["backend"], trained["n_exc"], trained["seed"])
    return make_simulator(
        setup.models(cfg),
        setup.protocol(cfg),
        trained["n_exc"],
        cfg["stdp"]["chunk"],
        trained["seed"],
        backend,
        project,
    )


def run_frozen(cfg: dict, trained_dir, split: str, images, labels, out, project: str = "network"):
    """Show `images` to the trained network (plastic = 0), resumably; return its responses."""
    trained = load_json(trained_dir / "train_metrics.json")
    state = dict(np.load(trained_dir / "state.npz"))
    out.mkdir(parents=True, exist_ok=True)
    sim = frozen_simulator(cfg, trained, project)
    passes = [Pass(split, 0, images, labels, plastic=False)]
    _, (rec,) = run_passes(sim, passes, trained["seed"], out / "checkpoint.npz", state, split)
    return trained, rec, rec["wall_time_s"]


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    p.add_argument("--trained", required=True, type=tasks.Path, help="training output directory")
    p.add_argument("--n-assign", type=int, help="training samples used (default: config)")
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    n_assign = args.n_assign or cfg["stdp"]["n_assign"]
    images, labels = setup.data(cfg, "train", n_assign)
    trained, rec, wall = run_frozen(cfg, args.trained, "assign", images, labels, args.out)
    assignment = labelling.assign_labels(rec["counts"], labels)
    save_npz(args.out / "assign_records.npz", counts=rec["counts"], reps=rec["reps"], labels=labels)
    save_npy(args.out / "assignment.npy", assignment)
    write_json(
        args.out / "assign_metrics.json",
        {
            "n_assign": n_assign,
            "wall_time_s": round(wall, 2),
            "neurons_per_class": np.bincount(assignment[assignment >= 0], minlength=10).tolist(),
            "silent_neurons": int(np.sum(assignment < 0)),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
