"""Several threads on one wgpu device: op chains, first use, finalisers during allocation.

A thread that hangs fails its test through a join timeout; where a hang would leave a lock held
that later tests need, the test runs on a runtime of its own."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import wgtorch as torch
from wgtorch import _device

pytestmark = pytest.mark.usefixtures("wgpu_device")
ROOT = Path(__file__).resolve().parents[1]


def _run_threads(target, n: int, timeout: float = 120.0) -> list:
    """Run ``target(i)`` on ``n`` threads started together; the errors they raised."""
    errors: list = []
    start = threading.Barrier(n)

    def body(i):
        try:
            start.wait()
            target(i)
        except BaseException as e:  # reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


def test_four_threads_run_independent_op_chains_with_correct_values():
    def chain(seed):
        rng = np.random.default_rng(seed)
        for it in range(25):
            a = rng.standard_normal((6, 5)).astype(np.float32)
            b = rng.standard_normal((5, 4)).astype(np.float32)
            idx = rng.integers(0, 6, 7)
            x, w = torch.tensor(a, device="wgpu"), torch.tensor(b, device="wgpu")
            y = x
            for _ in range(10):  # enough recorded work to interleave with the other threads
                y = (y * 0.5 + 1.0).relu()
            expect_y = a
            for _ in range(10):
                expect_y = np.maximum(expect_y * np.float32(0.5) + np.float32(1.0), 0)
            z = (y @ w).index_select(0, torch.tensor(idx, device="wgpu"))
            np.testing.assert_allclose(z.numpy(), (expect_y @ b)[idx], rtol=1e-4, atol=1e-4)
            s = x.sum(1)
            np.testing.assert_allclose(s.numpy(), a.sum(1), rtol=1e-4, atol=1e-4)
            if it % 5 == 0:
                torch.wgpu.synchronize()
            assert (x * 0 + seed).max().item() == seed

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, inside the runtime's critical sections too
    try:
        assert _run_threads(chain, 4) == []
    finally:
        sys.setswitchinterval(interval)
    gc.collect()
    assert (torch.ones(3, device="wgpu") * 2).numpy().tolist() == [2, 2, 2]  # still usable


def test_threads_freeing_each_others_tensors_keep_the_pool_consistent():
    shared = [torch.full((64,), float(i), device="wgpu") for i in range(40)]
    torch.wgpu.synchronize()
    before = torch.wgpu.memory_allocated()

    def churn(i):
        for k in range(60):
            t = shared[(i * 7 + k) % len(shared)] + 1  # tensors die on whichever thread drops them
            assert t[0].item() == (i * 7 + k) % len(shared) + 1

    assert _run_threads(churn, 4) == []
    gc.collect()
    torch.wgpu.synchronize()
    assert torch.wgpu.memory_allocated() == before


class _SlowBackend:
    """Stands in for WgpuBackend: slow to create, so two threads overlap in get_backend."""

    made = 0

    def __init__(self, index):
        time.sleep(0.05)
        type(self).made += 1


def test_two_threads_reaching_a_device_at_once_get_one_backend(monkeypatch):
    import wgtorch._backends.wgpu as wgpu_backend

    d = torch.device("wgpu", 7)  # no such adapter: only the fake is ever created
    monkeypatch.setattr(wgpu_backend, "WgpuBackend", _SlowBackend)
    monkeypatch.delitem(_device._backends, d, raising=False)
    got = []
    try:
        assert _run_threads(lambda i: got.append(_device.get_backend("wgpu:7")), 4) == []
    finally:
        _device._backends.pop(d, None)
    assert len(got) == 4 and all(b is got[0] for b in got)
    assert _SlowBackend.made == 1


_FIRST_USE = """
import threading, numpy as np, wgtorch as torch
barrier, out = threading.Barrier(2), {}
def first(i):
    barrier.wait()
    out[i] = torch.full((4,), float(i + 1), device="wgpu")
ts = [threading.Thread(target=first, args=(i,)) for i in range(2)]
[t.start() for t in ts]
[t.join() for t in ts]
assert out[0]._be is out[1]._be
print((out[0] + out[1]).numpy().tolist())
"""


def test_first_use_of_wgpu_from_two_threads_in_a_fresh_process():
    done = subprocess.run([sys.executable, "-c", _FIRST_USE], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[3.0, 3.0, 3.0, 3.0]"


def test_a_collection_during_allocation_does_not_deadlock(monkeypatch):
    # A Storage in a reference cycle dies only in a collection; force one while the pool's lock
    # is held (inside alloc). Its finaliser must not wait for that lock. A runtime of its own,
    # so that a hang here cannot leave the shared device's pool locked.
    from wgtorch._backends.wgpu.runtime import Runtime, Storage

    rt = Runtime(0)
    pool = rt.pool
    count_alloc = pool._count_alloc

    def collect_then_count(block):
        gc.collect()
        count_alloc(block)

    def run(_):
        cycle = [Storage(rt, 1024)]
        cycle.append(cycle)
        del cycle
        monkeypatch.setattr(pool, "_count_alloc", collect_then_count)
        Storage(rt, 1024)

    assert _run_threads(run, 1, timeout=30) == []
    monkeypatch.undo()
    rt.reclaim()
    assert pool.stats()["allocated_bytes.all.current"] == 0  # both blocks came back


def test_a_collection_inside_recording_returns_blocks_only_when_safe(monkeypatch):
    # A finaliser that runs in the middle of a dispatch (same thread, lock held) must neither
    # block nor recycle a block that the open batch still reads.
    x = torch.full((256,), 3.0, device="wgpu")
    rt = x._be.rt
    y = x * 2  # recorded: reads x's block
    cycle = [x]
    cycle.append(cycle)
    del x, cycle
    bind_group = rt._bind_group

    def collect_then_bind(p, buffers):
        gc.collect()
        return bind_group(p, buffers)

    monkeypatch.setattr(rt, "_bind_group", collect_then_bind)
    z = y + 1
    monkeypatch.undo()
    fresh = torch.tensor(np.full(256, -1.0, np.float32), device="wgpu")  # may reuse a free block
    assert rt._pending_free  # x's block waits for the batch that reads it
    assert z.numpy().tolist() == [7.0] * 256
    assert fresh.numpy().tolist() == [-1.0] * 256
