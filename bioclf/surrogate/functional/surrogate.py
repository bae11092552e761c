"""Heaviside spike functions with surrogate gradients.

The forward pass is the exact step function of the threshold (so the spikes are those Brian2
emits); the backward pass replaces its derivative, a Dirac delta, by a smooth pseudo-derivative
of the normalised threshold margin ``x`` (``x > 0`` means above threshold):

``fast_sigmoid``
    ``1 / (slope * |x| + 1)**2`` (Zenke & Ganguli 2018, SuperSpike; snnTorch's
    ``surrogate.fast_sigmoid``), default slope 25.
``atan``
    ``(alpha / 2) / (1 + (pi / 2 * alpha * x)**2)`` (Fang et al. 2021; snnTorch's
    ``surrogate.atan``), default alpha 2.
"""

from __future__ import annotations

import math

import torch

SURROGATES = ("fast_sigmoid", "atan")
DEFAULT_SLOPE = {"fast_sigmoid": 25.0, "atan": 2.0}


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward, fast-sigmoid derivative backward."""

    @staticmethod
    def forward(ctx, x, slope: float, strict: bool):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (ctx.slope * x.abs() + 1.0) ** 2, None, None


class ATanSpike(torch.autograd.Function):
    """Heaviside forward, arctangent derivative backward."""

    @staticmethod
    def forward(ctx, x, alpha: float, strict: bool):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return grad * (a / 2) / (1 + (math.pi / 2 * a * x) ** 2), None, None


_FUNCTIONS = {"fast_sigmoid": FastSigmoidSpike, "atan": ATanSpike}


def heaviside(x: torch.Tensor, kind: str = "fast_sigmoid", slope: float | None = None, strict=True):
    """Spikes ``H(x)`` with the surrogate derivative `kind`.

    Parameters
    ----------
    x : Tensor
        Normalised threshold margin (positive above threshold).
    kind : {'fast_sigmoid', 'atan'}
    slope : float, optional
        Steepness (``slope`` of the fast sigmoid, ``alpha`` of atan); the default of `kind`.
    strict : bool
        ``x > 0`` (True, for thresholds written with ``>`` or ``<``) or ``x >= 0``.
    """
    if kind not in _FUNCTIONS:
        raise ValueError(f"unknown surrogate {kind!r}; use one of {SURROGATES}")
    slope = DEFAULT_SLOPE[kind] if slope is None else float(slope)
    return _FUNCTIONS[kind].apply(x, slope, strict)


def surrogate_grad(x: torch.Tensor, kind: str = "fast_sigmoid", slope: float | None = None):
    """The pseudo-derivative itself (for tests and plots)."""
    slope = DEFAULT_SLOPE[kind] if slope is None else float(slope)
    if kind == "fast_sigmoid":
        return 1.0 / (slope * x.abs() + 1.0) ** 2
    if kind == "atan":
        return (slope / 2) / (1 + (math.pi / 2 * slope * x) ** 2)
    raise ValueError(f"unknown surrogate {kind!r}; use one of {SURROGATES}")
