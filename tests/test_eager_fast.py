"""The eager fast path (`ops/pointwise.py` `_EAGER`, `_backends/wgpu/eager.py`): a call keyed once to a
pre-bound backend plan, and the slim autograd node of registry ops. Whatever the cache does not key on
(offsets, buffers, scalar values, versions, grad mode) must still be seen on every call, and the
gradients must be PyTorch's."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch as pt

import wgtorch as torch
from tests.helpers import assert_close, rand
from wgtorch.nn import Parameter


def _pair(x: np.ndarray, device, grad=False):
    return torch.tensor(x, device=device, requires_grad=grad), pt.tensor(x, requires_grad=grad)


@pytest.mark.parametrize("op", ["add", "mul", "div", "maximum"])
@pytest.mark.parametrize("shapes", [((63,), (63,)), ((4, 65), (65,)), ((3, 1), (1, 5)), ((), (7,))])
def test_binary_gradients_match_pytorch_on_repeated_calls(device, op, shapes):
    sa, sb = shapes
    a0 = rand(*sa, seed=1, low=0.5) if sa else np.float32(1.5)
    b0 = rand(*sb, seed=2, low=0.5)
    for _ in range(2):  # the second call is served by the cached entry
        a, pa = _pair(np.asarray(a0), device, grad=True)
        b, pb = _pair(b0, device, grad=True)
        y, py = getattr(torch, op)(a, b), getattr(pt, op)(pa, pb)
        assert y.grad_fn is not None and y.requires_grad and not y.is_leaf
        assert_close(y, py.detach().numpy(), rtol=1e-4, atol=1e-5)
        (y * y).sum().backward()
        (py * py).sum().backward()
        assert_close(a.grad, pa.grad.numpy(), rtol=1e-4, atol=1e-4)
        assert_close(b.grad, pb.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["exp", "sigmoid", "relu"])  # exp and sigmoid read their output
def test_unary_gradients_and_saved_output(device, op):
    x0 = rand(65, seed=3, low=0.1)
    for _ in range(2):
        x, px = _pair(x0, device, grad=True)
        y, py = getattr(x, op)(), getattr(px, op)()
        y.backward(torch.ones_like(y))
        py.backward(pt.ones_like(py))
        assert_close(x.grad, px.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_only_operands_that_require_grad_get_edges(device):
    x0, y0 = rand(5, seed=4), rand(5, seed=5)
    for _ in range(2):
        x, px = _pair(x0, device, grad=True)
        c, pc = _pair(y0, device)
        (x * c + 2.5 * x).sum().backward()
        (px * pc + 2.5 * px).sum().backward()
        assert_close(x.grad, px.grad.numpy())
        assert c.grad is None and not c.requires_grad


def test_strided_and_sliced_operands_with_grad(device):
    a0 = rand(6, 8, seed=6)
    for _ in range(2):
        a, pa = _pair(a0, device, grad=True)
        y = a.t() * a.t()[:, ::2].sum(1, keepdim=True) + a[1:, ::3].sum()
        py = pa.t() * pa.t()[:, ::2].sum(1, keepdim=True) + pa[1:, ::3].sum()
        assert_close(y, py.detach().numpy(), rtol=1e-5, atol=1e-5)
        y.sum().backward()
        py.sum().backward()
        assert_close(a.grad, pa.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_inplace_change_of_a_saved_operand_raises_at_backward(device):
    for _ in range(2):
        x = torch.tensor(rand(4, seed=7), device=device, requires_grad=True)
        w = torch.tensor(rand(4, seed=8), device=device)
        y = x * w  # saves w (mul's gradient reads it)
        w.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
    pw = pt.tensor(rand(4, seed=8))
    py = pt.tensor(rand(4, seed=7), requires_grad=True) * pw
    pw.add_(1)
    with pytest.raises(RuntimeError):
        py.sum().backward()


def test_second_backward_without_retain_graph_raises(device):
    x = torch.tensor(rand(3, seed=9), device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, 4 * rand(3, seed=9))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_no_grad_and_detach_skip_the_graph(device):
    x = torch.tensor(rand(4, seed=10), device=device, requires_grad=True)
    with torch.no_grad():
        for _ in range(2):
            y = x + x
            assert not y.requires_grad and y.grad_fn is None
    z = x.detach() * 2
    assert not z.requires_grad
    w = x * 2  # and the same key right after no_grad records again
    assert w.requires_grad and w.grad_fn.name() == "PointwiseBackward"


def test_parameters_and_non_differentiable_results(device):
    p = Parameter(torch.tensor(rand(4, seed=11), device=device))
    for _ in range(2):
        y = p * 3.0
        assert y.requires_grad
        m = p > 0  # a comparison: no graph, as in PyTorch
        assert m.dtype == torch.bool and not m.requires_grad and m.grad_fn is None
    y.sum().backward()
    assert_close(p.grad, np.full(4, 3.0, np.float32))


def test_devices_are_checked_on_every_call(wgpu_device):
    a, b = torch.ones(3), torch.ones(3, device="wgpu")
    for _ in range(2):
        with pytest.raises(RuntimeError, match="same device"):
            a + b
        with pytest.raises(RuntimeError, match="same device"):
            b * a


def test_scalar_values_travel_per_call(device):
    i = torch.tensor([1, 2, 3], dtype=torch.int32, device=device)
    f = torch.tensor([1.0, -2.0, 0.5], device=device)
    for k in range(-2, 3):
        assert_close(i + k, np.array([1, 2, 3], np.int32) + k)
        assert_close(f * k, np.array([1.0, -2.0, 0.5], np.float32) * k)
        assert_close(torch.tensor([True, False], device=device) & bool(k), np.array([bool(k), False]))
    if device == "wgpu":  # int64 is stored as 32-bit there: every call checks the scalar's range
        for _ in range(2):
            with pytest.raises(OverflowError, match="32-bit"):
                i + 2**40
            assert_close(i + 1, np.array([2, 3, 4], np.int32))


def test_more_ops_than_a_batch_without_a_sync(device):
    """Past MAX_BATCH dispatches the ring is submitted from inside the fast path; blocks freed
    meanwhile must not be reused before the work that reads them is submitted."""
    x0 = rand(257, seed=12)
    x, px = _pair(x0, device)
    y, py = x, px
    for _ in range(1100):
        y = y * 0.999 + x  # every intermediate dies right away
        py = py * 0.999 + px
    assert_close(y, py.numpy(), rtol=1e-4, atol=1e-4)


def test_threads_record_through_the_fast_path(device):
    errors, results = [], {}

    def work(t):
        try:
            x = torch.tensor(rand(64, seed=t), device=device)
            y = x
            for _ in range(60):
                y = (y + x) * 0.5
            results[t] = y.numpy()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for t in range(4):
        x = pt.tensor(rand(64, seed=t))
        y = x
        for _ in range(60):
            y = (y + x) * 0.5
        np.testing.assert_allclose(results[t], y.numpy(), rtol=1e-5, atol=1e-6)


def test_large_dispatch_folds_the_grid(wgpu_device):
    n = 64 * 65535 + 65  # more than 65,535 workgroups of 64
    x = torch.ones(n, device="wgpu")
    for _ in range(2):
        y = x + x
        host = y.numpy()
        assert host.shape == (n,) and host[0] == 2 and host[-1] == 2 and host.min() == 2


def test_wgpu_py_calls_when_direct_calls_are_off(wgpu_device):
    rt = torch.zeros(1, device="wgpu")._be.rt
    x = torch.tensor(rand(100, seed=13), device="wgpu")
    ref = ((x + 1) * x).numpy()
    direct = rt._direct
    torch.wgpu.synchronize()
    try:
        rt._direct = None
        for _ in range(2):
            assert_close((x + 1) * x, ref)
    finally:
        torch.wgpu.synchronize()
        rt._direct = direct


def test_zero_division_check_still_reported_on_wgpu(wgpu_device):
    a = torch.tensor([4, 6], dtype=torch.int32, device="wgpu")
    z = torch.tensor([2, 0], dtype=torch.int32, device="wgpu")
    for _ in range(2):
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            (a // z).numpy()


def test_empty_cache_drops_the_eager_bindings_of_destroyed_buffers(wgpu_device):
    import gc

    rt = torch.zeros(1, device="wgpu")._be.rt
    n = 300_000  # large: buffers of their own, which empty_cache destroys once free
    a, b = torch.ones(n, device="wgpu"), torch.full((n,), 2.0, device="wgpu")
    y = a + b
    y = a + b  # (served by the eager entry, which cached this call's bind group)
    serials = {a._data.buffer.serial, b._data.buffer.serial, y._data.buffer.serial}

    def bound_serials():
        return {buf.serial for plan in rt._eager_plans for key in plan.bound for buf in key}

    assert serials <= bound_serials()
    del a, b, y
    gc.collect()
    torch.wgpu.synchronize()
    torch.wgpu.empty_cache()
    assert not serials & bound_serials(), "the eager path still holds bind groups of destroyed buffers"
    a, b = torch.ones(n, device="wgpu"), torch.full((n,), 2.0, device="wgpu")
    for _ in range(2):
        assert_close((a + b)[-3:], np.full(3, 3.0, np.float32))


def test_copies_into_views_reuse_their_plan_and_see_each_calls_offsets(wgpu_device):
    """`_elementwise_into` (copy_, in-place updates) caches its plan by out's and the operands'
    layouts: the same layout at another offset (another row, another tensor) must write there."""
    be = torch.zeros(1, device=wgpu_device)._be
    dst = torch.zeros(6, 9, device=wgpu_device)
    want = np.zeros((6, 9), np.float32)
    src = rand(6, 9, seed=3)
    s = torch.tensor(src, device=wgpu_device)
    dst[0].copy_(s[0, ::2].repeat(2)[:9])  # one more layout first: its own plan
    want[0] = np.tile(src[0, ::2], 2)[:9]
    plans = len(be._ew_plans)
    for row in range(1, 6):
        dst[row, 1::2].copy_(s[row, 1::2])  # same layouts, offsets differ per call
        want[row, 1::2] = src[row, 1::2]
    assert len(be._ew_plans) == plans + 1
    assert_close(dst, want, rtol=0, atol=0)
    t = pt.tensor(want)
    t[:, ::3].mul_(2.0)
    dst[:, ::3].mul_(2.0)
    assert_close(dst, t.numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("scalar", [False, True], ids=["two_arrays", "scalar"])
def test_each_batch_marks_the_buffers_of_a_cached_binding(wgpu_device, scalar):
    # A binding adds its buffers to the touched set once per batch (Runtime._batch): after a
    # submit clears the set, the next call through the same cached binding must add them again,
    # or a dead block of those buffers would go back to the pool while the batch still uses it.
    rt = torch.zeros(1, device="wgpu")._be.rt
    a, b = torch.ones(64, device="wgpu"), torch.full((64,), 2.0, device="wgpu")
    other = 2.0 if scalar else b
    for _ in range(3):
        y = a + other
        torch.wgpu.synchronize()
        assert not rt._touched
        y = a + other  # (from the second round on: a binding cached in an earlier batch)
        assert {a._data.buffer, y._data.buffer} <= rt._touched
        if not scalar:
            assert b._data.buffer in rt._touched
        assert_close(y, np.full(64, 3.0, np.float32))
