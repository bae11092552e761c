"""Report section: rate against latency input coding (surrogate FC networks and STDP).

Groups fully connected surrogate runs by input code and window T and sets the STDP runs
beside them: the rate-coded pipeline runs (``results/stdp/*/n*/seed*``) and the latency-coded
single-task runs (``results/coding/stdp_latency``). A configuration's report compares the runs
it configures (table ``coding.csv``, figure ``figures/coding_vs_T.png``); ``python -m
bioclf.report_coding`` compares every finished run under ``results/`` (whatever configuration
produced it) and writes ``coding/coding.md``, ``coding/coding.csv`` and
``coding/coding_vs_T.png``. The figure is test accuracy and spikes per inference against T, one
line per code. Nothing is written unless a latency-coded run exists.

Usage::

    python -m bioclf.report_coding --out results     # also writes results/coding/coding.md
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from bioclf import energy, plots, tasks
from bioclf.config import surrogate_run_name, twin_runs  # noqa: F401 (named here by the reports)
from bioclf.errors import ResultFileError
from bioclf.io import load_json, write_csv, write_text

COLUMNS = [
    "method",
    "network",
    "encoding",
    "T",
    "window_ms",
    "accuracy",
    "lr",
    "presentations",
    "input_spikes",
    "hidden_spikes",
    "output_spikes",
    "spikes_per_inference",
    "synops_per_inference",
    "energy_nj_per_inference",
    "dir",
]


def run_of_name(name: str) -> dict | None:
    """The run a directory name describes (`surrogate_run_name` read backwards): its ``arch``,
    ``hidden``, ``encoding`` and ``time_steps``, as far as the name gives them; None for a name
    of another form."""
    m = re.fullmatch(r"(fc|conv)(\d*)(?:_(rate|latency))?(?:_T(\d+))?", name)
    if m is None:
        return None
    run = {"arch": m[1]}
    for key, value in (("hidden", m[2]), ("encoding", m[3]), ("time_steps", m[4])):
        if value:
            run[key] = value if key == "encoding" else int(value)
    return run


def surrogate_label(run: dict) -> str:
    """A surrogate run's network as the report names it: ``FC 784-100-10``, with its input code
    and window where the run sets them (``FC 784-100-10, latency code, T=25``), so that runs of
    one network with other inputs are not taken for seeds of one run."""
    n = run.get("hidden", 0)
    label = run["arch"].upper() + (f" 784-{n}-10" if n else "")
    if "encoding" in run:
        label += f", {run['encoding']} code"
    if "time_steps" in run:
        label += f", T={run['time_steps']}"
    return label


def torch_backend(metrics: dict) -> str:
    """``torch-cpu`` or ``torch-cuda``: where a surrogate run or ANN twin was trained (its
    ``training_device``; runs that predate it trained on the CPU)."""
    device = metrics.get("training_device") or metrics.get("device") or "cpu"
    return "torch-cuda" if str(device).startswith("cuda") else "torch-cpu"


def torch_run_columns(method: str, run: dict, seed: int, metrics: dict) -> dict:
    """The columns of ``metrics.csv`` that name a PyTorch run of `run` and `seed` (a surrogate
    network or an ANN twin, `method`) and give its test accuracy on how many test images."""
    return {
        "method": method,
        "network": surrogate_label(run),
        "n": run.get("hidden", 0),
        "seed": seed,
        "backend": torch_backend(metrics),
        "accuracy": metrics["accuracy"],
        "n_test": metrics["n_samples"],
    }


@contextmanager
def reading(path: Path):
    """A field missing from a metrics file: a `ResultFileError` naming the file and field."""
    try:
        yield
    except KeyError as exc:
        raise ResultFileError(
            path,
            f"has no field {exc.args[0]!r} (written by an older version? run the task that "
            "writes it again)",
        ) from None


def checked_accuracy(path: Path, row: dict) -> dict:
    """`row`, whose accuracy (read from `path`) is a share in [0, 1]; else a `ResultFileError`
    naming the file and field. A NaN or null accuracy (a run that failed, or a file edited by
    hand) would otherwise drop out of its network's mean while the row still counted a seed."""
    value = row["accuracy"]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
    if not ok:
        raise ResultFileError(
            path,
            f"is {json.dumps(value)}, not a share in [0, 1] (a failed or unfinished run? run "
            "its task again, or delete the file to report it missing)",
            "accuracy",
        )
    return row


def samples_per_epoch(config: dict, history: list | tuple = ()) -> int:
    """Training images per epoch of a surrogate run: those its history counted (images per
    second times seconds: any data set), else from its options (60,000 MNIST images less
    those held out for validation, or the configured subset of them)."""
    for h in history:
        if h.get("samples_per_second") and h.get("seconds"):
            return round(h["samples_per_second"] * h["seconds"])
    pool = 60000 - (config.get("validation") or 0)
    return min(config.get("train_subset") or pool, pool)


def _kept(paths: list[Path], run_of, runs: list[Path] | None) -> list[Path]:
    """`paths` whose run directory (`run_of`) is among `runs` (all of them for None)."""
    if runs is None:
        return paths
    keep = {Path(r).resolve() for r in runs}
    return [p for p in paths if run_of(p).resolve() in keep]


def surrogate_rows(root: Path, runs: list[Path] | None = None) -> list[dict]:
    rows = []
    paths = sorted((root / "surrogate").glob("fc*/seed*/metrics.json"))
    for path in _kept(paths, lambda p: p.parent, runs):
        m = load_json(path)
        c = m.get("config", {})
        spikes = m.get("spikes_per_inference", {})
        hidden = c.get("hidden")
        rows.append(
            {
                "method": "surrogate",
                "network": f"FC 784-{hidden}-10 seed {c.get('seed')}",
                "encoding": c.get("encoding", "rate"),
                "T": int(c["T"]),
                "window_ms": c["T"] * c["dt"] * 1e3,
                "accuracy": m["accuracy"],
                "lr": c.get("lr"),
                "presentations": 1.0,
                "input_spikes": spikes.get("input"),
                "hidden_spikes": spikes.get("hidden"),
                "output_spikes": spikes.get("output"),
                "spikes_per_inference": sum(spikes.values()),
                "synops_per_inference": m.get("synops_per_inference", {}).get("total"),
                "energy_nj_per_inference": m.get("energy", {}).get("snn_nj_per_inference"),
                "dir": str(path.parent.relative_to(root)),
            }
        )
    return rows


def stdp_rows(root: Path, runs: list[Path] | None = None) -> list[dict]:
    paths = sorted((root / "stdp").glob("*/n*/seed*/test/metrics.json"))
    paths += sorted((root / "coding" / "stdp_latency").glob("n*/seed*/test/metrics.json"))
    rows = []
    for path in _kept(paths, lambda p: p.parent.parent, runs):
        m = load_json(path)
        spikes = m.get("spikes_per_inference", {})
        rows.append(
            {
                "method": "stdp",
                "network": f"D&C N={m['n_exc']} seed {m['seed']} ({m['backend']}), "
                f"{m.get('training', {}).get('training_samples', '?')} training samples",
                "encoding": "latency" if m.get("encoding", "").startswith("latency") else "rate",
                "T": m.get("latency_time_steps"),
                "window_ms": None,
                "accuracy": m["accuracy"],
                "lr": None,  # unsupervised: the STDP rule's rates are in the synapse file
                "presentations": m.get("presentations_per_inference"),
                "input_spikes": spikes.get("input"),
                "hidden_spikes": spikes.get("exc"),  # excitatory layer
                "output_spikes": spikes.get("inh"),  # inhibitory layer
                "spikes_per_inference": sum(spikes.values()),
                "synops_per_inference": m.get("synops_per_inference"),
                "energy_nj_per_inference": m.get("energy_per_inference_nj"),
                "dir": str(path.parent.parent.relative_to(root)),
            }
        )
    return rows


def _window_note(sur: pd.DataFrame) -> str:
    """How the surrogate runs' window relates to T: one dt for all, or not."""
    dts = {round(w / t, 9) for w, t in zip(sur["window_ms"], sur["T"], strict=True) if w and t}
    if len(dts) == 1:
        return f"Surrogate runs keep dt = {dts.pop():g} ms, so the window grows with T. "
    return "The surrogate runs differ in dt: compare windows (T * dt), not T. " if dts else ""


def figure(df: pd.DataFrame, path: Path) -> None:
    """Accuracy and spikes per inference against T, one line per input code (the runs' dt in
    the axis label where they share one)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for encoding, marker, color in (("rate", "o", "C0"), ("latency", "s", "C1")):
        d = df[df["encoding"] == encoding].sort_values("T")
        if not len(d):
            continue
        style = {"marker": marker, "color": color}
        axes[0].plot(d["T"], 100 * d["accuracy"], label=encoding, **style)
        axes[1].plot(d["T"], d["spikes_per_inference"], label=f"{encoding}, all", **style)
        axes[1].plot(d["T"], d["input_spikes"], ls="--", label=f"{encoding}, input", **style)
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_ylabel("spikes per inference")
    axes[1].set_yscale("log")
    dts = {round(w / t, 9) for w, t in zip(df["window_ms"], df["T"], strict=True) if w and t}
    xlabel = "time steps T" + (f" (dt = {dts.pop():g} ms)" if len(dts) == 1 else "")
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=8)
    fig.suptitle("Surrogate FC network: rate against latency input coding")
    fig.tight_layout()
    plots._save(fig, path)


def _table(df: pd.DataFrame) -> list[str]:
    lines = [
        "| method | network | code | T | lr | accuracy | spikes/inference (input / hidden or exc / "
        "output or inh) | SynOps | energy (nJ) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        lr = "—" if pd.isna(r.lr) else f"{r.lr:g}"
        lines.append(
            f"| {r.method} | {r.network} | {r.encoding} | {r.T} | {lr} | {100 * r.accuracy:.2f}% | "
            f"{r.spikes_per_inference:.0f} ({r.input_spikes:.0f} / {r.hidden_spikes:.1f} / "
            f"{r.output_spikes:.1f}) | {r.synops_per_inference:.0f} | "
            f"{r.energy_nj_per_inference:.1f} |"
        )
    return lines


def _against_rate(rate: pd.DataFrame) -> str:
    """The rate-coded STDP runs a latency-coded one is set against: the one run, named (its
    training budget may differ), or the mean of several with each (never the best alone)."""
    if not len(rate):
        return ""
    if len(rate) == 1:
        r = rate.iloc[0]
        return f", against {100 * r['accuracy']:.2f}% with the rate code ({r['network']})"
    each = "; ".join(f"{r.network}: {100 * r.accuracy:.2f}%" for r in rate.itertuples())
    return (
        f", against {100 * rate['accuracy'].mean():.2f}% with the rate code (mean of "
        f"{len(rate)} runs: {each})"
    )


def stdp_latency_lines(df: pd.DataFrame) -> list[str]:
    """What the latency-coded STDP network gives, beside the rate-coded one, and why it learns
    poorly when it does (more than 10 points below the rate code)."""
    stdp = df[df["method"] == "stdp"]
    rate, latency = stdp[stdp["encoding"] == "rate"], stdp[stdp["encoding"] == "latency"]
    lines = []
    for r in latency.itertuples():
        per_presentation = r.hidden_spikes / r.presentations if r.presentations else float("nan")
        text = (
            f"STDP with the latency code ({r.network}): **{100 * r.accuracy:.2f}%**"
            + _against_rate(rate)
            + f"; {r.presentations:.1f} presentations per test image (a presentation with fewer "
            f"than the minimum of excitatory spikes is shown again), {per_presentation:.2f} "
            "excitatory spikes per presentation."
        )
        if len(rate) and r.accuracy < rate["accuracy"].mean() - 0.10:
            text += (
                " It learns poorly. A latency-coded image is one volley of at most one spike per "
                "pixel, which drives about one excitatory spike per presentation. The rule's "
                "potentiation at a postsynaptic spike is scaled by the slow postsynaptic trace "
                "*before* that spike (`xpost2`, the triplet term), which stays near 0 unless "
                "the neuron fired within about its time constant `tau_post2`, so the weights "
                "of the pixels that fire are almost only depressed (and the rest renormalised): "
                "the receptive fields show faint digit-shaped holes in the random initial "
                "weights, not digit prototypes."
            )
        lines += [text, ""]
    return lines


def section(root: Path, runs: list[Path] | None = None) -> list[str]:
    """Markdown lines of the report section (empty without latency-coded runs); writes the
    table and figure (under ``root/coding`` for every run; beside the report for `runs`).

    `runs`: the run directories to compare (those of a configuration, for its report); None
    for every run under `root`, whatever configuration produced it (``coding/coding.md``).
    """
    root = Path(root)
    rows = surrogate_rows(root, runs) + stdp_rows(root, runs)
    df = pd.DataFrame(rows, columns=COLUMNS)
    if not (df["encoding"] == "latency").any():
        return []
    # a configuration's report: its own table and figure beside metrics.csv and figures/
    table, fig = ("coding.csv", "figures") if runs is not None else ("coding/coding.csv", "coding")
    (root / fig).mkdir(parents=True, exist_ok=True)
    (root / table).parent.mkdir(parents=True, exist_ok=True)
    df = df.sort_values(["method", "encoding", "T"], ascending=[False, False, True])
    write_csv(root / table, df, index=False)
    sur = df[df["method"] == "surrogate"]
    lines = ["## Rate against latency input coding", ""] + _table(df) + [""]
    lines += [
        "Latency code: one spike per lit pixel per presentation, at step floor((1 - x)(T - 1)) "
        f"(brighter earlier). {_window_note(sur)}"
        f"Energy: {energy.FP32.ac:g} pJ per synaptic operation. Table: `{table}`.",
        "",
    ]
    lines += stdp_latency_lines(df)
    if len(sur):
        figure(sur, root / fig / "coding_vs_T.png")
        lines += [f"![rate against latency coding]({fig}/coding_vs_T.png)", ""]
    return lines


def main(argv=None) -> int:
    p = tasks.parser(
        __doc__.splitlines()[0],
        out_help="results directory whose runs are compared (coding/ is written there)",
        config=False,
    )
    args = p.parse_args(argv)
    lines = section(args.out)
    if not lines:  # a wrong --out (a typo, a clone without the runs): not a report written
        raise ResultFileError(
            args.out,
            "no latency-coded run to compare under it (surrogate/fc*/seed*/metrics.json with "
            "encoding latency, or coding/stdp_latency/n*/seed*/test/metrics.json; a wrong --out? "
            "run the pipeline with config/coding.yaml first)",
        )
    text = "\n".join(lines).replace("(coding/", "(")  # links relative to coding/
    write_text(args.out / "coding" / "coding.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(tasks.run(main))
