"""`Adam` (with amsgrad, L2 or decoupled weight decay) and its state."""

from __future__ import annotations

from .._creation import zeros_like
from ._foreach import by_backend, capturable_on, capture_of, device_steps, init_state, live_lr
from .optimizer import Optimizer, advance_step, check_betas, check_flags, check_range


class Adam(Optimizer):
    """Like ``torch.optim.Adam``: per parameter, with ``g`` the gradient (negated when
    ``maximize``) plus ``weight_decay * p`` (or, with ``decoupled_weight_decay``, ``p *= 1 - lr *
    weight_decay`` first, as AdamW)::

        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v) if amsgrad else v
        p -= lr / (1 - beta1**t) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)

    State per parameter: ``step`` (a float32 cpu tensor), ``exp_avg``, ``exp_avg_sq`` and with
    amsgrad ``max_exp_avg_sq``, on the parameter's device. On wgpu, ``foreach`` None/True (the
    default) updates a group in one multi-tensor kernel, ``foreach=False`` one fused kernel per
    parameter; ``fused`` is accepted for compatibility.

    ``capturable=True`` (wgpu): ``step`` is a float32 0-d tensor on the device, which the kernel
    increments and computes the bias corrections from (in float32, as PyTorch's capturable Adam),
    so the step can be captured in a `wgtorch.wgpu.graph` and replayed; the lr is re-read from
    the group on every replay. A capture of a ``capturable=False`` step raises RuntimeError. On
    cpu, ``capturable`` changes nothing.
    """

    _graph_safe = True  # see step()

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
        for gi, group in enumerate(self.param_groups):
            lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            amsgrad, maximize = bool(group["amsgrad"]), bool(group["maximize"])
            decoupled = bool(group.get("decoupled_weight_decay", False))
            for be, pairs in by_backend(self._params_with_grad(group)).items():
                capturable, cap = capturable_on(self, group, be, capture_of(be), "bias corrections")
                states = [self.state[p] for p, _ in pairs]
                with init_state(cap):  # made once: a replay continues from the captured step's state
                    for (p, _), state in zip(pairs, states):
                        if "exp_avg" not in state:
                            state["step"] = None
                            state["exp_avg"] = zeros_like(p)
                            state["exp_avg_sq"] = zeros_like(p)
                        if amsgrad and "max_exp_avg_sq" not in state:
                            state["max_exp_avg_sq"] = zeros_like(p)
                if capturable:
                    device_steps(states, [p for p, _ in pairs], cap)
                    steps = [state["step"]._data for state in states]
                else:
                    steps = [advance_step(state) for state in states]
                args = ([p._data for p, _ in pairs], [g._data for _, g in pairs],
                        [state["exp_avg"]._data for state in states], [state["exp_avg_sq"]._data for state in states],
                        [state["max_exp_avg_sq"]._data for state in states] if amsgrad else None)
                glr = live_lr(self, gi, lr, cap)
                if capturable or group.get("foreach") is not False:
                    be.adam_foreach(*args, glr, beta1, beta2, eps, weight_decay, steps, decoupled, maximize)
                    continue
                vmaxes = args[4] if amsgrad else [None] * len(pairs)
                for p, g, m, v, vmax, step in zip(*args[:4], vmaxes, steps):
                    be.adam_step(p, g, m, v, vmax, glr, beta1, beta2, eps, weight_decay, step, decoupled, maximize)
        return loss
