"""Capturable composite optimizers (Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop) and RMSprop in wgpu graphs: a
training step captured after a warm-up step (or at the first step) and replayed gives, after N
steps in all, the parameters and state of N eager ``capturable=True`` steps (to a float32 ulp or
so: fusion at capture end may contract a multiply-add) and PyTorch's on cpu, both with
``capturable=False`` and ``capturable=True`` (PyTorch's own capturable formulas, run on cpu by
lifting its device check), with an lr scheduler stepped between replays, weight decay and
maximize; two groups with their own changing lr; a whole step under ``wgtorch.compile``. A
``capturable=False`` step refuses a capture, as do Adagrad and LBFGS (PyTorch has no capturable
mode for them); so does moving loaded cpu step counts to the device inside a capture. RMSprop's
capturable capture registers no host hook, and its state (key order, step kind) is PyTorch's.

wgpu only. Tolerances against PyTorch: rtol 1e-5, atol 1e-6 (float32 factors on the device;
PyTorch's non-capturable ones are float64 on the host)."""

from __future__ import annotations

import gc
import importlib

import numpy as np
import pytest
import torch as pt

import wgtorch as torch

pytestmark = pytest.mark.usefixtures("wgpu_device")
N = 8  # steps in all: RAdam's rectified branch starts at step 6 (default betas), so both are replayed

OPTIMS = {
    "adadelta": ("Adadelta", dict(lr=0.5, weight_decay=0.05)),
    "adadelta_maximize": ("Adadelta", dict(lr=0.5, maximize=True)),
    "adamax": ("Adamax", dict(lr=0.02, weight_decay=0.05)),
    "nadam": ("NAdam", dict(lr=0.02, momentum_decay=0.01)),
    "nadam_decoupled": ("NAdam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True)),
    "radam": ("RAdam", dict(lr=0.02)),
    "radam_decoupled_maximize": ("RAdam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True,
                                               maximize=True)),
    "asgd": ("ASGD", dict(lr=0.05, t0=3, lambd=0.01, weight_decay=0.01)),
    "rprop": ("Rprop", dict(lr=0.02)),
    "rprop_maximize": ("Rprop", dict(lr=0.02, etas=(0.4, 1.5), step_sizes=(1e-3, 0.05), maximize=True)),
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_centered": ("RMSprop", dict(lr=0.01, centered=True, alpha=0.9)),
    "rmsprop_momentum": ("RMSprop", dict(lr=0.01, momentum=0.5, weight_decay=0.05)),
    "rmsprop_centered_momentum_maximize": ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.9,
                                                            maximize=True)),
}
_MODULES = {"Adadelta": "adadelta", "Adamax": "adamax", "NAdam": "nadam", "RAdam": "radam", "ASGD": "asgd",
            "Rprop": "rprop", "RMSprop": "rmsprop"}


def _make(lib, key, params, capturable):
    name, kwargs = OPTIMS[key]
    return getattr(lib.optim, name)(params, capturable=capturable, **kwargs)


@pytest.fixture
def torch_capturable_on_cpu(monkeypatch):
    """PyTorch's capturable steps insist on an accelerator; lift that check so its own capturable
    formulas run on cpu as the oracle."""
    for module in _MODULES.values():
        monkeypatch.setattr(importlib.import_module(f"torch.optim.{module}"), "_get_capturable_supported_devices",
                            lambda supports_xla=True: ["cpu"])


def _batches(seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((6, 7)).astype(np.float32), rng.integers(0, 3, 6)) for _ in range(N)]


def _model(lib):
    lib.manual_seed(0)
    model = lib.nn.Sequential(lib.nn.Linear(7, 5), lib.nn.Tanh(), lib.nn.Linear(5, 3))
    return model.to("wgpu") if lib is torch else model


def _step(model, opt, x, y):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def _scheduler(lib, opt):
    return lib.optim.lr_scheduler.StepLR(opt, 2, 0.5)


def _eager(key, batches):
    model = _model(torch)
    opt = _make(torch, key, model.parameters(), True)
    sched = _scheduler(torch, opt)
    losses = []
    for xb, yb in batches:
        losses.append(_step(model, opt, torch.tensor(xb, device="wgpu"), torch.tensor(yb, device="wgpu")).item())
        sched.step()
    return model, opt, losses


def _replayed(key, batches, warm):
    model = _model(torch)
    opt = _make(torch, key, model.parameters(), True)
    sched = _scheduler(torch, opt)
    x, y = torch.tensor(batches[0][0], device="wgpu"), torch.tensor(batches[0][1], device="wgpu")
    losses = []
    g = torch.wgpu.Graph()
    for i, (xb, yb) in enumerate(batches):
        x.copy_(torch.tensor(xb, device="wgpu"))
        y.copy_(torch.tensor(yb, device="wgpu"))
        if i < warm:
            loss = _step(model, opt, x, y)
        elif i == warm:
            with torch.wgpu.graph(g):
                loss = _step(model, opt, x, y)
        else:
            g.replay()
        losses.append(loss.item())
        sched.step()
    return model, opt, losses, g


def _pytorch(key, batches, capturable):
    model = _model(pt)
    with pt.no_grad():
        for a, b in zip(_model(torch).parameters(), model.parameters()):
            b.copy_(pt.from_numpy(a.detach().numpy()))
    opt = _make(pt, key, model.parameters(), capturable)
    sched = _scheduler(pt, opt)
    losses = []
    for xb, yb in batches:
        opt.zero_grad()
        loss = pt.nn.functional.cross_entropy(model(pt.from_numpy(xb)), pt.from_numpy(yb))
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return model, opt, losses


def _state_arrays(opt, params):
    return [{k: np.asarray(v.detach().numpy()) for k, v in opt.state[p].items()} for p in params]


# (optimizer, eager steps before the captured one): 0 captures the step that makes the state
REPLAY_CASES = [(key, 1) for key in OPTIMS] + [
    (key, 0) for key in ("nadam", "radam", "asgd", "rprop", "rmsprop_centered_momentum_maximize")
]


@pytest.mark.parametrize("key, warm", REPLAY_CASES)
def test_replays_equal_eager_steps_and_pytorch(key, warm, torch_capturable_on_cpu):
    batches = _batches()
    ref, ref_opt, ref_losses = _eager(key, batches)
    got, opt, losses, g = _replayed(key, batches, warm)
    assert g.num_dispatches > 0
    if OPTIMS[key][0] == "RMSprop":  # its lr is patched into the kernel and its count is on the device
        assert g._cap.hooks == []
    for a, b in zip(got.parameters(), ref.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-6)
    assert opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"] < OPTIMS[key][1]["lr"]  # the scheduler ran
    got_state = _state_arrays(opt, list(got.parameters()))
    for mine, theirs in zip(got_state, _state_arrays(ref_opt, list(ref.parameters()))):
        assert mine.keys() == theirs.keys()
        for k in theirs:
            np.testing.assert_allclose(mine[k], theirs[k], rtol=1e-6, atol=1e-9, err_msg=k)
    for p in got.parameters():  # the step count is on the device and counted every replay
        step = opt.state[p]["step"]
        assert step.device == p.device and step.dtype is torch.float32 and float(step) == N
    for capturable in (False, True):
        model, theirs, their_losses = _pytorch(key, batches, capturable)
        for a, b in zip(got.parameters(), model.parameters()):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses, their_losses, rtol=1e-5, atol=1e-6)
        for mine, q in zip(got_state, model.parameters()):
            assert mine.keys() == theirs.state[q].keys()
            for k, v in theirs.state[q].items():
                np.testing.assert_allclose(mine[k], v.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    g.reset()


@pytest.mark.parametrize("kwargs", [{}, dict(momentum=0.5), dict(centered=True), dict(centered=True, momentum=0.5)])
@pytest.mark.parametrize("capturable", [False, True])
def test_rmsprop_state_dict_is_pytorchs(kwargs, capturable, torch_capturable_on_cpu):
    """The state's keys in PyTorch's order, and ``step`` a float32 0-d tensor on the parameter's
    device with capturable=True (on cpu without), as PyTorch's."""
    w = torch.tensor(np.ones(3, np.float32), device="wgpu", requires_grad=True)
    v = pt.ones(3, requires_grad=True)
    opt = torch.optim.RMSprop([w], capturable=capturable, **kwargs)
    ref = pt.optim.RMSprop([v], capturable=capturable, **kwargs)
    for o, x in ((opt, w), (ref, v)):
        for _ in range(2):
            o.zero_grad()
            (x * x).sum().backward()
            o.step()
    mine, theirs = opt.state_dict(), ref.state_dict()
    assert list(mine["state"][0]) == list(theirs["state"][0])
    assert list(mine["param_groups"][0]) == list(theirs["param_groups"][0])
    step, their_step = mine["state"][0]["step"], theirs["state"][0]["step"]
    assert step.device.type == ("wgpu" if capturable else "cpu")
    assert their_step.device.type == "cpu"  # PyTorch's param device: cpu in both cases
    assert step.dtype is torch.float32 and their_step.dtype is pt.float32
    assert step.shape == () and their_step.shape == ()
    assert float(step) == float(their_step) == 2.0
    for k, val in theirs["state"][0].items():
        np.testing.assert_allclose(mine["state"][0][k].detach().numpy(), val.numpy(), rtol=1e-6, err_msg=k)


def test_a_new_lr_is_used_by_the_next_replay():
    w = torch.tensor(np.ones(4, np.float32), device="wgpu", requires_grad=True)
    v = pt.ones(4, requires_grad=True)
    opt = torch.optim.Adamax([w], lr=0.5, capturable=True)
    ref = pt.optim.Adamax([v], lr=0.5)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    ref.zero_grad()
    (v * v).sum().backward()
    ref.step()
    for lr in (0.0, 0.25, 0.125):
        opt.param_groups[0]["lr"] = ref.param_groups[0]["lr"] = lr
        g.replay()
        ref.zero_grad()
        (v * v).sum().backward()
        ref.step()
        np.testing.assert_allclose(w.detach().numpy(), v.detach().numpy(), rtol=1e-6)
    assert float(opt.state[w]["step"]) == 4


CAPTURABLE = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]


@pytest.mark.parametrize(
    "make, match",
    [(lambda p, n=n: getattr(torch.optim, n)(p), rf"{n}\(capturable=False\).*capturable=True") for n in CAPTURABLE]
    + [(lambda p: torch.optim.Adagrad(p), r"Adagrad.step\(\).*no capturable mode, as in PyTorch")],
)
def test_steps_that_cannot_replay_refuse_a_capture(make, match):
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


def test_lbfgs_refuses_a_capture():
    w = torch.tensor(np.ones(3, np.float32), device="wgpu", requires_grad=True)
    opt = torch.optim.LBFGS([w])

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    g = torch.wgpu.Graph()
    with pytest.raises(RuntimeError, match=r"LBFGS.step\(\).*no capturable mode, as in PyTorch"):
        with torch.wgpu.graph(g):
            opt.step(closure)
    gc.collect()
    opt.step(closure)
    assert float(w.detach().abs().max()) < 1e-3


@pytest.mark.parametrize("name", CAPTURABLE)
def test_capture_of_the_first_step_after_load_state_dict_is_refused(name):
    """Loaded step counts are cpu tensors: moving them to the device is an upload, refused in a
    capture with advice; one eager step first makes the capture work."""
    w = torch.tensor(np.ones(4, np.float32), device="wgpu", requires_grad=True)
    src = getattr(torch.optim, name)([w], capturable=True)
    w.grad = torch.ones_like(w)
    src.step()
    opt = getattr(torch.optim, name)([w], capturable=True)
    opt.load_state_dict(src.state_dict())
    g = torch.wgpu.Graph()
    with pytest.raises(RuntimeError, match="run one step before capturing"):
        with torch.wgpu.graph(g):
            opt.step()
    gc.collect()
    opt.step()
    with torch.wgpu.graph(g):
        opt.step()
    g.replay()
    assert float(opt.state[w]["step"]) == 4


@pytest.mark.parametrize("key", ["radam", "asgd", "rmsprop_centered_momentum_maximize"])
def test_a_compiled_training_step_replays_like_eager(key):
    """``wgtorch.compile`` of a whole step (forward, backward, capturable step): its second call is
    captured and later calls replay, with the scheduler's lr, as the eager steps run."""
    batches = _batches()
    ref, ref_opt, ref_losses = _eager(key, batches)
    model = _model(torch)
    opt = _make(torch, key, model.parameters(), True)
    sched = _scheduler(torch, opt)
    step = torch.compile(lambda x, y: _step(model, opt, x, y))
    losses = []
    for xb, yb in batches:
        losses.append(step(torch.tensor(xb, device="wgpu"), torch.tensor(yb, device="wgpu")).item())
        sched.step()
    entries = list(getattr(step, "_compiled", step)._cache.values())
    assert [e.graph is not None for e in entries] == [True]  # captured, not fallen back to eager
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-6)
    for a, b in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-9)
    assert float(opt.state[next(model.parameters())]["step"]) == N


@pytest.mark.parametrize("name", CAPTURABLE)
def test_two_groups_with_their_own_changing_lr_replay_like_pytorch(name):
    a, b = (torch.tensor(np.ones(n, np.float32), device="wgpu", requires_grad=True) for n in (3, 2))
    a2, b2 = pt.ones(3, requires_grad=True), pt.ones(2, requires_grad=True)
    opt = getattr(torch.optim, name)([{"params": [a]}, {"params": [b], "lr": 0.03}], lr=0.01, capturable=True)
    ref = getattr(pt.optim, name)([{"params": [a2]}, {"params": [b2], "lr": 0.03}], lr=0.01)

    def body(x, y, o):
        o.zero_grad()
        ((x * x).sum() + (y * y * y).sum()).backward()
        o.step()

    body(a, b, opt)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        body(a, b, opt)
    body(a2, b2, ref)
    body(a2, b2, ref)
    for _ in range(3):
        for o in (opt, ref):
            o.param_groups[0]["lr"] *= 0.7
            o.param_groups[1]["lr"] *= 1.1
        g.replay()
        body(a2, b2, ref)
    for x, y in ((a, a2), (b, b2)):
        np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["Adam", "NAdam", "Adagrad"])
def test_a_compiled_step_of_an_uncapturable_optimizer_runs_eagerly_with_one_warning(name):
    """``wgtorch.compile``'s capture is lenient: the refused step drops it (one warning naming the
    optimizer), and every call runs eagerly, as the plain steps do."""
    batches = _batches()[:4]
    models = [_model(torch), _model(torch)]
    opts = [getattr(torch.optim, name)(m.parameters(), lr=0.02) for m in models]
    step = torch.compile(lambda x, y: _step(models[0], opts[0], x, y))
    with pytest.warns(UserWarning, match=rf"wgtorch.compile: running .* eagerly: {name}\b.*step\(\)") as caught:
        for xb, yb in batches:
            x, y = torch.tensor(xb, device="wgpu"), torch.tensor(yb, device="wgpu")
            assert step(x, y).item() == _step(models[1], opts[1], x, y).item()
    assert len([w for w in caught if "wgtorch.compile" in str(w.message)]) == 1
    for a, b in zip(*(m.parameters() for m in models)):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
