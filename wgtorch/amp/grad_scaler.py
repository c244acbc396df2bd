"""``GradScaler``: loss scaling for mixed-precision training, as ``torch.amp.GradScaler``.

The scale lives on the device as a 0-d float32 tensor (``scale(loss)`` is a device multiply);
``unscale_`` multiplies every gradient by the float32 reciprocal of the scale and records on the
device whether any gradient held an inf or NaN; ``step`` reads that flag (one host sync, as
PyTorch's ``.item()``) and skips ``optimizer.step()`` when it is set; ``update`` backs the scale
off on an inf, or grows it after ``growth_interval`` clean steps, with PyTorch's float32
arithmetic (``_amp_update_scale_``).
"""

from __future__ import annotations

import warnings
from collections import abc, defaultdict
from enum import Enum

import numpy as np

from .. import _dtype as D
from .._creation import full
from .._device import is_available
from .._tensor import TensorCore


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state() -> dict:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


class GradScaler:
    """``GradScaler(device="cuda", init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
    growth_interval=2000, enabled=True)``. ``device`` may be "cuda", "wgpu" or "cpu"; a scaler for
    a device that is not available disables itself with a warning, as PyTorch's does for CUDA."""

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        self._device = str(device)
        self._enabled = bool(enabled)
        if self._enabled and self._device in ("cuda", "wgpu") and not _available(self._device):
            what = (
                "torch.cuda.amp.GradScaler is enabled, but CUDA"
                if self._device == "cuda"
                else ("wgtorch.amp.GradScaler is enabled, but wgpu")
            )
            warnings.warn(f"{what} is not available.  Disabling.", stacklevel=2)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale = None
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker = None  # a Python int: read on the host by update() anyway
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    # -- scaling ------------------------------------------------------------------------------------
    def _check_scale_growth_tracker(self, funcname: str):
        fix = "This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + fix)
        if self._growth_tracker is None:
            raise AssertionError(f"Attempted {funcname} but _growth_tracker is None.  " + fix)
        return self._scale, self._growth_tracker

    def _lazy_init_scale_growth_tracker(self, dev) -> None:
        self._scale = full((), self._init_scale, dtype=D.float32, device=dev)
        self._growth_tracker = int(self._init_growth_tracker)

    def scale(self, outputs):
        """Multiplies ``outputs`` (a tensor or an iterable of tensors) by the scale factor."""
        if not self._enabled:
            return outputs

        if isinstance(outputs, TensorCore):
            if self._scale is None:
                self._lazy_init_scale_growth_tracker(outputs.device)
            return outputs * self._scale.to(device=outputs.device)

        def apply_scale(val):
            if isinstance(val, TensorCore):
                if self._scale is None:
                    self._lazy_init_scale_growth_tracker(val.device)
                return val * self._scale.to(device=val.device)
            if isinstance(val, abc.Iterable):
                iterable = map(apply_scale, val)
                return type(val)(iterable) if isinstance(val, (list, tuple)) else iterable
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    def _unscale_grads_(self, optimizer, inv_scale: float, allow_fp16: bool) -> dict:
        found = {}
        for group in optimizer.param_groups:
            for param in group["params"]:
                g = param.grad
                if g is None:
                    continue
                if not allow_fp16 and g.dtype is D.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                key = str(g.device)
                # Any inf/NaN, kept on the device: the host reads it once, in step().
                bad = (~g.isfinite()).any().to(D.float32)
                found[key] = bad if key not in found else found[key] + bad
                # (float32 inv_scale; a 16-bit gradient multiplies in float32.) A new tensor, not
                # mul_: wgtorch's autograd may leave a broadcast, read-only view in .grad.
                param.grad = g * inv_scale
        return found

    def unscale_(self, optimizer) -> None:
        """Divides ("unscales") ``optimizer``'s gradients by the scale factor, in place."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        # PyTorch: self._scale.double().reciprocal().float()
        inv_scale = float(np.float32(1.0 / np.float64(self._scale.item())))
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, False)
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """Unscales the gradients (unless ``unscale_`` already did) and calls ``optimizer.step()``
        unless a gradient holds an inf or NaN. Returns what ``optimizer.step`` returns (None when skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if len(state["found_inf_per_device"]) == 0:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not sum(v.item() for v in state["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale=None) -> None:
        """Updates the scale: ``new_scale`` (a float or a 1-element tensor) if given, else backs off
        after an inf/NaN or grows after ``growth_interval`` clean steps."""
        if not self._enabled:
            return
        scale, tracker = self._check_scale_growth_tracker("update")

        if new_scale is not None:
            if isinstance(new_scale, float):
                value = new_scale
            else:
                reason = (
                    "new_scale should be a float or a 1-element torch.cuda.FloatTensor or torch.FloatTensor "
                    "with requires_grad=False."
                )
                if not isinstance(new_scale, TensorCore) or new_scale.numel() != 1 or new_scale.requires_grad:
                    raise AssertionError(reason)
                value = new_scale.item()
            self._scale = _fill(scale, value)
        else:
            found = [v for st in self._per_optimizer_states.values() for v in st["found_inf_per_device"].values()]
            if len(found) == 0:
                raise AssertionError("No inf checks were recorded prior to update.")
            found_inf = sum(v.item() for v in found)
            # _amp_update_scale_, in float32 as PyTorch's kernel
            s = np.float32(scale.item())
            if found_inf:
                s = s * np.float32(self._backoff_factor)
                tracker = 0
            else:
                successful = tracker + 1
                if successful == self._growth_interval:
                    grown = s * np.float32(self._growth_factor)
                    if np.isfinite(grown):
                        s = grown
                    tracker = 0
                else:
                    tracker = successful
            self._scale = _fill(scale, float(s))
            self._growth_tracker = tracker
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    # -- accessors -----------------------------------------------------------------------------------
    def get_scale(self) -> float:
        """The current scale (a Python float; 1.0 when disabled)."""
        if not self._enabled:
            return 1.0
        return float(self._init_scale) if self._scale is None else float(self._scale.item())

    def get_growth_factor(self) -> float:
        """The factor the scale grows by after ``growth_interval`` clean steps."""
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        """Set the growth factor."""
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        """The factor the scale shrinks by after a step with an inf/NaN gradient."""
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        """Set the backoff factor."""
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        """How many consecutive clean steps grow the scale."""
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        """Set the growth interval."""
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker)

    def is_enabled(self) -> bool:
        """Whether this scaler scales (False when built disabled or for an unavailable device)."""
        return self._enabled

    def state_dict(self) -> dict:
        """scale, growth_factor, backoff_factor, growth_interval and _growth_tracker ({} when disabled)."""
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._get_growth_tracker(),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict`` returned."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler."
            )
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = _fill(self._scale, self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker = self._init_growth_tracker


def _fill(scale, value: float):
    return full((), value, dtype=D.float32, device=scale.device)


def _available(device: str) -> bool:
    return is_available("cuda" if device == "cuda" else "wgpu")
