"""``torch.backends.cuda``: matmul precision flags and the scaled-dot-product-attention switches."""

from __future__ import annotations

import importlib.util


class _MatmulFlags:
    """``torch.backends.cuda.matmul``: accepted and kept (no TF32 or reduced-precision paths here)."""

    def __init__(self):
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    def __repr__(self):
        return f"_MatmulFlags(allow_tf32={self.allow_tf32})"


matmul = _MatmulFlags()

_sdp = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def is_built() -> bool:
    """True when the CUDA path (CuPy) is installed, as PyTorch's says whether it was built with CUDA."""
    return importlib.util.find_spec("cupy") is not None


def enable_flash_sdp(enabled: bool) -> None:
    _sdp["flash"] = bool(enabled)


def enable_mem_efficient_sdp(enabled: bool) -> None:
    _sdp["mem_efficient"] = bool(enabled)


def enable_math_sdp(enabled: bool) -> None:
    _sdp["math"] = bool(enabled)


def enable_cudnn_sdp(enabled: bool) -> None:
    _sdp["cudnn"] = bool(enabled)


def flash_sdp_enabled() -> bool:
    return _sdp["flash"]


def mem_efficient_sdp_enabled() -> bool:
    return _sdp["mem_efficient"]


def math_sdp_enabled() -> bool:
    return _sdp["math"]


def cudnn_sdp_enabled() -> bool:
    return _sdp["cudnn"]


def preferred_linalg_library(backend=None):
    """Accepted for compatibility; wgtorch has one linear-algebra path per device."""
    return backend
