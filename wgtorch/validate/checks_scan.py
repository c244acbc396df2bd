"""Validator checks of the ``scan`` family (cumsum, cumprod, cummax/cummin, logcumsumexp): each op
over row lengths around the workgroup block and past it, strided views, NaN/Inf, int and bool
dtypes, and rows past 65,535 workgroups, against the NumPy reference."""

from __future__ import annotations

import numpy as np

from .._dtype import bool_, float16, float32, int32, int64
from .core import Case, Kernel, put

NAN, INF = float("nan"), float("inf")
OPS = ("sum", "prod", "max", "min", "logsumexp")
LENGTHS = (1, 63, 64, 65, 255, 256, 257, 1000, 5000)


def _case(label, op, host, dim, out_dt=None, view=None, rtol=1e-5, atol=1e-5, large=False):
    dt = {np.float32: float32, np.int32: int32, np.bool_: bool_, np.float16: float16}[host.dtype.type]
    out_dt = out_dt or dt

    def make(be):
        a = put(be, host, dt)
        if view:
            a = view(be, a)
        return lambda: be.scan(op, a, dim, out_dt)

    return Case(f"{dt.name} {label}", make, rtol, atol, large)


def _values(op, rng, shape):
    if op == "prod":
        return (1 + 0.01 * rng.uniform(-1, 1, shape)).astype(np.float32)
    if op in ("max", "min"):  # ties decide the indices
        return rng.integers(-20, 20, shape).astype(np.float32)
    return rng.uniform(-1, 1, shape).astype(np.float32)


def _special_rows() -> np.ndarray:
    return np.array(
        [
            [1, NAN, 3, NAN, 5, -INF, INF],
            [NAN, 2, 2, INF, INF, 0, -1],
            [-INF, -INF, 1, -INF, INF, INF, 2],
            [3, 3, 3, -INF, 3, 1, 3],
        ],
        np.float32,
    )


def scan_kernels() -> list[Kernel]:
    rng = np.random.default_rng(17)
    kernels = []
    for op in OPS:

        def tol(k, op=op):  # blocked and serial float32 sums and products round differently
            return {"rtol": 1e-4, "atol": 2e-6 * k} if op == "sum" else {"rtol": 2e-7 * k + 1e-5, "atol": 1e-5}

        cases = [_case(f"3×{k} dim 1", op, _values(op, rng, (3, k)), 1, **tol(k)) for k in LENGTHS]
        cases += [
            _case("300×3 dim 0", op, _values(op, rng, (300, 3)), 0, **tol(300)),
            _case(
                "29×37 transposed view, dim 1",
                op,
                _values(op, rng, (37, 29)),
                1,
                view=lambda be, a: be.permute(a, (1, 0)),
            ),
            _case("5000×2 short rows", op, _values(op, rng, (5000, 2)), 1),
            _case("1×70000 totals of totals", op, _values(op, rng, (1, 70000)), 1, **tol(70000)),
            _case("special values (NaN, ±inf), dim 1", op, _special_rows(), 1),
        ]
        if op != "logsumexp":
            ints = rng.integers(-3, 4, (4, 300)).astype(np.int32)
            if op == "prod":
                ints = (ints[:, :20] % 2 + 1).astype(np.int32)
            out = int64 if op in ("sum", "prod") else None
            cases += [
                _case("dim 1", op, ints, 1, out_dt=out),
                _case("dim 1", op, rng.random((3, 300)) > 0.4, 1, out_dt=out),
            ]
        cases.append(_case("70000×2 (past 65,535 workgroups)", op, _values(op, rng, (70000, 2)), 1, large=True))
        kernels.append(Kernel("scan", op, cases, timed=len(LENGTHS) - 1))
        kernels.append(
            Kernel(
                "scan",
                f"{op} (float16)",
                [_case("3×300 dim 1", op, _values(op, rng, (3, 300)).astype(np.float16), 1, rtol=2e-3, atol=2e-2)],
                requires="shader-f16",
            )
        )
    return kernels
