"""Assign a class to each excitatory neuron of a trained STDP network.

    python -m bioclf.stdp.assign --config config/config.yaml --trained DIR --out DIR

The network (theta and weights frozen, ``plastic = 0``) is shown the first ``n_assign``
training samples, with input spike trains independent of those of training; each neuron takes
the class it responds to most on average. Test data are never used here. With ``--shard k
--shards K`` only shard k of the samples is simulated (`bioclf.stdp.shards`) and
`bioclf.stdp.merge` assigns the labels from all shards. ``assign_metrics.json`` and
``assign_records.npz`` record the identity of the run (``run``:
`bioclf.stdp.frozen.results_identity`), which `bioclf.stdp.evaluate` checks against its
``--trained`` network. The work is done by `bioclf.stdp.frozen`. The task ends with one line on
stderr: the neurons assigned to each class and those silent, on how many samples (a shard's:
which samples it simulated).
"""

from __future__ import annotations

import sys

import numpy as np

from bioclf import config as cfgmod
from bioclf import tasks
from bioclf.stdp import frozen, shards

#: Run again after an interruption, the task resumes from the last chunk checkpoint (`tasks.run`).
RESUMES = True


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    tasks.trained_argument(p)
    p.add_argument(
        "--n-assign",
        type=tasks.count,
        help="training samples shown, the first of the training set (default: stdp.n_assign)",
    )
    tasks.shard_arguments(p)
    args = p.parse_args(argv)
    tasks.out_beside_trained(p, args)
    cfg = cfgmod.load(args.config)
    n = cfg["stdp"]["n_assign"] if args.n_assign is None else args.n_assign
    shard = tasks.shard(p, args)
    assignment = frozen.assign(cfg, args.trained, args.out, n, shard)
    print(summary(assignment, n) if shard is None else shard_summary(shard, n), file=sys.stderr)
    return 0


def summary(assignment: np.ndarray, n_assign: int) -> str:
    """The task's last line: how many of the neurons each class got and how many stayed silent
    (-1: no spike to any sample), as ``assign_metrics.json`` counts them."""
    per_class = np.bincount(assignment[assignment >= 0], minlength=10)
    silent = int(np.sum(assignment < 0))
    return (
        f"assigned {len(assignment) - silent} of {tasks.counted(len(assignment), 'neuron')} "
        f"from {tasks.counted(n_assign, 'training sample')}, per class 0-{len(per_class) - 1}: "
        f"{', '.join(map(str, per_class))}; {silent} silent (no spike to any sample)"
    )


def shard_summary(shard: tuple[int, int], n_assign: int) -> str:
    """A shard's last line: it assigns nothing (`bioclf.stdp.merge` does), so which samples."""
    lo, hi = shards.bounds(n_assign, *shard)
    return (
        f"shard {shard[0]} of {shard[1]}: responses to training samples {lo} to {hi - 1} of "
        f"{n_assign} written; python -m bioclf.stdp.merge --what assign assigns the labels"
    )


if __name__ == "__main__":
    raise SystemExit(tasks.run(main, resumes=RESUMES))
