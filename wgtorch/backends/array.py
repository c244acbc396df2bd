"""The NumPy ("cpu") and CuPy ("cuda") backends: one implementation over an array module ``xp``.

It is also the reference the WGSL kernels are tested against, so each op here is the plainest
correct NumPy expression of PyTorch's semantics.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

import numpy as np

from .._dtype import bool_, dtype, int64
from . import random as _random
from .array_nn import ArrayNNOps
from .array_optim import ArrayOptimOps
from .array_reduce import ArrayReduceOps
from .array_rnn import ArrayRNNOps

_ERF_FREE_GELU_C = float(np.sqrt(2.0 / np.pi))

try:  # NumPy 2: switch to one prebuilt "ignore" error state; np.errstate builds one a call (0.7 us)
    from numpy._core._multiarray_umath import _extobj_contextvar, _make_extobj

    _IGNORE_ALL = _make_extobj(all="ignore")

    def call_quietly(fn, *args):
        """``fn(*args)`` under ``np.errstate(all="ignore")``: NaN and Inf propagate silently, as in
        PyTorch."""
        token = _extobj_contextvar.set(_IGNORE_ALL)
        try:
            return fn(*args)
        finally:
            _extobj_contextvar.reset(token)
except ImportError:  # NumPy 1.x

    def call_quietly(fn, *args):
        """``fn(*args)`` under ``np.errstate(all="ignore")``."""
        with np.errstate(all="ignore"):
            return fn(*args)


def _erf(xp, x):
    # NumPy has no erf; Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the same formula the
    # WGSL kernel uses, so cpu and wgpu agree to float32 rounding. (On CUDA, float32/float64
    # erf and gelu run as one kernel with CUDA's erf: see array_cuda.py.)
    s = xp.sign(x)
    a = xp.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * xp.exp(-a * a)
    return (s * y).astype(x.dtype, copy=False)


def _table(xp):
    """op name -> function of (already converted) operands."""

    def where(c, a, b):
        return xp.where(c.astype(bool, copy=False) if hasattr(c, "astype") else bool(c), a, b)

    def clamp(x, lo, hi):
        # NaN in x propagates (PyTorch); NumPy's clip does the same.
        if lo is not None:
            x = xp.where(x < lo, lo, x)
        if hi is not None:
            x = xp.where(x > hi, hi, x)
        return x

    def softplus(x, beta, threshold):
        bx = x * beta
        return xp.where(bx > threshold, x, xp.logaddexp(0, bx) / beta)

    def tanh_gelu(x):
        return 0.5 * x * (1 + xp.tanh(_ERF_FREE_GELU_C * (x + 0.044715 * x * x * x)))

    def floor_divide(a, b):
        return xp.floor_divide(a, b)

    return {
        "copy": lambda x: x.copy() if hasattr(x, "copy") else x,
        "neg": xp.negative, "abs": xp.abs, "exp": xp.exp, "log": xp.log,
        "sqrt": xp.sqrt, "rsqrt": lambda x: 1 / xp.sqrt(x), "sin": xp.sin, "cos": xp.cos,
        "tanh": xp.tanh, "sigmoid": lambda x: 1 / (1 + xp.exp(-x)),
        "relu": lambda x: xp.maximum(x, x.dtype.type(0)),  # maximum keeps NaN, as PyTorch's relu
        "gelu": lambda x: 0.5 * x * (1 + _erf(xp, x * np.float32(0.7071067811865476))),
        "gelu_tanh": tanh_gelu, "erf": lambda x: _erf(xp, x), "silu": lambda x: x / (1 + xp.exp(-x)),
        "reciprocal": lambda x: 1 / x, "sign": xp.sign, "floor": xp.floor, "ceil": xp.ceil,
        "round": xp.round, "trunc": xp.trunc, "square": xp.square, "log1p": xp.log1p,
        "expm1": xp.expm1, "isnan": xp.isnan, "isinf": xp.isinf, "isfinite": xp.isfinite,
        "logical_not": xp.logical_not,
        "softplus": softplus,
        "leaky_relu": lambda x, s: xp.where(x >= 0, x, x * s),
        "elu": lambda x, a: xp.where(x > 0, x, a * xp.expm1(xp.minimum(x, 0))),
        "clamp": clamp,
        "add": xp.add, "sub": xp.subtract, "mul": xp.multiply, "div": xp.true_divide,
        "pow": xp.power, "maximum": xp.maximum, "minimum": xp.minimum,
        "floor_divide": floor_divide, "remainder": xp.remainder, "atan2": xp.arctan2,
        "eq": xp.equal, "ne": xp.not_equal, "lt": xp.less, "le": xp.less_equal,
        "gt": xp.greater, "ge": xp.greater_equal, "logical_and": xp.logical_and,
        "logical_or": xp.logical_or, "logical_xor": xp.logical_xor,
        "where": where, "lerp": lambda a, b, w: a + w * (b - a),
    }


# Ops that rarely raise floating-point warnings skip even call_quietly; an overflow to inf in
# add/sub/mul may print NumPy's RuntimeWarning, once per place, as NumPy does.
_QUIET = {"add", "sub", "mul", "copy", "neg", "abs", "eq", "ne", "lt", "le", "gt", "ge", "isnan",
          "isinf", "isfinite", "logical_not", "logical_and", "logical_or", "logical_xor", "where", "relu", "maximum",
          "minimum", "clamp"}


class ArrayBackend(ArrayOptimOps, ArrayReduceOps, ArrayNNOps, ArrayRNNOps):
    """The op protocol (`protocol.Backend`) over a NumPy-compatible module."""

    def __init__(self, xp, name: str):
        self.xp = xp
        self.name = name
        self._ops = _table(xp)

    def check_dtype(self, dt: dtype) -> None:
        """Every dtype works here."""

    # -- moving data ---------------------------------------------------------------------------
    def from_numpy(self, a, dt: dtype):
        if self.xp is np:
            return np.array(a, dtype=dt.np, copy=True)
        return self.xp.asarray(a, dtype=dt.np)

    def to_numpy(self, a):
        return a if self.xp is np else self.xp.asnumpy(a)

    # -- creation ------------------------------------------------------------------------------
    def empty(self, shape, dt: dtype):
        return self.xp.empty(shape, dtype=dt.np)

    def arange(self, start, step, n, dt: dtype):
        # Computed in float64/int64 then cast, as PyTorch does.
        return (start + step * self.xp.arange(n, dtype=np.float64 if dt.is_floating_point else np.int64)
                ).astype(dt.np)

    def random(self, kind, shape, dt, seed, counter, low, high):
        n = int(np.prod(shape, dtype=np.int64))
        return _random.generate(kind, n, seed, counter, low, high, dt, xp=self.xp).reshape(shape)

    # -- views ---------------------------------------------------------------------------------
    def strides(self, a):
        size = a.itemsize
        return tuple(s // size for s in a.strides)

    def reshape(self, a, shape):
        view = a.view()
        try:
            view.shape = shape  # raises where a copy would be needed
        except AttributeError:
            return None
        return view

    def permute(self, a, dims):
        return a.transpose(dims)

    def expand(self, a, shape):
        return self.xp.broadcast_to(a, shape)

    def getitem(self, a, key):
        return a[key + (Ellipsis,)]  # the Ellipsis keeps an all-int key a (0-d) view, not a scalar

    def same_storage(self, a, b):
        return self.xp.shares_memory(a, b) if self.xp is np else self.xp.may_share_memory(a, b)

    # -- compute -------------------------------------------------------------------------------
    def elementwise(self, op, operands, compute: dtype, out_dtype: dtype, out=None):
        xp = self.xp
        want = compute.np
        args = [x if not hasattr(x, "dtype") or x.dtype is want else x.astype(want) for x in operands]
        if op == "where":  # the condition stays bool
            args[0] = operands[0]
        result = self._ops[op](*args) if op in _QUIET else call_quietly(self._ops[op], *args)
        if out is not None and isinstance(result, (bool, int, float, np.generic)):
            # Only scalars went in (full, ones, a seed gradient): cast on the host and fill `out`
            # with the scalar, so that CuPy sends no array to the device.
            out[...] = call_quietly(_cast, np, np.asarray(result), out_dtype)[()]
            return out
        if type(result) is not xp.ndarray:
            result = xp.asarray(result)
        if out is not None:
            out[...] = result if result.dtype == out.dtype else call_quietly(_cast, xp, result, out_dtype)
            return out
        if result.dtype != out_dtype.np:
            result = call_quietly(_cast, xp, result, out_dtype)
        return result

    def reduce(self, op, a, dims, keepdim):
        xp = self.xp
        axis = dims if len(dims) > 1 else dims[0]
        if op in ("argmax", "argmin"):
            # NaN counts as the extreme value, as in PyTorch.
            fn = xp.argmax if op == "argmax" else xp.argmin
            if a.dtype.kind == "f" and a.size:
                nan = xp.isnan(a)
                r = xp.where(nan.any(axis=axis), xp.argmax(nan, axis=axis), fn(a, axis=axis))
            else:
                r = fn(a, axis=axis)
            r = r.astype(np.int64)
            return xp.expand_dims(r, axis) if keepdim else r
        if op in ("sum", "prod"):
            r = call_quietly(a.sum if op == "sum" else a.prod, axis, a.dtype, None, keepdim)
        else:
            r = call_quietly(a.max if op == "amax" else a.min, axis, None, keepdim)
        return r if type(r) is xp.ndarray else xp.asarray(r)

    def matmul(self, a, b):
        with np.errstate(all="ignore"):  # NaN/Inf propagate silently, as in PyTorch
            return self.xp.matmul(a, b)

    def index_select(self, a, dim, index):
        # PyTorch's cpu kernel for dim 1 (of a tensor with 2+ dims) reports a bad index as a
        # RuntimeError; every other dim as IndexError("index out of range in self").
        kind = "dim1" if dim == 1 and a.ndim > 1 else "select"
        return self.xp.take(a, _checked_index(self.xp, index, a.shape[dim], dim, kind), axis=dim)

    def gather(self, a, dim, index):
        idx = _checked_index(self.xp, index, a.shape[dim], dim, "scatter")
        # PyTorch reads only the leading part of a on the other dims, where index is smaller.
        part = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(idx.shape))
        return self.xp.take_along_axis(a[part], idx, axis=dim)

    def scatter_add(self, a, dim, index, src):
        xp = self.xp
        out = a.copy()
        idx = _checked_index(xp, index, a.shape[dim], dim, "scatter")
        # Position of every src element along all dims, with `dim` replaced by the index (the
        # sparse grids of np.indices, which CuPy lacks).
        grids = [idx if d == dim else xp.arange(n).reshape((1,) * d + (n,) + (1,) * (idx.ndim - d - 1))
                 for d, n in enumerate(idx.shape)]
        src = src[tuple(slice(0, n) for n in idx.shape)]
        xp.add.at(out, tuple(grids), src)
        return out

    def synchronize(self):
        if self.xp is not np:  # pragma: no cover - cupy path
            self.xp.cuda.get_current_stream().synchronize()


def _checked_index(xp, index, size: int, dim: int, kind: str):
    """int64 indices, refusing any outside [0, size) (NumPy would wrap negative ones) with the
    exception PyTorch's cpu kernel raises: ``kind`` "select" IndexError("index out of range in
    self"), "dim1" (index_select along dim 1) and "scatter" (gather, scatter_add) RuntimeError
    naming the first bad value. Not on CuPy, where the check would cost a device-to-host sync."""
    idx = index.astype(np.int64, copy=False)
    if xp is np and idx.size and (idx.min() < 0 or idx.max() >= size):
        if kind == "select":
            raise IndexError("index out of range in self")
        flat = idx.reshape(-1)
        value = int(flat[np.argmax((flat < 0) | (flat >= size))])
        if kind == "dim1":
            raise RuntimeError(f"INDICES element is out of DATA bounds, id={value} axis_dim={size} (index_select: "
                               f"index {value} is out of range for dimension {dim} with size {size})")
        raise RuntimeError(f"index {value} is out of bounds for dimension {dim} with size {size}")
    return idx


def _cast(xp, x, dt: dtype):
    if dt is bool_:
        return x != 0
    if dt is int64 or not dt.is_floating_point:
        if x.dtype.kind == "f":
            x = xp.trunc(x)  # float -> int truncates toward zero, as in PyTorch
    return x.astype(dt.np)


@functools.cache  # once per process: numpy_backend() is called for every reference backend
def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep up to 64 MiB of freed memory for reuse, and to serve arrays of
    up to 32 MiB from that heap, instead of handing pages back to the kernel and faulting them
    in again for the next array: every NumPy op allocates its result, and with glibc's defaults
    the 3-layer MLP training row runs 1.7x slower (PyTorch has its own allocator). Process-wide,
    so it can be turned off: WGTORCH_KEEP_FREED_MEMORY=0."""
    if os.environ.get("WGTORCH_KEEP_FREED_MEMORY", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 64 << 20)


def numpy_backend() -> ArrayBackend:
    _keep_freed_memory()
    return ArrayBackend(np, "numpy")


def cupy_backend(index: int) -> ArrayBackend:  # pragma: no cover - needs an NVIDIA GPU
    from .. import cuda
    from .array_cuda import CudaArrayBackend

    cp = cuda._require_cupy()
    if index >= cp.cuda.runtime.getDeviceCount():
        raise RuntimeError(f"cuda:{index} does not exist: {cp.cuda.runtime.getDeviceCount()} CUDA "
                           "device(s) are visible")
    return CudaArrayBackend(cp, index)
