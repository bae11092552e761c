"""Where two runs of the STDP network part, and whether rounding explains it.

Two backends given the same input agree only to rounding: the GPU sums synaptic input in
another order (atomic adds) and nvcc contracts multiply-adds. A neuron whose tested value lies
within that rounding of its threshold can then spike in one run and not in the other, and from
that step on the runs go their own ways, legitimately. A network built with ``trace``
(`bioclf.stdp.network.build`) records, for each of its excitatory and inhibitory neurons and
each step, the threshold margin the threshold tests and the spikes (`Trace`);
`first_divergence` compares two runs' traces and says where they first part and whether a
near-threshold spike explains it:

* explained: up to that step every margin agreed to `rtol`, and every neuron whose spike
  differs there had a margin within `rtol` of its threshold in both runs (the margin found is
  reported);
* a bug: margins that part by more than `rtol` before (or at) the first spike that differs (the
  runs did not compute the same thing), or a spike that differs where the margin was clear of
  the threshold.

Margins are relative: ``(a - b) / max(|a|, |b|)`` for a threshold ``a > b`` (``a < b``: the sides
swapped), positive above the threshold, so that rounding of relative size e in the values shows
as about e in the margin whatever the units.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

#: Default tolerance of `first_divergence`: the relative rounding two float64 runs of a few
#: thousand steps may accumulate (the parity test compares the final states to this rtol too).
RTOL = 1e-9
#: Populations a traced network records, in the order divergences are reported.
POPULATIONS = ("exc", "inh")


def threshold_sides(threshold: str) -> tuple[str, str] | None:
    """``(above, below)``: the expressions of a threshold that is a single comparison, such that
    the neuron spikes when ``above`` exceeds ``below``; None for any other condition (``and``,
    a chain ``a < b < c``, a function call), whose margin is not defined here."""
    try:
        tree = ast.parse(threshold.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, ast.Compare) or len(tree.ops) != 1:
        return None
    left, right = ast.unparse(tree.left), ast.unparse(tree.comparators[0])
    if isinstance(tree.ops[0], ast.Gt | ast.GtE):
        return left, right
    if isinstance(tree.ops[0], ast.Lt | ast.LtE):
        return right, left
    return None


def relative_margin(above, below) -> np.ndarray:
    """``(above - below) / max(|above|, |below|)`` (0 where both are 0), as floats."""
    a, b = np.asarray(above, dtype=float), np.asarray(below, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, (a - b) / np.where(scale > 0, scale, 1.0), 0.0)


@dataclass(frozen=True)
class Trace:
    """One chunk of one run, as a traced network recorded it.

    Attributes
    ----------
    margins : dict
        Population -> ``(steps, n)`` relative threshold margins (`relative_margin`) of the
        values the threshold tested at each step (after the state update, before the
        threshold), or None where the threshold is not one comparison (`threshold_sides`).
    spikes : dict
        Population -> ``(k, 2)`` int array of (step, neuron) of each spike.
    """

    margins: dict[str, np.ndarray | None]
    spikes: dict[str, np.ndarray]

    def steps(self) -> int:
        """Number of steps recorded (the shortest over the populations)."""
        lengths = [len(m) for m in self.margins.values() if m is not None]
        return min(lengths) if lengths else 0


@dataclass(frozen=True)
class Event:
    """One neuron at the step where two runs part."""

    population: str
    neuron: int
    margin_ref: float  #: its relative margin in the reference run (nan: not recorded)
    margin_other: float  #: and in the other run
    spiked_ref: bool
    spiked_other: bool


@dataclass(frozen=True)
class Divergence:
    """The first step at which two runs part (`first_divergence`)."""

    chunk: int
    step: int
    kind: str  #: 'spikes' (the first difference is a spike) or 'margins' (a margin, first)
    events: tuple[Event, ...]  #: the neurons that differ at that step
    agreement: float  #: the largest margin difference before that step (rounding seen)
    rtol: float
    explained: bool  #: by a near-threshold spike
    margin: float  #: the largest |margin| of the events (the distance from the threshold)

    def describe(self) -> str:
        """One paragraph: where, which neurons with their margins, and the verdict."""
        shown = ", ".join(
            f"{e.population}[{e.neuron}] margin {e.margin_ref:.3g} (ref, "
            f"{'spiked' if e.spiked_ref else 'silent'}) vs {e.margin_other:.3g} ("
            f"{'spiked' if e.spiked_other else 'silent'})"
            for e in self.events[:4]
        )
        more = f" and {len(self.events) - 4} more" if len(self.events) > 4 else ""
        where = (
            f"chunk {self.chunk}, step {self.step}: the first difference is a "
            f"{'spike' if self.kind == 'spikes' else 'threshold margin'}: {shown}{more}; before "
            f"it the margins agreed to {self.agreement:.3g}"
        )
        if self.explained:
            return (
                f"{where}. Explained by rounding: a neuron within {self.margin:.3g} (relative) of "
                f"its threshold, inside the tolerance {self.rtol:g}, spiked in one run only; "
                "the runs cannot be compared beyond it (another seed or input avoids it)"
            )
        if self.kind == "margins":
            why = "the runs computed different values before any spike differed"
        elif not np.isfinite(self.margin):
            why = "no margin was recorded to explain the differing spike"
        else:
            why = (
                f"a spike differs where the margin ({self.margin:.3g}) is clear of the "
                f"threshold beyond the tolerance {self.rtol:g}"
            )
        return f"{where}. Not rounding: {why}"


def _raster(spikes: np.ndarray, steps: int, n: int) -> np.ndarray:
    out = np.zeros((steps, n), dtype=bool)
    s = np.asarray(spikes, dtype=np.int64).reshape(-1, 2)
    keep = s[:, 0] < steps
    out[s[keep, 0], s[keep, 1]] = True
    return out


def _chunk_divergence(chunk: int, ref: Trace, other: Trace, rtol: float) -> Divergence | None:
    steps = min(ref.steps(), other.steps())
    first_spike, first_margin, agreement = steps, steps, 0.0
    rasters, diffs = {}, {}
    for pop in POPULATIONS:
        m_ref, m_oth = ref.margins.get(pop), other.margins.get(pop)
        if m_ref is None or m_oth is None:
            both = (ref.spikes[pop], other.spikes[pop])
            n = max(int(np.max(s[:, 1], initial=-1)) + 1 for s in both)
            diff = None
        else:
            m_ref, m_oth = m_ref[:steps], m_oth[:steps]
            n = m_ref.shape[1]
            diff = np.abs(m_ref - m_oth)
            bad = np.flatnonzero((diff > rtol).any(axis=1))
            if len(bad):
                first_margin = min(first_margin, int(bad[0]))
        r_ref, r_oth = _raster(ref.spikes[pop], steps, n), _raster(other.spikes[pop], steps, n)
        differ = np.flatnonzero((r_ref != r_oth).any(axis=1))
        if len(differ):
            first_spike = min(first_spike, int(differ[0]))
        rasters[pop], diffs[pop] = (r_ref, r_oth), diff
    step = min(first_spike, first_margin)
    if step == steps:
        return None
    kind = "margins" if first_margin <= first_spike else "spikes"
    events = []
    for pop in POPULATIONS:
        (r_ref, r_oth), diff = rasters[pop], diffs[pop]
        if diff is not None and step > 0:
            agreement = max(agreement, float(diff[:step].max()))
        if kind == "spikes":
            neurons = np.flatnonzero(r_ref[step] != r_oth[step])
        else:
            neurons = np.flatnonzero(diff[step] > rtol) if diff is not None else []
        for i in neurons:
            m = (ref.margins.get(pop), other.margins.get(pop))
            mr, mo = (float(x[step, i]) if x is not None else np.nan for x in m)
            events.append(Event(pop, int(i), mr, mo, bool(r_ref[step, i]), bool(r_oth[step, i])))
    sizes = [abs(m) for e in events for m in (e.margin_ref, e.margin_other)]
    margin = np.inf if any(np.isnan(sizes)) else max(sizes)  # not recorded: cannot explain
    explained = kind == "spikes" and margin <= rtol
    return Divergence(chunk, step, kind, tuple(events), agreement, rtol, explained, margin)


def first_divergence(ref: list[Trace], other: list[Trace], rtol: float = RTOL) -> Divergence | None:
    """The first step at which two runs' traces part (chunk by chunk, over the steps both
    recorded), and whether a near-threshold spike explains it; None where they never part.

    Parameters
    ----------
    ref, other : list of Trace
        The chunks of the two runs, in order (``ChunkResult.trace``); compared as far as both
        go.
    rtol : float
        How far (relative) margins may differ and still be the same value rounded
        differently; a spike that differs is explained when its neuron's margin is within
        `rtol` of the threshold in both runs.
    """
    for k, (a, b) in enumerate(zip(ref, other, strict=False)):
        found = _chunk_divergence(k, a, b, rtol)
        if found is not None:
            return found
    return None
