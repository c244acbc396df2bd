"""The scatter family: scatter (src or value, legacy ``reduce=``), scatter_reduce, index_add,
index_copy and index_fill, with PyTorch's checks and gradients.

scatter and scatter_reduce run on the backend's ``scatter`` (wgpu: shaders/scatter.wgsl);
index_add, index_copy and index_fill are scatters along ``dim`` of an index broadcast over the
other dims, so they share its kernels and its gradients. Bad indices raise PyTorch's exception
on the cpu (index values there are checked before any work); on a device the kernel reports
them at the next read or synchronize (RuntimeError; see wgtorch/_backends/wgpu/scatter.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _dtype as D
from .._creation import full
from .._tensor import TensorCore, _dim, _wrap
from ..autograd.function import Function
from . import index as I
from .fill import _LEGACY, fill_value, masked_fill
from .pointwise import pointwise, where

if TYPE_CHECKING:
    from .._tensor_class import Tensor

_REDUCES = ("sum", "prod", "mean", "amax", "amin")
_ALIASES = {"max": "amax", "min": "amin"}  # PyTorch accepts these too, undocumented
_LEGACY_REDUCES = {"add": "sum", "multiply": "prod"}


def _raw(x: Tensor, dim: int, index: Tensor, src: Tensor, reduce, index_error: bool = False) -> Tensor:
    return _wrap(x._be.scatter(x._data, dim, index._data, src._data, reduce, index_error), x._be, x.dtype)


def _const(x: Tensor, value, shape: tuple) -> Tensor:
    """``value`` (already of x's dtype) broadcast to ``shape`` on x's device (stride 0)."""

    return full((), value, dtype=x.dtype, device=x.device).expand(shape)


class Scatter(Function):
    """scatter (assign): self's gradient is g with the written positions zeroed, src's is g
    gathered at index (0 for src elements beyond the index's shape). ``index_error``: a bad index
    is an IndexError (the type of index_copy_, index_fill_ and put_), not scatter's RuntimeError."""

    @staticmethod
    def forward(ctx, x, dim, index, src, index_error=False):
        ctx.dim, ctx.src_shape = dim, tuple(src.shape)
        ctx.save_for_backward(index)
        return _raw(x, dim, index, src, None, index_error)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = Scatter.apply(g, ctx.dim, index, _const(g, 0, tuple(index.shape))) if need[0] else None
        gs = I.pad_grad(g.gather(ctx.dim, index), ctx.src_shape) if need[3] else None
        return gx, None, None, gs, None


class LegacyReduce(Function):
    """scatter(..., reduce="add"|"multiply"): PyTorch has no derivative for it."""

    @staticmethod
    def forward(ctx, x, dim, index, src, reduce):
        return _raw(x, dim, index, src, reduce)

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(
            "derivative for aten::scatter is not implemented (scatter with reduce=; use scatter_reduce, which has one)"
        )


def _identity(x: Tensor, reduce: str):
    return 1 if reduce == "prod" else 0


def _scatter_reduce(x, dim, index, src, reduce, include_self):
    """The forward of scatter_reduce on tensors (no autograd)."""
    if not include_self:
        # The scattered positions start from the reduction's identity, or (amax/amin, which are
        # idempotent) from one of the values scattered there.
        base = src if reduce in ("amax", "amin") else _const(x, _identity(x, reduce), tuple(index.shape))
        x = _raw(x, dim, index, base, None)
    if reduce != "mean":
        return _raw(x, dim, index, src, reduce)
    total = _raw(x, dim, index, src, "sum")
    start = x.new_ones(x.shape) if include_self else x.new_zeros(x.shape)
    count = _raw(start, dim, index, _const(x, 1, tuple(index.shape)), "sum")
    count = masked_fill(count, count == 0, 1)
    if x.dtype.is_floating_point:
        return total / count

    return pointwise("floor_divide", total, count)


class ScatterReduce(Function):
    """scatter_reduce; the backward is PyTorch's (FunctionsManual scatter_reduce_backward): amax/
    amin share the gradient evenly among the tied maxima, prod divides out each factor (with the
    single-zero case computed exactly), mean divides by the count."""

    @staticmethod
    def forward(ctx, x, dim, index, src, reduce, include_self):
        out = _scatter_reduce(x, dim, index, src, reduce, include_self)
        ctx.args = dim, reduce, include_self, tuple(src.shape)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, index, src, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, index, src, result = ctx.saved_tensors
        dim, reduce, include_self, src_shape = ctx.args
        if tuple(src.shape) != tuple(index.shape):
            src = src[tuple(slice(0, n) for n in index.shape)]
        if reduce == "sum":
            gx, gs = g, g.gather(dim, index)
        elif reduce == "prod":
            masked_self = masked_fill(x, x == 0, 1)
            gx = g * scatter_reduce(masked_self, dim, index, src, "prod", include_self=include_self) / masked_self
            src_zero = src == 0
            zeros = x.new_zeros(x.shape).scatter_add(dim, index, src_zero.to(x.dtype)).gather(dim, index)
            single = src_zero & (zeros == 1)
            masked_src_result = scatter_reduce(
                x, dim, index, masked_fill(src, single, 1), "prod", include_self=include_self
            )
            gs = where(
                single,
                (g * masked_src_result).gather(dim, index),
                (g * result).gather(dim, index) / masked_fill(src, src_zero, 1),
            )
        elif reduce == "mean":
            start = g.new_ones(g.shape) if include_self else g.new_zeros(g.shape)
            n = start.scatter_add(dim, index, src.new_ones(src.shape))
            n = masked_fill(n, n == 0, 1)
            gx, gs = g / n, g.gather(dim, index) / n.gather(dim, index)
        else:
            value = result.gather(dim, index)
            self_is, src_is = x == result, src == value
            share = g / self_is.to(x.dtype).scatter_add(dim, index, src_is.to(x.dtype))
            gx, gs = self_is * share, src_is * share.gather(dim, index)
        if not include_self:
            gx = Scatter.apply(gx, dim, index, _const(gx, 0, tuple(index.shape)))
        need = ctx.needs_input_grad
        return (gx if need[0] else None), None, None, (I.pad_grad(gs, src_shape) if need[3] else None), None, None


def _one_d(*ts):
    return [I._as_1d(t) for t in ts]


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce: str | None = None) -> Tensor:
    """Out-of-place ``input.scatter_(dim, index, src)``: ``out[index[i][j]][j] = src[i][j]`` (dim 0),
    for the leading part of src of index's shape; ``src`` may be a number (the value). Which of
    repeated indices wins is unspecified. ``reduce`` ("add", "multiply") is PyTorch's legacy
    form: it combines instead, and has no gradient."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter() missing 1 required positional argument: 'src' (or 'value')")
    is_tensor = isinstance(src, TensorCore)
    dim = I.check_scatter("scatter", input, dim, index, src if is_tensor else None)
    if not is_tensor:
        src = _const(input, fill_value(src, input.dtype, "scatter"), tuple(index.shape))
    x, idx, s = _one_d(input, index, src)
    if reduce is not None:
        if reduce not in _LEGACY_REDUCES:
            raise RuntimeError("reduce argument must be either add or multiply.")
        return LegacyReduce.apply(x, dim, idx, s, _LEGACY_REDUCES[reduce]).reshape(input.shape)
    return Scatter.apply(x, dim, idx, s).reshape(input.shape)


def scatter_reduce(
    input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    """Out-of-place ``input.scatter_reduce_``: src reduced into input at index along dim with
    ``reduce`` ("sum", "prod", "mean", "amax", "amin"); ``include_self=False`` leaves input's
    values at the scattered positions out. NaN propagates through amax/amin; an integer mean
    rounds down, as in PyTorch."""
    reduce = _ALIASES.get(reduce, reduce)
    if reduce not in _REDUCES:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}")
    dim = I.check_scatter("scatter_reduce", input, dim, index, src)
    if reduce == "mean" and input.dtype is D.bool_:
        raise NotImplementedError("\"scatter_gather_tensor_cpu_reduce_mean\" not implemented for 'Bool'")
    x, idx, s = _one_d(input, index, src)
    return ScatterReduce.apply(x, dim, idx, s, reduce, bool(include_self)).reshape(input.shape)


# -- index_add / index_copy / index_fill: a scatter of the index broadcast over the other dims --
def _vector_index(index, op: str, dtypes: tuple, dtype_error, dim_error):
    if not isinstance(index, TensorCore):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype not in dtypes:
        raise dtype_error
    if index.ndim > 1:
        raise dim_error
    return index.reshape(-1)


def _spread(index: Tensor, dim: int, shape: tuple) -> Tensor:
    """The 1-d ``index`` along ``dim``, broadcast to ``shape`` (stride 0 elsewhere)."""
    view = [1] * len(shape)
    view[dim] = index.numel()
    return index.reshape(view).expand(shape)


def _check_host_bounds(index: Tensor, size: int, dim: int, prefix: str, wrap: bool = False) -> Tensor:
    """Index values on the cpu checked at once with PyTorch's IndexError (negative ones wrapped
    when ``wrap``); on a device they stay there and the kernel reports them."""
    if index.device.type != "cpu" or index.numel() == 0:
        return index
    host = index.numpy().astype(np.int64)
    lo = -size if wrap else 0
    bad = host[(host < lo) | (host >= size)]
    if bad.size:
        raise IndexError(f"{prefix}index {int(bad[0])} is out of bounds for dimension {dim} with size {size}")
    return index


def _source_checks(op: str, x: Tensor, dim: int, index: Tensor, source: Tensor, dtype_message: str) -> None:
    if not isinstance(source, TensorCore):
        raise TypeError(f"{op}(): argument 'source' must be Tensor, not {type(source).__name__}")
    if source.dtype is not x.dtype:
        raise RuntimeError(dtype_message)
    if source.device != x.device:
        raise RuntimeError(f"{op}(): source is on {source.device} but self is on {x.device}")


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """Out-of-place ``input.index_add_``: ``alpha * source`` added to the slices of input picked by
    the 1-d ``index`` along dim (repeated indices accumulate)."""
    name = lambda t: _LEGACY.get(t.dtype, t.dtype.name)  # noqa: E731
    idx = _vector_index(
        index,
        "index_add_",
        (D.int64, D.int32),
        RuntimeError(
            "index_add_(): Expected dtype int32/int64 for index but got: "
            f"{name(index) if isinstance(index, TensorCore) else ''}"
        ),
        IndexError(
            f"index_add_(): Index is supposed to be a vector, but got dim: {index.ndim} "
            f"with type: {name(index)} and size: {list(index.shape)}"
        )
        if isinstance(index, TensorCore)
        else None,
    )
    dim = _dim(dim, input.ndim)
    _source_checks(
        "index_add_",
        input,
        dim,
        index,
        source,
        f"index_add_(): self ({name(input)}) and source ({name(source)}) must have the same scalar type",
    )
    x, s = _one_d(input, source)
    if idx.numel() != s.shape[dim]:
        raise RuntimeError(
            f"index_add_(): Number of indices ({idx.numel()}) should be equal to source.size(dim): "
            f"({s.shape[dim]}), for dim: {dim}"
        )
    if s.ndim != x.ndim or any(a != b for d, (a, b) in enumerate(zip(x.shape, s.shape)) if d != dim):
        raise RuntimeError(
            "source tensor shape must match self tensor shape, excluding the specified dimension. "
            f"Got self.shape = {list(input.shape)} source.shape = {list(source.shape)}"
        )
    if input.numel() == 0:  # PyTorch returns at once, whatever the indices
        return input.clone()
    if index.device != input.device:
        raise RuntimeError(f"index_add_(): index is on {index.device} but self is on {input.device}")
    if not (alpha == 1 and not isinstance(alpha, bool)):
        s = s * fill_value(alpha, input.dtype, "index_add_")
    return I.scatter_add(x, dim, _spread(idx, dim, s.shape), s).reshape(input.shape)


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """Out-of-place ``input.index_copy_``: the slices of input picked by ``index`` along dim
    replaced by source's (which of repeated indices wins is unspecified)."""
    name = lambda t: _LEGACY.get(t.dtype, t.dtype.name)  # noqa: E731
    idx = _vector_index(
        index,
        "index_copy_",
        (D.int64,),
        RuntimeError(
            "index_copy_(): Expected a long tensor for index, but got "
            f"{name(index) if isinstance(index, TensorCore) else ''}"
        ),
        IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {index.ndim})")
        if isinstance(index, TensorCore)
        else None,
    )
    dim = _dim(dim, input.ndim)
    _source_checks(
        "index_copy_",
        input,
        dim,
        index,
        source,
        "index_copy_(): self and source expected to have the same dtype, but got (self) "
        f"{name(input)} and (source) {name(source)}",
    )
    if input.ndim and source.ndim and input.ndim != source.ndim:
        raise IndexError(
            "index_copy_(): When source and destination are not scalars, their dimensionality must "
            f"match. Source dimensionality ({source.ndim}), destination dimensionality ({input.ndim})"
        )
    x, s = _one_d(input, source)
    if idx.numel() != s.shape[dim]:
        raise IndexError(
            f"index_copy_(): Number of indices ({idx.numel()}) should be equal to source.size(dim) ({s.shape[dim]})"
        )
    for d in range(x.ndim):
        if d != dim and x.shape[d] != s.shape[d]:
            raise RuntimeError(
                "index_copy_(): Source/destination tensor must have same slice shapes. Destination "
                f"slice shape: {x.shape[d]} at dimension {d} and source slice shape: {s.shape[d]} "
                f"at dimension {d}."
            )
    if index.device != input.device:
        raise RuntimeError(f"index_copy_(): index is on {index.device} but self is on {input.device}")
    _check_host_bounds(idx, x.shape[dim], dim, "index_copy_(): ")
    # (the checks above are scatter's for these shapes and dtypes)
    return Scatter.apply(x, dim, _spread(idx, dim, s.shape), s, True).reshape(input.shape)


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """Out-of-place ``input.index_fill_``: the slices of input picked by ``index`` along dim set to
    ``value`` (a number or a 0-d tensor); negative indices count from the end."""

    idx = _vector_index(
        index,
        "index_fill_",
        (D.int64,),
        IndexError("index_fill_(): Expected dtype int64 for index."),
        RuntimeError("Index has to be a vector/scalar"),
    )
    dim = _dim(dim, input.ndim)
    if isinstance(value, TensorCore):
        if value.ndim:
            raise RuntimeError(
                "index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value.ndim} dimension(s)."
            )
        value = value.to(input.device).to(input.dtype)
    else:
        value = fill_value(value, input.dtype, "index_fill_")
    if index.device != input.device:
        raise RuntimeError(f"index_fill_(): index is on {index.device} but self is on {input.device}")
    x = I._as_1d(input)
    n = x.shape[dim]
    _check_host_bounds(idx, n, dim, "", wrap=True)
    idx = where(idx < 0, idx + n, idx)
    # A mask of the picked slices, so each filled element counts once in value's gradient (as
    # PyTorch's, over the unique indices) and self's gradient is zero there.
    picked = x.new_zeros((n,), dtype=D.bool_)
    mask = Scatter.apply(picked, 0, idx, _const(picked, True, tuple(idx.shape)), True)
    view = [1] * x.ndim
    view[dim] = n
    return masked_fill(x, mask.reshape(view), value).reshape(input.shape)


__all__ = ["scatter", "scatter_reduce", "index_add", "index_copy", "index_fill", "Scatter", "ScatterReduce"]
