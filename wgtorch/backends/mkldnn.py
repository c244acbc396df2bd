"""``torch.backends.mkldnn``: accepted for compatibility (the cpu backend is NumPy)."""

from __future__ import annotations

enabled = True


def is_available() -> bool:
    return False
