"""Spike encoding of images, one implementation shared by Brian2 and PyTorch.

Two codes: rate (`bioclf.encoding.rate`, a Bernoulli process per pixel and step) and latency
(`bioclf.encoding.latency`, one spike per pixel whose time carries the intensity).
"""

from bioclf.encoding.latency import latency_spikes, latency_spikes_torch, latency_steps
from bioclf.encoding.rate import (
    SPLIT_TAGS,
    bernoulli_spikes,
    bernoulli_spikes_torch,
    skip_spikes,
    spike_probability,
    stream_keys,
)

#: The input codes a run may select (``encoding`` in the configuration).
ENCODINGS = ("rate", "latency")

__all__ = [
    "ENCODINGS",
    "SPLIT_TAGS",
    "bernoulli_spikes",
    "bernoulli_spikes_torch",
    "latency_spikes",
    "latency_spikes_torch",
    "latency_steps",
    "skip_spikes",
    "spike_probability",
    "stream_keys",
]
