"""Ops that move elements around without arithmetic: flip, roll, rot90, repeat, repeat_interleave,
tile, movedim, diff, narrow_copy. Composites of index_select, narrow, cat, reshape, expand and
permute, so that autograd needs no code of its own here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _dtype as D
from .._creation import arange, tensor
from .._tensor import TensorCore, _dim
from ..autograd.function import Function
from . import shape as S
from .index import index_select
from .registry import TORCH_NAMES

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _ints(v, name: str, op: str) -> tuple:
    if isinstance(v, (tuple, list)) or (isinstance(v, TensorCore) and v.ndim == 1):
        return tuple(int(n) for n in v)
    if isinstance(v, int) or (isinstance(v, TensorCore) and v.ndim == 0):
        return (int(v),)
    raise TypeError(f"{op}(): argument '{name}' must be tuple of ints, not {type(v).__name__}")


def _unique_dims(dims, ndim: int) -> tuple:
    out = tuple(_dim(d, ndim) for d in dims)
    for d in out:
        if out.count(d) > 1:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
    return out


def _reversed_index(x: Tensor, n: int) -> Tensor:
    return arange(n - 1, -1, -1, device=x.device)


class Flip(Function):
    """Gathers along each flipped dim; the backward flips back (no scatter)."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        out = x
        for d in dims:
            out = index_select(out, d, _reversed_index(x, x.shape[d]))
        return S.Clone.apply(out) if out is x else out

    @staticmethod
    def backward(ctx, g):
        return Flip.apply(g, ctx.dims), None


def flip(input: Tensor, dims) -> Tensor:
    """A copy of input with the order of elements reversed along ``dims``."""
    if not isinstance(dims, (tuple, list)):
        raise TypeError(f"flip(): argument 'dims' (position 2) must be tuple of ints, not {type(dims).__name__}")
    dims = _unique_dims(dims, input.ndim)
    return Flip.apply(input, tuple(d for d in dims if input.ndim and input.shape[d] > 1))


def fliplr(input: Tensor) -> Tensor:
    """Flip the columns (dim 1) of a tensor of 2 or more dims."""
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input: Tensor) -> Tensor:
    """Flip the rows (dim 0) of a tensor of 1 or more dims."""
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


def _roll1(x: Tensor, shift: int, d: int) -> Tensor:
    n = x.shape[d]
    if n == 0 or shift % n == 0:
        return x
    s = shift % n
    return S.cat([S.narrow(x, d, n - s, s), S.narrow(x, d, 0, n - s)], d)


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Rotate the elements along ``dims`` by ``shifts`` places (no dims: of the flattened tensor,
    shape kept)."""
    shifts = _ints(shifts, "shifts", "roll")
    dims = () if dims is None else _ints(dims, "dims", "roll")
    if not shifts:
        raise RuntimeError("`shifts` required")
    if not dims and len(shifts) == 1:
        flat = input.reshape(-1)
        out = _roll1(flat, shifts[0], 0)
        return S.Clone.apply(input) if out is flat else out.reshape(input.shape)
    else:
        if len(shifts) != len(dims):
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
        if input.ndim == 0:
            raise IndexError(f"Dimension specified as {dims[0]} but tensor has no dimensions")
        out = input
        for s, d in zip(shifts, dims):
            out = _roll1(out, s, _dim(d, input.ndim))
    return S.Clone.apply(out) if out is input else out


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first towards the second."""
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    n = input.ndim
    if n < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {n}")
    if dims[0] == dims[1] or abs(dims[0] - dims[1]) == n:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}")
    d0, d1 = _dim(dims[0], n), _dim(dims[1], n)
    k = k % 4
    if k == 1:
        return S.transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return S.transpose(flip(input, (d0,)), d0, d1)
    return S.Clone.apply(input)


def _sizes(sizes, op: str) -> tuple:
    if not sizes:
        raise TypeError(f'{op}() missing 1 required positional arguments: "repeats"')
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    return tuple(int(n) for n in sizes)


def repeat(input: Tensor, *sizes) -> Tensor:
    """Tile input ``sizes[i]`` times along each dim (``sizes`` may add leading dims)."""
    sizes = _sizes(sizes, "repeat")
    if len(sizes) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    shape = (1,) * (len(sizes) - input.ndim) + tuple(input.shape)
    out_shape = [r * n for r, n in zip(sizes, shape)]
    if any(r < 0 for r in sizes):
        bad = next(n for n in out_shape if n < 0) if any(n < 0 for n in out_shape) else min(sizes)
        raise RuntimeError(f"Trying to create tensor with negative dimension {bad}: {out_shape}")
    # (1, n) per dim, expanded to (r, n) and copied once (a copy even where a view would do, as PyTorch).
    spread = S.reshape(input, tuple(v for n in shape for v in (1, n)))
    wide = S.expand(spread, tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
    return S.reshape(S.Clone.apply(wide), tuple(out_shape))


def tile(input: Tensor, dims) -> Tensor:
    """``repeat`` with ``dims`` padded with leading 1s to input's number of dims."""
    dims = _ints(dims, "dims", "tile")
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


def repeat_interleave(input: Tensor, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """Repeat each element (or slice along ``dim``) ``repeats`` times, in place of it. With a
    tensor alone: the indices 0, 1, ... each repeated as often as that tensor says."""
    if repeats is None:  # repeat_interleave(repeats): the repeated arange
        reps = _repeat_counts(input, None, output_size)

        return tensor(np.repeat(np.arange(len(reps)), reps), dtype=input.dtype, device=input.device)
    if input.ndim == 0 and dim is not None:
        raise IndexError(f"Dimension out of range (expected to be in range of [-1, 0], but got {dim})")
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else _dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(repeats, TensorCore) and repeats.numel() != 1 or isinstance(repeats, TensorCore) and repeats.ndim > 1:
        reps = _repeat_counts(repeats, n, output_size)

        return index_select(x, d, tensor(np.repeat(np.arange(n), reps), device=x.device))
    if isinstance(repeats, TensorCore):
        _repeat_counts(repeats, None, None)
    r = int(repeats)
    if r < 0:
        raise RuntimeError("Repeats must be non-negative")
    if output_size is not None and output_size != n * r:
        raise RuntimeError(f"repeat_interleave: Invalid output_size, expected {n * r} but got {output_size}")
    shape = list(x.shape)
    wide = S.expand(S.unsqueeze(x, d + 1), tuple(shape[: d + 1] + [r] + shape[d + 1 :]))
    shape[d] = n * r
    return S.reshape(S.Clone.apply(wide), tuple(shape))


def _repeat_counts(repeats: Tensor, n, output_size) -> list:
    """The repeat counts (read on the host: the output's size depends on them), checked."""
    if repeats.dtype.is_floating_point or repeats.dtype is D.bool_:
        raise NotImplementedError(f"\"repeat_interleave\" not implemented for '{TORCH_NAMES[repeats.dtype.name]}'")
    if repeats.ndim > 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    reps = [int(v) for v in np.asarray(repeats.detach().numpy()).reshape(-1)]
    if n is not None and len(reps) != n:
        raise RuntimeError(
            f"repeats must have the same size as input along dim, but got repeats.size(0) = "
            f"{len(reps)} and input.size(0) = {n}"
        )
    if any(v < 0 for v in reps):
        raise RuntimeError("repeats can not be negative")
    if output_size is not None and output_size != sum(reps):
        raise RuntimeError("allocated size does not match required size")
    return reps


def movedim(input: Tensor, source, destination) -> Tensor:
    """A view with the dims ``source`` moved to the positions ``destination``, the others in order."""
    src, dst = _ints(source, "source", "movedim"), _ints(destination, "destination", "movedim")
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
            f"contain the same number of dims as destination ({list(dst)} dims)"
        )
    n = input.ndim
    s = tuple(_dim(d, n) for d in src)
    t = tuple(_dim(d, n) for d in dst)
    for name, dims, given in (("source", s, src), ("destination", t, dst)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({list(given)})")
    if n == 0:
        return S.permute(input, ())
    order = [-1] * n
    for a, b in zip(s, t):
        order[b] = a
    rest = iter(d for d in range(n) if d not in s)
    order = [next(rest) if o == -1 else o for o in order]
    return S.permute(input, tuple(order))


moveaxis = movedim


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """``transpose(input, axis0, axis1)``."""
    return S.transpose(input, axis0, axis1)


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """``transpose(input, dim0, dim1)``."""
    return S.transpose(input, dim0, dim1)


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (for bools: !=), after concatenating
    ``prepend`` and ``append`` along that dim."""
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    for extra in (prepend, append):
        if extra is not None and (not isinstance(extra, TensorCore) or extra.ndim != input.ndim):
            raise RuntimeError("diff expects prepend or append to be the same dimension as input")
    d = _dim(dim, input.ndim)
    if n == 0:
        return S.Clone.apply(input)
    x = input
    if prepend is not None or append is not None:
        x = S.cat([t for t in (prepend, input, append) if t is not None], d)
    for _ in range(min(n, x.shape[d])):
        length = x.shape[d] - 1
        a, b = S.narrow(x, d, 0, length), S.narrow(x, d, 1, length)
        x = a.logical_xor(b) if x.dtype is D.bool_ else b - a
    return x


def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``narrow`` as a new (contiguous) tensor."""
    return S.Clone.apply(S.narrow(input, dim, start, length))
