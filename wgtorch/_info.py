"""``finfo`` and ``iinfo`` (the limits of the floating-point and integer dtypes), and the legacy
tensor types (``torch.FloatTensor`` ...), as PyTorch's."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from . import _dtype as D
from ._creation import empty, tensor
from ._tensor import TensorCore


class finfo:
    """``torch.finfo(dtype)``: bits, eps, max, min, tiny (= smallest_normal), resolution."""

    def __init__(self, type=None):
        dt = D.get_default_dtype() if type is None else D.to_dtype(type)
        if not dt.is_floating_point:
            raise TypeError(f"torch.finfo() requires a floating point input type. Use torch.iinfo to handle "
                            f"'{dt.name}'")
        info = ml_dtypes.finfo(dt.np) if dt is D.bfloat16 else np.finfo(dt.np)  # NumPy has no bfloat16
        self.dtype = dt.name
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -int(info.precision)

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min:e}, max={self.max:e}, eps={self.eps}, "
                f"smallest_normal={self.smallest_normal}, tiny={self.tiny}, dtype={self.dtype})")


class iinfo:
    """``torch.iinfo(dtype)``: bits, max, min."""

    def __init__(self, type):
        dt = D.to_dtype(type)
        if dt is D.bool_:
            raise TypeError("torch.bool is not supported by torch.iinfo")
        if dt.is_floating_point:
            raise TypeError(f"torch.iinfo() requires an integer input type. Use torch.finfo to handle '{dt.name}'")
        info = np.iinfo(dt.np)
        self.dtype = dt.name
        self.bits = int(info.bits)
        self.max = int(info.max)
        self.min = int(info.min)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


class _LegacyType(type):
    """``isinstance(x, torch.FloatTensor)``: a cpu tensor of that dtype, as in PyTorch."""

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, TensorCore) and obj.dtype is cls.dtype and obj.device.type == "cpu"


def _legacy(name: str, dt: D.dtype):
    def new(cls, *args, device=None):
        """``FloatTensor(2, 3)`` (uninitialised), ``FloatTensor([1, 2])`` (data) or ``FloatTensor()``."""

        if len(args) == 1 and not isinstance(args[0], int):
            return tensor(args[0], dtype=dt, device=device)
        return empty(*args or (0,), dtype=dt, device=device)

    doc = f"The legacy constructor of {dt.name} tensors."
    return _LegacyType(name, (), {"__new__": new, "dtype": dt, "__doc__": doc})


FloatTensor = _legacy("FloatTensor", D.float32)
DoubleTensor = _legacy("DoubleTensor", D.float64)
HalfTensor = _legacy("HalfTensor", D.float16)
BFloat16Tensor = _legacy("BFloat16Tensor", D.bfloat16)
LongTensor = _legacy("LongTensor", D.int64)
IntTensor = _legacy("IntTensor", D.int32)
BoolTensor = _legacy("BoolTensor", D.bool_)
ByteTensor = _legacy("ByteTensor", D.uint8)


class memory_format:
    """``torch.contiguous_format`` and friends: accepted where PyTorch takes them; wgtorch's
    tensors are laid out row-major (views may be strided)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
