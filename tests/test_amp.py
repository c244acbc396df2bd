"""autocast against PyTorch.

autocast: the dtypes of every listed op's output inside ``autocast("cpu", ...)`` equal PyTorch's for
the same program (bfloat16 and float16, float32 and low-precision inputs), values and gradients
through an autocast region, nesting, ``enabled=False``, decorators, per-thread state, the cast cache,
errors and warnings. On wgpu (float16, CUDA's lists; no PyTorch oracle without a GPU, so the
expected dtypes are those of PyTorch's CUDA autocast documentation).

GradScaler and mixed-precision training: tests/test_grad_scaler.py."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import wgtorch
import wgtorch.nn.functional as WF
from wgtorch.amp import autocast_mode

rng = np.random.default_rng(0)
X = rng.standard_normal((4, 6)).astype(np.float32)
W = rng.standard_normal((3, 6)).astype(np.float32)
P = rng.random((4, 6)).astype(np.float32)
IMG = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
K2 = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
SEQ = rng.standard_normal((1, 2, 7)).astype(np.float32)
K1 = rng.standard_normal((3, 2, 3)).astype(np.float32)
TGT = np.array([0, 1, 2, 0])


def programs(L, F, dev):
    """The same small programs for torch (L=torch) and wgtorch: name -> function of the input."""

    def t(a, dt=None):
        x = L.tensor(a, device=dev)
        return x if dt is None else x.to(dt)

    tgt, ones = L.tensor(TGT, device=dev), L.ones(4, 6, device=dev)
    return {
        "linear": lambda a: F.linear(a, t(W, a.dtype)),
        "linear_f32_weight_bias": lambda a: F.linear(a, t(W), t(W[:, 0])),
        "matmul_op": lambda a: a @ a.t(),
        "mm": lambda a: L.mm(a, a.t()),
        "bmm": lambda a: L.bmm(a[None], a.t()[None]),
        "Tensor.matmul": lambda a: a.matmul(a.t()),
        "dot": lambda a: L.dot(a[0], a[1]),
        "conv1d": lambda a: F.conv1d(t(SEQ, a.dtype), t(K1)),
        "conv2d": lambda a: F.conv2d(t(IMG, a.dtype), t(K2)),
        "conv_transpose1d": lambda a: F.conv_transpose1d(t(SEQ, a.dtype), t(K1).transpose(0, 1)),
        "conv_transpose2d": lambda a: F.conv_transpose2d(t(IMG, a.dtype), t(K2).transpose(0, 1)),
        "scaled_dot_product_attention": lambda a: F.scaled_dot_product_attention(a[None], a[None], a[None]),
        "softmax": lambda a: F.softmax(a, 1),
        "log_softmax": lambda a: F.log_softmax(a, 1),
        "Tensor.softmax": lambda a: a.softmax(1),
        "layer_norm": lambda a: F.layer_norm(a, (6,)),
        "group_norm": lambda a: F.group_norm(a, 2),
        "normalize": lambda a: F.normalize(a),
        "cross_entropy": lambda a: F.cross_entropy(a, tgt),
        "nll_loss": lambda a: F.nll_loss(a, tgt),
        "mse_loss": lambda a: F.mse_loss(a, t(P)),
        "l1_loss": lambda a: F.l1_loss(a, t(P)),
        "smooth_l1_loss": lambda a: F.smooth_l1_loss(a, t(P)),
        "huber_loss": lambda a: F.huber_loss(a, t(P)),
        "kl_div": lambda a: F.kl_div(a, t(P, a.dtype), reduction="batchmean"),
        "binary_cross_entropy": lambda a: F.binary_cross_entropy(a.sigmoid(), t(P, a.dtype)),
        "binary_cross_entropy_with_logits": lambda a: F.binary_cross_entropy_with_logits(a, t(P)),
        "cosine_similarity": lambda a: F.cosine_similarity(a, a),
        "cosine_embedding_loss": lambda a: F.cosine_embedding_loss(a, a, L.ones(4, device=dev)),
        "hinge_embedding_loss": lambda a: F.hinge_embedding_loss(a, ones),
        "margin_ranking_loss": lambda a: F.margin_ranking_loss(a[0], a[1], L.ones(6, device=dev)),
        "soft_margin_loss": lambda a: F.soft_margin_loss(a, ones),
        "triplet_margin_loss": lambda a: F.triplet_margin_loss(a, a, a),
        "poisson_nll_loss": lambda a: F.poisson_nll_loss(a, t(P)),
        "softplus": lambda a: F.softplus(a),
        "gelu": lambda a: F.gelu(a),
        "relu": lambda a: F.relu(a),
        "exp": lambda a: a.exp(),
        "torch.exp": lambda a: L.exp(a),
        "log": lambda a: a.abs().log(),
        "pow": lambda a: a.pow(2),
        "pow_op": lambda a: a**2,
        "sum": lambda a: a.sum(),
        "torch.sum_dim": lambda a: L.sum(a, 0),
        "prod": lambda a: a.prod(),
        "logsumexp": lambda a: a.logsumexp(1),
        "mean": lambda a: a.mean(),
        "cat": lambda a: L.cat([a, t(X)]),
        "stack": lambda a: L.stack([a, t(X)]),
        "add": lambda a: a + t(X),
        "mlp": lambda a: F.cross_entropy(F.linear(F.relu(F.linear(a, t(W))), t(W[:, :3])), tgt),
        "float64_untouched": lambda a: F.linear(a.double(), t(W).double()),
        "softmax_dtype": lambda a: F.softmax(a, 1, dtype=L.float64),
        # ops another part of wgtorch provides (skipped, by name, in a build without them)
        "addmm": lambda a: L.addmm(a[:, :4], a[:, :4], a[:, :4]),
        "baddbmm": lambda a: L.baddbmm(a[None, :, :4], a[None, :, :4], a[None, :, :4]),
        "addbmm": lambda a: L.addbmm(a[:, :4], a[None, :, :4], a[None, :, :4]),
        "cumsum": lambda a: a.cumsum(0),
        "norm": lambda a: a.norm(),
        "cdist": lambda a: L.cdist(a, a),
        "addcmul": lambda a: L.addcmul(a, a, t(X)),
        "sum_dtype": lambda a: a.sum(dtype=L.float64),
    }


NAMES = list(programs(torch, TF, "cpu"))
OPTIONAL = ("addmm", "baddbmm", "addbmm", "cumsum", "norm", "cdist", "addcmul")


def dtype_name(x) -> str:
    return str(x.dtype).split(".")[-1]


def run(L, F, dev, name, autocast_dtype, input_dtype):
    a = L.tensor(X, device=dev).to(getattr(L, input_dtype))
    try:
        with L.autocast(dev, dtype=getattr(L, autocast_dtype)):
            return dtype_name(programs(L, F, dev)[name](a))
    except RuntimeError as e:
        return f"RuntimeError: {str(e).splitlines()[0][:40]}"


# PyTorch's cpu autocast raises "Unexpected floating ScalarType in at::autocast::prioritize" for cat
# and stack of a bfloat16 tensor in a float16 region (wgtorch promotes, to float32).
TORCH_ERRORS = {("cat", "float16", "bfloat16"), ("stack", "float16", "bfloat16")}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "autocast_dtype,input_dtype",
    [
        ("bfloat16", "float32"),
        ("bfloat16", "bfloat16"),
        ("float16", "float32"),
        ("float16", "float16"),
        ("float16", "bfloat16"),
    ],
)
def test_cpu_autocast_dtypes_match_torch(name, autocast_dtype, input_dtype):
    if name in OPTIONAL and not hasattr(wgtorch.Tensor, name) and not hasattr(wgtorch, name):
        pytest.skip(f"wgtorch.{name} is not in this build")
    want = run(torch, TF, "cpu", name, autocast_dtype, input_dtype)
    got = run(wgtorch, WF, "cpu", name, autocast_dtype, input_dtype)
    if (name, autocast_dtype, input_dtype) in TORCH_ERRORS:
        assert want.startswith("RuntimeError") and got == "float32", (want, got)
    else:
        assert got == want


def test_outputs_outside_autocast_unchanged():
    """The same programs outside any autocast region: the dtypes of plain PyTorch."""
    for name in NAMES:
        if name in OPTIONAL and not hasattr(wgtorch.Tensor, name) and not hasattr(wgtorch, name):
            continue
        a_t, a_w = torch.tensor(X), wgtorch.tensor(X)
        assert dtype_name(programs(wgtorch, WF, "cpu")[name](a_w)) == dtype_name(programs(torch, TF, "cpu")[name](a_t))


def test_every_listed_function_is_wrapped():
    """Every op of the table that wgtorch defines consults the autocast state."""
    missing = []
    for name in autocast_mode.POLICIES:
        for owner in (WF, wgtorch, wgtorch.Tensor):
            fn = getattr(owner, name, None)
            if fn is not None and name not in autocast_mode._ELEMENTWISE:
                if not hasattr(fn, "__wrapped_autocast__"):
                    missing.append(f"{getattr(owner, '__name__', owner)}.{name}")
    assert not missing, missing


# -- values and gradients ---------------------------------------------------------------------------
def _mlp_params(L):
    g = np.random.default_rng(3)
    return [L.tensor(g.standard_normal(s).astype(np.float32) * 0.4, requires_grad=True) for s in [(8, 6), (8,), (3, 8)]]


def test_values_and_gradients_match_torch():
    """A linear-relu-linear-cross_entropy step under cpu bfloat16 autocast: the loss, the
    intermediate dtypes and the float32 parameter gradients are PyTorch's (to bfloat16 precision)."""
    out = {}
    for L, F in ((torch, TF), (wgtorch, WF)):
        w1, b1, w2 = _mlp_params(L)
        x, tgt = L.tensor(X), L.tensor(TGT)
        with L.autocast("cpu", dtype=L.bfloat16):
            h = F.linear(x, w1, b1)
            y = F.linear(F.relu(h), w2)
            loss = F.cross_entropy(y, tgt)
        loss.backward()
        out[L.__name__] = (
            dtype_name(h),
            dtype_name(y),
            dtype_name(loss),
            loss.item(),
            [p.grad.detach().numpy() for p in (w1, b1, w2)],
            [dtype_name(p.grad) for p in (w1, b1, w2)],
        )
    t, w = out["torch"], out["wgtorch"]
    assert t[:3] == w[:3] == ("bfloat16", "bfloat16", "float32")
    assert w[5] == t[5] == ["float32"] * 3
    np.testing.assert_allclose(w[3], t[3], rtol=2e-2)
    for gt, gw in zip(t[4], w[4]):
        np.testing.assert_allclose(gw, gt, rtol=5e-2, atol=2e-2)


def test_cast_cache_and_parameter_reuse():
    w = wgtorch.tensor(W, requires_grad=True)
    x = wgtorch.tensor(X)
    with wgtorch.autocast("cpu"):
        y1, y2 = WF.linear(x, w), WF.linear(2 * x, w)
        assert len(autocast_mode._state.cache) == 1  # one cast of w, used twice
        with wgtorch.autocast("cpu", cache_enabled=False):
            WF.linear(x, w)
        assert len(autocast_mode._state.cache) == 1
    assert len(autocast_mode._state.cache) == 0  # cleared when the outermost region exits
    (y1.float().sum() + y2.float().sum()).backward()
    tw = torch.tensor(W, requires_grad=True)
    with torch.autocast("cpu"):
        z = TF.linear(torch.tensor(X), tw).float().sum() + TF.linear(2 * torch.tensor(X), tw).float().sum()
    z.backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-2, atol=1e-2)


# -- state, nesting, decorators, threads -----------------------------------------------------------------
def test_state_functions_and_nesting_match_torch():
    def trace(L):
        seen = [L.is_autocast_enabled("cpu"), str(L.get_autocast_dtype("cpu")), L.is_autocast_enabled()]
        with L.autocast("cpu"):
            seen += [L.is_autocast_enabled("cpu"), str(L.get_autocast_dtype("cpu")), L.is_autocast_enabled()]
            with L.autocast("cpu", enabled=False):
                seen += [L.is_autocast_enabled("cpu"), dtype_name(L.mm(L.ones(2, 2), L.ones(2, 2)))]
                with L.autocast("cpu", dtype=L.float16):
                    seen += [str(L.get_autocast_dtype("cpu")), dtype_name(L.mm(L.ones(2, 2), L.ones(2, 2)))]
                seen += [L.is_autocast_enabled("cpu")]
            seen += [L.is_autocast_enabled("cpu"), dtype_name(L.mm(L.ones(2, 2), L.ones(2, 2)))]
        seen += [L.is_autocast_enabled("cpu"), dtype_name(L.mm(L.ones(2, 2), L.ones(2, 2)))]
        return [s.split(".")[-1] if isinstance(s, str) else s for s in seen]

    assert trace(wgtorch) == trace(torch)


def test_decorator_and_amp_namespace():
    for L in (torch, wgtorch):

        @L.autocast("cpu")
        def f(a, L=L):
            return L.mm(a, a)

        @L.amp.autocast("cpu", dtype=L.float16)
        def g(a, L=L):
            return L.mm(a, a)

        a = L.ones(2, 2)
        assert dtype_name(f(a)) == "bfloat16" and dtype_name(g(a)) == "float16"
        assert dtype_name(L.mm(a, a)) == "float32"
        assert not L.is_autocast_enabled("cpu")
    assert wgtorch.amp.autocast is wgtorch.autocast
    assert wgtorch.amp.is_autocast_available("cpu") and wgtorch.amp.is_autocast_available("wgpu")


def test_autocast_state_is_per_thread():
    seen = []
    started, release = threading.Event(), threading.Event()

    def other():
        started.set()
        release.wait(10)
        seen.append((wgtorch.is_autocast_enabled("cpu"), wgtorch.mm(wgtorch.ones(2, 2), wgtorch.ones(2, 2)).dtype))

    th = threading.Thread(target=other)
    th.start()
    started.wait(10)
    with wgtorch.autocast("cpu"):
        release.set()
        th.join(10)
        assert wgtorch.mm(wgtorch.ones(2, 2), wgtorch.ones(2, 2)).dtype is wgtorch.bfloat16
    assert seen == [(False, wgtorch.float32)]


def test_errors_and_warnings_match_torch():
    for L in (torch, wgtorch):
        with pytest.raises(ValueError, match="device_type"):
            L.autocast(1)
        with pytest.raises(RuntimeError):
            L.autocast("tpu")
        with pytest.warns(UserWarning, match="target dtype is not supported"):
            ac = L.autocast("cpu", dtype=L.float32)
        with ac:
            assert dtype_name(L.mm(L.ones(2, 2), L.ones(2, 2))) == "float32"


@pytest.mark.skipif(wgtorch.cuda.is_available(), reason="checks the behaviour without CUDA")
def test_cuda_without_gpu_disables_like_torch():
    for L in (torch, wgtorch):
        with pytest.warns(UserWarning, match="CUDA is not available"):
            ac = L.autocast("cuda")
        with ac:
            assert not L.is_autocast_enabled("cuda")
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert not L.amp.GradScaler("cuda").is_enabled()
    with pytest.warns(FutureWarning, match="torch.cuda.amp.autocast"):
        wgtorch.cuda.amp.autocast()
    with pytest.warns(FutureWarning, match="torch.cuda.amp.GradScaler"):
        s = wgtorch.cuda.amp.GradScaler()
    assert isinstance(s, wgtorch.amp.GradScaler)
    import wgtorch.cuda.amp as cuda_amp

    assert issubclass(cuda_amp.autocast, wgtorch.autocast)


# -- wgpu (float16; CUDA's lists) -------------------------------------------------------------------------
def _needs_f16(device):
    from wgtorch._device import get_backend

    if "shader-f16" not in get_backend(device).rt.features:
        pytest.skip("the wgpu adapter lacks shader-f16, which autocast('wgpu') needs")


# PyTorch's CUDA autocast lists (docs "Autocast Op Reference", CUDA Ops that can autocast to float16 /
# to float32 / promote): with float32 inputs.
WGPU_EXPECTED = {
    "linear": "float16",
    "matmul_op": "float16",
    "conv2d": "float16",
    "scaled_dot_product_attention": "float16",
    "softmax": "float32",
    "layer_norm": "float32",
    "cross_entropy": "float32",
    "exp": "float32",
    "pow_op": "float32",
    "sum": "float32",
    "relu": "float32",
    "mlp": "float32",
}


def test_wgpu_autocast_float16(wgpu_device):
    _needs_f16(wgpu_device)
    progs = programs(wgtorch, WF, wgpu_device)
    got = {}
    with wgtorch.autocast(wgpu_device):
        assert wgtorch.get_autocast_dtype("wgpu") is wgtorch.float16
        a = wgtorch.tensor(X, device=wgpu_device)
        for name in WGPU_EXPECTED:
            got[name] = progs[name](a).dtype.name
        h = wgtorch.tensor(X, device=wgpu_device).half()
        assert progs["softmax"](h).dtype is wgtorch.float32 and progs["relu"](h).dtype is wgtorch.float16
        assert progs["mean"](h).dtype is wgtorch.float16  # mean is on no list
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            progs["binary_cross_entropy"](a)
        c = wgtorch.ones(2, 2)  # cpu tensors follow cpu's (disabled) state
        assert wgtorch.mm(c, c).dtype is wgtorch.float32
    assert got == WGPU_EXPECTED
    # values: float16 matmul of float32 inputs, against PyTorch's float16 matmul on the same values
    with wgtorch.autocast(wgpu_device):
        y = wgtorch.tensor(X, device=wgpu_device) @ wgtorch.tensor(W, device=wgpu_device).t()
    want = torch.tensor(X).half().float() @ torch.tensor(W).half().float().t()
    np.testing.assert_allclose(y.float().cpu().numpy(), want.numpy(), rtol=2e-3, atol=2e-3)
    with pytest.raises(RuntimeError, match="bfloat16"):
        wgtorch.autocast(wgpu_device, dtype=wgtorch.bfloat16)


def test_binary_cross_entropy_banned_on_wgpu(wgpu_device):
    _needs_f16(wgpu_device)
    a = wgtorch.tensor(P, device=wgpu_device)
    with pytest.raises(RuntimeError, match="binary_cross_entropy_with_logits"), wgtorch.autocast(wgpu_device):
        WF.binary_cross_entropy(a, a)
    assert WF.binary_cross_entropy(a, a).dtype is wgtorch.float32  # fine outside


def test_no_autocast_cost_when_unused():
    """With no region entered anywhere, the wrappers call straight through (one global read)."""
    assert autocast_mode._active[0] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert WF.linear(wgtorch.tensor(X), wgtorch.tensor(W)).dtype is wgtorch.float32


def test_modules_under_cpu_autocast_match_torch():
    """Layers built from the listed ops: output dtypes inside ``autocast("cpu")`` are PyTorch's."""

    def build(L):
        nn = L.nn
        return {
            "MultiheadAttention": (nn.MultiheadAttention(4, 2), lambda m, x: m(x, x, x)[0]),
            "TransformerEncoderLayer": (nn.TransformerEncoderLayer(4, 2, dim_feedforward=8), lambda m, x: m(x)),
            "GRU": (nn.GRU(4, 3), lambda m, x: m(x)[0]),
            "LSTMCell": (nn.LSTMCell(4, 3), lambda m, x: m(x[0])[0]),
            "Conv1d": (nn.Conv1d(2, 3, 3), lambda m, x: m(x.permute(1, 2, 0)[:, :2])),
            "Linear": (nn.Linear(4, 3), lambda m, x: m(x)),
            "LayerNorm": (nn.LayerNorm(4), lambda m, x: m(x)),
            "BatchNorm1d": (nn.BatchNorm1d(4), lambda m, x: m(x[0])),
            "Embedding": (nn.Embedding(5, 4), lambda m, x: m(L.tensor([1, 2]))),
            "CrossEntropyLoss": (nn.CrossEntropyLoss(), lambda m, x: m(x[0], L.tensor([0, 3]))),
        }

    x = np.random.default_rng(9).standard_normal((5, 2, 4)).astype(np.float32)
    got = {}
    for L in (torch, wgtorch):
        with L.autocast("cpu"):
            got[L.__name__] = {k: dtype_name(f(m, L.tensor(x))) for k, (m, f) in build(L).items()}
    assert got["wgtorch"] == got["torch"]
