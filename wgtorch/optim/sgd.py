"""`SGD`: stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from .._creation import empty_like
from ._foreach import by_backend, capture_of, init_state, live_lr
from .optimizer import Optimizer, check_flags, check_range


class SGD(Optimizer):
    """Like ``torch.optim.SGD``: for each parameter with a gradient ``g`` (negated when
    ``maximize``), ``g += weight_decay * p``; with momentum, ``buf = momentum * buf + (1 -
    dampening) * g`` (``buf = g`` on the first step) and ``g = buf`` (``g + momentum * buf``
    with ``nesterov``); then ``p -= lr * g``. On wgpu, ``foreach`` None/True (the default)
    updates a group's parameters in one multi-tensor kernel (a few where they span many buffers),
    ``foreach=False`` in one fused kernel each; ``fused`` is accepted for compatibility.

    In a wgpu graph capture the step replays with the group's current ``lr`` (schedulers work
    between replays), and a capture of the first step (momentum buffers made) replays as later steps.
    """

    _graph_safe = True  # see step()

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
        for gi, group in enumerate(self.param_groups):
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
            nesterov, maximize = bool(group["nesterov"]), bool(group["maximize"])
            foreach = group.get("foreach") is not False
            for be, pairs in by_backend(self._params_with_grad(group)).items():
                cap = capture_of(be)
                glr = live_lr(self, gi, lr, cap)  # a replay re-reads the group's lr (schedulers)
                bufs, firsts = [], []
                for p, _ in pairs:
                    buf = None
                    first = False
                    if momentum != 0:
                        state = self.state[p]
                        buf = state.get("momentum_buffer")
                        if buf is None:
                            # The kernel fills it with the first gradient (PyTorch clones it). State
                            # outlives a capture: made outside its recording (and its private pool).
                            with init_state(cap):
                                buf = state["momentum_buffer"] = empty_like(p)
                            first = True
                        buf = buf._data
                    bufs.append(buf)
                    firsts.append(first)
                if foreach:
                    be.sgd_foreach([p._data for p, _ in pairs], [g._data for _, g in pairs], bufs, glr, momentum,
                                   dampening, weight_decay, nesterov, maximize, firsts)
                    continue
                for (p, g), buf, first in zip(pairs, bufs, firsts):
                    be.sgd_step(p._data, g._data, buf, glr, momentum, dampening, weight_decay, nesterov, maximize,
                                first)
        return loss
