"""Pointwise ops: one autograd Function for every op of the registry (`elementwise_defs.py`).

PyTorch's type promotion picks the compute and result dtypes, the op's declaration refuses the
dtypes PyTorch refuses (before any kernel is built), the backend's ``elementwise`` computes, and
the declared gradient runs backward. Broadcast operands get their gradient summed back to their
own shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _dtype as D
from .. import _tensor
from .._broadcast import broadcast_shapes
from .._tensor import TensorCore, _wrap
from ..autograd.function import Context, Function, Node
from ..autograd.grad_mode import state
from .elementwise_defs import OPS

if TYPE_CHECKING:
    from .._tensor_class import Tensor


def _sum_to(g, shape):
    """Sum a broadcast gradient back to ``shape``."""
    if g._data.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if dims:
        g = g.sum(dims, keepdim=True)
    return g.reshape(shape) if lead or tuple(g.shape) != tuple(shape) else g


_SCALAR_CATEGORY = {bool: 0, int: 1, float: 2}


def _result_type_fast(operands) -> D.dtype:
    """``result_type`` for the common shapes of a call: tensors of one dtype, or one tensor and
    a Python scalar that does not lift its category."""
    T = _tensor.Tensor  # the public class (a subclass such as Parameter takes the general path)
    if len(operands) == 2:
        a, b = operands
        if type(a) is T:
            if type(b) is T:
                if a.dtype is b.dtype:
                    return a.dtype
            elif _SCALAR_CATEGORY.get(type(b), 3) <= a.dtype.category:
                return a.dtype
        elif type(b) is T and _SCALAR_CATEGORY.get(type(a), 3) <= b.dtype.category:
            return b.dtype
    elif len(operands) == 1 and type(operands[0]) is T:
        return operands[0].dtype
    return D.result_type(*operands)


def dtypes_for(op, operands) -> tuple[D.dtype, D.dtype]:
    """(compute dtype, result dtype) for ``op`` (a name or its registry entry) by PyTorch's
    promotion rules."""
    spec = OPS[op] if type(op) is str else op
    if spec.promote is not None:
        return spec.promote(operands)
    t = _result_type_fast(operands[:spec.tensor_arity] if spec.params else operands)
    if spec.result == "bool":
        return t, D.bool_
    if spec.result == "float" and not t.is_floating_point:
        t = D.get_default_dtype()
    return t, t


def _check_int_divisor(operands, compute):
    """Integer division by zero raises, as in PyTorch (a device-resident divisor is not read
    back for this: wgpu gives WGSL's result there, see the README's known limits)."""
    if compute.category != 1:
        return
    b = operands[1]
    if isinstance(b, TensorCore):
        if b._be.device.type == "cpu" and b.numel() and not b._data.all():
            raise RuntimeError("ZeroDivisionError")
    elif b == 0:
        raise RuntimeError("ZeroDivisionError")


_HALF_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38}
_HALF_C10 = {"float16": "c10::Half", "bfloat16": "c10::BFloat16"}


def _check_int_pow(operands, compute):
    b = operands[1]
    if compute.category == 1 and not isinstance(b, TensorCore) and b < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    if compute in D.HALVES and not isinstance(b, TensorCore) and _HALF_MAX[compute.name] < abs(b) < float("inf"):
        # PyTorch casts a scalar exponent to the tensor's dtype and refuses a finite overflow
        raise RuntimeError(f"value cannot be converted to type {_HALF_C10[compute.name]} without overflow")


def _check_bool_sub(operands, compute):
    for x in operands:
        if x is True or x is False or (isinstance(x, TensorCore) and x.dtype is D.bool_):
            raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                               "trying to invert a mask, use the `~` or `logical_not()` operator instead.")


# Checks of operand values beyond dtypes (the registry's `accepts` and `divides`), as PyTorch makes them.
_OPERAND_CHECKS = {"pow": _check_int_pow,
                   "sub": _check_bool_sub}


# What a call's dtypes decide, cached per (op's entry, default float dtype, each operand's dtype
# and 0-d-ness or Python scalar type): (compute dtype, result dtype, value check or None).
# Promotion and the dtype refusals then run once per signature, not once per call.
_SIGNATURES: dict = {}
_BROADCASTS: set = set()  # operand shape tuples already known to broadcast


def _signature(key, spec, op, operands):
    compute, out_dtype = dtypes_for(spec, operands)
    if compute is D.bool_ and op == "pow" and type(operands[1]) is bool:
        compute = D.int32  # bool ** True / False is a bool tensor in PyTorch (x, all True)
    if compute in spec.refused:
        spec.check(compute)  # raises PyTorch's error for a dtype the op does not compute in
    if spec.divides:
        check = _check_int_divisor if compute.category == 1 else None
    else:
        check = _OPERAND_CHECKS.get(op)
    entry = (compute, out_dtype, check)
    if spec.promote is None:  # a special rule is a function of the operands: not cached
        if len(_SIGNATURES) >= 4096:
            _SIGNATURES.clear()
        _SIGNATURES[key] = entry
    return entry


def _check_broadcast(operands):
    shapes = tuple([t._data.shape for t in operands if isinstance(t, TensorCore)])
    if shapes not in _BROADCASTS:
        broadcast_shapes([t.shape for t in operands if isinstance(t, TensorCore)])  # raises if invalid
        if len(_BROADCASTS) >= 4096:
            _BROADCASTS.clear()
        _BROADCASTS.add(shapes)


class Pointwise(Function):
    @staticmethod
    def forward(ctx, op, *operands):
        be = shape = None
        args = []
        spec = OPS[op]
        key = [spec, D._default_float]  # the entry itself: a re-registered name is a new signature
        for x in operands:
            if isinstance(x, TensorCore):
                data = x._data
                if be is None:
                    be, shape = x._be, data.shape
                elif x._be is not be:
                    first = next(t for t in operands if isinstance(t, TensorCore))
                    raise RuntimeError(f"Expected all tensors to be on the same device, but found at least "
                                       f"two devices, {first.device} and {x.device}!")
                elif data.shape != shape and shape is not None:
                    _check_broadcast(operands)
                    shape = None  # checked once
                args.append(data)
                key.append(x.dtype)
                key.append(not data.shape)  # 0-d tensors promote like scalars
            else:
                args.append(x)
                key.append(type(x))
        key = tuple(key)
        entry = _SIGNATURES.get(key)
        if entry is None:
            entry = _signature(key, spec, op, operands)
        compute, out_dtype, check = entry
        if check is not None:
            check(operands, compute)
        y = _wrap(be.elementwise(op, args, compute, out_dtype), be, out_dtype)
        if ctx.needs_input_grad:
            if spec.grad is None:
                ctx.mark_non_differentiable(y)
                return y
            # Save only the values the gradient formula reads (an in-place write to anything
            # saved is an error at backward time, as in PyTorch), and every operand's shape.
            used = spec.saves
            saved = [x if k in used or not isinstance(x, TensorCore) else None for k, x in enumerate(operands)]
            ctx.save_for_backward(*saved, y if spec.uses_output else None)
            ctx.shapes = tuple([x._data.shape if isinstance(x, TensorCore) else None for x in operands])
            ctx.op = op
        return y

    @staticmethod
    def backward(ctx, g):
        *operands, y = ctx.saved_tensors
        need = ctx.needs_input_grad[1:]
        grads = OPS[ctx.op].grad(need, g, *operands, y)
        out = [None]
        for shape, gx, wanted in zip(ctx.shapes, grads, need):
            out.append(_sum_to(gx, shape) if wanted and gx is not None else None)
        return tuple(out)


_UNTRACKED = Context()  # forward writes to its ctx only when an input needs a gradient

# -- the eager path: a repeated call is one dict lookup to a pre-bound backend plan --
# Keyed on everything the dtype decisions, the broadcast check and the backend's plan depend on:
# (op, default float dtype, per tensor operand its backend, dtype, shape and strides, per scalar
# its Python type). The entry holds what `_signature` decided and the backend's planned call
# (`elementwise_plan`), and what a gradient needs (which operands to save, every shape).
_EAGER: dict = {}


def _eager_entry(key, op, operands, args):
    """Build (and cache) the eager entry of a call: the checks of `Pointwise.forward` run here,
    once per key (they depend only on what the key holds)."""
    spec = OPS[op]
    be = first = None
    for x in operands:
        if isinstance(x, TensorCore):
            if be is None:
                be, first = x._be, x
            elif x._be is not be:
                raise RuntimeError(f"Expected all tensors to be on the same device, but found at least "
                                   f"two devices, {first.device} and {x.device}!")
    shapes = [x._data.shape for x in operands if isinstance(x, TensorCore)]
    if any(sh != shapes[0] for sh in shapes):
        _check_broadcast(operands)
    sig = [spec, D._default_float]
    for x in operands:
        if isinstance(x, TensorCore):
            sig += (x.dtype, not x._data.shape)
        else:
            sig.append(type(x))
    compute, out_dtype, check = _signature(tuple(sig), spec, op, operands)
    used = spec.saves
    save = tuple([k in used or not isinstance(x, TensorCore) for k, x in enumerate(operands)])
    shapes = tuple([x._data.shape if isinstance(x, TensorCore) else None for x in operands])
    differentiable = spec.grad is not None and out_dtype.is_floating_point
    entry = (compute, out_dtype, check, be.elementwise_plan(op, args, compute, out_dtype), be,
             differentiable, save, spec.uses_output, shapes)
    if len(_EAGER) >= 4096:  # shapes seen once in a while must not pile up
        _EAGER.clear()
    _EAGER[key] = entry
    return entry


def _general(op, operands):
    if state.enabled:
        for x in operands:
            if isinstance(x, TensorCore) and x.requires_grad:
                return Pointwise.apply(op, *operands)
    return Pointwise.forward(_UNTRACKED, op, *operands)  # what apply does for untracked inputs


class _PointwiseCtx(Context):
    """`Pointwise.backward`'s context, made without `Function.apply`: fixed slots."""

    __slots__ = ("saved", "versions", "needs_input_grad", "shapes", "op")


def _record(y, op, operands, save, uses_output, shapes):
    """What `Function.apply` records for `Pointwise`, without its generic machinery: the node,
    its context (the operands the gradient reads and their versions, every shape) and edges."""
    needs = [False]
    edges = [None]
    saved = []
    versions = []
    for x, keep in zip(operands, save):
        if isinstance(x, TensorCore):
            if x.requires_grad:
                needs.append(True)
                fn = x.grad_fn
                edges.append((x, -1) if fn is None else (fn, x._output_nr))
            else:
                needs.append(False)
                edges.append(None)
            if keep:
                saved.append(x)
                versions.append(x._counter()[0])
            else:
                saved.append(None)
                versions.append(None)
        else:
            needs.append(False)
            edges.append(None)
            saved.append(x)
            versions.append(None)
    if uses_output:
        saved.append(y)
        versions.append(y._counter()[0])
    else:
        saved.append(None)
        versions.append(None)
    ctx = _new_ctx(_PointwiseCtx)
    ctx.saved = tuple(saved)
    ctx.versions = tuple(versions)
    ctx.needs_input_grad = tuple(needs)
    ctx.shapes = shapes
    ctx.op = op
    node = _new_ctx(Node)
    node.fn = Pointwise
    node.ctx = ctx
    node.edges = tuple(edges)
    node.n_outputs = 1
    node.retained = None
    y.grad_fn = node
    y.requires_grad = True


_new_ctx = object.__new__


def pointwise(op: str, *operands):
    """Apply the registry op ``op`` to tensors and Python scalars (the Tensor methods' and
    ``wgtorch.*`` functions' common path)."""
    T = _tensor.Tensor  # the public class (a subclass such as Parameter takes the general path)
    if len(operands) == 2 and type(operands[0]) is T:
        # The binary call, the most common, keyed without a loop (the key is `_key`'s).
        a, b = operands
        ad = a._data
        if type(b) is T:
            bd = b._data
            key = (op, D._default_float, a._be, a.dtype, ad.shape, ad.strides, b._be, b.dtype, bd.shape, bd.strides)
            args = [ad, bd]
            grad = a.requires_grad or b.requires_grad
        elif type(b) is float or type(b) is int:
            key = (op, D._default_float, a._be, a.dtype, ad.shape, ad.strides, type(b))
            args = [ad, b]
            grad = a.requires_grad
        else:
            key, args, grad = _key(op, operands)
    else:
        key, args, grad = _key(op, operands)
    entry = _EAGER.get(key)
    if entry is None:
        if OPS[op].promote is not None or not any(isinstance(x, TensorCore) for x in operands):
            return _general(op, operands)  # a promotion rule of the operands' values is not cached
        entry = _eager_entry(key, op, operands, args)
    compute, out_dtype, check, run, be, differentiable, save, uses_output, shapes = entry
    if check is not None:
        check(operands, compute)
    y = _wrap(run(args), be, out_dtype)
    if grad and differentiable and state.enabled:
        _record(y, op, operands, save, uses_output, shapes)
    return y


def binary_operator(op: str, other_operand):
    """The operator ``self <op> other`` (``Tensor.__add__`` ...): a repeated call of a tensor
    with a tensor or a Python number is the eager lookup and call in this one frame, without
    the general path's packing and branches; the first call, any other operand type
    (``other_operand(self, other)`` converts it, or returns NotImplemented) and a Tensor
    subclass go through `pointwise`."""

    def method(self, other: Tensor | float) -> Tensor:
        T = _tensor.Tensor  # the public class, looked up once per call
        if type(self) is T:
            ad = self._data
            if type(other) is T:
                bd = other._data
                entry = _EAGER.get((op, D._default_float, self._be, self.dtype, ad.shape, ad.strides,
                                    other._be, other.dtype, bd.shape, bd.strides))
                grad = self.requires_grad or other.requires_grad
            elif type(other) is float or type(other) is int:
                bd = other
                entry = _EAGER.get((op, D._default_float, self._be, self.dtype, ad.shape, ad.strides, type(other)))
                grad = self.requires_grad
            else:
                entry = None
            if entry is not None:
                compute, out_dtype, check, run, be, differentiable, save, uses_output, shapes = entry
                if check is not None:
                    check((self, other), compute)
                # `_wrap`, inline
                y = _new_ctx(T)
                y._data = run([ad, bd])
                y._be = be
                y.dtype = out_dtype
                y.requires_grad = False
                y.grad = None
                y.grad_fn = None
                y._output_nr = 0
                y._hooks = None
                y._base = None
                y._vc = None
                if grad and differentiable and state.enabled:
                    _record(y, op, (self, other), save, uses_output, shapes)
                return y
        if type(other) is not T and type(other) is not float and type(other) is not int:
            other = other_operand(self, other)
            if other is NotImplemented:
                return other
        return pointwise(op, self, other)

    return method


def _key(op, operands):
    """(eager key, backend operands, whether any operand requires grad) of a call."""
    key = [op, D._default_float]
    args = []
    grad = False
    for x in operands:
        if isinstance(x, TensorCore):
            d = x._data
            key += (x._be, x.dtype, d.shape, d.strides)
            args.append(d)
            if x.requires_grad:
                grad = True
        else:
            key.append(type(x))
            args.append(x)
    return tuple(key), args, grad


def where(cond, a, b):
    if not isinstance(cond, TensorCore):
        raise TypeError(f"where(): argument 'condition' must be Tensor, not {type(cond).__name__}")
    if cond.dtype is not D.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{cond.dtype.name.capitalize()}")
    if not isinstance(a, TensorCore) and not isinstance(b, TensorCore):
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
