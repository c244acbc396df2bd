"""Fused nn ops for the NumPy ("cpu") and CuPy ("cuda") backends: cross-entropy / NLL and layer
norm, forward and backward. The same methods, with the same arguments and results, as the WGSL
kernels in ``wgpu/nn.py``, which are tested against these.

Cross-entropy arrays: ``x`` is contiguous, viewed as (outer, C, inner) with the classes in the
middle (so (N, C) and (N, C, d1, ...) inputs need no transpose); a "row" is one (outer, inner)
position, R = outer * inner rows. Per row the forward returns the loss, the target's weight
(0 for ignored rows; the mean's denominator) and stats = (logsumexp, coef) for the backward,
where coef = (1 - eps) * w[t] + eps / C * sum(w), the factor of softmax in the gradient.
"""

from __future__ import annotations

import numpy as np


def _compute_dtype(a) -> np.dtype:
    return np.dtype(np.float32) if a.dtype == np.float16 or a.dtype.name == "bfloat16" else a.dtype


class ArrayNNOps:
    """Mixin for `ArrayBackend` (uses ``self.xp``)."""

    def _rows(self, x, outer: int, classes: int, inner: int):
        """x as (R, C) rows in the compute dtype (a copy when inner > 1)."""
        xp = self.xp
        x3 = x.reshape(outer, classes, inner).astype(_compute_dtype(x), copy=False)
        return xp.moveaxis(x3, 1, 2).reshape(outer * inner, classes)

    def _targets(self, target, classes: int, ignore_index: int):
        xp = self.xp
        t = target.reshape(-1).astype(np.int64, copy=False)
        ignored = t == ignore_index
        bad = ~ignored & ((t < 0) | (t >= classes))
        if xp is np and bad.any():
            raise IndexError(f"Target {int(t[bad][0])} is out of bounds.")
        return xp.where(ignored | bad, 0, t), ignored, bad

    def cross_entropy_forward(self, x, target, weight, outer: int, classes: int, inner: int,
                              ignore_index: int, label_smoothing: float, log_softmax: bool):
        """Per-row (loss, target weight, stats); see the module docstring. With ``log_softmax``
        False, ``x`` holds log-probabilities and the loss is NLL's ``-w[t] * x[t]``."""
        xp = self.xp
        rows = self._rows(x, outer, classes, inner)
        dt = rows.dtype
        safe_t, ignored, bad = self._targets(target, classes, ignore_index)
        w = xp.ones(classes, dt) if weight is None else weight.astype(dt, copy=False)
        eps = float(label_smoothing)
        with np.errstate(all="ignore"):
            xt = xp.take_along_axis(rows, safe_t[:, None], axis=1)[:, 0]
            wt = xp.where(ignored, 0, w[safe_t]).astype(dt, copy=False)
            if log_softmax:
                m = rows.max(axis=1) if classes else xp.full(len(rows), -np.inf, dt)
                m = xp.where(xp.isfinite(m), m, 0).astype(dt, copy=False)
                lse = (xp.log(xp.exp(rows - m[:, None]).sum(axis=1)) + m).astype(dt, copy=False)
                w_sum = w.sum()
                loss = (1 - eps) * wt * (lse - xt)
                if eps:
                    loss = loss + eps / classes * (w_sum * lse - (rows * w).sum(axis=1))
                coef = (1 - eps) * wt + eps / classes * w_sum
            else:
                lse = xp.zeros(len(rows), dt)
                loss = -wt * xt
                coef = xp.zeros(len(rows), dt)
            loss = xp.where(ignored, 0, loss)
            coef = xp.where(ignored, 0, coef)
        if xp is not np:  # pragma: no cover - cupy: no host check; bad targets give NaN as on wgpu
            loss, wt, coef = (xp.where(bad, np.nan, a) for a in (loss, wt, coef))
        out_dt = x.dtype
        stats = xp.stack([lse, coef], axis=1).astype(dt, copy=False)
        return loss.astype(out_dt, copy=False), wt.astype(out_dt, copy=False), stats

    def cross_entropy_backward(self, x, target, weight, stats, grad, per_row: bool, outer: int, classes: int,
                               inner: int, ignore_index: int, label_smoothing: float, log_softmax: bool):
        """Gradient of the per-row losses weighted by ``grad`` (one value, or one per row when
        ``per_row``) with respect to ``x``; same layout as ``x``."""
        xp = self.xp
        rows = self._rows(x, outer, classes, inner)
        dt = rows.dtype
        safe_t, ignored, bad = self._targets(target, classes, ignore_index)
        w = xp.ones(classes, dt) if weight is None else weight.astype(dt, copy=False)
        g = grad.reshape(-1).astype(dt, copy=False)
        g = g[:, None] if per_row else g.reshape(1, 1)
        wt = xp.where(ignored, 0, w[safe_t]).astype(dt, copy=False)[:, None]
        eps = float(label_smoothing)
        picked = xp.arange(len(rows)), safe_t
        with np.errstate(all="ignore"):
            if log_softmax:
                lse, coef = stats[:, 0:1].astype(dt, copy=False), stats[:, 1:2].astype(dt, copy=False)
                gx = xp.exp(rows - lse) * coef
                if eps:
                    gx -= eps / classes * w[None, :] * (~ignored)[:, None]
                gx[picked] -= (1 - eps) * wt[:, 0]
            else:
                gx = xp.zeros(rows.shape, dt)
                gx[picked] = -wt[:, 0]
            gx *= g
            if xp is not np:  # pragma: no cover - cupy: bad targets poison the gradient
                gx = xp.where(bad[:, None], np.nan, gx)
        gx = xp.moveaxis(gx.reshape(outer, inner, classes), 2, 1)
        return xp.ascontiguousarray(gx.astype(x.dtype, copy=False)).reshape(x.shape)

    def layer_norm_forward(self, x, weight, bias, rows: int, size: int, eps: float):
        """Normalise each of ``rows`` contiguous runs of ``size`` elements of ``x``; returns
        (y of x's shape, stats (rows, 2) = mean and 1/std)."""
        xp = self.xp
        dt = _compute_dtype(x)
        x2 = x.reshape(rows, size).astype(dt, copy=False)
        with np.errstate(all="ignore"):
            mean = x2.mean(axis=1, keepdims=True) if size else xp.zeros((rows, 1), dt)
            centred = x2 - mean
            var = (centred * centred).mean(axis=1, keepdims=True) if size else xp.zeros((rows, 1), dt)
            rstd = (1 / xp.sqrt(var + dt.type(eps))).astype(dt, copy=False)
            y = centred * rstd
            if weight is not None:
                y = y * weight.reshape(1, size).astype(dt, copy=False)
            if bias is not None:
                y = y + bias.reshape(1, size).astype(dt, copy=False)
        stats = xp.concatenate([mean, rstd], axis=1).astype(dt, copy=False)
        return y.astype(x.dtype, copy=False).reshape(x.shape), stats

    def layer_norm_backward(self, grad, x, weight, stats, rows: int, size: int, need_affine: bool):
        """(grad_x, grad_weight, grad_bias); the last two are None unless ``need_affine``."""
        dt = _compute_dtype(x)
        x2 = x.reshape(rows, size).astype(dt, copy=False)
        g = grad.reshape(rows, size).astype(dt, copy=False)
        mean, rstd = stats[:, 0:1].astype(dt, copy=False), stats[:, 1:2].astype(dt, copy=False)
        with np.errstate(all="ignore"):
            xhat = (x2 - mean) * rstd
            gw = g if weight is None else g * weight.reshape(1, size).astype(dt, copy=False)
            if size:
                a = gw.mean(axis=1, keepdims=True)
                b = (gw * xhat).mean(axis=1, keepdims=True)
                gx = rstd * (gw - a - xhat * b)
            else:
                gx = gw
            gx = gx.astype(x.dtype, copy=False).reshape(x.shape)
            if not need_affine:
                return gx, None, None
            out_dt = x.dtype if weight is None else weight.dtype
            return gx, (g * xhat).sum(axis=0).astype(out_dt, copy=False), g.sum(axis=0).astype(out_dt, copy=False)


__all__ = ["ArrayNNOps"]
