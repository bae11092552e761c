"""Arithmetic of one time step of a neuron, counted from its equation file.

The energy model (`bioclf.energy`) prices a spiking neuron's update by the multiplies and adds
it does per time step. They are counted here from the file, not assumed:

1. The state update is the abstract code Brian2 generates for the file's equations and
   ``method`` (``StateUpdateMethod.apply_stateupdater``, as the PyTorch compiler uses it),
   statement by statement; a temporary a statement defines (``_v``, a Runge-Kutta ``__k_1_v``)
   is computed once and read as a variable by the statements after it. Subexpressions are
   written out where they are used.
2. Every name that is not a per-neuron variable of the equations -- the file's parameters,
   units, ``dt`` and ``plastic`` -- is a number. ``plastic`` is 0: an inference is STDP's test
   phase (theta frozen) or a surrogate network, which never learns theta. Every subexpression
   of numbers only is folded into one number, as a compiler hoists a loop invariant
   (``exp(-dt/tau_m)`` costs nothing); a product with a factor 0 vanishes, a factor 1 or -1
   costs no multiply, a sum term 0 no add.
3. What remains is counted on the expression tree: a product of k factors is k - 1 multiplies
   (its folded number one of them unless it is 1 or -1), a sum of k terms k - 1 adds
   (subtraction is an add; a sign flip is free), a division by a variable one multiply (by a
   number: a multiply by its folded reciprocal), an integer power n of a variable n - 1
   multiplies. Common subexpressions are not shared beyond what the generated code shares.
4. Each statement is counted as generated and as its expansion into a sum of terms collected
   per product of variables (``v*e + v_rest + (-R*I - v_rest)*e``, the exact solver's form,
   becomes ``a*v + b*I + c``); the cheaper of the two at 32-bit float prices counts (a nested
   Euler form such as ``v + k*(ge*(E_exc - v) + ...)`` is usually the cheaper as generated).
5. The threshold ``lhs > rhs`` costs the arithmetic of both sides (folded likewise) and one
   add for the comparison.

Free, as in the energy model's other rows: copying the new values into the state variables,
and the refractory bookkeeping. A variable flagged ``(unless refractory)`` is counted at every
step, refractory steps included: Brian2 computes its update and only skips the write (and so
do the PyTorch networks); the test of the refractory counter is bookkeeping. Resets are not
counted: they run at a spike, not at every step, and those of the shipped files are copies
(``v = v_reset``) or, with ``plastic`` 0, no-ops.

A function of a variable (``exp(v)`` in an exponential integrate-and-fire neuron, ``clip``,
``sqrt`` ...) or a noise term (``xi``) has no price in the model, which knows multiplies and
adds only: the count refuses it with an `UnsupportedConstructError` naming the file, the field
and the function or noise. An evaluation and the report go on without that price
(`price_of_file`): the neuron updates' energy of such a network is NaN, and the report says why.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import sympy

#: The values of the network-provided names in an inference (module docstring, point 2).
INFERENCE_VALUES = {"plastic": 0.0}


class _Refused(Exception):
    """A construct the count has no price for (turned into an error naming the file)."""


def update_operations(model, dt: float) -> tuple[int, int]:
    """Multiplies and adds of one time step of one neuron of `model`.

    Parameters
    ----------
    model : NeuronModel or path
        A neuron file of ``equations/`` (loaded if a path is given).
    dt : float or Quantity
        The time step (seconds if a float).

    Returns
    -------
    (multiplies, adds)
        The state update's and the threshold's, the comparison counted as an add.

    Raises
    ------
    UnsupportedConstructError
        Naming the file and field, where the update calls a function of a variable or has a
        noise term, or Brian2 cannot integrate the equations with the file's method.
    """
    from bioclf.equations import load_neuron

    if not hasattr(model, "eqs"):
        model = load_neuron(model)
    return _count(model, float(dt))


#: The price of an update the count refuses: no number.
UNPRICED = (math.nan, math.nan)


def price_of_file(path: str | Path, dt: float) -> tuple[tuple[float, float], str]:
    """`update_operations` of the file at `path`, cached by its content, that of the files it
    extends, and `dt`, and ''; where the count refuses the file (a function of a variable),
    `UNPRICED` and the reason.

    For the callers that must go on without a price (an evaluation, the report), whose energy
    of the neuron updates is then NaN. A file that cannot be read (missing, or one it extends)
    raises the loader's `EquationFileError` naming it."""
    from bioclf.equations.loader import model_files

    # the base files too: dc_exc_fast.yaml takes tau_m and the equations from dc_exc.yaml
    contents = tuple(f.read_bytes() for f in model_files(path))
    return _cached(str(path), contents, float(dt))


@cache
def _cached(path: str, _contents: tuple[bytes, ...], dt: float) -> tuple[tuple[float, float], str]:
    from bioclf.errors import UnsupportedConstructError

    try:
        return update_operations(path, dt), ""
    except UnsupportedConstructError as exc:
        return UNPRICED, exc.reason


def _count(model, dt: float) -> tuple[int, int]:
    from bioclf.errors import UnsupportedConstructError

    # per-neuron or per-step names: never folded (t, i and lastspike are Brian2's own)
    variables = set(model.eqs.names) | {"t", "i", "lastspike"}
    numbers = _numbers(model, dt)
    field = "equations"
    try:
        if model.eqs.stochastic_variables:
            noise = sorted(model.eqs.stochastic_variables)
            raise _Refused(f"the noise term(s) {noise} (white noise: a random number a step)")
        subexpressions = _subexpressions(model)
        muls = adds = 0
        for var, code in _statements(model):
            expr = _substitute(_sympify(code), subexpressions)
            m, a = _cheaper(expr, variables, numbers)
            muls, adds = muls + m, adds + a
            variables.add(var)  # a temporary: computed once, read as a variable
        field = "threshold"
        thr = _substitute(_sympify(model.threshold), subexpressions)
        if not isinstance(thr, sympy.core.relational.Relational):
            raise _Refused(f"'{model.threshold}' is not one comparison")
        for side in (thr.lhs, thr.rhs):
            m, a = _cost(_fold(side, variables, numbers))
            muls, adds = muls + m, adds + a
        return muls, adds + 1
    except _Refused as exc:
        raise UnsupportedConstructError(model.path, field, f"{exc}: {_PRICELESS}") from None


_PRICELESS = (
    "the energy model prices multiplies and adds only (bioclf.neuron_cost), so the neuron "
    "update of this file has no energy"
)


def _numbers(model, dt: float) -> dict[str, float]:
    from brian2.core.namespace import DEFAULT_UNITS

    numbers = {name: float(v) for name, v in DEFAULT_UNITS.items()}
    numbers.update({name: float(v) for name, v in model.parameters.items()})
    numbers.update(INFERENCE_VALUES)
    numbers["dt"] = dt
    return numbers


def _statements(model) -> list[tuple[str, str]]:
    """Brian2's abstract code of the state update as (variable, expression) pairs."""
    from brian2.parsing.statements import parse_statement
    from brian2.stateupdaters.base import StateUpdateMethod

    from bioclf.equations import checks
    from bioclf.equations.loader import _externals
    from bioclf.errors import UnsupportedConstructError

    variables = checks.base_variables()
    variables.update(_externals())
    variables.update(checks.parameter_variables(model.parameters))
    variables.update(checks.neuron_specials(refractory=True))
    variables.update(checks.equation_variables(model.eqs))
    variables.pop("dt")  # the exact updater asks for dt's value otherwise; a number below
    try:
        abstract = StateUpdateMethod.apply_stateupdater(model.eqs, variables, model.method)
    except Exception as exc:  # Brian2 raises several types
        raise UnsupportedConstructError(
            model.path, "method", f"Brian2 cannot integrate the equations: {exc}"
        ) from None
    statements = []
    for line in str(abstract).splitlines():
        if line.strip():
            var, _op, expr, _comment = parse_statement(line.strip())
            statements.append((var, expr))
    return statements


def _sympify(code: str) -> sympy.Expr:
    from brian2.parsing.sympytools import str_to_sympy

    return str_to_sympy(code)


def _subexpressions(model) -> dict[str, sympy.Expr]:
    from brian2.equations.equations import SUBEXPRESSION

    subs: dict[str, sympy.Expr] = {}
    for eq in model.eqs.ordered:
        if eq.type == SUBEXPRESSION:
            subs[eq.varname] = _substitute(_sympify(str(eq.expr)), subs)
    return subs


def _substitute(expr, mapping: dict[str, sympy.Expr]):
    """Replace symbols by name (Brian2's parser gives its symbols assumptions)."""
    found = {s: mapping[s.name] for s in expr.free_symbols if s.name in mapping}
    return expr.xreplace(found) if found else expr


def _cheaper(expr, variables: set[str], numbers: dict[str, float]) -> tuple[int, int]:
    """The cost of `expr` as generated or expanded, whichever is cheaper (point 4)."""
    folded = _fold(expr, variables, numbers)
    forms = [_cost(folded)]
    if isinstance(folded, sympy.Expr) and not folded.is_Atom:
        expanded = sympy.expand(_evaluated(folded))
        forms.append(_cost(_fold(expanded, variables, numbers)))
    from bioclf.energy import FP32  # (the prices: energy's, not a copy)

    return min(forms, key=lambda c: c[0] * FP32.multiply + c[1] * FP32.add)


def _evaluated(expr):
    """`expr` rebuilt with sympy's evaluation (like terms combined)."""
    return expr if expr.is_Atom else expr.func(*(_evaluated(a) for a in expr.args))


def _is_number(expr, variables: set[str]) -> bool:
    return not any(s.name in variables for s in expr.free_symbols)


def _value(expr, numbers: dict[str, float]) -> float:
    unknown = sorted(s.name for s in expr.free_symbols if s.name not in numbers)
    if unknown:
        raise _Refused(f"unknown name(s) {unknown}")
    value = expr.xreplace({s: numbers[s.name] for s in expr.free_symbols})
    try:
        return float(value)
    except TypeError:
        raise _Refused(f"'{expr}' does not fold to a real number") from None


def _fold(expr, variables: set[str], numbers: dict[str, float]):
    """`expr` with every part of numbers only replaced by its value, zero terms and unit
    factors dropped; built unevaluated so that sympy does not reassociate what remains."""
    if _is_number(expr, variables):
        return sympy.Float(_value(expr, numbers))
    if expr.is_Symbol:
        return expr
    args = [_fold(a, variables, numbers) for a in expr.args]
    if expr.is_Add:
        const = sum(float(a) for a in args if a.is_Number)
        terms = [a for a in args if not a.is_Number and not _is_zero(a)]
        if const != 0:
            terms.append(sympy.Float(const))
        if not terms:
            return sympy.Float(0)
        return terms[0] if len(terms) == 1 else sympy.Add(*terms, evaluate=False)
    if expr.is_Mul:
        const = math.prod(float(a) for a in args if a.is_Number)
        factors = [a for a in args if not a.is_Number]
        if const == 0 or any(_is_zero(a) for a in factors):
            return sympy.Float(0)
        if const != 1:
            factors.insert(0, sympy.Float(const))
        return factors[0] if len(factors) == 1 else sympy.Mul(*factors, evaluate=False)
    if expr.is_Pow:
        base, exponent = args
        if not (exponent.is_Number and float(exponent) == int(float(exponent))):
            raise _Refused(f"'{expr}' is a non-integer power of a variable")
        return sympy.Pow(base, sympy.Integer(int(float(exponent))), evaluate=False)
    if isinstance(expr, sympy.Function):
        raise _Refused(f"the function '{type(expr).__name__}' of a variable in '{expr}'")
    raise _Refused(f"'{expr}' ({type(expr).__name__}) is no sum, product or power")


def _is_zero(expr) -> bool:
    return expr.is_Number and float(expr) == 0


def _sum(exprs) -> tuple[int, int]:
    costs = [_cost(e) for e in exprs]
    return sum(c[0] for c in costs), sum(c[1] for c in costs)


def _reciprocal_base(expr):
    """``b**-n`` as ``b**n`` (its division counted by the product that holds it)."""
    return sympy.Pow(expr.base, -expr.exp, evaluate=False) if expr.exp != -1 else expr.base


def _cost(expr) -> tuple[int, int]:
    """Multiplies and adds of a folded expression (module docstring, point 3)."""
    if expr.is_Atom:
        return 0, 0
    if expr.is_Add:
        muls, adds = _sum(expr.args)
        return muls, adds + len(expr.args) - 1
    if expr.is_Mul:
        factors = [a for a in expr.args if not (a.is_Number and abs(float(a)) == 1)]
        variables = [a for a in factors if not a.is_Number]
        reciprocals = [a for a in variables if a.is_Pow and int(a.exp) < 0]
        # a division is one multiply, as the product's join it replaces: a/b and c/b cost
        # one; 1/(a*b) the product and the division
        muls, adds = _sum([_reciprocal_base(a) if a in reciprocals else a for a in variables])
        lone = bool(reciprocals) and len(reciprocals) == len(factors)
        return muls + max(len(factors) - 1, 0) + lone, adds
    if expr.is_Pow:
        muls, adds = _cost(expr.base)
        n = int(expr.exp)
        return muls + abs(n) - 1 + (n < 0), adds
    raise _Refused(f"'{expr}' is no sum, product or power")
