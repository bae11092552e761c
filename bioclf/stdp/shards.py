"""Label assignment and test responses split into shards of samples, and merged back.

With ``stdp.protocol.reset_between_samples`` every presentation of a frozen run starts from the
same state, so the response to a sample depends on that sample alone (and its input spikes,
keyed on its position in the split). Shard k of K then simulates the samples
``[k*n//K, (k+1)*n//K)`` as an independent job, and concatenating the shards' rows gives the
responses of the whole run bit for bit: only the wall times differ (the merge sums them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioclf.errors import ConfigError, ResultFileError
from bioclf.io import load_arrays

#: File a label-assignment shard writes, and the merge concatenates.
ASSIGN_RECORDS = "assign_records.npz"


def bounds(n: int, shard: int, shards: int) -> tuple[int, int]:
    """First and one-past-last sample of `shard` (0-based) of `shards` over `n` samples."""
    return shard * n // shards, (shard + 1) * n // shards


def check_config(cfg: dict, path, shards: int | None = None) -> None:
    """More than one shard gives the responses of one run only if every sample starts from the
    same state: refuse `shards` (default: ``stdp.shards``) > 1 without
    ``stdp.protocol.reset_between_samples``."""
    stdp = cfg.get("stdp", {})
    shards = int(stdp.get("shards", 1)) if shards is None else shards
    reset = stdp.get("protocol", {}).get("reset_between_samples", False)
    if shards > 1 and not reset:
        raise ConfigError(
            path,
            "stdp.shards",
            f"{shards} shards need stdp.protocol.reset_between_samples: true "
            "(otherwise a sample's response depends on the samples before it)",
        )


def record(run: str, lo: int, hi: int, total: int) -> dict[str, np.ndarray]:
    """What a shard saves beside its responses, for `concatenate` to check: its samples
    ``[start, stop)`` = [`lo`, `hi`) of the ``total`` samples of the whole run, and ``run``,
    the identity of that run (`bioclf.stdp.frozen.results_identity`: the trained network, the
    settings it was run with, the split and all the run's samples), which the unsharded run
    records too."""
    return {
        "start": np.array(lo),
        "stop": np.array(hi),
        "total": np.array(total),
        "run": np.array(run),
    }


#: What `record` adds to a shard's arrays: checked by `concatenate`, not merged (but ``run``,
#: the same in all of them, is kept).
RECORD_KEYS = ("start", "stop", "total", "run")


def concatenate(parts: list[Path], name: str) -> dict[str, np.ndarray]:
    """The arrays `name` of the shard directories `parts`, in order, joined into one run's.

    Per-sample arrays are concatenated; the spike totals (``spikes``) and ``wall_time_s`` are
    summed. The shards must be of one run (``run``, ``total``: `record`) and cover its samples
    0..total exactly once, in order, as `bounds` makes them: a missing, repeated or misplaced
    shard, or one of another trained network or settings, is refused naming its file. The
    joined arrays keep the shards' ``run``, for `bioclf.stdp.evaluate` to check.
    """
    files = [Path(p) / name for p in parts]
    # (a file without its range, e.g. an unsharded run's, is refused naming it)
    loaded = [load_arrays(f, keys=RECORD_KEYS) for f in files]
    run, total, position = str(loaded[0]["run"]), int(loaded[0]["total"]), 0
    for file, arrays in zip(files, loaded, strict=True):
        start, stop = int(arrays["start"]), int(arrays["stop"])
        if int(arrays["total"]) != total:
            raise ResultFileError(
                file, f"is a shard of {int(arrays['total'])} samples, {files[0]} of {total}"
            )
        if str(arrays["run"]) != run:
            raise ResultFileError(
                file,
                f"is a shard of another run than {files[0]} (another trained network, or "
                "other model files, protocol, N, seed, backend or samples)",
            )
        if start < position:
            raise ResultFileError(
                file, f"starts at sample {start}, inside the shards before it (up to {position})"
            )
        if start > position:
            raise ResultFileError(
                file,
                f"starts at sample {start}: samples {position} to {start - 1} are in no shard "
                "before it (a shard missing, or the shards not in order)",
            )
        position = stop
    if position != total:
        raise ResultFileError(
            files[-1],
            f"is the last shard given and ends at sample {position} of {total}: "
            "the shards after it are missing",
        )
    merged = {"run": loaded[0]["run"]}
    for key in loaded[0]:
        if key in RECORD_KEYS:
            continue
        values = [arrays[key] for arrays in loaded]
        if key in ("spikes", "wall_time_s"):
            merged[key] = np.sum(values, axis=0)
        else:
            merged[key] = np.concatenate(values)
    return merged
