"""Columns (wgtorch devices and peer libraries), timing, and the run that fills the dashboard.

Timing follows ``timeit``/``torch.utils.benchmark``: one untimed warm-up call (it compiles
kernels and fills caches), then samples of ``number`` back-to-back calls, each sample closed by
one device synchronisation, so the device's queue is drained inside the timed region but no
readback happens inside the loop. ``number`` is calibrated so a sample lasts a fraction of the
cell's time budget, and samples are taken until the budget is spent (at least ``min_samples``).
"""

from __future__ import annotations

import gc
import itertools
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .suites import Unavailable, Workload


@dataclass
class Column:
    """One column of timings: a wgtorch device or a peer library on a device."""

    key: str                 # "cpu", "wgpu:0", "cuda:0", "numpy", "torch:cpu", "torch:cuda"
    kind: str                # "wgtorch" or "peer"
    title: str               # short header
    detail: str = ""         # adapter name, backend, library version
    software: bool = False   # a software adapter (lavapipe, SwiftShader, WARP)

    @classmethod
    def from_json(cls, d: dict) -> Column:
        return cls(**{k: d[k] for k in ("key", "kind", "title", "detail", "software") if k in d})


@dataclass
class Result:
    """One cell. status: "ok" (timed; ``reason`` may hold a caveat), "n/a" (can't run here, with
    the reason), "error" (the workload raised: a bug)."""

    status: str
    median: float | None = None      # seconds per call
    q1: float | None = None
    q3: float | None = None
    stdev: float | None = None
    number: int = 0                  # calls per sample
    samples: list[float] = field(default_factory=list)
    reason: str = ""

    @property
    def iqr(self) -> float | None:
        return None if self.q1 is None else self.q3 - self.q1

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "", [])}

    @classmethod
    def from_json(cls, d: dict) -> Result:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @classmethod
    def from_samples(cls, samples: list[float], number: int) -> Result:
        ordered = sorted(samples)
        q1, median, q3 = _quartiles(ordered)
        stdev = statistics.stdev(ordered) if len(ordered) > 1 else 0.0
        return cls("ok", median, q1, q3, stdev, number, ordered)


def _quartiles(ordered: list[float]) -> tuple[float, float, float]:
    if len(ordered) == 1:
        return ordered[0], ordered[0], ordered[0]
    q1, median, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return q1, median, q3


@dataclass(frozen=True)
class Budget:
    """How long to time each cell."""

    seconds: float = 1.0        # wall time per cell, warm-up and calibration excluded
    target_samples: int = 10    # a sample lasts about seconds / target_samples
    min_samples: int = 5
    max_samples: int = 50
    max_number: int = 1_000_000


FULL = Budget()
QUICK = Budget(seconds=0.2, target_samples=5, min_samples=3, max_samples=15)
#: One call per sample, two samples, no calibration: the test-only knob (WGTORCH_BENCH_MINIMAL=1),
#: and what --quick gives heavy workloads on software adapters.
MINIMAL = Budget(seconds=0.0, target_samples=1, min_samples=2, max_samples=2, max_number=1)
SHRUNK_NOTE = "--quick, software adapter: 2 single-call samples"


def _noop() -> None:
    pass


def _timed(fn: Callable, sync: Callable, number: int) -> float:
    t0 = time.perf_counter()
    for _ in itertools.repeat(None, number):
        fn()
    sync()
    return time.perf_counter() - t0


def measure(fn: Callable, sync: Callable, budget: Budget) -> Result:
    """Time ``fn`` (seconds per call) closing every sample with ``sync()``."""
    gc.collect()
    fn()        # warm-up: kernel compiles, pipeline and bind-group caches, pool buckets
    sync()
    start = time.perf_counter()
    target = budget.seconds / budget.target_samples
    number = 1
    elapsed = _timed(fn, sync, number)
    # Calibrate: grow the calls per sample until a sample lasts at least half its share.
    while elapsed < target / 2 and number < budget.max_number:
        number = min(budget.max_number, max(number * 2, int(number * target / max(elapsed, 1e-9))))
        elapsed = _timed(fn, sync, number)
    samples = [elapsed / number]
    while len(samples) < budget.max_samples and (
            len(samples) < budget.min_samples or time.perf_counter() - start < budget.seconds):
        samples.append(_timed(fn, sync, number) / number)
    return Result.from_samples(samples, number)


# -- errors that mean "not here (yet)" rather than "broken" ------------------------------------
def classify(e: BaseException) -> tuple[str, str]:
    """("n/a", reason) for an op or module that does not exist yet, else ("error", message)."""
    text = str(e)
    if isinstance(e, Unavailable):
        return "n/a", text
    if isinstance(e, NotImplementedError):
        return "n/a", text or "not implemented"
    if isinstance(e, ModuleNotFoundError) and (e.name or "").startswith("wgtorch"):
        return "n/a", f"{e.name} is not available yet"
    if isinstance(e, AttributeError):
        m = re.search(r"'(\w*Backend)' object has no attribute '(\w+)'", text)
        if m:
            return "n/a", f"{m.group(1)} has no {m.group(2)}() yet"
        m = re.search(r"module '(wgtorch[\w.]*)' has no attribute '(\w+)'", text)
        if m:
            return "n/a", f"{m.group(1)}.{m.group(2)} is not available yet"
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return "error", f"{type(e).__name__}: {first_line}"[:200]


# -- columns -----------------------------------------------------------------------------------
PEER_NAMES = ("numpy", "torch", "torch:cpu", "torch:cuda")


def discover_columns(devices: list[str] | None = None) -> tuple[list[Column], list[str]]:
    """The columns this machine offers (filtered by ``--device`` names) and notes on what is
    missing. A name may be a wgtorch device ("cpu", "wgpu", "wgpu:1", "cuda") or a peer
    ("numpy", "torch", "torch:cpu", "torch:cuda"); peers are all kept unless one is named."""
    import numpy as np

    import wgtorch

    notes: list[str] = []
    cols = [Column("cpu", "wgtorch", "wgtorch cpu", "NumPy backend")]
    try:
        n_wgpu = wgtorch.wgpu.device_count()
    except Exception as e:  # a broken driver must not stop the dashboard
        n_wgpu = 0
        notes.append(f"wgpu: {e}")
    for i in range(n_wgpu):
        info = wgtorch.wgpu.get_device_properties(i)
        software = not wgtorch.wgpu.is_hardware(i)
        cols.append(Column(f"wgpu:{i}", "wgtorch", f"wgtorch wgpu:{i}",
                           f"{info['name']} · {info['backend_type']}" + (" · software" if software else ""),
                           software))
    if not n_wgpu:
        notes.append("wgpu: no adapter found")
    if wgtorch.cuda.is_available():
        for i in range(wgtorch.cuda.device_count()):
            cols.append(Column(f"cuda:{i}", "wgtorch", f"wgtorch cuda:{i}", wgtorch.cuda.get_device_name(i)))
    else:
        notes.append("cuda: not available (needs CuPy and an NVIDIA GPU)")

    cols.append(Column("numpy", "peer", "NumPy", f"numpy {np.__version__}"))
    try:
        import torch

        cols.append(Column("torch:cpu", "peer", "PyTorch cpu", f"torch {torch.__version__}"))
        if torch.cuda.is_available():
            cols.append(Column("torch:cuda", "peer", "PyTorch cuda", torch.cuda.get_device_name(0)))
    except ImportError:
        notes.append("PyTorch: not installed, no PyTorch columns")
    return _filter(cols, devices, notes), notes


def _filter(cols: list[Column], names: list[str] | None, notes: list[str]) -> list[Column]:
    if not names:
        return cols

    def matches(col: Column, name: str) -> bool:
        return col.key == name or col.key.split(":")[0] == name

    known = {"cpu", "wgpu", "cuda", *PEER_NAMES}
    for name in names:
        if not any(matches(c, name) for c in cols):
            if name.split(":")[0] not in known:
                raise ValueError(f"unknown device {name!r}: choose from {[c.key for c in cols]}")
            notes.append(f"{name}: requested but not available here")
    peers_named = any(n.split(":")[0] in ("numpy", "torch") for n in names)
    return [c for c in cols if any(matches(c, n) for n in names) or (c.kind == "peer" and not peers_named)]


def _device_sync(key: str) -> Callable:
    import wgtorch

    kind = key.partition(":")[0]
    if kind == "wgpu":
        return lambda: wgtorch.wgpu.synchronize(key)
    if kind == "cuda":
        return wgtorch.cuda.synchronize
    return _noop


def prepare(workload: Workload, column: Column) -> tuple[Callable, Callable] | None:
    """(callable, sync) for one cell, or None when the peer has no equivalent of the workload.
    Raises what the workload's setup raises (`classify` sorts it)."""
    if column.kind == "wgtorch":
        import wgtorch

        return workload.build(wgtorch, column.key), _device_sync(column.key)
    if column.key == "numpy":
        return (workload.numpy(), _noop) if workload.numpy is not None else None
    if not workload.torch_peer:
        return None
    import torch

    device = column.key.partition(":")[2]
    sync = torch.cuda.synchronize if device == "cuda" else _noop
    return workload.build(torch, device), sync


def run_cell(workload: Workload, column: Column, budget: Budget, quick: bool) -> Result | None:
    """Time one cell; never raises for a workload's failure (the dashboard must finish)."""
    shrunk = quick and workload.heavy and column.software
    try:
        prepared = prepare(workload, column)
        if prepared is None:
            return None
        result = measure(*prepared, MINIMAL if shrunk else budget)
        if shrunk:
            result.reason = SHRUNK_NOTE
        return result
    except Exception as e:
        status, reason = classify(e)
        return Result(status, reason=reason)
