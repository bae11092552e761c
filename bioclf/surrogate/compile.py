"""Compile a neuron equation file (Brian2 strings) into a PyTorch update.

The discrete update is not written by hand: it is the abstract code that Brian2's own state
updater produces for the file's equations and integration method
(``StateUpdateMethod.apply_stateupdater``, e.g. the analytic solution for ``method: exact``),
turned into sympy expressions with Brian2's parser, with the parameters (SI floats), ``dt`` and
the network-provided ``plastic`` substituted, and turned into torch code with ``sympy.lambdify``.
The threshold becomes a Heaviside step with a surrogate gradient, the reset a masked assignment,
and the refractory period a per-neuron step counter that reproduces Brian2's rule
``not_refractory = timestep(t - lastspike, dt) >= timestep(refractory, dt)`` exactly.

One time step of a `CompiledNeuron` (see `bioclf.surrogate.functional.neuron.step`) is, as in
Brian2's schedule for a neuron driven from the ``start`` slot:

1. input: the input variable is set (a non-differential variable such as ``I : amp``) or
   incremented (a differential variable such as a conductance ``ge``) by ``x * input_scale``;
2. state update of every differential variable; those flagged ``(unless refractory)`` keep their
   value while the neuron is refractory (Brian2's conditional write);
3. threshold, only where not refractory;
4. reset statements where a spike occurred, and the refractory counter restarts.

``plastic`` (1 while an STDP network learns, e.g. the adaptive threshold of ``dc_exc.yaml``) is
the constant 0 here: a surrogate-gradient network trains its weights, never the homeostatic
threshold, which therefore stays frozen at its initial value, as in the STDP test phase.

Units: the state is held in SI units (volts, amperes, ...). Two scales make the network's
numbers O(1): ``input_scale`` (SI input per unit of network input; by default the input that
takes the neuron from its post-reset state to threshold in one step) and ``threshold_scale``
(the distance from the post-reset state to threshold, which normalises the surrogate's
argument). Neither changes the dynamics; both follow the parameters of the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import sympy
import torch
from brian2.core.functions import exprel as BrianExprel
from brian2.core.namespace import DEFAULT_UNITS
from brian2.equations.equations import DIFFERENTIAL_EQUATION, PARAMETER, SUBEXPRESSION
from brian2.parsing.statements import parse_statement
from brian2.parsing.sympytools import str_to_sympy
from brian2.stateupdaters.base import StateUpdateMethod
from brian2.utils.stringtools import get_identifiers

from bioclf.equations import checks, load_neuron
from bioclf.equations.loader import _externals
from bioclf.equations.spec import NeuronModel
from bioclf.errors import UnsupportedConstructError
from bioclf.surrogate.compiled import CompiledNeuron
from bioclf.surrogate.functional.neuron import apply_reset, integrate

#: Value of each network-provided name in the PyTorch model (see module docstring).
EXTERNAL_VALUES = {"plastic": 0.0}


def _tensor_fn(fn):
    """Wrap a torch function so it also accepts Python numbers."""

    def wrapped(*args):
        return fn(*[a if torch.is_tensor(a) else torch.as_tensor(a) for a in args])

    return wrapped


#: Below this |x|, exprel and its derivative are their Taylor series (error < 1e-14): the closed
#: forms cancel there (to 1e-12 at this bound), and are 0/0 at x = 0.
_EXPREL_SERIES = 1e-2


def _exprel(x):
    """``(exp(x) - 1)/x``, 1 at 0; its autograd gradient is the derivative's everywhere."""
    x = x if torch.is_tensor(x) else torch.as_tensor(x)
    small = x.abs() < _EXPREL_SERIES
    safe = torch.where(small, torch.ones_like(x), x)
    series = 1 + x * (1 / 2 + x * (1 / 6 + x * (1 / 24 + x * (1 / 120 + x / 720))))
    return torch.where(small, series, torch.expm1(safe) / safe)


def _exprel_prime(x):
    """The derivative of exprel, ``(exp(x)*(x - 1) + 1)/x**2``, 1/2 at 0."""
    x = x if torch.is_tensor(x) else torch.as_tensor(x)
    small = x.abs() < _EXPREL_SERIES
    safe = torch.where(small, torch.ones_like(x), x)
    series = 1 / 2 + x * (1 / 3 + x * (1 / 8 + x * (1 / 30 + x * (1 / 144 + x / 840))))
    return torch.where(small, series, (torch.exp(safe) * (safe - 1) + 1) / safe**2)


class exprelprime(sympy.Function):  # noqa: N801 (lambdify finds its torch form by this name)
    """The derivative of `exprel`, kept as a function (its closed form is 0/0 at 0)."""

    nargs = 1


class exprel(sympy.Function):  # noqa: N801
    """Brian2's ``exprel`` without its automatic rewriting: Brian2's class turns
    ``exprel(a*v + b)`` (a number added, as once the parameters are substituted) into
    ``(exp(a*v + b) - 1)/(a*v + b)``, which is 0/0 where the argument is 0."""

    nargs = 1

    def fdiff(self, argindex=1):
        return exprelprime(self.args[0])


#: sympy function name -> torch implementation. Anything else is refused.
TORCH_FUNCTIONS: dict[str, Callable] = {
    "exp": _tensor_fn(torch.exp),
    "log": _tensor_fn(torch.log),
    "log10": _tensor_fn(torch.log10),
    "sqrt": _tensor_fn(torch.sqrt),
    "sin": _tensor_fn(torch.sin),
    "cos": _tensor_fn(torch.cos),
    "tan": _tensor_fn(torch.tan),
    "sinh": _tensor_fn(torch.sinh),
    "cosh": _tensor_fn(torch.cosh),
    "tanh": _tensor_fn(torch.tanh),
    "asin": _tensor_fn(torch.asin),
    "acos": _tensor_fn(torch.acos),
    "atan": _tensor_fn(torch.atan),
    "abs": _tensor_fn(torch.abs),
    "floor": _tensor_fn(torch.floor),
    "ceiling": _tensor_fn(torch.ceil),
    "sign": _tensor_fn(torch.sign),
    "clip": _tensor_fn(lambda x, lo, hi: torch.minimum(torch.maximum(x, lo), hi)),
    "exprel": _exprel,
    "exprelprime": _exprel_prime,
    "int_": _tensor_fn(torch.trunc),
}
# sympy class names of the functions above (Abs prints as abs, ceiling as ceil...).
_SYMPY_NAMES = {"Abs": "abs", "ceiling": "ceiling", "asin": "asin", "acos": "acos", "atan": "atan"}
_RANDOM = {"rand", "randn", "poisson"}
_COMPARISONS = {">": (1, True), ">=": (1, False), "<": (-1, True), "<=": (-1, False)}


# --- parsing helpers -----------------------------------------------------------------------


class _Compiler:
    def __init__(self, model: NeuronModel, dt: float):
        self.model = model
        self.path = model.path
        self.dt = float(dt)
        self.eqs = model.eqs
        self.numbers: dict[str, float] = {name: float(v) for name, v in DEFAULT_UNITS.items()}
        self.numbers.update({name: float(v) for name, v in model.parameters.items()})
        self.numbers.update(EXTERNAL_VALUES)
        self.numbers["dt"] = self.dt

    def fail(self, field: str, reason: str):
        raise UnsupportedConstructError(self.path, field, reason)

    def check_identifiers(self, field: str, code: str) -> None:
        names = get_identifiers(code)
        for bad, why in (
            ("xi", "stochastic term 'xi' (white noise) has no deterministic torch update"),
            ("t", "explicit time 't' is not supported (the update must not depend on t)"),
            ("i", "the neuron index 'i' is not supported"),
            ("N", "the group size 'N' is not supported"),
            ("lastspike", "'lastspike' is not supported (use a refractory time)"),
            ("not_refractory", "'not_refractory' is not supported in model code"),
        ):
            if bad in names or (bad == "xi" and any(n.startswith("xi_") for n in names)):
                self.fail(field, why)
        for name in names & _RANDOM:
            self.fail(field, f"random function '{name}()' is not supported (not deterministic)")

    def sympify(self, field: str, code: str) -> sympy.Expr:
        self.check_identifiers(field, code)
        try:
            expr = str_to_sympy(code)
        except Exception as exc:  # Brian2's parser raises several types
            self.fail(field, f"cannot parse {code!r}: {exc}")
        for node in sympy.preorder_traversal(expr):
            if isinstance(node, sympy.Function | sympy.Add | sympy.Mul | sympy.Pow):
                for arg in node.args:
                    if isinstance(arg, _CONDITIONS):  # (torch has no number of a comparison)
                        self.fail(field, f"a condition inside arithmetic ('{arg}' in {code!r}) "
                                  "is not supported by the PyTorch compiler")  # fmt: skip
        expr = expr.replace(BrianExprel, exprel)  # (the class docstring says why)
        for fn in expr.atoms(sympy.Function):
            name = _SYMPY_NAMES.get(type(fn).__name__, type(fn).__name__)
            if name in _RANDOM:
                self.fail(field, f"random function '{name}()' is not supported")
            if name not in TORCH_FUNCTIONS:
                self.fail(field, f"function '{name}' has no torch mapping")
        return expr

    def numeric(self, expr: sympy.Expr, keep: set[str]) -> sympy.Expr:
        """Substitute every known number, keep the symbols in `keep`."""
        subs = {}
        for sym in expr.free_symbols:
            if sym.name in keep:
                continue
            if sym.name not in self.numbers:
                self.fail("equations", f"unknown name '{sym.name}'")
            subs[sym] = sympy.Float(self.numbers[sym.name], 17)
        return expr.xreplace(subs) if subs else expr


#: What a condition parses to (not `sympy.logic.boolalg.Boolean`: a symbol is one too).
_CONDITIONS = (
    sympy.core.relational.Relational,
    sympy.logic.boolalg.BooleanFunction,
    sympy.logic.boolalg.BooleanAtom,
)


def _by_name(expr: sympy.Expr, mapping: dict[str, sympy.Expr]) -> sympy.Expr:
    """Substitute symbols by name (Brian2's parser gives its symbols assumptions)."""
    subs = {s: mapping[s.name] for s in expr.free_symbols if s.name in mapping}
    return expr.xreplace(subs) if subs else expr


def _lambdify(args: list[str], exprs: list[sympy.Expr]):
    """A function of the named arguments returning the list of `exprs` (torch ops)."""
    exprs = [sympy.sympify(e) for e in exprs]
    found = {s.name: s for e in exprs for s in e.free_symbols}
    symbols = [found.get(a, sympy.Symbol(a)) for a in args]
    return sympy.lambdify(symbols, exprs, modules=[TORCH_FUNCTIONS])


def _jacobian(exprs: list[sympy.Expr], names: tuple[str, ...]):
    """Nonzero partial derivatives of `exprs` with respect to `names`, as (pairs, fn)."""
    pairs, derivatives = [], []
    for k, expr in enumerate(exprs):
        symbols = {s.name: s for s in expr.free_symbols}
        for j, name in enumerate(names):
            if name not in symbols:
                continue
            d = sympy.diff(expr, symbols[name])
            if d.has(sympy.Derivative, sympy.Subs):
                raise ValueError(f"cannot differentiate {expr}")
            if d != 0:
                pairs.append((k, j))
                derivatives.append(d)
    if not derivatives:
        return ((), None, ())
    return (tuple(pairs), _lambdify(list(names), derivatives), tuple(derivatives))


def compile_neuron(
    model: NeuronModel | str | Path,
    dt: float,
    input_scale: float | None = None,
    threshold_scale: float | None = None,
) -> CompiledNeuron:
    """Compile a neuron model for PyTorch.

    Parameters
    ----------
    model : NeuronModel or path
        A model from ``equations/`` (loaded and validated if a path is given).
    dt : float or Quantity
        Time step (seconds if a float).
    input_scale, threshold_scale : float, optional
        Override the default scales (see the module docstring).

    Returns
    -------
    CompiledNeuron

    Raises
    ------
    UnsupportedConstructError
        Naming the file, the field and the construct (noise ``xi``, ``rand()``, a function
        without a torch mapping, a threshold that is not one comparison, a condition inside
        arithmetic (``int(v > v_th)``), a refractory
        condition, an input that is not a per-neuron state variable, a reset that writes or
        reads the input or writes a ``(shared)`` or ``(constant)`` variable, ...).
    """
    if not isinstance(model, NeuronModel):
        model = load_neuron(model)
    c = _Compiler(model, float(dt))
    if c.dt <= 0:
        raise ValueError(f"dt must be positive, got {dt}")
    subexpressions, unless = _equations(c)
    diff_names = tuple(sorted(model.eqs.diff_eq_names))
    state_names = diff_names + tuple(sorted(model.eqs.parameter_names))
    if not diff_names:
        c.fail("equations", "no differential equation to integrate")
    refractory_steps = _refractory_steps(c)
    if refractory_steps == 0:
        unless = set()
    keep = set(state_names)
    if model.input is None:
        c.fail("input", "the file names no input variable ('input: I')")
    _check_written(c, "input", model.input, state_names)
    new_exprs = _state_update(c, subexpressions, keep, diff_names)
    margin_expr, strict = _threshold(c, subexpressions, keep)
    resets, reset_lines = _resets(c, subexpressions, keep, state_names)
    neuron = CompiledNeuron(
        model=model,
        dt=c.dt,
        state_names=state_names,
        diff_names=diff_names,
        input_name=model.input,
        input_mode="increment" if model.input in diff_names else "set",
        input_scale=1.0,
        threshold_scale=1.0,
        refractory_steps=refractory_steps,
        unless_refractory=frozenset(unless),
        initial=_initial_values(c, state_names),
        strict=strict,
        update=_lambdify(list(state_names), new_exprs),
        margin=_lambdify(list(state_names), [margin_expr]),
        resets=tuple((var, _lambdify(list(state_names), [e])) for var, e in resets),
        **_jacobians(new_exprs, margin_expr, resets, state_names),
        symbolic={"update": tuple(new_exprs), "margin": margin_expr, "resets": tuple(resets)},
        update_code="\n".join(f"{n} <- {e}" for n, e in zip(diff_names, new_exprs, strict=True)),
        margin_code=str(margin_expr),
        reset_code="\n".join(reset_lines),
    )
    return replace(neuron, **_scales(c, neuron, input_scale, threshold_scale))


def _equations(c: _Compiler) -> tuple[dict[str, sympy.Expr], set[str]]:
    """Check the equations; their subexpressions (sympy) and the '(unless refractory)' names."""
    eqs = c.eqs
    if eqs.stochastic_variables:
        c.fail(
            "equations",
            f"stochastic term(s) {sorted(eqs.stochastic_variables)} (white noise 'xi') have no "
            "deterministic torch update",
        )
    subexpressions: dict[str, sympy.Expr] = {}
    unless: set[str] = set()
    for eq in eqs.ordered:
        flags = set(eq.flags)
        if eq.type == DIFFERENTIAL_EQUATION:
            if flags - {"unless refractory"}:
                c.fail("equations", f"flag(s) {sorted(flags)} of '{eq.varname}' not supported")
            if "unless refractory" in flags:
                unless.add(eq.varname)
            c.sympify("equations", str(eq.expr))
        elif eq.type == SUBEXPRESSION:
            if flags:
                c.fail("equations", f"flag(s) {sorted(flags)} of '{eq.varname}' not supported")
            expr = c.sympify("equations", str(eq.expr))
            subexpressions[eq.varname] = _by_name(expr, subexpressions)
        elif eq.type == PARAMETER and "linked" in flags:
            c.fail("equations", f"linked variable '{eq.varname}' not supported")
    return subexpressions, unless


def _check_written(c: _Compiler, field: str, name: str, state_names: tuple[str, ...]) -> None:
    """Refuse writing `name` (the input, or a reset's target) where it is no per-neuron state
    variable: a subexpression has no value of its own, and Brian2 refuses writes to a
    ``(shared)`` or ``(constant)`` variable that the PyTorch network would make per neuron."""
    if name not in state_names:
        c.fail(field, f"'{name}' is a subexpression, not a state variable the network can write")
    flags = set(c.eqs[name].flags) & {"shared", "constant"}
    if flags:
        c.fail(field, f"'{name}' is ({', '.join(sorted(flags))}): not writable per neuron")


def _refractory_steps(c: _Compiler) -> int:
    """The refractory period in steps (Brian2's ``timestep``); a condition is refused."""
    t_ref = c.model.refractory_time()
    if t_ref is None:
        c.fail(
            "refractory",
            f"refractoriness given as a condition ({c.model.refractory!r}); only a time "
            "(or the name of a time parameter) is supported",
        )
    return brian_timestep(float(t_ref), c.dt)


def _state_update(
    c: _Compiler, subexpressions: dict, keep: set[str], diff_names: tuple[str, ...]
) -> list[sympy.Expr]:
    """The new value of each differential variable: Brian2's own state updater's abstract code,
    with every number substituted."""
    model = c.model
    variables = checks.base_variables()
    variables.update(_externals())
    variables.update(checks.parameter_variables(model.parameters))
    variables.update(checks.neuron_specials(refractory=True))
    variables.update(checks.equation_variables(c.eqs))
    variables.pop("dt")  # kept symbolic by the exact updater, substituted below
    try:
        abstract = StateUpdateMethod.apply_stateupdater(c.eqs, variables, model.method)
    except Exception as exc:
        c.fail("method", f"Brian2 cannot integrate the equations with '{model.method}': {exc}")
    if not isinstance(abstract, str):
        c.fail("method", f"'{model.method}' does not produce abstract code")
    env: dict[str, sympy.Expr] = {}
    for line in abstract.splitlines():
        line = line.strip()
        if not line:
            continue
        var, op, expr_code, _ = parse_statement(line)
        if op != "=":
            c.fail("method", f"unexpected statement in the state update: {line!r}")
        expr = _by_name(_by_name(c.sympify("equations", expr_code), subexpressions), env)
        env[var] = c.numeric(expr, keep)
    return [env[name] for name in diff_names]


def _threshold(c: _Compiler, subexpressions: dict, keep: set[str]) -> tuple[sympy.Expr, bool]:
    """The threshold as a margin (positive above threshold) and whether it is strict."""
    thr = _by_name(c.sympify("threshold", c.model.threshold), subexpressions)
    if not isinstance(thr, sympy.core.relational.Relational) or thr.rel_op not in _COMPARISONS:
        c.fail(
            "threshold",
            f"'{c.model.threshold}' is not a single comparison (<, <=, >, >=) of two expressions",
        )
    sign, strict = _COMPARISONS[thr.rel_op]
    return c.numeric(sign * (thr.lhs - thr.rhs), keep), strict


def _resets(
    c: _Compiler, subexpressions: dict, keep: set[str], state_names: tuple[str, ...]
) -> tuple[list[tuple[str, sympy.Expr]], list[str]]:
    """The reset statements as (variable, new value) pairs, no-ops left out, and their text."""
    model = c.model
    resets, reset_lines = [], []
    for line in model.reset.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        var, op, expr_code, _ = parse_statement(line)
        if var == model.input:
            c.fail(
                "reset",
                f"'{line}' writes the input variable '{var}'; Brian2 applies synaptic input "
                "before resets, an order the layer-wise PyTorch network cannot reproduce",
            )
        if var not in state_names:
            c.fail("reset", f"'{line}' assigns to '{var}', which is not a state variable")
        _check_written(c, "reset", var, state_names)
        rhs = _by_name(c.sympify("reset", expr_code), subexpressions)
        if model.input in {s.name for s in rhs.free_symbols}:
            c.fail(
                "reset",
                f"'{line}' reads the input variable '{model.input}' (or a subexpression of it); "
                "in Brian2 the synapses deliver the next step's input before the resets, an "
                "order the layer-wise PyTorch network cannot reproduce",
            )
        target = str_to_sympy(var)
        combined = {
            "=": rhs,
            "+=": target + rhs,
            "-=": target - rhs,
            "*=": target * rhs,
            "/=": target / rhs,
        }.get(op)
        if combined is None:
            c.fail("reset", f"operator '{op}' in '{line}' is not supported")
        combined = c.numeric(combined, keep)
        reset_lines.append(f"{var} <- {combined}")
        if combined == target:
            continue  # a no-op, e.g. 'theta += plastic*theta_plus' with plastic = 0
        resets.append((var, combined))
    return resets, reset_lines


def _jacobians(new_exprs, margin_expr, resets, state_names) -> dict:
    """The symbolic partial derivatives of the fused backward pass; empty (the autograd path
    then) where sympy cannot differentiate the model."""
    try:
        return {
            "update_jacobian": _jacobian(new_exprs, state_names),
            "margin_jacobian": _jacobian([margin_expr], state_names),
            "reset_jacobians": tuple(_jacobian([e], state_names) for _, e in resets),
        }
    except (ValueError, TypeError, NotImplementedError):
        return {}


def _initial_values(c: _Compiler, state_names: tuple[str, ...]) -> dict[str, float]:
    """Initial value of each state variable (SI; 0 unless the file gives one)."""
    initial: dict[str, float] = {}
    for name in state_names:
        text = c.model.initial.get(name)
        if text is None:
            initial[name] = 0.0
            continue
        c.check_identifiers(f"initial.{name}", text)
        expr = c.numeric(c.sympify(f"initial.{name}", text), set())
        try:
            initial[name] = float(expr)
        except TypeError:
            c.fail(f"initial.{name}", f"'{text}' does not evaluate to a number")
    return initial


def _scales(c: _Compiler, neuron: CompiledNeuron, input_scale, threshold_scale) -> dict:
    """The given scales, else those derived from the file (module docstring)."""
    t_scale, i_scale = _default_scales(neuron)
    scales = {
        "threshold_scale": float(threshold_scale) if threshold_scale else t_scale,
        "input_scale": float(input_scale) if input_scale else i_scale,
    }
    why = {
        "threshold_scale": "the state after a reset (initial values, then the reset) lies "
        "on the threshold",
        "input_scale": "one step of input does not move the state after a reset toward the "
        "threshold",
    }
    for name, value in scales.items():
        if not (math.isfinite(value) and value > 0):
            c.fail(
                "parameters",
                f"cannot derive the {name} ({value!r}): {why[name]}; check the threshold, "
                "reset, initial values and how the input enters the equations",
            )
    return scales


def _default_scales(neuron: CompiledNeuron) -> tuple[float, float]:
    """Distance from the post-reset state to threshold, and the input crossing it in one step.

    The post-reset state is the initial state with the reset statements applied. The input
    scale comes from the derivative (autograd, float64) of the margin after one step with
    respect to the SI input.
    """
    state = neuron.initial_state((1,), dtype=torch.float64)
    state = apply_reset(neuron, state, torch.ones(1, dtype=torch.bool))
    state.pop("_refractory", None)
    m0 = neuron.margin(*[state[n] for n in neuron.state_names])[0]
    t_scale = abs(float(m0))
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    stepped = dict(state)
    if neuron.input_mode == "set":
        stepped[neuron.input_name] = x
    else:
        stepped[neuron.input_name] = state[neuron.input_name] + x
    stepped = integrate(neuron, stepped, active=None)
    m1 = neuron.margin(*[stepped[n] for n in neuron.state_names])[0]
    (grad,) = torch.autograd.grad(m1.sum(), x, allow_unused=True)
    slope = 0.0 if grad is None else float(grad)
    i_scale = t_scale / slope if slope > 0 else float("nan")
    return t_scale, i_scale


def brian_timestep(t: float, dt: float) -> int:
    """Brian2's ``timestep(t, dt) = int((t + 1e-3*dt)/dt)`` (brian2.core.functions)."""
    return int(np.int64((t + 1e-3 * dt) / dt))


def check_neuron(model: str | Path, dt: float, time_steps) -> None:
    """What a training run refuses of a neuron file before it reads any data: the file
    compiled at `dt` (`compile_neuron`) and its refractory period shorter than presentations of
    each of `time_steps` steps (`CompiledNeuron.check_presentation`). The workflow's start-up
    check, for ``surrogate.neuron`` and the sweeps' derived files.

    Raises
    ------
    EquationFileError
        Naming the file and the field.
    """
    neuron = compile_neuron(model, dt)
    for steps in time_steps:
        neuron.check_presentation(int(steps))
