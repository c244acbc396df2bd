"""Reduction-family methods of the NumPy/CuPy backend beyond the protocol's ``reduce``: the
fused softmax that the wgpu backend runs as one kernel (the reference it is tested against)."""

from __future__ import annotations

import numpy as np


class ArrayReduceOps:
    """Mixin for `ArrayBackend` (uses ``self.xp``)."""

    def softmax(self, a, dim: int, log: bool):
        """softmax (or log_softmax) over ``dim``: exp(x - max) / sum, with the max taken with NaN
        propagation, so an all -inf row gives NaN as in PyTorch. float16 computes in float32."""
        xp = self.xp
        if a.size == 0:
            return xp.empty(a.shape, a.dtype)
        x = a.astype(np.float32) if a.dtype == np.float16 or a.dtype.name == "bfloat16" else a
        with np.errstate(all="ignore"):
            shifted = x - xp.max(x, axis=dim, keepdims=True)
            e = xp.exp(shifted)
            s = e.sum(axis=dim, keepdims=True)
            out = shifted - xp.log(s) if log else e / s
        return xp.ascontiguousarray(out.astype(a.dtype, copy=False))  # like the wgpu kernel's result
