"""More losses and distances with PyTorch's signatures and formulas, composed of differentiable ops:
smooth L1 / Huber, KL divergence, cosine similarity, pairwise distance, triplet margin, margin ranking,
Poisson and Gaussian NLL, cosine embedding, hinge embedding and soft margin.

Shapes: input (*) and target (*) of the same shape unless a function says otherwise; 'none' keeps the
per-element loss, 'mean' / 'sum' reduce to a scalar.
"""

from __future__ import annotations

import math
import warnings

from .. import _creation
from .._tensor_class import Tensor
from ..ops.pointwise import where
from ._functions import _reduction, same_device


def _red(size_average, reduce, reduction):
    return _reduction(size_average, reduce, reduction)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _zero(like: Tensor) -> Tensor:
    return _creation.full((), 0.0, dtype=like.dtype, device=like.device)


def _warn_sizes(input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=3)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = input - target``); L1 at beta 0."""
    reduction = _red(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _warn_sizes(input, target)
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``; times ``weight`` (the input's shape)."""
    reduction = _red(None, None, reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _warn_sizes(input, target)
    d = (input - target).abs()
    loss = where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError("Weights and input must have the same size.")
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Pointwise ``target (log target - input)`` (input holds log-probabilities; 0 where target is 0), or
    ``exp(target) (target - input)`` with ``log_target``. 'batchmean' divides the sum by input.size(0)."""
    if reduction == "batchmean":
        if size_average is not None or reduce is not None:
            reduction = _red(size_average, reduce, "mean")
    else:
        reduction = _red(size_average, reduce, reduction)
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                          "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                          "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                          stacklevel=2)
    same_device(input, target)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        pos = target > 0
        one = _creation.full((), 1.0, dtype=target.dtype, device=target.device)
        loss = where(pos, target * where(pos, target, one).log(), _zero(target)) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


def _clamped_norm(x: Tensor, dim: int, eps: float) -> Tensor:
    """``max(||x||_2, eps)`` along ``dim`` (kept), without a NaN gradient at x = 0."""
    return (x * x).sum(dim, keepdim=True).clamp(min=eps * eps).sqrt()


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps))`` along ``dim``; x1 and x2 broadcast.
    Shape: (*, D, *) -> (*, *)."""
    same_device(x1, x2)
    try:
        x1, x2 = x1 + x2 * 0, x2 + x1 * 0  # broadcast both to the common shape
    except Exception as e:
        raise RuntimeError(f"cosine_similarity(): x1 of shape {list(x1.shape)} and x2 of shape {list(x2.shape)} "
                           "do not broadcast") from e
    return ((x1 / _clamped_norm(x1, dim, eps)) * (x2 / _clamped_norm(x2, dim, eps))).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last dim. Shape: (N, D) or (D,) -> (N,) or ()."""
    same_device(x1, x2)
    if p < 0:
        raise RuntimeError("pairwise_distance only supports non-negative p values")
    d = x1 - x2 + eps
    dim = -1 if d.ndim else 0
    a = d.abs()
    if p == math.inf:
        out = a.amax(dim, keepdim=keepdim)
    elif p == 2:
        out = (d * d).sum(dim, keepdim=keepdim).sqrt()
    elif p == 1:
        out = a.sum(dim, keepdim=keepdim)
    elif p == 0:
        out = (a != 0).to(d.dtype).sum(dim, keepdim=keepdim)
    else:
        out = (a ** p).sum(dim, keepdim=keepdim) ** (1.0 / p)
    return out


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``pairwise_distance``; ``swap`` uses min(d(a, n), d(p, n)).
    Shape: (N, D) or (D,) each -> (N,) / () or a scalar."""
    reduction = _red(size_average, reduce, reduction)
    dims = (anchor.ndim, positive.ndim, negative.ndim)
    if len(set(dims)) != 1 or dims[0] not in (1, 2):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions (1 or 2), but got: anchor {dims[0]}D, positive {dims[1]}D, and negative "
                           f"{dims[2]}D inputs")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    d_ap = pairwise_distance(anchor, positive, p, eps)
    d_an = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_pn = pairwise_distance(positive, negative, p, eps)
        d_an = where(d_pn < d_an, d_pn, d_an)
    return _reduce((d_ap - d_an + margin).clamp(min=0.0), reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """``max(0, -target (input1 - input2) + margin)``; target holds 1 or -1. Shape: (N,) or () each."""
    reduction = _red(size_average, reduce, reduction)
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} ")
    same_device(input1, input2, target)
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0.0), reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """``exp(input) - target input`` (``log_input``) or ``input - target log(input + eps)``; ``full`` adds
    Stirling's ``t log t - t + 0.5 log(2 pi t)`` where target > 1."""
    reduction = _red(size_average, reduce, reduction)
    same_device(input, target)
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        big = target > 1
        t = where(big, target, _creation.full((), 2.0, dtype=target.dtype, device=target.device))
        stirling = t * t.log() - t + (t * (2 * math.pi)).log() * 0.5
        loss = loss + where(big, stirling, _zero(target))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """``0.5 (log max(var, eps) + (input - target)^2 / max(var, eps))`` (+ ``0.5 log(2 pi)`` when ``full``).
    var: the input's shape, one dim fewer, a last dim of 1, or a float. The clamp passes var's gradient
    through unchanged, as PyTorch's in-place clamp under no_grad does."""
    if not isinstance(var, Tensor):
        var = _creation.full(tuple(input.shape), float(var), dtype=input.dtype, device=input.device)
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(reduction + " is not valid")
    same_device(input, target, var)
    if bool((var < 0).any().item()):
        raise ValueError("var has negative entry/entries")
    var = var + (var.clamp(min=eps) - var).detach()
    diff = input - target
    loss = (var.log() + diff * diff / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average=None,
                          reduce=None, reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` where target is 1, ``max(0, cos - margin)`` where it is -1 (cos along dim 1, with
    1e-12 added to each squared norm). Shape: (N, D) or (D,) each, target (N,) or ()."""
    reduction = _red(size_average, reduce, reduction)
    if input1.ndim != input2.ndim or input1.ndim not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise RuntimeError(f"cosine_embedding_loss(): expected input1 and input2 of the same 1-D or 2-D shape, got "
                           f"{list(input1.shape)} and {list(input2.shape)}")
    if target.ndim != input1.ndim - 1:
        raise RuntimeError(f"{input1.ndim}D target tensor expects {input1.ndim - 1}D input tensors, but found "
                           f"inputs with sizes {list(input1.shape)} and {list(input2.shape)}.")
    same_device(input1, input2, target)
    dim = input1.ndim - 1
    prod = (input1 * input2).sum(dim)
    denom = (((input1 * input1).sum(dim) + 1e-12) * ((input2 * input2).sum(dim) + 1e-12)).sqrt()
    cos = prod / denom
    zero = _zero(cos)
    loss = where(target == 1, 1 - cos, zero) + where(target == -1, (cos - margin).clamp(min=0.0), zero)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """``input`` where target is 1, ``max(0, margin - input)`` where it is -1."""
    reduction = _red(size_average, reduce, reduction)
    same_device(input, target)
    zero = _zero(input)
    loss = where(target != 1, (margin - input).clamp(min=0.0), zero) + where(target != -1, input, zero)
    return _reduce(loss, reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """``log(1 + exp(-target input))``; target holds 1 or -1."""
    reduction = _red(size_average, reduce, reduction)
    same_device(input, target)
    return _reduce((-target * input).exp().log1p(), reduction)


__all__ = ["smooth_l1_loss", "huber_loss", "kl_div", "cosine_similarity", "pairwise_distance", "triplet_margin_loss",
           "margin_ranking_loss", "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss",
           "hinge_embedding_loss", "soft_margin_loss"]
