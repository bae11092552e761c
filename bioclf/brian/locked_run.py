"""Run a standalone binary while holding its project's lock (``python locked_run.py CMD...``).

Brian2 starts the compiled program as a child process. If the Python process that started it
is killed on its own, the child runs on, and a resumed run that started the same project's
binary meanwhile would share its input and result files. This wrapper takes an exclusive
``flock`` on ``.bioclf.lock`` in the working directory (the project), waiting -- with a
message -- while another program of the project holds it, and then *replaces itself* with the
command (``exec``): the program itself holds the lock until it exits, however its parent ends.

Standard library only: Brian2 runs this with the project directory as working directory.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time

LOCK_NAME = ".bioclf.lock"


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: locked_run.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    fd = os.open(LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
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
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)  # exec keeps the pid: the program's own
    os.set_inheritable(fd, True)  # the lock travels with the open file into the program
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
