"""The Diehl & Cook excitatory neuron: its two refractory forms (dc_exc vs dc_exc_unclamped)
and its adaptive threshold theta."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import Network, SpikeMonitor, StateMonitor, ms, mV, start_scope
from conftest import EQUATIONS

from bioclf.brian import backends
from bioclf.brian.groups import neuron_group
from bioclf.equations import load_neuron

DT = 0.5 * ms


def _drive(name: str, ge: float = 2.0):
    """One neuron under a constant conductance `ge`: its v trace and spike steps."""
    model = load_neuron(EQUATIONS / f"{name}.yaml")
    backends.activate(backends.Backend("runtime"), "refractory", dt=DT)
    start_scope()
    g = neuron_group(model, 1, "exc", np.random.default_rng(0))
    g.v = -65 * mV
    # ge held constant by re-setting it every step (tau_ge = 1 ms would let it decay).
    g.run_regularly(f"ge = {ge!r}", when="before_groups")
    mon = StateMonitor(g, "v", record=0, when="after_resets")
    sm = SpikeMonitor(g)
    net = Network(g, mon, sm)
    net.run(60 * ms)
    v = np.asarray(mon.v[0])
    spikes = np.round(np.asarray(sm.t) / float(DT)).astype(int).tolist()
    return model, v, spikes


@pytest.mark.parametrize("name", ["dc_exc", "dc_exc_unclamped"])
def test_no_spike_within_refractory_period(name):
    """A drive (ge = 50) that takes v from v_reset past threshold within a step or two, so
    that only the refractory period spaces the spikes (ge = 2 takes ~12 ms, longer than t_ref:
    the spacing would then hold without any refractory period)."""
    model, _, spikes = _drive(name, ge=50.0)
    assert len(spikes) >= 5
    ref_steps = int(round(float(model.refractory_time()) / float(DT)))
    isi = np.diff(spikes)
    assert isi.min() >= ref_steps
    # ... and fires again as soon as the period lets it (one euler step from v_reset crosses
    # threshold: 0.5 ms * 50 * 65 mV / 100 ms = 16 mV > 13 mV).
    assert isi.max() <= ref_steps + 1, isi


def test_clamped_holds_v_unclamped_integrates():
    model, v_c, sp_c = _drive("dc_exc")
    _, v_u, sp_u = _drive("dc_exc_unclamped")
    ref_steps = int(round(float(model.refractory_time()) / float(DT)))
    reset = float(model.parameters["v_reset"])
    k = sp_c[0]
    # Clamped: v sits at v_reset for the steps after the spike inside the refractory period.
    assert np.allclose(v_c[k : k + ref_steps], reset)
    k = sp_u[0]
    # Unclamped: v leaves v_reset at the very next step and keeps rising while spikes are blocked.
    assert v_u[k] == pytest.approx(reset)
    assert np.all(np.diff(v_u[k : k + ref_steps]) > 0)
    # So the unclamped neuron fires again sooner: shorter inter-spike intervals.
    assert np.diff(sp_u).mean() < np.diff(sp_c).mean()


def test_theta_rises_by_theta_plus_per_spike_and_decays_with_tau_theta():
    """The adaptive threshold, step by step: Euler decay by dt / tau_theta (50 ms here, so that
    the decay shows within the run), plus theta_plus at each spike (plastic = 1)."""
    model = load_neuron(EQUATIONS / "dc_exc.yaml").with_parameters(tau_theta=50 * ms)
    backends.activate(backends.Backend("runtime"), "theta", dt=DT)
    start_scope()
    g = neuron_group(model, 1, "exc", np.random.default_rng(0))
    g.v = -65 * mV
    g.run_regularly("ge = 50.0", when="before_groups")
    mon = StateMonitor(g, "theta", record=0, when="end")
    sm = SpikeMonitor(g)
    Network(g, mon, sm).run(30 * ms)
    spikes = set(np.round(np.asarray(sm.t) / float(DT)).astype(int).tolist())
    assert len(spikes) >= 3
    p = model.parameters
    theta, decay, expected = float(p["theta_init"]), 1 - float(DT / p["tau_theta"]), []
    for step in range(len(mon.t)):
        theta = theta * decay + (float(p["theta_plus"]) if step in spikes else 0.0)
        expected.append(theta)
    np.testing.assert_allclose(np.asarray(mon.theta[0]), expected, rtol=1e-12)
