"""`Adamax`: Adam with the infinity norm in place of the root mean square."""

from __future__ import annotations

from .._creation import zeros_like
from ..autograd.grad_mode import no_grad
from ..ops.pointwise import pointwise
from ._composite import one_minus_pow, param_steps
from .optimizer import Optimizer, check_betas, check_flags, check_range, lerp_, prepared_grad


class Adamax(Optimizer):
    """Like ``torch.optim.Adamax`` (Kingma & Ba, 2014, section 7): at step ``t``, with ``g`` the
    gradient (negated when ``maximize``) plus ``weight_decay * p``::

        m = lerp(m, g, 1 - beta1)
        u = max(beta2 * u, |g| + eps)
        p -= lr / (1 - beta1**t) * m / u

    State per parameter: ``step`` (a float32 cpu tensor), ``exp_avg`` (m) and ``exp_inf`` (u).
    The update is a few tensor ops on every device; ``foreach`` is accepted for compatibility.
    ``capturable=True`` (wgpu): ``step`` and the lr are 0-d device tensors and the bias
    correction is computed from them on the device (PyTorch's capturable formula), so the step
    can be captured in a `wgtorch.wgpu.graph` and replayed; a capture of a ``capturable=False``
    step raises RuntimeError. On cpu, ``capturable`` changes nothing.
    """

    _graph_safe = True  # capturable=True; see _composite.param_steps

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
            for t in param_steps(self, _init_state):
                group, p, state = t.group, t.param, t.state
                beta1, beta2 = (float(b) for b in group["betas"])
                g = prepared_grad(p, t.grad, float(group["weight_decay"]), bool(group["maximize"]))
                exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
                lerp_(exp_avg, g, 1 - beta1)
                exp_inf.copy_(pointwise("maximum", exp_inf * beta2, g.abs() + float(group["eps"])))
                if t.capturable:  # PyTorch's capturable formula: the bias correction from the device count
                    neg_bias_correction = -one_minus_pow(beta1, t.step) / t.lr
                    p.addcdiv_(exp_avg, exp_inf * neg_bias_correction)
                else:
                    p.add_(exp_avg / exp_inf, alpha=-t.lr / (1 - beta1 ** t.step))
        return loss


def _init_state(p, state, group) -> None:
    if "exp_avg" not in state:
        state["step"] = None
        state["exp_avg"] = zeros_like(p)
        state["exp_inf"] = zeros_like(p)
