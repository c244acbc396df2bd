"""The Tensor methods, as mixin classes that `wgtorch.Tensor` derives from.

``wgtorch/_tensor_class.py`` defines ``wgtorch.Tensor`` with `TensorMethods` and
``_tensor.TensorCore`` as its bases. The layers stay one-way: ``ops/`` imports ``_tensor`` (to make
and check tensors), these mixins import ``ops/``, and only ``_tensor_class`` imports the mixins.
Type checkers see the registry's methods through ``generated.pyi``.

Where a new Tensor method goes: a ``def`` (or ``name = ops_function``) in the mixin of its area
below (``shape.py``, ``index.py``, ``reduce.py``, ``operators.py``, ``misc.py``), or a new mixin
module listed in `TensorMethods`'s bases; an elementwise op gets its method from the registry
(``method=True`` in ``ops/elementwise_defs.py``; then run ``python -m wgtorch._tensor_methods.write_stub``).
"""

from __future__ import annotations

from .generated import GeneratedMethods
from .index import IndexMethods
from .misc import MiscMethods
from .operators import OperatorMethods
from .reduce import ReduceMethods
from .shape import ShapeMethods


# Hand-written mixins first: they replace the registry's plain versions (add with alpha ...).
class TensorMethods(OperatorMethods, ShapeMethods, IndexMethods, ReduceMethods, MiscMethods, GeneratedMethods):
    """Every Tensor method that is not about storage, autograd or conversion (those are in
    _tensor.py's TensorCore)."""

    __slots__ = ()

__all__ = [
    "GeneratedMethods",
    "IndexMethods",
    "MiscMethods",
    "OperatorMethods",
    "ReduceMethods",
    "ShapeMethods",
    "TensorMethods",
]
