"""A checkpoint is resumed only by the run that wrote it (STDP and surrogate training alike).

A run is identified by what determines its results (model files' content, options, seed, code
version, samples), each as a string or number. A checkpoint left by a run of something else --
an equation file edited since, an option changed, as when the pipeline reruns a finished job --
is moved aside (``NAME.stale.SUFFIX``) and the run starts over, rather than mixing two runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from bioclf.io import set_aside


def changes(saved: Mapping[str, object] | None, now: Mapping[str, object]) -> list[str]:
    """The entries of `now` that differ in `saved`, in `now`'s order (none: resume).

    `saved` is None for a checkpoint written before runs were identified (unknown origin).
    """
    if saved is None:
        return ["unknown, an older checkpoint"]
    return [key for key, value in now.items() if saved.get(key) != value]


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
    if not changed:
        return True
    stale = set_aside(path)
    log(
        f"{label}{path} was written by another run (changed: {', '.join(changed)}); "
        f"moved to {stale.name}, starting over"
    )
    return False
