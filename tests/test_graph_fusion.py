"""Fusion of elementwise runs in captured wgpu graphs (`_backends/wgpu/fusion.py`) and the graph's
private pool: a replay must give what eager gives (bit for bit here; 1 ulp is the documented
bound), fused intermediates that died in the capture are not written, live ones are.

wgpu only (graphs record the wgpu runtime's dispatches). PyTorch is the oracle for the values;
eager wgtorch (the same expressions, one kernel each) for the bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch as pt

import wgtorch as torch
from tests.helpers import torch_gelu_overflow_as_got

pytestmark = pytest.mark.usefixtures("wgpu_device")


def _t(a, **kw):
    return torch.tensor(np.asarray(a), device="wgpu", **kw)


def _gelu_chain(x, w, b):
    return torch.nn.functional.gelu(x * w + b)


def _same_bits(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 255, 256, 257])
def test_gelu_of_x_w_plus_b_is_one_dispatch_and_replays_as_eager(n):
    rng = np.random.default_rng(n)
    x0 = rng.standard_normal((3, n), np.float32)
    x0[0, 0] = np.nan
    x0[-1, -1] = np.inf
    x, w, b = _t(x0), _t(rng.standard_normal((3, n), np.float32)), _t(rng.standard_normal(n, np.float32))
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = _gelu_chain(x, w, b)
    assert g.num_dispatches == 1
    assert g.fusion_stats["fused_ops"] == 3 and g.fusion_stats["skipped_writes"] >= 1
    for _ in range(2):
        new = rng.standard_normal((3, n), np.float32)
        new[1, 0] = -np.inf
        x.copy_(_t(new))
        g.replay()
        _same_bits(y.numpy(), _gelu_chain(x, w, b).numpy())  # eager, after the replay
        pre = pt.from_numpy(new) * pt.from_numpy(w.numpy()) + pt.from_numpy(b.numpy())
        want = torch_gelu_overflow_as_got(pt.nn.functional.gelu(pre), y.numpy())
        np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_unfused_graph_keeps_every_dispatch_and_agrees():
    rng = np.random.default_rng(0)
    x, w, b = (_t(rng.standard_normal((5, 7), np.float32)) for _ in range(3))
    fused, plain = torch.wgpu.Graph(), torch.wgpu.Graph(fuse=False)
    with torch.wgpu.graph(fused):
        y1 = _gelu_chain(x, w, b)
    with torch.wgpu.graph(plain):
        y2 = _gelu_chain(x, w, b)
    assert (fused.num_dispatches, plain.num_dispatches) == (1, 3)
    x.copy_(_t(rng.standard_normal((5, 7), np.float32)))
    fused.replay()
    plain.replay()
    _same_bits(y1.numpy(), y2.numpy())


def test_ops_marked_no_fuse_are_left_alone():
    """What a per-replay patch rewrites (Capture.no_fuse: indices in the capture's records) stays its own dispatch."""
    x = _t(np.arange(10, dtype=np.float32))
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        torch.wgpu._runtime()._capture.no_fuse.add(1)
        y = ((x + 1) * 2 - 3).abs()
    assert g.num_dispatches == 3  # (x + 1), then (* 2) alone, then (- 3).abs() fused
    g.replay()
    _same_bits(y.numpy(), np.abs((np.arange(10, dtype=np.float32) + 1) * 2 - 3))


def test_a_live_intermediate_is_still_written():
    rng = np.random.default_rng(1)
    x, w = _t(rng.standard_normal(100, np.float32)), _t(rng.standard_normal(100, np.float32))
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        t = x * w  # kept: the replay must update it
        y = (t + 1).relu()
    assert g.num_dispatches == 1
    new = rng.standard_normal(100, np.float32)
    x.copy_(_t(new))
    g.replay()
    _same_bits(t.numpy(), (x * w).numpy())
    _same_bits(y.numpy(), ((x * w) + 1).relu().numpy())


def test_non_contiguous_and_broadcast_operands():
    rng = np.random.default_rng(2)
    a = _t(rng.standard_normal((65, 9), np.float32))
    b = _t(rng.standard_normal((9, 65), np.float32))
    c = _t(rng.standard_normal((65, 1), np.float32))
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = (a.t() * b[:, :].t().t() + c.t()).sigmoid() - a[::2].sum() * 0  # sum is not elementwise
    a.copy_(_t(rng.standard_normal((65, 9), np.float32)))
    g.replay()
    _same_bits(y.numpy(), ((a.t() * b + c.t()).sigmoid() - a[::2].sum() * 0).numpy())
    want = pt.sigmoid(pt.from_numpy(a.numpy()).t() * pt.from_numpy(b.numpy()) + pt.from_numpy(c.numpy()).t())
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)


def test_a_transposed_read_of_an_earlier_write_is_not_fused():
    """Thread i would read element i' of what another thread writes: the run must be cut there."""
    x = _t(np.arange(64 * 64, dtype=np.float32).reshape(64, 64))
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        t = x * 2
        y = t.t() + t  # reads t transposed and straight
    assert g.num_dispatches == 2
    x.copy_(_t(np.random.default_rng(3).standard_normal((64, 64)).astype(np.float32)))
    g.replay()
    tt = x.numpy() * 2
    _same_bits(y.numpy(), tt.T + tt)


def test_in_place_optimizer_tail_replays_as_eager_steps():
    """SGD with momentum written with in-place elementwise ops: one fused kernel writes buf and p."""
    rng = np.random.default_rng(4)
    p0, g0 = rng.standard_normal(257, np.float32), rng.standard_normal(257, np.float32)

    def step(p, buf, grad):
        buf.mul_(0.9).add_(grad)
        p.add_(buf, alpha=-0.1)

    p, buf, grad = _t(p0), _t(np.zeros(257, np.float32)), _t(g0)
    graph = torch.wgpu.Graph()
    with torch.wgpu.graph(graph):
        step(p, buf, grad)
    assert graph.num_dispatches == 1
    ep, ebuf = _t(p0), _t(np.zeros(257, np.float32))
    step(ep, ebuf, grad)
    tp, tbuf, tg = pt.from_numpy(p0.copy()), pt.zeros(257), pt.from_numpy(g0)
    tbuf.mul_(0.9).add_(tg)
    tp.add_(tbuf, alpha=-0.1)
    for _ in range(4):
        graph.replay()
        step(ep, ebuf, grad)
        tbuf.mul_(0.9).add_(tg)
        tp.add_(tbuf, alpha=-0.1)
    _same_bits(p.numpy(), ep.numpy())
    _same_bits(buf.numpy(), ebuf.numpy())
    np.testing.assert_allclose(p.numpy(), tp.numpy(), rtol=1e-5, atol=1e-6)


def test_relu_backward_masks_fuse_and_gradients_match_pytorch():
    rng = np.random.default_rng(5)
    x0, w0 = rng.standard_normal((6, 65), np.float32), rng.standard_normal((65, 33), np.float32)
    x, w = _t(x0), _t(w0, requires_grad=True)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        loss = (x @ w).relu().relu().sum()
        loss.backward()
    names = [op[0].name for op in g._program if hasattr(op[0], "name")]
    assert any(n.startswith("fused:") and "le" in n and "mul" in n for n in names), names
    new = rng.standard_normal((6, 65), np.float32)
    x.copy_(_t(new))
    g.replay()
    tw = pt.from_numpy(w0).requires_grad_()
    (pt.from_numpy(new) @ tw).relu().relu().sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert abs(loss.item() - (pt.from_numpy(new) @ pt.from_numpy(w0)).relu().sum().item()) < 1e-2


def test_integer_bool_half_and_0d_chains():
    rng = np.random.default_rng(6)
    i = _t(rng.integers(-50, 50, 70).astype(np.int32))
    h = _t(rng.standard_normal(70).astype(np.float16))
    s = _t(np.float32(0.5))
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        yi = (i * 3 + 1) // 2 % 7
        yb = ((i > 0) & (i % 2 == 0)).logical_not()
        yh = (h * 2 + 1).exp()
        ys = (s * 2 - 1).exp() + 0
    i.copy_(_t(rng.integers(-50, 50, 70).astype(np.int32)))
    h.copy_(_t(rng.standard_normal(70).astype(np.float16)))
    s.copy_(_t(np.float32(-1.25)))
    g.replay()
    _same_bits(yi.numpy(), ((i * 3 + 1) // 2 % 7).numpy())
    _same_bits(yb.numpy(), ((i > 0) & (i % 2 == 0)).logical_not().numpy())
    _same_bits(yh.numpy(), (h * 2 + 1).exp().numpy())
    _same_bits(ys.numpy(), ((s * 2 - 1).exp() + 0).numpy())
    ti = pt.from_numpy(i.numpy())
    np.testing.assert_array_equal(yi.numpy(), ((ti * 3 + 1) // 2 % 7).numpy())
    np.testing.assert_array_equal(yb.numpy(), ((ti > 0) & (ti % 2 == 0)).logical_not().numpy())
    assert yh.dtype == torch.float16 and ys.shape == ()


def _half_scalars(h):
    return torch.nn.functional.leaky_relu((0.1 * h + 0.3) / 3.3 * 0.7, 0.013)


def test_half_chain_keeps_its_opmath_scalars_in_float32():
    """A float16 mul/div by a Python scalar (and leaky_relu's slope) uses the scalar unrounded, as
    PyTorch's half kernels do; the fused kernel must too (0.1 and 3.3 are not float16 values)."""
    rng = np.random.default_rng(7)
    h = _t(rng.standard_normal(129).astype(np.float16) * 4)
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = _half_scalars(h)
    assert g.num_dispatches == 1 and g.fusion_stats["fused_ops"] == 5
    new = rng.standard_normal(129).astype(np.float16) * 4
    h.copy_(_t(new))
    g.replay()
    _same_bits(y.numpy(), _half_scalars(h).numpy())
    want = pt.nn.functional.leaky_relu((0.1 * pt.from_numpy(new) + 0.3) / 3.3 * 0.7, 0.013)
    _same_bits(y.numpy(), want.numpy())


def test_integer_division_by_a_tensor_keeps_its_zero_divisor_report():
    a, b = _t(np.arange(1, 65, dtype=np.int32)), _t(np.ones(64, np.int32))
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = (a + 1) // b + 1
    assert g.num_dispatches == 3  # the division is not fused (it reports through the error buffer)
    b.copy_(_t(np.zeros(64, np.int32)))
    g.replay()
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        y.numpy()


def test_storage_buffer_limit_cuts_runs():
    rt = torch.wgpu._runtime()
    x = _t(np.linspace(-2, 2, 64, dtype=np.float32))

    def body():
        return (((x > 0) * x).int() + 1) * 2  # f32, bool (u32) and i32 views of the page: three bindings

    saved = rt.limits["max-storage-buffers-per-shader-stage"]
    rt.limits["max-storage-buffers-per-shader-stage"] = 3  # the parameters and two arrays
    try:
        g = torch.wgpu.Graph()
        with torch.wgpu.graph(g):
            y = body()
    finally:
        rt.limits["max-storage-buffers-per-shader-stage"] = saved
    assert any(op[0].name.startswith("fused:") for op in g._program)
    for op in g._program:
        if op[0].name.startswith("fused:"):
            assert len(op[0].layout_key) <= 2
    assert g.num_dispatches >= 2
    whole = torch.wgpu.Graph()
    with torch.wgpu.graph(whole):
        body()
    assert whole.num_dispatches == 1
    x.copy_(_t(np.linspace(3, -3, 64, dtype=np.float32)))
    g.replay()
    _same_bits(y.numpy(), body().numpy())


def test_a_long_chain_is_cut_into_bounded_kernels():
    from wgtorch._backends.wgpu.fusion import MAX_RUN

    x = _t(np.zeros(5, np.float32))
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = x
        for _ in range(2 * MAX_RUN + 1):
            y = y + 1
    assert g.num_dispatches == 3
    x.copy_(_t(np.full(5, 2.0, np.float32)))
    g.replay()
    assert y.tolist() == [2.0 + 2 * MAX_RUN + 1] * 5


def test_zero_size_operands_and_a_folded_grid():
    n = 65535 * 64 + 3  # past the per-dimension workgroup limit: the grid is folded into 2-D
    x = _t(np.ones(n, np.float32))
    e = _t(np.ones((0, 3), np.float32))
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = (x * 2 + 1).neg()
        z = e * 2 + 1  # nothing to dispatch
    assert g.num_dispatches == 1 and z.shape == (0, 3)
    x.copy_(_t(np.full(n, 3.0, np.float32)))
    g.replay()
    got = y.numpy()
    assert got.shape == (n,) and (got == -7.0).all()


def test_blocks_that_die_in_a_capture_are_reused_inside_it():
    rng = np.random.default_rng(7)
    w0 = (rng.standard_normal((64, 64)) / 8).astype(np.float32)
    x, w = _t(rng.standard_normal((64, 64), np.float32)), _t(w0)
    torch.wgpu.synchronize()
    torch.wgpu.reset_peak_memory_stats()
    base = torch.wgpu.memory_allocated()
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        y = x
        for _ in range(10):
            y = (y @ w).tanh()  # each step's temporaries die in the capture
    block = 64 * 64 * 4
    assert torch.wgpu.max_memory_allocated() - base <= 4 * block  # 20 blocks without reuse
    new = rng.standard_normal((64, 64), np.float32)
    x.copy_(_t(new))
    g.replay()
    want = pt.from_numpy(new)
    for _ in range(10):
        want = (want @ pt.from_numpy(w0)).tanh()
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)
    g.reset()


# -- the MNIST-shaped step (the target workload) ---------------------------------------------
def _mnist(fuse=True):
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)).to("wgpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x, y = _t(rng.standard_normal((100, 784), np.float32)), _t(rng.integers(0, 10, 100))
    return model, opt, x, y


def _mnist_step(model, opt, x, y):
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def test_mnist_step_dispatch_count_memory_and_parameters():
    model, opt, x, y = _mnist()
    _mnist_step(model, opt, x, y)  # warm-up: momentum buffers exist
    opt.zero_grad()
    torch.wgpu.synchronize()
    torch.wgpu.reset_peak_memory_stats()
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        _mnist_step(model, opt, x, y)
    peak = torch.wgpu.max_memory_allocated()
    params = sum(p.numel() for p in model.parameters()) * 4
    acts = (100 * 784 + 2 * 100 * 128 + 2 * 100 * 64 + 100 * 10) * 4  # what backward keeps
    floor = 3 * params + acts  # parameters, gradients, momentum, activations
    print(
        f"\nMNIST step captured: {g.num_dispatches} dispatches {g.fusion_stats}, peak {peak} B = "
        f"{peak / floor:.2f}x the floor {floor} B"
    )
    assert g.num_dispatches <= 20  # the target (35 unfused; fusion, foreach SGD, matmul epilogues: 19)
    assert peak <= 2 * floor
    ref_model, ref_opt, _, _ = _mnist()
    for _ in range(4):  # warm-up and capture steps, then two replays
        ref_opt.zero_grad()
        _mnist_step(ref_model, ref_opt, x, y)
    g.replay()
    g.replay()
    for p, q in zip(model.parameters(), ref_model.parameters()):
        _same_bits(p.detach().numpy(), q.detach().numpy())
