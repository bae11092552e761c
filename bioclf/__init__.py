"""bioclf: spiking-network classifiers trained by STDP (Brian2) and by surrogate gradients (PyTorch)."""

__version__ = "0.1.0"
