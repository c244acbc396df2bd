"""``wgtorch.random``: the global random number generator, as ``torch.random``.

wgtorch has one counter-based generator for every device (`wgtorch.default_generator`), so the
state these functions save and restore covers cpu, wgpu and cuda draws alike: a 16-byte uint8
tensor (seed and stream position), not PyTorch's 5056-byte Mersenne Twister state.
"""

from __future__ import annotations

import contextlib

from ._creation import initial_seed, manual_seed, seed
from ._generator import default_generator


def get_rng_state():
    """The global generator's state, a uint8 tensor (see `set_rng_state`)."""
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    """Restore the global generator's state from `get_rng_state`: later draws repeat."""
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(
    devices=None,
    enabled: bool = True,
    _caller: str = "fork_rng",
    _devices_kw: str = "devices",
    device_type: str = "cuda",
):
    """A context in which the global generator may be used freely: its state is restored on exit.
    ``devices`` and ``device_type`` are accepted for PyTorch's signature; the one generator serves
    every device, so there is no per-device state to fork."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


__all__ = ["set_rng_state", "get_rng_state", "manual_seed", "seed", "initial_seed", "fork_rng"]
