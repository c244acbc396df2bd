"""``wgtorch.nn``: modules, parameters, losses, ``functional``, ``init`` and ``utils``, with
PyTorch's names and behaviour."""

from . import functional, init, utils
from .modules import *  # noqa: F403  (the layer classes, listed in modules.__all__)
from .modules import __all__ as _module_names
from .parameter import Parameter

__all__ = ["functional", "init", "utils", "Parameter", *_module_names]
