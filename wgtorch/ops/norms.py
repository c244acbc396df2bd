"""Norms and distances: ``linalg.vector_norm`` (one autograd node with PyTorch's gradient,
subgradient 0 at 0), ``linalg.matrix_norm`` ('fro', inf, -inf, 1, -1), ``linalg.norm``,
``torch.norm``, ``linalg.cross``, ``linalg.vecdot``, ``cdist`` and ``renorm``, composed from
reductions and elementwise ops (so they run on every device).

Not implemented: matrix norms that need singular values (ord 2, -2, 'nuc'), which need an SVD;
they raise NotImplementedError naming the order. float16 norms accumulate in float32."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING

from .. import _dtype as D
from .._broadcast import broadcast_shapes
from .._creation import tensor
from .._tensor import _dim
from ..autograd.function import Function
from . import reduce as R
from .pointwise import where
from .registry import TORCH_NAMES

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _name(dt: D.dtype) -> str:
    return TORCH_NAMES[dt.name]


def _fmt(ord) -> str:
    return f"{ord:g}" if isinstance(ord, (int, float)) else str(ord)


def _check_float(x: Tensor, fn: str) -> None:
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{fn}: Expected a floating point or complex tensor as input. Got {_name(x.dtype)}")


def _to_dtype(x: Tensor, dtype, fn: str) -> Tensor:
    """x in ``dtype`` (which may not narrow a floating input, as PyTorch)."""
    if dtype is None:
        return x
    dt = D.to_dtype(dtype)
    if dt.is_floating_point and x.dtype.is_floating_point and dt.itemsize < x.dtype.itemsize:
        raise RuntimeError(
            f"{fn}: the dtype of the input ({_name(x.dtype)}) should be convertible without "
            f"narrowing to the specified dtype ({_name(dt)})"
        )
    return x.to(dt)


class VectorNorm(Function):
    """The ``ord``-norm of x over ``dims``; backward as PyTorch's norm_backward."""

    @staticmethod
    def forward(ctx, x, ord, dims, keepdim, zeros_at_0=False):
        a = x.abs()
        if ord == math.inf:
            y = R.amax(a, dims, keepdim)
        elif ord == -math.inf:
            y = R.amin(a, dims, keepdim)
        elif ord == 0:
            y = R.sum(x != 0, dims, keepdim).to(x.dtype)
        elif ord == 1:
            y = R.sum(a, dims, keepdim)
        elif ord == 2:
            y = R.sum(x * x, dims, keepdim).sqrt()
        else:
            y = R.sum(a.pow(ord), dims, keepdim).pow(1.0 / ord)
        if ctx.needs_input_grad:
            ctx.ord, ctx.dims, ctx.keepdim, ctx.zeros_at_0 = ord, dims, keepdim, zeros_at_0
            ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        p, dims = ctx.ord, ctx.dims
        if not ctx.keepdim and dims and x.ndim:
            shape = [1 if d in dims else n for d, n in enumerate(x.shape)]
            g, y = g.reshape(shape), y.reshape(shape)
        if p == 0:  # (PyTorch: no gradient at all, so .grad stays None; cdist's is zeros)
            return x.new_zeros(x.shape) if ctx.zeros_at_0 else None, None, None, None, None
        if p == 1:
            return x.sign() * g, None, None, None, None
        if p == 2:
            return g * where(y == 0, 0.0, x / y), None, None, None, None
        if math.isinf(p):  # amax/amin of |x|: split evenly between the extremes (NaN counts as one)
            a = x.abs()
            mask = ((a == y) | a.isnan()).to(x.dtype)
            return x.sign() * (g / R.sum(mask, dims, True) * mask), None, None, None, None
        if p < 1:
            scaled = x.sign() * where(x == 0, 0.0, x.abs().pow(p - 1))
            return scaled * g * y.pow(1 - p), None, None, None, None
        scaled = x.sign() * x.abs().pow(p - 1) if p < 2 else x * x.abs().pow(p - 2)
        return scaled * where(y == 0, 0.0, g / y.pow(p - 1)), None, None, None, None


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``(sum |x|**ord)**(1/ord)`` over ``dim`` (an int, a tuple, or all); ord inf/-inf: max/min of
    |x|; ord 0: the number of non-zeros."""
    _check_float(x, "linalg.vector_norm")
    if isinstance(ord, str) or isinstance(ord, bool):
        raise TypeError(f"linalg.vector_norm(): argument 'ord' must be a number, not {type(ord).__name__}")
    x = _to_dtype(x, dtype, "linalg.vector_norm")
    dims = R.reduce_dims(x, dim)
    if ord < 0 or ord == math.inf:
        if (dim is None and not x.numel()) or builtins.any(x.shape[d] == 0 for d in dims):
            raise RuntimeError(
                f"linalg.vector_norm cannot compute the {_fmt(ord)} norm on an empty tensor because "
                "the operation does not have an identity"
            )
    half = x.dtype is D.float16
    y = VectorNorm.apply(x.float() if half else x, float(ord), dims, keepdim)
    return y.to(D.float16) if half else y


def _matrix_dims(A: Tensor, dim, fn: str) -> tuple:
    if A.ndim < 2:
        raise RuntimeError(f"{fn}: The input tensor A must have at least 2 dimensions.")
    if isinstance(dim, int) or len(dim) != 2:
        got = " ".join(str(d) for d in (dim if not isinstance(dim, int) else (dim,)))
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {got}")
    d0, d1 = _dim(dim[0], A.ndim), _dim(dim[1], A.ndim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, {dim[1]})")
    return d0, d1


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """Matrix norm over the two dims ``dim``: 'fro', or ord inf/-inf (max/min absolute row sum),
    1/-1 (max/min absolute column sum). ord 2, -2 and 'nuc' need an SVD: NotImplementedError."""
    _check_float(A, "linalg.matrix_norm")
    d0, d1 = _matrix_dims(A, dim, "linalg.matrix_norm")
    if ord in (2, -2, "nuc"):
        raise NotImplementedError(
            f"linalg.matrix_norm: ord={ord!r} needs singular values (an SVD), which "
            "wgtorch does not implement; use 'fro', inf, -inf, 1 or -1"
        )
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim, dtype=dtype)
    if isinstance(ord, str) or ord not in (math.inf, -math.inf, 1, -1):
        raise RuntimeError(f"linalg.matrix_norm: Order {_fmt(ord)} not supported.")
    A = _to_dtype(A, dtype, "linalg.matrix_norm")
    inner, outer = (d1, d0) if ord in (math.inf, -math.inf) else (d0, d1)
    sums = vector_norm(A, 1, inner, keepdim=True)
    if ord > 0:  # (no rows/columns: 0, as PyTorch; amin of nothing raises there too)
        y = R.amax(sums, outer, keepdim=True) if A.shape[outer] else R.sum(sums, outer, keepdim=True)
    else:
        y = R.amin(sums, outer, keepdim=True)
    return y if keepdim else y.squeeze((d0, d1))


def linalg_norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """`vector_norm` or `matrix_norm` as ``ord`` and ``dim`` say (PyTorch's ``linalg.norm`` rules):
    ord None: the 2-norm (of all elements when dim is None); an int or 1-tuple dim: a vector norm;
    a 2-tuple: a matrix norm; ord given without dim: a 1-D or 2-D input."""
    _check_float(A, "linalg.norm")
    if dim is not None:
        dim = (dim,) if isinstance(dim, int) else tuple(dim)
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(A, "fro", dim, keepdim, dtype=dtype)
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim not in (1, 2):
            raise RuntimeError(
                f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {A.ndim}D."
            )
        dim = tuple(range(A.ndim))
    if len(dim) == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"linalg.vector_norm: Order {ord} not supported.")
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    return matrix_norm(A, ord, dim, keepdim, dtype=dtype)


def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """``torch.norm``: p 'fro' (over at most two dims) or a number is a vector norm over ``dim``;
    'nuc' is a matrix norm (not implemented: needs an SVD)."""
    if dim is not None and not isinstance(dim, int):
        dim = tuple(dim)
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, int) or len(dim) <= 2):
            return vector_norm(input, 2, dim, keepdim, dtype=dtype)
        return matrix_norm(input, p, tuple(range(input.ndim)) if dim is None else dim, keepdim, dtype=dtype)
    return vector_norm(input, 2.0 if p is None else p, dim, keepdim, dtype=dtype)


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the inputs broadcast; same number of dims)."""

    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    d = _dim(dim, input.ndim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[d]} and {other.shape[d]}"
        )
    shape = tuple(broadcast_shapes([tuple(input.shape), tuple(other.shape)]))
    a, b = input.expand(shape), other.expand(shape)
    i1 = tensor([1, 2, 0], device=input.device)
    i2 = tensor([2, 0, 1], device=input.device)
    return a.index_select(d, i1) * b.index_select(d, i2) - a.index_select(d, i2) * b.index_select(d, i1)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """``sum(x * y, dim)`` (the inputs broadcast and have the same dtype)."""
    if x.dtype is not y.dtype:
        raise RuntimeError(
            f"linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
            f"{_name(x.dtype)} and y of type {_name(y.dtype)} instead"
        )
    return R.sum(x * y, dim)


_COMPUTE_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The p-norm distance between each row of x1 (..., P, M) and each row of x2 (..., R, M):
    (..., P, R); batch dims broadcast. Computed directly from the differences (every
    ``compute_mode`` gives that exact form; it holds P * R * M elements at once)."""
    if compute_mode not in _COMPUTE_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    for name, x in (("X1", x1), ("X2", x2)):
        if x.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {x.ndim}D")
        if not x.dtype.is_floating_point:
            raise RuntimeError(f"cdist only supports floating-point dtypes, {name} got: {_name(x.dtype)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    if x1.shape[-1] == 0:  # no columns: every distance is 0 (the max of nothing would raise)
        return diff.sum(-1)
    half = diff.dtype is D.float16  # (accumulated in float32, as vector_norm)
    y = VectorNorm.apply(diff.float() if half else diff, float(p), (diff.ndim - 1,), False, True)
    return y.to(D.float16) if half else y


def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice ``input.select(dim, i)`` whose p-norm exceeds ``maxnorm`` scaled to norm maxnorm."""

    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if input.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} dimensions")
    d = _dim(dim, input.ndim)
    n = vector_norm(input, p, tuple(k for k in range(input.ndim) if k != d), keepdim=True)
    return input * where(n > maxnorm, maxnorm / (n + 1e-7), 1.0)


def _tensor_norm(self, p="fro", dim=None, keepdim=False, dtype=None):
    return norm(self, p, dim, keepdim, dtype)


_tensor_norm.__doc__ = norm.__doc__

FUNCTIONS = {"norm": norm, "cdist": cdist, "renorm": renorm}
METHODS = {"norm": _tensor_norm, "renorm": renorm}
