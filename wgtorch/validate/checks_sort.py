"""Checks of the sort kernel family (``sort.wgsl``): the bitonic sort (init, local, global and
finish passes) and the binary search, against the NumPy backend's stable sort and search."""

from __future__ import annotations

import numpy as np

from .._dtype import bool_, float16, float32, int32, int64
from .core import Case, Kernel, put


def _sort_case(label, host, dim, descending, dt=float32, transpose=False):
    def make(be):
        x = put(be, host, dt)
        if transpose:
            x = be.permute(x, tuple(reversed(range(x.ndim))))
        return lambda: be.sort(x, dim, descending)

    return Case(f"{dt.name} {label}", make, 0.0, 0.0)


def _search_case(label, seq, values, right, sorter=None, dt=float32):
    def make(be):
        s, v = put(be, seq, dt), put(be, values, dt)
        order = None if sorter is None else put(be, sorter, int64)
        return lambda: be.searchsorted(s, v, right, order)

    return Case(f"{dt.name} {label}", make, 0.0, 0.0)


def _values(rng, shape, ties=True):
    a = rng.standard_normal(shape).astype(np.float32)
    return np.round(a * 4) / 2 if ties else a


def sort_kernels() -> list[Kernel]:
    rng = np.random.default_rng(41)
    special = np.array([3, np.nan, -0.0, 1, 0.0, -np.inf, np.nan, np.inf, -0.0, 2], np.float32)
    cases = [_sort_case(f"n={n}, ties, stable", _values(rng, (n,)), 0, False) for n in (1, 63, 65, 257, 513, 2100)]
    cases += [
        _sort_case("n=1000 descending", _values(rng, (1000,)), 0, True),
        _sort_case("NaN, ±inf, -0.0 ascending", special, 0, False),
        _sort_case("NaN, ±inf, -0.0 descending", special, 0, True),
        _sort_case("37 rows of 300, dim 1", _values(rng, (37, 300)), 1, False),
        _sort_case("dim 0 of 300×37", _values(rng, (300, 37)), 0, True),
        _sort_case("transposed view, dim 1", _values(rng, (50, 9)), 1, False, transpose=True),
        _sort_case("4096 rows of 3", _values(rng, (4096, 3)), 1, False),
        _sort_case("n=700", rng.integers(-50, 50, 700), 0, False, dt=int32),
        _sort_case("n=700", rng.integers(-(2**31), 2**31 - 1, 700), 0, True, dt=int64),
        _sort_case("n=300", rng.random(300) > 0.5, 0, False, dt=bool_),
    ]
    half = [
        _sort_case("n=600", _values(rng, (600,)), 0, False, dt=float16),
        _sort_case("NaN, ±inf, -0.0 descending", special, 0, True, dt=float16),
    ]
    seq = np.sort(_values(rng, (1000,)))
    queries = np.concatenate([_values(rng, (500,)), [np.nan, np.inf, -np.inf]]).astype(np.float32)
    unsorted = rng.permutation(64).astype(np.float32)
    search = [
        _search_case("1000 sorted, left", seq, queries, False),
        _search_case("1000 sorted, right", seq, queries, True),
        _search_case("rows of 33, right", np.sort(_values(rng, (5, 33)), 1), _values(rng, (5, 70)), True),
        _search_case("with sorter", unsorted, _values(rng, (40,)) * 20, False, np.argsort(unsorted)),
        _search_case("empty sequence", seq[:0], queries, False),
        _search_case("ints", np.arange(0, 300, 3), rng.integers(-5, 310, 200), False, dt=int32),
    ]
    return [
        Kernel("sort", "sort", cases, timed=3),
        Kernel("sort", "sort (float16)", half, requires="shader-f16"),
        Kernel("sort", "searchsorted", search, timed=0),
    ]


__all__ = ["sort_kernels"]
