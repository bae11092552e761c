"""Evaluation of parameter values such as ``-65*mV`` or ``1e-4``.

Parameter values in equation files are Brian2 quantity expressions: numbers combined with
Brian2's unit names (and the constants ``pi``, ``e``, ``inf``). They are evaluated in a namespace
that holds nothing else, so a file cannot run arbitrary code through a parameter value.
"""

from __future__ import annotations

import ast
import math
import re

import numpy as np
from brian2.core.namespace import DEFAULT_UNITS
from brian2.units.fundamentalunits import DIMENSIONLESS, Quantity, get_dimensions

from bioclf.errors import closest, did_you_mean

_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.USub,
    ast.UAdd,
)

_NAMESPACE = dict(DEFAULT_UNITS)
_NAMESPACE.update({"pi": math.pi, "e": math.e, "inf": math.inf})


def _juxtaposed(text: str) -> str:
    """A hint where `text` is a number and a unit side by side (``100ms``, ``100 ms``; a unit
    in the wrong case, ``3 mv``, named as Brian2 spells it; not the constants: ``100 e``)."""
    m = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z_]\w*)\s*", text)
    if m is None:
        return ""
    number, units = m[1], closest(m[2], DEFAULT_UNITS, fuzzy=False)
    if not units:
        return ""
    return f" (a unit multiplies its number: write {' or '.join(f'{number}*{u}' for u in units)})"


def evaluate_quantity(text: str | int | float, known: dict[str, Quantity] | None = None):
    """Evaluate a quantity expression.

    Parameters
    ----------
    text : str or number
        The expression, e.g. ``"-65*mV"``, ``"0.3"`` or ``"2*tau_m"``.
    known : dict, optional
        Names (e.g. parameters defined earlier in the same file) that may appear in `text`.

    Returns
    -------
    Quantity
        The value (a dimensionless `Quantity` for plain numbers).

    Raises
    ------
    ValueError
        With a message saying what is wrong (unknown name, syntax, not finite...).
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a number or a quantity such as '10*ms', got {text!r}")
    if isinstance(text, int | float):
        value = Quantity(float(text))
    elif isinstance(text, str):
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise ValueError(f"cannot parse {text!r}: {exc.msg}{_juxtaposed(text)}") from None
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED_NODES):
                raise ValueError(
                    f"{text!r} is not a quantity expression (only numbers, units and "
                    "+ - * / ** are allowed)"
                )
            if isinstance(node, ast.Constant) and (
                isinstance(node.value, bool) or not isinstance(node.value, int | float)
            ):
                raise ValueError(f"{text!r}: {node.value!r} is not a real number")
            if isinstance(node, ast.Constant):
                # floats: '10**10**10' overflows at once instead of computing a huge integer
                node.value = float(node.value)
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        namespace = dict(_NAMESPACE)
        if known:
            namespace.update(known)
        unknown = sorted(names - set(namespace))
        if unknown:
            hint = did_you_mean(unknown, namespace)
            raise ValueError(f"unknown name(s) {', '.join(unknown)} in {text!r}{hint}")
        try:
            value = eval(compile(tree, "<quantity>", "eval"), {"__builtins__": {}}, namespace)
        except OverflowError:
            raise ValueError(f"{text!r} is too large") from None
        except Exception as exc:  # unit mismatch in e.g. 'mV + ms'
            raise ValueError(f"cannot evaluate {text!r}: {exc}") from None
        value = Quantity(value)
    else:
        raise ValueError(f"expected a number or a quantity such as '10*ms', got {text!r}")
    if value.shape != () or not np.isfinite(float(np.asarray(value))):
        raise ValueError(f"{text!r} must be a single finite value")
    return value


def is_dimensionless(value) -> bool:
    return get_dimensions(value) is DIMENSIONLESS
