"""cumsum, cumprod, cummax, cummin, logcumsumexp against PyTorch on cpu and wgpu: row lengths around
the workgroup block (64 invocations x 4 = 256 elements) and multi-block rows, many rows (grid
folding), both wgpu kernel plans, every dim, strided views, 0-d and zero-size inputs, NaN/Inf, int/bool/float16 result
dtypes, dtype=, in-place variants, gradients (cumprod with zeros), error types; and the backend op
over CuPy (the fake CuPy of tests/fake_cupy.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch as T

import wgtorch as W
from wgtorch._backends.wgpu import scan as wgpu_scan

OPS = ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"]
LENGTHS = [1, 63, 64, 65, 255, 256, 257, 1000, 5000]
NAN = float("nan")
INF = float("inf")


def _values(op, shape, seed=0):
    rng = np.random.default_rng(seed)
    if op == "cumprod":  # products that stay in range over thousands of elements
        return (1 + 0.01 * rng.uniform(-1, 1, shape)).astype(np.float32)
    if op in ("cummax", "cummin"):  # few distinct values: ties decide the indices
        return rng.integers(-20, 20, shape).astype(np.float32)
    return rng.uniform(-1, 1, shape).astype(np.float32)


@pytest.fixture(params=["cpu", "wgpu-block", "wgpu-serial"])
def dev(request, monkeypatch):
    """The device, with wgpu in both kernel plans: "block" (workgroup scans, what hardware
    adapters run) and "serial" (an invocation per row or segment, what software adapters run)."""
    name, _, plan = request.param.partition("-")
    if name == "wgpu" and not W.wgpu.is_available():
        pytest.skip("no wgpu adapter (WGTORCH_ALLOW_NO_WGPU=1)")
    monkeypatch.setattr(wgpu_scan, "PLAN", plan or None)
    return name


def _check(got, want, rtol=1e-5, atol=1e-5):
    """A wgtorch result (tensor or (values, indices)) equals PyTorch's: shape, dtype, values."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == 2
        _check(got.values, want.values, rtol, atol)
        _check(got.indices, want.indices, 0, 0)
        return
    assert tuple(got.shape) == tuple(want.shape)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], (got.dtype, want.dtype)
    g = got.detach().numpy()
    w = want.detach().numpy()
    if w.dtype.kind == "f":
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(g, w)


def _both(op, a, dim, device, *, dtype=None, **tol):
    kw = {} if dtype is None else {"dtype": dtype}
    want = getattr(T, op)(T.tensor(a), dim, **({"dtype": getattr(T, dtype)} if dtype else {}))
    got = getattr(W, op)(W.tensor(a, device=device), dim, **({"dtype": getattr(W, dtype)} if kw else {}))
    _check(got, want, **tol)


def _tol(op, K):
    if op == "cumsum":  # blocked and serial float32 sums round differently
        return {"rtol": 1e-4, "atol": 2e-6 * K}
    if op == "cumprod":
        return {"rtol": 2e-7 * K + 1e-6, "atol": 1e-6}
    return {"rtol": 1e-5, "atol": 1e-5}


@pytest.mark.parametrize("K", LENGTHS)
@pytest.mark.parametrize("op", OPS)
def test_row_lengths(dev, op, K):
    a = _values(op, (3, K), seed=K)
    _both(op, a, 1, dev, **_tol(op, K))
    _both(op, np.ascontiguousarray(a.T), 0, dev, **_tol(op, K))  # the scan dim strided


@pytest.mark.parametrize("op", ["cumsum", "cummax"])
def test_many_rows_and_long_rows(dev, op):
    """70,000 rows (the block plan: more workgroups than one grid dimension holds, folded) and a
    70,000-element row (totals of totals)."""
    _both(op, _values(op, (70000, 2), seed=1), 1, dev)
    _both(op, _values(op, (2, 70000), seed=2), 1, dev, **_tol(op, 70000))
    _both(op, _values(op, (1, 5000), seed=3), 1, dev, **_tol(op, 5000))
    _both(op, _values(op, (3, 4097), seed=4), 1, dev, **_tol(op, 4097))  # just past a whole serial row


@pytest.mark.parametrize("op", OPS)
def test_every_dim_and_views(device, op):
    a = _values(op, (3, 4, 5))
    for dim in (0, 1, 2, -1, -2, -3):
        _both(op, a, dim, device)
    x, xt = W.tensor(a, device=device), T.tensor(a)
    views = [
        (lambda t: t.transpose(0, 2)),
        (lambda t: t[:, 1:, ::2]),
        (lambda t: t[1].t()),
        (lambda t: t[:, :1].expand(3, 6, 5)),
    ]
    for view in views:
        for dim in (0, -1):
            _check(getattr(W, op)(view(x), dim), getattr(T, op)(view(xt), dim))


@pytest.mark.parametrize("op", OPS)
def test_zero_size_and_0d(device, op):
    for shape, dim in [((0,), 0), ((0, 3), 0), ((0, 3), 1), ((3, 0), 1), ((2, 0, 4), -1)]:
        _both(op, np.zeros(shape, np.float32), dim, device)
    _both(op, np.array(1.5, np.float32), 0, device)
    _both(op, np.array(1.5, np.float32), -1, device)
    with pytest.raises(IndexError):
        getattr(W, op)(W.tensor(1.5, device=device), 1)
    with pytest.raises(IndexError):
        getattr(W, op)(W.ones(2, 3, device=device), 2)
    with pytest.raises(IndexError):
        getattr(W, op)(W.ones(2, 3, device=device), -3)
    with pytest.raises(TypeError):
        getattr(W, op)(W.ones(2, 3, device=device))  # dim is required
    with pytest.raises(TypeError, match="dim"):
        getattr(W, op)(W.ones(2, 3, device=device), None)


def test_nan_and_inf(dev):
    rows = np.array(
        [
            [1, NAN, 3, NAN, 5, -INF, INF],
            [NAN, 2, 2, INF, INF, 0, -1],
            [-INF, -INF, 1, -INF, INF, INF, 2],
            [3, 3, 3, -INF, 3, 1, 3],
        ],
        np.float32,
    )
    for op in OPS:
        for dim in (0, 1):
            _both(op, rows, dim, dev)
    # a NaN at block and segment boundaries must stay and carry its index
    a = _values("cummax", (2, 5000), seed=5)
    a[0, 255], a[0, 300], a[0, 1024], a[1, 4999] = NAN, NAN, NAN, NAN
    for op in OPS:
        _both(op, a if op != "cumprod" else a / 4000 + 1, 1, dev, **_tol(op, 5000))


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "float16"])
@pytest.mark.parametrize("op", ["cumsum", "cumprod", "cummax", "cummin"])
def test_dtypes(dev, op, dtype):
    rng = np.random.default_rng(0)
    for K in (7, 300):
        if dtype == "bool":
            a = rng.random((2, K)) > 0.3
        elif dtype == "float16":
            a = 1 + 0.01 * rng.uniform(-1, 1, (2, K)) if op == "cumprod" else rng.uniform(-1, 1, (2, K))
            a = a.astype(np.float16)
        else:
            a = rng.integers(-3, 4, (2, K)).astype(dtype)
            if op == "cumprod":
                a = np.where(a == 0, 1, a % 2 + 1).astype(dtype)[:, :20]  # 2**20: no overflow
        tol = {"rtol": 2e-3, "atol": 2e-2} if dtype == "float16" else {}
        _both(op, a, 1, dev, **tol)


def test_logcumsumexp_dtypes(device):
    for dtype in ("int32", "int64", "bool"):
        with pytest.raises(NotImplementedError, match="logcumsumexp"):
            W.logcumsumexp(W.ones(3, dtype=getattr(W, dtype), device=device), 0)
    a = np.linspace(-3, 3, 300).astype(np.float16)
    _both("logcumsumexp", a, 0, device, rtol=2e-3, atol=2e-3)


def test_dtype_argument(device):
    ints = np.arange(-5, 295, dtype=np.int32)
    _both("cumsum", ints, 0, device, dtype="float32")
    _both("cumprod", (ints[:10] % 3 + 1).astype(np.int32), 0, device, dtype="float32")
    _both("cumsum", np.array([1.5, 2.7, -3.9], np.float32), 0, device, dtype="int64")
    _both("cumsum", np.array([True, False, True]), 0, device, dtype="int32")
    if device == "cpu":
        _both("cumsum", np.linspace(0, 1, 500).astype(np.float32), 0, device, dtype="float64")
    halves = np.full(3000, 0.1, np.float16)  # accumulated in float32, rounded once (PyTorch's cpu kernel)
    _both("cumsum", halves, 0, device, rtol=1e-3, atol=0)


def test_methods_and_inplace(device):
    a = _values("cumsum", (4, 70))
    x, xt = W.tensor(a, device=device), T.tensor(a)
    _check(x.cumsum(1), xt.cumsum(1))
    _check(x.cumprod(dim=0), xt.cumprod(dim=0))
    _check(x.cummax(1), xt.cummax(1))
    _check(x.cummin(-1), xt.cummin(-1))
    _check(x.logcumsumexp(0), xt.logcumsumexp(0))
    _check(x.cumsum(0, dtype=W.int32), xt.cumsum(0, dtype=T.int32))
    y, yt = x.clone(), xt.clone()
    assert y.cumsum_(1) is y
    yt.cumsum_(1)
    _check(y, yt, rtol=1e-5, atol=1e-5)
    view, view_t = x.clone().t(), xt.clone().t()  # in place through a transposed view
    view.cumprod_(0)
    view_t.cumprod_(0)
    _check(view, view_t)
    i, it = W.tensor([[1, 2], [3, 4]], dtype=W.int32, device=device), T.tensor([[1, 2], [3, 4]], dtype=T.int32)
    i.cumsum_(0)
    it.cumsum_(0)
    _check(i, it)  # stays int32
    with pytest.raises(RuntimeError, match="Bad in-place call"):
        W.ones(3, device=device).cumsum_(0, dtype=W.int32)


def _grad_case(device, op, a, dim, g=None):
    x = W.tensor(a, device=device, requires_grad=True)
    xt = T.tensor(a, requires_grad=True)
    y, yt = getattr(W, op)(x, dim), getattr(T, op)(xt, dim)
    if isinstance(yt, tuple):
        y, yt = y[0], yt[0]
    g = np.random.default_rng(1).uniform(-1, 1, a.shape).astype(np.float32) if g is None else g
    y.backward(W.tensor(g, device=device))
    yt.backward(T.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", OPS)
def test_gradients(dev, op):
    a = _values(op, (3, 5))
    for dim in (0, 1, -1):
        _grad_case(dev, op, a, dim)
    _grad_case(dev, op, _values(op, (2, 300), seed=2), 1)  # multi-block
    _grad_case(dev, op, _values(op, (1, 5000), seed=3), 1)  # multi-segment
    _grad_case(dev, op, np.array(0.7, np.float32), 0, np.array(2.0, np.float32))  # 0-d


def test_cumprod_gradient_with_zeros(device):
    a = np.array(
        [
            [2, 0, 3, 4, 5],  # one zero
            [0, 2, 3, 0, 1],  # two zeros, one first
            [1, 2, 3, 4, 0],  # a zero last
            [0, 0, 0, 0, 0],
            [1.5, -2, 0.5, 3, 1],
        ],
        np.float32,
    )  # no zero
    for dim in (0, 1):
        _grad_case(device, "cumprod", a, dim)


def test_cummax_gradient_ties_and_nan(device):
    a = np.array([[1, 3, 3, 2, 5, 5], [2, NAN, 1, NAN, 4, 0]], np.float32)
    for op in ("cummax", "cummin"):
        _grad_case(device, op, a, 1)


def test_logcumsumexp_gradient_extremes(device):
    a = np.array([[-1e4, 0, 1e4, -INF, 2], [-INF, -INF, 1, 2, 3]], np.float32)
    g = np.array([[1, -1, 0.5, 2, 0], [1, 1, -2, 0, 1]], np.float32)
    _grad_case(device, "logcumsumexp", a, 1, g)


def test_no_grad_for_int_and_values_only(device):
    x = W.tensor([1.0, 2.0], device=device, requires_grad=True)
    v, i = W.cummax(x, 0)
    assert v.requires_grad and not i.requires_grad and i.dtype is W.int64
    assert not W.cumsum(W.tensor([1, 2], device=device), 0).requires_grad


@pytest.mark.parametrize("op", ["sum", "prod", "max", "min", "logsumexp"])
def test_backend_op_over_cupy(op):
    """The array backend's scan uses only ``xp`` (runs over the fake CuPy, which refuses NumPy)."""
    from tests.fake_cupy import FakeCupy
    from wgtorch._backends.array import ArrayBackend, numpy_backend

    cp, ref = ArrayBackend(FakeCupy(), "cupy"), numpy_backend()
    a = _values("cummax" if op in ("max", "min") else "cumprod", (3, 40))
    a[1, 7] = NAN
    for dim in (0, 1):
        got = cp.scan(op, cp.from_numpy(a, W.float32), dim, W.float32)
        want = ref.scan(op, ref.from_numpy(a, W.float32), dim, W.float32)
        if op in ("max", "min"):
            np.testing.assert_array_equal(cp.to_numpy(got[0]), want[0])
            np.testing.assert_array_equal(cp.to_numpy(got[1]), want[1])
        else:
            np.testing.assert_allclose(cp.to_numpy(got), want, rtol=1e-6)
