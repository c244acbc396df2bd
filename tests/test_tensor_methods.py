"""Tensor methods live on the class: mixins in ``wgtorch/_tensor_methods`` (hand-written ``def``s and
a class built from the op registry, described by a generated stub), the wgpu kernel mixins are real
bases of `WgpuBackend`, and `best_device` asks the backend registry's probes. Behaviour of the
methods rewritten as ``def``s is checked against PyTorch on cpu and wgpu."""

from __future__ import annotations

import ast
import inspect
import pydoc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as pt

import wgtorch as torch
from wgtorch import _device
from wgtorch._tensor_methods import (
    GeneratedMethods,
    IndexMethods,
    MiscMethods,
    OperatorMethods,
    ReduceMethods,
    ShapeMethods,
    TensorMethods,
)
from wgtorch._tensor_methods.generated import STUB, render_stub
from wgtorch.ops.elementwise_defs import OPS

ROOT = Path(__file__).resolve().parent.parent


def _same(ours, theirs, rtol=1e-5, atol=1e-6):
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(
        ours.detach().numpy().astype(np.float64), theirs.detach().numpy().astype(np.float64), rtol=rtol, atol=atol
    )


# -- structure ---------------------------------------------------------------------------------------
def test_stub_matches_the_registry():
    # If this fails: python -m wgtorch._tensor_methods.write_stub
    assert STUB.read_text(encoding="utf-8") == render_stub()
    stub = ast.parse(STUB.read_text(encoding="utf-8"))
    cls = next(n for n in stub.body if isinstance(n, ast.ClassDef) and n.name == "GeneratedMethods")
    declared = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    for spec in OPS.values():
        if spec.method:
            assert {spec.name, *spec.aliases} <= declared
        if spec.inplace:
            assert {f"{n}_" for n in (spec.name, *spec.aliases)} <= declared


def test_tensor_derives_from_the_mixins():
    mro = torch.Tensor.__mro__
    for mixin in (
        TensorMethods,
        OperatorMethods,
        ShapeMethods,
        IndexMethods,
        ReduceMethods,
        MiscMethods,
        GeneratedMethods,
    ):
        assert mixin in mro
    assert torch.nn.Parameter.__mro__[1] is torch.Tensor
    # hand-written versions come first: add has alpha, the registry's add does not
    assert torch.Tensor.add is OperatorMethods.add and GeneratedMethods.add is not OperatorMethods.add
    # (after autocast's first use, Tensor.exp may be its wrapper, which keeps the method as __wrapped__)
    assert inspect.unwrap(torch.Tensor.exp) is GeneratedMethods.exp


def test_tensor_is_one_class_statement_with_its_real_bases():
    # wgtorch.Tensor is _tensor_class.py's class statement over the core and the mixins; no module
    # rebinds a class's bases, and every tensor an op returns is that class.
    from wgtorch import _tensor
    from wgtorch._tensor_class import Tensor

    assert torch.Tensor is Tensor and Tensor.__bases__ == (_tensor.TensorCore, TensorMethods)
    assert _tensor.Tensor is Tensor  # what _wrap builds
    x = torch.ones(2, requires_grad=True)
    for t in (x, x * 2, x + x, x.sum(), x[0], x.detach(), torch.tensor([1, 2]), torch.Tensor([1.0])):
        assert type(t) is torch.Tensor
    p = torch.nn.Parameter(torch.ones(2))
    assert isinstance(p, torch.Tensor) and isinstance(p, _tensor.TensorCore) and type(p + 1) is torch.Tensor
    for path in (ROOT / "wgtorch").rglob("*.py"):
        assert "__bases__ =" not in path.read_text(encoding="utf-8"), path
    # a second public class is refused (it would split `type(t) is Tensor`), and binds nothing
    with pytest.raises(TypeError, match="already"):

        class Other(_tensor.TensorCore, public=True):
            __slots__ = ()

    assert _tensor.Tensor is Tensor


def test_nothing_is_attached_to_tensor_after_the_class_statement():
    # In a fresh process (autocast wraps more methods on first use), every attribute in the own
    # namespace of Tensor (_tensor_class.py) and of its core (_tensor.py's TensorCore) is one that
    # the class body defines, or an autocast wrapper.
    def body_names(file, name):
        tree = ast.parse((ROOT / "wgtorch" / file).read_text(encoding="utf-8"))
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
        body = set()
        for n in cls.body:
            if isinstance(n, ast.FunctionDef):
                body.add(n.name)
            elif isinstance(n, ast.Assign):
                body.update(t.id for t in n.targets if isinstance(t, ast.Name))
        return body

    # (amp's autocast_attributes wraps, in place, the ops of its table that no decorator wrapped)
    code = (
        "import wgtorch\n"
        "from wgtorch._tensor import TensorCore\n"
        "for c in (wgtorch.Tensor, TensorCore):\n"
        "    print(' '.join(sorted(k for k, v in vars(c).items() if not hasattr(v, '__wrapped_autocast__'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(out) == 2
    from wgtorch._tensor import TensorCore

    auto = {
        "__module__",
        "__qualname__",
        "__doc__",
        "__slots__",
        "__firstlineno__",
        "__static_attributes__",
        "__parameters__",
        "__orig_bases__",
        "__annotations__",
        "__annotate__",
        "__annotations_cache__",
    }
    for line, (file, name, cls) in zip(
        out, (("_tensor_class.py", "Tensor", torch.Tensor), ("_tensor.py", "TensorCore", TensorCore))
    ):
        names = set(line.split())
        assert names - body_names(file, name) - set(cls.__slots__) - auto == set(), name
    # the core's body is where storage, autograd and conversion are (not an empty shell)
    assert {"backward", "detach", "to", "numpy"} <= body_names("_tensor.py", "TensorCore")


def test_every_method_dict_of_the_op_modules_is_bound():
    # Modules that list their methods in a dict (METHODS, TENSOR_METHODS) get each one on Tensor.
    from wgtorch import _misc, _sampling
    from wgtorch.ops import blas, norms, reduce_extra, scan

    for table in (
        _misc.METHODS,
        _misc.PROPERTIES,
        _sampling.TENSOR_METHODS,
        blas.TENSOR_METHODS,
        scan.METHODS,
        reduce_extra.METHODS,
        norms.METHODS,
    ):
        for name, fn in table.items():
            bound = inspect.getattr_static(torch.Tensor, name)
            while hasattr(bound, "__wrapped_autocast__"):  # amp's wrapper around a listed op
                bound = bound.__wrapped__
            assert bound is fn, name


def test_public_methods_have_docstrings_and_help_shows_them():
    missing = []
    for name in dir(torch.Tensor):
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            continue
        owner = next(c for c in torch.Tensor.__mro__ if name in vars(c))
        if owner is object or name in ("__new__", "__init_subclass__", "__subclasshook__"):
            continue
        v = inspect.getattr_static(torch.Tensor, name)
        if (callable(v) or isinstance(v, property)) and not (getattr(v, "__doc__", None) or "").strip():
            missing.append(name)
    assert missing == []
    text = pydoc.render_doc(torch.Tensor, renderer=pydoc.plaintext)
    assert "clamp(self, min=None, max=None)" in text and "Methods inherited from" in text
    # an in-place variant shows its op's parameters
    assert str(inspect.signature(torch.Tensor.clamp_)) == str(inspect.signature(torch.Tensor.clamp))


def test_wgpu_kernel_mixins_are_real_bases():
    from inspect import unwrap

    from wgtorch._backends.wgpu import WgpuBackend
    from wgtorch._backends.wgpu.attention import AttentionOps
    from wgtorch._backends.wgpu.norm import NormOps
    from wgtorch._backends.wgpu.scan import ScanOps
    from wgtorch._backends.wgpu.scatter import ScatterOps

    for mixin in (ScatterOps, ScanOps, AttentionOps, NormOps):
        assert mixin in WgpuBackend.__bases__
    assert unwrap(WgpuBackend.scatter) is ScatterOps.scatter and unwrap(WgpuBackend.nonzero) is ScatterOps.nonzero
    assert unwrap(WgpuBackend.scan) is ScanOps.scan and unwrap(WgpuBackend.batch_norm_stats) is NormOps.batch_norm_stats
    assert unwrap(WgpuBackend.attention_forward) is AttentionOps.attention_forward
    src = (ROOT / "wgtorch" / "_backends" / "wgpu" / "__init__.py").read_text(encoding="utf-8")
    assert "setattr(WgpuBackend" not in src and "\nWgpuBackend." not in src


def test_best_device_follows_the_registry_probes(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.wgpu, "is_preferred", lambda: False)
    assert torch.best_device() == torch.device("cpu")
    monkeypatch.setattr(torch.wgpu, "is_preferred", lambda: True)
    assert torch.best_device() == torch.device("wgpu", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch.best_device() == torch.device("cuda", 0)
    assert set(_device.PREFERRED) | {"cpu"} == set(_device.BACKENDS)
    assert _device.is_available("cpu") is True
    assert _device.is_available("cuda") is True  # (the patched probe)
    monkeypatch.setattr(torch.wgpu, "is_available", lambda: False)
    assert _device.is_available("wgpu:1") is False
    with pytest.raises(RuntimeError, match="tpu"):
        _device.is_available("tpu")


def test_wgpu_is_preferred_only_on_hardware():
    assert torch.wgpu.is_preferred() == (torch.wgpu.is_available() and torch.wgpu.is_hardware())


# -- behaviour of the hand-written methods, against PyTorch ------------------------------------------
def _pair(data, device, **kw):
    a = np.asarray(data)
    return torch.tensor(a, device=device, **kw), pt.tensor(a, **kw)


def test_arithmetic_methods(device):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 65)).astype(np.float32)
    b = rng.standard_normal((65,)).astype(np.float32)
    x, tx = _pair(a, device, requires_grad=True)
    y, ty = _pair(b, device, requires_grad=True)
    for ours, theirs in (
        (x.add(y, alpha=2), tx.add(ty, alpha=2)),
        (x.sub(y, alpha=-0.5), tx.sub(ty, alpha=-0.5)),
        (x.subtract(y), tx.subtract(ty)),
        (x.div(y, rounding_mode="floor"), tx.div(ty, rounding_mode="floor")),
        (2 - x, 2 - tx),
        (2**x, 2**tx),
        (3 / (x.abs() + 1), 3 / (tx.abs() + 1)),
        (x % 0.7, tx % 0.7),
        (5 // (x.abs() + 1), 5 // (tx.abs() + 1)),
        (-x, -tx),
        (+x, +tx),
        (abs(x), abs(tx)),
        (x.clamp(min=-0.5), tx.clamp(min=-0.5)),
        (x.clip(-0.2, 0.3), tx.clip(-0.2, 0.3)),
        (x.where(x > 0, y), tx.where(tx > 0, ty)),
    ):
        _same(ours, theirs)
    (x.add(y, alpha=3) * x.where(x > 0, y)).sum().backward()
    (tx.add(ty, alpha=3) * tx.where(tx > 0, ty)).sum().backward()
    _same(x.grad, tx.grad)
    _same(y.grad, ty.grad, rtol=1e-4, atol=1e-5)
    with pytest.raises(RuntimeError, match="min"):
        x.clamp()
    with pytest.raises(TypeError):
        x + object()


def test_matmul_and_reflected_matmul(device):
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    x, tx = _pair(a, device)
    _same(x @ x.T, tx @ tx.T)
    _same(x.mT.__rmatmul__(x), tx.mT.__rmatmul__(tx))


def test_logical_and_bitwise_operators(device):
    p, tp = _pair([True, False, True, False], device)
    q, tq = _pair([True, True, False, False], device)
    i, ti = _pair(np.array([5, -3, 0, 255], np.int32), device)
    j, tj = _pair(np.array([3, 6, -1, 1], np.int32), device)
    for ours, theirs in (
        (p & q, tp & tq),
        (p | q, tp | tq),
        (p ^ q, tp ^ tq),
        (~p, ~tp),
        (p & True, tp & True),
        (i & j, ti & tj),
        (i | j, ti | tj),
        (i ^ j, ti ^ tj),
        (~i, ~ti),
        (3 & i, 3 & ti),
    ):
        _same(ours, theirs)
    f, _ = _pair(np.array([1.5], np.float32), device)
    with pytest.raises(RuntimeError, match="bitwise_and"):  # (NotImplementedError is a RuntimeError)
        f & f


def test_inplace_methods_and_operators(device):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 6)).astype(np.float32)
    x, tx = _pair(a, device)
    y, ty = _pair(a[::-1].copy(), device)
    x.add_(y, alpha=2)
    tx.add_(ty, alpha=2)
    x.sub_(1)
    tx.sub_(1)
    x *= y
    tx *= ty
    x /= 3
    tx /= 3
    x += 1
    tx += 1
    x -= y
    tx -= ty
    x.div_(2, rounding_mode="trunc")
    tx.div_(2, rounding_mode="trunc")
    x.clamp_(max=0.5)
    tx.clamp_(max=0.5)
    _same(x, tx)
    v, tv = x[:, 1:4], tx[:, 1:4]  # non-contiguous views write through
    v.fill_(2.5)
    tv.fill_(2.5)
    x.t()[0].zero_()
    tx.t()[0].zero_()
    x.masked_fill_(x > 2, -1.0)
    tx.masked_fill_(tx > 2, -1.0)
    x[1].copy_(y[2])
    tx[1].copy_(ty[2])
    _same(x, tx)
    i, ti = _pair(np.arange(6, dtype=np.int32), device)
    with pytest.raises(RuntimeError, match="overflow"):
        i.fill_(float("nan"))
    with pytest.raises(RuntimeError, match="leaf"):
        torch.ones(2, requires_grad=True).add_(1)


def test_shape_methods(device):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x, tx = _pair(a, device)
    for ours, theirs in (
        (x.view(6, 4), tx.view(6, 4)),
        (x.view_as(x.new_zeros(4, 6)), tx.view_as(tx.new_zeros(4, 6))),
        (x.reshape_as(x.new_zeros(24)), tx.reshape_as(tx.new_zeros(24))),
        (x[:, :1].expand_as(x), tx[:, :1].expand_as(tx)),
        (x.T, tx.permute(2, 1, 0)),
        (x.mT, tx.mT),
        (x.flip(0, 2), tx.flip(0, 2)),
        (x.flip((1,)), tx.flip((1,))),
        (x.tile(2, 1), tx.tile(2, 1)),
        (x.tile((1, 2)), tx.tile((1, 2))),
        (x.clone(), tx.clone()),
        (x.float(), tx.float()),
        (x.int(), tx.int()),
        (x.long(), tx.long()),
        (x.bool(), tx.bool()),
        (x.transpose(0, 2).contiguous(), tx.transpose(0, 2).contiguous()),
    ):
        _same(ours, theirs)
    m, tm = _pair(np.arange(1, 17, dtype=np.float32).reshape(4, 4), device)
    m.tril_(-1)
    tm.tril_(-1)
    _same(m, tm)
    m.triu_(1)
    tm.triu_(1)
    _same(m, tm)
    e = x.new_full((0, 3), 7.0)
    assert tuple(e.shape) == (0, 3) and e.dtype is torch.float32 and e.device == x.device
    f = x.new_full((2,), fill_value=3, dtype=torch.int32)
    _same(f, pt.full((2,), 3, dtype=pt.int32))
    _same(x.new_tensor([1.0, 2.0]), tx.new_tensor([1.0, 2.0]))
    z = torch.tensor(2.0, device=device)  # 0-d
    _same(z.T, pt.tensor(2.0))
    with pytest.raises(RuntimeError):
        x.transpose(0, 2).view(24)
