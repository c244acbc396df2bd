"""The fused flash-attention kernels on wgpu (``shaders/attention.wgsl``) behind F.scaled_dot_product_attention:
values and the gradients of query, key and value against PyTorch and against the composite on the same device;
odd sequence lengths around the 64-row workgroup and the key/value tiles, L != S, causal, bool / float masks with
a fully masked row, scale, GQA, broadcast leading dims, non-contiguous inputs, zero-size batches, a grid folded
past 65,535 workgroups, double backward; and the conditions under which the composite runs instead."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wgtorch
import wgtorch.nn.functional as F
from tests.helpers import assert_close
from wgtorch._backends.wgpu import WgpuBackend
from wgtorch.nn import _attention_fused

pytestmark = pytest.mark.skipif(not wgtorch.wgpu.is_available(), reason="no wgpu adapter")
DEV = "wgpu"


@pytest.fixture
def calls(monkeypatch):
    """Counts the fused forward's dispatches (to tell the kernel path from the composite)."""
    seen = []
    original = WgpuBackend.attention_forward

    def spy(self, *args):
        seen.append(args[0].shape)
        return original(self, *args)

    monkeypatch.setattr(WgpuBackend, "attention_forward", spy)
    return seen


def _arrays(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _run(arrays, mask, up, fused, **kw):
    """wgtorch on wgpu: output and grads of the float leaves (fused kernel or composite)."""
    leaves = [wgtorch.tensor(a, device=DEV, requires_grad=True) for a in arrays]
    m = None if mask is None else wgtorch.tensor(mask, device=DEV)
    old, _attention_fused.USE_FUSED = _attention_fused.USE_FUSED, fused
    try:
        out = F.scaled_dot_product_attention(*leaves, attn_mask=m, **kw)
        out.backward(wgtorch.tensor(up, device=DEV))
    finally:
        _attention_fused.USE_FUSED = old
    return out.detach(), [t.grad for t in leaves]


def _torch(arrays, mask, up, **kw):
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    m = None if mask is None else torch.tensor(mask)
    out = torch.nn.functional.scaled_dot_product_attention(*leaves, attn_mask=m, **kw)
    out.backward(torch.tensor(up))
    return out.detach().numpy(), [t.grad.numpy() for t in leaves]


def _check(arrays, mask=None, calls=None, expect_fused=True, seed=3, **kw):
    up = _up(arrays, mask, seed, **kw)
    t_out, t_grads = _torch(arrays, mask, up, **kw)
    n = len(calls) if calls is not None else 0
    f_out, f_grads = _run(arrays, mask, up, True, **kw)
    if calls is not None:
        assert (len(calls) > n) == expect_fused
    c_out, c_grads = _run(arrays, mask, up, False, **kw)
    for got in ((f_out, f_grads), (c_out, c_grads)):
        assert_close(got[0], t_out, rtol=1e-4, atol=2e-5)
        for g, t in zip(got[1], t_grads):
            assert_close(g, t, rtol=1e-3, atol=2e-5)
    return f_out, f_grads


def _up(arrays, mask, seed, **kw):
    with torch.no_grad():
        shape = torch.nn.functional.scaled_dot_product_attention(
            *[torch.tensor(a) for a in arrays], attn_mask=None if mask is None else torch.tensor(mask), **kw
        ).shape
    return np.random.default_rng(seed + 100).standard_normal(tuple(shape)).astype(np.float32)


# (B, H, L, S, E, Ev, causal): sizes around the 64-row workgroup and the staged tiles
CASES = [
    (1, 1, 1, 1, 8, 8, False),
    (2, 3, 7, 7, 8, 8, True),
    (1, 2, 64, 64, 8, 8, False),
    (1, 1, 65, 130, 8, 8, True),
    (1, 1, 130, 65, 8, 4, True),
    (2, 1, 7, 65, 8, 8, False),
    (1, 2, 65, 64, 64, 64, False),
    (1, 1, 7, 9, 65, 33, True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "B{}H{}L{}S{}E{}V{}{}".format(*c[:6], "c" * c[6]))
def test_fused_matches_torch_and_composite(case, calls):
    b, h, L, S, e, ev, causal = case
    _check(_arrays([(b, h, L, e), (b, h, S, e), (b, h, S, ev)], b * L + S), calls=calls, is_causal=causal)


@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_masks_with_a_fully_masked_row(kind, causal, calls):
    b, h, L, S = 2, 2, 9, 70
    arrays = _arrays([(b, h, L, 8), (b, h, S, 8), (b, h, S, 8)], 5)
    rng = np.random.default_rng(6)
    keep = rng.random((b, 1, L, S)) > 0.3  # per batch, broadcast over heads
    keep[0, 0, 4] = False  # a row with no key: zeros, zero gradients
    keep[1, 0, :, 0] = True
    mask = keep if kind == "bool" else np.where(keep, rng.standard_normal(keep.shape), -np.inf).astype(np.float32)
    out, grads = _check(arrays, mask, calls=calls, is_causal=causal)
    assert np.all(out.numpy()[0, :, 4] == 0) and np.all(grads[0].numpy()[0, :, 4] == 0)


def test_mask_shared_and_broadcast_shapes(calls):
    arrays = _arrays([(2, 3, 7, 8), (2, 3, 5, 8), (2, 3, 5, 8)], 8)
    rng = np.random.default_rng(9)
    for shape in [(7, 5), (1, 5), (3, 1, 5), (2, 3, 7, 5)]:
        _check(arrays, rng.random(shape) > 0.2, calls=calls)
    _check(arrays, rng.standard_normal((3, 7, 1)).astype(np.float32), calls=calls)


def test_scale_and_broadcast_leading_dims(calls):
    _check(_arrays([(3, 7, 8), (1, 9, 8), (1, 9, 8)], 10), calls=calls, scale=0.3)
    _check(_arrays([(7, 8), (2, 9, 8), (2, 9, 4)], 11), calls=calls, is_causal=True)


def test_gqa_maps_heads(calls):
    _check(_arrays([(2, 4, 7, 8), (2, 2, 66, 8), (2, 2, 66, 8)], 12), calls=calls, enable_gqa=True, is_causal=True)
    _check(_arrays([(1, 6, 5, 8), (1, 1, 5, 8), (1, 1, 5, 8)], 13), calls=calls, enable_gqa=True)


def test_non_contiguous_inputs(calls):
    b, L, S, h, e = 2, 65, 7, 3, 8
    a = _arrays([(b, L, h, e), (b, S, h, e), (b, S, h, e)], 14)
    up = np.random.default_rng(15).standard_normal((b, h, L, e)).astype(np.float32)
    t = [torch.tensor(x, requires_grad=True) for x in a]
    w = [wgtorch.tensor(x, device=DEV, requires_grad=True) for x in a]
    t_out = torch.nn.functional.scaled_dot_product_attention(*[x.transpose(1, 2) for x in t], is_causal=True)
    w_out = F.scaled_dot_product_attention(*[x.transpose(1, 2) for x in w], is_causal=True)
    assert calls
    assert_close(w_out, t_out.detach().numpy(), rtol=1e-4, atol=2e-5)
    t_out.backward(torch.tensor(up))
    w_out.backward(wgtorch.tensor(up, device=DEV))
    for x, y in zip(w, t):
        assert_close(x.grad, y.grad.numpy(), rtol=1e-3, atol=2e-5)


def test_zero_size(calls):
    for shapes in [
        [(0, 2, 7, 8), (0, 2, 5, 8), (0, 2, 5, 8)],
        [(1, 2, 0, 8), (1, 2, 5, 8), (1, 2, 5, 8)],
        [(1, 2, 3, 8), (1, 2, 0, 8), (1, 2, 0, 8)],
    ]:
        _check(_arrays(shapes, 16), calls=None)
        _check(_arrays(shapes, 16), np.ones(shapes[0][-2:-1] + shapes[1][-2:-1], bool), calls=None)


def test_grid_folded_past_the_workgroup_limit(calls, monkeypatch):
    """Grids past the per-dimension limit fold into 2-D with spare workgroups; a small limit stands in for 65,535
    (a real 65,536-workgroup grid takes tens of seconds on a software adapter)."""
    rt = wgtorch.tensor([0.0], device=DEV)._be.rt
    monkeypatch.setattr(rt, "max_groups", 4)
    # 11 x ceil(65 / rows per workgroup) groups, folded
    _check(_arrays([(11, 65, 8), (11, 70, 8), (11, 70, 8)], 17), calls=calls, is_causal=True)


def test_float16_storage(calls):
    if "shader-f16" not in wgtorch.tensor([0.0], device=DEV)._be.rt.features:
        pytest.skip("adapter lacks shader-f16")
    a = _arrays([(1, 2, 9, 8), (1, 2, 11, 8), (1, 2, 11, 8)], 18)
    a = [x.astype(np.float16).astype(np.float32) for x in a]
    w = [wgtorch.tensor(x, device=DEV).half().requires_grad_() for x in a]
    t = [torch.tensor(x, requires_grad=True) for x in a]
    w_out = F.scaled_dot_product_attention(*w, is_causal=True)
    t_out = torch.nn.functional.scaled_dot_product_attention(*t, is_causal=True)
    assert calls and w_out.dtype is wgtorch.float16
    assert_close(w_out.float(), t_out.detach().numpy(), rtol=2e-2, atol=2e-3)
    w_out.float().sum().backward()
    t_out.sum().backward()
    for x, y in zip(w, t):
        assert x.grad.dtype is wgtorch.float16
        assert_close(x.grad.float(), y.grad.numpy(), rtol=2e-2, atol=5e-3)


def test_double_backward_uses_the_composite(calls):
    a = _arrays([(1, 2, 5, 8), (1, 2, 6, 8), (1, 2, 6, 8)], 19)
    t = [torch.tensor(x, requires_grad=True) for x in a]
    w = [wgtorch.tensor(x, device=DEV, requires_grad=True) for x in a]
    ref = torch.softmax(t[0] @ t[1].transpose(-2, -1) / np.sqrt(8), -1) @ t[2]  # torch's cpu SDPA has no 2nd order
    (tg,) = torch.autograd.grad(ref.pow(2).sum(), t[0], create_graph=True)
    (wg,) = wgtorch.autograd.grad(F.scaled_dot_product_attention(*w).pow(2).sum(), w[0], create_graph=True)
    assert calls
    tg.sum().backward()
    wg.sum().backward()
    for x, y in zip(w, t):
        assert_close(x.grad, y.grad.numpy(), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("why", ["dropout", "head_dim", "mask_grad", "gqa_kv_heads", "cpu"])
def test_fallback_conditions(why, calls):
    """Where the kernel does not apply, the composite runs (and still matches PyTorch)."""
    a = _arrays([(1, 2, 5, 8), (1, 2, 6, 8), (1, 2, 6, 8)], 20)
    if why == "dropout":
        w = [wgtorch.tensor(x, device=DEV) for x in a]
        out = F.scaled_dot_product_attention(*w, dropout_p=0.5)
        assert not calls and out.shape == (1, 2, 5, 8)
        return
    if why == "head_dim":  # the largest head dim the kernels take, then one past it
        _check(_arrays([(1, 1, 3, 128), (1, 1, 4, 128), (1, 1, 4, 128)], 21), calls=calls)
        _check(_arrays([(1, 1, 3, 129), (1, 1, 4, 129), (1, 1, 4, 2)], 21), calls=calls, expect_fused=False)
        return
    if why == "gqa_kv_heads":
        _check(
            _arrays([(1, 4, 3, 8), (1, 2, 4, 8), (1, 1, 4, 8)], 22), calls=calls, expect_fused=False, enable_gqa=True
        )
        return
    if why == "cpu":
        w = [wgtorch.tensor(x) for x in a]
        F.scaled_dot_product_attention(*w)
        assert not calls
        return
    m = np.random.default_rng(23).standard_normal((5, 6)).astype(np.float32)
    tm, wm = torch.tensor(m, requires_grad=True), wgtorch.tensor(m, device=DEV, requires_grad=True)
    t = torch.nn.functional.scaled_dot_product_attention(*[torch.tensor(x) for x in a], attn_mask=tm)
    w = F.scaled_dot_product_attention(*[wgtorch.tensor(x, device=DEV) for x in a], attn_mask=wm)
    assert not calls
    t.sum().backward()
    w.sum().backward()
    assert_close(wm.grad, tm.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_bad_input_still_raises(calls):
    a = [wgtorch.tensor(x, device=DEV) for x in _arrays([(2, 5, 8), (3, 6, 8), (3, 6, 8)], 24)]
    with pytest.raises(RuntimeError):
        F.scaled_dot_product_attention(*a)
    b = [wgtorch.tensor(x, device=DEV) for x in _arrays([(2, 5, 8), (2, 6, 8), (2, 6, 8)], 25)]
    with pytest.raises(RuntimeError, match="attn_mask"):
        F.scaled_dot_product_attention(*b, attn_mask=wgtorch.ones(4, 6, dtype=wgtorch.bool, device=DEV))
