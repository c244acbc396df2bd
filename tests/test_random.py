"""Random numbers: the Philox stream, cpu == wgpu for the same seed, distributions, ranges,
dtypes and the counter that separates consecutive draws."""

from __future__ import annotations

import math

import numpy as np
import pytest

import wgtorch as torch
from wgtorch import _dtype as D
from wgtorch._backends.random import generate, philox_blocks
from wgtorch._device import get_backend

SEED = 1234


def _has_f16(device) -> bool:
    return device == "cpu" or "shader-f16" in get_backend(device).rt.features


def _normal_close(got, expect):
    """Normal numbers of two devices agree to a few float32 ulps of max(1, |z|) (each device has
    its own log/sin/cos)."""
    got, expect = np.asarray(got, np.float64), np.asarray(expect, np.float64)
    assert got.shape == expect.shape
    np.testing.assert_array_less(np.abs(got - expect), 4 * 2.0**-23 * np.maximum(1.0, np.abs(expect)) + 1e-30)


def test_philox_known_answer_and_device_words(device):
    # Random123's known-answer vector for Philox4x32-10: counter 0, key 0.
    expect = np.array([0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8], np.uint32)
    np.testing.assert_array_equal(philox_blocks(4, 0, 0), expect)
    # randint over the whole int32 range returns the raw words (offset by -2**31) on every device.
    be = get_backend(device)
    raw = be.to_numpy(be.random("randint", (4,), D.int32, 0, 0, -2**31, 2**31))
    np.testing.assert_array_equal(raw.view(np.uint32) ^ np.uint32(0x80000000), expect)


@pytest.mark.parametrize("counter", [0, 1, 2, 3, 4 * (2**32 - 3) + 2])
def test_counter_mapping_and_64_bit_block(device, counter):
    # Element i is word (counter + i) % 4 of block (counter + i) // 4; the last case crosses the
    # 2**32-th block inside one draw (the kernel's carry into the block's high half).
    be = get_backend(device)
    got = be.to_numpy(be.random("randint", (67,), D.int32, SEED, counter, -2**31, 2**31))
    first_block, phase = divmod(counter, 4)
    words = philox_blocks(4 * 18, SEED, 4 * first_block)[phase: phase + 67]  # blocks from first_block on
    np.testing.assert_array_equal(got.view(np.uint32) ^ np.uint32(0x80000000), words)
    np.testing.assert_array_equal(got, generate("randint", 67, SEED, counter, -2**31, 2**31, D.int32))


def test_manual_seed_repeats_and_consecutive_draws_differ(device):
    torch.manual_seed(7)
    a, b = torch.rand(5, device=device), torch.rand(6, device=device)
    torch.manual_seed(7)
    a2, b2 = torch.rand(5, device=device), torch.rand(6, device=device)
    np.testing.assert_array_equal(a.numpy(), a2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())
    assert not np.isin(b.numpy(), a.numpy()).any()  # fresh stream positions
    # the counter advances by 5 rounded up to 8: the second draw starts at block 2
    np.testing.assert_array_equal(b.numpy(), generate("uniform", 6, 7, 8, 0.0, 1.0, D.float32))
    torch.manual_seed(8)
    assert not np.array_equal(torch.rand(5, device=device).numpy(), a.numpy())
    assert torch.initial_seed() == 8


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5, 7), (64,), (65,), (257, 3)])
def test_cpu_and_wgpu_agree(wgpu_device, shape):
    for kind, dt, low, high in [("uniform", D.float32, 0.0, 1.0), ("uniform", D.float32, -3.0, 5.0),
                                ("uniform", D.float16, 0.0, 1.0), ("randint", D.int64, -5, 17),
                                ("randint", D.int32, 0, 3), ("randint", D.float32, -100, 100),
                                ("randint", torch.bool, 0, 2)]:
        if dt is D.float16 and not _has_f16(wgpu_device):
            continue
        for counter in (0, 4, 13):
            cpu = get_backend("cpu").random(kind, shape, dt, SEED, counter, low, high)
            be = get_backend(wgpu_device)
            gpu = be.to_numpy(be.random(kind, shape, dt, SEED, counter, low, high))
            assert gpu.dtype == cpu.dtype and gpu.shape == cpu.shape
            np.testing.assert_array_equal(gpu, cpu, err_msg=f"{kind} {dt} {counter}")


def test_front_end_cpu_equals_wgpu(wgpu_device):
    fns = [lambda d: torch.rand(3, 33, device=d), lambda d: torch.randint(-4, 9, (50,), device=d)]
    if _has_f16(wgpu_device):
        fns.append(lambda d: torch.rand(10, dtype=torch.float16, device=d))
    for fn in fns:
        torch.manual_seed(99)
        c = fn("cpu")
        torch.manual_seed(99)
        g = fn(wgpu_device)
        assert c.dtype is g.dtype and g.device.type == "wgpu"
        np.testing.assert_array_equal(g.numpy(), c.numpy())
    torch.manual_seed(99)
    c = torch.randn(1000, device="cpu")
    torch.manual_seed(99)
    _normal_close(torch.randn(1000, device=wgpu_device).numpy(), c.numpy())


def test_normal_cpu_and_wgpu_close(wgpu_device):
    be = get_backend(wgpu_device)
    for counter in (0, 1, 2, 3):  # Box-Muller pairs straddle the draw's start
        got = be.to_numpy(be.random("normal", (20_001,), D.float32, SEED, counter, 0.0, 1.0))
        _normal_close(got, generate("normal", 20_001, SEED, counter, 0.0, 1.0, D.float32))
    got = be.to_numpy(be.random("normal", (999,), D.float32, 5, 0, 2.0, 3.0))
    expect = generate("normal", 999, 5, 0, 2.0, 3.0, D.float32)
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=3e-6)
    if not _has_f16(wgpu_device):
        return
    got16 = be.to_numpy(be.random("normal", (999,), D.float16, 5, 0, 0.0, 1.0))
    expect16 = generate("normal", 999, 5, 0, 0.0, 1.0, D.float16)
    assert got16.dtype == np.float16
    np.testing.assert_allclose(got16.astype(np.float32), expect16.astype(np.float32), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dt", [torch.float32, torch.float16])
def test_moments(device, dt):
    if not _has_f16(device) and dt is torch.float16:
        pytest.skip("this adapter lacks shader-f16")
    n = 100_000
    torch.manual_seed(3)
    u = torch.rand(n, dtype=dt, device=device).numpy().astype(np.float64)
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    assert abs(u.std() - math.sqrt(1 / 12)) < 0.005
    assert u.min() >= 0.0 and u.max() < 1.0
    z = torch.randn(n, dtype=dt, device=device).numpy().astype(np.float64)
    std_tolerance = 5 * math.sqrt(0.5 / n) + (1e-3 if dt is torch.float16 else 0)
    assert abs(z.mean()) < 5 / math.sqrt(n) and abs(z.std() - 1) < std_tolerance
    assert abs((z > 1.96).mean() - 0.025) < 0.003  # a tail, not just two moments
    k = torch.randint(-3, 7, (n,), device=device).numpy()
    assert k.dtype == np.int64 and k.min() == -3 and k.max() == 6
    counts = np.bincount(k + 3)
    assert np.all(np.abs(counts - n / 10) < 5 * math.sqrt(n / 10))


def test_uniform_never_reaches_high(device):
    # float16 in [1, 2): 1 + 2047/2048 rounds up to 2.0 and must be clamped to the value below.
    be = get_backend(device)
    if _has_f16(device):
        x = be.to_numpy(be.random("uniform", (100_000,), D.float16, SEED, 0, 1.0, 2.0))
        below = np.nextafter(np.float16(2), np.float16(0))
        assert x.min() >= 1.0 and x.max() == below and (x == below).sum() > 10
    y = be.to_numpy(be.random("uniform", (1000,), D.float32, SEED, 0, -1.0, -1.0))  # empty range: low
    assert np.all(y == -1.0)


def test_dtypes_and_ranges(device):
    for dt in (torch.int32, torch.int64):
        k = torch.randint(-2**31, 2**31, (1000,), dtype=dt, device=device)
        assert k.dtype is dt and k.numpy().min() < -2**30 and k.numpy().max() > 2**30
    b = torch.randint(0, 2, (1000,), dtype=torch.bool, device=device).numpy()
    assert b.dtype == np.bool_ and 400 < b.sum() < 600
    f = torch.randint(3, 5, (100,), dtype=torch.float32, device=device).numpy()
    assert set(np.unique(f)) == {3.0, 4.0}
    assert torch.randint(10, size=(3, 2), device=device).shape == (3, 2)
    assert torch.rand(2, 3, device=device).dtype is torch.float32
    assert torch.rand(4, device=device, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="not implemented for int64"):
        torch.rand(3, dtype=torch.int64, device=device)
    with pytest.raises(RuntimeError, match="not implemented for int32"):
        torch.randn(3, dtype=torch.int32, device=device)
    with pytest.raises(RuntimeError, match="from=5 >= to=5"):
        torch.randint(5, 5, (3,), device=device)
    with pytest.raises(RuntimeError, match="exceeds 2\\*\\*32"):
        torch.randint(0, 2**33, (3,), device=device)
    with pytest.raises(RuntimeError, match="in range of int32"):
        torch.randint(0, 2**31 + 1, (3,), dtype=torch.int32, device=device)
    with pytest.raises(RuntimeError, match="in range of bool"):
        torch.randint(0, 3, (3,), dtype=torch.bool, device=device)


def test_float64_on_cpu():
    torch.manual_seed(4)
    u = torch.rand(50_000, dtype=torch.float64)
    assert u.dtype is torch.float64 and 0 <= u.numpy().min() and u.numpy().max() < 1
    assert len(np.unique(u.numpy())) == 50_000  # 32-bit resolution, not float32's 24
    z = torch.randn(50_000, dtype=torch.float64).numpy()
    assert abs(z.mean()) < 5 / math.sqrt(50_000) and abs(z.std() - 1) < 0.02


def test_zero_size_and_scalar(device):
    torch.manual_seed(5)
    assert torch.rand(0, device=device).shape == (0,)
    assert torch.randn(3, 0, device=device).shape == (3, 0)
    assert torch.randint(4, size=(0,), device=device).shape == (0,)
    after_empty = torch.rand(3, device=device).numpy()
    np.testing.assert_array_equal(after_empty, generate("uniform", 3, 5, 0, 0.0, 1.0, D.float32))
    s = torch.rand((), device=device)
    assert s.shape == () and 0 <= s.item() < 1


def test_past_65535_workgroups(wgpu_device):
    # 64 threads x 4 numbers a workgroup: 2**24 + 5 numbers need a 2-D grid of workgroups.
    n = 2**24 + 5
    be = get_backend(wgpu_device)
    x = be.random("uniform", (n,), D.float32, SEED, 8, 0.0, 1.0)
    for start, count in [(0, 1000), (n // 2 - 3, 1000), (n - 1001, 1001)]:
        part = be.to_numpy(be.getitem(x, (slice(start, start + count),)))
        np.testing.assert_array_equal(part, generate("uniform", count, SEED, 8 + start, 0.0, 1.0, D.float32))
def test_randint_positional_size(device):
    import wgtorch as torch
    t = torch.randint(10, (3, 2), device=device)
    assert tuple(t.shape) == (3, 2) and t.dtype is torch.int64
    assert 0 <= t.min().item() and t.max().item() < 10
