"""Fused scaled-dot-product attention for the NumPy ("cpu") and CuPy ("cuda") backends: the optional
``attention_forward`` / ``attention_backward`` of ``protocol.FusedLayers``, with the layouts of the wgpu
kernels (``wgpu/attention.py``): q (Z, L, E), k (Zk, S, E), v (Zk, S, Ev) dense, Z = B * hq, Zk = B * hk,
query head h reading key/value head h // (hq // hk); ``mask`` None or an additive float32 (1 or Z, L, S).
Two pairs: the protocol's ``attention_forward`` / ``attention_backward`` (the per-row logsumexp between them,
as on wgpu; the validator checks these on CuPy), and ``attention_probs_forward`` / ``attention_probs_backward``
(``protocol.FusedAttentionProbs``), which the front end prefers where a backend has them.

Why not the composite: it runs a 4-D batched matmul over views, broadcasts and copies the masks, and
softmax / where as separate passes. Here every product is one 3-D matmul over dense (B * hk, rep * L, .)
arrays (the ``rep`` query heads sharing a key head are stacked as rows: no repeated keys), the softmax is
done in place on the scores, and the probabilities pair's backward starts from the saved probabilities (the
Z * L * S floats the composite keeps too; recomputing them from the logsumexp, as the wgpu kernels do, costs one
product, one exp and the masking again: measured in benches/RESULTS.md, "2026-12-02 cpu attention").

The products run on one BLAS thread where they are small (``blas_threads.py`` says why).
"""

from __future__ import annotations

import numpy as np

from .._dtype import HALVES, float32
from .array_common import call_quietly
from .blas_threads import blas_threads_for


class ArrayAttentionOps:
    """Mixin for `ArrayBackend` (uses ``self.xp``)."""

    def attention_supported(self, dt, e: int, ev: int) -> bool:
        """float32, float16 and bfloat16 (halves computed in float32); float64 uses the composite (the
        protocol's logsumexp and masks are float32)."""
        return dt is float32 or dt in HALVES

    def _attn_blas(self, rows: int, S: int, e: int, ev: int):
        return blas_threads_for(self.xp, rows, S, max(e, ev))

    def _attn_stack(self, q, k, v, mask, hq: int, hk: int):
        """q as (Zk, rep * L, E) in float32 (a view where it can), k and v in float32, and the mask as
        (1 or Zk, rep * L, S) (query heads sharing a key head stacked as rows)."""
        xp = self.xp
        z, L, e = q.shape
        zk = k.shape[0]
        rep = hq // hk if hk else 1
        f32 = lambda a: a.astype(np.float32, copy=False)  # noqa: E731
        qs = f32(q).reshape(zk, rep * L, e)
        m = None
        if mask is not None:
            m = f32(mask)
            if m.shape[0] == z and z > 1:
                m = m.reshape(zk, rep * L, m.shape[-1])
            elif rep > 1:
                m = xp.tile(m[:1], (1, rep, 1))
            else:
                m = m[:1]
        return qs, f32(k), f32(v), m, rep

    def _attn_scores(self, qs, k, m, scale: float, is_causal: bool, L: int, rep: int):
        """scale * q k^T + mask with causal positions at -inf: (Zk, rep * L, S) float32, a new array."""
        xp = self.xp
        zk, rows, _ = qs.shape
        S = k.shape[1]
        s = xp.empty((zk, rows, S), np.float32)
        xp.matmul(qs * np.float32(scale), k.transpose(0, 2, 1), out=s)
        if m is not None:
            s += m
        if is_causal:
            cut = xp.arange(S).reshape(1, S) > (xp.arange(rows) % max(L, 1)).reshape(rows, 1)
            xp.copyto(s, np.float32(-np.inf), where=cut)
        return s

    def attention_forward(self, q, k, v, mask, scale: float, is_causal: bool, hq: int, hk: int):
        """(out (Z, L, Ev) in q's dtype, lse (Z, L) float32, -inf for a row with no key kept: its output is 0)."""
        out, _, lse = call_quietly(self._attn_forward, q, k, v, mask, scale, is_causal, hq, hk)
        return out, lse

    def attention_backward(self, grad, q, k, v, mask, out, lse, delta, scale: float, is_causal: bool, hq: int, hk: int):
        """(dq, dk, dv) of `attention_forward` from the upstream gradient, its lse and delta = rowsum(grad * out)."""
        return call_quietly(self._attn_backward_lse, grad, q, k, v, mask, lse, delta, scale, is_causal, hq, hk)

    def attention_probs_forward(self, q, k, v, mask, scale: float, is_causal: bool, hq: int, hk: int):
        """(out (Z, L, Ev) in q's dtype, probabilities (Z, L, S) float32; 0 in a row with no key kept)."""
        out, p, _ = call_quietly(self._attn_forward, q, k, v, mask, scale, is_causal, hq, hk)
        return out, p

    def attention_probs_backward(self, grad, q, k, v, probs, delta, scale: float, hq: int, hk: int):
        """(dq, dk, dv) of `attention_probs_forward` from the upstream gradient, its probabilities and delta."""
        return call_quietly(self._attn_backward, grad, q, k, v, probs, delta, scale, hq, hk)

    # quietly (call_quietly): NaN / Inf in the inputs propagate as in PyTorch, and a dead row's log(0) is meant
    def _attn_forward(self, q, k, v, mask, scale, is_causal, hq, hk):
        """(out, probabilities (Z, L, S), lse (Z, L))."""
        xp = self.xp
        z, L, _ = q.shape
        ev = v.shape[-1]
        qs, k32, v32, m, rep = self._attn_stack(q, k, v, mask, hq, hk)
        S = k32.shape[1]
        if z * L == 0 or S == 0:  # no rows, or no keys: zeros (PyTorch's empty softmax @ v)
            return (
                xp.zeros((z, L, ev), q.dtype),
                xp.zeros((z, L, S), np.float32),
                xp.full((z, L), -np.inf, np.float32),
            )
        with self._attn_blas(qs.shape[1], S, qs.shape[2], ev):
            p = self._attn_scores(qs, k32, m, scale, is_causal, L, rep)
            mx = p.max(-1, keepdims=True)
            dead = mx == -np.inf  # no key kept (exp(-inf - -inf) would be NaN)
            xp.copyto(mx, np.float32(0.0), where=dead)
            p -= mx
            xp.exp(p, out=p)
            total = p.sum(-1, keepdims=True)
            lse = xp.log(total) + mx  # dead rows: log(0) + 0 = -inf
            p *= 1 / xp.where(dead, np.float32(np.inf), total)  # dead rows: 0 * (1 / inf) = 0
            out = xp.matmul(p, v32)
        return out.reshape(z, L, ev).astype(q.dtype, copy=False), p.reshape(z, L, S), lse.reshape(z, L)

    def _attn_backward_lse(self, grad, q, k, v, mask, lse, delta, scale, is_causal, hq, hk):
        """The probabilities recomputed from the logsumexp, then `_attn_backward`."""
        xp = self.xp
        z, L, _ = q.shape
        S = k.shape[1]
        if z * L == 0 or S == 0:
            return self._attn_backward(grad, q, k, v, None, delta, scale, hq, hk)
        qs, k32, _, m, rep = self._attn_stack(q, k, v, mask, hq, hk)
        with self._attn_blas(qs.shape[1], S, qs.shape[2], 1):
            p = self._attn_scores(qs, k32, m, scale, is_causal, L, rep)
        lse = lse.reshape(p.shape[0], p.shape[1], 1)
        p -= xp.where(lse == -np.inf, np.float32(np.inf), lse)  # dead rows: exp(-inf) = 0, not NaN
        xp.exp(p, out=p)
        return self._attn_backward(grad, q, k, v, p, delta, scale, hq, hk)

    def _attn_backward(self, grad, q, k, v, probs, delta, scale, hq, hk):
        xp = self.xp
        z, L, e = q.shape
        zk, S, ev = v.shape
        qs, k32, v32, _, rep = self._attn_stack(q, k, v, None, hq, hk)  # the mask is in the probabilities
        if z * L == 0 or S == 0:
            return xp.zeros(q.shape, q.dtype), xp.zeros(k.shape, k.dtype), xp.zeros(v.shape, v.dtype)
        rows = rep * L
        g = grad.astype(np.float32, copy=False).reshape(zk, rows, ev)
        p = probs.reshape(zk, rows, S)
        with self._attn_blas(rows, S, e, ev):
            dv = xp.matmul(p.transpose(0, 2, 1), g)
            ds = xp.matmul(g, v32.transpose(0, 2, 1))  # dP, then dS = P * (dP - delta) * scale in place
            ds -= delta.astype(np.float32, copy=False).reshape(zk, rows, 1)
            ds *= p
            ds *= np.float32(scale)
            dq = xp.matmul(ds, k32)
            dk = xp.matmul(ds.transpose(0, 2, 1), qs)
        return (
            dq.reshape(q.shape).astype(q.dtype, copy=False),
            dk.astype(k.dtype, copy=False),
            dv.astype(v.dtype, copy=False),
        )


__all__ = ["ArrayAttentionOps"]
