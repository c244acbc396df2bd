"""GradScaler against PyTorch: the scale trajectory and the parameters over steps with injected
inf/NaN gradients equal PyTorch's (cpu and wgpu); the factors, the state dict, ``new_scale``; the
errors of misuse; and mixed-precision training of a small MLP (autocast + GradScaler) converging to
within a stated tolerance of float32 training, on cpu (bfloat16) and wgpu (float16)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wgtorch
import wgtorch.nn.functional as WF

rng = np.random.default_rng(1)


def _needs_f16(device):
    from wgtorch._device import get_backend

    if "shader-f16" not in get_backend(device).rt.features:
        pytest.skip("the wgpu adapter lacks shader-f16, which autocast('wgpu') needs")


# -- GradScaler ------------------------------------------------------------------------------------------
W1 = rng.standard_normal((5, 4)).astype(np.float32) * 0.3
XS = rng.standard_normal((8, 4)).astype(np.float32)
YS = rng.standard_normal((8, 5)).astype(np.float32)


def scaler_run(L, dev, scaler_device, bad_steps=(2, 3), unscale_first=False, steps=7, **kw):
    lin = L.nn.Linear(4, 5)
    with L.no_grad():
        lin.weight.copy_(L.tensor(W1))
        lin.bias.zero_()
    lin = lin.to(dev)
    opt = L.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    sc = L.amp.GradScaler(scaler_device, init_scale=2.0**10, growth_interval=2, **kw)
    trace = []
    for step in range(steps):
        opt.zero_grad()
        loss = L.nn.functional.mse_loss(lin(L.tensor(XS, device=dev)), L.tensor(YS, device=dev))
        scaled = sc.scale(loss)
        scaled.backward()
        if step in bad_steps:
            with L.no_grad():
                lin.weight.grad[0, 0] = float("inf") if step % 2 == 0 else float("nan")
        if unscale_first:
            sc.unscale_(opt)
            L.nn.utils.clip_grad_norm_(lin.parameters(), 1.0)
        sc.step(opt)
        sc.update()
        trace.append((scaled.item(), sc.get_scale(), sc.state_dict()["_growth_tracker"]))
    return trace, lin.weight.detach().cpu().numpy(), lin.bias.detach().cpu().numpy(), sc.state_dict()


@pytest.mark.parametrize("unscale_first", [False, True])
def test_grad_scaler_matches_torch(device, unscale_first):
    t = scaler_run(torch, "cpu", "cpu", unscale_first=unscale_first)
    w = scaler_run(wgtorch, device, device, unscale_first=unscale_first)
    assert [s[1:] for s in w[0]] == [s[1:] for s in t[0]]  # scale and growth tracker, step by step
    np.testing.assert_allclose([s[0] for s in w[0]], [s[0] for s in t[0]], rtol=1e-5)
    np.testing.assert_allclose(w[1], t[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w[2], t[2], rtol=1e-5, atol=1e-6)
    assert w[3] == t[3]


def test_grad_scaler_growth_and_backoff_factors():
    kw = dict(growth_factor=3.0, backoff_factor=0.25)
    t = scaler_run(torch, "cpu", "cpu", bad_steps=(1, 5), steps=8, **kw)
    w = scaler_run(wgtorch, "cpu", "cpu", bad_steps=(1, 5), steps=8, **kw)
    assert [s[1:] for s in w[0]] == [s[1:] for s in t[0]]
    np.testing.assert_allclose(w[1], t[1], rtol=1e-5, atol=1e-6)


def test_grad_scaler_state_dict_and_new_scale():
    for L in (torch, wgtorch):
        sc = L.amp.GradScaler("cpu", init_scale=8.0, growth_interval=3)
        assert sc.get_scale() == 8.0 and sc.is_enabled()
        assert sc.state_dict() == {
            "scale": 8.0,
            "growth_factor": 2.0,
            "backoff_factor": 0.5,
            "growth_interval": 3,
            "_growth_tracker": 0,
        }
        other = L.amp.GradScaler("cpu")
        other.load_state_dict({**sc.state_dict(), "scale": 4.0, "_growth_tracker": 2})
        assert other.get_scale() == 4.0 and other.state_dict()["_growth_tracker"] == 2
        p = L.nn.Parameter(L.ones(2))
        opt = L.optim.SGD([p], lr=0.1)
        other.scale(p.sum()).backward()
        other.step(opt)
        other.update(new_scale=1.0)
        assert other.get_scale() == 1.0
        other.scale(p.sum()).backward()
        other.step(opt)
        other.update(L.tensor(16.0))
        assert other.get_scale() == 16.0
        with pytest.raises(RuntimeError, match="state dict is empty"):
            other.load_state_dict({})


def test_grad_scaler_disabled_and_misuse():
    for L in (torch, wgtorch):
        p = L.nn.Parameter(L.ones(2))
        opt = L.optim.SGD([p], lr=0.5)
        off = L.amp.GradScaler("cpu", enabled=False)
        loss = p.sum()
        assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}
        loss.backward()
        off.step(opt)
        off.update()
        np.testing.assert_allclose(p.detach().numpy(), [0.5, 0.5])
        sc = L.amp.GradScaler("cpu")
        with pytest.raises(AssertionError, match="_scale is None"):
            sc.unscale_(opt)
        sc.scale(p.sum()).backward()
        sc.unscale_(opt)
        with pytest.raises(RuntimeError, match="already been called"):
            sc.unscale_(opt)
        sc.step(opt)
        with pytest.raises(RuntimeError, match="has already been called since the last update"):
            sc.step(opt)
        with pytest.raises(RuntimeError, match="Closure"):
            sc.step(opt, closure=lambda: 0.0)
        sc.update()
        h = L.nn.Parameter(L.ones(2, dtype=L.float16))
        sc.scale(h.float().sum()).backward()
        with pytest.raises(ValueError, match="FP16 gradients"):
            sc.step(L.optim.SGD([h], lr=0.1))
        scaled = sc.scale([p.sum(), (p * 2).sum()])
        assert isinstance(scaled, list) and len(scaled) == 2


# -- mixed-precision training ----------------------------------------------------------------------------
def _train(device, amp_dtype, steps=60):
    """The MLP example's setup, small: 3 classes of 2-d points, 2-32-3 MLP, Adam, full batch."""
    g = np.random.default_rng(5)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]], np.float32)
    y = g.integers(0, 3, 96)
    x = (centers[y] + g.standard_normal((96, 2)).astype(np.float32) * 0.6).astype(np.float32)
    wgtorch.manual_seed(0)
    model = wgtorch.nn.Sequential(wgtorch.nn.Linear(2, 32), wgtorch.nn.ReLU(), wgtorch.nn.Linear(32, 3)).to(device)
    opt = wgtorch.optim.Adam(model.parameters(), lr=0.05)
    scaler = wgtorch.amp.GradScaler(device, enabled=amp_dtype is not None)
    xt, yt = wgtorch.tensor(x, device=device), wgtorch.tensor(y, device=device)
    for _ in range(steps):
        opt.zero_grad()
        with wgtorch.autocast(device, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = WF.cross_entropy(model(xt), yt)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    with wgtorch.no_grad():
        final = WF.cross_entropy(model(xt), yt).item()
    return final, model[0].weight.dtype


def test_mixed_precision_training_converges(device):
    amp_dtype = wgtorch.bfloat16 if device == "cpu" else wgtorch.float16
    if device != "cpu":
        _needs_f16(device)
    fp32_loss, _ = _train(device, None)
    amp_loss, param_dtype = _train(device, amp_dtype)
    assert param_dtype is wgtorch.float32  # master weights stay float32
    assert fp32_loss < 0.3  # the float32 run learns the three clusters
    # Stated tolerance: the mixed-precision final loss is within 0.05 (absolute) of float32's.
    assert abs(amp_loss - fp32_loss) < 0.05, (amp_loss, fp32_loss)
