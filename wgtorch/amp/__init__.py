"""``wgtorch.amp``: automatic mixed precision (``autocast``) and loss scaling (``GradScaler``), as
``torch.amp``."""

from __future__ import annotations

from .autocast_mode import autocast, is_autocast_available
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "is_autocast_available"]
