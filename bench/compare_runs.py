"""Compare the outputs of two pipeline runs, timings and provenance set aside.

    python bench/compare_runs.py RUN_A/results RUN_B/results [-v]

Checks the promise that results are reproducible from the seed (docs/usage.md,
"Reproducibility"): two runs of one configuration, on one machine with the same threads, must
agree in everything but how long they took and where and when they ran. Every file under the
two folders is compared by its kind:

- ``.npy`` and ``.npz``: every array bit for bit (dtype, shape and bytes);
  an array that holds a JSON text (a checkpoint's ``costs``) is compared as JSON;
- ``.pt`` (``torch.load(weights_only=True)``): every tensor bit for bit, every other value equal;
- ``.json`` and ``.jsonl``: field by field;
- ``.csv``: row by row, column by column;
- ``.md``: line by line; in a table, cell by cell;
- ``.png``: byte for byte, a difference reported as a note, not a failure (the figure's image
  data may agree while matplotlib's metadata does not);
- other files: byte for byte.

Set aside (not compared; the fields met are listed at the end, with whether they differed):

- fields, keys and columns that measure the run or say where and when it ran: ``provenance``
  (date, machine, processor, versions, commit), ``date``, ``machine``, ``peak_memory``,
  ``seconds``, ``wall``, ``samples_per_second`` and names ending in ``_seconds``, ``_time_s``,
  ``_samples_per_s``, ``_ms_per_sample`` or ``_mb`` (wall and build times, speeds, memory);
- the report's table columns of training time, samples/s and ms/sample, and its lines that say
  where and when the results were computed and the report rendered;
- Snakemake's ``benchmarks/`` files (every column is a measurement of the job) and ``.log``
  files (progress lines with speeds and elapsed times; their results are in the metrics files);
- checkpoints moved aside (``checkpoint.stale.npz``, ...: a previous run's, which a run with
  ``BIOCLF_FRESH=1`` leaves beside its own), in either run or both.

``.pt`` files are never byte-identical (torch writes the name of the temporary file and a
serialization id into the archive); their contents are compared.

Exit status: 0 when the runs agree, 1 when a file differs or is in one run only, 2 when a
folder is missing.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from pathlib import Path

import numpy as np

# Names of fields that measure a run (time, speed, memory) or say where and when it ran.
TIMING_NAMES = {
    "provenance",
    "date",
    "machine",
    "peak_memory",
    "seconds",
    "wall",
    "samples_per_second",
}
TIMING_SUFFIXES = ("_seconds", "_time_s", "_samples_per_s", "_ms_per_sample", "_mb")
# Headers of the report's timing columns, and the starts of its provenance lines.
TIMING_HEADERS = re.compile(r"time \(s\)|samples/s|ms/sample")
PROVENANCE_LINES = ("- computed on ", "- report rendered ")
# Files whose every value is a measurement of the job.
TIMING_DIRS = {"benchmarks"}
TIMING_EXTENSIONS = {".log"}
# A checkpoint that BIOCLF_FRESH=1 (or a changed option) moved aside (bioclf.io.set_aside): a
# previous run's, left beside the new run's outputs.
STALE = re.compile(r"\.stale\d*(\.[^.]+)?$")


def is_timing(name: str) -> bool:
    """Whether a field, key or column of this name is a timing or provenance field."""
    return (
        name in TIMING_NAMES
        or name.endswith(TIMING_SUFFIXES)
        or TIMING_HEADERS.search(name) is not None
    )


class Comparison:
    """The differences found, and the timing fields met (with whether they differed)."""

    def __init__(self) -> None:
        self.differences: list[str] = []
        self.set_aside: dict[str, bool] = {}

    def aside(self, name: str, differs: bool) -> None:
        self.set_aside[name] = self.set_aside.get(name, False) or differs

    def values(self, a: object, b: object, where: str) -> None:
        """Compare two decoded values (JSON, a checkpoint's contents) field by field."""
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                inner = f"{where}.{key}"
                if isinstance(key, str) and is_timing(key):
                    self.aside(key, key not in a or key not in b or not _equal(a[key], b[key]))
                elif key not in a or key not in b:
                    self.differences.append(f"{inner}: in one run only")
                else:
                    self.values(a[key], b[key], inner)
        elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            if len(a) != len(b):
                self.differences.append(f"{where}: length {len(a)} != {len(b)}")
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                self.values(x, y, f"{where}[{i}]")
        elif isinstance(a, np.ndarray) or _is_tensor(a):
            self.arrays(_numpy(a), _numpy(b), where)
        elif type(a) is not type(b) or not _same_scalar(a, b):
            self.differences.append(f"{where}: {_short(a)} != {_short(b)}")

    def arrays(self, a: object, b: object, where: str) -> None:
        """Compare two arrays bit for bit; one that holds a JSON text, as JSON."""
        if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
            self.differences.append(f"{where}: an array in one run only")
        elif _json(a) is not None and _json(b) is not None:
            # before the dtype: numpy sizes a text's dtype by its length ('<U41', '<U42')
            self.values(_json(a), _json(b), where)
        elif a.dtype != b.dtype or a.shape != b.shape:
            self.differences.append(
                f"{where}: {a.dtype}{list(a.shape)} != {b.dtype}{list(b.shape)}"
            )
        elif np.ascontiguousarray(a).tobytes() != np.ascontiguousarray(b).tobytes():
            # bytes, not values: -0.0 against 0.0, or NaNs of other bits, differ too
            unequal = int(np.sum(a != b))
            what = f"{unequal} of {a.size} values" if unequal else "the bits (not the values)"
            self.differences.append(f"{where}: {what} differ")


def _equal(a: object, b: object) -> bool:
    """Whether two set-aside values are equal (arrays too), for the summary only."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def _is_tensor(x: object) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "numpy")


def _numpy(x: object) -> object:
    """A tensor as a numpy array (bfloat16 by its bits), anything else as it is."""
    if not _is_tensor(x):
        return x
    x = x.detach().cpu()
    if str(x.dtype) == "torch.bfloat16":
        import torch

        return x.view(torch.int16).numpy()
    return x.numpy()


def _same_scalar(a: object, b: object) -> bool:
    if isinstance(a, float) and a != a:  # NaN equal to NaN
        return b != b
    return a == b


def _json(a: np.ndarray) -> object:
    """The JSON object or list a 0-d text array holds, else None."""
    if a.dtype.kind != "U" or a.ndim != 0:
        return None
    try:
        value = json.loads(str(a))
    except ValueError:
        return None
    return value if isinstance(value, (dict, list)) else None


def _short(x: object) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def compare_file(a: Path, b: Path, rel: str, comparison: Comparison) -> str:
    """Compare one file of each run; its verdict: 'same', 'differs', 'figure differs' or
    'set aside'. Differences are added to the comparison, prefixed with the file."""
    suffix = a.suffix.lower()
    if set(Path(rel).parts[:-1]) & TIMING_DIRS or suffix in TIMING_EXTENSIONS:
        return "set aside"
    found = Comparison()
    if suffix == ".png":
        return "same" if a.read_bytes() == b.read_bytes() else "figure differs"
    if suffix == ".npy":
        found.arrays(np.load(a, allow_pickle=False), np.load(b, allow_pickle=False), "")
    elif suffix == ".npz":
        with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
            found.values(dict(x), dict(y), "")
    elif suffix == ".pt":
        import torch

        found.values(torch.load(a, weights_only=True), torch.load(b, weights_only=True), "")
    elif suffix == ".json":
        found.values(json.loads(a.read_text()), json.loads(b.read_text()), "")
    elif suffix == ".jsonl":
        found.values(_json_lines(a), _json_lines(b), "")
    elif suffix in (".csv", ".tsv"):
        found.values(_table(a), _table(b), "")
    elif suffix == ".md":
        found.values(_markdown(a), _markdown(b), "")
    elif a.read_bytes() != b.read_bytes():
        found.differences.append(": bytes differ")
    for name, differs in found.set_aside.items():
        comparison.aside(name, differs)
    comparison.differences += [f"{rel}{d}" for d in found.differences]
    return "differs" if found.differences else "same"


def _json_lines(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _table(path: Path) -> list[dict]:
    """A CSV/TSV file's rows as dicts, under one key per column; timing columns by name."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows = list(csv.reader(io.StringIO(path.read_text()), delimiter=delimiter))
    if not rows:
        return []
    header = rows[0]
    return [header] + [
        dict(zip(header, row, strict=False)) | {" cells": len(row)} for row in rows[1:]
    ]


def _markdown(path: Path) -> list:
    """A Markdown file's lines, a table row as a dict by its table's header, and the lines of
    provenance (where and when it was computed and rendered) under the key 'provenance'."""
    out: list = []
    header: list[str] | None = None
    for line in path.read_text().splitlines():
        if line.startswith(PROVENANCE_LINES):
            out.append({"provenance": line})
            continue
        if not line.startswith("|"):
            header = None
            out.append(line)
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            out.append(line)
        else:
            out.append(dict(zip(header, cells, strict=False)) | {" cells": len(cells)})
    return out


def files(root: Path) -> list[str]:
    """The files under a folder, as paths relative to it, sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def compare_runs(a: Path, b: Path, verbose: bool = False, out=None) -> int:
    """Compare two runs' result folders and print the verdict (to `out`, standard output by
    default); the exit status."""
    out = sys.stdout if out is None else out
    comparison = Comparison()
    in_a, in_b = set(files(a)), set(files(b))
    verdicts: dict[str, list[str]] = {}
    for rel in sorted(in_a | in_b):
        if STALE.search(rel):
            verdict = "set aside"
        elif rel not in in_a or rel not in in_b:
            verdict = "only in " + ("A" if rel in in_a else "B")
            comparison.differences.append(f"{rel}: {verdict}")
        else:
            verdict = compare_file(a / rel, b / rel, rel, comparison)
        verdicts.setdefault(verdict, []).append(rel)
        if verbose:
            print(f"{verdict:15} {rel}", file=out)
    for line in comparison.differences:
        print(f"DIFFERS {line}", file=out)
    for rel in verdicts.get("figure differs", []):
        print(f"note: figure {rel} differs byte for byte (its metadata or its image)", file=out)
    counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(verdicts.items()))
    n_files = len(in_a | in_b)
    print(f"{n_files} file{'' if n_files == 1 else 's'}: {counts}", file=out)
    if comparison.set_aside:
        met = ", ".join(
            f"{k} ({'differs' if d else 'same'})" for k, d in sorted(comparison.set_aside.items())
        )
        print(f"set aside: {met}", file=out)
    print("runs agree" if not comparison.differences else "runs DIFFER", file=out)
    return 1 if comparison.differences else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python bench/compare_runs.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("a", type=Path, metavar="RESULTS_A", help="one run's results folder")
    p.add_argument("b", type=Path, metavar="RESULTS_B", help="the other run's results folder")
    p.add_argument("-v", "--verbose", action="store_true", help="print every file's verdict")
    args = p.parse_args(argv)
    for folder in (args.a, args.b):
        if not folder.is_dir():
            print(f"{folder}: not a folder", file=sys.stderr)
            return 2
    return compare_runs(args.a, args.b, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
