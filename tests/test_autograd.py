"""Autograd: the engine's rules and errors, and the gradient of every pointwise and view op
(checked against float64 finite differences of the NumPy reference), on cpu and wgpu."""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch as torch
from tests.helpers import assert_close, rand
from wgtorch.ops.pointwise import pointwise


def numeric_grad(f, x, eps=1e-6):
    """d sum(f(x) * w) / dx in float64, w fixed random weights."""
    x = x.astype(np.float64)
    w = np.random.default_rng(0).standard_normal(np.shape(f(x)))
    g = np.zeros_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[i] += eps
        xm.flat[i] -= eps
        g.flat[i] = ((f(xp) * w).sum() - (f(xm) * w).sum()) / (2 * eps)
    return g, w


def check_grad(device, fn_torch, fn_np, x, rtol=2e-3, atol=2e-4):
    expected, w = numeric_grad(fn_np, x)
    t = torch.tensor(x, device=device, requires_grad=True)
    out = fn_torch(t)
    (out * torch.tensor(w.astype(np.float32), device=device)).sum().backward()
    assert_close(t.grad, expected.astype(np.float32), rtol=rtol, atol=atol)


POSITIVE = {"log", "sqrt", "rsqrt", "reciprocal", "log1p"}
UNARY_NP = {
    "neg": np.negative, "abs": np.abs, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x), "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0),
    "reciprocal": lambda x: 1 / x, "square": np.square, "log1p": np.log1p, "expm1": np.expm1,
    "silu": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(__import__("math").erf)(x / np.sqrt(2))),
    "erf": np.vectorize(__import__("math").erf),
}


@pytest.mark.parametrize("op", sorted(UNARY_NP))
def test_unary_gradients(device, op):
    x = rand(2, 5, seed=1, low=0.3, high=2.0) if op in POSITIVE else rand(2, 5, seed=1, low=-2, high=2)
    x[np.abs(x) < 0.05] = 0.3  # keep finite differences away from kinks
    check_grad(device, lambda t: pointwise(op, t), UNARY_NP[op], x)


def test_parametrised_activation_gradients(device):
    x = rand(7, seed=2, low=-3, high=3)
    check_grad(device, lambda t: pointwise("leaky_relu", t, 0.2), lambda v: np.where(v >= 0, v, 0.2 * v), x)
    check_grad(device, lambda t: pointwise("elu", t, 1.5), lambda v: np.where(v > 0, v, 1.5 * np.expm1(v)), x)
    check_grad(device, lambda t: pointwise("softplus", t, 2.0, 20.0), lambda v: np.log1p(np.exp(2 * v)) / 2, x)
    check_grad(device, lambda t: t.clamp(-1, 1), lambda v: np.clip(v, -1, 1), x)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2"])
def test_binary_gradients_with_broadcasting(device, op):
    a, b = rand(3, 4, seed=3, low=0.5, high=2), rand(4, seed=4, low=0.5, high=2.5)
    fns = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
           "maximum": np.maximum, "minimum": np.minimum, "atan2": np.arctan2}
    ta = torch.tensor(a, device=device, requires_grad=True)
    tb = torch.tensor(b, device=device, requires_grad=True)
    pointwise(op, ta, tb).sum().backward()
    ga, _ = numeric_grad(lambda v: fns[op](v, b), a)
    gb, _ = numeric_grad(lambda v: fns[op](a, v), b)
    # numeric_grad weights by random w; redo with unit weights for a plain sum.
    ga = np.array([(fns[op](a + e, b) - fns[op](a - e, b)).sum() / 2e-6
                   for e in np.eye(a.size).reshape(a.size, *a.shape) * 1e-6]).reshape(a.shape)
    gb = np.array([(fns[op](a, b + e) - fns[op](a, b - e)).sum() / 2e-6
                   for e in np.eye(b.size).reshape(b.size, *b.shape) * 1e-6]).reshape(b.shape)
    assert_close(ta.grad, ga.astype(np.float32), rtol=2e-3, atol=2e-4)
    assert_close(tb.grad, gb.astype(np.float32), rtol=2e-3, atol=2e-4)


def test_scalar_operands_and_where_and_lerp(device):
    x = rand(6, seed=5, low=0.5, high=2)
    check_grad(device, lambda t: 3 / t - t ** 3 + 2 ** t, lambda v: 3 / v - v ** 3 + 2 ** v, x)
    check_grad(device, lambda t: torch.where(t > 1, t * t, -t), lambda v: np.where(v > 1, v * v, -v), x)
    y = rand(6, seed=6)
    check_grad(device, lambda t: t.lerp(torch.tensor(y, device=device), 0.3), lambda v: v + 0.3 * (y - v), x)


def test_maximum_splits_ties_like_pytorch(device):
    a = torch.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    b = torch.tensor([1.0, 5.0, 0.0], device=device, requires_grad=True)
    torch.maximum(a, b).sum().backward()
    assert_close(a.grad, [0.5, 0.0, 1.0])
    assert_close(b.grad, [0.5, 1.0, 0.0])


def test_view_gradients(device):
    x = rand(3, 4, seed=7)
    check_grad(device, lambda t: t.T.reshape(2, 6) * 2, lambda v: v.T.reshape(2, 6) * 2, x)
    check_grad(device, lambda t: t[1:, ::2].exp(), lambda v: np.exp(v[1:, ::2]), x)
    check_grad(device, lambda t: t.permute(1, 0)[2], lambda v: v.transpose(1, 0)[2], x)
    check_grad(device, lambda t: t[:, :1].expand(3, 5) * t[:, 1:2],
               lambda v: np.broadcast_to(v[:, :1], (3, 5)) * v[:, 1:2], x)
    check_grad(device, lambda t: torch.cat([t, t * 2], 1), lambda v: np.concatenate([v, v * 2], 1), x)
    check_grad(device, lambda t: torch.stack([t[0], t[2]]), lambda v: np.stack([v[0], v[2]]), x)
    check_grad(device, lambda t: t.split(1, 1)[2] * t.chunk(2, 0)[0][:1], lambda v: v[:, 2:3] * v[:1, :], x)
    check_grad(device, lambda t: t.unsqueeze(0).squeeze(0).flatten() ** 2, lambda v: v.reshape(-1) ** 2, x)


def test_cast_and_device_move_gradients(device):
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x.to("cpu") * 3
    y.sum().backward()
    assert x.grad.device == x.device
    assert_close(x.grad, [3.0, 3.0])


def test_accumulation_retain_graph_and_errors(device):
    x = torch.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, 4 * np.array([1, 2, 3], np.float32))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.ones(2, device=device).sum().backward()
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        torch.ones(2, dtype=torch.int64, device=device).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    x.grad = None
    (x * 2).backward(torch.tensor([1.0, 0.0, 2.0], device=device))
    assert_close(x.grad, [2.0, 0.0, 4.0])


def test_autograd_grad_and_retain_grad(device):
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x * 3
    h.retain_grad()
    y = (h * h).sum()
    (gx,) = torch.autograd.grad(y, x, retain_graph=True)
    assert_close(gx, 18 * np.array([1, 2], np.float32))
    assert x.grad is None  # grad() returns, it doesn't accumulate
    y.backward()
    assert_close(h.grad, 2 * np.array([3, 6], np.float32))
    z = torch.tensor([1.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used in the graph"):
        torch.autograd.grad((x * 2).sum(), [x, z])
    assert torch.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)[1] is None


def test_higher_order_with_create_graph(device):
    x = torch.tensor([2.0], device=device, requires_grad=True)
    (g,) = torch.autograd.grad(x ** 3, x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    assert_close(gg, [12.0])


def test_grad_modes(device):
    x = torch.ones(2, device=device, requires_grad=True)
    with torch.no_grad():
        assert not (x * 2).requires_grad
        with torch.enable_grad():
            assert (x * 2).requires_grad
    with torch.inference_mode():
        assert not (x * 2).requires_grad
    torch.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        torch.set_grad_enabled(True)

    @torch.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad and (x * 2).requires_grad
    assert not x.detach().requires_grad and x.is_leaf and not (x * 2).is_leaf
    assert "grad_fn=<PointwiseBackward>" in repr(x * 2)


def test_custom_function(device):
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    x = torch.tensor([1.0, -2.0], device=device, requires_grad=True)
    y = Cube.apply(x)
    assert not y.is_leaf
    y.sum().backward()
    assert_close(x.grad, [3.0, 12.0])
    assert torch.autograd.gradcheck(lambda t: Cube.apply(t) * 2, (torch.tensor([0.5, 1.5], device=device,
                                                                                requires_grad=True),))


def test_gradcheck_catches_a_wrong_backward(device):
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2 x g

    x = torch.tensor([1.0, 3.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        torch.autograd.gradcheck(Wrong.apply, (x,))
    assert not torch.autograd.gradcheck(Wrong.apply, (x,), raise_exception=False)


def test_leaf_hooks_and_in_place_on_non_leaf(device):
    seen = []
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 2
    y.add_(1)  # in place on a non-leaf rebases it onto the add
    (y * y).sum().backward()
    assert_close(x.grad, 4 * (2 * np.array([1, 2], np.float32) + 1))
    assert seen == [x.grad.tolist()]


def test_in_place_on_a_view_of_a_tensor_that_requires_grad_is_refused(device):
    x = torch.ones(3, device=device, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="view of a tensor that requires grad"):
        y[0].mul_(3)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x[1:].add_(1)
    with torch.no_grad():
        y[0].mul_(3)  # outside autograd it is just a write through the view
    assert_close(y, [6.0, 2.0, 2.0])


def test_modifying_a_saved_tensor_in_place_is_detected(device):
    x = torch.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = x.exp()  # saves its output y for backward
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    x2 = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    y2 = x2 * 1  # saves nothing it needs later... but the multiply by z below saves y2
    z = torch.tensor([3.0, 4.0], device=device, requires_grad=True)
    y2.mul_(z)  # computed from a clone: z's gradient sees y2's value before the write
    y2.sum().backward()
    assert_close(z.grad, [1.0, 2.0])
    assert_close(x2.grad, [3.0, 4.0])
    v = torch.ones(3, device=device)
    assert v._version == 0 and v.detach()._version == 0
    v[0] = 5.0
    assert v._version == 1 and v.view(3)._version == 1


def test_no_false_alarms_from_version_counters(device):
    a = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = a * 3
    s = b.sum()  # neither add/sum nor mul-by-scalar's b-side needs b's values
    c = b + 1
    b.add_(5)
    (s + c.sum()).backward()
    assert_close(a.grad, [6.0, 6.0])


def test_an_optimizer_step_invalidates_graphs_that_saved_the_parameters(device):
    w = torch.tensor([[1.0, 2.0]], device=device, requires_grad=True)
    x = torch.tensor([[3.0], [4.0]], device=device, requires_grad=True)
    loss = (w @ x).sum()
    loss.backward(retain_graph=True)
    torch.optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_post_accumulate_grad_hook_fires_before_backward_ends_and_callbacks_after(device):
    """A leaf's post-accumulate hook runs as soon as its gradient is complete, before nodes further
    down the graph run; callbacks queued from a hook run once the whole pass has finished."""
    from wgtorch.autograd.engine import queue_callback

    events = []

    class Mark(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            events.append("deep node")
            return g

    near = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    deep = torch.tensor([3.0, 4.0], device=device, requires_grad=True)

    def near_hook(t):
        events.append(("near", t.grad.tolist()))
        queue_callback(lambda: events.append(("done", near.grad.tolist(), deep.grad.tolist())))

    handle = near.register_post_accumulate_grad_hook(near_hook)
    deep.register_post_accumulate_grad_hook(lambda t: events.append("deep"))
    (Mark.apply(deep) * near).sum().backward()
    assert events == [("near", [3.0, 4.0]), "deep node", "deep", ("done", [3.0, 4.0], [1.0, 2.0])]
    handle.remove()
    events.clear()
    (Mark.apply(deep) * near).sum().backward()
    assert events == ["deep node", "deep"]
    assert near.grad.tolist() == [6.0, 8.0]


def test_leaf_used_twice_accumulates_before_its_hook(device):
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    (x * x + x * 3).sum().backward()
    assert seen == [[5.0, 7.0]]


def test_queue_callback_outside_backward_is_refused():
    from wgtorch.autograd.engine import queue_callback

    with pytest.raises(RuntimeError, match="during the backward pass"):
        queue_callback(lambda: None)
