"""Tensors: creation, dtypes, devices, views, indexing, cat/stack/split, conversion and errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import wgtorch as torch
from tests.helpers import assert_close, rand


def test_creation_functions(device):
    assert_close(torch.zeros(2, 3, device=device), np.zeros((2, 3), np.float32), dtype=torch.float32)
    assert_close(torch.ones((4,), device=device, dtype=torch.int32), np.ones(4, np.int32), dtype=torch.int32)
    assert_close(torch.full((2, 2), 7, device=device), np.full((2, 2), 7), dtype=torch.int64)
    assert_close(torch.full((3,), 2.5, device=device), np.full(3, 2.5, np.float32))
    assert_close(torch.arange(5, device=device), np.arange(5), dtype=torch.int64)
    assert_close(torch.arange(1, 2, 0.25, device=device), np.arange(1, 2, 0.25, dtype=np.float32))
    assert_close(torch.arange(10, 0, -3, device=device), np.arange(10, 0, -3))
    assert_close(torch.linspace(0, 1, 5, device=device), np.linspace(0, 1, 5, dtype=np.float32))
    assert_close(torch.eye(3, 4, device=device), np.eye(3, 4, dtype=np.float32))
    x = torch.tensor([[1.0, 2.0]], device=device)
    assert_close(torch.zeros_like(x), np.zeros((1, 2), np.float32))
    assert_close(torch.ones_like(x, dtype=torch.int64), np.ones((1, 2), np.int64), dtype=torch.int64)
    assert_close(torch.full_like(x, 3.0), np.full((1, 2), 3, np.float32))
    assert tuple(torch.empty(0, 4, device=device).shape) == (0, 4)
    assert x.new_zeros(2).device == x.device and x.new_tensor([1, 2]).dtype is torch.float32


def test_tensor_from_data(device):
    assert torch.tensor([1, 2], device=device).dtype is torch.int64
    assert torch.tensor([1.0, 2], device=device).dtype is torch.float32
    assert torch.tensor([True, False], device=device).dtype is torch.bool
    assert torch.tensor(3.5, device=device).shape == ()
    assert_close(torch.tensor(np.arange(6, dtype=np.int32).reshape(2, 3), device=device),
                 np.arange(6).reshape(2, 3), dtype=torch.int32)
    nested = torch.tensor([torch.tensor(1.0), torch.tensor(2.0)], device=device)
    assert_close(nested, np.array([1, 2], np.float32))
    with pytest.raises(ValueError):  # ragged, as in PyTorch
        torch.tensor([[1, 2], [3]], device=device)


def test_float64_on_wgpu_needs_shader_f64(wgpu_device):
    # (the adapter without it is simulated in tests/test_wgpu_float64.py)
    if torch.wgpu.get_device_properties().float64:
        assert torch.tensor(np.zeros(3, np.float64), device="wgpu").dtype is torch.float64
        assert torch.zeros(3, device="wgpu").double().dtype is torch.float64
    else:
        with pytest.raises(TypeError, match="shader-f64"):
            torch.tensor(np.zeros(3, np.float64), device="wgpu")
        with pytest.raises(TypeError, match="float64"):
            torch.zeros(3, device="wgpu").double()
    assert torch.tensor(np.zeros(3, np.float64)).dtype is torch.float64  # cpu keeps it


def test_int64_range_checked_on_wgpu(wgpu_device):
    """int32-storage mode (no shader-int64) refuses values past int32; native mode keeps them exactly."""
    if torch.wgpu.get_device_properties().int64_mode == "native":
        assert torch.tensor([2**40, -(2**63)], device="wgpu").tolist() == [2**40, -(2**63)]
    else:
        with pytest.raises(OverflowError, match="32-bit"):
            torch.tensor([2**40], device="wgpu")
    t = torch.tensor([2**31 - 1, -(2**31)], device="wgpu")
    assert t.tolist() == [2**31 - 1, -(2**31)] and t.dtype is torch.int64


def test_conversion_round_trips(device):
    a = rand(3, 4, seed=1)
    t = torch.tensor(a, device=device)
    np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_array_equal(np.asarray(t), a)
    assert t.tolist() == a.tolist()
    assert torch.tensor(5, device=device).item() == 5
    assert float(torch.tensor(1.5, device=device)) == 1.5
    assert t.cpu().device == torch.device("cpu")
    back = t.to("cpu").to(device)
    assert_close(back, a)
    assert t.to(torch.int32).dtype is torch.int32
    assert t.to(torch.zeros(1, dtype=torch.int64)).dtype is torch.int64
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)
    clone = pickle.loads(pickle.dumps(t))
    assert_close(clone, a)


def test_devices_and_defaults(monkeypatch):
    assert torch.device("wgpu:1").index == 1 and str(torch.device("wgpu:1")) == "wgpu:1"
    assert torch.device("cpu") == "cpu"
    with pytest.raises(RuntimeError, match="Expected one of"):
        torch.device("tpu")
    assert torch.get_default_device() == torch.device("cpu")
    torch.set_default_device("wgpu" if torch.wgpu.is_available() else "cpu")
    try:
        assert torch.zeros(1).device.type == ("wgpu" if torch.wgpu.is_available() else "cpu")
    finally:
        torch.set_default_device("cpu")
    best = torch.best_device()
    if torch.wgpu.is_available() and not torch.wgpu.is_hardware():
        assert best.type != "wgpu"  # a software adapter is never "best"


def test_cuda_without_cupy_says_how_to_install():
    if torch.cuda.is_available():
        pytest.skip("CuPy and a GPU are present")
    with pytest.raises(RuntimeError, match=r"wgtorch\[cuda12\]"):
        torch.zeros(2, device="cuda")


def test_views_share_memory(device):
    t = torch.arange(12, dtype=torch.float32, device=device)
    v = t.view(3, 4)
    v[1, 2] = 100.0
    assert t[6].item() == 100.0
    tt = v.t()
    assert not tt.is_contiguous() and tt.stride() == (1, 4)
    tt[0, 0] = -1.0
    assert t[0].item() == -1.0
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        tt.view(12)
    assert_close(tt.reshape(12), v.numpy().T.reshape(12))
    assert_close(tt.contiguous().view(12), v.numpy().T.reshape(12))


def test_shape_ops(device):
    a = rand(2, 3, 4, seed=2)
    t = torch.tensor(a, device=device)
    assert_close(t.permute(2, 0, 1), a.transpose(2, 0, 1))
    assert_close(t.transpose(0, 2), a.swapaxes(0, 2))
    assert_close(t.reshape(-1, 4), a.reshape(-1, 4))
    assert_close(t.flatten(1), a.reshape(2, 12))
    assert_close(t.unsqueeze(1).squeeze(1), a)
    assert tuple(t.unsqueeze(-1).shape) == (2, 3, 4, 1)
    assert_close(t[:, :1].expand(2, 5, 4), np.broadcast_to(a[:, :1], (2, 5, 4)))
    assert_close(t.narrow(2, 1, 2), a[:, :, 1:3])
    assert_close(t.select(1, -1), a[:, -1])
    assert_close(t.mT, a.swapaxes(-1, -2))
    assert_close(t.unflatten(2, (2, 2)), a.reshape(2, 3, 2, 2))
    with pytest.raises(RuntimeError, match="invalid for input of size"):
        t.reshape(5, -1)
    with pytest.raises(RuntimeError, match="must match the existing size"):
        t.expand(2, 3, 5)


def test_basic_indexing(device):
    a = rand(5, 6, 7, seed=3)
    t = torch.tensor(a, device=device)
    for key in [(1,), (-1,), (slice(1, 4),), (slice(None, None, 2), 3), (Ellipsis, 2), (None, 1, slice(-3, None)),
                (slice(1, 5, 3), slice(None), slice(6, 0, 1)), (0, 0, 0), (slice(10, 20),)]:
        assert_close(t[key], a[key])
    with pytest.raises(IndexError, match="out of bounds"):
        t[5]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0, 0]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        t[::-1]


def test_advanced_indexing(device):
    a = rand(5, 4, seed=4)
    t = torch.tensor(a, device=device)
    idx = torch.tensor([4, 0, 0, 2], device=device)
    assert_close(t[idx], a[[4, 0, 0, 2]])
    assert_close(t[:, torch.tensor([[1, 3]], device=device)], a[:, [[1, 3]]])
    assert_close(t[[0, -1]], a[[0, -1]])
    mask = t > 0
    assert_close(t[mask], a[a > 0])
    t[mask] = 0.0
    assert_close(t, np.where(a > 0, 0, a))
    with pytest.raises(IndexError, match="out of bounds"):
        t[[5]]  # host indices are checked on upload
    with pytest.raises(IndexError, match="out of bounds|out of range"):
        t[torch.tensor([5], device=device)].numpy()  # device indices: reported at the next read, like CUDA
    assert_close(t[torch.tensor([1], device=device)], np.where(a > 0, 0, a)[[1]])  # the device still works


def test_cat_stack_split_chunk(device):
    a, b = rand(2, 3, seed=5), rand(4, 3, seed=6)
    ta, tb = torch.tensor(a, device=device), torch.tensor(b, device=device)
    assert_close(torch.cat([ta, tb]), np.concatenate([a, b]))
    assert_close(torch.cat([ta.T, tb.T], dim=1), np.concatenate([a.T, b.T], axis=1))
    assert_close(torch.cat([ta, torch.tensor([], device=device)]), a)  # legacy empty tensors are skipped
    assert_close(torch.stack([ta, ta * 2], dim=1), np.stack([a, a * 2], axis=1))
    parts = tb.split(3)
    assert [tuple(p.shape) for p in parts] == [(3, 3), (1, 3)]
    assert_close(parts[1], b[3:])
    assert_close(tb.split([1, 3])[1], b[1:])
    chunks = torch.arange(10, device=device).chunk(3)
    assert [c.tolist() for c in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [u.tolist() for u in torch.tensor([[1, 2], [3, 4]], device=device).unbind(1)] == [[1, 3], [2, 4]]
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        torch.cat([ta, tb.T])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        torch.stack([ta, tb])


def test_repr(device):
    t = torch.tensor([[1.0, 2.5]], device=device)
    text = repr(t)
    assert text.startswith("tensor([[1.0000, 2.5000]]") and ("device='wgpu:0'" in text) == (device == "wgpu")
    assert "requires_grad=True" in repr(torch.ones(1, device=device, requires_grad=True))
    assert "dtype=wgtorch.int32" in repr(torch.ones(2, dtype=torch.int32, device=device))
    assert repr(torch.float32) == "wgtorch.float32" and repr(t.shape) == "wgtorch.Size([1, 2])"


def test_copy_and_setitem_refuse_sources_that_do_not_broadcast(device):
    # the wgpu copy kernel trusts the shapes: a 64-element source read 66 elements, past its own
    dst = torch.zeros(66, device=device)
    with pytest.raises(RuntimeError, match="66.*64|64.*66"):
        dst.copy_(torch.ones(64, device=device))
    x = torch.zeros(2, 3, device=device)
    with pytest.raises(RuntimeError, match=r"\[3\].*\[2, 3\]"):
        x[0] = torch.ones(2, 3, device=device)
    with pytest.raises(RuntimeError):
        x[:, 0] = torch.ones(3, device=device)
    with pytest.raises(RuntimeError):
        torch.zeros(3, device=device).copy_(torch.ones(1, 3, device=device))  # PyTorch: no broadcast up
    assert dst.tolist() == [0.0] * 66 and x.tolist() == [[0.0] * 3] * 2
    x[0] = torch.ones(1, 3, device=device)  # leading size-1 dims are fine, as in PyTorch
    x[1] = torch.tensor(2.0, device=device)
    assert x.tolist() == [[1.0] * 3, [2.0] * 3]


def test_0d_tensors_stay_0d_across_devices(device):
    assert tuple(torch.tensor(2.5).to(device).shape) == ()
    assert tuple(torch.tensor(2.5, device=device).cpu().shape) == ()
    assert tuple(torch.ones(3, device=device).sum().cpu().shape) == ()
    assert tuple(torch.ones(3, device=device).sum().to(device).shape) == ()
    m = torch.nn.Module()
    m.scale = torch.nn.Parameter(torch.tensor(0.5))
    m.to(device)
    assert tuple(m.scale.shape) == () and m.scale.item() == 0.5
    g = torch.tensor(3.0, requires_grad=True)
    g.to(device).backward()
    assert tuple(g.grad.shape) == ()
