"""wgpu's fused convolution (implicit-GEMM kernels, ``shaders/conv.wgsl``) against PyTorch and
against the composite (im2col + matmul) it replaces: outputs and the gradients of input, weight
and bias. Most cases run one small fixed tile configuration (few shader compiles on lavapipe);
a few run the configuration chosen per GEMM, the K slicing and a grid folded past 65,535
workgroups."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import wgtorch
import wgtorch.nn.functional as F
from tests.helpers import assert_close, rand
from wgtorch._backends import protocol
from wgtorch._backends.array import ArrayBackend
from wgtorch._backends.wgpu import WgpuBackend
from wgtorch._backends.wgpu.conv import ConvConfig, _threads_along_n, choose_config
from wgtorch.nn import _conv

TF = torch.nn.functional
SMALL = ConvConfig(wg=16, tm=2, tn=4)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")


@pytest.fixture
def be(wgpu_device):
    return wgtorch.empty(1, device="wgpu")._be


@pytest.fixture
def small(be, monkeypatch):
    monkeypatch.setattr(be, "conv_config", SMALL)
    return be


# the optional kernels wgpu has (FusedAttentionProbs is the NumPy/CuPy backend's way to keep attention's state)
WGPU_OPTIONAL = [n for n in protocol.OPTIONAL if protocol.OPTIONAL_BY_CLASS[n] is not protocol.FusedAttentionProbs]


@pytest.fixture
def calls(monkeypatch):
    """Counts the fused kernels' calls (so a test knows the kernel, not the composite, ran)."""
    counts = dict.fromkeys(WGPU_OPTIONAL, 0)
    for name in WGPU_OPTIONAL:
        orig = getattr(WgpuBackend, name)

        def counted(self, *args, _orig=orig, _name=name):
            counts[_name] += 1
            return _orig(self, *args)

        monkeypatch.setattr(WgpuBackend, name, counted)
    return counts


def _run(fn, arrays, device, transform=None, create_graph=False):
    """fn on wgtorch leaves (or on ``transform`` of them): (output, [grad of each leaf])."""
    leaves = [None if a is None else wgtorch.tensor(a, device=device, requires_grad=True) for a in arrays]
    args = transform(leaves) if transform is not None else leaves
    out = fn(*args)
    out.backward(wgtorch.tensor(rand(*out.shape, seed=7), device=device))
    return out, [None if t is None else t.grad for t in leaves]


def _torch(fn, arrays, transform=None):
    leaves = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    args = transform(leaves) if transform is not None else leaves
    out = fn(*args)
    out.backward(torch.tensor(rand(*out.shape, seed=7)))
    return out.detach().numpy(), [None if t is None else t.grad.numpy() for t in leaves]


def _check(wfn, tfn, arrays, transform=None, rtol=1e-4, atol=1e-4, composite=True):
    """The fused kernel against PyTorch and (``composite``) against wgtorch's composite on wgpu."""
    got, grads = _run(wfn, arrays, "wgpu", transform)
    expected, tgrads = _torch(tfn, arrays, transform)
    assert_close(got, expected, rtol=rtol, atol=atol)
    for g, t in zip(grads, tgrads):
        if t is not None:
            assert_close(g, t, rtol=rtol, atol=atol)
    if composite:
        _conv.use_fused_kernels = False
        try:
            ref, rgrads = _run(wfn, arrays, "wgpu", transform)
        finally:
            _conv.use_fused_kernels = True
        assert_close(got, ref.detach().numpy(), rtol=rtol, atol=atol)
        for g, r in zip(grads, rgrads):
            if r is not None:
                assert_close(g, r.numpy(), rtol=rtol, atol=atol)


# (input shape, weight shape, bias?, kwargs)
CASES = [
    ((2, 3, 5, 7), (5, 3, 3, 3), True, {}),  # C_out 5: not a multiple of the tile
    ((1, 3, 6, 5), (2, 3, 1, 1), True, {}),  # 1x1, batch 1
    ((2, 2, 9, 8), (3, 2, 3, 3), True, dict(stride=2, padding=1)),
    ((1, 2, 10, 11), (4, 2, 3, 2), False, dict(stride=3, padding=2)),
    ((2, 2, 7, 6), (3, 2, 3, 3), True, dict(padding="same", dilation=2)),
    ((1, 2, 5, 5), (3, 2, 4, 2), True, dict(padding="same")),  # even kernel: extra pad at the end
    ((2, 4, 7, 6), (6, 2, 3, 2), True, dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)),
    ((2, 3, 6, 6), (3, 1, 3, 3), False, dict(groups=3, padding=1)),  # depthwise
    ((1, 4, 7, 5), (8, 1, 3, 3), True, dict(groups=4, stride=2, padding=1)),  # depthwise, multiplier 2
    ((1, 2, 9, 9), (3, 2, 5, 5), True, dict(padding=2)),
    ((1, 1, 9, 8), (2, 1, 7, 7), True, dict(padding=3, stride=2)),
    ((2, 2, 9, 8), (4, 1, 3, 3), True, dict(stride=(3, 2), padding=(2, 0), dilation=(3, 1), groups=2)),
]


@pytest.mark.parametrize("xs, ws, bias, kw", CASES)
def test_conv2d_kernel(small, calls, xs, ws, bias, kw):
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2), rand(ws[0], seed=3) if bias else None]
    _check(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), arrays)
    assert calls["conv2d_forward"] >= 1 and calls["conv2d_backward_input"] >= 1
    assert calls["conv2d_backward_weight"] >= 1


@pytest.mark.parametrize("xs, ws, bias, kw", [c for c in CASES if c[3].get("padding")])
def test_padding_on_the_fly(small, monkeypatch, xs, ws, bias, kw):
    """The padding tested per load in the kernels (hardware adapters), not copied in first."""
    monkeypatch.setattr(small, "conv_prepad", False)
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2), rand(ws[0], seed=3) if bias else None]
    _check(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), arrays, composite=False)


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((2, 3, 9), (4, 3, 3), dict(padding=1)),
        ((1, 4, 11), (6, 2, 4), dict(stride=2, padding=3, dilation=2, groups=2)),
        ((3, 4, 6), (4, 1, 5), dict(groups=4, padding="same")),
    ],
)
def test_conv1d_kernel(small, calls, xs, ws, kw):
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2), rand(ws[0], seed=3)]
    _check(lambda x, w, b: F.conv1d(x, w, b, **kw), lambda x, w, b: TF.conv1d(x, w, b, **kw), arrays)
    assert calls["conv2d_forward"] >= 1


@pytest.mark.parametrize("view", ["transposed", "sliced", "unbatched"])
def test_non_contiguous_and_unbatched_input(small, calls, view):
    def transform(ts):
        x, w, b = ts
        if view == "transposed":
            x = x.transpose(2, 3)  # (N, C, W, H) storage read as (N, C, H, W)
        elif view == "sliced":
            x = x[:, ::2, 1:, ::2]
        else:
            x = x[0]
        return [x, w.transpose(2, 3) if view == "transposed" else w, b]

    xs = (2, 6, 7, 9) if view == "sliced" else (2, 3, 6, 5)
    arrays = [rand(*xs, seed=1), rand(4, 3, 3, 2, seed=2), rand(4, seed=3)]
    _check(
        lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: TF.conv2d(x, w, b, padding=1), arrays, transform
    )
    assert calls["conv2d_forward"] == 1  # (the composite, run for comparison, calls no kernel)


def test_zero_size_batch(small, calls):
    arrays = [rand(0, 3, 5, 5), rand(4, 3, 3, 3, seed=2), rand(4, seed=3)]
    _check(lambda x, w, b: F.conv2d(x, w, b, stride=2), lambda x, w, b: TF.conv2d(x, w, b, stride=2), arrays)
    assert calls["conv2d_backward_weight"] >= 1


def test_default_configuration(be, calls):
    """The configuration chosen per GEMM (8x8, 16x4 and 16x1 blocks on lavapipe)."""
    for xs, ws, kw in [
        ((2, 3, 9, 8), (9, 3, 3, 3), dict(padding=1)),
        ((1, 4, 7, 6), (4, 1, 3, 3), dict(groups=4, stride=2)),
    ]:
        arrays = [rand(*xs, seed=1), rand(*ws, seed=2), rand(ws[0], seed=3)]
        _check(
            lambda x, w, b, kw=kw: F.conv2d(x, w, b, **kw),
            lambda x, w, b, kw=kw: TF.conv2d(x, w, b, **kw),
            arrays,
            composite=False,
        )
    assert calls["conv2d_forward"] == 2


def test_hardware_configuration(be, monkeypatch):
    """What a GPU adapter gets: 64 threads, 4x4 blocks, padding tested per load."""
    monkeypatch.setattr(be, "conv_config", choose_config(False, 4096, 64))
    monkeypatch.setattr(be, "conv_prepad", False)
    arrays = [rand(2, 6, 9, 8, seed=1), rand(10, 3, 3, 3, seed=2), rand(10, seed=3)]
    kw = dict(stride=2, padding=1, groups=2)
    _check(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), arrays, composite=False)


def test_k_sliced_within_the_loop_budget(small, monkeypatch):
    """K split into slices (lavapipe's loop limit): later slices add to the first, the bias once."""
    monkeypatch.setattr(small, "conv_loop_budget", 7)
    arrays = [rand(2, 3, 6, 5, seed=1), rand(5, 3, 3, 3, seed=2), rand(5, seed=3)]
    _check(
        lambda x, w, b: F.conv2d(x, w, b, padding=1),
        lambda x, w, b: TF.conv2d(x, w, b, padding=1),
        arrays,
        composite=False,
    )


def test_grid_folded_past_65535_workgroups(be, monkeypatch):
    """One thread and one output per workgroup: 65,998 workgroups for the forward (and 66,000
    for the gradient of the input) run as a 2-D grid; the weight's gradient loops over a K of
    65,998 in slices."""
    monkeypatch.setattr(be, "conv_config", ConvConfig(wg=1, tm=1, tn=1))
    assert be.rt.max_groups < 65998
    arrays = [rand(1, 1, 66000, seed=1), rand(1, 1, 3, seed=2), rand(1, seed=3)]
    _check(
        lambda x, w, b: F.conv1d(x, w, b),
        lambda x, w, b: TF.conv1d(x, w, b),
        arrays,
        rtol=1e-3,
        atol=1e-2,
        composite=False,
    )


def test_float16(small):
    if "shader-f16" not in small.rt.features:
        pytest.skip("the adapter lacks shader-f16")
    x, w, b = rand(2, 3, 6, 5, seed=1), rand(4, 3, 3, 3, seed=2), rand(4, seed=3)
    xs, ws, bs = (wgtorch.tensor(a, device="wgpu", dtype=wgtorch.float16, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(xs, ws, bs, padding=1)
    assert out.dtype is wgtorch.float16
    xt, wt, bt = (torch.tensor(a.astype(np.float16).astype(np.float32), requires_grad=True) for a in (x, w, b))
    ref = TF.conv2d(xt, wt, bt, padding=1)
    assert_close(out.float(), ref.detach().numpy(), rtol=1e-2, atol=5e-2)
    g = rand(*ref.shape, seed=7).astype(np.float16)
    out.backward(wgtorch.tensor(g, device="wgpu"))
    ref.backward(torch.tensor(g.astype(np.float32)))
    for a, t in ((xs, xt), (ws, wt), (bs, bt)):
        assert a.grad.dtype is wgtorch.float16
        assert_close(a.grad.float(), t.grad.numpy(), rtol=1e-2, atol=1e-1)


@pytest.mark.parametrize(
    "kw", [dict(padding=1), dict(stride=2, padding=(2, 1), dilation=(1, 2), groups=2), dict(padding="same", dilation=2)]
)
def test_double_backward_runs_the_composite(small, kw):
    """create_graph=True: the gradients (composites then) are differentiated again."""
    x, w, b = rand(2, 4, 7, 6, seed=1), rand(6, 4 // kw.get("groups", 1), 3, 3, seed=2), rand(6, seed=3)
    got = []
    for lib, dev in ((wgtorch, {"device": "wgpu"}), (torch, {})):
        xt, wt, bt = (lib.tensor(a, requires_grad=True, **dev) for a in (x, w, b))
        out = (lib.nn.functional.conv2d(xt, wt, bt, **kw) ** 2).sum()
        gx, gw, gb = lib.autograd.grad(out, (xt, wt, bt), create_graph=True)
        ((gx * gx).sum() + (gw * gw).sum() + (gb * gb).sum()).backward()
        got.append([t.detach().numpy() for t in (gx, gw, gb, xt.grad, wt.grad, bt.grad)])
    for a, t in zip(*got):
        np.testing.assert_allclose(a, t, rtol=1e-4, atol=1e-2)


# (input shape, weight shape (C_in, C_out / groups, *k), kwargs)
TRANSPOSED = [
    ((2, 3, 4, 5), (3, 5, 3, 3), {}),
    ((1, 4, 5, 4), (4, 3, 3, 2), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((2, 2, 3, 4), (2, 3, 3, 3), dict(stride=(3, 2), padding=(2, 0), output_padding=(2, 1), dilation=(1, 2))),
    ((1, 4, 4, 4), (4, 1, 3, 3), dict(groups=4, stride=2, padding=1)),  # depthwise
]


@pytest.mark.parametrize("xs, ws, kw", TRANSPOSED)
def test_conv_transpose2d_kernel(small, calls, xs, ws, kw):
    arrays = [rand(*xs, seed=1), rand(*ws, seed=2), rand(ws[1] * kw.get("groups", 1), seed=3)]
    _check(
        lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw), arrays
    )
    assert calls["conv2d_backward_input"] >= 1 and calls["conv2d_forward"] >= 1


def test_conv_transpose1d_kernel_and_the_composite_fallback(small, calls):
    arrays = [rand(2, 3, 6, seed=1), rand(3, 4, 3, seed=2), rand(4, seed=3)]
    kw = dict(stride=2, padding=1, output_padding=1)
    _check(
        lambda x, w, b: F.conv_transpose1d(x, w, b, **kw),
        lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw),
        arrays,
        composite=False,
    )
    assert calls["conv2d_backward_input"] == 1
    kw = dict(stride=1, dilation=3, output_padding=2)  # output_padding >= stride: the composite
    _check(
        lambda x, w, b: F.conv_transpose1d(x, w, b, **kw),
        lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw),
        arrays,
        composite=False,
    )
    assert calls["conv2d_backward_input"] == 1


def test_conv_transpose_double_backward(small):
    x, w, b = rand(2, 4, 4, 3, seed=1), rand(4, 3, 3, 3, seed=2), rand(6, seed=3)
    kw = dict(stride=2, padding=1, output_padding=1, groups=2)
    got = []
    for lib, dev in ((wgtorch, {"device": "wgpu"}), (torch, {})):
        xt, wt, bt = (lib.tensor(a, requires_grad=True, **dev) for a in (x, w, b))
        out = (lib.nn.functional.conv_transpose2d(xt, wt, bt, **kw) ** 2).sum()
        gx, gw, gb = lib.autograd.grad(out, (xt, wt, bt), create_graph=True)
        ((gx * gx).sum() + (gw * gw).sum() + (gb * gb).sum()).backward()
        got.append([t.detach().numpy() for t in (gx, gw, gb, xt.grad, wt.grad, bt.grad)])
    for a, t in zip(*got):
        np.testing.assert_allclose(a, t, rtol=1e-4, atol=1e-2)


def test_bad_input_still_raises(small):
    x = wgtorch.tensor(rand(1, 2, 3, 3), device="wgpu")
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        F.conv2d(x, wgtorch.tensor(rand(1, 2, 5, 5), device="wgpu"))
    with pytest.raises(RuntimeError, match="one floating dtype"):
        F.conv2d(x, wgtorch.tensor(rand(1, 2, 3, 3), device="wgpu", dtype=wgtorch.float16))


def test_optional_protocol_methods():
    """The wgpu backend has every optional method of FusedConv/FusedLayers with the protocol's
    parameters; the NumPy backend has no convolution or batch-norm kernel (it runs the composites)
    but its own attention kernels; unknown names are refused."""
    for name in WGPU_OPTIONAL:
        want = list(inspect.signature(getattr(protocol.OPTIONAL_BY_CLASS[name], name)).parameters)
        assert list(inspect.signature(getattr(WgpuBackend, name)).parameters) == want
    for name in WGPU_OPTIONAL:
        if not name.startswith("attention"):
            assert not hasattr(ArrayBackend, name)
            assert protocol.optional(wgtorch.empty(1)._be, name) is None
    assert protocol.optional(wgtorch.empty(1)._be, "attention_probs_forward") is not None
    with pytest.raises(AttributeError, match="not an optional"):
        protocol.optional(object(), "conv3d_forward")


def test_choose_config():
    assert choose_config(True, 16384, 64) == ConvConfig(16, 8, 8)
    assert choose_config(True, 16384, 4) == ConvConfig(16, 16, 4)
    assert choose_config(True, 100, 1) == ConvConfig(16, 16, 1)  # depthwise: one column per thread
    assert choose_config(True, 3, 64) == ConvConfig(16, 4, 8)  # a short M gets fewer rows
    assert choose_config(False, 4096, 64) == ConvConfig(64, 4, 4)
    assert choose_config(False, 4096, 64, max_threads=32).wg == 32
    cfg = ConvConfig(16, 8, 8)
    assert [_threads_along_n(cfg, n) for n in (1, 8, 9, 64, 1000)] == [1, 1, 2, 8, 16]
