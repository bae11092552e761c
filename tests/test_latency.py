"""Latency coding: exact spike times, identical in numpy, PyTorch and Brian2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brian2 import Network, NeuronGroup, SpikeMonitor, ms

from bioclf.brian import backends
from bioclf.brian.functions import NAMESPACE
from bioclf.encoding import latency_spikes, latency_spikes_torch, latency_steps
from bioclf.surrogate.encode import spike_input

# A known 2 x 4 "image" (float32, as the data loader gives): black, white, mid-grey, quarter,
# the faintest MNIST level, nearly white, 2/3 (float32 rounds it up: (1 - x) * 24 falls just
# below 8, so k = 7),
# and a value over 1.
IMAGE = np.array([[0.0, 1.0, 0.5, 0.25], [1 / 255, 0.999, 2 / 3, 1.5]], dtype=np.float32)
# floor((1 - x) * 24), -1 for the black pixel
STEPS_T25 = np.array([[-1, 0, 12, 18], [23, 0, 7, 0]])
STEPS_T10 = np.array([[-1, 0, 4, 6], [8, 0, 2, 0]])


def test_spike_times_of_a_known_image():
    assert np.array_equal(latency_steps(IMAGE, 25), STEPS_T25)
    assert np.array_equal(latency_steps(IMAGE, 10), STEPS_T10)
    spikes = latency_spikes(IMAGE, 25)
    assert spikes.shape == (25, 2, 4)
    # one spike per lit pixel, at its step; none for the black one
    assert np.array_equal(spikes.sum(0), (IMAGE > 0).astype(int))
    t, r, c = np.nonzero(spikes)
    assert np.array_equal(t, STEPS_T25[r, c])


def test_numpy_and_torch_identical():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (16, 784)).astype(np.float32) / np.float32(255)
    x[:, ::3] = 0
    for n_steps in (1, 10, 25, 50, 700):
        a = latency_spikes(x, n_steps)
        b = latency_spikes_torch(torch.from_numpy(x), n_steps).numpy().astype(bool)
        assert np.array_equal(a, b)
        assert a.sum() == np.count_nonzero(x)  # at most, and exactly, one spike per lit pixel


def test_surrogate_input_uses_the_runs_code():
    x = IMAGE.reshape(1, 8)
    cfg = {"T": 25, "dt": 5e-3, "max_rate": 200.0, "seed": 0, "encoding": "latency"}
    got = spike_input(x, [0], cfg, "test").numpy()
    assert got.dtype == np.float32
    assert np.array_equal(got.astype(bool), latency_spikes(x, 25))
    # the same image through the rate code (the default) fires far more often
    rate = spike_input(x, [0], {**cfg, "encoding": "rate"}, "test").numpy()
    assert rate.sum() > got.sum()
    with pytest.raises(ValueError, match="encoding"):
        spike_input(x, [0], {**cfg, "encoding": "phase"}, "test")


def _brian_latency_spikes(backend, x: np.ndarray, n_steps: int):
    """Spike steps of a group that fires at ``bioclf_latency(x, n)`` (one step per time step)."""
    directory = backends.activate(backend, "latency_parity", dt=1 * ms)
    g = NeuronGroup(
        x.size,
        "x : 1 (constant)\nk : 1",
        threshold="t_in_timesteps == k",
        namespace={**NAMESPACE, "n_win": n_steps},
        name="lat",
    )
    g.x = x.ravel().astype(np.float64)
    g.run_regularly("k = bioclf_latency(x, n_win)", when="start", name="lat_draw")
    mon = SpikeMonitor(g, name="lat_spikes")
    backends.Runner(backend, Network(g, mon), n_steps * ms, directory).run()
    out = np.zeros((n_steps, x.size), dtype=bool)
    out[np.round(np.asarray(mon.t / ms)).astype(int), np.asarray(mon.i)] = True
    return out


def test_brian2_runtime_matches_numpy():
    rng = np.random.default_rng(1)
    x = np.concatenate([IMAGE.ravel(), rng.integers(0, 256, 92).astype(np.float32) / 255])
    got = _brian_latency_spikes(backends.Backend("runtime"), x, 25)
    assert np.array_equal(got, latency_spikes(x, 25))


@pytest.mark.standalone
def test_brian2_cpp_matches_numpy(build_root):
    """Every grey level (as images_as_float gives it: float32 k/255), compiled with the
    project's -ffast-math flags, at the surrogate's windows and the STDP network's (700)."""
    levels = np.arange(256, dtype=np.float32) / np.float32(255)
    x = np.concatenate([IMAGE.ravel(), levels])
    for n_steps in (25, 700):
        got = _brian_latency_spikes(backends.Backend("cpp", build_dir=build_root), x, n_steps)
        assert np.array_equal(got, latency_spikes(x, n_steps)), n_steps


def test_brian2_export_sees_the_latency_spikes():
    """A latency-coded FC network gives the same spike counts in Brian2 (runtime) as in PyTorch."""
    from bioclf.data import images_as_float, load_split
    from bioclf.surrogate import train as tr
    from bioclf.surrogate.export_brian import run_brian, run_torch

    cfg = tr.TrainConfig(arch="fc", hidden=20, T=8, encoding="latency")
    net = tr.build(cfg)
    with torch.no_grad():  # strong enough that one volley of input spikes drives every layer
        net.fc1.weight.mul_(12.0)
        net.fc2.weight.mul_(4.0)
        net.fc2.bias.add_(0.1)
    x = images_as_float(load_split("data/mnist", "test"))[:4]
    idx = np.arange(4)
    brian = run_brian(net, cfg, x, idx, backends.Backend("runtime"))
    counts, hidden = run_torch(net, cfg, x, idx, dtype=torch.float64)
    assert hidden.sum() > 20 and counts.sum() > 5, "the test network must spike"
    assert brian["input_spikes"] == np.count_nonzero(x)
    np.testing.assert_array_equal(brian["counts"], counts)
    np.testing.assert_array_equal(brian["hidden_counts"], hidden)


def test_bad_encoding_refused():
    from bioclf.errors import ConfigError
    from bioclf.surrogate import train as tr

    with pytest.raises(ConfigError, match="encoding"):
        tr.TrainConfig(encoding="phase").check()
    with pytest.raises(ConfigError, match="encoding"):  # the option named, exit 2
        tr.parse_args(["--encoding", "phase", "--out", "x"])


def test_stdp_network_input_spikes_are_the_latency_code():
    """In the STDP network each pixel fires once per presentation, at `latency_input_steps`;
    a repeat at intensity + 1 makes the same pixels fire earlier."""
    import dataclasses

    from conftest import DC_MODELS, ROOT

    from bioclf.data import images_as_float, load_split
    from bioclf.encoding import hashrng
    from bioclf.stdp.network import latency_input_steps
    from bioclf.stdp.protocol import Models, Protocol
    from bioclf.stdp.simulate import Simulator

    proto = Protocol(present=40 * ms, rest=20 * ms, max_intensity=4, encoding="latency")
    x = images_as_float(load_split(ROOT / "data" / "mnist", "train"))[3:4]
    sim = Simulator(Models.load(DC_MODELS), proto, 4, 1, 0, backends.Backend("runtime"), "lat")
    mon = SpikeMonitor(sim.net.inp, name="input_spikes")
    sim.net.net.add(mon)
    _, res = sim.run_chunk(sim.initial_state, x, 3, hashrng.key(0, 1, 0), plastic=True)
    steps = np.rint(np.asarray(mon.t / ms) / float(proto.dt / ms)).astype(int)
    i = np.asarray(mon.i)
    shown = len(res.retried_counts) + len(res.samples)  # presentations in this chunk
    assert shown >= 2  # the short presentation is repeated at least once
    for rep in range(shown):
        expected = latency_input_steps(x[0], proto.base_intensity + rep, proto)
        in_slot = (steps // proto.slot_steps) == rep
        got = np.full(784, -1)
        got[i[in_slot]] = steps[in_slot] % proto.slot_steps
        assert np.bincount(i[in_slot], minlength=784).max() == 1  # once per presentation
        np.testing.assert_array_equal(got, expected)
    first = latency_input_steps(x[0], proto.base_intensity, proto)
    later = latency_input_steps(x[0], proto.base_intensity + 1, proto)
    lit = first >= 0
    assert np.all(later[lit] <= first[lit]) and np.any(later[lit] < first[lit])
    # the encoding identifies the run to its checkpoints; the rate code's identity is unchanged
    assert repr(proto) == repr(dataclasses.replace(proto, encoding="rate"))
    assert sim.definition["stdp.protocol.encoding"] == "latency"


def test_report_section_only_with_latency_runs(tmp_path, capsys):
    import json

    from bioclf import report_coding, tasks

    assert report_coding.surrogate_run_name({"arch": "fc", "hidden": 100}) == "fc100"
    name = report_coding.surrogate_run_name(
        {"arch": "fc", "hidden": 100, "encoding": "latency", "time_steps": 25}
    )
    assert name == "fc100_latency_T25"

    def write(net, encoding, T, acc, n_in):
        d = tmp_path / "surrogate" / net / "seed0"
        d.mkdir(parents=True)
        cfg = {"hidden": 100, "seed": 0, "T": T, "dt": 5e-3, "lr": 1e-3}
        if encoding:
            cfg["encoding"] = encoding
        m = {
            "accuracy": acc,
            "config": cfg,
            "spikes_per_inference": {"input": n_in, "hidden": 10.0, "output": 2.0},
            "synops_per_inference": {"total": 100.0 * n_in},
            "energy": {"snn_nj_per_inference": 0.09 * n_in},
        }
        (d / "metrics.json").write_text(json.dumps(m))

    write("fc100", None, 25, 0.978, 2597.0)  # written before the option: rate
    assert report_coding.section(tmp_path) == []
    # the task: a wrong --out said "no latency-coded runs found" and exited 0, writing nothing
    assert tasks.run(report_coding.main, ["--out", str(tmp_path)]) == 2
    assert f"{tmp_path}: no latency-coded run to compare" in capsys.readouterr().err
    write("fc100_latency_T25", "latency", 25, 0.96, 151.0)
    lines = report_coding.section(tmp_path)
    table = "\n".join(lines)
    assert (
        "| rate | 25 | 0.001 | 97.80% |" in table and "| latency | 25 | 0.001 | 96.00% |" in table
    )
    assert (tmp_path / "coding" / "coding_vs_T.png").stat().st_size > 0
    assert len((tmp_path / "coding" / "coding.csv").read_text().splitlines()) == 3
    assert "STDP with the latency code" not in table

    def write_stdp(d, encoding, acc, exc_spikes, presentations, seed=0):
        d.mkdir(parents=True)
        m = {
            "accuracy": acc,
            "n_exc": 100,
            "seed": seed,
            "backend": "cpp",
            "encoding": encoding,
            "latency_time_steps": 700,
            "presentations_per_inference": presentations,
            "spikes_per_inference": {"input": 1000.0, "exc": exc_spikes, "inh": exc_spikes},
        }
        (d / "metrics.json").write_text(json.dumps(m))

    write_stdp(tmp_path / "stdp/cpp/n100/seed0/test", "Poisson rate code", 0.83, 9.0, 1.1)
    latency = tmp_path / "coding/stdp_latency/n100/seed0/test"
    write_stdp(latency, "latency code", 0.28, 13.0, 10.0)
    text = "\n".join(report_coding.section(tmp_path))
    assert "**28.00%**, against 83.00% with the rate code" in text
    assert "1.30 excitatory spikes per presentation" in text and "It learns poorly" in text
    (latency / "metrics.json").unlink()
    latency.rmdir()
    write_stdp(latency, "latency code", 0.80, 13.0, 10.0)  # within 10 points: no verdict
    text = "\n".join(report_coding.section(tmp_path))
    assert "**80.00%**" in text and "It learns poorly" not in text
    # several rate-coded runs: their mean and each, not the best alone (it said 'against 91%')
    write_stdp(tmp_path / "stdp/cpp/n100/seed1/test", "Poisson rate code", 0.91, 9.0, 1.1, 1)
    text = "\n".join(report_coding.section(tmp_path))
    assert "against 87.00% with the rate code (mean of 2 runs: D&C N=100 seed 0 (cpp)" in text
    assert ": 83.00%; D&C N=100 seed 1 (cpp), ? training samples: 91.00%)" in text
    assert "against 91.00%" not in text


def test_configured_report_compares_only_the_configured_runs(tmp_path):
    """A configuration's report leaves out runs another configuration left on disk (the default
    report had shown stale latency rows), and writes its own table beside the report."""
    import json

    from bioclf import report_coding

    for net, encoding in (("fc100", "rate"), ("fc100_latency_T25", "latency")):
        d = tmp_path / "surrogate" / net / "seed0"
        d.mkdir(parents=True)
        cfg = {"hidden": 100, "seed": 0, "T": 25, "dt": 5e-3, "encoding": encoding}
        m = {
            "accuracy": 0.97,
            "config": cfg,
            "spikes_per_inference": {"input": 100.0, "hidden": 10.0, "output": 2.0},
            "synops_per_inference": {"total": 1000.0},
            "energy": {"snn_nj_per_inference": 1.0},
        }
        (d / "metrics.json").write_text(json.dumps(m))
    plain = [tmp_path / "surrogate" / "fc100" / "seed0"]
    assert report_coding.section(tmp_path, plain) == []
    both = [*plain, tmp_path / "surrogate" / "fc100_latency_T25" / "seed0"]
    text = "\n".join(report_coding.section(tmp_path, both))
    assert "figures/coding_vs_T.png" in text and "Table: `coding.csv`" in text
    assert len((tmp_path / "coding.csv").read_text().splitlines()) == 3
    assert not (tmp_path / "coding").exists()  # the all-runs comparison's files untouched


def test_coding_figure_names_the_runs_time_step(tmp_path, monkeypatch):
    """The x axis and the section's text give the dt of the runs drawn, not a fixed 5 ms."""
    import pandas as pd

    from bioclf import plots, report_coding

    labels = []
    monkeypatch.setattr(
        plots, "_save", lambda fig, path: labels.extend(ax.get_xlabel() for ax in fig.axes)
    )
    row = {"accuracy": 0.9, "spikes_per_inference": 100.0, "input_spikes": 80.0}
    runs = [
        {"encoding": code, "T": T, "window_ms": T * 2.0, **row}
        for code in ("rate", "latency")
        for T in (10, 25)
    ]
    report_coding.figure(pd.DataFrame(runs), tmp_path / "f.png")
    assert labels == ["time steps T (dt = 2 ms)"] * 2
    assert "keep dt = 2 ms" in report_coding._window_note(pd.DataFrame(runs))
    labels.clear()
    runs[0]["window_ms"] = 10 * 5.0  # runs of two time steps: none named
    report_coding.figure(pd.DataFrame(runs), tmp_path / "f.png")
    assert labels == ["time steps T"] * 2
    assert "differ in dt" in report_coding._window_note(pd.DataFrame(runs))
