"""`SGD`: stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from .._creation import empty_like
from .optimizer import Optimizer, check_flags, check_range


class SGD(Optimizer):
    """Like ``torch.optim.SGD``: for each parameter with a gradient ``g`` (negated when
    ``maximize``), ``g += weight_decay * p``; with momentum, ``buf = momentum * buf + (1 -
    dampening) * g`` (``buf = g`` on the first step) and ``g = buf`` (``g + momentum * buf``
    with ``nesterov``); then ``p -= lr * g``. One fused kernel per parameter on wgpu.

    ``foreach`` and ``fused`` are accepted for compatibility: every step is fused.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None):
        check_range(lr, "learning rate")
        check_range(momentum, "momentum value")
        check_range(weight_decay, "weight_decay value")
        check_flags("SGD", foreach=foreach, fused=fused, differentiable=differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
            nesterov, maximize = bool(group["nesterov"]), bool(group["maximize"])
            for p, g in self._params_with_grad(group):
                buf = None
                first = False
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        # The kernel fills it with the first gradient (PyTorch clones it).
                        buf = state["momentum_buffer"] = empty_like(p)
                        first = True
                    buf = buf._data
                p._be.sgd_step(p._data, g._data, buf, lr, momentum, dampening, weight_decay,
                               nesterov, maximize, first)
        return loss
