"""Append the record of a finished run of another tool to a record file (``results/runs.jsonl``).

    python bench/record_run.py --name NAME --seed S --metrics OUT/metrics.json \\
        --record results/runs.jsonl -- COMMAND ...

For runs that ``bench/stdp_validate.py --record`` does not make, e.g. the surrogate-gradient or
ANN trainer ``python -m bioclf.surrogate.train ... --seed S --out OUT``, which writes
``OUT/metrics.json``. The record (`bioclf.run_records`) holds the test accuracy and the number
of test images of the metrics (``accuracy``; ``n_samples``, or ``n_test`` as
``bioclf.stdp.evaluate`` writes it), the seed, the command (the words after ``--``, quoted as
the shell needs), the commit of the code that ran (the metrics' ``provenance.commit``; for
metrics without it, this checkout's, ``+dirty`` where tracked files other than the record file
and the outputs have changes: record such a run before editing the code) and the processor the
metrics name. A name the file has already, or a seed other than the one the metrics' configuration
gives, is refused (exit 2).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bioclf import run_records, tasks  # noqa: E402
from bioclf.errors import ResultFileError  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options, and the command after ``--`` as ``args.command`` (refused if absent)."""
    p = argparse.ArgumentParser(
        prog="python bench/record_run.py",
        usage="%(prog)s --name NAME --seed S --metrics FILE --record FILE -- COMMAND ...",
        description=__doc__.splitlines()[0].replace("``", ""),
        epilog="COMMAND: the command that made the run, as typed from the project root",
    )
    p.add_argument("--name", required=True, help="the run's name, unique in the record file")
    p.add_argument("--seed", type=int, required=True, metavar="S", help="the run's seed")
    p.add_argument(
        "--metrics", type=Path, required=True, metavar="FILE", help="the run's metrics.json"
    )
    p.add_argument(
        "--record",
        type=tasks.out_file,  # (a directory, or a place that cannot be written: refused here)
        required=True,
        metavar="FILE",
        help="the record file to append to (results/runs.jsonl)",
    )
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args = p.parse_args(argv[:split])
    if not argv[split + 1 :]:
        p.error("the run's command is missing: give it after '--'")
    args.command = shlex.join(argv[split + 1 :])
    return args


def record(args: argparse.Namespace, metrics: dict, checkout: Callable[[], str]) -> dict:
    """The record of the run `args` describes, from its `metrics` (metrics.json); the commit
    is the one the metrics name, else `checkout()`'s (asked only then).

    Raises
    ------
    ResultFileError
        Naming ``args.metrics``: no test accuracy or test-set size, another seed, or a commit
        that is no short git hash.
    """
    n_test = metrics.get("n_test", metrics.get("n_samples"))
    if "accuracy" not in metrics or n_test is None:
        raise ResultFileError(
            args.metrics, "no 'accuracy' and 'n_samples' (or 'n_test'): not a test's metrics"
        )
    seed = (metrics.get("config") or {}).get("seed", metrics.get("seed"))
    if seed is not None and seed != args.seed:
        raise ResultFileError(args.metrics, f"the run's seed is {seed}, not --seed {args.seed}")
    provenance = metrics.get("provenance") or {}
    if "commit" in provenance:
        problem = run_records.problem_with("commit", provenance["commit"])
        if problem:
            raise ResultFileError(args.metrics, problem, "provenance.commit")
    entry = {
        "name": args.name,
        "seed": args.seed,
        "test_accuracy": metrics["accuracy"],
        "n_test": n_test,
        "command": args.command,
        "commit": provenance["commit"] if "commit" in provenance else checkout(),
    }
    machine = provenance.get("machine")
    return entry | ({"processor": machine} if machine else {})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_records.check_new(args.record, args.name)
    try:
        metrics = json.loads(args.metrics.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultFileError(args.metrics, f"not readable as JSON: {exc}") from None
    if not isinstance(metrics, dict):
        raise ResultFileError(args.metrics, "not a JSON object")
    run_records.append(
        args.record, record(args, metrics, lambda: run_records.commit(ROOT, args.record))
    )
    print(f"recorded {args.name} in {args.record}")
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
