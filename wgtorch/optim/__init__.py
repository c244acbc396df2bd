"""``wgtorch.optim``: optimizers and learning-rate schedulers, as ``torch.optim``.

Every optimizer updates a parameter and its state with one fused kernel per parameter (a WGSL
dispatch on wgpu, NumPy on cpu); hyper-parameters are host-side floats passed as kernel
scalars, so a step never waits for the device.
"""

from __future__ import annotations

from . import lr_scheduler
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
