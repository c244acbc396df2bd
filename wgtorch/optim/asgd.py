"""`ASGD`: averaged stochastic gradient descent (Polyak & Juditsky, 1992)."""

from __future__ import annotations

from .._creation import ones_like, zeros_like
from ..autograd.grad_mode import no_grad
from ..ops.pointwise import pointwise
from ._foreach import by_backend, capturable_on, capture_of, device_lr, device_scalar, init_state
from .optimizer import Optimizer, check_flags, check_range, prepared_grad


class ASGD(Optimizer):
    """Like ``torch.optim.ASGD``: at step ``t``, with ``g`` the gradient (negated when
    ``maximize``) plus ``weight_decay * p``, and ``eta``, ``mu`` the values the previous step left
    (``lr`` and 1 at first)::

        p *= 1 - lambd * eta;  p -= eta * g
        ax += (p - ax) * mu                       (ax = p while mu is 1, on cpu)
        eta = lr / (1 + lambd * lr * t) ** alpha;  mu = 1 / max(1, t - t0)

    State per parameter, as PyTorch's: ``step``, ``eta`` and ``mu`` (float32 0-d tensors on the
    parameter's device) and ``ax`` (the average). On cpu the step is PyTorch's own (the scalars
    read on the host); on wgpu every factor is computed on the device from those tensors (PyTorch's
    capturable formulas), so a step never waits for the device. ``capturable=True`` (wgpu) makes
    the lr a 0-d device tensor as well (re-read from the group before every replay), so the step can
    be captured in a `wgtorch.wgpu.graph` and replayed; a capture of a ``capturable=False`` step
    raises RuntimeError. ``foreach`` is accepted for compatibility.
    """

    _graph_safe = True  # capturable=True; see step()

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        check_range(lr, "learning rate")
        check_range(weight_decay, "weight_decay value")
        check_flags("ASGD", foreach=foreach, differentiable=differentiable)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with no_grad():
            for gi, group in enumerate(self.param_groups):
                lr = float(group["lr"])
                for be, pairs in by_backend(self._params_with_grad(group)).items():
                    capturable, cap = capturable_on(self, group, be, capture_of(be))
                    glr = device_lr(self, gi, lr, pairs[0][0].device, cap) if capturable else lr
                    for p, g in pairs:
                        state = self.state[p]
                        # PyTorch's order of the state's keys: step, eta, mu, ax
                        scalars = [device_scalar(state, key, p, start, cap)
                                   for key, start in (("step", 0.0), ("eta", lr), ("mu", 1.0))]
                        with init_state(cap):
                            if "ax" not in state:
                                state["ax"] = zeros_like(p)
                        g = prepared_grad(p, g, float(group["weight_decay"]), bool(group["maximize"]))
                        update = _host_step if p.device.type == "cpu" else _device_step
                        update(p, g, state["ax"], *scalars, glr, group)
        return loss


def _host_step(p, g, ax, step, eta, mu, lr, group) -> None:
    """PyTorch's (non-capturable) step: the scalars read on the host (free on cpu)."""
    lambd, alpha, t0 = float(group["lambd"]), float(group["alpha"]), float(group["t0"])
    step.add_(1)
    eta_value = float(eta)
    p.mul_(1 - lambd * eta_value)
    p.add_(g, alpha=-eta_value)
    if float(mu) != 1:
        ax.add_((p - ax).mul_(mu))
    else:
        ax.copy_(p)
    t = float(step)
    eta.fill_(lr / ((1 + lambd * lr * t) ** alpha))  # in float64, then rounded, as PyTorch
    mu.fill_(1 / max(1, t - t0))


def _device_step(p, g, ax, step, eta, mu, lr, group) -> None:
    """PyTorch's capturable step: every factor a tensor op on the device (``lr`` a float, or a 0-d
    device tensor when capturable)."""
    lambd, alpha, t0 = float(group["lambd"]), float(group["alpha"]), float(group["t0"])
    step.add_(1)
    p.mul_(1 - lambd * eta)
    p.addcmul_(g, eta, value=-1)
    ax.add_((p - ax).mul_(mu))
    eta.copy_(lr / ((1 + lambd * lr * step) ** alpha))
    mu.copy_(1 / pointwise("maximum", step - t0, ones_like(step)))
