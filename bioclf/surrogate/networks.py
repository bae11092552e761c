"""Spiking classifiers built from one compiled neuron model.

Every layer is processed over the whole time window before the next one (a layer's output at
step t depends only on its input up to step t, so this equals a step-by-step loop over the
network), which lets the synaptic layers run as one matrix product over all T*B samples.

Layer timing in Brian2 terms (used by `bioclf.surrogate.export_brian`): the spikes of layer l
at PyTorch step t are the spikes Brian2 emits at step t + l (input layer l = 0), because a
spike emitted at step n reaches its target's state update at step n + 1.
"""

from __future__ import annotations

import torch
from torch import nn

from bioclf.surrogate.compiled import CompiledNeuron
from bioclf.surrogate.modules import SpikingNeurons

ARCHS = ("fc", "conv")


class FCLayers(nn.Module):
    """The synaptic layers of the fully connected ``784-N-10`` network: ``fc1``, ``fc2``.

    Shared by `SpikingFC` and its non-spiking twin (`bioclf.surrogate.ann.AnnFC`), so that the
    two have the same layers under the same names (their state dicts hold the same tensors);
    each adds what goes between them and its ``forward``.

    Parameters
    ----------
    hidden, n_in, n_out : int
        Hidden, input and output sizes.
    bias : bool
        Whether the layers have biases.
    """

    def __init__(self, hidden: int = 100, n_in: int = 784, n_out: int = 10, bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, n_out, bias=bias)
        self.hidden = hidden

    @staticmethod
    def _returned(x: torch.Tensor, h: torch.Tensor, out: torch.Tensor, record: bool):
        """What ``forward`` returns: `out`, and with `record` also the activity of every
        population (dict, input first) and the input of each of `synapse_layers` (list)."""
        if record:
            return out, {"input": x, "hidden": h, "output": out}, [x, h]
        return out

    def synapse_layers(self) -> list[nn.Module]:
        return [self.fc1, self.fc2]


class SpikingFC(FCLayers):
    """Fully connected ``784-N-10``: Linear, neurons, Linear, neurons.

    The output is the spike trains of the 10 output neurons, (T, B, 10); the class score is the
    spike count ``outputs.sum(0)``.
    """

    def __init__(
        self,
        neuron: CompiledNeuron,
        hidden: int = 100,
        n_in: int = 784,
        n_out: int = 10,
        surrogate: str = "fast_sigmoid",
        slope: float | None = None,
        bias: bool = True,
    ):
        super().__init__(hidden, n_in, n_out, bias)
        self.lif1 = SpikingNeurons(neuron, surrogate=surrogate, slope=slope)
        self.lif2 = SpikingNeurons(neuron, surrogate=surrogate, slope=slope)

    def forward(self, x: torch.Tensor, record: bool = False):
        """Output spikes (T, B, 10) for input spikes (T, B, 784).

        With `record`, also returns the spikes of every population (dict, input first) and the
        presynaptic spikes of each of `synapse_layers` (list)."""
        h = self.lif1(self.fc1(x))
        return self._returned(x, h, self.lif2(self.fc2(h)), record)


class ConvLayers(nn.Module):
    """The synaptic layers of the convolutional network: ``conv1`` (1->c1, 5x5; stride
    `stride1`), ``conv2`` (c1->c2, 5x5), ``pool`` (2x2 max), ``fc_h`` (flat -> `hidden`; None
    where `hidden` is 0) and ``fc`` (-> `n_out`).

    Shared by `SpikingConv` and its non-spiking twin (`bioclf.surrogate.ann.AnnConv`), so that
    the two have the same layers under the same names (their state dicts hold the same
    tensors); each adds what goes between them and its ``forward``.

    Parameters
    ----------
    channels : tuple of int
        Channels of the two convolutions (c1, c2).
    hidden : int
        Size of the hidden fully connected layer; 0: none.
    n_out : int
        Outputs.
    stride1 : int
        1, or 2: the first convolution strided instead of followed by pooling.
    """

    def __init__(
        self,
        channels: tuple[int, int] = (16, 32),
        hidden: int = 0,
        n_out: int = 10,
        stride1: int = 1,
    ):
        super().__init__()
        if stride1 not in (1, 2):
            raise ValueError(f"stride1 must be 1 or 2, got {stride1}")
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 5, stride=stride1)
        self.stride1 = stride1
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.pool = nn.MaxPool2d(2)
        n_flat = c2 * 4 * 4
        self.fc_h = nn.Linear(n_flat, hidden) if hidden else None
        self.fc = nn.Linear(hidden or n_flat, n_out)
        self.channels = channels
        self.hidden = hidden

    def _head(self, x, maps, p1, p2, hidden, output, record: bool):
        """The fully connected layers after the convolutions, and what ``forward`` returns.

        Parameters
        ----------
        x : Tensor
            The input, (T, B, 1, 28, 28).
        maps : tuple of Tensor
            The activity of the two convolutional populations, (T*B, C, H, W) each.
        p1, p2 : Tensor
            The input of ``conv2`` (T*B, C, H, W) and of the fully connected layers (T, B, F).
        hidden, output : callable
            The populations after ``fc_h`` (None without it) and after ``fc``.
        record : bool
            Also return the activity of every population (dict, input first) and the input of
            each of `synapse_layers` (list).
        """
        t, b = x.shape[:2]

        def unfold(maps):  # (N, C, H, W) -> (T, B, C, H, W), a view
            return maps.reshape(t, b, *maps.shape[1:])

        acts = {"input": x, "conv1": unfold(maps[0]), "conv2": unfold(maps[1])}
        pre = [x, unfold(p1), p2]
        if self.fc_h is not None:
            p2 = hidden(self.fc_h(p2))
            acts["hidden"] = p2
            pre.append(p2)
        out = output(self.fc(p2))
        acts["output"] = out
        if record:
            return out, acts, pre
        return out

    def synapse_layers(self) -> list[nn.Module]:
        return [m for m in (self.conv1, self.conv2, self.fc_h, self.fc) if m is not None]


class SpikingConv(ConvLayers):
    """Convolutional: conv(1->c1,5)-neurons-pool2-conv(c1->c2,5)-neurons-pool2-FC-neurons.

    Max pooling of binary spike maps is an OR over each 2x2 window. With ``stride1=2`` the
    first convolution is strided instead of followed by pooling (28 -> 12 either way), which
    cuts its cost and its neurons fourfold.
    """

    def __init__(
        self,
        neuron: CompiledNeuron,
        channels: tuple[int, int] = (16, 32),
        hidden: int = 0,
        n_out: int = 10,
        surrogate: str = "fast_sigmoid",
        slope: float | None = None,
        stride1: int = 1,
    ):
        super().__init__(channels, hidden, n_out, stride1)
        self.lif1 = SpikingNeurons(neuron, surrogate=surrogate, slope=slope)
        self.lif2 = SpikingNeurons(neuron, surrogate=surrogate, slope=slope)
        if hidden:
            self.lif_h = SpikingNeurons(neuron, surrogate=surrogate, slope=slope)
        self.lif3 = SpikingNeurons(neuron, surrogate=surrogate, slope=slope)
        # Channels-last (NHWC) memory: oneDNN's convolution backward pass is several times
        # faster in it on CPUs (the first layer's weight gradient most), and the neurons,
        # being elementwise, do not care how their maps are laid out.
        self.conv1.to(memory_format=torch.channels_last)
        self.conv2.to(memory_format=torch.channels_last)

    def _conv_neurons(self, conv, neurons, x: torch.Tensor, t: int) -> torch.Tensor:
        """Spike maps of `neurons` driven by `conv` over time, for input maps `x` of all T*B
        samples (N, C, H, W), channels-last. Returns (N, C', H', W'), channels-last."""
        y = conv(x).permute(0, 2, 3, 1)  # contiguous (N, H', W', C')
        s = neurons(y.reshape(t, -1, *y.shape[1:]))
        return s.reshape(y.shape).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor, record: bool = False):
        """Output spikes (T, B, 10) for input spikes (T, B, 784) or (T, B, 1, 28, 28); with
        `record` as `SpikingFC.forward`."""
        t, b = x.shape[:2]
        x = x.reshape(t, b, 1, 28, 28)
        # time folded into the batch: every layer runs over the whole window (module docstring)
        x_n = x.reshape(t * b, 1, 28, 28).contiguous(memory_format=torch.channels_last)
        s1 = self._conv_neurons(self.conv1, self.lif1, x_n, t)
        p1 = self.pool(s1) if self.stride1 == 1 else s1
        s2 = self._conv_neurons(self.conv2, self.lif2, p1, t)
        # back to (C, H, W) order before flattening: the FC weights' layout does not change
        p2 = self.pool(s2).contiguous().reshape(t, b, -1)
        return self._head(x, (s1, s2), p1, p2, getattr(self, "lif_h", None), self.lif3, record)


def build_network(
    arch: str, neuron: CompiledNeuron | None, spiking: bool = True, **kwargs
) -> nn.Module:
    """`SpikingFC` (arch 'fc') or `SpikingConv` (arch 'conv'); with ``spiking=False`` their
    non-spiking twin of the same layer shapes (`bioclf.surrogate.ann`, no neuron needed)."""
    if not spiking:
        from bioclf.surrogate.ann import build_ann

        return build_ann(arch, **kwargs)
    if arch == "fc":
        return SpikingFC(neuron, **kwargs)
    if arch == "conv":
        return SpikingConv(neuron, **kwargs)
    raise ValueError(f"unknown architecture {arch!r}; use one of {ARCHS}")
