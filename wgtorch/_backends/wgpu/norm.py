"""Batch-norm statistics on wgpu in one pass (``shaders/norm.wgsl``), an optional capability of the wgpu
backend (``_backends/protocol.py``'s ``OPTIONAL``): ``batch_norm_stats``. ``nn/_norm.py`` uses it in training
mode and its two-reduction composite elsewhere.
"""

from __future__ import annotations

from ..._dtype import float32, float64
from .kernels import specialise
from .params import ParamBlock

WG = 64
PARAMS = ParamBlock(
    "batch: u32  // N",
    "channels: u32  // C",
    "inner: u32  // the product of the spatial dims",
    "_pad: u32",
    "off: array<u32, 2>  // element offset of the view bound at binding k + 1",
    "_pad1: u32",
    "_pad2: u32",
)


class NormOps:
    """Mixin for `WgpuBackend`: one-pass normalisation statistics."""

    def batch_norm_stats(self, x, batch: int, channels: int, inner: int):
        """(C, 2) per-channel (mean, biased variance) of the dense (N, C, R) ``x`` (Welford per thread,
        Chan's merge across the workgroup; NaN for a channel with no elements): float32 (f32 arithmetic)
        for float16/float32, float64 (kernels.py's f64 mode) for float64."""
        stats = self.empty((channels, 2), float64 if x.dtype is float64 else float32)
        if channels == 0 or batch * inner == 0:  # the front end computes no statistics of an empty batch
            return stats
        tx = x.dtype.wgsl
        p = self.rt.pipeline(
            ("norm", "bn_stats", tx, WG),
            lambda: specialise("norm", {"TX": tx}, {"WG": WG}, section="bn_stats", params=PARAMS, f64=tx == "f64"),
            ("r", "rw"),
            "norm:bn_stats",
        )
        values = [batch, channels, inner, 0, x.offset, stats.offset, 0, 0]
        self.rt.dispatch(p, (x.buffer, stats.buffer), PARAMS.struct, values, channels)
        return stats


__all__ = ["NormOps"]
