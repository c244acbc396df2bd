"""`OperatorMethods`: arithmetic with PyTorch's extra arguments (``alpha``, ``rounding_mode``), the
logical/bitwise operators, clamp, and the in-place writes (``fill_``, ``copy_``, ``x += y`` ...).
They come before `GeneratedMethods` in the MRO, so they replace the registry's plain versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _dtype as D
from .._tensor import TensorCore
from ..autograd.grad_mode import state
from ..ops import division as _division
from ..ops import linalg as _linalg
from ..ops import shape as _shape
from ..ops.fill import fill_value, masked_fill
from ..ops.pointwise import pointwise, where
from ._helpers import inplace, operand
from .generated import GeneratedMethods as _G

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _clamp(x, lo, hi):
    """min(max(x, lo), hi) as one op (bounds may be tensors); a missing bound is the dtype's
    extreme, so that it changes nothing."""
    if lo is None and hi is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    floating = x.dtype.is_floating_point or any(
        isinstance(b, float) or (isinstance(b, TensorCore) and b.dtype.is_floating_point) for b in (lo, hi)
    )
    if floating:
        big = float("inf")
    else:  # (int64 is stored as 32-bit on wgpu without shader-int64)
        big = 2**63 - 1 if x.dtype is D.int64 and not D.int64_is_narrow(x) else 2**31 - 1
    return pointwise("clamp", x, -big if lo is None else lo, big if hi is None else hi)


def _logical(op: str, bitwise: str, name: str):
    """&, |, ^: logical on bools, bitwise on integers (floats get the bitwise op's error)."""

    def method(self, other):
        if self.dtype is D.bool_ and (not isinstance(other, TensorCore) or other.dtype is D.bool_):
            return pointwise(op, self, other)
        other = operand(self, other)
        return other if other is NotImplemented else pointwise(bitwise, self, other)

    method.__name__, method.__qualname__ = name, f"Tensor.{name}"
    method.__doc__ = f"``{op}`` on bool tensors, ``{bitwise}`` on integers."
    return method


class OperatorMethods:
    __slots__ = ()

    # -- arithmetic with PyTorch's keyword arguments --
    def add(self, other, *, alpha=1) -> Tensor:
        """input + alpha * other."""
        return pointwise("add", self, other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1) -> Tensor:
        """input - alpha * other."""
        return pointwise("sub", self, other if alpha == 1 else other * alpha)

    subtract = sub
    div = divide = _division.div  # rounding_mode: a composite over the registry's div / floor_divide
    add_ = inplace(add)
    sub_ = subtract_ = inplace(sub)
    div_ = divide_ = inplace(_division.div, "div_")
    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, _G.mul_, div_

    def __matmul__(self, other) -> Tensor:
        """``self @ other``."""
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other) -> Tensor:
        """``other @ self``."""
        return _linalg.matmul(other, self)

    def __pos__(self) -> Tensor:
        """``+self``: self."""
        return self

    __and__ = __rand__ = _logical("logical_and", "bitwise_and", "__and__")
    __or__ = __ror__ = _logical("logical_or", "bitwise_or", "__or__")
    __xor__ = __rxor__ = _logical("logical_xor", "bitwise_xor", "__xor__")

    def __invert__(self) -> Tensor:
        """``~self``: logical not on bools, bitwise not on integers."""
        return pointwise("logical_not", self) if self.dtype is D.bool_ else pointwise("neg", self) - 1

    def clamp(self, min=None, max=None) -> Tensor:
        """Clamps every element into ``[min, max]`` (either bound may be omitted, or a tensor)."""
        return _clamp(self, min, max)

    clip = clamp
    clamp_ = clip_ = inplace(clamp, "clamp_")

    def where(self, condition, other) -> Tensor:
        """``torch.where(condition, self, other)``."""
        return where(condition, self, other)

    # -- in-place writes --
    def _check_inplace(self) -> None:
        """Refuse in-place writes autograd can't follow; count the ones it can (version counter)."""
        self._counter()[0] += 1
        if not (state.enabled and self.requires_grad):
            return
        if self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        base = self._base
        if base is not None and base.requires_grad and base.grad_fn is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
        if base is not None and base.requires_grad:
            # PyTorch rewrites the base's history here (CopySlices); wgtorch refuses rather than
            # give the base a wrong gradient.
            raise RuntimeError(
                "an in-place operation on a view of a tensor that requires grad is not supported "
                "by wgtorch's autograd; use an out-of-place op (e.g. torch.where or torch.cat) "
                "or clone() the view first"
            )

    def masked_fill_(self, mask, value) -> Tensor:
        """Fills the elements where ``mask`` is True with ``value``, in place."""
        return _shape.apply_inplace(self, masked_fill, mask, value)

    def fill_(self, value) -> Tensor:
        """Fills self with ``value``."""
        self._check_inplace()
        value = value.item() if isinstance(value, TensorCore) else value
        if not self.dtype.is_floating_point:
            value = fill_value(value, self.dtype, "fill_", check_float=False)  # NaN into an int raises
        if self.numel():
            _shape.copy_into(self, value)
        return self

    def zero_(self) -> Tensor:
        """Fills self with zeros."""
        return self.fill_(0)

    def copy_(self, src, non_blocking=False) -> Tensor:
        """Copies ``src`` (broadcast, cast to self's dtype, from any device) into self."""
        self._check_inplace()
        _shape.copy_into(self, src)
        return self
