"""Input spikes of the surrogate-gradient networks: rate or latency code, per run.

`spike_input` is the one entry point (training, evaluation and the Brian2 export call it); it
reads the run's ``encoding`` (``rate``, the default of runs that predate the option, or
``latency``, `bioclf.encoding.latency`).

The rest is a fast version of the shared rate encoder for training batches.

`bioclf.encoding.bernoulli_spikes` hashes every (step, sample, pixel) triple in 64-bit
arithmetic. This computes the very same spikes (tested bit for bit) with two shortcuts: a pixel
of probability 0 never fires, so only the nonzero pixels (about a fifth of an MNIST image) are
hashed, and the hash runs in native uint32 arithmetic, whose wrap-around is the mod 2**32 the
hash is defined with.
"""

from __future__ import annotations

import numpy as np
import torch

from bioclf.encoding import ENCODINGS, hashrng, latency_spikes, spike_probability, stream_keys

_M1 = np.uint32(hashrng.M1)
_M2 = np.uint32(hashrng.M2)


def _mix32(x: np.ndarray) -> np.ndarray:
    """lowbias32 on a uint32 array (in place)."""
    x ^= x >> np.uint32(16)
    x *= _M1
    x ^= x >> np.uint32(15)
    x *= _M2
    x ^= x >> np.uint32(16)
    return x


def encode(p: np.ndarray, keys: np.ndarray, n_steps: int) -> np.ndarray:
    """Spike trains ``(n_steps, batch, n)`` (bool), equal to ``bernoulli_spikes(p, keys, T)``.

    Parameters
    ----------
    p : ndarray (batch, n)
        Per-step firing probabilities (any float dtype; compared in float64, as there).
    keys : ndarray (batch,)
        Stream keys (`bioclf.encoding.stream_keys`).
    n_steps : int
    """
    p = np.atleast_2d(p)
    keys = (np.atleast_1d(keys).astype(np.uint64) & np.uint64(hashrng.MASK)).astype(np.uint32)
    steps = _mix32(np.arange(n_steps, dtype=np.uint32))
    step_keys = _mix32(keys[None, :] ^ steps[:, None])  # (T, B)
    b_idx, i_idx = np.nonzero(p > 0)
    out = np.zeros((n_steps,) + p.shape, dtype=bool)
    if len(b_idx):
        u = _mix32(step_keys[:, b_idx] ^ i_idx.astype(np.uint32)[None, :])
        # u * 2**-32 < p  <=>  u < p * 2**32 (both exact in float64)
        out[:, b_idx, i_idx] = u < (p[b_idx, i_idx].astype(np.float64) * 2.0**32)[None, :]
    return out


def encode_torch(p: np.ndarray, keys: np.ndarray, n_steps: int, dtype=torch.float32):
    """`encode` as a float tensor (T, B, n)."""
    return torch.from_numpy(encode(p, keys, n_steps)).to(dtype)


def spike_input(x01: np.ndarray, indices, cfg: dict, split: str, epoch: int = 0):
    """Input spikes (T, B, 784) float32 of images in [0, 1] with the run's code.

    Parameters
    ----------
    x01 : ndarray (B, 784)
        Intensities in [0, 1].
    indices : array (B,)
        Sample indices within `split` (keys of the rate code's random streams).
    cfg : dict
        The run's options: ``T``, ``dt`` (s), ``max_rate`` (Hz), ``seed`` and ``encoding``
        (absent: rate). The latency code uses only ``T``: its window is the T steps.
    split, epoch
        Keep the rate code's streams of different splits and epochs independent.
    """
    encoding = cfg.get("encoding", "rate")
    if encoding == "latency":
        return torch.from_numpy(latency_spikes(x01, cfg["T"])).to(torch.float32)
    if encoding != "rate":
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    p = spike_probability(x01, cfg["max_rate"], cfg["dt"]).astype(np.float32)
    keys = stream_keys(cfg["seed"], split, indices, epoch=epoch)
    return encode_torch(p, keys, cfg["T"])
