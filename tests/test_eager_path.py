"""The eager op path's caches (`ops/pointwise.py` signatures, `_backends/wgpu/elementwise.py` plans,
`WgpuBackend.empty` layouts) and wgpu-native's direct pass calls (`runtime.py`): a repeated call
must give what a first call gives, whatever changed between the two calls that the caches do not
key on (offsets, pages, scalar values, aliasing), and must still see what they do key on."""

from __future__ import annotations

import numpy as np
import pytest
import torch as pt

import wgtorch as torch
from tests.helpers import assert_close, rand


def _both(x: np.ndarray, device):
    return torch.tensor(x, device=device), pt.tensor(x)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 257])
def test_repeated_ops_match_pytorch_across_offsets_and_aliasing(device, n):
    x, px = _both(rand(n, seed=1), device)
    y, py = _both(rand(n, seed=2), device)
    for k in range(3):  # the second and third calls hit every cache
        pad = torch.ones(7 + 5 * k, device=device)  # moves the next tensors to other offsets
        assert_close(x + y, (px + py).numpy())
        assert_close(x + x, (px + px).numpy())  # one buffer at two bindings
        assert_close(x * (k + 0.5), (px * (k + 0.5)).numpy())  # the scalar changes, the plan does not
        assert_close((x - y).relu(), (px - py).relu().numpy())
        del pad


def test_strides_are_part_of_the_plan(device):
    a, pa = _both(rand(5, 6, seed=3), device)
    b, pb = _both(rand(6, 5, seed=4), device)
    for _ in range(2):
        assert_close(a + b.t(), (pa + pb.t()).numpy())  # same shapes, other strides
        assert_close(a + b.t().contiguous(), (pa + pb.t().contiguous()).numpy())
        assert_close(a[:, ::2] * 2, (pa[:, ::2] * 2).numpy())
        assert_close(a[1:, 1:] - a[:-1, :-1], (pa[1:, 1:] - pa[:-1, :-1]).numpy())


def test_broadcasting_is_checked_on_every_call(device):
    a, pa = _both(rand(4, 3, seed=5), device)
    b, pb = _both(rand(3, seed=6), device)
    bad = torch.ones(4, device=device)
    for _ in range(2):
        assert_close(a + b, (pa + pb).numpy())
        assert_close(b + a, (pb + pa).numpy())
        with pytest.raises(RuntimeError):
            a + bad
        with pytest.raises(RuntimeError):
            pa + pt.ones(4)


def test_promotion_sees_zero_dim_tensors_scalars_and_the_default_dtype(device):
    i = torch.tensor([1, 2, 3], dtype=torch.int32, device=device)
    pi = pt.tensor([1, 2, 3], dtype=pt.int32)
    zero_d, pzero_d = torch.tensor(2, dtype=torch.int64, device=device), pt.tensor(2, dtype=pt.int64)
    one_d, pone_d = torch.tensor([2], dtype=torch.int64, device=device), pt.tensor([2], dtype=pt.int64)
    for _ in range(2):
        assert (i + zero_d).dtype == torch.int32 and (pi + pzero_d).dtype == pt.int32  # 0-d: no lift
        assert (i + one_d).dtype == torch.int64 and (pi + pone_d).dtype == pt.int64
        assert (i * 2).dtype == torch.int32 and (i * 2.5).dtype == torch.float32
        assert (i * True).dtype == torch.int32
        assert_close(i * 2.5, (pi * 2.5).numpy())
    f = torch.tensor([1.0, 2.0], device=device)
    if device == "cpu":  # wgpu refuses float64; the rule is the same
        torch.set_default_dtype(torch.float64)
        try:
            assert (i * 2.5).dtype == torch.float64  # the cache keys on the default dtype
            assert (f * 2.5).dtype == torch.float32
        finally:
            torch.set_default_dtype(torch.float32)
    assert (i * 2.5).dtype == torch.float32


def test_value_checks_still_run_on_cached_signatures(device):
    a = torch.tensor([4, 6], dtype=torch.int32, device=device)
    for _ in range(2):
        assert_close(a // 2, np.array([2, 3], np.int32))
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            a // 0
        with pytest.raises(RuntimeError, match="negative integer powers"):
            a**-1
        assert_close(a**2, np.array([16, 36], np.int32))
    m = torch.tensor([True, False], device=device)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="Subtraction"):
            m - m


def test_refused_dtypes_raise_on_every_call(device):
    with pytest.raises(Exception) as expected:
        pt.tensor([True, False]).neg()
    b = torch.tensor([True, False], device=device)
    for _ in range(2):  # a refusal is never cached as a signature
        with pytest.raises(type(expected.value)):
            b.neg()


def test_zero_size_and_zero_dim_results(device):
    for _ in range(2):
        e = torch.ones(0, 3, device=device) + torch.ones(3, device=device)
        assert e.shape == (0, 3)
        s = torch.tensor(1.5, device=device) * 2
        assert s.shape == () and s.item() == 3.0


def test_gradients_through_cached_calls_match_pytorch(device):
    x0, y0 = rand(3, 4, seed=7), rand(4, seed=8)
    for _ in range(2):
        x = torch.tensor(x0, device=device, requires_grad=True)
        y = torch.tensor(y0, device=device, requires_grad=True)
        px = pt.tensor(x0, requires_grad=True)
        py = pt.tensor(y0, requires_grad=True)
        ((x + y) * x).sum().backward()
        ((px + py) * px).sum().backward()
        assert_close(x.grad, px.grad.numpy())
        assert_close(y.grad, py.grad.numpy())


def test_direct_pass_calls_and_wgpu_py_calls_agree(wgpu_device):
    rt = torch.zeros(1, device="wgpu")._be.rt
    x = torch.tensor(rand(300, seed=9), device="wgpu")
    direct = rt._direct
    try:
        got = []
        for calls in (direct, None):
            torch.wgpu.synchronize()
            rt._direct = calls
            y = x
            for _ in range(5):
                y = (y * 1.5 - 0.25).relu() + x
            got.append(y.numpy())
    finally:
        torch.wgpu.synchronize()
        rt._direct = direct
    np.testing.assert_array_equal(got[0], got[1])


def test_plan_caches_stay_bounded(wgpu_device):
    be = torch.zeros(1, device="wgpu")._be
    for n in range(1, 40):
        torch.ones(n, device="wgpu") + 1
    assert len(be._ew_plans) <= 4096 and len(be._empty_layouts) <= 4096
