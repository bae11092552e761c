"""bench/gpu/check.sh, the GPU checks, as far as a machine without a GPU can check them.

A GPU is lent rarely and for minutes, with one try: a renamed test or option there would cost
the whole loan. Here: the script parses, every test it names exists, every command it runs
accepts its options, and what a step records says what ran.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, bench_script

SCRIPT = ROOT / "bench" / "gpu" / "check.sh"


def _steps() -> dict[str, list[str]]:
    """The command of each step (``run_step NAME LIMIT COMMAND...``), split as bash would."""
    text = SCRIPT.read_text().replace("\\\n", " ")
    sizes = re.search(r"^STDP_SIZES=\$\{STDP_SIZES:-([\d ]+)\}", text, re.M)[1]
    steps = {}
    for match in re.finditer(r"^\s*run_step (\w+) \d+ (.+)$", text, re.M):
        command = match[2].replace("$STDP_SIZES", sizes).replace('"$OUTDIR', '"/tmp/out')
        steps[match[1]] = shlex.split(command.replace('"$PY"', "python"))
    return steps


def _parser(script: str):
    return bench_script(script).build_parser()


def test_the_script_parses_and_names_every_step():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    assert set(_steps()) == {"tests", "stdp", "conv", "lif"}


def test_every_test_it_runs_exists():
    ids = [a for a in _steps()["tests"] if a.startswith("tests/")]
    assert ids
    for node in ids:
        path, _, name = node.partition("::")
        name = name.split("[")[0]  # (a parametrized case: its function)
        assert (ROOT / path).is_file(), node
        if name:
            source = (ROOT / path).read_text()
            assert re.search(rf"^def {re.escape(name)}\(", source, re.M), node


@pytest.mark.parametrize("step", ["stdp", "conv", "lif"])
def test_every_command_it_runs_accepts_its_options(step):
    command = _steps()[step]
    assert command[0] == "python", command
    if command[1] == "-m":
        from bioclf.surrogate import train

        assert command[2] == "bioclf.surrogate.train", command
        parser, argv = train.build_parser(), command[3:]
    else:
        parser, argv = _parser(ROOT / command[1]), command[2:]
    parser.parse_args(argv)  # (argparse exits with status 2 on an unknown option or value)


def test_it_leaves_no_more_files_than_the_device_machine_returns():
    """The lent machine returns at most 8 files of $OUT, named in letters, digits, '.', '_'
    and '-': a ninth (a new step's log or result) would be lost, and with it a whole loan's
    measurement. The files: machine.txt, a log per step and the results written there."""
    text = SCRIPT.read_text()
    named = set(re.findall(r"\$OUTDIR/([\w.-]+)\"", text)) | {"machine.txt"}
    files = named | {f"{step}.log" for step in _steps()}
    assert "$name.log" not in files and len(files) <= 8, sorted(files)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f) for f in files), sorted(files)


def test_a_slow_step_leaves_the_later_steps_their_reserve(tmp_path):
    """Each step's limit keeps RESERVE seconds of the budget for every step after it, so that
    tests and stdp using their whole limits cannot leave conv and lif nothing (the steps run
    here with an interpreter that does nothing: only the limits are read)."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)

    def limits(**env):
        out = subprocess.run(
            ["bash", str(SCRIPT), str(tmp_path / "out")],
            env={**os.environ, "PYTHON": str(fake), **env},
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        found = re.findall(r"^== (\w+) \(at most (\d+) s, (\d+) s into the run\)$", out, re.M)
        return [(name, int(limit), int(into)) for name, limit, into in found]

    caps = {"tests": 300, "stdp": 240, "conv": 90, "lif": 120}  # each step's own limit
    for reserve in (45, 0):
        steps = limits(BUDGET="200", RESERVE=str(reserve))
        assert [name for name, _, _ in steps] == list(caps)
        for later, (name, limit, into) in zip((3, 2, 1, 0), steps, strict=True):
            assert limit == min(caps[name], 200 - into - reserve * later), (name, reserve)


def test_a_machine_without_make_gets_the_carried_one(tmp_path):
    """Brian2 compiles its standalone projects with make, which the lent machine's image may
    lack: check.sh puts the copy fetch_wheels.sh carried (WHEELS/make) on the PATH, and
    machine.txt says so; nothing is carried where the machine has make."""
    bin_dir = tmp_path / "bin"  # the PATH's programs, less make
    bin_dir.mkdir()
    for d in os.environ["PATH"].split(os.pathsep):
        for prog in Path(d).glob("*") if Path(d).is_dir() else ():
            target = bin_dir / prog.name
            if prog.name != "make" and not target.exists() and os.access(prog, os.X_OK):
                target.symlink_to(prog)
    wheels = tmp_path / "whl"
    wheels.mkdir()
    (wheels / "make").write_text("#!/bin/sh\necho 'GNU Make 9.9 (the carried one)'\n")
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)

    def machine(path: str) -> str:
        env = {**os.environ, "PATH": path, "PYTHON": str(fake), "WHEELS": str(wheels)}
        subprocess.run(
            ["bash", str(SCRIPT), str(tmp_path / "out"), "none"],
            env=env, capture_output=True, timeout=60,
        )  # fmt: skip
        return (tmp_path / "out" / "machine.txt").read_text()

    text = machine(str(bin_dir))
    assert "GNU Make 9.9 (the carried one)" in text
    assert f"(carried: {wheels}/make)" in text
    if shutil.which("make"):
        assert "carried" not in machine(os.environ["PATH"])


def test_the_lif_bench_says_when_our_kernel_layer_ran_the_step_functions(tmp_path, monkeypatch):
    """A kernel that does not build (on the GPU: nvcc failing, or the CUDA kernel disagreeing
    with the C kernel) leaves the 'bioclf kernel' layer running the PyTorch step functions
    with a warning alone: its time must not go into the JSON as the kernel's (the C kernel
    made unbuildable here stands for it)."""
    import torch

    from bioclf.surrogate import kernels
    from bioclf.surrogate.compile import compile_neuron
    from bioclf.surrogate.options import TrainConfig

    bench = bench_script(ROOT / "bench" / "bench_lif.py")
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")  # (main sets it; restored afterwards)
    threads = torch.get_num_threads()  # (main sets one thread)

    def layers(name: str) -> dict:
        out = tmp_path / f"{name}.json"
        argv = ["--sizes", "16", "--T", "3", "--batch", "2", "--rounds", "1", "--passes", "1"]
        try:
            assert bench.main([*argv, "--only", "bioclf", "--no-compile", "--out", str(out)]) == 0
        finally:
            torch.set_num_threads(threads)
        return {layer["name"]: layer for layer in json.loads(out.read_text())["layers"]}

    if kernels.kernel_for(compile_neuron(TrainConfig.neuron, TrainConfig.dt)) is not None:
        built = layers("built")  # (a C compiler here: the kernel runs)
        assert set(built) == {"bioclf kernel", "bioclf fused"}
        assert built["bioclf kernel"]["ran_as"] == "cpu (compiled C neuron kernels)"
        assert built["bioclf fused"]["ran_as"] == "cpu (PyTorch step functions)"
    monkeypatch.setattr(kernels, "kernel_for", lambda neuron: None)
    fell_back = layers("fell_back")
    assert set(fell_back) == {"bioclf kernel, fell back to the step functions", "bioclf fused"}
    assert {layer["ran_as"] for layer in fell_back.values()} == {"cpu (PyTorch step functions)"}


def test_machine_txt_names_the_commit_date_and_processor(tmp_path):
    """The lent machine's copy of the tree has no git: machine.txt names the commit the caller
    gave (BIOCLF_COMMIT), and the processor beside the GPU, so that the tests' log, which
    records neither, can be told apart from another run's."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake), "BIOCLF_COMMIT": "abc1234"}
    out = tmp_path / "out"
    subprocess.run(
        ["bash", str(SCRIPT), str(out), "none"], env=env, capture_output=True, timeout=60
    )
    text = (out / "machine.txt").read_text()
    assert re.search(r"^commit: abc1234 \(BIOCLF_COMMIT\); git: \S+$", text, re.M), text
    assert re.search(r"^date: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", text, re.M), text
    cpuinfo = Path("/proc/cpuinfo")
    model = re.search(r"^model name.*$", cpuinfo.read_text(), re.M) if cpuinfo.exists() else None
    if model:
        assert model[0] in text.splitlines()


def test_spikingjelly_runs_in_each_sizes_turn_once_per_provider(monkeypatch):
    """On CUDA, SpikingJelly is timed in child processes, one per provider (it reads the
    provider when it is imported), for one size at a time, in that size's turn: run after every
    size, it came after both torch.compile variants of both sizes, which check.sh's lif step
    never outlasts. Each child gets the parent's options but its own size, --only and --out;
    one that fails is recorded with its size and the last line it wrote on stderr."""
    bench = bench_script(ROOT / "bench" / "bench_lif.py")
    calls = []

    def run(cmd, env, capture_output, text):
        calls.append((cmd, env["SJ_LIF_CUDA_IMPLEMENTATION"]))
        if env["SJ_LIF_CUDA_IMPLEMENTATION"] != "triton":
            return subprocess.CompletedProcess(cmd, 1, "", "Traceback\nRuntimeError: boom\n")
        out = Path(cmd[cmd.index("--out") + 1])
        out.write_text(json.dumps({"layers": [{"name": "SpikingJelly LIFNode", "n": 16}]}))
        return subprocess.CompletedProcess(cmd, 0, "  N=    16 SpikingJelly LIFNode ...\n", "")

    monkeypatch.setattr(bench.subprocess, "run", run)
    argv = ["--device", "cuda", "--sizes", "12544", "16", "--out", "/x/lif.json", "--T", "5"]
    layers = bench.spikingjelly_per_provider(argv, 16)
    assert layers == [
        {"name": "SpikingJelly LIFNode, triton requested", "n": 16},
        {"name": "SpikingJelly LIFNode, torch", "n": 16, "error": "RuntimeError: boom"},
    ]
    assert [provider for _, provider in calls] == list(bench.SJ_PROVIDERS)
    for cmd, _ in calls:
        assert cmd[1] == bench.__file__ and "/x/lif.json" not in cmd
        expected = ["--device", "cuda", "--T", "5", "--sizes", "16", "--only", "spikingjelly"]
        assert cmd[2:-1] == [*expected, "--out"]


def test_the_lif_benchs_currents_of_a_size_do_not_depend_on_the_sizes_before_it(tmp_path):
    """SpikingJelly's child processes on CUDA run one size each (--sizes N): drawn after the
    sizes before it, a size's currents were others in the child than the other layers' of that
    size, and the spike rates, which must agree, compared unlike inputs."""
    import torch

    bench = bench_script(ROOT / "bench" / "bench_lif.py")
    threads = torch.get_num_threads()  # (main sets one thread)

    def rate(*sizes: str) -> float:
        out = tmp_path / "lif.json"
        argv = ["--sizes", *sizes, "--T", "20", "--batch", "4", "--rounds", "1", "--passes", "1"]
        try:
            assert bench.main([*argv, "--only", "bioclf", "--no-compile", "--out", str(out)]) == 0
        finally:
            torch.set_num_threads(threads)
        layers = json.loads(out.read_text())["layers"]
        return [x["spike_rate"] for x in layers if x["n"] == 16 and x["name"] == "bioclf fused"][0]

    assert rate("24", "16") == rate("16") > 0
