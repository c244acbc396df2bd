"""Float64 NumPy references of PyTorch's recurrent equations, written step by step for the tests
(``test_rnn.py``): one cell step forward and backward, and a whole multi-layer, bidirectional
module with backpropagation through time. Independent of wgtorch's own NumPy backend, which
batches the work differently (gate gradients of all steps, weight gradients as one matmul)."""

from __future__ import annotations

import numpy as np

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# -- float64 reference: one cell step forward and backward ------------------------------------------
def _sig(x):
    return 1 / (1 + np.exp(-x))


def cell_forward(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One step for a batch: x (B, I), h and c (B, H). Returns h', c' (LSTM, else None), cache."""
    gi = x @ w_ih.T + (b_ih if b_ih is not None else 0)
    gh = h @ w_hh.T + (b_hh if b_hh is not None else 0)
    H = h.shape[1]
    if mode == "RNN_TANH":
        y = np.tanh(gi + gh)
        return y, None, (x, h, y)
    if mode == "RNN_RELU":
        y = np.maximum(gi + gh, 0)
        return y, None, (x, h, y)
    if mode == "LSTM":
        pre = gi + gh
        i, f, g, o = _sig(pre[:, :H]), _sig(pre[:, H:2 * H]), np.tanh(pre[:, 2 * H:3 * H]), _sig(pre[:, 3 * H:])
        c_new = f * c + i * g
        return o * np.tanh(c_new), c_new, (x, h, c, i, f, g, o, c_new)
    r = _sig(gi[:, :H] + gh[:, :H])
    z = _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1 - z) * n + z * h, None, (x, h, r, z, n, gh[:, 2 * H:])


def cell_backward(mode, cache, dh, dc, w_ih, w_hh):
    """Gradients of one step: (dx, dh_prev, dc_prev, dW_ih, dW_hh, dgi summed, dgh summed)."""
    direct = 0.0
    dc_prev = None
    if mode in ("RNN_TANH", "RNN_RELU"):
        x, h, y = cache
        dgi = dh * (1 - y * y) if mode == "RNN_TANH" else dh * (y > 0)
        dgh = dgi
    elif mode == "LSTM":
        x, h, c, i, f, g, o, c_new = cache
        tc = np.tanh(c_new)
        dct = dc + dh * o * (1 - tc ** 2)
        dgi = np.concatenate([dct * g * i * (1 - i), dct * c * f * (1 - f), dct * i * (1 - g ** 2),
                              dh * tc * o * (1 - o)], axis=1)
        dgh = dgi
        dc_prev = dct * f
    else:
        x, h, r, z, n, hn = cache
        dn_pre = dh * (1 - z) * (1 - n ** 2)
        dr_pre = dn_pre * hn * r * (1 - r)
        dz_pre = dh * (h - n) * z * (1 - z)
        dgi = np.concatenate([dr_pre, dz_pre, dn_pre], axis=1)
        dgh = np.concatenate([dr_pre, dz_pre, dn_pre * r], axis=1)
        direct = dh * z
    return (dgi @ w_ih, dgh @ w_hh + direct, dc_prev, dgi.T @ x, dgh.T @ h, dgi.sum(0), dgh.sum(0))


# -- float64 reference: a whole module -----------------------------------------------------------
def ref_params(mode, input_size, H, layers, dirs, bias, seed=1):
    rng = np.random.default_rng(seed)
    params = {}
    G = GATES[mode] * H
    for layer in range(layers):
        for d in range(dirs):
            sfx = f"l{layer}" + ("_reverse" if d else "")
            n_in = input_size if layer == 0 else H * dirs
            params[f"weight_ih_{sfx}"] = rng.uniform(-0.6, 0.6, (G, n_in))
            params[f"weight_hh_{sfx}"] = rng.uniform(-0.6, 0.6, (G, H))
            if bias:
                params[f"bias_ih_{sfx}"] = rng.uniform(-0.4, 0.4, G)
                params[f"bias_hh_{sfx}"] = rng.uniform(-0.4, 0.4, G)
    return params


def ref_module(mode, x, h0, c0, params, layers, dirs, d_out, d_hn, d_cn):
    """Time-major x (T, B, I); h0/c0 (L*D, B, H) or None. Forward and the backward of
    sum(out * d_out) + sum(h_n * d_hn) + sum(c_n * d_cn). Returns (out, h_n, c_n, grads)."""
    T, B, _ = x.shape
    H = params["weight_hh_l0"].shape[1]
    zeros = np.zeros((layers * dirs, B, H))
    h0 = zeros if h0 is None else h0
    c0 = zeros if c0 is None else c0
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    tapes, inp, h_n, c_n = [], x, [], []
    for layer in range(layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            sfx = f"l{layer}" + ("_reverse" if d else "")
            w = [params.get(f"{n}_{sfx}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, c = h0[k], c0[k]
            out = np.zeros((T, B, H))
            caches = {}
            for t in (range(T - 1, -1, -1) if d else range(T)):
                h, c, caches[t] = cell_forward(mode, inp[t], h, c, *w)
                out[t] = h
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
            tapes.append((layer, d, k, sfx, w, caches, inp))
        inp = np.concatenate(outs, axis=2)
    out = inp
    # backward, layer by layer from the top
    dh0, dc0 = np.zeros((layers * dirs, B, H)), np.zeros((layers * dirs, B, H))
    d_layer_out = d_out.copy()
    dx = None
    for layer in range(layers - 1, -1, -1):
        d_in = np.zeros_like(tapes[layer * dirs][6])
        for d in range(dirs):
            _, _, k, sfx, w, caches, inp = tapes[layer * dirs + d]
            dh = d_hn[k].copy()
            dc = d_cn[k].copy() if mode == "LSTM" else None
            for t in (range(T) if d else range(T - 1, -1, -1)):
                dh = dh + d_layer_out[t, :, d * H:(d + 1) * H]
                gx, dh, dc, gw_ih, gw_hh, gb_ih, gb_hh = cell_backward(mode, caches[t], dh, dc, w[0], w[1])
                d_in[t] += gx
                grads[f"weight_ih_{sfx}"] += gw_ih
                grads[f"weight_hh_{sfx}"] += gw_hh
                if w[2] is not None:
                    grads[f"bias_ih_{sfx}"] += gb_ih
                    grads[f"bias_hh_{sfx}"] += gb_hh
            dh0[k] = dh
            if mode == "LSTM":
                dc0[k] = dc
        d_layer_out = d_in
        dx = d_in
    return out, np.stack(h_n), (np.stack(c_n) if mode == "LSTM" else None), (dx, dh0, dc0, grads)
