"""Atomic file writes (a killed run never leaves a half-written output behind) and digests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np


def save_npz(path: str | Path, **arrays) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def save_npy(path: str | Path, array) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def write_json(path: str | Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_default) + "\n")
    os.replace(tmp, path)


def set_aside(path: str | Path) -> Path:
    """Rename `path` to ``NAME.stale.SUFFIX`` (``NAME.stale2.SUFFIX``, ... if taken); return it."""
    path = Path(path)
    target, n = path.with_name(f"{path.stem}.stale{path.suffix}"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.stem}.stale{n}{path.suffix}")
    os.replace(path, target)
    return target


def load_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def digest(*parts) -> str:
    """SHA-256 of strings and arrays (by dtype, shape and bytes), for telling runs apart."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(f"{part.dtype.str}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()
