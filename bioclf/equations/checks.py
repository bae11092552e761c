"""Static checks of Brian2 model strings, without building any Brian2 object.

Building a `NeuronGroup` to find a typo would register arrays with whatever device is active
(a standalone project, say). Instead these checks reproduce what Brian2 checks before a run --
identifiers resolve, units agree, thresholds are conditions, the integration method applies --
using Brian2's own parsing and unit-checking functions on a dictionary of `Variable` objects.
"""

from __future__ import annotations

import ast

from brian2 import Equations
from brian2.codegen.translation import analyse_identifiers
from brian2.core.functions import DEFAULT_CONSTANTS, DEFAULT_FUNCTIONS
from brian2.core.namespace import DEFAULT_UNITS
from brian2.core.variables import Constant, Variable
from brian2.equations.equations import BOOLEAN, DIFFERENTIAL_EQUATION, INTEGER, SUBEXPRESSION
from brian2.equations.unitcheck import check_dimensions, check_units_statements
from brian2.parsing.expressions import is_boolean_expression, parse_expression_dimensions
from brian2.stateupdaters.base import StateUpdateMethod
from brian2.units.allunits import second
from brian2.units.fundamentalunits import (
    DIMENSIONLESS,
    DimensionMismatchError,
    get_dimensions,
)
from brian2.utils.stringtools import get_identifiers

_KEYWORDS = {"and", "or", "not", "True", "False"}


def _constant(name, value):
    return Constant(name, float(value), dimensions=get_dimensions(value))


def base_variables() -> dict:
    """Units, functions and constants every Brian2 model may use."""
    variables = {name: _constant(name, unit) for name, unit in DEFAULT_UNITS.items()}
    variables.update(DEFAULT_FUNCTIONS)
    variables.update(DEFAULT_CONSTANTS)
    return variables


def equation_variables(eqs: Equations, owner_suffix: str = "") -> dict:
    """`Variable` objects for the variables an `Equations` object defines."""
    variables = {}
    for name in eqs.names:
        eq = eqs[name]
        dtype = {INTEGER: "int32", BOOLEAN: bool}.get(eq.var_type, "float64")
        variables[name + owner_suffix] = Variable(
            name + owner_suffix, dimensions=eqs.dimensions[name], dtype=dtype
        )
    for name in eqs.stochastic_variables:
        variables[name] = Variable(name, dimensions=(second**-0.5).dim)
    return variables


def parameter_variables(parameters: dict, suffix: str = "") -> dict:
    return {name + suffix: _constant(name + suffix, v) for name, v in parameters.items()}


def neuron_specials(refractory: bool) -> dict:
    specials = {
        "t": Variable("t", dimensions=second.dim),
        "dt": Variable("dt", dimensions=second.dim),
        "t_in_timesteps": Variable("t_in_timesteps", dtype="int64"),
        "i": Variable("i", dtype="int32"),
        "N": Variable("N", dtype="int32"),
    }
    if refractory:
        specials["lastspike"] = Variable("lastspike", dimensions=second.dim)
        specials["not_refractory"] = Variable("not_refractory", dtype=bool)
    return specials


def synapse_specials() -> dict:
    specials = neuron_specials(refractory=False)
    for name in ("j", "N_incoming", "N_outgoing", "N_pre", "N_post"):
        specials[name] = Variable(name, dtype="int32")
    specials["lastupdate"] = Variable("lastupdate", dimensions=second.dim)
    specials["delay"] = Variable("delay", dimensions=second.dim)
    return specials


def _used(code: str, variables: dict) -> dict:
    """The entries of `variables` that `code` names.

    Brian2 caches its statement analysis under a key built from every entry of the dictionary
    it is given (some 300 units among them): passing only the names in use makes a check ~50x
    cheaper, which counts when a wrong unit is searched for by trying dimensions in turn.
    """
    names = get_identifiers(code)
    return {name: value for name, value in variables.items() if name in names}


def unknown_identifiers(code: str, variables: dict, statements: bool = False) -> list[str]:
    """Identifiers in `code` that `variables` does not define."""
    if statements:
        from brian2.parsing.statements import parse_statement

        missing = set()
        for line in code.splitlines():
            line = line.split("#")[0].strip()
            if line:
                var, op, _, _ = parse_statement(line)
                if op != "=" and var not in variables:  # 'x += ...' needs an existing x
                    missing.add(var)
        if missing:
            return sorted(missing)
        _, _, unknown = analyse_identifiers(code, _used(code, variables))
        return sorted(set(unknown) - _KEYWORDS)
    return sorted(get_identifiers(code) - set(variables) - _KEYWORDS)


def check_equations(eqs: Equations, variables: dict) -> None:
    """Raise if an equation's right-hand side has the wrong unit."""
    for eq in eqs.ordered:
        if eq.type == DIFFERENTIAL_EQUATION:
            expected = get_dimensions(eqs.dimensions[eq.varname] / second.dim)
        elif eq.type == SUBEXPRESSION:
            expected = eqs.dimensions[eq.varname]
        else:
            continue
        check_dimensions(str(eq.expr), expected, variables)
        check_exponents(str(eq.expr), variables)


def check_exponents(expr: str, variables: dict) -> None:
    """Raise `DimensionMismatchError` where an exponent in `expr` has units.

    Brian2 checks an exponent only where the base has units: ``(wmax - w)**mu`` with
    ``mu: 0.5*ms`` passes its checks and runs as the power 0.0005 (the value in seconds). A
    name `variables` lacks (a temporary of statements) is left to Brian2's own checks.
    """
    for node in ast.walk(ast.parse(expr.strip(), mode="eval")):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow)):
            continue
        try:
            dim = parse_expression_dimensions(node.right, variables)
        except (KeyError, SyntaxError, TypeError, ValueError, DimensionMismatchError):
            continue  # (reported by Brian2's check of the whole expression, if at all)
        if dim is not DIMENSIONLESS:
            raise DimensionMismatchError(
                f"the exponent '{ast.unparse(node.right)}' of '{ast.unparse(node)}' has units; "
                "an exponent must be dimensionless",
                dim,
            )


def is_time(expr: str, variables: dict) -> bool:
    """Whether `expr` is an expression with units of time (False where it cannot be parsed)."""
    try:
        return parse_expression_dimensions(expr, variables) is second.dim
    except Exception:  # (any error: the checks that follow report it)
        return False


def check_condition(expr: str, variables: dict) -> None:
    """Raise unless `expr` is a unit-consistent boolean condition."""
    parse_expression_dimensions(expr, variables)
    check_exponents(expr, variables)
    if not is_boolean_expression(expr, variables):
        raise TypeError(f"'{expr}' is not a condition (use a comparison such as 'v > v_th')")


def check_statements(code: str, variables: dict, writable: set[str]) -> None:
    """Raise if statements write to something other than `writable` or mix units."""
    from brian2.parsing.statements import parse_statement

    lines = [line.split("#")[0].strip() for line in code.splitlines()]
    lines = [line for line in lines if line]
    for number, line in enumerate(lines):
        later = lines[number + 1 :]
        var, op, _expr, _comment = parse_statement(line)
        if var in variables and var not in writable:
            raise TypeError(f"'{line}' assigns to '{var}', which is not a state variable")
        if var not in variables and var not in get_identifiers(" ".join(later)):
            # A new name is a temporary only if a later line reads it; otherwise it is a
            # variable the model does not have (a typo, or one removed from the equations).
            raise TypeError(
                f"'{line}' assigns to '{var}', which this model does not have "
                f"(variables: {', '.join(sorted(writable))})"
            )
    check_units_statements(code, _used(code, variables))
    for line in lines:
        check_exponents(parse_statement(line)[2], variables)


def check_expression_dimensions(expr: str, variables: dict, expected) -> None:
    check_dimensions(expr, get_dimensions(expected), variables)
    check_exponents(expr, variables)


def check_method(eqs: Equations, variables: dict, method: str) -> None:
    """Raise if Brian2 cannot integrate `eqs` with `method`."""
    # 'dt' is left out: the exact updater would try to read its value to simplify.
    variables = {k: v for k, v in variables.items() if k != "dt"}
    StateUpdateMethod.apply_stateupdater(eqs, variables, method)


def divisors(code: str) -> set[str]:
    """Names that `code` (an expression, or the right-hand side of ``dx/dt = ...``) divides by.

    A name counts when it appears in the base of a negative power of Brian2's sympy form of
    the expression: ``a/tau``, ``exp(-t/tau)`` and ``1/(tau1 - tau2)`` all divide by their
    time constants.
    """
    import sympy
    from brian2.parsing.sympytools import str_to_sympy

    names: set[str] = set()
    for part in sympy.preorder_traversal(str_to_sympy(code)):
        if isinstance(part, sympy.Pow) and part.exp.is_negative:
            names |= {str(symbol) for symbol in part.base.free_symbols}
    return names


def needed_dimension(name: str, variables: dict, run_checks, candidates) -> object | None:
    """The dimension `name` would need for `run_checks(variables)` to pass, or None.

    `run_checks` raises `DimensionMismatchError` while the units are inconsistent. Each of the
    `candidates` (dimensions) is tried in place of `name`'s own; exactly one must pass.
    """
    from brian2.units.fundamentalunits import DimensionMismatchError

    passing = []
    for dim in candidates:
        trial = dict(variables)
        trial[name] = Constant(name, 1.0, dimensions=dim)
        try:
            run_checks(trial)
        except DimensionMismatchError:
            continue
        except Exception:  # another problem, reported by the field's own check
            return None
        passing.append(dim)
    return passing[0] if len(passing) == 1 else None


def candidate_dimensions(variables: dict) -> list:
    """Dimensions to try for a parameter: those of the model's names, and their ratios."""
    from brian2.units.allunits import amp, farad, metre, ohm, siemens, volt

    dims = {get_dimensions(v.dim) for v in variables.values() if isinstance(v, Variable)}
    dims |= {get_dimensions(u) for u in (second, volt, amp, siemens, ohm, farad, metre)}
    dims.add(DIMENSIONLESS)
    found = set(dims)
    for a in dims:
        for b in dims:
            found.add(get_dimensions(a / b))
            found.add(get_dimensions(a * b))
    return sorted(found, key=str)


def _names(code: str) -> set[str]:
    return set(get_identifiers(str(code)))


def _numeric(code, values: dict):
    """`code` (a Brian2 expression, or its sympy form) as a float with `values` and Brian2's
    units substituted, or None where it depends on anything else (a state variable not given,
    ``t``, a function)."""
    import sympy
    from brian2.parsing.sympytools import str_to_sympy

    try:
        expr = code if isinstance(code, sympy.Basic) else str_to_sympy(code)
    except Exception:  # unparsable code is reported by the field's own check
        return None
    known = {**{name: float(unit) for name, unit in DEFAULT_UNITS.items()}, **values}
    expr = expr.subs({s: known[s.name] for s in expr.free_symbols if s.name in known})
    if expr.free_symbols or not isinstance(expr, sympy.Expr):
        return None
    try:
        value = complex(expr)
    except (TypeError, ValueError):
        return None
    return value.real if value.imag == 0 else None


def spike_problem(
    threshold: str,
    reset: str,
    diff_eq_names,
    values: dict,
    initial: dict,
    show=None,
    held: frozenset[str] = frozenset(),
) -> tuple[str, set[str]] | None:
    """Why a neuron's reset makes no sense against its threshold ``v > rhs``, and the names of
    the values involved; or None.

    From the initial state (`initial`: state variable -> Brian2 expression, Brian2's 0 where not
    given; `values`: parameters and the network's names, as floats in SI units, ``plastic`` 1 as
    while training), the reset of a first spike is run: it must leave v below the threshold
    (else the neuron fires again at once, and on every step it may), and a variable it adds to
    that the threshold grows with (an adaptive threshold, ``theta += theta_plus``) must not lower
    the threshold (a neuron that fires would fire ever more easily). A reset that leaves v as
    it was, where v is held while refractory (`held`: the variables flagged ``(unless
    refractory)``), must raise the threshold: else v, above it at the spike, is still above it
    when the period ends. Checked where the threshold is ``v > expression`` (or ``<``) and
    every value involved is a number; other forms are left alone. `show(variable, value)`
    writes a value of a variable (SI units by default)."""
    import sympy
    from brian2.parsing.statements import parse_statement
    from brian2.parsing.sympytools import str_to_sympy

    try:
        relation = str_to_sympy(threshold)
    except Exception:
        return None
    if isinstance(relation, sympy.StrictLessThan | sympy.LessThan):
        relation = relation.reversed
    if not isinstance(relation, sympy.StrictGreaterThan | sympy.GreaterThan):
        return None
    if not isinstance(relation.lhs, sympy.Symbol) or relation.lhs.name not in diff_eq_names:
        return None
    v, rhs = relation.lhs.name, relation.rhs
    show = show or (lambda _, x: f"{x:g}")
    involved = {s.name for s in rhs.free_symbols}
    symbols = {s.name: s for s in rhs.free_symbols}
    state = dict(values)
    for name in set(symbols) - set(values):
        if name in diff_eq_names:
            start = _numeric(str(initial.get(name, "0")), values)
            if start is None:
                return None
            state[name] = start
            involved |= _names(initial.get(name, "0"))
    before = _numeric(rhs, state) if v not in symbols else None  # (the threshold at a spike)
    sets_v = False
    for line in reset.replace(";", "\n").splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        try:
            var, op, expr, _ = parse_statement(line)
        except Exception:
            return None
        value = _numeric(expr, state)
        if value is None:
            return None
        if var == v:
            sets_v = True
            involved |= _names(expr)
        elif op in ("+=", "-=") and var in symbols and value != 0:
            slope = _numeric(sympy.diff(rhs, symbols[var]), state)
            step = value if op == "+=" else -value
            if slope is not None and slope * step < 0:
                return (
                    f"'{line}' lowers the threshold '{threshold}' at every spike ({var} changes "
                    f"by {show(var, step)}): a neuron that fires would fire ever more easily, "
                    "where an adaptive threshold rises",
                    _names(expr),
                )
        if op == "=":
            state[var] = value
        elif var in state and op in ("+=", "-=", "*=", "/="):
            old = state[var]
            state[var] = {"+=": old + value, "-=": old - value, "*=": old * value}.get(
                op, old / value if value else float("nan")
            )
    if not sets_v and v in held and before is not None:
        after = _numeric(rhs, state)
        if after is not None and not after > before:
            return (
                f"the reset leaves {v} as it was, above the threshold '{threshold}' it has just "
                f"crossed, and does not raise that threshold: {v} is held while refractory, so "
                "the neuron would fire again as soon as its refractory period ends, on every "
                "step it may (set it, e.g. 'v = v_reset')",
                set(),  # (the reset's fault, not a value's)
            )
    if not sets_v or v not in state:
        return None
    after = _numeric(rhs, state)
    if after is not None and not state[v] < after:
        return (
            f"the reset leaves {v} at {show(v, state[v])}, not below the threshold "
            f"'{threshold}' ({show(v, after)} after a first spike from the initial values): the "
            "neuron would fire again at once, on every step it may",
            involved,
        )
    return None


def reversed_clips(code: str, values: dict) -> list[tuple[str, str, str]]:
    """The ``clip(x, low, high)`` calls of `code` (statements) whose bounds, evaluated with
    `values` (parameters, SI floats), have ``low > high``: (call, low, high) as written.
    Brian2's clip then returns the upper bound whatever ``x`` is. Bounds
    that depend on anything but parameters and units are left alone."""
    import ast

    from brian2.parsing.statements import parse_statement

    found = []
    for line in code.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        try:
            expr = parse_statement(line)[2]
            tree = ast.parse(expr, mode="eval")
        except Exception:  # unparsable code is reported by the field's own check
            continue
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "clip"
                and len(node.args) == 3
            ):
                continue
            call, low, high = (ast.get_source_segment(expr, n) for n in (node, *node.args[1:]))
            lo, hi = _numeric(low, values), _numeric(high, values)
            if lo is not None and hi is not None and lo > hi:
                found.append((call, low, high))
    return found


def drawn_lowest(expr: str, values: dict) -> float | None:
    """The lowest value of `expr` (a Brian2 expression drawn once per element, a ``delay``)
    with `values` (parameters, SI floats) substituted and ``rand()`` at either end of its
    range [0, 1), or None where it depends on anything else (``i``, ``j``, ``randn()``).

    Both ends are values a draw can give (every ``rand()`` call drawing the same number), so a
    negative result is a value the elements can take; one that is not negative proves nothing
    for an expression that is not monotonic in ``rand()``."""
    import math

    found = _drawn_at(expr, values, (0.0, math.nextafter(1.0, 0.0)))
    return None if found is None else min(found)


def drawn_bound(expr: str, values: dict) -> float | None:
    """The bound that `expr` (as in `drawn_lowest`) approaches from below: its larger value
    with ``rand()`` at 0 and at 1 (``rand()*delay_max``: ``delay_max``), or None where it
    depends on anything else. A bound for an expression monotonic in ``rand()`` only; the
    values drawn are checked as well (`bioclf.stdp.network`)."""
    found = _drawn_at(expr, values, (0.0, 1.0))
    return None if found is None else max(found)


def _drawn_at(expr: str, values: dict, ends: tuple[float, ...]) -> list[float] | None:
    """`expr` with `values` substituted and every ``rand()`` at each of `ends` in turn."""
    import sympy
    from brian2.parsing.sympytools import str_to_sympy

    try:
        parsed = str_to_sympy(expr)
    except Exception:  # unparsable code is reported by the field's own check
        return None
    rands = [f for f in parsed.atoms(sympy.Function) if f.func.__name__ == "rand"]
    found = []
    for end in ends:
        value = _numeric(parsed.subs({r: sympy.Float(end) for r in rands}), values)
        if value is None:
            return None
        found.append(value)
    return found
