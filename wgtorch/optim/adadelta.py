"""`Adadelta`: per-coordinate steps from running averages of squared gradients and updates."""

from __future__ import annotations

from .._creation import zeros_like
from ..autograd.grad_mode import no_grad
from .optimizer import Optimizer, advance_step, check_flags, check_range, prepared_grad


class Adadelta(Optimizer):
    """Like ``torch.optim.Adadelta`` (Zeiler, 2012): with ``g`` the gradient (negated when
    ``maximize``) plus ``weight_decay * p``::

        v = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        p -= lr * delta

    State per parameter: ``step`` (a float32 cpu tensor), ``square_avg`` (v) and ``acc_delta``
    (u). The update is a few tensor ops, so it runs on every device. ``foreach`` and
    ``capturable`` are accepted for compatibility.
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach: bool | None = None, *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False):
        check_range(lr, "learning rate")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_range(eps, "epsilon value")
        check_range(weight_decay, "weight_decay value")
        check_flags("Adadelta", foreach=foreach, differentiable=differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with no_grad():
            for group in self.param_groups:
                lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
                weight_decay, maximize = float(group["weight_decay"]), bool(group["maximize"])
                for p, g in self._params_with_grad(group):
                    state = self.state[p]
                    if "square_avg" not in state:
                        state["step"] = None
                        state["square_avg"] = zeros_like(p)
                        state["acc_delta"] = zeros_like(p)
                    advance_step(state)
                    square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                    g = prepared_grad(p, g, weight_decay, maximize)
                    square_avg.mul_(rho).add_(g * g, alpha=1 - rho)
                    delta = (acc_delta + eps).sqrt() / (square_avg + eps).sqrt() * g
                    acc_delta.mul_(rho).add_(delta * delta, alpha=1 - rho)
                    p.add_(delta, alpha=-lr)
        return loss
