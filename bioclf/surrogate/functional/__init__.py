"""Pure step functions with explicit state (Norse-style); modules wrap them."""

from bioclf.surrogate.functional.neuron import run, run_fused, run_kernel, step
from bioclf.surrogate.functional.surrogate import heaviside, surrogate_grad

__all__ = ["heaviside", "run", "run_fused", "run_kernel", "step", "surrogate_grad"]
