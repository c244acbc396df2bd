"""The scatter family on wgpu (``shaders/scatter.wgsl``): scatter with assignment or a reduction,
and nonzero.

scatter: one thread per index element, as index.py's scatter_add (whose merged iteration space
it shares); "sum" is scatter_add itself. The reductions prod/amax/amin have no WGSL atomic (WGSL
atomics are i32/u32 add/min/max/and/or only, and float bits do not order as integers), so every
dtype combines by compare-exchange on the 32-bit word, f16 replacing its half of the word. An
assignment is a plain store. bool is stored as u32 0/1, so prod/amax/amin on it are and/or/and, and
int64 as i32 (which of repeated positions wins is unspecified, as on CUDA).

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
)
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


def _tv(dt: dtype) -> str:
    return "f32" if dt.wgsl in ("f32", "f16") else dt.wgsl


def _scatter_source(reduce, dt: dtype, ndim: int) -> str:
    s = _snippets()
    if reduce is None:
        combine, store, tout = "combine_none", "store_assign", dt.wgsl
    else:
        floaty = reduce in ("amax", "amin") and dt.is_floating_point
        combine = f"combine_{reduce}_float" if floaty else f"combine_{reduce}"
        store, tout = ("store_cas16" if dt.wgsl == "f16" else "store_cas32"), "atomic<u32>"
    return specialise(
        "scatter",
        {"TO": dt.wgsl, "TOUT": tout, "TV": _tv(dt)},
        {"NDIM": ndim, "WG": WG},
        {"COMBINE": s[combine], "STORE": s[store]},
        section="scatter",
        params=SCATTER_PARAMS,
    )


def _nz_source(kernel: str, dt: dtype, ndim: int) -> str:
    test = _snippets()["nonzero_f32" if dt.wgsl == "f32" else "nonzero_other"]
    return specialise(
        "scatter",
        {"TO": dt.wgsl, "TOUT": dt.wgsl, "TV": _tv(dt)},
        {"NDIM": ndim, "WG": WG},
        {"NONZERO": test, "WALK": _snippets()["walk"], "COMBINE": "", "STORE": ""},
        section=kernel,
        params=NZ_PARAMS,
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
        p = rt.pipeline(
            ("scatter", reduce, dt.wgsl, dt.is_floating_point, ndim),
            lambda: _scatter_source(reduce, dt, ndim),
            ("rw", "r", "r", "rw"),
            f"scatter:{reduce}",
        )
        code = ERR_SCATTER_INDEX if index_error else ERR_SCATTER
        rt.error_decoders.setdefault(code, scatter_error)
        pad = (0,) * (MAX_DIMS - ndim)
        buffers = (out.buffer, src.buffer, index.buffer, rt.error_buffer())
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
            rt.dispatch(p, buffers, SCATTER_PARAMS.struct, values, -(-index.size // WG))
        return out

    def nonzero(self, a: WgpuArray) -> WgpuArray:
        ndim = a.ndim
        if ndim > MAX_DIMS:
            raise RuntimeError(f"nonzero on wgpu supports tensors of up to {MAX_DIMS} dims, got {ndim}")
        if a.size == 0:
            return self.empty((0, ndim), int64)
        threads = -(-a.size // CHUNK)
        dt, rt = a.dtype, self.rt
        shape = list(a.shape) + [0] * (MAX_DIMS - ndim)
        strides = list(a.strides) + [0] * (MAX_DIMS - ndim)
        counts = self.empty((threads,), int32)
        p = rt.pipeline(
            ("scatter", "nz_count", dt.wgsl, ndim),
            lambda: _nz_source("nz_count", dt, ndim),
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
            ("scatter", "nz_write", dt.wgsl, ndim),
            lambda: _nz_source("nz_write", dt, ndim),
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
