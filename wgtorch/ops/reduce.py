"""Reductions: sum, mean, prod, amax/amin, max/min with indices, argmax/argmin, the composites
built on them (var, std, logsumexp), and softmax/log_softmax (one fused backend call each).

Integer sums and products into int64 on wgpu run in i64 where the adapter has shader-int64 (exact,
as PyTorch's); without it int64 is stored in 32 bits, and they wrap around past 2**31."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .. import _dtype as D
from .._tensor import TensorCore, _dim, _wrap
from ..amp.autocast_mode import autocast_op
from ..autograd.function import Function
from .pointwise import where
from .rearrange import flip
from .registry import TORCH_NAMES
from .shape import cat

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def reduce_dims(x: Tensor, dim) -> tuple:
    """Normalised, sorted, de-duplicated dims; None (or ()) means all dims."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(x.ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    out = sorted({_dim(d, x.ndim) for d in dims})
    if len(out) != len(dims):
        raise RuntimeError(f"dim {dims} appears multiple times in the list of dims")
    return tuple(out) if x.ndim else ()


def _unreduce(g: Tensor, in_shape, dims, keepdim) -> Tensor:
    """Broadcast a reduced gradient back over the reduced dims."""
    if not keepdim and dims and g.ndim:  # (a 0-d g, the sum of everything, expands as it is)
        shape = list(in_shape)
        for d in dims:
            shape[d] = 1
        g = g.reshape(tuple(shape))
    return g.expand(tuple(in_shape))


class Reduce(Function):
    @staticmethod
    def forward(ctx, x, op, dims, keepdim, out_dtype):
        data = x._be.elementwise("copy", [x._data], x.dtype, out_dtype) if x.dtype is not out_dtype else x._data
        be = x._be
        n = math.prod(x.shape[d] for d in dims)
        if not dims:  # 0-d input: nothing to reduce
            y = be.elementwise("copy", [data], out_dtype, out_dtype)
        elif out_dtype in D.HALVES and op in ("sum", "mean"):  # (PyTorch's cpu prod stays in float16)
            y = _reduce_in_float32(be, "sum" if op == "mean" else op, data, dims, keepdim)
        else:
            y = be.reduce("sum" if op == "mean" else op, data, dims, keepdim)
        if op == "mean":  # sum / n, as PyTorch (0 / 0 is NaN for an empty input)
            y = be.elementwise("div", [y, n], D.float32 if out_dtype in D.HALVES else out_dtype, out_dtype)
        elif out_dtype in D.HALVES and op == "sum" and dims:
            y = be.elementwise("copy", [y], D.float32, out_dtype)
        y = _wrap(y, be, out_dtype)
        if ctx.needs_input_grad:
            ctx.op, ctx.dims, ctx.keepdim, ctx.in_shape, ctx.n = op, dims, keepdim, x.shape, n
            if op not in ("sum", "mean"):  # their gradients need no values
                ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        op = ctx.op
        x, y = ctx.saved_tensors if op not in ("sum", "mean") else (None, None)
        if op == "mean":
            g = g / ctx.n
        g = _unreduce(g, ctx.in_shape, ctx.dims, ctx.keepdim)
        if op in ("sum", "mean"):
            gx = g
        elif ctx.op == "prod":
            gx = g * _prod_grad(x, y, ctx)
        else:  # amax / amin: split evenly between ties, as PyTorch does
            mask = (x == _unreduce(y, ctx.in_shape, ctx.dims, ctx.keepdim)).to(g.dtype)
            gx = g * mask / mask.sum(ctx.dims, keepdim=True)
        return gx, None, None, None, None


def _reduce_in_float32(be, op: str, data, dims, keepdim):
    """A float16 sum accumulated in float32, as PyTorch does (the float32 result: the caller
    rounds it to float16 once, after any mean division)."""
    return be.reduce(op, data, dims, keepdim, out_dtype=D.float32)


def _prod_grad(x: Tensor, y: Tensor, ctx) -> Tensor:
    """d prod / d x as PyTorch computes it (its ``prod_backward``): y / x when the input holds no
    zero anywhere (so a NaN or inf in a row makes that row's gradient NaN, one element included);
    else, for every row, the product of the others as exclusive cumulative products from both
    ends (at a zero: the others' product; next to one: 0, or NaN where an inf meets it)."""

    if x.ndim == 0:  # its one input
        return x.new_ones(())
    y = _unreduce(y, ctx.in_shape, ctx.dims, ctx.keepdim)
    if not bool((x == 0).any()):  # PyTorch reads the count back too
        return y / x
    dims = ctx.dims
    rest = [d for d in range(x.ndim) if d not in dims]
    perm = rest + list(dims)
    rows = x.permute(perm).reshape([x.shape[d] for d in rest] + [-1])
    if rows.shape[-1] == 0:
        return x.new_ones(x.shape)
    ones = rows.new_ones(tuple(rows.shape[:-1]) + (1,))
    left = cat([ones, rows[..., :-1]], -1).cumprod(-1)  # (the method: ops/scan imports this module)
    right = flip(cat([ones, flip(rows, [-1])[..., :-1]], -1).cumprod(-1), [-1])
    others = (left * right).reshape([x.shape[d] for d in perm])
    inverse = [perm.index(d) for d in range(x.ndim)]
    return others.permute(inverse)


def _accumulate_dtype(x: Tensor, dtype) -> D.dtype:
    if dtype is not None:
        return D.to_dtype(dtype)
    return x.dtype if x.dtype.is_floating_point else D.int64


@autocast_op
def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The sum over ``dim`` (all dims if None), keeping reduced dims as size 1 if ``keepdim``."""
    return Reduce.apply(x, "sum", reduce_dims(x, dim), keepdim, _accumulate_dtype(x, dtype))


class _Omitted:
    """The default of prod's ``dim`` and ``keepdim``: PyTorch's prod has two forms, ``prod(x, *,
    dtype)`` (every element) and ``prod(x, dim: int, keepdim: bool = False, *, dtype)``, so an
    explicit ``dim=None`` or ``keepdim`` without a dim is a TypeError, which None can't tell."""

    def __repr__(self) -> str:
        return "<omitted>"


_OMITTED = _Omitted()


def _prod_form_error(dim, keepdim) -> TypeError:
    got = ["Tensor"] + ([] if dim is _OMITTED else [f"dim={type(dim).__name__}"]) + \
        ([] if keepdim is _OMITTED else [f"keepdim={type(keepdim).__name__}"])
    return TypeError(f"prod() received an invalid combination of arguments - got ({', '.join(got)}), but expected "
                     "one of:\n * (Tensor input, *, torch.dtype dtype = None)\n * (Tensor input, int dim, bool "
                     "keepdim = False, *, torch.dtype dtype = None)")


@autocast_op
def prod(x: Tensor, dim=_OMITTED, keepdim=_OMITTED, *, dtype=None) -> Tensor:
    """The product of every element, or over one int ``dim`` (as PyTorch's prod: a tuple, a list or
    None is a TypeError), keeping it as size 1 if ``keepdim``."""
    if dim is _OMITTED:
        if keepdim is not _OMITTED:
            raise _prod_form_error(dim, keepdim)
        return Reduce.apply(x, "prod", reduce_dims(x, None), False, _accumulate_dtype(x, dtype))
    if isinstance(dim, bool) or not hasattr(dim, "__index__") or (isinstance(dim, TensorCore) and dim.numel() != 1):
        if dim is None and (keepdim is not _OMITTED or dtype is not None):  # (a keyword picked the form)
            raise TypeError("prod(): argument 'dim' must be int, not NoneType")
        raise _prod_form_error(dim, keepdim)
    keepdim = False if keepdim is _OMITTED else keepdim
    if not isinstance(keepdim, bool):
        raise TypeError(f"prod(): argument 'keepdim' must be bool, not {type(keepdim).__name__}")
    return Reduce.apply(x, "prod", reduce_dims(x, dim.__index__()), keepdim, _accumulate_dtype(x, dtype))


def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The mean over ``dim`` (all dims if None), keeping reduced dims as size 1 if ``keepdim``."""
    dt = D.to_dtype(dtype) if dtype is not None else x.dtype
    if not dt.is_floating_point:
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating "
                           f"point or complex dtype. Got: {x.dtype.name.capitalize()}")
    return Reduce.apply(x, "mean", reduce_dims(x, dim), keepdim, dt)


def _check_nonempty(x: Tensor, name: str, dim, dims) -> None:
    """max-like reductions have no identity: refuse to reduce a zero-size dim (as PyTorch)."""
    if x.numel():
        return
    if dim is None:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                           "Specify the reduction dim with the 'dim' argument.")
    for d in dims:
        if x.shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def amax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The largest value over ``dim`` (all dims if None or empty)."""
    dims = reduce_dims(x, dim)
    _check_nonempty(x, "amax", dim, dims)
    return Reduce.apply(x, "amax", dims, keepdim, x.dtype)


def amin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The smallest value over ``dim`` (all dims if None or empty)."""
    dims = reduce_dims(x, dim)
    _check_nonempty(x, "amin", dim, dims)
    return Reduce.apply(x, "amin", dims, keepdim, x.dtype)


class ValuesIndices(tuple):
    """``max(dim)`` / ``min(dim)`` result: a pair with ``.values`` and ``.indices``."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


class ArgReduce(Function):
    """argmax/argmin over one dim (int64 indices); with values for max(dim)/min(dim)."""

    @staticmethod
    def forward(ctx, x, op, dim, keepdim):
        idx = _wrap(x._be.reduce(op, x._data, (dim,), True), x._be, D.int64)
        values = _wrap(x._be.gather(x._data, dim, idx._data), x._be, x.dtype)
        if not keepdim:
            idx, values = idx.squeeze(dim), values.squeeze(dim)
        ctx.mark_non_differentiable(idx)
        ctx.dim, ctx.keepdim, ctx.in_shape = dim, keepdim, x.shape
        ctx.save_for_backward(idx)
        return values, idx

    @staticmethod
    def backward(ctx, g, _g_idx):
        (idx,) = ctx.saved_tensors
        if not ctx.keepdim:
            g, idx = g.unsqueeze(ctx.dim), idx.unsqueeze(ctx.dim)
        return g.new_zeros(ctx.in_shape).scatter_add(ctx.dim, idx, g), None, None, None


def _arg(x: Tensor, op: str, dim, keepdim: bool) -> Tensor:
    if x.dtype is D.bool_:
        raise RuntimeError(f"{op}(): does not support bool input")
    if dim is None and not x.numel():  # (PyTorch's type here: IndexError, where max() raises RuntimeError)
        raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
    _check_nonempty(x, op, dim, () if dim is None else (_dim(dim, x.ndim),))
    if dim is None:
        flat = x.reshape(-1)
        values, idx = ArgReduce.apply(flat, op, 0, False)
        return idx.reshape((1,) * x.ndim) if keepdim else idx
    if x.ndim == 0:
        return x.new_zeros((), dtype=D.int64)
    return ArgReduce.apply(x, op, _dim(dim, x.ndim), keepdim)[1]


def argmax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The index of the largest value (over the flattened tensor if ``dim`` is None)."""
    return _arg(x, "argmax", dim, keepdim)


def argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """The index of the smallest value (over the flattened tensor if ``dim`` is None)."""
    return _arg(x, "argmin", dim, keepdim)


def _max_or_min(x: Tensor, op: str, dim, keepdim, other):
    if isinstance(dim, TensorCore) or isinstance(other, TensorCore):
        return (x.maximum if op == "argmax" else x.minimum)(dim if isinstance(dim, TensorCore) else other)
    if dim is None:
        _check_nonempty(x, "max" if op == "argmax" else "min", None, reduce_dims(x, None))
        if x.ndim == 0:
            return _MaxAll.apply(x.reshape(1), "amax" if op == "argmax" else "amin").reshape(())
        return _MaxAll.apply(x, "amax" if op == "argmax" else "amin")
    _check_nonempty(x, "max" if op == "argmax" else "min", dim, (_dim(dim, x.ndim),))
    if x.ndim == 0:
        return ValuesIndices((x.clone(), x.new_zeros((), dtype=D.int64)))
    return ValuesIndices(ArgReduce.apply(x, op, _dim(dim, x.ndim), keepdim))


class _MaxAll(Function):
    """max() / min() over every element. The gradient is PyTorch's ``evenly_distribute_backward``:
    g / count to the elements equal to the result, or to the NaNs where the result is NaN (amax's
    gradient is NaN everywhere there)."""

    @staticmethod
    def forward(ctx, x, op):
        y = _wrap(x._be.reduce(op, x._data, tuple(range(x.ndim)), False), x._be, x.dtype)
        if ctx.needs_input_grad:
            ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):

        x, y = ctx.saved_tensors
        mask = where(y.isnan(), x.isnan(), x == y)
        return where(mask, g / mask.sum(), 0.0).to(g.dtype), None


def max(x: Tensor, dim=None, keepdim: bool = False, *, other=None):
    """The largest value; given ``dim``, ``(values, indices)`` along it; given ``other``, the elementwise maximum."""
    return _max_or_min(x, "argmax", dim, keepdim, other)


def min(x: Tensor, dim=None, keepdim: bool = False, *, other=None):
    """The smallest value; given ``dim``, ``(values, indices)`` along it; given ``other``, the elementwise minimum."""
    return _max_or_min(x, "argmin", dim, keepdim, other)


def _finite_or_zero(m: Tensor) -> Tensor:
    """The shift for a stable exp: an infinite max would turn x - max into NaN."""

    return where(m.isfinite(), m, 0.0)


class Var(Function):
    """var over ``dims`` with PyTorch's gradient where N - correction <= 0 (its forward gives
    inf, or NaN for a constant row): over all dims, inf (NaN where x equals the mean); over given
    dims, 2 / (N - correction) * (x - mean), which may be negative."""

    @staticmethod
    def forward(ctx, x, dims, correction, keepdim, all_dims):
        n = math.prod(x.shape[d] for d in dims)
        centred = x - mean(x, dims, keepdim=True)
        dof = n - correction
        ss = (centred * centred).sum(dims, keepdim=keepdim)
        if n:  # the corrected two-pass sum: minus (sum centred)^2 / n, the rounding error of the mean
            c1 = centred.sum(dims, keepdim=keepdim)  # (a constant row gives exactly 0, as PyTorch's double does)
            ss = ss - c1 * c1 / n
            ss = where(ss < 0, 0.0, ss)  # (rounding; NaN stays NaN)
        y = ss / (dof if dof > 0 else 0)
        ctx.save_for_backward(x)
        ctx.dims, ctx.keepdim, ctx.dof, ctx.all_dims = dims, keepdim, dof, all_dims
        return y

    @staticmethod
    def backward(ctx, g):

        (x,) = ctx.saved_tensors
        g = _unreduce(g, x.shape, ctx.dims, ctx.keepdim)
        m = mean(x, ctx.dims, keepdim=True)
        if ctx.all_dims and ctx.dof <= 0:  # NaN where x equals the mean (an infinite x too), else inf
            return g * where(x == m, math.nan, math.inf), None, None, None, None
        centred = x - m
        scale = 2.0 / ctx.dof if ctx.dof else math.inf
        return g * (centred * scale), None, None, None, None


class _StdSqrt(Function):
    """sqrt of a variance, with PyTorch's zero gradient where the std is 0 (a constant row)."""

    @staticmethod
    def forward(ctx, v):
        y = v.sqrt()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):

        (y,) = ctx.saved_tensors
        return where(y == 0, 0.0, g / (y * 2))


def _var_scaled(x: Tensor, dim, unbiased, keepdim: bool, correction):
    """(var of x / scale, scale shaped as the result), scale a power of two or None."""
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"std and var only support floating point and complex dtypes, got {x.dtype.name}")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    elif unbiased is not None:  # (PyTorch's signatures take one or the other)
        raise TypeError("var()/std() received an invalid combination of arguments: both unbiased and correction")
    dims = reduce_dims(x, dim)
    # (PyTorch's backward treats dim=() as a given dim with N = 1, inconsistently with its
    # forward: not followed here, dim=() is dim=None)
    all_dims = x.ndim == 0 or dim is None or (isinstance(dim, (tuple, list)) and not dim)
    scale = _pow2_scale(x, dims)
    if scale is None:
        return Var.apply(x, dims, correction, keepdim, all_dims), None
    out = scale if keepdim else scale.reshape([n for d, n in enumerate(x.shape) if d not in dims])
    return Var.apply(x / scale, dims, correction, keepdim, all_dims), out


def _pow2_scale(x: Tensor, dims):
    """A power of two near each slice's largest |x| (1 where that is 0, inf or NaN), or None when
    there is nothing to reduce. var/std run on x / scale: PyTorch's cpu accumulates in double, so
    its std of values near 3e38 is finite where float32's sum and squares overflow; a power of two
    scales exactly, so values and gradients are otherwise unchanged."""

    if not dims or x.ndim == 0 or any(x.shape[d] == 0 for d in dims):
        return None
    m = amax(x.detach().abs(), dims, keepdim=True)
    return where(m.isfinite() & (m > 0), m.log2().floor().exp2(), 1.0).to(x.dtype)


def var(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """The variance over ``dim`` with Bessel's ``correction`` (1 by default)."""
    v, s = _var_scaled(x, dim, unbiased, keepdim, correction)
    return v if s is None else v * s * s  # (not s * s: inf for a zero variance)


def std(x: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """The standard deviation over ``dim`` with Bessel's ``correction`` (1 by default)."""
    v, s = _var_scaled(x, dim, unbiased, keepdim, correction)
    return _StdSqrt.apply(v) if s is None else _StdSqrt.apply(v) * s


@autocast_op
def logsumexp(x: Tensor, dim, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input)))`` over ``dim``, computed stably."""
    dims = reduce_dims(x, dim)
    if not x.dtype.is_floating_point:  # PyTorch computes an integer input in the default float type
        x = x.to(D.float32)
    if any(x.shape[d] == 0 for d in dims):  # an empty sum: log(0) = -inf, as PyTorch
        out = x.exp().sum(dims, keepdim=True).log()
    else:
        m = _finite_or_zero(amax(x, dims, keepdim=True).detach())
        out = (x - m).exp().sum(dims, keepdim=True).log() + m
    return out if keepdim else out.squeeze(dims) if dims else out


class Softmax(Function):
    """softmax or log_softmax over one dim: one fused backend call forward (``be.softmax``);
    backward from the saved output alone."""

    @staticmethod
    def forward(ctx, x, dim, log):
        y = _wrap(x._be.softmax(x._data, dim, log), x._be, x.dtype)
        if ctx.needs_input_grad:
            ctx.dim, ctx.log = dim, log
            ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if ctx.log:  # d/dx of x - logsumexp(x): g - softmax(x) * sum(g)
            return g - y.exp() * g.sum(ctx.dim, keepdim=True), None, None
        return y * (g - (g * y).sum(ctx.dim, keepdim=True)), None, None




def _softmax(x: Tensor, dim: int, dtype, log: bool) -> Tensor:
    if dtype is not None:
        x = x.to(dtype)
    name = "log_softmax" if log else "softmax"
    dim = _dim(dim, x.ndim)  # PyTorch checks the dim first
    if not x.dtype.is_floating_point:
        if x.numel() == 0:  # PyTorch runs no kernel on an empty tensor: an empty one of its dtype
            return x.new_empty(x.shape)
        type_name = TORCH_NAMES[x.dtype.name]
        raise NotImplementedError(f'"{name}" not implemented for \'{type_name}\' (softmax needs a floating-point '
                                  "tensor; pass dtype=wgtorch.float32)")
    if x.ndim == 0:  # a 0-d tensor is a row of one
        return Softmax.apply(x.reshape(1), 0, log).reshape(())
    return Softmax.apply(x, dim, log)


@autocast_op
def softmax(x: Tensor, dim: int, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``."""
    return _softmax(x, dim, dtype, False)


@autocast_op
def log_softmax(x: Tensor, dim: int, dtype=None) -> Tensor:
    """``log(softmax(x))`` along ``dim``, computed stably."""
    return _softmax(x, dim, dtype, True)
