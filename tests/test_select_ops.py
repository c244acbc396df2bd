"""The selection family against PyTorch on cpu and wgpu: index_put(accumulate), nonzero / argwhere /
where(condition), masked_select, masked_scatter, take, take_along_dim, put; and the CuPy path of the
backend's scatter and nonzero (ArrayBackend over xp; "rounds" for reductions) on the fake CuPy
against NumPy. Helpers and the scatter family: tests/test_scatter_ops.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wgtorch
from tests.fake_cupy import FakeCupy
from tests.test_scatter_ops import _f, check
from wgtorch._backends.array import ArrayBackend, numpy_backend
from wgtorch._backends.array_cuda import CudaArrayBackend
from wgtorch._dtype import bool_, float16, float32, int64


# -- index_put -----------------------------------------------------------------------------------
def test_index_put(device):
    x = _f(4, 3)
    rows, cols = np.array([0, 2, 0, 3]), np.array([1, 1, 1, 2])
    v = _f(4, seed=1)
    check(
        lambda L, x, r, c, v: L.index_put(x * 1, (r, c), v, accumulate=True), [x, rows, cols, v], device, grads=(0, 3)
    )
    check(
        lambda L, x, r, v: (x * 1).index_put((r,), v, accumulate=True),
        [x, rows, _f(4, 3, seed=2)],
        device,
        grads=(0, 2),
    )
    check(
        lambda L, x, r, v: (x * 1).index_put((r,), v, accumulate=True), [x, rows, _f(3, seed=2)], device, grads=(0, 2)
    )
    check(lambda L, x, r, v: (x * 1).index_put([r[1:]], v), [x, rows, _f(3, 3, seed=2)], device, grads=(0, 2))
    check(
        lambda L, x, m, v: (x * 1).index_put((m,), v, accumulate=True),
        [x, np.array([True, False, True, True]), np.array(2.0, np.float32)],
        device,
    )
    check(
        lambda L, x, r, v: x.clone().index_put_((r,), v, accumulate=True),
        [x, np.array([-1, -1]), _f(3, seed=3)],
        device,
    )
    check(lambda L, x, r, v: L.index_put_(x.clone(), (r,), v, True), [x, rows, _f(3, seed=3)], device)
    check(
        lambda L, x, r, v: x.bool().index_put((r,), v, accumulate=True), [x, np.array([1, 1]), np.array(True)], device
    )


def test_index_put_errors(device):
    x = wgtorch.zeros(3, device=device)
    i = wgtorch.tensor([1], device=device)
    with pytest.raises(TypeError):
        x.index_put((i,), 1.0)
    with pytest.raises(TypeError):
        x.index_put((None,), wgtorch.ones(1, device=device))
    with pytest.raises(RuntimeError, match="Index put requires the source and destination dtypes match"):
        x.index_put((i,), wgtorch.ones(1, dtype=wgtorch.int64, device=device), accumulate=True)
    with pytest.raises(IndexError, match="out of bounds"):
        x.index_put((wgtorch.tensor([3], device=device),), wgtorch.ones(1, device=device), accumulate=True)


# -- nonzero / argwhere / where(condition) -------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 63, 64, 65, 255, 256, 257])
def test_nonzero_sizes_around_the_chunk(device, n):
    a = (np.random.default_rng(n).random(n) > 0.6).astype(np.float32)
    check(lambda L, a: a.nonzero(), [a], device)
    check(lambda L, a: L.nonzero(a.reshape(1, n, 1) != 0, as_tuple=True), [a], device)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16, np.int32])
def test_nonzero_dtypes_shapes_views(device, dtype):
    a = np.random.default_rng(0).integers(-1, 2, (3, 4, 5)).astype(dtype)
    check(lambda L, a: L.nonzero(a), [a], device)
    check(lambda L, a: L.argwhere(a.permute(2, 0, 1)), [a], device)
    check(lambda L, a: a[:, 1:, ::2].nonzero(as_tuple=True), [a], device)
    check(lambda L, a: L.where(a[1]), [a], device)
    check(lambda L, a: a[:0].nonzero(), [a], device)
    check(lambda L, a: (a * 0).nonzero(), [a], device)


def test_nonzero_0d_and_nan(device):
    for v in (3.0, 0.0):
        check(lambda L, a: a.nonzero(), [np.array(v, np.float32)], device)
        check(lambda L, a: a.nonzero(as_tuple=True), [np.array(v, np.float32)], device)
        check(lambda L, a: L.where(a != 0), [np.array(v, np.float32)], device)
        check(lambda L, a: L.argwhere(a), [np.array(v, np.float32)], device)
    check(lambda L, a: a.nonzero(), [np.array([0.0, np.nan, -0.0, np.inf], np.float32)], device)


def test_where_three_arguments_still_work(device):
    check(
        lambda L, c, a, b: L.where(c, a, b), [np.array([True, False, True]), _f(3), _f(3, seed=1)], device, grads=(1, 2)
    )


# -- masked_select / masked_scatter -------------------------------------------------------------------
def test_masked_select(device):
    x = _f(3, 65)
    m = np.random.default_rng(2).random((3, 65)) > 0.5
    check(lambda L, x, m: L.masked_select(x * 1, m), [x, m], device, grads=(0,))
    check(lambda L, x, m: x.t().masked_select(m.t()), [x, m], device, grads=(0,))
    check(lambda L, x, m: x[:1].masked_select(m), [x, m], device, grads=(0,))  # x broadcasts
    check(lambda L, x, m: x.masked_select(m[:, :1]), [x, m], device, grads=(0,))  # mask broadcasts
    check(lambda L, x, m: x.long().masked_select(m), [x, m], device)
    check(lambda L, x, m: x.masked_select(m & False), [x, m], device)
    check(lambda L, x, m: x.masked_select(m), [np.array([np.nan, 1.0], np.float32), np.array([True, False])], device)


def test_masked_scatter(device):
    x, src = _f(3, 5), _f(4, 5, seed=1)
    m = np.random.default_rng(4).random((3, 5)) > 0.4
    check(lambda L, x, m, s: (x * 1).masked_scatter(m, s), [x, m, src], device, grads=(0, 2))
    check(lambda L, x, m, s: x.t().masked_scatter(m.t(), s), [x, m, src], device, grads=(0, 2))
    check(lambda L, x, m, s: x[0].masked_scatter(m, s), [x, m, src], device, grads=(0, 2))  # self broadcasts
    check(lambda L, x, m, s: x.clone().masked_scatter_(m, s), [x, m, src], device)
    check(lambda L, x, m, s: x.clone().masked_scatter_(m[:1], s), [x, m, src], device)
    check(lambda L, x, m, s: x.long().masked_scatter(m, s.long()), [x, m, src], device)


def test_masked_errors(device):
    x = wgtorch.zeros(3, device=device)
    with pytest.raises(RuntimeError, match="masked_select: expected BoolTensor for mask"):
        x.masked_select(wgtorch.ones(3, device=device))
    with pytest.raises(RuntimeError):
        x.masked_select(wgtorch.ones(2, dtype=wgtorch.bool, device=device))
    mask = wgtorch.tensor([True, True, False], device=device)
    with pytest.raises(RuntimeError, match="Number of elements of source < number of ones in mask"):
        x.masked_scatter(mask, wgtorch.ones(1, device=device))
    with pytest.raises(RuntimeError, match="same dtypes"):
        x.masked_scatter(mask, wgtorch.ones(2, dtype=wgtorch.int64, device=device))
    with pytest.raises(RuntimeError, match="only supports boolean masks"):
        x.masked_scatter(wgtorch.ones(3, dtype=wgtorch.int64, device=device), wgtorch.ones(3, device=device))
    with pytest.raises(RuntimeError):  # the in-place form does not broadcast self
        x.masked_scatter_(wgtorch.ones(2, 3, dtype=wgtorch.bool, device=device), wgtorch.ones(6, device=device))


# -- take / take_along_dim / put -------------------------------------------------------------------------
def test_take_and_put(device):
    x = _f(3, 4)
    index = np.array([[0, 11, -1], [5, 5, -12]])
    check(lambda L, x, i: (x * 1).take(i), [x, index], device, grads=(0,))
    check(lambda L, x, i: L.take(x.t(), i), [x, index], device, grads=(0,))
    check(lambda L, x, i: L.take(x.sum(), i[:, :1] * 0), [x, index], device, grads=(0,))
    src = _f(2, 3, seed=1)
    check(lambda L, x, i, s: (x * 1).put(i, s, accumulate=True), [x, index, src], device, grads=(0, 2))
    distinct = np.array([[0, 11, -2], [5, 6, 1]])
    check(lambda L, x, i, s: (x * 1).put(i, s), [x, distinct, src], device, grads=(0, 2))
    check(lambda L, x, i, s: x.clone().put_(i, s), [x, distinct, src], device)
    check(lambda L, x, i, s: x.long().put(i, s.long(), accumulate=True), [x, index, src], device)


def test_take_along_dim(device):
    x = _f(3, 4)
    check(lambda L, x, i: L.take_along_dim(x * 1, i), [x, np.array([[11, 0], [1, 3]])], device, grads=(0,))
    check(lambda L, x, i: (x * 1).take_along_dim(i, 1), [x, np.array([[3], [0], [-1]])], device, grads=(0,))
    check(lambda L, x, i: x.take_along_dim(i, dim=-2), [x, np.array([[2, 0, 1, 1]])], device)
    check(lambda L, x, i: x.t().take_along_dim(i, 0), [x, np.array([[0, 1, 2], [3, 3, 3]])], device)
    check(lambda L, x, i: x[:, :1].take_along_dim(i, 0), [x, np.array([[0, 1], [2, 2]])], device)  # x broadcasts


def test_take_put_errors(device):
    x = wgtorch.zeros(2, 3, device=device)
    i = wgtorch.tensor([1], device=device)
    one = wgtorch.ones(1, device=device)
    with pytest.raises(RuntimeError, match="Expected a long tensor for index"):
        x.take(i.int())
    with pytest.raises(RuntimeError, match="dtype of indices should be Long"):
        x.take_along_dim(i.int().reshape(1, 1), 1)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.take_along_dim(i, 1)
    with pytest.raises(RuntimeError, match="Expected a long tensor for index"):
        x.put(i.int(), one)
    with pytest.raises(IndexError, match="same number of elements"):
        x.put(wgtorch.tensor([1, 2], device=device), one)
    with pytest.raises(RuntimeError, match="same dtype"):
        x.put(i, one.long())


def test_take_put_bad_index_on_cpu():
    x = wgtorch.zeros(2, 3)
    for bad in (6, -7):
        with pytest.raises(IndexError, match=f"out of range: tried to access index {bad} on a tensor of 6"):
            x.take(wgtorch.tensor([bad]))
        with pytest.raises(IndexError, match="out of range"):
            x.put(wgtorch.tensor([bad]), wgtorch.ones(1))
        with pytest.raises(IndexError):
            torch.zeros(2, 3).take(torch.tensor([bad]))


# -- the CuPy path over the fake CuPy -----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["generic", "fused"])
@pytest.mark.parametrize("reduce", [None, "sum", "prod", "amax", "amin"])
def test_cupy_scatter_and_nonzero_match_numpy(kind, reduce):
    xp = FakeCupy()
    be = CudaArrayBackend(xp, 0) if kind == "fused" else ArrayBackend(xp, "cupy")
    ref = numpy_backend()
    rng = np.random.default_rng(5)
    for dt in (float32, int64, bool_, float16):
        a = rng.integers(-3, 4, (4, 6)).astype(dt.np)
        if reduce is None:
            idx = np.argsort(rng.random((4, 5)), axis=0)[:3]  # distinct targets per column
        else:
            idx = rng.integers(0, 4, (5, 5))
        src = rng.integers(-3, 4, (5, 6)).astype(dt.np)
        if dt is float32 and reduce in ("amax", "amin"):
            src[0, 0] = np.nan
        want = ref.scatter(a, 0, idx, src, reduce)
        got = xp.asnumpy(be.scatter(be.from_numpy(a, dt), 0, be.from_numpy(idx, int64), be.from_numpy(src, dt), reduce))
        np.testing.assert_array_equal(got, want)
    m = rng.random((3, 4)) > 0.5
    np.testing.assert_array_equal(xp.asnumpy(be.nonzero(be.from_numpy(m, bool_))), ref.nonzero(m))


def test_cupy_bad_scatter_index_is_reported():
    xp = FakeCupy()
    be = CudaArrayBackend(xp, 0)
    a = be.from_numpy(np.zeros((3, 2), np.float32), float32)
    out = be.scatter(
        a, 0, be.from_numpy(np.array([[4, 1]]), int64), be.from_numpy(np.ones((1, 2), np.float32), float32), "amax"
    )
    with pytest.raises(IndexError, match="out of range"):
        be.to_numpy(out)
    np.testing.assert_array_equal(be.to_numpy(out), [[0, 0], [0, 1], [0, 0]])  # the bad one wrote nothing


def test_nonzero_many_dims(device):
    a = (np.arange(2**9).reshape((2,) * 9) % 3 == 0).astype(np.float32)
    if device == "wgpu":  # the coordinates kernel holds 8 dims: a clear error past that
        with pytest.raises(RuntimeError, match="up to 8 dims"):
            wgtorch.tensor(a, device=device).nonzero()
        check(lambda L, a: a.reshape((4,) + (2,) * 7).nonzero(), [a], device)
    else:
        check(lambda L, a: a.nonzero(), [a], device)
