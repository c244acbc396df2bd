"""What the Tensor method mixins share: a binary operator's other operand, and in-place variants."""

from __future__ import annotations

from .._creation import tensor
from .._tensor import TensorCore
from ..ops.shape import apply_inplace


def operand(self, other):
    """A binary op's other operand: tensors and Python numbers as they are, sequences as tensors
    on self's device, anything else NotImplemented (so Python tries the reflected operator)."""
    if isinstance(other, (TensorCore, int, float, bool)):
        return other
    try:
        return tensor(other, device=self.device)
    except TypeError:
        return NotImplemented


def inplace(compute, name: str | None = None):
    """``x.<op>_(...)``: compute ``compute(x, ...)``, then write it through x's view."""

    def method(self, *args, **kwargs):
        return apply_inplace(self, compute, *args, **kwargs)

    name = name or f"{compute.__name__}_"
    method.__name__, method.__qualname__ = name, f"Tensor.{name}"
    method.__wrapped__ = compute  # so inspect.signature (help(), the stub) shows compute's parameters
    method.__doc__ = f"In-place version of :meth:`{name[:-1]}`."
    return method
