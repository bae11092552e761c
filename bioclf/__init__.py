"""bioclf: spiking-network classifiers trained by STDP (Brian2) and surrogate gradients (PyTorch).

Both sides use the neuron models of ``equations/``.
"""

__version__ = "0.1.0"
