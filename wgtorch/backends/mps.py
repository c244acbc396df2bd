"""``torch.backends.mps``: wgtorch reaches Apple GPUs through wgpu (Metal), not through an "mps" device."""

from __future__ import annotations


def is_available() -> bool:
    """False: there is no "mps" device; use ``device="wgpu"``, which runs on Metal on a Mac."""
    return False


def is_built() -> bool:
    return False
