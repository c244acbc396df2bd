"""``div`` with PyTorch's ``rounding_mode`` (None, "trunc", "floor"), composed from the registry's
div, floor_divide and trunc so autograd and every backend come with them."""

from __future__ import annotations

from .._dtype import HALVES
from .._tensor import TensorCore
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from .pointwise import dtypes_for, pointwise


class _FloorDivide(Function):
    """floor_divide with zero gradients: PyTorch differentiates div(..., rounding_mode="floor"),
    a step function, though it refuses floor_divide itself."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape if hasattr(b, "shape") else None)
        with no_grad():
            return pointwise("floor_divide", a, b)

    @staticmethod
    def backward(ctx, g):
        return tuple(None if shape is None else g.new_zeros(shape) for shape in ctx.shapes)


def div(input, other, *, rounding_mode=None):
    """input / other; ``rounding_mode="trunc"`` rounds the quotient toward zero, ``"floor"`` down
    (integer inputs then keep an integer dtype, as in PyTorch)."""
    if rounding_mode is None:
        return pointwise("div", input, other)
    if rounding_mode == "floor":
        return _FloorDivide.apply(input, other)
    if rounding_mode == "trunc":
        if input.dtype.is_floating_point or (not isinstance(other, bool) and isinstance(other, float)) or (
                hasattr(other, "dtype") and other.dtype.is_floating_point):
            if input.dtype in HALVES:  # PyTorch truncates the float32 quotient, then rounds it once
                q = pointwise("div", input.float(), other.float() if isinstance(other, TensorCore) else other)
                return q.trunc().to(dtypes_for("div", (input, other))[1])
            return pointwise("div", input, other).trunc()
        q = pointwise("floor_divide", input, other)
        # floor and trunc differ by one where the division is inexact and the signs differ
        inexact = pointwise("remainder", input, other) != 0
        return q + (inexact & ((input < 0) != (other < 0))).to(q.dtype)
    raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                       f"'{rounding_mode}'")
