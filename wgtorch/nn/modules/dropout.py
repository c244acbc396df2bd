"""``Dropout``."""

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
