"""Checks of the matmul, random and index kernel families (``matmul.wgsl``, ``random.wgsl``,
``index.wgsl``)."""

from __future__ import annotations

import numpy as np

from .._dtype import float16, float32, int32, int64
from .core import Case, Kernel, put

LARGE_ROWS = 65535 + 64    # more output tiles / rows than one grid dimension holds


def _rng(seed):
    return np.random.default_rng(seed)


# -- matmul ------------------------------------------------------------------------------------
def _matmul_tolerance(a: np.ndarray, b: np.ndarray, eps: float) -> float:
    """Float sums of K products in another order: allow ~8 eps·(|a|@|b|)."""
    if a.size == 0 or b.size == 0:
        return 1e-6
    bound = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    return float(8 * eps * bound.max()) + 1e-6


def _matmul_case(label, a, b, ta=False, tb=False, step=False, config=None, dt=float32, large=False):
    """a, b: host arrays in the shape uploaded; ``ta``/``tb`` transpose the last two dims on the
    device (a strided view), ``step`` takes every other row of a."""
    la = np.swapaxes(a, -1, -2) if ta else a
    lb = np.swapaxes(b, -1, -2) if tb else b
    if step:
        la = la[..., ::2, :]
    eps = float(np.finfo(np.float16 if dt is float16 else np.float32).eps)
    atol = _matmul_tolerance(la, lb, eps)

    def make(be):
        x, y = put(be, a, dt), put(be, b, dt)
        if ta:
            x = be.permute(x, (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2))
        if tb:
            y = be.permute(y, (*range(y.ndim - 2), y.ndim - 1, y.ndim - 2))
        if step:
            x = be.getitem(x, (*[slice(0, n, 1) for n in x.shape[:-2]], slice(0, x.shape[-2], 2)))
        if config is None or not hasattr(be, "matmul_config"):
            return lambda: be.matmul(x, y)

        def thunk():
            old, be.matmul_config = be.matmul_config, config
            try:
                return be.matmul(x, y)
            finally:
                be.matmul_config = old
        return thunk
    return Case(f"{dt.name} {label}", make, 1e-4 if dt is float32 else 1e-2, atol, large)


def _matmul_configs():
    """The kernel configurations to check on every adapter: the default one (None) and, where
    the backend exposes them, its tiled and register-blocked variants."""
    try:
        from .._backends.wgpu.matmul import HARDWARE, SOFTWARE
    except ImportError:
        return [("default", None)]
    return [("default", None), ("tiled config", HARDWARE), ("register config", SOFTWARE)]


def matmul_kernels() -> list[Kernel]:
    rng = _rng(21)

    def f(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    kernels = []
    for name, config in _matmul_configs():
        cases = [_matmul_case(f"{m}×{k} @ {k}×{n}", f(m, k), f(k, n), config=config)
                 for m, k, n in ((1, 1, 1), (7, 5, 3), (64, 64, 64), (65, 63, 67), (100, 100, 100),
                                 (1, 300, 17), (130, 1, 70), (128, 256, 64))]
        cases += [
            _matmul_case("batched 3×17×19 @ 3×19×23", f(3, 17, 19), f(3, 19, 23), config=config),
            _matmul_case("batch-1 broadcast 1×9×8 @ 4×8×5", f(1, 9, 8), f(4, 8, 5), config=config),
            _matmul_case("transposed a (31×45)ᵀ @ 31×29", f(31, 45), f(31, 29), ta=True, config=config),
            _matmul_case("transposed b 33×40 @ (27×40)ᵀ", f(33, 40), f(27, 40), tb=True, config=config),
            _matmul_case("both transposed, batched", f(2, 16, 24), f(2, 20, 16), ta=True, tb=True,
                         config=config),
            _matmul_case("rows step-sliced [::2]", f(51, 33), f(33, 18), step=True, config=config),
            _matmul_case("K = 0", f(5, 0), f(0, 6), config=config),
            _matmul_case("M = 0", f(0, 4), f(4, 6), config=config),
            _matmul_case("NaN and inf inputs", np.where(_rng(1).random((9, 7)) < 0.1, np.nan, f(9, 7)),
                         np.where(_rng(2).random((7, 5)) < 0.1, np.inf, f(7, 5)), config=config),
        ]
        if config is None:
            cases.append(_matmul_case(f"{LARGE_ROWS}×4 @ 4×4 (past 65,535 workgroups)", f(LARGE_ROWS, 4),
                                      f(4, 4), large=True))
        kernels.append(Kernel("matmul", f"matmul ({name})" if config else "matmul", cases, timed=7))
    kernels.append(Kernel("matmul", "matmul (float16)", [
        _matmul_case("65×63 @ 63×67", f(65, 63).astype(np.float16), f(63, 67).astype(np.float16), dt=float16),
        _matmul_case("batched 3×17×19 @ 3×19×23", f(3, 17, 19).astype(np.float16),
                     f(3, 19, 23).astype(np.float16), dt=float16)], requires="shader-f16"))
    return kernels


# -- random ------------------------------------------------------------------------------------
def _random_case(label, kind, shape, dt, counter=0, low=0.0, high=1.0, seed=1234, rtol=0.0, atol=0.0):
    def make(be):
        return lambda: be.random(kind, shape, dt, seed, counter, low, high)
    return Case(f"{dt.name} {label}", make, rtol, atol)


def random_kernels() -> list[Kernel]:
    """Counter-based generation: uniform and randint must match the NumPy twin bit for bit,
    normal to a few ulps (each device has its own log and cos)."""
    uniform = [_random_case("n=1000", "uniform", (1000,), float32),
               _random_case("37×29 in [-2, 3)", "uniform", (37, 29), float32, low=-2.0, high=3.0)]
    uniform += [_random_case(f"n={n} counter {c}", "uniform", (n,), float32, counter=c)
                for n in (1, 3, 5, 63, 64, 65, 257) for c in (0, 1, 2, 3)]
    uniform.append(_random_case("0 elements", "uniform", (0,), float32))
    normal = [_random_case("n=1000", "normal", (1000,), float32, rtol=1e-5, atol=1e-5),
              _random_case("n=65 counter 3, mean 2 std 0.5", "normal", (65,), float32, counter=3, low=2.0,
                           high=0.5, rtol=1e-5, atol=1e-5)]
    randint = [_random_case("[0, 10) n=1000", "randint", (1000,), int64, low=0, high=10),
               _random_case("[-5, 5) n=63 counter 1", "randint", (63,), int32, counter=1, low=-5, high=5),
               _random_case("[0, 7) as float32", "randint", (100,), float32, low=0, high=7),
               _random_case("[-2**31, 2**31) full range", "randint", (64,), int32, low=-(2**31), high=2**31)]
    return [Kernel("random", "uniform", uniform, timed=0),
            Kernel("random", "normal", normal, timed=0),
            Kernel("random", "randint", randint, timed=0),
            Kernel("random", "uniform (float16)", [_random_case("n=1000", "uniform", (1000,), float16)],
                   requires="shader-f16")]


# -- index -------------------------------------------------------------------------------------
def _index_case(label, method, host, dim, index, src=None, transpose=False, rtol=1e-6, atol=1e-6):
    def make(be):
        a = put(be, host, float32)
        if transpose:
            a = be.permute(a, (1, 0))
        idx = put(be, index, int64)
        args = (a, dim, idx) if src is None else (a, dim, idx, put(be, src, float32))
        return lambda: getattr(be, method)(*args)
    return Case(label, make, rtol, atol)


def index_kernels() -> list[Kernel]:
    rng = _rng(31)

    def f(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def ix(high, *shape):
        return rng.integers(0, high, shape)

    select = [_index_case("dim 0, 37×29, 50 indices with repeats", "index_select", f(37, 29), 0, ix(37, 50)),
              _index_case("dim 1, 37×29", "index_select", f(37, 29), 1, ix(29, 11)),
              _index_case("dim 1 of a transposed view", "index_select", f(29, 37), 1, ix(29, 13),
                          transpose=True),
              _index_case("3-D, dim 2", "index_select", f(4, 5, 6), 2, ix(6, 9)),
              _index_case("empty index", "index_select", f(8, 3), 0, ix(8, 0)),
              _index_case(f"{LARGE_ROWS * 64} rows selected (large grid)", "index_select", f(5, 1), 0,
                          ix(5, LARGE_ROWS * 64))]
    select[-1].large = True
    gather = [_index_case("dim 1, 37×29", "gather", f(37, 29), 1, ix(29, 37, 7)),
              _index_case("dim 0, 37×29", "gather", f(37, 29), 0, ix(37, 5, 29)),
              _index_case("3-D dim 1", "gather", f(4, 5, 6), 1, ix(5, 4, 3, 6)),
              _index_case("transposed view, dim 0", "gather", f(29, 37), 0, ix(37, 4, 29), transpose=True),
              _index_case("1-D, n=65", "gather", f(65), 0, ix(65, 65))]
    scatter = [_index_case("dim 0, repeated indices", "scatter_add", f(10, 6), 0, ix(10, 40, 6), src=f(40, 6),
                           rtol=1e-5, atol=1e-5),
               _index_case("dim 1, 37×29", "scatter_add", f(37, 29), 1, ix(29, 37, 50), src=f(37, 50),
                           rtol=1e-5, atol=1e-5),
               _index_case("index smaller than src", "scatter_add", f(6, 6), 0, ix(6, 3, 2), src=f(5, 5),
                           rtol=1e-5, atol=1e-5),
               _index_case("1-D, n=65, all to one slot", "scatter_add", f(4), 0, np.zeros(65, np.int64),
                           src=f(65), rtol=1e-5, atol=1e-5)]
    return [Kernel("index", "index_select", select, timed=0),
            Kernel("index", "gather", gather, timed=0),
            Kernel("index", "scatter_add", scatter, timed=0)]


__all__ = ["matmul_kernels", "random_kernels", "index_kernels"]
