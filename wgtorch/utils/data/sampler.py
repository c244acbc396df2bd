"""Samplers (like ``torch.utils.data.sampler``): iterables of dataset keys (or, for
`BatchSampler`, of lists of keys) that say in which order a DataLoader reads a map-style
dataset. The random ones draw from a `wgtorch.Generator` (the global one, which
``wgtorch.manual_seed`` seeds, when given none)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Generic, TypeVar

import numpy as np

from ... import _creation as C
from ... import _dtype as D
from ..._creation import random_seed
from ..._generator import Generator

T_co = TypeVar("T_co", covariant=True)

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler"]


class Sampler(Generic[T_co]):
    """Base class of samplers: ``__iter__`` yields keys; ``__len__``, where defined, says
    how many (``len(DataLoader)`` needs it)."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class SequentialSampler(Sampler[int]):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """Random keys of ``data_source``: a fresh permutation each pass (repeated, then cut, when
    ``num_samples`` exceeds the length), or with ``replacement`` ``num_samples`` independent
    uniform draws. Without a ``generator``, each pass seeds a new one from the global one."""

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator=None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={self.replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        generator = self.generator
        if generator is None:
            generator = Generator().manual_seed(random_seed())
        if self.replacement:
            for _ in range(self.num_samples // 32):
                yield from C.randint(0, n, (32,), generator=generator, device="cpu").tolist()
            yield from C.randint(0, n, (self.num_samples % 32,), generator=generator, device="cpu").tolist()
        else:
            for _ in range(self.num_samples // n):
                yield from C.randperm(n, generator=generator, device="cpu").tolist()
            yield from C.randperm(n, generator=generator, device="cpu").tolist()[: self.num_samples % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given ``indices`` in a random order (a fresh permutation each pass)."""

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in C.randperm(len(self.indices), generator=self.generator, device="cpu").tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


def multinomial(weights: np.ndarray, num_samples: int, replacement: bool, generator) -> np.ndarray:
    """``num_samples`` keys of ``weights`` (float64, 1-D, not necessarily normalised), drawn with
    probabilities proportional to them, with PyTorch's ``torch.multinomial`` checks. With
    replacement: inverse transform of uniform numbers; without: the ``num_samples`` smallest
    exponential keys ``-log(u) / w`` (Efraimidis and Spirakis), a successive draw without
    replacement."""
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    total = weights.sum()
    if not total > 0:
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > weights.size:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    u = C.rand(num_samples if replacement else weights.size, generator=generator, dtype=D.float64,
               device="cpu").numpy()
    if replacement:
        cdf = np.cumsum(weights / total)
        cdf[-1] = 1.0
        picks = np.searchsorted(cdf, u, side="right")
        return np.minimum(picks, np.flatnonzero(weights)[-1])  # never a zero-weight key at the end
    with np.errstate(divide="ignore"):
        keys = -np.log1p(-u) / weights  # u in [0, 1): 1 - u in (0, 1]; zero weights last
    return np.argsort(keys, kind="stable")[:num_samples]


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` keys of ``weights`` drawn with probabilities proportional to the weights,
    with or without ``replacement``."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator=None) -> None:
        if not _positive_int(num_samples):
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        weights_tensor = C.as_tensor(weights, dtype=D.float64, device="cpu")
        if len(weights_tensor.shape) != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(weights_tensor.shape)}")
        self.weights = weights_tensor
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        weights = self.weights.detach().numpy().astype(np.float64)
        yield from multinomial(weights, self.num_samples, self.replacement, self.generator).tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list]):
    """Lists of ``batch_size`` consecutive keys of ``sampler``; the last one shorter, or dropped
    with ``drop_last``."""

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not _positive_int(batch_size):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list]:
        keys = iter(self.sampler)
        while batch := list(itertools.islice(keys, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
