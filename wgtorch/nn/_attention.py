"""Attention as a composite of existing ops (matmul, softmax, where), differentiable on every device:
``scaled_dot_product_attention`` and ``multi_head_attention_forward`` with PyTorch's semantics. Where a backend
has fused attention kernels (wgpu: flash attention, ``_attention_fused.py``), SDPA runs those instead and the
composite stays the reference and the fallback.

Masks follow PyTorch: for SDPA a bool mask is True where a query may attend; for multi-head attention a bool
``attn_mask`` / ``key_padding_mask`` is True where attending is *not* allowed. Float masks are added to the
scores.
"""

from __future__ import annotations

import math

from .. import _creation
from .. import _dtype as D
from .._tensor_class import Tensor
from ..amp.autocast_mode import autocast_op
from ..ops.pointwise import where
from ..ops.reduce import softmax as _softmax
from ..ops.shape import cat
from ._attention_fused import _sdpa_fused
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
    if scores.shape[-1] == 0:
        return scores  # no keys: nothing to normalise (amax of an empty dim would raise)
    dead = scores.amax(-1, keepdim=True) == float("-inf")
    zero = _creation.full((), 0.0, dtype=scores.dtype, device=scores.device)
    return where(dead, zero, _softmax(where(dead, zero, scores), -1))


@autocast_op
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``.

    Shapes: query (N..., Hq, L, E), key (N..., H, S, E), value (N..., H, S, Ev) -> (N..., Hq, L, Ev); the leading
    dims broadcast. ``attn_mask`` broadcasts to (N..., Hq, L, S): bool (True = take part) or float (added).
    ``is_causal`` keeps key j <= query i (with a mask too, both apply). ``scale`` defaults to 1 / sqrt(E). With
    ``enable_gqa``, H divides Hq and each key/value head serves Hq / H query heads. Rows with every key masked out
    give zeros.
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
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    out = _sdpa_fused(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    if out is not None:
        return out
    return _sdpa_composite(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


def _sdpa_composite(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    """The composite SDPA (matmul, safe softmax, where): every device, and the fused kernel's reference."""
    if enable_gqa and query.ndim >= 3 and key.ndim >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hq % hk or hq % hv:
            raise RuntimeError(f"Number of heads in key and value must divide the number of heads in query, got "
                               f"{hq}, {hk} and {hv}")
        key, value = _repeat_heads(key, hq // hk), _repeat_heads(value, hq // hv)
    L, S = query.shape[-2], key.shape[-2]
    scores = (query * scale) @ key.transpose(-2, -1)  # (..., L, S); head mismatches raise here
    neg_inf = _creation.full((), float("-inf"), dtype=scores.dtype, device=scores.device)
    if is_causal:
        scores = where(_causal_keep(L, S, scores.device), scores, neg_inf)
    if attn_mask is not None:
        if attn_mask.ndim > 0 and (attn_mask.shape[-1] not in (1, S) or (attn_mask.ndim > 1 and
                                                                          attn_mask.shape[-2] not in (1, L))):
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
    # Only a mask can leave a row with no key (a causal row always keeps key 0): plain softmax otherwise.
    attn = _safe_softmax(scores) if attn_mask is not None else _softmax(scores, -1)
    if dropout_p > 0.0:
        from .functional import dropout

        attn = dropout(attn, dropout_p, training=True)
    return attn @ value


def _float_mask(mask: Tensor | None, dtype, name: str) -> Tensor | None:
    """A bool mask (True = masked out) as an additive float mask (-inf there, 0 elsewhere)."""
    if mask is None:
        return None
    if mask.dtype is D.bool_:
        zero = _creation.full((), 0.0, dtype=dtype, device=mask.device)
        return where(mask, _creation.full((), float("-inf"), dtype=dtype, device=mask.device), zero)
    if not mask.dtype.is_floating_point:
        raise AssertionError(f"only bool and floating types of {name} are supported")
    return mask.to(dtype)


def _pad_last(t: Tensor | None) -> Tensor | None:
    """Append one zero column to a float mask (the extra key of ``bias_k`` / ``add_zero_attn``)."""
    if t is None:
        return None

    return cat([t, _creation.zeros(*t.shape[:-1], 1, dtype=t.dtype, device=t.device)], -1)


def multi_head_attention_forward(query, key, value, embed_dim_to_check: int, num_heads: int, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn: bool, dropout_p: float,
                                 out_proj_weight, out_proj_bias, training: bool = True, key_padding_mask=None,
                                 need_weights: bool = True, attn_mask=None, use_separate_proj_weight: bool = False,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights: bool = True, is_causal: bool = False):
    """PyTorch's multi-head attention on sequence-first inputs.

    Shapes: query (L, N, E) or unbatched (L, E); key (S, N, kdim), value (S, N, vdim); key_padding_mask (N, S)
    or (S,); attn_mask (L, S) or (N * num_heads, L, S). Bool masks are True where attending is not allowed.
    Returns (output (L, N, E), weights (N, L, S) averaged over heads or (N, num_heads, L, S), or None).
    """
    from .functional import dropout, linear

    batched = query.ndim == 3
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertionError(f"query, key and value must all be 2-D (unbatched) or 3-D (batched), got "
                             f"{query.ndim}-D, {key.ndim}-D and {value.ndim}-D")
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    if key.shape[:2] != value.shape[:2] or key.shape[1] != bsz:
        raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)} "
                             f"or the query's batch size {bsz}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if key_padding_mask is not None and tuple(key_padding_mask.shape) != (bsz, src_len):
        raise AssertionError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but got "
                             f"{tuple(key_padding_mask.shape)}")
    dtype = query.dtype
    key_padding_mask = _float_mask(key_padding_mask, dtype, "key_padding_mask")
    attn_mask = _float_mask(attn_mask, dtype, "attn_mask")

    # -- input projections
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = in_proj_bias[:embed_dim], in_proj_bias[embed_dim:2 * embed_dim], in_proj_bias[2 * embed_dim:]
    if use_separate_proj_weight:
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        w_q, w_k = in_proj_weight[:embed_dim], in_proj_weight[embed_dim:2 * embed_dim]
        w_v = in_proj_weight[2 * embed_dim:]
    q, k, v = linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                                   f"{(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key / value.")
        k = cat([k, bias_k.expand(1, bsz, embed_dim)], 0)
        v = cat([v, bias_v.expand(1, bsz, embed_dim)], 0)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)

    # -- heads: (L, N, E) -> (N * H, L, head_dim)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = (k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1) if static_k is None else static_k)
    v = (v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1) if static_v is None else static_v)
    if add_zero_attn:
        k = cat([k, _creation.zeros(bsz * num_heads, 1, head_dim, dtype=dtype, device=k.device)], 1)
        v = cat([v, _creation.zeros(bsz * num_heads, 1, head_dim, dtype=dtype, device=v.device)], 1)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
        kpm = kpm.reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        scores = (q * (1.0 / math.sqrt(head_dim))) @ k.transpose(-2, -1)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = _softmax(scores, -1)  # a fully masked row is NaN here, as in PyTorch
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p)
        out = weights @ v  # (N * H, L, head_dim)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(1)
    else:
        out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p)
        weights = None
    out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    if not batched:
        out = out.squeeze(1)
        weights = weights.squeeze(0) if weights is not None else None
    return out, weights


__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]
