"""Surrogate-gradient spiking networks in PyTorch, compiled from the shared equation files.

The neuron of a file in ``equations/`` is compiled from its Brian2 strings
(`compile_neuron`: Brian2's own state updater, sympy, lambdify; C kernels generated from the
same expressions for speed), so both simulators run one model. Typical use::

    from bioclf.surrogate import compile_neuron, SpikingFC

    neuron = compile_neuron("equations/lif.yaml", dt=1e-3)
    net = SpikingFC(neuron, hidden=100)
    out = net(spikes)  # (T, B, 784) -> (T, B, 10); class scores out.sum(0)

Training: ``python -m bioclf.surrogate.train``; Brian2 cross-check:
``python -m bioclf.surrogate.export_brian``.
"""

from bioclf.surrogate.compile import CompiledNeuron, compile_neuron
from bioclf.surrogate.functional.surrogate import heaviside
from bioclf.surrogate.modules import SpikingNeurons
from bioclf.surrogate.networks import SpikingConv, SpikingFC, build_network

__all__ = [
    "CompiledNeuron",
    "SpikingConv",
    "SpikingFC",
    "SpikingNeurons",
    "build_network",
    "compile_neuron",
    "heaviside",
]
