"""Strided views of a tensor's storage: as_strided, unfold, diagonal; and the ``*_scatter`` ops
that write a tensor into such a view of a copy (select_scatter, slice_scatter, diagonal_scatter).
Each forward with its backward."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .._creation import arange
from .._tensor import TensorCore, _dim
from ..autograd.function import Function
from ..autograd.grad_mode import state
from .shape import GetItem, _copy, _out, _view, copy_into, normalize_key

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def storage_offset(x: Tensor) -> int:
    """``Tensor.storage_offset()``: the offset of x's first element in its storage, in elements."""
    return x._be.storage_offset(x._data)


_offset_of = storage_offset  # (as_strided's parameter of that name hides the function there)


def _min_storage_size(shape, strides, offset: int) -> int:
    """Elements a storage needs so that (shape, strides, offset) stays inside it (PyTorch's rule)."""
    if 0 in shape:
        return offset
    return offset + 1 + sum((n - 1) * s for n, s in zip(shape, strides))


def _maybe_overlapping(shape, strides) -> bool:
    """Whether two elements of the geometry may share memory (PyTorch's conservative test)."""
    max_index = 0
    for s, n in sorted((s, n) for n, s in zip(shape, strides) if n > 1):
        if s <= max_index:
            return True
        max_index += s * (n - 1)
    return False


class AsStrided(Function):
    @staticmethod
    def forward(ctx, x, shape, strides, offset):
        ctx.inp = (tuple(x.shape), tuple(x.stride()), storage_offset(x))
        ctx.out = (shape, strides, offset)
        return _view(x, x._be.as_strided(x._data, shape, strides, offset))

    @staticmethod
    def backward(ctx, g):
        # PyTorch's as_strided_backward: scatter the gradient into a zero "storage" through the
        # output geometry (accumulating where output elements share memory), divide by how often
        # the input geometry reads each place, then read it back through the input geometry.
        (ishape, istrides, ioff), (oshape, ostrides, ooff) = ctx.inp, ctx.out
        shared = min(ioff, ooff)
        ioff, ooff = ioff - shared, ooff - shared
        size = max(_min_storage_size(ishape, istrides, ioff), _min_storage_size(oshape, ostrides, ooff))
        storage = g.new_zeros((size,))
        in_overlap = _maybe_overlapping(ishape, istrides)
        if g.numel():
            if _maybe_overlapping(oshape, ostrides) or state.enabled:  # (create_graph: recorded ops only)
                idx = _positions(g, size, oshape, ostrides, ooff)
                storage = storage.scatter_add(0, idx, g.reshape(-1))
            else:
                copy_into(_out(storage, storage._be.as_strided(storage._data, oshape, ostrides, ooff)), g)
        if in_overlap and math.prod(ishape):
            idx = _positions(g, size, ishape, istrides, ioff)
            storage = storage / g.new_zeros((size,)).scatter_add(0, idx, g.new_ones((idx.numel(),)))
        if not math.prod(ishape):
            return g.new_zeros(ishape), None, None, None
        return AsStrided.apply(storage, ishape, istrides, ioff), None, None, None


def _positions(like: Tensor, size: int, shape, strides, offset) -> Tensor:
    """The storage position of every element of a geometry, flattened (int64)."""

    base = arange(size, device=like.device)
    return _out(base, base._be.as_strided(base._data, tuple(shape), tuple(strides), offset)).reshape(-1)


def as_strided(input: Tensor, size, stride, storage_offset=None) -> Tensor:
    """A view of input's storage with the given ``size``, ``stride`` (in elements) and
    ``storage_offset`` (default: input's own). Elements may overlap; out-of-range views raise."""
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(n < 0 for n in size):
        raise RuntimeError(f"Storage size calculation overflowed with sizes={list(size)} and strides={list(stride)}")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"as_strided: Negative strides are not supported at the moment, got strides: {list(stride)}")
    offset = _offset_of(input) if storage_offset is None else int(storage_offset)
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    return AsStrided.apply(input, size, stride, offset)


def as_strided_(self: Tensor, size, stride, storage_offset=None) -> Tensor:
    """In place: make self the ``as_strided(size, stride, storage_offset)`` view of its storage.
    (Not for tensors that require grad: wgtorch's autograd can't follow an in-place change of
    geometry.)"""

    if self.requires_grad and state.enabled:
        raise RuntimeError(
            "as_strided_() on a tensor that requires grad is not supported by wgtorch's autograd; "
            "use as_strided() (out of place)"
        )
    self._data = as_strided(self.detach(), size, stride, storage_offset)._data
    return self


def _int_tuple(v, name: str) -> tuple:
    if isinstance(v, int):
        return (v,)
    try:
        return tuple(int(n) for n in v)
    except TypeError:
        raise TypeError(f"as_strided(): argument '{name}' must be tuple of ints, not {type(v).__name__}") from None


def unfold(x: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """A view of every slice of ``size`` elements along ``dimension``, ``step`` apart, as a new
    last dim (windows overlap where step < size)."""
    d = _dim(dimension, x.ndim)
    n = x.shape[d] if x.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    shape, strides = list(x.shape), list(x.stride())
    if not x.ndim:
        return as_strided(x, (size,), (1,))
    shape[d], s = (n - size) // step + 1, strides[d]
    strides[d] = s * step
    return as_strided(x, tuple(shape) + (size,), tuple(strides) + (s,))


# -- diagonal --------------------------------------------------------------------------------------
def _diagonal_geometry(x: Tensor, offset: int, dim1: int, dim2: int):
    if x.ndim < 2:
        _dim(dim1, x.ndim), _dim(dim2, x.ndim)  # PyTorch's IndexError for a 0-d/1-d input
    d1, d2 = _dim(dim1, x.ndim), _dim(dim2, x.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n1, n2 = x.shape[d1], x.shape[d2]
    s = x.stride()
    start = storage_offset(x)
    if offset >= 0:
        length = max(min(n1, n2 - offset), 0)
        start += offset * s[d2] if length else 0
    else:
        length = max(min(n1 + offset, n2), 0)
        start += -offset * s[d1] if length else 0
    keep = [i for i in range(x.ndim) if i not in (d1, d2)]
    shape = tuple(x.shape[i] for i in keep) + (length,)
    strides = tuple(s[i] for i in keep) + (s[d1] + s[d2],)
    return shape, strides, start


class Diagonal(Function):
    @staticmethod
    def forward(ctx, x, offset, dim1, dim2):
        ctx.args, ctx.in_shape = (offset, dim1, dim2), tuple(x.shape)
        return _view(x, x._be.as_strided(x._data, *_diagonal_geometry(x, offset, dim1, dim2)))

    @staticmethod
    def backward(ctx, g):
        return diagonal_scatter(g.new_zeros(ctx.in_shape), g, *ctx.args), None, None, None


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """A view of the diagonal (``offset`` above the main one) of the (dim1, dim2) planes, as the
    last dim."""
    _diagonal_geometry(input, offset, dim1, dim2)  # (argument errors before autograd)
    return Diagonal.apply(input, int(offset), dim1, dim2)


# -- scatters into views of a copy ------------------------------------------------------------------
class ViewScatter(Function):
    """``out = input.clone(); view(out).copy_(src)``, ``view`` a function making a view."""

    @staticmethod
    def forward(ctx, x, src, view):
        out = _out(x, _copy(x))
        dst = view(out)
        if tuple(src.shape) != tuple(dst.shape):
            raise RuntimeError(
                f"expected src to have a size equal to the slice of self. src size = "
                f"{list(src.shape)}, slice size = {list(dst.shape)}"
            )
        if src.device != x.device:
            raise RuntimeError(
                f"Expected all tensors to be on the same device, but found at least two devices, "
                f"{x.device} and {src.device}!"
            )
        copy_into(dst, src)
        ctx.view, ctx.src_dtype = view, src.dtype
        return out

    @staticmethod
    def backward(ctx, g):
        gx = gsrc = None
        if ctx.needs_input_grad[0] and state.enabled:  # create_graph: as a recorded op
            gx = ViewScatter.apply(g, g.new_zeros(tuple(ctx.view(g.detach()).shape)), ctx.view)
        elif ctx.needs_input_grad[0]:
            gx = _out(g, _copy(g))
            copy_into(ctx.view(gx), 0)
        if ctx.needs_input_grad[1]:
            gsrc = ctx.view(g)
            gsrc = gsrc if gsrc.dtype is ctx.src_dtype else gsrc.to(ctx.src_dtype)
        return gx, gsrc, None


def _check_tensors(name: str, input, src) -> None:
    for arg, v in (("input", input), ("src", src)):
        if not isinstance(v, TensorCore):
            raise TypeError(f"{name}(): argument '{arg}' must be Tensor, not {type(v).__name__}")


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """A copy of input with ``input.select(dim, index)`` replaced by src."""
    _check_tensors("select_scatter", input, src)
    d = _dim(dim, input.ndim)
    key = normalize_key(input, (slice(None),) * d + (int(index),))
    return ViewScatter.apply(input, src, lambda t: GetItem.apply(t, key))


def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:
    """A copy of input with ``input[..., start:end:step, ...]`` (along dim) replaced by src."""
    _check_tensors("slice_scatter", input, src)
    d = _dim(dim, input.ndim)
    if step is not None and step <= 0:
        raise RuntimeError("slice step must be positive")
    key = normalize_key(input, (slice(None),) * d + (slice(start, end, step),))
    return ViewScatter.apply(input, src, lambda t: GetItem.apply(t, key))


def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """A copy of input with ``input.diagonal(offset, dim1, dim2)`` replaced by src."""
    _check_tensors("diagonal_scatter", input, src)
    _diagonal_geometry(input, offset, dim1, dim2)
    return ViewScatter.apply(input, src, lambda t: Diagonal.apply(t, int(offset), dim1, dim2))
