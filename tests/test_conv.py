"""Convolutions and ``F.pad``'s non-constant modes against PyTorch: values, shapes, dtypes, the
gradient of every input for the same upstream gradient, exception types, and the modules'
parameters, initialisation, ``state_dict`` and repr. Sizes stay small (lavapipe is slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import wgtorch
import wgtorch.nn.functional as F
from tests.helpers import assert_close, rand

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")


def _compare(fw, ft, arrays, device, rtol=1e-4, atol=1e-5, transform=None):
    """fw(*wgtorch tensors) against ft(*torch tensors): output and the .grad of every input."""
    ts = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    ws = [None if a is None else wgtorch.tensor(a, device=device, requires_grad=True) for a in arrays]
    tin, win = ts, ws
    if transform is not None:  # e.g. a non-contiguous view of the leaves
        tin, win = transform(ts), transform(ws)
    expected, got = ft(*tin), fw(*win)
    assert got.device.type == device
    assert got.dtype is getattr(wgtorch, str(expected.dtype).split(".")[1])
    assert_close(got, expected.detach().numpy(), rtol=rtol, atol=atol)
    upstream = rand(*expected.shape, seed=7, dtype=expected.detach().numpy().dtype)
    expected.backward(torch.tensor(upstream))
    got.backward(wgtorch.tensor(upstream, device=device))
    for t, w in zip(ts, ws):
        if t is not None:
            assert w.grad is not None
            assert_close(w.grad, t.grad.numpy(), rtol=rtol, atol=10 * atol)


# (input shape, weight shape, bias?, kwargs)
CONV2D = [
    ((2, 3, 5, 7), (4, 3, 3, 3), True, {}),
    ((1, 3, 6, 5), (2, 3, 1, 1), True, {}),  # 1x1, batch 1
    ((2, 4, 7, 6), (6, 2, 3, 2), True, dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)),
    ((2, 3, 6, 6), (3, 1, 3, 3), False, dict(groups=3, padding=1)),  # depthwise
    ((1, 2, 7, 7), (3, 2, 7, 7), True, {}),  # the kernel covers the whole input
    ((1, 2, 5, 5), (3, 2, 6, 4), True, dict(padding="same")),  # even kernel: the extra pad at the end
    ((2, 2, 7, 5), (3, 2, 3, 3), True, dict(padding="same", dilation=2)),
    ((1, 2, 6, 5), (3, 2, 2, 3), True, dict(padding="valid", stride=3)),
    ((2, 2, 9, 8), (4, 1, 3, 3), True, dict(stride=2, padding=2, dilation=3, groups=2)),
    ((2, 4, 5, 5), (4, 2, 2, 2), True, dict(stride=(2,), padding=(1,), groups=2)),
]


@pytest.mark.parametrize("xs, ws, bias, kw", CONV2D)
def test_conv2d(device, xs, ws, bias, kw):
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2), rand(ws[0], seed=3) if bias else None]
    _compare(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), arrays, device)


CONV1D = [
    ((2, 3, 7), (4, 3, 3), True, {}),
    ((1, 4, 9), (6, 2, 4), True, dict(stride=2, padding=3, dilation=2, groups=2)),
    ((3, 4, 6), (4, 1, 5), False, dict(groups=4, padding="same")),  # depthwise, odd kernel
    ((2, 2, 8), (3, 2, 4), True, dict(padding="same", dilation=3)),
    ((2, 3, 5), (2, 3, 1), True, dict(stride=3)),
    ((1, 2, 6), (3, 2, 6), True, dict(padding="valid")),
]


@pytest.mark.parametrize("xs, ws, bias, kw", CONV1D)
def test_conv1d(device, xs, ws, bias, kw):
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2), rand(ws[0], seed=3) if bias else None]
    _compare(lambda x, w, b: F.conv1d(x, w, b, **kw), lambda x, w, b: TF.conv1d(x, w, b, **kw), arrays, device)


# weight (C_in, C_out / groups, *k); the bias has C_out = w[1] * groups entries
CONVT2D = [
    ((2, 3, 4, 5), (3, 2, 3, 3), {}),
    ((1, 4, 3, 4), (4, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2), groups=2,
                                      output_padding=(1, 0))),
    ((2, 2, 3, 3), (2, 3, 1, 1), dict(stride=2, output_padding=1)),
    ((1, 3, 4, 4), (3, 1, 3, 3), dict(groups=3, padding=2)),  # depthwise; padding crops
    ((2, 2, 3, 2), (2, 2, 4, 5), dict(stride=3, padding=1, dilation=2, output_padding=1)),
    ((1, 2, 2, 2), (2, 1, 5, 5), dict(padding=(2, 1))),  # large kernel, padding crops
]


@pytest.mark.parametrize("xs, ws, kw", CONVT2D)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d(device, xs, ws, kw, bias):
    cout = ws[1] * kw.get("groups", 1)
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2), rand(cout, seed=3) if bias else None]
    _compare(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
             arrays, device)


CONVT1D = [
    ((2, 3, 5), (3, 4, 3), {}),
    ((1, 4, 4), (4, 2, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((2, 2, 3), (2, 3, 2), dict(stride=3, dilation=2, output_padding=2)),
    ((1, 3, 6), (3, 1, 1), dict(groups=3, stride=2)),
    ((2, 2, 3), (2, 2, 7), dict(padding=4)),
]


@pytest.mark.parametrize("xs, ws, kw", CONVT1D)
def test_conv_transpose1d(device, xs, ws, kw):
    cout = ws[1] * kw.get("groups", 1)
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2), rand(cout, seed=3)]
    _compare(lambda x, w, b: F.conv_transpose1d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw),
             arrays, device)


def test_conv_non_contiguous_inputs(device):
    """A transposed input and a strided weight view give PyTorch's values and gradients."""
    arrays = [rand(2, 3, 6, 5, seed=1), rand(8, 3, 3, 3, seed=2), rand(4, seed=3)]

    def views(ts):
        x, w, b = ts
        out = [x.transpose(2, 3), w[::2], b]
        assert not out[0].is_contiguous() and not out[1].is_contiguous()
        return out

    _compare(lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1),
             arrays, device, transform=views)


@pytest.mark.parametrize("fn, ws", [("conv1d", (4, 3, 3)), ("conv2d", (4, 3, 2, 3)),
                                    ("conv_transpose1d", (3, 4, 3)), ("conv_transpose2d", (3, 4, 2, 3))])
def test_unbatched_input(device, fn, ws):
    xs = (3,) + (5,) * (len(ws) - 2)
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2), rand(4, seed=3)]
    _compare(lambda x, w, b: getattr(F, fn)(x, w, b, stride=2), lambda x, w, b: getattr(TF, fn)(x, w, b, stride=2),
             arrays, device)


@pytest.mark.parametrize("fn, ws", [("conv2d", (4, 3, 3, 3)), ("conv_transpose2d", (3, 4, 3, 3)),
                                    ("conv1d", (4, 3, 2))])
def test_zero_size_batch(device, fn, ws):
    xs = (0, 3) + (5,) * (len(ws) - 2)
    x = wgtorch.zeros(*xs, device=device, requires_grad=True)
    w = wgtorch.tensor(rand(*ws, seed=2), device=device, requires_grad=True)
    b = wgtorch.tensor(rand(4, seed=3), device=device, requires_grad=True)
    expected = getattr(TF, fn)(torch.zeros(*xs), torch.tensor(rand(*ws, seed=2)), torch.tensor(rand(4, seed=3)),
                               padding=1)
    out = getattr(F, fn)(x, w, b, padding=1)
    assert tuple(out.shape) == tuple(expected.shape)
    out.sum().backward()
    assert tuple(x.grad.shape) == xs
    assert_close(w.grad, np.zeros(ws, np.float32))
    assert_close(b.grad, np.zeros(4, np.float32))


def test_conv_float64_cpu():
    arrays = [rand(2, 3, 5, 4, seed=1, dtype=np.float64), rand(4, 3, 2, 3, seed=2, dtype=np.float64),
              rand(4, seed=3, dtype=np.float64)]
    _compare(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
             lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1), arrays, "cpu", rtol=1e-10, atol=1e-12)


# -- F.pad ----------------------------------------------------------------------------------------

PADS = [
    ((2, 3, 5), (2, 1)),
    ((3, 5), (0, 3)),  # unbatched 1-d
    ((2, 3, 4, 5), (2, 1, 1, 3)),
    ((1, 2, 4, 5), (-1, 2, 2, -1)),  # negative amounts crop
    ((3, 4, 5), (1, 1, 2, 0)),  # unbatched 2-d
    ((1, 2, 3, 4, 5), (1, 2, 0, 1, 2, 1)),  # 3-d
]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape, pad", PADS)
def test_pad_modes(device, mode, shape, pad):
    _compare(lambda x: F.pad(x, pad, mode=mode), lambda x: TF.pad(x, pad, mode=mode), [rand(*shape, seed=4)], device)


def test_pad_constant_value_and_empty_batch(device):
    _compare(lambda x: F.pad(x, (1, 2, 0, 1), value=2.5), lambda x: TF.pad(x, (1, 2, 0, 1), value=2.5),
             [rand(2, 3, 4, seed=4)], device)
    got = F.pad(wgtorch.zeros(0, 3, 4, device=device), (1, 1), mode="replicate")
    assert tuple(got.shape) == (0, 3, 6)


PAD_ERRORS = [
    ((1, 2, 3), (3, 3), "reflect"),  # not less than the size
    ((1, 2, 3), (4, 0), "circular"),  # wraps around twice
    ((3,), (1, 1), "reflect"),  # 1-d input
    ((2, 3), (1, 1, 1, 1), "replicate"),  # too many dims padded
    ((1, 2, 3, 4, 5, 6), (1, 1), "reflect"),
    ((2, 3), (1, 1), "nonsense"),
    ((2, 0, 3), (1, 1), "reflect"),  # a zero-size non-batch dim
    ((2, 3), (1,), "constant"),
]


@pytest.mark.parametrize("shape, pad, mode", PAD_ERRORS)
def test_pad_errors(shape, pad, mode):
    with pytest.raises(Exception) as expected:
        TF.pad(torch.zeros(shape), pad, mode=mode)
    with pytest.raises(expected.type):
        F.pad(wgtorch.zeros(*shape), pad, mode=mode)


def test_pad_mode_refuses_value():
    with pytest.raises(RuntimeError):
        TF.pad(torch.zeros(2, 3), (1, 1), mode="reflect", value=1.0)
    with pytest.raises(RuntimeError):
        F.pad(wgtorch.zeros(2, 3), (1, 1), mode="reflect", value=1.0)


# -- invalid arguments ------------------------------------------------------------------------------

CONV_ERRORS = [
    ("conv2d", (5, 5), (6, 5, 3, 3), {}),  # input rank
    ("conv2d", (2, 4, 5, 5), (6, 2, 3, 3), {}),  # channels
    ("conv2d", (2, 4, 5, 5), (6, 4, 3, 3), dict(groups=3)),  # channels not divisible by groups
    ("conv2d", (2, 4, 5, 5), (5, 2, 3, 3), dict(groups=2)),  # out channels not divisible by groups
    ("conv2d", (2, 4, 5, 5), (6, 4, 7, 7), {}),  # kernel larger than the input
    ("conv2d", (2, 4, 5, 5), (6, 4, 4, 4), dict(padding=1, dilation=3)),  # ... than the padded input
    ("conv2d", (2, 4, 5, 5), (6, 4, 3, 3), dict(padding="foo")),
    ("conv2d", (2, 4, 5, 5), (6, 4, 3, 3), dict(padding="same", stride=2)),
    ("conv2d", (2, 4, 5, 5), (6, 4, 3, 3), dict(stride=0)),
    ("conv2d", (2, 4, 5, 5), (6, 4, 3, 3), dict(padding=-1)),
    ("conv2d", (2, 4, 5, 5), (6, 4, 3, 3), dict(dilation=0)),
    ("conv2d", (2, 4, 5, 5), (6, 4, 3), {}),  # weight rank
    ("conv1d", (2, 4, 5, 5), (6, 4, 3), {}),
    ("conv1d", (2, 4, 5), (6, 4, 3), dict(groups=0)),
    ("conv_transpose2d", (2, 4, 5, 5), (3, 3, 3, 3), {}),  # channels
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(stride=2, output_padding=2)),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), dict(padding="same")),
    ("conv_transpose1d", (2, 4, 5), (4, 3, 3), dict(output_padding=1)),
    ("conv_transpose1d", (4, 5), (3, 3, 3), dict(groups=2)),
]


@pytest.mark.parametrize("fn, xs, ws, kw", CONV_ERRORS)
def test_conv_errors(fn, xs, ws, kw):
    with pytest.raises(Exception) as expected:
        getattr(TF, fn)(torch.zeros(xs), torch.zeros(ws), **kw)
    with pytest.raises(expected.type):
        getattr(F, fn)(wgtorch.zeros(*xs), wgtorch.zeros(*ws), **kw)


def test_conv_bias_shape_error():
    with pytest.raises(RuntimeError):
        TF.conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(3, 2, 3, 3), torch.zeros(4))
    with pytest.raises(RuntimeError):
        F.conv2d(wgtorch.zeros(1, 2, 4, 4), wgtorch.zeros(3, 2, 3, 3), wgtorch.zeros(4))


# -- modules --------------------------------------------------------------------------------------

MODULES = [
    ("Conv1d", (3, 4, 3), dict(stride=2, padding=1), (2, 3, 9)),
    ("Conv1d", (4, 6, 4), dict(padding="same", dilation=2, groups=2, padding_mode="reflect"), (2, 4, 9)),
    ("Conv1d", (2, 3, 3), dict(padding=2, padding_mode="circular", bias=False), (1, 2, 5)),
    ("Conv2d", (3, 4, 3), dict(padding=1), (2, 3, 6, 5)),
    ("Conv2d", (4, 4, (3, 2)), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=4,
                                    padding_mode="replicate"), (1, 4, 7, 6)),
    ("Conv2d", (2, 3, 3), dict(padding="same", padding_mode="reflect"), (2, 2, 5, 5)),
    ("Conv2d", (2, 3, 2), dict(padding=(1, 0), padding_mode="circular"), (2, 5, 4)),  # unbatched
    ("Conv2d", (2, 3, 3), dict(padding="valid", bias=False), (2, 2, 5, 5)),
    ("ConvTranspose1d", (3, 4, 3), dict(stride=2, padding=1, output_padding=1), (2, 3, 5)),
    ("ConvTranspose2d", (4, 2, 3), dict(stride=2, groups=2, dilation=2, output_padding=(1, 0)), (1, 4, 3, 4)),
    ("ConvTranspose2d", (2, 3, (2, 3)), dict(padding=(0, 1), bias=False), (2, 2, 3, 3)),
]


@pytest.mark.parametrize("name, args, kw, xs", MODULES)
def test_module_from_torch_state_dict(device, name, args, kw, xs):
    """PyTorch's state dict loads (same keys and shapes) and gives PyTorch's outputs and gradients."""
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(*args, **kw)
    mod = getattr(wgtorch.nn, name)(*args, **kw).to(device)
    sd = ref.state_dict()
    assert list(mod.state_dict().keys()) == list(sd.keys())
    assert [tuple(v.shape) for v in mod.state_dict().values()] == [tuple(v.shape) for v in sd.values()]
    mod.load_state_dict({k: wgtorch.tensor(v.numpy(), device=device) for k, v in sd.items()})
    assert repr(mod) == repr(ref)
    x = rand(*xs, seed=5)
    tx, wx = torch.tensor(x, requires_grad=True), wgtorch.tensor(x, device=device, requires_grad=True)
    expected, got = ref(tx), mod(wx)
    assert_close(got, expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    upstream = rand(*expected.shape, seed=6)
    expected.backward(torch.tensor(upstream))
    got.backward(wgtorch.tensor(upstream, device=device))
    assert_close(wx.grad, tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    for p, q in zip(ref.parameters(), mod.parameters()):
        assert_close(q.grad, p.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, args, kw", [
    ("Conv1d", (4, 6, 3), {}), ("Conv2d", (6, 8, (3, 5)), dict(groups=2)),
    ("ConvTranspose1d", (4, 6, 5), dict(groups=2)), ("ConvTranspose2d", (6, 4, 3), {})])
def test_module_default_init(name, args, kw):
    """kaiming_uniform_(a=sqrt(5)) weight and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) bias, fan_in from
    weight.shape[1] * prod(kernel_size), as PyTorch's."""
    wgtorch.manual_seed(0)
    mod = getattr(wgtorch.nn, name)(*args, **kw)
    ref = getattr(torch.nn, name)(*args, **kw)
    assert tuple(mod.weight.shape) == tuple(ref.weight.shape) and tuple(mod.bias.shape) == tuple(ref.bias.shape)
    assert mod.weight.dtype is wgtorch.float32 and mod.weight.requires_grad
    fan_in = mod.weight.shape[1] * math.prod(mod.weight.shape[2:])
    bound = 1 / math.sqrt(fan_in)
    for p in (mod.weight, mod.bias):
        v = p.detach().numpy()
        assert np.abs(v).max() <= bound and np.unique(v).size == v.size
    assert np.abs(mod.weight.detach().numpy()).max() > 0.8 * bound  # >= 72 samples of U(-bound, bound)
    big = getattr(wgtorch.nn, name)(64, 64, 3).weight.detach().numpy()  # U(-b, b) has std b / sqrt(3)
    b = 1 / math.sqrt(big.shape[1] * math.prod(big.shape[2:]))
    assert abs(big.std() - b / math.sqrt(3)) < 0.05 * b and abs(big.mean()) < 0.02 * b


def test_module_attributes_and_dtype():
    mod = wgtorch.nn.Conv2d(4, 6, 3, stride=2, padding=1, dtype=wgtorch.float64)
    ref = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1)
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "transposed",
                 "output_padding", "groups", "padding_mode", "_reversed_padding_repeated_twice"):
        assert getattr(mod, attr) == getattr(ref, attr), attr
    assert mod.weight.dtype is wgtorch.float64
    assert mod(wgtorch.zeros(1, 4, 5, 5, dtype=wgtorch.float64)).dtype is wgtorch.float64
    same = wgtorch.nn.Conv1d(2, 2, 4, padding="same", dilation=3)
    assert same._reversed_padding_repeated_twice == torch.nn.Conv1d(2, 2, 4, padding="same",
                                                                    dilation=3)._reversed_padding_repeated_twice


@pytest.mark.parametrize("name, kw", [
    ("Conv2d", dict(padding_mode="foo")), ("Conv2d", dict(groups=4)), ("Conv2d", dict(groups=0)),
    ("Conv2d", dict(padding="foo")), ("Conv2d", dict(padding="same", stride=2)),
    ("Conv1d", dict(groups=3)), ("ConvTranspose2d", dict(padding_mode="reflect")),
    ("ConvTranspose1d", dict(groups=5))])
def test_module_argument_errors(name, kw):
    with pytest.raises(Exception) as expected:
        getattr(torch.nn, name)(4, 6, 3, **kw)
    with pytest.raises(expected.type):
        getattr(wgtorch.nn, name)(4, 6, 3, **kw)


def test_conv_transpose_output_size(device):
    torch.manual_seed(0)
    ref = torch.nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1)
    mod = wgtorch.nn.ConvTranspose2d(2, 3, 3, stride=3, padding=1).to(device)
    mod.load_state_dict({k: wgtorch.tensor(v.numpy(), device=device) for k, v in ref.state_dict().items()})
    x = rand(1, 2, 3, 4, seed=5)
    for size in ([8, 10], (1, 3, 9, 12)):
        expected = ref(torch.tensor(x), output_size=size)
        assert_close(mod(wgtorch.tensor(x, device=device), output_size=size), expected.detach().numpy(),
                     rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError):
        ref(torch.tensor(x), output_size=[20, 20])
    with pytest.raises(ValueError):
        mod(wgtorch.tensor(x, device=device), output_size=[20, 20])


def test_conv_dtype_mismatch_error():
    with pytest.raises(RuntimeError):
        TF.conv1d(torch.zeros(1, 2, 4, dtype=torch.float64), torch.zeros(3, 2, 3))
    with pytest.raises(RuntimeError):
        F.conv1d(wgtorch.zeros(1, 2, 4, dtype=wgtorch.float64), wgtorch.zeros(3, 2, 3))
