"""Heaviside spike functions with surrogate gradients.

The forward pass is the exact step function of the threshold (so the spikes are those Brian2
emits); the backward pass replaces its derivative, a Dirac delta, by a smooth pseudo-derivative
of the normalised threshold margin ``x`` (``x > 0`` means above threshold).

Each surrogate is one `Surrogate` entry of `REGISTRY`, which holds everything any path needs:
its default steepness, the backward pass in PyTorch and the same derivative in C for the
generated kernels (`bioclf.surrogate.kernels`). A name that is not registered is refused
everywhere (`get`), so a new surrogate cannot silently run as another one in a kernel.

``fast_sigmoid``
    ``1 / (slope * |x| + 1)**2`` (Zenke & Ganguli 2018, SuperSpike; snnTorch's
    ``surrogate.fast_sigmoid``), default slope 25.
``atan``
    ``(alpha / 2) / (1 + (pi / 2 * alpha * x)**2)`` (Fang et al. 2021; snnTorch's
    ``surrogate.atan``), default alpha 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Surrogate:
    """One surrogate derivative, in every form the simulators need.

    Attributes
    ----------
    name : str
    default_slope : float
        Steepness used when none is given.
    backward : callable
        ``backward(grad, x, slope)``: the incoming gradient times the pseudo-derivative at the
        normalised margin ``x`` (``grad`` may be the number 1.0 for the derivative itself).
    c_setup : str
        C statements computing helper values from ``double margin`` and ``double slope``.
    c_expr : str
        C expression of the pseudo-derivative, using ``margin``, ``slope`` and `c_setup`'s
        values.
    """

    name: str
    default_slope: float
    backward: Callable
    c_setup: str
    c_expr: str

    def derivative(self, x: torch.Tensor, slope: float) -> torch.Tensor:
        """The pseudo-derivative at `x`."""
        return self.backward(1.0, x, slope)


REGISTRY: dict[str, Surrogate] = {
    s.name: s
    for s in (
        Surrogate(
            name="fast_sigmoid",
            default_slope=25.0,
            backward=lambda grad, x, slope: grad / (slope * x.abs() + 1.0) ** 2,
            c_setup="const double a0 = slope * fabs(margin) + 1.0;",
            c_expr="1.0 / (a0 * a0)",
        ),
        Surrogate(
            name="atan",
            default_slope=2.0,
            backward=lambda grad, x, a: grad * (a / 2) / (1 + (math.pi / 2 * a * x) ** 2),
            c_setup="const double a1 = 1.5707963267948966 * slope * margin;",
            c_expr="0.5 * slope / (1.0 + a1 * a1)",
        ),
    )
}
SURROGATES = tuple(REGISTRY)
DEFAULT_SLOPE = {name: s.default_slope for name, s in REGISTRY.items()}


def get(kind: str) -> Surrogate:
    """The registered surrogate `kind`; ValueError for any other name."""
    if kind not in REGISTRY:
        raise ValueError(f"unknown surrogate {kind!r}; use one of {SURROGATES}")
    return REGISTRY[kind]


class _Spike(torch.autograd.Function):
    """Heaviside forward, the surrogate's derivative backward."""

    @staticmethod
    def forward(ctx, x, surrogate: Surrogate, slope: float, strict: bool):
        ctx.save_for_backward(x)
        ctx.surrogate, ctx.slope = surrogate, slope
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ctx.surrogate.backward(grad, x, ctx.slope), None, None, None


def heaviside(x: torch.Tensor, kind: str = "fast_sigmoid", slope: float | None = None, strict=True):
    """Spikes ``H(x)`` with the surrogate derivative `kind`.

    Parameters
    ----------
    x : Tensor
        Normalised threshold margin (positive above threshold).
    kind : str
        A name in `REGISTRY` ('fast_sigmoid', 'atan').
    slope : float, optional
        Steepness (``slope`` of the fast sigmoid, ``alpha`` of atan); the default of `kind`.
    strict : bool
        ``x > 0`` (True, for thresholds written with ``>`` or ``<``) or ``x >= 0``.
    """
    surrogate = get(kind)
    slope = surrogate.default_slope if slope is None else float(slope)
    return _Spike.apply(x, surrogate, slope, strict)


def surrogate_grad(x: torch.Tensor, kind: str = "fast_sigmoid", slope: float | None = None):
    """The pseudo-derivative itself (for the fused backward pass, tests and plots)."""
    surrogate = get(kind)
    slope = surrogate.default_slope if slope is None else float(slope)
    return surrogate.derivative(x, slope)
