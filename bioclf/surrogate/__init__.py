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

import importlib

# Loaded on first use (PEP 562), so that light modules such as `bioclf.surrogate.options`
# (read by the workflow) do not import torch.
_EXPORTS = {
    "CompiledNeuron": "bioclf.surrogate.compiled",
    "SpikingConv": "bioclf.surrogate.networks",
    "SpikingFC": "bioclf.surrogate.networks",
    "SpikingNeurons": "bioclf.surrogate.modules",
    "build_network": "bioclf.surrogate.networks",
    "compile_neuron": "bioclf.surrogate.compile",
    "heaviside": "bioclf.surrogate.functional.surrogate",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bioclf.surrogate' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
