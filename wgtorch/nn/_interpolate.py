"""``interpolate`` ("nearest", "nearest-exact", "linear", "bilinear", "area"), one spatial dim at a
time: each dim picks its source rows with ``index_select`` (host-computed indices, in the input's
precision as PyTorch's CPU kernels) and, for the linear modes, blends two of them; "area" is
adaptive average pooling. Autograd flows through index_select and the blend.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from .._creation import tensor as _tensor
from .._tensor_class import Tensor
from . import _pooling

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _scales(scale: float | None, n_in: int, n_out: int, ft=np.float32):
    """PyTorch's ``compute_scales_value``: 1 / scale_factor when given, else in / out."""
    if scale is not None and scale > 0:
        return ft(1.0 / scale)
    return ft(n_in) / ft(n_out)


def _nearest_index(n_in: int, n_out: int, scale, exact: bool) -> np.ndarray:
    if n_out == n_in:
        return np.arange(n_out, dtype=np.int64)
    if n_out == 2 * n_in and not exact:
        return np.arange(n_out, dtype=np.int64) >> 1
    s = _scales(scale, n_in, n_out)  # (float in PyTorch's nearest kernels, whatever the input dtype)
    dst = np.arange(n_out, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    src = np.floor(dst * s).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _linear_index(n_in: int, n_out: int, scale, align_corners: bool, ft):
    dst = np.arange(n_out, dtype=ft)
    if align_corners:
        s = ft(n_in - 1) / ft(n_out - 1) if n_out > 1 else ft(0)
        src = s * dst
    else:
        s = _scales(scale, n_in, n_out, ft)
        src = np.maximum(s * (dst + ft(0.5)) - ft(0.5), ft(0))
    i0 = src.astype(np.int64)
    lam = (src - i0.astype(ft)).astype(ft)
    i1 = i0 + (i0 < n_in - 1)
    return i0, i1, lam


def _output_sizes(x: Tensor, nd: int, size, scale_factor, recompute_scale_factor):
    spatial = tuple(x.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (tuple, list)):
            if len(size) != nd:
                raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input "
                                 f"with spatial dimensions of {list(spatial)} and output size of {list(size)}. Please "
                                 "provide input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, "
                                 "...,oK) format.")
            sizes = tuple(int(v) for v in size)
        else:
            sizes = (int(size),) * nd
        return sizes, (None,) * nd
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if isinstance(scale_factor, (tuple, list)):
        if len(scale_factor) != nd:
            raise ValueError(f"Input and scale_factor must have the same number of spatial dimensions, but got "
                             f"input with spatial dimensions of {list(spatial)} and scale_factor of shape "
                             f"{list(scale_factor)}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
                             "and scale_factor in (s1, s2, ...,sK) format.")
        factors = tuple(float(v) for v in scale_factor)
    else:
        factors = (float(scale_factor),) * nd
    sizes = tuple(int(math.floor(n * f)) for n, f in zip(spatial, factors))
    return sizes, ((None,) * nd if recompute_scale_factor else factors)


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """Resize the spatial dims of (N, C, d1, ...) to ``size`` or ``floor(d * scale_factor)``:
    "nearest" (src = floor(dst * in / out)), "linear" (3-D) and "bilinear" (4-D), with PyTorch's
    half-pixel source coordinates, or the corners' when ``align_corners``."""
    nd = input.ndim - 2
    if mode not in ("nearest", "linear", "bilinear", "trilinear", "bicubic", "area", "nearest-exact"):
        raise NotImplementedError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
                                  f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
                                  f"nearest-exact (got {mode})")
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear "
                             "| bicubic | trilinear")
    elif mode in _LINEAR:
        if nd != _LINEAR[mode]:
            raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR[mode] + 2}D input")
        align_corners = bool(align_corners)
    else:
        raise NotImplementedError(f"interpolate(): mode {mode!r} is not supported yet (nearest, nearest-exact, "
                                  "linear, bilinear, area)")
    if antialias:
        raise NotImplementedError("interpolate(): antialias=True is not supported")
    if nd < 1:
        raise ValueError(f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: "
                         "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got nearest)")
    sizes, scales = _output_sizes(input, nd, size, scale_factor, recompute_scale_factor)
    if any(o <= 0 for o in sizes):
        raise RuntimeError("Input and output sizes should be greater than 0, but got input (" +
                           ", ".join(map(str, input.shape[2:])) + ") and output (" + ", ".join(map(str, sizes)) + ")")
    if not input.dtype.is_floating_point and mode not in ("nearest", "nearest-exact"):
        raise RuntimeError(f'"upsample_{mode}" not implemented for \'{input.dtype.name}\'')
    if mode == "area":
        if nd > 2:
            raise NotImplementedError("interpolate(): mode 'area' supports 3-D and 4-D inputs")
        return (_pooling.adaptive_avg_pool1d if nd == 1 else _pooling.adaptive_avg_pool2d)(input, sizes)
    ft = np.float64 if input.dtype is D.float64 else np.float32
    x = input
    for i, (n_out, scale) in enumerate(zip(sizes, scales)):
        dim = 2 + i
        n_in = input.shape[dim]
        if mode in ("nearest", "nearest-exact"):
            index = _nearest_index(n_in, n_out, scale, mode == "nearest-exact")
            x = x.index_select(dim, _tensor(index, dtype=D.int64, device=x.device))
            continue
        i0, i1, lam = _linear_index(n_in, n_out, scale, align_corners, ft)
        shape = [1] * x.ndim
        shape[dim] = n_out
        w1 = _tensor(lam.reshape(shape), dtype=x.dtype, device=x.device)
        w0 = _tensor((ft(1) - lam).reshape(shape), dtype=x.dtype, device=x.device)
        x0 = x.index_select(dim, _tensor(i0, dtype=D.int64, device=x.device))
        x1 = x.index_select(dim, _tensor(i1, dtype=D.int64, device=x.device))
        x = x0 * w0 + x1 * w1
    return x


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """Deprecated alias of ``interpolate``, as in PyTorch."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)
