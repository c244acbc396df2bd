"""Sampling from distributions: ``bernoulli``, ``normal``, ``poisson``, ``randint_like`` and the
in-place fills (``Tensor.uniform_``, ``normal_``, ``random_``, ``exponential_``, ``geometric_``,
``cauchy_``, ``log_normal_``, ``bernoulli_``); ``multinomial`` is in `wgtorch._multinomial`.

Every draw happens on the tensor's device: the Philox kernel (`wgtorch._backends.random`) gives
uniform and normal numbers, and the other distributions are elementwise transforms of them
(exponential = -log(1 - u) / lambda, ...), run by the device's elementwise kernels. The numbers
come from the ``generator=`` given (or the global one), so ``manual_seed`` and a Generator's state
reproduce them; they cannot equal PyTorch's numbers (a different generator), only follow the
same distributions.

Random tensors carry PyTorch's (zero) gradients: ``normal(mean, std)`` with a mean that requires
grad has a grad_fn whose gradient is zero, as in PyTorch, which does not reparameterise.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from . import _dtype as D
from ._broadcast import broadcast_shapes
from ._creation import _draw, _like, _random, _work_dtype, randint, uniform, zeros
from ._device import canonical, get_backend, get_default_device
from ._generator import check_generator
from ._multinomial import multinomial
from ._poisson import poisson as _poisson
from ._tensor import TensorCore
from .autograd import no_grad
from .autograd.function import Function
from .ops.registry import TORCH_NAMES
from .ops.shape import apply_inplace

if TYPE_CHECKING:
    from ._tensor_class import Tensor


def _dev(device):
    return get_default_device() if device is None else canonical(device)


def _standard_normal(gen, shape, dev, dt) -> Tensor:
    return _draw(gen, "normal", tuple(shape), 0.0, 1.0, _work_dtype(dt), dev, False)


class Sampling(Function):
    """A sample that does not depend differentiably on its parameters (PyTorch's rule for
    bernoulli, normal, poisson ...): the parameters get zero gradients."""

    @staticmethod
    def forward(ctx, sample, *params):
        ctx.shapes = [(p.shape, p.dtype, p.device) if isinstance(p, TensorCore) else None for p in params]
        return sample

    @staticmethod
    def backward(ctx, g):
        return (None, *[None if s is None else zeros(s[0], dtype=s[1], device=s[2]) for s in ctx.shapes])


def _with_zero_grad(sample: Tensor, *params) -> Tensor:
    return Sampling.apply(sample, *params)


def _fill(self: Tensor, values_fn) -> Tensor:
    """Overwrite ``self`` with ``values_fn()`` (a tensor of self's shape), through its view; with
    autograd on, self's history is replaced by a zero-gradient node (as PyTorch's in-place fills)."""

    if self.numel() == 0:
        self._check_inplace()
        return self
    with no_grad():
        values = values_fn()

    def compute(source):
        return _with_zero_grad(values.to(self.dtype), source)

    return apply_inplace(self, compute)


def _continuous(self: Tensor, name: str, long_name: str | None = None):
    if not self.dtype.is_floating_point:
        if long_name is None:
            raise NotImplementedError(f"\"{name}\" not implemented for '{TORCH_NAMES[self.dtype.name]}'")
        raise RuntimeError(
            f"{long_name} distribution is a continuous probability distribution. dtype must be a "
            f"floating point but you specified {TORCH_NAMES[self.dtype.name]}"
        )


def _from(kw: dict, default, fn: str):
    """PyTorch's ``from=`` keyword (a Python keyword, so it arrives in **kw)."""
    value = kw.pop("from", default)
    if kw:
        raise TypeError(f"{fn}() got an unexpected keyword argument '{next(iter(kw))}'")
    return value


# -- in-place fills ---------------------------------------------------------------------------------
def uniform_(self: Tensor, from_=0.0, to=1.0, *, generator=None, **kw) -> Tensor:
    """Fill with numbers uniform in [from, to)."""
    from_ = _from(kw, from_, "uniform_")
    _continuous(self, "check_uniform_bounds")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={from_} > to={to}")
    gen = check_generator(generator, self.device, "uniform_")
    dt = self.dtype if self.dtype.is_floating_point else D.float32
    return _fill(
        self, lambda: _draw(gen, "uniform", tuple(self.shape), float(from_), float(to), dt, self.device, False)
    )


def normal_(self: Tensor, mean=0.0, std=1.0, *, generator=None) -> Tensor:
    """Fill with normal numbers of mean ``mean`` and standard deviation ``std``."""
    _continuous(self, "normal_kernel_cpu")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")
    gen = check_generator(generator, self.device, "normal_")
    return _fill(
        self, lambda: _draw(gen, "normal", tuple(self.shape), float(mean), float(std), self.dtype, self.device, False)
    )


def _num(v) -> str:
    """A number as PyTorch's messages print it (-1, not -1.0)."""
    return str(int(v)) if float(v) == int(v) else str(v)


def exponential_(self: Tensor, lambd=1.0, *, generator=None) -> Tensor:
    """Fill with exponential numbers of rate ``lambd``: -log(1 - u) / lambd."""
    _continuous(self, "exponential", "Exponential")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={_num(lambd)}")
    gen = check_generator(generator, self.device, "exponential_")
    return _fill(self, lambda: _neg_log1m(uniform(gen, self.shape, self.device, self.dtype)) / lambd)


def _neg_log1m(u: Tensor) -> Tensor:
    """-log(1 - u): u is in [0, 1), so 1 - u is in (0, 1] (exact) and the result is finite."""
    return -((1 - u).log())


def geometric_(self: Tensor, p, *, generator=None) -> Tensor:
    """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...):
    ceil(log(1 - u) / log(1 - p))."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={_num(p)}")
    gen = check_generator(generator, self.device, "geometric_")

    def values():
        u = uniform(gen, self.shape, self.device, self.dtype)
        return ((1 - u).log() / math.log1p(-p)).ceil().clamp(min=1)  # u = 0 would give 0 trials

    return _fill(self, values)


def cauchy_(self: Tensor, median=0.0, sigma=1.0, *, generator=None) -> Tensor:
    """Fill with Cauchy numbers: median + sigma * tan(pi * (u - 1/2))."""
    _continuous(self, "cauchy", "Cauchy")
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={_num(sigma)}")
    gen = check_generator(generator, self.device, "cauchy_")
    return _fill(
        self, lambda: ((uniform(gen, self.shape, self.device, self.dtype) - 0.5) * math.pi).tan() * sigma + median
    )


def log_normal_(self: Tensor, mean=1.0, std=2.0, *, generator=None) -> Tensor:
    """Fill with exp(X), X normal of mean ``mean`` and standard deviation ``std``."""
    _continuous(self, "log_normal_cpu")
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={_num(std)}")
    gen = check_generator(generator, self.device, "log_normal_")
    return _fill(
        self,
        lambda: _draw(
            gen, "normal", tuple(self.shape), float(mean), float(std), _work_dtype(self.dtype), self.device, False
        ).exp(),
    )


def _random_range(dt: D.dtype, device) -> int:
    """random_()'s default upper bound (exclusive): PyTorch's [0, 2**mantissa] for floats, the
    dtype's maximum for integers (int64 stored as int32 on wgpu without shader-int64: its maximum there)."""
    if dt is D.bool_:
        return 2
    if dt.is_floating_point:
        return 2 ** {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}[dt.name] + 1
    if dt is D.int64 and D.int64_is_narrow(get_backend(device)):
        return 2**31
    import numpy as np

    return int(np.iinfo(dt.np).max) + 1


def random_(self: Tensor, from_=0, to=None, *, generator=None, **kw) -> Tensor:
    """Fill with integers uniform in [from, to): ``random_(to)``, ``random_(from, to)``, or
    ``random_()`` for [0, 2**mantissa] (floats) or [0, max] (integers)."""
    from_ = _from(kw, from_, "random_")
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        to = _random_range(self.dtype, self.device)
    from_, to = int(from_), int(to)
    if from_ >= to:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={from_} >= to={to}")
    if not self.dtype.is_floating_point and self.dtype is not D.bool_:
        import numpy as np

        info = np.iinfo(self.dtype.np)
        if from_ < info.min or to - 1 > info.max:
            what = "to - 1" if to - 1 > info.max else "from"
            raise RuntimeError(f"{what} is out of bounds for {self.dtype.name}")
    gen = check_generator(generator, self.device, "random_")
    return _fill(self, lambda: _randint(gen, tuple(self.shape), from_, to, self.dtype, self.device))


def _randint(gen, shape, low: int, high: int, dt: D.dtype, dev) -> Tensor:
    """Integers in [low, high) as ``dt``. Ranges over 2**32 (int64 and float64 on cpu/cuda) combine
    two draws into 63 bits, then take them modulo the range (a bias under range / 2**63)."""
    span = high - low
    if span <= 2**32:
        # floats draw integers first: the kernel's float conversion is exact only below 2**24
        return _draw(gen, "randint", shape, low, high, D.int64 if dt.is_floating_point else dt, dev, False)
    if D.int64_is_narrow(get_backend(dev)):
        raise RuntimeError(
            f"random_: on wgpu, the range to - from = {span} must be at most 2**32 (int64 is stored as int32 there)"
        )
    lo = _draw(gen, "randint", shape, 0, 2**32, D.int64, dev, False)
    hi = _draw(gen, "randint", shape, 0, 2**31, D.int64, dev, False)
    v = hi * 2**32 + lo
    if span < 2**63:
        v = v.remainder(span)
    return (v + low) if low else v


def bernoulli_(self: Tensor, p=0.5, *, generator=None) -> Tensor:
    """Fill with 1 with probability ``p`` (a number or a tensor broadcast to self), else 0."""
    if isinstance(p, TensorCore):
        _check_probabilities(p)
    elif not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    gen = check_generator(generator, self.device, "bernoulli_")
    return _fill(
        self,
        lambda: uniform(gen, self.shape, self.device, self.dtype)
        < (p.to(self.device) if isinstance(p, TensorCore) else p),
    )


def _check_probabilities(p: Tensor) -> None:
    if not p.dtype.is_floating_point:
        raise NotImplementedError(f"\"bernoulli_tensor_cpu_p_\" not implemented for '{TORCH_NAMES[p.dtype.name]}'")
    if p.numel() and not bool(((p >= 0) & (p <= 1)).all()):  # NaN fails both
        raise RuntimeError(
            "Expected p_in >= 0 && p_in <= 1 to be true, but got false. (bernoulli: every "
            "probability must be in [0, 1])"
        )


# -- functions --------------------------------------------------------------------------------------
def bernoulli(input: Tensor, p=None, *, generator=None, out=None) -> Tensor:
    """1 with probability ``input`` (elementwise; or with probability ``p`` where given), else 0,
    in input's dtype."""
    if out is not None:
        raise TypeError("bernoulli(): out= is not supported by wgtorch")
    if p is not None:
        return bernoulli_(input.detach().new_empty(input.shape), p, generator=generator)
    _check_probabilities(input)
    gen = check_generator(generator, input.device, "bernoulli")
    with no_grad():
        sample = (uniform(gen, input.shape, input.device, input.dtype) < input.detach()).to(input.dtype)
    return _with_zero_grad(sample, input)


def normal(
    mean, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False, out=None
) -> Tensor:
    """Normal numbers: ``normal(mean, std)`` with tensor mean and/or std (broadcast together), or
    ``normal(mean, std, size)`` with numbers for both."""
    if out is not None:
        raise TypeError("normal(): out= is not supported by wgtorch")
    tensors = [x for x in (mean, std) if isinstance(x, TensorCore)]
    if not tensors:
        if size is None:
            raise TypeError(
                "normal() received an invalid combination of arguments: with float mean and std, "
                "size is required: normal(mean, std, size)"
            )
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")

        return _random("normal", (size,), float(mean), float(std), dtype, device, requires_grad, generator, "normal")
    if size is not None and tuple(size) != tuple(_broadcast(mean, std)):
        raise RuntimeError(
            f"normal(): size {list(size)} does not match the broadcast shape of mean and std "
            f"{list(_broadcast(mean, std))}"
        )
    dev = tensors[0].device
    dt = D.result_type(*tensors)
    if not dt.is_floating_point:
        raise NotImplementedError(f"\"normal_kernel_cpu\" not implemented for '{TORCH_NAMES[dt.name]}'")
    if isinstance(std, TensorCore):
        if std.numel() and not bool((std >= 0).all()):
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")
    gen = check_generator(generator, dev, "normal")
    shape = _broadcast(mean, std)
    with no_grad():
        m = mean.detach() if isinstance(mean, TensorCore) else mean
        s = std.detach() if isinstance(std, TensorCore) else std
        sample = (_standard_normal(gen, shape, dev, dt) * s + m).to(dt)
    return _with_zero_grad(sample, *tensors)


def _broadcast(a, b) -> tuple:
    return broadcast_shapes([tuple(x.shape) for x in (a, b) if isinstance(x, TensorCore)])


def randint_like(
    input: Tensor, low=0, high=None, *, generator=None, dtype=None, device=None, requires_grad=False
) -> Tensor:
    """Integers in [low, high) of input's shape: ``randint_like(input, high)`` or
    ``randint_like(input, low, high)``."""

    if high is None:
        low, high = 0, low
    dt, dev = _like(input, dtype, device)
    return randint(
        low, high, tuple(input.shape), generator=generator, dtype=dt, device=dev, requires_grad=requires_grad
    )


def poisson(input: Tensor, generator=None) -> Tensor:
    """Poisson numbers of rates ``input`` (elementwise), in input's dtype. See `_poisson`."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"poisson_cpu\" not implemented for '{TORCH_NAMES[input.dtype.name]}'")
    gen = check_generator(generator, input.device, "poisson")
    rates = input.detach()
    if rates.numel() and not bool((rates >= 0).all()):  # NaN fails too
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    with no_grad():
        sample = _poisson(rates, gen).to(input.dtype)
    return _with_zero_grad(sample, input)


def _multinomial(self, num_samples, replacement=False, *, generator=None):
    return multinomial(self, num_samples, replacement, generator=generator)


_multinomial.__doc__ = "See `wgtorch.multinomial`."
#: Tensor methods (bound in `wgtorch._tensor_methods.misc`)
TENSOR_METHODS = {
    "bernoulli": bernoulli,
    "bernoulli_": bernoulli_,
    "normal_": normal_,
    "uniform_": uniform_,
    "random_": random_,
    "exponential_": exponential_,
    "geometric_": geometric_,
    "cauchy_": cauchy_,
    "log_normal_": log_normal_,
    "multinomial": _multinomial,
}

__all__ = [
    "bernoulli",
    "bernoulli_",
    "cauchy_",
    "exponential_",
    "geometric_",
    "log_normal_",
    "normal",
    "normal_",
    "poisson",
    "randint_like",
    "random_",
    "uniform_",
]
