"""Losses vs NumPy float64 references on every device: cross_entropy and nll_loss (the fused
kernel: class weights, ignore_index, label smoothing, K-dim inputs, probability targets, every
reduction), mse, l1, binary cross-entropy with and without logits. Values and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch
import wgtorch.nn as nn
import wgtorch.nn.functional as F
from tests.helpers import assert_close, rand
from tests.test_nn_functional import multi_lane, numeric_grad  # noqa: F401 (a fixture)


def ce_ref(x, t, w=None, ignore_index=-100, eps=0.0, reduction="mean", log_softmax=True):
    """PyTorch's cross_entropy / nll_loss in float64, from its documented formulas."""
    x = np.asarray(x, np.float64)
    t = np.asarray(t)
    one = x.ndim == 1
    if one:
        x, t = x[None], t[None]
    xm = np.moveaxis(x, 1, -1)  # classes last
    classes = xm.shape[-1]
    if log_softmax:
        m = np.max(xm, -1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(all="ignore"):
            logp = xm - m - np.log(np.exp(xm - m).sum(-1, keepdims=True))
    else:
        logp = xm
    w = np.ones(classes) if w is None else np.asarray(w, np.float64)
    valid = t != ignore_index
    ts = np.where(valid, t, 0)
    wt = w[ts] * valid
    with np.errstate(all="ignore"):
        nll = np.where(valid, -np.take_along_axis(logp, ts[..., None], -1)[..., 0] * wt, 0.0)
        loss = (1 - eps) * nll
        if eps:
            loss = loss + eps / classes * np.where(valid, -(logp * w).sum(-1), 0.0)
    if reduction == "none":
        return loss[0] if one else loss
    if reduction == "sum":
        return loss.sum()
    with np.errstate(all="ignore"):
        return loss.sum() / wt.sum()


def check_class_loss(device, fn, x, t, w=None, ignore_index=-100, eps=0.0, reduction="mean", log_softmax=True,
                     rtol=1e-4, atol=1e-5):
    xt = wgtorch.tensor(x, device=device, requires_grad=True)
    tt = wgtorch.tensor(t, device=device)
    wt = wgtorch.tensor(w, device=device) if w is not None else None
    kwargs = {"label_smoothing": eps} if eps else {}
    out = fn(xt, tt, weight=wt, ignore_index=ignore_index, reduction=reduction, **kwargs)
    expected = ce_ref(x, t, w, ignore_index, eps, reduction, log_softmax)
    assert_close(out, expected, rtol=rtol, atol=atol)
    up = rand(*np.shape(expected), seed=99) if reduction == "none" else np.float32(1.0)
    out.backward(wgtorch.tensor(up, device=device) if reduction == "none" else None)
    num = numeric_grad(lambda z: float((ce_ref(z, t, w, ignore_index, eps, reduction, log_softmax) * up).sum()), x)
    assert_close(xt.grad, num, rtol=1e-3, atol=1e-5)


# (logits shape, target shape): (N, C) around the kernel's lane counts, (C,), and K-dim inputs.
SHAPES = [((5, 3), (5,)), ((4, 16), (4,)), ((3, 17), (3,)), ((2, 1500), (2,)), ((6,), ()), ((2, 3, 4, 2), (2, 4, 2)),
          ((3, 1), (3,))]


@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: "x".join(map(str, s[0])))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy(device, shapes, reduction, weighted, eps):
    xs, ts = shapes
    classes = xs[0] if len(xs) == 1 else xs[1]
    rng = np.random.default_rng(sum(xs))
    x = rng.uniform(-3, 3, xs).astype(np.float32)
    t = rng.integers(0, classes, ts)
    ignore = -100
    if t.ndim and t.size > 2:
        t.flat[1] = ignore = 2 if classes > 2 else -5  # an ignored target (also one that is a class)
    w = rng.uniform(0.5, 2, classes).astype(np.float32) if weighted else None
    check_class_loss(device, F.cross_entropy, x, t, w, ignore, eps, reduction)


@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: "x".join(map(str, s[0])))
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.usefixtures("multi_lane")
def test_cross_entropy_multi_lane(wgpu_device, shapes, reduction):
    test_cross_entropy(wgpu_device, shapes, reduction, True, 0.2)


@pytest.mark.usefixtures("multi_lane")
def test_cross_entropy_masked_logits_multi_lane(wgpu_device):
    x = np.full((3, 100), -np.inf, np.float32)
    x[0, :50] = rand(50, seed=20)
    x[1, 7] = 3.0
    x[2, :] = rand(100, seed=21)
    x[2, 33] = np.nan
    t = np.array([10, 7, 0])
    loss = F.cross_entropy(wgtorch.tensor(x, device=wgpu_device), wgtorch.tensor(t, device=wgpu_device),
                           reduction="none").numpy()
    expected = ce_ref(x, t, reduction="none")
    assert_close(wgtorch.tensor(loss[:2]), expected[:2], rtol=1e-5, atol=1e-6)
    assert np.isnan(loss[2])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(device, reduction, weighted):
    rng = np.random.default_rng(5)
    logits = rng.uniform(-2, 2, (4, 5, 3))
    logp = (logits - np.log(np.exp(logits).sum(1, keepdims=True))).astype(np.float32)
    t = rng.integers(0, 5, (4, 3))
    t[0, 0] = -100
    w = rng.uniform(0.5, 2, 5).astype(np.float32) if weighted else None
    check_class_loss(device, F.nll_loss, logp, t, w, -100, 0.0, reduction, log_softmax=False)


def test_cross_entropy_strided_logits(device):
    x = rand(7, 4, seed=1)  # used as its (4, 7) transpose
    t = np.array([0, 6, 3, 3])
    xt = wgtorch.tensor(x, device=device, requires_grad=True)
    loss = F.cross_entropy(xt.t(), wgtorch.tensor(t, device=device))
    assert_close(loss, ce_ref(x.T, t), rtol=1e-5, atol=1e-6)
    loss.backward()
    assert_close(xt.grad, numeric_grad(lambda z: ce_ref(z.T, t), x), rtol=1e-3, atol=1e-5)


def test_cross_entropy_nan_and_masked_logits(device):
    x = np.array([[1.0, np.nan, 0.5], [0.0, -np.inf, 2.0], [-np.inf, -np.inf, 1.0]], np.float32)
    t = np.array([0, 2, 2])
    xt = wgtorch.tensor(x, device=device, requires_grad=True)
    loss = F.cross_entropy(xt, wgtorch.tensor(t, device=device), reduction="none")
    expected = ce_ref(x, t, reduction="none")
    assert np.isnan(loss.detach().numpy()[0])
    assert_close(loss[1:], expected[1:], rtol=1e-5, atol=1e-6)
    loss[1:].sum().backward()
    g = xt.grad.numpy()
    assert np.all(np.isfinite(g[1:])) and g[1, 1] == 0 and g[2, 0] == 0 and g[2, 2] == 0


def test_cross_entropy_all_ignored(device):
    x = wgtorch.tensor(rand(3, 4, seed=2), device=device)
    t = wgtorch.tensor([-100, -100, -100], device=device)
    assert np.isnan(F.cross_entropy(x, t).item())  # 0 / 0, as in PyTorch
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0


def test_cross_entropy_empty_batch(device):
    x = wgtorch.zeros(0, 3, device=device, requires_grad=True)
    t = wgtorch.zeros(0, dtype=wgtorch.int64, device=device)
    assert np.isnan(F.cross_entropy(x, t).item())
    assert F.cross_entropy(x, t, reduction="none").shape == (0,)
    loss = F.cross_entropy(x, t, reduction="sum")
    assert loss.item() == 0.0
    loss.backward()
    assert x.grad.shape == (0, 3)


def test_cross_entropy_bad_target_raises(device):
    x = wgtorch.tensor(rand(3, 4, seed=3), device=device)
    t = wgtorch.tensor([0, 7, 1], device=device)
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        F.cross_entropy(x, t).item()  # on wgpu the kernel reports it; the read raises
    with pytest.raises(IndexError, match="Target -3 is out of bounds"):
        F.nll_loss(x, wgtorch.tensor([0, -3, 1], device=device)).item()
    # The device keeps working, and the next loss is right.
    assert_close(F.cross_entropy(x, wgtorch.tensor([0, 3, 1], device=device)),
                 ce_ref(rand(3, 4, seed=3), [0, 3, 1]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets(device, eps, reduction):
    rng = np.random.default_rng(4)
    x = rng.uniform(-2, 2, (4, 5)).astype(np.float32)
    p = rng.uniform(0, 1, (4, 5))
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    w = rng.uniform(0.5, 2, 5).astype(np.float32)

    def ref(z):
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        q = p * (1 - eps) + eps / 5
        loss = -(logp * q * w).sum(1)
        return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss

    xt = wgtorch.tensor(x, device=device, requires_grad=True)
    out = F.cross_entropy(xt, wgtorch.tensor(p, device=device), weight=wgtorch.tensor(w, device=device),
                          reduction=reduction, label_smoothing=eps)
    assert_close(out, ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert_close(xt.grad, numeric_grad(lambda z: ref(z).sum(), x), rtol=1e-3, atol=1e-5)


def test_cross_entropy_float16(device):
    if device == "wgpu" and "shader-f16" not in wgtorch._device.get_backend("wgpu").rt.features:
        pytest.skip("this wgpu adapter has no shader-f16")
    x = rand(4, 9, seed=5)
    t = np.array([1, 0, 8, 3])
    out = F.cross_entropy(wgtorch.tensor(x, device=device, dtype=wgtorch.float16), wgtorch.tensor(t, device=device))
    assert out.dtype is wgtorch.float16
    assert_close(out, ce_ref(x.astype(np.float16), t), rtol=2e-3, atol=2e-3)
    # The layer-norm kernel stores f16 too (and computes in f32).
    xt = wgtorch.tensor(x, device=device, dtype=wgtorch.float16, requires_grad=True)
    y = F.layer_norm(xt, (9,))
    assert y.dtype is wgtorch.float16
    x16 = x.astype(np.float16).astype(np.float64)
    ref = (x16 - x16.mean(1, keepdims=True)) / np.sqrt(x16.var(1, keepdims=True) + 1e-5)
    assert_close(y, ref, rtol=5e-3, atol=5e-3)
    y.sum().backward()
    assert xt.grad.dtype is wgtorch.float16 and np.abs(xt.grad.numpy().astype(np.float64)).max() < 1e-2


def test_cross_entropy_past_the_workgroup_grid_limit(device):
    # 4.2 M rows of 2 classes: one lane per row -> 65,625 workgroups, and 131,250 for the
    # element-wise backward: both grids fold into 2-D.
    rows = 4_200_000
    rng = np.random.default_rng(6)
    x = rng.uniform(-2, 2, (rows, 2)).astype(np.float32)
    t = rng.integers(0, 2, rows)
    xt = wgtorch.tensor(x, device=device, requires_grad=True)
    loss = F.cross_entropy(xt, wgtorch.tensor(t, device=device), reduction="sum")
    x64 = x.astype(np.float64)
    lse = np.logaddexp(x64[:, 0], x64[:, 1])
    assert_close(loss, (lse - x64[np.arange(rows), t]).sum(), rtol=1e-4)
    loss.backward()
    p = np.exp(x64 - lse[:, None])
    p[np.arange(rows), t] -= 1
    assert_close(xt.grad, p, rtol=1e-4, atol=1e-5)


def test_class_loss_errors():
    x = wgtorch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(2\)"):
        F.cross_entropy(x, wgtorch.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 4 classes"):
        F.cross_entropy(x, wgtorch.tensor([0, 1, 2]), weight=wgtorch.ones(3))
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        F.cross_entropy(x, wgtorch.tensor([0, 1, 2]), reduction="bad")
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, wgtorch.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="class probabilities"):
        F.cross_entropy(x, wgtorch.zeros(3))
    with pytest.raises(RuntimeError, match="expected a floating-point input, got int64"):
        F.cross_entropy(wgtorch.zeros(3, 4, dtype=wgtorch.int64), wgtorch.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 5\], got \[2, 4\]"):
        F.nll_loss(wgtorch.zeros(2, 3, 5), wgtorch.zeros(2, 4, dtype=wgtorch.int64))


# -- regression and binary losses --------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_and_l1(device, reduction):
    a, b = rand(4, 7, seed=7), rand(4, 7, seed=8)
    for fn, ref, dref in ((F.mse_loss, lambda d: d * d, lambda d: 2 * d), (F.l1_loss, np.abs, np.sign)):
        at = wgtorch.tensor(a, device=device, requires_grad=True)
        bt = wgtorch.tensor(b, device=device, requires_grad=True)
        out = fn(at, bt, reduction=reduction)
        d = a.astype(np.float64) - b
        red = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
        assert_close(out, red(ref(d)), rtol=1e-5, atol=1e-6)
        out.sum().backward()
        scale = 1 / d.size if reduction == "mean" else 1.0
        assert_close(at.grad, dref(d) * scale, rtol=1e-5, atol=1e-7)
        assert_close(bt.grad, -dref(d) * scale, rtol=1e-5, atol=1e-7)


def test_mse_broadcast_warns():
    with pytest.warns(UserWarning, match="Using a target size"):
        F.mse_loss(wgtorch.zeros(3, 1), wgtorch.zeros(3))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(device, reduction):
    x = np.array([[0.0, 0.2, 0.5], [0.9, 1.0, 0.3]], np.float32)
    t = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.25]], np.float32)
    w = np.array([1.0, 2.0, 0.5], np.float32)
    xt = wgtorch.tensor(x, device=device, requires_grad=True)
    tt = wgtorch.tensor(t, device=device, requires_grad=True)
    out = F.binary_cross_entropy(xt, tt, weight=wgtorch.tensor(w, device=device), reduction=reduction)
    x64 = x.astype(np.float64)
    with np.errstate(divide="ignore"):
        lx, l1x = np.maximum(np.log(x64), -100), np.maximum(np.log(1 - x64), -100)
    per = -w * (t * lx + (1 - t) * l1x)
    red = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]
    assert_close(out, red(per), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    scale = 1 / per.size if reduction == "mean" else 1.0
    # PyTorch's gradient: finite at x = 0 and 1 thanks to the 1e-12 floor.
    gx = w * (x64 - t) / np.maximum(x64 * (1 - x64), 1e-12) * scale
    assert_close(xt.grad, gx, rtol=1e-4, atol=1e-4)
    assert_close(tt.grad, w * (l1x - lx) * scale, rtol=1e-5, atol=1e-5)


def test_binary_cross_entropy_shape_error():
    with pytest.raises(ValueError, match="Please ensure they have the same size"):
        F.binary_cross_entropy(wgtorch.zeros(3), wgtorch.zeros(3, 1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weights", [False, True])
def test_bce_with_logits(device, reduction, weights):
    x = rand(3, 4, seed=9, low=-5, high=5)
    x[0, :2] = [100.0, -100.0]  # stable at large |x|
    t = (rand(3, 4, seed=10) > 0).astype(np.float32)
    w = rand(3, 4, seed=11, low=0.5, high=2) if weights else None
    pw = rand(4, seed=12, low=0.5, high=3) if weights else None

    def ref(z):
        lw = 1 + ((pw if pw is not None else 1.0) - 1) * t
        per = (1 - t) * z + lw * (np.logaddexp(0, -z))
        per = per * (w if w is not None else 1.0)
        return per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per

    xt = wgtorch.tensor(x, device=device, requires_grad=True)
    out = F.binary_cross_entropy_with_logits(
        xt, wgtorch.tensor(t, device=device), weight=wgtorch.tensor(w, device=device) if weights else None,
        reduction=reduction, pos_weight=wgtorch.tensor(pw, device=device) if weights else None)
    assert_close(out, ref(x.astype(np.float64)), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert_close(xt.grad, numeric_grad(lambda z: ref(z).sum(), x), rtol=1e-4, atol=1e-5)


def test_loss_modules_match_functional(device):
    rng = np.random.default_rng(13)
    x = wgtorch.tensor(rng.uniform(-1, 1, (4, 3)).astype(np.float32), device=device)
    t = wgtorch.tensor([0, 2, 1, -1], device=device)
    w = wgtorch.tensor([1.0, 2.0, 0.5], device=device)
    pairs = [
        (nn.CrossEntropyLoss(weight=w, ignore_index=-1, label_smoothing=0.1, reduction="sum"),
         F.cross_entropy(x, t, weight=w, ignore_index=-1, label_smoothing=0.1, reduction="sum")),
        (nn.NLLLoss(ignore_index=-1), F.nll_loss(x, t, ignore_index=-1)),
    ]
    for module, expected in pairs:
        assert_close(module(x, t), expected.numpy(), rtol=1e-6)
    y = x.sigmoid()
    assert_close(nn.MSELoss(reduction="none")(x, y), F.mse_loss(x, y, reduction="none").numpy())
    assert_close(nn.L1Loss()(x, y), F.l1_loss(x, y).numpy())
    assert_close(nn.BCELoss()(y, (x > 0).float()), F.binary_cross_entropy(y, (x > 0).float()).numpy())
    pw = wgtorch.tensor([2.0, 1.0, 0.5], device=device)
    assert_close(nn.BCEWithLogitsLoss(pos_weight=pw)(x, (x > 0).float()),
                 F.binary_cross_entropy_with_logits(x, (x > 0).float(), pos_weight=pw).numpy())
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert "weight" in dict(nn.CrossEntropyLoss(weight=w).named_buffers())
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
