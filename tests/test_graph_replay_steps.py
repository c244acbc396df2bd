"""`Graph.replay(steps=k)` (wgtorch's: k replays in one encoder and one submit) and the replay's
single submit with the eager work recorded before it: values equal k separate replays bit for bit
(in-place state carried from step to step, a recorded copy splitting the pass, random draws, SGD
momentum training), bad ``steps`` raise. wgpu only: the oracle is the separate replays (whose
values tests/test_graph_capture.py checks against eager and PyTorch) and plain arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch as torch

pytestmark = pytest.mark.usefixtures("wgpu_device")


def _t(a):
    return torch.tensor(np.asarray(a, np.float32), device="wgpu")


def _capture(fn):
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        out = fn()
    return g, out


def test_steps_carry_state_through_a_recorded_copy_as_separate_replays():
    x = _t(np.arange(64) / 64)
    y = torch.zeros(300_000, device="wgpu")  # a buffer of its own: the copy can't stay inside one
    rt = x._be.rt

    def body():
        z = x * 2
        zd, yd = z._data, y._data
        rt.copy(zd.buffer, zd.offset * 4, yd.buffer, yd.offset * 4, 256)  # splits the pass
        x.copy_(y[:64] - 0.5)  # the state the next step starts from

    g, _ = _capture(body)
    assert len(g._passes) == 3  # pass, copy, pass
    start = x.numpy().copy()
    g.replay(steps=3)
    got = x.numpy().copy()
    x.copy_(_t(start))
    for _ in range(3):
        g.replay()
    np.testing.assert_array_equal(got, x.numpy())
    want = start.copy()
    for _ in range(3):
        want = want * 2 - 0.5
    np.testing.assert_array_equal(got, want)


def _sgd_setup():
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(12, 9), torch.nn.ReLU(), torch.nn.Linear(9, 4)).to("wgpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x, y = _t(rng.standard_normal((7, 12))), torch.tensor(rng.integers(0, 4, 7), device="wgpu")

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step()  # warm-up: momentum buffers
    return model, step, x, y


def test_training_steps_match_separate_replays():
    results = []
    for steps in (4, 1):
        model, step, x, y = _sgd_setup()
        g, _loss = _capture(step)
        if steps == 4:
            g.replay(steps=4)
        else:
            for _ in range(4):
                g.replay()
        results.append([p.detach().numpy().copy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_random_draws_replay_each_step_as_separate_replays():
    x = torch.ones(257, device="wgpu")
    g, y = _capture(lambda: torch.nn.functional.dropout(x, 0.5) * 3)
    torch.manual_seed(11)
    g.replay(steps=3)
    got, after = y.numpy().copy(), torch.rand(5, device="wgpu").numpy()
    torch.manual_seed(11)
    for _ in range(3):
        g.replay()
    np.testing.assert_array_equal(got, y.numpy())
    np.testing.assert_array_equal(after, torch.rand(5, device="wgpu").numpy())  # the generator moved alike


def test_eager_work_before_a_replay_shares_its_submit():
    x = _t(np.zeros(33))
    g, y = _capture(lambda: (x + 1).relu())
    rt = x._be.rt
    torch.wgpu.synchronize()
    submits = rt.stats["submits"]
    x.copy_(_t(np.arange(33) - 16.0))  # eager work recorded before the replay
    g.replay()
    assert rt.stats["submits"] == submits + 1
    np.testing.assert_array_equal(y.numpy(), np.maximum(np.arange(33) - 15.0, 0))


@pytest.mark.parametrize("steps", [0, -2, 1.5, True, "2"])
def test_bad_steps_raise(steps):
    x = _t(np.zeros(3))
    g, _ = _capture(lambda: x + 1)
    with pytest.raises(ValueError):
        g.replay(steps=steps)
