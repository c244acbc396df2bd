"""Storages and the functions a checkpoint's pickle calls to rebuild tensors from them.

A checkpoint stores each storage (a flat run of elements) once, and every tensor as a view of
one: (storage, offset, size, stride). Here a storage is a 1-D wgtorch tensor on its device, and
a loaded tensor is a strided view of it, so tensors saved as views of one storage share memory
again after loading, as in PyTorch.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np

from .. import _dtype as D
from .._device import canonical, get_backend
from .._tensor import _wrap
from .._tensor_class import Tensor
from ..nn.parameter import Parameter


def widened_dtype(dt, device):
    """The dtype a loaded ``dt`` tensor gets on ``device``: itself, but bfloat16 where the device
    can't hold it (wgpu: WGSL has no bf16 type), which loads as float32 (every value is exact)."""

    if dt is not D.bfloat16:
        return dt
    try:
        get_backend(device).check_dtype(dt)
    except TypeError:
        warnings.warn(f"bfloat16 tensors load onto {device} as float32 (exact): {device.type} has no bfloat16",
                      stacklevel=4)
        return D.float32
    return dt


class TypedStorage:
    """A loaded storage: what a callable ``map_location(storage, location)`` receives (on the
    cpu) and returns (moved with ``.to``, ``.cpu``, ``.cuda`` or ``.wgpu``, or as it is)."""

    def __init__(self, flat: Tensor):
        self._flat = flat
        self._vc = flat._counter()  # tensors over one storage share a version counter

    @property
    def device(self):
        return self._flat.device

    @property
    def dtype(self):
        return self._flat.dtype

    def size(self) -> int:
        return self._flat.numel()

    def __len__(self) -> int:
        return self._flat.numel()

    def element_size(self) -> int:
        return self._flat.element_size()

    def nbytes(self) -> int:
        return self.size() * self.element_size()

    def to(self, device) -> TypedStorage:
        device = canonical(device)
        if device == self.device:
            return self
        return TypedStorage(self._flat.to(widened_dtype(self._flat.dtype, device)).to(device))  # (cast first)

    def cpu(self) -> TypedStorage:
        return self.to("cpu")

    def cuda(self, device=0) -> TypedStorage:
        return self.to(f"cuda:{device}" if isinstance(device, int) else device)

    def wgpu(self, device=0) -> TypedStorage:
        return self.to(f"wgpu:{device}" if isinstance(device, int) else device)

    def tolist(self) -> list:
        return self._flat.tolist()

    def __repr__(self) -> str:
        return f"TypedStorage(size={self.size()}, dtype={self.dtype}, device={self.device})"


def _ints(value, what: str) -> tuple:
    if not isinstance(value, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise pickle.UnpicklingError(f"corrupt checkpoint: a tensor's {what} is {value!r}, not a tuple of ints")
    return value


def view_of(storage, offset: int, size, stride) -> Tensor:
    """The tensor (offset, size, stride) over ``storage``, sharing its memory."""
    if not isinstance(storage, TypedStorage):
        raise pickle.UnpicklingError(f"corrupt checkpoint: a tensor is rebuilt from {type(storage).__name__}, "
                                     "not a storage")
    size, stride = _ints(tuple(size), "size"), _ints(tuple(stride), "stride")
    if len(size) != len(stride) or not isinstance(offset, int) or offset < 0 or min(size, default=0) < 0 \
            or min(stride, default=0) < 0:
        raise pickle.UnpicklingError(f"corrupt checkpoint: tensor view offset={offset}, size={size}, "
                                     f"stride={stride} is not valid")
    n = len(storage)
    if 0 not in size and offset + sum((k - 1) * s for k, s in zip(size, stride)) >= n:
        raise RuntimeError(f"corrupt checkpoint: a tensor of size {size}, stride {stride} at offset {offset} "
                           f"reaches past the end of its storage of {n} elements")
    flat = storage._flat
    data, be = flat._data, flat._be
    if hasattr(data, "storage") and hasattr(data, "view"):  # a wgpu array: views carry their offset
        view = data.view(size, stride, data.offset + offset)
    else:
        xp = be.xp
        item = data.itemsize
        base = data[min(offset, n):]
        view = xp.lib.stride_tricks.as_strided(base, shape=size, strides=tuple(s * item for s in stride))
    t = _wrap(view, be, flat.dtype)
    t._vc = storage._vc
    return t


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                      metadata=None):
    t = view_of(storage, storage_offset, size, stride)
    if requires_grad:
        t.requires_grad_(True)
    return t


def rebuild_tensor(storage, storage_offset, size, stride):
    return view_of(storage, storage_offset, size, stride)


def _check_tensor(data, what: str):
    if not isinstance(data, Tensor):
        raise pickle.UnpicklingError(f"corrupt checkpoint: {what} is built from {type(data).__name__}, not a tensor")


def rebuild_parameter(data, requires_grad, backward_hooks=None):
    _check_tensor(data, "a parameter")
    return Parameter(data, bool(requires_grad))


def _drop_state(state, what: str) -> None:
    # wgtorch tensors have no __dict__: say what is dropped rather than fail the whole load.
    names = sorted(state) if isinstance(state, dict) else []
    if names:
        warnings.warn(f"wgtorch.load: {what} was saved with extra attributes {names}, which wgtorch tensors "
                      "can't hold; they are dropped", stacklevel=4)


def rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    p = rebuild_parameter(data, requires_grad, backward_hooks)
    _drop_state(state, "a parameter")
    return p


def rebuild_from_type_v2(func, new_type, args, state):
    """A tensor saved through ``Tensor.__reduce_ex__`` with its Python type (and attributes)."""

    ret = func(*args)
    _check_tensor(ret, "a tensor")
    if new_type is Parameter and not isinstance(ret, Parameter):
        ret = Parameter(ret, ret.requires_grad)
    elif not (isinstance(new_type, type) and isinstance(ret, new_type)):
        raise pickle.UnpicklingError(f"a tensor was saved as {getattr(new_type, '__name__', new_type)!r}, "
                                     "a tensor subclass wgtorch can't rebuild")
    _drop_state(state, "a tensor")
    return ret


def host_copy(arr: np.ndarray) -> np.ndarray:
    """``arr`` as a writable array in native byte order (a storage's data is written through)."""
    return arr.astype(arr.dtype.newbyteorder("="), copy=True)
