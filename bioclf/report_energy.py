"""The report's ANN-versus-SNN section: operations, energy per inference and the verdicts.

Reads the ``operations`` block (`bioclf.energy`) of every surrogate network's and ANN twin's
``metrics.json``; STDP's operations come from its synaptic operations and time steps. A spiking
neuron's update is priced by the multiplies and adds of its equation file
(`bioclf.neuron_cost`): the surrogate network's ``neuron`` at its ``dt``, STDP's
``stdp.models`` exc and inh files at ``stdp.protocol.dt``. Writes
``results/energy.csv`` (one row per network, seed and precision, every energy component) and
the figure accuracy against energy per inference, and returns the section's Markdown lines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bioclf import config as cfgmod
from bioclf import energy, neuron_cost, plots, report_coding
from bioclf.errors import options_of_result
from bioclf.io import load_json, number, write_csv

ENERGY_COLUMNS = [
    "method",
    "network",
    "seed",
    "precision",
    "accuracy",
    "macs",
    "accumulates",
    "neuron_updates",
    "neuron_multiplies",
    "neuron_adds",
    "weight_reads",
    "spikes_per_neuron",
    "mac_nj",
    "ac_nj",
    "neuron_nj",
    "memory_nj",
    "compute_nj",
    "total_nj",
]
#: A spiking row's neuron files and their dt, (files, dt): what its updates are priced by
#: (not written to energy.csv; the report's note lists them).
PRICED = "_priced"


def ann_rows(cfg: dict, root: Path) -> list[dict]:
    """Rows of ``metrics.csv`` (method ``ann``) for the twins in ``results/ann/``; the energy
    column is that of its 32-bit float MACs, as the SNN rows' is that of their accumulates."""
    if not cfg.get("ann", {}).get("enabled", True):  # twins left on disk by an earlier run
        return []
    rows = []
    for run in report_coding.twin_runs(cfg["surrogate"]["runs"]):
        net = report_coding.surrogate_run_name(run)
        for seed in cfg["seeds"]:
            d = root / "ann" / net / f"seed{seed}"
            if not (d / "metrics.json").exists():
                continue
            with report_coding.reading(d / "metrics.json"):
                row = _ann_row(run, seed, d, load_json(d / "metrics.json"))
            rows.append(report_coding.checked_accuracy(d / "metrics.json", row))
    return rows


def _ann_row(run: dict, seed: int, d: Path, m: dict) -> dict:
    """The row of the twin of `run` and `seed` whose ``metrics.json`` in `d` is `m`."""
    c = m.get("config", {})
    per_epoch = report_coding.samples_per_epoch(c, m.get("history", ()))
    wall = number(m.get("training_wall_seconds"))
    return {
        **report_coding.torch_run_columns("ann", run, seed, m),
        "training_wall_time_s": wall,
        "training_samples_per_s": per_epoch * c.get("epochs", 1) / wall,
        "inference_ms_per_sample": m.get("eval_seconds", np.nan) / m["n_samples"] * 1e3,
        # no event-driven accumulates: its MACs are in the energy table (a 0 here read as an
        # ANN doing no synaptic work)
        "synops_per_inference": np.nan,
        "energy_nj_per_inference": m["operations"]["energy_nj"]["fp32"]["mac"],
        "time_steps": 1,
        "encoding": "analog pixel intensities in [0, 1] (no spikes)",
        "_dir": d,
    }


def _row(method, network, seed, precision, accuracy, ops: energy.Operations, dense_macs=np.nan):
    e = {k: v / 1e3 for k, v in ops.energy_pj(energy.PRECISIONS[precision]).items()}
    return {
        "method": method,
        "network": network,
        "seed": seed,
        "precision": precision,
        "accuracy": accuracy,
        "macs": ops.macs,
        "accumulates": ops.accumulates,
        "neuron_updates": ops.neuron_updates,
        "neuron_multiplies": ops.neuron_ops[0],
        "neuron_adds": ops.neuron_ops[1],
        "weight_reads": ops.weight_reads,
        "spikes_per_neuron": ops.accumulates / dense_macs if ops.accumulates else np.nan,
        "mac_nj": e["mac"],
        "ac_nj": e["ac"],
        "neuron_nj": e["neuron"],
        "memory_nj": e["memory"],
        "compute_nj": e["mac"] + e["ac"] + e["neuron"],
        "total_nj": e["total"],
    }


def _operations(block: dict, neuron_ops: tuple[float, float]) -> energy.Operations:
    """The counts of an ``operations`` block, each neuron update at `neuron_ops`."""
    counts = (block[k] for k in ("macs", "accumulates", "neuron_updates", "weight_reads"))
    return energy.Operations(*counts, neuron_ops)


def stdp_files(cfg: dict) -> tuple[tuple[str, ...], float]:
    """STDP's neuron files (exc, inh: those that label assignment and testing use) and their
    dt in seconds."""
    models = cfg["stdp"]["models"]
    return (models["exc"], models["inh"]), float(cfgmod.quantity(cfg, "stdp", "protocol", "dt"))


def update_price(files: tuple[str, ...], dt: float) -> tuple[float, float]:
    """(multiplies, adds) of a neuron update: the mean over `files` (as many neurons of each),
    each priced by `neuron_cost.price_of_file` at `dt`."""
    counts = [neuron_cost.price_of_file(f, dt)[0] for f in files]
    return tuple(sum(c[k] for c in counts) / len(counts) for k in (0, 1))


def _neurons(config: dict, where: Path) -> int:
    """Neurons (every population but the input) of the network of a training configuration
    (``config`` of the metrics file `where`, which names it where refused), counted on its
    twin, which has the same populations."""
    import torch

    from bioclf.surrogate import train

    with options_of_result(where):
        cfg = train.config_from_dict({**config, "spiking": False}, str(where))
    with torch.no_grad():
        _, acts, _ = train.build(cfg)(torch.zeros(1, 1, 784), record=True)
    return sum(a[0, 0].numel() for name, a in acts.items() if name != "input")


def energy_table(df: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Operations and energy of every row of `df` (the report's rows): ANNs at 32-bit float and
    int8, spiking networks at 32-bit float."""
    rows = []
    for _, r in df.iterrows():
        if r["method"] == "stdp":
            # exc and inh neurons updated at every step (rest included); Poisson inputs are no
            # neurons; one weight read per synaptic operation
            priced = stdp_files(cfg)
            ops = energy.Operations(
                0.0,
                r["synops_per_inference"],
                2 * r["n"] * r["time_steps"],
                r["synops_per_inference"],
                update_price(*priced),
            )
            row = _row("stdp", r["network"], r["seed"], "fp32", r["accuracy"], ops)
            rows.append({**row, PRICED: priced})
            continue
        where = Path(r["_dir"]) / "metrics.json"
        m = load_json(where)
        spiking = r["method"] == "surrogate"
        # the update priced by the file as it is now, as the rest of the report reads it
        priced = ((m["config"]["neuron"],), m["config"]["dt"]) if spiking else None
        update = update_price(*priced) if spiking else energy.RELU_UPDATE
        if "operations" in m:
            ops, dense = _operations(m["operations"], update), m["operations"]["dense_macs"]
            precisions = list(m["operations"]["energy_nj"])
        elif spiking and "synops_per_inference" in m:
            # written before the operation counts: the same counts from its synops
            c = m["config"]
            synops = m["synops_per_inference"]["total"]
            ops = energy.snn_operations(synops, _neurons(c, where), c["T"], update)
            dense, precisions = m["energy"]["ann_equivalent_macs"], ["fp32"]
        else:
            continue
        for precision in precisions:
            row = _row(r["method"], r["network"], r["seed"], precision, r["accuracy"], ops, dense)
            rows.append({**row, PRICED: priced})
    return pd.DataFrame(rows, columns=[*ENERGY_COLUMNS, PRICED])


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (energy, accuracy) points no other point beats on both (lower energy and higher
    accuracy), by increasing energy."""
    front, best = [], -np.inf
    for e, a in sorted(points, key=lambda p: (p[0], -p[1])):
        if a > best:
            front.append((e, a))
            best = a
    return front


def figure(table: pd.DataFrame, path: Path) -> None:
    """Accuracy against energy per inference (log x): compute only, and with weight reads."""
    import matplotlib.pyplot as plt

    means = (
        table.groupby(["method", "network", "precision"], sort=False)[
            ["accuracy", "compute_nj", "total_nj"]
        ]
        .mean()
        .reset_index()
    )
    markers = {"ann": "s", "surrogate": "o", "stdp": "^"}
    # colour: the network (an SNN and its twins alike); marker: the method; hollow: int8
    colours = {net: f"C{k % 10}" for k, net in enumerate(dict.fromkeys(means["network"]))}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, col, title in (
        (axes[0], "compute_nj", "compute: MACs / accumulates + neuron updates"),
        (axes[1], "total_nj", "compute + weight reads"),
    ):
        for _, r in means.iterrows():
            method = {"surrogate": "SNN surrogate", "stdp": "SNN STDP", "ann": "ANN"}[r["method"]]
            colour = colours[r["network"]]
            ax.plot(
                r[col],
                r["accuracy"],
                markers[r["method"]],
                ms=7,
                color=colour,
                mfc="none" if r["precision"] == "int8" else colour,
                label=f"{method} {r['network']} ({r['precision']})",
            )
        points = zip(means[col], means["accuracy"], strict=True)
        finite = [(e, a) for e, a in points if np.isfinite(e)]
        front = pareto(finite)
        if front:
            # on to the largest energy plotted: everything right of it and below it is beaten
            # (a front of one point, the cheapest network also the most accurate, is a line too)
            xs, ys = zip(*front, strict=True)
            right = max(e for e, _ in finite)
            if right > xs[-1]:
                xs, ys = (*xs, right), (*ys, ys[-1])
            ax.step(xs, ys, where="post", color="gray", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("energy per inference (nJ, 45 nm model)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("test accuracy (mean over seeds)")  # one point per network
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=2)
    fig.suptitle("Accuracy against energy per inference (dashed: Pareto front)", fontsize=11)
    plots._save(fig, path)


def verdicts(table: pd.DataFrame) -> list[str]:
    """One sentence per spiking network with an ANN twin (same network and seed)."""
    lines = []
    snn = table[table["method"] == "surrogate"]
    for _, s in snn.iterrows():
        twin = table[
            (table["method"] == "ann")
            & (table["network"] == s["network"])
            & (table["seed"] == s["seed"])
        ].set_index("precision")
        if twin.empty or not np.isfinite(s["total_nj"]):  # (an unpriced neuron file)
            continue
        parts = []
        for p in ("fp32", "int8"):
            if p not in twin.index:
                continue
            ratio = twin.loc[p, "total_nj"] / s["total_nj"]
            word = f"{ratio:.2f}x cheaper" if ratio > 1 else f"{1 / ratio:.2f}x dearer"
            parts.append(
                f"{word} than its {p} ANN twin ({s['total_nj']:.0f} against "
                f"{twin.loc[p, 'total_nj']:.0f} nJ; compute alone {s['compute_nj']:.0f} against "
                f"{twin.loc[p, 'compute_nj']:.1f} nJ)"
            )
        gap = 100 * (twin["accuracy"].iloc[0] - s["accuracy"])
        cost = f"{gap:.2f} points less accurate" if gap > 0 else f"{-gap:.2f} points more accurate"
        spn = s["spikes_per_neuron"]
        # the break-evens with weight reads: the totals compared above include them
        sides = [
            f"{'below' if spn < energy.break_even_spikes(c, memory=True) else 'above'} the {p} "
            f"break-even of {energy.break_even_spikes(c, memory=True):.2f} with weight reads "
            f"({energy.break_even_spikes(c):.2f} for the arithmetic alone)"
            for p, c in (("fp32", energy.FP32), ("int8", energy.INT8))
        ]
        lines.append(
            f"- **{s['network']}, seed {s['seed']}**: the SNN is {' and '.join(parts)}, "
            f"{cost} ({100 * s['accuracy']:.2f}% against {100 * twin['accuracy'].iloc[0]:.2f}%); "
            f"with {spn:.2f} spikes per presynaptic neuron per inference it lies "
            f"{' and '.join(sides)}."
        )
    return lines


def update_note(table: pd.DataFrame) -> str:
    """The sentences of the energy note that price the spiking neurons' updates: each file's
    count, and the remark on STDP's mean where the table has STDP rows; '' where it has no
    spiking rows (an ANN twin whose spiking network has not run)."""
    f32 = energy.FP32
    files = {
        (str(f), dt): neuron_cost.price_of_file(f, dt)
        for named, dt in table[PRICED].dropna()
        for f in named
    }
    if not files:
        return ""
    priced = "; ".join(
        f"`{f}` at dt {dt * 1e3:g} ms, {m} multipl{'y' if m == 1 else 'ies'} and {a} "
        f"add{'' if a == 1 else 's'} ({f32.neuron_update((m, a)):.1f} pJ)"
        if not refusal
        else f"`{f}`: no price, {refusal} (its networks' neuron and total energy: nan)"
        for (f, dt), ((m, a), refusal) in files.items()
    )
    note = (
        "A spiking neuron's update, every time step, costs the multiplies and adds of its "
        "equation file (`bioclf.neuron_cost`): Brian2's state update for the file's `method`, "
        "with the parameters and dt as numbers and every part of numbers only folded (as a "
        "compiler hoists a loop invariant), the cheaper of the code as generated and its "
        "terms collected per variable, plus the threshold's arithmetic and one add for the "
        "comparison; variables held during the refractory period are counted at every step, "
        "copies, refractory bookkeeping and resets (at a spike) are free, and `plastic` is 0 "
        f"in an inference, so a frozen threshold costs no decay. Per file: {priced}."
    )
    if (table["method"] == "stdp").any():
        note += (
            " STDP's rows take the mean of its excitatory and inhibitory files (as many "
            "neurons of each)."
        )
    return note


def section(df: pd.DataFrame, root: Path, cfg: dict) -> list[str]:
    """Markdown of the ANN-versus-SNN section; writes ``energy.csv`` and the figure."""
    table = energy_table(df, cfg)
    if table.empty:
        return []
    write_csv(root / "energy.csv", table[ENERGY_COLUMNS], index=False, float_format="%.6g")
    figure(table, root / "figures" / "accuracy_vs_energy.png")
    f32, i8 = energy.FP32, energy.INT8
    spiking = update_note(table)  # (none without spiking rows)
    spiking += " " if spiking else ""
    lines = [
        "## Is the spiking network worth it? Energy per inference",
        "",
        "Each surrogate network has a conventional twin of the same layer shapes (ReLU, analog "
        "input, one pass), trained with the same optimiser (Adam), epochs, augmentation and data "
        "(`results/ann/`); where a run sets `ann_lr` the twin has a learning rate of its own, "
        "chosen on the validation images as the spiking network's was. Operations per "
        "inference: multiply-accumulates (MACs, every synapse "
        "once) for an ANN; accumulates (one per spike per outgoing synapse, event-driven) for an "
        "SNN; neuron updates for both (an SNN's at every time step, an ANN's once); one weight "
        "read per MAC or accumulate.",
        "",
        f"Energy model, 45 nm (Horowitz, ISSCC 2014; SRAM read from Han et al., NeurIPS 2015): "
        f"32-bit float multiply {f32.multiply} pJ, add {f32.add} pJ (MAC {f32.mac:.1f}, "
        f"accumulate {f32.ac}), weight read {f32.weight_read} pJ; int8 multiply {i8.multiply}, "
        f"add {i8.add} pJ (MAC {i8.mac:.2f}), weight read {i8.weight_read} pJ (the 32-bit read "
        f"scaled by width, an assumption). A ReLU unit (bias add, compare) costs "
        f"{f32.neuron_update(energy.RELU_UPDATE):.1f} pJ float / "
        f"{i8.neuron_update(energy.RELU_UPDATE):.2f} pJ int8. {spiking}"
        "Activation and membrane-state traffic and DRAM are not counted. Every count is in "
        "`energy.csv` (with the multiplies and adds of one neuron update), so other figures "
        "can be swapped in. (The results table's energy column is the synaptic compute alone: "
        f"accumulates at {f32.ac:g} pJ, an ANN's MACs at {f32.mac:g} pJ.)",
        "",
        f"A spike drives its neuron's fan-out once, as one pass of the twin does, so a spiking "
        f"layer's synaptic energy beats the twin's only below E_MAC / E_AC spikes per "
        f"presynaptic neuron per inference: {energy.break_even_spikes(f32):.2f} against float "
        f"MACs, {energy.break_even_spikes():.2f} against int8 MACs "
        f"({energy.break_even_spikes(f32, memory=True):.2f} and "
        f"{energy.break_even_spikes(memory=True):.2f} with the weight reads). "
        "'spikes/neuron' below is accumulates / twin MACs, the spikes per presynaptic neuron "
        "weighted by fan-out.",
        "",
        "| method | network | seed | precision | accuracy | MACs | accumulates | spikes/neuron | "
        "neuron updates | weight reads | MAC nJ | AC nJ | neuron nJ | memory nJ | total nJ |",
        "|" + "---|" * 15,
    ]
    for _, r in table.iterrows():
        spn = "–" if np.isnan(r["spikes_per_neuron"]) else f"{r['spikes_per_neuron']:.2f}"
        lines.append(
            f"| {r['method']} | {r['network']} | {r['seed']} | {r['precision']} | "
            f"{100 * r['accuracy']:.2f}% | {r['macs']:,.0f} | {r['accumulates']:,.0f} | {spn} | "
            f"{r['neuron_updates']:,.0f} | {r['weight_reads']:,.0f} | {r['mac_nj']:.1f} | "
            f"{r['ac_nj']:.1f} | {r['neuron_nj']:.1f} | {r['memory_nj']:.1f} | "
            f"{r['total_nj']:.1f} |"
        )
    lines += ["", *verdicts(table), ""]
    lines += [
        "![Accuracy against energy per inference](figures/accuracy_vs_energy.png)",
        "",
    ]
    return lines
