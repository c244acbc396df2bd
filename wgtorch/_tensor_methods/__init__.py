"""The Tensor methods, as mixin classes that `wgtorch.Tensor` derives from.

``wgtorch._tensor.Tensor`` derives from ``_tensor._Methods``, an empty base there; this package
gives that base its real bases, ``(TensorMethods, TensorBase)``, once, at import. The one late
binding is what keeps the layers one-way: ``ops/`` imports the Tensor class (to make and check
tensors) and these mixins import ``ops/``, so ``_tensor`` can't import them. Type checkers see the
same class through ``_tensor``'s ``TYPE_CHECKING`` import (and ``generated.pyi``).

Where a new Tensor method goes: a ``def`` (or ``name = ops_function``) in the mixin of its area
below (``shape.py``, ``index.py``, ``reduce.py``, ``operators.py``, ``misc.py``), or a new mixin
module listed in `TensorMethods`'s bases; an elementwise op gets its method from the registry
(``method=True`` in ``ops/elementwise_defs.py``; then run ``python -m wgtorch._tensor_methods.write_stub``).
"""

from __future__ import annotations

from .. import _tensor
from ..autograd.function import TensorBase
from .generated import GeneratedMethods
from .index import IndexMethods
from .misc import MiscMethods
from .operators import OperatorMethods
from .reduce import ReduceMethods
from .shape import ShapeMethods


# Hand-written mixins first: they replace the registry's plain versions (add with alpha ...).
class TensorMethods(OperatorMethods, ShapeMethods, IndexMethods, ReduceMethods, MiscMethods, GeneratedMethods):
    """Every Tensor method that is not about storage, autograd or conversion (those are in _tensor.py)."""

    __slots__ = ()


_tensor._Methods.__bases__ = (TensorMethods, TensorBase)

__all__ = [
    "GeneratedMethods",
    "IndexMethods",
    "MiscMethods",
    "OperatorMethods",
    "ReduceMethods",
    "ShapeMethods",
    "TensorMethods",
]
