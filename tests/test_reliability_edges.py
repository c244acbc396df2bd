"""More mismatch classes of issue 12 (tools/fuzz_vs_torch.py replays where known), each checked
against PyTorch on cpu and wgpu: float16 ops with a Python scalar, lerp with huge operands, prod's
gradient at zeros and NaN, max/min over everything at NaN, std/var near the float32 limit,
sin/cos/tan of huge arguments, and exception types of edge-case indexing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wgtorch


def _np(t):
    return t.detach().cpu().numpy()


def _same(got, ref, rtol=0.0, atol=0.0):
    assert str(got.dtype) == str(ref.dtype).replace("torch", "wgtorch")
    assert tuple(got.shape) == tuple(ref.shape)
    np.testing.assert_allclose(
        _np(got).astype(np.float64), ref.detach().numpy().astype(np.float64), rtol=rtol, atol=atol, equal_nan=True
    )


# -- 7: float16 op a Python scalar: mul/div keep the scalar in float32 (PyTorch's opmath) -------
H16 = [1000.0, 3.0, -2.5, 0.0999755859375, 65504.0, -0.0, float("inf"), float("nan"), 6e-5]
SCALAR_OPS = {
    "mul": lambda T, x, s: x * s,
    "rmul": lambda T, x, s: s * x,
    "div": lambda T, x, s: x / s,
    "rdiv": lambda T, x, s: s / x,
    "add": lambda T, x, s: x + s,  # these round the scalar to float16 first, as PyTorch does
    "sub": lambda T, x, s: x - s,
    "pow": lambda T, x, s: x**s,
    "gt": lambda T, x, s: x > s,
    "eq": lambda T, x, s: x == s,
    "floor_div": lambda T, x, s: T.div(x, s, rounding_mode="floor"),
    "trunc_div": lambda T, x, s: T.div(x, s, rounding_mode="trunc"),
    "mul_": lambda T, x, s: x.clone().mul_(s),
    "leaky_relu": lambda T, x, s: T.nn.functional.leaky_relu(-x, s),
    "softplus": lambda T, x, s: T.nn.functional.softplus(x * 0.01, s),
}


@pytest.mark.parametrize("op", sorted(SCALAR_OPS))
@pytest.mark.parametrize("s", [1.0003, 1.0004, 0.00049, 1e-8, 2.9999, 1e10, -7])
def test_float16_op_python_scalar(device, op, s):
    fn = SCALAR_OPS[op]
    if op == "pow" and s == 1e10:  # the exponent does not fit float16: PyTorch refuses it
        with pytest.raises(RuntimeError, match="overflow"):
            fn(torch, torch.tensor(H16, dtype=torch.float16), s)
        with pytest.raises(RuntimeError, match="overflow"):
            fn(wgtorch, wgtorch.tensor(H16, dtype=wgtorch.float16, device=device), s)
        return
    ref = fn(torch, torch.tensor(H16, dtype=torch.float16), s)
    got = fn(wgtorch, wgtorch.tensor(H16, dtype=wgtorch.float16, device=device), s)
    _same(got, ref)


def test_float16_times_scalar_example(device):
    x = wgtorch.tensor([1000.0], dtype=wgtorch.float16, device=device)
    assert (x * 1.0001).tolist() == torch.tensor([1000.0], dtype=torch.float16).mul(1.0001).tolist()
    assert (x * 1.0003).tolist() == [1000.5]  # float16(1.0003) is 1.0: a rounded scalar gives 1000
    assert (x / 1.0003).tolist() == [999.5]


def test_float16_zero_dim_tensor_operand(device):
    # a 0-d float16 tensor is rounded already; a 0-d tensor in front of mul is not swapped (rounded)
    x = wgtorch.tensor(H16, dtype=wgtorch.float16, device=device)
    s = wgtorch.tensor(1.0003, dtype=wgtorch.float16, device=device)
    _same(x * s, torch.tensor(H16, dtype=torch.float16) * torch.tensor(1.0003, dtype=torch.float16))
    if device == "cpu":  # wgpu: a 0-d float32 device tensor is rounded (PyTorch cuda does so too)
        s32 = wgtorch.tensor(1.0003, device=device)
        _same(x * s32, torch.tensor(H16, dtype=torch.float16) * torch.tensor(1.0003))
        _same(s32 * x, torch.tensor(1.0003) * torch.tensor(H16, dtype=torch.float16))


def test_float16_scalar_mul_grad(device):
    xs = [1000.0, -3.0, 0.5]
    a = torch.tensor(xs, dtype=torch.float16, requires_grad=True)
    (a * 1.0003).backward(torch.ones(3, dtype=torch.float16))
    b = wgtorch.tensor(xs, dtype=wgtorch.float16, device=device, requires_grad=True)
    (b * 1.0003).backward(wgtorch.ones(3, dtype=wgtorch.float16, device=device))
    _same(b.grad, a.grad)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("op", ["mul", "rmul", "div", "add", "sub", "gt", "eq"])
@pytest.mark.parametrize("s", [1e300, -1e300, 3.5e38])
def test_scalar_beyond_float32_is_inf(device, dtype, op, s):
    # PyTorch casts the double to float (inf); wgpu's parameter packing raised OverflowError
    x = [1.0, -2.0, 0.0, float("inf"), float("nan")]
    fn = SCALAR_OPS[op]
    ref = fn(torch, torch.tensor(x, dtype=getattr(torch, dtype)), s)
    got = fn(wgtorch, wgtorch.tensor(x, dtype=getattr(wgtorch, dtype), device=device), s)
    _same(got, ref)


# -- 6: exception types and results of edge cases ----------------------------------------------
def _outcome(fn, lib, device):
    try:
        r = fn(lib, device)
    except Exception as e:  # noqa: BLE001  (the class is what is compared)
        return type(e)
    return r


def _compare(fn, device):
    ref = _outcome(fn, torch, "cpu")
    got = _outcome(fn, wgtorch, device)
    if isinstance(ref, type):
        assert got is ref or (isinstance(got, type) and issubclass(ref, got)), (got, ref)
    else:
        assert not isinstance(got, type), got
        _same(got, ref)


BOOLS = [True, False, True, True, False]
EDGE_CASES = {
    "bool_pow_true": lambda L, d: L.tensor(BOOLS, device=d) ** True,
    "bool_pow_false": lambda L, d: L.tensor(BOOLS, device=d) ** False,
    "bool_pow_false_T": lambda L, d: L.tensor([BOOLS, BOOLS[::-1]], device=d).t() ** False,
    "bool_pow_true_fn": lambda L, d: L.pow(L.tensor(BOOLS, device=d)[::2], True),
    "bool_pow_true_0d": lambda L, d: L.tensor(False, device=d) ** True,
    "bool_pow_true_empty": lambda L, d: L.zeros(0, 3, dtype=L.bool, device=d) ** True,
    "bool_pow_int": lambda L, d: L.tensor(BOOLS, device=d) ** 2,
    "bool_pow_bool_tensor": lambda L, d: L.tensor(BOOLS, device=d) ** L.tensor(BOOLS, device=d),
    "true_pow_bool_tensor": lambda L, d: True ** L.tensor(BOOLS, device=d),
    "bool_pow_true_inplace": lambda L, d: L.tensor(BOOLS, device=d).pow_(True),
    "empty_dim_index": lambda L, d: L.zeros(0, device=d)[L.tensor([0, 0], device=d)],
    "empty_dim_index_int32": lambda L, d: L.zeros(0, dtype=L.int64, device=d)[L.tensor([0], dtype=L.int32, device=d)],
    "empty_dim_index_rows": lambda L, d: L.zeros(0, 3, device=d)[L.tensor([1], device=d)],
    "empty_dim_index_cols": lambda L, d: L.zeros(3, 0, device=d)[:, L.tensor([0, -1], device=d)],
    "empty_dim_index_two": lambda L, d: L.zeros(0, 3, device=d)[L.tensor([0], device=d), L.tensor([1], device=d)],
    "empty_dim_empty_index": lambda L, d: L.zeros(0, 3, device=d)[L.tensor([], dtype=L.int64, device=d)],
    "index_select_empty_rows": lambda L, d: L.index_select(L.zeros(3, 0, device=d), 0, L.tensor([3, 2], device=d)),
    "index_select_empty_ok": lambda L, d: L.index_select(L.zeros(3, 0, device=d), 0, L.tensor([2, 0], device=d)),
    "index_select_empty_dim": lambda L, d: L.index_select(L.zeros(0, 2, device=d), 0, L.tensor([0], device=d)),
}


def _setitem(value, key):
    def fn(L, d):
        a = L.zeros(0, dtype=L.int32, device=d)
        a[key(L, d)] = value
        return a

    return fn


for _v in (float("nan"), 2**40, 1.5):
    EDGE_CASES[f"setitem_empty_int_{_v}"] = _setitem(_v, lambda L, d: 0)
    EDGE_CASES[f"setitem_empty_int_tensor_{_v}"] = _setitem(_v, lambda L, d: L.tensor([0], device=d))
    EDGE_CASES[f"setitem_empty_int_slice_{_v}"] = _setitem(_v, lambda L, d: slice(None))


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_case_like_pytorch(device, name):
    _compare(EDGE_CASES[name], device)


def test_several_ellipsis_refused(device):
    # a deliberate deviation: PyTorch 2.13 takes the first Ellipsis and ignores the others where it
    # can (x[..., 0, ...]) and fails oddly where it cannot (x[0, ..., ..., 1]); NumPy refuses both
    x = wgtorch.zeros(2, 3, 4, device=device)
    for key in ((..., 0, ...), (0, ..., ..., 1), (..., ...)):
        with pytest.raises(IndexError, match="single ellipsis"):
            x[key]


# -- 2: lerp with huge operands: PyTorch's two branches with a fused multiply-add (13:9949) -----
LERP_VALS = [0.0857, 3e38, -3e38, 2.5e38, -1.0, 0.0, -0.0, 1e-3, 7.0, float("inf"), float("-inf"), float("nan")]
LERP_W = [-0.785, 0.0, 1.0, 0.25, 0.5, 0.49, -0.49, 1.7, -2.0, 0.75, float("nan"), float("inf")]


def _lerp_inputs(dtype):
    vals = LERP_VALS if dtype == "float32" else [v if abs(v) < 1e30 else v / 5e33 for v in LERP_VALS]
    a = np.array(vals, np.float32)
    grid = np.stack(np.meshgrid(a, a, np.array(LERP_W, np.float32), indexing="ij")).reshape(3, -1)
    return [g.astype(dtype) for g in grid]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("layout", ["contig", "T", "scalar_w"])
def test_lerp_huge_operands(device, dtype, layout):
    a, b, w = _lerp_inputs(dtype)
    if layout == "T":  # transposed views of (k, 12) rows
        a, b, w = (x.reshape(-1, 12).T.copy().T for x in (a, b, w))
    ta, tb, tw = (torch.tensor(x) for x in (a, b, w))
    ga, gb, gw = (wgtorch.tensor(x, device=device) for x in (a, b, w))
    if layout == "T":
        ta, tb, tw = (x.T.contiguous().T for x in (ta, tb, tw))
        ga, gb, gw = (x.T.contiguous().T for x in (ga, gb, gw))
        assert not ga.is_contiguous()
    if layout == "scalar_w":
        for s in (-0.785, 0.25, 1.7, 0.5):
            _same(wgtorch.lerp(ga, gb, s), torch.lerp(ta, tb, s), rtol=2e-7 if dtype == "float32" else 1e-3)
        return
    _same(wgtorch.lerp(ga, gb, gw), torch.lerp(ta, tb, tw), rtol=2e-7 if dtype == "float32" else 1e-3)


def test_lerp_example_from_fuzz(device):
    a, b, w = [0.08567682], [3e38], [-0.7850796]
    ref = torch.lerp(torch.tensor(a), torch.tensor(b), torch.tensor(w))
    got = wgtorch.lerp(*(wgtorch.tensor(x, device=device) for x in (a, b, w)))
    assert np.isfinite(ref.numpy()).all()
    _same(got, ref, rtol=2e-7)


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 257])
def test_lerp_sizes_broadcast_grad(device, n):
    rng = np.random.default_rng(n)
    a = rng.normal(size=(3, n)).astype(np.float32)
    b = rng.normal(size=(1, n)).astype(np.float32)
    w = rng.uniform(-1, 2, size=(3, 1)).astype(np.float32)
    ts = [torch.tensor(x, requires_grad=True) for x in (a, b, w)]
    gs = [wgtorch.tensor(x, device=device, requires_grad=True) for x in (a, b, w)]
    ref, got = torch.lerp(*ts), wgtorch.lerp(*gs)
    _same(got, ref, rtol=1e-6, atol=1e-6)
    ref.sum().backward()
    got.sum().backward()
    for g, t in zip(gs, ts):
        _same(g.grad, t.grad, rtol=1e-5, atol=1e-5)


def test_lerp_zero_dim(device):
    ref = torch.lerp(torch.tensor(3e38), torch.tensor(-3e38), torch.tensor(0.6))
    got = wgtorch.lerp(
        wgtorch.tensor(3e38, device=device), wgtorch.tensor(-3e38, device=device), wgtorch.tensor(0.6, device=device)
    )
    _same(got, ref, rtol=2e-7)


# -- 3: prod's gradient with zeros, NaN and inf (13:897, 14:11083, 12:19780) -----------------------
NAN, INF = float("nan"), float("inf")
PROD_ROWS = {
    "no_zero": [[1.5, -2.0, 0.5], [3.0, 0.25, -1.0]],
    "one_zero": [[0.0, -2.5, 1.5], [1.5, -0.96, -0.37]],
    "two_zeros": [[0.0, 2.0, 0.0], [1.0, 2.0, 3.0]],
    "zero_nan": [[0.0, -2.57, NAN], [1.46, -0.96, -0.37]],
    "nan_only": [[NAN, 2.0, 3.0], [1.0, 2.0, 3.0]],
    "zero_inf": [[0.0, INF, 2.0], [INF, 1.0, -2.0]],
    "inf_no_zero": [[INF, 2.0, 3.0], [1.0, -INF, 0.5]],
}


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("dim", [0, 1, -1, None])
@pytest.mark.parametrize("rows", sorted(PROD_ROWS))
def test_prod_grad_like_pytorch(device, rows, dim, dtype):
    x = np.array(PROD_ROWS[rows], dtype)
    t = torch.tensor(x, requires_grad=True)
    w = wgtorch.tensor(x, device=device, requires_grad=True)
    ref = torch.prod(t) if dim is None else torch.prod(t, dim)
    got = wgtorch.prod(w) if dim is None else wgtorch.prod(w, dim)
    _same(got, ref, rtol=1e-3)
    up = np.linspace(0.5, 1.5, max(ref.numel(), 1)).astype(dtype).reshape(tuple(ref.shape))
    ref.backward(torch.tensor(up))
    got.backward(wgtorch.tensor(up, device=device))
    _same(w.grad, t.grad, rtol=2e-3 if dtype == "float16" else 1e-5)


@pytest.mark.parametrize("x", [[NAN], [0.0], [INF], [2.0]])
def test_prod_grad_single_element(device, x):
    t = torch.tensor(x, requires_grad=True)
    torch.prod(t, 0).backward()
    w = wgtorch.tensor(x, device=device, requires_grad=True)
    wgtorch.prod(w, 0).backward()
    _same(w.grad, t.grad)


def test_prod_grad_strided_and_zero_dim(device):
    x = np.array([[0.0, 2.0, 3.0, 4.0], [1.0, NAN, 3.0, 0.5], [2.0, 0.5, 0.0, 0.0]], np.float32)
    t = torch.tensor(x, requires_grad=True)
    w = wgtorch.tensor(x, device=device, requires_grad=True)
    torch.prod(t.t()[::2], 1).sum().backward()
    wgtorch.prod(w.t()[::2], 1).sum().backward()
    _same(w.grad, t.grad)
    t0, w0 = torch.tensor(0.0, requires_grad=True), wgtorch.tensor(0.0, device=device, requires_grad=True)
    torch.prod(t0).backward()
    wgtorch.prod(w0).backward()
    _same(w0.grad, t0.grad)


# -- 4: max()/min() over everything: g / count to the ties, or to the NaNs (13:2171, 14:10760) --
MAX_ROWS = [
    [1.0, NAN, 3.0, NAN],
    [1.0, NAN, 3.0, 3.0],
    [3.0, 1.0, 3.0, -1.0],
    [NAN, NAN, NAN, NAN],
    [-INF, -INF, 2.0, 2.0],
]


@pytest.mark.parametrize("fn", ["max", "min", "amax", "amin"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("k", range(len(MAX_ROWS)))
def test_max_all_grad_nan(device, fn, dtype, k):
    x = np.array(MAX_ROWS[k], dtype)
    for shape in [(4,), (2, 2)]:
        t = torch.tensor(x.reshape(shape), requires_grad=True)
        w = wgtorch.tensor(x.reshape(shape), device=device, requires_grad=True)
        ref, got = getattr(torch, fn)(t), getattr(wgtorch, fn)(w)
        _same(got, ref)
        ref.backward(torch.tensor(0.75, dtype=ref.dtype))
        got.backward(wgtorch.tensor(0.75, dtype=got.dtype, device=device))
        _same(w.grad, t.grad)


def test_max_all_transposed_zero_dim_and_errors(device):
    x = np.array([[1.0, NAN], [NAN, 2.0], [5.0, 5.0]], np.float32)
    t = torch.tensor(x, requires_grad=True)
    w = wgtorch.tensor(x, device=device, requires_grad=True)
    torch.max(t.t()).backward()
    wgtorch.max(w.t()).backward()
    _same(w.grad, t.grad)
    t0, w0 = torch.tensor(NAN, requires_grad=True), wgtorch.tensor(NAN, device=device, requires_grad=True)
    torch.min(t0).backward()
    wgtorch.min(w0).backward()
    _same(w0.grad, t0.grad)
    _same(wgtorch.max(wgtorch.tensor([3, 7, 7], device=device)), torch.max(torch.tensor([3, 7, 7])))
    _same(wgtorch.max(wgtorch.tensor([True, False], device=device)), torch.max(torch.tensor([True, False])))
    with pytest.raises(RuntimeError):
        torch.max(torch.zeros(0))
    with pytest.raises(RuntimeError):
        wgtorch.max(wgtorch.zeros(0, device=device))


# -- 5: atan2's gradient with an int64 operand near 2**31 (13:8026: b * b wrapped in i32 on wgpu) --
@pytest.mark.parametrize("b_dtype", ["int64", "int32"])
def test_atan2_grad_big_int_operand(device, b_dtype):
    b = np.array([2**31 - 1, -(2**31), 46341, -46340, 0, 7, 123456789], b_dtype)
    a = np.array([0.5, -3.0, 2.0, 1e4, 0.0, -0.25, 3e9], np.float32)
    ta = torch.tensor(a, requires_grad=True)
    wa = wgtorch.tensor(a, device=device, requires_grad=True)
    ref, got = torch.atan2(ta, torch.tensor(b)), wgtorch.atan2(wa, wgtorch.tensor(b, device=device))
    _same(got, ref, rtol=3e-5)  # the oracle's "approx" class (wgpu's atan2 is within 2.1e-5)
    ref.backward(torch.ones_like(ref))
    got.backward(wgtorch.ones_like(got))
    _same(wa.grad, ta.grad, rtol=1e-5)
    tb = torch.tensor(b[::-1].copy()).reshape(7, 1)[::2]  # broadcast, step-sliced int operand
    wb = wgtorch.tensor(b[::-1].copy(), device=device).reshape(7, 1)[::2]
    ta.grad, wa.grad = None, None
    torch.atan2(tb, ta).sum().backward()
    wgtorch.atan2(wb, wa).sum().backward()
    _same(wa.grad, ta.grad, rtol=1e-5, atol=1e-30)


# -- 1: std/var of values near the float32 limit (13:18, 14:5177, 14:3491, 11:4733) --------------
STD_ROWS = [
    [0.5, -3e38, 1.49, 0.5, -1.48],
    [3e38, 3e38, 1.0, -2.0, 0.0],
    [3e38, -3e38, 3e38, -3e38, 3e38],
    [1.0, 2.0, 3.0, 4.0, 5.0],
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [1e-30, -1e-30, 2e-30, 0.0, 5e-31],
    [NAN, 1.0, 2.0, 3.0, 4.0],
    [INF, 1.0, 2.0, 3.0, 4.0],
    [3e38, -INF, 1.0, 2.0, 3.0],
]


@pytest.mark.parametrize("fn", ["std", "var"])
@pytest.mark.parametrize("correction", [0, 1])
@pytest.mark.parametrize("dim", [1, -1, None, 0])
def test_std_var_huge_values(device, fn, correction, dim):
    x = np.array(STD_ROWS, np.float32)
    t, w = torch.tensor(x), wgtorch.tensor(x, device=device)
    kw = {"correction": correction} if dim is None else {"dim": dim, "correction": correction}
    _same(getattr(wgtorch, fn)(w, **kw), getattr(torch, fn)(t, **kw), rtol=1e-4, atol=1e-35)
    _same(getattr(wgtorch, fn)(w.t(), **kw), getattr(torch, fn)(t.t(), **kw), rtol=1e-4, atol=1e-35)


def test_std_float16_and_keepdim(device):
    x = np.array([[6e4, -6e4, 1.0], [6e4, 6e4, -6e4]], np.float16)
    t, w = torch.tensor(x), wgtorch.tensor(x, device=device)
    _same(wgtorch.std(w, dim=1, keepdim=True), torch.std(t, dim=1, keepdim=True), rtol=2e-3)
    _same(wgtorch.var(w, dim=0), torch.var(t, dim=0), rtol=2e-3)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 257])
def test_std_grad_unchanged_by_scaling(device, n):
    rng = np.random.default_rng(n)
    x = (rng.normal(size=(2, n)) * 1e3).astype(np.float32)
    t = torch.tensor(x, requires_grad=True)
    w = wgtorch.tensor(x, device=device, requires_grad=True)
    torch.std(t, dim=1).sum().backward()
    wgtorch.std(w, dim=1).sum().backward()
    _same(w.grad, t.grad, rtol=1e-4, atol=1e-6)
    t.grad, w.grad = None, None
    torch.var(t).backward()
    wgtorch.var(w).backward()
    _same(w.grad, t.grad, rtol=1e-4, atol=1e-4)
    empty = wgtorch.zeros(0, 3, device=device)
    _same(wgtorch.std(empty, dim=0), torch.std(torch.zeros(0, 3), dim=0))


# -- 8: sin/cos/tan of huge arguments on wgpu (lavapipe's builtins fail past ~1e7; 21:271) -------
def _ulps(got, x, fn):
    ref = fn(x.astype(np.float64))
    return np.abs(got.astype(np.float64) - ref) / np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)


@pytest.mark.parametrize("fn", ["sin", "cos", "tan"])
@pytest.mark.parametrize("exp10", [-1, 0, 1, 2, 3, 5, 6, 7, 8, 12, 20, 30, 38])
def test_trig_huge_arguments_within_ulps(device, fn, exp10):
    rng = np.random.default_rng(exp10 + 1)
    x = (10.0**exp10 * rng.uniform(0.5, 3.4 if exp10 == 38 else 1.5, 300)).astype(np.float32)
    x = np.concatenate([x, -x, np.float32([2.0**19, 2.0**19 - 1, 524288.5, 3.4028235e38, 2.0**127, 1e30])])
    got = _np(getattr(wgtorch, fn)(wgtorch.tensor(x, device=device)))
    assert _ulps(got, x, getattr(np, fn)).max() < 4.0
    ref = getattr(torch, fn)(torch.tensor(x)).numpy()  # PyTorch (SLEEF) is within an ulp or two too
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=3e-7)


def test_trig_special_and_layouts(device):
    x = np.array(
        [[np.inf, -np.inf, np.nan, 0.0, -0.0, 1e30], [3e38, -3e38, 1e8, -1e8, 12345678.0, 2.0**24]], np.float32
    )
    for fn in ("sin", "cos", "tan"):
        got = getattr(wgtorch, fn)(wgtorch.tensor(x, device=device).t())
        ref = getattr(torch, fn)(torch.tensor(x).t())
        _same(got, ref, rtol=1e-6, atol=3e-7)
    ints = np.array([2**31 - 1, -(2**31), 123456789, 100000007, 65], np.int32)
    _same(wgtorch.sin(wgtorch.tensor(ints, device=device)), torch.sin(torch.tensor(ints)), rtol=1e-6, atol=3e-7)
    g = wgtorch.tensor([1e20, -3e9], device=device, requires_grad=True)
    t = torch.tensor([1e20, -3e9], requires_grad=True)
    wgtorch.sin(g).sum().backward()
    torch.sin(t).sum().backward()
    _same(g.grad, t.grad, rtol=1e-6, atol=3e-7)
