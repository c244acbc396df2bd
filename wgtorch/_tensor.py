"""The core of a tensor: a backend array, its dtype and device, and its place in the autograd graph.

`TensorCore` holds the storage, metadata, autograd and conversion methods. Ops are defined once in
``wgtorch/ops`` (forward and backward together) and the methods that call them are in the mixin
classes of ``wgtorch/_tensor_methods``; the public class, ``wgtorch.Tensor``, is the class statement
in ``wgtorch/_tensor_class.py`` that derives from the core and the mixins. The modules that class
imports (``ops/``, the mixins, ``_creation``, ``amp`` ...) import only this one: they check tensors
against `TensorCore` and make them with `_wrap`, which builds the public class (bound here as
`Tensor` when it is defined). Modules above it (``nn/``, ``optim/``, ``serialization/`` ...) import
``wgtorch._tensor_class.Tensor`` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _dtype as D
from ._device import canonical, device, get_backend, get_default_device
from .autograd import backward
from .autograd.engine import PostAccumulateGradHook, RemovableHandle
from .autograd.function import Function, TensorBase


class Size(tuple):
    """``tensor.shape``: a tuple, as ``torch.Size``."""

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"wgtorch.Size({list(self)})"


if TYPE_CHECKING:
    from ._tensor_class import Tensor
else:
    # The public class, bound by `TensorCore.__init_subclass__` when ``wgtorch/_tensor_class.py``
    # defines it (at ``import wgtorch``, before any tensor is made); importing the name before then fails.
    Tensor: type[TensorCore]


def _wrap(data, be, dt: D.dtype) -> Tensor:
    t = _new_tensor(Tensor)
    t._data = data
    t._be = be
    t.dtype = dt
    t.requires_grad = False
    t.grad = None
    t.grad_fn = None
    t._output_nr = 0
    t._hooks = None
    t._base = None
    t._vc = None
    return t


class TensorCore(TensorBase):
    """The storage, metadata, autograd and conversion part of every tensor. The public class,
    ``wgtorch.Tensor`` (in ``wgtorch/_tensor_class.py``), derives from it and from the method
    mixins; the modules below that class (``ops/``, the mixins ...) check tensors with
    ``isinstance(x, TensorCore)`` and make them with `_wrap`, which builds the public class."""

    __slots__ = ("_data", "_be", "dtype", "requires_grad", "grad", "grad_fn", "_output_nr", "_hooks",
                 "_base", "_vc", "__weakref__")
    __array_priority__ = 1000  # NumPy defers to our operators

    def __init_subclass__(cls, public: bool = False, **kwargs):
        """``class Tensor(TensorCore, ..., public=True)`` binds this module's `Tensor`, the class
        `_wrap` builds (once: a second public class would split ``type(t) is Tensor``)."""
        super().__init_subclass__(**kwargs)
        if public:
            global Tensor
            if "Tensor" in globals():
                raise TypeError(f"the public tensor class is already {Tensor.__module__}.{Tensor.__qualname__}")
            Tensor = cls

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, data=None, *, dtype=None, device=None, requires_grad=False):
        """``Tensor(data, dtype=None, device=None, requires_grad=False)``: a copy of ``data``."""
        t = tensor([] if data is None else data, dtype=dtype, device=device)
        for name in ("_data", "_be", "dtype", "grad", "grad_fn", "_output_nr", "_hooks", "_base", "_vc"):
            setattr(self, name, getattr(t, name))
        self.requires_grad = requires_grad

    # -- metadata ------------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        """The size of each dim, as a `Size` (a tuple)."""
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        """The shape, or the size of dim ``dim``."""
        return self.shape if dim is None else self._data.shape[_dim(dim, self.ndim)]

    @property
    def ndim(self) -> int:
        """The number of dims."""
        return len(self._data.shape)

    def dim(self) -> int:
        """The number of dims."""
        return len(self._data.shape)

    def numel(self) -> int:
        """The number of elements."""
        n = 1
        for d in self._data.shape:
            n *= d
        return n

    nelement = numel

    def element_size(self) -> int:
        """Bytes of one element."""
        return self.dtype.itemsize

    @property
    def device(self) -> device:
        """The device the data lives on."""
        return self._be.device

    @property
    def is_cuda(self) -> bool:
        """Whether the tensor is on a "cuda" device."""
        return self._be.device.type == "cuda"

    def stride(self, dim: int | None = None):
        """The step in elements between neighbours along each dim (or along ``dim``)."""
        s = self._be.strides(self._data)
        return s if dim is None else s[_dim(dim, self.ndim)]

    def _is_row_major(self) -> bool:
        """Whether the elements lie in memory in row-major order (`is_contiguous` is in _misc.py)."""
        expected = 1
        for n, s in zip(reversed(self._data.shape), reversed(self._be.strides(self._data))):
            if n != 1 and s != expected:
                return False
            expected *= n
        return True

    def is_floating_point(self) -> bool:
        """Whether the dtype is a floating-point type."""
        return self.dtype.is_floating_point

    @property
    def is_leaf(self) -> bool:
        """Whether no recorded op made this tensor (its ``.grad`` is filled by backward)."""
        return self.grad_fn is None

    @property
    def data(self) -> Tensor:
        """The tensor detached from autograd; assigning swaps in another tensor's data."""
        return self.detach()

    @data.setter
    def data(self, other: Tensor) -> None:
        """The tensor detached from autograd; assigning swaps in another tensor's data."""
        self._data, self._be, self.dtype = other._data, other._be, other.dtype

    # -- autograd ------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Sets whether autograd records ops on this (leaf) tensor; returns self."""
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad = requires_grad
        return self

    def detach(self) -> Tensor:
        """A tensor over the same data, detached from the autograd graph."""
        t = _wrap(self._data, self._be, self.dtype)
        t._vc = self._counter()  # same memory, same version counter (as PyTorch)
        return t

    def _counter(self) -> list:
        """The version counter shared by every tensor over this memory: in-place ops bump it,
        and autograd refuses saved tensors whose version moved on."""
        vc = getattr(self, "_vc", None)  # subclasses built without _wrap may not have set it
        if vc is None:
            vc = self._vc = [0]
        return vc

    @property
    def _version(self) -> int:
        return self._counter()[0]

    def detach_(self) -> Tensor:
        """Detaches self from the autograd graph, in place."""
        self.grad_fn = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keeps ``.grad`` for this non-leaf tensor during backward."""
        if self.grad_fn is None:
            return
        node = self.grad_fn
        if node.retained is None:
            node.retained = {}
        node.retained[self._output_nr] = self

    def register_hook(self, hook) -> None:
        """Calls ``hook(grad)`` with this leaf's gradient during backward (may return a replacement)."""
        if self.grad_fn is not None:
            raise NotImplementedError("hooks on non-leaf tensors are not supported; use retain_grad()")
        self._hooks = (self._hooks or ()) + (hook,)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after this leaf's ``.grad`` has been accumulated during backward (as soon
        as all of its gradient is in, while the rest of backward continues). Returns a handle with
        ``remove()``."""

        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        wrapped = PostAccumulateGradHook(hook)
        self._hooks = (self._hooks or ()) + (wrapped,)
        return RemovableHandle(self, wrapped)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Computes the gradient of this tensor with respect to the graph's leaves (accumulated in ``.grad``)."""
        backward(self, gradient, retain_graph, create_graph, inputs)

    # -- conversion ----------------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The data as a NumPy array (a copy off the cpu; refuses tensors that require grad unless ``force``)."""
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        a = self._be.to_numpy(self._data)
        return a if a.dtype == self.dtype.np else a.astype(self.dtype.np)

    def __array__(self, dtype=None, copy=None):
        """NumPy's conversion hook (``np.asarray(t)``)."""
        a = self._be.to_numpy(self._data)
        return a if dtype is None else a.astype(dtype)

    def tolist(self):
        """The data as (nested) Python lists of numbers."""
        return self._be.to_numpy(self._data).tolist()

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self._be.to_numpy(self._data).reshape(()).item()

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"``: a 0-d tensor formats as its number; any other with an empty spec as
        its repr (as PyTorch)."""
        if self.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError("unsupported format string passed to Tensor.__format__")
        return repr(self)

    def data_ptr(self) -> int:
        """The first element's address (cpu, cuda); on wgpu, which has no addresses, an integer
        that is equal exactly for tensors starting at the same element of the same buffer."""
        d = self._data
        if hasattr(d, "ctypes"):  # NumPy
            return d.ctypes.data
        if hasattr(d, "data") and hasattr(d.data, "ptr"):  # CuPy
            return d.data.ptr
        return id(d.buffer) * 2**32 + d.offset * self.dtype.itemsize

    def pin_memory(self, device=None) -> Tensor:
        """Accepted for PyTorch programs: host memory needs no pinning for the devices wgtorch has."""
        if self.device.type != "cpu":
            raise RuntimeError(f"cannot pin '{self.device}' memory: only dense CPU tensors can be pinned")
        return self

    def is_pinned(self, device=None) -> bool:
        """Always False: wgtorch has no pinned host memory."""
        return False

    def type_as(self, other: Tensor) -> Tensor:
        """``self.to(other.dtype)``."""
        return self.to(other.dtype)

    def __float__(self):
        """``float(t)`` of a one-element tensor."""
        return float(self.item())

    def __int__(self):
        """``int(t)`` of a one-element tensor."""
        return int(self.item())

    def __index__(self):
        """The tensor as an index (a one-element integer tensor)."""
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        """``bool(t)`` of a one-element tensor (more elements are ambiguous)."""
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.numel()} values is ambiguous")
        return bool(self.item())

    def __len__(self):
        """The size of dim 0."""
        if not self.ndim:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        """Iterates over dim 0."""
        if not self.ndim:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self):
        """Identity hash (tensors compare elementwise, so they hash by object)."""
        return id(self)

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False) -> Tensor:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)``."""
        for a in args:
            if isinstance(a, TensorCore):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (D.dtype, type)) or (isinstance(a, str) and a in D._BY_NAME):
                dtype = a
            else:
                device = a
        t = self
        if device is not None:
            dev = canonical(device)
            if dev != self.device:
                t = ToDevice.apply(t, get_backend(dev))
        if dtype is not None and D.to_dtype(dtype) is not t.dtype:
            t = t._cast(D.to_dtype(dtype))
        if copy and t is self:
            t = t.clone()
        return t

    def cpu(self) -> Tensor:
        """``self.to("cpu")``."""
        return self.to("cpu")

    def cuda(self, index: int = 0) -> Tensor:
        """``self.to("cuda:index")``."""
        return self.to(f"cuda:{index}")

    def wgpu(self, index: int = 0) -> Tensor:
        """``self.to("wgpu:index")``."""
        return self.to(f"wgpu:{index}")

    def type(self, dtype=None):
        """The type name (``"wgtorch.float32"``), or, given a dtype, the tensor cast to it."""
        if dtype is None:
            return f"wgtorch.{self.dtype.name}"
        return self.to(dtype)

    def __repr__(self) -> str:
        """The tensor printed as PyTorch prints it."""
        from ._format import tensor_repr

        return tensor_repr(self)

    def __reduce_ex__(self, protocol):
        """Pickling: the data, dtype, device and requires_grad."""
        return (tensor, (self.detach().numpy(), self.dtype.name, str(self.device), self.requires_grad))

    def __deepcopy__(self, memo):
        """A detached copy with the same requires_grad."""
        t = self.detach().clone()
        t.requires_grad = self.requires_grad
        memo[id(self)] = t
        return t


# -- building a tensor from data (here, not in _creation, because Tensor(data) uses it) --


def _backend(device):
    return get_backend(get_default_device() if device is None else canonical(device))


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, a scalar, a NumPy array or a tensor)."""
    if isinstance(data, TensorCore):
        t = data.detach().to(device=device if device is not None else data.device, dtype=dtype, copy=True)
        return _finish(t, requires_grad)
    host = data if isinstance(data, np.ndarray) else np.asarray(_unwrap(data))
    if dtype is not None:
        dt = D.to_dtype(dtype)
    elif isinstance(data, np.ndarray):
        dt = D.from_numpy_dtype(host.dtype)
    elif host.dtype.kind == "f":
        dt = D.get_default_dtype()
    elif host.dtype.kind in "iu":
        dt = D.int64
    elif host.dtype.kind == "b":
        dt = D.bool_
    else:
        raise TypeError(f"can't build a tensor from {type(data).__name__}: elements must be numbers of one "
                        f"nesting depth (got NumPy kind {host.dtype})")
    be = _backend(device)
    be.check_dtype(dt)
    with np.errstate(all="ignore"):
        host = host.astype(dt.np, copy=False)
    return _finish(_wrap(be.from_numpy(host, dt), be, dt), requires_grad)


def _unwrap(data):
    if isinstance(data, (list, tuple)):
        return [_unwrap(x) for x in data]
    if isinstance(data, TensorCore):
        return data.detach().numpy()
    return data



def _dim(d: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
    return d % n


_new_tensor = object.__new__  # what TensorCore.__new__ does, without its Python frame (hot in _wrap)


class ToDevice(Function):
    """Moving between devices goes through the host; the gradient moves back."""

    @staticmethod
    def forward(ctx, x: Tensor, be):
        ctx.src = x._be
        be.check_dtype(x.dtype)
        host = x._be.to_numpy(x._data)
        # ascontiguousarray makes a 0-d array 1-d: keep the shape (an optimizer's step is 0-d).
        return _wrap(be.from_numpy(np.ascontiguousarray(host).reshape(host.shape), x.dtype), be, x.dtype)

    @staticmethod
    def backward(ctx, g):
        return ToDevice.apply(g, ctx.src), None
