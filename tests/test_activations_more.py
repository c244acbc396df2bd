"""nn.functional activations and their modules (ReLU6 ... Threshold) against PyTorch: values,
gradients, in-place forms, constructor arguments and repr, on cpu and wgpu."""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch

torch = pytest.importorskip("torch", reason="PyTorch (the dev extra's CPU wheel) is the oracle here")

# module name, constructor arguments
MODULES = [("ReLU6", ()), ("Hardtanh", (-2.0, 1.5)), ("Hardsigmoid", ()), ("Hardswish", ()), ("Mish", ()),
           ("SELU", ()), ("CELU", (0.7,)), ("Softsign", ()), ("Tanhshrink", ()), ("LogSigmoid", ()),
           ("Hardshrink", (0.3,)), ("Softshrink", (0.3,)), ("Threshold", (0.1, 20.0))]
X = np.array([[-4.0, -3.0, -1.0, -0.3, 0.0, 0.25, 0.3, 1.0, 3.0, 6.0, 7.5, np.nan]], np.float32)


@pytest.mark.parametrize("name,args", MODULES, ids=[m for m, _ in MODULES])
def test_module_matches_pytorch(device, name, args):
    ours, theirs = getattr(wgtorch.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    x = wgtorch.tensor(X, device=device, requires_grad=True)
    t = torch.tensor(X, requires_grad=True)
    y, w = ours(x), theirs(t)
    np.testing.assert_allclose(y.detach().cpu().numpy(), w.detach().numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)
    g = np.linspace(-1, 1, X.size, dtype=np.float32).reshape(X.shape)
    y.backward(wgtorch.tensor(g, device=device))
    w.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.cpu().numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name", ["relu6", "hardtanh", "hardsigmoid", "hardswish", "mish", "selu", "celu"])
def test_inplace_forms(device, name):
    ours, theirs = getattr(wgtorch.nn.functional, name), getattr(torch.nn.functional, name)
    x, t = wgtorch.tensor(X, device=device), torch.tensor(X)
    assert ours(x, inplace=True) is x
    theirs(t, inplace=True)
    np.testing.assert_allclose(x.cpu().numpy(), t.numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)


def test_bad_arguments_match_pytorch():
    F, TF = wgtorch.nn.functional, torch.nn.functional
    for call in (lambda f, m: f.hardtanh(m.ones(2), 1.0, -1.0), lambda f, m: f.softshrink(m.ones(2), -0.5)):
        with pytest.raises(Exception) as theirs:
            call(TF, torch)
        with pytest.raises(type(theirs.value)):
            call(F, wgtorch)
    with pytest.raises(TypeError):
        wgtorch.nn.Threshold(0.5)
    with pytest.raises(TypeError):
        torch.nn.Threshold(0.5)
