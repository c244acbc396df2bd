"""``wgtorch.save`` / ``wgtorch.load``: checkpoints in PyTorch's format, and safetensors files.

``save(obj, f)`` writes ``obj`` (a state dict, an optimizer's state dict, a checkpoint dict of
tensors, numbers, strings, lists, NumPy arrays ..., or a whole module) as ``torch.save`` does: a
zip archive with the pickled object and one record per storage. PyTorch loads these files, with
``weights_only=True`` too, and wgtorch loads PyTorch's without importing it. Views of one tensor
are stored once and share memory again after loading. A path ending in ``.safetensors`` is
written in the safetensors format instead (a flat dict of tensors; see ``_safetensors``).

``load(f, map_location=None, weights_only=True)`` reads either format, told apart by the file's
first bytes. ``weights_only`` (the default, as in PyTorch) only accepts tensors, containers,
numbers, strings and the globals allowed with ``add_safe_globals``; ``weights_only=False`` runs
the pickle as it is (only for files you trust). ``map_location`` is a device (string), a dict of
saved location -> location, or a callable ``(storage, location) -> storage or None``, as in
PyTorch. Storages saved on the cpu or on wgpu are tagged "cpu" (PyTorch knows no "wgpu"), so by
default a checkpoint loads onto the cpu; CUDA storages keep their "cuda:N" tag.

bfloat16 storages mapped to wgpu (WGSL has no bf16 type) load as float32, exactly, with a warning.

Not supported: PyTorch's legacy (pre-1.6, non-zip) format, and dtypes wgtorch lacks (int8,
int16, complex ...): loading a storage of one raises a TypeError naming the dtype.
"""

from __future__ import annotations

import io
import os

from . import _safetensors
from ._names import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals
from ._reader import load_zip
from ._rebuild import TypedStorage
from ._writer import pickle_checkpoint, write_archive

DEFAULT_PROTOCOL = 2
# torch.save's legacy format: a pickle (protocol 2) of a magic number, before the zip archive.
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def _is_safetensors_path(f) -> bool:
    return isinstance(f, (str, os.PathLike)) and os.fspath(f).lower().endswith(".safetensors")


def save(obj, f, pickle_protocol: int = DEFAULT_PROTOCOL) -> None:
    """Write ``obj`` to ``f`` (a path or a writable binary file) in PyTorch's format, or in the
    safetensors format if ``f`` is a path ending in ``.safetensors``."""
    if _is_safetensors_path(f):
        _safetensors.save(obj, f)
        return
    pkl, storages = pickle_checkpoint(obj, pickle_protocol)  # before opening: a failure writes nothing
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as out:
            write_archive(out, pkl, storages)
    elif not hasattr(f, "write"):
        raise TypeError(f"wgtorch.save: f must be a path or a binary file object, got {type(f).__name__}")
    else:
        write_archive(f, pkl, storages)


def load(f, map_location=None, *, weights_only: bool | None = None):
    """Read what ``save`` (or ``torch.save``, or a safetensors writer) wrote to ``f``: a path, a
    readable binary file, or bytes."""
    weights_only = True if weights_only is None else bool(weights_only)
    name = _safetensors._name(f)
    if isinstance(f, (bytes, bytearray, memoryview)):
        return _load_from(io.BytesIO(bytes(f)), name, map_location, weights_only)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as src:
            return _load_from(src, name, map_location, weights_only)
    if not hasattr(f, "read"):
        raise TypeError(f"wgtorch.load: f must be a path, a binary file object or bytes, got {type(f).__name__}")
    if not (hasattr(f, "seekable") and f.seekable()):
        f = io.BytesIO(f.read())  # the zip reader seeks
    return _load_from(f, name, map_location, weights_only)


def _load_from(fobj, name: str, map_location, weights_only: bool):
    start = fobj.tell()
    head = fobj.read(len(_LEGACY_MAGIC))
    fobj.seek(start)
    # A zip archive's first local header. (A safetensors file starts with its header's length,
    # which these 4 bytes would make 67 MB.)
    if head[:4] == b"PK\x03\x04":
        return load_zip(fobj, name, map_location, weights_only)
    if head == _LEGACY_MAGIC:
        raise RuntimeError(f"{name} is in PyTorch's legacy (pre-1.6) format, which wgtorch does not read; "
                           "re-save it with PyTorch's default format: torch.save(torch.load(path), path)")
    return _safetensors.load(fobj.read(), map_location, name=name)


__all__ = ["save", "load", "add_safe_globals", "clear_safe_globals", "get_safe_globals", "safe_globals",
           "TypedStorage", "DEFAULT_PROTOCOL"]
