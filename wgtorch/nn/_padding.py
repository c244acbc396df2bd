"""``F.pad``: constant padding as one kernel (ConstantPad), the other modes as ``index_select``.

Its own module, below ``nn.functional``, because the convolutions (nn/_conv.py) pad with it too.
"""

from __future__ import annotations

from .. import _creation
from .. import _dtype as D
from .._tensor_class import Tensor
from ..ops.index import index_select
from . import _functions as F_


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pads the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)`` starting from
    the last dim; negative amounts crop. ``mode`` is "constant" (with ``value``, default 0),
    "reflect" (mirror without repeating the edge), "replicate" (repeat the edge) or "circular"
    (wrap around); the last three pad 1 to 3 trailing dims of a 2-D to 5-D input, as PyTorch's."""
    if mode != "constant":
        return _pad_indexed(input, tuple(int(p) for p in pad), mode, value)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(
            f"Padding length should be less than or equal to two times the input dimension "
            f"but got padding length {len(pad)} and input of dimension {input.ndim}"
        )
    out_shape = list(input.shape)
    src = [slice(0, n, 1) for n in input.shape]  # the part of the input kept (all of it, less crops)
    dst = [slice(0, n, 1) for n in input.shape]  # where that part lands in the output
    for i in range(len(pad) // 2):
        d = input.ndim - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        n = input.shape[d]
        size = n + before + after
        if size < 0:
            raise RuntimeError(
                f"The input size {n}, plus negative padding {before} and {after} resulted "
                "in a negative output size, which is invalid. Check dimension "
                f"{d} of your input."
            )
        out_shape[d] = size
        lo = min(n, max(0, -before))
        hi = max(lo, min(n, n + after))
        src[d] = slice(lo, hi, 1)
        start = max(0, before)
        dst[d] = slice(start, start + hi - lo, 1)
    fill = 0.0 if value is None else value
    return F_.ConstantPad.apply(input, tuple(out_shape), tuple(src), tuple(dst), fill)


def _pad_indexed(input: Tensor, pad: tuple, mode: str, value) -> Tensor:
    """reflect / replicate / circular padding as one ``index_select`` per padded dim (gradients
    of positions picked twice accumulate)."""

    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    k = len(pad) // 2
    if len(pad) % 2 or k not in (1, 2, 3) or input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor in mode {mode!r}."
        )
    if mode != "circular" and any(n == 0 for n in input.shape[1:]):
        raise RuntimeError(
            f"Expected a tensor with possibly 0 batch size and other non-zero dimensions for "
            f"input, but got: {list(input.shape)}"
        )
    out = input
    for i in range(k):
        d = input.ndim - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        n = input.shape[d]
        if mode == "reflect" and (before >= n or after >= n):
            raise RuntimeError(
                f"Padding size should be less than the corresponding input dimension, but got: "
                f"padding ({before}, {after}) at dimension {d} of input {list(input.shape)}"
            )
        if mode == "circular" and (before > n or after > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if n + before + after < 0:
            raise RuntimeError(
                f"The input size {n}, plus negative padding {before} and {after} resulted in a "
                f"negative output size, which is invalid. Check dimension {d} of your input."
            )
        if before == 0 and after == 0:
            continue
        idx = []
        # circular wraps around what is left after any crop, as PyTorch
        lo, kept = max(0, -before), n - max(0, -before) - max(0, -after)
        for p in range(-before, n + after):
            if mode == "replicate":
                q = min(max(p, 0), n - 1)
            elif mode == "circular":
                q = lo + (p - lo) % kept if kept > 0 else p
            else:
                q = abs(p)
                q = 2 * (n - 1) - q if q > n - 1 else q
            idx.append(q)
        index = _creation.tensor(idx, dtype=D.int64, device=input.device)
        out = index_select(out, d, index)
    return out
