"""The conventional way to simulate Diehl & Cook: one ``net.run()`` per sample from Python.

This is how public ports (and Brian2's own example) drive the network: Python sets the input
rates, normalises the weights in numpy before every sample, runs 350 ms, reads the spike counts,
decides whether to repeat at a higher intensity, and runs the 150 ms rest. It exists here only
as the baseline of ``bench/bench_stdp.py``; it uses the same model files and the same
presentation protocol as `bioclf.stdp.network`.
"""

from __future__ import annotations

import numpy as np
from brian2 import Hz, Network, NeuronGroup, SpikeMonitor
from brian2 import seed as brian_seed

from bioclf.brian import backends
from bioclf.brian.groups import neuron_group, synapses
from bioclf.stdp import network
from bioclf.stdp.network import N_INPUT
from bioclf.stdp.protocol import Models, Protocol


class ConventionalNetwork:
    """Diehl & Cook on the runtime backend, driven sample by sample from Python."""

    def __init__(self, models: Models, protocol: Protocol, n_exc: int, seed: int):
        backends.activate(backends.Backend("runtime"), "conventional", dt=protocol.dt)
        brian_seed(seed)  # the input's rand(): the same spikes, so the same repeats, every run
        rng = np.random.default_rng(seed)
        self.protocol = protocol
        self.models = models
        syn = models.input_exc
        var, self.total = network.normalisation(models)
        self.var = var
        # A Poisson group that also carries the presynaptic STDP trace of the model file.
        self.inp = NeuronGroup(
            N_INPUT,
            syn.pre_neuron.equations + "\nrates : Hz",
            threshold="rand() < rates*dt",
            reset=syn.pre_neuron.on_spike,
            method="exact",
            namespace=syn.namespace(),
            name="inp",
        )
        self.exc = neuron_group(
            models.exc,
            n_exc,
            "exc",
            rng,
            extensions=[(syn, syn.post_neuron)],
            extra_equations="plastic : 1 (shared, constant)",
        )
        self.inh = neuron_group(models.inh, n_exc, "inh", rng)
        self.s_in = synapses(syn, self.inp, self.exc, "s_in", rng)
        s_ei = synapses(models.exc_inh, self.exc, self.inh, "s_ei", rng)
        s_ie = synapses(models.inh_exc, self.inh, self.exc, "s_ie", rng)
        self.spikes = SpikeMonitor(self.exc, name="exc_spikes")
        self.net = Network(self.inp, self.exc, self.inh, self.s_in, s_ei, s_ie, self.spikes)
        self.n_exc = n_exc

    def normalise(self) -> None:
        w = np.asarray(getattr(self.s_in, self.var)[:]).reshape(N_INPUT, self.n_exc)
        getattr(self.s_in, self.var)[:] = network.rescale_columns(w, self.total).ravel()

    def present(self, image01: np.ndarray) -> tuple[np.ndarray, int]:
        """Show one sample (repeating at higher intensity as needed); return counts, repeats."""
        p = self.protocol
        intensity, reps = p.base_intensity, 0
        while True:
            self.normalise()
            before = np.asarray(self.spikes.count[:]).copy()
            self.inp.rates = image01 * float(p.rate_per_intensity) * intensity * Hz
            self.net.run(p.present, namespace={})
            counts = np.asarray(self.spikes.count[:]) - before
            self.inp.rates = 0 * Hz
            self.net.run(p.rest, namespace={})
            if counts.sum() >= p.min_spikes or intensity >= p.max_intensity:
                return counts, reps
            intensity += 1
            reps += 1
