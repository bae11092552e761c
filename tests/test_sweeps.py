"""Parameter sweeps: derived equation files, their checks, and the jobs an edit re-runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from brian2 import ms
from conftest import ROOT, workflow_copy

from bioclf import config as cfgmod
from bioclf import report, report_sweeps, sweeps
from bioclf.equations import load_model
from bioclf.errors import ConfigError

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
SWEEPS = [
    {"file": "equations/lif.yaml", "parameter": "tau_m", "values": ["50*ms", "100*ms"]},
    {"file": "equations/dc_stdp.yaml", "parameter": "nu_post", "values": ["2e-2", "4e-2"]},
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A copy of what the workflow reads, with the smoke configuration and two sweeps."""
    workflow_copy(tmp_path)
    cfg = yaml.safe_load((tmp_path / "config" / "smoke.yaml").read_text())
    cfg["sweeps"] = SWEEPS
    cfg["sweep_budget"] = {"stdp": {"n_train": 100, "n_assign": 50, "n_test": 50}}
    (tmp_path / "config" / "sweep.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _config() -> dict:
    return yaml.safe_load(Path("config/sweep.yaml").read_text())


def test_derived_file_differs_from_the_base_by_one_value(workdir):
    points = sweeps.plan(_config(), "config/sweep.yaml")
    assert {(p.parameter, p.method) for p in points} == {
        ("tau_m", "surrogate"),
        ("nu_post", "stdp"),
    }
    point = next(p for p in points if p.parameter == "tau_m" and p.value == "50*ms")
    derived = point.models["neuron"]
    assert derived.parent.parent == Path("results/sweeps/lif/tau_m/50ms/surrogate/derived")
    assert derived.name == "lif.yaml"
    base, new = load_model("equations/lif.yaml"), load_model(derived)
    assert new.parameters["tau_m"] == 50 * ms
    assert {k: v for k, v in new.parameters.items() if k != "tau_m"} == {
        k: v for k, v in base.parameters.items() if k != "tau_m"
    }
    assert (new.equations, new.threshold, new.reset, new.refractory, new.method) == (
        base.equations,
        base.threshold,
        base.reset,
        base.refractory,
        base.method,
    )
    assert "extends:" in derived.read_text()
    assert Path("equations/lif.yaml").read_text() == (ROOT / "equations/lif.yaml").read_text()


def test_stdp_point_gets_a_config_with_the_derived_model_and_the_budget(workdir):
    point = next(p for p in sweeps.plan(_config(), "config/sweep.yaml") if p.method == "stdp")
    sweeps.write_config(point)
    assert point.config == point.directory / "config.yaml"
    cfg = cfgmod.load(point.config)
    assert cfg["stdp"]["models"]["input_exc"] == str(point.models["input_exc"])
    assert (cfg["stdp"]["n_train"], cfg["stdp"]["n_assign"], cfg["stdp"]["n_test"]) == (
        100,
        50,
        50,
    )
    assert "sweeps" not in cfg and cfg["build"].startswith("build/sweeps/dc_stdp/nu_post/")
    assert float(load_model(point.models["input_exc"]).parameters["nu_post"]) == 0.02


def test_stdp_point_keeps_the_training_schedule_of_its_size(workdir):
    """A schedule of files the sweep does not touch stays in the point's configuration, so the
    point trains as the baseline does; a budget that leaves it no epoch is refused."""
    cfg = _config()
    schedule = [{"epochs": 1, "models": {"exc": "equations/dc_exc_fast.yaml"}}]
    cfg["stdp"]["sizes"] = [{"n": 20, "epochs": 2, "schedule": schedule}]
    cfg["sweeps"] = SWEEPS[1:]  # dc_stdp.yaml, not a file of the schedule
    point = next(p for p in sweeps.plan(cfg, "config/sweep.yaml") if p.method == "stdp")
    sweeps.write_config(point)
    assert cfgmod.load(point.config)["stdp"]["sizes"] == [
        {"n": 20, "epochs": 2, "schedule": schedule}
    ]
    cfg["sweep_budget"]["stdp"]["epochs"] = 1
    with pytest.raises(ConfigError) as err:
        sweeps.plan(cfg, "config/sweep.yaml")
    assert err.value.field == "sweep_budget.stdp.epochs"


def test_a_swept_file_whose_name_needs_quoting_is_refused(workdir):
    """Its name is in its runs' paths, which the sweep jobs' commands take as they are: with a
    space, every sweep job failed (`--config results/sweeps/my stdp/...`, its log redirected to
    a file `results/logs/sweeps/my`) after the start-up checks had passed. A non-ASCII letter,
    which a shell takes as it is, passes."""
    cfg = _config()
    for name in ("my stdp", "dç_stdp"):
        Path(f"equations/{name}.yaml").write_text(Path("equations/dc_stdp.yaml").read_text())
    cfg["stdp"]["models"]["input_exc"] = "equations/my stdp.yaml"
    cfg["sweeps"] = [{**SWEEPS[1], "file": "equations/my stdp.yaml"}]
    with pytest.raises(ConfigError) as err:
        sweeps.plan(cfg, "config/sweep.yaml", write=False)
    assert err.value.field == "sweeps.0.file" and "equations/my stdp.yaml: " in str(err.value)
    cfg["stdp"]["models"]["input_exc"] = cfg["sweeps"][0]["file"] = "equations/dç_stdp.yaml"
    points = sweeps.plan(cfg, "config/sweep.yaml", write=False)
    assert {p.directory.parts[2] for p in points} == {"dç_stdp"}


def test_files_are_rewritten_only_when_their_text_changes(workdir):
    point = sweeps.plan(_config(), "config/sweep.yaml")[0]
    derived = point.models["neuron"]
    os.utime(derived, (1e9, 1e9))
    sweeps.plan(_config(), "config/sweep.yaml")
    assert derived.stat().st_mtime == 1e9


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"values": ["10*mV"]}, ["sweeps.0.values.0", "tau_m", "lif.yaml", "a quantity in s"]),
        ({"parameter": "tau_x"}, ["sweeps.0.parameter", "no parameter 'tau_x'"]),
        ({"file": "equations/nope.yaml"}, ["sweeps.0.file", "does not exist"]),
        ({"file": "equations/dc_inh_exc.yaml", "parameter": "w_ie"}, ["used by no method"]),
        # one run twice, or two runs in one directory
        ({"values": ["10*ms", "10 * ms"]}, ["sweeps.0.values.1", "repeats sweeps.0.values.0"]),
        ({"values": ["10*ms", "0.01*second"]}, ["sweeps.0.values.1", "repeats"]),
        ({"values": ["0.1*ms", "100*us"]}, ["sweeps.0.values.1", "repeats"]),  # (to rounding)
        # legal values that are no variation of the model (ones the loader would take)
        ({"parameter": "R", "values": ["100*Mohm", "0*ohm"]}, ["sweeps.0.values.1", "'0*ohm'"]),
        ({"parameter": "R", "values": ["-1*Mohm"]}, ["sweeps.0.values.0", "other sign"]),
        ({"parameter": "t_ref", "values": ["-1*ms"]}, ["sweeps.0.values.0", "negative"]),
        (
            {"file": "equations/dc_stdp.yaml", "parameter": "wmax", "values": [0]},
            ["sweeps.0.values.0", "wmax", "dc_stdp.yaml"],
        ),
        (
            {"file": "equations/dc_stdp.yaml", "parameter": "nu_post", "values": ["0", "1e-2"]},
            ["sweeps.0.values.0", "nu_post", "turns it off"],
        ),
        (
            {"file": "equations/dc_stdp.yaml", "parameter": "nu_post", "values": ["-1e-2"]},
            ["sweeps.0.values.0", "nu_post", "sign"],
        ),
        (
            {"file": "equations/dc_stdp.yaml", "parameter": "tau_pre", "values": ["-5*ms"]},
            ["sweeps.0.values.0", "tau_pre", "negative"],
        ),
        (
            {"file": "equations/dc_stdp.yaml", "parameter": "delay_max", "values": ["-1*ms"]},
            ["sweeps.0.values.0", "delay_max", "negative"],
        ),
        # values the loader refuses in any file, refused before a derived file is written
        ({"values": ["10*ms", "0*ms"]}, ["sweeps.0.values.1", "tau_m = 0*ms", "division by zero"]),
        (
            {
                "file": "equations/dc_exc_fast.yaml",
                "parameter": "theta_plus",
                "values": ["0*mV", "-0.05*mV"],  # (no adaptation at all is a model)
            },
            ["sweeps.0.values.1", "dc_exc_fast.yaml with theta_plus", "lowers the threshold"],
        ),
        (
            {"file": "equations/lif.yaml", "parameter": "v_reset", "values": ["-52*mV"]},
            ["sweeps.0.values.0", "lif.yaml with v_reset", "not below the threshold"],
        ),
        # dc_exc_fast.yaml (in use) sets theta_plus itself: dc_exc.yaml's would never run
        (
            {"file": "equations/dc_exc.yaml", "parameter": "theta_plus", "values": ["0.04*mV"]},
            ["sweeps.0.file", "dc_exc_fast.yaml", "sets theta_plus itself"],
        ),
        # dc_stdp_fast.yaml (the first epoch's, a schedule) extends dc_stdp.yaml
        (
            {"file": "equations/dc_stdp.yaml", "parameter": "nu_pre", "values": ["2e-4"]},
            ["sweeps.0.file", "stdp.sizes.0.schedule.0.models.input_exc", "not supported"],
        ),
    ],
)
def test_bad_sweeps_are_refused_naming_the_key(workdir, change, words):
    cfg = _config()
    cfg["sweeps"] = [{**SWEEPS[0], **change}]
    if change.get("file") == "equations/dc_inh_exc.yaml":
        cfg["stdp"]["models"]["inh_exc"] = "equations/dc_exc_inh.yaml"  # nothing uses it then
        cfg["stdp"]["models"]["exc_inh"] = "equations/dc_exc_inh.yaml"
    if change.get("parameter") == "theta_plus":
        cfg["stdp"]["models"]["exc"] = "equations/dc_exc_fast.yaml"
    if change.get("parameter") == "nu_pre":
        schedule = [{"epochs": 1, "models": {"input_exc": "equations/dc_stdp_fast.yaml"}}]
        cfg["stdp"]["sizes"] = [{"n": 20, "epochs": 2, "schedule": schedule}]
    with pytest.raises(ConfigError) as err:
        cfgmod.validate(cfg, "config/sweep.yaml")
    for word in words:
        assert word in str(err.value)
    assert "config/sweep.yaml" in str(err.value)
    assert not Path("results").exists()
    # nor does the workflow's planning write anything, the good sweep before it included
    cfg["sweeps"].insert(0, SWEEPS[0])
    with pytest.raises(ConfigError, match=r"sweeps\.1\."):
        sweeps.plan(cfg, "config/sweep.yaml")
    assert not Path("results").exists()


def test_a_value_repeated_by_another_sweep_of_the_parameter_is_refused(workdir):
    """Two sweeps of one parameter share its points' directories: a value in both is one run
    twice (or, written otherwise, two runs of one point)."""
    cfg = _config()
    cfg["sweeps"].append({**SWEEPS[0], "values": ["200*ms", "0.05*second"]})
    with pytest.raises(ConfigError) as err:
        cfgmod.validate(cfg, "config/sweep.yaml")
    assert err.value.field == "sweeps.2.values.1" and "repeats sweeps.0.values.0" in str(err.value)


@pytest.mark.parametrize(
    ("file", "parameter", "value"),
    [
        ("equations/lif.yaml", "t_ref", "0*ms"),  # no refractory period
        ("equations/dc_stdp.yaml", "delay_max", "0*ms"),  # no input delays
        ("equations/lif.yaml", "v_rest", "0*mV"),  # a potential: 0 mV is one like another
        ("equations/dc_exc.yaml", "E_exc", "-10*mV"),  # the file's value is 0
    ],
)
def test_values_that_mean_a_model_are_taken(workdir, file, parameter, value):
    cfg = _config()
    cfg["sweeps"] = [{"file": file, "parameter": parameter, "values": [value]}]
    (point,) = sweeps.plan(cfg, "config/sweep.yaml")
    assert load_model(point.models[next(iter(point.models))]).parameters[parameter] == (
        point.quantity
    )


@pytest.mark.workflow
def test_a_time_constant_of_zero_stops_the_workflow_before_any_job(workdir):
    """The loader refuses it in the derived file (the model divides by it), with the
    configuration file and the value named."""
    cfg = _config()
    cfg["sweeps"] = [{"file": "equations/lif.yaml", "parameter": "tau_m", "values": ["0*ms"]}]
    assert "division by zero" in _refused_dry_run(cfg, "sweeps.0.values.0")
    assert not Path("results").exists()  # refused before a derived file was written


def _refused_dry_run(cfg: dict, field: str) -> str:
    """The error of a dry run of the sweeps of `cfg` (config/sweep.yaml), refused naming `field`
    of that file (exit status 2)."""
    Path("config/sweep.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = subprocess.run(
        [*SNAKEMAKE, "--configfile", "config/sweep.yaml", "-n", "sweeps"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2, res.stderr[-2000:]
    assert f"config/sweep.yaml: field '{field}'" in res.stderr
    return res.stderr


@pytest.mark.parametrize(
    ("sweep", "words"),
    [
        # as long as the smoke network's presentation (25 steps of 5 ms): the compiler refuses
        (
            {"file": "equations/lif.yaml", "parameter": "t_ref", "values": ["2*ms", "125*ms"]},
            ["'sweeps.0.values.1'", "equations/lif.yaml with t_ref = 125*ms", "presentation"],
        ),
        # as long as the rest between samples (150 ms): refused against the protocol
        (
            {"file": "equations/dc_stdp.yaml", "parameter": "delay_max", "values": ["200*ms"]},
            ["'sweeps.0.values.0'", "dc_stdp.yaml with delay_max = 200*ms", "stdp.protocol.rest"],
        ),
    ],
)
def test_points_are_checked_as_the_configured_models(workdir, sweep, words):
    """The loader takes these derived files (`plan`); the training's compiler or the STDP
    network's protocol check refused them only in the point's job, minutes in. The workflow's
    start (and a dry run) checks them as it does the configured models, once per inputs."""
    cfg = _config()
    cfg["sweeps"] = [sweep]
    points = sweeps.plan(cfg, "config/sweep.yaml")
    with pytest.raises(ConfigError) as err:
        sweeps.check_points(cfg, points, 0.005, [25], workdir / "checked", "config/sweep.yaml")
    for word in ["config/sweep.yaml", *words]:
        assert word in str(err.value)
    good = [p for p in points if p.field != err.value.field]
    sweeps.check_points(cfg, good, 0.005, [25], workdir / "checked")
    assert len(list((workdir / "checked").glob("*"))) == len(good)  # (remembered: passed)


@pytest.mark.workflow
def test_a_point_the_compiler_refuses_stops_a_dry_run(workdir):
    cfg = _config()
    cfg["sweeps"] = [{"file": "equations/lif.yaml", "parameter": "t_ref", "values": ["125*ms"]}]
    error = _refused_dry_run(cfg, "sweeps.0.values.0")
    assert "equations/lif.yaml with t_ref = 125*ms" in error


def _snakemake(*args) -> subprocess.CompletedProcess:
    res = subprocess.run([*SNAKEMAKE, *args], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return res


def _dry_run(*args, configfile="config/sweep.yaml") -> set[str]:
    res = _snakemake("--configfile", configfile, "-n", *args)
    jobs = set()
    table = res.stdout.split("Job stats:")[1] if "Job stats:" in res.stdout else ""
    for line in table.splitlines():
        parts = line.split()
        if (
            len(parts) == 2
            and parts[0].isidentifier()
            and parts[1].isdigit()
            and parts[0] != "total"
        ):
            jobs.add(parts[0])
    return jobs


@pytest.mark.workflow
def test_editing_a_swept_file_reruns_its_sweep_jobs_only(workdir):
    cfg = _config()
    points = sweeps.plan(cfg, "config/sweep.yaml")  # the derived files, as the Snakefile does
    _pretend_ran(points)  # every sweep job
    stamp = 2e9 + 1000
    assert _dry_run("sweeps") == set()

    lif = Path("equations/lif.yaml")
    lif.write_text(lif.read_text().replace("v_th: -52*mV", "v_th: -51*mV"))
    os.utime(lif, (stamp + 100, stamp + 100))
    jobs = _dry_run("sweeps")
    assert {"sweep_surrogate_train", "sweep_surrogate_evaluate"} <= jobs
    assert not {j for j in jobs if j.startswith("sweep_stdp")}

    lif.write_text((ROOT / "equations/lif.yaml").read_text())
    os.utime(lif, (1e9, 1e9))
    stdp = Path("equations/dc_stdp.yaml")
    stdp.write_text(stdp.read_text().replace("nu_pre: 1e-4", "nu_pre: 2e-4"))
    os.utime(stdp, (stamp + 100, stamp + 100))
    jobs = _dry_run("sweeps")
    assert {"sweep_stdp_train", "sweep_stdp_assign", "sweep_stdp_evaluate"} <= jobs
    assert not {j for j in jobs if j.startswith("sweep_surrogate")}


def _pretend_ran(points, stamp=2e9) -> None:
    """Outputs of every sweep job of `points`, newer than their inputs, in job order."""
    for p in points:
        if p.method == "surrogate":
            run = p.directory / "fc20" / "seed0"
            files = [run / "model.pt", run / "metrics.json"]
        else:
            run = p.directory / "n20" / "seed0"
            files = [run / "state.npz", run / "assign" / "assignment.npy"]
            files += [run / "test" / "responses.npz", run / "test" / "metrics.json"]
        for f in files:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text("x")
            stamp += 10
            os.utime(f, (stamp, stamp))


def _read_by_jobs() -> dict[Path, tuple[str, float]]:
    """Text and time stamp of every file of the sweep points that the workflow has written
    (those its jobs are given to read)."""
    files = Path("results/sweeps").glob("*/*/*/*/derived/*/*")
    return {f: (f.read_text(), f.stat().st_mtime) for f in files}


def _ran_as_planned() -> None:
    """The derived files and the jobs' settings files as a run writes them, and every sweep
    job run after them."""
    sweeps.plan(_config(), "config/sweep.yaml")  # the derived files, as the Snakefile does
    for f in [*_read_by_jobs(), *Path("equations").iterdir()]:
        os.utime(f, (1e9, 1e9))
    # (files written now, by another configuration, are newer)
    _pretend_ran(sweeps.plan(_config(), "config/sweep.yaml", write=False), time.time() - 1000)
    # the run (--touch: the hooks run, no job) writes the settings files, then its outputs
    _snakemake("sweeps", "--configfile", "config/sweep.yaml", "--touch")
    assert _dry_run("sweeps") == set()


def _other(change) -> None:
    """config/other.yaml: config/sweep.yaml changed by `change`."""
    other = _config()
    change(other)
    Path("config/other.yaml").write_text(yaml.safe_dump(other, sort_keys=False))


@pytest.mark.workflow
@pytest.mark.slow  # (25-35 s: six or seven Snakemake starts)
def test_a_dry_run_with_other_values_leaves_the_files_of_a_run_alone(workdir):
    """Parsing the workflow (every dry run does, and a run the lock refuses) with another
    configuration changes no file that the sweep jobs of a run under way read, and going back
    to the first configuration reruns nothing; a run of the other one does replace the points'
    results, and going back then reruns them."""
    _ran_as_planned()
    before = _read_by_jobs()
    assert {f.name for f in before} == {"lif.yaml", "dc_stdp.yaml"}
    settings = _settings_files()
    configs = {p: p.read_text() for p in Path("results/sweeps").glob("*/*/*/stdp/config.yaml")}
    assert len(configs) == 2

    def change(cfg):
        cfg["sweep_budget"]["stdp"]["n_test"] = 40  # what the STDP points' jobs read
        cfg["stdp"]["chunk"] = 40

    _other(change)
    jobs = _dry_run("sweeps", configfile="config/other.yaml")
    assert jobs == {"sweep_stdp_respond", "sweep_stdp_evaluate", "sweeps"}  # (not training)
    assert {f: v for f, v in _read_by_jobs().items() if f in before} == before
    assert _settings_files() == settings
    assert {p: p.read_text() for p in configs} == configs
    assert _dry_run("sweeps") == set()  # back to the planned configuration: nothing to do

    # A run of the other configuration (--touch: the hooks run, no job) takes the points over.
    _snakemake("--configfile", "config/other.yaml", "--touch", "sweeps")
    assert all("n_test: 40" in p.read_text() for p in configs)
    assert _dry_run("sweeps", configfile="config/other.yaml") == set()
    jobs = _dry_run("sweeps")
    assert jobs == {"sweep_stdp_respond", "sweep_stdp_evaluate", "sweeps"}


@pytest.mark.workflow
@pytest.mark.slow  # (25-35 s: six or seven Snakemake starts)
def test_values_planned_while_a_run_is_under_way_rerun_the_points_all_the_same(workdir):
    """A dry run with other values while a run is under way writes their files before the
    run's results; a later run with those values reruns the points all the same, also without
    Snakemake's record (--rerun-triggers mtime)."""
    _ran_as_planned()
    # the run (--touch: the hooks run, no job) records which files its points are made with
    _snakemake("sweeps", "--configfile", "config/sweep.yaml", "--touch", "--forceall")
    before = _read_by_jobs()
    _other(lambda cfg: cfg["sweep_budget"]["stdp"].update(n_test=40))
    _dry_run("sweeps", configfile="config/other.yaml")
    for f in _read_by_jobs():
        if f not in before:  # written before the results
            os.utime(f, (1e9, 1e9))
    assert _dry_run("sweeps", "--rerun-triggers", "mtime") == set()
    jobs = _dry_run("sweeps", "--rerun-triggers", "mtime", configfile="config/other.yaml")
    assert jobs == {"sweep_stdp_respond", "sweep_stdp_evaluate", "sweeps"}
    assert {f: v for f, v in _read_by_jobs().items() if f in before} == before


def _settings_files() -> dict[Path, tuple[str, float]]:
    files = Path("results/.settings").glob("sweep_*/**/*.json")
    return {f: (f.read_text(), f.stat().st_mtime) for f in files}


def _dry_run_outputs(configfile: str) -> set[str]:
    """The outputs of the jobs a dry run of the sweeps plans."""
    res = _snakemake("--configfile", configfile, "-n", "sweeps")
    return {
        o for line in re.findall(r"^\s+output: (.+)$", res.stdout, re.M) for o in line.split(", ")
    }


def _points(outputs: set[str]) -> set[tuple[str, ...]]:
    """(file, parameter, value, method, run) of the sweep points that `outputs` are of."""
    return {Path(o).parts[2:7] for o in outputs if o.startswith("results/sweeps/")}


@pytest.mark.workflow
@pytest.mark.slow  # (25-35 s: six or seven Snakemake starts)
def test_a_change_reruns_only_the_points_that_read_it(workdir):
    """A point's jobs depend on the values their results depend on (their settings files), not
    on the whole configuration: the surrogate's epochs and another seed rerun no STDP point, a
    changed swept value runs its own point only (not the other STDP sweep's), and another
    surrogate network runs its own points only (not those of the network there was)."""
    cfg = _config()
    tau_ge = {"file": "equations/dc_exc.yaml", "parameter": "tau_ge", "values": ["2*ms"]}
    cfg["sweeps"].append(tau_ge)
    Path("config/sweep.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    _ran_as_planned()

    def unrelated(cfg):
        cfg["surrogate"]["epochs"] += 1
        cfg["seeds"] = [0, 1]

    _other(unrelated)
    outputs = _dry_run_outputs("config/other.yaml")
    assert _points({o for o in outputs if "/seed0/" in o}) == {
        ("lif", "tau_m", v, "surrogate", "fc20") for v in ("50ms", "100ms")
    }
    assert {o for o in outputs if "/stdp/" in o and "/seed1/" in o}  # (seed 1: new runs)

    _other(lambda cfg: cfg["sweeps"][1].update(values=["2e-2", "8e-2"]))
    assert _points(_dry_run_outputs("config/other.yaml")) == {
        ("dc_stdp", "nu_post", "8e-2", "stdp", "n20")
    }

    _other(
        lambda cfg: cfg["surrogate"]["runs"].append({**cfg["surrogate"]["runs"][0], "hidden": 30})
    )
    assert _points(_dry_run_outputs("config/other.yaml")) == {
        ("lif", "tau_m", v, "surrogate", "fc30") for v in ("50ms", "100ms")
    }


def test_settings_of_values_no_longer_configured_leave_and_come_back(workdir):
    """When a run starts, the settings files of values not in its configuration leave
    results/.settings/ (where they would pass for current points): into the point's directory
    where it has results (which stay), removed where it has none; a value that comes back takes
    its file back with its time stamp (its results are current), unless its values differ."""
    files = {}
    for p in sweeps.plan(_config(), "config/sweep.yaml", write=False):
        rule = f"sweep_{p.method}_train"
        f = sweeps.SETTINGS / rule / p.file.stem / p.parameter / sweeps.slug(p.value) / "j.json"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"{p.value}\n")
        os.utime(f, (1e9, 1e9))
        files[p.value] = f
    done = sweeps.directory(Path("equations/lif.yaml"), "tau_m", "50*ms", "surrogate")
    (done / "fc20" / "seed0").mkdir(parents=True)
    (done / "fc20" / "seed0" / "metrics.json").write_text("{}")
    cfg = _config()
    cfg["sweeps"] = [{**SWEEPS[0], "values": ["100*ms"]}]  # 50 ms and the STDP sweep gone
    moved = sweeps.put_away_settings(sweeps.plan(cfg, "config/sweep.yaml", write=False))
    assert set(moved) == {files[v] for v in ("50*ms", "2e-2", "4e-2")}
    assert files["100*ms"].exists() and not any(f.exists() for f in moved)
    kept = sweeps.kept_settings(files["50*ms"])
    assert kept == done / ".settings" / "sweep_surrogate_train" / "j.json"
    assert (kept.read_text(), kept.stat().st_mtime) == ("50*ms\n", 1e9)
    assert (done / "fc20" / "seed0" / "metrics.json").exists()
    assert not list(Path("results").rglob("*nu_post*"))  # no results: nothing kept
    # the value back (a dry run too): the file back where it was, as it was
    f = files["50*ms"]
    sweeps.restore_settings(f, "50*ms\n", dry_run=True)
    assert (f.read_text(), f.stat().st_mtime) == ("50*ms\n", 1e9) and not kept.exists()
    # back with other values: the job writes a new file, and the kept one goes (not in a dry
    # run, after which the first values may come back)
    sweeps.put_away_settings(sweeps.plan(cfg, "config/sweep.yaml", write=False))
    sweeps.restore_settings(f, "other\n", dry_run=True)
    assert kept.exists() and not f.exists()
    sweeps.restore_settings(f, "other\n", dry_run=False)
    assert not kept.exists() and not f.exists()
    # a run that stops before its jobs (refused by its checks) gives the kept file back, and
    # takes one it restored back to where it was kept
    for values in ("other\n", "50*ms\n"):
        sweeps.put_away_settings(sweeps.plan(cfg, "config/sweep.yaml", write=False))
        if not kept.exists():
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text("50*ms\n")
            os.utime(kept, (1e9, 1e9))
        writes = cfgmod.SettingsWrites()
        sweeps.restore_settings(f, values, dry_run=False, writes=writes)
        writes.undo()
        assert (kept.read_text(), kept.stat().st_mtime) == ("50*ms\n", 1e9) and not f.exists()


def test_a_run_removes_the_files_of_the_layout_before(workdir):
    """Derived files of a configuration before (another digest) and the model files that lay
    loose in the point's directory before derived/ are removed when a run makes the point."""
    points = sweeps.plan(_config(), "config/sweep.yaml")
    old = []
    for p in points:
        for name in (*[m.name for m in p.models.values()], "runs.json"):
            old += [p.derived.parent / "0123456789ab" / name]
        old += [p.directory / m.name for m in p.models.values()]
    for f in old:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("old")
    sweeps.started(points, [str(p.directory / "n20/seed0/state.npz") for p in points])
    assert not [f for f in old if f.exists()]
    assert all(f.exists() for p in points for f in p.texts)


@pytest.mark.workflow
def test_a_changed_surrogate_budget_reruns_the_surrogate_points(workdir):
    """The surrogate runs' options are parameters of their jobs, which Snakemake compares only
    where it has a record of the run (not here: the outputs were made without it)."""
    _ran_as_planned()
    _other(lambda cfg: cfg["sweep_budget"].update(surrogate={"epochs": 2}))
    jobs = _dry_run("sweeps", configfile="config/other.yaml")
    assert {"sweep_surrogate_train", "sweep_surrogate_evaluate"} <= jobs
    assert not {j for j in jobs if j.startswith("sweep_stdp")}


def test_report_section_plots_finished_points_and_marks_the_baseline(workdir):
    cfg = _config()
    assert report_sweeps.section(cfg, Path("results")) == []  # nothing finished yet
    for k, p in enumerate(sweeps.plan(cfg, "config/sweep.yaml")):
        if p.method == "surrogate":
            path = p.directory / "fc20" / "seed0" / "metrics.json"
            spikes = {"input": 2600.0, "hidden": 700.0 + k, "output": 20.0}
        else:
            path = p.directory / "n20" / "seed0" / "test" / "metrics.json"
            spikes = {"input": 4400.0, "exc": 9.0 + k, "inh": 9.0}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"accuracy": 0.5 + k / 100, "spikes_per_inference": spikes}))
    lines = report_sweeps.section(cfg, Path("results"))
    text = "\n".join(lines)
    assert "## Parameter sensitivity" in text
    assert "| 100*ms (baseline) | surrogate fc20 seed 0 | 51.00% | 721.0 / 3321.0 |" in text
    for name in ("sweep_lif_tau_m.png", "sweep_dc_stdp_nu_post.png"):
        assert (Path("results/figures") / name).stat().st_size > 1000
    table = pd.read_csv("results/sweeps.csv")
    assert len(table) == 4 and set(table["method"]) == {"surrogate", "stdp"}


def test_sweep_runs_stay_out_of_the_comparison_rows(workdir):
    main = Path("results/stdp/cpp/n20/seed0/test/metrics.json")
    swept = Path("results/sweeps/dc_stdp/nu_post/2e-2/stdp/n20/seed0/test/metrics.json")
    assert report.comparison_inputs([main, swept], Path("results")) == [main]
    assert report.comparison_inputs([swept.resolve()], Path("results")) == []


def test_sweep_rows_read_each_surrogate_run_from_its_own_directory(workdir):
    """Runs named after their input (fc20_latency_T10) are read from the directories the sweep
    jobs write, each once."""
    cfg = _config()
    cfg["surrogate"]["runs"].append({**cfg["surrogate"]["runs"][0], "encoding": "latency"})
    cfg["surrogate"]["runs"][-1]["time_steps"] = 10
    for k, p in enumerate(sweeps.plan(cfg, "config/sweep.yaml")):
        if p.method == "surrogate":
            for net in ("fc20", "fc20_latency_T10"):
                path = p.directory / net / "seed0" / "metrics.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                accuracy = 0.5 + k / 100 + (0.2 if "latency" in net else 0)
                path.write_text(json.dumps({"accuracy": accuracy, "spikes_per_inference": {}}))
    rows = report_sweeps.rows(cfg, Path("results"))
    assert sorted(rows["network"]) == ["fc20", "fc20", "fc20_latency_T10", "fc20_latency_T10"]
    latency = rows[rows["network"] == "fc20_latency_T10"]["accuracy"]
    assert (latency > 0.69).all()
