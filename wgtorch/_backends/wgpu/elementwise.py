"""Elementwise ops on wgpu: one kernel template (``shaders/elementwise.wgsl``), one WGSL
expression per op, specialised by operand types, aliasing and the number of strided dims."""

from __future__ import annotations

import math
import re

from ..._broadcast import broadcast_shapes
from ..._dtype import dtype
from ...ops.elementwise_defs import OPS, PREDICATES
from .array import WgpuArray, contiguous_strides
from .fusion import note_elementwise
from .int64_range import ELEMENTWISE_OVERFLOW, ERR_INT64_RANGE, checks_int64_range, int64_range_error, overflow_helpers
from .kernels import specialise
from .params import ParamBlock
from .runtime import Storage

WG = 64
MAX_DIMS = 8
PARAMS = ParamBlock(
    "numel: u32", "_pad0: u32", "_pad1: u32", "_pad2: u32",
    "scalar_f: vec4<f32>", "scalar_i: vec4<i32>",
    "shape: array<u32, 8>",
    "offset: array<u32, 4>  // out, a, b, c",
    "stride: array<array<u32, 8>, 4>  // out, a, b, c (0 on broadcast dims)",
)
META = PARAMS.struct

# The WGSL of each op comes from the registry (`ops/elementwise_defs.py`); creation kernels
# that have no tensor operands are the only expressions kept here.
_CREATION = {"arange": ("a + TC(i) * b", "a + TC(i) * b")}
_NAMES = "abc"
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _aligned_strides(a: WgpuArray, shape: tuple) -> list:
    """a's strides for iterating ``shape`` (stride 0 on broadcast dims)."""
    return _aligned_strides_of(a.shape, a.strides, shape)


def _broadcasts_to(src: tuple, dst: tuple) -> bool:
    if len(src) > len(dst):
        return False
    return all(n == 1 or n == m for n, m in zip(reversed(src), reversed(dst)))


def _merge_dims(shape: tuple, strides: list[list]) -> tuple[list, list[list]]:
    """Drop size-1 dims and merge neighbours every operand walks contiguously."""
    out_shape: list[int] = []
    out_strides: list[list] = [[] for _ in strides]
    for d, n in enumerate(shape):
        if n == 1:
            continue
        if out_shape and all(st[-1] == s[d] * n for st, s in zip(out_strides, strides)):
            out_shape[-1] *= n
            for st, s in zip(out_strides, strides):
                st[-1] = s[d]
            continue
        out_shape.append(n)
        for st, s in zip(out_strides, strides):
            st.append(s[d])
    return out_shape, out_strides


class _Plan:
    """What one elementwise call needs that depends only on (op, dtypes, operand shapes and
    strides): the output's layout, the kernel's static parameters and its pipelines (one per
    binding layout, which depends on which operands share a buffer). Built on a call's first
    use; a repeated call is then one dict lookup (see `ElementwiseOps.elementwise`)."""

    __slots__ = ("op", "compute", "out_dtype", "tc", "shape", "strides", "size", "bucket", "itemsize",
                 "out_wgsl", "ndim", "half", "zero_check", "range_check", "nscalars", "head", "params", "tail",
                 "struct", "groups", "pipelines")


class ElementwiseOps:
    """Mixin for `WgpuBackend`: the ``elementwise`` op of the protocol."""

    def _ew_plan_for(self, op, operands, compute: dtype, out_dtype: dtype):
        """The cached plan of a call: keyed by everything but offsets and scalar values (those
        travel per call)."""
        key = [op, compute, out_dtype]
        for x in operands:
            if type(x) is WgpuArray:
                key.append(x.dtype)
                key.append(x.shape)
                key.append(x.strides)
            else:
                key.append(type(x))
        key = tuple(key)
        plan = self._ew_plans.get(key)
        if plan is None:
            plan = self._ew_plan(key, op, operands, compute, out_dtype)
        return plan

    def elementwise(self, op, operands, compute: dtype, out_dtype: dtype, out=None):
        if out is not None:
            return self._elementwise_into(op, operands, compute, out_dtype, out)
        plan = self._ew_plan_for(op, operands, compute, out_dtype)
        rt = self.rt
        storage = Storage.bucketed(rt, plan.bucket, plan.size * plan.itemsize)
        block = storage.block
        out = WgpuArray.fresh(storage, plan.shape, plan.strides, block.offset // plan.itemsize, out_dtype, plan.size)
        if plan.size == 0:
            return out
        self._ew_dispatch(plan, operands, out)
        return out

    def _elementwise_into(self, op, operands, compute: dtype, out_dtype: dtype, out):
        """``elementwise`` writing into ``out``, a possibly strided view (creation kernels,
        copies into slices, in-place updates, ``copy_``). Its plan is cached as a fresh output's
        is, keyed by out's layout too (offsets travel per call)."""
        shape = out.shape
        key = ["into", op, compute, out_dtype, shape, out.strides]
        for a in operands:
            if type(a) is WgpuArray:
                # a kernel must never read past an operand, whoever calls it
                if a.shape != shape and not _broadcasts_to(a.shape, shape):
                    raise RuntimeError(f"elementwise {op}: an operand of shape {list(a.shape)} does not "
                                       f"broadcast to the output shape {list(shape)}")
                key.append(a.dtype)
                key.append(a.shape)
                key.append(a.strides)
            else:
                key.append(type(a))
        if out.size == 0:
            return out
        key = tuple(key)
        plan = self._ew_plans.get(key)
        if plan is None:
            plan = _make_plan(self, op, operands, compute, out_dtype, out)
            plan.pipelines = {}
            self._keep_plan(key, plan)
        self._ew_dispatch(plan, operands, out)
        return out

    def _keep_plan(self, key, plan: _Plan) -> None:
        if len(self._ew_plans) >= 4096:  # shapes seen once in a while must not pile up
            self._ew_plans.clear()
        self._ew_plans[key] = plan

    def _ew_plan(self, key, op, operands, compute, out_dtype) -> _Plan:
        arrays = [x for x in operands if type(x) is WgpuArray]
        shape = arrays[0].shape
        for a in arrays:
            if a.shape != shape:
                shape = broadcast_shapes([a.shape for a in arrays])
                break
        size, strides, bucket, itemsize = self._empty_layouts.get((shape, out_dtype)) or \
            self._empty_layout(shape, out_dtype)
        plan = _make_plan(self, op, operands, compute, out_dtype, None, shape)
        plan.strides, plan.bucket, plan.itemsize = strides, bucket, itemsize
        self._keep_plan(key, plan)
        return plan

    def _ew_dispatch(self, plan: _Plan, operands, out: WgpuArray) -> None:
        rt = self.rt
        # One binding per distinct (buffer, storage type): tensors share pages, and operands in
        # out's page read through `out` (runtime.py explains why every binding is read_write).
        buffers = [out.buffer]
        types = [plan.out_wgsl]
        layout = []  # per operand: its binding, or -1 for a scalar
        offsets = [out.offset, 0, 0, 0]
        n = 1
        for x in operands:
            if type(x) is WgpuArray:
                buf, t = x.buffer, self.wgsl[x.dtype]
                for slot in range(len(buffers)):
                    if buffers[slot] is buf and types[slot] == t:
                        break
                else:
                    slot = len(buffers)
                    buffers.append(buf)
                    types.append(t)
                layout.append(slot)
                offsets[n] = x.offset
                n += 1
            else:
                layout.append(-1)
        layout = tuple(layout)
        pipelines = plan.pipelines
        p = pipelines.get(layout) if pipelines is not None else None
        if p is None:
            p = self._ew_pipeline(plan, tuple(types), layout, len(buffers))
        else:
            rt._stats["pipeline_hits"] += 1
        if plan.nscalars:
            sf, si = _scalar_slots([x for x in operands if type(x) is not WgpuArray], plan.tc in _FLOATS, plan.compute,
                                   plan.tc == "i64")
            values = [*plan.head, *sf, *si, *plan.params, *offsets, *plan.tail]
        else:
            values = [*plan.head, *plan.params, *offsets, *plan.tail]
        if plan.zero_check or plan.range_check:
            buffers.append(rt.error_buffer())
            with rt.lock:  # no check may recycle the error slot before the dispatch is recorded
                values[11] = rt.error_slot()  # scalar_i[3]: a binary op uses at most scalar_i[0]
                rt.dispatch(p, buffers, plan.struct, values, plan.groups)
        else:
            rt.dispatch(p, buffers, plan.struct, values, plan.groups)

    def _ew_pipeline(self, plan: _Plan, types: tuple, layout: tuple, nbuffers: int):
        op, tc, ndim, half, zero_check = plan.op, plan.tc, plan.ndim, plan.half, plan.zero_check
        range_check = plan.range_check
        if zero_check:
            self.rt.error_decoders.setdefault(ERR_ZERO_DIVISION, _zero_division_error)
        if range_check:
            self.rt.error_decoders.setdefault(ERR_INT64_RANGE, int64_range_error)
        if zero_check or range_check:
            nbuffers += 1
        key = ("ew", op, tc, types, layout, ndim, half, zero_check, range_check)
        out_dtype = plan.out_dtype
        p = self.rt.pipeline(key, lambda: _source(op, tc, types, layout, ndim, out_dtype, half, zero_check,
                                                  range_check),
                             ("rw",) * nbuffers, f"elementwise:{op}")
        if not zero_check and not range_check and op in OPS:  # (fusing would lose the report)
            # (`wide` as _source has it: a float16 op's opmath scalars stay f32 in the fused kernel too)
            wide = OPS[op].wide + (_opmath_scalars(op, layout) if half else ())
            note_elementwise(p, op, tc, types, layout, ndim, half, wide, _result(op, tc, types[0], out_dtype))
        if plan.pipelines is not None:
            plan.pipelines[layout] = p
        return p


def _make_plan(be, op, operands, compute: dtype, out_dtype: dtype, out, shape=None) -> _Plan:
    """The static part of an elementwise dispatch. ``out`` is None for a fresh contiguous output
    of ``shape`` (the plan is then cached), else the array written into."""
    plan = _Plan()
    plan.op, plan.compute, plan.out_dtype = op, compute, out_dtype
    # bool computes in i32 (sign, add, max ... of bools), and is stored back as 0/1.
    # float64 computes in f64 (the shader-f64 feature; see kernels.py), the other floats in f32.
    # int64 computes in i64 where the device stores it so (shader-int64), else in i32.
    plan.tc = ("f64" if compute.wgsl == "f64" else "f32") if compute.is_floating_point else \
        "i32" if compute.wgsl == "u32" else be.wgsl[compute]
    plan.out_wgsl = be.wgsl[out_dtype]
    plan.half = compute.wgsl == "f16"  # operands are rounded to f16 first, as PyTorch's half kernels do
    arrays = [x for x in operands if type(x) is WgpuArray]
    plan.nscalars = len(operands) - len(arrays)
    if out is None:
        flat = all(x.contiguous and x.shape == shape for x in arrays)
        out_strides = contiguous_strides(shape)
        plan.size = size = 1
        for d in shape:
            size *= d
        plan.size = size
        plan.pipelines = {}
    else:
        shape, out_strides, size = out.shape, out.strides, out.size
        flat = out.contiguous and all(x.contiguous and x.shape == shape for x in arrays)
        plan.size = size
        plan.pipelines = None  # the caller (`_elementwise_into`) gives it its own pipelines
    plan.shape = shape
    if flat or size == 0:  # (nothing is dispatched for an empty output)
        plan.ndim = 0
        plan.params = _ZEROS8
        plan.tail = ()
        plan.struct = META_FLAT if plan.tc not in _WIDE else _WIDE[plan.tc][1]
    else:
        aligned = [_aligned_strides_of(shape, out_strides, shape)] + [_aligned_strides(a, shape) for a in arrays]
        dims, strides = _merge_dims(shape, aligned)
        if len(dims) > MAX_DIMS:
            raise RuntimeError(f"elementwise {op}: operands need {len(dims)} strided dimensions after "
                               f"merging; the wgpu kernels support {MAX_DIMS} (call .contiguous() first)")
        plan.ndim = len(dims)
        pad = [0] * (MAX_DIMS - len(dims))
        plan.params = (*dims, *pad)
        tail = []
        for st in strides:
            tail += st
            tail += pad
        tail += [0] * (MAX_DIMS * (4 - len(strides)))
        plan.tail = tuple(tail)
        plan.struct = META if plan.tc not in _WIDE else _WIDE[plan.tc][0]
    # An integer division by a device tensor reports a zero divisor through the runtime's
    # error buffer (PyTorch raises ZeroDivisionError; a host check would cost a sync per op).
    spec = OPS.get(op)  # None for creation kernels (arange)
    plan.zero_check = spec is not None and spec.divides and plan.tc in ("i32", "i64") and type(operands[1]) is WgpuArray
    # int64 held in i32 (no shader-int64): a result past int32 is reported, not wrapped (int64_range.py)
    plan.range_check = op in ELEMENTWISE_OVERFLOW and plan.tc == "i32" and checks_int64_range(be, out_dtype)
    plan.head = (size, 0, 0, 0) if plan.nscalars else (size, 0, 0, 0, *_ZEROS8)
    plan.groups = -(-size // WG)
    return plan


def _aligned_strides_of(shape_a: tuple, strides_a: tuple, shape: tuple) -> list:
    pad = len(shape) - len(shape_a)
    return [0] * pad + [s if n != 1 else 0 for n, s in zip(shape_a, strides_a)]


ERR_ZERO_DIVISION = 0x301


def _zero_division_error(words) -> RuntimeError:
    return RuntimeError("ZeroDivisionError (an integer division on wgpu met a zero divisor; reported at the first "
                        "read or synchronize after the op, as device-side errors are)")


_ZERO_REPORT = f"""
fn report_zero_division() {{
    let e = u32(P.scalar_i[3]) * 4u;
    loop {{  // the first report in the slot wins (a weak exchange may also fail spuriously)
        let r = atomicCompareExchangeWeak(&err[e], 0u, {ERR_ZERO_DIVISION}u);
        if (r.exchanged || r.old_value != 0u) {{ return; }}
    }}
}}
"""


_ZEROS8 = (0,) * MAX_DIMS
# The same layout cut after the offsets: a flat kernel (NDIM 0) never reads strides.
META_FLAT = PARAMS.through("offset")
# float64 kernels: the same values, scalar_f packed as doubles (params.ParamBlock.widened).
META64 = PARAMS.widened().struct
META64_FLAT = PARAMS.widened().through("offset")
# int64 kernels (shader-int64): scalar_i packed as 64-bit integers (params.ParamBlock.widened_int).
_WIDE = {"f64": (META64, META64_FLAT),
         "i64": (PARAMS.widened_int().struct, PARAMS.widened_int().through("offset"))}
_FLOATS = ("f32", "f64")


_F32_ROUNDS_TO_INF = 3.4028235677973366e38  # float32's max + half an ulp


def _scalar_slots(scalars, is_float: bool, compute: dtype, wide_int: bool = False):
    f, i = [0.0, 0.0, 0.0, 0.0], [0, 0, 0, 0]
    for k, x in enumerate(scalars):
        if is_float:
            v = float(x)
            # a double beyond float32 is +-inf there, as C's cast in PyTorch (struct would raise);
            # float64 kernels take it as it is (their scalars are doubles)
            wide = compute.wgsl == "f64"
            f[k] = v if wide or not abs(v) >= _F32_ROUNDS_TO_INF else math.copysign(math.inf, v)
        else:
            i[k] = _scalar_value(x, is_float, compute, wide_int)
    return f, i


def _scalar_value(x, is_float: bool, compute: dtype, wide_int: bool = False):
    if x is None:
        raise TypeError("elementwise: a None operand reached the backend")
    if is_float:
        return float(x)
    if compute.name == "bool":
        return 1 if x else 0  # truthiness, as PyTorch: 0.5 and NaN are True
    v = int(x)
    if wide_int:  # an i64 kernel: PyTorch's int64 scalar range
        if not _I64_MIN <= v <= _I64_MAX:
            raise RuntimeError(f"value cannot be converted to type int64 without overflow: {v}")
        return v
    if not _I32_MIN <= v <= _I32_MAX:
        raise OverflowError(f"scalar {v} does not fit the 32-bit integers wgpu stores {compute} in")
    return v


def _expression(op: str, tc: str) -> str:
    spec = OPS.get(op)
    float_expr, int_expr = (spec.wgsl, spec.wgsl_int) if spec is not None else _CREATION[op]
    expr = float_expr if tc in _FLOATS else int_expr
    if expr is None:  # the front end refuses these dtypes first (registry `accepts`)
        raise TypeError(f"{op} is not defined for integer tensors on wgpu")
    if tc == "i64":  # the integer helpers' i64 forms (elementwise.wgsl's //@i64 block), and a guarded %
        expr = _I32_HELPER_CALL.sub(r"\1_64(a, b)", expr).replace("a % b", "mod_64(a, b)")
    return expr


_I32_HELPER_CALL = re.compile(r"\b(ipow_|floordiv_i|rem_i|gcd_i|lcm_i)\(i32\(a\), i32\(b\)\)")


def _result(op: str, tc: str, to: str, out_dtype: dtype) -> str:
    """The stored value: the op's expression in the storage type ``to`` (bool: 0/1, NaN truthy)."""
    expr = _expression(op, tc)
    if out_dtype.name == "bool" and op not in PREDICATES:
        return f"u32(!(({expr}) == TC(0)))"
    return f"{to}({expr})"


def _source(op, tc, types, layout, ndim, out_dtype: dtype, half: bool = False, zero_check: bool = False,
            range_check: bool = False) -> str:
    bindings = ["@group(0) @binding(1) var<storage, read_write> out: array<TO>;"]
    bindings += [f"@group(0) @binding({k + 1}) var<storage, read> in{k}: array<{t}>;"
                 for k, t in enumerate(types) if k > 0]
    loads, operand, scalar = [], 1, 0
    wide = OPS[op].wide if op in OPS else ()
    if half and op in OPS:
        wide = wide + _opmath_scalars(op, layout)
    for k, (name, slot) in enumerate(zip(_NAMES, layout)):
        if slot < 0:
            field = "scalar_f" if tc in _FLOATS else "scalar_i"
            value = f"P.{field}[{scalar}]"
            scalar += 1
        else:
            array = "out" if slot == 0 else f"in{slot}"
            value = f"{array}[at({operand}u, i)]"
            operand += 1
        # a float16 op rounds its other operands to f16 first (PyTorch's half kernels), but `wide` ones
        rounded = half and k not in wide and (slot < 0 or types[slot] != "f16")
        loads.append(f"    let {name} = TC({'f16(' + value + ')' if rounded else value});")
    store = f"    out[at(0u, i)] = {_result(op, tc, 'TO', out_dtype)};"
    if zero_check or range_check:
        bindings.append(f"@group(0) @binding({len(types) + 1}) var<storage, read_write> err: array<atomic<u32>>;")
    if zero_check:
        bindings.append(_ZERO_REPORT)
        store = "    if (b == TC(0)) { report_zero_division(); }\n" + store
    if range_check:
        bindings.append(overflow_helpers("P.scalar_i[3]", 1))
        store = f"    if ({ELEMENTWISE_OVERFLOW[op]}) {{ report_int64_range(); }}\n" + store
    return specialise("elementwise", {"TC": tc, "TO": types[0]}, {"NDIM": ndim, "WG": WG},
                      {"BINDINGS": "\n".join(bindings), "LOADS": "\n".join(loads), "STORE": store},
                      params=PARAMS.widened_int() if tc == "i64" else PARAMS, f64=tc == "f64",
                      i64=tc == "i64" or "i64" in types)


def _opmath_scalars(op: str, layout: tuple) -> tuple:
    """Python-scalar operands a float16 op keeps in float32, as PyTorch's cpu kernels do (its
    ``original_scalar_value``): mul's, div's and floor_divide's scalar, and scalar parameters (leaky_relu's slope).
    ``2.5 * x`` is x.mul(2.5) there, so mul's scalar may come first."""
    spec = OPS[op]
    if spec.params:
        return tuple(range(spec.tensor_arity, spec.arity))
    if op == "mul" and len(layout) == 2:
        return tuple(k for k in (0, 1) if layout[k] < 0)
    if op in ("div", "floor_divide") and len(layout) == 2 and layout[1] < 0:
        return (1,)
    return ()


__all__ = ["ElementwiseOps", "broadcast_shapes", "contiguous_strides"]
