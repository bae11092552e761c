"""The Diehl & Cook (2015) network, with the whole presentation protocol inside the simulation.

Public ports run ``net.run()`` once per sample from Python and normalise weights in numpy in
between. Here the per-sample logic runs inside the network, so that thousands of samples are
one run of one compiled program:

* ``stim`` -- a 2-D `TimedArray` holding the pixel rates of the chunk's samples, read at the
  controller's sample counter (``stim(sample*ms, i)``), not at ``t``.
* ``ctrl`` -- a one-neuron controller group. Every step it computes whether a sample is being
  shown and the key of the counter-based random numbers; at the end of each 350 ms presentation
  its ``accept``/``retry`` events either advance to the next sample or show the same one again at
  intensity + 1 (when fewer than ``min_spikes`` excitatory spikes occurred, up to a cap).
  Excitatory spikes are counted by synapses onto the controller (O(spikes), no summed variable).
* Normalisation -- while training, every incoming-weight column is rescaled to ``w_total``
  at the start of every presentation, a sample's repeats included (``run_regularly`` with the
  slot period, O(synapses) per presentation, never per step). The column sums it needs are
  kept up to date incrementally by the STDP code (``+= w - w_prev``), so no per-step
  summation over synapses is needed.
* ``plastic`` -- a constant set per run: 1 for training, 0 for label assignment and testing
  (freezes theta and the weights, as the model files say).
* Stop -- the controller ends the run when the chunk's last sample's slot ends
  (``bioclf_stop``). CUDA device code cannot end a run: there the network copies its state at
  that point (``snapshot``, at the start of the next slot) and idles through the spare slots;
  where that slot was the chunk's last, the run ends there and no copy is needed.
* Reset between samples (``stdp.protocol.reset_between_samples``, off by default) -- in frozen
  runs, every presentation starts from the neurons' initial values (`reset_code`), so that a
  sample's response does not depend on the samples shown before it.

Input spikes are a Bernoulli process per pixel and step, simulated by drawing geometric waits
from counter-based random numbers keyed on the presentation (`bioclf.encoding.skip_spikes`
gives the same spikes in numpy), so spike trains do not depend on the backend or on how a run
is split into chunks.
With ``protocol.encoding: latency`` each pixel instead fires once per presentation, at the
step given by its intensity (`bioclf.encoding.latency`, `latency_input_steps` in numpy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from brian2 import (
    EventMonitor,
    Hz,
    Network,
    NeuronGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    TimedArray,
    linked_var,
    ms,
    second,
)
from brian2.units.fundamentalunits import DIMENSIONLESS, get_unit
from brian2.utils.stringtools import get_identifiers

from bioclf.brian.functions import CONTROL
from bioclf.brian.functions import NAMESPACE as HASH_FUNCTIONS
from bioclf.brian.groups import (
    connect_indices,
    initial_values,
    merge_namespaces,
    neuron_group,
    synapse_initial_values,
    synapses,
)
from bioclf.data.datasets import N_PIXELS
from bioclf.encoding import latency_steps
from bioclf.equations import checks
from bioclf.errors import THE_CONFIGURATION, ConfigError
from bioclf.stdp.protocol import INPUT_VARIABLES, Models, Protocol

N_INPUT = N_PIXELS  # input neurons: one per pixel

#: How this module simulates the models. Bumped whenever a change here alters the results of
#: the same files, seed and data, so that checkpoints written by older code are not resumed
#: (`bioclf.stdp.run`). 2: input spikes drawn by geometric waits (1: a hash per pixel and step).
#: 3: runs with plastic = 0 are frozen (before, the flag never reached the network: label
#: assignment and testing went on learning).
VERSION = 3

#: Controller variables carried from one chunk to the next.
CTRL_STATE = ("sample", "rep", "intensity", "spike_count")

#: The state key of the time of the plastic synapses' last event-driven update, which Brian2
#: keeps where their model has event-driven equations (their values are brought up to date at
#: each event from it). Carried relative to the end of the chunk (<= 0 s), as every chunk starts
#: at t = 0 (`bioclf.stdp.simulate`).
LASTUPDATE = "s_in.lastupdate"


def sum_variable(models: Models) -> str:
    """Name of the per-neuron column sum of the normalised synaptic variable."""
    return f"{models.input_exc.normalize[0]}_colsum"


def normalisation(models: Models) -> tuple[str, float]:
    """The normalised synaptic variable of the input synapses and its column total."""
    var, total = models.input_exc.normalize
    return var, float(models.input_exc.parameters[total])


def rescale_columns(w: np.ndarray, total: float) -> np.ndarray:
    """`w` (inputs x neurons) with every column rescaled to sum to `total` (empty ones kept)."""
    sums = w.sum(axis=0)
    return w * np.divide(total, sums, out=np.ones_like(sums), where=sums > 0)


def normalised(models: Models, state: dict, n_exc: int) -> dict:
    """`state` with every input column rescaled to its total, as the next presentation sees it.

    Training normalises at the start of each presentation, so the state a training run ends
    with still holds the last presentation's weight changes unnormalised; frozen runs
    (plastic = 0) do not normalise. A neuron that fired often in that last presentation with a
    high learning rate (24-34 spikes at N=1600 with `dc_stdp_fast.yaml`) thus kept columns
    summing to ~2x the total and won most test samples.
    """
    var, total = normalisation(models)
    w = rescale_columns(np.asarray(state[f"s_in.{var}"], float).reshape(N_INPUT, n_exc), total)
    out = dict(state)
    out[f"s_in.{var}"] = w.ravel()
    out[f"exc.{sum_variable(models)}"] = w.sum(axis=0)
    return out


def _wrap_with_sum(code: str, var: str, sumvar: str) -> str:
    """Make STDP code keep the postsynaptic column sum of `var` up to date."""
    if not code.strip():
        return code
    return f"{var}_prev = {var}\n{code}\n{sumvar}_post += {var} - {var}_prev"


@dataclass
class STDPNetwork:
    """Handles on the Brian2 objects of one built network."""

    net: Network
    inp: NeuronGroup
    exc: NeuronGroup
    inh: NeuronGroup
    ctrl: NeuronGroup
    s_in: Synapses
    stim: TimedArray
    exc_spikes: SpikeMonitor
    accepts: EventMonitor
    retries: EventMonitor
    protocol: Protocol
    n_exc: int
    slots: int
    #: Synapse ``k`` of ``s_in`` is synapse ``s_in_order[k]`` of the canonical (input-major)
    #: order in which states and checkpoints hold ``s_in`` variables.
    s_in_order: np.ndarray | None = None
    initial_state: dict = field(default_factory=dict)
    #: With `build`'s `snapshot`: ``'group.var'`` -> a view of its copy.
    snapshots: dict = field(default_factory=dict)
    #: With `build`'s `trace`: population -> `TraceMonitors`.
    traces: dict = field(default_factory=dict)
    #: The variables of ``s_in`` carried between chunks (`_synapse_carried`).
    s_in_carried: list[str] = field(default_factory=list)

    def to_network(self, key: str, values: np.ndarray) -> np.ndarray:
        """A state array in the network's synapse order (``s_in`` variables are permuted)."""
        if key.startswith("s_in.") and self.s_in_order is not None:
            return np.asarray(values)[self.s_in_order]
        return values

    def from_network(self, key: str, values: np.ndarray) -> np.ndarray:
        """The inverse of `to_network`."""
        if key.startswith("s_in.") and self.s_in_order is not None:
            out = np.empty_like(values)
            out[self.s_in_order] = values
            return out
        return values

    def state_views(self) -> dict:
        """``'group.var'`` -> variable view of everything carried between chunks."""
        views = {}
        for group in (self.inp, self.exc, self.inh):
            for name in _carried(group):
                views[f"{group.name}.{name}"] = getattr(group, name)
        for name in self.s_in_carried:
            views[f"s_in.{name}"] = getattr(self.s_in, name)
        for name in CTRL_STATE:
            views[f"ctrl.{name}"] = getattr(self.ctrl, name)
        return views


def _carried(group) -> list[str]:
    """State variables of a neuron group that persist over time (not linked, not constants);
    those of ``s_in``: `_synapse_carried`."""
    eqs = group.equations
    names = []
    for name in sorted(eqs.diff_eq_names | eqs.parameter_names):
        flags = eqs[name].flags
        # lastspike/not_refractory are left out: each standalone run restarts t at 0, and a
        # chunk ends after a rest longer than any refractory period.
        if (
            "linked" in flags
            or "constant" in flags
            or name in ("plastic", "lastspike", "not_refractory", "n_fired", "norm_factor")
            or name.endswith("_snap")  # a snapshot's copies and flag (`build`'s `snapshot`)
            or name == "snapflag"
        ):
            continue
        names.append(name)
    return names


def reset_variables(model) -> list[str]:
    """Variables of a neuron model that a reset between samples sets back: those of its
    differential equations that go on changing in frozen runs (the ones whose derivative
    involves ``plastic``, theta, are frozen there and keep their trained values)."""
    eqs = model.eqs
    return [
        name for name in sorted(eqs.diff_eq_names) if "plastic" not in eqs[name].expr.identifiers
    ]


def reset_code(model, initial: dict) -> tuple[str, str]:
    """Equations and code of the reset between samples of a group of `model` neurons.

    Each variable of `reset_variables` goes back to its initial value (`initial`: the model
    file's ``initial`` block, kept per neuron in a constant ``<var>_start``) or to 0 where the
    file gives none, but only where ``plastic`` is 0: ``plastic * x + (1 - plastic) * x0`` is
    exactly x when training and exactly x0 when frozen, so training runs are unchanged.
    """
    equations, code = [], []
    for name in reset_variables(model):
        dim = model.eqs[name].dim
        if name in initial:
            equations.append(f"{name}_start : {_unit(dim)} (constant)")
            start = f"{name}_start"
        else:
            start = "0" if dim is DIMENSIONLESS else f"0 * {get_unit(dim)!r}"
        code.append(f"{name} = plastic * {name} + (1 - plastic) * {start}")
    return "\n".join(equations), "\n".join(code)


def _add_reset(group, model, initial: dict, protocol: Protocol) -> None:
    """Set `group` back to its initial values at the start of every presentation slot (before
    any other start-of-slot operation) in frozen runs."""
    _, code = reset_code(model, initial)
    for name in reset_variables(model):
        if name in initial:
            setattr(group, f"{name}_start", initial[name])
    group.run_regularly(code, dt=protocol.slot, when="start", order=-1, name=f"{group.name}_reset")


def _refractory_text(model) -> str:
    """``t_ref = 5. ms`` (a parameter) or ``5. ms`` (a time): how the file gives the period."""
    value = model.refractory_time()
    return f"{model.refractory} = {value}" if isinstance(model.refractory, str) else str(value)


def check_protocol(models: Models, protocol: Protocol) -> None:
    """The rest period must let refractoriness and delayed spikes end before a chunk boundary.

    Raises
    ------
    ConfigError
        Naming ``stdp.protocol.rest`` and the longest of the values it must exceed, with the
        file that sets it (an edited ``t_ref`` is found there, not only in the configuration).
    """
    spans = [
        (
            float(m.refractory_time() or 0),
            f"the refractory period of {m.path} ({_refractory_text(m)})",
        )
        for m in (models.exc, models.inh)
    ]
    syn = models.input_exc
    params = {name: float(v) for name, v in syn.parameters.items()}
    bound = checks.drawn_bound(syn.delay, params) if syn.delay else None
    if bound is not None:
        named = [n for n in params if n in get_identifiers(syn.delay)]
        given = (
            f"{named[0]} = {syn.parameters[named[0]]}"  # as a refractory period is named
            if len(named) == 1 and params[named[0]] == bound
            else f"'{syn.delay}': up to {bound * 1e3:.3g} ms"
        )
        spans.append((bound, f"the input delays of {syn.path} ({given})"))
    longest, what = max(spans, key=lambda span: span[0])
    _check_rest(protocol, longest, what)


def _check_rest(protocol: Protocol, longest: float, what: str) -> None:
    """Refuse a rest period not longer than `longest` seconds, `what` (named in the message)."""
    if float(protocol.rest) <= longest:
        raise ConfigError(
            THE_CONFIGURATION,
            "stdp.protocol.rest",
            f"must be longer than the refractory periods and input delays: {protocol.rest} is "
            f"not longer than {what}",
        )


def _check_delays(models: Models, protocol: Protocol, delays) -> None:
    """The input delays as drawn against the rest period: `check_protocol` bounds them only
    where the expression is of parameters and ``rand()`` alone; one of ``i``, ``j`` or
    ``randn()`` is checked here, as the network is built."""
    if delays is None or not len(delays):
        return
    longest = float(np.max(delays))
    what = (
        f"the input delays of {models.input_exc.path} (up to {longest * 1e3:.3g} ms, "
        f"'{models.input_exc.delay}')"
    )
    _check_rest(protocol, longest, what)


def build(
    models: Models,
    protocol: Protocol,
    n_exc: int,
    slots: int,
    seed: int,
    samples: int,
    snapshot: bool = False,
    trace: bool = False,
) -> STDPNetwork:
    """Build the network for chunks of `slots` presentation slots and at most `samples`
    samples (one row of stimulus each).

    With `snapshot` (the CUDA backend, whose device code cannot end a run early: a chunk runs
    all its slots, the spare ones idle), every carried variable is copied at the first step
    after the last sample's slot (`SNAPSHOT`): the state at which C++ stops, which the
    simulator then reads instead of the state at the end of the idle slots.

    With `trace` (for parity tests between backends; results are the same), the variables
    the excitatory and inhibitory thresholds test are recorded at every step, just before the
    threshold, and the inhibitory spikes too (`TraceMonitors`, read by
    `bioclf.stdp.simulate.Simulator.run_chunk` into `bioclf.stdp.parity.Trace`).

    Call `bioclf.brian.backends.activate` first. Initial values are drawn in numpy from `seed`
    and kept in ``initial_state`` (SI floats), ready to be passed to the first run.
    """
    if n_exc <= 0:
        raise ConfigError(
            THE_CONFIGURATION, "n_exc", f"must be a positive number of neurons, got {n_exc}"
        )
    check_protocol(models, protocol)
    rng = np.random.default_rng(seed)
    p = protocol
    var, total = models.input_exc.normalize
    sumvar = sum_variable(models)

    # --- controller -------------------------------------------------------------------------
    ctrl_ns = {
        "slot_steps": p.slot_steps,
        "present_steps": p.present_steps,
        "min_spikes": p.min_spikes,
        "max_intensity": p.max_intensity,
        "base_intensity": p.base_intensity,
        **HASH_FUNCTIONS,
        **CONTROL,
    }
    ok = "spike_count >= min_spikes or intensity >= max_intensity"
    decide = "t_in_timesteps % slot_steps == present_steps and sample < n_avail"
    ctrl = NeuronGroup(
        1,
        """
        sample : 1          # index (in this chunk) of the sample being shown
        rep : 1             # how many times it has been shown already
        intensity : 1       # current input intensity
        spike_count : 1     # excitatory spikes in the current presentation
        stopped : 1         # set when all samples are done: the run ends at the slot's end
        n_avail : 1 (shared, constant)   # samples in this chunk's stimulus
        offset : 1 (shared, constant)    # position of the chunk's first sample in the epoch
        base_key : 1 (shared, constant)  # hash of (seed, split, epoch)
        """
        + (SNAPSHOT_CTRL if snapshot else ""),
        events={
            "accept": f"({decide}) and ({ok})",
            "retry": f"({decide}) and not ({ok})",
            "finish": "t_in_timesteps % slot_steps == slot_steps - 1 and sample >= n_avail",
        },
        namespace=ctrl_ns,
        name="ctrl",
    )
    ctrl.run_on_event("accept", "sample += 1\nrep = 0\nintensity = base_intensity\nspike_count = 0")
    ctrl.run_on_event("retry", "rep += 1\nintensity += 1\nspike_count = 0")
    ctrl.run_on_event(
        "finish", "stopped = bioclf_stop(i)" + ("\nsnapnow = 1 - snapped\nsnapped = 1" * snapshot)
    )
    ctrl.intensity = p.base_intensity

    # --- Poisson input ----------------------------------------------------------------------
    # Each pixel fires in a step with probability p_fire (a Bernoulli process, as before), but
    # the steps are drawn by skipping ahead: the wait until the next spike is geometric,
    # ceil(log(1 - u) / log(1 - p)) steps, drawn at the start of the presentation and after
    # each spike (`bioclf.encoding.skip_spikes` is the numpy twin). The per-step work is then
    # one integer comparison per pixel, skipped in the rest period, instead of a hash per
    # pixel that can fire; the random numbers stay counter-based (stream key, step of the
    # draw, pixel), so the spikes do not depend on the backend or on the chunking.
    latency = p.encoding == "latency"
    # rate code: pixel rates (Hz); latency code: the intensities x themselves, so that the
    # in-network x * intensity / base_intensity rounds as numpy does (`latency_input_steps`)
    stim_unit = 1 if latency else Hz
    stim = TimedArray(np.zeros((samples, N_INPUT)) * stim_unit, dt=1 * ms, name="stim")
    pre_ext = models.input_exc.pre_neuron
    inp_ns = merge_namespaces(models.input_exc)
    inp_ns.update(HASH_FUNCTIONS)
    inp_ns.update(stim=stim, slot_steps=p.slot_steps, present_steps=p.present_steps)
    inp = NeuronGroup(
        N_INPUT,
        "\n".join([pre_ext.equations, INPUT_VARIABLES]),
        threshold="t_in_timesteps % slot_steps < present_steps and "
        "t_in_timesteps % slot_steps == next_step",
        reset="\n".join(
            [
                pre_ext.on_spike,
                # latency code: one spike per presentation, the next step is out of reach
                "next_step = 3 * slot_steps"
                if latency
                else _draw_next("t_in_timesteps % slot_steps + 1"),
                "n_fired += 1",
            ]
        ),
        method="exact",
        namespace=inp_ns,
        name="inp",
    )
    zeros = np.zeros(N_INPUT, dtype=int)
    for name in ("sample", "rep", "intensity"):
        setattr(inp, name, linked_var(ctrl, name, index=zeros))
    for name in ("n_avail", "offset", "base_key"):
        setattr(inp, name, linked_var(ctrl, name))
    new_slot = (
        _latency_step(p.base_intensity)
        if latency
        else "p_fire = int(sample < n_avail) * stim(sample*ms, i) * intensity * dt\n"
        "stream = bioclf_hash(bioclf_hash(base_key, offset + sample), rep)\n"
        "log1mp = log(1 - p_fire) - int(p_fire == 0)\n" + _draw_next("0")
    )
    inp.run_regularly(
        new_slot,
        dt=p.slot,
        when="start",
        order=2,
        name="inp_new_slot",
    )

    # --- excitatory and inhibitory layers ---------------------------------------------------
    exc_ns = merge_namespaces(models.exc, models.input_exc)
    exc_init = initial_values(models.exc, n_exc, exc_ns, rng)
    reset = p.reset_between_samples
    exc = neuron_group(
        models.exc,
        n_exc,
        "exc",
        rng,
        extensions=[(models.input_exc, models.input_exc.post_neuron)],
        extra_equations="\n".join(
            [f"{sumvar} : 1\nnorm_factor : 1\nplastic : 1 (shared, constant)"]
            + ([reset_code(models.exc, exc_init)[0]] if reset else [])
            # the snapshot flag, and a copy of it that s_in's copy can read (as snapflag_post)
            + (["snapnow : 1 (linked)\nsnapflag : 1"] if snapshot else [])
        ),
        initial=exc_init,
    )
    inh_init = initial_values(models.inh, n_exc, models.inh.namespace(), rng)
    inh = neuron_group(
        models.inh,
        n_exc,
        "inh",
        rng,
        extra_equations="\n".join(
            ["n_fired : 1  # spikes in this chunk (for cost estimates)"]
            # the inhibitory neurons learn nothing: their flag only switches the reset
            + (
                ["plastic : 1 (shared, constant)", reset_code(models.inh, inh_init)[0]]
                if reset
                else []
            )
        ),
        extra_reset="n_fired += 1",
        initial=inh_init,
    )
    if snapshot:
        exc.snapnow = linked_var(ctrl, "snapnow", index=np.zeros(n_exc, dtype=int))
    if reset:
        _add_reset(exc, models.exc, exc_init, p)
        _add_reset(inh, models.inh, inh_init, p)

    # --- synapses ---------------------------------------------------------------------------
    pre_idx, post_idx = connect_indices(models.input_exc, N_INPUT, n_exc)
    in_init = synapse_initial_values(models.input_exc, (pre_idx, post_idx), (N_INPUT, n_exc), rng)
    _check_delays(models, p, in_init.get("delay"))
    order = delay_order(pre_idx, post_idx, in_init.get("delay"), p.dt)
    in_dims = {**models.input_exc.eqs.dimensions, "lastupdate": second.dim}
    in_carried = _synapse_carried(models.input_exc)
    s_in = synapses(
        models.input_exc,
        inp,
        exc,
        "s_in",
        rng,
        on_pre=_wrap_with_sum(models.input_exc.on_pre, var, sumvar),
        on_post=_wrap_with_sum(models.input_exc.on_post, var, sumvar),
        extra_model="\n".join(f"{x}_snap : {_unit(in_dims[x])}" for x in in_carried)
        if snapshot
        else "",
        initial={name: value[order] for name, value in in_init.items()},
        indices=(pre_idx[order], post_idx[order]),
    )
    # Column sums of the initial weights, then kept current by the wrapped STDP code.
    w0 = np.asarray(in_init[var], dtype=float)
    colsum0 = np.bincount(post_idx, weights=w0, minlength=n_exc)
    exc_init[sumvar] = colsum0
    setattr(exc, sumvar, colsum0)
    # Rescale every column to `total` before each presentation; with plastic = 0 the factor is
    # exactly 1, so labelling and testing leave the weights untouched. The factor is computed
    # once per neuron, then applied to its synapses.
    exc.run_regularly(
        f"norm_factor = 1 - plastic + plastic * {total} / {sumvar}\n"
        f"{sumvar} = {sumvar} * (1 - plastic) + plastic * {total}",
        dt=p.slot,
        when="start",
        order=0,
        name="exc_norm_factor",
    )
    s_in.run_regularly(
        f"{var} = {var} * norm_factor_post",
        dt=p.slot,
        when="start",
        order=1,
        name="s_in_normalize",
    )
    s_ei = synapses(models.exc_inh, exc, inh, "s_ei", rng)
    s_ie = synapses(models.inh_exc, inh, exc, "s_ie", rng)
    s_count = Synapses(
        exc,
        ctrl,
        on_pre="spike_count_post += int(t_in_timesteps % slot_steps < present_steps)",
        namespace={"slot_steps": p.slot_steps, "present_steps": p.present_steps},
        name="s_count",
    )
    s_count.connect(i=np.arange(n_exc), j=np.zeros(n_exc, dtype=int))
    exc_spikes = SpikeMonitor(exc, name="exc_spikes")
    watched = ["sample", "rep", "intensity", "spike_count"]
    accepts = EventMonitor(ctrl, "accept", variables=watched, name="accepts")
    retries = EventMonitor(ctrl, "retry", variables=watched, name="retries")
    net = Network(inp, exc, inh, ctrl, s_in, s_ei, s_ie, s_count, exc_spikes, accepts, retries)
    snapshots = _add_snapshots(net, ctrl, (inp, exc, inh), s_in, in_carried, p) if snapshot else {}
    traces = {}
    if trace:
        for group, model, spikes in ((exc, models.exc, exc_spikes), (inh, models.inh, None)):
            traces[group.name] = _add_trace(net, group, model, spikes)

    initial = {}
    for name, value in exc_init.items():
        initial[f"exc.{name}"] = _si(value)
    for name, value in inh_init.items():
        initial[f"inh.{name}"] = _si(value)
    # the synapses' initial values in the canonical order, as their file sets them (every
    # other carried variable starts at 0, as Brian2 starts it)
    for name, value in in_init.items():
        initial[f"s_in.{name}"] = np.asarray(value, dtype=float)
    initial[f"s_in.{var}"] = w0
    initial["ctrl.sample"] = np.zeros(1)
    initial["ctrl.rep"] = np.zeros(1)
    initial["ctrl.intensity"] = np.full(1, p.base_intensity)
    initial["ctrl.spike_count"] = np.zeros(1)
    built = STDPNetwork(
        net=net,
        inp=inp,
        exc=exc,
        inh=inh,
        ctrl=ctrl,
        s_in=s_in,
        stim=stim,
        exc_spikes=exc_spikes,
        accepts=accepts,
        retries=retries,
        protocol=p,
        n_exc=n_exc,
        slots=slots,
        s_in_order=order,
        snapshots=snapshots,
        traces=traces,
        s_in_carried=in_carried,
    )
    sizes = {"inp": N_INPUT, "exc": n_exc, "inh": n_exc, "s_in": len(pre_idx), "ctrl": 1}
    built.initial_state = {
        key: np.broadcast_to(initial.get(key, 0.0), (sizes[key.split(".")[0]],)).astype(float)
        for key in built.state_views()
    }
    return built


@dataclass
class TraceMonitors:
    """What `build`'s `trace` records of one population: the values its threshold tests
    (`state`, None where the threshold is not one comparison: `parity.threshold_sides`) and
    its spikes, with what turns them into threshold margins."""

    state: StateMonitor | None
    spikes: SpikeMonitor
    sides: tuple[str, str] | None
    namespace: dict


def _add_trace(net, group, model, spikes) -> TraceMonitors:
    from bioclf.stdp.parity import threshold_sides

    sides = threshold_sides(model.threshold)
    state = None
    if sides is not None:
        names = sorted(
            (get_identifiers(sides[0]) | get_identifiers(sides[1])) & set(group.equations.names)
        )
        # before the thresholder (order 0 of the slot), after the state update: the values
        # the threshold tests
        state = StateMonitor(
            group, names, record=True, when="thresholds", order=-1, name=f"{group.name}_trace"
        )
        net.add(state)
    if spikes is None:
        spikes = SpikeMonitor(group, name=f"{group.name}_spikes")
        net.add(spikes)
    return TraceMonitors(state, spikes, sides, merge_namespaces(model))


#: The controller's flags of a snapshot: ``snapnow`` is 1 from the end of the last sample's
#: slot to the copy at the start of the next one, ``snapped`` from the end of that slot on
#: (also where the run ends with it and no copy is made: `Simulator.run_chunk` then reads the
#: run's end, which is that state).
SNAPSHOT_CTRL = """
snapnow : 1
snapped : 1
"""


def _unit(dim) -> str:
    """A dimension as a unit Brian2's equations accept (SI base: values are copied exactly)."""
    return "1" if dim is DIMENSIONLESS else repr(get_unit(dim))


def _synapse_carried(syn) -> list[str]:
    """The synaptic variables of `syn` carried between chunks: not linked, not constants; its
    event-driven variables and, where it has any, the time of their last update (`LASTUPDATE`),
    which Brian2 keeps out of the built group's ``equations``."""
    eqs = syn.eqs
    names = [
        n
        for n in sorted(eqs.diff_eq_names | eqs.parameter_names)
        if "constant" not in eqs[n].flags and "linked" not in eqs[n].flags
    ]
    event_driven = any("event-driven" in eqs[n].flags for n in eqs.diff_eq_names)
    return sorted([*names, "lastupdate"]) if event_driven else names


def _add_snapshots(net, ctrl, groups, s_in, s_in_carried: list[str], p: Protocol) -> dict:
    """Copy every carried variable at the start of the slot after the last sample's (`build`'s
    `snapshot`), before anything else runs in that step: the state C++ stops at. Neuron
    groups and the controller get a holder group of linked variables and copies; ``s_in`` has
    its copies (``<var>_snap``) in its model. Returns ``'group.var'`` -> a view of the copy."""
    copies = {}
    carried = [(g, _carried(g)) for g in groups] + [(ctrl, list(CTRL_STATE))]
    for group, names in carried:
        lines = [f"{x} : {_unit(group.variables[x].dim)} (linked)" for x in names]
        lines += [f"{x}_snap : {_unit(group.variables[x].dim)}" for x in names]
        lines.append("snapnow : 1 (linked)")
        holder = NeuronGroup(len(group), "\n".join(lines), name=f"{group.name}_snapshot")
        for x in names:
            setattr(holder, x, linked_var(group, x))
        holder.snapnow = linked_var(ctrl, "snapnow", index=np.zeros(len(group), dtype=int))
        holder.run_regularly(
            "\n".join(f"{x}_snap = {x}_snap * (1 - snapnow) + {x} * snapnow" for x in names),
            dt=p.slot, when="start", order=-3, name=f"{group.name}_snapshot_copy",
        )  # fmt: skip
        net.add(holder)
        copies.update({f"{group.name}.{x}": getattr(holder, f"{x}_snap") for x in names})
    exc = next(g for g in groups if g.name == "exc")
    exc.run_regularly("snapflag = snapnow", dt=p.slot, when="start", order=-4, name="exc_snapflag")
    names = s_in_carried
    c = "snapflag_post"
    # (the time of the last update is copied relative to the copy's time: `LASTUPDATE`)
    value = {x: "(lastupdate - t)" if x == "lastupdate" else x for x in names}
    s_in.run_regularly(
        "\n".join(f"{x}_snap = {x}_snap * (1 - {c}) + {value[x]} * {c}" for x in names),
        dt=p.slot, when="start", order=-3, name="s_in_snapshot_copy",
    )  # fmt: skip
    copies.update({f"s_in.{x}": getattr(s_in, f"{x}_snap") for x in names})
    # after the copies, before the slot's normalisation (order 0) and new input (order 2)
    ctrl.run_regularly("snapnow = 0", dt=p.slot, when="start", order=-2, name="ctrl_snapped")
    return copies


def _draw_next(counter: str) -> str:
    """Statements that set ``next_step``, the next step at which a pixel fires.

    A geometric wait is drawn with the random number of (stream, `counter`, pixel); `counter`
    is 0 at the start of a presentation and the spike's step + 1 after a spike, so the first
    spike falls on step ``wait - 1`` and later ones ``wait`` steps after the previous one.
    Steps outside the presentation (or a pixel that cannot fire) become unreachable.
    """
    u = f"bioclf_uniform(bioclf_hash(stream, {counter}), i)"
    wait = f"clip(ceil(log(1 - {u}) / log1mp), 1, 2 * slot_steps)"
    return (
        f"next_step = int(({counter}) - 1 + {wait})\n"
        "next_step += int(next_step >= present_steps or p_fire == 0) * 2 * slot_steps"
    )


def _latency_step(base_intensity: float) -> str:
    """Statements that set ``next_step`` to the pixel's one spike step of a latency-coded
    presentation (`latency_input_steps` is the numpy twin), unreachable where it stays silent."""
    x = f"int(sample < n_avail) * stim(sample*ms, i) * intensity / {float(base_intensity)!r}"
    return (
        f"next_step = int(bioclf_latency({x}, present_steps))\n"
        "next_step += int(next_step < 0) * (3 * slot_steps + 1)"
    )


def latency_input_steps(images: np.ndarray, intensity: float, protocol: Protocol) -> np.ndarray:
    """Spike step of each pixel in a latency-coded presentation (-1: silent), as in-network.

    The pixel's intensity is scaled by ``intensity / base_intensity`` (clipped at 1 by the
    code): a repeat at a higher intensity makes pixels fire earlier, each still once.
    """
    x = np.asarray(images, dtype=np.float64) * float(intensity) / float(protocol.base_intensity)
    return latency_steps(x, protocol.present_steps)


def delay_order(pre: np.ndarray, post: np.ndarray, delay, dt) -> np.ndarray:
    """Creation order of the input synapses: by input neuron, then delay in steps, then target.

    Brian2 queues each delayed synapse separately. With the synapses of an input neuron sorted
    by delay, those due at the same step have consecutive indices, so on ``cpp`` the patched
    spike queue files them as one range (`bioclf.brian.cpp_patches`) and their ``on_pre`` code
    walks the arrays in order. Within an input and a delay the targets stay in order, so
    every step's queue, and thus every result, is the same as with input-major creation.
    """
    if delay is None:
        return np.lexsort((post, pre))
    steps = np.floor(np.asarray(delay, dtype=float) / float(dt) + 0.5)
    return np.lexsort((post, steps, pre))


def _si(value) -> np.ndarray:
    """SI floats of a quantity (numpy drops the units)."""
    return np.asarray(value, dtype=float)
