"""Random numbers on wgpu: Philox4x32-10 generated on the device (``shaders/random.wgsl``).

The stream, the counter mapping and the conversions are defined once in
`wgtorch._backends.random` (the NumPy twin, which the tests compare against): for the same
``(seed, counter)`` cpu and wgpu give bit-identical uniform numbers and randint values, and
normal numbers equal to a few float32 ulps (each device has its own log/sin/cos).
"""

from __future__ import annotations

import math

import numpy as np

from ..._dtype import dtype, float16, float64
from .. import random as reference
from .kernels import specialise
from .params import ParamBlock

WG = 64
# n, phase, block_lo, block_hi, key0, key1, range, ilow (i32), low, scale, below_high, offset
PARAMS = ParamBlock(
    "n: u32  // elements to write",
    "phase: u32  // counter % 4: the word of the first block that is element 0",
    "block_lo: u32  // counter / 4, as two 32-bit halves", "block_hi: u32",
    "key0: u32", "key1: u32",
    "range: u32  // randint: high - low, 0 meaning 2**32",
    "ilow: i32  // randint: low",
    "low: f32  // uniform: low; normal: mean",
    "scale: f32  // uniform: high - low; normal: std",
    "below_high: f32  // uniform: largest TO value under high (results are clamped to it)",
    "offset: u32  // of element 0 in `out` (tensors share buffers)",
    "ilow_hi: i32  // randint into i64 (int64 on a device with shader-int64): low's high word; ilow its low",
)
META = PARAMS.struct
_KIND_CODE = {"uniform": 0, "normal": 1, "randint": 2}
_I32 = np.iinfo(np.int32)


class RandomOps:
    """Mixin for `WgpuBackend`: the ``random`` op of the protocol."""

    def random(self, kind: str, shape: tuple, dt: dtype, seed: int, counter: int, low, high):
        reference.check(kind, dt, low, high)
        if dt is float64:
            # The cpu stream's float64 formulas (53-bit uniforms, float64 Box-Muller), generated on
            # the host and uploaded: the values equal the cpu device's for the same seed.
            self.check_dtype(dt)
            n = math.prod(shape)
            return self.from_numpy(reference.generate(kind, n, seed, counter, low, high, dt).reshape(shape), dt)
        out = self.empty(shape, dt)
        n = out.size
        if n == 0:
            return out
        low_f = scale = below = 0.0
        ilow = span = ilow_hi = 0
        to = self.wgsl[dt]
        if kind == "uniform":
            low_f, scale, below = reference.uniform_params(dt, low, high)
        elif kind == "normal":
            low_f, scale = float(low), float(high)
        else:
            if to == "i64":  # low + offset in i64: low travels as two words
                if low < -(2**63) or high - 1 > 2**63 - 1:
                    raise RuntimeError(f"randint(): low and high - 1 must fit in int64, got [{low}, {high})")
                word = int(low) & 0xFFFFFFFF
                ilow, ilow_hi = word - (1 << 32) if word >= 1 << 31 else word, int(low) >> 32
            elif low < _I32.min or high - 1 > _I32.max:  # the kernel computes in i32
                raise RuntimeError(f"randint(): on wgpu, low and high - 1 must fit in int32 (int64 is stored "
                                   f"as int32 there), got [{low}, {high})")
            else:
                ilow = int(low)
            span = (int(high) - int(low)) & 0xFFFFFFFF  # 2**32 is sent as 0
        block = counter // 4
        phase = counter % 4
        blocks = (phase + n + 3) // 4
        # the runtime caches pipelines by key; int32 and int64 share one where both are stored as i32
        p = self.rt.pipeline(("random", kind, to), lambda: _source(kind, dt, to), ("rw",), f"random:{kind}")
        self.rt.dispatch(p, (out.buffer,), META,
                         (n, phase, block & 0xFFFFFFFF, (block >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF,
                          (seed >> 32) & 0xFFFFFFFF, span, ilow, low_f, scale, below, out.offset, ilow_hi),
                         math.ceil(blocks / WG))
        return out


def _source(kind: str, dt: dtype, to: str) -> str:
    """``to``: the storage type of ``dt`` on the device."""
    if dt is float16:
        store = ("    let h = f16(v);\n    let below = f16(P.below_high);\n"
                 "    out[i] = select(h, below, h > below);")
    else:
        store = "    out[i] = TO(select(v, P.below_high, v > P.below_high));"
    store_int = "out[at] = randint_value64(w[j]);" if to == "i64" else "store_int(at, randint_value(w[j]));"
    return specialise("random", {"TO": to},
                      {"KIND": _KIND_CODE[kind], "UBITS": 11 if dt is float16 else 24,
                       "FLOAT_OUT": dt.is_floating_point, "WG": WG},
                      {"STORE_UNIFORM": store, "STORE_INT": store_int}, params=PARAMS, i64=to == "i64")
