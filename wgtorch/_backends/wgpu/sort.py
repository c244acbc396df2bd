"""Sorting and searching on wgpu: a bitonic sort and a binary search (``shaders/sort.wgsl``).

``sort`` runs, for a view of ``rows`` rows of ``n`` elements along ``dim`` (any strides):
one ``init`` pass that turns every row into P = next_pow2(n) (key, index) pairs, one ``local``
pass that sorts each BLOCK-long run in workgroup memory, then for every longer bitonic stage k
the ``global`` passes with compare distances j >= BLOCK (one dispatch per two steps) and one ``local``
merge pass for j < BLOCK, and a ``finish`` pass that writes values and int64 indices (i32, or i64
where the device stores int64 natively). Comparing (key, index) makes the result the stable sort,
ties in input order; NaN sorts as the largest value, -0.0 equals 0.0; a float64 key is two u32 words
(the prelude's float_key). The other keys are 32-bit: int64 values stored as i64 are sorted on the
host with NumPy's stable sort instead (exact; one read and two uploads). A row of n elements costs
O(P log^2 P) compare-exchanges.
"""

from __future__ import annotations

import math

import numpy as np

from ..._dtype import int32, int64
from .array import WgpuArray
from .elementwise import _merge_dims
from .kernels import specialise
from .params import ParamBlock

WG = 256
PPT = 1  # compare-exchanges per thread and step of the local pass (4 measured no faster on lavapipe)
BLOCK = 2 * WG * PPT  # pairs one workgroup sorts in workgroup memory (4 KiB; PPT 4 would fill the 16 KiB minimum)
MAX_DIMS = 8
SORT_PARAMS = ParamBlock(
    "total: u32  // pairs (rows * P), or outputs (rows * count) in finish",
    "n: u32  // row length",
    "P: u32  // padded row length, a power of two",
    "k: u32  // bitonic stage (local: 0 sorts every stage up to BLOCK)",
    "j: u32  // compare distance (global)",
    "count: u32  // finish: leading sorted positions written per row",
    "descending: u32",
    "pairs_offset: u32",
    "in_offset: u32",
    "in_stride: u32  // input stride along the sorted dim",
    "out_offset: u32",
    "idx_offset: u32",
    "out_stride: u32  // output stride along the sorted dim",
    "fused: u32  // global: steps j and j / 2 in one pass",
    "_pad1: u32",
    "_pad2: u32",
    "kept_shape: array<u32, 8>",
    "kept_in: array<u32, 8>",
    "kept_out: array<u32, 8>",
)
SEARCH_PARAMS = ParamBlock(
    "numel: u32  // values",
    "per_row: u32  // values per row of seq",
    "m: u32  // length of a row of seq",
    "shared_seq: u32  // seq is 1-D: one row for all values",
    "right: u32",
    "has_sorter: u32",
    "seq_offset: u32",
    "vals_offset: u32",
    "sorter_offset: u32",
    "out_offset: u32",
)
_KIND = {"f64": 0, "f32": 0, "f16": 0, "i32": 1, "u32": 2, "i64": 1}
_COMPARE = {"f64": "f64", "f32": "f32", "f16": "f32", "i32": "i32", "u32": "u32", "i64": "i64"}


def _pair_words(ti: str) -> int:
    """u32 words per (key, index) pair: a float64 key takes two (f64 kernels: kernels.py's f64 mode)."""
    return 3 if ti == "f64" else 2


def _source(section: str, ti: str, kept_ndim: int, params: ParamBlock, tio: str = "i32") -> str:
    """``ti``: the input's storage type (i64 only for search: the sort keys are at most two words of
    a float64); ``tio``: int64's."""
    consts = {"KIND": _KIND[ti], "W": f"{_pair_words(ti)}u", "KEPT_NDIM": kept_ndim, "WG": WG, "PPT": PPT,
              "BLOCK": BLOCK}
    return specialise("sort", {"TI": ti, "TC": _COMPARE[ti], "TIO": tio}, consts, section=section, params=params,
                      f64=ti == "f64", i64="i64" in (ti, tio))


class SortOps:
    """Mixin for `WgpuBackend`: ``sort`` and ``searchsorted`` (the protocol ops)."""

    def _sort_pipeline(self, section: str, ti: str, kept_ndim: int, access: tuple):
        params = SEARCH_PARAMS if section == "search" else SORT_PARAMS
        tio = self.wgsl[int64]
        return self.rt.pipeline(
            ("sort", section, ti, tio, kept_ndim), lambda: _source(section, ti, kept_ndim, params, tio), access,
            f"sort:{section}"
        )

    def sort(self, a: WgpuArray, dim: int, descending: bool):
        return self.sort_head(a, dim, descending, None)

    def sort_head(self, a: WgpuArray, dim: int, descending: bool, count: int | None):
        """The first ``count`` (default all) positions of the stable sort along ``dim``:
        (values, int64 indices), new contiguous arrays with ``count`` along dim (topk's shape)."""
        if a.ndim == 0:
            return self.elementwise("copy", [a], a.dtype, a.dtype), self._zeros_index(())
        n = a.shape[dim]
        count = n if count is None else count
        shape = a.shape[:dim] + (count,) + a.shape[dim + 1 :]
        values, indices = self.empty(shape, a.dtype), self.empty(shape, int64)
        rows = math.prod(a.shape) // n if n else 0
        if rows == 0 or count == 0:
            return values, indices
        if self.wgsl[a.dtype] == "i64":
            return self._sort_on_host(a, dim, descending, count)
        P = 1 << (n - 1).bit_length()
        total = rows * P
        words = _pair_words(a.dtype.wgsl)
        if total >= 2**31 or words * total * 4 > self.rt.max_binding:
            raise RuntimeError(
                f"sort: {rows} rows of {n} elements pad to {total} (key, index) pairs, more than "
                f"the wgpu sort kernels address ({self.rt.max_binding} bytes per buffer)"
            )
        kept = [d for d in range(a.ndim) if d != dim]
        kept_shape, (kept_in, kept_out) = _merge_dims(
            [a.shape[d] for d in kept], [[a.strides[d] for d in kept], [values.strides[d] for d in kept]]
        )
        if len(kept_shape) > MAX_DIMS:
            raise RuntimeError(
                f"sort: the input view needs {len(kept_shape)} strided dimensions after merging; "
                f"the wgpu kernels support {MAX_DIMS} (call .contiguous() first)"
            )
        pad = [0] * (MAX_DIMS - len(kept_shape))
        pairs = self.empty((words * total,), int32)  # scratch, read as u32 words (int32: 4 bytes on every device)
        ti, kd = self.wgsl[a.dtype], len(kept_shape)

        def meta(**kw):
            v = {
                "total": total,
                "n": n,
                "P": P,
                "k": 0,
                "j": 0,
                "count": count,
                "descending": int(descending),
                "pairs_offset": pairs.offset,
                "in_offset": a.offset,
                "in_stride": a.strides[dim],
                "out_offset": values.offset,
                "idx_offset": indices.offset,
                "out_stride": values.strides[dim],
                "fused": 0,
                "_pad1": 0,
                "_pad2": 0,
            }
            v.update(kw)
            return [*(v[name] for name in SORT_PARAMS.names[:16]), *kept_shape, *pad, *kept_in, *pad, *kept_out, *pad]

        rt, st = self.rt, SORT_PARAMS.struct
        rt.dispatch(
            self._sort_pipeline("init", ti, kd, ("r", "rw")), (a.buffer, pairs.buffer), st, meta(), -(-total // WG)
        )
        local = self._sort_pipeline("local", ti, kd, ("rw",))
        step = self._sort_pipeline("global", ti, kd, ("rw",))
        blocks = -(-total // BLOCK)
        rt.dispatch(local, (pairs.buffer,), st, meta(), blocks)
        k = 2 * BLOCK
        while k <= P:
            j = k // 2
            while j >= BLOCK:
                if j >= 2 * BLOCK:  # two steps in one pass
                    rt.dispatch(step, (pairs.buffer,), st, meta(k=k, j=j, fused=1), -(-(total // 4) // WG))
                    j //= 4
                else:
                    rt.dispatch(step, (pairs.buffer,), st, meta(k=k, j=j), -(-(total // 2) // WG))
                    j //= 2
            rt.dispatch(local, (pairs.buffer,), st, meta(k=k), blocks)
            k *= 2
        outputs = rows * count
        rt.dispatch(
            self._sort_pipeline("finish", ti, kd, ("r", "r", "rw", "rw")),
            (a.buffer, pairs.buffer, values.buffer, indices.buffer),
            st,
            meta(total=outputs),
            -(-outputs // WG),
        )
        return values, indices

    def _sort_on_host(self, a: WgpuArray, dim: int, descending: bool, count: int):
        """Sort int64 stored as i64 with NumPy's stable sort: the kernels sort 32-bit keys, and an
        exact result is worth the round trip (one read, two uploads)."""
        host = self.to_numpy(a)
        # descending: ascending on the complement (~x = -x - 1 reverses the order exactly; -x would overflow)
        order = np.argsort(~host if descending else host, axis=dim, kind="stable")
        order = np.take(order, np.arange(count), axis=dim)
        return (self.from_numpy(np.take_along_axis(host, order, axis=dim), a.dtype),
                self.from_numpy(order.astype(np.int64), int64))

    def _zeros_index(self, shape):
        return self.elementwise("copy", [0], int64, int64, out=self.empty(shape, int64))

    def searchsorted(self, seq: WgpuArray, values: WgpuArray, right: bool, sorter):
        out = self.empty(values.shape, int64)
        if out.size == 0:
            return out
        m = seq.shape[-1]
        if m == 0:
            return self.elementwise("copy", [0], int64, int64, out=out)
        seq, values = self._contiguous(seq), self._contiguous(values)
        if values.dtype is not seq.dtype:
            values = self.elementwise("copy", [values], seq.dtype, seq.dtype)
        sorter = self._contiguous(sorter) if sorter is not None else None
        shared = seq.ndim == 1
        per_row = values.size if shared else values.size // (seq.size // m)
        p = self._sort_pipeline("search", self.wgsl[seq.dtype], 0, ("r", "r", "r", "rw"))
        vals = [
            values.size,
            per_row,
            m,
            int(shared),
            int(right),
            int(sorter is not None),
            seq.offset,
            values.offset,
            sorter.offset if sorter is not None else 0,
            out.offset,
        ]
        buffers = (seq.buffer, values.buffer, (sorter if sorter is not None else out).buffer, out.buffer)
        self.rt.dispatch(p, buffers, SEARCH_PARAMS.struct, vals, -(-values.size // WG))
        return out

    def _contiguous(self, a: WgpuArray) -> WgpuArray:
        return a if a.is_contiguous() else self.elementwise("copy", [a], a.dtype, a.dtype)


__all__ = ["SortOps"]
