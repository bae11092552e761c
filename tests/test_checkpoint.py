"""Which checkpoints a run resumes (`bioclf.checkpoint`)."""

from __future__ import annotations

from bioclf.checkpoint import resumable


def test_a_checkpoint_is_resumed_only_by_its_run_and_never_under_bioclf_fresh(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("BIOCLF_FRESH", raising=False)
    path = tmp_path / "checkpoint.npz"
    run = {"model": "abc", "seed": 0}
    messages = []
    path.write_text("done")
    assert resumable(path, run, dict(run), messages.append)
    assert path.exists() and not messages

    assert not resumable(path, run, {"model": "abd", "seed": 0}, messages.append, "[x] ")
    assert not path.exists() and (tmp_path / "checkpoint.stale.npz").read_text() == "done"
    assert messages[-1].startswith("[x] ") and "changed: model" in messages[-1]

    # make reproduce: the same run starts over, its checkpoint kept aside
    path.write_text("done again")
    monkeypatch.setenv("BIOCLF_FRESH", "1")
    assert not resumable(path, run, dict(run), messages.append)
    assert (tmp_path / "checkpoint.stale2.npz").read_text() == "done again"
    assert "BIOCLF_FRESH" in messages[-1] and "starting over" in messages[-1]
    monkeypatch.setenv("BIOCLF_FRESH", "0")
    path.write_text("resumed")
    assert resumable(path, run, dict(run), messages.append)


def test_an_entry_only_the_checkpoint_has_is_a_change(tmp_path, monkeypatch):
    """Settings at their default are left out of an STDP run's identity (encoding: rate): a
    checkpoint of a latency-coded run is not resumed by a rate-coded one."""
    monkeypatch.delenv("BIOCLF_FRESH", raising=False)
    path = tmp_path / "checkpoint.npz"
    path.write_text("latency")
    messages = []
    latency = {"seed": "0", "stdp.protocol.encoding": "latency"}
    assert not resumable(path, latency, {"seed": "0"}, messages.append)
    assert "changed: stdp.protocol.encoding" in messages[-1]
    assert (tmp_path / "checkpoint.stale.npz").read_text() == "latency"
