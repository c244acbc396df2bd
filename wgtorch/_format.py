"""``repr(tensor)`` in PyTorch's style."""

from __future__ import annotations

import numpy as np


def tensor_repr(t) -> str:
    a = t.detach().numpy()
    if a.dtype == np.float16 or a.dtype.name == "bfloat16":
        a = a.astype(np.float32)
    floatmode = "maxprec"
    if a.dtype.kind == "f":
        finite = a[np.isfinite(a)]
        # PyTorch prints whole numbers as "1." and anything else with four decimals.
        floatmode = "maxprec_equal" if np.all(finite == np.round(finite)) else "fixed"
    body = np.array2string(a, separator=", ", prefix="tensor(", precision=4, threshold=1000, edgeitems=3,
                           floatmode=floatmode)
    extras = []
    if a.size == 0 and a.ndim > 1:
        extras.append(f"size={tuple(a.shape)}")
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    default_dt = {"float32", "int64", "bool"}
    if t.dtype.name not in default_dt or (a.size == 0 and t.dtype.name != "float32"):
        extras.append(f"dtype=wgtorch.{t.dtype.name}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
