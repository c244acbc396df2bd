"""`AdamW`: Adam with decoupled weight decay (Loshchilov & Hutter)."""

from __future__ import annotations

from .adam import Adam


class AdamW(Adam):
    """Like ``torch.optim.AdamW``: Adam whose weight decay shrinks the parameter directly,
    ``p *= 1 - lr * weight_decay``, instead of adding ``weight_decay * p`` to the gradient.
    Its default weight_decay is 1e-2."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
