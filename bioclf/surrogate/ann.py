"""Conventional (non-spiking) twins of the spiking classifiers, for the ANN-vs-SNN comparison.

Each twin has the layers of its spiking network under the same names and shapes (the same
class builds them: `bioclf.surrogate.networks.FCLayers`, `ConvLayers`; so the two state dicts
hold the same tensors), ReLU in place of every hidden spiking population and
max pooling where the spiking network pools; the output layer gives logits. It takes the
analog image (pixel intensities in [0, 1]) in one pass instead of T steps of spikes.

To share the trainer and the evaluation with the spiking networks, a twin follows their calling
convention with a time axis of length one: input (1, B, 784), output (1, B, 10), whose sum over
time is the logits; ``record=True`` also returns the activations of every population and the
input of every synaptic layer, as `SpikingFC.forward` does with spikes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bioclf.surrogate.networks import ConvLayers, FCLayers


class AnnFC(FCLayers):
    """``784-N-10``: Linear, ReLU, Linear (the twin of `SpikingFC`; its layers:
    `bioclf.surrogate.networks.FCLayers`)."""

    def forward(self, x: torch.Tensor, record: bool = False):
        """Logits (1, B, 10) for images (1, B, 784)."""
        h = torch.relu(self.fc1(x))
        return self._returned(x, h, self.fc2(h), record)


class AnnConv(ConvLayers):
    """conv(1->c1,5)-ReLU-pool2-conv(c1->c2,5)-ReLU-pool2-[FC-ReLU]-FC (twin of `SpikingConv`,
    ``stride1=2`` likewise replacing the first pooling by a strided convolution; its layers:
    `bioclf.surrogate.networks.ConvLayers`)."""

    def forward(self, x: torch.Tensor, record: bool = False):
        """Logits (1, B, 10) for images (1, B, 784) or (1, B, 1, 28, 28)."""
        t, b = x.shape[:2]
        x = x.reshape(t, b, 1, 28, 28)
        a1 = torch.relu(self.conv1(x.reshape(t * b, 1, 28, 28)))
        p1 = self.pool(a1) if self.stride1 == 1 else a1
        a2 = torch.relu(self.conv2(p1))
        p2 = self.pool(a2).reshape(t, b, -1)
        return self._head(x, (a1, a2), p1, p2, torch.relu, _logits, record)


def _logits(z: torch.Tensor) -> torch.Tensor:
    """The output layer's activation: none (logits)."""
    return z


def build_ann(arch: str, **kwargs) -> nn.Module:
    """The twin of ``build_network(arch, neuron, **kwargs)``; the spiking-only options
    (``surrogate``, ``slope``) are accepted and ignored."""
    kwargs = {k: v for k, v in kwargs.items() if k not in ("surrogate", "slope")}
    if arch == "fc":
        return AnnFC(**kwargs)
    if arch == "conv":
        return AnnConv(**kwargs)
    raise ValueError(f"unknown architecture {arch!r}")


def analog_input(x01: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """Images in [0, 1] (B, 784) as a twin's input (1, B, 784)."""
    return torch.from_numpy(np.ascontiguousarray(x01)).to(dtype)[None]
