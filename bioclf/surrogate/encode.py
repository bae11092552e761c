"""Fast version of the shared rate encoder for training batches.

`bioclf.encoding.bernoulli_spikes` hashes every (step, sample, pixel) triple in 64-bit
arithmetic. This computes the very same spikes (tested bit for bit) with two shortcuts: a pixel
of probability 0 never fires, so only the nonzero pixels (about a fifth of an MNIST image) are
hashed, and the hash runs in native uint32 arithmetic, whose wrap-around is the mod 2**32 the
hash is defined with.
"""

from __future__ import annotations

import numpy as np
import torch

from bioclf.encoding import hashrng

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
