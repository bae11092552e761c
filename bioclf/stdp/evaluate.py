"""Test a trained, labelled STDP network on the test set (theta and weights frozen).

    python -m bioclf.stdp.evaluate --config config/config.yaml --trained DIR \
        --assignment DIR/assign/assignment.npy --out DIR/test

The test set is simulated here unless ``--responses`` gives the file that
`bioclf.stdp.respond` wrote (the pipeline does that, in parallel with label assignment). The
work is done by `bioclf.stdp.frozen` and `bioclf.stdp.scoring`.
"""

from __future__ import annotations

from bioclf import config as cfgmod
from bioclf import tasks
from bioclf.errors import ConfigError, ResultFileError
from bioclf.io import load_arrays, load_json
from bioclf.stdp import frozen, labels, scoring

#: Run again after an interruption, the task resumes from the last chunk checkpoint of the
#: test responses it simulates (`tasks.run`).
RESUMES = True


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    tasks.trained_argument(p)
    p.add_argument(
        "--assignment",
        required=True,
        type=tasks.Path,
        help="assignment.npy written by bioclf.stdp.assign (assign_metrics.json beside it)",
    )
    p.add_argument(
        "--n-test",
        type=tasks.count,
        help="test samples, the first of the test set (default: stdp.n_test)",
    )
    p.add_argument(
        "--responses",
        type=tasks.Path,
        help="responses.npz written by bioclf.stdp.respond (default: simulate the test set here)",
    )
    args = p.parse_args(argv)
    tasks.out_beside_trained(p, args)
    cfg = cfgmod.load(args.config)
    n_test = cfg["stdp"]["n_test"] if args.n_test is None else args.n_test
    trained = frozen.trained_metrics(args.trained)
    assignment = labels.checked_assignment(load_arrays(args.assignment, ndim=1), args.assignment)
    assign_info = load_json(args.assignment.parent / "assign_metrics.json", scoring.ASSIGN_FIELDS)
    if len(assignment) != trained["n_exc"]:  # checked before the test set is simulated
        raise ResultFileError(
            args.assignment,
            f"assigns {len(assignment)} neurons; the network trained in {args.trained} has "
            f"{trained['n_exc']}",
        )
    if args.responses is None:
        rec = frozen.respond(cfg, args.trained, args.out, n_test, "network")
    else:
        rec = load_arrays(args.responses, keys=frozen.RESPONSE_KEYS)
        if len(rec["labels"]) != n_test:
            raise ConfigError(
                args.responses,
                "counts",
                f"holds responses to {len(rec['labels'])} test images; n_test is {n_test}",
            )
    if rec["counts"].ndim != 2 or rec["counts"].shape[1] != len(assignment):
        raise ResultFileError(
            args.assignment,
            f"assigns {len(assignment)} neurons; the responses have counts of shape "
            f"{rec['counts'].shape}",
        )
    scoring.score(cfg, trained, assignment, assign_info, rec, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main, resumes=RESUMES))
