"""A neuron model compiled to torch functions: the data that every surrogate module shares.

`bioclf.surrogate.compile` builds it; the step functions (`bioclf.surrogate.functional`), the
C kernels (`bioclf.surrogate.kernels`) and the networks read it. This module imports nothing
else of `bioclf.surrogate`, so that each of them can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from bioclf.equations.spec import NeuronModel
from bioclf.errors import EquationFileError


@dataclass(frozen=True)
class CompiledNeuron:
    """A neuron model compiled to torch functions (see `bioclf.surrogate.compile`).

    Attributes
    ----------
    model : NeuronModel
        The model it was compiled from.
    dt : float
        Time step in seconds.
    state_names : tuple of str
        Variables held per neuron: the differential variables, then the equations' parameters
        (the input among them when it is a parameter).
    diff_names : tuple of str
        The differential variables, in the order `update` returns them.
    input_name : str
        The variable the network drives.
    input_mode : {'set', 'increment'}
        'set' for a non-differential input (``I = x``), 'increment' for a differential one
        (``ge += x``).
    input_scale, threshold_scale : float
        See `bioclf.surrogate.compile` (units).
    refractory_steps : int
        ``timestep(refractory, dt)``: a neuron spiking at step s is refractory at steps
        s+1 .. s+refractory_steps-1.
    unless_refractory : frozenset of str
        Variables frozen while refractory.
    initial : dict of str to float
        Initial (and per-sample reset) value of each state variable, SI.
    strict : bool
        The threshold comparison is strict (``>``, ``<``).
    update_code, margin_code, reset_code : str
        The generated expressions (SI, numbers substituted), for inspection.
    """

    model: NeuronModel
    dt: float
    state_names: tuple[str, ...]
    diff_names: tuple[str, ...]
    input_name: str
    input_mode: str
    input_scale: float
    threshold_scale: float
    refractory_steps: int
    unless_refractory: frozenset[str]
    initial: dict[str, float]
    strict: bool
    update: Callable = field(repr=False)
    margin: Callable = field(repr=False)
    resets: tuple[tuple[str, Callable], ...] = field(repr=False)
    update_code: str = ""
    margin_code: str = ""
    reset_code: str = ""
    # Symbolic partial derivatives for the fused backward pass (None where sympy cannot
    # differentiate the model; the autograd path is used then): (pairs, fn) with
    # fn(*state) -> [d expr_k / d state_j for (k, j) in pairs].
    update_jacobian: tuple | None = field(default=None, repr=False)
    margin_jacobian: tuple | None = field(default=None, repr=False)
    reset_jacobians: tuple | None = field(default=None, repr=False)
    # The sympy expressions behind the functions above (for the C kernel generator).
    symbolic: dict = field(default_factory=dict, repr=False)

    def initial_state(self, shape, dtype=torch.float32, device=None) -> dict[str, torch.Tensor]:
        """A fresh state: every variable at its initial value, nothing refractory."""
        state = {
            name: torch.full(shape, self.initial[name], dtype=dtype, device=device)
            for name in self.state_names
        }
        if self.refractory_steps > 1:
            state["_refractory"] = torch.zeros(shape, dtype=dtype, device=device)
        return state

    def refractory_note(self) -> str | None:
        """A warning when the file's refractory period is too short to act at this dt.

        With ``refractory_steps`` <= 1 a neuron is free again at the step after its spike (in
        Brian2 as here), so editing the period changes nothing until it reaches 2 dt.
        """
        t_ref = self.model.refractory_time()
        if t_ref is None or float(t_ref) <= 0 or self.refractory_steps > 1:
            return None
        return (
            f"the refractory period of {self.model.name} ({float(t_ref) * 1e3:g} ms) is shorter "
            f"than 2 dt ({2 * self.dt * 1e3:g} ms): a neuron may fire again at the step after "
            "its spike, so the period has no effect at this dt (in Brian2 alike)"
        )

    def check_presentation(self, time_steps: int) -> None:
        """Refuse a refractory period that outlasts the presentation of `time_steps` steps.

        A neuron refractory for T steps or more fires at most once per image, so its spike
        count (what the output is read by) is 0 or 1: an edit of the period in the wrong unit
        (``500*ms`` for ``5*ms``), not a model the network can be trained as.

        Raises
        ------
        EquationFileError
            Naming the file and the refractory period's field (its parameter where it has one).
        """
        if self.refractory_steps < time_steps:
            return
        model = self.model
        field = (
            f"parameters.{model.refractory}" if isinstance(model.refractory, str) else "refractory"
        )
        raise EquationFileError(
            model.path,
            field,
            f"the refractory period ({float(model.refractory_time()) * 1e3:g} ms, "
            f"{self.refractory_steps} steps of dt = {self.dt * 1e3:g} ms) is not shorter than "
            f"the presentation ({time_steps} steps, {time_steps * self.dt * 1e3:g} ms): each "
            "neuron could fire at most once per image",
        )
