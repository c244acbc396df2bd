"""Index ops on wgpu: index_select, gather and scatter_add (``shaders/index.wgsl``; float64
scatter_add by scatter.py's lines kernel, as WGSL has no 64-bit atomics).

Inputs may be strided views; index tensors are int32 or int64 (i32, or i64 where the device stores int64 natively). The
iteration space is merged like the elementwise kernels' (size-1 dims dropped, neighbours that
every operand walks contiguously fused), so most calls run with one or two dims.

Bad indices are reported from the device, not checked on the host: a negative or too large
index is never used to address memory (the element gets 0, or nothing is added), the kernel
records it in its own slot of the runtime's error buffer, and the next ``read`` or
``synchronize`` raises PyTorch's cpu exception naming the op (every op, when several failed):
``IndexError("index out of range in self ...")`` for index_select, except along dim 1 of a
tensor of 2+ dims (RuntimeError "INDICES element is out of DATA bounds", PyTorch's other cpu
kernel); RuntimeError for gather and scatter_add. Each case has its own error code, so that an
op built on these (``x[:, idx]``, put_) can ask for IndexError on every dim (``index_error``).
The report is therefore deferred, like CUDA's device-side asserts: it surfaces at the next
``.item()``, ``.numpy()``, print or ``synchronize()``, possibly after later ops were recorded
(their results are computed from clamped indices), and the device keeps working afterwards.

Where no kernel would run over the index (the indexed dimension is empty, so every index is
bad; or index_select's output is empty), the check is made at once on the host, with PyTorch's
exception for that case (RuntimeError), so the error is not left for an unrelated later read.
"""

from __future__ import annotations

from ..._dtype import bool_, dtype
from .array import WgpuArray
from .elementwise import _merge_dims
from .kernels import specialise
from .params import ParamBlock

WG = 64
MAX_DIMS = 8
PARAMS = ParamBlock(
    "numel: u32  // threads that do work: elements of the iteration space",
    "dim_size: u32  // valid indices are 0 .. dim_size - 1",
    "dim_stride: u32  // the target's stride along dim",
    "code: u32  // the error code this kernel reports (nonzero)",
    "dim: u32  // reported with the error",
    "out_offset: u32  // index_select/gather: out's first element",
    "err_slot: u32  // this dispatch's 4 words in err",
    "_pad1: u32",
    "offset: array<u32, 4>  // target, index, other, unused",
    "shape: array<u32, 8>",
    "stride: array<array<u32, 8>, 3>  // target, index, other",
)
META = PARAMS.struct

# Error codes this family writes into the runtime's error buffer (word 0).
_CODES = {"index_select": 0x101, "gather": 0x102, "scatter_add": 0x103, "index_select_dim1": 0x104,
          "scatter_add_index": 0x105}
_NAMES = {code: name for name, code in _CODES.items()}


def _error_code(op: str, dim: int, ndim: int, index_error: bool) -> int:
    """The code a dispatch of ``op`` reports a bad index with (index_error decides its type)."""
    if op == "index_select" and dim == 1 and ndim > 1 and not index_error:
        return _CODES["index_select_dim1"]
    if op == "scatter_add" and index_error:
        return _CODES["scatter_add_index"]
    return _CODES[op]


def _store_section(op: str, dt: dtype, to: str) -> str:
    """The ``//@kernel`` section of index.wgsl that defines ``store`` for ``op`` on ``dt`` (stored as ``to``)."""
    if op != "scatter_add":
        return "gather"
    if dt is bool_:
        return "scatter_bool"
    return {"f32": "scatter_f32", "f16": "scatter_f16", "i32": "scatter_int", "i64": "scatter_int64"}[to]


def _source(op: str, dt: dtype, to: str, ti: str, ndim: int) -> str:
    """``to``: the storage type of data/out; ``ti``: the index's (i32, or i64 for native int64)."""
    out_type = to if op != "scatter_add" else "atomic<u32>"
    return specialise("index", {"TO": to, "TOUT": out_type, "TI": ti}, {"NDIM": ndim, "WG": WG},
                      section=_store_section(op, dt, to), params=PARAMS, i64="i64" in (to, ti))


def index_error(words) -> Exception:
    """The exception for an error word block written by an index kernel (see index.wgsl), of
    PyTorch's cpu type (see the module docstring)."""
    code, value, size, dim = (int(w) for w in words[:4])
    value = value - (1 << 32) if value >= 1 << 31 else value
    op = _NAMES.get(code, "an index kernel")
    where = "(reported at the first read or synchronize after the op, as device-side errors are)"
    if op in ("gather", "scatter_add"):
        return RuntimeError(f"index {value} is out of bounds for dimension {dim} with size {size}: {op} on wgpu "
                            f"{where}")
    if op == "index_select_dim1":
        return RuntimeError(f"INDICES element is out of DATA bounds, id={value} axis_dim={size}: index_select "
                            f"along dimension {dim} on wgpu {where}")
    if op == "scatter_add_index":
        return IndexError(f"index {value} is out of bounds for dimension {dim} with size {size}: scatter_add on "
                          f"wgpu {where}")
    return IndexError(f"index out of range in self: {op} on wgpu met index {value} for dimension {dim} of size "
                      f"{size} {where}")


_decode_index_error = index_error  # (methods whose index_error parameter shadows the name)


class IndexOps:
    """Mixin for `WgpuBackend`: index_select, gather and scatter_add."""

    def index_select(self, a: WgpuArray, dim: int, index: WgpuArray, index_error: bool = False) -> WgpuArray:
        shape = a.shape[:dim] + (index.size,) + a.shape[dim + 1:]
        self._check_eagerly("index_select", a, dim, index, shape, index_error)
        out = self.empty(shape, a.dtype)
        index_strides = [0] * a.ndim
        index_strides[dim] = index.strides[0] if index.ndim else 0
        code = _error_code("index_select", dim, a.ndim, index_error)
        self._index_dispatch("index_select", out, a, dim, index, index_strides, shape, a, None, code)
        return out

    def gather(self, a: WgpuArray, dim: int, index: WgpuArray) -> WgpuArray:
        self._check_eagerly("gather", a, dim, index, index.shape)
        out = self.empty(index.shape, a.dtype)
        self._index_dispatch("gather", out, a, dim, index, list(index.strides), index.shape, a, None, _CODES["gather"])
        return out

    def scatter_add(self, a: WgpuArray, dim: int, index: WgpuArray, src: WgpuArray,
                    index_error: bool = False) -> WgpuArray:
        self._check_eagerly("scatter_add", a, dim, index, index.shape, index_error)
        out = self.elementwise("copy", [a], a.dtype, a.dtype)  # a new contiguous array
        code = _error_code("scatter_add", dim, a.ndim, index_error)
        if out.dtype.wgsl == "f64":  # no 64-bit float atomics: scatter.py's lines kernel (exact, in order)
            self.scatter_lines("sum", out, dim, index, src, code, _decode_index_error)
            return out
        self._index_dispatch("scatter_add", out, src, dim, index, list(index.strides), index.shape, out, src, code)
        return out

    def _check_eagerly(self, op: str, a: WgpuArray, dim: int, index: WgpuArray, shape, index_error=False) -> None:
        """Raise now for bad indices no kernel would see (PyTorch's messages and types)."""
        if index.size == 0:
            return
        size = a.shape[dim]
        kind = IndexError if index_error else RuntimeError
        if size == 0:  # every index is out of range
            if op == "index_select":
                raise kind("index_select(): self indexing axis dim should be positive (dimension "
                                   f"{dim} of self {list(a.shape)} is empty, so no index is valid)")
            raise kind(f"{op}(): index is out of bounds for dimension {dim} with size 0 (self "
                               f"{list(a.shape)} is empty along it, so no index is valid)")
        if 0 in shape:  # index_select with another dim empty: the kernel would have no threads
            values = self.to_numpy(index)
            bad = values[(values < 0) | (values >= size)]
            if bad.size:
                raise kind(f"index_select(): index {int(bad[0])} is out of bounds for dimension "
                                   f"{dim} with size {size}")

    def _index_dispatch(self, op, out, data, dim, index, index_strides, shape, target, other, code) -> None:
        """One kernel over ``shape``: ``target`` is addressed by the index along ``dim``;
        ``other`` (scatter_add's src) is walked alongside it; ``data`` is bound at binding 2."""
        numel = 1
        for n in shape:
            numel *= n
        if numel == 0:
            return
        target_strides = list(target.strides)
        dim_stride = target_strides[dim]
        target_strides[dim] = 0  # the index value takes this dim's place
        other_strides = list(other.strides) if other is not None else [0] * len(shape)
        strides = [target_strides, list(index_strides), other_strides]
        dims, merged = _merge_dims(shape, strides)
        if len(dims) > MAX_DIMS:
            raise RuntimeError(f"{op}: the operands need {len(dims)} strided dimensions after merging; "
                               f"the wgpu kernels support {MAX_DIMS} (call .contiguous() first)")
        ndim = len(dims)
        rt = self.rt
        dt = out.dtype
        to, ti = self.wgsl[dt], self.wgsl[index.dtype]
        p = rt.pipeline(("index", op, dt, to, ti, ndim), lambda: _source(op, dt, to, ti, ndim),
                        ("rw", "r", "r", "rw"), f"index:{op}")
        if code not in rt.error_decoders:
            rt.error_decoders[code] = index_error
        pad = (0,) * (MAX_DIMS - ndim)
        buffers = (out.buffer, data.buffer, index.buffer, rt.error_buffer())
        with rt.lock:  # no check may recycle the slot before the dispatch is recorded
            values = [numel, target.shape[dim], dim_stride, code, dim, out.offset, rt.error_slot(), 0,
                      target.offset, index.offset, other.offset if other is not None else 0, 0,
                      *dims, *pad]
            for st in merged:
                values += st
                values += pad
            rt.dispatch(p, buffers, META, values, -(-numel // WG))


__all__ = ["IndexOps", "index_error"]
