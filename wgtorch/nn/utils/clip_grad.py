"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``.

The total norm stays on the device and the scale ``min(1, max_norm / (norm + 1e-6))`` is
applied as a tensor, so clipping needs no host round trip (unless ``error_if_nonfinite``).
"""

from __future__ import annotations

import math

from ..._creation import tensor
from ..._tensor_class import Tensor
from ...autograd.grad_mode import no_grad


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


@no_grad()
def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale the gradients in place so that their combined ``norm_type``-norm is at most
    ``max_norm``; returns the norm before clipping (a 0-d tensor on the first gradient's device)."""

    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return tensor(0.0)
    device = grads[0].device
    if norm_type == math.inf:
        parts = [g.detach().abs().amax().to(device) for g in grads]
        total = parts[0]
        for p in parts[1:]:
            total = total.maximum(p)
    else:
        total = None
        for g in grads:
            g = g.detach()
            part = (g * g).sum() if norm_type == 2.0 else (g.abs() ** norm_type).sum()
            part = part.to(device)
            total = part if total is None else total + part
        total = total.sqrt() if norm_type == 2.0 else total ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(total.isfinite().item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is "
                           "non-finite, so it cannot be clipped. To disable this error and scale the "
                           "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.to(g.device).to(g.dtype))
    return total


@no_grad()
def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.clamp_(-clip_value, clip_value)
