"""`RAdam`: Adam whose adaptive step is rectified while its variance estimate is unreliable."""

from __future__ import annotations

import math

from .._creation import zeros_like
from ..autograd.grad_mode import no_grad
from ..ops.pointwise import where
from ._composite import adam_moments, one_minus_pow, param_steps, pow_of
from .optimizer import Optimizer, check_betas, check_flags, check_range


class RAdam(Optimizer):
    """Like ``torch.optim.RAdam`` (Liu et al., 2019): at step ``t``, with ``g`` the gradient
    (negated when ``maximize``) plus ``weight_decay * p`` (or, with ``decoupled_weight_decay``,
    ``p *= 1 - lr * weight_decay`` first)::

        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        rho_t > 5:  p -= lr * m_hat * sqrt(1 - beta2**t) / (sqrt(v) + eps) * r_t,
                    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        otherwise:  p -= lr * m_hat

    State per parameter: ``step`` (a float32 cpu tensor), ``exp_avg`` and ``exp_avg_sq``. The
    update is a few tensor ops on every device; ``foreach`` is accepted for compatibility.

    ``capturable=True`` (wgpu): ``step`` and the lr are 0-d device tensors, ``rho_t`` and both
    updates are computed on the device and ``where(rho_t > 5, ...)`` picks one (PyTorch's
    capturable formulas), so the step can be captured in a `wgtorch.wgpu.graph` and replayed; a
    capture of a ``capturable=False`` step raises RuntimeError. On cpu, ``capturable`` changes
    nothing.
    """

    _graph_safe = True  # capturable=True; see _composite.param_steps

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False):
        check_range(lr, "learning rate")
        check_range(eps, "epsilon value")
        check_betas(betas)
        check_range(weight_decay, "weight_decay value")
        check_flags("RAdam", foreach=foreach, differentiable=differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with no_grad():
            for t in param_steps(self, _init_state):
                group, p, lr, step = t.group, t.param, t.lr, t.step
                eps, weight_decay = float(group["eps"]), float(group["weight_decay"])
                beta1, beta2 = (float(b) for b in group["betas"])
                maximize = bool(group["maximize"])
                g, exp_avg, exp_avg_sq = adam_moments(t, weight_decay, beta1, beta2, maximize)
                rho_inf = 2 / (1 - beta2) - 1
                if t.capturable:
                    bias_correction2 = one_minus_pow(beta2, step)
                    m_hat = exp_avg / one_minus_pow(beta1, step)
                    rho_t = rho_inf - 2 * step * pow_of(beta2, step) / bias_correction2
                else:
                    bias_correction2 = 1 - beta2 ** step
                    m_hat = exp_avg / (1 - beta1 ** step)
                    rho_t = rho_inf - 2 * step * beta2 ** step / bias_correction2
                if t.capturable:
                    # PyTorch's capturable RAdam: both branches on the device, the rectified one
                    # selected by where (its factor is NaN while rho_t < 4, and then unused).
                    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                    adaptive = bias_correction2 ** 0.5 / (exp_avg_sq.sqrt() + eps)
                    update = where(rho_t > 5.0, rect * adaptive, 1.0)
                    p.sub_(m_hat * lr * update)
                elif rho_t > 5.0:  # the variance of the adaptive step is tractable: rectify it
                    rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                                     / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                    adaptive = math.sqrt(bias_correction2) / (exp_avg_sq.sqrt() + eps)
                    p.sub_(m_hat * lr * adaptive * rect)
                else:  # early steps: plain momentum SGD
                    p.sub_(m_hat * lr)
        return loss


def _init_state(p, state, group) -> None:
    if "exp_avg" not in state:
        state["step"] = None
        state["exp_avg"] = zeros_like(p)
        state["exp_avg_sq"] = zeros_like(p)
