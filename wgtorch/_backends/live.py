"""`LiveFloat`: a hyper-parameter a captured graph re-reads on every replay.

An optimizer step captured into a wgpu graph would replay the learning rate packed into its
kernel's parameters at capture time. Optimizers pass the rate as a `LiveFloat` instead: it is the
float it was (backends use it as one), and ``fetch()`` returns the value a replay should use now
(``optimizer.param_groups[i]["lr"]``), so the wgpu backend patches the recorded parameters before
each replay and lr schedulers keep working between replays.
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
