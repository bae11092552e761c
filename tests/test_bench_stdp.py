"""bench/bench_stdp.py: its speed figures without simulating anything, and its refusal of cuda."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, bench_script


def _bench():
    return bench_script(ROOT / "bench" / "bench_stdp.py")


def test_both_designs_report_the_same_speed_figures():
    """The compiled run's windows and the conventional design give the figures `speed`
    makes, in its order (milliseconds to 3 and to 1 decimals), around their own."""
    bench = _bench()
    # chunks: (samples, presentations, wall s, CPU s, slots simulated)
    chunks = [(10, 12, 1.0, 0.9, 13), (10, 11, 2.0, 1.8, 13), (5, 5, 0.5, 0.45, 7)]
    assert bench.window(chunks, 0, 2, "first") == {
        "slots_simulated": 26,
        "ms_per_slot_simulated": 115.385,
        "window": "first",
        "samples": 20,
        "presentations": 23,
        "train_s": 3.0,
        "cpu_s": 2.7,
        "ms_per_sample": 150.0,
        "cpu_ms_per_sample": 135.0,
        "ms_per_presentation": 130.435,
        "samples_per_s": 6.7,
    }
    assert list(bench.window(chunks, 0, 3, "all"))[3:10] == list(bench.speed(1, 1, 1, 1, 1))
    assert bench.speed(3, 7, 1.23456, 1.0, 1) == {
        "samples": 3,
        "presentations": 7,
        "train_s": 1.23,
        "cpu_s": 1.0,
        "ms_per_sample": 411.5,
        "cpu_ms_per_sample": 333.3,
        "ms_per_presentation": 176.4,
    }


def test_the_compile_time_is_printed_before_the_first_chunk_runs(tmp_path, monkeypatch, capsys):
    """bench/gpu/check.sh times the first 100 samples as one chunk: a step cut off by its time
    limit inside that chunk keeps at least the compile time in its log (a simulator that
    simulates nothing stands in here)."""
    import types

    import numpy as np

    class Simulator:
        def __init__(self, *args):
            self.initial_state = {}
            self.net = types.SimpleNamespace(slots=3)
            self.runner = types.SimpleNamespace(program_peak_kb=0, compile_peak_kb=0)

        def run_chunk(self, state, images, pos, key, plastic):
            print("chunk run", file=sys.stderr)
            return state, types.SimpleNamespace(samples=range(len(images)), retried_counts=[])

        def cleanup(self):
            pass

    bench = _bench()
    monkeypatch.setattr(bench, "Simulator", Simulator)
    out = bench._compiled((None, None), 7, np.zeros((4, 784)), 1, 2, tmp_path, "cpp", None, None)
    assert out["samples"] == 4
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("  N=7 1 thread(s): compiled in ") and lines[1] == "chunk run"


def test_cuda_without_a_visible_gpu_is_refused_naming_the_driver(monkeypatch, capsys):
    """The refusal said 'nvidia-smi lists none', but the check asks the CUDA driver, which
    CUDA_VISIBLE_DEVICES can leave without a GPU while nvidia-smi lists the node's."""
    bench = _bench()
    monkeypatch.setattr(bench.backends, "gpu_available", lambda: False)
    monkeypatch.setattr("sys.argv", ["bench_stdp.py", "--backend", "cuda"])
    with pytest.raises(SystemExit) as exit_:
        bench.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "CUDA driver" in err and "CUDA_VISIBLE_DEVICES" in err and "nvidia-smi" not in err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--sizes", "0"], "argument --sizes: must be a positive integer"),
        (["--threads", "0"], "argument --threads: must be a positive integer"),
        (["--samples", "-1"], "argument --samples: must be a positive integer"),
        (["--out", "."], "argument --out: . is a directory"),
        (["--samples", "70000"], "the training set has 60000"),
    ],
)
def test_bad_options_are_refused_before_any_timing(monkeypatch, capsys, argv, says):
    """Before: --sizes 0 and --threads 0 ended in ConfigError tracebacks, --samples -1 timed a
    whole epoch, and an --out that is a directory failed after the first N's timings (lost)."""
    bench = _bench()
    monkeypatch.setattr(bench, "compiled", lambda *a, **k: pytest.fail("a timing started"))
    monkeypatch.setattr("sys.argv", ["bench_stdp.py", *argv])
    with pytest.raises(SystemExit) as exit_:
        bench.main()
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err


def test_a_bad_configuration_is_one_line(tmp_path):
    """A --config that cannot be read: one line naming it, exit status 2 (before: a traceback)."""
    absent = tmp_path / "absent.yaml"
    done = subprocess.run(
        [
            sys.executable,
            "bench/bench_stdp.py",
            "--config",
            str(absent),
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2
    assert (
        done.stderr == f"error: configuration {absent}: field '(file)': cannot be read: "
        "No such file or directory\n"
    ), done.stderr


@pytest.mark.parametrize("config", [None, str(ROOT / "config" / "config.yaml")])
def test_a_configuration_error_names_the_file_read_or_none(monkeypatch, capsys, tmp_path, config):
    """Without --config the protocol is `Protocol`'s defaults, read from no file: a refusal of
    it named config/config.yaml (tasks.run's name for a task's --config not given), as it did
    for a --config given abbreviated (--conf, which argparse takes)."""
    from brian2 import ms

    from bioclf import tasks
    from bioclf.stdp import network

    bench = _bench()
    short_rest = bench.Protocol(rest=1 * ms)  # shorter than the input delays
    monkeypatch.setattr(bench, "Protocol", lambda: short_rest)
    monkeypatch.setattr(bench.stdp_setup, "protocol", lambda cfg: short_rest)
    monkeypatch.setattr(bench, "compiled", lambda setup, *a: network.check_protocol(*setup))
    argv = ["--sizes", "10", "--samples", "2", "--epoch-samples", "0", "--threads", "1"]
    argv += ["--out", str(tmp_path / "b.json"), *(["--conf", config] if config else [])]
    assert tasks.run(bench.main, argv) == 2
    err = capsys.readouterr().err
    named = config or "(no --config: the default protocol)"
    assert err.startswith(f"error: configuration {named}: field 'stdp.protocol.rest': "), err
    assert len(err.splitlines()) == 1 and not (tmp_path / "b.json").exists()
