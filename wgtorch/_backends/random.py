"""The counter-based random number generator, in NumPy (the reference for ``shaders/random.wgsl``).

Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) turns a
128-bit counter and a 64-bit key into four 32-bit words. wgtorch uses it so that every backend
draws the same numbers for the same ``(seed, counter)`` without sharing any state:

- key = (seed & 0xffffffff, seed >> 32); counter block ``b`` = (b mod 2**32, b >> 32, 0, 0).
- Element ``i`` of a draw at ``counter`` is word ``(counter + i) % 4`` of block
  ``(counter + i) // 4``. (`wgtorch._generator.Generator._take` advances the counter by ``n``
  rounded up to 4, so every draw starts a fresh block.)

Each 32-bit word ``x`` becomes one element:

- "uniform" in [low, high): float32 takes the top 24 bits, ``u = (x >> 8) * 2**-24``, float16 the
  top 11, ``u = (x >> 21) * 2**-11``, bfloat16 the top 8, ``u = (x >> 24) * 2**-8``; then
  ``low + u * (high - low)`` in float32, rounded to the output dtype, and a result that rounded up
  to ``high`` is replaced by the largest value below it, so ``high`` never occurs. float64 (cpu
  only) uses all 32 bits, ``u = x * 2**-32``.
- "normal" (mean ``low``, std ``high``): Box-Muller on the pairs (words 0, 1) and (2, 3) of a block:
  ``u1 = ((x0 >> 8) + 1) * 2**-24`` in (0, 1] (so log never sees 0), ``u2 = (x1 >> 8) * 2**-24 - 0.5``,
  ``r = sqrt(-2 log u1)``, ``t = 2 pi u2`` in [-pi, pi) (the range where GPU sin/cos are most
  accurate), ``z0 = r cos t``, ``z1 = r sin t``; then ``mean + std * z`` in float32.
- "randint" in [low, high): ``low + x % (high - low)``, so ``high - low`` must be at most 2**32.
  The modulo has a bias: a value is at most ``(high - low) / 2**32`` more likely than another
  relative to its probability (below 1.6e-5 for ranges up to 65,536). Floating dtypes get the
  integer converted through float32 (exact below 2**24).

The WGSL kernel performs the same float32 operations, so uniform numbers are bit-identical on
cpu and wgpu for [0, 1) (and whenever ``high - low`` is a power of two; otherwise a GPU that fuses
``low + u * scale`` into one multiply-add may differ in the last bit). Normal numbers depend on
each device's log/sin/cos and agree to a few float32 ulps.
"""

from __future__ import annotations

import math

import numpy as np

from .._dtype import bool_, dtype, float16, float64

KINDS = ("uniform", "normal", "randint")

# Philox4x32 multipliers and Weyl key increments (Salmon et al., table 2).
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
PHILOX_ROUNDS = 10
_MASK32 = 0xFFFFFFFF


def check(kind: str, dt: dtype, low, high) -> None:
    """Refuse what no backend can draw, with PyTorch-like messages."""
    if kind not in KINDS:
        raise ValueError(f"unknown random distribution {kind!r}; expected one of {KINDS}")
    if kind != "randint":
        if not dt.is_floating_point:
            raise RuntimeError(f'"{kind}" random numbers are not implemented for {dt.name}: use a '
                               "floating-point dtype (or randint for integers)")
        return
    if int(low) != low or int(high) != high:
        raise TypeError(f"randint(): low and high must be integers, got {low!r} and {high!r}")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if high - low > 2**32:
        raise RuntimeError(f"randint(): the range high - low = {high - low} exceeds 2**32, the most one "
                           "32-bit draw per element can cover")
    if dt is bool_:
        lo, hi = 0, 1
    elif dt.is_floating_point:
        return
    else:
        info = np.iinfo(dt.np)
        lo, hi = int(info.min), int(info.max)
    if low < lo or high - 1 > hi:
        raise RuntimeError(f"random_ expects 'from' and 'to' to be in range of {dt.name}, but got "
                           f"from={low} and to={high}")


def philox_blocks(n: int, seed: int, counter: int, xp=np) -> np.ndarray:
    """All words of the blocks that positions ``counter .. counter + n - 1`` fall in, as a flat
    uint32 array of the array module ``xp``; the wanted ones start at ``counter % 4``."""
    nblocks = (counter % 4 + n + 3) // 4
    block = xp.arange(nblocks, dtype=np.uint64) + np.uint64(counter // 4)
    mask, shift = np.uint64(_MASK32), np.uint64(32)
    # 32-bit words held in uint64 arrays: a word times a multiplier fits, and the high and low
    # halves of the product come out with one shift and one mask, updated in place.
    c0, c1 = block & mask, block >> shift
    c2, c3 = xp.zeros(nblocks, np.uint64), xp.zeros(nblocks, np.uint64)
    p0, p1 = xp.empty(nblocks, np.uint64), xp.empty(nblocks, np.uint64)
    k0, k1 = seed & _MASK32, (seed >> 32) & _MASK32
    m0, m1 = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1)
    for _ in range(PHILOX_ROUNDS):
        xp.multiply(c0, m0, out=p0)
        xp.multiply(c2, m1, out=p1)
        # (c0, c1, c2, c3) <- (hi(p1) ^ c1 ^ k0, lo(p1), hi(p0) ^ c3 ^ k1, lo(p0))
        xp.right_shift(p1, shift, out=c0)
        c0 ^= c1
        c0 ^= np.uint64(k0)
        xp.bitwise_and(p1, mask, out=c1)
        xp.right_shift(p0, shift, out=c2)
        c2 ^= c3
        c2 ^= np.uint64(k1)
        xp.bitwise_and(p0, mask, out=c3)
        k0, k1 = (k0 + PHILOX_W0) & _MASK32, (k1 + PHILOX_W1) & _MASK32
    words = xp.empty((nblocks, 4), np.uint32)
    for j, c in enumerate((c0, c1, c2, c3)):
        words[:, j] = c.astype(np.uint32)
    return words.reshape(-1)


def philox_words(n: int, seed: int, counter: int) -> np.ndarray:
    """The ``n`` uint32 words at positions ``counter .. counter + n - 1`` of the stream ``seed``."""
    phase = counter % 4
    return philox_blocks(n, seed, counter)[phase: phase + n]


def uniform_params(dt: dtype, low: float, high: float) -> tuple[float, float, float]:
    """(low, scale, below_high) as float32 values, shared by NumPy and the WGSL kernel.

    ``below_high`` is the largest value of the output dtype under ``high``; results above it
    are clamped to it (``low`` itself when the range is empty)."""
    out = dt.np.type if dt.itemsize == 2 else np.float32  # float16, bfloat16: "below" in their own steps
    lo, hi = out(low), out(high)
    below = np.nextafter(hi, out(-np.inf)) if hi > lo else lo
    lo32, hi32 = np.float32(lo), np.float32(hi)
    return float(lo32), float(hi32 - lo32), float(np.float32(below))


def generate(kind: str, n: int, seed: int, counter: int, low, high, dt: dtype, xp=np,
             blocks=None) -> np.ndarray:
    """``n`` numbers of ``dt.np`` from the stream ``seed`` starting at ``counter`` (see the module
    docstring for the mapping), as an array of the array module ``xp`` (NumPy or CuPy: the words
    never leave the device). ``blocks(n, seed, counter)`` replaces `philox_blocks` (the CUDA
    backend passes its fused kernel). The WGSL kernel in ``shaders/random.wgsl`` mirrors this."""
    check(kind, dt, low, high)
    if blocks is None:
        def blocks(n, seed, counter):
            return philox_blocks(n, seed, counter, xp)
    phase = counter % 4
    if kind == "normal":
        # Box-Muller needs both words of each pair, drawn or not: work on whole blocks.
        z = _box_muller(xp, blocks(n, seed, counter), dt is float64)[phase: phase + n]
        if dt is float64:
            return low + high * z
        return (np.float32(low) + np.float32(high) * z).astype(dt.np)
    x = blocks(n, seed, counter)[phase: phase + n]
    if kind == "randint":
        values = int(low) + (x.astype(np.int64) % (int(high) - int(low)))
        if dt is bool_:
            return values != 0
        if dt.is_floating_point:
            # through float32, as the WGSL kernel converts i32 -> f32 -> storage type
            return values.astype(np.float32).astype(dt.np)
        return values.astype(dt.np)
    if dt is float64:
        u = x.astype(np.float64) * 2.0**-32
        v = low + u * (high - low)
        below = np.nextafter(high, -np.inf) if high > low else low
        return xp.where(v > below, below, v)
    lo, scale, below = uniform_params(dt, low, high)
    if dt is float16:
        u = (x >> np.uint32(21)).astype(np.float32) * np.float32(2.0**-11)
    elif dt.name == "bfloat16":  # (cpu and cuda only: wgpu refuses bfloat16)
        u = (x >> np.uint32(24)).astype(np.float32) * np.float32(2.0**-8)
    else:
        u = (x >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)
    v = (np.float32(lo) + u * np.float32(scale)).astype(dt.np)
    below_out = dt.np.type(below)
    return xp.where(v > below_out, below_out, v)


def _box_muller(xp, words: np.ndarray, double: bool) -> np.ndarray:
    """Normal numbers from whole blocks, pairs (0, 1) and (2, 3); float32 unless ``double``
    (cpu float64, which uses all 32 bits of each word)."""
    a, b = words[0::2], words[1::2]
    if double:
        u1 = (a.astype(np.float64) + 1.0) * 2.0**-32
        u2 = b.astype(np.float64) * 2.0**-32 - 0.5
        r = xp.sqrt(-2.0 * xp.log(u1))
        t = 2.0 * math.pi * u2
    else:
        k = (a >> np.uint32(8)) + np.uint32(1)
        u1 = k.astype(np.float32) * np.float32(2.0**-24)
        v1 = (np.uint32(1 << 24) - k).astype(np.float32) * np.float32(2.0**-24)
        u2 = (b >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24) - np.float32(0.5)
        r = xp.sqrt(np.float32(2.0) * _neg_log_f32(xp, u1, v1))
        t = np.float32(2.0 * math.pi) * u2
    return xp.stack([r * xp.cos(t), r * xp.sin(t)], axis=1).reshape(-1)


def _neg_log_f32(xp, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """-log(u) for u = 1 - v in float32, as the WGSL kernel computes it: near u = 1 (v <= 1/4) the
    series -log(1 - v) = 2 atanh(s), s = v / (2 - v), to s**11 (GPU logs are only absolutely
    accurate there, which would make small normal numbers differ between devices)."""
    f = np.float32
    s = v / (f(2.0) - v)
    s2 = s * s
    poly = f(1 / 7) + s2 * (f(1 / 9) + s2 * f(1 / 11))
    series = f(2.0) * s * (f(1.0) + s2 * (f(1 / 3) + s2 * (f(0.2) + s2 * poly)))
    with np.errstate(divide="ignore"):
        return xp.where(v > f(0.25), -xp.log(u), series)


__all__ = ["KINDS", "check", "generate", "philox_blocks", "philox_words", "uniform_params"]
