"""flip/roll/rot90, repeat/tile/repeat_interleave, movedim, diff, narrow_copy, tril/triu (+ indices),
diag/diag_embed/trace, outer/cross/kron/block_diag, meshgrid/cartesian_prod and fill_diagonal_
against PyTorch on cpu and wgpu (values, dtypes, gradients, exception types)."""

from __future__ import annotations

import numpy as np
import pytest
import torch as T

import wgtorch as W
from tests.shape_oracle import arr, check

DTYPES = ["float32", "int32", "int64", "bool", "float16"]


# -- flip, roll, rot90 -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape,dims",
    [
        ((5,), (0,)),
        ((3, 4), (0, 1)),
        ((3, 4), (-1,)),
        ((2, 3, 4), (2, 0)),
        ((3, 4), ()),
        ((), ()),
        ((), (0,)),
        ((0, 3), (0, 1)),
        ((1, 3), (0,)),
    ],
)
def test_flip(device, shape, dims):
    check(device, lambda L: L.flip(L.t(arr(*shape), grad=True), dims))
    check(device, lambda L: L.t(arr(*shape), grad=True).flip(dims))


@pytest.mark.parametrize("dt", DTYPES)
def test_flip_dtypes_and_views(device, dt):
    a = arr(4, 5, dtype=dt, seed=1)
    check(device, lambda L: L.t(a).t().flip((0,)))
    check(device, lambda L: L.t(a)[::2, 1:].fliplr())
    check(device, lambda L: L.flipud(L.t(a)))
    check(device, lambda L: L.t(a).flip(0))  # the method takes dims as varargs too
    check(device, lambda L: L.t(a).flip(1, 0))
    check(device, lambda L: L.t(a).tile(2, 1))


def test_flip_errors(device):
    a = arr(3, 4)
    check(device, lambda L: L.flip(L.t(a), (0, 0)))
    check(device, lambda L: L.flip(L.t(a), (1, -1)))
    check(device, lambda L: L.flip(L.t(a), 0))
    check(device, lambda L: L.flip(L.t(a), (2,)))
    check(device, lambda L: L.fliplr(L.t(arr(3))))
    check(device, lambda L: L.flipud(L.t(arr())))


ROLL = [
    ((5,), 2, None),
    ((5,), -7, None),
    ((3, 4), 1, None),
    ((3, 4), (1, 2), (0, 1)),
    ((3, 4), (1, -5), (1, 0)),
    ((3, 4), 3, 1),
    ((3, 4), [1], [-1]),
    ((0, 3), 1, 0),
    ((2, 3), 0, 1),
    ((), 1, None),
    ((3, 4), 4, -1),
]


@pytest.mark.parametrize("shape,shifts,dims", ROLL)
def test_roll(device, shape, shifts, dims):
    check(device, lambda L: L.roll(L.t(arr(*shape), grad=True), shifts, dims))
    check(device, lambda L: L.t(arr(*shape, dtype="int64")).t().roll(shifts, dims) if len(shape) == 2 else None)


def test_roll_errors(device):
    a = arr(3, 4)
    check(device, lambda L: L.roll(L.t(a), (1, 2), (0,)))
    check(device, lambda L: L.roll(L.t(a), (1, 2)))
    check(device, lambda L: L.roll(L.t(a), (), ()))
    check(device, lambda L: L.roll(L.t(arr()), 1, 0))
    check(device, lambda L: L.roll(L.t(a), 1, 2))


@pytest.mark.parametrize("k", [-3, -1, 0, 1, 2, 3, 5])
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (-1, 0), (0, 2)])
def test_rot90(device, k, dims):
    check(device, lambda L: L.rot90(L.t(arr(2, 3, 4), grad=True), k, dims))


def test_rot90_errors(device):
    check(device, lambda L: L.rot90(L.t(arr(3))))
    check(device, lambda L: L.rot90(L.t(arr(3, 3)), 1, (0, 0)))
    check(device, lambda L: L.rot90(L.t(arr(3, 3)), 1, (0, -2)))
    check(device, lambda L: L.rot90(L.t(arr(3, 3)), 1, (0, 1, 2)))
    check(device, lambda L: L.rot90(L.t(arr(3, 3)), 1, (0, 5)))


# -- repeat, tile, repeat_interleave ---------------------------------------------------------------
@pytest.mark.parametrize(
    "shape,sizes",
    [
        ((3,), (2,)),
        ((2, 3), (2, 1)),
        ((2, 3), (2, 0, 1)),
        ((2, 3), (1, 1)),
        ((), ()),
        ((), (3, 2)),
        ((1,), (4,)),
        ((0, 2), (2, 3)),
        ((2, 1, 3), (1, 2, 2)),
    ],
)
def test_repeat_and_tile(device, shape, sizes):
    check(device, lambda L: L.t(arr(*shape), grad=True).repeat(*sizes))
    check(device, lambda L: L.t(arr(*shape), grad=True).repeat(sizes))
    check(device, lambda L: L.tile(L.t(arr(*shape), grad=True), sizes))
    check(device, lambda L: L.t(arr(*shape)).tile(sizes[1:]))


def test_repeat_views_dtypes_and_errors(device):
    for dt in DTYPES:
        check(device, lambda L, dt=dt: L.t(arr(3, 2, dtype=dt)).t().repeat(2, 2))
    check(device, lambda L: L.t(arr(2, 3)).repeat(2))
    check(device, lambda L: L.t(arr(2, 3)).repeat(-1, 1))
    check(device, lambda L: L.tile(L.t(arr(2, 3)), (-1,)))
    # the result is a copy even where nothing repeats
    for lib, dev in ((T, "cpu"), (W, device)):
        x = lib.zeros(3, device=dev)
        x.repeat(1).add_(1)
        x.tile((1,)).add_(1)
        assert (x.cpu() if lib is T else x).tolist() == [0, 0, 0]


RI = [
    ((2, 3), 2, None),
    ((2, 3), 2, 0),
    ((2, 3), 3, -1),
    ((2, 3), 0, 1),
    ((), 3, None),
    ((0, 3), 2, 1),
    ((2, 3), [1, 2], 0),
    ((2, 3), [0, 2, 1], 1),
    ((2, 3), [2], 1),
    ((2, 3), np.int64(2), 1),
    ((4,), [3, 0, 1, 2], 0),
]


@pytest.mark.parametrize("shape,reps,dim", RI)
def test_repeat_interleave(device, shape, reps, dim):
    def rep(L):
        return L.t(np.asarray(reps, np.int64)) if isinstance(reps, (list, np.integer)) else reps

    check(device, lambda L: L.repeat_interleave(L.t(arr(*shape), grad=True), rep(L), dim))
    check(device, lambda L: L.t(arr(*shape, dtype="int32")).repeat_interleave(rep(L), dim=dim))


def test_repeat_interleave_forms_and_errors(device):
    a = arr(2, 3)
    check(device, lambda L: L.repeat_interleave(L.t([1, 2, 0, 3])))
    check(device, lambda L: L.repeat_interleave(L.t(np.array([2, 1], np.int32))))
    check(device, lambda L: L.repeat_interleave(L.t(a), L.t([1, 2]), dim=0, output_size=3))
    check(device, lambda L: L.repeat_interleave(L.t(a), 2, dim=0, output_size=4))
    check(device, lambda L: L.repeat_interleave(L.t(a), L.t([1, 2]), dim=0, output_size=4))
    check(device, lambda L: L.repeat_interleave(L.t(a), 2, dim=0, output_size=5))
    check(device, lambda L: L.repeat_interleave(L.t(a), L.t([1, 2, 3]), dim=0))
    check(device, lambda L: L.repeat_interleave(L.t(a), -1))
    check(device, lambda L: L.repeat_interleave(L.t(a), L.t([1, -1]), dim=0))
    check(device, lambda L: L.repeat_interleave(L.t(a), L.t([1.0, 2.0]), dim=0))
    check(device, lambda L: L.repeat_interleave(L.t([[1, 2]])))
    check(device, lambda L: L.repeat_interleave(L.t(a), 2, dim=2))
    check(device, lambda L: L.repeat_interleave(L.t(arr()), 2, dim=0))


# -- movedim, swapaxes, diff, narrow_copy ------------------------------------------------------------
@pytest.mark.parametrize("src,dst", [(0, 2), ((0, 1), (2, 0)), (-1, 0), ((), ()), ((0, 1, 2), (2, 1, 0))])
def test_movedim(device, src, dst):
    a = arr(2, 3, 4)
    check(device, lambda L: L.movedim(L.t(a, grad=True), src, dst))
    check(device, lambda L: L.t(a, grad=True).moveaxis(src, dst))


def test_movedim_swapaxes_errors_and_0d(device):
    a = arr(2, 3, 4)
    check(device, lambda L: L.movedim(L.t(a), (0, 0), (2, 1)))
    check(device, lambda L: L.movedim(L.t(a), (0, 1), (2, 2)))
    check(device, lambda L: L.movedim(L.t(a), (0, 1), (2,)))
    check(device, lambda L: L.movedim(L.t(a), 3, 0))
    check(device, lambda L: L.movedim(L.t(arr()), 0, -1))
    check(device, lambda L: L.swapaxes(L.t(a, grad=True), 0, -1))
    check(device, lambda L: L.swapdims(L.t(a, grad=True), 1, 2))


DIFF = [((5,), 1, -1), ((5,), 2, 0), ((3, 4), 1, 0), ((3, 4), 3, 1), ((3, 4), 6, 1), ((3, 4), 0, 1), ((0, 4), 1, 0)]


@pytest.mark.parametrize("shape,n,dim", DIFF)
def test_diff(device, shape, n, dim):
    check(device, lambda L: L.diff(L.t(arr(*shape), grad=True), n, dim))
    for dt in ("int64", "bool"):
        check(device, lambda L, dt=dt: L.t(arr(*shape, dtype=dt)).diff(n, dim))


def test_diff_prepend_append_and_errors(device):
    a = arr(2, 3)
    check(
        device,
        lambda L: L.diff(L.t(a, grad=True), 1, 1, prepend=L.t(arr(2, 1), grad=True), append=L.t(arr(2, 2), grad=True)),
    )
    check(device, lambda L: L.diff(L.t([1, 2]), prepend=L.t([0.5])))
    check(device, lambda L: L.t(a).t().diff(append=L.t(arr(3, 1))))
    check(device, lambda L: L.diff(L.t(a), 1, 1, prepend=L.t(arr(1))))
    check(device, lambda L: L.diff(L.t(a), 1, 1, prepend=L.t(arr(3, 1))))
    check(device, lambda L: L.diff(L.t(arr())))
    check(device, lambda L: L.diff(L.t(a), -1))
    check(device, lambda L: L.diff(L.t(a), 1, 2))


def test_narrow_copy(device):
    a = arr(4, 5)
    check(device, lambda L: L.narrow_copy(L.t(a), 1, 1, 3))
    check(device, lambda L: L.t(a).t().narrow_copy(-1, -2, 2))
    check(device, lambda L: L.narrow_copy(L.t(a), 0, 2, 3))
    for lib, dev in ((T, "cpu"), (W, device)):  # a copy, not a view
        x = lib.zeros(3, device=dev)
        x.narrow_copy(0, 0, 2).add_(1)
        assert (x.cpu() if lib is T else x).tolist() == [0, 0, 0]


# -- tril, triu ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 5), (5, 4), (2, 3, 3), (1, 1), (0, 3), (3, 0), (2, 0, 2)])
@pytest.mark.parametrize("k", [0, 2, -1, -7])
def test_tril_triu(device, shape, k):
    a = arr(*shape)
    check(device, lambda L: L.tril(L.t(a, grad=True), k))
    check(device, lambda L: L.t(a, grad=True).triu(k))


@pytest.mark.parametrize("dt", DTYPES)
def test_tril_triu_dtypes_views_nan(device, dt):
    a = arr(4, 3, dtype=dt)
    check(device, lambda L: L.t(a).t().tril())
    check(device, lambda L: L.t(a)[::2].triu(-1))
    nan = np.full((3, 3), np.nan, np.float32)
    nan[0, 2] = np.inf
    check(device, lambda L: L.tril(L.t(nan)))
    check(device, lambda L: L.triu(L.t(nan), 1))


def test_tril_triu_in_place(device):
    a = arr(3, 4)
    check(device, lambda L: L.t(a).tril_(1))
    check(device, lambda L: L.t(a).t().triu_())
    check(device, lambda L: (L.t(a, grad=True) * 2).tril_(-1))
    check(device, lambda L: L.t(a, grad=True).tril_())  # a leaf that requires grad
    check(device, lambda L: L.tril(L.t(arr(3))))
    check(device, lambda L: L.triu(L.t(arr())))
    check(device, lambda L: L.t(arr(3)).tril_())


@pytest.mark.parametrize(
    "row,col,offset", [(3, 4, 0), (4, 3, 1), (3, 3, -1), (0, 4, 0), (4, 0, 0), (3, 5, 9), (5, 3, -9), (1, 1, 0)]
)
def test_tril_triu_indices(device, row, col, offset):
    check(device, lambda L: L.tril_indices(row, col, offset, device=L.device))
    check(device, lambda L: L.triu_indices(row, col, offset, device=L.device, dtype=L.int32))


def test_tril_indices_errors(device):
    check(device, lambda L: L.tril_indices(-1, 4, device=L.device))
    check(device, lambda L: L.triu_indices(3, -2, device=L.device))
    check(device, lambda L: L.tril_indices(3, 3, dtype=L.float32, device=L.device))
    check(device, lambda L: L.triu_indices(3, 3, dtype=L.bool, device=L.device))


SPECIAL = np.array([[np.nan, -0.0, 1.5, np.inf], [-np.inf, 0.0, -0.0, 2.0], [3.0, np.nan, -1.0, -0.0]], np.float32)
MOVERS = {
    "flip": lambda L, x: L.flip(x, (0, 1)),
    "roll": lambda L, x: L.roll(x, (1, 2), (0, 1)),
    "rot90": lambda L, x: L.rot90(x, 1),
    "repeat": lambda L, x: x.repeat(2, 1),
    "repeat_interleave": lambda L, x: x.repeat_interleave(2, 1),
    "tril": lambda L, x: L.tril(x),
    "triu": lambda L, x: L.triu(x, 1),
    "unfold": lambda L, x: x.unfold(1, 2, 1),
    "as_strided": lambda L, x: x.as_strided((3, 3), (1, 3), 1),
    "diagonal": lambda L, x: x.diagonal(1),
    "diag_embed": lambda L, x: L.diag_embed(x),
    "movedim": lambda L, x: L.movedim(x, 0, 1),
    "block_diag": lambda L, x: L.block_diag(x, x[:1]),
    "meshgrid": lambda L, x: L.meshgrid(x[0], x[1], indexing="xy"),
    "diagonal_scatter": lambda L, x: L.diagonal_scatter(x, x[0, :3] * 1),
}


@pytest.mark.parametrize("name", sorted(MOVERS))
def test_moves_keep_nan_inf_and_signed_zeros(device, name):
    check(device, lambda L: MOVERS[name](L, L.t(SPECIAL)))
