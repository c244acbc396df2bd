"""The wgpu runtime: batching, the buffer pool, caches, write ordering, limits and errors."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import wgtorch as torch
from tests.helpers import assert_close

pytestmark = pytest.mark.usefixtures("wgpu_device")


def rt():
    return torch.zeros(1, device="wgpu")._be.rt


def test_memory_returns_to_the_pool_when_tensors_die():
    gc.collect()  # tensors of earlier tests must not die in the middle of the measurement
    torch.wgpu.synchronize()
    before = torch.wgpu.memory_allocated()
    xs = [torch.ones(1000, device="wgpu") * i for i in range(10)]
    assert torch.wgpu.memory_allocated() >= before + 10 * 4000
    del xs
    gc.collect()
    torch.wgpu.synchronize()  # blocks held back for recorded work return on submit
    assert torch.wgpu.memory_allocated() == before


def test_a_loop_of_1000_ops_does_not_grow_allocated_memory():
    x = torch.ones(256, device="wgpu")
    torch.wgpu.synchronize()
    start = torch.wgpu.memory_allocated()
    y = x
    for _ in range(1000):
        y = y * 1.0001 + 0.0001
    torch.wgpu.synchronize()
    assert torch.wgpu.memory_allocated() == start + 1024  # only y itself (one 256-float block)
    assert abs(y[0].item() - (2 * 1.0001**1000 - 1)) < 1e-3  # y + 1 doubles 1.0001^n


def test_pool_reuse_never_corrupts_pending_work():
    # `a` dies while the kernel reading it is recorded but not submitted. A new upload must not
    # land in a's block before that kernel runs (write_buffer jumps ahead of recorded work).
    for _ in range(20):
        a = torch.tensor(np.full(64, 3.0, np.float32), device="wgpu")
        b = a + 1
        del a
        c = torch.tensor(np.full(64, -7.0, np.float32), device="wgpu")
        assert_close(b, np.full(64, 4.0, np.float32))
        assert_close(c, np.full(64, -7.0, np.float32))


def test_write_into_a_buffer_used_by_recorded_work_flushes_first():
    r = rt()
    a = torch.tensor(np.full(16, 2.0, np.float32), device="wgpu")
    b = a * 10  # recorded, reads a
    data = np.full(16, 5.0, np.float32).tobytes()
    r.write(a._data.buffer, a._data.storage.block.offset, data)  # must not overtake b's kernel
    assert_close(b, np.full(16, 20.0, np.float32))
    assert_close(a, np.full(16, 5.0, np.float32))


def test_ops_are_batched_until_the_host_needs_data():
    r = rt()
    torch.wgpu.synchronize()
    submits = r.stats["submits"]
    x = torch.ones(32, device="wgpu")
    for _ in range(100):
        x = x + 1
    assert r.stats["submits"] == submits  # nothing submitted yet
    assert x[0].item() == 101.0
    assert r.stats["submits"] <= submits + 2


def test_steady_state_hits_pipeline_and_bind_group_caches():
    r = rt()
    x = torch.ones(100, device="wgpu")

    def step():
        y = x
        for _ in range(50):
            y = (y * 1.01 - 0.5).relu() + x
        return y.sum().item() if hasattr(r, "reduce") else y[0].item()

    for _ in range(3):
        step()
    before = dict(r.stats)
    for _ in range(5):
        step()
    d = {k: r.stats[k] - before[k] for k in before}
    assert d["pipeline_misses"] == 0
    assert d["bind_group_hits"] / (d["bind_group_hits"] + d["bind_group_misses"]) >= 0.99


def test_empty_cache_releases_free_memory():
    xs = [torch.ones(300_000, device="wgpu") for _ in range(4)]  # large: own buffers
    del xs
    gc.collect()
    torch.wgpu.synchronize()
    reserved = torch.wgpu.memory_reserved()
    torch.wgpu.empty_cache()
    assert torch.wgpu.memory_reserved() < reserved
    stats = torch.wgpu.memory_stats()
    for key in ("allocated_bytes.all.current", "reserved_bytes.all.current", "num_alloc_hits",
                "runtime.bind_group_hits", "runtime.pipeline_hits"):
        assert key in stats
    assert_close(torch.ones(3, device="wgpu") * 2, np.full(3, 2, np.float32))  # still works


def test_tensor_beyond_the_binding_limit_raises_a_clear_error():
    limit = rt().max_binding
    with pytest.raises(RuntimeError, match="max storage buffer binding size"):
        torch.empty(limit // 4 + 1, device="wgpu")
    assert_close(torch.ones(2, device="wgpu"), np.ones(2, np.float32))


def test_a_kernel_that_fails_to_compile_names_itself_and_the_device_survives(monkeypatch):
    from wgtorch.ops.elementwise_defs import OPS
    from wgtorch.ops.registry import Elementwise

    monkeypatch.setitem(OPS, "broken_op", Elementwise("broken_op", "", "copy(a)", "this is not wgsl("))
    x = torch.ones(3, device="wgpu")
    with pytest.raises(torch.KernelCompileError, match="elementwise:broken_op"):
        x._be.elementwise("broken_op", [x._data], torch.float32, torch.float32)
    assert_close(x + 1, np.full(3, 2, np.float32))


def test_adapter_selection_by_name(monkeypatch):
    from wgtorch.backends.wgpu.runtime import list_adapters

    monkeypatch.setenv("WGTORCH_ADAPTER", "no-such-adapter-name")
    with pytest.raises(RuntimeError, match="matches no adapter"):
        list_adapters()
    monkeypatch.setenv("WGTORCH_ADAPTER", torch.wgpu.get_device_name()[:6])
    assert list_adapters()


def test_wgpu_module_reports_the_device():
    assert torch.wgpu.is_available() and torch.wgpu.device_count() >= 1
    props = torch.wgpu.get_device_properties()
    assert props["limits"]["max-compute-workgroups-per-dimension"] >= 65535
    torch.wgpu.synchronize()
    torch.wgpu.reset_peak_memory_stats()
    assert torch.wgpu.max_memory_allocated() == torch.wgpu.memory_allocated()


def test_pool_is_thread_safe():
    import threading

    pool = rt().pool
    torch.wgpu.synchronize()
    before = pool.stats()["allocated_bytes.all.current"]
    errors = []

    def churn(seed):
        try:
            for k in range(300):
                blocks = [pool.alloc(256 * (1 + (seed + k + j) % 7)) for j in range(4)]
                for b in blocks:
                    pool.free(b)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=churn, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert pool.stats()["allocated_bytes.all.current"] == before


def test_out_of_memory_is_a_clear_error_and_the_device_survives(monkeypatch):
    pool = rt().pool

    def refuse(**kwargs):
        raise RuntimeError("simulated allocation failure")

    monkeypatch.setattr(pool.device, "create_buffer", refuse)
    with pytest.raises(torch.OutOfMemoryError, match="could not allocate"):
        torch.empty(2_000_000, device="wgpu")  # large: needs a buffer of its own
    monkeypatch.undo()
    assert_close(torch.ones(2_000_000, device="wgpu")[-3:] * 2, np.full(3, 2, np.float32))
