"""Reductions and fused softmax on wgpu: one kernel family, ``shaders/reduce.wgsl``.

The input is viewed as [kept dims..., reduced dims...] through its strides (no copy), with
neighbouring dims merged where memory allows, so a contiguous reduction over trailing dims
is one row of K contiguous elements per output. Three shapes of work:

- short rows: one row per thread, serially (no workgroup memory, no barriers);
- long rows: one row per workgroup of ``WG`` threads, tree-reduced in workgroup memory;
- few, very long rows (a full sum): each row is split into chunks, one workgroup per chunk
  writes a partial, and a second pass reduces the partials.

Accumulation types: f16 storage accumulates in f32, f64 in f64 (shader-f64). Integers: where the
device stores int64 natively (shader-int64) an int64 result (sum/prod of int64, int32 or bool, as
PyTorch gives) accumulates in i64, exactly as PyTorch's; otherwise int32/int64 (both stored as i32)
sum and multiply in i32, and an int64 result (int32's sum is one) checks every step and reports one
that leaves int32 (int64_range.py: RuntimeError at the next read, not a wrapped value). bool (u32)
reduces in u32.
"""

from __future__ import annotations

import math

from ..._dtype import bool_, float32, float64, int32, int64
from .array import WgpuArray
from .elementwise import _merge_dims
from .int64_range import ERR_INT64_RANGE, checks_int64_range, int64_range_error, overflow_helpers
from .kernels import specialise
from .params import ParamBlock

WG = 64
FOLD = 8  # WG == FOLD * FOLD: the workgroup tree has two levels
MAX_DIMS = 8
PARAMS = ParamBlock(
    "rows: u32  // output rows of this pass (rows * chunks workgroups in KERNEL 1)",
    "K: u32  // reduced length",
    "chunks: u32  // workgroups per row (split pass), else 1",
    "chunk_len: u32  // elements per chunk",
    "offset: u32  // input base offset",
    "out_offset: u32  // output base offset",
    "red_stride_out: u32  // softmax: output stride along the softmax dim",
    "idx_offset: u32  // split argmax/argmin: base offset of the partial indices",
    "kept_shape: array<u32, 8>",
    "kept_stride: array<u32, 8>",
    "kept_stride_out: array<u32, 8>  // softmax only",
    "red_shape: array<u32, 8>",
    "red_stride: array<u32, 8>",
)
META = PARAMS.struct

SPLIT_MIN_CHUNK = 64 * WG  # a split pass gives each workgroup at least this many elements
MAX_CHUNKS = 1024          # partials per row, so the second pass is one short workgroup
# Mesa's llvmpipe (lavapipe) silently ends an invocation's loops after 65,535 iterations in all,
# counted over every loop it runs (its loop limiter): no thread may walk more elements than
# this. (Measured: the element loop costs one iteration per element, its index loops unroll.)
MAX_THREAD_ELEMENTS = 32768
K_REDUCE_THREAD, K_REDUCE_GROUP, K_SOFTMAX_THREAD, K_SOFTMAX_GROUP = range(4)

_I32_MIN, _I32_MAX = "i32(-2147483647 - 1)", "2147483647"
# op -> (identity for f32, i32, u32, i64)
_IDENTITY = {
    "sum": ("0.0", "0", "0u", "0"),
    "prod": ("1.0", "1", "1u", "1"),
    "amax": ("neg_inf()", _I32_MIN, "0u", "-9223372036854775807li - 1li"),
    "amin": ("pos_inf()", _I32_MAX, "0xffffffffu", "9223372036854775807li"),
}
_IDENTITY["argmax"] = _IDENTITY["amax"]
_IDENTITY["argmin"] = _IDENTITY["amin"]
_COMBINE = {
    "sum": ("a + b", "a + b"),
    "prod": ("a * b", "a * b"),
    "amax": ("max_nan(a, b)", "max(a, b)"),
    "amin": ("min_nan(a, b)", "min(a, b)"),
}
_ACC_DTYPE = {"f32": float32, "i32": int32, "u32": bool_, "f64": float64, "i64": int64}


def plan_reduce(rows: int, K: int, software: bool) -> tuple[int, int]:
    """(kernel, chunks per row) for ``rows`` outputs of ``K`` elements each.

    Measured on lavapipe: every workgroup costs about a microsecond whatever it does, and a
    thread walking a row serially beats a workgroup tree until rows hold a few thousand
    elements, even with few rows. Hardware GPUs want many workgroups and coalesced loads: one
    thread per row only for very short rows or rows so many that they fill the GPU anyway.
    """
    if software:
        if K <= 2048:
            return K_REDUCE_THREAD, 1
        target = 16  # workgroups: a few per CPU core, for balance
    else:
        if K <= 16 or rows >= 65536:
            return K_REDUCE_THREAD, 1
        target = 1024
    chunks = 1
    if rows < target and K >= 2 * SPLIT_MIN_CHUNK:
        chunks = min(-(-target // rows), K // SPLIT_MIN_CHUNK, MAX_CHUNKS)
    return K_REDUCE_GROUP, chunks


def plan_softmax(rows: int, K: int, software: bool) -> int:
    """The softmax kernel for ``rows`` rows of ``K`` (same trade-offs as `plan_reduce`)."""
    if K <= (4096 if software else 32):
        return K_SOFTMAX_THREAD
    return K_SOFTMAX_GROUP


def _accumulator(storage: str, op: str = "", out: str = "") -> str:
    """The accumulator of ``op`` on ``storage`` into ``out``: a sum or product into i64 (int64 stored
    natively) accumulates in i64, so int32/bool sums into int64 are exact too."""
    if out == "i64" and op in ("sum", "prod"):
        return "i64"
    return "f32" if storage in ("f32", "f16") else storage


def _ops_source(op: str, ta: str, range_check: str | None = None) -> str:
    """ident(), IDX_NONE, combine, take and note_store (called on each stored result) for one op
    and accumulator type. ``range_check`` (an int64 sum or prod held in i32, int64_range.py):
    "step" reports each sum step that leaves int32 (a partial sum past 2**31 raises even where the
    final one would fit again); a prod turns a step that leaves int32 into the marker -2**31,
    which every further factor but 0 keeps (0 clears it, as the exact product is then 0), and
    the final pass ("final", not "carry") reports a marker it stores (so an exact product of
    -2**31 raises too)."""
    identity = _IDENTITY[op][("f32", "i32", "u32", "i64").index("f32" if ta == "f64" else ta)]
    lines = [f"fn ident() -> TA {{ return TA({identity}); }}", "const IDX_NONE: i32 = 2147483647;"]
    if range_check and op == "prod":
        lines.append(overflow_helpers("P.red_stride_out", 2))  # (softmax's field: free in a prod)
        lines.append("fn combine(a: TA, b: TA) -> TA {\n    if (ovf_mul_(a, b)) { return I32_MIN_; }\n"
                     "    return a * b;\n}")
        lines.append("fn take(a: TA, ia: i32, b: TA, ib: i32) -> bool { return false; }")
        report = "if (v == I32_MIN_) { report_int64_range(); }" if range_check == "final" else ""
        lines.append(f"fn note_store(v: TA) {{ {report} }}")
        return "\n".join(lines)
    lines.append("fn note_store(v: TA) {}")
    if range_check:
        lines.append(overflow_helpers("P.red_stride_out", 2))  # (softmax's field: free in a sum)
        lines.append("fn combine(a: TA, b: TA) -> TA {\n    if (ovf_add_(a, b)) { report_int64_range(); }\n"
                     "    return a + b;\n}")
        lines.append("fn take(a: TA, ia: i32, b: TA, ib: i32) -> bool { return false; }")
    elif op in _COMBINE:
        expr = _COMBINE[op][0 if ta in ("f32", "f64") else 1]
        lines.append(f"fn combine(a: TA, b: TA) -> TA {{ return {expr}; }}")
        lines.append("fn take(a: TA, ia: i32, b: TA, ib: i32) -> bool { return false; }")
    else:
        # b beats a when it is more extreme; NaN is the most extreme; ties go to the lower index
        # (the pairs meet in no particular order inside a workgroup tree).
        cmp = ">" if op == "argmax" else "<"
        nan = ("    let na = is_nan(a);\n    let nb = is_nan(b);\n"
               "    if (na || nb) { return nb && (!na || ib < ia); }\n") if ta in ("f32", "f64") else ""
        lines.append("fn combine(a: TA, b: TA) -> TA { return a; }")
        lines.append(f"fn take(a: TA, ia: i32, b: TA, ib: i32) -> bool {{\n{nan}"
                     f"    return b {cmp} a || (b == a && ib < ia);\n}}")
    return "\n".join(lines)


def _bindings_source(ti: str, to: str, index_io: str, range_check: bool = False) -> str:
    """Bindings plus load_index/store_index. ``index_io``: "none" (value ops), "write" (arg final
    pass: the index is the result), "partial" (arg first pass of a split: values to dst, indices
    to dst_idx), "read" (arg second pass: indices come from src_idx)."""
    lines = [f"@group(0) @binding(1) var<storage, read> src: array<{ti}>;",
             f"@group(0) @binding(2) var<storage, read_write> dst: array<{to}>;"]
    if index_io == "partial":
        lines.append("@group(0) @binding(3) var<storage, read_write> dst_idx: array<i32>;")
        lines.append("fn store_index(o: u32, i: i32) { dst_idx[P.idx_offset + o] = i; }")
    elif index_io == "write" or index_io == "read":
        lines.append("fn store_index(o: u32, i: i32) { dst[P.out_offset + o] = TO(i); }")
    else:
        lines.append("fn store_index(o: u32, i: i32) {}")
    if index_io == "read":
        lines.append("@group(0) @binding(3) var<storage, read> src_idx: array<i32>;")
        lines.append("fn load_index(o: u32, k: u32) -> i32 {\n"
                     "    return src_idx[P.idx_offset + (o - P.offset)];\n}")
    else:
        lines.append("fn load_index(o: u32, k: u32) -> i32 { return i32(k); }")
    if range_check:  # (value ops only: no binding 3 then)
        lines.append("@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>;")
    return "\n".join(lines)


def _padded(values: list) -> list:
    return list(values) + [0] * (MAX_DIMS - len(values))


def _check_dims(what: str, n: int) -> None:
    if n > MAX_DIMS:
        # (.contiguous() would not help: the copy kernel has the same limit)
        raise RuntimeError(f"{what}: the input view needs {n} strided dimensions after merging; the "
                           f"wgpu kernels support {MAX_DIMS}. Reduce a view with fewer dimensions, or "
                           "on the cpu device")


class ReduceOps:
    """Mixin for `WgpuBackend`: ``reduce`` (the protocol op) and the fused ``softmax``."""

    def reduce(self, op: str, a: WgpuArray, dims: tuple, keepdim: bool, out_dtype=None) -> WgpuArray:
        arg = op in ("argmax", "argmin")
        reduced = set(dims)
        kept = [d for d in range(a.ndim) if d not in reduced]
        if keepdim:
            out_shape = tuple(1 if d in reduced else n for d, n in enumerate(a.shape))
        else:
            out_shape = tuple(a.shape[d] for d in kept)
        out = self.empty(out_shape, int64 if arg else out_dtype or a.dtype)
        rows = out.size
        if rows == 0:
            return out
        K = math.prod(a.shape[d] for d in dims)
        if K >= 2**31:
            raise RuntimeError(f"{op}: reducing {K} elements per output is past the 2**31 the wgpu "
                               "kernels index with 32-bit integers")
        kept_shape, (kept_strides,) = _merge_dims([a.shape[d] for d in kept], [[a.strides[d] for d in kept]])
        # Value reductions may visit elements in any order: walk the smallest stride innermost
        # (a transposed input then merges into one contiguous run). argmax counts k in dims order.
        order = list(dims) if arg else sorted(dims, key=lambda d: -a.strides[d])
        red_shape, (red_strides,) = _merge_dims([a.shape[d] for d in order], [[a.strides[d] for d in order]])
        _check_dims(op, max(len(kept_shape), len(red_shape)))

        ti = self.wgsl[a.dtype]
        ta = _accumulator(ti, op, self.wgsl[out.dtype])
        checked = op in ("sum", "prod") and ta == "i32" and checks_int64_range(self, out.dtype)
        final, carry = ("final", "carry") if checked and op == "prod" else ("step", "step") if checked else (None, None)
        software = self.rt.is_software
        kernel, chunks = plan_reduce(rows, K, software)
        if kernel == K_REDUCE_THREAD and K > MAX_THREAD_ELEMENTS:
            kernel = K_REDUCE_GROUP  # (the loop limit holds whatever the plan)
        if kernel != K_REDUCE_GROUP:
            chunks = 1  # only the workgroup kernel reduces chunks of rows
        else:  # enough chunks that no thread walks more than MAX_THREAD_ELEMENTS
            chunks = max(chunks, -(-K // (WG * MAX_THREAD_ELEMENTS)))
        if chunks > 1:  # chunk lengths are whole multiples of WG
            chunk_len = -(-K // (chunks * WG)) * WG
            chunks = -(-K // chunk_len)
        if chunks == 1:
            self._reduce_pass(kernel, op, a.buffer, None, ti, ta, out, "write" if arg else "none",
                              rows, K, 1, K, a.offset, kept_shape, kept_strides, red_shape, red_strides, final)
            return out

        # Split: pass 1 writes rows * chunks partials, pass 2 reduces each row's partials.
        part = self.empty((rows * chunks,), _ACC_DTYPE[ta])
        part_idx = self.empty((rows * chunks,), int32) if arg else None
        self._reduce_pass(kernel, op, a.buffer, part_idx, ti, ta, part, "partial" if arg else "none",
                          rows, K, chunks, chunk_len, a.offset, kept_shape, kept_strides, red_shape,
                          red_strides, carry)
        kernel = plan_reduce(rows, chunks, software)[0]
        self._reduce_pass(kernel, op, part.buffer, part_idx, ta, ta, out, "read" if arg else "none",
                          rows, chunks, 1, chunks, part.offset, [rows] if rows > 1 else [],
                          [chunks] if rows > 1 else [], [chunks], [1], final)
        return out

    def _reduce_pass(self, kernel, op, src, aux, ti, ta, out, index_io, rows, K, chunks, chunk_len,
                     offset, kept_shape, kept_strides, red_shape, red_strides, range_check=None):
        """One dispatch: ``src`` (a buffer of ``ti``, elements from ``offset``) reduced in ``ta`` into
        ``out``; ``aux`` is the partial-index array of a split argmax/argmin (written or read per
        ``index_io``); ``range_check``: see `_ops_source`."""
        to = self.wgsl[out.dtype]
        contiguous_red = len(red_shape) <= 1 and (not red_strides or red_strides[0] == 1)
        red_ndim = 0 if contiguous_red else len(red_shape)
        kept_ndim = len(kept_shape)
        out_bool = out.dtype is bool_
        key = ("reduce", kernel, op, ti, ta, to, kept_ndim, red_ndim, index_io, out_bool, range_check)
        access = ("r", "rw") + (("rw",) if index_io == "partial" else ("r",) if index_io == "read" else ())
        access += ("rw",) if range_check else ()  # (the error buffer)

        def source():
            consts = {"KERNEL": kernel, "KEPT_NDIM": kept_ndim, "RED_NDIM": red_ndim,
                      "ARG": op in ("argmax", "argmin"), "PARTIAL": index_io == "partial",
                      "OUT_BOOL": out_bool, "LOG": False, "WG": f"{WG}u", "FOLD": f"{FOLD}u"}
            return specialise("reduce", {"TI": ti, "TA": ta, "TO": to}, consts,
                              {"BINDINGS": _bindings_source(ti, to, index_io, bool(range_check)),
                               "OPS": _ops_source(op, ta, range_check)},
                              params=PARAMS, f64=ta == "f64", i64="i64" in (ti, ta, to))

        p = self.rt.pipeline(key, source, access, f"reduce:{op}")
        buffers = (src, out.buffer) if aux is None else (src, out.buffer, aux.buffer)
        meta = [rows, K, chunks, chunk_len, offset, out.offset, 0, 0 if aux is None else aux.offset,
                *_padded(kept_shape), *_padded(kept_strides), *_padded([]),
                *_padded(red_shape), *_padded(red_strides)]
        groups = -(-rows // WG) if kernel == K_REDUCE_THREAD else rows * chunks
        if range_check:
            rt = self.rt
            rt.error_decoders.setdefault(ERR_INT64_RANGE, int64_range_error)
            with rt.lock:  # no check may recycle the error slot before the dispatch is recorded
                meta[6] = rt.error_slot()
                rt.dispatch(p, buffers + (rt.error_buffer(),), META, meta, groups)
            return
        self.rt.dispatch(p, buffers, META, meta, groups)

    def softmax(self, a: WgpuArray, dim: int, log: bool) -> WgpuArray:
        """softmax (or log_softmax) over ``dim`` in one kernel: one row per thread for short rows,
        else one per workgroup; f16 computes in f32. The result is contiguous."""
        out = self.empty(a.shape, a.dtype)
        if out.size == 0:
            return out
        K = a.shape[dim]
        rows = out.size // K
        kept = [d for d in range(a.ndim) if d != dim]
        kept_shape, (kept_in, kept_out) = _merge_dims(
            [a.shape[d] for d in kept], [[a.strides[d] for d in kept], [out.strides[d] for d in kept]])
        _check_dims("softmax", len(kept_shape))
        kernel = plan_softmax(rows, K, self.rt.is_software)
        # three passes over the row per thread, within the loop limit, or a multi-kernel softmax
        if 3 * (K if kernel == K_SOFTMAX_THREAD else -(-K // WG)) > MAX_THREAD_ELEMENTS:
            return self._softmax_long_rows(a, dim, log)
        ti = self.wgsl[a.dtype]
        ta = "f64" if ti == "f64" else "f32"  # (f16 computes in f32)
        key = ("softmax", kernel, ti, len(kept_shape), log)

        def source():
            consts = {"KERNEL": kernel, "KEPT_NDIM": len(kept_shape), "RED_NDIM": 1, "ARG": False,
                      "PARTIAL": False, "OUT_BOOL": False, "LOG": log, "WG": f"{WG}u", "FOLD": f"{FOLD}u"}
            markers = {"BINDINGS": _bindings_source(ti, ti, "none"), "OPS": _ops_source("sum", ta)}
            return specialise("reduce", {"TI": ti, "TA": ta, "TO": ti}, consts, markers, params=PARAMS,
                              f64=ta == "f64")

        p = self.rt.pipeline(key, source, ("r", "rw"), "log_softmax" if log else "softmax")
        meta = [rows, K, 1, K, a.offset, out.offset, out.strides[dim], 0,
                *_padded(kept_shape), *_padded(kept_in), *_padded(kept_out),
                *_padded([K]), *_padded([a.strides[dim]])]
        groups = -(-rows // WG) if kernel == K_SOFTMAX_THREAD else rows
        self.rt.dispatch(p, (a.buffer, out.buffer), META, meta, groups)
        return out

    def _softmax_long_rows(self, a: WgpuArray, dim: int, log: bool) -> WgpuArray:
        """softmax over rows too long for one kernel, from split reductions and elementwise ops
        in float32: max, x - max, exp, sum, then divide (or subtract the log). An all -inf row
        or a NaN gives NaN, as in the fused kernel."""
        w = float64 if a.dtype is float64 else float32
        x = a if a.dtype is w else self.elementwise("copy", [a], a.dtype, w)
        shifted = self.elementwise("sub", [x, self.reduce("amax", x, (dim,), True)], w, w)
        e = self.elementwise("exp", [shifted], w, w)
        s = self.reduce("sum", e, (dim,), True)
        if log:
            return self.elementwise("sub", [shifted, self.elementwise("log", [s], w, w)], w, a.dtype)
        return self.elementwise("div", [e, s], w, a.dtype)
