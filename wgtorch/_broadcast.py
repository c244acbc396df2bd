"""Broadcasting rules shared by the front end and the backends."""

from __future__ import annotations


def broadcast_shapes(shapes) -> tuple:
    """NumPy/PyTorch broadcasting; the error names both sizes like PyTorch's."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for k, s in enumerate(shapes):
        for i, n in enumerate(s, ndim - len(s)):
            if n != 1:
                if out[i] != 1 and out[i] != n:
                    first = next(j for j in range(k) if len(shapes[j]) > i - ndim + len(shapes[j]) >= 0
                                 and shapes[j][i - ndim + len(shapes[j])] == out[i])
                    raise RuntimeError(f"The size of tensor {'abc'[first]} ({out[i]}) must match the size of "
                                       f"tensor {'abc'[k]} ({n}) at non-singleton dimension {i} (shapes "
                                       f"{[list(x) for x in shapes]})")
                out[i] = n
    return tuple(out)
