"""Pooling, resizing and im2col (``unfold`` / ``fold``) as composites of existing ops.

Every pooling op gathers its windows with one ``index_select`` over the flattened spatial plane
(a host-built table of positions, shape (out positions, window size)), masks the positions that
fall in the padding with ``where`` and reduces the last dim. So each runs, with autograd, on
every backend without a kernel of its own; the windows cost ``window size`` times the output.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from .._creation import tensor as _tensor
from .._info import iinfo
from .._tensor_class import Tensor
from ..ops.pointwise import where
from ..ops.reduce import ValuesIndices


def _tuple(v, n: int, name: str = "kernel_size") -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * n
        if len(v) != n:
            raise RuntimeError(f"{name} must either be a single int, or a tuple of {n} ints")
        return tuple(int(e) for e in v)
    return (int(v),) * n


def _check_input(x: Tensor, nd: int, name: str, allow_empty_batch: bool = True) -> None:
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{name}: Expected {nd + 1}D or {nd + 2}D input tensor, but got a {x.ndim}D tensor "
                           f"of shape {list(x.shape)}")
    if any(n == 0 for n in x.shape[x.ndim - nd - 1:]) and not (allow_empty_batch and x.ndim == nd + 2 and
                                                                all(x.shape[1:])):
        raise RuntimeError(f"{name}: Expected input's non-batch dimensions to have positive length, but input "
                           f"has a shape of {list(x.shape)}")


def _pool_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:  # the last window must start inside the input or left padding
        out -= 1
    return out


class _Dim:
    """One spatial dim's window table: ``pos`` (O, K) positions in [0, length), ``valid`` (O, K)."""

    def __init__(self, length: int, starts: np.ndarray, ends: np.ndarray | None, k: int, d: int = 1):
        self.length = length
        j = np.arange(k, dtype=np.int64)
        raw = starts[:, None] + j[None, :] * d
        valid = (raw >= 0) & (raw < length)
        if ends is not None:
            valid &= raw < ends[:, None]
        self.pos = np.clip(raw, 0, max(length - 1, 0))
        self.valid = valid


def _tables(dims: list[_Dim]):
    """Row-major flat tables over all dims: positions (prod O, prod K) in the flattened plane."""
    pos = np.zeros((1, 1), dtype=np.int64)
    valid = np.ones((1, 1), dtype=bool)
    for dm in dims:
        o, k = dm.pos.shape
        pos = (pos[:, None, :, None] * dm.length + dm.pos[None, :, None, :]).reshape(pos.shape[0] * o, -1)
        valid = (valid[:, None, :, None] & dm.valid[None, :, None, :]).reshape(pos.shape)
    return pos, valid


def _windows(x: Tensor, nd: int, dims: list[_Dim], fill: float):
    """x (*, *spatial) -> windows (*, M, K) with ``fill`` outside the input, plus the tables."""
    pos, valid = _tables(dims)
    lead = tuple(x.shape[:x.ndim - nd])
    plane = x.reshape(lead + (math.prod(x.shape[x.ndim - nd:]),))
    w = plane.index_select(-1, _tensor(pos.reshape(-1), dtype=D.int64, device=x.device))
    w = w.reshape(lead + pos.shape)
    if not valid.all():
        w = where(_tensor(valid, device=x.device), w, fill)
    return w, pos, valid


def _window_max(w: Tensor, pos: np.ndarray):
    """Max over the last dim as PyTorch's kernels pick it: the first maximum, or the last NaN
    when there is one. Returns (values, flat input positions)."""
    k = w.shape[-1]
    if w.dtype.is_floating_point:
        nan = w.isnan()
        first = where(nan, float("-inf"), w.detach()).argmax(-1, keepdim=True)
        rank = nan.to(D.float32) * _tensor(np.arange(1, k + 1, dtype=np.float32), device=w.device)
        pick = where(rank.amax(-1, keepdim=True) > 0, rank.argmax(-1, keepdim=True), first)
    else:
        pick = w.argmax(-1, keepdim=True)
    values = w.gather(-1, pick).squeeze(-1)
    table = _tensor(pos, dtype=D.int64, device=w.device).expand(tuple(w.shape))
    return values, table.gather(-1, pick).squeeze(-1)


def _fill_min(x: Tensor):
    """What padding holds in max pooling: the dtype's lowest value (int64 is 32-bit on wgpu without shader-int64)."""
    if x.dtype.is_floating_point:
        return float("-inf")
    if x.dtype is D.bool_:
        return False
    lowest = iinfo(x.dtype).min
    return max(lowest, -(2**31)) if D.int64_is_narrow(x) else lowest


def _max_pool(x, nd, kernel_size, stride, padding, dilation, ceil_mode, return_indices, name):
    _check_input(x, nd, name)
    k = _tuple(kernel_size, nd)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _tuple(stride, nd,
                                                                                                   "stride")
    p, d = _tuple(padding, nd, "padding"), _tuple(dilation, nd, "dilation")
    if any(v <= 0 for v in k):
        raise RuntimeError(f"{name}: kernel_size must be greater than zero, but got {list(k)}")
    if any(v <= 0 for v in s):
        raise RuntimeError(f"{name}: stride must be greater than zero, but got {list(s)}")
    if any(v <= 0 for v in d):
        raise RuntimeError(f"{name}: dilation must be greater than zero, but got {list(d)}")
    if any(pi < 0 or pi > ki // 2 for pi, ki in zip(p, k)):
        raise RuntimeError(f"pad should be at most half of effective kernel size, but got pad={p[0]}, "
                           f"kernel_size={k[0]} and dilation={d[0]}")
    spatial = tuple(x.shape[-nd:])
    out = tuple(_pool_size(n, *a, ceil_mode) for n, a in zip(spatial, zip(k, s, p, d)))
    if any(o <= 0 for o in out):
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, x.shape[-nd - 1:]))}). Calculated output "
                           f"size: ({'x'.join(map(str, (x.shape[-nd - 1],) + out))}). Output size is too small")
    dims = [_Dim(n, np.arange(o) * si - pi, None, ki, di) for n, o, ki, si, pi, di in zip(spatial, out, k, s, p, d)]
    w, pos, _ = _windows(x, nd, dims, _fill_min(x))
    values, idx = _window_max(w, pos)
    shape = tuple(x.shape[:x.ndim - nd]) + out
    values, idx = values.reshape(shape), idx.reshape(shape)
    return ValuesIndices((values, idx)) if return_indices else values


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """(N, C, L) or (C, L) -> (..., L_out); with ``return_indices`` also the int64 positions of the
    maxima in each input row."""
    return _max_pool(input, 1, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool1d")


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """(N, C, H, W) or (C, H, W) -> (..., H_out, W_out); indices are flat ``h * W + w`` per plane."""
    return _max_pool(input, 2, kernel_size, stride, padding, dilation, ceil_mode, return_indices, "max_pool2d")


def _avg_pool(x, nd, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, name):
    _check_input(x, nd, name)
    if not x.dtype.is_floating_point:
        raise RuntimeError(f'"{name}" not implemented for \'{x.dtype.name}\'')
    k = _tuple(kernel_size, nd)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else _tuple(stride, nd,
                                                                                                   "stride")
    p = _tuple(padding, nd, "padding")
    if any(v <= 0 for v in s):
        raise RuntimeError(f"{name}: stride must be greater than zero, but got {list(s)}")
    if any(pi < 0 or pi > ki // 2 for pi, ki in zip(p, k)):
        raise RuntimeError(f"pad should be at most half of kernel size, but got pad={p[0]} and kernel_size={k[0]}")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    spatial = tuple(x.shape[-nd:])
    out = tuple(_pool_size(n, ki, si, pi, 1, ceil_mode) for n, ki, si, pi in zip(spatial, k, s, p))
    if any(o <= 0 for o in out):
        raise RuntimeError(f"Given input size: ({'x'.join(map(str, x.shape[-nd - 1:]))}). Calculated output "
                           f"size: ({'x'.join(map(str, (x.shape[-nd - 1],) + out))}). Output size is too small")
    dims, counts = [], np.ones((1,), dtype=np.float64)
    for n, o, ki, si, pi in zip(spatial, out, k, s, p):
        start = np.arange(o) * si - pi
        end = np.minimum(start + ki, n + pi)  # PyTorch's window: padding counts, the ceil overhang doesn't
        c = (end - start) if count_include_pad else (np.minimum(end, n) - np.maximum(start, 0))
        counts = (counts[:, None] * c[None, :]).reshape(-1)
        dims.append(_Dim(n, start, None, ki))
    w, _, _ = _windows(x, nd, dims, 0.0)
    total = w.sum(-1)
    if divisor_override is not None:
        y = total / float(divisor_override)
    else:
        y = total / _tensor(counts.astype(np.float32), dtype=x.dtype, device=x.device)
    return y.reshape(tuple(x.shape[:x.ndim - nd]) + out)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """(N, C, L) or (C, L) -> (..., L_out): window means (zero padding counted unless
    ``count_include_pad=False``)."""
    return _avg_pool(input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad, None, "avg_pool1d")


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """(N, C, H, W) or (C, H, W) -> (..., H_out, W_out); ``divisor_override`` replaces the count."""
    return _avg_pool(input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                     "avg_pool2d")


def _adaptive_dims(x: Tensor, nd: int, output_size, name: str):
    _check_input(x, nd, name)
    spatial = tuple(x.shape[-nd:])
    sizes = _tuple(output_size, nd, "output_size") if not isinstance(output_size, (tuple, list)) else tuple(
        spatial[i] if v is None else int(v) for i, v in enumerate(
            output_size if len(output_size) == nd else tuple(output_size) * nd))
    if len(sizes) != nd:
        raise ValueError(f"{name}: output_size must be {nd} ints")
    if any(o < 0 for o in sizes):
        raise RuntimeError(f"{name}: elements of output_size must be greater than or equal to 0 but received "
                           f"{list(sizes)}")
    dims, counts = [], np.ones((1,), dtype=np.float64)
    for n, o in zip(spatial, sizes):
        i = np.arange(o, dtype=np.int64)
        start, end = (i * n) // o if o else i, ((i + 1) * n + o - 1) // o if o else i
        k = int((end - start).max()) if o else 1
        dims.append(_Dim(n, start, end, k))
        counts = (counts[:, None] * (end - start)[None, :]).reshape(-1)
    return dims, counts, sizes


def _adaptive_avg(x: Tensor, nd: int, output_size, name: str) -> Tensor:
    dims, counts, sizes = _adaptive_dims(x, nd, output_size, name)
    w, _, _ = _windows(x, nd, dims, 0.0)
    y = w.sum(-1) / _tensor(counts.astype(np.float32), dtype=x.dtype, device=x.device)
    return y.reshape(tuple(x.shape[:x.ndim - nd]) + sizes)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """(N, C, L) or (C, L) -> (..., output_size): mean over ``[floor(i L / O), ceil((i + 1) L / O))``."""
    return _adaptive_avg(input, 1, output_size, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """(N, C, H, W) or (C, H, W) -> (..., *output_size); a ``None`` size keeps the input's."""
    return _adaptive_avg(input, 2, output_size, "adaptive_avg_pool2d")


def _adaptive_max(x: Tensor, nd: int, output_size, return_indices: bool, name: str):
    dims, _, sizes = _adaptive_dims(x, nd, output_size, name)
    w, pos, _ = _windows(x, nd, dims, _fill_min(x))
    values, idx = _window_max(w, pos)
    shape = tuple(x.shape[:x.ndim - nd]) + sizes
    values, idx = values.reshape(shape), idx.reshape(shape)
    return ValuesIndices((values, idx)) if return_indices else values


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """(N, C, L) or (C, L) -> (..., output_size): max over near-equal windows."""
    return _adaptive_max(input, 1, output_size, return_indices, "adaptive_max_pool1d")


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """(N, C, H, W) or (C, H, W) -> (..., *output_size); indices flat ``h * W + w`` per plane."""
    return _adaptive_max(input, 2, output_size, return_indices, "adaptive_max_pool2d")


# -- im2col -----------------------------------------------------------------------------------------


def _fold_args(kernel_size, dilation, padding, stride):
    k, d = _tuple(kernel_size, 2), _tuple(dilation, 2, "dilation")
    p, s = _tuple(padding, 2, "padding"), _tuple(stride, 2, "stride")
    if any(v <= 0 for v in k + d + s) or any(v < 0 for v in p):
        raise RuntimeError(f"im2col: kernel_size, dilation and stride must be positive and padding non-negative, "
                           f"got kernel_size={list(k)}, dilation={list(d)}, padding={list(p)}, stride={list(s)}")
    return k, d, p, s


def _blocks(size, k, d, p, s) -> tuple:
    return tuple((n + 2 * pi - di * (ki - 1) - 1) // si + 1 for n, ki, di, pi, si in zip(size, k, d, p, s))


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col: (N, C, H, W) or (C, H, W) -> (N, C * kh * kw, L), L the number of blocks; each
    column holds one block, channel-major then kernel row-major."""
    if input.ndim < 3:
        raise IndexError(f"Dimension out of range (expected to be in range of [-{input.ndim}, {input.ndim - 1}], but "
                         "got 2)")
    if input.ndim > 4:
        raise RuntimeError(f"Expected 3D or 4D (batch mode) tensor for input with possibly 0 batch size and non-zero "
                           f"dimensions for input, but got: {list(input.shape)}")
    k, d, p, s = _fold_args(kernel_size, dilation, padding, stride)
    spatial = tuple(input.shape[-2:])
    out = _blocks(spatial, k, d, p, s)
    if any(o <= 0 for o in out):
        raise RuntimeError(f"Given input with spatial size {list(spatial)}, kernel_size={list(k)}, dilation="
                           f"{list(d)}, padding={list(p)}, calculated shape of the array of sliding blocks as "
                           f"{list(out)}, but its components must be at least one.")
    dims = [_Dim(n, np.arange(o) * si - pi, None, ki, di) for n, o, ki, si, pi, di in zip(spatial, out, k, s, p, d)]
    w, _, _ = _windows(input, 2, dims, 0.0)  # (*, C, L, K)
    lead = tuple(input.shape[:-3])
    c = input.shape[-3]
    cols = w.transpose(-1, -2)  # (*, C, K, L)
    return cols.reshape(lead + (c * k[0] * k[1], out[0] * out[1]))


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im, the adjoint of ``unfold``: (N, C * kh * kw, L) or (C * kh * kw, L) ->
    (N, C, *output_size), overlapping block entries summed (one ``scatter_add``)."""
    if input.ndim not in (2, 3):
        raise RuntimeError(f"Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero "
                           f"dimensions for input, but got: {list(input.shape)}")
    size = _tuple(output_size, 2, "output_size")
    k, d, p, s = _fold_args(kernel_size, dilation, padding, stride)
    kk = k[0] * k[1]
    rows, n_blocks = input.shape[-2], input.shape[-1]
    if rows % kk:
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
                           f"but got input.size(1)={rows} and kernel_size={k}")
    out = _blocks(size, k, d, p, s)
    if math.prod(out) != n_blocks or any(o <= 0 for o in out):
        raise RuntimeError(f"Given output_size={list(size)}, kernel_size={list(k)}, dilation={list(d)}, padding="
                           f"{list(p)}, stride={list(s)}, expected size of input's dimension 2 to match the "
                           f"calculated number of sliding blocks {out[0]} * {out[1]} = {math.prod(out)}, but got "
                           f"input.size(2)={n_blocks}.")
    padded = (size[0] + 2 * p[0], size[1] + 2 * p[1])
    dims = [_Dim(n, np.arange(o) * si, None, ki, di) for n, o, ki, si, di in zip(padded, out, k, s, d)]
    pos, _ = _tables(dims)  # (L, K) positions in the padded plane
    lead = tuple(input.shape[:-2])
    c = rows // kk
    src = input.reshape(lead + (c, kk, n_blocks)).transpose(-1, -2).reshape(lead + (c, n_blocks * kk))
    index = _tensor(pos.reshape(-1), dtype=D.int64, device=input.device).expand(tuple(src.shape))
    plane = input.new_zeros(lead + (c, padded[0] * padded[1])).scatter_add(-1, index, src)
    plane = plane.reshape(lead + (c,) + padded)
    return plane[..., p[0]:p[0] + size[0], p[1]:p[1] + size[1]]


# -- resizing ---------------------------------------------------------------------------------------


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r)."""
    r = int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
                           f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    n = len(lead)
    x = input.reshape(tuple(lead) + (c // (r * r), r, r, h, w))
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(tuple(lead) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W), the inverse of ``pixel_shuffle``."""
    r = int(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by downscale_factor, got "
                           f"{h}x{w} and {r}")
    n = len(lead)
    x = input.reshape(tuple(lead) + (c, h // r, r, w // r, r))
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(tuple(lead) + (c * r * r, h // r, w // r))


__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "unfold", "fold", "pixel_shuffle", "pixel_unshuffle"]
