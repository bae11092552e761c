"""Checks that the workflow makes at every start, skipped while nothing they read has changed.

The workflow checks the model files and the data set before any job (and in every dry run):
compiling the surrogate neuron imports PyTorch (~2.5 s, ~600 MB), verifying MNIST reads it
all (~0.7 s), and loading every model file of the STDP network takes about a second. `once`
runs such a check the first time and again only when its inputs change: the files it reads,
the values it is given, this package's code, or the versions of the libraries that do the
work.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

#: Libraries whose versions can change a check's verdict.
LIBRARIES = ("brian2", "numpy", "sympy", "torch")


@functools.cache  # (a workflow's start asks for two keys)
def _package_code() -> bytes:
    """The package's source, as one digest (a fix to a check must rerun it)."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.digest()


@functools.cache
def _versions() -> bytes:
    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}=-")
    return " ".join(found).encode()


def key(
    what: str, values: str, contents: Iterable[str | Path] = (), stats: Iterable[str | Path] = ()
) -> str:
    """The digest of a check's inputs: its name, `values` (what it is given, as text), the
    bytes of the files `contents` and the size, modification time and inode of the files
    `stats` (large files, rewritten rather than edited in place), with the package's code and
    the libraries' versions. A file that does not exist counts as such."""
    digest = hashlib.sha256()
    digest.update(what.encode() + b"\0" + values.encode() + b"\0" + _package_code() + _versions())
    for path in contents:
        path = Path(path)
        digest.update(str(path).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"(none)")
    for path in stats:
        path = Path(path)
        try:
            st = path.stat()
            digest.update(f"{path}\0{st.st_size} {st.st_mtime_ns} {st.st_ino}".encode())
        except OSError:
            digest.update(f"{path}\0(none)".encode())
    return digest.hexdigest()


def once(directory: str | Path, check_key: str, check: Callable[[], None]) -> bool:
    """Run `check` unless a check of the same `check_key` (`key`) passed before; remember it
    in `directory` when it passes (one empty file per key: concurrent workflows cannot corrupt
    it). A check that raises is not remembered. Returns whether it ran."""
    marker = Path(directory) / check_key
    if marker.exists():
        return False
    check()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return True


def surrogate_neuron(directory: str | Path, neuron: str | Path, dt: float, time_steps) -> None:
    """What a surrogate training refuses of `neuron` before it reads any data
    (`bioclf.surrogate.compile.check_neuron`: compiled at `dt`, a refractory period shorter
    than presentations of each of `time_steps` steps), once per its files and these values:
    the compiler imports PyTorch, seconds."""
    from bioclf.equations import model_files

    steps = sorted({int(t) for t in time_steps})

    def check():
        from bioclf.surrogate.compile import check_neuron

        check_neuron(neuron, dt, steps)

    files = [str(f) for f in model_files(neuron)]
    once(directory, key("surrogate neuron", f"{float(dt)!r} {steps}", files), check)


def stdp_protocol(directory: str | Path, run_config: dict) -> None:
    """The STDP network's model files (``stdp.models`` of `run_config`) loaded together and
    checked against its protocol (`bioclf.stdp.network.check_protocol`: the rest longer than
    the refractory periods and the input delays), once per their files and the protocol's
    values: loading them all takes about a second."""
    from bioclf.equations import model_files

    stdp = run_config["stdp"]

    def check():
        from bioclf.stdp import network, setup
        from bioclf.stdp.protocol import Models

        network.check_protocol(Models.load(stdp["models"]), setup.protocol(run_config))

    files = sorted({str(f) for m in stdp["models"].values() for f in model_files(m)})
    once(directory, key("stdp protocol", repr(sorted(stdp["protocol"].items())), files), check)


def neuron_check(directory: str | Path, run_config: dict, path: str) -> None:
    """What the neuron check refuses of the configuration's ``neuron_check`` section before it
    simulates (`bioclf.neuron_check.plan`: its model file, input currents it can choose, a
    duration long enough), once per the model's files and the section's values; `path` names
    the configuration in an error."""
    from bioclf.equations import model_files

    section = run_config["neuron_check"]

    def check():
        from bioclf.neuron_check import plan

        plan(run_config, path)

    files = [str(f) for f in model_files(section["model"])]
    once(directory, key("neuron check", repr(sorted(section.items())), files), check)
