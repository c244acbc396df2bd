"""The elementwise kernel family (shaders/elementwise.wgsl) against NumPy, on cpu and wgpu."""

from __future__ import annotations

import math

import numpy as np
import pytest

import wgtorch as torch
from tests.helpers import assert_close, rand

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-30, 3e38, -88.0, 90.0],
                    np.float32)

with np.errstate(all="ignore"):
    def _erf(x):
        return np.vectorize(math.erf, otypes=[np.float64])(x)

UNARY = {
    "neg": np.negative, "abs": np.abs, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x), "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "relu": lambda x: np.where(x > 0, x, np.where(np.isnan(x), x, 0)),
    "reciprocal": lambda x: 1 / x, "sign": lambda x: np.where(np.isnan(x), 0, np.sign(x)),  # PyTorch: sign(NaN) = 0
    "floor": np.floor, "ceil": np.ceil, "round": np.round,
    "trunc": np.trunc, "square": np.square, "log1p": np.log1p, "expm1": np.expm1, "erf": _erf,
    "silu": lambda x: x / (1 + np.exp(-x)),
}
# Transcendentals on GPUs are not correctly rounded: a few ulps, looser near overflow.
TOL = {"exp": 2e-6, "sin": 1e-6, "cos": 1e-6, "tanh": 2e-6, "log1p": 2e-6, "expm1": 3e-6, "erf": 2e-6,
       "silu": 2e-6, "sigmoid": 2e-6}


def ref(fn, x):
    with np.errstate(all="ignore"):
        return np.asarray(fn(x.astype(np.float64))).astype(np.float32)


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_values_and_specials(device, op):
    x = np.concatenate([rand(37, seed=1, low=-3, high=3), SPECIALS])
    if op in ("sin", "cos"):  # GPU sin/cos lose accuracy for huge arguments, as in CUDA's fast math
        x = x[np.abs(np.nan_to_num(x, posinf=0, neginf=0)) < 100]
    got = getattr(torch.tensor(x, device=device), op)()
    assert_close(got, ref(UNARY[op], x), rtol=TOL.get(op, 1e-6), atol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 255, 257, 1001])
def test_sizes_around_the_workgroup(device, n):
    a, b = rand(n, seed=2), rand(n, seed=3)
    assert_close(torch.tensor(a, device=device) * torch.tensor(b, device=device) + 1.5, a * b + 1.5)


def test_zero_dim_and_empty(device):
    x = torch.tensor(2.5, device=device)
    assert x.ndim == 0
    assert_close(x * 2 - 1, np.float32(4.0))
    assert (x.exp() * 0 + 1).item() == 1.0
    e = torch.zeros(0, 3, device=device)
    assert tuple((e + 1).shape) == (0, 3)
    assert tuple((e.exp() + torch.ones(3, device=device)).shape) == (0, 3)


def test_broadcasting_both_ways(device):
    a, b, c = rand(4, 1, 3, seed=1), rand(5, 1, seed=2), rand(3, seed=3)
    ta, tb, tc = (torch.tensor(v, device=device) for v in (a, b, c))
    assert_close(ta + tb, a + b)
    assert_close(tb * ta - tc, b * a - c)
    assert_close(torch.maximum(tc, tb), np.maximum(c, b))


def test_scalars_on_both_sides(device):
    a = rand(7, seed=4, low=0.5, high=3)
    t = torch.tensor(a, device=device)
    assert_close(2 - t, 2 - a)
    assert_close(3 / t, 3 / a, rtol=1e-6)
    assert_close(t ** 2, a ** 2, rtol=1e-6)
    assert_close(2 ** t, 2 ** a, rtol=1e-6)
    assert_close(t / 4, a / 4)


def test_non_contiguous_inputs(device):
    a = rand(6, 10, seed=5)
    t = torch.tensor(a, device=device)
    assert_close(t.T * 2, a.T * 2)
    assert_close(t[::2, 1::3].exp(), np.exp(a[::2, 1::3]), rtol=2e-6)
    assert_close(t.T[1:4, :3] + t[:3, :6].T[1:4], a.T[1:4, :3] + a[:3, :6].T[1:4])
    e = torch.tensor(rand(1, 10, seed=6), device=device).expand(6, 10)
    assert_close(t - e, a - np.broadcast_to(rand(1, 10, seed=6), (6, 10)))


def test_many_dims_merge_and_permute(device):
    a = rand(2, 3, 1, 4, 5, 2, seed=7)
    t = torch.tensor(a, device=device)
    perm = (5, 0, 4, 2, 1, 3)
    assert_close(t.permute(*perm).sigmoid(), 1 / (1 + np.exp(-a.transpose(perm))), rtol=2e-6)


def test_binary_ops_and_nan_propagation(device):
    a = np.array([1.0, np.nan, 3.0, -np.inf, 2.0, 0.0], np.float32)
    b = np.array([np.nan, 2.0, 3.0, 1.0, -np.inf, -0.0], np.float32)
    ta, tb = torch.tensor(a, device=device), torch.tensor(b, device=device)
    assert_close(torch.maximum(ta, tb), np.maximum(a, b))
    assert_close(torch.minimum(ta, tb), np.minimum(a, b))
    assert_close(ta.clamp(-1, 2), np.array([1, np.nan, 2, -1, 2, 0], np.float32))
    assert_close(ta == tb, a == b)
    assert_close(ta != tb, a != b)
    assert_close(ta < tb, a < b)
    assert_close(ta.isnan(), np.isnan(a))
    assert_close(ta.isinf(), np.isinf(a))
    assert_close(ta.isfinite(), np.isfinite(a))
    with np.errstate(all="ignore"):
        assert_close(ta / tb, a / b)
        assert_close(torch.atan2(ta, tb), np.arctan2(a, b), rtol=5e-6)


def test_pow_edge_cases(device):
    base = np.array([-2.0, -2.0, -8.0, 0.0, 0.0, 2.0, 1.0, np.nan, -1.5], np.float32)
    expo = np.array([2.0, 3.0, 1 / 3, 0.0, 2.0, -1.0, np.nan, 0.0, 0.5], np.float32)
    got = torch.tensor(base, device=device) ** torch.tensor(expo, device=device)
    with np.errstate(all="ignore"):
        assert_close(got, np.power(base, expo), rtol=1e-6)


def test_integer_ops(device):
    a = np.array([-7, -3, 0, 5, 9, 2**31 - 1], np.int64)
    b = np.array([2, -2, 3, -4, 3, 1], np.int64)
    ta, tb = torch.tensor(a, device=device), torch.tensor(b, device=device)
    assert_close(ta + tb * 0, a, dtype=torch.int64)
    assert_close(ta // tb, a // b)
    assert_close(ta % tb, a % b)
    assert_close(torch.maximum(ta, tb), np.maximum(a, b))
    assert_close(ta.abs(), np.abs(a))
    assert_close(ta / tb, (a / b).astype(np.float32), dtype=torch.float32)  # true division
    assert_close(ta.clamp(-3, 4), np.clip(a, -3, 4))
    # ((2**31 - 1) ** 2 fits PyTorch's int64 but not int32's storage: test_reliability_int64.py)
    assert_close(ta[:-1] ** 2 * 0 + tb[:-1] ** 2, b[:-1] ** 2)


def test_type_promotion(device):
    i = torch.tensor([1, 2, 3], device=device)
    f = torch.tensor([0.5, 1.5, 2.5], device=device)
    b = torch.tensor([True, False, True], device=device)
    assert (i + 1).dtype is torch.int64
    assert (i + 1.5).dtype is torch.float32
    assert (i + f).dtype is torch.float32
    assert (b + 1).dtype is torch.int64
    assert (b & b).dtype is torch.bool
    assert (i.to(torch.int32) + torch.tensor(5, device=device)).dtype is torch.int32
    assert (f.half() * 2).dtype is torch.float16 if device == "cpu" or _has_f16() else True
    assert_close(i * 1.5, np.array([1.5, 3.0, 4.5], np.float32))
    assert_close(i.exp(), np.exp(np.array([1, 2, 3], np.float32)), rtol=2e-6, dtype=torch.float32)


def _has_f16():
    return "shader-f16" in torch.wgpu.get_device_properties()["features"]


def test_where_and_masked_fill(device):
    a, b = rand(3, 4, seed=8), rand(4, seed=9)
    cond = a > 0
    ta, tb, tc = torch.tensor(a, device=device), torch.tensor(b, device=device), torch.tensor(cond, device=device)
    assert_close(torch.where(tc, ta, tb), np.where(cond, a, b))
    assert_close(torch.where(tc, ta, 0.0), np.where(cond, a, 0))
    assert_close(ta.masked_fill(tc, -1.0), np.where(cond, -1, a))


def test_activation_functions_with_parameters(device):
    x = np.concatenate([rand(20, seed=10, low=-30, high=30), SPECIALS[:3]])
    t = torch.tensor(x, device=device)
    from wgtorch.ops.pointwise import pointwise
    with np.errstate(all="ignore"):
        x64 = x.astype(np.float64)
        assert_close(pointwise("leaky_relu", t, 0.1), np.where(x64 >= 0, x64, 0.1 * x64).astype(np.float32))
        assert_close(pointwise("elu", t, 1.0), np.where(x64 > 0, x64, np.expm1(x64)).astype(np.float32),
                     rtol=2e-6, atol=1e-6)
        softplus = np.where(x64 > 20, x64, np.log1p(np.exp(x64)))
        assert_close(pointwise("softplus", t, 1.0, 20.0), softplus.astype(np.float32), rtol=2e-6, atol=1e-6)
        gelu = 0.5 * x64 * (1 + _erf(x64 / np.sqrt(2)))
        assert_close(pointwise("gelu", t), gelu.astype(np.float32), rtol=2e-6, atol=1e-6)


def test_casts(device):
    x = np.array([-2.7, -0.5, 0.0, 0.4, 3.9, 1e9], np.float32)
    t = torch.tensor(x, device=device)
    assert_close(t.int(), np.trunc(x).astype(np.int32), dtype=torch.int32)
    assert_close(t.bool(), x != 0, dtype=torch.bool)
    assert_close(t.bool().float(), (x != 0).astype(np.float32))
    assert_close(t.long() + 1, np.trunc(x).astype(np.int64) + 1, dtype=torch.int64)
    if device == "cpu" or _has_f16():
        with np.errstate(over="ignore"):  # 1e9 overflows to inf in float16, as in PyTorch
            assert_close(t.half(), x.astype(np.float16), dtype=torch.float16)


def test_more_than_65535_workgroups(device):
    # 65,535 workgroups of 64 threads cover 4,194,240 elements; one more element folds the grid into 2-D.
    n = 65535 * 64 + 100
    x = torch.arange(n, dtype=torch.float32, device=device)
    y = (x * 2 + 1).numpy()
    assert y[0] == 1 and y[n - 1] == 2 * (n - 1) + 1
    np.testing.assert_array_equal(y[::9973], 2 * np.arange(n, dtype=np.float32)[::9973] + 1)


def test_in_place_ops_through_views(device):
    a = rand(4, 6, seed=11)
    t = torch.tensor(a, device=device)
    t[1:3, ::2] += 10
    t.T[0].mul_(0)
    t[3].fill_(7)
    expected = a.copy()
    expected[1:3, ::2] += 10
    expected.T[0] *= 0
    expected[3] = 7
    assert_close(t, expected)
    t.zero_()
    assert_close(t, np.zeros_like(a))
    t.copy_(torch.tensor(a, device=device).T.T)
    t.clamp_(-1, 1).div_(2)
    assert_close(t, np.clip(a, -1, 1) / 2)


def test_in_place_overlapping_source(device):
    t = torch.arange(8, dtype=torch.float32, device=device)
    t[1:] = t[:-1].clone() + 0  # clone: no aliasing
    t2 = torch.arange(8, dtype=torch.float32, device=device)
    t2[1:] = t2[:-1]  # overlapping read and write of one buffer: copy_ must read before writing
    assert_close(t2, np.array([0, 0, 1, 2, 3, 4, 5, 6], np.float32))
    assert_close(t, t2.numpy())


def test_device_mismatch_and_bad_broadcast_errors(device):
    a = torch.ones(2, 3, device=device)
    with pytest.raises(RuntimeError, match="must match the size"):
        a + torch.ones(4, device=device)
    other = "cpu" if device == "wgpu" else "wgpu"
    if torch.wgpu.is_available():
        with pytest.raises(RuntimeError, match="same device"):
            a + torch.ones(2, 3, device=other)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        torch.ones(3, device=device).add_(torch.ones(2, 3, device=device))
    # The device still works after the errors.
    assert_close(a + 1, np.full((2, 3), 2, np.float32))


def test_nan_is_truthy_when_cast_to_bool(device):
    t = torch.tensor([np.nan, 0.0, -0.0, 2.0], device=device)
    assert t.bool().tolist() == [True, False, False, True]
    assert torch.logical_and(t, t).tolist() == [True, False, False, True]


def test_the_wgpu_kernel_refuses_operands_larger_than_its_output(wgpu_device):
    """The backend itself checks (not only copy_/setitem): no kernel may read past an operand."""
    be = torch.ones(1, device="wgpu")._be
    out = be.empty((3,), torch.float32)
    for shape in ((4,), (2, 3)):
        with pytest.raises(RuntimeError, match="does not broadcast"):
            be.elementwise("copy", [be.empty(shape, torch.float32)], torch.float32, torch.float32, out=out)
    be.elementwise("add", [be.empty((1,), torch.float32), 1.0], torch.float32, torch.float32, out=out)  # broadcasts


def test_expm1_keeps_its_low_digits_below_one_half(device):
    """exp(x) - 1 alone loses them (1e-4 relative at x = -1e-3, which 1 - beta**t bias
    corrections of the capturable optimizers take): float32 to a few ulps, as PyTorch's."""
    x = np.concatenate([np.geomspace(1e-7, 0.6, 400), -np.geomspace(1e-7, 0.6, 400)]).astype(np.float32)
    got = torch.expm1(torch.tensor(x, device=device)).numpy().astype(np.float64)
    np.testing.assert_allclose(got, np.expm1(x.astype(np.float64)), rtol=4e-7, atol=0)
