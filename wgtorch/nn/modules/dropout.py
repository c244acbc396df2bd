"""``Dropout``, the channel-wise ``Dropout1d`` / ``Dropout2d``, ``AlphaDropout`` and
``FeatureAlphaDropout``."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class Dropout(Module):
    """In training mode, zeroes each element with probability ``p`` and scales the others by
    1 / (1 - p); in eval mode, the identity. The mask comes from ``wgtorch.rand`` on the input's
    device, so ``wgtorch.manual_seed`` makes it repeatable (and the same on every device).

    Shape: input (*), output (*), the same.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """In training, zeroes whole channels (one draw per (N, C)) with probability ``p`` and scales
    the rest by 1 / (1 - p). Shape: (N, C, L) or (C, L), output the same."""

    def forward(self, input):
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """In training, zeroes whole channels of (N, C, H, W) with probability ``p`` and scales the
    rest by 1 / (1 - p); a 3-D input is read as (N, C, L), as PyTorch does. Shape: output as input."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout for SELU networks: dropped elements take selu's negative saturation and an affine
    map keeps zero mean and unit variance. Shape: (*), output the same."""

    def forward(self, input):
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """``AlphaDropout`` with one draw per (N, C) feature map. Shape: (N, C, *), output the same."""

    def forward(self, input):
        return F.feature_alpha_dropout(input, self.p, self.training)
