"""Checks of the convolution kernel family (``conv.wgsl``): the forward, input-gradient and
weight-gradient implicit GEMMs, through the backend's optional ``conv2d_*`` methods
(`wgtorch._backends.protocol.FusedConv`). The reference is a float64 NumPy convolution written
here (one strided slice per kernel tap), since the NumPy backend has no fused convolution. A few
cases run again in float64 (shader-f64), to float64 tolerances."""

from __future__ import annotations

import numpy as np

from .._dtype import float32, float64
from .core import Case, Kernel, put

LARGE_GROUPS = 65535 + 64  # depthwise groups: more workgroups than one grid dimension holds


def _taps(shape_hw, ksize, stride, dilation, out_hw):
    """(r, s, the padded input's slices for that tap) for every kernel tap."""
    for r in range(ksize[0]):
        for s in range(ksize[1]):
            yield (
                r,
                s,
                tuple(
                    slice(k * d, k * d + st * (n - 1) + 1, st) for k, d, st, n in zip((r, s), dilation, stride, out_hw)
                ),
            )


def reference(kind: str, x, w, dy, stride, pairs, dilation, groups):
    """float64 forward ("fwd"), input gradient ("dgrad") or weight gradient ("wgrad")."""
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    g, og = groups, o // groups
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), *pairs))
    out_hw = tuple((p - d * (k - 1) - 1) // s + 1 for p, k, s, d in zip(xp.shape[2:], (kh, kw), stride, dilation))
    w64 = w.astype(np.float64)
    dyg = None if dy is None else dy.astype(np.float64).reshape(n, g, og, *out_hw)
    result = {"fwd": np.zeros((n, g, og, *out_hw)), "dgrad": np.zeros_like(xp), "wgrad": np.zeros(w.shape)}[kind]
    for r, s, key in _taps(xp.shape[2:], (kh, kw), stride, dilation, out_hw):
        wt = w64[:, :, r, s].reshape(g, og, cg)
        if kind == "fwd":
            result += np.einsum("ngchw,goc->ngohw", xp[(slice(None), slice(None)) + key].reshape(n, g, cg, *out_hw), wt)
        elif kind == "dgrad":
            result[(slice(None), slice(None)) + key] += np.einsum("ngohw,goc->ngchw", dyg, wt).reshape(n, c, *out_hw)
        else:
            cols = xp[(slice(None), slice(None)) + key].reshape(n, g, cg, *out_hw)
            result[:, :, r, s] = np.einsum("ngohw,ngchw->goc", dyg, cols).reshape(o, cg)
    if kind == "fwd":
        return result.reshape(n, o, *out_hw)
    if kind == "dgrad":
        (t, b), (left, right) = pairs
        return result[:, :, t : xp.shape[2] - b, left : xp.shape[3] - right]
    return result


def _case(
    kind,
    label,
    xs,
    ws,
    stride=(1, 1),
    pairs=((0, 0), (0, 0)),
    dilation=(1, 1),
    groups=1,
    bias=True,
    large=False,
    seed=0,
    dt=float32,
):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dt.np)
    w = rng.standard_normal(ws).astype(dt.np)
    b = rng.standard_normal(ws[0]).astype(dt.np) if bias and kind == "fwd" else None
    out_shape = reference("fwd", x, w, None, stride, pairs, dilation, groups).shape
    dy = rng.standard_normal(out_shape).astype(dt.np)
    args = (stride, pairs, dilation, groups)

    def make(be):
        if not hasattr(be, "conv2d_forward"):  # the NumPy reference backend
            want = reference(kind, x, w, dy, *args)
            if kind == "fwd" and b is not None:
                want = want + b.reshape(1, -1, 1, 1)
            return lambda: be.from_numpy(want.astype(dt.np), dt)
        xd, wd, dyd = put(be, x, dt), put(be, w, dt), put(be, dy, dt)
        bd = put(be, b, dt) if b is not None else None
        if kind == "fwd":
            return lambda: be.conv2d_forward(xd, wd, bd, *args)
        if kind == "dgrad":
            return lambda: be.conv2d_backward_input(dyd, wd, xs, *args)
        return lambda: be.conv2d_backward_weight(dyd, xd, ws, *args)

    tol = 1e-12 if dt is float64 else 1e-4  # (a float32 accumulation misses float64's by 1e7)
    return Case(label, make, tol, tol, large)


def _cases(kind: str) -> list[Case]:
    p1 = ((1, 1), (1, 1))
    cases = [
        _case(kind, "3×3 pad 1, 8→16, 12×12", (2, 8, 12, 12), (16, 8, 3, 3), pairs=p1),
        _case(kind, "1×1, 5→7 (odd C_out)", (1, 5, 7, 9), (7, 5, 1, 1)),
        _case(kind, "5×5 stride 2 pad 2", (2, 3, 11, 10), (6, 3, 5, 5), stride=(2, 2), pairs=((2, 2), (2, 2))),
        _case(
            kind,
            "3×3 stride 3, dilation 2, groups 2",
            (1, 4, 13, 12),
            (6, 2, 3, 3),
            stride=(3, 3),
            pairs=p1,
            dilation=(2, 2),
            groups=2,
        ),
        _case(kind, "depthwise 3×3", (2, 6, 9, 8), (6, 1, 3, 3), pairs=p1, groups=6),
        _case(kind, "asymmetric padding (same, even kernel)", (1, 3, 6, 7), (4, 3, 4, 2), pairs=((1, 2), (0, 1))),
        _case(kind, "conv1d as H=1", (2, 4, 1, 17), (5, 4, 1, 3), pairs=((0, 0), (2, 2)), stride=(1, 2)),
        _case(kind, "empty batch", (0, 3, 5, 5), (4, 3, 3, 3)),
    ]
    cases.append(
        _case(
            kind,
            f"depthwise 1×1, {LARGE_GROUPS} groups (folded grid)",
            (1, LARGE_GROUPS, 1, 2),
            (LARGE_GROUPS, 1, 1, 1),
            groups=LARGE_GROUPS,
            large=True,
        )
    )
    return cases


def _cases_f64(kind: str) -> list[Case]:
    p1 = ((1, 1), (1, 1))
    return [
        _case(kind, "3×3 pad 1, 5→6, 7×6 (float64)", (2, 5, 7, 6), (6, 5, 3, 3), pairs=p1, dt=float64),
        _case(kind, "stride 2, dilation 2, groups 2 (float64)", (1, 4, 9, 8), (6, 2, 3, 3), stride=(2, 2),
              pairs=p1, dilation=(2, 2), groups=2, dt=float64),
        _case(kind, "depthwise 3×3 (float64)", (1, 3, 6, 5), (3, 1, 3, 3), pairs=p1, groups=3, dt=float64),
    ]


def conv_kernels() -> list[Kernel]:
    kinds = (("fwd", "conv_fwd"), ("dgrad", "conv_dgrad"), ("wgrad", "conv_wgrad"))
    return [Kernel("conv", name, _cases(kind), timed=0) for kind, name in kinds] + [
        Kernel("conv", f"{name} (float64)", _cases_f64(kind), timed=0, requires="shader-f64") for kind, name in kinds
    ]
