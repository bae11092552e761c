"""Shared fixtures; markers say what a test needs (standalone: a C++ compiler, cuda: nvcc)."""

from __future__ import annotations

import gc
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EQUATIONS = ROOT / "equations"

DC_MODELS = {
    "exc": EQUATIONS / "dc_exc.yaml",
    "inh": EQUATIONS / "dc_inh.yaml",
    "input_exc": EQUATIONS / "dc_stdp.yaml",
    "exc_inh": EQUATIONS / "dc_exc_inh.yaml",
    "inh_exc": EQUATIONS / "dc_inh_exc.yaml",
}


def pytest_collection_modifyitems(config, items):
    no_cxx = shutil.which("g++") is None and shutil.which("c++") is None
    no_nvcc = shutil.which("nvcc") is None
    if no_cxx and os.environ.get("BIOCLF_REQUIRE_CXX"):  # CI: parity untested is a failure
        raise pytest.UsageError("no C++ compiler: the cpp_standalone parity tests cannot run")
    for item in items:
        if no_cxx and "standalone" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="no C++ compiler for cpp_standalone"))
        if no_nvcc and "cuda" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="nvcc not found: brian2cuda cannot compile"))
    # The CUDA tests go last: their project compiles in the background meanwhile.
    items.sort(key=lambda item: "cuda" in item.keywords)


def pytest_collection_finish(session):
    """The objects of the imported libraries moved out of the garbage collector's sight: Brian2
    collects garbage at every run of a network, and each collection traversed the whole heap of
    the session (Brian2, SymPy, PyTorch: about 0.1 s a run, and twice as much in all in the
    collections that allocations start), which took more time than the small networks' runs."""
    import brian2  # noqa: F401
    import torch  # noqa: F401

    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def build_root(tmp_path_factory) -> Path:
    """One build directory for the session, so compiled projects are reused across tests."""
    return tmp_path_factory.mktemp("brian2_build")


@pytest.fixture(autouse=True)
def _reset_brian():
    """Each test starts from Brian2's runtime device and default preferences."""
    yield
    from brian2 import prefs, set_device

    set_device("runtime")
    prefs.reset_to_defaults()


@pytest.fixture(scope="session", autouse=True)
def cuda_prebuild(request, build_root):
    """Start compiling the CUDA project (`cuda_project.py`) when the session begins.

    nvcc needs ~10 CPU-minutes for it; in another process, at the lowest priority, it takes
    the CPU the other tests (which run first) leave idle. Yields the process (None when no CUDA
    test is to run or nvcc is absent).
    """
    wanted = any("cuda" in item.keywords and not _skipped(item) for item in request.session.items)
    if not (wanted and shutil.which("nvcc")):
        yield None
        return
    log = (build_root / "cuda_prebuild.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "cuda_project.py"), str(build_root)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        # A process group of its own, so that make and nvcc go with it if the session stops
        # early; the same session, so that the scheduler's autogroup (a session's processes
        # share a CPU) leaves its nice value in effect against the tests
        process_group=0,
        preexec_fn=lambda: os.nice(19),  # the tests first; nvcc has all their waits
    )

    def end_build(signum, frame):  # pytest killed (a timeout): no teardown would run
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    previous = signal.signal(signal.SIGTERM, end_build)
    yield proc
    signal.signal(signal.SIGTERM, previous)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()


def _skipped(item) -> bool:
    """Whether a collected test is marked to be skipped (skip, or skipif with a true condition)."""
    if item.get_closest_marker("skip"):
        return True
    return any(mark.args and mark.args[0] is True for mark in item.iter_markers("skipif"))


def sigint_default() -> None:
    """``preexec_fn`` of a process that `ctrl_c` interrupts: SIGINT at its default action, as
    in a command started from a terminal, however pytest was started (a background job of a
    non-interactive shell, ``cmd &`` in a script, has SIGINT ignored, which its children
    inherit and keep; ``nohup`` ignores SIGHUP only)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ctrl_c(proc: subprocess.Popen, ready, timeout: float = 600) -> tuple[str, str]:
    """Press Ctrl-C for `proc`'s process group (started with ``start_new_session=True``, as a
    terminal's Ctrl-C reaches a command and its children) once ``ready()`` is true; return its
    (stdout, stderr). The group is killed if the test fails before it ends."""
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert time.monotonic() < deadline and proc.poll() is None, "not ready to interrupt"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def program_running(build: Path) -> bool:
    """Whether a compiled program of a project under `build` runs now: the pid its lock file
    names (`bioclf.brian.locked_run`, written as the program is started) runs the project's
    binary. A Ctrl-C that `ctrl_c` sends then reaches a running program, not the few
    milliseconds in which Python starts or ends the wrapper, where it raises wherever it
    lands (in the interpreter's own start-up, too)."""
    for lock in build.rglob(".bioclf.lock"):
        try:
            pid = int(lock.read_text().split()[0])
            if Path(os.readlink(f"/proc/{pid}/exe")) == (lock.parent / "main").resolve():
                return True
        except (ValueError, IndexError, OSError):  # (not yet written; a program that ended)
            continue
    return False


def bench_script(path: Path, name: str | None = None):
    """The script at `path` (e.g. ``bench/bench_stdp.py``, which is no package module) imported
    as a module named `name` (default: its stem)."""
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def workflow_copy(tmp: Path) -> Path:
    """What the workflow reads, copied to `tmp` (MNIST linked), so results land there; with the
    start-up checks that the unedited files passed in a workflow copy of its own remembered
    (`bioclf.checked`: PyTorch imported, MNIST verified, the model files loaded, about 4 s a
    start). Remembered checks are keyed by what they read: a test that edits a file or a value
    gets that check run again."""
    _copy_inputs(tmp)
    checked = tmp / ".snakemake" / "bioclf" / "checked"
    checked.mkdir(parents=True)
    for marker in _checks_passed():
        shutil.copy(marker, checked / marker.name)
    return tmp


def _copy_inputs(tmp: Path) -> None:
    for name in ("equations", "config"):
        shutil.copytree(ROOT / name, tmp / name)
    (tmp / "data").mkdir()
    (tmp / "data" / "mnist").symlink_to(ROOT / "data" / "mnist")


_PASSED: list[Path] = []


def _checks_passed() -> list[Path]:
    """The markers of one dry run of the smoke configuration in an unedited copy (once)."""
    if not _PASSED:
        import atexit
        import tempfile

        warm = Path(tempfile.mkdtemp(prefix="bioclf-checked-"))
        atexit.register(shutil.rmtree, warm, ignore_errors=True)
        _copy_inputs(warm)
        res = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-n"]
            + ["--configfile", "config/smoke.yaml", "--cores", "1"],
            cwd=warm,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, res.stderr[-3000:]
        _PASSED.extend(sorted((warm / ".snakemake" / "bioclf" / "checked").iterdir()))
        assert _PASSED
    return _PASSED
