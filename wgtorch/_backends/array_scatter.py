"""scatter (assign or reduce) and nonzero for the NumPy/CuPy backends (bound onto `ArrayBackend`
in array.py), written over ``xp``.

scatter: NumPy applies the reduction with the ufunc's unbuffered ``.at`` (repeated positions
combine in index order; an assignment's last write wins, as on PyTorch's cpu). CuPy has no
``multiply.at`` and its fancy assignment is racy, so there the writes go in "rounds": the index
positions are sorted stably by target and the k-th write to each target goes in round k, so
every round writes distinct targets (one host sync for the number of rounds).
"""

from __future__ import annotations

import numpy as np

from .array_common import _checked_index, call_quietly

_UFUNCS = {"prod": "multiply", "amax": "maximum", "amin": "minimum"}


def _targets(xp, shape: tuple, dim: int, idx):
    """Flat positions in a C-contiguous array of ``shape`` of every index element, along ``dim``
    the index value (sparse grids: CuPy has no np.indices)."""
    strides = [int(np.prod(shape[d + 1 :], dtype=np.int64)) for d in range(len(shape))]
    lin = idx * strides[dim]
    for d, n in enumerate(idx.shape):
        if d != dim and n > 1:
            lin = lin + xp.arange(n, dtype=np.int64).reshape((1,) * d + (n,) + (1,) * (idx.ndim - d - 1)) * strides[d]
    return xp.broadcast_to(lin, idx.shape).reshape(-1)


def _combine(xp, reduce, old, new):
    if reduce is None:
        return new
    return getattr(xp, _UFUNCS[reduce])(old, new)


class ArrayScatterOps:
    """Mixin-style methods for `ArrayBackend`: scatter and nonzero."""

    def scatter(self, a, dim, index, src, reduce=None, index_error=False):
        """A new array: a with src written at index along dim (``reduce`` None), or combined with
        what is there ("sum", "prod", "amax", "amin"; NaN propagates through amax/amin)."""
        if reduce == "sum":
            return self.scatter_add(a, dim, index, src, index_error)
        xp = self.xp
        check = getattr(self, "_check_index", None)  # CuPy: a device-side report, no sync
        if check is not None:
            from . import cupy_kernels as K

            check(index, a.shape[dim], K.ERR_SCATTER_ADD, dim)
        idx = _checked_index(xp, index, a.shape[dim], dim, "index" if index_error else "scatter")
        out = xp.ascontiguousarray(a).copy()
        if idx.size == 0:
            return out
        flat = out.reshape(-1)
        lin = _targets(xp, a.shape, dim, idx)
        values = xp.ascontiguousarray(src[tuple(slice(0, n) for n in idx.shape)]).reshape(-1)
        if check is not None:
            ok = (idx.reshape(-1) >= 0) & (idx.reshape(-1) < a.shape[dim])  # bad ones were reported
            lin, values = lin[ok], values[ok]
        if xp is np:
            if reduce is None:
                flat[lin] = values  # repeated positions: the last write wins
            else:
                call_quietly(getattr(np, _UFUNCS[reduce]).at, flat, lin, values)
            return out
        self._scatter_rounds(flat, lin, values, reduce)
        return out

    def _scatter_rounds(self, flat, lin, values, reduce) -> None:
        xp = self.xp
        if lin.size == 0:
            return
        order = xp.argsort(lin, kind="stable")
        lin, values = lin[order], values[order]
        first = xp.concatenate([xp.ones(1, bool), lin[1:] != lin[:-1]])
        group = xp.cumsum(first) - 1
        starts = xp.flatnonzero(first)
        rank = xp.arange(lin.size) - starts[group]
        for r in range(int(xp.asnumpy(rank.max())) + 1):  # one sync: the number of rounds
            sel = rank == r
            at = lin[sel]
            flat[at] = _combine(xp, reduce, flat[at], values[sel])

    def nonzero(self, a):
        """(n, a.ndim) int64 coordinates of the nonzero elements in row-major order (NaN is
        nonzero). The count needs the host (a sync on CuPy, as in PyTorch)."""
        return self.xp.argwhere(a).astype(np.int64, copy=False)
