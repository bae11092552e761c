"""Rate coding of pixel intensities into spike trains, for both simulators.

A pixel of intensity x in [0, 1] fires in each time step of length dt with probability
``p = x * max_rate * dt`` (a Bernoulli process, the discrete-time Poisson process that Brian2's
``PoissonGroup`` also simulates). The uniform numbers come from `bioclf.encoding.hashrng`,
keyed on (stream, step, pixel), so the numpy, PyTorch and in-network Brian2 encoders emit the
very same spikes for the same stream key.

Stream keys identify one presentation of one sample: see `stream_keys`.
"""

from __future__ import annotations

import numpy as np

from bioclf.encoding import hashrng

#: Tags that keep the spike trains of different data splits independent.
SPLIT_TAGS = {"train": 1, "test": 2, "assign": 3}


def spike_probability(images, max_rate_hz: float, dt_s: float):
    """Per-step firing probability of each pixel (numpy or torch, same type out).

    Raises
    ------
    ValueError
        If ``max_rate * dt`` exceeds 1: the Bernoulli approximation would saturate.
    """
    p_max = max_rate_hz * dt_s
    if not 0 < p_max <= 1:
        raise ValueError(
            f"max_rate * dt = {max_rate_hz} Hz * {dt_s} s = {p_max:g} must lie in (0, 1]"
        )
    return images * p_max


def stream_keys(seed: int, split: str, indices, epoch: int = 0, repeat: int = 0) -> np.ndarray:
    """One 32-bit key per presented sample: hash of (seed, split, epoch, index, repeat)."""
    base = hashrng.key(seed, SPLIT_TAGS[split], epoch)
    return hashrng.hash2(hashrng.hash2(base, np.asarray(indices)), repeat)


def bernoulli_spikes(p: np.ndarray, keys: np.ndarray, n_steps: int) -> np.ndarray:
    """Spike trains ``(n_steps, batch, n)`` (bool) for probabilities ``p`` of shape (batch, n)."""
    p = np.atleast_2d(p)
    keys = np.atleast_1d(keys).astype(np.uint64)
    steps = np.arange(n_steps, dtype=np.uint64)
    step_keys = hashrng.hash2(keys[None, :], steps[:, None])  # (T, B)
    u = hashrng.uniform(step_keys[:, :, None], np.arange(p.shape[1])[None, None, :])
    return u < p[None]


def bernoulli_spikes_torch(p, keys, n_steps: int):
    """PyTorch twin of `bernoulli_spikes`: ``p`` (batch, n) float, ``keys`` (batch,) int64."""
    import torch

    steps = torch.arange(n_steps, device=p.device, dtype=torch.int64)
    step_keys = hashrng.hash2_torch(keys.to(torch.int64)[None, :], steps[:, None])  # (T, B)
    idx = torch.arange(p.shape[1], device=p.device, dtype=torch.int64)
    u = hashrng.uniform_torch(step_keys[:, :, None], idx[None, None, :])
    return (u < p[None].to(torch.float64)).to(p.dtype)
