"""Training steps captured in a wgpu graph and replayed: N replays give the parameters of N eager
steps (SGD, SGD momentum captured at step 1 or after a warm-up, Adam/AdamW capturable, RMSprop),
with dropout and an lr scheduler between replays, for both zero_grad variants; random draws per
replay; optimizers that cannot replay refuse a capture.

wgpu only (graphs record the wgpu runtime). Tolerances: replay against eager is bit for bit (the
same kernels run on the same data); against PyTorch (no dropout) rtol 1e-5, atol 1e-6."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch as pt

import wgtorch as torch

pytestmark = pytest.mark.usefixtures("wgpu_device")
N = 6  # steps in all: warm-up + captured step + replays

OPTIMS = {
    "sgd": lambda lib, p: lib.optim.SGD(p, lr=0.1),
    "sgd_momentum": lambda lib, p: lib.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd_nesterov_single": lambda lib, p: lib.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, foreach=False),
    "adam": lambda lib, p: lib.optim.Adam(p, lr=0.01, **_cap(lib)),
    "adam_amsgrad_single": lambda lib, p: lib.optim.Adam(p, lr=0.01, amsgrad=True, foreach=False, **_cap(lib)),
    "adamw": lambda lib, p: lib.optim.AdamW(p, lr=0.01, weight_decay=0.1, **_cap(lib)),
    "rmsprop": lambda lib, p: lib.optim.RMSprop(p, lr=0.01, momentum=0.5),
}
SCHEDULERS = {
    "step": lambda lib, opt: lib.optim.lr_scheduler.StepLR(opt, 2, 0.5),
    "cosine": lambda lib, opt: lib.optim.lr_scheduler.CosineAnnealingLR(opt, 4),
}


def _cap(lib):
    return {"capturable": True} if lib is torch else {}  # PyTorch's capturable needs CUDA


def _batches(n=N, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((8, 20)).astype(np.float32), rng.integers(0, 5, 8)) for _ in range(n)]


def _model(lib, dropout: bool):
    lib.manual_seed(0)
    layers = (
        [lib.nn.Linear(20, 16), lib.nn.ReLU()] + ([lib.nn.Dropout(0.3)] if dropout else []) + [lib.nn.Linear(16, 5)]
    )
    model = lib.nn.Sequential(*layers)
    return model.to("wgpu") if lib is torch else model


def _copy_weights(src, dst):
    with pt.no_grad():
        for a, b in zip(src.parameters(), dst.parameters()):
            b.copy_(pt.from_numpy(a.detach().numpy()))


def _step(model, opt, x, y, set_to_none):
    opt.zero_grad(set_to_none=set_to_none)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def _eager(optim, sched, dropout, set_to_none, batches):
    model = _model(torch, dropout)
    opt = OPTIMS[optim](torch, model.parameters())
    sch = SCHEDULERS[sched](torch, opt)
    for xb, yb in batches:
        _step(model, opt, torch.tensor(xb, device="wgpu"), torch.tensor(yb, device="wgpu"), set_to_none)
        sch.step()
    return model, opt


def _replayed(optim, sched, dropout, set_to_none, batches, warm):
    model = _model(torch, dropout)
    opt = OPTIMS[optim](torch, model.parameters())
    sch = SCHEDULERS[sched](torch, opt)
    x, y = torch.tensor(batches[0][0], device="wgpu"), torch.tensor(batches[0][1], device="wgpu")
    for xb, yb in batches[:warm]:
        x.copy_(torch.tensor(xb, device="wgpu"))
        y.copy_(torch.tensor(yb, device="wgpu"))
        _step(model, opt, x, y, set_to_none)
        sch.step()
    g = torch.wgpu.Graph()
    x.copy_(torch.tensor(batches[warm][0], device="wgpu"))
    y.copy_(torch.tensor(batches[warm][1], device="wgpu"))
    with torch.wgpu.graph(g):
        loss = _step(model, opt, x, y, set_to_none)
    sch.step()
    losses = [loss.item()]
    for xb, yb in batches[warm + 1 :]:
        x.copy_(torch.tensor(xb, device="wgpu"))
        y.copy_(torch.tensor(yb, device="wgpu"))
        g.replay()
        sch.step()
        losses.append(loss.item())
    return model, opt, g, losses


# (optimizer, scheduler, zero_grad(set_to_none=...), warm-up steps before the captured one)
REPLAY_CASES = [
    ("sgd", "step", True, 1),
    ("sgd_momentum", "step", True, 1),
    ("sgd_momentum", "cosine", False, 0),  # captured at the first step: momentum buffers made in it
    ("sgd_nesterov_single", "cosine", False, 0),
    ("adam", "step", True, 1),
    ("adam", "cosine", False, 0),
    ("adam_amsgrad_single", "step", True, 0),
    ("adamw", "cosine", False, 1),
    ("rmsprop", "step", False, 0),
]


@pytest.mark.parametrize("optim, sched, set_to_none, warm", REPLAY_CASES)
def test_replays_equal_eager_steps_with_dropout_and_a_scheduler(optim, sched, set_to_none, warm):
    batches = _batches()
    ref, ref_opt = _eager(optim, sched, True, set_to_none, batches)
    eager_counter = torch.default_generator._counter  # (both runs start from manual_seed(0))
    got, opt, g, _ = _replayed(optim, sched, True, set_to_none, batches, warm)
    for a, b in zip(got.parameters(), ref.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"] != 0.1
    for p, q in zip(got.parameters(), ref.parameters()):
        for key, value in ref_opt.state[q].items():
            np.testing.assert_array_equal(np.asarray(opt.state[p][key].numpy()), np.asarray(value.numpy()), key)
    assert torch.default_generator._counter == eager_counter  # the replays moved the generator as eager did
    g.reset()


@pytest.mark.parametrize("optim", ["sgd_momentum", "adam", "adamw"])
def test_replays_match_pytorch_without_dropout(optim):
    batches = _batches()
    got, _, _, losses = _replayed(optim, "cosine", False, True, batches, warm=0)
    model = _model(pt, False)
    _copy_weights(_model(torch, False), model)
    opt = OPTIMS[optim](pt, model.parameters())
    sch = SCHEDULERS["cosine"](pt, opt)
    ref_losses = []
    for xb, yb in batches:
        opt.zero_grad()
        loss = pt.nn.functional.cross_entropy(model(pt.from_numpy(xb)), pt.from_numpy(yb))
        loss.backward()
        opt.step()
        sch.step()
        ref_losses.append(loss.item())
    for a, b in zip(got.parameters(), model.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5, atol=1e-6)


def test_a_new_lr_is_used_by_the_next_replay():
    w = torch.tensor(np.ones(5, np.float32), device="wgpu", requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.5)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        opt.zero_grad()
        (w * 2).sum().backward()
        opt.step()
    assert w.tolist() == [0.0] * 5  # 1 - 0.5 * 2
    opt.param_groups[0]["lr"] = 0.0
    g.replay()
    assert w.tolist() == [0.0] * 5
    opt.param_groups[0]["lr"] = 0.25
    g.replay()
    g.replay()
    assert w.tolist() == [-1.0] * 5


def test_each_replay_draws_the_next_numbers_of_the_generator():
    x = torch.ones(300, device="wgpu")
    gen = torch.Generator("wgpu").manual_seed(7)
    eager = [torch.rand(300, device="wgpu", generator=gen).numpy() for _ in range(4)]
    eager_drop = []
    torch.manual_seed(11)
    for _ in range(4):
        eager_drop.append(torch.nn.functional.dropout(x, 0.5).numpy())
    gen.manual_seed(7)
    torch.manual_seed(11)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        u = torch.rand(300, device="wgpu", generator=gen)
        d = torch.nn.functional.dropout(x, 0.5)
    got, got_drop = [u.numpy().copy()], [d.numpy().copy()]
    for _ in range(3):
        g.replay()
        got.append(u.numpy().copy())
        got_drop.append(d.numpy().copy())
    for a, b in zip(got + got_drop, eager + eager_drop):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(got_drop[0], got_drop[1])
    assert gen._counter == 4 * 300
    # eager draws between replays and a reseed are followed, as eager steps would see them
    torch.rand(5, device="wgpu", generator=gen)
    gen.manual_seed(3)
    g.replay()
    gen.manual_seed(3)
    np.testing.assert_array_equal(u.numpy(), torch.rand(300, device="wgpu", generator=gen).numpy())


def test_a_random_dispatch_without_its_generator_is_refused():
    from wgtorch._dtype import float32

    x = torch.ones(4, device="wgpu")
    be = x._be
    g = torch.wgpu.Graph()
    with pytest.raises(RuntimeError, match="random op.*without its generator.*not allowed while capturing"):
        with torch.wgpu.graph(g):
            be.random("uniform", (4,), float32, 1, 0, 0.0, 1.0)
    assert (x + 1).sum().item() == 8.0


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: torch.optim.Adam(p), r"Adam\(capturable=False\).*capturable=True"),
        (lambda p: torch.optim.AdamW(p), r"AdamW\(capturable=False\).*capturable=True"),
        (lambda p: torch.optim.Adagrad(p), r"Adagrad.step\(\).*not allowed while capturing"),
        (lambda p: torch.optim.NAdam(p), r"NAdam\(capturable=False\).*capturable=True"),
    ],
)
def test_optimizers_that_cannot_replay_refuse_a_capture(make, match):
    w = torch.tensor(np.ones(5, np.float32), device="wgpu", requires_grad=True)
    opt = make([w])
    w.grad = torch.ones_like(w)
    opt.step()  # warm-up
    g = torch.wgpu.Graph()
    with pytest.raises(RuntimeError, match=match):
        with torch.wgpu.graph(g):
            (w * 2).sum().backward()
            opt.step()
    gc.collect()
    opt.step()  # the device and the optimizer keep working eagerly
    assert np.isfinite(w.detach().numpy()).all()


def test_capturable_state_counts_replays():
    w = torch.tensor(np.ones(5, np.float32), device="wgpu", requires_grad=True)
    adam = torch.optim.Adam([w], lr=0.01, capturable=True)
    v = torch.tensor(np.ones(3, np.float32), device="wgpu", requires_grad=True)
    rms = torch.optim.RMSprop([v], lr=0.01)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        adam.zero_grad()
        rms.zero_grad()
        ((w * w).sum() + (v * 3).sum()).backward()
        adam.step()
        rms.step()
    for _ in range(4):
        g.replay()
    assert float(adam.state[w]["step"]) == 5.0
    assert float(rms.state[v]["step"]) == 5.0
    assert adam.state[w]["step"].device == w.device


def test_the_foreach_step_is_one_dispatch_in_the_graph():
    model = _model(torch, False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.zeros(8, 20, device="wgpu"), torch.zeros(8, dtype=torch.int64, device="wgpu")
    _step(model, opt, x, y, True)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        opt.step()
    assert g.num_dispatches == 1  # all four parameters of the group in one kernel
