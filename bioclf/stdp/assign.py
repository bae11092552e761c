"""Assign a class to each excitatory neuron of a trained STDP network.

    python -m bioclf.stdp.assign --config config/config.yaml --trained DIR --out DIR

The network (theta and weights frozen, ``plastic = 0``) is shown the first ``n_assign``
training samples, with input spike trains independent of those of training; each neuron takes
the class it responds to most on average. Test data are never used here. With ``--shard k
--shards K`` only shard k of the samples is simulated (`bioclf.stdp.shards`) and
`bioclf.stdp.merge` assigns the labels from all shards. ``assign_metrics.json`` and
``assign_records.npz`` record the identity of the run (``run``:
`bioclf.stdp.frozen.results_identity`), which `bioclf.stdp.evaluate` checks against its
``--trained`` network. The work is done by `bioclf.stdp.frozen`.
"""

from __future__ import annotations

from bioclf import config as cfgmod
from bioclf import tasks
from bioclf.stdp import frozen

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
    frozen.assign(cfg, args.trained, args.out, n, tasks.shard(p, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main, resumes=RESUMES))
