"""Test metrics of a trained, labelled STDP network from its test responses.

The vote (`bioclf.stdp.labels.predict`) turns each test sample's responses into a class; the
metrics add the cost of an inference: spikes, synaptic operations and their energy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioclf import energy, plots, tasks
from bioclf.io import save_npz, write_json
from bioclf.stdp import labels as labelling
from bioclf.stdp import setup

#: The fields of ``assign_metrics.json`` that scoring reads.
ASSIGN_FIELDS = ("n_assign", "neurons_per_class")

PJ_PER_SYNOP = energy.FP32.ac  # one accumulate per synaptic operation (bioclf.energy)


def score(
    cfg: dict, trained: dict, assignment: np.ndarray, assign_info: dict, rec: dict, out: Path
) -> dict:
    """Write ``metrics.json``, ``test_records.npz`` and ``confusion.png`` to `out`; return the
    metrics.

    Parameters
    ----------
    trained : the training metrics (``train_metrics.json``)
    assignment, assign_info : the label assignment and its ``assign_metrics.json``
    rec : the test responses (`bioclf.stdp.frozen.respond`)
    """
    labels, wall = rec["labels"], float(rec["wall_time_s"])
    n_test = len(labels)
    n_exc = trained["n_exc"]
    pred = labelling.predict(rec["counts"], assignment)
    confusion = labelling.confusion_matrix(labels, pred)
    save_npz(
        out / "test_records.npz",
        counts=rec["counts"],
        reps=rec["reps"],
        labels=labels,
        predictions=pred,
    )

    spikes = rec["spikes"] / n_test  # per inference, repeated presentations and rest included
    synops = spikes[0] * n_exc + spikes[1] * 1 + spikes[2] * (n_exc - 1)
    protocol = setup.protocol(cfg)
    metrics = {
        "method": "stdp",
        "n_exc": n_exc,
        "seed": trained["seed"],
        "backend": trained["backend"],
        "accuracy": float(np.mean(pred == labels)),
        "n_test": n_test,
        "n_assign": assign_info["n_assign"],
        "confusion": confusion.tolist(),
        "neurons_per_class": assign_info["neurons_per_class"],
        "spikes_per_inference": {"input": spikes[0], "exc": spikes[1], "inh": spikes[2]},
        "synops_per_inference": float(synops),
        "energy_per_inference_nj": float(synops * PJ_PER_SYNOP / 1e3),
        "presentations_per_inference": float(1 + rec["reps"].mean()),
        "time_steps_per_presentation": protocol.slot_steps,
        "latency_time_steps": protocol.present_steps,
        "encoding": (
            f"Poisson (Bernoulli per step) rate code, {float(protocol.max_rate):g} Hz max at "
            f"intensity {protocol.base_intensity:g}"
            if protocol.encoding == "rate"
            else "latency code, one spike per pixel per presentation"
        )
        + f", dt {float(protocol.dt) * 1e3:g} ms, {float(protocol.present) * 1e3:g} ms "
        f"shown + {float(protocol.rest) * 1e3:g} ms rest",
        "test_wall_time_s": round(wall, 2),
        "inference_ms_per_sample": round(wall / n_test * 1e3, 3),
        "training": trained,
        "provenance": tasks.provenance(),
    }
    write_json(out / "metrics.json", metrics)
    plots.confusion(confusion, out / "confusion.png", title=f"STDP N={n_exc}")
    return metrics
