"""Differential test of every indexing op against PyTorch (the oracle) on cpu and wgpu.

Each case is a function of a library wrapper ``L`` (PyTorch on cpu, or wgtorch on the device
under test) that builds its inputs with ``L.t(...)`` and returns a tensor. Both must agree on
shape, dtype and values, or both must raise the same exception type; after an exception the
device must keep working. Inputs cover float32, int32, int64, bool and float16 sources, 0-size,
0-d and odd shapes, and non-contiguous (transposed, stepped) views; gradients are compared too.
Invalid input (the exception types) is in test_index_oracle_errors.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch as T

import wgtorch as W

DTYPES = ["float32", "int32", "int64", "bool", "float16"]


class _Lib:
    """``torch`` or ``wgtorch`` with a ``t`` that builds a tensor on the device under test."""

    def __init__(self, mod, device):
        self.mod, self.device = mod, device

    def t(self, a, dtype=None):
        a = np.asarray(a)
        if dtype is not None:
            a = a.astype(dtype)
        elif a.dtype == np.float64:
            a = a.astype(np.float32)
        return self.mod.tensor(a, device=self.device)

    def __getattr__(self, name):
        return getattr(self.mod, name)


def _src(dtype, shape, seed=0):
    """Values that a float32 detour would change: large ints, non-round floats."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype in ("int32", "int64"):
        a = rng.integers(-(10**6), 10**6, size=shape)
        if a.size:
            a.flat[0] = 123456789  # not a float32 value
        return a.astype(dtype)
    return (rng.standard_normal(shape) * 10).astype(dtype)


def _outcome(lib, fn):
    try:
        r = fn(lib)
        if isinstance(r, lib.mod.Tensor):
            return "ok", (r.detach().cpu().numpy() if lib.mod is T else r.detach().numpy(),
                          str(r.dtype).split(".")[-1].replace("bool_", "bool"), tuple(r.shape))
        return "ok", r
    except Exception as e:  # noqa: BLE001 - the exception type is what is compared
        return "err", (type(e), str(e))


# Phrases of NumPy's own exceptions, which must not reach the user.
_NUMPY_WORDING = re.compile(r"numpy|ufunc|for axis \d|indexing arrays|operands could not|Cannot cast|"
                            r"arrays used as indices|only integers, slices \(`:`\), ellipsis \(`\.\.\.`\), numpy")


def check(device, fn, match=None):
    """fn(torch) and fn(wgtorch on device) agree; ``match`` (a regex) must be in wgtorch's message."""
    kind, want = _outcome(_Lib(T, "cpu"), fn)
    got_kind, got = _outcome(_Lib(W, device), fn)
    if kind == "err":
        assert got_kind == "err", f"torch raised {want[0].__name__}({want[1]!r}); wgtorch returned {got}"
        # a subclass of torch's type is fine (OutOfMemoryError is a RuntimeError), "not supported" is not
        unsupported = issubclass(got[0], NotImplementedError) and want[0] is not NotImplementedError
        assert issubclass(got[0], want[0]) and not unsupported, (
            f"torch raised {want[0].__name__}({want[1]!r}); wgtorch raised {got[0].__name__}({got[1]!r})")
        assert not _NUMPY_WORDING.search(got[1]), f"a NumPy message leaked: {got[1]!r}"
        if match is not None:
            assert re.search(match, got[1]), f"{got[1]!r} does not match {match!r}"
        # the device keeps working after the error
        np.testing.assert_array_equal((W.arange(5, device=device) * 2).numpy(), np.arange(5) * 2)
        return
    assert got_kind == "ok", f"torch returned {want}; wgtorch raised {got[0].__name__}({got[1]!r})"
    if not isinstance(want, tuple):
        assert got == want
        return
    (wv, wdt, wshape), (gv, gdt, gshape) = want, got
    assert gshape == wshape, f"shape {gshape} != torch's {wshape}"
    assert gdt == wdt, f"dtype {gdt} != torch's {wdt}"
    if wv.dtype.kind == "f":
        tol = 1e-3 if wv.dtype == np.float16 else 1e-6
        np.testing.assert_allclose(gv.astype(np.float64), wv.astype(np.float64), rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(gv, wv)


# -- index_select, gather, scatter_add, embedding ---------------------------------------------------
SELECT = [((7,), 0, [6, 0, 3, 3]), ((3, 5), 1, [4, 0, 4]), ((3, 5), -2, [2]), ((0, 4), 1, [3, 1]),
          ((4, 0), 0, [1, 1]), ((3, 5), 0, []), ((), 0, [0]), ((), -1, [0]), ((2, 3, 5), 2, [1])]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shape,dim,idx", SELECT)
@pytest.mark.parametrize("idt", ["int64", "int32"])
def test_index_select(device, dt, shape, dim, idx, idt):
    check(device, lambda L: L.t(_src(dt, shape)).index_select(dim, L.t(np.array(idx, np.int64), idt)))


@pytest.mark.parametrize("dt", DTYPES)
def test_index_select_views_and_0d_index(device, dt):
    a = _src(dt, (5, 6), seed=1)
    check(device, lambda L: L.t(a).t().index_select(0, L.t([5, 0, 2])))
    check(device, lambda L: L.t(a)[1::2, ::3].index_select(1, L.t([1, 1, 0])))
    check(device, lambda L: L.t(a).index_select(1, L.t(4)))
    check(device, lambda L: L.t(a).index_select(0, L.t([4, 0, 1, 2, 3])[::2]))


GATHER = [((4, 5), 0, (2, 5)), ((4, 5), 1, (4, 3)), ((4, 5), 1, (2, 2)), ((4, 5), 0, (6, 1)),
          ((2, 3, 5), 2, (2, 3, 7)), ((2, 3, 5), 1, (1, 2, 3)), ((3, 4), 1, (3, 0)), ((0, 3), 0, (0, 3))]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shape,dim,ishape", GATHER)
def test_gather(device, dt, shape, dim, ishape):
    idx = np.random.default_rng(2).integers(0, max(shape[dim], 1), size=ishape)
    check(device, lambda L: L.t(_src(dt, shape)).gather(dim, L.t(idx)))
    check(device, lambda L: L.t(_src(dt, shape)).gather(dim - len(shape), L.t(idx, "int32")))


@pytest.mark.parametrize("dt", DTYPES)
def test_gather_views_and_0d(device, dt):
    a = _src(dt, (5, 6), seed=3)
    idx = np.random.default_rng(4).integers(0, 5, size=(4, 6))
    check(device, lambda L: L.t(a).t().gather(1, L.t(idx).t()))
    check(device, lambda L: L.t(a)[::2].gather(0, L.t(idx % 3)[:, ::2]))
    check(device, lambda L: L.t(_src(dt, ())).gather(0, L.t(0)))
    check(device, lambda L: L.t(_src(dt, ())).gather(0, L.t([0, 0])))


SCATTER = [((4, 5), 0, (9, 5)), ((4, 5), 1, (4, 9)), ((4, 5), 1, (2, 3)), ((3, 2, 5), 2, (3, 2, 4)),
           ((4, 5), 0, (0, 5)), ((0, 5), 1, (0, 5))]


@pytest.mark.parametrize("dt", ["float32", "int32", "int64", "float16"])
@pytest.mark.parametrize("shape,dim,ishape", SCATTER)
def test_scatter_add(device, dt, shape, dim, ishape):
    rng = np.random.default_rng(5)
    idx = rng.integers(0, max(shape[dim], 1), size=ishape)
    sshape = tuple(n + 1 for n in ishape)  # src larger than the index: only its leading part is added
    # small integers: the sum is exact in every order of additions, float16 included
    src = rng.integers(-4, 5, size=sshape).astype(dt)
    check(device, lambda L: L.t(_src(dt, shape)).scatter_add(dim, L.t(idx), L.t(src)))
    check(device, lambda L: L.t(_src(dt, shape)).scatter_add(dim, L.t(idx, "int32"), L.t(src)))


def test_scatter_add_views_and_0d(device):
    a = _src("float32", (6, 4), seed=6)
    idx = np.random.default_rng(7).integers(0, 6, size=(3, 3))
    src = _src("float32", (5, 8), seed=8)
    check(device, lambda L: L.t(a).t().scatter_add(1, L.t(idx).t(), L.t(src)[:, ::2]))
    check(device, lambda L: L.t(np.float32(1.5)).scatter_add(0, L.t(0), L.t(np.float32(2.0))))
    ai = _src("int64", (6, 4))
    check(device, lambda L: L.t(ai).scatter_add(0, L.t(idx), L.t(np.ones((3, 3), np.int64))))


@pytest.mark.parametrize("dt", ["float32", "float16", "int64"])
@pytest.mark.parametrize("ishape", [(), (3,), (2, 3), (0,), (2, 0)])
def test_embedding(device, dt, ishape):
    w = _src(dt, (5, 3), seed=9)
    idx = np.random.default_rng(10).integers(0, 5, size=ishape)
    check(device, lambda L: L.nn.functional.embedding(L.t(idx), L.t(w)))
    check(device, lambda L: L.nn.functional.embedding(L.t(idx, "int32"), L.t(w), padding_idx=1))
    check(device, lambda L: L.embedding(L.t(w)[::2], L.t(idx % 3)))


# -- masked_fill -------------------------------------------------------------------------------------
FILL_VALUES = [0, 7, -2.7, 0.5, True, False, 123456789, float("inf")]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("value", FILL_VALUES)
def test_masked_fill_scalar(device, dt, value):
    a = _src(dt, (3, 5), seed=11)
    mask = _src("bool", (3, 5), seed=12)
    check(device, lambda L: L.t(a).masked_fill(L.t(mask), value))
    check(device, lambda L: L.t(a).masked_fill(L.t(mask[0]), value))  # the mask broadcasts


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("vdt", ["float32", "int64", "bool", "float16"])
def test_masked_fill_tensor_value(device, dt, vdt):
    a = _src(dt, (4, 3), seed=13)
    mask = _src("bool", (4, 3), seed=14)
    v = np.asarray(-2.7 if vdt.startswith("float") else 3).astype(vdt)
    check(device, lambda L: L.t(a).masked_fill(L.t(mask), L.t(v)))
    check(device, lambda L: L.t(a).masked_fill(L.t(mask), L.tensor(v)))  # a 0-d cpu value on any device


@pytest.mark.parametrize("dt", DTYPES)
def test_masked_fill_shapes_and_views(device, dt):
    check(device, lambda L: L.t(_src(dt, ())).masked_fill(L.t(True), 1))
    check(device, lambda L: L.t(_src(dt, (0, 3))).masked_fill(L.t(np.zeros((0, 3), bool)), 1))
    check(device, lambda L: L.t(_src(dt, (3,))).masked_fill(L.t(np.ones((2, 3), bool)), 1))  # x broadcasts
    a = _src(dt, (4, 6), seed=15)
    mask = _src("bool", (6, 4), seed=16)
    check(device, lambda L: L.t(a).t().masked_fill(L.t(mask), 5))
    check(device, lambda L: L.t(a)[::2, 1::2].masked_fill(L.t(mask)[:2, :3], 5))

    def inplace(L):
        x = L.t(a)
        x.masked_fill_(L.t(mask).t(), 2)
        return x
    check(device, inplace)


def test_masked_fill_keeps_large_ints_exact(device):
    # issue 12 defect 6: the unmasked 123456789 came back as 123456792 (a float32 detour)
    check(device, lambda L: L.t([123456789, 5]).masked_fill(L.t([False, True]), 0))
    check(device, lambda L: L.t([123456789, 5]).masked_fill(L.t([False, True]), 2.7))
    check(device, lambda L: L.t([123456789, 5], "int32").masked_fill(L.t([False, True]), L.t(2.5)))


# -- x[...] ------------------------------------------------------------------------------------------
KEYS = {
    "int": lambda L: 2, "neg int": lambda L: -1, "slice": lambda L: slice(1, 4),
    "step": lambda L: (slice(None, None, 2), slice(1, None, 3)), "neg bounds": lambda L: (slice(-3, -1), -2),
    "wide bounds": lambda L: slice(-100, 100), "empty slice": lambda L: slice(3, 1),
    "None": lambda L: (None, 1), "Ellipsis": lambda L: (Ellipsis, 1), "None Ellipsis": lambda L: (..., None),
    "list": lambda L: [4, 0, -1, 4], "empty list": lambda L: [], "tensor": lambda L: L.t([[1, -2], [0, 3]]),
    "int32 tensor": lambda L: L.t([3, 1], "int32"), "0-d tensor": lambda L: L.t(2),
    "empty tensor": lambda L: L.t(np.zeros(0, np.int64)), "slice, tensor": lambda L: (slice(None), L.t([5, 1])),
    "step, tensor": lambda L: (slice(None, None, 2), L.t([5, 0])), "int, list": lambda L: (1, [2, 0]),
    "cpu tensor": lambda L: L.tensor([3, 1]), "mask": lambda L: L.t(_src("bool", (5, 6), seed=17)),
    "row mask": lambda L: L.t(_src("bool", (5,), seed=18)), "0-d True": lambda L: L.t(True),
    "0-d False": lambda L: L.t(False), "all False": lambda L: L.t(np.zeros((5, 6), bool)),
    "slice, mask": lambda L: (slice(1, 3), L.t(_src("bool", (6,), seed=19))),
    "bool list": lambda L: [True, False, True, False, True],
    "float list": lambda L: [1.7, -1.2],
    # several tensor indices: broadcast together; their dims replace the indexed ones where those
    # are adjacent, else they come first
    "two tensors": lambda L: (L.t([0, 4, -1]), L.t([5, 0, 2])),
    "two, broadcast": lambda L: (L.t([[0], [4]]), L.t([5, 0, 2])),
    "slice, two": lambda L: (slice(1, 4), L.t([0, 5]), L.t([2, 1])),
    "two apart": lambda L: (L.t([0, 4]), slice(None), L.t([2, 1])),
    "int, two": lambda L: (L.t([1, 3]), 2, L.t([2, 0])),
    "list, tensor": lambda L: ([1, 3], L.t([[2], [0]])),
    "None, two": lambda L: (None, L.t([1, 3]), L.t([2, 0])),
    "mask, index": lambda L: (L.t(_src("bool", (5, 6), seed=30)), L.t(2)),
    "index, mask": lambda L: (L.t([1]), L.t([True, False, True, True, False, False])),
    "cpu and device": lambda L: (L.tensor([0, 4]), L.t([1, 5])),
    "two empty": lambda L: (L.t(np.zeros(0, np.int64)), L.t(np.zeros(0, np.int64))),
}


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("key", sorted(KEYS))
def test_getitem(device, dt, key):
    a = _src(dt, (5, 6, 3), seed=20)
    check(device, lambda L: L.t(a)[KEYS[key](L)])


def test_getitem_uint8_mask():
    # PyTorch's deprecated byte mask (uint8 exists on cpu only)
    with pytest.warns(UserWarning):  # PyTorch's deprecation warning; wgtorch stays silent
        check("cpu", lambda L: L.t(_src("float32", (5, 3)))[L.t([1, 0, 0, 1, 1], "uint8")])


@pytest.mark.parametrize("key", ["list", "tensor", "mask", "step, tensor", "row mask", "two tensors", "two apart"])
def test_getitem_of_a_view(device, key):
    a = _src("float32", (6, 5, 3), seed=21)
    check(device, lambda L: L.t(a).transpose(0, 1)[KEYS[key](L)])


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("key", ["0-d True", "0-d False", "None", "Ellipsis"])
def test_getitem_of_0d(device, dt, key):
    keys = {"0-d True": lambda L: L.t(True), "0-d False": lambda L: L.t(False), "None": lambda L: None,
            "Ellipsis": lambda L: ...}
    check(device, lambda L: L.t(_src(dt, ()))[keys[key](L)])


@pytest.mark.parametrize("dt", DTYPES)
def test_narrow_select_and_chained_views(device, dt):
    a = _src(dt, (5, 6, 3), seed=25)
    check(device, lambda L: L.t(a).narrow(1, -4, 3))
    check(device, lambda L: L.t(a).select(2, -1))
    check(device, lambda L: L.t(a)[1:, ::2][:, L.t([2, 0])][..., 1])
    check(device, lambda L: L.t(a).transpose(0, 2)[::2, None, -1][L.t([True, False])])


# -- x[...] = v --------------------------------------------------------------------------------------
def _assign(a, key, value):
    def fn(L):
        x = L.t(a)
        x[key(L)] = value(L)
        return x
    return fn


ASSIGN = {
    "mask = scalar": (lambda L: L.t(_src("bool", (4, 5), seed=22)), lambda L: 7),
    "mask = float": (lambda L: L.t(_src("bool", (4, 5), seed=22)), lambda L: -2.7),
    "mask = 0-d": (lambda L: L.t(_src("bool", (4, 5), seed=22)), lambda L: L.t(3)),
    "mask = values": (lambda L: L.t(np.eye(4, 5, dtype=bool)), lambda L: L.t([1, 2, 3, 4])),
    "row mask = scalar": (lambda L: L.t([True, False, True, False]), lambda L: 5),
    "row mask = row": (lambda L: L.t([True, False, True, False]), lambda L: L.t([1, 2, 3, 4, 5])),
    "idx = scalar": (lambda L: L.t([3, 0]), lambda L: 9),
    "idx = rows": (lambda L: L.t([3, -4]), lambda L: L.t(np.arange(10).reshape(2, 5))),
    "list = scalar": (lambda L: [1, 2], lambda L: 4),
    "slice, idx = scalar": (lambda L: (slice(None), L.t([4, 1])), lambda L: 8),
    "idx dup = rows": (lambda L: L.t([1, 1, 1]), lambda L: L.t(np.arange(15).reshape(3, 5))),
    "two = scalar": (lambda L: (L.t([0, 3, -1]), L.t([4, 0, 2])), lambda L: 6),
    "two = values": (lambda L: (L.t([0, 3]), L.t([4, 0])), lambda L: L.t([1, 2])),
    "two apart = col": (lambda L: (L.t([[0], [3]]), L.t([4, 0])), lambda L: L.t([[1], [2]])),
    "mask, index = scalar": (lambda L: (L.t([True, False, True, True]), L.t(2)), lambda L: 5),
    "slice, mask = scalar": (lambda L: (slice(1, 3), L.t([True, False, True, False, True])), lambda L: 1),
    "0-d mask = row": (lambda L: (1, L.t(True)), lambda L: L.t(np.arange(5))),
    "empty idx = scalar": (lambda L: L.t(np.zeros(0, np.int64)), lambda L: 3),
    "device index = scalar": (lambda L: L.t([2]), lambda L: -3),
    "slice = scalar": (lambda L: (slice(1, None, 2), slice(None, -1)), lambda L: 2),
    "int, step = row": (lambda L: (-1, slice(None, None, 2)), lambda L: L.t([7, 8, 9])),
}


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("case", sorted(ASSIGN))
def test_setitem(device, dt, case):
    key, value = ASSIGN[case]
    check(device, _assign(_src(dt, (4, 5), seed=23), key, value))


def test_setitem_keeps_large_ints_exact(device):
    check(device, _assign(np.array([123456789, 5]), lambda L: L.t([False, True]), lambda L: 7))
    check(device, _assign(np.array([123456789, 5]), lambda L: L.t([False, True]), lambda L: 2.7))


def test_setitem_through_a_view(device):
    def fn(L):
        base = L.t(_src("int64", (4, 6), seed=24))
        view = base[:, ::2]
        view[view > 0] = 0
        return base
    check(device, fn)


# -- gradients -----------------------------------------------------------------------------------------
def _grads(lib, device, fn, shapes):
    """Gradients of sum(fn(*inputs) * weights) for float32 inputs of ``shapes``."""
    def make(a):
        t = lib.tensor(a, device=device if lib is W else "cpu", requires_grad=True)
        return t
    inputs = [make(_src("float32", s, seed=40 + i)) for i, s in enumerate(shapes)]
    out = fn(_Lib(lib, device if lib is W else "cpu"), *inputs)
    weights = lib.tensor(_src("float32", tuple(out.shape), seed=50), device=device if lib is W else "cpu")
    (out * weights).sum().backward()
    return [t.grad.cpu().numpy() if lib is T else t.grad.numpy() for t in inputs]


GRADS = {
    "index_select": (lambda L, x: x.index_select(1, L.t([2, 0, 2])), [(3, 4)]),
    "gather": (lambda L, x: x.gather(0, L.t([[2, 0, 2, 1], [2, 2, 0, 0]])), [(3, 4)]),
    "scatter_add": (lambda L, x, s: x.scatter_add(0, L.t([[2, 0, 1], [2, 2, 0]]), s), [(3, 4), (2, 3)]),
    "masked_fill": (lambda L, x: x.masked_fill(L.t(_src("bool", (3, 4), seed=41)), 2.0), [(3, 4)]),
    "masked_fill value": (lambda L, x, v: x.masked_fill(L.t(_src("bool", (3, 4), seed=41)), v.sum()),
                          [(3, 4), (2,)]),
    "embedding": (lambda L, w: L.nn.functional.embedding(L.t([[1, 1], [0, 3]]), w), [(4, 3)]),
    "x[idx]": (lambda L, x: x[L.t([2, 2, 0])], [(3, 4)]),
    "x[mask]": (lambda L, x: x[L.t(_src("bool", (3, 4), seed=42))], [(3, 4)]),
    "x[a, b]": (lambda L, x: x[L.t([2, 2, 0]), L.t([1, 1, 3])], [(3, 4)]),
    "x[a, :, b]": (lambda L, x: x[L.t([1, 0]), :, L.t([1, 1])], [(2, 3, 4)]),
    "x[::2, idx]": (lambda L, x: x[::2, L.t([3, 0])], [(5, 4)]),
}


@pytest.mark.parametrize("case", sorted(GRADS))
def test_gradients(device, case):
    fn, shapes = GRADS[case]
    want = _grads(T, device, fn, shapes)
    got = _grads(W, device, fn, shapes)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


SETITEM_GRADS = {
    "x[idx] = v": (lambda L: L.t([2, 0, 2]), (3, 4)),
    "x[mask] = v": (lambda L: L.t(_src("bool", (3, 4), seed=43)), None),
    "x[mask] = 0-d v": (lambda L: L.t(_src("bool", (3, 4), seed=43)), ()),
    "x[a, b] = v": (lambda L: (L.t([2, 0, 2]), L.t([1, 3, 1])), (3,)),
    "x[row mask] = row": (lambda L: L.t([True, False, True]), (4,)),
}


@pytest.mark.parametrize("case", sorted(SETITEM_GRADS))
def test_setitem_gradients(device, case):
    key, vshape = SETITEM_GRADS[case]

    def fn(L, inp, v):
        x = inp * 1  # a non-leaf: PyTorch refuses in-place writes to a leaf that requires grad
        k = key(L)
        if vshape is None:  # as many values as the mask has True entries
            v = v[: int(k.sum())]
        x[k] = v.reshape(vshape) if vshape is not None else v
        return x
    n = int(_src("bool", (3, 4), seed=43).sum())
    shapes = [(3, 4), (n,) if vshape is None else (max(1, int(np.prod(vshape))),)]
    want = _grads(T, device, fn, shapes)
    got = _grads(W, device, fn, shapes)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


# -- seeded random cases: strided sources and indices of random shapes --------------------------------
def _random_view(L, rng, a):
    """``a`` as a tensor, possibly transposed or stepped (a non-contiguous view)."""
    x = L.t(a)
    kind = rng.integers(3)
    if kind == 1 and x.ndim >= 2:
        return x.transpose(0, x.ndim - 1).contiguous().transpose(0, x.ndim - 1)
    if kind == 2:
        return L.t(np.repeat(a, 2, axis=-1))[..., ::2]
    return x


@pytest.mark.parametrize("seed", range(12))
def test_random_gather_scatter_select(device, seed):
    rng = np.random.default_rng(seed)
    ndim = int(rng.integers(1, 4))
    shape = tuple(int(n) for n in rng.integers(1, 6, size=ndim))
    dim = int(rng.integers(ndim))
    dt = DTYPES[seed % len(DTYPES)]
    a = _src(dt, shape, seed=seed)
    ishape = tuple(int(rng.integers(1, n + 1)) if d != dim else int(rng.integers(1, 7)) for d, n in enumerate(shape))
    idx = rng.integers(0, shape[dim], size=ishape)
    sel = rng.integers(0, shape[dim], size=int(rng.integers(0, 8)))
    view_seed = int(rng.integers(1 << 30))
    check(device, lambda L: _random_view(L, np.random.default_rng(view_seed), a).gather(dim, L.t(idx)))
    check(device, lambda L: _random_view(L, np.random.default_rng(view_seed), a).index_select(dim, L.t(sel)))
    # small integers: the sum is exact in any order; bool + bool is logical or
    src = _src("bool", ishape, seed=seed + 1) if dt == "bool" else rng.integers(-3, 4, size=ishape).astype(dt)
    check(device, lambda L: _random_view(L, np.random.default_rng(view_seed), a).scatter_add(
        dim, L.t(idx), _random_view(L, np.random.default_rng(view_seed + 1), src)))
