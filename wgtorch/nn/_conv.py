"""Convolutions (``conv1d``, ``conv2d``, ``conv_transpose1d``, ``conv_transpose2d``) as composites.

No kernel of their own: a convolution is padding (``F.pad``), one strided slice of the input per
kernel offset stacked into columns (im2col), and one matmul batched over the groups, so autograd
and every backend come for free. A transposed convolution is the gradient form: zeros inserted
between input positions (stride), padding by ``dilation * (k - 1) - padding`` (plus
``output_padding`` at the end), then a stride-1 convolution with the spatially flipped kernel,
its in/out channels swapped per group.

On a backend with the optional fused convolution (`wgtorch._backends.protocol.FusedConv`: wgpu's
implicit-GEMM kernels), conv1d / conv2d of float32 / float16 run through it instead (`_FusedConv2d`,
conv1d as conv2d with H = 1), and so do the transposed ones (`_FusedConvTranspose2d`, where
output_padding < stride); this composite stays the reference they are tested against, and the
double backward (``create_graph=True``) differentiates composite gradient formulas.

Shapes (``*`` is L for 1-d, (H, W) for 2-d; the batch dim may be absent):
    conv:       input (N, C_in, *), weight (C_out, C_in / groups, *k) -> (N, C_out, *out)
    transposed: input (N, C_in, *), weight (C_in, C_out / groups, *k) -> (N, C_out, *out)
"""

from __future__ import annotations

import itertools
import math

from .. import _creation
from .. import _dtype as D
from .._backends.protocol import optional
from .._tensor import _wrap
from .._tensor_class import Tensor
from ..amp.autocast_mode import autocast_op
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..ops.index import index_select
from ..ops.linalg import matmul
from ..ops.shape import cat, stack
from ._functions import same_device
from ._padding import pad


def _tuple(value, nd: int, name: str) -> tuple:
    if isinstance(value, (tuple, list)):
        value = tuple(int(v) for v in value)
        if len(value) == 1:
            return value * nd
        if len(value) != nd:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of {nd} values to match "
                               f"the convolution dimensions, but got {name}={list(value)}")
        return value
    return (int(value),) * nd


def _sizes(shape) -> str:
    return " x ".join(str(n) for n in shape)


def _check(input: Tensor, weight: Tensor, bias, nd: int, name: str, stride, dilation, groups) -> bool:
    """The checks shared by both kinds; True when the input has no batch dim."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{name}(): argument 'input' and 'weight' must be Tensors")
    same_device(input, weight, bias)
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
                           f"input of size: {list(input.shape)}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"Expected {nd + 2}-dimensional weight for {nd + 2}-dimensional input "
                           f"{list(input.shape)}, but got {weight.ndim}-dimensional weight of size "
                           f"{list(weight.shape)} instead")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    dtypes = [input.dtype, weight.dtype] + ([bias.dtype] if bias is not None else [])
    if any(dt is not input.dtype for dt in dtypes) or not input.dtype.is_floating_point:
        names = " and ".join(dt.name for dt in dtypes)
        raise RuntimeError(f"{name}(): expected input, weight and bias of one floating dtype, got {names}")
    return input.ndim == nd + 1


def _check_bias(bias, weight: Tensor, channels: int) -> None:
    if bias is not None and tuple(bias.shape) != (channels,):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
                           f"{channels} elements, but got bias of size {list(bias.shape)} instead")


class _Columns(Function):
    """x (C, N, *spatial) -> (C, prod(ksize), N, *out_size): one strided slice per kernel offset,
    stacked (im2col). Its backward adds each offset's gradient into one zero buffer through the
    same strided views (col2im), instead of one input-sized gradient per offset."""

    @staticmethod
    def forward(ctx, x, ksize, stride, dilation, out_size):
        keys = []
        for offs in itertools.product(*(range(k) for k in ksize)):
            keys.append((slice(None), slice(None)) + tuple(
                slice(o * d, o * d + s * (n - 1) + 1, s) for o, d, s, n in zip(offs, dilation, stride, out_size)))
        ctx.in_shape, ctx.keys = x.shape, keys
        return stack([x[key] for key in keys], 1)

    @staticmethod
    def backward(ctx, g):
        z = g.new_zeros(ctx.in_shape)
        be = z._be
        for k, key in enumerate(ctx.keys):
            view = be.getitem(z._data, key)
            be.elementwise("add", [view, be.getitem(g._data, (slice(None), k))], g.dtype, g.dtype, out=view)
        return z, None, None, None, None


def _conv(x: Tensor, weight: Tensor, bias, stride, dilation, groups: int) -> Tensor:
    """Convolution of an already padded, batched x (N, C, *spatial) by weight (O, C / groups, *k)."""
    n, c = x.shape[:2]
    o, ksize = weight.shape[0], tuple(weight.shape[2:])
    padded = tuple(x.shape[2:])
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, ksize))
    if any(p < s for p, s in zip(padded, span)):
        raise RuntimeError(f"Calculated padded input size per channel: ({_sizes(padded)}). Kernel size: "
                           f"({_sizes(span)}). Kernel size can't be greater than actual input size")
    out_size = tuple((p - s) // st + 1 for p, s, st in zip(padded, span, stride))
    view = (1, o) + (1,) * len(out_size)
    if x.numel() == 0:  # nothing to multiply (a zero-size batch); keep the graph for the gradients
        out = x.new_zeros((n, o) + out_size) + (x.sum() + weight.sum()) * 0
        return out + bias.reshape(view) if bias is not None else out
    g = groups
    cols = _Columns.apply(x.permute(1, 0, *range(2, x.ndim)), ksize, stride, dilation, out_size)
    cols = cols.reshape(g, c // g * math.prod(ksize), n * math.prod(out_size))
    out = matmul(weight.reshape(g, o // g, -1), cols).reshape((o, n) + out_size)
    if bias is not None:
        out = out + bias.reshape(view[1:] + (1,))
    return out.permute(1, 0, *range(2, out.ndim)).contiguous()


def _padding_pairs(padding, weight: Tensor, stride, dilation, nd: int) -> list:
    """[(before, after)] per spatial dim from an int, a tuple or "valid" / "same"."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * nd
        if padding != "same":
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        pairs = []
        for d, k in zip(dilation, weight.shape[2:]):
            total = d * (k - 1)
            pairs.append((total // 2, total - total // 2))  # the extra one at the end, as PyTorch
        return pairs
    padding = _tuple(padding, nd, "padding")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    return [(p, p) for p in padding]


def _pad(x: Tensor, pairs) -> Tensor:
    flat = [p for pair in reversed(pairs) for p in pair]  # F.pad counts from the last dim
    if not any(flat):
        return x
    return pad(x, flat)


def _conv_nd(nd: int, name: str, input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    stride, dilation, groups = _tuple(stride, nd, "stride"), _tuple(dilation, nd, "dilation"), int(groups)
    unbatched = _check(input, weight, bias, nd, name, stride, dilation, groups)
    x = input.unsqueeze(0) if unbatched else input
    o = weight.shape[0]
    if o % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size [{list(weight.shape)}] instead")
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(x.shape)} to have {weight.shape[1] * groups} channels, but got {x.shape[1]} "
                           "channels instead")
    _check_bias(bias, weight, o)
    pairs = _padding_pairs(padding, weight, stride, dilation, nd)
    if _fused(x) is not None:
        out = _fused_conv(nd, x, weight, bias, stride, pairs, dilation, groups)
    else:
        out = _conv(_pad(x, pairs), weight, bias, stride, dilation, groups)
    return out.squeeze(0) if unbatched else out


#: run conv1d / conv2d through the backend's fused kernels where it has them (tests switch this
#: off to compare the kernels with the composite).
use_fused_kernels = True


def _fused(x: Tensor):
    """The backend's fused forward where it applies to x, else None."""
    if not use_fused_kernels or x.dtype not in (D.float32, D.float16, D.float64):
        return None
    return optional(x._be, "conv2d_forward")


def _fused_conv(nd: int, x, weight, bias, stride, pairs, dilation, groups: int) -> Tensor:
    padded = tuple(n + a + b for n, (a, b) in zip(x.shape[2:], pairs))
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, weight.shape[2:]))
    if any(p < s for p, s in zip(padded, span)):
        raise RuntimeError(f"Calculated padded input size per channel: ({_sizes(padded)}). Kernel size: "
                           f"({_sizes(span)}). Kernel size can't be greater than actual input size")
    if nd == 1:  # as conv2d with H = 1
        out = _FusedConv2d.apply(x.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + stride, ((0, 0),) + tuple(pairs),
                                 (1,) + dilation, groups)
        return out.squeeze(2)
    return _FusedConv2d.apply(x, weight, bias, stride, tuple(pairs), dilation, groups)


class _FusedConv2d(Function):
    """conv2d by the backend's fused kernels: the forward (bias fused), and in backward the
    gradients of the input and of the weight (two more kernels) and of the bias (a sum).
    Under ``create_graph=True`` the backward runs the composite instead, so that its gradients
    have a graph of their own (double backward)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, pairs, dilation, groups):
        be = x._be
        out = optional(be, "conv2d_forward")(x._data, weight._data, None if bias is None else bias._data, stride,
                                             pairs, dilation, groups)
        if ctx.needs_input_grad:
            ctx.args = (stride, pairs, dilation, groups)
            ctx.save_for_backward(x, weight, bias)
        return _wrap(out, be, x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, weight, bias = ctx.saved_tensors
        need = tuple(ctx.needs_input_grad) + (False,) * 3
        stride, pairs, dilation, groups = ctx.args
        g = g.to(x.dtype)
        if is_grad_enabled():  # backward(create_graph=True): the kernels' results have no graph
            return _composite_grads(x, weight, bias, g, need, stride, pairs, dilation, groups)
        be = x._be
        dx = dw = db = None
        if need[0]:
            dx = _wrap(optional(be, "conv2d_backward_input")(g._data, weight._data, tuple(x.shape), stride, pairs,
                                                             dilation, groups), be, x.dtype)
        if need[1]:
            dw = _wrap(optional(be, "conv2d_backward_weight")(g._data, x._data, tuple(weight.shape), stride, pairs,
                                                              dilation, groups), be, x.dtype)
        if need[2]:
            db = g.sum((0, 2, 3))
        return dx, dw, db, None, None, None, None


def _composite_grads(x, weight, bias, g, need, stride, pairs, dilation, groups) -> tuple:
    """The fused op's gradients as composites, which have graphs of their own (double backward):
    the input's is the transposed convolution of g (dilated by the stride, padded to the input's
    size, convolved with the flipped kernel), the weight's g @ the input's columns."""
    nd = len(stride)
    ksize = tuple(weight.shape[2:])
    dx = dw = None
    if need[0]:
        d = g
        for i, s in enumerate(stride):
            d = _dilate(d, 2 + i, s)
        pads = [(dl * (k - 1) - b, n + b - (m - 1) * s - 1)
                for dl, k, (b, _), n, m, s in zip(dilation, ksize, pairs, x.shape[2:], g.shape[2:], stride)]
        dx = _conv(_pad(d, pads), _flipped_kernel(weight, groups), None, (1,) * nd, dilation, groups)
    if need[1]:
        xp = _pad(x, pairs)
        c, o = xp.shape[1], weight.shape[0]
        cols = _Columns.apply(xp.permute(1, 0, *range(2, xp.ndim)), ksize, stride, dilation, tuple(g.shape[2:]))
        cols = cols.reshape(groups, c // groups * math.prod(ksize), -1)
        gm = g.permute(1, 0, *range(2, g.ndim)).reshape(groups, o // groups, -1)
        dw = matmul(gm, cols.transpose(1, 2)).reshape(tuple(weight.shape))
    db = g.sum((0, *range(2, g.ndim))) if need[2] else None
    return dx, dw, db, None, None, None, None


def _dilate(x: Tensor, dim: int, s: int) -> Tensor:
    """s - 1 zeros inserted between neighbours along ``dim``: size n -> (n - 1) * s + 1."""
    n = x.shape[dim]
    if s == 1 or n == 0:
        return x
    zeros = x.new_zeros(x.shape[:dim + 1] + (s - 1,) + x.shape[dim + 1:])
    spread = cat([x.unsqueeze(dim + 1), zeros], dim + 1).reshape(x.shape[:dim] + (n * s,) + x.shape[dim + 1:])
    return spread.narrow(dim, 0, (n - 1) * s + 1)


def _flipped_kernel(weight: Tensor, groups: int) -> Tensor:
    """(C_in, C_out / g, *k) -> (C_out, C_in / g, *k), each kernel flipped in every spatial dim."""
    cin, cout_g, ksize = weight.shape[0], weight.shape[1], tuple(weight.shape[2:])
    w = weight.reshape((groups, cin // groups, cout_g) + ksize).transpose(1, 2)
    w = w.reshape((groups * cout_g, cin // groups) + ksize)
    for i, k in enumerate(ksize):
        if k > 1:
            w = index_select(w, 2 + i, _creation.tensor(list(range(k - 1, -1, -1)), dtype=D.int64,
                                                         device=w.device))
    return w


def _conv_transpose_nd(nd: int, name: str, input, weight, bias, stride, padding, output_padding, groups,
                       dilation) -> Tensor:
    if isinstance(padding, str):
        raise TypeError(f"{name}(): argument 'padding' must be tuple of ints, not str")
    stride, dilation, groups = _tuple(stride, nd, "stride"), _tuple(dilation, nd, "dilation"), int(groups)
    padding, output_padding = _tuple(padding, nd, "padding"), _tuple(output_padding, nd, "output_padding")
    unbatched = _check(input, weight, bias, nd, name, stride, dilation, groups)
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(p < 0 for p in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(f"output padding must be smaller than either stride or dilation, but got "
                           f"output_padding={list(output_padding)}, stride={list(stride)}, "
                           f"dilation={list(dilation)}")
    x = input.unsqueeze(0) if unbatched else input
    cin = weight.shape[0]
    if cin % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size [{list(weight.shape)}] instead")
    if x.shape[1] != cin:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input"
                           f"{list(x.shape)} to have {cin} channels, but got {x.shape[1]} channels instead")
    _check_bias(bias, weight, weight.shape[1] * groups)
    out_size = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1
                for n, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation, weight.shape[2:], output_padding)]
    if any(n <= 0 for n in out_size):
        raise RuntimeError(f"Given input size per channel: ({_sizes(x.shape[2:])}). Calculated output size "
                           f"per channel: ({_sizes(out_size)}). Output size is too small")
    if _fused(x) is not None and all(op < s for op, s in zip(output_padding, stride)):
        out = _fused_conv_transpose(nd, x, weight, bias, stride, padding, dilation, groups, out_size)
        return out.squeeze(0) if unbatched else out
    for i, s in enumerate(stride):
        x = _dilate(x, 2 + i, s)
    pairs = [(d * (k - 1) - p, d * (k - 1) - p + op)
             for d, k, p, op in zip(dilation, weight.shape[2:], padding, output_padding)]
    x = _pad(x, pairs)  # negative amounts crop
    out = _conv(x, _flipped_kernel(weight, groups), bias, (1,) * nd, dilation, groups)
    return out.squeeze(0) if unbatched else out


def _fused_conv_transpose(nd: int, x, weight, bias, stride, padding, dilation, groups: int, out_size) -> Tensor:
    pairs = tuple((p, p) for p in padding)
    if nd == 1:
        out = _FusedConvTranspose2d.apply(x.unsqueeze(2), weight.unsqueeze(2), bias, (1,) + stride, ((0, 0),) + pairs,
                                          (1,) + dilation, groups, (1, *out_size))
        return out.squeeze(2)
    return _FusedConvTranspose2d.apply(x, weight, bias, stride, pairs, dilation, groups, tuple(out_size))


class _FusedConvTranspose2d(Function):
    """conv_transpose2d by the fused kernels: its forward is a convolution's input gradient, its
    input gradient that convolution's forward and its weight gradient the same weight gradient
    with the two roles swapped (output_padding < stride, so the sizes round-trip)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, pairs, dilation, groups, out_size):
        be = x._be
        shape = (x.shape[0], weight.shape[1] * groups, *out_size)
        out = _wrap(optional(be, "conv2d_backward_input")(x._data, weight._data, shape, stride, pairs, dilation,
                                                          groups), be, x.dtype)
        if bias is not None:
            out = out + bias.reshape(1, -1, 1, 1)
        if ctx.needs_input_grad:
            ctx.args = (stride, pairs, dilation, groups)
            ctx.save_for_backward(x, weight)
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need = tuple(ctx.needs_input_grad) + (False,) * 3
        stride, pairs, dilation, groups = ctx.args
        g = g.to(x.dtype)
        be = x._be
        dx = dw = None
        if is_grad_enabled():  # create_graph=True: composites, with graphs of their own
            if need[0]:
                dx = _conv(_pad(g, pairs), weight, None, stride, dilation, groups)
            if need[1]:
                dw = _composite_grads(g, weight, None, x, (False, True, False), stride, pairs, dilation, groups)[1]
        else:
            if need[0]:
                dx = _wrap(optional(be, "conv2d_forward")(g._data, weight._data, None, stride, pairs, dilation,
                                                          groups), be, x.dtype)
            if need[1]:
                dw = _wrap(optional(be, "conv2d_backward_weight")(x._data, g._data, tuple(weight.shape), stride,
                                                                  pairs, dilation, groups), be, x.dtype)
        db = g.sum((0, 2, 3)) if need[2] else None
        return dx, dw, db, None, None, None, None, None




@autocast_op
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-d convolution: input (N, C_in, L) or (C_in, L), weight (C_out, C_in / groups, k) ->
    (N, C_out, L_out); padding is an int, a 1-tuple, "valid" or "same"."""
    return _conv_nd(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


@autocast_op
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-d convolution: input (N, C_in, H, W) or (C_in, H, W), weight (C_out, C_in / groups, kH, kW)
    -> (N, C_out, H_out, W_out); padding is an int, a pair, "valid" or "same"."""
    return _conv_nd(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


@autocast_op
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-d transposed convolution: input (N, C_in, L), weight (C_in, C_out / groups, k) -> (N, C_out,
    (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1)."""
    return _conv_transpose_nd(1, "conv_transpose1d", input, weight, bias, stride, padding, output_padding,
                              groups, dilation)


@autocast_op
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-d transposed convolution: input (N, C_in, H, W), weight (C_in, C_out / groups, kH, kW) ->
    (N, C_out, H_out, W_out), each dim as in ``conv_transpose1d``."""
    return _conv_transpose_nd(2, "conv_transpose2d", input, weight, bias, stride, padding, output_padding,
                              groups, dilation)
