"""The NumPy / CuPy fused attention (``_backends/array_attention.py``) behind F.scaled_dot_product_attention on
"cpu": values and the gradients of query, key and value against PyTorch and against the composite; odd sizes,
L != S, causal, bool / float masks with a fully masked row, NaN / Inf, scale, GQA (heads stacked as rows),
broadcast leading dims, non-contiguous inputs, zero-size dims, float16 / bfloat16 (computed in float32),
double backward, where the composite runs instead, and the same kernels over the fake CuPy (no host reads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

import wgtorch
import wgtorch.nn.functional as F
from tests.fake_cupy import FakeCupy
from tests.helpers import assert_close
from wgtorch._backends.array import ArrayBackend, numpy_backend
from wgtorch.nn import _attention_fused


@pytest.fixture
def calls(monkeypatch):
    """Counts the fused forward's calls (to tell the kernel path from the composite)."""
    seen = []
    original = ArrayBackend.attention_probs_forward

    def spy(self, *args):
        seen.append(args[0].shape)
        return original(self, *args)

    monkeypatch.setattr(ArrayBackend, "attention_probs_forward", spy)
    return seen


def _arrays(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _run(arrays, mask, up, fused, **kw):
    leaves = [wgtorch.tensor(a, requires_grad=True) for a in arrays]
    m = None if mask is None else wgtorch.tensor(mask)
    old, _attention_fused.USE_FUSED = _attention_fused.USE_FUSED, fused
    try:
        out = F.scaled_dot_product_attention(*leaves, attn_mask=m, **kw)
        out.backward(wgtorch.tensor(up))
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
    with torch.no_grad():
        shape = torch.nn.functional.scaled_dot_product_attention(
            *[torch.tensor(a) for a in arrays], attn_mask=None if mask is None else torch.tensor(mask), **kw
        ).shape
    up = np.random.default_rng(seed + 100).standard_normal(tuple(shape)).astype(np.float32)
    t_out, t_grads = _torch(arrays, mask, up, **kw)
    n = len(calls) if calls is not None else 0
    f_out, f_grads = _run(arrays, mask, up, True, **kw)
    if calls is not None:
        assert (len(calls) > n) == expect_fused
    c_out, c_grads = _run(arrays, mask, up, False, **kw)
    for out, grads in ((f_out, f_grads), (c_out, c_grads)):
        assert out.dtype is wgtorch.float32 and tuple(out.shape) == tuple(t_out.shape)
        assert_close(out, t_out, rtol=1e-4, atol=2e-5)
        for g, t in zip(grads, t_grads):
            assert tuple(g.shape) == t.shape
            assert_close(g, t, rtol=1e-3, atol=2e-5)
    return f_out, f_grads


# (B, H, L, S, E, Ev, causal)
CASES = [
    (1, 1, 1, 1, 8, 8, False),
    (2, 3, 7, 7, 8, 8, True),
    (1, 2, 63, 64, 8, 8, False),
    (1, 1, 65, 130, 8, 8, True),
    (1, 1, 130, 65, 8, 4, True),
    (2, 1, 7, 65, 8, 8, False),
    (1, 1, 257, 255, 5, 3, True),
    (1, 1, 7, 9, 65, 33, True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "B{}H{}L{}S{}E{}V{}{}".format(*c[:6], "c" * c[6]))
def test_fused_matches_torch_and_composite(case, calls):
    b, h, L, S, e, ev, causal = case
    _check(_arrays([(b, h, L, e), (b, h, S, e), (b, h, S, ev)], b * L + S), calls=calls, is_causal=causal)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_masks_with_a_fully_masked_row(kind, calls):
    b, h, L, S = 2, 2, 9, 70
    arrays = _arrays([(b, h, L, 8), (b, h, S, 8), (b, h, S, 8)], 5)
    rng = np.random.default_rng(6)
    keep = rng.random((b, 1, L, S)) > 0.3  # per batch, broadcast over heads
    keep[0, 0, 4] = False  # a row with no key: zeros, zero gradients
    keep[1, 0, :, 0] = True
    mask = keep if kind == "bool" else np.where(keep, rng.standard_normal(keep.shape), -np.inf).astype(np.float32)
    out, grads = _check(arrays, mask, calls=calls)
    assert np.all(out.numpy()[0, :, 4] == 0) and np.all(grads[0].numpy()[0, :, 4] == 0)


def test_mask_shared_and_broadcast_shapes(calls):
    arrays = _arrays([(2, 3, 7, 8), (2, 3, 5, 8), (2, 3, 5, 8)], 8)
    rng = np.random.default_rng(9)
    for shape in [(7, 5), (1, 5), (3, 1, 5), (2, 3, 7, 5)]:
        _check(arrays, rng.random(shape) > 0.2, calls=calls)
    _check(arrays, rng.standard_normal((3, 7, 1)).astype(np.float32), calls=calls)


def test_nan_and_inf_propagate_as_in_torch(calls):
    a = _arrays([(1, 2, 5, 4), (1, 2, 6, 4), (1, 2, 6, 4)], 30)
    a[0][0, 0, 1, 2] = np.nan
    a[2][0, 1, 3, 0] = np.inf
    # PyTorch's math backend: its cpu flash kernel gives a row of zeros (not NaN) for a NaN query row
    with sdpa_kernel(SDPBackend.MATH):
        t = torch.nn.functional.scaled_dot_product_attention(*[torch.tensor(x) for x in a], is_causal=True).numpy()
    w = F.scaled_dot_product_attention(*[wgtorch.tensor(x) for x in a], is_causal=True).numpy()
    assert calls
    np.testing.assert_array_equal(np.isnan(w), np.isnan(t))
    np.testing.assert_array_equal(np.isinf(w), np.isinf(t))
    ok = np.isfinite(t)
    np.testing.assert_allclose(w[ok], t[ok], rtol=1e-4, atol=2e-5)


def test_scale_and_broadcast_leading_dims(calls):
    _check(_arrays([(3, 7, 8), (1, 9, 8), (1, 9, 8)], 10), calls=calls, scale=0.3)
    _check(_arrays([(7, 8), (2, 9, 8), (2, 9, 4)], 11), calls=calls, is_causal=True)


def test_gqa_maps_heads(calls):
    _check(_arrays([(2, 4, 7, 8), (2, 2, 66, 8), (2, 2, 66, 8)], 12), calls=calls, enable_gqa=True, is_causal=True)
    _check(_arrays([(1, 6, 5, 8), (1, 1, 5, 8), (1, 1, 5, 8)], 13), calls=calls, enable_gqa=True)
    rng = np.random.default_rng(14)
    arrays = _arrays([(2, 4, 7, 8), (2, 2, 5, 8), (2, 2, 5, 8)], 15)
    for shape in [(7, 5), (2, 4, 7, 5), (4, 1, 5)]:  # shared and per-head masks over stacked heads
        _check(arrays, rng.random(shape) > 0.3, calls=calls, enable_gqa=True)


def test_non_contiguous_inputs(calls):
    b, L, S, h, e = 2, 65, 7, 3, 8
    a = _arrays([(b, L, h, e), (b, S, h, e), (b, S, h, e)], 14)
    up = np.random.default_rng(15).standard_normal((b, h, L, e)).astype(np.float32)
    t = [torch.tensor(x, requires_grad=True) for x in a]
    w = [wgtorch.tensor(x, requires_grad=True) for x in a]
    t_out = torch.nn.functional.scaled_dot_product_attention(*[x.transpose(1, 2) for x in t], is_causal=True)
    w_out = F.scaled_dot_product_attention(*[x.transpose(1, 2) for x in w], is_causal=True)
    assert calls
    assert_close(w_out, t_out.detach().numpy(), rtol=1e-4, atol=2e-5)
    t_out.backward(torch.tensor(up))
    w_out.backward(wgtorch.tensor(up))
    for x, y in zip(w, t):
        assert_close(x.grad, y.grad.numpy(), rtol=1e-3, atol=2e-5)


def test_zero_size():
    for shapes in [
        [(0, 2, 7, 8), (0, 2, 5, 8), (0, 2, 5, 8)],
        [(1, 2, 0, 8), (1, 2, 5, 8), (1, 2, 5, 8)],
        [(1, 2, 3, 8), (1, 2, 0, 8), (1, 2, 0, 8)],
        [(1, 2, 3, 8), (1, 2, 4, 8), (1, 2, 4, 0)],
    ]:
        _check(_arrays(shapes, 16))
        _check(_arrays(shapes, 16), np.ones(shapes[0][-2:-1] + shapes[1][-2:-1], bool))


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
def test_half_dtypes_compute_in_float32(dt, calls):
    a = _arrays([(1, 2, 9, 8), (1, 2, 11, 8), (1, 2, 11, 8)], 18)
    t = [torch.tensor(x).to(getattr(torch, dt)).requires_grad_() for x in a]
    w = [wgtorch.tensor(x).to(getattr(wgtorch, dt)).requires_grad_() for x in a]
    w_out = F.scaled_dot_product_attention(*w, is_causal=True)
    t_out = torch.nn.functional.scaled_dot_product_attention(*t, is_causal=True)
    assert calls and w_out.dtype is getattr(wgtorch, dt)
    tol = dict(rtol=2e-2, atol=2e-3) if dt == "float16" else dict(rtol=5e-2, atol=2e-2)
    assert_close(w_out.float(), t_out.detach().float().numpy(), **tol)
    w_out.float().sum().backward()
    t_out.float().sum().backward()
    for x, y in zip(w, t):
        assert x.grad.dtype is getattr(wgtorch, dt)
        assert_close(x.grad.float(), y.grad.float().numpy(), **tol)


def test_float64_uses_the_composite(calls):
    a = _arrays([(1, 2, 5, 8), (1, 2, 6, 8), (1, 2, 6, 8)], 26)
    t = torch.nn.functional.scaled_dot_product_attention(*[torch.tensor(x, dtype=torch.float64) for x in a])
    w = F.scaled_dot_product_attention(*[wgtorch.tensor(x, dtype=wgtorch.float64) for x in a])
    assert not calls and w.dtype is wgtorch.float64
    np.testing.assert_allclose(w.numpy(), t.numpy(), rtol=1e-12, atol=1e-13)


def test_double_backward_uses_the_composite(calls):
    a = _arrays([(1, 2, 5, 8), (1, 2, 6, 8), (1, 2, 6, 8)], 19)
    t = [torch.tensor(x, requires_grad=True) for x in a]
    w = [wgtorch.tensor(x, requires_grad=True) for x in a]
    ref = torch.softmax(t[0] @ t[1].transpose(-2, -1) / np.sqrt(8), -1) @ t[2]
    (tg,) = torch.autograd.grad(ref.pow(2).sum(), t[0], create_graph=True)
    (wg,) = wgtorch.autograd.grad(F.scaled_dot_product_attention(*w).pow(2).sum(), w[0], create_graph=True)
    assert calls
    tg.sum().backward()
    wg.sum().backward()
    for x, y in zip(w, t):
        assert_close(x.grad, y.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_dropout_and_mask_grad_use_the_composite(calls):
    a = _arrays([(1, 2, 5, 8), (1, 2, 6, 8), (1, 2, 6, 8)], 20)
    out = F.scaled_dot_product_attention(*[wgtorch.tensor(x) for x in a], dropout_p=0.5)
    assert not calls and out.shape == (1, 2, 5, 8)
    m = np.random.default_rng(23).standard_normal((5, 6)).astype(np.float32)
    tm, wm = torch.tensor(m, requires_grad=True), wgtorch.tensor(m, requires_grad=True)
    t = torch.nn.functional.scaled_dot_product_attention(*[torch.tensor(x) for x in a], attn_mask=tm)
    w = F.scaled_dot_product_attention(*[wgtorch.tensor(x) for x in a], attn_mask=wm)
    assert not calls
    t.sum().backward()
    w.sum().backward()
    assert_close(wm.grad, tm.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_bad_input_still_raises():
    a = [wgtorch.tensor(x) for x in _arrays([(2, 5, 8), (3, 6, 8), (3, 6, 8)], 24)]
    with pytest.raises(RuntimeError):
        F.scaled_dot_product_attention(*a)
    b = [wgtorch.tensor(x) for x in _arrays([(2, 5, 8), (2, 6, 8), (2, 6, 8)], 25)]
    with pytest.raises(RuntimeError, match="attn_mask"):
        F.scaled_dot_product_attention(*b, attn_mask=wgtorch.ones(4, 6, dtype=wgtorch.bool))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_fake_cupy_matches_numpy_without_host_reads(causal, masked):
    """Both pairs (logsumexp: the protocol's, probabilities: what the front end uses) over ``xp`` = the fake
    CuPy (which refuses NumPy calls and host reads) give NumPy's results, GQA (hq 4, hk 2) included; the two
    pairs give the same gradients."""
    z, zk, L, S, e, ev = 8, 4, 7, 9, 8, 5
    q, k, v, g = _arrays([(z, L, e), (zk, S, e), (zk, S, ev), (z, L, ev)], 27)
    mask = None
    if masked:
        mask = np.where(np.random.default_rng(28).random((z, L, S)) > 0.3, 0.0, -np.inf).astype(np.float32)
        mask[1, 2] = -np.inf  # a dead row
    cpu, xp = numpy_backend(), FakeCupy()
    fake = ArrayBackend(xp, "cupy")
    up = lambda a: None if a is None else xp.asarray(a)  # noqa: E731
    close = lambda got, want: np.testing.assert_allclose(xp.asnumpy(got), want, rtol=1e-6, atol=1e-7)  # noqa: E731
    args = (0.4, causal, 4, 2)
    want_out, want_lse = cpu.attention_forward(q, k, v, mask, *args)
    out, lse = fake.attention_forward(up(q), up(k), up(v), up(mask), *args)
    close(out, want_out)
    np.testing.assert_array_equal(xp.asnumpy(lse), want_lse)
    assert np.all(want_lse[1, 2] == -np.inf) if masked else np.all(np.isfinite(want_lse))
    out_p, want_p = cpu.attention_probs_forward(q, k, v, mask, *args)
    np.testing.assert_array_equal(out_p, want_out)
    out2, p = fake.attention_probs_forward(up(q), up(k), up(v), up(mask), *args)
    close(out2, want_out)
    close(p, want_p)
    delta = (g * want_out).sum(-1)
    want = cpu.attention_backward(g, q, k, v, mask, want_out, want_lse, delta, *args)
    got = fake.attention_backward(up(g), up(q), up(k), up(v), up(mask), out, lse, up(delta), *args)
    kept = cpu.attention_probs_backward(g, q, k, v, want_p, delta, 0.4, 4, 2)
    got_kept = fake.attention_probs_backward(up(g), up(q), up(k), up(v), p, up(delta), 0.4, 4, 2)
    for a, b, c, d in zip(got, want, kept, got_kept):
        close(a, b)
        close(d, c)
        np.testing.assert_allclose(c, b, rtol=1e-5, atol=1e-6)
