"""The BLAS-style fused ops: ``addmm``, ``addmv``, ``addr``, ``baddbmm``, ``addbmm``, ``addcmul``,
``addcdiv`` (``beta * input + alpha * product``), composed from `linalg.matmul` and elementwise ops
so that they run on every device and autograd follows them. As in PyTorch, ``beta=0`` ignores
``input`` (NaN and inf in it do not propagate), and integer tensors take integer alpha/beta only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _dtype as D
from .._broadcast import broadcast_shapes
from .._creation import zeros
from .._tensor import TensorCore
from ..autograd.function import Function
from .blas_epilogue import AddmmEpilogue, fits
from .linalg import matmul
from .registry import TORCH_NAMES
from .shape import apply_inplace

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _name(t: Tensor) -> str:
    return TORCH_NAMES[t.dtype.name]


def _check_scalars(input: Tensor, beta, alpha) -> None:
    if not input.dtype.is_floating_point:
        for label, v in (("beta", beta), ("alpha", alpha)):
            if isinstance(v, float):
                raise RuntimeError(f"For integral input tensors, argument {label} must not be a floating point number.")
    if input.dtype is D.bool_:
        for label, v in (("beta", beta), ("alpha", alpha)):
            if v not in (0, 1, True, False):
                raise RuntimeError(f"Boolean {label} only supported for Boolean results.")


def _combine(input: Tensor, product: Tensor, beta, alpha, fn: str) -> Tensor:
    """beta * input + alpha * product, with input broadcast to product's shape (not the reverse)."""

    if input.dtype is not product.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {_name(input)} and {_name(product)}")
    if broadcast_shapes([tuple(input.shape), tuple(product.shape)]) != tuple(product.shape):
        raise RuntimeError(
            f"{fn}: the expanded size of input {list(input.shape)} must match the result's size {list(product.shape)}"
        )
    _check_scalars(input, beta, alpha)
    if input.dtype is D.bool_:  # PyTorch: logical or / and for bool
        scaled = product if alpha else product.logical_and(False)
        out = scaled.logical_or(input) if beta else scaled
        return out.expand(product.shape) if tuple(out.shape) != tuple(product.shape) else out
    scaled = product if alpha == 1 else product * alpha
    if beta == 0:
        return _IgnoreInput.apply(scaled, input) if input.requires_grad else scaled
    return scaled + (input if beta == 1 else input * beta)


class _IgnoreInput(Function):
    """beta=0: the result does not read input (NaN in it stays out), but input gets PyTorch's zero
    gradient rather than none."""

    @staticmethod
    def forward(ctx, out, input):
        ctx.shape, ctx.dtype, ctx.device = input.shape, input.dtype, input.device
        return out.clone()

    @staticmethod
    def backward(ctx, g):
        return g, zeros(ctx.shape, dtype=ctx.dtype, device=ctx.device)


def _same_dtype(a: Tensor, b: Tensor, what: str) -> None:
    if a.dtype is not b.dtype:
        raise RuntimeError(f"{what} must have the same dtype, but got {_name(a)} and {_name(b)}")


def _mm(a: Tensor, b: Tensor) -> Tensor:
    if a.dtype is D.bool_:  # PyTorch's bool matmul: any(a_ik and b_kj)
        return matmul(a.float(), b.float()) > 0
    return matmul(a, b)


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2); input broadcasts to (n, p)."""
    for name, m in (("mat1", mat1), ("mat2", mat2)):
        if m.ndim != 2:
            raise RuntimeError(f"{name} must be a matrix, got {m.ndim}-D tensor")
    _same_dtype(mat1, mat2, "mat1 and mat2")
    if fits(input, mat1, mat2, beta):  # one matmul whose store adds beta * input (blas_epilogue.py)
        _check_scalars(input, beta, alpha)
        return AddmmEpilogue.apply(input, mat1, mat2, beta, alpha)
    return _combine(input, _mm(mat1, mat2), beta, alpha, "addmm")


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat @ vec)."""
    if mat.ndim != 2 or vec.ndim != 1 or input.ndim > 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {mat.ndim}, {vec.ndim}")
    _same_dtype(mat, vec, "mat and vec")
    if mat.shape[1] != vec.shape[0]:
        raise RuntimeError(
            f"size mismatch, got input ({input.shape[0] if input.ndim else 1}), mat "
            f"({mat.shape[0]}x{mat.shape[1]}), vec ({vec.shape[0]})"
        )
    return _combine(input, _mm(mat, vec.unsqueeze(1)).squeeze(1), beta, alpha, "addmv")


def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * outer(vec1, vec2)."""
    for name, v in (("vec1", vec1), ("vec2", vec2)):
        if v.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {name}, but got {v.ndim}-D")
    _same_dtype(vec1, vec2, "vec1 and vec2")
    outer = (
        vec1.unsqueeze(1).logical_and(vec2.unsqueeze(0))
        if vec1.dtype is D.bool_
        else vec1.unsqueeze(1) * vec2.unsqueeze(0)
    )
    return _combine(input, outer, beta, alpha, "addr")


def _check_batches(b1: Tensor, b2: Tensor) -> None:
    for name, b in (("batch1", b1), ("batch2", b2)):
        if b.ndim != 3:
            raise RuntimeError(f"{name} must be a 3D tensor, got {b.ndim}-D")
    if b1.shape[0] != b2.shape[0]:
        raise RuntimeError(f"batch1 and batch2 must have same number of batches, got {b1.shape[0]} and {b2.shape[0]}")
    if b1.shape[2] != b2.shape[1]:
        raise RuntimeError(
            f"Incompatible matrix sizes for bmm ({b1.shape[1]}x{b1.shape[2]} and {b2.shape[1]}x{b2.shape[2]})"
        )
    _same_dtype(b1, b2, "batch1 and batch2")


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (batch1 @ batch2), batch by batch."""
    _check_batches(batch1, batch2)
    return _combine(input, _mm(batch1, batch2), beta, alpha, "baddbmm")


def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * sum over the batch of batch1[i] @ batch2[i]."""
    _check_batches(batch1, batch2)
    b, n, m = batch1.shape
    p = batch2.shape[2]
    # the sum over the batch is one (n, b*m) @ (b*m, p) product
    a2 = batch1.permute(1, 0, 2).reshape(n, b * m)
    b2 = batch2.reshape(b * m, p)
    if b * m == 0:
        prod = zeros((n, p), dtype=batch1.dtype, device=batch1.device)
    else:
        prod = _mm(a2, b2)
    return _combine(input, prod, beta, alpha, "addbmm")


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """input + value * tensor1 * tensor2 (broadcast together)."""
    value = _value(input, tensor1, tensor2, value)
    prod = tensor1 * tensor2
    return input + (prod if value == 1 else prod * value)


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """input + value * tensor1 / tensor2 (broadcast together; true division)."""
    if not any(t.dtype.is_floating_point for t in (tensor1, tensor2) if isinstance(t, TensorCore)):
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future release addcdiv "
            "will perform a true division of tensor1 and tensor2. The historic addcdiv behavior can "
            "be implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for "
            "integer inputs and as (input + value * tensor1 / tensor2) for float inputs. The future "
            "addcdiv behavior is just the latter implementation: (input + value * tensor1 / "
            "tensor2), for all dtypes."
        )
    value = _value(input, tensor1, tensor2, value)
    quot = tensor1 / tensor2
    return input + (quot if value == 1 else quot * value)


def _value(input, t1, t2, value):
    """PyTorch casts value to the result's type: an integer result truncates a float value."""
    if not D.result_type(input, t1, t2).is_floating_point and isinstance(value, float):
        return int(value)
    return value


def _inplace(fn):
    def method(self, *args, **kwargs):
        return apply_inplace(self, fn, *args, **kwargs)

    method.__name__ = f"{fn.__name__}_"
    method.__doc__ = f"In-place `{fn.__name__}`."
    return method


_OPS = (addbmm, addcdiv, addcmul, addmm, addmv, addr, baddbmm)
#: Tensor methods (bound in `wgtorch._tensor_methods.misc`): each op and its in-place variant
TENSOR_METHODS = {**{f.__name__: f for f in _OPS}, **{f"{f.__name__}_": _inplace(f) for f in _OPS}}

__all__ = ["addbmm", "addcdiv", "addcmul", "addmm", "addmv", "addr", "baddbmm"]
