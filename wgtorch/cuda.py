"""``wgtorch.cuda``: NVIDIA GPUs through CuPy (``pip install wgtorch[cuda12]`` or ``[cuda13]``)."""

from __future__ import annotations

import functools

_INSTALL = ("the 'cuda' device needs CuPy and an NVIDIA GPU: pip install 'wgtorch[cuda12]' (CUDA 12) or "
            "'wgtorch[cuda13]' (CUDA 13)")


def _require_cupy():
    try:
        import cupy
    except ImportError:
        raise RuntimeError(_INSTALL + "; CuPy is not installed") from None
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        raise RuntimeError(f"{_INSTALL}; CuPy found no usable GPU: {e}") from None
    return cupy


@functools.cache
def is_available() -> bool:
    try:
        return _require_cupy().cuda.runtime.getDeviceCount() > 0
    except RuntimeError:
        return False


def device_count() -> int:
    return _require_cupy().cuda.runtime.getDeviceCount() if is_available() else 0


def get_device_name(index: int = 0) -> str:
    cp = _require_cupy()
    name = cp.cuda.runtime.getDeviceProperties(index)["name"]
    return name.decode() if isinstance(name, bytes) else name


def synchronize(index: int | None = None) -> None:
    _require_cupy().cuda.get_current_stream().synchronize()


def memory_allocated(index: int | None = None) -> int:
    return _require_cupy().get_default_memory_pool().used_bytes()


def memory_reserved(index: int | None = None) -> int:
    return _require_cupy().get_default_memory_pool().total_bytes()


def empty_cache() -> None:
    _require_cupy().get_default_memory_pool().free_all_blocks()
