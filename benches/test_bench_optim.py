"""Optimizer benchmarks: one Adam step on a 784x128 float32 parameter (an MNIST MLP's first
layer) on wgpu (one fused dispatch), on wgtorch's cpu device (NumPy backend), as plain NumPy
written by hand, and with PyTorch CPU when it is installed, all in the same run.

wgpu is timed twice: the step plus a synchronize (device time included), and 100 steps without
one (host-side recording cost, what a training loop pays per parameter while the GPU works;
``us_per_step`` in extra_info).

Run: .venv/bin/pytest benches/test_bench_optim.py --benchmark-columns=median,iqr,rounds
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import wgtorch as torch

SHAPE = (784, 128)
needs_wgpu = pytest.mark.skipif(not torch.wgpu.is_available(), reason="no wgpu adapter")


def _adam(device):
    rng = np.random.default_rng(0)
    p = torch.tensor(rng.standard_normal(SHAPE).astype(np.float32), device=device, requires_grad=True)
    p.grad = torch.tensor(rng.standard_normal(SHAPE).astype(np.float32), device=device)
    opt = torch.optim.Adam([p], lr=1e-3)
    opt.step()  # state allocated, kernel compiled
    return opt


@needs_wgpu
def test_adam_step_wgpu_synchronized(benchmark):
    opt = _adam("wgpu")

    def step():
        opt.step()
        torch.wgpu.synchronize()

    benchmark.pedantic(step, rounds=50, warmup_rounds=3)
    benchmark.extra_info["adapter"] = torch.wgpu.get_device_name()


@needs_wgpu
def test_adam_100_steps_wgpu_host_only(benchmark):
    opt = _adam("wgpu")

    def steps():
        for _ in range(100):
            opt.step()

    # The device catches up in setup, untimed: the timed region is recording only.
    benchmark.pedantic(steps, setup=torch.wgpu.synchronize, rounds=20, warmup_rounds=1)
    benchmark.extra_info["us_per_step"] = benchmark.stats.stats.median / 100 * 1e6
    benchmark.extra_info["adapter"] = torch.wgpu.get_device_name()


def test_adam_step_wgtorch_cpu(benchmark):
    opt = _adam("cpu")
    benchmark(opt.step)


def test_adam_step_numpy(benchmark):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(SHAPE).astype(np.float32)
    g = rng.standard_normal(SHAPE).astype(np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    t = [0]

    def step():
        t[0] += 1
        m[...] = 0.9 * m + 0.1 * g
        v[...] = 0.999 * v + 0.001 * g * g
        p[...] -= 1e-3 / (1 - 0.9 ** t[0]) * m / (np.sqrt(v) / math.sqrt(1 - 0.999 ** t[0]) + 1e-8)

    benchmark(step)


def test_adam_step_torch_cpu(benchmark):
    pt = pytest.importorskip("torch")
    p = pt.randn(SHAPE, requires_grad=True)
    p.grad = pt.randn(SHAPE)
    opt = pt.optim.Adam([p], lr=1e-3)
    opt.step()
    benchmark(opt.step)
