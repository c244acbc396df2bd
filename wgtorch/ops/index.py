"""Gather-style ops: index_select, gather, scatter_add, embedding, and tensor indexing
(``x[idx]``, ``x[mask]``); masked_fill, index_put and ``x[idx] = v`` are in index_put.py, scatter,
scatter_reduce and index_add/copy/fill in scatter.py, nonzero, masked_select/scatter, take and
put in select.py.

Out-of-range indices raise PyTorch's exception: IndexError for index_select, embedding and
``x[idx]``, RuntimeError for gather and scatter_add. Where the index values are on the host
(lists, NumPy arrays, cpu tensors used to index), they are checked here, at once, with PyTorch's
message. Index tensors on a device are checked by the kernels themselves without a round trip:
on wgpu the error surfaces at the next read or synchronize (see wgtorch/_backends/wgpu/index.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import _dtype as D
from .._creation import tensor
from .._tensor import TensorCore, _dim, _wrap
from ..autograd.function import Function
from .fill import fill_value, masked_fill  # noqa: F401  (re-exported for callers)
from .pointwise import where
from .shape import GetItem, normalize_key

if TYPE_CHECKING:
    from .._tensor_class import Tensor

# PyTorch's own wording for an index tensor of the wrong dtype, per op (all RuntimeError).
_DTYPE_MESSAGES = {"index_select": "index_select(): Expected dtype int32 or int64 for index",
                   "gather": "gather(): Expected dtype int32/int64 for index",
                   "scatter_add": "scatter(): Expected dtype int32/int64 for index",
                   "scatter": "scatter(): Expected dtype int32/int64 for index",
                   "scatter_reduce": "scatter(): Expected dtype int32/int64 for index"}


def _check_index(index: Tensor, name: str, x: Tensor) -> None:
    if not isinstance(x, TensorCore):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if not isinstance(index, TensorCore):
        raise TypeError(f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}")
    if index.dtype not in (D.int64, D.int32):
        raise RuntimeError(f"{_DTYPE_MESSAGES[name]}, got {index.dtype.name}")
    if index.device != x.device:
        raise RuntimeError(f"{name}(): index is on {index.device} but the tensor is on {x.device}")


def _nonempty_ndim(t: Tensor) -> int:
    # PyTorch's gather/scatter count a 0-d tensor as 1-d (ensure_nonempty_dim)
    return max(t.ndim, 1)


def _as_1d(t: Tensor) -> Tensor:
    return t.reshape(1) if t.ndim == 0 else t


class IndexSelect(Function):
    """``index_error`` True: a bad index is an IndexError on every dim (tensor indexing's type),
    not index_select's own (a RuntimeError along dim 1 on PyTorch's cpu)."""

    @staticmethod
    def forward(ctx, x, dim, index, index_error=False):
        ctx.dim, ctx.in_shape = dim, x.shape
        ctx.save_for_backward(index)
        return _wrap(x._be.index_select(x._data, dim, index._data, index_error), x._be, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        # Rows picked several times accumulate their gradients (scatter_add).
        shape = [1] * g.ndim
        shape[ctx.dim] = index.numel()
        idx = index.reshape(shape).expand(g.shape)
        return g.new_zeros(ctx.in_shape).scatter_add(ctx.dim, idx, g), None, None, None


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of ``input`` along ``dim`` at the 1-D ``index``."""
    _check_index(index, "index_select", x)
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    dim = _dim(dim, x.ndim)
    if x.ndim == 0:
        if index.numel() != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got {index.numel()} "
                               "value(s)")
        return IndexSelect.apply(x.reshape(1), 0, index.reshape(1)).reshape(())
    if x.shape[dim] == 0 and index.numel() and x.device.type == "cpu":
        # PyTorch's cpu check; on a device (as CUDA's) the kernel reports the index instead
        raise RuntimeError(f"index_select(): self indexing axis dim should be positive (dimension {dim} of "
                           f"self {list(x.shape)} is empty; the index has {index.numel()} value(s))")
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
    """Picks values along ``dim`` at ``index`` (``out[i][j] = input[i][index[i][j]]`` for dim 1)."""
    _check_index(index, "gather", x)
    dim = _dim(dim, x.ndim)
    if _nonempty_ndim(index) != _nonempty_ndim(x):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as input tensor (index "
                           f"{list(index.shape)}, input {list(x.shape)})")
    xs, ishape = _as_1d(x), _as_1d(index).shape
    for d in range(xs.ndim):
        if d != dim and ishape[d] > xs.shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index {list(index.shape)} to be "
                               f"no larger than self {list(x.shape)} apart from dimension {dim}")
    if x.ndim == 0 or index.ndim == 0:
        return Gather.apply(xs, dim, _as_1d(index)).reshape(index.shape)
    return Gather.apply(x, dim, index)


def pad_grad(g: Tensor, shape: tuple) -> Tensor:
    """``g`` (index-shaped) as the gradient of a src of ``shape``: src elements beyond the index's
    shape were not scattered, so their gradient is 0."""
    if tuple(g.shape) == tuple(shape):
        return g
    full = g.new_zeros(shape)
    full[tuple(slice(0, n) for n in g.shape)] = g
    return full


class ScatterAdd(Function):
    """``index_error``: a bad index is an IndexError (put_'s type), not scatter_add's RuntimeError."""

    @staticmethod
    def forward(ctx, x, dim, index, src, index_error=False):
        ctx.dim, ctx.src_shape = dim, tuple(src.shape)
        ctx.save_for_backward(index)
        return _wrap(x._be.scatter_add(x._data, dim, index._data, src._data, index_error), x._be, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        return g, None, None, pad_grad(g.gather(ctx.dim, index), ctx.src_shape), None


def check_scatter(name: str, x: Tensor, dim: int, index: Tensor, src: Tensor | None) -> int:
    """PyTorch's checks for scatter, scatter_add and scatter_reduce (``src`` None: a scalar
    value); the dim, wrapped."""
    _check_index(index, name, x)
    if src is not None and not isinstance(src, TensorCore):
        raise TypeError(f"{name}(): argument 'src' must be Tensor, not {type(src).__name__}")
    dim = _dim(dim, x.ndim)
    if _nonempty_ndim(index) != _nonempty_ndim(x):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as self tensor (index "
                           f"{list(index.shape)}, self {list(x.shape)})")
    if src is not None and _nonempty_ndim(index) != _nonempty_ndim(src):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as src tensor (index "
                           f"{list(index.shape)}, src {list(src.shape)})")
    if src is not None and src.dtype is not x.dtype:
        raise RuntimeError(f"scatter(): Expected self.dtype to be equal to src.dtype, got {x.dtype.name} and "
                           f"{src.dtype.name}")
    if src is not None and src.device != x.device:
        raise RuntimeError(f"{name}(): src is on {src.device} but the tensor is on {x.device}")
    xs, idx = _as_1d(x), _as_1d(index)
    srcs = _as_1d(src) if src is not None else idx
    for d in range(xs.ndim):
        if idx.shape[d] > srcs.shape[d] or (d != dim and idx.shape[d] > xs.shape[d]):
            if src is None:
                raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than self {list(x.shape)} "
                                   f"apart from dimension {dim}")
            raise RuntimeError(f"Expected index {list(index.shape)} to be no larger than self {list(x.shape)} "
                               f"apart from dimension {dim} and to be no larger size than src {list(src.shape)}")
    return dim


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """Out-of-place ``x.scatter_add_(dim, index, src)``: src added at index along dim (repeated
    indices accumulate)."""
    dim = check_scatter("scatter_add", x, dim, index, src)
    if x.ndim == 0 or index.ndim == 0 or src.ndim == 0:
        return ScatterAdd.apply(_as_1d(x), dim, _as_1d(index), _as_1d(src)).reshape(x.shape)
    return ScatterAdd.apply(x, dim, index, src)


def embedding(weight: Tensor, index: Tensor) -> Tensor:
    """Rows of ``weight`` for each index (any shape): (*index.shape, weight.shape[1])."""
    if not isinstance(index, TensorCore) or index.dtype not in (D.int64, D.int32):
        got = index.dtype.name if isinstance(index, TensorCore) else type(index).__name__
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {got} instead (while checking arguments for embedding)")
    if weight.ndim != 2:
        raise RuntimeError(f"'weight' must be 2-D, got a {weight.ndim}-D tensor of shape {list(weight.shape)}")
    flat = index_select(weight, 0, index.reshape(-1))
    return flat.reshape(tuple(index.shape) + tuple(weight.shape[1:]))


_INDEX_DTYPE_MESSAGE = "tensors used as indices must be long, int, byte or bool tensors"


def _host_index(k, n: int, dim: int, device) -> Tensor:
    """Index values held on the host (a list, a NumPy array, a cpu tensor): checked against the
    size ``n`` here, with PyTorch's message, and negative ones wrapped before the upload."""

    host = k.numpy() if isinstance(k, TensorCore) else np.asarray(k)
    if host.dtype.kind == "f" and not isinstance(k, TensorCore):
        host = np.trunc(host)  # PyTorch reads a list of floats as indices, truncated toward zero
    elif host.dtype.kind not in "iu" and (host.size or isinstance(k, TensorCore)):
        raise IndexError(_INDEX_DTYPE_MESSAGE)
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

    if k.dtype not in (D.int64, D.int32):
        raise IndexError(_INDEX_DTYPE_MESSAGE)
    return where(k < 0, k + n, k)


def _mask_positions(mask, device) -> Tensor:
    """Flat positions of True entries (needs the mask on the host: its count sets the shape)."""

    host = mask.numpy() if isinstance(mask, TensorCore) else np.asarray(mask)
    return tensor(np.flatnonzero(host).astype(np.int64), device=device)


def _is_mask(k) -> bool:
    """A bool index, or a uint8 tensor (PyTorch's deprecated byte mask)."""
    if isinstance(k, TensorCore):
        return k.dtype is D.bool_ or k.dtype is D.uint8
    return np.asarray(k).dtype == np.bool_


def _to_mask(k) -> Tensor:
    if isinstance(k, TensorCore):
        return k if k.dtype is D.bool_ else k != 0
    return tensor(np.asarray(k, dtype=bool))


def _mask_shape_error(mask_shape: tuple, shape: tuple, before: int) -> IndexError:
    for i, n in enumerate(mask_shape):
        if before + i >= len(shape) or shape[before + i] != n:
            return IndexError(f"The shape of the mask {list(mask_shape)} at index {i} does not match the shape of "
                              f"the indexed tensor {list(shape)} at index {before + i}")
    return IndexError(f"The shape of the mask {list(mask_shape)} does not match the shape of the indexed tensor "
                      f"{list(shape)}")


def _check_index_device(k, x: Tensor) -> None:
    if isinstance(k, TensorCore) and k.device != x.device and k.device.type != "cpu":
        raise RuntimeError(f"indices should be either on cpu or on the same device as the indexed tensor "
                           f"({x.device}), got an index on {k.device}")


def _split_key(key: tuple) -> tuple[tuple, list]:
    """The basic part of a normalised key (each advanced entry replaced by full slices, one per
    dim it consumes) and, per advanced entry, (its first dim in the basic-indexed view, entry)."""
    basic, entries, d = [], [], 0
    for k in key:
        if k is None or isinstance(k, slice):
            basic.append(k)
            d += 1
        elif isinstance(k, int):
            basic.append(k)
        else:
            m = _to_mask(k) if _is_mask(k) else k
            ndim = m.ndim if _is_mask(k) else 1
            basic += [slice(None)] * ndim
            entries.append((d, m))
            d += ndim
    return tuple(basic), entries


def _host_indices(view: Tensor, entries: list) -> list[tuple[int, np.ndarray]]:
    """(view dim, checked non-negative host int64 index) per indexed dim; a mask gives one per
    dim it covers (its True positions). The error's dimension is the index's position among the
    tensor indices, as in PyTorch's message."""
    out = []
    for d, k in entries:
        if isinstance(k, TensorCore) and k.dtype is D.bool_:
            mshape = tuple(k.shape)
            if mshape != tuple(view.shape[d:d + len(mshape)]):
                raise _mask_shape_error(mshape, view.shape, d)
            out += [(d + i, p) for i, p in enumerate(np.nonzero(k.numpy()))]
        else:
            out.append((d, _host_index(k, view.shape[d], len(out), "cpu").numpy()))
    return out


def _broadcast_index_shape(shapes: list) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes "
                         + ", ".join(str(list(s)) for s in shapes)) from None


def _layout(view: Tensor, dims: list, index_shape: tuple):
    """How several indexed dims come out: the permutation of ``view`` that puts ``dims`` first,
    the shape of the rest, and the permutation taking (*index_shape, *rest) to PyTorch's result
    order: the index dims in place of the first indexed dim when the indexed dims are adjacent,
    else in front."""
    rest = [i for i in range(view.ndim) if i not in dims]
    perm = list(dims) + rest
    b = len(index_shape)
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    lead = sum(1 for i in rest if i < dims[0]) if adjacent else 0
    out_perm = list(range(b, b + lead)) + list(range(b)) + list(range(b + lead, b + len(rest)))
    return perm, tuple(view.shape[i] for i in rest), out_perm


def _linear(view: Tensor, dims: list, idxs: list):
    """Row positions in ``view`` permuted to ``dims`` first and those dims flattened."""
    lin = 0
    for d, i in zip(dims, idxs):
        lin = lin * view.shape[d] + i
    return lin


def _multi_getitem(x: Tensor, view: Tensor, entries: list) -> Tensor:
    on_device = x.device.type != "cpu" and any(isinstance(k, TensorCore) and k.device == x.device for _, k in entries)
    if on_device and not any(_is_mask(k) for _, k in entries):  # a mask is read on the host anyway
        # Index tensors on the device stay there: an entry out of range makes its row -1, which
        # the index kernel reports (the report names the flattened dims).
        dims = [d for d, _ in entries]
        idxs = [_device_index(k, view.shape[d]) if isinstance(k, TensorCore) and k.device == x.device
                else _host_index(k, view.shape[d], j, x.device) for j, (d, k) in enumerate(entries)]
        shape = _broadcast_index_shape([tuple(i.shape) for i in idxs])
        bad = None
        for d, i in zip(dims, idxs):
            out_of_range = (i < 0) | (i >= view.shape[d])
            bad = out_of_range if bad is None else bad | out_of_range
        lin = where(bad, -1, _linear(view, dims, idxs))
    else:
        pairs = _host_indices(view, entries)
        dims, idxs = [d for d, _ in pairs], [i for _, i in pairs]
        shape = _broadcast_index_shape([i.shape for i in idxs])
        lin = tensor(_linear(view, dims, [np.broadcast_to(i, shape) for i in idxs]), dtype=D.int64,
                     device=x.device)
    perm, rest, out_perm = _layout(view, dims, shape)
    lead = math.prod(view.shape[d] for d in dims)  # not -1: ambiguous when `rest` holds a 0
    if lead == 0 and math.prod(shape):  # an indexed dim is empty: every index is out of range
        raise IndexError("index is out of bounds for dimension with size 0")
    flat = view.permute(perm).reshape((lead,) + rest)
    out = index_select(flat, 0, lin.reshape(-1)).reshape(shape + rest)
    return out.permute(out_perm)


def advanced_getitem(x: Tensor, key: tuple, advanced: list) -> Tensor:
    for i in advanced:
        _check_index_device(key[i], x)
    basic, entries = _split_key(key)
    view = GetItem.apply(x, basic) if any(kk != slice(None) for kk in basic) else x
    if len(entries) > 1:
        if any(_is_mask(k) and k.ndim == 0 for _, k in entries):
            raise NotImplementedError("a 0-d bool index together with other tensor indices is not supported yet")
        return _multi_getitem(x, view, entries)
    before, k = entries[0]
    if _is_mask(k):
        mask_shape = tuple(k.shape)
        if mask_shape != tuple(view.shape[before:before + len(mask_shape)]):
            raise _mask_shape_error(mask_shape, view.shape, before)
        flat = view.reshape(view.shape[:before] + (math.prod(mask_shape),) + view.shape[before + len(mask_shape):])
        return index_select(flat, before, _mask_positions(k, x.device))
    n = view.shape[before]
    if isinstance(k, TensorCore) and k.device == x.device and x.device.type != "cpu":
        idx = _device_index(k, n)
        if n == 0 and idx.numel():  # PyTorch's IndexError (index_select's own check is a RuntimeError)
            raise IndexError("index is out of bounds for dimension with size 0")
    else:
        idx = _host_index(k, n, 0, x.device)
    out = IndexSelect.apply(view, before, idx.reshape(-1), True)  # IndexError on every dim, as x[:, i] has
    return out.reshape(view.shape[:before] + tuple(idx.shape) + view.shape[before + 1:])


__all__ = ["index_select", "gather", "scatter_add", "embedding", "masked_fill", "advanced_getitem",
           "getitem", "select"]


# -- x[key] and select: the basic cases are views (shape.GetItem), the rest index here --


def getitem(x: Tensor, key) -> Tensor:
    """``x[index]``: basic (ints, slices, None, ...) and advanced (tensor, list, bool mask) indexing."""
    key = normalize_key(x, key)
    advanced = [i for i, k in enumerate(key) if not (k is None or isinstance(k, (int, slice)))]
    if not advanced:
        return GetItem.apply(x, key)
    return advanced_getitem(x, key, advanced)


def select(x: Tensor, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim`` (that dim removed; a view)."""
    dim = _dim(dim, x.ndim)
    return getitem(x, (slice(None),) * dim + (index,))
