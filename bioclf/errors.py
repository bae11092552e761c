"""Exceptions raised for bad user input.

Every error a user can cause (an equation file, a data file, a configuration value, a file an
earlier task wrote) is a `BioclfError`; the command-line entry points print its message and
exit with status 2, so a traceback is only ever shown for a bug in bioclf itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


class BioclfError(Exception):
    """Base class of the errors caused by bad input."""


class InputFileError(BioclfError):
    """A problem in a named field of a user-supplied file.

    Parameters
    ----------
    path : str or Path
        The file.
    field : str
        The field (key, variable or section) that is wrong.
    reason : str
        What is wrong, including the underlying library's message where there is one.
    """

    kind = "file"

    def __init__(self, path: str | Path, field: str, reason: str):
        self.path = str(path)
        self.field = field
        self.reason = reason
        super().__init__(f"{self.kind} {self.path}: field '{field}': {reason}")


class EquationFileError(InputFileError):
    """An equation file in ``equations/`` is malformed or inconsistent."""

    kind = "equation file"


class ConfigError(InputFileError):
    """A configuration value is missing or invalid."""

    kind = "configuration"


#: The path of a `ConfigError` raised by code that has the configuration but not its file:
#: the task's ``--config`` file, which `bioclf.tasks.run` then names in the message (a name
#: no configuration file has: one named ``config`` is named as it is).
THE_CONFIGURATION = "<config>"


class DataError(BioclfError):
    """A data file is missing, truncated, corrupt or fails its checksum."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"data file {self.path}: {reason}")


class ResultFileError(BioclfError):
    """A file an earlier task or the pipeline wrote (a trained network, responses, a
    checkpoint, ``results/metrics.csv``, a record of ``results/runs.jsonl``) is missing,
    truncated, not of its kind or does not fit this run.

    Such a file is never refused with a `ConfigError`, whose message calls it a configuration:
    the user did not write it, and running its task again rewrites it.

    Parameters
    ----------
    path : str or Path
        The file.
    reason : str
        What is wrong.
    field : str, optional
        The field (column, key, array or line) that is wrong, named in the message where
        given: ``results/metrics.csv: field 'n_test': ...``.
    """

    def __init__(self, path: str | Path, reason: str, field: str | None = None):
        self.path = str(path)
        self.reason = reason
        self.field = field
        where = self.path if field is None else f"{self.path}: field '{field}'"
        super().__init__(f"{where}: {reason}")


@contextmanager
def options_of_result(path: str | Path) -> Iterator[None]:
    """Report a `ConfigError` naming `path` as the `ResultFileError` it is: the options that a
    task saved in its output (``model.pt``'s, ``metrics.json``'s ``config``), checked by the
    code that checks a configuration's. One naming another file (the command line's option)
    passes unchanged."""
    try:
        yield
    except ConfigError as exc:
        if exc.path != str(path):
            raise
        raise ResultFileError(path, exc.reason, exc.field) from None


class UnsupportedConstructError(EquationFileError):
    """An equation file uses something the PyTorch compiler cannot translate."""


def closest(name: str, names: Iterable[str], fuzzy: bool = True) -> list[str]:
    """The names of `names` that `name` may be a typo of, for an error's "did you mean": `name`
    itself where it is one of them, else those that differ from it in case only (``mv``:
    ``mV``; ``mohm``: ``Mohm`` and ``mohm``), else, where `fuzzy`, the closest in spelling
    (``msec``: ``msecond``); none where nothing is close."""
    names = list(names)
    if name in names:
        return [name]
    same = [n for n in names if n.lower() == name.lower()]
    if same or not fuzzy:
        return same
    return difflib.get_close_matches(name, names, n=1)


def did_you_mean(unknown: Iterable[str], names: Iterable[str], fuzzy: bool = True) -> str:
    """The hint ``" (did you mean xpre?)"`` after an error about the names `unknown`: for each,
    the names of `names` it may be a typo of (`closest`), ``" (did you mean mV for mv; msecond
    for msec?)"`` where several are unknown; ``""`` where none is close."""
    unknown, names = list(unknown), list(names)
    guesses = [(name, close) for name in unknown if (close := closest(name, names, fuzzy))]
    if not guesses:
        return ""
    if len(unknown) == 1:
        return f" (did you mean {' or '.join(guesses[0][1])}?)"
    each = [" or ".join(close) + f" for {name}" for name, close in guesses]
    return f" (did you mean {'; '.join(each)}?)"
