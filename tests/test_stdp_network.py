"""The in-network protocol: normalisation, repeat rule, backend parity, learning, resume."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from brian2 import Hz, SpikeMonitor, ms, second
from conftest import DC_MODELS, EQUATIONS, ROOT, ctrl_c, program_running, sigint_default

from bioclf.brian import backends, cpp_patches
from bioclf.data import images_as_float, load_split
from bioclf.encoding import hashrng, skip_spikes, stream_keys
from bioclf.errors import ConfigError, EquationFileError, ResultFileError
from bioclf.stdp import labels as labelling
from bioclf.stdp import network
from bioclf.stdp.protocol import Models, Protocol
from bioclf.stdp.run import Pass, finished, run_passes
from bioclf.stdp.simulate import Simulator

# A shortened presentation keeps the runtime (numpy) backend fast enough for tests.
SHORT = Protocol(present=40 * ms, rest=20 * ms, max_intensity=4)


@pytest.fixture(scope="module")
def models():
    return Models.load(DC_MODELS)


@pytest.fixture(scope="module")
def mnist():
    ds = load_split(ROOT / "data" / "mnist", "train")
    return images_as_float(ds)[:2000], np.asarray(ds.labels[:2000])


def _key(epoch=0):
    return hashrng.key(0, 1, epoch)


def test_normalisation_sets_every_column_to_total(models):
    """With no input (no learning), a chunk leaves each column summing to w_total exactly."""
    sim = Simulator(models, SHORT, 6, 2, 0, backends.Backend("runtime"), "norm")
    state = sim.initial_state
    w0 = state["s_in.w"].reshape(784, 6)
    assert not np.allclose(w0.sum(0), 78)
    new, _ = sim.run_chunk(state, np.zeros((2, 784)), 0, _key(), plastic=True)
    w = new["s_in.w"].reshape(784, 6)
    np.testing.assert_allclose(w.sum(0), 78.0, rtol=1e-12)
    np.testing.assert_allclose(w, w0 * 78.0 / w0.sum(0), rtol=1e-12)  # a pure rescaling
    np.testing.assert_allclose(new["exc.w_colsum"], w.sum(0), rtol=1e-12)


# Model files whose state at a chunk's end is more than the values of their variables.
CHUNKED = {
    # Per-synapse event-driven traces are brought up to date only at their next event, from
    # the time of their last update (Brian2's lastupdate): neither was carried, and a trace
    # left out started the next chunk at its initial value (0; 0.5 here, which shows that
    # the file's initial values reach the first chunk).
    "input_exc": (
        "dc_stdp_synaptic_traces.yaml",
        "initial:\n  w: w_init*(0.01 + rand())\n  xpre: 0.5\n",
    ),
    # A drive that reads t: a runtime network went on from the time its last run ended, a
    # standalone program (each chunk) from t = 0.
    "exc": (
        "dc_exc.yaml",
        "equations: |\n"
        "  dv/dt = ((v_rest - v) + ge*(E_exc - v) + gi*(E_inh - v))/tau_m"
        " + 0.1*mV/ms*sin(2*pi*t/(37*ms)) : volt (unless refractory)\n"
        "  dge/dt = -ge/tau_ge : 1\n  dgi/dt = -gi/tau_gi : 1\n"
        "  dtheta/dt = -plastic*theta/tau_theta : volt\n",
    ),
}


@pytest.mark.parametrize("role", sorted(CHUNKED))
def test_a_new_simulator_goes_on_from_a_state_as_the_same_one(mnist, tmp_path, role):
    """A new runtime simulator given the state a chunk left (a resumed run; the same as a
    standalone program, which starts each chunk afresh at t = 0) goes on as the simulator
    that ran the chunk does, for model files that read time or have event-driven
    synaptic variables (`CHUNKED`)."""
    base, extra = CHUNKED[role]
    path = tmp_path / base
    path.write_text(f"extends: {EQUATIONS / base}\n{extra}")
    models = Models.load({**DC_MODELS, role: path})
    x, _ = mnist
    sim = Simulator(models, SHORT, 4, 2, 0, backends.Backend("runtime"), "chunked")
    s1, res = sim.run_chunk(sim.initial_state, x[:2], 0, _key(), plastic=True)
    assert res.counts.sum() > 0
    if role == "input_exc":
        assert np.all(sim.initial_state["s_in.xpre"] == 0.5)
        # relative to the chunk's end: updated during it, none after it
        assert -s1["s_in.lastupdate"].max() < float(SHORT.rest) < -s1["s_in.lastupdate"].min()
    s2, r2 = sim.run_chunk(s1, x[2:4], 2, _key(), plastic=True)
    resumed = Simulator(models, SHORT, 4, 2, 0, backends.Backend("runtime"), "chunked")
    s2_new, r2_new = resumed.run_chunk(s1, x[2:4], 2, _key(), plastic=True)
    np.testing.assert_array_equal(r2_new.counts, r2.counts)
    assert set(s2_new) == set(s2)
    for key in s2:
        np.testing.assert_allclose(s2_new[key], s2[key], rtol=1e-12, atol=1e-15, err_msg=key)


def test_trained_state_is_normalised_before_frozen_use(models, mnist):
    """A plastic chunk ends with its last presentation's changes unnormalised; the trained
    state (what labelling and testing use) is rescaled to w_total, as the next presentation
    would see it, and nothing else changes."""
    x, _ = mnist
    sim = Simulator(models, SHORT, 4, 2, 0, backends.Backend("runtime"), "normend")
    trained, res = sim.run_chunk(sim.initial_state, x[:2], 0, _key(), plastic=True)
    assert res.counts.sum() > 0 and res.counts.dtype == np.uint16  # (not int64: 4x the bytes)
    w = trained["s_in.w"].reshape(784, 4)
    assert np.abs(w.sum(0) - 78.0).max() > 1e-3  # learning after the last normalisation
    # The running column sums that normalisation divides by follow every STDP update.
    np.testing.assert_allclose(trained["exc.w_colsum"], w.sum(0), rtol=1e-12)
    done = network.normalised(models, trained, 4)
    wn = done["s_in.w"].reshape(784, 4)
    np.testing.assert_allclose(wn.sum(0), 78.0, rtol=1e-12)
    np.testing.assert_allclose(wn, w * 78.0 / w.sum(0), rtol=1e-12)
    np.testing.assert_allclose(done["exc.w_colsum"], 78.0)
    for key in set(trained) - {"s_in.w", "exc.w_colsum"}:
        np.testing.assert_array_equal(done[key], trained[key], err_msg=key)
    # A frozen run then sees the normalised weights, the same as a plastic run would.
    frozen, _ = sim.run_chunk(done, x[2:3], 0, _key(), plastic=False)
    np.testing.assert_array_equal(frozen["s_in.w"], done["s_in.w"])


def test_frozen_run_changes_neither_weights_nor_theta(models, mnist):
    """plastic = 0 reaches the network: a frozen chunk that spikes leaves weights and theta as
    they were, while the same chunk trained changes both."""
    x, _ = mnist
    sim = Simulator(models, SHORT, 4, 2, 0, backends.Backend("runtime"), "frozen")
    state = sim.initial_state
    frozen, res = sim.run_chunk(state, x[:2], 0, _key(), plastic=False)
    assert res.counts.sum() > 0
    for key in ("s_in.w", "exc.theta", "exc.w_colsum"):
        np.testing.assert_array_equal(frozen[key], state[key], err_msg=key)
    trained, _ = sim.run_chunk(state, x[:2], 0, _key(), plastic=True)
    assert not np.array_equal(trained["s_in.w"], state["s_in.w"])
    assert not np.array_equal(trained["exc.theta"], state["exc.theta"])


def test_input_synapses_created_sorted_by_delay(models):
    """Synapses are created by input, delay step, target; states stay in input-major order."""
    n = 6
    sim = Simulator(models, SHORT, n, 2, 0, backends.Backend("runtime"), "order")
    s_in, order = sim.net.s_in, sim.net.s_in_order
    i, j = np.asarray(s_in.i[:]), np.asarray(s_in.j[:])
    steps = np.rint(np.asarray(s_in.delay[:]) / float(SHORT.dt))
    assert len(np.unique(steps)) > 10  # delays 0-10 ms at 0.5 ms
    assert np.all(np.diff(i * 10**6 + steps * 10**3 + j) > 0)
    np.testing.assert_array_equal(i, order // n)
    np.testing.assert_array_equal(j, order % n)
    w = sim.initial_state["s_in.w"]
    np.testing.assert_array_equal(np.asarray(s_in.w[:]), sim.net.to_network("s_in.w", w))
    np.testing.assert_array_equal(sim.net.from_network("s_in.w", np.asarray(s_in.w[:])), w)


def test_checkpoint_of_another_run_is_set_aside(models, mnist, tmp_path, capsys):
    """A finished run rerun resumes nothing; after an equation edit it trains anew."""
    images, labels = mnist[0][:4], mnist[1][:4]
    passes = [Pass("train", 0, images, labels, plastic=True)]
    ckpt = tmp_path / "checkpoint.npz"
    sim = Simulator(models, SHORT, 4, 2, 0, backends.Backend("runtime"), "ckpt")
    state, (rec,) = run_passes(sim, passes, 0, ckpt, sim.initial_state, "first")
    again, (rec_again,) = run_passes(sim, passes, 0, ckpt, sim.initial_state, "again")
    np.testing.assert_array_equal(again["s_in.w"], state["s_in.w"])
    assert rec_again["wall_time_s"] == rec["wall_time_s"] > 0
    assert f"[again] resuming from {ckpt}: every pass done\n" in capsys.readouterr().err
    # The STDP file now says nu_post is 8 times larger.
    syn = models.input_exc
    faster = {**syn.parameters, "nu_post": syn.parameters["nu_post"] * 8}
    edited = dataclasses.replace(models, input_exc=dataclasses.replace(syn, parameters=faster))
    sim = Simulator(edited, SHORT, 4, 2, 0, backends.Backend("runtime"), "ckpt")
    new, _ = run_passes(sim, passes, 0, ckpt, sim.initial_state, "edited")
    assert (tmp_path / "checkpoint.stale.npz").exists()
    assert "(changed: stdp.models.input_exc)" in capsys.readouterr().err
    assert not np.array_equal(new["s_in.w"], state["s_in.w"])
    fresh, _ = run_passes(sim, passes, 0, tmp_path / "fresh.npz", sim.initial_state, "fresh")
    np.testing.assert_array_equal(new["s_in.w"], fresh["s_in.w"])
    # The same files simulated by other code (`network.VERSION`) are another run as well.
    sim.definition["stdp network code version"] = "1"
    run_passes(sim, passes, 0, ckpt, sim.initial_state, "older code")
    assert (tmp_path / "checkpoint.stale2.npz").exists()
    assert "(changed: stdp network code version)" in capsys.readouterr().err
    # A damaged checkpoint is set aside (kept) and the run starts over.
    ckpt.write_bytes(ckpt.read_bytes()[:300])
    damaged, _ = run_passes(sim, passes, 0, ckpt, sim.initial_state, "damaged")
    assert (tmp_path / "checkpoint.stale3.npz").stat().st_size == 300
    assert "cannot be read" in capsys.readouterr().err
    np.testing.assert_array_equal(damaged["s_in.w"], new["s_in.w"])


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update({"state/s_in.w": d["state/s_in.w"][:100]}),  # (reshape ValueError)
        lambda d: d.update(costs=np.str_("{not json")),  # (JSONDecodeError)
        lambda d: d.pop("state/inh.v"),  # (a variable missing: KeyError where it is used)
    ],
    ids=["weights cut short", "costs not JSON", "a variable missing"],
)
def test_a_damaged_checkpoint_of_the_run_is_set_aside(models, mnist, tmp_path, capsys, damage):
    """A readable checkpoint of this very run whose arrays cannot be its network's (edited, or
    damaged inside): moved aside, the run starts over and ends as a fresh one. Before: a
    traceback, when resumed or when read as finished (`run.finished`)."""
    images, labels = mnist[0][:2], mnist[1][:2]
    passes = [Pass("train", 0, images, labels, plastic=True)]
    ckpt = tmp_path / "checkpoint.npz"
    sim = Simulator(models, SHORT, 4, 2, 0, backends.Backend("runtime"), "damaged")
    state, (rec,) = run_passes(sim, passes, 0, ckpt, sim.initial_state, "first")
    with np.load(ckpt) as saved:
        arrays = dict(saved)
    damage(arrays)
    np.savez(ckpt, **arrays)
    assert finished(ckpt, sim.definition, sim.initial_state, passes, 4) is None
    again, (rec_again,) = run_passes(sim, passes, 0, ckpt, sim.initial_state, "again")
    assert "does not fit this run's network" in capsys.readouterr().err
    assert (tmp_path / "checkpoint.stale.npz").exists()
    np.testing.assert_array_equal(again["s_in.w"], state["s_in.w"])
    np.testing.assert_array_equal(rec_again["reps"], rec["reps"])


def test_a_finished_run_of_a_sparse_input_connection_is_read_without_building(
    models, mnist, tmp_path
):
    """The input connection need not join every pixel to every neuron (``connect:`` a
    condition): its finished checkpoint is read as finished, not taken for a damaged one (its
    weights fewer than 784 x N), which built the network again to find it complete."""
    path = tmp_path / "sparse_stdp.yaml"
    path.write_text(f"extends: {DC_MODELS['input_exc']}\nconnect: i % 2 == 0\n")
    sparse = Models.load({**DC_MODELS, "input_exc": path})
    images, labels = mnist[0][:2], mnist[1][:2]
    passes = [Pass("train", 0, images, labels, plastic=True)]
    ckpt = tmp_path / "checkpoint.npz"
    sim = Simulator(sparse, SHORT, 4, 2, 0, backends.Backend("runtime"), "sparse")
    state, _ = run_passes(sim, passes, 0, ckpt, sim.initial_state, "sparse")
    assert len(state["s_in.w"]) == 392 * 4
    for start in (None, sim.initial_state):
        done = finished(ckpt, sim.definition, start, passes, 4)
        assert done is not None
        np.testing.assert_array_equal(done[0]["s_in.w"], state["s_in.w"])


def test_checkpoint_past_the_end_of_a_shorter_run_is_set_aside(models, mnist, tmp_path, capsys):
    """Rerun with fewer epochs, a checkpoint of two would hand back the two-epoch network as
    the one-epoch result: it is set aside, and the run equals a fresh one-epoch run; a
    checkpoint of one epoch is still extended to two."""
    images, labels = mnist[0][:2], mnist[1][:2]
    sim = Simulator(models, SHORT, 4, 2, 0, backends.Backend("runtime"), "shorter")
    passes = [Pass("train", e, images, labels, plastic=True) for e in range(2)]
    ckpt = tmp_path / "checkpoint.npz"
    two, _ = run_passes(sim, passes, 0, ckpt, sim.initial_state, "two")
    one, _ = run_passes(sim, passes[:1], 0, ckpt, sim.initial_state, "one")
    assert "(changed: passes)" in capsys.readouterr().err
    fresh, _ = run_passes(sim, passes[:1], 0, tmp_path / "fresh.npz", sim.initial_state, "fresh")
    np.testing.assert_array_equal(one["s_in.w"], fresh["s_in.w"])
    assert not np.array_equal(one["s_in.w"], two["s_in.w"])
    extended, _ = run_passes(sim, passes, 0, ckpt, sim.initial_state, "extended")
    assert "resuming" in capsys.readouterr().err
    np.testing.assert_array_equal(extended["s_in.w"], two["s_in.w"])


def test_progress_lines_estimate_the_time_left_from_the_resumption(
    models, mnist, tmp_path, capsys, monkeypatch
):
    """Each chunk's line ends with the time elapsed and left; the estimate counts the samples
    of every pass, and a resumed run measures its rate from where it resumed (the samples done
    before are not counted as done in this run's time)."""
    from bioclf import tasks
    from bioclf.stdp import run

    images, labels = mnist[0][:2], mnist[1][:2]
    sim = Simulator(models, SHORT, 4, 2, 0, backends.Backend("runtime"), "progress")
    passes = [Pass("train", e, images, labels, plastic=True) for e in range(2)]
    ckpt = tmp_path / "checkpoint.npz"
    run_passes(sim, passes[:1], 0, ckpt, sim.initial_state, "one")
    line = r"\[one\] train pass 1/1: 2/2 samples, .* repeats, \d+:\d\d elapsed, 0:00 left\n"
    assert re.search(line, capsys.readouterr().err)
    made = []

    class Recorded(tasks.Progress):
        def __init__(self, total, done=0):
            made.append((total, done))
            super().__init__(total, done)

        def rebase(self, done):
            made.append(("rebase", done))
            super().rebase(done)

    monkeypatch.setattr(run.tasks, "Progress", Recorded)
    run_passes(sim, passes, 0, ckpt, sim.initial_state, "extended")
    assert made == [(2 + 2, 0), ("rebase", 2)]  # the rate measured from the resumption
    err = capsys.readouterr().err
    assert re.search(r"\[extended\] train pass 2/2: 2/2 samples, .* elapsed, \d+:\d\d left", err)
    # where it resumed, counted as the progress lines count (it said "pass 1, sample 0": passes
    # from 0, beside lines that count them from 1)
    assert f"[extended] resuming from {ckpt}: train pass 2/2, 0/2 samples done\n" in err, err


def test_training_keeps_a_window_of_counts(models, mnist, tmp_path, monkeypatch):
    """A training pass keeps the counts of its last RUNNING_WINDOW samples only, and its
    running estimate and result are those of a pass that keeps every sample's. Shown on a run
    interrupted mid-pass with every sample's counts kept (as older code did), resumed into a
    window: the window is cut from the checkpoint, then kept; and on one whose window was
    written as int64 (as code before 2026-12-06 did): read as the uint16 it is kept as."""
    from bioclf.stdp import run

    monkeypatch.setattr(run, "RUNNING_WINDOW", 4)
    monkeypatch.setattr(run, "FIRST_ESTIMATE", 2)
    images, labels = mnist[0][:6], mnist[1][:6]
    sim = Simulator(models, SHORT, 4, 3, 0, backends.Backend("runtime"), "window")

    def train(keep, name):
        passes = [Pass("train", e, images, labels, True, keep_counts=keep) for e in range(2)]
        return run_passes(sim, passes, 0, tmp_path / name, sim.initial_state, name)

    state, full = train(True, "full.npz")
    assert len(full[0]["trace"]) >= 2 and full[1]["counts"][-4:].sum() > 0

    real = sim.run_chunk

    killed = []  # the checkpoint of the run to kill

    def killed_late_in_the_second_pass(*args, **kwargs):
        if (tmp_path / killed[-1]).exists():
            with np.load(tmp_path / killed[-1]) as saved:
                if int(saved["pass_index"]) == 1 and int(saved["position"]) >= 3:
                    raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sim, "run_chunk", killed_late_in_the_second_pass)
    for keep, name in ((True, "old.npz"), (False, "int64.npz")):
        killed.append(name)
        with pytest.raises(KeyboardInterrupt):
            train(keep, name)
    with np.load(tmp_path / "old.npz") as saved:
        assert saved["rec1/counts"].shape == (6, 4)
    with np.load(tmp_path / "int64.npz") as saved:
        arrays = {key: saved[key] for key in saved.files}
    assert arrays["rec1/window"].dtype == np.uint16 and arrays["rec1/window"].any()
    arrays["rec1/window"] = arrays["rec1/window"].astype(np.int64)
    np.savez(tmp_path / "int64.npz", **arrays)
    monkeypatch.setattr(sim, "run_chunk", real)
    for name in ("old.npz", "int64.npz"):
        r_state, resumed = train(False, name)
        np.testing.assert_array_equal(resumed[1]["trace"], full[1]["trace"])
        np.testing.assert_array_equal(resumed[1]["window"], full[1]["counts"][-4:])
        assert resumed[1]["window"].dtype == np.uint16, name
        assert resumed[0]["window"].shape == (0, 4)  # a pass followed by another keeps none
        np.testing.assert_array_equal(r_state["s_in.w"], state["s_in.w"])
        with np.load(tmp_path / name) as saved:
            assert not [key for key in saved.files if key.endswith("/counts")]
            assert saved["rec1/window"].shape == (4, 4)
            assert saved["rec1/window"].dtype == np.uint16, name
    # uninterrupted: the same; a finished pass's empty window holds no buffer of its own
    w_state, windowed = train(False, "windowed.npz")
    np.testing.assert_array_equal(windowed[1]["trace"], full[1]["trace"])
    np.testing.assert_array_equal(windowed[1]["window"], full[1]["counts"][-4:])
    assert windowed[0]["window"].shape == (0, 4) and windowed[0]["window"].base is None
    np.testing.assert_array_equal(w_state["s_in.w"], state["s_in.w"])


def test_counts_window_is_the_last_rows_appended(monkeypatch):
    """`run._Window` holds what concatenating and keeping the last rows gives, as uint16, for
    chunks smaller and larger than it, and refuses counts of a wider type (which would wrap)."""
    from bioclf.stdp import run

    rng = np.random.default_rng(0)
    for capacity in (1, 3, 7):
        start = rng.integers(0, 700, (min(2, capacity), 5)).astype(np.uint16)
        window, expected = run._Window(start, capacity), start
        for m in (0, 1, 2, 5, 9, 3, 3):
            counts = rng.integers(0, 700, (m, 5)).astype(np.uint16)
            window.append(counts)
            expected = np.concatenate([expected, counts])[-capacity:]
            np.testing.assert_array_equal(window.rows, expected)
            assert window.rows.dtype == np.uint16
    with pytest.raises(TypeError, match="safe"):
        window.append(np.ones((1, 5), dtype=np.int64))


def test_checkpoint_window_outside_the_counts_range_refused(tmp_path):
    """A checkpoint's int64 window is read as uint16 where its values fit, refused naming the
    file and array where one does not (it would wrap)."""
    from bioclf.stdp import run

    path = tmp_path / "checkpoint.npz"
    for window in ([[0, 3], [700, 1]], [[0, 3], [70000, 1]], [[-1, 0]]):
        np.savez(path, **{"rec0/window": np.array(window, dtype=np.int64)})
        with np.load(path) as saved:
            if np.max(window) < 2**16 and np.min(window) >= 0:
                got = run._saved_window(saved, 0, 0, 2, 1, 2, path)
                assert got.dtype == np.uint16
                np.testing.assert_array_equal(got, window)
                continue
            with pytest.raises(ResultFileError, match=r"checkpoint\.npz: rec0/window: .*65535"):
                run._saved_window(saved, 0, 0, 2, 1, 2, path)


@pytest.mark.parametrize(
    "given, field, words",
    [
        # (the rest was rounded to 300 steps, where the presentation was refused)
        ({"rest": 150.2 * ms}, "rest", "is not a whole number of time steps .dt 0.5 ms"),
        ({"present": 350.2 * ms}, "present", "not a whole number of time steps"),
        ({"present": 0.1 * ms}, "present", "not a whole number of time steps"),
        ({"present": 0 * ms}, "present", "presentation time must be > 0"),
        ({"rest": -1 * ms}, "rest", "must not be negative"),  # (was named 'present')
    ],
)
def test_presentation_and_rest_are_whole_numbers_of_steps(given, field, words):
    with pytest.raises(ConfigError, match=f"stdp.protocol.{field}': .*{words}"):
        Protocol(**given)
    assert Protocol(rest=0 * ms, present=0.5 * ms).slot_steps == 1


def test_presentation_longer_than_a_count_can_hold_refused():
    """A neuron spikes at most once per step, so counts of a presentation fit uint16 when it
    has at most 65,535 steps; a longer one is refused (its counts could wrap)."""
    Protocol(present=65535 * 0.005 * ms, dt=0.005 * ms)
    with pytest.raises(ConfigError, match="stdp.protocol.present.*65536 time steps"):
        Protocol(present=65536 * 0.005 * ms, dt=0.005 * ms)


def _never_stop(monkeypatch):
    """The controller's stop function made a no-op, as on CUDA (whose program cannot end a
    run early), for the next network built."""
    from brian2 import Function

    idle = Function(
        lambda i: np.asarray(i, dtype=float),
        arg_units=[1],
        return_unit=1,
        arg_types=["any"],
        return_type="float",
        stateless=False,
    )
    monkeypatch.setattr(network, "CONTROL", {"bioclf_stop": idle})


def test_snapshot_gives_the_state_at_which_cpp_stops(models, mnist, monkeypatch):
    """CUDA cannot end a run when its samples are done: it idles through the chunk's spare
    slots (v, traces and theta go on decaying, the weights are normalised). Emulated here by a
    stop function that does nothing: the snapshot's state is bit for bit the state of a run that
    stops, chunk after chunk; without it the state differs."""

    x = mnist[0][:4]

    def two_chunks(snapshot, stops):
        if not stops:
            _never_stop(monkeypatch)
        sim = Simulator(models, SHORT, 4, 8, 0, backends.Backend("runtime"), "snap", snapshot)
        monkeypatch.undo()
        state, results = sim.initial_state, []
        for pos in (0, 2):  # 2 samples in chunks of 10 slots: idle slots after them
            state, res = sim.run_chunk(state, x[pos : pos + 2], pos, _key(), True)
            results.append(res)
        return state, results

    stopped, r_stopped = two_chunks(snapshot=False, stops=True)
    snapped, r_snapped = two_chunks(snapshot=True, stops=False)
    idled, _ = two_chunks(snapshot=False, stops=False)
    assert [len(r.samples) for r in r_stopped] == [2, 2]
    for a, b in zip(r_stopped, r_snapped, strict=True):
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.reps, b.reps)
    assert stopped.keys() == snapped.keys()
    for key in stopped:
        np.testing.assert_array_equal(snapped[key], stopped[key], err_msg=key)
    assert not np.array_equal(idled["exc.v"], stopped["exc.v"])


def test_snapshot_when_the_last_sample_ends_in_the_chunks_last_slot(models, mnist, monkeypatch):
    """The snapshot is copied at the start of the slot after the last sample's; where the last
    sample ends in the chunk's last slot there is none, and the state is the run's end (which
    is where C++ stops). Every sample is shown exactly twice here (no presentation reaches
    `min_spikes`, and the second is at `max_intensity`), so 5 samples fill the 10 slots of a
    chunk of 8. The snapshot's state was read all the same before: every variable 0."""

    twice = dataclasses.replace(SHORT, min_spikes=10**6, max_intensity=SHORT.base_intensity + 1)
    x = mnist[0][:5]

    def one_chunk(snapshot, stops):
        if not stops:  # as the CUDA program: the run goes on to its end
            _never_stop(monkeypatch)
        sim = Simulator(models, twice, 4, 8, 0, backends.Backend("runtime"), "snapend", snapshot)
        monkeypatch.undo()
        assert sim.net.slots == 10
        return sim.run_chunk(sim.initial_state, x, 0, _key(), True)

    stopped, r_stopped = one_chunk(snapshot=False, stops=True)
    snapped, r_snapped = one_chunk(snapshot=True, stops=False)
    assert len(r_stopped.samples) == 5 and list(r_stopped.reps) == [1] * 5  # all 10 slots
    np.testing.assert_array_equal(r_snapped.counts, r_stopped.counts)
    assert stopped.keys() == snapped.keys()
    for key in stopped:
        np.testing.assert_array_equal(snapped[key], stopped[key], err_msg=key)


def test_input_spikes_are_those_of_the_numpy_encoder(models, mnist):
    """The in-network input draws exactly the spikes of `bioclf.encoding.skip_spikes`."""
    x, _ = mnist
    sim = Simulator(models, SHORT, 4, 1, 0, backends.Backend("runtime"), "input")
    mon = SpikeMonitor(sim.net.inp, name="input_spikes")
    sim.net.net.add(mon)
    _, res = sim.run_chunk(sim.initial_state, x[3:4], 3, _key(), plastic=True)
    steps = np.rint(np.asarray(mon.t / second) / float(SHORT.dt)).astype(int)
    i = np.asarray(mon.i)
    assert len(res.retried_counts) >= 1  # the second presentation uses its own stream
    for rep in range(2):
        # intensity x fires at x * max_rate at the base intensity, in proportion at a repeat's
        per_intensity = float(SHORT.max_rate) / SHORT.base_intensity
        p = x[3] * per_intensity * (SHORT.base_intensity + rep) * float(SHORT.dt)
        key = int(stream_keys(0, "train", [3], 0, rep)[0])
        expected = skip_spikes(p, key, SHORT.present_steps)
        in_slot = (steps // SHORT.slot_steps) == rep
        got = np.zeros_like(expected)
        got[steps[in_slot] % SHORT.slot_steps, i[in_slot]] = True
        assert expected.sum() > 50
        np.testing.assert_array_equal(got, expected)
    assert res.spikes["inp"] == len(i)
    # chunk totals include the rest periods: at least what the controller counted while shown
    assert res.spikes["exc"] >= res.accepted_counts.sum() + res.retried_counts.sum()


def test_repeat_rule_and_cap(models, mnist):
    """Repeat (intensity + 1) when and only when < min_spikes spikes, and stop at the cap."""
    x, _ = mnist
    sim = Simulator(models, SHORT, 10, 8, 0, backends.Backend("runtime"), "rule")
    state = sim.initial_state
    _, res = sim.run_chunk(state, x[:8], 0, _key(), plastic=True)
    p = SHORT
    assert len(res.retried_counts) > 0  # the short presentation makes repeats common
    assert np.all(res.retried_counts < p.min_spikes)
    assert np.all(res.retried_intensities < p.max_intensity)
    ok = (res.accepted_counts >= p.min_spikes) | (res.intensities >= p.max_intensity)
    assert np.all(ok)
    assert np.all(res.intensities == p.base_intensity + res.reps)
    assert np.all(res.intensities <= p.max_intensity)
    # Accepted spike totals equal the per-neuron counts taken from the spike monitor.
    np.testing.assert_array_equal(res.counts.sum(1), res.accepted_counts)
    # A silent input is shown at every intensity up to the cap, then accepted.
    sim2 = Simulator(models, SHORT, 4, 1, 0, backends.Backend("runtime"), "cap")
    st, first = sim2.run_chunk(sim2.initial_state, np.zeros((1, 784)), 0, _key(), True)
    assert list(first.retried_intensities) == [2.0, 3.0] and len(first.samples) == 0
    _, second = sim2.run_chunk(st, np.zeros((1, 784)), 0, _key(), True)  # carried over
    assert list(second.intensities) == [4.0] and list(second.reps) == [2]
    assert list(second.accepted_counts) == [0.0]


def test_spikes_count_only_while_a_sample_is_shown(models, mnist):
    """Spikes from the step a presentation ends through its rest (driven by delayed input)
    count for no sample, in the controller's count (the repeat rule) as in the per-neuron
    counts; the chunk's totals count every spike of both layers (the cost estimates)."""
    x, _ = mnist
    p = Protocol(present=20 * ms, rest=20 * ms, max_intensity=4, max_rate=500 * Hz)
    sim = Simulator(models, p, 10, 8, 0, backends.Backend("runtime"), "shown")
    exc, inh = SpikeMonitor(sim.net.exc, name="exc_all"), SpikeMonitor(sim.net.inh, name="inh_all")
    sim.net.net.add(exc, inh)
    _, res = sim.run_chunk(sim.initial_state, x[:8], 0, _key(), plastic=True)
    phase = np.rint(np.asarray(exc.t / second) / float(p.dt)).astype(int) % p.slot_steps
    # the cases at stake occur: spikes at the presentation's last step + 1 and in the rest
    assert (phase == p.present_steps).any() and (phase > p.present_steps).any()
    np.testing.assert_array_equal(res.counts.sum(1), res.accepted_counts)
    assert res.accepted_counts.sum() + res.retried_counts.sum() == (phase < p.present_steps).sum()
    assert res.spikes["exc"] == exc.num_spikes and res.spikes["inh"] == inh.num_spikes > 0


def test_a_presentation_of_exactly_min_spikes_is_accepted(models, mnist):
    """The repeat rule's boundary: as many spikes as min_spikes is enough."""
    x, _ = mnist

    def first_presentation(protocol, project):
        sim = Simulator(models, protocol, 10, 1, 0, backends.Backend("runtime"), project)
        _, res = sim.run_chunk(sim.initial_state, x[:1], 0, _key(), plastic=True)
        counts = [*res.retried_counts, *res.accepted_counts]  # the first presentation first
        return counts[0], res

    bright = Protocol(present=20 * ms, rest=20 * ms, max_intensity=4, max_rate=500 * Hz)
    count, _ = first_presentation(bright, "min_spikes")
    assert count > 0
    # the same first presentation (its spikes do not depend on min_spikes), now at the bound
    again, res = first_presentation(dataclasses.replace(bright, min_spikes=int(count)), "bound")
    assert again == count and list(res.reps) == [0]


def test_conventional_design_repeats_a_silent_sample_up_to_the_cap(models):
    """The baseline of bench/bench_stdp.py (one net.run per presentation from Python) applies
    the network's repeat rule: a sample that draws no spike is shown again at intensity + 1
    until max_intensity, then accepted."""
    from bioclf.stdp.conventional import ConventionalNetwork

    net = ConventionalNetwork(models, SHORT, 4, 0)
    counts, reps = net.present(np.zeros(784))
    assert counts.sum() == 0 and reps == SHORT.max_intensity - SHORT.base_intensity


def test_conventional_design_accepts_a_presentation_of_exactly_min_spikes(models, mnist):
    """The baseline's repeat rule at its boundary, as the network's: as many spikes as
    min_spikes is enough (the same seed draws the same first presentation)."""
    from bioclf.stdp.conventional import ConventionalNetwork

    bright = Protocol(
        present=20 * ms, rest=20 * ms, max_intensity=4, max_rate=500 * Hz, min_spikes=1
    )
    first, reps = ConventionalNetwork(models, bright, 10, 0).present(mnist[0][0])
    count = first.sum()
    assert count > 1 and reps == 0  # the first presentation, accepted (min_spikes 1)
    at_bound = dataclasses.replace(bright, min_spikes=int(count))
    again, reps = ConventionalNetwork(models, at_bound, 10, 0).present(mnist[0][0])
    assert again.sum() == count and reps == 0


# The cpp tests share one compiled project (same N, chunk and protocol as the CLI tests and the
# smoke pipeline use), so the suite compiles the STDP network once.
N_TEST, CHUNK = 20, 200


def cpp_backend(build_root):
    return backends.Backend("cpp", build_dir=build_root / "stdp" / "cpp" / f"n{N_TEST}_seed0")


def _parity_run(models, backend, x):
    sim = Simulator(models, Protocol(), N_TEST, CHUNK, 0, backend, "network")
    state, res = sim.run_chunk(sim.initial_state, x[:2], 0, _key(), plastic=True)
    state, res2 = sim.run_chunk(state, x[2:4], 2, _key(), plastic=True)
    return state, [res, res2]


@pytest.mark.standalone
def test_runtime_and_cpp_agree_given_the_same_input(models, mnist, build_root):
    x, _ = mnist
    s_rt, r_rt = _parity_run(models, backends.Backend("runtime"), x)
    s_cpp, r_cpp = _parity_run(models, cpp_backend(build_root), x)
    # The cpp project runs with bioclf's patches (bioclf.brian.cpp_patches).
    project = cpp_backend(build_root).build_dir / "network"
    assert cpp_patches.QUEUE_MARK in (project / "brianlib" / "spikequeue.h").read_text()
    code = project / "code_objects"
    assert cpp_patches.QUEUE_MARK in (code / "s_in_pre_codeobject.cpp").read_text()
    assert cpp_patches.REFRACTORY_MARK in (code / "exc_stateupdater_codeobject.cpp").read_text()
    for group in ("exc", "inh"):
        assert (
            cpp_patches.THRESHOLD_MARK
            in (code / f"{group}_spike_thresholder_codeobject.cpp").read_text()
        )
    # the input's spikes come from a calendar of their steps
    assert cpp_patches.CALENDAR_MARK in (code / "inp_spike_thresholder_codeobject.cpp").read_text()
    for a, b in zip(r_rt, r_cpp, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.reps, b.reps)
        assert a.spikes == b.spikes
    for key in ("s_in.w", "exc.theta", "exc.v", "inh.v"):
        np.testing.assert_allclose(s_rt[key], s_cpp[key], rtol=1e-9, atol=1e-15)


@pytest.mark.standalone
def test_truncated_run_argument_files_are_not_reused(models, mnist, build_root):
    """A run killed while Brian2 wrote the file of a run argument leaves it truncated under
    its final name (the md5 of its content); the resumed run starts from the same state, so it
    passes the same content, and must not read the truncated file."""
    x, _ = mnist
    backend = cpp_backend(build_root)
    sim = Simulator(models, Protocol(), N_TEST, CHUNK, 0, backend, "network")
    ref_state, ref = sim.run_chunk(sim.initial_state, x[:2], 0, _key(), plastic=True)
    files = sorted((backend.build_dir / "network" / "static_arrays").glob("init_*.dat"))
    assert any("s_in_w" in f.name for f in files)
    sizes = {f: f.stat().st_size for f in files}
    for f in files:  # as a writer killed halfway leaves them, before or after the fix
        f.write_bytes(f.read_bytes()[: sizes[f] // 2])
        f.with_name(f"{f.name}.part").write_bytes(b"half")
    state, res = sim.run_chunk(sim.initial_state, x[:2], 0, _key(), plastic=True)
    # The files of this run (others, of earlier tests, stay as they were) are whole again,
    # and no temporary file of theirs is left.
    rewritten = [f for f in files if f.stat().st_size == sizes[f]]
    assert any("s_in_w" in f.name for f in rewritten)
    assert not [f for f in rewritten if f.with_name(f"{f.name}.part").exists()]
    for key, value in ref_state.items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)
    np.testing.assert_array_equal(ref.counts, res.counts)


@pytest.mark.standalone
def test_small_network_learns_above_chance_cpp(models, mnist, build_root):
    x, y = mnist
    # Something to compile (an earlier test may have built this very project), so that the
    # build's peak memory checked below is a compiler's.
    (cpp_backend(build_root).build_dir / "network" / "main.o").unlink(missing_ok=True)
    sim = Simulator(models, Protocol(), N_TEST, CHUNK, 0, cpp_backend(build_root), "network")
    state, pos = sim.initial_state, 0
    while pos < 600:  # training
        state, res = sim.run_chunk(state, x[pos : pos + 200], pos, _key(), plastic=True)
        pos += len(res.samples)
    trained = state

    def responses(images, split):
        st, out, p = dict(trained), [], 0
        while p < len(images):
            st, r = sim.run_chunk(st, images[p : p + 200], p, hashrng.key(0, split, 0), False)
            out.append(r.counts)
            p += len(r.samples)
        np.testing.assert_array_equal(st["s_in.w"], trained["s_in.w"])  # plastic=0 froze w
        return np.concatenate(out)

    assign = responses(x[:400], 3)
    test = responses(x[1000:1400], 2)  # never used for training or labelling
    assignment = labelling.assign_labels(assign, y[:400])
    acc = np.mean(labelling.predict(test, assignment) == y[1000:1400])
    assert acc > 0.35, acc  # chance is 0.10
    # The compiled program's own peak memory, from the wrapper that ran it: a few MB, far below
    # the Python process that holds the images.
    assert 1000 < sim.runner.program_peak_kb < 200_000, sim.runner.program_peak_kb
    # The build's peak is a compiler's (tens to hundreds of MB), measured the same way.
    assert 10_000 < sim.runner.compile_peak_kb < 2_000_000, sim.runner.compile_peak_kb


def test_bad_network_configuration_refused(models, tmp_path):
    from bioclf.stdp import network

    with pytest.raises(ConfigError, match="n_exc"):
        network.build(models, SHORT, 0, 2, 0, 1)
    with pytest.raises(ConfigError, match="backend"):
        backends.Backend("gpu")
    text = (
        DC_MODELS["exc"]
        .read_text()
        .replace(
            "dtheta/dt = -plastic*theta/tau_theta : volt",
            "dthetax/dt = -plastic*thetax/tau_theta : volt",
        )
    )
    text = text.replace("theta -", "thetax -").replace("theta +=", "thetax +=")
    text = text.replace("theta: theta_init", "thetax: theta_init")
    bad = tmp_path / "exc_no_theta.yaml"
    bad.write_text(text)
    with pytest.raises(EquationFileError, match="needs a variable 'theta' on the excitatory"):
        Models.load({**DC_MODELS, "exc": bad})
    # a variant of that file: the error names the file that holds the equations
    variant = tmp_path / "exc_variant.yaml"
    variant.write_text(f"extends: {bad.name}\nparameters:\n  theta_plus: 0.025*mV\n")
    with pytest.raises(EquationFileError, match=f"{bad}: field 'equations'"):
        Models.load({**DC_MODELS, "exc": variant})


@pytest.mark.parametrize(
    "role, old, new, field, drawn",
    [
        ("input_exc", "  ge_post += w\n", "  ge_post += w*(rand() < 0.8)\n", "on_pre", "rand()"),
        ("exc", "))/tau_m : volt", "))/tau_m + sigma*xi/sqrt(tau_m) : volt", "equations", "xi"),
        ("inh_exc", "gi_post += w_ie", "gi_post += w_ie*randn()", "on_pre", "randn()"),
    ],
)
def test_random_numbers_drawn_while_the_network_runs_are_refused(
    tmp_path, role, old, new, field, drawn
):
    """Brian2's generator is not the seed's: runs would neither repeat nor agree between
    backends. (Initial values and delays may draw: they are drawn from the seed.)"""
    text = DC_MODELS[role].read_text()
    assert old in text
    edited = tmp_path / DC_MODELS[role].name
    edited.write_text(
        text.replace(old, new).replace("parameters:\n", "parameters:\n  sigma: 1*mV\n")
    )
    with pytest.raises(EquationFileError, match=rf"field '{field}': draws {re.escape(drawn)} "):
        Models.load({**DC_MODELS, role: edited})


def _config(tmp_path, build, **stdp):
    cfg = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    cfg["build"] = str(build)
    cfg["stdp"].update(stdp)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train(cfg, out, n_exc=N_TEST, *more):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bioclf.stdp.train",
            "--config",
            str(cfg),
            "--n-exc",
            str(n_exc),
            "--out",
            str(out),
            *more,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so that a kill takes its children too
        preexec_fn=sigint_default,  # (Ctrl-C as from a terminal, however pytest was started)
    )


@pytest.mark.standalone
@pytest.mark.slow
def test_killed_training_resumes_bit_identical(tmp_path, build_root):
    cfg = _config(tmp_path, build_root, n_train=2 * CHUNK, chunk=CHUNK, backend="cpp")
    full = tmp_path / "full"
    proc = _train(cfg, full)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    killed = tmp_path / "killed"
    proc = _train(cfg, killed)
    deadline = time.time() + 600
    while not (killed / "checkpoint.npz").exists():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    # A hard kill, no cleanup, of the Python process alone: the compiled binary of the chunk
    # it was running lives on in the same project directory, and the resumed run's binary must
    # wait for it (the project lock) rather than share its files.
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "weights.npy").exists()
    proc = _train(cfg, killed)
    try:
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "resuming" in err
    np.testing.assert_array_equal(np.load(full / "weights.npy"), np.load(killed / "weights.npy"))
    np.testing.assert_array_equal(np.load(full / "theta.npy"), np.load(killed / "theta.npy"))
    np.testing.assert_allclose(np.load(full / "weights.npy").sum(0), 78.0, rtol=1e-12)
    # Ctrl-C (the whole process group) while the program runs a chunk: an interruption, said
    # so in one line (Brian2's default let the program die and reported a failed run).
    stopped = tmp_path / "ctrl_c"
    proc = _train(cfg, stopped)
    _, err = ctrl_c(
        proc, lambda: (stopped / "checkpoint.npz").exists() and program_running(build_root)
    )
    assert proc.returncode == 130, err
    assert "interrupted; run the same command again to resume" in err and "Traceback" not in err
    proc = _train(cfg, stopped)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    np.testing.assert_array_equal(np.load(full / "weights.npy"), np.load(stopped / "weights.npy"))
    # Running a finished command again changes nothing, its timing figures included, also
    # after its outputs are deleted (as Snakemake's --forceall does before running a job).
    before = json.loads((full / "train_metrics.json").read_text())
    for name in ("train_metrics.json", "weights.npy", "state.npz"):
        (full / name).unlink()
    proc = _train(cfg, full)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    after = json.loads((full / "train_metrics.json").read_text())
    assert after["training_wall_time_s"] == before["training_wall_time_s"] > 0
    assert after["peak_memory"]["program_mb"] == before["peak_memory"]["program_mb"] > 0
    assert after["build_time_s"] == before["build_time_s"]


@pytest.mark.parametrize(
    "role, old, new, named",
    [
        ("exc", "t_ref: 5*ms", "t_ref: 200*ms", "dc_exc.yaml (t_ref = 200. ms)"),
        ("inh", "t_ref: 2*ms", "t_ref: 300*ms", "dc_inh.yaml (t_ref = 300. ms)"),
        (
            "input_exc",
            "delay_max: 10*ms",
            "delay_max: 250*ms",
            "dc_stdp.yaml (delay_max = 250. ms)",
        ),
    ],
)
def test_rest_not_longer_than_a_model_value_names_the_value_and_its_file(
    tmp_path, role, old, new, named
):
    """An edited refractory period or delay is named where it was edited, not only the rest."""
    text = DC_MODELS[role].read_text()
    assert old in text
    edited = tmp_path / DC_MODELS[role].name
    edited.write_text(text.replace(old, new))
    models = Models.load({**DC_MODELS, role: edited})
    with pytest.raises(ConfigError, match="stdp.protocol.rest") as err:
        network.check_protocol(models, Protocol())
    assert "150. ms is not longer than" in str(err.value)
    assert str(tmp_path / named) in str(err.value)
    network.check_protocol(models, Protocol(rest=400 * ms))


def test_input_delays_of_any_bound_are_checked_against_the_rest(tmp_path):
    """A delay of parameters and rand() is bounded before the network is built, whatever its
    parameters are named (before: 'rand()*d_max', 30 ms against a 20 ms rest, passed the dry
    run); one of i or j is checked as drawn, when the network is built."""
    text = DC_MODELS["input_exc"].read_text()
    assert "delay: rand()*delay_max" in text and "delay_max: 10*ms" in text
    edited = tmp_path / "dc_stdp.yaml"
    text = text.replace("delay_max: 10*ms", "d_max: 30*ms")
    edited.write_text(text.replace("rand()*delay_max", "rand()*d_max"))
    models = Models.load({**DC_MODELS, "input_exc": edited})
    with pytest.raises(ConfigError, match="stdp.protocol.rest") as err:
        network.check_protocol(models, SHORT)
    assert f"not longer than the input delays of {edited} (d_max = 30. ms)" in str(err.value)

    edited.write_text(text.replace("rand()*delay_max", "0.5*d_max + rand()*d_max"))
    models = Models.load({**DC_MODELS, "input_exc": edited})
    with pytest.raises(ConfigError, match="up to 45 ms"):
        network.check_protocol(models, SHORT)

    edited.write_text(text.replace("rand()*delay_max", "i*d_max/783"))
    models = Models.load({**DC_MODELS, "input_exc": edited})
    network.check_protocol(models, SHORT)  # (i: not bounded before the build)
    backends.activate(backends.Backend("runtime"), "delays")
    with pytest.raises(ConfigError, match="stdp.protocol.rest") as err:
        network.build(models, SHORT, 2, 1, 0, 1)
    assert f"not longer than the input delays of {edited} (up to 30 ms" in str(err.value)


def test_cli_refuses_bad_values_with_exit_2(tmp_path):
    cfg = _config(tmp_path, tmp_path / "build")
    proc = _train(cfg, tmp_path / "o", n_exc=0)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "--n-exc: must be a positive integer" in err
    proc = _train(cfg, tmp_path / "o", N_TEST, "--n-train", "60001")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "field 'stdp.n_train or --n-train': asks for 60001 train samples" in err
    bad = yaml.safe_load(cfg.read_text())
    bad["stdp"]["backend"] = "tpu"
    cfg.write_text(yaml.safe_dump(bad))
    proc = _train(cfg, tmp_path / "o")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "stdp.backend" in err
    assert not (tmp_path / "o" / "weights.npy").exists()


def test_continuing_from_what_is_no_such_training_names_it_a_result_not_the_configuration(
    tmp_path,
):
    """--continue-from a folder without a finished training, or one of another size, was
    reported as a field of a "configuration" (the folder, train_metrics.json)."""
    from bioclf.stdp import training

    with pytest.raises(ResultFileError, match="--continue-from: no finished training") as err:
        training._earlier_epochs(tmp_path, 20, 0)
    assert not isinstance(err.value, ConfigError) and err.value.path == str(tmp_path)
    (tmp_path / "state.npz").write_bytes(b"")
    metrics = {"n_exc": 100, "seed": 0, "epochs": 1}
    (tmp_path / "train_metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(
        ResultFileError, match="n_exc: the earlier training .* has 100, this one 20"
    ):
        training._earlier_epochs(tmp_path, 20, 0)
    assert training._earlier_epochs(tmp_path, 100, 0) == 1


@pytest.mark.standalone
def test_training_continued_from_a_trained_network(tmp_path, build_root):
    """--continue-from starts from the trained state and counts the epochs on: one epoch, then
    one more continued, learns what two epochs in one run learn (the exported state differs
    from the checkpoint's only by the final normalisation, a rescaling by 1 + O(1e-16)); a
    network of another size is refused, naming the field."""
    from bioclf import config as cfgmod
    from bioclf.stdp.training import train

    # The project of the resume test (same size and chunk), so nothing new is compiled.
    cfg = cfgmod.load(_config(tmp_path, build_root, n_train=40, chunk=CHUNK, backend="cpp"))
    two = train(cfg, N_TEST, 0, tmp_path / "two", epochs=2)
    train(cfg, N_TEST, 0, tmp_path / "one", epochs=1)
    more = train(cfg, N_TEST, 0, tmp_path / "more", epochs=1, continue_from=tmp_path / "one")
    assert more["epochs_before"] == 1 and two["repeated_presentations"] > 0
    # what assignment and testing check their configuration against (`frozen`)
    from bioclf.stdp import setup

    identity = setup.trained_identity(setup.models(cfg), setup.protocol(cfg))
    assert two["models"] == identity["models"]
    assert two["stdp.protocol"] == identity["stdp.protocol"]
    w_two, w_more = (np.load(tmp_path / d / "weights.npy") for d in ("two", "more"))
    np.testing.assert_allclose(w_more, w_two, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        np.load(tmp_path / "more" / "theta.npy"), np.load(tmp_path / "two" / "theta.npy"), rtol=1e-9
    )
    with pytest.raises(ResultFileError, match="n_exc"):
        train(cfg, N_TEST + 1, 0, tmp_path / "x", epochs=1, continue_from=tmp_path / "one")


def test_schedule_trains_as_a_continued_training(tmp_path, monkeypatch):
    """A size's schedule (the first epoch with the fast rule, then the paper's) gives the
    network that one epoch with the fast rule and one continued with the paper's give, its
    progress lines timing the whole run; run again, its finished phases are not built again
    and the result is the same; a schedule that leaves no epoch to stdp.models is refused,
    naming the field."""
    from bioclf import config as cfgmod
    from bioclf import tasks
    from bioclf.stdp import run, setup, simulate, training
    from bioclf.stdp.training import train

    calls = []  # one progress for both phases: (total,), ('rebase', done), done of each line

    class Recorded(tasks.Progress):
        def __init__(self, total, done=0):
            calls.append((total,))
            super().__init__(total, done)

        def rebase(self, done):
            calls.append(("rebase", done))
            super().rebase(done)

        def __call__(self, done):
            calls.append(done)
            return super().__call__(done)

    fast = "equations/dc_stdp_fast.yaml"
    short = {"present": "40*ms", "rest": "20*ms", "max_intensity": 4}
    common = dict(backend="runtime", n_train=4, chunk=4)

    def config(name, **stdp):
        (tmp_path / name).mkdir()
        cfg = cfgmod.load(_config(tmp_path / name, tmp_path / "build", **common, **stdp))
        cfg["stdp"]["protocol"].update(short)
        return cfg

    schedule = [{"epochs": 1, "models": {"input_exc": fast}}]
    cfg = config("scheduled", sizes=[{"n": 4, "epochs": 2, "schedule": schedule}])
    with monkeypatch.context() as m:
        m.setattr(tasks, "Progress", Recorded)
        got = train(cfg, 4, 0, tmp_path / "scheduled" / "out")
    # the second phase's lines count on from the first's 4 samples, up to 8 in all
    i = calls.index(("rebase", 4))
    assert calls[:2] == [(8,), ("rebase", 0)] and calls[i - 1] == 4 and calls[-1] == 8
    assert calls[2:i] == sorted(calls[2:i]) and calls[i + 1 :] == sorted(calls[i + 1 :])
    base = config("base", sizes=[{"n": 4, "epochs": 1}])
    first = {**base, "stdp": {**base["stdp"], "models": {**base["stdp"]["models"]}}}
    first["stdp"]["models"]["input_exc"] = fast
    train(first, 4, 0, tmp_path / "one")
    more = train(base, 4, 0, tmp_path / "more", continue_from=tmp_path / "one")
    for name in ("weights.npy", "theta.npy"):
        np.testing.assert_array_equal(
            np.load(tmp_path / "scheduled" / "out" / name), np.load(tmp_path / "more" / name)
        )
    assert got["schedule"] == [{"epochs": 1, "models": {"input_exc": fast}}]
    assert got["epochs"] == 2 and got["training_samples"] == 8
    assert got["repeated_presentations"] > 0 and more["epochs_before"] == 1
    assert (tmp_path / "scheduled" / "out" / "checkpoint_phase1.npz").exists()
    records = np.load(tmp_path / "scheduled" / "out" / "train_records.npz")
    assert len(records["reps"]) == 8 and records["window_counts"].shape == (4, 4)

    # Run again: a phase whose checkpoint shows it finished, from the same start, is read, not
    # built (compiled, on standalone backends) again; the outputs are the same, bit for bit.
    built = []
    make = training.make_simulator
    monkeypatch.setattr(training, "make_simulator", lambda m, *a: built.append(m) or make(m, *a))
    out = tmp_path / "scheduled" / "out"
    before = {name: (out / name).read_bytes() for name in ("weights.npy", "theta.npy")}
    same = lambda m: {k: v for k, v in m.items() if k not in ("provenance", "peak_memory")}  # noqa: E731
    for name in before:
        (out / name).unlink()
    assert same(train(cfg, 4, 0, out)) == same(got) and built == []
    assert {name: (out / name).read_bytes() for name in before} == before
    (out / "checkpoint.npz").unlink()  # killed before the last phase's first checkpoint
    again = train(cfg, 4, 0, out)
    assert [m.input_exc.path.name for m in built] == ["dc_stdp.yaml"]  # the last phase only
    assert {name: (out / name).read_bytes() for name in before} == before
    assert again["running_accuracy"] == got["running_accuracy"]
    # A phase is finished only for the same definition, start and samples.
    models = [Models.load(paths) for paths, _ in setup.schedule(cfg, 4, 2)]
    proto = setup.protocol(cfg)
    images, labels = setup.data(cfg, "train", 4, "n")
    backend = setup.backend(cfg, None, 4, 0, models[-1])
    ckpt = out / "checkpoint_phase1.npz"

    def finished(models=models[0], seed=0, epoch=0, start=None, n=4):
        definition = simulate.definition(models, proto, 4, 4, seed, backend)
        passes = [Pass("train", epoch, images[:n], labels[:n], plastic=True, keep_counts=False)]
        return run.finished(ckpt, definition, start, passes, 4)

    state, (rec,) = finished()
    assert rec["reps"].shape == (4,) and rec["window"].shape == (4, 4)
    start = {k: v.copy() for k, v in state.items()}
    for other in (
        dict(models=models[1]),
        dict(seed=1),
        dict(epoch=1),
        dict(n=3),
        dict(start=start),
    ):
        assert finished(**other) is None, other
    monkeypatch.setenv("BIOCLF_FRESH", "1")
    assert finished() is None

    with pytest.raises(ConfigError, match="--epochs"):
        train(cfg, 4, 0, tmp_path / "x", epochs=1)
    bad = yaml.safe_load((tmp_path / "scheduled" / "config.yaml").read_text())
    bad["stdp"]["sizes"][0]["schedule"][0]["epochs"] = 2
    with pytest.raises(ConfigError, match=r"stdp\.sizes\.0\.schedule.*covers 2 of the 2"):
        cfgmod.validate(bad)
    bad["stdp"]["sizes"][0]["schedule"] = [{"epochs": 1, "models": {"input_exc": "nope.yaml"}}]
    with pytest.raises(ConfigError, match=r"stdp\.sizes\.0\.schedule\.0\.models\.input_exc"):
        cfgmod.validate(bad)


def test_samples_are_held_as_pixels_and_identified_without_float_copies():
    """The STDP jobs hold their images as uint8 pixels (`setup.data`), converted to floats chunk
    by chunk, and hash them for the runs' identities without copies: loading the 60,000
    training images and identifying a pass and a frozen run over them peaks under 150 MB of
    allocations (376 MB before: the floats, 188 MB, and the copy of them that hashing made),
    and the identities are those of the float32 array, as before."""
    import tracemalloc

    from bioclf.stdp import frozen, run, setup

    cfg = {"data": {"root": str(ROOT / "data" / "mnist")}}
    tracemalloc.start()
    try:
        images, labels = setup.data(cfg, "train", 60000, "n")
        ids = run._run_identity({}, None, [Pass("train", 0, images, labels, plastic=True)])
        identity = frozen.results_identity({}, "assign", images, labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 150e6, f"{peak / 1e6:.0f} MB"
    x = images_as_float(load_split(ROOT / "data" / "mnist", "train"))
    assert ids == run._run_identity({}, None, [Pass("train", 0, x, labels, plastic=True)])
    assert identity == frozen.results_identity({}, "assign", x, labels)
