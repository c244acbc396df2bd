"""Views (no copy) and the ops that assemble tensors from pieces: reshape, permute, expand,
indexing, contiguous/clone, cat and stack. Each forward with its backward."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .. import _dtype as D
from .._broadcast import broadcast_shapes
from .._tensor import TensorCore, _dim, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import state
from .pointwise import _sum_to
from .registry import TORCH_NAMES

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _out(x: Tensor, data, dt=None) -> Tensor:
    return _wrap(data, x._be, dt or x.dtype)


def _view(x: Tensor, data) -> Tensor:
    """A tensor sharing x's memory; ``_base`` lets in-place ops refuse what autograd can't follow."""
    t = _wrap(data, x._be, x.dtype)
    t._base = x._base if x._base is not None else x
    t._vc = x._counter()
    return t


def infer_shape(shape: tuple, numel: int) -> tuple:
    """``shape`` with a -1 resolved, checked against ``numel``."""
    if -1 not in shape and math.prod(shape) == numel and (not shape or min(shape) >= 0):
        return shape  # the common case: already explicit and right
    shape = list(shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        rest = math.prod(n for n in shape if n != -1)
        if rest == 0 or numel % rest:
            raise RuntimeError(f"shape '{shape}' is invalid for input of size {numel}")
        shape[shape.index(-1)] = numel // rest
    if math.prod(shape) != numel or any(n < 0 for n in shape):
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape, copy_ok):
        ctx.in_shape = x.shape
        data = x._be.reshape(x._data, shape)
        if data is None:
            if not copy_ok:
                raise RuntimeError("view size is not compatible with input tensor's size and stride (at least "
                                   "one dimension spans across two contiguous subspaces). Use .reshape(...) "
                                   "instead.")
            data = x._be.reshape(_copy(x), shape)
        return _view(x, data)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape), None, None


def reshape(x: Tensor, *shape, copy_ok: bool = True) -> Tensor:
    """The same elements in another shape (a view when the strides allow, else a copy; -1 infers a dim)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = tuple(shape) if all(type(n) is int for n in shape) else tuple(int(n) for n in shape)
    current = x._data.shape
    if shape == current:  # nothing to do; still a node when autograd needs one
        return Reshape.apply(x, shape, copy_ok) if x.requires_grad else _view(x, x._data)
    return Reshape.apply(x, infer_shape(shape, x.numel()), copy_ok)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return _view(x, x._be.permute(x._data, dims))

    @staticmethod
    def backward(ctx, g):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return g.permute(tuple(inverse)), None


def permute(x: Tensor, *dims) -> Tensor:
    """A view with the dims in the order ``dims``."""
    if not dims:  # (x.permute(()) is how a 0-d tensor is permuted)
        raise TypeError('permute() missing 1 required positional arguments: "dims"')
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    dims = tuple(_dim(d, x.ndim) for d in dims)
    if len(dims) != x.ndim or len(set(dims)) != x.ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() = {x.ndim} "
                           f"is not equal to len(dims) = {len(dims)}" if len(dims) != x.ndim
                           else f"permute(): duplicate dims are not allowed: {dims}")
    return Permute.apply(x, dims)


def transpose(x: Tensor, d0: int, d1: int) -> Tensor:
    """A view with dims ``d0`` and ``d1`` swapped."""
    if x.ndim == 0:  # PyTorch lets a 0-d tensor transpose to itself
        return x
    dims = list(range(x.ndim))
    d0, d1 = _dim(d0, x.ndim), _dim(d1, x.ndim)
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(x, tuple(dims))


def t(x: Tensor) -> Tensor:
    """The transpose of a tensor of at most 2 dims."""
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x if x.ndim < 2 else transpose(x, 0, 1)


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return _view(x, x._be.expand(x._data, shape))

    @staticmethod
    def backward(ctx, g):
        return _sum_to(g, ctx.in_shape), None


def expand(x: Tensor, *shape) -> Tensor:
    """A view with size-1 dims repeated to ``size`` (-1 keeps a dim; no copy)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = list(shape)
    if len(shape) < x.ndim:
        raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be greater or equal to "
                           f"the number of dimensions in the tensor ({x.ndim})")
    pad = len(shape) - x.ndim
    for i in range(pad):
        if shape[i] < 0:
            raise RuntimeError(f"The expanded size of the tensor ({shape[i]}) isn't allowed in a leading, "
                               f"non-existing dimension {i}")
    for i, n in enumerate(x.shape):
        if shape[pad + i] < -1:
            raise RuntimeError(f"expand: the expanded size of the tensor ({shape[pad + i]}) at dimension "
                               f"{pad + i} must be non-negative (or -1 to keep the size). Target sizes: {shape}")
        if shape[pad + i] == -1:
            shape[pad + i] = n
        elif n != 1 and n != shape[pad + i]:
            raise RuntimeError(f"The expanded size of the tensor ({shape[pad + i]}) must match the existing "
                               f"size ({n}) at non-singleton dimension {pad + i}.  Target sizes: {shape}.  "
                               f"Tensor sizes: {list(x.shape)}")
    return Expand.apply(x, tuple(shape))


def squeeze(x: Tensor, dim=None) -> Tensor:
    """A view without size-1 dims (or only ``dim``, if it is size 1)."""
    if dim is None:
        shape = [n for n in x.shape if n != 1]
    else:
        dims = {_dim(d, x.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        shape = [n for i, n in enumerate(x.shape) if not (i in dims and n == 1)]
    return reshape(x, tuple(shape))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """A view with a size-1 dim inserted at ``dim``."""
    dim = _dim(dim, x.ndim + 1)
    shape = list(x.shape)
    shape.insert(dim, 1)
    return reshape(x, tuple(shape))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dims ``start_dim`` to ``end_dim`` merged into one."""
    if x.ndim == 0:
        _dim(start_dim, 0), _dim(end_dim, 0)  # (a 0-d tensor still has dims 0 and -1 only)
        return reshape(x, (1,))
    s, e = _dim(start_dim, x.ndim), _dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:]
    return reshape(x, shape)


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    """Dim ``dim`` split into ``sizes``."""
    dim = _dim(dim, x.ndim)
    return reshape(x, x.shape[:dim] + tuple(sizes) + x.shape[dim + 1:])


# -- indexing ----------------------------------------------------------------------------------
def normalize_key(x: Tensor, key) -> tuple[tuple, list]:
    """Basic-indexing key with Ellipsis expanded, ints checked and slices clamped; plus the
    positions (in the result) of any advanced (tensor/list) indices, which are left in place."""
    if not isinstance(key, tuple):
        key = (key,)
    used = sum(1 for k in key if k is not None and k is not Ellipsis and not _is_bool_mask(k))
    used += sum(k.ndim for k in key if _is_bool_mask(k))
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if used > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    out, d = [], 0
    for k in key:
        if k is Ellipsis:
            fill = x.ndim - used
            out += [slice(None)] * fill
            d += fill
        elif k is None:
            out.append(None)
        elif isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            if step <= 0:
                raise ValueError("step must be greater than zero")
            out.append(slice(*slice(k.start, k.stop, step).indices(x.shape[d])))
            d += 1
        elif isinstance(k, (int,)) or (isinstance(k, TensorCore) and k.ndim == 0 and not k.dtype.is_floating_point
                                       and k.dtype is not D.bool_):
            i = int(k)
            n = x.shape[d]
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for dimension {d} with size {n}")
            out.append(i % n)
            d += 1
        else:
            out.append(k)
            d += 1
    return tuple(out)


def _is_bool_mask(k) -> bool:
    return isinstance(k, TensorCore) and k.dtype is D.bool_


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, key):
        ctx.in_shape, ctx.key = x.shape, key
        return _view(x, x._be.getitem(x._data, key))

    @staticmethod
    def backward(ctx, g):
        z = g.new_zeros(ctx.in_shape)
        z._be.elementwise("copy", [g._data], g.dtype, g.dtype, out=z._be.getitem(z._data, ctx.key))
        return z, None


def _check_broadcasts_to(src_shape: tuple, dst_shape: tuple) -> None:
    """src must broadcast to exactly dst's shape: the kernels trust the shapes they are given, so a
    larger or mismatched source would read past its storage (or write past dst's)."""

    if tuple(src_shape) == tuple(dst_shape):
        return
    shape = broadcast_shapes([tuple(dst_shape), tuple(src_shape)])
    if shape != tuple(dst_shape):
        raise RuntimeError(f"output with shape {list(dst_shape)} doesn't match the broadcast shape {list(shape)}")


def copy_into(dst: Tensor, src) -> Tensor:
    """dst[...] = src with broadcasting and casting, through dst's view (no autograd)."""
    be = dst._be
    if isinstance(src, TensorCore):
        _check_broadcasts_to(src.shape, dst.shape)
        if src._be is not be:
            src = src.to(dst.device)
        s = src._data
        if be.same_storage(s, dst._data):
            s = _copy(src)  # an overlapping source would be read after it is partly overwritten
        be.elementwise("copy", [s], src.dtype, dst.dtype, out=dst._data)
    else:
        be.elementwise("copy", [src], D.result_type(src) if dst.dtype.is_floating_point else dst.dtype,
                       dst.dtype, out=dst._data)
    return dst


def _copy(x: Tensor):
    """A contiguous copy of x's data."""
    return x._be.elementwise("copy", [x._data], x.dtype, x.dtype)


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return _out(x, _copy(x))

    @staticmethod
    def backward(ctx, g):
        return g


def contiguous(x: Tensor) -> Tensor:
    """Self if row-major already, else a row-major copy."""
    return x if x.is_contiguous() else Clone.apply(x)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """A view of ``length`` entries along ``dim`` from ``start``."""
    if x.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    dim = _dim(dim, x.ndim)
    n = x.shape[dim]
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    start = start + n if start < 0 else start
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return GetItem.apply(x, (slice(None),) * dim + (slice(start, start + length, 1),))


def _skipped_by_cat(x: Tensor) -> bool:
    """PyTorch's legacy rule: cat skips 1-D empty tensors (so `cat([empty, x])` works), though they
    still count for the result dtype and get an (empty) gradient."""
    return x.ndim == 1 and x.shape[0] == 0


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *xs):
        kept = [x for x in xs if not _skipped_by_cat(x)] or list(xs[:1])
        dt = D.result_type(*xs)
        shape = list(kept[0].shape)
        shape[dim] = sum(x.shape[dim] for x in kept)
        out = _wrap(kept[0]._be.empty(tuple(shape), dt), kept[0]._be, dt)
        ctx.sizes = [None if _skipped_by_cat(x) and x is not kept[0] else x.shape[dim] for x in xs]
        ctx.dim = dim
        start = 0
        for x in kept:
            n = x.shape[dim]
            if n:
                copy_into(GetItem.forward(ctx, out, (slice(None),) * dim + (slice(start, start + n, 1),)), x)
            start += n
        return out

    @staticmethod
    def backward(ctx, g):
        grads, start = [None], 0
        for n in ctx.sizes:
            if n is None:  # a skipped 1-D empty input
                grads.append(g.new_zeros((0,)))
                continue
            grads.append(narrow(g, ctx.dim, start, n))
            start += n
        return tuple(grads)


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = [x for x in tensors]
    if not tensors:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    for i, x in enumerate(tensors):
        if x.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    keep = [x for x in tensors if not _skipped_by_cat(x)] or tensors[:1]
    ref = keep[0]
    dim = _dim(dim, ref.ndim)
    for x in tensors:
        if x.device != ref.device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two "
                               f"devices, {ref.device} and {x.device}!")
    for i, x in enumerate(keep):
        if x.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(x.shape, ref.shape)) if j != dim):
            raise RuntimeError(f"Sizes of tensors must match except in dimension {dim}. Expected size "
                               f"{list(ref.shape)} but got size {list(x.shape)} for tensor number {i} in "
                               "the list.")
    return Cat.apply(dim, *tensors)


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, x in enumerate(tensors):
        if x.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} "
                               f"at entry 0 and {list(x.shape)} at entry {i}")
    dim = _dim(dim, tensors[0].ndim + 1)
    return cat([unsqueeze(x, dim) for x in tensors], dim)


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Views of ``split_size_or_sections`` entries each along ``dim`` (the last may be smaller)."""
    if x.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    dim = _dim(dim, x.ndim)
    n = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative entries, but got "
                               f"split_sizes={sizes}")
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                               f"size at dimension {dim}), but got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(x, dim, start, s))
        start += s
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    """``chunks`` views of (nearly) equal size along ``dim``."""
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0")
    if x.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    n = x.shape[_dim(dim, x.ndim)]
    if n == 0:  # PyTorch: `chunks` empty chunks, where split would give one
        return tuple(narrow(x, dim, 0, 0) for _ in range(chunks))
    return split(x, -(-n // chunks), dim)


def unbind(x: Tensor, dim: int = 0) -> tuple:
    """The slices along ``dim``, as a tuple (that dim removed)."""
    dim = _dim(dim, x.ndim)
    # integer keys are always views (what select(x, dim, i) runs)
    return tuple(GetItem.apply(x, normalize_key(x, (slice(None),) * dim + (i,))) for i in range(x.shape[dim]))


# -- in-place ops: how every one of them writes its result through self's memory --


def _grad_enabled() -> bool:
    return state.enabled


def apply_inplace(self, compute, *args, **kwargs):
    """``self = compute(self, *args)`` written through self's memory: how every in-place op runs.

    With autograd on, the op computes from a clone (its node may save its input, which the write
    is about to overwrite; the clone passes gradients on to self's history) and self then takes
    the op's place in the graph."""
    self._check_inplace()
    source = Clone.apply(self) if self.requires_grad and _grad_enabled() else self
    result = compute(source, *args, **kwargs)
    if result.dtype is not self.dtype and result.dtype.category > self.dtype.category:
        raise RuntimeError(f"result type {TORCH_NAMES[result.dtype.name]} can't be cast to the desired "
                           f"output type {TORCH_NAMES[self.dtype.name]}")
    if tuple(result.shape) != tuple(self.shape):
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                           f"{list(result.shape)}")
    if result.requires_grad:
        copy_into(self, result.detach())
        self.grad_fn, self._output_nr, self.requires_grad = result.grad_fn, result._output_nr, True
    else:
        copy_into(self, result)
    return self
