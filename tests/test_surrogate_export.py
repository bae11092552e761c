"""The trained PyTorch network exported to Brian2 gives the same output spikes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bioclf.brian.backends import Backend
from bioclf.data import images_as_float, load_split
from bioclf.errors import ConfigError, ResultFileError
from bioclf.surrogate.export_brian import run_brian, run_torch
from bioclf.surrogate.options import TrainConfig
from bioclf.surrogate.saved import build


def small_net(dt=5e-3, max_rate=200.0, neuron="equations/lif.yaml"):
    """A random 784-20-10 network, scaled so that every layer spikes."""
    cfg = TrainConfig(arch="fc", hidden=20, T=8, dt=dt, max_rate=max_rate, neuron=neuron)
    net = build(cfg)
    with torch.no_grad():
        net.fc1.weight.mul_(6.0)
        net.fc2.weight.mul_(2.0)
        net.fc2.bias.add_(0.1)
    return net, cfg


def images(n=4):
    test = load_split("data/mnist", "test")
    return images_as_float(test)[:n], np.arange(n)


def check(net, cfg, backend):
    x, idx = images()
    brian = run_brian(net, cfg, x, idx, backend)
    counts, hidden = run_torch(net, cfg, x, idx, dtype=torch.float64)
    assert counts.sum() > 5 and hidden.sum() > 20, "the test network must spike"
    np.testing.assert_array_equal(brian["counts"], counts)
    np.testing.assert_array_equal(brian["hidden_counts"], hidden)


def test_brian2_runtime_reproduces_torch_spike_counts():
    net, cfg = small_net()
    check(net, cfg, Backend("runtime"))


def test_refractory_timing_at_1ms():
    # 5 refractory steps: spikes, refractory clamps and slot resets must all line up
    net, cfg = small_net(dt=1e-3, max_rate=1000.0)
    check(net, cfg, Backend("runtime"))


@pytest.mark.standalone
def test_brian2_cpp_reproduces_torch_spike_counts(build_root):
    net, cfg = small_net()
    # The smoke pipeline's project (784-20-10 too): only what differs is compiled again.
    check(net, cfg, Backend("cpp", build_dir=build_root / "surrogate" / "fc20_seed0"))


def test_conductance_input_and_its_bias_from_the_first_step():
    # dc_inh.yaml's input is a conductance (incremented, not set): the bias each step adds must
    # survive the slot's reset, or Brian2 misses it at the first step of every sample
    net, cfg = small_net(dt=5e-4, max_rate=1000.0, neuron="equations/dc_inh.yaml")
    with torch.no_grad():
        net.fc1.weight.mul_(1.5)
        net.fc1.bias.add_(0.1)
        net.fc2.bias.add_(0.3)
    check(net, cfg, Backend("runtime"))


def test_a_threshold_that_reads_the_input_sees_what_the_state_update_saw(tmp_path):
    # PyTorch's threshold reads this step's input; Brian2's must too, not the bias alone
    text = open("equations/lif.yaml").read()
    path = tmp_path / "lif_input_threshold.yaml"
    path.write_text(text.replace("threshold: v > v_th", "threshold: v + 0.3*R*I > v_th"))
    net, cfg = small_net(dt=1e-3, max_rate=1000.0, neuron=str(path))
    with torch.no_grad():
        net.fc2.bias.add_(0.2)
    check(net, cfg, Backend("runtime"))


def _lif_variant(tmp_path, name, **replace):
    text = open("equations/lif.yaml").read()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def test_a_neuron_variable_named_w_and_a_two_statement_reset(tmp_path):
    # an adaptation current 'w' (a Brian2 error before: the synaptic weight was 'w' too)
    path = _lif_variant(
        tmp_path,
        "adaptive",
        **{
            "R*I)/tau_m : volt (unless refractory)": (
                "R*(I - w))/tau_m : volt (unless refractory)\n  dw/dt = -w/tau_w : amp"
            ),
            "reset: v = v_reset": "reset: |\n  v = v_reset\n  w += b_w",
            "R: 100*Mohm": "R: 100*Mohm\n  tau_w: 30*ms\n  b_w: 0.02*nA",
        },
    )
    net, cfg = small_net(dt=1e-3, max_rate=1000.0, neuron=path)
    check(net, cfg, Backend("runtime"))
    clash = _lif_variant(tmp_path, "clash", **{"R: 100*Mohm": "R: 100*Mohm\n  sg_bias: 1*mV"})
    net, cfg = small_net(neuron=clash)
    with pytest.raises(ConfigError, match="sg_bias"):
        check(net, cfg, Backend("runtime"))


def test_a_conv_model_is_refused_naming_its_file(tmp_path, capsys):
    """Only the FC network has a Brian2 form: a conv model.pt is refused in one line that
    names the file (exit 2), before any data is read or network built."""
    from dataclasses import asdict

    from bioclf.surrogate import export_brian

    cfg = TrainConfig(arch="conv", channels=(2, 2))
    model = tmp_path / "model.pt"
    torch.save({"config": asdict(cfg), "model": build(cfg).state_dict()}, model)
    assert export_brian.main(["--model", str(model), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(model) in err and "'arch'" in err and "not 'conv'" in err


def test_more_test_images_than_there_are_is_refused(tmp_path, capsys):
    """--n-test above the test set's size was quietly cut to it (the metrics then named fewer
    images than asked for); now refused in one line, before any network is built."""
    from dataclasses import asdict

    from bioclf.surrogate import export_brian

    cfg = TrainConfig(arch="fc", hidden=4)
    model = tmp_path / "model.pt"
    torch.save({"config": asdict(cfg), "model": build(cfg).state_dict()}, model)
    argv = ["--model", str(model), "--n-test", "10001", "--out", str(tmp_path / "out")]
    assert export_brian.main(argv) == 2
    err = capsys.readouterr().err
    assert "'n_test'" in err and "asks for 10001 test images" in err and "has 10000" in err, err


def test_the_cuda_backend_where_no_gpu_is_visible_is_refused_before_building(
    tmp_path, capsys, monkeypatch
):
    from dataclasses import asdict

    from bioclf.brian import backends
    from bioclf.surrogate import export_brian

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(backends, "gpu_available", lambda: False)
    cfg = TrainConfig(arch="fc", hidden=4)
    model = tmp_path / "model.pt"
    torch.save({"config": asdict(cfg), "model": build(cfg).state_dict()}, model)
    argv = ["--model", str(model), "--n-test", "5", "--backend", "cuda"]
    argv += ["--out", str(tmp_path / "out"), "--build-dir", str(tmp_path / "build")]
    assert export_brian.main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "error: configuration (command line): field 'backend': 'cuda' needs a GPU, and the "
        "CUDA driver sees none here (CUDA_VISIBLE_DEVICES=''); use cpp"
    )
    assert not (tmp_path / "build").exists()


def test_the_default_is_the_whole_test_split(tmp_path, capsys):
    """Without --n-test every test image is run: the default was 10,000, an error on a data set
    with fewer test images (blamed on the command line)."""
    import json
    from dataclasses import asdict

    from bioclf.data import SPLIT_FILES, write_idx
    from bioclf.surrogate import export_brian

    root = tmp_path / "data"
    root.mkdir()
    for split, (image_file, label_file) in SPLIT_FILES.items():
        ds = load_split("data/mnist", split)
        write_idx(root / f"{image_file}.gz", ds.images[:3])
        write_idx(root / f"{label_file}.gz", ds.labels[:3])
    net, cfg = small_net()
    cfg.data, cfg.data_name = str(root), "other"
    model = tmp_path / "model.pt"
    torch.save({"config": asdict(cfg), "model": net.state_dict()}, model)
    argv = ["--model", str(model), "--out", str(tmp_path / "out"), "--backend", "runtime"]
    argv += ["--build-dir", str(tmp_path / "build")]
    assert export_brian.main(argv) == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "out" / "brian2_export.json").read_text())
    assert result["n_samples"] == 3 and result["identical_output_counts"] == 1.0


def test_pytorch_runs_on_the_threads_of_the_training_as_the_evaluation_does(tmp_path, monkeypatch):
    """Run by hand the export's PyTorch side took torch's default thread count, not the
    model's, which its evaluation uses: the counts could differ from the evaluation's."""
    from dataclasses import asdict

    from bioclf.surrogate import export_brian

    net, cfg = small_net()
    cfg.threads = 1 if torch.get_num_threads() > 1 else 2
    model = tmp_path / "model.pt"
    torch.save({"config": asdict(cfg), "model": net.state_dict()}, model)
    seen = []

    def fake_torch(net, cfg, x, idx):
        seen.append(torch.get_num_threads())
        return np.zeros((len(idx), 10), int), np.zeros(len(idx))

    monkeypatch.setattr(
        export_brian,
        "run_brian",
        lambda *a: {"counts": np.zeros((2, 10), int), "hidden_counts": np.zeros(2), "seconds": 0.0},
    )
    monkeypatch.setattr(export_brian, "run_torch", fake_torch)
    before = torch.get_num_threads()
    try:
        export_brian.compare(model, 2, "runtime", build_dir=str(tmp_path / "b"))
    finally:
        torch.set_num_threads(before)
    assert seen == [cfg.threads]


@pytest.mark.parametrize(
    "saved, field", [({"spiking": False}, "spiking"), ({"arch": "conv"}, "arch")]
)
def test_a_model_file_that_cannot_be_exported_is_a_result_file(monkeypatch, saved, field):
    """Before: a model.pt of a non-spiking twin or a convolutional network was refused as
    'configuration .../model.pt: ...'; a training wrote it: a result file, and its field."""
    from bioclf.surrogate import export_brian
    from bioclf.surrogate import saved as saved_module

    cfg = TrainConfig(**saved)
    monkeypatch.setattr(saved_module, "load_model", lambda path, device: (None, cfg))
    with pytest.raises(ResultFileError) as err:
        export_brian.compare("run/model.pt", n_test=1)
    assert not isinstance(err.value, ConfigError)
    assert str(err.value).startswith(f"run/model.pt: field '{field}': ")
