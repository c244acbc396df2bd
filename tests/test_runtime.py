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
    from wgtorch._backends.wgpu.runtime import list_adapters

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


def test_pool_free_never_waits_for_the_lock():
    # A finaliser may free a block on the thread that holds the pool's lock (a collection inside
    # alloc) or while another thread holds it: the free is queued, not a deadlock. A pool of its
    # own, so that a hang cannot lock the shared device's pool.
    import threading

    from wgtorch._backends.wgpu.pool import BufferPool

    r = rt()
    pool = BufferPool(r.device, "test", r.max_binding, 1 << 20)
    first = pool.alloc(1000)
    count_alloc = pool._count_alloc

    def free_first_then_count(block):
        pool.free(first)  # the lock is held here
        count_alloc(block)

    pool._count_alloc = free_first_then_count
    t = threading.Thread(target=pool.alloc, args=(1000,), daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "free waited for the lock its own thread holds"
    del pool._count_alloc
    stats = pool.stats()  # applies the queued free
    assert stats["allocated_bytes.all.current"] == 1024 and stats["num_frees"] == 1


def test_pool_under_concurrent_alloc_free_stats_and_empty_cache():
    import threading

    from wgtorch._backends.wgpu.pool import BufferPool

    r = rt()
    pool = BufferPool(r.device, "test", r.max_binding, 1 << 20)
    live: dict = {}
    errors = []

    def churn(seed):
        rng = np.random.default_rng(seed)
        try:
            for k in range(200):
                sizes = rng.integers(1, 9, 4) * 300
                sizes[0] = 1_500_000 if k % 50 == 0 else sizes[0]  # now and then a buffer of its own
                blocks = [pool.alloc(int(n)) for n in sizes]
                for b in blocks:  # no block may be handed out twice
                    key = (b.buffer.serial, b.offset)
                    assert live.setdefault(key, seed) == seed, "a block was handed out twice"
                for b in blocks:
                    del live[(b.buffer.serial, b.offset)]
                    pool.free(b)
                if k % 40 == seed:
                    pool.empty_cache()
                pool.stats()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=churn, args=(s,), daemon=True) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads) and not errors
    stats = pool.stats()
    assert stats["allocated_bytes.all.current"] == 0
    assert stats["num_frees"] == stats["num_alloc_hits"] + stats["num_alloc_misses"] == 4 * 200 * 4
    assert stats["cached_bytes"] <= stats["reserved_bytes.all.current"]
    pool.empty_cache()
    assert pool.stats()["reserved_bytes.all.current"] == 0


def test_memory_allocated_drops_when_a_tensor_dies():
    x = torch.ones(1000, device="wgpu")
    torch.wgpu.synchronize()
    before = torch.wgpu.memory_allocated()
    del x  # no recorded work uses it: its block is free at once, as on CUDA
    assert torch.wgpu.memory_allocated() == before - 4096


# -- errors reported by kernels, and by the host where no kernel runs ------------------------------
def _idx(values):
    return torch.tensor(np.array(values, np.int64), device="wgpu")


def test_index_ops_on_an_empty_dimension_raise_at_once_like_pytorch():
    # PyTorch (CPU): RuntimeError for all three; nothing may be left to surface at a later read.
    ones = torch.ones(2, 1, device="wgpu")
    with pytest.raises(RuntimeError, match="out of bounds for dimension 0 with size 0"):
        torch.zeros(0, device="wgpu").scatter_add(0, _idx([0]), torch.ones(1, device="wgpu"))
    with pytest.raises(RuntimeError, match="out of bounds for dimension 1 with size 0"):
        torch.zeros(2, 0, device="wgpu").scatter_add(1, _idx([[0], [0]]), ones)
    with pytest.raises(RuntimeError, match="out of bounds for dimension 1 with size 0"):
        torch.zeros(2, 0, device="wgpu").gather(1, _idx([[0], [0]]))
    with pytest.raises(RuntimeError, match="self indexing axis dim should be positive"):
        torch.zeros(0, 3, device="wgpu").index_select(0, _idx([0]))
    assert torch.ones(2, device="wgpu").sum().item() == 2.0  # no deferred report is pending
    # empty indices stay fine, as in PyTorch
    assert tuple(torch.zeros(0, device="wgpu").scatter_add(0, _idx([]), torch.ones(1, device="wgpu")).shape) == (0,)
    assert tuple(torch.zeros(0, 3, device="wgpu").index_select(0, _idx([])).shape) == (0, 3)


def test_index_select_with_an_empty_result_still_checks_its_index():
    # No kernel runs (the output has no elements), so the host checks; PyTorch raises RuntimeError.
    x = torch.zeros(0, 4, device="wgpu")
    assert tuple(x.index_select(1, _idx([3, 0])).shape) == (0, 2)
    with pytest.raises(RuntimeError, match="index 7 is out of bounds for dimension 1 with size 4"):
        x.index_select(1, _idx([1, 7]))
    torch.wgpu.synchronize()


def test_several_pending_device_errors_are_all_named():
    x = torch.arange(12, dtype=torch.float32, device="wgpu").reshape(4, 3)
    a = x.index_select(0, _idx([0, 9]))
    b = x.gather(1, _idx([[0], [5], [1], [2]]))
    c = x.scatter_add(0, _idx([[-2, 0, 0]]), torch.ones(1, 3, device="wgpu"))
    fine = x * 2
    with pytest.raises(RuntimeError) as info:  # PyTorch's types differ per op (IndexError, RuntimeError)
        torch.wgpu.synchronize()
    text = str(info.value)
    assert text.startswith("3 device-side errors")
    for part in ("index_select on wgpu met index 9 for dimension 0 of size 4",
                 "index 5 is out of bounds for dimension 1 with size 3: gather on wgpu",
                 "index -2 is out of bounds for dimension 0 with size 4: scatter_add on wgpu"):
        assert part in text
    torch.wgpu.synchronize()  # reported once
    assert_close(fine, np.arange(12, dtype=np.float32).reshape(4, 3) * 2)
    assert a.shape == (2, 3) and b.shape == (4, 1) and c.shape == (4, 3)


def test_a_kernel_without_a_slot_and_index_kernels_are_reported_together():
    # cross_entropy reports in the shared slot 0, the index kernels in slots of their own.
    logits = torch.zeros(2, 3, device="wgpu")
    loss = torch.nn.functional.cross_entropy(logits, _idx([0, 3]))
    picked = logits.t().index_select(0, _idx([4]))  # (dim 0: IndexError, as cross_entropy's report)
    with pytest.raises(IndexError) as info:
        loss.item()
    assert "2 device-side errors" in str(info.value)
    assert "Target 3 is out of bounds" in str(info.value) and "index_select on wgpu met index 4" in str(info.value)
    assert picked.shape == (1, 2)
    assert torch.ones(1, device="wgpu").item() == 1.0


def test_more_failing_ops_than_error_slots_are_counted():
    from wgtorch._backends.wgpu.runtime import ERROR_SLOTS

    x = torch.ones(3, device="wgpu")
    bad = _idx([3])
    outs = [x.index_select(0, bad) for _ in range(ERROR_SLOTS + 5)]
    with pytest.raises(IndexError) as info:
        torch.wgpu.synchronize()
    text = str(info.value)
    assert text.startswith(f"{ERROR_SLOTS - 1} device-side errors")
    assert "7 ops checked since the last read shared the last slot" in text
    assert len(outs) == ERROR_SLOTS + 5
    torch.wgpu.synchronize()


def test_a_read_on_another_thread_reports_a_pending_error_once():
    import threading

    x = torch.ones(3, device="wgpu")
    y = x.index_select(0, _idx([5]))
    caught = []

    def read():
        try:
            torch.wgpu.synchronize()
        except IndexError as e:
            caught.append(e)

    t = threading.Thread(target=read)
    t.start()
    t.join(60)
    assert len(caught) == 1 and "met index 5" in str(caught[0])
    torch.wgpu.synchronize()
    assert y.shape == (1,)
