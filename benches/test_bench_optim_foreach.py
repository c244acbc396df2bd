"""Foreach (multi-tensor) optimizer steps against one fused kernel per parameter, on wgpu: host
time to record one step of an MNIST-shaped MLP's group (784-128-64-10: six tensors) for SGD with
momentum and Adam, and capturable Adam. ``dispatches`` in extra_info: dispatches per step.

Run: .venv/bin/pytest benches/test_bench_optim_foreach.py --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch as torch

needs_wgpu = pytest.mark.skipif(not torch.wgpu.is_available(), reason="no wgpu adapter")
SHAPES = [(128, 784), (128,), (64, 128), (64,), (10, 64), (10,)]
CASES = {
    "sgd_momentum": lambda p, foreach: torch.optim.SGD(p, lr=0.01, momentum=0.9, foreach=foreach),
    "adam": lambda p, foreach: torch.optim.Adam(p, lr=1e-3, foreach=foreach),
    "adam_capturable": lambda p, foreach: torch.optim.Adam(p, lr=1e-3, capturable=True, foreach=foreach),
}


@needs_wgpu
@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize("case", list(CASES))
def test_optimizer_step_wgpu_host_only(benchmark, case, foreach):
    rng = np.random.default_rng(0)
    params = [
        torch.tensor(rng.standard_normal(s).astype(np.float32), device="wgpu", requires_grad=True) for s in SHAPES
    ]
    for p in params:
        p.grad = torch.ones_like(p)
    opt = CASES[case](params, foreach)
    opt.step()  # state made, kernels compiled
    rt = params[0]._be.rt
    torch.wgpu.synchronize()
    before = rt.stats["dispatches"]
    opt.step()
    benchmark.extra_info["dispatches"] = rt.stats["dispatches"] - before

    def steps():
        for _ in range(20):
            opt.step()

    benchmark.pedantic(steps, setup=torch.wgpu.synchronize, rounds=10, warmup_rounds=1)
    benchmark.extra_info["us_per_step"] = benchmark.stats.stats.median / 20 * 1e6
