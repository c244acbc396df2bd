"""What a benchmark workload is (`Workload`), and the helpers workloads are built from.

A workload's ``build(T, device)`` prepares inputs and returns a zero-argument callable that does
one unit of work with the PyTorch-style module ``T`` on ``device``; see `wgtorch.bench.suites`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class Unavailable(Exception):
    """A workload can't run on a column: not an error, shown as "n/a (reason)"."""


_UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class Reference:
    """A figure from the original report: its text and its range in seconds (None if absent)."""

    text: str
    low: float | None
    high: float | None

    @property
    def seconds(self) -> float | None:
        """The geometric middle of the range."""
        if self.low is None:
            return None
        return (self.low * self.high) ** 0.5


def ref(text: str) -> Reference:
    """Parse "0.356 µs", "~2 µs", "145-155 ns", "33 ms" (or "" for none)."""
    m = re.fullmatch(r"~?\s*([\d.]+)(?:\s*[-–]\s*([\d.]+))?\s*(ns|µs|us|ms|s)", text.strip())
    if not m:
        return Reference(text or "—", None, None)
    scale = _UNITS[m.group(3)]
    low = float(m.group(1)) * scale
    high = float(m.group(2)) * scale if m.group(2) else low
    return Reference(text, low, high)


@dataclass(frozen=True)
class Workload:
    """One row of the dashboard."""

    suite: str
    name: str                                        # stable key: JSON files and benches/ use it
    label: str                                       # what the dashboard shows
    build: Callable                                  # (T, device) -> callable
    reference: Reference
    numpy: Callable[[], Callable] | None = None      # NumPy peer, where there is an equivalent
    heavy: bool = False                              # skipped by --quick on software adapters
    torch_peer: bool = True                          # whether PyTorch has an equivalent
    defined_result: bool = True                      # False: uninitialised memory or pool statistics

    def __str__(self) -> str:
        return self.name


# -- helpers -----------------------------------------------------------------------------------
def host(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def put(T, a: np.ndarray, device, requires_grad: bool = False):
    return T.tensor(a, device=device, requires_grad=requires_grad)


def submodule(parent, name: str):
    """``parent.name`` (importing it if needed), or Unavailable if it does not exist yet."""
    mod = getattr(parent, name, None)
    if mod is None:
        full = f"{parent.__name__}.{name}"
        try:
            mod = importlib.import_module(full)
        except ModuleNotFoundError as e:
            if e.name and full.startswith(e.name):
                raise Unavailable(f"{full} is not available yet") from None
            raise
    return mod


def attr(mod, name: str):
    value = getattr(mod, name, None)
    if value is None:
        raise Unavailable(f"{mod.__name__}.{name} is not available yet")
    return value


def nn_of(T):
    return submodule(T, "nn")


def functional_of(T):
    return submodule(nn_of(T), "functional")


def optim_of(T):
    return submodule(T, "optim")


def module_on(T, device, make):
    """A module built on the cpu with a fixed seed, then moved: every device gets the same
    weights (and the module needs no device random kernel)."""
    T.manual_seed(0)
    return make().to(device)
