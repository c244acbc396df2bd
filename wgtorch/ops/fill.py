"""Python fill values as elements of a dtype (PyTorch's Scalar conversion) and ``masked_fill``.

Below the indexing modules (shape, index, index_put, scatter, matrix use them). The fill value is
converted to ``x``'s own dtype first with PyTorch's checks ("value cannot be converted to type int
without overflow"; a float fill truncates toward zero into an integer tensor; anything nonzero is
True in a bool tensor), and ``where`` then computes over operands of that dtype.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import _dtype as D
from .._tensor import TensorCore
from .pointwise import where

if TYPE_CHECKING:
    from .._tensor_class import Tensor

# PyTorch's C++ type names, which its conversion errors use.
_C_NAMES = {
    D.int64: "int64_t",
    D.int32: "int",
    D.uint8: "unsigned char",
    D.float16: "c10::Half",
    D.float32: "float",
    D.float64: "double",
    D.bool_: "bool",
}
# PyTorch's legacy type names, which index_put's dtype error uses.
_LEGACY = {
    D.int64: "Long",
    D.int32: "Int",
    D.uint8: "Byte",
    D.float16: "Half",
    D.float32: "Float",
    D.float64: "Double",
    D.bool_: "Bool",
}


def _overflow(dt) -> RuntimeError:
    return RuntimeError(f"value cannot be converted to type {_C_NAMES[dt]} without overflow")


def fill_value(value, dt, op: str, check_float: bool = True):
    """The Python number ``value`` as an element of ``dt``, converted as PyTorch converts a
    Scalar: floats truncate into integer types, any nonzero value is True, and a value outside
    the type's range raises RuntimeError. ``check_float=False`` lets a float overflow to inf
    (as ``x[idx] = 1e6`` does for float16)."""
    if isinstance(value, (complex, np.complexfloating)):
        if value.imag:
            raise _overflow(dt)
        value = value.real
    if not isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        raise TypeError(f"{op}(): the value must be a number or a 0-dim tensor, got {type(value).__name__}")
    if dt is D.bool_:
        return bool(value)
    if not dt.is_floating_point:
        info = np.iinfo(dt.np)
        if isinstance(value, (float, np.floating)):
            v = float(value)
            if not math.isfinite(v) or not info.min <= v <= info.max:
                raise _overflow(dt)
            return int(v)  # int() of a float truncates toward zero
        v = int(value)
        if not info.min <= v <= info.max:
            if dt is D.int64:
                raise OverflowError(f"int too big to convert: {v} does not fit in int64")
            raise _overflow(dt)
        return v
    v = float(value)
    if check_float and math.isfinite(v) and abs(v) > float(np.finfo(dt.np).max):
        raise _overflow(dt)
    return v


def _fill_operand(x: Tensor, value, op: str):
    """A 0-d fill value (number or 0-d tensor) as ``where``'s operand: a Python number of x's
    dtype's kind (so ``where`` keeps x's dtype and passes it as a scalar), or a 0-d tensor of x's
    dtype on x's device where the value is a device tensor or needs a gradient."""
    if isinstance(value, TensorCore):
        if value.ndim:
            raise RuntimeError(
                f"{op} only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s)."
            )
        if value.device == x.device and x.device.type != "cpu":
            return value.to(x.dtype)  # no round trip to check the range (as on CUDA)
        checked = fill_value(value.item(), x.dtype, op)
        if value.requires_grad:  # the gradient reaches the value through the cast
            return value.to(x.device).to(x.dtype)
        return checked
    return fill_value(value, x.dtype, op)


def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    """``value`` where ``mask`` (broadcast) is True, ``input`` elsewhere."""

    if not isinstance(mask, TensorCore):
        raise TypeError(f"masked_fill(): argument 'mask' must be Tensor, not {type(mask).__name__}")
    if mask.dtype is not D.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype.name}")
    return where(mask, _fill_operand(x, value, "masked_fill_"), x)
