"""The NumPy ("cpu") and CuPy ("cuda") backends: one implementation over an array module ``xp``.

It is also the reference the WGSL kernels are tested against, so each op here is the plainest
correct NumPy expression of PyTorch's semantics.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import platform

import numpy as np

from .._dtype import HALVES, bfloat16, bool_, dtype, int64
from ..ops.elementwise_defs import OPS
from . import random as _random
from .array_common import _checked_index, call_quietly
from .array_nn import ArrayNNOps
from .array_optim import ArrayOptimOps
from .array_reduce import ArrayReduceOps
from .array_rnn import ArrayRNNOps

# -- sorting (sort, searchsorted) --
from .array_sort import ArraySortOps
from .blas_threads import blas_threads_for  # cpu attention / matmul: small products on one BLAS thread
from .protocol import check_strided_bounds

_MATH_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf(xp, x):
    # NumPy has no erf. float64 takes libm's (math.erf, element by element: exact where the
    # float32 formula would be off by 1e-7); float32/16 take Abramowitz & Stegun 7.1.26 (|error|
    # < 1.5e-7), the same formula the WGSL f32 kernel uses, so cpu and wgpu agree to float32
    # rounding. (On CUDA, float32/float64 erf and gelu run as one kernel with CUDA's erf: see
    # array_cuda.py.)
    if x.dtype == np.float64 and xp is np:
        return _MATH_ERF(x).astype(np.float64) if x.ndim else np.float64(math.erf(x))
    s = xp.sign(x)
    a = xp.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * xp.exp(-a * a)
    return (s * y).astype(x.dtype, copy=False)


def _helpers(xp) -> dict:
    """Names the registry's array expressions may use besides ``xp`` and ``np``."""

    def where(c, a, b):
        return xp.where(c.astype(bool, copy=False) if hasattr(c, "astype") else bool(c), a, b)

    def ipow(a, b):
        """Integer powers as PyTorch computes them: exact, wrapping on overflow; a negative
        exponent gives 0 but for bases 1 and -1 (NumPy refuses negative integer powers; the front
        end refuses negative scalar exponents). No test of b's values: on CuPy that would sync."""
        if not hasattr(b, "dtype") or xp.result_type(a, b).kind == "f":
            return xp.power(a, b)
        neg = b < 0
        exact = xp.power(a, xp.where(neg, 0, b))
        unit = xp.where(a == -1, xp.where(b % 2 != 0, -1, 1), xp.where(a == 1, 1, 0))
        return xp.where(neg, unit, exact).astype(exact.dtype, copy=False)

    def copy(x):
        return x.copy() if hasattr(x, "copy") else x

    def igcd(a, b):
        """PyTorch's Euclid: from |a|, |b| in the dtype (|INT_MIN| stays negative, and so may the
        result), with C's remainder; a fixed number of steps (Fibonacci bound), so CuPy never syncs."""
        a, b = xp.broadcast_arrays(xp.abs(xp.asarray(a)), xp.abs(xp.asarray(b, dtype=xp.asarray(a).dtype)))
        for _ in range(int(xp.asarray(a).dtype.itemsize * 12)):
            nz = b != 0
            a, b = xp.where(nz, b, a), xp.where(nz, xp.fmod(a, xp.where(nz, b, 1)), 0)
        return a

    def lerp(a, b, c):
        """PyTorch's cpu lerp: fma(w, end - start, start) for |w| < 0.5, else fma(w - 1, end -
        start, end) (its vector kernel; the compiler contracts the scalar one the same way), so
        huge operands do not overflow in the product. float32's fma runs in float64: the product
        is exact there, and the sum is rounded twice (at most an ulp, rarely)."""
        dt = xp.result_type(a, b)
        c = c.astype(dt, copy=False) if hasattr(c, "dtype") else xp.asarray(c, dtype=dt)
        small = xp.abs(c) < 0.5
        d = b - a
        coeff, base = xp.where(small, c, c - 1), xp.where(small, a, b)
        if dt == np.float32:
            return (coeff.astype(np.float64) * d.astype(np.float64) + base.astype(np.float64)).astype(dt)
        return coeff * d + base

    def f32_or_wider(a, c):
        """The constant ``c`` in float32, or float64 for float64 ``a`` (a float32-rounded constant
        would cost float64 results 1e-8 of relative error; halves compute in float32)."""
        return np.float64(c) if a.dtype == np.float64 else np.float32(c)

    return {"xp": xp, "np": np, "where": where, "ipow": ipow, "copy": copy, "igcd": igcd, "lerp": lerp,
            "erf": lambda x: _erf(xp, x), "_f32_or_wider": f32_or_wider}


def _compile(xp, spec):
    """The registry's array expression as a function of the operands; a bare ``xp.name`` is the
    ufunc itself (no Python frame per call)."""
    names = _helpers(xp)
    if spec.array.startswith("xp.") and spec.array[3:].isidentifier():
        return getattr(xp, spec.array[3:])
    args = ", ".join("abc"[:spec.arity])
    return eval(f"lambda {args}: {spec.array}", names)  # noqa: S307  (the registry's own source text)


def _table(xp):
    """op name -> function of (already converted) operands."""
    return {name: _compile(xp, spec) for name, spec in OPS.items()}


# Ops that rarely raise floating-point warnings skip even call_quietly; an overflow to inf in
# add/sub/mul may print NumPy's RuntimeWarning, once per place, as NumPy does.
_QUIET = {"add", "sub", "mul", "copy", "neg", "abs", "eq", "ne", "lt", "le", "gt", "ge", "isnan",
          "isinf", "isfinite", "logical_not", "logical_and", "logical_or", "logical_xor", "where", "relu", "maximum",
          "minimum", "clamp"}


# Arithmetic on bools computes in int8 (as the wgpu kernels compute in i32) and stores x != 0.
_BOOL_AS_INT = {name for name, op in OPS.items() if op.result != "bool" and name not in ("copy", "where")}
_INT8, _FLOAT32 = np.dtype(np.int8), np.dtype(np.float32)
_BF16 = bfloat16.np  # ml_dtypes' bfloat16: NumPy kind "V", so tested by name where kind "f" is


class ArrayBackend(ArrayOptimOps, ArrayReduceOps, ArrayNNOps, ArrayRNNOps, ArraySortOps):
    """The op protocol (`protocol.Backend`) over a NumPy-compatible module."""

    def __init__(self, xp, name: str):
        self.xp = xp
        self.name = name
        self._ops = _table(xp)

    def check_dtype(self, dt: dtype) -> None:
        """Every dtype works here, but bfloat16 on CuPy (which has no bfloat16 arrays)."""
        if dt is bfloat16 and self.xp is not np:
            raise TypeError("bfloat16 is not supported on cuda: CuPy has no bfloat16 arrays; use float16 or float32")

    # -- moving data ---------------------------------------------------------------------------
    def from_numpy(self, a, dt: dtype):
        if self.xp is np:
            return np.array(a, dtype=dt.np, copy=True)
        return self.xp.asarray(a, dtype=dt.np)

    def to_numpy(self, a):
        return a if self.xp is np else self.xp.asnumpy(a)

    # -- creation ------------------------------------------------------------------------------
    def empty(self, shape, dt: dtype):
        if dt is bfloat16:
            self.check_dtype(dt)
        return self.xp.empty(shape, dtype=dt.np)

    def arange(self, start, step, n, dt: dtype):
        if dt is bfloat16:
            self.check_dtype(dt)
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

    # -- strided views (as_strided, unfold, diagonal) ------------------------------------------
    def _address(self, a) -> int:
        return a.__array_interface__["data"][0] if self.xp is np else a.data.ptr  # (CuPy's MemoryPointer)

    def _storage(self, a):
        """(root, first byte, size in bytes) of the memory ``a`` views: the array at the end of its
        chain of bases (through the holders `as_strided` makes), and the bytes that root spans."""
        xp, root = self.xp, a
        while True:
            b = root.base
            if isinstance(b, xp.ndarray):
                root = b
            elif b is not None and isinstance(getattr(b, "base", None), xp.ndarray):
                root = b.base  # an `as_strided` view's holder (or NumPy's own DummyArray)
            else:
                break
        start = self._address(root)
        if root.size == 0:
            return root, start, 0
        low = sum((n - 1) * s for n, s in zip(root.shape, root.strides) if s < 0)
        high = sum((n - 1) * s for n, s in zip(root.shape, root.strides) if s > 0) + root.itemsize
        return root, start + low, high - low

    def storage_offset(self, a):
        _, first, _ = self._storage(a)
        return (self._address(a) - first) // a.itemsize

    def as_strided(self, a, shape, strides, offset):
        root, first, nbytes = self._storage(a)
        size = a.itemsize
        check_strided_bounds(shape, strides, offset, nbytes // size, size)
        byte_strides = tuple(s * size for s in strides)
        if self.xp is np:
            interface = {"shape": tuple(shape), "strides": byte_strides, "typestr": a.dtype.str, "version": 3,
                         "data": (first + offset * size, not root.flags.writeable)}
            return np.asarray(_StridedHolder(interface, root))
        # CuPy: a view of the same allocation (its .base is None, so a view of this view counts only
        # the memory this one spans as its storage: stricter than PyTorch, never outside).
        return self.xp.ndarray(tuple(shape), a.dtype, memptr=root.data + (first + offset * size - self._address(root)),
                               strides=byte_strides)

    # -- compute -------------------------------------------------------------------------------
    # -- the eager path (protocol.elementwise_plan): nothing to pre-bind over NumPy/CuPy --
    def elementwise_plan(self, op, operands, compute: dtype, out_dtype: dtype):
        elementwise = self.elementwise
        return lambda args: elementwise(op, args, compute, out_dtype)

    def elementwise(self, op, operands, compute: dtype, out_dtype: dtype, out=None):
        xp = self.xp
        want = compute.np
        if compute is bool_ and op in _BOOL_AS_INT:
            want = _INT8  # NumPy has no bool loops for sign, add-as-int ...; stored back as x != 0
        elif compute in HALVES:
            want = _FLOAT32  # float16/bfloat16 compute in float32 and round once, as PyTorch (and wgpu) do
        if compute in HALVES:  # operands are first rounded to the 16-bit type, as PyTorch's half kernels do
            wide, half = OPS[op].wide, compute.np
            operands, wide = _half_scalars(op, operands, wide)
            args = [(x.astype(want, copy=False) if hasattr(x, "dtype") else x) if k in wide else
                    x.astype(half, copy=False).astype(want) if hasattr(x, "dtype") else
                    float(half.type(x)) if x is not None and not isinstance(x, bool) else x
                    for k, x in enumerate(operands)]
        else:
            args = [x if not hasattr(x, "dtype") or x.dtype is want else x.astype(want) for x in operands]
        if op == "where":  # the condition stays bool
            args[0] = operands[0]
        if compute is bfloat16 and op == "pow" and type(operands[1]) in (int, float) and operands[1] in (3, -2):
            result = call_quietly(_bf16_small_pow, args[0], operands[1])
        else:
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

    def reduce(self, op, a, dims, keepdim, out_dtype=None):
        xp = self.xp
        if out_dtype is not None and a.dtype != out_dtype.np:
            a = a.astype(out_dtype.np)  # accumulate in the wider type (a float16 sum in float32)
        axis = dims if len(dims) > 1 else dims[0]
        if op in ("argmax", "argmin"):
            # NaN counts as the extreme value, as in PyTorch.
            fn = xp.argmax if op == "argmax" else xp.argmin
            if (a.dtype.kind == "f" or a.dtype == _BF16) and a.size:
                nan = xp.isnan(a)
                r = xp.where(nan.any(axis=axis), xp.argmax(nan, axis=axis), fn(a, axis=axis))
            else:
                r = fn(a, axis=axis)
            r = r.astype(np.int64)
            return xp.expand_dims(r, axis) if keepdim else r
        if op in ("sum", "prod"):
            r = call_quietly(a.sum if op == "sum" else a.prod, axis, a.dtype, None, keepdim)
            if xp is np and op == "sum" and a.dtype == _FLOAT32 and r.size and not np.isfinite(r).all():
                # NumPy's pairwise float32 sum can overflow on the way to a finite total (3e38 + 3e38 -
                # 3e38): where a result is not finite, the sum is redone in float64 and rounded once
                # (NumPy only: on CuPy the test would be a host sync)
                with np.errstate(over="ignore"):  # (a float64 total past float32's range is inf, as it should be)
                    r = call_quietly(a.sum, axis, np.float64, None, keepdim).astype(_FLOAT32)
        else:
            r = call_quietly(a.max if op == "amax" else a.min, axis, None, keepdim)
        return r if type(r) is xp.ndarray else xp.asarray(r)

    def matmul(self, a, b):
        m, k = (a.shape[-2] if a.ndim > 1 else 1), a.shape[-1]
        n = b.shape[-1] if b.ndim > 1 else 1
        # NaN/Inf propagate silently, as in PyTorch; small products on one BLAS thread (blas_threads.py)
        with np.errstate(all="ignore"), blas_threads_for(self.xp, m, n, k):
            if a.dtype == _BF16:  # accumulate in float32 and round once, as PyTorch's cpu bfloat16 gemm
                return self.xp.matmul(a.astype(_FLOAT32), b.astype(_FLOAT32)).astype(_BF16)
            return self.xp.matmul(a, b)

    # -- matmul epilogue (addmm, F.linear with a bias) --
    def matmul_bias(self, a, b, bias, alpha=1.0, beta=1.0):
        out = self.matmul(a, b)
        with np.errstate(all="ignore"):
            if a.dtype == _BF16:  # each step in float32, rounded to bfloat16, as its elementwise ops
                f = _FLOAT32
                out = out if alpha == 1 else (out.astype(f) * f.type(alpha)).astype(_BF16)
                e = bias if beta == 1 else (bias.astype(f) * f.type(beta)).astype(_BF16)
                return (out.astype(f) + e.astype(f)).astype(_BF16)
            t = out.dtype.type
            out = out if alpha == 1 else out * t(alpha)
            return out + (bias if beta == 1 else bias * t(beta))

    def index_select(self, a, dim, index, index_error=False):
        # PyTorch's cpu kernel for dim 1 (of a tensor with 2+ dims) reports a bad index as a
        # RuntimeError; every other dim as IndexError("index out of range in self").
        kind = "dim1" if (dim == 1 and a.ndim > 1) or a.size == 0 else "select"  # (an empty one: its other kernel)
        kind = "select" if index_error else kind
        return self.xp.take(a, _checked_index(self.xp, index, a.shape[dim], dim, kind), axis=dim)

    def gather(self, a, dim, index):
        idx = _checked_index(self.xp, index, a.shape[dim], dim, "scatter")
        # PyTorch reads only the leading part of a on the other dims, where index is smaller.
        part = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(idx.shape))
        return self.xp.take_along_axis(a[part], idx, axis=dim)

    def scatter_add(self, a, dim, index, src, index_error=False):
        xp = self.xp
        out = a.copy()
        idx = _checked_index(xp, index, a.shape[dim], dim, "index" if index_error else "scatter")
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


class _StridedHolder:
    """What NumPy wraps to make an `as_strided` view: its ``base`` leads back to the storage's root."""

    def __init__(self, interface: dict, base):
        self.__array_interface__ = interface
        self.base = base


# -- float16/bfloat16: where PyTorch's cpu kernels differ from "round the operands, compute in float32" --
def _half_scalars(op: str, operands, wide: tuple):
    """PyTorch's cpu mul, div and floor_divide of a float16/bfloat16 tensor by a scalar (a Python number or a
    0-d tensor) use the scalar's float32 value, not its 16-bit rounding (``original_scalar_value``);
    so do its kernels with scalar parameters (leaky_relu's slope, elu's alpha: opmath scalars).
    add, sub, pow, remainder and the comparisons round the scalar (checked against PyTorch 2.13)."""
    spec = OPS[op]
    if spec.params:
        return operands, wide + tuple(range(spec.tensor_arity, spec.arity))
    if op not in ("mul", "div", "floor_divide") or len(operands) != 2:
        return operands, wide
    # (2.5 * x) is x.mul(2.5) in PyTorch; a 0-d tensor in front is not swapped and is rounded
    k = 0 if op == "mul" and not hasattr(operands[0], "dtype") and _is_scalar(operands[0]) else 1
    b = operands[k]
    if not _is_scalar(b):
        return operands, wide
    with np.errstate(over="ignore"):  # a float beyond float32 is inf there, as in PyTorch's opmath
        b = b.astype(_FLOAT32) if hasattr(b, "dtype") else np.float32(b)
    return ([b, operands[1]] if k == 0 else [operands[0], b]), wide + (k,)


def _is_scalar(x) -> bool:
    return (x.ndim == 0) if hasattr(x, "dtype") else (x is not None and not isinstance(x, bool))


def _bf16_small_pow(a, e: int):
    """``x ** 3`` and ``x ** -2`` multiply in bfloat16, rounding each product (PyTorch's
    ``pow_tensor_scalar_optimized_kernel`` with ``BFloat16`` arithmetic)."""
    sq = (a * a).astype(_BF16).astype(_FLOAT32)
    return sq * a if e == 3 else np.float32(1.0) / sq


def _cast(xp, x, dt: dtype):
    if dt is bool_:
        return x != 0
    if dt is int64 or not dt.is_floating_point:
        if x.dtype == _BF16:
            x = x.astype(_FLOAT32)  # ml_dtypes' bfloat16 has no trunc loop; float32 holds every value
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


def numpy_backend(index: int | None = None) -> ArrayBackend:
    """The "cpu" backend (there is one cpu device: ``index`` is None)."""
    _keep_freed_memory()
    return ArrayBackend(np, "numpy")


# -- scatter family (scatter with a reduction, nonzero): array_scatter.py --
from .array_scatter import ArrayScatterOps as _ArrayScatterOps  # noqa: E402

for _name in ("scatter", "_scatter_rounds", "nonzero"):
    setattr(ArrayBackend, _name, getattr(_ArrayScatterOps, _name))
# -- scans (cumsum, cumprod, cummax/cummin, logcumsumexp) -----------------------------------------
from .array_scan import scan as _scan  # noqa: E402

ArrayBackend.scan = _scan
# -- fused attention (attention_supported / _forward / _backward): array_attention.py --
from .array_attention import ArrayAttentionOps as _ArrayAttentionOps  # noqa: E402

for _name in ("attention_supported", "attention_forward", "attention_backward", "attention_probs_forward",
              "attention_probs_backward", "_attn_forward", "_attn_backward", "_attn_backward_lse", "_attn_blas",
              "_attn_stack", "_attn_scores"):
    setattr(ArrayBackend, _name, getattr(_ArrayAttentionOps, _name))
