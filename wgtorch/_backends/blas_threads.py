"""NumPy's BLAS threads around the "cpu" backend's matrix products (``array.py`` matmul, ``array_attention.py``).

Products below `SMALL_GEMM` multiply-adds per matrix run on one BLAS thread; larger ones keep the thread count
NumPy's BLAS was given. Why (benches/RESULTS.md, "2026-12-02 cpu attention"; this 2-core machine at load 7-11):
a (512, 128) x (128, 512) product took 21 ms on one OpenBLAS thread and 92 ms on two, the attention's per-head
(256, 64) x (64, 256) batch of 64 took 11-36 ms on one and 46-180 ms on two (OpenBLAS' threads spin-wait on shared
cores), while a 1000^3 product took 408 ms on one and 388 ms on two (a second thread pays off only for large
products, and only on a machine with a core to spare). Without threadpoolctl, or on CuPy, threads are left alone.

The limit is process-wide (OpenBLAS has one thread count): nested and concurrent products share one saved count,
restored when the last of them ends.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

try:  # optional: without it BLAS threads are left as they are
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - depends on the environment
    ThreadpoolController = None

#: multiply-adds per matrix (m * n * k) below which a product runs on one BLAS thread
SMALL_GEMM = 1 << 26

_LOCK = threading.Lock()
_STATE = {"libs": None, "depth": 0, "saved": ()}


def _libs() -> list:
    """NumPy's BLAS libraries' threadpoolctl controllers (found once; [] without threadpoolctl)."""
    if _STATE["libs"] is None:
        libs = []
        if ThreadpoolController is not None:
            blas = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
            libs = [c for c in blas if "numpy" in str(c.filepath)] or blas
        _STATE["libs"] = libs
    return _STATE["libs"]


@contextlib.contextmanager
def one_blas_thread():
    """NumPy's BLAS on one thread inside the block (a no-op without threadpoolctl)."""
    libs = _libs()
    if not libs:
        yield
        return
    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["saved"] = tuple(c.get_num_threads() for c in libs)
            for c in libs:
                c.set_num_threads(1)
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                for c, n in zip(libs, _STATE["saved"]):
                    c.set_num_threads(n)


def blas_threads_for(xp, m: int, n: int, k: int):
    """The context a NumPy product of (m, k) x (k, n) matrices runs in: one BLAS thread where it is small."""
    if xp is not np or m * n * k >= SMALL_GEMM:
        return contextlib.nullcontext()
    return one_blas_thread()


__all__ = ["SMALL_GEMM", "one_blas_thread", "blas_threads_for"]
