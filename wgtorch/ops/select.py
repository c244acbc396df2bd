"""Selection ops: nonzero / argwhere / where(condition), masked_select, masked_scatter, take,
take_along_dim and put.

nonzero's output size depends on the data, so its count goes to the host, as in PyTorch (which
syncs there too): the backend's ``nonzero`` finds the positions on the device (wgpu: a count
per chunk, read back, and a pass writing each chunk's coordinates from its offset; no scan
kernel is needed) and only the per-chunk counts cross to the host. masked_select and
masked_scatter are index_select and scatter over those positions, so they share the index
kernels and their gradients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _dtype as D
from .._broadcast import broadcast_shapes
from .._tensor import TensorCore, _dim, _wrap
from . import index as I
from .index_put import _LEGACY
from .pointwise import where as where3
from .scatter import Scatter, scatter

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _name(t: Tensor) -> str:
    return _LEGACY.get(t.dtype, t.dtype.name)


def nonzero(input: Tensor, *, as_tuple: bool = False):
    """Indices of the nonzero elements: an (n, input.ndim) int64 tensor in row-major order, or with
    ``as_tuple=True`` one 1-d tensor per dim (a 0-d input counts as 1-d). NaN is nonzero. Waits for
    the device (the count sets the shape)."""
    if not isinstance(input, TensorCore):
        raise TypeError(f"nonzero(): argument 'input' must be Tensor, not {type(input).__name__}")
    out = _wrap(input._be.nonzero(input._data), input._be, D.int64)
    if not as_tuple:
        return out
    if input.ndim == 0:
        return (out.new_zeros((out.shape[0],)),)
    return tuple(out[:, d] for d in range(input.ndim))


def argwhere(input: Tensor) -> Tensor:
    """``nonzero(input)``: an (n, input.ndim) int64 tensor of the nonzero elements' indices."""
    return nonzero(input)


def where(condition: Tensor, input=None, other=None):
    """``where(condition, input, other)``: input where condition holds, else other (broadcast).
    ``where(condition)`` is ``nonzero(condition, as_tuple=True)``."""

    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where() takes the condition alone or with both input and other")
    return where3(condition, input, other)


def _check_mask(mask, x: Tensor, message: str) -> None:
    if not isinstance(mask, TensorCore):
        raise TypeError(f"argument 'mask' must be Tensor, not {type(mask).__name__}")
    if mask.dtype is not D.bool_:
        raise RuntimeError(message.format(dtype=mask.dtype.name))
    if mask.device != x.device:
        raise RuntimeError(
            f"expected mask and self on the same device, but got mask on {mask.device} and self on {x.device}"
        )


def _positions(mask: Tensor, shape: tuple) -> Tensor:
    """Flat positions of the True entries of ``mask`` broadcast to ``shape``."""
    return nonzero(mask.expand(shape).reshape(-1)).reshape(-1)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of input (broadcast with mask) where mask is True, as a 1-d tensor."""
    _check_mask(mask, input, "masked_select: expected BoolTensor for mask")
    shape = broadcast_shapes([tuple(input.shape), tuple(mask.shape)])
    return I.index_select(input.expand(shape).reshape(-1), 0, _positions(mask, shape))


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """Out-of-place ``input.masked_scatter_``: source's elements, in order, copied into input
    (broadcast with mask) where mask is True."""

    _check_mask(mask, input, "masked_scatter_ only supports boolean masks, but got mask with dtype {dtype}")
    if not isinstance(source, TensorCore):
        raise TypeError(f"masked_scatter(): argument 'source' must be Tensor, not {type(source).__name__}")
    if source.dtype is not input.dtype:
        raise RuntimeError(
            f"masked_scatter: expected self and source to have same dtypes but got{_name(input)} and {_name(source)}"
        )
    if source.device != input.device:
        raise RuntimeError(f"masked_scatter(): source is on {source.device} but self is on {input.device}")
    shape = broadcast_shapes([tuple(input.shape), tuple(mask.shape)])
    pos = _positions(mask, shape)
    n = pos.numel()
    if n > source.numel():
        raise RuntimeError("Number of elements of source < number of ones in mask")
    flat = input.expand(shape).reshape(-1)
    return scatter(flat, 0, pos, source.reshape(-1)[:n]).reshape(shape)


def _long_index(index, message: str) -> None:
    if not isinstance(index, TensorCore):
        raise TypeError(f"argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype is not D.int64:
        raise RuntimeError(message.format(dtype=_name(index)))


def _flat_index(index: Tensor, n: int, x: Tensor) -> Tensor:
    """``index`` (of flat positions; negative ones count from the end) checked and wrapped: on the
    cpu at once with PyTorch's IndexError, on a device there (the kernel reports bad ones)."""
    if index.device != x.device:
        raise RuntimeError(f"index is on {index.device} but self is on {x.device}")
    if index.device.type == "cpu" and index.numel():
        host = index.numpy()
        bad = host[(host < -n) | (host >= n)]
        if bad.size:
            raise IndexError(f"out of range: tried to access index {int(bad[0])} on a tensor of {n} elements.")
    return where3(index < 0, index + n, index)


def take(input: Tensor, index: Tensor) -> Tensor:
    """input treated as 1-d, at ``index`` (any shape; negative indices count from the end): a tensor of
    index's shape."""
    _long_index(index, "take(): Expected a long tensor for index, but got {dtype}")
    n = input.numel()
    idx = _flat_index(index, n, input)
    return I.index_select(input.reshape(-1), 0, idx.reshape(-1)).reshape(index.shape)


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """``gather`` along dim after broadcasting input and indices over the other dims; with dim None,
    input flattened (the result is 1-d). With a dim, negative indices count from the end (PyTorch's
    cpu wraps any index modulo the size there; wgtorch refuses the others as gather does)."""
    _long_index(indices, "torch.take_along_dim(): dtype of indices should be Long but got {dtype}")
    if dim is None:
        return I.gather(input.reshape(-1), 0, indices.reshape(-1))  # no wrapping here, as in PyTorch
    if input.ndim != indices.ndim:
        raise RuntimeError(
            "torch.take_along_dim(): input and indices should have the same number of dimensions, "
            f"but got {input.ndim} dimensions for input, and {indices.ndim} dimensions for indices"
        )
    dim = _dim(dim, input.ndim)
    sizes = list(input.shape)
    sizes[dim] = indices.shape[dim]
    shape = list(broadcast_shapes([tuple(sizes), tuple(indices.shape)]))
    idx = indices.expand(tuple(shape))
    shape[dim] = input.shape[dim]
    n = input.shape[dim]
    return I.gather(input.expand(tuple(shape)), dim, where3(idx < 0, idx + n, idx))


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """Out-of-place ``input.put_``: source's elements written (``accumulate``: added) at the flat
    positions ``index`` of input (negative ones count from the end)."""

    _long_index(index, "put_(): Expected a long tensor for index, but got {dtype}")
    if not isinstance(source, TensorCore):
        raise TypeError(f"put(): argument 'source' must be Tensor, not {type(source).__name__}")
    if source.dtype is not input.dtype:
        raise RuntimeError(
            f"put_(): self and source expected to have the same dtype, but got self.dtype = "
            f"{_name(input)} and source.dtype = {_name(source)}"
        )
    if source.numel() != index.numel():
        raise IndexError(
            f"put_(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source.numel()}, index.numel() = {index.numel()}"
        )
    if source.device != input.device:
        raise RuntimeError(f"put_(): source is on {source.device} but self is on {input.device}")
    idx = _flat_index(index, input.numel(), input).reshape(-1)
    flat, src = input.reshape(-1), source.reshape(-1)
    # (1-d operands of one dtype and size: scatter's checks hold) IndexError for a bad index, as put_'s
    out = I.ScatterAdd.apply(flat, 0, idx, src, True) if accumulate else Scatter.apply(flat, 0, idx, src, True)
    return out.reshape(input.shape)


__all__ = ["nonzero", "argwhere", "where", "masked_select", "masked_scatter", "take", "take_along_dim", "put"]
