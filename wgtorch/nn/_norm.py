"""Normalisation and channel-wise dropout as composites of reductions and pointwise ops (autograd
for free on every backend): batch, instance, group, RMS and local-response norm, ``normalize``,
``dropout1d`` / ``dropout2d`` / ``alpha_dropout``."""

from __future__ import annotations

import math
import warnings

from .. import _dtype as D
from .._backends.protocol import optional
from .._creation import rand
from .._info import finfo
from .._tensor import _wrap
from .._tensor_class import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ..ops.pointwise import where
from ..ops.shape import apply_inplace
from ._functions import same_device


def _channel_shape(x: Tensor) -> tuple:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple) -> Tensor:
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _check_param(t: Tensor | None, n: int, name: str) -> None:
    if t is not None and t.numel() != n:
        raise RuntimeError(f"{name} should contain {n} elements not {t.numel()}")


def _update_running(running: Tensor | None, stat: Tensor, momentum: float) -> None:
    """running = (1 - momentum) * running + momentum * stat, in place and outside autograd."""
    if running is None:
        return
    with no_grad():
        running.copy_(running * (1.0 - momentum) + stat.detach().reshape(running.shape).to(running.dtype) * momentum)


class BatchStats(Function):
    """Per-channel (mean, biased variance), (C,) each (float32; float64 for float64 x), of (N, C, *) from a
    backend's one-pass kernel; backward is their exact gradient: dx = g_mean / n + g_var * 2 (x - mean) / n."""

    @staticmethod
    def forward(ctx, x, kernel):
        c = x.shape[1]
        inner = math.prod(x.shape[2:])
        dense = x.contiguous()
        st = _wrap(kernel(dense._data, x.shape[0], c, inner), x._be, D.float64 if x.dtype is D.float64 else D.float32)
        mean, var = st[:, 0], st[:, 1]
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, mean)
        return mean, var

    @staticmethod
    def backward(ctx, g_mean, g_var):
        x, mean = ctx.saved_tensors
        shape = _channel_shape(x)
        n = x.numel() // x.shape[1]
        gx = None
        if g_mean is not None:
            gx = (g_mean / n).reshape(shape).to(x.dtype).expand(*x.shape)
        if g_var is not None:
            part = (x - mean.reshape(shape).to(x.dtype)) * (g_var * (2.0 / n)).reshape(shape).to(x.dtype)
            gx = part if gx is None else gx + part
        return gx, None


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise (N, C, *) per channel over N and *: with the batch's mean and biased variance when
    ``training`` (``running_mean`` / ``running_var`` then move by ``momentum`` towards the mean and
    the unbiased variance), else with the running statistics; then ``* weight + bias`` per channel."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm(): expected at least 2D input (got {input.ndim}D input)")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"batch_norm(): expected a floating-point input, got {input.dtype.name}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_param(t, c, name)
    same_device(input, running_mean, running_var, weight, bias)
    shape = _channel_shape(input)
    dims = (0,) + tuple(range(2, input.ndim))
    n = input.numel() // c if c else 0
    if training:
        if n == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{input.shape}")
        if input.numel() == 0:  # PyTorch: an empty output, the running statistics left as they are
            return _affine(input * 1.0, weight, bias, shape)
        stats = optional(input._be, "batch_norm_stats")  # None where the backend has no fused kernel
        if stats is not None and input.dtype in (D.float32, D.float16, D.float64):
            mean, var = (t.reshape(shape).to(input.dtype) for t in BatchStats.apply(input, stats))
            centred = input - mean
        else:
            mean = input.mean(dims, keepdim=True)
            centred = input - mean
            var = (centred * centred).mean(dims, keepdim=True)
        _update_running(running_mean, mean, momentum)
        _update_running(running_var, var * (n / (n - 1)), momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
        mean, var = running_mean.reshape(shape).to(input.dtype), running_var.reshape(shape).to(input.dtype)
        centred = input - mean
    return _affine(centred * (var + eps).rsqrt(), weight, bias, shape)


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise (N, C, *) over * for each sample and channel (biased variance); running statistics,
    when given, move towards the batch average of the per-instance mean and unbiased variance."""
    if input.ndim < 3:
        raise ValueError(f"instance_norm(): expected at least 3D input (got {input.ndim}D input)")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_param(t, c, name)
    same_device(input, running_mean, running_var, weight, bias)
    shape = _channel_shape(input)
    dims = tuple(range(2, input.ndim))
    n = math.prod(input.shape[2:])
    if use_input_stats:
        if n == 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.shape}")
        mean = input.mean(dims, keepdim=True)
        centred = input - mean
        var = (centred * centred).mean(dims, keepdim=True)
        if input.shape[0]:
            _update_running(running_mean, mean.mean(0), momentum)
            _update_running(running_var, (var * (n / (n - 1))).mean(0), momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
        centred = input - running_mean.reshape(shape).to(input.dtype)
        var = running_var.reshape(shape).to(input.dtype)
    return _affine(centred * (var + eps).rsqrt(), weight, bias, shape)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """(N, C, *): the C channels split into ``num_groups`` groups, each normalised over its
    channels and * (biased variance); then ``* weight + bias`` per channel."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.ndim}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                           f"shape {list(input.shape)} and num_groups={num_groups}")
    _check_param(weight, c, "weight")
    _check_param(bias, c, "bias")
    same_device(input, weight, bias)
    x = input.reshape(n, num_groups, math.prod(input.shape[1:]) // num_groups)
    mean = x.mean(-1, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdim=True)
    y = (centred * (var + eps).rsqrt()).reshape(input.shape)
    return _affine(y, weight, bias, _channel_shape(input))


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape`` dims; ``eps``
    None is the dtype's machine epsilon (``finfo(input.dtype).eps``)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape [*, "
                           f"{', '.join(map(str, shape))}], but got input of size{list(input.shape)}")
    if weight is not None and tuple(weight.shape) != shape:
        raise RuntimeError(f"Expected weight to be of same shape as normalized_shape, but got weight of shape "
                           f"{list(weight.shape)} and normalized_shape = {list(shape)}")
    same_device(input, weight)
    if eps is None:
        eps = finfo(input.dtype).eps
    dims = tuple(range(input.ndim - k, input.ndim))
    y = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return y * weight if weight is not None else y


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Tensor | None = None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``; an all-zero slice gets a zero gradient, as
    in PyTorch."""
    a = input.abs()
    if p == float("inf"):
        norm = a.amax(dim, keepdim=True)
    else:
        s = a * a if p == 2 else a ** p
        s = s.sum(dim, keepdim=True)
        positive = s > 0
        safe = where(positive, s, 1.0)
        norm = where(positive, safe.sqrt() if p == 2 else safe ** (1.0 / p), 0.0)
    y = input / norm.clamp(min=eps)
    if out is not None:
        out.copy_(y)
        return out
    return y


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """(N, C, *): ``x / (k + alpha * mean of x^2 over ``size`` neighbouring channels) ** beta``,
    the window zero-padded (size // 2 before, (size - 1) // 2 after) and divided by ``size``."""
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if input.numel() == 0:
        return input
    from .functional import pad

    sq = input * input
    c = input.shape[1]
    flat = sq.reshape(input.shape[0], c, -1).transpose(1, 2)  # (N, rest, C): pad the last dim
    padded = pad(flat, (size // 2, (size - 1) // 2))
    total = padded[..., 0:c]
    for j in range(1, size):
        total = total + padded[..., j:j + c]
    div = (total.transpose(1, 2).reshape(input.shape) * (alpha / size) + k) ** beta
    return input / div


# -- channel-wise dropout -----------------------------------------------------------------------------


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _feature_dropout(input: Tensor, p: float, training: bool, inplace: bool, alpha: bool = False) -> Tensor:
    """Zero whole feature maps: one Bernoulli(1 - p) draw per (N, C), broadcast over the rest."""
    if not training or p == 0.0:
        return input

    def drop(x):
        mask_shape = tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
        keep = (rand(mask_shape, dtype=D.float32, device=x.device) < (1.0 - p)).to(x.dtype)
        if alpha:
            return _alpha_mix(x, keep, p)
        return x * 0.0 if p == 1.0 else x * (keep * (1.0 / (1.0 - p)))

    return apply_inplace(input, drop) if inplace else drop(input)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel-wise dropout of (N, C, L) or (C, L): each channel zeroed with probability ``p``,
    the others scaled by 1 / (1 - p)."""
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a "
                           "channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    if input.ndim == 2:  # unbatched (C, L)
        def drop(x):
            return _feature_dropout(x.unsqueeze(0), p, training, False).squeeze(0)

        return apply_inplace(input, drop) if inplace and training and p else drop(input)
    return _feature_dropout(input, p, training, inplace)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel-wise dropout of (N, C, H, W); a 3-D input is read as (N, C, L), as PyTorch does
    (with its warning)."""
    _check_p(p)
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will result "
                      "in an error in a future release. To retain the behavior and silence this warning, please use "
                      "dropout instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 "
                      "spatial dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D "
                      "inputs).", stacklevel=2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please "
                      "switch to using dropout1d instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace)


_SELU_ALPHA_SCALE = 1.7580993408473766  # selu's alpha * scale: the value selu saturates to, negated


def _alpha_mix(x: Tensor, keep: Tensor, p: float) -> Tensor:
    """PyTorch's alpha dropout: dropped values become -alpha', then an affine map keeps the mean
    and variance of a unit normal input."""
    if p == 1.0:
        return x * 0.0
    a = 1.0 / math.sqrt((_SELU_ALPHA_SCALE ** 2 * p + 1) * (1 - p))
    b = (keep - 1.0) * (_SELU_ALPHA_SCALE * a) + _SELU_ALPHA_SCALE * a * p
    return x * (keep * a) + b


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: each element independently set to selu's negative saturation
    with probability ``p``, then ``a * x + b`` so that zero mean and unit variance are kept."""
    _check_p(p)
    if not training or p == 0.0:
        return input

    def drop(x):
        keep = (rand(tuple(x.shape), dtype=D.float32, device=x.device) < (1.0 - p)).to(x.dtype)
        return _alpha_mix(x, keep, p)

    return apply_inplace(input, drop) if inplace else drop(input)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """``alpha_dropout`` with one draw per (N, C) feature map."""
    _check_p(p)
    return _feature_dropout(input, p, training, inplace, alpha=True)


__all__ = ["batch_norm", "instance_norm", "group_norm", "rms_norm", "normalize", "local_response_norm", "dropout1d",
           "dropout2d", "alpha_dropout", "feature_alpha_dropout"]
