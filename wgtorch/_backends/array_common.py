"""Helpers of the NumPy/CuPy backend that its mixin modules share (array.py and array_scatter.py)."""

from __future__ import annotations

import numpy as np

try:  # NumPy 2: switch to one prebuilt "ignore" error state; np.errstate builds one a call (0.7 us)
    from numpy._core._multiarray_umath import _extobj_contextvar, _make_extobj

    _IGNORE_ALL = _make_extobj(all="ignore")

    def call_quietly(fn, *args):
        """``fn(*args)`` under ``np.errstate(all="ignore")``: NaN and Inf propagate silently, as in
        PyTorch."""
        token = _extobj_contextvar.set(_IGNORE_ALL)
        try:
            return fn(*args)
        finally:
            _extobj_contextvar.reset(token)
except ImportError:  # NumPy 1.x

    def call_quietly(fn, *args):
        """``fn(*args)`` under ``np.errstate(all="ignore")``."""
        with np.errstate(all="ignore"):
            return fn(*args)


def _checked_index(xp, index, size: int, dim: int, kind: str):
    """int64 indices, refusing any outside [0, size) (NumPy would wrap negative ones) with the
    exception PyTorch's cpu kernel raises: ``kind`` "select" IndexError("index out of range in
    self"), "dim1" (index_select along dim 1) and "scatter" (gather, scatter_add) RuntimeError
    naming the first bad value, "index" IndexError naming it (x[:, idx], index_copy_, put_). Not
    on CuPy, where the check would cost a device-to-host sync."""
    idx = index.astype(np.int64, copy=False)
    if xp is np and idx.size and (idx.min() < 0 or idx.max() >= size):
        if kind == "select":
            raise IndexError("index out of range in self")
        flat = idx.reshape(-1)
        value = int(flat[np.argmax((flat < 0) | (flat >= size))])
        if kind == "dim1":
            raise RuntimeError(
                f"INDICES element is out of DATA bounds, id={value} axis_dim={size} (index_select: "
                f"index {value} is out of range for dimension {dim} with size {size})"
            )
        if kind == "index":
            raise IndexError(f"index {value} is out of bounds for dimension {dim} with size {size}")
        raise RuntimeError(f"index {value} is out of bounds for dimension {dim} with size {size}")
    return idx
