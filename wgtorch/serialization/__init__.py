"""``wgtorch.save`` / ``wgtorch.load``."""

from ._safetensors import load, save

__all__ = ["save", "load"]
