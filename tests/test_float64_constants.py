"""float64 results of ops with a constant or an erf inside are float64-exact, as PyTorch's.

The NumPy backend multiplied float64 inputs by float32-rounded constants (deg2rad, rad2deg, selu:
1e-8 relative error) and took erf from a float32 formula (1.5e-7), silently wrong by float64's
standards. wgpu runs the same ops in f64 where the adapter has shader-f64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wgtorch
import wgtorch.nn.functional as F

CASES = {
    "deg2rad": (wgtorch.deg2rad, torch.deg2rad),
    "rad2deg": (wgtorch.rad2deg, torch.rad2deg),
    "erf": (wgtorch.erf, torch.erf),
    "selu": (F.selu, torch.nn.functional.selu),
    "gelu": (F.gelu, torch.nn.functional.gelu),
}
VALUES = np.array([0.0, -0.0, 1e-300, 0.3, -0.49, 0.5, 1.7, -2.9, 3.1, 5.9, 6.5, -27.0, 1e10,
                   np.inf, -np.inf, np.nan])


def _device_ok(device):
    if device == "wgpu" and not wgtorch.wgpu.get_device_properties().float64:
        pytest.skip("this wgpu adapter has no shader-f64")


@pytest.mark.parametrize("name", sorted(CASES))
def test_float64_matches_torch_to_the_ulp(name, device):
    _device_ok(device)
    ours, theirs = CASES[name]
    x = wgtorch.tensor(VALUES, dtype=wgtorch.float64, device=device)
    got = ours(x)
    want = theirs(torch.tensor(VALUES, dtype=torch.float64))
    assert got.dtype is wgtorch.float64
    np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), rtol=4e-16, atol=1e-300, equal_nan=True)


@pytest.mark.parametrize("name", ["erf", "gelu", "selu"])
def test_float64_gradient_matches_torch(name, device):
    _device_ok(device)
    ours, theirs = CASES[name]
    finite = VALUES[np.isfinite(VALUES)][:12]
    x = wgtorch.tensor(finite, dtype=wgtorch.float64, device=device, requires_grad=True)
    ours(x).sum().backward()
    xt = torch.tensor(finite, dtype=torch.float64, requires_grad=True)
    theirs(xt).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy(), rtol=1e-15, atol=1e-300)


def test_erf_of_0d_and_empty_float64():
    assert wgtorch.erf(wgtorch.tensor(0.5, dtype=wgtorch.float64)).item() == torch.erf(
        torch.tensor(0.5, dtype=torch.float64)).item()
    assert wgtorch.erf(wgtorch.zeros(0, 3, dtype=wgtorch.float64)).shape == (0, 3)
