"""Spike encoding of images, one implementation shared by Brian2 and PyTorch."""

from bioclf.encoding.rate import (
    SPLIT_TAGS,
    bernoulli_spikes,
    bernoulli_spikes_torch,
    skip_spikes,
    spike_probability,
    stream_keys,
)

__all__ = [
    "SPLIT_TAGS",
    "bernoulli_spikes",
    "bernoulli_spikes_torch",
    "skip_spikes",
    "spike_probability",
    "stream_keys",
]
