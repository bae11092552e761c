"""Reset between samples, and label assignment and test responses split into shards."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest
import yaml
from brian2 import ms
from conftest import DC_MODELS, ROOT

from bioclf import config as cfgmod
from bioclf import tasks
from bioclf.brian import backends
from bioclf.encoding import hashrng
from bioclf.errors import ConfigError, ResultFileError
from bioclf.io import write_json
from bioclf.stdp import assign, frozen, merge, setup, shards
from bioclf.stdp.protocol import Models, Protocol
from bioclf.stdp.simulate import Simulator

N_EXC, N_SAMPLES = 6, 5


def _config(tmp_path, reset=True, n_shards=1) -> dict:
    """The smoke configuration on the runtime backend with a shortened presentation."""
    cfg = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    cfg["data"]["root"] = str(ROOT / "data" / "mnist")
    cfg["build"] = str(tmp_path / "build")
    cfg["stdp"].update(backend="runtime", chunk=2, n_assign=N_SAMPLES, n_test=N_SAMPLES)
    cfg["stdp"]["models"] = {k: str(v) for k, v in DC_MODELS.items()}
    cfg["stdp"]["protocol"].update(
        present="40*ms", rest="20*ms", max_intensity=4, reset_between_samples=reset
    )
    cfg["stdp"]["shards"] = n_shards
    return cfgmod.validate(cfg)


def _config_file(cfg: dict, tmp_path):
    """`cfg` written to a file, for a task's --config."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _evaluate(config: str, trained, assignment, responses, out) -> int:
    """`bioclf.stdp.evaluate` run as a task (exit status 2 for a refused file)."""
    from bioclf.stdp import evaluate

    argv = ["--config", config, "--trained", str(trained), "--assignment", str(assignment)]
    argv += ["--responses", str(responses)] if responses is not None else []
    argv += ["--out", str(out)]
    return tasks.run(evaluate.main, argv)


def _trained(cfg: dict, tmp_path):
    """A 'trained' network directory: the initial state, with v and the conductances moved off
    their initial values so that the reset has something to undo."""
    sim = Simulator(
        setup.models(cfg), setup.protocol(cfg), N_EXC, 2, 0, backends.Backend("runtime"), "init"
    )
    state = sim.initial_state
    sim.cleanup()
    state["exc.v"] = state["exc.v"] + 0.03  # 30 mV above the initial -105 mV
    state["exc.ge"] = np.full(N_EXC, 0.5)
    out = tmp_path / "trained"
    out.mkdir()
    np.savez(out / "state.npz", **state)
    write_json(out / "train_metrics.json", {"backend": "runtime", "n_exc": N_EXC, "seed": 0})
    return out


def test_shards_merged_equal_the_unsharded_run(tmp_path, monkeypatch, capsys):
    """With the reset, shards [0, 2) + [2, 5) (in chunks of 2) give the responses and the
    label assignment of the whole run, bit for bit. Run again, a run its checkpoint shows
    finished is read, its network not built again, with the same result; one of another
    trained state is built and run."""
    cfg = _config(tmp_path)
    trained = _trained(cfg, tmp_path)
    whole = frozen.assign(cfg, trained, tmp_path / "assign", N_SAMPLES)
    full = frozen.respond(cfg, trained, tmp_path / "test", N_SAMPLES, "network_test")
    assert full["counts"].sum() > 0 and len(np.unique(full["counts"].sum(1))) > 1
    # labels are assigned on training images, scored on the test set (a swapped split showed
    # both the test images, and whole and sharded runs agreed all the same)
    assigned = np.load(tmp_path / "assign" / shards.ASSIGN_RECORDS)["labels"]
    np.testing.assert_array_equal(assigned, setup.data(cfg, "train", N_SAMPLES, "n")[1])
    np.testing.assert_array_equal(full["labels"], setup.data(cfg, "test", N_SAMPLES, "n")[1])
    assert not np.array_equal(assigned, full["labels"])
    parts = {"assign": [], "test": []}
    for k in range(2):
        for what in parts:
            out = tmp_path / f"{what}{k}"
            parts[what].append(out)
            if what == "assign":
                assert frozen.assign(cfg, trained, out, N_SAMPLES, (k, 2)) is None
            else:
                frozen.respond(cfg, trained, out, N_SAMPLES, "network_test", (k, 2))
    assert shards.bounds(N_SAMPLES, 0, 2) == (0, 2)
    for what, name in (("assign", "assign"), ("respond", "test")):
        out = str(tmp_path / f"m_{name}")
        assert merge.main(["--what", what, "--out", out, *map(str, parts[name])]) == 0
    # each merge ends with the line its unsharded task ends with
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-2] == assign.summary(whole, N_SAMPLES)
    assert lines[-1] == f"joined the responses to {N_SAMPLES} test samples from 2 shards"
    np.testing.assert_array_equal(np.load(tmp_path / "m_assign" / "assignment.npy"), whole)
    for name in ("assign/assign_records.npz", "test/responses.npz"):
        a = np.load(tmp_path / name)
        b = np.load(tmp_path / ("m_" + name))
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            if key != "wall_time_s":
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name} {key}")
        assert frozen.RUN in a.files  # the run's identity: the shards' (merged) is the same
    merged = (tmp_path / "m_assign" / "assign_metrics.json").read_text()
    unsharded = (tmp_path / "assign" / "assign_metrics.json").read_text()
    drop = lambda text: {k: v for k, v in yaml.safe_load(text).items() if k != "wall_time_s"}  # noqa: E731
    assert drop(merged) == drop(unsharded) and frozen.RUN in drop(merged)
    # evaluate takes the merged files (equal to the unsharded ones, run included): their run
    # is this network's
    merged_dirs = tmp_path / "m_assign", tmp_path / "m_test"
    config = _config_file(cfg, tmp_path)
    files = merged_dirs[0] / "assignment.npy", merged_dirs[1] / frozen.RESPONSES
    capsys.readouterr()
    assert _evaluate(config, trained, *files, merged_dirs[1]) == 0
    assert "warning" not in capsys.readouterr().err  # (checked, not skipped as unrecorded)
    assert json.loads((merged_dirs[1] / "metrics.json").read_text())["n_test"] == N_SAMPLES

    built = []
    make = frozen.make_simulator
    monkeypatch.setattr(frozen, "make_simulator", lambda *a: built.append(a) or make(*a))
    before = (tmp_path / "test" / frozen.RESPONSES).read_bytes()
    np.testing.assert_array_equal(
        frozen.assign(cfg, trained, tmp_path / "assign", N_SAMPLES), whole
    )
    again = frozen.respond(cfg, trained, tmp_path / "test", N_SAMPLES, "network_test")
    assert frozen.assign(cfg, trained, parts["assign"][1], N_SAMPLES, (1, 2)) is None
    frozen.respond(cfg, trained, parts["test"][1], N_SAMPLES, "network_test", (1, 2))
    assert built == [] and (tmp_path / "test" / frozen.RESPONSES).read_bytes() == before
    np.testing.assert_array_equal(again["counts"], full["counts"])
    state = dict(np.load(trained / "state.npz"))
    np.savez(trained / "state.npz", **{**state, "exc.v": state["exc.v"] + 1e-3})
    frozen.respond(cfg, trained, tmp_path / "test", N_SAMPLES, "network_test")
    assert len(built) == 1


def test_without_reset_samples_depend_on_their_predecessors(tmp_path):
    """Why shards need the reset: without it the responses of a later shard differ."""
    cfg = _config(tmp_path, reset=False)
    trained = _trained(cfg, tmp_path)
    state = dict(np.load(trained / "state.npz"))
    images, labels = setup.data(cfg, "test", N_SAMPLES, "n")
    trained_as = {"backend": "runtime", "n_exc": N_EXC, "seed": 0}
    sim = frozen.frozen_simulator(cfg, trained_as, setup.models(cfg))
    key = hashrng.key(0, 2, 0)
    _, whole = sim.run_chunk(state, images[:2], 0, key, False)
    _, tail = sim.run_chunk(state, images[1:2], 1, key, False)
    assert not np.array_equal(whole.counts[1:], tail.counts)


def test_a_network_trained_on_cuda_is_refused_where_no_gpu_is_visible(tmp_path, monkeypatch):
    """Its labels and test run on the backend it was trained on (train_metrics.json), which no
    configuration value changes: the error says to run them where a GPU is, not 'use cpp'."""
    from bioclf.brian import backends

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(backends, "gpu_available", lambda: False)
    cfg = _config(tmp_path)
    trained_as = {"backend": "cuda", "n_exc": N_EXC, "seed": 0}
    with pytest.raises(ConfigError) as err:
        frozen.frozen_simulator(cfg, trained_as, setup.models(cfg))
    assert err.value.field.startswith("stdp.backend (the trained network's")
    assert err.value.reason.endswith(
        "(CUDA_VISIBLE_DEVICES=''); run them where a GPU is (a network trained on cpp runs on "
        "the CPU)"
    ), err.value.reason
    assert not (tmp_path / "build" / "stdp" / "cuda").exists()


def test_shards_without_reset_refused(tmp_path):
    with pytest.raises(ConfigError, match="stdp.shards"):
        _config(tmp_path, reset=False, n_shards=2)
    cfg = _config(tmp_path, reset=False)  # one shard: fine; a --shards 2 task is refused
    with pytest.raises(ConfigError, match="reset_between_samples"):
        frozen.respond(cfg, tmp_path, tmp_path / "o", N_SAMPLES, "network_test", (0, 2))
    assert _config(tmp_path, reset=True, n_shards=2)["stdp"]["shards"] == 2


def test_reset_changes_nothing_in_training(tmp_path):
    """The reset only acts where plastic = 0: a training chunk gives the same bits with it."""
    models = Models.load(DC_MODELS)
    x = setup.data(_config(tmp_path), "train", 2, "n")[0]
    results = []
    for reset in (False, True):
        proto = Protocol(
            present=40 * ms, rest=20 * ms, max_intensity=4, reset_between_samples=reset
        )
        sim = Simulator(models, proto, 4, 2, 0, backends.Backend("runtime"), f"train{reset}")
        results.append(sim.run_chunk(sim.initial_state, x, 0, hashrng.key(0, 1, 0), True))
    (s0, r0), (s1, r1) = results
    assert r0.counts.sum() > 0
    np.testing.assert_array_equal(r0.counts, r1.counts)
    assert s0.keys() == s1.keys()
    for key in s0:
        np.testing.assert_array_equal(s0[key], s1[key], err_msg=key)


def test_trained_network_of_other_model_files_is_refused(tmp_path):
    """An exc file that gained a variable since training: assignment and the raster refuse the
    trained state (naming it), instead of a KeyError mid-run."""
    cfg = _config(tmp_path)
    trained = _trained(cfg, tmp_path)
    exc = tmp_path / "exc_more.yaml"
    exc.write_text(
        DC_MODELS["exc"]
        .read_text()
        .replace("dgi/dt = -gi/tau_gi : 1", "dgi/dt = -gi/tau_gi : 1\n  dgx/dt = -gx/tau_gi : 1")
    )
    cfg["stdp"]["models"]["exc"] = str(exc)
    with pytest.raises(ResultFileError) as err:  # (a file the training wrote)
        frozen.assign(cfg, trained, tmp_path / "assign", N_SAMPLES)
    assert err.value.field == "variables" and "exc.gx" in str(err.value)
    assert str(trained / "state.npz") in str(err.value)
    with pytest.raises(ResultFileError, match="exc.gx"):
        frozen.sample_spikes(cfg, trained, 0)


def test_assignment_refuses_models_other_than_the_trained_ones(tmp_path):
    """A network records the content of its model files and its protocol; assignment, testing
    and the raster with other ones are refused, naming the role (before anything is built)."""

    cfg = _config(tmp_path)
    trained = _trained(cfg, tmp_path)
    metrics = json.loads((trained / "train_metrics.json").read_text())
    metrics.update(setup.trained_identity(setup.models(cfg), setup.protocol(cfg)))
    (trained / "train_metrics.json").write_text(json.dumps(metrics))
    frozen.check_trained_with(cfg, metrics, trained, setup.models(cfg))  # the same: accepted
    other = copy.deepcopy(cfg)
    other["stdp"]["models"]["exc"] = str(ROOT / "equations" / "dc_exc_fast.yaml")
    with pytest.raises(ConfigError) as err:
        frozen.assign(other, trained, tmp_path / "assign", N_SAMPLES)
    assert err.value.field == "stdp.models.exc" and "dc_exc_fast.yaml" in str(err.value)
    with pytest.raises(ConfigError, match="stdp.models.exc"):
        frozen.sample_spikes(other, trained, 0)
    other = copy.deepcopy(cfg)
    other["stdp"]["protocol"]["max_intensity"] = 3
    with pytest.raises(ConfigError) as err:
        frozen.respond(other, trained, tmp_path / "test", N_SAMPLES, "network_test")
    assert err.value.field == "stdp.protocol"
    # the build directory is named after the models: other files never share a project
    builds = [setup.backend(c, "cpp", 6, 0, setup.models(c)).build_dir for c in (cfg, other)]
    assert builds[0] != builds[1]


def test_merge_refuses_a_file_that_is_not_a_shard(tmp_path, capsys):
    """An unsharded run's responses (no sample range) given to the merge: one line naming the
    file and what it lacks, exit 2 (was a KeyError traceback)."""
    part = tmp_path / "part"
    part.mkdir()
    np.savez(part / frozen.RESPONSES, counts=np.zeros((2, 3)), labels=np.zeros(2))
    out = str(tmp_path / "out")
    assert tasks.run(merge.main, ["--what", "respond", "--out", out, str(part)]) == 2
    err = capsys.readouterr().err
    assert str(part / frozen.RESPONSES) in err and "lacks the arrays start, stop" in err


def test_merge_refuses_shards_that_are_not_one_run_each_sample_once(tmp_path, capsys):
    """The merge takes only shards that are together the samples 0..n of one run, each once
    and in order: a shard missing, repeated or out of order, one of another trained network,
    protocol or number of samples is refused naming its file (exit 2), never merged into a
    file of fewer or wrong samples. Another chunk size changes no response: merged."""
    cfg = _config(tmp_path)
    trained = _trained(cfg, tmp_path)
    retrained = tmp_path / "retrained"
    shutil.copytree(trained, retrained)
    state = dict(np.load(trained / "state.npz"))
    np.savez(retrained / "state.npz", **{**state, "exc.v": state["exc.v"] + 0.01})

    def shard(name, k, n=N_SAMPLES, network=trained, **stdp):
        c = copy.deepcopy(cfg)
        c["stdp"].update(stdp)
        frozen.respond(c, network, tmp_path / name, n, "network_test", (k, 2))
        return tmp_path / name

    first, last = shard("first", 0), shard("last", 1, chunk=3)
    other_network = shard("other_network", 1, network=retrained)
    other_protocol = shard(
        "other_protocol", 1, protocol={**cfg["stdp"]["protocol"], "rest": "25*ms"}
    )
    of_four = shard("of_four", 0, n=4)  # samples [0, 2) of 4

    def merged(*parts):
        out = ["--out", str(tmp_path / "merged")]
        return tasks.run(merge.main, ["--what", "respond", *out, *map(str, parts)])

    assert merged(first, last) == 0
    assert len(np.load(tmp_path / "merged" / frozen.RESPONSES)["labels"]) == N_SAMPLES
    shard_file = (first / frozen.RESPONSES).read_bytes()
    with pytest.raises(SystemExit) as exit_:  # was merged over the first shard's file
        merge.main(["--what", "respond", "--out", str(first), str(first), str(last)])
    assert exit_.value.code == 2 and "--out must differ from the shards'" in capsys.readouterr().err
    assert (first / frozen.RESPONSES).read_bytes() == shard_file
    for parts, named, reason in [
        ((first,), first, "ends at sample 2 of 5: the shards after it are missing"),
        ((last, first), last, "samples 0 to 1 are in no shard before it"),
        ((first, first, last), first, "starts at sample 0, inside the shards before it"),
        ((first, other_network), other_network, "is a shard of another run"),
        ((first, other_protocol), other_protocol, "is a shard of another run"),
        ((of_four, last), last, "is a shard of 5 samples"),
    ]:
        assert merged(*parts) == 2, parts
        err = capsys.readouterr().err
        assert f"{named / frozen.RESPONSES}: " in err and reason in err, err


def test_a_shard_project_is_copied_from_a_finished_build_without_its_locks(tmp_path):
    """`seed_project` copies the training project while no build of it is under way (it takes
    its build lock) and leaves its lock files and results behind."""
    import os
    import socket
    import subprocess
    import sys
    import time

    from bioclf.brian.locked_run import LOCK_NAME

    cfg = _config(tmp_path)
    trained = tmp_path / "trained"
    trained.mkdir()
    write_json(trained / "train_metrics.json", {"backend": "cpp", "n_exc": N_EXC, "seed": 0})
    build = setup.backend(cfg, "cpp", N_EXC, 0, setup.models(cfg)).build_dir
    source = build / "network"
    (source / "results_0").mkdir(parents=True)
    (source / LOCK_NAME).write_text("1\n")
    (source / "main").write_text("half-linked")
    # copies of other jobs under way (this code's, an older one's): never this job's to use
    others = [build / f".shard0.{socket.gethostname()}.{os.getppid()}.tmp", build / "shard0.tmp"]
    for other in others:
        other.mkdir()
        (other / "main").write_text("being copied")
    builder = (  # another process's build: links main at its end
        f"import sys, time\nsys.path.insert(0, {str(ROOT)!r})\n"
        "from bioclf.brian.buildlock import build_lock\n"
        f"with build_lock({str(source)!r}):\n"
        "    print('building', flush=True)\n"
        "    time.sleep(1)\n"
        f"    open({str(source / 'main')!r}, 'w').write('linked')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-S", "-c", builder], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "building\n"
    start = time.monotonic()
    frozen.seed_project(cfg, trained, "shard0")
    assert proc.wait(timeout=30) == 0 and time.monotonic() - start > 0.5
    assert (build / "shard0" / "main").read_text() == "linked"
    assert sorted(p.name for p in (build / "shard0").iterdir()) == ["main"]
    assert sorted(p.name for p in build.iterdir()) == sorted(
        ["network", "shard0", *(p.name for p in others)]
    )
    assert all((p / "main").read_text() == "being copied" for p in others)
    frozen.seed_project(cfg, trained, "shard0")  # there already: left alone
    assert (build / "shard0" / "main").read_text() == "linked"


def _stated_files(tmp_path, n_assigned: int):
    """A trained network's metrics (N=5, no state) in tmp_path/trained, returned, and an
    assignment of `n_assigned` neurons with its metrics in tmp_path/assign."""
    trained = tmp_path / "trained"
    trained.mkdir()
    write_json(trained / "train_metrics.json", {"backend": "runtime", "n_exc": 5, "seed": 0})
    (tmp_path / "assign").mkdir()
    np.save(tmp_path / "assign" / "assignment.npy", np.zeros(n_assigned, np.int64))
    info = {"n_assign": 1, "neurons_per_class": []}
    write_json(tmp_path / "assign" / "assign_metrics.json", info)
    return trained


def test_evaluate_refuses_an_assignment_of_another_network_before_simulating(
    tmp_path, capsys, monkeypatch
):
    """An --assignment of another network size was found only after the whole test set had
    been simulated (its counts' shape compared); now before, naming both sizes."""
    from bioclf.stdp import evaluate

    monkeypatch.setattr(frozen, "respond", lambda *a, **k: pytest.fail("simulated first"))
    trained = _stated_files(tmp_path, n_assigned=7)
    argv = ["--config", str(ROOT / "config/smoke.yaml"), "--trained", str(trained)]
    argv += ["--assignment", str(tmp_path / "assign" / "assignment.npy")]
    assert tasks.run(evaluate.main, [*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "assignment.npy: assigns 7 neurons; the network trained in" in err and "has 5" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "n, n_exc, reason",
    [
        (3, 5, "array 'labels' of shape (3,): responses to 3 test images; this evaluation's "
         "n_test (stdp.n_test or --n-test) is 200"),
        (200, 7, "array 'counts' of shape (200, 7); expected (200, 5): 200 test images (n_test) "
         "by the 5 excitatory neurons of the network trained in"),
    ],
)  # fmt: skip
def test_evaluate_names_the_responses_file_that_does_not_fit(
    tmp_path, capsys, monkeypatch, n, n_exc, reason
):
    """--responses of another number of test images, or of another network size: the
    responses file and its array named (before: 'configuration ...: field counts', or the
    assignment blamed for the responses' shape)."""
    from bioclf.stdp import evaluate

    monkeypatch.setattr(frozen, "respond", lambda *a, **k: pytest.fail("simulated"))
    trained = _stated_files(tmp_path, n_assigned=5)
    responses = tmp_path / "responses.npz"
    np.savez(
        responses,
        counts=np.zeros((n, n_exc)),
        reps=np.zeros(n),
        labels=np.zeros(n, np.int64),
        spikes=np.zeros(2),
        wall_time_s=np.float64(1),
    )
    argv = ["--config", str(ROOT / "config/smoke.yaml"), "--trained", str(trained)]
    argv += ["--assignment", str(tmp_path / "assign" / "assignment.npy")]
    argv += ["--responses", str(responses), "--out", str(tmp_path / "out")]
    assert tasks.run(evaluate.main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {responses}: {reason}"), err
    assert "configuration" not in err and err.count("\n") == 1


@pytest.mark.parametrize("labels", [np.array(3), np.zeros((3, 1))])
def test_evaluate_names_responses_whose_labels_are_no_list(labels):
    """Labels of another number of dimensions: a one-line error naming the file and the shape
    (a 0-d array raised a TypeError; a column of 3 was called 'responses to 3 test images')."""
    from bioclf.stdp import evaluate

    rec = {"labels": labels, "counts": np.zeros((3, 5))}
    with pytest.raises(ResultFileError) as err:
        evaluate.check_responses(rec, "r.npz", 3, 5, "trained")
    assert str(err.value) == f"r.npz: array 'labels' of shape {labels.shape}; expected (3,): one " \
        "per test image"  # fmt: skip


def test_evaluate_refuses_the_files_of_another_run_of_the_same_shape(tmp_path, capsys, monkeypatch):
    """Responses and an assignment of another trained network (here: trained with another
    seed), of the same shape, were scored: a silently wrong accuracy. Now they are refused
    before anything is simulated, naming the file; this network's are scored, and files
    written before the run's identity was recorded are scored with a one-line warning."""
    n = 2
    cfg = _config(tmp_path)
    cfg["stdp"].update(n_assign=n, n_test=n)
    trained = _trained(cfg, tmp_path)
    other = tmp_path / "other"
    shutil.copytree(trained, other)
    write_json(other / "train_metrics.json", {"backend": "runtime", "n_exc": N_EXC, "seed": 1})
    for network in (trained, other):
        frozen.respond(cfg, network, network / "test", n, "network_test")
        # an assignment as `assign` writes it (that it records what evaluate expects is
        # checked by test_shards_merged_equal_the_unsharded_run)
        run = frozen.expected_identities(cfg, network, {"assign": n})["assign"]
        frozen.write_assignment(network / "assign", np.eye(n, N_EXC), np.zeros(n), [0, 1], 1, run)
    assignment = trained / "assign" / "assignment.npy"
    responses = trained / "test" / frozen.RESPONSES
    others = other / "assign" / "assignment.npy", other / "test" / frozen.RESPONSES
    assert np.load(others[1])["counts"].shape == np.load(responses)["counts"].shape
    config = _config_file(cfg, tmp_path)
    out = tmp_path / "out"
    monkeypatch.setattr(frozen, "respond", lambda *a, **k: pytest.fail("simulated"))
    capsys.readouterr()
    assert _evaluate(config, trained, assignment, responses, out) == 0
    # no warning; the accuracy in one line, as bioclf.surrogate.evaluate gives it (the task
    # said nothing: its log in the pipeline was empty)
    accuracy = json.loads((out / "metrics.json").read_text())["accuracy"]
    scored = f"test accuracy {accuracy:.4f} on {n} samples (labels from {n} training samples)\n"
    assert capsys.readouterr().err == scored
    (out / "metrics.json").unlink()
    for given, named, what in [
        ((assignment, others[1]), others[1], "responses"),
        ((others[0], responses), others[0], "a label assignment"),
        ((others[0], None), others[0], "a label assignment"),  # (before simulating)
    ]:
        assert _evaluate(config, trained, *given, out) == 2, given
        err = capsys.readouterr().err
        assert err.startswith(
            f"error: {named}: {what} of another trained network or other settings than "
            f"{trained} with this configuration"
        ), err
        assert err.count("\n") == 1 and not (out / "metrics.json").exists()
    # this network's files with other settings than they were run with (another protocol)
    other_cfg = copy.deepcopy(cfg)
    other_cfg["stdp"]["protocol"]["max_intensity"] = 3
    other_config = _config_file(other_cfg, other)
    assert _evaluate(other_config, trained, assignment, responses, out) == 2
    assert f"error: {assignment}: a label assignment of another" in capsys.readouterr().err

    # an assignment.npy beside another assignment's metrics (the run those record is not its
    # own), and metrics whose n_assign is no count: refused naming the metrics, in one line
    swapped = tmp_path / "swapped"
    shutil.copytree(trained / "assign", swapped)
    np.save(swapped / "assignment.npy", np.roll(np.load(assignment), 1))
    assert _evaluate(config, trained, swapped / "assignment.npy", responses, out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {swapped / 'assign_metrics.json'}: is not that of "), err
    np.save(swapped / "assignment.npy", np.load(assignment))
    info = json.loads((swapped / "assign_metrics.json").read_text())
    write_json(swapped / "assign_metrics.json", {**info, "n_assign": "2"})
    assert _evaluate(config, trained, swapped / "assignment.npy", responses, out) == 2
    err = capsys.readouterr().err
    metrics = swapped / "assign_metrics.json"  # (before: no colon after the field's name)
    assert err == f"error: {metrics}: field 'n_assign': must be a count of samples, got '2'\n", err
    # more than the data set has: the metrics named (it blamed the configuration's n_assign)
    write_json(swapped / "assign_metrics.json", {**info, "n_assign": 60001})
    assert _evaluate(config, trained, swapped / "assignment.npy", responses, out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {swapped / 'assign_metrics.json'}: field 'n_assign': ") and (
        "from 60001 training images, more than the 60000" in err
    ), err

    # written before the identity was recorded: scored, one warning line naming both files
    old = tmp_path / "old"
    (old / "assign").mkdir(parents=True)
    np.save(old / "assign" / "assignment.npy", np.load(assignment))
    info = json.loads((trained / "assign" / "assign_metrics.json").read_text())
    info.pop(frozen.RUN)
    write_json(old / "assign" / "assign_metrics.json", info)
    arrays = dict(np.load(responses))
    del arrays[frozen.RUN]
    np.savez(old / "responses.npz", **arrays)
    assert (
        _evaluate(config, trained, old / "assign" / "assignment.npy", old / "responses.npz", out)
        == 0
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and err.startswith("warning: ") and "not checked" in err, err
    assert err.endswith(scored), err
    assert str(old / "responses.npz") in err and str(old / "assign" / "assignment.npy") in err
    assert (out / "metrics.json").exists()
