"""``wgtorch.Tensor``: the public tensor class, defined once here by an ordinary class statement.

It derives from `TensorCore` (``_tensor.py``: storage, metadata, autograd, conversion) and from
`TensorMethods` (``_tensor_methods/``: every method that calls an op). This module sits above
``ops/`` and the mixins, which is why the class is here and not in ``_tensor.py``: ``ops/`` imports
``_tensor`` (to check and make tensors), and the mixins import ``ops/``. Defining the class binds
``_tensor.Tensor`` (``public=True``, see `TensorCore.__init_subclass__`), which `_wrap` builds, so
every tensor an op returns is an instance of this class.
"""

from __future__ import annotations

from ._tensor import TensorCore
from ._tensor_methods import TensorMethods


# The core first: its methods win over a mixin's of the same name, as when they were one class body.
class Tensor(TensorCore, TensorMethods, public=True):
    """A multi-dimensional array on a device, with autograd (``torch.Tensor``). Its storage, autograd
    and conversion methods are in ``wgtorch/_tensor.py``; the others in the mixins of
    ``wgtorch/_tensor_methods`` (shape, index, reduce, operators, misc, generated)."""

    __slots__ = ()


__all__ = ["Tensor"]
