"""Running the STDP network chunk by chunk, with all state passed explicitly.

A chunk is a fixed number of 500 ms presentation slots: one run of the compiled program (or one
``Network.run`` on the runtime backend). The state at a chunk boundary -- weights, theta,
membrane and trace variables, the controller's position, repeat count and intensity -- is a
plain dict of numpy arrays, saved as the checkpoint and passed to the next run as ``run_args``.
Chunks end after a rest period, when no spike is in flight and no neuron is refractory, so this
state is complete and a resumed run continues exactly where an uninterrupted one would. (On
CUDA, which cannot stop a run early, the state is the copy the network makes at that point,
or the run's end where that point is the end.) Every chunk starts at t = 0, as each run of a
standalone program does (the runtime network's clock is set back), so that model code that
reads t computes the same on every backend; times kept in the state (the plastic synapses'
last event-driven update, `network.LASTUPDATE`) are relative to the chunk's end.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
from brian2 import Hz, second
from brian2.units.fundamentalunits import Quantity

from bioclf.brian import backends
from bioclf.brian.groups import evaluate_array
from bioclf.equations import model_content
from bioclf.stdp import network, parity
from bioclf.stdp.protocol import COUNT_DTYPE, Models, Protocol


@dataclass
class ChunkResult:
    """What one chunk produced.

    Attributes
    ----------
    samples : (m,) int
        Chunk-local indices of the samples whose presentation was accepted, in order.
    counts : (m, n_exc) uint16 (`protocol.COUNT_DTYPE`)
        Excitatory spikes of each neuron during each accepted presentation.
    reps : (m,) int
        How many presentations were rejected (too few spikes) before acceptance.
    intensities : (m,) float
        Input intensity of the accepted presentation.
    spikes : dict
        Spikes of each population ('inp', 'exc', 'inh') over the whole chunk, repeated
        presentations and rest included.
    accepted_counts, retried_counts : (m,), (r,)
        Excitatory spike total of each accepted and each rejected presentation, with
        ``retried_intensities``: the controller's view, for checking its rule.
    """

    samples: np.ndarray
    counts: np.ndarray
    reps: np.ndarray
    intensities: np.ndarray
    spikes: dict
    accepted_counts: np.ndarray
    retried_counts: np.ndarray
    retried_intensities: np.ndarray
    #: A traced simulator's (`Simulator`'s `trace`) margins and spikes of the whole run.
    trace: parity.Trace | None = None


def definition(
    models: Models, protocol: Protocol, n_exc: int, chunk: int, seed: int, backend: backends.Backend
) -> dict[str, str]:
    """What determines the results of a `Simulator` of these arguments, for checkpoints to be
    matched against (`bioclf.stdp.run`): the models' content (file locations and comments left
    out), protocol, size, chunk, seed, backend and code version (OpenMP threads left out, as
    with the surrogate's options). Known without building the network."""
    files = {f.name: getattr(models, f.name) for f in dataclasses.fields(models)}
    out = {
        **{f"stdp.models.{k}": model_content(m) for k, m in files.items()},
        "stdp.protocol": repr(protocol),
        "n_exc": str(n_exc),
        "stdp.chunk": str(chunk),
        "seed": str(seed),
        "backend": backend.name,
        "stdp network code version": str(network.VERSION),
    }  # fmt: skip
    if protocol.reset_between_samples:
        out["stdp.protocol.reset_between_samples"] = "True"
    if protocol.encoding != "rate":  # (not in the protocol's repr: see `Protocol`)
        out["stdp.protocol.encoding"] = protocol.encoding
    return out


class Simulator:
    """Builds the network once (compiling it on standalone backends) and runs chunks.

    Parameters
    ----------
    models, protocol : see `bioclf.stdp.protocol`
    n_exc : int
        Number of excitatory (and inhibitory) neurons.
    chunk : int
        Samples per chunk. A chunk has 25% more presentation slots, for repeated
        presentations; the run stops as soon as its samples are done (on C++ and runtime), and
        samples a chunk could not finish move on to the next.
    seed : int
        Seed of the initial weights, delays and the input spike trains.
    backend : Backend
    project : str
        Name of the standalone project directory under the backend's build directory.
    snapshot : bool, optional
        Read each chunk's state from the copy the network makes when the last sample's slot
        ends (`network.build`), not from the end of the run. Default: on for ``cuda``, whose
        programs cannot stop early and run every slot of a chunk.
    trace : bool, optional
        Record each chunk's threshold margins and spikes (`ChunkResult.trace`), for comparing
        backends (`bioclf.stdp.parity`); the results are the same.
    """

    def __init__(
        self,
        models: Models,
        protocol: Protocol,
        n_exc: int,
        chunk: int,
        seed: int,
        backend: backends.Backend,
        project: str,
        snapshot: bool | None = None,
        trace: bool = False,
    ):
        start = time.perf_counter()
        self.protocol = protocol
        self.backend = backend
        self.definition = definition(models, protocol, n_exc, chunk, seed, backend)
        directory = backends.activate(backend, project, dt=protocol.dt)
        self.chunk = chunk
        slots = int(np.ceil(chunk * 1.25))
        # CUDA cannot end a run early: the state at the last sample's end is copied in the
        # network and read from there (`network.build`)
        self.snapshot = backend.name == "cuda" if snapshot is None else snapshot
        self.net = network.build(
            models, protocol, n_exc, slots, seed, chunk, self.snapshot, trace=trace
        )
        self._stim = np.zeros((chunk, network.N_INPUT))
        self.views = self.net.state_views()
        self.runner = backends.Runner(backend, self.net.net, slots * protocol.slot, directory)
        # Groups that own a 'plastic' flag (synapses see their target's). A variable's owner is
        # a weak proxy of its group, never the group itself: compare names, not identity.
        self._plastic = [
            g
            for g in (self.net.exc, self.net.inh, self.net.inp, self.net.s_in)
            if "plastic" in g.variables and g.variables["plastic"].owner.name == g.name
        ]
        self.build_time_s = time.perf_counter() - start  # network built (and compiled)

    @property
    def initial_state(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.net.initial_state.items()}

    def run_chunk(
        self,
        state: dict[str, np.ndarray],
        images: np.ndarray,
        offset: int,
        base_key: int,
        plastic: bool,
    ) -> tuple[dict[str, np.ndarray], ChunkResult]:
        """Present `images` (``(n, 784)`` in [0, 1], n <= chunk; an array or
        `bioclf.data.FloatImages`, converted here) starting from `state`.

        Returns the state after the chunk (with the controller's sample counter made relative
        to the next chunk) and what the chunk produced.
        """
        net, p = self.net, self.protocol
        images = np.asarray(images)
        n = len(images)
        if n > self.chunk:
            raise ValueError(f"{n} images do not fit in a chunk of {self.chunk} samples")
        # rate code: pixel rates; latency code: the intensities (`network.build`). One buffer
        # for all chunks: a new 31 MB array per chunk costs ~40 ms of page faults to fill.
        latency = p.encoding == "latency"
        stim = self._stim
        if latency:
            stim[:n] = images
        else:
            np.multiply(images, float(p.rate_per_intensity), out=stim[:n])
        stim[n:] = 0
        runtime = not self.backend.standalone
        values = {}
        for key, view in self.views.items():
            value = net.to_network(key, state[key])
            values[view] = Quantity(value, dim=view.dim) if view.dim is not None else value
        if runtime:
            # Every chunk starts at t = 0, as each run of a standalone program does, with the
            # last spikes as Brian2 first sets them (long ago; they are not carried): model
            # code that reads t or lastspike then computes the same on every backend.
            net.net.t_ = 0.0
            for group in (net.inp, net.exc, net.inh, net.ctrl):
                if "lastspike" in group.variables:
                    values[group.lastspike] = np.full(len(group), -1e4) * second
                    values[group.not_refractory] = np.ones(len(group), dtype=bool)
        values[net.stim] = stim if latency else Quantity(stim, dim=Hz.dim, copy=False)
        values[net.ctrl.n_avail] = float(n)
        values[net.ctrl.offset] = float(offset)
        values[net.ctrl.base_key] = float(base_key)
        for group in self._plastic:
            values[group.plastic] = float(plastic)
        values[net.inp.n_fired] = np.zeros(len(net.inp))
        values[net.inh.n_fired] = np.zeros(len(net.inh))
        if self.snapshot:
            values[net.ctrl.snapnow] = np.zeros(1)
            values[net.ctrl.snapped] = np.zeros(1)

        # (a runtime network's monitors keep the records of its earlier runs)
        n_spikes0 = len(net.exc_spikes.t) if runtime and self.runner._n_runs else 0
        n_acc0 = len(net.accepts.t) if runtime and self.runner._n_runs else 0
        n_ret0 = len(net.retries.t) if runtime and self.runner._n_runs else 0
        traced0 = _traced(net) if runtime and self.runner._n_runs else None
        self.runner.run(values)

        # where the run idled after its last sample (CUDA), the state when that sample ended:
        # copied at the start of the next slot, which clears snapnow. A last sample that ends in
        # the chunk's last slot leaves no copy (snapped is 1, snapnow still 1): the run's end is
        # then that state, where C++ stops too.
        ended = (
            self.snapshot and float(net.ctrl.snapped[0]) == 1 and float(net.ctrl.snapnow[0]) == 0
        )
        source = net.snapshots if ended else self.views
        new_state = {
            key: net.from_network(key, np.asarray(source[key][:], dtype=float).copy())
            for key in self.views
        }
        if network.LASTUPDATE in new_state and not ended:  # (a snapshot copies it relative)
            # where the run ended: a standalone program that stopped early ends before the
            # network's scheduled end (``net.t``); its clock says where
            new_state[network.LASTUPDATE] -= float(net.s_in.clock.t[:])
        steps = lambda t: np.rint(np.asarray(t / second)[...] / float(p.dt)).astype(np.int64)  # noqa: E731
        acc_steps = steps(net.accepts.t[n_acc0:])
        samples = np.asarray(net.accepts.sample[n_acc0:], dtype=np.int64)
        reps = np.asarray(net.accepts.rep[n_acc0:], dtype=np.int64)
        intensities = np.asarray(net.accepts.intensity[n_acc0:], dtype=float)
        spike_steps = steps(net.exc_spikes.t[n_spikes0:])
        spike_i = np.asarray(net.exc_spikes.i[n_spikes0:], dtype=np.int64)

        # Spikes count for the sample accepted in their slot, during its presentation only.
        row_of_slot = np.full(net.slots, -1, dtype=np.int64)
        row_of_slot[acc_steps // p.slot_steps] = np.arange(len(acc_steps))
        shown = spike_steps % p.slot_steps < p.present_steps
        rows = row_of_slot[spike_steps // p.slot_steps]
        keep = shown & (rows >= 0)
        # uint16: a neuron spikes at most once a step, and `Protocol` caps the steps (COUNT_DTYPE)
        counts = np.zeros((len(acc_steps), net.n_exc), dtype=COUNT_DTYPE)
        np.add.at(counts, (rows[keep], spike_i[keep]), 1)

        if len(samples) and not np.array_equal(samples, np.arange(len(samples))):
            raise RuntimeError(f"controller accepted samples out of order: {samples[:10]}")
        new_state["ctrl.sample"] = np.zeros(1)  # the next chunk's stimulus starts at this sample
        spikes = {
            "inp": int(np.sum(net.inp.n_fired[:])),
            "exc": len(spike_i),  # the monitor's spikes of this chunk
            "inh": int(np.sum(net.inh.n_fired[:])),
        }
        return new_state, ChunkResult(
            samples,
            counts,
            reps,
            intensities,
            spikes,
            accepted_counts=np.asarray(net.accepts.spike_count[n_acc0:], dtype=float),
            retried_counts=np.asarray(net.retries.spike_count[n_ret0:], dtype=float),
            retried_intensities=np.asarray(net.retries.intensity[n_ret0:], dtype=float),
            trace=_trace(net, traced0, float(p.dt), not runtime) if net.traces else None,
        )

    def cleanup(self) -> None:
        self.runner.cleanup()


def _traced(net: network.STDPNetwork) -> dict[str, tuple[int, int]]:
    """How many spikes and steps each trace monitor of a runtime network holds."""
    return {
        pop: (len(mon.spikes.t), len(mon.state.t) if mon.state is not None else 0)
        for pop, mon in net.traces.items()
    }


def _trace(
    net: network.STDPNetwork, before: dict | None, dt: float, standalone: bool
) -> parity.Trace:
    """The margins and spikes a traced network recorded in its last run (which started at t =
    0), after the records `before` (`_traced`; None: all of them)."""
    margins, spikes = {}, {}
    for pop, mon in net.traces.items():
        n_spikes0, n_steps0 = before[pop] if before else (0, 0)
        t = np.asarray(mon.spikes.t / second)[n_spikes0:]
        steps = np.rint(t / dt).astype(np.int64)
        spikes[pop] = np.stack(
            [steps, np.asarray(mon.spikes.i)[n_spikes0:].astype(np.int64)], axis=1
        )
        if mon.state is None:
            margins[pop] = None
            continue
        n = len(getattr(net, pop))
        if standalone:
            # Brian2 reads a 2-D monitor array from disk in the shape of the last read, which
            # fails when this run recorded another number of steps (C++ stops after the last
            # sample): let it infer the steps from the file again
            for name in mon.state.record_variables:
                mon.state.variables[name].size = (0, n)
        # (steps, n) quantities of the variables the threshold reads; the run's first step is 0
        values = {
            name: getattr(mon.state, name)[:, n_steps0:].T for name in mon.state.record_variables
        }
        rng = np.random.default_rng(0)  # thresholds draw no random numbers; for the signature
        above, below = (evaluate_array(e, n, mon.namespace, rng, values) for e in mon.sides)
        margins[pop] = parity.relative_margin(above, below)
    return parity.Trace(margins, spikes)
