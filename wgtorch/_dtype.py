"""dtypes and PyTorch's type-promotion rules.

A `dtype` names an element type once for every backend: the NumPy dtype used on "cpu" and
"cuda", and the WGSL type used for storage on "wgpu" where the adapter lacks shader-int64 (``wgsl``;
int64's is then i32, values range-checked when uploaded; each wgpu backend resolves its own storage
types, ``WgpuBackend.wgsl``, and stores int64 as i64 where the adapter has shader-int64). float64
is WGSL's f64, which only adapters with the ``shader-f64`` feature have (wgpu-native on
Vulkan/DX12; not browsers or Metal): elsewhere the wgpu backend refuses it with an error naming
the missing feature.

bfloat16 is stored in 16 bits on "cpu" and "cuda" through ``ml_dtypes.bfloat16`` (NumPy has no
bfloat16 of its own); ops compute in float32 and round to nearest even on store, as PyTorch's CPU
kernels do. WGSL has no bf16 type: wgpu refuses it.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

_BF16_NP = np.dtype(ml_dtypes.bfloat16)


class dtype:
    """An element type, like ``torch.dtype``. Compare with ``is`` or ``==``."""

    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_signed", "wgsl", "_rank", "category")

    def __init__(self, name: str, np_dtype, wgsl: str | None, rank: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.itemsize = self.np.itemsize
        # ml_dtypes' bfloat16 is NumPy kind "V" (a user type) but a float for every other purpose.
        self.is_floating_point = self.np.kind == "f" or self.np == _BF16_NP
        self.is_signed = self.is_floating_point or self.np.kind == "i"
        self.wgsl = wgsl  # storage type on wgpu; None where WGSL cannot store it
        self._rank = rank  # order within a category, for promotion
        # 0 bool, 1 integer, 2 floating point: promotion never goes down a category.
        self.category = 2 if self.is_floating_point else 0 if name == "bool" else 1

    def __repr__(self) -> str:
        return f"wgtorch.{self.name}"

    def __reduce__(self):
        return self.name


bool_ = dtype("bool", np.bool_, "u32", 0)
uint8 = dtype("uint8", np.uint8, None, 1)
int32 = dtype("int32", np.int32, "i32", 3)
int64 = dtype("int64", np.int64, "i32", 4)
float16 = dtype("float16", np.float16, "f16", 5)
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, None, 5)  # same rank as float16: together they give float32
float32 = dtype("float32", np.float32, "f32", 6)
float64 = dtype("float64", np.float64, "f64", 7)  # wgpu: only where the adapter has shader-f64

ALL = (bool_, uint8, int32, int64, float16, bfloat16, float32, float64)
#: The 16-bit floats, which compute in float32 and round once on store.
HALVES = (float16, bfloat16)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update(
    {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32, "bool_": bool_}
)

_default_float = float32


def int64_is_narrow(x) -> bool:
    """Whether tensor ``x``'s device (or ``x``, a backend) stores int64 in 32 bits (wgpu without
    shader-int64), so int64 arithmetic there wraps past 2**31."""
    return getattr(getattr(x, "_be", x), "int64_mode", "native") == "int32-storage"


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(d: dtype) -> None:
    global _default_float
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point types are supported, got {d}")
    _default_float = d


def to_dtype(d) -> dtype:
    """Accept a wgtorch dtype, a NumPy dtype, a Python type or a name."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return _default_float
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    try:
        return _BY_NP[np.dtype(d)]
    except (TypeError, KeyError):
        raise TypeError(f"unsupported dtype {d!r}; wgtorch supports {[x.name for x in ALL]}") from None


def from_numpy_dtype(d: np.dtype) -> dtype:
    try:
        return _BY_NP[np.dtype(d)]
    except KeyError:
        raise TypeError(f"can't convert NumPy array of dtype {d}; supported: bool, uint8, int32, "
                        "int64, float16, bfloat16, float32, float64") from None


def scalar_dtype(x) -> dtype:
    """The dtype PyTorch gives a Python scalar when it becomes a tensor."""
    if isinstance(x, (bool, np.bool_)):
        return bool_
    if isinstance(x, (int, np.integer)):
        return int64
    if isinstance(x, (float, np.floating)):
        return _default_float
    raise TypeError(f"expected a number, got {type(x).__name__}")


def _higher(a: dtype | None, b: dtype) -> dtype:
    if a is None:
        return b
    if a.category != b.category:
        return a if a.category > b.category else b
    if a._rank == b._rank and a is not b:  # float16 with bfloat16: neither holds the other
        return float32
    return a if a._rank >= b._rank else b


def result_type(*operands) -> dtype:
    """PyTorch's promotion: tensors with dimensions outrank 0-d tensors, which outrank Python
    scalars, except that a lower-ranked operand of a higher category (float over int over bool)
    lifts the result to that category's default (a float scalar makes an int tensor float32)."""
    dims = zero_dim = scalars = None
    for x in operands:
        d = getattr(x, "dtype", None)
        if isinstance(d, dtype):
            if x.ndim:
                dims = _higher(dims, d)
            else:
                zero_dim = _higher(zero_dim, d)
        else:
            scalars = _higher(scalars, scalar_dtype(x))
    result = dims
    for group in (zero_dim, scalars):
        if group is None:
            continue
        if result is None:
            result = group
        elif group.category > result.category:
            # A scalar float lifts to the default float; a 0-d tensor keeps its own type.
            result = group if group is zero_dim else (_default_float if group.category == 2 else group)
    return result
