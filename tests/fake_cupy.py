"""A stand-in for the ``cupy`` module, to test the "cuda" backend on a machine without a GPU.

- `FakeArray` wraps a NumPy array the way ``cupy.ndarray`` wraps device memory, and is stricter:
  NumPy functions and ufuncs refuse it (TypeError), so does ``np.asarray`` (CuPy's "implicit
  conversion to a NumPy array is not allowed"), mixing it with NumPy arrays is refused as CuPy
  does, and reading it on the host (``bool()``, ``float()``, ``.item()``, ``.tolist()``) raises
  `HostSyncError`: an op that waits on the device shows up. ``xp.asnumpy`` is the way to the host.
- `FakeCupy` is the module: every NumPy function taking and returning FakeArrays (``xp.where``,
  ``xp.multiply(..., out=...)``, ``xp.add.at`` ...), counting calls and host-to-device copies.
- ``FakeCupy.ElementwiseKernel`` builds the kernel with CuPy's conventions (typed and ``T``
  parameters, ``raw`` arrays indexed by logical C-order position, broadcasting of the non-raw
  ones, ``size=``, scalars converted to the declared type, type checks) as C++ compiled by the
  host compiler and run serially over ``i``: the kernel bodies of ``cupy_kernels`` run for real.
  (tests/test_cuda_sources.py compiles the same bodies as CUDA, with CuPy's own code generator.)
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections import Counter

import numpy as np

_C_TYPES = {"float32": "float", "float64": "double", "int32": "int", "int64": "long long", "uint32": "unsigned int",
            "uint64": "unsigned long long", "bool": "bool", "int8": "signed char", "uint8": "unsigned char",
            "int16": "short"}


class HostSyncError(AssertionError):
    """A device array was read on the host implicitly (CuPy would wait for the GPU here)."""


def _unwrap(x):
    if isinstance(x, FakeArray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError(f"a host numpy.ndarray {x.shape} was mixed with device arrays (CuPy refuses this)")
    if isinstance(x, tuple):
        return tuple(_unwrap(v) for v in x)
    if isinstance(x, list):
        return [_unwrap(v) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return FakeArray(x)
    if isinstance(x, np.generic):  # CuPy's reductions give 0-d arrays, not host scalars
        return FakeArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


# Every call made through the stand-in: ("xp.NAME" or "ndarray.NAME", positional count, keyword
# names). tests/test_cuda_sources.py checks them against real CuPy, which accepts less than NumPy.
CALLED: set[tuple[str, int, tuple[str, ...]]] = set()
# Every kernel launch: (kernel name, per argument (dtype or "scalar" or "<new>", ndim)).
LAUNCHED: set[tuple[str, tuple]] = set()


def _record(name: str, args: tuple, kwargs: dict) -> None:
    CALLED.add((name, len(args), tuple(sorted(kwargs))))


def _host_read(self, *args, **kwargs):
    raise HostSyncError("a device array was read on the host (bool/int/float/item/tolist): CuPy would "
                        "synchronize with the GPU here")


class FakeArray:
    """A device array (see the module docstring)."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # NumPy ufuncs refuse it; NumPy scalars' operators defer to ours

    def __init__(self, a: np.ndarray):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` (CuPy)")

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} was called on a device array: use xp.{func.__name__}")

    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, value):
        self._a.shape = value  # AttributeError where a copy would be needed, as CuPy

    def __getattr__(self, name):
        if name.startswith("__"):  # no __array_interface__ & co.: NumPy must not see the data
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if name in ("item", "tolist", "tobytes"):
            return lambda *args, **kwargs: _host_read(self)
        if callable(attr):
            def method(*args, **kwargs):
                _record(f"ndarray.{name}", args, kwargs)
                return _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))
            return method
        return _wrap(attr)

    def get(self):
        """The explicit device-to-host copy."""
        return self._a.copy()

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"FakeArray(shape={self._a.shape}, dtype={self._a.dtype})"

    __bool__ = __float__ = __int__ = __index__ = __complex__ = _host_read
    __hash__ = None


def _binary(name):
    def op(self, other):
        return _wrap(getattr(self._a, name)(_unwrap(other)))

    return op


def _inplace(name):
    def op(self, other):
        getattr(self._a, name)(_unwrap(other))
        return self

    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor", "lshift", "rshift",
              "matmul"):
    setattr(FakeArray, f"__{_name}__", _binary(f"__{_name}__"))
    setattr(FakeArray, f"__r{_name}__", _binary(f"__r{_name}__"))
    setattr(FakeArray, f"__i{_name}__", _inplace(f"__i{_name}__"))
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(FakeArray, f"__{_name}__", _binary(f"__{_name}__"))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(FakeArray, f"__{_name}__", (lambda n: lambda self: _wrap(getattr(self._a, n)()))(f"__{_name}__"))


class _Function:
    """``xp.NAME``: the NumPy function on unwrapped arguments; ufunc methods (``.at``) too."""

    def __init__(self, xp, name: str, fn):
        self._xp, self._name, self._fn = xp, name, fn

    def __call__(self, *args, **kwargs):
        self._xp.calls[self._name] += 1
        _record(f"xp.{self._name}", args, kwargs)
        return _wrap(self._fn(*_unwrap(args), **_unwrap(kwargs)))

    def __getattr__(self, attr):
        return _Function(self._xp, f"{self._name}.{attr}", getattr(self._fn, attr))


class _Stream:
    def __init__(self, xp):
        self._xp = xp

    def synchronize(self):
        self._xp.syncs += 1


class _Device:
    def __init__(self, index=0):
        self.id = index

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Cuda:
    """``cupy.cuda``: one device, one stream."""

    def __init__(self, xp):
        self._stream = _Stream(xp)
        self.Device = _Device

    def get_current_stream(self):
        return self._stream


class FakeCupy:
    """The ``cupy`` module (see the module docstring)."""

    ndarray = FakeArray

    def __init__(self):
        self.calls: Counter = Counter()  # xp function name -> number of calls
        self.kernel_calls: Counter = Counter()  # ElementwiseKernel name -> launches
        self.uploads = 0  # host-to-device copies (asarray/array of a host array)
        self.syncs = 0
        self.cuda = _Cuda(self)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(np, name)
        if isinstance(attr, (type, np.dtype)) or not callable(attr):
            return attr  # dtypes, scalar types, constants
        return _Function(self, name, attr)

    def asarray(self, a, dtype=None):
        if isinstance(a, FakeArray):
            return a if dtype is None or a.dtype == np.dtype(dtype) else FakeArray(a._a.astype(dtype))
        self.uploads += 1
        return FakeArray(np.array(a, dtype=dtype, copy=True))

    # CuPy's gathers wrap out-of-range indices (index % size) instead of raising; with size 0 the
    # GPU would read out of bounds, so that is an error here.
    def take(self, a, indices, axis=None):
        self.calls["take"] += 1
        if a.size and (a.shape[axis] if axis is not None else a.size) == 0 or a.size == 0 and indices.size:
            raise RuntimeError("cupy.take from an empty axis would read out of bounds on the GPU")
        return FakeArray(np.take(a._a, _unwrap(indices), axis=axis, mode="wrap"))

    def take_along_axis(self, a, indices, axis):
        self.calls["take_along_axis"] += 1
        if a.shape[axis] == 0 and indices.size:
            raise RuntimeError("cupy.take_along_axis from an empty axis would read out of bounds on the GPU")
        n = max(a.shape[axis], 1)
        return FakeArray(np.take_along_axis(a._a, _unwrap(indices) % n, axis))

    def asnumpy(self, a):
        return a._a.copy() if isinstance(a, FakeArray) else np.asarray(a)

    def ElementwiseKernel(self, in_params, out_params, operation, name="kernel", preamble="", options=(), **kwargs):
        return EmulatedKernel(self, in_params, out_params, operation, name, preamble)


# -- ElementwiseKernel emulation ----------------------------------------------------------------
class _Param:
    def __init__(self, text: str, is_input: bool):
        words = text.split()
        self.ctype_name, self.name = words[-2], words[-1]
        self.raw = "raw" in words[:-2]
        self.is_input = is_input
        self.placeholder = len(self.ctype_name) == 1
        self.dtype = None if self.placeholder else np.dtype(self.ctype_name)


def _params(text: str, is_input: bool) -> list[_Param]:
    return [_Param(p, is_input) for p in text.split(",") if p.strip()]


def _c_type(dt: np.dtype) -> str:
    if dt.name not in _C_TYPES:
        raise NotImplementedError(f"the kernel emulator has no {dt.name}")
    return _C_TYPES[dt.name]


_HOST_PRELUDE = r"""
#include <cmath>
#include <cstddef>
using namespace std;
#define __device__
#define __forceinline__ inline
#define CUDART_INF HUGE_VAL
#define CUDART_INF_F HUGE_VALF
#define CUDART_NAN NAN
#define CUDART_NAN_F NAN
// Serial stand-ins for CUDA's atomics.
template <typename V> static inline V wg_emu_add(V* p, V v) { V old = *p; *p = old + v; return old; }
static inline float atomicAdd(float* p, float v) { return wg_emu_add(p, v); }
static inline double atomicAdd(double* p, double v) { return wg_emu_add(p, v); }
static inline int atomicAdd(int* p, int v) { return wg_emu_add(p, v); }
static inline unsigned int atomicAdd(unsigned int* p, unsigned int v) { return wg_emu_add(p, v); }
static inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return wg_emu_add(p, v); }
static inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp, unsigned long long v) {
    unsigned long long old = *p; if (old == cmp) *p = v; return old;
}
"""

_COMMON_PRELUDE = r"""
// CuPy's CArray as a raw parameter sees it: element k of the logical C-order shape.
template <typename V> struct WgRaw { V* p; __device__ V& operator[](ptrdiff_t k) const { return p[k]; } };
struct WgIndexer { ptrdiff_t n; __device__ ptrdiff_t size() const { return n; } };
"""


def kernel_source(kernel: EmulatedKernel, types: dict, kinds: tuple) -> str:
    """C++ code of ``kernel`` for the placeholder ``types`` ({"T": dtype}) and argument ``kinds``
    ("array" or "scalar" per parameter), laid out as CuPy lays its generated code: typedefs,
    preamble, then the loop over ``i``."""
    def ctype(p):
        return _c_type(types[p.ctype_name] if p.placeholder else p.dtype)

    outside, inside = [], []
    for k, (p, kind) in enumerate(zip(kernel.params, kinds)):
        c = ctype(p)
        const = "const " if p.is_input else ""
        if kind == "scalar":
            outside.append(f"const {c} {p.name} = *(const {c}*)args[{k}];")
        elif p.raw:
            outside.append(f"const WgRaw<{const}{c}> {p.name}{{({const}{c}*)args[{k}]}};")
        else:
            inside.append(f"{const}{c}& {p.name} = (({const}{c}*)args[{k}])[i];")
    typedefs = "".join(f"typedef {_c_type(dt)} {name};\n" for name, dt in sorted(types.items()))
    head = _HOST_PRELUDE + _COMMON_PRELUDE + typedefs + kernel.preamble
    signature = 'extern "C" void run(ptrdiff_t n, void** args)'
    loop = "for (ptrdiff_t i = 0; i < n; ++i)"
    body = "\n    ".join(["WgIndexer _ind{n}; (void)_ind;", *outside])
    return (f"{head}\n{signature} {{\n    {body}\n    {loop} {{\n        " + "\n        ".join(inside)
            + f"\n        {kernel.operation}\n    }}\n}}\n")


def cache_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), f"wgtorch-kernel-emulator-{os.getuid()}")
    os.makedirs(path, exist_ok=True)
    return path


_LIBS: dict[str, ctypes.CDLL] = {}


def _compile(source: str) -> ctypes.CDLL:
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    lib = _LIBS.get(digest)
    if lib is not None:
        return lib
    path = os.path.join(cache_dir(), f"{digest}.so")
    if not os.path.exists(path):
        compiler = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
        if compiler is None:
            raise RuntimeError("the kernel emulator needs a C++ compiler (g++ or clang++)")
        src = os.path.join(cache_dir(), f"{digest}.cpp")
        with open(src, "w") as f:
            f.write(source)
        tmp = f"{path}.{os.getpid()}.tmp"
        # No contraction of a * b + c, as the optimizer kernels are compiled for CUDA.
        cmd = [compiler, "-std=c++17", "-O1", "-shared", "-fPIC", "-ffp-contract=off", "-Werror=return-type",
               "-o", tmp, src]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"the kernel did not compile:\n{result.stderr}\n--- source ---\n{source}")
        os.replace(tmp, path)
    lib = _LIBS[digest] = ctypes.CDLL(path)
    lib.run.argtypes = [ctypes.c_ssize_t, ctypes.POINTER(ctypes.c_void_p)]
    return lib


class EmulatedKernel:
    """``cupy.ElementwiseKernel`` run on the host (see the module docstring)."""

    def __init__(self, xp, in_params, out_params, operation, name, preamble):
        self.xp = xp
        self.ins, self.outs = _params(in_params, True), _params(out_params, False)
        self.params = self.ins + self.outs
        if "i" in [p.name for p in self.params]:
            raise ValueError("Can not use 'i' as a parameter name")
        self.operation, self.name, self.preamble = operation, name, preamble

    def _types(self, args) -> dict:
        """CuPy's rules: a typed parameter takes only that dtype; one placeholder, one dtype."""
        types = {}
        for p, a in zip(self.outs + self.ins, args[len(self.ins):] + args[: len(self.ins)]):
            if isinstance(a, np.ndarray):
                raise TypeError(f"{self.name}: argument {p.name} is a host numpy.ndarray")
            if not isinstance(a, FakeArray):
                continue
            if p.dtype is not None:
                if a.dtype != p.dtype:
                    raise TypeError(f"Type is mismatched. {p.name} {a.dtype} {p.dtype}")
            elif types.setdefault(p.ctype_name, a.dtype) != a.dtype:
                raise TypeError(f"Type is mismatched. {p.name} {a.dtype} {types[p.ctype_name]} {p.ctype_name}")
        for p, a in zip(self.params, args):
            if a is not None and not isinstance(a, FakeArray) and p.raw:
                raise TypeError(f"{self.name}: raw parameter {p.name} needs an array")
            if p.placeholder and p.ctype_name not in types:
                raise TypeError(f"{self.name}: the type {p.ctype_name} of {p.name} is not given by any array")
        return types

    def __call__(self, *args, size=None, block_size=None):
        nin = len(self.ins)
        if len(args) not in (nin, len(self.params)):
            raise TypeError(f"Wrong number of arguments for {self.name!r}")
        args = list(args) + [None] * (len(self.params) - len(args))
        # What CuPy sees of each argument (an output left None is made as an array).
        LAUNCHED.add((self.name, tuple((a.dtype.str, a.ndim) if isinstance(a, FakeArray) else
                                       ("<new>", 0) if a is None else ("scalar", 0) for a in args)))
        types = self._types(args)
        nonraw = [a for p, a in zip(self.params, args) if not p.raw and isinstance(a, FakeArray)]
        if size is not None:
            if nonraw:
                raise ValueError("Specified 'size' can be used only if all of the ndarray are 'raw'.")
            shape = (size,)
        elif not nonraw:
            raise ValueError("Loop size is undecided.")
        else:
            shape = np.broadcast_shapes(*(a.shape for a in nonraw))
        for k, p in enumerate(self.outs, nin):
            if args[k] is None:
                if p.raw:
                    raise ValueError(f"{self.name}: raw output {p.name} must be given")
                args[k] = FakeArray(np.empty(shape, types[p.ctype_name] if p.placeholder else p.dtype))
            elif not p.raw and args[k].shape != shape:
                raise ValueError("Out shape is mismatched")
        outs = args[nin:]
        result = outs[0] if len(outs) == 1 else tuple(outs)
        n = int(np.prod(shape, dtype=np.int64))
        if n == 0:
            return result
        buffers, kinds = [], []
        for p, a in zip(self.params, args):
            if isinstance(a, FakeArray):
                kinds.append("array")
                data = a._a if p.raw else np.broadcast_to(a._a, shape)
                buffers.append(np.ascontiguousarray(data))
            else:
                kinds.append("scalar")
                buffers.append(np.array([a], dtype=types[p.ctype_name] if p.placeholder else p.dtype))
        lib = _compile(kernel_source(self, types, tuple(kinds)))
        pointers = (ctypes.c_void_p * len(buffers))(*(b.ctypes.data for b in buffers))
        lib.run(n, pointers)
        for p, a, b in zip(self.params, args, buffers):
            if not p.is_input and not np.shares_memory(a._a, b):
                a._a[...] = b.reshape(a.shape)
        self.xp.kernel_calls[self.name] += 1
        return result
