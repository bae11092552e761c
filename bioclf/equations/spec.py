"""In-memory form of the models described by the files in ``equations/``.

A `NeuronModel` or `SynapseModel` holds the Brian2 strings of one file and its parameters as
Brian2 quantities. It is the single source of truth for both simulators: `bioclf.brian` turns it
into Brian2 groups, `bioclf.surrogate.compile` into a PyTorch module.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self

from brian2 import Equations
from brian2.units.fundamentalunits import Quantity, get_dimensions

from bioclf.equations.quantities import evaluate_quantity

#: Names the network provides to every model file (documented in equations/README.md).
#: ``plastic`` is 1 while learning and 0 during label assignment and testing.
EXTERNALS = {"plastic": get_dimensions(1)}


@dataclass(frozen=True)
class NeuronExtension:
    """Equations and spike code a synapse model adds to its pre- or postsynaptic neurons.

    This is how STDP traces are held on neurons (as in the original Brian 1 ``STDP`` object)
    rather than on each of the 784 x N synapses.
    """

    equations: str = ""
    on_spike: str = ""


class _Model:
    """What neuron and synapse models do alike with their parameters and code.

    A subclass is a frozen dataclass with the fields ``path`` and ``parameters`` and a method
    ``code_fields`` (its Brian2 strings, by the field of the file that holds each).
    """

    def code(self) -> list[str]:
        """The model's Brian2 code (`code_fields`' strings)."""
        return list(self.code_fields().values())

    def file_of(self, field: str) -> Path:
        """The file that gave `field` (a file that extends another takes some from it)."""
        origins = getattr(self, "origins", {})
        return origins.get(field) or origins.get(field.split(".")[0]) or self.path

    def namespace(self) -> dict[str, Quantity]:
        """Parameters as a Brian2 namespace."""
        return dict(self.parameters)

    def uses(self, name: str) -> bool:
        """Whether the model's code refers to ``name``."""
        from brian2.utils.stringtools import get_identifiers

        return name in get_identifiers(" ".join(self.code()))

    def with_parameters(self, **values) -> Self:
        """A copy with some parameter values replaced (for tests and sweeps).

        Raises
        ------
        KeyError
            Naming the file and the parameters it does not have.
        """
        unknown = set(values) - set(self.parameters)
        if unknown:
            raise KeyError(f"{self.path}: no parameter(s) {sorted(unknown)}")
        params = dict(self.parameters)
        params.update(values)
        return replace(self, parameters=params)


@dataclass(frozen=True)
class NeuronModel(_Model):
    """A neuron model read from an equation file."""

    path: Path
    name: str
    description: str
    equations: str
    threshold: str
    reset: str
    refractory: Quantity | str
    method: str
    parameters: dict[str, Quantity]
    initial: dict[str, str] = field(default_factory=dict)
    input: str | None = None
    #: Field -> file it came from, where the file extends another (for error messages only;
    #: not part of the model's content).
    origins: dict[str, Path] = field(default_factory=dict, repr=False, compare=False)

    kind = "neuron"

    @property
    def eqs(self) -> Equations:
        return Equations(self.equations)

    def code_fields(self) -> dict[str, str]:
        """The model's Brian2 code: equations, threshold, reset and refractory period."""
        return {
            "equations": self.equations,
            "threshold": self.threshold,
            "reset": self.reset,
            "refractory": str(self.refractory),
        }

    def refractory_time(self) -> Quantity | None:
        """The refractory period as a time, or None when it is a condition."""
        if isinstance(self.refractory, str):
            if self.refractory in self.parameters:
                return self.parameters[self.refractory]
            return None
        return self.refractory


@dataclass(frozen=True)
class SynapseModel(_Model):
    """A synapse model read from an equation file."""

    path: Path
    name: str
    description: str
    model: str
    on_pre: str
    on_post: str
    parameters: dict[str, Quantity]
    pre_neuron: NeuronExtension = NeuronExtension()
    post_neuron: NeuronExtension = NeuronExtension()
    connect: str | bool = True
    delay: str | None = None
    initial: dict[str, str] = field(default_factory=dict)
    normalize: tuple[str, str] | None = None  # (variable, parameter holding the column total)
    #: Field -> file it came from, where the file extends another (for error messages only;
    #: not part of the model's content).
    origins: dict[str, Path] = field(default_factory=dict, repr=False, compare=False)

    kind = "synapse"

    @property
    def eqs(self) -> Equations:
        return Equations(self.model)

    def code_fields(self) -> dict[str, str]:
        """The model's Brian2 code: its equations and spike code, and what it adds to its pre-
        and postsynaptic neurons."""
        return {
            "model": self.model,
            "on_pre": self.on_pre,
            "on_post": self.on_post,
            "pre_neuron.equations": self.pre_neuron.equations,
            "pre_neuron.on_spike": self.pre_neuron.on_spike,
            "post_neuron.equations": self.post_neuron.equations,
            "post_neuron.on_spike": self.post_neuron.on_spike,
        }


def model_content(model: NeuronModel | SynapseModel) -> str:
    """A model's content as text, without the directory of its file (comments are not kept).

    Two runs whose models have the same content simulate the same thing; checkpoints record it
    so that a run resumes only a checkpoint of the same models. Every parameter value is
    written exactly (`value_text`): models that differ in any value have other content.
    """
    exact = {"path": Path(model.path.name)}
    exact["parameters"] = {k: _Text(value_text(v)) for k, v in model.parameters.items()}
    if isinstance(getattr(model, "refractory", None), Quantity):
        exact["refractory"] = _Text(value_text(model.refractory))
    return repr(replace(model, **exact))


class _Text(str):
    """A text that a dataclass's repr shows as it is."""

    def __repr__(self) -> str:
        return str(self)


def value_text(value: Quantity) -> str:
    """A quantity as text that tells it from every other value.

    Brian2's repr (``-65. * mvolt``) rounds to 8 decimals in the unit it chooses, so values that
    differ only beyond them would read the same. It is kept where it gives the value back bit
    for bit, read as a model file's value is (``-65*mV``: most values files write, whose
    models' content, and the digests recorded from it, stay those of before); any other value
    is written as its exact bits in SI units: ``exact(<float.hex>, <dimensions>)``.
    """
    text = repr(value)
    shown = text[len("Quantity(") : -1] if text.startswith("Quantity(") else text
    try:
        back = evaluate_quantity(shown)
    except ValueError:
        back = None
    if back is None or float(back) != float(value) or back.dim is not get_dimensions(value):
        text = f"exact({float(value).hex()}, {get_dimensions(value)!r})"
    return text
