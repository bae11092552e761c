"""Operations per inference and their energy, for comparing spiking and conventional networks.

Energy model (stated so it can be swapped): every figure is built from the cost of one
multiply, one add and one weight read at a given precision, `Costs`, 45 nm, from Horowitz,
"Computing's energy problem (and what we can do about it)", ISSCC 2014 (also Han et al.,
"Learning both weights and connections for efficient neural networks", NeurIPS 2015, Table 1):

================  ========  =====  ========================================================
precision         multiply  add    weight read
================  ========  =====  ========================================================
32-bit float      3.7 pJ    0.9    5.0 pJ (32-bit read of an 8 KB SRAM)
8-bit integer     0.2 pJ    0.03   1.25 pJ (the 32-bit SRAM read scaled by width: assumed)
================  ========  =====  ========================================================

Operations and what each costs:

- MAC (conventional layer): one multiply and one add (4.6 pJ float, 0.23 pJ int8), one per
  synapse per inference (dense: zero inputs are not skipped).
- AC (spiking layer, a synaptic operation): one add (0.9 pJ float), one per presynaptic spike per
  outgoing synapse (event-driven).
- Neuron update: a spiking neuron, every time step: the multiplies and adds of its equation
  file's state update and threshold, counted from the file (`bioclf.neuron_cost`: for
  equations/lif.yaml two multiplies and three adds, 10.1 pJ float; NaN for a file whose update
  applies a function to a variable or has a noise term, which have no price here); a ReLU unit,
  once per inference: bias add and compare, two adds (1.8 pJ float, 0.06 pJ int8). Input
  pixels/spike sources are not neurons.
- Memory: one weight read per MAC or AC (no reuse of a fetched weight across outputs or spikes,
  which favours neither side; activations, membrane state and DRAM traffic are not counted).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Costs:
    """Energy (pJ) of the primitive operations at one precision."""

    name: str
    multiply: float
    add: float
    weight_read: float

    @property
    def mac(self) -> float:
        return self.multiply + self.add

    @property
    def ac(self) -> float:
        return self.add

    def neuron_update(self, ops: tuple[float, float]) -> float:
        """One neuron update of `ops` (multiplies, adds): `RELU_UPDATE`, or a spiking neuron's
        time step (`bioclf.neuron_cost.update_operations`)."""
        multiplies, adds = ops
        return multiplies * self.multiply + adds * self.add


#: A ReLU unit's update, once per inference: bias add and compare (multiplies, adds).
RELU_UPDATE = (0, 2)


#: Horowitz (ISSCC 2014), 45 nm.
FP32 = Costs("32-bit float", multiply=3.7, add=0.9, weight_read=5.0)
INT8 = Costs("8-bit integer", multiply=0.2, add=0.03, weight_read=1.25)
PRECISIONS = {"fp32": FP32, "int8": INT8}
REFERENCE = (
    "45 nm, Horowitz (ISSCC 2014); SRAM read from Han et al. (NeurIPS 2015, Table 1); "
    "int8 read scaled from 32-bit by width"
)


@dataclass(frozen=True)
class Operations:
    """Operations of one inference.

    Attributes
    ----------
    macs : multiply-accumulates (conventional layers).
    accumulates : synaptic operations (spiking layers; one per spike per outgoing synapse).
    neuron_updates : neuron state updates (spiking: neurons x time steps; ReLU: neurons).
    weight_reads : weights fetched (one per MAC or accumulate).
    neuron_ops : (multiplies, adds) of one neuron update, the mean over the updated neurons
        (`RELU_UPDATE`; a spiking neuron's from its equation file).
    """

    macs: float
    accumulates: float
    neuron_updates: float
    weight_reads: float
    neuron_ops: tuple[float, float]

    def energy_pj(self, costs: Costs) -> dict[str, float]:
        """Energy per component and in total (pJ)."""
        parts = {
            "mac": self.macs * costs.mac,
            "ac": self.accumulates * costs.ac,
            "neuron": self.neuron_updates * costs.neuron_update(self.neuron_ops),
            "memory": self.weight_reads * costs.weight_read,
        }
        parts["total"] = sum(parts.values())
        return parts


def ann_operations(dense_macs: float, neurons: int) -> Operations:
    """A conventional network: every synapse once, every ReLU/output unit once."""
    return Operations(dense_macs, 0.0, float(neurons), dense_macs, RELU_UPDATE)


def snn_operations(
    synops: float, neurons: int, time_steps: int, neuron_ops: tuple[float, float]
) -> Operations:
    """A spiking network whose input is spikes: event-driven accumulates, every neuron updated
    at every step at `neuron_ops` (multiplies, adds) an update."""
    return Operations(0.0, synops, float(neurons * time_steps), synops, tuple(neuron_ops))


def break_even_spikes(ann: Costs = INT8, snn: Costs = FP32, memory: bool = False) -> float:
    """Spikes per presynaptic neuron per inference below which the spiking layer's synaptic
    energy is lower than its conventional twin's (a spike drives the neuron's fan-out once, as
    one pass of the twin does): ``E_MAC / E_AC``, with `memory` plus a weight read each."""
    if memory:
        return (ann.mac + ann.weight_read) / (snn.ac + snn.weight_read)
    return ann.mac / snn.ac


def block(ops: Operations, precisions: tuple[str, ...], dense_macs: float) -> dict:
    """The ``operations`` block of a ``metrics.json``: counts, and energy (nJ) per component at
    each of `precisions` (keys of `PRECISIONS`)."""
    out = asdict(ops)
    out["dense_macs"] = float(dense_macs)  # the twin's MACs: synops / dense_macs = spikes/neuron
    out["energy_nj"] = {
        p: {k: v / 1e3 for k, v in ops.energy_pj(PRECISIONS[p]).items()} for p in precisions
    }
    out["energy_model"] = {p: asdict(PRECISIONS[p]) | {"reference": REFERENCE} for p in precisions}
    return out
