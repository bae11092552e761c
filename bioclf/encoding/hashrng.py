"""Counter-based random numbers, identical in numpy, PyTorch, C++ and CUDA.

Input spikes are drawn from a stateless hash of (seed, sample, repeat, time step, neuron)
rather than from a generator's stream. The same spike trains therefore come out of every
Brian2 backend, out of the PyTorch encoder, and out of a run split into any number of chunks
or resumed from a checkpoint -- which is what makes backend and simulator parity testable.

The mixing function is Chris Wellons' ``lowbias32`` (a 32-bit integer hash with near-ideal
avalanche). All arithmetic is modulo 2**32; in numpy it runs on uint64 arrays masked to 32 bits,
in PyTorch on int64 tensors (products of two 32-bit numbers are formed from 16-bit halves so
nothing overflows int64). The C++/CUDA versions are in `bioclf.brian.functions`.
"""

from __future__ import annotations

import numpy as np

MASK = 0xFFFFFFFF
M1 = 0x7FEB352D
M2 = 0x846CA68B
SEED_SALT = 0x9E3779B9
TWO_POW_M32 = 2.0**-32


def mix32(x):
    """lowbias32 on a numpy integer array (values taken modulo 2**32)."""
    x = np.asarray(x).astype(np.uint64) & MASK
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(M1)) & MASK
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(M2)) & MASK
    x ^= x >> np.uint64(16)
    return x


def hash2(a, b):
    """Combine two keys: ``mix32(a ^ mix32(b))``."""
    a = np.asarray(a).astype(np.uint64) & MASK
    return mix32(a ^ mix32(b))


def key(seed: int, *parts: int) -> int:
    """Fold integers into one 32-bit key: ``hash2(...hash2(hash2(seed', p0), p1)..., pn)``."""
    k = mix32(np.uint64(seed) ^ np.uint64(SEED_SALT))
    for part in parts:
        k = hash2(k, part)
    return int(k)


def uniform(step_key, i):
    """Uniform numbers in [0, 1) for keys and neuron indices (broadcast together)."""
    k = np.asarray(step_key).astype(np.uint64) & MASK
    return mix32(k ^ (np.asarray(i).astype(np.uint64) & MASK)).astype(np.float64) * TWO_POW_M32


# --- PyTorch -------------------------------------------------------------------------------


def _mul32_torch(x, c: int):
    """(x * c) mod 2**32 for int64 tensors x in [0, 2**32), without int64 overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return ((x * lo) + (((x * hi) & 0xFFFF) << 16)) & MASK


def mix32_torch(x):
    x = x & MASK
    x = x ^ (x >> 16)
    x = _mul32_torch(x, M1)
    x = x ^ (x >> 15)
    x = _mul32_torch(x, M2)
    x = x ^ (x >> 16)
    return x


def hash2_torch(a, b):
    return mix32_torch((a & MASK) ^ mix32_torch(b))


def uniform_torch(step_key, i):
    """PyTorch twin of `uniform`: int64 tensors in, float tensor in [0, 1) out."""
    import torch

    x = mix32_torch((step_key & MASK) ^ (i & MASK))
    return x.to(torch.float64) * TWO_POW_M32
