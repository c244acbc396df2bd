"""``wgtorch.nn``: modules, parameters, losses, ``functional``, ``init`` and ``utils``, with
PyTorch's names and behaviour."""

from . import functional, init, parallel, utils
from .modules import *  # noqa: F403  (the layer classes, listed in modules.__all__)
from .modules import __all__ as _module_names
from .parameter import Parameter

__all__ = ["functional", "init", "parallel", "utils", "Parameter", *_module_names]
