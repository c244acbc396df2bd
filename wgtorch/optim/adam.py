"""`Adam` (with amsgrad, L2 or decoupled weight decay) and its state."""

from __future__ import annotations

from .._creation import zeros_like
from .optimizer import Optimizer, advance_step, check_betas, check_flags, check_range


class Adam(Optimizer):
    """Like ``torch.optim.Adam``: per parameter, with ``g`` the gradient (negated when
    ``maximize``) plus ``weight_decay * p`` (or, with ``decoupled_weight_decay``, ``p *= 1 - lr *
    weight_decay`` first, as AdamW)::

        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v) if amsgrad else v
        p -= lr / (1 - beta1**t) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)

    State per parameter: ``step`` (a float32 cpu tensor), ``exp_avg``, ``exp_avg_sq`` and with
    amsgrad ``max_exp_avg_sq``, on the parameter's device. One fused kernel per parameter on
    wgpu. ``foreach``, ``fused`` and ``capturable`` are accepted for compatibility.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False):
        check_range(lr, "learning rate")
        check_range(eps, "epsilon value")
        check_betas(betas)
        check_range(weight_decay, "weight_decay value")
        check_flags(type(self).__name__, foreach=foreach, fused=fused, differentiable=differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            amsgrad, maximize = bool(group["amsgrad"]), bool(group["maximize"])
            decoupled = bool(group.get("decoupled_weight_decay", False))
            for p, g in self._params_with_grad(group):
                state = self.state[p]
                if "exp_avg" not in state:
                    state["step"] = None
                    state["exp_avg"] = zeros_like(p)
                    state["exp_avg_sq"] = zeros_like(p)
                if amsgrad and "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = zeros_like(p)
                step = advance_step(state)
                vmax = state["max_exp_avg_sq"]._data if amsgrad else None
                p._be.adam_step(p._data, g._data, state["exp_avg"]._data, state["exp_avg_sq"]._data, vmax,
                                lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize)
        return loss
