"""Verification of a neuron model file against the f-I curve its equations imply.

Where the membrane equation is linear in the membrane variable v and in the input current I,

    dv/dt = a + b*v + c*I      (b < 0; no other state variable in it)

with a threshold ``v > v_th``, a reset ``v = v_reset`` and v clamped for a refractory period
t_ref, the neuron fires, for a constant I above rheobase ``I_rh = -(a + b*v_th)/c``, at

    rate = 1 / (t_ref + tau * ln((v_inf - v_reset) / (v_inf - v_th))),
    tau = -1/b,  v_inf = -(a + c*I)/b,

and never below rheobase. `analyse` derives a, b, c, v_th, v_reset and t_ref from the file's
own expressions (sympy, parameters substituted), whatever the names. Where no such closed form
exists (an adaptation current, a nonlinear membrane, a reset that writes other variables...)
it says why, and the check is instead that the simulators agree spike for spike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy
from brian2 import Network, SpikeMonitor, StateMonitor, TimedArray, ms, second
from brian2.core.namespace import DEFAULT_UNITS
from brian2.parsing.statements import parse_statement
from brian2.parsing.sympytools import str_to_sympy
from brian2.units.fundamentalunits import Quantity

from bioclf.brian import backends
from bioclf.brian.groups import neuron_group
from bioclf.equations.spec import NeuronModel
from bioclf.errors import EquationFileError


@dataclass(frozen=True)
class LinearLIF:
    """``dv/dt = a + b*v + c*I`` (SI), threshold ``v > v_th``, reset ``v = v_reset``."""

    membrane: str  # the name of v
    input: str  # the name of I
    a: float
    b: float
    c: float
    v_th: float
    v_reset: float | None  # None only in `drive_model`'s form of a reset that sets no value
    t_ref: float

    @property
    def tau(self) -> float:
        return -1.0 / self.b

    @property
    def rheobase(self) -> float:
        return -(self.a + self.b * self.v_th) / self.c

    def rate(self, current) -> np.ndarray:
        """Firing rate (Hz) for constant currents (A); 0 at and below rheobase."""
        v_inf = -(self.a + self.c * np.asarray(current, dtype=float)) / self.b
        rate = np.zeros_like(v_inf)
        above = v_inf > self.v_th
        isi = self.t_ref + self.tau * np.log(
            (v_inf[above] - self.v_reset) / (v_inf[above] - self.v_th)
        )
        rate[above] = 1.0 / isi
        return rate


class _NoClosedForm(Exception):
    """Why a model has no closed-form f-I curve (the message says it)."""


def _by_name(expr, values: dict[str, float]):
    return expr.subs({s: values[s.name] for s in expr.free_symbols if s.name in values})


def _number(expr, what: str) -> float:
    if expr.free_symbols:
        names = ", ".join(sorted(s.name for s in expr.free_symbols))
        raise _NoClosedForm(f"{what} depends on {names}")
    try:
        return float(expr)
    except TypeError:  # (a function sympy does not evaluate: clip(v_reset, v_rest, v_th))
        raise _NoClosedForm(f"{what} is not a number ({expr})") from None


def _linear(model: NeuronModel, frozen: bool) -> LinearLIF:
    """The linear form of `model`; with `frozen`, other state variables are held at their
    initial values (an approximation, used only to choose input currents)."""
    eqs = model.eqs
    if model.input is None:
        raise _NoClosedForm("the file names no 'input' current")
    t_ref = model.refractory_time()
    if t_ref is None:
        if not frozen:
            raise _NoClosedForm(f"the refractory period is a condition ({model.refractory})")
        t_ref = 0.0  # (the currents do not depend on it: refractoriness moves no rheobase)
    relation = str_to_sympy(model.threshold)
    if isinstance(relation, sympy.StrictLessThan | sympy.LessThan):
        relation = relation.reversed
    if not isinstance(relation, sympy.StrictGreaterThan | sympy.GreaterThan):
        raise _NoClosedForm(f"the threshold '{model.threshold}' is not 'v > value'")
    if not isinstance(relation.lhs, sympy.Symbol) or relation.lhs.name not in eqs.diff_eq_names:
        raise _NoClosedForm(f"the threshold '{model.threshold}' is not 'v > value'")
    v = relation.lhs.name
    # units by their values in SI, as Brian2 reads them where no model name hides them
    # (exp((v - v_rest)/mV): not a dependence on 'mV')
    values = {n: float(u) for n, u in DEFAULT_UNITS.items() if n not in eqs.names}
    values.update({name: float(q) for name, q in model.parameters.items()})
    others = sorted(set(eqs.diff_eq_names) - {v})
    unknown = sorted(set(eqs.parameter_names) - {model.input})
    if others and not frozen:
        raise _NoClosedForm(f"state variable(s) {', '.join(others)} besides {v}")
    if unknown and not frozen:
        raise _NoClosedForm(f"variable(s) {', '.join(unknown)} set from outside besides the input")
    if frozen:
        for name in others + unknown:
            text = model.initial.get(name, "0")
            values[name] = _number(_by_name(str_to_sympy(text), values), f"initial {name}")
    expr = str_to_sympy(eqs[v].expr.code)
    for _ in range(len(eqs.subexpr_names) + 1):  # subexpressions may use each other
        expr = expr.subs(
            {
                s: str_to_sympy(eqs[s.name].expr.code)
                for s in expr.free_symbols
                if s.name in eqs.subexpr_names
            }
        )
    expr = sympy.expand(_by_name(expr, values))
    symbols = {s.name: s for s in expr.free_symbols}
    extra = sorted(set(symbols) - {v, model.input})
    if extra:
        raise _NoClosedForm(f"d{v}/dt depends on {', '.join(extra)}")
    sv = symbols.get(v, sympy.Symbol(v))
    si = symbols.get(model.input, sympy.Symbol(model.input))
    for x, y, what in ((sv, sv, v), (si, si, model.input), (sv, si, f"{v}*{model.input}")):
        if sympy.simplify(sympy.diff(expr, x, y)) != 0:
            raise _NoClosedForm(f"d{v}/dt is not linear in {v} and {model.input} (term in {what})")
    b = _number(sympy.diff(expr, sv), f"d{v}/dt")
    c = _number(sympy.diff(expr, si), f"d{v}/dt")
    a = _number(expr.subs({sv: 0, si: 0}), f"d{v}/dt")
    if b >= 0:
        raise _NoClosedForm(f"d{v}/dt has no leak (coefficient of {v} is {b:g}/s)")
    if c == 0:
        raise _NoClosedForm(f"the input {model.input} does not drive {v}")
    v_th = _number(_by_name(relation.rhs, values), "the threshold")
    v_reset = None
    for line in model.reset.splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        var, op, value, _ = parse_statement(line)
        if var == v and op == "=":
            v_reset = _number(_by_name(str_to_sympy(value), values), "the reset")
        elif not frozen:
            what = f"does not set {v} to a value" if var == v else f"also changes {var}"
            raise _NoClosedForm(f"the reset {what} ('{line}')")
    if v_reset is None and not frozen:
        raise _NoClosedForm(f"the reset does not set {v} to a value")
    if v_reset is not None and v_reset >= v_th:
        raise _NoClosedForm(f"the reset ({v_reset:g}) is not below the threshold ({v_th:g})")
    if float(t_ref) > 0 and "unless refractory" not in eqs[v].flags and not frozen:
        raise _NoClosedForm(f"{v} is not clamped while refractory (no '(unless refractory)')")
    return LinearLIF(v, model.input, a, b, c, v_th, v_reset, float(t_ref))


def analyse(model: NeuronModel) -> tuple[LinearLIF | None, str]:
    """The closed form of the model's f-I curve, or None and the reason there is none."""
    try:
        return _linear(model, frozen=False), ""
    except _NoClosedForm as exc:
        return None, str(exc)


def drive_model(model: NeuronModel) -> LinearLIF:
    """The linear form with other state variables frozen at their initial values: it sets the
    input currents (around its rheobase) and the trace figure's lines. The reset and the
    refractory period do not move the rheobase: a reset that sets no value of v (``v -= 20*mV``,
    none) has no reset line (``v_reset`` None), a refractory condition is taken as 0.

    Raises
    ------
    EquationFileError
        When not even this form exists (no current scale to test the model with).
    """
    try:
        return _linear(model, frozen=True)
    except _NoClosedForm as exc:
        raise EquationFileError(
            model.path, "equations", f"the neuron check cannot choose input currents: {exc}"
        ) from None


def lif_parameters(model: NeuronModel) -> dict[str, float]:
    """The closed form's values in SI units (floats); `EquationFileError` when there is none."""
    theory, reason = analyse(model)
    if theory is None:
        raise EquationFileError(model.path, "equations", f"no closed-form f-I curve: {reason}")
    return {
        "tau": theory.tau,
        "v_th": theory.v_th,
        "v_reset": theory.v_reset,
        "t_ref": theory.t_ref,
        "rheobase": theory.rheobase,
    }


def rheobase(model: NeuronModel) -> float:
    return lif_parameters(model)["rheobase"]


def analytic_rate(model: NeuronModel, current) -> np.ndarray:
    """Analytic firing rate (Hz) for constant currents (A); 0 at and below rheobase."""
    theory, reason = analyse(model)
    if theory is None:
        raise EquationFileError(model.path, "equations", f"no closed-form f-I curve: {reason}")
    return theory.rate(current)


@dataclass
class RateResult:
    current: np.ndarray  # A
    analytic: np.ndarray  # Hz (NaN where the model has no closed form)
    simulated: np.ndarray  # Hz, 1 / mean ISI (0 when fewer than 2 spikes)
    n_spikes: np.ndarray
    min_isi: np.ndarray  # s (inf when fewer than 2 spikes)
    t_ref: float
    dt: float
    backend: str
    steps: list[np.ndarray]  # each neuron's spike time steps (for spike-for-spike checks)


def _t_ref(model: NeuronModel) -> float:
    t_ref = model.refractory_time()
    return 0.0 if t_ref is None else float(t_ref)


def simulate_rates(
    model: NeuronModel,
    currents,
    duration=2 * second,
    dt=0.01 * ms,
    backend: backends.Backend | None = None,
) -> RateResult:
    """Simulate one neuron per constant current and measure its firing rate.

    The rate is 1 / (mean interspike interval), from the first spike on, which removes the
    transient from the initial value.
    """
    backend = backend or backends.Backend()
    currents = np.asarray(currents, dtype=float)
    if model.input is None:
        raise EquationFileError(model.path, "input", "the neuron check needs an 'input' current")
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
    steps = []
    for k in range(len(currents)):
        times = np.asarray(trains[k] / second)
        steps.append(np.round(times / float(dt)).astype(int))
        n_spikes[k] = len(times)
        if len(times) >= 2:
            isi = np.diff(times)
            simulated[k] = 1.0 / isi.mean()
            min_isi[k] = isi.min()
    theory, _ = analyse(model)
    return RateResult(
        current=currents,
        analytic=theory.rate(currents) if theory else np.full(len(currents), np.nan),
        simulated=simulated,
        n_spikes=n_spikes,
        min_isi=min_isi,
        t_ref=_t_ref(model),
        dt=float(dt),
        backend=backend.name,
        steps=steps,
    )


def torch_steps(model: NeuronModel, currents, duration=2 * second, dt=0.01 * ms) -> list:
    """Spike time steps of the PyTorch neuron compiled from the same file (float64), for the
    same constant currents; raises `UnsupportedConstructError` for what it cannot compile."""
    import torch

    from bioclf.surrogate.compile import compile_neuron
    from bioclf.surrogate.functional import neuron as F

    neuron = compile_neuron(model, float(dt), input_scale=1.0)  # currents in SI units
    n_steps = int(round(float(duration) / float(dt)))
    drive = torch.tensor(np.asarray(currents, dtype=float), dtype=torch.float64)
    state = neuron.initial_state(drive.shape, dtype=torch.float64)
    steps: list[list[int]] = [[] for _ in range(len(drive))]
    chunk = 2000
    with torch.no_grad():
        for start in range(0, n_steps, chunk):
            length = min(chunk, n_steps - start)
            z, state, _ = F.run(neuron, drive.expand(length, -1), state=state)
            for t, k in zip(*np.nonzero(z.numpy() > 0), strict=True):
                steps[k].append(start + t)
    return [np.asarray(s, dtype=int) for s in steps]


def compare_steps(a: list[np.ndarray], b: list[np.ndarray]) -> dict:
    """Spike-for-spike comparison of two sets of spike trains (time steps)."""
    differ = [k for k, (x, y) in enumerate(zip(a, b, strict=True)) if not np.array_equal(x, y)]
    return {
        "spikes": int(sum(len(x) for x in a)),
        "other_spikes": int(sum(len(y) for y in b)),
        "neurons_differing": len(differ),
        "identical": not differ,
    }


def current_levels(model: NeuronModel, n_above: int = 12, n_below: int = 3) -> np.ndarray:
    """Currents below rheobase and `n_above` levels from 1.05x to 4x rheobase (the rheobase of
    the membrane with any other state variable held at its initial value)."""
    i_rh = drive_model(model).rheobase
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
    v_reset: float | None  # None where the reset sets no value of v
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
    form = drive_model(model)
    i_rh = form.rheobase
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
    state = StateMonitor(group, [form.membrane, model.input], record=0, name="lif_state")
    spikes = SpikeMonitor(group, name="lif_spikes")
    net = Network(group, state, spikes)
    backends.Runner(backend, net, len(profile) * step, directory).run()
    return Trace(
        t=np.asarray(state.t / second),
        v=np.asarray(getattr(state, form.membrane)[0]).astype(float),
        current=np.asarray(getattr(state, model.input)[0]).astype(float),
        spikes=np.asarray(spikes.t / second),
        v_th=form.v_th,
        v_reset=form.v_reset,
        t_ref=_t_ref(model),
    )
