"""The workflow's start-up checks run again only when what they read changes."""

import os

import pytest

from bioclf import checked


def test_a_check_runs_once_per_inputs_and_again_when_they_change(tmp_path):
    model, data = tmp_path / "lif.yaml", tmp_path / "train.gz"
    model.write_text("tau_m: 100*ms\n")
    data.write_bytes(b"\x1f\x8b" + bytes(100))
    runs = []

    def check():
        runs.append(1)

    def once(values="dt 0.005"):
        return checked.once(
            tmp_path / "checked", checked.key("neuron", values, [model], [data]), check
        )

    assert once() is True and once() is False and len(runs) == 1
    model.write_text("tau_m: 50*ms\n")  # an edited model file
    assert once() is True and once() is False
    assert once("dt 0.001") is True  # another value
    st = data.stat()
    data.write_bytes(b"\x1f\x8b" + bytes(99))  # a data file replaced
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))  # (even with its old time)
    assert once("dt 0.001") is True
    data.unlink()
    assert once("dt 0.001") is True and len(runs) == 5


def test_a_check_that_fails_is_not_remembered(tmp_path):
    def bad():
        raise ValueError("bad model")

    key = checked.key("neuron", "x")
    for _ in range(2):
        with pytest.raises(ValueError, match="bad model"):
            checked.once(tmp_path, key, bad)
    assert not (tmp_path / key).exists()


def test_the_key_follows_the_package_code_and_the_libraries(monkeypatch):
    before = checked.key("data", "x")
    monkeypatch.setattr(checked, "_package_code", lambda: b"changed code")
    assert checked.key("data", "x") != before
    monkeypatch.undo()
    monkeypatch.setattr(checked, "_versions", lambda: b"torch=9")
    assert checked.key("data", "x") != before
