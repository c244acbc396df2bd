"""Fused nn kernels on wgpu (``shaders/nn.wgsl``): cross-entropy / NLL and layer norm, forward and
backward. Same methods, arguments and results as the NumPy reference in ``_backends/array_nn.py``
(its docstring describes the layouts). float16/float32 compute in f32, float64 in f64 (kernels.py's
f64 mode; the statistics are then float64).

Row kernels give each row TPR threads ("lanes") of a 64-wide workgroup and combine the lanes'
partial sums in workgroup memory. On a GPU, TPR grows with the row length (short rows such as 10
classes take one lane, long rows a whole workgroup). On a software adapter one lane per row is
fastest: lavapipe runs a workgroup as SIMD loops on one core and every barrier splits them
(measured, layer norm 512x768 fwd: 8.6 ms with 1 lane, 17 ms with 64; 8x50000: 4 ms vs 11 ms).
"""

from __future__ import annotations

import numpy as np

from ..._dtype import float32, float64
from .array import WgpuArray
from .kernels import specialise
from .params import ParamBlock

WG = 64
AFFINE_CHUNK = 256  # rows summed by one thread of the layer-norm weight/bias gradient
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1
PARAMS = ParamBlock(
    "rows: u32  // rows (cross-entropy: outer * inner; layer norm: leading elements)",
    "cols: u32  // classes / normalised size",
    "inner: u32  // cross-entropy: elements after the class dim (the class stride)",
    "numel: u32  // element kernels: number of threads with work",
    "off: array<u32, 8>  // element offset of the view bound at binding k + 1 (tensors share pages)",
    "ignore_index: i32",
    "err_code: u32  // the code a kernel reports bad input with (runtime error buffer, word 0)",
    "_pad_i1: u32", "_pad_i2: u32",
    "eps: f32  // layer norm epsilon",
    "smoothing: f32  // label smoothing",
    "_pad_f0: f32", "_pad_f1: f32",
)
META = PARAMS.struct
META64 = PARAMS.widened().struct  # float64 kernels: eps and smoothing as doubles (kernels.py's f64 mode)
ERR_TARGET = 0x201  # error buffer code for an out-of-range class target
_FLAGS = ("LOG_SOFTMAX", "SMOOTH", "HAS_WEIGHT", "HAS_BIAS", "PER_ROW")


#: One lane per row on software adapters (see the module docstring). Tests switch it off to run
#: the multi-lane reductions that hardware adapters use.
ONE_LANE_ON_SOFTWARE = True


def threads_per_row(n: int, software: bool = False) -> int:
    """Lanes per row: a power of two giving each lane about 16 elements, at most WG (one lane
    on a software adapter)."""
    if software and ONE_LANE_ON_SOFTWARE:
        return 1
    tpr = 1
    while tpr < WG and tpr * 16 < n:
        tpr *= 2
    return tpr


def kernel_source(kernel: str, tx: str, tpr: int, flags: frozenset, tt: str = "i32") -> str:
    """nn.wgsl specialised, with only ``kernel``'s section kept; ``tt``: the targets' storage type
    (i32, or i64 for int64 on a device with shader-int64)."""
    consts = {"WG": WG, "TPR": tpr, **{f: f in flags for f in _FLAGS}}
    return specialise("nn", {"TX": tx, "TT": tt}, consts, section=kernel, params=PARAMS, f64=tx == "f64",
                      i64=tt == "i64")


def target_error(words) -> IndexError:
    """The exception for an out-of-range target reported by the cross-entropy kernel."""
    value, classes, row = int(words[1]), int(words[2]), int(words[3])
    value = value - (1 << 32) if value >= 1 << 31 else value
    return IndexError(f"Target {value} is out of bounds. (cross_entropy / nll_loss on wgpu, row {row}, "
                      f"{classes} classes; reported at the first read or synchronize after the op, as "
                      "device-side errors are)")


class NNOps:
    """Mixin for `WgpuBackend`: the fused nn ops."""

    def _nn_run(self, kernel: str, tx: str, tpr: int, flags: frozenset, arrays: list, sizes: tuple,
                ints: tuple, floats: tuple, groups: int) -> None:
        """Dispatch ``kernel`` over ``arrays`` (bound at 1.., each addressed from its offset);
        ``sizes`` = (rows, cols, inner, numel), ``ints`` = (ignore_index, err_code)."""
        rt = self.rt
        buffers = [a.buffer for a in arrays]
        offsets = [a.offset for a in arrays] + [0] * (8 - len(arrays))
        if ints[1]:  # the kernel reports bad input through the runtime's error buffer
            buffers.append(rt.error_buffer())
            rt.error_decoders.setdefault(ints[1], target_error)
        tt = self.wgsl[arrays[1].dtype] if kernel.startswith("ce_") else "i32"  # (cross-entropy's targets)
        key = ("nn", kernel, tx, tpr, flags, tt)
        p = rt.pipeline(key, lambda: kernel_source(kernel, tx, tpr, flags, tt), ("rw",) * len(buffers),
                        f"nn:{kernel}")
        values = [*sizes, *offsets, _clamp_i32(ints[0]), ints[1], 0, 0, *floats, 0.0, 0.0]
        rt.dispatch(p, tuple(buffers), META64 if tx == "f64" else META, values, groups)

    def _dense(self, a: WgpuArray) -> WgpuArray:
        """``a`` itself when it is contiguous (any offset), else a contiguous copy."""
        return a if a.contiguous else self.elementwise("copy", [a], a.dtype, a.dtype)

    # -- cross-entropy / NLL -----------------------------------------------------------------------
    def cross_entropy_forward(self, x, target, weight, outer: int, classes: int, inner: int,
                              ignore_index: int, label_smoothing: float, log_softmax: bool):
        x, target = self._dense(x), self._dense(target)
        weight = self._dense(weight) if weight is not None else None
        rows = outer * inner
        loss = self.empty((rows,), x.dtype)
        wt = self.empty((rows,), x.dtype)
        stats = self.empty((rows, 2), _stats_dtype(x))
        if rows == 0:
            return loss, wt, stats
        tpr = threads_per_row(classes, self.rt.is_software)
        flags = frozenset(name for name, on in (("LOG_SOFTMAX", log_softmax),
                                                ("SMOOTH", log_softmax and label_smoothing > 0),
                                                ("HAS_WEIGHT", weight is not None)) if on)
        w = weight if weight is not None else x  # bound in its place, never read
        self._nn_run("ce_forward", x.dtype.wgsl, tpr, flags, [x, target, w, loss, wt, stats],
                     (rows, classes, inner, 0), (ignore_index, ERR_TARGET), (0.0, float(label_smoothing)),
                     -(-rows // (WG // tpr)))
        return loss, wt, stats

    def cross_entropy_backward(self, x, target, weight, stats, grad, per_row: bool, outer: int, classes: int,
                               inner: int, ignore_index: int, label_smoothing: float, log_softmax: bool):
        x, target, stats = self._dense(x), self._dense(target), self._dense(stats)
        weight = self._dense(weight) if weight is not None else None
        grad = self._dense(grad) if per_row else grad  # one value: any strides will do
        gx = self.empty(x.shape, x.dtype)
        if gx.size == 0:
            return gx
        flags = frozenset(name for name, on in (("LOG_SOFTMAX", log_softmax),
                                                ("HAS_WEIGHT", weight is not None),
                                                ("PER_ROW", per_row)) if on)
        w = weight if weight is not None else x
        self._nn_run("ce_backward", x.dtype.wgsl, 1, flags, [x, target, w, stats, grad, gx],
                     (outer * inner, classes, inner, gx.size), (ignore_index, 0),
                     (0.0, float(label_smoothing)), -(-gx.size // WG))
        return gx

    # -- layer norm --------------------------------------------------------------------------------
    def layer_norm_forward(self, x, weight, bias, rows: int, size: int, eps: float):
        x = self._dense(x)
        weight = self._dense(weight) if weight is not None else None
        bias = self._dense(bias) if bias is not None else None
        y = self.empty(x.shape, x.dtype)
        stats = self.empty((rows, 2), _stats_dtype(x))
        if rows == 0 or size == 0:
            return y, stats
        tpr = threads_per_row(size, self.rt.is_software)
        flags = frozenset(name for name, on in (("HAS_WEIGHT", weight is not None),
                                                ("HAS_BIAS", bias is not None)) if on)
        w = weight if weight is not None else x
        b = bias if bias is not None else x
        self._nn_run("ln_forward", x.dtype.wgsl, tpr, flags, [x, w, b, y, stats], (rows, size, 0, 0),
                     (0, 0), (float(eps), 0.0), -(-rows // (WG // tpr)))
        return y, stats

    def layer_norm_backward(self, grad, x, weight, stats, rows: int, size: int, need_affine: bool):
        grad, x, stats = self._dense(grad), self._dense(x), self._dense(stats)
        weight = self._dense(weight) if weight is not None else None
        gx = self.empty(x.shape, x.dtype)
        dw = self.empty((size,), x.dtype) if need_affine else None
        db = self.empty((size,), x.dtype) if need_affine else None
        if size == 0:
            return gx, dw, db
        if rows:
            tpr = threads_per_row(size, self.rt.is_software)
            flags = frozenset(("HAS_WEIGHT",)) if weight is not None else frozenset()
            w = weight if weight is not None else x
            self._nn_run("ln_backward", x.dtype.wgsl, tpr, flags, [grad, x, w, stats, gx],
                         (rows, size, 0, 0), (0, 0), (0.0, 0.0), -(-rows // (WG // tpr)))
        if need_affine and rows == 0:  # sums over no rows
            zeros = np.zeros(size, np.float32)
            return gx, self.from_numpy(zeros, x.dtype), self.from_numpy(zeros, x.dtype)
        if need_affine:
            chunks = -(-rows // AFFINE_CHUNK)
            parts = self.empty((2, chunks, size), _stats_dtype(x))  # per-chunk sums, then summed over the chunks
            dw_part, db_part = (self.getitem(parts, (i,)) for i in (0, 1))
            self._nn_run("ln_affine_backward", x.dtype.wgsl, 1, frozenset(), [grad, x, stats, dw_part, db_part],
                         (rows, size, AFFINE_CHUNK, size), (0, 0), (0.0, 0.0), -(-chunks * size // WG))
            dw, db = (self.reduce("sum", p, (0,), False, out_dtype=x.dtype) for p in (dw_part, db_part))
        return gx, dw, db


def _stats_dtype(x):
    """The kernels' arithmetic type, which their statistics keep: float64 for float64 (f64 kernels)."""
    return float64 if x.dtype is float64 else float32


def _clamp_i32(v: int) -> int:
    return max(_I32_MIN, min(_I32_MAX, int(v)))


__all__ = ["NNOps", "threads_per_row", "kernel_source", "target_error"]
