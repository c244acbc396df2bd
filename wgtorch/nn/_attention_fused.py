"""The fused scaled-dot-product attention path: an autograd `Function` over a backend's optional
``attention_forward`` / ``attention_backward`` (the wgpu backend's flash-attention kernels,
``_backends/wgpu/attention.py``), used by ``scaled_dot_product_attention`` where they apply.

`_sdpa_fused` returns None where they do not (no capability, dropout, a dtype or head dim the
kernels do not take, a mask that needs a gradient, GQA with differing key / value head counts, shapes
the composite should report on); the composite in ``_attention.py`` then runs.
"""

from __future__ import annotations

import math

from .. import _creation
from .. import _dtype as D
from .._backends.protocol import optional
from .._broadcast import broadcast_shapes
from .._tensor import _wrap
from .._tensor_class import Tensor
from ..autograd import grad
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..ops.pointwise import where

#: Switch for tests and benchmarks: False runs the composite on every device.
USE_FUSED = True


def _capability(be, name: str):
    return optional(be, name)  # None where the backend has no fused kernel


def _acc_dtype(dt):
    """The dtype the kernels compute in, of the mask, the logsumexp and delta: float64 for float64, else float32."""
    return D.float64 if dt is D.float64 else D.float32


class FusedSDPA(Function):
    """Attention on dense (Z, L, E), (Zk, S, E), (Zk, S, Ev) tensors with an additive mask (Zm, L, S) in
    `_acc_dtype` or None; query batch z reads key batch (z // hq) * hk + (z % hq) // (hq // hk). The
    backward starts from the saved probabilities where the backend keeps them (``attention_probs_*``:
    NumPy / CuPy), else from the per-row logsumexp (wgpu)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, scale, is_causal, hq, hk):
        be = q._be
        m = mask._data if mask is not None else None
        kept = _capability(be, "attention_probs_forward")
        fwd = kept if kept is not None else _capability(be, "attention_forward")
        out, state = fwd(q._data, k._data, v._data, m, scale, is_causal, hq, hk)  # state: probabilities or lse
        out = _wrap(out, be, q.dtype)
        if ctx.needs_input_grad:
            ctx.args = (scale, is_causal, hq, hk, kept is not None)
            ctx.save_for_backward(q, k, v, mask, out, _wrap(state, be, _acc_dtype(q.dtype)))
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, mask, out, state = ctx.saved_tensors
        scale, is_causal, hq, hk, kept = ctx.args
        if is_grad_enabled():  # backward(create_graph=True): differentiate the composite instead
            return _double_backward(q, k, v, mask, g, scale, is_causal, hq, hk) + (None,) * 5
        be = q._be
        g = g.to(q.dtype).contiguous()
        acc = _acc_dtype(q.dtype)
        delta = (g.to(acc) * out.to(acc)).sum(-1).contiguous()
        if kept:
            dq, dk, dv = _capability(be, "attention_probs_backward")(
                g._data, q._data, k._data, v._data, state._data, delta._data, scale, hq, hk
            )
        else:
            m = mask._data if mask is not None else None
            dq, dk, dv = _capability(be, "attention_backward")(
                g._data, q._data, k._data, v._data, m, out._data, state._data, delta._data, scale, is_causal, hq, hk
            )
        need = tuple(ctx.needs_input_grad) + (False,) * 3
        grads = tuple(_wrap(a, be, q.dtype) if n else None for a, n in zip((dq, dk, dv), need[:3]))
        return grads + (None,) * 5


def _double_backward(q, k, v, mask, g, scale, is_causal, hq, hk):
    """The gradients as a graph (for higher-order derivatives): the composite, differentiated."""
    from ._attention import _sdpa_composite

    z, L, e = q.shape
    zk, S, ev = v.shape
    b = z // hq if hq else 0
    m = None
    if mask is not None:
        m = mask.reshape(L, S) if mask.shape[0] == 1 else mask.reshape(b, hq, L, S)
    o = _sdpa_composite(
        q.reshape(b, hq, L, e), k.reshape(b, hk, S, e), v.reshape(b, hk, S, ev), m, 0.0, is_causal, scale, hq != hk
    ).reshape(z, L, ev)
    inputs = [t for t in (q, k, v) if t.requires_grad]
    got = iter(grad(o, inputs, g, create_graph=True, allow_unused=True))
    return tuple(next(got) if t.requires_grad else None for t in (q, k, v))


def _sdpa_fused(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask,
    dropout_p: float,
    is_causal: bool,
    scale: float,
    enable_gqa: bool,
):
    """The fused kernels' result where they apply (inputs already checked), else None."""
    be = query._be
    supported = _capability(be, "attention_supported")
    if not USE_FUSED or dropout_p > 0.0 or supported is None or _capability(be, "attention_forward") is None:
        return None
    L, e = query.shape[-2:]
    S, ev = value.shape[-2:]
    if not supported(query.dtype, e, ev):
        return None
    gqa = enable_gqa and query.ndim >= 3 and key.ndim >= 3
    try:
        if gqa:
            hq, hk = query.shape[-3], key.shape[-3]
            if hk == 0 or hk != value.shape[-3] or hq % hk:
                return None  # differing key / value heads: the composite (it also reports bad head counts)
            lead = broadcast_shapes([query.shape[:-3], key.shape[:-3], value.shape[:-3]])
            q, k, v = (query.expand(*lead, hq, L, e), key.expand(*lead, hk, S, e), value.expand(*lead, hk, S, ev))
            scores_lead = (*lead, hq)
        else:
            hq = hk = 1
            lead = broadcast_shapes([query.shape[:-2], key.shape[:-2], value.shape[:-2]])
            q, k, v = query.expand(*lead, L, e), key.expand(*lead, S, e), value.expand(*lead, S, ev)
            scores_lead = lead
    except (RuntimeError, ValueError):
        return None  # the composite raises PyTorch's error
    z = math.prod(scores_lead)
    mask = None
    if attn_mask is not None:
        mask = _dense_mask(attn_mask, scores_lead, L, S, z, _acc_dtype(query.dtype))
        if mask is None:
            return None
    q, k, v = (t.contiguous().reshape(math.prod(t.shape[:-2]), *t.shape[-2:]) for t in (q, k, v))
    out = FusedSDPA.apply(q, k, v, mask, scale, bool(is_causal), hq, hk)
    return out.reshape(*scores_lead, L, ev)


def _dense_mask(attn_mask: Tensor, scores_lead: tuple, L: int, S: int, z: int, dt=D.float32):
    """``attn_mask`` as a dense additive ``dt`` (1, L, S) (one for all batches) or (z, L, S); None where
    the composite should handle it (bad shape or dtype, or it needs a gradient)."""
    if attn_mask.requires_grad or not (attn_mask.dtype is D.bool_ or attn_mask.dtype.is_floating_point):
        return None
    full = (*scores_lead, L, S)
    if z == 0:
        return _creation.zeros(1, L, S, dtype=dt, device=attn_mask.device)  # never read
    try:
        if broadcast_shapes([tuple(attn_mask.shape), full]) != full:
            return None
    except (RuntimeError, ValueError):
        return None
    if attn_mask.dtype is D.bool_:
        zero = _creation.full((), 0.0, dtype=dt, device=attn_mask.device)
        m = where(attn_mask, zero, _creation.full((), float("-inf"), dtype=dt, device=attn_mask.device))
    else:
        m = attn_mask.to(dt)
    if math.prod(m.shape[:-2]) == 1 or z <= 1:
        m = m.reshape(*m.shape[-2:]) if m.ndim >= 2 else m
        return m.expand(L, S).contiguous().reshape(1, L, S)
    return m.expand(*full).contiguous().reshape(z, L, S)
