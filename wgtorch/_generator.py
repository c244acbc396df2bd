"""``wgtorch.Generator``: the state of the counter-based random number generator.

Every random number in wgtorch comes from the Philox4x32-10 stream of a 64-bit seed
(`wgtorch._backends.random`): element ``i`` of a draw of ``n`` numbers that starts at position
``counter`` of the stream is a function of ``(seed, counter + i)`` alone, so the same state
gives the same numbers on every device. A Generator is that ``(seed, counter)`` pair; each draw
takes the next ``n`` positions, rounded up to a whole Philox block of four.

``wgtorch.default_generator`` is the global one, which ``wgtorch.manual_seed`` seeds and every
random function uses unless it is given ``generator=``.
"""

from __future__ import annotations

import operator
import secrets

import numpy as np

from . import _dtype as D
from ._device import canonical
from ._tensor import TensorCore, tensor

_UINT64 = 2**64
_STATE_BYTES = 16  # seed and counter, two little-endian uint64
_TORCH_DEFAULT_SEED = 67280421310721  # what torch.Generator().initial_seed() gives


class Generator:
    """A random number generator state (like ``torch.Generator``)::

        g = wgtorch.Generator().manual_seed(0)
        x = wgtorch.rand(3, generator=g)

    ``device`` is the device type whose tensors it may fill (as in PyTorch, a "cpu" generator
    serves cpu tensors only); the numbers themselves do not depend on the device."""

    def __init__(self, device="cpu"):
        self._device = canonical(device)
        self._seed = _TORCH_DEFAULT_SEED
        self._counter = 0

    @property
    def device(self):
        return self._device

    def manual_seed(self, seed) -> Generator:
        """Seed the generator (an int in [-2**63, 2**64); negative seeds wrap to 2**64 + seed)
        and restart its stream. Returns the generator."""
        if isinstance(seed, bool) or not hasattr(seed, "__index__"):
            raise RuntimeError(f"manual_seed expected a long, but got {type(seed).__name__}")
        seed = operator.index(seed)
        if not -(2**63) <= seed < _UINT64:
            raise ValueError("Overflow when unpacking long long")
        self._seed = seed % _UINT64
        self._counter = 0
        return self

    def seed(self) -> int:
        """Seed the generator with a non-deterministic 64-bit number and return it."""
        self.manual_seed(secrets.randbits(64))
        return self._seed

    def initial_seed(self) -> int:
        """The seed the generator was last seeded with."""
        return self._seed

    def get_state(self):
        """The state as a uint8 tensor of 16 bytes: the seed and the stream position."""
        raw = np.array([self._seed, self._counter], dtype="<u8").view(np.uint8)
        return tensor(raw, device="cpu")

    def set_state(self, new_state) -> Generator:
        """Restore a state from `get_state`. Returns the generator."""

        if not isinstance(new_state, TensorCore):
            raise TypeError(f"expected a torch.ByteTensor, but got {type(new_state).__name__}")
        if new_state.dtype is not D.uint8:
            raise TypeError("RNG state must be a torch.ByteTensor")
        if new_state.numel() != _STATE_BYTES:
            raise RuntimeError(f"Expected a Philox generator state of size {_STATE_BYTES} but found the input RNG "
                               f"state size to be {new_state.numel()}")
        seed, counter = np.ascontiguousarray(new_state.detach().numpy().reshape(-1)).view("<u8").tolist()
        self._seed, self._counter = int(seed), int(counter)
        return self

    def _take(self, n: int) -> tuple[int, int]:
        """(seed, counter) for a draw of ``n`` numbers, and move past them: every draw starts
        a fresh block of four."""
        seed, counter = self._seed, self._counter
        self._counter += (n + 3) // 4 * 4
        return seed, counter

    def __getstate__(self):
        return {"device": str(self._device), "seed": self._seed, "counter": self._counter}

    def __setstate__(self, state):
        self._device = canonical(state["device"])
        self._seed, self._counter = state["seed"], state["counter"]

    def __repr__(self) -> str:
        return f"<wgtorch.Generator object at {hex(id(self))}>"


default_generator = Generator()
default_generator._seed = 0x5EED  # wgtorch's historical start: the global stream is unchanged


def check_generator(generator, device, fn: str) -> Generator:
    """The generator a random function on ``device`` draws from: ``generator`` itself (which
    must be a Generator of ``device``'s type) or, for None, the global one. The global one
    serves every device (it stands for PyTorch's per-device default generators, which
    ``manual_seed`` seeds together)."""
    if generator is None or generator is default_generator:
        return default_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"{fn}(): argument 'generator' must be wgtorch.Generator, not {type(generator).__name__}")
    if generator.device.type != device.type:
        raise RuntimeError(f"Expected a '{device.type}' device type for generator but found "
                           f"'{generator.device.type}'")
    return generator
