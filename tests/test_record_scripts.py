"""The scripts that write run records (``bench/stdp_validate.py --record``,
``bench/record_run.py``), without training anything."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, bench_script

from bioclf import run_records, tasks
from bioclf.errors import ConfigError, ResultFileError


def _script(name: str):
    return bench_script(ROOT / "bench" / f"{name}.py")


@pytest.fixture(scope="module")
def validate():
    return _script("stdp_validate")


def _no_training(monkeypatch, validate):
    def refuse(*args, **kwargs):
        raise AssertionError("a run started")

    monkeypatch.setattr(validate, "variant_config", refuse)
    monkeypatch.setattr(validate, "module", refuse)


def test_stdp_validate_help_says_what_an_override_is(validate, capsys):
    """The README's table gives stdp_validate commands with overrides (cfg:stdp.models.exc=...):
    --help says what they and the name are (every argument has help: test_tasks)."""
    with pytest.raises(SystemExit) as exc:
        validate.parse_args(["--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for form in ("FILE:PARAMETER=VALUE", "cfg:KEY.SUB=VALUE", "bench/out/validate/NAME/"):
        assert form in text


@pytest.mark.parametrize("name", ["../../etc", "a/b", "..", ""])
def test_a_name_that_is_not_one_folder_is_refused_before_training(
    validate, monkeypatch, capsys, name
):
    """Before: `../../etc` trained into bench/etc/, outside bench/out/validate/."""
    _no_training(monkeypatch, validate)
    with pytest.raises(SystemExit) as exc:
        validate.main([name, "--seed", "0"])
    assert exc.value.code == 2
    assert "argument name: must be one folder name" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option, value, reason",
    [
        ("--seed", "-1", "must be in [0, 2**32), got -1"),
        ("--n-exc", "0", "must be a positive integer, got 0"),
        ("--epochs", "0", "must be a positive integer, got 0"),
    ],
)
def test_a_bad_training_option_is_refused_before_the_variant_is_written(
    validate, monkeypatch, capsys, tmp_path, option, value, reason
):
    """Before: the variant's config.yaml was written, and bioclf.stdp.train refused the value."""
    monkeypatch.setattr(validate, "OUT", tmp_path)
    monkeypatch.setattr(validate, "module", lambda *a: pytest.fail("a task started"))
    with pytest.raises(SystemExit) as exc:
        validate.main(["v", option, value])
    assert exc.value.code == 2
    assert f"argument {option}: {reason}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_record_without_test_is_refused_before_training(validate, monkeypatch, capsys, tmp_path):
    """A record holds the test accuracy: without --test the run would end, hours later,
    with nothing to record."""
    _no_training(monkeypatch, validate)
    with pytest.raises(SystemExit) as exc:
        validate.main(["s0", "--seed", "0", "--record", str(tmp_path / "runs.jsonl")])
    assert exc.value.code == 2
    assert "--record needs --test" in capsys.readouterr().err


def test_a_name_already_recorded_is_refused_before_training(validate, monkeypatch, tmp_path):
    _no_training(monkeypatch, validate)
    runs = tmp_path / "runs.jsonl"
    record = {"name": "s0", "seed": 0, "test_accuracy": 0.8, "n_test": 10, "command": "python x"}
    runs.write_text(json.dumps(record | {"commit": "abc1234"}) + "\n")
    with pytest.raises(ResultFileError, match="runs.jsonl: field 'name': 's0': already recorded"):
        validate.main(["s0", "--test", "--record", str(runs)])


def test_a_bad_record_file_or_run_name_is_refused_as_given(
    validate, record_run, monkeypatch, tmp_path, capsys
):
    """Before: the record file was named by its absolute path where a relative one was given,
    a directory given for it ended in a traceback (IsADirectoryError), and a run's name with
    a space was refused as field 'name' of the record file, which was not at fault."""
    _no_training(monkeypatch, validate)
    monkeypatch.chdir(tmp_path)
    record = {"name": "s0", "seed": 0, "test_accuracy": 0.8, "n_test": 10, "command": "python x"}
    Path("runs.jsonl").write_text(json.dumps(record | {"commit": "abc1234"}) + "\n")
    with pytest.raises(ResultFileError) as err:
        validate.main(["s0", "--test", "--record", "runs.jsonl"])
    assert str(err.value) == "runs.jsonl: field 'name': 's0': already recorded (one record per run)"
    Path("runs").mkdir()

    def both(name: str, file: str):  # the two scripts' commands with this name and file
        metrics = ["--seed", "0", "--metrics", "m.json", "--record", file, "--", "python", "x"]
        yield validate.main, [name, "--test", "--record", file]
        yield record_run.main, ["--name", name, *metrics]

    for main, argv in both("s1", "runs"):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert "error: argument --record: runs is a directory" in capsys.readouterr().err
    for main, argv in both("s 1", "runs.jsonl"):
        with pytest.raises(ConfigError) as err:
            main(argv)
        assert str(err.value) == (
            "configuration (command line): field 'name': 's 1': expected a non-empty string "
            "without spaces"
        )


@pytest.mark.parametrize(
    "argv, command",
    [
        (["sS", "--seed", "3", "--test", "--record", "r.jsonl"], "sS --seed 3 --test"),
        (["--record=r.jsonl", "t1", "--test", "cfg:a=b c"], "t1 --test 'cfg:a=b c'"),
        (["s1", "--rec", "r.jsonl", "--test"], "s1 --test"),  # as argparse reads it
        (["s1", "--test", "--", "--record"], "s1 --test -- --record"),  # no option after --
    ],
)
def test_the_recorded_command_is_the_one_typed_without_record(validate, argv, command):
    assert validate.recorded_command(argv) == f"python bench/stdp_validate.py {command}"


def _fake_run(monkeypatch, validate, out: Path):
    """stdp_validate's steps replaced by ones that write what they would (accuracy 0.75)."""
    monkeypatch.setattr(validate, "OUT", out)
    monkeypatch.setattr(validate, "variant_config", lambda *a: out / "config.yaml")

    def module(task, *args):
        where = Path(args[args.index("--out") + 1])
        where.mkdir(parents=True, exist_ok=True)
        if task == "bioclf.stdp.train":
            (where / "train_metrics.json").write_text('{"epochs": 1}')
        elif task == "bioclf.stdp.assign":
            np.save(where / "assignment.npy", np.zeros(4, dtype=int))
        else:
            metrics = {"accuracy": 0.75, "n_test": 8, "provenance": {"machine": "cpu x"}}
            (where / "metrics.json").write_text(json.dumps(metrics))

    monkeypatch.setattr(validate, "module", module)
    n = validate.N_VAL + 1
    monkeypatch.setattr(
        validate.cfgmod, "load", lambda path: {"stdp": {"n_train": n, "n_assign": 1}}
    )
    images = np.zeros((n, 1))
    monkeypatch.setattr(validate.setup, "data", lambda *a: (images, np.zeros(n, dtype=int)))
    counts = {"counts": np.zeros((validate.N_VAL, 4))}
    monkeypatch.setattr(validate, "run_frozen", lambda *a: (None, counts, None))


def test_a_recorded_run_appends_its_record(validate, monkeypatch, tmp_path):
    """The run's results.jsonl line, its test metrics, the command without --record, and the
    commit; a record file given relative to where the command ran (the script changes to the
    project root)."""
    _fake_run(monkeypatch, validate, tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    argv = ["s2", "--seed", "2", "--record", "runs.jsonl", "--test", "cfg:x=1"]
    assert validate.main(argv) == 0
    (record,) = run_records.load(tmp_path / "runs.jsonl").values()
    line = json.loads((tmp_path / "out" / "results.jsonl").read_text())
    assert record == line | {
        "n_test": 8,
        "command": "python bench/stdp_validate.py s2 --seed 2 --test cfg:x=1",
        "commit": record["commit"],
        "processor": "cpu x",
    }
    assert line["test_accuracy"] == 0.75 and line["overrides"] == ["cfg:x=1"]
    assert list(record)[:6] == list(run_records.REQUIRED)
    assert run_records.COMMIT.fullmatch(record["commit"])
    monkeypatch.chdir(tmp_path)  # (main went to the project root)
    with pytest.raises(ResultFileError, match="'s2': already recorded"):  # a run, one record
        validate.main(argv)


@pytest.fixture(scope="module")
def record_run():
    return _script("record_run")


def _metrics(tmp_path, **metrics):
    path = tmp_path / "out" / "metrics.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(metrics))
    return path


SURROGATE = ["python", "-m", "bioclf.surrogate.train", "--seed", "1", "--out", "my out"]


def test_record_run_appends_the_record_of_a_run_of_another_tool(record_run, tmp_path):
    """The surrogate trainer's metrics.json (accuracy, n_samples, config.seed) and the STDP
    evaluation's (n_test, seed)."""
    runs = tmp_path / "runs.jsonl"
    surrogate = _metrics(
        tmp_path, accuracy=0.9784, n_samples=10000, config={"seed": 1}, provenance={"machine": "m"}
    )
    argv = ["--name", "fc1", "--seed", "1", "--metrics", str(surrogate), "--record", str(runs)]
    assert record_run.main([*argv, "--", *SURROGATE]) == 0
    stdp = _metrics(tmp_path, accuracy=0.8551, n_test=10000, seed=0)
    argv = ["--name", "s0", "--seed", "0", "--metrics", str(stdp), "--record", str(runs)]
    assert record_run.main([*argv, "--", "python", "x.py"]) == 0
    records = run_records.load(runs)
    assert records["fc1"] == {
        "name": "fc1",
        "seed": 1,
        "test_accuracy": 0.9784,
        "n_test": 10000,
        "command": "python -m bioclf.surrogate.train --seed 1 --out 'my out'",
        "commit": records["fc1"]["commit"],
        "processor": "m",
    }
    assert run_records.COMMIT.fullmatch(records["fc1"]["commit"])
    assert records["s0"]["n_test"] == 10000 and "processor" not in records["s0"]


def test_record_run_takes_the_commit_the_metrics_name(record_run, tmp_path, monkeypatch):
    """A run recorded from another checkout, or after the code changed, keeps the commit of
    the code that ran it (``provenance.commit``, which the tasks write); where git cannot
    tell the checkout's, it is not asked for."""
    runs = tmp_path / "runs.jsonl"
    monkeypatch.setattr(record_run.run_records, "commit", lambda *a: pytest.fail("asked"))
    metrics = _metrics(
        tmp_path, accuracy=0.5, n_samples=8, config={"seed": 1}, provenance={"commit": "abc1234"}
    )
    argv = ["--name", "fc1", "--seed", "1", "--metrics", str(metrics), "--record", str(runs)]
    assert record_run.main([*argv, "--", *SURROGATE]) == 0
    assert run_records.load(runs)["fc1"]["commit"] == "abc1234"


@pytest.mark.parametrize(
    "change, error",
    [
        ({"name": "fc1"}, "runs.jsonl: field 'name': 'fc1': already recorded"),
        ({"seed": "2"}, r"metrics.json: the run's seed is 1, not --seed 2"),
        ({"metrics": {"accuracy": 0.9}}, r"metrics.json: no 'accuracy' and 'n_samples'"),
        ({"metrics": [0.9]}, r"metrics.json: not a JSON object"),
        ({"metrics": {"accuracy": 97.8, "n_samples": 5}}, r"'test_accuracy': line 2: 97.8"),
        (
            {"metrics": {"accuracy": 0.9, "n_samples": 5, "provenance": {"commit": "v1.0"}}},
            r"metrics.json: field 'provenance.commit': 'v1.0': expected a short git hash",
        ),
    ],
)
def test_record_run_refuses_a_record_in_one_line(record_run, tmp_path, capsys, change, error):
    runs = tmp_path / "runs.jsonl"
    metrics = _metrics(tmp_path, accuracy=0.9784, n_samples=10000, config={"seed": 1})
    argv = ["--name", "fc1", "--seed", "1", "--metrics", str(metrics), "--record", str(runs)]
    assert record_run.main([*argv, "--", *SURROGATE]) == 0
    before = runs.read_text()
    if "metrics" in change:
        metrics.write_text(json.dumps(change["metrics"]))
    argv = ["--name", change.get("name", "fc2"), "--seed", change.get("seed", "1")]
    argv += ["--metrics", str(metrics), "--record", str(runs), "--", *SURROGATE]
    assert tasks.run(record_run.main, argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and re.search(error, err), err
    assert runs.read_text() == before


def test_record_run_without_a_command_is_refused(record_run, capsys):
    argv = ["--name", "a", "--seed", "0", "--metrics", "m.json", "--record", "r.jsonl"]
    for given in (argv, [*argv, "--"]):
        with pytest.raises(SystemExit) as exc:
            record_run.parse_args(given)
        assert exc.value.code == 2
        assert "the run's command is missing" in capsys.readouterr().err


def test_stdp_validate_refuses_an_override_of_no_file_in_use_in_one_line(
    validate, monkeypatch, tmp_path, capsys
):
    """The default configuration trains with dc_stdp_fast.yaml: 'dc_stdp:...' names no file it
    uses (exit status 2, the files and roles listed); the role form reaches the file in use."""
    monkeypatch.setattr(validate, "OUT", tmp_path)
    base = ROOT / "config" / "config.yaml"
    with pytest.raises(ConfigError, match="no model file or role named 'dc_stdp' in") as err:
        validate.variant_config("v", ["dc_stdp:nu_post=0.08"], base)
    assert "dc_stdp_fast" in str(err.value) and "input_exc" in str(err.value)
    # the configuration named, not the file of an override before (which was 'base' too);
    # nothing written where an override is refused
    with pytest.raises(ConfigError, match=f"in stdp.models of {re.escape(str(base))} "):
        validate.variant_config("v", ["input_exc:nu_post=0.08", "dc_stdp:nu_post=1"], base)
    with pytest.raises(ConfigError, match=f"{re.escape(str(base))} has no section 'stdp.n_tr'"):
        validate.variant_config("v", ["cfg:stdp.n_tr.x=1"], base)
    with pytest.raises(ConfigError, match=r"^configuration \S*missing.yaml: field '\(file\)'"):
        validate.variant_config("v", [], tmp_path / "missing.yaml")
    assert not any(tmp_path.iterdir())
    monkeypatch.setattr(validate, "module", lambda *a: pytest.fail("a task started"))
    assert tasks.run(validate.main, ["v", "nu_post0.08"]) == 2
    assert "expected FILE:PARAMETER=VALUE" in capsys.readouterr().err
    config = validate.variant_config("v", ["input_exc:nu_post=0.08"], base)
    models = yaml.safe_load(config.read_text())["stdp"]["models"]
    edited = yaml.safe_load(Path(models["input_exc"]).read_text())
    assert edited["parameters"] == {"nu_post": "0.08"}
    assert edited["extends"].endswith("equations/dc_stdp_fast.yaml")


def test_labels_overlapping_the_validation_images_are_refused_before_training(
    validate, monkeypatch, tmp_path
):
    """Before: refused after training and assigning (hours), by a SystemExit of exit status 1
    naming neither the file nor the value."""
    monkeypatch.setattr(validate, "OUT", tmp_path)
    monkeypatch.setattr(validate, "module", lambda *a: pytest.fail("a task started"))
    with pytest.raises(ConfigError) as err:
        validate.main(["v", "cfg:stdp.n_assign=50001"])
    assert str(err.value) == (
        f"configuration {tmp_path / 'v' / 'config.yaml'}: field 'stdp.n_assign': labels from "
        "the first 50001 training images would overlap the validation images, the last 10000 "
        "of the 60000 of stdp.n_train"
    )
    with pytest.raises(ConfigError) as err:  # no training image left for labels
        validate.main(["w", "cfg:stdp.n_train=10000", "cfg:stdp.n_assign=100"])
    assert "field 'stdp.n_train': 10000 training images: the validation images are the last" in (
        str(err.value)
    )


def test_stdp_validate_ends_with_the_status_of_a_task_that_refused_its_input(
    validate, tmp_path, capsys
):
    """A task refusing its input (exit status 2, one line) ends the script with that status,
    not with a traceback of its own."""
    with pytest.raises(SystemExit) as exc:
        validate.module(
            "bioclf.data.check", "--config", tmp_path / "missing.yaml", "--out", tmp_path
        )
    assert exc.value.code == 2
