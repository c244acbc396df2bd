"""The matmul epilogue (`Backend.matmul_bias`; on wgpu the add in the matmul kernel's store) and its
use: eager ``addmm`` / ``F.linear`` with a bias (values and gradients against PyTorch, bit for bit
against the separate ops), and graph fusion folding the elementwise ops after a matmul into its
store (`_backends/wgpu/fusion_epilogue.py`): replay == eager bit for bit, dispatch counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch as pt

import wgtorch as torch


def _np(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _pair(a, device, grad=True):
    return (torch.tensor(a, device=device, requires_grad=grad), pt.tensor(a, requires_grad=grad))


def _close(got, want, dtype=np.float32):
    tol = {np.float32: (1e-5, 1e-4), np.float16: (2e-2, 2e-2)}[dtype]
    got = got.detach().float().cpu().numpy() if hasattr(got, "detach") else got
    want = want.detach().float().numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol[0], atol=tol[1])


def _same_bits(got, want):
    got, want = got.detach().numpy(), want.detach().numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


CASES = [  # (m, k, n), input's shape (row: [N], full: [M, N], col: [M, 1], scalar: []), beta, alpha
    ((63, 64, 65), "row", 1, 1),
    ((64, 63, 64), "full", 0.5, -2.0),
    ((65, 65, 63), "col", 1, 1),
    ((65, 64, 63), "scalar", 0.5, -2.0),
    ((1, 7, 5), "row", 0.5, -2.0),
    ((6, 5, 1), "full", 1, 1),
    ((6, 5, 1), "row", 1, 1),
    ((1, 1, 1), "scalar", 1, 1),
    ((3, 0, 4), "full", 0.5, -2.0),
    ((0, 4, 3), "row", 1, 1),
    ((4, 3, 0), "col", 1, 1),
]


@pytest.mark.parametrize("mkn, ishape, beta, alpha", CASES)
def test_addmm_matches_pytorch_values_and_grads(device, mkn, ishape, beta, alpha):
    m, k, n = mkn
    shape = {"row": (n,), "full": (m, n), "col": (m, 1), "scalar": ()}[ishape]
    (i, pi), (a, pa), (b, pb) = (_pair(_np(s, seed), device) for seed, s in enumerate([shape, (m, k), (k, n)]))
    y = torch.addmm(i, a, b, beta=beta, alpha=alpha)
    want = pt.addmm(pi, pa, pb, beta=beta, alpha=alpha)
    assert y.dtype == torch.float32 and tuple(y.shape) == tuple(want.shape)
    _close(y, want)
    g = _np(tuple(want.shape), 9)
    y.backward(torch.tensor(g, device=device))
    want.backward(pt.tensor(g))
    for t, p in ((i, pi), (a, pa), (b, pb)):
        _close(t.grad, p.grad)


@pytest.mark.parametrize("mkn", [(63, 64, 65), (5, 9, 1), (1, 9, 5)])
def test_addmm_is_the_separate_ops_bit_for_bit_in_one_dispatch(wgpu_device, mkn):
    m, k, n = mkn
    i, a, b = (torch.tensor(_np(s, seed), device="wgpu") for seed, s in enumerate([(n,), (m, k), (k, n)]))
    _same_bits(torch.addmm(i, a, b), a @ b + i)
    _same_bits(torch.addmm(i, a, b, beta=0.5, alpha=3.0), (a @ b) * 3.0 + i * 0.5)
    g = torch.wgpu.Graph(fuse=False)  # records eager's dispatches as they are
    with torch.wgpu.graph(g):
        torch.addmm(i, a, b)
    assert g.num_dispatches == 1


def test_addmm_non_contiguous_operands(device):
    a0, b0, i0 = _np((9, 65), 1), _np((36, 9), 2), _np((8, 128), 3)
    a, b, i = (torch.tensor(x, device=device) for x in (a0, b0, i0))
    pa, pb, pi = (pt.tensor(x) for x in (a0, b0, i0))
    # mat1 transposed, mat2 a strided slice, input a transposed column slice
    got = torch.addmm(i.t()[::2], a.t()[1:], b[::4, 1:])
    want = pt.addmm(pi.t()[::2], pa.t()[1:], pb[::4, 1:])
    _close(got, want)


def test_addmm_nan_inf_in_input_and_product(device):
    a0, b0, i0 = _np((4, 3), 1), _np((3, 5), 2), _np((5,), 3)
    a0[0, 0], b0[1, 2], i0[3] = np.nan, np.inf, -np.inf
    got = torch.addmm(*(torch.tensor(x, device=device) for x in (i0, a0, b0)))
    _close(got, pt.addmm(pt.tensor(i0), pt.tensor(a0), pt.tensor(b0)))
    # beta=0 ignores input, NaN included (PyTorch)
    i0[:] = np.nan
    got = torch.addmm(*(torch.tensor(x, device=device) for x in (i0, a0, b0)), beta=0)
    _close(got, pt.addmm(pt.tensor(i0), pt.tensor(a0), pt.tensor(b0), beta=0))


def test_addmm_float16(device):
    a0, b0, i0 = _np((33, 65), 1, np.float16), _np((65, 17), 2, np.float16), _np((17,), 3, np.float16)
    a, b, i = (torch.tensor(x, device=device) for x in (a0, b0, i0))
    got = torch.addmm(i, a, b)
    assert got.dtype == torch.float16
    _close(got, pt.addmm(pt.tensor(i0), pt.tensor(a0), pt.tensor(b0)), np.float16)
    if device == "wgpu":  # the epilogue rounds the product to float16 before the add, as the separate ops do
        _same_bits(got, a @ b + i)


def test_addmm_errors_match_pytorch(device):
    a, b = torch.ones(2, 3, device=device), torch.ones(3, 4, device=device)
    pa, pb = pt.ones(2, 3), pt.ones(3, 4)
    cases = [
        (torch.ones(3, device=device), a, b, pt.ones(3), pa, pb),  # input does not broadcast
        (torch.ones(4, device=device), a, a, pt.ones(4), pa, pa),  # product's shapes
        (torch.ones(4, device=device, dtype=torch.float16), a, b, pt.ones(4, dtype=pt.float16), pa, pb),  # dtypes
    ]
    for i, x, y, pi, px, py in cases:
        with pytest.raises(Exception) as want:
            pt.addmm(pi, px, py)
        with pytest.raises(want.type):
            torch.addmm(i, x, y)


@pytest.mark.parametrize("lead", [(63,), (65,), (1,), (0,), (2, 3)])
def test_linear_with_bias_matches_pytorch(device, lead):
    (x, px), (w, pw), (b, pb) = (_pair(_np(s, seed), device) for seed, s in enumerate([(*lead, 33), (65, 33), (65,)]))
    y = torch.nn.functional.linear(x, w, b)
    want = pt.nn.functional.linear(px, pw, pb)
    _close(y, want)
    g = _np(tuple(want.shape), 7)
    y.backward(torch.tensor(g, device=device))
    want.backward(pt.tensor(g))
    for t, p in ((x, px), (w, pw), (b, pb)):
        _close(t.grad, p.grad)


def test_linear_with_bias_is_one_dispatch_non_contiguous_and_float16(wgpu_device):
    x0, w0, b0 = _np((40, 9), 1), _np((7, 9), 2), _np((14,), 3)
    x, w, b = (torch.tensor(v, device="wgpu") for v in (x0, w0, b0))
    got = torch.nn.functional.linear(x[::2], w, b[::2])  # sliced input rows, strided bias
    _same_bits(got, x[::2] @ w.t() + b[::2])
    _close(got, pt.nn.functional.linear(pt.tensor(x0)[::2], pt.tensor(w0), pt.tensor(b0)[::2]))
    g = torch.wgpu.Graph(fuse=False)
    with torch.wgpu.graph(g):
        torch.nn.functional.linear(x, w, b[:7])
    assert g.num_dispatches == 1
    h = [v.astype(np.float16) for v in (x0, w0, b0[:7])]
    got = torch.nn.functional.linear(*(torch.tensor(v, device="wgpu") for v in h))
    _close(got, pt.nn.functional.linear(*(pt.tensor(v) for v in h)), np.float16)


def test_k_longer_than_the_loop_budget_adds_after_the_slices(wgpu_device):
    a0, b0, i0 = _np((2, 33000), 1), _np((33000, 3), 2), _np((3,), 3)
    got = torch.addmm(*(torch.tensor(x, device="wgpu") for x in (i0, a0, b0)), alpha=0.5)
    want = pt.addmm(pt.tensor(i0), pt.tensor(a0), pt.tensor(b0), alpha=0.5)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-3)


# -- graph fusion: elementwise ops after a matmul folded into its store ------------------------------
def _capture(fn, *args):
    g = torch.wgpu.Graph()
    with torch.wgpu.graph(g):
        out = fn(*args)
    return g, out


@pytest.mark.parametrize("m, n", [(1, 64), (63, 65), (64, 1), (65, 64)])
def test_linear_relu_captured_is_one_dispatch_and_replays_as_eager(wgpu_device, m, n):
    def fn(x, w, b):
        return torch.relu(torch.nn.functional.linear(x, w, b))

    x0 = _np((m, 17), 1)
    x0[0, 0] = np.nan
    x, w, b = (
        torch.tensor(x0, device="wgpu"),
        torch.tensor(_np((n, 17), 2), device="wgpu"),
        torch.tensor(_np(n, 3), device="wgpu"),
    )
    g, y = _capture(fn, x, w, b)
    assert g.num_dispatches == 1 and g.fusion_stats["epilogues"] == 1
    for seed in (4, 5):
        x.copy_(torch.tensor(_np((m, 17), seed), device="wgpu"))
        g.replay()
        _same_bits(y, fn(x, w, b))
        _close(y, pt.relu(pt.nn.functional.linear(*(pt.tensor(t.numpy()) for t in (x, w, b)))))


def test_chain_of_ops_with_scalars_and_gelu_folds(wgpu_device):
    def fn(x, w):
        return torch.nn.functional.gelu((x @ w) * 2.0 + 1.0).tanh()

    x, w = torch.tensor(_np((65, 9), 1), device="wgpu"), torch.tensor(_np((9, 63), 2), device="wgpu")
    g, y = _capture(fn, x, w)
    assert g.num_dispatches == 1 and g.fusion_stats["epilogues"] == 1 and g.fusion_stats["fused_ops"] == 4
    x.copy_(torch.tensor(_np((65, 9), 3), device="wgpu"))
    g.replay()
    _same_bits(y, fn(x, w))
    px, pw = pt.tensor(x.numpy()), pt.tensor(w.numpy())
    _close(y, pt.nn.functional.gelu((px @ pw) * 2.0 + 1.0).tanh())


def test_in_place_relu_on_the_product_folds(wgpu_device):
    def fn(x, w, b):
        return torch.addmm(b, x, w).relu_()

    x, w, b = (torch.tensor(_np(s, i), device="wgpu") for i, s in enumerate([(64, 8), (8, 64), (64,)]))
    g, y = _capture(fn, x, w, b)
    assert g.num_dispatches == 1
    x.copy_(torch.tensor(_np((64, 8), 7), device="wgpu"))
    g.replay()
    _same_bits(y, fn(x, w, b))


def test_product_read_later_is_kept_and_training_step_replays_as_eager(wgpu_device):
    """ReLU's backward reads its input (the product): the fold stores both; grads equal eager's."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(31, 65).to("wgpu")
    x = torch.tensor(_np((63, 31), 1), device="wgpu")

    def step():
        lin.zero_grad(set_to_none=False)
        loss = torch.relu(lin(x)).sum()
        loss.backward()
        return loss

    step()
    g, loss = _capture(step)
    assert g.fusion_stats["epilogues"] == 1
    x.copy_(torch.tensor(_np((63, 31), 2), device="wgpu"))
    g.replay()
    got = [lin.weight.grad.numpy().copy(), lin.bias.grad.numpy().copy(), loss.detach().numpy().copy()]
    want_loss = step()
    for a, b in zip(got, [lin.weight.grad.numpy(), lin.bias.grad.numpy(), want_loss.detach().numpy()]):
        np.testing.assert_array_equal(a, b)
    pl = pt.nn.Linear(31, 65)
    with pt.no_grad():
        pl.weight.copy_(pt.tensor(lin.weight.detach().numpy()))
        pl.bias.copy_(pt.tensor(lin.bias.detach().numpy()))
    pt.relu(pl(pt.tensor(x.numpy()))).sum().backward()
    _close(lin.weight.grad, pl.weight.grad)
    _close(lin.bias.grad, pl.bias.grad)


def test_ops_reading_other_tensors_or_other_elements_are_not_folded(wgpu_device):
    x, w, z = (torch.tensor(_np(s, i), device="wgpu") for i, s in enumerate([(8, 5), (5, 8), (8, 8)]))

    def other_tensor(x, w, z):
        return (x @ w) * z

    def other_element(x, w, z):
        p = x @ w
        return p + p.t()

    for fn in (other_tensor, other_element):
        g, y = _capture(fn, x, w, z)
        assert g.fusion_stats["epilogues"] == 0 and g.num_dispatches == 2
        x.copy_(torch.tensor(_np((8, 5), 9), device="wgpu"))
        g.replay()
        _same_bits(y, fn(x, w, z))


def _bias_relu(x, w, b):
    return (x @ w + b).relu()


BIAS_CASES = [  # (x, w, b) shapes, b's view, dtype: the separate add folded as the matmul's bias
    ((9, 5), (5, 7), (7,), None, np.float32),
    ((9, 5), (5, 7), (7,), None, np.float16),
    ((65, 17), (17, 63), (65, 1), None, np.float32),
    ((9, 5), (5, 7), (7, 9), "t", np.float32),  # a transposed full-size bias
    ((9, 5), (5, 1), (9, 1), None, np.float32),  # a matrix-vector product (the kernel swaps its operands)
    ((3, 4, 5), (3, 5, 6), (3, 1, 6), None, np.float16),  # batched, a bias per batch
    ((1, 9), (9, 64), (), None, np.float32),  # a 0-d bias
]


@pytest.mark.parametrize("sx, sw, sb, view, dtype", BIAS_CASES)
def test_separate_bias_add_and_relu_fold_into_one_dispatch(wgpu_device, sx, sw, sb, view, dtype):
    x, w, b = (torch.tensor(_np(s, i, dtype), device="wgpu") for i, s in enumerate([sx, sw, sb]))
    if view == "t":
        b = b.t()
    g, y = _capture(_bias_relu, x, w, b)
    assert g.num_dispatches == 1 and g.fusion_stats["epilogues"] == 1 and g.fusion_stats["fused_ops"] == 2
    new = _np(sx, 9, dtype)
    new.flat[0] = np.nan
    x.copy_(torch.tensor(new, device="wgpu"))
    g.replay()
    _same_bits(y, _bias_relu(x, w, b))  # eager: the matmul, the add and the relu as three kernels
    _close(y, _bias_relu(*(pt.tensor(t.numpy()) for t in (x, w, b))), dtype)


def test_bias_first_and_a_chain_after_it_fold(wgpu_device):
    def fn(x, w, b):
        return (b + x @ w).tanh() * 0.1  # the bias on the left; a float16-inexact scalar after

    for dtype in (np.float32, np.float16):
        x, w, b = (torch.tensor(_np(s, i, dtype), device="wgpu") for i, s in enumerate([(33, 8), (8, 31), (31,)]))
        g, y = _capture(fn, x, w, b)
        assert g.num_dispatches == 1 and g.fusion_stats["fused_ops"] == 3
        x.copy_(torch.tensor(_np((33, 8), 5, dtype), device="wgpu"))
        g.replay()
        _same_bits(y, fn(x, w, b))
        _close(y, fn(*(pt.tensor(t.numpy()) for t in (x, w, b))), dtype)


def test_bias_is_not_folded_where_the_bare_product_is_read_later_or_is_the_addend(wgpu_device):
    x, w, b = (torch.tensor(_np(s, i), device="wgpu") for i, s in enumerate([(8, 5), (5, 8), (8,)]))

    def product_kept(x, w, b):
        p = x @ w
        return p + b, p * 2  # p is read after the add: it must be stored as it is

    def product_twice(x, w, b):
        p = x @ w
        return p + p.t()  # the addend is the product itself (another element of it)

    for fn, dispatches in ((product_kept, 2), (product_twice, 2)):  # (the add and the mul fuse)
        g, ys = _capture(fn, x, w, b)
        assert g.fusion_stats["epilogues"] == 0 and g.num_dispatches == dispatches
        x.copy_(torch.tensor(_np((8, 5), 9), device="wgpu"))
        g.replay()
        for got, want in zip(ys if isinstance(ys, tuple) else (ys,), (fn(x, w, b),) if not isinstance(ys, tuple)
                             else fn(x, w, b)):
            _same_bits(got, want)


def test_separate_bias_training_step_replays_as_eager_and_pytorch(wgpu_device):
    """ReLU's backward reads the bias add's output: the fold stores it (C moved there) and the ReLU's."""
    w = torch.tensor(_np((31, 65), 1), device="wgpu", requires_grad=True)
    b = torch.tensor(_np((65,), 2), device="wgpu", requires_grad=True)
    x = torch.tensor(_np((63, 31), 3), device="wgpu")

    def step():
        w.grad = b.grad = None
        loss = (x @ w + b).relu().square().sum()
        loss.backward()
        return loss

    step()
    g, loss = _capture(step)
    assert g.fusion_stats["epilogues"] >= 1
    x.copy_(torch.tensor(_np((63, 31), 4), device="wgpu"))
    g.replay()
    got = [w.grad.numpy().copy(), b.grad.numpy().copy(), loss.detach().numpy().copy()]
    want = step()
    for a, e in zip(got, [w.grad.numpy(), b.grad.numpy(), want.detach().numpy()]):
        np.testing.assert_array_equal(a, e)
    pw, pb = (pt.tensor(t.detach().numpy(), requires_grad=True) for t in (w, b))
    (pt.tensor(x.numpy()) @ pw + pb).relu().square().sum().backward()
    _close(w.grad, pw.grad)
    _close(b.grad, pb.grad)


def test_float16_chain_folds_as_the_separate_kernels_round(wgpu_device):
    def fn(a, b):
        return ((a @ b) * 0.1).relu() + 1.0

    x, w = (torch.tensor(_np(s, i, np.float16), device="wgpu") for i, s in enumerate([(9, 5), (5, 7)]))
    g, y = _capture(fn, x, w)
    assert g.fusion_stats["epilogues"] == 1 and g.num_dispatches == 1
    x.copy_(torch.tensor(_np((9, 5), 6, np.float16), device="wgpu"))
    g.replay()
    assert y.dtype == torch.float16
    _same_bits(y, fn(x, w))
    _close(y, fn(pt.tensor(x.numpy()), pt.tensor(w.numpy())), np.float16)
    plain = torch.wgpu.Graph(fuse=False)
    with torch.wgpu.graph(plain):
        y2 = fn(x, w)
    plain.replay()
    _same_bits(y, y2)


def test_float16_training_step_with_linear_relu_replays_as_eager(wgpu_device):
    torch.manual_seed(0)
    lin = torch.nn.Linear(17, 33).to("wgpu").half()
    x = torch.tensor(_np((9, 17), 1, np.float16), device="wgpu")

    def step():
        lin.zero_grad(set_to_none=False)
        loss = torch.relu(lin(x)).float().sum()
        loss.backward()
        return loss

    step()
    g, loss = _capture(step)
    assert g.fusion_stats["epilogues"] >= 1
    x.copy_(torch.tensor(_np((9, 17), 2, np.float16), device="wgpu"))
    g.replay()
    got = [lin.weight.grad.numpy().copy(), lin.bias.grad.numpy().copy(), loss.detach().numpy().copy()]
    want_loss = step()
    for a, b in zip(got, [lin.weight.grad.numpy(), lin.bias.grad.numpy(), want_loss.detach().numpy()]):
        np.testing.assert_array_equal(a, b)
