"""What real programs reach first: torch.accelerator, torch.compile, torch.onnx, finfo/iinfo, the
legacy tensor types, Tensor.__format__ and friends, against PyTorch where it is installed."""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch

torch = pytest.importorskip("torch", reason="PyTorch (the dev extra's CPU wheel) is the oracle here")


def test_accelerator_names_only_hardware_adapters():
    acc = wgtorch.accelerator.current_accelerator()
    expected = wgtorch.best_device()
    if expected.type == "cpu":  # this machine: lavapipe is a software adapter, so no accelerator
        assert acc is None and not wgtorch.accelerator.is_available()
        assert wgtorch.accelerator.device_count() == 0
        with pytest.raises(RuntimeError, match="no accelerator"):
            wgtorch.accelerator.current_device_index()
        wgtorch.accelerator.synchronize()  # nothing to wait for
    else:
        assert acc.type == expected.type and wgtorch.accelerator.device_count() >= 1
    # the pytorch/examples idiom
    device = wgtorch.accelerator.current_accelerator() if wgtorch.accelerator.is_available() else "cpu"
    assert wgtorch.ones(2, device=device).sum().item() == 2


def test_compile_wraps_the_model_and_runs_it_eagerly_on_cpu():
    model = wgtorch.nn.Linear(3, 2)
    for compiled in (wgtorch.compile(model), wgtorch.compile(model, mode="max-autotune", fullgraph=True)):
        assert compiled._orig_mod is model  # PyTorch's OptimizedModule
        x = wgtorch.ones(4, 3)
        assert compiled(x).tolist() == model(x).tolist()
        assert not compiled._compiled._cache  # cpu: nothing captured
    assert wgtorch.compile(model, disable=True) is model

    @wgtorch.compile(mode="reduce-overhead")
    def double(x):
        return x * 2

    assert double(wgtorch.tensor([1.0, 2.0])).tolist() == [2.0, 4.0]
    for bad in (dict(mode="fast"), dict(mode="default", options={})):
        with pytest.raises(RuntimeError):
            wgtorch.compile(model, **bad)
        with pytest.raises(RuntimeError):
            torch.compile(torch.nn.Linear(3, 2), **bad)


def test_onnx_imports_and_refuses_at_use():
    import wgtorch.onnx

    with pytest.raises(NotImplementedError, match="not supported"):
        wgtorch.onnx.export(wgtorch.nn.Linear(2, 2), wgtorch.ones(1, 2), "m.onnx")


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo_matches_pytorch(name):
    ours, theirs = wgtorch.finfo(getattr(wgtorch, name)), torch.finfo(getattr(torch, name))
    for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(ours, field) == getattr(theirs, field), field


@pytest.mark.parametrize("name", ["uint8", "int32", "int64"])
def test_iinfo_matches_pytorch(name):
    ours, theirs = wgtorch.iinfo(getattr(wgtorch, name)), torch.iinfo(getattr(torch, name))
    assert (ours.bits, ours.max, ours.min) == (theirs.bits, theirs.max, theirs.min)


def test_info_errors_match_pytorch():
    for ours, theirs in ((lambda: wgtorch.finfo(wgtorch.int32), lambda: torch.finfo(torch.int32)),
                         (lambda: wgtorch.iinfo(wgtorch.float32), lambda: torch.iinfo(torch.float32)),
                         (lambda: wgtorch.iinfo(wgtorch.bool), lambda: torch.iinfo(torch.bool))):
        with pytest.raises(TypeError):
            theirs()
        with pytest.raises(TypeError):
            ours()


@pytest.mark.parametrize("name", ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor"])
def test_legacy_tensor_types(name):
    ours, theirs = getattr(wgtorch, name), getattr(torch, name)
    data = [1, 0, 2]
    a, b = ours(data), theirs(data)
    assert a.dtype.name == str(b.dtype).split(".")[-1] and a.tolist() == b.tolist()
    assert tuple(ours(2, 3).shape) == tuple(theirs(2, 3).shape) == (2, 3)
    assert tuple(ours().shape) == tuple(theirs().shape) == (0,)
    assert isinstance(a, ours) and not isinstance(wgtorch.tensor([1.5]).half(), ours)


def test_format_follows_pytorch():
    for value in (1.23456, 7):
        assert f"{wgtorch.tensor(value):.3f}" == f"{torch.tensor(value):.3f}"
        assert f"{wgtorch.tensor(value)}" == format(wgtorch.tensor(value).item())
    for ours, theirs in ((wgtorch.tensor([1.5]), torch.tensor([1.5])), (wgtorch.ones(2, 2), torch.ones(2, 2))):
        with pytest.raises(TypeError):
            format(theirs, ".2f")
        with pytest.raises(TypeError):
            format(ours, ".2f")
        assert f"{ours}" == repr(ours)


def test_data_ptr_pin_memory_type_as_and_memory_formats(device):
    x = wgtorch.arange(6, dtype=wgtorch.float32, device=device)
    assert x[2:].data_ptr() == x.data_ptr() + 2 * 4 or device == "wgpu"
    assert x.view(2, 3).data_ptr() == x.data_ptr() and x.clone().data_ptr() != x.data_ptr()
    assert x[2:].data_ptr() != x.data_ptr()
    if device == "cpu":
        assert x.pin_memory() is x and not x.is_pinned()
    else:
        with pytest.raises(RuntimeError):
            x.pin_memory()
    assert x.type_as(wgtorch.tensor([1])).dtype is wgtorch.int64
    y = x.clone(memory_format=wgtorch.contiguous_format)
    np.testing.assert_array_equal(y.cpu().numpy(), np.arange(6))
    assert repr(wgtorch.channels_last) == repr(torch.channels_last)


def test_backends_flags_programs_set_exist_and_are_kept():
    import wgtorch.backends as B

    assert wgtorch.backends is B
    B.cuda.matmul.allow_tf32 = True
    assert wgtorch.backends.cuda.matmul.allow_tf32 is True
    B.cuda.matmul.allow_tf32 = False
    B.cudnn.benchmark = True
    B.cudnn.deterministic = True
    assert wgtorch.backends.cudnn.benchmark and wgtorch.backends.cudnn.deterministic
    B.cudnn.benchmark = B.cudnn.deterministic = False
    assert B.mps.is_available() is False and B.cudnn.is_available() is False
    assert isinstance(B.cuda.is_built(), bool)
    B.cuda.enable_flash_sdp(False)
    assert not B.cuda.flash_sdp_enabled()
    B.cuda.enable_flash_sdp(True)
