"""Test a trained, labelled STDP network on the test set (theta and weights frozen).

    python -m bioclf.stdp.evaluate --config config/config.yaml --trained DIR \
        --assignment DIR/assign/assignment.npy --out DIR/test

The test set is simulated here unless ``--responses`` gives the file that
`bioclf.stdp.respond` (or `bioclf.stdp.merge`) wrote (the pipeline does that, in parallel with
label assignment). The work is done by `bioclf.stdp.frozen` and `bioclf.stdp.scoring`.

Before anything is simulated or scored, the assignment and the responses are checked against
``--trained``: the assignment must assign as many neurons as the network has, the responses be
of ``n_test`` images by that many neurons, and the identity of the run each comes from (which
``assign_metrics.json`` and ``responses.npz`` record: `bioclf.stdp.frozen.results_identity`)
be that of a run of this trained network (its state, ``train_metrics.json``) with this
configuration's model files, protocol and samples (the first ``n_assign`` training images, the
first ``n_test`` test images), on its backend and with this code version. Files of another
trained network or other settings are refused, naming the file (exit status 2), and so is an
``assign_metrics.json`` written with another ``assignment.npy`` than the one beside it (it
records a digest of it). Files written before the identity was recorded are scored unchecked,
with a warning.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bioclf import config as cfgmod
from bioclf import tasks
from bioclf.data.datasets import split_size
from bioclf.errors import ResultFileError
from bioclf.io import digest, load_arrays, load_json
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
        help="assignment.npy written by bioclf.stdp.assign or merge (assign_metrics.json beside "
        "it); refused if of another trained network or other settings",
    )
    p.add_argument(
        "--n-test",
        type=tasks.count,
        help="test samples, the first of the test set (default: stdp.n_test)",
    )
    p.add_argument(
        "--responses",
        type=tasks.Path,
        help="responses.npz written by bioclf.stdp.respond or merge; refused if of another "
        "trained network or other settings (default: simulate the test set here)",
    )
    args = p.parse_args(argv)
    tasks.out_beside_trained(p, args)
    cfg = cfgmod.load(args.config)
    n_test = cfg["stdp"]["n_test"] if args.n_test is None else args.n_test
    trained = frozen.trained_metrics(args.trained)
    assignment = labels.checked_assignment(load_arrays(args.assignment, ndim=1), args.assignment)
    assign_info = load_json(args.assignment.parent / "assign_metrics.json", scoring.ASSIGN_FIELDS)
    train_size = split_size(cfg["data"]["root"], "train")
    check_assign_info(assign_info, assignment, args.assignment, train_size)
    if len(assignment) != trained["n_exc"]:  # checked before the test set is simulated
        raise ResultFileError(
            args.assignment,
            f"assigns {len(assignment)} neurons; the network trained in {args.trained} has "
            f"{trained['n_exc']}",
        )
    runs = [(args.assignment, assign_info.get(frozen.RUN), "assign")]  # (file, its run, split)
    rec = None
    if args.responses is not None:
        rec = load_arrays(args.responses, keys=frozen.RESPONSE_KEYS)
        check_responses(rec, args.responses, n_test, trained["n_exc"], args.trained)
        runs.append((args.responses, rec.get(frozen.RUN), "test"))
    check_runs(cfg, args.trained, runs, {"assign": assign_info["n_assign"], "test": n_test})
    if rec is None:
        rec = frozen.respond(cfg, args.trained, args.out, n_test, "network")
    metrics = scoring.score(cfg, trained, assignment, assign_info, rec, args.out)
    print(
        f"test accuracy {metrics['accuracy']:.4f} on "
        f"{tasks.counted(metrics['n_test'], 'sample')} (labels from {metrics['n_assign']} "
        "training samples)",
        file=sys.stderr,
    )
    return 0


def check_assign_info(info: dict, assignment, path, train_size: int | None = None) -> None:
    """Refuse an ``assign_metrics.json`` (`info`) that is not that of the assignment `assignment`
    read from `path` (it records a digest of the one written with it; files written before
    record none), or whose ``n_assign`` is not a count, or more than the `train_size` training
    images of this configuration's data set (None: unknown) it was assigned from.

    Raises
    ------
    ResultFileError
        Naming the ``assign_metrics.json`` beside `path`.
    """
    info_path = Path(path).parent / "assign_metrics.json"
    n = info["n_assign"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ResultFileError(info_path, f"must be a count of samples, got {n!r}", "n_assign")
    if train_size is not None and n > train_size:
        raise ResultFileError(
            info_path,
            f"labels assigned from {n} training images, more than the {train_size} of this "
            "configuration's data set: of another data set",
            "n_assign",
        )
    recorded = info.get(frozen.ASSIGNMENT_DIGEST)
    if recorded is not None and recorded != digest(assignment):
        raise ResultFileError(
            info_path,
            f"is not that of {path}: written with another assignment, so the run it records "
            "is not this assignment's (copy or move the two together)",
        )


def check_runs(cfg: dict, trained_dir, runs: list[tuple], counts: dict[str, int]) -> None:
    """Refuse a file of `runs` (path, the run identity it records, its split: ``assign`` for an
    assignment, ``test`` for responses) that comes from another run than a frozen run of the
    network trained in `trained_dir` with `cfg` on the first ``counts[split]`` samples of its
    split (`bioclf.stdp.frozen.expected_identities`, computed without building the network).
    Files that record no identity (written before it was recorded) are not checked: one line
    on stderr says so.

    Raises
    ------
    ResultFileError
        Naming the file of another trained network or other settings, and what may differ.
    """
    recorded = [(path, str(run), split) for path, run, split in runs if run is not None]
    unchecked = [str(path) for path, run, _ in runs if run is None]
    if unchecked:
        print(
            f"warning: {', '.join(unchecked)}: no run identity recorded (written before it "
            f"was): not checked against the network trained in {trained_dir}",
            file=sys.stderr,
        )
    if not recorded:
        return
    expected = frozen.expected_identities(
        cfg, trained_dir, {split: int(counts[split]) for *_, split in recorded}
    )
    for path, run, split in recorded:
        if run != expected[split]:
            what, where, samples = OTHER_RUN[split]
            raise ResultFileError(
                path,
                f"{what} of another trained network or other settings than {trained_dir} with "
                f"this configuration: {where} records another run (another state.npz, or "
                f"other model files, protocol, seed, backend, code version or {samples})",
            )


#: Per split, what `check_runs` says of a file of another run: what it holds, what records
#: its run, and the samples that may differ.
OTHER_RUN = {
    "assign": (
        "a label assignment",
        "the assign_metrics.json beside it",
        "label-assignment images (the first n_assign training images)",
    ),
    "test": ("responses", "it", "test images (the first n_test)"),
}


def check_responses(rec: dict, path, n_test: int, n_exc: int, trained_dir) -> None:
    """Refuse responses (`rec`, read from `path`) of another number of test images or of
    another network size than this evaluation's, naming the file and the array that differs.

    Raises
    ------
    ResultFileError
        ``labels`` not a list of `n_test` (``stdp.n_test or --n-test``), or ``counts`` not of
        shape (`n_test`, `n_exc`) (the network trained in `trained_dir`).
    """
    labels, counts = rec["labels"], rec["counts"]
    if labels.ndim != 1:  # (not len() of it: a traceback for a 0-d array)
        raise ResultFileError(
            path,
            f"array 'labels' of shape {labels.shape}; expected ({n_test},): one per test image",
        )
    if len(labels) != n_test:
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
