"""Optimizer updates on wgpu: one fused dispatch per parameter (``shaders/optim.wgsl``).

Each method writes the parameter and its state buffers in place. Hyper-parameters are packed
into the dispatch's meta slot as float32 scalars (float64 for float64 parameters), so a training
loop whose learning rate changes every step reuses one compiled pipeline and never waits for the
device.
"""

from __future__ import annotations

import math

from ..live import LiveFloat, current
from .array import WgpuArray
from .kernels import specialise
from .optim_multi import ForeachOps, refuse_host_step
from .params import ParamBlock

WG = 64
# numel, flags, 2 pad, offset[8], s[8]
PARAMS = ParamBlock(
    "numel: u32", "flags: u32", "_pad0: u32", "_pad1: u32",
    "offset: array<u32, 8>  // element offsets: param, grad, s0, s1, s2",
    "s: array<f32, 8>  // hyper-parameters",
)
META = PARAMS.struct
META64 = PARAMS.widened().struct  # float64 parameters: the hyper-parameters as doubles

MAXIMIZE, NESTEROV, FIRST_STEP, DECOUPLED = 1, 2, 4, 8

# The state buffers each kind may have, in order; the ones present bind as s0, s1, s2:
#   sgd: momentum_buffer | adam: exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)
#   rmsprop: square_avg, grad_avg (centered), momentum_buffer (momentum > 0)
_CALLS = {
    "sgd": ("sgd(p, g, {0})", ("buf",)),
    "adam": ("adam(p, g, {0}, {1}, {2}, {amsgrad})", ("m", "v", "vmax")),
    "rmsprop": ("rmsprop(p, g, {0}, {1}, {2}, {centered})", ("sq", "gavg", "buf")),
}


def _body(kind: str, present: tuple[bool, ...]) -> str:
    """WGSL that loads the state, calls the update function and stores the results; an absent
    state reads as 0 and its result is dropped."""
    call, fields = _CALLS[kind]
    loads, stores, slot = [], [], 0
    for here, field in zip(present, fields):
        if here:
            at = f"s{slot}[P.offset[{2 + slot}] + i]"  # offsets: param, grad, then s0, s1, s2
            loads.append(f"V({at})")
            stores.append(f"    {at} = SP(r.{field});")
            slot += 1
        else:
            loads.append("V(0.0)")
    flags = {"amsgrad": str(kind == "adam" and present[2]).lower(),
             "centered": str(kind == "rmsprop" and present[1]).lower()}
    return "\n".join([f"    let r = {call.format(*loads, **flags)};", *stores, "    param[ip] = SP(r.p);"])


def _source(kind: str, tp: str, tg: str, present: tuple[bool, ...], vec4: bool, f64: bool = False) -> str:
    bindings = ["@group(0) @binding(1) var<storage, read_write> param: array<SP>;",
                "@group(0) @binding(2) var<storage, read> grad: array<SG>;"]
    bindings += [f"@group(0) @binding({3 + k}) var<storage, read_write> s{k}: array<SP>;"
                 for k in range(sum(present))]
    wide = "vec4<{}>" if vec4 else "{}"
    # TP/TG (the scalar storage types) also make `specialise` enable f16 when either is f16.
    # float64 parameters compute in f64 with float64 hyper-parameters (kernels.py's f64 mode).
    aliases = {"TP": tp, "TG": tg, "SP": wide.format(tp), "SG": wide.format(tg),
               "V": wide.format("f64" if f64 else "f32")}
    return specialise("optim", aliases, {"WG": WG},
                      {"BINDINGS": "\n".join(bindings), "BODY": _body(kind, present)}, params=PARAMS, f64=f64)


class OptimOps(ForeachOps):
    """Mixin for `WgpuBackend`: ``sgd_step``, ``adam_step``, ``rmsprop_step`` (see
    `wgtorch._backends.array_optim` for the reference semantics), and the foreach updates."""

    def sgd_step(self, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                 nesterov, maximize, first_step) -> None:
        flags = ((MAXIMIZE if maximize else 0) | (NESTEROV if nesterov else 0)
                 | (FIRST_STEP if first_step else 0))
        states = [momentum_buffer if momentum != 0 else None]
        self._optim_dispatch("sgd", param, grad, states, flags,
                             (lr, momentum, 1.0 - dampening, weight_decay))

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, lr, beta1, beta2, eps,
                  weight_decay, step, decoupled, maximize) -> None:
        if self.rt._capture is not None:
            raise refuse_host_step(self.rt)
        # Python floats (float64) as PyTorch computes them, rounded to float32 once at upload.
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        flags = (MAXIMIZE if maximize else 0) | (DECOUPLED if decoupled else 0)
        self._optim_dispatch("adam", param, grad, [exp_avg, exp_avg_sq, max_exp_avg_sq], flags,
                             (1 - lr * weight_decay, 1 - beta1, beta2, 1 - beta2, eps, weight_decay,
                              lr / bias_correction1, bias_correction2_sqrt))

    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                     weight_decay, momentum, maximize) -> None:
        self._optim_dispatch("rmsprop", param, grad,
                             [square_avg, grad_avg, momentum_buffer if momentum > 0 else None],
                             MAXIMIZE if maximize else 0,
                             (lr, alpha, 1 - alpha, eps, weight_decay, momentum))

    # -- shared plumbing -----------------------------------------------------------------------
    def _optim_dispatch(self, kind, param: WgpuArray, grad: WgpuArray, states: list, flags: int,
                        scalars: tuple) -> None:
        if param.size == 0:
            return
        # Written tensors must be dense: a strided one is updated through a contiguous copy
        # that is written back afterwards (rare: parameters and state are dense). Tensors share
        # pages, so several bindings may name one buffer; overlapping tensors are what is refused.
        written = [param, *(s for s in states if s is not None)]
        if len({id(w.storage) for w in written}) != len(written):
            raise RuntimeError(f"{kind} step: the parameter and its optimizer state share memory; "
                               "each needs its own storage")
        copies = [w if w.contiguous else self.elementwise("copy", [w], w.dtype, w.dtype) for w in written]
        buffers = [c.buffer for c in copies]
        # The gradient must be dense too, and must not alias what the kernel writes.
        if not grad.contiguous or any(grad.storage is w.storage for w in written):
            grad = self.elementwise("copy", [grad], grad.dtype, grad.dtype)
        present = tuple(s is not None for s in states)
        tp, tg = param.dtype.wgsl, grad.dtype.wgsl
        offsets = [copies[0].offset, grad.offset] + [c.offset for c in copies[1:]]
        # Four elements per invocation where sizes and offsets allow: wider loads, 1/4 the threads.
        vec4 = param.size % 4 == 0 and not any(o % 4 for o in offsets)
        width = 4 if vec4 else 1
        f64 = tp == "f64"
        key = ("optim", kind, tp, tg, present, vec4)
        p = self.rt.pipeline(key, lambda: _source(kind, tp, tg, present, vec4, f64),
                             ("rw", "r") + ("rw",) * sum(present), f"optim:{kind}")
        offsets = [o // width for o in offsets] + [0] * (8 - len(offsets))
        numel = param.size // width
        values = (numel, flags, 0, 0, *offsets, *scalars, *([0.0] * (8 - len(scalars))))
        meta = META64 if f64 else META
        self.rt.dispatch(p, (buffers[0], grad.buffer, *buffers[1:]), meta, values, -(-numel // WG))
        cap = self.rt._capture
        if cap is not None and (flags & FIRST_STEP or any(isinstance(v, LiveFloat) for v in scalars)):
            cap.patch_last(_patch(meta, values, flags & FIRST_STEP))
        for original, copy in zip(written, copies):
            if copy is not original:
                self.elementwise("copy", [copy], copy.dtype, copy.dtype, out=original)


def _patch(meta, values: tuple, first: int):
    """Per-replay patch of a recorded per-parameter update: `LiveFloat` scalars (the learning
    rate) re-read, and no first-step flag (replays come after the captured step). The whole block
    is re-packed with ``meta``, so float64's widened layout is patched as float32's is."""
    def fn(params: bytearray) -> None:
        live = [current(v) if isinstance(v, LiveFloat) else v for v in values]
        if first:
            live[1] &= ~FIRST_STEP
        meta.pack_into(params, 0, *live)

    return fn


__all__ = ["OptimOps"]
