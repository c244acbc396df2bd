"""``wgtorch.linalg``: PyTorch's linear-algebra namespace (the parts wgtorch has).

Norms (`vector_norm`, `matrix_norm`, `norm`), `cross`, `vecdot` and `matmul` run on every device
(``wgtorch/ops/norms.py``). `inv`, `det`, `solve` and `cholesky` run on the cpu device only
(NumPy's LAPACK, ``wgtorch/ops/linalg_cpu.py``). Matrix norms that need singular values (ord 2,
-2, 'nuc') and the other factorisations (svd, qr, eig ...) are not implemented."""

from __future__ import annotations

from .ops.linalg import matmul
from .ops.linalg_cpu import LinAlgError, cholesky, det, inv, solve
from .ops.norms import cross, matrix_norm, vecdot, vector_norm
from .ops.norms import linalg_norm as norm

__all__ = [
    "LinAlgError",
    "cholesky",
    "cross",
    "det",
    "inv",
    "matmul",
    "matrix_norm",
    "norm",
    "solve",
    "vecdot",
    "vector_norm",
]
