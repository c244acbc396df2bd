"""diag, diag_embed, trace, outer/ger, cross, kron, block_diag, meshgrid, cartesian_prod and
fill_diagonal_ against PyTorch on cpu and wgpu (values, dtypes, gradients, exception types)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch as T

import wgtorch as W
from tests.shape_oracle import arr, check


@pytest.mark.parametrize(
    "shape,k",
    [((3,), 0), ((3,), 2), ((3,), -1), ((0,), 1), ((3, 4), 0), ((3, 4), 2), ((4, 3), -3), ((3, 4), 5), ((1,), 0)],
)
def test_diag(device, shape, k):
    check(device, lambda L: L.diag(L.t(arr(*shape), grad=True), k))
    check(device, lambda L: L.t(arr(*shape, dtype="int64")).diag(k))


def test_diag_views_and_errors(device):
    a = arr(4, 5)
    check(device, lambda L: L.t(a, grad=True).t().diag(1))
    check(device, lambda L: L.diag(L.t(a)[1, ::2]))
    check(device, lambda L: L.diag(L.t(arr())))
    check(device, lambda L: L.diag(L.t(arr(2, 2, 2))))
    for lib, dev in ((T, "cpu"), (W, device)):  # a copy, not a view
        x = lib.zeros(3, 3, device=dev)
        x.diag().add_(1)
        assert float((x.cpu() if lib is T else x).sum()) == 0


@pytest.mark.parametrize(
    "shape,offset,d1,d2",
    [((3,), 0, -2, -1), ((2, 3), 1, 0, 2), ((2, 3), -1, 2, 0), ((2, 3), 0, -1, 1), ((2, 0), 2, 0, 1), ((4,), -2, 1, 0)],
)
def test_diag_embed(device, shape, offset, d1, d2):
    check(device, lambda L: L.diag_embed(L.t(arr(*shape), grad=True), offset, d1, d2))
    check(device, lambda L: L.t(arr(*shape, dtype="bool")).diag_embed(offset, d1, d2))


def test_diag_embed_errors(device):
    check(device, lambda L: L.diag_embed(L.t(arr())))
    check(device, lambda L: L.diag_embed(L.t(arr(2, 3)), 0, 1, 1))
    check(device, lambda L: L.diag_embed(L.t(arr(2, 3)), 0, 0, 3))


@pytest.mark.parametrize("dt", ["float32", "int32", "int64", "float16"])
def test_trace(device, dt):
    for shape in ((3, 3), (2, 4), (4, 2), (0, 3)):
        check(device, lambda L, shape=shape: L.trace(L.t(arr(*shape, dtype=dt) % 100)), tol=1e-5)
    check(device, lambda L: L.t(arr(3, 4), grad=True).t().trace(), tol=1e-5)
    check(device, lambda L: L.trace(L.t(arr(3))))
    check(device, lambda L: L.trace(L.t(arr(2, 2, dtype="bool"))))


def test_outer_ger(device):
    check(device, lambda L: L.outer(L.t(arr(3), grad=True), L.t(arr(4, seed=1), grad=True)))
    check(device, lambda L: L.t(arr(3), grad=True).ger(L.t(arr(0))))
    check(device, lambda L: L.outer(L.t(arr(3)), L.t(arr(2, dtype="int64"))))
    check(device, lambda L: L.outer(L.t(arr(3, dtype="int32")), L.t(arr(2, dtype="int32"))))
    check(device, lambda L: L.outer(L.t(arr(2, 3)), L.t(arr(2))))
    check(device, lambda L: L.outer(L.t(arr(3)), L.t(arr())))


@pytest.mark.parametrize(
    "sa,sb,dim",
    [
        ((3,), (3,), 0),
        ((4, 3), (4, 3), 1),
        ((3, 2), (3, 2), -2),
        ((2, 3), (1, 3), -1),
        ((2, 1, 3), (1, 4, 3), 2),
        ((0, 3), (0, 3), 1),
    ],
)
def test_cross(device, sa, sb, dim):
    check(device, lambda L: L.cross(L.t(arr(*sa), grad=True), L.t(arr(*sb, seed=1), grad=True), dim=dim), tol=1e-5)
    # (small ints: int64 is 32-bit on wgpu)
    check(device, lambda L: L.t(arr(*sa, dtype="int64") % 50).cross(L.t(arr(*sb, seed=1, dtype="int64") % 50), dim))


def test_cross_default_dim_and_errors(device):
    with pytest.warns(UserWarning, match="without specifying the dim"):
        W.cross(W.ones(3, 2, device=device), W.ones(3, 2, device=device))
    check(device, lambda L: L.cross(L.t(arr(2, 3)), L.t(arr(2, 3, seed=1))), tol=1e-5)
    check(device, lambda L: L.cross(L.t(arr(2, 4)), L.t(arr(2, 4))))
    check(device, lambda L: L.cross(L.t(arr(2, 4)), L.t(arr(2, 4)), dim=1))
    check(device, lambda L: L.cross(L.t(arr(2, 3)), L.t(arr(3)), dim=1))
    check(device, lambda L: L.cross(L.t(arr(3, dtype="int64")), L.t(arr(3)), dim=0))
    check(device, lambda L: L.cross(L.t(arr(2, 3)), L.t(arr(2, 3)), dim=2))


@pytest.mark.parametrize(
    "sa,sb",
    [((2, 3), (3,)), ((3,), (2, 2)), ((), (3,)), ((), ()), ((2, 1, 2), (3, 2)), ((0, 2), (2, 2)), ((2, 2), (2, 2))],
)
def test_kron(device, sa, sb):
    check(device, lambda L: L.kron(L.t(arr(*sa), grad=True), L.t(arr(*sb, seed=1), grad=True)))
    check(device, lambda L: L.t(arr(*sa, dtype="int32")).kron(L.t(arr(*sb, dtype="int32"))))
    check(device, lambda L: L.kron(L.t(arr(*sa, dtype="int64")), L.t(arr(*sb))))


def test_block_diag(device):
    check(device, lambda L: L.block_diag(L.t(arr(2, 3), grad=True), L.t(arr(3), grad=True), L.t(arr(), grad=True)))
    check(device, lambda L: L.block_diag(L.t(arr(2, 3)), L.t(arr(2, 1, dtype="int64"))))
    check(device, lambda L: L.block_diag(L.t(arr(2, 2, dtype="int32")), L.t(arr(1, 3, dtype="int32"))))
    check(device, lambda L: L.block_diag(L.t(arr(0, 2)), L.t(arr(1, 0))))
    check(device, lambda L: L.block_diag(L.t(arr(3, 2)).t()))
    check(device, lambda L: L.block_diag())
    check(device, lambda L: L.block_diag(L.t(arr(1, 1, 1))))


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(device, indexing):
    a, b, c = arr(3), arr(2, seed=1), arr(4, seed=2)
    check(device, lambda L: L.meshgrid(L.t(a, grad=True), L.t(b, grad=True), indexing=indexing))
    check(device, lambda L: L.meshgrid([L.t(a), L.t(b), L.t(c, grad=True)], indexing=indexing))
    check(device, lambda L: L.meshgrid(L.t(a), indexing=indexing))
    check(device, lambda L: L.meshgrid(L.t(arr()), L.t(a), indexing=indexing))
    check(device, lambda L: L.meshgrid(L.t(arr(0)), L.t(a), indexing=indexing))
    check(device, lambda L: L.meshgrid((L.t(a.astype(np.int64)), L.t(b.astype(np.int64))), indexing=indexing))


def test_meshgrid_warning_and_errors(device):
    a = W.ones(2, device=device)
    with pytest.warns(UserWarning, match="it will be required to pass the indexing argument"):
        W.meshgrid(a, a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        W.meshgrid(a, a, indexing="xy")
    check(device, lambda L: L.meshgrid(L.t(arr(2)), L.t(arr(2)))[0])  # default "ij"
    check(device, lambda L: L.meshgrid(L.t(arr(2)), L.t(arr(2, dtype="int64")), indexing="ij"))
    check(device, lambda L: L.meshgrid(L.t(arr(2, 2)), L.t(arr(2)), indexing="ij"))
    check(device, lambda L: L.meshgrid(L.t(arr(2)), indexing="foo"))
    check(device, lambda L: L.meshgrid(indexing="ij"))


def test_cartesian_prod(device):
    a, b, c = arr(3), arr(2, seed=1), arr(2, seed=2)
    check(device, lambda L: L.cartesian_prod(L.t(a, grad=True), L.t(b, grad=True)))
    check(device, lambda L: L.cartesian_prod(L.t(a), L.t(b), L.t(c, grad=True)))
    check(device, lambda L: L.cartesian_prod(L.t(a, grad=True)))
    check(device, lambda L: L.cartesian_prod(L.t(a), L.t(arr(0))))
    check(device, lambda L: L.cartesian_prod(L.t([1, 2]), L.t([3, 4, 5])))
    check(device, lambda L: L.cartesian_prod(L.t(arr(2, 3)), L.t(a)))
    check(device, lambda L: L.cartesian_prod(L.t(arr()), L.t(a)))


@pytest.mark.parametrize(
    "shape,wrap",
    [
        ((3, 3), False),
        ((5, 3), False),
        ((7, 3), True),
        ((3, 5), True),
        ((2, 2, 2), False),
        ((0, 3), False),
        ((1, 4), True),
    ],
)
@pytest.mark.parametrize("value", [2.5, -1, True])
def test_fill_diagonal_(device, shape, wrap, value):
    check(device, lambda L: L.t(arr(*shape)).fill_diagonal_(value, wrap))
    check(device, lambda L: L.t(arr(*shape, dtype="int64")).fill_diagonal_(value, wrap=wrap))


def test_fill_diagonal_grad_and_errors(device):
    check(device, lambda L: (L.t(arr(4, 3), grad=True) * 1).fill_diagonal_(3.0))
    check(device, lambda L: L.t(arr(4, 3), grad=True).fill_diagonal_(3.0))  # a leaf that requires grad
    check(device, lambda L: L.t(arr(3, dtype="bool")).fill_diagonal_(True))
    check(device, lambda L: L.t(arr(2, 3, 2)).fill_diagonal_(1))
    check(device, lambda L: L.t(arr(3, 3)).t().fill_diagonal_(9))
