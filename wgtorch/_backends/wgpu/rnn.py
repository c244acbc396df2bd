"""Recurrent layers on wgpu (``shaders/rnn.wgsl``): one layer and one direction per call, with the
methods, arguments, results and workspace layout of the NumPy reference (``_backends/array_rnn.py``,
whose docstrings describe them).

Dispatches, the way cuDNN arranges the work:
- forward: one matmul for the input projection of all T steps, then per step one matmul
  (h_{t-1} @ W_hh^T) and ONE fused kernel (all gate nonlinearities, the cell and hidden update,
  the gates saved for backward). Both biases are added inside the kernel.
- backward: per step ONE fused kernel (every gate gradient, the bypass gradient of the cell or
  the GRU update) and one matmul (dG_t @ W_hh, the gradient reaching h_{t-1}); then dx, dW_ih
  and dW_hh are one matmul each over the whole sequence and db_ih, db_hh one reduction each.
Nothing in the loops reads back to the host: per-step offsets travel in the kernel parameters.
"""

from __future__ import annotations

from ..array_rnn import RNNLayout
from .array import WgpuArray, contiguous_strides
from .kernels import specialise
from .params import ParamBlock

WG = 64
PARAMS = ParamBlock(
    "batch: u32", "hidden: u32",
    "flags: u32  // forward: 1 = a previous state exists; backward: 1 dout, 2 M, 4 carry",
    "numel: u32  // batch * hidden",
    *[f"a{k}: u32{'  // element offsets (their meaning per kernel is listed in its section)' if k == 0 else ''}"
      for k in range(12)],
)
META = PARAMS.struct
_MODE_ID = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}
# flags of the backward kernel
_DOUT, _M, _CARRY = 1, 2, 4


def kernel_source(kernel: str, tx: str, mode: str, has_bias: bool, save: bool) -> str:
    """rnn.wgsl specialised, with only ``kernel``'s section kept; ``tx`` f64 computes in float64
    (kernels.py's f64 mode: the prelude's sigmoid_ / tanh_ over f64), f32 and f16 in f32."""
    consts = {"WG": WG, "MODE": _MODE_ID[mode], "HAS_BIAS": has_bias, "SAVE": save}
    return specialise("rnn", {"TX": tx}, consts, section=kernel, params=PARAMS, f64=tx == "f64")


def _view(base: WgpuArray, offset: int, shape: tuple) -> WgpuArray:
    """A contiguous view of ``shape`` at element ``offset`` of ``base`` (a flat workspace)."""
    return base.view(shape, contiguous_strides(shape), base.offset + offset)


class RNNOps:
    """Mixin for `WgpuBackend`: ``rnn_forward`` and ``rnn_backward``."""

    def _rnn_pipeline(self, kernel: str, dt, mode: str, has_bias: bool, save: bool, n_buffers: int):
        key = ("rnn", kernel, dt.wgsl, mode, has_bias, save)
        return self.rt.pipeline(key, lambda: kernel_source(kernel, dt.wgsl, mode, has_bias, save),
                                ("r",) * (n_buffers - 1) + ("rw",), f"rnn:{kernel}:{mode}")

    def _rnn_dense(self, a: WgpuArray) -> WgpuArray:
        return a if a.is_contiguous() else self.elementwise("copy", [a], a.dtype, a.dtype)

    def rnn_forward(self, mode: str, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse: bool, save: bool):
        dt = x.dtype
        T, B, _ = x.shape
        H = w_hh.shape[1]
        lay = RNNLayout(mode, T, B, H, save)
        S = lay.S
        ws = self.empty((lay.size,), dt)
        start = lay.prev_slot(lay.order(reverse)[0], reverse)
        # The state the first step reads: copied in, or zeros when the backward pass will read
        # it (dW_hh, GRU's dz); without either the kernel treats it as zero by itself.
        if h0 is not None or save:
            self.elementwise("copy", [h0 if h0 is not None else 0.0], dt, dt,
                             out=_view(ws, start * S, (B, H)))
            if mode == "LSTM":
                self.elementwise("copy", [c0 if c0 is not None else 0.0], dt, dt,
                                 out=_view(ws, lay.cs + start * S, (B, H)))
        gi = self.matmul(x.view((T * B, x.shape[2]), contiguous_strides((T * B, x.shape[2])), x.offset),
                         self.permute(w_ih, (1, 0)))
        w_hh_t = self.permute(w_hh, (1, 0))
        has_bias = b_ih is not None
        p = self._rnn_pipeline("forward", dt, mode, has_bias, save, 5)
        bias_ih = self._rnn_dense(b_ih) if has_bias else gi  # the kernel reads biases as flat rows
        bias_hh = self._rnn_dense(b_hh) if has_bias else gi
        G = lay.G
        groups = -(-S // WG)
        rt = self.rt
        for step, t in enumerate(lay.order(reverse)):
            prev, out = lay.prev_slot(t, reverse) * S, lay.out_slot(t, reverse) * S
            has_prev = step > 0 or h0 is not None
            gh = self.matmul(_view(ws, prev, (B, H)), w_hh_t) if has_prev else gi
            buffers = (gi.buffer, gh.buffer, bias_ih.buffer, bias_hh.buffer, ws.buffer)
            o = ws.offset
            rt.dispatch(p, buffers, META, (
                B, H, 1 if has_prev else 0, S,
                gi.offset + t * B * G, gh.offset, bias_ih.offset, bias_hh.offset,
                o + prev, o + out, o + lay.cs + prev, o + lay.cs + out, o + lay.gates + t * lay.gate_step,
                0, 0, 0), groups)
        hs_out = _view(ws, 0 if reverse else S, (T, B, H))
        last = 0 if reverse else T * S
        c_n = _view(ws, lay.cs + last, (B, H)) if mode == "LSTM" else None
        return hs_out, _view(ws, last, (B, H)), c_n, ws

    def rnn_backward(self, mode: str, ws, x, w_ih, w_hh, dout, dh_n, dc_n, reverse: bool,
                     has_bias: bool, needs: tuple):
        dt = x.dtype
        T, B, I = x.shape
        H = w_hh.shape[1]
        lay = RNNLayout(mode, T, B, H, True)
        S, G = lay.S, lay.G
        gws = self.empty((lay.grad_size,), dt)
        dgi = _view(gws, lay.dgi, (T * B, G))
        dgh = _view(gws, lay.dgh, (T * B, G))
        carry = _view(gws, lay.carry, (B, H))
        if dout is not None:
            dout = self._rnn_dense(dout)
        m = self._rnn_dense(dh_n) if dh_n is not None else None
        has_carry = False
        if dc_n is not None and mode == "LSTM":
            self.elementwise("copy", [dc_n], dt, dt, out=carry)
            has_carry = True
        p = self._rnn_pipeline("backward", dt, mode, False, True, 4)
        groups = -(-S // WG)
        rt = self.rt
        o, g = ws.offset, gws.offset
        need_x, need_h0, need_c0, need_w = needs
        steps = list(reversed(lay.order(reverse)))
        for t in steps:
            prev, out = lay.prev_slot(t, reverse) * S, lay.out_slot(t, reverse) * S
            flags = (_DOUT if dout is not None else 0) | (_M if m is not None else 0) | (_CARRY if has_carry else 0)
            d_src = dout if dout is not None else ws
            m_src = m if m is not None else ws
            rt.dispatch(p, (d_src.buffer, m_src.buffer, ws.buffer, gws.buffer), META, (
                B, H, flags, S,
                d_src.offset + t * S if dout is not None else 0, m_src.offset if m is not None else 0,
                o + out, o + prev, o + lay.cs + out, o + lay.cs + prev, o + lay.gates + t * lay.gate_step,
                g + lay.dgi + t * B * G, g + lay.dgh + t * B * G, g + lay.carry, 0, 0), groups)
            has_carry = mode in ("LSTM", "GRU")
            # The gradient reaching h_{t-1} through W_hh; after the last step, dh_0's matmul part.
            if t != steps[-1] or need_h0:
                m = self.matmul(_view(gws, lay.dgh + t * B * G, (B, G)), w_hh)
        dx = None
        if need_x:
            dx2 = self.matmul(dgi, w_ih)
            dx = dx2.view((T, B, I), contiguous_strides((T, B, I)), dx2.offset)
        dh0 = dc0 = None
        if need_h0:
            dh0 = self.elementwise("add", [m, carry], dt, dt) if mode == "GRU" else m
        if need_c0 and mode == "LSTM":
            dc0 = self.elementwise("copy", [carry], dt, dt)
        dw_ih = dw_hh = db_ih = db_hh = None
        if need_w:
            x2 = x.view((T * B, I), contiguous_strides((T * B, I)), x.offset)
            h_prev = _view(ws, S if reverse else 0, (T * B, H))
            dw_ih = self.matmul(self.permute(dgi, (1, 0)), x2)
            dw_hh = self.matmul(self.permute(dgh, (1, 0)), h_prev)
            if has_bias:
                db_ih = self.reduce("sum", dgi, (0,), False)
                # dgh is dgi but for GRU; a copy keeps the two .grad tensors independent.
                db_hh = (self.reduce("sum", dgh, (0,), False) if mode == "GRU"
                         else self.elementwise("copy", [db_ih], dt, dt))
        return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh


__all__ = ["RNNOps", "kernel_source"]
