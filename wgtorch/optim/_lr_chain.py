"""Schedulers made of schedulers: `ChainedScheduler` (all at once) and `SequentialLR` (one after
another), exported from ``wgtorch.optim.lr_scheduler``."""

from __future__ import annotations

from bisect import bisect_right

from ._lr_base import LRScheduler
from ._lr_cyclic import ReduceLROnPlateau
from .optimizer import Optimizer

_MODULE = "wgtorch.optim.lr_scheduler"


def _check_members(owner: str, schedulers, optimizer) -> None:
    for idx, scheduler in enumerate(schedulers):
        if not hasattr(scheduler, "optimizer"):
            raise TypeError(f"{owner} at index {idx} should have `optimizer` as its attribute.")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{owner} does not support `ReduceLROnPlateau` scheduler as it requires additional "
                             "kwargs to be specified when calling `step`, but got one at index "
                             f"{idx} in the given schedulers sequence.")
        if optimizer != scheduler.optimizer:
            raise ValueError(f"{owner} expects all schedulers to belong to the same optimizer, but got scheduler "
                             f"{type(scheduler).__name__} at index {idx} has {scheduler.optimizer}, which is "
                             f"different from {type(optimizer).__name__}.")


def _members_state(state: dict, key: str, schedulers) -> dict:
    state = {k: v for k, v in state.items() if k not in ("optimizer", key)}
    state[key] = [s.state_dict() for s in schedulers]
    return state


class ChainedScheduler(LRScheduler):
    """Steps every scheduler of ``schedulers`` (all on one optimizer) at each ``step()``, so their
    (chainable) changes multiply. Its state dict holds theirs, under ``_schedulers``."""

    __module__ = _MODULE

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        if len(schedulers) < 1:
            raise ValueError(f"{type(self).__name__} expects at least one scheduler to be chained, but got no "
                             "scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_members(type(self).__name__, schedulers, optimizer)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = [group["lr"] for group in self._schedulers[-1].optimizer.param_groups]

    def step(self) -> None:
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = [group["lr"] for group in self._schedulers[-1].optimizer.param_groups]

    def state_dict(self) -> dict:
        return _members_state(self.__dict__, "_schedulers", self._schedulers)

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        saved = state_dict.pop("_schedulers")
        self.__dict__.update(state_dict)
        for scheduler, state in zip(self._schedulers, saved):
            scheduler.load_state_dict(state)


def _undo_initial_step(scheduler) -> None:
    """Take back the step a scheduler's constructor made (in each member of a chain)."""
    members = getattr(scheduler, "_schedulers", None)
    if members is not None:
        for member in members:
            _undo_initial_step(member)
    elif hasattr(scheduler, "last_epoch"):
        scheduler.last_epoch -= 1


class SequentialLR(LRScheduler):
    """Runs ``schedulers[0]`` until epoch ``milestones[0]``, then ``schedulers[1]`` (restarted
    from its epoch 0) until ``milestones[1]``, and so on. The learning rates start from each
    group's ``initial_lr``. The members' constructor steps are taken back, in the members of a
    ChainedScheduler too (PyTorch 2.13 misses those, leaving them one epoch ahead)."""

    __module__ = _MODULE

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        if len(schedulers) < 1:
            raise ValueError(f"{type(self).__name__} expects at least one scheduler, but got no scheduler.")
        _check_members(type(self).__name__, schedulers, optimizer)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError("Sequential Schedulers expects number of schedulers provided to be one more than the "
                             f"number of milestone points, but got number of schedulers {len(schedulers)} and the "
                             f"number of milestones to be equal to {len(milestones)}")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        # Every member stepped once when it was made: start over from the initial rates, with only
        # the first scheduler's epoch 0 applied.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:
            _undo_initial_step(scheduler)
        self._schedulers[0]._initial_step()
        self._last_lr = self._schedulers[0].get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)  # restart it at its epoch 0 (not a user's step: no warning, no count)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict:
        return _members_state(self.__dict__, "_schedulers", self._schedulers)

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        saved = state_dict.pop("_schedulers")
        self.__dict__.update(state_dict)
        for scheduler, state in zip(self._schedulers, saved):
            scheduler.load_state_dict(state)
