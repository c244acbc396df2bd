"""Multi-tensor (foreach) optimizer steps (``sgd_foreach``, ``adam_foreach``) and capturable Adam,
against PyTorch (values and state after N steps) and against the per-parameter path, on cpu and
wgpu. Tolerance against PyTorch: rtol 1e-5, atol 1e-6 (float32 kernels; PyTorch CPU rounds the
same formulas differently); foreach against per-parameter on the same device: bit for bit, except
capturable Adam, whose bias corrections are float32 on the device (rtol 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch as pt

import wgtorch as torch

# around the multi-tensor kernel's workgroup (64) and a 256 tile, odd, 0-d, empty
SHAPES = [(5, 3), (), (63,), (64,), (65,), (0, 4), (3, 85), (255,), (256,), (257,)]
STEPS = 4

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01, capturable=True)),
    ("Adam", dict(lr=0.01, capturable=True, amsgrad=True, betas=(0.5, 0.9))),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, capturable=True, weight_decay=0.3)),
]


def _data(shapes, seed=0, nan=False):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(STEPS)]
    if nan:
        grads[1][0].reshape(-1)[:3] = [np.nan, np.inf, -np.inf]
    return params, grads


def _run_torch(name, kw, params, grads, skip=()):
    ps = [pt.tensor(p, requires_grad=True) for p in params]
    kw = {k: v for k, v in kw.items() if k != "capturable"}  # PyTorch's capturable needs CUDA
    opt = getattr(pt.optim, name)(ps, **kw)
    for step, gs in enumerate(grads):
        for i, (p, g) in enumerate(zip(ps, gs)):
            p.grad = None if (step, i) in skip else pt.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in ps], opt


def _run(name, kw, params, grads, device, skip=(), **extra):
    ps = [torch.tensor(p, device=device, requires_grad=True) for p in params]
    opt = getattr(torch.optim, name)(ps, **kw, **extra)
    for step, gs in enumerate(grads):
        for i, (p, g) in enumerate(zip(ps, gs)):
            p.grad = None if (step, i) in skip else torch.tensor(g, device=device)
        opt.step()
    return [p.detach().numpy() for p in ps], opt


@pytest.mark.parametrize("name, kw", CONFIGS)
def test_foreach_matches_pytorch_and_the_per_parameter_path(device, name, kw):
    params, grads = _data(SHAPES)
    ref, ref_opt = _run_torch(name, kw, params, grads)
    got, opt = _run(name, kw, params, grads, device)
    for a, b in zip(got, ref):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    single, _ = _run(name, kw, params, grads, device, foreach=False)
    for a, b in zip(got, single):
        if kw.get("capturable"):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(a, b)
    for p, rp in zip(opt.param_groups[0]["params"], ref_opt.param_groups[0]["params"]):
        state, rstate = opt.state[p], ref_opt.state[rp]
        for key, value in rstate.items():
            mine = state[key]
            assert tuple(mine.shape) == tuple(value.shape), key
            np.testing.assert_allclose(mine.numpy(), value.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kw", [CONFIGS[3], CONFIGS[6], CONFIGS[8]])
def test_nan_inf_gradients_follow_pytorch(device, name, kw):
    params, grads = _data([(65,), (7,)], seed=3, nan=True)
    ref, _ = _run_torch(name, kw, params, grads)
    got, _ = _run(name, kw, params, grads, device)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
        assert (np.isnan(a) == np.isnan(b)).all()


@pytest.mark.parametrize("name, kw", [CONFIGS[2], CONFIGS[5], CONFIGS[7]])
def test_parameters_without_gradients_keep_their_state(device, name, kw):
    params, grads = _data([(6,), (70,), (3, 3)], seed=4)
    skip = {(0, 1), (2, 1), (1, 2)}  # some steps leave some parameters without a gradient
    ref, ref_opt = _run_torch(name, kw, params, grads, skip)
    got, opt = _run(name, kw, params, grads, device, skip)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if name == "Adam":
        steps = [float(opt.state[p]["step"]) for p in opt.param_groups[0]["params"]]
        assert steps == [float(ref_opt.state[p]["step"]) for p in ref_opt.param_groups[0]["params"]]


def test_many_parameters_are_chunked_and_still_right(wgpu_device):
    shapes = [(3 + k, 5) for k in range(14)]  # 14 tensors: 3 chunks of at most 6
    params, grads = _data(shapes, seed=5)
    ref, _ = _run_torch("Adam", dict(lr=0.01), params, grads)
    ps = [torch.tensor(p, device=wgpu_device, requires_grad=True) for p in params]
    opt = torch.optim.Adam(ps, lr=0.01)
    rt = ps[0]._be.rt
    for step, gs in enumerate(grads):
        for p, g in zip(ps, gs):
            p.grad = torch.tensor(g, device=wgpu_device)
        torch.wgpu.synchronize()
        before = rt.stats["dispatches"]
        opt.step()
        if step:  # (the first step also fills the new state with zeros)
            assert rt.stats["dispatches"] - before == 3
    for p, b in zip(ps, ref):
        np.testing.assert_allclose(p.detach().numpy(), b, rtol=1e-5, atol=1e-6)


def test_a_group_in_many_buffers_respects_the_binding_limit(wgpu_device):
    # Tensors over 1 MiB get buffers of their own: param, grad and momentum buffer are three
    # bindings each, so the group splits by the adapter's storage buffers per stage.
    shapes = [(270_000,), (5,), (270_001,), (64,)]
    params, grads = _data(shapes, seed=6)
    kw = dict(lr=0.05, momentum=0.9)
    ref, _ = _run_torch("SGD", kw, params, grads)
    got, _ = _run("SGD", kw, params, grads, wgpu_device)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kw", [CONFIGS[3], CONFIGS[6], CONFIGS[10]])
def test_non_contiguous_and_mixed_dtype_tensors(device, name, kw):
    rng = np.random.default_rng(7)
    p0 = rng.standard_normal((6, 4)).astype(np.float32)
    p1 = rng.standard_normal((65,)).astype(np.float32)
    g0 = [rng.standard_normal((4, 6)).astype(np.float32) for _ in range(STEPS)]
    g1 = [rng.standard_normal((65,)).astype(np.float32) for _ in range(STEPS)]
    # PyTorch: the same values with a transposed gradient
    rps = [pt.tensor(p0, requires_grad=True), pt.tensor(p1, requires_grad=True)]
    ropt = getattr(pt.optim, name)(rps, **{k: v for k, v in kw.items() if k != "capturable"})
    ps = [torch.tensor(p0, device=device, requires_grad=True), torch.tensor(p1, device=device, requires_grad=True)]
    opt = getattr(torch.optim, name)(ps, **kw)
    for a, b in zip(g0, g1):
        rps[0].grad, rps[1].grad = pt.tensor(a).t(), pt.tensor(b)
        ps[0].grad = torch.tensor(a, device=device).t()  # a non-contiguous gradient
        ps[1].grad = torch.tensor(b, device=device)
        ropt.step()
        opt.step()
    for p, r in zip(ps, rps):
        np.testing.assert_allclose(p.detach().numpy(), r.detach().numpy(), rtol=1e-5, atol=1e-6)
    if kw.get("capturable"):
        return  # capturable takes float32 only (see the next test)
    # a float16 parameter in a float32 group goes through the per-parameter kernel
    h = torch.tensor(p1, device=device, dtype=torch.float16, requires_grad=True)
    f = torch.tensor(p1, device=device, requires_grad=True)
    opt = getattr(torch.optim, name)([h, f], **kw)
    rh = pt.tensor(p1, dtype=pt.float16, requires_grad=True)
    ropt = getattr(pt.optim, name)([rh], **kw)
    for b in g1:
        h.grad = torch.tensor(b, device=device, dtype=torch.float16)
        f.grad = torch.tensor(b, device=device)
        rh.grad = pt.tensor(b, dtype=pt.float16)
        opt.step()
        ropt.step()
    np.testing.assert_allclose(h.detach().float().numpy(), rh.detach().float().numpy(), rtol=2e-3, atol=2e-3)


def test_capturable_adam_state_lives_on_the_device(device):
    params, grads = _data([(5,), (9, 2)], seed=8)
    _, opt = _run("Adam", dict(lr=0.01, capturable=True), params, grads, device)
    for p in opt.param_groups[0]["params"]:
        step = opt.state[p]["step"]
        assert step.dtype == torch.float32 and step.ndim == 0 and float(step) == STEPS
        assert step.device == (p.device if device == "wgpu" else torch.device("cpu"))
    # a state dict round trip keeps counting where it was
    sd = opt.state_dict()
    ps2 = [torch.tensor(p, device=device, requires_grad=True) for p in params]
    opt2 = torch.optim.Adam(ps2, lr=0.01, capturable=True)
    opt2.load_state_dict(sd)
    for p in ps2:
        p.grad = torch.ones_like(p)
    opt2.step()
    assert [float(opt2.state[p]["step"]) for p in ps2] == [STEPS + 1.0] * 2


def test_capturable_adam_refuses_float16_on_wgpu(wgpu_device):
    p = torch.zeros(4, device=wgpu_device, dtype=torch.float16, requires_grad=True)
    p.grad = torch.ones_like(p)
    opt = torch.optim.Adam([p], capturable=True)
    with pytest.raises(NotImplementedError, match="capturable=True"):
        opt.step()


def test_the_group_update_is_shaders_optim_multi_wgsl(wgpu_device):
    """The foreach step on wgpu is the multi-tensor kernel of shaders/optim_multi.wgsl: one dispatch
    for the group, from a pipeline of that family."""
    ps = [torch.tensor(np.ones((3, 4), np.float32), device=wgpu_device, requires_grad=True) for _ in range(3)]
    opt = torch.optim.SGD(ps, lr=0.1, momentum=0.9)
    rt = ps[0]._be.rt
    for step in range(2):
        for p in ps:
            p.grad = torch.ones((3, 4), device=wgpu_device)
        torch.wgpu.synchronize()
        before = rt.stats["dispatches"]
        opt.step()
        if step:
            assert rt.stats["dispatches"] - before == 1
    assert any(isinstance(k, tuple) and k[0] == "optim_multi" for k in rt._pipelines)
    np.testing.assert_allclose(ps[0].detach().numpy(), 1 - 0.1 - 0.1 * 1.9, rtol=1e-6)
