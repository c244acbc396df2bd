"""Learning-rate schedulers: their lr sequences against closed-form formulas and against
``torch.optim.lr_scheduler`` (the oracle), momentum cycling, state dicts, errors, and the lr
reaching the update on cpu and wgpu."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch

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


# -- the schedulers added with issue 14, against torch.optim.lr_scheduler (the oracle) -----------
TORCH_ONLY_KEYS = {"_is_initial", "_get_lr_called_within_step"}  # PyTorch's internal step flags


def _two_groups(lib, name="SGD"):
    a, b = lib.zeros(1, requires_grad=True), lib.zeros(1, requires_grad=True)
    kwargs = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1)
    return getattr(lib.optim, name)([{"params": [a]}, {"params": [b], "lr": 0.5}], **kwargs)


def _first_momentum(group):
    return group["betas"][0] if "betas" in group else group["momentum"]


def _trace(lib, opt_name, build, steps=25, metrics=None):
    """(lr and momentum of each group after construction and after each step, scheduler)."""
    opt = _two_groups(lib, opt_name)
    sched = build(lib.optim.lr_scheduler, opt)
    rows = []
    for i in range(steps + 1):
        if i:
            opt.step()
            sched.step(metrics[i - 1]) if metrics is not None else sched.step()
        assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
        rows.append([g["lr"] for g in opt.param_groups] + [_first_momentum(g) for g in opt.param_groups])
    return np.array(rows), sched


def _plain(state):
    """A scheduler state dict without PyTorch's internal flags, members included."""
    out = {k: v for k, v in state.items() if k not in TORCH_ONLY_KEYS}
    if "_schedulers" in out:
        out["_schedulers"] = [_plain(s) for s in out["_schedulers"]]
    return out


NEW_SCHEDULERS = {
    "multiplicative": ("SGD", lambda S, o: S.MultiplicativeLR(o, lambda e: 0.95)),
    "multiplicative_per_group": ("SGD", lambda S, o: S.MultiplicativeLR(o, [lambda e: 0.9, lambda e: 1 - e / 50])),
    "constant": ("SGD", lambda S, o: S.ConstantLR(o, factor=0.5, total_iters=4)),
    "constant_default": ("SGD", lambda S, o: S.ConstantLR(o)),
    "linear": ("SGD", lambda S, o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=7)),
    "linear_default": ("SGD", lambda S, o: S.LinearLR(o)),
    "polynomial": ("SGD", lambda S, o: S.PolynomialLR(o, total_iters=10, power=2.0)),
    "polynomial_default": ("SGD", lambda S, o: S.PolynomialLR(o)),
    "warm_restarts": ("SGD", lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01)),
    "warm_restarts_fixed": ("SGD", lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=4)),
    "cyclic_triangular": ("SGD", lambda S, o: S.CyclicLR(o, [0.01, 0.02], [0.1, 0.3], step_size_up=3,
                                                         step_size_down=5)),
    "cyclic_triangular2_adam": ("Adam", lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=2, mode="triangular2",
                                                                base_momentum=0.85, max_momentum=0.95)),
    "cyclic_exp_range": ("SGD", lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=4, mode="exp_range", gamma=0.9,
                                                        cycle_momentum=False)),
    "cyclic_scale_fn": ("SGD", lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=4, scale_fn=lambda x: 0.5 ** x,
                                                       scale_mode="iterations")),
    "chained": ("SGD", lambda S, o: S.ChainedScheduler([S.ConstantLR(o, factor=0.5, total_iters=3),
                                                         S.ExponentialLR(o, 0.9)])),
    "sequential": ("SGD", lambda S, o: S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=4), S.CosineAnnealingLR(o, 8),
                                                          S.ExponentialLR(o, 0.8)], milestones=[5, 12])),
    "sequential_lambda": ("SGD", lambda S, o: S.SequentialLR(o, [S.ConstantLR(o, 0.2, total_iters=10),
                                                                 S.LambdaLR(o, lambda e: 1 / (e + 1))], [3])),
}


@pytest.mark.parametrize("case", sorted(NEW_SCHEDULERS))
def test_new_schedulers_match_torch(case):
    opt_name, build = NEW_SCHEDULERS[case]
    got, sched = _trace(wgtorch, opt_name, build)
    want, ref = _trace(torch, opt_name, build)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-16)
    assert _plain(sched.state_dict()) == _plain(ref.state_dict())


PLATEAU_METRICS = [1, 0.9, 0.95, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.81, 0.8, 0.8, 0.8,
                   0.8, 0.79, 0.8, 0.8, 0.8, 0.8, 0.8]


@pytest.mark.parametrize("kwargs", [dict(), dict(patience=2), dict(patience=2, threshold=0.05),
                                    dict(mode="max", patience=1, cooldown=2, factor=0.5, threshold_mode="abs",
                                         threshold=0.01),
                                    dict(mode="min", patience=0, threshold_mode="abs", threshold=0.02, factor=0.5),
                                    dict(patience=0, min_lr=[0.05, 0.3], factor=0.5),
                                    dict(patience=0, min_lr=0.02, factor=0.5, eps=0.01)])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    def build(S, o):
        return S.ReduceLROnPlateau(o, **kwargs)

    metrics = PLATEAU_METRICS if kwargs.get("mode") != "max" else [-m for m in PLATEAU_METRICS]
    got, sched = _trace(wgtorch, "SGD", build, metrics=metrics)
    want, ref = _trace(torch, "SGD", build, metrics=metrics)
    np.testing.assert_array_equal(got, want)
    assert sched.state_dict() == ref.state_dict()
    assert isinstance(sched, S.LRScheduler)


def test_reduce_lr_on_plateau_metric_as_tensor_and_group_count_change():
    opt = _sgd()
    sched = S.ReduceLROnPlateau(opt, patience=0, min_lr=[0.01])
    sched.step(wgtorch.tensor(1.0))
    sched.step(wgtorch.tensor(2.0))
    assert sched.get_last_lr() == [pytest.approx(0.01)]
    opt.add_param_group({"params": [wgtorch.tensor([1.0], requires_grad=True)]})
    with pytest.raises(RuntimeError, match="differs from when `ReduceLROnPlateau` was initialized"):
        sched.step(3.0)
        sched.step(4.0)


class _Halving:
    """A callable object: its state goes into scheduler state dicts (plain functions don't)."""

    def __init__(self):
        self.rate = 0.5

    def __call__(self, x):
        return self.rate ** x


@pytest.mark.parametrize("case", sorted(NEW_SCHEDULERS) + ["plateau", "cyclic_callable", "lambda_callable"])
def test_new_schedulers_state_dict_round_trip(case):
    """Save after 6 steps, load into a fresh scheduler, and both continue alike."""
    if case == "plateau":
        opt_name, build = "SGD", lambda S, o: S.ReduceLROnPlateau(o, patience=1, cooldown=1)
    elif case == "cyclic_callable":
        opt_name, build = "SGD", lambda S, o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3, scale_fn=_Halving())
    elif case == "lambda_callable":
        opt_name, build = "SGD", lambda S, o: S.MultiplicativeLR(o, _Halving())
    else:
        opt_name, build = NEW_SCHEDULERS[case]
    metrics = iter(PLATEAU_METRICS)

    def advance(opt, sched, n):
        out = []
        for _ in range(n):
            opt.step()
            sched.step(next(metrics)) if case == "plateau" else sched.step()
            out.append(sched.get_last_lr() + [_first_momentum(g) for g in opt.param_groups])
        return out

    opt = _two_groups(wgtorch, opt_name)
    sched = build(S, opt)
    advance(opt, sched, 6)
    saved = copy.deepcopy(sched.state_dict())
    saved_groups = copy.deepcopy([{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups])
    if case.endswith("callable"):
        saved_fn_state = saved.get("_scale_fn_custom") or saved["lr_lambdas"][0]
        assert saved_fn_state == {"rate": 0.5}  # a callable object saves a copy of its __dict__
    opt2 = _two_groups(wgtorch, opt_name)
    sched2 = build(S, opt2)
    for group, values in zip(opt2.param_groups, saved_groups):
        group.update(values)  # an optimizer state dict would bring these back
    sched2.load_state_dict(saved)
    metrics_left = list(metrics)
    metrics = iter(metrics_left)
    first = advance(opt, sched, 10)
    metrics = iter(metrics_left)
    assert advance(opt2, sched2, 10) == first


def test_warm_restarts_fractional_epochs_match_torch():
    epochs = [0.5, 1.25, 2.0, 3.0, 3.5, 8.9, 9.0, 10.0, 21.0, 2.5, 30.75]
    got, want = [], []
    for lib, out in ((wgtorch, got), (torch, want)):
        opt = _two_groups(lib)
        sched = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
        for epoch in epochs:
            opt.step()
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # fractional epochs are this scheduler's API: no deprecation
                sched.step(epoch)
            out.append(sched.get_last_lr() + [sched.T_cur, sched.T_i, sched.last_epoch])
    np.testing.assert_allclose(got, want, rtol=1e-13)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        sched = S.CosineAnnealingWarmRestarts(_sgd(), T_0=3)
        sched.step(-1)


def test_sequential_restarts_members_without_warnings():
    opt = _sgd()
    sched = S.SequentialLR(opt, [S.ConstantLR(opt, 0.5, total_iters=2), S.ExponentialLR(opt, 0.9)], [3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _lrs(sched, 6)
    np.testing.assert_allclose(got, [0.05, 0.05, 0.1, 0.1, 0.09, 0.081, 0.0729], rtol=1e-12)


def test_sequential_takes_back_the_initial_step_of_chained_members():
    """A ChainedScheduler inside SequentialLR starts from epoch 0 too. (PyTorch 2.13 leaves the
    chain's members one epoch ahead here, as its undo looks for an attribute the chain no longer
    has; wgtorch does what that code intends.)"""
    opt = _sgd()
    chain = S.ChainedScheduler([S.ExponentialLR(opt, 0.9), S.StepLR(opt, 3, 0.5)])
    sched = S.SequentialLR(opt, [chain, S.ConstantLR(opt, 0.1, total_iters=2)], [7])
    want = [0.1 * 0.9 ** e * 0.5 ** (e // 3) for e in range(7)] + [0.01, 0.01, 0.1]
    np.testing.assert_allclose(_lrs(sched, 9), want, rtol=1e-12)


def _torch_and_ours(make):
    with pytest.raises(Exception) as want:
        make(torch)
    with pytest.raises(want.type) as got:
        make(wgtorch)
    assert str(got.value) == str(want.value)


SCHEDULER_ERRORS = {
    "constant_factor": lambda L, o: L.optim.lr_scheduler.ConstantLR(o, factor=1.5),
    "linear_start": lambda L, o: L.optim.lr_scheduler.LinearLR(o, start_factor=0),
    "linear_end": lambda L, o: L.optim.lr_scheduler.LinearLR(o, end_factor=1.5),
    "restarts_T_0": lambda L, o: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 0),
    "restarts_T_0_float": lambda L, o: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 2.0),
    "restarts_T_mult": lambda L, o: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 2, T_mult=0),
    "restarts_eta_min": lambda L, o: L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 2, eta_min="a"),
    "plateau_factor": lambda L, o: L.optim.lr_scheduler.ReduceLROnPlateau(o, factor=1.0),
    "plateau_mode": lambda L, o: L.optim.lr_scheduler.ReduceLROnPlateau(o, mode="lowest"),
    "plateau_threshold_mode": lambda L, o: L.optim.lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"),
    "plateau_min_lrs": lambda L, o: L.optim.lr_scheduler.ReduceLROnPlateau(o, min_lr=[0, 1]),
    "cyclic_mode": lambda L, o: L.optim.lr_scheduler.CyclicLR(o, 0.1, 1, mode="square"),
    "cyclic_lengths": lambda L, o: L.optim.lr_scheduler.CyclicLR(o, [0.1, 0.2], 1),
    "cyclic_momentum": lambda L, o: L.optim.lr_scheduler.CyclicLR(
        L.optim.Adagrad([L.zeros(1, requires_grad=True)]), 0.1, 1),
    "multiplicative_lengths": lambda L, o: L.optim.lr_scheduler.MultiplicativeLR(o, [lambda e: 1, lambda e: 2]),
    "chained_empty": lambda L, o: L.optim.lr_scheduler.ChainedScheduler([]),
    "chained_plateau": lambda L, o: L.optim.lr_scheduler.ChainedScheduler([L.optim.lr_scheduler.ReduceLROnPlateau(o)]),
    "sequential_empty": lambda L, o: L.optim.lr_scheduler.SequentialLR(o, [], []),
    "sequential_milestones": lambda L, o: L.optim.lr_scheduler.SequentialLR(
        o, [L.optim.lr_scheduler.ConstantLR(o)], [1]),
}


@pytest.mark.parametrize("case", sorted(SCHEDULER_ERRORS))
def test_scheduler_errors_match_torch(case):
    _torch_and_ours(lambda L: SCHEDULER_ERRORS[case](L, L.optim.SGD([L.zeros(1, requires_grad=True)], lr=0.1,
                                                                         momentum=0.9)))


def test_schedulers_of_another_optimizer_are_refused():
    opt, other = _sgd(), _sgd()
    for make in (lambda s: S.ChainedScheduler([S.ConstantLR(opt), s]), lambda s: S.SequentialLR(opt, [s], [])):
        with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
            make(S.ExponentialLR(other, 0.9))


def test_cyclic_lr_drives_the_update(device):
    p = wgtorch.tensor([0.0], device=device, requires_grad=True)
    opt = optim.SGD([p], lr=1.0, momentum=0.0)
    sched = S.CyclicLR(opt, base_lr=0.1, max_lr=0.5, step_size_up=2, cycle_momentum=False)
    total = 0.0
    for _ in range(5):
        total += opt.param_groups[0]["lr"]
        p.grad = wgtorch.tensor([1.0], device=device)
        opt.step()
        sched.step()
    assert total == pytest.approx(0.1 + 0.3 + 0.5 + 0.3 + 0.1)
    assert_close(p, [-total])
