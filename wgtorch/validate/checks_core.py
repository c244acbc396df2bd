"""Checks of the elementwise and reduce kernel families (``elementwise.wgsl``, ``reduce.wgsl``).

Every op of the op registry (`wgtorch/ops/elementwise_defs.py`) is checked (so a new op is checked
as soon as it is declared) on special values (zeros, ±1, ±inf, NaN ...; all pairs for binary
ops), random inputs, sizes around the workgroup size, zero-size and 0-d arrays, transposed and step-sliced views,
broadcasting, scalar operands, int32 and bool where its declaration computes in them, and
float16 where the adapter has it; ``add`` also runs once past 65,535 workgroups.
"""

from __future__ import annotations

import zlib

import numpy as np

from .._backends.protocol import REDUCTIONS
from .._dtype import bool_, float16, float32, float64, from_numpy_dtype, int32
from ..ops.elementwise_defs import OPS, PREDICATES
from .core import Case, Kernel, put

NAN, INF = float("nan"), float("inf")
SPECIAL_F = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.7, -3.7, 10.0, -10.0, 88.0, -88.0,
                      1e-30, INF, -INF, NAN], np.float32)
SPECIAL_I = np.array([0, 1, -1, 2, -2, 3, -3, 7, -7, 100, -100, 2**31 - 1, -(2**31)], np.int32)
SIZES = (1, 63, 64, 65)
LARGE_N = 65535 * 64 + 129     # one more workgroup than a 1-D grid of 64-wide groups allows

# Values for the scalar parameters of the ops that declare some (softplus's beta ...).
SCALAR_PARAMS = {"softplus": (1.0, 20.0), "leaky_relu": (0.01,), "elu": (1.0,), "hardtanh": (-1.0, 1.0),
                 "celu": (1.0,), "hardshrink": (0.5,), "softshrink": (0.5,), "threshold": (0.1, 20.0)}
# Ops the front end computes in integers (or bools) for integer (or bool) tensors, by their
# declarations; the rest lift to float or refuse.
INT_OPS = {name for name, op in OPS.items() if "i" in op.accepts and op.result != "float"}
BOOL_OPS = {name for name, op in OPS.items()
            if "b" in op.accepts and op.result != "float" and op.promote is None}
# Transcendental functions: the WGSL spec allows a few ulps more than NumPy's libm.
LOOSE = {"exp", "log", "sin", "cos", "tanh", "sigmoid", "gelu", "gelu_tanh", "erf", "silu", "log1p",
         "expm1", "softplus", "elu", "pow", "atan2", "rsqrt", "sqrt", "remainder", "floor_divide"}
F16_OPS = ("copy", "add", "mul", "exp", "relu", "maximum")
# float64 kernels (shader-f64), against the NumPy backend in float64: the prelude's f64 functions.
F64_OPS = ("copy", "add", "mul", "div", "exp", "log", "log1p", "sin", "cos", "tanh", "sqrt", "pow", "atan2",
           "fmod", "maximum")


def _rng(seed: int = 0):
    return np.random.default_rng(seed)


def _tensor_arity(op: str) -> int:
    return OPS[op].tensor_arity


def _random_f(op: str, k: int, shape, rng) -> np.ndarray:
    """Random float operand ``k`` of ``op`` inside the op's useful domain."""
    if op in ("log", "sqrt", "rsqrt", "log1p", "log2", "log10", "acosh") or (op == "pow" and k == 0):
        return rng.uniform(0.05, 8.0, shape).astype(np.float32)
    if op in ("div", "floor_divide", "remainder", "fmod", "atan2") and k == 1:
        return (rng.uniform(0.5, 4.0, shape) * rng.choice([-1, 1], shape)).astype(np.float32)
    if op == "pow" and k == 1:
        return rng.uniform(-3.0, 3.0, shape).astype(np.float32)
    return rng.uniform(-4.0, 4.0, shape).astype(np.float32)


def _random_i(op: str, k: int, shape, rng) -> np.ndarray:
    if op in ("floor_divide", "remainder", "fmod") and k == 1:
        return (rng.integers(1, 9, shape) * rng.choice([-1, 1], shape)).astype(np.int32)
    if op == "pow":
        return (rng.integers(0, 4, shape) if k else rng.integers(-9, 10, shape)).astype(np.int32)
    return rng.integers(-50, 51, shape).astype(np.int32)


def _grid(values, arity: int) -> list[np.ndarray]:
    """All combinations of ``values`` (one array, or one per operand) for ``arity`` operands."""
    per_operand = values if isinstance(values, (list, tuple)) else [values] * arity
    grids = np.meshgrid(*per_operand, indexing="ij")
    return [g.reshape(-1) for g in grids]


def _int_special(op: str):
    """Integer special values, leaving out what is undefined (PyTorch raises, NumPy warns):
    division by zero, INT_MIN // -1, negative or huge integer powers."""
    if op in ("floor_divide", "remainder", "fmod"):
        numerators = SPECIAL_I[SPECIAL_I != -(2**31)]
        return [numerators, numerators[numerators != 0]]
    if op == "pow":
        return [np.array([0, 1, -1, 2, -2, 3, -3, 7, -7, 100], np.int32), np.array([0, 1, 2, 3], np.int32)]
    return SPECIAL_I


def _elementwise_case(label, op, hosts, compute, out_dt, views=None, rtol=1e-5, atol=1e-6, large=False):
    """``hosts``: one NumPy array (uploaded as its dtype) or Python scalar per operand;
    ``views``: an optional function (be, array) -> view applied to every array operand."""

    def make(be):
        operands = []
        for h in hosts:
            if isinstance(h, np.ndarray):
                a = put(be, h, from_numpy_dtype(h.dtype))
                operands.append(views(be, a) if views else a)
            else:
                operands.append(h)
        return lambda: be.elementwise(op, operands, compute, out_dt)
    return Case(label, make, rtol, atol, large)


def _transpose(be, a):
    return be.permute(a, (1, 0))


def _step3(be, a):
    return be.getitem(a, (slice(0, a.shape[0], 3),))


def _op_cases(op: str, compute, special, random, tol) -> list[Case]:
    arity = _tensor_arity(op)
    params = SCALAR_PARAMS.get(op, ())
    out_dt = bool_ if op in PREDICATES else compute
    rng = _rng(zlib.crc32(op.encode()))
    cases: list[Case] = []

    def add(label, arrays, **kw):
        hosts = list(arrays) + list(params)
        if op == "where":  # the condition is bool
            hosts[0] = hosts[0] != 0 if hosts[0].dtype != np.bool_ else hosts[0]
        cases.append(_elementwise_case(f"{compute.name} {label}", op, hosts, compute, out_dt, rtol=tol[0],
                                       atol=tol[1], **kw))

    add("special values", _grid(special, arity))
    add("random n=1000", [random(op, k, (1000,), rng) for k in range(arity)])
    for n in SIZES:
        add(f"n={n}", [random(op, k, (n,), rng) for k in range(arity)])
    add("0 elements", [random(op, k, (0,), rng) for k in range(arity)])
    add("0-d", [random(op, k, (), rng) for k in range(arity)])
    add("transposed 37×29", [random(op, k, (29, 37), rng) for k in range(arity)], views=_transpose)
    add("step-sliced [::3]", [random(op, k, (301,), rng) for k in range(arity)], views=_step3)
    if arity >= 2:
        shapes = [(37, 1)] + [(29,)] * (arity - 1)
        add("broadcast (37,1)·(29,)", [random(op, k, s, rng) for k, s in enumerate(shapes)])
        scalar = 3 if compute is int32 else 1.75
        arrays = [random(op, k, (257,), rng) for k in range(arity)]
        if op != "where":
            cases.append(_elementwise_case(f"{compute.name} scalar operand", op,
                                           [arrays[0], scalar, *arrays[2:], *params], compute, out_dt,
                                           rtol=tol[0], atol=tol[1]))
    return cases


def elementwise_kernels() -> list[Kernel]:
    kernels = []
    for op in OPS:
        tol = (1e-4, 1e-5) if op in LOOSE else (1e-5, 1e-6)
        cases = _op_cases(op, float32, SPECIAL_F, _random_f, tol) if "f" in OPS[op].accepts else []
        if op in INT_OPS:
            cases += _op_cases(op, int32, _int_special(op), _random_i, (0, 0))
        if op in BOOL_OPS:
            arity = _tensor_arity(op)
            special_b = np.array([False, True])
            cases.append(_elementwise_case("bool all pairs", op, _grid(special_b, arity), bool_,
                                           bool_))
        if op == "add":
            rng = _rng(7)
            cases.append(_elementwise_case(f"float32 n={LARGE_N} (past 65,535 workgroups)", op,
                                           [rng.standard_normal(LARGE_N).astype(np.float32), 0.5],
                                           float32, float32, large=True))
        kernels.append(Kernel("elementwise", op, cases, timed=1))
    for op in F16_OPS:
        arity = _tensor_arity(op)
        rng = _rng(3)
        hosts = [rng.uniform(-4, 4, 1000).astype(np.float16) for _ in range(arity)]
        special = _grid(SPECIAL_F.astype(np.float16), arity)
        tol = {"rtol": 2e-3, "atol": 1e-3}
        cases = [_elementwise_case("float16 special values", op, special, float16, float16, **tol),
                 _elementwise_case("float16 random n=1000", op, hosts, float16, float16, **tol)]
        kernels.append(Kernel("elementwise", f"{op} (float16)", cases, requires="shader-f16"))
    for op in F64_OPS:  # (float64 tolerances: a float32 computation misses them by 1e8)
        # (pow is exp(y log x) in f64: its error grows as |y ln x| ulp, 4e-14 at 88**88)
        tol = (1e-13, 1e-300) if op == "pow" else (2e-14, 1e-300)
        cases = _op_cases(op, float64, SPECIAL_F.astype(np.float64) * (1 + 2.0**-40), _random_f64, tol)
        kernels.append(Kernel("elementwise", f"{op} (float64)", cases, requires="shader-f64"))
    return kernels


def _random_f64(op: str, k: int, shape, rng) -> np.ndarray:
    """`_random_f`'s domains in float64, with digits past float32's."""
    return np.asarray(_random_f(op, k, shape, rng).astype(np.float64) * (1 + rng.uniform(-1e-9, 1e-9, shape)))


# -- reduce ------------------------------------------------------------------------------------
def _sum_tolerance(x: np.ndarray, dims) -> float:
    """Float32 sums in another order differ by up to ~n·eps·Σ|x|; allow 16 eps·Σ|x|."""
    if x.size == 0:
        return 1e-6
    return float(16 * np.finfo(np.float32).eps * np.abs(x.astype(np.float64)).sum(axis=dims).max()) + 1e-6


def _reduce_case(label, op, host, dims, keepdim=False, view=None, dt=None, rtol=1e-5, atol=None, large=False):
    dt = dt or {np.float32: float32, np.int32: int32, np.bool_: bool_, np.float16: float16}[host.dtype.type]
    if atol is None:
        atol = _sum_tolerance(host, dims) if op in ("sum", "prod") and dt is float32 else 1e-6

    def make(be):
        a = put(be, host, dt)
        if view:
            a = view(be, a)
        return lambda: be.reduce(op, a, dims, keepdim)
    return Case(f"{dt.name} {label}", make, rtol, atol, large)


def _special_rows() -> np.ndarray:
    rows = _rng(5).uniform(-3, 3, (5, 7)).astype(np.float32)
    rows[1, 3] = NAN
    rows[2, 0] = INF
    rows[3, :] = -INF
    rows[4, 2] = -INF
    return rows


def reduce_kernels() -> list[Kernel]:
    rng = _rng(11)
    kernels = []
    for op in REDUCTIONS:
        value_op = op in ("sum", "prod")
        lo, hi = (0.9, 1.1) if op == "prod" else (-3, 3)

        def f(*shape, lo=lo, hi=hi):
            return rng.uniform(lo, hi, shape).astype(np.float32)

        cases = [
            _reduce_case("n=1000 all", op, f(1000), (0,)),
            _reduce_case("37×29 dim 0", op, f(37, 29), (0,)),
            _reduce_case("37×29 dim 1", op, f(37, 29), (1,)),
            _reduce_case("37×29 transposed view, dim 1", op, f(29, 37), (1,), view=_transpose),
            _reduce_case("301 step-sliced [::3]", op, f(301), (0,), view=_step3),
            _reduce_case("special values (NaN, ±inf rows), dim 1", op, _special_rows(), (1,)),
            _reduce_case("short rows 5000×3, dim 1", op, f(5000, 3), (1,)),
            _reduce_case("long rows 3×5000, dim 1", op, f(3, 5000), (1,)),
            _reduce_case("int32 ties, dim 1", op, rng.integers(0, 4, (33, 17)).astype(np.int32), (1,)),
        ]
        cases += [_reduce_case(f"n={n}", op, f(n), (0,)) for n in (*SIZES, 4097)]
        if value_op:  # argmax/amax of several dims or keepdim are front-end compositions
            cases += [_reduce_case("37×29 all dims, keepdim", op, f(37, 29), (0, 1), keepdim=True),
                      _reduce_case("5×7×11 dims (0, 2)", op, f(5, 7, 11), (0, 2)),
                      _reduce_case("0 elements", op, f(0), (0,)),
                      _reduce_case("3×0 dim 1", op, f(3, 0), (1,))]
        else:
            cases += [_reduce_case("37×29 dim 1 keepdim", op, f(37, 29), (1,), keepdim=True),
                      _reduce_case("5×7×11 dim 1", op, f(5, 7, 11), (1,))]
        if op in ("amax", "amin"):
            cases.append(_reduce_case("bool dim 1", op, rng.integers(0, 2, (9, 13)).astype(bool), (1,)))
        if op == "sum":
            cases.append(_reduce_case(f"n={LARGE_N} (past 65,535 workgroups)", op,
                                      rng.uniform(-1, 1, LARGE_N).astype(np.float32), (0,), large=True))
        kernels.append(Kernel("reduce", op, cases, timed=1))
        if op in ("sum", "amax"):
            kernels.append(Kernel("reduce", f"{op} (float16)", [
                _reduce_case("37×29 dim 1", op, f(37, 29).astype(np.float16), (1,), rtol=2e-3, atol=1e-2)],
                requires="shader-f16"))
    kernels += _softmax_kernels()
    return kernels


def _softmax_case(label, host, dim, log, view=None, dt=float32, rtol=1e-5, atol=1e-6):
    def make(be):
        a = put(be, host, dt)
        if view:
            a = view(be, a)
        return lambda: be.softmax(a, dim, log)
    return Case(f"{dt.name} {label}", make, rtol, atol)


def _softmax_kernels() -> list[Kernel]:
    rng = _rng(13)

    def f(*shape):
        return rng.uniform(-5, 5, shape).astype(np.float32)

    kernels = []
    for log in (False, True):
        tol = (1e-5, 1e-5) if log else (1e-5, 1e-6)
        cases = [
            _softmax_case("37×29 dim 1", f(37, 29), 1, log, rtol=tol[0], atol=tol[1]),
            _softmax_case("37×29 dim 0", f(37, 29), 0, log, rtol=tol[0], atol=tol[1]),
            _softmax_case("5×7×11 dim 1", f(5, 7, 11), 1, log, rtol=tol[0], atol=tol[1]),
            _softmax_case("transposed 29×37ᵀ dim 1", f(29, 37), 1, log, view=_transpose, rtol=tol[0],
                          atol=tol[1]),
            _softmax_case("special values (NaN, ±inf rows)", _special_rows(), 1, log, rtol=tol[0],
                          atol=tol[1]),
            _softmax_case("short rows 5000×3", f(5000, 3), 1, log, rtol=tol[0], atol=tol[1]),
            _softmax_case("long rows 3×5000", f(3, 5000), 1, log, rtol=1e-4, atol=1e-5),
            _softmax_case("rows of 1", f(7, 1), 1, log),
            _softmax_case("0×5", f(0, 5), 1, log),
        ]
        cases += [_softmax_case(f"1×{n}", f(1, n), 1, log, rtol=tol[0], atol=tol[1]) for n in SIZES]
        name = "log_softmax" if log else "softmax"
        kernels.append(Kernel("reduce", name, cases, timed=0))
        kernels.append(Kernel("reduce", f"{name} (float16)", [
            _softmax_case("37×29 dim 1", f(37, 29).astype(np.float16), 1, log, dt=float16, rtol=5e-3,
                          atol=5e-3)],
            requires="shader-f16"))
    return kernels


__all__ = ["elementwise_kernels", "reduce_kernels"]
