"""``wgtorch.nn.functional``: layers and losses as functions, with PyTorch's signatures.

Linear, cross-entropy / NLL and layer norm run fused kernels (see ``_functions.py``); the
activations are single elementwise kernels; the other losses are short compositions of ops.
"""

from __future__ import annotations

import math
import warnings

from .. import _dtype as D
from .._creation import arange
from .._tensor_class import Tensor
from ..amp.autocast_mode import autocast_names, autocast_op
from ..ops.pointwise import pointwise
from ..ops.reduce import log_softmax as _log_softmax
from ..ops.reduce import softmax as _softmax
from ..ops.shape import apply_inplace
from . import _functions as F_
from ._functions import _reduction, same_device
from ._padding import pad

# -- linear and embedding ------------------------------------------------------------------------


@autocast_op
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``: input (*, in_features), weight (out_features, in_features),
    bias (out_features,) -> (*, out_features)."""
    same_device(input, weight, bias)
    in_shape, w_shape = input._data.shape, weight._data.shape
    if len(in_shape) == 0 or len(w_shape) != 2:
        raise RuntimeError(f"linear(): expected input of at least 1 dimension and a 2-D weight, got input of "
                           f"shape {list(in_shape)} and weight of shape {list(w_shape)}")
    if in_shape[-1] != w_shape[1]:
        rows = math.prod(in_shape[:-1])
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{in_shape[-1]} and "
                           f"{w_shape[1]}x{w_shape[0]})")
    if input.dtype is not weight.dtype or (bias is not None and bias.dtype is not input.dtype):
        bias_dtype = f" (bias {bias.dtype.name})" if bias is not None else ""
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {input.dtype.name} and "
                           f"{weight.dtype.name}{bias_dtype}")
    if bias is not None and tuple(bias._data.shape) != (w_shape[0],):
        raise RuntimeError(f"linear(): bias of shape {list(bias.shape)} does not match out_features "
                           f"{w_shape[0]}")
    return F_.Linear.apply(input, weight, bias)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm=None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by integer ``input`` (any shape)
    -> (*input.shape, embedding_dim). The ``padding_idx`` row gets no gradient."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding(): max_norm, scale_grad_by_freq and sparse are not supported")
    if weight.ndim != 2:
        raise RuntimeError(f"'weight' must be 2-D (num_embeddings, embedding_dim), got a {weight.ndim}-D weight")
    if input.dtype not in (D.int64, D.int32):
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar "
                           f"types: Long, Int; but got {input.dtype.name} instead")
    same_device(input, weight)
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= num
    # Out-of-range indices: the backend's index_select raises IndexError (on wgpu and cuda at the
    # next read, from the device).
    return F_.Embedding.apply(weight, input, padding_idx)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding: (*) -> (*, num_classes); reads the values' range on the host."""

    if tensor.dtype not in (D.int64, D.int32):
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if tensor.numel():
        lo, hi = int(tensor.min().item()), int(tensor.max().item())
        if lo < 0:
            raise RuntimeError("Class values must be non-negative.")
        if num_classes == -1:
            num_classes = hi + 1
        elif hi >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    elif num_classes == -1:
        raise RuntimeError("Can not infer total number of classes from empty tensor.")
    classes = arange(num_classes, dtype=D.int64, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).long()


# -- activations ---------------------------------------------------------------------------------


def _act(op: str, input: Tensor, *args, inplace: bool = False) -> Tensor:
    if inplace:
        return apply_inplace(input, lambda x: pointwise(op, x, *args))
    return pointwise(op, input, *args)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return _act("relu", input, inplace=inplace)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return pointwise("gelu_tanh" if approximate == "tanh" else "gelu", input)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    if inplace and input.requires_grad:
        raise RuntimeError("silu(inplace=True) can't be differentiated: its backward needs the input "
                           "that the in-place write overwrites; use inplace=False")
    return _act("silu", input, inplace=inplace)


def tanh(input: Tensor) -> Tensor:
    return pointwise("tanh", input)


def sigmoid(input: Tensor) -> Tensor:
    return pointwise("sigmoid", input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _act("leaky_relu", input, float(negative_slope), inplace=inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _act("elu", input, float(alpha), inplace=inplace)


@autocast_op
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return pointwise("softplus", input, float(beta), float(threshold))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _act("hardtanh", input, float(min_val), float(max_val), inplace=inplace)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    return _act("hardsigmoid", input, inplace=inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    return _act("hardswish", input, inplace=inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    return _act("mish", input, inplace=inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return _act("selu", input, inplace=inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    return _act("celu", input, float(alpha), inplace=inplace)


def softsign(input: Tensor) -> Tensor:
    return pointwise("softsign", input)


def tanhshrink(input: Tensor) -> Tensor:
    return pointwise("tanhshrink", input)


def logsigmoid(input: Tensor) -> Tensor:
    return pointwise("logsigmoid", input)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    return pointwise("hardshrink", input, float(lambd))


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return pointwise("softshrink", input, float(lambd))


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    return _act("threshold", input, threshold, value, inplace=inplace)


def _implicit_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                  "dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


@autocast_op
def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _implicit_dim("softmax", input.ndim, _stacklevel)
    return _softmax(input, dim, dtype=dtype)


@autocast_op
def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _implicit_dim("log_softmax", input.ndim, _stacklevel)
    return _log_softmax(input, dim, dtype=dtype)


# -- dropout, normalisation, padding ----------------------------------------------------------------


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` (from ``wgtorch.rand``: seeded, on the input's
    device) and scale the rest by 1 / (1 - p); the identity when not ``training``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    def drop(x):
        return x * 0.0 if p == 1.0 else F_.Dropout.apply(x, float(p))

    return apply_inplace(input, drop) if inplace else drop(input)


@autocast_op
def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims (biased variance), then scale and
    shift elementwise by ``weight`` and ``bias`` (each of ``normalized_shape``)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape [*, "
                           f"{', '.join(map(str, shape))}], but got input of size{list(input.shape)}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"layer_norm(): expected a floating-point input, got {input.dtype.name}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but got {name} of "
                               f"shape {list(t.shape)} and normalized_shape = {list(shape)}")
    same_device(input, weight, bias)
    weight = weight.to(input.dtype) if weight is not None else None
    bias = bias.to(input.dtype) if bias is not None else None
    return F_.LayerNorm.apply(input, weight, bias, shape, float(eps))


# -- losses -----------------------------------------------------------------------------------------


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _check_sizes(input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)


def _class_target_checks(input: Tensor, target: Tensor, weight: Tensor | None, name: str) -> None:
    if input.ndim == 0:
        raise ValueError(f"{name}(): input must have at least 1 dimension (got a 0-d tensor)")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{name}(): expected a floating-point input, got {input.dtype.name}")
    if target.dtype not in (D.int64, D.int32):
        raise RuntimeError(f"{name}(): expected a target of integer class indices (int64), got "
                           f"{target.dtype.name}")
    if input.ndim == 1:
        expected = ()
    else:
        expected = (input.shape[0],) + tuple(input.shape[2:])
        if target.ndim and target.shape[0] != input.shape[0]:
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                             f"({target.shape[0]}).")
    if tuple(target.shape) != expected:
        raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")
    classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    if classes == 0:
        raise RuntimeError(f"{name}(): input has 0 classes")
    if weight is not None and tuple(weight.shape) != (classes,):
        raise RuntimeError(f"weight tensor should be defined either for all {classes} classes or no classes "
                           f"but got weight tensor of shape: {list(weight.shape)}")
    same_device(input, target, weight)


@autocast_op
def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: input (N, C) or (N, C, d1, ...) log-probabilities, or (C,);
    target class indices (N) / (N, d1, ...) / (). ``mean`` divides by the summed weights of
    the targets that are not ``ignore_index``."""
    reduction = _reduction(size_average, reduce, reduction)
    _class_target_checks(input, target, weight, "nll_loss")
    weight = weight.to(input.dtype) if weight is not None else None
    return F_.ClassNLL.apply(input, target, weight, int(ignore_index), 0.0, reduction, False)


@autocast_op
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """``nll_loss(log_softmax(input, 1), target)`` in one fused kernel for class-index targets
    (with ``label_smoothing``, ``weight`` and ``ignore_index``); a floating-point ``target`` of
    the input's shape holds class probabilities instead."""
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if target.dtype.is_floating_point:
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    _class_target_checks(input, target, weight, "cross_entropy")
    weight = weight.to(input.dtype) if weight is not None else None
    return F_.ClassNLL.apply(input, target, weight, int(ignore_index), float(label_smoothing), reduction,
                             True)


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing):
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"cross_entropy(): a floating-point target holds class probabilities and must "
                           f"have the input's shape {list(input.shape)}, got {list(target.shape)}")
    same_device(input, target, weight)
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    logp = _log_softmax(input, class_dim)
    if weight is not None:
        shape = [1] * input.ndim
        shape[class_dim] = classes
        logp = logp * weight.to(input.dtype).reshape(shape)
    loss = -(logp * target).sum(class_dim)
    if reduction == "mean":
        n = input.numel() // classes if classes else 0
        return loss.sum() / n if n else loss.sum() * float("nan")
    return _reduce(loss, reduction)


@autocast_op
def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean") -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    _check_sizes(input, target)
    diff = input - target
    return _reduce(diff * diff, reduction)


@autocast_op
def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    _check_sizes(input, target)
    return _reduce((input - target).abs(), reduction)


@autocast_op
def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """``-w (t log x + (1 - t) log(1 - x))``, logs clamped at -100 as in PyTorch; input holds
    probabilities and must have the target's shape."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    same_device(input, target, weight)
    return _reduce(F_.BinaryCrossEntropy.apply(input, target.to(input.dtype), weight), reduction)


@autocast_op
def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """``sigmoid`` + binary cross-entropy in the stable form
    ``(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x)``, times ``weight``."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    same_device(input, target, weight, pos_weight)
    target = target.to(input.dtype)
    softplus_neg = softplus(-input)  # log(1 + exp(-x)) = -log(sigmoid(x))
    if pos_weight is not None:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * softplus_neg
    else:
        loss = (1 - target) * input + softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


__all__ = ["linear", "embedding", "one_hot", "relu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu", "elu",
           "softplus", "softmax", "log_softmax", "dropout", "layer_norm", "pad", "nll_loss", "cross_entropy",
           "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]

from ._interpolate import interpolate, upsample  # noqa: E402
from ._pooling import (  # noqa: E402
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    fold,
    max_pool1d,
    max_pool2d,
    pixel_shuffle,
    pixel_unshuffle,
    unfold,
)

__all__ += ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
            "adaptive_max_pool1d", "adaptive_max_pool2d", "unfold", "fold", "pixel_shuffle", "pixel_unshuffle",
            "interpolate", "upsample"]

from ._norm import (  # noqa: E402
    alpha_dropout,
    batch_norm,
    dropout1d,
    dropout2d,
    feature_alpha_dropout,
    group_norm,
    instance_norm,
    local_response_norm,
    normalize,
    rms_norm,
)

__all__ += ["batch_norm", "instance_norm", "group_norm", "rms_norm", "normalize", "local_response_norm", "dropout1d",
            "dropout2d", "alpha_dropout", "feature_alpha_dropout"]

from ._attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: E402

__all__ += ["scaled_dot_product_attention", "multi_head_attention_forward"]

from ._losses_more import *  # noqa: E402, F403  (smooth_l1_loss, kl_div, cosine_similarity, ...)
from ._losses_more import __all__ as _more_losses  # noqa: E402

__all__ += _more_losses

from ._conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d  # noqa: E402

__all__ += ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]

autocast_names(globals())  # autocast for the functions re-exported above (group_norm, the losses ...): amp's table
