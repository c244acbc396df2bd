"""``repr(tensor)`` in PyTorch's style."""

from __future__ import annotations

import sys

import numpy as np

#: what ``wgtorch.set_printoptions`` sets
OPTIONS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}


def tensor_repr(t) -> str:
    a = t.detach().numpy()
    if a.dtype == np.float16 or a.dtype.name == "bfloat16":
        a = a.astype(np.float32)
    floatmode = "maxprec"
    if a.dtype.kind == "f":
        finite = a[np.isfinite(a)]
        # PyTorch prints whole numbers as "1." and anything else with four decimals.
        floatmode = "maxprec_equal" if np.all(finite == np.round(finite)) else "fixed"
    opts = OPTIONS
    # NumPy counts the closing brackets that PyTorch leaves out of its line width: one per inner dim
    extra = {"max_line_width": opts["linewidth"] + max(a.ndim - 1, 0)}
    if a.dtype.kind == "f" and opts["sci_mode"] is not None:
        p = opts["precision"]
        if opts["sci_mode"]:
            width = max((len(f"{v:.{p}e}") for v in a.reshape(-1)), default=0)
            extra["formatter"] = {"float_kind": lambda v: f"{v:.{p}e}".rjust(width)}
        else:
            extra["suppress_small"] = True
    threshold = opts["threshold"]
    body = np.array2string(a, separator=", ", prefix="tensor(", precision=opts["precision"],
                           threshold=sys.maxsize if threshold == float("inf") else int(threshold),
                           edgeitems=opts["edgeitems"], floatmode=floatmode, **extra)
    body = body.replace(", ...,", ",  ...,")  # PyTorch pads a row's ellipsis like an element
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
