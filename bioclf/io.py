"""Atomic file writes (a killed run never leaves a half-written output behind) and digests."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import socket
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import yaml

from bioclf.errors import InputFileError, ResultFileError


def save_npz(path: str | Path, **arrays) -> None:
    with atomic(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def save_npy(path: str | Path, array) -> None:
    with atomic(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


#: Seconds untouched after which a temporary file is no writer's: a writer goes on writing
#: (and its file's time stamp changes) until it renames the file. Those whose writer cannot be
#: asked -- another host's, or named as writers did before ``.NAME.HOST.PID.tmp`` -- are
#: removed only past it.
ABANDONED_S = 24 * 3600


@contextmanager
def atomic(path: str | Path) -> Iterator[Path]:
    """A temporary file beside `path` for the block to write, renamed over `path` when the
    block ends: a reader never sees half a file, and a failed write (disk full, an exception
    while serialising, a Ctrl-C) removes it and leaves the old `path`.

    The name is the process's own, ``.NAME.HOST.PID.tmp`` (cluster jobs may write the same file
    at once, from other hosts). A process killed mid-write cannot remove its file: those of
    `path` left by processes of this host that no longer exist are removed here first (never a
    live process's); so are those of another host's processes, and those named as writers did
    before (``NAME.tmp``, ``NAME.tmp.npz``, ``.NAME.PID.tmp``, ``.tmp-NAME``, ...), once
    untouched for `ABANDONED_S` (no live writer's, here or on another host).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    _remove_abandoned(path, host)
    tmp = path.with_name(f".{path.name}.{host}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """A temporary directory beside `path` for the block to fill, renamed to `path` when the
    block ends; named as `atomic` names its files (``.NAME.HOST.PID.tmp``: two processes
    filling the same `path` at once never share one), and a killed writer's left over is
    removed as `atomic` removes its files (also one named ``NAME.tmp`` as copies were before).
    Where `path` appeared meanwhile (another process's, finished first), that one is kept
    and this one removed; a block that makes none, or fails, leaves `path` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    _remove_abandoned(path, host, directories=True)
    tmp = path.with_name(f".{path.name}.{host}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # this process's own, of a block that failed
    try:
        yield tmp
        try:
            os.rename(tmp, path)
        except FileNotFoundError:  # a block that made nothing (`path` there already)
            pass
        except OSError:
            if not path.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_abandoned(path: Path, host: str, directories: bool = False) -> None:
    """Remove the temporary files of `path` that no live process is writing (`atomic`); with
    `directories`, the temporary directories (`atomic_dir`) instead."""
    name, stem, suffix = (re.escape(x) for x in (path.name, path.stem, path.suffix))
    ours = re.compile(rf"\.{name}\.(.+)\.(\d+)\.tmp")
    earlier = re.compile(
        "|".join(
            [
                rf"{name}\.tmp(?:\.npz|\.npy)?",  # write_json, write_csv; save_npz, save_npy
                rf"{stem}\.tmp\d+",  # NAME.with_suffix(".tmpPID") (configuration, text)
                rf"\.{name}\.\d+\.tmp",  # write_text, write_csv, torch checkpoints
                rf"\.tmp-{name}",  # figures
                rf"\.{name}\.[a-z0-9_]{{8}}\.part",  # downloads (tempfile.mkstemp)
                rf"\.{stem}\.\d+{suffix}",  # compiled surrogate kernels (.neuron_ID.PID.so)
            ]
        )
    )
    try:
        entries = list(os.scandir(path.parent))
    except OSError:  # (a directory that cannot be listed: writing may still work)
        return
    now = time.time()
    for entry in entries:
        match = ours.fullmatch(entry.name)
        try:
            if entry.is_dir(follow_symlinks=False) != directories:
                continue
            if match and match[1] == host:
                gone = not _alive(int(match[2]))
            elif match or earlier.fullmatch(entry.name):
                stat = entry.stat(follow_symlinks=False)
                kind = directories or entry.is_file(follow_symlinks=False)
                gone = kind and now - stat.st_mtime > ABANDONED_S
            else:
                continue
            if gone and directories:
                shutil.rmtree(entry.path, ignore_errors=True)
            elif gone:
                os.unlink(entry.path)
        except (FileNotFoundError, PermissionError):  # removed meanwhile; another user's
            pass


def _alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (one of another user's does too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's; not a process id (left alone)
        pass
    return True


def write_text(path: str | Path, text: str) -> None:
    """Write `text` atomically (a reader never sees half a file)."""
    with atomic(path) as tmp:
        tmp.write_text(text)


def write_if_changed(path: str | Path, text: str) -> None:
    """`write_text`, unless the file holds `text` already: an unchanged file keeps its time
    stamp, which Snakemake compares with its outputs'."""
    path = Path(path)
    if not (path.exists() and path.read_text() == text):
        write_text(path, text)


def write_csv(path: str | Path, table, **options) -> None:
    """Write a pandas DataFrame as CSV atomically (`options`: those of ``DataFrame.to_csv``)."""
    with atomic(path) as tmp:
        table.to_csv(tmp, **options)


def json_text(data, *, sort_keys: bool = True, indent: int = 2) -> str:
    """`data` as standard JSON text (numpy scalars and arrays as numbers and lists).

    JSON has no NaN or infinity (Python would write ``NaN``/``Infinity``, which strict
    parsers such as ``jq`` or JavaScript's refuse): a non-finite float is written as ``null``,
    "no value" -- a minimum over no interspike intervals, a loss that diverged.
    """
    return json.dumps(_finite(data), indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"


def number(value) -> float:
    """A number read back from JSON that `json_text` wrote: NaN for None (a value that was not
    finite, or was absent)."""
    return math.nan if value is None else float(value)


def write_json(path: str | Path, data: dict, *, sort_keys: bool = True) -> None:
    """Write `data` atomically as standard JSON (`json_text`)."""
    write_text(path, json_text(data, sort_keys=sort_keys))


def set_aside(path: str | Path) -> Path:
    """Rename `path` to ``NAME.stale.SUFFIX`` (``NAME.stale2.SUFFIX``, ... if taken); return it."""
    path = Path(path)
    target, n = path.with_name(f"{path.stem}.stale{path.suffix}"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.stem}.stale{n}{path.suffix}")
    os.replace(path, target)
    return target


def model_file_problem(path: str | Path) -> str | None:
    """Why an equation file named in a configuration or an option cannot be read (it does not
    exist, or is a directory), else None."""
    if not Path(path).exists():
        return f"file {path} does not exist"
    if Path(path).is_dir():
        return f"{path} is a directory, not an equation file"
    return None


def yaml_file_problem(exc: Exception) -> tuple[str, str]:
    """(field, reason) for an error reading a YAML file as text (`OSError`, `UnicodeDecodeError`)
    or parsing it (`yaml.YAMLError`), in one line with the line and column where YAML has them."""
    if isinstance(exc, UnicodeDecodeError):
        return "(file)", f"is not a text file (byte {exc.start} is not UTF-8)"
    if isinstance(exc, OSError):
        return "(file)", f"cannot be read: {exc.strerror or exc}"
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem is None:  # the reader: a control character (NUL, ...) in the text
        return "(file)", f"is not a YAML text: {str(exc).splitlines()[0]}"
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    if "'\\t'" in problem:  # PyYAML: "found character '\t' that cannot start any token"
        problem += " (a tab: YAML indents and separates with spaces)"
    return "(YAML syntax)", f"not valid YAML{where}: {problem}"


def read_yaml(path: str | Path, error: type[InputFileError]):
    """The data of the YAML file `path` (None where it is empty), or an `error` naming the file
    and the field: one that cannot be read, is not valid YAML (`yaml_file_problem`) or gives a
    key twice in one mapping, whose first value YAML would drop without a word."""
    path = Path(path)
    try:
        loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise error(path, *yaml_file_problem(exc)) from None
    try:
        node = loader.get_single_node()
        _duplicate_keys(path, loader, node, error, "", set())
        return None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise error(path, *yaml_file_problem(exc)) from None
    finally:
        loader.dispose()


def _duplicate_keys(
    path: Path, loader: yaml.SafeLoader, node, error: type[InputFileError], prefix: str, seen: set
) -> None:
    """Refuse a key given twice in a mapping of `node`, naming it by its path of keys (a list's
    items by their index, as the schema's errors do). Keys are compared as the values YAML makes
    of them: ``1`` and ``"1"`` are two keys, ``1`` and ``0x1`` one. A node an alias repeats is
    checked once (the first place names it), which also ends a recursive one (``&a [*a]``)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicate_keys(path, loader, item, error, f"{prefix}{i}.", seen)
    if not isinstance(node, yaml.MappingNode):
        return
    lines: dict = {}
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
            line = key.start_mark.line + 1
            name = loader.construct_object(key)  # (a scalar: hashable)
            if name in lines:
                raise error(
                    path,
                    prefix + key.value,
                    f"given twice (lines {lines[name]} and {line}); YAML would silently "
                    "keep the second",
                )
            lines[name] = line
            _duplicate_keys(path, loader, value, error, f"{prefix}{key.value}.", seen)


def load_json(path: str | Path, keys: tuple[str, ...] = ()) -> dict:
    """A JSON object written by a task; `ResultFileError` (naming the file) if it is missing,
    not a JSON object or lacks one of the fields `keys` (a file of another kind given in its
    place)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFileError(path, _reason(exc, "not JSON")) from None
    if not isinstance(data, dict):
        raise ResultFileError(path, f"expected a JSON object, found {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ResultFileError(
            path, f"lacks the fields {', '.join(missing)} (holds: {', '.join(data) or 'none'})"
        )
    return data


def load_arrays(
    path: str | Path, keys: tuple[str, ...] | None = None, ndim: int | None = None
) -> dict[str, np.ndarray] | np.ndarray:
    """The arrays of an ``.npz`` (as a dict, read in full) or the array of an ``.npy`` written
    by a task; `ResultFileError` (naming the file) if it is missing, truncated or not one.

    `keys`: the file must be an ``.npz`` holding (at least) these arrays; `ndim`: it must be an
    ``.npy`` of that many dimensions. A file of another kind (one task's output given to
    another's option) is refused, naming what it lacks.
    """
    try:
        with open(path, "rb") as f:
            loaded = np.load(f, allow_pickle=False)
            loaded = dict(loaded) if isinstance(loaded, np.lib.npyio.NpzFile) else loaded
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ResultFileError(path, _reason(exc, "not a numpy array file")) from None
    if keys is not None:
        if not isinstance(loaded, dict):
            raise ResultFileError(
                path, f"expected an .npz of arrays {', '.join(keys)}, found one array"
            )
        missing = [k for k in keys if k not in loaded]
        if missing:
            raise ResultFileError(
                path,
                f"lacks the arrays {', '.join(missing)} (holds: {', '.join(loaded) or 'none'})",
            )
    if ndim is not None and (isinstance(loaded, dict) or loaded.ndim != ndim):
        found = (
            f"arrays {', '.join(loaded)}" if isinstance(loaded, dict) else f"shape {loaded.shape}"
        )
        raise ResultFileError(path, f"expected one array of {ndim} dimension(s), found {found}")
    return loaded


def _reason(exc: Exception, kind: str) -> str:
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, ValueError | EOFError):  # numpy's messages speak of pickles here
        return f"{kind}, or truncated"
    return f"{kind}, or truncated ({type(exc).__name__}: {exc})"


def _finite(obj):
    """`obj` with numpy values as Python ones and non-finite floats as None, for `json_text`."""
    if isinstance(obj, np.ndarray | np.generic):
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if obj is None or isinstance(obj, str | int):
        return obj
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def digest(*parts) -> str:
    """SHA-256 of strings and arrays (by dtype, shape and bytes), for telling runs apart.

    A part with a ``blocks()`` method (`bioclf.data.FloatImages`) is an array made block by
    block: it is hashed as that array, its blocks of rows one after the other, so that it is
    never whole in memory.
    """
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray) or hasattr(part, "blocks"):
            h.update(f"{part.dtype.str}{part.shape}".encode())
            blocks = part.blocks() if hasattr(part, "blocks") else [part]
            for block in blocks:
                # the bytes in C order, as tobytes() gives them, without copying them
                h.update(np.ascontiguousarray(block).reshape(-1).view(np.uint8))
        else:
            h.update(str(part).encode())
        h.update(b"\0")
    return h.hexdigest()
