"""``wgtorch.optim``: optimizers and learning-rate schedulers, as ``torch.optim``.

SGD, Adam, AdamW and RMSprop update a parameter and its state with one fused kernel per parameter
(a WGSL dispatch on wgpu, NumPy on cpu); Adadelta, Adagrad, Adamax, ASGD, NAdam, RAdam, Rprop and
LBFGS are composites of tensor ops, so they run on every device. Hyper-parameters are host-side
floats, so a step never waits for the device (LBFGS, which reads losses and dot products, excepted).

Graph capture (`wgtorch.wgpu.graph`): SGD and RMSprop capture as they are; Adam, AdamW, Adadelta,
Adamax, ASGD, NAdam, RAdam and Rprop with ``capturable=True`` (their step counts and
step-dependent factors on the device); Adagrad and LBFGS, which PyTorch gives no capturable mode,
refuse a capture.
"""

from __future__ import annotations

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adadelta", "Adagrad", "Adamax", "ASGD", "NAdam",
           "RAdam", "Rprop", "LBFGS", "lr_scheduler"]
