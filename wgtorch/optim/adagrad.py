"""`Adagrad`: steps scaled by the root of each coordinate's sum of squared gradients."""

from __future__ import annotations

from .._creation import full_like, tensor
from ..autograd.grad_mode import no_grad
from .optimizer import Optimizer, advance_step, check_flags, check_range, prepared_grad


class Adagrad(Optimizer):
    """Like ``torch.optim.Adagrad`` (Duchi et al., 2011): at step ``t``, with ``g`` the gradient
    (negated when ``maximize``) plus ``weight_decay * p``::

        clr = lr / (1 + (t - 1) * lr_decay)
        sum += g * g
        p -= clr * g / (sqrt(sum) + eps)

    ``sum`` starts at ``initial_accumulator_value``. As in PyTorch, the state (``step``, a float32
    cpu tensor, and ``sum``) is created with the optimizer, for every parameter. The update is a
    few tensor ops on every device; ``foreach`` and ``fused`` are accepted for compatibility.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None):
        check_range(lr, "learning rate")
        check_range(lr_decay, "lr_decay value")
        check_range(weight_decay, "weight_decay value")
        check_range(initial_accumulator_value, "initial_accumulator_value value")
        check_range(eps, "epsilon value")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach, maximize=maximize,
                        differentiable=differentiable, fused=fused)
        check_flags("Adagrad", foreach=foreach, fused=fused, differentiable=differentiable)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group: dict) -> None:
        state = self.state[p]
        if "sum" not in state:
            state["step"] = tensor(0.0, dtype="float32", device="cpu")
            state["sum"] = full_like(p, float(group["initial_accumulator_value"]))

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with no_grad():
            for group in self.param_groups:
                lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
                weight_decay, maximize = float(group["weight_decay"]), bool(group["maximize"])
                for p, g in self._params_with_grad(group):
                    self._init_state(p, group)  # a group added later, or state loaded without it
                    state = self.state[p]
                    t = advance_step(state)
                    g = prepared_grad(p, g, weight_decay, maximize)
                    clr = lr / (1 + (t - 1) * lr_decay)
                    state["sum"].add_(g * g)
                    p.add_(g / (state["sum"].sqrt() + eps), alpha=-clr)
        return loss
