"""One time step of a compiled neuron, as a pure function of an explicit state.

The state is a dict of tensors, one per variable of the model (SI units) plus ``_refractory``
(remaining refractory steps) when the refractory period spans more than one step. See
`bioclf.surrogate.compile` for the order of operations, which is Brian2's.
"""

from __future__ import annotations

import torch

from bioclf.surrogate import kernels
from bioclf.surrogate.compiled import CompiledNeuron
from bioclf.surrogate.functional import surrogate as surrogates
from bioclf.surrogate.functional.surrogate import heaviside, surrogate_grad

State = dict[str, torch.Tensor]


def _args(neuron: CompiledNeuron, state: State) -> list[torch.Tensor]:
    return [state[name] for name in neuron.state_names]


def apply_input(neuron: CompiledNeuron, state: State, x: torch.Tensor) -> State:
    """Feed the input of one step to the model's input variable.

    Parameters
    ----------
    neuron : CompiledNeuron
    state : dict of Tensor
        The state before the step (left as it is).
    x : Tensor
        Input in network units: times ``neuron.input_scale``, it replaces the input variable
        (``input_mode`` 'set') or is added to it ('increment').

    Returns
    -------
    dict of Tensor
        A copy of `state` with the new input.
    """
    s = dict(state)
    current = x * neuron.input_scale
    if neuron.input_mode == "set":
        s[neuron.input_name] = current
    else:
        s[neuron.input_name] = s[neuron.input_name] + current
    return s


def integrate(neuron: CompiledNeuron, state: State, active: torch.Tensor | None) -> State:
    """Advance the differential variables by one step (Brian2's state updater).

    Variables flagged ``(unless refractory)`` keep their value where `active` is False.
    """
    new = neuron.update(*_args(neuron, state))
    out = dict(state)
    for name, value in zip(neuron.diff_names, new, strict=True):
        if not torch.is_tensor(value) or value.shape != state[name].shape:
            value = torch.as_tensor(
                value, dtype=state[name].dtype, device=state[name].device
            ).expand_as(state[name])
        if active is not None and name in neuron.unless_refractory:
            value = torch.where(active, value, state[name])
        out[name] = value
    return out


def apply_reset(neuron: CompiledNeuron, state: State, spiked: torch.Tensor) -> State:
    """Run the reset statements, in order, where `spiked` (bool) is True."""
    out = dict(state)
    for name, fn in neuron.resets:
        (value,) = fn(*_args(neuron, out))
        if not torch.is_tensor(value):
            value = torch.as_tensor(value, dtype=out[name].dtype, device=out[name].device)
        out[name] = torch.where(spiked, value, out[name])
    return out


def step(
    neuron: CompiledNeuron,
    state: State,
    x: torch.Tensor,
    surrogate: str = "fast_sigmoid",
    slope: float | None = None,
) -> tuple[torch.Tensor, State]:
    """One time step.

    Parameters
    ----------
    neuron : CompiledNeuron
    state : dict of Tensor
        From `CompiledNeuron.initial_state` or a previous step.
    x : Tensor
        Input in network units (multiplied by ``neuron.input_scale``).
    surrogate, slope
        Surrogate derivative of the threshold (see `functional.surrogate.heaviside`).

    Returns
    -------
    spikes : Tensor
        0/1, same dtype as the state; differentiable through the surrogate.
    state : dict of Tensor
        The state after the step.
    """
    s = apply_input(neuron, state, x)
    refractory = s.get("_refractory")
    active = None if refractory is None else refractory <= 0
    s = integrate(neuron, s, active)
    (margin,) = neuron.margin(*_args(neuron, s))
    spikes = heaviside(margin / neuron.threshold_scale, surrogate, slope, neuron.strict)
    if active is not None:
        spikes = spikes * active
    spiked = spikes.detach() > 0
    s = apply_reset(neuron, s, spiked)
    if refractory is not None:
        # Brian2: refractory at steps s+1 .. s+k-1 after a spike at step s (k = refractory_steps)
        restart = torch.full_like(refractory, neuron.refractory_steps - 1)
        s["_refractory"] = torch.where(spiked, restart, (refractory - 1).clamp_(min=0))
    return spikes, s


def run(
    neuron: CompiledNeuron,
    inputs: torch.Tensor,
    state: State | None = None,
    surrogate: str = "fast_sigmoid",
    slope: float | None = None,
    record: tuple[str, ...] = (),
) -> tuple[torch.Tensor, State, dict[str, torch.Tensor]]:
    """Run `step` over the first axis of ``inputs`` (T, ...).

    Returns the spikes (T, ...), the final state and the recorded variables (T, ...).
    """
    if state is None:
        state = neuron.initial_state(inputs.shape[1:], dtype=inputs.dtype, device=inputs.device)
    spikes = []
    trace: dict[str, list] = {name: [] for name in record}
    for t in range(inputs.shape[0]):
        z, state = step(neuron, state, inputs[t], surrogate, slope)
        spikes.append(z)
        for name in record:
            trace[name].append(state[name])
    return (
        torch.stack(spikes),
        state,
        {name: torch.stack(values) for name, values in trace.items()},
    )


# --- fused time window: forward without autograd, hand-written backward ----------------------


def _eval(jacobian, args):
    """Values of the nonzero partial derivatives (floats or tensors)."""
    pairs, fn, _ = jacobian
    return list(zip(pairs, fn(*args), strict=True)) if fn is not None else []


def _accumulate(grads: dict, name: str, value) -> None:
    grads[name] = value if grads.get(name) is None else grads[name] + value


class _Window(torch.autograd.Function):
    """A whole time window of one population, with backpropagation through time written out.

    The forward pass is `step` repeated (same spikes, same state). The backward pass applies
    the chain rule with the symbolic partial derivatives that `compile_neuron` derived from
    the same expressions, and the surrogate derivative at the threshold; the reset's spike mask
    carries no gradient, as in `step`. No autograd graph is built per step, which is what
    makes it fast.
    """

    @staticmethod
    def forward(ctx, x, neuron: CompiledNeuron, surrogate: str, slope: float):
        state = neuron.initial_state(x.shape[1:], dtype=x.dtype, device=x.device)
        names = neuron.state_names
        before, after, actives, margins, spiked_all = [], [], [], [], []
        spikes = torch.empty_like(x)
        k_ref = neuron.refractory_steps
        for t in range(x.shape[0]):
            s = apply_input(neuron, state, x[t])
            refractory = s.get("_refractory")
            active = None if refractory is None else refractory <= 0
            before.append(s)
            s = integrate(neuron, s, active)
            after.append(s)
            (margin,) = neuron.margin(*[s[n] for n in names])
            margin = margin / neuron.threshold_scale
            spiked = margin > 0 if neuron.strict else margin >= 0
            if active is not None:
                spiked &= active
            spikes[t] = spiked
            s = apply_reset(neuron, s, spiked)
            if refractory is not None:
                s["_refractory"] = torch.where(
                    spiked, float(k_ref - 1), (refractory - 1).clamp_(min=0)
                )
            state = s
            actives.append(active)
            margins.append(margin)
            spiked_all.append(spiked)
        ctx.neuron, ctx.surrogate, ctx.slope = neuron, surrogate, slope
        ctx.saved = (before, after, actives, margins, spiked_all)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        neuron = ctx.neuron
        before, after, actives, margins, spiked_all = ctx.saved
        names = neuron.state_names
        diff = set(neuron.diff_names)
        grad_x = torch.empty_like(grad_spikes)
        lam: dict[str, torch.Tensor | None] = dict.fromkeys(names)
        for t in range(grad_spikes.shape[0] - 1, -1, -1):
            spiked, active = spiked_all[t], actives[t]
            # reset statements, last first (each is where(spiked, r(s), s[var]))
            if neuron.resets:
                chain = [after[t]]
                for name, fn in neuron.resets[:-1]:
                    chain.append(apply_reset_one(neuron, chain[-1], name, fn, spiked))
                for i in range(len(neuron.resets) - 1, -1, -1):
                    name = neuron.resets[i][0]
                    g = lam[name]
                    if g is None:
                        continue
                    lam[name] = g.masked_fill(spiked, 0.0)
                    g_spk = g.masked_fill(~spiked, 0.0)
                    args = [chain[i][n] for n in names]
                    for (_, j), d in _eval(neuron.reset_jacobians[i], args):
                        _accumulate(lam, names[j], g_spk * d)
            # threshold (surrogate derivative)
            g_m = grad_spikes[t] * surrogate_grad(margins[t], ctx.surrogate, ctx.slope)
            if active is not None:
                g_m = g_m.masked_fill(~active, 0.0)
            g_m = g_m / neuron.threshold_scale
            args = [after[t][n] for n in names]
            for (_, j), d in _eval(neuron.margin_jacobian, args):
                _accumulate(lam, names[j], g_m * d)
            # state update
            new: dict[str, torch.Tensor | None] = {n: lam[n] for n in names if n not in diff}
            g_upd: dict[str, torch.Tensor | None] = {}
            for name in neuron.diff_names:
                g = lam[name]
                if g is not None and active is not None and name in neuron.unless_refractory:
                    g_upd[name] = g.masked_fill(~active, 0.0)
                    _accumulate(new, name, g.masked_fill(active, 0.0))
                else:
                    g_upd[name] = g
            args = [before[t][n] for n in names]
            for (k, j), d in _eval(neuron.update_jacobian, args):
                g = g_upd[neuron.diff_names[k]]
                if g is not None:
                    _accumulate(new, names[j], g * d)
            lam = {n: new.get(n) for n in names}
            # input
            g_in = lam[neuron.input_name]
            if g_in is None:
                grad_x[t] = 0.0
            else:
                grad_x[t] = g_in * neuron.input_scale
            if neuron.input_mode == "set":
                lam[neuron.input_name] = None
        return grad_x, None, None, None


def apply_reset_one(neuron: CompiledNeuron, state: State, name: str, fn, spiked) -> State:
    out = dict(state)
    (value,) = fn(*_args(neuron, out))
    if not torch.is_tensor(value):
        value = torch.as_tensor(value, dtype=out[name].dtype, device=out[name].device)
    out[name] = torch.where(spiked, value, out[name])
    return out


def fused_available(neuron: CompiledNeuron) -> bool:
    """Whether `run_fused` can differentiate this model (sympy derived all Jacobians)."""
    return neuron.update_jacobian is not None


def run_fused(
    neuron: CompiledNeuron,
    inputs: torch.Tensor,
    surrogate: str = "fast_sigmoid",
    slope: float | None = None,
) -> torch.Tensor:
    """Spikes (T, ...) of `run` from the initial state, with the fused backward pass."""
    if not fused_available(neuron):
        return run(neuron, inputs, surrogate=surrogate, slope=slope)[0]
    slope = surrogates.get(surrogate).default_slope if slope is None else float(slope)
    return _Window.apply(inputs, neuron, surrogate, slope)


class _KernelWindow(torch.autograd.Function):
    """`_Window` computed by the generated C kernel (`bioclf.surrogate.kernels`)."""

    @staticmethod
    def forward(ctx, x, kernel, surrogate: str, slope: float):
        x = x.contiguous()
        spikes, saved = kernel.forward(x)
        ctx.kernel, ctx.surrogate, ctx.slope = kernel, surrogate, slope
        ctx.save_for_backward(*saved)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        saved = ctx.saved_tensors
        grad_x = ctx.kernel.backward(grad_spikes, saved, ctx.surrogate, ctx.slope)
        return grad_x, None, None, None


def run_kernel(
    neuron: CompiledNeuron,
    inputs: torch.Tensor,
    surrogate: str = "fast_sigmoid",
    slope: float | None = None,
) -> torch.Tensor:
    """Spikes (T, ...) of `run_fused` computed by the generated kernel: the C kernel on CPU
    tensors, the CUDA kernel on CUDA tensors (`bioclf.surrogate.cuda_kernels`); `run_fused`
    itself where no kernel builds (or, on CUDA, where it does not agree with the CPU's)."""
    if inputs.device.type == "cpu":
        kernel = kernels.kernel_for(neuron)
    elif inputs.device.type == "cuda":
        from bioclf.surrogate.cuda_kernels import cuda_kernel_for

        kernel = cuda_kernel_for(neuron, inputs.device)
    else:
        kernel = None
    if kernel is None:
        return run_fused(neuron, inputs, surrogate, slope)
    slope = surrogates.get(surrogate).default_slope if slope is None else float(slope)
    return _KernelWindow.apply(inputs, kernel, surrogate, slope)
