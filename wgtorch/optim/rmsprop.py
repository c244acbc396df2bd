"""`RMSprop`, plain or centered, with momentum and weight decay."""

from __future__ import annotations

import functools

from .._creation import zeros_like
from ._foreach import advance_steps, by_backend, capture_of, init_state, live_lr, takes_capturable_path
from .optimizer import Optimizer, advance_step, check_flags, check_range


class RMSprop(Optimizer):
    """Like ``torch.optim.RMSprop``: with ``g`` the gradient (negated when ``maximize``) plus
    ``weight_decay * p``::

        sq = alpha * sq + (1 - alpha) * g * g
        avg = sqrt(sq - gavg**2) + eps, gavg = lerp(gavg, g, 1 - alpha)   (centered)
        avg = sqrt(sq) + eps                                             (otherwise)
        buf = momentum * buf + g / avg; p -= lr * buf                    (momentum > 0)
        p -= lr * g / avg                                                (otherwise)

    State: ``step`` (a float32 cpu tensor), ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered). One fused kernel per parameter on wgpu; in a wgpu graph capture the
    step replays with the group's current ``lr`` (schedulers work between replays).

    ``capturable=True`` (wgpu): ``step`` is a float32 0-d tensor on the parameter's device, advanced
    there by a recorded add (as PyTorch's capturable RMSprop), so a capture needs no host work per
    replay. With ``capturable=False`` a capture still replays (wgtorch's; PyTorch refuses it): the
    host count is advanced after every replay by a hook. On cpu, ``capturable`` changes nothing.
    """

    _graph_safe = True  # see step()

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        check_range(lr, "learning rate")
        check_range(eps, "epsilon value")
        check_range(momentum, "momentum value")
        check_range(weight_decay, "weight_decay value")
        check_range(alpha, "alpha value")
        check_flags("RMSprop", foreach=foreach, differentiable=differentiable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for gi, group in enumerate(self.param_groups):
            lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
            weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
            centered, maximize = bool(group["centered"]), bool(group["maximize"])
            for be, pairs in by_backend(self._params_with_grad(group)).items():
                cap = capture_of(be)
                capturable = takes_capturable_path(group, be)  # (capturable=False still replays, see above)
                states = [self.state[p] for p, _ in pairs]
                with init_state(cap):  # made once: a replay continues from the captured step's state
                    for (p, _), state in zip(pairs, states):
                        _init_state(p, state, momentum, centered)
                advance_steps(states, [p for p, _ in pairs], capturable, cap)
                if cap is not None and not capturable:  # the host counts follow the replays too
                    for state in states:
                        cap.on_replay(after=functools.partial(advance_step, state))
                glr = live_lr(self, gi, lr, cap)
                for (p, g), state in zip(pairs, states):
                    grad_avg = state["grad_avg"]._data if centered else None
                    buf = state["momentum_buffer"]._data if momentum > 0 else None
                    be.rmsprop_step(p._data, g._data, state["square_avg"]._data, grad_avg, buf, glr, alpha, eps,
                                    weight_decay, momentum, maximize)
        return loss


def _init_state(p, state: dict, momentum: float, centered: bool) -> None:
    """PyTorch's state, in its key order: ``step``, ``square_avg``, then ``momentum_buffer`` and
    ``grad_avg`` where the group uses them."""
    if "square_avg" not in state:
        state["step"] = None  # its kind (host or device count) is made by advance_steps
        state["square_avg"] = zeros_like(p)
    if momentum > 0 and "momentum_buffer" not in state:
        state["momentum_buffer"] = zeros_like(p)
    if centered and "grad_avg" not in state:
        state["grad_avg"] = zeros_like(p)
