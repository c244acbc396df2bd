"""`NAdam`: Adam with Nesterov momentum and a momentum schedule (Dozat, 2016)."""

from __future__ import annotations

import math

from .._creation import zeros_like
from ..autograd.grad_mode import no_grad
from ._composite import adam_moments, one_minus_pow, param_steps
from ._foreach import device_scalar
from .optimizer import (
    Optimizer,
    check_betas,
    check_flags,
    check_range,
    scalar_state,
)


class NAdam(Optimizer):
    """Like ``torch.optim.NAdam``: at step ``t``, with ``g`` the gradient (negated when
    ``maximize``) plus ``weight_decay * p`` (or, with ``decoupled_weight_decay``, ``p *= 1 - lr *
    weight_decay`` first, as in AdamW)::

        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        prod_t = mu_1 * ... * mu_t
        denom = sqrt(v / (1 - beta2**t)) + eps
        p -= lr * ((1 - mu_t) / (1 - prod_t) * g + mu_{t+1} / (1 - prod_t * mu_{t+1}) * m) / denom

    State per parameter: ``step`` and ``mu_product`` (float32 cpu tensors, as PyTorch keeps them:
    the product is rounded to float32 each step), ``exp_avg`` and ``exp_avg_sq``. The update is a
    few tensor ops on every device; ``foreach`` is accepted for compatibility.

    ``capturable=True`` (wgpu): ``step``, ``mu_product`` and the lr are 0-d device tensors and
    ``mu``, ``mu_next`` and the step sizes are computed from them on the device (PyTorch's
    capturable formulas), so the step can be captured in a `wgtorch.wgpu.graph` and replayed; a
    capture of a ``capturable=False`` step raises RuntimeError. On cpu, ``capturable`` changes
    nothing.
    """

    _graph_safe = True  # capturable=True; see _composite.param_steps

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        check_range(lr, "learning rate")
        check_range(eps, "epsilon value")
        check_betas(betas)
        check_range(weight_decay, "weight_decay value")
        check_range(momentum_decay, "momentum_decay value")
        check_flags("NAdam", foreach=foreach, differentiable=differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with no_grad():
            for t in param_steps(self, _init_state):
                group, p, state, lr, step = t.group, t.param, t.state, t.lr, t.step
                eps, weight_decay = float(group["eps"]), float(group["weight_decay"])
                beta1, beta2 = (float(b) for b in group["betas"])
                momentum_decay, maximize = float(group["momentum_decay"]), bool(group["maximize"])
                g, exp_avg, exp_avg_sq = adam_moments(t, weight_decay, beta1, beta2, maximize)
                if t.capturable:  # PyTorch's capturable formulas: every factor a 0-d device tensor
                    product = device_scalar(state, "mu_product", p, 1.0, t.cap)
                    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
                    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
                    product.mul_(mu)
                    denom = (exp_avg_sq / one_minus_pow(beta2, step)).sqrt() + eps
                    p.addcdiv_(g * (-lr * (1.0 - mu) / (1.0 - product)), denom)
                    p.addcdiv_(exp_avg * (-lr * mu_next / (1.0 - product * mu_next)), denom)
                    continue
                product = scalar_state(state, "mu_product", 1.0)
                mu = beta1 * (1 - 0.5 * math.pow(0.96, step * momentum_decay))
                mu_next = beta1 * (1 - 0.5 * math.pow(0.96, (step + 1) * momentum_decay))
                product._data[...] *= mu  # in float32, as PyTorch's tensor
                mu_product = float(product._data)
                denom = (exp_avg_sq / (1 - beta2 ** step)).sqrt() + eps
                p.add_(g / denom, alpha=-lr * (1 - mu) / (1 - mu_product))
                p.add_(exp_avg / denom, alpha=-lr * mu_next / (1 - mu_product * mu_next))
        return loss


def _init_state(p, state, group) -> None:
    if "exp_avg" not in state:
        state["step"] = state["mu_product"] = None
        state["exp_avg"] = zeros_like(p)
        state["exp_avg_sq"] = zeros_like(p)
