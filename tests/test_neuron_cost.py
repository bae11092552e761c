"""The multiplies and adds of one neuron update, counted from equation files by hand."""

from __future__ import annotations

import pytest
from conftest import EQUATIONS

from bioclf import neuron_cost
from bioclf.errors import EquationFileError, UnsupportedConstructError

DECAY = """\
kind: neuron
description: a membrane relaxing to rest
equations: |
  {equation}
threshold: v > v_th
reset: v = v_rest
refractory: 2*ms
method: {method}
initial:
  v: v_rest
input: v
parameters:
  v_rest: -65*mV
  v_th: -50*mV
  tau: 10*ms
  delta: 2*mV
"""


def neuron_file(tmp_path, equation, method="euler"):
    path = tmp_path / "neuron.yaml"
    path.write_text(DECAY.format(equation=equation, method=method))
    return path


def cost(code, variables=("v", "g", "h", "I")):
    """Multiplies and adds of `code` as written (constants folded), and its cheaper form."""
    numbers = {"dt": 1e-4, "tau": 1e-2, "v_rest": -0.065, "E": 0.0, "plastic": 0.0}
    expr = neuron_cost._sympify(code)
    as_written = neuron_cost._cost(neuron_cost._fold(expr, set(variables), numbers))
    return as_written, neuron_cost._cheaper(expr, set(variables), numbers)


def test_hand_countable_expressions():
    # Euler's v + dt*(v_rest - v)/tau: dt/tau folds, 1 multiply and 2 adds as written;
    # collected, (1 - dt/tau)*v + dt*v_rest/tau: 1 multiply, 1 add
    assert cost("v + dt*(v_rest - v)/tau") == ((1, 2), (1, 1))
    # a factor 0 (E = 0, plastic = 0) takes its term, a sign flip costs nothing
    assert cost("g*(E - v) + plastic*h*v") == ((1, 0), (1, 0))
    assert cost("-v") == ((0, 0), (0, 0))
    # a division by a variable is one multiply; by a number, a multiply by its reciprocal
    assert cost("v/g")[0] == (1, 0)
    assert cost("v/tau")[0] == (1, 0)
    assert cost("1/(g*h)")[0] == (2, 0)
    assert cost("v**2*g")[0] == (2, 0)
    # exp of numbers only is one number: exp(-dt/tau)*v is one multiply
    assert cost("exp(-dt/tau)*v + I")[0] == (1, 1)


def test_euler_decay_and_its_threshold(tmp_path):
    path = neuron_file(tmp_path, "dv/dt = (v_rest - v)/tau : volt")
    # the update's 1 multiply and 1 add, the comparison v > v_th one add
    assert neuron_cost.update_operations(path, 1e-4) == (1, 2)


def test_unless_refractory_is_counted_at_every_step(tmp_path):
    flagged = neuron_file(tmp_path, "dv/dt = (v_rest - v)/tau : volt (unless refractory)")
    assert neuron_cost.update_operations(flagged, 1e-4) == (1, 2)


def test_lif_file():
    # exact: v*e + v_rest + (-I*R - v_rest)*e + I*R, collected a*v + b*I + c (2 multiplies,
    # 2 adds), and the comparison v > v_th: one multiply more than the old fixed LIF price
    # (1 multiply, 3 adds), the input's scale R*(1 - e)
    assert neuron_cost.update_operations(EQUATIONS / "lif.yaml", 5e-3) == (2, 3)


def test_diehl_cook_files():
    # v: k*(ge*(-v) + gi*(E_inh - v) - v + v_rest) + v as generated (E_exc = 0): 3 multiplies,
    # 5 adds; ge and gi decay by a folded factor: a multiply each; theta frozen (plastic = 0);
    # the threshold v > theta + (v_th - theta_offset): an add and the comparison
    assert neuron_cost.update_operations(EQUATIONS / "dc_exc.yaml", 5e-4) == (5, 7)
    assert neuron_cost.update_operations(EQUATIONS / "dc_exc_fast.yaml", 5e-4) == (5, 7)
    # the same without theta: v > v_th, the comparison alone
    assert neuron_cost.update_operations(EQUATIONS / "dc_inh.yaml", 5e-4) == (5, 6)
    # dt = tau_ge = 1 ms: Euler's ge*(1 - dt/tau_ge) is 0, no multiply left for ge
    assert neuron_cost.update_operations(EQUATIONS / "dc_inh.yaml", 1e-3) == (4, 6)


def test_a_function_of_a_variable_is_refused_naming_the_file(tmp_path):
    path = neuron_file(tmp_path, "dv/dt = (v_rest - v + delta*exp((v - v_th)/delta))/tau : volt")
    with pytest.raises(UnsupportedConstructError) as err:
        neuron_cost.update_operations(path, 1e-4)
    message = str(err.value)
    assert str(path) in message and "field 'equations'" in message
    assert "function 'exp'" in message and "multiplies and adds only" in message


def test_cached_count_follows_the_file(tmp_path):
    path = neuron_file(tmp_path, "dv/dt = (v_rest - v)/tau : volt")
    assert neuron_cost.price_of_file(path, 1e-4) == ((1, 2), "")
    neuron_file(tmp_path, "dv/dt = (v_rest - v)/tau + v**2/(tau*mV) : volt")
    assert neuron_cost.price_of_file(path, 1e-4)[0] != (1, 2)
    # a refusal: no price, and the reason
    neuron_file(tmp_path, "dv/dt = (v_rest - v)/tau + sqrt(v/mV)*mV/tau : volt")
    (ops, reason) = neuron_cost.price_of_file(path, 1e-4)
    assert all(n != n for n in ops) and "function 'sqrt'" in reason


def test_cached_count_follows_the_file_it_extends(tmp_path):
    # dc_exc_fast.yaml takes its equations and time constants from dc_exc.yaml: an edit of the
    # base changes the count of the extending file (it was cached by the extending file alone)
    base, child = tmp_path / "base.yaml", tmp_path / "child.yaml"
    base.write_text((EQUATIONS / "dc_inh.yaml").read_text())
    child.write_text("extends: base.yaml\ndescription: a variant\nparameters:\n  v_th: -41*mV\n")
    # dt = tau_ge = 1 ms: Euler's ge*(1 - dt/tau_ge) is 0
    assert neuron_cost.price_of_file(child, 1e-3) == ((4, 6), "")
    base.write_text(base.read_text().replace("tau_ge: 1*ms", "tau_ge: 3*ms"))
    assert neuron_cost.price_of_file(child, 1e-3) == ((5, 6), "")


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(EquationFileError, match=r"gone\.yaml.*cannot be read"):
        neuron_cost.price_of_file(tmp_path / "gone.yaml", 1e-4)


def test_noise_is_refused_as_such(tmp_path):
    path = neuron_file(tmp_path, "dv/dt = (v_rest - v)/tau + delta*xi/sqrt(tau) : volt")
    with pytest.raises(UnsupportedConstructError, match=r"noise term\(s\) \['xi'\]"):
        neuron_cost.update_operations(path, 1e-4)
