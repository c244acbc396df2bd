"""`Adadelta`: per-coordinate steps from running averages of squared gradients and updates."""

from __future__ import annotations

from .._creation import zeros_like
from ..autograd.grad_mode import no_grad
from ._composite import param_steps
from .optimizer import Optimizer, check_flags, check_range, prepared_grad


class Adadelta(Optimizer):
    """Like ``torch.optim.Adadelta`` (Zeiler, 2012): with ``g`` the gradient (negated when
    ``maximize``) plus ``weight_decay * p``::

        v = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        p -= lr * delta

    State per parameter: ``step`` (a float32 cpu tensor), ``square_avg`` (v) and ``acc_delta``
    (u). The update is a few tensor ops, so it runs on every device; ``foreach`` is accepted for
    compatibility. ``capturable=True`` (wgpu): ``step`` and the lr are 0-d tensors on the device,
    so the step can be captured in a `wgtorch.wgpu.graph` and replayed (the lr re-read from the
    group before every replay); a capture of a ``capturable=False`` step raises RuntimeError. On
    cpu, ``capturable`` changes nothing.
    """

    _graph_safe = True  # capturable=True; see _composite.param_steps

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
            for t in param_steps(self, _init_state):
                group, p, state = t.group, t.param, t.state
                rho, eps = float(group["rho"]), float(group["eps"])
                g = prepared_grad(p, t.grad, float(group["weight_decay"]), bool(group["maximize"]))
                square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                square_avg.mul_(rho).add_(g * g, alpha=1 - rho)
                delta = (acc_delta + eps).sqrt() / (square_avg + eps).sqrt() * g
                acc_delta.mul_(rho).add_(delta * delta, alpha=1 - rho)
                if t.capturable:
                    p.addcmul_(delta, t.lr, value=-1)  # t.lr: the device lr (see _composite)
                else:
                    p.add_(delta, alpha=-t.lr)
        return loss


def _init_state(p, state, group) -> None:
    if "square_avg" not in state:
        state["step"] = None
        state["square_avg"] = zeros_like(p)
        state["acc_delta"] = zeros_like(p)
