"""bfloat16 against PyTorch, part 2: checkpoint (zip) and safetensors I/O in both directions, the
refusal on wgpu (WGSL has no bf16 type) and cuda (CuPy has no bfloat16) from every entry point,
and every op of the elementwise registry in bfloat16 on cpu."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import wgtorch
from tests.helpers import torch_gelu_overflow_as_got
from tests.test_bfloat16 import BF, SPECIAL, assert_bits, rand, ulps


# -- I/O -------------------------------------------------------------------------------------------------
def test_torch_checkpoint_loads_in_wgtorch(tmp_path):
    t = torch.tensor(np.concatenate([SPECIAL, rand(40, seed=20)]).reshape(-1, 19)).bfloat16()
    torch.save({"w": t, "view": t[:, 2:5], "p": torch.nn.Parameter(t.clone()), "n": 3}, tmp_path / "a.pt")
    r = wgtorch.load(tmp_path / "a.pt")
    assert r["w"].dtype is BF and r["p"].dtype is BF and isinstance(r["p"], wgtorch.nn.Parameter)
    assert_bits(t, r["w"])
    assert_bits(t[:, 2:5], r["view"])
    assert r["n"] == 3


def test_wgtorch_checkpoint_loads_in_torch(tmp_path):
    a = np.concatenate([SPECIAL, rand(40, seed=21)]).reshape(-1, 19)
    w = wgtorch.tensor(a).bfloat16()
    lin = wgtorch.nn.Linear(3, 2).bfloat16()
    wgtorch.save({"w": w, "t": w.t(), "lin": lin.state_dict()}, tmp_path / "b.pt")
    r = torch.load(tmp_path / "b.pt")
    assert r["w"].dtype is torch.bfloat16
    assert_bits(r["w"], w)
    assert_bits(r["t"], w.t())
    assert r["lin"]["weight"].dtype is torch.bfloat16
    buf = io.BytesIO()  # and back into wgtorch
    wgtorch.save({"w": w}, buf)
    buf.seek(0)
    assert_bits(r["w"], wgtorch.load(buf)["w"])


def test_safetensors_round_trips(tmp_path):
    from safetensors.torch import load_file, save_file

    a = np.concatenate([SPECIAL, rand(40, seed=22)]).reshape(-1, 19)
    w = wgtorch.tensor(a).bfloat16()
    wgtorch.save({"w": w, "f": wgtorch.ones(2)}, tmp_path / "a.safetensors")
    t = load_file(tmp_path / "a.safetensors")
    assert t["w"].dtype is torch.bfloat16
    assert_bits(t["w"], w)
    save_file({"w": t["w"]}, tmp_path / "b.safetensors")
    back = wgtorch.load(tmp_path / "b.safetensors")
    assert back["w"].dtype is BF
    assert_bits(t["w"], back["w"])


# -- wgpu: refused everywhere, and the device keeps working -----------------------------------------------
def test_wgpu_refuses_bfloat16(wgpu_device):
    x = wgtorch.ones(3, device=wgpu_device)
    entry_points = {
        "tensor": lambda: wgtorch.tensor([1.0], dtype=BF, device=wgpu_device),
        "zeros": lambda: wgtorch.zeros(3, dtype=BF, device=wgpu_device),
        "empty": lambda: wgtorch.empty(3, dtype=BF, device=wgpu_device),
        "full": lambda: wgtorch.full((3,), 2.0, dtype=BF, device=wgpu_device),
        "arange": lambda: wgtorch.arange(3, dtype=BF, device=wgpu_device),
        "randn": lambda: wgtorch.randn(3, dtype=BF, device=wgpu_device),
        "rand": lambda: wgtorch.rand(3, dtype=BF, device=wgpu_device),
        "to(dtype)": lambda: x.to(BF),
        "bfloat16()": lambda: x.bfloat16(),
        "to(device)": lambda: wgtorch.ones(3, dtype=BF).to(wgpu_device),
        "zeros_like": lambda: wgtorch.zeros_like(x, dtype=BF),
        "sum(dtype)": lambda: x.sum(dtype=BF),
        "Module.bfloat16": lambda: wgtorch.nn.Linear(2, 2).to(wgpu_device).bfloat16(),
    }
    for name, fn in entry_points.items():
        with pytest.raises(TypeError, match="bfloat16 is not supported on wgpu") as e:
            fn()
        assert "float16 or float32" in str(e.value), name
    np.testing.assert_array_equal((x + 1).cpu().numpy(), [2.0, 2.0, 2.0])


def test_bfloat16_checkpoints_load_onto_wgpu_as_float32(wgpu_device, tmp_path):
    """wgpu can't hold bfloat16: a checkpoint's bfloat16 tensors arrive as float32, exactly, with a warning."""
    t = torch.tensor(np.concatenate([SPECIAL, rand(21, seed=24)]).reshape(2, 19)).bfloat16()
    buf = io.BytesIO()
    torch.save({"w": t, "v": t[:, 3:7]}, buf)
    buf.seek(0)
    with pytest.warns(UserWarning, match="load onto wgpu:0 as float32"):
        r = wgtorch.load(buf, map_location=wgpu_device)
    assert r["w"].dtype is wgtorch.float32 and r["w"].device.type == "wgpu"
    np.testing.assert_array_equal(r["w"].cpu().numpy(), t.float().numpy())
    np.testing.assert_array_equal(r["v"].cpu().numpy(), t[:, 3:7].float().numpy())
    wgtorch.save({"w": wgtorch.tensor(t.float().numpy()).bfloat16()}, tmp_path / "a.safetensors")
    with pytest.warns(UserWarning, match="as float32"):
        s = wgtorch.load(tmp_path / "a.safetensors", map_location=wgpu_device)
    np.testing.assert_array_equal(s["w"].cpu().numpy(), t.float().numpy())


# -- every registry op ------------------------------------------------------------------------------------
# Ops whose PyTorch cpu bfloat16 kernel is not "round operands, compute in float32, round once", and
# how far from it wgtorch's (which is) may be: ("ulps", n) or ("abs", atol) with rtol one bfloat16 step.
REGISTRY_TOLERANCE = {
    "exp": ("ulps", 1),  # Sleef's float32 exp/rsqrt differ from NumPy's in the last float32 bit, now and then
    "rsqrt": ("ulps", 1),
    "floor_divide": ("ulps", 1),  # PyTorch floors (a - fmod(a, b)) / b, not a / b
    "xlogy": ("ulps", 1),  # PyTorch rounds log(y) to bfloat16 before the product
    "softsign": ("ulps", 1),  # PyTorch composes x / (1 + |x|), rounding 1 + |x|
    "tanhshrink": ("abs", 1e-2),  # PyTorch composes x - tanh(x), rounding tanh(x) (cancellation near 0)
    # x (1 + erf(x / sqrt 2)) cancels below -3.5, and PyTorch's AVX-512 kernel (an AMD EPYC) rounds it
    # otherwise than its other kernels (0 ulps there): a few 1e-7 of absolute error, machine-dependent
    "gelu": ("abs", 1e-6),
    "gelu_tanh": ("abs", 1e-4),  # ~0 results for x < -4: PyTorch's tanh path gives -0
    "lerp": ("abs", 2e-2),  # PyTorch switches to end - (end - start)(1 - w) for |w| >= 0.5
}


def _registry_cases():
    from wgtorch.ops.elementwise_defs import OPS

    return [op for op in OPS if op not in ("copy",)]


@pytest.mark.parametrize("op", _registry_cases())
def test_every_registry_op_vs_torch(op):
    from tests.test_registry import PARAMS, TORCH_OP, _torch_fn
    from wgtorch.ops.elementwise_defs import OPS
    from wgtorch.ops.pointwise import pointwise

    if TORCH_OP.get(op, True) is None:
        pytest.skip(f"{op} has no PyTorch counterpart")
    spec = OPS[op]
    hosts = [np.concatenate([np.roll(SPECIAL, 3 * k), rand(400, seed=30 + k)]) for k in range(spec.tensor_arity)]
    if op in ("fmod", "remainder"):  # PyTorch's vectorised kernels give NaN for a subnormal divisor, and
        hosts[1][np.abs(hosts[1]) < 1e-30] = 1.5  # inexact results for |a / b| ~ 1e38
        hosts[0][np.abs(hosts[0]) > 1e30] = 2.5
    if op == "copysign":  # the sign of a NaN is not kept alike
        hosts[1][np.isnan(hosts[1])] = -1.0
    if op == "where":
        hosts[0] = hosts[0] > 0
    params = PARAMS.get(op, ())

    def make(lib, a):
        t = lib.tensor(a)
        return t if a.dtype == bool else t.to(lib.bfloat16)

    try:
        want, want_err = _torch_fn(op)(*[make(torch, a) for a in hosts], *params), None
    except Exception as e:  # noqa: BLE001  (the type is what is compared)
        want, want_err = None, e
    if want_err is not None:
        with pytest.raises(type(want_err)):
            pointwise(op, *[make(wgtorch, a) for a in hosts], *params)
        return
    got = pointwise(op, *[make(wgtorch, a) for a in hosts], *params)
    if op == "gelu":
        want = torch_gelu_overflow_as_got(want, got)
    assert got.dtype.name == str(want.dtype).split(".")[-1]
    if got.dtype is not BF:
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        return
    kind, bound = REGISTRY_TOLERANCE.get(op, ("ulps", 0))
    d = ulps(want, got)
    if kind == "ulps":
        assert d.max() <= bound, f"{op}: {int((d > 0).sum())} values differ, by up to {d.max()} steps"
    else:
        np.testing.assert_allclose(got.float().numpy(), want.float().numpy(), rtol=2**-7, atol=bound, err_msg=op)


@pytest.mark.parametrize("kind", ["fused", "generic"])
def test_cuda_refuses_bfloat16(kind, monkeypatch):
    """CuPy has no bfloat16 arrays: the (emulated) "cuda" device refuses it with a TypeError naming it."""
    from tests.test_array_backend_xp import CUDA0, _backend
    from wgtorch import _device

    monkeypatch.setitem(_device._backends, CUDA0, _backend(kind))
    for fn in (
        lambda: wgtorch.zeros(2, dtype=BF, device="cuda"),
        lambda: wgtorch.ones(2, dtype=BF).to("cuda"),
        lambda: wgtorch.ones(2, device="cuda").bfloat16(),
    ):
        with pytest.raises(TypeError, match="bfloat16 is not supported on cuda"):
            fn()
    assert (wgtorch.ones(2, device="cuda") + 1).cpu().numpy().tolist() == [2.0, 2.0]
