"""Devices: "cpu" (NumPy), "wgpu"/"wgpu:N" (WGSL through wgpu-py) and "cuda"/"cuda:N" (CuPy).

Each device owns one backend object that implements the op protocol in
`wgtorch._backends.protocol`; tensors keep a reference to it so an op reaches its kernels in
one attribute lookup.
"""

from __future__ import annotations

import importlib
import os
import threading

#: device type -> "module:factory" making its backend for a device index (imported on first use,
#: so a process that never asks for "cuda" never imports CuPy). A new runtime is one entry here.
BACKENDS = {
    "cpu": "wgtorch._backends.array:numpy_backend",
    "wgpu": "wgtorch._backends.wgpu:WgpuBackend",
    "cuda": "wgtorch._backends.array_cuda:cupy_backend",
}
_TYPES = tuple(BACKENDS)
#: device type -> "module:callable" answering whether that runtime is usable here (a type not listed,
#: cpu, always is); imported on first use, like BACKENDS.
AVAILABLE = {"wgpu": "wgtorch.wgpu:is_available", "cuda": "wgtorch.cuda:is_available"}
#: device type -> "module:callable" answering whether best_device() should pick it (usable, and faster
#: than NumPy: wgpu only on a hardware adapter); tried in this order, then cpu.
PREFERRED = {"cuda": "wgtorch.cuda:is_available", "wgpu": "wgtorch.wgpu:is_preferred"}


def _load(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


class device:
    """Like ``torch.device``: ``device("wgpu")``, ``device("wgpu:1")``, ``device("cpu")``."""

    __slots__ = ("type", "index")

    def __init__(self, type_or_str, index: int | None = None):
        if isinstance(type_or_str, device):
            type_, index = type_or_str.type, type_or_str.index if index is None else index
        elif isinstance(type_or_str, str):
            type_, _, idx = type_or_str.strip().partition(":")
            if idx:
                if index is not None:
                    raise ValueError(f"device {type_or_str!r} already names an index")
                if not idx.isdigit():
                    raise RuntimeError(f"Invalid device string: {type_or_str!r}")
                index = int(idx)
        else:
            raise TypeError(f"device() expects a string or a device, got {type(type_or_str).__name__}")
        if type_ not in _TYPES:
            raise RuntimeError(f"Expected one of {', '.join(_TYPES)} device type at start of device "
                               f"string: {type_or_str!r}")
        if type_ == "cpu" and index not in (None, 0):
            raise RuntimeError(f"there is only one cpu device, got index {index}")
        self.type = type_
        self.index = index

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"


_backends: dict[device, object] = {}
# Held while a backend is created, so that threads reaching a device at the same moment share one
# backend (two would be two devices that refuse each other's tensors). Reentrant: creating one
# backend may ask for another.
_backends_lock = threading.RLock()


def canonical(d) -> device:
    """The concrete device a tensor lives on: indexed for wgpu/cuda, index-less for cpu."""
    d = device(d) if not isinstance(d, device) else d
    if d.type != "cpu" and d.index is None:
        return device(d.type, 0)
    return d


def get_backend(d):
    """The backend for a device, created on first use (this is where adapters are opened)."""
    d = canonical(d)
    be = _backends.get(d)
    if be is not None:
        return be
    with _backends_lock:
        be = _backends.get(d)  # another thread may have created it while this one waited
        if be is not None:
            return be
        be = _load(BACKENDS[d.type])(d.index)
        be.device = d
        _backends[d] = be
    return be


def _env_default() -> device:
    name = os.environ.get("WGTORCH_DEVICE", "").strip()
    if not name:
        return device("cpu")
    if name == "best":
        return best_device()
    return device(name)


_default: device | None = None


def get_default_device() -> device:
    """The device new tensors go to: "cpu" unless set_default_device() or $WGTORCH_DEVICE says."""
    global _default
    if _default is None:
        _default = _env_default()
    return _default


def set_default_device(d) -> None:
    global _default
    _default = device("cpu") if d is None else device(d)


def is_available(type_: str) -> bool:
    """Whether devices of type ``type_`` ("cpu", "wgpu", "cuda") can be used in this process."""
    spec = AVAILABLE.get(device(type_).type)
    return spec is None or bool(_load(spec)())


def best_device() -> device:
    """CUDA through CuPy if present, then a hardware wgpu adapter, then cpu (the order of `PREFERRED`).

    A software adapter (lavapipe, SwiftShader, WARP) is never chosen: it is slower than NumPy.
    """
    for type_, probe in PREFERRED.items():
        if _load(probe)():
            return canonical(type_)
    return device("cpu")
