"""``Unfold`` (im2col) and ``Fold`` (col2im)."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class Fold(Module):
    """Sums sliding blocks back into a tensor. Shape: (N, C * prod(kernel_size), L) or
    (C * prod(kernel_size), L) -> (N, C, *output_size) or (C, *output_size)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Unfold(Module):
    """Extracts sliding blocks as columns. Shape: (N, C, H, W) or (C, H, W) ->
    (N, C * prod(kernel_size), L) or (C * prod(kernel_size), L), L the number of blocks."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
