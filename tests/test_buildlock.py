"""The lock that keeps two builds of one standalone project apart (`bioclf.brian.buildlock`):
two processes with a fake build step, a holder killed, nesting, file systems without locks."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from bioclf.brian import backends, buildlock
from bioclf.brian.buildlock import BUILD_LOCK_NAME, build_lock

pytestmark = pytest.mark.skipif(os.name != "posix", reason="fcntl locks are POSIX only")


def _builder(project, log, name: str, hold: float) -> subprocess.Popen:
    """A process that 'builds' `project` under its lock: logs its start, sleeps, logs its end
    (-S and the standard library only: it starts in ~20 ms)."""
    code = (
        f"import sys, time\nsys.path.insert(0, {str(ROOT)!r})\n"
        "from bioclf.brian.buildlock import build_lock\n"
        f"with build_lock({str(project)!r}, poll_s=0.02):\n"
        f"    open({str(log)!r}, 'a').write('{name}-start\\n')\n"
        f"    time.sleep({hold})\n"
        f"    open({str(log)!r}, 'a').write('{name}-end\\n')\n"
    )
    return subprocess.Popen([sys.executable, "-S", "-c", code], stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _held_by_another(project) -> bool:
    """Whether a process other than this one could not take the lock now."""
    code = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(project / BUILD_LOCK_NAME)!r}, os.O_RDWR)\n"
        "try:\n    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n"
        "    sys.exit(1)\n"
    )
    return subprocess.run([sys.executable, "-S", "-c", code], timeout=30).returncode == 1


def test_a_second_build_waits_for_the_first_and_says_so(tmp_path):
    project, log = tmp_path / "proj", tmp_path / "log"
    first = _builder(project, log, "a", 0.6)
    _wait_for(lambda: log.exists() and "a-start" in log.read_text())
    second = _builder(project, log, "b", 0)
    _, err_a = first.communicate(timeout=30)
    _, err_b = second.communicate(timeout=30)
    assert first.returncode == second.returncode == 0
    assert log.read_text().split() == ["a-start", "a-end", "b-start", "b-end"]
    assert err_a == ""  # nobody held it: no message
    assert f"waiting for another build of {project.resolve()} to finish" in err_b
    assert f"pid {first.pid} on " in err_b  # the holder named, with its host
    assert "acquired after" in err_b


def test_a_killed_holder_blocks_nobody(tmp_path):
    """The kernel releases a POSIX lock when its process dies, SIGKILL included; the build
    that waited goes on at once."""
    project, log = tmp_path / "proj", tmp_path / "log"
    first = _builder(project, log, "a", 600)
    _wait_for(lambda: log.exists() and "a-start" in log.read_text())
    second = _builder(project, log, "b", 0)
    assert "waiting for another build" in second.stderr.readline()
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    start = time.monotonic()
    second.communicate(timeout=30)
    assert second.returncode == 0 and time.monotonic() - start < 5
    assert log.read_text().split() == ["a-start", "b-start", "b-end"]


def test_nested_locks_of_one_process_keep_the_lock(tmp_path):
    """Closing any descriptor of the file would release this process's POSIX lock: an inner
    `build_lock` of the same project must not take (and drop) it a second time."""
    project = tmp_path / "proj"
    with build_lock(project):
        with build_lock(project / ".." / "proj"):
            pass
        assert _held_by_another(project)
    assert not _held_by_another(project)


def test_a_file_system_without_locks_builds_with_a_warning(tmp_path, monkeypatch, capsys):
    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "lockf", no_locks)
    ran = []
    with build_lock(tmp_path / "proj"):
        ran.append(True)
    assert ran and "building without" in capsys.readouterr().err


def test_build_generates_and_compiles_under_the_lock(tmp_path, monkeypatch):
    """`backends.build` holds the lock from code generation to the end of make."""
    directory, seen = (tmp_path / "proj").resolve(), []

    def step(name):
        return lambda *a, **k: seen.append((name, directory in buildlock._held))

    monkeypatch.setattr(backends.device, "build", step("generate"))
    monkeypatch.setattr(backends.cpp_patches, "snapshot", step("snapshot"))
    monkeypatch.setattr(backends.cpp_patches, "patch_project", step("patch"))
    monkeypatch.setattr(backends, "forget_objects_of_other_headers", step("forget"))
    monkeypatch.setattr(backends, "compile_project", step("make"))
    backends.build(backends.Backend("cpp"), directory)
    assert seen == [(n, True) for n in ("snapshot", "generate", "patch", "forget", "make")]
    assert not buildlock._held
