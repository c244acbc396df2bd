"""``torch.backends``: the flags PyTorch programs set for their accelerator backends.

wgtorch accepts and keeps them so that programs written for PyTorch run unchanged; they change
no numbers here (wgtorch has no TF32 or cuDNN paths, and its kernels are deterministic except where
a docstring says otherwise). The package's own device backends live in `wgtorch._backends`.
"""

from __future__ import annotations

from . import cuda, cudnn, mkldnn, mps, openmp

__all__ = ["cuda", "cudnn", "mkldnn", "mps", "openmp"]
