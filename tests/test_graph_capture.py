"""wgpu graphs (`wgtorch.wgpu.Graph`, `wgtorch.wgpu.graph`): capture, replay, memory, refusals.

wgpu only: graphs record the wgpu runtime's dispatches (there is nothing to capture on cpu).
PyTorch is the oracle for the values."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch as pt

import wgtorch as torch

pytestmark = pytest.mark.usefixtures("wgpu_device")


def _t(a, **kw):
    return torch.tensor(np.asarray(a, np.float32), device="wgpu", **kw)


def _oracle(x, w):
    return pt.relu(pt.from_numpy(x) @ pt.from_numpy(w)).sum().item()


def test_replay_after_copy_gives_the_eager_result_for_the_new_input():
    rng = np.random.default_rng(0)
    x0, w0 = rng.standard_normal((9, 65), np.float32), rng.standard_normal((65, 7), np.float32)
    x, w = _t(x0), _t(w0)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = (x @ w).relu().sum()
    assert g.num_dispatches == 2  # the matmul with the relu folded into its store (fusion_epilogue.py), the sum
    assert abs(y.item() - _oracle(x0, w0)) < 1e-3  # the capture ran eagerly
    for _ in range(3):
        new = rng.standard_normal((9, 65), np.float32)
        x.copy_(_t(new))
        g.replay()
        assert abs(y.item() - _oracle(new, w0)) < 1e-3
    g.reset()


def test_replay_is_ordered_after_eager_work_and_before_later_work():
    x = _t(np.ones(64))
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = x * 3
    x.mul_(2)  # recorded eagerly, not yet submitted: the replay must see it
    g.replay()
    z = y + 1  # recorded after the replay: must see its result
    np.testing.assert_array_equal(z.numpy(), np.full(64, 7.0, np.float32))


def _mlp_setup(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5)).to("wgpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt


def _batches(n):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((8, 20), np.float32), rng.integers(0, 5, 8)) for _ in range(n)]


def _step(model, opt, x, y):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def test_mlp_training_replayed_matches_eager_steps():
    batches = _batches(6)
    # eager reference
    model, opt = _mlp_setup()
    for xb, yb in batches:
        opt.zero_grad()
        _step(model, opt, _t(xb), torch.tensor(yb, device="wgpu"))
    ref = [p.detach().numpy() for p in model.parameters()]

    model, opt = _mlp_setup()
    x, y = _t(batches[0][0]), torch.tensor(batches[0][1], device="wgpu")
    _step(model, opt, x, y)  # warm-up: the momentum buffers exist (its first step is special)
    opt.zero_grad()
    g = torch.wgpu.Graph()
    x.copy_(_t(batches[1][0]))
    y.copy_(torch.tensor(batches[1][1], device="wgpu"))
    with torch.wgpu.graph(g):
        loss = _step(model, opt, x, y)
    for xb, yb in batches[2:]:
        x.copy_(_t(xb))
        y.copy_(torch.tensor(yb, device="wgpu"))
        g.replay()
    got = [p.detach().numpy() for p in model.parameters()]
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert np.isfinite(loss.item())


def test_intermediates_keep_their_memory_while_the_graph_lives():
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((16, 16), np.float32)
    x, w = _t(np.zeros((16, 16))), _t(w0)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        h = x @ w  # dies at the end of the block: the graph keeps its block
        out = (h * 2).relu()
        del h
    gc.collect()
    # eager tensors of the same size must not land on the graph's intermediates
    junk = [_t(np.full((16, 16), 123.0)) for _ in range(8)]
    new = rng.standard_normal((16, 16), np.float32)
    x.copy_(_t(new))
    g.replay()
    np.testing.assert_allclose(out.numpy(), np.maximum(2 * (new @ w0), 0), rtol=1e-4, atol=1e-4)
    for j in junk:
        np.testing.assert_array_equal(j.numpy(), np.full((16, 16), 123.0, np.float32))


def test_reset_returns_the_graph_memory():
    x, w = _t(np.ones((32, 32))), _t(np.ones((32, 32)))
    gc.collect()
    torch.wgpu.synchronize()
    before = torch.wgpu.memory_allocated()
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = ((x @ w) + 1).sum()
    del y
    gc.collect()
    torch.wgpu.synchronize()
    assert torch.wgpu.memory_allocated() > before  # held by the graph
    g.replay()
    g.reset()
    gc.collect()
    torch.wgpu.synchronize()
    assert torch.wgpu.memory_allocated() == before
    with pytest.raises(RuntimeError, match="holds no capture"):
        g.replay()


def test_deleting_a_graph_returns_its_memory():
    x = _t(np.ones(300))
    gc.collect()
    torch.wgpu.synchronize()
    before = torch.wgpu.memory_allocated()
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = (x + 1) * 2
    del y, g
    gc.collect()
    torch.wgpu.synchronize()
    assert torch.wgpu.memory_allocated() == before


@pytest.mark.parametrize(
    "what, body",
    [
        ("reading a tensor", lambda x: (x * 2).sum().item()),
        ("reading a tensor", lambda x: str(x + 1)),
        ("synchronize", lambda x: torch.wgpu.synchronize()),
        ("uploading host data", lambda x: torch.tensor([1.0, 2.0], device="wgpu")),
        # random ops are captured (tests/test_graph_optim.py); only a draw without its generator is refused
    ],
)
def test_host_work_inside_a_capture_raises_and_the_device_keeps_working(what, body):
    x = _t(np.arange(4))
    gc.collect()
    torch.wgpu.synchronize()
    before = torch.wgpu.memory_allocated()
    g = torch.wgpu.Graph()
    with pytest.raises(RuntimeError, match=f"{what}.*not allowed while capturing a wgpu graph"):
        with torch.wgpu.graph(g):
            y = x * 2
            body(y)
    assert (x * 3).sum().item() == 18.0
    del y
    gc.collect()
    torch.wgpu.synchronize()
    assert torch.wgpu.memory_allocated() == before
    with torch.wgpu.graph(g):  # the same graph captures fine afterwards
        z = x + 1
    g.replay()
    assert z.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_swallowed_refusal_still_fails_the_capture():
    x = _t(np.ones(4))
    g = torch.wgpu.Graph()
    with pytest.raises(RuntimeError, match="abandoned"):
        with torch.wgpu.graph(g):
            try:
                (x + 1).sum().item()
            except RuntimeError:
                pass
    assert (x + 1).sum().item() == 8.0


def test_capture_of_cpu_work_only_raises():
    x = torch.ones(4)
    g = torch.wgpu.Graph()
    with pytest.raises(RuntimeError, match="wgpu device only"):
        with torch.wgpu.graph(g, device="cpu"):
            x * 2
    with pytest.raises(RuntimeError, match="captured no work"):
        with torch.wgpu.graph(g):
            x * 2


def test_nested_capture_and_bad_arguments_raise():
    g, h = torch.wgpu.Graph(), torch.wgpu.Graph()
    x = _t(np.ones(4))
    with torch.wgpu.graph(g):
        x + 1
        with pytest.raises(RuntimeError, match="already being captured"):
            h.capture_begin()
        with pytest.raises(RuntimeError, match="while capturing"):
            g.replay()
    with pytest.raises(TypeError, match="Graph"):
        torch.wgpu.graph(object())
    with pytest.raises(NotImplementedError):
        torch.wgpu.graph(h, pool=object())


def test_device_errors_surface_after_a_replay():
    w = _t(np.arange(10))
    idx = torch.tensor([1, 2, 3], device="wgpu")
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = w[idx] * 1
    idx.copy_(torch.tensor([1, 50, 3], device="wgpu"))
    g.replay()
    with pytest.raises(IndexError):
        y.numpy()
    idx.copy_(torch.tensor([4, 5, 6], device="wgpu"))  # the device keeps working, the graph too
    g.replay()
    assert y.tolist() == [4.0, 5.0, 6.0]


def test_a_recorded_copy_splits_the_replayed_pass_in_order():
    x = _t(np.arange(64))
    y = torch.zeros(300_000, device="wgpu")  # over 1 MiB: a buffer of its own (a copy can't stay in one buffer)
    rt = x._be.rt
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        z = x * 2
        zd, yd = z._data, y._data
        rt.copy(zd.buffer, zd.offset * 4, yd.buffer, yd.offset * 4, 256)  # between two dispatches
        w = y[:64] + 1
    np.testing.assert_array_equal(w.numpy(), np.arange(64, dtype=np.float32) * 2 + 1)
    assert len(g._program) == 3 and g.num_dispatches == 2
    new = np.arange(64, dtype=np.float32)[::-1].copy()
    x.copy_(_t(new))
    g.replay()
    np.testing.assert_array_equal(w.numpy(), new * 2 + 1)


def test_a_capture_longer_than_one_batch_replays_whole():
    # more dispatches than the runtime's batch: the eager run submits mid-capture, the graph does not
    from wgtorch._backends.wgpu.runtime import MAX_BATCH

    x = _t(np.zeros(4))
    g = torch.wgpu.Graph(fuse=False)  # (fused, the adds would be a few kernels: test_graph_fusion.py)
    with torch.wgpu.graph(g):
        y = x
        for _ in range(MAX_BATCH + 20):
            y = y + 1
    assert g.num_dispatches == MAX_BATCH + 20
    assert y.tolist() == [MAX_BATCH + 20.0] * 4
    x.copy_(_t(np.full(4, 5.0)))
    g.replay()
    assert y.tolist() == [MAX_BATCH + 25.0] * 4
