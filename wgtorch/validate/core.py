"""The validator's machinery: kernels, cases, comparison with the NumPy reference, timing.

A *kernel* (one WGSL kernel or one op of a kernel family) has *cases*. A case's ``make(be)``
uploads its inputs to backend ``be`` and returns a thunk that runs the kernel and returns its
output arrays. Each case runs on the NumPy backend (the reference) and on the device under test,
and the outputs must agree: same shape, NaN and infinity in the same places, finite values
within ``atol + rtol * |reference|``, integers and booleans exactly.
"""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._dtype import dtype


@dataclass
class Case:
    """One input configuration of a kernel."""

    label: str
    make: Callable                # be -> (() -> array | tuple of arrays)
    rtol: float = 1e-5
    atol: float = 1e-6
    large: bool = False           # the slow case past 65,535 workgroups (--no-large skips it)


@dataclass
class Kernel:
    family: str
    name: str
    cases: list[Case]
    timed: int = -1               # index of the case whose kernel time is reported
    requires: str = ""            # adapter feature needed (e.g. "shader-f16")


@dataclass
class CaseFailure:
    label: str
    message: str


@dataclass
class Outcome:
    """A kernel's result on one device."""

    family: str
    name: str
    status: str                   # "PASS", "FAIL" or "SKIP"
    cases: int = 0
    failures: list[CaseFailure] = field(default_factory=list)
    max_abs: float = 0.0
    max_rel: float = 0.0
    time_s: float | None = None
    note: str = ""

    def to_json(self) -> dict:
        d = dict(vars(self))
        d["failures"] = [vars(f) for f in self.failures]
        return d


def put(be, host: np.ndarray, dt: dtype):
    """Upload a host array as ``dt`` (converted first, as the front end does)."""
    return be.from_numpy(np.ascontiguousarray(np.asarray(host).astype(dt.np)), dt)


def _as_list(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def compare(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> tuple[str | None, float, float]:
    """(None or what is wrong, max abs error, max rel error) of ``got`` against ``want``."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"shape {got.shape} != reference {want.shape}", 0.0, 0.0
    if want.dtype.kind in "biu" or got.dtype.kind in "biu":
        if want.dtype.kind == "b" or got.dtype.kind == "b":
            got, want = got.astype(bool), want.astype(bool)
        bad = got != want
        if bad.any():
            err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
            i = np.argwhere(bad)[0]
            return (f"{int(bad.sum())} of {bad.size} differ, first at {tuple(int(v) for v in i)}: "
                    f"{got[tuple(i)]} != {want[tuple(i)]}"), err, err
        return None, 0.0, 0.0
    g, w = got.astype(np.float64), want.astype(np.float64)
    nan_g, nan_w = np.isnan(g), np.isnan(w)
    if (nan_g != nan_w).any():
        i = tuple(int(v) for v in np.argwhere(nan_g != nan_w)[0])
        return f"NaN mismatch at {i}: {got[i]} vs reference {want[i]}", 0.0, 0.0
    inf_g, inf_w = np.isinf(g), np.isinf(w)
    if (inf_g != inf_w).any() or (g[inf_w] != w[inf_w]).any():
        i = tuple(int(v) for v in np.argwhere((inf_g != inf_w) | (inf_w & (g != w)))[0])
        return f"infinity mismatch at {i}: {got[i]} vs reference {want[i]}", 0.0, 0.0
    finite = ~(nan_w | inf_w)
    if not finite.any():
        return None, 0.0, 0.0
    diff = np.abs(g[finite] - w[finite])  # only where both are comparable numbers
    ref = np.abs(w)[finite]
    max_abs = float(diff.max())
    # Relative error where it means something: values at or below atol are judged absolutely
    # (a flushed denormal has relative error 1 and absolute error 1e-39).
    meaningful = ref > max(atol, np.finfo(np.float32).tiny)
    max_rel = float((diff[meaningful] / ref[meaningful]).max()) if meaningful.any() else 0.0
    bad = diff > atol + rtol * ref
    if bad.any():
        k = int(np.argmax(bad))
        i = tuple(int(v) for v in np.argwhere(finite)[k])
        return (f"{int(bad.sum())} of {diff.size} values off (atol {atol:g}, rtol {rtol:g}); first at {i}: "
                f"{got[i]!r} vs reference {want[i]!r}"), max_abs, max_rel
    return None, max_abs, max_rel


def _short(e: BaseException) -> str:
    """The exception on one line (a compile error's detail is on the lines after the first)."""
    text = " / ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
    return f"{type(e).__name__}: {text}"[:400]


def time_thunk(thunk: Callable, be, repeats: int = 3, region_s: float = 2e-3, max_calls: int = 50) -> float:
    """Seconds per launch of ``thunk()``: the median of ``repeats`` regions of back-to-back
    launches closed by one device synchronisation, sized to last about ``region_s``."""
    def region(calls: int) -> float:
        be.synchronize()
        t0 = time.perf_counter()
        for _ in range(calls):
            thunk()
        be.synchronize()
        return (time.perf_counter() - t0) / calls

    calls = min(max_calls, max(1, int(region_s / max(region(1), 1e-9))))
    return statistics.median(region(calls) for _ in range(repeats))


def run_kernel(kernel: Kernel, be, ref_be, *, large: bool = True, features=()) -> Outcome:
    """Run every case of ``kernel`` on ``be`` and on the NumPy reference ``ref_be``."""
    out = Outcome(kernel.family, kernel.name, "PASS")
    if kernel.requires and kernel.requires not in features:
        out.status, out.note = "SKIP", f"adapter lacks {kernel.requires}"
        return out
    timed_thunk = None
    cases = [c for c in kernel.cases if large or not c.large]
    regular = [c for c in kernel.cases if not c.large]
    timed_case = regular[kernel.timed] if regular else None
    for case in cases:
        try:
            want = [np.asarray(ref_be.to_numpy(a)) for a in _as_list(case.make(ref_be)())]
        except Exception as e:  # the check itself is wrong: say so rather than pass
            out.failures.append(CaseFailure(case.label, f"reference failed: {_short(e)}"))
            continue
        try:
            thunk = case.make(be)
            got = [np.asarray(be.to_numpy(a)) for a in _as_list(thunk())]
        except Exception as e:
            detail = traceback.extract_tb(e.__traceback__)[-1]
            out.failures.append(CaseFailure(case.label, f"{_short(e)} ({detail.filename.split('/')[-1]}:"
                                                        f"{detail.lineno})"))
            continue
        out.cases += 1
        if len(got) != len(want):
            out.failures.append(CaseFailure(case.label, f"{len(got)} outputs, reference has {len(want)}"))
            continue
        for k, (g, w) in enumerate(zip(got, want)):
            problem, max_abs, max_rel = compare(g, w, case.rtol, case.atol)
            out.max_abs, out.max_rel = max(out.max_abs, max_abs), max(out.max_rel, max_rel)
            if problem:
                which = f" output {k}" if len(want) > 1 else ""
                out.failures.append(CaseFailure(case.label, f"{problem}{which}"))
        if case is timed_case:
            timed_thunk = thunk
    if out.failures:
        out.status = "FAIL"
    elif timed_thunk is not None:
        try:
            out.time_s = time_thunk(timed_thunk, be)
        except Exception as e:
            out.status = "FAIL"
            out.failures.append(CaseFailure("timing", _short(e)))
    return out
