"""The lock that keeps two builds of one standalone project apart.

A build generates the project's code (Brian2 rewrites the files whose text changed), patches
it, forgets objects compiled against other headers and runs make (`bioclf.brian.backends.build`).
Two processes doing that in one project folder at once -- two tasks, two Snakemake jobs or two
test sessions given the same build directory -- write the same files under each other and link
objects the other is rewriting. `build_lock` serialises them: an exclusive ``fcntl`` (POSIX)
lock on ``.bioclf.build.lock`` in the project, held for the whole build, with a message naming
the holder while it waits.

POSIX locks rather than ``flock``: NFS (v3 through its lock manager, v4 itself) and cluster file
systems (Lustre mounted with ``flock``, GPFS, BeeGFS) apply them across the nodes that share the
folder, which is where two jobs of one workflow meet; they are released by the kernel when the
holder ends, however (SIGKILL, a scheduler's time limit), so a killed build blocks nobody (its
half-generated project is built over by the next holder, whose make compiles again what the
killed compiler left). A node that dies holding one keeps it until the NFS server notices (the
v4 lease, about 90 s; v3: when the node comes back): the message shows which node and since
when. Where the file system has no locks at all (``ENOLCK``, ``ENOSYS``, ``EOPNOTSUPP``: NFS
without a lock manager, Lustre mounted without ``flock``) the build goes on unserialised, with a
warning, rather than fail.

POSIX locks belong to a process, and closing any descriptor of the file releases them, so this
process locks each project once (nested `build_lock` calls on a project it holds do nothing) and
never opens the lock file otherwise. Standard library only.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bioclf.brian.locked_run import NO_LOCKS

BUILD_LOCK_NAME = ".bioclf.build.lock"
#: Seconds between two tries while another process holds the lock, and between two messages.
POLL_S, REPORT_S = 0.5, 60.0

_held: set[Path] = set()  # projects this process holds the lock of


def _holder(fd: int) -> str:
    text = os.pread(fd, 256, 0).decode(errors="replace").strip()
    return text or "a process that has not yet named itself"


@contextmanager
def build_lock(
    directory: Path, poll_s: float = POLL_S, report_s: float = REPORT_S
) -> Iterator[None]:
    """Hold the build lock of the project `directory` (created if missing) for the block.

    While another process holds it, says so on stderr at once and every `report_s` seconds
    (which process, on which host, since when, and for how long this one has waited), trying
    every `poll_s` seconds; says when it got the lock after a wait. Ctrl-C while waiting
    interrupts as anywhere else.
    """
    directory = Path(directory).resolve()
    if directory in _held:  # nested: this process holds it already
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / BUILD_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        locked = _acquire(fd, directory, poll_s, report_s)
        if locked:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
            me = f"pid {os.getpid()} on {socket.gethostname()}, building since {stamp}\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, me.encode(), 0)
            _held.add(directory)
        try:
            yield
        finally:
            _held.discard(directory)
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, directory: Path, poll_s: float, report_s: float) -> bool:
    """Lock `fd`, waiting for another holder; False where the file system keeps no locks."""
    start, next_report = time.monotonic(), 0.0
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno in NO_LOCKS:
                print(
                    f"bioclf: cannot lock {directory / BUILD_LOCK_NAME} ({exc.strerror}: the "
                    "file system keeps no locks); building without: concurrent builds of this "
                    "project are not kept apart",
                    file=sys.stderr,
                    flush=True,
                )
                return False
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
        waited = time.monotonic() - start
        if waited >= next_report:
            print(
                f"bioclf: waiting for another build of {directory} to finish (held by "
                f"{_holder(fd)}; waited {waited:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
            next_report += report_s
        time.sleep(poll_s)
    waited = time.monotonic() - start
    if waited > 0.1:
        print(
            f"bioclf: build lock of {directory} acquired after {waited:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    return True
