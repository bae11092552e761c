"""The plain LIF file against the analytic firing rate, on runtime and cpp_standalone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from brian2 import ms, nA, second
from conftest import EQUATIONS, ROOT

from bioclf import neuron_check
from bioclf.brian import backends, lif_check
from bioclf.equations import load_neuron
from bioclf.errors import ConfigError, EquationFileError


@pytest.fixture(scope="module")
def lif():
    return load_neuron(EQUATIONS / "lif.yaml")


def _check(result):
    above = result.analytic > 0
    assert above.sum() >= 10
    rel = np.abs(result.simulated[above] - result.analytic[above]) / result.analytic[above]
    assert rel.max() < 0.01, rel
    assert np.all(result.n_spikes[~above] == 0)
    # No interspike interval shorter than the refractory period.
    assert np.all(result.min_isi[above] >= result.t_ref - 1e-12)
    # The 1 % above is neuron_check's bound, for any integration method. 'exact' integration
    # (t_ref a whole number of steps) allows far less: after every spike the neuron restarts
    # from v_reset on the grid, so every interspike interval is the same whole number of
    # steps, the analytic interval rounded to the grid (within one step). A refractory period
    # or a time constant off by a few steps, which the 1 % lets through at these rates (a step
    # is 0.03 % of the shortest interval), fails here.
    for k in np.flatnonzero(above):
        steps = result.steps[k]
        assert len(steps) >= 3, (k, steps)
        isi_steps = np.unique(np.diff(steps))
        assert len(isi_steps) == 1, (k, isi_steps)  # no jitter from one spike to the next
        analytic_steps = 1.0 / result.analytic[k] / result.dt
        assert abs(isi_steps[0] - analytic_steps) <= 1.0, (k, isi_steps[0], analytic_steps)


def test_analytic_rate_formula(lif):
    i_rh = lif_check.rheobase(lif)
    assert lif_check.analytic_rate(lif, [0.5 * i_rh, i_rh])[0] == 0
    # At twice rheobase (0.26 nA): v_inf = v_rest + R*I = -39 mV, halfway from v_reset
    # (-65 mV) to threshold (-52 mV) is ln 2 membrane time constants, after t_ref:
    # ISI = 5 ms + 100 ms * ln 2 = 74.31 ms.
    assert i_rh == pytest.approx(0.13e-9, rel=1e-12)
    assert lif_check.analytic_rate(lif, [2 * i_rh])[0] == pytest.approx(
        1 / (5e-3 + 100e-3 * np.log(2)), rel=1e-12
    )
    # Just above rheobase the rate rises from zero (the ISI diverges logarithmically).
    rates = lif_check.analytic_rate(lif, [1.0001 * i_rh, 1.05 * i_rh, 2 * i_rh])
    assert 0 < rates[0] < 1.1 and np.all(np.diff(rates) > 0)  # ISI > 5 ms + 100 ms * ln 1e4
    # Far above rheobase the ISI tends to the refractory period.
    assert lif_check.analytic_rate(lif, [1e6 * i_rh])[0] == pytest.approx(1 / 5e-3, rel=1e-3)


def test_rates_runtime(lif):
    currents = lif_check.current_levels(lif, n_above=10, n_below=3)
    _check(lif_check.simulate_rates(lif, currents, duration=1 * second, dt=0.01 * ms))


@pytest.mark.standalone
def test_rates_cpp_standalone(lif, build_root):
    currents = lif_check.current_levels(lif, n_above=12, n_below=3)
    backend = backends.Backend("cpp", build_dir=build_root / "neuron")
    _check(
        lif_check.simulate_rates(lif, currents, duration=2 * second, dt=0.01 * ms, backend=backend)
    )


def test_refractory_period_follows_the_file(lif):
    """Editing t_ref in the file changes the simulated minimum ISI."""
    long_ref = lif.with_parameters(t_ref=20 * ms)
    current = [20 * lif_check.rheobase(lif)]
    short = lif_check.simulate_rates(lif, current, duration=0.5 * second, dt=0.05 * ms)
    long = lif_check.simulate_rates(long_ref, current, duration=0.5 * second, dt=0.05 * ms)
    assert long.min_isi[0] >= 20e-3 - 1e-9 > short.min_isi[0]


def test_membrane_trace_shows_every_feature(lif):
    trace = lif_check.membrane_trace(lif)
    dt = trace.t[1] - trace.t[0]
    assert len(trace.spikes) >= 2
    # Subthreshold phase: integration above rest but no spike before 300 ms.
    sub = (trace.t > 0.1) & (trace.t < 0.25)
    assert trace.v[sub].max() > -65e-3 + 1e-3 and np.all(trace.spikes > 0.3)
    # After each spike v sits at v_reset for the refractory period (clamped), then rises.
    for ts in trace.spikes:
        k = int(round(ts / dt))
        clamp = trace.v[k + 1 : k + int(trace.t_ref / dt)]
        assert np.allclose(clamp, trace.v_reset)
        assert trace.v[k + int(trace.t_ref / dt) + 2] > trace.v_reset
    # The threshold is crossed just before each spike.
    k = int(round(trace.spikes[0] / dt))
    assert trace.v[k - 1] < trace.v_th


RENAMED = """kind: neuron
equations: |
  dU/dt = (E_L - U)/tau + Iin/C_m : volt (unless refractory)
  Iin : amp
threshold: U > theta
reset: U = U_r
refractory: dead
method: exact
initial:
  U: E_L
input: Iin
parameters:
  E_L: -70*mV
  U_r: -75*mV
  theta: -50*mV
  tau: 20*ms
  dead: 2*ms
  C_m: 200*pF
"""

ADAPTING = """kind: neuron
equations: |
  dv/dt = (v_rest - v + R*(I - w))/tau_m : volt (unless refractory)
  dw/dt = -w/tau_w : amp
  I : amp
threshold: v > v_th
reset: |
  v = v_reset
  w += b
refractory: t_ref
method: exact
initial:
  v: v_rest
input: I
parameters:
  v_rest: -65*mV
  v_reset: -65*mV
  v_th: -52*mV
  tau_m: 100*ms
  t_ref: 5*ms
  R: 100*Mohm
  tau_w: 200*ms
  b: 0.02*nA
"""


def test_a_reset_to_a_function_of_numbers_has_no_closed_form_and_is_refused_in_one_line(
    tmp_path,
):
    """``v = clip(v_reset, v_rest, v_th)``: sympy leaves the clip of numbers unevaluated, and
    turning it into a float raised a TypeError traceback (in the workflow's check, too)."""
    path = tmp_path / "clipped.yaml"
    text = (EQUATIONS / "lif.yaml").read_text()
    path.write_text(text.replace("reset: v = v_reset", "reset: v = clip(v_reset, v_rest, v_th)"))
    model = load_neuron(path)
    theory, reason = lif_check.analyse(model)
    assert theory is None and reason.startswith("the reset is not a number (clip("), reason
    with pytest.raises(EquationFileError, match="cannot choose input currents: the reset"):
        lif_check.drive_model(model)


def test_a_unit_in_the_equations_is_a_number_not_a_dependence(tmp_path):
    """``exp((v - v_th)/mV)`` was refused as "dv/dt depends on mV"; a linear term written with
    units enters the closed form (its leak halved here)."""
    path = tmp_path / "units.yaml"
    text = (EQUATIONS / "lif.yaml").read_text().replace("method: exact", "method: euler")
    path.write_text(text.replace("R*I)/tau_m", "R*I + 1*mV*exp((v - v_th)/mV))/tau_m"))
    assert lif_check.analyse(load_neuron(path))[1] == "dv/dt is not linear in v and I (term in v)"
    path.write_text(text.replace("R*I)/tau_m", "R*I + 0.5*(v - v_rest)*mV/mV)/tau_m"))
    theory, reason = lif_check.analyse(load_neuron(path))
    assert reason == "" and theory.tau == pytest.approx(0.2)


def test_closed_form_is_derived_whatever_the_names(tmp_path):
    """dU/dt = (E_L - U)/tau + Iin/C_m: the same LIF with none of lif.yaml's names."""
    path = tmp_path / "renamed.yaml"
    path.write_text(RENAMED)
    model = load_neuron(path)
    theory, reason = lif_check.analyse(model)
    assert reason == "" and theory.membrane == "U" and theory.input == "Iin"
    # rheobase (theta - E_L) * C_m / tau = 20 mV * 200 pF / 20 ms = 0.2 nA
    assert theory.rheobase == pytest.approx(0.2e-9)
    assert (theory.tau, theory.v_th, theory.v_reset, theory.t_ref) == pytest.approx(
        (20e-3, -50e-3, -75e-3, 2e-3)
    )
    currents = lif_check.current_levels(model, n_above=10, n_below=3)
    _check(lif_check.simulate_rates(model, currents, duration=0.5 * second, dt=0.01 * ms))


def _agreement_check(tmp_path, model, dt: str, duration: str) -> dict:
    """The neuron check of `model` on runtime (10 levels), run as the pipeline runs it; its
    lif_check.json."""
    cfg = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    cfg["neuron_check"] = {
        "model": str(model),
        "backends": ["runtime"],
        "dt": dt,
        "duration": duration,
        "levels": 10,
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    assert neuron_check.main(["--config", str(tmp_path / "cfg.yaml"), "--out", str(out)]) == 0
    return json.loads((out / "lif_check.json").read_text())


def test_adaptation_neuron_gets_the_agreement_check(tmp_path):
    """No closed form: the check runs (and passes) on runtime against PyTorch, spike for spike."""
    path = tmp_path / "adapting.yaml"
    path.write_text(ADAPTING)
    result = _agreement_check(tmp_path, path, "0.01*ms", "0.3*second")
    assert result["check"] == "agreement" and "w" in result["no_closed_form"]
    assert result["pytorch"]["compared"] and result["pytorch"]["identical"]
    assert result["pytorch"]["spikes"] > 20
    assert result["passed"] and result["backends"]["runtime"]["levels_firing"] >= 5
    # ... and a PyTorch neuron that differs by one parameter is caught.
    model = load_neuron(path)
    currents = lif_check.current_levels(model, n_above=4, n_below=1)
    brian = lif_check.simulate_rates(model, currents, duration=0.2 * second, dt=0.01 * ms)
    other = lif_check.torch_steps(
        model.with_parameters(b=0.03 * nA), currents, duration=0.2 * second, dt=0.01 * ms
    )
    assert not lif_check.compare_steps(brian.steps, other)["identical"]


@pytest.mark.parametrize(
    "old, new, compared",
    [
        ("reset: v = v_reset", "reset: v -= 20*mV", True),
        ("refractory: t_ref", "refractory: v > v_th - 1*mV", False),  # PyTorch: no condition
    ],
)
def test_a_reset_or_refractory_period_without_closed_form_gets_the_agreement_check(
    tmp_path, old, new, compared
):
    """Neither moves the rheobase that sets the currents, yet the check refused both ('cannot
    choose input currents', exit 2) instead of checking that the simulators agree."""
    path = tmp_path / "edited.yaml"
    text = (EQUATIONS / "lif.yaml").read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    result = _agreement_check(tmp_path, path, "0.05*ms", "0.8*second")
    assert result["check"] == "agreement" and result["passed"]
    assert result["pytorch"]["compared"] is compared
    if compared:
        assert result["pytorch"]["identical"] and result["pytorch"]["spikes"] > 20
    else:
        assert "refractoriness given as a condition" in result["pytorch"]["reason"]
    assert (tmp_path / "out" / "membrane.png").exists()


def test_too_short_a_duration_is_a_configuration_error(tmp_path):
    """tau_m = 1 s: at 1.05x rheobase one spike every 3 s, so a 2 s check would measure a rate
    of 0 and call a correct neuron broken; the duration is refused instead, naming the field."""

    path = tmp_path / "slow.yaml"
    path.write_text(
        (EQUATIONS / "lif.yaml").read_text().replace("tau_m: 100*ms", "tau_m: 1*second")
    )
    model = load_neuron(path)
    assert 1 / lif_check.analytic_rate(model, [1.05 * lif_check.rheobase(model)])[0] > 3.0
    cfg = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    cfg["neuron_check"] = {"model": str(path), "backends": ["runtime"], "duration": "2*second"}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    argv = ["--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "out")]
    with pytest.raises(ConfigError, match="use at least 9.2") as err:
        neuron_check.main(argv)
    assert err.value.field == "neuron_check.duration"


def test_a_check_on_cuda_alone_without_a_gpu_is_refused(tmp_path, monkeypatch):
    """With cuda its only backend and no GPU, the check simulated nothing and wrote that it
    passed; it is refused before anything runs."""
    monkeypatch.setattr(backends, "gpu_available", lambda: False)
    cfg = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    cfg["neuron_check"]["backends"] = ["cuda"]
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="no GPU here") as err:
        neuron_check.main(["--config", str(tmp_path / "cfg.yaml"), "--out", str(out)])
    assert err.value.field == "neuron_check.backends"
    assert not (out / "lif_check.json").exists()


def _strict_json(path):
    """`path` read as standard JSON: NaN and Infinity, which Python writes but strict parsers
    (jq, JavaScript) refuse, are refused."""

    def refuse(constant):
        raise ValueError(f"{path}: {constant} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_no_level_firing_writes_null_and_the_report_reads_it(tmp_path):
    """A neuron that never fires twice (a broken model) has no shortest interspike interval:
    lif_check.json holds null there (it held Infinity, not JSON), and the report says so."""
    from bioclf import report
    from bioclf.io import write_json

    n = 4
    silent = lif_check.RateResult(
        current=np.linspace(0, 3e-9, n),
        analytic=np.array([0.0, 10.0, 20.0, 30.0]),
        simulated=np.zeros(n),
        n_spikes=np.zeros(n, dtype=int),
        min_isi=np.full(n, np.inf),
        t_ref=2e-3,
        dt=1e-5,
        backend="runtime",
        steps=[np.zeros(0, dtype=int)] * n,
    )
    analytic, passed = neuron_check._analytic_checks(silent)
    assert analytic["min_isi_s"] is None and not passed
    agreement, passed = neuron_check._agreement_checks(silent, silent)
    assert agreement["min_isi_s"] is None and agreement["levels_firing"] == 0 and not passed
    path = tmp_path / "neuron" / "lif_check.json"
    write_json(
        path,
        {
            "model": "silent.yaml",
            "check": "analytic",
            "backends": {
                "runtime": {**analytic, "passed": False},
                "cpp": {**agreement, "passed": False},
            },
            "pytorch": None,
            "passed": False,
        },
    )
    assert _strict_json(path)["backends"]["runtime"]["min_isi_s"] is None
    argv = ["--config", str(ROOT / "config" / "config.yaml"), "--out", str(tmp_path)]
    assert report.main(argv) == 0
    text = (tmp_path / "report.md").read_text()
    assert text.count("min ISI none (no level fired twice)") == 2


def _synthetic_rates(**change):
    """A RateResult of 12 levels (2 below rheobase) that fires at its analytic rates, spike
    intervals at twice t_ref, with `change` applied."""
    analytic = np.concatenate([[0.0, 0.0], np.linspace(2.0, 50.0, 10)])
    fields = dict(
        current=np.linspace(0, 3e-9, 12),
        analytic=analytic,
        simulated=analytic.copy(),
        n_spikes=np.where(analytic > 0, 20, 0),
        min_isi=np.where(analytic > 0, 4e-3, np.inf),
        t_ref=2e-3,
        dt=1e-5,
        backend="runtime",
        steps=[np.arange(0, 20 * k, k + 1) for k in range(12)],
    )
    return lif_check.RateResult(**(fields | change))


def test_the_checks_verdicts_fail_a_neuron_off_its_rate_or_refractory_period():
    """lif_check.json's "passed": the analytic check fails a neuron 2 % off its closed-form
    rate, one that fires twice within t_ref, and one that fires below rheobase; the
    agreement check fails a backend whose spikes differ. (Only a silent neuron was failed in a
    test: the rate and refractory criteria could be dropped unnoticed.)"""
    good = _synthetic_rates()
    assert neuron_check._analytic_checks(good)[1]
    off = good.simulated * np.where(np.arange(12) == 7, 1.02, 1.0)
    short_isi = np.where(np.arange(12) == 5, 1.9e-3, good.min_isi)
    below = np.where(np.arange(12) == 1, 1, good.n_spikes)
    for bad in (dict(simulated=off), dict(min_isi=short_isi), dict(n_spikes=below)):
        checks, passed = neuron_check._analytic_checks(_synthetic_rates(**bad))
        assert not passed, (bad, checks)
    # ... and one measured at 9 levels above rheobase, fewer than the 10 the check needs
    fields = ("current", "analytic", "simulated", "n_spikes", "min_isi", "steps")
    nine = _synthetic_rates(**{name: getattr(good, name)[:11] for name in fields})
    checks, passed = neuron_check._analytic_checks(nine)
    assert not passed and checks["levels_above_rheobase"] == 9
    assert neuron_check._agreement_checks(good, good)[1]
    moved = [s.copy() for s in good.steps]
    moved[4][-1] += 1
    checks, passed = neuron_check._agreement_checks(_synthetic_rates(steps=moved), good)
    assert not passed and checks["neurons_differing"] == 1
    checks, passed = neuron_check._agreement_checks(_synthetic_rates(min_isi=short_isi), good)
    assert not passed and not checks["refractory_respected"]


@pytest.mark.parametrize(
    "edits",
    [
        # no refractory period, '(unless refractory)' left in the equations (then a no-op)
        {"refractory: t_ref": "refractory: 0*ms"},
        # the same membrane in other units, a longer period, the threshold written the other way
        {"tau_m: 100*ms": "tau_m: 0.1*second", "t_ref: 5*ms": "t_ref: 20*ms"},
        {"threshold: v > v_th": "threshold: v_th < v", "v_reset: -65*mV": "v_reset: -60*mV"},
        # a constant current besides the input
        {"R*I)/tau_m": "R*(I + I0))/tau_m", "R: 100*Mohm": "R: 100*Mohm\n  I0: 0.05*nA"},
    ],
    ids=["refractory 0 with flag", "units and t_ref", "threshold reversed", "constant current"],
)
def test_edits_of_the_file_are_followed_by_brian2_pytorch_and_the_closed_form(tmp_path, edits):
    """The promise of equations/: edit lif.yaml and both simulators follow, spike for spike, at
    the rate its closed form gives."""
    text = (EQUATIONS / "lif.yaml").read_text()
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "edited.yaml"
    path.write_text(text)
    model = load_neuron(path)
    assert lif_check.analyse(model)[1] == ""
    currents = lif_check.current_levels(model, n_above=3, n_below=1)
    dt, duration = 0.05 * ms, 0.6 * second
    brian = lif_check.simulate_rates(model, currents, duration=duration, dt=dt)
    torch = lif_check.torch_steps(model, currents, duration=duration, dt=dt)
    assert lif_check.compare_steps(brian.steps, torch)["identical"]
    fired = brian.n_spikes >= 3
    assert fired.sum() >= 2 and np.all(brian.n_spikes[brian.analytic == 0] == 0)
    rel = np.abs(brian.simulated[fired] - brian.analytic[fired]) / brian.analytic[fired]
    assert rel.max() < 0.01, rel
