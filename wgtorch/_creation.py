"""Creating tensors: from data, filled, ranges and random numbers (generated on the device)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from . import _dtype as D
from ._device import canonical, get_backend, get_default_device
from ._generator import Generator, check_generator, default_generator

# Building a tensor from data lives with the class (Tensor(data) needs it); re-exported here.
from ._tensor import TensorCore, _backend, _finish, _wrap, tensor

if TYPE_CHECKING:
    from ._tensor_class import Tensor


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    shape = tuple(map(int, size))
    if shape and min(shape) < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(shape)}")
    return shape


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, TensorCore) and dtype is None and device is None:
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a: np.ndarray) -> Tensor:
    return tensor(a, device="cpu")


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    be = _backend(device)
    return _finish(_wrap(be.empty(_shape(size), dt), be, dt), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(_shape((size,)), fill_value, dtype, device, requires_grad)


def _filled(shape: tuple, fill_value, dtype, device, requires_grad) -> Tensor:
    dt = D.to_dtype(dtype) if dtype is not None else D.scalar_dtype(fill_value)
    be = _backend(device)
    data = be.empty(shape, dt)
    if math.prod(shape):
        be.elementwise("copy", [fill_value], dt, dt, out=data)
    return _finish(_wrap(data, be, dt), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(_shape(size), 0, dtype or D.get_default_dtype(), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(_shape(size), 1, dtype or D.get_default_dtype(), device, requires_grad)


def _like(x: Tensor, dtype, device):
    return (dtype or x.dtype), (device or x.device)


def empty_like(x, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(x, dtype, device)
    return empty(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(x, dtype, device)
    return zeros(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(x, dtype, device)
    return ones(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(x, dtype, device)
    return full(x.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    start, end, step = (x.item() if isinstance(x, TensorCore) else x for x in (start, end, step))
    if step == 0:
        raise RuntimeError("arange(): step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange(): upper bound and larger bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step})")
    if dtype is None:
        dtype = D.get_default_dtype() if any(isinstance(v, float) for v in (start, end, step)) else D.int64
    dt = D.to_dtype(dtype)
    n = max(0, math.ceil((end - start) / step))
    be = _backend(device)
    return _finish(_wrap(be.arange(start, step, n, dt), be, dt), requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad=False) -> Tensor:
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    return tensor(np.linspace(start, end, steps), dtype=dt, device=device, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    return tensor(np.eye(n, n if m is None else m), dtype=dt, device=device, requires_grad=requires_grad)


# -- random numbers ----------------------------------------------------------------------------
# Every draw takes its (seed, counter) from a `Generator`: the one passed as ``generator=``, or
# the global `default_generator` that ``manual_seed`` seeds.


def manual_seed(seed) -> Generator:
    """Seed the global generator (``int(seed)``, in [-2**63, 2**64)) and restart its stream."""
    return default_generator.manual_seed(int(seed))


def seed() -> int:
    """Seed the global generator with a non-deterministic 64-bit number and return it."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed of the global generator."""
    return default_generator.initial_seed()


def _random(kind, size, low, high, dtype, device, requires_grad, generator=None, fn="random"):
    """``kind`` numbers ("uniform", "normal" or "randint", see `backends.random`) of shape
    ``size`` on ``device``, drawn from ``generator`` (the global generator for None)."""
    dev = get_default_device() if device is None else canonical(device)
    return _draw(check_generator(generator, dev, fn), kind, _shape(size), low, high, dtype, dev, requires_grad)


def random_seed(generator: Generator | None = None) -> int:
    """A non-negative int64 drawn from ``generator`` (the global one for None), as
    ``torch.empty((), dtype=torch.int64).random_(generator=generator).item()`` gives: the
    DataLoader's worker base seed and a RandomSampler's per-epoch seed."""
    lo, hi = _random("randint", (2,), 0, 2**32, D.int64, "cpu", False, generator, "random_").tolist()
    return (hi & 0x7FFFFFFF) << 32 | lo


def _draw(gen: Generator, kind, shape, low, high, dtype, dev, requires_grad) -> Tensor:
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    be = get_backend(dev)
    be.check_dtype(dt)
    seed_, counter = gen._take(math.prod(shape))
    cap = getattr(getattr(be, "rt", None), "_capture", None)  # a wgpu graph capture records the draw
    if cap is None:
        return _finish(_wrap(be.random(kind, shape, dt, seed_, counter, low, high), be, dt), requires_grad)
    cap.drawing = gen  # so that each replay draws the generator's next numbers (wgpu/graph.py)
    try:
        out = be.random(kind, shape, dt, seed_, counter, low, high)
    finally:
        cap.drawing = None
    return _finish(_wrap(out, be, dt), requires_grad)


# -- uniform numbers for the samplers built on them (_sampling, _poisson, _multinomial) --


def _work_dtype(dt: D.dtype) -> D.dtype:
    """The dtype a transform computes in: float64 for float64 (cpu), else float32."""
    return D.float64 if dt is D.float64 else D.float32


def uniform(gen, shape, dev, dt=D.float32, low=0.0, high=1.0) -> Tensor:
    return _draw(gen, "uniform", tuple(shape), low, high, _work_dtype(dt), dev, False)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform numbers in [0, 1)."""
    return _random("uniform", size, 0.0, 1.0, dtype, device, requires_grad, generator, "rand")


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal numbers."""
    return _random("normal", size, 0.0, 1.0, dtype, device, requires_grad, generator, "randn")


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Integers in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    if isinstance(high, (tuple, list)) and size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _random("randint", (size,), low, high, dtype or D.int64, device, requires_grad, generator, "randint")


def rand_like(x, *, generator=None, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(x, dtype, device)
    return rand(x.shape, generator=generator, dtype=dt, device=dev, requires_grad=requires_grad)


def randn_like(x, *, generator=None, dtype=None, device=None, requires_grad=False):
    dt, dev = _like(x, dtype, device)
    return randn(x.shape, generator=generator, dtype=dt, device=dev, requires_grad=requires_grad)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of 0 .. n - 1: the stable argsort of ``n`` uniform numbers drawn on
    the cpu (from ``generator``, which must be of ``device``'s type, or the global one)."""
    n = int(n)
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    dev = get_default_device() if device is None else canonical(device)
    gen = check_generator(generator, dev, "randperm")
    keys = _draw(gen, "uniform", (n,), 0.0, 1.0, None, canonical("cpu"), False).numpy()
    return tensor(np.argsort(keys, kind="stable"), dtype=dtype or D.int64, device=dev, requires_grad=requires_grad)
