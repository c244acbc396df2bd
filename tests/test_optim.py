"""Optimizers against hand-written float64 NumPy updates, step by step, on cpu and wgpu, and
their bookkeeping (groups, zero_grad, state dicts). Schedulers: test_lr_scheduler.py."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import wgtorch
from wgtorch import optim
from wgtorch.optim import lr_scheduler as S

from .helpers import assert_close

# Shapes in one optimizer: 0-d, just below/at/above the workgroup size (64), odd 2-D, empty.
SHAPES = [(), (63,), (64,), (65,), (3, 7), (0, 3)]
STEPS = 5


# -- float64 references, written from the papers' / PyTorch docs' formulas -----------------------
def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    buf = None
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p, {"momentum_buffer": buf} if momentum else {}


def ref_adam(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
             decoupled=False):
    b1, b2 = betas
    m = v = vmax = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        v_hat = vmax if amsgrad else v
        p = p - lr / (1 - b1 ** t) * m / (np.sqrt(v_hat) / math.sqrt(1 - b2 ** t) + eps)
    state = {"exp_avg": m, "exp_avg_sq": v}
    if amsgrad:
        state["max_exp_avg_sq"] = vmax
    return p, state


def ref_rmsprop(p, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                maximize=False):
    sq = gavg = buf = np.zeros_like(p)
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            gavg = alpha * gavg + (1 - alpha) * g
            avg = np.sqrt(sq - gavg * gavg) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    state = {"square_avg": sq}
    if momentum > 0:
        state["momentum_buffer"] = buf
    if centered:
        state["grad_avg"] = gavg
    return p, state


REFS = {"SGD": ref_sgd, "Adam": ref_adam, "AdamW": lambda *a, **k: ref_adam(*a, decoupled=True, **k),
        "RMSprop": ref_rmsprop}


def _run(name, device, kwargs, shapes=SHAPES, steps=STEPS, seed=0, dtype=np.float32, min_grad=0.0):
    """Run ``steps`` steps of optimizer ``name`` on params of ``shapes`` and return (params,
    optimizer, host copies of the initial params and of every step's gradients, whose
    magnitudes lie in [min_grad, 1])."""
    rng = np.random.default_rng(seed)
    init = [rng.uniform(-1, 1, s).astype(dtype) for s in shapes]
    grads = [[(rng.choice([-1, 1], s) * rng.uniform(min_grad, 1, s)).astype(dtype) for s in shapes]
             for _ in range(steps)]
    params = [wgtorch.tensor(a, device=device, requires_grad=True) for a in init]
    opt = getattr(optim, name)(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = wgtorch.tensor(g, device=device)
        opt.step()
    return params, opt, init, grads


def _check_against_reference(name, device, kwargs, ref_kwargs=None, rtol=1e-5, atol=1e-6):
    params, opt, init, grads = _run(name, device, kwargs)
    lr = kwargs["lr"]
    for k, p in enumerate(params):
        want, state = REFS[name](init[k].astype(np.float64), [g[k].astype(np.float64) for g in grads], lr,
                                 **(ref_kwargs if ref_kwargs is not None else {x: v for x, v in kwargs.items()
                                                                               if x != "lr"}))
        assert_close(p, want, rtol=rtol, atol=atol)
        got_state = opt.state[p]
        for key, value in state.items():
            assert got_state[key].device == p.device, key
            assert_close(got_state[key], value, rtol=rtol, atol=atol)
        if name != "SGD":
            assert got_state["step"].device.type == "cpu" and got_state["step"].item() == STEPS


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.1, maximize=True),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    dict(lr=0.05, momentum=0.5, nesterov=True, maximize=True),
]
ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
    dict(lr=0.02, betas=(0.3, 0.9), eps=1e-3),  # 1 - beta1 >= 0.5: lerp's other branch
]
RMSPROP_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, centered=True),
    dict(lr=0.01, momentum=0.9),
    dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1, maximize=True),
    dict(lr=0.01, weight_decay=0.1, alpha=0.4),  # 1 - alpha >= 0.5
]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=str)
def test_sgd_matches_reference(device, kwargs):
    _check_against_reference("SGD", device, kwargs)


@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=str)
def test_adam_matches_reference(device, kwargs):
    _check_against_reference("Adam", device, kwargs)


@pytest.mark.parametrize("kwargs", [dict(lr=0.01), dict(lr=0.01, weight_decay=0.0),
                                    dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)], ids=str)
def test_adamw_matches_reference(device, kwargs):
    ref_kwargs = {"weight_decay": 1e-2, **{k: v for k, v in kwargs.items() if k != "lr"}}
    _check_against_reference("AdamW", device, kwargs, ref_kwargs)


def test_adam_decoupled_flag_is_adamw(device):
    a, _, _, _ = _run("Adam", device, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True))
    b, _, _, _ = _run("AdamW", device, dict(lr=0.01, weight_decay=0.1))
    for x, y in zip(a, b):
        assert_close(x, y.detach().numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("kwargs", RMSPROP_CASES, ids=str)
def test_rmsprop_matches_reference(device, kwargs):
    _check_against_reference("RMSprop", device, kwargs)


# float16 keeps 3 digits: eps=1e-3 (1e-8 is 0 in float16) and gradients away from 0, whose
# squares would underflow (PyTorch's float16 Adam has the same limits).
@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                         ("Adam", dict(lr=0.01, eps=1e-3)),
                                         ("RMSprop", dict(lr=0.01, centered=True, eps=1e-3))])
def test_float16_params(device, name, kwargs):
    params, opt, init, grads = _run(name, device, kwargs, shapes=[(5,), (8,), (65,)], dtype=np.float16,
                                    min_grad=0.25)
    for k, p in enumerate(params):
        want, _ = REFS[name](init[k].astype(np.float64), [g[k].astype(np.float64) for g in grads],
                             **kwargs)
        assert p.dtype is wgtorch.float16
        assert all(v.dtype is wgtorch.float16 for k, v in opt.state[p].items() if k != "step")
        assert_close(p, want, rtol=2e-2, atol=2e-2)


def test_strided_param_and_grad(device):
    # A transposed leaf parameter and an expanded (stride-0) gradient, as `sum` backward makes.
    base = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    p = wgtorch.tensor(base, device=device).t().requires_grad_()
    assert not p.is_contiguous()
    g_row = np.array([0.5, -1.0, 2.0], np.float32)
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    for _ in range(3):
        p.grad = wgtorch.tensor(g_row, device=device).expand(4, 3)
        assert not p.grad.is_contiguous()
        opt.step()
    g_full = np.broadcast_to(g_row, (4, 3)).astype(np.float64)
    want, _ = ref_adam(base.T.astype(np.float64), [g_full] * 3, 0.1, amsgrad=True)
    assert_close(p, want)


def test_params_that_are_views_write_only_their_elements(device):
    # A contiguous slice at an odd offset (no vec4 path) and a slice with a step (updated through
    # a dense copy): the update lands in the viewed elements and nowhere else.
    a = np.arange(13, dtype=np.float32)
    b = np.arange(12, dtype=np.float32)
    base_a, base_b = wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)
    pa, pb = base_a[1:13].requires_grad_(), base_b[::2].requires_grad_()
    assert pa.is_contiguous() and not pb.is_contiguous()
    opt = optim.SGD([pa, pb], lr=0.5, momentum=0.9)
    for _ in range(2):
        pa.grad = wgtorch.ones(12, device=device)
        pb.grad = wgtorch.ones(6, device=device)
        opt.step()
    want_a, want_b = a.copy(), b.copy()
    want_a[1:] -= 0.5 * (1 + 1.9)  # buffers 1 then 1.9
    want_b[::2] -= 0.5 * (1 + 1.9)
    assert_close(base_a, want_a)
    assert_close(base_b, want_b)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                         ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True))])
def test_nan_and_inf_propagate_like_reference(device, name, kwargs):
    init = np.array([0.5, -0.5, 1.0, 2.0, np.inf], np.float32)
    grads = [np.array([np.nan, np.inf, -np.inf, 1.0, 1.0], np.float32), np.array([1, 1, 1, 1, 1], np.float32)]
    p = wgtorch.tensor(init, device=device, requires_grad=True)
    opt = getattr(optim, name)([p], **kwargs)
    for g in grads:
        p.grad = wgtorch.tensor(g, device=device)
        opt.step()
    with np.errstate(all="ignore"):
        want, _ = REFS[name](init.astype(np.float64), [g.astype(np.float64) for g in grads], **kwargs)
    assert_close(p, want, equal_nan=True)


def test_more_than_65535_workgroups(wgpu_device):
    n = 65_536 * 64 + 3  # past one dimension of 64-wide workgroups: the grid folds into 2-D
    rng = np.random.default_rng(1)
    a, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    p = wgtorch.tensor(a, device=wgpu_device, requires_grad=True)
    p.grad = wgtorch.tensor(g, device=wgpu_device)
    optim.SGD([p], lr=0.5, weight_decay=0.1).step()
    got = p.detach().numpy()
    want = a - np.float32(0.5) * (g + np.float32(0.1) * a)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert got[-1] == pytest.approx(want[-1], rel=1e-6)


def test_params_without_grad_are_skipped(device):
    a = wgtorch.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = wgtorch.tensor([3.0, 4.0], device=device, requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = wgtorch.tensor([1.0, 1.0], device=device)
    opt.step()
    assert_close(b, [3.0, 4.0])
    assert b not in opt.state and a in opt.state
    assert_close(a, [0.9, 1.9])


def test_mixed_devices_in_one_optimizer(wgpu_device):
    a = wgtorch.tensor([1.0, 2.0], requires_grad=True)
    b = wgtorch.tensor([1.0, 2.0], device=wgpu_device, requires_grad=True)
    opt = optim.SGD([a, b], lr=0.5, momentum=0.9)
    for _ in range(2):
        a.grad = wgtorch.tensor([1.0, -1.0])
        b.grad = wgtorch.tensor([1.0, -1.0], device=wgpu_device)
        opt.step()
    assert_close(a, [-0.45, 3.45])
    assert_close(b, [-0.45, 3.45])
    assert opt.state[b]["momentum_buffer"].device == b.device


def test_gradient_on_another_device_or_shape_is_refused(wgpu_device):
    p = wgtorch.tensor([1.0, 2.0], requires_grad=True)
    p.grad = wgtorch.tensor([1.0, 1.0], device=wgpu_device)
    with pytest.raises(RuntimeError, match="gradient on wgpu"):
        optim.SGD([p], lr=0.1).step()
    p.grad = wgtorch.tensor([1.0, 1.0, 1.0])
    with pytest.raises(RuntimeError, match=r"shape \(2,\) has a gradient of shape \(3,\)"):
        optim.SGD([p], lr=0.1).step()


def test_no_device_wait_and_no_recompile_per_step(wgpu_device):
    from wgtorch._device import get_backend

    runtime = get_backend(wgpu_device).rt
    params = [wgtorch.randn(16, 8, device=wgpu_device, requires_grad=True) for _ in range(3)]
    grads = [wgtorch.randn(16, 8, device=wgpu_device) for _ in range(3)]
    opt = optim.Adam(params, lr=0.01, amsgrad=True)
    sched = S.LambdaLR(opt, lambda e: 1 / (e + 1))
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()  # compiles the kernel
    runtime.flush()
    before = dict(runtime.stats)
    for _ in range(10):
        opt.step()
        sched.step()  # a new lr every step: a kernel scalar, not a new kernel
    after = runtime.stats
    assert after["submits"] == before["submits"], "a step waited for or flushed to the device"
    assert after["pipeline_misses"] == before["pipeline_misses"]
    assert after["dispatches"] - before["dispatches"] == 10  # one multi-tensor (foreach) dispatch per step


# -- bookkeeping -----------------------------------------------------------------------------------
def test_zero_grad(device):
    p = wgtorch.tensor([1.0, 2.0], device=device, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = wgtorch.tensor([3.0, 4.0], device=device)
    opt.zero_grad(set_to_none=False)
    assert_close(p.grad, [0.0, 0.0])
    assert not p.grad.requires_grad
    opt.zero_grad()
    assert p.grad is None


def test_param_groups_use_their_own_hyper_parameters(device):
    a = wgtorch.tensor([1.0], device=device, requires_grad=True)
    b = wgtorch.tensor([1.0], device=device, requires_grad=True)
    c = wgtorch.tensor([1.0], device=device, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.0)
    opt.add_param_group({"params": [c], "lr": 1.0, "weight_decay": 1.0})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5, 1.0]
    assert opt.param_groups[2]["momentum"] == 0.0
    for t in (a, b, c):
        t.grad = wgtorch.tensor([1.0], device=device)
    opt.step()
    assert_close(a, [0.9])
    assert_close(b, [0.5])
    assert_close(c, [-1.0])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_constructor_errors():
    p = wgtorch.tensor([1.0], requires_grad=True)
    cases = [
        (lambda: optim.SGD([p], lr=-1), ValueError, "Invalid learning rate: -1"),
        (lambda: optim.SGD([p], momentum=-0.5), ValueError, "Invalid momentum value: -0.5"),
        (lambda: optim.SGD([p], weight_decay=-1), ValueError, "Invalid weight_decay value: -1"),
        (lambda: optim.SGD([p], nesterov=True), ValueError, "Nesterov momentum requires a momentum"),
        (lambda: optim.SGD([p], momentum=0.9, dampening=0.1, nesterov=True), ValueError, "zero dampening"),
        (lambda: optim.Adam([p], betas=(1.0, 0.9)), ValueError, "Invalid beta parameter at index 0: 1.0"),
        (lambda: optim.Adam([p], betas=(0.9, -0.1)), ValueError, "Invalid beta parameter at index 1"),
        (lambda: optim.Adam([p], eps=-1e-8), ValueError, "Invalid epsilon value"),
        (lambda: optim.RMSprop([p], alpha=-0.1), ValueError, "Invalid alpha value: -0.1"),
        (lambda: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda: optim.SGD(p, lr=0.1), TypeError, "iterable of Tensors or dicts"),
        (lambda: optim.SGD([p, 3.0], lr=0.1), TypeError, "can only optimize Tensors"),
        (lambda: optim.SGD([p * 2], lr=0.1), ValueError, "non-leaf"),
        (lambda: optim.SGD([wgtorch.tensor([1, 2])], lr=0.1), TypeError, "floating-point"),
        (lambda: optim.SGD([{"params": {p}}], lr=0.1), TypeError, "ordered collections"),
        (lambda: optim.Optimizer([p], {"lr": optim.optimizer.required}), ValueError, "required optimization"),
    ]
    for make, exc, message in cases:
        with pytest.raises(exc, match=message):
            make()


def test_closure_and_repr():
    p = wgtorch.tensor([2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        calls.append(1)
        return loss

    loss = opt.step(closure)
    assert calls == [1] and loss.item() == 4.0
    assert_close(p, [1.0])
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.25\n" in text and text.endswith(")")


def test_state_dict_format_matches_pytorch():
    a = wgtorch.tensor([1.0, 2.0], requires_grad=True)
    b = wgtorch.tensor([3.0], requires_grad=True)
    c = wgtorch.tensor([4.0], requires_grad=True)
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, amsgrad=True)
    for t in (a, c):
        t.grad = wgtorch.ones_like(t)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 2]  # b had no gradient: no state
    assert list(sd["state"][0]) == ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    assert sd["state"][0]["step"].item() == 1.0 and sd["state"][0]["step"].dtype is wgtorch.float32
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    group = sd["param_groups"][1]
    assert group["lr"] == 0.5 and group["betas"] == (0.9, 0.999) and group["amsgrad"] is True
    for key in ("eps", "weight_decay", "maximize", "foreach", "capturable", "differentiable", "fused"):
        assert key in group
    assert list(group)[-1] == "params"


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("AdamW", dict(lr=0.01)),
                                         ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True))])
def test_state_dict_round_trip_continues_identically(device, name, kwargs):
    rng = np.random.default_rng(3)
    init = rng.standard_normal((4, 5)).astype(np.float32)
    grads = [rng.standard_normal((4, 5)).astype(np.float32) for _ in range(6)]
    p1 = wgtorch.tensor(init, device=device, requires_grad=True)
    opt1 = getattr(optim, name)([p1], **kwargs)
    for g in grads[:3]:
        p1.grad = wgtorch.tensor(g, device=device)
        opt1.step()
    saved = copy.deepcopy(opt1.state_dict())
    # A fresh optimizer on a copy of the parameter (on the cpu: state moves to the param's device).
    p2 = wgtorch.tensor(p1.detach().numpy(), device=device, requires_grad=True)
    opt2 = getattr(optim, name)([p2], lr=123.0)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    for value in opt2.state[p2].values():
        assert value.device == (p2.device if value.ndim else wgtorch.device("cpu"))
    for g in grads[3:]:
        for p, opt in ((p1, opt1), (p2, opt2)):
            p.grad = wgtorch.tensor(g, device=device)
            opt.step()
    assert_close(p2, p1.detach().numpy(), rtol=0, atol=0)


def test_load_state_dict_moves_state_to_param_device(wgpu_device):
    p_cpu = wgtorch.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([p_cpu], lr=0.1)
    p_cpu.grad = wgtorch.tensor([1.0, 1.0])
    opt.step()
    p_gpu = wgtorch.tensor([1.0, 2.0], device=wgpu_device, requires_grad=True)
    opt2 = optim.Adam([p_gpu], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    state = opt2.state[p_gpu]
    assert state["exp_avg"].device == p_gpu.device and state["step"].device.type == "cpu"
    assert state["exp_avg"] is not opt.state[p_cpu]["exp_avg"]
    assert_close(state["exp_avg"], [0.1, 0.1])


def test_load_state_dict_mismatch_errors():
    a = wgtorch.tensor([1.0], requires_grad=True)
    b = wgtorch.tensor([1.0], requires_grad=True)
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
