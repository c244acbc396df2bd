"""The scatter family on wgpu (``shaders/scatter.wgsl``): scatter with assignment or a reduction,
and nonzero.

scatter: one thread per index element, as index.py's scatter_add (whose merged iteration space
it shares); "sum" is scatter_add itself. The reductions prod/amax/amin have no WGSL atomic (WGSL
atomics are i32/u32 add/min/max/and/or only, and float bits do not order as integers), so every
dtype combines by compare-exchange on the 32-bit word, f16 replacing its half of the word. float64
has no 64-bit compare-exchange: its reductions (and index.py's float64 scatter_add) take
`ScatterOps.scatter_lines`, one thread per line of the index along dim, which combines in index
order without atomics (exact and deterministic; a 1-D index is one serial thread). An assignment is
a plain store (float64 too). bool is stored as u32 0/1, so prod/amax/amin on it are and/or/and, and
int64 as i32 or, on a device with shader-int64, as i64 (a reduction into i64 then runs in one thread:
WGSL has no 64-bit compare-exchange). Which of repeated positions wins an assignment is unspecified,
as on CUDA.

Bad indices are reported as in index.py: the thread writes nothing and records the index in its
dispatch's slot of the runtime's error buffer; the next read or synchronize raises
RuntimeError (PyTorch's cpu type for scatter), and the device keeps working. Where the scattered
dim is empty (so no index is valid) it raises at once.

nonzero: the output size depends on the data, so the count goes to the host (PyTorch syncs
there too). Two passes without a scan kernel: each thread counts the nonzero elements of a
chunk of row-major positions, the host reads the per-chunk counts (numel / CHUNK words) and
makes their exclusive prefix sum, and a second pass writes each chunk's coordinates from its
offset. Inputs of up to 8 dims (after no merging: the coordinates are per dim).
"""

from __future__ import annotations

import functools
import re

import numpy as np

from ..._dtype import dtype, int32, int64
from .array import WgpuArray
from .elementwise import _merge_dims
from .kernels import family_source, specialise
from .params import ParamBlock

WG = 64
MAX_DIMS = 8
CHUNK = 64  # row-major positions per nonzero thread (the host reads numel / CHUNK counts)
ERR_SCATTER = 0x401
ERR_SCATTER_INDEX = 0x402  # the same report, raised as IndexError (index_copy_, index_fill_, put_)

SCATTER_PARAMS = ParamBlock(
    "numel: u32  // threads with work: elements of the index",
    "dim_size: u32  // valid indices are 0 .. dim_size - 1",
    "dim_stride: u32  // out's stride along dim",
    "code: u32  // the error code reported (runtime error buffer, word 0)",
    "dim: u32  // reported with the error",
    "err_slot: u32  // this dispatch's 4 words in err",
    "off_out: u32",
    "off_index: u32",
    "off_src: u32",
    "shape: array<u32, 8>",
    "stride: array<array<u32, 8>, 3>  // out (0 along dim), index, src",
    "serial_first: u32  // SERIAL: the first index element of this dispatch's run",
)
LINES_PARAMS = ParamBlock(
    "numel: u32  // threads with work: lines of the index along dim",
    "dim_size: u32",
    "dim_stride: u32",
    "code: u32",
    "dim: u32",
    "err_slot: u32",
    "off_out: u32",
    "off_index: u32",
    "off_src: u32",
    "line_len: u32  // the index's size along dim",
    "index_step: u32  // the index's stride along dim",
    "src_step: u32  // src's stride along dim",
    "shape: array<u32, 8>  // the lines: the index's shape without dim (merged)",
    "stride: array<array<u32, 8>, 3>  // out, index, src",
)
# SERIAL: index elements per dispatch. llvmpipe (lavapipe) silently ends an invocation's loops after
# 65,535 iterations in all (see reduce.py): one element costs at most 1 + 8 (its coordinate loop).
SERIAL_RUN = 4096
NZ_PARAMS = ParamBlock(
    "threads: u32",
    "chunk: u32",
    "numel: u32",
    "off_in: u32",
    "off_out: u32  // counts (nz_count) or out (nz_write)",
    "off_aux: u32  // offsets (nz_write)",
    "shape: array<u32, 8>",
    "stride: array<u32, 8>",
)
_PAD8 = (0,) * MAX_DIMS


@functools.cache
def _snippets() -> dict[str, str]:
    text = family_source("scatter")
    tail = text[text.index("/* Snippets") :]
    parts = re.split(r"^//! (\w+)\n", tail, flags=re.MULTILINE)
    return {name: body.replace("*/", "").strip() for name, body in zip(parts[1::2], parts[2::2])}


def _tv(to: str) -> str:
    return "f32" if to in ("f32", "f16") else to


def _serial(reduce, to: str) -> bool:
    """int64 stored as i64 with a reduction: one thread applies the updates (no 64-bit compare-exchange)."""
    return reduce is not None and to == "i64"


def _scatter_source(reduce, dt: dtype, to: str, tix: str, ndim: int) -> str:
    """``to``: the storage type of out/src; ``tix``: the index's."""
    s = _snippets()
    if reduce is None:
        combine, store, tout = "combine_none", "store_assign", to
    else:
        floaty = reduce in ("amax", "amin") and dt.is_floating_point
        combine = f"combine_{reduce}_float" if floaty else f"combine_{reduce}"
        store, tout = ("store_cas16" if to == "f16" else "store_cas32"), "atomic<u32>"
        if _serial(reduce, to):
            store, tout = "store_serial", to
    return specialise(
        "scatter",
        {"TO": to, "TOUT": tout, "TV": _tv(to), "TIX": tix, "TI": "i32"},
        {"NDIM": ndim, "WG": WG, "SERIAL": _serial(reduce, to), "SERIAL_RUN": SERIAL_RUN},
        {"COMBINE": s[combine], "STORE": s[store]},
        section="scatter",
        params=SCATTER_PARAMS,
        f64=to == "f64",
        i64="i64" in (to, tix),
    )


def _lines_source(reduce: str, dt: dtype, to: str, tix: str, ndim: int) -> str:
    """``to``: the storage type of out/src (f64); ``tix``: the index's."""
    floaty = reduce in ("amax", "amin") and dt.is_floating_point
    combine = f"combine_{reduce}_float" if floaty else f"combine_{reduce}"
    return specialise("scatter", {"TO": to, "TOUT": to, "TV": _tv(to), "TIX": tix, "TI": "i32"},
                      {"NDIM": ndim, "WG": WG, "SERIAL": False, "SERIAL_RUN": SERIAL_RUN},
                      {"COMBINE": _snippets()[combine], "STORE": ""}, section="add_lines",
                      params=LINES_PARAMS, f64=to == "f64", i64=tix == "i64")


def _nz_source(kernel: str, to: str, ti: str, ndim: int) -> str:
    """``to``: the input's storage type; ``ti``: the int64 output's."""
    test = _snippets()[{"f32": "nonzero_f32", "f64": "nonzero_f64"}.get(to, "nonzero_other")]
    return specialise(
        "scatter",
        {"TO": to, "TOUT": to, "TV": _tv(to), "TI": ti, "TIX": "i32"},
        {"NDIM": ndim, "WG": WG, "SERIAL": False, "SERIAL_RUN": SERIAL_RUN},
        {"NONZERO": test, "WALK": _snippets()["walk"], "COMBINE": "", "STORE": ""},
        section=kernel,
        params=NZ_PARAMS,
        f64=to == "f64",
        i64="i64" in (to, ti),
    )


def scatter_error(words) -> Exception:
    """The exception for a bad index reported by the scatter kernel (PyTorch's cpu type: RuntimeError
    for scatter, IndexError for the ops that asked for it with ``index_error``)."""
    code, value, size, dim = int(words[0]), int(words[1]), int(words[2]), int(words[3])
    value = value - (1 << 32) if value >= 1 << 31 else value
    kind = IndexError if code == ERR_SCATTER_INDEX else RuntimeError
    return kind(
        f"index {value} is out of bounds for dimension {dim} with size {size}: scatter on wgpu "
        "(reported at the first read or synchronize after the op, as device-side errors are)"
    )


class ScatterOps:
    """Methods for `WgpuBackend`: scatter (assign, prod, amax, amin; sum is scatter_add) and nonzero."""

    def scatter(self, a: WgpuArray, dim: int, index: WgpuArray, src: WgpuArray, reduce=None,
                index_error: bool = False) -> WgpuArray:
        if reduce == "sum":
            return self.scatter_add(a, dim, index, src, index_error)
        if index.size and a.shape[dim] == 0:
            raise (IndexError if index_error else RuntimeError)(
                f"scatter(): index is out of bounds for dimension {dim} with size 0 (self "
                f"{list(a.shape)} is empty along it, so no index is valid)"
            )
        out = self.elementwise("copy", [a], a.dtype, a.dtype)  # a new contiguous array
        if index.size == 0:
            return out
        if reduce is not None and out.dtype.wgsl == "f64":  # no 64-bit compare-exchange: by lines
            self.scatter_lines(reduce, out, dim, index, src, ERR_SCATTER_INDEX if index_error else ERR_SCATTER,
                               scatter_error)
            return out
        shape = index.shape
        out_strides = list(out.strides)
        dim_stride = out_strides[dim]
        out_strides[dim] = 0  # the index value takes this dim's place
        dims, merged = _merge_dims(shape, [out_strides, list(index.strides), list(src.strides)])
        if len(dims) > MAX_DIMS:
            raise RuntimeError(
                f"scatter: the operands need {len(dims)} strided dimensions after merging; the "
                f"wgpu kernels support {MAX_DIMS} (call .contiguous() first)"
            )
        ndim, dt, rt = len(dims), out.dtype, self.rt
        to, tix = self.wgsl[dt], self.wgsl[index.dtype]
        p = rt.pipeline(
            ("scatter", reduce, to, tix, dt.is_floating_point, ndim),
            lambda: _scatter_source(reduce, dt, to, tix, ndim),
            ("rw", "r", "r", "rw"),
            f"scatter:{reduce}",
        )
        code = ERR_SCATTER_INDEX if index_error else ERR_SCATTER
        rt.error_decoders.setdefault(code, scatter_error)
        pad = (0,) * (MAX_DIMS - ndim)
        buffers = (out.buffer, src.buffer, index.buffer, rt.error_buffer())
        serial = _serial(reduce, to)
        for first in range(0, index.size, SERIAL_RUN) if serial else (0,):
            with rt.lock:  # no check may recycle the slot before the dispatch is recorded
                values = [
                    index.size,
                    a.shape[dim],
                    dim_stride,
                    code,
                    dim,
                    rt.error_slot(),
                    out.offset,
                    index.offset,
                    src.offset,
                    *dims,
                    *pad,
                ]
                for st in merged:
                    values += [*st, *pad]
                values.append(first)
                rt.dispatch(p, buffers, SCATTER_PARAMS.struct, values, 1 if serial else -(-index.size // WG))
        return out

    def scatter_lines(self, reduce: str, out: WgpuArray, dim: int, index: WgpuArray, src: WgpuArray, code: int,
                      decoder) -> None:
        """Combine (``reduce``: sum, prod, amax, amin) src into ``out`` in place, one thread per line of
        the index along ``dim`` (scatter.wgsl's add_lines: exact, in index order, no atomics); bad
        indices are reported with ``code`` (decoded by ``decoder``). The float64 path."""
        if index.size == 0:
            return
        kept = [d for d in range(index.ndim) if d != dim]
        out_strides = [out.strides[d] for d in kept]
        dims, merged = _merge_dims([index.shape[d] for d in kept],
                                   [out_strides, [index.strides[d] for d in kept], [src.strides[d] for d in kept]])
        if len(dims) > MAX_DIMS:
            raise RuntimeError(f"scatter: the operands need {len(dims)} strided dimensions after merging; the "
                               f"wgpu kernels support {MAX_DIMS} (call .contiguous() first)")
        ndim, dt, rt = len(dims), out.dtype, self.rt
        to, tix = self.wgsl[dt], self.wgsl[index.dtype]
        p = rt.pipeline(("scatter", "lines", reduce, to, tix, dt.is_floating_point, ndim),
                        lambda: _lines_source(reduce, dt, to, tix, ndim), ("rw", "r", "r", "rw"),
                        f"scatter:lines:{reduce}")
        rt.error_decoders.setdefault(code, decoder)
        lines = index.size // index.shape[dim]
        pad = (0,) * (MAX_DIMS - ndim)
        with rt.lock:  # no check may recycle the slot before the dispatch is recorded
            values = [lines, out.shape[dim], out.strides[dim], code, dim, rt.error_slot(), out.offset, index.offset,
                      src.offset, index.shape[dim], index.strides[dim], src.strides[dim], *dims, *pad]
            for st in merged:
                values += [*st, *pad]
            rt.dispatch(p, (out.buffer, src.buffer, index.buffer, rt.error_buffer()), LINES_PARAMS.struct, values,
                        -(-lines // WG))

    def nonzero(self, a: WgpuArray) -> WgpuArray:
        ndim = a.ndim
        if ndim > MAX_DIMS:
            raise RuntimeError(f"nonzero on wgpu supports tensors of up to {MAX_DIMS} dims, got {ndim}")
        if a.size == 0:
            return self.empty((0, ndim), int64)
        threads = -(-a.size // CHUNK)
        dt, rt = a.dtype, self.rt
        to, ti = self.wgsl[dt], self.wgsl[int64]
        shape = list(a.shape) + [0] * (MAX_DIMS - ndim)
        strides = list(a.strides) + [0] * (MAX_DIMS - ndim)
        counts = self.empty((threads,), int32)
        p = rt.pipeline(
            ("scatter", "nz_count", to, ndim),
            lambda: _nz_source("nz_count", to, "i32", ndim),
            ("r", "rw"),
            "scatter:nz_count",
        )
        rt.dispatch(
            p,
            (a.buffer, counts.buffer),
            NZ_PARAMS.struct,
            [threads, CHUNK, a.size, a.offset, counts.offset, 0, *shape, *strides],
            -(-threads // WG),
        )
        host = self.to_numpy(counts).astype(np.int64)
        n = int(host.sum())
        out = self.empty((n, ndim), int64)
        if n == 0 or ndim == 0:
            return out
        offsets = self.from_numpy(np.concatenate([[0], np.cumsum(host)[:-1]]).astype(np.int32), int32)
        p = rt.pipeline(
            ("scatter", "nz_write", to, ti, ndim),
            lambda: _nz_source("nz_write", to, ti, ndim),
            ("r", "r", "rw"),
            "scatter:nz_write",
        )
        rt.dispatch(
            p,
            (a.buffer, offsets.buffer, out.buffer),
            NZ_PARAMS.struct,
            [threads, CHUNK, a.size, a.offset, out.offset, offsets.offset, *shape, *strides],
            -(-threads // WG),
        )
        return out


__all__ = ["ScatterOps", "scatter_error", "ERR_SCATTER"]
