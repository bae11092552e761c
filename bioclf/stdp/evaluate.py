"""Test a trained, labelled STDP network on the test set (theta and weights frozen).

    python -m bioclf.stdp.evaluate --config config/config.yaml --trained DIR \
        --assignment DIR/assign/assignment.npy --out DIR/test

The test set is simulated here unless ``--responses`` gives the file that
`bioclf.stdp.respond` wrote (the pipeline does that, in parallel with label assignment).
"""

from __future__ import annotations

import numpy as np

from bioclf import config as cfgmod
from bioclf import plots, tasks
from bioclf.errors import ConfigError
from bioclf.io import load_json, save_npz, write_json
from bioclf.stdp import labels as labelling
from bioclf.stdp import setup
from bioclf.stdp.respond import respond

PJ_PER_SYNOP = 0.9  # 45 nm accumulate (Horowitz 2014)


def main(argv=None) -> int:
    p = tasks.parser(__doc__.splitlines()[0])
    p.add_argument("--trained", required=True, type=tasks.Path, help="training output directory")
    p.add_argument("--assignment", required=True, type=tasks.Path, help="assignment.npy")
    p.add_argument("--n-test", type=int, help="test samples (default: config)")
    p.add_argument(
        "--responses", type=tasks.Path, help="responses.npz of `bioclf.stdp.respond` (optional)"
    )
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    assignment = np.load(args.assignment)
    assign_info = load_json(args.assignment.parent / "assign_metrics.json")
    trained = load_json(args.trained / "train_metrics.json")
    n_test = args.n_test or cfg["stdp"]["n_test"]
    if args.responses is None:
        rec = respond(cfg, args.trained, args.out, n_test, "network")
    else:
        rec = dict(np.load(args.responses))
        if len(rec["labels"]) != n_test:
            raise ConfigError(
                args.responses,
                "counts",
                f"holds responses to {len(rec['labels'])} test images; n_test is {n_test}",
            )
    labels, wall = rec["labels"], float(rec["wall_time_s"])
    n_exc = trained["n_exc"]
    pred = labelling.predict(rec["counts"], assignment)
    confusion = labelling.confusion_matrix(labels, pred)
    save_npz(
        args.out / "test_records.npz",
        counts=rec["counts"],
        reps=rec["reps"],
        labels=labels,
        predictions=pred,
    )

    spikes = rec["spikes"] / n_test  # per inference, repeated presentations and rest included
    synops = spikes[0] * n_exc + spikes[1] * 1 + spikes[2] * (n_exc - 1)
    protocol = setup.protocol(cfg)
    write_json(
        args.out / "metrics.json",
        {
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
        },
    )
    plots.confusion(confusion, args.out / "confusion.png", title=f"STDP N={n_exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
