"""The lock that keeps two runs of one standalone project apart (`bioclf.brian.locked_run`)."""

import os
import subprocess
import sys
import time

import pytest

from bioclf.brian.backends import LOCKED_RUN, LOCKED_RUN_CMD

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock is POSIX only")


def _locked(cwd, script, **kw):
    return [*LOCKED_RUN_CMD, "sh", "-c", script], dict(cwd=cwd, **kw)


def test_a_second_program_waits_for_the_first(tmp_path):
    log = tmp_path / "log"
    cmd, kw = _locked(tmp_path, "echo a-start >> log; sleep 1; echo a-end >> log")
    # The first program's parent is gone at once (as when the Python process is killed):
    # the lock must stay with the program itself.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess; subprocess.Popen({cmd!r}, cwd={str(tmp_path)!r})",
        ]
    )
    parent.wait()
    deadline = time.time() + 30
    while not (log.exists() and "a-start" in log.read_text()):
        assert time.time() < deadline
        time.sleep(0.01)
    cmd, kw = _locked(tmp_path, "echo b >> log")
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    assert second.returncode == 0
    assert log.read_text().split() == ["a-start", "a-end", "b"]
    assert "waiting for an earlier run" in second.stderr


def test_exit_status_and_free_lock_pass_through(tmp_path):
    cmd, kw = _locked(tmp_path, "exit 3")
    assert subprocess.run(cmd, timeout=60, **kw).returncode == 3
    cmd, kw = _locked(tmp_path, "true")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    assert done.returncode == 0 and done.stderr == ""  # nobody held the lock: no message


def test_peak_memory_is_the_programs_own(tmp_path):
    # The parent holds ~400 MB, the program touches ~100 MB: the recorded peak must be the
    # program's (a program exec'd from a fork of the parent would report the parent's 400 MB).
    program = "x = bytearray(100 * 2**20)"
    parent = (
        "import subprocess, sys\n"
        "ballast = bytearray(400 * 2**20)\n"
        f"cmd = [sys.executable, {str(LOCKED_RUN)!r}, sys.executable, '-c', {program!r}]\n"
        f"sys.exit(subprocess.run(cmd, cwd={str(tmp_path)!r}).returncode)\n"
    )
    assert subprocess.run([sys.executable, "-c", parent], timeout=60).returncode == 0
    peak_mb = int((tmp_path / ".bioclf.peak_rss_kb").read_text()) / 1024
    assert 100 <= peak_mb < 300


def test_missing_program_is_reported(tmp_path):
    cmd, kw = _locked(tmp_path, "true")
    cmd[len(LOCKED_RUN_CMD) :] = ["no-such-program-bioclf"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    assert done.returncode == 127 and "cannot run no-such-program-bioclf" in done.stderr


def test_peak_file_can_be_named(tmp_path):
    # How the build runs make: its peak goes to its own file, the program's is left alone.
    program = "x = bytearray(50 * 2**20)"
    cmd = [*LOCKED_RUN_CMD, "--peak-file", "make.kb", sys.executable, "-c"]
    assert subprocess.run([*cmd, program], cwd=tmp_path, timeout=60).returncode == 0
    assert 50 <= int((tmp_path / "make.kb").read_text()) / 1024 < 200
    assert not (tmp_path / ".bioclf.peak_rss_kb").exists()


def test_ctrl_c_while_it_starts_ends_it_without_a_traceback(tmp_path):
    """A Ctrl-C that reaches the wrapper while Python imports its modules (at each chunk's
    start) printed a KeyboardInterrupt traceback under the task's one-line "interrupted".
    Simulated here by an import that raises it."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "fcntl.py").write_text("raise KeyboardInterrupt\n")
    res = subprocess.run(
        [*LOCKED_RUN_CMD, "true"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(fake)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 130 and "Traceback" not in res.stderr, res.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_runs_nothing_and_leaves_no_file(tmp_path, flag):
    """--help was taken for the command to run: it failed, leaving the lock and peak files in
    the directory it was asked from."""
    res = subprocess.run(
        [sys.executable, str(LOCKED_RUN), flag], cwd=tmp_path, capture_output=True, text=True
    )
    assert res.returncode == 0 and "usage:" in res.stderr, res.stderr
    assert not list(tmp_path.iterdir())


def test_a_file_system_without_locks_runs_the_program_unlocked(tmp_path):
    """flock failing with ENOSYS (Lustre mounted without flock): a warning naming the lock
    file, and the program runs, rather than a traceback and no program."""
    script = (
        "import errno, fcntl, runpy, sys\n"
        "def no_locks(*args):\n"
        "    raise OSError(errno.ENOSYS, 'Function not implemented')\n"
        "fcntl.flock = no_locks\n"
        f"sys.argv = [{str(LOCKED_RUN)!r}, 'sh', '-c', 'echo ran > out; exit 4']\n"
        f"runpy.run_path({str(LOCKED_RUN)!r}, run_name='__main__')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 4, res.stderr
    assert (tmp_path / "out").read_text() == "ran\n"
    assert f"cannot lock {tmp_path / '.bioclf.lock'} (Function not implemented" in res.stderr
    assert "Traceback" not in res.stderr
