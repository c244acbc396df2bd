"""Reductions composed from the core ones (``reduce.py``) and elementwise ops, so they run on every
device and get their gradients from their parts: any/all with dims, count_nonzero, aminmax,
std_mean/var_mean, nansum/nanmean, isclose/allclose (on the device, one host read for allclose)
and nan_to_num."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING

from .. import _dtype as D
from .._info import finfo
from .._tensor import TensorCore
from ..autograd.function import Function
from . import reduce as R
from .pointwise import where
from .registry import TORCH_NAMES
from .shape import apply_inplace

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _name(dt: D.dtype) -> str:
    return TORCH_NAMES[dt.name]


def all(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether every element (over ``dim``: an int or a tuple) is non-zero. bool (uint8 for a
    uint8 input); True over an empty dim."""
    r = R.sum(input.bool().logical_not(), dim, keepdim) == 0
    return r.to(D.uint8) if input.dtype is D.uint8 else r


def any(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Whether any element (over ``dim``: an int or a tuple) is non-zero (dtypes as `all`)."""
    r = R.sum(input.bool(), dim, keepdim) > 0
    return r.to(D.uint8) if input.dtype is D.uint8 else r


def count_nonzero(input: Tensor, dim=None) -> Tensor:
    """The number of non-zero elements (NaN counts) over ``dim`` (an int, a tuple, or all): int64."""
    return R.sum(input.bool(), dim)


class MinMax(tuple):
    """`aminmax`'s result: a pair with ``.min`` and ``.max``."""

    @property
    def min(self):
        return self[0]

    @property
    def max(self):
        return self[1]


def aminmax(input: Tensor, *, dim=None, keepdim: bool = False) -> MinMax:
    """(min, max) over ``dim`` (an int, or all elements); NaN propagates."""
    if dim is not None and not isinstance(dim, int):
        raise TypeError(f"aminmax(): argument 'dim' must be int, not {type(dim).__name__}")
    dims = R.reduce_dims(input, dim)
    if (dim is None and not input.numel()) or builtins.any(input.shape[d] == 0 for d in dims):
        raise RuntimeError(
            "aminmax(): cannot compute aminmax over an empty dimension as the operation has no identity."
        )
    lo, hi = R.amin(input, dim, keepdim), R.amax(input, dim, keepdim)
    if dim is None and keepdim:  # (PyTorch keeps every dim as size 1 here)
        lo, hi = lo.reshape((1,) * input.ndim), hi.reshape((1,) * input.ndim)
    return MinMax((lo, hi))


def var_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> tuple:
    """(var, mean) over ``dim``, as `var` and `mean`."""
    return R.var(input, dim, unbiased, keepdim, correction=correction), R.mean(input, dim, keepdim)


def std_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> tuple:
    """(std, mean) over ``dim``, as `std` and `mean`."""
    return R.std(input, dim, unbiased, keepdim, correction=correction), R.mean(input, dim, keepdim)


class _NanSum(Function):
    """sum with NaN as 0; the gradient is g times the not-NaN mask, as PyTorch's (so an infinite g,
    nanmean's over a row of NaN, gives NaN rather than 0)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, out_dtype):
        ctx.dims, ctx.keepdim, ctx.in_shape = dims, keepdim, x.shape
        mask = x.isnan().logical_not()
        if ctx.needs_input_grad:
            ctx.save_for_backward(mask)
        return R.sum(where(mask, x, 0), dims, keepdim, dtype=out_dtype)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return R._unreduce(g, ctx.in_shape, ctx.dims, ctx.keepdim) * mask, None, None, None


def nansum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """`sum` with NaN counted as zero."""
    if not input.dtype.is_floating_point:
        return R.sum(input, dim, keepdim, dtype=dtype)
    dims = R.reduce_dims(input, dim)
    return _NanSum.apply(input, dims, keepdim, R._accumulate_dtype(input, dtype))


def nanmean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The mean of the non-NaN elements over ``dim`` (NaN where there are none)."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"nanmean(): expected input to have floating point or complex dtype but got {_name(input.dtype)}"
        )
    count = R.sum(input.isnan().logical_not(), dim, keepdim)
    total = nansum(input, dim, keepdim, dtype=dtype)
    return total / count.to(total.dtype)


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (or equal: infinities; NaN with
    ``equal_nan``). Both tensors must have the same dtype; they broadcast."""

    if not isinstance(other, TensorCore):
        raise TypeError(f"isclose(): argument 'other' must be Tensor, not {type(other).__name__}")
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{_name(input.dtype)} did not match {_name(other.dtype)}")
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    close = input == other
    if equal_nan and input.dtype.is_floating_point:
        close = close | (input.isnan() & other.isnan())
    if rtol == 0 and atol == 0:
        return close
    a, b = (
        (input.to(D.get_default_dtype()), other.to(D.get_default_dtype())) if input.dtype is D.bool_ else (input, other)
    )
    if not a.dtype.is_floating_point:  # |a - b| without the wrap-around of an integer difference
        diff = where(a >= b, a - b, b - a)
    else:
        diff = (a - b).abs()
    allowed = (b * rtol).abs() + atol
    return close | (diff.isfinite() & (diff <= allowed))


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether `isclose` holds everywhere (computed on the device; one value read back)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default 0, the dtype's
    largest and lowest finite values). Integer and bool inputs are copied."""

    if not input.dtype.is_floating_point:
        return input.clone()
    info = finfo(input.dtype)
    nan = 0.0 if nan is None else nan
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    return where(input.isnan(), nan, where(input == math.inf, posinf, where(input == -math.inf, neginf, input)))


def nan_to_num_(self: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """In-place `nan_to_num`."""

    return apply_inplace(self, nan_to_num, nan, posinf, neginf)


FUNCTIONS = {
    "all": all,
    "any": any,
    "count_nonzero": count_nonzero,
    "aminmax": aminmax,
    "var_mean": var_mean,
    "std_mean": std_mean,
    "nansum": nansum,
    "nanmean": nanmean,
    "isclose": isclose,
    "allclose": allclose,
    "nan_to_num": nan_to_num,
}
METHODS = {
    "all": all,
    "any": any,
    "count_nonzero": count_nonzero,
    "aminmax": aminmax,
    "nansum": nansum,
    "nanmean": nanmean,
    "isclose": isclose,
    "allclose": allclose,
    "nan_to_num": nan_to_num,
    "nan_to_num_": nan_to_num_,
}
