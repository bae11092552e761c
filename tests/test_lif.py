"""The plain LIF file against the analytic firing rate, on runtime and cpp_standalone."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import ms, second
from conftest import EQUATIONS

from bioclf.brian import backends, lif_check
from bioclf.equations import load_neuron


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


def test_analytic_rate_formula(lif):
    i_rh = lif_check.rheobase(lif)
    assert lif_check.analytic_rate(lif, [0.5 * i_rh, i_rh])[0] == 0
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
