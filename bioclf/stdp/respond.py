"""Responses of a trained STDP network to the test set (theta and weights frozen).

    python -m bioclf.stdp.respond --config config/config.yaml --trained DIR --out DIR/test

Only the simulation: the vote that turns the responses into predictions needs the label
assignment and is done by `bioclf.stdp.evaluate`. Kept apart so that the pipeline can simulate
the test set while the labels are being assigned (the two need nothing from each other). The
network runs from its own project (``network_test``, a copy of the training project) so that
both can run at once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from bioclf import config as cfgmod
from bioclf import tasks
from bioclf.io import load_json, save_npz
from bioclf.stdp import setup
from bioclf.stdp.assign import run_frozen

RESPONSES = "responses.npz"


def seed_project(cfg: dict, trained_dir: Path, project: str) -> None:
    """Start `project` as a copy of the training project, so that it need not be compiled.

    Brian2 rewrites only the generated files whose text changed and make rebuilds only what is
    out of date, so a copy (modification times kept) of the identical network builds in seconds.
    """
    trained = load_json(trained_dir / "train_metrics.json")
    build = setup.backend(cfg, trained["backend"], trained["n_exc"], trained["seed"]).build_dir
    source, target = build / "network", build / project
    if target.exists() or not (source / "main").exists():
        return
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, symlinks=True, ignore=shutil.ignore_patterns("results*"))
    tmp.rename(target)


def respond(cfg: dict, trained_dir: Path, out: Path, n_test: int, project: str) -> dict:
    """Simulate the first `n_test` test images; save and return the responses."""
    images, labels = setup.data(cfg, "test", n_test)
    _, rec, wall = run_frozen(cfg, trained_dir, "test", images, labels, out, project)
    responses = {
        "counts": rec["counts"],
        "reps": rec["reps"],
        "labels": labels,
        "spikes": rec["spikes"],
        "wall_time_s": np.float64(wall),
    }
    save_npz(out / RESPONSES, **responses)
    return responses


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    p.add_argument("--trained", required=True, type=tasks.Path, help="training output directory")
    p.add_argument("--n-test", type=int, help="test samples (default: config)")
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    seed_project(cfg, args.trained, "network_test")
    respond(cfg, args.trained, args.out, args.n_test or cfg["stdp"]["n_test"], "network_test")
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
