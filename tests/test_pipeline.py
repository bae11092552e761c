"""The Snakemake workflow: configuration checks, file dependencies and the smoke run."""

from __future__ import annotations

import ast
import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, workflow_copy

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def _workdir(tmp: Path, build: Path | None = None) -> Path:
    """A copy of what the workflow reads, so results land in `tmp` (`workflow_copy`)."""
    workflow_copy(tmp)
    if build is not None:  # share compiled projects with the other tests
        smoke = tmp / "config" / "smoke.yaml"
        smoke.write_text(smoke.read_text().replace("build: build", f"build: {build}"))
    return tmp


def _snakemake(
    cwd: Path, *args, timeout=900, configfile="config/smoke.yaml", env=None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SNAKEMAKE, "--configfile", configfile, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )


def _job_outputs(wd: Path) -> list[Path]:
    """What jobs wrote under results/ (the jobs' settings files are written as the workflow
    plans them, before any job)."""
    results = wd / "results"
    return [p for p in results.rglob("*") if p.is_file() and ".settings" not in p.parts]


def _planned_jobs(out: str) -> set[str]:
    """Rule names in a dry run's job table."""
    jobs = set()
    table = out.split("Job stats:")[1] if "Job stats:" in out else ""
    for line in table.splitlines():
        m = re.match(r"^(\w+)\s+\d+\s*$", line.strip())
        if m and m.group(1) not in ("job", "total"):
            jobs.add(m.group(1))
    return jobs


def _starts_snakemake(tree: ast.Module) -> set[str]:
    """Names of the module's functions that start Snakemake: they name ``SNAKEMAKE`` or call
    ``_snakemake`` (this module's helper, imported by others), or a function that does."""
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    named = {
        name: {n.id for n in ast.walk(f) if isinstance(n, ast.Name)} for name, f in funcs.items()
    }
    starting = {name for name, ids in named.items() if ids & {"SNAKEMAKE", "_snakemake"}}
    while grown := {n for n, ids in named.items() if ids & starting} - starting:
        starting |= grown
    return starting


def test_every_test_that_starts_snakemake_is_marked_workflow():
    """`-m "not workflow"` (docs/development.md) leaves out every test that starts Snakemake:
    a new one without the mark would slow that loop unseen."""
    unmarked = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for f in tree.body:
            if isinstance(f, ast.FunctionDef) and f.name.startswith("test_"):
                marks = {ast.unparse(d) for d in f.decorator_list}
                if f.name in _starts_snakemake(tree) and "pytest.mark.workflow" not in marks:
                    unmarked.append(f"{path.name}::{f.name}")
    assert not unmarked, unmarked
    assert "test_lint_is_clean" in _starts_snakemake(ast.parse(Path(__file__).read_text()))


@pytest.mark.workflow
def test_lint_is_clean():
    res = subprocess.run(
        [*SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    out = res.stdout + res.stderr
    # Rules run in the environment that runs Snakemake (the project's .venv), not in per-rule
    # conda environments, so the lint asking for one is allowed (exit status 1: lints were
    # found); so are those asking that SUR_RUNNING (how often training checkpoints) and CFG
    # (the path of the configuration file the jobs read) be parameters: a changed parameter
    # reruns the job, and neither changes a result (the settings files rerun the jobs whose
    # values changed).
    lints = set(re.findall(r"^    \* (.+?):?$", out, flags=re.M))
    assert lints <= {
        "Specify a conda environment or container for each rule.",
        "Shell command directly uses variable SUR_RUNNING from outside of the rule",
        "Shell command directly uses variable CFG from outside of the rule",
    }, out
    assert res.returncode == 0 or (res.returncode == 1 and lints), out


@pytest.mark.workflow
def test_bad_config_value_refused_before_any_job(tmp_path):
    wd = _workdir(tmp_path)
    cfg = yaml.safe_load((wd / "config" / "smoke.yaml").read_text())
    cfg["stdp"]["chunk"] = -5
    (wd / "config" / "smoke.yaml").write_text(yaml.safe_dump(cfg))
    res = _snakemake(wd, "-n")
    assert res.returncode == 2
    assert "stdp.chunk" in res.stderr + res.stdout
    assert not _job_outputs(wd)


@pytest.mark.workflow
@pytest.mark.parametrize(
    "setting, field",
    [
        ("surrogate={device: cuda}", "surrogate.device': 'cuda' needs a GPU"),
        ("stdp={backend: cuda}", "stdp.backend': 'cuda' needs a GPU"),
    ],
)
def test_a_gpu_asked_for_where_none_is_visible_stops_a_run_before_any_job(tmp_path, setting, field):
    """Each job would refuse it only after Snakemake removed its earlier outputs (STDP's after
    compiling the CUDA project): a run on this machine refuses it as it starts; a dry run (a
    cluster's, planned on a login node) plans the jobs."""
    wd = _workdir(tmp_path)
    earlier = wd / "results" / "neuron" / "lif_check.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"passed": true}')
    hidden = {"CUDA_VISIBLE_DEVICES": ""}
    res = _snakemake(wd, "--cores=1", "--config", setting, env=hidden)
    assert res.returncode == 2, (res.stderr + res.stdout)[-3000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: configuration config/smoke.yaml + --config: field '"), last
    assert field in last and "CUDA_VISIBLE_DEVICES=''" in last, last
    assert _job_outputs(wd) == [earlier]
    res = _snakemake(wd, "-n", "--config", setting, env=hidden)
    assert res.returncode == 0, res.stderr[-3000:]
    # a run of jobs that claim no GPU runs (e.g. the report of results computed on a GPU)
    summary = "results/data/summary.json"
    res = _snakemake(wd, "--cores=1", summary, "--config", setting, env=hidden)
    assert res.returncode == 0, (res.stderr + res.stdout)[-3000:]
    assert (wd / summary).exists()


@pytest.mark.workflow
def test_a_run_started_with_sigint_ignored_keeps_ignoring_it(tmp_path):
    """``snakemake ... &`` in a script (a non-interactive shell's background job), or a batch
    system, starts Snakemake with SIGINT ignored. The workflow imports Brian2, which replaced
    that with its handler, which then calls SIG_IGN as a function: a SIGINT to the run gave a
    TypeError traceback and ended it. Raised here as the parsed workflow starts executing."""
    wd = _workdir(tmp_path)
    script = f"""
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
from snakemake import api, workflow  # (api first: the order snakemake imports them)
execute = workflow.Workflow.execute
def execute_after_a_sigint(self, *args, **kwargs):
    signal.raise_signal(signal.SIGINT)
    return execute(self, *args, **kwargs)
workflow.Workflow.execute = execute_after_a_sigint
from snakemake.cli import main
sys.argv = {["snakemake", *SNAKEMAKE[3:], "--configfile", "config/smoke.yaml", "-n"]!r}
main()
"""
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=wd, capture_output=True, text=True, timeout=300
    )
    err = res.stderr + res.stdout
    assert res.returncode == 0 and "TypeError" not in err, err[-3000:]
    assert "This was a dry-run" in err


@pytest.mark.workflow
def test_a_key_given_twice_in_a_configuration_file_stops_the_workflow(tmp_path):
    """Snakemake reads the --configfile files itself and keeps the last of a key given twice:
    the workflow refuses the file as the tasks do, naming file, key and lines."""
    wd = _workdir(tmp_path)
    part = wd / "more.yaml"
    part.write_text("surrogate:\n  epochs: 2\n  time_steps: 10\n  epochs: 3\n")
    res = _snakemake(wd, "more.yaml", "-n")  # --configfile config/smoke.yaml more.yaml
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        "error: configuration more.yaml: field 'surrogate.epochs': given twice (lines 2 and 4); "
        "YAML would silently keep the second"
    )
    assert not _job_outputs(wd)


@pytest.mark.workflow
def test_rest_shorter_than_the_refractory_period_stops_the_workflow(tmp_path):
    """The protocol against the model files, checked at the start of a run: naming the
    configuration file and the key."""
    wd = _workdir(tmp_path)
    cfg = yaml.safe_load((wd / "config" / "smoke.yaml").read_text())
    cfg["stdp"]["protocol"]["rest"] = "4*ms"  # the exc neurons' t_ref is 5 ms
    (wd / "config" / "smoke.yaml").write_text(yaml.safe_dump(cfg))
    res = _snakemake(wd, "--cores", "1", timeout=300)
    err = res.stderr + res.stdout
    assert res.returncode == 2, err[-3000:]
    assert "smoke.yaml: field 'stdp.protocol.rest': must be longer" in err
    assert not _job_outputs(wd)


@pytest.mark.workflow
@pytest.mark.parametrize(
    "path, old, new, field",
    [
        ("lif.yaml", "R*I)/tau_m", "I)/tau_m", "'equations'"),  # volt + amp
        ("dc_exc.yaml", "theta += plastic*theta_plus", "theta += plastic*theta_plu", "'reset'"),
        # valid Brian2 that the surrogate network's compiler refuses
        ("lif.yaml", "refractory: t_ref", "refractory: v > v_th", "'refractory'"),
        # longer than the smoke network's presentation (25 steps of 5 ms)
        ("lif.yaml", "t_ref: 5*ms", "t_ref: 500*ms", "'parameters.t_ref'"),
    ],
)
@pytest.mark.parametrize("run", ["--cores=1", "--dry-run"])
def test_bad_model_file_stops_the_workflow_before_any_job(tmp_path, path, old, new, field, run):
    """Units and names are checked in full at the start of a run, and by a dry run (not only
    when the first job that loads the file fails): exit status 2, the file and field named, no
    job started."""
    wd = _workdir(tmp_path)
    eq = wd / "equations" / path
    assert old in eq.read_text()
    eq.write_text(eq.read_text().replace(old, new))
    res = _snakemake(wd, run, timeout=300)
    err = res.stderr + res.stdout
    assert res.returncode == 2, err[-3000:]
    assert f"equations/{path}" in err and field in err
    assert not _job_outputs(wd)


@pytest.mark.workflow
@pytest.mark.parametrize(
    "key, value, message",
    [
        # a file that loads, but whose input does not drive its membrane (ge multiplies E - v)
        (
            "model",
            "equations/dc_exc.yaml",
            "equations/dc_exc.yaml: field 'equations': the neuron check cannot choose input",
        ),
        ("duration", "0.1*second", "smoke.yaml: field 'neuron_check.duration': 0.1 s is too"),
    ],
)
def test_what_the_neuron_check_refuses_stops_the_workflow_and_keeps_its_results(
    tmp_path, key, value, message
):
    """The neuron check's job refused these only after Snakemake had removed the check's
    earlier outputs (lif_check.json and its figures): refused as the run starts instead."""
    wd = _workdir(tmp_path)
    cfg = yaml.safe_load((wd / "config" / "smoke.yaml").read_text())
    cfg["neuron_check"][key] = value
    (wd / "config" / "smoke.yaml").write_text(yaml.safe_dump(cfg))
    earlier = wd / "results" / "neuron" / "lif_check.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"passed": true}')
    for run in ("--dry-run", "--cores=1"):
        res = _snakemake(wd, run, "results/neuron/lif_check.json", timeout=300)
        err = res.stderr + res.stdout
        assert res.returncode == 2, err[-3000:]
        assert message in res.stderr.strip().splitlines()[-1], err[-3000:]
    assert earlier.read_text() == '{"passed": true}'
    assert _job_outputs(wd) == [earlier]


@pytest.mark.workflow
def test_a_model_file_edited_after_a_start_that_passed_is_checked_again(tmp_path):
    """The model check is remembered per configuration and model files (`bioclf.checked`): a
    second start with the same ones skips it; an edited file is checked, and refused."""
    wd = _workdir(tmp_path)
    assert _snakemake(wd, "-n").returncode == 0
    remembered = set((wd / ".snakemake" / "bioclf" / "checked").iterdir())
    assert _snakemake(wd, "-n").returncode == 0
    assert set((wd / ".snakemake" / "bioclf" / "checked").iterdir()) == remembered
    eq = wd / "equations" / "dc_exc.yaml"
    eq.write_text(eq.read_text().replace("theta += plastic*theta_plus", "theta += theta_plu"))
    res = _snakemake(wd, "-n")
    err = res.stderr + res.stdout
    assert res.returncode == 2, err[-3000:]
    assert "equations/dc_exc.yaml" in err and "'reset'" in err


@pytest.mark.workflow
@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda raw: raw[: len(raw) // 2], "gzip stream is truncated"),
        (lambda raw: gzip.compress(bytes([*gzip.decompress(raw)[:-1], 3])), "checksum mismatch"),
    ],
)
@pytest.mark.parametrize("run", ["--cores=1", "--dry-run"])
def test_bad_data_file_stops_the_workflow_before_any_job(tmp_path, damage, reason, run):
    """A truncated or altered MNIST file: the run stopped only as its jobs failed, each with
    the one line in its log (exit status 1, the neuron check running meanwhile), and a dry run
    passed."""
    wd = _workdir(tmp_path)
    (wd / "data" / "mnist").unlink()
    shutil.copytree(ROOT / "data" / "mnist", wd / "data" / "mnist")
    labels = wd / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(damage(labels.read_bytes()))
    res = _snakemake(wd, run, timeout=300)
    err = res.stderr + res.stdout
    assert res.returncode == 2, err[-3000:]
    assert f"error: data file data/mnist/{labels.name}: {reason}" in err
    assert not _job_outputs(wd)


@pytest.mark.workflow
def test_jobs_read_the_configuration_the_workflow_planned(tmp_path):
    """A --configfile replaces config/config.yaml (no key of that file leaks into the run);
    --config values reach the jobs through the merged configuration written out; a partial
    file is refused at the start, naming the missing key."""
    wd = _workdir(tmp_path)
    base = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(base.read_text())
    cfg["stdp"]["shards"] = 2  # refused without the reset, were it merged into the smoke run
    base.write_text(yaml.safe_dump(cfg))
    res = _snakemake(wd, "-n", "-p")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs_read = set(re.findall(r"--config (\S+\.yaml)", res.stdout))
    assert jobs_read == {"config/smoke.yaml"}, jobs_read  # (Snakemake's path is absolute)
    merged = wd / ".snakemake" / "bioclf" / "config.yaml"
    assert not merged.exists()

    res = _snakemake(wd, "-n", "-p", "--config", "build=elsewhere")
    assert res.returncode == 0, res.stderr[-3000:]
    assert set(re.findall(r"--config (\S+\.yaml)", res.stdout)) == {".snakemake/bioclf/config.yaml"}
    written = yaml.safe_load(merged.read_text())
    smoke = yaml.safe_load((wd / "config" / "smoke.yaml").read_text())
    assert written == {**smoke, "build": "elsewhere"}
    stamp = merged.stat().st_mtime_ns
    assert _snakemake(wd, "-n", "--config", "build=elsewhere").returncode == 0
    assert merged.stat().st_mtime_ns == stamp  # unchanged content: not rewritten, no reruns
    # numbers inside a section or list are numbers (Snakemake reads them as text); a dry run
    # writes the merged file where there is none
    merged.unlink()
    res = _snakemake(wd, "-n", "--config", "surrogate={epochs: 2, lr: 1e-3}", "seeds=[0, 1]")
    assert res.returncode == 0, res.stderr[-3000:]
    written = yaml.safe_load(merged.read_text())
    assert written["seeds"] == [0, 1]
    assert written["surrogate"] == {**smoke["surrogate"], "epochs": 2, "lr": 1e-3}

    (wd / "config" / "partial.yaml").write_text("stdp: {n_train: 50}\n")
    res = _snakemake(wd, "-n", timeout=300, configfile="config/partial.yaml")
    assert res.returncode == 2
    assert "partial.yaml" in res.stderr and "'data' is a required property" in res.stderr


@pytest.mark.workflow
def test_surrogate_jobs_get_the_whole_data_section(tmp_path):
    """Another data set (name, download URL, checksums) reaches the surrogate jobs as it
    reaches the STDP ones; MNIST's default section adds no option to their commands. Where
    the data rule downloads, the trainings wait for it."""
    wd = _workdir(tmp_path)
    res = _snakemake(wd, "-n", "-p")
    assert res.returncode == 0, res.stderr[-3000:]
    train = [c for c in res.stdout.splitlines() if "bioclf.surrogate.train" in c]
    assert train and not any("--data-" in c for c in train)
    assert not any("summary.json" in f for f in _training_inputs(res.stdout).values())
    smoke = wd / "config" / "smoke.yaml"
    cfg = yaml.safe_load(smoke.read_text())
    md5 = {"t10k-labels-idx1-ubyte": "0" * 32, "t10k-images-idx3-ubyte": "1" * 32}
    # (files to download: those there are checked before any job, against these checksums)
    cfg["data"].update(
        root="data/fashion", name="fashion", url="http://127.0.0.1:9/a b&c", checksums=md5
    )
    smoke.write_text(yaml.safe_dump(cfg))
    res = _snakemake(wd, "-n", "-p")
    assert res.returncode == 0, res.stderr[-3000:]
    train = [c for c in res.stdout.splitlines() if "bioclf.surrogate.train" in c]
    expected = (
        "--data-name fashion --data-url 'http://127.0.0.1:9/a b&c' --data-checksums "
        f"t10k-images-idx3-ubyte={'1' * 32},t10k-labels-idx1-ubyte={'0' * 32}"
    )
    assert train and all(expected in c for c in train), train
    # the trainings wait for the data rule, which downloads (each fetched the files itself)
    trainings = _training_inputs(res.stdout)
    assert all("results/data/summary.json" in f for f in trainings.values()), trainings


@pytest.mark.workflow
def test_a_data_root_with_a_space_reaches_the_surrogate_jobs_whole(tmp_path):
    """The data root (and the build folder) is a path of the user's choosing: on the surrogate
    jobs' command lines (training, its twin, the Brian2 export; so the sweeps' too) it is one
    argument, quoted, as the data set's URL is. Unquoted, `--data data/my mnist` failed each
    job (argparse: unrecognized argument) after the start-up checks had passed."""
    wd = _workdir(tmp_path)
    (wd / "data" / "my mnist").symlink_to(ROOT / "data" / "mnist")
    smoke = wd / "config" / "smoke.yaml"
    cfg = yaml.safe_load(smoke.read_text())
    cfg["data"]["root"] = "data/my mnist"
    cfg["build"] = "my build"  # (Brian2 builds and runs a project there)
    smoke.write_text(yaml.safe_dump(cfg))
    res = _snakemake(wd, "-n", "-p")
    assert res.returncode == 0, res.stderr[-3000:]
    commands = [
        shlex.split(c.split(" > ")[0])
        for c in res.stdout.splitlines()
        if "bioclf.surrogate.train" in c or "bioclf.surrogate.export_brian" in c
    ]
    assert len(commands) == 3, res.stdout[-3000:]
    for argv in commands:
        assert argv[argv.index("--data") + 1] == "data/my mnist", argv
        if "--build-dir" in argv:
            assert argv[argv.index("--build-dir") + 1].startswith("my build/surrogate/"), argv


@pytest.mark.workflow
def test_a_configuration_file_name_with_a_space_reaches_the_jobs_whole(tmp_path):
    """`--configfile 'config/my smoke.yaml'`: the jobs get it as one argument (quoted, where
    before every job failed on argparse's 'unrecognized arguments'); a surrogate neuron file
    whose path needs quoting is refused before any job, naming the field."""
    wd = _workdir(tmp_path)
    (wd / "config" / "smoke.yaml").rename(wd / "config" / "my smoke.yaml")
    res = _snakemake(wd, "-n", "-p", timeout=300, configfile="config/my smoke.yaml")
    assert res.returncode == 0, res.stderr[-3000:]
    commands = [shlex.split(c.split(" > ")[0]) for c in res.stdout.splitlines() if "--config " in c]
    assert len(commands) >= 5, res.stdout[-3000:]
    for argv in commands:
        assert argv[argv.index("--config") + 1] == "config/my smoke.yaml", argv
    smoke = wd / "config" / "my smoke.yaml"
    (wd / "equations" / "my lif.yaml").write_text((ROOT / "equations" / "lif.yaml").read_text())
    smoke.write_text(
        smoke.read_text().replace("neuron: equations/lif.yaml", "neuron: equations/my lif.yaml")
    )
    res = _snakemake(wd, "-n", timeout=300, configfile="config/my smoke.yaml")
    assert res.returncode == 2, res.stderr[-3000:]
    assert "field 'surrogate.neuron': 'equations/my lif.yaml'" in res.stderr


@pytest.mark.workflow
def test_paths_with_non_ascii_letters_stay_unquoted_on_the_jobs_command_lines(tmp_path):
    """A shell reads `data/mnïst` as one word: the quoting of the jobs' paths leaves it as it
    was before, so that a working directory that has run with it reruns no job. shlex.quote
    quoted it (ASCII letters only are safe to it): every surrogate job's flags and settings
    file changed, rerunning them all, and a surrogate.neuron such as equations/lïf.yaml, which
    had worked, was refused."""
    wd = _workdir(tmp_path)
    (wd / "data" / "mnïst").symlink_to(ROOT / "data" / "mnist")
    (wd / "equations" / "lïf.yaml").write_text((ROOT / "equations" / "lif.yaml").read_text())
    smoke = wd / "config" / "smoke.yaml"
    cfg = yaml.safe_load(smoke.read_text())
    cfg["data"]["root"] = "data/mnïst"
    cfg["build"] = "bûild"
    cfg["surrogate"]["neuron"] = "equations/lïf.yaml"
    smoke.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    res = _snakemake(wd, "-n", "-p")
    assert res.returncode == 0, res.stderr[-3000:]
    commands = [
        c
        for c in res.stdout.splitlines()
        if "bioclf.surrogate.train" in c or "bioclf.surrogate.export_brian" in c
    ]
    assert len(commands) == 3, res.stdout[-3000:]
    for command in commands:
        assert " --data data/mnïst " in command and "'" not in command, command
    assert any("--neuron equations/lïf.yaml " in c for c in commands), commands
    assert any("--build-dir bûild/surrogate/fc20_seed0 " in c for c in commands), commands


def _training_inputs(dry_run: str) -> dict[str, str]:
    """The input line of each training job a dry run plans, by rule."""
    inputs = re.findall(r"^rule (\w+):\n    input: (.*)$", dry_run, re.M)
    trainings = {rule: files for rule, files in inputs if rule.endswith("_train")}
    assert set(trainings) == {"stdp_train", "surrogate_train", "ann_train"}, inputs
    return trainings


@pytest.mark.workflow
def test_the_brian2_export_without_a_count_runs_the_whole_test_split(tmp_path):
    """surrogate.export without n_test: the export ran the first 10,000 test images, an
    error on a data set with fewer, where the task's own default is the whole split."""
    wd = _workdir(tmp_path)
    smoke = wd / "config" / "smoke.yaml"
    text = smoke.read_text()
    assert "  export: {backend: cpp, n_test: 200}\n" in text
    res = _snakemake(wd, "-n", "-p")
    assert res.returncode == 0, res.stderr[-3000:]
    export = [c for c in res.stdout.splitlines() if "bioclf.surrogate.export_brian" in c]
    assert export and all(" --n-test 200 --build-dir " in c for c in export), export
    smoke.write_text(text.replace("  export: {backend: cpp, n_test: 200}", "  export: {}"))
    res = _snakemake(wd, "-n", "-p")
    assert res.returncode == 0, res.stderr[-3000:]
    export = [c for c in res.stdout.splitlines() if "bioclf.surrogate.export_brian" in c]
    assert export and not any("--n-test" in c for c in export), export
    assert all(" --backend cpp --build-dir " in c for c in export), export


@pytest.mark.workflow
def test_merged_configuration_is_written_when_a_run_starts(tmp_path):
    """A dry run (or a run refused for the lock: Snakemake parses the workflow before it takes
    the lock) leaves the merged configuration alone, since the jobs of a run under way read
    it; a run writes it when it starts, before its first job, and one that skips that start
    (--no-hooks) is refused where the file holds other values."""
    wd = _workdir(tmp_path)
    merged = wd / ".snakemake" / "bioclf" / "config.yaml"
    res = _snakemake(wd, "--cores", "1", "results/data/summary.json", "--config", "build=first")
    assert res.returncode == 0, res.stderr[-3000:]
    assert yaml.safe_load(merged.read_text())["build"] == "first"
    stamp = merged.stat().st_mtime_ns

    res = _snakemake(wd, "-n", "-p", "--config", "build=second")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "--config .snakemake/bioclf/config.yaml" in res.stdout
    assert yaml.safe_load(merged.read_text())["build"] == "first"
    assert merged.stat().st_mtime_ns == stamp

    # --no-hooks skips the start of a run: refused where the jobs would read other values
    summary = "results/data/summary.json"
    done = (wd / summary).stat().st_mtime_ns
    res = _snakemake(
        wd, "--cores", "1", "--no-hooks", "--force", summary, "--config", "build=second"
    )
    assert res.returncode == 2, res.stderr[-3000:]
    assert res.stderr.strip().splitlines()[-1] == (
        "error: .snakemake/bioclf/config.yaml holds the configuration of an earlier run, not "
        "this one's (config/smoke.yaml + --config), and --no-hooks skips the start of a run "
        "that writes it: run without --no-hooks"
    ), res.stderr[-3000:]
    assert yaml.safe_load(merged.read_text())["build"] == "first"
    assert (wd / summary).stat().st_mtime_ns == done  # no job ran
    res = _snakemake(wd, "--cores", "1", "--no-hooks", summary, "--config", "build=first")
    assert res.returncode == 0, res.stderr[-3000:]  # the values the file holds: nothing to write

    res = _snakemake(
        wd, "--cores", "1", "results/data/summary.json", "-R", "data", "--config", "build=second"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert yaml.safe_load(merged.read_text())["build"] == "second"


@pytest.mark.workflow
def test_naming_the_default_configuration_or_moving_the_directory_runs_nothing_again(tmp_path):
    """The path of the file the jobs read is in their commands, not in their parameters, which
    Snakemake compares with what it recorded: `--configfile config/config.yaml` (the file that
    a run without it reads), a working directory moved elsewhere, and values merged from a
    further file or `--config` (the jobs then read the merged file) that no job's results
    depend on run no job again (the settings files rerun those whose values changed)."""
    (tmp_path / "a").mkdir()
    wd = _workdir(tmp_path / "a")
    target = "results/data/summary.json"
    res = subprocess.run(
        [*SNAKEMAKE, "--cores", "1", target], cwd=wd, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (wd / "threads.yaml").write_text("stdp:\n  threads: 2\n")
    named = [*SNAKEMAKE, "-n", "--cores", "1", target, "--configfile", "config/config.yaml"]
    merged = ["threads.yaml", "--config", "stdp={threads: 3}"]
    for where, more in [("a", []), ("b", []), ("b", merged[:1]), ("b", merged)]:
        if Path(wd).name != where:  # moved elsewhere
            wd = shutil.move(wd, tmp_path / "b")
        res = subprocess.run([*named, *more], cwd=wd, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        out = res.stdout + res.stderr
        assert "Nothing to be done" in out, (more, out[-3000:])


@pytest.mark.workflow
def test_moving_the_interpreter_runs_nothing_again(tmp_path):
    """The jobs run `python` from the directory of the interpreter that runs Snakemake (the
    project's environment, even where another `python` comes first on the PATH), and its path
    is in none of their parameters or commands: the same environment reached by another path
    (moved, or made anew elsewhere) runs nothing again and plans what it planned before."""
    (tmp_path / "wd").mkdir()
    wd = _workdir(tmp_path / "wd")
    other = tmp_path / "other"  # a `python` that is not the project's, first on the PATH
    other.mkdir()
    (other / "python").write_text("#!/bin/sh\necho not the project environment >&2\nexit 3\n")
    (other / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{other}{os.pathsep}{os.environ['PATH']}"}

    def snakemake(python, *args):
        cmd = [python, *SNAKEMAKE[1:], "--configfile", "config/smoke.yaml", *args]
        res = subprocess.run(cmd, cwd=wd, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
        return res.stdout + res.stderr

    target = "results/data/summary.json"
    snakemake(sys.executable, "--cores", "1", target)
    before = _planned_jobs(snakemake(sys.executable, "-n"))
    assert before and "data" not in before

    # the environment's directory reached by another path: another sys.executable
    here = Path(sys.executable)
    (tmp_path / "env").symlink_to(here.parent.parent, target_is_directory=True)
    moved = str(tmp_path / "env" / here.parent.name / here.name)
    probe = [moved, "-c", "import sys; print(sys.executable)"]
    assert subprocess.run(probe, capture_output=True, text=True).stdout.strip() == moved
    assert "Nothing to be done" in snakemake(moved, "-n", target)
    out = snakemake(moved, "-n", "-p")
    assert _planned_jobs(out) == before
    commands = [c.split("Shell command: ")[-1] for c in out.splitlines() if " -m bioclf." in c]
    assert commands and all(c.startswith("python -m bioclf.") for c in commands), commands

    # an interpreter with no `python` beside it (a system python3, say): the jobs run it all
    # the same
    bare = tmp_path / "bare"
    (bare / here.parent.name).mkdir(parents=True)
    (bare / "lib").symlink_to(Path(sys.prefix) / "lib", target_is_directory=True)
    if (Path(sys.prefix) / "pyvenv.cfg").exists():
        shutil.copyfile(Path(sys.prefix) / "pyvenv.cfg", bare / "pyvenv.cfg")
    alone = bare / here.parent.name / "python3-only"
    alone.symlink_to(here.resolve())
    snakemake(str(alone), "--cores", "1", "--force", target)


def _clone_of_the_results(tmp: Path) -> Path:
    """The default configuration's committed results as a fresh clone has them: what git
    tracks (no trained state: *.npz, *.pt), the settings files older than the results."""
    wd = _workdir(tmp)
    files = subprocess.run(
        ["git", "ls-files", "-z", "results"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    now = time.time()
    for name in filter(None, files.split("\0")):
        (wd / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, wd / name)
        when = now - 10 if name.startswith("results/.settings/") else now
        os.utime(wd / name, (when, when))
    return wd


def _default_dry_run(wd: Path, *args) -> set[str]:
    res = subprocess.run(
        [*SNAKEMAKE, "-n", "--cores", "1", *args],
        cwd=wd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return _planned_jobs(res.stdout)


@pytest.mark.workflow
@pytest.mark.parametrize("name", ["coding", "conv"])
def test_a_fresh_clone_has_the_results_of_the_other_committed_configurations(tmp_path, name):
    """The jobs of config/coding.yaml and config/conv.yaml whose results are committed have
    committed settings files too (their values are those the results' metrics.json record),
    so such a configuration plans its report (results/report.md is the default's) and
    nothing else; and the default configuration still nothing but its report afterwards."""
    wd = _clone_of_the_results(tmp_path)
    assert _default_dry_run(wd, "--configfile", f"config/{name}.yaml") <= {"report", "all"}
    assert _default_dry_run(wd) <= {"report", "all"}


@pytest.mark.workflow
@pytest.mark.parametrize(
    "key, value, runs, stays",
    [
        ("stdp.n_test", 5000, {"stdp_respond", "stdp_evaluate"}, {"surrogate_train", "data"}),
        ("stdp.protocol.rest", "100*ms", {"stdp_train"}, {"surrogate_train", "neuron_check"}),
        ("surrogate.epochs", 3, {"surrogate_train", "surrogate_brian", "ann_train"}, {"data"}),
        ("neuron_check.levels", 20, {"neuron_check"}, {"stdp_train", "surrogate_train"}),
        ("stdp.threads", 2, set(), {"stdp_train", "stdp_respond", "surrogate_train"}),
        # (one value written otherwise: it reran the neuron check)
        ("neuron_check.dt", "10*us", set(), {"neuron_check", "stdp_train", "surrogate_train"}),
    ],
)
def test_a_changed_configuration_value_reruns_the_jobs_that_read_it(
    tmp_path, key, value, runs, stays
):
    """Committed results carry no Snakemake record, and the STDP jobs get the configuration as
    a path: each job's settings file (an input) is what reruns the jobs whose results a changed
    value makes stale, and only those (how many threads run changes no result)."""
    wd = _clone_of_the_results(tmp_path)
    # (that a fresh clone plans nothing but its report is the last assertion: the values are
    # the committed ones again and a dry run writes nothing)
    cfg_file = wd / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_file.read_text())
    *path, last = key.split(".")
    section = cfg
    for k in path:
        section = section[k]
    section[last] = value
    original = cfg_file.read_text()
    cfg_file.write_text(yaml.safe_dump(cfg))
    jobs = _default_dry_run(wd)
    assert runs <= jobs and not jobs & stays, jobs
    # a dry run changed nothing: back to the committed values, nothing to compute again
    cfg_file.write_text(original)
    assert _default_dry_run(wd) <= {"report", "all"}


@pytest.mark.workflow
@pytest.mark.parametrize("stop", ["check", "lock"])
def test_a_run_stopped_before_its_jobs_leaves_the_settings_files_as_they_were(tmp_path, stop):
    """A run writes the settings files of changed values as it plans its jobs, before its
    checks and Snakemake's lock: stopped by either (a rest shorter than the refractory period;
    another run under way that writes the report), it gives them back, text and time stamp,
    and removes those it made, so that the next run does not make their results again."""
    wd = _clone_of_the_results(tmp_path)
    settings_dir = wd / "results" / ".settings"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in settings_dir.rglob("*.json")}
    locks = wd / ".snakemake" / "locks"
    if stop == "lock":
        locks.mkdir(parents=True)
        (locks / "0.output.lock").write_text("results/report.md\n")
        change, status = "stdp={n_test: 5000}", 1
    else:  # (the exc neurons' t_ref is 5 ms)
        change, status = "stdp={protocol: {rest: 4*ms}}", 2
    res = subprocess.run(  # (a second seed: settings files that were not there)
        [*SNAKEMAKE, "--cores", "1", "--config", change, "seeds=[0, 1]"],
        cwd=wd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    err = res.stderr + res.stdout
    assert res.returncode == status, err[-3000:]
    assert ("stdp.protocol.rest" if stop == "check" else "cannot be locked") in err
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in settings_dir.rglob("*.json")}
    assert after == before
    shutil.rmtree(locks, ignore_errors=True)
    assert _default_dry_run(wd) <= {"report", "all"}


@pytest.mark.workflow
def test_another_surrogate_neuron_file_reruns_the_surrogate_jobs(tmp_path):
    """A neuron file older than the results (as every committed file is after a checkout)
    named in surrogate.neuron: its mtime is no reason to rerun, and without Snakemake's record
    nothing reran, so the report showed the old file's results under the new one."""
    wd = _clone_of_the_results(tmp_path)
    other = wd / "equations" / "lif2.yaml"
    other.write_text("extends: lif.yaml\nparameters:\n  tau_m: 50*ms\n")
    os.utime(other, (time.time() - 86400,) * 2)
    jobs = _default_dry_run(wd, "--config", "surrogate={neuron: equations/lif2.yaml}")
    assert {"surrogate_train", "surrogate_evaluate", "surrogate_brian"} <= jobs, jobs
    assert not jobs & {"stdp_train", "ann_train", "neuron_check"}, jobs


@pytest.mark.workflow
def test_stdp_shards_are_jobs_of_their_own(tmp_path):
    """stdp.shards: 2 plans two shard jobs each for label assignment and the test responses,
    merged by the rules whose files the evaluation reads; without the reset it is refused."""
    wd = _workdir(tmp_path)
    smoke = wd / "config" / "smoke.yaml"
    cfg = yaml.safe_load(smoke.read_text())
    cfg["stdp"]["shards"] = 2
    smoke.write_text(yaml.safe_dump(cfg))
    res = _snakemake(wd, "-n")
    assert res.returncode != 0 and "stdp.shards" in res.stderr + res.stdout
    cfg["stdp"]["protocol"]["reset_between_samples"] = True
    smoke.write_text(yaml.safe_dump(cfg))
    res = _snakemake(wd, "-n", "-p")
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = dict(re.findall(r"^(stdp_\w+)\s+(\d+)\s*$", res.stdout.split("Job stats:")[1], re.M))
    assert jobs["stdp_assign_shard"] == jobs["stdp_respond_shard"] == "2", jobs
    assert jobs["stdp_assign_merge"] == jobs["stdp_respond_merge"] == "1", jobs
    assert jobs["stdp_evaluate"] == "1" and "stdp_assign" not in jobs, jobs
    run = "results/stdp/cpp/n20/seed0"
    for k in range(2):
        assert f"--shard {k} --shards 2 --out {run}/test/shard{k}of2 " in res.stdout
        assert f"--shard {k} --shards 2 --out {run}/assign/shard{k}of2 " in res.stdout
    merge = f"-m bioclf.stdp.merge --what respond --out {run}/test {run}/test/shard0of2 "
    assert merge + f"{run}/test/shard1of2 " in res.stdout
    # the assignment's merge asks for memory by the counts it holds (it had the profiles'
    # default, 4 GB, against ~5 GB then needed at N=6400 and 60,000 samples; common.smk)
    assign_merge = res.stdout.split("rule stdp_assign_merge:")[1].split("\n[")[0]
    assert "mem_mb=2000," in assign_merge, assign_merge


@pytest.mark.workflow
def test_paper_config_per_network_settings(tmp_path):
    """A network's own optimiser settings override the surrogate section's."""
    wd = _workdir(tmp_path)
    paper = wd / "config" / "paper.yaml"  # (with the neuron checked on brian2cuda too)
    text = paper.read_text()
    assert "  backends: [runtime, cpp]\n" in text
    paper.write_text(text.replace("  backends: [runtime, cpp]\n", "  backends: [runtime, cuda]\n"))
    res = _snakemake(wd, "-n", "-p", timeout=300, configfile="config/paper.yaml")
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [line for line in res.stdout.splitlines() if "bioclf.surrogate.train" in line]
    commands = [c for c in lines if "--spiking false" not in c]
    # every network's ANN twin: the same options, not spiking, in results/ann/; FC-100's twin
    # has a learning rate of its own (ann_lr), the others the network's
    twins = [c for c in lines if "--spiking false" in c]

    def options(command):
        flags = [f for f in command.split(" --") if not f.startswith(("neuron ", "spiking "))]
        flags = [f.replace("results/ann/", "results/surrogate/") for f in flags]
        return sorted(f.replace("ann_train", "surrogate_train") for f in flags)

    fc100_twin = [c for c in twins if "--hidden 100 " in c]
    assert fc100_twin and all("--lr 0.004 " in c for c in fc100_twin)
    assert sorted(options(c.replace("--lr 0.004 ", "")) for c in twins) == sorted(
        options(c.replace("--lr 0.001 ", "")) if "--hidden 100 " in c else options(c)
        for c in commands
    )
    fc400 = [c for c in commands if "--hidden 400 " in c and "--seed 0 " in c]
    fc100 = [c for c in commands if "--hidden 100 " in c and "--seed 0 " in c]
    fc1600 = [c for c in commands if "--hidden 1600 " in c and "--seed 0 " in c]
    conv = [c for c in commands if "--arch conv" in c and "--seed 0 " in c]
    assert len(fc400) == len(fc100) == len(fc1600) == len(conv) == 1, commands
    assert "--lr 0.001 " in fc400[0] and "--augment-shift 1" in fc400[0]
    assert "--lr 0.001 " in fc100[0] and "--weight-decay 0" in fc100[0]
    assert "--channels 16 48 --stride1 1 --conv-hidden 128 " in conv[0]
    assert "--lr 0.002 " in conv[0] and "--augment-shift 1" in conv[0]
    assert "--augment-shift 1" in fc100[0]
    assert "--surrogate atan" in fc100[0] and "--surrogate atan" in fc400[0]
    assert "--augment-shift" not in fc1600[0]  # one network's settings stay its own
    assert "--surrogate" not in fc1600[0] and "--surrogate atan" in conv[0]
    # Memory requests a cluster node can grant: N=6400 was asked 194 GB, 30 MB per neuron
    # (its run at N=1600 peaked at 1.5 GB), then 12.5 GB for the 5.4 GB measured; since Brian2
    # creates the N x N inhibitory synapses, 2.2 GB measured, 5.2 GB asked (common.smk); the
    # raster (1.8 GB measured there) 3.6 GB. The vote alone asks neither a GPU nor much memory.
    jobs = {
        (block.split(":", 1)[0], *re.findall(r"wildcards: (.*)", block)): block
        for block in res.stdout.split("\nrule ")[1:]
    }
    big = jobs["stdp_train", "backend=cuda, n=6400, seed=0"]
    assert "mem_mb=5238," in big and "gpu=1" in big
    assert "mem_mb=2502," in jobs["stdp_assign", "backend=cuda, n=1600, seed=0"]
    assert "mem_mb=3638," in jobs["stdp_raster", "backend=cuda, n=6400, seed=0"]
    assert "mem_mb=2000," in jobs["stdp_raster", "backend=cuda, n=100, seed=0"]
    # the neuron check on brian2cuda claims the GPU it runs on (it claimed none: on a cluster
    # node without one it skipped cuda, saying so in its log only)
    assert "gpu=1" in jobs["neuron_check",]
    vote = jobs["stdp_evaluate", "backend=cuda, n=6400, seed=0"]
    assert "mem_mb=2000," in vote and "gpu" not in vote and "threads" not in vote
    # dc_exc_unclamped.yaml extends dc_exc.yaml: editing either re-runs STDP training.
    train = res.stdout.split("rule stdp_train:")[1].split("output:")[0]
    inputs = train.split("input:")[1].strip().split(", ")
    assert {"equations/dc_exc_unclamped.yaml", "equations/dc_exc.yaml"} <= set(inputs), inputs


@pytest.mark.workflow
@pytest.mark.pipeline
@pytest.mark.standalone
@pytest.mark.slow
def test_smoke_pipeline_end_to_end_and_reruns(tmp_path, build_root):
    wd = _workdir(tmp_path, build_root)
    res = _snakemake(wd, "--cores", "2", timeout=1500)
    assert res.returncode == 0, res.stderr[-5000:]
    report = (wd / "results" / "report.md").read_text()
    assert "| stdp |" in report and "| surrogate |" in report
    df = pd.read_csv(wd / "results" / "metrics.csv")
    assert set(df["method"]) == {"stdp", "surrogate", "ann"}
    spiking = df[df["method"] != "ann"]
    for col in (
        "accuracy",
        "training_wall_time_s",
        "spikes_per_inference",
        "synops_per_inference",
        "energy_nj_per_inference",
        "time_steps",
        "encoding",
    ):
        assert col in df.columns and spiking[col].notna().all(), col
    ann = df[df["method"] == "ann"]
    assert ann["accuracy"].notna().all() and (ann["energy_nj_per_inference"] > 0).all()
    assert "## Is the spiking network worth it?" in report
    assert (wd / "results" / "energy.csv").exists()
    assert df["accuracy"].between(0, 1).all()
    assert df.loc[df["method"] == "surrogate", "brian2_accuracy"].notna().all()
    for fig in (
        "membrane.png",
        "accuracy_vs_n.png",
        "torch_vs_brian2.png",
        "accuracy_vs_energy.png",
    ):
        assert (wd / "results" / "figures" / fig).exists(), fig
    # Every rule left a log and a benchmark.
    assert len(list((wd / "results" / "logs").glob("*.log"))) >= 10
    assert len(list((wd / "results" / "benchmarks").glob("*.tsv"))) >= 10

    # Scoring responses simulated by a separate job (as the pipeline does) gives exactly what
    # simulating the test set inside `evaluate` gives.
    trained = next((wd / "results" / "stdp").glob("*/n*/seed*"))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "bioclf.stdp.evaluate",
            "--config",
            "config/smoke.yaml",
            "--trained",
            str(trained),
            "--assignment",
            str(trained / "assign" / "assignment.npy"),
            "--out",
            str(tmp_path / "direct"),
        ],
        cwd=wd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    direct = pd.read_json(tmp_path / "direct" / "metrics.json", typ="series")
    piped = pd.read_json(trained / "test" / "metrics.json", typ="series")
    assert direct["accuracy"] == piped["accuracy"]
    assert direct["confusion"] == piped["confusion"]

    # Nothing to do afterwards, even with another checkpoint interval (how training runs, not
    # what it computes: Snakemake reruns jobs whose parameters changed) ...
    smoke = wd / "config" / "smoke.yaml"
    smoke.write_text(
        smoke.read_text().replace("  n_test: 500\n", "  n_test: 500\n  checkpoint_minutes: 3\n")
    )
    assert _planned_jobs(_snakemake(wd, "-n").stdout) == set()
    # ... editing the STDP rule re-runs the STDP branch only ...
    stdp = wd / "equations" / "dc_stdp.yaml"
    stdp.write_text(stdp.read_text().replace("nu_post: 1e-2", "nu_post: 2e-2"))
    jobs = _planned_jobs(_snakemake(wd, "-n").stdout)
    assert {"stdp_train", "stdp_assign", "stdp_respond", "stdp_evaluate", "report"} <= jobs
    assert not jobs & {
        "data",
        "neuron_check",
        "surrogate_train",
        "surrogate_evaluate",
        "surrogate_brian",
    }
    # ... and editing the LIF neuron re-runs its users, not STDP.
    (wd / "equations" / "dc_stdp.yaml").write_text(
        (ROOT / "equations" / "dc_stdp.yaml").read_text()
    )
    subprocess.run(["touch", "-d", "2000-01-01", str(stdp)], check=True)
    lif = wd / "equations" / "lif.yaml"
    lif.write_text(lif.read_text().replace("tau_m: 100*ms", "tau_m: 90*ms"))
    res = _snakemake(wd, "-n", "-p")
    jobs = _planned_jobs(res.stdout)
    assert {"neuron_check", "surrogate_train", "surrogate_evaluate", "surrogate_brian"} <= jobs
    assert "--test-subset 500 --checkpoint-minutes 3 --neuron equations/lif.yaml" in res.stdout
    assert not jobs & {"data", "stdp_train", "ann_train"}


def test_report_names_the_machines_the_runs_were_computed_on(tmp_path):
    """A report rendered again elsewhere still says where its runs ran (their own metrics)."""
    from bioclf.io import write_json
    from bioclf.report import runs_provenance

    def run(name, file, machine, date, **commit):
        (tmp_path / name).mkdir()
        info = {"machine": machine, "date": date, **commit}
        write_json(tmp_path / name / file, {"provenance": info})
        return tmp_path / name

    dirs = [
        run("stdp", "train_metrics.json", "AMD EPYC", "2026-12-05 05:15", commit="abc1234"),
        run("sur", "metrics.json", "AMD EPYC", "2026-12-05 05:17", commit="abc1234+dirty"),
        run("sur2", "metrics.json", "AMD EPYC", "2026-12-05 05:16", commit="abc1234"),
        run("ann", "metrics.json", "Intel Xeon", "2026-12-06 10:00"),  # (before commits)
        tmp_path / "missing",  # a run without metrics: nothing to say
    ]
    lines = runs_provenance(pd.DataFrame({"_dir": dirs}))
    assert lines == [
        "- computed on AMD EPYC: 3 runs, 2026-12-05 05:15 to 2026-12-05 05:17, "
        "code of abc1234, abc1234+dirty",
        "- computed on Intel Xeon: 1 run, 2026-12-06 10:00",
    ]


def test_report_of_an_empty_or_wrong_results_directory_is_refused(tmp_path, capsys):
    """A report with nothing under --out (an empty directory, a mistyped path) is an error
    naming what it looked for, exit status 2, and writes nothing (it wrote an empty report)."""
    from bioclf import report, tasks

    config = str(ROOT / "config" / "config.yaml")
    for out in (tmp_path / "empty", tmp_path / "typo"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        assert tasks.run(report.main, ["--config", config, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "nothing to report" in err
        assert str(out / "neuron" / "lif_check.json") in err and "metrics.json" in err
    named = ["--inputs", str(tmp_path / "none" / "metrics.json")]
    assert tasks.run(report.main, ["--config", config, "--out", str(tmp_path / "empty"), *named])
    assert "none of the --inputs" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]
    assert not any((tmp_path / "empty").iterdir())


def test_report_reads_the_stdp_accuracy_trace_from_the_versioned_metrics(tmp_path):
    """A fresh clone has train_metrics.json but not train_records.npz (not versioned): the
    report's accuracy-over-training figure keeps its STDP curve."""
    import numpy as np

    from bioclf.io import write_json
    from bioclf.report import _stdp_trace

    write_json(tmp_path / "train_metrics.json", {"running_accuracy": [[100, 0.5], [200, 0.75]]})
    np.testing.assert_array_equal(_stdp_trace(tmp_path), [[100, 0.5], [200, 0.75]])
    (tmp_path / "train_metrics.json").unlink()
    np.savez(tmp_path / "train_records.npz", trace=np.array([[50.0, 0.25]]))  # older runs
    np.testing.assert_array_equal(_stdp_trace(tmp_path), [[50.0, 0.25]])
    (tmp_path / "train_records.npz").unlink()
    assert _stdp_trace(tmp_path).shape == (0, 2)


def test_report_keeps_runs_of_other_inputs_apart_from_seeds(tmp_path):
    """config/coding.yaml trains FC-100 with six inputs (code, T), all seed 0: six networks in
    metrics.csv and the README table, not one network with six seeds; a directory the
    configuration does not name is labelled from its name."""
    from bioclf import config as cfgmod
    from bioclf import readme_table
    from bioclf.report import surrogate_rows

    cfg = cfgmod.load(ROOT / "config" / "coding.yaml")
    names = [
        "fc100",
        "fc100_rate_T10",
        "fc100_rate_T50",
        "fc100_latency_T10",
        "fc100_latency_T25",
        "fc100_latency_T50",
    ]
    files = []
    for k, name in enumerate(names):
        d = tmp_path / "surrogate" / name / "seed0"
        shutil.copytree(ROOT / "results" / "surrogate" / "fc100" / "seed0", d)
        m = json.loads((d / "metrics.json").read_text())
        m["accuracy"] = 0.9 + k / 100
        (d / "metrics.json").write_text(json.dumps(m))
        files.append(d / "metrics.json")
    rows = surrogate_rows(cfg, files)
    assert [r["network"] for r in rows] == [
        "FC 784-100-10",
        "FC 784-100-10, rate code, T=10",
        "FC 784-100-10, rate code, T=50",
        "FC 784-100-10, latency code, T=10",
        "FC 784-100-10, latency code, T=25",
        "FC 784-100-10, latency code, T=50",
    ]
    assert all(r["backend"] == "torch-cpu" for r in rows)
    pd.DataFrame(rows).drop(columns="_dir").to_csv(tmp_path / "metrics.csv", index=False)
    table = readme_table.table(tmp_path / "metrics.csv", tmp_path / "t.csv", tmp_path / "o.csv")
    assert "best of" not in table and table.count("(seed 0)") == 6
    default = cfgmod.load(ROOT / "config" / "config.yaml")  # names only fc100
    assert surrogate_rows(default, files[4:5])[0]["network"] == "FC 784-100-10, latency code, T=25"


def test_report_lists_the_configured_runs_it_did_not_find(tmp_path):
    from bioclf import report

    shutil.copytree(
        ROOT / "results" / "surrogate" / "fc100" / "seed0", tmp_path / "surrogate/fc100/seed0"
    )
    assert (
        report.main(["--config", str(ROOT / "config" / "config.yaml"), "--out", str(tmp_path)]) == 0
    )
    text = (tmp_path / "report.md").read_text()
    missing = f"{tmp_path / 'stdp/cpp/n100/seed0/test'}, {tmp_path / 'ann/fc100/seed0'}"
    assert f"- runs missing (no metrics.json): {missing}\n" in text
    assert "surrogate/fc100" not in text.split("runs missing")[1].split("\n")[0]


def test_report_names_a_metrics_file_that_lacks_a_field(tmp_path):
    from bioclf import config as cfgmod
    from bioclf.errors import ResultFileError
    from bioclf.report import stdp_rows, surrogate_rows

    path = tmp_path / "stdp/cpp/n100/seed0/test/metrics.json"
    path.parent.mkdir(parents=True)
    m = json.loads((ROOT / "results/stdp/cpp/n100/seed0/test/metrics.json").read_text())
    cfg = cfgmod.load(ROOT / "config" / "config.yaml")
    path.write_text(json.dumps(m))
    assert stdp_rows(cfg, [path])[0]["accuracy"] == m["accuracy"]
    del m["encoding"]  # as written before the latency code existed
    path.write_text(json.dumps(m))
    with pytest.raises(ResultFileError, match="has no field 'encoding'") as err:
        stdp_rows(cfg, [path])
    assert str(path) in str(err.value)
    # a surrogate run's likewise
    path = tmp_path / "surrogate/fc100/seed0/metrics.json"
    path.parent.mkdir(parents=True)
    m = json.loads((ROOT / "results/surrogate/fc100/seed0/metrics.json").read_text())
    del m["n_samples"]
    path.write_text(json.dumps(m))
    with pytest.raises(ResultFileError, match="has no field 'n_samples'") as err:
        surrogate_rows(cfg, [path])
    assert str(path) in str(err.value)


def test_report_counts_a_surrogate_runs_training_images_from_its_history():
    """Training samples per second (metrics.csv) and the x axis of the accuracy-over-training
    figure count the images the run saw, not 60,000 whatever the data set held."""
    from bioclf.report_coding import samples_per_epoch

    history = [{"epoch": 1, "samples_per_second": 150.0, "seconds": 2.0}]
    assert samples_per_epoch({}, history) == 300
    assert samples_per_epoch({"validation": 10000}) == 50000  # no history
