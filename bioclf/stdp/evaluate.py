"""Label assignment and testing of a trained STDP network (theta and weights frozen).

    python -m bioclf.stdp.evaluate --config config/config.yaml --trained DIR --out DIR

Assignments come from the network's responses to training samples (the first ``n_assign``,
with input spike trains independent of training); the test set is only ever classified.
"""

from __future__ import annotations

import time

import numpy as np

from bioclf import config as cfgmod
from bioclf import plots, tasks
from bioclf.io import load_json, save_npy, save_npz, write_json
from bioclf.stdp import labels as labelling
from bioclf.stdp import setup
from bioclf.stdp.run import Pass, make_simulator, run_passes

PJ_PER_SYNOP = 0.9  # 45 nm accumulate (Horowitz 2014)


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    p.add_argument("--trained", required=True, type=tasks.Path, help="training output directory")
    p.add_argument("--n-assign", type=int, help="training samples for label assignment")
    p.add_argument("--n-test", type=int, help="test samples")
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    trained = load_json(args.trained / "train_metrics.json")
    n_exc, seed = trained["n_exc"], trained["seed"]
    state = dict(np.load(args.trained / "state.npz"))
    n_assign = args.n_assign or cfg["stdp"]["n_assign"]
    n_test = args.n_test or cfg["stdp"]["n_test"]
    assign_x, assign_y = setup.data(cfg, "train", min(n_assign, 60000))
    test_x, test_y = setup.data(cfg, "test", n_test)
    backend = setup.backend(cfg, trained["backend"], n_exc, seed)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    sim = make_simulator(
        setup.models(cfg),
        setup.protocol(cfg),
        n_exc,
        cfg["stdp"]["chunk"],
        seed,
        backend,
        "network",
    )
    start = time.perf_counter()
    _, (assign_rec,) = run_passes(
        sim,
        [Pass("assign", 0, assign_x, assign_y, plastic=False)],
        seed,
        out / "checkpoint_assign.npz",
        state,
        "assign",
    )
    assign_time = time.perf_counter() - start
    assignment = labelling.assign_labels(assign_rec["counts"], assign_y)
    save_npy(out / "assignment.npy", assignment)
    start = time.perf_counter()
    _, (test_rec,) = run_passes(
        sim,
        [Pass("test", 0, test_x, test_y, plastic=False)],
        seed,
        out / "checkpoint_test.npz",
        state,
        "test",
    )
    test_time = time.perf_counter() - start
    pred = labelling.predict(test_rec["counts"], assignment)
    confusion = labelling.confusion_matrix(test_y, pred)
    save_npz(
        out / "test_records.npz",
        counts=test_rec["counts"],
        reps=test_rec["reps"],
        labels=test_y,
        predictions=pred,
        assign_counts=assign_rec["counts"],
    )

    spikes = test_rec["spikes"] / n_test  # per inference, repeats and rest included
    synops = spikes[0] * n_exc + spikes[1] * 1 + spikes[2] * (n_exc - 1)
    protocol = setup.protocol(cfg)
    metrics = {
        "method": "stdp",
        "n_exc": n_exc,
        "seed": seed,
        "backend": backend.name,
        "accuracy": float(np.mean(pred == test_y)),
        "n_test": n_test,
        "n_assign": n_assign,
        "confusion": confusion.tolist(),
        "neurons_per_class": np.bincount(assignment[assignment >= 0], minlength=10).tolist(),
        "spikes_per_inference": {"input": spikes[0], "exc": spikes[1], "inh": spikes[2]},
        "synops_per_inference": float(synops),
        "energy_per_inference_nj": float(synops * PJ_PER_SYNOP / 1e3),
        "presentations_per_inference": float(1 + test_rec["reps"].mean()),
        "time_steps_per_presentation": protocol.slot_steps,
        "encoding": f"Bernoulli/Poisson rate code, max {float(protocol.max_rate):g} Hz at "
        f"intensity {protocol.base_intensity:g}, dt {float(protocol.dt) * 1e3:g} ms, "
        f"{float(protocol.present) * 1e3:g} ms + {float(protocol.rest) * 1e3:g} ms rest",
        "assign_wall_time_s": round(assign_time, 2),
        "test_wall_time_s": round(test_time, 2),
        "inference_ms_per_sample": round(test_time / n_test * 1e3, 3),
        "training": trained,
        "provenance": tasks.provenance(),
    }
    write_json(out / "metrics.json", metrics)
    plots.confusion(confusion, out / "confusion.png", title=f"STDP N={n_exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
