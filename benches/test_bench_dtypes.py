"""float64 beside float32 on wgpu, in the same run (issue 17): a square matmul and one training
step of a small MLP (Linear-Tanh-Linear, MSE, Adam), each timed up to ``wgtorch.wgpu.synchronize()``,
with PyTorch's CPU float64 as the peer row. Skipped where the adapter has no shader-f64.

``pytest benches/test_bench_float64.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import numpy as np
import pytest

import wgtorch

DTYPES = ["float32", "float64"]


def _need_wgpu_f64():
    if not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu adapter")
    if not wgtorch.wgpu.get_device_properties().float64:
        pytest.skip("this adapter has no shader-f64")


@pytest.mark.parametrize("n", [256])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_float64_vs_float32(benchmark, dtype, n):
    _need_wgpu_f64()
    rng = np.random.default_rng(0)
    a_host, b_host = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    dt = getattr(wgtorch, dtype)
    a = wgtorch.tensor(a_host, dtype=dt, device="wgpu")
    b = wgtorch.tensor(b_host, dtype=dt, device="wgpu")

    def timed():
        r = a @ b
        wgtorch.wgpu.synchronize()
        return r

    got = timed().cpu().numpy()  # warm-up (compiles), and a check that it is the product
    np.testing.assert_allclose(got, a_host @ b_host, rtol=1e-12 if dtype == "float64" else 1e-3, atol=1e-3)
    benchmark.group = f"matmul {n}x{n} on wgpu: float64 beside float32"
    benchmark.extra_info.update({"dtype": dtype, "gflops": None})
    benchmark(timed)
    benchmark.extra_info["gflops"] = 2 * n**3 / benchmark.stats.stats.median / 1e9


def _step(lib, device, dtype):
    """One training step's closure (and its sync) for ``lib`` (wgtorch or PyTorch)."""
    rng = np.random.default_rng(0)
    dt = getattr(lib, dtype)
    model = lib.nn.Sequential(lib.nn.Linear(64, 128), lib.nn.Tanh(), lib.nn.Linear(128, 10)).to(device).to(dt)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    x = lib.tensor(rng.standard_normal((64, 64)), dtype=dt, device=device)
    y = lib.tensor(rng.standard_normal((64, 10)), dtype=dt, device=device)
    sync = wgtorch.wgpu.synchronize if lib is wgtorch else (lambda: None)

    def step():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sync()

    return step


@pytest.mark.parametrize("column", ["wgpu-float32", "wgpu-float64", "torch-cpu-float64"])
def test_training_step_float64_vs_float32(benchmark, column):
    lib_name, _, dtype = column.rpartition("-")
    if lib_name == "torch-cpu":
        torch = pytest.importorskip("torch")
        step = _step(torch, "cpu", dtype)
    else:
        _need_wgpu_f64()
        step = _step(wgtorch, "wgpu", dtype)
    step()  # warm-up: compiles the kernels
    benchmark.group = "MLP 64-128-10 training step (Adam, batch 64): float64 beside float32"
    benchmark.extra_info["column"] = column
    benchmark(step)
