"""``torch.accelerator``: the device-neutral view of this machine's accelerator.

The accelerator is CUDA (through CuPy) where it is available, else the first *hardware* WebGPU
adapter; a software adapter (lavapipe, SwiftShader, WARP) is not one, because it is slower than
the cpu device. So ``device = torch.accelerator.current_accelerator() or "cpu"``, as
pytorch/examples write it, picks what `wgtorch.best_device` picks.
"""

from __future__ import annotations

from . import cuda, wgpu
from ._device import device

_index = {"cuda": 0, "wgpu": 0}


def _kind() -> str | None:
    if cuda.is_available():
        return "cuda"
    if wgpu.is_available() and wgpu.is_hardware():
        return "wgpu"
    return None


def is_available() -> bool:
    """Whether an accelerator (CUDA, or a hardware WebGPU adapter) is present."""
    return _kind() is not None


def current_accelerator(check_available: bool = False) -> device | None:
    """The accelerator's device type (``device("cuda")`` or ``device("wgpu")``), or None."""
    kind = _kind()
    return None if kind is None else device(kind)


def device_count() -> int:
    kind = _kind()
    if kind is None:
        return 0
    return cuda.device_count() if kind == "cuda" else sum(wgpu.is_hardware(i) for i in range(wgpu.device_count()))


def current_device_index() -> int:
    kind = _kind()
    if kind is None:
        raise RuntimeError("torch.accelerator: no accelerator is available")
    return _index[kind]


def set_device_index(index) -> None:
    kind = _kind()
    if kind is None:
        raise RuntimeError("torch.accelerator: no accelerator is available")
    index = index.index if isinstance(index, device) else int(index)
    if not 0 <= index < device_count():
        raise RuntimeError(f"torch.accelerator: device index {index} is out of range ({device_count()} devices)")
    _index[kind] = index


current_device_idx, set_device_idx = current_device_index, set_device_index


def synchronize(device_index=None) -> None:
    """Wait for the accelerator's queued work."""
    kind = _kind()
    if kind == "cuda":
        cuda.synchronize(device_index)
    elif kind == "wgpu":
        wgpu.synchronize(device_index)
