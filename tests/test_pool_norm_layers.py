"""Normalisation layers and channel-wise / alpha dropout against PyTorch: values, gradients of every
input, running statistics, state dicts, train/eval switching, exception types; "cpu" and "wgpu"."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import wgtorch
import wgtorch.nn.functional as F

from .test_pool_norm import check, same_error


def _arr(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _close(ours, theirs, rtol=1e-4, atol=1e-5):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 3), (1, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_functional(device, shape, training):
    c = shape[1]
    rm, rv = _arr((c,), 5), np.abs(_arr((c,), 6)) + 0.5
    ours_stats = [wgtorch.tensor(rm, device=device), wgtorch.tensor(rv, device=device)]
    torch_stats = [torch.tensor(rm), torch.tensor(rv)]
    check(lambda x, w, b: F.batch_norm(x, *ours_stats, w, b, training, 0.3),
          lambda x, w, b: TF.batch_norm(x, *torch_stats, w, b, training, 0.3), [shape, (c,), (c,)], device)
    for a, b in zip(ours_stats, torch_stats):  # moved in training, untouched in eval
        _close(a, b)
    check(lambda x: F.batch_norm(x, None, None, training=True), lambda x: TF.batch_norm(x, None, None, training=True),
          [shape], device)


def test_batch_norm_errors():
    same_error(lambda: F.batch_norm(wgtorch.zeros(1, 3), None, None, training=True),
               lambda: TF.batch_norm(torch.zeros(1, 3), None, None, training=True))
    same_error(lambda: wgtorch.nn.BatchNorm2d(3)(wgtorch.zeros(2, 3, 4)), lambda: torch.nn.BatchNorm2d(3)(
        torch.zeros(2, 3, 4)))
    same_error(lambda: wgtorch.nn.BatchNorm1d(3)(wgtorch.zeros(2, 3, 4, 1)), lambda: torch.nn.BatchNorm1d(3)(
        torch.zeros(2, 3, 4, 1)))
    same_error(lambda: wgtorch.nn.BatchNorm1d(3)(wgtorch.zeros(2, 4)), lambda: torch.nn.BatchNorm1d(3)(
        torch.zeros(2, 4)))


@pytest.mark.parametrize("kw", [{}, dict(momentum=None), dict(momentum=0.5, eps=1e-3), dict(affine=False),
                                dict(track_running_stats=False), dict(bias=False)])
@pytest.mark.parametrize("name,shape", [("BatchNorm1d", (5, 3)), ("BatchNorm1d", (4, 3, 3)),
                                        ("BatchNorm2d", (2, 3, 3, 2))])
def test_batch_norm_module(device, name, shape, kw):
    ours, theirs = getattr(wgtorch.nn, name)(3, **kw).to(device), getattr(torch.nn, name)(3, **kw)
    assert repr(ours) == repr(theirs)
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    for k in tsd:
        assert tuple(sd[k].shape) == tuple(tsd[k].shape) and sd[k].dtype.name == str(tsd[k].dtype)[6:]
        np.testing.assert_array_equal(sd[k].numpy(), tsd[k].numpy())  # default initialisation
    for step in range(3):
        check(ours, theirs, [shape], device, seed=step)
        for k, v in theirs.state_dict().items():
            _close(ours.state_dict()[k], v)
    ours.eval()
    theirs.eval()
    check(ours, theirs, [shape], device, seed=9)
    for k, v in theirs.state_dict().items():
        _close(ours.state_dict()[k], v)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_batch_norm_zero_batch(device):
    m = wgtorch.nn.BatchNorm2d(3).to(device)
    y = m(wgtorch.zeros(0, 3, 2, 2, device=device))
    assert tuple(y.shape) == (0, 3, 2, 2)
    np.testing.assert_array_equal(m.running_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(m.running_var.numpy(), np.ones(3))
    assert m.num_batches_tracked.item() == 1 and m.num_batches_tracked.ndim == 0


def test_batch_norm2d_loads_torch_state_dict(device):
    """A state dict saved by PyTorch after training steps loads (same keys, shapes, dtypes) and
    gives PyTorch's eval outputs."""
    theirs = torch.nn.BatchNorm2d(4, momentum=0.2)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-1, 1)
    for step in range(3):
        theirs(torch.tensor(_arr((3, 4, 5, 2), step)) * (step + 1) + step)
    buf = io.BytesIO()
    torch.save(theirs.state_dict(), buf)
    sd = wgtorch.load(io.BytesIO(buf.getvalue()), map_location=device)
    assert sd["num_batches_tracked"].dtype is wgtorch.int64 and sd["num_batches_tracked"].ndim == 0
    ours = wgtorch.nn.BatchNorm2d(4, momentum=0.2).to(device)
    ours.load_state_dict(sd)
    assert ours.num_batches_tracked.item() == 3 and ours.num_batches_tracked.dtype is wgtorch.int64
    ours.eval()
    theirs.eval()
    x = _arr((2, 4, 3, 3), 7)
    _close(ours(wgtorch.tensor(x, device=device)), theirs(torch.tensor(x)))
    ours.train()
    theirs.train()
    _close(ours(wgtorch.tensor(x, device=device)), theirs(torch.tensor(x)))
    _close(ours.running_var, theirs.running_var)


@pytest.mark.parametrize("groups,shape", [(2, (2, 4, 5)), (1, (3, 4, 2, 3)), (4, (1, 4, 3)), (3, (2, 6))])
def test_group_norm(device, groups, shape):
    c = shape[1]
    check(lambda x, w, b: F.group_norm(x, groups, w, b), lambda x, w, b: TF.group_norm(x, groups, w, b),
          [shape, (c,), (c,)], device)
    ours, theirs = wgtorch.nn.GroupNorm(groups, c).to(device), torch.nn.GroupNorm(groups, c)
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    check(ours, theirs, [shape], device, seed=1)
    check(wgtorch.nn.GroupNorm(groups, c, affine=False), torch.nn.GroupNorm(groups, c, affine=False), [shape],
          device, seed=2)


def test_group_norm_errors():
    same_error(lambda: F.group_norm(wgtorch.zeros(2, 5, 3), 2), lambda: TF.group_norm(torch.zeros(2, 5, 3), 2))
    same_error(lambda: wgtorch.nn.GroupNorm(2, 5), lambda: torch.nn.GroupNorm(2, 5))


@pytest.mark.parametrize("name,shape", [("InstanceNorm1d", (2, 3, 5)), ("InstanceNorm1d", (3, 4)),
                                        ("InstanceNorm2d", (2, 3, 4, 3)), ("InstanceNorm2d", (3, 2, 3))])
@pytest.mark.parametrize("kw", [{}, dict(affine=True), dict(track_running_stats=True, momentum=0.3)])
def test_instance_norm(device, name, shape, kw):
    ours, theirs = getattr(wgtorch.nn, name)(3, **kw).to(device), getattr(torch.nn, name)(3, **kw)
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    for step in range(2):
        check(ours, theirs, [shape], device, seed=step)
    for k, v in theirs.state_dict().items():
        _close(ours.state_dict()[k], v)
    ours.eval()
    theirs.eval()
    check(ours, theirs, [shape], device, seed=5)


def test_instance_norm_functional(device):
    check(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), lambda x, w, b: TF.instance_norm(x, weight=w, bias=b),
          [(2, 3, 4, 5), (3,), (3,)], device)
    same_error(lambda: F.instance_norm(wgtorch.zeros(2, 3, 1)), lambda: TF.instance_norm(torch.zeros(2, 3, 1)))
    same_error(lambda: wgtorch.nn.InstanceNorm2d(3)(wgtorch.zeros(3, 4)), lambda: torch.nn.InstanceNorm2d(3)(
        torch.zeros(3, 4)))


@pytest.mark.parametrize("shape,normalized,eps", [((2, 4, 5), (5,), None), ((3, 4, 5), (4, 5), 1e-3), ((6,), 6, None)])
def test_rms_norm(device, shape, normalized, eps):
    wshape = (normalized,) if isinstance(normalized, int) else normalized
    check(lambda x, w: F.rms_norm(x, wshape, w, eps), lambda x, w: TF.rms_norm(x, wshape, w, eps), [shape, wshape],
          device)
    check(lambda x: F.rms_norm(x, wshape), lambda x: TF.rms_norm(x, wshape), [shape], device, seed=3)
    ours, theirs = wgtorch.nn.RMSNorm(normalized, eps).to(device), torch.nn.RMSNorm(normalized, eps)
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    check(ours, theirs, [shape], device, seed=1)
    check(wgtorch.nn.RMSNorm(normalized, eps, elementwise_affine=False),
          torch.nn.RMSNorm(normalized, eps, elementwise_affine=False), [shape], device, seed=2)


def test_rms_norm_eps_none_is_finfo_eps():
    """eps=None is the dtype's machine epsilon: visible on a tiny input."""
    x = np.full((1, 4), 1e-4, dtype=np.float32)
    _close(F.rms_norm(wgtorch.tensor(x), (4,)), TF.rms_norm(torch.tensor(x), (4,)))
    x64 = np.full((1, 4), 1e-9)
    _close(F.rms_norm(wgtorch.tensor(x64), (4,)), TF.rms_norm(torch.tensor(x64), (4,)), rtol=1e-10)
    same_error(lambda: F.rms_norm(wgtorch.zeros(2, 3), (4,)), lambda: TF.rms_norm(torch.zeros(2, 3), (4,)))


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, -1), (3.0, 0), (float("inf"), 1)])
def test_normalize(device, p, dim):
    check(lambda x: F.normalize(x, p, dim), lambda x: TF.normalize(x, p, dim), [(3, 4, 5)], device)


def test_normalize_zero_slice(device):
    x = _arr((3, 4))
    x[1] = 0.0
    check(lambda t: F.normalize(t), lambda t: TF.normalize(t), None, device, arrays=[x])
    same_error(lambda: F.normalize(wgtorch.zeros(3)), lambda: TF.normalize(torch.zeros(3)))


@pytest.mark.parametrize("size,shape", [(3, (2, 5, 4)), (4, (2, 5, 3, 2)), (1, (1, 3, 2)), (7, (2, 3, 4))])
def test_local_response_norm(device, size, shape):
    kw = dict(alpha=0.5, beta=0.6, k=2.0)
    check(lambda x: F.local_response_norm(x, size, **kw), lambda x: TF.local_response_norm(x, size, **kw), [shape],
          device)
    ours, theirs = wgtorch.nn.LocalResponseNorm(size), torch.nn.LocalResponseNorm(size)
    assert repr(ours) == repr(theirs)
    check(ours, theirs, [shape], device, seed=1)
    same_error(lambda: F.local_response_norm(wgtorch.zeros(2, 3), 2), lambda: TF.local_response_norm(
        torch.zeros(2, 3), 2))


# -- dropout variants -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name,shape", [("Dropout1d", (8, 16, 5)), ("Dropout1d", (16, 5)),
                                        ("Dropout2d", (8, 16, 3, 2))])
def test_channel_dropout(device, name, shape):
    """Each channel is all zero or all x / (1 - p); about p of them are zero; the gradient is the
    same mask; eval is the identity."""
    p = 0.4
    m = getattr(wgtorch.nn, name)(p)
    assert repr(m) == repr(getattr(torch.nn, name)(p))
    x = wgtorch.tensor(np.abs(_arr(shape)) + 0.1, device=device, requires_grad=True)
    wgtorch.manual_seed(0)
    y = m(x)
    y.backward(wgtorch.ones(shape, device=device))
    out, xs = y.detach().numpy(), x.detach().numpy()
    channels = out.reshape(-1, shape[-1] if len(shape) < 4 else 6) if len(shape) != 2 else out
    ratio = channels / (xs.reshape(channels.shape) / (1 - p))
    kept = np.isclose(ratio, 1.0, rtol=1e-5).all(-1)
    dropped = (channels == 0).all(-1)
    assert (kept | dropped).all()
    assert 0.2 < dropped.mean() < 0.6
    np.testing.assert_allclose(x.grad.numpy().reshape(channels.shape), kept[:, None] / (1 - p) * np.ones_like(ratio),
                               rtol=1e-6)
    m.eval()
    np.testing.assert_array_equal(m(x).detach().numpy(), xs)
    m.train()
    assert m.training
    np.testing.assert_array_equal(getattr(wgtorch.nn, name)(0.0)(x).detach().numpy(), xs)


def test_channel_dropout_errors_and_warnings():
    same_error(lambda: F.dropout1d(wgtorch.zeros(2, 3, 4, 5)), lambda: TF.dropout1d(torch.zeros(2, 3, 4, 5)))
    same_error(lambda: F.dropout2d(wgtorch.zeros(2, 3, 4), p=1.5), lambda: TF.dropout2d(torch.zeros(2, 3, 4), p=1.5))
    same_error(lambda: wgtorch.nn.Dropout2d(-0.1), lambda: torch.nn.Dropout2d(-0.1))
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        y = F.dropout2d(wgtorch.ones(2, 3, 4))
    assert tuple(y.shape) == (2, 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(wgtorch.ones(2, 3, 4, 1))
    x = wgtorch.ones(2, 3, 4)
    assert F.dropout1d(x, 1.0).abs().sum().item() == 0


def test_channel_dropout_inplace(device):
    for fn, shape in ((F.dropout2d, (4, 8, 2, 3)), (F.dropout1d, (8, 3)), (F.dropout1d, (4, 8, 3))):
        x = wgtorch.ones(shape, device=device)
        y = fn(x, 0.5, inplace=True)
        assert y is x
        values = set(np.unique(x.numpy()).tolist())
        assert values <= {0.0, 2.0} and len(values) == 2


def test_alpha_dropout(device):
    """Dropped elements all take one value, kept ones are a * x + b with PyTorch's constants; a
    standard normal input keeps (about) zero mean and unit variance, as PyTorch's output does."""
    p = 0.3
    m = wgtorch.nn.AlphaDropout(p)
    assert repr(m) == repr(torch.nn.AlphaDropout(p))
    x_np = _arr((64, 64))
    x = wgtorch.tensor(x_np, device=device, requires_grad=True)
    y = m(x)
    y.sum().backward()
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    out = y.detach().numpy()
    kept = np.isclose(out, a * x_np + alpha * a * p, atol=1e-5)
    dropped = np.isclose(out, -alpha * a + alpha * a * p, atol=1e-5)
    assert (kept | dropped).all() and 0.25 < dropped.mean() < 0.35
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, a, 0.0), rtol=1e-6)
    ty = torch.nn.AlphaDropout(p)(torch.tensor(x_np))
    assert abs(out.mean() - ty.mean().item()) < 0.1 and abs(out.std() - ty.std().item()) < 0.1
    m.eval()
    assert m(x) is x
    assert F.alpha_dropout(x, p) is x  # training=False by default, as PyTorch
    f = wgtorch.nn.FeatureAlphaDropout(p)(wgtorch.tensor(np.ones((8, 16, 3), np.float32), device=device)).numpy()
    assert (f == f[..., :1]).all()  # one draw per channel


def test_train_eval_switch(device):
    """``eval()`` / ``train()`` switch BatchNorm and the dropout layers inside a container, as in torch."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.BatchNorm1d(4), torch.nn.Dropout1d(0.5), torch.nn.AlphaDropout(0.5))
    ours = wgtorch.nn.Sequential(wgtorch.nn.BatchNorm1d(4), wgtorch.nn.Dropout1d(0.5),
                                 wgtorch.nn.AlphaDropout(0.5)).to(device)
    x = _arr((3, 4, 5))
    ours(wgtorch.tensor(x, device=device))
    theirs(torch.tensor(x))
    ours.eval()
    theirs.eval()
    assert not any(m.training for m in ours.modules())
    check(ours, theirs, [(3, 4, 5)], device, seed=1)
    ours.train()
    assert all(m.training for m in ours.modules())
    y1 = ours(wgtorch.tensor(x, device=device)).detach().numpy()
    y2 = ours(wgtorch.tensor(x, device=device)).detach().numpy()
    assert not np.allclose(y1, y2)  # fresh masks each call in training


ZERO_BATCH = {
    "group_norm": lambda f, x: f.group_norm(x, 2), "instance_norm": lambda f, x: f.instance_norm(x),
    "rms_norm": lambda f, x: f.rms_norm(x, (3,)), "batch_norm": lambda f, x: f.batch_norm(x, None, None, training=True),
    "normalize": lambda f, x: f.normalize(x), "local_response_norm": lambda f, x: f.local_response_norm(x, 2),
    "bilinear": lambda f, x: f.interpolate(x, scale_factor=2, mode="bilinear"),
    "nearest": lambda f, x: f.interpolate(x, size=5), "unfold": lambda f, x: f.unfold(x, 2),
    "pixel_shuffle": lambda f, x: f.pixel_shuffle(x, 2),
    "adaptive_max_pool2d": lambda f, x: f.adaptive_max_pool2d(x, 2),
    "avg_pool2d": lambda f, x: f.avg_pool2d(x, 2, 1, 1),
}


@pytest.mark.parametrize("name", sorted(ZERO_BATCH))
def test_zero_size_batch(device, name):
    """A batch of 0: torch's output shape, and backward runs (to an empty gradient)."""
    fn = ZERO_BATCH[name]
    x = wgtorch.zeros(0, 4, 3, 3, device=device, requires_grad=True)
    y = fn(F, x)
    assert tuple(y.shape) == tuple(fn(TF, torch.zeros(0, 4, 3, 3)).shape)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 4, 3, 3)
