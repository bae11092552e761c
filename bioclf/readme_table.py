"""The README's table of results, generated so that it cannot drift from the results.

The table has one row per (method, network) of ``results/metrics.csv`` -- its test accuracy
(over several seeds: the mean, then every seed's), the issue's target from
``results/targets.csv`` and the paper's anchor -- followed by the rows of
``results/other_runs.csv``: runs outside the default configuration, each with the command that
reproduces it. A row whose ``runs`` column names records of ``results/runs.jsonl``
(`bioclf.run_records`, written by the runs' scripts) gets its figure from them: the mean of
their test accuracies, then each seed's; its own ``figure`` must be empty, and its command,
with each record's seed for ``S`` (a token ``S``, or a token's trailing ``S``: ``sS``) and any
word for ``OUT``, must be the record's; its records must share a test size (``n_test``), which
the figure names where it is not 10,000. A row without ``runs`` gives its figure by hand
(from ``bench/README.md``, which has the measurements; one headlined by a best over runs is
refused: the mean leads).
``python -m bioclf.readme_table`` rewrites the block between the markers in ``README.md``;
``--check`` only says whether it is current. Results that ``results/report.md`` says another
configuration, or another data set than MNIST, produced are refused.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import shlex
from pathlib import Path

from bioclf import run_records, tasks
from bioclf.errors import BioclfError, ConfigError, ResultFileError
from bioclf.io import write_text

START = "<!-- results-table:start -->"
END = "<!-- results-table:end -->"
HEADER = (
    "| result | test accuracy | target | paper | reproduce with |",
    "|---|---|---|---|---|",
)
METHODS = {"stdp": "STDP", "surrogate": "surrogate gradient", "ann": "ANN"}
DEFAULT_COMMAND = "`make reproduce`"
#: The test images the README's table is about ("Test accuracy on the 10,000 MNIST test
#: images"): a figure from records of fewer says on how many.
MNIST_TEST = 10_000
OTHER_COLUMNS = ("what", "figure", "target", "anchor", "command")


def _refusal(path: Path, field: str | None, reason: str, written: bool) -> BioclfError:
    """The error naming `field` of the CSV file `path` (None: the file as a whole): a
    `ResultFileError` where the file is `written` by the pipeline (``metrics.csv``: its task
    writes it again), else a `ConfigError` (``targets.csv``, ``other_runs.csv``: rows typed by
    hand)."""
    if written:
        return ResultFileError(path, reason, field)
    return ConfigError(path, field or "(file)", reason)


def _read(path: Path, required: tuple[str, ...], written: bool = False) -> list[dict[str, str]]:
    """The rows of the CSV file `path` (none where it is absent), each with the `required`
    columns; refused (`_refusal`: `written` by the pipeline or by hand) where one lacks them."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []  # (read here: with no rows, read when asked)
        rows = list(reader)
    missing = [c for c in required if c not in header]
    if missing:  # (a file without rows would otherwise give a table without them, silently)
        reason = "column missing (header, line 1)" if header else "empty file: no header line"
        raise _refusal(path, missing[0], reason, written)
    for number, row in enumerate(rows, start=2):
        missing = [c for c in required if c not in row or row[c] is None]
        if missing:
            raise _refusal(path, missing[0], f"column missing (line {number})", written)
        if None in row:  # csv.DictReader's key for fields beyond the header
            raise _refusal(
                path,
                f"line {number}",
                f"{len(row) - 1 + len(row[None])} fields for {len(row) - 1} columns "
                "(a comma in an unquoted field? quote it)",
                written,
            )
    return rows


def _number(text: str | None) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.2f}".rstrip("0").rstrip(".") + "%"  # 86.31%, 82.9%, 85%


def _cell(text: str | None) -> str:
    text = (text or "").strip().replace("|", "\\|")
    return text or "—"


def _seed_key(seed: str):
    """Seeds in numeric order (``2`` before ``10``), any other text after them."""
    number = _number(seed)
    return (number is None, number if number is not None else 0, seed)


def _measured(value: float) -> str:
    """A measured accuracy with two decimals, as 10,000 test images resolve it (97.50%, not
    97.5%: seeds listed side by side line up)."""
    return f"{100 * value:.2f}%"


def _over_seeds(values: list[tuple[str, float]], name_seed: bool = True) -> str:
    """A figure over `values` (seed, accuracy): one seed's value (`name_seed`: and which), or
    the mean of several with every seed's value, never the best alone (a best of N reads as
    what one run gives)."""
    if len(values) == 1:
        seed, value = values[0]
        return f"**{_measured(value)}**" + (f" (seed {seed})" if name_seed else "")
    values = sorted(values, key=lambda v: _seed_key(v[0]))
    mean = sum(v for _, v in values) / len(values)
    each = " / ".join(_measured(v).rstrip("%") for _, v in values)
    seeds = " / ".join(s for s, _ in values)
    return f"**{_measured(mean)}** mean of {len(values)} seeds ({each}%, seeds {seeds})"


def _on_fewer(runs: list[dict[str, str]], column: str, metrics: Path, label: str) -> str:
    """``, on 500 test images`` where the `runs` (rows of `metrics`) were tested on other than
    the `MNIST_TEST` images (their `column`, where `metrics` has it: a file written before it
    had one says nothing); refused where they were tested on different numbers."""
    sizes = {int(n) for r in runs if (n := _number(r.get(column))) is not None}
    if len(sizes) > 1:
        raise ResultFileError(
            metrics,
            f"{label}: seeds tested on {' and '.join(f'{n:,}' for n in sorted(sizes))} "
            "images: a mean over different test sets is meaningless",
            column,
        )
    return _on_images(sizes.pop() if sizes else MNIST_TEST)


def _on_images(n_test: int) -> str:
    """What a figure on `n_test` test images adds to say so: nothing for all `MNIST_TEST`."""
    return "" if n_test == MNIST_TEST else f", on {n_test:,} test images"


def default_rows(metrics: Path, targets: Path) -> list[tuple[str, ...]]:
    """One row per (method, network) of `metrics`: its accuracy (the mean over seeds, with
    every seed's), target, anchor; and a row of the same networks run in Brian2."""
    goal = {
        (t["method"], t["network"]): _number(t["target"])
        for t in _read(targets, ("method", "network", "target"))
    }
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in _read(metrics, ("method", "network", "accuracy"), written=True):
        if _number(row["accuracy"]) is not None:
            groups.setdefault((row["method"], row["network"]), []).append(row)
    rows = []
    for (method, network), runs in groups.items():
        first = runs[0]
        backends = sorted({r["backend"] for r in runs if r.get("backend")})
        label = f"{METHODS.get(method, method)}, {network}"
        if backends:
            label += f" ({', '.join(backends)})"
        accuracy = [(r.get("seed") or "?", _number(r["accuracy"])) for r in runs]
        target = goal.get((method, network))
        rows.append(
            (
                label + ", default run",
                _over_seeds(accuracy) + _on_fewer(runs, "n_test", metrics, label),
                "—" if target is None else f"≥ {_percent(target)}",
                _percent(_number(first.get("anchor_accuracy"))),
                DEFAULT_COMMAND,
            )
        )
        # Brian2 against PyTorch on the same seeds (a seed without a Brian2 run is left out)
        brian2 = [_number(r.get("brian2_accuracy")) for r in runs]
        pairs = [(s, a, b) for (s, a), b in zip(accuracy, brian2, strict=True) if b is not None]
        if method != "stdp" and pairs:  # STDP runs in Brian2 already
            torch = sum(a for _, a, _ in pairs) / len(pairs)
            rows.append(
                (
                    f"the same trained network run in Brian2 ({network})",
                    _over_seeds([(s, b) for s, _, b in pairs], name_seed=False)
                    + _on_fewer(runs, "brian2_n_samples", metrics, f"{label} in Brian2"),
                    f"within 1 point of {_percent(torch)}",
                    "—",
                    DEFAULT_COMMAND,
                )
            )
    return rows


#: A figure whose headline (its bold part) is a best over runs: ``**88.44%** best (...)``,
#: ``**86.31%**, best of 2 runs`` (the form this table had), ``**best: 88.44%**``.
BEST_HEADLINE = re.compile(
    r"^\s*\*\*(?:[^*]*\bbest\b[^*]*\*\*|[^*]+\*\*[\s,;:(\u2013\u2014-]*best\b)", re.IGNORECASE
)


def other_rows(others: Path, runs: Path | None = None) -> list[tuple[str, ...]]:
    """The rows of `others` (``other_runs.csv``), refused where a figure's headline is the best
    of several runs: a best of N reads as what one run gives, so over seeds the mean leads.

    A row whose ``runs`` names records of `runs` (default: ``runs.jsonl`` beside `others`)
    gets its figure from them (`records_figure`); the file is read only if a row names runs.
    """
    rows = _read(others, OTHER_COLUMNS)
    runs = others.with_name("runs.jsonl") if runs is None else runs
    records = None
    for number, row in enumerate(rows, start=2):
        if (row.get("runs") or "").strip():
            if records is None:
                records = _records(runs, others, number)
            row["figure"] = records_figure(row, records, others, number)
        elif BEST_HEADLINE.match(row["figure"]):
            raise ConfigError(
                others,
                "figure",
                f"line {number}: its headline is a best over runs; give the mean first, then "
                "every run's figure",
            )
    return [tuple(r[c] for c in OTHER_COLUMNS) for r in rows]


def _records(runs: Path, others: Path, line: int) -> dict[str, dict]:
    """The records of `runs`, which line `line` of `others` needs."""
    if not runs.is_file():
        raise ConfigError(others, "runs", f"line {line}: names runs, but {runs} is not found")
    return run_records.load(runs)


def records_figure(row: dict[str, str], records: dict[str, dict], others: Path, line: int) -> str:
    """The figure of `row` (line `line` of `others`) from the `records` its ``runs`` names:
    the mean over their seeds, each seed's test accuracy (`_over_seeds`), and their test size
    where it is not `MNIST_TEST` (``, on 5,000 test images``).

    Raises
    ------
    ConfigError
        Naming `others`, the line and the field: a figure given as well (one way to give
        it), a name without a record, two records of one seed, a record whose command is not
        the row's (with its seed for ``S``; ``OUT`` any token), records of different test
        sizes (``n_test``: a mean over them is no one test set's accuracy).
    """
    if row["figure"].strip():
        raise ConfigError(
            others,
            "figure",
            f"line {line}: given with 'runs' (one way to give a figure: leave it empty, it is "
            "computed from the runs' records)",
        )
    template = run_records.tokens(row["command"].replace("`", ""), others, "command", line)
    seeds: dict[int, str] = {}
    for name in row["runs"].split():
        if name not in records:
            raise ConfigError(others, "runs", f"line {line}: no record named {name!r}")
        record = records[name]
        if record["seed"] in seeds:
            raise ConfigError(
                others,
                "runs",
                f"line {line}: {seeds[record['seed']]!r} and {name!r} are both of seed "
                f"{record['seed']}",
            )
        seeds[record["seed"]] = name
        command = shlex.split(record["command"])  # (checked on load)
        if not run_records.matches(template, command, record["seed"]):
            raise ConfigError(
                others,
                "command",
                f"line {line}: not the command of record {name!r} ({record['command']}) "
                f"with S = {record['seed']}",
            )
    names = list(seeds.values())
    n_test = _test_size([records[n] for n in names], others, line)
    figure = _over_seeds([(str(records[n]["seed"]), records[n]["test_accuracy"]) for n in names])
    return figure + _on_images(n_test)


def _test_size(records: list[dict], others: Path, line: int) -> int:
    """The ``n_test`` that all `records` (named by line `line` of `others`) share."""
    first = records[0]
    for record in records[1:]:
        if record["n_test"] != first["n_test"]:
            raise ConfigError(
                others,
                "runs",
                f"line {line}: {first['name']!r} was tested on {first['n_test']:,} images, "
                f"{record['name']!r} on {record['n_test']:,} (n_test): a mean over "
                "different test sets is meaningless",
            )
    return first["n_test"]


def table(metrics: Path, targets: Path, others: Path, runs: Path | None = None) -> str:
    """The markdown table for `metrics`, `targets`, `others` and the `runs` records it names
    (default: ``runs.jsonl`` beside `others`; see the module docstring)."""
    rows = default_rows(metrics, targets)
    rows += other_rows(others, runs)
    lines = list(HEADER)
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def replace_block(text: str, block: str, path: Path) -> str:
    """`text` with the part between the markers replaced by `block`."""
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise ConfigError(path, START, f"markers '{START}' ... '{END}' not found")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}\n{END}{tail}"


def check_default_configuration(report: Path) -> None:
    """Refuse results that another configuration produced: the table calls its rows the
    default run's (`make reproduce`), on MNIST. `report` (``results/report.md``) names the
    configuration and the data set; results without a report are not checked."""
    if not report.exists():
        return
    text = report.read_text()
    data = re.search(r"^Data set: `([^`]+)`", text, flags=re.M)
    if data is not None and data[1].lower() != "mnist":
        raise ResultFileError(
            report,
            f"results/metrics.csv comes from the data set {data[1]}, but the README's table "
            "gives accuracies on the MNIST test images",
            "data.name",
        )
    match = re.search(r"^- configuration: `([^`]+)`", text, flags=re.M)
    if match is None:
        return
    used = Path(match[1])
    if (used.parent.name, used.name) != ("config", "config.yaml"):
        raise ResultFileError(
            report,
            f"results/metrics.csv comes from {used}, not config/config.yaml, but the table "
            "calls its rows the default run's: run `make run` (the default) first",
            "configuration",
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog=tasks.prog(),
        description="Rewrite the results table in README.md from results/metrics.csv, "
        "results/targets.csv and results/other_runs.csv (with the records of "
        "results/runs.jsonl that its rows name).",
    )
    p.add_argument(
        "--readme", type=Path, default=Path("README.md"), help="file to update (default: README.md)"
    )
    p.add_argument(
        "--results", type=Path, default=Path("results"), help="results directory (default: results)"
    )
    p.add_argument(
        "--check", action="store_true", help="only check; exit 1 if the table is out of date"
    )
    args = p.parse_args(argv)
    sources = [args.results / f for f in ("metrics.csv", "targets.csv", "other_runs.csv")]
    if not args.readme.is_file():
        raise ConfigError(args.readme, "(file)", "not found (the file that holds the table)")
    for path in sources:
        # a missing file would otherwise give a table without its rows, written over the
        # README's as if the results had none
        if not path.is_file():  # (metrics.csv written by the pipeline, the others by hand)
            reason = "not found (the README's table is made from it)"
            raise _refusal(path, None, reason, written=path == sources[0])
    check_default_configuration(args.results / "report.md")
    block = table(*sources)
    text = args.readme.read_text()
    updated = replace_block(text, block, args.readme)
    if args.check:
        if updated != text:
            print(f"{args.readme}: results table out of date (run make readme)")
            return 1
        return 0
    if updated != text:
        write_text(args.readme, updated)
        print(f"updated the results table in {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
