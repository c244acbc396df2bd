"""Small parts of PyTorch's API that programs call: global flags (deterministic algorithms, matmul
precision, thread counts, print options), dtype questions (``result_type``, ``promote_types``,
``can_cast``, ``is_floating_point`` ...) and a few Tensor methods and properties
(``sum_to_size``, ``nbytes``, ``itemsize``, ``is_contiguous(memory_format=)`` ...).
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

from . import _dtype as D
from ._info import channels_last, contiguous_format, memory_format, preserve_format
from ._tensor import TensorCore
from .backends import cuda

if TYPE_CHECKING:
    from ._tensor_class import Tensor

channels_last_3d = memory_format("channels_last_3d")

# -- global flags -----------------------------------------------------------------------------------
_flags = {
    "deterministic": False,
    "warn_only": False,
    "matmul_precision": "highest",
    "threads": None,
    "interop_threads": None,
}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Ask for deterministic algorithms. wgtorch's kernels are deterministic already (no atomics
    in reductions), so this records the flag for `are_deterministic_algorithms_enabled`."""
    if not isinstance(mode, bool):
        raise TypeError(
            f"use_deterministic_algorithms(): argument 'mode' (position 1) must be bool, not {type(mode).__name__}"
        )
    _flags["deterministic"], _flags["warn_only"] = mode, bool(warn_only)


def are_deterministic_algorithms_enabled() -> bool:
    """Whether `use_deterministic_algorithms` turned the flag on."""
    return _flags["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """Whether `use_deterministic_algorithms` was given ``warn_only=True``."""
    return _flags["warn_only"]


def set_float32_matmul_precision(precision: str) -> None:
    """Set the precision of float32 matmuls: "highest", "high" or "medium" (kept; wgtorch's
    float32 matmuls are always full float32). Another value warns and changes nothing, as in PyTorch."""
    if precision not in ("highest", "high", "medium"):
        warnings.warn(
            f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
            "set_float32_matmul_precision call has no effect.",
            UserWarning,
            stacklevel=2,
        )
        return

    _flags["matmul_precision"] = precision
    cuda.matmul.allow_tf32 = precision != "highest"  # PyTorch keeps the two in step


def get_float32_matmul_precision() -> str:
    """The value of `set_float32_matmul_precision` ("highest" by default)."""
    return _flags["matmul_precision"]


def _positive_int(fn: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise RuntimeError(f"{fn} expects an int, but got {type(n).__name__}")
    if n <= 0:
        raise RuntimeError(f"{fn} expects a positive integer")
    return n


def set_num_threads(n: int) -> None:
    """The number of threads for cpu work (kept; NumPy's BLAS sizes its own thread pool)."""
    _flags["threads"] = _positive_int("set_num_threads", n)


def get_num_threads() -> int:
    """The value of `set_num_threads`, else the number of CPUs this process may use."""
    if _flags["threads"] is not None:
        return _flags["threads"]
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_num_interop_threads(n: int) -> None:
    """The number of inter-op threads (kept; wgtorch runs ops in the calling thread)."""
    _flags["interop_threads"] = _positive_int("set_num_interop_threads", n)


def get_num_interop_threads() -> int:
    """The value of `set_num_interop_threads`, else `get_num_threads`."""
    return _flags["interop_threads"] or get_num_threads()


def set_printoptions(
    precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None
) -> None:
    """How tensors print (as ``torch.set_printoptions``): digits after the point, the element count
    above which a tensor is summarised, the items shown at each end when it is, the line width,
    and scientific notation (True, False, or None for the automatic choice). ``profile`` is
    "default", "short" or "full"."""
    from ._format import OPTIONS

    if profile is not None:
        presets = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, float("inf"), 3, 80)}
        if profile not in presets:
            raise ValueError(f"Invalid profile: {profile}; expected 'default', 'short' or 'full'")
        OPTIONS.update(zip(("precision", "threshold", "edgeitems", "linewidth"), presets[profile]))
    for name, value in (
        ("precision", precision),
        ("threshold", threshold),
        ("edgeitems", edgeitems),
        ("linewidth", linewidth),
    ):
        if value is not None:
            OPTIONS[name] = value
    OPTIONS["sci_mode"] = sci_mode


# -- dtypes -----------------------------------------------------------------------------------------
def _tensor_arg(fn: str, x) -> Tensor:
    if not isinstance(x, TensorCore):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}")
    return x


def is_floating_point(input) -> bool:
    """Whether input's dtype is a floating-point type."""
    return _tensor_arg("is_floating_point", input).dtype.is_floating_point


def is_complex(input) -> bool:
    """Whether input's dtype is complex (never, in wgtorch)."""
    _tensor_arg("is_complex", input)
    return False


def is_nonzero(input) -> bool:
    """Whether a one-element tensor is not zero (NaN counts as nonzero)."""
    _tensor_arg("is_nonzero", input)
    n = input.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input.item() != 0)


def result_type(tensor1, tensor2) -> D.dtype:
    """The dtype an arithmetic op on the two (tensors or numbers) gives, by PyTorch's promotion."""
    for x in (tensor1, tensor2):
        if not isinstance(x, (TensorCore, bool, int, float)):
            raise TypeError(f"result_type(): arguments must be tensors or numbers, not {type(x).__name__}")
    return D.result_type(tensor1, tensor2)


class _Typed:
    """A stand-in with a dtype and a dimension, for promoting two dtypes as two tensors would."""

    ndim = 1

    def __init__(self, dt):
        self.dtype = dt


def promote_types(type1, type2) -> D.dtype:
    """The smallest dtype both ``type1`` and ``type2`` convert to without losing their kind."""
    for pos, (name, t) in enumerate((("type1", type1), ("type2", type2)), 1):
        if not isinstance(t, D.dtype):
            raise TypeError(
                f"promote_types(): argument '{name}' (position {pos}) must be torch.dtype, not {type(t).__name__}"
            )
    return D.result_type(_Typed(type1), _Typed(type2))


def can_cast(from_, to) -> bool:
    """Whether PyTorch's casting rule allows ``from_`` -> ``to``: never to a lower kind
    (float -> integer, number -> bool); within a kind, always."""
    for name, t in (("from_", from_), ("to", to)):
        if not isinstance(t, D.dtype):
            raise TypeError(f"can_cast(): argument '{name}' must be torch.dtype, not {type(t).__name__}")
    return from_.category <= to.category


# -- Tensor methods ---------------------------------------------------------------------------------
def sum_to_size(self: Tensor, *size) -> Tensor:
    """Sum self down to ``size``, a shape that broadcasts to self's (the reverse of expand)."""
    if not size:
        raise TypeError("sum_to_size() missing 1 required positional argument: 'size'")
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    size = tuple(int(n) for n in size)
    shape = tuple(self.shape)
    lead = len(shape) - len(size)
    if lead < 0 or any(n != 1 and n != s for n, s in zip(size, shape[lead:])):
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size {{{list(shape)}}}.")
    dims = tuple(range(lead)) + tuple(lead + i for i, (n, s) in enumerate(zip(size, shape[lead:])) if n == 1 and s != 1)
    if not dims:
        return self
    return self.sum(dim=dims, keepdim=True).reshape(size)


_plain_is_contiguous = TensorCore._is_row_major  # from _tensor.py


def is_contiguous(self: Tensor, memory_format=contiguous_format) -> bool:
    """Whether self's elements lie in memory in the order of ``memory_format``: row-major
    (``contiguous_format``), NHWC (``channels_last``, 4-D) or NDHWC (``channels_last_3d``, 5-D)."""
    if memory_format is contiguous_format or memory_format is preserve_format:
        return _plain_is_contiguous(self)
    if memory_format is channels_last or memory_format is channels_last_3d:
        nd = 4 if memory_format is channels_last else 5
        if self.ndim != nd:
            return False
        order = (0, *range(2, nd), 1)  # the dimensions from outermost to innermost in memory
        return _row_major([self.shape[d] for d in order], [self.stride()[d] for d in order])
    raise TypeError(f"is_contiguous(): memory_format must be a torch.memory_format, not {type(memory_format).__name__}")


def _row_major(shape, strides) -> bool:
    expected = 1
    for n, s in zip(reversed(tuple(shape)), reversed(tuple(strides))):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def _is_complex(self: Tensor) -> bool:
    """Always False: wgtorch has no complex dtypes."""
    return False


def _is_nonzero(self: Tensor) -> bool:
    """Whether a one-element tensor is non-zero (more elements raise)."""
    return is_nonzero(self)


METHODS = {
    "sum_to_size": sum_to_size,
    "is_contiguous": is_contiguous,
    "is_complex": _is_complex,
    "is_nonzero": _is_nonzero,
}
PROPERTIES = {
    "nbytes": property(lambda self: self.numel() * self.dtype.itemsize, doc="Bytes of the elements."),
    "itemsize": property(lambda self: self.dtype.itemsize, doc="Bytes of one element."),
}

__all__ = [
    "are_deterministic_algorithms_enabled",
    "can_cast",
    "channels_last_3d",
    "get_float32_matmul_precision",
    "get_num_interop_threads",
    "get_num_threads",
    "is_complex",
    "is_deterministic_algorithms_warn_only_enabled",
    "is_floating_point",
    "is_nonzero",
    "promote_types",
    "result_type",
    "set_float32_matmul_precision",
    "set_num_interop_threads",
    "set_num_threads",
    "set_printoptions",
    "use_deterministic_algorithms",
]
