"""Checks of the fused attention family (``attention.wgsl``: forward with the per-row logsumexp,
and the dK/dV and dQ backward kernels) and of the batch-norm statistics family (``norm.wgsl``),
through the wgpu backend's optional methods (`wgtorch._backends.protocol.FusedLayers`). The
references are float64 NumPy formulas written here (not the NumPy backend's own fused attention,
``_backends/array_attention.py``, which the CuPy backend shares and these checks cover there). A few
attention cases run again in float64 (shader-f64: float64 mask, lse and delta), to float64 tolerances."""

from __future__ import annotations

import numpy as np

from .._dtype import float32, float64
from .core import Case, Kernel, put


def _attention_reference(q, k, v, mask, scale, causal, hq, hk, dout=None):
    """float64 (out, lse) or, with ``dout``, (dq, dk, dv) for the layouts of ``wgpu/attention.py``."""
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    rep = hq // hk
    kv = np.array([(z // hq) * hk + (z % hq) // rep for z in range(q.shape[0])])
    kz, vz = k[kv], v[kv]
    scores = q @ kz.transpose(0, 2, 1) * scale
    if mask is not None:
        scores = scores + mask.astype(np.float64)
    if causal:
        L, S = scores.shape[1:]
        scores = np.where(np.arange(S)[None, :] <= np.arange(L)[:, None], scores, -np.inf)
    top = scores.max(-1, keepdims=True)
    dead = ~np.isfinite(top)
    e = np.exp(scores - np.where(dead, 0.0, top))
    total = e.sum(-1, keepdims=True)
    p = np.where(dead, 0.0, e / np.where(total == 0, 1.0, total))
    out = p @ vz
    if dout is None:
        logz = np.log(np.where(total == 0, 1.0, total)) + np.where(dead, 0, top)
        lse = np.where(dead[..., 0], -np.inf, logz[..., 0])
        return out, lse
    dout = dout.astype(np.float64)
    dp = dout @ vz.transpose(0, 2, 1)
    ds = p * (dp - (dout * out).sum(-1, keepdims=True))
    dq = ds @ kz * scale
    dkz, dvz = ds.transpose(0, 2, 1) @ q * scale, p.transpose(0, 2, 1) @ dout
    dk, dv = np.zeros_like(k), np.zeros_like(v)
    np.add.at(dk, kv, dkz)
    np.add.at(dv, kv, dvz)
    return dq, dk, dv


def _attention_case(backward: bool, label: str, z: int, L: int, S: int, e: int, ev: int, *, causal=False,
                    masked=False, hq=1, hk=1, seed=0, dt=float32) -> Case:
    rng = np.random.default_rng(seed)
    zk = z // hq * hk
    q, k = rng.standard_normal((z, L, e)), rng.standard_normal((zk, S, e))
    v = rng.standard_normal((zk, S, ev))
    mask = np.where(rng.random((1, L, S)) < 0.3, -np.inf, rng.standard_normal((1, L, S))) if masked else None
    if masked:
        mask[0, 0] = -np.inf  # a row that attends to nothing: output and gradients 0
    dout = rng.standard_normal((z, L, ev))
    scale = 1.0 / np.sqrt(e)
    args = (scale, causal, hq, hk)

    def make(be):
        if getattr(be, "xp", None) is np:  # the NumPy side: the float64 formulas
            got = _attention_reference(q, k, v, mask, *args, dout=dout if backward else None)
            return lambda: tuple(be.from_numpy(a.astype(dt.np), dt) for a in got)
        qd, kd, vd = (put(be, a, dt) for a in (q, k, v))
        md = put(be, mask, dt) if masked else None  # (the mask, lse and delta: float32, float64 for float64)
        if not backward:
            return lambda: be.attention_forward(qd, kd, vd, md, *args)
        out, lse = (put(be, a, dt) for a in _attention_reference(q, k, v, mask, *args))
        ref_out = _attention_reference(q, k, v, mask, *args)[0]
        delta = put(be, (dout * ref_out).sum(-1), dt)
        dd = put(be, dout, dt)
        return lambda: be.attention_backward(dd, qd, kd, vd, md, out, lse, delta, *args)

    tol = 1e-12 if dt is float64 else 1e-4
    return Case(label, make, tol, tol)


def _attention_cases(backward: bool) -> list[Case]:
    c = _attention_case
    return [
        c(backward, "L=S=7, E=8", 2, 7, 7, 8, 8),
        c(backward, "L=65, S=130, E=33, Ev=16 (tiles, odd sizes)", 1, 65, 130, 33, 16),
        c(backward, "causal L=S=64, E=64", 2, 64, 64, 64, 64, causal=True),
        c(backward, "additive mask with a fully masked row", 1, 9, 12, 16, 16, masked=True),
        c(backward, "grouped-query: 4 query heads on 2 key heads", 4, 10, 11, 8, 8, hq=4, hk=2),
        c(backward, "one query and one key", 1, 1, 1, 4, 4),
    ]


def _stats_case(label: str, shape: tuple, shift: float = 0.0, seed: int = 0) -> Case:
    x = (np.random.default_rng(seed).standard_normal(shape) * 0.5 + shift).astype(np.float32)
    n, c = shape[:2]
    inner = int(np.prod(shape[2:], dtype=np.int64))

    def make(be):
        if not hasattr(be, "batch_norm_stats"):
            per = x.astype(np.float64).transpose(1, 0, *range(2, x.ndim)).reshape(c, -1)
            stats = np.stack([per.mean(1), per.var(1)], 1)
            return lambda: be.from_numpy(stats.astype(np.float32), float32)
        xd = put(be, x.reshape(n, c, inner), float32)
        return lambda: be.batch_norm_stats(xd, n, c, inner)

    return Case(label, make, 1e-4, 1e-4 * max(1.0, shift))


def _attention_cases_f64(backward: bool) -> list[Case]:
    c = _attention_case
    return [
        c(backward, "L=19, S=23, E=7, Ev=5 (float64)", 2, 19, 23, 7, 5, dt=float64),
        c(backward, "causal L=S=20, E=8 (float64)", 1, 20, 20, 8, 8, causal=True, dt=float64),
        c(backward, "mask with a fully masked row, GQA 4 on 2 (float64)", 4, 9, 12, 8, 8, masked=True, hq=4, hk=2,
          dt=float64),
    ]


def attention_kernels() -> list[Kernel]:
    return [Kernel("attention", "attention_fwd", _attention_cases(False), timed=1),
            Kernel("attention", "attention_bwd", _attention_cases(True), timed=1),
            Kernel("attention", "attention_fwd (float64)", _attention_cases_f64(False), timed=0,
                   requires="shader-f64"),
            Kernel("attention", "attention_bwd (float64)", _attention_cases_f64(True), timed=0,
                   requires="shader-f64")]


def norm_kernels() -> list[Kernel]:
    cases = [
        _stats_case("N=4, C=3, 5×5", (4, 3, 5, 5)),
        _stats_case("N=2, C=7, no spatial dims", (2, 7)),
        _stats_case("N=3, C=2, 257 (past a workgroup)", (3, 2, 257)),
        _stats_case("large mean, small spread (shifted Welford)", (8, 2, 33), shift=1e3),
    ]
    return [Kernel("norm", "batch_norm_stats", cases, timed=2)]
