"""The report's parameter-sensitivity section: accuracy and spikes against each swept value.

One figure per sweep (file and parameter of the configuration's ``sweeps``), two panels: test
accuracy and spikes per inference against the value, one line per method and network, the
value the configured model has (the baseline) marked. Only points whose runs finished are
plotted; the section is absent when there are none.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bioclf import plots, report_coding, sweeps  # noqa: E402
from bioclf.io import load_json, write_csv  # noqa: E402

COLUMNS = ["file", "parameter", "value", "x", "unit", "method", "network", "seed"]
COLUMNS += ["accuracy", "n_test", "spikes_per_inference", "network_spikes_per_inference"]
COLUMNS += ["baseline"]


def _unit(values) -> tuple[object, str]:
    """A display unit for a list of quantities (that of the largest), and its name."""
    big = max(values, key=lambda q: abs(float(q)))
    if big.dim.is_dimensionless or float(big) == 0:
        return 1.0, "" if big.dim.is_dimensionless else "SI"
    unit = big.get_best_unit()
    return unit, str(unit)


def _metrics(cfg: dict, method: str, directory: Path, seed: int) -> list[tuple[str, Path]]:
    """(network, metrics file) of a sweep point's runs for one seed."""
    if method == "surrogate":
        nets = [report_coding.surrogate_run_name(r) for r in cfg["surrogate"]["runs"]]
        return [(net, directory / net / f"seed{seed}" / "metrics.json") for net in nets]
    n = sweeps.budget(cfg)["n"]
    return [(f"N={n}", directory / f"n{n}" / f"seed{seed}" / "test" / "metrics.json")]


def rows(cfg: dict, root: Path) -> pd.DataFrame:
    """One row per finished sweep run."""
    points = sweeps.plan(cfg, write=False)
    out = []
    by_sweep: dict[tuple, list] = {}
    for p in points:
        by_sweep.setdefault((str(p.file), p.parameter), []).append(p)
    for (file, parameter), group in by_sweep.items():
        unit, unit_name = _unit([p.quantity for p in group])
        for p in group:
            base = sweeps.baseline(cfg, p.file, parameter, p.method)
            directory = root / p.directory.relative_to("results")
            for seed in cfg["seeds"]:
                paths = _metrics(cfg, p.method, directory, seed)
                for net, path in paths:
                    if not path.exists():
                        continue
                    m = load_json(path)
                    spikes = m.get("spikes_per_inference") or {}
                    out.append(
                        {
                            "file": file,
                            "parameter": parameter,
                            "value": p.value,
                            "x": float(p.quantity / unit),
                            "unit": unit_name,
                            "method": p.method,
                            "network": net,
                            "seed": seed,
                            "accuracy": m["accuracy"],
                            "n_test": m.get("n_samples", m.get("n_test")),
                            "spikes_per_inference": float(sum(spikes.values())),
                            "network_spikes_per_inference": float(
                                sum(v for k, v in spikes.items() if k != "input")
                            ),
                            "baseline": float(base / unit),
                        }
                    )
    return pd.DataFrame(out, columns=COLUMNS)


def figure(df: pd.DataFrame, path: Path, title: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for (method, net), g in df.groupby(["method", "network"]):
        g = g.groupby("x", as_index=False)[["accuracy", "network_spikes_per_inference"]].mean()
        label = f"{method} {net}"
        axes[0].plot(g["x"], 100 * g["accuracy"], "o-", label=label)
        axes[1].plot(g["x"], g["network_spikes_per_inference"], "o-", label=label)
    unit = df["unit"].iloc[0]
    names = ["test accuracy (%)", "spikes per inference (input excluded)"]
    for ax, name in zip(axes, names, strict=True):
        ax.axvline(df["baseline"].iloc[0], color="grey", ls="--", lw=1, label="baseline")
        ax.set_xlabel(f"{df['parameter'].iloc[0]}" + (f" ({unit})" if unit else ""))
        ax.set_ylabel(name)
        positive = (df["x"] > 0).all() and df["x"].max() / df["x"].min() >= 10
        if positive:
            ax.set_xscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title} (each point: the mean over seeds)", fontsize=10)
    fig.tight_layout()
    plots._save(fig, path)


def section(cfg: dict, root: Path) -> list[str]:
    """Markdown lines of the section (empty without finished sweep runs); writes the figures
    to ``root/figures`` and the table to ``root/sweeps.csv``."""
    if not cfg.get("sweeps"):
        return []
    df = rows(cfg, root)
    if df.empty:
        return []
    write_csv(root / "sweeps.csv", df, index=False)
    (root / "figures").mkdir(parents=True, exist_ok=True)
    lines = [
        "## Parameter sensitivity",
        "",
        "Each value is a derived equation file (`results/sweeps/`) differing from the model in "
        "use by that one parameter; everything else as configured (`sweep_budget` for the run "
        "sizes). Test accuracy; spikes per inference of the network's neurons (figure) and with "
        "the input spikes as well (as in the table above). Dashed: the value of the configured "
        "model. Table: `sweeps.csv`.",
        "",
    ]
    for (file, parameter), g in df.groupby(["file", "parameter"], sort=False):
        name = f"sweep_{Path(file).stem}_{parameter}.png"
        figure(g, root / "figures" / name, f"{file}: {parameter}")
        lines += [f"### `{parameter}` of `{file}`", ""]
        lines += [
            "| value | method | accuracy | spikes per inference (network / with input) |",
            "|---|---|---|---|",
        ]
        for _, r in g.sort_values(["method", "x"]).iterrows():
            mark = (
                " (baseline)" if abs(r["x"] - r["baseline"]) <= 1e-9 * max(1, abs(r["x"])) else ""
            )
            lines.append(
                f"| {r['value']}{mark} | {r['method']} {r['network']} seed {r['seed']} | "
                f"{100 * r['accuracy']:.2f}% | {r['network_spikes_per_inference']:.1f} / "
                f"{r['spikes_per_inference']:.1f} |"
            )
        lines += ["", f"![{parameter} of {file}](figures/{name})", ""]
    return lines
