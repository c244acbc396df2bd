"""float64 on wgpu (issue 17): kernels specialised for WGSL's f64 where the adapter has shader-f64.

Every registry elementwise op, the reductions, matmul and the optimizers in float64 against
PyTorch's float64 (float64 tolerances: rtol 1e-13, not float32's 1e-5), autograd, casts and
creation; the clear errors of the families without f64 kernels; and the path of an adapter
without shader-f64, simulated in a subprocess with WGTORCH_WGPU_DISABLE_FEATURES.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch as T
import torch.nn.functional as TF

import wgtorch as torch
import wgtorch._dtype as D
from wgtorch.ops.elementwise_defs import OPS, PREDICATES

RTOL, ATOL = 1e-13, 1e-14  # float64's (a float32 result misses these by 8 orders of magnitude)


@pytest.fixture
def f64_device(device):
    """``device`` where float64 computes; on a wgpu adapter without shader-f64, checks the clear error."""
    if device == "wgpu" and not torch.wgpu.get_device_properties().float64:
        with pytest.raises(TypeError, match="shader-f64"):
            torch.zeros(2, dtype=torch.float64, device=device)
        pytest.skip("this adapter has no shader-f64 (its clear error was checked)")
    return device


def _close(got, want, rtol=RTOL, atol=ATOL):
    got_t = T.from_numpy(np.array(got.detach().cpu().numpy()))
    assert got.dtype is torch.float64 or got_t.dtype == want.dtype, (got.dtype, want.dtype)
    assert tuple(got.shape) == tuple(want.shape)
    T.testing.assert_close(got_t, want.detach(), rtol=rtol, atol=atol, equal_nan=True)


# -- every elementwise op of the registry ---------------------------------------------------------
_SPECIAL = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    math.inf,
    -math.inf,
    math.nan,
    1e-300,
    -1e300,
    0.5,
    2.0,
    3.0,
    1e-8,
    30.0,
    700.0,
    -745.5,
    0.999,
    2.5,
    -3.5,
]
# PyTorch callables for registry ops whose name is not a torch function with the same arguments.
_TORCH = {
    "gelu": TF.gelu,
    "gelu_tanh": lambda a: TF.gelu(a, approximate="tanh"),
    "silu": TF.silu,
    "mish": TF.mish,
    "selu": TF.selu,
    "softsign": TF.softsign,
    "tanhshrink": TF.tanhshrink,
    "logsigmoid": TF.logsigmoid,
    "hardsigmoid": TF.hardsigmoid,
    "hardswish": TF.hardswish,
    "softplus": TF.softplus,
    "leaky_relu": TF.leaky_relu,
    "elu": TF.elu,
    "hardtanh": TF.hardtanh,
    "celu": TF.celu,
    "hardshrink": TF.hardshrink,
    "softshrink": TF.softshrink,
    "threshold": TF.threshold,
}
_PARAMS = {
    "softplus": (1.5, 20.0),
    "leaky_relu": (0.01,),
    "elu": (1.3,),
    "hardtanh": (-0.7, 1.2),
    "celu": (0.8,),
    "hardshrink": (0.5,),
    "softshrink": (0.5,),
    "threshold": (0.3, -2.0),
}
_FLOAT_OPS = sorted(n for n, op in OPS.items() if "f" in op.accepts and op.wgsl is not None and n != "copy")


def _values(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([_SPECIAL, rng.standard_normal(n) * 3, rng.uniform(-1, 1, n)])


def _torch_fn(name):
    if name in _TORCH:
        return _TORCH[name]
    return getattr(T, name)


@pytest.mark.parametrize("name", _FLOAT_OPS)
def test_every_registry_op_in_float64(f64_device, name):
    op = OPS[name]
    k = op.tensor_arity
    arrays = [np.roll(_values(22, 7 + i), 3 * i) for i in range(k)]  # 63 elements: around the workgroup
    if name == "where":
        arrays[0] = arrays[0] > 0
    if name == "lerp":
        arrays[2] = np.random.default_rng(3).uniform(-0.5, 1.5, arrays[2].shape)
    if name == "clamp":  # (bounds from NaN-free values: clamp with NaN bounds is its own test elsewhere)
        arrays[1], arrays[2] = np.full_like(arrays[1], -1.5), np.full_like(arrays[2], 2.0)
    if name in ("sin", "cos", "tan"):  # (|x| past 3.3e9: test_sin_cos_large_arguments)
        arrays[0] = np.where(np.abs(arrays[0]) > 3e9, 0.25, arrays[0])
    params = _PARAMS.get(name, ())
    want = _torch_fn(name)(*[T.from_numpy(a) for a in arrays], *params)
    ours = [torch.tensor(a, device=f64_device) for a in arrays]
    if name in _TORCH:
        got = getattr(torch.nn.functional, "gelu" if name == "gelu_tanh" else name)(
            *ours, *params, **({"approximate": "tanh"} if name == "gelu_tanh" else {})
        )
    else:
        got = getattr(torch, name)(*ours, *params)
    if name in PREDICATES:
        assert got.dtype is torch.bool
        np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())
        return
    # deg2rad/rad2deg/selu on the NumPy backend multiply by float32-rounded constants (a cpu-side
    # deviation, 1e-8 relative): only wgpu is held to float64 tolerance there.
    if f64_device == "cpu" and name in ("deg2rad", "rad2deg", "selu", "erf", "gelu"):
        pytest.skip("the NumPy backend's float32-precision formula for this op (not float64's)")
    # 1 + tanh(z) near z = -5 (gelu_tanh) and x - tanh(x) near 0 (tanhshrink) cancel in PyTorch's
    # formula too: what is left of float64 there is 1e-9 relative.
    rtol = 1e-7 if name == "gelu_tanh" else RTOL
    _close(got, want, rtol=rtol)


def test_sin_cos_large_arguments(f64_device):
    x = np.array([1e5, 1e6, 12345678.9, 1e9, -3e9, 100.0 * math.pi])
    t = torch.tensor(x, device=f64_device)
    for f in ("sin", "cos", "tan"):
        _close(getattr(torch, f)(t), getattr(T, f)(T.from_numpy(x)), rtol=1e-12)
    # past |x| = 2^31 pi/2 (3.4e9) wgpu reduces by Payne-Hanek: within a few ulp of NumPy's up to the largest double
    big = np.array([3.4e9, 1e10, -1e10, 123456789012.5, 1e15, 2.0**60, 1e100, 1e300, -1e300, 1.7976931348623157e308])
    t = torch.tensor(big, device=f64_device)
    for f in ("sin", "cos", "tan"):
        got, want = getattr(torch, f)(t).cpu().numpy(), getattr(np, f)(big)
        assert (np.abs(got - want) <= 4 * np.spacing(np.abs(want))).all(), (f, (got - want) / np.spacing(want))


def test_scalars_are_exact_doubles(f64_device):
    x = torch.tensor([1.5, -2.25, 1e-300, 3.0], dtype=torch.float64, device=f64_device)
    np.testing.assert_array_equal((x * 0.1 + 1e-17).cpu().numpy(), np.array([1.5, -2.25, 1e-300, 3.0]) * 0.1 + 1e-17)
    np.testing.assert_array_equal((x / 3.0).cpu().numpy(), np.array([1.5, -2.25, 1e-300, 3.0]) / 3.0)
    # scalars past float32's range stay doubles (they were +-inf on wgpu)
    np.testing.assert_array_equal((x * 1e300).cpu().numpy(), np.array([1.5, -2.25, 1e-300, 3.0]) * 1e300)
    np.testing.assert_array_equal((x - -2.0**600).cpu().numpy(), np.array([1.5, -2.25, 1e-300, 3.0]) + 2.0**600)
    big = torch.tensor([1e300], dtype=torch.float64, device=f64_device) * 1e10  # overflows to inf, as in float64
    assert math.isinf(big.item())
    tiny = torch.tensor([2.0**-1074], dtype=torch.float64, device=f64_device)
    assert (tiny * 1.0).item() == 2.0**-1074  # denormals survive


@pytest.mark.parametrize("shape", [(), (0,), (5,), (63,), (64,), (65,), (3, 257)])
def test_elementwise_shapes_views_broadcast(f64_device, shape):
    rng = np.random.default_rng(1)
    a = np.asarray(rng.standard_normal(shape))
    b = np.asarray(rng.standard_normal(shape[-1:] if shape else ()))
    ta, tb = torch.tensor(a, device=f64_device), torch.tensor(b, device=f64_device)
    _close(
        torch.exp(ta) * tb - torch.log1p(tb.abs()),
        T.exp(T.from_numpy(a)) * T.from_numpy(b) - T.log1p(T.from_numpy(b).abs()),
    )
    if len(shape) == 2:  # transposed and sliced views
        _close(torch.tanh(ta.t()[1::2]), T.tanh(T.from_numpy(a).t()[1::2]))


# -- reductions ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape,dim", [((), None), ((0, 3), 0), ((7,), 0), ((3, 63), -1), ((2, 65), 1), ((4, 257), -1), ((5, 6, 7), (0, 2))]
)
@pytest.mark.parametrize("op", ["sum", "mean", "prod", "amax", "amin", "var", "std", "logsumexp", "argmax"])
def test_reductions(f64_device, shape, dim, op):
    if op in ("logsumexp", "var", "std", "amax", "amin", "argmax") and 0 in shape:
        pytest.skip("an empty reduction is PyTorch's error case, tested in test_reduce")
    if op in ("argmax", "prod") and isinstance(dim, tuple):
        pytest.skip("PyTorch's argmax and prod take one dim")
    if op == "logsumexp" and dim is None:
        dim = ()
    signs = np.where(np.arange(math.prod(shape)) % 3 == 0, -1.0, 1.0).reshape(shape)
    a = np.asarray(np.random.default_rng(2).uniform(0.5, 1.5, shape) * signs)
    kw = {} if dim is None else {"dim": dim}
    got = getattr(torch, op)(torch.tensor(a, device=f64_device), **kw)
    want = getattr(T, op)(T.from_numpy(a), **kw)
    if op == "argmax":
        assert got.dtype is torch.int64
        np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())
    else:
        _close(got, want)


def test_reductions_nan_inf_and_views(f64_device):
    a = np.random.default_rng(3).standard_normal((9, 70))
    a[2, 5], a[4, 1], a[6, 3] = math.nan, math.inf, -math.inf
    t, w = torch.tensor(a, device=f64_device).t(), T.from_numpy(a).t()  # transposed: strided rows
    for op in ("sum", "amax", "amin", "mean"):
        _close(getattr(torch, op)(t, dim=-1), getattr(T, op)(w, dim=-1))
    _close(torch.softmax(t, dim=0), T.softmax(w, dim=0))


@pytest.mark.parametrize("k", [5, 64, 300])
def test_softmax_log_softmax(f64_device, k):
    a = np.random.default_rng(4).standard_normal((3, k)) * 20
    for f in ("softmax", "log_softmax"):
        _close(getattr(torch, f)(torch.tensor(a, device=f64_device), dim=-1), getattr(T, f)(T.from_numpy(a), dim=-1))


# -- matmul family --------------------------------------------------------------------------------
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 33, 9), (65, 64, 63), (3, 257, 2), (0, 4, 3), (4, 0, 3)])
def test_matmul_bmm_addmm_linear(f64_device, m, k, n):
    rng = np.random.default_rng(5)
    a, b, c = rng.standard_normal((m, k)), rng.standard_normal((k, n)), rng.standard_normal((n,))
    ta, tb, tc = (torch.tensor(x, device=f64_device) for x in (a, b, c))
    wa, wb, wc = (T.from_numpy(x) for x in (a, b, c))
    _close(ta @ tb, wa @ wb)
    _close(torch.addmm(tc, ta, tb, beta=0.5, alpha=2.0), T.addmm(wc, wa, wb, beta=0.5, alpha=2.0))
    _close(torch.nn.functional.linear(ta, tb.t(), tc), TF.linear(wa, wb.t(), wc))
    _close(
        torch.bmm(ta[None].expand(2, m, k), tb[None].expand(2, k, n)),
        T.bmm(wa[None].expand(2, m, k), wb[None].expand(2, k, n)),
    )
    _close(ta.t().t() @ tb.t().contiguous().t(), wa @ wb)  # strided operands


def test_autograd_through_float64_ops(f64_device):
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((7, 3))
    ours = [torch.tensor(x, device=f64_device, requires_grad=True) for x in (a, b)]
    theirs = [T.tensor(x, requires_grad=True) for x in (a, b)]
    for lib, (x, y) in ((torch, ours), (T, theirs)):
        z = lib.log_softmax(lib.tanh(x) @ y.exp(), dim=-1) * lib.sigmoid(x.sum(1, keepdim=True))
        (z.pow(2).mean() + lib.atan2(x, x.abs() + 1).sum()).backward()
    for o, t in zip(ours, theirs):
        assert o.grad.dtype is torch.float64
        _close(o.grad, t.grad)


def _train(lib, device, optimizer: str, steps: int = 15) -> tuple[float, list]:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 5)), rng.standard_normal((16, 2))
    w1, w2 = rng.standard_normal((8, 5)) * 0.3, rng.standard_normal((2, 8)) * 0.3
    model = lib.nn.Sequential(lib.nn.Linear(5, 8), lib.nn.Tanh(), lib.nn.Linear(8, 2)).double()
    with lib.no_grad():
        model[0].weight.copy_(lib.tensor(w1))
        model[0].bias.fill_(0.05)
        model[2].weight.copy_(lib.tensor(w2))
        model[2].bias.fill_(-0.1)
    model = model.to(device)
    make = {
        "sgd": lambda p: lib.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
        "adam": lambda p: lib.optim.Adam(p, lr=0.01),
        "adamw": lambda p: lib.optim.AdamW(p, lr=0.01),
    }
    opt = make[optimizer](model.parameters())
    xt, yt = lib.tensor(x, device=device), lib.tensor(y, device=device)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(xt) - yt) ** 2).mean()
        loss.backward()
        opt.step()
    return loss.item(), [p.detach().cpu().numpy() for p in model.parameters()]


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_mlp_trains_in_float64_like_pytorch(f64_device, optimizer):
    loss, params = _train(torch, f64_device, optimizer)
    want_loss, want = _train(T, "cpu", optimizer)
    assert abs(loss - want_loss) <= 1e-10 * abs(want_loss)
    for p, w in zip(params, want):
        assert p.dtype == np.float64
        np.testing.assert_allclose(p, w, rtol=1e-10, atol=1e-12)


# -- creation, casts, default dtype ----------------------------------------------------------------
def test_creation_and_casts(f64_device):
    d = f64_device
    assert torch.empty(3, dtype=torch.float64, device=d).dtype is torch.float64
    np.testing.assert_array_equal(torch.zeros(2, 3, dtype=torch.float64, device=d).cpu().numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(torch.ones(4, dtype=torch.float64, device=d).cpu().numpy(), np.ones(4))
    assert torch.full((2,), 0.1, dtype=torch.float64, device=d).cpu().numpy()[0] == 0.1
    np.testing.assert_array_equal(
        torch.arange(0.0, 1.0, 0.1, dtype=torch.float64, device=d).cpu().numpy(),
        T.arange(0.0, 1.0, 0.1, dtype=T.float64).numpy(),
    )
    torch.manual_seed(3)
    r = torch.rand(70, dtype=torch.float64, device=d)
    torch.manual_seed(3)
    assert r.dtype is torch.float64 and np.array_equal(r.cpu().numpy(), torch.rand(70, dtype=torch.float64).numpy())
    assert ((r >= 0) & (r < 1)).all()
    assert torch.randn(5, dtype=torch.float64, device=d).dtype is torch.float64
    v = np.array([0.0, -1.5, 2.75, 1e10, -7.0, 1e-320, math.nan])
    x = torch.tensor(v, device=d)
    for dt, tdt in (
        (torch.float32, T.float32),
        (torch.float16, T.float16),
        (torch.int32, T.int32),
        (torch.bool, T.bool),
    ):
        if dt is torch.float16 and d == "wgpu" and "shader-f16" not in torch.wgpu.get_device_properties().features:
            continue
        finite = slice(0, 6) if dt in (torch.int32,) else slice(None)
        vv = v[finite] if dt is not torch.int32 else np.array([0.0, -1.5, 2.75, -7.0, 1e-320])
        y = torch.tensor(vv, device=d).to(dt)
        want = T.from_numpy(vv).to(tdt)
        assert y.dtype is dt
        np.testing.assert_array_equal(y.cpu().numpy(), want.numpy())
        back = y.to(torch.float64)  # and back: the float64 of each value
        assert back.dtype is torch.float64
        np.testing.assert_array_equal(back.cpu().numpy(), want.to(T.float64).numpy())
    assert x.double() is x or x.double().dtype is torch.float64
    ints = torch.tensor([1, -2, 2**31 - 1], device=d).double()
    np.testing.assert_array_equal(ints.cpu().numpy(), [1.0, -2.0, 2.0**31 - 1])


def test_set_default_dtype_float64(f64_device):
    old = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        t = torch.tensor([1.5, 2.5], device=f64_device)
        assert t.dtype is torch.float64 and torch.ones(2, device=f64_device).dtype is torch.float64
        assert (t * 0.1).cpu().numpy()[0] == 1.5 * 0.1
        assert torch.nn.Linear(3, 2).to(f64_device).weight.dtype is torch.float64
    finally:
        torch.set_default_dtype(old)


def test_index_select_and_gather_move_float64_values(f64_device):
    v = np.array([1.0 + 2.0**-52, -1e-310, math.pi, 1e300, math.nan])
    x, w = torch.tensor(v, device=f64_device), T.from_numpy(v)
    idx = [4, 0, 2, 2, 3]
    _close(x[torch.tensor(idx, device=f64_device)], w[T.tensor(idx)])
    _close(torch.gather(x, 0, torch.tensor(idx[:3], device=f64_device)), T.gather(w, 0, T.tensor(idx[:3])))


# -- the device's dtype modes, and an adapter without shader-f64 ------------------------------------
def test_device_properties(wgpu_device):
    props = torch.wgpu.get_device_properties()
    assert props.name == props["name"] == torch.wgpu.get_device_name()
    narrow = "shader-int64" not in props.features or os.environ.get("WGTORCH_WGPU_INT64") == "int32-storage"
    assert props.int64_mode == ("int32-storage" if narrow else "native")
    assert props.float64 == ("shader-f64" in props.features)
    assert props.total_memory is None and isinstance(props.limits, dict)
    assert "float64=" in repr(props)
    with pytest.raises(AttributeError):
        _ = props.no_such_property


_NO_F64 = """
import wgtorch as torch
props = torch.wgpu.get_device_properties()
assert props.float64 is False and "shader-f64" not in props.features, props
for make in (lambda: torch.zeros(2, dtype=torch.float64, device="wgpu"),
             lambda: torch.tensor([1.0], device="cpu").double().to("wgpu")):
    try:
        make()
    except TypeError as e:
        assert "shader-f64" in str(e) and "float64" in str(e), e
    else:
        raise AssertionError("float64 was accepted without shader-f64")
x = torch.tensor([1.0, 2.0], device="wgpu")
assert (x * 2).sum().item() == 6.0
print("ok")
"""


def test_adapter_without_shader_f64_keeps_the_clear_error(wgpu_device):
    env = dict(os.environ, WGTORCH_WGPU_DISABLE_FEATURES="shader-f64, shader-int64")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", _NO_F64], env=env, cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_disabled_features_parsing(monkeypatch):
    from wgtorch._backends.wgpu.runtime import disabled_features

    monkeypatch.setenv("WGTORCH_WGPU_DISABLE_FEATURES", " shader-f64,,shader-int64 ")
    assert disabled_features() == {"shader-f64", "shader-int64"}
    monkeypatch.delenv("WGTORCH_WGPU_DISABLE_FEATURES")
    assert disabled_features() == frozenset()


def test_float64_dtype_storage_type():
    assert D.float64.wgsl == "f64" and D.float32.wgsl == "f32"


def test_widened_param_block_layout_matches_wgsl(f64_device):
    """A float64 kernel's parameter block (f32 fields as f64, WGSL's padding): host == shader."""
    if f64_device != "wgpu":
        pytest.skip("a WGSL layout")
    from wgtorch._backends.wgpu.params import ParamBlock
    from wgtorch._device import get_backend

    block = ParamBlock("off: u32", "x: f32", "p: u32", "q: u32", "v: vec4<f32>", "n: u32", "s: array<f32, 3>").widened()
    assert block.size % 32 == 0 and "vec4<f64>" in block.wgsl
    words = ["f64(P.off)", "P.x", "P.v[0]", "P.v[1]", "P.v[2]", "P.v[3]", "f64(P.n)", "P.s[0]", "P.s[1]", "P.s[2]"]
    body = "\n".join(f"    out[P.off + {k}u] = {w};" for k, w in enumerate(words))
    source = (
        block.wgsl + "@group(0) @binding(1) var<storage, read_write> out: array<f64>;\n"
        f"@compute @workgroup_size(1)\nfn main() {{\n{body}\n}}\n"
    )
    be = get_backend("wgpu")
    out = be.empty((len(words),), torch.float64)
    values = [out.offset, 0.1, 5, 6, 1e-300, -2.5, math.pi, 1e300, 7, 1.0 / 3, -0.0, 2.0**-1074]
    p = be.rt.pipeline(("test-params-f64", source), lambda: source, ("rw",), "test:params64")
    be.rt.dispatch(p, (out.buffer,), block.struct, values, 1)
    np.testing.assert_array_equal(be.to_numpy(out), np.array([out.offset, *values[1:2], *values[4:]], np.float64))
