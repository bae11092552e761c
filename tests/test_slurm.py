"""The SLURM profiles: the smoke pipeline through profiles/slurm on a real cluster.

Needs a cluster that answers ``sinfo`` (scripts/slurm-local.sh starts a one-node one) and the
executor plugin (``pip install -e .[slurm]``); skipped with the reason otherwise.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess

import pandas as pd
import pytest
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


@needs_plugin
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
