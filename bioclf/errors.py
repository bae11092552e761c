"""Exceptions raised for bad user input.

Every error a user can cause (an equation file, a data file, a configuration value) is a
`BioclfError`; the command-line entry points print its message and exit with status 2, so a
traceback is only ever shown for a bug in bioclf itself.
"""

from __future__ import annotations

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
#: the task's ``--config`` file, which `bioclf.tasks.run` then names in the message.
THE_CONFIGURATION = "config"


class DataError(BioclfError):
    """A data file is missing, truncated, corrupt or fails its checksum."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"data file {self.path}: {reason}")


class ResultFileError(BioclfError):
    """A file an earlier task wrote (a trained network, responses, a checkpoint) is missing,
    truncated or not of its kind."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UnsupportedConstructError(EquationFileError):
    """An equation file uses something the PyTorch compiler cannot translate."""
