"""`Rprop`: resilient backpropagation, a per-coordinate step size grown or shrunk by the sign of
successive gradients."""

from __future__ import annotations

from .._creation import full_like, zeros_like
from ..autograd.grad_mode import no_grad
from ..ops.pointwise import where
from ._composite import param_steps
from .optimizer import Optimizer, check_flags, check_range


class Rprop(Optimizer):
    """Like ``torch.optim.Rprop`` (Riedmiller & Braun, 1993): per coordinate, with ``g`` the
    gradient (negated when ``maximize``) and ``s = sign(g * prev)``::

        step_size = clamp(step_size * (etaplus if s > 0 else etaminus if s < 0 else 1), *step_sizes)
        g = 0 where s < 0
        p -= sign(g) * step_size;  prev = g

    ``step_size`` starts at ``lr`` (later lr changes do not reach it, as in PyTorch). State per
    parameter: ``step`` (a float32 cpu tensor; with ``capturable=True`` on wgpu a 0-d tensor on
    the device), ``prev`` and ``step_size``. The update is a few tensor ops on every device (the
    elementwise selections are ``where``s, as PyTorch's capturable path), so with
    ``capturable=True`` it can be captured in a `wgtorch.wgpu.graph` and replayed; a capture of a
    ``capturable=False`` step raises RuntimeError. ``foreach`` is accepted for compatibility.
    """

    _graph_safe = True  # capturable=True; see _composite.param_steps

    def __init__(self, params, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False):
        check_range(lr, "learning rate")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        check_flags("Rprop", foreach=foreach, differentiable=differentiable)
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with no_grad():
            for t in param_steps(self, _init_state):
                group, p, state = t.group, t.param, t.state
                etaminus, etaplus = (float(e) for e in group["etas"])
                size_min, size_max = (float(s) for s in group["step_sizes"])
                g = -t.grad if group["maximize"] else t.grad
                prev, step_size = state["prev"], state["step_size"]
                sign = (g * prev).sign()
                # PyTorch's sequence, in the gradient's dtype (NaN signs stay NaN)
                factor = where(sign > 0, etaplus, sign)
                factor = where(factor < 0, etaminus, factor)
                factor = where(factor == 0, 1.0, factor)
                step_size.mul_(factor).clamp_(size_min, size_max)
                g = where(sign < 0, 0.0, g)  # a sign change: no step now, and no comparison next time
                p.addcmul_(g.sign(), step_size, value=-1)
                prev.copy_(g)
        return loss


def _init_state(p, state, group) -> None:
    if "prev" not in state:
        state["step"] = None
        state["prev"] = zeros_like(p)
        state["step_size"] = full_like(p, float(group["lr"]))
