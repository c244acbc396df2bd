"""Layer norm's weight and bias gradients on wgpu sum over the rows in chunks (no thread walks every
row): row counts below, at and past a chunk, and none at all, against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch
from wgtorch._backends.wgpu.nn import AFFINE_CHUNK

torch = pytest.importorskip("torch", reason="PyTorch (the dev extra's CPU wheel) is the oracle here")


@pytest.mark.parametrize("rows, size", [(0, 5), (1, 1), (3, 5), (AFFINE_CHUNK, 7), (AFFINE_CHUNK + 1, 65),
                                        (3 * AFFINE_CHUNK - 1, 2)])
def test_affine_gradients_match_pytorch(device, rows, size):
    x = np.random.default_rng(rows).standard_normal((rows, size)).astype(np.float32)
    up = np.random.default_rng(size).standard_normal((rows, size)).astype(np.float32)
    grads = []
    for lib, dev in ((wgtorch, device), (torch, "cpu")):
        ln = lib.nn.LayerNorm(size).to(dev)
        xx = lib.tensor(x, device=dev, requires_grad=True)
        (ln(xx) * lib.tensor(up, device=dev)).sum().backward()
        grads.append([t.detach().cpu().numpy() for t in (ln.weight.grad, ln.bias.grad, xx.grad)])
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)  # size 2 rows: x.grad is ill-conditioned
