"""Latency (time-to-first-spike) coding of pixel intensities, for both simulators.

The timing of a spike carries the intensity: within a window of ``n_steps`` time steps, a pixel
of intensity x in (THRESHOLD, 1] fires exactly once, at step

    k = floor((1 - x) * (n_steps - 1)),

so a white pixel fires at step 0, a faint one near the end of the window, and a pixel at or
below `THRESHOLD` (the black background) never fires. At most one spike per pixel per
presentation. The code is deterministic: it needs no random numbers, and every implementation
(numpy and PyTorch here, the Brian2 function ``bioclf_latency`` in `bioclf.brian.functions`
with numpy, Cython, C++ and CUDA bodies) evaluates the same float64 expression, so all of them
emit the very same spikes -- the stream keys of the rate code do not enter.
"""

from __future__ import annotations

import numpy as np

#: Intensities at or below this never fire (MNIST's background is exactly 0).
THRESHOLD = 0.0


def latency_steps(x, n_steps: int) -> np.ndarray:
    """Spike step of each pixel (int64), or -1 for a pixel that does not fire.

    Parameters
    ----------
    x : array
        Intensities in [0, 1] (any float dtype; the arithmetic is float64). Values above 1 fire
        at step 0.
    n_steps : int
        Length of the coding window in time steps.
    """
    x = np.asarray(x, dtype=np.float64)
    k = np.floor((1.0 - np.minimum(x, 1.0)) * float(n_steps - 1))
    return np.where(x > THRESHOLD, k, -1.0).astype(np.int64)


def latency_spikes(x: np.ndarray, n_steps: int) -> np.ndarray:
    """Spike trains ``(n_steps, *x.shape)`` (bool): one spike per pixel above `THRESHOLD`."""
    k = latency_steps(x, n_steps)
    return np.arange(n_steps).reshape((n_steps,) + (1,) * k.ndim) == k[None]


def latency_spikes_torch(x, n_steps: int):
    """PyTorch twin of `latency_spikes`: ``x`` a float tensor, spikes in its dtype."""
    import torch

    x64 = x.to(torch.float64)
    k = torch.floor((1.0 - torch.clamp(x64, max=1.0)) * float(n_steps - 1))
    k = torch.where(x64 > THRESHOLD, k, torch.full_like(k, -1.0)).to(torch.int64)
    steps = torch.arange(n_steps, device=x.device).reshape((n_steps,) + (1,) * k.dim())
    return (steps == k[None]).to(x.dtype)
