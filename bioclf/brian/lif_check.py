"""Verification of a LIF model file against the analytic LIF firing rate.

For a constant input current I above rheobase the leaky integrate-and-fire neuron
``tau_m dv/dt = v_rest - v + R I`` with threshold v_th, reset v_reset and refractory period
t_ref fires periodically at

    rate = 1 / (t_ref + tau_m * ln((R I + v_rest - v_reset) / (R I + v_rest - v_th)))

and never below rheobase ``I_rh = (v_th - v_rest) / R``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from brian2 import Network, SpikeMonitor, StateMonitor, TimedArray, ms, second
from brian2.units.fundamentalunits import Quantity

from bioclf.brian import backends
from bioclf.brian.groups import neuron_group
from bioclf.equations.spec import NeuronModel
from bioclf.errors import EquationFileError

REQUIRED = ("v_rest", "v_reset", "v_th", "tau_m", "R")


def lif_parameters(model: NeuronModel) -> dict[str, float]:
    """The LIF parameters in SI units (floats), checking the model has them."""
    missing = [p for p in REQUIRED if p not in model.parameters]
    t_ref = model.refractory_time()
    if missing or t_ref is None or model.input is None:
        raise EquationFileError(
            model.path,
            "parameters",
            f"the analytic LIF check needs parameters {REQUIRED}, a refractory time and an "
            f"'input' current (missing: {missing or 'refractory/input'})",
        )
    values = {p: float(model.parameters[p]) for p in REQUIRED}
    values["t_ref"] = float(t_ref)
    return values


def rheobase(model: NeuronModel) -> float:
    p = lif_parameters(model)
    return (p["v_th"] - p["v_rest"]) / p["R"]


def analytic_rate(model: NeuronModel, current) -> np.ndarray:
    """Analytic firing rate (Hz) for constant currents (A); 0 at and below rheobase."""
    p = lif_parameters(model)
    drive = p["R"] * np.asarray(current, dtype=float) + p["v_rest"]
    rate = np.zeros_like(drive)
    above = drive > p["v_th"]
    isi = p["t_ref"] + p["tau_m"] * np.log(
        (drive[above] - p["v_reset"]) / (drive[above] - p["v_th"])
    )
    rate[above] = 1.0 / isi
    return rate


@dataclass
class RateResult:
    current: np.ndarray  # A
    analytic: np.ndarray  # Hz
    simulated: np.ndarray  # Hz, 1 / mean ISI (0 when fewer than 2 spikes)
    n_spikes: np.ndarray
    min_isi: np.ndarray  # s (inf when fewer than 2 spikes)
    t_ref: float
    dt: float
    backend: str


def simulate_rates(
    model: NeuronModel,
    currents,
    duration=2 * second,
    dt=0.01 * ms,
    backend: backends.Backend | None = None,
) -> RateResult:
    """Simulate one neuron per current and measure its firing rate.

    The rate is 1 / (mean interspike interval), from the first spike on, which removes the
    transient from the initial value.
    """
    backend = backend or backends.Backend()
    currents = np.asarray(currents, dtype=float)
    lif_parameters(model)
    directory = backends.activate(backend, f"lif_rates_{model.name}", dt=dt)
    group = neuron_group(model, len(currents), "lif", np.random.default_rng(0))
    setattr(group, model.input, currents * Quantity(1, dim=getattr(group, model.input).dim))
    spikes = SpikeMonitor(group, name="lif_spikes")
    net = Network(group, spikes)
    runner = backends.Runner(backend, net, duration, directory)
    runner.run()
    trains = spikes.spike_trains()
    simulated = np.zeros(len(currents))
    min_isi = np.full(len(currents), np.inf)
    n_spikes = np.zeros(len(currents), dtype=int)
    for k in range(len(currents)):
        times = np.asarray(trains[k] / second)
        n_spikes[k] = len(times)
        if len(times) >= 2:
            isi = np.diff(times)
            simulated[k] = 1.0 / isi.mean()
            min_isi[k] = isi.min()
    return RateResult(
        current=currents,
        analytic=analytic_rate(model, currents),
        simulated=simulated,
        n_spikes=n_spikes,
        min_isi=min_isi,
        t_ref=lif_parameters(model)["t_ref"],
        dt=float(dt),
        backend=backend.name,
    )


def current_levels(model: NeuronModel, n_above: int = 12, n_below: int = 3) -> np.ndarray:
    """Currents below rheobase and `n_above` levels from 1.05x to 4x rheobase."""
    i_rh = rheobase(model)
    below = np.linspace(0.0, 0.95, n_below) * i_rh
    above = np.geomspace(1.05, 4.0, n_above) * i_rh
    return np.concatenate([below, above])


@dataclass
class Trace:
    t: np.ndarray  # s
    v: np.ndarray  # V
    current: np.ndarray  # A
    spikes: np.ndarray  # s
    v_th: float
    v_reset: float
    t_ref: float


def membrane_trace(
    model: NeuronModel, dt=0.05 * ms, backend: backends.Backend | None = None
) -> Trace:
    """One neuron through a current protocol that shows every feature of the model.

    0-50 ms no input (rest); 50-250 ms a current below rheobase (integration towards a
    subthreshold plateau, then leak back); 300-600 ms a current above rheobase (threshold
    crossings, spikes, resets, refractory clamps).
    """
    backend = backend or backends.Backend()
    p = lif_parameters(model)
    i_rh = rheobase(model)
    step = 1 * ms
    profile = np.zeros(700)
    profile[50:250] = 0.8 * i_rh
    profile[300:600] = 2.5 * i_rh
    directory = backends.activate(backend, f"lif_trace_{model.name}", dt=dt)
    group = neuron_group(model, 1, "lif", np.random.default_rng(0))
    unit = Quantity(1, dim=getattr(group, model.input).dim)
    drive = TimedArray(profile * unit, dt=step, name="drive")
    group.run_regularly(f"{model.input} = drive(t)", when="start", name="lif_drive")
    group.namespace["drive"] = drive
    state = StateMonitor(group, ["v", model.input], record=0, name="lif_state")
    spikes = SpikeMonitor(group, name="lif_spikes")
    net = Network(group, state, spikes)
    backends.Runner(backend, net, len(profile) * step, directory).run()
    return Trace(
        t=np.asarray(state.t / second),
        v=np.asarray(state.v[0]).astype(float),
        current=np.asarray(getattr(state, model.input)[0]).astype(float),
        spikes=np.asarray(spikes.t / second),
        v_th=p["v_th"],
        v_reset=p["v_reset"],
        t_ref=p["t_ref"],
    )
