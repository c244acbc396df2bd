"""Work handles for MPI non-blocking requests, and waiting on them with a timeout.

Every collective, blocking or not, is started as an MPI non-blocking operation (``Iallreduce``,
``Ibcast`` ...) and finished by polling ``Test``: so a peer that died, raised or never called the
same collective makes the wait fail with a clear ``RuntimeError`` after the process group's
timeout instead of hanging forever.
"""

from __future__ import annotations

import os
import time

_SPIN_S = 0.05  # poll without sleeping this long (MPI's own Wait spins too), then back off
_yield = getattr(os, "sched_yield", lambda: time.sleep(0))


def wait_request(request, name: str, timeout_s: float, where: str) -> None:
    """Wait for an MPI ``Request``; raise ``RuntimeError`` naming the collective after ``timeout_s``."""
    if request.Test():
        return
    start = time.monotonic()
    spin_until = start + _SPIN_S
    deadline = start + timeout_s
    nap = 1e-4
    while not request.Test():
        now = time.monotonic()
        if now > deadline:
            raise RuntimeError(
                f"wgtorch.distributed.{name} timed out after {timeout_s:g} s on {where}: a peer died, raised, "
                f"is stalled, or did not call the same collective (init_process_group(timeout=...) sets the "
                f"limit). An uncaught error aborts the whole MPI job.")
        if now > spin_until:
            time.sleep(nap)
            nap = min(nap * 2, 2e-3)
        else:
            _yield()  # as MPI's Wait does: a peer sharing this core must get to run


class Work:
    """A started collective (``async_op=True``), like ``torch.distributed.Work``: ``wait()`` finishes
    it (copying results back into device tensors), ``is_completed()`` asks without blocking."""

    def __init__(self, requests, name: str, timeout_s: float, where: str, finish=None):
        self._requests = list(requests)
        self._name = name
        self._timeout_s = timeout_s
        self._where = where
        self._finish = finish
        self._done = False
        self._result = None

    def is_completed(self) -> bool:
        if self._done:
            return True
        if all(r.Test() for r in self._requests):
            self._complete()
            return True
        return False

    def wait(self, timeout=None) -> bool:
        if not self._done:
            limit = self._timeout_s if timeout is None else _seconds(timeout)
            for r in self._requests:
                wait_request(r, self._name, limit, self._where)
            self._complete()
        return True

    def is_success(self) -> bool:
        return self._done

    def result(self):
        self.wait()
        return self._result

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            finish, self._finish = self._finish, None
            self._result = finish()

    def __repr__(self) -> str:
        return f"<wgtorch.distributed.Work {self._name} {'completed' if self._done else 'pending'}>"


def _seconds(timeout) -> float:
    return timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)
