"""``torch.backends.openmp``: accepted for compatibility (the cpu backend is NumPy)."""

from __future__ import annotations


def is_available() -> bool:
    return False
