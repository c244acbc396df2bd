"""Learning-rate schedulers: their lr sequences against closed-form formulas, momentum cycling,
state dicts, errors, and the lr reaching the update on cpu and wgpu."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import wgtorch
from wgtorch import optim
from wgtorch.optim import lr_scheduler as S

from .helpers import assert_close


def _lrs(scheduler, n):
    out = [scheduler.get_last_lr()[0]]
    for _ in range(n):
        scheduler.optimizer.step()
        scheduler.step()
        out.append(scheduler.get_last_lr()[0])
    return out


def _sgd(lr=0.1, **kw):
    return optim.SGD([wgtorch.tensor([1.0], requires_grad=True)], lr=lr, **kw)


def test_step_lr():
    got = _lrs(S.StepLR(_sgd(), step_size=3, gamma=0.5), 10)
    np.testing.assert_allclose(got, [0.1 * 0.5 ** (e // 3) for e in range(11)], rtol=1e-12)


def test_multistep_and_exponential_lr():
    got = _lrs(S.MultiStepLR(_sgd(), milestones=[2, 5, 5], gamma=0.1), 7)
    np.testing.assert_allclose(got, [0.1, 0.1, 0.01, 0.01, 0.01, 1e-4, 1e-4, 1e-4], rtol=1e-12)
    got = _lrs(S.ExponentialLR(_sgd(), gamma=0.9), 6)
    np.testing.assert_allclose(got, [0.1 * 0.9 ** e for e in range(7)], rtol=1e-12)


@pytest.mark.parametrize("eta_min", [0.0, 0.01])
def test_cosine_annealing_lr(eta_min):
    t_max = 10
    got = _lrs(S.CosineAnnealingLR(_sgd(), T_max=t_max, eta_min=eta_min), 3 * t_max)
    want = [eta_min + (0.1 - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2 for e in range(3 * t_max + 1)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_lambda_lr_per_group():
    a, b = (wgtorch.tensor([1.0], requires_grad=True) for _ in range(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    sched = S.LambdaLR(opt, [lambda e: 0.5 ** e, lambda e: 1 / (1 + e)])
    for e in range(1, 6):
        opt.step()
        sched.step()
        np.testing.assert_allclose(sched.get_last_lr(), [0.1 * 0.5 ** e, 1.0 / (1 + e)], rtol=1e-12)
        assert [g["lr"] for g in opt.param_groups] == sched.get_last_lr()


def _one_cycle_reference(t, total, max_lr, pct, div, final_div, strategy="cos"):
    initial = max_lr / div
    end1 = pct * total - 1

    def anneal(a, b, x):
        return b + (a - b) / 2 * (math.cos(math.pi * x) + 1) if strategy == "cos" else a + (b - a) * x

    if t <= end1:
        return anneal(initial, max_lr, t / end1)
    return anneal(max_lr, initial / final_div, (t - end1) / (total - 1 - end1))


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_one_cycle_lr(strategy):
    total = 20
    opt = _sgd(momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=total, pct_start=0.25, anneal_strategy=strategy)
    got = _lrs(sched, total - 1)
    want = [_one_cycle_reference(t, total, 1.0, 0.25, 25.0, 1e4, strategy) for t in range(total)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)
    assert got[0] == pytest.approx(1.0 / 25) and max(got) == pytest.approx(1.0)
    assert got[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)  # back to max_momentum at the end
    with pytest.raises(ValueError, match="Tried to step 21 times"):
        sched.step()
        sched.step()


def test_one_cycle_cycles_adam_beta1_and_three_phase():
    opt = optim.Adam([wgtorch.tensor([1.0], requires_grad=True)], lr=0.1)
    sched = S.OneCycleLR(opt, max_lr=0.5, epochs=2, steps_per_epoch=5, three_phase=True)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    lrs = _lrs(sched, 9)
    assert lrs[0] == pytest.approx(0.02) and lrs[2] == pytest.approx(0.5)  # peak at 0.3 * 10 - 1
    assert lrs[4] == pytest.approx(0.02)  # back to initial at 2 * 0.3 * 10 - 2
    assert lrs[-1] == pytest.approx(0.02 / 1e4)
    assert opt.param_groups[0]["betas"][0] == pytest.approx(0.95)
    with pytest.raises(ValueError, match="total_steps OR"):
        S.OneCycleLR(opt, max_lr=0.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(opt, max_lr=0.5, total_steps=5, anneal_strategy="exp")
    with pytest.raises(ValueError, match="momentum or beta1"):
        S.OneCycleLR(optim.Optimizer([wgtorch.tensor([1.0], requires_grad=True)], {"lr": 0.1}), 0.5, 5)


def test_scheduler_state_dict_round_trip():
    opt = _sgd()
    sched = S.CosineAnnealingLR(opt, T_max=8)
    for _ in range(3):
        opt.step()
        sched.step()
    saved = copy.deepcopy(sched.state_dict())
    assert "optimizer" not in saved and saved["last_epoch"] == 3
    opt2 = _sgd(lr=opt.param_groups[0]["lr"])
    opt2.param_groups[0]["initial_lr"] = 0.1
    sched2 = S.CosineAnnealingLR(opt2, T_max=8, last_epoch=2)
    sched2.load_state_dict(saved)
    assert _lrs(sched2, 4) == _lrs(sched, 4)
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(_sgd(), 3, last_epoch=5)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), 3)


def test_scheduler_drives_the_update(device):
    p = wgtorch.tensor([0.0], device=device, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = wgtorch.tensor([1.0], device=device)
        opt.step()
        sched.step()
    assert_close(p, [-(1 + 0.5 + 0.25)])
