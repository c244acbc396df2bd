"""The last reliability defects of issue 12, each checked against PyTorch 2.13 (cpu): prod's two
call forms, softmax of empty integer tensors, and gradient edge cases (hardshrink at NaN, var of a
0-d tensor, a float16 quotient's gradient through expand, logaddexp2 at +-inf)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import wgtorch


def _outcome(fn):
    try:
        r = fn()
    except Exception as e:  # noqa: BLE001  (the type is what is compared)
        return type(e)
    return (tuple(r.shape), str(r.dtype).split(".")[-1], r.detach().cpu().double().numpy().tolist())


PROD_FORMS = [  # (args, kwargs); the lib's float64 dtype is put in for "f64"
    ((), {}), ((0,), {}), ((-1,), {"keepdim": True}), ((1, True), {}), ((), {"dtype": "f64"}),
    ((0,), {"dtype": "f64"}), ((), {"dim": None}), ((), {"dim": None, "keepdim": True}),
    ((), {"dim": None, "dtype": "f64"}), ((None,), {}), (((0, 1),), {}), ((), {"dim": (0,)}), ((), {"dim": [0]}),
    ((), {"dim": ()}), ((), {"keepdim": True}), ((), {"keepdim": False}), ((True,), {}), ((1.0,), {}),
    ((0,), {"keepdim": None}), ((5,), {}), ((np.int64(1),), {}),
]


@pytest.mark.parametrize("form", range(len(PROD_FORMS)))
@pytest.mark.parametrize("method", [False, True])
def test_prod_accepts_pytorchs_forms_only(device, form, method):
    args, kwargs = PROD_FORMS[form]

    def run(lib, dev):
        x = lib.tensor([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], device=dev)
        kw = {k: (lib.float64 if v == "f64" else v) for k, v in kwargs.items()}
        return (lambda: x.prod(*args, **kw)) if method else (lambda: lib.prod(x, *args, **kw))

    assert _outcome(run(wgtorch, device)) == _outcome(run(torch, "cpu"))


# -- softmax / log_softmax of integer and bool tensors ------------------------------------------
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool", "float32", "float16"])
@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 3), (3,), ()])
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("with_dtype", [False, True])
def test_softmax_of_int_and_bool_tensors(device, dtype, shape, fn, with_dtype):
    # PyTorch: an empty one comes back empty in its own dtype (no kernel runs); a non-empty one
    # raises NotImplementedError; dtype= casts first
    def run(lib, dev):
        x = lib.zeros(shape, dtype=getattr(lib, dtype), device=dev)
        kw = {"dtype": lib.float32} if with_dtype else {}
        return lambda: getattr(lib, fn)(x, -1, **kw)

    assert _outcome(run(wgtorch, device)) == _outcome(run(torch, "cpu"))


def test_softmax_empty_int_keeps_checking_the_dim(device):
    with pytest.raises(IndexError):
        torch.softmax(torch.zeros(0, dtype=torch.int64), 1)
    with pytest.raises(IndexError):
        wgtorch.softmax(wgtorch.zeros(0, dtype=wgtorch.int64, device=device), 1)


# -- gradients at the edges ---------------------------------------------------------------------
def _grads(lib, device, fn, *vals, dtype="float32"):
    ts = [lib.tensor(v, dtype=getattr(lib, dtype), device=device, requires_grad=True) for v in vals]
    y = fn(lib, *ts)
    y.backward(lib.ones_like(y))
    return [t.grad.detach().cpu().double().numpy() for t in ts]


def _same(got, ref):
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)  # (NaN positions must match too)


INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_logaddexp2_grad_with_infinite_sides(device, dtype):
    a = [INF, -INF, INF, -INF, 1.0, INF, NAN, 3.0]
    b = [INF, -INF, -INF, INF, INF, 1.0, 1.0, -2.0]
    ref = _grads(torch, "cpu", lambda L, x, y: L.logaddexp2(x, y), a, b, dtype=dtype)
    _same(_grads(wgtorch, device, lambda L, x, y: L.logaddexp2(x, y), a, b, dtype=dtype), ref)
    assert ref[0][2] == 1.0 and ref[1][2] == 0.0  # finite where one side is inf and the other not


VAR_CASES = [(-INF, 1), (NAN, 1), (3.0, 1), (INF, 2), ([1.0, 2.0], 2), ([1.0, 2.0], 3), ([NAN, 1.0], 2),
             ([INF, -INF], 2), ([INF, INF], 2), ([-INF, 1.0], 2), ([1e38, -1e38, 3e38], 3), ([0.0, 0.0, 1.0], 4)]


@pytest.mark.parametrize("case", VAR_CASES, ids=str)
@pytest.mark.parametrize("fn", ["var", "std"])
def test_var_grad_without_degrees_of_freedom(device, case, fn):
    # over all dims with N - correction <= 0, PyTorch's gradient is NaN where x == mean (so at an
    # infinite x whose mean is that infinity), else inf (a NaN mean included)
    v, c = case
    f = lambda L, x: getattr(x, fn)(correction=c)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (PyTorch warns of the degrees of freedom)
        _same(_grads(wgtorch, device, f, v), _grads(torch, "cpu", f, v))


def test_float16_div_grad_through_expand_rounds_as_pytorch(device):
    # fuzz 16:5204: other's gradient is -g * ((a / b) / b) in float16, each step rounded
    rng = np.random.default_rng(5204)
    a = rng.integers(-3, 4, (4, 65)).astype(np.int32)
    b = rng.uniform(-5, 5, (1, 65)).astype(np.float16)
    b[0, :8] = [0.0882, -0.04208, 0.011086, 1.493, 4.805, -1.483, 0.3193, 7.0]

    def run(lib, dev):
        bb = lib.tensor(b, device=dev, requires_grad=True)
        y = lib.div(lib.tensor(a, device=dev), bb.expand(4, 65))
        y.backward(lib.tensor(rng_g, device=dev))
        return bb.grad.cpu().double().numpy()

    rng_g = np.random.default_rng(1).uniform(-1, 1, (4, 65)).astype(np.float16)
    np.testing.assert_array_equal(run(wgtorch, device), run(torch, "cpu"))
