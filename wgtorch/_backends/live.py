"""`LiveFloat`: a hyper-parameter a captured graph re-reads on every replay.

An optimizer step captured into a wgpu graph would replay the learning rate packed into its
kernel's parameters at capture time. Optimizers pass the rate as a `LiveFloat` instead: it is the
float it was (backends use it as one), and ``fetch()`` returns the value a replay should use now
(``optimizer.param_groups[i]["lr"]``), so the wgpu backend patches the recorded parameters before
each replay and lr schedulers keep working between replays.

`PythonReplay`: Python work (an lr scheduler's ``step()``) a ``wgtorch.compile`` capture repeats at
every replay; the capture in progress is on top of ``recording``.
"""

from __future__ import annotations


class LiveFloat(float):
    """``LiveFloat(value, fetch)``: ``value`` now, ``float(fetch())`` at each graph replay."""

    __slots__ = ("fetch",)

    def __new__(cls, value, fetch):
        obj = super().__new__(cls, value)
        obj.fetch = fetch
        return obj


def current(value) -> float:
    """The value to use now: ``value.fetch()`` for a `LiveFloat`, else ``value``."""
    return float(value.fetch()) if isinstance(value, LiveFloat) else float(value)


class PythonReplay:
    """What a ``wgtorch.compile`` call being captured lets Python code ask of its replays: LR
    schedulers stepped inside the call register their ``step()`` to run again at every replay
    (`repeat`). ``cap`` is the capture's recording (None where the capture can't run Python at
    replay: a forward captured apart from its backward); what could not be registered is listed
    in ``missed``, for the compile to refuse the capture."""

    __slots__ = ("cap", "missed")

    def __init__(self, cap):
        self.cap = cap
        self.missed: list = []

    def repeat(self, fn, before: bool, what: str) -> None:
        """Run ``fn()`` at every replay: before it (ahead of the lr patches and refills) or after it."""
        if self.cap is None:
            self.missed.append(what)
        elif before:
            self.cap.on_replay(before=fn)
        else:
            self.cap.on_replay(after=fn)


recording: list = []  # the PythonReplay of each wgtorch.compile call being captured (innermost last)
