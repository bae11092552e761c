"""Chunked, resumable runs of the STDP network over a sequence of samples.

Training and evaluation are the same loop: present samples chunk by chunk, collect each
accepted presentation's spike counts, and after every chunk atomically save a checkpoint
(network state, position, and the spike counts so far). Killing the process loses at most the
chunk in progress; running the same command again continues from the checkpoint, and the result
equals that of an uninterrupted run.

A training pass keeps the counts of its last `RUNNING_WINDOW` samples only, all its running
estimate needs: every sample's counts of every epoch would grow to gigabytes at the paper's
sizes (60,000 x 6,400 x 2 bytes, 768 MB, per epoch), held in memory and rewritten with every
checkpoint.
"""

from __future__ import annotations

import json
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioclf import checkpoint as checkpoint_run
from bioclf import tasks
from bioclf.brian import backends
from bioclf.data import FloatImages
from bioclf.data.datasets import N_PIXELS
from bioclf.encoding import SPLIT_TAGS, hashrng
from bioclf.errors import THE_CONFIGURATION, ConfigError, ResultFileError
from bioclf.io import digest, save_npz, set_aside
from bioclf.stdp import labels as labelling
from bioclf.stdp.protocol import COUNT_DTYPE, Models, Protocol
from bioclf.stdp.simulate import Simulator

#: Samples of the preceding training stream used for the running accuracy estimate.
RUNNING_WINDOW = 10000
#: Samples of a training pass before its first running estimate.
FIRST_ESTIMATE = 1000


@dataclass
class Pass:
    """One pass of samples through the network (a training epoch or an evaluation set)."""

    split: str  # 'train', 'assign' or 'test': keys the input spike trains
    epoch: int
    images: np.ndarray | FloatImages  # (n, 784) in [0, 1]; FloatImages: converted by chunk
    labels: np.ndarray  # (n,)
    plastic: bool
    #: Position in the split of the first sample (a shard's), which keys its input spikes.
    start: int = 0
    #: Keep every sample's counts (evaluation: they are the result). False (training): keep a
    #: window of the last `RUNNING_WINDOW` samples of the pass, record ``window`` (n, n_exc),
    #: kept in one buffer (`_Window`).
    keep_counts: bool = True


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def variables_problem(state: dict, initial: dict) -> str | None:
    """Why `state` cannot be carried on as a state of the network whose `initial` state is
    given (other variables, or arrays of other shapes: a network trained with other model
    files, a variable added or removed since, or of another size), or None."""
    if set(state) != set(initial):
        differ = sorted(set(state) ^ set(initial))
        return (
            f"variables differ from this network's: {differ} (were the model files changed "
            "since training? train again with them)"
        )
    shapes = [
        f"{k} {np.shape(state[k])} (this network: {np.shape(initial[k])})"
        for k in sorted(state)
        if np.shape(state[k]) != np.shape(initial[k])
    ]
    if shapes:
        return (
            f"arrays of other shapes than this network's: {'; '.join(shapes[:3])}"
            f"{f' and {len(shapes) - 3} more' if len(shapes) > 3 else ''} (a network of "
            "another size, or state and train_metrics.json of different trainings?)"
        )
    return None


def same_variables(state: dict, initial: dict, where: str, field: str) -> dict:
    """`state`, read from the trained state `where` (a ``state.npz`` a training wrote), refused
    (`ResultFileError` naming `where` and `field`) where `variables_problem` finds one."""
    problem = variables_problem(state, initial)
    if problem is not None:
        raise ResultFileError(where, problem, field)
    return state


def run_passes(
    sim: Simulator,
    passes: list[Pass],
    seed: int,
    checkpoint: Path,
    initial_state: dict[str, np.ndarray],
    label: str,
    progress: tasks.Progress | None = None,
    before: int = 0,
) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """Run `passes` in order, resuming from `checkpoint` if it exists.

    A progress line per chunk goes to stderr, its time elapsed and left from `progress` (by
    default one of these passes alone); `before`: the samples that `progress` counts before
    these (those of the earlier phases of a training, whose progress covers all of them).

    Returns the final network state and, per pass, the per-sample records: ``counts``
    (n, n_exc) or, for a pass that does not keep them, ``window``: those of its last
    ``min(n, RUNNING_WINDOW)`` samples (empty for a pass followed by another), ``reps``,
    ``intensities``, the running-accuracy trace (training passes), the
    spike totals and ``wall_time_s``: the seconds spent on the pass, summed over the chunks of
    every run that contributed to it (a resumed run keeps the time spent before the interruption;
    a run that finds its checkpoint complete reports the original time). ``costs``: the build
    time of the last run that ran chunks (``sim.build_time_s``) and the
    largest peak memory (MB) of the compiled program over all of them, kept in the checkpoint
    too, so that a finished run called again (e.g. by Snakemake's ``--forceall``, which deletes
    the outputs first) reports them. ``run_id``: the digests that identify the run (what a
    checkpoint is resumed by), but its samples.
    """
    chunk = sim.chunk
    n_exc = sim.net.n_exc
    records = _new_records(passes, n_exc)
    trace = []  # (samples seen, running accuracy) of training passes
    spikes = np.zeros((len(passes), 3), dtype=np.int64)  # per pass: inp, exc, inh totals
    wall = np.zeros(len(passes))  # per pass: seconds, summed over chunks (and resumptions)
    costs = {"build_time_s": round(sim.build_time_s, 2), "program_mb": 0.0}
    state, k, pos = initial_state, 0, 0
    # A checkpoint is resumed only by the run that wrote it: same models, protocol, network,
    # seed, starting state and samples. One left by a run of something else (an equation file
    # edited since, as when the pipeline reruns a finished job) is moved aside, not used.
    run_id, pass_ids = _run_identity(sim.definition, initial_state, passes)
    if checkpoint.exists():
        ids = checkpoint_run.read(
            checkpoint, lambda p: _identities(p, run_id, pass_ids), UNREADABLE, log, f"[{label}] "
        )
        if ids is not None:
            checkpoint_run.resumable(checkpoint, *ids, log, f"[{label}] ")
    if checkpoint.exists():
        try:  # (its run, read as the run's checkpoint: only a damaged or edited file fails)
            with np.load(checkpoint) as saved:
                restored = _restore(saved, records, spikes, wall, costs, n_exc, checkpoint)
            reason = variables_problem(restored[0], sim.initial_state)
        except UNREADABLE as exc:
            reason = type(exc).__name__
        if reason is not None:
            stale = set_aside(checkpoint)
            log(f"[{label}] {checkpoint} does not fit this run's network ({reason}); moved to "
                f"{stale.name}, starting over")  # fmt: skip
            records = _new_records(passes, n_exc)  # (what `_restore` filled in, anew)
            spikes[:], wall[:] = 0, 0
            costs.update(build_time_s=round(sim.build_time_s, 2), program_mb=0.0)
        else:
            state, k, pos, trace = restored
            where = (  # counted as the progress lines count
                f"{passes[k].split} pass {k + 1}/{len(passes)}, {pos}/{len(passes[k].images)} "
                "samples done"
                if k < len(passes)
                else "every pass done"
            )
            log(f"[{label}] resuming from {checkpoint}: {where}")

    sizes = [len(p.images) for p in passes]
    if progress is None:
        progress = tasks.Progress(sum(sizes))
    # this run's rate is measured from here (not over a build, or samples run before a
    # resumption); its elapsed time from the progress's start
    progress.rebase(before + sum(sizes[:k]) + pos)
    window = None  # the current training pass's `_Window`, made when the pass (re)starts
    while k < len(passes):
        p = passes[k]
        base_key = hashrng.key(seed, SPLIT_TAGS[p.split], p.epoch)
        start = time.perf_counter()
        n = min(chunk, len(p.images) - pos)
        state, result = sim.run_chunk(
            state, p.images[pos : pos + n], p.start + pos, base_key, p.plastic
        )
        m = len(result.samples)
        spikes[k] += [result.spikes[pop] for pop in ("inp", "exc", "inh")]
        rec = records[k]
        # earlier: the counts of the samples before this chunk, at most RUNNING_WINDOW of them
        if p.keep_counts:
            earlier = rec["counts"][max(0, pos - RUNNING_WINDOW) : pos]
            rec["counts"][pos : pos + m] = result.counts
        else:
            if window is None:
                window = _Window(rec["window"], min(len(p.images), RUNNING_WINDOW))
            earlier = window.rows  # (a view: the window takes this chunk's counts below)
        rec["reps"][pos : pos + m] = result.reps
        rec["intensities"][pos : pos + m] = result.intensities
        elapsed = time.perf_counter() - start
        message = (
            f"[{label}] {p.split} pass {k + 1}/{len(passes)}: {pos + m}/{len(p.images)} samples, "
            f"{m / elapsed:.0f} samples/s, {elapsed / max(m, 1) * 1e3:.2f} ms/sample, "
            f"{tasks.counted(int(result.reps.sum()), 'repeat')}"
        )
        seen = sum(sizes[:k]) + pos + m
        if p.split == "train" and pos >= FIRST_ESTIMATE and m:
            # Running estimate as in the original code: labels from the preceding training
            # samples, predictions for this chunk's (training) samples.
            assignment = labelling.assign_labels(earlier, p.labels[pos - len(earlier) : pos])
            pred = labelling.predict(result.counts, assignment)
            acc = float(np.mean(pred == p.labels[pos : pos + m]))
            trace.append((seen, acc))
            message += f", running training accuracy {acc:.1%}"
        if not p.keep_counts:
            window.append(result.counts)
            rec["window"] = window.rows
        log(f"{message}, {progress(before + seen)}")
        wall[k] += time.perf_counter() - start
        costs["build_time_s"] = round(sim.build_time_s, 2)
        costs["program_mb"] = max(costs["program_mb"], round(sim.runner.program_peak_kb / 1024, 1))
        pos += m
        if pos >= len(p.images):
            k, pos = k + 1, 0
            if not p.keep_counts and k < len(passes):  # the next pass has a window of its own
                # a new empty array: a view of the buffer would hold it for the whole run
                rec["window"], window = np.zeros((0, n_exc), dtype=COUNT_DTYPE), None
        arrays = {f"state/{key}": value for key, value in state.items()}
        for j, r in enumerate(records):
            arrays.update({f"rec{j}/{name}": value for name, value in r.items()})
        save_npz(
            checkpoint,
            pass_index=np.array(k),
            position=np.array(pos),
            trace=np.array(trace, dtype=float).reshape(-1, 2),
            spikes=spikes,
            wall=wall,
            costs=np.array(json.dumps(costs)),
            run_id=np.array(json.dumps(run_id, sort_keys=True)),
            pass_ids=np.array(pass_ids),
            **arrays,
        )
        sim.cleanup()
    return state, _finished_records(records, trace, spikes, wall, costs, run_id)


def finished(
    checkpoint: Path,
    definition: dict[str, str],
    starting_state: dict[str, np.ndarray] | None,
    passes: list[Pass],
    n_exc: int,
) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]] | None:
    """What `run_passes` returns for `passes`, read from `checkpoint` without building the
    network, where a run of the same `definition` (`simulate.definition`), starting state and
    samples completed them there; else None, and `run_passes` (which builds the network)
    resumes, or sets the checkpoint aside and starts over, as it would have.

    `starting_state` None: the network's initial state, which its definition (models, seed,
    size, code version) determines; the caller's passes must then be ones that no other
    starting state ever ran (those of a training's first epochs: one continued from another
    network counts its epochs on). With ``BIOCLF_FRESH`` set nothing is finished (`run_passes`
    moves the checkpoint aside).
    """
    if checkpoint_run.fresh() or not checkpoint.exists():
        return None
    run_id, pass_ids = _run_identity(definition, starting_state, passes)
    records = _new_records(passes, n_exc)
    spikes = np.zeros((len(passes), 3), dtype=np.int64)
    wall = np.zeros(len(passes))
    costs = {"build_time_s": 0.0, "program_mb": 0.0}
    try:
        with np.load(checkpoint) as saved:
            if "run_id" not in saved.files:
                return None
            saved_id = json.loads(str(saved["run_id"]))
            if starting_state is None:
                run_id["starting state"] = saved_id.get("starting state")
            done = (int(saved["pass_index"]), int(saved["position"])) == (len(passes), 0)
            if not done or saved_id != run_id or [str(x) for x in saved["pass_ids"]] != pass_ids:
                return None
            state, _, _, trace = _restore(saved, records, spikes, wall, costs, n_exc, checkpoint)
        if _misshapen(state, n_exc, starting_state):
            return None  # (`run_passes`, which has the network to compare, moves it aside)
    except UNREADABLE:
        return None  # (`run_passes` says so and moves it aside)
    return state, _finished_records(records, trace, spikes, wall, costs, run_id)


def _misshapen(state: dict, n_exc: int, starting_state: dict | None) -> bool:
    """Whether a checkpoint's `state` cannot be a network of `n_exc` neurons, known without
    building the network (`same_variables` compares with it in full): other variables or
    shapes than `starting_state`, where known (a state of this network); else a neuron array
    of another length than its group's, or synapse arrays (``s_in``: as many as its
    connection makes, which only its model file says) of unequal lengths or more than every
    pixel to every neuron."""
    if starting_state is not None:
        return variables_problem(state, starting_state) is not None
    lengths = {"inp": N_PIXELS, "exc": n_exc, "inh": n_exc, "ctrl": 1}
    synapses = {np.shape(v) for k, v in state.items() if k.startswith("s_in.")}
    if len(synapses) > 1 or any(len(s) != 1 or s[0] > N_PIXELS * n_exc for s in synapses):
        return True
    return any(
        np.shape(v) != (lengths.get(k.split(".")[0], np.size(v)),)
        for k, v in state.items()
        if not k.startswith("s_in.")
    )


#: What reading a damaged checkpoint raises.
UNREADABLE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


def run_identity(
    definition: dict[str, str], starting_state: dict[str, np.ndarray] | None
) -> dict[str, str]:
    """The digests that identify a run but its samples (``run_id``, `run_passes`): of the
    simulator's definition (`simulate.definition`) and of the starting state (None: left out).
    Known without building the network."""
    run_id = {key: digest(value) for key, value in definition.items()}
    if starting_state is not None:
        run_id["starting state"] = digest(*(starting_state[k] for k in sorted(starting_state)))
    return run_id


def _run_identity(
    definition: dict[str, str], starting_state: dict[str, np.ndarray] | None, passes: list[Pass]
) -> tuple[dict[str, str], list[str]]:
    """The digests that identify a run of `passes` (what a checkpoint is resumed by): its
    `run_identity`, and one per pass of its samples."""
    run_id = run_identity(definition, starting_state)
    pass_ids = [
        digest(p.split, p.epoch, p.plastic, p.images, p.labels, *([p.start] if p.start else []))
        for p in passes
    ]
    return run_id, pass_ids


def _new_records(passes: list[Pass], n_exc: int) -> list[dict[str, np.ndarray]]:
    return [
        {
            ("counts" if p.keep_counts else "window"): np.zeros(
                (len(p.images) if p.keep_counts else 0, n_exc), dtype=COUNT_DTYPE
            ),
            "reps": np.zeros(len(p.images), dtype=np.int32),
            "intensities": np.zeros(len(p.images), dtype=np.float32),
        }
        for p in passes
    ]


def _restore(saved, records: list[dict], spikes, wall, costs: dict, n_exc: int, where: Path):
    """Fill `records`, `spikes`, `wall` and `costs` from checkpoint `saved` (read from
    `where`); return its state, pass index, position and trace."""
    state = {key[6:]: saved[key] for key in saved.files if key.startswith("state/")}
    k, pos = int(saved["pass_index"]), int(saved["position"])
    for j, rec in enumerate(records):
        for name in rec:
            if name == "window":
                rec[name] = _saved_window(saved, j, k, pos, len(records), n_exc, where)
            elif f"rec{j}/{name}" in saved.files:  # a run extended by more passes
                rec[name][:] = saved[f"rec{j}/{name}"]
    trace = [tuple(row) for row in saved["trace"]]
    spikes[: len(saved["spikes"])] = saved["spikes"][: len(records)]
    if "wall" in saved.files:  # absent from checkpoints written before it was recorded
        wall[: len(saved["wall"])] = saved["wall"][: len(records)]
    if "costs" in saved.files:
        costs.update(json.loads(str(saved["costs"])))
    return state, k, pos, trace


def _finished_records(records, trace, spikes, wall, costs, run_id) -> list[dict]:
    for j, rec in enumerate(records):
        rec["trace"] = np.array(trace, dtype=float).reshape(-1, 2)
        rec["spikes"] = spikes[j]
        rec["wall_time_s"] = float(wall[j])
        rec["costs"] = costs
        rec["run_id"] = run_id
    return records


def _saved_window(
    saved, j: int, k: int, pos: int, n_passes: int, n_exc: int, where: Path
) -> np.ndarray:
    """The counts window of pass `j` in checkpoint `saved` (read from `where`), resumed at pass
    `k`, sample `pos`, as `COUNT_DTYPE`.

    Only the current pass, or the last one of a finished run, has one. A checkpoint written
    before windows kept every sample's counts (``rec{j}/counts``): the window is cut from them.
    One written by older code holds the window as int64: converted (the same values).
    """
    current = j == k or (j == n_passes - 1 and k == n_passes)
    if current and f"rec{j}/window" in saved.files:
        return _as_counts(saved[f"rec{j}/window"], where, f"rec{j}/window")
    if current and f"rec{j}/counts" in saved.files:
        counts = saved[f"rec{j}/counts"]
        end = pos if j == k else len(counts)
        return _as_counts(counts[max(0, end - RUNNING_WINDOW) : end], where, f"rec{j}/counts")
    return np.zeros((0, n_exc), dtype=COUNT_DTYPE)


def _as_counts(counts: np.ndarray, where: Path, name: str) -> np.ndarray:
    """Spike counts `counts` (array `name` of checkpoint `where`) as `COUNT_DTYPE`, refused
    (`ResultFileError`) where a value does not fit: never so in a checkpoint this code wrote."""
    if counts.dtype == COUNT_DTYPE:
        return counts
    limits = np.iinfo(COUNT_DTYPE)
    if counts.size and (counts.min() < limits.min or counts.max() > limits.max):
        raise ResultFileError(
            where,
            f"{name}: spike counts from {counts.min()} to {counts.max()}, outside the "
            f"{limits.min} to {limits.max} of a presentation's count",
        )
    return counts.astype(COUNT_DTYPE)


class _Window:
    """The counts of a training pass's last `RUNNING_WINDOW` samples (at most `capacity`), in
    one buffer: appending shifts it in place, where concatenating would hold two copies.

    Parameters
    ----------
    rows : (r, n_exc) array
        The window so far (a checkpoint's, or empty), r <= `capacity`.
    capacity : int
        Rows of the buffer: ``min(samples of the pass, RUNNING_WINDOW)``.
    """

    def __init__(self, rows: np.ndarray, capacity: int):
        self._buffer = np.zeros((capacity, rows.shape[1]), dtype=COUNT_DTYPE)
        self._n = 0
        self.append(rows)

    @property
    def rows(self) -> np.ndarray:
        """The window, oldest sample first (a view of the buffer)."""
        return self._buffer[: self._n]

    def append(self, counts: np.ndarray) -> None:
        """Add `counts` (m, n_exc) of `COUNT_DTYPE` after the rows, dropping the oldest beyond
        the capacity."""
        buffer, m = self._buffer, len(counts)
        kept = min(self._n, len(buffer) - min(m, len(buffer)))  # earlier rows that stay
        shift = self._n - kept
        # moved to the front in blocks of `shift` rows, which do not overlap: numpy would copy
        # overlapping 2-D source rows to a temporary array first (128 MB at N=6400)
        for start in range(0, kept, shift) if shift else ():
            stop = min(start + shift, kept)
            buffer[start:stop] = buffer[start + shift : stop + shift]
        new = counts[max(0, m - len(buffer)) :]
        # "safe": counts of a wider type (a bug) would wrap silently in an assignment
        np.copyto(buffer[kept : kept + len(new)], new, casting="safe")
        self._n = kept + len(new)


def _identities(checkpoint: Path, run_id: dict[str, str], pass_ids: list[str]):
    """The identities (`bioclf.checkpoint`) of the run that wrote `checkpoint` and of this one.

    A run may have more passes than the checkpoint's (more epochs extend a run), or fewer as
    long as the checkpoint has not gone past them: the passes both have must be the same. (A
    checkpoint already into a later pass holds a network this run would never produce.)
    """
    with np.load(checkpoint) as saved:
        if "run_id" not in saved.files:  # written before runs were identified
            return None, run_id
        saved_id = json.loads(str(saved["run_id"]))
        saved_passes = [str(x) for x in saved["pass_ids"]]
        done = int(saved["pass_index"]) + (int(saved["position"]) > 0)  # passes begun
    n = min(len(saved_passes), len(pass_ids))
    saved_id, now = {**saved_id, "samples": saved_passes[:n]}, {**run_id, "samples": pass_ids[:n]}
    if done > len(pass_ids):
        saved_id["passes"], now["passes"] = f"{done} begun", f"{len(pass_ids)} in all"
    return saved_id, now


def make_simulator(
    models: Models,
    protocol: Protocol,
    n_exc: int,
    chunk: int,
    seed: int,
    backend: backends.Backend,
    project: str,
    field: str = "stdp.backend",
    instead: str = "use cpp",
) -> Simulator:
    """The network built on `backend`; the ``cuda`` backend where no GPU is visible is
    refused first (`ConfigError` naming `field`, the option or key that chose it, and saying
    what to do `instead`)."""
    if backend.name == "cuda" and (why := backends.no_gpu()):
        raise ConfigError(THE_CONFIGURATION, field, f"{why}; {instead}")
    log(f"building the network (N={n_exc}, backend {backend.name}) ...")
    sim = Simulator(models, protocol, n_exc, chunk, seed, backend, project)
    log(f"built in {sim.build_time_s:.1f} s")
    return sim
