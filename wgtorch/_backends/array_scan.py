"""Scans on the NumPy/CuPy backend (the reference the WGSL scan kernels are tested against).

cumsum/cumprod are ``xp.cumsum``/``xp.cumprod`` in the accumulator type (float32 for a float16
result, as PyTorch's cpu kernel). cummax/cummin and logcumsumexp combine shifted copies log2(K)
times (Hillis-Steele over whole arrays) with plain ``xp`` elementwise ops, since CuPy's ufuncs
have no ``accumulate`` for maximum or logaddexp; the combine is the one the WGSL kernel uses."""

from __future__ import annotations

import numpy as np

from .._dtype import float16, int64


def _shift_scan(xp, combine, arrays, dim: int):
    """Inclusive scan of the tuple ``arrays`` along ``dim`` with ``combine(earlier, later)``."""
    n = arrays[0].shape[dim]
    s = 1
    while s < n:
        head = (slice(None),) * dim + (slice(None, n - s),)
        tail = (slice(None),) * dim + (slice(s, None),)
        merged = combine(tuple(a[head] for a in arrays), tuple(a[tail] for a in arrays))
        arrays = tuple(
            xp.concatenate([a[(slice(None),) * dim + (slice(None, s),)], m], axis=dim) for a, m in zip(arrays, merged)
        )
        s *= 2
    return arrays


def scan(self, op: str, a, dim: int, out_dtype):
    """The `Backend.scan` op over ``self.xp`` (bound to `ArrayBackend` in ``array.py``)."""
    xp = self.xp
    acc = np.dtype(np.float32) if out_dtype is float16 else out_dtype.np
    if op in ("sum", "prod"):
        fn = xp.cumsum if op == "sum" else xp.cumprod
        with np.errstate(all="ignore"):
            r = fn(a.astype(acc, copy=False), axis=dim)
        return xp.ascontiguousarray(r.astype(out_dtype.np, copy=False))
    if op == "logsumexp":

        def lae(x, y):
            (x,), (y,) = x, y
            mx, mn = xp.maximum(x, y), xp.minimum(x, y)  # (both propagate NaN)
            same_inf = (mx == mn) & xp.isinf(mn)
            with np.errstate(all="ignore"):
                r = mx + xp.log1p(xp.exp(xp.where(same_inf, 0, mn - mx)))
            return (xp.where(same_inf, mx, r),)

        (r,) = _shift_scan(xp, lae, (a.astype(acc, copy=False),), dim) if a.size else (a.astype(acc),)
        return xp.ascontiguousarray(r.astype(out_dtype.np, copy=False))
    if op not in ("max", "min"):
        raise ValueError(f"scan: unknown op {op!r}")
    # (value, index) pairs: the later one wins when it is NaN, or ties or beats a non-NaN earlier
    # one; so the index is the last position of the running extreme, and of the last NaN once seen.
    shape = [1] * a.ndim
    shape[dim] = a.shape[dim]
    positions = xp.broadcast_to(xp.arange(a.shape[dim], dtype=np.int64).reshape(shape), a.shape)
    floating = a.dtype.kind == "f"
    cmp = xp.greater_equal if op == "max" else xp.less_equal

    def pick(x, y):
        (xv, xi), (yv, yi) = x, y
        take = cmp(yv, xv)
        if floating:
            take = xp.isnan(yv) | (~xp.isnan(xv) & take)
        return xp.where(take, yv, xv), xp.where(take, yi, xi)

    values = a.astype(out_dtype.np, copy=False)
    if a.size:
        values, positions = _shift_scan(xp, pick, (values, positions), dim)
    return xp.ascontiguousarray(values), xp.ascontiguousarray(positions.astype(int64.np, copy=False))
