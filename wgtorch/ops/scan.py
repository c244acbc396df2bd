"""Scans along one dim: cumsum, cumprod, cummax, cummin, logcumsumexp (one backend ``scan`` call
each), with PyTorch's result dtypes and gradients.

Integer and bool inputs of cumsum/cumprod give int64 (as PyTorch); with ``dtype=`` the input is
converted first. On wgpu without shader-int64, int64 is stored as 32 bits, so an integer scan past
2**31 raises RuntimeError there instead of wrapping (with it they are exact)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _dtype as D
from .._creation import arange
from .._info import finfo
from .._tensor import _dim, _wrap
from ..autograd.function import Function
from .pointwise import where
from .reduce import ValuesIndices
from .registry import TORCH_NAMES
from .shape import apply_inplace

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _flip(t: Tensor, dim: int) -> Tensor:
    """t reversed along ``dim`` (a gather: backends take positive steps only)."""

    n = t.shape[dim]
    return t.index_select(dim, arange(n - 1, -1, -1, device=t.device)) if n > 1 else t


def _reverse_cumsum(t: Tensor, dim: int) -> Tensor:
    return _flip(cumsum(_flip(t, dim), dim), dim)


class Scan(Function):
    """cumsum / cumprod / logcumsumexp over ``dim``; backward as PyTorch's."""

    @staticmethod
    def forward(ctx, x, op, dim, out_dtype):
        y = _wrap(x._be.scan(op, x._data, dim, out_dtype), x._be, out_dtype)
        if ctx.needs_input_grad:
            ctx.op, ctx.dim = op, dim
            ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        dim = ctx.dim
        if ctx.op == "sum":
            return _reverse_cumsum(g, dim), None, None, None
        if ctx.op == "prod":
            return _cumprod_grad(x, y, g, dim), None, None, None
        return _logcumsumexp_grad(x, y, g, dim), None, None, None


def _cumprod_grad(x: Tensor, y: Tensor, g: Tensor, dim: int) -> Tensor:
    """PyTorch's cumprod gradient, zeros included: before a row's first zero z,
    revcumsum(g * y) / x; at z, the sum over k >= z of g[k] times the product of x[:k+1] without
    x[z]; after z, 0."""

    is_zero = x == 0
    zeros_so_far = cumsum(is_zero, dim)
    before = zeros_so_far == 0
    first = is_zero & (zeros_so_far == 1)
    at_before = _reverse_cumsum(g * y, dim) / where(before, x, 1.0)
    without_z = cumprod(where(first, 1.0, x), dim)  # the product of x[:k+1] skipping x[z], for k >= z
    at_first = _reverse_cumsum(g * without_z, dim)
    return where(before, at_before, where(first, at_first, 0.0))


def _logcumsumexp_grad(x: Tensor, y: Tensor, g: Tensor, dim: int) -> Tensor:
    """PyTorch's: positive and negative parts of g through reverse logcumsumexps in log space."""

    lowest = finfo(g.dtype).min
    log_abs = g.abs().log()
    pos = where(g > 0, log_abs, lowest)
    neg = where(g < 0, log_abs, lowest)

    def rev(t):
        return _flip(logcumsumexp(_flip(t, dim), dim), dim)

    return (rev(pos - y) + x).exp() - (rev(neg - y) + x).exp()


class ScanArg(Function):
    """cummax / cummin: (values, int64 indices); the gradient goes to the indices."""

    @staticmethod
    def forward(ctx, x, op, dim):
        values, idx = x._be.scan(op, x._data, dim, x.dtype)
        values, idx = _wrap(values, x._be, x.dtype), _wrap(idx, x._be, D.int64)
        ctx.mark_non_differentiable(idx)
        if ctx.needs_input_grad:
            ctx.dim = dim
            ctx.save_for_backward(idx)
        return values, idx

    @staticmethod
    def backward(ctx, g, _g_idx):
        (idx,) = ctx.saved_tensors
        return g.new_zeros(g.shape).scatter_add(ctx.dim, idx, g), None, None


def _check_dim(dim, name: str) -> None:
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")


def _scan(x: Tensor, op: str, dim: int, out_dtype: D.dtype) -> Tensor:
    _check_dim(dim, {"sum": "cumsum", "prod": "cumprod", "logsumexp": "logcumsumexp"}[op])
    dim = _dim(dim, x.ndim)
    if x.ndim == 0:  # a 0-d tensor is a row of one
        return Scan.apply(x.reshape(1), op, 0, out_dtype).reshape(())
    return Scan.apply(x, op, dim, out_dtype)


def _result_dtype(x: Tensor, dtype) -> D.dtype:
    if dtype is not None:
        return D.to_dtype(dtype)
    return x.dtype if x.dtype.is_floating_point else D.int64


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative sum of ``input`` along ``dim``: ``y[i] = x[0] + ... + x[i]``. Integer and bool
    inputs give int64 unless ``dtype`` is given (the input is converted to it first)."""
    dt = _result_dtype(input, dtype)
    if dtype is not None and input.dtype is not dt:
        input = input.to(dt)
    return _scan(input, "sum", dim, dt)


def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative product of ``input`` along ``dim`` (result dtypes as `cumsum`)."""
    dt = _result_dtype(input, dtype)
    if dtype is not None and input.dtype is not dt:
        input = input.to(dt)
    return _scan(input, "prod", dim, dt)


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(input)))`` along ``dim``, computed stably (floating-point inputs)."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"\"logcumsumexp_out_cpu\" not implemented for '{TORCH_NAMES[input.dtype.name]}'")
    return _scan(input, "logsumexp", dim, input.dtype)


def _cum_extreme(input: Tensor, op: str, dim: int) -> ValuesIndices:
    _check_dim(dim, f"cum{op}")
    dim = _dim(dim, input.ndim)
    if input.ndim == 0:
        values, idx = ScanArg.apply(input.reshape(1), op, 0)
        return ValuesIndices((values.reshape(()), idx.reshape(())))
    return ValuesIndices(ScanArg.apply(input, op, dim))


def cummax(input: Tensor, dim: int) -> ValuesIndices:
    """(values, indices): the running maximum along ``dim`` and where it was last reached; a NaN,
    once seen, stays (indices: the last NaN)."""
    return _cum_extreme(input, "max", dim)


def cummin(input: Tensor, dim: int) -> ValuesIndices:
    """(values, indices): the running minimum along ``dim`` (as `cummax`)."""
    return _cum_extreme(input, "min", dim)


def _inplace(fn):
    def method(self, dim, *, dtype=None):
        if dtype is not None and D.to_dtype(dtype) is not self.dtype:
            raise RuntimeError(
                f"Bad in-place call: input tensor dtype {TORCH_NAMES[self.dtype.name].lower()} and "
                f"output tensor dtype {TORCH_NAMES[D.to_dtype(dtype).name].lower()} should match"
            )
        return apply_inplace(self, fn, dim, dtype=self.dtype)

    method.__name__ = fn.__name__ + "_"
    method.__doc__ = f"In-place `{fn.__name__}` (the result keeps self's dtype)."
    return method


cumsum_ = _inplace(cumsum)
cumprod_ = _inplace(cumprod)

#: names bound as ``wgtorch.<name>`` and ``Tensor.<name>``
FUNCTIONS = {"cumsum": cumsum, "cumprod": cumprod, "cummax": cummax, "cummin": cummin, "logcumsumexp": logcumsumexp}
METHODS = {**FUNCTIONS, "cumsum_": cumsum_, "cumprod_": cumprod_}
