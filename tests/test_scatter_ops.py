"""The scatter family against PyTorch on cpu and wgpu: scatter (src, value, legacy reduce),
scatter_reduce, scatter_add_, index_add/copy/fill (the rest of the indexing family is in
tests/test_select_ops.py, which shares `check`).

Values, dtypes, shapes and gradients are compared with torch on the same inputs; bad input with
PyTorch's exception type (on wgpu, bad device indices surface at the next read, and the device
keeps working).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wgtorch

pytestmark = pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter:UserWarning")

_NP_TO_WG = {
    np.float32: wgtorch.float32,
    np.float16: wgtorch.float16,
    np.int64: wgtorch.int64,
    np.int32: wgtorch.int32,
    np.bool_: wgtorch.bool,
}


def _pair(a, device, grad):
    if not isinstance(a, np.ndarray):
        return a, a
    t = torch.tensor(a, requires_grad=grad)
    w = wgtorch.tensor(a, dtype=_NP_TO_WG[a.dtype.type], device=device, requires_grad=grad)
    return t, w


def _close(w, t, atol=1e-5):
    t = t.detach().numpy()
    got = w.detach().numpy()
    assert got.shape == t.shape, (got.shape, t.shape)
    assert got.dtype == t.dtype, (got.dtype, t.dtype)
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got.astype(np.float64), t.astype(np.float64), rtol=1e-5, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, t)


def check(fn, args, device, grads=(), atol=1e-5):
    """fn(lib, *tensors) on torch and on wgtorch (``device``): values, then (for the positions in
    ``grads``) the gradients of a random-weighted sum."""
    pairs = [_pair(a, device, i in grads) for i, a in enumerate(args)]
    rt = fn(torch, *[p[0] for p in pairs])
    rw = fn(wgtorch, *[p[1] for p in pairs])
    if isinstance(rt, tuple):
        assert isinstance(rw, tuple) and len(rw) == len(rt)
        for a, b in zip(rw, rt):
            _close(a, b)
        return
    _close(rw, rt, atol)
    if grads:
        g = np.random.default_rng(1).uniform(-1, 1, rt.shape).astype(rt.detach().numpy().dtype)
        rt.backward(torch.tensor(g))
        rw.backward(wgtorch.tensor(g, device=device))
        for i in grads:
            _close(pairs[i][1].grad, pairs[i][0].grad, atol)


def _f(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(np.float32)


def _i(high, *shape, seed=0):
    return np.random.default_rng(seed).integers(0, high, shape).astype(np.int64)


# -- scatter_reduce ----------------------------------------------------------------------------
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_reduce_values_and_grads(device, reduce, include_self, dim):
    # duplicates in the index, an index smaller than self along the other dim
    x = _f(4, 5)
    src = _f(3, 4, seed=1) if dim == 0 else _f(4, 6, seed=1)
    index = _i(4, 3, 4, seed=2) if dim == 0 else _i(5, 4, 6, seed=2)
    check(
        lambda L, x, i, s: L.scatter_reduce(x * 1, dim, i, s, reduce, include_self=include_self),
        [x, index, src],
        device,
        grads=(0, 2),
        atol=1e-4,
    )


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_non_contiguous(device, reduce):
    x, src, index = _f(5, 4), _f(6, 3, seed=1), _i(3, 6, 3, seed=2)  # views: (4, 5), (3, 6) and (3, 6)
    check(
        lambda L, x, i, s: x.t().scatter_reduce(1, i.t(), s.t(), reduce),
        [x, index, src],
        device,
        grads=(0, 2),
        atol=1e-4,
    )


def test_scatter_reduce_ties_share_the_gradient(device):
    x = np.array([1.0, 3.0, 0.0], np.float32)
    src = np.array([3.0, 3.0, -1.0, 0.0, 0.0], np.float32)
    index = np.array([1, 1, 0, 2, 2])
    for reduce in ("amax", "amin"):
        check(lambda L, x, i, s, r=reduce: L.scatter_reduce(x * 1, 0, i, s, r), [x, index, src], device, grads=(0, 2))


def test_scatter_reduce_prod_with_zeros(device):
    x = np.array([2.0, 0.0, 3.0, 4.0], np.float32)
    src = np.array([0.0, 4.0, 5.0, 0.0, 0.0, 2.0], np.float32)
    index = np.array([0, 0, 1, 2, 2, 3])
    for inc in (True, False):
        check(
            lambda L, x, i, s, inc=inc: L.scatter_reduce(x * 1, 0, i, s, "prod", include_self=inc),
            [x, index, src],
            device,
            grads=(0, 2),
        )


@pytest.mark.parametrize("reduce", ["amax", "amin"])
def test_scatter_reduce_nan(device, reduce):
    nan = np.nan
    x = np.array([1.0, nan, 0.0, 2.0], np.float32)
    src = np.array([nan, 2.0, 5.0, nan, -1.0, 7.0], np.float32)
    index = np.array([0, 0, 1, 2, 3, 3])
    for inc in (True, False):
        check(
            lambda L, x, i, s, inc=inc: L.scatter_reduce(x, 0, i, s, reduce, include_self=inc), [x, index, src], device
        )


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.float16])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_dtypes(device, dtype, reduce):
    if dtype is np.bool_ and reduce == "mean":  # PyTorch has no bool mean: both refuse
        for lib in (torch, wgtorch):
            with pytest.raises(NotImplementedError):
                lib.zeros(3, dtype=lib.bool).scatter_reduce(0, lib.tensor([0]), lib.ones(1, dtype=lib.bool), "mean")
        return
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 4, (3, 65)).astype(dtype)
    src = rng.integers(-3, 4, (4, 65)).astype(dtype)
    index = rng.integers(0, 3, (4, 65))
    for inc in (True, False):
        check(
            lambda L, x, i, s, inc=inc: L.scatter_reduce(x, 0, i, s, reduce, include_self=inc),
            [x, index, src],
            device,
            atol=2e-2,
        )


def test_scatter_reduce_integer_mean_rounds_down(device):
    x, src, index = np.array([1, 2, 3]), np.array([-4, 1, 6, -7]), np.array([0, 0, 1, 2])
    for inc in (True, False):
        check(
            lambda L, x, i, s, inc=inc: L.scatter_reduce(x, 0, i, s, "mean", include_self=inc), [x, index, src], device
        )


def test_scatter_reduce_sizes_around_the_workgroup(device):
    for n in (63, 64, 65, 257):
        x, src, index = _f(7), _f(n, seed=n), _i(7, n, seed=n)
        check(lambda L, x, i, s: L.scatter_reduce(x, 0, i, s, "amax"), [x, index, src], device)


def test_scatter_reduce_zero_size_and_0d(device):
    check(
        lambda L, x, i, s: L.scatter_reduce(x, 0, i, s, "prod"),
        [_f(3, 4), np.zeros((0, 4), np.int64), _f(2, 4)],
        device,
    )
    check(
        lambda L, x, i, s: L.scatter_reduce(x, 1, i, s, "amin"),
        [_f(0, 4), np.zeros((0, 2), np.int64), _f(0, 2)],
        device,
    )
    check(
        lambda L, x, i, s: L.scatter_reduce(x * 1, 0, i, s, "amax"),
        [np.array(1.0, np.float32), np.array(0), np.array(5.0, np.float32)],
        device,
        grads=(0, 2),
    )
    check(
        lambda L, x, i, s: L.scatter_reduce(x, 0, i, s, "sum"), [_f(3), np.array(1), np.array(5.0, np.float32)], device
    )


# -- scatter ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_src_values_and_grads(device, dim):
    # no repeated targets (which write wins is unspecified); src larger than index
    x = _f(4, 5)
    index = (
        np.array([[0, 1, 2, 3, 0], [3, 2, 1, 0, 1]])
        if dim == 0
        else np.array([[0, 4, 2], [1, 0, 3], [2, 3, 4], [4, 1, 0]])
    )
    src = _f(3, 6, seed=1) if dim == 0 else _f(4, 3, seed=1)
    ishape = index.shape

    def fn(L, x, i, s):
        return (x * 1).scatter(dim, i, s[tuple(slice(0, n) for n in ishape)])

    check(fn, [x, index, src], device, grads=(0, 2))
    check(lambda L, x, i: L.scatter(x, dim, i, 2.5), [x, index], device, grads=(0,))
    check(lambda L, x, i: x.t().scatter(1 - dim % 2, i.t(), -1.0), [x, index], device, grads=(0,))


def test_scatter_legacy_reduce(device):
    x, src, index = _f(3, 4), _f(2, 4, seed=1), np.array([[0, 1, 1, 0], [0, 1, 2, 0]])
    for reduce in ("add", "multiply"):
        check(lambda L, x, i, s, r=reduce: x.scatter(0, i, s, reduce=r), [x, index, src], device)
        check(lambda L, x, i, r=reduce: x.scatter(0, i, 3.0, reduce=r), [x, index], device)
    check(lambda L, x, i, s: x.clone().scatter_(0, i, s, reduce="add"), [x, index, src], device)


def test_scatter_dtypes_and_value_conversion(device):
    index = np.array([[1, 0, 2]])
    check(lambda L, x, i: x.scatter(1, i, 2.7), [np.zeros((2, 3), np.int64), index], device)
    check(lambda L, x, i: x.scatter(1, i, True), [np.zeros((2, 3), np.bool_), index], device)
    check(lambda L, x, i, s: x.scatter(1, i, s), [np.zeros((2, 3), np.bool_), index, np.ones((1, 3), np.bool_)], device)
    check(lambda L, x, i: x.scatter(1, i.int(), -3), [np.zeros((2, 3), np.float16), index], device)


def test_scatter_inplace_methods(device):
    x, src, index = _f(3, 4), _f(2, 4, seed=1), np.array([[0, 1, 2, 0], [2, 2, 1, 1]])
    check(lambda L, x, i, s: x.clone().scatter_add_(0, i, s), [x, index, src], device)
    check(lambda L, x, i, s: x.clone().scatter_reduce_(0, i, s, "amin", include_self=False), [x, index, src], device)
    check(lambda L, x, i: x.clone().scatter_(0, i[:1], 4.0), [x, index], device)
    w = wgtorch.tensor(x, device=device, requires_grad=True)
    y = w * 2
    y.scatter_(0, wgtorch.tensor(index[:1], device=device), 0.0)
    y.sum().backward()
    expected = np.full((3, 4), 2.0, np.float32)
    expected[index[0], np.arange(4)] = 0
    np.testing.assert_array_equal(w.grad.numpy(), expected)


def test_scatter_errors(device):
    x = wgtorch.zeros(3, 4, device=device)
    i = wgtorch.tensor([[0, 1, 2, 0]], device=device)
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter(0, i, wgtorch.ones(1, 4, dtype=wgtorch.int32, device=device))
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter_reduce(0, i, wgtorch.ones(1, 4, dtype=wgtorch.int32, device=device), "sum")
    with pytest.raises(RuntimeError, match="Expected dtype int32/int64 for index"):
        x.scatter(0, i.float(), 1.0)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.scatter(0, wgtorch.zeros(4, dtype=wgtorch.int64, device=device), 1.0)
    with pytest.raises(RuntimeError, match="no larger"):
        x.scatter(0, wgtorch.zeros(2, 4, dtype=wgtorch.int64, device=device), wgtorch.ones(1, 4, device=device))
    with pytest.raises(RuntimeError, match="reduce argument must be either sum, prod, mean, amax or amin"):
        x.scatter_reduce(0, i, x[:1], "foo")
    with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply"):
        x.scatter(0, i, x[:1], reduce="sum")
    with pytest.raises(NotImplementedError):
        x.bool().scatter_reduce(0, i, x[:1].bool(), "mean")
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.scatter(2, i, 1.0)
    with pytest.raises(RuntimeError, match="out of bounds"):  # the scattered dim is empty: at once everywhere
        wgtorch.zeros(0, 3, device=device).scatter(0, wgtorch.zeros(1, 1, dtype=wgtorch.int64, device=device), 1.0)
    y = wgtorch.zeros(3, 4, device=device, requires_grad=True)
    out = y.scatter(0, i, wgtorch.ones(1, 4, device=device), reduce="add")
    with pytest.raises(RuntimeError, match="derivative for aten::scatter is not implemented"):
        out.sum().backward()


def test_scatter_errors_torch_agrees():
    x, i = torch.zeros(3, 4), torch.tensor([[0, 1, 2, 0]])
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter(0, i, torch.ones(1, 4, dtype=torch.int32))
    with pytest.raises(NotImplementedError):
        x.bool().scatter_reduce(0, i, x[:1].bool(), "mean")
    with pytest.raises(RuntimeError, match="out of bounds"):
        x.scatter(0, torch.tensor([[3]]), 1.0)


def test_scatter_bad_index_on_cpu():
    x = wgtorch.zeros(3, 4)
    for bad in (3, -1):
        idx = wgtorch.tensor([[bad, 0, 0, 0]])
        with pytest.raises(RuntimeError, match=f"index {bad} is out of bounds for dimension 0 with size 3"):
            x.scatter(0, idx, 1.0)
        with pytest.raises(RuntimeError, match="out of bounds"):
            x.scatter_reduce(0, idx, x[:1], "amax")
        with pytest.raises(IndexError):
            x.index_copy(0, wgtorch.tensor([bad]) if bad > 0 else wgtorch.tensor([5]), x[:1])


def test_bad_index_on_wgpu_is_reported_and_the_device_keeps_working(wgpu_device):
    dev = wgpu_device
    x = wgtorch.zeros(3, 4, device=dev)
    bad = wgtorch.tensor([[5, 0, 1, 2]], device=dev)
    for make, kind in (  # PyTorch's cpu types: index_copy_ and put_ raise IndexError
        (lambda: x.scatter(0, bad, 1.0), RuntimeError),
        (lambda: x.scatter_reduce(0, bad, x[:1] + 1, "amax"), RuntimeError),
        (lambda: x.index_copy(0, bad[0, :1], x[:1]), IndexError),
        (lambda: wgtorch.zeros(6, device=dev).put(wgtorch.tensor([9], device=dev), wgtorch.ones(1, device=dev)),
         IndexError),
    ):
        y = make()  # recorded; the report waits for the next read
        with pytest.raises(kind, match="out of bounds"):
            y.numpy()
        good = x.scatter(0, wgtorch.tensor([[2, 0, 1, 2]], device=dev), 1.0)
        np.testing.assert_array_equal(
            good.numpy(), torch.zeros(3, 4).scatter(0, torch.tensor([[2, 0, 1, 2]]), 1.0).numpy()
        )
    with pytest.raises(IndexError):  # take goes through index_select, IndexError as PyTorch's
        wgtorch.arange(6.0).to(dev).take(wgtorch.tensor([7], device=dev)).numpy()
    assert wgtorch.arange(6.0).to(dev).take(wgtorch.tensor([-1], device=dev)).item() == 5.0


def test_device_mismatch(wgpu_device):
    x = wgtorch.zeros(3, 4, device=wgpu_device)
    with pytest.raises(RuntimeError):
        x.scatter(0, wgtorch.tensor([[0, 1, 2, 0]]), 1.0)
    with pytest.raises(RuntimeError):
        x.scatter_reduce(0, wgtorch.tensor([[0, 1, 2, 0]], device=wgpu_device), wgtorch.ones(1, 4), "sum")
    with pytest.raises(RuntimeError):
        x.index_add(0, wgtorch.tensor([0], device=wgpu_device), wgtorch.ones(1, 4))
    with pytest.raises(RuntimeError):
        x.masked_select(wgtorch.ones(3, 4, dtype=wgtorch.bool))


# -- index_add / index_copy / index_fill ------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_add(device, dim):
    x = _f(4, 5)
    index = np.array([0, 2, 0, 3, 3])[: 4 if dim == 0 else 5] if dim == 0 else np.array([4, 0, 0])
    src = _f(4, 5, seed=1) if dim == 0 else _f(4, 3, seed=1)
    check(lambda L, x, i, s: L.index_add(x * 1, dim, i, s), [x, index, src], device, grads=(0, 2))
    check(lambda L, x, i, s: (x * 1).index_add(dim, i, s, alpha=-2.5), [x, index, src], device, grads=(0, 2))
    check(lambda L, x, i, s: x.t().index_add(1 - dim % 2, i.int(), s.t()), [x, index, src], device, grads=(0, 2))
    check(lambda L, x, i, s: x.long().index_add(dim, i, s.long(), alpha=2.5), [x, index, src], device)
    check(lambda L, x, i, s: x.bool().index_add(dim, i, s.bool()), [x, index, src], device)
    check(lambda L, x, i, s: x.clone().index_add_(dim, i, s), [x, index, src], device)


def test_index_copy_and_fill(device):
    x, src = _f(4, 5), _f(4, 2, seed=1)
    index = np.array([3, 0])
    check(lambda L, x, i, s: (x * 1).index_copy(1, i, s), [x, index, src], device, grads=(0, 2))
    check(lambda L, x, i, s: x.clone().index_copy_(-1, i, s), [x, index, src], device)
    check(lambda L, x, i, s: x.t().index_copy(0, i, s.t()), [x, index, src], device, grads=(0, 2))
    check(lambda L, x, i: (x * 1).index_fill(1, i, -7.0), [x, np.array([4, -1, 0])], device, grads=(0,))
    check(lambda L, x, i: x.long().index_fill(0, i, 2.7), [x, np.array([2])], device)
    check(lambda L, x, i: x.bool().index_fill(0, i, 0), [x, np.array([1, 3])], device)
    check(
        lambda L, x, i, v: (x * 1).index_fill(0, i, v),
        [x, np.array([1, 1, 3]), np.array(2.5, np.float32)],
        device,
        grads=(0, 2),
    )
    check(lambda L, x, i: x.clone().index_fill_(1, i, 1.0), [x, np.array(2)], device)
    check(lambda L, x, i: (x * 1).index_fill(0, i, 5.0), [np.array(1.0, np.float32), np.array([0])], device)


def test_index_family_errors(device):
    x = wgtorch.zeros(3, 4, device=device)
    i = wgtorch.tensor([1], device=device)
    one = wgtorch.ones(1, 4, device=device)
    cases = [
        (RuntimeError, "must have the same scalar type", lambda: x.index_add(0, i, one.long())),
        (RuntimeError, "Expected dtype int32/int64 for index", lambda: x.index_add(0, i.float(), one)),
        (RuntimeError, "Number of indices", lambda: x.index_add(0, i, wgtorch.ones(2, 4, device=device))),
        (RuntimeError, "source tensor shape must match", lambda: x.index_add(0, i, wgtorch.ones(1, 3, device=device))),
        (IndexError, "Index is supposed to be a vector", lambda: x.index_add(0, i.reshape(1, 1), one)),
        (RuntimeError, "same dtype", lambda: x.index_copy(0, i, one.long())),
        (RuntimeError, "Expected a long tensor", lambda: x.index_copy(0, i.int(), one)),
        (IndexError, "Number of indices", lambda: x.index_copy(0, i, wgtorch.ones(2, 4, device=device))),
        (RuntimeError, "same slice shapes", lambda: x.index_copy(0, i, wgtorch.ones(1, 3, device=device))),
        (IndexError, "dimensionality must match", lambda: x.index_copy(0, i, wgtorch.ones(4, device=device))),
        (IndexError, "Expected dtype int64 for index", lambda: x.index_fill(0, i.int(), 1.0)),
        (RuntimeError, "0-dimensional value tensor", lambda: x.index_fill(0, i, wgtorch.ones(1, device=device))),
        (RuntimeError, "Index has to be a vector/scalar", lambda: x.index_fill(0, i.reshape(1, 1), 1.0)),
        (RuntimeError, "without overflow", lambda: x.int().index_fill(0, i, 2**40)),
    ]
    for exc, msg, fn in cases:
        with pytest.raises(exc, match=msg):
            fn()


def test_index_family_errors_torch_agrees():
    x, i, one = torch.zeros(3, 4), torch.tensor([1]), torch.ones(1, 4)
    for exc, fn in [
        (RuntimeError, lambda: x.index_add(0, torch.tensor([5]), one)),
        (IndexError, lambda: x.index_copy(0, torch.tensor([5]), one)),
        (IndexError, lambda: x.index_fill(0, torch.tensor([5]), 1.0)),
        (IndexError, lambda: x.index_fill(0, i.int(), 1.0)),
        (IndexError, lambda: x.index_copy(0, i, torch.ones(2, 4))),
    ]:
        with pytest.raises(exc):
            fn()
    wx = wgtorch.zeros(3, 4)
    with pytest.raises(RuntimeError, match="index 5 is out of bounds"):
        wx.index_add(0, wgtorch.tensor([5]), wgtorch.ones(1, 4))
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        wx.index_fill(0, wgtorch.tensor([5]), 1.0)
    with pytest.raises(IndexError, match="index -4 is out of bounds"):
        wx.index_fill(0, wgtorch.tensor([-4]), 1.0)


@pytest.mark.parametrize("reduce", [None, "sum", "amax", "mean"])
def test_src_larger_than_index_gets_zero_gradient_beyond_it(device, reduce):
    # PyTorch refuses this backward (an index-shaped gradient for a larger src); wgtorch gives
    # the unscattered src elements gradient 0, and the rest matches PyTorch on the sliced src.
    x, src, index = _f(3, 4), _f(3, 5, seed=1), np.array([[0, 1, 2, 0], [2, 2, 1, 0]])

    def fn(L, x, i, s, full):
        s = s if full else s[:2, :4]
        if reduce is None:
            return (x * 1).scatter(0, i, s)
        return (x * 1).scatter_reduce(0, i, s, reduce)

    tx, ts = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    fn(torch, tx, torch.tensor(index), ts, False).sum().backward()
    wx = wgtorch.tensor(x, device=device, requires_grad=True)
    ws = wgtorch.tensor(src, device=device, requires_grad=True)
    fn(wgtorch, wx, wgtorch.tensor(index, device=device), ws, True).sum().backward()
    np.testing.assert_allclose(wx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ws.grad.numpy(), ts.grad.numpy(), rtol=1e-5, atol=1e-6)
