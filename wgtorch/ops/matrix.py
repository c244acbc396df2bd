"""Matrix-shaped composites: tril/triu (+ indices), diag, diag_embed, trace, outer, cross, kron,
block_diag, meshgrid, cartesian_prod, fill_diagonal_. Built from where, diagonal views, cat,
reshape/expand and elementwise ops, so autograd comes with them (diag_embed has its own
Function: a write into a diagonal view of zeros, whose backward is that view)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from .. import _dtype as D
from .._broadcast import broadcast_shapes
from .._creation import arange, tensor, zeros
from .._tensor import TensorCore, _dim, _wrap
from ..autograd.function import Function
from ..autograd.grad_mode import state
from . import shape as S
from . import strided as _strided
from .fill import fill_value as scalar
from .index import select
from .pointwise import where
from .registry import TORCH_NAMES
from .shape import apply_inplace
from .strided import Diagonal

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _host_tensor(a: np.ndarray, like: Tensor, dt=None) -> Tensor:
    return tensor(a, dtype=dt, device=like.device)


def _zero(x: Tensor):
    return False if x.dtype is D.bool_ else 0


def _triangle(x: Tensor, k: int, lower: bool, name: str) -> Tensor:
    if not isinstance(x, TensorCore):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if x.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")

    m, n = x.shape[-2], x.shape[-1]
    # The mask is computed on the device (col - row against k): nothing of size m * n is uploaded.
    above = S.reshape(arange(n, device=x.device), (1, n)) - S.reshape(arange(m, device=x.device), (m, 1))
    keep = above <= k if lower else above >= k
    return where(keep, x, _zero(x))  # where, not a product: NaN/Inf outside become 0


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle (on and below the ``diagonal``-th diagonal) of each matrix in input; 0 elsewhere."""
    return _triangle(input, int(diagonal), True, "tril")


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle (on and above the ``diagonal``-th diagonal) of each matrix in input; 0 elsewhere."""
    return _triangle(input, int(diagonal), False, "triu")


def _indices(name: str, row: int, col: int, offset: int, dtype, device, lower: bool) -> Tensor:
    dt = D.int64 if dtype is None else D.to_dtype(dtype)
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    if dt.is_floating_point or dt is D.bool_:
        raise NotImplementedError(f"\"{name}\" not implemented for '{TORCH_NAMES[dt.name]}'")
    r, c = np.tril_indices(row, offset, col) if lower else np.triu_indices(row, offset, col)
    return tensor(np.stack([r, c]).astype(np.int64).reshape(2, -1), dtype=dt, device=device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """The (2, N) coordinates of the lower triangle of a row x col matrix, row by row."""
    return _indices("tril_indices", row, col, offset, dtype, device, True)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """The (2, N) coordinates of the upper triangle of a row x col matrix, row by row."""
    return _indices("triu_indices", row, col, offset, dtype, device, False)


# -- diagonals -------------------------------------------------------------------------------------
class DiagEmbed(Function):
    @staticmethod
    def forward(ctx, x, shape, offset, dim1, dim2):
        ctx.args = (offset, dim1, dim2)
        out = _wrap(x._be.empty(shape, x.dtype), x._be, x.dtype)
        S.copy_into(out, 0 if x.dtype is not D.bool_ else False)
        S.copy_into(Diagonal.forward(ctx, out, offset, dim1, dim2), x)
        return out

    @staticmethod
    def backward(ctx, g):
        return Diagonal.apply(g, *ctx.args), None, None, None, None


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims dim1, dim2 of the result) whose ``offset``-th diagonal is input's last dim."""
    n = input.ndim + 1
    d1, d2 = _dim(dim1, n), _dim(dim2, n)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    size = input.shape[-1] + abs(offset)
    shape = list(input.shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, size)
    return DiagEmbed.apply(input, tuple(shape), int(offset), d1, d2)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-D input: a square matrix with input on its ``diagonal``-th diagonal; 2-D input: that
    diagonal, as a new 1-D tensor."""
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return S.Clone.apply(_strided.diagonal(input, diagonal))
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a matrix."""
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    if input.dtype is D.bool_:
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    return _strided.diagonal(input).sum()


def fill_diagonal_(self: Tensor, fill_value, wrap: bool = False) -> Tensor:
    """Fill the main diagonal in place (all dims of equal length, or a matrix; ``wrap``: a tall
    matrix restarts its diagonal every ncols + 1 rows)."""

    if self.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    value = fill_value.item() if isinstance(fill_value, TensorCore) else fill_value
    value = scalar(value, self.dtype, "fill_diagonal_", check_float=False)
    shape = tuple(self.shape)
    if not self.numel():
        return self
    if self.ndim == 2 and wrap and shape[0] > shape[1] + 1:
        # A tall matrix's diagonal restarts every ncols + 1 rows: every (ncols + 1)-th element of
        # the row-major order, which is no strided view of a general layout: a mask.
        mask = np.zeros(shape[0] * shape[1], dtype=bool)
        mask[:: shape[1] + 1] = True
        keep = _host_tensor(mask.reshape(shape), self)
        return apply_inplace(self, lambda t: where(keep, value, t))
    n = min(shape)

    def diag(t):  # the diagonal through every dim, as a strided view of t
        return _strided.AsStrided.apply(t, (n,), (sum(t.stride()),), _strided.storage_offset(t))

    if self.requires_grad and state.enabled:
        return apply_inplace(self, lambda t: _strided.ViewScatter.apply(t, t.new_full((n,), value), diag))
    self._check_inplace()
    S.copy_into(diag(self), value)  # straight through a view: no copy of the rest
    return self


# -- products of vectors and blocks ----------------------------------------------------------------
def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product input[i] * vec2[j] of two vectors."""
    for name, v in (("self", input), ("vec2", vec2)):
        if not isinstance(v, TensorCore):
            raise TypeError(
                f"outer(): argument '{'input' if name == 'self' else name}' must be Tensor, not {type(v).__name__}"
            )
        if v.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {v.ndim}-D")
    return S.unsqueeze(input, 1) * S.unsqueeze(vec2, 0)


ger = outer


def cross(input: Tensor, other: Tensor, dim=None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (broadcasting the other dims); without dim,
    along the first dim of size 3 (deprecated, as in PyTorch)."""
    if dim is None:
        warnings.warn(
            "Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass the dim "
            "explicitly or simply use torch.linalg.cross.\nThe default value of dim will change to agree "
            "with that of linalg.cross in a future release.",
            UserWarning,
            stacklevel=2,
        )
        dim = next((i for i, n in enumerate(input.shape) if n == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    if input.dtype is not other.dtype:
        raise RuntimeError(
            f"expected scalar type {TORCH_NAMES[input.dtype.name]} but found {TORCH_NAMES[other.dtype.name]}"
        )
    d = _dim(dim, input.ndim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[d]} and {other.shape[d]}"
        )

    shape = broadcast_shapes([tuple(input.shape), tuple(other.shape)])
    a, b = S.expand(input, shape), S.expand(other, shape)
    a0, a1, a2 = (select(a, d, i) for i in range(3))
    b0, b1, b2 = (select(b, d, i) for i in range(3))
    return S.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: every element of input times a copy of other, laid out in blocks."""
    n = max(input.ndim, other.ndim)
    a_shape = (1,) * (n - input.ndim) + tuple(input.shape)
    b_shape = (1,) * (n - other.ndim) + tuple(other.shape)
    a = S.reshape(input, tuple(v for m in a_shape for v in (m, 1)))
    b = S.reshape(other, tuple(v for m in b_shape for v in (1, m)))
    return S.reshape(a * b, tuple(p * q for p, q in zip(a_shape, b_shape)))


def block_diag(*tensors) -> Tensor:
    """A matrix with the given tensors (0-d, 1-d as one row, or 2-d) as blocks on its diagonal."""

    if not tensors:
        return zeros(1, 0)
    blocks = []
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(
                f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has {t.ndim} dimensions"
            )
        if t.device != tensors[0].device:
            raise RuntimeError(
                f"torch.block_diag: input tensors must all be on the same device. Input 0 is on "
                f"device {tensors[0].device} and input {i} is on device {t.device}."
            )
        blocks.append(t.reshape(1, 1) if t.ndim == 0 else t.reshape(1, -1) if t.ndim == 1 else t)
    dt = D.result_type(*blocks)
    cols = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = b.shape
        parts = [
            zeros(r, left, dtype=dt, device=b.device),
            b.to(dt),
            zeros(r, cols - left - c, dtype=dt, device=b.device),
        ]
        rows.append(S.cat(parts, 1))
        left += c
    return S.cat(rows, 0)


def meshgrid(*tensors, indexing=None) -> tuple:
    """Coordinate grids: the i-th result repeats tensors[i] along every other dim. ``indexing``
    "ij" (matrix) or "xy" (Cartesian: the first two dims swapped); the results are views."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn(
            "torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
            UserWarning,
            stacklevel=2,
        )
        indexing = "ij"
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    for t in tensors:
        if t.dtype is not tensors[0].dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
        if t.device != tensors[0].device:
            raise RuntimeError("meshgrid expects all tensors to have the same device")
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    sizes = [t.numel() for t in tensors]
    pos = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        pos[0], pos[1] = 1, 0
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for t, p in zip(tensors, pos):
        view = [1] * len(tensors)
        view[p] = -1
        out.append(S.expand(S.reshape(t, tuple(view)), tuple(sizes)))
    return tuple(out)


def cartesian_prod(*tensors) -> Tensor:
    """Every combination of one element from each 1-D tensor, as the rows of a matrix (one
    tensor: itself)."""
    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return S.stack([S.flatten(g) for g in grids], 1)
