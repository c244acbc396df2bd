"""Reading PyTorch's checkpoint format (``torch.save``'s zip archive) without PyTorch.

The archive holds ``<prefix>/data.pkl`` (the object, pickled), ``<prefix>/data/<key>`` (each
storage's raw bytes), ``<prefix>/byteorder`` and ``<prefix>/version``. The pickle refers to
storages by persistent id ``('storage', storage_type, key, location, numel)`` and rebuilds
tensors over them with ``torch._utils._rebuild_tensor_v2``; its globals are resolved through
``_names`` (torch's names mean wgtorch's objects), and with ``weights_only`` only allowed
globals resolve at all.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct
import zipfile

import numpy as np

from .. import _dtype as D
from .. import cuda
from .._creation import from_numpy
from .._device import canonical, device
from . import _names
from ._rebuild import TypedStorage, host_copy

_HELP = ("If you trust the file, allow the global with wgtorch.serialization.add_safe_globals([{g}]) or "
         "the wgtorch.serialization.safe_globals([{g}]) context manager, or load it with weights_only=False "
         "(which can run arbitrary code from the file).")


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, loader: _Loader, restricted: bool, protocol: int):
        super().__init__(file)
        self._loader = loader
        self._restricted = restricted
        self._protocol = protocol

    def find_class(self, module, name):
        if self._protocol < 3:  # Python 2 names, which protocols 0-2 write for builtins ("__builtin__.set")
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        obj = _names.resolve(module, name, self._restricted)
        if obj is not None:
            return obj
        full = f"{module}.{name}"
        if self._restricted:
            obj = _names.user_safe(full)
            if obj is not None:
                return obj
            raise pickle.UnpicklingError(
                f"Weights only load failed for {self._loader.name}: GLOBAL {full} is not an allowed global "
                f"(weights_only=True allows tensors, numbers, strings and containers). " + _HELP.format(g=full))
        if module == "torch" or module.startswith("torch."):
            # Never import PyTorch to resolve a name: the point is loading without it.
            raise pickle.UnpicklingError(f"{self._loader.name} needs {full}, which wgtorch has no equivalent of")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        return self._loader.storage(pid)


class _Loader:
    def __init__(self, archive: zipfile.ZipFile, prefix: str, name: str, map_location):
        self.zip, self.prefix, self.name = archive, prefix, name
        self.map_location = map_location
        self.little = True
        self.storages: dict = {}

    def record(self, path: str) -> bytes:
        try:
            return self.zip.read(self.prefix + path)
        except KeyError:
            raise RuntimeError(f"{self.name} is not a complete PyTorch checkpoint: it has no record "
                               f"{self.prefix + path!r} (truncated or corrupt?)") from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, struct.error) as e:
            raise RuntimeError(f"{self.name}: record {self.prefix + path!r} can't be read ({e}); the file is "
                               "corrupt or truncated") from e

    def storage(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"{self.name}: unknown persistent id {pid!r} in data.pkl (corrupt, or a "
                                         "format wgtorch does not read)")
        _, storage_type, key, location, numel = pid
        if not isinstance(storage_type, _names.StorageType):
            raise pickle.UnpicklingError(f"{self.name}: a storage of type {storage_type!r}, which is not a "
                                         "storage type")
        if not isinstance(key, str) or not isinstance(location, str) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"{self.name}: corrupt storage record {pid!r}")
        cached = self.storages.get(key)
        if cached is not None:
            return cached
        if storage_type.dtype is None:
            raise _names.unsupported_dtype(storage_type.torch_dtype, f"{self.name}: storage {key!r}")
        raw = self.record(f"data/{key}")
        want = numel * storage_type.np.itemsize
        if len(raw) != want:
            raise RuntimeError(f"{self.name}: storage {key!r} has {len(raw)} bytes where {numel} "
                               f"{storage_type.torch_dtype} elements need {want} (truncated or corrupt)")
        order = "<" if self.little else ">"
        if storage_type.dtype is D.bfloat16:  # ml_dtypes' bfloat16 has no byte order: read 16-bit words
            arr = np.frombuffer(raw, dtype=order + "u2").astype(np.uint16).view(storage_type.np)
        else:
            arr = host_copy(np.frombuffer(raw, dtype=storage_type.np.newbyteorder(order)))

        result = self._restore(TypedStorage(from_numpy(arr)), location)
        self.storages[key] = result
        return result

    def _restore(self, storage: TypedStorage, location: str) -> TypedStorage:
        ml = self.map_location
        if callable(ml) and not isinstance(ml, (dict, str, device)):
            moved = ml(storage, location)
            if moved is None:
                return storage.to(_target(location, location))
            if not isinstance(moved, TypedStorage):
                raise TypeError(f"map_location returned {type(moved).__name__}; it must return a storage "
                                "(the one it was given, moved with .to/.cpu/.wgpu) or None")
            return moved
        if isinstance(ml, dict):
            return storage.to(_target(ml.get(location, location), location))
        return storage.to(_target(location if ml is None else ml, location))


def _target(where, location: str):
    """The device ``where`` names (a tag such as "cuda:0" saved with the storage, or what
    map_location maps it to), with PyTorch's error for a CUDA tag on a machine without CUDA."""
    try:
        d = canonical(where if isinstance(where, device) else str(where))
    except (RuntimeError, ValueError, TypeError) as e:
        raise RuntimeError(f"can't restore a storage saved on {location!r} to {where!r}: {e}; pass "
                           "map_location='cpu' (or 'wgpu') to wgtorch.load") from e
    if d.type == "cuda":
        if not cuda.is_available():
            raise RuntimeError("Attempting to deserialize object on a CUDA device but wgtorch.cuda.is_available() "
                               "is False. If you are running on a CPU-only machine, please use wgtorch.load with "
                               "map_location='cpu' (or 'wgpu') to map your storages to another device.")
    return d


def check_map_location(map_location) -> None:
    if map_location is None or isinstance(map_location, (str, device, dict)) or callable(map_location):
        return
    raise TypeError(f"map_location must be a device, a device string, a dict of location -> location or a "
                    f"callable (storage, location) -> storage, got {type(map_location).__name__}")


def _prefix(archive: zipfile.ZipFile, name: str) -> str:
    for record in archive.namelist():
        if record == "data.pkl" or record.endswith("/data.pkl"):
            return record[: -len("data.pkl")]
    raise RuntimeError(f"{name} is a zip archive but not a PyTorch checkpoint: it has no data.pkl record")


def load_zip(fobj, name: str, map_location, weights_only: bool):
    """The object in the PyTorch zip checkpoint ``fobj`` (a seekable binary file)."""
    check_map_location(map_location)
    try:
        archive = zipfile.ZipFile(fobj)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, struct.error) as e:
        raise RuntimeError(f"{name} is not a valid PyTorch checkpoint (zip archive): {e}; the file is corrupt "
                           "or truncated") from e
    with archive:
        loader = _Loader(archive, _prefix(archive, name), name, map_location)
        if loader.prefix + "byteorder" in archive.namelist():
            order = loader.record("byteorder").decode("ascii", "replace").strip()
            if order not in ("little", "big"):
                raise RuntimeError(f"{name}: unknown byteorder record {order!r}")
            loader.little = order == "little"
        data = loader.record("data.pkl")
        protocol = data[1] if data[:1] == pickle.PROTO and len(data) > 1 else 0
        unpickler = _Unpickler(io.BytesIO(data), loader, restricted=weights_only, protocol=protocol)
        try:
            return unpickler.load()
        except pickle.UnpicklingError as e:
            if name in str(e):  # ours, already saying which file
                raise
            raise pickle.UnpicklingError(f"{name}: data.pkl is corrupt or truncated ({e})") from e
        except (EOFError, IndexError, ValueError, struct.error, MemoryError) as e:
            raise pickle.UnpicklingError(f"{name}: data.pkl is corrupt or truncated ({type(e).__name__}: "
                                         f"{e})") from e
