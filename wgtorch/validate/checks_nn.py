"""Checks of the fused nn and optimizer kernel families (``nn.wgsl``, ``optim.wgsl``).

They call the backend methods the nn layers and optimizers use (``cross_entropy_forward``,
``layer_norm_backward``, ``adam_step`` ...), with the same arguments on the device under test and
on the NumPy backend.
"""

from __future__ import annotations

import numpy as np

from .._dtype import float32, float64, int64
from .core import Case, Kernel, put

ROW_SIZES = (1, 10, 63, 64, 65, 1000)   # short rows take a thread each, long ones share a workgroup


def _rng(seed):
    return np.random.default_rng(seed)


def _dense_outputs(out) -> tuple:
    """The outputs a method returns, without the Nones it gives for what was not asked for."""
    out = out if isinstance(out, (tuple, list)) else (out,)
    return tuple(o for o in out if o is not None)


# -- cross-entropy -----------------------------------------------------------------------------
def _ce_case(label, outer, classes, inner, *, weight=False, smoothing=0.0, ignore=-100, log_softmax=True,
             backward=False, per_row=False, seed=0):
    rng = _rng(seed)
    x = rng.uniform(-4, 4, (outer, classes, inner) if inner > 1 else (outer, classes)).astype(np.float32)
    if not log_softmax:  # NLL takes log-probabilities
        x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    target = rng.integers(0, max(classes, 1), (outer, inner) if inner > 1 else (outer,))
    if ignore >= 0 and target.size:
        target.flat[::3] = ignore
    w = rng.uniform(0.5, 2, classes).astype(np.float32) if weight else None
    rows = outer * inner
    g = rng.uniform(-1, 1, rows).astype(np.float32) if per_row else np.array(0.37, np.float32)
    args = (outer, classes, inner, ignore, smoothing, log_softmax)

    def make(be):
        xd, td = put(be, x, float32), put(be, target, int64)
        wd = put(be, w, float32) if w is not None else None
        if not backward:
            return lambda: be.cross_entropy_forward(xd, td, wd, *args)
        stats = be.cross_entropy_forward(xd, td, wd, *args)[2]
        gd = put(be, g, float32)
        return lambda: be.cross_entropy_backward(xd, td, wd, stats, gd, per_row, *args)
    return Case(label, make, 1e-5, 1e-5)


def _ce_cases(backward: bool) -> list[Case]:
    kw = {"backward": backward}
    cases = [_ce_case(f"{n}×{c}", n, c, 1, seed=c, **kw) for n, c in ((100, 10), (7, 1), (3, 63), (5, 64),
                                                                      (4, 65), (2, 1000))]
    cases += [
        _ce_case("class weights", 50, 10, 1, weight=True, **kw),
        _ce_case("label smoothing 0.1, weights", 50, 10, 1, weight=True, smoothing=0.1, **kw),
        _ce_case("ignore_index", 40, 10, 1, ignore=3, **kw),
        _ce_case("(N, C, d) layout", 4, 5, 6, **kw),
        _ce_case("NLL (log-probabilities in)", 30, 10, 1, log_softmax=False, **kw),
        _ce_case("NLL with weights", 30, 10, 1, weight=True, log_softmax=False, **kw),
        _ce_case("0 rows", 0, 10, 1, **kw),
    ]
    if backward:
        cases += [_ce_case("per-row gradient (reduction='none')", 30, 10, 1, per_row=True, **kw),
                  _ce_case("per-row, (N, C, d), smoothing", 4, 5, 6, per_row=True, smoothing=0.2, **kw)]
    return cases


# -- layer norm --------------------------------------------------------------------------------
def _ln_case(label, rows, size, *, affine=True, backward=False, need_affine=True, eps=1e-5, seed=0):
    rng = _rng(seed)
    x = rng.uniform(-3, 3, (rows, size)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, size).astype(np.float32) if affine else None
    b = rng.uniform(-1, 1, size).astype(np.float32) if affine else None
    g = rng.uniform(-1, 1, (rows, size)).astype(np.float32)

    def make(be):
        xd = put(be, x, float32)
        wd = put(be, w, float32) if w is not None else None
        bd = put(be, b, float32) if b is not None else None
        if not backward:
            return lambda: _dense_outputs(be.layer_norm_forward(xd, wd, bd, rows, size, eps))
        stats = be.layer_norm_forward(xd, wd, bd, rows, size, eps)[1]
        gd = put(be, g, float32)
        return lambda: _dense_outputs(be.layer_norm_backward(gd, xd, wd, stats, rows, size, need_affine))
    # sums over a row (and, for the affine gradients, over all rows) in another order
    return Case(label, make, 1e-4, 1e-4 * max(1.0, rows ** 0.5))


def _ln_cases(backward: bool) -> list[Case]:
    kw = {"backward": backward}
    cases = [_ln_case(f"{r}×{n}", r, n, seed=n, **kw) for r, n in ((50, 1), (30, 10), (8, 63), (8, 64),
                                                                   (8, 65), (3, 1000), (4, 4097))]
    cases += [_ln_case("no weight or bias", 20, 33, affine=False, **kw),
              _ln_case("eps 0.1", 10, 16, eps=0.1, **kw),
              _ln_case("0 rows", 0, 8, **kw),
              _ln_case("many short rows 5000×3", 5000, 3, **kw)]
    if backward:
        cases.append(_ln_case("input gradient only", 20, 33, need_affine=False, **kw))
    return cases


def nn_kernels() -> list[Kernel]:
    return [Kernel("nn", "cross_entropy forward", _ce_cases(False), timed=0),
            Kernel("nn", "cross_entropy backward", _ce_cases(True), timed=0),
            Kernel("nn", "layer_norm forward", _ln_cases(False), timed=0),
            Kernel("nn", "layer_norm backward", _ln_cases(True), timed=0)]


# -- optimizers --------------------------------------------------------------------------------
def _optim_case(label, n_states, call, n=1000, steps=3, seed=0):
    """``call(be, param, grad, states, step)`` performs one update; the case runs ``steps`` of
    them (so momentum and moment estimates are exercised) and returns param and states."""
    rng = _rng(seed)
    p0 = rng.standard_normal(n).astype(np.float32)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(steps)]

    def make(be):
        def thunk():
            p = put(be, p0, float32)
            states = [put(be, np.zeros(n, np.float32), float32) for _ in range(n_states)]
            for step, g in enumerate(grads, 1):
                call(be, p, put(be, g, float32), states, step)
            return (p, *states)
        return thunk
    return Case(label, make, 1e-5, 1e-6)


def _sgd(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    def call(be, p, g, s, step):
        be.sgd_step(p, g, s[0] if s else None, 0.1, momentum, dampening, weight_decay, nesterov, maximize,
                    step == 1)
    return call


def _adam(weight_decay=0.0, amsgrad=False, decoupled=False, maximize=False):
    def call(be, p, g, s, step):
        be.adam_step(p, g, s[0], s[1], s[2] if amsgrad else None, 1e-2, 0.9, 0.999, 1e-8, weight_decay, step,
                     decoupled, maximize)
    return call


def _rmsprop(centered=False, momentum=0.0, weight_decay=0.0, maximize=False):
    def call(be, p, g, s, step):
        be.rmsprop_step(p, g, s[0], s[1] if centered else None, s[2] if momentum else None, 1e-2, 0.99, 1e-8,
                        weight_decay, momentum, maximize)
    return call


def optim_kernels() -> list[Kernel]:
    sgd = [_optim_case("plain", 0, _sgd()),
           _optim_case("momentum 0.9", 1, _sgd(momentum=0.9)),
           _optim_case("momentum, dampening, weight decay", 1, _sgd(0.9, 0.1, 0.01)),
           _optim_case("Nesterov, maximize", 1, _sgd(0.9, nesterov=True, maximize=True)),
           _optim_case("n=65", 1, _sgd(momentum=0.9), n=65),
           _optim_case("n=1", 1, _sgd(momentum=0.9), n=1)]
    adam = [_optim_case("Adam", 3, _adam()),
            _optim_case("Adam, weight decay", 3, _adam(weight_decay=0.01)),
            _optim_case("AdamW", 3, _adam(weight_decay=0.01, decoupled=True)),
            _optim_case("AMSGrad, maximize", 3, _adam(amsgrad=True, maximize=True)),
            _optim_case("n=63", 3, _adam(), n=63)]
    rmsprop = [_optim_case("plain", 3, _rmsprop()),
               _optim_case("centered, momentum", 3, _rmsprop(centered=True, momentum=0.9)),
               _optim_case("weight decay, maximize", 3,
                           _rmsprop(weight_decay=0.01, maximize=True)),
               _optim_case("n=64", 3, _rmsprop(), n=64)]
    sgd_foreach = [_foreach_case("momentum, Nesterov", 1, _sgd_foreach(0.9, nesterov=True)),
                   _foreach_case("plain, weight decay, maximize", 0, _sgd_foreach(weight_decay=0.01, maximize=True)),
                   _foreach_case("8 tensors (2 chunks)", 1, _sgd_foreach(0.9), sizes=(5, 64, 1, 65, 7, 300, 2, 9))]
    adam_foreach = [_foreach_case("Adam", 2, _adam_foreach()),
                    _foreach_case("AdamW, AMSGrad", 3, _adam_foreach(weight_decay=0.01, decoupled=True, amsgrad=True)),
                    _foreach_case("capturable (device steps)", 2, _adam_foreach(capturable=True))]
    return [Kernel("optim", "sgd_step", sgd, timed=1),
            Kernel("optim", "adam_step", adam, timed=0),
            Kernel("optim", "rmsprop_step", rmsprop, timed=0),
            Kernel("optim", "sgd_foreach", sgd_foreach, timed=0),
            Kernel("optim", "adam_foreach", adam_foreach, timed=0)]


def _foreach_case(label, n_states, call, sizes=(1000, 65, 1, 300), steps=3, seed=0):
    """``call(be, params, grads, states, step_arrays, step)`` updates every tensor of a group at once."""
    rng = _rng(seed)
    p0 = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    grads = [[rng.standard_normal(n).astype(np.float32) for n in sizes] for _ in range(steps)]

    def make(be):
        def thunk():
            ps = [put(be, p, float32) for p in p0]
            states = [[put(be, np.zeros(n, np.float32), float32) for n in sizes] for _ in range(n_states)]
            counts = [put(be, np.zeros((), np.float32), float32) for _ in sizes]
            for step, gs in enumerate(grads, 1):
                call(be, ps, [put(be, g, float32) for g in gs], states, counts, step)
            return (*ps, *(s for per in states for s in per))
        return thunk
    return Case(label, make, 1e-5, 1e-6)


def _sgd_foreach(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    def call(be, ps, gs, s, counts, step):
        bufs = s[0] if s else [None] * len(ps)
        be.sgd_foreach(ps, gs, bufs, 0.1, momentum, dampening, weight_decay, nesterov, maximize,
                       [step == 1] * len(ps))
    return call


def _adam_foreach(weight_decay=0.0, amsgrad=False, decoupled=False, capturable=False):
    def call(be, ps, gs, s, counts, step):
        steps = counts if capturable else [float(step)] * len(ps)
        be.adam_foreach(ps, gs, s[0], s[1], s[2] if amsgrad else None, 1e-2, 0.9, 0.999, 1e-8, weight_decay,
                        steps, decoupled, False)
    return call


# -- recurrent layers --------------------------------------------------------------------------
def _rnn_case(label, mode, T, B, I, H, *, reverse=False, h0=False, bias=True, backward=False, seed=0, dt=float32):
    """One layer and direction: outputs (forward) or every gradient (backward) of ``rnn.wgsl``'s
    recurrence. The workspace itself is not compared: only what the layers read from it. ``dt``
    float64: the f64 kernels (shader-f64), to float64 tolerances."""
    rng = _rng(seed)
    gates = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}[mode] * H
    scale = 1 / np.sqrt(H)
    host = {"x": rng.uniform(-1, 1, (T, B, I)), "w_ih": rng.uniform(-scale, scale, (gates, I)),
            "w_hh": rng.uniform(-scale, scale, (gates, H)), "b_ih": rng.uniform(-scale, scale, gates),
            "b_hh": rng.uniform(-scale, scale, gates), "h0": rng.uniform(-1, 1, (B, H)),
            "c0": rng.uniform(-1, 1, (B, H)), "dout": rng.uniform(-1, 1, (T, B, H)),
            "dh_n": rng.uniform(-1, 1, (B, H)), "dc_n": rng.uniform(-1, 1, (B, H))}
    host = {k: v.astype(dt.np) for k, v in host.items()}

    def make(be):
        d = {k: put(be, v, dt) for k, v in host.items()}
        h_0 = d["h0"] if h0 else None
        c_0 = d["c0"] if h0 and mode == "LSTM" else None
        b_ih, b_hh = (d["b_ih"], d["b_hh"]) if bias else (None, None)

        def forward(save):
            return be.rnn_forward(mode, d["x"], h_0, c_0, d["w_ih"], d["w_hh"], b_ih, b_hh, reverse, save)

        if not backward:
            return lambda: _dense_outputs(forward(False)[:3])
        ws = forward(True)[3]
        dc_n = d["dc_n"] if mode == "LSTM" else None
        needs = (True, h0, h0 and mode == "LSTM", True)
        return lambda: _dense_outputs(be.rnn_backward(mode, ws, d["x"], d["w_ih"], d["w_hh"], d["dout"],
                                                      d["dh_n"], dc_n, reverse, bias, needs))
    if dt is float64:
        return Case(label, make, 1e-12, 1e-13 * max(1, T * B) ** 0.5)
    return Case(label, make, 1e-4, 1e-5 * max(1, T * B) ** 0.5)


def rnn_kernels() -> list[Kernel]:
    kernels = []
    for mode in ("RNN_TANH", "RNN_RELU", "LSTM", "GRU"):
        for backward in (False, True):
            kw = {"backward": backward}
            cases = [_rnn_case("T=5 B=3 I=7 H=8", mode, 5, 3, 7, 8, **kw),
                     _rnn_case("reverse, initial state", mode, 5, 3, 7, 8, reverse=True, h0=True, **kw),
                     _rnn_case("no bias, T=1 B=1", mode, 1, 1, 4, 8, bias=False, **kw),
                     _rnn_case("H=65 (past one workgroup), B=2", mode, 4, 2, 5, 65, h0=True, **kw),
                     _rnn_case("GRU-bench shape: T=10 B=8 I=32 H=64", mode, 10, 8, 32, 64, **kw)]
            name = f"{mode.lower()} {'backward' if backward else 'forward'}"
            kernels.append(Kernel("rnn", name, cases, timed=-1))
            f64 = [_rnn_case("reverse, initial state, H=9 (float64)", mode, 4, 3, 5, 9, reverse=True, h0=True,
                             dt=float64, **kw)]
            kernels.append(Kernel("rnn", f"{name} (float64)", f64, timed=0, requires="shader-f64"))
    return kernels
