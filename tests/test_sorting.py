"""Sorting and searching ops against PyTorch (the oracle) on cpu and wgpu.

Each case is a function of a library wrapper ``L`` (PyTorch on cpu, or wgtorch on the device
under test) returning a tensor or a tuple of tensors. Both must agree exactly on shapes, dtypes
and values (NaN positions and the sign of zeros included), or raise the same exception type.
Where PyTorch leaves an index unspecified (ties in topk/kthvalue/median/mode, unstable sorts)
the data is tie-free or only values are compared (``only=(0,)``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch as T

import wgtorch as W

DTYPES = ["float32", "int32", "int64", "bool", "float16"]
SIZES = [1, 2, 63, 64, 65, 255, 256, 257, 1000, 2100]  # 2100 > one workgroup's block: multi-pass bitonic
NAN, INF = float("nan"), float("inf")
# PyTorch's hint that a non-contiguous searchsorted input costs a copy
pytestmark = pytest.mark.filterwarnings("ignore:torch.searchsorted.*non-contiguous:UserWarning")


class _Lib:
    def __init__(self, mod, device):
        self.mod, self.device, self.leaves = mod, device, []

    def t(self, a, dtype=None, grad=False):
        a = np.asarray(a)
        if dtype is not None:
            a = a.astype(dtype)
        elif a.dtype == np.float64:
            a = a.astype(np.float32)
        x = self.mod.tensor(a, device=self.device, requires_grad=grad)
        if grad:
            self.leaves.append(x)
        return x

    def __getattr__(self, name):
        return getattr(self.mod, name)


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, T.Tensor) else t.detach().numpy()


def _name(t):
    return str(t.dtype).split(".")[-1].replace("bool_", "bool")


def _outcome(lib, fn, grad):
    try:
        r = fn(lib)
        outs = list(r) if isinstance(r, (tuple, list)) else [r]
        if grad:
            v = outs[0]
            w = np.random.default_rng(7).standard_normal(tuple(v.shape)).astype(np.float32)
            v.backward(lib.mod.tensor(w, device=v.device).to(v.dtype))
            outs += [leaf.grad for leaf in lib.leaves]
        return "ok", outs
    except Exception as e:  # noqa: BLE001 - the exception type is what is compared
        return "err", (type(e), str(e))


def _same(g, w, what, signed_zero=True):
    assert isinstance(g, W.Tensor), f"{what}: wgtorch returned {type(g).__name__}"
    assert tuple(g.shape) == tuple(w.shape), f"{what}: shape {tuple(g.shape)} != torch's {tuple(w.shape)}"
    assert _name(g) == _name(w), f"{what}: dtype {_name(g)} != torch's {_name(w)}"
    gv, wv = _np(g), _np(w)
    if wv.dtype.kind == "f":
        tol = 2e-3 if wv.dtype == np.float16 else 1e-6
        np.testing.assert_allclose(gv.astype(np.float64), wv.astype(np.float64), rtol=tol, atol=tol, err_msg=what)
        if signed_zero:
            assert np.array_equal(np.signbit(gv[gv == 0]), np.signbit(wv[gv == 0])), f"{what}: sign of zeros differ"
    else:
        np.testing.assert_array_equal(gv, wv, err_msg=what)


def check(device, fn, only=None, grad=False, signed_zero=True):
    """fn(torch) and fn(wgtorch on device) agree (outputs in ``only``, else all; with ``grad`` the
    first output is backpropagated and the leaves' grads compared too)."""
    kind, want = _outcome(_Lib(T, "cpu"), fn, grad)
    got_kind, got = _outcome(_Lib(W, device), fn, grad)
    if kind == "err":
        assert got_kind == "err", f"torch raised {want[0].__name__}({want[1]!r}); wgtorch returned {got}"
        assert issubclass(got[0], want[0]), (
            f"torch raised {want[0].__name__}({want[1]!r}); wgtorch raised {got[0].__name__}({got[1]!r})"
        )
        np.testing.assert_array_equal((W.arange(5, device=device) * 2).numpy(), np.arange(5) * 2)
        return
    assert got_kind == "ok", f"torch returned {want}; wgtorch raised {got[0].__name__}({got[1]!r})"
    assert len(got) == len(want), f"{len(got)} outputs, torch has {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        if only is None or k in only or (grad and k >= len(want) - 1):
            _same(g, w, f"output {k}", signed_zero)


def _data(dtype, shape, seed=0, ties=True):
    """Values of ``dtype``: with repeated values (``ties``) or all distinct."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if not ties:
        a = rng.permutation(n) - n // 2
        return (a * 3 + 1).reshape(shape).astype(dtype) if dtype != "float16" else (a.reshape(shape) / 4).astype(dtype)
    if dtype in ("int32", "int64"):
        return rng.integers(-5, 6, size=shape).astype(dtype) * 1000003
    return np.round(rng.standard_normal(shape) * 4).astype(dtype) / 2


# -- sort, argsort, msort ---------------------------------------------------------------------------
# every size for float32 and int64; the sizes around the kernels' block for the other dtypes
SIZE_CASES = [(n, dt) for dt in DTYPES for n in (SIZES if dt in ("float32", "int64") else [1, 65, 257, 1000, 2100])]


@pytest.mark.parametrize("n,dt", SIZE_CASES)
def test_sort_stable_sizes(device, n, dt):
    a = _data(dt, (n,), seed=n)
    check(device, lambda L: L.sort(L.t(a), stable=True))
    check(device, lambda L: L.sort(L.t(a), descending=True, stable=True))


@pytest.mark.parametrize("n", [63, 257])
def test_sort_several_rows(device, n):
    a = _data("float32", (3, n), seed=5)
    check(device, lambda L: L.t(a).sort(dim=1, stable=True))
    check(device, lambda L: L.t(a).sort(dim=0, descending=True, stable=True))


@pytest.mark.parametrize("dt", ["float32", "float16"])
def test_sort_nan_inf_signed_zero(device, dt):
    a = np.array([3, NAN, -0.0, 1, 0.0, -INF, NAN, INF, -0.0, 1, -2, 0.0, NAN, 65504, -1e-3], dt)
    for desc in (False, True):
        check(device, lambda L, desc=desc: L.sort(L.t(a), descending=desc, stable=True))
        check(device, lambda L, desc=desc: L.argsort(L.t(a), descending=desc, stable=True))
    check(device, lambda L: L.sort(L.t(np.full(70, NAN, dt)), stable=True))


def test_sort_dims_and_views(device):
    a = _data("float32", (4, 5, 6), seed=3)
    for dim in (0, 1, 2, -1, -3):
        check(device, lambda L, dim=dim: L.sort(L.t(a), dim=dim, stable=True))
        check(device, lambda L, dim=dim: L.sort(L.t(a), dim=dim, descending=True, stable=True))
    check(device, lambda L: L.t(a).transpose(0, 2).sort(dim=1, stable=True))
    check(device, lambda L: L.t(a)[::2, 1:, ::3].sort(dim=-1, stable=True))
    check(device, lambda L: L.t(a[0, 0]).expand(3, 6).sort(dim=0, stable=True))
    check(device, lambda L: L.t(a).permute(2, 0, 1).argsort(dim=0, stable=True))
    check(device, lambda L: L.msort(L.t(a)))
    check(device, lambda L: L.t(a).transpose(0, 1).msort())


@pytest.mark.parametrize("shape,dim", [((0,), 0), ((3, 0), 1), ((3, 0), 0), ((0, 4), 1), ((), 0), ((), -1)])
@pytest.mark.parametrize("dt", ["float32", "int64"])
def test_sort_empty_and_0d(device, shape, dim, dt):
    a = _data(dt, shape)
    check(device, lambda L: L.sort(L.t(a), dim))
    check(device, lambda L: L.argsort(L.t(a), dim, descending=True))


def test_sort_errors(device):
    check(device, lambda L: L.sort(L.t([1.0, 2.0]), 1))
    check(device, lambda L: L.sort(L.t(np.ones((2, 2), np.float32)), -3))
    check(device, lambda L: L.sort(L.t(3.0), 1))


def test_sort_unstable_ties_values(device):
    a = _data("float32", (300,), seed=9)
    check(device, lambda L: L.sort(L.t(a)), only=(0,), signed_zero=False)  # (-0.0 vs 0.0: a tie)
    check(device, lambda L: L.sort(L.t(a), descending=True), only=(0,), signed_zero=False)


def test_sort_gradients(device):
    a = _data("float32", (4, 70), seed=11)
    check(device, lambda L: L.sort(L.t(a, grad=True), dim=1, stable=True), grad=True)
    check(device, lambda L: L.sort(L.t(a, grad=True).t(), dim=0, descending=True, stable=True), grad=True)
    check(device, lambda L: L.msort(L.t(a, grad=True)), grad=True)


# -- topk --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "n,dt",
    [(n, "float32") for n in (1, 2, 65, 257, 1000)]
    + [(n, dt) for dt in ("int32", "int64", "float16") for n in (2, 257)],
)
def test_topk(device, n, dt):
    a = _data(dt, (n,), seed=n, ties=False)
    for k in sorted({0, 1, min(5, n), n}):
        check(device, lambda L, k=k: L.topk(L.t(a), k))
        check(device, lambda L, k=k: L.t(a).topk(k, largest=False))
        check(device, lambda L, k=k: L.topk(L.t(a), k, 0, True, False)[0].sort()[0])  # (any order: compare sorted)


def test_topk_dims_views_nan_grad(device):
    a = _data("float32", (5, 7, 3), seed=2, ties=False)
    check(device, lambda L: L.topk(L.t(a), 2, dim=1))
    check(device, lambda L: L.topk(L.t(a).transpose(0, 2), 3, dim=-2, largest=False))
    check(device, lambda L: L.topk(L.t(a)[::2], 1, dim=0))
    b = np.array([1.0, NAN, 3.0, -INF, 2.0, NAN, INF], np.float32)
    check(device, lambda L: L.topk(L.t(b), 4))
    check(device, lambda L: L.topk(L.t(b), 5, largest=False))
    check(device, lambda L: L.topk(L.t(a, grad=True), 3, dim=1), grad=True)
    check(device, lambda L: L.topk(L.t(_data("float32", (20,), ties=True)), 6), only=(0,))
    check(device, lambda L: L.topk(L.t(2.5), 1))


@pytest.mark.parametrize("dt", ["float32", "int32", "float16"])
def test_topk_long_rows(device, dt):
    """Rows past two sort blocks take the tournament path: it must agree with the stable sort."""
    a = _data(dt, (2, 1500 if dt == "float16" else 3000), seed=12, ties=False)  # (float16: still distinct)
    for k in (1, 10, 128):
        check(device, lambda L, k=k: L.topk(L.t(a), k))
        check(device, lambda L, k=k: L.topk(L.t(a).t(), k, dim=0, largest=False))
    ties = _data(dt, (3, 1100), seed=13)
    if dt != "int32":
        ties[0, ::7], ties[1, 5:1100:3] = NAN, -INF
    x = W.tensor(ties, device=device)
    for largest in (True, False):
        v, i = x.topk(100, largest=largest)
        sv, si = x.sort(dim=1, descending=largest, stable=True)
        np.testing.assert_array_equal(i.numpy(), si.numpy()[:, :100])
        np.testing.assert_array_equal(v.numpy(), sv.numpy()[:, :100])
        check(device, lambda L, lg=largest: L.topk(L.t(ties), 100, largest=lg), only=(0,), signed_zero=False)
    check(device, lambda L: L.topk(L.t(a.astype(np.float32), grad=True), 5), grad=True)


def test_topk_errors(device):
    check(device, lambda L: L.topk(L.t([1.0, 2.0]), 3))
    check(device, lambda L: L.topk(L.t([1.0, 2.0]), -1))
    check(device, lambda L: L.topk(L.t([True, False]), 1))
    check(device, lambda L: L.topk(L.t([1.0, 2.0]), 1, dim=2))


# -- kthvalue, median, nanmedian ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "n,dt",
    [(n, "float32") for n in (1, 2, 63, 64, 65, 257, 1000)]
    + [(n, dt) for dt in ("int32", "int64", "float16") for n in (2, 65)],
)
def test_kthvalue_median(device, n, dt):
    a = _data(dt, (n,), seed=n + 1, ties=False)
    for k in sorted({1, (n + 1) // 2, n}):
        check(device, lambda L, k=k: L.kthvalue(L.t(a), k))
    check(device, lambda L: L.median(L.t(a)))
    check(device, lambda L: L.t(a).median(0))
    check(device, lambda L: L.nanmedian(L.t(a)))
    check(device, lambda L: L.t(a).nanmedian(-1, keepdim=True))


def test_kthvalue_median_dims_views_grad(device):
    a = _data("float32", (4, 6, 5), seed=4, ties=False)
    for dim in (0, 1, -1):
        check(device, lambda L, dim=dim: L.kthvalue(L.t(a), 2, dim))
        check(device, lambda L, dim=dim: L.kthvalue(L.t(a), 3, dim, keepdim=True))
        check(device, lambda L, dim=dim: L.median(L.t(a), dim))
        check(device, lambda L, dim=dim: L.nanmedian(L.t(a), dim, True))
    check(device, lambda L: L.t(a).transpose(0, 2).median(1))
    check(device, lambda L: L.t(a)[:, ::2].kthvalue(2, 1))
    check(device, lambda L: L.kthvalue(L.t(a, grad=True), 2, 1), grad=True)
    check(device, lambda L: L.median(L.t(a, grad=True), 0), grad=True)
    check(device, lambda L: L.median(L.t(a, grad=True)), grad=True)
    check(device, lambda L: L.nanmedian(L.t(a, grad=True), 2), grad=True)
    ties = _data("float32", (3, 40), seed=1)
    check(device, lambda L: L.median(L.t(ties), 1), only=(0,))
    check(device, lambda L: L.kthvalue(L.t(ties), 7, 1), only=(0,))


def test_median_nan(device):
    a = np.array(
        [[3.0, NAN, 1.0, 2.0, NAN], [5.0, 4.0, 1.0, 0.5, 2.5], [NAN, NAN, NAN, NAN, NAN], [1.0, 2.0, NAN, 7.0, -1.0]],
        np.float32,
    )
    check(device, lambda L: L.median(L.t(a), 1))
    check(device, lambda L: L.nanmedian(L.t(a), 1), only=(0,))  # (the index of an all-NaN row is unspecified)
    check(device, lambda L: L.nanmedian(L.t(a[[0, 1, 3]]), 1))
    check(device, lambda L: L.median(L.t(a)))
    check(device, lambda L: L.nanmedian(L.t(a)))
    check(device, lambda L: L.nanmedian(L.t(a[1:2])))
    check(device, lambda L: L.kthvalue(L.t(a[0]), 4))


def test_median_kthvalue_edges_and_errors(device):
    check(device, lambda L: L.median(L.t(np.zeros((0,), np.float32))))
    check(device, lambda L: L.nanmedian(L.t(np.zeros((2, 0), np.float32))))
    check(device, lambda L: L.median(L.t(np.zeros((0, 3), np.float32)), 1))
    check(device, lambda L: L.median(L.t(np.zeros((0, 3), np.float32)), 0))
    check(device, lambda L: L.median(L.t(2.5), 0))
    check(device, lambda L: L.kthvalue(L.t(2.5), 1))
    check(device, lambda L: L.kthvalue(L.t([1.0, 2.0]), 0))
    check(device, lambda L: L.kthvalue(L.t([1.0, 2.0]), 3))
    check(device, lambda L: L.kthvalue(L.t([True, False]), 1))
    check(device, lambda L: L.median(L.t([True, False])))
    check(device, lambda L: L.median(L.t([1.0, 2.0]), 1))


# -- mode ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", ["float32", "int32", "int64", "bool", "float16"])
def test_mode(device, dt):
    rng = np.random.default_rng(3)
    small = rng.integers(0, 4, size=(6, 9)).astype(dt)  # rows of <= 16: PyTorch's index is the last occurrence
    check(device, lambda L: L.mode(L.t(small)))
    check(device, lambda L: L.mode(L.t(small), 0, keepdim=True))
    check(device, lambda L: L.t(small).t().mode(1))
    check(device, lambda L: L.t(small)[::2, 1:].mode())
    big = rng.integers(0, 9, size=(3, 300)).astype(dt)
    check(device, lambda L: L.mode(L.t(big)), only=(0,))


def test_mode_index_points_at_mode_and_grad(device):
    big = np.random.default_rng(4).integers(-3, 7, size=(5, 1000)).astype(np.float32)
    v, i = W.mode(W.tensor(big, device=device), 1)
    assert np.array_equal(np.take_along_axis(big, i.numpy()[:, None], 1)[:, 0], v.numpy())
    a = np.random.default_rng(5).integers(0, 3, size=(4, 7)).astype(np.float32)
    check(device, lambda L: L.mode(L.t(a, grad=True), 1), grad=True)


def test_mode_edges(device):
    check(device, lambda L: L.mode(L.t(4.0)))
    check(device, lambda L: L.mode(L.t(np.zeros((0, 3), np.float32)), 1))
    check(device, lambda L: L.mode(L.t(np.zeros((0, 3), np.float32)), 0))
    check(device, lambda L: L.mode(L.t([1.0, 2.0]), 3))


# -- unique, unique_consecutive ----------------------------------------------------------------------
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("n", [1, 65, 300])
def test_unique(device, dt, n):
    a = _data(dt, (n,), seed=n)
    # (which of -0.0 and 0.0 stands for their group is unspecified: signs not compared)
    check(device, lambda L: L.unique(L.t(a)), signed_zero=False)
    check(device, lambda L: L.unique(L.t(a), return_inverse=True, return_counts=True), signed_zero=False)
    check(device, lambda L: L.t(a).unique(sorted=False, return_counts=True), signed_zero=False)
    check(device, lambda L: L.unique_consecutive(L.t(a), return_inverse=True, return_counts=True))
    check(device, lambda L: L.t(np.sort(a)).unique_consecutive(return_counts=True))


def test_unique_shapes_views_nan(device):
    a = _data("int64", (4, 6), seed=6)
    check(device, lambda L: L.unique(L.t(a).t(), return_inverse=True))
    check(device, lambda L: L.unique(L.t(a)[::2, 1::2], return_inverse=True, return_counts=True))
    check(device, lambda L: L.unique(L.t(7), return_inverse=True, return_counts=True))
    check(device, lambda L: L.unique(L.t(np.zeros((2, 0), np.float32)), return_inverse=True, return_counts=True))
    check(
        device, lambda L: L.unique_consecutive(L.t(np.zeros((0,), np.int64)), return_inverse=True, return_counts=True)
    )
    b = np.array([2.0, NAN, 1.0, INF, NAN, 2.0, -INF, 1.0], np.float32)
    check(device, lambda L: L.unique(L.t(b), return_inverse=True, return_counts=True))
    check(device, lambda L: L.unique_consecutive(L.t(np.array([NAN, NAN, 1.0, 1.0], np.float32)), return_counts=True))
    z = np.array([0.0, -0.0, 1.0, -0.0], np.float32)
    check(device, lambda L: L.unique(L.t(z), return_counts=True), signed_zero=False)


def test_unique_dim(device):
    a = np.random.default_rng(8).integers(0, 2, size=(7, 3)).astype(np.int64)
    for dim in (0, 1, -2):
        check(device, lambda L, dim=dim: L.unique(L.t(a), dim=dim, return_inverse=True, return_counts=True))
        check(device, lambda L, dim=dim: L.unique_consecutive(L.t(a), dim=dim, return_inverse=True, return_counts=True))
    f = np.random.default_rng(9).integers(-2, 2, size=(3, 6, 2)).astype(np.float32)
    check(device, lambda L: L.unique(L.t(f), dim=1, return_inverse=True, return_counts=True))
    check(device, lambda L: L.unique(L.t(f).transpose(0, 1), dim=0))
    check(device, lambda L: L.unique(L.t(np.zeros((0, 2), np.float32)), dim=0, return_inverse=True, return_counts=True))
    check(device, lambda L: L.unique(L.t(np.zeros((3, 0), np.float32)), dim=0))


# -- searchsorted, bucketize -------------------------------------------------------------------------
@pytest.mark.parametrize("m", [0, 1, 2, 63, 64, 65, 257, 1000])
def test_searchsorted_1d(device, m):
    rng = np.random.default_rng(m)
    seq = np.sort(np.round(rng.standard_normal(m) * 3)).astype(np.float32)
    vals = np.concatenate([np.round(rng.standard_normal(50) * 4), [NAN, INF, -INF, -0.0], seq[:5]]).astype(np.float32)
    for right in (False, True):
        check(device, lambda L, right=right: L.searchsorted(L.t(seq), L.t(vals), right=right))
    check(device, lambda L: L.searchsorted(L.t(seq), L.t(vals), side="right", out_int32=True))
    check(device, lambda L: L.bucketize(L.t(vals), L.t(seq)))
    check(device, lambda L: L.bucketize(L.t(vals), L.t(seq), right=True, out_int32=True))


def test_searchsorted_nd_sorter_dtypes_views(device):
    rng = np.random.default_rng(1)
    seq = np.sort(rng.integers(-20, 20, size=(2, 3, 9)), axis=-1).astype(np.int64)
    vals = rng.integers(-25, 25, size=(2, 3, 4)).astype(np.int64)
    check(device, lambda L: L.searchsorted(L.t(seq), L.t(vals)))
    check(device, lambda L: L.searchsorted(L.t(seq), L.t(vals), right=True))
    check(device, lambda L: L.searchsorted(L.t(seq, "int32"), L.t(vals, "int32")))
    check(device, lambda L: L.searchsorted(L.t(seq), L.t(vals).float() + 0.5))
    check(device, lambda L: L.searchsorted(L.t(seq, "float16"), L.t(vals, "float16")))
    check(device, lambda L: L.searchsorted(L.t(seq)[:, ::2], L.t(vals)[:, ::2]))
    check(device, lambda L: L.searchsorted(L.t(seq).transpose(0, 1), L.t(vals).transpose(0, 1)))
    unsorted = rng.permutation(np.arange(12)).astype(np.float32) - 6
    sorter = np.argsort(unsorted).astype(np.int64)
    q = np.array([-7, -6, -0.5, 0, 3, 5, 6, 9], np.float32)
    check(device, lambda L: L.searchsorted(L.t(unsorted), L.t(q), sorter=L.t(sorter)))
    check(device, lambda L: L.searchsorted(L.t(unsorted), L.t(q), right=True, sorter=L.t(sorter)))
    check(device, lambda L: L.searchsorted(L.t(seq[0, 0]), 3))
    check(device, lambda L: L.searchsorted(L.t(seq[0, 0]), L.t(3)))
    check(device, lambda L: L.bucketize(2.5, L.t([1.0, 2.0, 3.0])))
    check(device, lambda L: L.searchsorted(L.t(np.zeros((2, 0), np.float32)), L.t(np.zeros((2, 3), np.float32))))
    check(device, lambda L: L.searchsorted(L.t([1.0, 2.0]), L.t(np.zeros((0, 3), np.float32))))


def test_searchsorted_nan_in_sequence(device):
    seq = np.array([1.0, 2.0, 2.0, NAN], np.float32)
    vals = np.array([NAN, 2.0, 5.0, 0.0], np.float32)
    check(device, lambda L: L.searchsorted(L.t(seq), L.t(vals)))
    check(device, lambda L: L.searchsorted(L.t(seq), L.t(vals), right=True))


def test_searchsorted_errors(device):
    s = np.array([1.0, 2.0, 3.0], np.float32)
    check(device, lambda L: L.searchsorted(L.t(np.ones((2, 2), np.float32)), L.t([1.0])))
    check(device, lambda L: L.searchsorted(L.t(s), L.t([1.0]), side="rite"))
    check(device, lambda L: L.searchsorted(L.t(s), L.t([1.0]), right=True, side="left"))
    check(device, lambda L: L.searchsorted(L.t(s), L.t([1.0]), sorter=L.t([0, 1, 5])))
    check(device, lambda L: L.searchsorted(L.t(s), L.t([1.0]), sorter=L.t([0, 1])))
    check(device, lambda L: L.searchsorted(L.t(s), L.t([1.0]), sorter=L.t([0, 1, 2], "int32")))
    check(device, lambda L: L.searchsorted(L.t(np.ones((2, 2), np.float32)), 1.0))
    check(device, lambda L: L.bucketize(L.t([1.0]), L.t(np.ones((2, 2), np.float32))))


# -- histc -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", ["float32", "float16"])
def test_histc(device, dt):
    rng = np.random.default_rng(2)
    a = np.round(rng.standard_normal(1000) * 8).astype(dt) / 4
    check(device, lambda L: L.histc(L.t(a)))
    check(device, lambda L: L.histc(L.t(a), bins=7, min=-1, max=1))
    check(device, lambda L: L.t(a).histc(5, 0, 2))
    b = np.array([1.0, 2.0, 1.0, NAN, 7.0, 0.0, 3.0, -INF, INF, 2.999], dt)
    check(device, lambda L: L.histc(L.t(b), bins=4, min=0, max=3))
    check(device, lambda L: L.histc(L.t(np.array([2.0, 2.0], dt)), bins=4))
    check(device, lambda L: L.histc(L.t(a.reshape(10, 100)).t()[::3], bins=6))
    check(device, lambda L: L.histc(L.t(np.zeros((0,), dt)), bins=3))


def test_histc_errors(device):
    check(device, lambda L: L.histc(L.t([1, 2, 3]), 3))
    check(device, lambda L: L.histc(L.t([1.0, 2.0]), bins=0))
    check(device, lambda L: L.histc(L.t([1.0, 2.0]), bins=3, min=3, max=1))
    check(device, lambda L: L.histc(L.t([1.0, 2.0, NAN]), bins=3))
    check(device, lambda L: L.histc(L.t([1.0, 2.0, INF]), bins=3))


# -- the device path and the xp backend ----------------------------------------------------------
def test_wgpu_sort_runs_on_the_device(wgpu_device):
    """sort, topk and searchsorted record kernels only: no submit (no host round trip) until a read."""
    x = W.tensor(_data("float32", (3, 700), seed=1), device=wgpu_device)
    s = W.tensor(np.arange(10, dtype=np.float32), device=wgpu_device)
    rt = x._be.rt
    rt.synchronize()
    submits = rt.stats["submits"]
    v, i = x.sort(1, descending=True, stable=True)
    t = x.topk(3)
    pos = W.searchsorted(s, x)
    assert rt.stats["submits"] == submits
    check_v, check_i = T.sort(T.tensor(x.numpy()), dim=1, descending=True, stable=True)
    assert np.array_equal(v.numpy(), check_v.numpy()) and np.array_equal(i.numpy(), check_i.numpy())
    assert np.array_equal(t[0].numpy(), T.topk(T.tensor(x.numpy()), 3)[0].numpy())
    assert np.array_equal(pos.numpy(), T.searchsorted(T.arange(10.0), T.tensor(x.numpy())).numpy())


def test_xp_backend_over_fake_cupy():
    from tests.fake_cupy import FakeCupy
    from wgtorch._backends.array import ArrayBackend, numpy_backend

    xp = FakeCupy()
    be, ref = ArrayBackend(xp, "cupy"), numpy_backend()
    a = np.array([[3.0, NAN, -0.0, 1.0, 0.0, 3.0], [2.0, 2.0, -INF, NAN, 1.0, 0.5]], np.float32)
    for desc in (False, True):
        got = be.sort(xp.asarray(a), 1, desc)
        want = ref.sort(a, 1, desc)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(xp.asnumpy(g), w)
    seq = np.array([1.0, 2.0, 2.0, 5.0], np.float32)
    got = be.searchsorted(xp.asarray(seq), xp.asarray(a), True, None)
    np.testing.assert_array_equal(xp.asnumpy(got), ref.searchsorted(seq, a, True, None))


def test_wgpu_grids_fold_past_the_workgroup_limit(wgpu_device, monkeypatch):
    """With the per-dimension workgroup limit lowered to 3, every sort and search pass is folded
    into a 2-D grid (with spare workgroups that must do nothing), as grids past 65,535 are."""
    x = W.tensor(_data("float32", (2100,), seed=3), device=wgpu_device)
    monkeypatch.setattr(x._be.rt, "max_groups", 3)
    check(wgpu_device, lambda L: L.sort(L.t(_data("float32", (2100,), seed=3)), descending=True, stable=True))
    check(wgpu_device, lambda L: L.sort(L.t(_data("int32", (7, 300), seed=4)), dim=0, stable=True))
    seq = np.sort(_data("float32", (500,), seed=5))
    check(wgpu_device, lambda L: L.searchsorted(L.t(seq), L.t(_data("float32", (1000,), seed=6)), right=True))
