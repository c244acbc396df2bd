"""Scans on wgpu (``shaders/scan.wgsl``): cumsum, cumprod, cummax/cummin with indices, logcumsumexp.

The input is viewed as rows of K elements along the scan dim through its strides (no copy; the
other dims merged where memory allows). Each row is cut into blocks, scanned by one of two kernels:

- ``block`` (hardware adapters, rows longer than SERIAL_MAX): one workgroup per block of
  BLOCK = WG * ITEMS elements, scanned in workgroup memory;
- ``rows``: one invocation per block, serially: short rows whole; on a software adapter
  (lavapipe), rows up to SOFTWARE_ROW elements whole and longer ones in SOFTWARE_SEGMENT pieces.
  Measured on lavapipe, a thread walking its row beats the workgroup scan about 3x (1024x1024:
  115 ms vs 400 ms; 8x4096: 5 ms vs 15 ms): barriers cost microseconds there.

A row of one block is scanned in one dispatch. Longer rows take three (reduce-then-scan): the
kernel writes each block's total, the totals (rows x blocks) are scanned by this same code
recursively, and the kernel scans every block again seeded with the scanned total of the blocks
before it. The combine is associative for every op (cummax's (value, index) pairs included: see
`_ops_source`), so the blocking gives the serial answer (up to float rounding).

Accumulators: float64 for float64 results (kernels.py's f64 mode, shader-f64), float32 for
float16/float32 results (a float16 result is rounded once, as PyTorch's cpu kernel does), the
result's own integer type for int32/int64 (i64 where the device stores int64 natively,
shader-int64: exact as PyTorch's; on a device without it int64 is stored as 32 bits, and an int64
cumsum or cumprod reports a step past 2**31, raised at the next read: int64_range.py), u32 for a
bool cummax/cummin.
"""

from __future__ import annotations

from ..._dtype import bool_, float32, float64, int32, int64
from .array import WgpuArray
from .elementwise import _merge_dims
from .int64_range import ERR_INT64_RANGE, checks_int64_range, int64_range_error, overflow_helpers
from .kernels import specialise
from .params import ParamBlock
from .reduce import _check_dims

WG, ITEMS, FOLD = 64, 4, 8  # WG == FOLD * FOLD
BLOCK = WG * ITEMS
SERIAL_MAX = 32  # hardware: rows up to this length take one invocation each
SOFTWARE_ROW, SOFTWARE_SEGMENT = 4096, 1024  # software: whole rows up to, else segments of (serially)
#: None: plan by the adapter; "block" or "serial" force the hardware or software plan (tests run both).
PLAN = None
OPS = ("sum", "prod", "max", "min", "logsumexp")

PARAMS = ParamBlock(
    "rows: u32",
    "K: u32  // row length of this pass",
    "nblocks: u32  // blocks per row (block kernel)",
    "in_off: u32",
    "in_stride: u32  // input stride along the scan dim",
    "out_off: u32",
    "out_stride: u32",
    "in_idx_off: u32  // IDX_IN: src_idx offset of the element at in_off",
    "out_idx_off: u32  // HAS_IDX: dst_idx offset of the element at out_off",
    "pre_off: u32  // SEED: scanned block totals",
    "pre_idx_off: u32",
    "seg_len: u32  // rows kernel: elements per invocation",
    "kept_shape: array<u32, 8>",
    "kept_in: array<u32, 8>",
    "kept_out: array<u32, 8>",
)
_ACC_DTYPE = {"f32": float32, "f64": float64, "i32": int32, "u32": bool_, "i64": int64}


def _accumulator(be, out_dtype) -> str:
    # float64 results scan in f64 (kernels.py's f64 mode), the other floats in f32
    if out_dtype is float64:
        return "f64"
    return "f32" if out_dtype.is_floating_point else be.wgsl[out_dtype]


def _ops_source(op: str, ta: str, checked: bool = False) -> str:
    """``ident()`` and ``combine(a, b)`` (a before b) for one op and accumulator type.

    cummax's pairs: b wins when it is NaN, or when a is not NaN and b >= a (a later equal value
    takes the index, as in PyTorch); so a NaN, once seen, stays, with the index of the last NaN.
    Applied to whole-segment summaries this gives what the serial scan would (associative)."""
    if op in ("max", "min"):
        cmp = ">=" if op == "max" else "<="
        take = f"is_nan(b.v) || (!is_nan(a.v) && b.v {cmp} a.v)" if ta in ("f32", "f64") else f"b.v {cmp} a.v"
        return (
            "fn ident() -> TA { return TA(0); }\n"
            "fn combine(a: Pair, b: Pair) -> Pair {\n"
            "    if (b.i == IDX_NONE) { return a; }\n"
            f"    if (a.i == IDX_NONE || {take}) {{ return b; }}\n"
            "    return a;\n}"
        )
    if op == "logsumexp":
        # PyTorch's _log_add_exp_helper: NaN propagates; equal infinities give themselves.
        # log1p(e) as log(u) * e / (u - 1) (accurate where 1 + e rounds; WGSL has no log1p).
        return (
            "fn ident() -> TA { return neg_inf(); }\n"
            "fn combine(a: Pair, b: Pair) -> Pair {\n"
            "    if (is_nan(a.v) || is_nan(b.v)) { return Pair(nan_f32(), 0); }\n"
            "    let mx = max(a.v, b.v);\n"
            "    let mn = min(a.v, b.v);\n"
            "    if (mn == mx && is_inf(mn)) { return Pair(mx, 0); }\n"
            "    let e = exp(mn - mx);\n"
            "    let u = 1.0 + e;\n"
            "    return Pair(mx + select(log(u) * e / (u - 1.0), e, u == 1.0), 0);\n}"
        )
    expr = "a.v + b.v" if op == "sum" else "a.v * b.v"
    if checked:  # an int64 cumsum/cumprod held in i32: each step that leaves int32 is reported
        test = "ovf_add_(a.v, b.v)" if op == "sum" else "ovf_mul_(a.v, b.v)"
        return (
            overflow_helpers("P.pre_idx_off", 3)  # (an index field: unused without indices)
            + f"fn ident() -> TA {{ return TA({0 if op == 'sum' else 1}); }}\n"
            f"fn combine(a: Pair, b: Pair) -> Pair {{\n    if ({test}) {{ report_int64_range(); }}\n"
            f"    return Pair({expr}, 0);\n}}\n"
            "@group(0) @binding(7) var<storage, read_write> err: array<atomic<u32>>;"
        )
    return (
        f"fn ident() -> TA {{ return TA({0 if op == 'sum' else 1}); }}\n"
        f"fn combine(a: Pair, b: Pair) -> Pair {{ return Pair({expr}, 0); }}"
    )


def _padded(values) -> list:
    return list(values) + [0] * (8 - len(values))


class ScanOps:
    """The `Backend.scan` op on wgpu (a base class of `WgpuBackend`)."""

    def scan(self, op: str, a: WgpuArray, dim: int, out_dtype):
        """Cumulative ``op`` (sum, prod, max, min, logsumexp) of ``a`` along ``dim`` into ``out_dtype``."""
        if op not in OPS:
            raise ValueError(f"scan: unknown op {op!r}")
        has_idx = op in ("max", "min")
        out = self.empty(a.shape, out_dtype)
        idx = self.empty(a.shape, int64) if has_idx else None
        if out.size:
            K = a.shape[dim]
            if out.size >= 2**31:
                raise RuntimeError(
                    f"scan: {out.size} elements is past the 2**31 the wgpu kernels index with 32-bit integers"
                )
            kept = [d for d in range(a.ndim) if d != dim]
            kept_shape, (kept_in, kept_out) = _merge_dims(
                [a.shape[d] for d in kept], [[a.strides[d] for d in kept], [out.strides[d] for d in kept]]
            )
            _check_dims(f"cum{op}", len(kept_shape))
            ta = _accumulator(self, out_dtype)
            _level(
                self,
                op,
                ta,
                a,
                None,
                out,
                idx,
                out.size // K,
                K,
                (kept_shape, kept_in, kept_out),
                a.strides[dim],
                out.strides[dim],
                op in ("sum", "prod") and ta == "i32" and checks_int64_range(self, out_dtype),
            )
        return (out, idx) if has_idx else out


def _plan(be, K: int) -> tuple[str, int]:
    """(kernel, block length) for rows of ``K``."""
    serial = be.rt.is_software if PLAN is None else PLAN == "serial"
    if serial:
        return "rows", K if K <= SOFTWARE_ROW else SOFTWARE_SEGMENT
    return ("rows", K) if K <= SERIAL_MAX else ("block", BLOCK)


def _level(be, op, ta, src, src_idx, dst, dst_idx, rows, K, kept, in_stride, out_stride, checked=False) -> None:
    """Scan ``rows`` rows of ``K`` from ``src`` (indices from ``src_idx`` when given) into ``dst``
    (and ``dst_idx``), laid out by ``kept`` = (shape, input strides, output strides)."""
    run = _Pass(be, op, ta, src, src_idx, kept, in_stride, checked)
    kernel, block = _plan(be, K)
    nblocks = -(-K // block)

    def groups(n):  # the rows kernel runs one invocation per block, the block kernel a workgroup
        return -(-n // WG) if kernel == "rows" else n

    if nblocks == 1:
        run(kernel, dst, dst_idx, out_stride, rows, K, 1, block, None, groups(rows))
        return
    acc = _ACC_DTYPE[ta]
    has_idx = dst_idx is not None
    totals = be.empty((rows, nblocks), acc)
    totals_idx = be.empty((rows, nblocks), int32) if has_idx else None
    run(kernel, totals, totals_idx, 1, rows, K, nblocks, block, None, groups(rows * nblocks), totals_only=True)
    scanned = be.empty((rows, nblocks), acc)
    scanned_idx = be.empty((rows, nblocks), int32) if has_idx else None
    rows_layout = ([rows], [nblocks], [nblocks]) if rows > 1 else ([], [], [])
    _level(be, op, ta, totals, totals_idx, scanned, scanned_idx, rows, nblocks, rows_layout, 1, 1, checked)
    run(kernel, dst, dst_idx, out_stride, rows, K, nblocks, block, (scanned, scanned_idx), groups(rows * nblocks))


class _Pass:
    """Dispatches of one level's input (``src``, its layout and optional indices)."""

    def __init__(self, be, op, ta, src, src_idx, kept, in_stride, checked=False):
        self.be, self.op, self.ta, self.src, self.src_idx = be, op, ta, src, src_idx
        self.kept, self.in_stride, self.checked = kept, in_stride, checked

    def __call__(self, kernel, dst, dst_idx, out_stride, rows, K, nblocks, block, seed, groups, totals_only=False):
        be, src, src_idx = self.be, self.src, self.src_idx
        kept_shape, kept_in, kept_out = self.kept
        ti, ta, to = be.wgsl[src.dtype], self.ta, be.wgsl[dst.dtype]
        txo = be.wgsl[dst_idx.dtype] if dst_idx is not None else "i32"
        flags = {
            "HAS_IDX": dst_idx is not None,
            "IDX_IN": src_idx is not None,
            "SEED": seed is not None,
            "TOTALS": totals_only,
        }
        checked = self.checked
        key = ("scan", kernel, self.op, ti, ta, to, txo, len(kept_shape), *flags.values(), checked)

        def source():
            consts = {"KEPT_NDIM": len(kept_shape), **flags, "WG": WG, "ITEMS": ITEMS, "FOLD": f"{FOLD}u"}
            return specialise(
                "scan",
                {"TI": ti, "TA": ta, "TO": to, "TXO": txo},
                consts,
                {"OPS": _ops_source(self.op, ta, checked)},
                section=kernel,
                params=PARAMS,
                f64=ta == "f64",  # (f64 storage read into an f32 or i32 accumulator needs no f64 code)
                i64="i64" in (ti, ta, to, txo),
            )

        access = ("r", "r", "rw", "rw", "r", "r") + (("rw",) if checked else ())
        p = be.rt.pipeline(key, source, access, f"scan:{self.op}:{kernel}")
        spare = src  # bound where a kernel reads nothing (bindings are all read_write; never touched)
        pre, pre_idx = seed if seed is not None else (None, None)
        arrays = (src, src_idx or spare, dst, dst_idx or spare, pre or spare, pre_idx or spare)
        values = [
            rows,
            K,
            nblocks,
            src.offset,
            self.in_stride,
            dst.offset,
            out_stride,
            src_idx.offset if src_idx is not None else 0,
            dst_idx.offset if dst_idx is not None else 0,
            pre.offset if pre is not None else 0,
            pre_idx.offset if pre_idx is not None else 0,
            block,
            *_padded(kept_shape),
            *_padded(kept_in),
            *_padded(kept_out),
        ]
        buffers = tuple(x.buffer for x in arrays)
        if checked:
            rt = be.rt
            rt.error_decoders.setdefault(ERR_INT64_RANGE, int64_range_error)
            with rt.lock:  # no check may recycle the error slot before the dispatch is recorded
                values[10] = rt.error_slot()  # pre_idx_off's place (see _ops_source)
                rt.dispatch(p, buffers + (rt.error_buffer(),), PARAMS.struct, values, groups)
            return
        be.rt.dispatch(p, buffers, PARAMS.struct, values, groups)
