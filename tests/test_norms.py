"""Norms (torch.norm, linalg.vector_norm/matrix_norm/norm), cross, vecdot, cdist, renorm and the extra
reductions (any/all with dims, count_nonzero, aminmax, std_mean/var_mean, nansum/nanmean, isclose,
allclose, nan_to_num) against PyTorch on cpu and wgpu: values, dtypes, shapes, gradients (norms at
0: subgradient 0), exception types."""

# ruff: noqa: B023  (each case lambda runs at once, inside its loop)
from __future__ import annotations

import numpy as np
import pytest
import torch as T

import wgtorch as W

NAN, INF = float("nan"), float("inf")


def _rand(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _out_list(out):
    return list(out) if isinstance(out, tuple) else [out]


def _same(got, want, rtol=1e-5, atol=1e-5):
    if isinstance(want, (bool, int, float)):
        assert type(got) is type(want) and got == want, (got, want)
        return
    assert tuple(got.shape) == tuple(want.shape), (got.shape, want.shape)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], (got.dtype, want.dtype)
    g, w = got.detach().numpy(), want.detach().numpy()
    if w.dtype.kind == "f":
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(g, w)


def compare(device, fn, *arrays, grad=True, rtol=1e-5, atol=1e-5):
    """``fn(lib, *tensors)`` with lib = wgtorch (on ``device``) and torch: same outputs, and with
    ``grad`` the same input gradients of a weighted sum of the float outputs."""
    floats = [a.dtype.kind == "f" for a in arrays]
    ws = [W.tensor(a, device=device, requires_grad=grad and f) for a, f in zip(arrays, floats)]
    ts = [T.tensor(a, requires_grad=grad and f) for a, f in zip(arrays, floats)]
    got, want = fn(W, *ws), fn(T, *ts)
    for g, w in zip(_out_list(got), _out_list(want), strict=True):
        _same(g, w, rtol, atol)
    if not grad:
        return
    outs = [(g, w) for g, w in zip(_out_list(got), _out_list(want)) if isinstance(w, T.Tensor) and w.requires_grad]
    if not outs:
        return
    loss_w = loss_t = 0
    for k, (g, w) in enumerate(outs):
        weights = _rand(*w.shape, seed=10 + k) if w.ndim else np.float32(1.5)
        loss_w = loss_w + (g * W.tensor(weights, device=device)).sum()
        loss_t = loss_t + (w * T.tensor(weights)).sum()
    loss_w.backward()
    loss_t.backward()
    for x, xt in zip(ws, ts):
        if xt.requires_grad and xt.grad is None:
            assert x.grad is None, "a gradient where PyTorch has none"
        elif xt.requires_grad:
            assert x.grad is not None, "no gradient"
            np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)


# -- vector norms ------------------------------------------------------------------------------
ORDS = [2, 1, 0, INF, -INF, 3, 1.5, 0.5, -1]


@pytest.mark.parametrize("ord", ORDS)
def test_vector_norm(device, ord):
    a = _rand(3, 4, 5)
    a[0, 1, 2] = 0.0  # a zero element: the p < 1 and p = 1 subgradients
    for dim in (None, 0, -1, (0, 2), (1, -1, 0)):
        for keepdim in (False, True):
            compare(device, lambda L, x: L.linalg.vector_norm(x, ord, dim, keepdim), a)
    compare(device, lambda L, x: L.linalg.vector_norm(x.transpose(0, 2)[:, ::2], ord, 1), a)  # strided view
    compare(device, lambda L, x: L.linalg.vector_norm(x, ord), np.array(-1.5, np.float32))  # 0-d


@pytest.mark.parametrize("ord", ORDS)
def test_vector_norm_gradient_at_zero(device, ord):
    """An all-zero vector has norm 0 and, as in PyTorch, a zero (not NaN) gradient (p >= 1 and 0);
    rows with zeros among other values too."""
    a = np.zeros((2, 4), np.float32)
    a[1] = [0.0, 1.5, -2.0, 0.0]
    if ord < 1 and ord != 0:
        a[0] = [1.0, -1.0, 2.0, 0.5]  # (PyTorch itself gives NaN for an all-zero row when p < 1)
    compare(device, lambda L, x: L.linalg.vector_norm(x, ord, dim=1), a)


def test_vector_norm_ties_nan_and_inf(device):
    a = np.array([[1, -3, 3, 2], [NAN, 1, 2, 0], [INF, 1, -INF, 0]], np.float32)
    for ord in (INF, -INF, 2, 1):
        compare(device, lambda L, x: L.linalg.vector_norm(x, ord, dim=1), a[:1])  # ties split the gradient
        compare(device, lambda L, x: L.linalg.vector_norm(x, ord, dim=1), a, grad=False)


def test_vector_norm_dtypes_and_errors(device):
    compare(
        device,
        lambda L, x: L.linalg.vector_norm(x, 2),
        np.linspace(-3, 3, 50).astype(np.float16),
        grad=False,
        rtol=2e-3,
    )
    compare(
        device,
        lambda L, x: L.linalg.vector_norm(x.float(), 2, dtype=L.float32),
        np.arange(5, dtype=np.int32),
        grad=False,
    )
    if device == "cpu":
        compare(device, lambda L, x: L.linalg.vector_norm(x, 3, dtype=L.float64), _rand(7))
        with pytest.raises(RuntimeError, match="narrowing"):
            W.linalg.vector_norm(W.ones(3, dtype=W.float64), dtype=W.float32)
    for ord in (2, 1, 0):
        compare(device, lambda L, x: L.linalg.vector_norm(x, ord), np.zeros((0, 3), np.float32))
    compare(device, lambda L, x: L.linalg.vector_norm(x, INF, dim=0), np.zeros((2, 0), np.float32))
    for ord in (INF, -1, -INF):
        with pytest.raises(RuntimeError, match="empty tensor"):
            W.linalg.vector_norm(W.zeros(0, device=device), ord)
    with pytest.raises(RuntimeError, match="floating point"):
        W.linalg.vector_norm(W.tensor([1, 2], device=device))
    with pytest.raises(RuntimeError, match="floating point"):
        W.norm(W.tensor([1, 2], device=device))
    with pytest.raises(IndexError):
        W.linalg.vector_norm(W.ones(2, 3, device=device), 2, 2)


# -- matrix norms, linalg.norm, torch.norm -----------------------------------------------------
@pytest.mark.parametrize("ord", ["fro", INF, -INF, 1, -1])
def test_matrix_norm(device, ord):
    a = _rand(2, 3, 4)
    a[0, 1, 1] = 0.0
    compare(device, lambda L, x: L.linalg.matrix_norm(x, ord), a)
    compare(device, lambda L, x: L.linalg.matrix_norm(x, ord, dim=(0, 2), keepdim=True), a)
    compare(device, lambda L, x: L.linalg.matrix_norm(x, ord, dim=(-1, 0)), a)
    compare(device, lambda L, x: L.linalg.matrix_norm(x.transpose(1, 2), ord), a)
    compare(device, lambda L, x: L.linalg.matrix_norm(x, ord), np.array([[1, 1], [1, 1]], np.float32))  # ties


def test_matrix_norm_empty(device):
    for ord in (INF, 1, "fro"):
        for shape in ((0, 3), (3, 0), (2, 0, 0)):
            compare(device, lambda L, x: L.linalg.matrix_norm(x, ord), np.zeros(shape, np.float32), grad=False)
    with pytest.raises(IndexError):
        W.linalg.matrix_norm(W.zeros(0, 3, device=device), -INF)


def test_matrix_norm_errors(device):
    x = W.ones(3, 3, device=device)
    for ord in (2, -2, "nuc"):
        with pytest.raises(NotImplementedError, match="SVD"):
            W.linalg.matrix_norm(x, ord)
    with pytest.raises(NotImplementedError):
        W.norm(x, "nuc")
    for bad in (3, "abc", 0):
        with pytest.raises(RuntimeError, match="not supported"):
            W.linalg.matrix_norm(x, bad)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        W.linalg.matrix_norm(W.ones(3, device=device))
    with pytest.raises(RuntimeError, match="2-tuple"):
        W.linalg.matrix_norm(W.ones(2, 3, 4, device=device), dim=(0, 1, 2))
    with pytest.raises(RuntimeError, match="2-tuple"):
        W.norm(W.ones(2, 3, 4, device=device), "fro", dim=(0, 1, 2))
    with pytest.raises(RuntimeError, match="different"):
        W.linalg.matrix_norm(x, dim=(1, 1))
    with pytest.raises(RuntimeError, match="1D or 2D"):
        W.linalg.norm(W.ones(2, 2, 2, device=device), 2)
    with pytest.raises(RuntimeError, match="floating point"):
        W.linalg.matrix_norm(W.ones(2, 2, dtype=W.int32, device=device))


def test_linalg_norm_dispatch(device):
    a = _rand(3, 4)
    cases = [
        lambda L, x: L.linalg.norm(x),
        lambda L, x: L.linalg.norm(x, keepdim=True),
        lambda L, x: L.linalg.norm(x, dim=1),
        lambda L, x: L.linalg.norm(x, 3, dim=(0,)),
        lambda L, x: L.linalg.norm(x, INF),
        lambda L, x: L.linalg.norm(x, "fro"),
        lambda L, x: L.linalg.norm(x, -1, dim=(1, 0)),
        lambda L, x: L.linalg.norm(x[0], INF),
        lambda L, x: L.linalg.norm(x, None, (0, 1)),
    ]
    for fn in cases:
        compare(device, fn, a)


def test_torch_norm_and_method(device):
    a = _rand(2, 3, 4)
    cases = [
        lambda L, x: L.norm(x),
        lambda L, x: x.norm(),
        lambda L, x: L.norm(x, dim=1),
        lambda L, x: x.norm(p=1, dim=(0, 2), keepdim=True),
        lambda L, x: L.norm(x, INF),
        lambda L, x: x.norm(3, -1),
        lambda L, x: L.norm(x, "fro", dim=(1, 2)),
        lambda L, x: L.norm(x, 0, 0),
        lambda L, x: x.norm(p=-INF, dim=2),
    ]
    for fn in cases:
        compare(device, fn, a)


# -- cross, vecdot, matmul -----------------------------------------------------------------------
def test_cross_vecdot_matmul(device):
    a, b = _rand(4, 3, seed=1), _rand(4, 3, seed=2)
    compare(device, lambda L, x, y: L.linalg.cross(x, y), a, b)
    compare(device, lambda L, x, y: L.linalg.cross(x.t(), y.t(), dim=0), a, b)  # strided, dim 0
    compare(device, lambda L, x, y: L.linalg.cross(x[:1], y), a, b)  # broadcast
    compare(device, lambda L, x, y: L.linalg.cross(x[0], y[1]), a, b)
    compare(device, lambda L, x, y: L.linalg.vecdot(x, y), a, b)
    compare(device, lambda L, x, y: L.linalg.vecdot(x[:1], y, dim=0), a, b)
    compare(device, lambda L, x, y: L.linalg.matmul(x, y.t()), a, b)
    compare(device, lambda L, x, y: L.linalg.cross(x, y), a.astype(np.int32), b.astype(np.int32))
    with pytest.raises(RuntimeError, match="length 3"):
        W.linalg.cross(W.ones(4, device=device), W.ones(4, device=device))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        W.linalg.cross(W.ones(2, 3, device=device), W.ones(3, device=device))
    with pytest.raises(RuntimeError, match="must match"):
        W.linalg.cross(W.ones(2, 3, device=device), W.ones(4, 3, device=device))
    with pytest.raises(RuntimeError, match="same dtype"):
        W.linalg.vecdot(W.ones(3, device=device), W.ones(3, dtype=W.int32, device=device))


# -- cdist, renorm -------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [2.0, 1.0, 0.0, 3.0, INF, 0.5])
def test_cdist(device, p):
    x1, x2 = _rand(5, 3, seed=1), _rand(4, 3, seed=2)
    x2[1] = x1[2]  # a zero distance: gradient 0 there, as PyTorch
    grad = p != 0.5  # (PyTorch's cdist gradient for p < 1 is its own kernel's, not the norm's)
    compare(device, lambda L, a, b: L.cdist(a, b, p), x1, x2, grad=grad)
    compare(device, lambda L, a, b: L.cdist(a.unsqueeze(0).expand(2, 5, 3), b, p), x1, x2, grad=grad)  # batch
    for mode in ("use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        compare(device, lambda L, a, b: L.cdist(a, b, p, compute_mode=mode), x1, x2, grad=False)
    compare(device, lambda L, a, b: L.cdist(a, b, p), np.zeros((0, 3), np.float32), x2, grad=False)
    compare(
        device, lambda L, a, b: L.cdist(a, b, p), np.zeros((2, 0), np.float32), np.zeros((3, 0), np.float32), grad=False
    )


def test_cdist_errors(device):
    x = W.ones(2, 3, device=device)
    with pytest.raises(RuntimeError, match="at least 2D"):
        W.cdist(W.ones(3, device=device), x)
    with pytest.raises(RuntimeError, match="same number of columns"):
        W.cdist(x, W.ones(2, 4, device=device))
    with pytest.raises(RuntimeError, match="non-negative"):
        W.cdist(x, x, -1.0)
    with pytest.raises(ValueError, match="compute_mode"):
        W.cdist(x, x, compute_mode="x")
    with pytest.raises(RuntimeError, match="floating-point"):
        W.cdist(W.ones(2, 3, dtype=W.int32, device=device), W.ones(2, 3, dtype=W.int32, device=device))


def test_renorm(device):
    a = _rand(3, 4, 2)
    a[1] *= 0.05  # one slice under maxnorm: left alone
    for p, dim, maxnorm in ((2, 0, 1.0), (1, 1, 0.5), (3, -1, 2.0), (INF, 0, 0.7)):
        compare(device, lambda L, x: L.renorm(x, p, dim, maxnorm), a)
        compare(device, lambda L, x: x.renorm(p, dim, maxnorm), a)
    with pytest.raises(RuntimeError, match="non-positive-norm"):
        W.renorm(W.ones(2, 3, device=device), 0, 0, 1.0)
    with pytest.raises(RuntimeError, match="maxnorm"):
        W.renorm(W.ones(2, 3, device=device), 2, 0, -1.0)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        W.renorm(W.ones(3, device=device), 2, 0, 1.0)


# -- extra reductions ------------------------------------------------------------------------------
def test_any_all_count_nonzero(device):
    a = np.array([[0, 1, 0], [0, 0, 0], [2, NAN, 3]], np.float32)
    for fn in ("any", "all"):
        for dim in (None, 0, 1, -1, (0, 1), (1,)):
            for keepdim in (False, True):
                if dim is None and keepdim:
                    continue  # (PyTorch's any/all take keepdim only with dim)
                compare(
                    device,
                    lambda L, x: getattr(L, fn)(x, dim, keepdim) if dim is not None else getattr(L, fn)(x),
                    a,
                    grad=False,
                )
                compare(
                    device, lambda L, x: getattr(x, fn)(dim) if dim is not None else getattr(x, fn)(), a, grad=False
                )
        compare(device, lambda L, x: getattr(L, fn)(x, 0), np.zeros((0, 3), np.float32), grad=False)
        compare(device, lambda L, x: getattr(L, fn)(x, 1), np.zeros((0, 3), np.float32) > 0, grad=False)
        compare(device, lambda L, x: getattr(L, fn)(x), np.array(2, np.int32), grad=False)
    if device == "cpu":  # (uint8 is refused on wgpu)
        compare(device, lambda L, x: (L.all(x), L.any(x, 0)), np.array([1, 0, 2], np.uint8), grad=False)
    for dim in (None, 0, (0, 1), -1):
        compare(device, lambda L, x: L.count_nonzero(x, dim), a, grad=False)
        compare(device, lambda L, x: x.count_nonzero(dim), a > 0, grad=False)


def test_aminmax(device):
    a = np.array([[1, 5, -2, 5], [3, 3, 3, 0], [NAN, 1, 2, 3]], np.float32)
    compare(device, lambda L, x: L.aminmax(x[:2]), a)
    compare(device, lambda L, x: L.aminmax(x, dim=1), a[:2])
    compare(device, lambda L, x: L.aminmax(x, dim=0, keepdim=True), a, grad=False)
    compare(device, lambda L, x: x.aminmax(dim=-1), a, grad=False)
    compare(device, lambda L, x: L.aminmax(x, dim=None, keepdim=True), a[:2])
    compare(device, lambda L, x: L.aminmax(x), np.array([True, False]), grad=False)
    compare(device, lambda L, x: L.aminmax(x, dim=0), np.zeros((3, 0), np.float32), grad=False)
    out = W.aminmax(W.tensor(a, device=device), dim=1)
    assert out.min.shape == (3,) and out.max.shape == (3,)
    with pytest.raises(RuntimeError, match="empty"):
        W.aminmax(W.zeros(0, device=device))
    with pytest.raises(RuntimeError, match="empty"):
        W.aminmax(W.zeros(0, 3, device=device), dim=0)


def test_std_var_mean(device):
    a = _rand(4, 5)
    for fn in ("std_mean", "var_mean"):
        compare(device, lambda L, x: getattr(L, fn)(x), a)
        compare(device, lambda L, x: getattr(L, fn)(x, 1), a)
        compare(device, lambda L, x: getattr(L, fn)(x, (0, 1), keepdim=True), a)
        compare(device, lambda L, x: getattr(L, fn)(x, 0, correction=0), a)
        compare(device, lambda L, x: getattr(L, fn)(x, unbiased=False), a)


def test_nansum_nanmean(device):
    a = np.array([[1, NAN, 3, -1], [NAN, NAN, NAN, NAN], [0.5, 2, NAN, 4]], np.float32)
    for fn in ("nansum", "nanmean"):
        for dim in (None, 0, 1, (0, 1)):
            compare(device, lambda L, x: getattr(L, fn)(x, dim), a)
            compare(device, lambda L, x: getattr(x, fn)(dim, keepdim=True), a)
        compare(device, lambda L, x: getattr(L, fn)(x), np.array(NAN, np.float32))
    compare(device, lambda L, x: L.nansum(x, 0), np.arange(6, dtype=np.int32).reshape(2, 3), grad=False)
    compare(device, lambda L, x: L.nansum(x, 1, dtype=L.float32), np.array([[True, False]]), grad=False)
    compare(device, lambda L, x: L.nanmean(x, 1), np.zeros((2, 0), np.float32), grad=False)
    with pytest.raises(RuntimeError, match="floating point"):
        W.nanmean(W.tensor([1, 2], device=device))


def test_isclose_allclose(device):
    a = np.array([1.0, 1.0, NAN, INF, -INF, INF, 0.0, 1e-9, 100.0], np.float32)
    b = np.array([1.0, 1.00001, NAN, INF, -INF, -INF, 1e-9, 0.0, 100.01], np.float32)
    for kw in ({}, {"equal_nan": True}, {"rtol": 0, "atol": 0}, {"rtol": 1e-3}, {"atol": 0.1, "rtol": 0}):
        compare(device, lambda L, x, y: L.isclose(x, y, **kw), a, b, grad=False)
        compare(device, lambda L, x, y: x.isclose(y[:1], **kw), a, b, grad=False)  # broadcast
        compare(device, lambda L, x, y: L.allclose(x, y, **kw), a, b, grad=False)
        compare(device, lambda L, x, y: L.allclose(x[:2], y[:2], **kw), a, b, grad=False)
    i, j = np.array([1, 5, -3, 100], np.int32), np.array([1, 6, -4, 90], np.int32)
    compare(device, lambda L, x, y: L.isclose(x, y, rtol=0.2), i, j, grad=False)
    compare(device, lambda L, x, y: L.isclose(x, y), i, j, grad=False)
    compare(device, lambda L, x, y: L.isclose(x, y, atol=1.0), i > 0, j > 2, grad=False)
    compare(device, lambda L, x, y: x.allclose(y, atol=1), i, j, grad=False)
    with pytest.raises(RuntimeError, match="did not match"):
        W.isclose(W.ones(1, device=device), W.ones(1, dtype=W.int32, device=device))
    with pytest.raises(RuntimeError, match="rtol"):
        W.isclose(W.ones(1, device=device), W.ones(1, device=device), rtol=-1)
    with pytest.raises(RuntimeError, match="atol"):
        W.allclose(W.ones(1, device=device), W.ones(1, device=device), atol=-1)
    with pytest.raises(RuntimeError, match="must match"):
        W.allclose(W.ones(2, device=device), W.ones(3, device=device))


def test_nan_to_num(device):
    a = np.array([NAN, INF, -INF, 1.5, -0.0], np.float32)
    compare(device, lambda L, x: L.nan_to_num(x), a)
    compare(device, lambda L, x: L.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-3.0), a)
    compare(device, lambda L, x: x.nan_to_num(posinf=7.0), a)
    compare(device, lambda L, x: L.nan_to_num(x, nan=None), a)
    compare(device, lambda L, x: L.nan_to_num(x), a.astype(np.float16), grad=False)
    compare(device, lambda L, x: L.nan_to_num(x), np.array([1, 2], np.int32), grad=False)
    compare(device, lambda L, x: L.nan_to_num(x), np.array([True, False]), grad=False)
    compare(device, lambda L, x: L.nan_to_num(x.t()), np.array([[NAN, 1], [INF, 2]], np.float32))
    x, xt = W.tensor(a, device=device), T.tensor(a)
    assert x.nan_to_num_(neginf=-9.0) is x
    xt.nan_to_num_(neginf=-9.0)
    _same(x, xt)


# -- inv, det, solve, cholesky (cpu only) --------------------------------------------------------
def _spd(n, batch=(), seed=0):
    m = _rand(*batch, n, n, seed=seed)
    return (m @ np.swapaxes(m, -1, -2) + n * np.eye(n, dtype=np.float32)).astype(np.float32)


def test_inv_det_solve_cholesky_cpu():
    a, b = _spd(4, (2,), seed=1), _rand(2, 4, 3, seed=2)
    tol = {"rtol": 1e-4, "atol": 1e-4}
    compare("cpu", lambda L, x: L.linalg.inv(x), a, **tol)
    compare("cpu", lambda L, x: L.linalg.det(x), a, **tol)
    compare("cpu", lambda L, x: L.linalg.det(x), _rand(3, 3, seed=3), **tol)
    compare("cpu", lambda L, x, y: L.linalg.solve(x, y), a, b, **tol)
    compare("cpu", lambda L, x, y: L.linalg.solve(x, y[:, :, 0]), a, b, **tol)  # batch of vectors
    compare("cpu", lambda L, x, y: L.linalg.solve(x[0], y), a, b, **tol)  # A broadcast over B's batch
    compare("cpu", lambda L, x, y: L.linalg.solve(x, y.mT, left=False), a, b, **tol)
    compare("cpu", lambda L, x: L.linalg.cholesky(x), a, **tol)
    compare("cpu", lambda L, x: L.linalg.cholesky(x, upper=True), a[0], **tol)


def test_linalg_cpu_errors(device):
    with pytest.raises(RuntimeError, match="square"):
        W.linalg.inv(W.ones(2, 3))
    with pytest.raises(RuntimeError, match="square"):
        W.linalg.det(W.ones(2, 3))
    with pytest.raises(W.linalg.LinAlgError):
        W.linalg.inv(W.zeros(2, 2))
    with pytest.raises(RuntimeError):  # (LinAlgError is a RuntimeError, as PyTorch's)
        W.linalg.cholesky(-W.eye(2))
    with pytest.raises(RuntimeError, match="Incompatible shapes"):
        W.linalg.solve(W.eye(2), W.ones(3))
    with pytest.raises(RuntimeError, match="floating point"):
        W.linalg.inv(W.ones(2, 2, dtype=W.int64))
    if device == "wgpu":
        with pytest.raises(NotImplementedError, match="cpu"):
            W.linalg.inv(W.eye(2, device=device))
