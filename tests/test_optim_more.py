"""Adadelta, Adagrad, Adamax, NAdam, RAdam and LBFGS against ``torch.optim`` (the oracle) on the
same parameters and gradients, on cpu and wgpu; their state dicts, argument errors and the
``foreach``/``fused``/``differentiable`` flags of every optimizer, as PyTorch's."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import wgtorch
from wgtorch import optim

from .helpers import assert_close

SHAPES = [(), (5,), (2, 3), (65,), (0, 3)]  # 65: past one 64-wide workgroup; (0, 3): empty
STEPS = 12  # RAdam switches to its rectified update at step 6

CASES = [
    ("Adadelta", {}),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.5, weight_decay=0.1, maximize=True)),
    ("Adagrad", {}),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2)),
    ("Adagrad", dict(lr=0.1, eps=1e-6, maximize=True)),
    ("Adamax", {}),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-4, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, maximize=True)),
    ("NAdam", {}),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.95), maximize=True)),
    ("RAdam", {}),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-4, maximize=True)),
]


def _data(rng, dtype, steps=STEPS, shapes=SHAPES):
    init = [rng.uniform(-1, 1, s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return init, grads


def _run_both(name, kwargs, device, dtype=np.float32, steps=STEPS, shapes=SHAPES):
    """The same steps with wgtorch's and torch's optimizer: (wgtorch params, optimizer, torch
    params, optimizer)."""
    init, grads = _data(np.random.default_rng(0), dtype, steps, shapes)
    ours = [wgtorch.tensor(a, device=device, requires_grad=True) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt, ref = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    for step_grads in grads:
        for p, q, g in zip(ours, theirs, step_grads):
            p.grad = wgtorch.tensor(g, device=device)
            q.grad = torch.tensor(g)
        opt.step()
        ref.step()
    return ours, opt, theirs, ref


def _compare_state(opt, ours, ref, theirs, rtol, atol):
    for p, q in zip(ours, theirs):
        got, want = opt.state[p], ref.state[q]
        assert set(got) == set(want)
        for key, value in want.items():
            if key in ("step", "mu_product"):  # float32 cpu scalars, as PyTorch's
                assert got[key].device.type == "cpu" and got[key].dtype is wgtorch.float32, key
                np.testing.assert_allclose(got[key].item(), value.item(), rtol=1e-7)
            else:
                assert got[key].device == p.device, key
                assert_close(got[key], value.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,kwargs", CASES)
def test_matches_torch(device, name, kwargs):
    ours, opt, theirs, ref = _run_both(name, kwargs, device)
    for p, q in zip(ours, theirs):
        assert_close(p, q.detach().numpy(), rtol=1e-6, atol=1e-7)
    _compare_state(opt, ours, ref, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,kwargs", CASES)
def test_matches_torch_float64(name, kwargs):
    ours, opt, theirs, ref = _run_both(name, kwargs, "cpu", dtype=np.float64, shapes=[(4,), (2, 3)])
    for p, q in zip(ours, theirs):
        assert p.dtype is wgtorch.float64
        assert_close(p, q.detach().numpy(), rtol=1e-12, atol=1e-14)
    _compare_state(opt, ours, ref, theirs, rtol=1e-12, atol=1e-14)


ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adadelta", "Adagrad", "Adamax", "NAdam", "RAdam", "LBFGS"]


@pytest.mark.parametrize("name", ALL)
def test_param_group_defaults_match_torch(name):
    ours = getattr(optim, name)([wgtorch.zeros(2, requires_grad=True)])
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
    assert ours.defaults == theirs.defaults
    assert ours.param_groups[0].keys() == theirs.param_groups[0].keys()
    group = {k: v for k, v in ours.param_groups[0].items() if k != "params"}
    assert group == {k: v for k, v in theirs.param_groups[0].items() if k != "params"}


@pytest.mark.parametrize("name,kwargs", [("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5)),
                                         ("NAdam", dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1)),
                                         ("RAdam", dict(lr=0.01)), ("Adadelta", {}), ("Adamax", {})])
def test_state_dict_matches_torch_and_round_trips(device, name, kwargs):
    ours, opt, theirs, ref = _run_both(name, kwargs, device, steps=4, shapes=[(3,), (2, 2)])
    sd, want = opt.state_dict(), ref.state_dict()
    assert sd["param_groups"] == [{**g} for g in want["param_groups"]]
    assert sorted(sd["state"]) == sorted(want["state"])
    for i in want["state"]:
        assert set(sd["state"][i]) == set(want["state"][i])
    # A fresh optimizer loaded from the dict continues exactly as the original one.
    saved = copy.deepcopy(sd)
    copies = [wgtorch.tensor(p.detach().numpy(), device=device, requires_grad=True) for p in ours]
    resumed = getattr(optim, name)(copies, **kwargs)
    resumed.load_state_dict(saved)
    rng = np.random.default_rng(7)
    for _ in range(6):
        for p, c in zip(ours, copies):
            g = rng.standard_normal(tuple(p.shape)).astype(np.float32)
            p.grad, c.grad = wgtorch.tensor(g, device=device), wgtorch.tensor(g, device=device)
        opt.step()
        resumed.step()
    for p, c in zip(ours, copies):
        assert_close(c, p.detach().numpy(), rtol=0, atol=0)


def test_adagrad_state_is_made_with_the_optimizer():
    p = wgtorch.zeros(3, requires_grad=True)
    opt = optim.Adagrad([p], initial_accumulator_value=0.25)
    assert opt.state[p]["step"].item() == 0 and opt.state[p]["step"].dtype is wgtorch.float32
    assert_close(opt.state[p]["sum"], [0.25] * 3)


ERROR_CASES = [
    ("Adadelta", dict(lr=-1)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(rho=-0.1)),
    ("Adadelta", dict(eps=-1)), ("Adadelta", dict(weight_decay=-1)),
    ("Adagrad", dict(lr=-0.1)), ("Adagrad", dict(lr_decay=-1)), ("Adagrad", dict(weight_decay=-1)),
    ("Adagrad", dict(initial_accumulator_value=-1)), ("Adagrad", dict(eps=-1)),
    ("Adagrad", dict(fused=True, foreach=True)),
    ("Adamax", dict(lr=-1)), ("Adamax", dict(eps=-1)), ("Adamax", dict(betas=(1.0, 0.9))),
    ("Adamax", dict(betas=(0.9, 1.0))), ("Adamax", dict(weight_decay=-1)),
    ("NAdam", dict(lr=-1)), ("NAdam", dict(eps=-1)), ("NAdam", dict(betas=(-0.1, 0.9))),
    ("NAdam", dict(betas=(0.9, 1.5))), ("NAdam", dict(weight_decay=-1)), ("NAdam", dict(momentum_decay=-1)),
    ("RAdam", dict(lr=-1)), ("RAdam", dict(eps=-1)), ("RAdam", dict(betas=(1.0, 0.9))),
    ("RAdam", dict(betas=(0.9, -1))), ("RAdam", dict(weight_decay=-1)),
    ("LBFGS", dict(lr=-1)),
    ("SGD", dict(lr=0.1, fused=True, foreach=True)), ("SGD", dict(lr=0.1, fused=True, differentiable=True)),
    ("Adam", dict(fused=True, foreach=True)), ("Adam", dict(fused=True, differentiable=True)),
    ("AdamW", dict(fused=True, foreach=True)),
]


@pytest.mark.parametrize("name,kwargs", ERROR_CASES)
def test_argument_errors_match_torch(name, kwargs):
    with pytest.raises(Exception) as want:
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(want.type) as got:
        getattr(optim, name)([wgtorch.zeros(1, requires_grad=True)], **kwargs)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam", "Adagrad", "SGD", "Adam"])
def test_differentiable_step_is_refused(name):
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([wgtorch.zeros(1, requires_grad=True)], differentiable=True)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                         ("AdamW", dict(lr=0.01)), ("Adagrad", dict(lr=0.1))])
@pytest.mark.parametrize("flag", ["fused", "foreach"])
def test_fused_and_foreach_are_stored_and_change_nothing(device, name, kwargs, flag):
    shapes = [(4,), (2, 3)]
    plain, plain_opt, _, _ = _run_both(name, kwargs, device, steps=4, shapes=shapes)
    flagged, flagged_opt, theirs, ref = _run_both(name, {**kwargs, flag: True}, device, steps=4, shapes=shapes)
    assert flagged_opt.param_groups[0][flag] is True and plain_opt.param_groups[0][flag] is None
    for p, q, r in zip(plain, flagged, theirs):
        assert_close(q, p.detach().numpy(), rtol=0, atol=0)
        assert_close(q, r.detach().numpy(), rtol=1e-6, atol=1e-7)


# -- LBFGS ---------------------------------------------------------------------------------------
def _rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _lbfgs_iterates(lib, x0, device=None, calls=4, **kwargs):
    """Every parameter after each ``step(closure)`` call, the losses step returned, and the final
    state, for a Rosenbrock loss on two parameters (one of them with no gradient)."""
    where = {} if device is None else {"device": device}
    x = lib.tensor(x0, requires_grad=True, **where)
    unused = lib.tensor(x0[:2].copy(), requires_grad=True, **where)  # its gradient stays None
    opt = lib.optim.LBFGS([x, unused], **kwargs)

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(x)
        loss.backward()
        return loss

    iterates, losses = [], []
    for _ in range(calls):
        losses.append(opt.step(closure).item())
        iterates.append(x.detach().numpy().copy())
    return iterates, losses, opt.state[x], opt


LBFGS_CASES = [dict(), dict(line_search_fn="strong_wolfe"),
               dict(lr=0.1, history_size=3, max_iter=7),
               dict(lr=0.1, history_size=3, max_iter=7, line_search_fn="strong_wolfe"),
               dict(lr=0.5, max_iter=5, max_eval=6, tolerance_change=1e-6)]


@pytest.mark.parametrize("kwargs", LBFGS_CASES)
def test_lbfgs_matches_torch_float64(kwargs):
    x0 = np.array([-1.2, 1.0, -0.5, 0.8])
    got, got_losses, state, opt = _lbfgs_iterates(wgtorch, x0, **kwargs)
    want, want_losses, want_state, ref = _lbfgs_iterates(torch, x0, **kwargs)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5)
    assert state["func_evals"] == want_state["func_evals"] and state["n_iter"] == want_state["n_iter"]
    assert set(state) == set(want_state)
    assert len(state["old_dirs"]) == len(want_state["old_dirs"])
    assert_close(state["d"], want_state["d"].numpy(), rtol=1e-4, atol=1e-7)
    sd, want_sd = opt.state_dict(), ref.state_dict()
    assert sd["param_groups"] == want_sd["param_groups"] and list(sd["state"]) == list(want_sd["state"]) == [0]


def test_lbfgs_converges_to_the_rosenbrock_minimum():
    _, _, _, opt = _lbfgs_iterates(wgtorch, np.array([-1.2, 1.0, -0.5, 0.8]), calls=6,
                                   line_search_fn="strong_wolfe")
    assert_close(opt.param_groups[0]["params"][0], np.ones(4), rtol=0, atol=1e-5)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_matches_torch_float32(device, line_search_fn):
    x0 = np.array([-1.2, 1.0, -0.5, 0.8], dtype=np.float32)
    kwargs = dict(lr=0.1, history_size=3, max_iter=7, line_search_fn=line_search_fn)
    got, _, state, _ = _lbfgs_iterates(wgtorch, x0, device=device, calls=2, **kwargs)
    want, _, want_state, _ = _lbfgs_iterates(torch, x0, calls=2, **kwargs)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert state["func_evals"] == want_state["func_evals"]
    assert state["d"].device.type == device


def test_lbfgs_stops_at_once_when_already_optimal():
    x = wgtorch.ones(3, dtype=wgtorch.float64, requires_grad=True)
    opt = optim.LBFGS([x])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = _rosenbrock(x)
        loss.backward()
        return loss

    assert opt.step(closure).item() == 0.0 and calls == [1] and opt.state[x]["n_iter"] == 0


def test_lbfgs_errors():
    a, b = wgtorch.ones(2, requires_grad=True), wgtorch.ones(1, requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    opt = optim.LBFGS([a], line_search_fn="wolfe")

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)
    with pytest.raises(TypeError):
        opt.step()


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_fits_a_tiny_model_like_torch(line_search_fn):
    """A 3-4-1 tanh network (weights copied into both libraries) fitted by LBFGS, float64."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    results = []
    for lib in (wgtorch, torch):
        lib.manual_seed(0)
        model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 1)).double()
        with lib.no_grad():
            for k, p in enumerate(model.parameters()):
                p.copy_(lib.tensor(np.random.default_rng(k).uniform(-0.5, 0.5, tuple(p.shape))))
        opt = lib.optim.LBFGS(model.parameters(), lr=0.5, max_iter=10, history_size=5,
                              line_search_fn=line_search_fn)
        inputs, targets = lib.tensor(x), lib.tensor(y)

        def closure(model=model, opt=opt, inputs=inputs, targets=targets, lib=lib):
            opt.zero_grad()
            loss = lib.nn.functional.mse_loss(model(inputs), targets)
            loss.backward()
            return loss

        losses = [opt.step(closure).item() for _ in range(3)]
        results.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
    (got_losses, got), (want_losses, want) = results
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-6)
    assert got_losses[-1] < got_losses[0]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,kwargs", [("Adadelta", dict(lr=0.5)), ("Adagrad", dict(lr=0.1)),
                                         ("Adamax", dict(lr=0.01)), ("NAdam", dict(lr=0.01)),
                                         ("RAdam", dict(lr=0.01, weight_decay=0.1))])
def test_groups_and_params_without_grad_like_torch(device, name, kwargs):
    """Two groups with their own lr and weight_decay; a parameter that never gets a gradient keeps
    its value (and gets no state, except Adagrad's, made with the optimizer)."""
    rng = np.random.default_rng(2)
    init = [rng.uniform(-1, 1, (4,)).astype(np.float32) for _ in range(3)]
    grads = [rng.standard_normal((4,)).astype(np.float32) for _ in range(8)]
    out = []
    for lib, where in ((wgtorch, {"device": device}), (torch, {})):
        a, b, frozen = (lib.tensor(v, requires_grad=True, **where) for v in init)
        opt = getattr(lib.optim, name)([{"params": [a, frozen]}, {"params": [b], "lr": 0.05, "weight_decay": 0.2}],
                                       **kwargs)
        for g in grads:
            a.grad, b.grad = lib.tensor(g, **where), lib.tensor(-2 * g, **where)
            opt.step()
        out.append(([t.detach().numpy() for t in (a, b, frozen)], set(opt.state[frozen])))
    (got, got_keys), (want, want_keys) = out
    for g, w in zip(got, want):
        assert_close(wgtorch.tensor(g), w, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got[2], init[2])
    assert got_keys == want_keys
