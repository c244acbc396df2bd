"""The loop the composite optimizers (Adadelta, Adamax, NAdam, RAdam, Rprop) share: per parameter
with a gradient, its state made once, its step count advanced, and the learning rate in the
form the step's formulas take.

With ``capturable=True`` on wgpu the count is a float32 0-d tensor on the device (advanced by a
recorded add) and the lr a 0-d device tensor re-filled before every replay (`_foreach.device_lr`),
so the step can be captured in a `wgtorch.wgpu.graph` and replayed; otherwise the count is
PyTorch's float32 cpu tensor and the lr a float, and a capture refuses the step.

Bias corrections ``1 - beta**t`` on the device come from ``expm1(t * ln(beta))`` (`one_minus_pow`),
not ``pow``: ``1 - pow`` cancels the leading digits (at beta = 0.999 and t = 5 a float32 pow's
last-digit error is 1e-5 of the result), and RAdam's ``rho_t > 5`` test at its default betas sits
0.004 from the edge at step 5, where PyTorch's float64 host math decides it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..ops.pointwise import pointwise
from ._foreach import advance_steps, by_backend, capturable_on, capture_of, device_lr, init_state
from .optimizer import lerp_, prepared_grad


class ParamStep(NamedTuple):
    group: dict
    param: object
    grad: object
    state: dict
    step: object  # the new count: a Python float, or (capturable) the device tensor, already advanced
    lr: object  # a float, or (capturable) a float32 0-d tensor on the parameter's device
    capturable: bool
    cap: object  # the capture recording on the parameter's device, or None


def param_steps(optimizer, init_state_of):
    """`ParamStep` for every parameter with a gradient, group by group; ``init_state_of(param,
    state, group)`` fills a parameter's state the first time (outside any capture's recording: a
    replay continues from the state the captured step left)."""
    for gi, group in enumerate(optimizer.param_groups):
        lr = float(group["lr"])
        for be, pairs in by_backend(optimizer._params_with_grad(group)).items():
            capturable, cap = capturable_on(optimizer, group, be, capture_of(be))
            states = [optimizer.state[p] for p, _ in pairs]
            with init_state(cap):
                for (p, _), state in zip(pairs, states):
                    init_state_of(p, state, group)
            steps = advance_steps(states, [p for p, _ in pairs], capturable, cap)
            glr = device_lr(optimizer, gi, lr, pairs[0][0].device, cap) if capturable else lr
            for (p, g), state, step in zip(pairs, states, steps):
                yield ParamStep(group, p, g, state, step, glr, capturable, cap)


def _ln(beta: float) -> float:
    return math.log(beta) if beta > 0 else -math.inf


def pow_of(beta: float, step):
    """``beta ** step`` for a device step tensor, as ``exp(step * ln(beta))`` (ln in float64)."""
    return pointwise("exp", step * _ln(beta))


def one_minus_pow(beta: float, step):
    """``1 - beta ** step`` for a device step tensor, without the cancellation (see the module)."""
    return -pointwise("expm1", step * _ln(beta))


def adam_moments(t, weight_decay: float, beta1: float, beta2: float, maximize: bool):
    """NAdam's and RAdam's shared head for one parameter step ``t`` (a `param_steps` item): the
    gradient with weight decay (decoupled, AdamW's, when the group asks) and both moments
    updated in place; returns (gradient, exp_avg, exp_avg_sq)."""
    p, state = t.param, t.state
    if t.group.get("decoupled_weight_decay", False):
        g = -t.grad if maximize else t.grad
        if weight_decay != 0:
            p.mul_(1 - t.lr * weight_decay)
    else:
        g = prepared_grad(p, t.grad, weight_decay, maximize)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq.mul_(beta2).add_(g * g, alpha=1 - beta2)
    return g, exp_avg, exp_avg_sq
