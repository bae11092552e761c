"""Shared plumbing of the ``python -m bioclf.<task>`` entry points."""

from __future__ import annotations

import argparse
import ast
import collections
import importlib.util
import math
import os
import platform
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path  # (also used by the tasks as tasks.Path)

from bioclf.errors import THE_CONFIGURATION, BioclfError, ConfigError


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a cluster's ``scancel`` or time limit) raised in a running task, so
    that it ends as after a Ctrl-C: what cleans up on an interruption runs, and its log says
    how to go on instead of ending without a word."""


#: The ``--config`` of a task that is not given one.
DEFAULT_CONFIG = "config/config.yaml"


def _terminate(signum, frame):
    raise Terminated


def _on_sigterm():
    """Install `_terminate` for SIGTERM where Python's default (die at once) is in place and this
    is the main thread (only it may); return what to restore, or None where nothing changed
    (a SIGTERM ignored or handled by whoever runs the task stays so)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def keep_inherited_sigint() -> None:
    """A process started with SIGINT ignored (``cmd &`` in a script without job control, some
    batch systems) keeps ignoring it, and one started with the default action keeps that.
    Brian2's import replaces either with its handler, which then calls the inherited
    ``SIG_IGN`` or ``SIG_DFL`` as a function: a SIGINT gave a ``TypeError`` traceback instead.
    Nothing happens where brian2 is not imported or its handler is not in place."""
    brian2 = sys.modules.get("brian2")
    handler = signal.getsignal(signal.SIGINT)
    inherited = getattr(handler, "previous_handler", None)
    if (
        brian2 is not None
        and isinstance(handler, getattr(brian2, "_InterruptHandler", ()))
        and inherited in (signal.SIG_IGN, signal.SIG_DFL)
        and threading.current_thread() is threading.main_thread()  # (signal.signal's rule)
    ):
        signal.signal(signal.SIGINT, inherited)


def run(
    main: Callable[[list[str] | None], int | None],
    argv: list[str] | None = None,
    resumes: bool = False,
) -> int:
    """Call `main`; a `BioclfError` is printed (no traceback) and gives exit status 2, as does
    running out of memory (`out_of_memory`: a size given that this machine cannot hold).

    A Ctrl-C ends it in one line and exit status 130; a SIGTERM likewise, with exit status 143
    (128 + 15, as the shell reports a command the signal killed). The line says what the same
    command does when run again: resume, where the task checkpoints its work (`resumes`, its
    module's ``RESUMES``), else start over.
    """
    previous = _on_sigterm()
    keep_inherited_sigint()  # (a task's modules may have imported brian2)
    try:
        return int(main(argv) or 0)
    except BioclfError as exc:
        _quiet_brian()
        if isinstance(exc, ConfigError) and exc.path == THE_CONFIGURATION:
            # (a task raising it has a --config option; not given, it read the default)
            source = _option(sys.argv[1:] if argv is None else argv, "--config")
            exc = ConfigError(source or DEFAULT_CONFIG, exc.field, exc.reason)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # (a size given beyond this machine: --n-exc 10**11)
        if (what := out_of_memory(exc)) is None:
            raise
        _quiet_brian()
        print(f"error: out of memory ({what}): a size given (neurons, samples, batch) is too "
              "large for this machine", file=sys.stderr)  # fmt: skip
        return 2
    except KeyboardInterrupt as exc:  # (also while a network is built: its objects unused)
        _quiet_brian()
        again = "resume" if resumes else "start over"
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"{what}; run the same command again to {again}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def out_of_memory(exc: BaseException) -> str | None:
    """What `exc` says, in one line, where it reports memory running out, else None: a
    `MemoryError` (numpy, Python) or PyTorch's, which are RuntimeErrors (a GPU's
    ``torch.OutOfMemoryError``; the CPU allocator's "can't allocate memory")."""
    torch = sys.modules.get("torch")
    torch_oom = getattr(torch, "OutOfMemoryError", ()) if torch is not None else ()
    if not (
        isinstance(exc, (MemoryError, torch_oom))
        or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))
    ):
        return None
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def _quiet_brian() -> None:
    """Silence Brian2's warning about objects built but never run (``unused_brian_object``),
    where Brian2 is loaded: a task that refuses its input after building a network (to compare
    a trained state with it) would otherwise print a dozen lines of them, as the network is
    freed, below its one-line error."""
    if "brian2" in sys.modules:
        from brian2.utils.logger import BrianLogger

        BrianLogger.suppress_name("unused_brian_object")


#: Progress lines over which `Progress` measures the recent rate.
RATE_WINDOW = 10


def duration(seconds: float) -> str:
    """`seconds` as a clock shows them: M:SS, or H:MM:SS from an hour on."""
    minutes, s = divmod(max(0, round(seconds)), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02d}:{s:02d}" if hours else f"{m}:{s:02d}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 thread``, ``2 threads``: a count with its noun in the number the count takes
    (`plural`, else the noun + s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def time_left(points: Sequence[tuple[float, int]], total: int) -> float | None:
    """Seconds until `total` samples are done at the rate between the first and the last of
    `points`, (seconds, samples done) pairs, oldest first; None where no time or no sample
    has passed between them."""
    (t0, done0), (t1, done1) = points[0], points[-1]
    if t1 <= t0 or done1 <= done0:
        return None
    return max(0, total - done1) * (t1 - t0) / (done1 - done0)


class Progress:
    """The timing part of a long task's progress lines: the time elapsed since this run
    started and an estimate of the time left, ``1:23 elapsed, 4:56 left``.

    The estimate divides the samples left by the rate over the last `RATE_WINDOW` lines, or
    since the run started before it has printed that many: for a resumed run since the
    resumption, not since sample 0. The rate is of wall time, so it counts what happens
    between the lines too (checkpoints, validation).
    """

    def __init__(self, total: int, done: int = 0, clock: Callable[[], float] = time.monotonic):
        self.total, self.clock = total, clock
        self.start = clock()
        self.points = collections.deque([(self.start, done)], maxlen=RATE_WINDOW + 1)

    def rebase(self, done: int) -> None:
        """Measure the rate from now on, with `done` samples done: where work starts after a
        pause that is not the work's own pace (a build, the samples of a resumed checkpoint,
        a finished phase skipped). The time elapsed keeps counting from the start."""
        self.points.clear()
        self.points.append((self.clock(), done))

    def __call__(self, done: int) -> str:
        """The text for a progress line printed with `done` samples done."""
        now = self.clock()
        self.points.append((now, done))
        left = time_left(self.points, self.total)
        left_text = "?" if left is None else duration(left)
        return f"{duration(now - self.start)} elapsed, {left_text} left"


def _option(argv: list[str], name: str) -> str | None:
    """The value of option `name` in `argv` (``--name VALUE`` or ``--name=VALUE``), if given, as
    argparse reads it: the last given, also abbreviated (``--conf``; one argparse accepted is
    no other option's); nothing after ``--``, which argparse reads as arguments."""
    value = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        option, sep, given = arg.partition("=")
        if len(option) > 2 and name.startswith(option):
            if sep:
                value = given
            elif i + 1 < len(argv):
                value = argv[i + 1]
    return value


def count(text: str) -> int:
    """An argparse type: a positive integer (a number of samples, epochs, neurons)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def time_step(text: str) -> float:
    """An argparse type: a time step in seconds, a positive finite number."""
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def index(text: str) -> int:
    """An argparse type: an index into a data set, 0 or more."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def seed(text: str) -> int:
    """An argparse type: a seed, 0 <= seed < 2**32 (the random streams fold it into 32 bits)."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32), got {value}")
    return value


def out_dir(text: str) -> Path:
    """An argparse type: an output directory (created later if absent), not an existing file,
    in a place where it can be written (`writable_place`)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} exists and is not a directory")
    writable_place(path)
    return path


def writable_place(path: Path, file: bool = False) -> None:
    """Refuse (an argparse error) an output `path` that could not be written: one below a
    file, or whose nearest existing folder (a directory `path` itself where it exists; a
    `file`'s folder, where it is written and renamed) is not writable. Checked before any
    work starts, not found when the first output is written."""
    place = path.parent if file else path
    while not place.exists() and place != place.parent:
        if place.is_symlink():  # a dangling link: the write would fail on it
            raise argparse.ArgumentTypeError(f"{place} is a link to nothing")
        place = place.parent
    if not place.is_dir():
        raise argparse.ArgumentTypeError(f"{place} is not a directory, so {path} cannot be made")
    if not os.access(place, os.W_OK | os.X_OK) or not _can_create_in(place):
        raise argparse.ArgumentTypeError(f"{place} is not writable, so {path} cannot be written")


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be made in `folder`: tried, as `os.access` answers yes to root for
    any folder but one on a read-only file system (``/proc``, ``/sys`` refuse root too). The
    file is unnamed where the file system allows (``O_TMPFILE``), else removed at once."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def prog() -> str | None:
    """The usage line's command: ``python -m bioclf.stdp.train`` for a task run so (argparse
    alone would say ``train.py``, which runs nothing and names neither of the two trainings);
    None (argparse's choice) otherwise, e.g. ``bioclf stdp-train``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name.startswith("bioclf.") and sys.argv[0].endswith(".py"):
        return f"python -m {spec.name}"
    return None


#: File name endings a figure may have (matplotlib's Agg formats; listed here: importing
#: matplotlib for the check would slow down every task's start).
FIGURE_FORMATS = ("eps", "jpeg", "jpg", "pdf", "png", "ps", "svg", "svgz", "tif", "tiff", "webp")


def figure_file(text: str) -> Path:
    """An argparse type: a figure file to write, its format given by its ending (.png, ...)."""
    path = Path(text)
    if path.suffix.lstrip(".").lower() not in FIGURE_FORMATS:
        raise argparse.ArgumentTypeError(
            f"{path.name}: the ending names no figure format ({', '.join(FIGURE_FORMATS)})"
        )
    return out_file(text)


def out_file(text: str) -> Path:
    """An argparse type: a file to write, refused where it is a directory or cannot be made."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a directory")
    writable_place(path, file=True)
    return path


def parser(
    description: str,
    out_help: str = "output directory (created if absent)",
    config: bool = True,
    out_file: bool = False,
) -> argparse.ArgumentParser:
    """The parser of a task with the options tasks share: ``--out`` and (`config`) ``--config``.

    `out_file`: ``--out`` is a figure file (`figure_file`), not a directory. A docstring's
    ``literal`` markup is left out of the description, which --help prints as it is."""
    p = argparse.ArgumentParser(prog=prog(), description=description.replace("``", ""))
    if config:
        p.add_argument(
            "--config",
            default=DEFAULT_CONFIG,
            help="configuration file, YAML, checked against config/schema.yaml "
            "(default: config/config.yaml)",
        )
    p.add_argument("--out", required=True, type=figure_file if out_file else out_dir, help=out_help)
    return p


def trained_argument(p: argparse.ArgumentParser) -> None:
    """``--trained DIR``: the option of a task that runs a trained STDP network."""
    p.add_argument(
        "--trained",
        required=True,
        type=Path,
        help="directory of the trained network (the --out of bioclf.stdp.train)",
    )


def out_beside_trained(p: argparse.ArgumentParser, args) -> None:
    """Refuse (exit 2) an ``--out`` that is the ``--trained`` directory: a frozen run's
    checkpoint.npz there is the training's, which the run would set aside as another run's."""
    if args.out.resolve() == args.trained.resolve():
        p.error(f"--out must differ from --trained ({args.out} holds the trained network)")


def shard_arguments(p: argparse.ArgumentParser) -> None:
    """``--shard k --shards K``: the options of a task that can run one shard of its samples."""
    p.add_argument(
        "--shard",
        type=int,
        help="simulate only shard k (0-based) of --shards K equal parts of the samples, in a "
        "project of its own; needs stdp.protocol.reset_between_samples: true. The shards' "
        "--out directories are joined by python -m bioclf.stdp.merge",
    )
    p.add_argument("--shards", type=int, help="number of shards K (with --shard)")


def shard(p: argparse.ArgumentParser, args) -> tuple[int, int] | None:
    """(k, K) of ``--shard k --shards K``, or None; refuses one without the other (exit 2)."""
    if (args.shard is None) != (args.shards is None):
        p.error("--shard and --shards go together")
    if args.shard is None:
        return None
    if args.shards < 1 or not 0 <= args.shard < args.shards:
        p.error(f"--shard must be in [0, --shards), got {args.shard} of {args.shards}")
    return args.shard, args.shards


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process and of the compiled programs it ran.

    Not ``RUSAGE_CHILDREN``: on Linux a child forked from this process starts its accounting
    at this process's peak, so that figure is never below Python's own.
    """
    from bioclf.brian import backends

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peaks = {"python_mb": round(own, 1)}
    if backends.program_peak_mb():  # only where a compiled program ran
        peaks["program_mb"] = backends.program_peak_mb()
    return peaks


#: What the package's checkout writes (tracked outputs): changed, they leave the code clean.
OUTPUTS = ("results", "bench/out")


def code_commit(root: Path, ignore: Sequence[str | Path] = ()) -> str:
    """The short git hash of HEAD at `root`, ``+dirty`` where a tracked file has uncommitted
    changes (those under `ignore`, paths inside `root`, and documents, ``*.md``, aside: the
    measurement log is written while runs go): runs and benchmarks record which code they
    ran. Outside a git checkout (a copy of the tree on another machine), or without git,
    ``BIOCLF_COMMIT`` if set, else ''."""
    import subprocess

    def git(*args: str) -> str | None:
        try:  # (no optional locks: parallel jobs ask at once and must not take the index's)
            done = subprocess.run(
                ["git", "--no-optional-locks", *args], cwd=root, capture_output=True, text=True
            )
        except OSError:  # no git
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return os.environ.get("BIOCLF_COMMIT", "")
    root = Path(root).resolve()
    spec = ["--", ".", ":(exclude,glob)**/*.md"]
    for path in ignore:
        path = (root / path).resolve()
        if path.is_relative_to(root):  # (git refuses a path outside the checkout)
            spec.append(f":(exclude){path.relative_to(root)}")
    changed = git("status", "--porcelain", "--untracked-files=no", *spec)
    return head + ("+dirty" if changed else "")


def provenance() -> dict:
    """Where a result came from: versions, machine, date, and the commit of the code
    (`code_commit`; its outputs, `OUTPUTS`, aside) where known."""
    import brian2
    import numpy

    info = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {cpu_model()}, "
        f"{counted(_cpu_count(), 'core')}, {platform.system()} {platform.release()}",
        "brian2": brian2.__version__,
        "numpy": numpy.__version__,
    }
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file():  # the package runs from its checkout
        commit = code_commit(root, OUTPUTS)
    else:  # an installed copy: git would name whatever repository holds site-packages
        commit = os.environ.get("BIOCLF_COMMIT", "")
    if commit:
        info["commit"] = commit
    torch = torch_version()
    if torch is not None:
        info["torch"] = torch
    return info


def torch_version() -> str | None:
    """``torch.__version__`` (None without PyTorch), read from ``torch/version.py`` where torch
    is not imported yet: importing it holds about 450 MB of resident memory, which a task that
    never uses it (the STDP ones) would pay for its provenance alone. (The installed package's
    metadata will not do: it lacks the local label, ``+cu130``, that the file has.) A torch
    that cannot be imported (its import blocked, or failing) gives None, as importing it did."""
    if "torch" in sys.modules:
        module = sys.modules["torch"]  # None: its import blocked (``import torch`` would fail)
        return None if module is None else str(module.__version__)
    spec = importlib.util.find_spec("torch")  # (finds the package, runs none of it)
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        tree = ast.parse((Path(spec.submodule_search_locations[0]) / "version.py").read_text())
    except (OSError, SyntaxError, ValueError):
        tree = ast.Module(body=[], type_ignores=[])
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    try:
        import torch  # a layout this does not know: ask torch itself
    except ImportError:  # (a broken install: without version.py, torch's own import fails)
        return None
    return str(torch.__version__)


def cpu_fields(cpuinfo: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's fields in `cpuinfo` (Linux's format), empty where it is absent."""
    fields = {}
    try:
        with open(cpuinfo) as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The processor's name, with its family and model numbers where Linux gives them.

    Timings are only comparable on the same processor: virtual machines often report a bare
    name ("AMD EPYC") that covers generations three times apart in speed.
    """
    fields = cpu_fields(cpuinfo)
    name = fields.get("model name") or platform.processor() or "cpu"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
