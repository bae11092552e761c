"""One pre/post pairing changes a weight by exactly what the STDP file's rule says."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import Network, NeuronGroup, SpikeMonitor, StateMonitor, ms, mV
from conftest import EQUATIONS

from bioclf.brian import backends
from bioclf.brian.groups import neuron_group, synapses
from bioclf.equations import load_neuron, load_synapse

DT = 0.1 * ms


@pytest.fixture(scope="module")
def stdp():
    return load_synapse(EQUATIONS / "dc_stdp.yaml")


def _pair(stdp, pre_steps, post_steps, w0=0.5, plastic=1.0, delay_steps=0):
    """Final weight of one synapse driven by forced pre and post spikes (step indices)."""
    backends.activate(backends.Backend("runtime"), "pairing", dt=DT)
    ns = stdp.namespace()

    def forced(steps):
        return " or ".join(f"t_in_timesteps == {k}" for k in steps) or "False"

    pre = NeuronGroup(
        1,
        stdp.pre_neuron.equations,
        threshold=forced(pre_steps),
        reset=stdp.pre_neuron.on_spike,
        method="exact",
        namespace=ns,
        name="pre",
    )
    post = NeuronGroup(
        1,
        stdp.post_neuron.equations + "\nge : 1\nplastic : 1 (shared, constant)",
        threshold=forced(post_steps),
        reset=stdp.post_neuron.on_spike,
        method="exact",
        namespace=ns,
        name="post",
    )
    post.plastic = plastic
    s = synapses(
        stdp,
        pre,
        post,
        "syn",
        np.random.default_rng(0),
        initial={"w": np.array([w0]), "delay": np.array([delay_steps * float(DT / ms)]) * ms},
    )
    net = Network(pre, post, s)
    net.run((max(pre_steps + post_steps) + delay_steps + 2) * DT, namespace={})
    return float(s.w[0]), float(post.ge[0])


def test_post_then_pre_depresses_by_nu_pre_times_post1(stdp):
    p = stdp.parameters
    w, _ = _pair(stdp, pre_steps=[150], post_steps=[100])
    expected = 0.5 - float(p["nu_pre"]) * np.exp(-50 * float(DT) / float(p["tau_post1"]))
    assert w == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert w < 0.5


def test_pre_then_post_potentiates_by_nu_post_pre_post2_before(stdp):
    """Potentiation needs an earlier postsynaptic spike (post2 "before"): post, pre, post."""
    p = stdp.parameters
    w, _ = _pair(stdp, pre_steps=[150], post_steps=[100, 200])
    dep = float(p["nu_pre"]) * np.exp(-50 * float(DT) / float(p["tau_post1"]))
    pot = (
        float(p["nu_post"])
        * np.exp(-50 * float(DT) / float(p["tau_pre"]))
        * np.exp(-100 * float(DT) / float(p["tau_post2"]))
    )
    assert w == pytest.approx(0.5 - dep + pot, rel=1e-12)
    assert w > 0.5


def test_first_post_spike_alone_does_not_potentiate(stdp):
    w, _ = _pair(stdp, pre_steps=[100], post_steps=[150])
    assert w == 0.5  # post2 was 0 before the first postsynaptic spike


def test_weights_clipped_and_transmission(stdp):
    w, ge = _pair(stdp, pre_steps=[150], post_steps=[100], w0=0.0)
    assert w == 0.0  # clipped at the lower bound
    w, ge = _pair(stdp, pre_steps=[50], post_steps=[], w0=0.7)
    assert w == 0.7 and ge == pytest.approx(0.7)  # ge_post += w, no post spike: no change


def test_plastic_zero_freezes(stdp):
    w, _ = _pair(stdp, pre_steps=[150], post_steps=[100, 200], plastic=0.0)
    assert w == 0.5


def test_weights_clipped_at_wmax(stdp):
    """Potentiation beyond wmax stops at wmax; the same pairing below it adds the full amount."""
    p = stdp.parameters
    wmax = float(p["wmax"])
    dep = float(p["nu_pre"]) * np.exp(-50 * float(DT) / float(p["tau_post1"]))
    pot = (
        float(p["nu_post"])
        * np.exp(-50 * float(DT) / float(p["tau_pre"]))
        * np.exp(-100 * float(DT) / float(p["tau_post2"]))
    )
    w0 = wmax - pot / 2 + dep  # after the depression, half the potentiation is left to wmax
    w, _ = _pair(stdp, pre_steps=[150], post_steps=[100, 200], w0=w0)
    assert w == wmax
    w, _ = _pair(stdp, pre_steps=[150], post_steps=[100, 200], w0=w0 - pot)
    assert w == pytest.approx(w0 - pot - dep + pot, rel=1e-12) and w < wmax


def test_traces_are_set_not_incremented(stdp):
    """Two postsynaptic spikes in a row leave xpost1 at 1, not 2: the depression is that of the
    later spike alone."""
    p = stdp.parameters
    w, _ = _pair(stdp, pre_steps=[150], post_steps=[99, 100])
    expected = 0.5 - float(p["nu_pre"]) * np.exp(-50 * float(DT) / float(p["tau_post1"]))
    assert w == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_presynaptic_trace_is_set_not_incremented(stdp):
    """Two presynaptic spikes in a row leave xpre at 1, not 2: the potentiation at the next
    postsynaptic spike is that of the later presynaptic spike alone (each depresses)."""
    p = stdp.parameters
    w, _ = _pair(stdp, pre_steps=[149, 150], post_steps=[100, 200])
    dep = sum(float(p["nu_pre"]) * np.exp(-k * float(DT) / float(p["tau_post1"])) for k in (49, 50))
    pot = (
        float(p["nu_post"])
        * np.exp(-50 * float(DT) / float(p["tau_pre"]))
        * np.exp(-100 * float(DT) / float(p["tau_post2"]))
    )
    assert w == pytest.approx(0.5 - dep + pot, rel=1e-12)


def test_network_neurons_set_their_postsynaptic_traces_at_each_spike(stdp):
    """The excitatory neurons carry the file's postsynaptic traces (`neuron_group`'s
    extensions): each spike sets them to 1, and they decay in between (the pairings above
    drive the traces with groups of their own)."""
    backends.activate(backends.Backend("runtime"), "post_traces", dt=DT)
    exc = load_neuron(EQUATIONS / "dc_exc.yaml")
    g = neuron_group(exc, 1, "exc", np.random.default_rng(0), extensions=[(stdp, stdp.post_neuron)])
    g.v = -65 * mV
    g.run_regularly("ge = 50.0", when="before_groups")  # a spike every refractory period
    mon = StateMonitor(g, ["xpost1", "xpost2"], record=0, when="after_resets")
    sm = SpikeMonitor(g)
    Network(g, mon, sm).run(10 * ms)
    spiked = np.zeros(len(mon.t), dtype=bool)
    spiked[np.round(np.asarray(sm.t) / float(DT)).astype(int)] = True
    assert spiked.sum() >= 2
    first = np.flatnonzero(spiked)[0]
    for x in (np.asarray(mon.xpost1[0]), np.asarray(mon.xpost2[0])):
        assert np.all(x[:first] == 0) and np.all(x[spiked] == 1)
        assert np.all((x[first:][~spiked[first:]] > 0) & (x[first:][~spiked[first:]] < 1))


def test_delayed_spike_depresses_and_transmits_on_arrival(stdp):
    """With a 3 ms delay, a presynaptic spike at 10 ms arrives at 13 ms: after a postsynaptic
    spike at 12 ms, which it therefore depresses by xpost1(1 ms), and its weight reaches ge
    then. (Without the delay the pre spike would come first and change nothing.)"""
    p = stdp.parameters
    w, ge = _pair(stdp, pre_steps=[100], post_steps=[120], delay_steps=30)
    expected = 0.5 - float(p["nu_pre"]) * np.exp(-10 * float(DT) / float(p["tau_post1"]))
    assert w == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert ge == pytest.approx(0.5)  # transmitted (ge decays only in the real neuron models)
    w, _ = _pair(stdp, pre_steps=[100], post_steps=[120], delay_steps=0)
    assert w == 0.5


def test_i_and_j_in_delays_and_initial_values_are_the_neurons(stdp, tmp_path):
    """In a synapse file, ``i``/``j`` are the presynaptic/postsynaptic neuron (and N_incoming
    the synapses onto j), as in Brian2 -- not the synapse's index (``j`` was undefined)."""
    from bioclf.equations import load_synapse

    text = stdp.path.read_text()
    text = text.replace("delay: rand()*delay_max", "delay: (i + 10*j)*0.1*ms")
    text = text.replace("w: w_init*(0.01 + rand())", "w: 0.001*N_incoming + 0.01*N_outgoing")
    path = tmp_path / "stdp.yaml"
    path.write_text(text)
    syn = load_synapse(path)
    backends.activate(backends.Backend("runtime"), "indices", dt=DT)
    ns = syn.namespace()
    pre = NeuronGroup(3, syn.pre_neuron.equations, threshold="False", namespace=ns, name="pre")
    post_eqs = syn.post_neuron.equations + "\nge : 1\nplastic : 1 (shared, constant)"
    post = NeuronGroup(2, post_eqs, threshold="False", namespace=ns, name="post")
    s = synapses(syn, pre, post, "syn", np.random.default_rng(0))
    i, j = np.asarray(s.i[:]), np.asarray(s.j[:])
    assert len(i) == 6
    np.testing.assert_allclose(np.asarray(s.delay[:]), (i + 10 * j) * 0.1e-3, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(s.w[:]), 0.001 * 3 + 0.01 * 2)  # 3 in, 2 out


def test_connect_condition_may_use_the_group_sizes(stdp, tmp_path):
    """N_pre/N_post, which the validation accepts in a connect condition, are the group sizes
    (they raised a NameError)."""
    from bioclf.brian.groups import connect_indices
    from bioclf.equations import load_synapse

    path = tmp_path / "stdp.yaml"
    text = stdp.path.read_text().replace("connect: true", "connect: j == (i + N_pre) % N_post")
    path.write_text(text)
    i, j = connect_indices(load_synapse(path), 5, 2)
    np.testing.assert_array_equal(i, np.arange(5))
    np.testing.assert_array_equal(j, (np.arange(5) + 5) % 2)


@pytest.mark.parametrize(
    "condition, by_brian2",
    [
        ("i != j", True),
        ("j == (i + N_pre) % N_post", True),
        ("not (i - 3) // 2 >= j or i == 0", True),
        ("i != j and rand() < 0.5", False),
        # Brian2 computes these otherwise than numpy (on runtime, or on cpp and cuda):
        ("i / 10.0 == 0.3 * (j + 1)", False),  # 0.1 * i there
        ("(i * 1000000 * 1000000 + j) % 3 == 0", False),  # int32 on cpp
        ("N > 10", False),  # N: the pairs in numpy, the synapses there
        pytest.param(  # by zero (numpy warns and gives 0)
            "i % (j - 1) == 0", False, marks=pytest.mark.filterwarnings("ignore:divide by zero")
        ),
        ("i < 0 and rand() < 0.5", False),  # no synapses (as arrays: a ValueError)
    ],
)
def test_synapses_without_values_to_draw_are_connected_by_brian2(condition, by_brian2, tmp_path):
    """A synapse without delays or initial values (the inhibition) is connected by Brian2, in
    the generated program on cpp and cuda: as index arrays, the 41 million of N=6400 cost GBs
    in Python. The synapses are the ones, in the order, of `connect_indices`. A condition with
    random numbers, or one Brian2 would compute otherwise (floating point, products, N),
    still takes numpy's; where it keeps no pair, there are no synapses."""
    from bioclf.brian import groups

    path = tmp_path / "inh_exc.yaml"
    text = (EQUATIONS / "dc_inh_exc.yaml").read_text()
    path.write_text(text.replace("connect: i != j", f"connect: {condition}"))
    syn = load_synapse(path)
    backends.activate(backends.Backend("runtime"), "connect", dt=DT)
    calls = []
    real = groups.connect_indices

    def recorded(*args):
        calls.append(args)
        return real(*args)

    pre = NeuronGroup(5, "v : 1", threshold="False", name="pre")
    post = NeuronGroup(3, "gi : 1", name="post")
    orig, groups.connect_indices = groups.connect_indices, recorded
    try:
        s = groups.synapses(syn, pre, post, "s", np.random.default_rng(0))
    finally:
        groups.connect_indices = orig
    assert bool(calls) != by_brian2
    i, j = real(syn, 5, 3)
    np.testing.assert_array_equal(np.asarray(s.i[:]), i)
    np.testing.assert_array_equal(np.asarray(s.j[:]), j)


def test_connect_condition_and_synaptic_values_are_not_int32_arithmetic(stdp, tmp_path):
    """The indices are kept as int32, but a condition or initial value computed from them in
    numpy is not wrapped around at 2**31: ``i * 10**12`` is what Python (and Brian2's runtime
    backend) computes, as when the indices were int64."""
    from bioclf.brian.groups import connect_indices, synapse_initial_values

    path = tmp_path / "stdp.yaml"
    big = "(i * 1000000 * 1000000 + j) % 3"  # 10**12 % 3 == 1: (i + j) % 3
    text = stdp.path.read_text().replace("connect: true", f"connect: {big} == 0 and rand() < 2")
    path.write_text(text.replace("w_init*(0.01 + rand())", f"w_init*({big})"))
    syn = load_synapse(path)
    i, j = connect_indices(syn, 7, 5)
    pairs = [(a, b) for a in range(7) for b in range(5) if (a + b) % 3 == 0]
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == pairs
    all_i, all_j = np.repeat(np.arange(7), 5), np.tile(np.arange(5), 7)
    w = synapse_initial_values(
        syn, (all_i.astype(np.int32), all_j.astype(np.int32)), (7, 5), np.random.default_rng(0)
    )
    np.testing.assert_allclose(w["w"], 0.3 * ((all_i + all_j) % 3))


def test_a_condition_brian2_is_not_given_is_told_apart_without_error():
    """Conditions outside what Brian2 computes as numpy does are told apart (False), an
    operand of % that is no number included (it raised a TypeError comparing it with 0)."""
    from bioclf.brian.groups import _exact_condition

    assert _exact_condition("j == (i + N_pre) % N_post") and _exact_condition("i // 2 != j")
    for condition in ['i % "a" == 0', "i % 2.5 == 0", "i % -3 == 0", "i % True == 0", "i +"]:
        assert not _exact_condition(condition), condition


def test_each_trace_decays_with_its_own_time_constant(tmp_path):
    """The shipped file has tau_pre = tau_post1 (20 ms), where a rule reading one trace's
    constant for the other would pass the pairings above: with three distinct constants, the
    depression decays with tau_post1 alone and the potentiation with tau_pre and tau_post2."""
    path = tmp_path / "distinct.yaml"
    path.write_text(
        f"extends: {EQUATIONS / 'dc_stdp.yaml'}\n"
        "parameters:\n  tau_pre: 7*ms\n  tau_post1: 13*ms\n  tau_post2: 29*ms\n"
    )
    stdp = load_synapse(path)
    nu_pre, nu_post = float(stdp.parameters["nu_pre"]), float(stdp.parameters["nu_post"])
    w, _ = _pair(stdp, pre_steps=[150], post_steps=[100])
    dep = nu_pre * np.exp(-50 * float(DT) / 13e-3)
    assert w == pytest.approx(0.5 - dep, rel=1e-12, abs=1e-15)
    w, _ = _pair(stdp, pre_steps=[150], post_steps=[100, 200])
    pot = nu_post * np.exp(-50 * float(DT) / 7e-3) * np.exp(-100 * float(DT) / 29e-3)
    assert w == pytest.approx(0.5 - dep + pot, rel=1e-12)
