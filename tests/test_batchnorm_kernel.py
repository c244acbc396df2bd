"""The one-pass batch-norm statistics kernel on wgpu (``shaders/norm.wgsl``, Welford + Chan's merge) behind
F.batch_norm in training mode: output, running statistics and the gradients of input, weight and bias against
PyTorch; odd sizes around the 64-thread workgroup, large means (where a naive sum of squares loses digits),
non-contiguous inputs, one channel, a grid folded past the per-dimension workgroup limit, float16 storage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wgtorch
import wgtorch.nn.functional as F
from tests.helpers import assert_close
from wgtorch._backends.wgpu import WgpuBackend

pytestmark = pytest.mark.skipif(not wgtorch.wgpu.is_available(), reason="no wgpu adapter")
DEV = "wgpu"


@pytest.fixture
def calls(monkeypatch):
    seen = []
    original = WgpuBackend.batch_norm_stats

    def spy(self, *args):
        seen.append(args[1:])
        return original(self, *args)

    monkeypatch.setattr(WgpuBackend, "batch_norm_stats", spy)
    return seen


def _check(x, transpose=False, offset=0.0, affine=True, seed=0, out_atol=1e-4):
    rng = np.random.default_rng(seed)
    c = x.shape[1] if not transpose else x.shape[0]
    w, b = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    g = None
    results = []
    for lib, mk in (
        (torch, lambda a: torch.tensor(a, requires_grad=True)),
        (wgtorch, lambda a: wgtorch.tensor(a, device=DEV, requires_grad=True)),
    ):
        tx = mk(x)
        inp = tx.transpose(0, 1) if transpose else tx
        tw, tb = (mk(w), mk(b)) if affine else (None, None)
        dev = {} if lib is torch else {"device": DEV}
        rm, rv = lib.full((c,), offset, **dev), lib.ones(c, **dev)
        fn = torch.nn.functional.batch_norm if lib is torch else F.batch_norm
        out = fn(inp, rm, rv, tw, tb, training=True, momentum=0.3)
        if g is None:
            g = rng.standard_normal(tuple(out.shape)).astype(np.float32)
        out.backward(lib.tensor(g, **dev))
        results.append((out, rm, rv, [t.grad for t in (tx, tw, tb) if t is not None]))
    (t_out, t_rm, t_rv, t_grads), (w_out, w_rm, w_rv, w_grads) = results
    assert_close(w_out.detach(), t_out.detach().numpy(), rtol=1e-4, atol=out_atol)
    assert_close(w_rm, t_rm.numpy(), rtol=1e-5, atol=1e-5)
    assert_close(w_rv, t_rv.numpy(), rtol=1e-4, atol=1e-5)
    for wg, tg in zip(w_grads, t_grads):
        assert_close(wg, tg.numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 3), (63, 1), (64, 2), (65, 5), (4, 3, 5, 7), (3, 2, 257), (2, 4, 3, 3, 3)])
def test_matches_torch(shape, calls):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    _check(x)
    assert calls and calls[0][1] == shape[1]


def test_large_mean_small_spread(calls):
    # mean 1e4, std 1e-1: E[x^2] - E[x]^2 in float32 would lose the variance; the running variance must match.
    # The output may differ by the float32 rounding of the mean (1e4 * 2**-24 ~ 6e-4, over std 0.1), which
    # PyTorch's cpu kernel avoids by keeping the mean in float64.
    x = (1e4 + 0.1 * np.random.default_rng(2).standard_normal((50, 3, 40))).astype(np.float32)
    _check(x, affine=False, out_atol=1e-2)
    assert calls


def test_non_contiguous_input(calls):
    x = np.random.default_rng(3).standard_normal((4, 6, 9)).astype(np.float32)  # (C, N, R) transposed to (N, C, R)
    _check(x, transpose=True)
    assert calls


def test_grid_folded(calls, monkeypatch):
    rt = wgtorch.tensor([0.0], device=DEV)._be.rt
    monkeypatch.setattr(rt, "max_groups", 4)  # 11 channels: 3 x 4 groups, one spare
    _check(np.random.default_rng(4).standard_normal((5, 11, 3)).astype(np.float32))
    assert calls


def test_eval_mode_and_one_value_per_channel(calls):
    x = wgtorch.tensor(np.ones((1, 3), np.float32), device=DEV)
    with pytest.raises(ValueError):
        F.batch_norm(x, None, None, training=True)
    F.batch_norm(x, wgtorch.zeros(3, device=DEV), wgtorch.ones(3, device=DEV), training=False)
    empty = F.batch_norm(wgtorch.zeros(0, 3, device=DEV), None, None, training=True)
    assert empty.shape == (0, 3)
    assert not calls  # eval mode uses the running statistics; an empty batch computes none


def test_float16_storage(calls):
    if "shader-f16" not in wgtorch.tensor([0.0], device=DEV)._be.rt.features:
        pytest.skip("adapter lacks shader-f16")
    x = np.random.default_rng(5).standard_normal((8, 3, 5)).astype(np.float16).astype(np.float32)
    w = wgtorch.tensor(x, device=DEV).half()
    out = F.batch_norm(w, None, None, training=True)
    ref = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    assert calls and out.dtype is wgtorch.float16
    assert_close(out.float(), ref.numpy(), rtol=1e-2, atol=1e-2)
