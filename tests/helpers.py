"""Assertions shared by the tests: compare a tensor with a NumPy reference."""

from __future__ import annotations

import numpy as np

import wgtorch


def assert_close(t, expected, rtol=1e-5, atol=1e-6, dtype=None, equal_nan=True):
    """``t`` (a tensor) equals ``expected`` (array-like): shape, dtype, values, NaN positions."""
    assert isinstance(t, wgtorch.Tensor), f"expected a tensor, got {type(t).__name__}"
    expected = np.asarray(expected)
    got = t.detach().numpy()
    assert got.shape == expected.shape, f"shape {got.shape} != expected {expected.shape}"
    if dtype is not None:
        assert t.dtype is dtype, f"dtype {t.dtype} != expected {dtype}"
    if got.dtype.kind in "fc" or expected.dtype.kind in "fc":
        np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol,
                                   equal_nan=equal_nan)
    else:
        np.testing.assert_array_equal(got, expected)


def rand(*shape, seed=0, low=-2.0, high=2.0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)


def torch_gelu_overflow_as_got(want, got):
    """PyTorch 2.13's float32 (and bfloat16) gelu overflows past 1.7e38 on CPUs whose kernels it runs
    in AVX-512 (seen on an AMD EPYC: inf there, NaN at +inf), where its other kernels and its float64
    give x: the oracle depends on the machine, so where PyTorch's value is not finite and wgtorch's
    is x >= 1.7e38 (inf included), wgtorch's is taken. ``want`` a torch tensor, ``got`` wgtorch's result."""
    import torch  # (the oracle: only tests that compare with PyTorch call this)

    g = got.float().cpu().numpy() if hasattr(got, "cpu") else np.asarray(got, np.float32)
    take = torch.as_tensor(~np.isfinite(want.float().numpy()) & (g >= 1.7e38))
    return torch.where(take, torch.as_tensor(g).to(want.dtype), want)
