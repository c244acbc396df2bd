"""Optimizer updates for the NumPy/CuPy backend: the reference for ``shaders/optim.wgsl``.

Each method updates the parameter and its state arrays in place, following PyTorch's
single-tensor implementations op by op (same formulas, same order, the arrays' own dtype), so
results match PyTorch to rounding. Scalars are Python floats: NumPy applies them in the array's
dtype (NEP 50), as PyTorch does.
"""

from __future__ import annotations

import math

import numpy as np


def _lerp_(xp, start, end, weight: float) -> None:
    """start <- torch.lerp(start, end, weight), with PyTorch's two-sided formula."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


def _prepared_grad(grad, param, weight_decay: float, maximize: bool):
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    return g


class ArrayOptimOps:
    """Mixin for `ArrayBackend`: ``sgd_step``, ``adam_step``, ``rmsprop_step``, and the foreach
    forms (``sgd_foreach``, ``adam_foreach``: the same updates, tensor after tensor)."""

    def sgd_foreach(self, params, grads, momentum_buffers, lr, momentum, dampening, weight_decay,
                    nesterov, maximize, first_steps) -> None:
        """`sgd_step` for each tensor of a group (``first_steps``: one flag per tensor)."""
        for p, g, buf, first in zip(params, grads, momentum_buffers, first_steps):
            self.sgd_step(p, g, buf, float(lr), momentum, dampening, weight_decay, nesterov, maximize, first)

    def adam_foreach(self, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, lr, beta1, beta2, eps,
                     weight_decay, steps, decoupled, maximize) -> None:
        """`adam_step` for each tensor of a group. ``steps``: each tensor's count of this step as
        host numbers, or 0-d arrays of the counts so far (capturable), which this adds 1 to first."""
        vmaxes = max_exp_avg_sqs if max_exp_avg_sqs is not None else [None] * len(params)
        for p, g, m, v, vmax, step in zip(params, grads, exp_avgs, exp_avg_sqs, vmaxes, steps):
            if not isinstance(step, (int, float)):
                step += 1  # in place, on the device: the state's count (read there, never on the host)
                step = step.reshape(())
            self.adam_step(p, g, m, v, vmax, float(lr), beta1, beta2, eps, weight_decay, step, decoupled, maximize)

    def sgd_step(self, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                 nesterov, maximize, first_step) -> None:
        """p -= lr * d, with d the gradient (after maximize and weight decay) or, with momentum,
        buf = momentum * buf + (1 - dampening) * g (buf = g on the first step) and d = buf, or
        g + momentum * buf with Nesterov."""
        with np.errstate(all="ignore"):
            g = _prepared_grad(grad, param, weight_decay, maximize)
            if momentum != 0:
                if first_step:
                    momentum_buffer[...] = g
                else:
                    momentum_buffer *= momentum
                    momentum_buffer += (1 - dampening) * g if dampening else g  # (1 - 0) * g is g
                g = g + momentum * momentum_buffer if nesterov else momentum_buffer
            param += -lr * g

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                  weight_decay, step, decoupled, maximize) -> None:
        """One Adam (``decoupled=False``) or AdamW step; ``step`` counts this one (1 first): a
        number, or a 0-d float32 array on the device (`adam_foreach`'s capturable counts)."""
        xp = self.xp
        with np.errstate(all="ignore"):
            if decoupled:
                g = -grad if maximize else grad
                if weight_decay != 0:
                    param *= 1 - lr * weight_decay
            else:
                g = _prepared_grad(grad, param, weight_decay, maximize)
            _lerp_(xp, exp_avg, g, 1 - beta1)
            exp_avg_sq *= beta2
            exp_avg_sq += (1 - beta2) * g * g
            bias_correction1 = 1 - beta1 ** step
            if isinstance(step, (int, float)):
                bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
            else:  # a device count (capturable): float32 corrections on the device, as PyTorch's
                bias_correction2_sqrt = xp.sqrt(1 - beta2 ** step)
            second = exp_avg_sq
            if max_exp_avg_sq is not None:
                xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
                second = max_exp_avg_sq
            denom = xp.sqrt(second) / bias_correction2_sqrt + eps
            param += -(lr / bias_correction1) * (exp_avg / denom)

    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                     weight_decay, momentum, maximize) -> None:
        """One RMSprop step; ``grad_avg`` is given when centered, ``momentum_buffer`` when
        momentum > 0."""
        xp = self.xp
        with np.errstate(all="ignore"):
            g = _prepared_grad(grad, param, weight_decay, maximize)
            square_avg *= alpha
            square_avg += (1 - alpha) * g * g
            if grad_avg is not None:
                _lerp_(xp, grad_avg, g, 1 - alpha)
                avg = xp.sqrt(square_avg + (-1 * grad_avg) * grad_avg)
            else:
                avg = xp.sqrt(square_avg)
            avg += eps
            if momentum > 0:
                momentum_buffer *= momentum
                momentum_buffer += g / avg
                param += -lr * momentum_buffer
            else:
                param += -lr * (g / avg)
