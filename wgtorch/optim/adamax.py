"""`Adamax`: Adam with the infinity norm in place of the root mean square."""

from __future__ import annotations

from .._creation import zeros_like
from ..autograd.grad_mode import no_grad
from ..ops.pointwise import pointwise
from .optimizer import Optimizer, advance_step, check_betas, check_flags, check_range, lerp_, prepared_grad


class Adamax(Optimizer):
    """Like ``torch.optim.Adamax`` (Kingma & Ba, 2014, section 7): at step ``t``, with ``g`` the
    gradient (negated when ``maximize``) plus ``weight_decay * p``::

        m = lerp(m, g, 1 - beta1)
        u = max(beta2 * u, |g| + eps)
        p -= lr / (1 - beta1**t) * m / u

    State per parameter: ``step`` (a float32 cpu tensor), ``exp_avg`` (m) and ``exp_inf`` (u).
    The update is a few tensor ops on every device; ``foreach`` and ``capturable`` are accepted
    for compatibility.
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        check_range(lr, "learning rate")
        check_range(eps, "epsilon value")
        check_betas(betas)
        check_range(weight_decay, "weight_decay value")
        check_flags("Adamax", foreach=foreach, differentiable=differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with no_grad():
            for group in self.param_groups:
                lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
                beta1, beta2 = (float(b) for b in group["betas"])
                maximize = bool(group["maximize"])
                for p, g in self._params_with_grad(group):
                    state = self.state[p]
                    if "exp_avg" not in state:
                        state["step"] = None
                        state["exp_avg"] = zeros_like(p)
                        state["exp_inf"] = zeros_like(p)
                    t = advance_step(state)
                    exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
                    g = prepared_grad(p, g, weight_decay, maximize)
                    lerp_(exp_avg, g, 1 - beta1)
                    exp_inf.copy_(pointwise("maximum", exp_inf * beta2, g.abs() + eps))
                    p.add_(exp_avg / exp_inf, alpha=-lr / (1 - beta1 ** t))
        return loss
