"""Run a standalone binary while holding its project's lock.

    python locked_run.py [--peak-file NAME] COMMAND [ARG...]

Brian2 starts the compiled program as a child process. If the Python process that started it
is killed on its own, the child runs on, and a resumed run that started the same project's
binary meanwhile would share its input and result files. This wrapper takes an exclusive
``flock`` on ``.bioclf.lock`` in the working directory (the project), waiting -- with a
message -- while another program of the project holds it, and then runs the command as its
child, which inherits the lock: the program holds the lock until it exits, however its parents
end.

The program is a child rather than this process's replacement (``exec``) so that its peak
memory can be measured: a process forked from the large Python process that started the run
carries that process's peak in its own accounting (Linux keeps the larger of the two), so
``RUSAGE_CHILDREN`` there reports Python's memory, not the program's. Here the program is forked
from this small process, and its peak resident memory (kB) is written to ``.bioclf.peak_rss_kb``,
or to the file named by a leading ``--peak-file NAME`` (the compiler's build runs this way too:
its peak is that of the largest process make started).

Where the file system keeps no ``flock`` locks (``ENOLCK``, ``ENOSYS``, ``EOPNOTSUPP``: e.g.
Lustre mounted without ``flock``) the program runs unlocked, with a warning, rather than not at
all, as builds do (`bioclf.brian.buildlock`).

Standard library only: Brian2 runs this with the project directory as working directory.
"""

from __future__ import annotations

try:
    import signal

    def _quiet(signum, frame):
        raise SystemExit(130)

    # Ctrl-C while this script starts, before the program runs: exit 130 without a traceback
    # (a KeyboardInterrupt raised between two of its lines would print one). Where this process
    # started with Ctrl-C ignored (a background job), it stays ignored.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _quiet)

    import errno
    import fcntl
    import os
    import resource
    import sys
    import time
except KeyboardInterrupt:  # (before the handler above)
    raise SystemExit(130) from None

LOCK_NAME = ".bioclf.lock"
#: Errors that mean the file system keeps no locks (as opposed to "held by another process"),
#: for this lock and the build lock (`bioclf.brian.buildlock`).
NO_LOCKS = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP}
PEAK_NAME = ".bioclf.peak_rss_kb"
COMPILE_PEAK_NAME = ".bioclf.compile_peak_rss_kb"


def _wait(fd: int) -> None:
    """Wait, with a message, for the program that holds the lock on `fd` to end."""
    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
    print(
        f"bioclf: waiting for an earlier run of this project (pid {holder}, "
        f"{os.getcwd()}) to finish",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.monotonic()
    fcntl.flock(fd, fcntl.LOCK_EX)
    print(f"bioclf: lock acquired after {time.monotonic() - t0:.1f} s", file=sys.stderr)


def main(argv: list[str]) -> int:
    peak_file = PEAK_NAME
    if argv[:1] == ["--peak-file"] and len(argv) >= 2:
        peak_file, argv = argv[1], argv[2:]
    if not argv or argv[0] in ("-h", "--help"):  # (no lock or peak file left behind)
        print("usage: locked_run.py [--peak-file NAME] COMMAND [ARG...]", file=sys.stderr)
        return 0 if argv else 2
    fd = os.open(LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _wait(fd)
    except OSError as exc:
        if exc.errno not in NO_LOCKS:
            raise
        # (as the build lock does, bioclf/brian/buildlock.py: run rather than fail)
        print(
            f"bioclf: cannot lock {os.path.abspath(LOCK_NAME)} ({exc.strerror}: the file system "
            "keeps no flock locks, e.g. Lustre mounted without flock); running without: a "
            "program of this project left running by a killed run is not waited for",
            file=sys.stderr,
            flush=True,
        )
    os.set_inheritable(fd, True)  # the lock travels with the open file into the program
    # Ctrl-C reaches the program too (same process group): from here on, wait for it to end,
    # then report. (Ignored before the fork: a Ctrl-C just after it would end this process
    # before the program; the program gets the disposition this process was started with,
    # the default where this one had `_quiet`.)
    inherited = signal.signal(signal.SIGINT, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGINT, signal.SIG_DFL if inherited is _quiet else inherited)
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            print(f"bioclf: cannot run {argv[0]}: {exc}", file=sys.stderr, flush=True)
        os._exit(127)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{pid}\n".encode(), 0)
    _, status = os.waitpid(pid, 0)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        with open(peak_file, "w") as f:
            f.write(f"{peak_kb}\n")
    except OSError:
        pass  # a measurement only
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # Ctrl-C before the program started (waiting for the lock)
        sys.exit(130)
