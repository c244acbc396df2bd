"""matmul, mm, bmm, dot: PyTorch's shape rules around one (B, M, K) @ (B, K, N) backend op."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .._broadcast import broadcast_shapes
from .._creation import zeros
from .._tensor import TensorCore, _wrap
from ..amp.autocast_mode import autocast_op
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from .registry import TORCH_NAMES

if TYPE_CHECKING:
    from .._tensor_class import Tensor


class BatchedMatmul(Function):
    """(M, K) @ (K, N) or (B, M, K) @ (B, K, N); operands may be strided views."""

    @staticmethod
    def forward(ctx, a, b):
        if a._be is not b._be:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two "
                               f"devices, {a.device} and {b.device}!")
        if a.dtype is not b.dtype:
            raise _dtype_error(a, b)
        ctx.save_for_backward(a, b)
        return _wrap(a._be.matmul(a._data, b._data), a._be, a.dtype)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g @ b.transpose(-1, -2) if ctx.needs_input_grad[0] else None
        gb = a.transpose(-1, -2) @ g if ctx.needs_input_grad[1] else None
        return ga, gb


def _shape_error(a: Tensor, b: Tensor):
    fmt = "x".join
    return RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({fmt(map(str, a.shape))} and "
                        f"{fmt(map(str, b.shape))})")


@autocast_op
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """The matrix product, with NumPy's rules for 1-D operands and broadcast batch dims."""
    if not isinstance(a, TensorCore) or not isinstance(b, TensorCore):
        raise TypeError("matmul(): arguments must be tensors")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and "
                           f"{b.ndim}D")
    if a.device != b.device:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two "
                           f"devices, {a.device} and {b.device}!")
    # PyTorch's matmul does not promote; but its bmm path checks dtypes only for a product that has
    # work to do, so an empty one of mixed dtypes is decided below, where the path is known.
    mixed = a.dtype is not b.dtype
    if mixed and (a.ndim < 3 and b.ndim < 3 or _torch_folds(a, b)):
        raise _dtype_error(a, b)
    if a.ndim == 1 and b.ndim == 1:
        if a.shape[0] != b.shape[0]:
            raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src "
                               f"[{b.shape[0]}] to have the same number of elements, but got "
                               f"{a.shape[0]} and {b.shape[0]} elements respectively")
        return BatchedMatmul.apply(a.reshape(1, -1), b.reshape(-1, 1)).reshape(())
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
    if squeeze_a:
        a = a.reshape(1, -1)
    if squeeze_b:
        b = b.reshape(-1, 1)
    if a.shape[-1] != b.shape[-2]:
        raise _shape_error(a, b)
    if a.ndim == 2 and b.ndim == 2:
        out = BatchedMatmul.apply(a, b)
    elif b.ndim == 2 and (folded := _fold_batch(a)) is not None:
        # (..., M, K) @ (K, N) as one (batch * M, K) @ (K, N) product, as PyTorch does: one big
        # matmul, and b's gradient needs no reduction over the batch.
        out = BatchedMatmul.apply(folded, b).reshape(a.shape[:-1] + (b.shape[-1],))
    else:
        try:
            batch = broadcast_shapes([a.shape[:-2], b.shape[:-2]])
        except RuntimeError:
            raise RuntimeError(f"matmul: batch dimensions {list(a.shape[:-2])} and {list(b.shape[:-2])} "
                               "cannot be broadcast together") from None
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        if mixed:
            if math.prod(batch) * m * n and k:
                raise _dtype_error(a, b)
            if not b.dtype.is_floating_point and is_grad_enabled() and (a.requires_grad or b.requires_grad):
                raise RuntimeError(f"Autograd not support dtype: {TORCH_NAMES[b.dtype.name]}")
            out = _EmptyMixedMatmul.apply(a, b, batch + (m, n))
            return out.squeeze(-2) if squeeze_a else out.squeeze(-1) if squeeze_b else out
        count = math.prod(batch)
        a3 = a.expand(batch + (m, k)).reshape(count, m, k)
        b3 = b.expand(batch + (k, n)).reshape(count, k, n)
        out = BatchedMatmul.apply(a3, b3).reshape(batch + (m, n))
    if squeeze_a:
        out = out.squeeze(-2)
    if squeeze_b:
        out = out.squeeze(-1)
    return out


def _dtype_error(a: Tensor, b: Tensor) -> RuntimeError:
    return RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a.dtype.name} != {b.dtype.name}")


def _torch_folds(a: Tensor, b: Tensor) -> bool:
    """Whether PyTorch's matmul folds this product into one mm/mv (whose dtype check always runs)
    instead of taking its bmm path (`should_fold` in ATen's LinearAlgebra.cpp)."""
    t1, other = (a, b) if a.ndim >= b.ndim else (b.transpose(-1, -2), a)
    if not (t1.ndim >= 3 and other.ndim <= 2):
        return False
    if other.requires_grad:
        return True
    if a.ndim == 2:
        return False
    return t1.numel() == 0 or _fold_batch(t1) is not None


class _EmptyMixedMatmul(Function):
    """PyTorch's bmm of mixed dtypes with nothing to multiply (an empty result, or K = 0): zeros
    of the second operand's dtype, zero gradients; an integer result refuses autograd."""

    @staticmethod
    def forward(ctx, a, b, shape):
        ctx.shapes = (a.shape, a.dtype), (b.shape, b.dtype)
        return zeros(shape, dtype=b.dtype, device=b.device)

    @staticmethod
    def backward(ctx, g):
        return (*(zeros(s, dtype=dt, device=g.device) if need else None
                  for (s, dt), need in zip(ctx.shapes, ctx.needs_input_grad)), None)


def _fold_batch(a: Tensor) -> Tensor | None:
    """``a`` (..., M, K) viewed as (prod(...) * M, K) without a copy, or None."""
    shape = (math.prod(a.shape[:-1]), a.shape[-1])
    if a._be.reshape(a._data, shape) is None:
        return None
    return a.reshape(shape)


@autocast_op
def mm(a: Tensor, b: Tensor) -> Tensor:
    """The product of two 2-D matrices."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2D tensors, got {a.ndim}D and {b.ndim}D")
    return matmul(a, b)


@autocast_op
def bmm(a: Tensor, b: Tensor) -> Tensor:
    """The product of two batches of matrices (3-D, same batch size)."""
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm: expected 3D tensors, got {a.ndim}D and {b.ndim}D")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {a.shape[0]} and {b.shape[0]}")
    return matmul(a, b)


@autocast_op
def dot(a: Tensor, b: Tensor) -> Tensor:
    """The dot product of two 1-D tensors."""
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    return matmul(a, b)
