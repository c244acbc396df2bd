"""einsum and tensordot against PyTorch on cpu and wgpu: values, gradients of every operand,
ellipses, implicit outputs, repeated labels (diagonals, traces), broadcasting, the operand-list
and sublist forms, and the exception types for bad equations."""

from __future__ import annotations

import pytest

from tests.shape_oracle import arr, check

EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ba", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iij->ji", [(3, 3, 2)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (1, 3, 4)]),
    ("i...->...", [(2, 3, 4)]),
    ("...i", [(2, 3, 4)]),
    ("i...i", [(3, 2, 3)]),
    ("ij,jk->ik", [(2, 1), (3, 4)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,j,k->ijk", [(2,), (3,), (2,)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,ij->", [(2, 3), (2, 3)]),
    ("ij->", [(2, 3)]),
    ("->", [()]),
    (",i->i", [(), (3,)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 2), (2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ijk,ikl->", [(2, 3, 4), (2, 4, 5)]),
    ("AbC,Cb->A", [(2, 3, 4), (4, 3)]),
    (" i j , j k -> i k ", [(2, 3), (3, 4)]),
    ("ij,jk->ik", [(0, 3), (3, 4)]),
    ("ij,jk->ik", [(2, 0), (0, 4)]),
    ("ii->", [(0, 0)]),
    ("...,...->...", [(2, 3), (3,)]),
    ("i,i,i->i", [(3,), (3,), (3,)]),
]


@pytest.mark.parametrize("eq,shapes", EQUATIONS)
def test_einsum(device, eq, shapes):
    def run(L):
        return L.einsum(eq, *[L.t(arr(*s, seed=i), grad=True) for i, s in enumerate(shapes)])

    check(device, run, tol=1e-4)


def test_einsum_operand_forms(device):
    a, b, v = arr(2, 3), arr(3, 4, seed=1), arr(3, seed=2)
    check(device, lambda L: L.einsum("ij,jk", [L.t(a, grad=True), L.t(b, grad=True)]), tol=1e-4)
    check(device, lambda L: L.einsum("ij,jk", (L.t(a), L.t(b))), tol=1e-4)
    check(device, lambda L: L.einsum(L.t(a, grad=True), [0, 1], L.t(b, grad=True), [1, 2], [0, 2]), tol=1e-4)
    check(device, lambda L: L.einsum(L.t(a), [0, 1], L.t(b), [1, 2]), tol=1e-4)
    check(device, lambda L: L.einsum(L.t(a), [Ellipsis, 1], L.t(v, grad=True), [1], [Ellipsis]), tol=1e-4)
    check(device, lambda L: L.einsum(L.t(a), [0, 51], [51]), tol=1e-4)


def test_einsum_views_and_dtypes(device):
    a, b = arr(3, 2), arr(4, 3, seed=1)
    check(device, lambda L: L.einsum("ji,kj->ik", L.t(a, grad=True), L.t(b, grad=True)), tol=1e-4)
    check(device, lambda L: L.einsum("ij,jk->ik", L.t(a, grad=True).t(), L.t(b, grad=True).t()), tol=1e-4)
    check(device, lambda L: L.einsum("ij,j->i", L.t(arr(4, 6))[:, ::2], L.t(arr(3))), tol=1e-4)
    check(device, lambda L: L.einsum("i,i->", L.t(arr(4, dtype="int64") % 50), L.t(arr(4, dtype="int64") % 50)))
    check(device, lambda L: L.einsum("ij->j", L.t(arr(2, 3, dtype="int32"))))


@pytest.mark.parametrize(
    "eq,shapes",
    [
        ("ij,jk->ik", [(2, 3)]),
        ("ij", [(2, 3), (3, 4)]),
        ("i1->i", [(2, 3)]),
        ("ijk->i", [(2, 3)]),
        ("ij->k", [(2, 3)]),
        ("ij->ii", [(2, 3)]),
        ("ii->i", [(3, 2)]),
        ("ij,jk->ik", [(2, 3), (2, 3)]),
        ("......", [(2, 3)]),
        ("i.j", [(2, 3)]),
        ("ij-ik", [(2, 3)]),
        ("ijk...->i", [(2, 3)]),
        ("...ij,...jk->...ik", [(2, 2, 3), (3, 3, 4)]),
    ],
)
def test_einsum_errors(device, eq, shapes):
    check(device, lambda L: L.einsum(eq, *[L.t(arr(*s)) for s in shapes]))


def test_einsum_bad_calls(device):
    check(device, lambda L: L.einsum("i"))
    check(device, lambda L: L.einsum("i,i->", L.t(arr(3)), L.t(arr(3, dtype="int64"))))
    check(device, lambda L: L.einsum(L.t(arr(2, 3)), [0, 60]))


TENSORDOT = [
    ((2, 3, 4), (3, 4, 5), 2),
    ((2, 3, 4), (4, 5), 1),
    ((2, 3), (4, 5), 0),
    ((2, 3, 4), (4, 3), ([1, 2], [1, 0])),
    ((2, 3, 4), (4, 3), ([2], [0])),
    ((2, 3), (3, 2), ([0, 1], [1, 0])),
    ((3,), (3,), 1),
    ((2, 1, 4), (3, 4), ([1, 2], [0, 1])),
    ((2, 0), (0, 3), 1),
]


@pytest.mark.parametrize("sa,sb,dims", TENSORDOT)
def test_tensordot(device, sa, sb, dims):
    check(device, lambda L: L.tensordot(L.t(arr(*sa), grad=True), L.t(arr(*sb, seed=1), grad=True), dims), tol=1e-4)
    check(device, lambda L: L.tensordot(L.t(arr(*sa)).contiguous(), L.t(arr(*sb, seed=1)), dims=dims), tol=1e-4)


def test_tensordot_errors(device):
    a, b = arr(2, 3, 4), arr(4, 3)
    check(device, lambda L: L.tensordot(L.t(a), L.t(b), ([1, 2], [0, 1])))
    check(device, lambda L: L.tensordot(L.t(a), L.t(b), -1))
    check(device, lambda L: L.tensordot(L.t(a), L.t(b), 3))
    check(device, lambda L: L.tensordot(L.t(a), L.t(b), (2, 0)))
    check(device, lambda L: L.tensordot(L.t(a), L.t(b), ([1, 2], [0])))
    check(device, lambda L: L.tensordot(L.t(a), L.t(b, dtype="int64"), 1))
    check(device, lambda L: L.tensordot(L.t(a), L.t(b), L.t(1)), tol=1e-4)
