"""Pointwise ops: forward (one backend call) and backward (a gradient formula), side by side.

Every elementwise op goes through ``Pointwise``: PyTorch's type promotion picks the compute and
result dtypes, the backend's ``elementwise`` computes, and ``GRADS[op]`` gives the gradient.
Broadcast operands get their gradient summed back to their own shape.
"""

from __future__ import annotations

import math

from .. import _dtype as D
from .._broadcast import broadcast_shapes
from .._tensor import Tensor, _wrap
from ..autograd.function import Context, Function
from ..autograd.grad_mode import state
from ..backends.protocol import PREDICATES

# How an op picks its dtypes: "same" keeps the promoted type, "float" lifts integers to the
# default float, "bool" computes in the promoted type and returns bool.
_FLOAT_OPS = {"exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "gelu", "gelu_tanh", "erf",
              "silu", "reciprocal", "log1p", "expm1", "softplus", "elu", "div", "atan2", "lerp",
              "leaky_relu"}
_NO_GRAD = {"sign", "floor", "ceil", "round", "trunc", "floor_divide", "remainder"} | PREDICATES


# Gradients that read the op's output y, and ops whose gradients read only some operands (by
# position; the others are not kept alive or version-checked).
_USES_OUTPUT = {"exp", "sqrt", "rsqrt", "tanh", "sigmoid", "reciprocal", "expm1", "elu", "div", "pow"}
_OPERANDS_USED = {"add": (), "sub": (), "neg": (), "copy": (), "where": (0,), "exp": (), "sqrt": (),
                  "rsqrt": (), "tanh": (), "sigmoid": (), "reciprocal": (), "expm1": ()}


def _sum_to(g, shape):
    """Sum a broadcast gradient back to ``shape``."""
    if g._data.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if dims:
        g = g.sum(dims, keepdim=True)
    return g.reshape(shape) if lead or tuple(g.shape) != tuple(shape) else g


def _gelu_grad(g, x, y):
    cdf = 0.5 * (1.0 + (x * 0.7071067811865476).erf())
    pdf = (x * x * -0.5).exp() * 0.3989422804014327
    return g * (cdf + x * pdf)


def _gelu_tanh_grad(g, x, y):
    k = 0.7978845608028654
    inner = k * (x + 0.044715 * x * x * x)
    t = inner.tanh()
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x))


def _silu_grad(g, x, y):
    s = x.sigmoid()
    return g * s * (1 + x * (1 - s))


def _pow_grads(need, g, a, b, y):
    """d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log(a)."""
    ga = g * b * a.pow(b - 1) if need[0] else None
    gb = None
    if need[1]:
        log_a = a.log() if hasattr(a, "shape") else (
            math.log(a) if a > 0 else float("-inf") if a == 0 else float("nan"))
        gb = g * y * log_a
    return ga, gb


def _max_grads(g, a, b, y, greater):
    """torch.maximum/minimum: the gradient goes to the larger (smaller) side, split on ties."""
    win = (a > b) if greater else (a < b)
    tie = a == b
    wa = win.float() + tie.float() * 0.5
    return g * wa, g * (1 - wa)


# op -> gradient: f(need, g, *operands, y) -> one gradient per operand (None where `need`, the
# per-operand needs_input_grad flags, says nobody wants it, and for scalars).
GRADS = {
    "copy": lambda n, g, a, y: (g,),
    "neg": lambda n, g, a, y: (-g,),
    "abs": lambda n, g, a, y: (g * a.sign(),),
    "exp": lambda n, g, a, y: (g * y,),
    "log": lambda n, g, a, y: (g / a,),
    "sqrt": lambda n, g, a, y: (g * 0.5 / y,),
    "rsqrt": lambda n, g, a, y: (g * -0.5 * y * y * y,),
    "sin": lambda n, g, a, y: (g * a.cos(),),
    "cos": lambda n, g, a, y: (-g * a.sin(),),
    "tanh": lambda n, g, a, y: (g * (1 - y * y),),
    "sigmoid": lambda n, g, a, y: (g * y * (1 - y),),
    "relu": lambda n, g, a, y: (g * (a > 0),),
    "gelu": lambda n, g, a, y: (_gelu_grad(g, a, y),),
    "erf": lambda n, g, a, y: (g * 1.1283791670955126 * (-a * a).exp(),),
    "gelu_tanh": lambda n, g, a, y: (_gelu_tanh_grad(g, a, y),),
    "silu": lambda n, g, a, y: (_silu_grad(g, a, y),),
    "reciprocal": lambda n, g, a, y: (-g * y * y,),
    "square": lambda n, g, a, y: (2 * g * a,),
    "log1p": lambda n, g, a, y: (g / (1 + a),),
    "expm1": lambda n, g, a, y: (g * (y + 1),),
    "softplus": lambda n, g, a, beta, thr, y: (g * where(a * beta > thr, 1.0, (a * beta).sigmoid()), None, None),
    "leaky_relu": lambda n, g, a, s, y: (g * where(a > 0, 1.0, s), None),
    "elu": lambda n, g, a, alpha, y: (where(a > 0, g, g * (y + alpha)), None),
    "clamp": lambda n, g, a, lo, hi, y: (g * _in_range(a, lo, hi), None, None),
    "add": lambda n, g, a, b, y: (g, g),
    "sub": lambda n, g, a, b, y: (g, -g if n[1] else None),
    "mul": lambda n, g, a, b, y: (g * b if n[0] else None, g * a if n[1] else None),
    "div": lambda n, g, a, b, y: (g / b if n[0] else None, -g * y / b if n[1] else None),
    "pow": lambda n, g, a, b, y: _pow_grads(n, g, a, b, y),
    "maximum": lambda n, g, a, b, y: _max_grads(g, a, b, y, True),
    "minimum": lambda n, g, a, b, y: _max_grads(g, a, b, y, False),
    "atan2": lambda n, g, a, b, y: (g * b / (a * a + b * b), -g * a / (a * a + b * b)),
    "where": lambda n, g, c, a, b, y: (None, where(c, g, 0.0), where(c, 0.0, g)),
    "lerp": lambda n, g, a, b, w, y: (g * (1 - w), g * w, g * (b - a)),
}


def _in_range(a, lo, hi):
    m = None
    if lo is not None:
        m = a >= lo
    if hi is not None:
        m = (a <= hi) if m is None else m & (a <= hi)
    return m


_SCALAR_CATEGORY = {bool: 0, int: 1, float: 2}


def _result_type_fast(operands) -> D.dtype:
    """``result_type`` for the common shapes of a call: tensors of one dtype, or one tensor and
    a Python scalar that does not lift its category."""
    if len(operands) == 2:
        a, b = operands
        if type(a) is Tensor:
            if type(b) is Tensor:
                if a.dtype is b.dtype:
                    return a.dtype
            elif _SCALAR_CATEGORY.get(type(b), 3) <= a.dtype.category:
                return a.dtype
        elif type(b) is Tensor and _SCALAR_CATEGORY.get(type(a), 3) <= b.dtype.category:
            return b.dtype
    elif len(operands) == 1 and type(operands[0]) is Tensor:
        return operands[0].dtype
    return D.result_type(*operands)


def dtypes_for(op: str, operands) -> tuple[D.dtype, D.dtype]:
    """(compute dtype, result dtype) for ``op`` by PyTorch's promotion rules."""
    if op == "where":
        t = D.result_type(*operands[1:])
        return t, t
    if op == "clamp":
        t = D.result_type(*[x for x in operands if x is not None])
        return t, t
    t = _result_type_fast(operands)
    if op in PREDICATES:
        return t, D.bool_
    if op in _FLOAT_OPS and not t.is_floating_point:
        t = D.get_default_dtype()
    return t, t


class Pointwise(Function):
    @staticmethod
    def forward(ctx, op, *operands):
        be = shape = None
        args = []
        for x in operands:
            if type(x) is Tensor or isinstance(x, Tensor):
                data = x._data
                if be is None:
                    be, shape = x._be, data.shape
                elif x._be is not be:
                    first = next(t for t in operands if isinstance(t, Tensor))
                    raise RuntimeError(f"Expected all tensors to be on the same device, but found at least "
                                       f"two devices, {first.device} and {x.device}!")
                elif data.shape != shape:
                    broadcast_shapes([t.shape for t in operands if isinstance(t, Tensor)])  # raises if invalid
                args.append(data)
            else:
                args.append(x)
        compute, out_dtype = dtypes_for(op, operands)
        y = _wrap(be.elementwise(op, args, compute, out_dtype), be, out_dtype)
        if ctx.needs_input_grad:
            if op in _NO_GRAD:
                ctx.mark_non_differentiable(y)
            # Save only the values the gradient formula reads (an in-place write to anything
            # saved is an error at backward time, as in PyTorch), and every operand's shape.
            used = _OPERANDS_USED.get(op)
            saved = [x if used is None or k in used or not isinstance(x, Tensor) else None
                     for k, x in enumerate(operands)]
            ctx.save_for_backward(*saved, y if op in _USES_OUTPUT else None)
            ctx.shapes = tuple([x._data.shape if isinstance(x, Tensor) else None for x in operands])
            ctx.op = op
        return y

    @staticmethod
    def backward(ctx, g):
        *operands, y = ctx.saved_tensors
        need = ctx.needs_input_grad[1:]
        grads = GRADS[ctx.op](need, g, *operands, y)
        out = [None]
        for shape, gx, wanted in zip(ctx.shapes, grads, need):
            out.append(_sum_to(gx, shape) if wanted and gx is not None else None)
        return tuple(out)


_UNTRACKED = Context()  # forward writes to its ctx only when an input needs a gradient


def pointwise(op: str, *operands):
    if state.enabled:
        for x in operands:
            if isinstance(x, Tensor) and x.requires_grad:
                return Pointwise.apply(op, *operands)
    return Pointwise.forward(_UNTRACKED, op, *operands)  # what apply does for untracked inputs


def where(cond, a, b):
    if not isinstance(cond, Tensor):
        raise TypeError(f"where(): condition must be a tensor, got {type(cond).__name__}")
    if cond.dtype is not D.bool_:
        cond = cond.bool()
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = cond.new_tensor(a, dtype=D.result_type(a, b))
    return Pointwise.apply("where", cond, a, b)


class Cast(Function):
    """``x.to(dtype)``: the gradient is cast back."""

    @staticmethod
    def forward(ctx, x, dt):
        x._be.check_dtype(dt)
        ctx.src = x.dtype
        return _wrap(x._be.elementwise("copy", [x._data], x.dtype, dt), x._be, dt)

    @staticmethod
    def backward(ctx, g):
        return (g.to(ctx.src) if ctx.src.is_floating_point else None), None
