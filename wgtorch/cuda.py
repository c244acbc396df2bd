"""``wgtorch.cuda``: NVIDIA GPUs through CuPy (``pip install 'wgtorch[cuda12]'`` or ``[cuda13]``).

Like ``torch.cuda``: `is_available` is False, quietly, without CuPy, without a driver or without
a GPU; the other functions raise a RuntimeError that says how to install CuPy when it is missing.
"""

from __future__ import annotations

import functools

from ._creation import initial_seed as _initial
from ._creation import manual_seed as _manual_seed
from ._creation import seed as _seed
from ._device import canonical
from .random import get_rng_state as _get
from .random import set_rng_state as _set

_INSTALL = ("the 'cuda' device needs CuPy and an NVIDIA GPU: pip install 'wgtorch[cuda12]' (CUDA 12) or "
            "'wgtorch[cuda13]' (CUDA 13), which install cupy-cuda12x or cupy-cuda13x")


def _require_cupy():
    """The cupy module, once it has found at least one GPU; else a RuntimeError saying why."""
    try:
        import cupy
    except ImportError:
        raise RuntimeError(_INSTALL + "; CuPy is not installed") from None
    except Exception as e:  # a broken install (missing CUDA libraries) fails in other ways
        raise RuntimeError(f"{_INSTALL}; importing CuPy failed: {e}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, or a driver too old for this CuPy
        raise RuntimeError(f"{_INSTALL}; CuPy found no usable GPU: {e}") from None
    if count < 1:
        raise RuntimeError(f"{_INSTALL}; CuPy found no GPU")
    return cupy


@functools.cache
def is_available() -> bool:
    """Whether the "cuda" device can be used (CuPy installed and at least one GPU visible)."""
    try:
        _require_cupy()
    except RuntimeError:
        return False
    return True


def device_count() -> int:
    """The number of visible CUDA devices (0 without CuPy or a GPU)."""
    return _require_cupy().cuda.runtime.getDeviceCount() if is_available() else 0


def _device(cp, index: int | None):
    return cp.cuda.Device() if index is None else cp.cuda.Device(index)


def _index(device) -> int | None:
    """``None``, an int, "cuda:N" or a ``wgtorch.device`` -> the device number (None: current)."""
    if device is None or isinstance(device, int):
        return device

    d = canonical(device)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    return d.index


def get_device_name(device=None) -> str:
    cp = _require_cupy()
    index = _index(device)
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id if index is None else index)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else name


def current_device() -> int:
    return _require_cupy().cuda.Device().id


def synchronize(device=None) -> None:
    """Wait until every stream of the device (the current one by default) has finished."""
    cp = _require_cupy()
    _device(cp, _index(device)).synchronize()


def memory_allocated(device=None) -> int:
    """Bytes held by live arrays in CuPy's memory pool of the device."""
    cp = _require_cupy()
    with _device(cp, _index(device)):
        return cp.get_default_memory_pool().used_bytes()


def memory_reserved(device=None) -> int:
    """Bytes CuPy's memory pool of the device holds, in use or cached."""
    cp = _require_cupy()
    with _device(cp, _index(device)):
        return cp.get_default_memory_pool().total_bytes()


def empty_cache() -> None:
    """Return the memory pool's cached, unused blocks to the driver (current device)."""
    cp = _require_cupy()
    cp.get_default_memory_pool().free_all_blocks()
    cp.get_default_pinned_memory_pool().free_all_blocks()


def manual_seed(seed: int) -> None:
    """Seed the random numbers of CUDA tensors. wgtorch has one counter-based generator for every
    device (the same seed gives the same numbers on cpu, wgpu and cuda), so this seeds it, as
    ``wgtorch.manual_seed`` does."""

    _manual_seed(seed)


manual_seed_all = manual_seed


def set_device(device) -> None:
    """Make ``device`` CuPy's current CUDA device (wgtorch's own tensors keep the device they
    name: ``"cuda"`` is ``"cuda:0"``)."""
    index = _index(device)
    if index is not None:
        _device(_require_cupy(), index).use()


# -- random number state (one generator serves every device: see wgtorch.random) --------------------
def get_rng_state(device="cuda"):
    """The state of the generator CUDA tensors draw from: wgtorch's global one (a uint8 tensor)."""

    return _get()


def set_rng_state(new_state, device="cuda") -> None:
    """Restore the generator CUDA tensors draw from (the global one)."""

    _set(new_state)


def get_rng_state_all() -> list:
    """One state per visible CUDA device (all the same: one generator)."""
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state_all(new_states) -> None:
    """Restore the states of `get_rng_state_all` (one generator: the last one wins)."""
    for state in new_states:
        set_rng_state(state)


def seed() -> None:
    """Seed the generator of CUDA tensors (the global one) with a non-deterministic number."""

    _seed()


seed_all = seed


def initial_seed() -> int:
    """The seed of the generator CUDA tensors draw from (the global one)."""

    return _initial()
# -- amp: torch.cuda.amp's deprecated autocast and GradScaler (wgtorch.amp has the current ones) --
import sys as _sys  # noqa: E402

from .amp import _cuda_amp as amp  # noqa: E402

_sys.modules[__name__ + ".amp"] = amp  # so that `import wgtorch.cuda.amp` works, as for torch
