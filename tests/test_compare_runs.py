"""``bench/compare_runs.py``: two runs' results agree but for timings and provenance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, bench_script


@pytest.fixture(scope="module")
def compare():
    return bench_script(ROOT / "bench" / "compare_runs.py")


REPORT = """# report

| method | accuracy | training time (s) | train samples/s |
|---|---|---|---|
| stdp | {acc} | {wall} | 1,080.2 |

- computed on {machine}: 3 runs
"""


def _run(root: Path, *, wall: float = 1.0, acc: float = 0.34, machine: str = "x") -> Path:
    """A run's results folder with one file of each kind; `wall` and `machine` are timing and
    provenance, `acc` a result."""
    (root / "stdp" / "test").mkdir(parents=True)
    (root / "benchmarks").mkdir()
    (root / "logs").mkdir()
    np.save(root / "stdp" / "weights.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    costs = json.dumps({"build_time_s": wall, "program_mb": 6.8})
    np.savez(root / "stdp" / "checkpoint.npz", counts=np.array([3, 1]), wall=[wall], costs=costs)
    metrics = {
        "accuracy": acc,
        "confusion": [[1, 0], [0, 1]],
        "training_wall_time_s": wall,
        "peak_memory": {"program_mb": wall},
        "provenance": {"date": str(wall), "machine": machine},
    }
    (root / "stdp" / "test" / "metrics.json").write_text(json.dumps(metrics))
    (root / "runs.jsonl").write_text(json.dumps({"accuracy": acc, "seconds": wall}) + "\n")
    (root / "metrics.csv").write_text(f"method,accuracy,training_wall_time_s\nstdp,{acc},{wall}\n")
    (root / "report.md").write_text(REPORT.format(acc=acc, wall=wall, machine=machine))
    model = {"model": {"w": torch.ones(2, 2) * acc}, "history": [{"seconds": wall}]}
    torch.save(model, root / "model.pt")
    (root / "benchmarks" / "train.tsv").write_text(f"s\n{wall}\n")
    (root / "logs" / "train.log").write_text(f"{wall} samples/s\n")
    (root / "fields.png").write_bytes(f"png {machine}".encode())
    return root


def test_runs_that_differ_in_timings_and_provenance_only_agree(compare, tmp_path, capsys):
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b", wall=12.5, machine="y")  # a longer text in the npz's costs
    assert compare.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "runs agree" in out and "DIFFERS" not in out
    assert "note: figure fields.png differs" in out
    assert "10 files: 1 figure differs, 7 same, 2 set aside" in out
    for name in ("training_wall_time_s", "wall", "build_time_s", "provenance", "seconds"):
        assert f"{name} (differs)" in out
    assert "training time (s) (differs)" in out  # the report's column


def _negative_zero(a: np.ndarray) -> np.ndarray:
    """The array with its zeros as -0.0: equal values, other bits."""
    return np.where(a == 0, np.float32(-0.0), a)


@pytest.mark.parametrize(
    "path, change",
    [
        ("stdp/weights.npy", lambda p: np.save(p, np.arange(6, dtype=np.float32).reshape(3, 2))),
        ("stdp/weights.npy", lambda p: np.save(p, np.load(p) + np.float32(1e-6))),
        ("stdp/weights.npy", lambda p: np.save(p, _negative_zero(np.load(p)))),
        ("stdp/checkpoint.npz", lambda p: np.savez(p, counts=[3, 2], wall=[1.0], costs="{}")),
        ("model.pt", lambda p: torch.save({"model": {"w": torch.ones(2, 2)}, "history": []}, p)),
        ("runs.jsonl", lambda p: p.write_text('{"accuracy": 0.35, "seconds": 1.0}\n')),
        (
            "metrics.csv",
            lambda p: p.write_text("method,accuracy,training_wall_time_s\nstdp,0.35,1\n"),
        ),
        ("report.md", lambda p: p.write_text(REPORT.format(acc=0.35, wall=1.0, machine="x"))),
    ],
)
def test_a_result_that_differs_is_named(compare, tmp_path, capsys, path, change):
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b")
    change(b / path)
    assert compare.main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert f"DIFFERS {path}" in out and "runs DIFFER" in out


def test_a_changed_field_and_a_file_in_one_run_only_are_named(compare, tmp_path, capsys):
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b")
    metrics = b / "stdp" / "test" / "metrics.json"
    data = json.loads(metrics.read_text())
    data["confusion"][1] = [1, 0]
    metrics.write_text(json.dumps(data))
    shutil.copy(a / "runs.jsonl", a / "extra.json")
    assert compare.main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS stdp/test/metrics.json.confusion[1][0]: 0 != 1" in out
    assert "DIFFERS extra.json: only in A" in out


def test_a_missing_folder_is_refused(compare, tmp_path, capsys):
    assert compare.main([str(tmp_path), str(tmp_path / "none")]) == 2
    assert "none: not a folder" in capsys.readouterr().err


def test_help_describes_what_is_set_aside(compare, capsys):
    with pytest.raises(SystemExit):
        compare.main(["--help"])
    out = capsys.readouterr().out
    assert "Compare the outputs of two pipeline runs" in out and "Set aside" in out


def test_a_checkpoint_moved_aside_in_one_run_is_set_aside(compare, tmp_path, capsys):
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b")
    shutil.copy(b / "stdp" / "checkpoint.npz", b / "stdp" / "checkpoint.stale.npz")
    shutil.copy(b / "model.pt", b / "checkpoint.stale2.pt")
    assert compare.main([str(a), str(b)]) == 0
    assert "12 files: 8 same, 4 set aside" in capsys.readouterr().out
