"""Scan benchmarks: cumsum (and cummax) of 1M float32 elements, wgtorch on wgpu (timed up to
``wgtorch.wgpu.synchronize()``) against NumPy and PyTorch on the CPU, in the same run and group.

``pytest benches/test_bench_scan.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import wgtorch

N = 1 << 20
# name -> (input shape, the op on a wgtorch/torch tensor, the same op on a NumPy array)
WORKLOADS = {
    "cumsum_1M": ((N,), lambda x: x.cumsum(0), lambda x: np.cumsum(x)),
    "cumsum_rows_1024x1024": ((1024, 1024), lambda x: x.cumsum(1), lambda x: np.cumsum(x, 1)),
    "cummax_1M": ((N,), lambda x: x.cummax(0)[0], lambda x: np.maximum.accumulate(x)),
}
COLUMNS = ["wgpu", "numpy", "torch"]


def _column(name: str, host: np.ndarray):
    """(input, sync, result-to-NumPy) for one column, or a skip where it can't run here."""
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
def test_scan(benchmark, workload, column):
    shape, op, op_np = WORKLOADS[workload]
    host = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    x, sync, to_numpy = _column(column, host)
    fn = (lambda: op_np(host)) if column == "numpy" else (lambda: op(x))

    def timed():
        r = fn()
        sync()
        return r

    # Warm-up (kernel compiles) doubles as a check that every column computes the same thing
    # (float32 running sums of a million terms differ by rounding: compared with a float64 sum).
    np.testing.assert_allclose(to_numpy(timed()), op_np(host.astype(np.float64)), rtol=1e-4, atol=0.1)
    benchmark.group = f"scan: {workload}"
    device = wgtorch.wgpu.get_device_name() if column == "wgpu" else "cpu"
    benchmark.extra_info.update(column=column, device=device)
    benchmark(timed)
