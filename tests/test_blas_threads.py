"""The "cpu" backend's BLAS thread limit (``_backends/blas_threads.py``): small products run on one thread, large
ones keep NumPy's count, and the count is restored after nested and concurrent products."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from wgtorch._backends import blas_threads as B
from wgtorch._backends.array import numpy_backend

pytestmark = pytest.mark.skipif(not B._libs(), reason="threadpoolctl or NumPy's BLAS not found")


def _counts():
    return tuple(c.get_num_threads() for c in B._libs())


def test_small_products_run_on_one_thread_and_restore(monkeypatch):
    before = _counts()
    seen = []
    with B.blas_threads_for(np, 64, 64, 64):
        seen.append(_counts())
        with B.one_blas_thread():  # nested: still one, and the outer exit restores
            seen.append(_counts())
        seen.append(_counts())
    assert all(s == (1,) * len(before) for s in seen)
    assert _counts() == before
    with B.blas_threads_for(np, 1 << 10, 1 << 10, 1 << 10):  # large: left alone
        assert _counts() == before


def test_concurrent_products_restore_the_count():
    before = _counts()
    be = numpy_backend()
    a = np.random.default_rng(0).standard_normal((3, 40, 30)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((3, 30, 20)).astype(np.float32)
    want = np.matmul(a, b)
    errors = []

    def work():
        for _ in range(50):
            if not np.allclose(be.matmul(a, b), want, rtol=1e-5, atol=1e-5):
                errors.append("wrong product")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and _counts() == before and B._STATE["depth"] == 0


def test_an_exception_inside_restores_the_count():
    before = _counts()
    with pytest.raises(ValueError):
        with B.one_blas_thread():
            raise ValueError("inside")
    assert _counts() == before and B._STATE["depth"] == 0
