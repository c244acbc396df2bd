"""`wgtorch.wgpu.make_graphed_callables` (PyTorch's torch.cuda.make_graphed_callables): forward and
backward replay captured wgpu graphs through an autograd Function.

wgpu only (graphs record the wgpu runtime's work; cpu sample arguments are refused, tested here).
PyTorch is the oracle for values and gradients; eager wgtorch for bit-level training equality."""

from __future__ import annotations

import numpy as np
import pytest
import torch as pt

import wgtorch as torch

pytestmark = pytest.mark.usefixtures("wgpu_device")


def _w(a, **kw):
    return torch.tensor(np.asarray(a, np.float32), device="wgpu", **kw)


def _mlp(seed=0, n_in=20):
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Linear(n_in, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5)).to("wgpu")
    return m, torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)


def _pt_copy(m):
    ref = pt.nn.Sequential(pt.nn.Linear(m[0].in_features, 16), pt.nn.ReLU(), pt.nn.Linear(16, 5))
    with pt.no_grad():
        for p, q in zip(ref.parameters(), m.parameters()):
            p.copy_(pt.from_numpy(q.detach().numpy()))
    return ref, pt.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)


def _batches(n, rows, n_in=20):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((rows, n_in), np.float32), rng.integers(0, 5, rows)) for _ in range(n)]


def _train(model, opt, batches):
    for xb, yb in batches:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(_w(xb)), torch.tensor(yb, device="wgpu")).backward()
        opt.step()
    return [p.detach().numpy() for p in opt.param_groups[0]["params"]]


def test_graphed_mlp_trains_like_eager_and_like_pytorch():
    rows = 65  # past a 64-wide workgroup
    batches = _batches(4, rows)
    eager = _train(*_mlp(), batches)

    model, opt = _mlp()
    ref, ref_opt = _pt_copy(model)
    graphed = torch.wgpu.make_graphed_callables(model, (torch.zeros(rows, 20, device="wgpu"),))
    assert graphed is model  # a module is graphed in place, as in PyTorch
    cap = model.forward._captured
    assert cap.fwd.num_dispatches > 0 and cap.bwd.num_dispatches > 0
    got = _train(graphed, opt, batches)
    for a, b in zip(got, eager):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)  # the same kernels on the same data
    for xb, yb in batches:
        ref_opt.zero_grad()
        pt.nn.functional.cross_entropy(ref(pt.from_numpy(xb)), pt.from_numpy(yb)).backward()
        ref_opt.step()
    for a, p in zip(got, ref.parameters()):
        np.testing.assert_allclose(a, p.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_graphed_function_gradients_match_pytorch_and_accumulate():
    rng = np.random.default_rng(3)
    a0, b0 = rng.standard_normal((63, 7), np.float32), rng.standard_normal((7, 65), np.float32)

    def f(a, b):
        h = (a @ b).tanh()
        return h.sum(), h * 2  # a 0-d output and a matrix

    a, b = _w(a0, requires_grad=True), _w(b0, requires_grad=True)
    g = torch.wgpu.make_graphed_callables(f, (a, b))
    x, y = _w(a0 + 1, requires_grad=True), _w(b0 - 1, requires_grad=True)
    for _ in range(2):  # two backwards: .grad accumulates
        s, m = g(x, y)
        assert s.shape == () and s.grad_fn is not None
        (s + (m * m).mean()).backward()
    px, py = pt.tensor(a0 + 1, requires_grad=True), pt.tensor(b0 - 1, requires_grad=True)
    for _ in range(2):
        h = (px @ py).tanh()
        (h.sum() + ((h * 2) ** 2).mean()).backward()
    np.testing.assert_allclose(s.item(), h.sum().item(), rtol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), px.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y.grad.numpy(), py.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_non_contiguous_arguments_are_copied_in():
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((9, 4), np.float32)
    w = _w(w0, requires_grad=True)
    g = torch.wgpu.make_graphed_callables(lambda x, v: x @ v, (torch.zeros(5, 9, device="wgpu"), w))
    base = rng.standard_normal((9, 5), np.float32)
    out = g(_w(base).t(), w)  # a transposed view
    np.testing.assert_allclose(out.detach().numpy(), base.T @ w0, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.repeat(base.T.sum(0)[:, None], 4, 1), rtol=1e-5, atol=1e-5)


def test_tuple_of_callables_chained_trains_like_eager():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(6, 8).to("wgpu"), torch.nn.Linear(8, 3).to("wgpu")
    params0 = [p.detach().clone() for p in (*a.parameters(), *b.parameters())]
    rng = np.random.default_rng(5)
    data = [rng.standard_normal((4, 6), np.float32) for _ in range(2)]

    def run(f, g, params):
        opt = torch.optim.SGD(params, lr=0.05)
        for d in data:
            opt.zero_grad()
            (g(f(_w(d)).relu()) ** 2).mean().backward()
            opt.step()
        return [p.detach().numpy() for p in params]

    eager = run(a, b, [*a.parameters(), *b.parameters()])
    with torch.no_grad():
        for p, p0 in zip((*a.parameters(), *b.parameters()), params0):
            p.copy_(p0)
    x = torch.zeros(4, 6, device="wgpu")
    h = torch.zeros(4, 8, device="wgpu", requires_grad=True)  # the second one's input needs grad
    ga, gb = torch.wgpu.make_graphed_callables((a, b), ((x,), (h,)))
    got = run(ga, gb, [*a.parameters(), *b.parameters()])
    for u, v in zip(got, eager):
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-6)


def test_outputs_alias_static_memory_overwritten_by_the_next_call():
    g = torch.wgpu.make_graphed_callables(lambda x: x * 3, (torch.zeros(4, device="wgpu", requires_grad=True),))
    first = g(_w([1, 2, 3, 4]))
    g(_w([0, 0, 0, 1]))
    assert first.tolist() == [0.0, 0.0, 0.0, 3.0]  # PyTorch's rule too: clone what you keep


def test_eval_mode_runs_the_original_forward():
    model, _ = _mlp()
    torch.wgpu.make_graphed_callables(model, (torch.zeros(8, 20, device="wgpu"),))
    model.eval()
    x = _w(np.ones((3, 20)))  # another shape: only the original forward accepts it
    with torch.no_grad():
        y = model(x)
    assert y.shape == (3, 5)
    model.train()
    with pytest.raises(RuntimeError, match="captured with shape"):
        model(x)


def test_wrong_arguments_raise():
    g = torch.wgpu.make_graphed_callables(lambda x: x + 1, (torch.zeros(2, 3, device="wgpu"),))
    with pytest.raises(RuntimeError, match=r"shape \[1, 3\].*captured with shape \[2, 3\]"):
        g(torch.zeros(1, 3, device="wgpu"))  # copy_ would broadcast: refused
    with pytest.raises(RuntimeError, match="dtype"):
        g(torch.zeros(2, 3, device="wgpu", dtype=torch.int32))
    with pytest.raises(TypeError, match="1 tensor argument"):
        g(torch.zeros(2, 3, device="wgpu"), torch.zeros(2, 3, device="wgpu"))
    with pytest.raises(TypeError, match="must be a Tensor"):
        g("x")


def test_bad_setups_raise():
    lin = torch.nn.Linear(3, 2).to("wgpu")
    x = torch.zeros(2, 3, device="wgpu")
    with pytest.raises(RuntimeError, match="wgpu tensors"):
        torch.wgpu.make_graphed_callables(lambda t: t * 2, (torch.zeros(2),))
    with pytest.raises(TypeError, match="only Tensors"):
        torch.wgpu.make_graphed_callables(lambda t, k: t * k, (x, 2.0))
    with pytest.raises(TypeError, match="tuple"):
        torch.wgpu.make_graphed_callables(lin, x)
    with pytest.raises(NotImplementedError, match="pool"):
        torch.wgpu.make_graphed_callables(lin, (x,), pool=object())
    h = lin.register_forward_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="hooks"):
        torch.wgpu.make_graphed_callables(lin, (x,))
    h.remove()
    with pytest.raises(RuntimeError, match="reading a tensor.*not allowed while capturing"):
        torch.wgpu.make_graphed_callables(lambda t: t * (t.sum().item()), (x,), num_warmup_iters=0)
    assert (x + 1).sum().item() == 6.0  # the device keeps working


def test_unused_inputs_need_allow_unused_input():
    x = torch.zeros(5, device="wgpu", requires_grad=True)
    u = torch.zeros(5, device="wgpu", requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        torch.wgpu.make_graphed_callables(lambda a, b: a * 2, (x, u))
    g = torch.wgpu.make_graphed_callables(lambda a, b: a * 2, (x, u), allow_unused_input=True)
    a, b = _w(np.arange(5), requires_grad=True), _w(np.ones(5), requires_grad=True)
    g(a, b).sum().backward()
    assert a.grad.tolist() == [2.0] * 5 and b.grad is None
