"""Train the Diehl & Cook network by unsupervised STDP.

    python -m bioclf.stdp.train --config config/config.yaml --n-exc 100 --seed 0 \
        --out results/stdp/cpp/n100/seed0

Progress goes to stderr. Interrupt it at any time: the same command resumes from the last
checkpoint (one chunk of samples lost at most), and gives the same final weights as an
uninterrupted run. The work is done by `bioclf.stdp.training`.
"""

from __future__ import annotations

from pathlib import Path

from bioclf import config as cfgmod
from bioclf import tasks
from bioclf.brian import backends
from bioclf.stdp.training import train

#: Run again after an interruption, the task resumes from the last chunk checkpoint (`tasks.run`).
RESUMES = True


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--n-exc",
        type=tasks.count,
        required=True,
        help="number of excitatory (and inhibitory) neurons",
    )
    p.add_argument(
        "--epochs",
        type=tasks.count,
        help="passes over the training set (default: that of this --n-exc in stdp.sizes, else 1); "
        "the size's schedule, if any, trains the first of them with its model files",
    )
    p.add_argument(
        "--seed",
        type=tasks.seed,
        default=0,
        help="seed of the initial network and input spikes (default: 0)",
    )
    p.add_argument("--backend", choices=backends.BACKENDS, help="simulator (default: stdp.backend)")
    p.add_argument(
        "--n-train",
        type=tasks.count,
        help="training samples per epoch, the first of the training set (default: stdp.n_train)",
    )
    p.add_argument(
        "--continue-from",
        type=Path,
        metavar="DIR",
        help="start from the network trained in DIR (same --n-exc and --seed) instead of a new "
        "one, e.g. to go on with other learning rates; --epochs are counted on from its epochs",
    )
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    train(
        cfg,
        args.n_exc,
        args.seed,
        args.out,
        args.backend,
        args.epochs,
        args.n_train,
        args.continue_from,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main, resumes=RESUMES))
