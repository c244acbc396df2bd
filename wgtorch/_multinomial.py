"""``multinomial``: category indices drawn with probabilities proportional to a row of weights,
on the weights' device, by the exponential race.

Give each category j the key E_j / p_j with E_j = -log(1 - u_j) exponential: the smallest key
is category j with probability p_j / sum(p), and the order of the keys is a draw without
replacement (the Gumbel-top-k trick, in its exponential form; PyTorch's CPU kernel does the same).
Zero weights get a key above every positive weight's, so they are never drawn while a positive one
is left (PyTorch then draws them, in index order, and so does this).

- With replacement: each sample races all k categories on fresh uniforms, one ``argmin`` over
  a (rows, samples, k) block of keys (in chunks of at most `_CHUNK` keys).
- Without replacement: one race per row, then ``num_samples`` rounds of ``argmin`` that each
  retire the winner (its key becomes inf). This costs num_samples small reductions; it needs no
  sort (``topk``/``sort`` are not used, so that this does not depend on them).
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

from . import _dtype as D
from ._creation import arange, uniform
from ._generator import check_generator
from .autograd import no_grad
from .ops.registry import TORCH_NAMES
from .ops.shape import cat, stack

if TYPE_CHECKING:
    from ._tensor_class import Tensor

_CHUNK = 1 << 22
_ZERO_KEY = 3.0e38  # zero weights: above every positive weight's key, below inf (a drawn category)
_MAX_KEY = 1.0e38  # positive weights' keys are kept below _ZERO_KEY


def multinomial(input: Tensor, num_samples, replacement: bool = False, *, generator=None, out=None) -> Tensor:
    """``num_samples`` indices per row of ``input`` (1-D or 2-D non-negative weights, not
    necessarily summing to 1), drawn with or without replacement; int64 of shape
    (num_samples,) or (rows, num_samples)."""
    if out is not None:
        raise TypeError("multinomial(): out= is not supported by wgtorch")
    if isinstance(num_samples, bool) or not hasattr(num_samples, "__index__"):
        raise TypeError(
            f"multinomial(): argument 'num_samples' (position 2) must be int, not {type(num_samples).__name__}"
        )
    n = operator.index(num_samples)
    if input.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim (got {input.ndim} dims)")
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"multinomial only supports floating-point dtypes for input, got: {TORCH_NAMES[input.dtype.name]}"
        )
    if n <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    k = input.shape[-1]
    if not replacement and n > k:
        raise RuntimeError(
            f"cannot sample n_sample > prob_dist.size(-1) samples without replacement (n_sample={n}, size={k})"
        )
    gen = check_generator(generator, input.device, "multinomial")
    with no_grad():
        p = input.detach().reshape(-1, k).float() if input.dtype is not D.float64 else input.detach().reshape(-1, k)
        rows = p.shape[0]
        if rows == 0:
            result = input.new_empty((0, n), dtype=D.int64)
        else:
            _check(p)
            result = _with(p, n, gen) if replacement else _without(p, n, gen)
    return result.reshape(n) if input.ndim == 1 else result


def _check(p: Tensor) -> None:
    if not bool(((p >= 0) & p.isfinite()).all()):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if not bool((p.sum(-1) > 0).all()):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")


def _scaled(p: Tensor) -> Tensor:
    """Weights divided by their row's maximum, so that the keys stay finite."""
    return p / p.amax(-1, keepdim=True)


def _keys(q: Tensor, e: Tensor) -> Tensor:
    """E / q for positive weights (at most _MAX_KEY), _ZERO_KEY for zero ones."""
    return (e / q).clamp(max=_MAX_KEY).where(q > 0, _ZERO_KEY)


def _exponentials(gen, shape, dev, dt) -> Tensor:
    return -((1 - uniform(gen, shape, dev, dt)).log())


def _with(p: Tensor, n: int, gen) -> Tensor:
    rows, k = p.shape
    q = _scaled(p).unsqueeze(1)  # (rows, 1, k)
    step = max(1, _CHUNK // max(1, rows * k))
    parts = []
    for start in range(0, n, step):
        m = min(step, n - start)
        e = _exponentials(gen, (rows, m, k), p.device, p.dtype)
        parts.append(_keys(q, e).argmin(-1))

    return parts[0] if len(parts) == 1 else cat(parts, dim=1)


def _without(p: Tensor, n: int, gen) -> Tensor:
    rows, k = p.shape
    keys = _keys(_scaled(p), _exponentials(gen, (rows, k), p.device, p.dtype))

    columns = arange(k, device=p.device).unsqueeze(0)
    picks = []
    for _ in range(n):
        pick = keys.argmin(-1, keepdim=True)  # (rows, 1)
        picks.append(pick.squeeze(1))
        keys = keys.where(columns != pick, float("inf"))
    return stack(picks, dim=1)
