"""The SLURM profiles: the smoke pipeline through profiles/slurm on a real cluster.

Needs a cluster that answers ``sinfo`` (scripts/slurm-local.sh starts a one-node one) and the
executor plugin (``pip install -e .[slurm]``); skipped with the reason otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from conftest import ROOT
from test_pipeline import _snakemake, _workdir

PLUGIN = importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None


def _cluster_answers() -> str | None:
    """None if `sinfo` answers, else why not."""
    if shutil.which("sinfo") is None:
        return "sinfo not found (no SLURM client; scripts/slurm-local.sh starts a cluster)"
    try:
        res = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s"
    if res.returncode != 0:
        return f"sinfo failed: {res.stderr.strip()[:200]}"
    return None


def _job(dry_run: str, rule: str) -> str:
    """A rule's job entry in a dry run's output (up to the next job's time stamp)."""
    return dry_run.split(f"rule {rule}:")[1].split("\n[")[0]


needs_plugin = pytest.mark.skipif(
    not PLUGIN, reason="snakemake-executor-plugin-slurm not installed (pip install -e .[slurm])"
)


def _rules_and_gpu() -> dict[str, str | None]:
    """Every rule of workflow/rules/*.smk: the expression of its ``gpu=`` resource, or None.

    A rule defined twice (in the two branches of an ``if``) must claim GPUs alike: a profile
    routes a rule by its name. (With stdp.shards > 1, stdp_assign and stdp_respond were the
    one-thread merges, queued in the GPU partition by profiles/slurm-gpu.)
    """
    rules = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for match in re.finditer(r"^\s*rule (\w+):(.*?)(?=^\s*rule \w+:|\Z)", text, re.S | re.M):
            gpu = re.search(r"^\s*gpu=(.+?),?$", match[2], re.M)
            claim = gpu[1] if gpu else None
            assert rules.setdefault(match[1], claim) == claim, f"{match[1]}: defined twice"
    return rules


def _claims(expression: str, config: dict) -> int:
    """GPUs a rule's ``gpu=`` `expression` claims under the merged `config`'s settings."""
    stdp, sur = config["stdp"], config["surrogate"]
    names = {
        "STDP_BACKEND": stdp["backend"],
        "SUR_DEVICE": sur["device"],
        "EXPORT_BACKEND": sur["export"]["backend"],
        "NEURON_CHECK_BACKENDS": config.get("neuron_check", {}).get("backends", ["runtime"]),
        "stdp_gpu": lambda w: 1 if w.backend == "cuda" else 0,
        "sur_gpu": lambda w=None: 1 if sur["device"] == "cuda" else 0,
    }
    claim = eval(expression, names)  # noqa: S307 (the rules' own expressions)
    return claim(SimpleNamespace(backend=stdp["backend"])) if callable(claim) else claim


def test_the_gpu_partition_holds_the_jobs_that_claim_a_gpu_and_no_other():
    """profiles/slurm-gpu named the main runs' rules only: a sweep point or a shard that claims
    a GPU (stdp.backend / surrogate.device cuda, which the profile sets) went to the default
    partition, and the sweep's surrogate jobs claimed none while told --device cuda. A rule
    claims one only where it uses one: surrogate_brian only for surrogate.export.backend
    cuda (a configuration file's had claimed one, outside the GPU partition: the profile
    sets the backend it routes for), the STDP evaluations (given the responses, they vote)
    never."""
    rules = _rules_and_gpu()
    assert {"stdp_train", "sweep_stdp_train", "stdp_assign_shard"} <= set(rules)
    simulating = re.compile(
        r"bioclf\.(stdp\.(train|assign|respond)|surrogate\.(train|evaluate|export_brian))\b"
    )
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for match in re.finditer(r"^\s*rule (\w+):(.*?)(?=^\s*rule \w+:|\Z)", text, re.S | re.M):
            evaluates = "bioclf.stdp.evaluate" in match[2] and "--responses" not in match[2]
            if simulating.search(match[2]) or evaluates:
                assert rules[match[1]] is not None, f"{match[1]} claims no GPU"
            elif "bioclf.stdp.evaluate" in match[2]:
                assert rules[match[1]] is None, f"{match[1]} only votes, yet claims a GPU"
    profile = yaml.safe_load((ROOT / "profiles" / "slurm-gpu" / "config.yaml").read_text())
    config = profile["config"]
    claiming = {r for r, gpu in rules.items() if gpu is not None and _claims(gpu, config)}
    assert {"surrogate_brian", "stdp_train"} & claiming == {"stdp_train"}
    routed = {r for r, v in profile["set-resources"].items() if v.get("slurm_partition") == "gpu"}
    assert routed == claiming, (
        f"claim a GPU, not sent to the gpu partition: {sorted(claiming - routed)}; "
        f"sent there, claim none: {sorted(routed - claiming)}"
    )
    config["surrogate"]["export"]["backend"] = "cuda"  # (were the profile to set cuda)
    assert _claims(rules["surrogate_brian"], config) == 1


def _runtime(profile: dict, rule: str, attempt: int) -> int:
    """Minutes a profile asks for a job of `rule` at `attempt` (a number or an expression)."""
    value = profile.get("set-resources", {}).get(rule, {}).get("runtime")
    if value is None:
        value = profile["default-resources"]["runtime"]
    return int(eval(str(value), {"attempt": attempt}))  # noqa: S307 (the profile's own)


@pytest.mark.parametrize("name", ["slurm", "slurm-gpu"])
def test_resumable_trainings_ask_the_same_runtime_again_on_retry(name):
    """A training stopped by the time limit resumes from its checkpoint on the retry, so the
    retry needs no more time; stdp_train's retry asked 96 h ("2880 * attempt"), beyond many
    partitions' limits (refused, or pending for ever). A sweep point's training is the same
    training and asks what the main run's asks (it had the default 12 h)."""
    profile = yaml.safe_load((ROOT / "profiles" / name / "config.yaml").read_text())
    assert profile["retries"] >= 1
    for main in ("stdp_train", "surrogate_train"):
        first = _runtime(profile, main, 1)
        assert _runtime(profile, main, 2) == first, main
        assert _runtime(profile, f"sweep_{main}", 1) == _runtime(profile, f"sweep_{main}", 2)
        assert _runtime(profile, f"sweep_{main}", 1) == first, main
    # the longest request of any attempt: two days (config/paper.yaml's N=6400 on a CPU ~28 h)
    rules = [*_rules_and_gpu(), "default"]
    assert max(_runtime(profile, r, a) for r in rules for a in (1, 2)) == 2880


def test_the_seconds_long_rules_run_where_snakemake_runs():
    """The STDP votes (3.4 s at N=100, results/benchmarks/; given the responses, seconds at any
    N) and the merge of the test responses' shards waited in the cluster's queue as jobs of
    their own. The merge of the label assignment's shards (~5 GB at N=6400) stays there."""
    text = (ROOT / "Snakefile").read_text()
    directives = re.findall(r"^( *)localrules: (.+)$", text, re.M)
    always = {n.strip() for indent, names in directives if not indent for n in names.split(",")}
    assert {"data", "report", "stdp_evaluate", "sweep_stdp_evaluate"} <= always
    # the responses' merge is a rule where stdp.shards > 1 only (named apart from the
    # simulations, which profiles/slurm-gpu routes by name: 21fed78; the localrules directive
    # had kept the old name, a rule that no longer existed, and the merge went to the queue)
    assert {"stdp_assign", "stdp_respond"}.isdisjoint(always)
    sharded = text.split("if STDP_SHARDS > 1:", 1)[1].lstrip("\n").splitlines()[0]
    local = {n.strip() for n in sharded.split("localrules:")[1].split(",")}
    assert local == {"stdp_respond_merge"}
    assert local <= set(_rules_and_gpu()), "localrules names a rule that is defined nowhere"


@needs_plugin
@pytest.mark.workflow
def test_gpu_profile_sends_gpu_jobs_to_gpu_partition(tmp_path):
    """A dry run: STDP and surrogate jobs get one GPU and the GPU partition, the others
    neither."""
    wd = _workdir(tmp_path)
    res = _snakemake(wd, "--profile", str(ROOT / "profiles" / "slurm-gpu"), "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    train = _job(res.stdout, "stdp_train")
    assert "gpu=1" in train and "slurm_partition=gpu" in train, train
    surrogate = _job(res.stdout, "surrogate_train")
    assert "gpu=1" in surrogate and "slurm_partition=gpu" in surrogate, surrogate
    export = _job(res.stdout, "surrogate_brian")  # the Brian2 export runs on cpp
    assert "slurm_partition" not in export and "gpu=1" not in export, export


@needs_plugin
@pytest.mark.slurm
@pytest.mark.pipeline
@pytest.mark.workflow
@pytest.mark.standalone
@pytest.mark.slow
def test_smoke_pipeline_through_slurm_profile(tmp_path, build_root):
    reason = _cluster_answers()
    if reason:
        pytest.skip(reason)
    wd = _workdir(tmp_path, build_root)
    res = _snakemake(wd, "--profile", str(ROOT / "profiles" / "slurm"), timeout=1800)
    assert res.returncode == 0, res.stderr[-5000:]
    log = res.stdout + res.stderr
    assert "submitted with SLURM jobid" in log  # through the cluster, not run locally
    # the seconds-long rules run where Snakemake runs (localrules)
    assert "localrule data:" in log and "localrule report:" in log
    df = pd.read_csv(wd / "results" / "metrics.csv")
    assert set(df["method"]) == {"stdp", "surrogate", "ann"}
    assert "| stdp |" in (wd / "results" / "report.md").read_text()


@needs_plugin
@pytest.mark.slurm
@pytest.mark.pipeline
@pytest.mark.workflow
@pytest.mark.standalone
@pytest.mark.slow
def test_cluster_jobs_run_the_merged_configuration(tmp_path, build_root):
    """A second configuration file and a --config value: each cluster job parses the workflow
    again (with the arguments Snakemake passes it) and runs what the workflow planned, the
    shard rules that only the second file defines included; the merged configuration is
    written when the run starts and not again, so a second invocation has nothing to do."""
    reason = _cluster_answers()
    if reason:
        pytest.skip(reason)
    wd = _workdir(tmp_path)
    more = {
        "seeds": [3],
        "stdp": {"n_test": 150, "shards": 2, "protocol": {"reset_between_samples": True}},
        "surrogate": {"epochs": 2},
    }
    (wd / "config" / "more.yaml").write_text(yaml.safe_dump(more))
    run, sur = "results/stdp/cpp/n20/seed3", "results/surrogate/fc20/seed3"
    args = [
        "config/more.yaml",  # after smoke.yaml: --configfile takes both
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        f"{run}/test/metrics.json",
        f"{sur}/metrics.json",
        "--config",
        f"build={build_root}",
    ]
    res = _snakemake(wd, *args, timeout=1800)
    assert res.returncode == 0, res.stderr[-5000:]
    log = res.stdout + res.stderr
    assert "submitted with SLURM jobid" in log
    assert "rule stdp_respond_shard:" in log and "rule stdp_assign_shard:" in log

    merged = wd / ".snakemake" / "bioclf" / "config.yaml"
    text = merged.read_text()
    assert text.startswith("# written by the workflow: smoke.yaml + more.yaml + --config\n")
    cfg = yaml.safe_load(text)
    assert cfg["build"] == str(build_root) and cfg["stdp"]["n_test"] == 150
    assert json.loads((wd / run / "test" / "metrics.json").read_text())["n_test"] == 150
    assert [p.name for p in sorted((wd / run / "test").glob("shard*"))] == [
        "shard0of2",
        "shard1of2",
    ]
    trained = json.loads((wd / sur / "metrics.json").read_text())["config"]
    assert (trained["epochs"], trained["seed"]) == (2, 3)
    # written before the first job's output, and no job wrote it again
    stamp = merged.stat().st_mtime_ns
    # (the jobs' settings files are written as the workflow plans them, before it starts)
    outputs = [f for f in (wd / "results").rglob("*") if f.is_file() and ".settings" not in f.parts]
    assert outputs and all(f.stat().st_mtime_ns >= stamp for f in outputs)

    res = _snakemake(wd, *args[:-2], "-n", "--config", f"build={build_root}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Nothing to be done" in res.stdout + res.stderr
    assert merged.stat().st_mtime_ns == stamp
