"""Multi-tensor (foreach) optimizer updates on wgpu: one dispatch per chunk of a group's tensors
(``shaders/optim_multi.wgsl``), instead of one per parameter.

A chunk holds up to `MAX_T` tensors (their table fills the 256-byte parameter slot) whose buffers
fit the adapter's storage bindings per stage; small tensors share pages, so a model's parameters,
gradients and state usually sit in a few buffers and a whole group is one dispatch. Tensors the
kernel does not take (not float32, or not dense) are updated one by one (`optim.OptimOps`).

In a graph capture, a `LiveFloat` learning rate and SGD's first-step flag are patched before every
replay (graph.py's ``patch_last``); capturable Adam reads its step counts from the device.
"""

from __future__ import annotations

import math
import struct

from ..._dtype import float32
from ..live import LiveFloat, current
from .kernels import specialise
from .params import ParamBlock


def refuse_host_step(rt):
    """The error for an Adam step whose count lives on the host, inside a capture."""
    return rt._capture.refuse(
        rt,
        "an Adam/AdamW step with capturable=False (its step count and bias corrections would "
        "replay as captured; construct the optimizer with capturable=True)",
    )


WG = 64
MAX_T = 6
PARAMS = ParamBlock(
    "n: u32  // tensors in this chunk",
    "flags: u32",
    "step_b: u32  // capturable Adam: the binding and offset of tensor 0's step count",
    "step_at: u32",
    "s: array<f32, 12>  // hyper-parameters",
    "e: array<vec4<u32>, 12>  // per tensor: (wg end, numel, bindings, param off), (grad, s0, s1, s2 offs)",
)
META = PARAMS.struct
MAXIMIZE, NESTEROV, FIRST_STEP, DECOUPLED, HAS_BUF, AMSGRAD, CAPTURABLE, INC_STEP = (1 << k for k in range(8))
_LR_AT = 16  # byte offset of s[0] (the learning rate) in the parameter block
_FLAGS_AT = 4


def _source(kind: int, k: int) -> str:
    lines = [f"@group(0) @binding({j + 1}) var<storage, read_write> B{j}: array<f32>;" for j in range(k)]
    cases_ld = "".join(f"        case {j}u: {{ return B{j}[i]; }}\n" for j in range(k - 1))
    cases_st = "".join(f"        case {j}u: {{ B{j}[i] = v; }}\n" for j in range(k - 1))
    lines.append(
        f"fn ld(b: u32, i: u32) -> f32 {{\n    switch b {{\n{cases_ld}"
        f"        default: {{ return B{k - 1}[i]; }}\n    }}\n}}"
    )
    lines.append(
        f"fn st(b: u32, i: u32, v: f32) {{\n    switch b {{\n{cases_st}"
        f"        default: {{ B{k - 1}[i] = v; }}\n    }}\n}}"
    )
    return specialise("optim_multi", {}, {"KIND": kind, "WG": WG}, {"BUFFERS": "\n".join(lines)}, params=PARAMS)


def _dense_f32(a) -> bool:
    return a.dtype is float32 and a.contiguous


class ForeachOps:
    """Mixin for `WgpuBackend` (through `optim.OptimOps`): ``sgd_foreach`` and ``adam_foreach``."""

    def sgd_foreach(
        self, params, grads, momentum_buffers, lr, momentum, dampening, weight_decay, nesterov, maximize, first_steps
    ) -> None:
        base = (MAXIMIZE if maximize else 0) | (NESTEROV if nesterov else 0) | (HAS_BUF if momentum != 0 else 0)
        items, rest = [], []
        for p, g, buf, first in zip(params, grads, momentum_buffers, first_steps):
            states = [buf] if momentum != 0 else []
            if p.size == 0:
                continue
            if _dense_f32(p) and g.dtype is float32 and all(_dense_f32(s) for s in states):
                items.append((p, g, states, None, bool(first)))
            else:
                rest.append((p, g, buf, first))
        for p, g, buf, first in rest:
            self.sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first)

        def scalars(lr_now):
            return (lr_now, momentum, 1.0 - dampening, weight_decay)

        self._multi_run(0, items, base, lambda first: FIRST_STEP if first else 0, scalars, lr, False)

    def adam_foreach(
        self,
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        max_exp_avg_sqs,
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        steps,
        decoupled,
        maximize,
    ) -> None:
        amsgrad = max_exp_avg_sqs is not None
        capturable = bool(steps) and not isinstance(steps[0], (int, float))
        if not capturable and self.rt._capture is not None:
            raise refuse_host_step(self.rt)
        base = (
            (MAXIMIZE if maximize else 0)
            | (DECOUPLED if decoupled else 0)
            | (AMSGRAD if amsgrad else 0)
            | (CAPTURABLE if capturable else 0)
        )
        vmaxes = max_exp_avg_sqs if amsgrad else [None] * len(params)
        items, rest = [], []
        for p, g, m, v, vmax, step in zip(params, grads, exp_avgs, exp_avg_sqs, vmaxes, steps):
            states = [m, v] + ([vmax] if amsgrad else [])
            ok = _dense_f32(p) and g.dtype is float32 and all(_dense_f32(s) for s in states)
            if capturable and not (ok and step.dtype is float32 and step.size == 1):
                raise NotImplementedError(
                    "Adam(capturable=True) on wgpu updates float32 dense parameters and "
                    "state with float32 step tensors; got a parameter of dtype "
                    f"{p.dtype.name} (contiguous={p.contiguous})"
                )
            if p.size == 0:
                if capturable:  # the count still advances, as PyTorch's does
                    self._multi_run(1, [(p, g, states, step, None)], base, None, None, lr, True, empty=True)
                continue
            if ok:
                items.append((p, g, states, step, None if capturable else float(step)))
            else:
                rest.append((p, g, m, v, vmax, step))
        for p, g, m, v, vmax, step in rest:
            self.adam_step(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize)

        def scalars(lr_now, step=None):
            head = (lr_now, 1 - beta1, beta2, 1 - beta2, eps, weight_decay)
            if capturable:
                ln1 = math.log(beta1) if beta1 > 0 else -math.inf
                ln2 = math.log(beta2) if beta2 > 0 else -math.inf
                return (*head, ln1, ln2, 1 - lr_now * weight_decay)
            return (*head, lr_now / (1 - beta1**step), math.sqrt(1 - beta2**step), 1 - lr_now * weight_decay)

        self._multi_run(1, items, base, None, scalars, lr, capturable)

    # -- plumbing --------------------------------------------------------------------------------
    def _multi_run(self, kind, items, base_flags, flag_of, scalars, lr, capturable, empty=False) -> None:
        """Split ``items`` (param, grad, states, step array or host step, key) into chunks and
        dispatch each: a chunk's tensors share the key (SGD's first-step flag, Adam's host step)."""
        limit = min(self.rt.limits.get("max-storage-buffers-per-shader-stage", 8), 16) - 1  # P takes one
        chunk, bufs, key, wrote = [], [], None, set()
        for item in items:
            p, g, states, step, k = item
            mine = {id(w.storage) for w in (p, *states)}
            if len(mine) != 1 + len(states):
                raise RuntimeError(
                    "foreach optimizer step: a parameter and its optimizer state share memory; each needs its own "
                    "storage"
                )
            # Tensors sharing storage (a parameter given twice) go to separate chunks, updated in turn.
            split = bool(mine & wrote)
            if split or id(g.storage) in mine | wrote or not g.contiguous:
                g = self.elementwise("copy", [g], g.dtype, g.dtype)  # dense, and not aliasing a written tensor
                item = (p, g, states, step, k)
            need = [p.buffer, g.buffer, *(s.buffer for s in states)] + ([step.buffer] if capturable else [])
            new = bufs + [b for b in dict.fromkeys(need) if b not in bufs]
            follows = (
                not capturable
                or not chunk
                or (step.buffer is chunk[-1][3].buffer and step.offset == chunk[-1][3].offset + 1)
            )
            if chunk and (split or len(chunk) == MAX_T or len(new) > limit or k != key or not follows):
                self._multi_dispatch(kind, chunk, bufs, base_flags, flag_of, scalars, lr, capturable)
                chunk, new, wrote = [], list(dict.fromkeys(need)), set()
            chunk.append(item)
            bufs, key = new, k
            wrote |= mine
        if chunk:
            self._multi_dispatch(kind, chunk, bufs, base_flags, flag_of, scalars, lr, capturable, empty)

    def _multi_dispatch(self, kind, chunk, bufs, base_flags, flag_of, scalars, lr, capturable, empty=False):
        index = {b: j for j, b in enumerate(bufs)}
        entries, end = [], 0
        for p, g, states, _, _ in chunk:
            end += -(-p.size // WG)
            packed = index[p.buffer] | index[g.buffer] << 4
            offs = [0, 0, 0]
            for j, s in enumerate(states):
                packed |= index[s.buffer] << (8 + 4 * j)
                offs[j] = s.offset
            entries += [end, p.size, packed, p.offset, g.offset, *offs]
        entries += [0] * (8 * MAX_T - len(entries))
        key = chunk[0][4]
        flags = base_flags | (flag_of(key) if flag_of is not None else 0)
        step_b = step_at = 0
        if capturable:
            step_b, step_at = index[chunk[0][3].buffer], chunk[0][3].offset
        p = self.rt.pipeline(
            ("optim_multi", kind, len(bufs)),
            lambda: _source(kind, len(bufs)),
            ("rw",) * len(bufs),
            f"optim_multi:{'sgd' if kind == 0 else 'adam'}",
        )
        cap = self.rt._capture
        if capturable:  # the step counts first: the update reads this step's count
            self.rt.dispatch(p, tuple(bufs), META, (len(chunk), INC_STEP, step_b, step_at, *([0.0] * 12), *entries), 1)
        if empty:
            return
        lr_now = float(lr)
        values = scalars(lr_now) if capturable or kind == 0 else scalars(lr_now, key)
        values = (*values, *([0.0] * (12 - len(values))))
        self.rt.dispatch(p, tuple(bufs), META, (len(chunk), flags, step_b, step_at, *values, *entries), end)
        if cap is not None and (isinstance(lr, LiveFloat) or flags & FIRST_STEP):
            cap.patch_last(_patch(lr, scalars, flags & FIRST_STEP))


def _patch(lr, scalars, first: int):
    """The per-replay patch of a recorded multi-tensor dispatch: the current learning rate (and
    what is derived from it), and no first-step flag (replays come after the captured step)."""

    def fn(params: bytearray) -> None:
        if first:
            (flags,) = struct.unpack_from("<I", params, _FLAGS_AT)
            struct.pack_into("<I", params, _FLAGS_AT, flags & ~FIRST_STEP)
        if isinstance(lr, LiveFloat):
            values = scalars(current(lr))
            struct.pack_into(f"<{len(values)}f", params, _LR_AT, *values)

    return fn


__all__ = ["ForeachOps"]
