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
from bioclf.errors import ResultFileError
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
        check_responses(rec, args.responses, n_test, trained["n_exc"], args.trained)
    scoring.score(cfg, trained, assignment, assign_info, rec, args.out)
    return 0


def check_responses(rec: dict, path, n_test: int, n_exc: int, trained_dir) -> None:
    """Refuse responses (`rec`, read from `path`) of another number of test images or of
    another network size than this evaluation's, naming the file and the array that differs.

    Raises
    ------
    ResultFileError
        ``labels`` not of `n_test` images (``stdp.n_test or --n-test``), or ``counts`` not of
        shape (`n_test`, `n_exc`) (the network trained in `trained_dir`).
    """
    labels, counts = rec["labels"], rec["counts"]
    if labels.ndim != 1 or len(labels) != n_test:
        raise ResultFileError(
            path,
            f"array 'labels' of shape {labels.shape}: responses to {len(labels)} test images; "
            f"this evaluation's n_test (stdp.n_test or --n-test) is {n_test}",
        )
    if counts.shape != (n_test, n_exc):
        raise ResultFileError(
            path,
            f"array 'counts' of shape {counts.shape}; expected ({n_test}, {n_exc}): "
            f"{n_test} test images (n_test) by the {n_exc} excitatory neurons of the network "
            f"trained in {trained_dir}",
        )


if __name__ == "__main__":
    raise SystemExit(tasks.run(main, resumes=RESUMES))
