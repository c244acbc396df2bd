"""``wgtorch.compile``: PyTorch's signature; today it returns the function or module unchanged
(eager), so that programs that call ``torch.compile`` run. Capture and replay will come here."""

from __future__ import annotations

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor", mode=None,
            options=None, disable: bool = False):
    """``torch.compile(model)`` or ``@torch.compile(mode=...)``: the model itself, run eagerly."""
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(m for m in _MODES if m)}")
    if model is None:
        return lambda fn: compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                  options=options, disable=disable)
    if not callable(model):
        raise RuntimeError("torch.compile: the model must be a callable (a function or an nn.Module)")
    return model
