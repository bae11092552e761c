"""Reading what earlier tasks wrote: a missing, truncated or foreign file is named, in one line."""

import errno
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT
from matplotlib import pyplot as plt

from bioclf import plots, tasks
from bioclf.errors import ResultFileError
from bioclf.io import (
    digest,
    json_text,
    load_arrays,
    load_json,
    number,
    save_npy,
    save_npz,
    write_csv,
    write_json,
    write_text,
)
from bioclf.surrogate.saved import atomic_save


def test_written_files_read_back(tmp_path):
    save_npz(tmp_path / "a.npz", x=np.arange(3))
    write_json(tmp_path / "m.json", {"k": 1})
    np.testing.assert_array_equal(load_arrays(tmp_path / "a.npz")["x"], [0, 1, 2])
    assert load_json(tmp_path / "m.json") == {"k": 1}


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("missing.npz", None, "not found"),
        ("cut.npz", "cut", "truncated"),
        ("text.npy", b"not numpy at all", "truncated"),
        ("missing.json", None, "not found"),
        ("bad.json", b'{"a": ', "not JSON"),
        ("list.json", b"[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_result_file_is_refused_naming_it(tmp_path, capsys, name, content, reason):
    path = tmp_path / name
    if content == "cut":
        save_npz(path, x=np.arange(1000))
        path.write_bytes(path.read_bytes()[:200])
    elif content is not None:
        path.write_bytes(content)
    load = load_json if name.endswith(".json") else load_arrays
    with pytest.raises(ResultFileError) as err:
        load(path)
    assert str(path) in str(err.value) and reason in str(err.value)
    assert tasks.run(lambda argv: load(path), []) == 2
    err_text = capsys.readouterr().err
    assert err_text.count("\n") == 1 and str(path) in err_text


def test_counts_and_seeds_are_checked_by_the_parser():
    assert tasks.count("3") == 3 and tasks.seed("0") == 0
    for bad in ("0", "-5"):
        with pytest.raises(Exception, match="positive"):
            tasks.count(bad)
    for bad in ("-1", str(2**32)):
        with pytest.raises(Exception, match="2\\*\\*32"):
            tasks.seed(bad)


def test_an_output_directory_that_is_a_file_is_refused(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(Exception, match="not a directory"):
        tasks.out_dir(str(afile))
    assert tasks.out_dir(str(tmp_path / "new")) == tmp_path / "new"
    # a task whose --out is a figure file takes an existing file
    figure = tmp_path / "figure.png"
    figure.write_bytes(b"old")
    p = tasks.parser("figure", out_file=True, config=False)
    assert p.parse_args(["--out", str(figure)]).out == figure


def test_an_output_of_another_kind_is_refused_naming_what_it_lacks(tmp_path, capsys):
    """One task's output given to another's option (a confusion .npy as --responses, a
    responses .npz as --assignment) is refused in one line, not an IndexError."""
    npy, npz = tmp_path / "confusion.npy", tmp_path / "responses.npz"
    save_npy(npy, np.zeros((10, 10), np.int64))
    save_npz(npz, counts=np.zeros((3, 4)), labels=np.zeros(3))
    for path, kw, reason in [
        (npy, {"keys": ("counts", "labels")}, "expected an .npz of arrays counts, labels"),
        (npz, {"keys": ("counts", "reps")}, "lacks the arrays reps (holds: counts, labels)"),
        (npz, {"ndim": 1}, "expected one array of 1 dimension(s), found arrays counts, labels"),
        (npy, {"ndim": 1}, "expected one array of 1 dimension(s), found shape (10, 10)"),
    ]:
        with pytest.raises(ResultFileError, match=re.escape(reason)) as err:
            load_arrays(path, **kw)
        assert str(path) in str(err.value)
    assert load_arrays(npz, keys=("counts",))["counts"].shape == (3, 4)
    assert load_arrays(npy, ndim=2).shape == (10, 10)


def test_metrics_of_another_kind_are_refused_naming_the_fields_they_lack(tmp_path):
    """Before: a KeyError traceback where a train_metrics.json or assign_metrics.json lacked a
    field (another task's metrics.json put in its place, or an empty object)."""
    from bioclf.stdp import frozen

    (tmp_path / "train_metrics.json").write_text('{"seed": 0, "accuracy": 0.5}')
    with pytest.raises(ResultFileError, match=r"train_metrics.json: lacks the fields backend, "):
        frozen.trained_metrics(tmp_path)
    (tmp_path / "m.json").write_text("{}")
    with pytest.raises(ResultFileError, match=re.escape("lacks the fields a, b (holds: none)")):
        load_json(tmp_path / "m.json", ("a", "b"))
    assert load_json(tmp_path / "train_metrics.json", ("seed",))["accuracy"] == 0.5


def test_a_file_that_is_not_a_surrogate_model_is_refused(tmp_path, capsys):
    from bioclf.surrogate import evaluate

    npy = tmp_path / "confusion.npy"
    save_npy(npy, np.zeros((10, 10), np.int64))
    assert tasks.run(evaluate.main, ["--model", str(npy), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{npy}: not a model file written by" in err


@pytest.mark.parametrize(
    "weights, reason",
    [
        (lambda w: {k: v[..., :3] for k, v in w.items()}, "size mismatch for"),
        (lambda w: dict(list(w.items())[1:]), "Missing key(s) in state_dict"),
        (lambda w: list(w.values()), "Expected state_dict to be dict-like"),
    ],
)
def test_a_model_file_whose_weights_do_not_fit_its_network_is_refused(tmp_path, weights, reason):
    """Before: torch's RuntimeError traceback from load_state_dict (a damaged or edited
    model.pt, its configuration saying another network than its weights)."""
    import dataclasses

    import torch

    from bioclf.surrogate.options import TrainConfig
    from bioclf.surrogate.saved import build, load_model

    cfg = TrainConfig(hidden=4, device="cpu")
    good = {"config": dataclasses.asdict(cfg), "model": build(cfg).state_dict()}
    torch.save(good, tmp_path / "model.pt")
    assert load_model(tmp_path / "model.pt")[1].hidden == 4
    torch.save(dict(good, model=weights(good["model"])), tmp_path / "model.pt")
    with pytest.raises(ResultFileError, match=re.escape(reason)) as err:
        load_model(tmp_path / "model.pt")
    assert "do not fit the network its 'config' describes" in str(err.value)


def test_a_table_written_by_a_killed_task_leaves_the_old_one(tmp_path):
    """write_csv writes beside the file and renames: a failure mid-write keeps the old file."""
    path = tmp_path / "energy.csv"
    write_csv(path, pd.DataFrame({"a": [1, 2]}), index=False)
    assert path.read_text() == "a\n1\n2\n"

    class Dying(pd.DataFrame):
        def to_csv(self, target, **options):
            Path(target).write_text("a\n1")  # half a table, then the kill
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_csv(path, Dying({"a": [3]}), index=False)
    assert path.read_text() == "a\n1\n2\n"


def test_json_written_is_standard_json(tmp_path):
    """JSON has no NaN or infinity: Python's json writes them as NaN/Infinity, which strict
    parsers (jq, JavaScript) refuse; they are written as null, and read back as NaN."""
    data = {
        "inf": float("inf"),
        "nan": np.float32("nan"),
        "array": np.array([1.5, -np.inf]),
        "nested": [{"x": float("-inf")}, (2.0, np.int64(3), np.bool_(True))],
        "finite": 0.1,
    }
    write_json(tmp_path / "m.json", data)

    def refuse(constant):
        raise ValueError(constant)

    read = json.loads((tmp_path / "m.json").read_text(), parse_constant=refuse)
    assert read == {
        "inf": None,
        "nan": None,
        "array": [1.5, None],
        "nested": [{"x": None}, [2.0, 3, True]],
        "finite": 0.1,
    }
    assert math.isnan(number(read["inf"])) and number(read["finite"]) == 0.1
    with pytest.raises(TypeError, match="PosixPath"):
        json_text({"path": tmp_path})


def _killed_writer(path: Path) -> Path:
    """The temporary file of a process killed (SIGKILL) while it wrote `path`."""
    kill = (
        "import os, sys; from bioclf.io import atomic\n"
        "with atomic(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", kill, str(path)], cwd=ROOT)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    left = path.with_name(f".{path.name}.{socket.gethostname()}.{proc.pid}.tmp")
    assert left.read_text() == "half"
    return left


@pytest.mark.parametrize(
    "name, write",
    [
        ("m.json", lambda p: write_json(p, {"k": 1})),
        ("t.md", lambda p: write_text(p, "text")),
        ("a.npz", lambda p: save_npz(p, x=np.arange(3))),
        ("a.npy", lambda p: save_npy(p, np.arange(3))),
        ("t.csv", lambda p: write_csv(p, pd.DataFrame({"a": [1]}))),
        ("f.png", lambda p: plots._save(plt.figure(), p)),
        ("checkpoint.pt", lambda p: atomic_save({"x": 1}, p)),
    ],
)
def test_temporary_files_of_killed_writers_are_removed(tmp_path, name, write):
    """A writer killed mid-write leaves its temporary file (``.NAME.HOST.PID.tmp``); the next
    write of the same file removes it, its process being gone. That of a live process, of
    another host (whose processes cannot be seen from here) or of another file is kept."""
    path = tmp_path / name
    dead = _killed_writer(path)
    host, pid = socket.gethostname(), dead.name.split(".")[-2]
    kept = [
        path.with_name(f".{name}.{host}.{os.getppid()}.tmp"),  # a live process's
        path.with_name(f".{name}.elsewhere.{pid}.tmp"),  # another host's
        path.with_name(f".{name}.bak.{host}.{pid}.tmp"),  # of NAME.bak
    ]
    for other in kept:
        other.write_text("someone else's")
    write(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, *(p.name for p in kept)])


def test_temporary_files_no_live_process_can_be_writing_are_removed(tmp_path):
    """Temporary files named as writers did before ``.NAME.HOST.PID.tmp``, and another host's,
    have no process to ask: the next write of their file removes them once they are untouched
    for `io.ABANDONED_S` (a writer changes its file until it renames it), never before."""
    from bioclf.io import ABANDONED_S

    path = tmp_path / "m.json"
    earlier = [
        "m.json.tmp",  # write_json, write_csv
        "m.json.tmp.npz",  # save_npz
        "m.json.tmp.npy",  # save_npy
        "m.tmp4242",  # with_suffix(".tmpPID")
        ".m.json.4242.tmp",  # write_text, torch checkpoints
        ".tmp-m.json",  # figures
        ".m.json.k2x_9qzp.part",  # downloads
        ".m.4242.json",  # compiled kernels
        ".m.json.elsewhere.4242.tmp",  # another host's
    ]
    others = ["n.json.tmp", ".m.jsonx.4242.tmp", "notes.txt"]  # another file's; not temporary
    old = 1_000_000_000  # 2001: untouched for years
    for name in [*earlier, *others]:
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (old, old))
    write_json(path, {"k": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.json", *others])
    # touched within ABANDONED_S: a live writer's, perhaps (on another host, or of older code)
    recent = [".m.json.elsewhere.4243.tmp", "m.json.tmp.npz", ".m.json.4243.tmp"]
    now = time.time() - ABANDONED_S + 60
    for name in recent:
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (now, now))
    write_json(path, {"k": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.json", *others, *recent])


def test_a_directory_is_filled_under_a_name_of_its_own_and_renamed_into_place(tmp_path):
    """`atomic_dir`: each process fills its own ``.NAME.HOST.PID.tmp`` (two at once never share
    one) and renames it to NAME; a dead process's is removed, a live one's kept, as are old
    ``NAME.tmp`` copies until untouched for `io.ABANDONED_S`; where NAME appeared meanwhile
    (another process's, first), that is kept and this one's removed; a failed block leaves
    nothing."""
    from bioclf.io import ABANDONED_S, atomic_dir

    host = socket.gethostname()
    gone = subprocess.Popen(["true"])
    gone.wait()
    path = tmp_path / "project"
    dead = tmp_path / f".project.{host}.{gone.pid}.tmp"
    live = tmp_path / f".project.{host}.{os.getppid()}.tmp"
    stale, fresh = tmp_path / "project.tmp", tmp_path / "other" / "project.tmp"
    for d in (dead, live, stale, fresh):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "f").write_text("x")
    old = time.time() - ABANDONED_S - 60
    os.utime(stale, (old, old))
    (tmp_path / "project.json.tmp").write_text("a file's: not this writer's to remove")
    os.utime(tmp_path / "project.json.tmp", (old, old))
    with atomic_dir(path) as tmp:
        assert tmp.name == f".project.{host}.{os.getpid()}.tmp" and not tmp.exists()
        (tmp / "sub").mkdir(parents=True)
        (tmp / "sub" / "f").write_text("mine")
    assert (path / "sub" / "f").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, "other", "project", "project.json.tmp"]
    )
    with atomic_dir(path) as tmp:  # another process's copy renamed into place first
        tmp.mkdir()
        (tmp / "f").write_text("late")
    assert (path / "sub" / "f").read_text() == "mine" and not tmp.exists()
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "failed") as tmp:
        tmp.mkdir()
        raise RuntimeError
    assert not tmp.exists() and not (tmp_path / "failed").exists()
    assert (fresh / "sub" / "f").exists()
    with atomic_dir(fresh.parent / "project"):
        pass  # (nothing made: nothing renamed)
    assert (fresh / "sub" / "f").exists()  # touched recently: perhaps a live copy's


def test_a_failed_write_removes_its_temporary_file(tmp_path, monkeypatch):
    """Disk full mid-write, or an object that cannot be serialised: the old file is kept and
    the writer's temporary file removed."""

    def full_disk(self, text):
        Path.write_bytes(self, text[:3].encode())
        raise OSError(errno.ENOSPC, "No space left on device")

    path = tmp_path / "report.md"
    write_text(path, "old")
    with monkeypatch.context() as patched:
        patched.setattr(Path, "write_text", full_disk)
        with pytest.raises(OSError, match="No space"):
            write_text(path, "new text")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.md"]
    checkpoint = tmp_path / "c" / "checkpoint.pt"
    atomic_save({"epoch": 1}, checkpoint)
    with pytest.raises(Exception, match="pickle|lambda"):
        atomic_save({"epoch": 2, "f": lambda: 0}, checkpoint)
    assert [p.name for p in checkpoint.parent.iterdir()] == ["checkpoint.pt"]
    assert torch.load(checkpoint)["epoch"] == 1


@pytest.mark.parametrize(
    "array",
    [
        np.array(3.5),
        np.zeros((2, 0, 3)),
        np.arange(12, dtype=np.int64).reshape(3, 4).T,  # not contiguous
        np.arange(10, dtype=np.uint16)[::3],
        np.array([1, 2], dtype=">i4"),
        np.array([True, False]),
        np.array(["run", "id"]),
    ],
)
def test_digest_hashes_an_array_bytes_without_copying_them_as_before(array):
    """The digests that identify runs (recorded in checkpoints and result files) are those of
    the bytes that tobytes() gave before it was dropped (it copied the 188 MB of the training
    images as floats)."""
    import hashlib

    h = hashlib.sha256()
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    h.update(b"\0")
    h.update(b"x\0")
    assert digest(array, "x") == h.hexdigest()
