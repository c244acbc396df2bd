"""Recurrent layers (RNN tanh/relu, LSTM, GRU) for the NumPy ("cpu") and CuPy ("cuda") backends:
one layer and one direction, forward over the whole sequence and backward through it. The same
methods, arguments, results and workspace layout as the WGSL kernels in ``wgpu/rnn.py``.

Equations (PyTorch's; gate order along the G*H rows of the weights as in PyTorch):
- RNN: h = act(W_ih x + b_ih + W_hh h' + b_hh), act tanh or relu.
- LSTM (i, f, g, o): c = f * c' + i * g, h = o * tanh(c).
- GRU (r, z, n): n = tanh(W_in x + b_in + r * (W_hn h' + b_hn)), h = (1 - z) * n + z * h'.

The input projection of every time step is one matmul; the loop does one matmul per step for
the hidden projection and the cell update; the backward loop collects the gate gradients of all
steps, so the weight gradients and the input gradient are single matmuls at the end.
"""

from __future__ import annotations

import numpy as np

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNLayout:
    """Where things live in a layer's workspace, a flat array of the layer's dtype (offsets in
    elements from its start; S = B * H):

    - hs: T + 1 hidden-state slots of (B, H). Forward direction: slot 0 holds h_0 and slot t + 1
      holds h_t; reverse: slot T holds h_0 and slot t holds h_t. So the layer's output is the
      contiguous run of slots 1..T (forward) or 0..T-1 (reverse), and the state each step reads
      is the slot next to the one it writes.
    - cs: the same for the LSTM cell state.
    - gates: T steps of (B, 4H) saved activations (LSTM i, f, g, o; GRU r, z, n, W_hn h + b_hn),
      present only when the forward saves for backward (RNN needs none: it uses h itself).

    The backward workspace holds dgi (T, B, G*H), dgh (GRU only: its n part is r times dgi's)
    and carry (B, H), the gradient that bypasses the W_hh matmul (LSTM dc, GRU dh * z).
    """

    def __init__(self, mode: str, T: int, B: int, H: int, save: bool):
        self.mode, self.T, self.B, self.H = mode, T, B, H
        self.G = GATES[mode] * H
        S = self.S = B * H
        self.hs = 0
        self.cs = (T + 1) * S
        n_cs = (T + 1) * S if mode == "LSTM" else 0
        self.gates = self.cs + n_cs
        self.gate_step = 4 * S if mode in ("LSTM", "GRU") else 0
        self.size = self.gates + (T * self.gate_step if save else 0)
        # backward workspace
        self.dgi = 0
        self.dgh = T * B * self.G if mode == "GRU" else 0
        self.carry = (2 if mode == "GRU" else 1) * T * B * self.G
        self.grad_size = self.carry + S

    def prev_slot(self, t: int, reverse: bool) -> int:
        return t + 1 if reverse else t

    def out_slot(self, t: int, reverse: bool) -> int:
        return t if reverse else t + 1

    def order(self, reverse: bool) -> range:
        """Time steps in the order the forward pass visits them."""
        return range(self.T - 1, -1, -1) if reverse else range(self.T)


class ArrayRNNOps:
    """Mixin for `ArrayBackend` (uses ``self.xp``)."""

    def rnn_forward(self, mode: str, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse: bool, save: bool):
        """One layer, one direction. ``x`` (T, B, I) contiguous; ``h0``/``c0`` (B, H) or None
        (zeros); weights (G*H, I) and (G*H, H); biases (G*H,) or None. Returns (output (T, B, H),
        h_n (B, H), c_n (B, H) or None, workspace), the first three views of the workspace."""
        xp = self.xp
        T, B, _ = x.shape
        H = w_hh.shape[1]
        lay = RNNLayout(mode, T, B, H, save)
        ws = xp.empty(lay.size, x.dtype)
        hs = ws[: (T + 1) * lay.S].reshape(T + 1, B, H)
        cs = ws[lay.cs: lay.cs + (T + 1) * lay.S].reshape(T + 1, B, H) if mode == "LSTM" else None
        gates = ws[lay.gates:].reshape(T, B, 4 * H) if save and mode in ("LSTM", "GRU") else None
        start = lay.prev_slot(lay.order(reverse)[0], reverse) if T else 0
        hs[start] = 0 if h0 is None else h0
        if cs is not None:
            cs[start] = 0 if c0 is None else c0
        gi = (x.reshape(T * B, x.shape[2]) @ w_ih.T).reshape(T, B, lay.G)
        if b_ih is not None:
            gi = gi + b_ih
        with np.errstate(all="ignore"):
            for t in lay.order(reverse):
                p, o = lay.prev_slot(t, reverse), lay.out_slot(t, reverse)
                gh = hs[p] @ w_hh.T
                if b_hh is not None:
                    gh += b_hh
                if mode == "RNN_TANH":
                    hs[o] = xp.tanh(gi[t] + gh)
                elif mode == "RNN_RELU":
                    pre = gi[t] + gh
                    hs[o] = xp.where(pre <= 0, 0, pre)
                elif mode == "LSTM":
                    i, f, g, og = (gi[t] + gh).reshape(B, 4, H).transpose(1, 0, 2)
                    i, f, g, og = _sigmoid(xp, i), _sigmoid(xp, f), xp.tanh(g), _sigmoid(xp, og)
                    cs[o] = f * cs[p] + i * g
                    hs[o] = og * xp.tanh(cs[o])
                    if gates is not None:
                        gates[t] = xp.concatenate([i, f, g, og], axis=1)
                else:
                    rz = _sigmoid(xp, gi[t, :, : 2 * H] + gh[:, : 2 * H])  # r and z side by side
                    r, z = rz[:, :H], rz[:, H:]
                    hn = gh[:, 2 * H:]
                    n = xp.tanh(gi[t, :, 2 * H:] + r * hn)
                    hs[o] = n + z * (hs[p] - n)
                    if gates is not None:
                        gates[t] = xp.concatenate([rz, n, hn], axis=1)
        out = hs[0:T] if reverse else hs[1:]
        last = 0 if reverse else T
        return out, hs[last], (cs[last] if cs is not None else None), ws

    def rnn_backward(self, mode: str, ws, x, w_ih, w_hh, dout, dh_n, dc_n, reverse: bool,
                     has_bias: bool, needs: tuple):
        """Gradients of one layer-direction from its saved workspace. ``dout`` (T, B, H) and
        ``dh_n``/``dc_n`` (B, H) may be None (no gradient there). ``needs`` is (x, h0, c0,
        weights): which groups to compute. Returns (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh),
        None where not needed."""
        xp = self.xp
        T, B, I = x.shape
        H = w_hh.shape[1]
        lay = RNNLayout(mode, T, B, H, True)
        G = lay.G
        hs = ws[: (T + 1) * lay.S].reshape(T + 1, B, H)
        cs = ws[lay.cs: lay.cs + (T + 1) * lay.S].reshape(T + 1, B, H) if mode == "LSTM" else None
        gates = ws[lay.gates:].reshape(T, B, 4 * H) if mode in ("LSTM", "GRU") else None
        dgi = xp.empty((T, B, G), x.dtype)
        dgh = xp.empty((T, B, G), x.dtype) if mode == "GRU" else dgi
        m = dh_n  # the gradient reaching h_t through W_hh (at the first step: from h_n)
        carry = dc_n if mode == "LSTM" else None
        with np.errstate(all="ignore"):
            for t in reversed(lay.order(reverse)):
                p, o = lay.prev_slot(t, reverse), lay.out_slot(t, reverse)
                dh = _add(xp, dout[t] if dout is not None else None, m)
                if dh is None:
                    dh = xp.zeros((B, H), x.dtype)
                if mode == "RNN_TANH":
                    dgi[t] = dh * (1 - hs[o] * hs[o])
                elif mode == "RNN_RELU":
                    dgi[t] = xp.where(hs[o] > 0, dh, 0)
                elif mode == "LSTM":
                    i, f, g, og = (gates[t, :, k * H: (k + 1) * H] for k in range(4))
                    tc = xp.tanh(cs[o])
                    dc = dh * og * (1 - tc * tc)
                    if carry is not None:
                        dc = dc + carry
                    dgi[t] = xp.concatenate([dc * g * i * (1 - i), dc * cs[p] * f * (1 - f),
                                             dc * i * (1 - g * g), dh * tc * og * (1 - og)], axis=1)
                    carry = dc * f
                else:
                    if carry is not None:
                        dh = dh + carry
                    r, z, n, hn = (gates[t, :, k * H: (k + 1) * H] for k in range(4))
                    dn = dh * (1 - z) * (1 - n * n)
                    dr = dn * hn * r * (1 - r)
                    dz = dh * (hs[p] - n) * z * (1 - z)
                    dgi[t] = xp.concatenate([dr, dz, dn], axis=1)
                    dgh[t] = xp.concatenate([dr, dz, dn * r], axis=1)
                    carry = dh * z
                m = dgh[t] @ w_hh
        return sequence_grads(xp, mode, x, w_ih, hs, dgi, dgh, m, carry, reverse, has_bias, needs)


def sequence_grads(xp, mode, x, w_ih, hs, dgi, dgh, m, carry, reverse, has_bias, needs):
    """After the reverse loop over the steps: dx, dh0, dc0 and the weight and bias gradients,
    each one matmul or sum over the whole sequence. ``dgi``/``dgh`` hold the gate gradients of
    every step, ``m`` the gradient that reached h_0 through W_hh and ``carry`` the cell (LSTM) or
    hidden (GRU) gradient left over from the first step."""
    T, B, I = x.shape
    H = hs.shape[-1]
    G = dgi.shape[-1]
    need_x, need_h0, need_c0, need_w = needs
    dgi2, dgh2 = dgi.reshape(T * B, G), dgh.reshape(T * B, G)
    dx = (dgi2 @ w_ih).reshape(T, B, I) if need_x else None
    dh0 = dc0 = None
    if need_h0:
        dh0 = m if mode != "GRU" or carry is None else m + carry
    if need_c0 and mode == "LSTM":
        dc0 = carry if carry is not None else xp.zeros((B, H), x.dtype)
    dw_ih = dw_hh = db_ih = db_hh = None
    if need_w:
        h_prev = (hs[1:] if reverse else hs[:T]).reshape(T * B, H)
        dw_ih = dgi2.T @ x.reshape(T * B, I)
        dw_hh = dgh2.T @ h_prev
        if has_bias:
            db_ih = dgi2.sum(axis=0)
            db_hh = dgh2.sum(axis=0)
    return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh


def _sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


def _add(xp, a, b):
    if a is None:
        return b
    return a if b is None else a + b


__all__ = ["ArrayRNNOps", "GATES", "MODES", "RNNLayout"]
