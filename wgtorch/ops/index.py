"""Gather-style ops: index_select, gather, scatter_add, embedding, masked_fill, and tensor
indexing (``x[idx]``, ``x[mask]``, ``x[mask] = v``).

Out-of-range indices raise IndexError. Where the index values are on the host (lists, NumPy
arrays, cpu tensors used to index), they are checked here, at once, with PyTorch's message. Index
tensors on a device are checked by the kernels themselves without a round trip: on wgpu the
error surfaces at the next read or synchronize (see wgtorch/backends/wgpu/index.py).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._tensor import Tensor, _dim, _wrap
from ..autograd.function import Function


def _check_index(index: Tensor, name: str, x: Tensor) -> None:
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}(): index must be a tensor, got {type(index).__name__}")
    if index.dtype not in (D.int64, D.int32):
        raise IndexError(f"{name}(): Expected dtype int32/int64 for index but got {index.dtype.name}")
    if index.device != x.device:
        raise RuntimeError(f"{name}(): index is on {index.device} but the tensor is on {x.device}")


class IndexSelect(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.dim, ctx.in_shape = dim, x.shape
        ctx.save_for_backward(index)
        return _wrap(x._be.index_select(x._data, dim, index._data), x._be, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        # Rows picked several times accumulate their gradients (scatter_add).
        shape = [1] * g.ndim
        shape[ctx.dim] = index.numel()
        idx = index.reshape(shape).expand(g.shape)
        return g.new_zeros(ctx.in_shape).scatter_add(ctx.dim, idx, g), None, None


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    _check_index(index, "index_select", x)
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    dim = _dim(dim, x.ndim)
    if x.ndim == 0:
        if index.numel() != 1:
            raise IndexError(f"index_select(): Index to scalar can have only 1 value, got {index.numel()} "
                             "value(s)")
        return IndexSelect.apply(x.reshape(1), 0, index.reshape(1)).reshape(())
    return IndexSelect.apply(x, dim, index.reshape(-1))


class Gather(Function):
    @staticmethod
    def forward(ctx, x, dim, index):
        ctx.dim, ctx.in_shape = dim, x.shape
        ctx.save_for_backward(index)
        return _wrap(x._be.gather(x._data, dim, index._data), x._be, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        return g.new_zeros(ctx.in_shape).scatter_add(ctx.dim, index, g), None, None


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    _check_index(index, "gather", x)
    dim = _dim(dim, x.ndim)
    if index.ndim != x.ndim:
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for d in range(x.ndim):
        if d != dim and index.shape[d] > x.shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index {list(index.shape)} "
                               f"to be smaller than self {list(x.shape)} apart from dimension {dim}")
    if x.ndim == 0:
        return Gather.apply(x.reshape(1), 0, index.reshape(1)).reshape(())
    return Gather.apply(x, dim, index)


class ScatterAdd(Function):
    @staticmethod
    def forward(ctx, x, dim, index, src):
        ctx.dim, ctx.src_shape = dim, tuple(src.shape)
        ctx.save_for_backward(index)
        return _wrap(x._be.scatter_add(x._data, dim, index._data, src._data), x._be, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        g_src = g.gather(ctx.dim, index)
        if tuple(g_src.shape) != ctx.src_shape:
            # src elements beyond index's shape were not scattered: their gradient is 0
            full = g_src.new_zeros(ctx.src_shape)
            full[tuple(slice(0, n) for n in index.shape)] = g_src
            g_src = full
        return g, None, None, g_src


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    _check_index(index, "scatter_add", x)
    dim = _dim(dim, x.ndim)
    if index.ndim != x.ndim or src.ndim != x.ndim:
        raise RuntimeError("scatter_add(): index, self and src must have the same number of dimensions")
    for d in range(x.ndim):
        if index.shape[d] > src.shape[d] or (d != dim and index.shape[d] > x.shape[d]):
            raise RuntimeError(f"scatter_add(): expected index {list(index.shape)} to be no larger than src "
                               f"{list(src.shape)}, and than self {list(x.shape)} apart from dimension {dim}")
    if src.dtype is not x.dtype:
        src = src.to(x.dtype)
    if x.ndim == 0:
        return ScatterAdd.apply(x.reshape(1), 0, index.reshape(1), src.reshape(1)).reshape(())
    return ScatterAdd.apply(x, dim, index, src)


def embedding(weight: Tensor, index: Tensor) -> Tensor:
    """Rows of ``weight`` for each index (any shape): (*index.shape, weight.shape[1])."""
    flat = index_select(weight, 0, index.reshape(-1))
    return flat.reshape(tuple(index.shape) + tuple(weight.shape[1:]))


def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    from .pointwise import where

    if mask.dtype is not D.bool_:
        raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype.name}")
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        value = value.item() if value.device != x.device else value.to(x.dtype)
    return where(mask, value, x).to(x.dtype)


def _host_index(k, n: int, dim: int, device) -> Tensor:
    """Index values held on the host (a list, a NumPy array, a cpu tensor): checked against the
    size ``n`` here, with PyTorch's message, and negative ones wrapped before the upload."""
    from .._creation import tensor

    host = k.numpy() if isinstance(k, Tensor) else np.asarray(k)
    if host.dtype.kind not in "iu" and host.size:
        raise IndexError("tensors used as indices must be long, int or bool tensors")
    host = host.astype(np.int64, copy=False)
    if host.size:
        lo, hi = int(host.min()), int(host.max())
        if lo < -n or hi >= n:
            bad = hi if hi >= n else lo
            raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {n}")
        if lo < 0:
            host = np.where(host < 0, host + n, host)
    return tensor(host, dtype=D.int64, device=device)


def _device_index(k: Tensor, n: int) -> Tensor:
    """An index tensor on the indexed tensor's device: negative entries are wrapped there (no
    round trip); entries still out of range are reported by the index kernel."""
    from .pointwise import where

    if k.dtype.is_floating_point or k.dtype is D.bool_:
        raise IndexError("tensors used as indices must be long, int or bool tensors")
    return where(k < 0, k + n, k)


def _mask_positions(mask, device) -> Tensor:
    """Flat positions of True entries (needs the mask on the host: its count sets the shape)."""
    from .._creation import tensor

    host = mask.numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    return tensor(np.flatnonzero(host).astype(np.int64), device=device)


def _is_mask(k) -> bool:
    if isinstance(k, Tensor):
        return k.dtype is D.bool_
    return np.asarray(k).dtype == np.bool_


def advanced_getitem(x: Tensor, key: tuple, advanced: list) -> Tensor:
    from .shape import GetItem

    if len(advanced) != 1:
        raise NotImplementedError("indexing with more than one tensor index is not supported yet")
    pos = advanced[0]
    k = key[pos]
    basic = tuple(slice(None) if i == pos else kk for i, kk in enumerate(key))
    # Dims consumed before the advanced index, in the basic-indexed view.
    before = sum(1 for kk in key[:pos] if isinstance(kk, slice) or kk is None)
    view = GetItem.apply(x, basic) if any(kk != slice(None) for kk in basic) else x
    if _is_mask(k):
        mask_shape = tuple(k.shape) if isinstance(k, Tensor) else np.shape(k)
        if mask_shape != tuple(view.shape[before:before + len(mask_shape)]):
            raise IndexError(f"The shape of the mask {list(mask_shape)} does not match the shape of the "
                             f"indexed tensor {list(view.shape)}")
        flat = view.reshape(view.shape[:before] + (-1,) + view.shape[before + len(mask_shape):])
        return index_select(flat, before, _mask_positions(k, x.device))
    n = view.shape[before]
    if isinstance(k, Tensor) and k.device == x.device and x.device.type != "cpu":
        idx = _device_index(k, n)
    else:
        idx = _host_index(k, n, before, x.device)
    out = index_select(view, before, idx.reshape(-1))
    return out.reshape(view.shape[:before] + tuple(idx.shape) + view.shape[before + 1:])


def advanced_setitem(x: Tensor, key: tuple, advanced: list, value) -> None:
    from .shape import copy_into

    x._check_inplace()
    if len(advanced) == 1 and isinstance(key[advanced[0]], Tensor) and key[advanced[0]].dtype is D.bool_ \
            and len(key) == 1 and tuple(key[0].shape) == tuple(x.shape):
        copy_into(x, masked_fill(x.detach(), key[0].to(x.device), value))
        return
    raise NotImplementedError("assignment with tensor indices is supported only as x[mask] = value, "
                              "with a bool mask of x's shape")
