"""Autograd Functions behind ``nn.functional``'s fused ops: each forward is one backend call (or a
short fixed sequence of them) and each backward calls the matching backward kernel.

- `Linear`: matmul, then the bias added in place (one elementwise dispatch into the matmul's
  output); backward is two matmuls and a column sum.
- `ClassNLL`: cross-entropy with class-index targets (log_softmax + NLL, label smoothing, class
  weights, ignore_index) or plain NLL, per row in one kernel; the reduction follows. Backward
  is one kernel over the logits.
- `LayerNorm`: one kernel forward (saving mean and 1/std per row); backward one kernel for the
  input and one for weight and bias.
- `Embedding`, `Dropout`, `ConstantPad`, `BinaryCrossEntropy`: forward and backward written with
  existing ops where no new kernel pays.
"""

from __future__ import annotations

import math
import warnings

from .. import _dtype as D
from .._creation import full, rand
from .._tensor import _wrap
from .._tensor_class import Tensor
from ..autograd.function import Function
from ..ops.pointwise import _sum_to, where
from ..ops.shape import copy_into


def same_device(*tensors) -> None:
    backends = [t._be for t in tensors if isinstance(t, Tensor)]
    if all(be is backends[0] for be in backends):  # one backend object per device
        return
    devices = [t.device for t in tensors if isinstance(t, Tensor)]
    for d in devices[1:]:
        if d != devices[0]:
            raise RuntimeError("Expected all tensors to be on the same device, but found at least two "
                               f"devices, {devices[0]} and {d}!")


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        be = x._be
        shape = x._data.shape
        x2 = x if len(shape) == 2 else x.reshape(-1, shape[-1])
        w_t = be.permute(weight._data, (1, 0))
        # with a bias: one dispatch on wgpu (the add in the matmul's store, after the whole dot product)
        y = be.matmul(x2._data, w_t) if bias is None else be.matmul_bias(x2._data, w_t, bias._data)
        if ctx.needs_input_grad:
            ctx.lead, ctx.has_bias = tuple(shape[:-1]), bias is not None
            ctx.save_for_backward(x2, weight)
        y = _wrap(y, be, x.dtype)
        return y if len(shape) == 2 else y.reshape(tuple(shape[:-1]) + (weight._data.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x2, weight = ctx.saved_tensors
        need_x, need_w, need_b = (tuple(ctx.needs_input_grad) + (False,) * 3)[:3]
        g2 = g if len(ctx.lead) == 1 else g.reshape(-1, weight.shape[0])
        gx = None
        if need_x:
            gx = g2 @ weight
            gx = gx if len(ctx.lead) == 1 else gx.reshape(ctx.lead + (weight.shape[1],))
        gw = g2.t() @ x2 if need_w else None
        gb = g2.sum(0) if ctx.has_bias and need_b else None
        return gx, gw, gb


def class_layout(x: Tensor) -> tuple[int, int, int]:
    """(outer, classes, inner) of logits shaped (C,), (N, C) or (N, C, d1, ...)."""
    if x.ndim == 1:
        return 1, x.shape[0], 1
    return x.shape[0], x.shape[1], math.prod(x.shape[2:])


class ClassNLL(Function):
    """Cross-entropy (``log_softmax=True``) or NLL over class-index targets, reduced."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction, log_softmax):
        be = x._be
        outer, classes, inner = class_layout(x)
        w = weight._data if weight is not None else None
        loss, wt, stats = be.cross_entropy_forward(x._data, target._data, w, outer, classes, inner,
                                                   ignore_index, label_smoothing, log_softmax)
        denom = None
        if reduction == "none":
            out = _wrap(loss, be, x.dtype).reshape(tuple(target.shape))
        else:
            total = _wrap(be.reduce("sum", loss, (0,), False), be, x.dtype)
            if reduction == "sum":
                out = total
            else:  # PyTorch's mean: divided by the summed weights of the non-ignored targets
                denom = _wrap(be.reduce("sum", wt, (0,), False), be, x.dtype)
                out = total / denom
        if ctx.needs_input_grad:
            ctx.args = (outer, classes, inner, ignore_index, label_smoothing, log_softmax)
            ctx.reduction = reduction
            ctx.save_for_backward(x, target, weight, _wrap(stats, be, D.float32), denom)
        return out

    @staticmethod
    def backward(ctx, g):
        x, target, weight, stats, denom = ctx.saved_tensors
        if ctx.reduction == "mean":
            g = g / denom
        g = g.to(x.dtype)
        w = weight._data if weight is not None else None
        gx = x._be.cross_entropy_backward(x._data, target._data, w, stats._data, g._data,
                                          ctx.reduction == "none", *ctx.args)
        return _wrap(gx, x._be, x.dtype), None, None, None, None, None, None


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps):
        be = x._be
        size = math.prod(normalized_shape)
        rows = x.numel() // size if size else 0
        y, stats = be.layer_norm_forward(x._data, weight._data if weight is not None else None,
                                         bias._data if bias is not None else None, rows, size, eps)
        if ctx.needs_input_grad:
            ctx.rows, ctx.size, ctx.shape = rows, size, tuple(normalized_shape)
            ctx.save_for_backward(x, weight, bias, _wrap(stats, be, D.float32))
        return _wrap(y, be, x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, weight, bias, stats = ctx.saved_tensors
        need = tuple(ctx.needs_input_grad) + (False,) * 3
        need_affine = need[1] or need[2]
        gx, gw, gb = x._be.layer_norm_backward(g.to(x.dtype)._data, x._data,
                                               weight._data if weight is not None else None, stats._data,
                                               ctx.rows, ctx.size, need_affine)
        be = x._be
        gx = _wrap(gx, be, x.dtype) if need[0] else None
        gw = _wrap(gw, be, x.dtype).reshape(ctx.shape) if need[1] else None
        gb = _wrap(gb, be, x.dtype).reshape(ctx.shape) if need[2] else None
        return gx, gw, gb, None, None


class Embedding(Function):
    """Rows of ``weight``; the gradient of the ``padding_idx`` row stays zero."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx):
        flat = indices.reshape(-1)
        rows = _wrap(weight._be.index_select(weight._data, 0, flat._data), weight._be, weight.dtype)
        if ctx.needs_input_grad:
            ctx.padding_idx, ctx.num = padding_idx, weight.shape[0]
            ctx.save_for_backward(flat)
        return rows.reshape(tuple(indices.shape) + tuple(weight.shape[1:]))

    @staticmethod
    def backward(ctx, g):
        (flat,) = ctx.saved_tensors
        dim = g.shape[-1]
        g2 = g.reshape(-1, dim)
        if ctx.padding_idx is not None:
            g2 = where((flat != ctx.padding_idx).unsqueeze(1), g2, 0.0)
        idx = flat.unsqueeze(1).expand(flat.shape[0], dim)
        return g2.new_zeros((ctx.num, dim)).scatter_add(0, idx, g2), None, None


class Dropout(Function):
    """``x * mask / (1 - p)``; the scaled mask is saved, so backward is one multiply."""

    @staticmethod
    def forward(ctx, x, p):
        be = x._be
        keep = rand(x.shape, dtype=D.float32, device=x.device) < (1.0 - p)
        scaled = be.elementwise("where", [keep._data, 1.0 / (1.0 - p), 0.0], x.dtype, x.dtype)
        y = be.elementwise("mul", [x._data, scaled], x.dtype, x.dtype)
        if ctx.needs_input_grad:
            ctx.save_for_backward(_wrap(scaled, be, x.dtype))
        return _wrap(y, be, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (scaled,) = ctx.saved_tensors
        return g * scaled, None


class ConstantPad(Function):
    """Constant padding (negative amounts crop); ``regions`` maps source slices to output slices."""

    @staticmethod
    def forward(ctx, x, out_shape, src_key, dst_key, value):
        out = full(out_shape, value, dtype=x.dtype, device=x.device)
        if all(s.stop > s.start for s in src_key):
            copy_into(_wrap(out._be.getitem(out._data, dst_key), out._be, out.dtype),
                      _wrap(x._be.getitem(x._data, src_key), x._be, x.dtype))
        ctx.in_shape, ctx.src_key, ctx.dst_key = tuple(x.shape), src_key, dst_key
        return out

    @staticmethod
    def backward(ctx, g):
        gx = g.new_zeros(ctx.in_shape)
        if all(s.stop > s.start for s in ctx.src_key):
            gx[ctx.src_key] = g[ctx.dst_key]
        return gx, None, None, None, None


class BinaryCrossEntropy(Function):
    """Elementwise ``-w (t log x + (1 - t) log(1 - x))`` with the logs clamped at -100, and
    PyTorch's backward ``w (x - t) / max(x (1 - x), 1e-12)`` (finite at x = 0 and 1)."""

    @staticmethod
    def forward(ctx, x, target, weight):
        log_x = x.log().clamp(min=-100.0)
        log_1mx = (1 - x).log().clamp(min=-100.0)
        loss = -(target * log_x + (1 - target) * log_1mx)
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(x, target, weight, log_x, log_1mx)
        return loss

    @staticmethod
    def backward(ctx, g):
        x, target, weight, log_x, log_1mx = ctx.saved_tensors
        gw = g if weight is None else g * weight
        need = tuple(ctx.needs_input_grad) + (False,) * 3
        gx = _sum_to(gw * (x - target) / (x * (1 - x)).clamp(min=1e-12), x.shape) if need[0] else None
        gt = _sum_to(gw * (log_1mx - log_x), target.shape) if need[1] else None
        gweight = None
        if weight is not None and need[2]:
            gweight = _sum_to(-g * (target * log_x + (1 - target) * log_1mx), weight.shape)
        return gx, gt, gweight


def _reduction(size_average, reduce, reduction: str) -> str:
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if reduce and size_average else "sum" if reduce else "none"
        warnings.warn("size_average and reduce args will be deprecated, please use reduction='"
                      f"{reduction}' instead.", stacklevel=3)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction
