"""``torch.onnx``: importable, so that programs that import it at the top run; exporting is not
supported by wgtorch and says so when called."""

from __future__ import annotations


def export(*args, **kwargs):
    raise NotImplementedError("wgtorch.onnx.export is not supported: wgtorch has no ONNX exporter "
                              "(export the model from PyTorch, whose state_dict keys wgtorch shares)")


def is_in_onnx_export() -> bool:
    return False
