"""nn.functional (not the losses) vs NumPy on every device: linear, activations, softmax,
dropout, layer_norm (fused kernel), embedding, one_hot, pad. Forward values and gradients."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import wgtorch
import wgtorch.nn.functional as F
from tests.helpers import assert_close, rand


def leaf(a, device, dtype=None):
    return wgtorch.tensor(a, device=device, dtype=dtype, requires_grad=True)


def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the float64 scalar function f at x."""
    x = x.astype(np.float64)
    g = np.zeros_like(x)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + eps
        hi = f(x)
        x.flat[i] = old - eps
        lo = f(x)
        x.flat[i] = old
        g.flat[i] = (hi - lo) / (2 * eps)
    return g


# -- linear ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (7,), (0, 7)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_and_grads(device, shape, bias):
    x, w, b = rand(*shape, seed=1), rand(3, 7, seed=2), rand(3, seed=3)
    g = rand(*shape[:-1], 3, seed=4)
    xt, wt = leaf(x, device), leaf(w, device)
    bt = leaf(b, device) if bias else None
    y = F.linear(xt, wt, bt)
    expected = x @ w.T + (b if bias else 0)
    assert_close(y, expected, rtol=1e-5, atol=1e-5)
    y.backward(wgtorch.tensor(g, device=device))
    g2, x2 = g.reshape(-1, 3), x.reshape(-1, 7)
    assert_close(xt.grad, (g2 @ w).reshape(x.shape), rtol=1e-5, atol=1e-5)
    assert_close(wt.grad, g2.T @ x2, rtol=1e-5, atol=1e-5)
    if bias:
        assert_close(bt.grad, g2.sum(0), rtol=1e-5, atol=1e-5)


def test_linear_strided_input(device):
    x = rand(7, 6, seed=5)  # used transposed: a non-contiguous (6, 7) view
    w, b = rand(4, 7, seed=6), rand(4, seed=7)
    xt = leaf(x, device)
    y = F.linear(xt.t(), wgtorch.tensor(w, device=device), wgtorch.tensor(b, device=device))
    assert_close(y, x.T @ w.T + b, rtol=1e-5, atol=1e-5)
    y.sum().backward()
    assert_close(xt.grad, (np.ones((6, 4)) @ w).T, rtol=1e-5, atol=1e-5)


def test_linear_errors(device):
    x, w = wgtorch.zeros(4, 3, device=device), wgtorch.zeros(5, 2, device=device)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(4x3 and 2x5\)"):
        F.linear(x, w)
    with pytest.raises(RuntimeError, match="same dtype"):
        F.linear(x, wgtorch.zeros(5, 3, device=device, dtype=wgtorch.int32 if device == "wgpu" else wgtorch.float64))
    if device == "wgpu":
        with pytest.raises(RuntimeError, match="same device"):
            F.linear(x, wgtorch.zeros(5, 3))


# -- activations ------------------------------------------------------------------------------------------

def _gelu(x):
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _softplus(x, beta=1.0, threshold=20.0):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta)


ACTIVATIONS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "gelu": (F.gelu, _gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), _gelu_tanh),
    "silu": (F.silu, lambda x: x / (1 + np.exp(-x))),
    "tanh": (F.tanh, np.tanh),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x >= 0, x, 0.2 * x)),
    "elu": (lambda x: F.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(np.minimum(x, 0)))),
    "softplus": (lambda x: F.softplus(x, 2.0, 3.0), lambda x: _softplus(x, 2.0, 3.0)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_forward_and_grad(device, name):
    fn, ref = ACTIVATIONS[name]
    x = rand(3, 67, seed=8, low=-4, high=4)  # 201 elements: not a multiple of the workgroup
    x[0, :3] = [0.3, -0.7, 1.3]
    xt = leaf(x, device)
    y = fn(xt)
    assert_close(y, ref(x.astype(np.float64)), rtol=2e-5, atol=2e-6)
    gy = rand(3, 67, seed=9)
    y.backward(wgtorch.tensor(gy, device=device))
    # Finite differences away from kinks (|x| > 1e-3 holds for these draws).
    xs = x.astype(np.float64)
    num = (ref(xs + 1e-6) - ref(xs - 1e-6)) / 2e-6 * gy
    assert_close(xt.grad, num, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["relu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu", "elu", "softplus"])
def test_activation_nan_inf(device, name):
    fn, ref = ACTIVATIONS[name]
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30], np.float32)
    with np.errstate(all="ignore"):
        expected = ref(x.astype(np.float64))
    assert_close(fn(wgtorch.tensor(x, device=device)), expected, rtol=1e-5, atol=1e-6)


def test_activation_inplace(device):
    x = rand(10, seed=10)
    t = wgtorch.tensor(x, device=device)
    out = F.relu(t, inplace=True)
    assert out is t
    assert_close(t, np.maximum(x, 0))
    # In-place on a non-leaf keeps the gradient right (relu's backward needs only the sign).
    a = leaf(x, device)
    h = a * 2
    F.leaky_relu(h, 0.1, inplace=True).sum().backward()
    assert_close(a.grad, np.where(x > 0, 2.0, 0.2), rtol=1e-6)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        F.relu(leaf(x, device), inplace=True)


def test_gelu_bad_approximate():
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        F.gelu(wgtorch.zeros(2), approximate="fast")


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(device, dim):
    x = rand(4, 33, seed=11, low=-5, high=5)
    e = np.exp(x - x.max(dim, keepdims=True))
    sm = e / e.sum(dim, keepdims=True)
    xt = leaf(x, device)
    y = F.softmax(xt, dim)
    assert_close(y, sm, rtol=1e-5, atol=1e-6)
    assert_close(F.log_softmax(wgtorch.tensor(x, device=device), dim), np.log(sm), rtol=1e-5, atol=1e-5)
    g = rand(4, 33, seed=12)
    y.backward(wgtorch.tensor(g, device=device))
    assert_close(xt.grad, sm * (g - (g * sm).sum(dim, keepdims=True)), rtol=1e-4, atol=1e-6)


def test_softmax_implicit_dim_warns():
    x = wgtorch.tensor(rand(2, 3, seed=13))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = F.softmax(x)
    assert_close(y.sum(1), np.ones(2), rtol=1e-6)  # dim 1 for a 2-D input, as in PyTorch


# -- dropout ----------------------------------------------------------------------------------------------

def test_dropout_mask_and_scale(device):
    x = np.ones((64, 50), np.float32)
    wgtorch.manual_seed(3)
    xt = leaf(x, device)
    y = F.dropout(xt, 0.3)
    out = y.detach().numpy()
    kept = out != 0
    assert np.allclose(out[kept], 1 / 0.7)
    assert abs(kept.mean() - 0.7) < 0.03  # 3200 draws: 3 sigma is about 0.024
    y.backward(wgtorch.tensor(np.full((64, 50), 2.0, np.float32), device=device))
    assert_close(xt.grad, np.where(kept, 2 / 0.7, 0.0), rtol=1e-6)


def test_dropout_same_mask_on_every_device():
    x = rand(300, seed=14)
    masks = []
    for device in ("cpu", "wgpu"):
        wgtorch.manual_seed(11)
        masks.append(F.dropout(wgtorch.tensor(x, device=device), 0.5).numpy() != 0)
    np.testing.assert_array_equal(masks[0], masks[1])


def test_dropout_identity_cases(device):
    x = wgtorch.tensor(rand(5, seed=15), device=device)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert_close(F.dropout(x, 1.0), np.zeros(5))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got"):
            F.dropout(x, p)


# -- layer norm (fused kernel) ------------------------------------------------------------------------------

def layer_norm_ref(x, shape, w, b, eps):
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    x = x.astype(np.float64)
    mu = x.mean(axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


# Normalised sizes around the kernel's lane counts (1 lane up to 16 elements, 2 up to 32, ... 64).
@pytest.mark.parametrize("rows,shape", [((3,), (1,)), ((4,), (5,)), ((2, 3), (16,)), ((5,), (17,)),
                                        ((3,), (63,)), ((2,), (65,)), ((2,), (1500,)), ((2,), (3, 4)),
                                        ((130,), (7,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_forward_and_grads(device, rows, shape, affine):
    check_layer_norm(device, rows, shape, affine)


@pytest.fixture
def multi_lane(monkeypatch):
    """Run the wgpu row kernels with several lanes per row, as on a hardware adapter (a software
    adapter gets one lane per row)."""
    import wgtorch._backends.wgpu.nn as kernels

    monkeypatch.setattr(kernels, "ONE_LANE_ON_SOFTWARE", False)


@pytest.mark.parametrize("rows,shape", [((4,), (5,)), ((2, 3), (16,)), ((5,), (17,)), ((3,), (63,)),
                                        ((2,), (65,)), ((2,), (1500,)), ((130,), (40,))])
@pytest.mark.usefixtures("multi_lane")
def test_layer_norm_multi_lane(wgpu_device, rows, shape):
    check_layer_norm(wgpu_device, rows, shape, True)
    x = np.array([[1.0, np.nan] + [2.0] * 30, [1.0] * 32], np.float32)
    out = F.layer_norm(wgtorch.tensor(x, device=wgpu_device), (32,)).numpy()
    assert np.isnan(out[0]).all() and np.all(out[1] == 0)


def check_layer_norm(device, rows, shape, affine):
    full = rows + shape
    x = rand(*full, seed=16, low=-3, high=3) + 5.0  # an offset mean tests the two-pass variance
    w = rand(*shape, seed=17) if affine else None
    b = rand(*shape, seed=18) if affine else None
    g = rand(*full, seed=19)
    xt = leaf(x, device)
    wt = leaf(w, device) if affine else None
    bt = leaf(b, device) if affine else None
    y = F.layer_norm(xt, shape, wt, bt, eps=1e-5)
    assert_close(y, layer_norm_ref(x, shape, w, b, 1e-5), rtol=1e-4, atol=1e-4)
    y.backward(wgtorch.tensor(g, device=device))
    # Closed forms in float64.
    axes = tuple(range(len(rows), len(full)))
    n = math.prod(shape)
    x64 = x.astype(np.float64)
    mu = x64.mean(axes, keepdims=True)
    rstd = 1 / np.sqrt(((x64 - mu) ** 2).mean(axes, keepdims=True) + 1e-5)
    xhat = (x64 - mu) * rstd
    gw = g * (w if affine else 1.0)
    gx = rstd * (gw - gw.sum(axes, keepdims=True) / n - xhat * (gw * xhat).sum(axes, keepdims=True) / n)
    assert_close(xt.grad, gx, rtol=1e-3, atol=1e-4)
    if affine:
        lead = tuple(range(len(rows)))
        assert_close(wt.grad, (g * xhat).sum(lead), rtol=1e-4, atol=1e-4)
        assert_close(bt.grad, g.sum(lead), rtol=1e-5, atol=1e-5)


def test_layer_norm_strided_and_offset_input(device):
    x = rand(6, 10, seed=20)
    xt = leaf(x, device)
    view = xt.t()[1:, ::2]  # (9, 3): transposed, sliced with a step
    y = F.layer_norm(view, (3,))
    assert_close(y, layer_norm_ref(x.T[1:, ::2], (3,), None, None, 1e-5), rtol=1e-4, atol=1e-4)
    y.backward(wgtorch.tensor(rand(9, 3, seed=21), device=device))
    assert xt.grad.shape == (6, 10)
    assert np.all(xt.grad.numpy()[1::2, :] == 0) and np.all(xt.grad.numpy()[:, 0] == 0)


def test_layer_norm_zero_rows_and_nan(device):
    y = F.layer_norm(wgtorch.zeros(0, 4, device=device), (4,))
    assert y.shape == (0, 4)
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]], np.float32)
    out = F.layer_norm(wgtorch.tensor(x, device=device), (3,)).numpy()
    assert np.isnan(out[0]).all()
    assert_close(wgtorch.tensor(out[1]), layer_norm_ref(x[1:], (3,), None, None, 1e-5)[0], rtol=1e-4, atol=1e-4)


def test_layer_norm_errors():
    x = wgtorch.zeros(3, 5)
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], "
                                           r"but got input of size\[3, 5\]"):
        F.layer_norm(x, (4,))
    with pytest.raises(RuntimeError, match="Expected weight to be of same shape as normalized_shape"):
        F.layer_norm(x, (5,), weight=wgtorch.ones(4))


# -- embedding, one_hot, pad --------------------------------------------------------------------------------

def test_embedding_forward_grad_and_padding(device):
    w = rand(6, 4, seed=22)
    idx = np.array([[1, 3, 1], [0, 5, 3]])
    wt = leaf(w, device)
    y = F.embedding(wgtorch.tensor(idx, device=device), wt, padding_idx=3)
    assert_close(y, w[idx])
    g = rand(2, 3, 4, seed=23)
    y.backward(wgtorch.tensor(g, device=device))
    expected = np.zeros_like(w)
    np.add.at(expected, idx.reshape(-1), g.reshape(-1, 4))
    expected[3] = 0  # the padding row gets no gradient
    assert_close(wt.grad, expected, rtol=1e-5, atol=1e-6)


def test_embedding_errors(device):
    w = wgtorch.zeros(4, 2, device=device)
    with pytest.raises(RuntimeError, match="indices.*Long, Int"):
        F.embedding(wgtorch.zeros(2, device=device), w)
    with pytest.raises(IndexError, match="index out of range in self"):
        F.embedding(wgtorch.tensor([1, 4], device=device), w).numpy()  # wgpu reports at the read
    if device == "cpu":
        with pytest.raises(IndexError, match="index out of range in self"):
            F.embedding(wgtorch.tensor([-1]), w)


def test_one_hot(device):
    t = wgtorch.tensor([[0, 2], [1, 2]], device=device)
    assert_close(F.one_hot(t), np.eye(3, dtype=np.int64)[[[0, 2], [1, 2]]], dtype=wgtorch.int64)
    assert F.one_hot(t, 5).shape == (2, 2, 5)
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        F.one_hot(t, 2)
    with pytest.raises(RuntimeError, match="Class values must be non-negative"):
        F.one_hot(wgtorch.tensor([-1, 0], device=device))


@pytest.mark.parametrize("pads", [(1, 2), (2, 0, 1, 1), (-1, 2), (0, -2, -1, 1)])
def test_pad_constant(device, pads):
    x = rand(3, 4, seed=24)
    xt = leaf(x, device)
    y = F.pad(xt, pads, value=7.0)
    # NumPy reference: pad the positive amounts, then crop the negative ones.
    width = [(0, 0)] * 2
    crops = [slice(None)] * 2
    for i in range(len(pads) // 2):
        d = 1 - i
        before, after = pads[2 * i], pads[2 * i + 1]
        width[d] = (max(before, 0), max(after, 0))
        n = x.shape[d] + max(before, 0) + max(after, 0)
        crops[d] = slice(-min(before, 0), n + min(after, 0))
    expected = np.pad(x, width, constant_values=7.0)[tuple(crops)]
    assert_close(y, expected)
    g = rand(*expected.shape, seed=25)
    y.backward(wgtorch.tensor(g, device=device))
    ones = np.pad(np.arange(x.size, dtype=np.float64).reshape(x.shape) + 1, width)[tuple(crops)]
    expected_grad = np.zeros(x.size)
    mask = ones > 0
    expected_grad[(ones[mask] - 1).astype(int)] = g[mask]
    assert_close(xt.grad, expected_grad.reshape(x.shape))


def test_pad_errors():
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(wgtorch.zeros(2), (1,))
    with pytest.raises(NotImplementedError, match="reflect"):
        F.pad(wgtorch.zeros(2), (1, 1), mode="reflect")


def test_functional_no_warnings_on_normal_use(device):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = wgtorch.tensor(rand(2, 3, seed=26), device=device)
        F.softmax(x, 1)
        F.mse_loss(x, x)
