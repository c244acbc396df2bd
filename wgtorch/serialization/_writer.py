"""Writing PyTorch's checkpoint format (the zip archive ``torch.save`` writes).

The object is pickled (protocol 2, as PyTorch) with tensors written as PyTorch writes them:
``torch._utils._rebuild_tensor_v2((storage persistent id), offset, size, stride, requires_grad,
OrderedDict())``, parameters through ``torch._utils._rebuild_parameter``, and wgtorch's dtypes,
``Size`` and devices under torch's names, so ``torch.load(..., weights_only=True)`` accepts the
file. Those globals are written by name (PyTorch is never imported).

Storages: tensors that view one piece of memory (a NumPy base array on the cpu, a wgpu storage)
are saved as views of one storage record, which holds the span of that memory they reach. The
object is pickled twice: once to find every tensor, so each storage's span is known before its
persistent id (which records its length) is written.
"""

from __future__ import annotations

import io
import math
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np

from .. import _dtype as D
from .._device import device
from .._tensor import Size
from .._tensor_class import Tensor
from ..nn.parameter import Parameter
from ._names import STORAGE_NAME_OF

PREFIX = "archive"
ALIGN = 64  # data records start at multiples of this, as PyTorch writes them (mmap needs it)


class _Global:
    """A global written by name (``module.name``) without importing the module."""

    _cache: dict = {}

    def __new__(cls, module: str, name: str):
        key = (module, name)
        obj = cls._cache.get(key)
        if obj is None:
            obj = cls._cache[key] = super().__new__(cls)
            obj.module, obj.name = module, name
        return obj

    def __call__(self, *args):  # pickle only writes callables as reduce functions
        raise TypeError(f"{self.module}.{self.name} is a name written into a checkpoint, not a function")


_REBUILD_V2 = _Global("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = _Global("torch._utils", "_rebuild_parameter")
_SIZE = _Global("torch", "Size")
_DEVICE = _Global("torch", "device")


class _Entry:
    """One storage record: the elements [lo, hi) of a piece of memory."""

    __slots__ = ("lo", "hi", "read", "anchor", "dtype", "location", "key")

    def __init__(self, lo, hi, read, anchor, dtype, location):
        self.lo, self.hi, self.read, self.anchor = lo, hi, read, anchor
        self.dtype, self.location, self.key = dtype, location, None


def _location(t: Tensor) -> str:
    # PyTorch restores storages to their tag and knows no "wgpu": wgpu tensors are tagged "cpu".
    d = t.device
    return f"cuda:{d.index or 0}" if d.type == "cuda" else "cpu"


def _locate(t: Tensor):
    """(memory key, anchor, element position, strides, reader): where ``t``'s elements lie in the
    memory it views, in elements of its dtype, and a function reading elements [lo, hi) of it."""
    arr, dt = t._data, t.dtype
    if hasattr(arr, "storage") and hasattr(arr, "buffer"):  # a wgpu array
        from .._backends.wgpu import storage_np_dtype

        sd = storage_np_dtype(dt, t._be.wgsl)  # (the device's: int64 is i64 where it has shader-int64)
        rt = t._be.rt

        def read_wgpu(lo, hi):
            raw = rt.read(arr.buffer, lo * sd.itemsize, (hi - lo) * sd.itemsize).view(sd)
            return raw != 0 if dt is D.bool_ else raw.astype(dt.np)

        return id(arr.storage), arr.storage, arr.offset, tuple(arr.strides), read_wgpu
    if isinstance(arr, np.ndarray):
        root = arr
        while isinstance(root.base, np.ndarray):
            root = root.base
        item = arr.itemsize
        delta = arr.ctypes.data - root.ctypes.data
        if (root.flags.c_contiguous or root.flags.f_contiguous) and delta >= 0 and delta % item == 0 \
                and all(s >= 0 and s % item == 0 for s in arr.strides):
            raw = root.reshape(-1, order="A").view(np.uint8)  # a view: root is contiguous

            def read_np(lo, hi):
                return raw[lo * item: hi * item].view(dt.np)

            return id(root), root, delta // item, tuple(s // item for s in arr.strides), read_np
    # Anything else (CuPy arrays, NumPy arrays with negative strides): a contiguous copy of its own,
    # made when the record is written. Keyed by the backend array, which both pickling passes (and
    # a parameter's detached copy) see.
    def read_copy(lo, hi):
        return np.ascontiguousarray(t.detach().numpy()).reshape(-1)[lo:hi]

    return ("copy", id(arr)), arr, 0, _contiguous(tuple(t.shape)), read_copy


def _contiguous(shape) -> tuple:
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(strides))


class _Pickler(pickle._Pickler):
    """The pure-Python pickler: its dispatch table lets ``_Global`` be written as a GLOBAL
    opcode by name, which the C pickler (it imports the module to check) does not allow."""

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, protocol: int, entries: dict, collecting: bool):
        super().__init__(file, protocol)
        self.entries, self.collecting = entries, collecting
        self.order: list = []  # storage records in the order the pickle first names them

    def _save_global_by_name(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[_Global] = _save_global_by_name

    def _save_dtype(self, obj: D.dtype) -> None:
        self.save(_Global("torch", obj.name))  # wgtorch's dtype names are torch's

    dispatch[D.dtype] = _save_dtype

    def reducer_override(self, obj):
        if isinstance(obj, Parameter):
            return _REBUILD_PARAMETER, (obj.detach(), obj.requires_grad, OrderedDict())
        if isinstance(obj, Tensor):
            return self._tensor(obj)
        if isinstance(obj, Size):
            return _SIZE, (tuple(obj),)
        if isinstance(obj, device):
            return _DEVICE, (obj.type,) if obj.index is None else (obj.type, obj.index)
        return NotImplemented

    def _tensor(self, t: Tensor):
        shape = tuple(t.shape)
        if math.prod(shape) == 0:  # no memory to share: an empty storage of its own
            entry = self._entry((id(t), "empty"), lambda: _Entry(0, 0, None, t, t.dtype, _location(t)))
            return _REBUILD_V2, (entry, 0, shape, _contiguous(shape), t.requires_grad, OrderedDict())
        mem, anchor, pos, strides, read = _locate(t)
        span = pos + sum((n - 1) * s for n, s in zip(shape, strides)) + 1
        entry = self._entry((mem, t.dtype), lambda: _Entry(pos, span, read, anchor, t.dtype, _location(t)))
        if self.collecting:
            entry.lo, entry.hi = min(entry.lo, pos), max(entry.hi, span)
        return _REBUILD_V2, (entry, pos - entry.lo, shape, strides, t.requires_grad, OrderedDict())

    def _entry(self, key, make) -> _Entry:
        entry = self.entries.get(key)
        if entry is None:
            if not self.collecting:
                raise RuntimeError("wgtorch.save: the object changed while it was being saved (a tensor "
                                   "appeared that the first pass did not see)")
            entry = self.entries[key] = make()
        return entry

    def persistent_id(self, obj):
        if not isinstance(obj, _Entry):
            return None
        if self.collecting:
            return "storage"
        if obj.key is None:
            obj.key = str(len(self.order))
            self.order.append(obj)
        storage_type = _Global("torch", STORAGE_NAME_OF[obj.dtype])
        return "storage", storage_type, obj.key, obj.location, obj.hi - obj.lo


class _Discard:
    def write(self, data) -> None:
        pass


def pickle_checkpoint(obj, protocol: int) -> tuple[bytes, list]:
    """data.pkl's bytes and the storage records it names, in key order."""
    if not 2 <= protocol <= pickle.HIGHEST_PROTOCOL:
        raise ValueError(f"pickle_protocol must be between 2 and {pickle.HIGHEST_PROTOCOL}, got {protocol}")
    entries: dict = {}
    _Pickler(_Discard(), protocol, entries, collecting=True).dump(obj)
    out = io.BytesIO()
    pickler = _Pickler(out, protocol, entries, collecting=False)
    pickler.dump(obj)
    return out.getvalue(), pickler.order


def _storage_bytes(entry: _Entry) -> bytes:
    if entry.hi == entry.lo:
        return b""
    arr = np.ascontiguousarray(entry.read(entry.lo, entry.hi))
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()  # the file is little-endian


def _write_record(archive: zipfile.ZipFile, name: str, data: bytes, align: bool) -> None:
    info = zipfile.ZipInfo(f"{PREFIX}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    if align:
        # Pad the local header's extra field (id "FB", as PyTorch) so the data starts aligned.
        header = 30 + len(info.filename.encode("utf-8")) + 4
        if len(data) * 1.05 > zipfile.ZIP64_LIMIT:
            header += 20  # zipfile adds a zip64 extra field for large records
        pad = -(archive.fp.tell() + header) % ALIGN
        info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
    archive.writestr(info, data)


def write_archive(fobj, pkl: bytes, storages: list) -> None:
    with zipfile.ZipFile(fobj, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        _write_record(archive, "data.pkl", pkl, align=False)
        _write_record(archive, ".format_version", b"1", align=False)
        _write_record(archive, ".storage_alignment", str(ALIGN).encode(), align=False)
        _write_record(archive, "byteorder", b"little", align=False)
        for entry in storages:
            _write_record(archive, f"data/{entry.key}", _storage_bytes(entry), align=True)
        _write_record(archive, "version", b"3\n", align=False)
