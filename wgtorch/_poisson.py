"""Poisson sampling from uniform numbers, with elementwise tensor ops on the rates' device.

- Rates below 10: inversion, one uniform per element: k is the first count whose cumulative
  probability passes u (p_0 = exp(-rate), p_(j+1) = p_j * rate / (j + 1)); every element takes
  the same step together, and the loop ends when all are placed (at most `_SMALL_STEPS` steps).
- Rates of 10 and more: Hörmann's transformed rejection with squeeze, PTRS ("The transformed
  rejection method for generating Poisson random variables", 1993; NumPy's method), two uniforms
  per element and round; the rejected elements draw again until all are accepted. Its log
  probability uses Stirling's series written around the rate (``log1p((k + 1 - rate) / rate)``), so
  float32 (wgpu) keeps the acceptance test accurate up to rates of about 1e7, where k itself
  stops being exact in float32.

Computation is in float32 (float64 for float64 rates, cpu). An infinite rate gives inf.
"""

from __future__ import annotations

import math

from . import _dtype as D
from ._creation import uniform, zeros

_SMALL = 10.0
_SMALL_STEPS = 64  # P(k > 64 | rate < 10) is below 1e-30: no element is ever cut short
_HALF_LOG_2PI = 0.9189385332046727
_MAX_ROUNDS = 200  # rejection rounds; each accepts > 85% of what is left


def poisson(rates, gen):
    wd = D.float64 if rates.dtype is D.float64 else D.float32
    lam = rates.to(wd)
    dev = lam.device
    out = zeros(lam.shape, dtype=wd, device=dev)
    if lam.numel() == 0:
        return out
    small = lam < _SMALL
    if bool(small.any()):
        out = out.where(small.logical_not(), _inversion(lam.where(small, 0.0), gen, dev, wd))
    large = small.logical_not() & lam.isfinite()
    if bool(large.any()):
        out = out.where(large.logical_not(), _ptrs(lam.where(large, _SMALL), large, gen, dev, wd))
    return out.where(lam.isinf().logical_not(), math.inf)


def _inversion(lam, gen, dev, wd):
    u = uniform(gen, lam.shape, dev, wd)
    p = (-lam).exp()
    cdf = p
    k = zeros(lam.shape, dtype=wd, device=dev)
    active = u > cdf
    for j in range(_SMALL_STEPS):
        if j % 4 == 0 and not bool(active.any()):  # a host check every few steps, not every one
            break
        k = k + active
        p = p * lam / (j + 1)
        cdf = cdf + p
        active = active & (u > cdf)
    return k


def _ptrs(lam, pending, gen, dev, wd):
    slam = lam.sqrt()
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    log_invalpha = (1.1239 + 1.1328 / (b - 3.4)).log()
    vr = 0.9277 - 3.6224 / (b - 2)
    log_lam = lam.log()
    out = zeros(lam.shape, dtype=wd, device=dev)
    for _ in range(_MAX_ROUNDS):
        uu = uniform(gen, lam.shape, dev, wd) - 0.5
        v = uniform(gen, lam.shape, dev, wd)
        us = 0.5 - uu.abs()
        k = ((2 * a / us + b) * uu + lam + 0.43).floor()
        quick = (us >= 0.07) & (v <= vr)
        rejected = (k < 0) | ((us < 0.013) & (v > us))
        lhs = v.log() + log_invalpha - (a / (us * us) + b).log()
        accept = quick | (rejected.logical_not() & (lhs <= _log_pmf(k, lam, log_lam)))
        take = pending & accept
        out = out.where(take.logical_not(), k)
        pending = pending & accept.logical_not()
        if not bool(pending.any()):
            return out
    raise RuntimeError("poisson: the rejection sampler did not finish (a rate is not a finite number?)")


def _log_pmf(k, lam, log_lam):
    """log P(k | lam) = -lam + k log lam - lgamma(k + 1), with lgamma by Stirling's series.

    For x = k + 1 >= 7 it is written around lam so that the large terms cancel exactly:
    (x - lam) - (x - 1/2) log1p((x - lam) / lam) - log(lam) / 2 - log(2 pi) / 2 - s(x), with
    s(x) = 1/(12x) - 1/(360x^3) + 1/(1260x^5). Below, lgamma(x) = lgamma(x + 6) - log(x ... (x + 5))."""
    x = k.clamp(min=0) + 1
    big = (x - lam) - (x - 0.5) * ((x - lam) / lam).log1p() - 0.5 * log_lam - _HALF_LOG_2PI - _stirling_tail(x)
    y = x + 6
    lgamma_x = (
        (y - 0.5) * y.log()
        - y
        + _HALF_LOG_2PI
        + _stirling_tail(y)
        - (x * (x + 1) * (x + 2) * (x + 3) * (x + 4) * (x + 5)).log()
    )
    low = -lam + k * log_lam - lgamma_x
    return big.where(x >= 7, low)


def _stirling_tail(x):
    r = 1 / x
    r2 = r * r
    return r * (1 / 12 - r2 * (1 / 360 - r2 / 1260))
