"""Attention as a composite of existing ops (matmul, softmax, where), differentiable on every device:
``scaled_dot_product_attention`` and ``multi_head_attention_forward`` with PyTorch's semantics.

Masks follow PyTorch: for SDPA a bool mask is True where a query may attend; for multi-head attention a bool
``attn_mask`` / ``key_padding_mask`` is True where attending is *not* allowed. Float masks are added to the
scores.
"""

from __future__ import annotations

import math

from .. import _creation
from .. import _dtype as D
from .._tensor import Tensor
from ..ops.pointwise import where
from ..ops.reduce import softmax as _softmax
from ._functions import same_device


def _causal_keep(L: int, S: int, device) -> Tensor:
    """(L, S) bool, True on and below the diagonal (top-left aligned, as ``torch.ones(L, S).tril()``)."""
    rows = _creation.arange(L, device=device).reshape(L, 1)
    cols = _creation.arange(S, device=device).reshape(1, S)
    return cols <= rows


def _repeat_heads(t: Tensor, repeats: int) -> Tensor:
    """``t.repeat_interleave(repeats, dim=-3)`` for (..., H, S, E)."""
    if repeats == 1:
        return t
    *lead, h, s, e = t.shape
    return t.unsqueeze(-3).expand(*lead, h, repeats, s, e).reshape(*lead, h * repeats, s, e)


def _safe_softmax(scores: Tensor) -> Tensor:
    """Softmax over the last dim whose rows that are entirely -inf give zeros (PyTorch's SDPA), not NaN."""
    dead = scores.amax(-1, keepdim=True) == float("-inf")
    zero = _creation.full((), 0.0, dtype=scores.dtype, device=scores.device)
    return where(dead, zero, _softmax(where(dead, zero, scores), -1))


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``.

    Shapes: query (N..., Hq, L, E), key (N..., H, S, E), value (N..., H, S, Ev) -> (N..., Hq, L, Ev); the leading
    dims broadcast. ``attn_mask`` broadcasts to (N..., Hq, L, S): bool (True = take part) or float (added).
    ``is_causal`` keeps key j <= query i. ``scale`` defaults to 1 / sqrt(E). With ``enable_gqa``, H divides Hq
    and each key/value head serves Hq / H query heads. Rows with every key masked out give zeros.
    """
    same_device(query, key, value, attn_mask)
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError("scaled_dot_product_attention(): query, key and value must have at least 2 dimensions")
    if not (query.dtype is key.dtype is value.dtype) or not query.dtype.is_floating_point:
        raise RuntimeError(f"Expected query, key, and value to have the same floating-point dtype, but got "
                           f"query.dtype: {query.dtype.name}, key.dtype: {key.dtype.name}, and value.dtype: "
                           f"{value.dtype.name} instead.")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention(): query and key must have the same embedding dim, got "
                           f"{query.shape[-1]} and {key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention(): key and value must have the same sequence length, "
                           f"got {key.shape[-2]} and {value.shape[-2]}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when "
                           "is_causal=True")
    if enable_gqa and query.ndim >= 3 and key.ndim >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hq % hk or hq % hv:
            raise RuntimeError(f"Number of heads in key and value must divide the number of heads in query, got "
                               f"{hq}, {hk} and {hv}")
        key, value = _repeat_heads(key, hq // hk), _repeat_heads(value, hq // hv)
    L, S = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = (query * scale) @ key.transpose(-2, -1)  # (..., L, S); head mismatches raise here
    neg_inf = _creation.full((), float("-inf"), dtype=scores.dtype, device=scores.device)
    if is_causal:
        scores = where(_causal_keep(L, S, scores.device), scores, neg_inf)
    if attn_mask is not None:
        if attn_mask.ndim > 0 and (attn_mask.shape[-1] != S or (attn_mask.ndim > 1 and attn_mask.shape[-2]
                                                                   not in (1, L))):
            raise RuntimeError(f"scaled_dot_product_attention(): attn_mask of shape {list(attn_mask.shape)} does "
                               f"not broadcast to the scores' shape {list(scores.shape)}")
        if attn_mask.dtype is D.bool_:
            scores = where(attn_mask, scores, neg_inf)
        elif attn_mask.dtype.is_floating_point:
            scores = scores + attn_mask.to(scores.dtype)
        else:
            raise RuntimeError(f"Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                               f"attn_mask.dtype: {attn_mask.dtype.name} and query.dtype: {query.dtype.name} "
                               "instead.")
    attn = _safe_softmax(scores)
    if dropout_p > 0.0:
        from .functional import dropout

        attn = dropout(attn, dropout_p, training=True)
    return attn @ value


__all__ = ["scaled_dot_product_attention"]
