"""`torch.nn.Module` wrapper of a compiled neuron model."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bioclf.equations.spec import NeuronModel
from bioclf.surrogate.compile import compile_neuron
from bioclf.surrogate.compiled import CompiledNeuron
from bioclf.surrogate.functional import neuron as F
from bioclf.surrogate.functional import surrogate as surrogates

IMPLS = ("kernel", "fused", "autograd")


class SpikingNeurons(nn.Module):
    """A population of neurons of one model file, run over a whole time window.

    The module is stateless between calls: every `forward` starts from the initial state, which
    is the per-sample reset of a classifier (and of the exported Brian2 network).

    Parameters
    ----------
    neuron : CompiledNeuron, NeuronModel or path
        The model (compiled with `dt` if it is not compiled yet).
    dt : float, optional
        Time step in seconds, needed unless `neuron` is already compiled.
    surrogate : str
        A name in `functional.surrogate.REGISTRY` ('fast_sigmoid', 'atan').
    slope : float, optional
        Steepness of the surrogate (default 25 for fast_sigmoid, 2 for atan).
    impl : {'kernel', 'fused', 'autograd'}
        How the time loop runs; all give the same spikes and gradients (to float rounding).
        'kernel': code generated from the model, C on CPU tensors (`bioclf.surrogate.kernels`),
        CUDA on CUDA tensors (`bioclf.surrogate.cuda_kernels`); 'fused' where it cannot be built
        (no compiler) or, on CUDA, does not agree with the C kernel; 'fused': PyTorch ops with
        the hand-written backward pass (`functional.neuron.run_fused`); 'autograd': autograd
        through `functional.neuron.step`.
    """

    def __init__(
        self,
        neuron: CompiledNeuron | NeuronModel | str | Path,
        dt: float | None = None,
        surrogate: str = "fast_sigmoid",
        slope: float | None = None,
        impl: str = "kernel",
    ):
        super().__init__()
        if not isinstance(neuron, CompiledNeuron):
            if dt is None:
                raise ValueError("dt is needed to compile a neuron model")
            neuron = compile_neuron(neuron, dt)
        default_slope = surrogates.get(surrogate).default_slope  # refuses unknown names
        self.neuron = neuron
        self.surrogate = surrogate
        self.slope = default_slope if slope is None else float(slope)
        if impl not in IMPLS:
            raise ValueError(f"unknown impl {impl!r}; use one of {IMPLS}")
        self.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes (T, ...) for inputs (T, ...) in network units."""
        if self.impl == "kernel":
            return F.run_kernel(self.neuron, x, surrogate=self.surrogate, slope=self.slope)
        if self.impl == "fused":
            return F.run_fused(self.neuron, x, surrogate=self.surrogate, slope=self.slope)
        spikes, _, _ = F.run(self.neuron, x, surrogate=self.surrogate, slope=self.slope)
        return spikes

    def extra_repr(self) -> str:
        n = self.neuron
        return (
            f"model={n.model.name}, dt={n.dt:g}s, refractory_steps={n.refractory_steps}, "
            f"surrogate={self.surrogate}({self.slope:g}), impl={self.impl}"
        )
