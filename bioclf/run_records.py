"""Records of finished runs, one JSON object per line (``results/runs.jsonl``), for the README.

The README's rows over several seeds take their figures from these records
(`bioclf.readme_table`), so that no figure is typed by hand. A record is written by the run's
script (``bench/stdp_validate.py --record FILE``) or, for a run of another tool, by
``bench/record_run.py``. Its keys (others are free):

- ``name``: unique in the file, without spaces (``other_runs.csv`` separates names by spaces);
- ``seed`` (int), ``test_accuracy`` (number in [0, 1]), ``n_test`` (int, the test images);
- ``command``: the command that made the run, as typed from the repository root;
- ``commit``: the short git hash of the code that ran it, ``+dirty`` when the tracked files
  had changes (the record file and the outputs, `bioclf.tasks.OUTPUTS`, aside: appending a
  record, or a pipeline rewriting the committed results, makes no run dirty).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path

from bioclf import tasks
from bioclf.errors import ConfigError, ResultFileError

#: The path of a `ConfigError` about an environment variable (its field), as
#: ``(command line)`` is an option's.
ENVIRONMENT = "(environment)"
#: The keys every record has, with what each must be.
REQUIRED = ("name", "seed", "test_accuracy", "n_test", "command", "commit")
COMMIT = re.compile(r"[0-9a-f]{4,40}(\+dirty)?")


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def problem_with(key: str, value) -> str | None:
    """What is wrong with `value` as the record's `key`, or None."""
    if key == "name":
        if not isinstance(value, str) or not value or any(c.isspace() for c in value):
            return f"{value!r}: expected a non-empty string without spaces"
    elif key in ("seed", "n_test"):
        if not _integer(value) or (key == "n_test" and value <= 0):
            kind = "a positive integer" if key == "n_test" else "an integer"
            return f"{value!r}: expected {kind}"
    elif key == "test_accuracy":
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or not 0 <= value <= 1:
            return f"{value!r}: expected a number in [0, 1]"
    elif key == "command":
        if not isinstance(value, str) or not value.strip():
            return f"{value!r}: expected the command as a string"
        try:
            shlex.split(value)
        except ValueError as exc:  # (readme_table compares commands word by word)
            return f"{value!r}: {exc}"
    elif key == "commit":
        if not isinstance(value, str) or not COMMIT.fullmatch(value):
            return f"{value!r}: expected a short git hash, '+dirty' appended if so"
    return None


def check(record, path: Path, line: int) -> dict:
    """`record` (line `line` of `path`) if it has the keys of `REQUIRED`, each as it must be.

    Raises
    ------
    ResultFileError
        Naming `path`, the field and the line: not an object, a key missing or of a wrong type.
    """
    if not isinstance(record, dict):
        raise ResultFileError(path, f"{type(record).__name__}: expected an object", f"line {line}")
    for key in REQUIRED:
        if key not in record:
            raise ResultFileError(path, f"line {line}: missing", key)
        problem = problem_with(key, record[key])
        if problem:
            raise ResultFileError(path, f"line {line}: {problem}", key)
    return record


def load(path: Path) -> dict[str, dict]:
    """The records of `path` by name (blank lines skipped).

    Raises
    ------
    ResultFileError
        Naming `path`, the line and the field: bad JSON, a missing key, a wrong type, a name
        given twice.
    """
    records: dict[str, dict] = {}
    lines: dict[str, int] = {}
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ResultFileError(path, f"not JSON: {exc}", f"line {number}") from None
        check(record, path, number)
        name = record["name"]
        if name in records:
            raise ResultFileError(
                path, f"line {number}: {name!r} already names line {lines[name]}", "name"
            )
        records[name], lines[name] = record, number
    return records


def check_new(path: Path, name: str) -> None:
    """Refuse `name`, the command line's, where it is malformed (`ConfigError`), or `path` (if
    it exists) has it already (`ResultFileError`)."""
    problem = problem_with("name", name)
    if problem:  # (the record file is not at fault)
        raise ConfigError("(command line)", "name", problem)
    if path.exists() and name in load(path):
        raise ResultFileError(path, f"{name!r}: already recorded (one record per run)", "name")


def append(path: Path, record: dict) -> None:
    """Append `record` to `path` (created if absent), refused as `load` would refuse it."""
    existing = path.read_text() if path.exists() else ""
    check(record, path, len(existing.splitlines()) + 1)
    check_new(path, record["name"])
    lead = "\n" if existing and not existing.endswith("\n") else ""
    with open(path, "a") as f:
        f.write(lead + json.dumps(record) + "\n")


def commit(root: Path, record_file: Path | None = None) -> str:
    """The short git hash of HEAD at `root`, ``+dirty`` where a tracked file has changes
    (`record_file` and the checkout's outputs, `tasks.OUTPUTS`, aside); outside a git checkout
    ``BIOCLF_COMMIT`` if set (`tasks.code_commit`).

    Raises
    ------
    ConfigError
        Naming the environment variable ``BIOCLF_COMMIT`` (`ENVIRONMENT`): neither git nor it
        says which code runs, or it is no short git hash (refused here, before a run, not when
        its record is appended at the end).
    """
    ignore = (*tasks.OUTPUTS, *([Path(record_file).resolve()] if record_file else []))
    head = tasks.code_commit(root, ignore)
    if not head:
        raise ConfigError(
            ENVIRONMENT,
            "BIOCLF_COMMIT",
            f"unset, and {Path(root).resolve()} is no git checkout: a record names the code "
            "that ran",
        )
    problem = problem_with("commit", head)
    if problem:
        raise ConfigError(ENVIRONMENT, "BIOCLF_COMMIT", problem)
    return head


def tokens(command: str, path: Path, field: str, line: int) -> list[str]:
    """`command` split as the shell splits it; unbalanced quotes refused (`path`, `field`)."""
    try:
        return shlex.split(command)
    except ValueError as exc:
        raise ConfigError(path, field, f"line {line}: {command!r}: {exc}") from None


#: The token a row's command writes for the seed: ``S`` alone, or ending a token (``sS``,
#: ``n400p_sS``) after a character that is not a capital (``BIAS`` keeps its S).
SEED_TOKEN = re.compile(r"(?:|.*[^A-Z])S")
#: The token a row's command writes for an output directory: any token matches it.
ANY_TOKEN = "OUT"


def matches(template: list[str], command: list[str], seed: int) -> bool:
    """Whether `command` (tokens) is `template` (tokens) with `seed` for its seed tokens
    (`SEED_TOKEN`) and anything for ``OUT``."""
    if len(template) != len(command):
        return False
    for want, got in zip(template, command, strict=True):
        if want == ANY_TOKEN:
            continue
        if SEED_TOKEN.fullmatch(want):
            want = want[:-1] + str(seed)
        if want != got:
            return False
    return True
