"""The differential check of the shape-op tests: a case is a function of a library wrapper ``L``
(PyTorch on cpu, or wgtorch on the device under test) that builds its inputs with ``L.t(...)``
and returns a tensor (or a tuple of tensors). Both must agree on shapes, dtypes and values, and
(for inputs made with ``grad=True``) on the gradients of ``sum(out * seed)``; or both must raise,
wgtorch an exception of PyTorch's type (or a subclass) without NumPy's wording."""

from __future__ import annotations

import re
import warnings

import numpy as np
import torch as T

import wgtorch as W


class Lib:
    """``torch`` or ``wgtorch``, with ``t`` building tensors on the device under test."""

    def __init__(self, mod, device):
        self.mod, self.device, self.leaves = mod, device, []

    def t(self, a, dtype=None, grad=False):
        a = np.asarray(a)
        if dtype is not None:
            a = a.astype(dtype)
        elif a.dtype == np.float64:
            a = a.astype(np.float32)
        x = self.mod.tensor(a, device=self.device)
        if grad:
            x.requires_grad_(True)
            self.leaves.append(x)
        return x

    def __getattr__(self, name):
        return getattr(self.mod, name)


def _np(lib, t):
    t = t.detach()
    return t.cpu().numpy() if lib.mod is T else t.numpy()


def _dtype_name(t) -> str:
    return str(t.dtype).split(".")[-1].replace("bool_", "bool")


def outcome(lib, fn, seed=0):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = fn(lib)
    except Exception as e:  # noqa: BLE001 - the exception type is what is compared
        return "err", (type(e), str(e))
    if not isinstance(r, lib.mod.Tensor) and not (
        isinstance(r, (tuple, list)) and r and isinstance(r[0], lib.mod.Tensor)
    ):
        return "ok", ("value", r)
    outs = list(r) if isinstance(r, (tuple, list)) else [r]
    result = [(_np(lib, o), _dtype_name(o), tuple(o.shape)) for o in outs]
    grads = None
    if lib.leaves and any(o.requires_grad for o in outs):
        rng = np.random.default_rng(seed + 100)
        loss = None
        for o in outs:
            if o.requires_grad:
                s = lib.mod.tensor(rng.standard_normal(tuple(o.shape)).astype(np.float32), device=lib.device)
                term = (o * s.to(o.dtype)).sum()
                loss = term if loss is None else loss + term
        loss.backward()
        grads = [None if x.grad is None else _np(lib, x.grad) for x in lib.leaves]
    return "ok", (result, grads)


_NUMPY_WORDING = re.compile(r"numpy|ufunc|for axis \d|operands could not|Cannot cast|broadcast input array")


def _close(got, want, tol, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != torch's {want.shape}"
    if tol == 0:  # data moved, not computed: bit for bit, NaN and the sign of zero included
        np.testing.assert_array_equal(got, want, err_msg=what)
        if got.dtype.kind == "f":
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want), err_msg=f"{what}: sign of zero")
    elif want.dtype.kind == "f" or got.dtype.kind == "f":
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=tol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def check(device, fn, tol=0, match=None):
    """fn(torch) and fn(wgtorch on device) agree (see the module docstring): exactly (``tol`` 0,
    for ops that only move data) or within ``tol``; gradients within max(10 tol, 1e-5)."""
    kind, want = outcome(Lib(T, "cpu"), fn)
    got_kind, got = outcome(Lib(W, device), fn)
    if kind == "err":
        assert got_kind == "err", f"torch raised {want[0].__name__}({want[1]!r}); wgtorch returned {got}"
        assert issubclass(got[0], want[0]), (
            f"torch raised {want[0].__name__}({want[1]!r}); wgtorch raised {got[0].__name__}({got[1]!r})"
        )
        assert not _NUMPY_WORDING.search(got[1]), f"a NumPy message leaked: {got[1]!r}"
        if match is not None:
            assert re.search(match, got[1]), f"{got[1]!r} does not match {match!r}"
        return
    assert got_kind == "ok", f"torch returned {want}; wgtorch raised {got[0].__name__}({got[1]!r})"
    if want[0] == "value":
        assert got == want
        return
    (wres, wgrads), (gres, ggrads) = want, got
    assert len(gres) == len(wres), f"{len(gres)} outputs, torch has {len(wres)}"
    for i, ((wv, wdt, wshape), (gv, gdt, gshape)) in enumerate(zip(wres, gres)):
        assert gshape == wshape, f"output {i}: shape {gshape} != torch's {wshape}"
        assert gdt == wdt, f"output {i}: dtype {gdt} != torch's {wdt}"
        _close(gv, wv, 1e-3 if wv.dtype == np.float16 and tol else tol, f"output {i}")
    assert (ggrads is None) == (wgrads is None), f"gradients: wgtorch {ggrads is not None}, torch {wgrads is not None}"
    for i, (wg, gg) in enumerate(zip(wgrads or (), ggrads or ())):
        assert (gg is None) == (wg is None), f"input {i}: grad is None for one library only"
        if wg is not None:
            _close(gg, wg, max(tol * 10, 1e-5), f"grad of input {i}")


def arr(*shape, seed=0, dtype="float32"):
    """Test values: non-round floats, ints with a large one, or bools."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype in ("int32", "int64"):
        a = rng.integers(-1000, 1000, size=shape)
        if a.size:
            a.flat[0] = 123456789
        return a.astype(dtype)
    return (rng.standard_normal(shape) * 3).astype(dtype)
