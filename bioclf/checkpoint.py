"""A checkpoint is resumed only by the run that wrote it (STDP and surrogate training alike).

A run is identified by what determines its results (model files' content, options, seed, code
version, samples), each as a string or number. A checkpoint left by a run of something else --
an equation file edited since, an option changed, as when the pipeline reruns a finished job --
is moved aside (``NAME.stale.SUFFIX``) and the run starts over, rather than mixing two runs.

With the environment variable ``BIOCLF_FRESH=1`` (set by ``make reproduce``) every checkpoint is
moved aside the same way: a run that finished before would otherwise resume from its complete
checkpoint and report its old results instead of computing them again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from bioclf.io import set_aside


def changes(saved: Mapping[str, object] | None, now: Mapping[str, object]) -> list[str]:
    """The entries of `now` that differ in `saved`, in `now`'s order, then those that only
    `saved` has (none: resume). An entry present only where a setting is not its default (the
    STDP protocol's ``encoding`` and ``reset_between_samples``) counts where either has it.

    `saved` is None for a checkpoint written before runs were identified (unknown origin).
    """
    if saved is None:
        return ["unknown, an older checkpoint"]
    return [key for key, value in now.items() if saved.get(key) != value] + [
        key for key in saved if key not in now
    ]


def fresh() -> bool:
    """Whether ``BIOCLF_FRESH`` asks for every checkpoint to be moved aside."""
    return os.environ.get("BIOCLF_FRESH", "") not in ("", "0")


def read(path: Path, reader: Callable, errors: tuple, log: Callable[[str], None], label: str = ""):
    """``reader(path)``; if that raises one of `errors` the checkpoint is moved aside, `log`
    says so, and None is returned (the run starts over). Checkpoints are written atomically, so
    only a damaged disk or a file copied in gets here."""
    try:
        return reader(path)
    except errors as exc:
        stale = set_aside(path)
        log(f"{label}{path} cannot be read ({type(exc).__name__}); moved to {stale.name}, "
            "starting over")  # fmt: skip
        return None


def resumable(
    path: Path,
    saved: Mapping[str, object] | None,
    now: Mapping[str, object],
    log: Callable[[str], None],
    label: str = "",
) -> bool:
    """Whether the checkpoint at `path`, written by run `saved`, may be resumed by run `now`.

    If not, it is moved aside and `log` says what changed; `label` prefixes that message.
    """
    changed = changes(saved, now)
    if not changed and not fresh():
        return True
    stale = set_aside(path)
    why = (
        f"was written by another run (changed: {', '.join(changed)})"
        if changed
        else "is not resumed (BIOCLF_FRESH is set)"
    )
    log(f"{label}{path} {why}; moved to {stale.name}, starting over")
    return False
