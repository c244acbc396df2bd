"""Every op of the registry (`wgtorch/ops/elementwise_defs.py`) against PyTorch, on cpu and wgpu.

The cases come from the declarations: each op in every input dtype (values or PyTorch's exception
type), with broadcasting, Python scalars, NaN/Inf and gradients; then the registry's own
consistency (what the generated methods and functions are, what each op saves), and a run of every
op in every dtype on wgpu in a subprocess (no input may abort the interpreter).
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial

import numpy as np
import pytest

import wgtorch
from tests.helpers import torch_gelu_overflow_as_got
from wgtorch.ops.elementwise_defs import OPS
from wgtorch.ops.pointwise import pointwise

torch = pytest.importorskip("torch", reason="PyTorch (the dev extra's CPU wheel) is the oracle here")
F = torch.nn.functional

DTYPES = ["bool", "int32", "int64", "float16", "float32"]
# How PyTorch spells the ops whose names differ; None: no PyTorch counterpart (tested elsewhere).
TORCH_OP = {
    "copy": None,
    "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu,
    "softplus": F.softplus, "leaky_relu": F.leaky_relu, "elu": F.elu,
}
PARAMS = {"softplus": (1.5, 2.0), "leaky_relu": (0.1,), "elu": (0.7,), "hardtanh": (-0.5, 2.0), "celu": (0.7,),
          "hardshrink": (0.5,), "softshrink": (0.5,), "threshold": (0.5, 2.0)}
FLOATS = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 7.25, -9.5, 1e-3, np.inf, -np.inf, np.nan], np.float32)
INTS = np.array([0, 1, -1, 2, -3, 5, 7, -8, 11, 100, -100, 3, 2], np.int64)
BOOLS = np.array([True, False, True, True, False, False, True, False, True, True, False, True, False])


def _torch_fn(op):
    fn = TORCH_OP.get(op, getattr(torch, op, None) or getattr(F, op, None))
    if op not in TORCH_OP and fn is None:
        raise AssertionError(f"no PyTorch counterpart known for {op}: add it to TORCH_OP")
    return fn


def _values(dt: str, k: int) -> np.ndarray:
    base = {"bool": BOOLS, "float16": FLOATS, "float32": FLOATS}.get(dt, INTS)
    return np.roll(base, 3 * k).astype(dt)  # operands differ from each other


def _operands(op, dt):
    spec = OPS[op]
    hosts = [_values(dt, k) for k in range(spec.tensor_arity)]
    if op == "where":
        hosts[0] = hosts[0].astype(bool)
    if op in ("floor_divide", "remainder", "fmod") and dt in ("int32", "int64"):
        hosts[1][hosts[1] == 0] = 3  # integer division by zero raises (tested on its own)
    if op == "pow" and dt in ("int32", "int64"):
        hosts[1] = np.abs(hosts[1]) % 5
    return hosts, PARAMS.get(op, ())


def _run(fn, arrays, params, make):
    try:
        return fn(*[make(a) for a in arrays], *params), None
    except Exception as e:  # noqa: BLE001  (the type is what is compared)
        return None, e


def _compare(got, want, dt, op):
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], f"{op}: dtype"
    assert tuple(got.shape) == tuple(want.shape), f"{op}: shape"
    g = got.cpu().numpy().astype(np.float64) if got.dtype is not wgtorch.bool else got.cpu().numpy()
    w = want.numpy().astype(np.float64) if want.dtype is not torch.bool else want.numpy()
    if w.dtype == bool:
        np.testing.assert_array_equal(g, w, err_msg=op)
        return
    tol = {"float16": 2e-3, "float32": 3e-5}.get(str(want.dtype).split(".")[-1], 0)
    np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True, err_msg=op)


CASES = [(op, dt) for op in OPS if TORCH_OP.get(op, True) is not None for dt in DTYPES]


@pytest.mark.parametrize("op,dt", CASES, ids=[f"{op}-{dt}" for op, dt in CASES])
def test_op_in_every_dtype_matches_pytorch(device, op, dt):
    arrays, params = _operands(op, dt)
    want, want_err = _run(_torch_fn(op), arrays, params, torch.tensor)
    got, got_err = _run(lambda *a: pointwise(op, *a), arrays, params,
                        lambda a: wgtorch.tensor(a, device=device))
    if want_err is not None:
        assert got_err is not None, f"{op}({dt}): PyTorch raises {want_err!r}, wgtorch returns {got}"
        assert type(got_err) is type(want_err), f"{op}({dt}): {got_err!r} vs PyTorch's {want_err!r}"
        return
    assert got_err is None, f"{op}({dt}) raised {got_err!r}; PyTorch gives {want}"
    if op == "gelu" and dt == "float32":
        want = torch_gelu_overflow_as_got(want, got)
    _compare(got, want, dt, op)



BINARY = [op for op, spec in OPS.items() if spec.tensor_arity == 2 and "f" in spec.accepts and op in dir(torch)]


@pytest.mark.parametrize("op", BINARY)
def test_binary_broadcasting_and_scalars(device, op):
    rng = np.random.default_rng(len(op))
    a = rng.uniform(0.5, 4, (3, 1, 5)).astype(np.float32)
    b = rng.uniform(0.5, 4, (4, 1)).astype(np.float32)
    fn = _torch_fn(op)
    _compare(pointwise(op, wgtorch.tensor(a, device=device), wgtorch.tensor(b, device=device)),
             fn(torch.tensor(a), torch.tensor(b)), "float32", op)
    for scalar in (2, 1.5, True):
        want, want_err = _run(fn, [a], (scalar,), torch.tensor)
        if isinstance(want_err, TypeError):
            continue  # PyTorch takes only tensors here (maximum, atan2 ...); wgtorch also takes numbers
        got, got_err = _run(partial(pointwise, op), [a], (scalar,), partial(wgtorch.tensor, device=device))
        assert type(got_err) is type(want_err), f"{op}(float, {scalar!r}): {got_err!r} / {want_err!r}"
        if want_err is None:
            _compare(got, want, "float32", op)
        ints = np.array([1, 2, 3])
        want, want_err = _run(fn, [ints], (scalar,), torch.tensor)
        got, got_err = _run(partial(pointwise, op), [ints], (scalar,), partial(wgtorch.tensor, device=device))
        assert type(got_err) is type(want_err), f"{op}(int, {scalar!r}): {got_err!r} / {want_err!r}"
        if want_err is None:
            _compare(got, want, "int64", op)


def _grad_inputs(op, k, rng, shape):
    if op in ("log", "sqrt", "rsqrt", "log1p", "log2", "log10") or (op == "pow" and k == 0):
        return rng.uniform(0.3, 3, shape)
    if op in ("asin", "acos", "atanh"):
        return rng.uniform(-0.9, 0.9, shape)
    if op == "acosh":
        return rng.uniform(1.2, 4, shape)
    return rng.uniform(-3, 3, shape)


GRAD_OPS = [op for op, spec in OPS.items() if spec.differentiable and TORCH_OP.get(op, True) is not None]


@pytest.mark.parametrize("op", GRAD_OPS)
def test_gradients_match_pytorch(device, op):
    spec = OPS[op]
    rng = np.random.default_rng(7 + len(op))
    shapes = [(4, 5)] + [(5,)] * (spec.tensor_arity - 1)  # broadcast: gradients summed back
    hosts = [_grad_inputs(op, k, rng, s).astype(np.float32) for k, s in enumerate(shapes)]
    if op == "where":
        hosts[0] = hosts[0] > 0
    if op in ("maximum", "minimum", "clamp"):
        hosts[1][:2] = hosts[0][0, :2]  # ties: PyTorch's tie rules
    if op == "clamp":
        hosts[1], hosts[2] = np.minimum(hosts[1], hosts[2]), np.maximum(hosts[1], hosts[2])
        hosts[2][4] = hosts[1][4] - 1  # crossed bounds
    upstream = rng.uniform(-1, 1, (4, 5)).astype(np.float32)
    params = PARAMS.get(op, ())

    def run(lib, make):
        leaves = [make(h) for h in hosts]
        for t in leaves:
            if t.dtype in (torch.float32, wgtorch.float32):
                t.requires_grad_(True)
        try:
            y = (_torch_fn(op)(*leaves, *params) if lib is torch else pointwise(op, *leaves, *params))
            assert y.requires_grad
            y.backward(make(upstream))
        except RuntimeError as e:
            return None, e
        return [t.grad for t in leaves], None

    want, want_err = run(torch, torch.tensor)
    got, got_err = run(wgtorch, lambda h: wgtorch.tensor(h, device=device))
    if want_err is not None:
        assert type(got_err) is type(want_err), f"{op} backward: {got_err!r} vs PyTorch's {want_err!r}"
        return
    assert got_err is None, got_err
    for g, w in zip(got, want):
        if w is None:
            assert g is None
            continue
        np.testing.assert_allclose(g.cpu().numpy(), w.numpy(), rtol=1e-4, atol=1e-5, equal_nan=True, err_msg=op)


@pytest.mark.parametrize("op", ["abs", "relu", "sign"])
def test_gradient_at_nan_and_zero(device, op):
    h = np.array([np.nan, 0.0, -1.0, 2.0], np.float32)
    x, t = wgtorch.tensor(h, device=device, requires_grad=True), torch.tensor(h, requires_grad=True)
    getattr(x, op)().sum().backward()
    getattr(t, op)().sum().backward()
    np.testing.assert_array_equal(x.grad.cpu().numpy(), t.grad.numpy())


def test_integer_errors_match_pytorch(device):
    x = wgtorch.tensor([7, -7], device=device)
    for fn in (lambda v: v // 0, lambda v: v % 0, lambda v: v ** -1):
        with pytest.raises(RuntimeError):
            fn(x)
    for op in ("floor_divide", "remainder", "fmod"):  # on wgpu reported at the next read, as device errors are
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            pointwise(op, x, wgtorch.tensor([1, 0], device=device)).tolist()
    assert (x + 1).tolist() == [8, -6]  # the device works afterwards
    assert (x ** 9).tolist() == [40353607, -40353607]
    assert wgtorch.tensor([123456789, 5], device=device).pow(1).tolist() == [123456789, 5]


def test_float_scalars_into_bool_tensors(device):
    assert wgtorch.full((2,), 0.5, dtype=wgtorch.bool, device=device).tolist() == [True, True]
    assert wgtorch.zeros(2, dtype=wgtorch.bool, device=device).fill_(0.5).tolist() == [True, True]
    assert wgtorch.zeros(2, dtype=wgtorch.bool, device=device).fill_(float("nan")).tolist() == [True, True]


# -- the registry itself --------------------------------------------------------------------------
def test_generated_methods_functions_and_inplace_variants():
    hand_written = {"add", "sub", "div", "divide"}  # add/sub take alpha, div/divide rounding_mode
    for name, spec in OPS.items():
        assert (getattr(wgtorch.Tensor, name, None) is not None) or not spec.method, name
        if spec.method and name not in hand_written:
            assert getattr(wgtorch.Tensor, name).__doc__ == spec.doc
        if spec.function:
            for alias in {name, *spec.aliases} - hand_written:
                assert getattr(wgtorch, alias).__doc__ == spec.doc, alias
        if spec.inplace:
            assert callable(getattr(wgtorch.Tensor, f"{name}_")), name
    x = wgtorch.tensor([1.5, -2.5])
    assert x.clone().floor_().tolist() == [1.0, -3.0] and x.clone().neg_().tolist() == [-1.5, 2.5]


def test_what_each_op_saves_is_read_off_its_gradient():
    assert OPS["add"].saves == () and not OPS["add"].uses_output
    assert OPS["mul"].saves == (0, 1)
    assert OPS["exp"].saves == () and OPS["exp"].uses_output
    assert OPS["where"].saves == (0,)
    assert OPS["sin"].saves == (0,) and not OPS["sin"].uses_output


def test_every_accepted_dtype_has_a_wgsl_expression():
    for name, spec in OPS.items():
        if "f" in spec.accepts:
            assert spec.wgsl, name
        if ("i" in spec.accepts or "b" in spec.accepts) and spec.result != "float":
            assert spec.wgsl_int, name


def test_no_op_and_dtype_aborts_the_interpreter(wgpu_device):
    """Every op in every dtype on wgpu, in a child process: a shader-compiler panic would abort it."""
    script = """
import wgtorch
from wgtorch.ops.elementwise_defs import OPS
from wgtorch.ops.pointwise import pointwise
for dt in (wgtorch.bool, wgtorch.int32, wgtorch.int64, wgtorch.float16, wgtorch.float32):
    x = wgtorch.ones(5, dtype=dt, device="wgpu")
    for name, spec in OPS.items():
        args = [x] * spec.tensor_arity + [1.0] * len(spec.params)
        try:
            pointwise(name, *args).cpu()
        except (RuntimeError, TypeError, NotImplementedError):
            pass
print("survived")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "survived" in r.stdout, r.stderr[-2000:]
