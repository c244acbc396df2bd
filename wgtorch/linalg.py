"""``wgtorch.linalg``: PyTorch's linear-algebra namespace (the parts wgtorch has).

Norms (`vector_norm`, `matrix_norm`, `norm`), `cross`, `vecdot` and `matmul` run on every device
(``wgtorch/ops/norms.py``). Matrix norms that need singular values (ord 2, -2, 'nuc') and the
factorisations (det, inv, solve, cholesky, svd ...) are not implemented."""

from __future__ import annotations

from .ops.linalg import matmul
from .ops.norms import cross, matrix_norm, vecdot, vector_norm
from .ops.norms import linalg_norm as norm

__all__ = ["cross", "matmul", "matrix_norm", "norm", "vecdot", "vector_norm"]
