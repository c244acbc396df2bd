"""ASGD and Rprop against ``torch.optim`` (the oracle) on the same parameters and gradients, on cpu
and wgpu, eager, with ``capturable`` False and True (their graph capture: test_graph_optim_more):
values and state over several steps (odd, 0-d and empty shapes; float64 on cpu; NaN gradients),
state dicts (PyTorch's format, a round trip, and PyTorch's own dict loaded), argument errors,
defaults, groups and the implementation flags.

Tolerances: cpu matches PyTorch's arithmetic (rtol 1e-6); ASGD on wgpu computes eta and mu on the
device in float32, where PyTorch's eager step uses float64 host math (rtol 1e-5, atol 1e-6)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import wgtorch
from wgtorch import optim

from .helpers import assert_close

SHAPES = [(), (5,), (2, 3), (65,), (0, 3)]
STEPS = 10

CASES = [
    ("ASGD", {}),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=3, weight_decay=0.1)),
    ("ASGD", dict(lr=0.05, t0=5, maximize=True)),
    ("Rprop", {}),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.1))),
    ("Rprop", dict(lr=0.02, maximize=True)),
]


def _tol(device):
    return dict(rtol=1e-6, atol=1e-7) if device == "cpu" else dict(rtol=1e-5, atol=1e-6)


def _data(rng, dtype, steps, shapes):
    init = [rng.uniform(-1, 1, s).astype(dtype) for s in shapes]
    # Rprop reacts to sign changes: draw gradients whose signs both persist and flip
    grads = [[(rng.standard_normal(s) + 0.3).astype(dtype) for s in shapes] for _ in range(steps)]
    return init, grads


def _run_both(name, kwargs, device, dtype=np.float32, steps=STEPS, shapes=SHAPES, ours_kwargs=None):
    init, grads = _data(np.random.default_rng(0), dtype, steps, shapes)
    ours = [wgtorch.tensor(a, device=device, requires_grad=True) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt = getattr(optim, name)(ours, **kwargs, **(ours_kwargs or {}))
    ref = getattr(torch.optim, name)(theirs, **kwargs)
    for step_grads in grads:
        for p, q, g in zip(ours, theirs, step_grads):
            p.grad = wgtorch.tensor(g, device=device)
            q.grad = torch.tensor(g)
        opt.step()
        ref.step()
    return ours, opt, theirs, ref


def _compare_state(opt, ours, ref, theirs, tol, scalar_device):
    for p, q in zip(ours, theirs):
        got, want = opt.state[p], ref.state[q]
        assert list(got) == list(want)
        for key, value in want.items():
            if key in ("step", "eta", "mu"):  # float32 0-d tensors, as PyTorch's
                assert got[key].dtype is wgtorch.float32 and got[key].ndim == 0, key
                assert got[key].device.type == scalar_device(key), key
                np.testing.assert_allclose(got[key].item(), value.item(), rtol=1e-6, err_msg=key)
            else:
                assert got[key].device == p.device, key
                assert_close(got[key], value.detach().numpy(), **tol)


def _scalar_device(name, device, capturable):
    if name == "ASGD":  # PyTorch keeps ASGD's scalars on the parameter's device
        return lambda key: device
    return lambda key: device if capturable and device == "wgpu" else "cpu"


@pytest.mark.parametrize("capturable", [False, True])
@pytest.mark.parametrize("name,kwargs", CASES)
def test_matches_torch(device, name, kwargs, capturable):
    ours, opt, theirs, ref = _run_both(name, kwargs, device, ours_kwargs=dict(capturable=capturable))
    for p, q in zip(ours, theirs):
        assert_close(p, q.detach().numpy(), **_tol(device))
    _compare_state(opt, ours, ref, theirs, _tol(device), _scalar_device(name, device, capturable))


@pytest.mark.parametrize("name,kwargs", CASES)
def test_matches_torch_float64(name, kwargs):
    ours, opt, theirs, ref = _run_both(name, kwargs, "cpu", dtype=np.float64, shapes=[(4,), (2, 3)])
    for p, q in zip(ours, theirs):
        assert p.dtype is wgtorch.float64
        assert_close(p, q.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["ASGD", "Rprop"])
def test_nan_and_inf_gradients_like_torch(device, name):
    grads = [np.array([np.nan, 1.0, -np.inf, 2.0], np.float32), np.array([1.0, np.nan, 1.0, -1.0], np.float32)]
    out = []
    for lib, where in ((wgtorch, {"device": device}), (torch, {})):
        p = lib.tensor(np.array([0.5, -0.5, 1.0, 2.0], np.float32), requires_grad=True, **where)
        opt = getattr(lib.optim, name)([p], lr=0.1)
        for g in grads:
            p.grad = lib.tensor(g, **where)
            opt.step()
        out.append(p.detach().numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(out[0]), np.isnan(out[1]))


@pytest.mark.parametrize("name,kwargs", [("ASGD", dict(lr=0.05, t0=2)), ("Rprop", dict(lr=0.05))])
def test_state_dict_matches_torch_and_round_trips(device, name, kwargs):
    ours, opt, theirs, ref = _run_both(name, kwargs, device, steps=4, shapes=[(3,), (2, 2)])
    sd, want = opt.state_dict(), ref.state_dict()
    assert sd["param_groups"] == [{**g} for g in want["param_groups"]]
    assert sorted(sd["state"]) == sorted(want["state"])
    for i in want["state"]:
        assert list(sd["state"][i]) == list(want["state"][i])
    # A fresh optimizer loaded from our dict continues exactly as the original one; one loaded
    # from PyTorch's dict continues as PyTorch's.
    resumed = [wgtorch.tensor(p.detach().numpy(), device=device, requires_grad=True) for p in ours]
    opt2 = getattr(optim, name)(resumed, lr=123.0)
    opt2.load_state_dict(copy.deepcopy(sd))
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    from_torch = [wgtorch.tensor(q.detach().numpy(), device=device, requires_grad=True) for q in theirs]
    opt3 = getattr(optim, name)(from_torch)
    opt3.load_state_dict({"state": {i: {k: wgtorch.tensor(v.numpy()) for k, v in s.items()}
                                    for i, s in want["state"].items()},
                          "param_groups": copy.deepcopy(want["param_groups"])})
    rng = np.random.default_rng(7)
    for _ in range(5):
        for p, r, f, q in zip(ours, resumed, from_torch, theirs):
            g = rng.standard_normal(tuple(p.shape)).astype(np.float32)
            p.grad, r.grad, f.grad = (wgtorch.tensor(g, device=device) for _ in range(3))
            q.grad = torch.tensor(g)
        for o in (opt, opt2, opt3, ref):
            o.step()
    for p, r, f, q in zip(ours, resumed, from_torch, theirs):
        assert_close(r, p.detach().numpy(), rtol=0, atol=0)
        assert_close(f, q.detach().numpy(), **_tol(device))
        assert_close(p, q.detach().numpy(), **_tol(device))


@pytest.mark.parametrize("name", ["ASGD", "Rprop"])
def test_defaults_match_torch(name):
    ours = getattr(optim, name)([wgtorch.zeros(2, requires_grad=True)])
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
    assert ours.defaults == theirs.defaults
    assert list(ours.param_groups[0]) == list(theirs.param_groups[0])
    group = {k: v for k, v in ours.param_groups[0].items() if k != "params"}
    assert group == {k: v for k, v in theirs.param_groups[0].items() if k != "params"}


ERROR_CASES = [
    ("ASGD", dict(lr=-1)), ("ASGD", dict(weight_decay=-0.5)),
    ("Rprop", dict(lr=-1)), ("Rprop", dict(etas=(1.2, 0.5))), ("Rprop", dict(etas=(0.0, 1.2))),
    ("Rprop", dict(etas=(0.5, 1.0))),
]


@pytest.mark.parametrize("name,kwargs", ERROR_CASES)
def test_argument_errors_match_torch(name, kwargs):
    with pytest.raises(Exception) as want:
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(want.type) as got:
        getattr(optim, name)([wgtorch.zeros(1, requires_grad=True)], **kwargs)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("name", ["ASGD", "Rprop"])
def test_differentiable_step_is_refused_and_foreach_changes_nothing(device, name):
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([wgtorch.zeros(1, requires_grad=True)], differentiable=True)
    shapes = [(4,), (2, 3)]
    plain, _, _, _ = _run_both(name, {}, device, steps=4, shapes=shapes)
    flagged, flagged_opt, theirs, _ = _run_both(name, {"foreach": True}, device, steps=4, shapes=shapes)
    assert flagged_opt.param_groups[0]["foreach"] is True
    for p, q in zip(plain, flagged):
        assert_close(q, p.detach().numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("name,kwargs", [("ASGD", dict(lr=0.05, t0=3)), ("Rprop", dict(lr=0.05))])
def test_groups_and_params_without_grad_like_torch(device, name, kwargs):
    rng = np.random.default_rng(2)
    init = [rng.uniform(-1, 1, (4,)).astype(np.float32) for _ in range(3)]
    grads = [rng.standard_normal((4,)).astype(np.float32) for _ in range(6)]
    out = []
    for lib, where in ((wgtorch, {"device": device}), (torch, {})):
        a, b, frozen = (lib.tensor(v, requires_grad=True, **where) for v in init)
        groups = [{"params": [a, frozen]}, {"params": [b], "lr": 0.02}]
        if name == "ASGD":
            groups[1]["weight_decay"] = 0.2
        opt = getattr(lib.optim, name)(groups, **kwargs)
        for g in grads:
            a.grad, b.grad = lib.tensor(g, **where), lib.tensor(-2 * g, **where)
            opt.step()
        out.append(([t.detach().numpy() for t in (a, b, frozen)], set(opt.state[frozen])))
    (got, got_keys), (want, want_keys) = out
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **_tol(device))
    np.testing.assert_array_equal(got[2], init[2])
    assert got_keys == want_keys == set()
