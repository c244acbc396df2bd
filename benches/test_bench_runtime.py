"""Runtime benchmarks (issue 3's targets; targets live here, never in asserts):

- host overhead: a chain of 1,000 small elementwise ops on wgpu, timed up to (not including) the
  final sync — target <= 15 us per op on the 2-core development machine — beside NumPy (and
  PyTorch CPU when installed) doing the same chain in the same run;
- bandwidth: add of 1e7 float32 on wgpu, target >= 1.5 GB/s effective on lavapipe (12 bytes moved
  per element), beside NumPy;
- steady state: pipeline and bind-group cache hit rates in a loop that repeats the same ops
  (target >= 99 %), recorded in extra_info;
- eager host cost per small op: `a + b` of 64 and 4,096 float32, with and without requires_grad,
  on wgpu, wgtorch cpu and PyTorch CPU in the same run (target: wgpu <= 3x PyTorch CPU). On a
  loaded machine add ``--benchmark-timer=time.process_time``: recording is host work (no kernel
  runs in the timed region), and CPU time does not count the time other processes hold the cores.

Run: .venv/bin/pytest benches/test_bench_runtime.py --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch as torch

CHAIN = 1000
needs_wgpu = pytest.mark.skipif(not torch.wgpu.is_available(), reason="no wgpu adapter")


def _median(benchmark) -> float:
    """The benchmark's median in seconds (NaN under --benchmark-disable, which keeps no stats)."""
    stats = getattr(benchmark, "stats", None)
    return stats.stats.median if stats else float("nan")


def _chain(x):
    for _ in range(CHAIN // 2):
        x = x * 1.0001
        x = x + 0.0001
    return x


@needs_wgpu
def test_host_overhead_chain_wgpu(benchmark):
    x = torch.ones(100, device="wgpu")
    _chain(x)
    torch.wgpu.synchronize()
    # The sync of the previous round runs in setup, untimed: the timed region is recording only.
    benchmark.pedantic(_chain, args=(x,), setup=torch.wgpu.synchronize, rounds=30, warmup_rounds=2)
    benchmark.extra_info["us_per_op"] = _median(benchmark) / CHAIN * 1e6
    benchmark.extra_info["adapter"] = torch.wgpu.get_device_name()


def test_host_overhead_chain_numpy(benchmark):
    x = np.ones(100, np.float32)
    benchmark(_chain, x)
    benchmark.extra_info["us_per_op"] = _median(benchmark) / CHAIN * 1e6


def test_host_overhead_chain_wgtorch_cpu(benchmark):
    x = torch.ones(100)
    benchmark(_chain, x)
    benchmark.extra_info["us_per_op"] = _median(benchmark) / CHAIN * 1e6


def test_host_overhead_chain_torch_cpu(benchmark):
    pt = pytest.importorskip("torch")
    x = pt.ones(100)
    benchmark(_chain, x)
    benchmark.extra_info["us_per_op"] = _median(benchmark) / CHAIN * 1e6


N_ADD = 10_000_000


@needs_wgpu
def test_add_1e7_wgpu(benchmark):
    a = torch.rand(N_ADD, device="wgpu") if hasattr(torch.zeros(1, device="wgpu")._be, "random") \
        else torch.ones(N_ADD, device="wgpu")
    b = a * 0.5

    def add():
        c = a + b
        torch.wgpu.synchronize()
        return c

    add()
    benchmark.pedantic(add, rounds=5, warmup_rounds=1)
    benchmark.extra_info["GB_per_s"] = 12 * N_ADD / _median(benchmark) / 1e9


def test_add_1e7_numpy(benchmark):
    a = np.random.default_rng(0).random(N_ADD, dtype=np.float32)
    b = a * 0.5
    benchmark(np.add, a, b)
    benchmark.extra_info["GB_per_s"] = 12 * N_ADD / _median(benchmark) / 1e9


@needs_wgpu
def test_steady_state_cache_hits(benchmark):
    rt = torch.zeros(1, device="wgpu")._be.rt
    x = torch.ones(64, device="wgpu")

    def step():
        y = x
        for _ in range(20):
            y = (y * 1.01 - 0.5).relu() + x
        return y[0].item()

    for _ in range(3):
        step()
    before = dict(rt.stats)
    benchmark.pedantic(step, rounds=20)
    d = {k: rt.stats[k] - before[k] for k in before}
    benchmark.extra_info["pipeline_hit_rate"] = d["pipeline_hits"] / max(1, d["pipeline_hits"] + d["pipeline_misses"])
    benchmark.extra_info["bind_group_hit_rate"] = d["bind_group_hits"] / max(
        1, d["bind_group_hits"] + d["bind_group_misses"])


# -- eager host cost per small op (issue "one definition per op"): `a + b` on small tensors, the
# time to record one op (wgpu: up to, not including, the sync; run untimed in setup), beside the
# same op on wgtorch's cpu device and on PyTorch CPU in the same run. Target: wgpu <= 3x PyTorch CPU.
SMALL_OPS = 200


def _adds(a, b):
    for _ in range(SMALL_OPS):
        a + b


def _small_pair(lib, n, device, grad):
    kw = {"device": device} if device else {}
    a, b = lib.rand(n, **kw), lib.rand(n, **kw)
    if grad:
        a.requires_grad_()
        b.requires_grad_()
    return a, b


def _time_small_add(benchmark, lib, n, device, grad, sync=None):
    a, b = _small_pair(lib, n, device, grad)
    _adds(a, b)  # compiles the kernel, fills the caches
    if sync:
        sync()
        benchmark.pedantic(_adds, args=(a, b), setup=sync, rounds=40, warmup_rounds=2)
    else:
        benchmark.pedantic(_adds, args=(a, b), rounds=40, warmup_rounds=2)
    benchmark.group = f"eager host cost: small add ({n} float32{', requires_grad' if grad else ''})"
    benchmark.extra_info["us_per_op"] = _median(benchmark) / SMALL_OPS * 1e6


@needs_wgpu
@pytest.mark.parametrize("grad", [False, True], ids=["nograd", "grad"])
@pytest.mark.parametrize("n", [64, 4096])
def test_small_add_host_cost_wgpu(benchmark, n, grad):
    _time_small_add(benchmark, torch, n, "wgpu", grad, sync=torch.wgpu.synchronize)


@pytest.mark.parametrize("grad", [False, True], ids=["nograd", "grad"])
@pytest.mark.parametrize("n", [64, 4096])
def test_small_add_host_cost_wgtorch_cpu(benchmark, n, grad):
    _time_small_add(benchmark, torch, n, None, grad)


@pytest.mark.parametrize("grad", [False, True], ids=["nograd", "grad"])
@pytest.mark.parametrize("n", [64, 4096])
def test_small_add_host_cost_torch_cpu(benchmark, n, grad):
    _time_small_add(benchmark, pytest.importorskip("torch"), n, None, grad)
