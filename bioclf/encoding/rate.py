"""Rate coding of pixel intensities into spike trains, for both simulators.

A pixel of intensity x in [0, 1] fires in each time step of length dt with probability
``p = x * max_rate * dt`` (a Bernoulli process, the discrete-time Poisson process that Brian2's
``PoissonGroup`` also simulates). The uniform numbers come from `bioclf.encoding.hashrng`, so
every implementation of an encoder emits the very same spikes for the same stream key:

* `bernoulli_spikes` (numpy) and `bernoulli_spikes_torch` draw one number per (step, pixel),
  keyed on (stream, step, pixel); the surrogate-gradient networks and their Brian2 export use
  this.
* `skip_spikes` draws the same process by geometric waits between spikes, one number per
  spike, keyed on (stream, step of the previous spike + 1, pixel). It is what the STDP network
  simulates inside Brian2 (`bioclf.stdp.network`), where a hash per pixel and step was the
  largest single cost of training. Same distribution, different draws from the key.

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


def skip_spikes(p: np.ndarray, key: int, n_steps: int) -> np.ndarray:
    """Spike trains ``(n_steps, n)`` (bool) of one presentation, drawn by geometric waits.

    For a pixel firing with probability ``p`` per step, the wait to its next spike is
    ``ceil(log(1 - u) / log(1 - p))`` steps (at least 1), with ``u`` uniform: the number of
    steps up to and including the next success of a Bernoulli process. The first spike falls
    on step ``wait - 1`` (``u`` keyed on counter 0), each later one ``wait`` steps after the
    previous spike at step ``s`` (``u`` keyed on counter ``s + 1``). The arithmetic is that of
    the Brian2 network's statements, so the spikes agree with it exactly.

    Parameters
    ----------
    p : array of shape (n,)
        Firing probability per step, in [0, 1].
    key : int
        Stream key of the presentation (`stream_keys`).
    n_steps : int
        Steps of the presentation.
    """
    p = np.asarray(p, dtype=float)
    n = p.shape[0]
    spikes = np.zeros((n_steps, n), dtype=bool)
    counter = np.zeros(n, dtype=np.int64)
    active = np.flatnonzero(p > 0)
    with np.errstate(divide="ignore"):  # p = 1: log(0) = -inf, and every wait is 1
        log1mp = np.log(1 - p) - (p == 0)  # -1 where p = 0: finite; such pixels never fire
        while active.size:
            u = hashrng.uniform(hashrng.hash2(key, counter[active]), active)
            wait = np.clip(np.ceil(np.log(1 - u) / log1mp[active]), 1, 2 * n_steps)
            step = (counter[active] - 1 + wait).astype(np.int64)
            fires = step < n_steps
            active, step = active[fires], step[fires]
            spikes[step, active] = True
            counter[active] = step + 1
    return spikes
