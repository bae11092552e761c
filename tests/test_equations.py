"""Equation files: the shipped ones load; every kind of mistake is refused clearly."""

from __future__ import annotations

import pytest
from brian2 import ms, mV, uvolt
from conftest import EQUATIONS

from bioclf import tasks
from bioclf.equations import (
    check_synapse_partners,
    load_model,
    load_neuron,
    load_synapse,
    model_content,
    model_files,
)
from bioclf.errors import EquationFileError
from bioclf.stdp.protocol import Models

LIF = (EQUATIONS / "lif.yaml").read_text()


def test_shipped_files_load_with_original_values():
    exc = load_neuron(EQUATIONS / "dc_exc.yaml")
    assert exc.parameters["v_rest"] == -65 * mV
    assert exc.parameters["v_th"] == -52 * mV
    assert exc.parameters["tau_m"] == 100 * ms
    assert exc.refractory_time() == 5 * ms
    assert exc.parameters["theta_plus"] == 0.05 * mV
    assert exc.parameters["tau_theta"] == 1e7 * ms
    assert exc.parameters["theta_offset"] == 20 * mV
    inh = load_neuron(EQUATIONS / "dc_inh.yaml")
    assert (inh.parameters["v_reset"], inh.parameters["v_th"]) == (-45 * mV, -40 * mV)
    assert inh.refractory_time() == 2 * ms
    assert inh.parameters["E_inh"] == -85 * mV
    stdp = load_synapse(EQUATIONS / "dc_stdp.yaml")
    assert float(stdp.parameters["nu_pre"]) == 1e-4
    assert float(stdp.parameters["nu_post"]) == 1e-2
    assert stdp.parameters["tau_post2"] == 40 * ms
    assert stdp.normalize == ("w", "w_total")
    check_synapse_partners(stdp, load_neuron(EQUATIONS / "lif.yaml"), exc)
    # every file of equations/, a new one too, loads and carries its file's name
    shipped = {path.stem for path in EQUATIONS.glob("*.yaml")}
    assert shipped >= {
        "lif",
        "dc_exc",
        "dc_exc_unclamped",
        "dc_exc_fast",
        "dc_exc_fast_slow_theta",
        "dc_inh",
        "dc_stdp",
        "dc_stdp_synaptic_traces",
        "dc_stdp_fast",
        "dc_exc_inh",
        "dc_inh_exc",
    }
    for name in sorted(shipped):
        assert load_model(EQUATIONS / f"{name}.yaml").name == name


BAD = {
    "syntax error": (
        ("(v_rest - v + R*I)/tau_m", "(v_rest - v + R*I/tau_m"),
        "equations",
        "never closed",
    ),
    "unknown identifier": (("R*I)/tau_m", "R*I)/tau_mm"), "equations", "tau_mm"),
    "inconsistent units": (("R*I)/tau_m", "I)/tau_m"), "equations", "inconsistent units"),
    "missing field": (("threshold: v > v_th\n", ""), "threshold", "required field is missing"),
    # the parameter's value is at fault, not the field that names it
    "negative refractory": (("t_ref: 5*ms", "t_ref: -5*ms"), "parameters.t_ref", "negative"),
    "refractory parameter not a time": (
        ("t_ref: 5*ms", "t_ref: 5*mV"),
        "parameters.t_ref",
        "5. mV has units of volt; expected second (it is the refractory period)",
    ),
    # Brian2's per-neuron period (a variable of time), which the models here do not take
    "refractory period per neuron": (
        ("refractory: t_ref", "refractory: lastspike"),
        "refractory",
        "'lastspike' is a time that differs between neurons",
    ),
    "parameter used above its definition": (
        ("v_reset: -65*mV", "v_reset: v_th - 13*mV"),
        "parameters.v_reset",
        "v_th is defined below 'v_reset': a parameter may use only those above it",
    ),
    "threshold not a condition": (
        ("threshold: v > v_th", "threshold: v - v_th"),
        "threshold",
        "not a condition",
    ),
    # (the surrogate compiler met Brian2's parse of 'True', a Python bool: AttributeError; the
    # STDP network took it, every neuron firing at every step)
    "constant threshold": (
        ("threshold: v > v_th", 'threshold: "True"'),
        "threshold",
        "names none of the model's variables",
    ),
    "threshold of parameters only": (
        ("threshold: v > v_th", "threshold: v_th > v_rest"),
        "threshold",
        "always fire, or never",
    ),
    "threshold unit mismatch": (
        ("threshold: v > v_th", "threshold: v > tau_m"),
        "threshold",
        "different units",
    ),
    "bad parameter unit name": (("100*ms", "100*msec2"), "parameters.tau_m", "msec2"),
    "reset with wrong unit": (("reset: v = v_reset", "reset: v = 3*ms"), "reset", "unit"),
    "unknown method": (("method: exact", "method: exakt"), "method", "exakt"),
    "typo in a field name": (("threshold:", "treshold:"), "threshold", "treshold"),
    "YAML syntax": (("kind: neuron", "kind: [neuron"), "(YAML syntax)", "line"),
    "tab in the YAML": (
        ("  tau_m: 100*ms", "\ttau_m: 100*ms"),
        "(YAML syntax)",
        "column 1: found character '\\t' that cannot start any token (a tab: YAML indents",
    ),
    "reset of a variable the model lacks": (
        ("reset: v = v_reset", "reset: u = v_reset"),
        "reset",
        "assigns to 'u', which this model does not have",
    ),
    "reset that does not parse": (
        ("reset: v = v_reset", "reset: v = = v_reset"),
        "reset",
        "Parsing the statement failed",
    ),
    "time constant of zero": (("tau_m: 100*ms", "tau_m: 0*ms"), "parameters.tau_m", "divides"),
    "negative time constant": (
        ("tau_m: 100*ms", "tau_m: -10*ms"),
        "parameters.tau_m",
        "a time constant must be positive",
    ),
    "parameter given twice": (
        ("  R: 100*Mohm", "  R: 100*Mohm\n  v_th: -50*mV"),
        "parameters.v_th",
        # the file's v_th, and the one added after R (line numbers follow edits of lif.yaml)
        "given twice (lines {v_th} and {R_next})",
    ),
    "parameter with the wrong unit": (
        ("tau_m: 100*ms", "tau_m: 15*mV"),
        "parameters.tau_m",
        "15. mV has units of volt; expected second",
    ),
    # Brian2 itself refuses these only when it builds the network, with a traceback.
    "misspelt flag": (
        ("(unless refractory)", "(unless refactory)"),
        "equations",
        "cannot have a flag 'unless refactory'",
    ),
    "initial value of a parameter": (
        ("  v: v_rest", "  v: v_rest\n  tau_m: 10*ms"),
        "initial.tau_m",
        "is a parameter, not a state variable",
    ),
    "parameter that is a string": (
        ("tau_m: 100*ms", "tau_m: '\"a\"*3'"),
        "parameters.tau_m",
        "real",
    ),
    # Brian2 checks no exponent whose base is dimensionless: it would raise to the power 0.1
    "exponent with units": (
        ("dv/dt = (v_rest - v + R*I)/tau_m", "dv/dt = (v_rest - v + R*I)/tau_m*(v/v_th)**tau_m"),
        "equations",
        "the exponent 'tau_m' of '(v / v_th) ** tau_m' has units",
    ),
    "complex parameter": (("tau_m: 100*ms", "tau_m: 1j*ms"), "parameters.tau_m", "real number"),
    # an integer power would be computed exactly and never end
    "huge parameter": (("tau_m: 100*ms", "tau_m: 10**10**10*ms"), "parameters.tau_m", "too large"),
    # the neuron would fire again as soon as it may: no value of a model
    "reset at the threshold": (("v_reset: -65*mV", "v_reset: -52*mV"), "reset", "not below"),
    # (v held while refractory, still above the threshold when the period ends; passed)
    "reset that leaves v": (("reset: v = v_reset", 'reset: ""'), "reset", "leaves v as it was"),
    "reset of another variable": (
        ("reset: v = v_reset", "reset: I = 0*amp"),
        "reset",
        "fire again as soon as its refractory period ends",
    ),
    "threshold below the reset": (
        ("threshold: v > v_th", "threshold: v_reset - 1*mV < v"),
        "parameters.v_reset",  # the one value involved
        "-65. mV, not below the threshold 'v_reset - 1*mV < v' (-66. mV",
    ),
    # Brian2's clip gives the upper bound whatever the value: v would sit at -70 mV
    "reset clipped to reversed bounds": (
        ("reset: v = v_reset", "reset: v = clip(v_reset, -60*mV, -70*mV)"),
        "reset",
        "lower bound -60*mV above its upper bound -70*mV",
    ),
    "exact on a nonlinear equation": (
        ("dv/dt = (v_rest - v + R*I)/tau_m", "dv/dt = (v_rest - v + R*I)/tau_m*(v/v_th)"),
        "method",
        "could not be separated into linear components",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_neuron_file_is_refused_naming_file_and_field(tmp_path, case):
    (old, new), field, needle = BAD[case]
    assert old in LIF
    path = tmp_path / "broken.yaml"
    path.write_text(LIF.replace(old, new, 1))
    with pytest.raises(EquationFileError) as err:
        load_neuron(path)
    message = str(err.value)
    assert str(path) in message
    assert err.value.field == field
    assert f"field '{field}'" in message
    lines = LIF.splitlines()
    v_th = 1 + next(k for k, t in enumerate(lines) if t.startswith("  v_th:"))
    R_next = 2 + next(k for k, t in enumerate(lines) if t.startswith("  R:"))
    assert needle.format(v_th=v_th, R_next=R_next) in message


def test_equation_file_that_is_not_text_is_refused_with_status_2(tmp_path, capsys):
    path = tmp_path / "binary.yaml"
    path.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(EquationFileError) as err:
        load_neuron(path)
    assert err.value.field == "(file)" and "not a text file" in str(err.value)
    assert tasks.run(lambda argv: load_neuron(path), []) == 2
    assert str(path) in capsys.readouterr().err


def test_control_character_in_an_equation_file_is_refused(tmp_path):
    path = tmp_path / "nul.yaml"
    path.write_text(LIF.replace("kind: neuron", "kind: neuron\x00"))
    with pytest.raises(EquationFileError) as err:
        load_neuron(path)
    assert err.value.field == "(file)" and "#x0000" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("flag", [" (unless refractory)", ""])
def test_zero_refractory_period_and_unused_zero_parameters_are_allowed(tmp_path, flag):
    """A period of 0, given as a parameter or in place, with or without '(unless refractory)'
    (which then holds nothing, in Brian2 and PyTorch alike): setting t_ref to 0 was accepted with
    the flag, 'refractory: 0*ms' refused."""
    path = tmp_path / "no_ref.yaml"
    text = LIF.replace(" (unless refractory)", flag).replace("t_ref: 5*ms", "t_ref: 0*ms")
    path.write_text(text)
    assert load_neuron(path).refractory_time() == 0 * ms
    path.write_text(text.replace("refractory: t_ref", "refractory: 0*ms"))
    assert load_neuron(path).refractory_time() == 0 * ms


@pytest.mark.parametrize(
    "value, field, needle",
    [
        ("t_ref: -5*ms", "parameters.t_ref", "must not be negative"),
        ("t_ref: 5*mV", "parameters.t_ref", "expected second"),
    ],
)
def test_a_bad_refractory_parameter_of_an_extending_file_is_blamed_on_it(
    tmp_path, value, field, needle
):
    """The value is the extending file's: the error named the base file's 'refractory'."""
    (tmp_path / "dc_exc.yaml").write_text((EQUATIONS / "dc_exc.yaml").read_text())
    path = tmp_path / "child.yaml"
    path.write_text(f"extends: dc_exc.yaml\nparameters:\n  {value}\n")
    with pytest.raises(EquationFileError) as err:
        load_neuron(path)
    assert err.value.field == field and err.value.path == str(path), err.value
    assert needle in str(err.value) and "which extends" not in str(err.value)


@pytest.mark.parametrize(
    "name, value, needle",
    [
        ("t", "100*ms", "a name Brian2 gives every neuron or synapse"),
        ("dt", "0.1*ms", "a name Brian2 gives every neuron or synapse"),
        ("i", "1", "a name Brian2 gives every neuron or synapse"),
        ("N", "10", "a name Brian2 gives every neuron or synapse"),
        ("lastspike", "1*ms", "a name Brian2 gives every neuron or synapse"),
        ("plastic", "1", "a name the network provides"),
        ("pi", "3", "a Brian2 constant"),
        ("ms", "2", "a Brian2 unit"),
        ("exp", "2", "a Brian2 function"),
        ("xi_1", "1", "white noise"),
        ("lambda", "1", "a Python keyword"),
    ],
)
def test_a_parameter_named_as_brian2_names_something_else_is_refused(tmp_path, name, value, needle):
    """Brian2 resolves its own names before a group's parameters: with 'dt: 100*ms' and
    'dv/dt = .../dt' it integrated with the clock's dt (and warned), while the f-I analysis used
    100 ms; 'lastspike' or 'exp' failed building the network, 'N' and 'i' the PyTorch compiler."""
    path = tmp_path / "reserved.yaml"
    path.write_text(LIF.replace("  R: 100*Mohm", f"  R: 100*Mohm\n  {name}: {value}"))
    with pytest.raises(EquationFileError) as err:
        load_neuron(path)
    assert err.value.field == f"parameters.{name}" and needle in str(err.value), err.value
    stdp = (EQUATIONS / "dc_stdp.yaml").read_text()
    path.write_text(stdp.replace("  w_total: 78", f"  w_total: 78\n  {name}: {value}"))
    with pytest.raises(EquationFileError) as err:
        load_synapse(path)
    assert err.value.field == f"parameters.{name}" and needle in str(err.value), err.value


@pytest.mark.parametrize(
    "name, value", [("j", "1"), ("delay", "1*ms"), ("N_pre", "3"), ("lastupdate", "2*ms")]
)
def test_a_synapse_name_is_refused_for_synapse_parameters_only(tmp_path, name, value):
    """Brian2 gives a neuron group no 'j', 'delay', 'N_pre' or 'lastupdate': a neuron file's
    parameter of that name is its value there (and the PyTorch compiler's), yet it was refused
    as 'a name Brian2 gives every neuron or synapse'. A synapse file's is Brian2's own."""
    path = tmp_path / "named.yaml"
    text = LIF.replace("R*I)/tau_m", f"R*I*{name}/{name})/tau_m")
    path.write_text(text.replace("  R: 100*Mohm", f"  R: 100*Mohm\n  {name}: {value}"))
    assert name in load_neuron(path).parameters
    stdp = (EQUATIONS / "dc_stdp.yaml").read_text()
    path.write_text(stdp.replace("  w_total: 78", f"  w_total: 78\n  {name}: {value}"))
    with pytest.raises(EquationFileError) as err:
        load_synapse(path)
    assert err.value.field == f"parameters.{name}", err.value
    assert "a name Brian2 gives every neuron or synapse" in str(err.value)


@pytest.mark.parametrize(
    "old, new, field, char",
    [
        ("tau_m: 100*ms", "\u03c4_m: 100*ms", "parameters.\u03c4_m", None),
        ("R*I)/tau_m", "R*I)/\u03c4_m", "equations", "\u03c4"),  # Brian2 saw 'R*I)/'
        ("threshold: v > v_th", "threshold: v > v_th \u2212 1*mV", "threshold", "\u2212"),
        ("refractory: t_ref", "refractory: 5000*\u00b5s", "refractory", "\u00b5"),
        ("  v: v_rest", "  v: v_rest\u00a0", "initial.v", "\u00a0"),
    ],
)
def test_non_ascii_names_and_code_are_refused(tmp_path, old, new, field, char):
    """Brian2 finds names by an ASCII pattern: 'tau' written as a Greek letter passed the checks
    (which Python's parser does) and failed building the network."""
    path = tmp_path / "greek.yaml"
    path.write_text(LIF.replace(old, new, 1))
    with pytest.raises(EquationFileError) as err:
        load_neuron(path)
    assert err.value.field == field, err.value
    assert ("ASCII" in str(err.value)) and (char is None or f"U+{ord(char):04X}" in str(err.value))
    # any text in comments and the description
    path.write_text(
        LIF.replace("# resting potential", "# \u03c4, \u00b5s, \u2212").replace(
            "description: Leaky", "description: \u00c9 Leaky"
        )
    )
    load_neuron(path)


def _refused(tmp_path, name: str, old: str, new: str, check, match: str | None = None):
    """The `EquationFileError` that `check` raises given the path of a copy of equations/`name`
    with `old` (which it has) replaced by `new`, and that path."""
    text = (EQUATIONS / name).read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    with pytest.raises(EquationFileError, match=match) as err:
        check(path)
    return err.value, path


def _stdp_partners(path) -> None:
    """Load the synapse file at `path` and check it against dc_stdp.yaml's neurons."""
    pre, post = load_neuron(EQUATIONS / "lif.yaml"), load_neuron(EQUATIONS / "dc_exc.yaml")
    check_synapse_partners(load_synapse(path), pre, post)


def _stdp_partners_refused(tmp_path, old: str, new: str, match: str | None = None):
    """`_refused` for dc_stdp.yaml checked against the neurons it connects."""
    return _refused(tmp_path, "dc_stdp.yaml", old, new, _stdp_partners, match)


def test_an_unknown_name_in_a_trace_equation_is_named_as_such(tmp_path):
    err, _ = _stdp_partners_refused(tmp_path, "dxpre/dt = -xpre/tau_pre", "dxpre/dt = -xpr/tau_pre")
    assert err.field == "pre_neuron.equations"
    assert str(err).endswith("unknown identifier(s): xpr (did you mean xpre?)"), err


@pytest.mark.parametrize(
    "old, new, field, reason",
    [
        ("(v_rest - v + R*I)", "(v_rest - v + R*Ix)", "equations", "Ix (did you mean I?)"),
        ("threshold: v > v_th", "threshold: v > vth", "threshold", "vth (did you mean v_th?)"),
        # no name of the model is close: no guess (nor one among Brian2's units)
        ("(v_rest - v + R*I)", "(v_rest - v + R*I*qqqq)", "equations", "identifier(s): qqqq"),
    ],
)
def test_an_unknown_identifier_names_the_models_closest_name(tmp_path, old, new, field, reason):
    err, _ = _refused(tmp_path, "lif.yaml", old, new, load_neuron)
    assert err.field == field and str(err).endswith(reason), err


@pytest.mark.parametrize(
    "old, new, field, needle",
    [
        ("tau_pre: 20*ms", "tau_pre: 0*ms", "parameters.tau_pre", "'pre_neuron.equations' divides"),
        ("nu_pre: 1e-4", "nu_pre: 1e-4\n  nu_pre: 2e-4", "parameters.nu_pre", "given twice"),
        # Brian2 would refuse these at build time with a traceback, or (w_total) run silently
        # with the total in SI units.
        ("connect: true", "connect: false", "connect", "must be true or a condition"),
        ("w_total: 78 ", "w_total: 78*mV ", "parameters.w_total", "must have its units, 1"),
        # a total of 0 makes the next rescaling 0/0 (NaN weights), a negative one flips them
        ("w_total: 78 ", "w_total: 0 ", "parameters.w_total", "must be positive"),
        # clip(w, 0, -1) sets every weight the rule writes to -1 (NaN membranes followed)
        ("wmax: 1.0 ", "wmax: -1.0 ", "parameters.wmax", "0 above its upper bound wmax = -1."),
        ("w_total: 78 ", "w_total: -78 ", "parameters.w_total", "must be positive"),
        ("w : 1 ", "w : 1 (constant over dt)", "model", "cannot have a flag"),
        ("  w: w_init", "  w_init: 0.1\n  w: w_init", "initial.w_init", "is a parameter"),
    ],
)
def test_bad_synapse_file_is_refused_at_load(tmp_path, old, new, field, needle):
    err, path = _refused(tmp_path, "dc_stdp.yaml", old, new, load_synapse)
    assert err.field == field and str(path) in str(err) and needle in str(err)


@pytest.mark.parametrize(
    "old, new, reason",
    [
        # a number and its unit side by side, as written in papers
        (
            "tau_m: 100*ms",
            "tau_m: 100ms",
            "invalid decimal literal (a unit multiplies its number: write 100*ms)",
        ),
        (
            "v_th: -52*mV",
            "v_th: -52 mV",
            "invalid syntax (a unit multiplies its number: write -52*mV)",
        ),
        (
            "v_th: -52*mV",
            "v_th: -52 mv",
            "invalid syntax (a unit multiplies its number: write -52*mV)",
        ),
        (
            "R: 100*Mohm",
            "R: 100 MOhm",
            "(a unit multiplies its number: write 100*Mohm or 100*mohm)",
        ),
        ("R: 100*Mohm", "R: 100 e", "invalid syntax"),  # (a constant, not a unit: no hint)
        # a unit in the wrong case, or spelt otherwise: Brian2's names are case-sensitive
        ("v_th: -52*mV", "v_th: -52*mv", "unknown name(s) mv in '-52*mv' (did you mean mV?)"),
        ("R: 100*Mohm", "R: 100*MOhm", "(did you mean Mohm or mohm?)"),
        ("tau_m: 100*ms", "tau_m: 100*msec", "(did you mean msecond?)"),
    ],
)
def test_a_mistyped_quantity_is_refused_saying_how_to_write_it(tmp_path, old, new, reason):
    err, path = _refused(tmp_path, "lif.yaml", old, new, load_neuron)
    assert err.field == f"parameters.{old.split(':')[0]}" and str(err).endswith(reason), err


def test_refractory_condition_and_parameter_forms(tmp_path):
    path = tmp_path / "lif_ref.yaml"
    path.write_text(LIF.replace("refractory: t_ref", "refractory: 2*ms"))
    assert load_neuron(path).refractory_time() == 2 * ms
    path.write_text(LIF.replace("refractory: t_ref", "refractory: v > v_th"))
    assert load_neuron(path).refractory_time() is None


def test_synapse_partner_check_names_the_synapse_file(tmp_path):
    err, path = _stdp_partners_refused(tmp_path, "ge_post += w", "gx_post += w")
    assert str(path) in str(err) and "gx_post" in str(err)
    assert err.field == "on_pre"


@pytest.mark.parametrize(
    "old, new, field, needle",
    [
        ("w : 1 ", "w : 1\n  theta : volt ", "model", "also a variable of the postsynaptic"),
        ("w : 1 ", "w : 1\n  p_fire : 1 ", "model", "also a variable of the presynaptic"),
        ("w : 1 ", "w : 1\n  lastspike : second ", "model", "a name Brian2 gives"),
        (
            "dxpre/dt",
            "dp_fire/dt = -p_fire/tau_pre : 1\n    dxpre/dt",
            "pre_neuron.equations",
            "p_fire",
        ),
        (
            "dxpost1/dt",
            "dtheta/dt = -theta/tau_post1 : volt\n    dxpost1/dt",
            "post_neuron.equations",
            "theta",
        ),
        # a parameter that Brian2 shadows with a neuron's variable: the build failed (units) or
        # (rep, the input's repeat counter, in 'xpre = rep') ran with the variable's value
        ("wmax: 1.0", "wmax: 1.0\n  theta: 0.5", "parameters.theta", "of the postsynaptic"),
        ("w_total: 78 ", "w_total: 78\n  rep: 1 ", "parameters.rep", "of the presynaptic"),
        # a neuron's parameter: Brian2 gives synapse code only the neurons' variables
        ("ge_post += w", "ge_post += w*v_th/v_th", "on_pre", "'v_th' is a parameter of"),
        ("ge_post += w", "ge_post += w*E_exc_post/mV", "on_pre", "'E_exc' is a parameter of"),
    ],
)
def test_synapse_names_taken_by_its_neurons_are_refused(tmp_path, old, new, field, needle):
    """Brian2 refuses these only when it builds the network, or not at all; the input neurons'
    own variables (`protocol.INPUT_VARIABLES`) count as the presynaptic neuron's."""
    text = (EQUATIONS / "dc_stdp.yaml").read_text()
    assert old in text
    path = tmp_path / "stdp_names.yaml"
    path.write_text(text.replace(old, new, 1))
    models = {
        k: EQUATIONS / f
        for k, f in [
            ("exc", "dc_exc.yaml"),
            ("inh", "dc_inh.yaml"),
            ("exc_inh", "dc_exc_inh.yaml"),
            ("inh_exc", "dc_inh_exc.yaml"),
        ]
    }
    with pytest.raises(EquationFileError) as err:
        Models.load({**models, "input_exc": path})
    assert err.value.field == field and str(path) in str(err.value), err.value
    assert needle in str(err.value), err.value


def test_synapse_unit_mismatch_refused(tmp_path):
    # the units named: any other error in on_pre (an unknown name, say) matched "on_pre"
    err, _ = _stdp_partners_refused(
        tmp_path, "ge_post += w", "ge_post += tau_pre", match="'on_pre'.*inconsistent units"
    )
    assert err.field == "on_pre"


def test_wrong_kind_refused(tmp_path):
    path = tmp_path / "k.yaml"
    path.write_text(LIF.replace("kind: neuron", "kind: synapse"))
    with pytest.raises(
        EquationFileError, match="field 'kind': must be 'neuron'.*got 'synapse'"
    ) as err:
        load_neuron(path)
    assert (err.value.path, err.value.field) == (str(path), "kind")
    # the synapse loader likewise (both go through _Reader.read_kind), to the letter
    with pytest.raises(EquationFileError) as err:
        load_synapse(EQUATIONS / "lif.yaml")
    assert err.value.field == "kind"
    assert str(err.value).endswith("field 'kind': must be 'synapse' for this use, got 'neuron'")


def test_extending_file_overrides_parameters_and_inherits_the_rest(tmp_path):
    fast = load_synapse(EQUATIONS / "dc_stdp_fast.yaml")
    base = load_synapse(EQUATIONS / "dc_stdp.yaml")
    assert (float(fast.parameters["nu_pre"]), float(fast.parameters["nu_post"])) == (8e-4, 8e-2)
    assert fast.on_pre == base.on_pre and fast.normalize == base.normalize
    assert fast.parameters["tau_post2"] == base.parameters["tau_post2"]
    assert model_files(EQUATIONS / "dc_stdp_fast.yaml") == [
        EQUATIONS / "dc_stdp_fast.yaml",
        EQUATIONS / "dc_stdp.yaml",
    ]
    # Editing the base changes the extension: the rule has one home.
    (tmp_path / "base.yaml").write_text(
        (EQUATIONS / "dc_stdp.yaml").read_text().replace("tau_pre: 20*ms", "tau_pre: 7*ms")
    )
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nparameters:\n  nu_pre: 2e-4\n")
    child = load_synapse(tmp_path / "child.yaml")
    assert child.parameters["tau_pre"] == 7 * ms
    assert float(child.parameters["nu_pre"]) == 2e-4
    # The unclamped neuron differs from dc_exc.yaml in its equations only.
    exc, unclamped = (
        load_neuron(EQUATIONS / "dc_exc.yaml"),
        load_neuron(EQUATIONS / "dc_exc_unclamped.yaml"),
    )
    assert unclamped.parameters == exc.parameters and unclamped.reset == exc.reset
    assert "unless refractory" in exc.equations and "unless refractory" not in unclamped.equations
    # The one-pass neuron differs from dc_exc.yaml in theta_plus only, half the paper's.
    fast_exc = load_neuron(EQUATIONS / "dc_exc_fast.yaml")
    assert fast_exc.parameters["theta_plus"] == exc.parameters["theta_plus"] / 2 == 0.025 * mV
    assert {k: v for k, v in fast_exc.parameters.items() if k != "theta_plus"} == {
        k: v for k, v in exc.parameters.items() if k != "theta_plus"
    }
    assert (fast_exc.equations, fast_exc.threshold, fast_exc.reset) == (
        exc.equations,
        exc.threshold,
        exc.reset,
    )
    # Its slow-theta variant, two levels down, differs from it in tau_theta only.
    slow = load_neuron(EQUATIONS / "dc_exc_fast_slow_theta.yaml")
    assert slow.parameters["tau_theta"] == 3 * exc.parameters["tau_theta"] == 3e7 * ms
    assert {k: v for k, v in slow.parameters.items() if k != "tau_theta"} == {
        k: v for k, v in fast_exc.parameters.items() if k != "tau_theta"
    }
    assert slow.equations == exc.equations


@pytest.mark.parametrize(
    "child, field, needle",
    [
        (
            "extends: base.yaml\nparameters:\n  nu_pree: 1e-3\n",
            "parameters.nu_pree",
            "no such parameter to override (did you mean nu_pre?)",
        ),
        ("extends: base.yaml\nparameters:\n  zeta: 1e-3\n", "parameters.zeta", "(a typo?)"),
        ("extends: nowhere.yaml\n", "extends", "nowhere.yaml"),
        ("extends: ..\n", "extends", "a directory '..'"),  # (was "field '(file)'" of '..')
        ("extends: child.yaml\n", "extends", "cycle"),
        ("extends: base.yaml\nkind: neuron\n", "kind", "synapse"),
        ("extends: base.yaml\nparameters:\n  wmax: -0.5\n", "parameters.wmax", "lower bound 0"),
        (
            "extends: base.yaml\nparameters:\n  nu_pre: 1e-3*ms\n",
            "parameters.nu_pre",
            "units of second; expected 1 (dimensionless)",
        ),
    ],
)
def test_bad_extension_is_refused_naming_the_extending_file(tmp_path, child, field, needle):
    (tmp_path / "base.yaml").write_text((EQUATIONS / "dc_stdp.yaml").read_text())
    path = tmp_path / "child.yaml"
    path.write_text(child)
    with pytest.raises(EquationFileError) as err:
        load_model(path)
        check_synapse_partners(
            load_synapse(path),
            load_neuron(EQUATIONS / "lif.yaml"),
            load_neuron(EQUATIONS / "dc_exc.yaml"),
        )
    assert err.value.field == field
    assert str(path) in str(err.value) and needle in str(err.value)


@pytest.mark.parametrize("mu", ["0.5*ms", "0.5"])
def test_exponent_with_units_is_refused_naming_the_parameter(tmp_path, mu):
    """Soft-bounded potentiation, ``(wmax - w)**mu``, with ``mu`` given a unit: Brian2 checks
    no exponent whose base is dimensionless and would raise to the power 0.0005 (the value in
    seconds); the check names the parameter and the unit it needs. Dimensionless, it loads."""
    text = (EQUATIONS / "dc_stdp.yaml").read_text()
    rule = "nu_post*xpre_pre*xpost2_post, 0, wmax)"
    assert text.count(rule) == 1 and text.count("  w_total: 78 ") == 1
    text = text.replace(rule, "nu_post*xpre_pre*xpost2_post*(wmax - w)**mu, 0, wmax)")
    path = tmp_path / "soft.yaml"
    path.write_text(text.replace("  w_total: 78 ", f"  mu: {mu}\n  w_total: 78 "))
    pre, post = load_neuron(EQUATIONS / "lif.yaml"), load_neuron(EQUATIONS / "dc_exc.yaml")
    if mu == "0.5":
        check_synapse_partners(load_synapse(path), pre, post)
        return
    with pytest.raises(EquationFileError) as err:
        check_synapse_partners(load_synapse(path), pre, post)
    assert err.value.field == "parameters.mu" and str(path) in str(err.value)
    assert "0.5 ms has units of second; expected 1 (dimensionless)" in str(err.value)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        # an adaptive threshold that falls at every spike: the neuron that fires fires more
        ("theta_plus: -0.05*mV", "lowers the threshold"),
        # at the start (theta = theta_init) the threshold lies below the reset potential
        ("theta_offset: 40*mV", "not below the threshold"),
        ("v_reset: -30*mV", "not below the threshold"),
    ],
)
def test_a_reset_that_defeats_the_threshold_is_refused_naming_the_value(tmp_path, value, needle):
    """The value of an extending file (a sweep's derived file is one) that breaks the spike:
    the error names it, in that file."""
    (tmp_path / "dc_exc.yaml").write_text((EQUATIONS / "dc_exc.yaml").read_text())
    path = tmp_path / "child.yaml"
    path.write_text(f"extends: dc_exc.yaml\nparameters:\n  {value}\n")
    with pytest.raises(EquationFileError) as err:
        load_neuron(path)
    assert err.value.field == f"parameters.{value.split(':')[0]}"
    assert str(path) in str(err.value) and needle in str(err.value)
    # no adaptation at all is a model (the loader takes it); so is a reset just below
    for value in ("theta_plus: 0*mV", "v_reset: -52.1*mV"):
        path.write_text(f"extends: dc_exc.yaml\nparameters:\n  {value}\n")
        load_neuron(path)


def test_error_in_an_inherited_field_names_the_base_file(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(LIF.replace("threshold: v > v_th", "threshold: v > v_thh"))
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nparameters:\n  tau_m: 20*ms\n")
    with pytest.raises(EquationFileError) as err:
        load_neuron(tmp_path / "child.yaml")
    assert err.value.field == "threshold" and str(base) in str(err.value)
    assert "child.yaml, which extends" in str(err.value)


@pytest.mark.parametrize(
    ("delay", "value", "field"),
    [
        ("rand()*delay_max", "-10*ms", "parameters.delay_max"),  # (passed a dry run)
        ("delay_max", "-10*ms", "parameters.delay_max"),  # one delay for all
        ("delay_max - rand()*11*ms", "10*ms", "delay"),  # no parameter negative
    ],
)
def test_negative_delays_are_refused_at_load(tmp_path, delay, value, field):
    """A delay of the file's parameters and rand() that draws negative delays is refused by
    the loader (a dry run loads it), naming the negative parameter where there is one; it was
    refused only as the network was built."""
    text = (EQUATIONS / "dc_stdp.yaml").read_text()
    assert "delay: rand()*delay_max " in text and "delay_max: 10*ms" in text
    path = tmp_path / "stdp.yaml"
    text = text.replace("delay: rand()*delay_max ", f"delay: {delay} ")
    path.write_text(text.replace("delay_max: 10*ms", f"delay_max: {value}"))
    with pytest.raises(EquationFileError, match="gives negative delays") as err:
        load_synapse(path)
    assert err.value.field == field and str(path) in str(err.value)


@pytest.mark.parametrize("delay", ["(1 - rand())*delay_max", "delay_max", "-log(rand())*ms"])
def test_delays_that_are_never_negative_are_taken(tmp_path, delay):
    text = (EQUATIONS / "dc_stdp.yaml").read_text()
    path = tmp_path / "stdp.yaml"
    path.write_text(text.replace("delay: rand()*delay_max ", f"delay: {delay} "))
    assert load_synapse(path).delay == delay


def test_negative_delays_are_refused_when_drawn(tmp_path):
    """The loader cannot know the range of a delay of 'i'; the draw can."""
    import numpy as np

    from bioclf.brian.groups import synapse_initial_values

    text = (EQUATIONS / "dc_stdp.yaml").read_text()
    assert "delay: rand()*delay_max " in text
    path = tmp_path / "stdp.yaml"
    path.write_text(text.replace("delay: rand()*delay_max ", "delay: (i - 5)*0.1*ms "))
    with pytest.raises(EquationFileError, match="gives negative delays") as err:
        indices = (np.arange(10), np.zeros(10, int))
        synapse_initial_values(load_synapse(path), indices, (10, 1), np.random.default_rng(0))
    assert err.value.field == "delay" and str(path) in str(err.value)


def test_initial_values_may_use_every_function_the_validation_accepts(tmp_path):
    """Brian2's functions and constants (sign, log10, expm1, exprel, timestep, poisson, e...)
    pass the file's validation; the numpy evaluation of initial values knows them too (they
    crashed the group's construction with a NameError)."""
    import numpy as np

    from bioclf.brian import backends
    from bioclf.brian.groups import neuron_group

    text = (EQUATIONS / "lif.yaml").read_text()
    assert "  v: v_rest\n" in text
    initial = (
        "  v: v_rest + (sign(rand() - 2) + log10(100) + expm1(0) + exprel(0) + e - e)*mV"
        " + (timestep(1*ms, 0.5*ms) + 0*poisson(2))*mV\n"
    )
    path = tmp_path / "lif.yaml"
    path.write_text(text.replace("  v: v_rest\n", initial))
    model = load_neuron(path)
    backends.activate(backends.Backend("runtime"), "functions", dt=0.1 * ms)
    group = neuron_group(model, 4, "lif", np.random.default_rng(0))
    # -1 + 2 + 0 + 1 + 0 + 2 = 4 mV above v_rest
    np.testing.assert_allclose(np.asarray(group.v[:]), float(-65 * mV + 4 * mV), rtol=1e-12)


def test_random_functions_of_initial_values_draw_their_distributions_in_order():
    """``rand()`` is uniform on [0, 1), ``randn()`` standard normal, ``i`` the element index:
    drawn from the seeded generator in the order written, as every backend then receives."""
    import numpy as np

    from bioclf.brian.groups import evaluate_array

    got = evaluate_array("rand() + 10*randn() + 100*i", 5, {}, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(
        got, rng.random(5) + 10 * rng.standard_normal(5) + 100 * np.arange(5)
    )


def test_model_content_tells_apart_values_that_differ_beyond_8_digits(tmp_path):
    """Brian2's repr rounds to 8 decimals: tau_m 100 ms and 100.0000000001 ms read the same, so
    a checkpoint, a trained network or a saved surrogate (`neuron_id`) of one would have been
    taken for the other's. Values read back exactly from their repr keep it (the digests of
    before); others are written exactly."""
    from bioclf.equations.spec import value_text
    from bioclf.surrogate.saved import neuron_id

    lif = load_neuron(EQUATIONS / "lif.yaml")
    close = lif.with_parameters(tau_m=100.0000000001 * ms)
    assert repr(close.parameters["tau_m"]) == repr(lif.parameters["tau_m"])
    assert model_content(close) != model_content(lif)
    # the same through a file, as the surrogate checks a trained network's neuron
    text = (EQUATIONS / "lif.yaml").read_text()
    assert "tau_m: 100*ms" in text
    (tmp_path / "lif.yaml").write_text(text)
    (tmp_path / "close.yaml").write_text(text.replace("tau_m: 100*ms", "tau_m: 100.0000000001*ms"))
    assert neuron_id(tmp_path / "lif.yaml") != neuron_id(tmp_path / "close.yaml")
    assert neuron_id(tmp_path / "lif.yaml") == neuron_id(EQUATIONS / "lif.yaml")
    # values that a file's text gives back bit for bit keep Brian2's repr ...
    assert "'v_th': -52. * mvolt" in model_content(lif)
    assert "'tau_m': 100. * msecond" in model_content(lif)
    # ... others, their exact bits, never the repr of another value
    exact = value_text(close.parameters["tau_m"])
    assert exact == f"exact({float(close.parameters['tau_m']).hex()}, second)"
    # 0.05*mV and 50*uV differ in the last bit; both are shown as 50. * uvolt
    assert float(0.05 * mV) != float(50 * uvolt) and repr(0.05 * mV) == repr(50 * uvolt)
    assert value_text(50 * uvolt) == "50. * uvolt"
    assert value_text(0.05 * mV).startswith("exact(0x1.a36e2eb1c432dp-15, ")


@pytest.mark.parametrize("condition", ["i != j and gi_post >= 0", "N > 10", "t < 1*ms"])
def test_connect_condition_refuses_names_it_cannot_be_given(tmp_path, condition):
    """A condition is evaluated before the network exists, with i, j, N_pre, N_post and the
    synapse's parameters: a neuron's variable or t passed the check and raised a NameError
    building the network (N: the pairs there, and 0 where Brian2 connected)."""
    text = (EQUATIONS / "dc_inh_exc.yaml").read_text()
    path = tmp_path / "inh_exc.yaml"
    path.write_text(text.replace("connect: i != j", f"connect: {condition}"))
    inh, exc = load_neuron(EQUATIONS / "dc_inh.yaml"), load_neuron(EQUATIONS / "dc_exc.yaml")
    with pytest.raises(EquationFileError) as err:
        check_synapse_partners(load_synapse(path), inh, exc)
    assert err.value.field == "connect" and str(path) in str(err.value)
    assert "it may use only i, j, N_pre, N_post, the synapse's parameters" in str(err.value)
    path.write_text(text.replace("connect: i != j", "connect: i != j and w_ie > 0 and j < N_pre"))
    check_synapse_partners(load_synapse(path), inh, exc)  # what it can be given


@pytest.mark.parametrize(
    "kind, old, new, field",
    [
        ("neuron", "  theta: theta_init", "  theta: theta_init + 0*v/mV*mV", "initial.theta"),
        ("neuron", "  theta: theta_init", "  theta: theta_init*(t/second + 1)", "initial.theta"),
        ("synapse", "w: w_init*(0.01 + rand())", "w: w_init*(0.01 + 0*ge_post)", "initial.w"),
        ("synapse", "w: w_init*(0.01 + rand())", "w: w_init*(0.01 + 0*xpre_pre)", "initial.w"),
        ("synapse", "delay: rand()*delay_max", "delay: rand()*delay_max + 0*t", "delay"),
    ],
)  # fmt: skip
def test_initial_values_and_delays_refuse_names_they_cannot_be_given(
    tmp_path, kind, old, new, field
):
    """Initial values and delays are evaluated in numpy before the network exists (a neuron's
    with i and N, a synapse's with i, j, N, N_pre, N_post, N_incoming, N_outgoing, and the
    model's parameters): another state variable, a neuron's variable or t passed the check and
    raised a NameError building the network. Refused when the file is checked, naming it."""
    name, check = (
        ("dc_exc.yaml", load_neuron) if kind == "neuron" else ("dc_stdp.yaml", _stdp_partners)
    )
    err, path = _refused(tmp_path, name, old, new, check)
    assert err.field == field and str(path) in str(err), err
    assert "(it is evaluated before the network exists)" in str(err)


@pytest.mark.parametrize(
    "file, used, parameter",
    [("dc_exc.yaml", "theta_plus", "tau_m"), ("dc_stdp.yaml", "tau_post2", "nu_pre")],
)
def test_neuron_and_synapse_models_share_uses_and_with_parameters(file, used, parameter):
    """Both kinds look up names in all their code (a synapse's also in what it adds to its
    neurons: tau_post2 only there) and copy themselves with other values, refusing a name
    they do not have."""
    model = load_model(EQUATIONS / file)
    assert model.uses(used) and not model.uses("no_such_name")
    assert model.namespace() == model.parameters and model.namespace() is not model.parameters
    value = model.parameters[parameter] * 2
    changed = model.with_parameters(**{parameter: value})
    assert type(changed) is type(model) and changed.parameters[parameter] == value
    assert model.parameters[parameter] == value / 2  # the original is left as it was
    with pytest.raises(KeyError, match=rf"{file}: no parameter\(s\) \['nope'\]"):
        model.with_parameters(nope=1)
