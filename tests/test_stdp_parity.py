"""The verdict on where two runs of the STDP network part (`bioclf.stdp.parity`), on synthetic
traces, and the traces a traced network records (runtime backend)."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import ms
from conftest import DC_MODELS, ROOT

from bioclf.brian import backends
from bioclf.data import images_as_float, load_split
from bioclf.encoding import hashrng
from bioclf.stdp import parity
from bioclf.stdp.parity import RTOL, Trace, first_divergence, threshold_sides
from bioclf.stdp.protocol import Models, Protocol
from bioclf.stdp.simulate import Simulator

STEPS, N = 200, 5


def _run(seed: int = 0) -> Trace:
    """A synthetic run: margins wandering around the threshold, a spike wherever one is > 0."""
    rng = np.random.default_rng(seed)
    margins = {p: np.cumsum(rng.normal(0, 0.05, (STEPS, N)), axis=0) - 0.2 for p in ("exc", "inh")}
    return _with_spikes(margins)


def _with_spikes(margins: dict) -> Trace:
    return Trace(margins, {p: np.argwhere(m > 0) for p, m in margins.items()})


def _rounded(trace: Trace, size: float, seed: int = 1) -> dict:
    """The margins of `trace` with rounding-like noise of relative size `size`."""
    rng = np.random.default_rng(seed)
    return {p: m + size * rng.uniform(-1, 1, m.shape) for p, m in trace.margins.items()}


def test_threshold_sides():
    rhs = "v_th + theta - theta_offset"
    assert threshold_sides(f"v > {rhs}") == ("v", rhs)
    assert threshold_sides("v >= v_th") == ("v", "v_th")
    assert threshold_sides("v_th < v") == ("v", "v_th")  # spikes when v exceeds v_th
    assert threshold_sides("-v <= -v_th") == ("-v_th", "-v")
    for other in ("v > v_th and t > t0", "a < v < b", "v == v_th", "spike(v)", "v >"):
        assert threshold_sides(other) is None
    assert parity.relative_margin(-0.051, -0.052) == pytest.approx(0.001 / 0.052)
    assert parity.relative_margin(0.0, 0.0) == 0.0  # not 0/0


def test_runs_equal_to_rounding_do_not_part():
    ref = _run()
    assert first_divergence([ref], [ref]) is None
    # margins off by 1e-12 everywhere, spikes where the margins say: the same spikes here
    other = _rounded(ref, 1e-12)
    assert all(np.array_equal(other[p] > 0, ref.margins[p] > 0) for p in other)
    assert first_divergence([ref], [_with_spikes(other)]) is None


def test_a_spike_flipped_at_the_threshold_is_explained():
    ref = _run()
    spikes = ref.spikes["exc"]
    step, i = spikes[len(spikes) // 2]
    margins = _rounded(ref, 1e-12)
    # the neuron lands 3e-11 above its threshold in the reference, 2e-11 below in the other
    ref.margins["exc"][step, i], margins["exc"][step, i] = 3e-11, -2e-11
    margins["exc"][step + 1 :] += 0.3  # the runs part after it: no matter
    other = _with_spikes(margins)
    d = first_divergence([ref], [other])
    assert d is not None and d.explained, d and d.describe()
    assert (d.chunk, d.step, d.kind) == (0, step, "spikes")
    assert [(e.population, e.neuron, e.spiked_ref, e.spiked_other) for e in d.events] == [
        ("exc", i, True, False)
    ]
    assert d.margin == pytest.approx(3e-11)
    assert 0 < d.agreement <= 2e-12
    assert "Explained by rounding" in d.describe() and "3e-11" in d.describe()


def test_a_spike_that_differs_clear_of_the_threshold_is_a_bug():
    ref = _run()
    step, i = ref.spikes["inh"][0]
    # the margins agree (well above the threshold), but the other run drops the spike
    spikes = dict(ref.spikes)
    keep = ~((spikes["inh"][:, 0] == step) & (spikes["inh"][:, 1] == i))
    spikes["inh"] = spikes["inh"][keep]
    d = first_divergence([ref], [Trace(ref.margins, spikes)])
    assert d is not None and not d.explained
    event = d.events[0]
    assert (d.step, d.kind, event.population, event.neuron) == (step, "spikes", "inh", i)
    assert d.margin == pytest.approx(ref.margins["inh"][step, i])
    assert "Not rounding" in d.describe() and "clear of the threshold" in d.describe()
    # a spike the reference lacks, at a neuron far below the threshold, likewise
    step, i = 7, int(np.argmin(ref.margins["exc"][7]))
    spikes = dict(ref.spikes, exc=np.vstack([ref.spikes["exc"], [[step, i]]]))
    d = first_divergence([ref], [Trace(ref.margins, spikes)])
    assert not d.explained and (d.step, d.events[0].spiked_other) == (7, True)


def test_margins_that_part_before_any_spike_are_a_bug():
    """A difference in the computed values (input lost, a variable updated differently) shows
    first in the margins; a spike flipped later near the threshold does not excuse it."""
    ref = _run()
    first = int(ref.spikes["exc"][:, 0].min())
    margins = {p: m.copy() for p, m in ref.margins.items()}
    margins["inh"][first - 5 :, 2] -= 1e-6  # drifts away, spikes still the same for a while
    d = first_divergence([ref], [Trace(margins, ref.spikes)])
    assert d is not None and not d.explained
    assert (d.step, d.kind, d.events[0].population, d.events[0].neuron) == (
        first - 5,
        "margins",
        "inh",
        2,
    )
    assert "before any spike differed" in d.describe()


def test_the_first_divergence_is_found_over_chunks_and_the_steps_both_recorded():
    """CUDA runs every slot of a chunk, C++ stops after the last sample: chunks are compared
    over the steps both recorded, in order."""
    ref, nxt = _run(0), _run(2)
    longer = {p: np.vstack([m, np.full((50, N), 1.0)]) for p, m in nxt.margins.items()}
    extra = np.argwhere(np.vstack([np.zeros((STEPS, N)), np.ones((50, N))]) > 0)
    gpu_next = Trace(longer, {p: np.vstack([s, extra]) for p, s in nxt.spikes.items()})
    assert first_divergence([ref, nxt], [ref, gpu_next]) is None
    margins = {p: m.copy() for p, m in longer.items()}
    margins["exc"][40, 1] = -margins["exc"][40, 1]
    d = first_divergence([ref, nxt], [ref, _with_spikes(margins)], rtol=RTOL)
    assert (d.chunk, d.step) == (1, 40)


def test_without_margins_a_differing_spike_is_not_explained():
    """A threshold that is not one comparison records no margins: nothing can excuse a spike."""
    ref = _run()
    blind = Trace({"exc": None, "inh": ref.margins["inh"]}, ref.spikes)
    assert first_divergence([blind], [blind]) is None
    spikes = dict(ref.spikes, exc=ref.spikes["exc"][1:])
    d = first_divergence([blind], [Trace(blind.margins, spikes)])
    assert not d.explained and np.isnan(d.events[0].margin_ref)
    assert "no margin was recorded" in d.describe()
    # recorded in one run only: nothing to compare it with either
    half = Trace({"exc": ref.margins["exc"], "inh": ref.margins["inh"]}, spikes)
    d = first_divergence([blind], [half])
    assert not d.explained and d.margin == np.inf


def test_a_traced_network_records_the_margins_its_thresholds_test():
    """The clamped models cannot spike while refractory, when v sits at v_reset below the
    threshold: a neuron spikes exactly at the steps where its recorded margin is positive."""
    short = Protocol(present=40 * ms, rest=20 * ms, max_intensity=4)
    x = images_as_float(load_split(ROOT / "data" / "mnist", "train"))[:1]
    backend = backends.Backend("runtime")
    sim = Simulator(Models.load(DC_MODELS), short, 4, 1, 0, backend, "trace", trace=True)
    _, res = sim.run_chunk(sim.initial_state, x, 0, hashrng.key(0, 1, 0), True)
    trace = res.trace
    assert len(trace.spikes["exc"]) == res.spikes["exc"] > 0
    assert len(trace.spikes["inh"]) == res.spikes["inh"] > 0
    for pop in ("exc", "inh"):
        m = trace.margins[pop]
        assert m.shape == (2 * short.slot_steps, 4)  # every step of the chunk's two slots
        fired = np.zeros(m.shape, dtype=bool)
        fired[tuple(trace.spikes[pop].T)] = True
        np.testing.assert_array_equal(fired, m > 0, err_msg=pop)
    assert first_divergence([trace], [trace]) is None
