"""Figures: receptive fields, confusion matrices, membrane traces, rasters, curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bioclf.io import atomic  # noqa: E402


def _save(fig, path: str | Path) -> None:
    path = Path(path)
    try:
        with atomic(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)


def receptive_fields(weights: np.ndarray, path, title: str = "", labels=None) -> None:
    """Grid of 28x28 images, one per excitatory neuron (columns of ``weights`` (784, N))."""
    n = weights.shape[1]
    side = int(np.ceil(np.sqrt(n)))
    grid = np.full((side * 28, side * 28), np.nan)
    for k in range(n):
        r, c = divmod(k, side)
        grid[r * 28 : (r + 1) * 28, c * 28 : (c + 1) * 28] = weights[:, k].reshape(28, 28)
    fig, ax = plt.subplots(figsize=(7, 7))
    im = ax.imshow(grid, cmap="hot_r", interpolation="nearest")
    if labels is not None and n <= 400:
        for k in range(n):
            r, c = divmod(k, side)
            ax.text(c * 28 + 2, r * 28 + 7, str(labels[k]), color="tab:blue", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"Learned input weights of {n} excitatory neurons")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="weight")
    _save(fig, path)


def confusion(matrix: np.ndarray, path, title: str = "") -> None:
    """Confusion matrix with counts; rows true class, columns predicted."""
    matrix = np.asarray(matrix)
    acc = np.trace(matrix) / max(matrix.sum(), 1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(matrix, cmap="Blues")
    for r in range(matrix.shape[0]):
        for c in range(matrix.shape[1]):
            v = matrix[r, c]
            color = "white" if v > matrix.max() / 2 else "black"
            ax.text(c, r, str(v), ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_title(f"{title} (accuracy {acc:.2%}, n={matrix.sum()})".strip())
    _save(fig, path)


def membrane_trace(trace, path, title: str = "") -> None:
    """Membrane potential with threshold (dashed), spikes, resets and refractory periods."""
    t_ms = trace.t * 1e3
    fig, (ax, axi) = plt.subplots(
        2, 1, figsize=(8, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot(t_ms, trace.v * 1e3, color="black", lw=1, label="membrane potential v")
    ax.axhline(trace.v_th * 1e3, color="tab:red", ls="--", lw=1, label="threshold")
    if trace.v_reset is not None:
        ax.axhline(trace.v_reset * 1e3, color="tab:gray", ls=":", lw=1, label="reset")
    top = trace.v_th * 1e3 + 8
    for k, ts in enumerate(trace.spikes * 1e3):
        ax.vlines(
            ts, trace.v_th * 1e3, top, color="tab:red", lw=1.2, label="spike" if k == 0 else None
        )
        ax.axvspan(
            ts,
            ts + trace.t_ref * 1e3,
            color="tab:orange",
            alpha=0.25,
            lw=0,
            label="refractory (v clamped)" if k == 0 else None,
        )
    ax.set_ylabel("v (mV)")
    ax.set_title(title or "LIF neuron: integration, leak, threshold, spike, reset, refractory")
    ax.legend(loc="upper left", fontsize=7, ncol=3)
    axi.plot(t_ms, trace.current * 1e9, color="tab:blue", lw=1)
    axi.set_ylabel("I (nA)")
    axi.set_xlabel("time (ms)")
    _save(fig, path)


def rate_check(result, path, title: str = "") -> None:
    """Simulated vs analytic firing rate against input current."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    if np.isfinite(result.analytic).any():  # NaN where the model has no closed form
        ax.plot(result.current * 1e9, result.analytic, "-", color="black", label="analytic")
    ax.plot(
        result.current * 1e9,
        result.simulated,
        "o",
        color="tab:red",
        ms=4,
        label=f"simulated ({result.backend}, dt={result.dt * 1e3:g} ms)",
    )
    ax.set_xlabel("input current (nA)")
    ax.set_ylabel("firing rate (Hz)")
    ax.set_title(title or "LIF f-I curve")
    ax.legend()
    _save(fig, path)


def sample_raster(spikes: dict, path, title: str) -> None:
    """Input (top) and excitatory (bottom) spikes of one sample, presentations shaded.

    `spikes`: ``inp_ms``, ``inp_i``, ``exc_ms``, ``exc_i`` (spike times and indices),
    ``n_exc``, and ``shown_ms``: (start, end) of each presentation.
    """
    fig, (a1, a2) = plt.subplots(
        2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    a1.plot(spikes["inp_ms"], spikes["inp_i"], "|", ms=2, color="black")
    a1.set_ylabel("input pixel")
    a1.set_ylim(-1, 784)
    a2.plot(spikes["exc_ms"], spikes["exc_i"], "|", ms=4, color="tab:red")
    a2.set_ylabel("excitatory neuron")
    a2.set_ylim(-1, spikes["n_exc"])
    a2.set_xlabel("time (ms)")
    for ax in (a1, a2):
        for start, end in spikes["shown_ms"]:
            ax.axvspan(start, end, color="tab:blue", alpha=0.07, lw=0)
    a1.set_title(title)
    _save(fig, path)


def curves(
    series: dict, path, xlabel: str, ylabel: str, title: str, hlines=None, logx=False
) -> None:
    """Several (x, y) lines; `hlines` maps label -> y for reference lines."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (x, y) in series.items():
        ax.plot(x, y, "o-", ms=3, label=label)
    for label, y in (hlines or {}).items():
        ax.axhline(y, ls="--", lw=1, color="gray")
        ax.text(ax.get_xlim()[0], y, f" {label}", va="bottom", fontsize=7, color="gray")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, path)
