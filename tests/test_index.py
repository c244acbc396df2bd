"""Index ops (index_select, gather, scatter_add, embedding, masked_fill, x[idx], x[mask]) on cpu
and wgpu against NumPy, with their gradients and the out-of-range IndexError."""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch as torch
from tests.helpers import assert_close, rand

INDEX_DTYPES = [torch.int64, torch.int32]


def _skip_without_f16(device, dt):
    from wgtorch._device import get_backend

    if dt is torch.float16 and device != "cpu" and "shader-f16" not in get_backend(device).rt.features:
        pytest.skip("this adapter lacks shader-f16")


def _t(a, device, dtype=None, requires_grad=False):
    a = np.asarray(a)
    if a.dtype == np.float64:  # Python floats: float32, as torch.tensor([1.0]) gives
        a = a.astype(np.float32)
    return torch.tensor(a, dtype=dtype, device=device, requires_grad=requires_grad)


def _scatter_add_ref(a, dim, idx, src):
    out = a.copy()
    grids = list(np.indices(idx.shape, sparse=True))
    grids[dim] = idx
    np.add.at(out, tuple(grids), src[tuple(slice(0, n) for n in idx.shape)])
    return out


# -- index_select --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((7,), -1), ((5, 9), 0), ((5, 9), 1), ((5, 9), -1),
                                       ((3, 4, 5), 0), ((3, 4, 5), 1), ((3, 4, 5), 2)])
@pytest.mark.parametrize("idt", INDEX_DTYPES)
def test_index_select(device, shape, dim, idt):
    a = rand(*shape, seed=1)
    n = shape[dim]
    idx = np.array([n - 1, 0, 2, 2, n - 1, 1])  # repeated entries
    assert_close(torch.index_select(_t(a, device), dim, _t(idx, device, idt)), np.take(a, idx, axis=dim),
                 rtol=0, atol=0)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 257])
def test_index_select_sizes_around_the_workgroup(device, n):
    a = rand(n, 3, seed=n)
    idx = np.random.default_rng(n).integers(0, n, size=n + 2)
    assert_close(_t(a, device).index_select(0, _t(idx, device)), a[idx], rtol=0, atol=0)


@pytest.mark.parametrize("dt", [torch.float16, torch.int32, torch.int64, torch.bool])
def test_index_select_dtypes(device, dt):
    _skip_without_f16(device, dt)
    a = (rand(4, 6, seed=2) * 10).astype(dt.np)
    idx = np.array([5, 0, 5, 3])
    assert_close(_t(a, device, dt).index_select(1, _t(idx, device)), a[:, idx], rtol=0, atol=0, dtype=dt)


def test_index_select_non_contiguous(device):
    a = rand(6, 8, seed=3)
    idx = np.array([7, 1, 3, 3, 0, 5, 2, 6])
    x = _t(a, device)
    i = _t(idx, device)
    assert_close(x.t().index_select(0, i[::2]), a.T[idx[::2]], rtol=0, atol=0)           # transposed input,
    assert_close(x[::2, 1::3].index_select(1, _t([2, 0, 1, 0], device)), a[::2, 1::3][:, [2, 0, 1, 0]],
                 rtol=0, atol=0)                                                         # stepped slices
    assert_close(x[1:, ::2].index_select(0, i[1::3] % 5), a[1:, ::2][idx[1::3] % 5], rtol=0, atol=0)


def test_index_select_empty_nan_and_scalar(device):
    a = np.array([[1.0, np.nan], [np.inf, -np.inf], [-0.0, 3.0]], np.float32)
    x = _t(a, device)
    assert_close(x.index_select(0, _t([2, 1, 0, 1], device)), a[[2, 1, 0, 1]], rtol=0, atol=0)
    assert tuple(x.index_select(0, _t(np.zeros(0, np.int64), device)).shape) == (0, 2)
    assert tuple(x.index_select(1, _t(np.zeros(0, np.int64), device)).shape) == (3, 0)
    assert tuple(_t(np.zeros((0, 4), np.float32), device).index_select(1, _t([3, 0], device)).shape) == (0, 2)
    s = _t(np.float32(5.0), device)
    assert_close(s.index_select(0, _t([0], device)), np.float32(5.0))


def test_index_select_past_65535_workgroups(wgpu_device):
    # 64 threads a workgroup: 4.3 M indices need a 2-D grid of workgroups.
    n = 65_536 * 64 + 100
    idx = np.random.default_rng(0).integers(0, 5, size=n)
    a = np.array([10, 20, 30, 40, 50], np.int32)
    out = _t(a, wgpu_device).index_select(0, _t(idx, wgpu_device, torch.int32))
    np.testing.assert_array_equal(out.numpy(), a[idx])


# -- gather ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", [((9,), 0), ((5, 7), 0), ((5, 7), 1), ((5, 7), -1), ((3, 4, 5), 1),
                                       ((3, 4, 5), 2)])
@pytest.mark.parametrize("idt", INDEX_DTYPES)
def test_gather(device, shape, dim, idt):
    a = rand(*shape, seed=4)
    index_shape = list(shape)
    index_shape[dim] += 2  # gather may read a position several times
    idx = np.random.default_rng(5).integers(0, shape[dim], size=index_shape)
    assert_close(torch.gather(_t(a, device), dim, _t(idx, device, idt)), np.take_along_axis(a, idx, dim),
                 rtol=0, atol=0)


def test_gather_smaller_index_strided_and_dtypes(device):
    a = rand(5, 6, seed=6)
    idx = np.random.default_rng(7).integers(0, 5, size=(3, 4))
    # index smaller than a on the other dim: PyTorch reads a[:, :4]
    assert_close(_t(a, device).gather(0, _t(idx, device)), np.take_along_axis(a[:, :4], idx, 0),
                 rtol=0, atol=0)
    idx_t = np.random.default_rng(8).integers(0, 6, size=(4, 5))
    assert_close(_t(a, device).t().gather(0, _t(idx_t, device).t().t()), np.take_along_axis(a.T, idx_t, 0),
                 rtol=0, atol=0)
    assert_close(_t(a, device).gather(1, _t(idx_t, device).t()), np.take_along_axis(a, idx_t.T, 1),
                 rtol=0, atol=0)                                                    # transposed index
    ai = (a * 100).astype(np.int64)
    assert_close(_t(ai, device).gather(1, _t(idx_t.T, device)), np.take_along_axis(ai, idx_t.T, 1),
                 dtype=torch.int64)
    assert tuple(_t(a, device).gather(1, _t(np.zeros((5, 0), np.int64), device)).shape) == (5, 0)


# -- scatter_add -----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", [((6,), 0), ((4, 5), 0), ((4, 5), 1), ((4, 5), -1), ((3, 4, 5), 0),
                                       ((3, 4, 5), 2)])
@pytest.mark.parametrize("idt", INDEX_DTYPES)
def test_scatter_add(device, shape, dim, idt):
    a = rand(*shape, seed=9)
    src_shape = list(shape)
    src_shape[dim] = 3 * shape[dim] + 1  # every position is hit several times
    src = rand(*src_shape, seed=10)
    idx = np.random.default_rng(11).integers(0, shape[dim], size=src_shape)
    got = torch.scatter_add(_t(a, device), dim, _t(idx, device, idt), _t(src, device))
    assert_close(got, _scatter_add_ref(a, dim % len(shape), idx, src), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dt", [torch.float32, torch.float16, torch.int32, torch.int64, torch.bool])
def test_scatter_add_accumulates_exactly(device, dt):
    _skip_without_f16(device, dt)
    # Small integers: every order of atomic additions gives the same exact sum.
    rng = np.random.default_rng(12)
    a = rng.integers(0, 4, size=(5, 7)).astype(dt.np)
    src = rng.integers(0, 4, size=(40, 7)).astype(dt.np)
    idx = rng.integers(0, 5, size=(40, 7))
    idx[:, 0] = 2  # one column piles everything on one element
    got = _t(a, device, dt).scatter_add(0, _t(idx, device), _t(src, device, dt))
    assert_close(got, _scatter_add_ref(a, 0, idx, src), rtol=0, atol=0, dtype=dt)


def test_scatter_add_strided_smaller_index_nan(device):
    a = rand(6, 4, seed=13)
    src = rand(5, 8, seed=14)
    idx = np.random.default_rng(15).integers(0, 6, size=(3, 3))
    x, s = _t(a, device), _t(src, device)
    # a transposed view (4, 6), src stepped (5, 4), index smaller than both
    got = x.t().scatter_add(1, _t(idx, device).t().t(), s[:, ::2])
    assert_close(got, _scatter_add_ref(a.T.copy(), 1, idx, src[:, ::2]), rtol=1e-6, atol=1e-6)
    a_nan = a.copy()
    a_nan[0, 0] = np.nan
    src_nan = src[:, :4].copy()
    src_nan[1, 1] = np.inf
    idx2 = np.zeros((5, 4), np.int64)
    got = _t(a_nan, device).scatter_add(0, _t(idx2, device), _t(src_nan, device))
    expect = _scatter_add_ref(a_nan, 0, idx2, src_nan)
    assert np.isnan(got.numpy()[0, 0]) and np.isinf(got.numpy()[0, 1])
    assert_close(got, expect, rtol=1e-6, atol=1e-6)
    assert_close(x.scatter_add(0, _t(np.zeros((0, 4), np.int64), device), s), a)  # empty index: a copy


def test_scatter_add_returns_a_new_tensor(device):
    a = np.zeros(4, np.float32)
    x = _t(a, device)
    y = x.scatter_add(0, _t([1, 1, 3], device), _t([1.0, 2.0, 4.0], device))
    assert_close(y, [0, 3, 0, 4])
    assert_close(x, a)


# -- out-of-range indices --------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["index_select", "gather", "scatter_add"])
@pytest.mark.parametrize("bad", [5, -1, 2**31 - 1])
def test_out_of_range_raises_and_device_keeps_working(device, op, bad):
    a = np.arange(10, dtype=np.float32).reshape(5, 2)
    x = _t(a, device)
    idx = np.array([[0, 1], [bad, 4]])
    # PyTorch's types on cpu: IndexError for index_select, RuntimeError naming the value for gather
    # and scatter_add; on wgpu the kernel's deferred report has the same types.
    error, match = IndexError, "index out of range in self"
    if op != "index_select":
        error, match = RuntimeError, f"index {bad} is out of bounds for dimension 0 with size 5"
    with pytest.raises(error, match=match):
        if op == "index_select":
            r = x.index_select(0, _t(idx[:, 0], device))
        elif op == "gather":
            r = x.gather(0, _t(idx, device))
        else:
            r = x.scatter_add(0, _t(idx, device), _t(np.ones((2, 2), np.float32), device))
        r.numpy()
    # the error was reported once; the device computes correctly afterwards
    assert_close(x.index_select(0, _t([4, 0], device)), a[[4, 0]])
    cols = np.array([[1], [0], [1], [0], [1]])
    assert_close(x.gather(1, _t(cols, device)), np.take_along_axis(a, cols, 1))


def test_out_of_range_is_reported_at_synchronize(wgpu_device):
    x = _t(np.ones((3, 3), np.float32), wgpu_device)
    y = x.gather(1, _t([[0], [3], [1]], wgpu_device))  # recorded, not yet checked
    z = x + 1
    with pytest.raises(RuntimeError, match="index 3 is out of bounds for dimension 1 with size 3: gather on wgpu"):
        torch.wgpu.synchronize()
    torch.wgpu.synchronize()  # reported once
    assert_close(z, np.full((3, 3), 2, np.float32))
    assert_close(y, [[1], [0], [1]])  # the bad element was not read from memory: it is 0


def test_index_argument_errors(device):
    x = _t(rand(3, 4), device)
    with pytest.raises(RuntimeError, match="Expected dtype int32 or int64 for index"):
        x.index_select(0, _t([0.0, 1.0], device))
    with pytest.raises(RuntimeError, match=r"gather\(\): Expected dtype int32/int64 for index"):
        x.gather(0, _t([[0.0, 1.0]], device))
    with pytest.raises(RuntimeError, match=r"scatter\(\): Expected self.dtype to be equal to src.dtype"):
        x.scatter_add(0, _t([[0, 1]], device), _t([[1, 2]], device))
    with pytest.raises(IndexError, match="supposed to be a vector"):
        x.index_select(0, _t([[0]], device))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(0, _t([0, 1], device))
    with pytest.raises(RuntimeError, match="Size does not match"):
        x.gather(0, _t(np.zeros((1, 5), np.int64), device))
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.index_select(2, _t([0], device))
    other = "cpu" if device == "wgpu" else "wgpu"
    if torch.wgpu.is_available():
        with pytest.raises(RuntimeError, match="index is on"):
            x.index_select(0, _t([0], other))


# -- gradients -------------------------------------------------------------------------------------
def test_index_select_and_embedding_gradients_accumulate(device):
    a = rand(5, 3, seed=16)
    idx = np.array([4, 1, 4, 4, 0])
    g = rand(5, 3, seed=17)
    x = _t(a, device, requires_grad=True)
    x.index_select(0, _t(idx, device)).backward(_t(g, device))
    expect = np.zeros_like(a)
    np.add.at(expect, idx, g)
    assert_close(x.grad, expect, rtol=1e-6, atol=1e-6)

    w = _t(a, device, requires_grad=True)
    tokens = np.array([[1, 1], [3, 1]])
    ge = rand(2, 2, 3, seed=18)
    out = torch.embedding(w, _t(tokens, device))
    assert_close(out, a[tokens])
    out.backward(_t(ge, device))
    expect = np.zeros_like(a)
    np.add.at(expect, tokens.reshape(-1), ge.reshape(-1, 3))
    assert_close(w.grad, expect, rtol=1e-6, atol=1e-6)

    x = _t(a, device, requires_grad=True)
    x.index_select(1, _t([2, 2, 0], device)).backward(_t(g[:, :3], device))
    expect = np.zeros_like(a)
    np.add.at(expect.T, [2, 2, 0], g[:, :3].T)
    assert_close(x.grad, expect, rtol=1e-6, atol=1e-6)


def test_gather_and_scatter_add_gradients(device):
    a = rand(4, 5, seed=19)
    idx = np.random.default_rng(20).integers(0, 4, size=(6, 5))
    g = rand(6, 5, seed=21)
    x = _t(a, device, requires_grad=True)
    x.gather(0, _t(idx, device)).backward(_t(g, device))
    assert_close(x.grad, _scatter_add_ref(np.zeros_like(a), 0, idx, g), rtol=1e-6, atol=1e-6)

    src = rand(6, 7, seed=22)
    gs = rand(4, 5, seed=23)
    x = _t(a, device, requires_grad=True)
    s = _t(src, device, requires_grad=True)
    x.scatter_add(0, _t(idx, device), s).backward(_t(gs, device))
    assert_close(x.grad, gs)
    expect = np.zeros_like(src)
    expect[:, :5] = np.take_along_axis(gs, idx, 0)  # src beyond index's shape gets no gradient
    assert_close(s.grad, expect)


# -- masked_fill and tensor indexing ---------------------------------------------------------------
def test_masked_fill(device):
    a = rand(4, 5, seed=24)
    a[1, 1] = np.nan
    mask = a > 0
    x = _t(a, device)
    assert_close(x.masked_fill(_t(mask, device), -7.0), np.where(mask, -7.0, a).astype(np.float32))
    assert_close(x.masked_fill(_t(mask[0], device), 0.5), np.where(mask[0], 0.5, a).astype(np.float32))
    ai = (np.nan_to_num(a) * 10).astype(np.int32)
    assert_close(_t(ai, device).masked_fill(_t(mask, device), 3), np.where(mask, 3, ai), dtype=torch.int32)
    y = x.clone()
    y.masked_fill_(_t(mask, device), _t(np.float32(2.0), device))
    assert_close(y, np.where(mask, 2.0, a).astype(np.float32))
    xg = _t(a, device, requires_grad=True)
    xg.masked_fill(_t(mask, device), 1.0).backward(_t(np.ones((4, 5), np.float32), device))
    assert_close(xg.grad, (~mask).astype(np.float32))
    with pytest.raises(RuntimeError, match="boolean masks"):
        x.masked_fill(_t(ai, device), 1.0)


def test_tensor_indexing(device):
    a = rand(5, 6, 3, seed=25)
    x = _t(a, device)
    assert_close(x[[4, 0, -1, 4]], a[[4, 0, -1, 4]], rtol=0, atol=0)
    assert_close(x[_t([[1, -2], [0, 3]], device)], a[np.array([[1, -2], [0, 3]])], rtol=0, atol=0)
    assert_close(x[:, _t([5, 1], device, torch.int32)], a[:, [5, 1]], rtol=0, atol=0)
    assert_close(x[1:4, ::2][:, [2, 0]], a[1:4, ::2][:, [2, 0]], rtol=0, atol=0)
    assert_close(x[_t(np.int64(2), device)], a[2], rtol=0, atol=0)
    assert_close(x[_t([3, 1], "cpu")], a[[3, 1]], rtol=0, atol=0)  # a cpu index for any device
    mask = a[:, :, 0] > 0
    assert_close(x[_t(mask, device)], a[mask], rtol=0, atol=0)
    assert_close(x[_t(a > 0.5, device)], a[a > 0.5], rtol=0, atol=0)
    assert_close(x[1][_t(mask[1], device)], a[1][mask[1]], rtol=0, atol=0)
    assert tuple(x[_t(np.zeros((5, 6), bool), device)].shape) == (0, 3)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 5"):
        x[[0, 5]]
    # the dimension PyTorch names is the index's position among the tensor indices
    with pytest.raises(IndexError, match="index -7 is out of bounds for dimension 0 with size 6"):
        x[:, [-7]]
    with pytest.raises(IndexError, match="shape of the mask"):
        x[_t(np.ones((2, 2), bool), device)]
    with pytest.raises(IndexError, match="index out of range in self|out of bounds"):
        x[_t([7], device)].numpy()  # a device index: checked by the kernel
    xg = _t(a, device, requires_grad=True)
    xg[[1, 1, 3]].backward(_t(np.ones((3, 6, 3), np.float32), device))
    expect = np.zeros_like(a)
    expect[1] = 2
    expect[3] = 1
    assert_close(xg.grad, expect)


def test_mask_assignment(device):
    a = rand(3, 4, seed=26)
    mask = a < 0
    x = _t(a, device)
    x[_t(mask, device)] = 0.0
    assert_close(x, np.where(mask, 0, a).astype(np.float32))
    y = _t(a, device)
    y[_t(mask, device)] = _t(np.float32(-1.5), device)
    assert_close(y, np.where(mask, -1.5, a).astype(np.float32))
    base = _t(a, device)
    view = base[:, ::2]  # through a strided view: the writes reach the base
    view[_t(mask[:, ::2], device)] = 9.0
    expect = a.copy()
    expect[:, ::2] = np.where(mask[:, ::2], 9, a[:, ::2])
    assert_close(base, expect)


def test_several_device_indices_out_of_range(wgpu_device):
    # Both indices stay on the device; the bad entry (3, which alone would land on a valid row of
    # the flattened dims) is reported by the kernel at the read.
    x = _t(np.arange(12, dtype=np.float32).reshape(3, 4), wgpu_device)
    with pytest.raises(IndexError, match="index out of range in self"):
        x[_t([0, 1], wgpu_device), _t([3, 4], wgpu_device)].numpy()
    assert_close(x[_t([2, -1], wgpu_device), _t([3, 0], wgpu_device)], [11.0, 8.0])


def test_index_on_another_device_raises(wgpu_device):
    x = _t(np.arange(6, dtype=np.float32), "cpu")
    with pytest.raises(RuntimeError, match="indices should be either on cpu or on the same device"):
        x[_t([1], wgpu_device)]
    with pytest.raises(RuntimeError, match="indices should be either on cpu or on the same device"):
        x[_t([1], wgpu_device)] = 1.0
    assert_close(_t(np.arange(6, dtype=np.float32), wgpu_device)[_t([5, 1], "cpu")], [5.0, 1.0])


def test_masked_fill_keeps_int64_exact(device):
    # issue 12 defect 6: a float fill value sent the whole int64 tensor through float32
    x = _t(np.array([123456789, 5]), device)
    m = _t([False, True], device)
    assert_close(x.masked_fill(m, 2.7), [123456789, 2], dtype=torch.int64)
    x[m] = 7.9
    assert_close(x, [123456789, 7], dtype=torch.int64)
