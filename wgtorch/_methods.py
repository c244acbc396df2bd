"""Binds the ops of ``wgtorch/ops`` to `Tensor` as methods and operators (the op code itself
lives in the ops modules)."""

from __future__ import annotations

from . import _creation as C
from . import _dtype as D
from ._creation import tensor
from ._misc import METHODS, PROPERTIES
from ._sampling import TENSOR_METHODS
from ._tensor import Tensor
from .autograd.grad_mode import state
from .ops import division as _division
from .ops import index as I
from .ops import linalg as L
from .ops import matrix as M
from .ops import rearrange as RA
from .ops import reduce as R
from .ops import shape as S
from .ops import sorting, sorting_search
from .ops import strided as ST
from .ops.blas import TENSOR_METHODS as BLAS_METHODS
from .ops.elementwise_defs import OPS
from .ops.fill import fill_value, masked_fill
from .ops.index_put import setitem
from .ops.pointwise import Cast, pointwise, where
from .ops.shape import apply_inplace


def _operand(self, other):
    """A binary op's other operand: tensors and Python numbers as they are, sequences as tensors
    on self's device, anything else NotImplemented (so Python tries the reflected operator)."""
    if isinstance(other, (Tensor, int, float, bool)):
        return other
    try:

        return tensor(other, device=self.device)
    except TypeError:
        return NotImplemented


def _method(spec):
    """``Tensor.<op>`` for a registry entry (scalar parameters, if any, are positional)."""
    op = spec.name
    if spec.tensor_arity == 1:
        def method(self, *params):
            return pointwise(op, self, *params)
    elif spec.tensor_arity == 2:
        def method(self, other, *params):
            other = _operand(self, other)
            return other if other is NotImplemented else pointwise(op, self, other, *params)
    else:
        def method(self, *operands):
            return pointwise(op, self, *operands)
    method.__name__ = op
    method.__qualname__ = f"Tensor.{op}"
    method.__doc__ = spec.doc
    return method


def _reflected(op):
    def method(self, other):
        other = _operand(self, other)
        return other if other is NotImplemented else pointwise(op, other, self)

    method.__name__ = f"__r{op}__"
    return method


# Every registry op with a method gets it here, with its aliases and in-place variant.
for _spec in OPS.values():
    if _spec.method:
        _m = _method(_spec)
        for _name in (_spec.name, *_spec.aliases):
            setattr(Tensor, _name, _m)
for _name, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"), ("div", "div"),
                   ("pow", "pow"), ("floordiv", "floor_divide"), ("mod", "remainder"),
                   ("eq", "eq"), ("ne", "ne"), ("lt", "lt"), ("le", "le"), ("gt", "gt"), ("ge", "ge")):
    setattr(Tensor, f"__{_name}__", getattr(Tensor, _op))
    if _name in ("add", "sub", "mul", "truediv", "pow", "floordiv", "mod"):
        setattr(Tensor, f"__r{_name}__", _reflected(_op))


# -- reliability (issue 12): `s / x` is x.reciprocal() * s, as in PyTorch (float16 results differ) --
def __rtruediv__(self, other):
    other = _operand(self, other)
    if other is NotImplemented or isinstance(other, Tensor):
        return other if other is NotImplemented else pointwise("div", other, self)
    return pointwise("mul", self.reciprocal(), other)


Tensor.__rtruediv__ = __rtruediv__
# div with rounding_mode (a composite over the registry's div / floor_divide); div_ follows below
Tensor.div = Tensor.divide = _division.div
Tensor.__matmul__ = lambda a, b: L.matmul(a, b)
Tensor.__rmatmul__ = lambda a, b: L.matmul(b, a)
Tensor.__neg__ = Tensor.neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = Tensor.abs


def _logical(op, bitwise):
    """&, |, ^: logical on bools, bitwise on integers (floats get the bitwise op's error)."""
    def method(self, other):
        if self.dtype is D.bool_ and (not isinstance(other, Tensor) or other.dtype is D.bool_):
            return pointwise(op, self, other)
        other = _operand(self, other)
        return other if other is NotImplemented else pointwise(bitwise, self, other)

    return method


Tensor.__and__ = Tensor.__rand__ = _logical("logical_and", "bitwise_and")
Tensor.__or__ = Tensor.__ror__ = _logical("logical_or", "bitwise_or")
Tensor.__xor__ = Tensor.__rxor__ = _logical("logical_xor", "bitwise_xor")
Tensor.__invert__ = lambda self: pointwise("logical_not", self) if self.dtype is D.bool_ else pointwise("neg", self) - 1


def _add(self, other, *, alpha=1):
    return pointwise("add", self, other if alpha == 1 else other * alpha)


def _sub(self, other, *, alpha=1):
    return pointwise("sub", self, other if alpha == 1 else other * alpha)


_add.__doc__, _sub.__doc__ = "input + alpha * other.", "input - alpha * other."
Tensor.add, Tensor.sub = _add, _sub
Tensor.subtract = _sub
Tensor.clamp = lambda self, min=None, max=None: _clamp(self, min, max)
Tensor.clip = Tensor.clamp
Tensor.where = lambda self, cond, other: where(cond, self, other)


def _clamp(x, lo, hi):
    """min(max(x, lo), hi) as one op (bounds may be tensors); a missing bound is the dtype's
    extreme, so that it changes nothing."""
    if lo is None and hi is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    floating = x.dtype.is_floating_point or any(
        isinstance(b, float) or (isinstance(b, Tensor) and b.dtype.is_floating_point) for b in (lo, hi))
    if floating:
        big = float("inf")
    else:  # int64 is stored as 32-bit on wgpu
        big = 2**63 - 1 if x.dtype is D.int64 and x.device.type != "wgpu" else 2**31 - 1
    return pointwise("clamp", x, -big if lo is None else lo, big if hi is None else hi)


# -- in-place ops: compute, then write through self's view ---------------------------------------
def _check_inplace(self):
    """Refuse in-place writes autograd can't follow; count the ones it can (version counter)."""

    self._counter()[0] += 1
    if not (state.enabled and self.requires_grad):
        return
    if self.grad_fn is None:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    base = self._base
    if base is not None and base.requires_grad and base.grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
    if base is not None and base.requires_grad:
        # PyTorch rewrites the base's history here (CopySlices); wgtorch refuses rather than
        # give the base a wrong gradient.
        raise RuntimeError("an in-place operation on a view of a tensor that requires grad is not supported "
                           "by wgtorch's autograd; use an out-of-place op (e.g. torch.where or torch.cat) "
                           "or clone() the view first")


Tensor._check_inplace = _check_inplace


def _inplace(compute):
    def method(self, *args, **kwargs):
        return apply_inplace(self, compute, *args, **kwargs)

    return method


for _spec in OPS.values():
    if _spec.inplace:
        for _name in (_spec.name, *_spec.aliases):
            setattr(Tensor, f"{_name}_", _inplace(getattr(Tensor, _name)))
Tensor.clamp_ = Tensor.clip_ = _inplace(Tensor.clamp)
Tensor.__iadd__, Tensor.__isub__ = Tensor.add_, Tensor.sub_
Tensor.__imul__, Tensor.__itruediv__ = Tensor.mul_, Tensor.div_


def _masked_fill_(self, mask, value):
    return apply_inplace(self, masked_fill, mask, value)


def _fill_(self, value):
    self._check_inplace()
    value = value.item() if isinstance(value, Tensor) else value
    if not self.dtype.is_floating_point:
        value = fill_value(value, self.dtype, "fill_", check_float=False)  # NaN into an int raises
    if self.numel():
        S.copy_into(self, value)
    return self


def _zero_(self):
    return _fill_(self, 0)


def _copy_(self, src, non_blocking=False):
    self._check_inplace()
    S.copy_into(self, src)
    return self


Tensor.masked_fill_, Tensor.fill_, Tensor.zero_, Tensor.copy_ = _masked_fill_, _fill_, _zero_, _copy_

# -- shapes and views ----------------------------------------------------------------------------
Tensor.reshape = S.reshape
# -- dtype casts (float(), int(), ...): Cast is an op, so they are bound here, above ops/ --
def _cast(self, dt: D.dtype) -> Tensor:
    return Cast.apply(self, dt)


def _caster(name: str, dt: D.dtype):
    def method(self):
        return self._cast(dt)

    method.__name__, method.__qualname__ = name, f"Tensor.{name}"
    return method


Tensor._cast = _cast
for _name, _dt in (("float", D.float32), ("double", D.float64), ("half", D.float16), ("int", D.int32),
                   ("long", D.int64), ("bool", D.bool_)):
    setattr(Tensor, _name, _caster(_name, _dt))
Tensor.view = lambda self, *shape: (self._cast(shape[0]) if len(shape) == 1 and isinstance(shape[0], D.dtype)
                                    else S.reshape(self, *shape, copy_ok=False))
Tensor.view_as = lambda self, other: S.reshape(self, other.shape, copy_ok=False)
Tensor.reshape_as = lambda self, other: S.reshape(self, other.shape)
Tensor.permute = S.permute
Tensor.transpose = S.transpose
Tensor.swapaxes = Tensor.swapdims = S.transpose
Tensor.t = S.t
Tensor.T = property(lambda self: S.permute(self, tuple(reversed(range(self.ndim)))))
Tensor.mT = property(lambda self: S.transpose(self, -2, -1))
Tensor.expand = S.expand
Tensor.expand_as = lambda self, other: S.expand(self, other.shape)
Tensor.broadcast_to = S.expand
Tensor.squeeze = S.squeeze
Tensor.unsqueeze = S.unsqueeze
Tensor.flatten = S.flatten
Tensor.unflatten = S.unflatten
Tensor.contiguous = S.contiguous
Tensor.clone = lambda self, *, memory_format=None: S.Clone.apply(self)
Tensor.narrow = S.narrow
Tensor.select = I.select
Tensor.split = S.split
Tensor.chunk = S.chunk
Tensor.unbind = S.unbind
Tensor.__getitem__ = I.getitem
Tensor.__setitem__ = setitem

# -- reductions --------------------------------------------------------------------------------
for _name in ("sum", "prod", "mean", "amax", "amin", "argmax", "argmin", "max", "min", "var", "std",
              "logsumexp", "softmax", "log_softmax"):
    setattr(Tensor, _name, getattr(R, _name))
# Counting, rather than amin/amax, gives empty tensors and empty dims PyTorch's answers (True/False).
Tensor.all = lambda self, dim=None, keepdim=False: R.sum(self.bool().logical_not(), dim, keepdim) == 0
Tensor.any = lambda self, dim=None, keepdim=False: R.sum(self.bool(), dim, keepdim) > 0

# -- sorting (sort, argsort, topk, median, mode, unique, histc ...) ----------------------------
def _bind_sorting():
    for name in ("sort", "argsort", "msort", "topk", "kthvalue", "median", "nanmedian"):
        setattr(Tensor, name, getattr(sorting, name))
    for name in ("mode", "unique", "unique_consecutive", "histc"):
        setattr(Tensor, name, getattr(sorting_search, name))


_bind_sorting()

# -- matmul and indexing -------------------------------------------------------------------------
Tensor.matmul, Tensor.mm, Tensor.bmm, Tensor.dot = L.matmul, L.mm, L.bmm, L.dot
Tensor.index_select = I.index_select
Tensor.gather = I.gather
Tensor.scatter_add = I.scatter_add
Tensor.masked_fill = masked_fill

# -- indexing/scatter family (scatter, scatter_reduce, index_add/copy/fill/put, masked_select/scatter,
# nonzero, take, put ...): ops/scatter.py, ops/select.py, ops/index_put.py --
from .ops import index_put as _IP  # noqa: E402
from .ops import scatter as _SC  # noqa: E402
from .ops import select as _SE  # noqa: E402

for _fn in (_SC.scatter, _SC.scatter_reduce, _SC.index_add, _SC.index_copy, _SC.index_fill, _IP.index_put,
            _SE.masked_select, _SE.masked_scatter, _SE.nonzero, _SE.argwhere, _SE.take, _SE.take_along_dim, _SE.put):
    setattr(Tensor, _fn.__name__, _fn)
for _fn in (_SC.scatter, _SC.scatter_reduce, I.scatter_add, _SC.index_add, _SC.index_copy, _SC.index_fill,
            _IP.index_put, _SE.masked_scatter, _SE.put):
    setattr(Tensor, _fn.__name__ + "_", _inplace(_fn))


# -- new_* ---------------------------------------------------------------------------------------
def _new(fn):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return fn(*size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    return method


def _bind_new():
    Tensor.new_zeros = _new(C.zeros)
    Tensor.new_ones = _new(C.ones)
    Tensor.new_empty = _new(C.empty)
    Tensor.new_full = lambda self, size, value, dtype=None, device=None, requires_grad=False: C.full(
        size, value, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    Tensor.new_tensor = lambda self, data, dtype=None, device=None, requires_grad=False: C.tensor(
        data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


_bind_new()


# -- scans, norms, extra reductions (cumsum, cummax ..., norm, isclose ...) ----------------------
from .ops import norms as _norms  # noqa: E402
from .ops import reduce_extra as _reduce_extra  # noqa: E402
from .ops import scan as _scan  # noqa: E402

for _module in (_scan, _reduce_extra, _norms):  # (replaces the all/any lambdas: dims, uint8, docstrings)
    for _name, _fn in _module.METHODS.items():
        setattr(Tensor, _name, _fn)
# -- random sampling, addmm family, misc methods (randmisc: _sampling.py, ops/blas.py, _misc.py) --
def _bind_randmisc():
    for name, fn in {**METHODS, **TENSOR_METHODS, **BLAS_METHODS}.items():
        setattr(Tensor, name, fn)
    for name, prop in PROPERTIES.items():
        setattr(Tensor, name, prop)


_bind_randmisc()
# -- shape ops (as_strided, unfold, diagonal, flip/roll, tril/triu ...): ops/strided, ops/rearrange,
# ops/matrix --
def _bind_shape_ops():
    for module, names in ((ST, ("as_strided", "unfold", "storage_offset", "diagonal", "diagonal_scatter",
                                "select_scatter", "slice_scatter")),
                          (RA, ("flip", "fliplr", "flipud", "roll", "rot90", "repeat", "repeat_interleave", "tile",
                                "movedim", "moveaxis", "diff", "narrow_copy")),
                          (M, ("tril", "triu", "diag", "diag_embed", "trace", "outer", "ger", "cross", "kron",
                               "fill_diagonal_"))):
        for name in names:
            setattr(Tensor, name, getattr(module, name))
    Tensor.flip = lambda self, *dims: RA.flip(self, _dims_arg(dims))
    Tensor.tile = lambda self, *dims: RA.tile(self, _dims_arg(dims))
    Tensor.flip.__doc__, Tensor.tile.__doc__ = RA.flip.__doc__, RA.tile.__doc__
    Tensor.as_strided_ = ST.as_strided_
    Tensor.tril_ = lambda self, diagonal=0: apply_inplace(self, M.tril, diagonal)
    Tensor.triu_ = lambda self, diagonal=0: apply_inplace(self, M.triu, diagonal)
    Tensor.tril_.__doc__, Tensor.triu_.__doc__ = "In-place tril.", "In-place triu."


def _dims_arg(dims: tuple):
    """``x.flip(0, 1)`` and ``x.flip((0, 1))`` alike."""
    return tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims


_bind_shape_ops()
# -- bfloat16 (Tensor.bfloat16) -----------------------------------------------------------------
def _bfloat16(self, memory_format=None):
    """``self.to(torch.bfloat16)``."""
    return self._cast(D.bfloat16)


Tensor.bfloat16 = _bfloat16
