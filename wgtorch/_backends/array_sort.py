"""Sorting-family methods of the NumPy/CuPy backend: ``sort`` and ``searchsorted`` (the references
the WGSL kernels in ``shaders/sort.wgsl`` are tested against)."""

from __future__ import annotations

import numpy as np


class ArraySortOps:
    """Mixin for `ArrayBackend` (uses ``self.xp``)."""

    def sort(self, a, dim: int, descending: bool):
        """Stable sort along ``dim``: (values, int64 indices). NaN sorts as the largest value (last
        ascending, first descending); -0.0 and 0.0 are equal (ties keep their input order)."""
        xp = self.xp
        if a.ndim == 0 or a.size == 0:
            return a.copy(), xp.zeros(a.shape, np.int64)
        if descending:
            # A stable ascending sort of the reversed row, reversed again, is a stable descending
            # sort: ties come out in input order and NaN (last ascending) comes first.
            n = a.shape[dim]
            rev = xp.flip(a, axis=dim)
            idx = xp.flip(xp.argsort(rev, axis=dim, kind="stable"), axis=dim)
            idx = (n - 1) - idx
        else:
            idx = xp.argsort(a, axis=dim, kind="stable")
        idx = xp.ascontiguousarray(idx.astype(np.int64, copy=False))
        return xp.take_along_axis(a, idx, axis=dim), idx

    def searchsorted(self, seq, values, right: bool, sorter):
        """Insertion points of ``values`` in the rows of ``seq`` (int64), with PyTorch's comparisons:
        the first position whose element is ``>= v`` (``> v`` with ``right``), so a NaN value goes
        to the end. ``seq`` is 1-D (shared by all values) or has values' leading dims; ``sorter``
        (or None) holds, per row of seq, the indices that sort it."""
        xp = self.xp
        m = seq.shape[-1]
        if m == 0 or values.size == 0:
            return xp.zeros(values.shape, np.int64)
        if seq.ndim == 1:
            rows = seq.reshape(1, m)
            vals = values.reshape(1, -1)
        else:
            rows = seq.reshape(-1, m)
            vals = values.reshape(rows.shape[0], -1)
        if sorter is not None:
            rows = xp.take_along_axis(rows, sorter.reshape(rows.shape).astype(np.int64, copy=False), axis=1)
        lo = xp.zeros(vals.shape, np.int64)
        hi = xp.full(vals.shape, m, np.int64)
        bigger = xp.greater if right else xp.greater_equal
        with np.errstate(invalid="ignore"):
            for _ in range(m.bit_length()):  # ceil(log2(m + 1)) halvings end every search
                active = lo < hi
                mid = (lo + hi) >> 1
                probe = xp.take_along_axis(rows, xp.minimum(mid, m - 1), axis=1)
                go_right = active & ~bigger(probe, vals)
                lo = xp.where(go_right, mid + 1, lo)
                hi = xp.where(active & ~go_right, mid, hi)
        return lo.reshape(values.shape)
