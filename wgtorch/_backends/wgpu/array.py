"""`WgpuArray`: a strided view (shape, strides and offset in elements) of device storage."""

from __future__ import annotations

import math

from ..._dtype import dtype


def contiguous_strides(shape) -> tuple:
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


_new = object.__new__


class WgpuArray:
    __slots__ = ("storage", "buffer", "shape", "strides", "offset", "dtype", "size", "contiguous")

    def __init__(self, storage, shape: tuple, strides: tuple, offset: int, dt: dtype,
                 contiguous: bool | None = None):
        self.storage = storage
        self.buffer = storage.block.buffer  # the (possibly shared) buffer kernels bind
        self.shape = shape
        self.strides = strides
        self.offset = offset  # in elements from the start of that buffer
        self.dtype = dt
        self.size = math.prod(shape)
        self.contiguous = self.is_contiguous() if contiguous is None else contiguous

    @classmethod
    def fresh(cls, storage, shape: tuple, strides: tuple, offset: int, dt: dtype, size: int) -> WgpuArray:
        """A contiguous array over new storage, from values the caller already knows (the
        allocation fast path: no product, no contiguity scan)."""
        a = _new(cls)
        a.storage = storage
        a.buffer = storage.block.buffer
        a.shape = shape
        a.strides = strides
        a.offset = offset
        a.dtype = dt
        a.size = size
        a.contiguous = True
        return a

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def is_contiguous(self) -> bool:
        if self.size == 0:  # nothing to lay out (PyTorch calls every empty tensor contiguous)
            return True
        expected = 1
        for n, s in zip(reversed(self.shape), reversed(self.strides)):
            if n != 1 and s != expected:
                return False
            expected *= max(n, 1)  # as contiguous_strides: a 0-size dim does not zero the strides above it
        return True

    def span(self) -> tuple[int, int]:
        """First and one-past-last element offsets this view touches in its storage."""
        if self.size == 0:
            return self.offset, self.offset
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.strides))
        return self.offset, last + 1

    def view(self, shape, strides, offset) -> WgpuArray:
        return WgpuArray(self.storage, tuple(shape), tuple(strides), offset, self.dtype)

    def __repr__(self) -> str:
        return f"WgpuArray(shape={self.shape}, strides={self.strides}, offset={self.offset}, {self.dtype})"
