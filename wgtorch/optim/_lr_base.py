"""The base class of the learning-rate schedulers (``wgtorch.optim.lr_scheduler.LRScheduler``)
and helpers the scheduler modules share.

Every scheduler's ``step()`` (subclasses' too) is wrapped by `_repeated_by_compile`: called inside
a ``wgtorch.compile`` call that is being captured, it also registers itself to run again at every
replay of that capture, before the replay when it ran before the optimizer's step in the call,
after it otherwise (the replay re-reads the lr the step set). A manual ``wgtorch.wgpu.graph``
capture keeps PyTorch's CUDA-graph rule: the scheduler is stepped outside it, between replays.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

from .._backends import live
from ._foreach import lr_read_in
from .optimizer import Optimizer

_EPOCH_DEPRECATION = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where "
    "possible. Please use `scheduler.step()` to step the scheduler.")

_inside = [0]  # > 0 while a scheduler's step (or construction) runs: the steps it makes are its own


@contextlib.contextmanager
def _own_steps():
    """The scheduler steps made inside are part of the enclosing step or construction: not
    registered with a compile capture on their own."""
    _inside[0] += 1
    try:
        yield
    finally:
        _inside[0] -= 1


def _repeated_by_compile(step):
    """``step`` that, inside a ``wgtorch.compile`` capture (`live.recording`), also registers
    itself with the same arguments to run at every replay of it (see the module docstring)."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if not live.recording or _inside[0]:
            return step(self, *args, **kwargs)
        rec = live.recording[-1]
        before = not lr_read_in(self.optimizer, rec.cap)  # the optimizer has not stepped yet in this call
        with _own_steps():
            out = step(self, *args, **kwargs)
        rec.repeat(functools.partial(step, self, *args, **kwargs), before, f"{type(self).__name__}.step()")
        return out

    wrapper._repeated_by_compile = True
    return wrapper


class LRScheduler:
    """Base class: subclasses define ``get_lr()`` (the new lr of each group from the current
    ones, given ``self.last_epoch``) and may define ``_get_closed_form_lr()``."""

    __module__ = "wgtorch.optim.lr_scheduler"  # where PyTorch users (and pickle) look for it

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                                   "an optimizer")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        with _own_steps():  # the first step belongs to the construction: a replay does not repeat it
            self.step()  # the lr of epoch 0 (last_epoch becomes 0)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_repeated_by_compile", False):
            cls.step = _repeated_by_compile(step)

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set."""
        return self._last_lr

    @_repeated_by_compile
    def step(self, epoch: int | None = None) -> None:
        self._step_count += 1
        if epoch is not None:
            warnings.warn(_EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        """Move to the next epoch (or to ``epoch``, by the closed form where there is one) and set
        the groups' lr; ``step`` without its counting and warning (SequentialLR restarts its
        members with it)."""
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Everything but the optimizer (PyTorch's format)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)

    def _initial_step(self) -> None:
        """Start over from step 0 (SequentialLR restarts its first scheduler so)."""
        self._step_count = 0
        with _own_steps():
            self.step()

    def _groups(self):
        return self.optimizer.param_groups




def _per_group(optimizer: Optimizer, name: str, value) -> list:
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} must have the same length as optimizer.param_groups. {name} has "
                             f"{len(value)} values, param_groups has {n}.")
        return list(value)
    return [value] * n
