"""``wgtorch.cuda.amp``: PyTorch's deprecated CUDA spellings of ``wgtorch.amp`` (they warn, as
PyTorch's do, and behave as ``autocast("cuda", ...)`` and ``GradScaler("cuda", ...)``)."""

from __future__ import annotations

import warnings

from .. import _dtype as D
from . import autocast_mode, grad_scaler


class autocast(autocast_mode.autocast):
    """Deprecated: ``wgtorch.amp.autocast("cuda", ...)``."""

    def __init__(self, enabled: bool = True, dtype=D.float16, cache_enabled: bool = True):
        warnings.warn(
            "`torch.cuda.amp.autocast(args...)` is deprecated. Please use `torch.amp.autocast('cuda', "
            "args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__("cuda", enabled=enabled, dtype=dtype, cache_enabled=cache_enabled)


class GradScaler(grad_scaler.GradScaler):
    """Deprecated: ``wgtorch.amp.GradScaler("cuda", ...)``."""

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        warnings.warn(
            "`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use `torch.amp.GradScaler('cuda', "
            "args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(
            "cuda",
            init_scale=init_scale,
            growth_factor=growth_factor,
            backoff_factor=backoff_factor,
            growth_interval=growth_interval,
            enabled=enabled,
        )


__all__ = ["autocast", "GradScaler"]
