"""The "cuda" device (CuPy): ops, autograd, losses, optimizers, recurrent layers and a short
training run, each compared with "cpu" (NumPy) on the same inputs.

Every test is skipped when ``wgtorch.cuda.is_available()`` is False (no CuPy, driver or GPU).
tests/test_array_backend_xp.py runs the device-independent ones here on an emulated CUDA device
(a stand-in CuPy module whose kernels run on the host), so they are exercised on every machine;
a machine with an NVIDIA GPU runs them for real: ``pip install 'wgtorch[cuda12]'`` then
``pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import wgtorch
import wgtorch.nn.functional as F
from tests.helpers import assert_close, rand
from wgtorch import nn, optim


def _why_no_cuda() -> str:
    try:
        wgtorch.cuda._require_cupy()
    except RuntimeError as e:  # the last clause says what is missing: CuPy, the driver or a GPU
        return f"wgtorch.cuda.is_available() is False: {str(e).rsplit('; ', 1)[-1]}"
    return "wgtorch.cuda.is_available() is False"


NO_CUDA = _why_no_cuda()


@pytest.fixture
def cuda():
    """The device under test; test_array_backend_xp.py overrides it with an emulated one."""
    if not wgtorch.cuda.is_available():
        pytest.skip(NO_CUDA)
    return "cuda"


@pytest.fixture
def real_cuda():
    """For the tests of wgtorch.cuda itself, which only a real GPU can answer."""
    if not wgtorch.cuda.is_available():
        pytest.skip(NO_CUDA)
    return "cuda"


def pair(host, dev, requires_grad=False):
    """The same values on cpu and on ``dev``."""
    a = wgtorch.tensor(host, device="cpu", requires_grad=requires_grad)
    b = wgtorch.tensor(host, device=dev, requires_grad=requires_grad)
    return a, b


def same(got, want, rtol=1e-5, atol=1e-6, what=""):
    """``got`` (on cuda) equals ``want`` (on cpu): device, dtype, shape, values, NaN places."""
    try:
        assert got.device.type == "cuda", got.device
        assert got.dtype is want.dtype, (got.dtype, want.dtype)
        assert_close(got, want.detach().numpy(), rtol=rtol, atol=atol)
    except AssertionError as e:
        raise AssertionError(f"{what}: {e}" if what else str(e)) from None


def _special(shape, seed=0):
    x = rand(*shape, seed=seed)
    flat = x.reshape(-1)
    flat[:4] = [np.nan, np.inf, -np.inf, 0.0]
    return x


# -- elementwise ----------------------------------------------------------------------------------
UNARY = {
    "exp": lambda x: x.exp(), "log": lambda x: x.log(), "sqrt": lambda x: x.sqrt(), "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(), "relu": lambda x: F.relu(x), "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "erf": lambda x: wgtorch.erf(x),
    "silu": lambda x: F.silu(x), "softplus": lambda x: F.softplus(x), "abs": lambda x: x.abs(),
    "floor": lambda x: x.floor(), "clamp": lambda x: x.clamp(-0.5, 0.5), "reciprocal": lambda x: x.reciprocal(),
    "isnan": lambda x: wgtorch.isnan(x), "neg_pow": lambda x: (-x) ** 2,
}
BINARY = {
    "add": lambda x, y: x + y, "sub_mul": lambda x, y: x * y - 2, "div": lambda x, y: x / y,
    "pow": lambda x, y: x.abs() ** y, "maximum": wgtorch.maximum, "remainder": lambda x, y: x % y,
    "floor_divide": lambda x, y: x // y, "lt": lambda x, y: x < y, "where": lambda x, y: wgtorch.where(x > 0, x, y),
    "atan2": wgtorch.atan2,
}
VIEWS = {"contiguous": lambda t: t, "transposed": lambda t: t.t(), "step": lambda t: t[:, ::2], "row": lambda t: t[3]}


@pytest.mark.parametrize("view", VIEWS)
def test_elementwise_matches_cpu(cuda, view):
    """Unary and binary ops with NaN/Inf, broadcasting and non-contiguous views."""
    xa, xb = pair(_special((6, 6)), cuda)
    ya, yb = pair(rand(6, seed=1) + 3.0, cuda)  # broadcast along rows
    v = VIEWS[view]
    for name, f in UNARY.items():
        same(f(v(xb)), f(v(xa)), rtol=2e-6, atol=1e-6, what=name)
    n = v(xa).shape[-1]
    for name, f in BINARY.items():
        same(f(v(xb), yb[:n]), f(v(xa), ya[:n]), rtol=2e-6, what=name)


@pytest.mark.parametrize("dt", [wgtorch.float64, wgtorch.float16, wgtorch.int64, wgtorch.int32, wgtorch.bool])
def test_elementwise_dtypes(cuda, dt):
    host = rand(5, 7, low=-4, high=4).astype(dt.np)
    xa, xb = pair(host, cuda)
    same(xb + xb, xa + xa, rtol=1e-3 if dt is wgtorch.float16 else 1e-6)
    same(xb == xb.t().t(), xa == xa)
    if dt is not wgtorch.bool:
        same(xb * 3 - xb, xa * 3 - xa, rtol=1e-3 if dt is wgtorch.float16 else 1e-6)
    if dt.is_floating_point:
        same(F.gelu(xb), F.gelu(xa), rtol=2e-3 if dt is wgtorch.float16 else 1e-6, atol=1e-3)


def test_elementwise_shapes(cuda):
    """0-d, zero-size, sizes around a block of threads, and one large tensor."""
    for shape in [(), (0,), (0, 3), (127,), (128,), (129,), (1 << 22,)]:
        host = rand(*shape) if shape else np.float32(0.25)
        xa, xb = pair(host, cuda)
        same(xb.sigmoid() * 2 + 1, xa.sigmoid() * 2 + 1)
        same(F.gelu(xb), F.gelu(xa))


# -- reductions and matmul ---------------------------------------------------------------------
def test_reductions_match_cpu(cuda):
    host = rand(7, 33, 5)
    host[1, 2, 3] = np.nan
    xa, xb = pair(host, cuda)
    for f in [lambda x: x.sum(), lambda x: x.sum(dim=1), lambda x: x.mean(dim=(0, 2)), lambda x: x.amax(dim=1),
              lambda x: x.argmax(dim=1), lambda x: x.argmin(dim=2), lambda x: x.prod(dim=2),
              lambda x: wgtorch.softmax(x, dim=1), lambda x: wgtorch.log_softmax(x.transpose(0, 1), dim=2),
              lambda x: x.var(dim=1), lambda x: wgtorch.logsumexp(x, dim=0)]:
        same(f(xb), f(xa), rtol=1e-5, atol=1e-5)
    za, zb = pair(np.zeros((0, 4), np.float32), cuda)
    same(zb.sum(dim=0), za.sum(dim=0))


@pytest.mark.parametrize("shapes", [((3, 5), (5, 4)), ((65, 33), (33, 17)), ((2, 3, 5), (2, 5, 4)), ((5,), (5, 3)),
                                    ((4, 1, 6, 7), (3, 7, 2))])
def test_matmul_matches_cpu(cuda, shapes):
    a, b = rand(*shapes[0], seed=2), rand(*shapes[1], seed=3)
    (aa, ab), (ba, bb) = pair(a, cuda, True), pair(b, cuda, True)
    ya, yb = aa @ ba, ab @ bb
    same(yb, ya, rtol=1e-4, atol=1e-5)
    ya.sum().backward()
    yb.sum().backward()
    same(ab.grad, aa.grad, rtol=1e-4, atol=1e-5)
    same(bb.grad, ba.grad, rtol=1e-4, atol=1e-5)


def test_matmul_transposed_and_float64(cuda):
    a = rand(9, 6, seed=4).astype(np.float64)
    aa, ab = pair(a, cuda)
    same(ab.t() @ ab, aa.t() @ aa, rtol=1e-12, atol=1e-12)


# -- index ---------------------------------------------------------------------------------------
def test_index_ops_match_cpu(cuda):
    xa, xb = pair(rand(6, 5), cuda, True)
    idx = np.array([4, 0, 0, 5, 2], np.int64)
    ia, ib = pair(idx, cuda)
    same(wgtorch.index_select(xb, 0, ib), wgtorch.index_select(xa, 0, ia))
    same(wgtorch.index_select(xb, 1, ib.int()[:3]), wgtorch.index_select(xa, 1, ia.int()[:3]))
    gidx = np.array([[0, 4, 1], [2, 2, 3]], np.int64)
    ga, gb = pair(gidx, cuda)
    same(wgtorch.gather(xb, 1, gb), wgtorch.gather(xa, 1, ga))
    same(xb[ib], xa[ia])
    same(xb.masked_fill(xb > 0, -1.0), xa.masked_fill(xa > 0, -1.0))
    # Gradients go through scatter_add.
    (wgtorch.index_select(xa, 0, ia) * 3).sum().backward()
    (wgtorch.index_select(xb, 0, ib) * 3).sum().backward()
    same(xb.grad, xa.grad)
    emb = rand(10, 4)
    ea, eb = pair(emb, cuda)
    tokens = np.array([[1, 9, 1], [0, 0, 3]], np.int64)
    ta, tb = pair(tokens, cuda)
    same(F.embedding(tb, eb), F.embedding(ta, ea))


@pytest.mark.parametrize("dt", [wgtorch.float32, wgtorch.float64, wgtorch.int64, wgtorch.int32, wgtorch.bool,
                                wgtorch.float16, wgtorch.uint8])
def test_scatter_add_dtypes(cuda, dt):
    """Repeated indices accumulate (atomics; uint8 wraps; bool is a logical or)."""
    base = (rand(4, 6, seed=5) * 10).astype(dt.np)
    src = (rand(3, 7, seed=6) * 10).astype(dt.np)
    idx = np.array([[0, 1, 1, 3, 3, 3], [2, 2, 2, 2, 0, 1], [3, 0, 0, 0, 1, 1]], np.int64)
    (xa, xb), (sa, sb), (ia, ib) = pair(base, cuda), pair(src, cuda), pair(idx, cuda)
    tol = 1e-2 if dt is wgtorch.float16 else 1e-6
    same(xb.scatter_add(0, ib, sb), xa.scatter_add(0, ia, sa), rtol=tol)
    same(xb.scatter_add(1, ib[:, :4], sb), xa.scatter_add(1, ia[:, :4], sa), rtol=tol)


def test_bad_index_is_reported_at_the_next_read(cuda):
    x = wgtorch.ones(4, 3, device=cuda)
    bad = wgtorch.tensor([0, 7], device=cuda)
    y = wgtorch.index_select(x, 0, bad)  # no error yet: the check runs on the device
    with pytest.raises(IndexError, match=r"index out of range in self: index_select on cuda met index 7"):
        y.numpy()
    assert (wgtorch.index_select(x, 0, bad[:1]) * 2).sum().item() == 6.0  # the device keeps working
    with pytest.raises(IndexError, match="gather on cuda met index -1"):
        wgtorch.gather(x, 1, wgtorch.tensor([[0, -1]], device=cuda)).sum().item()
    with pytest.raises(IndexError, match="scatter_add on cuda met index 9 for dimension 0 of size 4"):
        x.scatter_add(0, wgtorch.tensor([[9, 0, 0]], device=cuda), x).numpy()
    empty = wgtorch.ones(0, 3, device=cuda)
    z = wgtorch.index_select(empty, 0, wgtorch.tensor([0], device=cuda))  # nothing to read: zeros
    assert z.shape == (1, 3)
    with pytest.raises(IndexError, match="for dimension 0 of size 0"):
        z.numpy()


# -- random --------------------------------------------------------------------------------------
def test_random_streams_match_cpu(cuda):
    """Counter-based Philox: the same seed gives the same numbers on every device."""
    for dev_seed in (0, 2**40 + 17):
        draws = {}
        for dev in ("cpu", cuda):
            wgtorch.manual_seed(dev_seed)
            draws[dev] = [wgtorch.rand(1001, device=dev), wgtorch.randn(37, 3, device=dev),
                          wgtorch.randint(-5, 9, (77,), device=dev), wgtorch.rand(5, dtype=wgtorch.float16, device=dev),
                          wgtorch.rand(0, device=dev)]
        cpu, dev = draws["cpu"], draws[cuda]
        assert np.array_equal(dev[0].numpy(), cpu[0].numpy())  # uniform float32: bit for bit
        same(dev[1], cpu[1], rtol=1e-5, atol=1e-5)
        assert np.array_equal(dev[2].numpy(), cpu[2].numpy())
        assert np.array_equal(dev[3].numpy(), cpu[3].numpy())
        assert dev[4].shape == (0,)
    wgtorch.manual_seed(3)
    da = F.dropout(wgtorch.ones(64, 8), 0.25)
    wgtorch.manual_seed(3)
    db = F.dropout(wgtorch.ones(64, 8, device=cuda), 0.25)
    same(db, da)


# -- losses and normalisation --------------------------------------------------------------------
CE_CASES = {
    "plain": dict(shape=(9, 10), kw={}),
    "weight_ignore_smooth": dict(shape=(9, 10), kw=dict(ignore_index=2, label_smoothing=0.1), weight=True),
    "sum": dict(shape=(5, 7), kw=dict(reduction="sum", label_smoothing=0.2)),
    "none_spatial": dict(shape=(3, 6, 4, 5), kw=dict(reduction="none")),
    "many_classes": dict(shape=(4, 3000), kw=dict(label_smoothing=0.05)),  # the reference path on cuda
    "float64": dict(shape=(6, 5), kw=dict(ignore_index=1), dtype=np.float64),
}


@pytest.mark.parametrize("case", CE_CASES)
def test_cross_entropy_matches_cpu(cuda, case):
    c = CE_CASES[case]
    shape = c["shape"]
    x = rand(*shape, seed=7, low=-4, high=4).astype(c.get("dtype", np.float32))
    x.reshape(-1)[1] = 30.0  # a large logit: the log-sum-exp must stay finite
    target = np.random.default_rng(8).integers(0, shape[1], (shape[0],) + shape[2:])
    (xa, xb), (ta, tb) = pair(x, cuda, True), pair(target, cuda)
    kw = dict(c["kw"])
    wa = wb = None
    if c.get("weight"):
        wa, wb = pair(rand(shape[1], seed=9, low=0.5, high=2.0), cuda)
    la = F.cross_entropy(xa, ta, weight=wa, **kw)
    lb = F.cross_entropy(xb, tb, weight=wb, **kw)
    same(lb, la, rtol=1e-5, atol=1e-6)
    g = rand(*la.shape, seed=10) if la.ndim else None
    (la * (wgtorch.tensor(g) if g is not None else 1)).sum().backward()
    (lb * (wgtorch.tensor(g, device=cuda) if g is not None else 1)).sum().backward()
    same(xb.grad, xa.grad, rtol=1e-5, atol=1e-6)
    # NLL on log-probabilities
    na = F.nll_loss(F.log_softmax(xa.detach(), dim=1), ta, weight=wa)
    nb = F.nll_loss(F.log_softmax(xb.detach(), dim=1), tb, weight=wb)
    same(nb, na, rtol=1e-5, atol=1e-6)


def test_cross_entropy_bad_target_is_reported(cuda):
    x = wgtorch.zeros(3, 4, device=cuda)
    loss = F.cross_entropy(x, wgtorch.tensor([0, 4, 1], device=cuda), reduction="none")
    with pytest.raises(IndexError, match=r"Target 4 is out of bounds\. \(cross_entropy / nll_loss on cuda, row 1"):
        loss.numpy()
    big = wgtorch.zeros(2, 5000, device=cuda)  # the reference path reports too
    with pytest.raises(IndexError, match="Target -3 is out of bounds"):
        F.cross_entropy(big, wgtorch.tensor([0, -3], device=cuda)).item()


def test_layer_norm_matches_cpu(cuda):
    (xa, xb), (wa, wb), (ba, bb) = pair(rand(4, 3, 10), cuda, True), pair(rand(10, seed=1), cuda, True), \
        pair(rand(10, seed=2), cuda, True)
    ya, yb = F.layer_norm(xa, (10,), wa, ba), F.layer_norm(xb, (10,), wb, bb)
    same(yb, ya, rtol=1e-5, atol=1e-5)
    (ya * ya).sum().backward()
    (yb * yb).sum().backward()
    for a, b in ((xa, xb), (wa, wb), (ba, bb)):
        same(b.grad, a.grad, rtol=1e-4, atol=1e-4)


# -- autograd and moving between devices ---------------------------------------------------------
def test_autograd_matches_cpu(cuda):
    (xa, xb), (wa, wb) = pair(rand(5, 4), cuda, True), pair(rand(4, 3, seed=1), cuda, True)

    def f(x, w):
        h = (x @ w).tanh() * x[:, :3].sigmoid()
        return wgtorch.log_softmax(h, dim=1).sum() + (h ** 2).mean() + F.gelu(h).amax(dim=0).sum()

    f(xa, wa).backward()
    f(xb, wb).backward()
    same(xb.grad, xa.grad, rtol=1e-5, atol=1e-6)
    same(wb.grad, wa.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dt", [wgtorch.float32, wgtorch.float16, wgtorch.float64, wgtorch.int64, wgtorch.bool])
def test_moving_between_devices(cuda, dt):
    host = (rand(4, 6) * 5).astype(dt.np)
    t = wgtorch.tensor(host)
    on = t.t().to(cuda)  # a non-contiguous source
    assert on.device == wgtorch.device("cuda", 0) and on.dtype is dt and on.is_cuda
    np.testing.assert_array_equal(on.cpu().numpy(), host.T)
    np.testing.assert_array_equal(on.to(cuda).numpy(), host.T)
    if wgtorch.wgpu.is_available() and dt in (wgtorch.float32, wgtorch.int64, wgtorch.bool):
        there = on.to("wgpu").to(cuda)
        assert there.device.type == "cuda"
        np.testing.assert_array_equal(there.numpy(), host.T)


def test_gradient_flows_back_across_devices(cuda):
    x = wgtorch.tensor(rand(3, 2), requires_grad=True)
    (x.to(cuda) * 2).sum().backward()
    assert x.grad.device.type == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 2), 2.0, np.float32))


# -- optimizers ----------------------------------------------------------------------------------
OPTIMIZERS = {
    "sgd": (optim.SGD, dict(lr=0.1)),
    "sgd_momentum_wd": (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "sgd_nesterov_maximize": (optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, maximize=True)),
    "adam": (optim.Adam, dict(lr=1e-2)),
    "adam_amsgrad_wd": (optim.Adam, dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    "adamw": (optim.AdamW, dict(lr=1e-2, weight_decay=0.05, betas=(0.3, 0.9))),
    "adamw_amsgrad_maximize": (optim.AdamW, dict(lr=1e-2, amsgrad=True, maximize=True)),
    "rmsprop": (optim.RMSprop, dict(lr=1e-2)),
    "rmsprop_centered": (optim.RMSprop, dict(lr=1e-2, centered=True, alpha=0.4)),
    "rmsprop_momentum_wd": (optim.RMSprop, dict(lr=1e-2, momentum=0.5, weight_decay=0.1)),
    "rmsprop_centered_momentum": (optim.RMSprop, dict(lr=1e-2, centered=True, momentum=0.9)),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_steps_match_cpu(cuda, name):
    cls, kw = OPTIMIZERS[name]
    results = {}
    for dev in ("cpu", cuda):
        w = wgtorch.tensor(rand(7, 5, seed=11), device=dev, requires_grad=True)
        b = wgtorch.tensor(rand(5, seed=12, dtype=np.float64), device=dev, requires_grad=True)
        x = wgtorch.tensor(rand(9, 7, seed=13), device=dev)
        opt = cls([w, b], **kw)
        for _ in range(4):
            opt.zero_grad()
            (((x @ w).double() + b) ** 2).mean().backward()
            opt.step()
        results[dev] = (w, b)
    for got, want in zip(results[cuda], results["cpu"]):
        same(got, want, rtol=1e-5, atol=1e-6)


# -- recurrent layers ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["GRU", "LSTM", "RNN"])
@pytest.mark.parametrize("config", [dict(num_layers=2, bidirectional=True, batch_first=True),
                                    dict(num_layers=1, bias=False), dict(num_layers=1, dtype=np.float64)])
def test_recurrent_layers_match_cpu(cuda, kind, config):
    config = dict(config)
    dtype = config.pop("dtype", np.float32)
    wgtorch.manual_seed(21)
    layer_a = getattr(nn, kind)(5, 6, **config)
    if dtype is np.float64:
        layer_a = layer_a.double()
    layer_b = copy.deepcopy(layer_a).to(cuda)
    x = rand(4, 3, 5, seed=22).astype(dtype)
    (xa, xb) = pair(x, cuda, True)
    out_a, state_a = layer_a(xa)
    out_b, state_b = layer_b(xb)
    tol = dict(rtol=1e-5, atol=1e-5)
    same(out_b, out_a, **tol)
    states = (state_a, state_b) if kind == "LSTM" else ((state_a,), (state_b,))
    for sa, sb in zip(*states):
        same(sb, sa, **tol)
    g = rand(*out_a.shape, seed=23).astype(dtype)
    ((out_a * wgtorch.tensor(g)).sum() + states[0][-1].sum()).backward()
    ((out_b * wgtorch.tensor(g, device=cuda)).sum() + states[1][-1].sum()).backward()
    same(xb.grad, xa.grad, **tol)
    for (name, pa), pb in zip(layer_a.named_parameters(), layer_b.parameters()):
        same(pb.grad, pa.grad, rtol=1e-4, atol=1e-5, what=name)


# -- training ------------------------------------------------------------------------------------
def test_mlp_training_matches_cpu(cuda):
    """30 Adam steps of a small classifier give the same losses and weights on both devices."""
    rng = np.random.default_rng(30)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    wgtorch.manual_seed(31)
    model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Dropout(0.1), nn.Linear(32, 3))
    runs = {}
    for dev in ("cpu", cuda):
        m = copy.deepcopy(model).to(dev)
        opt = optim.Adam(m.parameters(), lr=1e-2)
        xs, ys = wgtorch.tensor(x, device=dev), wgtorch.tensor(y, device=dev)
        wgtorch.manual_seed(32)  # the dropout masks
        losses = []
        for _ in range(30):
            opt.zero_grad()
            loss = F.cross_entropy(m(xs), ys)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        runs[dev] = (losses, m)
    np.testing.assert_allclose(runs[cuda][0], runs["cpu"][0], rtol=1e-3, atol=1e-3)
    assert runs["cpu"][0][-1] < 0.5 * runs["cpu"][0][0]  # it did learn
    for pa, pb in zip(runs["cpu"][1].parameters(), runs[cuda][1].parameters()):
        same(pb, pa, rtol=1e-3, atol=1e-3)


# -- wgtorch.cuda (real GPU only) ----------------------------------------------------------------
def test_cuda_module_reports_the_device(real_cuda):
    assert wgtorch.cuda.device_count() >= 1
    assert isinstance(wgtorch.cuda.get_device_name(0), str) and wgtorch.cuda.get_device_name("cuda:0")
    assert wgtorch.best_device() == wgtorch.device("cuda", 0)
    assert wgtorch.cuda.current_device() == 0
    wgtorch.cuda.empty_cache()
    before = wgtorch.cuda.memory_allocated()
    x = wgtorch.ones(1 << 20, device="cuda")
    assert wgtorch.cuda.memory_allocated() >= before + 4 * (1 << 20)
    assert wgtorch.cuda.memory_reserved() >= wgtorch.cuda.memory_allocated()
    wgtorch.cuda.synchronize()
    wgtorch.cuda.synchronize("cuda:0")
    assert x.sum().item() == float(1 << 20)
    del x
    wgtorch.cuda.empty_cache()


def test_second_device_index_is_checked(real_cuda):
    n = wgtorch.cuda.device_count()
    with pytest.raises(RuntimeError, match=f"cuda:{n} does not exist"):
        wgtorch.zeros(2, device=f"cuda:{n}")
    if n > 1:  # each backend runs on its own device
        a, b = wgtorch.ones(3, device="cuda:0"), wgtorch.ones(3, device="cuda:1")
        assert (a * 2).sum().item() == 6.0 and (b * 3).sum().item() == 9.0
        assert (a + b.to("cuda:0")).sum().item() == 6.0
