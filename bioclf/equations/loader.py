"""Read and validate the YAML model files in ``equations/``.

The format is documented in ``equations/README.md``. Every problem is reported as one
`EquationFileError` naming the file, the field and the reason (Brian2's own message included
where Brian2 has one), before anything is built or computed.
"""

from __future__ import annotations

import keyword
from pathlib import Path

from brian2 import Equations
from brian2.core.functions import DEFAULT_CONSTANTS, DEFAULT_FUNCTIONS
from brian2.core.namespace import DEFAULT_UNITS
from brian2.equations.equations import DIFFERENTIAL_EQUATION, PARAMETER, SUBEXPRESSION
from brian2.units.allunits import second
from brian2.units.fundamentalunits import (
    DIMENSIONLESS,
    DimensionMismatchError,
    Quantity,
    get_dimensions,
    get_unit,
)

from bioclf.equations import checks
from bioclf.equations.quantities import evaluate_quantity
from bioclf.equations.spec import EXTERNALS, NeuronExtension, NeuronModel, SynapseModel
from bioclf.errors import EquationFileError, closest, did_you_mean
from bioclf.io import read_yaml

NEURON_FIELDS = {
    "required": {"kind", "equations", "threshold", "reset", "refractory", "method", "parameters"},
    "optional": {"description", "initial", "input"},
}
SYNAPSE_FIELDS = {
    "required": {"kind", "model", "on_pre", "parameters"},
    "optional": {
        "description",
        "on_post",
        "pre_neuron",
        "post_neuron",
        "connect",
        "delay",
        "initial",
        "normalize",
    },
}
# The flags Brian2's NeuronGroup and Synapses accept, less 'linked': nothing links a variable
# of a model file to another group.
NEURON_FLAGS = {
    DIFFERENTIAL_EQUATION: ("unless refractory",),
    PARAMETER: ("constant", "shared"),
    SUBEXPRESSION: ("shared", "constant over dt"),
}
SYNAPSE_FLAGS = {
    DIFFERENTIAL_EQUATION: ("event-driven",),
    PARAMETER: ("constant", "shared"),
    SUBEXPRESSION: ("summed", "shared", "constant over dt"),
}
SYNAPSE_INCOMPATIBLE_FLAGS = [("summed", "shared", "constant over dt")]
METHODS = {"exact", "linear", "euler", "rk2", "rk4", "heun", "exponential_euler", "milstein"}


def _message(exc: Exception) -> str:
    # one line: Brian2's parser messages span several (the code, a caret, the reason)
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text or type(exc).__name__}"


def reserved_name(name: str, synapse: bool = True) -> str | None:
    """Why a parameter (`synapse`: of a synapse file) may not be called `name`, or None.

    Brian2 resolves a group's own names (``t``, ``dt``, ``i``, ``N``, ...), then its constants,
    units and functions, before the parameters it is given: it would use its own object and
    ignore the parameter, while these checks, the f-I analysis and the PyTorch compiler read
    the parameter's value. A synapse's names (``j``, ``delay``, ``N_pre``, ...) are a neuron
    group's only where a synapse file's parameters are also its (``pre_neuron`` code), so a
    neuron file may use them.
    """
    for names, what in (
        (_specials(synapse), "a name Brian2 gives every neuron or synapse"),
        (EXTERNALS, "a name the network provides (equations/README.md)"),
        (DEFAULT_CONSTANTS, "a Brian2 constant"),
        (DEFAULT_UNITS, "a Brian2 unit"),
        (DEFAULT_FUNCTIONS, "a Brian2 function"),
    ):
        if name in names:
            return f"{what}, which Brian2 would use in place of this value"
    if name == "xi" or name.startswith("xi_"):
        return "Brian2's name for white noise in equations"
    if keyword.iskeyword(name):
        return "a Python keyword"
    return None


def _specials(synapse: bool) -> dict:
    """The names Brian2 gives every neuron (one with a refractory period) and, with `synapse`,
    every synapse: no parameter or synaptic variable may take one."""
    specials = checks.neuron_specials(refractory=True)
    if synapse:
        specials.update(checks.synapse_specials())
    return specials


def _non_ascii(code: str) -> str | None:
    """The first non-ASCII character of Brian2 code outside its comments, or None.

    Brian2 finds the names in a model by an ASCII pattern: it does not see a name such as
    ``τ_m`` at all, which Python's parser (these checks) reads, so the file would pass the
    checks and fail when the network is built."""
    for line in code.splitlines():
        for char in line.split("#")[0]:
            if not char.isascii():
                return char
    return None


def _order_hint(name: str, text, block: dict, earlier: dict) -> str:
    """Why a parameter's value may name another parameter that the file has: it is not above."""
    from brian2.utils.stringtools import get_identifiers

    later = sorted(n for n in get_identifiers(str(text)) if n in block and n not in earlier)
    if not later:
        return ""
    if later == [name]:
        return f" ('{name}' refers to itself)"
    return (
        f" ({', '.join(later)} {'is' if len(later) == 1 else 'are'} defined below '{name}': a "
        "parameter may use only those above it, in the base file's order where a file extends "
        "another)"
    )


def _unit_name(dim) -> str:
    """A dimension as a unit name: ``second``, ``volt / second``, ``1 (dimensionless)``."""
    return "1 (dimensionless)" if dim is DIMENSIONLESS else repr(get_unit(dim))


class _Reader:
    """Holds the file path so every check can raise an error that names it.

    A file may extend another (``extends: base.yaml``, relative to its own directory); `read`
    returns the merged fields, and an error names the file the faulty field came from.
    """

    def __init__(self, path: Path):
        self.path = path
        self.origin: dict[str, Path] = {}  # field (or 'parameters.NAME') -> file it came from
        self.files: list[Path] = []  # this file and those it extends

    def fail(self, field: str, reason: str):
        where = self.origin.get(field) or self.origin.get(field.split(".")[0]) or self.path
        if where != self.path:
            reason += f" (loading {self.path}, which extends this file)"
        raise EquationFileError(where, field, reason)

    def read(self) -> dict:
        return self._read(self.path, ())

    def read_kind(self, kind: str, spec: dict) -> dict:
        """The file's fields (`read`), refused unless it is a model of `kind` with the fields
        of `spec` (``required`` and ``optional``: `check_fields`).

        Parameters
        ----------
        kind : str
            'neuron' or 'synapse', what the caller loads.
        spec : dict
            The fields a file of that kind has.
        """
        data = self.read()
        if data.get("kind") != kind:
            self.fail("kind", f"must be {kind!r} for this use, got {data.get('kind')!r}")
        self.check_fields(data, spec)
        return data

    def _read(self, path: Path, children: tuple[Path, ...]) -> dict:
        self.files.append(path)
        data = read_yaml(path, EquationFileError)
        if not isinstance(data, dict):
            raise EquationFileError(
                path, "(top level)", "must be a mapping of fields such as 'kind: neuron'"
            )
        base_name = data.pop("extends", None)
        if base_name is None:
            self.origin.update({field: path for field in data})
            self.origin.update(
                {f"parameters.{name}": path for name in data.get("parameters") or {}}
            )
            return data
        return self._extend(path, data, base_name, children)

    def _extend(self, path: Path, data: dict, base_name, children: tuple[Path, ...]) -> dict:
        """`data` (of `path`) laid over the fields of the file it extends."""
        if not isinstance(base_name, str) or not base_name.strip():
            raise EquationFileError(path, "extends", "must be the name of another model file")
        base_path = path.parent / base_name.strip()
        if base_path.resolve() in (path.resolve(), *children):
            raise EquationFileError(path, "extends", f"'{base_name}' extends this file: a cycle")
        if not base_path.is_file():
            what = "a directory" if base_path.is_dir() else "no file"
            raise EquationFileError(path, "extends", f"{what} '{base_name}' next to this one")
        base = self._read(base_path, (*children, path.resolve()))
        if "kind" in data and data["kind"] != base.get("kind"):
            raise EquationFileError(
                path, "kind", f"is {data['kind']!r} but '{base_name}' is {base.get('kind')!r}"
            )
        merged = {**base, **{k: v for k, v in data.items() if k != "parameters"}}
        self.origin.update({field: path for field in data if field != "parameters"})
        params = data.get("parameters") or {}
        if not isinstance(params, dict):
            raise EquationFileError(path, "parameters", "must be a mapping of 'name: value' lines")
        base_params = base.get("parameters") or {}
        for name in params:
            if name not in base_params:
                close = closest(str(name), [str(n) for n in base_params])
                raise EquationFileError(
                    path,
                    f"parameters.{name}",
                    f"'{base_name}' has no such parameter to override "
                    + (f"(did you mean {close[0]}?)" if close else "(a typo?)"),
                )
            self.origin[f"parameters.{name}"] = path
        # The base's order is kept: a parameter may use the ones before it.
        merged["parameters"] = {**base_params, **params}
        return merged

    def check_fields(self, data: dict, spec: dict) -> None:
        missing = sorted(spec["required"] - set(data))
        unknown = sorted(set(data) - spec["required"] - spec["optional"])
        if missing:
            hint = f" (the file has an unknown field '{unknown[0]}': a typo?)" if unknown else ""
            self.fail(missing[0], "required field is missing" + hint)
        if unknown:
            allowed = ", ".join(sorted(spec["required"] | spec["optional"]))
            self.fail(unknown[0], f"unknown field (allowed: {allowed})")

    def string(self, data: dict, field: str, where: str | None = None) -> str:
        """`data[field]` (Brian2 code, or the description), stripped; `where`: the field's name
        in errors, where `data` is a block of the file (``pre_neuron.equations``)."""
        where = where or field
        value = data.get(field)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.fail(where, f"must be a string of Brian2 code, got {type(value).__name__}")
        if field != "description":
            self.ascii(where, value)
        return value.strip()

    def ascii(self, field: str, code) -> None:
        """Refuse Brian2 code (`code`, of `field`) with a non-ASCII character outside comments."""
        char = _non_ascii(str(code))
        if char is not None:
            self.fail(
                field,
                f"non-ASCII character {char!r} (U+{ord(char):04X}): Brian2 code is ASCII "
                "(names, operators, numbers); other text belongs in a comment after '#'",
            )

    def mapping(self, data: dict, field: str) -> dict:
        value = data.get(field) or {}
        if not isinstance(value, dict):
            self.fail(field, "must be a mapping of 'name: value' lines")
        return value

    def parameters(self, data: dict, synapse: bool) -> dict[str, Quantity]:
        """The ``parameters`` block evaluated in order (`synapse`: of a synapse file)."""
        params: dict[str, Quantity] = {}
        block = self.mapping(data, "parameters")
        for name, text in block.items():
            if not (str(name).isascii() and str(name).isidentifier()):
                self.fail(
                    f"parameters.{name}",
                    "is not a valid name (ASCII letters, digits and '_', not starting with a "
                    "digit: Brian2 reads no other)",
                )
            why = reserved_name(name, synapse)
            if why:
                self.fail(f"parameters.{name}", f"'{name}' is {why}: rename the parameter")
            try:
                params[name] = evaluate_quantity(text, known=params)
            except ValueError as exc:
                self.fail(f"parameters.{name}", str(exc) + _order_hint(name, text, block, params))
        return params

    def equations(self, field: str, text: str, flags: dict, incompatible=None) -> Equations:
        """`text` as Brian2 equations, their flags among `flags` (Brian2 checks them only when
        it builds a group, with a traceback)."""
        try:
            eqs = Equations(text)
            eqs.check_flags(flags, incompatible)
        except Exception as exc:
            self.fail(field, _message(exc))
        return eqs

    def no_clash(self, field: str, eqs: Equations, params: dict, variables: dict) -> None:
        for name in eqs.names:
            if name in params:
                self.fail(f"parameters.{name}", f"'{name}' is also a variable in '{field}'")
            if name in variables and name not in params:
                self.fail(field, f"variable '{name}' shadows a Brian2 unit, function or name")

    def unknown(self, field: str, code: str, variables: dict, statements: bool = False) -> list:
        """The names in `code` (of `field`) that `variables` lacks; code Brian2 cannot read is
        refused."""
        try:
            return checks.unknown_identifiers(code, variables, statements=statements)
        except Exception as exc:  # Brian2's parsers: a statement or expression it cannot read
            self.fail(field, _message(exc))

    def known(self, field: str, code: str, variables: dict, statements: bool = False) -> None:
        unknown = self.unknown(field, code, variables, statements)
        if unknown:
            # the model's own names (not Brian2's units and functions) a typo may be of
            base = checks.base_variables()
            own = [name for name in variables if name not in base]
            hint = did_you_mean(unknown, own)
            self.fail(field, f"unknown identifier(s): {', '.join(unknown)}{hint}")

    def guard(self, field: str, check, *args) -> None:
        try:
            check(*args)
        except (DimensionMismatchError, SyntaxError, TypeError, ValueError, KeyError) as exc:
            self.fail(field, _message(exc))
        except Exception as exc:  # Brian2 raises a variety of errors from its parsers
            self.fail(field, _message(exc))

    def parameter_units(self, params: dict, variables: dict, own: dict, run_checks) -> None:
        """Name the parameter whose unit makes `run_checks` fail, and the unit it needs.

        Brian2's message speaks of a whole expression in SI base units; when exactly one
        parameter, given another unit, would make every unit check of the model pass, that
        parameter is the mistake. Otherwise the field's own check reports the expression.
        """
        try:
            run_checks(variables)
        except DimensionMismatchError:
            pass
        except Exception:  # not a unit problem: the field's own check reports it
            return
        else:
            return
        candidates = checks.candidate_dimensions(own)
        blamed = []
        for name, value in params.items():
            have = get_dimensions(value)
            dim = checks.needed_dimension(
                name, variables, run_checks, [d for d in candidates if d is not have]
            )
            if dim is not None:
                blamed.append((name, value, dim))
        if len(blamed) == 1:
            name, value, dim = blamed[0]
            self.fail(
                f"parameters.{name}",
                f"{value} has units of {_unit_name(get_dimensions(value))}; "
                f"expected {_unit_name(dim)} (from how the model uses '{name}')",
            )

    def no_zero_divisor(self, params: dict, codes: dict[str, list[str]]) -> None:
        """Refuse a parameter of value 0 that a field divides by (a time constant of 0), and a
        negative time that a field divides by (a time constant: the solution would grow)."""
        zero = {
            name
            for name, value in params.items()
            if float(value) == 0 or (float(value) < 0 and get_dimensions(value) is second.dim)
        }
        if not zero:
            return
        for field, texts in codes.items():
            for text in texts:
                try:
                    divisors = checks.divisors(text)
                except Exception:  # unparsable code is reported by the field's own check
                    continue
                for name in params:  # file order: the first such parameter is named
                    if name in zero and name in divisors:
                        what = (
                            "a division by zero"
                            if float(params[name]) == 0
                            else "a time constant must be positive"
                        )
                        self.fail(
                            f"parameters.{name}",
                            f"is {params[name]}, but '{field}' divides by it ('{text}'): {what}",
                        )

    def clip_bounds(self, params: dict, codes: dict[str, str]) -> None:
        """Refuse a ``clip(x, low, high)`` in `codes` (field: statements) whose lower bound
        exceeds its upper one (``wmax: -1``): Brian2 would set every value it writes to the
        upper bound. A bound that is one parameter of this file is named as the field."""
        values = {name: float(value) for name, value in params.items()}

        def bound(text: str) -> str:
            return f"{text} = {params[text]}" if text in params else text

        for field, code in codes.items():
            for call, low, high in checks.reversed_clips(code, values):
                reason = (
                    f"'{call}' in '{field}' has its lower bound {bound(low)} above its upper "
                    f"bound {bound(high)}: every value it writes would be the upper bound"
                )
                blamed = [b for b in (high, low) if b in params]
                self.fail(f"parameters.{blamed[0]}" if len(blamed) == 1 else field, reason)

    def delays(self, delay: str, params: dict) -> None:
        """Refuse a ``delay`` expression that draws negative delays (``rand()*delay_max`` with
        ``delay_max: -1*ms``): Brian2 would refuse the network only when it builds it. Checked
        where the expression is of parameters and ``rand()`` alone (`checks.drawn_lowest`);
        others (of ``i``, ``j``, ``randn()``) are checked as drawn (`bioclf.brian.groups`). The
        one negative parameter it uses is named as the field."""
        from brian2.utils.stringtools import get_identifiers

        lowest = checks.drawn_lowest(delay, {name: float(v) for name, v in params.items()})
        if lowest is None or lowest >= 0:
            return
        reason = f"'{delay}' gives negative delays (down to {lowest * 1e3:.3g} ms)"
        blamed = [n for n in params if n in get_identifiers(delay) and float(params[n]) < 0]
        if len(blamed) == 1:
            self.fail(f"parameters.{blamed[0]}", f"is {params[blamed[0]]}: {reason}")
        self.fail("delay", reason)

    def initial_names(self, data: dict, eqs: Equations, params: dict) -> dict:
        """The ``initial`` block, refused where it names anything but a state variable."""
        block = self.mapping(data, "initial")
        settable = set(eqs.diff_eq_names) | set(eqs.parameter_names)
        for name, text in block.items():
            self.ascii(f"initial.{name}", text)
            if name in params:
                self.fail(
                    f"initial.{name}",
                    f"'{name}' is a parameter, not a state variable: set its value under "
                    "'parameters'",
                )
            if name not in settable:
                self.fail(f"initial.{name}", f"'{name}' is not a state variable of this model")
        return block

    def initial(
        self, data: dict, variables: dict, eqs: Equations, params: dict, kind: str = "neuron"
    ) -> dict[str, str]:
        """The ``initial`` block: values of the state variables of `eqs` (not subexpressions,
        parameters, or the variables of another group), naming only what a `kind` model's
        values are evaluated with (`EVALUATED_WITH`), checked against `variables`."""
        initial = {}
        for name, text in self.initial_names(data, eqs, params).items():
            field = f"initial.{name}"
            text = str(text)
            known = _check_evaluated(self, field, text, params, variables, kind)
            self.guard(
                field,
                checks.check_expression_dimensions,
                text,
                known,
                variables[name].dim,
            )
            initial[name] = text
        return initial


def _externals() -> dict:
    return {
        name: checks.Variable(name, dimensions=dim, scalar=True) for name, dim in EXTERNALS.items()
    }


def load_neuron(path: str | Path) -> NeuronModel:
    """Load and validate a neuron model file.

    Parameters
    ----------
    path : str or Path
        A YAML file with ``kind: neuron``.

    Raises
    ------
    EquationFileError
        Naming the file, the field and the reason.
    """
    reader = _Reader(Path(path))
    data = reader.read_kind("neuron", NEURON_FIELDS)
    params = reader.parameters(data, synapse=False)
    eqs = reader.equations("equations", reader.string(data, "equations"), NEURON_FLAGS)

    refractory_text = data["refractory"]
    reader.ascii("refractory", refractory_text)
    refractory: Quantity | str
    if isinstance(refractory_text, str) and refractory_text.strip() in params:
        # the parameter's value is at fault (in the file that sets it, where one extends another)
        refractory = refractory_text.strip()
        value = params[refractory]
        if get_dimensions(value) is not second.dim:
            reader.fail(
                f"parameters.{refractory}",
                f"{value} has units of {_unit_name(get_dimensions(value))}; expected second "
                "(it is the refractory period)",
            )
        if float(value) < 0:
            reader.fail(
                f"parameters.{refractory}",
                f"is {value}: the refractory period must not be negative",
            )
    else:
        try:
            refractory = evaluate_quantity(refractory_text, known=params)
        except ValueError:
            refractory = str(refractory_text).strip()  # a condition, checked below
        else:
            if get_dimensions(refractory) is not second.dim:
                reader.fail("refractory", f"must be a time such as '5*ms', got {refractory!r}")
            if float(refractory) < 0:
                reader.fail("refractory", f"must not be negative, got {refractory!r}")

    variables = checks.base_variables()
    variables.update(_externals())
    variables.update(checks.parameter_variables(params))
    variables.update(checks.neuron_specials(refractory=True))
    reader.no_clash("equations", eqs, params, variables)
    variables.update(checks.equation_variables(eqs))
    for eq in eqs.ordered:
        if eq.expr is not None:
            reader.known("equations", str(eq.expr), variables)
    threshold = reader.string(data, "threshold")
    reset = reader.string(data, "reset")
    writable = set(eqs.diff_eq_names) | set(eqs.parameter_names)

    def unit_checks(names: dict) -> None:
        checks.check_equations(eqs, names)
        checks.check_condition(threshold, names)
        checks.check_statements(reset, names, writable)

    own = {**checks.neuron_specials(refractory=True), **checks.equation_variables(eqs)}
    own.update(checks.parameter_variables(params))
    reader.parameter_units(params, variables, own, unit_checks)
    reader.guard("equations", checks.check_equations, eqs, variables)
    expressions = [str(eq.expr) for eq in eqs.ordered if eq.expr is not None]
    reader.no_zero_divisor(params, {"equations": expressions, "threshold": [threshold]})

    if not threshold:
        reader.fail("threshold", "must be a condition such as 'v > v_th'")
    reader.known("threshold", threshold, variables)
    reader.guard("threshold", checks.check_condition, threshold, variables)
    from brian2.utils.stringtools import get_identifiers

    varying = {*eqs.names, *checks.neuron_specials(True), "rand", "randn", "poisson"}
    if not get_identifiers(threshold) & varying:
        reader.fail(
            "threshold",
            f"'{threshold}' names none of the model's variables: every neuron would do the same "
            "at every step (always fire, or never)",
        )

    reader.known("reset", reset, variables, statements=True)
    reader.guard("reset", checks.check_statements, reset, variables, writable)
    reader.clip_bounds(params, {"reset": reset})

    if isinstance(refractory, str):
        reader.known("refractory", refractory, variables)
        if refractory not in params:
            if checks.is_time(refractory, variables):  # Brian2's per-neuron period
                reader.fail(
                    "refractory",
                    f"'{refractory}' is a time that differs between neurons, which this project "
                    "does not simulate: give one time ('5*ms'), a parameter, or a condition "
                    "such as '(t - lastspike) < t_ref'",
                )
            reader.guard("refractory", checks.check_condition, refractory, variables)

    method = reader.string(data, "method")
    if method not in METHODS:
        reader.fail(
            "method", f"unknown integration method '{method}' (use one of {sorted(METHODS)})"
        )
    reader.guard("method", checks.check_method, eqs, variables, method)

    input_name = data.get("input")
    if input_name is not None and input_name not in eqs.names:
        reader.fail("input", f"'{input_name}' is not a variable of the equations")

    initial = reader.initial(data, variables, eqs, params)
    values = {name: float(q) for name, q in params.items()}
    values.update({name: 1.0 for name in EXTERNALS})  # plastic: as while training
    problem = checks.spike_problem(
        threshold,
        reset,
        set(eqs.diff_eq_names),
        values,
        initial,
        lambda name, x: str(Quantity(x, dim=eqs.dimensions[name])),
        frozenset(n for n in eqs.diff_eq_names if "unless refractory" in eqs[n].flags),
    )
    if problem:
        # the one value of those involved that this file itself sets (not a file it extends)
        reason, names = problem
        own = [n for n in names & set(params) if reader.origin[f"parameters.{n}"] == reader.path]
        reader.fail(f"parameters.{own[0]}" if len(own) == 1 else "reset", reason)
    return NeuronModel(
        path=reader.path,
        name=reader.path.stem,
        description=reader.string(data, "description"),
        equations=reader.string(data, "equations"),
        threshold=threshold,
        reset=reset,
        refractory=refractory,
        method=method,
        parameters=params,
        initial=initial,
        input=input_name,
        origins=reader.origin,
    )


def load_synapse(path: str | Path) -> SynapseModel:
    """Load and validate a synapse model file.

    Identifiers of the pre- and postsynaptic neurons (``ge_post``, ``x_pre``, or an unsuffixed
    postsynaptic name) are checked when the synapse is connected to two neuron models, by
    `check_synapse_partners`.
    """
    reader = _Reader(Path(path))
    data = reader.read_kind("synapse", SYNAPSE_FIELDS)
    params = reader.parameters(data, synapse=True)
    eqs = reader.equations(
        "model", reader.string(data, "model"), SYNAPSE_FLAGS, SYNAPSE_INCOMPATIBLE_FLAGS
    )
    for name in eqs.diff_eq_names:
        flags = eqs[name].flags
        if "event-driven" not in flags:
            reader.fail(
                "model",
                f"'{name}' must be (event-driven); put continuous traces "
                "in pre_neuron/post_neuron instead",
            )

    codes = {"model": [str(eq.expr) for eq in eqs.ordered if eq.expr is not None]}
    extensions = {}
    for side in ("pre_neuron", "post_neuron"):
        block = reader.mapping(data, side)
        unknown = sorted(set(block) - {"equations", "on_spike"})
        if unknown:
            reader.fail(f"{side}.{unknown[0]}", "unknown field (allowed: equations, on_spike)")
        ext = NeuronExtension(
            equations=reader.string(block, "equations", f"{side}.equations"),
            on_spike=reader.string(block, "on_spike", f"{side}.on_spike"),
        )
        side_eqs = reader.equations(f"{side}.equations", ext.equations, NEURON_FLAGS)
        codes[f"{side}.equations"] = [
            str(eq.expr) for eq in side_eqs.ordered if eq.expr is not None
        ]
        extensions[side] = ext
    reader.no_zero_divisor(params, codes)

    connect = data.get("connect", True)
    reader.ascii("connect", connect)
    if connect is not True and not (isinstance(connect, str) and connect.strip()):
        reader.fail("connect", f"must be true or a condition such as 'i != j', got {connect!r}")

    normalize = data.get("normalize")
    if normalize is not None:
        if not isinstance(normalize, dict) or set(normalize) != {"variable", "total"}:
            reader.fail("normalize", "must be a mapping with 'variable' and 'total'")
        if normalize["variable"] not in eqs.names:
            reader.fail("normalize.variable", f"'{normalize['variable']}' is not in 'model'")
        if normalize["total"] not in params:
            reader.fail("normalize.total", f"'{normalize['total']}' is not a parameter")
        total, dim = params[normalize["total"]], eqs.dimensions[normalize["variable"]]
        if get_dimensions(total) is not dim:
            reader.fail(
                f"parameters.{normalize['total']}",
                f"{total} has units of {_unit_name(get_dimensions(total))}; the column total "
                f"of '{normalize['variable']}' must have its units, {_unit_name(dim)}",
            )
        if not float(total) > 0:  # 0: the next rescaling is 0/0; below: the weights flip sign
            reader.fail(
                f"parameters.{normalize['total']}",
                f"is {total}: the column total of '{normalize['variable']}' must be positive "
                "(every column is rescaled to sum to it)",
            )
        normalize = (normalize["variable"], normalize["total"])

    reader.clip_bounds(
        params,
        {
            "on_pre": reader.string(data, "on_pre"),
            "on_post": reader.string(data, "on_post"),
            **{f"{side}.on_spike": ext.on_spike for side, ext in extensions.items()},
        },
    )
    delay = data.get("delay")
    reader.ascii("delay", delay)  # (None: "None", ASCII)
    if delay is not None:
        reader.delays(str(delay), params)
    syn = SynapseModel(
        path=reader.path,
        name=reader.path.stem,
        description=reader.string(data, "description"),
        model=reader.string(data, "model"),
        on_pre=reader.string(data, "on_pre"),
        on_post=reader.string(data, "on_post"),
        parameters=params,
        pre_neuron=extensions["pre_neuron"],
        post_neuron=extensions["post_neuron"],
        connect=connect,
        delay=None if delay is None else str(delay),
        initial={k: str(v) for k, v in reader.initial_names(data, eqs, params).items()},
        normalize=normalize,
        origins=reader.origin,
    )
    return syn


def load_model(path: str | Path) -> NeuronModel | SynapseModel:
    """Load a neuron or synapse file, whichever its ``kind`` says."""
    reader = _Reader(Path(path))
    kind = reader.read().get("kind")
    if kind == "neuron":
        return load_neuron(path)
    if kind == "synapse":
        return load_synapse(path)
    reader.fail("kind", f"must be 'neuron' or 'synapse', got {kind!r}")


def model_files(path: str | Path) -> list[Path]:
    """The file and the files it extends (what a model loaded from `path` depends on)."""
    reader = _Reader(Path(path))
    reader.read()
    return reader.files


def _extended(reader: _Reader, side: str, model: NeuronModel, ext) -> Equations:
    """A neuron's equations with those a synapse adds to it (``pre_neuron``/``post_neuron``)."""
    try:
        return model.eqs + Equations(ext.equations)
    except Exception as exc:  # a name both define
        reader.fail(f"{side}.equations", f"{_message(exc)} (with {model.path})")


#: The names each kind of value is evaluated with in numpy, before the network exists
#: (`bioclf.brian.groups`), besides the model's parameters, units, constants and functions: not
#: the neurons' variables or ``t``, and for a condition not ``N``, no number of synapses yet.
EVALUATED_WITH = {
    "connect": ("i", "j", "N_pre", "N_post"),
    "synapse": ("i", "j", "N", "N_pre", "N_post", "N_incoming", "N_outgoing"),
    "neuron": ("i", "N"),
}


def _check_evaluated(
    reader: _Reader, field: str, text: str, parameters: dict, variables: dict, kind: str
) -> dict:
    """Refuse `text` (a ``connect`` condition, ``delay`` or ``initial`` value of a `kind` model)
    if it names anything it is not evaluated with (`EVALUATED_WITH`), so that such a name is
    refused here, not a ``NameError`` when the network is built. Returns what it may name."""
    names = EVALUATED_WITH[kind]
    known = checks.base_variables()
    known.update(checks.parameter_variables(parameters))
    known.update({name: variables[name] for name in names})
    unknown = reader.unknown(field, text, known)
    if unknown:
        reader.fail(
            field,
            f"'{text}' uses {', '.join(unknown)}: it may use only {', '.join(names)}, the "
            f"{kind if kind != 'connect' else 'synapse'}'s parameters, units, constants and "
            "functions (it is evaluated before the network exists)",
        )
    return known


def _no_neuron_parameter(reader: _Reader, field: str, code: str, variables: dict, theirs) -> None:
    """Refuse synapse `code` that names a parameter of a neuron it connects (`theirs`: name ->
    (parameter, model)), which Brian2 cannot resolve there."""
    from brian2.utils.stringtools import get_identifiers

    for name in sorted(get_identifiers(code) & set(theirs) - set(variables)):
        parameter, model = theirs[name]
        what = f"'{name}' is" if name == parameter else f"'{name}': '{parameter}' is"
        reader.fail(
            field,
            f"{what} a parameter of {model.path}; synapse code sees the neurons' variables, "
            "not their parameters: give this file a parameter of its own",
        )


def check_synapse_partners(syn: SynapseModel, pre: NeuronModel, post: NeuronModel) -> None:
    """Check a synapse's code against the neurons it connects.

    Resolves ``_pre``/``_post`` names (and unsuffixed postsynaptic names, as Brian2 does),
    checks units and that statements only write state variables. Raises `EquationFileError`
    naming the synapse file (the file it extends, for a field that came from there).
    """
    reader = _Reader(syn.path)
    reader.origin = syn.origins
    variables = checks.base_variables()
    variables.update(_externals())
    variables.update(checks.synapse_specials())

    pre_eqs, post_eqs = (
        _extended(reader, side, model, ext)
        for side, model, ext in (
            ("pre_neuron", pre, syn.pre_neuron),
            ("post_neuron", post, syn.post_neuron),
        )
    )
    # Synapse code sees its file's parameters and the neurons' variables (unsuffixed: the
    # postsynaptic neuron's, which Brian2 resolves before the parameters), not the neurons'
    # parameters: its namespace is the file's own.
    variables.update(checks.parameter_variables(syn.parameters))
    variables.update(checks.equation_variables(post_eqs))
    variables.update(checks.equation_variables(post_eqs, "_post"))
    variables.update(checks.equation_variables(pre_eqs, "_pre"))
    neurons = (("pre", pre_eqs, pre), ("post", post_eqs, post))

    def neuron_with(name: str):
        """The side (``pre``/``post``) and model of the first neuron with a variable `name`."""
        return next(((side, m) for side, eqs, m in neurons if name in eqs.names), (None, None))

    for name in syn.parameters:
        side, model = neuron_with(name)
        if side:
            reader.fail(
                f"parameters.{name}",
                f"'{name}' is also a variable of the {side}synaptic neuron ({model.path}), "
                "which Brian2 would read in its place: rename the parameter",
            )
    # the names synapse code would reach a neuron's parameter by: suffixed, or unsuffixed (post)
    theirs = {n + "_pre": (n, pre) for n in pre.parameters}
    theirs.update({name: (n, post) for n in post.parameters for name in (n, n + "_post")})
    syn_eqs = syn.eqs
    variables.update(checks.equation_variables(syn_eqs))
    reserved = _specials(synapse=True)
    for name in syn_eqs.names:
        if name in syn.parameters:
            reader.fail(f"parameters.{name}", f"'{name}' is also a variable in 'model'")
        if name in reserved:
            reader.fail("model", f"'{name}' is a name Brian2 gives every synapse or neuron")
        side, model = neuron_with(name)
        if side:
            reader.fail(
                "model",
                f"'{name}' is also a variable of the {side}synaptic neuron ({model.path}); "
                "Brian2 refuses a synaptic variable of the same name: rename one",
            )

    for field, code in [("model", str(eq.expr)) for eq in syn_eqs.ordered if eq.expr is not None]:
        _no_neuron_parameter(reader, field, code, variables, theirs)
        reader.known(field, code, variables)
    for field in ("on_pre", "on_post"):
        _no_neuron_parameter(reader, field, getattr(syn, field), variables, theirs)

    writable = (
        set(syn_eqs.diff_eq_names)
        | set(syn_eqs.parameter_names)
        | {n + "_post" for n in set(post_eqs.diff_eq_names) | set(post_eqs.parameter_names)}
        | {n + "_pre" for n in set(pre_eqs.diff_eq_names) | set(pre_eqs.parameter_names)}
        | set(post_eqs.diff_eq_names)
        | set(post_eqs.parameter_names)
    )

    sides = {}  # per extension: its equations (parsed once), the names it sees, what it writes
    for side, model, ext in (
        ("pre_neuron", pre, syn.pre_neuron),
        ("post_neuron", post, syn.post_neuron),
    ):
        own = checks.base_variables()
        own.update(_externals())
        own.update(checks.neuron_specials(refractory=True))
        own.update(checks.parameter_variables(model.parameters))
        own.update(checks.parameter_variables(syn.parameters))
        both = pre_eqs if side == "pre_neuron" else post_eqs
        own.update(checks.equation_variables(both))
        writes = set(both.diff_eq_names) | set(both.parameter_names)
        sides[side] = (ext, Equations(ext.equations), own, writes)

    def unit_checks(names: dict) -> None:
        checks.check_equations(syn_eqs, names)
        for field in ("on_pre", "on_post"):
            checks.check_statements(getattr(syn, field), names, writable)
        for ext, ext_eqs, own, writes in sides.values():
            own = {**own, **{name: names[name] for name in syn.parameters}}
            checks.check_equations(ext_eqs, own)
            checks.check_statements(ext.on_spike, own, writes)

    base = checks.base_variables()
    own = {name: v for name, v in variables.items() if name not in base}
    reader.parameter_units(syn.parameters, variables, own, unit_checks)
    reader.guard("model", checks.check_equations, syn_eqs, variables)
    for field in ("on_pre", "on_post"):
        code = getattr(syn, field)
        reader.known(field, code, variables, statements=True)
        reader.guard(field, checks.check_statements, code, variables, writable)

    for side, (ext, ext_eqs, own, writes) in sides.items():
        for eq in ext_eqs.ordered:
            if eq.expr is not None:
                reader.known(f"{side}.equations", str(eq.expr), own)
        reader.guard(f"{side}.equations", checks.check_equations, ext_eqs, own)
        reader.known(f"{side}.on_spike", ext.on_spike, own, statements=True)
        reader.guard(f"{side}.on_spike", checks.check_statements, ext.on_spike, own, writes)

    if isinstance(syn.connect, str):
        known = _check_evaluated(
            reader, "connect", syn.connect, syn.parameters, variables, "connect"
        )
        reader.guard("connect", checks.check_condition, syn.connect, known)
    if syn.delay is not None:
        known = _check_evaluated(reader, "delay", syn.delay, syn.parameters, variables, "synapse")
        reader.guard("delay", checks.check_expression_dimensions, syn.delay, known, second)
    reader.initial({"initial": syn.initial}, variables, syn_eqs, syn.parameters, "synapse")
