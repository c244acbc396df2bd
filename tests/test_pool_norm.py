"""Pooling, resizing, fold/unfold and pixel shuffle against PyTorch: values, int64 indices,
shapes, gradients of every input, exception types; on "cpu" and "wgpu"."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import wgtorch
import wgtorch.nn.functional as F


def _leaves(arrays, device):
    ours = [wgtorch.tensor(a, device=device, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def check(ours_fn, torch_fn, shapes, device, seed=0, arrays=None, rtol=1e-4, atol=1e-5):
    """Forward (values, shape, dtype, indices when a pair comes back) and the gradient of every
    input for one random upstream gradient."""
    rng = np.random.default_rng(seed)
    arrays = arrays if arrays is not None else [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ours, theirs = _leaves(arrays, device)
    y, ty = ours_fn(*ours), torch_fn(*theirs)
    if isinstance(ty, tuple):
        assert y[1].dtype is wgtorch.int64
        np.testing.assert_array_equal(y[1].numpy(), ty[1].numpy())
        y, ty = y[0], ty[0]
    assert tuple(y.shape) == tuple(ty.shape)
    assert y.dtype is wgtorch.float32 and y.device.type == device
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol, equal_nan=True)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    y.backward(wgtorch.tensor(g, device=device))
    ty.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)


def same_error(ours_fn, torch_fn):
    """Both raise, ours with torch's exception type."""
    with pytest.raises(Exception) as theirs:
        torch_fn()
    with pytest.raises(type(theirs.value)):
        ours_fn()


MAX2D = [  # kernel_size, stride, padding, dilation, ceil_mode
    (2, None, 0, 1, False),
    (3, 2, 1, 1, False),
    ((3, 2), (2, 1), (1, 0), (1, 2), True),
    (3, 2, 1, 1, True),
    ((2, 3), 1, (1, 1), 2, False),
]


@pytest.mark.parametrize("cfg", MAX2D)
def test_max_pool2d(device, cfg):
    k, s, p, d, ceil = cfg
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil, return_indices=True)
    check(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [(2, 3, 7, 6)], device)


@pytest.mark.parametrize("cfg", [(3, 1, 1, 1, False), (2, None, 0, 1, True), (3, 2, 1, 2, True), (4, 3, 2, 1, False)])
def test_max_pool1d(device, cfg):
    k, s, p, d, ceil = cfg
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil, return_indices=True)
    check(lambda x: F.max_pool1d(x, **kw), lambda x: TF.max_pool1d(x, **kw), [(2, 3, 9)], device)


def test_max_pool_unbatched_batch1_noncontiguous(device):
    check(lambda x: F.max_pool2d(x, 2, return_indices=True), lambda x: TF.max_pool2d(x, 2, return_indices=True),
          [(3, 5, 4)], device)
    check(lambda x: F.max_pool2d(x.transpose(-1, -2), 3, 2, 1), lambda x: TF.max_pool2d(x.transpose(-1, -2), 3, 2, 1),
          [(1, 2, 5, 7)], device)
    check(lambda x: F.max_pool1d(x[:, ::2], 2), lambda x: TF.max_pool1d(x[:, ::2], 2), [(3, 7)], device)


def test_max_pool_ties_and_nan(device):
    """The first maximum of a window wins (and takes the gradient); a NaN wins over any number, the
    last NaN of the window as in PyTorch's kernels; the output is NaN."""
    nan = float("nan")
    row = np.array([[[1, 3, 3, 2, nan, 1, nan, 5, 5, 5]]], dtype=np.float32)
    check(lambda x: F.max_pool1d(x, 3, 1, return_indices=True), lambda x: TF.max_pool1d(x, 3, 1, return_indices=True),
          None, device, arrays=[row])
    plane = np.array([[[[2, 2, 0], [2, nan, 1], [0, 1, 1]]]], dtype=np.float32)
    check(lambda x: F.max_pool2d(x, 2, 1, return_indices=True), lambda x: TF.max_pool2d(x, 2, 1, return_indices=True),
          None, device, arrays=[plane])
    check(lambda x: F.adaptive_max_pool2d(x, 2, True), lambda x: TF.adaptive_max_pool2d(x, 2, True), None, device,
          arrays=[plane])


def test_max_pool_zero_batch(device):
    x = wgtorch.zeros(0, 3, 5, 4, device=device)
    y, i = F.max_pool2d(x, 2, return_indices=True)
    assert tuple(y.shape) == tuple(i.shape) == (0, 3, 2, 2)
    assert tuple(F.avg_pool2d(x, 2).shape) == (0, 3, 2, 2)
    assert tuple(F.adaptive_avg_pool2d(x, 3).shape) == (0, 3, 3, 3)


def test_max_pool_errors():
    x, tx = wgtorch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4)
    same_error(lambda: F.max_pool2d(x, 2, padding=2), lambda: TF.max_pool2d(tx, 2, padding=2))
    same_error(lambda: F.max_pool2d(x, 5), lambda: TF.max_pool2d(tx, 5))
    same_error(lambda: F.max_pool2d(x[0, 0, 0], 2), lambda: TF.max_pool2d(tx[0, 0, 0], 2))
    same_error(lambda: F.max_pool1d(x, 2), lambda: TF.max_pool1d(tx, 2))
    same_error(lambda: F.max_pool2d(x, 2, stride=0), lambda: TF.max_pool2d(tx, 2, stride=0))
    same_error(lambda: F.avg_pool2d(x, 2, padding=3), lambda: TF.avg_pool2d(tx, 2, padding=3))
    same_error(lambda: F.avg_pool2d(x, 2, divisor_override=0), lambda: TF.avg_pool2d(tx, 2, divisor_override=0))


AVG2D = [  # kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    (2, None, 0, False, True, None),
    (3, 2, 1, False, True, None),
    (3, 2, 1, True, True, None),
    (3, 2, 1, True, False, None),
    ((3, 2), (2, 1), (1, 1), False, False, None),
    (2, 1, 1, False, True, 3),
]


@pytest.mark.parametrize("cfg", AVG2D)
def test_avg_pool2d(device, cfg):
    k, s, p, ceil, cip, div = cfg
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
    check(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), [(2, 3, 8, 7)], device)


@pytest.mark.parametrize("cfg", [(3, 1, 1, False, True), (3, 2, 1, True, True), (3, 2, 1, True, False), (2, None, 0,
                                                                                                         False, True)])
def test_avg_pool1d(device, cfg):
    k, s, p, ceil, cip = cfg
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=cip)
    check(lambda x: F.avg_pool1d(x, **kw), lambda x: TF.avg_pool1d(x, **kw), [(2, 3, 8)], device)
    check(lambda x: F.avg_pool1d(x.transpose(0, 1), **kw), lambda x: TF.avg_pool1d(x.transpose(0, 1), **kw),
          [(5, 2)], device)


@pytest.mark.parametrize("size", [3, (2, 4), (None, 2), (7, 1), 1])
def test_adaptive_pool2d(device, size):
    check(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size), [(2, 3, 5, 6)], device)
    check(lambda x: F.adaptive_max_pool2d(x, size, return_indices=True),
          lambda x: TF.adaptive_max_pool2d(x, size, return_indices=True), [(2, 3, 5, 6)], device)


@pytest.mark.parametrize("size", [1, 3, 4, 9])
def test_adaptive_pool1d(device, size):
    check(lambda x: F.adaptive_avg_pool1d(x, size), lambda x: TF.adaptive_avg_pool1d(x, size), [(2, 3, 7)], device)
    check(lambda x: F.adaptive_avg_pool1d(x, size), lambda x: TF.adaptive_avg_pool1d(x, size), [(3, 7)], device)
    check(lambda x: F.adaptive_max_pool1d(x, size, True), lambda x: TF.adaptive_max_pool1d(x, size, True),
          [(2, 3, 7)], device)


FOLD = [  # kernel_size, dilation, padding, stride
    (2, 1, 0, 1),
    ((2, 3), (1, 2), 1, (2, 1)),
    (3, 1, 1, 2),
]


@pytest.mark.parametrize("cfg", FOLD)
def test_unfold_fold(device, cfg):
    k, d, p, s = cfg
    kw = dict(kernel_size=k, dilation=d, padding=p, stride=s)
    check(lambda x: F.unfold(x, **kw), lambda x: TF.unfold(x, **kw), [(2, 3, 7, 6)], device)
    check(lambda x: F.unfold(x, **kw), lambda x: TF.unfold(x, **kw), [(2, 7, 6)], device)  # unbatched
    cols = TF.unfold(torch.zeros(2, 3, 7, 6), **kw).shape
    check(lambda x: F.fold(x, (7, 6), **kw), lambda x: TF.fold(x, (7, 6), **kw), [tuple(cols)], device)
    check(lambda x: F.fold(x, (7, 6), **kw), lambda x: TF.fold(x, (7, 6), **kw), [tuple(cols[1:])], device)


def test_fold_errors():
    same_error(lambda: F.fold(wgtorch.zeros(1, 12, 5), (4, 5), 2), lambda: TF.fold(torch.zeros(1, 12, 5), (4, 5), 2))
    same_error(lambda: F.fold(wgtorch.zeros(1, 7, 12), (4, 5), 2), lambda: TF.fold(torch.zeros(1, 7, 12), (4, 5), 2))
    same_error(lambda: F.unfold(wgtorch.zeros(4, 5), 2), lambda: TF.unfold(torch.zeros(4, 5), 2))
    same_error(lambda: F.unfold(wgtorch.zeros(1, 1, 2, 2), 3), lambda: TF.unfold(torch.zeros(1, 1, 2, 2), 3))
    same_error(lambda: F.unfold(wgtorch.zeros(1, 1, 1, 2, 2), 1), lambda: TF.unfold(torch.zeros(1, 1, 1, 2, 2), 1))
    same_error(lambda: F.fold(wgtorch.zeros(12), (4, 5), 2), lambda: TF.fold(torch.zeros(12), (4, 5), 2))


def test_pixel_shuffle(device):
    check(lambda x: F.pixel_shuffle(x, 2), lambda x: TF.pixel_shuffle(x, 2), [(2, 8, 3, 5)], device)
    check(lambda x: F.pixel_shuffle(x, 3), lambda x: TF.pixel_shuffle(x, 3), [(9, 2, 1)], device)
    check(lambda x: F.pixel_unshuffle(x, 2), lambda x: TF.pixel_unshuffle(x, 2), [(1, 2, 4, 6)], device)
    x = wgtorch.tensor(np.arange(2 * 8 * 3 * 5, dtype=np.float32).reshape(2, 8, 3, 5), device=device)
    np.testing.assert_array_equal(F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2).numpy(), x.numpy())
    same_error(lambda: F.pixel_shuffle(wgtorch.zeros(1, 3, 2, 2), 2), lambda: TF.pixel_shuffle(torch.zeros(1, 3, 2, 2),
                                                                                                2))
    same_error(lambda: F.pixel_shuffle(wgtorch.zeros(4, 2), 2), lambda: TF.pixel_shuffle(torch.zeros(4, 2), 2))


INTERP = [  # shape, kwargs
    ((2, 3, 5, 4), dict(scale_factor=2)),
    ((2, 3, 5, 4), dict(scale_factor=1.7)),
    ((2, 3, 5, 4), dict(size=(3, 7))),
    ((1, 2, 6, 5), dict(scale_factor=(0.5, 1.5))),
    ((2, 3, 5, 4), dict(scale_factor=1.7, recompute_scale_factor=True)),
    ((2, 3, 5, 4), dict(scale_factor=(1.5, 0.7), mode="bilinear")),
    ((2, 3, 5, 4), dict(size=(7, 3), mode="bilinear", align_corners=True)),
    ((2, 3, 5, 4), dict(size=(2, 9), mode="bilinear", align_corners=False)),
    ((1, 1, 3, 3), dict(size=(1, 1), mode="bilinear", align_corners=True)),
    ((2, 3, 5), dict(size=9, mode="linear")),
    ((2, 3, 5), dict(scale_factor=0.6, mode="linear", align_corners=True)),
    ((2, 3, 5), dict(scale_factor=3)),
    ((2, 3, 5, 4), dict(scale_factor=1.7, mode="nearest-exact")),
    ((2, 3, 5), dict(size=10, mode="nearest-exact")),
    ((2, 3, 7, 5), dict(size=(3, 4), mode="area")),
    ((2, 3, 7), dict(scale_factor=0.5, mode="area")),
]


@pytest.mark.parametrize("shape,kw", INTERP)
def test_interpolate(device, shape, kw):
    check(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), [shape], device)


def test_interpolate_float64():
    """float64 inputs take float64 source coordinates, as PyTorch's kernels."""
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 3))
    for kw in (dict(scale_factor=(1.3, 2.1), mode="bilinear"), dict(size=(7, 4), mode="bilinear", align_corners=True)):
        y = F.interpolate(wgtorch.tensor(x), **kw)
        assert y.dtype is wgtorch.float64
        np.testing.assert_allclose(y.numpy(), TF.interpolate(torch.tensor(x), **kw).numpy(), rtol=1e-12)


def test_interpolate_noncontiguous(device):
    kw = dict(size=(4, 6), mode="bilinear")
    check(lambda x: F.interpolate(x.transpose(-1, -2), **kw), lambda x: TF.interpolate(x.transpose(-1, -2), **kw),
          [(1, 2, 3, 5)], device)


def test_interpolate_errors():
    x, tx = wgtorch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 3, 3)
    same_error(lambda: F.interpolate(x, size=2, scale_factor=2), lambda: TF.interpolate(tx, size=2, scale_factor=2))
    same_error(lambda: F.interpolate(x), lambda: TF.interpolate(tx))
    same_error(lambda: F.interpolate(x, size=2, align_corners=True), lambda: TF.interpolate(tx, size=2,
                                                                                            align_corners=True))
    same_error(lambda: F.interpolate(x[0], size=2, mode="bilinear"), lambda: TF.interpolate(tx[0], size=2,
                                                                                            mode="bilinear"))
    same_error(lambda: F.interpolate(x, size=(2, 2, 2)), lambda: TF.interpolate(tx, size=(2, 2, 2)))


MODULES = [  # (class name, args, kwargs, input shape)
    ("MaxPool1d", (3,), dict(stride=2, padding=1), (2, 3, 8)),
    ("MaxPool2d", (3,), dict(stride=2, ceil_mode=True), (2, 3, 7, 6)),
    ("AvgPool1d", (2,), {}, (2, 3, 8)),
    ("AvgPool2d", ((2, 3),), dict(stride=1, padding=1, count_include_pad=False), (2, 3, 5, 6)),
    ("AdaptiveAvgPool1d", (3,), {}, (2, 3, 8)),
    ("AdaptiveAvgPool2d", ((2, None),), {}, (2, 3, 5, 6)),
    ("AdaptiveMaxPool2d", (3,), {}, (2, 3, 5, 6)),
    ("AdaptiveMaxPool1d", (3,), {}, (2, 3, 5)),
    ("Upsample", (), dict(scale_factor=2), (1, 2, 3, 4)),
    ("Upsample", (), dict(size=(5, 3), mode="bilinear", align_corners=False), (1, 2, 3, 4)),
    ("UpsamplingNearest2d", (), dict(size=5), (1, 2, 3, 4)),
    ("UpsamplingBilinear2d", (), dict(scale_factor=2), (1, 2, 3, 4)),
    ("PixelShuffle", (2,), {}, (1, 8, 2, 3)),
    ("PixelUnshuffle", (2,), {}, (1, 2, 4, 6)),
    ("Unfold", ((2, 3),), dict(padding=1), (2, 3, 5, 6)),
    ("Fold", ((4, 5), 2), {}, (2, 8, 12)),
]


@pytest.mark.parametrize("name,args,kw,shape", MODULES)
def test_modules(device, name, args, kw, shape):
    ours, theirs = getattr(wgtorch.nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == []
    check(ours, theirs, [shape], device)


def test_max_pool_module_return_indices(device):
    kw = dict(kernel_size=2, return_indices=True)
    check(wgtorch.nn.MaxPool2d(**kw), torch.nn.MaxPool2d(**kw), [(1, 2, 4, 5)], device)
    check(wgtorch.nn.AdaptiveMaxPool2d(2, True), torch.nn.AdaptiveMaxPool2d(2, True), [(1, 2, 4, 5)], device)


def test_pool_dtypes(device):
    """Integer max pooling keeps the dtype; float64 pools in float64 (cpu: wgpu has no float64)."""
    for dt, name in [(np.int64, "int64"), (np.int32, "int32"), (np.uint8, "uint8")][:3 if device == "cpu" else 2]:
        x = np.random.default_rng(0).integers(0 if dt is np.uint8 else -50, 50, (2, 3, 5, 4)).astype(dt)
        y, i = F.max_pool2d(wgtorch.tensor(x, device=device), 3, 2, padding=1, return_indices=True)
        ty, ti = TF.max_pool2d(torch.tensor(x), 3, 2, padding=1, return_indices=True)
        assert y.dtype.name == name
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
    if device == "cpu":
        x64 = np.random.default_rng(1).standard_normal((2, 3, 5, 4))
        for fn in (lambda f, t: f.max_pool2d(t, 3, 2, 1), lambda f, t: f.avg_pool2d(t, 3, 2, 1, ceil_mode=True),
                   lambda f, t: f.adaptive_avg_pool2d(t, 3)):
            y = fn(F, wgtorch.tensor(x64))
            assert y.dtype is wgtorch.float64
            np.testing.assert_allclose(y.numpy(), fn(TF, torch.tensor(x64)).numpy(), rtol=1e-12)
