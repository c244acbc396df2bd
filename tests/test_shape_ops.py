"""as_strided, unfold, diagonal and the scatters into views, against PyTorch on cpu and wgpu:
values, dtypes, shapes, gradients (overlapping windows accumulate), storage offsets, views that
write through, and the exception types for bad arguments. The rearranging and matrix ops are in
test_shape_ops_more.py, einsum and tensordot in test_einsum.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch as T

import wgtorch as W
from tests.shape_oracle import arr, check

# -- as_strided ------------------------------------------------------------------------------------
STRIDED = [
    ((3,), (1,), 0),
    ((3,), (2,), 1),
    ((2, 3), (3, 1), 0),
    ((3, 2), (1, 3), 0),
    ((4, 3), (2, 1), 0),
    ((3, 3), (1, 1), 2),
    ((2, 2), (0, 1), 5),
    ((), (), 7),
    ((0,), (1,), 0),
    ((0, 3), (1, 100), 4),
    ((2, 3, 2), (4, 1, 2), 1),
    ((12,), (1,), 0),
    ((1, 1), (5, 7), 11),
]


@pytest.mark.parametrize("size,stride,offset", STRIDED)
def test_as_strided(device, size, stride, offset):
    a = arr(3, 4)
    check(device, lambda L: L.t(a, grad=True).as_strided(size, stride, offset))
    check(device, lambda L: L.as_strided(L.t(a, grad=True), size, stride, offset))
    check(device, lambda L: (L.t(a, grad=True) * 2).as_strided(size, stride, offset))


@pytest.mark.parametrize("dt", ["float32", "int32", "int64", "bool", "float16"])
def test_as_strided_dtypes(device, dt):
    a = arr(3, 5, dtype=dt, seed=1)
    check(device, lambda L: L.t(a).as_strided((3, 3), (2, 3), 1))


def test_as_strided_of_views_uses_the_storage(device):
    a = arr(4, 5, seed=2)
    # the default offset is the view's own; an explicit one counts from the storage's start
    check(device, lambda L: L.t(a, grad=True)[1:].as_strided((3,), (1,)))
    check(device, lambda L: L.t(a, grad=True)[1:].as_strided((3,), (1,), 0))
    check(device, lambda L: L.t(a, grad=True).t().as_strided((2, 5), (1, 4), 3))
    check(device, lambda L: L.t(a, grad=True)[1:, ::2].as_strided((2, 2), (5, 2)))
    check(device, lambda L: L.t(a)[2:].storage_offset())
    check(device, lambda L: L.t(a)[1:, 3:].storage_offset())
    check(device, lambda L: L.t(a).t()[2].storage_offset())
    check(device, lambda L: L.t(a)[1:].as_strided((2,), (3,)).storage_offset())
    check(device, lambda L: L.t(a)[:, 1:].unfold(0, 2, 1).diagonal(0, 0, 1).storage_offset())


def test_as_strided_overlapping_gradients_accumulate(device):
    a = arr(10, seed=3)
    check(device, lambda L: L.t(a, grad=True).as_strided((4, 3), (2, 1)))
    check(device, lambda L: L.t(a, grad=True).as_strided((3, 4), (0, 1), 2))
    check(device, lambda L: L.t(a, grad=True).as_strided((5, 5), (1, 1)))
    # an input that overlaps itself (expanded): its gradient is divided among the readers
    check(device, lambda L: L.t(a[:3], grad=True).expand(4, 3).as_strided((2, 3), (3, 1)))
    check(device, lambda L: L.t(a[:3], grad=True).expand(2, 3).as_strided((3,), (1,), 0) * 1)


def test_as_strided_views_write_through(device):
    results = []
    for lib, dev in ((T, "cpu"), (W, device)):
        x = lib.zeros(3, 4, device=dev)
        v = x.as_strided((3,), (5,), 0)
        v.add_(7)
        x.as_strided((2, 2), (1, 4), 1).fill_(2)
        results.append(x.cpu().numpy() if lib is T else x.numpy())
    np.testing.assert_array_equal(results[1], results[0])


def test_as_strided_in_place(device):
    a = arr(3, 4, seed=20)
    check(device, lambda L: L.t(a).as_strided_((2, 2), (4, 1), 1))
    check(device, lambda L: L.t(a)[1:].as_strided_((3,), (2,)))
    check(device, lambda L: L.t(a).as_strided_((5,), (3,)))  # out of bounds
    x = W.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        x.as_strided_((2,), (1,))
    with W.no_grad():
        assert x.as_strided_((2,), (1,)).shape == (2,)


AS_STRIDED_ERRORS = [
    ((3,), (4,), 1, slice(2, None)),
    ((11,), (1,), 0, slice(None)),
    ((4,), (3,), 0, slice(None)),
    ((3,), (-1,), 5, slice(None)),
    ((-3,), (1,), 0, slice(None)),
    ((3, 2), (1,), 0, slice(None)),
    ((1,), (1,), -1, slice(None)),
    ((2, 2), (5, 1), 5, slice(None)),
    ((1,), (1,), 10, slice(None)),
]


@pytest.mark.parametrize("size,stride,offset,key", AS_STRIDED_ERRORS)
def test_as_strided_errors(device, size, stride, offset, key):
    a = arr(10, seed=4)
    check(device, lambda L: L.t(a)[key].as_strided(size, stride, offset))


def test_as_strided_huge_overlapping_view(device):
    x = W.arange(3.0, device=device)
    if device == "wgpu":  # more elements than a 32-bit kernel index reaches: refused, not wrapped around
        with pytest.raises(RuntimeError, match="more than wgpu's kernels can index"):
            x.as_strided((2**31,), (0,))
    else:
        assert x.as_strided((2**40,), (0,)).shape == (2**40,)
    assert x.as_strided((2**15, 2**15), (0, 0), 2)[5, 7].item() == 2.0


def test_as_strided_out_of_bounds_message(device):
    x = W.arange(10.0, device=device)
    with pytest.raises(
        RuntimeError,
        match=r"setStorage: sizes \[3\], strides \[4\], storage offset 2, and itemsize "
        r"4 requiring a storage size of 44 are out of bounds for storage of size 40",
    ):
        x[2:].as_strided((3,), (4,))
    y = W.ones(2, 3, device=device).to(W.int64)[1:]
    with pytest.raises(RuntimeError, match="out of bounds for storage of size 48"):
        y.as_strided((3,), (1,), 4)
    np.testing.assert_array_equal(y.as_strided((3,), (1,), 3).numpy(), [1, 1, 1])


# -- unfold ----------------------------------------------------------------------------------------
UNFOLD = [
    ((10,), 0, 3, 2),
    ((10,), 0, 3, 1),
    ((10,), 0, 2, 3),
    ((10,), -1, 10, 1),
    ((10,), 0, 0, 1),
    ((4, 6), 1, 3, 1),
    ((4, 6), 0, 2, 2),
    ((4, 6), -2, 4, 5),
    ((2, 3, 5), 2, 2, 2),
    ((0, 3), 1, 2, 1),
    ((), 0, 1, 1),
    ((), -1, 0, 2),
    ((64,), 0, 5, 3),
    ((257,), 0, 4, 1),
]


@pytest.mark.parametrize("shape,dim,size,step", UNFOLD)
def test_unfold(device, shape, dim, size, step):
    a = arr(*shape, seed=5)
    check(device, lambda L: L.t(a, grad=True).unfold(dim, size, step))


def test_unfold_views_and_chains(device):
    a = arr(5, 7, seed=6)
    check(device, lambda L: L.t(a, grad=True).t().unfold(1, 3, 1))
    check(device, lambda L: L.t(a, grad=True)[1:, ::2].unfold(0, 2, 1))
    check(device, lambda L: L.t(a, grad=True).unfold(0, 3, 1).unfold(1, 2, 2))  # 2-D windows (im2col)
    check(device, lambda L: L.t(a, grad=True).unfold(1, 4, 1).sum(-1))
    for dt in ("int64", "bool"):
        check(device, lambda L, dt=dt: L.t(arr(9, dtype=dt)).unfold(0, 4, 2))


@pytest.mark.parametrize(
    "shape,dim,size,step",
    [
        ((10,), 0, 11, 1),
        ((10,), 0, 2, 0),
        ((10,), 0, -1, 1),
        ((10,), 1, 1, 1),
        ((), 0, 2, 1),
        ((0, 3), 0, 1, 1),
        ((3,), 0, 2, -1),
    ],
)
def test_unfold_errors(device, shape, dim, size, step):
    check(device, lambda L: L.t(arr(*shape)).unfold(dim, size, step))


# -- diagonal --------------------------------------------------------------------------------------
DIAGONAL = [
    ((3, 3), 0, 0, 1),
    ((3, 4), 1, 0, 1),
    ((3, 4), -2, 0, 1),
    ((4, 3), 2, 1, 0),
    ((3, 4), 7, 0, 1),
    ((3, 4), -7, 0, 1),
    ((2, 3, 4), 1, 2, 0),
    ((2, 3, 4), 0, -1, -2),
    ((2, 3, 4), -1, 1, 2),
    ((0, 3), 0, 0, 1),
    ((3, 0, 2), 1, 0, 2),
]


@pytest.mark.parametrize("shape,offset,d1,d2", DIAGONAL)
def test_diagonal(device, shape, offset, d1, d2):
    a = arr(*shape, seed=7)
    check(device, lambda L: L.t(a, grad=True).diagonal(offset, d1, d2))
    check(device, lambda L: L.diagonal(L.t(a, grad=True), offset=offset, dim1=d1, dim2=d2))
    if a.size:  # (an empty tensor's strides, and so its diagonal's offset, are arbitrary)
        check(device, lambda L: L.t(a).diagonal(offset, d1, d2).storage_offset())


def test_diagonal_views(device):
    a = arr(4, 5, seed=8)
    check(device, lambda L: L.t(a, grad=True).t().diagonal(1))
    check(device, lambda L: L.t(a, grad=True)[1:, ::2].diagonal(-1))
    check(device, lambda L: L.t(arr(5, 5, dtype="int32")).diagonal(2))
    results = []
    for lib, dev in ((T, "cpu"), (W, device)):
        x = lib.zeros(3, 3, device=dev)
        x.diagonal().fill_(4)
        x.diagonal(1).add_(1)
        results.append(x.cpu().numpy() if lib is T else x.numpy())
    np.testing.assert_array_equal(results[1], results[0])


@pytest.mark.parametrize(
    "shape,offset,d1,d2", [((3,), 0, 0, 1), ((), 0, 0, 1), ((3, 3), 0, 1, 1), ((3, 3), 0, 0, -2), ((3, 3), 0, 0, 2)]
)
def test_diagonal_errors(device, shape, offset, d1, d2):
    check(device, lambda L: L.t(arr(*shape)).diagonal(offset, d1, d2))


# -- scatters into views ---------------------------------------------------------------------------
def test_select_scatter(device):
    a, s = arr(3, 4, seed=9), arr(4, seed=10)
    check(device, lambda L: L.select_scatter(L.t(a, grad=True), L.t(s, grad=True), 0, 1))
    check(device, lambda L: L.t(a, grad=True).select_scatter(L.t(arr(3, seed=11), grad=True), -1, -1))
    check(device, lambda L: L.select_scatter(L.t(a).t(), L.t(arr(3), grad=True), 0, 2))
    check(device, lambda L: L.select_scatter(L.t(a), L.t(s.astype(np.int64)), 0, 0))  # src cast to input's dtype
    check(device, lambda L: L.select_scatter(L.t(a), L.t(arr(3)), 0, 1))  # wrong size
    check(device, lambda L: L.select_scatter(L.t(a), L.t(arr(1)), 0, 1))  # no broadcasting
    check(device, lambda L: L.select_scatter(L.t(a), L.t(s), 0, 3))  # index out of range
    check(device, lambda L: L.select_scatter(L.t(a), L.t(s), 2, 0))  # dim out of range


def test_slice_scatter(device):
    a = arr(4, 6, seed=12)
    check(device, lambda L: L.slice_scatter(L.t(a, grad=True), L.t(arr(4, 2), grad=True), 1, 1, 3))
    check(device, lambda L: L.slice_scatter(L.t(a, grad=True), L.t(arr(2, 6), grad=True), 0, None, None, 2))
    check(device, lambda L: L.slice_scatter(L.t(a, grad=True), L.t(arr(4, 2), grad=True), -1, -4, None, 3))
    check(device, lambda L: L.slice_scatter(L.t(a), L.t(arr(4, 0)), 1, 5, 2))
    check(device, lambda L: L.t(a).slice_scatter(L.t(arr(4, 6)), 1))
    check(device, lambda L: L.slice_scatter(L.t(a), L.t(arr(4, 1)), 1, 1, 3))  # wrong size
    check(device, lambda L: L.slice_scatter(L.t(a), L.t(arr(4, 2)), 1, 1, 3, 0))  # step 0


def test_diagonal_scatter(device):
    a = arr(3, 4, seed=13)
    check(device, lambda L: L.diagonal_scatter(L.t(a, grad=True), L.t(arr(3), grad=True)))
    check(device, lambda L: L.diagonal_scatter(L.t(a, grad=True), L.t(arr(2), grad=True), 2))
    check(device, lambda L: L.t(arr(2, 3, 4), grad=True).diagonal_scatter(L.t(arr(3, 2), grad=True), -1, 0, 2))
    check(device, lambda L: L.diagonal_scatter(L.t(a), L.t(arr(3)), 1))  # wrong size
    check(device, lambda L: L.diagonal_scatter(L.t(a), L.t(arr(0)), 5))


@pytest.mark.parametrize(
    "view",
    [
        lambda x: x.unfold(0, 3, 1),
        lambda x: x.as_strided((2, 3), (4, 1), 1),
        lambda x: x.reshape(3, 4).diagonal(1),
        lambda x: x.reshape(3, 4).select_scatter(x.reshape(3, 4).sum(0) ** 2, 0, 1),
        lambda x: x.reshape(3, 4).diagonal_scatter(x.reshape(2, 6).sum(1) ** 2, -1),
    ],
)
def test_double_backward(device, view):
    a = arr(12, seed=30)
    results = []
    for lib, dev in ((T, "cpu"), (W, device)):
        x = lib.tensor(a, device=dev, requires_grad=True)
        y = (view(x) ** 3).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (g * lib.arange(12.0, device=dev)).sum().backward()
        results.append((x.grad.cpu().numpy() if lib is T else x.grad.numpy(), g.detach().cpu().numpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-4, atol=1e-4)
