"""float64 in the sort, scan, scatter/scatter_add, batch-norm statistics and fused nn kernels on wgpu (issue 17).

Each family against PyTorch's float64 on cpu at float64 tolerances (rtol 1e-12, not float32's):
values, indices, gradients, NaN/Inf, subnormals, odd sizes, non-contiguous views and 0-size.
Tensors stay small: lavapipe runs f64 in software.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch as T
import torch.nn.functional as TF

import wgtorch as torch
import wgtorch.nn.functional as F
from wgtorch._backends.wgpu import nn as wgpu_nn
from wgtorch._backends.wgpu import scan as wgpu_scan

RTOL, ATOL = 1e-12, 1e-13
# every kind of double the order keys must place: signed zeros, subnormals, the extremes, NaN
SPECIAL = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 1e-310, -1e-310, 5e-324, 2.0**-1022,
           1e300, -1e300, 1.0 + 2.0**-52, 1.0, 1.0 - 2.0**-53, -1.0 - 2.0**-52, 4503599627370497.0]


@pytest.fixture
def f64_device(device):
    if device == "wgpu" and not torch.wgpu.get_device_properties().float64:
        pytest.skip("this adapter has no shader-f64 (test_wgpu_float64 checks the clear error)")
    return device


def _np(t):
    return np.array(t.detach().cpu().numpy())


def _close(got, want, rtol=RTOL, atol=ATOL):
    assert got.dtype is torch.float64, got.dtype
    assert tuple(got.shape) == tuple(want.shape)
    T.testing.assert_close(T.from_numpy(_np(got)), want.detach(), rtol=rtol, atol=atol, equal_nan=True)


def _same(got, want):
    np.testing.assert_array_equal(_np(got), want.detach().numpy())


def _data(rows, n, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((rows, n)) * 10.0 ** rng.integers(-5, 5, (rows, n))
    v.flat[: len(SPECIAL)] = SPECIAL[: v.size]
    return v


# -- sort / argsort / topk / kthvalue / median / msort / unique / searchsorted -----------------------
@pytest.mark.parametrize("n", [1, 7, 18, 600, 1100])  # one block, several, past the global passes
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_stable_pytorch_sort(f64_device, n, descending):
    v = _data(3, n)
    x = torch.tensor(v, device=f64_device)
    got = torch.sort(x, dim=1, descending=descending, stable=True)
    want = T.sort(T.from_numpy(v), dim=1, descending=descending, stable=True)
    _same(got.values, want.values)
    _same(got.indices, want.indices)


def test_sort_keys_of_every_special_double(f64_device):
    v = np.array(SPECIAL)
    got = torch.sort(torch.tensor(v, device=f64_device), stable=True)
    want = T.sort(T.from_numpy(v), stable=True)
    _same(got.indices, want.indices)
    np.testing.assert_array_equal(np.signbit(_np(got.values)), np.signbit(want.values.numpy()))  # -0.0 kept


def test_sort_family_views_and_empty(f64_device):
    v = _data(6, 9, seed=1)
    x, w = torch.tensor(v, device=f64_device), T.from_numpy(v)
    _same(torch.argsort(x.t(), dim=1, stable=True), T.argsort(w.t(), dim=1, stable=True))  # strided rows
    _same(torch.msort(x[:, ::2]), T.msort(w[:, ::2]))
    for got, want in ((torch.topk(x, 3, dim=1), T.topk(w, 3, dim=1)),
                      (torch.topk(x, 2, dim=0, largest=False), T.topk(w, 2, dim=0, largest=False)),
                      (torch.kthvalue(x, 4, dim=1), T.kthvalue(w, 4, dim=1))):
        _same(got.values, want.values)
    _same(torch.median(x, dim=1).values, T.median(w, dim=1).values)
    _same(torch.unique(x), T.unique(w))
    e = torch.sort(torch.zeros(0, 3, dtype=torch.float64, device=f64_device), dim=0)
    assert e.values.shape == (0, 3) and e.values.dtype is torch.float64
    s0 = torch.sort(torch.tensor(2.5, dtype=torch.float64, device=f64_device))
    assert s0.values.item() == 2.5 and s0.indices.item() == 0


@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_float64(f64_device, right):
    seq = np.sort(np.array([1.0, 1.0 + 2.0**-52, 2.0, 2.0, 1e300, -1e-310, 0.0, math.inf]))
    vals = np.array([1.0, 1.0 + 2.0**-52, 1.0 + 2.0**-51, -0.0, 1e-310, 2.0, math.nan, math.inf, -math.inf])
    got = torch.searchsorted(torch.tensor(seq, device=f64_device), torch.tensor(vals, device=f64_device), right=right)
    _same(got, T.searchsorted(T.from_numpy(seq), T.from_numpy(vals), right=right))
    rows = np.sort(np.random.default_rng(2).standard_normal((3, 11)), axis=1)
    q = np.random.default_rng(3).standard_normal((3, 5))
    _same(torch.searchsorted(torch.tensor(rows, device=f64_device), torch.tensor(q, device=f64_device), right=right),
          T.searchsorted(T.from_numpy(rows), T.from_numpy(q), right=right))


# -- scans ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("plan", ["serial", "block"])
@pytest.mark.parametrize("n", [1, 5, 33, 300, 1300])  # the block plan: one block, several, totals of totals
def test_scans_in_float64(f64_device, monkeypatch, plan, n):
    monkeypatch.setattr(wgpu_scan, "PLAN", plan)
    v = np.random.default_rng(n).standard_normal((3, n))
    x, w = torch.tensor(v, device=f64_device), T.from_numpy(v)
    _close(torch.cumsum(x, 1), T.cumsum(w, 1), atol=1e-12)
    _close(torch.cumprod(x[:, :40], 1), T.cumprod(w[:, :40], 1))
    _close(torch.logcumsumexp(x, 1), T.logcumsumexp(w, 1))
    for op in ("cummax", "cummin"):
        got, want = getattr(torch, op)(x, 1), getattr(T, op)(w, 1)
        _same(got.values, want.values)
        _same(got.indices, want.indices)


def test_scans_nan_inf_views_empty_and_grad(f64_device):
    v = np.array([[1.0, math.nan, 2.0, -math.inf, 3.0], [math.inf, -1.0, math.inf, 0.5, -0.0]])
    x, w = torch.tensor(v, device=f64_device), T.from_numpy(v)
    for op in ("cumsum", "cumprod", "logcumsumexp"):
        _close(getattr(torch, op)(x, 1), getattr(T, op)(w, 1))
        _close(getattr(torch, op)(x.t(), 0), getattr(T, op)(w.t(), 0))  # non-contiguous
    for op in ("cummax", "cummin"):
        got, want = getattr(torch, op)(x, 1), getattr(T, op)(w, 1)
        _same(got.values, want.values)
        _same(got.indices, want.indices)
    e = torch.cumsum(torch.zeros(2, 0, dtype=torch.float64, device=f64_device), 1)
    assert e.shape == (2, 0) and e.dtype is torch.float64
    _close(torch.cumsum(torch.tensor([1, 2, 3], device=f64_device), 0, dtype=torch.float64),
           T.cumsum(T.tensor([1, 2, 3]), 0, dtype=T.float64))
    m = np.array([1.5, 2.25, -3.0, 1e-3, 1e5])  # float64 read into float32 / int64 (32-bit on wgpu) sums
    for dt, tdt in ((torch.float32, T.float32), (torch.int64, T.int64)):
        _same(torch.cumsum(torch.tensor(m, device=f64_device), 0, dtype=dt), T.cumsum(T.from_numpy(m), 0, dtype=tdt))
    g = np.random.default_rng(4).standard_normal((4, 6))
    xg, wg = torch.tensor(g, device=f64_device, requires_grad=True), T.tensor(g, requires_grad=True)
    for op in ("cumsum", "cumprod", "logcumsumexp"):
        getattr(torch, op)(xg, 1).sum().backward()
        getattr(T, op)(wg, 1).sum().backward()
        _close(xg.grad, wg.grad)
        xg.grad, wg.grad = None, None


# -- scatter, scatter_add and nonzero --------------------------------------------------------------
def test_scatter_assign_and_nonzero(f64_device):
    src = np.arange(15.0).reshape(3, 5) * (1.0 + 2.0**-50)
    idx = np.array([[0, 1, 2, 0, 1], [2, 0, 1, 2, 0]])
    a = np.full((3, 5), 1e-310)
    got = torch.tensor(a, device=f64_device).scatter(0, torch.tensor(idx, device=f64_device),
                                                     torch.tensor(src, device=f64_device))
    _same(got, T.from_numpy(a).scatter(0, T.from_numpy(idx), T.from_numpy(src)))
    got = torch.tensor(a, device=f64_device).scatter(1, torch.tensor(idx, device=f64_device), 0.1)
    _same(got, T.from_numpy(a).scatter(1, T.from_numpy(idx), 0.1))
    v = np.array([[0.0, -0.0, math.nan, 1e-310, 5e-324], [math.inf, 2.0, 0.0, -1.0, -math.inf]])
    x, w = torch.tensor(v, device=f64_device), T.from_numpy(v)
    _same(torch.nonzero(x), T.nonzero(w))
    _same(torch.nonzero(x.t()), T.nonzero(w.t()))
    np.testing.assert_array_equal(_np(x[x != 0]), v[v != 0])
    assert torch.nonzero(torch.zeros(0, 2, dtype=torch.float64, device=f64_device)).shape == (0, 2)


@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_add_and_reductions_float64(f64_device, dim):
    # no 64-bit atomics: float64 combines by lines of the index, in index order (exact)
    rng = np.random.default_rng(10 + dim)
    a, src = rng.standard_normal((4, 5)), rng.standard_normal((6, 7))
    src[1, 1], src[2, 3] = math.nan, math.inf
    idx = rng.integers(0, a.shape[dim], (3, 4) if dim == 0 else (4, 3))
    x, w = torch.tensor(a, device=f64_device), T.from_numpy(a)
    i, ti = torch.tensor(idx, device=f64_device), T.from_numpy(idx)
    s, ts = torch.tensor(src, device=f64_device), T.from_numpy(src)
    _close(x.scatter_add(dim, i, s), w.scatter_add(dim, ti, ts))
    _close(x.t().scatter_add(1 - dim, i.t(), s.t()), w.t().scatter_add(1 - dim, ti.t(), ts.t()))  # views
    for reduce in ("sum", "prod", "amax", "amin", "mean"):
        for include_self in (True, False):
            _close(x.scatter_reduce(dim, i, s, reduce, include_self=include_self),
                   w.scatter_reduce(dim, ti, ts, reduce, include_self=include_self))
    _close(x.scatter(dim, i, s, reduce="multiply"), w.scatter(dim, ti, ts, reduce="multiply"))


def test_index_add_put_and_gradients_through_scatter_add(f64_device):
    rng = np.random.default_rng(11)
    v = rng.standard_normal(300) * 10.0 ** rng.integers(-8, 8, 300)  # one long line: one serial thread
    where = rng.integers(0, 7, 300)
    got = torch.zeros(7, dtype=torch.float64, device=f64_device).index_add(
        0, torch.tensor(where, device=f64_device), torch.tensor(v, device=f64_device))
    _close(got, T.zeros(7, dtype=T.float64).index_add(0, T.from_numpy(where), T.from_numpy(v)))
    got = torch.zeros(7, dtype=torch.float64, device=f64_device).index_put(
        (torch.tensor(where[:20], device=f64_device),), torch.tensor(v[:20], device=f64_device), accumulate=True)
    _close(got, T.zeros(7, dtype=T.float64).index_put((T.from_numpy(where[:20]),), T.from_numpy(v[:20]),
                                                      accumulate=True))
    a = rng.standard_normal((5, 4))
    x, w = torch.tensor(a, device=f64_device, requires_grad=True), T.tensor(a, requires_grad=True)
    rows = [0, 3, 3, 1, 0]
    weights = np.arange(20.0).reshape(5, 4) / 7.0
    (x[torch.tensor(rows, device=f64_device)] * torch.tensor(weights, device=f64_device)).sum().backward()
    (w[T.tensor(rows)] * T.from_numpy(weights)).sum().backward()
    _close(x.grad, w.grad)
    x.grad, w.grad = None, None
    gi = np.array([[0, 2], [1, 1], [3, 0], [2, 2], [0, 0]])
    torch.gather(x, 1, torch.tensor(gi, device=f64_device)).pow(2).sum().backward()
    T.gather(w, 1, T.from_numpy(gi)).pow(2).sum().backward()
    _close(x.grad, w.grad)
    for op in (lambda t: t.sort(dim=1).values, lambda t: t.topk(2, dim=0).values, lambda t: t.cummax(1).values):
        x.grad, w.grad = None, None
        (op(x) * torch.tensor(weights, device=f64_device)[: op(x).shape[0], : op(x).shape[1]]).sum().backward()
        (op(w) * T.from_numpy(weights)[: op(w).shape[0], : op(w).shape[1]]).sum().backward()
        _close(x.grad, w.grad)


def test_scatter_add_float64_bad_index_raises(f64_device):
    x = torch.zeros(3, dtype=torch.float64, device=f64_device)
    with pytest.raises(RuntimeError, match="out of bounds"):
        x.scatter_add(0, torch.tensor([0, 5], device=f64_device), torch.ones(2, dtype=torch.float64,
                                                                            device=f64_device)).cpu()
    assert (x + 1).sum().item() == 3.0  # the device keeps working


# -- batch norm (the one-pass statistics) ------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3), (3, 5, 7), (2, 3, 4, 5), (130, 2)])
def test_batch_norm_training_float64(f64_device, shape):
    v = np.random.default_rng(5).standard_normal(shape) * 2.0 + 10.0
    g = np.random.default_rng(6).standard_normal(shape)
    c = shape[1]
    x, w = torch.tensor(v, device=f64_device, requires_grad=True), T.tensor(v, requires_grad=True)
    rm, rv = (torch.tensor(np.full(c, f), device=f64_device) for f in (0.0, 1.0))
    RM, RV = (T.tensor(np.full(c, f)) for f in (0.0, 1.0))
    y, want = F.batch_norm(x, rm, rv, training=True), TF.batch_norm(w, RM, RV, training=True)
    _close(y, want)
    _close(rm, RM)
    _close(rv, RV)
    y.backward(torch.tensor(g, device=f64_device))
    want.backward(T.tensor(g))
    _close(x.grad, w.grad)


def test_batch_norm_stats_kernel_is_float64(wgpu_device):
    if not torch.wgpu.get_device_properties().float64:
        pytest.skip("no shader-f64")
    v = np.array([[1e8 + 1.0, 1e8 - 1.0, 1e8 + 2.0**-20], [3.0, math.inf, -1.0]]).T.copy()[:, :, None]
    x = torch.tensor(v, device="wgpu")
    stats = x._be.to_numpy(x._be.batch_norm_stats(x._data, 3, 2, 1))
    assert stats.dtype == np.float64
    mean = v[:, 0, 0].mean()
    np.testing.assert_allclose(stats[0], [mean, ((v[:, 0, 0] - mean) ** 2).mean()], rtol=1e-12)
    assert np.isnan(stats[1]).any() or np.isinf(stats[1]).any()


# -- fused cross-entropy / NLL and layer norm --------------------------------------------------------
@pytest.fixture(params=["one_lane", "lanes"])
def lanes(request, monkeypatch):
    monkeypatch.setattr(wgpu_nn, "ONE_LANE_ON_SOFTWARE", request.param == "one_lane")


@pytest.mark.parametrize("classes", [3, 37])
@pytest.mark.parametrize("kw", [{}, {"weight": True}, {"label_smoothing": 0.1},
                                {"ignore_index": 1, "reduction": "sum"}, {"reduction": "none"}])
def test_cross_entropy_float64(f64_device, lanes, classes, kw):
    rng = np.random.default_rng(classes)
    v = rng.standard_normal((5, classes)) * 3.0
    t = rng.integers(0, classes, 5)
    wv = rng.random(classes)
    ours, theirs = dict(kw), dict(kw)
    if kw.get("weight"):
        ours["weight"], theirs["weight"] = torch.tensor(wv, device=f64_device), T.tensor(wv)
    x, w = torch.tensor(v, device=f64_device, requires_grad=True), T.tensor(v, requires_grad=True)
    loss = F.cross_entropy(x, torch.tensor(t, device=f64_device), **ours)
    want = TF.cross_entropy(w, T.tensor(t), **theirs)
    _close(loss, want)
    loss.sum().backward()
    want.sum().backward()
    _close(x.grad, w.grad)


def test_cross_entropy_nll_spatial_noncontiguous_and_nan(f64_device):
    v = np.random.default_rng(7).standard_normal((2, 4, 3))
    t = np.array([[0, 3, 1], [2, 2, 0]])
    x, w = torch.tensor(v, device=f64_device), T.from_numpy(v)
    _close(F.cross_entropy(x, torch.tensor(t, device=f64_device)), TF.cross_entropy(w, T.from_numpy(t)))
    lp = np.log(np.random.default_rng(8).dirichlet(np.ones(4), 6)).T  # a (4, 6) view: rows are columns
    _close(F.nll_loss(torch.tensor(lp, device=f64_device).t(), torch.tensor([0, 1, 2, 3, 0, 1], device=f64_device)),
           TF.nll_loss(T.from_numpy(lp).t(), T.tensor([0, 1, 2, 3, 0, 1])))
    bad = np.array([[1.0, math.nan, 0.0], [-math.inf, 0.0, 1.0], [1e300, -1e300, 0.0]])
    _close(F.cross_entropy(torch.tensor(bad, device=f64_device), torch.tensor([0, 1, 0], device=f64_device),
                           reduction="none"),
           TF.cross_entropy(T.from_numpy(bad), T.tensor([0, 1, 0]), reduction="none"))
    e = F.cross_entropy(torch.zeros(0, 3, dtype=torch.float64, device=f64_device),
                        torch.zeros(0, dtype=torch.int64, device=f64_device), reduction="sum")
    assert e.item() == 0.0 and e.dtype is torch.float64


@pytest.mark.parametrize("shape, normalized", [((4, 7), (7,)), ((2, 3, 33), (3, 33)), ((0, 5), (5,)), ((3, 1), (1,))])
def test_layer_norm_float64(f64_device, lanes, shape, normalized):
    rng = np.random.default_rng(len(shape) + shape[-1])
    v, wv, bv, g = (rng.standard_normal(s) for s in (shape, normalized, normalized, shape))
    v = v + 1e3  # a large mean: float32 would lose 1e-5 of the spread here
    xs = [torch.tensor(a, device=f64_device, requires_grad=True) for a in (v, wv, bv)]
    ws = [T.tensor(a, requires_grad=True) for a in (v, wv, bv)]
    y, want = F.layer_norm(*xs[:1], normalized, *xs[1:]), TF.layer_norm(*ws[:1], normalized, *ws[1:])
    _close(y, want, atol=1e-11)
    y.backward(torch.tensor(g, device=f64_device))
    want.backward(T.tensor(g))
    for a, b in zip(xs, ws):
        _close(a.grad, b.grad, rtol=1e-10, atol=1e-10)


def test_layer_norm_no_affine_view_and_inf(f64_device):
    v = np.random.default_rng(9).standard_normal((6, 5))
    v[2, 1] = math.inf
    x, w = torch.tensor(v, device=f64_device), T.from_numpy(v)
    _close(F.layer_norm(x.t(), (6,)), TF.layer_norm(w.t(), (6,)))
    _close(F.layer_norm(x, (5,), eps=0.5), TF.layer_norm(w, (5,), eps=0.5))
