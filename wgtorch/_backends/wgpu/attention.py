"""Fused scaled-dot-product attention on wgpu (``shaders/attention.wgsl``), an optional capability of the
wgpu backend (see ``_backends/protocol.py``'s ``OPTIONAL``): ``attention_forward`` and
``attention_backward``. ``nn/_attention.py`` uses them where they apply and its composite elsewhere.

Layouts (all dense, the front end makes them so): q (Z, L, E), k (Zk, S, E), v (Zk, S, Ev), with
Z = B * hq and Zk = B * hk; query head h reads key/value head h // rep (rep = hq // hk). ``mask`` is
None or an additive float32 (Zm, L, S) with Zm 1 (shared by all batches) or Z. Forward gives the
output (Z, L, Ev) and the per-row logsumexp (Z, L) float32 (-inf for a row with no key kept: its
output is 0). Backward takes the upstream gradient, the output and lse, and gives dq, dk, dv.
float64 (shader-f64) computes in float64 (kernels.py's f64 mode): its mask, lse and delta are float64.

Workgroup memory holds one tile of the other operand: ``BT`` rows of (E + Ev) floats, sized to stay
within 16 KiB (WebGPU's default limit): half the rows in float64.
"""

from __future__ import annotations

from ..._dtype import float32, float64
from .kernels import specialise
from .params import ParamBlock

WG = 64  # rows (threads) per workgroup on a GPU
#: Rows per workgroup on a software adapter: lavapipe runs a workgroup as SIMD loops on one core, so small
#: workgroups spread short sequences over more cores (measured, B1 H2 L64 E32 fwd+bwd: 181 ms at 64, 151 at 16).
WG_SOFTWARE = 16
MAX_HEAD_DIM = 128  # larger head dims use the composite (private rows and tiles grow with E)
_SHARED_BYTES = 16384  # WebGPU's default limit of workgroup memory
PARAMS = ParamBlock(
    "z: u32  // query batches (dkv: key batches)",
    "gpz: u32  // workgroups per batch",
    "L: u32",
    "S: u32",
    "hq: u32",
    "hk: u32",
    "rep: u32  // query heads per key/value head",
    "mz: u32  // 1: a mask per query batch, 0: one mask for all",
    "off: array<u32, 9>  // element offset of the view bound at binding k + 1",
    "scale: f32",
    "_pad0: f32",
    "_pad1: f32",
)
META = PARAMS.struct
META64 = PARAMS.widened().struct  # float64 kernels: the scale as a double (kernels.py's f64 mode)


def tile_rows(e: int, ev: int, itemsize: int = 4) -> int:
    """Rows of the other operand staged per step: as many as fit (with two per-row floats of ``itemsize``
    bytes: 8 where the kernel computes in f64), at most 64."""
    pad = lambda n: -(-n // 4) * 4  # rows are staged as vec4s  # noqa: E731
    return max(1, min(64, _SHARED_BYTES // itemsize // (pad(e) + pad(ev) + 2)))


def kernel_source(kernel: str, tx: str, e: int, ev: int, causal: bool, has_mask: bool, wg: int = WG) -> str:
    """attention.wgsl specialised, with only ``kernel``'s section kept; ``tx`` f64 computes in float64."""
    f64 = tx == "f64"
    consts = {"E": e, "EV": ev, "WG": wg, "BT": tile_rows(e, ev, 8 if f64 else 4), "CAUSAL": causal,
              "HAS_MASK": has_mask}
    return specialise("attention", {"TX": tx}, consts, section=kernel, params=PARAMS, f64=f64)


class AttentionOps:
    """Mixin for `WgpuBackend`: fused scaled-dot-product attention."""

    def attention_supported(self, dt, e: int, ev: int) -> bool:
        """Whether the fused kernels take this dtype and these head dims (float64 tensors exist on wgpu
        only where the adapter has shader-f64)."""
        return dt.name in ("float32", "float16", "float64") and 1 <= e <= MAX_HEAD_DIM and 1 <= ev <= MAX_HEAD_DIM

    def _attn_wg(self) -> int:
        return WG_SOFTWARE if self.rt.is_software else WG

    def _attn_run(
        self,
        kernel: str,
        arrays: list,
        tx: str,
        e: int,
        ev: int,
        causal: bool,
        has_mask: bool,
        sizes: tuple,
        scale: float,
        groups: int,
    ) -> None:
        buffers = [a.buffer for a in arrays]
        offsets = [a.offset for a in arrays] + [0] * (9 - len(arrays))
        wg = self._attn_wg()
        key = ("attention", kernel, tx, e, ev, causal, has_mask, wg)
        p = self.rt.pipeline(
            key,
            lambda: kernel_source(kernel, tx, e, ev, causal, has_mask, wg),
            ("rw",) * len(buffers),
            f"attention:{kernel}",
        )
        meta = META64 if tx == "f64" else META
        self.rt.dispatch(p, tuple(buffers), meta, [*sizes, *offsets, float(scale), 0.0, 0.0], groups)

    def attention_forward(self, q, k, v, mask, scale: float, is_causal: bool, hq: int, hk: int):
        """(out (Z, L, Ev), lse (Z, L) float32, float64 for float64) of ``softmax(q k^T * scale + mask) v``
        (layouts above)."""
        z, L, e = q.shape
        zk, S, ev = v.shape
        out = self.empty((z, L, ev), q.dtype)
        lse = self.empty((z, L), float64 if q.dtype is float64 else float32)
        if out.size == 0:
            return out, lse
        gpz = -(-L // self._attn_wg())
        m = mask if mask is not None else q  # bound in its place, never read
        mz = 1 if mask is not None and mask.shape[0] == z and z > 1 else 0
        sizes = (z, gpz, L, S, hq, hk, hq // hk, mz)
        self._attn_run(
            "attn_forward",
            [q, k, v, m, out, lse],
            q.dtype.wgsl,
            e,
            ev,
            is_causal,
            mask is not None,
            sizes,
            scale,
            z * gpz,
        )
        return out, lse

    def attention_backward(self, grad, q, k, v, mask, out, lse, delta, scale: float, is_causal: bool, hq: int, hk: int):
        """(dq, dk, dv) of `attention_forward` from the upstream gradient, its output's lse and
        ``delta`` = rowsum(grad * out) (Z, L) float32 (float64 for float64)."""
        z, L, e = q.shape
        zk, S, ev = v.shape
        dq = self.empty(q.shape, q.dtype)
        dk = self.empty(k.shape, k.dtype)
        dv = self.empty(v.shape, v.dtype)
        m = mask if mask is not None else q
        mz = 1 if mask is not None and mask.shape[0] == z and z > 1 else 0
        tx, has_mask = q.dtype.wgsl, mask is not None
        if dq.size:
            gpz = -(-L // self._attn_wg())
            sizes = (z, gpz, L, S, hq, hk, hq // hk, mz)
            self._attn_run(
                "attn_dq", [q, k, v, m, grad, lse, delta, dq], tx, e, ev, is_causal, has_mask, sizes, scale, z * gpz
            )  # with S == 0 it writes zeros
        if dk.size or dv.size:
            gpz = -(-S // self._attn_wg())
            sizes = (zk, gpz, L, S, hq, hk, hq // hk, mz)
            self._attn_run(
                "attn_dkv",
                [q, k, v, m, grad, lse, delta, dk, dv],
                tx,
                e,
                ev,
                is_causal,
                has_mask,
                sizes,
                scale,
                zk * gpz,
            )
        return dq, dk, dv


__all__ = ["AttentionOps", "kernel_source", "tile_rows", "MAX_HEAD_DIM"]
