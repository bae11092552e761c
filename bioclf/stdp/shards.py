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

from bioclf.errors import ConfigError
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


def concatenate(parts: list[Path], name: str) -> dict[str, np.ndarray]:
    """The arrays `name` of the shard directories `parts`, in order, joined into one run's.

    Per-sample arrays are concatenated; the spike totals (``spikes``) and ``wall_time_s`` are
    summed. The shards must cover their samples contiguously from 0, as `bounds` makes them.
    """
    # (a file without its range, e.g. an unsharded run's, is refused naming it)
    loaded = [load_arrays(Path(p) / name, keys=("start", "stop")) for p in parts]
    position = 0
    for part, arrays in zip(parts, loaded, strict=True):
        start, stop = int(arrays["start"]), int(arrays["stop"])
        if start != position:
            raise ConfigError(part, "start", f"shard starts at sample {start}, not {position}")
        position = stop
    merged = {}
    for key in loaded[0]:
        if key in ("start", "stop"):
            continue
        values = [arrays[key] for arrays in loaded]
        if key in ("spikes", "wall_time_s"):
            merged[key] = np.sum(values, axis=0)
        else:
            merged[key] = np.concatenate(values)
    return merged
