"""The globals a PyTorch checkpoint names, and what wgtorch reads each as.

A ``torch.save`` pickle refers to PyTorch by name (``torch._utils._rebuild_tensor_v2``,
``torch.FloatStorage``, ``torch.float32`` ...). The reader resolves those names through the
tables here, never by importing torch, and the writer emits the same names so that PyTorch reads
our files. ``SAFE`` is what ``weights_only=True`` accepts without being told: the PyTorch
names below plus the few builtins PyTorch's own restricted unpickler allows.
"""

from __future__ import annotations

import codecs
import collections
from contextlib import contextmanager

import numpy as np

from .. import _dtype as D
from .._device import device
from .._tensor import Size
from .._tensor_class import Tensor
from ..nn.parameter import Parameter
from . import _rebuild as R


class StorageType:
    """What a ``torch.<Name>Storage`` global means here: the element type of a storage record.
    ``dtype`` is None for element types wgtorch has no dtype for (they are refused on use)."""

    def __init__(self, storage_name: str, torch_dtype: str, np_dtype, dtype):
        self.storage_name = storage_name
        self.torch_dtype = torch_dtype
        self.np = np.dtype(np_dtype)
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"<storage type torch.{self.storage_name}>"


# torch's storage class name, torch's dtype name, the bytes' NumPy type, wgtorch's dtype.
_STORAGES = [
    ("DoubleStorage", "float64", np.float64, D.float64),
    ("FloatStorage", "float32", np.float32, D.float32),
    ("HalfStorage", "float16", np.float16, D.float16),
    ("BFloat16Storage", "bfloat16", D.bfloat16.np, D.bfloat16),
    ("LongStorage", "int64", np.int64, D.int64),
    ("IntStorage", "int32", np.int32, D.int32),
    ("ShortStorage", "int16", np.int16, None),
    ("CharStorage", "int8", np.int8, None),
    ("ByteStorage", "uint8", np.uint8, D.uint8),
    ("BoolStorage", "bool", np.bool_, D.bool_),
    ("ComplexFloatStorage", "complex64", np.complex64, None),
    ("ComplexDoubleStorage", "complex128", np.complex128, None),
]
STORAGE_TYPES = {name: StorageType(name, td, npd, d) for name, td, npd, d in _STORAGES}
# An untyped storage is raw bytes (PyTorch writes one for tensors saved by their untyped storage).
UNTYPED = StorageType("UntypedStorage", "uint8", np.uint8, D.uint8)
STORAGE_NAME_OF = {st.dtype: st.storage_name for st in STORAGE_TYPES.values() if st.dtype is not None}

# PyTorch dtypes wgtorch does not have: named in the error that refuses them.
_MISSING_DTYPES = ("int8", "int16", "uint16", "uint32", "uint64", "complex32", "complex64",
                   "complex128", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                   "float8_e8m0fnu", "quint8", "qint8", "qint32", "quint4x2", "quint2x4")
SUPPORTED = ", ".join(d.name for d in D.ALL)


def unsupported_dtype(torch_dtype: str, what: str) -> TypeError:
    return TypeError(f"{what} has dtype torch.{torch_dtype}, which wgtorch does not have; wgtorch's "
                     f"dtypes are {SUPPORTED}")


def _rebuilders() -> dict:
    return {
        "torch._utils._rebuild_tensor_v2": R.rebuild_tensor_v2,
        "torch._utils._rebuild_tensor": R.rebuild_tensor,
        "torch._utils._rebuild_parameter": R.rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": R.rebuild_parameter_with_state,
        "torch._tensor._rebuild_from_type_v2": R.rebuild_from_type_v2,
    }


def _torch_table() -> dict:
    table = {f"torch.{name}": st for name, st in STORAGE_TYPES.items()}
    table.update({f"torch.cuda.{name}": st for name, st in STORAGE_TYPES.items()})
    table.update({"torch.storage.UntypedStorage": UNTYPED, "torch.UntypedStorage": UNTYPED})
    table.update({f"torch.{d.name}": d for d in D.ALL})
    table.update({"torch.Size": Size, "torch.device": device, "torch.Tensor": Tensor,
                  "torch.nn.parameter.Parameter": Parameter, "torch.nn.Parameter": Parameter})
    table.update(_rebuilders())
    return table


# Builtins PyTorch's weights_only unpickler allows too, no more: what loads here loads there
# (protocol 2 pickles bytes via _codecs.encode).
_SAFE_BUILTINS = {
    "collections.OrderedDict": collections.OrderedDict,
    "collections.Counter": collections.Counter,
    "builtins.set": set,
    "builtins.bytearray": bytearray,
    "builtins.complex": complex,
    "_codecs.encode": codecs.encode,
}

_TABLE: dict | None = None


def resolve(module: str, name: str, restricted: bool):
    """The object a pickle's ``module.name`` global stands for, or None where it is not ours
    to map (an arbitrary global: the caller decides)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _torch_table()
    full = f"{module}.{name}"
    # Refused when looked up: a dtype object wgtorch cannot represent would only fail later.
    if module == "torch" and name in _MISSING_DTYPES:
        raise unsupported_dtype(name, "the checkpoint names a dtype that")
    obj = _TABLE.get(full)
    if obj is None and restricted:
        obj = _SAFE_BUILTINS.get(full)
    return obj


# -- user-allowed globals for weights_only=True (torch.serialization's API) ---------------------
_user_safe: list = []


def _entry_name(entry) -> tuple:
    if isinstance(entry, tuple):
        if len(entry) != 2 or not isinstance(entry[1], str):
            raise TypeError(f"a safe global given as a tuple must be (object, 'module.name'), got {entry!r}")
        return entry[0], entry[1]
    module = getattr(entry, "__module__", None)
    qualname = getattr(entry, "__qualname__", None) or getattr(entry, "__name__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"{entry!r} has no __module__/__qualname__ to match a pickle global by; pass "
                        "(object, 'module.name') instead")
    return entry, f"{module}.{qualname}"


def add_safe_globals(safe_globals) -> None:
    """Allow these classes and functions in ``wgtorch.load(..., weights_only=True)``. Each entry
    is the object itself or ``(object, "module.name")`` for an object pickled under another name."""
    if isinstance(safe_globals, (str, bytes)) or not hasattr(safe_globals, "__iter__"):
        raise TypeError(f"add_safe_globals expects a list of classes/functions, got {type(safe_globals).__name__}")
    entries = list(safe_globals)
    for entry in entries:
        _entry_name(entry)  # check them all before adding any
    _user_safe.extend(entries)


def get_safe_globals() -> list:
    """The globals ``add_safe_globals`` allowed (a copy)."""
    return list(_user_safe)


def clear_safe_globals() -> None:
    """Forget every global ``add_safe_globals`` allowed."""
    _user_safe.clear()


@contextmanager
def safe_globals(safe_globals):
    """Allow these globals inside the ``with`` block only."""
    saved = list(_user_safe)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _user_safe[:] = saved


def user_safe(full: str):
    for entry in reversed(_user_safe):
        obj, name = _entry_name(entry)
        if name == full:
            return obj
    return None
