"""The last reliability defects of issue 12, each checked against PyTorch 2.13 (cpu): prod's two
call forms, softmax of empty integer tensors, and gradient edge cases (hardshrink at NaN, var of a
0-d tensor, a float16 quotient's gradient through expand, logaddexp2 at +-inf)."""

from __future__ import annotations

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
