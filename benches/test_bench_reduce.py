"""Reduction benchmarks: wgtorch on wgpu (each run timed up to ``wgtorch.wgpu.synchronize()``)
against NumPy, and PyTorch on the CPU where it is installed, in the same run and group.

``pytest benches/test_bench_reduce.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import wgtorch


def _softmax_np(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


# name -> (input shape, the op on a wgtorch/torch tensor, the same op on a NumPy array)
WORKLOADS = {
    "sum_1e7": ((10_000_000,), lambda x: x.sum(), lambda x: x.sum()),
    "sum_100x1000": ((100, 1000), lambda x: x.sum(), lambda x: x.sum()),
    "mean_axis1_100x1000": ((100, 1000), lambda x: x.mean(dim=1), lambda x: x.mean(axis=1)),
    "softmax_axis1_100x1000": ((100, 1000), lambda x: x.softmax(1), _softmax_np),
}
COLUMNS = ["wgpu", "numpy", "torch"]


def _column(name: str, host: np.ndarray):
    """(run, sync, result-to-NumPy) for one column, or a skip where it can't run here."""
    if name == "numpy":
        return None, (lambda: None), np.asarray
    if name == "torch":
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is not installed")
        import torch

        return torch.from_numpy(host), (lambda: None), lambda r: r.numpy()
    if not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu adapter")
    return wgtorch.tensor(host, device="wgpu"), wgtorch.wgpu.synchronize, lambda r: r.numpy()


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_reduce(benchmark, workload, column):
    shape, op, op_np = WORKLOADS[workload]
    host = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x, sync, to_numpy = _column(column, host)
    fn = (lambda: op_np(host)) if column == "numpy" else (lambda: op(x))

    def timed():
        r = fn()
        sync()
        return r

    # Warm-up (kernel compiles) doubles as a check that every column computes the same thing.
    np.testing.assert_allclose(to_numpy(timed()), op_np(host.astype(np.float64)), rtol=1e-4, atol=1e-3)
    benchmark.group = f"reduce: {workload}"
    device = wgtorch.wgpu.get_device_name() if column == "wgpu" else "cpu"
    benchmark.extra_info.update(column=column, device=device)
    benchmark(timed)
