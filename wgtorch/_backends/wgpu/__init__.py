"""The wgpu backend: the op protocol (`..protocol.Backend`) on WGSL compute shaders.

Each kernel family is a mixin in its own file, beside its ``shaders/<family>.wgsl`` (elementwise.py,
reduce.py, matmul.py, index.py, random.py, scan.py, scatter.py, sort.py, attention.py, norm.py ...),
and a base class of `WgpuBackend`; a new family is one more base there. This file holds what is not
a kernel: moving data, creation and views.
"""

from __future__ import annotations

import os

import numpy as np

from ..._dtype import ALL, bool_, dtype, float16, float64, int64
from ..protocol import check_strided_bounds
from .array import WgpuArray, contiguous_strides
from .attention import AttentionOps  # optional fused attention (protocol.OPTIONAL): shaders/attention.wgsl
from .conv import ConvOps  # the optional fused convolution (protocol.FusedConv)
from .eager import EagerOps  # -- the eager path (elementwise_plan) --
from .elementwise import ElementwiseOps
from .index import IndexOps
from .matmul import MatmulOps
from .nn import NNOps
from .norm import NormOps  # optional one-pass batch-norm statistics: shaders/norm.wgsl
from .optim import OptimOps
from .pool import bucket_size
from .random import RandomOps
from .reduce import ReduceOps
from .rnn import RNNOps
from .runtime import Runtime, Storage
from .scan import ScanOps  # scans (cumsum, cumprod, cummax/cummin, logcumsumexp): shaders/scan.wgsl
from .scatter import ScatterOps  # scatter with a reduction, nonzero: shaders/scatter.wgsl
from .sort import SortOps  # sorting (sort, searchsorted)

_I32 = np.iinfo(np.int32)


_STORAGE_NP = {"f32": np.dtype(np.float32), "i32": np.dtype(np.int32), "u32": np.dtype(np.uint32),
               "f16": np.dtype(np.float16), "f64": np.dtype(np.float64), "i64": np.dtype(np.int64)}


def storage_np_dtype(dt: dtype, wgsl: dict) -> np.dtype:
    """The NumPy dtype of the bytes a wgpu backend stores for ``dt``; ``wgsl``: that backend's
    storage types (`WgpuBackend.wgsl`: int64 is i64 or i32 by the adapter)."""
    return _STORAGE_NP[wgsl[dt]]


def int64_native(features) -> bool:
    """Whether int64 tensors are stored as WGSL i64 on a device with ``features``: where it has
    shader-int64, unless WGTORCH_WGPU_INT64=int32-storage asks for the 32-bit storage."""
    return "shader-int64" in features and os.environ.get("WGTORCH_WGPU_INT64", "native") != "int32-storage"


# ScatterOps comes before IndexOps so that its scatter/nonzero are the ones used.
_KERNEL_MIXINS = (ScatterOps, ScanOps, ElementwiseOps, ReduceOps, MatmulOps, IndexOps, RandomOps, OptimOps, NNOps,
                  RNNOps, SortOps, ConvOps, AttentionOps, NormOps, EagerOps)


class WgpuBackend(*_KERNEL_MIXINS):
    name = "wgpu"

    def __init__(self, index: int = 0):
        self.rt = Runtime(index)
        # Each dtype's WGSL storage type on this device: int64 is i64 where the adapter has
        # shader-int64 ("native"), else i32 with uploads range-checked ("int32-storage"). The global
        # dtype keeps the 32-bit fallback: two adapters may differ.
        self.int64_mode = "native" if int64_native(self.rt.features) else "int32-storage"
        self.wgsl = {d: d.wgsl for d in ALL}
        if self.int64_mode == "native":
            self.wgsl[int64] = "i64"
        self._empty_layouts: dict = {}  # (shape, dtype) -> what `empty` needs (see _empty_layout)
        self._ew_plans: dict = {}  # elementwise calls' static parts (see elementwise.py)

    def check_dtype(self, dt: dtype) -> None:
        if self.wgsl[dt] is None:
            if dt.name == "bfloat16":
                raise TypeError("bfloat16 is not supported on wgpu (WGSL has no bf16 type); use float16 or float32, "
                                "or keep this tensor on the cpu device")
            raise TypeError(f"{dt} is not supported on wgpu; use int32 or float32")
        if dt is float16 and "shader-f16" not in self.rt.features:
            raise TypeError(f"float16 needs the shader-f16 feature, which {self.rt.name} lacks")
        if dt is float64 and "shader-f64" not in self.rt.features:
            raise TypeError(f"float64 on wgpu needs the adapter feature shader-f64, which {self.rt.name} lacks "
                            "(or it was disabled by WGTORCH_WGPU_DISABLE_FEATURES). Use float32 (.float()) "
                            "or keep this tensor on the cpu device")

    # -- moving data ---------------------------------------------------------------------------
    def empty(self, shape, dt: dtype) -> WgpuArray:
        if type(shape) is not tuple:
            shape = tuple(shape)
        layout = self._empty_layouts.get((shape, dt))
        if layout is None:
            layout = self._empty_layout(shape, dt)
        size, strides, bucket, itemsize = layout
        storage = Storage.bucketed(self.rt, bucket, size * itemsize)
        # Offsets are in elements from the start of the (possibly shared) buffer the kernels bind.
        return WgpuArray.fresh(storage, shape, strides, storage.block.offset // itemsize, dt, size)

    def _empty_layout(self, shape: tuple, dt: dtype) -> tuple:
        """(numel, strides, pool bucket, itemsize) of a new contiguous ``dt`` array of ``shape``,
        checked once and cached: `empty` is on every op's path."""
        self.check_dtype(dt)
        n = 1
        for d in shape:
            n *= d
        itemsize = storage_np_dtype(dt, self.wgsl).itemsize
        nbytes = n * itemsize
        if nbytes > self.rt.max_binding:
            raise RuntimeError(
                f"a {dt} tensor of shape {shape} needs {nbytes} bytes, more than {self.rt.name}'s "
                f"max storage buffer binding size ({self.rt.max_binding} bytes)")
        layout = (n, contiguous_strides(shape), bucket_size(max(nbytes, 4)), itemsize)
        if len(self._empty_layouts) >= 4096:  # shapes seen once in a while must not pile up
            self._empty_layouts.clear()
        self._empty_layouts[(shape, dt)] = layout
        return layout

    def from_numpy(self, a: np.ndarray, dt: dtype) -> WgpuArray:
        out = self.empty(a.shape, dt)
        native64 = dt is int64 and self.int64_mode == "native"
        host = a.astype(storage_np_dtype(dt, self.wgsl), copy=False) if (dt is not int64 or native64) and \
            dt is not bool_ else None
        if dt is int64 and not native64:
            if a.size and (a.min() < _I32.min or a.max() > _I32.max):
                raise OverflowError("int64 values outside the int32 range can't go to wgpu: WGSL "
                                    "stores int64 tensors as 32-bit integers")
            host = a.astype(np.int32)
        elif dt is bool_:
            host = a.astype(np.uint32)
        if out.size:
            data = np.ascontiguousarray(host).tobytes()
            data += b"\0" * (-len(data) % 4)
            self.rt.write(out.buffer, out.storage.block.offset, data, fresh=True)
        return out

    def write_numpy(self, a: WgpuArray, host: np.ndarray) -> bool:
        """Overwrite the contiguous array ``a`` in place with ``host`` (same shape): one upload, no
        kernel. False where that can't be done (strided views, int64/bool, unaligned bytes)."""
        if not a.contiguous or (a.dtype is int64 and self.int64_mode != "native") or a.dtype is bool_ \
                or a.size == 0 or host.shape != a.shape:
            return False
        sd = storage_np_dtype(a.dtype, self.wgsl)
        data = np.ascontiguousarray(host, dtype=sd).tobytes()
        start = a.offset * sd.itemsize
        if start % 4 or len(data) % 4:
            return False
        self.rt.write(a.buffer, start, data)
        return True

    def to_numpy(self, a: WgpuArray) -> np.ndarray:
        sd = storage_np_dtype(a.dtype, self.wgsl)
        if a.size == 0:
            return np.empty(a.shape, a.dtype.np)
        start, stop = a.span()
        raw = self.rt.read(a.buffer, start * sd.itemsize, (stop - start) * sd.itemsize).view(sd)
        view = np.lib.stride_tricks.as_strided(raw, a.shape, [s * sd.itemsize for s in a.strides])
        if a.dtype is bool_:
            return view != 0
        return view.astype(a.dtype.np)  # copies: the caller owns the result

    def arange(self, start, step, n, dt: dtype) -> WgpuArray:
        compute = dt if self.wgsl[dt] != "u32" else int64
        return self.elementwise("arange", [start, step], compute, dt, out=self.empty((n,), dt))

    # -- views ---------------------------------------------------------------------------------
    def strides(self, a: WgpuArray) -> tuple:
        return a.strides

    def reshape(self, a: WgpuArray, shape: tuple):
        if a.is_contiguous():
            return a.view(shape, contiguous_strides(shape), a.offset)
        strides = _reshape_strides(a.shape, a.strides, shape)
        return None if strides is None else a.view(shape, strides, a.offset)

    def permute(self, a: WgpuArray, dims: tuple) -> WgpuArray:
        return a.view([a.shape[d] for d in dims], [a.strides[d] for d in dims], a.offset)

    def expand(self, a: WgpuArray, shape: tuple) -> WgpuArray:
        pad = len(shape) - a.ndim
        strides = [0] * pad + [0 if n == 1 and m != 1 else s
                               for n, m, s in zip(a.shape, shape[pad:], a.strides)]
        return a.view(shape, strides, a.offset)

    def getitem(self, a: WgpuArray, key: tuple) -> WgpuArray:
        """Basic indexing with ints, slices (start/stop already clamped, step > 0) and None."""
        shape, strides, offset, d = [], [], a.offset, 0
        for k in key:
            if k is None:
                shape.append(1)
                strides.append(0)
            elif isinstance(k, slice):
                start, stop, step = k.indices(a.shape[d])
                n = max(0, -(-(stop - start) // step))
                offset += start * a.strides[d] if n else 0
                shape.append(n)
                strides.append(a.strides[d] * step)
                d += 1
            else:
                offset += k * a.strides[d]
                d += 1
        shape += a.shape[d:]
        strides += a.strides[d:]
        return a.view(shape, strides, offset)

    # -- strided views (as_strided, unfold, diagonal) ------------------------------------------
    def storage_offset(self, a: WgpuArray) -> int:
        return a.offset - a.storage.block.offset // storage_np_dtype(a.dtype, self.wgsl).itemsize

    def as_strided(self, a: WgpuArray, shape: tuple, strides: tuple, offset: int) -> WgpuArray:
        item = storage_np_dtype(a.dtype, self.wgsl).itemsize
        size = a.storage.nbytes // item
        check_strided_bounds(shape, strides, offset, size, a.dtype.itemsize)
        n = 1
        for d in shape:
            n *= d
        if n > _I32.max:  # (overlapping views can be larger than their storage; kernels index in 32 bits)
            raise RuntimeError(f"as_strided: a view of {n} elements is more than wgpu's kernels can index (2**31 - 1)")
        return a.view(shape, strides, a.storage.block.offset // item + offset)

    def same_storage(self, a: WgpuArray, b: WgpuArray) -> bool:
        return a.storage is b.storage

    def synchronize(self) -> None:
        self.rt.synchronize()


def _reshape_strides(old_shape, old_strides, new_shape):
    """Strides that view (old_shape, old_strides) as new_shape without a copy, or None.

    Splits the old shape into chunks that are contiguous in memory and maps each chunk onto
    the new dims that multiply to the same size (the rule PyTorch's ``view`` uses)."""
    old = [(n, s) for n, s in zip(old_shape, old_strides) if n != 1]
    new_strides = [0] * len(new_shape)
    i = j = 0
    while i < len(old) or j < len(new_shape):
        if j < len(new_shape) and new_shape[j] == 1:
            new_strides[j] = 1
            j += 1
            continue
        if i >= len(old) or j >= len(new_shape):
            return None
        # Take a run of old dims that are contiguous with each other.
        size = old[i][0]
        while i + 1 < len(old) and old[i][1] == old[i + 1][0] * old[i + 1][1]:
            i += 1
            size *= old[i][0]
        i += 1
        # Spread it over new dims whose product is that size.
        stride = old[i - 1][1]
        j0 = j
        prod = 1
        while j < len(new_shape) and prod < size:
            prod *= new_shape[j]
            j += 1
        if prod != size:
            return None
        for k in range(j - 1, j0 - 1, -1):
            new_strides[k] = stride
            stride *= new_shape[k]
        while j < len(new_shape) and new_shape[j] == 1:
            new_strides[j] = 1
            j += 1
    return tuple(new_strides)
