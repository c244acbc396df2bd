"""The autograd Function behind every recurrent module: one layer, one direction, all time steps.

`RecurrentLayer` records ONE graph node for the whole sequence (not one per step or per gate).
Its forward calls the backend's fused ``rnn_forward`` (an input-projection matmul for all steps,
then a hidden matmul and one fused cell kernel per step); its backward calls ``rnn_backward``,
which runs the reverse loop itself and returns every gradient at once. The RNN/LSTM/GRU modules
and their cells (``modules/rnn.py``) are thin compositions of this Function.
"""

from __future__ import annotations

from .._tensor import _wrap
from .._tensor_class import Tensor
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled


def _raw(t: Tensor | None):
    return None if t is None else t._data


class RecurrentLayer(Function):
    """``apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, reverse)`` with x (T, B, I) contiguous,
    h0/c0 (B, H) or None (zeros; c0 only for LSTM), biases or None. Returns (output (T, B, H),
    h_n) or, for LSTM, (output, h_n, c_n)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode: str, reverse: bool):
        be = x._be
        save = bool(ctx.needs_input_grad) and any(ctx.needs_input_grad)
        x = x.contiguous()  # the backends view x as (T*B, I) rows (grad mode is off in here)
        out, h_n, c_n, ws = be.rnn_forward(mode, x._data, _raw(h0), _raw(c0), w_ih._data, w_hh._data,
                                           _raw(b_ih), _raw(b_hh), reverse, save)
        dt = x.dtype
        if save:
            ctx.mode, ctx.reverse, ctx.has_bias = mode, reverse, b_ih is not None
            ctx.save_for_backward(_wrap(ws, be, dt), x, w_ih, w_hh)
        outs = (_wrap(out, be, dt), _wrap(h_n, be, dt))
        return outs + (_wrap(c_n, be, dt),) if mode == "LSTM" else outs

    @staticmethod
    def backward(ctx, g_out, g_hn, g_cn=None):
        if is_grad_enabled():  # backward(create_graph=True): the fused kernels have no graph
            raise NotImplementedError("double backward through RNN/LSTM/GRU layers is not supported: their "
                                      "backward runs fused kernels (like cuDNN's, which has the same limit)")
        ws, x, w_ih, w_hh = ctx.saved_tensors
        need = tuple(ctx.needs_input_grad) + (False,) * 7
        needs = (need[0], need[1], need[2], any(need[3:7]))
        be = x._be
        grads = be.rnn_backward(ctx.mode, ws._data, x._data, w_ih._data, w_hh._data, _raw(g_out), _raw(g_hn),
                                _raw(g_cn), ctx.reverse, ctx.has_bias, needs)
        dt = x.dtype
        dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = (None if g is None else _wrap(g, be, dt) for g in grads)
        return (dx if need[0] else None, dh0 if need[1] else None, dc0 if need[2] else None,
                dw_ih if need[3] else None, dw_hh if need[4] else None, db_ih if need[5] else None,
                db_hh if need[6] else None, None, None)


__all__ = ["RecurrentLayer"]
