"""``Flatten`` and ``Unflatten``."""

from __future__ import annotations

from .module import Module


class Flatten(Module):
    """Flattens dims ``start_dim`` .. ``end_dim`` into one.

    Shape: input (*, S_start, ..., S_end, *), output (*, prod(S_start..S_end), *); with the
    defaults (start_dim=1, end_dim=-1) a batch (N, *) becomes (N, prod(*)).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim ``dim`` into ``unflattened_size``.

    Shape: input (*, S_dim, *), output (*, U_1, ..., U_n, *) with prod(U) == S_dim.
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input):
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
