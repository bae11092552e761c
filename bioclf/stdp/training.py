"""Training the Diehl & Cook network by unsupervised STDP, and its outputs.

Resumable: interrupted, the same call continues from the last checkpoint (one chunk of samples
lost at most) and gives the same final weights as an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioclf import plots, tasks
from bioclf.errors import THE_CONFIGURATION, ConfigError, ResultFileError
from bioclf.io import load_arrays, load_json, save_npy, save_npz, write_json
from bioclf.stdp import network, run, setup, simulate
from bioclf.stdp.protocol import Models
from bioclf.stdp.run import (
    Pass,
    make_simulator,
    run_passes,
    same_variables,
    variables_problem,
)


def train(
    cfg: dict,
    n_exc: int,
    seed: int,
    out: Path,
    backend_name: str | None = None,
    epochs: int | None = None,
    n_train: int | None = None,
    continue_from: Path | None = None,
) -> dict:
    """Train `n_exc` excitatory neurons; write the state, weights, records and metrics to `out`.

    `backend_name`, `epochs` and `n_train` default to the configuration's (epochs: those of
    the size `n_exc` in ``stdp.sizes``, else 1). The size's ``schedule`` trains the first
    epochs with other model files, each phase from the network the one before left
    (normalised, as `continue_from` does), with a checkpoint of its own; run again, a phase
    whose checkpoint shows it finished (`run.finished`) is read, its network not built again.
    One progress times all phases. `continue_from`, the
    output directory of an earlier training of the same size and seed, starts from its trained
    state instead of the initial one (e.g. to go on with other learning rates); its epochs are
    counted on, so the input spike trains are new. Returns the metrics
    (``train_metrics.json``).
    """
    epochs = epochs or next((s["epochs"] for s in cfg["stdp"]["sizes"] if s["n"] == n_exc), 1)
    n_train = n_train or cfg["stdp"]["n_train"]
    phases = setup.schedule(cfg, n_exc, epochs)
    phase_models = [Models.load(paths) for paths, _ in phases]  # every file checked first
    protocol = setup.protocol(cfg)
    backend = setup.backend(cfg, backend_name, n_exc, seed, phase_models[-1])
    images, labels = setup.data(cfg, "train", n_train, "stdp.n_train or --n-train")
    first_epoch = 0
    if continue_from is not None:  # checked before the (long) build
        if Path(continue_from).resolve() == Path(out).resolve():
            raise ConfigError(str(out), "--continue-from", "must differ from --out")
        first_epoch = _earlier_epochs(Path(continue_from), n_exc, seed)
    out.mkdir(parents=True, exist_ok=True)

    records, traces, state, epoch = [], [], None, first_epoch
    costs = {"build_time_s": 0.0, "program_mb": 0.0}
    # One progress over all phases: the time elapsed since the start (builds included) and
    # left until the last phase ends; each line names its phase.
    progress, before = tasks.Progress(epochs * len(images)), 0
    for i, ((_, n_epochs), models) in enumerate(zip(phases, phase_models, strict=True)):
        last = i == len(phases) - 1
        passes = [
            Pass("train", epoch + e, images, labels, plastic=True, keep_counts=False)
            for e in range(n_epochs)
        ]
        label = f"stdp N={n_exc}" + (f" phase {i + 1}/{len(phases)}" if len(phases) > 1 else "")
        ckpt = out / ("checkpoint.npz" if last else f"checkpoint_phase{i + 1}.npz")
        # A phase its checkpoint shows finished, from the same start, is not built again
        # (compiling takes tens of seconds); from its start: the phase before's end, the
        # network continued from, or (None) the new network that the definition determines.
        start = state
        if start is None and continue_from is not None:
            start = load_arrays(Path(continue_from) / "state.npz")
        definition = simulate.definition(
            models, protocol, n_exc, cfg["stdp"]["chunk"], seed, backend
        )
        done = run.finished(ckpt, definition, start, passes, n_exc)
        if done is not None:
            run.log(f"[{label}] finished in {ckpt}: not built again")
            raw, phase_records = done
        else:
            # One project for all phases: a phase's build compiles again only the code that
            # its model files change (the previous phase's network is gone by then, see below).
            sim = make_simulator(
                models, protocol, n_exc, cfg["stdp"]["chunk"], seed, backend, "network",
                "stdp.backend or --backend",
            )  # fmt: skip
            if state is not None:  # (the previous phase's: its model files are the config's)
                problem = variables_problem(state, sim.initial_state)
                if problem is not None:
                    raise ConfigError(THE_CONFIGURATION, f"schedule of N={n_exc}", problem)
                initial = state
            elif continue_from is not None:
                initial = _earlier_state(Path(continue_from), sim.initial_state)
            else:
                initial = sim.initial_state
            raw, phase_records = run_passes(
                sim, passes, seed, ckpt, initial, label, progress, before
            )
            # Alive, its objects would make Brian2 rename the next phase's code objects (all
            # compiled anew) and hold its memory meanwhile.
            del sim
        before += n_epochs * len(images)
        # The trained network is the one the next presentation would see: normalised. The
        # checkpoint keeps the raw state, so that a run resumed for more epochs stays
        # bit-identical.
        state = network.normalised(models, raw, n_exc)
        trace = phase_records[-1]["trace"].copy()
        trace[:, 0] += len(records) * n_train  # samples seen counted over the phases
        traces.append(trace)
        records += phase_records
        epoch += n_epochs
        # those of the runs that trained (kept in the checkpoints)
        costs["build_time_s"] += phase_records[0]["costs"]["build_time_s"]
        costs["program_mb"] = max(costs["program_mb"], phase_records[0]["costs"]["program_mb"])
    wall = sum(r["wall_time_s"] for r in records)
    base = phases[-1][0]  # stdp.models: a phase's metrics name the files it changes

    weights = state["s_in.w"].reshape(network.N_INPUT, n_exc)
    save_npz(out / "state.npz", **state)
    save_npy(out / "weights.npy", weights)
    save_npy(out / "theta.npy", state["exc.theta"])
    reps = np.concatenate([r["reps"] for r in records])
    spikes = np.sum([r["spikes"] for r in records], axis=0)
    window = records[-1]["window"]  # the counts of the last training samples
    save_npz(
        out / "train_records.npz",
        reps=reps,
        labels=np.concatenate([labels] * epochs),
        window_counts=window,
        window_labels=labels[len(labels) - len(window) :],
    )
    n_samples = n_train * epochs
    metrics = {
        "method": "stdp",
        "n_exc": n_exc,
        "seed": seed,
        "backend": backend.name,
        "threads": backend.threads,
        "epochs": epochs,
        **(
            {"continued_from": str(continue_from), "epochs_before": first_epoch}
            if continue_from is not None
            else {}
        ),
        **(
            {
                "schedule": [
                    {"epochs": e, "models": {k: v for k, v in paths.items() if v != base[k]}}
                    for paths, e in phases[:-1]
                ]
            }
            if len(phases) > 1
            else {}
        ),
        # what label assignment and testing check their configuration against (`frozen`)
        **setup.trained_identity(phase_models[-1], protocol),
        "training_samples": n_samples,
        "repeated_presentations": int(reps.sum()),
        "build_time_s": round(costs["build_time_s"], 2),
        "training_wall_time_s": round(wall, 2),
        "training_ms_per_sample": round(wall / n_samples * 1e3, 3),
        "training_samples_per_s": round(n_samples / wall, 2),
        "spikes_per_sample": {
            k: float(v) / n_samples for k, v in zip(("inp", "exc", "inh"), spikes, strict=True)
        },
        # (samples seen, running accuracy) pairs: here, not in train_records.npz, because the
        # report's figure needs them and the npz files are not versioned with the results
        "running_accuracy": np.concatenate(traces).tolist(),
        "peak_memory": {
            **tasks.peak_memory_mb(),
            **({"program_mb": costs["program_mb"]} if costs["program_mb"] else {}),
        },
        "provenance": tasks.provenance(),
        "note": "wall time summed over the chunks, including those run before a resumption",
    }
    write_json(out / "train_metrics.json", metrics)
    plots.receptive_fields(
        weights,
        out / "receptive_fields.png",
        title=f"STDP receptive fields, N={n_exc}, {first_epoch + epochs} epoch(s)",
    )
    return metrics


def _earlier_epochs(trained: Path, n_exc: int, seed: int) -> int:
    """Epochs the network trained in `trained` has seen, checked against this run."""
    where = trained / "train_metrics.json"
    if not where.exists() or not (trained / "state.npz").exists():
        raise ResultFileError(
            trained, "--continue-from: no finished training there (train_metrics.json, state.npz)"
        )
    metrics = load_json(where, ("n_exc", "seed", "epochs"))
    for key, ours in (("n_exc", n_exc), ("seed", seed)):
        if metrics[key] != ours:
            raise ResultFileError(
                where,
                f"{key}: the earlier training (--continue-from) has {metrics[key]}, this "
                f"one {ours}",
            )
    return metrics.get("epochs_before", 0) + metrics["epochs"]


def _earlier_state(trained: Path, initial: dict) -> dict:
    """The trained state in `trained`, with the variables of this network's `initial` state."""
    return same_variables(
        load_arrays(trained / "state.npz"), initial, str(trained / "state.npz"), "variables"
    )
