"""Matmul benchmarks: wgtorch on wgpu (each run timed up to ``wgtorch.wgpu.synchronize()``) against
NumPy, and PyTorch on the CPU where it is installed, in the same run and group. Every result
carries its GFLOP/s (2·M·N·K / median time) in ``extra_info``; the wgpu rows also carry the tile
configuration chosen for the adapter and the first call's time (pipeline compile included).

``pytest benches/test_bench_matmul.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time

import numpy as np
import pytest

import wgtorch

SIZES = [100, 1024]
COLUMNS = ["wgpu", "numpy", "torch"]


def _operands(column: str, a: np.ndarray, b: np.ndarray):
    """(a, b, sync) for one column, or a skip where it can't run here."""
    if column == "numpy":
        return a, b, lambda: None
    if column == "torch":
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is not installed")
        import torch

        return torch.from_numpy(a), torch.from_numpy(b), lambda: None
    if not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu adapter")
    return (wgtorch.tensor(a, device="wgpu"), wgtorch.tensor(b, device="wgpu"), wgtorch.wgpu.synchronize)


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("n", SIZES)
def test_matmul_f32(benchmark, n, column):
    rng = np.random.default_rng(0)
    a_host = rng.standard_normal((n, n)).astype(np.float32)
    b_host = rng.standard_normal((n, n)).astype(np.float32)
    a, b, sync = _operands(column, a_host, b_host)

    def timed():
        r = a @ b
        sync()
        return r

    start = time.perf_counter()
    first = timed()  # warm-up: compiles the kernel on wgpu
    first_call_s = time.perf_counter() - start
    got = first if column == "numpy" else first.numpy()
    np.testing.assert_allclose(got, a_host.astype(np.float64) @ b_host, rtol=1e-3, atol=1e-3)

    benchmark.group = f"matmul: {n}x{n} @ {n}x{n} float32"
    info = {"column": column, "device": "cpu", "n": n}
    if column == "wgpu":
        from wgtorch._device import get_backend

        be = get_backend(wgtorch.device("wgpu"))
        info.update(device=be.rt.name, software=be.rt.is_software, first_call_s=first_call_s,
                    tile_config=dataclasses.asdict(be.matmul_config))
    benchmark.extra_info.update(info)
    benchmark(timed)
    benchmark.extra_info["gflops"] = 2 * n**3 / benchmark.stats.stats.median / 1e9
