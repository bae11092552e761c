"""Responses of a trained STDP network to the test set (theta and weights frozen).

    python -m bioclf.stdp.respond --config config/config.yaml --trained DIR --out DIR/test

Only the simulation: the vote that turns the responses into predictions needs the label
assignment and is done by `bioclf.stdp.evaluate`. Kept apart so that the pipeline can simulate
the test set while the labels are being assigned (the two need nothing from each other). The
network runs from its own project (``network_test``, a copy of the training project) so that
both can run at once. With ``--shard k --shards K`` only shard k of the test set is simulated
(`bioclf.stdp.shards`, project ``network_test<k>``), and `bioclf.stdp.merge` joins the shards.
``responses.npz`` records the identity of the run (array ``run``: a digest of the trained
network's state, the model files, protocol, N, seed, backend, code version and the test images
shown, `bioclf.stdp.frozen.results_identity`), which `bioclf.stdp.evaluate` checks. The work is
done by `bioclf.stdp.frozen`.
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
        "--n-test",
        type=tasks.count,
        help="test samples shown, the first of the test set (default: stdp.n_test)",
    )
    tasks.shard_arguments(p)
    args = p.parse_args(argv)
    tasks.out_beside_trained(p, args)
    cfg = cfgmod.load(args.config)
    n = cfg["stdp"]["n_test"] if args.n_test is None else args.n_test
    frozen.respond(cfg, args.trained, args.out, n, "network_test", tasks.shard(p, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main, resumes=RESUMES))
