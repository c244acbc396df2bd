"""Scatter-family benchmarks: scatter_reduce (amax, with repeated indices: the compare-exchange
path), nonzero and masked_select (the count goes to the host) on wgtorch cpu and wgpu (timed up to
``wgtorch.wgpu.synchronize()``), and PyTorch on the CPU where it is installed, in the same group.

``pytest benches/test_bench_scatter.py`` (add ``--benchmark-json=PATH`` to keep the numbers).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import wgtorch

_RNG = np.random.default_rng(0)
_SELF = _RNG.standard_normal((1000, 256)).astype(np.float32)
_SRC = _RNG.standard_normal((4096, 256)).astype(np.float32)
_ROWS = np.broadcast_to(_RNG.integers(0, 1000, (4096, 1)), (4096, 256)).copy()
_MASK = _RNG.random((1000, 1000)) > 0.5
_VALUES = _RNG.standard_normal((1000, 1000)).astype(np.float32)

# name -> (inputs, the op on wgtorch/torch tensors)
WORKLOADS = {
    "scatter_reduce_amax_4096_rows_into_1000x256": (
        (_SELF, _ROWS, _SRC),
        lambda x, i, s: x.scatter_reduce(0, i, s, "amax"),
    ),
    "nonzero_1000x1000": ((_MASK,), lambda m: m.nonzero()),
    "masked_select_1000x1000": ((_VALUES, _MASK), lambda x, m: x.masked_select(m)),
}


@pytest.mark.parametrize("column", ["cpu", "wgpu", "torch"])
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_scatter_family(benchmark, workload, column):
    inputs, op = WORKLOADS[workload]
    sync = lambda: None  # noqa: E731
    if column == "torch":
        if importlib.util.find_spec("torch") is None:
            pytest.skip("PyTorch is not installed")
        import torch

        args = [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs]
    else:
        if column == "wgpu" and not wgtorch.wgpu.is_available():
            pytest.skip("no wgpu adapter")
        args = [wgtorch.tensor(a, device=column) for a in inputs]
        if column == "wgpu":
            sync = wgtorch.wgpu.synchronize

    def timed():
        r = op(*args)
        sync()
        return r

    timed()  # warm-up: kernel compiles
    benchmark.group = f"scatter: {workload}"
    benchmark.extra_info.update(column=column)
    benchmark(timed)
