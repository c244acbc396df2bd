"""`wgtorch.compile` over wgpu graph capture: values against eager and PyTorch on cpu and wgpu,
guards (shapes, dtypes, requires_grad, grad mode, training, argument values), whole training steps,
forward-with-autograd captures, the one-time eager fallback warning, and the cache limit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch as pt

import wgtorch as torch


def _t(a, device, **kw):
    return torch.tensor(np.asarray(a, np.float32), device=device, **kw)


def _entries(compiled):
    c = getattr(compiled, "_compiled", compiled)
    return list(c._cache.values())


def _captured(compiled) -> int:
    return sum(e.graph is not None or e.graphed is not None for e in _entries(compiled))


def _mlp(device, seed=0):
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5)).to(device)
    return m, torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)


def _batches(device, n=5, rows=8):
    rng = np.random.default_rng(1)
    return [
        (_t(rng.standard_normal((rows, 20)), device), torch.tensor(rng.integers(0, 5, rows), device=device))
        for _ in range(n)
    ]


@pytest.mark.parametrize("shape", [(3, 5), (63,), (64,), (65,), (257, 3), (0, 4), ()])
def test_inference_matches_pytorch(device, shape):
    rng = np.random.default_rng(0)

    def f(x, y):
        return (x * y).tanh() + y.exp(), x.sum()

    cf = torch.compile(f)
    for _ in range(4):  # warm-up, capture, replays
        a, b = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback warning: cpu runs eagerly, wgpu captures
            out, s = cf(_t(a, device), _t(b, device))
        ref_out, ref_s = f(pt.from_numpy(a), pt.from_numpy(b))
        np.testing.assert_allclose(out.numpy(), ref_out.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(s.numpy(), ref_s.numpy(), rtol=1e-4, atol=1e-4)
        assert out.shape == ref_out.shape and s.shape == ()
    assert _captured(cf) == (1 if device == "wgpu" else 0)  # cpu: eager (zero-size: the sum still fills 0)


def test_non_contiguous_inputs_and_kwargs(device):
    rng = np.random.default_rng(2)

    def f(x, *, scale):
        return (x @ x.t()) * scale

    cf = torch.compile(f)
    for _ in range(3):
        a = rng.standard_normal((7, 9)).astype(np.float32)
        x = _t(a, device).t()  # a transposed view
        np.testing.assert_allclose(cf(x, scale=2.0).numpy(), 2 * (a.T @ a), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cf(x, scale=3.0).numpy(), 3 * (a.T @ a), rtol=1e-4, atol=1e-4)  # guarded value
    assert len(_entries(cf)) == (2 if device == "wgpu" else 0)


def test_module_inference_and_guards(device):
    model, _ = _mlp(device)
    cm = torch.compile(model)
    assert cm._orig_mod is model and list(cm.parameters()) == list(model.parameters())
    x = _batches(device, 1)[0][0]
    with torch.no_grad():
        ref = model(x).numpy()
        for _ in range(3):
            np.testing.assert_allclose(cm(x).numpy(), ref, rtol=0, atol=1e-6)
        x65 = _batches(device, 1, rows=65)[0][0]
        for _ in range(3):  # a new shape: a new capture
            np.testing.assert_allclose(cm(x65).numpy(), model(x65).numpy(), rtol=0, atol=1e-6)
        model.eval()  # a new training flag
        cm(x), cm(x)
        cm(x.clone().requires_grad_())  # a new requires_grad (no grad mode: still a whole capture)
    out = cm(x)  # grad mode on now: a new key, outputs need a grad_fn
    assert out.requires_grad
    if device == "wgpu":
        assert len(_entries(cm)) == 5 and _captured(cm) == 3


def test_outputs_are_overwritten_by_the_next_replay(wgpu_device):
    cf = torch.compile(lambda x: x * 2)
    for _ in range(2):
        cf(_t([1, 2], "wgpu"))
    first = cf(_t([3, 4], "wgpu"))
    second = cf(_t([5, 6], "wgpu"))
    assert first is not second and second.tolist() == [10.0, 12.0]
    assert first.tolist() == [10.0, 12.0]  # reduce-overhead's rule: clone what you keep


def _step_fn(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def test_whole_training_step_matches_eager_and_pytorch(device):
    batches = _batches(device)
    model, opt = _mlp(device)
    ref = pt.nn.Sequential(pt.nn.Linear(20, 16), pt.nn.ReLU(), pt.nn.Linear(16, 5))
    with pt.no_grad():
        for p, q in zip(ref.parameters(), model.parameters()):
            p.copy_(pt.from_numpy(q.detach().numpy()))
    ref_opt = pt.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    eager_model, eager_opt = _mlp(device)
    step, eager_step = torch.compile(_step_fn(model, opt)), _step_fn(eager_model, eager_opt)
    for i, (x, y) in enumerate(batches):
        loss, eager_loss = step(x, y), eager_step(x, y)
        # captured and replayed calls return detached outputs (the warm-up call is eager)
        assert loss.requires_grad == (device == "cpu" or i == 0)
        np.testing.assert_allclose(loss.item(), eager_loss.item(), rtol=0, atol=1e-6)
        ref_opt.zero_grad()
        pt.nn.functional.cross_entropy(ref(pt.from_numpy(x.numpy())), pt.from_numpy(y.numpy())).backward()
        ref_opt.step()
    for a, b, r in zip(model.parameters(), eager_model.parameters(), ref.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(a.detach().numpy(), r.detach().numpy(), rtol=1e-4, atol=1e-5)
    if device == "wgpu":
        assert _entries(step)[0].kind == "step" and _captured(step) == 1


@pytest.mark.parametrize("dynamic", [None, True, False])
def test_alternating_batch_sizes_get_a_graph_each_and_match_eager(wgpu_device, dynamic):
    """PyTorch's user-visible behaviour with changing shapes: every call gives the eager values; here a
    new shape signature gets its own capture (``dynamic`` accepted: shapes are always specialised),
    each replayed from its third call on, with no warning and no fallback below the cache limit."""
    model, opt = _mlp("wgpu")
    eager_model, eager_opt = _mlp("wgpu")
    step, eager_step = torch.compile(_step_fn(model, opt), dynamic=dynamic), _step_fn(eager_model, eager_opt)
    small, large = _batches("wgpu", 3, rows=8), _batches("wgpu", 3, rows=13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        for i in range(6):
            x, y = (small if i % 2 == 0 else large)[i // 2]
            loss, eager_loss = step(x, y), eager_step(x, y)
            assert loss.shape == () and abs(loss.item() - eager_loss.item()) <= 1e-6
            for a, b in zip(model.parameters(), eager_model.parameters()):
                np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=1e-6)
    entries = _entries(step)
    assert len(entries) == 2 and _captured(step) == 2 and not any(e.eager for e in entries)
    assert [(e.calls, e.replays) for e in entries] == [(2, 1), (2, 1)]  # warm-up, capture, one replay each
    assert all(e.graph.num_dispatches > 0 for e in entries)


def test_compiled_forward_trains_through_autograd(device):
    batches = _batches(device, 4)
    model, opt = _mlp(device)
    eager_model, eager_opt = _mlp(device)
    cm = torch.compile(model)
    for x, y in batches:
        for m, o in ((cm, opt), (eager_model, eager_opt)):
            o.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            o.step()
    for a, b in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=1e-6)
    if device == "wgpu":
        assert _entries(cm)[0].kind == "autograd" and _captured(cm) == 1


def test_gradients_reach_arguments_that_require_grad(wgpu_device):
    rng = np.random.default_rng(3)
    cf = torch.compile(lambda a, b: (a * b).sin().sum())
    for _ in range(3):
        a0, b0 = rng.standard_normal(65).astype(np.float32), rng.standard_normal(65).astype(np.float32)
        a, b = _t(a0, "wgpu", requires_grad=True), _t(b0, "wgpu", requires_grad=True)
        cf(a, b).backward()
        pa, pb = pt.tensor(a0, requires_grad=True), pt.tensor(b0, requires_grad=True)
        (pa * pb).sin().sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), pa.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(b.grad.numpy(), pb.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert _captured(cf) == 1


@pytest.mark.parametrize(
    "body, why",
    [
        (lambda x: x * 2 + (1 if (x.sum() > 0).item() else -1), "reading a tensor"),
        (lambda x: (x * 2, str(x)), "reading a tensor"),
        (lambda x: x + torch.tensor([1.0, 2.0, 3.0], device="wgpu"), "uploading host data"),
        (lambda x: (x * 2, torch.ones(3) * 2), "an output on cpu"),
    ],
)
def test_uncapturable_calls_fall_back_with_one_warning(wgpu_device, body, why):
    cf = torch.compile(body)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(4):
            x = _t([1.0 + k, -2.0, 3.0], "wgpu")
            got, want = cf(x), body(x)
            got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
            for g, w in zip(got, want):
                if isinstance(g, str):
                    assert g == w
                else:
                    np.testing.assert_array_equal(g.numpy(), w.numpy())
    mine = [w for w in caught if "wgtorch.compile" in str(w.message)]
    assert len(mine) == 1 and why in str(mine[0].message) and mine[0].filename == __file__
    assert _captured(cf) == 0
    with pytest.raises(RuntimeError, match="fullgraph=True"):
        strict = torch.compile(body, fullgraph=True)
        for _ in range(2):
            strict(_t([1.0, -2.0, 3.0], "wgpu"))


def test_host_read_after_the_step_does_not_repeat_the_step(wgpu_device):
    # the refused .item() comes after backward and step: the call must complete eagerly, once
    model, opt = _mlp("wgpu")
    eager_model, eager_opt = _mlp("wgpu")
    step, eager_step = _step_fn(model, opt), _step_fn(eager_model, eager_opt)
    cstep = torch.compile(lambda x, y: step(x, y).item())
    with pytest.warns(UserWarning, match="reading a tensor"):
        for x, y in _batches("wgpu", 3):
            assert cstep(x, y) == pytest.approx(eager_step(x, y).item(), abs=1e-6)
    for a, b in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=1e-6)


def test_in_place_argument_and_cpu_argument_fall_back(wgpu_device):
    def bump(x, y):
        x.add_(1)
        return x * 2 + y.sum().to(x.device) * 0

    cf = torch.compile(bump)
    x = _t([1.0, 2.0], "wgpu")
    with pytest.warns(UserWarning, match="in place"):
        for _ in range(3):
            cf(x, _t([0.0], "wgpu"))
    assert x.tolist() == [4.0, 5.0]
    cg = torch.compile(lambda a, b: a + b.to("wgpu"))
    with pytest.warns(UserWarning, match="cpu tensor"):
        for _ in range(3):
            assert cg(_t([1.0], "wgpu"), torch.ones(1)).tolist() == [2.0]


def test_cache_size_limit_falls_back_for_new_keys(wgpu_device, monkeypatch):
    from wgtorch import _compile

    assert _compile.cache_size_limit == 8  # PyTorch's torch._dynamo.config.cache_size_limit
    monkeypatch.setattr(_compile, "cache_size_limit", 3)  # fewer captures to pay for on lavapipe
    cf = torch.compile(lambda x: x + 1)
    with pytest.warns(UserWarning, match="cache_size_limit"):
        for n in range(1, _compile.cache_size_limit + 3):
            for _ in range(2):
                assert cf(torch.zeros(n, device="wgpu")).tolist() == [1.0] * n
    assert len(_entries(cf)) == _compile.cache_size_limit


def test_eager_modes_and_bad_arguments():
    f = torch.compile(lambda x: x * 2, backend="eager")
    assert not f._capture
    assert not torch.compile(lambda x: x, mode="max-autotune-no-cudagraphs")._capture
    with pytest.raises(RuntimeError, match="Unrecognized mode"):
        torch.compile(lambda x: x, mode="fast")
    with pytest.raises(RuntimeError, match="callable"):
        torch.compile(3)


def _gru_step(seed=0):
    torch.manual_seed(seed)
    gru, head = torch.nn.GRU(5, 7).to("wgpu"), torch.nn.Linear(7, 1).to("wgpu")
    opt = torch.optim.SGD([*gru.parameters(), *head.parameters()], lr=0.05, momentum=0.9)

    def step(x, y):
        opt.zero_grad()
        out, _ = gru(x)
        loss = torch.nn.functional.mse_loss(head(out[-1]), y)
        loss.backward()
        opt.step()
        return loss

    return step, [*gru.parameters(), *head.parameters()]


def _encoder_step(seed=0):
    torch.manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).to("wgpu")
    opt = torch.optim.SGD(layer.parameters(), lr=0.05, momentum=0.9)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, device="wgpu")

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(layer(x, src_mask=mask, is_causal=True), y)
        loss.backward()
        opt.step()
        return loss

    return step, list(layer.parameters())


@pytest.mark.parametrize("make, shapes", [(_gru_step, ((4, 3, 5), (3, 1))), (_encoder_step, ((2, 5, 8), (2, 5, 8)))])
def test_captured_gru_and_encoder_steps_match_eager(wgpu_device, make, shapes):
    rng = np.random.default_rng(6)
    data = [tuple(_t(rng.standard_normal(s), "wgpu") for s in shapes) for _ in range(4)]
    (step, params), (eager, eager_params) = make(), make()
    compiled = torch.compile(step)
    for x, y in data:
        np.testing.assert_allclose(compiled(x, y).item(), eager(x, y).item(), rtol=1e-5, atol=1e-6)
    for a, b in zip(params, eager_params):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert _entries(compiled)[0].graph is not None  # captured, and replayed twice
