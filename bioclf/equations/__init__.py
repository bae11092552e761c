"""Model files: the Brian2 equation strings in ``equations/`` that both simulators use."""

from bioclf.equations.loader import (
    check_synapse_partners,
    load_model,
    load_neuron,
    load_synapse,
    model_files,
)
from bioclf.equations.spec import (
    EXTERNALS,
    NeuronExtension,
    NeuronModel,
    SynapseModel,
    model_content,
)

__all__ = [
    "EXTERNALS",
    "NeuronExtension",
    "NeuronModel",
    "SynapseModel",
    "check_synapse_partners",
    "load_model",
    "load_neuron",
    "load_synapse",
    "model_content",
    "model_files",
]
