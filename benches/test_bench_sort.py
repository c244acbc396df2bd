"""Sorting benchmarks: wgtorch on wgpu (each run timed up to ``wgtorch.wgpu.synchronize()``)
against NumPy, and PyTorch on the CPU where it is installed, in the same run and group.

``pytest benches/test_bench_sort.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import wgtorch


def _topk_np(x, k=10):
    part = np.argpartition(-x, k - 1, axis=-1)[..., :k]
    vals = np.take_along_axis(x, part, -1)
    return -np.sort(-vals, axis=-1)


# name -> (input shape, the op on a wgtorch/torch tensor (values), the same op on a NumPy array)
WORKLOADS = {
    "sort_1e6": ((1_000_000,), lambda x: x.sort()[0], lambda x: np.sort(x, kind="stable")),
    "sort_rows_1000x1000": ((1000, 1000), lambda x: x.sort(dim=1)[0], lambda x: np.sort(x, axis=1, kind="stable")),
    "topk10_row_1e5": ((100_000,), lambda x: x.topk(10)[0], _topk_np),
    "searchsorted_1e5_in_1e4": ((100_000,), None, None),
}
COLUMNS = ["wgpu", "numpy", "torch"]
_SEQ = np.sort(np.random.default_rng(1).standard_normal(10_000).astype(np.float32))


def _column(name: str, host: np.ndarray):
    """(input, sync, result-to-NumPy, module) for one column, or a skip where it can't run here."""
    if name == "numpy":
        return host, (lambda: None), np.asarray, np
    if name == "torch":
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is not installed")
        import torch

        return torch.from_numpy(host), (lambda: None), lambda r: r.numpy(), torch
    if not wgtorch.wgpu.is_available():
        pytest.skip("no wgpu adapter")
    return wgtorch.tensor(host, device="wgpu"), wgtorch.wgpu.synchronize, lambda r: r.numpy(), wgtorch


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_sort(benchmark, workload, column):
    shape, op, op_np = WORKLOADS[workload]
    host = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x, sync, to_numpy, mod = _column(column, host)
    if op is None:  # searchsorted: values into a sorted sequence of 10,000
        seq = _SEQ if column == "numpy" else mod.tensor(_SEQ, device=x.device) if column == "wgpu" else mod.tensor(_SEQ)
        op_np = lambda v: np.searchsorted(_SEQ, v)  # noqa: E731
        fn = (lambda: op_np(host)) if column == "numpy" else (lambda: mod.searchsorted(seq, x))
    else:
        fn = (lambda: op_np(host)) if column == "numpy" else (lambda: op(x))

    def timed():
        r = fn()
        sync()
        return r

    # Warm-up (kernel compiles) doubles as a check that every column computes the same thing.
    np.testing.assert_array_equal(to_numpy(timed()), op_np(host))
    benchmark.group = f"sort: {workload}"
    device = wgtorch.wgpu.get_device_name() if column == "wgpu" else "cpu"
    benchmark.extra_info.update(column=column, device=device)
    benchmark(timed)
