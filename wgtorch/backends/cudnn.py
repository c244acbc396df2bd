"""``torch.backends.cudnn``: wgtorch has no cuDNN; the flags are accepted and kept."""

from __future__ import annotations

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: wgtorch does not use cuDNN (its CUDA path is CuPy and cuBLAS)."""
    return False


def version():
    """None, as PyTorch returns when cuDNN is unavailable."""
    return None
