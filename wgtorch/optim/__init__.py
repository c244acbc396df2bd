"""``wgtorch.optim``: optimizers and learning-rate schedulers, as ``torch.optim``.

SGD, Adam, AdamW and RMSprop update a parameter and its state with one fused kernel per parameter
(a WGSL dispatch on wgpu, NumPy on cpu); Adadelta, Adagrad, Adamax, NAdam, RAdam and LBFGS are
composites of tensor ops, so they run on every device. Hyper-parameters are host-side floats, so
a step never waits for the device (LBFGS, which reads losses and dot products, excepted).
"""

from __future__ import annotations

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adadelta", "Adagrad", "Adamax", "NAdam", "RAdam",
           "LBFGS", "lr_scheduler"]
