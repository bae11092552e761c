"""The comparison report: ``results/report.md``, ``results/metrics.csv`` and figures.

    python -m bioclf.report --config config/config.yaml --out results

Reads the metrics every pipeline branch wrote and sets STDP and the surrogate-gradient network
side by side, with the Diehl & Cook (2015) figures as anchors. Every number in the report comes
from a file the pipeline produced; missing runs are listed, never invented.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bioclf import config as cfgmod
from bioclf import energy, plots, report_coding, report_energy, report_sweeps, tasks
from bioclf.errors import ResultFileError
from bioclf.io import load_json, number, write_csv, write_text
from bioclf.neuron_check import RATE_TOLERANCE

#: Diehl & Cook (2015), test accuracy (%) by number of excitatory neurons.
DIEHL_COOK = {100: 82.9, 400: 87.0, 1600: 91.9, 6400: 95.0}
#: The passes over the 60,000 training images behind each of those figures.
DIEHL_COOK_EPOCHS = {100: 1, 400: 3, 1600: 7, 6400: 15}
#: The data set of those figures (``data.name``): on any other they are no anchor.
DIEHL_COOK_DATA = "mnist"

COLUMNS = [
    "method",
    "network",
    "n",
    "seed",
    "backend",
    "accuracy",
    "n_test",
    "anchor_accuracy",
    "training_wall_time_s",
    "training_samples_per_s",
    "inference_ms_per_sample",
    "spikes_per_inference",
    "synops_per_inference",
    "energy_nj_per_inference",
    "time_steps",
    "dt_ms",
    "encoding",
    "brian2_accuracy",
    "brian2_pytorch_same_samples",
    "brian2_n_samples",
]


def expected_inputs(cfg: dict, root: Path) -> list[Path]:
    """The metrics files of the configured runs under `root` (as the pipeline writes them), for
    a report made without ``--inputs``.
    """
    stdp = [
        root / "stdp" / cfg["stdp"]["backend"] / f"n{size['n']}" / f"seed{seed}" / "test"
        for size in cfg["stdp"]["sizes"]
        for seed in cfg["seeds"]
    ]
    surrogate = [
        root / "surrogate" / report_coding.surrogate_run_name(run) / f"seed{seed}"
        for run in cfg["surrogate"]["runs"]
        for seed in cfg["seeds"]
    ]
    return [d / "metrics.json" for d in stdp + surrogate]


def missing_runs(cfg: dict, root: Path) -> list[Path]:
    """The directories of the configured runs under `root` that have no ``metrics.json``: the
    STDP and surrogate runs (`expected_inputs`) and, where enabled, the ANN twins."""
    files = expected_inputs(cfg, root)
    if cfg.get("ann", {}).get("enabled", True):
        files += [
            root / "ann" / report_coding.surrogate_run_name(run) / f"seed{seed}" / "metrics.json"
            for run in report_coding.twin_runs(cfg["surrogate"]["runs"])
            for seed in cfg["seeds"]
        ]
    return [p.parent for p in files if not p.exists()]


def comparison_inputs(files: list[Path], root: Path) -> list[Path]:
    """`files` without the sweep runs' (under ``root/sweeps``): the sweep section reports those
    against their swept value; in the comparison rows they would pass for extra seeds of the
    configured networks."""
    sweeps = (Path(root) / "sweeps").resolve()
    return [p for p in files if not Path(p).resolve().is_relative_to(sweeps)]


def _metrics(files: list[Path], method: str) -> list[tuple[Path, dict]]:
    """The ``metrics.json`` files among `files` that exist and are of `method`, read."""
    found = [(p, load_json(p)) for p in files if p.name == "metrics.json" and p.exists()]
    return [(p, m) for p, m in found if _method(m) == method]


def _method(metrics: dict) -> str:
    """'stdp', 'surrogate' or 'ann' (a surrogate trainer's non-spiking twin)."""
    if "method" in metrics:
        return metrics["method"]
    return "surrogate" if metrics.get("config", {}).get("spiking", True) else "ann"


def _rows(cfg: dict, files: list[Path], method: str, row) -> list[dict]:
    """A report row for each metrics file of `method` among `files`.

    Parameters
    ----------
    cfg : dict
        The configuration.
    files : list of Path
        Candidate files (`_metrics` keeps the ``metrics.json`` files of `method`).
    method : str
        'stdp' or 'surrogate'.
    row : callable
        ``row(cfg, path, metrics)``: the row of one file; a field missing from it is a
        `ResultFileError` naming the file (`report_coding.reading`).
    """
    rows = []
    for path, m in _metrics(files, method):
        with report_coding.reading(path):
            rows.append(report_coding.checked_accuracy(path, row(cfg, path, m)))
    return rows


def data_name(cfg: dict) -> str:
    """The configured data set's name (``data.name``; MNIST's by default)."""
    return str(cfg["data"].get("name") or DIEHL_COOK_DATA)


def has_anchors(data: str) -> bool:
    """Whether Diehl & Cook's accuracies are an anchor for the data set named `data`
    (`data_name`): only on MNIST, theirs (a Fashion-MNIST run beside them would read as far
    behind the paper)."""
    return data.lower() == DIEHL_COOK_DATA


def stdp_rows(cfg: dict, files: list[Path]) -> list[dict]:
    """The STDP runs' rows by N, then seed, whatever the order of `files` (``--inputs`` given
    by a shell pattern lists n100 before n20, and seed10 before seed2)."""
    return sorted(_rows(cfg, files, "stdp", _stdp_row), key=lambda r: (r["n"], r["seed"]))


def _stdp_row(cfg: dict, path: Path, m: dict) -> dict:
    d, seed = path.parent.parent, m["seed"]
    t = m["training"]
    spikes = m["spikes_per_inference"]
    return {
        "method": "stdp",
        "network": f"Diehl&Cook N={m['n_exc']}",
        "n": m["n_exc"],
        "seed": seed,
        "backend": m["backend"],
        "accuracy": m["accuracy"],
        "n_test": m["n_test"],
        "anchor_accuracy": DIEHL_COOK.get(m["n_exc"], np.nan) / 100
        if has_anchors(data_name(cfg))
        else np.nan,
        "training_wall_time_s": t["training_wall_time_s"],
        "training_samples_per_s": t["training_samples_per_s"],
        "inference_ms_per_sample": m["inference_ms_per_sample"],
        "spikes_per_inference": sum(spikes.values()),
        "synops_per_inference": m["synops_per_inference"],
        "energy_nj_per_inference": m["energy_per_inference_nj"],
        "time_steps": m["time_steps_per_presentation"] * m["presentations_per_inference"],
        "dt_ms": float(cfgmod.quantity(cfg, "stdp", "protocol", "dt")) * 1e3,
        "encoding": m["encoding"],
        "brian2_accuracy": m["accuracy"],
        "_dir": d,
    }


def surrogate_rows(cfg: dict, files: list[Path]) -> list[dict]:
    return _rows(cfg, files, "surrogate", _surrogate_row)


def _surrogate_row(cfg: dict, path: Path, m: dict) -> dict:
    d, seed = path.parent, m["config"]["seed"]
    run = _surrogate_run(cfg, m["config"], d.parent.name)  # d: results/surrogate/<net>/seed<s>
    brian = d / "brian" / "brian2_export.json"
    b = load_json(brian) if brian.exists() else {}
    spikes = m.get("spikes_per_inference", {})
    c = m.get("config", {})
    n_train = report_coding.samples_per_epoch(c, m.get("history", ())) * c.get("epochs", 1)
    wall = number(m.get("training_wall_seconds"))
    return {
        **report_coding.torch_run_columns("surrogate", run, seed, m),
        "anchor_accuracy": np.nan,
        "training_wall_time_s": wall,
        "training_samples_per_s": n_train / wall,
        "inference_ms_per_sample": m.get("eval_seconds", np.nan) / m["n_samples"] * 1e3,
        "spikes_per_inference": float(sum(spikes.values())) if spikes else np.nan,
        "synops_per_inference": m.get("synops_per_inference", {}).get("total", np.nan),
        "energy_nj_per_inference": m.get("energy", {}).get("snn_nj_per_inference", np.nan),
        "time_steps": m.get("latency", {}).get("time_steps", np.nan),
        "dt_ms": c.get("dt", np.nan) * 1e3,
        "encoding": (
            f"latency code (one spike per pixel, brighter earlier), dt "
            f"{c.get('dt', np.nan) * 1e3:g} ms, {c.get('T')} steps"
            if c.get("encoding") == "latency"
            else f"Bernoulli (Poisson per step) rate code, max "
            f"{c.get('max_rate', np.nan):g} Hz, dt {c.get('dt', np.nan) * 1e3:g} ms, "
            f"{c.get('T')} steps"
        ),
        "brian2_accuracy": b.get("accuracy_brian2", np.nan),
        "brian2_pytorch_same_samples": b.get("accuracy_pytorch", np.nan),
        "brian2_n_samples": b.get("n_samples", np.nan),
        "_dir": d,
    }


def _surrogate_run(cfg: dict, options: dict, net: str) -> dict:
    """The configured surrogate run named `net` (its directory), else the run that directory
    name describes (``fc100_latency_T25``: `report_coding.surrogate_run_name` read backwards),
    else the network `options` trained."""
    for run in cfg["surrogate"]["runs"]:
        if report_coding.surrogate_run_name(run) == net:
            return run
    run = report_coding.run_of_name(net)
    if run is None:
        run = {"arch": options["arch"]}
        if options.get("arch") == "fc":
            run["hidden"] = options.get("hidden")
    return run


def _fmt(x, pct=False, digits=1):
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return f"{100 * x:.{digits}f}%" if pct else f"{x:,.{digits}f}"


def _fmt_ms(x):
    """Milliseconds with two decimals, or two significant digits below 0.1 (an ANN's 0.007
    ms, not 0.01)."""
    if x is None or np.isnan(x):
        return "–"
    return f"{x:,.2f}" if abs(x) >= 0.1 else f"{x:.2g}"


def _seeds_cell(found: pd.Series, configured: list | None) -> str:
    """How many seeds a row averages: ``2 of 3 (seed 1 missing)`` where its seeds are some of
    the `configured` ones, so that a mean over fewer runs than configured says so."""
    have = set(found)
    if not configured or not have < set(configured):
        return str(len(found))
    lost = [str(s) for s in configured if s not in have]
    return f"{len(found)} of {len(configured)} (seed{'s' if len(lost) > 1 else ''} " + (
        f"{', '.join(lost)} missing)"
    )


def _images(counts: pd.Series) -> str:
    """``on 500 images``: the test images behind a cell (``200 / 500`` where its seeds differ)."""
    return "on " + " / ".join(f"{int(n):,}" for n in sorted(set(counts.dropna()))) + " images"


def _image_counts(g: pd.DataFrame) -> tuple[str, str]:
    """What a row's test-accuracy and Brian2 cells add to say on how many test images each is,
    where the Brian2 run saw other images than the test (a surrogate export on ``export.n_test``
    of them): nothing where they are the same (or a table without ``n_test``)."""
    if "n_test" not in g or "brian2_n_samples" not in g or g["brian2_n_samples"].isna().all():
        return "", ""
    tested, brian = g["n_test"].dropna(), g["brian2_n_samples"].dropna()
    if set(tested) == set(brian):
        return "", ""
    return f" ({_images(tested)})", _images(brian)


def _brian2_cell(values: pd.Series, images: str = "") -> str:
    """The mean Brian2 accuracy of a row's seeds, saying over how many where some seeds have
    none (a surrogate run without its ``brian/brian2_export.json``): the mean is theirs alone;
    `images`: on how many test images (`_image_counts`), where the row's test accuracy is on
    others."""
    text = _fmt(values.mean(), pct=True, digits=2)
    have = int(values.notna().sum())
    notes = [images] if images else []
    if 0 < have < len(values):
        notes.append(f"{have} of {len(values)} seeds")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def summary_table(df: pd.DataFrame, seeds: list | None = None) -> str:
    """Per (method, network): the mean over its seeds of every column, and the sample standard
    deviation of the accuracy where there are several seeds (`results_notes` says so); a row
    with fewer than the configured `seeds` names those missing."""
    lines = [
        "| method | network | seeds | test accuracy (mean ± sd) | Diehl & Cook 2015 | "
        "Brian2 accuracy | training time (s) | train samples/s | inference ms/sample | "
        "spikes/inference | SynOps/inference | energy/inference (nJ) | time steps | dt (ms) |",
        "|" + "---|" * 14,
    ]
    for (method, network), g in df.groupby(["method", "network"], sort=False):
        acc = g["accuracy"]
        acc_txt = _fmt(acc.mean(), pct=True, digits=2)
        if len(g) > 1:
            acc_txt += f" ± {100 * acc.std(ddof=1):.2f}"
        tested, brian_images = _image_counts(g)
        lines.append(
            f"| {method} | {network} | {_seeds_cell(g['seed'], seeds)} | {acc_txt}{tested} | "
            f"{_fmt(g['anchor_accuracy'].mean(), pct=True)} | "
            f"{_brian2_cell(g['brian2_accuracy'], brian_images)} | "
            f"{_fmt(g['training_wall_time_s'].mean())} | "
            f"{_fmt(g['training_samples_per_s'].mean())} | "
            f"{_fmt_ms(g['inference_ms_per_sample'].mean())} | "
            f"{_fmt(g['spikes_per_inference'].mean(), digits=0)} | "
            f"{_fmt(g['synops_per_inference'].mean(), digits=0)} | "
            f"{_fmt(g['energy_nj_per_inference'].mean(), digits=1)} | "
            f"{_fmt(g['time_steps'].mean(), digits=0)} | {_fmt(g['dt_ms'].mean(), digits=2)} |"
        )
    return "\n".join(lines)


def _missing_note(missing: list[Path]) -> list[str]:
    """The lines under the results table that say it lacks configured runs, and which."""
    if not missing:
        return []
    runs = f"{len(missing)} configured run" + ("s have" if len(missing) > 1 else " has")
    return [
        f"**Incomplete: {runs} no metrics.json** (not finished, or failed) and no part in "
        "the table; a row averages the seeds it found ('2 of 3'), and a network with none "
        f"has no row: {', '.join(f'`{d}`' for d in missing)}.",
        "",
    ]


def results_notes(rest_ms: float, data: str = DIEHL_COOK_DATA) -> list[str]:
    """What the results table's figures are and which file and field each is read from (a
    reader checks them there), in the units the table gives; `data` is the data set's name
    (``data.name``)."""
    anchors = ", ".join(f"{e} for N={n}" for n, e in DIEHL_COOK_EPOCHS.items())
    if has_anchors(data):
        paper = (
            f"- Diehl & Cook 2015: for an STDP row, the paper's MNIST test accuracy for that N "
            f"after its own passes over the training set ({anchors}), whatever the passes here; "
            "'–' for an N the paper gives no figure for, and for the surrogate and ANN rows "
            "(the paper trains no such network)."
        )
    else:
        paper = (
            f"- Diehl & Cook 2015: '–': the paper's accuracies are on MNIST, and this data set "
            f"is {data} (data.name)."
        )
    return [
        "Each row: the mean over its seeds (`seeds`) and, where there are several, ± the "
        "sample standard deviation of the accuracy; each seed's row is in `metrics.csv`. "
        "Accuracy is on "
        "the test set (never used for training or label assignment); STDP labels come from "
        "responses to training samples.",
        "",
        "Where each number comes from (per run: STDP `stdp/<backend>/n<N>/seed<S>/`, surrogate "
        "`surrogate/<net>/seed<S>/`, ANN twin `ann/<net>/seed<S>/`; per inference = per test "
        "image):",
        "",
        "- test accuracy: `accuracy` of the run's `metrics.json` (STDP: `test/metrics.json`), "
        "the share of its `n_test` / `n_samples` test images classified right (its "
        "`confusion` sums to that count).",
        paper,
        "- Brian2 accuracy: STDP runs in Brian2; a surrogate network's is `accuracy_brian2` of "
        "`brian/brian2_export.json` (on its `n_samples` test images: where those are not as "
        "many as the row's test accuracy's, both cells say on how many; where some seeds have "
        "none, the mean of the others, saying over how many).",
        "- training time (s): the training loop's wall time, without compiling the network "
        "or loading the data "
        "(STDP: `training_wall_time_s` of `train_metrics.json`, the simulated chunks summed; "
        "surrogate and ANN: `training_wall_seconds`, the epochs summed); whole jobs' times are "
        "in `benchmarks/`.",
        "- train samples/s: training images times epochs over that time.",
        "- inference ms/sample: the test pass's wall time over its test images (STDP: "
        "`inference_ms_per_sample`, the compiled simulation of the test responses; PyTorch: "
        "`eval_seconds`, batched).",
        f"- spikes/inference: input spikes plus every layer's (`spikes_per_inference`); STDP's "
        f"include repeated presentations and the {rest_ms:g} ms rest.",
        "- SynOps/inference: accumulates, one per spike per outgoing synapse "
        "(`synops_per_inference`; STDP: input x N + excitatory x 1 + inhibitory x (N - 1)); "
        "none for an ANN ('–'), whose multiply-accumulates are in the energy section.",
        f"- energy/inference (nJ): the synaptic arithmetic alone: SynOps x {energy.FP32.ac:g} pJ "
        f"(accumulate) for a spiking network, MACs x {energy.FP32.mac:g} pJ for an ANN, "
        "45 nm (Horowitz 2014); neuron updates and weight reads are added in the energy "
        "section.",
        "- time steps: per test image (STDP: steps per presentation, the rest included, times "
        "the mean presentations per image).",
        "",
    ]


def _checked_model(root: Path) -> str:
    """The neuron file of the neuron check (`lif_check.json`), as the figures' captions name it."""
    try:
        model = json.loads((root / "neuron" / "lif_check.json").read_text()).get("model")
    except (OSError, ValueError, AttributeError):
        model = None
    return model if isinstance(model, str) and model else "the checked neuron file"


def make_figures(
    df: pd.DataFrame, root: Path, figdir: Path, anchors: bool = True
) -> dict[str, str]:
    """The report's figures, written to `figdir`: caption -> path relative to `root`.
    `anchors`: draw Diehl & Cook's MNIST accuracies against N (`has_anchors`)."""
    figs: dict[str, str] = {}
    figdir.mkdir(parents=True, exist_ok=True)

    def copy(src: Path, name: str, caption: str):
        if src.exists():
            shutil.copyfile(src, figdir / name)
            figs[caption] = f"figures/{name}"

    model = _checked_model(root)  # (the neuron check's file, which need not be lif.yaml)
    copy(
        root / "neuron" / "membrane.png",
        "membrane.png",
        f"Membrane potential of one neuron of {model} (threshold dashed, spikes, reset, "
        "refractory)",
    )
    copy(root / "neuron" / "rates.png", "lif_rates.png", f"f-I curve of {model} against theory")
    # One run's figures per network: its first seed's (the caption names it), each captioned
    # with its own method and seed so that no two runs' figures share a caption (and a link).
    firsts = df[df["seed"] == df.groupby(["method", "network"])["seed"].transform("min")]
    for _, row in firsts.iterrows():
        tag = f"{row['method']}_{row['network'].replace(' ', '_').replace('&', '')}_s{row['seed']}"
        run = f"{row['network']}, seed {row['seed']}"
        d = row["_dir"]
        if row["method"] == "stdp":
            copy(
                d / "receptive_fields.png", f"{tag}_fields.png", f"Learned receptive fields, {run}"
            )
            copy(
                d / "test" / "confusion.png",
                f"{tag}_confusion.png",
                f"Confusion matrix on the test set, STDP {run}",
            )
            copy(
                d / "raster.png",
                f"{tag}_raster.png",
                f"Input and excitatory spike rasters for one test sample, {run}",
            )
        else:
            copy(
                d / "confusion.png",
                f"{tag}_confusion.png",
                f"Confusion matrix on the test set, {row['method']} {run}",
            )

    # Accuracy over training samples, both methods (where each has a curve).
    series = {}
    for _, row in firsts.iterrows():
        d = row["_dir"]
        if row["method"] == "stdp":
            trace = _stdp_trace(d)
            if len(trace):
                series[f"STDP {row['network']}, seed {row['seed']} (running, training stream)"] = (
                    trace[:, 0],
                    trace[:, 1],
                )
        elif row["method"] == "surrogate":
            m = load_json(d / "metrics.json")
            hist = m.get("history", [])
            per_epoch = report_coding.samples_per_epoch(m.get("config", {}), hist)
            x = [h["epoch"] * per_epoch for h in hist]
            y = [h["train_accuracy"] for h in hist]
            if x:
                series[f"surrogate {row['network']}, seed {row['seed']} (training batches)"] = (
                    x,
                    y,
                )
    if series:
        plots.curves(
            series,
            figdir / "accuracy_over_training.png",
            "training samples seen",
            "training accuracy (not the test set)",
            "Accuracy on the training data over training",
            logx=True,
        )
        figs[
            f"Training accuracy over training samples, {_methods_drawn(series)} (not the test set)"
        ] = "figures/accuracy_over_training.png"

    # Accuracy against N.
    agg = df.groupby(["method", "n"], sort=True)["accuracy"].mean().reset_index()
    series = {}
    for method, g in agg.groupby("method"):
        g = g[g["n"] > 0]
        if len(g):
            series[method] = (g["n"].to_numpy(), g["accuracy"].to_numpy())
    if series:
        caption = "Test accuracy against N, mean over seeds"
        if anchors:
            ns = sorted(DIEHL_COOK)
            series["Diehl & Cook 2015"] = (ns, [DIEHL_COOK[n] / 100 for n in ns])
            caption += " (Diehl & Cook 2015: their passes per N)"
        plots.curves(
            series,
            figdir / "accuracy_vs_n.png",
            "neurons (excitatory / hidden)",
            "test accuracy (mean over seeds)",
            "Accuracy against network size",
            logx=True,
        )
        figs[caption] = "figures/accuracy_vs_n.png"

    # Surrogate network: PyTorch vs Brian2 accuracy.
    sur = df[(df["method"] == "surrogate") & df["brian2_accuracy"].notna()]
    if len(sur):
        import matplotlib.pyplot as plt

        # a bar pair per run (network and seed): wide enough for each's label
        fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(sur) + 1), 3.5))
        x = np.arange(len(sur))
        ax.bar(x - 0.2, sur["brian2_pytorch_same_samples"], 0.4, label="PyTorch")
        ax.bar(x + 0.2, sur["brian2_accuracy"], 0.4, label="Brian2 (same neuron file)")
        ax.set_xticks(
            x,
            [
                f"{textwrap.fill(n, 14)}\nseed {s}"
                for n, s in zip(sur["network"], sur["seed"], strict=True)
            ],
        )
        lo = min(sur["brian2_pytorch_same_samples"].min(), sur["brian2_accuracy"].min())
        ax.set_ylim(max(0, lo - 0.05), 1)
        ax.set_ylabel("test accuracy")
        ax.set_title(
            f"Surrogate-trained network in both simulators "
            f"({int(sur['brian2_n_samples'].iloc[0])} test samples)"
        )
        ax.legend()
        plots._save(fig, figdir / "torch_vs_brian2.png")
        figs["Surrogate network: PyTorch accuracy beside its Brian2 accuracy"] = (
            "figures/torch_vs_brian2.png"
        )
    return figs


def _methods_drawn(series: dict) -> str:
    """'both methods', or the one whose curves the training-accuracy figure has: an STDP run
    has none where it trained on too few samples for a running estimate (the smoke run's)."""
    drawn = {label.split(" ", 1)[0] for label in series}
    if drawn == {"STDP", "surrogate"}:
        return "both methods"
    missing = "STDP" if "surrogate" in drawn else "surrogate"
    return f"{drawn.pop()} only (no {missing} run has a training-accuracy curve)"


def _stdp_trace(d: Path) -> np.ndarray:
    """(samples seen, running accuracy) over an STDP run's training stream: from its
    train_metrics.json, else from train_records.npz (where older runs kept it)."""
    metrics = d / "train_metrics.json"
    if metrics.exists() and "running_accuracy" in (m := load_json(metrics)):
        return np.asarray(m["running_accuracy"], dtype=float).reshape(-1, 2)
    if (d / "train_records.npz").exists():
        return np.load(d / "train_records.npz")["trace"]
    return np.zeros((0, 2))


def runs_provenance(df: pd.DataFrame) -> list[str]:
    """Where and when the reported runs were computed, from their own metrics files (the
    report may be rendered again later, on another machine), one line per machine."""
    seen: dict[str, list[dict]] = {}
    for d in df["_dir"]:
        for name in ("train_metrics.json", "metrics.json"):  # where it was trained, if known
            if (Path(d) / name).exists():
                info = load_json(Path(d) / name).get("provenance", {})
                if "machine" in info:
                    seen.setdefault(info["machine"], []).append(info)
                break
    lines = []
    for machine, infos in seen.items():
        dates = [i.get("date", "?") for i in infos]
        when = min(dates) if min(dates) == max(dates) else f"{min(dates)} to {max(dates)}"
        runs = f"{len(dates)} run" + ("s" if len(dates) > 1 else "")
        # (metrics written by older code name no commit)
        code = list(dict.fromkeys(i["commit"] for i in infos if i.get("commit")))
        code_says = f", code of {', '.join(code)}" if code else ""
        lines.append(f"- computed on {machine}: {runs}, {when}{code_says}")
    return lines


def _isi(seconds: float | None) -> str:
    """lif_check.json's ``min_isi_s``: None where no current level fired twice."""
    return "none (no level fired twice)" if seconds is None else f"{1e3 * seconds:.3f} ms"


def _refractory(r: dict, t_ref_s: float | None) -> str:
    """A backend's interspike-interval check: its shortest interval against the refractory
    period (``refractory_respected``), t_ref shown where the analytic check derived it."""
    isi = f"min ISI {_isi(r.get('min_isi_s'))}"
    if "refractory_respected" not in r:  # (a check written without it)
        return isi
    against = "refractory period" + ("" if t_ref_s is None else f" t_ref {1e3 * t_ref_s:.3f} ms")
    verdict = "PASS" if r["refractory_respected"] else "FAIL (an interval is shorter)"
    return f"{isi} against the {against}: {verdict}"


def _simulated(nc: dict) -> list[str]:
    """What the neuron check simulated, from lif_check.json (the parts it holds)."""
    backends = list(nc.get("backends", {}))
    currents = next(
        (r["current_nA"] for r in nc.get("backends", {}).values() if r.get("current_nA")), None
    )
    if not backends or currents is None or "dt_s" not in nc or "duration_s" not in nc:
        return []
    theory = nc.get("theory") or {}
    rheobase = f" (rheobase {1e9 * theory['rheobase_A']:.4g} nA)" if "rheobase_A" in theory else ""
    return [
        f"Simulated: one neuron of `{nc['model']}` per constant input current, "
        f"{len(currents)} currents from {min(currents):.4g} to {max(currents):.4g} nA{rheobase}, "
        f"{nc['duration_s']:g} s each at dt {1e3 * nc['dt_s']:g} ms, on "
        f"{', '.join(f'`{b}`' for b in backends)}; the rate is measured from the interspike "
        "intervals. "
        + (
            "Checked: the rate against the closed-form f-I curve of the file (within "
            f"{100 * RATE_TOLERANCE:g} %), no spike below rheobase, and no interspike interval "
            "shorter than the refractory period."
            if nc.get("check") != "agreement"
            else "Checked: no interspike interval shorter than the refractory period, and "
            "(no closed form, below) the same spikes on every simulator."
        ),
        "",
    ]


def neuron_section(nc: dict) -> list[str]:
    """The report's neuron-verification section, from lif_check.json (`nc`): what was
    simulated, then each backend's checks, the shortest interspike interval against t_ref."""
    lines = ["## Neuron verification", "", *_simulated(nc)]
    if nc.get("check") == "agreement":
        lines += [
            f"No closed-form f-I curve for `{nc['model']}` ({nc['no_closed_form']}): checked "
            "instead that the simulators agree spike for spike on the same constant currents.",
            "",
        ]
    t_ref_s = (nc.get("theory") or {}).get("t_ref_s")
    for name, r in nc["backends"].items():
        verdict = "PASS" if r["passed"] else "FAIL"
        if "max_relative_rate_error" not in r:
            same = [k for k in r if k.startswith("same_spikes_as_")]
            lines.append(
                f"- `{name}`: {verdict} -- {r['levels_firing']} current levels firing, "
                f"{same[0].replace('_', ' ')}: {r[same[0]]}, {_refractory(r, t_ref_s)}"
            )
            continue
        lines.append(
            f"- `{name}`: {verdict} -- {r['levels_above_rheobase']} current levels above "
            f"rheobase, max relative rate error {r['max_relative_rate_error']:.2e} "
            f"(limit {RATE_TOLERANCE:g}), "
            f"silent below rheobase: {r['silent_below_rheobase']}, {_refractory(r, t_ref_s)}"
        )
    torch = nc.get("pytorch")
    if torch:
        lines.append(
            f"- PyTorch (compiled from the same file) against `{torch['against']}`: "
            + (
                f"identical spikes: {torch['identical']} "
                f"({tasks.counted(torch['spikes'], 'spike')})"
                if torch["compared"]
                else f"not compared ({torch['reason']})"
            )
        )
    return [*lines, ""]


def _has_sweep_runs(cfg: dict, root: Path) -> bool:
    return bool(cfg.get("sweeps")) and not report_sweeps.rows(cfg, root).empty


def _nothing_to_report(cfg: dict, root: Path, inputs: list[Path] | None) -> str:
    """Why a report of `root` would be empty: what it looked for and found missing."""
    if inputs is not None:
        named = "no --inputs" if not inputs else "none of the --inputs"
        looked = f"{named} is a finished run's metrics.json"
    else:
        expected = expected_inputs(cfg, root)
        looked = (
            f"none of the configured runs' metrics.json ({len(expected)} expected, e.g. "
            f"{expected[0]})"
        )
    return (
        f"nothing to report: {looked}, no {root / 'neuron' / 'lif_check.json'} and no finished "
        "sweep run (a wrong --out? run the pipeline first)"
    )


def main(argv=None) -> int:
    p = tasks.parser(
        __doc__.splitlines()[0],
        out_help="results directory: the report is written there (created if absent); one "
        "holding no run, no neuron check and no sweep run to report is refused",
    )
    p.add_argument(
        "--inputs",
        nargs="*",
        type=Path,
        help="the runs' metrics.json files (and lif_check.json) to report on "
        "(default: those of the configured runs under --out)",
    )
    args = p.parse_args(argv)
    cfg = cfgmod.load(args.config)
    root = args.out
    inputs = expected_inputs(cfg, root) if args.inputs is None else args.inputs
    inputs = comparison_inputs(inputs, root)
    rows = stdp_rows(cfg, inputs) + surrogate_rows(cfg, inputs) + report_energy.ann_rows(cfg, root)
    neuron = root / "neuron" / "lif_check.json"
    if not rows and not neuron.exists() and not _has_sweep_runs(cfg, root):
        raise ResultFileError(root, _nothing_to_report(cfg, root, args.inputs))
    args.out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=COLUMNS + ["_dir"])
    write_csv(root / "metrics.csv", df[COLUMNS], index=False)
    figs = make_figures(df, root, root / "figures", anchors=has_anchors(data_name(cfg)))
    rest_ms = float(cfgmod.quantity(cfg, "stdp", "protocol", "rest")) * 1e3
    missing = missing_runs(cfg, root)
    lines = [
        "# bioclf comparison report",
        "",
        "Unsupervised STDP (Diehl & Cook 2015 network, Brian2) against a surrogate-gradient "
        "spiking network (PyTorch), both built from the neuron files in `equations/`.",
        "",
        f"Data set: `{data_name(cfg)}` (data.name), read from `{cfg['data']['root']}`.",
        "",
        "## Results",
        "",
        summary_table(df, cfg["seeds"]) if len(df) else "_No finished runs._",
        "",
        *_missing_note(missing),
        *results_notes(rest_ms, data_name(cfg)),
    ]
    if neuron.exists():
        lines += neuron_section(load_json(neuron))
    lines += report_energy.section(df, root, cfg)
    lines += report_sweeps.section(cfg, root)
    # rate against latency coding, when the configuration has latency-coded runs
    lines += report_coding.section(root, [Path(d) for d in df["_dir"]])
    lines += ["## Figures", ""]
    for caption, rel in figs.items():
        lines += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    expected = [f"stdp N={s['n']}" for s in cfg["stdp"]["sizes"]] + [
        f"surrogate {report_coding.surrogate_run_name(r)}" for r in cfg["surrogate"]["runs"]
    ]
    lines += [
        "## Provenance",
        "",
        f"- configuration: `{args.config}` (below); seeds: {cfg['seeds']}",
        f"- runs expected: {', '.join(expected)}; rows found: {len(df)}",
    ]
    if missing:
        lines.append(f"- runs missing (no metrics.json): {', '.join(map(str, missing))}")
    lines += runs_provenance(df)
    info = tasks.provenance()
    rendered = ", ".join(f"{k} {v}" for k, v in info.items() if k not in ("date", "machine"))
    lines.append(f"- report rendered {info['date']} on {info['machine']} ({rendered})")
    lines += ["", "```yaml", yaml.safe_dump(cfg, sort_keys=False).strip(), "```", ""]
    out = root / "report.md"
    write_text(out, "\n".join(lines))
    print(f"wrote {out} and {root / 'metrics.csv'} ({tasks.counted(len(df), 'row')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
