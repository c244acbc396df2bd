"""Sorting: sort, argsort, msort, topk, kthvalue, median, nanmedian and mode.

Every op here is built on one differentiable stable sort (the backend's ``sort``: a WGSL bitonic
sort on wgpu) plus slicing and gather on the device, so the gradient of any selected value flows
back to the input element it came from (scattered into zeros), as in PyTorch.

Ordering is PyTorch's: NaN sorts as the largest value (last ascending, first descending), -0.0
equals 0.0. The sort is always stable, so ``stable=False`` gives the stable result too (a valid
answer for an unstable sort). Where PyTorch leaves the index of a tie unspecified (topk,
kthvalue and mode with repeated values), wgtorch picks the first element in input order (mode:
the last occurrence, as PyTorch's cpu kernel does for short rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _dtype as D
from .._creation import arange
from .._tensor import _dim, _wrap
from ..autograd.function import Function
from .pointwise import where
from .reduce import ValuesIndices
from .registry import TORCH_NAMES
from .shape import cat

if TYPE_CHECKING:
    from .._tensor_class import Tensor


class Sort(Function):
    """Stable sort along ``dim``: (values, int64 indices); the values' gradient goes back to the
    positions the indices name."""

    @staticmethod
    def forward(ctx, x, dim, descending):
        values, indices = x._be.sort(x._data, dim, descending)
        values, indices = _wrap(values, x._be, x.dtype), _wrap(indices, x._be, D.int64)
        ctx.mark_non_differentiable(indices)
        if ctx.needs_input_grad:
            ctx.dim, ctx.in_shape = dim, x.shape
            ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    def backward(ctx, g, _g_indices):
        (indices,) = ctx.saved_tensors
        return g.new_zeros(ctx.in_shape).scatter_add(ctx.dim, indices, g), None, None


def _sorted(x: Tensor, dim: int, descending: bool):
    """(values, indices) of the stable sort of x along ``dim`` (a 0-d x is a row of one)."""
    if x.ndim == 0:
        values, indices = Sort.apply(x.reshape(1), 0, descending)
        return values.reshape(()), indices.reshape(())
    return Sort.apply(x, dim, descending)


def _not_for(x: Tensor, op: str, kinds=("bool",)) -> None:
    if x.dtype.name in kinds:
        raise NotImplementedError(
            f"\"{op}_cpu\" not implemented for '{TORCH_NAMES[x.dtype.name]}' ({op} does not "
            f"support {x.dtype.name} tensors)"
        )


def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False):
    """Sort the elements of ``input`` along ``dim``: a (values, indices) pair.

    Stable in every case (ties keep their input order, also with ``descending``); NaN is the
    largest value. ``stable=False`` is accepted and gives the same (stable) result."""
    return ValuesIndices(_sorted(input, _dim(dim, input.ndim), bool(descending)))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (the ``indices`` of `sort`)."""
    return sort(input, dim, descending, stable=stable)[1]


def msort(input: Tensor) -> Tensor:
    """``sort(input, dim=0).values``."""
    return sort(input, 0)[0]


def _size(x: Tensor, dim: int) -> int:
    return x.shape[dim] if x.ndim else 1


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim``: (values, indices),
    always in sorted order (``sorted=False`` allows any order; this one is fine). NaN counts as
    the largest value. Ties are taken in input order."""
    dim = _dim(dim, input.ndim)
    if input.dtype is D.bool_:
        raise RuntimeError("topk does not support bool dtypes on CPU (nor on wgtorch's devices)")
    k = int(k)
    if not 0 <= k <= _size(input, dim):
        raise RuntimeError(f"selected index k out of range (k = {k}, dimension {dim} has size {_size(input, dim)})")
    n = _size(input, dim)
    if input.ndim and input.numel() and n > 2 * _CHUNK and k <= _CHUNK // 4:
        last = input.ndim - 1
        xt = input if dim == last else input.transpose(dim, last)
        indices = _topk_positions(xt, k, bool(largest))
        values = xt.gather(last, indices)  # (the gradient flows through gather)
        if dim != last:
            values, indices = values.transpose(dim, last), indices.transpose(dim, last)
        return ValuesIndices((values, indices))
    values, indices = _sorted(input, dim, bool(largest))
    if input.ndim == 0:
        return ValuesIndices((values, indices))
    return ValuesIndices((values.narrow(dim, 0, k), indices.narrow(dim, 0, k)))


_CHUNK = 512  # row pieces the sort kernel sorts in one workgroup pass (its BLOCK)


def _topk_positions(x: Tensor, k: int, largest: bool) -> Tensor:
    """Indices of the top ``k`` of every row (last dim) of x, in sorted order, by a tournament:
    sort pieces of _CHUNK, keep each piece's first k, repeat on the candidates until a row is
    short, sort that. Far fewer passes than sorting a long row. The candidates stay in input order
    between equal values (pieces in order, each sorted stably), so ties come out as the stable sort
    has them. Padding (-inf or NaN for floats, the row's min or max for ints) loses every tie to
    real elements, which precede it, so it is never among the k."""

    cur, idx, lead = x.detach(), None, tuple(x.shape[:-1])
    while cur.shape[-1] > 2 * _CHUNK:
        n = cur.shape[-1]
        pieces = -(-n // _CHUNK)
        pad = pieces * _CHUNK - n
        if pad:
            if cur.dtype.is_floating_point:
                fill = cur.new_full(lead + (1,), float("-inf") if largest else float("nan"))
            else:
                fill = cur.amin(-1, keepdim=True) if largest else cur.amax(-1, keepdim=True)
            cur = cat([cur, fill.expand(lead + (pad,))], -1)
            if idx is not None:
                idx = cat([idx, idx.new_zeros(lead + (pad,))], -1)
        v, i = _sorted(cur.reshape(lead + (pieces, _CHUNK)), len(lead) + 1, largest)
        starts = arange(0, pieces * _CHUNK, _CHUNK, device=x.device).reshape(pieces, 1)
        cur = v.narrow(-1, 0, k).reshape(lead + (pieces * k,))
        pos = (i.narrow(-1, 0, k) + starts).reshape(lead + (pieces * k,))
        idx = pos if idx is None else idx.gather(-1, pos)
    p = _sorted(cur, cur.ndim - 1, largest)[1].narrow(-1, 0, k)
    return p if idx is None else idx.gather(-1, p)


def _pick(values: Tensor, indices: Tensor, dim: int, pos, keepdim: bool):
    """values/indices at position ``pos`` (an int, or an int64 tensor with dim of size 1) along dim."""
    if isinstance(pos, int):
        v, i = values.narrow(dim, pos, 1), indices.narrow(dim, pos, 1)
    else:
        v, i = values.gather(dim, pos), indices.gather(dim, pos)
    if not keepdim:
        v, i = v.squeeze(dim), i.squeeze(dim)
    return ValuesIndices((v, i))


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False):
    """The ``k``-th smallest element along ``dim`` (k counts from 1): (values, indices). NaN is
    the largest value; a repeated value's index is its first occurrence in stable order."""
    _not_for(input, "kthvalue")
    dim = _dim(dim, input.ndim)
    k = int(k)
    if not 1 <= k <= _size(input, dim):
        raise RuntimeError(
            f"kthvalue(): selected number k out of range for dimension {dim} (k = {k}, size {_size(input, dim)})"
        )
    values, indices = _sorted(input, dim, False)
    if input.ndim == 0:
        return ValuesIndices((values, indices))
    return _pick(values, indices, dim, k - 1, keepdim)


def _check_dim_nonempty(x: Tensor, name: str, dim: int) -> None:
    if x.ndim and x.shape[dim] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {dim} to have non-zero size.")


def _median(x: Tensor, dim: int, keepdim: bool, ignore_nan: bool, name: str):
    """(values, indices) of the lower median along ``dim``: sorted position (n - 1) // 2 of the
    row; with a NaN in the row, the first NaN (median), or the median of the non-NaN values
    (nanmedian; NaN for an all-NaN row)."""
    _check_dim_nonempty(x, name, dim)
    if x.ndim == 0:
        return ValuesIndices(_sorted(x, 0, False))
    values, indices = _sorted(x, dim, False)
    n = x.shape[dim]
    if not x.dtype.is_floating_point or x.numel() == 0:
        return _pick(values, indices, dim, (n - 1) // 2, keepdim)
    nans = x.isnan().sum(dim, keepdim=True)
    if ignore_nan:
        pos = ((n - 1 - nans) // 2).clamp(0, n - 1)
    else:

        pos = where(nans > 0, n - nans, (n - 1) // 2)
    return _pick(values, indices, dim, pos, keepdim)


def median(input: Tensor, dim=None, keepdim: bool = False):
    """The lower median of all elements (``dim=None``: a 0-d tensor; NaN if any is NaN, NaN for an
    empty float tensor), or along ``dim``: (values, indices)."""
    _not_for(input, "median")
    if dim is None:
        if input.numel() == 0:
            if not input.dtype.is_floating_point:
                raise RuntimeError("median() of an empty integer tensor is undefined")
            return input.new_full((), float("nan"))
        return _median(input.reshape(-1), 0, False, False, "median")[0]
    return _median(input, _dim(dim, input.ndim), keepdim, False, "median")


def nanmedian(input: Tensor, dim=None, keepdim: bool = False):
    """`median` ignoring NaN: the lower median of the non-NaN values (NaN where all are NaN)."""
    _not_for(input, "nanmedian")
    if dim is None:
        if input.numel() == 0:
            if not input.dtype.is_floating_point:
                raise RuntimeError("nanmedian() of an empty integer tensor is undefined")
            return input.new_full((), float("nan"))
        return _median(input.reshape(-1), 0, False, True, "nanmedian")[0]
    return _median(input, _dim(dim, input.ndim), keepdim, True, "nanmedian")


__all__ = ["sort", "argsort", "msort", "topk", "kthvalue", "median", "nanmedian"]
