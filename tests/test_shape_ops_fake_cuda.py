"""The shape ops that are composites of other ops, on the emulated "cuda" device (CuPy's API over
tests/fake_cupy.py): they must use only ``xp`` on device arrays and agree with PyTorch. (The
views themselves (as_strided, unfold, diagonal, and the ops using them: diag, trace, einsum with
repeated labels, fill_diagonal_, diagonal_scatter) build CuPy arrays from memory pointers, which the
stand-in does not have.)"""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch
from tests.fake_cupy import FakeCupy
from tests.shape_oracle import arr, check
from wgtorch import _device
from wgtorch._backends.array_cuda import CudaArrayBackend

CUDA0 = wgtorch.device("cuda", 0)


@pytest.fixture
def cuda(monkeypatch):
    be = CudaArrayBackend(FakeCupy(), 0)
    be.device = CUDA0
    monkeypatch.setitem(_device._backends, CUDA0, be)
    return "cuda"


CASES = {
    "tril": lambda L: L.tril(L.t(arr(3, 4), grad=True), 1),
    "triu_": lambda L: L.t(arr(2, 3, 3)).triu_(-1),
    "tril_indices": lambda L: L.tril_indices(3, 4, device=L.device),
    "flip": lambda L: L.flip(L.t(arr(3, 4), grad=True), (0, 1)),
    "roll": lambda L: L.roll(L.t(arr(3, 4), grad=True), (1, -1), (0, 1)),
    "rot90": lambda L: L.rot90(L.t(arr(3, 4), grad=True), 3),
    "repeat": lambda L: L.t(arr(2, 3), grad=True).repeat(2, 1, 2),
    "repeat_interleave": lambda L: L.repeat_interleave(L.t(arr(2, 3), grad=True), L.t([2, 1]), dim=0),
    "meshgrid": lambda L: L.meshgrid(L.t(arr(3), grad=True), L.t(arr(2)), indexing="xy"),
    "outer": lambda L: L.outer(L.t(arr(3), grad=True), L.t(arr(2))),
    "cross": lambda L: L.cross(L.t(arr(2, 3), grad=True), L.t(arr(2, 3, seed=1)), dim=1),
    "kron": lambda L: L.kron(L.t(arr(2, 2), grad=True), L.t(arr(2, 3))),
    "block_diag": lambda L: L.block_diag(L.t(arr(2, 2), grad=True), L.t(arr(3))),
    "diff": lambda L: L.diff(L.t(arr(3, 5), grad=True), 2, 1),
    "movedim": lambda L: L.movedim(L.t(arr(2, 3, 4), grad=True), 0, -1),
    "tensordot": lambda L: L.tensordot(L.t(arr(2, 3, 4), grad=True), L.t(arr(4, 3)), ([1, 2], [1, 0])),
    "einsum": lambda L: L.einsum("bij,bjk->bik", L.t(arr(2, 3, 4), grad=True), L.t(arr(2, 4, 2), grad=True)),
    "fill_diagonal_ wrapped": lambda L: L.t(arr(7, 3)).fill_diagonal_(2.0, wrap=True),  # (others: a view)
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_composites_on_emulated_cuda(cuda, name):
    check(cuda, CASES[name], tol=1e-4)


def test_no_numpy_arrays_reach_the_device(cuda):
    x = wgtorch.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4), device=cuda)
    assert wgtorch.tril(x).sum().item() == float(np.tril(np.arange(12.0).reshape(3, 4)).sum())
