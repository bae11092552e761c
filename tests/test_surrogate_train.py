"""Training of the surrogate-gradient networks: learning, checkpoint/resume, metrics, CLI."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import fields

import numpy as np
import pytest
import torch
from conftest import EQUATIONS, ROOT, ctrl_c, sigint_default

from bioclf.encoding import bernoulli_spikes, spike_probability, stream_keys
from bioclf.errors import BioclfError, ConfigError, ResultFileError
from bioclf.surrogate import kernels
from bioclf.surrogate import train as tr
from bioclf.surrogate.compile import compile_neuron
from bioclf.surrogate.encode import encode, spike_input
from bioclf.surrogate.networks import SpikingConv
from bioclf.surrogate.options import format_checksums
from bioclf.surrogate.saved import build, load_model


def tiny(tmp_path, name="run", **kw) -> tr.TrainConfig:
    values = dict(
        arch="fc",
        hidden=32,
        epochs=2,
        T=10,
        batch_size=50,
        lr=5e-3,
        dt=5e-3,
        max_rate=200.0,
        train_subset=500,
        test_subset=200,
        threads=1,
        log_every=100,
        out=str(tmp_path / name),
    )
    values.update(kw)
    return tr.TrainConfig(**values)


def test_fast_encoder_equals_shared_encoder():
    rng = np.random.default_rng(0)
    images = rng.random((7, 784)) * (rng.random((7, 784)) < 0.3)
    p = spike_probability(images.astype(np.float32), 1000.0, 1e-3)
    keys = stream_keys(3, "train", np.arange(100, 107), epoch=2)
    np.testing.assert_array_equal(encode(p, keys, 25), bernoulli_spikes(p, keys, 25))


def test_rate_input_of_a_run_fires_at_its_rates_on_its_streams():
    """A run's rate-coded input (`spike_input`, training and evaluation): probability
    intensity * max_rate * dt per step (here 200 Hz * 1 ms), on the streams of its seed, split,
    samples and epoch, so that each epoch shows other spikes."""
    x = np.random.default_rng(1).random((3, 784)).astype(np.float32)
    cfg = {"T": 20, "dt": 1e-3, "max_rate": 200.0, "seed": 4}
    got = [spike_input(x, [5, 6, 7], cfg, "train", epoch=e).numpy() for e in (0, 1)]
    for epoch in (0, 1):
        keys = stream_keys(4, "train", [5, 6, 7], epoch=epoch)
        expected = bernoulli_spikes(x * np.float32(0.2), keys, 20)
        np.testing.assert_array_equal(got[epoch].astype(bool), expected)
    assert not np.array_equal(got[0], got[1])


def test_tiny_training_learns_and_writes_metrics(tmp_path):
    metrics = tr.train(tiny(tmp_path))
    assert metrics["accuracy"] > 0.25  # chance is 0.1; 2 epochs of 500 samples
    out = tmp_path / "run"
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "accuracy",
        "confusion",
        "spikes_per_inference",
        "synops_per_inference",
        "energy",
        "latency",
        "training_wall_seconds",
        "history",
        "config",
    ):
        assert key in saved
    confusion = np.load(out / "confusion.npy")
    assert confusion.shape == (10, 10) and confusion.sum() == saved["n_samples"]
    assert np.trace(confusion) / confusion.sum() == pytest.approx(saved["accuracy"])
    assert set(saved["spikes_per_inference"]) == {"input", "hidden", "output"}
    syn = saved["synops_per_inference"]
    # SynOps = input spikes * 32 + hidden spikes * 10
    spikes = saved["spikes_per_inference"]
    assert syn["total"] == pytest.approx(spikes["input"] * 32 + spikes["hidden"] * 10)
    energy = saved["energy"]
    assert energy["snn_nj_per_inference"] == pytest.approx(syn["total"] * 0.9e-3)
    assert energy["ann_equivalent_macs"] == 784 * 32 + 32 * 10
    assert saved["latency"]["time_steps"] == 10
    assert (out / "model.pt").exists() and (out / "confusion.csv").exists()
    assert "samples/s" in (out / "train.log").read_text()
    where = "cuda" if torch.cuda.is_available() else "cpu"  # device 'auto'
    assert saved["device"].split()[0] == saved["training_device"].split()[0] == where
    assert saved["config"]["device"] == "auto"


def test_separate_evaluation_matches_training_run(tmp_path):
    """`--test false` leaves the test set to `python -m bioclf.surrogate.evaluate`."""
    from bioclf.surrogate import evaluate as ev

    assert tr.train(tiny(tmp_path, "split", test=False)) == {"trained": 2}
    out = tmp_path / "split"
    assert (out / "model.pt").exists() and not (out / "metrics.json").exists()
    assert ev.main(["--model", str(out / "model.pt"), "--out", str(out)]) == 0
    split = json.loads((out / "metrics.json").read_text())
    whole = tr.train(tiny(tmp_path, "whole"))
    assert split["accuracy"] == whole["accuracy"]
    # progress lines while it evaluates, as training's (here only the last: under 10 s)
    log = (out / "test.log").read_text()
    assert re.search(r"test: 200/200 samples, \d+ samples/s, \d+:\d\d elapsed, 0:00 left", log)
    assert split["confusion"] == whole["confusion"]
    assert len(split["history"]) == 2 and split["training_wall_seconds"] > 0
    assert ev.main(["--model", str(tmp_path / "missing.pt"), "--out", str(out)]) == 2
    # a damaged model file, or a file of another kind: one line, no traceback
    (tmp_path / "cut.pt").write_bytes((out / "model.pt").read_bytes()[:1000])
    torch.save({"weights": 1}, tmp_path / "other.pt")
    for name in ("cut.pt", "other.pt"):
        assert ev.main(["--model", str(tmp_path / name), "--out", str(out)]) == 2


def test_validation_images_are_held_out_of_training(tmp_path):
    cfg = tiny(tmp_path, validation=1000)
    _, _, idx_train = tr.load_data(cfg, "train")
    _, _, idx_val = tr.load_data(cfg, "validation")
    np.testing.assert_array_equal(idx_val, np.arange(59000, 60000))
    assert idx_train.max() < 59000 and len(idx_train) == pytest.approx(500, abs=5)
    metrics = tr.train(tiny(tmp_path, epochs=1, validation=1000))
    (record,) = metrics["history"]
    assert 0.2 < record["val_accuracy"] <= 1  # learned something; scored on 1,000 images
    assert metrics["validation_accuracy"] == record["val_accuracy"]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "epoch 1 validation accuracy" in log
    assert re.search(r"epoch 1 validation: 1000/1000 samples, \d+ samples/s, .* elapsed", log)


def test_evaluation_progress_lines_come_every_ten_seconds_and_at_the_end():
    from bioclf.surrogate.evaluate import progress_lines

    now = [100.0]
    lines = []
    progress = progress_lines(lines.append, "test", 2000, clock=lambda: now[0])
    for done, t in ((500, 104.0), (1000, 110.0), (1500, 119.0), (2000, 122.0)):
        now[0] = t
        progress(done, 2000)
    # after 10 s (1000 samples at 100/s: 10 s left), not 9 s later, and at the end
    assert lines == [
        "test: 1000/2000 samples, 100 samples/s, 0:10 elapsed, 0:10 left",
        "test: 2000/2000 samples, 91 samples/s, 0:22 elapsed, 0:00 left",
    ]


@pytest.mark.parametrize("held", [-1, 60000])
def test_bad_validation_size_is_refused(tmp_path, held):
    with pytest.raises(ConfigError, match="validation"):
        tr.train(tiny(tmp_path, validation=held))


@pytest.mark.parametrize(
    "options, field, message",
    [
        ({"train_subset": 60001}, "train_subset", "asks for 60001 training images; .* has 60000$"),
        # what is left after the validation hold-out
        (
            {"train_subset": 50001, "validation": 10000},
            "train_subset",
            "50001 training images; 50000 are left of the 60000 in data/mnist after the 10000 "
            "held out by validation$",
        ),
        ({"test_subset": 10001}, "test_subset", "asks for 10001 test images; .* has 10000$"),
    ],
)
def test_subset_larger_than_the_images_is_refused(tmp_path, options, field, message):
    """Not silently the images there are: the run would train or test on fewer than its
    options (and metrics.json's config) say, as the STDP side refuses its sample counts."""
    with pytest.raises(ConfigError, match=message) as err:
        tr.train(tiny(tmp_path, **options))
    assert err.value.field == field
    assert not (tmp_path / "run").exists()  # refused before anything was written
    assert tr.load_data(tiny(tmp_path, train_subset=50000, validation=10000), "train")[1].size


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The `tiny` run trained without interruption: its metrics and its run directory."""
    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    return tr.train(tiny(tmp_path, "full")), tmp_path / "full"


def _same_training(a_dir, b_dir) -> None:
    """The two runs ended with the same weights and the same training history (losses,
    accuracies), bit for bit."""
    a = torch.load(a_dir / "model.pt", weights_only=False)
    b = torch.load(b_dir / "model.pt", weights_only=False)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for ra, rb in zip(a["history"], b["history"], strict=True):
        for key in ("epoch", "lr", "train_loss", "train_accuracy"):
            assert ra[key] == rb[key], (key, ra, rb)


def test_resume_after_interruption_gives_identical_weights(tmp_path, uninterrupted):
    full, full_dir = uninterrupted
    interrupted = tr.train(tiny(tmp_path, "resumed"), stop_after=1)
    assert interrupted == {"interrupted": 1}
    resumed = tr.train(tiny(tmp_path, "resumed"))
    _same_training(full_dir, tmp_path / "resumed")
    assert full["accuracy"] == resumed["accuracy"]
    log = (tmp_path / "resumed" / "train.log").read_text()
    assert "resuming" in log
    # progress lines give the time elapsed and left (here, at the end of each epoch)
    assert re.search(r"epoch 1/2 batch 10/10 .* samples/s, \d+:\d\d elapsed, \d+:\d\d left", log)
    assert re.search(r"epoch 2/2 batch 10/10 .* samples/s, \d+:\d\d elapsed, 0:00 left", log)


def test_a_run_killed_mid_epoch_resumes_from_its_last_batch_checkpoint(
    tmp_path, uninterrupted, monkeypatch
):
    """With --checkpoint-minutes the checkpoint is also written within an epoch (here after
    every batch); a run killed in the middle of its first epoch goes on from the last such
    checkpoint, not from the start, and ends as the uninterrupted run did: same weights, same
    losses and accuracies (that epoch's sums are in the checkpoint)."""
    full, full_dir = uninterrupted
    calls = []
    encode = tr.network_input

    def killed_in_batch_5(*args, **kw):  # the 5th batch's input: the process dies
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return encode(*args, **kw)

    monkeypatch.setattr(tr, "network_input", killed_in_batch_5)
    often = tiny(tmp_path, "resumed", checkpoint_minutes=1e-9)  # at every batch's end
    with pytest.raises(KeyboardInterrupt):
        tr.train(often)
    monkeypatch.undo()
    ckpt = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    assert (ckpt["epoch"], ckpt["batch"], ckpt["partial"]["seen"]) == (0, 4, 200)
    # how often a run checkpoints is no part of its identity: this one resumes it
    resumed = tr.train(tiny(tmp_path, "resumed"))
    log = (tmp_path / "resumed" / "train.log").read_text()
    assert "epoch 1 batch 4/10: checkpoint" in log and "epoch 1 batch 5/10" not in log
    assert "resuming from " + str(tmp_path / "resumed" / "checkpoint.pt") in log
    assert "in epoch 1 after batch 4/10" in log and "starting over" not in log
    _same_training(full_dir, tmp_path / "resumed")
    assert resumed["accuracy"] == full["accuracy"]
    assert resumed["confusion"] == full["confusion"]
    assert resumed["history"][0]["seconds"] > 0
    # checkpoint_minutes 0: checkpoints at the epochs' ends only
    tr.train(tiny(tmp_path, "ends", checkpoint_minutes=0, epochs=1, test=False))
    assert "batch 4/10: checkpoint" not in (tmp_path / "ends" / "train.log").read_text()


def test_evaluating_a_checkpoint_is_refused_naming_the_model_file(tmp_path, uninterrupted, capsys):
    """A checkpoint.pt passed as --model (it has the weights and options a model file has)
    is refused in one line naming it, whether its training finished or not, and the model.pt
    to pass instead; not evaluated as if it were the trained network."""
    from bioclf.surrogate import evaluate as ev

    _, full_dir = uninterrupted
    ckpt = torch.load(full_dir / "checkpoint.pt", weights_only=False)
    unfinished = tmp_path / "run" / "checkpoint.pt"
    unfinished.parent.mkdir()
    cases = [
        (full_dir / "checkpoint.pt", "the checkpoint of a finished training (2 epochs)", full_dir),
        (unfinished, "unfinished training (after epoch 1 of 2)", unfinished.parent),
        (unfinished, "unfinished training (in epoch 2 after batch 4 of 2)", unfinished.parent),
    ]
    for k, (path, what, run) in enumerate(cases):
        if k:
            torch.save({**ckpt, "epoch": 1, "batch": 4 if k == 2 else 0}, path)
        assert ev.main(["--model", str(path), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {path}: ") and what in err, err
        assert f"pass the {run / 'model.pt'}" in err or f"pass {run / 'model.pt'}" in err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_evaluating_a_model_with_too_large_a_test_subset_names_the_model(tmp_path, uninterrupted):
    """The test subset saved with the model is checked as training checks it, naming the model
    file the option comes from."""
    from bioclf.surrogate import evaluate as ev

    _, full_dir = uninterrupted
    saved = torch.load(full_dir / "model.pt", weights_only=False)
    saved["config"]["test_subset"] = 10001
    torch.save(saved, tmp_path / "model.pt")
    with pytest.raises(ResultFileError, match="asks for 10001 test images") as err:
        ev.test_model(tmp_path / "model.pt", tmp_path / "out")
    assert (err.value.path, err.value.field) == (str(tmp_path / "model.pt"), "test_subset")
    assert str(err.value).startswith(f"{tmp_path / 'model.pt'}: field 'test_subset': ")


@pytest.mark.parametrize(
    "config, start",
    [
        ({"bogus": 1}, "field 'bogus': unknown option"),
        ({"hidden": "many"}, "field 'hidden': expected int"),
        ({"device": "tpu"}, "field 'device': must be one of"),
    ],
)
def test_a_model_file_whose_saved_options_are_refused_is_a_result_file(tmp_path, config, start):
    """Before: the options saved in a model.pt (which a training wrote) were refused as
    'configuration .../model.pt: ...', and a missing model.pt too."""
    path = tmp_path / "model.pt"
    with pytest.raises(ResultFileError, match=r"^\S*model.pt: no such model file$"):
        load_model(path)
    torch.save({"config": config, "model": {}}, path)
    with pytest.raises(ResultFileError) as err:
        load_model(path)
    assert not isinstance(err.value, ConfigError)
    assert str(err.value).startswith(f"{path}: {start}")
    if "device" not in config:  # (the command line's device: its own error, unchanged)
        return
    with pytest.raises(ConfigError, match=r"^configuration \(command line\): field 'device'"):
        load_model(path, device="tpu")


def test_a_model_file_refused_by_evaluate_leaves_no_output_directory(tmp_path):
    """Before: an empty --out directory was left behind by every refused model file."""
    from bioclf.surrogate import evaluate as ev

    (tmp_path / "model.pt").write_bytes(b"not a model")
    with pytest.raises(ResultFileError, match="not a model file"):
        ev.test_model(tmp_path / "model.pt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_another_torch_file_as_checkpoint_is_set_aside(tmp_path):
    """A torch file of another kind in place of checkpoint.pt (no config, optimiser or epoch):
    moved aside, one line in the log, training starts over; no KeyError traceback."""
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"weights": torch.zeros(3)}, run / "checkpoint.pt")
    assert tr.train(tiny(tmp_path, test=False), stop_after=1) == {"interrupted": 1}
    assert "cannot be read (ValueError)" in (run / "train.log").read_text()
    assert (run / "checkpoint.stale.pt").exists()


def test_a_network_too_large_for_memory_is_refused_naming_its_size(tmp_path):
    """Before: PyTorch's allocator traceback ("DefaultCPUAllocator: can't allocate memory")."""
    with pytest.raises(ConfigError, match="weights do not fit in memory: lower hidden") as err:
        tr.train(tiny(tmp_path, hidden=10**12))
    assert err.value.field == "hidden"
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_a_checkpoint_whose_weights_do_not_fit_is_set_aside(tmp_path):
    """A checkpoint of this very run (same options and files) whose weights have other shapes
    (a damaged or edited file): moved aside, training starts over (before: a size-mismatch
    RuntimeError traceback from load_state_dict)."""
    cfg = tiny(tmp_path, test=False, train_subset=100)
    assert tr.train(cfg, stop_after=1) == {"interrupted": 1}
    path = tmp_path / "run" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=False)
    ckpt["model"] = {k: v[:3] for k, v in ckpt["model"].items()}
    torch.save(ckpt, path)
    assert tr.train(cfg, stop_after=1) == {"interrupted": 1}
    assert "does not fit its network (" in (tmp_path / "run" / "train.log").read_text()
    assert torch.load(tmp_path / "run" / "checkpoint.stale.pt", weights_only=False)["model"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (PyTorch finds none)")
def test_resume_on_cuda_gives_identical_weights(tmp_path):
    """On CUDA too (cuDNN held to its deterministic convolution gradients): the conv network
    resumed after one epoch ends with the weights of an uninterrupted run."""
    kw = dict(arch="conv", channels=[4, 8], conv_hidden=16, device="cuda")
    tr.train(tiny(tmp_path, "full", **kw))
    assert tr.train(tiny(tmp_path, "resumed", **kw), stop_after=1) == {"interrupted": 1}
    tr.train(tiny(tmp_path, "resumed", **kw))
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "resumed" / "model.pt", weights_only=False)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_on_cuda_convolutions_are_float32_not_tf32(tmp_path, monkeypatch):
    """PyTorch computes cuDNN's float32 convolutions in TF32 by default on Ampere and later GPUs
    (a 10-bit mantissa: sums off by ~1e-3), far more than the last bits a device may change.
    Training on CUDA turns that off and holds cuDNN to its deterministic algorithms (checked
    here up to where the network would go to the GPU); on the CPU nothing is touched."""
    from torch.backends import cudnn

    from bioclf.surrogate.options import cuda_numerics

    for name, value in (("allow_tf32", True), ("deterministic", False), ("benchmark", True)):
        monkeypatch.setattr(cudnn, name, value)  # (the session's values come back afterwards)
    cuda_numerics(torch.device("cpu"))
    assert (cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark) == (True, False, True)

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(tr, "resolve_device", lambda name, source: torch.device("cuda"))
    monkeypatch.setattr(tr, "check_memory", lambda *args: None)
    monkeypatch.setattr(tr, "load_data", stop)
    with pytest.raises(Stop):
        tr.train(tiny(tmp_path, device="cuda"))
    assert (cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark) == (False, True, False)


def test_checkpoint_written_with_other_options_is_set_aside(tmp_path):
    tr.train(tiny(tmp_path, epochs=2), stop_after=1)
    changed = tr.train(tiny(tmp_path, epochs=2, lr=1e-2), stop_after=1)
    assert changed == {"interrupted": 1}  # one epoch of this run: it started over
    assert "(changed: lr)" in (tmp_path / "run" / "train.log").read_text()
    tr.train(tiny(tmp_path, epochs=2), stop_after=1)  # and back: nothing is overwritten
    assert (tmp_path / "run" / "checkpoint.stale.pt").exists()
    assert (tmp_path / "run" / "checkpoint.stale2.pt").exists()


def test_paths_spelled_otherwise_resume_the_checkpoint(tmp_path, monkeypatch):
    """'./data/mnist' is 'data/mnist' and './equations/lif.yaml' is 'equations/lif.yaml': an
    interrupted run given them resumes rather than starting over."""
    monkeypatch.chdir(ROOT)
    tr.train(tiny(tmp_path, epochs=2, data="data/mnist", neuron="equations/lif.yaml"), stop_after=1)
    cfg = tiny(tmp_path, epochs=2, data="./data/mnist", neuron=str(ROOT / "equations/lif.yaml"))
    tr.train(cfg)
    log = (tmp_path / "run" / "train.log").read_text()
    assert "resuming" in log and "changed" not in log


def test_another_test_subset_resumes_the_checkpoint(tmp_path, uninterrupted):
    """The test images are scored after the training only: a run resumed with another
    --test-subset trains on (it started over before), and scores that many."""
    tr.train(tiny(tmp_path, "resumed"), stop_after=1)
    resumed = tr.train(tiny(tmp_path, "resumed", test_subset=100))
    log = (tmp_path / "resumed" / "train.log").read_text()
    assert "resuming" in log and "changed" not in log
    _same_training(uninterrupted[1], tmp_path / "resumed")
    assert resumed["n_samples"] == 100


def test_bad_data_option_keeps_the_checkpoint_and_a_damaged_one_is_set_aside(tmp_path):
    """A typo in --data is refused before the checkpoint is compared (it stays resumable); a
    checkpoint that cannot be read is moved aside and training starts over."""
    tr.train(tiny(tmp_path, epochs=2), stop_after=1)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    with pytest.raises(BioclfError):
        tr.train(tiny(tmp_path, epochs=2, data=str(tmp_path / "no_such_data")), stop_after=1)
    assert ckpt.exists() and not (tmp_path / "run" / "checkpoint.stale.pt").exists()
    assert "resuming" not in (tmp_path / "run" / "train.log").read_text()
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    assert tr.train(tiny(tmp_path, epochs=2), stop_after=1) == {"interrupted": 1}
    assert "cannot be read" in (tmp_path / "run" / "train.log").read_text()
    assert (tmp_path / "run" / "checkpoint.stale.pt").stat().st_size == 100


def test_checkpoint_written_for_an_edited_neuron_file_is_set_aside(tmp_path):
    """The pipeline reruns a finished job after its equation file changed: train anew."""
    neuron = tmp_path / "lif.yaml"
    neuron.write_text((EQUATIONS / "lif.yaml").read_text())
    tr.train(tiny(tmp_path, epochs=1, neuron=str(neuron)))
    trained_text = neuron.read_text()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["neuron_files"] == {str(neuron): trained_text}
    neuron.write_text(trained_text.replace("tau_m: 100*ms", "tau_m: 20*ms"))
    # The trained weights are not run on the edited neuron (evaluation, export to Brian2).
    with pytest.raises(ResultFileError, match="neuron.*has changed since this network was trained"):
        load_model(tmp_path / "run" / "model.pt")
    edited = tr.train(tiny(tmp_path, epochs=1, neuron=str(neuron)))
    assert (tmp_path / "run" / "checkpoint.stale.pt").exists()
    assert "the model in" in (tmp_path / "run" / "train.log").read_text()
    fresh = tr.train(tiny(tmp_path, "fresh", epochs=1, neuron=str(neuron)))
    a = torch.load(tmp_path / "run" / "model.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "fresh" / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert edited["accuracy"] == fresh["accuracy"]


def test_checkpoint_of_older_training_code_is_set_aside(tmp_path, monkeypatch):
    tr.train(tiny(tmp_path, epochs=2), stop_after=1)
    monkeypatch.setattr(tr, "VERSION", tr.VERSION + 1)
    assert tr.train(tiny(tmp_path, epochs=2), stop_after=1) == {"interrupted": 1}
    assert "(changed: the training code version)" in (tmp_path / "run" / "train.log").read_text()
    assert (tmp_path / "run" / "checkpoint.stale.pt").exists()


def test_cli_errors_exit_2(tmp_path, capsys):
    assert tr.main(["--arch", "rnn", "--out", str(tmp_path / "x")]) == 2
    assert "arch" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("hiden: 100\n")
    assert tr.main(["--config", str(bad), "--out", str(tmp_path / "y")]) == 2
    assert f"{bad}: field 'hiden': unknown option (did you mean 'hidden'? known: T, arch," in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):  # argparse's usage error (exit status 2)
        tr.parse_args(["--test", "flase", "--out", str(tmp_path / "z")])
    assert "--test: expected true or false, got 'flase'" in capsys.readouterr().err
    assert tr.parse_args(["--test", "False", "--out", str(tmp_path / "z")]).test is False


@pytest.mark.parametrize("t_ref, refused", [("500*ms", True), ("125*ms", True), ("120*ms", False)])
def test_a_refractory_period_as_long_as_the_presentation_is_refused(
    tmp_path, capsys, t_ref, refused
):
    """t_ref of 500 ms (a slip for 5 ms) at T = 25 steps of 5 ms: every neuron could fire once
    per image at most. Refused in one line naming the file and the parameter, before any output
    directory is made; 24 steps (120 ms) still train."""
    neuron = tmp_path / "lif.yaml"
    text = (EQUATIONS / "lif.yaml").read_text()
    assert "t_ref: 5*ms" in text
    neuron.write_text(text.replace("t_ref: 5*ms", f"t_ref: {t_ref}"))
    out = tmp_path / "run"
    argv = ["--neuron", str(neuron), "--hidden", "4", "--epochs", "1", "--train-subset", "64"]
    argv += ["--test", "false", "--out", str(out)]
    assert tr.main(argv) == (2 if refused else 0)
    err = capsys.readouterr().err
    if refused:
        assert err.startswith(f"error: equation file {neuron}: field 'parameters.t_ref': ")
        assert "not shorter than the presentation (25 steps, 125 ms)" in err
        assert len(err.splitlines()) == 1 and not out.exists()


def test_time_steps_whose_input_spikes_cannot_fit_are_refused_before_the_run(
    tmp_path, capsys, monkeypatch
):
    """--T 100000000 worked silently for a long time, then ran out of memory: a run whose
    largest batch's input spikes alone exceed the memory available is refused at once, naming
    T and where it came from; one that fits, or a twin (no spikes), goes on."""
    out = tmp_path / "big"
    assert tr.main(["--T", "100000000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "field 'T'" in err and "input spikes" in err and len(err.splitlines()) == 1
    assert not out.exists()
    cpu = torch.device("cpu")
    cfg = tiny(tmp_path, T=1000, batch_size=50, eval_batch_size=100)
    need = 5 * 1000 * 100 * 784  # bool and float32 spikes of the evaluation batch
    assert tr.input_spike_bytes(cfg) == need
    assert tr.input_spike_bytes(dataclasses.replace(cfg, test=False)) == need // 2
    monkeypatch.setattr(tr, "available_memory", lambda: need)
    tr.check_memory(cfg, cpu)
    monkeypatch.setattr(tr, "available_memory", lambda: need - 1)
    with pytest.raises(ConfigError, match=r"options.yaml: field 'T': 1000 time steps"):
        tr.check_memory(cfg, cpu, {"T": "options.yaml"})
    tr.check_memory(dataclasses.replace(cfg, spiking=False), cpu)
    monkeypatch.setattr(tr, "available_memory", lambda: None)  # unknown: not refused
    tr.check_memory(cfg, cpu)


def test_an_empty_test_set_is_refused_naming_its_file(tmp_path):
    """A test set without images failed with a traceback (reshaping an empty array; the
    evaluation's per-batch variables were never set): a data error naming the file."""
    from bioclf.data import SPLIT_FILES, load_split, write_idx
    from bioclf.errors import DataError
    from bioclf.surrogate.data import load_data
    from bioclf.surrogate.evaluate import evaluate

    root = tmp_path / "data"
    root.mkdir()
    for split, (images, labels) in SPLIT_FILES.items():
        ds = load_split(ROOT / "data" / "mnist", split)
        n = 0 if split == "test" else 20
        write_idx(root / f"{images}.gz", ds.images[:n])
        write_idx(root / f"{labels}.gz", ds.labels[:n])
    cfg = tiny(tmp_path, data=str(root), data_name="other", train_subset=0)  # (all 20)
    assert len(load_data(cfg, "train")[1]) == 20
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: holds no images"):
        load_data(cfg, "test")
    with pytest.raises(ValueError, match="no samples"):
        evaluate(build(cfg), np.zeros((0, 784)), np.zeros(0, dtype=int), dataclasses.asdict(cfg))


@pytest.mark.parametrize(
    "flags", [["--lr", "0"], ["--lr=-1e-3"], ["--spiking", "false", "--lr", "-0.004"]]
)
def test_a_learning_rate_not_above_0_is_refused_naming_the_option(tmp_path, flags):
    """The spiking network's and its ANN twin's (--spiking false): Adam would run with it."""
    with pytest.raises(tr.ConfigError, match="must be positive") as err:
        tr.parse_args([*flags, "--out", str(tmp_path / "o")])
    assert err.value.field == "lr" and "(command line)" in str(err.value)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_number_option_that_is_not_finite_is_refused_as_such(tmp_path, value):
    """Before: 'expected float, got nan', though nan is a float to whoever typed it."""
    with pytest.raises(tr.ConfigError) as err:
        tr.parse_args([f"--lr={value}", "--out", str(tmp_path / "o")])
    assert str(err.value) == (
        f"configuration (command line): field 'lr': must be a finite number, got {value}"
    )


@pytest.mark.parametrize(
    "name, reason", [("missing.yaml", "does not exist"), (".", "is a directory, not an equation")]
)
def test_a_neuron_file_that_is_not_a_file_is_refused_saying_what_it_is(tmp_path, name, reason):
    with pytest.raises(tr.ConfigError, match=reason) as err:
        tr.parse_args(["--neuron", str(tmp_path / name), "--out", str(tmp_path / "o")])
    assert err.value.field == "neuron"


@pytest.mark.parametrize(
    "line, field, reason",
    [
        ("lr: abc", "lr", "expected float"),
        ("lr: .nan", "lr", "must be a finite number, got nan$"),
        ("dt: -.inf", "dt", "must be a finite number, got -inf$"),
        ("hidden: 10.5", "hidden", "expected int"),
        ("test: flase", "test", "expected bool"),
        ("channels: [8, x]", "channels", "expected int"),
        ("surrogate: foo", "surrogate", "must be one of"),
        ("slope: -2", "slope", "must be positive"),
        ("checkpoint_minutes: -1", "checkpoint_minutes", "must be a non-negative number"),
        ("lr: -0.001", "lr", "must be positive"),
    ],
)
def test_bad_option_file_values_are_refused_naming_file_and_field(tmp_path, line, field, reason):
    options = tmp_path / "options.yaml"
    options.write_text(line + "\n")
    with pytest.raises(tr.ConfigError, match=reason) as err:
        tr.parse_args(["--config", str(options), "--out", str(tmp_path / "o")])
    assert str(options) in str(err.value) and f"'{field}'" in str(err.value)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("hidden: [1\n", "not valid YAML at line 2, column 1"),
        ("lr:\t0.01\n", "a tab"),
        (b"hidden: \xff\n", "is not a text file"),
        # YAML keeps the second value without a word: the network trained would not be the one
        # the first line asks for
        ("hidden: 100\nlr: 0.01\nhidden: 400\n", "field 'hidden': given twice (lines 1 and 3)"),
    ],
)
def test_an_unreadable_option_file_is_refused_in_one_line(tmp_path, capsys, text, reason):
    """PyYAML's message, with its excerpt of the file and a caret, took six lines."""
    options = tmp_path / "options.yaml"
    options.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert tr.main(["--config", str(options), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(options) in err and reason in err


def test_option_file_values_are_typed_and_the_command_line_is_named(tmp_path):
    options = tmp_path / "options.yaml"
    options.write_text("lr: 1e-3\nhidden: 400\n")  # PyYAML reads 1e-3 as a string
    cfg = tr.parse_args(["--config", str(options), "--out", str(tmp_path / "o")])
    assert cfg.lr == 1e-3 and isinstance(cfg.lr, float) and cfg.hidden == 400
    with pytest.raises(tr.ConfigError, match="slope") as err:
        tr.parse_args(["--config", str(options), "--slope", "-1", "--out", str(tmp_path / "o")])
    assert "(command line)" in str(err.value)


def test_a_data_dependent_error_names_the_option_file_it_came_from(tmp_path, capsys):
    """A subset larger than the data set, set in a --config file, was blamed on the command
    line; the error names the file (and the command line where the option is given there)."""
    options = tmp_path / "options.yaml"
    options.write_text("train_subset: 60001\n")
    argv = ["--config", str(options), "--out", str(tmp_path / "o")]
    assert tr.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{options}: field 'train_subset': asks for 60001" in err, err
    assert tr.main([*argv, "--train-subset", "60002"]) == 2
    err = capsys.readouterr().err
    assert "(command line): field 'train_subset': asks for 60002" in err, err
    assert not (tmp_path / "o").exists()


def test_config_file_and_load_model(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("arch: fc\nhidden: 16\nepochs: 1\nT: 5\ntrain_subset: 100\n")
    cfg = tr.parse_args(
        ["--config", str(cfg_file), "--out", str(tmp_path / "m"), "--test-subset", "50"]
    )
    assert (cfg.hidden, cfg.T, cfg.test_subset) == (16, 5, 50)
    cfg.threads = 1
    tr.train(cfg)
    net, loaded = load_model(tmp_path / "m" / "model.pt")
    assert loaded.hidden == 16 and net.fc1.out_features == 16
    # (the log said '1 threads')
    assert "on 100 samples, " in (log := (tmp_path / "m" / "train.log").read_text())
    assert ", 1 thread, " in log, log


def test_a_pipeline_configuration_as_option_file_is_refused_saying_so(capsys):
    """The other tasks' --config is the pipeline's configuration; this one's is a flat option
    file: given config/config.yaml, it named 'ann' an unknown option and listed the options."""
    assert tr.main(["--config", str(ROOT / "config" / "config.yaml"), "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert "config.yaml: field 'surrogate': a pipeline configuration" in err, err
    assert "snakemake -n -p" in err


def test_conv_network_forward_backward_and_synops():
    neuron = compile_neuron("equations/lif.yaml", 5e-3)
    torch.manual_seed(0)
    net = SpikingConv(neuron, channels=(4, 8))
    x = (torch.rand(6, 3, 784) < 0.3).float()
    out, spikes, pre = net(x, record=True)
    assert out.shape == (6, 3, 10)
    assert set(spikes) == {"input", "conv1", "conv2", "output"}
    assert [p.shape[2:] for p in pre] == [(1, 28, 28), (4, 12, 12), (8 * 4 * 4,)]
    out.sum().backward()
    assert net.conv1.weight.grad is not None


@pytest.mark.parametrize("stride1, hidden", [(1, 16), (2, 0)])
def test_conv_network_equals_a_step_by_step_loop(stride1, hidden):
    """The network (time folded into the batch, channels-last maps, the C neuron kernel) gives
    the spikes and gradients of the plain loop: one time step at a time through every layer,
    NCHW convolutions, the neuron's PyTorch step function."""
    from bioclf.surrogate.functional import neuron as F

    neuron = compile_neuron("equations/lif.yaml", 5e-3)
    torch.manual_seed(0)
    net = SpikingConv(neuron, channels=(4, 8), hidden=hidden, stride1=stride1).double()
    with torch.no_grad():  # stronger weights, so that every layer spikes
        for p in net.parameters():
            p.mul_(3.0)
    x = (torch.rand(8, 3, 784, generator=torch.Generator().manual_seed(1)) < 0.4).double()
    weights = torch.randn(8, 3, 10, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = net(x)
    grads = torch.autograd.grad((out * weights).sum(), list(net.parameters()))

    pool = torch.nn.functional.max_pool2d
    layers = [m for m in (net.conv1, net.conv2, net.fc_h, net.fc) if m is not None]
    states = [None] * len(layers)
    ref = []
    for t in range(x.shape[0]):
        h = x[t].reshape(3, 1, 28, 28)
        for k, layer in enumerate(layers):
            if k == 2:  # flatten in (C, H, W) order
                h = h.reshape(3, -1)
            w = layer.weight.contiguous()  # plain NCHW weights for the convolutions
            if isinstance(layer, torch.nn.Conv2d):
                z = torch.nn.functional.conv2d(h, w, layer.bias, stride=layer.stride)
            else:
                z = torch.nn.functional.linear(h, w, layer.bias)
            if states[k] is None:
                states[k] = neuron.initial_state(z.shape, dtype=z.dtype)
            h, states[k] = F.step(neuron, states[k], z, "fast_sigmoid")
            if k == 1 or (k == 0 and stride1 == 1):
                h = pool(h, 2)
        ref.append(h)
    ref = torch.stack(ref)
    assert out.sum() > 0 and torch.equal(out, ref)
    ref_grads = torch.autograd.grad((ref * weights).sum(), list(net.parameters()))
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-12)


def test_shift_augmentation_moves_digits_within_bounds():
    x = np.zeros((200, 784))
    x[:, 14 * 28 + 10] = 1.0  # one lit pixel, far from the border
    y = tr.shift_images(x, 2, np.random.default_rng(3))
    rows, cols = np.divmod(y.argmax(1), 28)
    assert np.all(y.sum(1) == 1)  # moved, not lost or duplicated
    assert set(rows - 14) == {-2, -1, 0, 1, 2} and set(cols - 10) == {-2, -1, 0, 1, 2}
    assert np.array_equal(y, tr.shift_images(x, 2, np.random.default_rng(3)))  # seeded
    assert tr.shift_images(x, 0, np.random.default_rng(3)) is x
    with pytest.raises(tr.ConfigError, match="augment_shift"):
        tr.TrainConfig(augment_shift=-1, out="x").check()


def test_conv_hidden_layer_from_config():
    cfg = tr.TrainConfig(arch="conv", channels=(4, 8), stride1=2, conv_hidden=16, out="x")
    cfg.check()
    net = build(cfg)
    out, spikes, pre = net((torch.rand(6, 3, 784) < 0.3).float(), record=True)
    assert out.shape == (6, 3, 10) and spikes["hidden"].shape == (6, 3, 16)
    assert [p.shape[2:] for p in pre][2:] == [(8 * 4 * 4,), (16,)]
    assert net.fc.in_features == 16 and net.fc_h in net.synapse_layers()
    assert build(tr.TrainConfig(arch="conv", channels=(4, 8), out="x")).fc_h is None
    with pytest.raises(tr.ConfigError, match="conv_hidden"):
        tr.TrainConfig(arch="conv", conv_hidden=-1, out="x").check()


@pytest.mark.parametrize("module", ["train", "evaluate", "export_brian"])
def test_every_command_line_option_says_what_it_does(module):
    import importlib

    parser = importlib.import_module(f"bioclf.surrogate.{module}").build_parser()
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert options
    for action in options:
        assert action.help and action.help.strip(), action.option_strings


def test_every_training_option_has_help_and_a_default():
    from bioclf.surrogate.options import HELP, TrainConfig

    names = [f.name for f in fields(TrainConfig)]
    assert sorted(HELP) == sorted(names)
    assert "seconds" in HELP["dt"] and "Hz" in HELP["max_rate"]


def test_help_calls_only_the_required_options_without_a_default():
    """--help said '(no default: here or in --config)' of --data-url and --data-checksums too,
    which are optional (empty: none), as if a run had to give them."""
    import argparse

    from bioclf.surrogate.options import REQUIRED, TrainConfig, add_options

    parser = argparse.ArgumentParser()
    add_options(parser)
    helps = {a.dest: a.help for a in parser._actions if a.dest != "help"}
    without = sorted(name for name, text in helps.items() if "no default" in text)
    assert without == sorted(REQUIRED) == ["out"]
    assert helps["data_url"].endswith("(default: none)")
    assert helps["data_checksums"].endswith("(default: none)")
    TrainConfig(out="x").check()  # optional indeed: the defaults of everything but --out pass
    with pytest.raises(ConfigError, match="'out': an output directory is needed"):
        tr.parse_args(["--arch", "fc"])


def test_help_gives_each_default_as_it_is_typed():
    """--help gave Python's reprs: (default: True) of a {true,false} option, (16, 32) of
    --channels C1 C2, 'fc' in quotes, and None of --slope, whose default is the surrogate's."""
    import argparse

    from bioclf.surrogate.options import add_options

    parser = argparse.ArgumentParser()
    add_options(parser)
    helps = {a.dest: a.help for a in parser._actions if a.dest != "help"}
    assert helps["spiking"].endswith("(default: true)") and helps["test"].endswith("true)")
    assert helps["channels"].endswith("(default: 16 32)")
    assert helps["arch"].endswith("(default: fc)")
    assert helps["slope"].endswith("(default: 25 for fast_sigmoid, 2 for atan)")
    assert not [name for name, text in helps.items() if "None" in text or "'" in text[-12:]]


def _network_pair(device: str, impl: str):
    """A float64 784-24-10 network and its copy on `device`, the copy's neurons run by `impl`."""
    cfg = tr.TrainConfig(arch="fc", hidden=24, T=12, out="x")
    net = build(cfg).double()
    with torch.no_grad():
        net.fc1.weight.mul_(4.0)  # every layer spikes
        net.fc2.weight.mul_(4.0)
    other = copy.deepcopy(net).to(device)
    for layer in (other.lif1, other.lif2):
        layer.impl = impl
    return net, other


#: The smallest distance from the threshold (in units of the model's threshold scale) that a
#: membrane value of `_compare_paths` may have. The paths round differently (cuBLAS and the
#: CPU's BLAS sum in other orders, PyTorch's CUDA ops may fuse multiply-adds): in float64 the
#: membrane values differ by ~1e-14 of that scale at most, so a value this far from the
#: threshold spikes alike on both, and any spike that differs is a bug, not rounding.
THRESHOLD_CLEARANCE = 1e-9


def _threshold_margins(net, x: torch.Tensor) -> torch.Tensor:
    """|distance from the threshold| of every membrane value `net` tests on `x` (every neuron
    and step of both layers, in threshold-scale units), from a copy on the CPU run by the
    PyTorch step functions, which give the spikes of every path."""
    probe, seen = copy.deepcopy(net).cpu(), []
    for layer in (probe.lif1, probe.lif2):
        neuron = layer.neuron

        def margin(*state, _margin=neuron.margin, _scale=neuron.threshold_scale):
            (value,) = _margin(*state)
            seen.append((value / _scale).abs().flatten())
            return (value,)

        layer.neuron = dataclasses.replace(neuron, margin=margin)
        layer.impl = "fused"
    with torch.no_grad():
        probe(x.cpu())
    return torch.cat(seen)


def _compare_paths(device: str, impl: str) -> None:
    net, other = _network_pair(device, impl)
    gen = torch.Generator().manual_seed(3)
    x = (torch.rand(12, 6, 784, generator=gen) < 0.3).double()
    y = torch.randint(0, 10, (6,), generator=gen)
    # Exact equality of the spikes below is sound only if no membrane value lies within
    # rounding of the threshold; this input is checked to have none (change the seed if a
    # change of the model or network brings one there).
    margins = _threshold_margins(net, x)
    assert len(margins) == 12 * 6 * (24 + 10)
    assert margins.min() > THRESHOLD_CLEARANCE, f"a membrane value at {margins.min():.2e}"
    results = []
    for model in (net, other):
        xd = x.to(device) if model is other else x
        out, spikes, _ = model(xd, record=True)
        loss = torch.nn.functional.cross_entropy(out.sum(0), y.to(xd.device))
        loss.backward()
        results.append(
            ({k: v.cpu() for k, v in spikes.items()}, [p.grad.cpu() for p in model.parameters()])
        )
    (spikes0, grads0), (spikes1, grads1) = results
    assert spikes0["hidden"].sum() > 50 and spikes0["output"].sum() > 5
    for name in spikes0:
        torch.testing.assert_close(spikes1[name], spikes0[name], rtol=0, atol=0)
    assert any(g.abs().sum() > 0 for g in grads0)
    for g0, g1 in zip(grads0, grads1, strict=True):
        torch.testing.assert_close(g1, g0, rtol=1e-7, atol=1e-10)


def test_pytorch_step_functions_equal_the_compiled_kernel_on_cpu():
    """The comparison of the CUDA test below, run here: the compiled C kernel against the
    PyTorch step functions that run on CUDA ('fused'), both on the CPU."""
    _compare_paths("cpu", "fused")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (PyTorch finds none)")
@pytest.mark.parametrize("impl", ["fused", "kernel"])
def test_cuda_path_equals_cpu_path(impl):
    """The network on CUDA gives the spikes of the compiled C kernel on the CPU, and the same
    gradients to float64 rounding: with the PyTorch step functions ('fused') and with the
    generated CUDA kernel ('kernel', the default), which must build and pass its own check
    against the CPU kernel where nvcc is found."""
    if impl == "kernel":
        from bioclf.surrogate.compile import compile_neuron
        from bioclf.surrogate.cuda_kernels import cuda_kernel_for, nvcc

        if nvcc() is None:
            pytest.skip("no nvcc: the CUDA kernel cannot be built ('kernel' runs 'fused')")
        neuron = compile_neuron("equations/lif.yaml", 5e-3)
        assert cuda_kernel_for(neuron, torch.device("cuda")) is not None
    _compare_paths("cuda", impl)


def test_device_option(tmp_path, capsys):
    from bioclf.surrogate.options import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="'device'"):
        tr.TrainConfig(device="tpu", out="x").check()
    if torch.cuda.is_available():
        pytest.skip("the refusal of 'cuda' needs a machine without a GPU")
    with pytest.raises(ConfigError, match="'device'.*no CUDA GPU"):
        resolve_device("cuda")
    assert tr.main(["--device", "cuda", "--out", str(tmp_path / "o"), "--epochs", "1"]) == 2
    assert "device" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything was written


def _other_data_set(root):
    """MNIST's first images, inverted, under MNIST's file names: another data set of the same
    layout (as Fashion-MNIST is); returns the md5 of each uncompressed file."""
    import hashlib

    from bioclf.data import SPLIT_FILES, encode_idx, load_split, write_idx

    root.mkdir(parents=True, exist_ok=True)
    checksums = {}
    for split, (images_base, labels_base) in SPLIT_FILES.items():
        ds = load_split(ROOT / "data" / "mnist", split)
        for base, array in ((images_base, 255 - ds.images[:600]), (labels_base, ds.labels[:600])):
            write_idx(root / f"{base}.gz", array)
            checksums[base] = hashlib.md5(encode_idx(array)).hexdigest()
    return checksums


def test_another_data_set_is_read_with_its_own_name_and_checksums(tmp_path):
    """The data set's name and checksums reach the surrogate side (the pipeline passes the
    configuration's data section): another data set is not held to MNIST's checksums, and
    its own are verified."""
    from bioclf.errors import DataError

    root = tmp_path / "other"
    checksums = _other_data_set(root)
    kw = dict(data=str(root), epochs=1, train_subset=100, test_subset=50)
    with pytest.raises(DataError, match="checksum mismatch"):  # held to MNIST's: refused
        tr.train(tiny(tmp_path, "as_mnist", **kw))
    listed = format_checksums(checksums)
    metrics = tr.train(tiny(tmp_path, "other", data_name="other", data_checksums=listed, **kw))
    assert metrics["n_samples"] == 50
    wrong = format_checksums(dict(checksums, **{"t10k-labels-idx1-ubyte": "0" * 32}))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        tr.train(tiny(tmp_path, "wrong", data_name="other", data_checksums=wrong, **kw))
    # an option file may give them as the configuration does: a mapping (url: null too)
    options = tmp_path / "options.yaml"
    options.write_text(
        json.dumps({"data_name": "other", "data_url": None, "data_checksums": checksums})
    )
    cfg = tr.parse_args(["--config", str(options), "--out", str(tmp_path / "o")])
    assert cfg.data_set() == {"name": "other", "checksums": checksums, "url": None}
    with pytest.raises(tr.ConfigError, match="data_checksums"):
        tr.parse_args(["--data-checksums", "t10k-labels-idx1-ubyte=abc", "--out", "o"])
    with pytest.raises(tr.ConfigError, match="'t10k-labels' is not a file of the data set"):
        tr.parse_args(["--data-checksums", f"t10k-labels={'0' * 32}", "--out", "o"])


def test_a_bad_test_file_is_refused_before_training(tmp_path):
    """With --test true the test images are read before the first epoch, not after the last."""
    import shutil

    from bioclf.errors import DataError

    root = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "mnist", root)
    damaged = root / "t10k-images-idx3-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:5000])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: gzip stream is truncated"):
        tr.train(tiny(tmp_path, data=str(root)))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # no epoch was trained


def test_the_device_description_says_how_the_neurons_ran():
    from bioclf.surrogate.options import describe_device

    cpu = torch.device("cpu")
    assert describe_device(cpu, build(tr.TrainConfig(spiking=False))) == "cpu"  # no neurons
    # a refractory period too long for the kernels: the PyTorch step functions ran, not C
    slow = build(tr.TrainConfig(dt=1e-7, max_rate=1.0))
    assert describe_device(cpu, slow) == "cpu (PyTorch step functions)"
    if kernels._compiler():
        assert describe_device(cpu, build(tr.TrainConfig())) == "cpu (compiled C neuron kernels)"


def test_missing_test_files_are_refused_before_training(tmp_path):
    data = tmp_path / "train_only"
    data.mkdir()
    for f in (ROOT / "data" / "mnist").glob("train-*"):
        (data / f.name).symlink_to(f)
    with pytest.raises(BioclfError, match="test file"):
        tr.train(tiny(tmp_path, data=str(data), epochs=1))
    assert not (tmp_path / "run" / "checkpoint.pt").exists()  # refused before any epoch
    assert tr.train(tiny(tmp_path, data=str(data), epochs=1, test=False)) == {"trained": 1}


def test_ctrl_c_ends_training_in_one_line_and_it_resumes(tmp_path):
    """``python -m bioclf.surrogate.train`` interrupted by Ctrl-C says how to resume (exit
    130), without a traceback, and the same command resumes after the last epoch."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "bioclf.surrogate.train", "--arch", "fc", "--hidden", "8"]
    command += ["--T", "5", "--train-subset", "200", "--epochs", "1000", "--test", "false"]
    command += ["--threads", "1", "--log-every", "1000", "--out", str(out)]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=sigint_default,
    )
    _, err = ctrl_c(
        proc, lambda: any(line.startswith("epoch 2 done") for line in proc.stderr), timeout=120
    )
    assert proc.returncode == 130, err
    assert "interrupted; run the same command again to resume" in err
    assert "Traceback" not in err
    proc = subprocess.Popen(
        command, cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        first = next(line for line in proc.stderr if not line.startswith("note"))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert first.startswith(f"resuming from {out / 'checkpoint.pt'} after epoch ")
