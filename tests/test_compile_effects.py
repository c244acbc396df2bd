"""Python side effects inside a `wgtorch.compile`d function: an lr scheduler's ``step()`` in a
captured call is repeated by every replay (after the replay when it followed the optimizer's
step in the function, before it otherwise), so N calls give N eager calls' parameters and
learning rates; other Python state the function changes (a global, a closure's list, a module
attribute) makes the compile run that key eagerly from the capture call on, with one warning
naming what changed, so N calls leave the state N eager calls leave; a function without side
effects still replays. A manual ``wgtorch.wgpu.graph`` capture keeps PyTorch's rule (no
scheduler hook).

wgpu only (the compile captures on wgpu). Replays against eager: atol 1e-6 (the same kernels,
with fusion at capture end)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import wgtorch as torch

pytestmark = pytest.mark.usefixtures("wgpu_device")
N = 6  # calls: warm-up, capture, four replays

OPTIMS = {
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "adam_capturable": lambda p: torch.optim.Adam(p, lr=0.02, capturable=True),
    "radam_capturable": lambda p: torch.optim.RAdam(p, lr=0.02, capturable=True),  # its lr: a device tensor
}
SCHEDULERS = {
    "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, 2, 0.5),
    "cosine": lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, 4),
    "lambda": lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0 / (1 + epoch)),
}


def _batches(n=N):
    rng = np.random.default_rng(1)
    return [
        (
            torch.tensor(rng.standard_normal((6, 7)).astype(np.float32), device="wgpu"),
            torch.tensor(rng.integers(0, 3, 6), device="wgpu"),
        )
        for _ in range(n)
    ]


def _setup(optim, sched):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).to("wgpu")
    opt = OPTIMS[optim](model.parameters())
    return model, opt, SCHEDULERS[sched](opt)


def _step_fn(model, opt, sch, scheduler_first):
    def step(x, y):
        if scheduler_first:
            sch.step()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if not scheduler_first:
            sch.step()
        return loss

    return step


def _entry(compiled):
    entries = list(getattr(compiled, "_compiled", compiled)._cache.values())
    assert len(entries) == 1
    return entries[0]


def _compile_warnings(caught):
    return [str(w.message) for w in caught if "wgtorch.compile" in str(w.message)]


CASES = [(o, s, first) for o in ("sgd_momentum", "adam_capturable") for s in ("step", "cosine") for first in (0, 1)]
CASES += [("radam_capturable", "lambda", first) for first in (0, 1)]


@pytest.mark.parametrize("optim, sched, scheduler_first", CASES)
def test_a_scheduler_stepped_in_the_call_is_stepped_by_every_replay(optim, sched, scheduler_first):
    batches = _batches()
    model, opt, sch = _setup(optim, sched)
    eager_model, eager_opt, eager_sch = _setup(optim, sched)
    step = torch.compile(_step_fn(model, opt, sch, scheduler_first))
    eager = _step_fn(eager_model, eager_opt, eager_sch, scheduler_first)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: the scheduler is not a side effect to refuse
        for x, y in batches:
            np.testing.assert_allclose(step(x, y).item(), eager(x, y).item(), rtol=1e-6, atol=1e-6)
            assert sch.get_last_lr() == eager_sch.get_last_lr()
            lrs.append(sch.get_last_lr()[0])
    entry = _entry(step)
    assert entry.graph is not None and entry.replays == N - 2  # captured once, replayed after
    assert len(set(lrs)) > 2  # the lr changed from call to call, replays included
    assert sch.last_epoch == eager_sch.last_epoch == N and sch._step_count == eager_sch._step_count
    for a, b in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-6)
    hooks = entry.graph._cap.hooks  # the scheduler's: after the replay, or before it
    assert sum(h[1 - scheduler_first] is not None for h in hooks) >= 1
    entry.graph.reset()


def test_a_chained_scheduler_is_stepped_once_per_replay():
    """Its members' steps belong to its step: one hook, not three."""
    batches = _batches()
    model, opt, _ = _setup("sgd_momentum", "step")
    eager_model, eager_opt, _ = _setup("sgd_momentum", "step")
    chains = [
        torch.optim.lr_scheduler.ChainedScheduler(
            [torch.optim.lr_scheduler.StepLR(o, 2, 0.5), torch.optim.lr_scheduler.ExponentialLR(o, 0.9)]
        )
        for o in (opt, eager_opt)
    ]
    step = torch.compile(_step_fn(model, opt, chains[0], False))
    eager = _step_fn(eager_model, eager_opt, chains[1], False)
    for x, y in batches:
        step(x, y), eager(x, y)
        assert chains[0].get_last_lr() == chains[1].get_last_lr()
    assert _entry(step).replays == N - 2
    for a, b in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-6)


def test_a_manual_graph_capture_does_not_hook_the_scheduler():
    """PyTorch's CUDA-graph rule: the scheduler stepped inside the capture ran once; replays don't."""
    model, opt, sch = _setup("sgd_momentum", "step")
    x, y = _batches(1)[0]
    body = _step_fn(model, opt, sch, False)
    body(x, y)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        body(x, y)
    for _ in range(3):
        g.replay()
    assert sch.last_epoch == 2 and g._cap.hooks == []
    g.reset()


_calls = 0


def _counting(x):
    global _calls
    _calls += 1
    return x * 2 + 1


def _run_with_warnings(fn, inputs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outs = [fn(x) for x in inputs]
    return outs, _compile_warnings(caught)


def _inputs(n=N):
    return [torch.tensor(np.arange(4, dtype=np.float32) + k, device="wgpu") for k in range(n)]


def test_a_global_counter_runs_every_call_with_one_warning():
    global _calls
    _calls = 0
    cf = torch.compile(_counting)
    outs, said = _run_with_warnings(cf, _inputs())
    assert _calls == N  # as N eager calls
    for k, out in enumerate(outs):
        np.testing.assert_array_equal(out.numpy(), (np.arange(4) + k) * 2 + 1)
    assert len(said) == 1 and "global '_calls' changed during the call; a replay would not repeat it" in said[0]
    entry = _entry(cf)
    assert entry.eager and entry.graph is None and entry.replays == 0
    _calls = 0
    with pytest.raises(RuntimeError, match=r"fullgraph=True.*global '_calls' changed"):
        strict = torch.compile(_counting, fullgraph=True)
        for x in _inputs(2):
            strict(x)
    assert _calls == 2  # the refused capture call ran once, eagerly


def test_a_closure_list_append_runs_every_call_with_one_warning():
    log = []

    def f(x):
        log.append(len(log))
        return x.exp()

    outs, said = _run_with_warnings(torch.compile(f), _inputs())
    assert log == list(range(N))
    for k, out in enumerate(outs):
        np.testing.assert_allclose(out.numpy(), np.exp(np.arange(4) + k), rtol=1e-6)
    assert len(said) == 1 and "closure variable 'log' (its length) changed during the call" in said[0]


class _Counter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)
        self.n = 0

    def forward(self, x):
        self.n += 1
        return self.lin(x).relu()


@pytest.mark.parametrize("grad", [False, True])  # a whole capture, a forward captured apart from its backward
def test_a_module_attribute_changed_in_forward_runs_every_call_with_one_warning(grad):
    torch.manual_seed(0)
    m = _Counter().to("wgpu")
    cm = torch.compile(m)
    inputs = [x.reshape(1, 4) for x in _inputs()]
    with torch.set_grad_enabled(grad):
        outs, said = _run_with_warnings(cm, inputs)
        want = [m.lin(x).relu() for x in inputs]
    assert m.n == N
    for out, ref in zip(outs, want):
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-6, atol=1e-6)
        assert out.requires_grad == grad
    assert len(said) == 1 and "attribute 'n' of _Counter changed during the call" in said[0]
    if grad:  # the capture call's outputs keep their backward
        outs[1].sum().backward()
        assert m.lin.weight.grad is not None


def test_a_function_without_side_effects_still_replays():
    scale = [2.0]  # read, never changed
    seen = {"k": 1}

    def f(x):
        return x * scale[0] + seen["k"]

    cf = torch.compile(f)
    outs, said = _run_with_warnings(cf, _inputs())
    assert said == []
    entry = _entry(cf)
    assert entry.graph is not None and entry.replays == N - 2 and not entry.eager
    np.testing.assert_array_equal(outs[-1].numpy(), (np.arange(4) + N - 1) * 2 + 1)


def test_a_scheduler_in_a_compiled_forward_falls_back_with_one_warning():
    """A forward captured apart from its backward can't step the scheduler per replay: eager."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 2).to("wgpu")
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    sch = torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)

    def forward(x):
        sch.step()
        return lin(x)

    outs, said = _run_with_warnings(torch.compile(forward), [x.reshape(1, 4) for x in _inputs()])
    assert sch.last_epoch == N and all(o.requires_grad for o in outs)
    assert len(said) == 1 and "StepLR.step() ran in a forward captured apart from its backward" in said[0]
