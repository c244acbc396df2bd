"""Searching and counting: unique, unique_consecutive, searchsorted, bucketize and histc.

searchsorted/bucketize are one backend call (a WGSL binary search on wgpu). unique sorts on the
device and compares neighbours there; only the "differs from the previous one" flags come to the
host, because the number of unique values fixes the output's size (PyTorch syncs there too).
None of these has a gradient (as in PyTorch).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import _dtype as D
from .._creation import arange, tensor, zeros
from .._tensor import TensorCore, _dim, _wrap
from .pointwise import where
from .reduce import ValuesIndices
from .registry import TORCH_NAMES
from .sorting import _check_dim_nonempty, _sorted

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _host(t: Tensor) -> np.ndarray:
    return t._be.to_numpy(t._data)


def _runs(differs: Tensor | None, n: int):
    """(starts, counts, group of every element) of the runs of equal neighbours, from the n - 1
    flags "element i + 1 differs from element i" (host arrays, int64)."""
    flags = np.ones(n, bool)
    if n > 1:
        flags[1:] = _host(differs)
    starts = np.flatnonzero(flags).astype(np.int64)
    counts = np.diff(np.append(starts, n)).astype(np.int64)
    return starts, counts, (np.cumsum(flags) - 1).astype(np.int64)


def _on(x: Tensor, a: np.ndarray) -> Tensor:
    return tensor(a, dtype=D.int64, device=x.device)


def _result(values, inverse, counts, return_inverse, return_counts):
    out = (values,) + ((inverse,) if return_inverse else ()) + ((counts,) if return_counts else ())
    return out[0] if len(out) == 1 else out


def _move_first(x: Tensor, dim: int):
    """x with ``dim`` first and the rest flattened, [n, m]; and the permutation that undoes it."""
    order = [dim] + [d for d in range(x.ndim) if d != dim]
    undo = [order.index(d) for d in range(x.ndim)]
    moved = x.permute(*order)
    n = x.shape[dim]
    return moved, moved.reshape(n, math.prod(moved.shape[1:])), undo


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """The unique elements of ``input``, sorted (``sorted=False`` gives them sorted too, as
    PyTorch's cpu kernel does), with optionally the index of every element's value in them
    (``return_inverse``) and how often each occurs (``return_counts``). With ``dim``, the unique
    slices along it, in lexicographic order. NaN is never equal to NaN (each is its own value).

    Sorts on the device (``dim``: one stable sort per column, least significant first); the
    neighbour flags come to the host, which sizes the output (a sync, as in PyTorch)."""
    x = input.detach()
    if dim is not None:
        return _unique_dim(x, _dim(dim, x.ndim), return_inverse, return_counts)
    flat = x.reshape(-1)
    n = flat.numel()
    if n == 0:
        return _result(
            flat, x.new_zeros(x.shape, dtype=D.int64), x.new_zeros((0,), dtype=D.int64), return_inverse, return_counts
        )
    s, order = _sorted(flat, 0, False)
    starts, counts, group = _runs(s[1:] != s[:-1] if n > 1 else None, n)
    values = s.index_select(0, _on(x, starts))
    inverse = x.new_zeros((n,), dtype=D.int64).scatter_add(0, order, _on(x, group)).reshape(x.shape)
    return _result(values, inverse, _on(x, counts), return_inverse, return_counts)


def _unique_dim(x: Tensor, dim: int, return_inverse: bool, return_counts: bool):
    if x.ndim == 0:
        raise IndexError("unique(): a 0-d tensor has no dim to take unique slices along")
    if any(n == 0 for d, n in enumerate(x.shape) if d != dim):
        raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
    moved, rows, undo = _move_first(x, dim)
    n, m = rows.shape
    if n == 0:
        return _result(
            x, x.new_zeros((0,), dtype=D.int64), x.new_zeros((0,), dtype=D.int64), return_inverse, return_counts
        )

    perm = arange(n, device=x.device)
    for c in range(m - 1, -1, -1):  # stable sorts, least significant column first: a lexicographic order
        perm = perm.index_select(0, _sorted(rows[:, c].index_select(0, perm), 0, False)[1])
    ordered = rows.index_select(0, perm)
    starts, counts, group = _runs((ordered[1:] != ordered[:-1]).any(1) if n > 1 else None, n)
    values = ordered.index_select(0, _on(x, starts)).reshape((len(starts),) + tuple(moved.shape[1:]))
    inverse = x.new_zeros((n,), dtype=D.int64).scatter_add(0, perm, _on(x, group))
    return _result(values.permute(*undo), inverse, _on(x, counts), return_inverse, return_counts)


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """One element of every run of equal consecutive elements (``dim``: equal consecutive slices),
    with optionally the run every element belongs to (``return_inverse``) and the run lengths
    (``return_counts``). NaN is never equal to NaN. The run flags are read on the host (a sync)."""
    x = input.detach()
    if dim is None:
        flat = x.reshape(-1)
        n = flat.numel()
        starts, counts, group = _runs(flat[1:] != flat[:-1] if n > 1 else None, n)
        values = flat.index_select(0, _on(x, starts))
        return _result(values, _on(x, group).reshape(x.shape), _on(x, counts), return_inverse, return_counts)
    dim = _dim(dim, x.ndim)
    if x.ndim == 0:
        raise IndexError("unique_consecutive(): a 0-d tensor has no dim to take slices along")
    moved, rows, undo = _move_first(x, dim)
    n = rows.shape[0]
    starts, counts, group = _runs((rows[1:] != rows[:-1]).any(1) if n > 1 else None, n)
    values = moved.index_select(0, _on(x, starts))
    return _result(values.permute(*undo), _on(x, group), _on(x, counts), return_inverse, return_counts)


def searchsorted(
    sorted_sequence: Tensor, input, *, out_int32: bool = False, right: bool = False, side=None, sorter=None
) -> Tensor:
    """Indices at which ``input`` would be inserted into the last dim of ``sorted_sequence`` to keep
    it sorted: the first position whose element is >= the value (``right``/``side="right"``:
    > the value). ``sorted_sequence`` is 1-D or has input's leading dims; ``sorter`` gives the
    indices that sort it, where it is not sorted itself. int64 (``out_int32``: int32) indices."""

    seq = sorted_sequence
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if side == "left" and right:
            raise RuntimeError(
                "torch.searchsorted(): side and right can't be set to opposites, got side of left while right was True"
            )
        right = side == "right"
    if not isinstance(input, TensorCore):
        if seq.ndim != 1:
            raise RuntimeError(
                "torch.searchsorted(): input value can be a scalar only when boundaries tensor "
                f"dimension is 1, but we got boundaries tensor dim({seq.ndim}) and input value's "
                "dim(0) numel(1)"
            )
        input = tensor(input, device=seq.device)
    if seq.device != input.device:
        raise RuntimeError(
            f"torch.searchsorted(): boundaries and input value tensors should be on the same device, "
            f"got {seq.device} and {input.device}"
        )
    if seq.ndim == 0 or (seq.ndim != 1 and (seq.ndim != input.ndim or seq.shape[:-1] != input.shape[:-1])):
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
            "dimensions of boundaries tensor and input value tensor must match, but we got "
            f"boundaries tensor {list(seq.shape)} and input value tensor {list(input.shape)}"
        )
    if sorter is not None:
        if sorter.dtype is not D.int64:
            raise RuntimeError(
                f"torch.searchsorted(): sorter must be a tensor of long dtype but got dtype "
                f"{TORCH_NAMES[sorter.dtype.name]}"
            )
        if sorter.shape != seq.shape:
            raise RuntimeError(
                "torch.searchsorted(): boundary and sorter must have the same size, but got "
                f"boundary tensor {list(seq.shape)} and got sorter tensor {list(sorter.shape)}"
            )
        if sorter.numel() and bool((sorter.lt(0) | sorter.ge(seq.shape[-1])).any()):
            raise RuntimeError("torch.searchsorted(): sorter index out of range")
    common = D.result_type(seq, input)
    s, v = seq.detach().to(common), input.detach().to(common)
    flat_v = v.reshape(1) if v.ndim == 0 else v
    be = s._be
    out = _wrap(
        be.searchsorted(s._data, flat_v._data, bool(right), None if sorter is None else sorter._data), be, D.int64
    ).reshape(v.shape)
    return out.to(D.int32) if out_int32 else out


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of every element of ``input`` for the 1-D sorted ``boundaries``: i with
    boundaries[i - 1] < x <= boundaries[i] (``right``: boundaries[i - 1] <= x < boundaries[i])."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(input: Tensor, bins: int = 100, min=0, max=0) -> Tensor:  # noqa: A002  (PyTorch's names)
    """A histogram of ``input`` with ``bins`` equal bins over [min, max] (both 0: the data's range,
    read on the host). Elements outside the range and NaN are ignored; max falls in the last bin.
    Computed on the device: a bin index per element and a scatter_add of ones."""

    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"histogram_cpu\" not implemented for '{TORCH_NAMES[input.dtype.name]}' (histc "
            "needs a floating-point tensor)"
        )
    bins = int(bins)
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    lo, hi = float(min), float(max)
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    x = input.detach().reshape(-1)
    if lo == hi and x.numel():
        lo, hi = float(x.amin()), float(x.amax())
    dt = x.dtype.np
    lo, hi = float(np.asarray(lo, dt)), float(np.asarray(hi, dt))  # the edges are of input's dtype
    if lo == hi:
        lo, hi = float(np.asarray(lo - 1, dt)), float(np.asarray(hi + 1, dt))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo}, {hi}] is not finite")
    width = float(np.asarray(hi, dt) - np.asarray(lo, dt))
    inside = (x >= lo) & (x <= hi)
    # PyTorch's bin: trunc((x - min) * bins / (max - min)) in input's dtype; max itself goes in the last bin
    pos = where(inside, (x - lo) * bins / width, 0.0).to(D.int64).clamp(0, bins - 1)
    counts = zeros(bins, dtype=x.dtype, device=x.device)
    return counts.scatter_add(0, pos, inside.to(x.dtype)) if x.numel() else counts


# -- mode: a sort and a searchsorted of the sorted rows in themselves --


def mode(input: Tensor, dim: int = -1, keepdim: bool = False):
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the index
    of its last occurrence: (values, indices).

    Runs on the device: a stable sort, the bounds of every value's run from a binary search of
    the sorted row in itself, and an argmax of the run lengths. NaN differs from PyTorch, whose
    cpu kernel counts every NaN as a value of its own: here a NaN is never the mode unless the
    whole row is NaN."""
    dim = _dim(dim, input.ndim)
    _check_dim_nonempty(input, "mode", dim)
    if input.ndim == 0:
        return ValuesIndices(_sorted(input, 0, False))
    last = input.ndim - 1
    x = input if dim == last else input.permute(*[d for d in range(input.ndim) if d != dim], dim)
    values, indices = _sorted(x, last, False)
    if values.numel() == 0:
        v, i = values.narrow(last, 0, 1).squeeze(last), indices.narrow(last, 0, 1).squeeze(last)  # (empty)
    else:
        s = values.detach().contiguous()
        hi = searchsorted(s, s, right=True)
        counts = hi - searchsorted(s, s)
        # the last element of the first longest run (the gradient goes to the index returned)
        end = (hi.gather(last, counts.argmax(last, keepdim=True)) - 1).clamp(0, x.shape[last] - 1)
        v, i = values.gather(last, end).squeeze(last), indices.gather(last, end).squeeze(last)
    if keepdim:
        v, i = v.unsqueeze(dim), i.unsqueeze(dim)
    return ValuesIndices((v, i))


__all__ = ["unique", "unique_consecutive", "searchsorted", "bucketize", "histc", "mode"]
