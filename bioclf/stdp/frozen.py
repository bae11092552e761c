"""The trained STDP network run frozen (theta and weights fixed, ``plastic = 0``).

Label assignment shows it training samples, testing shows it test samples; both only record
its responses, chunk by chunk and resumably (`bioclf.stdp.run`); run again, a run its
checkpoint shows finished is read without building the network. Input spike trains are keyed
on the split, so those of label assignment are independent of those of training.

The files of responses and of the label assignment record the identity of the run they come
from (`results_identity`, under `RUN`), which `bioclf.stdp.evaluate` compares with the one it
expects (`expected_identities`) before scoring them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from brian2 import SpikeMonitor, second

from bioclf.brian import backends
from bioclf.brian.buildlock import BUILD_LOCK_NAME, build_lock
from bioclf.brian.locked_run import LOCK_NAME
from bioclf.data import FloatImages
from bioclf.encoding import SPLIT_TAGS, hashrng
from bioclf.errors import THE_CONFIGURATION, ConfigError
from bioclf.io import atomic_dir, digest, load_arrays, load_json, save_npy, save_npz, write_json
from bioclf.stdp import labels as labelling
from bioclf.stdp import setup, shards, simulate
from bioclf.stdp.run import (
    Pass,
    finished,
    log,
    make_simulator,
    run_identity,
    run_passes,
    same_variables,
)
from bioclf.stdp.simulate import Simulator

#: File of the test responses (`respond`) in its output directory.
RESPONSES = "responses.npz"


#: The array of ``responses.npz`` and ``assign_records.npz``, and the field of
#: ``assign_metrics.json``, that hold the identity of the run they come from (`results_identity`).
RUN = "run"

#: The field of ``assign_metrics.json`` that ties it to the ``assignment.npy`` beside it (a
#: digest of the array): the run it records is that assignment's only if the two were written
#: together.
ASSIGNMENT_DIGEST = "assignment_digest"

#: The data split that each split of a frozen run shows, and where its number of samples is set.
SPLITS = {
    "assign": ("train", "stdp.n_assign or --n-assign"),
    "test": ("test", "stdp.n_test or --n-test"),
}


#: The fields of ``train_metrics.json`` that running a trained network reads.
TRAINED_FIELDS = ("backend", "n_exc", "seed")


def trained_metrics(trained_dir: Path) -> dict:
    """``train_metrics.json`` of the network trained in `trained_dir`; `ResultFileError` where
    it is missing, not JSON or lacks a field a frozen run reads (another task's metrics)."""
    return load_json(Path(trained_dir) / "train_metrics.json", TRAINED_FIELDS)


def frozen_simulator(cfg: dict, trained: dict, models, project: str = "network"):
    """The trained network's simulator, in the training build directory.

    The default `project` reuses the binary compiled for training; a job that runs at the same
    time as another one on the same network (the test responses while labels are assigned)
    passes its own project name (`seed_project` starts it as a copy).
    """
    backend = setup.backend(cfg, trained["backend"], trained["n_exc"], trained["seed"], models)
    return make_simulator(
        models,
        setup.protocol(cfg),
        trained["n_exc"],
        cfg["stdp"]["chunk"],
        trained["seed"],
        backend,
        project,
        "stdp.backend (the trained network's, which its labels and test run on)",
        # (not "use cpp": the backend is the one train_metrics.json records, not a choice here)
        "run them where a GPU is (a network trained on cpp runs on the CPU)",
    )


def definition(cfg: dict, trained: dict, models) -> dict[str, str]:
    """What determines the results of the trained network's simulator (`simulate.definition`),
    known without building it."""
    backend = setup.backend(cfg, trained["backend"], trained["n_exc"], trained["seed"], models)
    return simulate.definition(
        models, setup.protocol(cfg), trained["n_exc"], cfg["stdp"]["chunk"], trained["seed"],
        backend,
    )  # fmt: skip


def samples(cfg: dict, split: str, n: int) -> tuple[FloatImages, np.ndarray]:
    """The first `n` images and labels of the data that frozen runs of `split` (`SPLITS`) show
    (`setup.data`): the images as `FloatImages` (uint8 pixels, float32 in [0, 1] where read:
    slice them by rows, ``numpy.asarray`` them for the floats), the labels as an array."""
    data_split, field = SPLITS[split]
    return setup.data(cfg, data_split, n, field)


def results_identity(run_id: dict[str, str], split: str, images, labels) -> str:
    """The identity of the results of a frozen run (`RUN`): a digest of what its responses depend
    on besides the range of samples a shard simulates: its ``run_id`` (`run.run_identity`: the
    trained network's state and the settings it was run with, i.e. model files, protocol, N,
    seed, backend and code version) but the chunk size, which changes no result, the `split`
    and all the run's samples `images`, `labels` (a shard's: those of the whole run)."""
    run = {key: value for key, value in run_id.items() if key != "stdp.chunk"}
    return digest(json.dumps(run, sort_keys=True), split, images, labels)


def expected_identities(cfg: dict, trained_dir: Path, counts: dict[str, int]) -> dict[str, str]:
    """The `results_identity` of frozen runs of the network trained in `trained_dir` with
    `cfg`, per split of `counts` (``assign``, ``test``) on the first ``counts[split]`` samples:
    what their files record. Known without building the network."""
    trained = trained_metrics(trained_dir)
    state = load_arrays(Path(trained_dir) / "state.npz")
    run_id = run_identity(definition(cfg, trained, setup.models(cfg)), state)
    return {
        split: results_identity(run_id, split, *samples(cfg, split, n))
        for split, n in counts.items()
    }


def check_trained_with(cfg: dict, trained: dict, trained_dir: Path, models) -> None:
    """Refuse a configuration whose model files (`models`, loaded from it) or protocol are not
    those the network in `trained_dir` was trained with (`setup.trained_identity`; networks
    trained before it was recorded are not checked).

    Raises
    ------
    ConfigError
        Naming the model's role (``stdp.models.exc``) or ``stdp.protocol``.
    """
    now = setup.trained_identity(models, setup.protocol(cfg))
    for role, value in trained.get("models", {}).items():
        if now["models"].get(role) != value:
            raise ConfigError(
                THE_CONFIGURATION,
                role,
                f"{cfg['stdp']['models'][role.rsplit('.', 1)[1]]} is not the model the "
                f"network in {trained_dir} was trained with (edited since, or another "
                "file): train again with it, or use the files it was trained with",
            )
    if "stdp.protocol" in trained and now["stdp.protocol"] != trained["stdp.protocol"]:
        raise ConfigError(
            THE_CONFIGURATION,
            "stdp.protocol",
            f"differs from the protocol the network in {trained_dir} was trained with",
        )


def run_frozen(
    cfg: dict,
    trained_dir,
    split: str,
    images,
    labels,
    out,
    project: str = "network",
    start: int = 0,
):
    """Show `images` to the trained network (plastic = 0), resumably; return its responses.

    `start` is the position in the split of the first image (a shard's), which keys its input
    spike trains.
    """
    trained = trained_metrics(trained_dir)
    models = setup.models(cfg)
    check_trained_with(cfg, trained, trained_dir, models)
    state = load_arrays(trained_dir / "state.npz")
    out.mkdir(parents=True, exist_ok=True)
    passes = [Pass(split, 0, images, labels, plastic=False, start=start)]
    checkpoint = out / "checkpoint.npz"
    # A run its checkpoint shows finished, from this trained state, is read, its network not
    # built again (compiling takes tens of seconds); the state passed the variables check below
    # when that run started.
    done = finished(checkpoint, definition(cfg, trained, models), state, passes, trained["n_exc"])
    if done is not None:
        log(f"[{split}] finished in {checkpoint}: not built again")
        _, (rec,) = done
        return trained, rec, rec["wall_time_s"]
    if project != "network":
        seed_project(cfg, trained_dir, project)
    sim = frozen_simulator(cfg, trained, models, project)
    same_variables(state, sim.initial_state, str(trained_dir / "state.npz"), "variables")
    _, (rec,) = run_passes(sim, passes, trained["seed"], checkpoint, state, split)
    return trained, rec, rec["wall_time_s"]


def seed_project(cfg: dict, trained_dir: Path, project: str) -> None:
    """Start `project` as a copy of the training project, so that it need not be compiled.

    Brian2 rewrites only the generated files whose text changed and make rebuilds only what is
    out of date, so a copy (modification times kept) of the identical network builds in seconds.
    """
    trained = trained_metrics(trained_dir)
    backend = setup.backend(
        cfg, trained["backend"], trained["n_exc"], trained["seed"], setup.models(cfg)
    )
    build = backend.build_dir
    source, target = build / "network", build / project
    if target.exists() or not (source / "main").exists():
        return
    # Copied under a name of this process's own and renamed into place: two jobs seeding one
    # project at once each copy their own, and the first in place is kept.
    with build_lock(source), atomic_dir(target) as tmp:  # not while another job rebuilds it
        if target.exists():  # (another job's, copied while this one waited for the lock)
            return
        shutil.copytree(
            source,
            tmp,
            symlinks=True,
            ignore=shutil.ignore_patterns("results*", BUILD_LOCK_NAME, LOCK_NAME),
        )


def assign(
    cfg: dict, trained_dir: Path, out: Path, n_assign: int, shard: tuple[int, int] | None = None
) -> np.ndarray | None:
    """Assign each neuron the class it responds to most over the first `n_assign` training
    samples; write ``assignment.npy``, the responses and ``assign_metrics.json`` to `out`.

    With `shard` = (k, K), simulate only shard k of K (`bioclf.stdp.shards`) in a project of
    its own, write its responses to `out` and return None: `merge_assign` assigns the labels.
    """
    images, labels = samples(cfg, "assign", n_assign)
    if shard is None:
        _, rec, wall = run_frozen(cfg, trained_dir, "assign", images, labels, out)
        run = results_identity(rec["run_id"], "assign", images, labels)
        return write_assignment(out, rec["counts"], rec["reps"], labels, wall, run)
    shards.check_config(cfg, THE_CONFIGURATION, shard[1])
    lo, hi = shards.bounds(n_assign, *shard)
    project = f"network_assign{shard[0]}"
    _, rec, wall = run_frozen(
        cfg, trained_dir, "assign", images[lo:hi], labels[lo:hi], out, project, lo
    )
    save_npz(
        out / shards.ASSIGN_RECORDS,
        counts=rec["counts"],
        reps=rec["reps"],
        labels=labels[lo:hi],
        wall_time_s=np.float64(wall),
        **shards.record(
            results_identity(rec["run_id"], "assign", images, labels), lo, hi, n_assign
        ),
    )
    return None


def write_assignment(out: Path, counts, reps, labels, wall: float, run: str) -> np.ndarray:
    """Assign the labels from the responses to label-assignment samples; write them
    (``assignment.npy``), the responses and ``assign_metrics.json`` to `out`, both with the
    identity `run` of the run the responses come from (`results_identity`)."""
    assignment = labelling.assign_labels(counts, labels)
    save_npz(out / shards.ASSIGN_RECORDS, counts=counts, reps=reps, labels=labels, run=run)
    save_npy(out / "assignment.npy", assignment)
    write_json(
        out / "assign_metrics.json",
        {
            "n_assign": len(labels),
            "wall_time_s": round(float(wall), 2),
            "neurons_per_class": np.bincount(assignment[assignment >= 0], minlength=10).tolist(),
            "silent_neurons": int(np.sum(assignment < 0)),
            RUN: run,
            ASSIGNMENT_DIGEST: digest(assignment),
        },
    )
    return assignment


def merge_assign(parts: list[Path], out: Path) -> np.ndarray:
    """Assign the labels from the label-assignment shards `parts` (in order), writing what
    `assign` writes for the whole run."""
    rec = shards.concatenate(parts, shards.ASSIGN_RECORDS)
    wall = rec["wall_time_s"]
    return write_assignment(out, rec["counts"], rec["reps"], rec["labels"], wall, str(rec[RUN]))


def respond(
    cfg: dict,
    trained_dir: Path,
    out: Path,
    n_test: int,
    project: str,
    shard: tuple[int, int] | None = None,
) -> dict:
    """Simulate the first `n_test` test images; save (``RESPONSES``, with the run's identity
    `RUN`) and return the responses.

    With `shard` = (k, K), only shard k of K (`bioclf.stdp.shards`), in a project of its own
    (`project` + k), with its sample range saved alongside too (`shards.record`) for
    `merge_responses`.
    """
    images, labels = samples(cfg, "test", n_test)
    lo, hi = (0, n_test) if shard is None else shards.bounds(n_test, *shard)
    if shard is not None:
        shards.check_config(cfg, THE_CONFIGURATION, shard[1])
        project = f"{project}{shard[0]}"
    _, rec, wall = run_frozen(
        cfg, trained_dir, "test", images[lo:hi], labels[lo:hi], out, project, lo
    )
    responses = {
        "counts": rec["counts"],
        "reps": rec["reps"],
        "labels": labels[lo:hi],
        "spikes": rec["spikes"],
        "wall_time_s": np.float64(wall),
    }
    run = results_identity(rec["run_id"], "test", images, labels)
    extra = {RUN: np.array(run)} if shard is None else shards.record(run, lo, hi, n_test)
    save_npz(out / RESPONSES, **responses, **extra)
    return responses


#: The arrays of ``responses.npz`` that testing reads.
RESPONSE_KEYS = ("counts", "reps", "labels", "spikes", "wall_time_s")


def merge_responses(parts: list[Path], out: Path) -> dict:
    """Join the test-response shards `parts` (in order) into the file `respond` writes (the
    shards' common identity `RUN` included)."""
    responses = shards.concatenate(parts, RESPONSES)
    save_npz(out / RESPONSES, **responses)
    return responses


def sample_spikes(cfg: dict, trained_dir: Path, sample: int) -> dict:
    """The spikes of the trained network shown test sample `sample` (runtime backend).

    Returns the input and excitatory spike times (ms) and indices, ``n_exc``, ``shown_ms``
    (start and end of each presentation, repeats included), ``label`` and ``presentations``.
    """
    trained = trained_metrics(trained_dir)
    models = setup.models(cfg)
    check_trained_with(cfg, trained, trained_dir, models)
    state = load_arrays(trained_dir / "state.npz")
    images, labels = setup.data(cfg, "test", sample + 1, "--sample")
    protocol = setup.protocol(cfg)
    sim = Simulator(
        models,
        protocol,
        trained["n_exc"],
        1,
        trained["seed"],
        backends.Backend("runtime"),
        "raster",
    )
    inp_mon = SpikeMonitor(sim.net.inp, name="raster_inp")
    exc_mon = SpikeMonitor(sim.net.exc, name="raster_exc")
    sim.net.net.add(inp_mon, exc_mon)
    same_variables(state, sim.initial_state, str(trained_dir / "state.npz"), "variables")
    key = hashrng.key(trained["seed"], SPLIT_TAGS["test"], 0)
    _, res = sim.run_chunk(state, images[sample : sample + 1], sample, key, False)
    slot, present = float(protocol.slot) * 1e3, float(protocol.present) * 1e3
    n_slots = int(np.ceil(float(sim.net.net.t / protocol.slot)))
    return {
        "inp_ms": np.asarray(inp_mon.t / second) * 1e3,
        "inp_i": np.asarray(inp_mon.i),
        "exc_ms": np.asarray(exc_mon.t / second) * 1e3,
        "exc_i": np.asarray(exc_mon.i),
        "n_exc": trained["n_exc"],
        "shown_ms": [(k * slot, k * slot + present) for k in range(n_slots)],
        "label": int(labels[sample]),
        "presentations": 1 + int(res.reps[0]) if len(res.reps) else None,
    }
