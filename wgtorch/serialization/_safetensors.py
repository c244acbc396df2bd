"""State dicts in the safetensors format (what ``wgtorch.save`` writes to a ``.safetensors`` path).

A file holds a flat dict of name -> tensor (a module's ``state_dict()``), written with the
``safetensors`` package's NumPy API, so no PyTorch is needed and the file is the same format
``safetensors.torch.save_file`` writes: PyTorch and Hugging Face tools read ours and we read
theirs. The header's metadata says ``{"format": "pt"}``, as PyTorch's files do (Hugging Face
loaders check it), and ``"wgtorch.key_order"`` (a JSON list) keeps the dict's key order, which
safetensors itself does not (it sorts by dtype and name).

What is stored: every tensor's dtype, shape and values (copied to the host, detached). Not
stored: devices (``load`` puts everything on ``map_location``, the cpu by default),
``requires_grad``, views and shared storage (each tensor is written out whole), and any value
that is not a tensor (``save`` raises TypeError naming its key; save checkpoints with other
objects, e.g. an optimizer's state dict, to a path not ending in ``.safetensors``: PyTorch's format).

dtypes: bool, uint8, int32, int64, float16, bfloat16, float32 and float64 round-trip. ``load``
also reads int8 and int16 (as int32); other dtypes are refused with the tensor's name. bfloat16
loaded onto wgpu (which has no bf16 type) becomes float32, exactly, with a warning.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np
import safetensors
from safetensors import SafetensorError

from .. import _dtype as D
from .._creation import tensor
from .._device import canonical, device
from .._tensor_class import Tensor
from ._rebuild import widened_dtype

_ORDER_KEY = "wgtorch.key_order"
# safetensors dtype names -> NumPy dtypes wgtorch stores as they are.
_NATIVE = {"BOOL": np.bool_, "U8": np.uint8, "I32": np.int32, "I64": np.int64, "F16": np.float16,
           "F32": np.float32, "F64": np.float64, "BF16": D.bfloat16.np}
# Read by widening without loss: dtype -> (NumPy type of the bytes, wgtorch dtype).
_WIDENED = {"I8": (np.int8, D.int32), "I16": (np.int16, D.int32)}


def save(obj, f) -> None:
    """Write ``obj``, a dict of str -> Tensor, to ``f`` (a path or a binary file object)."""
    if not isinstance(obj, Mapping):
        raise TypeError(f"wgtorch.save writes a dict of name -> tensor (a state_dict) in the safetensors "
                        f"format; got {type(obj).__name__}")
    arrays = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"wgtorch.save: keys must be strings, got {key!r} ({type(key).__name__})")
        if not isinstance(value, Tensor):
            raise TypeError(f"wgtorch.save: the value of {key!r} is a {type(value).__name__}, not a tensor; "
                            "safetensors files hold tensors only (pickle other objects separately)")
        arr = value.detach().numpy()
        arrays[key] = arr if arr.flags.c_contiguous else arr.copy(order="C")
    # safetensors orders tensors by dtype and name; the metadata keeps the dict's own order.
    metadata = {"format": "pt", _ORDER_KEY: json.dumps(list(arrays))}
    try:
        data = safetensors.serialize(_specs(arrays), metadata=metadata)
    except SafetensorError as e:
        raise RuntimeError(f"wgtorch.save: could not serialize to {_name(f)}: {e}") from e
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as out:
            out.write(data)
    else:
        f.write(data)


def _specs(arrays: dict) -> dict:
    return {k: safetensors.TensorSpec(dtype=a.dtype.name, shape=a.shape, data_ptr=a.ctypes.data,
                                      data_len=a.nbytes)
            for k, a in arrays.items()}


def load(f, map_location=None, name: str | None = None) -> dict:
    """Read a safetensors file (a path, a binary file object or bytes) into a dict of name ->
    Tensor on ``map_location`` (a device or device string; default: the cpu). ``name`` is the
    file's name for error messages, where ``f`` is the bytes read from it."""
    target = _target_device(map_location)
    name = _name(f) if name is None else name
    if isinstance(f, (bytes, bytearray, memoryview)):
        data = bytes(f)
    elif isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as src:
            data = src.read()
    else:
        data = f.read()
    header = _check_header(data, name)
    try:
        entries = safetensors.deserialize(data)
    except SafetensorError as e:
        raise RuntimeError(f"{name} is not a valid safetensors file (corrupt or truncated): {e}") from e

    loaded = {}
    for key, entry in entries:
        arr = _to_numpy(key, entry, name)
        loaded[key] = tensor(arr, dtype=widened_dtype(D.from_numpy_dtype(arr.dtype), target), device=target)
    return {k: loaded[k] for k in _key_order(header, loaded)}


def _key_order(header: dict, loaded: dict) -> list:
    """The order ``save`` was given (from the metadata), else the file's."""
    try:
        order = json.loads((header.get("__metadata__") or {}).get(_ORDER_KEY, "null"))
    except (ValueError, AttributeError):
        order = None
    if isinstance(order, list) and sorted(order) == sorted(loaded):
        return order
    return list(loaded)


def _to_numpy(key: str, entry: dict, name: str) -> np.ndarray:
    kind, shape, raw = entry["dtype"], entry["shape"], entry["data"]
    if kind == "BF16":  # little-endian 16-bit words (ml_dtypes' bfloat16 has no byte-order flag)
        return np.frombuffer(raw, dtype="<u2").astype(np.uint16, copy=False).view(D.bfloat16.np).reshape(shape)
    if kind in _NATIVE:
        return np.frombuffer(raw, dtype=np.dtype(_NATIVE[kind]).newbyteorder("<")).reshape(shape)
    if kind in _WIDENED:
        stored, dt = _WIDENED[kind]
        arr = np.frombuffer(raw, dtype=np.dtype(stored).newbyteorder("<")).reshape(shape)
        return arr.astype(dt.np)
    raise TypeError(f"{name}: tensor {key!r} has dtype {kind}, which wgtorch can't hold (supported: "
                    f"{', '.join([*_NATIVE, *_WIDENED])})")


def _check_header(data: bytes, name: str) -> dict:
    """The parsed JSON header, or an error that says what is wrong (the library's are terse)."""
    problem = None
    if len(data) < 8:
        problem = f"it has {len(data)} bytes, fewer than the 8-byte header length (truncated?)"
    else:
        n = int.from_bytes(data[:8], "little")
        if n > len(data) - 8:
            problem = f"the header says {n} bytes of JSON follow, the file has {len(data) - 8} (truncated?)"
        else:
            try:
                header = json.loads(data[8:8 + n])
            except (UnicodeDecodeError, ValueError) as e:
                problem = f"its header is not JSON ({e})"
            else:
                if isinstance(header, dict):
                    return header
                problem = "its header is not a JSON object"
    if data[:1] == b"\x80":  # a pickle
        raise RuntimeError(f"{name} looks like a pickle, neither a PyTorch checkpoint (a zip archive) nor a "
                           "safetensors file")
    raise RuntimeError(f"{name} is not a valid safetensors file (corrupt or truncated): {problem}")


def _target_device(map_location):
    if map_location is None:
        return device("cpu")
    if isinstance(map_location, (str, device)):
        return canonical(map_location)
    raise TypeError(f"map_location must be a device or a device string such as 'cpu' or 'wgpu', got "
                    f"{type(map_location).__name__} (safetensors files do not record devices, so a mapping "
                    "or function has nothing to map from)")


def _name(f) -> str:
    if isinstance(f, (str, os.PathLike)):
        return repr(os.fspath(f))
    if isinstance(f, (bytes, bytearray, memoryview)):
        return "the given bytes"
    file_name = getattr(f, "name", None)
    return repr(file_name) if isinstance(file_name, str) else f"the file object {type(f).__name__}"


__all__ = ["save", "load"]
